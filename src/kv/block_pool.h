/*
 * block_pool.h - KV cache memory as a pool of fixed-size blocks.
 *
 * A block holds the keys and values of every layer for block_size
 * consecutive token positions of one sequence. Inside a block the rows are
 * laid out as
 *     [layer][kind: 0 = K, 1 = V][kv_head][token in block][row]
 * where a row is head_dim elements of the KV dtype (row_bytes bytes), so
 * attention for one KV head streams block_size contiguous rows.
 *     offset(l, kind, h, t) = (((l * 2 + kind) * n_kv_heads + h) * block_size + t) * row_bytes
 *
 * Invariants (checked by kvlm_block_pool_check()):
 *   - every block id in [0, n_blocks) is either on the free stack with
 *     ref == 0, or off it with ref > 0; never both;
 *   - n_free equals the number of blocks with ref == 0;
 *   - the pool never allocates after creation: alloc fails with
 *     KVLM_ERR_KV_FULL when no block is free.
 * Block memory is 64-byte aligned and never moves.
 */
#ifndef KVLM_BLOCK_POOL_H
#define KVLM_BLOCK_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "kvlm.h"

typedef struct kvlm_block_pool {
    int n_blocks;
    int block_size;           /* tokens per block */
    int n_layers, n_kv_heads, head_dim;
    kvlm_dtype kv_type;
    size_t row_bytes;         /* bytes of head_dim elements of kv_type */
    size_t block_bytes;       /* 2 * n_layers * n_kv_heads * block_size * row_bytes */
    uint8_t *data;            /* [n_blocks][block_bytes] */
    int32_t *ref;             /* [n_blocks] reference counts */
    int32_t *free_stack;      /* [n_blocks]; the first n_free entries are free ids */
    int n_free;
} kvlm_block_pool;

typedef struct kvlm_block_pool_params {
    int n_layers, n_kv_heads, head_dim;
    kvlm_dtype kv_type;
    int block_size;
    int n_blocks;
} kvlm_block_pool_params;

kvlm_status kvlm_block_pool_create(const kvlm_block_pool_params *p, kvlm_block_pool **out);
void kvlm_block_pool_free(kvlm_block_pool *pool);

/* Takes a free block (ref = 1) into *id, or returns KVLM_ERR_KV_FULL. */
kvlm_status kvlm_block_pool_alloc(kvlm_block_pool *pool, int32_t *id);
/* Adds a reference to an allocated block. */
void kvlm_block_pool_retain(kvlm_block_pool *pool, int32_t id);
/* Drops a reference; the block returns to the free stack at zero. */
void kvlm_block_pool_release(kvlm_block_pool *pool, int32_t id);

/* Verifies the invariants above; returns KVLM_OK or KVLM_ERR_INTERNAL with
 * a message naming the broken one. */
kvlm_status kvlm_block_pool_check(const kvlm_block_pool *pool);

/* Address of the K (kind 0) or V (kind 1) row of kv_head h, token slot t,
 * layer l in block id. */
static inline uint8_t *kvlm_kv_row(const kvlm_block_pool *p, int32_t id, int l, int kind, int h, int t)
{
    size_t idx = ((size_t)(l * 2 + kind) * (size_t)p->n_kv_heads + (size_t)h) * (size_t)p->block_size + (size_t)t;
    return p->data + (size_t)id * p->block_bytes + idx * p->row_bytes;
}

#endif /* KVLM_BLOCK_POOL_H */
