/*
 * block_pool.c - fixed-size KV blocks with reference counts, a free stack,
 * and the prefix cache's published blocks (index + LRU list). See
 * block_pool.h for the layout, the block states and the invariants.
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "kernels/kernels.h"
#include "kv/block_pool.h"

static const kvlm_block_key *key_of(const void *owner, int32_t id)
{
    return &((const kvlm_block_pool *)owner)->meta[id].key;
}

kvlm_status kvlm_block_pool_create(const kvlm_block_pool_params *p, kvlm_block_pool **out)
{
    *out = NULL;
    size_t row = kvlm_dtype_row_bytes(p->kv_type, p->head_dim);
    if (row == 0 || (p->kv_type != KVLM_DTYPE_F32 && p->kv_type != KVLM_DTYPE_F16 &&
                     p->kv_type != KVLM_DTYPE_BF16 && p->kv_type != KVLM_DTYPE_Q8_0))
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "KV type %s is not supported for head_dim %d "
                         "(supported: f32, f16, bf16, q8_0 with head_dim a multiple of 32)",
                         kvlm_dtype_name(p->kv_type) ? kvlm_dtype_name(p->kv_type) : "?", p->head_dim);
    if (p->block_size < 1 || p->block_size > 4096)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "KV block size %d is out of range [1, 4096]", p->block_size);
    if (p->n_blocks < 1 || p->n_blocks > (1 << 30))
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "KV pool needs between 1 and 2^30 blocks (got %d)", p->n_blocks);
    kvlm_block_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    pool->n_blocks = p->n_blocks;
    pool->block_size = p->block_size;
    pool->n_layers = p->n_layers;
    pool->n_kv_heads = p->n_kv_heads;
    pool->head_dim = p->head_dim;
    pool->kv_type = p->kv_type;
    pool->row_bytes = row;
    pool->block_bytes = 2 * (size_t)p->n_layers * (size_t)p->n_kv_heads * (size_t)p->block_size * row;
    pool->lru_head = pool->lru_tail = -1;
    size_t total = pool->block_bytes * (size_t)p->n_blocks;
    if (total / (size_t)p->n_blocks != pool->block_bytes ||
        posix_memalign((void **)&pool->data, 64, total) != 0) {
        pool->data = NULL;
        kvlm_block_pool_free(pool);
        return kvlm_fail(KVLM_ERR_NOMEM, "cannot allocate %zu bytes of KV cache", total);
    }
    memset(pool->data, 0, total);
    size_t nb = (size_t)p->n_blocks;
    pool->ref = calloc(nb, sizeof *pool->ref);
    pool->free_stack = malloc(nb * sizeof *pool->free_stack);
    pool->meta = calloc(nb, sizeof *pool->meta);
    pool->tokens = calloc(nb * (size_t)p->block_size, sizeof *pool->tokens);
    if (!pool->ref || !pool->free_stack || !pool->meta || !pool->tokens) {
        kvlm_block_pool_free(pool);
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory for %d KV block headers", p->n_blocks);
    }
    kvlm_status st = kvlm_prefix_index_init(&pool->index, p->n_blocks);
    if (st) {
        kvlm_block_pool_free(pool);
        return st;
    }
    for (int i = 0; i < p->n_blocks; i++) {
        pool->meta[i].parent = -1;
        pool->meta[i].lru_prev = pool->meta[i].lru_next = -1;
    }
    /* Low ids on top so allocation order is predictable. */
    for (int i = 0; i < p->n_blocks; i++) pool->free_stack[i] = p->n_blocks - 1 - i;
    pool->n_free = p->n_blocks;
    *out = pool;
    return KVLM_OK;
}

void kvlm_block_pool_free(kvlm_block_pool *pool)
{
    if (!pool) return;
    kvlm_prefix_index_destroy(&pool->index);
    free(pool->data);
    free(pool->ref);
    free(pool->free_stack);
    free(pool->meta);
    free(pool->tokens);
    free(pool);
}

/* ---- LRU list of cached blocks ---------------------------------------- */

