/*
 * test_cli.c - the `kvlm` program end to end (a real process per call):
 *   - `kvlm logits` writes exactly n_tokens x n_vocab float32 values that
 *     match the Hugging Face reference, and the file is byte-identical for
 *     --batch 7 / --threads 1 / --kv-block-size 1 (bit-exactness through the
 *     CLI);
 *   - `kvlm inspect --json` is valid JSON with the model's dimensions;
 *   - `kvlm bench forward --json` reports positive rates;
 *   - usage errors exit 2, a missing or broken model exits 1, with a
 *     message on stderr.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_run.h"
#include "test.h"

static const char *bin;
static char tmpdir[256];

/* Runs the binary; stderr goes to <tmpdir>/stderr. */
static int run(const char *args, const char *out_file) { return run_kvlm_in(bin, tmpdir, args, out_file); }

/* max |got - ref| over max(1, max |ref|): the logits tests' relative error */
static double max_rel(const float *got, const float *ref, size_t n)
{
    double md = 0, mx = 1;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs(got[i] - ref[i]));
        mx = fmax(mx, fabs(ref[i]));
    }
    return md / mx;
}


int main(void)
{
    bin = getenv("KVLM_BIN");
    if (!bin) {
        printf("test_cli: KVLM_BIN not set, skipped\n");
        return 0;
    }
    char args[8192], model[4096], ref[4096], out[512], out2[512], errf[512];
    REQUIRE(cli_tmpdir(tmpdir, sizeof tmpdir, "cli"), "mkdir");
    snprintf(out, sizeof out, "%s/a.f32", tmpdir);
    snprintf(out2, sizeof out2, "%s/b.f32", tmpdir);
    snprintf(errf, sizeof errf, "%s/stderr", tmpdir);
    fixture_path(model, sizeof model, "models/qwen2-f32.gguf");
    fixture_path(ref, sizeof ref, "models/qwen2.A.logits");

    /* Sequence A from the manifest. */
    char man[4096];
    fixture_path(man, sizeof man, "models/manifest.json");
    json_error_t err;
    json_t *mj = json_load_file(man, 0, &err);
    REQUIRE(mj, "manifest: %s", err.text);
    json_t *A = json_object_get(json_object_get(mj, "sequences"), "A");
    char toks[2048] = "";
    size_t nA = json_array_size(A);
    for (size_t i = 0; i < nA; i++) {
        char t[16];
        snprintf(t, sizeof t, "%s%lld", i ? " " : "", (long long)json_integer_value(json_array_get(A, i)));
        strcat(toks, t);
    }
    json_decref(mj);

    snprintf(args, sizeof args, "logits -m '%s' --tokens \"%s\" --out '%s'", model, toks, out);
    CHECK(run(args, NULL) == 0, "kvlm logits failed");
    size_t n1 = 0, nr = 0;
    float *got = (float *)slurp_file(out, &n1), *rf = (float *)slurp_file(ref, &nr);
    CHECK(got && rf && n1 == nr && n1 == nA * 288 * 4, "logits file has %zu bytes, want %zu", n1, nA * 288 * 4);
    if (got && rf && n1 == nr) {
        double rel = max_rel(got, rf, n1 / 4);
        CHECK(rel <= 1e-4, "CLI logits vs HF: relative %.3g", rel);
    }
    const char *variants[] = {"--batch 7", "--threads 1", "--kv-block-size 1", "--batch 1 --threads 2"};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        snprintf(args, sizeof args, "logits -m '%s' --tokens \"%s\" --out '%s' %s", model, toks, out2, variants[v]);
        CHECK(run(args, NULL) == 0, "kvlm logits %s failed", variants[v]);
        size_t n2 = 0;
        char *b = slurp_file(out2, &n2);
        CHECK(b && got && n2 == n1 && memcmp(b, got, n1) == 0, "logits with %s differ from the default run", variants[v]);
        free(b);
    }
    free(got);
    free(rf);

    /* --bf16-matmul (before the command's own options): the F16 copy's
     * logits move from HF's by BF16 rounding - more than the exact mode's
     * float rounding, within test_model_fixtures' bound */
    char f16[4096], f16ref[4096];
    fixture_path(f16, sizeof f16, "models/qwen2-f16.gguf");
    fixture_path(f16ref, sizeof f16ref, "models/qwen2-f16.A.logits");
    snprintf(args, sizeof args, "logits --bf16-matmul -m '%s' --tokens \"%s\" --out '%s'", f16, toks, out2);
    CHECK(run(args, NULL) == 0, "kvlm logits --bf16-matmul failed");
    {
        size_t nb = 0, nf = 0;
        float *b = (float *)slurp_file(out2, &nb), *fr = (float *)slurp_file(f16ref, &nf);
        CHECK(b && fr && nb == nf && nb == nA * 288 * 4, "--bf16-matmul logits: %zu bytes, want %zu", nb, nA * 288 * 4);
        if (b && fr && nb == nf) {
            double rel = max_rel(b, fr, nb / 4);
            CHECK(rel > 1e-4 && rel <= 3e-2, "--bf16-matmul logits vs HF: relative %.3g", rel);
        }
        free(b);
        free(fr);
    }

    /* inspect --json */
    snprintf(args, sizeof args, "inspect '%s' --json", model);
    char jout[512];
    snprintf(jout, sizeof jout, "%s/inspect.json", tmpdir);
    CHECK(run(args, jout) == 0, "inspect failed");
    json_t *ij = json_load_file(jout, 0, &err);
    CHECK(ij != NULL, "inspect --json is not JSON: %s", err.text);
    if (ij) {
        CHECK(!strcmp(json_string_value(json_object_get(ij, "architecture")), "qwen2"), "architecture");
        CHECK(json_integer_value(json_object_get(ij, "n_layers")) == 2, "n_layers");
        CHECK(json_integer_value(json_object_get(ij, "n_kv_heads")) == 2, "n_kv_heads");
        CHECK(json_integer_value(json_object_get(ij, "n_vocab")) == 288, "n_vocab");
        CHECK(json_integer_value(json_object_get(json_object_get(ij, "kv_bytes_per_token"), "f32")) == 2 * 2 * 2 * 16 * 4,
              "kv bytes per token");
        const char *fp = json_string_value(json_object_get(ij, "fingerprint"));
        CHECK(fp && strlen(fp) == 64, "fingerprint is 64 hex digits");
        json_decref(ij);
    }

    /* bench forward --json */
    snprintf(args, sizeof args, "bench forward -m '%s' --prompt 32 --gen 8 --reps 1 --json", model);
    CHECK(run(args, jout) == 0, "bench failed");
    ij = json_load_file(jout, 0, &err);
    CHECK(ij && json_number_value(json_object_get(ij, "prefill_tokens_per_s")) > 0 &&
          json_number_value(json_object_get(ij, "decode_tokens_per_s")) > 0, "bench --json rates");
    json_decref(ij);

    /* tokenize / detokenize against the ids Hugging Face tokenizers gave
     * for the fixture tokenizer's first vector. */
    char tokj[4096], vec[4096];
    fixture_path(tokj, sizeof tokj, "tokenizers/bl_gpt2/tokenizer.json");
    fixture_path(vec, sizeof vec, "tokenizers/bl_gpt2/vectors.json");
    json_t *vj = json_load_file(vec, 0, &err);
    CHECK(vj != NULL, "vectors.json: %s", err.text);
    json_t *cases = vj ? json_object_get(vj, "cases") : NULL;
    if (!cases && vj && json_is_array(vj)) cases = vj;
    size_t checked = 0;
    for (size_t i = 0; cases && i < json_array_size(cases) && checked < 5; i++) {
        json_t *c = json_array_get(cases, i);
        const char *text = json_string_value(json_object_get(c, "text"));
        json_t *ids = json_object_get(c, "ids");
        if (!text || !json_is_array(ids) || strchr(text, '\'') || strlen(text) > 200 || !text[0]) continue;
        snprintf(args, sizeof args, "tokenize -m '%s' --text '%s' --no-bos", tokj, text);
        CHECK(run(args, jout) == 0, "kvlm tokenize failed on '%s'", text);
        json_t *got_ids = json_load_file(jout, 0, &err);
        CHECK(got_ids && json_equal(got_ids, ids), "tokenize '%s': ids differ from HF", text);
        /* detokenize back */
        char list[8192] = "";
        for (size_t k = 0; k < json_array_size(ids) && strlen(list) < sizeof list - 16; k++) {
            char t[16];
            snprintf(t, sizeof t, "%s%lld", k ? " " : "", (long long)json_integer_value(json_array_get(ids, k)));
            strcat(list, t);
        }
        snprintf(args, sizeof args, "detokenize -m '%s' --tokens \"%s\"", tokj, list);
        CHECK(run(args, jout) == 0, "kvlm detokenize failed");
        char *back = slurp_file(jout, NULL);
        CHECK(back && !strcmp(back, text), "detokenize gives '%s', want '%s'", back ? back : "", text);
        free(back);
        json_decref(got_ids);
        checked++;
    }
    CHECK(checked >= 3, "only %zu tokenize cases checked", checked);
    json_decref(vj);
    snprintf(args, sizeof args, "detokenize -m '%s' --tokens \"1 2 999999\"", tokj);
    CHECK(run(args, NULL) == 1, "detokenize out-of-range id -> 1");
    snprintf(args, sizeof args, "tokenize -m '%s'", tokj);
    CHECK(run(args, NULL) == 2, "tokenize without text -> 2");

    /* Errors. */
    CHECK(run("", NULL) == 2, "no command -> 2");
    CHECK(run("frobnicate", NULL) == 2, "unknown command -> 2");
    snprintf(args, sizeof args, "logits -m '%s' --tokens \"1 x 3\" --out '%s'", model, out);
    CHECK(run(args, NULL) == 2, "bad token list -> 2");
    snprintf(args, sizeof args, "logits -m '%s' --tokens \"1 2\" --out '%s' --threads 0", model, out);
    CHECK(run(args, NULL) == 2, "--threads 0 -> 2");
    snprintf(args, sizeof args, "logits -m '%s' --tokens \"1 99999\" --out '%s'", model, out);
    CHECK(run(args, NULL) == 1, "token beyond vocab -> 1");
    char *e = slurp_file(errf, NULL);
    CHECK(e && strstr(e, "99999"), "error names the token: %s", e ? e : "");
    free(e);
    CHECK(run("inspect /nonexistent/dir/model.gguf", NULL) == 1, "missing model -> 1");
    e = slurp_file(errf, NULL);
    CHECK(e && strstr(e, "/nonexistent/dir/model.gguf"), "error names the path: %s", e ? e : "");
    free(e);

    cli_rmdir(tmpdir);
    TEST_MAIN_END("test_cli");
}
