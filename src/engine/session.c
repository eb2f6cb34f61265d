/*
 * session.c - kvlm_session: one token sequence, its block table, and its
 * use of the prefix cache (lookup at eval, publish after, copy-on-write).
 *
 * kvlm_session_eval(tokens):
 *   1. match: when the session sits on a block boundary with its whole
 *      chain published, each full block of the new tokens is looked up
 *      (key from the parent's key, then the stored tokens, namespace and
 *      parent compared) and attached by reference until the first miss;
 *      when every new token is matched and logits are wanted, the last
 *      token is given back and computed below (its block is copied first);
 *   2. reserve: the partial tail block is copied if shared or published,
 *      then every further block is allocated - before any forward pass;
 *   3. compute the rest in forward passes of at most n_batch tokens;
 *   4. publish each newly full block (or switch to an identical published
 *      one), stopping at a key collision.
 * Errors in 1-3 (KVLM_ERR_KV_FULL, a failing forward) roll back to the
 * session's previous tokens; a copied tail block is kept in place of the
 * original (same contents at every held position). Publishing never fails
 * the call: a block that cannot be keyed simply stays private.
 * By the bit-exactness rule, logits from attached blocks equal a cold run's.
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "engine/context.h"
#include "model/forward.h"

#define KVLM_MAX_NAMESPACE 256

/* ---- lifetime -------------------------------------------------------- */

kvlm_session_params kvlm_session_default_params(void)
{
    kvlm_session_params p = {NULL, true};
    return p;
}

static void link_session(kvlm_context *ctx, kvlm_session *s)
{
    s->prev = NULL;
    s->next = ctx->sessions;
    if (ctx->sessions) ctx->sessions->prev = s;
    ctx->sessions = s;
}

static kvlm_status session_new(kvlm_context *ctx, const char *ns, size_t ns_len, bool use_cache,
                               kvlm_session **out)
{
    *out = NULL;
    kvlm_session *s = calloc(1, sizeof *s);
    if (!s) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    s->ctx = ctx;
    int bs = ctx->p.kv_block_size;
    s->max_blocks = (ctx->p.n_ctx + bs - 1) / bs;
    s->use_cache = use_cache && ctx->p.prefix_cache;
    s->ns = malloc(ns_len + 1);
    s->tokens = malloc((size_t)ctx->p.n_ctx * sizeof *s->tokens);
    s->blocks = malloc((size_t)s->max_blocks * sizeof *s->blocks);
    s->pos = malloc((size_t)ctx->p.n_batch * sizeof *s->pos);
    s->tables = malloc((size_t)ctx->p.n_batch * sizeof *s->tables);
    s->out_rows = malloc((size_t)ctx->p.n_batch * sizeof *s->out_rows);
    if (!s->ns || !s->tokens || !s->blocks || !s->pos || !s->tables || !s->out_rows) {
        free(s->ns), free(s->tokens), free(s->blocks), free(s->pos), free(s->tables), free(s->out_rows);
        free(s);
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    }
    if (ns_len) memcpy(s->ns, ns, ns_len);
    s->ns[ns_len] = 0;
    s->ns_len = ns_len;
    kvlm_status st = kvlm_namespace_digest(ns, ns_len, s->ns_digest);
    if (st) {
        s->ctx = NULL;
        kvlm_session_free(s);
        return st;
    }
    link_session(ctx, s);
    *out = s;
    return KVLM_OK;
}

kvlm_status kvlm_session_create_ex(kvlm_context *ctx, const kvlm_session_params *params, kvlm_session **out)
{
    if (!ctx || !out) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_create: NULL argument");
    *out = NULL;
    kvlm_session_params p = params ? *params : kvlm_session_default_params();
    const char *ns = p.cache_namespace ? p.cache_namespace : "";
    size_t len = strnlen(ns, KVLM_MAX_NAMESPACE + 1);
    if (len > KVLM_MAX_NAMESPACE)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "cache namespace is longer than %d bytes", KVLM_MAX_NAMESPACE);
    return session_new(ctx, ns, len, p.prefix_cache, out);
}

kvlm_status kvlm_session_create(kvlm_context *ctx, kvlm_session **out)
{
    return kvlm_session_create_ex(ctx, NULL, out);
}

void kvlm_session_free(kvlm_session *s)
{
    if (!s) return;
    kvlm_context *ctx = s->ctx;
    if (ctx) {
        /* Tail first: the LRU list then evicts a sequence's tail before the
         * head blocks that other prompts are more likely to share. */
        for (int i = s->n_blocks - 1; i >= 0; i--) kvlm_block_pool_release(ctx->pool, s->blocks[i]);
        if (s->prev) s->prev->next = s->next;
        else ctx->sessions = s->next;
        if (s->next) s->next->prev = s->prev;
    }
    free(s->ns);
    free(s->tokens);
    free(s->blocks);
    free(s->pos);
    free(s->tables);
    free(s->out_rows);
    free(s);
    kvlm_context_debug_check(ctx);
}

