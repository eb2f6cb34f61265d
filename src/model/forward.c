/*
 * forward.c - the stages every architecture shares: KV stores through the
 * block table, RoPE, causal attention over cached K/V, the residual add and
 * the logits head; plus kvlm_forward(), which validates a batch and runs
 * the architecture's body.
 *
 * Bit-exactness: every stage computes each output row from its own inputs
 * only, in a fixed order:
 *   - attention for (token i, head h) reduces over keys 0..pos[i] in
 *     position order: scores via vec_dot, ops->softmax over the row (its
 *     own fixed order for a row of that length), then V rows accumulated
 *     with vec_mad in position order. Nothing
 *     depends on how many tokens the batch holds or which thread runs it;
 *   - work is split between threads by whole rows / (token tile, KV head)
 *     items; which thread runs an item, and which tokens share its tile,
 *     never matters (scratch is per thread; see attn_fn).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "engine/context.h"
#include "model/forward.h"

/* ---- KV store ------------------------------------------------------------ */

typedef struct store_task {
    kvlm_context *ctx;
    const kvlm_fwd_batch *b;
    int l;
    const float *k, *v;
    int64_t ldk, ldv;
} store_task;

static void store_fn(void *arg, int ith, int nth)
{
    store_task *t = arg;
    const kvlm_block_pool *p = t->ctx->pool;
    const kvlm_kernel_ops *ops = t->ctx->ops;
    int hd = p->head_dim, nkv = p->n_kv_heads;
    long lo, hi;
    kvlm_split((long)t->b->n * nkv, ith, nth, &lo, &hi);
    for (long it = lo; it < hi; it++) {
        int i = (int)(it / nkv), h = (int)(it % nkv);
        int pos = t->b->pos[i];
        int32_t blk = t->b->tables[i][pos / p->block_size];
        int slot = pos % p->block_size;
        ops->quantize_row(p->kv_type, t->k + i * t->ldk + h * hd, kvlm_kv_row(p, blk, t->l, 0, h, slot), hd);
        ops->quantize_row(p->kv_type, t->v + i * t->ldv + h * hd, kvlm_kv_row(p, blk, t->l, 1, h, slot), hd);
    }
}

void kvlm_fwd_store_kv(kvlm_context *ctx, const kvlm_fwd_batch *b, int l, const float *k,
                       int64_t ldk, const float *v, int64_t ldv)
{
    store_task t = {ctx, b, l, k, v, ldk, ldv};
    kvlm_threadpool_run(ctx->tp, store_fn, &t);
}

/* ---- RoPE ---------------------------------------------------------------- */

typedef struct rope_task {
    kvlm_context *ctx;
    const kvlm_fwd_batch *b;
    float *q, *k;
    int64_t ldq, ldk;
} rope_task;

static void rope_head(kvlm_rope_style style, int hd, const float *cs, const float *sn, float *x)
{
    int half = hd / 2;
    if (style == KVLM_ROPE_NORM) {
        for (int i = 0; i < half; i++) {
            float x0 = x[2 * i], x1 = x[2 * i + 1];
            x[2 * i] = x0 * cs[i] - x1 * sn[i];
            x[2 * i + 1] = x1 * cs[i] + x0 * sn[i];
        }
    } else {
        for (int i = 0; i < half; i++) {
            float x0 = x[i], x1 = x[i + half];
            x[i] = x0 * cs[i] - x1 * sn[i];
            x[i + half] = x1 * cs[i] + x0 * sn[i];
        }
    }
}

static void rope_fn(void *arg, int ith, int nth)
{
    rope_task *t = arg;
    const kvlm_model *m = t->ctx->model;
    int hd = m->info.head_dim, half = hd / 2;
    float cs[512], sn[512]; /* head_dim <= 1024 (checked at load) */
    long lo, hi;
    kvlm_split(t->b->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) {
        float pos = (float)t->b->pos[i];
        for (int j = 0; j < half; j++) {
            /* As Hugging Face: the angle is rounded to float32 first. */
            float ang = pos * m->rope_freqs[j];
            cs[j] = cosf(ang);
            sn[j] = sinf(ang);
        }
        for (int h = 0; h < m->info.n_heads; h++) rope_head(m->rope_style, hd, cs, sn, t->q + i * t->ldq + h * hd);
        for (int h = 0; h < m->info.n_kv_heads; h++) rope_head(m->rope_style, hd, cs, sn, t->k + i * t->ldk + h * hd);
    }
}

void kvlm_fwd_rope(kvlm_context *ctx, const kvlm_fwd_batch *b, float *q, int64_t ldq, float *k,
                   int64_t ldk)
{
    rope_task t = {ctx, b, q, k, ldq, ldk};
    kvlm_threadpool_run(ctx->tp, rope_fn, &t);
}

