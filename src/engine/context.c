/*
 * context.c - kvlm_context (kernels, threads, KV block pool, scratch) and
 * kvlm_session (one sequence: its tokens and block table).
 *
 * kvlm_session_eval() is all-or-nothing: it reserves every block the new
 * tokens need before running any forward pass, so KVLM_ERR_KV_FULL and
 * KVLM_ERR_CONTEXT_FULL leave the session exactly as it was. Prompts longer
 * than n_batch run as consecutive chunks; by the bit-exactness rule the
 * logits do not depend on where the chunks fall.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    return p;
}

kvlm_context_params kvlm_context_get_params(const kvlm_context *ctx) { return ctx->p; }

void kvlm_context_free(kvlm_context *ctx)
{
    if (!ctx) return;
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
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        p.n_threads = c > 0 ? (int)(c > 256 ? 256 : c) : 1;
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
    size_t row = kvlm_dtype_row_bytes(p.kv_type, in->head_dim);
    if (row == 0)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "KV type %s cannot hold head_dim %d",
                         kvlm_dtype_name(p.kv_type) ? kvlm_dtype_name(p.kv_type) : "?", in->head_dim);
    uint64_t block_bytes = 2ull * (uint64_t)in->n_layers * (uint64_t)in->n_kv_heads *
                           (uint64_t)p.kv_block_size * row;
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
    size_t sizes[] = {
        nbt * E * 4, nbt * E * 4, nbt * QD * 4, nbt * KD * 4, nbt * KD * 4,
        in->arch == KVLM_ARCH_GPT2 ? nbt * 3 * E * 4 : 0, nbt * QD * 4, nbt * F * 4, nbt * F * 4,
        mm, (size_t)p.n_threads * align64((size_t)p.n_ctx * 4 + 64), (size_t)p.n_threads * qact,
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
        ctx->ts[t].scores = (float *)((char *)ptrs[10] + (size_t)t * align64((size_t)p.n_ctx * 4 + 64));
        ctx->ts[t].qact = (char *)ptrs[11] + (size_t)t * qact;
    }
    *out = ctx;
    return KVLM_OK;
}

/* ---- sessions ------------------------------------------------------------ */

kvlm_status kvlm_session_create(kvlm_context *ctx, kvlm_session **out)
{
    if (!ctx || !out) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_create: NULL argument");
    *out = NULL;
    kvlm_session *s = calloc(1, sizeof *s);
    if (!s) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    s->ctx = ctx;
    int bs = ctx->p.kv_block_size;
    s->max_blocks = (ctx->p.n_ctx + bs - 1) / bs;
    s->tokens = malloc((size_t)ctx->p.n_ctx * sizeof *s->tokens);
    s->blocks = malloc((size_t)s->max_blocks * sizeof *s->blocks);
    s->pos = malloc((size_t)ctx->p.n_batch * sizeof *s->pos);
    s->tables = malloc((size_t)ctx->p.n_batch * sizeof *s->tables);
    s->out_rows = malloc((size_t)ctx->p.n_batch * sizeof *s->out_rows);
    if (!s->tokens || !s->blocks || !s->pos || !s->tables || !s->out_rows) {
        kvlm_session_free(s);
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return KVLM_OK;
}

void kvlm_session_free(kvlm_session *s)
{
    if (!s) return;
    /* Tail first, so a later LRU frees the least shared blocks first. */
    for (int i = s->n_blocks - 1; i >= 0; i--) kvlm_block_pool_release(s->ctx->pool, s->blocks[i]);
    free(s->tokens);
    free(s->blocks);
    free(s->pos);
    free(s->tables);
    free(s->out_rows);
    free(s);
}

int kvlm_session_n_tokens(const kvlm_session *s) { return s ? s->n_tokens : 0; }

kvlm_status kvlm_session_truncate(kvlm_session *s, int n)
{
    if (!s) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_truncate: NULL session");
    if (n < 0 || n > s->n_tokens)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "cannot truncate a session of %d tokens to %d",
                         s->n_tokens, n);
    int bs = s->ctx->p.kv_block_size;
    int keep = (n + bs - 1) / bs;
    while (s->n_blocks > keep) kvlm_block_pool_release(s->ctx->pool, s->blocks[--s->n_blocks]);
    s->n_tokens = n;
    return KVLM_OK;
}

