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
 *   per thread: scores [n_ctx] floats, qact (one head row in the KV act type)
 */
#ifndef KVLM_CONTEXT_H
#define KVLM_CONTEXT_H

#include "kvlm.h"
#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "kv/block_pool.h"
#include "model/model.h"

typedef struct kvlm_thread_scratch {
    float *scores;            /* [n_ctx] */
    void *qact;               /* one head row in act_type(kv_type) */
} kvlm_thread_scratch;

struct kvlm_context {
    kvlm_model *model;
    kvlm_context_params p;    /* resolved */
    const kvlm_kernel_ops *ops;
    kvlm_threadpool *tp;
    kvlm_block_pool *pool;

    float *x, *xn, *q, *k, *v, *qkv, *att, *h1, *h2;
    void *mm;
    size_t mm_bytes;
    kvlm_thread_scratch *ts;  /* [n_threads] */
    void *arena;              /* one allocation behind the buffers above */
};

struct kvlm_session {
    kvlm_context *ctx;
    int n_tokens;             /* positions [0, n_tokens) hold K/V */
    int32_t *tokens;          /* [n_ctx] token ids */
    int32_t *blocks;          /* [max_blocks] block table */
    int n_blocks, max_blocks;
    /* per-eval scratch, sized n_batch */
    int32_t *pos;
    const int32_t **tables;
    int32_t *out_rows;
};

#endif /* KVLM_CONTEXT_H */