/* ---- attention ----------------------------------------------------------- */

typedef struct attn_task {
    kvlm_context *ctx;
    const kvlm_fwd_batch *b;
    int l;
    const float *q;
    float *out;
    int64_t ldq, ldo;
    atomic_long next;         /* next unclaimed (token tile, KV head) item */
} attn_task;

/* ops->dot_rows / mad_rows over rows of one block, or the one-row kernels:
 * scores of nx query rows (xs bytes apart) into out rows ldo floats apart */
static void dot_seg(const kvlm_kernel_ops *ops, kvlm_dtype kt, int hd, const uint8_t *rows, size_t stride,
                    int nr, const uint8_t *x, size_t xs, int nx, float *out, size_t ldo)
{
    if (ops->dot_rows) {
        ops->dot_rows(kt, hd, rows, stride, nr, x, xs, nx, out, ldo);
        return;
    }
    for (int q = 0; q < nx; q++)
        for (int j = 0; j < nr; j++)
            out[q * ldo + j] = ops->vec_dot(kt, hd, rows + (size_t)j * stride, x + q * xs);
}

/* the outputs y + q*ldy of na query rows from their weights a + q*as */
static void mad_seg(const kvlm_kernel_ops *ops, kvlm_dtype kt, int hd, const uint8_t *rows, size_t stride,
                    int nr, const float *a, size_t as, int na, float *y, size_t ldy)
{
    if (ops->mad_rows) {
        ops->mad_rows(kt, hd, rows, stride, nr, a, as, na, y, ldy);
        return;
    }
    for (int q = 0; q < na; q++)
        for (int j = 0; j < nr; j++)
            ops->vec_mad(kt, hd, rows + (size_t)j * stride, a[q * as + j], y + q * ldy);
}

/* Prefetch distance of the attention loops, in KV blocks. One head's rows
 * of a block are block_size * row_bytes contiguous bytes (4 KB for 16 f32
 * rows of 64), but consecutive blocks are a whole block apart (all layers'
 * K and V), so the hardware prefetchers stop at every segment and a long
 * context was read at a fraction of the bandwidth. */
#define ATTN_PREFETCH_BLOCKS 2

/* Asks for head h's rows (layer l, kind 0 = K, 1 = V) of the table's
 * block blk, if blk <= last: block_size rows, a cache line at a time.
 * always_inline: GCC 12 split a plain static inline copy into a part
 * holding only the prefetches, judged that part free of side effects and
 * deleted its calls (no prefetch was left in the binary). */
static inline __attribute__((always_inline)) void prefetch_seg(const kvlm_block_pool *p, const int32_t *table,
                                                               int l, int kind, int h, int blk, int last)
{
    if (blk > last)
        return;
    const uint8_t *r = kvlm_kv_row(p, table[blk], l, kind, h, 0);
    size_t bytes = (size_t)p->block_size * p->row_bytes;
    for (size_t o = 0; o < bytes; o += 64)
        __builtin_prefetch(r + o, 0, 3);
}

/* Items are (tile, KV head): a tile is up to KVLM_ATTN_TOKENS consecutive
 * batch rows, claimed one item at a time from t->next (the cost of an item
 * grows with its positions, so a static split would leave one thread with
 * most of a causal prefill). The rows of a tile that share a block table
 * (one sequence) go through the KV blocks together: a block's K (then V)
 * rows of the head are read from memory once and serve every token of the
 * run and every query head of the group (grouped-query attention) while
 * they are in L1. Within a block the rows of one head are consecutive, so
 * scores and V accumulation go segment by segment through dot_rows /
 * mad_rows, which give the bits of vec_dot / vec_mad per row. For each
 * (token, head) the segments are its own positions [start, pos] split at
 * block boundaries, in position order, whatever the other tokens of the
 * tile: the operations and their order are those of the token alone. */
typedef struct attn_run {
    int n;                     /* tokens */
    int pos[KVLM_ATTN_TOKENS], start[KVLM_ATTN_TOKENS];
    int lo, hi;                /* min start, max pos */
} attn_run;

/* rows [lo, hi] of block blk that position range [start, pos] covers */
static inline bool seg_of(int blk, int bs, int start, int pos, int *lo, int *hi)
{
    int b0 = blk * bs;
    *lo = start > b0 ? start : b0;
    *hi = pos < b0 + bs - 1 ? pos : b0 + bs - 1;
    return *lo <= *hi;
}

/* What one pass over a run's KV blocks works on: token k of the run, query
 * head g of the group has its query row at qact + (k*group + g)*qs, its
 * score row at scores + (k*group + g)*ss (indexed by position) and its
 * output at out + k*ldo + g*hd. */
