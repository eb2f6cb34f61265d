/*
 * forward.h - one forward pass over a batch of tokens that may belong to
 * several sequences, reading and writing K/V through block tables.
 *
 * For every token i of the batch, its K and V of every layer are written at
 * position pos[i] of its sequence (block table[i][pos[i] / block_size],
 * slot pos[i] % block_size) before any attention of that layer runs, so a
 * token attends to its own sequence's positions [0, pos[i]] - whether those
 * came from this batch or an earlier one. The caller guarantees that the
 * blocks for every position exist and that positions [0, pos[i]) of each
 * sequence were written by earlier calls or earlier rows of this batch.
 *
 * Logits are produced for the rows listed in out_rows, in that order.
 * The result for a token depends only on its sequence's tokens [0, pos]:
 * not on the batch it came in, its row, the other sequences, or the thread
 * count (see docs/ARCHITECTURE.md, "Bit-exactness").
 */
#ifndef KVLM_FORWARD_H
#define KVLM_FORWARD_H

#include <stdint.h>

#include "kvlm.h"

struct kvlm_context;

typedef struct kvlm_fwd_batch {
    int n;                         /* tokens in the batch, 1..n_batch */
    const int32_t *tokens;         /* [n] token ids, < n_vocab */
    const int32_t *pos;            /* [n] positions, < n_ctx */
    const int32_t *const *tables;  /* [n] block table of each token's sequence */
    int n_out;                     /* rows wanting logits */
    const int32_t *out_rows;       /* [n_out] batch rows */
    float *logits;                 /* [n_out][n_vocab] */
} kvlm_fwd_batch;

kvlm_status kvlm_forward(struct kvlm_context *ctx, const kvlm_fwd_batch *b);

/* Architecture bodies (arch_llama.c, arch_gpt2.c); arguments validated. */
void kvlm_forward_llama(struct kvlm_context *ctx, const kvlm_fwd_batch *b);
void kvlm_forward_gpt2(struct kvlm_context *ctx, const kvlm_fwd_batch *b);

/* Attention takes up to this many consecutive tokens of one sequence
 * together, so that each KV block they share is read from memory once per
 * tile rather than once per token (forward.c). */
#define KVLM_ATTN_TOKENS 4

/* Shared stages (forward.c). */
/* Writes rows k[i], v[i] (n_kv_heads*head_dim floats, ldk/ldv apart) of
 * layer l into the cache at each token's position. */
void kvlm_fwd_store_kv(struct kvlm_context *ctx, const kvlm_fwd_batch *b, int l,
                       const float *k, int64_t ldk, const float *v, int64_t ldv);
/* out[i] (n_heads*head_dim, ldo apart) = causal attention of q[i] (ldq
 * apart) over its sequence's cached K/V of layer l. */
void kvlm_fwd_attention(struct kvlm_context *ctx, const kvlm_fwd_batch *b, int l,
                        const float *q, int64_t ldq, float *out, int64_t ldo);
/* Applies RoPE in place to n_heads heads of q[i] and n_kv_heads of k[i]. */
void kvlm_fwd_rope(struct kvlm_context *ctx, const kvlm_fwd_batch *b,
                   float *q, int64_t ldq, float *k, int64_t ldk);
/* Final norm of the out rows of x, then the output projection into logits. */
void kvlm_fwd_logits(struct kvlm_context *ctx, const kvlm_fwd_batch *b, const float *x);
/* x[i] += y[i] for n rows of n_embd. */
void kvlm_fwd_residual(struct kvlm_context *ctx, int n, float *x, const float *y);

#endif /* KVLM_FORWARD_H */
