/*
 * test_bench_prefix.c - `kvlm bench prefix` end to end (a real process per
 * call, the binary from $KVLM_BIN, skipped when it is unset), on the
 * llama-gqa fixture (trained context 128, block size 16):
 *   - --json is one valid object; logits_identical is true for every
 *     cached run;
 *   - the cached-token counts are the exact block arithmetic: a 64-token
 *     prompt cold -> 0, the same prompt + 8 -> 64, a prompt sharing 40
 *     tokens -> 32 (two full blocks); the multi-turn prefill counts per
 *     round follow from which blocks the previous round's session filled
 *     (derivation at the check);
 *   - requested sizes that exceed the context are scaled by
 *     n_ctx_train / needed, floored, and reported with the same numbers;
 *   - KV bytes per token agree with `kvlm inspect --json`;
 *   - the CSV has one row per mode, round and user; --png writes a PNG
 *     when python3 has matplotlib (else "png" is null and it still exits 0);
 *   - bad arguments exit 2, a missing model exits 1, with a message.
 * TTFT values are timing-dependent: only their sign is checked.
 */
#include <math.h>
#include <stdbool.h>
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

static long long jint(json_t *o, const char *path)
{
    /* "a.b.c" */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = o;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, ".")) v = json_object_get(v, tok);
    return v && json_is_integer(v) ? json_integer_value(v) : -999999;
}

static double jnum(json_t *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = o;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, ".")) v = json_object_get(v, tok);
    return v && json_is_number(v) ? json_number_value(v) : NAN;
}