static void lru_remove(kvlm_block_pool *p, int32_t id)
{
    kvlm_block_meta *m = &p->meta[id];
    if (m->lru_prev >= 0) p->meta[m->lru_prev].lru_next = m->lru_next;
    else p->lru_head = m->lru_next;
    if (m->lru_next >= 0) p->meta[m->lru_next].lru_prev = m->lru_prev;
    else p->lru_tail = m->lru_prev;
    m->lru_prev = m->lru_next = -1;
    p->n_cached--;
}

static void lru_append(kvlm_block_pool *p, int32_t id)
{
    kvlm_block_meta *m = &p->meta[id];
    m->lru_prev = p->lru_tail;
    m->lru_next = -1;
    if (p->lru_tail >= 0) p->meta[p->lru_tail].lru_next = id;
    else p->lru_head = id;
    p->lru_tail = id;
    p->n_cached++;
}

/* Drops a cached block's key: it becomes free (not on the stack yet). */
static void unpublish(kvlm_block_pool *p, int32_t id)
{
    kvlm_prefix_index_remove(&p->index, key_of, p, id);
    p->meta[id].keyed = false;
    p->meta[id].parent = -1;
}

/* ---- allocation ------------------------------------------------------- */

kvlm_status kvlm_block_pool_alloc(kvlm_block_pool *pool, int32_t *id)
{
    int32_t b;
    if (pool->n_free > 0) {
        b = pool->free_stack[--pool->n_free];
    } else if (pool->lru_head >= 0) {
        b = pool->lru_head;
        lru_remove(pool, b);
        unpublish(pool, b);
        pool->evictions++;
    } else {
        return kvlm_fail(KVLM_ERR_KV_FULL, "KV cache full: all %d blocks of %d tokens are in use",
                         pool->n_blocks, pool->block_size);
    }
    pool->ref[b] = 1;
    pool->meta[b].gen++;
    *id = b;
    return KVLM_OK;
}

void kvlm_block_pool_retain(kvlm_block_pool *pool, int32_t id)
{
    if (pool->ref[id] == 0) lru_remove(pool, id); /* only cached blocks are found with ref 0 */
    pool->ref[id]++;
}

void kvlm_block_pool_release(kvlm_block_pool *pool, int32_t id)
{
    if (--pool->ref[id] > 0) return;
    if (pool->meta[id].keyed) lru_append(pool, id);
    else pool->free_stack[pool->n_free++] = id;
}

void kvlm_block_pool_copy(kvlm_block_pool *pool, int32_t dst, int32_t src)
{
    memcpy(pool->data + (size_t)dst * pool->block_bytes, pool->data + (size_t)src * pool->block_bytes,
           pool->block_bytes);
    pool->cow_copies++;
}

void kvlm_block_pool_clear_cached(kvlm_block_pool *pool)
{
    while (pool->lru_head >= 0) {
        int32_t b = pool->lru_head;
        lru_remove(pool, b);
        unpublish(pool, b);
        pool->free_stack[pool->n_free++] = b;
    }
}

/* ---- publishing and lookup -------------------------------------------- */

static bool same_block(const kvlm_block_pool *p, int32_t e, int32_t parent, const int32_t *tokens,
                       const uint8_t ns[32])
{
    const kvlm_block_meta *m = &p->meta[e];
    if (m->parent != parent) return false;
    if (parent >= 0 && m->parent_gen != p->meta[parent].gen) return false;
    if (memcmp(m->ns, ns, 32) != 0) return false;
    return memcmp(p->tokens + (size_t)e * (size_t)p->block_size, tokens,
                  (size_t)p->block_size * sizeof *tokens) == 0;
}

int32_t kvlm_block_pool_publish(kvlm_block_pool *pool, int32_t id, const kvlm_block_key *key,
                                int32_t parent, const int32_t *tokens, const uint8_t ns[32])
{
    int32_t e = kvlm_prefix_index_find(&pool->index, key_of, pool, key);
    if (e >= 0) return same_block(pool, e, parent, tokens, ns) ? e : -1;
    kvlm_block_meta *m = &pool->meta[id];
    m->key = *key;
    memcpy(m->ns, ns, 32);
    m->parent = parent;
    m->parent_gen = parent >= 0 ? pool->meta[parent].gen : 0;
    memcpy(pool->tokens + (size_t)id * (size_t)pool->block_size, tokens,
           (size_t)pool->block_size * sizeof *tokens);
    m->keyed = true;
    kvlm_prefix_index_insert(&pool->index, key_of, pool, id);
    return id;
}

