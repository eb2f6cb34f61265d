/*
 * test_model_fixtures.c - kvlm's logits against Hugging Face transformers.
 *
 * tests/fixtures/models/manifest.json (written by make_fixtures.py) lists
 * tiny random models of every supported architecture, their GGUF copies in
 * each weight type, their Hugging Face folders, and the token sequences
 * whose HF logits are stored as <prefix>.<seq>.logits.
 *
 * For each model, type and sequence this test checks:
 *   - max |kvlm - HF| <= tol * max(1, max |HF|);
 *   - the argmax at every position equals HF's, except where HF's own
 *     top-1/top-2 margin is within twice the bound (a tie at that precision;
 *     such positions are counted and printed);
 *   - each Hugging Face folder (safetensors: F32, sharded F16, BF16) against
 *     its reference, and the F32 folder against the F32 GGUF copy directly.
 * References and bounds (relative to the logits' scale):
 *   f32, f16, bf16 GGUF and all folders: HF in float32 on exactly the file's
 *     weights; bound 1e-4 (f32 activations, exact widening of the weights).
 *   q8_0, q4_0, q4_K, q5_K, q6_K: kvlm multiplies these weights with int8
 *     activations (per-block rounding, see ACT_QUANT in make_fixtures.py),
 *     so there are two references:
 *     (a) "actq": HF on the dequantized weights with that activation rounding
 *         applied to every Linear input. This pins the integer kernels'
 *         arithmetic: a position matches "exactly" when its error is within
 *         1e-5 (float rounding), and at least 75% of all positions must (the
 *         rest follow a rounding-boundary flip: one activation that lands
 *         within float rounding of a .5 step rounds the other way, which
 *         changes that token's K/V and so every later position by ~1%;
 *         bound 5e-2). Argmax is checked at the exact positions.
 *     (b) HF on the dequantized weights with float activations - bound 1e-1:
 *         the activation rounding itself moves these random models' logits
 *         by a few percent of their scale (the values are printed).
 *   f16, bf16 GGUF with the BF16 matmul (kvlm_model_params.bf16_matmul):
 *     HF in float32 on the file's weights, bound 3e-2 - BF16 weights and
 *     activations (8-bit precision) moved these logits by 0.5-1.1% of their
 *     scale when the mode was added; argmax is not checked. The error must
 *     also exceed the exact bound, so a mode that silently did nothing fails.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kvlm.h"
#include "test.h"

#define TOL_FLOAT 1e-4
#define TOL_ACTQ 5e-2
#define TOL_EXACT 1e-5
#define TOL_DEQUANT 1e-1
#define TOL_BF16MM 3e-2

static json_t *g_logits_meta; /* manifest "logits": per-file argmax margins */
static json_t *g_seqs;
static const char *g_dir;
static int n_ties, n_compared, n_actq_pos, n_actq_exact, n_bf16mm;

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Runs tokens through a fresh session; returns malloc'd [n][vocab] logits. */
static float *run(kvlm_model *m, const int32_t *toks, int n)
{
    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_threads = 2;
    cp.n_ctx = 128;
    kvlm_context *ctx = NULL;
    kvlm_session *s = NULL;
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);
    float *lg = malloc((size_t)n * (size_t)in.n_vocab * sizeof(float));
    if (kvlm_context_create(m, &cp, &ctx) || kvlm_session_create(ctx, &s) ||
        kvlm_session_eval(s, toks, n, KVLM_LOGITS_ALL, lg)) {
        fprintf(stderr, "run failed: %s\n", kvlm_last_error());
        free(lg);
        lg = NULL;
    }
    kvlm_session_free(s);
    kvlm_context_free(ctx);
    return lg;
}

/* Compares got with ref (file ref_name); returns the relative max error.
 * check_argmax: argmax must match where the reference margin exceeds twice
 * the absolute bound. */
