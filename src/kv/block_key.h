/*
 * block_key.h - the identity of a full KV block in the prefix cache.
 *
 * A block key is SHA-256 over a tagged, length-prefixed encoding of
 *     (parent block's key or "root", the block's token ids, cache namespace,
 *      model identity, KV dtype, block size)
 * so equal keys mean equal K/V contents (up to a hash collision), and two
 * different inputs can never encode to the same byte string. It is computed
 * in exactly one place, kvlm_block_key_compute(); nothing else builds keys.
 *
 * The key only finds a candidate. The pool also stores each published
 * block's token ids, namespace digest and parent, and a lookup compares them
 * on every hit, so even a collision cannot return wrong K/V (tests weaken
 * the hash with kvlm_block_key_test_weaken() to prove it).
 */
#ifndef KVLM_BLOCK_KEY_H
#define KVLM_BLOCK_KEY_H

#include <stdbool.h>
#include <stdint.h>

#include "kvlm.h"

typedef struct kvlm_block_key {
    uint8_t b[32];
} kvlm_block_key;

/* What a pool's keys have in common: fixed for one context. */
typedef struct kvlm_block_key_scope {
    /* Which model's K/V the pool holds. All zeros for a context's own pool,
     * which only ever holds its one model (hashing every weight to say so
     * cost ~0.7 s per GB at the first cached request); a tier shared
     * between processes will put kvlm_model_fingerprint() here. */
    uint8_t fingerprint[32];
    kvlm_dtype kv_type;
    int block_size;
} kvlm_block_key_scope;

/* Key of a block holding tokens[0, scope->block_size), whose predecessor in
 * the sequence has key *parent (NULL for the first block), in namespace
 * ns[0, ns_len). */
kvlm_status kvlm_block_key_compute(const kvlm_block_key_scope *scope, const kvlm_block_key *parent,
                                   const int32_t *tokens, const char *ns, size_t ns_len,
                                   kvlm_block_key *out);

/* SHA-256 of a namespace string: what blocks store to compare namespaces. */
kvlm_status kvlm_namespace_digest(const char *ns, size_t ns_len, uint8_t out[32]);

static inline bool kvlm_block_key_eq(const kvlm_block_key *a, const kvlm_block_key *b)
{
    for (int i = 0; i < 32; i++)
        if (a->b[i] != b->b[i]) return false;
    return true;
}

/* TESTS ONLY: keep only the first `bits` bits of every key computed from
 * now on (0 restores full strength), so that collisions become common.
 * Process-wide; not thread-safe. */
void kvlm_block_key_test_weaken(int bits);

#endif /* KVLM_BLOCK_KEY_H */
