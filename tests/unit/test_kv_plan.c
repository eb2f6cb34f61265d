/*
 * test_kv_plan.c - `kvlm kv-plan --json` against numbers computed here.
 *
 * Oracle: the model's hyperparameters and tensor list come from
 * `kvlm inspect --json --tensors`; this test computes on its own
 *   - weight bytes: sum of tensor sizes with its own table of GGUF block
 *     sizes (elements per block, bytes per block), cross-checked with the
 *     file's tensor data size reported by inspect (weight_bytes);
 *   - KV bytes per token: 2 x layers x KV heads x head-row bytes of the KV
 *     type (q8_0: head_dim / 32 blocks of 34 bytes);
 *   - the engine's allocation: B x ceil(N / S) blocks of S tokens;
 *   - multi-head attention's KV (KV heads = heads) and the GQA saving;
 * and, through the library, creates a context with the same parameters and
 * requires kvlm_context_cache_stats() to report exactly the allocation the
 * command printed. Also: q8_0 with a head_dim not a multiple of 32 and
 * usage errors exit 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "kvlm.h"
#include "cli_run.h"
#include "test.h"

static const char *bin;
static char tmpdir[256];

/* Runs the binary; stderr goes to <tmpdir>/stderr. */
static int run(const char *args, const char *out_file) { return run_kvlm_in(bin, tmpdir, args, out_file); }

static json_t *run_json(const char *args)
{
    char out[512];
    snprintf(out, sizeof out, "%s/out.json", tmpdir);
    int rc = run(args, out);
    CHECK(rc == 0, "'%s' exits %d", args, rc);
    json_error_t err;
    json_t *j = rc == 0 ? json_load_file(out, 0, &err) : NULL;
    CHECK(rc != 0 || j, "'%s': not JSON: %s", args, err.text);
    return j;
}

/* GGUF block layouts: elements per block, bytes per block. */
static bool type_size(const char *t, long long *blk, long long *bytes)
{
    static const struct { const char *n; long long blk, bytes; } tab[] = {
        {"f32", 1, 4}, {"f16", 1, 2}, {"bf16", 1, 2}, {"q8_0", 32, 34}, {"q4_0", 32, 18}, {"q5_0", 32, 22},
        {"q4_K", 256, 144}, {"q5_K", 256, 176}, {"q6_K", 256, 210}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(t, tab[i].n)) {
            *blk = tab[i].blk;
            *bytes = tab[i].bytes;
            return true;
        }
    return false;
}