int kvlm_session_n_tokens(const kvlm_session *s) { return s ? s->n_tokens : 0; }
int kvlm_session_cached_tokens(const kvlm_session *s) { return s ? s->last_cached : 0; }

static bool usable(const kvlm_session *s, const char *fn)
{
    if (!s) {
        kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: NULL session", fn);
        return false;
    }
    if (!s->ctx) {
        kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: the session's context was freed", fn);
        return false;
    }
    return true;
}

/* Drops blocks so that the session holds n tokens (n <= n_tokens). */
static void shrink(kvlm_session *s, int n)
{
    int bs = s->ctx->p.kv_block_size;
    int keep = (n + bs - 1) / bs;
    while (s->n_blocks > keep) kvlm_block_pool_release(s->ctx->pool, s->blocks[--s->n_blocks]);
    if (s->n_pub > n / bs) s->n_pub = n / bs;
    s->n_tokens = n;
}

kvlm_status kvlm_session_truncate(kvlm_session *s, int n)
{
    if (!usable(s, "kvlm_session_truncate")) return KVLM_ERR_INVALID_ARG;
    if (n < 0 || n > s->n_tokens)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "cannot truncate a session of %d tokens to %d",
                         s->n_tokens, n);
    shrink(s, n);
    s->last_cached = 0;
    kvlm_context_debug_check(s->ctx);
    return KVLM_OK;
}

kvlm_status kvlm_session_fork(const kvlm_session *s, kvlm_session **out)
{
    if (!out) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_fork: NULL argument");
    *out = NULL;
    if (!usable(s, "kvlm_session_fork")) return KVLM_ERR_INVALID_ARG;
    kvlm_session *c;
    kvlm_status st = session_new(s->ctx, s->ns, s->ns_len, s->use_cache, &c);
    if (st) return st;
    memcpy(c->tokens, s->tokens, (size_t)s->n_tokens * sizeof *s->tokens);
    memcpy(c->blocks, s->blocks, (size_t)s->n_blocks * sizeof *s->blocks);
    for (int i = 0; i < s->n_blocks; i++) kvlm_block_pool_retain(s->ctx->pool, s->blocks[i]);
    c->n_tokens = s->n_tokens;
    c->n_blocks = s->n_blocks;
    c->n_pub = s->n_pub;
    *out = c;
    kvlm_context_debug_check(s->ctx);
    return KVLM_OK;
}

/* ---- prefix cache ------------------------------------------------------ */

static kvlm_status block_key(const kvlm_session *s, int i, const int32_t *tokens, kvlm_block_key *out)
{
    const kvlm_block_pool *p = s->ctx->pool;
    const kvlm_block_key *parent = i > 0 ? &p->meta[s->blocks[i - 1]].key : NULL;
    return kvlm_block_key_compute(&s->ctx->scope, parent, tokens, s->ns, s->ns_len, out);
}

/* Attaches published blocks continuing the session with tokens[0, n);
 * returns how many tokens they cover (a multiple of the block size). */
static int match(kvlm_session *s, const int32_t *tokens, int n)
{
    kvlm_context *ctx = s->ctx;
    kvlm_block_pool *p = ctx->pool;
    int bs = p->block_size;
    if (!s->use_cache || s->n_tokens % bs != 0 || s->n_pub != s->n_tokens / bs || n < bs) return 0;
    ctx->lookups++;
    int matched = 0;
    while (n - matched >= bs) {
        const int32_t *t = tokens + matched;
        kvlm_block_key key;
        if (block_key(s, s->n_blocks, t, &key)) break;
        int32_t parent = s->n_blocks ? s->blocks[s->n_blocks - 1] : -1;
        int32_t id = kvlm_block_pool_lookup(p, &key, parent, t, s->ns_digest);
        if (id < 0) break;
        kvlm_block_pool_retain(p, id);
        s->blocks[s->n_blocks++] = id;
        memcpy(s->tokens + s->n_tokens, t, (size_t)bs * sizeof *t);
        s->n_tokens += bs;
        s->n_pub++;
        matched += bs;
    }
    return matched;
}

