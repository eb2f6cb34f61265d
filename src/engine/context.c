/*
 * context.c - kvlm_context: kernels, threads, the KV block pool with its
 * prefix cache, scratch memory; cache statistics and the invariant checker
 * over the pool and every live session (sessions themselves: session.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/status.h"
#include "engine/context.h"
#include "model/forward.h"

kvlm_context_params kvlm_context_default_params(void)
{
    kvlm_context_params p;
    memset(&p, 0, sizeof p);
    p.n_batch = 512;
    p.kv_type = KVLM_DTYPE_F32;
    p.kv_block_size = 16;
    p.prefix_cache = true;
    return p;
}

kvlm_context_params kvlm_context_get_params(const kvlm_context *ctx) { return ctx->p; }

void kvlm_context_free(kvlm_context *ctx)
{
    if (!ctx) return;
    /* Sessions must be freed before their context; detach any left so
     * that a late kvlm_session_free does not touch freed memory. */
    for (kvlm_session *s = ctx->sessions; s; s = s->next) s->ctx = NULL;
    kvlm_threadpool_free(ctx->tp);
    kvlm_block_pool_free(ctx->pool);
    free(ctx->ts);
    free(ctx->arena);
    free(ctx);
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

kvlm_status kvlm_context_create(kvlm_model *model, const kvlm_context_params *params,
                                kvlm_context **out)
{
    if (!model || !out) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_context_create: NULL argument");
    *out = NULL;
    kvlm_context_params p = params ? *params : kvlm_context_default_params();
    const kvlm_model_info *in = &model->info;
    if (p.n_threads < 0 || p.n_threads > 1024)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "n_threads %d is out of range [0, 1024]", p.n_threads);
    if (p.n_threads == 0) {
        int c = kvlm_cpu_count();
        p.n_threads = c > 256 ? 256 : c;
    }
    if (p.n_ctx < 0) return kvlm_fail(KVLM_ERR_INVALID_ARG, "n_ctx %d is negative", p.n_ctx);
    if (p.n_ctx == 0) p.n_ctx = in->n_ctx_train < 4096 ? in->n_ctx_train : 4096;
    if (p.n_ctx > (1 << 24)) return kvlm_fail(KVLM_ERR_INVALID_ARG, "n_ctx %d is too large", p.n_ctx);
    if (in->arch == KVLM_ARCH_GPT2 && p.n_ctx > in->n_ctx_train)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "n_ctx %d exceeds GPT-2's %d learned positions",
                         p.n_ctx, in->n_ctx_train);
    if (p.n_batch <= 0) p.n_batch = 512;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.n_batch > 65536) return kvlm_fail(KVLM_ERR_INVALID_ARG, "n_batch %d is too large", p.n_batch);
    if (p.kv_block_size <= 0) p.kv_block_size = 16;
    if (p.kv_block_size > 4096)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kv_block_size %d is out of range [1, 4096]", p.kv_block_size);

    kvlm_block_pool_params bp = {in->n_layers, in->n_kv_heads, in->head_dim, p.kv_type,
                                 p.kv_block_size, 0};
    uint64_t per_token = kvlm_model_kv_bytes_per_token(model, p.kv_type);
    if (per_token == 0)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "KV type %s cannot hold head_dim %d",
                         kvlm_dtype_name(p.kv_type) ? kvlm_dtype_name(p.kv_type) : "?", in->head_dim);
    uint64_t block_bytes = per_token * (uint64_t)p.kv_block_size; /* what the pool will compute */
    uint64_t need = (uint64_t)(p.n_ctx + p.kv_block_size - 1) / (uint64_t)p.kv_block_size;
    if (p.kv_memory_bytes == 0) p.kv_memory_bytes = need * block_bytes;
    uint64_t nb = p.kv_memory_bytes / block_bytes;
    if (nb < 1)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "KV memory budget of %llu bytes holds no block "
                         "(one block is %llu bytes)", (unsigned long long)p.kv_memory_bytes,
                         (unsigned long long)block_bytes);
    if (nb > (1u << 30)) nb = 1u << 30;
    bp.n_blocks = (int)nb;

    kvlm_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    ctx->model = model;
    ctx->p = p;
    ctx->scope.kv_type = p.kv_type;
    ctx->scope.block_size = p.kv_block_size;
    ctx->ops = kvlm_kernels();
    kvlm_status s = kvlm_block_pool_create(&bp, &ctx->pool);
    if (s) {
        kvlm_context_free(ctx);
        return s;
    }
    ctx->tp = kvlm_threadpool_create(p.n_threads);
    if (!ctx->tp) {
        kvlm_context_free(ctx);
        return kvlm_fail(KVLM_ERR_NOMEM, "cannot create %d threads", p.n_threads);
    }

    /* Scratch arena. */
    size_t nbt = (size_t)p.n_batch, E = (size_t)in->n_embd, F = (size_t)in->n_ff;
    size_t QD = (size_t)in->n_heads * (size_t)in->head_dim, KD = (size_t)in->n_kv_heads * (size_t)in->head_dim;
    size_t mm = 0;
    for (int l = 0; l < in->n_layers; l++) {
        const kvlm_layer *L = &model->layers[l];
        const kvlm_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
            if (!ws[i]->data) continue;
            size_t b = kvlm_matmul_scratch_bytes(ws[i], (int64_t)nbt);
            if (b > mm) mm = b;
        }
    }
    size_t bo = kvlm_matmul_scratch_bytes(&model->output, (int64_t)nbt);
    if (bo > mm) mm = bo;
    kvlm_dtype act = kvlm_dtype_traits_get(p.kv_type)->act_type;
    size_t qact = align64(kvlm_dtype_row_bytes(act, in->head_dim) + 64);
    /* attention keeps a score row and a quantized query per head of a KV
     * group, for each token of a tile (forward.c) */
    size_t att_rows = (size_t)(in->n_heads / in->n_kv_heads) * KVLM_ATTN_TOKENS;
    size_t srow = align64((size_t)p.n_ctx * 4 + 64);
    size_t sizes[] = {
        nbt * E * 4, nbt * E * 4, nbt * QD * 4, nbt * KD * 4, nbt * KD * 4,
        in->arch == KVLM_ARCH_GPT2 ? nbt * 3 * E * 4 : 0, nbt * QD * 4, nbt * F * 4, nbt * F * 4,
        mm, (size_t)p.n_threads * att_rows * srow, (size_t)p.n_threads * att_rows * qact,
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += align64(sizes[i]);
    if (posix_memalign(&ctx->arena, 64, total) != 0) {
        ctx->arena = NULL;
        kvlm_context_free(ctx);
        return kvlm_fail(KVLM_ERR_NOMEM, "cannot allocate %zu bytes of scratch", total);
    }
    memset(ctx->arena, 0, total);
    char *a = ctx->arena;
    void *ptrs[12];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        ptrs[i] = sizes[i] ? a : NULL;
        a += align64(sizes[i]);
    }
    ctx->x = ptrs[0];
    ctx->xn = ptrs[1];
    ctx->q = ptrs[2];
    ctx->k = ptrs[3];
    ctx->v = ptrs[4];
    ctx->qkv = ptrs[5];
    ctx->att = ptrs[6];
    ctx->h1 = ptrs[7];
    ctx->h2 = ptrs[8];
    ctx->mm = ptrs[9];
    ctx->mm_bytes = mm;
    ctx->ts = calloc((size_t)p.n_threads, sizeof *ctx->ts);
    if (!ctx->ts) {
        kvlm_context_free(ctx);
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    }
    for (int t = 0; t < p.n_threads; t++) {
        ctx->ts[t].scores = (float *)((char *)ptrs[10] + (size_t)t * att_rows * srow);
        ctx->ts[t].qact = (char *)ptrs[11] + (size_t)t * att_rows * qact;
        ctx->ts[t].scores_stride = srow / 4;
        ctx->ts[t].qact_stride = qact;
    }
    *out = ctx;
    return KVLM_OK;
}

