/*
 * prefix_index.c - linear-probing hash table from block keys to block ids
 * (see prefix_index.h for the invariants).
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "kv/prefix_index.h"

static uint32_t home(const kvlm_prefix_index *ix, const kvlm_block_key *k)
{
    /* SHA-256 output is uniform: its first bytes are a good hash. */
    uint32_t h = (uint32_t)k->b[0] | (uint32_t)k->b[1] << 8 | (uint32_t)k->b[2] << 16 | (uint32_t)k->b[3] << 24;
    return h & ix->mask;
}

kvlm_status kvlm_prefix_index_init(kvlm_prefix_index *ix, int n_blocks)
{
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)n_blocks) cap <<= 1;
    ix->slot = malloc((size_t)cap * sizeof *ix->slot);
    if (!ix->slot) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory for the prefix index");
    for (uint32_t i = 0; i < cap; i++) ix->slot[i] = -1;
    ix->mask = cap - 1;
    ix->count = 0;
    return KVLM_OK;
}

void kvlm_prefix_index_destroy(kvlm_prefix_index *ix)
{
    free(ix->slot);
    ix->slot = NULL;
    ix->count = 0;
}

int32_t kvlm_prefix_index_find(const kvlm_prefix_index *ix, kvlm_prefix_key_fn key_of, const void *owner,
                               const kvlm_block_key *key)
{
    for (uint32_t i = home(ix, key);; i = (i + 1) & ix->mask) {
        int32_t id = ix->slot[i];
        if (id < 0) return -1;
        if (kvlm_block_key_eq(key_of(owner, id), key)) return id;
    }
}

bool kvlm_prefix_index_insert(kvlm_prefix_index *ix, kvlm_prefix_key_fn key_of, const void *owner, int32_t id)
{
    const kvlm_block_key *key = key_of(owner, id);
    uint32_t i = home(ix, key);
    for (;; i = (i + 1) & ix->mask) {
        int32_t o = ix->slot[i];
        if (o < 0) break;
        if (kvlm_block_key_eq(key_of(owner, o), key)) return false;
    }
    ix->slot[i] = id;
    ix->count++;
    return true;
}

bool kvlm_prefix_index_remove(kvlm_prefix_index *ix, kvlm_prefix_key_fn key_of, const void *owner, int32_t id)
{
    uint32_t i = home(ix, key_of(owner, id));
    for (;; i = (i + 1) & ix->mask) {
        if (ix->slot[i] < 0) return false;
        if (ix->slot[i] == id) break;
    }
    /* Backward-shift: move later entries of the run into the hole when
     * their home does not lie cyclically in (hole, their slot]. */
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & ix->mask; ix->slot[j] >= 0; j = (j + 1) & ix->mask) {
        uint32_t h = home(ix, key_of(owner, ix->slot[j]));
        bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
        if (stays) continue;
        ix->slot[hole] = ix->slot[j];
        hole = j;
    }
    ix->slot[hole] = -1;
    ix->count--;
    return true;
}