void kvlm_session_publish(kvlm_session *s)
{
    kvlm_context *ctx = s->ctx;
    kvlm_block_pool *p = ctx->pool;
    int bs = p->block_size;
    if (!s->use_cache) return;
    while (s->n_pub < s->n_tokens / bs) {
        int i = s->n_pub;
        int32_t id = s->blocks[i];
        const int32_t *t = s->tokens + (size_t)i * (size_t)bs;
        kvlm_block_key key;
        if (block_key(s, i, t, &key)) return;
        int32_t e = kvlm_block_pool_publish(p, id, &key, i ? s->blocks[i - 1] : -1, t, s->ns_digest);
        if (e < 0) return; /* collision: this block and its successors stay private */
        if (e != id) {     /* an identical block is published: share it */
            kvlm_block_pool_retain(p, e);
            kvlm_block_pool_release(p, id);
            s->blocks[i] = e;
        }
        s->n_pub++;
    }
}

/* Makes the block the session writes next (its partial tail) private:
 * a shared or published tail is replaced by a copy. */
static kvlm_status own_tail(kvlm_session *s)
{
    kvlm_block_pool *p = s->ctx->pool;
    int bs = p->block_size;
    if (s->n_tokens % bs == 0) return KVLM_OK;
    int32_t old = s->blocks[s->n_blocks - 1];
    if (p->ref[old] == 1 && !p->meta[old].keyed) return KVLM_OK;
    int32_t id;
    kvlm_status st = kvlm_block_pool_alloc(p, &id);
    if (st) return st;
    kvlm_block_pool_copy(p, id, old);
    kvlm_block_pool_release(p, old);
    s->blocks[s->n_blocks - 1] = id;
    return KVLM_OK;
}

/* ---- evaluation --------------------------------------------------------- */

static kvlm_status check_tokens(const kvlm_context *ctx, const int32_t *tokens, int n)
{
    int V = ctx->model->info.n_vocab;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "token %d at index %d is out of range [0, %d)",
                             tokens[i], i, V);
    return KVLM_OK;
}

kvlm_status kvlm_session_eval_flags(kvlm_session *s, const int32_t *tokens, int n,
                                    kvlm_logits_mode mode, float *logits, unsigned flags)
{
    if (!usable(s, "kvlm_session_eval")) return KVLM_ERR_INVALID_ARG;
    if (n > 0 && !tokens) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_eval: NULL tokens");
    if (n <= 0) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_eval: no tokens (n = %d)", n);
    if (mode != KVLM_LOGITS_NONE && mode != KVLM_LOGITS_LAST && mode != KVLM_LOGITS_ALL)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_eval: invalid logits mode %d", (int)mode);
    if (mode != KVLM_LOGITS_NONE && !logits)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_eval: logits buffer is NULL");
    kvlm_context *ctx = s->ctx;
    if (n > ctx->p.n_ctx - s->n_tokens)
        return kvlm_fail(KVLM_ERR_CONTEXT_FULL, "context full: %d tokens + %d new exceed n_ctx %d",
                         s->n_tokens, n, ctx->p.n_ctx);
    kvlm_status st = check_tokens(ctx, tokens, n);
    if (st) return st;
    s->last_cached = 0;
    int old_tokens = s->n_tokens;
    kvlm_block_pool *pool = ctx->pool;
    int bs = ctx->p.kv_block_size;

    /* 1. Prefix match. ALL logits need every row computed: no matching. */
    int matched = 0;
    if (!(flags & KVLM_EVAL_NO_CACHE) && mode != KVLM_LOGITS_ALL) matched = match(s, tokens, n);
    if (matched == n) {
        if (mode == KVLM_LOGITS_NONE) {
            ctx->hit_tokens += (uint64_t)n;
            s->last_cached = n;
            kvlm_context_debug_check(ctx);
            return KVLM_OK;
        }
        /* Compute the last token again for its logits, into a copy of
         * its block. Without a block for the copy, give the whole last
         * block back (it becomes evictable) and compute it afresh. */
        s->n_tokens--;
        s->n_pub--;
        matched--;
        if (own_tail(s) == KVLM_ERR_KV_FULL) {
            kvlm_block_pool_release(pool, s->blocks[--s->n_blocks]);
            s->n_tokens -= bs - 1;
            matched -= bs - 1;
        }
    }
    const int32_t *rest = tokens + matched;
    int r = n - matched;

    /* 2. Reserve. */
    st = own_tail(s);
    int need = (s->n_tokens + r + bs - 1) / bs;
    while (!st && s->n_blocks < need) {
        int32_t id;
        if (!(st = kvlm_block_pool_alloc(pool, &id))) s->blocks[s->n_blocks++] = id;
    }
    /* 3. Compute. */
    int V = ctx->model->info.n_vocab;
    int base = s->n_tokens;
    for (int off = 0; !st && off < r; off += ctx->p.n_batch) {
        int c = r - off < ctx->p.n_batch ? r - off : ctx->p.n_batch;
        for (int i = 0; i < c; i++) {
            s->pos[i] = base + off + i;
            s->tables[i] = s->blocks;
        }
        kvlm_fwd_batch b = {c, rest + off, s->pos, s->tables, 0, s->out_rows, NULL};
        if (mode == KVLM_LOGITS_ALL) {
            for (int i = 0; i < c; i++) s->out_rows[i] = i;
            b.n_out = c;
            b.logits = logits + (size_t)off * (size_t)V;
        } else if (mode == KVLM_LOGITS_LAST && off + c == r) {
            s->out_rows[0] = c - 1;
            b.n_out = 1;
            b.logits = logits;
        }
        st = kvlm_forward(ctx, &b);
    }
    if (st) {
        /* Roll back: blocks reserved past `base`, then the matched ones;
         * K/V written by earlier chunks is simply dropped. */
        while (s->n_blocks > (base + bs - 1) / bs) kvlm_block_pool_release(pool, s->blocks[--s->n_blocks]);
        shrink(s, old_tokens);
        kvlm_context_debug_check(ctx);
        return st;
    }
    /* 4. Commit and publish. */
    memcpy(s->tokens + base, rest, (size_t)r * sizeof *rest);
    s->n_tokens = base + r;
    ctx->hit_tokens += (uint64_t)matched;
    ctx->miss_tokens += (uint64_t)r;
    s->last_cached = matched;
    if (!(flags & KVLM_EVAL_NO_CACHE)) kvlm_session_publish(s);
    kvlm_context_debug_check(ctx);
    return KVLM_OK;
}

