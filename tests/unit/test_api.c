/*
 * test_api.c - the public API's contracts on a fixture model:
 *   - the fingerprint is stable across loads and differs between weight
 *     types and architectures;
 *   - model info and KV bytes per token match the manifest's dimensions;
 *   - bad arguments (NULL pointers, out-of-range tokens, n <= 0, bad logits
 *     mode) are refused with KVLM_ERR_INVALID_ARG and a message;
 *   - running past n_ctx gives KVLM_ERR_CONTEXT_FULL and a pool too small
 *     for the tokens gives KVLM_ERR_KV_FULL, both leaving the session as it
 *     was (its next eval matches an untouched session bit for bit);
 *   - truncate rejects n beyond the session and frees the tail's blocks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvlm.h"
#include "test.h"

static kvlm_model *load(const char *rel)
{
    char p[4096];
    fixture_path(p, sizeof p, rel);
    kvlm_model *m = NULL;
    kvlm_status s = kvlm_model_load(p, NULL, &m);
    if (s) fprintf(stderr, "load %s: %s\n", p, kvlm_last_error());
    return m;
}

int main(void)
{
    kvlm_model *a = load("models/llama-gqa-f32.gguf");
    kvlm_model *a2 = load("models/llama-gqa-f32.gguf");
    kvlm_model *b = load("models/llama-gqa-q8_0.gguf");
    kvlm_model *c = load("models/qwen2-f32.gguf");
    REQUIRE(a && a2 && b && c, "fixture models load");

    uint8_t fa[32], fa2[32], fb[32], fc[32];
    CHECK(kvlm_model_fingerprint(a, fa) == KVLM_OK, "fingerprint");
    CHECK(kvlm_model_fingerprint(a, fa2) == KVLM_OK && memcmp(fa, fa2, 32) == 0, "cached fingerprint stable");
    CHECK(kvlm_model_fingerprint(a2, fa2) == KVLM_OK && memcmp(fa, fa2, 32) == 0, "fingerprint stable across loads");
    CHECK(kvlm_model_fingerprint(b, fb) == KVLM_OK && memcmp(fa, fb, 32) != 0, "f32 and q8_0 differ");
    CHECK(kvlm_model_fingerprint(c, fc) == KVLM_OK && memcmp(fa, fc, 32) != 0, "llama and qwen2 differ");

    kvlm_model_info in;
    kvlm_model_get_info(a, &in);
    CHECK(in.arch == KVLM_ARCH_LLAMA && in.n_layers == 2 && in.n_embd == 256 && in.n_heads == 4 &&
          in.n_kv_heads == 2 && in.head_dim == 64 && in.n_vocab == 288,
          "llama-gqa info: arch %d layers %d embd %d heads %d/%d hd %d vocab %d", in.arch, in.n_layers,
          in.n_embd, in.n_heads, in.n_kv_heads, in.head_dim, in.n_vocab);
    CHECK(kvlm_model_kv_bytes_per_token(a, KVLM_DTYPE_F32) == 2ull * 2 * 2 * 64 * 4, "kv bytes f32");
    CHECK(kvlm_model_kv_bytes_per_token(a, KVLM_DTYPE_F16) == 2ull * 2 * 2 * 64 * 2, "kv bytes f16");
    CHECK(kvlm_model_kv_bytes_per_token(a, KVLM_DTYPE_Q8_0) == 2ull * 2 * 2 * 2 * 34, "kv bytes q8_0");

    /* Argument checks. */
    kvlm_model *none = NULL;
    CHECK(kvlm_model_load(NULL, NULL, &none) != KVLM_OK && none == NULL, "NULL path");
    CHECK(kvlm_model_load("/nonexistent/model.gguf", NULL, &none) == KVLM_ERR_IO &&
          strstr(kvlm_last_error(), "/nonexistent/model.gguf"), "missing file named: %s", kvlm_last_error());
    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_ctx = 40;
    cp.n_threads = 2;
    cp.kv_memory_bytes = 2 * 48 * kvlm_model_kv_bytes_per_token(a, KVLM_DTYPE_F32); /* two sessions */
    kvlm_context *ctx = NULL;
    REQUIRE(kvlm_context_create(a, &cp, &ctx) == KVLM_OK, "context: %s", kvlm_last_error());
    kvlm_session *s = NULL, *ref = NULL;
    REQUIRE(kvlm_session_create(ctx, &s) == KVLM_OK && kvlm_session_create(ctx, &ref) == KVLM_OK, "sessions");
    int32_t toks[64];
    for (int i = 0; i < 64; i++) toks[i] = (i * 37 + 5) % 288;
    float *lg = malloc(64 * 288 * sizeof(float)), *lg2 = malloc(64 * 288 * sizeof(float));
    CHECK(kvlm_session_eval(s, toks, 0, KVLM_LOGITS_LAST, lg) == KVLM_ERR_INVALID_ARG, "n = 0");
    CHECK(kvlm_session_eval(s, NULL, 3, KVLM_LOGITS_LAST, lg) == KVLM_ERR_INVALID_ARG, "NULL tokens");
    CHECK(kvlm_session_eval(s, toks, 3, KVLM_LOGITS_LAST, NULL) == KVLM_ERR_INVALID_ARG, "NULL logits");
    CHECK(kvlm_session_eval(s, toks, 3, (kvlm_logits_mode)7, lg) == KVLM_ERR_INVALID_ARG, "bad mode");
    int32_t bad[3] = {1, 288, 2};
    CHECK(kvlm_session_eval(s, bad, 3, KVLM_LOGITS_LAST, lg) == KVLM_ERR_INVALID_ARG &&
          strstr(kvlm_last_error(), "288"), "token out of range: %s", kvlm_last_error());
    bad[1] = -1;
    CHECK(kvlm_session_eval(s, bad, 3, KVLM_LOGITS_LAST, lg) == KVLM_ERR_INVALID_ARG, "negative token");
    CHECK(kvlm_session_n_tokens(s) == 0, "failed evals leave the session empty");

    /* Context full leaves the session unchanged. */
    CHECK(kvlm_session_eval(s, toks, 30, KVLM_LOGITS_NONE, NULL) == KVLM_OK, "eval 30");
    CHECK(kvlm_session_eval(s, toks + 30, 11, KVLM_LOGITS_LAST, lg) == KVLM_ERR_CONTEXT_FULL,
          "context full: %s", kvlm_last_error());
    CHECK(kvlm_session_n_tokens(s) == 30, "still 30 tokens");
    CHECK(kvlm_session_eval(s, toks + 30, 10, KVLM_LOGITS_ALL, lg) == KVLM_OK, "fill to 40");
    CHECK(kvlm_session_eval(ref, toks, 40, KVLM_LOGITS_ALL, lg2) == KVLM_OK, "reference");
    CHECK(memcmp(lg, lg2 + 30 * 288, 10 * 288 * sizeof(float)) == 0, "after a refused eval, bit-identical");

    /* Truncate. */
    CHECK(kvlm_session_truncate(s, 41) == KVLM_ERR_INVALID_ARG, "truncate past end");
    CHECK(kvlm_session_truncate(s, -1) == KVLM_ERR_INVALID_ARG, "truncate negative");
    CHECK(kvlm_session_truncate(s, 17) == KVLM_OK && kvlm_session_n_tokens(s) == 17, "truncate to 17");
    CHECK(kvlm_session_eval(s, toks + 17, 23, KVLM_LOGITS_ALL, lg) == KVLM_OK, "refeed");
    CHECK(memcmp(lg, lg2 + 17 * 288, 23 * 288 * sizeof(float)) == 0, "after truncate, bit-identical");
    kvlm_session_free(s);
    kvlm_session_free(ref);
    kvlm_context_free(ctx);

    /* KV pool exhaustion: budget for 2 blocks of 16 tokens, n_ctx 64. */
    cp.n_ctx = 64;
    cp.kv_memory_bytes = 2 * 16 * kvlm_model_kv_bytes_per_token(a, KVLM_DTYPE_F32);
    REQUIRE(kvlm_context_create(a, &cp, &ctx) == KVLM_OK, "small context: %s", kvlm_last_error());
    REQUIRE(kvlm_session_create(ctx, &s) == KVLM_OK, "session");
    CHECK(kvlm_session_eval(s, toks, 20, KVLM_LOGITS_NONE, NULL) == KVLM_OK, "20 tokens fit");
    CHECK(kvlm_session_eval(s, toks + 20, 13, KVLM_LOGITS_LAST, lg) == KVLM_ERR_KV_FULL, "KV full: %s",
          kvlm_last_error());
    CHECK(kvlm_session_n_tokens(s) == 20, "unchanged after KV full");
    CHECK(kvlm_session_eval(s, toks + 20, 12, KVLM_LOGITS_LAST, lg) == KVLM_OK, "12 more fit exactly");
    kvlm_session_truncate(s, 0);
    CHECK(kvlm_session_eval(s, toks, 32, KVLM_LOGITS_LAST, lg) == KVLM_OK, "blocks were freed by truncate");
    kvlm_session_free(s);
    kvlm_context_free(ctx);
    cp.kv_memory_bytes = 100; /* less than a block */
    CHECK(kvlm_context_create(a, &cp, &ctx) == KVLM_ERR_INVALID_ARG, "budget below one block refused");
    cp = kvlm_context_default_params();
    cp.kv_type = KVLM_DTYPE_Q4_0;
    CHECK(kvlm_context_create(a, &cp, &ctx) != KVLM_OK, "q4_0 KV refused");

    free(lg);
    free(lg2);
    kvlm_model_free(a);
    kvlm_model_free(a2);
    kvlm_model_free(b);
    kvlm_model_free(c);
    TEST_MAIN_END("test_api");
}