typedef struct attn_item {
    const kvlm_block_pool *p;
    const kvlm_kernel_ops *ops;
    const int32_t *table;
    int l, kvh, group, hd;
    const uint8_t *qact;
    size_t qs;
    float *scores;
    size_t ss;
    float *out;
    int64_t ldo;
} attn_item;

/* kind 0: the scores of every (token, head) of the run against K; kind 1:
 * their outputs accumulated from V with the softmaxed scores. Block by
 * block, each token's own segment of the block. */
static void kv_pass(const attn_item *it, const attn_run *r, int kind)
{
    const kvlm_block_pool *p = it->p;
    int bs = p->block_size, group = it->group, hd = it->hd;
    size_t rb = p->row_bytes;
    for (int blk = r->lo / bs; blk <= r->hi / bs; blk++) {
        const uint8_t *rows = kvlm_kv_row(p, it->table[blk], it->l, kind, it->kvh, 0);
        prefetch_seg(p, it->table, it->l, kind, it->kvh, blk + ATTN_PREFETCH_BLOCKS, r->hi / bs);
        for (int k = 0; k < r->n; k++) {
            int lo, hi;
            if (!seg_of(blk, bs, r->start[k], r->pos[k], &lo, &hi))
                continue;
            const uint8_t *seg = rows + (size_t)(lo - blk * bs) * rb;
            float *sc = it->scores + (size_t)(k * group) * it->ss + lo;
            if (kind == 0) {
                dot_seg(it->ops, p->kv_type, hd, seg, rb, hi - lo + 1, it->qact + (size_t)(k * group) * it->qs,
                        it->qs, group, sc, it->ss);
                continue;
            }
            mad_seg(it->ops, p->kv_type, hd, seg, rb, hi - lo + 1, sc, it->ss, group, it->out + k * it->ldo,
                    (size_t)hd);
        }
    }
}

static void attn_fn(void *arg, int ith, int nth)
{
    (void)nth;
    attn_task *t = arg;
    kvlm_context *ctx = t->ctx;
    const kvlm_block_pool *p = ctx->pool;
    const kvlm_kernel_ops *ops = ctx->ops;
    const kvlm_model *m = ctx->model;
    int hd = m->info.head_dim, nh = m->info.n_heads, nkv = m->info.n_kv_heads, group = nh / nkv;
    kvlm_dtype act = kvlm_dtype_traits_get(p->kv_type)->act_type;
    float *scores0 = ctx->ts[ith].scores;
    uint8_t *qact0 = ctx->ts[ith].qact;
    const size_t ss = ctx->ts[ith].scores_stride, qs = ctx->ts[ith].qact_stride;
    float scale = 1.0f / sqrtf((float)hd);
    const int n = t->b->n;
    long n_items = (long)((n + KVLM_ATTN_TOKENS - 1) / KVLM_ATTN_TOKENS) * nkv;
    for (;;) {
        long it = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (it >= n_items)
            break;
        int kvh = (int)(it % nkv);
        int i0 = (int)(it / nkv) * KVLM_ATTN_TOKENS, i1 = i0 + KVLM_ATTN_TOKENS < n ? i0 + KVLM_ATTN_TOKENS : n;
        for (int a = i0; a < i1;) {
            /* the run [a, e) of rows with a's block table */
            const int32_t *table = t->b->tables[a];
            int e = a + 1;
            while (e < i1 && t->b->tables[e] == table)
                e++;
            attn_run r = {.n = e - a, .lo = INT32_MAX, .hi = -1};
            for (int k = 0; k < r.n; k++) {
                int pos = t->b->pos[a + k], start = 0;
                if (m->sliding_window > 0 && pos >= m->sliding_window)
                    start = pos - m->sliding_window + 1;
                r.pos[k] = pos;
                r.start[k] = start;
                r.lo = start < r.lo ? start : r.lo;
                r.hi = pos > r.hi ? pos : r.hi;
                for (int g = 0; g < group; g++)
                    ops->quantize_row(act, t->q + (a + k) * t->ldq + (kvh * group + g) * hd,
                                      qact0 + (size_t)(k * group + g) * qs, hd);
            }
            attn_item item = {.p = p, .ops = ops, .table = table, .l = t->l, .kvh = kvh, .group = group, .hd = hd,
                              .qact = qact0, .qs = qs, .scores = scores0, .ss = ss,
                              .out = t->out + a * t->ldo + kvh * group * hd, .ldo = t->ldo};
            kv_pass(&item, &r, 0);
            for (int k = 0; k < r.n; k++)
                for (int g = 0; g < group; g++) {
                    ops->softmax(r.pos[k] + 1 - r.start[k], scores0 + (size_t)(k * group + g) * ss + r.start[k], scale);
                    memset(item.out + k * t->ldo + g * hd, 0, (size_t)hd * sizeof(float));
                }
            /* V likewise: each head's output accumulates its rows in
             * position order, block after block */
            kv_pass(&item, &r, 1);
            a = e;
        }
    }
}

