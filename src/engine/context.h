/*
 * context.h - what a forward pass needs besides the weights: the kernels
 * chosen for this CPU, the thread pool, the KV block pool, and scratch
 * buffers sized once for n_batch tokens (nothing is allocated per token).
 *
 * Scratch shapes (n = n_batch):
 *   x      [n][n_embd]        residual stream
 *   xn     [n][n_embd]        normed input / projection output
 *   q      [n][n_heads*head_dim]
 *   k, v   [n][n_kv_heads*head_dim]
 *   qkv    [n][3*n_embd]      GPT-2 fused projection (NULL otherwise)
 *   att    [n][n_heads*head_dim]
 *   h1, h2 [n][n_ff]
 *   mm     matmul scratch (activation rows quantized per row)
 *   per thread: for KVLM_ATTN_TOKENS tokens x the query heads of a KV group,
 *          a score row of n_ctx floats and a query row in the KV act type
 */
#ifndef KVLM_CONTEXT_H
#define KVLM_CONTEXT_H

#include "kvlm.h"
#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "kv/block_key.h"
#include "kv/block_pool.h"
#include "model/model.h"

typedef struct kvlm_thread_scratch {
    float *scores;            /* [KVLM_ATTN_TOKENS * group][scores_stride]: a row per (token, query head) */
    void *qact;               /* as many head rows in act_type(kv_type), qact_stride bytes apart */
    size_t scores_stride;     /* floats, >= n_ctx */
    size_t qact_stride;       /* bytes */
} kvlm_thread_scratch;

struct kvlm_context {
    kvlm_model *model;
    kvlm_context_params p;    /* resolved */
    struct kvlm_session *sessions; /* every live session (for the checker) */
    /* prefix cache */
    kvlm_block_key_scope scope; /* fixed at creation; model identity all zeros
                                   (the pool holds this context's model only) */
    uint64_t lookups, hit_tokens, miss_tokens;
    const kvlm_kernel_ops *ops;
    kvlm_threadpool *tp;
    kvlm_block_pool *pool;

    float *x, *xn, *q, *k, *v, *qkv, *att, *h1, *h2;
    void *mm;
    size_t mm_bytes;
    kvlm_thread_scratch *ts;  /* [n_threads] */
    void *arena;              /* one allocation behind the buffers above */
};

/* Session invariants (kvlm_context_check verifies them):
 *   n_blocks == ceil(n_tokens / block_size), every block referenced once
 *   by this session;
 *   blocks[0, n_pub) are published (keyed) and full, forming this
 *   session's chain: blocks[i]'s parent is blocks[i - 1];
 *   n_pub <= n_tokens / block_size.
 * A block the session writes into (its partial tail) is never keyed and
 * never shared: writers copy such a block first. */
struct kvlm_session {
    kvlm_context *ctx;
    struct kvlm_session *prev, *next; /* the context's session list */
    int n_tokens;             /* positions [0, n_tokens) hold K/V */
    int32_t *tokens;          /* [n_ctx] token ids */
    int32_t *blocks;          /* [max_blocks] block table */
    int n_blocks, max_blocks;
    int n_pub;                /* leading published blocks (see above) */
    bool use_cache;           /* look up and publish blocks */
    char *ns;                 /* cache namespace (NUL-terminated copy) */
    size_t ns_len;
    uint8_t ns_digest[32];
    int last_cached;          /* tokens of the last eval served from cache */
    /* per-eval scratch, sized n_batch */
    int32_t *pos;
    const int32_t **tables;
    int32_t *out_rows;
};

/* kvlm_session_eval with flags: KVLM_EVAL_NO_CACHE neither looks up nor
 * publishes blocks (generate's --no-kv-cache loop must recompute all). */
enum { KVLM_EVAL_NO_CACHE = 1 };
kvlm_status kvlm_session_eval_flags(kvlm_session *s, const int32_t *tokens, int n,
                                    kvlm_logits_mode mode, float *logits, unsigned flags);

/* Publishes the session's full, not yet published blocks in order
 * (session.c; no-op when the session does not use the cache). */
void kvlm_session_publish(kvlm_session *s);

/* Debug builds (no NDEBUG) verify every invariant after each session
 * operation and abort with the message when one is broken. */
void kvlm_context_debug_check(const kvlm_context *ctx);

#endif /* KVLM_CONTEXT_H */