int32_t kvlm_block_pool_lookup(const kvlm_block_pool *pool, const kvlm_block_key *key,
                               int32_t parent, const int32_t *tokens, const uint8_t ns[32])
{
    int32_t e = kvlm_prefix_index_find(&pool->index, key_of, pool, key);
    return e >= 0 && same_block(pool, e, parent, tokens, ns) ? e : -1;
}

/* ---- invariants ------------------------------------------------------- */

kvlm_status kvlm_block_pool_check(const kvlm_block_pool *pool)
{
    int n = pool->n_blocks, zero_free = 0, keyed = 0;
    uint8_t *seen = calloc((size_t)n, 1);
    if (!seen) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory in the pool check");
    kvlm_status st = KVLM_OK;
#define BAD(...) do { st = kvlm_fail(KVLM_ERR_INTERNAL, __VA_ARGS__); goto out; } while (0)
    for (int i = 0; i < n; i++) {
        if (pool->ref[i] < 0) BAD("block %d has ref %d", i, pool->ref[i]);
        if (pool->ref[i] == 0 && !pool->meta[i].keyed) zero_free++;
        if (pool->meta[i].keyed) {
            keyed++;
            if (kvlm_prefix_index_find(&pool->index, key_of, pool, &pool->meta[i].key) != i)
                BAD("keyed block %d is not in the index under its key", i);
            int32_t par = pool->meta[i].parent;
            if (par < -1 || par >= n || par == i) BAD("block %d has parent %d", i, par);
        } else if (pool->meta[i].lru_prev != -1 || pool->meta[i].lru_next != -1) {
            BAD("unkeyed block %d has LRU links", i);
        }
    }
    if (zero_free != pool->n_free)
        BAD("%d unkeyed blocks have ref 0 but %d are on the free stack", zero_free, pool->n_free);
    for (int i = 0; i < pool->n_free; i++) {
        int32_t b = pool->free_stack[i];
        if (b < 0 || b >= n || pool->ref[b] != 0 || pool->meta[b].keyed)
            BAD("free stack entry %d (block %d) is not a free block", i, b);
        if (seen[b]) BAD("block %d is on the free stack twice", b);
        seen[b] = 1;
    }
    /* LRU: exactly the keyed blocks with ref 0, linked both ways. */
    int cnt = 0, prev = -1;
    for (int32_t b = pool->lru_head; b >= 0; b = pool->meta[b].lru_next) {
        if (b >= n || cnt > n) BAD("LRU list is corrupt at block %d", b);
        if (seen[b]) BAD("block %d is both free and cached, or cached twice", b);
        seen[b] = 2;
        if (pool->ref[b] != 0 || !pool->meta[b].keyed) BAD("LRU block %d has ref %d keyed %d", b,
                                                           pool->ref[b], (int)pool->meta[b].keyed);
        if (pool->meta[b].lru_prev != prev) BAD("LRU block %d has a wrong back link", b);
        prev = b;
        cnt++;
    }
    if (prev != pool->lru_tail) BAD("LRU tail is %d, the list ends at %d", pool->lru_tail, prev);
    if (cnt != pool->n_cached) BAD("LRU holds %d blocks, n_cached says %d", cnt, pool->n_cached);
    for (int i = 0; i < n; i++)
        if (pool->ref[i] == 0 && pool->meta[i].keyed && seen[i] != 2) BAD("cached block %d is not in the LRU list", i);
    /* Index: exactly the keyed blocks. */
    int in_index = 0;
    for (uint32_t s = 0; s <= pool->index.mask; s++) {
        int32_t b = pool->index.slot[s];
        if (b < -1 || b >= n) BAD("index slot %u holds %d", s, b);
        if (b >= 0) {
            if (!pool->meta[b].keyed) BAD("index slot %u holds unkeyed block %d", s, b);
            in_index++;
        }
    }
    if (in_index != keyed || pool->index.count != keyed)
        BAD("index holds %d entries (count %d) for %d keyed blocks", in_index, pool->index.count, keyed);
#undef BAD
out:
    free(seen);
    return st;
}