static bool stderr_has(const char *needle)
{
    char p[512];
    snprintf(p, sizeof p, "%s/stderr", tmpdir);
    FILE *f = fopen(p, "rb");
    if (!f) return false;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

static void check_int_array(json_t *a, const long long *want, size_t n, const char *what)
{
    CHECK(json_is_array(a) && json_array_size(a) == n, "%s: not an array of %zu", what, n);
    for (size_t i = 0; json_is_array(a) && i < n && i < json_array_size(a); i++)
        CHECK(json_integer_value(json_array_get(a, i)) == want[i], "%s[%zu] = %lld, want %lld", what, i,
              (long long)json_integer_value(json_array_get(a, i)), want[i]);
}

int main(void)
{
    bin = getenv("KVLM_BIN");
    if (!bin) {
        printf("test_bench_prefix: KVLM_BIN not set, skipped\n");
        return 0;
    }
    char cmd[1024], args[4096], model[2048], jout[512], csv[512], png[512];
    REQUIRE(cli_tmpdir(tmpdir, sizeof tmpdir, "bench-prefix"), "mkdir");
    snprintf(jout, sizeof jout, "%s/out.json", tmpdir);
    snprintf(csv, sizeof csv, "%s/mt.csv", tmpdir);
    snprintf(png, sizeof png, "%s/mt.png", tmpdir);
    fixture_path(model, sizeof model, "models/llama-gqa-f32.gguf");
    bool have_mpl = system("python3 -c 'import matplotlib' >/dev/null 2>&1") == 0;

    /* 1. Small sizes, no scaling: P = 64, suffix 8, shared 40; 2 users x 3
     * rounds of S = 32, Q = 8, A = 4 (n_ctx = max(72, 32 + 3 * 12) = 72). */
    snprintf(args, sizeof args,
             "bench prefix -m '%s' --prompt-tokens 64 --suffix-tokens 8 --shared-tokens 40 --users 2 --rounds 3 "
             "--system-tokens 32 --question-tokens 8 --answer-tokens 4 --threads 1 --json --csv '%s' --png '%s'",
             model, csv, png);
    CHECK(run(args, jout) == 0, "bench prefix --json failed");
    json_error_t err;
    json_t *j = json_load_file(jout, 0, &err);
    REQUIRE(j, "bench prefix --json is not JSON: %s", err.text);
    CHECK(json_is_true(json_object_get(j, "logits_identical")), "logits_identical");
    CHECK(json_is_true(json_object_get(j, "logits_identical_hit")), "logits_identical_hit");
    CHECK(json_is_true(json_object_get(j, "logits_identical_shared_prefix")), "logits_identical_shared_prefix");
    CHECK(json_is_true(json_object_get(j, "logits_identical_multi_turn")), "logits_identical_multi_turn");
    CHECK(jint(j, "block_size") == 16, "block_size %lld", jint(j, "block_size"));
    CHECK(jint(j, "n_ctx") == 72, "n_ctx %lld", jint(j, "n_ctx"));
    CHECK(jnum(j, "scale") == 1.0, "scale %g", jnum(j, "scale"));
    CHECK(jint(j, "sizes.prompt_tokens") == 64 && jint(j, "sizes.shared_tokens") == 40 &&
              jint(j, "sizes.users") == 2 && jint(j, "sizes.rounds") == 3,
          "sizes echoed");
    CHECK(jint(j, "cached_tokens_cold") == 0, "cold cached %lld", jint(j, "cached_tokens_cold"));
    CHECK(jint(j, "cached_tokens_hit") == 64, "hit cached %lld", jint(j, "cached_tokens_hit"));
    CHECK(jint(j, "cached_tokens_shared_prefix") == 32, "shared cached %lld", jint(j, "cached_tokens_shared_prefix"));
    CHECK(jnum(j, "ttft_cold_ms") > 0 && jnum(j, "ttft_hit_ms") > 0 && jnum(j, "ttft_shared_prefix_ms") > 0 &&
              jnum(j, "ttft_hit_nocache_ms") > 0,
          "TTFTs are positive");
    CHECK(jint(j, "lookup_tokens") == 64 && jnum(j, "lookup_ns_per_token") > 0, "lookup cost");
    /* Multi-turn: conversations are 40, 52, 64 tokens in rounds 1-3 (the
     * previous round's A answer tokens, then Q new ones). Without the cache
     * every token is computed: 2 x (40, 52, 64). With it: round 1, user 1
     * computes 40, user 2 hits the 32-token system prompt and computes 8;
     * round 2, the round-1 session held 40 + 3 tokens (the last answer
     * token is appended unevaluated), so 2 full blocks: 52 - 32 = 20 each;
     * round 3, it held 52 + 3 = 55 tokens, 3 full blocks: 64 - 48 = 16 each. */
    json_t *mt = json_object_get(j, "multi_turn");
    CHECK(jint(mt, "tokens_computed_nocache") == 312, "computed nocache %lld", jint(mt, "tokens_computed_nocache"));
    CHECK(jint(mt, "tokens_computed_cache") == 120, "computed cache %lld", jint(mt, "tokens_computed_cache"));
    CHECK(jint(mt, "prompt_tokens") == 312 && jint(mt, "hit_tokens") == 192, "prompt/hit tokens");
    double hr = jnum(mt, "hit_rate");
    CHECK(hr > 0 && hr <= 1 && fabs(hr - 192.0 / 312.0) < 1e-5, "hit_rate %g", hr);
    CHECK(jint(mt, "evictions") == 0, "evictions %lld", jint(mt, "evictions"));
    CHECK(jnum(mt, "ttft_mean_ms_cache") > 0 && jnum(mt, "ttft_mean_ms_nocache") > 0 &&
              jnum(mt, "ttft_p90_ms_cache") > 0 && jnum(mt, "ttft_p90_ms_nocache") > 0,
          "multi-turn TTFTs");
    json_t *pr = json_object_get(mt, "per_round");
    static const long long comp_c[] = {48, 40, 32}, comp_n[] = {80, 104, 128};
    check_int_array(json_object_get(pr, "tokens_computed_cache"), comp_c, 3, "per_round.tokens_computed_cache");
    check_int_array(json_object_get(pr, "tokens_computed_nocache"), comp_n, 3, "per_round.tokens_computed_nocache");
    CHECK(json_array_size(json_object_get(pr, "ttft_mean_ms_cache")) == 3 &&
              json_array_size(json_object_get(pr, "ttft_p90_ms_nocache")) == 3,
          "per-round TTFT arrays");
    long long kv32 = jint(j, "kv_bytes_per_token.f32"), kv16 = jint(j, "kv_bytes_per_token.f16");
    long long kvb = jint(j, "kv_bytes_per_token.bf16"), kvq = jint(j, "kv_bytes_per_token.q8_0");
    CHECK(kv32 > 0 && kv16 * 2 == kv32 && kvb == kv16 && kvq * 32 == kv32 / 4 * 34, "kv bytes %lld %lld %lld %lld",
          kv32, kv16, kvb, kvq);
    json_t *png_v = json_object_get(j, "png");
    if (have_mpl) {
        CHECK(json_is_string(png_v), "png should be reported");
        FILE *f = fopen(png, "rb");
        unsigned char magic[8] = {0};
        CHECK(f && fread(magic, 1, 8, f) == 8 && memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0, "PNG written");
        if (f) fclose(f);
    } else {
        printf("test_bench_prefix: python3 without matplotlib, PNG not checked\n");
        CHECK(json_is_null(png_v), "png must be null without matplotlib");
    }
    json_decref(j);

    /* Without python3 on PATH: no plot, a message, still exit 0. */
    {
        char small[4096], cmdl[8192];
        snprintf(small, sizeof small,
                 "bench prefix -m '%s' --prompt-tokens 16 --suffix-tokens 1 --shared-tokens 0 --users 1 --rounds 1 "
                 "--system-tokens 16 --question-tokens 1 --answer-tokens 1 --threads 1 --json --png '%s/no.png'",
                 model, tmpdir);
        snprintf(cmdl, sizeof cmdl, "PATH=/nonexistent '%s' %s >'%s' 2>'%s/stderr'", bin, small, jout, tmpdir);
        int rc = system(cmdl);
        CHECK(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "run without python3 failed");
        CHECK(stderr_has("python3 with matplotlib is not available"), "no-python3 message");
        json_t *nj = json_load_file(jout, 0, &err);
        CHECK(nj && json_is_null(json_object_get(nj, "png")), "png must be null without python3");
        CHECK(nj && jint(nj, "cached_tokens_hit") == 16 && jint(nj, "cached_tokens_shared_prefix") == 0,
              "16-token prompt: one block hit, none shared");
        json_decref(nj);
    }

    /* KV bytes per token vs inspect. */
    snprintf(args, sizeof args, "inspect '%s' --json", model);
    CHECK(run(args, jout) == 0, "inspect failed");
    json_t *ij = json_load_file(jout, 0, &err);
    CHECK(ij && jint(ij, "kv_bytes_per_token.f32") == kv32, "kv bytes per token differ from inspect");
    json_decref(ij);

    /* CSV: header + 2 modes x 3 rounds x 2 users; computed = prompt - cached. */
    FILE *f = fopen(csv, "r");
    CHECK(f != NULL, "CSV not written");
    if (f) {
        char line[512];
        int rows = 0, bad = 0;
        CHECK(fgets(line, sizeof line, f) &&
                  !strcmp(line, "mode,round,user,prompt_tokens,cached_tokens,computed_tokens,ttft_ms\n"),
              "CSV header");
        while (fgets(line, sizeof line, f)) {
            char mode[16];
            int r, u, p, c, k;
            double ms;
            if (sscanf(line, "%15[^,],%d,%d,%d,%d,%d,%lf", mode, &r, &u, &p, &c, &k, &ms) != 7 || p - c != k ||
                ms <= 0 || (strcmp(mode, "cache") && strcmp(mode, "nocache")) ||
                (!strcmp(mode, "nocache") && c != 0) || p != 40 + 12 * (r - 1))
                bad++;
            rows++;
        }
        fclose(f);
        CHECK(rows == 12 && bad == 0, "CSV: %d rows (want 12), %d bad", rows, bad);
    }

    /* 2. Default token counts on a 128-token model: scaled by 128 / 2050
     * (the prompt + suffix needs more than 1000 + 2 x 132), each floored. */
    snprintf(args, sizeof args, "bench prefix -m '%s' --threads 1 --users 3 --rounds 2 --json", model);
    CHECK(run(args, jout) == 0, "bench prefix with scaled sizes failed");
    j = json_load_file(jout, 0, &err);
    CHECK(j != NULL, "scaled run: not JSON: %s", err.text);
    if (j) {
        CHECK(fabs(jnum(j, "scale") - 128.0 / 2050.0) < 1e-6, "scale %g", jnum(j, "scale"));
        CHECK(jint(j, "requested.prompt_tokens") == 2000 && jint(j, "requested.system_tokens") == 1000,
              "requested sizes");
        CHECK(jint(j, "sizes.prompt_tokens") == 124 && jint(j, "sizes.suffix_tokens") == 3 &&
                  jint(j, "sizes.shared_tokens") == 62 && jint(j, "sizes.system_tokens") == 62 &&
                  jint(j, "sizes.question_tokens") == 6 && jint(j, "sizes.answer_tokens") == 1 &&
                  jint(j, "sizes.users") == 3 && jint(j, "sizes.rounds") == 2,
              "scaled sizes");
        CHECK(jint(j, "n_ctx") == 127, "scaled n_ctx %lld", jint(j, "n_ctx"));
        CHECK(jint(j, "cached_tokens_hit") == 112 && jint(j, "cached_tokens_shared_prefix") == 48,
              "scaled cached tokens %lld %lld", jint(j, "cached_tokens_hit"), jint(j, "cached_tokens_shared_prefix"));
        CHECK(json_is_true(json_object_get(j, "logits_identical")), "scaled: logits_identical");
        mt = json_object_get(j, "multi_turn");
        CHECK(jint(mt, "tokens_computed_cache") < jint(mt, "tokens_computed_nocache"), "cache computes less");
        CHECK(jnum(mt, "hit_rate") > 0 && jnum(mt, "hit_rate") <= 1, "scaled hit rate");
        json_decref(j);
    }
    /* The text report says the sizes were scaled. */
    snprintf(args, sizeof args, "bench prefix -m '%s' --threads 1 --users 1 --rounds 1", model);
    CHECK(run(args, jout) == 0, "text report failed");
    {
        FILE *t = fopen(jout, "r");
        char buf[8192] = "";
        size_t n = t ? fread(buf, 1, sizeof buf - 1, t) : 0;
        buf[n] = 0;
        if (t) fclose(t);
        CHECK(strstr(buf, "sizes scaled by") && strstr(buf, "logits identical to a cold computation: yes"),
              "text report: %s", buf);
    }

    /* 3. Errors. */
    snprintf(args, sizeof args, "bench prefix -m '%s' --prompt-tokens 50 --shared-tokens 100", model);
    CHECK(run(args, NULL) == 2 && stderr_has("--shared-tokens 100 exceeds --prompt-tokens 50"), "shared > prompt -> 2");
    snprintf(args, sizeof args, "bench prefix -m '%s' --users 0", model);
    CHECK(run(args, NULL) == 2 && stderr_has("--users needs an integer"), "--users 0 -> 2");
    snprintf(args, sizeof args, "bench prefix -m '%s' --rounds x", model);
    CHECK(run(args, NULL) == 2, "--rounds x -> 2");
    snprintf(args, sizeof args, "bench prefix -m '%s' --kv-type f8", model);
    CHECK(run(args, NULL) == 2, "--kv-type f8 -> 2");
    snprintf(args, sizeof args, "bench prefix -m '%s' --frobnicate", model);
    CHECK(run(args, NULL) == 2 && stderr_has("usage: kvlm bench prefix"), "unknown option -> 2");
    snprintf(args, sizeof args, "bench prefix -m '%s' --prompt-tokens", model);
    CHECK(run(args, NULL) == 2, "missing value -> 2");
    /* 200 rounds of at least one question token cannot fit 128 tokens. */
    snprintf(args, sizeof args, "bench prefix -m '%s' --rounds 200", model);
    CHECK(run(args, NULL) == 2 && stderr_has("the model has 128"), "unfittable sizes -> 2");
    CHECK(run("bench prefix -m /nonexistent/model.gguf", NULL) == 1 && stderr_has("cannot load model"),
          "missing model -> 1");

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    CHECK(system(cmd) == 0, "cleanup");
    TEST_MAIN_END("test_bench_prefix");
}