void kvlm_fwd_attention(kvlm_context *ctx, const kvlm_fwd_batch *b, int l, const float *q,
                        int64_t ldq, float *out, int64_t ldo)
{
    attn_task t = {.ctx = ctx, .b = b, .l = l, .q = q, .out = out, .ldq = ldq, .ldo = ldo};
    atomic_init(&t.next, 0);
    kvlm_threadpool_run(ctx->tp, attn_fn, &t);
}

/* ---- residual, logits ---------------------------------------------------- */

typedef struct rows_task {
    kvlm_context *ctx;
    int n;
    float *x;
    const float *y;
    const kvlm_fwd_batch *b;
} rows_task;

static void residual_fn(void *arg, int ith, int nth)
{
    rows_task *t = arg;
    int e = t->ctx->model->info.n_embd;
    long lo, hi;
    kvlm_split(t->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) t->ctx->ops->add(e, t->y + i * e, t->x + i * e);
}

void kvlm_fwd_residual(kvlm_context *ctx, int n, float *x, const float *y)
{
    rows_task t = {ctx, n, x, y, NULL};
    kvlm_threadpool_run(ctx->tp, residual_fn, &t);
}

static void final_norm_fn(void *arg, int ith, int nth)
{
    rows_task *t = arg;
    const kvlm_model *m = t->ctx->model;
    int e = m->info.n_embd;
    long lo, hi;
    kvlm_split(t->b->n_out, ith, nth, &lo, &hi);
    for (long j = lo; j < hi; j++) {
        const float *src = t->y + (int64_t)t->b->out_rows[j] * e;
        float *dst = t->x + j * e;
        if (m->info.arch == KVLM_ARCH_GPT2)
            t->ctx->ops->layernorm(e, src, m->out_norm, m->out_norm_b, m->info.norm_eps, dst);
        else
            t->ctx->ops->rmsnorm(e, src, m->out_norm, m->info.norm_eps, dst);
    }
}

void kvlm_fwd_logits(kvlm_context *ctx, const kvlm_fwd_batch *b, const float *x)
{
    if (b->n_out == 0) return;
    /* Normed rows go to xn (n_out <= n <= n_batch rows). */
    rows_task t = {ctx, 0, ctx->xn, x, b};
    kvlm_threadpool_run(ctx->tp, final_norm_fn, &t);
    const kvlm_model *m = ctx->model;
    kvlm_matmul(ctx->tp, ctx->ops, &m->output, NULL, ctx->xn, m->info.n_embd, b->n_out,
                b->logits, m->info.n_vocab, ctx->mm);
}

/* ---- entry point --------------------------------------------------------- */

kvlm_status kvlm_forward(kvlm_context *ctx, const kvlm_fwd_batch *b)
{
    const kvlm_model *m = ctx->model;
    if (b->n < 1 || b->n > ctx->p.n_batch)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "batch of %d tokens (allowed 1..%d)", b->n, ctx->p.n_batch);
    if (b->n_out < 0 || b->n_out > b->n || (b->n_out > 0 && !b->logits))
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "invalid logits request");
    for (int i = 0; i < b->n; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= m->info.n_vocab)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "token %d at index %d is out of range [0, %d)",
                             b->tokens[i], i, m->info.n_vocab);
        if (b->pos[i] < 0 || b->pos[i] >= ctx->p.n_ctx)
            return kvlm_fail(KVLM_ERR_CONTEXT_FULL, "position %d is outside the context of %d tokens",
                             b->pos[i], ctx->p.n_ctx);
        if (m->info.arch == KVLM_ARCH_GPT2 && b->pos[i] >= m->info.n_ctx_train)
            return kvlm_fail(KVLM_ERR_CONTEXT_FULL, "position %d is past GPT-2's %d learned positions",
                             b->pos[i], m->info.n_ctx_train);
    }
    for (int j = 0; j < b->n_out; j++)
        if (b->out_rows[j] < 0 || b->out_rows[j] >= b->n)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "logits row %d is not in the batch", b->out_rows[j]);
    if (m->info.arch == KVLM_ARCH_GPT2)
        kvlm_forward_gpt2(ctx, b);
    else
        kvlm_forward_llama(ctx, b);
    return KVLM_OK;
}