kvlm_status kvlm_session_eval(kvlm_session *s, const int32_t *tokens, int n,
                              kvlm_logits_mode mode, float *logits)
{
    if (!s || (n > 0 && !tokens))
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_eval: NULL argument");
    if (n <= 0) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_eval: no tokens (n = %d)", n);
    if (mode != KVLM_LOGITS_NONE && mode != KVLM_LOGITS_LAST && mode != KVLM_LOGITS_ALL)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_eval: invalid logits mode %d", (int)mode);
    if (mode != KVLM_LOGITS_NONE && !logits)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_eval: logits buffer is NULL");
    kvlm_context *ctx = s->ctx;
    const kvlm_model *m = ctx->model;
    if (n > ctx->p.n_ctx - s->n_tokens)
        return kvlm_fail(KVLM_ERR_CONTEXT_FULL, "context full: %d tokens + %d new exceed n_ctx %d",
                         s->n_tokens, n, ctx->p.n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->info.n_vocab)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "token %d at index %d is out of range [0, %d)",
                             tokens[i], i, m->info.n_vocab);
    /* Reserve blocks for every new position up front. */
    int bs = ctx->p.kv_block_size;
    int need = (s->n_tokens + n + bs - 1) / bs;
    int old_blocks = s->n_blocks;
    while (s->n_blocks < need) {
        int32_t id;
        kvlm_status st = kvlm_block_pool_alloc(ctx->pool, &id);
        if (st) {
            while (s->n_blocks > old_blocks) kvlm_block_pool_release(ctx->pool, s->blocks[--s->n_blocks]);
            return st;
        }
        s->blocks[s->n_blocks++] = id;
    }
    int V = m->info.n_vocab;
    for (int off = 0; off < n; off += ctx->p.n_batch) {
        int c = n - off < ctx->p.n_batch ? n - off : ctx->p.n_batch;
        for (int i = 0; i < c; i++) {
            s->pos[i] = s->n_tokens + off + i;
            s->tables[i] = s->blocks;
        }
        kvlm_fwd_batch b = {c, tokens + off, s->pos, s->tables, 0, s->out_rows, NULL};
        if (mode == KVLM_LOGITS_ALL) {
            for (int i = 0; i < c; i++) s->out_rows[i] = i;
            b.n_out = c;
            b.logits = logits + (size_t)off * (size_t)V;
        } else if (mode == KVLM_LOGITS_LAST && off + c == n) {
            s->out_rows[0] = c - 1;
            b.n_out = 1;
            b.logits = logits;
        }
        kvlm_status st = kvlm_forward(ctx, &b);
        if (st) {
            /* Roll back: K/V written by earlier chunks is simply dropped. */
            while (s->n_blocks > old_blocks) kvlm_block_pool_release(ctx->pool, s->blocks[--s->n_blocks]);
            return st;
        }
    }
    memcpy(s->tokens + s->n_tokens, tokens, (size_t)n * sizeof *tokens);
    s->n_tokens += n;
    return KVLM_OK;
}

kvlm_status kvlm_session_eval_batch(kvlm_session *const *sessions, const int32_t *tokens, int n,
                                    float *logits)
{
    if (!sessions || !tokens || n <= 0)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_eval_batch: no sessions");
    kvlm_context *ctx = sessions[0] ? sessions[0]->ctx : NULL;
    if (!ctx) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_eval_batch: NULL session");
    if (n > ctx->p.n_batch)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "%d sessions exceed n_batch %d", n, ctx->p.n_batch);
    const kvlm_model *m = ctx->model;
    int bs = ctx->p.kv_block_size;
    for (int i = 0; i < n; i++) {
        kvlm_session *s = sessions[i];
        if (!s || s->ctx != ctx)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "session %d is NULL or from another context", i);
        for (int j = 0; j < i; j++)
            if (sessions[j] == s) return kvlm_fail(KVLM_ERR_INVALID_ARG, "session %d appears twice", i);
        if (tokens[i] < 0 || tokens[i] >= m->info.n_vocab)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "token %d at index %d is out of range [0, %d)",
                             tokens[i], i, m->info.n_vocab);
        if (s->n_tokens >= ctx->p.n_ctx)
            return kvlm_fail(KVLM_ERR_CONTEXT_FULL, "context full: session %d holds n_ctx %d tokens",
                             i, ctx->p.n_ctx);
    }
    /* Reserve: a session at a block boundary needs one new block. */
    int i;
    for (i = 0; i < n; i++) {
        kvlm_session *s = sessions[i];
        if (s->n_tokens < s->n_blocks * bs) continue;
        int32_t id;
        kvlm_status st = kvlm_block_pool_alloc(ctx->pool, &id);
        if (st) break;
        s->blocks[s->n_blocks++] = id;
    }
    if (i < n) {
        for (int j = 0; j < i; j++) {
            kvlm_session *s = sessions[j];
            if (s->n_blocks > (s->n_tokens + bs - 1) / bs)
                kvlm_block_pool_release(ctx->pool, s->blocks[--s->n_blocks]);
        }
        return kvlm_fail(KVLM_ERR_KV_FULL, "KV cache full: %d sessions need a new block, %d free",
                         n, ctx->pool->n_free);
    }
    kvlm_session *s0 = sessions[0];
    for (i = 0; i < n; i++) {
        s0->pos[i] = sessions[i]->n_tokens;
        s0->tables[i] = sessions[i]->blocks;
        s0->out_rows[i] = i;
    }
    kvlm_fwd_batch b = {n, tokens, s0->pos, s0->tables, logits ? n : 0, s0->out_rows, logits};
    kvlm_status st = kvlm_forward(ctx, &b);
    for (i = 0; i < n; i++) {
        kvlm_session *s = sessions[i];
        if (st) {
            if (s->n_blocks > (s->n_tokens + bs - 1) / bs)
                kvlm_block_pool_release(ctx->pool, s->blocks[--s->n_blocks]);
            continue;
        }
        s->tokens[s->n_tokens++] = tokens[i];
    }
    return st;
}

void kvlm_context_cache_stats(const kvlm_context *ctx, kvlm_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!ctx) return;
    const kvlm_block_pool *p = ctx->pool;
    out->blocks_total = p->n_blocks;
    out->blocks_free = p->n_free;
    out->blocks_used = p->n_blocks - p->n_free;
    out->block_bytes = p->block_bytes;
    out->block_size = p->block_size;
}
