/*
 * cmd_kv_plan.c - `kvlm kv-plan`: how much memory a model needs for a
 * context length and a number of concurrent sequences.
 *
 *   kvlm kv-plan [-m MODEL] --ctx N [--batch B] [--kv-type f32|f16|bf16|q8_0]
 *                [--kv-block-size S] [--json]
 *
 * Figures (bytes):
 *   weights          sum over the model's tensors of their stored size
 *                    (kvlm_model_tensor: type and shape; block types by
 *                    their real block size, scales included)
 *   KV per token     2 x layers x KV heads x (bytes of one head_dim row in
 *                    the KV type; q8_0: head_dim / 32 blocks of 34 bytes)
 *   KV for N, N x B  per token x N, x B sequences
 *   allocated        what the engine allocates: B x ceil(N / S) blocks of
 *                    S x per-token bytes. The command creates a context
 *                    with exactly that budget and prints blocks_total x
 *                    block_bytes from kvlm_context_cache_stats(), so the
 *                    number IS the engine's allocation (the pool is
 *                    zeroed when created, so the memory is really taken).
 *   total            weights + allocated KV (scratch buffers not included)
 *   GQA saving       the same KV with n_kv_heads = n_heads (multi-head
 *                    attention) minus the model's, for N x B tokens.
 * Exit codes: 0; 1 model or allocation failure (the computed plan is still
 * printed, marked as not allocated); 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kernels/kernels.h"

#define PLAN_USAGE                                                                               \
    "usage: kvlm kv-plan [-m MODEL] --ctx N [--batch B] [--kv-type f32|f16|bf16|q8_0]\n"         \
    "                    [--kv-block-size S] [--json]\n"

static void human(char *buf, size_t n, uint64_t b)
{
    if (b >= (1ull << 30)) snprintf(buf, n, "%.2f GiB", (double)b / (double)(1ull << 30));
    else if (b >= (1ull << 20)) snprintf(buf, n, "%.2f MiB", (double)b / (double)(1ull << 20));
    else if (b >= 1024) snprintf(buf, n, "%.2f KiB", (double)b / 1024.0);
    else snprintf(buf, n, "%llu B", (unsigned long long)b);
}

int cmd_kv_plan(int argc, char **argv)
{
    const char *path = NULL;
    long long ctx_n = 0, batch = 1, bs = 16;
    bool json = false;
    kvlm_dtype kv = KVLM_DTYPE_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) json = true;
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) path = argv[++i];
        else if (!strcmp(a, "--ctx") && v) {
            if (!cli_parse_int(v, 1, 1 << 24, &ctx_n)) {
                fprintf(stderr, "kvlm kv-plan: invalid --ctx '%s' (1..16777216)\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--batch") && v) {
            if (!cli_parse_int(v, 1, 65536, &batch)) {
                fprintf(stderr, "kvlm kv-plan: invalid --batch '%s' (1..65536 sequences)\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--kv-block-size") && v) {
            if (!cli_parse_int(v, 1, 4096, &bs)) {
                fprintf(stderr, "kvlm kv-plan: invalid --kv-block-size '%s' (1..4096 tokens)\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--kv-type") && v) {
            if (!cli_parse_kv_type(v, &kv)) {
                fprintf(stderr, "kvlm kv-plan: invalid --kv-type '%s' (f32, f16, bf16 or q8_0)\n", v);
                return 2;
            }
            i++;
        } else {
            fprintf(stderr, "kvlm kv-plan: unknown or incomplete option '%s'\n" PLAN_USAGE, a);
            return 2;
        }
    }
    if (!ctx_n) {
        fprintf(stderr, "kvlm kv-plan: --ctx N is required\n" PLAN_USAGE);
        return 2;
    }
    if (!path && !(path = cli_demo_model())) {
        fprintf(stderr, "kvlm kv-plan: no model given (-m MODEL) and the bundled demo model was not found\n");
        return 2;
    }
    kvlm_model *m = cli_load_model("kv-plan", path);
    if (!m) return 1;
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);

    uint64_t wbytes = 0;
    for (int i = 0; i < in.n_tensors; i++) {
        kvlm_dtype t;
        int64_t ne[4];
        int nd;
        kvlm_model_tensor(m, i, NULL, &t, ne, &nd);
        uint64_t rows = 1;
        for (int d = 1; d < nd; d++) rows *= (uint64_t)ne[d];
        wbytes += (uint64_t)kvlm_dtype_row_bytes(t, ne[0]) * rows;
    }
    uint64_t per_tok = kvlm_model_kv_bytes_per_token(m, kv);
    if (per_tok == 0) {
        fprintf(stderr, "kvlm kv-plan: KV type %s cannot hold head_dim %d (q8_0 needs a multiple of 32)\n",
                kvlm_dtype_name(kv), in.head_dim);
        kvlm_model_free(m);
        return 2;
    }
    uint64_t N = (uint64_t)ctx_n, B = (uint64_t)batch, S = (uint64_t)bs;
    uint64_t kv_ctx = per_tok * N, kv_batch = kv_ctx * B;
    uint64_t blocks = B * ((N + S - 1) / S), block_bytes = per_tok * S;
    uint64_t planned = blocks * block_bytes;
    uint64_t mha_tok = per_tok / (uint64_t)in.n_kv_heads * (uint64_t)in.n_heads;
    uint64_t mha_batch = mha_tok * N * B;

    /* What the engine really allocates for this plan. */
    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_threads = 1;
    cp.n_batch = 1;
    cp.n_ctx = (int)N;
    cp.kv_type = kv;
    cp.kv_block_size = (int)S;
    cp.kv_memory_bytes = planned;
    kvlm_context *ctx = NULL;
    kvlm_cache_stats cs;
    memset(&cs, 0, sizeof cs);
    char alloc_err[512] = "";
    if (kvlm_context_create(m, &cp, &ctx) == KVLM_OK) {
        kvlm_context_cache_stats(ctx, &cs);
        kvlm_context_free(ctx);
    } else {
        snprintf(alloc_err, sizeof alloc_err, "%s", kvlm_last_error());
    }
    uint64_t allocated = (uint64_t)cs.blocks_total * cs.block_bytes;
    bool ok = !alloc_err[0];
    uint64_t total = wbytes + (ok ? allocated : planned);

    if (json) {
        printf("{\"model\": ");
        cli_json_string(path);
        printf(", \"architecture\": \"%s\", \"n_layers\": %d, \"n_heads\": %d, \"n_kv_heads\": %d, "
               "\"head_dim\": %d, \"n_ctx_train\": %d, \"kv_type\": \"%s\", \"ctx\": %llu, \"batch\": %llu, "
               "\"block_size\": %llu, \"weight_bytes\": %llu, \"kv_bytes_per_token\": %llu, "
               "\"kv_bytes_context\": %llu, \"kv_bytes_batch\": %llu, \"planned_blocks\": %llu, "
               "\"planned_kv_bytes\": %llu, ",
               in.arch_name, in.n_layers, in.n_heads, in.n_kv_heads, in.head_dim, in.n_ctx_train,
               kvlm_dtype_name(kv), (unsigned long long)N, (unsigned long long)B, (unsigned long long)S,
               (unsigned long long)wbytes, (unsigned long long)per_tok, (unsigned long long)kv_ctx,
               (unsigned long long)kv_batch, (unsigned long long)blocks, (unsigned long long)planned);
        if (ok)
            printf("\"engine_blocks\": %d, \"engine_block_bytes\": %llu, \"kv_bytes_allocated\": %llu, ",
                   cs.blocks_total, (unsigned long long)cs.block_bytes, (unsigned long long)allocated);
        else {
            printf("\"engine_blocks\": null, \"engine_block_bytes\": null, \"kv_bytes_allocated\": null, "
                   "\"allocation_error\": ");
            cli_json_string(alloc_err);
            printf(", ");
        }
        printf("\"total_bytes\": %llu, \"mha_kv_bytes_per_token\": %llu, \"mha_kv_bytes_batch\": %llu, "
               "\"gqa_saved_bytes\": %llu}\n",
               (unsigned long long)total, (unsigned long long)mha_tok, (unsigned long long)mha_batch,
               (unsigned long long)(mha_batch - kv_batch));
    } else {
        char h1[32], h2[32], h3[32], h4[32], h5[32];
        printf("model %s: %s, %d layers, %d heads / %d KV heads, head dim %d, trained context %d\n", path,
               in.arch_name, in.n_layers, in.n_heads, in.n_kv_heads, in.head_dim, in.n_ctx_train);
        if (N > (uint64_t)in.n_ctx_train)
            printf("note: --ctx %llu is beyond the trained context %d\n", (unsigned long long)N, in.n_ctx_train);
        human(h1, sizeof h1, wbytes);
        printf("weights              %14llu bytes  (%s)\n", (unsigned long long)wbytes, h1);
        printf("KV per token (%s)  %14llu bytes  (2 x %d layers x %d KV heads x %llu bytes per head row)\n",
               kvlm_dtype_name(kv), (unsigned long long)per_tok, in.n_layers, in.n_kv_heads,
               (unsigned long long)(per_tok / 2 / (uint64_t)in.n_layers / (uint64_t)in.n_kv_heads));
        human(h2, sizeof h2, kv_ctx);
        human(h3, sizeof h3, kv_batch);
        printf("KV for %llu tokens   %14llu bytes  (%s); x %llu sequences: %llu bytes (%s)\n",
               (unsigned long long)N, (unsigned long long)kv_ctx, h2, (unsigned long long)B,
               (unsigned long long)kv_batch, h3);
        if (ok) {
            human(h4, sizeof h4, allocated);
            printf("engine allocates     %14llu bytes  (%s): %d blocks of %d tokens x %llu bytes\n",
                   (unsigned long long)allocated, h4, cs.blocks_total, cs.block_size,
                   (unsigned long long)cs.block_bytes);
        } else {
            human(h4, sizeof h4, planned);
            printf("engine would allocate %13llu bytes  (%s): %llu blocks of %llu tokens - NOT allocated: %s\n",
                   (unsigned long long)planned, h4, (unsigned long long)blocks, (unsigned long long)S, alloc_err);
        }
        human(h5, sizeof h5, total);
        printf("total                %14llu bytes  (%s) = weights + KV (scratch buffers not counted)\n",
               (unsigned long long)total, h5);
        human(h1, sizeof h1, mha_batch);
        human(h2, sizeof h2, mha_batch - kv_batch);
        if (in.n_kv_heads < in.n_heads)
            printf("grouped-query attention: %d KV heads instead of %d saves %llu bytes (%s) of the %llu (%s) "
                   "multi-head attention would need (%.1fx less)\n",
                   in.n_kv_heads, in.n_heads, (unsigned long long)(mha_batch - kv_batch), h2,
                   (unsigned long long)mha_batch, h1, (double)in.n_heads / in.n_kv_heads);
        else
            printf("multi-head attention (KV heads = heads): no grouped-query saving\n");
    }
    kvlm_model_free(m);
    if (!ok) {
        fprintf(stderr, "kvlm kv-plan: the engine could not allocate this plan: %s\n", alloc_err);
        return 1;
    }
    return 0;
}