static long long geti(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static void check_model(const char *file)
{
    char model[4096], args[8192];
    fixture_path(model, sizeof model, file);
    snprintf(args, sizeof args, "inspect '%s' --json --tensors --no-fingerprint", model);
    json_t *ij = run_json(args);
    if (!ij) return;
    long long L = geti(ij, "n_layers"), H = geti(ij, "n_heads"), KVH = geti(ij, "n_kv_heads"),
              hd = geti(ij, "head_dim");
    long long wb = 0;
    json_t *ts = json_object_get(ij, "tensors");
    CHECK(json_array_size(ts) > 0, "%s: no tensors listed", file);
    for (size_t i = 0; i < json_array_size(ts); i++) {
        json_t *t = json_array_get(ts, i), *ne = json_object_get(t, "ne");
        long long blk, bytes, rows = 1, n0 = json_integer_value(json_array_get(ne, 0));
        const char *ty = json_string_value(json_object_get(t, "type"));
        CHECK(ty && type_size(ty, &blk, &bytes), "%s: type %s", file, ty ? ty : "?");
        if (!ty || !type_size(ty, &blk, &bytes)) continue;
        for (size_t d = 1; d < json_array_size(ne); d++) rows *= json_integer_value(json_array_get(ne, d));
        wb += n0 / blk * bytes * rows;
    }
    CHECK(wb == geti(ij, "weight_bytes"), "%s: tensor sizes sum to %lld, inspect says %lld", file, wb,
          geti(ij, "weight_bytes"));

    kvlm_model *m = NULL;
    CHECK(kvlm_model_load(model, NULL, &m) == KVLM_OK, "load %s", model);
    const struct { const char *kv; long long row; kvlm_dtype t; } kvs[] = {
        {"f32", hd * 4, KVLM_DTYPE_F32}, {"f16", hd * 2, KVLM_DTYPE_F16},
        {"bf16", hd * 2, KVLM_DTYPE_BF16}, {"q8_0", hd / 32 * 34, KVLM_DTYPE_Q8_0}};
    const long long plans[][3] = {{100, 1, 16}, {128, 3, 16}, {77, 2, 7}, {1, 1, 1}, {1000, 5, 64}};
    for (size_t k = 0; k < sizeof kvs / sizeof kvs[0]; k++) {
        for (size_t p = 0; p < sizeof plans / sizeof plans[0]; p++) {
            long long N = plans[p][0], B = plans[p][1], S = plans[p][2];
            snprintf(args, sizeof args, "kv-plan -m '%s' --ctx %lld --batch %lld --kv-block-size %lld --kv-type %s --json",
                     model, N, B, S, kvs[k].kv);
            if (hd % 32 && kvs[k].t == KVLM_DTYPE_Q8_0) {
                CHECK(run(args, NULL) == 2, "%s: q8_0 with head_dim %lld must be refused", file, hd);
                continue;
            }
            if (N > geti(ij, "n_ctx_train") && !strcmp(json_string_value(json_object_get(ij, "architecture")), "gpt2")) {
                /* GPT-2 has no positions beyond its table: the engine refuses, the command says so */
                CHECK(run(args, NULL) == 1, "%s: a plan beyond GPT-2's positions must exit 1", file);
                continue;
            }
            json_t *j = run_json(args);
            if (!j) continue;
            long long per = 2 * L * KVH * kvs[k].row;
            long long blocks = B * ((N + S - 1) / S);
            long long alloc = blocks * S * per;
            long long mha = 2 * L * H * kvs[k].row;
            CHECK(geti(j, "weight_bytes") == wb, "%s: weight_bytes %lld, want %lld", file, geti(j, "weight_bytes"), wb);
            CHECK(geti(j, "kv_bytes_per_token") == per, "%s %s: per token %lld, want %lld", file, kvs[k].kv,
                  geti(j, "kv_bytes_per_token"), per);
            CHECK(geti(j, "kv_bytes_context") == per * N && geti(j, "kv_bytes_batch") == per * N * B,
                  "%s %s: context/batch KV", file, kvs[k].kv);
            CHECK(geti(j, "kv_bytes_allocated") == alloc && geti(j, "engine_blocks") == blocks,
                  "%s %s N %lld B %lld S %lld: allocated %lld in %lld blocks, want %lld in %lld", file, kvs[k].kv,
                  N, B, S, geti(j, "kv_bytes_allocated"), geti(j, "engine_blocks"), alloc, blocks);
            CHECK(geti(j, "total_bytes") == wb + alloc, "%s: total", file);
            CHECK(geti(j, "mha_kv_bytes_per_token") == mha && geti(j, "gqa_saved_bytes") == (mha - per) * N * B,
                  "%s %s: MHA %lld, saved %lld", file, kvs[k].kv, geti(j, "mha_kv_bytes_per_token"),
                  geti(j, "gqa_saved_bytes"));
            /* the engine itself, created by this test */
            if (m) {
                kvlm_context_params cp = kvlm_context_default_params();
                cp.n_threads = 1;
                cp.n_ctx = (int)N;
                cp.kv_block_size = (int)S;
                cp.kv_type = kvs[k].t;
                cp.kv_memory_bytes = (uint64_t)alloc;
                kvlm_context *ctx = NULL;
                if (kvlm_context_create(m, &cp, &ctx) == KVLM_OK) {
                    kvlm_cache_stats cs;
                    kvlm_context_cache_stats(ctx, &cs);
                    CHECK((long long)cs.blocks_total * (long long)cs.block_bytes == geti(j, "kv_bytes_allocated"),
                          "%s: engine stats %d x %llu vs printed %lld", file, cs.blocks_total,
                          (unsigned long long)cs.block_bytes, geti(j, "kv_bytes_allocated"));
                    kvlm_context_free(ctx);
                } else {
                    CHECK(0, "context: %s", kvlm_last_error());
                }
            }
            json_decref(j);
        }
    }
    kvlm_model_free(m);
    json_decref(ij);
}

int main(void)
{
    bin = getenv("KVLM_BIN");
    if (!bin) {
        printf("test_kv_plan: KVLM_BIN not set, skipped\n");
        return 0;
    }
    char args[8192], model[4096];
    REQUIRE(cli_tmpdir(tmpdir, sizeof tmpdir, "kvplan"), "mkdir");
    check_model("models/llama-gqa-q4_k.gguf"); /* GQA, K-quant weights, head_dim 64 */
    check_model("models/qwen2-f32.gguf");      /* head_dim 16: q8_0 refused */
    check_model("models/gpt2-q8_0.gguf");      /* multi-head attention */

    fixture_path(model, sizeof model, "models/qwen2-f32.gguf");
    snprintf(args, sizeof args, "kv-plan -m '%s'", model);
    CHECK(run(args, NULL) == 2, "missing --ctx -> 2");
    snprintf(args, sizeof args, "kv-plan -m '%s' --ctx 0", model);
    CHECK(run(args, NULL) == 2, "--ctx 0 -> 2");
    snprintf(args, sizeof args, "kv-plan -m '%s' --ctx 10 --batch x", model);
    CHECK(run(args, NULL) == 2, "--batch x -> 2");
    snprintf(args, sizeof args, "kv-plan -m '%s' --ctx 10 --kv-type q4", model);
    CHECK(run(args, NULL) == 2, "--kv-type q4 -> 2");
    CHECK(run("kv-plan -m /nonexistent.gguf --ctx 10", NULL) == 1, "missing model -> 1");
    cli_rmdir(tmpdir);
    TEST_MAIN_END("test_kv_plan");
}