static double compare(const char *what, const char *ref_name, const float *got, const float *ref,
                      int n, int V, double tol, bool check_argmax)
{
    double maxref = 1.0, maxdiff = 0.0;
    for (size_t i = 0; i < (size_t)n * (size_t)V; i++) {
        if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!(d <= maxdiff)) maxdiff = d; /* NaN propagates as failure */
    }
    double rel = maxdiff / maxref;
    CHECK(rel <= tol, "%s: max |diff| %.3g (relative %.3g) exceeds %.1g", what, maxdiff, rel, tol);
    n_compared++;
    if (!check_argmax) return rel;
    bool actq = tol == TOL_ACTQ;
    json_t *margins = json_object_get(json_object_get(g_logits_meta, ref_name), "top1_top2_margin");
    CHECK(json_array_size(margins) == (size_t)n, "%s: manifest has no margins for %s", what, ref_name);
    for (int t = 0; t < n; t++) {
        int a = argmax(got + (size_t)t * V, V), b = argmax(ref + (size_t)t * V, V);
        json_t *mj = json_array_get(margins, (size_t)t);
        double margin = mj ? json_number_value(mj) : 0.0;
        double bound = tol;
        if (actq) {
            double pd = 0;
            for (int v = 0; v < V; v++) {
                double d = fabs((double)got[(size_t)t * V + v] - (double)ref[(size_t)t * V + v]);
                if (d > pd) pd = d;
            }
            n_actq_pos++;
            if (pd > TOL_EXACT * maxref) continue; /* after a rounding-boundary flip */
            n_actq_exact++;
            bound = TOL_EXACT;
        }
        if (margin <= 2.0 * bound * maxref) {
            n_ties++;
            continue;
        }
        CHECK(a == b, "%s: position %d: argmax %d, reference %d (margin %.3g)", what, t, a, b, margin);
    }
    return rel;
}

/* Runs every sequence through the model at path and compares with
 * <prefix>.<seq>.logits. keep (optional) receives sequence A's logits. */
static double check_against(const char *label, const char *path, const char *prefix, double tol,
                            bool check_argmax, float **keep, bool bf16)
{
    kvlm_model *m = NULL;
    kvlm_model_params mp = kvlm_model_default_params();
    mp.bf16_matmul = bf16;
    kvlm_status st = kvlm_model_load(path, &mp, &m);
    CHECK(st == KVLM_OK, "load %s: %s", path, kvlm_last_error());
    if (st) return INFINITY;
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);
    double worst = 0;
    const char *sname;
    json_t *sarr;
    json_object_foreach(g_seqs, sname, sarr) {
        int n = (int)json_array_size(sarr);
        int32_t toks[256];
        for (int i = 0; i < n && i < 256; i++) toks[i] = (int32_t)json_integer_value(json_array_get(sarr, (size_t)i));
        char rname[512], rp[4096], what[512];
        snprintf(rname, sizeof rname, "%s.%s.logits", prefix, sname);
        snprintf(rp, sizeof rp, "%s/%s", g_dir, rname);
        size_t nr = 0;
        float *ref = read_floats(rp, &nr);
        float *got = run(m, toks, n);
        CHECK(ref && got && nr == (size_t)n * (size_t)in.n_vocab, "%s seq %s: missing data (%s)", label, sname, rp);
        if (ref && got && nr == (size_t)n * (size_t)in.n_vocab) {
            snprintf(what, sizeof what, "%s vs %s", label, rname);
            double rel = compare(what, rname, got, ref, n, in.n_vocab, tol, check_argmax);
            if (rel > worst) worst = rel;
        }
        if (keep && !strcmp(sname, "A")) {
            *keep = got;
            got = NULL;
        }
        free(ref);
        free(got);
    }
    kvlm_model_free(m);
    return worst;
}

