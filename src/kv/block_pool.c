/*
 * block_pool.c - fixed-size KV blocks with reference counts and a free
 * stack. See block_pool.h for the layout and the invariants.
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "kernels/kernels.h"
#include "kv/block_pool.h"

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
    if (p->n_blocks < 1)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "KV pool needs at least one block");
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
    size_t total = pool->block_bytes * (size_t)p->n_blocks;
    if (total / (size_t)p->n_blocks != pool->block_bytes ||
        posix_memalign((void **)&pool->data, 64, total) != 0) {
        free(pool);
        return kvlm_fail(KVLM_ERR_NOMEM, "cannot allocate %zu bytes of KV cache", total);
    }
    memset(pool->data, 0, total);
    pool->ref = calloc((size_t)p->n_blocks, sizeof *pool->ref);
    pool->free_stack = malloc((size_t)p->n_blocks * sizeof *pool->free_stack);
    if (!pool->ref || !pool->free_stack) {
        kvlm_block_pool_free(pool);
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
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
    free(pool->data);
    free(pool->ref);
    free(pool->free_stack);
    free(pool);
}

kvlm_status kvlm_block_pool_alloc(kvlm_block_pool *pool, int32_t *id)
{
    if (pool->n_free == 0)
        return kvlm_fail(KVLM_ERR_KV_FULL, "KV cache full: all %d blocks of %d tokens are in use",
                         pool->n_blocks, pool->block_size);
    int32_t b = pool->free_stack[--pool->n_free];
    pool->ref[b] = 1;
    *id = b;
    return KVLM_OK;
}

void kvlm_block_pool_retain(kvlm_block_pool *pool, int32_t id) { pool->ref[id]++; }

void kvlm_block_pool_release(kvlm_block_pool *pool, int32_t id)
{
    if (--pool->ref[id] == 0) pool->free_stack[pool->n_free++] = id;
}

kvlm_status kvlm_block_pool_check(const kvlm_block_pool *pool)
{
    int zero = 0;
    for (int i = 0; i < pool->n_blocks; i++) {
        if (pool->ref[i] < 0) return kvlm_fail(KVLM_ERR_INTERNAL, "block %d has ref %d", i, pool->ref[i]);
        if (pool->ref[i] == 0) zero++;
    }
    if (zero != pool->n_free)
        return kvlm_fail(KVLM_ERR_INTERNAL, "%d blocks have ref 0 but %d are on the free stack",
                         zero, pool->n_free);
    for (int i = 0; i < pool->n_free; i++) {
        int32_t b = pool->free_stack[i];
        if (b < 0 || b >= pool->n_blocks || pool->ref[b] != 0)
            return kvlm_fail(KVLM_ERR_INTERNAL, "free stack entry %d (block %d) is not free", i, b);
        for (int j = 0; j < i; j++)
            if (pool->free_stack[j] == b)
                return kvlm_fail(KVLM_ERR_INTERNAL, "block %d is on the free stack twice", b);
    }
    return KVLM_OK;
}
