/*
 * prefix_index.h - the prefix cache's hash table: block key -> block id.
 *
 * Open addressing with linear probing over a power-of-two table at least
 * twice the number of blocks, so it never fills. Slots hold block ids; the
 * keys live in the pool's block metadata (passed in), so the table is 4
 * bytes per slot. Deletion shifts later entries of the probe run back
 * (no tombstones), so lookups stay short however long the cache runs.
 *
 * Invariants: an id appears in at most one slot; every id in the table
 * is reachable from its key's home slot without crossing an empty slot;
 * at most one entry per distinct key (insert refuses duplicates).
 */
#ifndef KVLM_PREFIX_INDEX_H
#define KVLM_PREFIX_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "kv/block_key.h"

typedef struct kvlm_prefix_index {
    uint32_t mask;       /* capacity - 1 */
    int32_t *slot;       /* [capacity] block id or -1 */
    int count;
} kvlm_prefix_index;

/* Maps a block id to its key (the pool's metadata). */
typedef const kvlm_block_key *(*kvlm_prefix_key_fn)(const void *owner, int32_t id);

kvlm_status kvlm_prefix_index_init(kvlm_prefix_index *ix, int n_blocks);
void kvlm_prefix_index_destroy(kvlm_prefix_index *ix);

/* The id stored under key, or -1. */
int32_t kvlm_prefix_index_find(const kvlm_prefix_index *ix, kvlm_prefix_key_fn key_of, const void *owner,
                               const kvlm_block_key *key);
/* Stores id under key_of(id); false (nothing changed) if that key is present. */
bool kvlm_prefix_index_insert(kvlm_prefix_index *ix, kvlm_prefix_key_fn key_of, const void *owner, int32_t id);
/* Removes id (stored under key_of(id)); false if it is not there. */
bool kvlm_prefix_index_remove(kvlm_prefix_index *ix, kvlm_prefix_key_fn key_of, const void *owner, int32_t id);

#endif /* KVLM_PREFIX_INDEX_H */
