/*
 * test_bitexact.c - the bit-exactness rule of docs/ARCHITECTURE.md: a
 * token's logits depend only on the tokens before it, bit for bit.
 *
 * For every fixture model (each GGUF type and the Hugging Face folders) and
 * each KV dtype, the logits of one 100-token sequence are computed as one
 * prefill and compared with memcmp against:
 *   - random chunks fed through successive kvlm_session_eval calls;
 *   - token by token (decode);
 *   - a context whose n_batch is 7 (chunking inside one eval);
 *   - 2 threads, and 3 threads with n_batch 13, instead of 1;
 *   - KV block sizes 1 and 64 instead of 16;
 *   - a session truncated to a random length and re-fed the rest.
 * The F16 and BF16 GGUF files are checked once more with the BF16 matmul
 * (kvlm_model_params.bf16_matmul; f32 KV), whose kernels must keep the
 * rule on their own.
 * The Mistral folder is also checked with its sliding window cut to 9
 * positions (a copy of its config.json beside a link to its weights), so
 * that tokens sharing an attention tile start their windows at different
 * positions, some inside a KV block.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kvlm.h"
#include "test.h"

#define N_TOK 100

typedef struct variant {
    int n_threads, n_batch, block;
} variant;

static uint32_t rng = 2024;
static uint32_t rnd(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

/* chunks: array of chunk sizes summing to n, or NULL for one eval. */
static float *run(kvlm_model *m, kvlm_dtype kv, variant v, const int32_t *toks, int n,
                  const int *chunks, int truncate_at)
{
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);
    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_threads = v.n_threads;
    cp.n_batch = v.n_batch;
    cp.kv_block_size = v.block;
    cp.kv_type = kv;
    cp.n_ctx = 128;
    kvlm_context *ctx = NULL;
    kvlm_session *s = NULL;
    size_t V = (size_t)in.n_vocab;
    float *lg = calloc((size_t)n * V, sizeof(float));
    kvlm_status st = kvlm_context_create(m, &cp, &ctx);
    if (!st) st = kvlm_session_create(ctx, &s);
    if (!st && truncate_at > 0) {
        /* Feed everything, rewind, feed the rest again. */
        float *junk = malloc((size_t)n * V * sizeof(float));
        st = kvlm_session_eval(s, toks, n, KVLM_LOGITS_ALL, junk);
        if (!st) st = kvlm_session_truncate(s, truncate_at);
        if (!st) memcpy(lg, junk, (size_t)truncate_at * V * sizeof(float));
        if (!st) st = kvlm_session_eval(s, toks + truncate_at, n - truncate_at, KVLM_LOGITS_ALL,
                                        lg + (size_t)truncate_at * V);
        free(junk);
    } else if (!st && !chunks) {
        st = kvlm_session_eval(s, toks, n, KVLM_LOGITS_ALL, lg);
    } else {
        for (int off = 0, c = 0; !st && off < n; off += chunks[c++])
            st = kvlm_session_eval(s, toks + off, chunks[c], KVLM_LOGITS_ALL, lg + (size_t)off * V);
    }
    if (st) {
        fprintf(stderr, "eval failed: %s\n", kvlm_last_error());
        free(lg);
        lg = NULL;
    }
    kvlm_session_free(s);
    kvlm_context_free(ctx);
    return lg;
}

/* Under the sanitizers (make test-asan sets KVLM_TEST_QUICK=1) the same
 * checks run for fewer KV dtypes, to keep the suite's time bounded. */