kvlm_status kvlm_session_eval(kvlm_session *s, const int32_t *tokens, int n,
                              kvlm_logits_mode mode, float *logits)
{
    return kvlm_session_eval_flags(s, tokens, n, mode, logits, 0);
}

kvlm_status kvlm_session_eval_batch(kvlm_session *const *sessions, const int32_t *tokens, int n,
                                    float *logits)
{
    if (!sessions || !tokens || n <= 0)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_eval_batch: no sessions");
    if (!usable(sessions[0], "kvlm_session_eval_batch")) return KVLM_ERR_INVALID_ARG;
    kvlm_context *ctx = sessions[0]->ctx;
    if (n > ctx->p.n_batch)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "%d sessions exceed n_batch %d", n, ctx->p.n_batch);
    int bs = ctx->p.kv_block_size;
    for (int i = 0; i < n; i++) {
        kvlm_session *s = sessions[i];
        if (!s || s->ctx != ctx)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "session %d is NULL or from another context", i);
        for (int j = 0; j < i; j++)
            if (sessions[j] == s) return kvlm_fail(KVLM_ERR_INVALID_ARG, "session %d appears twice", i);
        if (s->n_tokens >= ctx->p.n_ctx)
            return kvlm_fail(KVLM_ERR_CONTEXT_FULL, "context full: session %d holds n_ctx %d tokens",
                             i, ctx->p.n_ctx);
    }
    kvlm_status st = check_tokens(ctx, tokens, n);
    if (st) return st;
    /* Reserve: a new block at a boundary, else a private tail. */
    int i;
    for (i = 0; i < n && !st; i++) {
        kvlm_session *s = sessions[i];
        s->last_cached = 0;
        if (s->n_tokens < s->n_blocks * bs) {
            st = own_tail(s);
        } else {
            int32_t id;
            if (!(st = kvlm_block_pool_alloc(ctx->pool, &id))) s->blocks[s->n_blocks++] = id;
        }
    }
    kvlm_session *s0 = sessions[0];
    if (!st) {
        for (i = 0; i < n; i++) {
            s0->pos[i] = sessions[i]->n_tokens;
            s0->tables[i] = sessions[i]->blocks;
            s0->out_rows[i] = i;
        }
        kvlm_fwd_batch b = {n, tokens, s0->pos, s0->tables, logits ? n : 0, s0->out_rows, logits};
        st = kvlm_forward(ctx, &b);
    }
    for (i = 0; i < n; i++) {
        kvlm_session *s = sessions[i];
        if (st) {
            if (s->n_blocks > (s->n_tokens + bs - 1) / bs)
                kvlm_block_pool_release(ctx->pool, s->blocks[--s->n_blocks]);
            continue;
        }
        s->tokens[s->n_tokens++] = tokens[i];
        ctx->miss_tokens++;
        kvlm_session_publish(s);
    }
    kvlm_context_debug_check(ctx);
    return st;
}
