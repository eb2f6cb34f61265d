/*
 * test_model_fixtures.c - kvlm's logits against Hugging Face transformers.
 *
 * tests/fixtures/models/manifest.json (written by make_fixtures.py) lists
 * tiny random models of every supported architecture, their GGUF copies in
 * each weight type, their Hugging Face folders, and the token sequences
 * whose HF logits are stored as <prefix>.<seq>.logits. For each model,
 * type and sequence this test checks:
 *   - max |kvlm - HF| <= tol(type) * max(1, max |HF|), where for quantized
 *     and half types HF ran on the dequantized weights (so the bound only
 *     covers kvlm's arithmetic: activation quantization for the int8 paths);
 *   - the argmax at every position equals HF's;
 *   - the Hugging Face folder (safetensors) gives the same logits as the
 *     GGUF copy within the f32 bound.
 * Bounds (relative to the logits' scale), derived in docs/ARCHITECTURE.md:
 *   f32, f16, bf16 weights: 1e-4 (f32 activations, exact weight conversion)
 *   q8_0, q4_0, q4_K, q5_K, q6_K: 2e-2 (activations quantized to int8 per
 *   block of 32 or 256: relative error per element <= 1/254 of the block max)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kvlm.h"
#include "test.h"

static float *read_floats(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *d = malloc((size_t)sz);
    if (d && fread(d, 1, (size_t)sz, f) != (size_t)sz) {
        free(d);
        d = NULL;
    }
    fclose(f);
    *n = (size_t)sz / sizeof(float);
    return d;
}

static double tol_for(const char *type)
{
    if (!strcmp(type, "f32") || !strcmp(type, "f16") || !strcmp(type, "bf16")) return 1e-4;
    return 2e-2;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Runs tokens through a fresh session; returns malloc'd [n][vocab] logits. */
static float *run(kvlm_model *m, const int32_t *toks, int n, int n_threads)
{
    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_threads = n_threads;
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

/* Compares got with ref; returns the relative max error. */
static double compare(const char *what, const float *got, const float *ref, int n, int V, double tol)
{
    double maxref = 1.0, maxdiff = 0.0;
    for (size_t i = 0; i < (size_t)n * (size_t)V; i++) {
        if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!(d <= maxdiff)) maxdiff = d; /* NaN propagates as failure */
    }
    double rel = maxdiff / maxref;
    CHECK(rel <= tol, "%s: max |diff| %.3g (relative %.3g) exceeds %.1g", what, maxdiff, rel, tol);
    for (int t = 0; t < n; t++) {
        int a = argmax(got + (size_t)t * V, V), b = argmax(ref + (size_t)t * V, V);
        CHECK(a == b, "%s: position %d: argmax %d, reference %d", what, t, a, b);
    }
    return rel;
}

int main(void)
{
    char path[4096], dir[4096];
    fixture_path(dir, sizeof dir, "models");
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_error_t err;
    json_t *man = json_load_file(path, 0, &err);
    REQUIRE(man != NULL, "cannot read %s: %s", path, err.text);
    json_t *seqs = json_object_get(man, "sequences");
    json_t *models = json_object_get(man, "models");
    REQUIRE(json_is_object(seqs) && json_is_object(models), "manifest lacks sequences/models");

    const char *mname;
    json_t *mobj;
    int n_compared = 0;
    json_object_foreach(models, mname, mobj) {
        json_t *types = json_object_get(mobj, "types");
        const char *tname;
        json_t *tobj;
        const char *f32_prefix = NULL;
        json_object_foreach(types, tname, tobj) {
            const char *gg = json_string_value(json_object_get(tobj, "gguf"));
            const char *prefix = json_string_value(json_object_get(tobj, "logits_prefix"));
            if (!strcmp(tname, "f32")) f32_prefix = prefix;
            if (!gg || !prefix) continue;
            snprintf(path, sizeof path, "%s/%s", dir, gg);
            kvlm_model *m = NULL;
            kvlm_status st = kvlm_model_load(path, NULL, &m);
            CHECK(st == KVLM_OK, "load %s: %s", path, kvlm_last_error());
            if (st) continue;
            kvlm_model_info in;
            kvlm_model_get_info(m, &in);
            const char *sname;
            json_t *sarr;
            json_object_foreach(seqs, sname, sarr) {
                int n = (int)json_array_size(sarr);
                int32_t toks[256];
                for (int i = 0; i < n && i < 256; i++) toks[i] = (int32_t)json_integer_value(json_array_get(sarr, (size_t)i));
                char rp[4096], what[512];
                snprintf(rp, sizeof rp, "%s/%s.%s.logits", dir, prefix, sname);
                size_t nr;
                float *ref = read_floats(rp, &nr);
                CHECK(ref && nr == (size_t)n * (size_t)in.n_vocab, "reference %s missing or wrong size", rp);
                float *got = run(m, toks, n, 2);
                CHECK(got != NULL, "%s: eval failed", gg);
                if (ref && got && nr == (size_t)n * (size_t)in.n_vocab) {
                    snprintf(what, sizeof what, "%s seq %s", gg, sname);
                    double rel = compare(what, got, ref, n, in.n_vocab, tol_for(tname));
                    printf("  %-28s seq %s: max relative error %.2e\n", gg, sname, rel);
                    n_compared++;
                }
                free(ref);
                free(got);
            }
            kvlm_model_free(m);
        }
        /* The Hugging Face folder(s) against the f32 reference. */
        const char *folders[2] = {json_string_value(json_object_get(mobj, "hf_folder")), NULL};
        for (int k = 0; k < 2 && folders[k]; k++) {
            snprintf(path, sizeof path, "%s/%s", dir, folders[k]);
            kvlm_model *m = NULL;
            kvlm_status st = kvlm_model_load(path, NULL, &m);
            CHECK(st == KVLM_OK, "load %s: %s", path, kvlm_last_error());
            if (st) continue;
            kvlm_model_info in;
            kvlm_model_get_info(m, &in);
            const char *hf_prefix = json_string_value(json_object_get(mobj, "hf_logits_prefix"));
            if (!hf_prefix) hf_prefix = f32_prefix ? f32_prefix : mname;
            const char *sname;
            json_t *sarr;
            json_object_foreach(seqs, sname, sarr) {
                int n = (int)json_array_size(sarr);
                int32_t toks[256];
                for (int i = 0; i < n && i < 256; i++) toks[i] = (int32_t)json_integer_value(json_array_get(sarr, (size_t)i));
                char rp[4096], what[512];
                snprintf(rp, sizeof rp, "%s/%s.%s.logits", dir, hf_prefix, sname);
                size_t nr;
                float *ref = read_floats(rp, &nr);
                float *got = run(m, toks, n, 2);
                CHECK(ref && got && nr == (size_t)n * (size_t)in.n_vocab, "%s seq %s: missing data", path, sname);
                if (ref && got && nr == (size_t)n * (size_t)in.n_vocab) {
                    snprintf(what, sizeof what, "%s (safetensors) seq %s", folders[k], sname);
                    double rel = compare(what, got, ref, n, in.n_vocab, 1e-4);
                    printf("  %-28s seq %s: max relative error %.2e\n", folders[k], sname, rel);
                    n_compared++;
                }
                free(ref);
                free(got);
            }
            kvlm_model_free(m);
        }
    }
    CHECK(n_compared >= 20, "only %d comparisons ran", n_compared);
    json_decref(man);
    TEST_MAIN_END("test_model_fixtures");
}