/* ---- prefix cache: statistics, checks ----------------------------------- */

void kvlm_context_cache_stats(const kvlm_context *ctx, kvlm_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!ctx) return;
    const kvlm_block_pool *p = ctx->pool;
    out->lookups = ctx->lookups;
    out->hit_tokens = ctx->hit_tokens;
    out->miss_tokens = ctx->miss_tokens;
    out->evictions = p->evictions;
    out->cow_copies = p->cow_copies;
    out->blocks_total = p->n_blocks;
    out->blocks_free = p->n_free;
    out->blocks_cached = p->n_cached;
    out->blocks_used = p->n_blocks - p->n_free - p->n_cached;
    out->block_bytes = p->block_bytes;
    out->block_size = p->block_size;
}

void kvlm_context_cache_clear(kvlm_context *ctx)
{
    if (ctx) kvlm_block_pool_clear_cached(ctx->pool);
}

kvlm_status kvlm_context_check(const kvlm_context *ctx)
{
    if (!ctx) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_context_check: NULL context");
    const kvlm_block_pool *p = ctx->pool;
    kvlm_status st = kvlm_block_pool_check(p);
    if (st) return st;
    /* Every reference is a session's: recount them. */
    int32_t *refs = calloc((size_t)p->n_blocks, sizeof *refs);
    if (!refs) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory in the context check");
    int bs = p->block_size;
#define BAD(...) do { st = kvlm_fail(KVLM_ERR_INTERNAL, __VA_ARGS__); goto out; } while (0)
    for (const kvlm_session *s = ctx->sessions; s; s = s->next) {
        if (s->n_tokens < 0 || s->n_tokens > ctx->p.n_ctx) BAD("session holds %d tokens", s->n_tokens);
        if (s->n_blocks != (s->n_tokens + bs - 1) / bs)
            BAD("session of %d tokens has %d blocks", s->n_tokens, s->n_blocks);
        if (s->n_pub < 0 || s->n_pub > s->n_tokens / bs)
            BAD("session of %d tokens claims %d published blocks", s->n_tokens, s->n_pub);
        for (int i = 0; i < s->n_blocks; i++) {
            int32_t b = s->blocks[i];
            if (b < 0 || b >= p->n_blocks) BAD("session block %d is id %d", i, b);
            refs[b]++;
            if (i < s->n_pub) {
                const kvlm_block_meta *m = &p->meta[b];
                if (!m->keyed) BAD("session block %d (id %d) should be published", i, b);
                if (m->parent != (i ? s->blocks[i - 1] : -1)) BAD("published block %d (id %d) has parent %d", i, b, m->parent);
                if (memcmp(p->tokens + (size_t)b * (size_t)bs, s->tokens + (size_t)i * (size_t)bs,
                           (size_t)bs * sizeof(int32_t)) != 0)
                    BAD("published block %d (id %d) holds other tokens than its session", i, b);
                if (memcmp(m->ns, s->ns_digest, 32) != 0) BAD("published block %d (id %d) is in another namespace", i, b);
            }
        }
    }
    for (int b = 0; b < p->n_blocks; b++)
        if (refs[b] != p->ref[b]) BAD("block %d has ref %d but sessions hold %d references", b, p->ref[b], refs[b]);
#undef BAD
out:
    free(refs);
    return st;
}

void kvlm_context_debug_check(const kvlm_context *ctx)
{
#ifndef NDEBUG
    if (ctx && kvlm_context_check(ctx) != KVLM_OK) {
        fprintf(stderr, "kvlm: internal KV cache invariant broken: %s\n", kvlm_last_error());
        abort();
    }
#else
    (void)ctx;
#endif
}