int main(void)
{
    char path[4096], dir[4096];
    g_dir = fixture_path(dir, sizeof dir, "models");
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_error_t err;
    json_t *man = json_load_file(path, 0, &err);
    REQUIRE(man != NULL, "cannot read %s: %s", path, err.text);
    g_seqs = json_object_get(man, "sequences");
    g_logits_meta = json_object_get(man, "logits");
    json_t *models = json_object_get(man, "models");
    json_t *folders = json_object_get(man, "hf_folders");
    REQUIRE(json_is_object(g_seqs) && json_is_object(models) && json_is_object(folders),
            "manifest lacks sequences/models/hf_folders");
    int nA = (int)json_array_size(json_object_get(g_seqs, "A"));

    printf("%-26s %-12s %-12s %s\n", "file", "vs HF", "vs HF+actq", "(max relative error)");
    const char *mname;
    json_t *mobj;
    json_object_foreach(models, mname, mobj) {
        const char *tname;
        json_t *tobj;
        float *gguf_f32_A = NULL;
        json_object_foreach(json_object_get(mobj, "types"), tname, tobj) {
            const char *gg = json_string_value(json_object_get(tobj, "gguf"));
            const char *prefix = json_string_value(json_object_get(tobj, "logits_prefix"));
            const char *aprefix = json_string_value(json_object_get(tobj, "actq_logits_prefix"));
            if (!gg || !prefix) continue;
            snprintf(path, sizeof path, "%s/%s", dir, gg);
            double e_plain, e_actq = NAN;
            if (aprefix) {
                e_actq = check_against(gg, path, aprefix, TOL_ACTQ, true, NULL, false);
                e_plain = check_against(gg, path, prefix, TOL_DEQUANT, false, NULL, false);
            } else {
                e_plain = check_against(gg, path, prefix, TOL_FLOAT, true,
                                        !strcmp(tname, "f32") ? &gguf_f32_A : NULL, false);
            }
            printf("%-26s %-12.2e %-12.2e\n", gg, e_plain, e_actq);
            if (!strcmp(tname, "f16") || !strcmp(tname, "bf16")) {
                double e = check_against(gg, path, prefix, TOL_BF16MM, false, NULL, true);
                printf("%-26s %-12.2e (BF16 matmul)\n", gg, e);
                CHECK(e > TOL_FLOAT, "%s: the BF16 matmul gave the exact mode's logits (%.2e)", gg, e);
                n_bf16mm++;
            }
        }
        /* The F32 Hugging Face folder against the F32 GGUF copy, directly. */
        const char *hf = json_string_value(json_object_get(mobj, "hf_folder"));
        if (hf && gguf_f32_A) {
            snprintf(path, sizeof path, "%s/%s", dir, hf);
            kvlm_model *m = NULL;
            CHECK(kvlm_model_load(path, NULL, &m) == KVLM_OK, "load %s: %s", path, kvlm_last_error());
            if (m) {
                kvlm_model_info in;
                kvlm_model_get_info(m, &in);
                int32_t toks[256];
                json_t *A = json_object_get(g_seqs, "A");
                for (int i = 0; i < nA && i < 256; i++) toks[i] = (int32_t)json_integer_value(json_array_get(A, (size_t)i));
                float *st = run(m, toks, nA);
                char what[256];
                snprintf(what, sizeof what, "%s (safetensors) vs %s-f32.gguf", hf, mname);
                if (st) {
                    double rel = compare(what, "", st, gguf_f32_A, nA, in.n_vocab, TOL_FLOAT, false);
                    printf("%-26s %-12.2e (safetensors vs GGUF f32)\n", hf, rel);
                }
                free(st);
                kvlm_model_free(m);
            }
        }
        free(gguf_f32_A);
    }
    /* Every Hugging Face folder against its own reference. */
    const char *fname;
    json_t *fobj;
    json_object_foreach(folders, fname, fobj) {
        const char *prefix = json_string_value(json_object_get(fobj, "logits_prefix"));
        snprintf(path, sizeof path, "%s/%s", dir, fname);
        double e = check_against(fname, path, prefix, TOL_FLOAT, true, NULL, false);
        printf("%-26s %-12.2e (folder, %s)\n", fname, e, json_string_value(json_object_get(fobj, "dtype")));
    }
    printf("%d comparisons; %d positions skipped in argmax checks as ties within the bound\n",
           n_compared, n_ties);
    printf("int8-activation paths: %d of %d positions match the simulated arithmetic within %.0e\n",
           n_actq_exact, n_actq_pos, TOL_EXACT);
    CHECK(n_actq_exact * 4 >= n_actq_pos * 3, "only %d of %d int8-activation positions match exactly",
          n_actq_exact, n_actq_pos);
    CHECK(n_compared >= 100, "only %d comparisons ran", n_compared);
    CHECK(n_bf16mm >= 10, "only %d files checked with the BF16 matmul", n_bf16mm);
    json_decref(man);
    TEST_MAIN_END("test_model_fixtures");
}