static bool quick(void)
{
    const char *q = getenv("KVLM_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

static void check_model(const char *path, bool bf16)
{
    kvlm_model *m = NULL;
    kvlm_model_params mp = kvlm_model_default_params();
    mp.bf16_matmul = bf16;
    kvlm_status st = kvlm_model_load(path, &mp, &m);
    CHECK(st == KVLM_OK, "load %s: %s", path, kvlm_last_error());
    if (st) return;
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);
    int32_t toks[N_TOK];
    for (int i = 0; i < N_TOK; i++) toks[i] = (int32_t)(rnd() % (uint32_t)in.n_vocab);
    size_t bytes = (size_t)N_TOK * (size_t)in.n_vocab * sizeof(float);
    const kvlm_dtype kvs[] = {KVLM_DTYPE_F32, KVLM_DTYPE_F16, KVLM_DTYPE_BF16, KVLM_DTYPE_Q8_0};
    for (size_t k = 0; k < sizeof kvs / sizeof kvs[0]; k++) {
        if (kvs[k] == KVLM_DTYPE_Q8_0 && in.head_dim % 32 != 0) continue;
        if (quick() && (kvs[k] == KVLM_DTYPE_F16 || kvs[k] == KVLM_DTYPE_BF16)) continue;
        if (bf16 && kvs[k] != KVLM_DTYPE_F32) continue;
        const char *kvn = bf16 ? "f32, bf16 matmul" : kvlm_dtype_name(kvs[k]);
        variant base = {1, 512, 16}; /* 1 thread: the test runs beside others */
        float *ref = run(m, kvs[k], base, toks, N_TOK, NULL, 0);
        CHECK(ref != NULL, "%s kv %s: prefill failed", path, kvn);
        if (!ref) continue;
        int chunks[N_TOK], nc = 0;
        for (int left = N_TOK; left > 0; nc++) {
            int c = 1 + (int)(rnd() % 23);
            if (c > left) c = left;
            chunks[nc] = c;
            left -= c;
        }
        int ones[N_TOK];
        for (int i = 0; i < N_TOK; i++) ones[i] = 1;
        struct {
            const char *what;
            variant v;
            const int *chunks;
            int trunc;
        } cases[] = {
            {"random chunks", base, chunks, 0},
            {"token by token", base, ones, 0},
            {"n_batch 7", {1, 7, 16}, NULL, 0},
            {"2 threads", {2, 512, 16}, NULL, 0},
            {"3 threads, n_batch 13", {3, 13, 16}, NULL, 0},
            {"block size 1", {1, 512, 1}, NULL, 0},
            {"block size 64", {1, 512, 64}, NULL, 0},
            {"truncate and refeed", base, NULL, 1 + (int)(rnd() % (N_TOK - 1))},
        };
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            float *got = run(m, kvs[k], cases[c].v, toks, N_TOK, cases[c].chunks, cases[c].trunc);
            CHECK(got && memcmp(got, ref, bytes) == 0, "%s kv %s: %s differs from one prefill", path,
                  kvn, cases[c].what);
            free(got);
        }
        free(ref);
    }
    kvlm_model_free(m);
}

/* A copy of HF folder `src` in a temporary folder whose config.json sets
 * sliding_window = w; writes the folder's path to out. */
static bool windowed_copy(const char *src, int w, char *out, size_t n)
{
    char path[4096], target[4096];
    snprintf(out, n, "/tmp/kvlm-bitexact-XXXXXX");
    if (!mkdtemp(out)) return false;
    snprintf(path, sizeof path, "%s/config.json", src);
    json_error_t err;
    json_t *cfg = json_load_file(path, 0, &err);
    if (!cfg) return false;
    json_object_set_new(cfg, "sliding_window", json_integer(w));
    snprintf(path, sizeof path, "%s/config.json", out);
    int bad = json_dump_file(cfg, path, 0);
    json_decref(cfg);
    if (bad) return false;
    if (!realpath(src, target)) return false;
    strncat(target, "/model.safetensors", sizeof target - strlen(target) - 1);
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    return symlink(target, path) == 0;
}

static void remove_copy(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    char dir[4096], path[4096];
    fixture_path(dir, sizeof dir, "models");
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_error_t err;
    json_t *man = json_load_file(path, 0, &err);
    REQUIRE(man != NULL, "cannot read %s: %s", path, err.text);
    json_t *models = json_object_get(man, "models");
    const char *mname;
    json_t *mobj;
    int n = 0, n_bf16 = 0;
    json_object_foreach(models, mname, mobj) {
        const char *tname;
        json_t *tobj;
        json_object_foreach(json_object_get(mobj, "types"), tname, tobj) {
            const char *gg = json_string_value(json_object_get(tobj, "gguf"));
            if (!gg) continue;
            snprintf(path, sizeof path, "%s/%s", dir, gg);
            check_model(path, false);
            n++;
            if (!strcmp(tname, "f16") || !strcmp(tname, "bf16")) {
                check_model(path, true);
                n_bf16++;
            }
        }
        const char *hf = json_string_value(json_object_get(mobj, "hf_folder"));
        if (hf) {
            snprintf(path, sizeof path, "%s/%s", dir, hf);
            check_model(path, false);
            n++;
        }
    }
    CHECK(n >= 10, "only %d models checked", n);
    CHECK(n_bf16 >= 10, "only %d models checked with the BF16 matmul", n_bf16);
    char win[64];
    snprintf(path, sizeof path, "%s/mistral", dir);
    CHECK(windowed_copy(path, 9, win, sizeof win), "cannot make a windowed copy of %s", path);
    check_model(win, false);
    remove_copy(win);
    json_decref(man);
    TEST_MAIN_END("test_bitexact");
}
