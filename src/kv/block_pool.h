/*
 * block_pool.h - KV cache memory as a pool of fixed-size blocks, with the
 * prefix cache's bookkeeping: published (keyed) blocks, their index, and
 * the LRU list of cached blocks nobody references.
 *
 * A block holds the keys and values of every layer for block_size
 * consecutive token positions of one sequence. Inside a block the rows are
 * laid out as
 *     [layer][kind: 0 = K, 1 = V][kv_head][token in block][row]
 * where a row is head_dim elements of the KV dtype (row_bytes bytes), so
 * attention for one KV head streams block_size contiguous rows.
 *     offset(l, kind, h, t) = (((l * 2 + kind) * n_kv_heads + h) * block_size + t) * row_bytes
 *
 * Block states (exactly one holds for every block):
 *     in use    ref > 0 (keyed or not)
 *     cached    ref == 0, keyed: in the LRU list and the index
 *     free      ref == 0, not keyed: on the free stack
 * A keyed block is "published": its contents, token ids, namespace and
 * parent are fixed until it is evicted; nobody writes into it (writers copy
 * it first, see context.c). Every keyed block is in the index under its
 * key. Allocation takes a free block, else evicts the least recently
 * released cached block; a block with ref > 0 is never evicted. The pool
 * never allocates memory after creation: alloc fails with KVLM_ERR_KV_FULL
 * when every block is in use. kvlm_block_pool_check() verifies all of this.
 * Block memory is 64-byte aligned and never moves.
 */
#ifndef KVLM_BLOCK_POOL_H
#define KVLM_BLOCK_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvlm.h"
#include "kv/block_key.h"
#include "kv/prefix_index.h"

typedef struct kvlm_block_meta {
    kvlm_block_key key;       /* valid when keyed */
    uint8_t ns[32];           /* namespace digest, valid when keyed */
    int32_t parent;           /* previous block of the sequence, -1 for a root */
    uint32_t parent_gen;      /* the parent's gen when this block was published */
    uint32_t gen;             /* bumped at every allocation of this block */
    int32_t lru_prev, lru_next; /* LRU links while cached, else -1 */
    bool keyed;
} kvlm_block_meta;

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
    kvlm_block_meta *meta;    /* [n_blocks] */
    int32_t *tokens;          /* [n_blocks][block_size] token ids of keyed blocks */
    int32_t lru_head, lru_tail; /* head = least recently released; -1 if empty */
    int n_cached;
    kvlm_prefix_index index;
    uint64_t evictions, cow_copies;
} kvlm_block_pool;

typedef struct kvlm_block_pool_params {
    int n_layers, n_kv_heads, head_dim;
    kvlm_dtype kv_type;
    int block_size;
    int n_blocks;
} kvlm_block_pool_params;

kvlm_status kvlm_block_pool_create(const kvlm_block_pool_params *p, kvlm_block_pool **out);
void kvlm_block_pool_free(kvlm_block_pool *pool);

/* Takes a block (ref = 1, not keyed) into *id: a free one, else the least
 * recently released cached one (evicting its key); KVLM_ERR_KV_FULL when
 * every block is in use. */
kvlm_status kvlm_block_pool_alloc(kvlm_block_pool *pool, int32_t *id);
/* Adds a reference (a cached block leaves the LRU list). */
void kvlm_block_pool_retain(kvlm_block_pool *pool, int32_t id);
/* Drops a reference; at zero a keyed block becomes the most recently
 * released cached block, an unkeyed one returns to the free stack. */
void kvlm_block_pool_release(kvlm_block_pool *pool, int32_t id);

/* Publishes in-use, unkeyed block `id` under `key` with its token ids,
 * namespace digest and parent block (-1 for a root). Returns:
 *   id         published;
 *   other >= 0 an identical block (same key, parent, tokens, namespace) is
 *              already published: the caller should use that one instead;
 *   -1         another block holds this key with different contents (a hash
 *              collision): nothing is published. */
int32_t kvlm_block_pool_publish(kvlm_block_pool *pool, int32_t id, const kvlm_block_key *key,
                                int32_t parent, const int32_t *tokens, const uint8_t ns[32]);

/* The published block under `key` whose parent, token ids and namespace
 * equal the given ones, or -1. Takes no reference. */
int32_t kvlm_block_pool_lookup(const kvlm_block_pool *pool, const kvlm_block_key *key,
                               int32_t parent, const int32_t *tokens, const uint8_t ns[32]);

/* Copies block src's K/V bytes into block dst. */
void kvlm_block_pool_copy(kvlm_block_pool *pool, int32_t dst, int32_t src);

/* Evicts every cached block (their keys are dropped; they become free). */
void kvlm_block_pool_clear_cached(kvlm_block_pool *pool);

/* Verifies the invariants above; returns KVLM_OK or KVLM_ERR_INTERNAL with
 * a message naming the broken one. O(n_blocks). */
kvlm_status kvlm_block_pool_check(const kvlm_block_pool *pool);

/* Address of the K (kind 0) or V (kind 1) row of kv_head h, token slot t,
 * layer l in block id. */
static inline uint8_t *kvlm_kv_row(const kvlm_block_pool *p, int32_t id, int l, int kind, int h, int t)
{
    size_t idx = ((size_t)(l * 2 + kind) * (size_t)p->n_kv_heads + (size_t)h) * (size_t)p->block_size + (size_t)t;
    return p->data + (size_t)id * p->block_bytes + idx * p->row_bytes;
}

#endif /* KVLM_BLOCK_POOL_H */
