/*
 * vocab.c - token storage and the two hash tables the BPE engine needs.
 *
 * Invariants:
 *   - ids are dense in [0, n); an id never set is a hole (attr UNUSED, empty
 *     text) that is never produced by encoding and is rejected by decoding;
 *   - the string index maps each distinct text to its lowest id; holes and
 *     empty texts are not indexed;
 *   - the pair table maps (left id, right id) to the merge with the lowest
 *     rank. Both tables use open addressing with linear probing at a load
 *     factor <= 1/2, sized once from the final counts, so lookups are O(1)
 *     expected and memory is bounded by the vocabulary size.
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    const unsigned char *u = (const unsigned char *)s;
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, u, 8);
        h = (h ^ k) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        u += 8;
        n -= 8;
    }
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++) k |= (uint64_t)u[i] << (8 * i);
    h = (h ^ k) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

kvlm_status kvlm_vocab_init(kvlm_vocab *v, int32_t n)
{
    memset(v, 0, sizeof *v);
    if (n <= 0 || n > KVLM_TOK_MAX_VOCAB)
        return kvlm_fail(KVLM_ERR_FORMAT, "vocabulary size %d out of range [1, %d]", (int)n,
                         KVLM_TOK_MAX_VOCAB);
    v->n = n;
    v->off = calloc((size_t)n, sizeof *v->off);
    v->len = calloc((size_t)n, sizeof *v->len);
    v->score = calloc((size_t)n, sizeof *v->score);
    v->attr = calloc((size_t)n, sizeof *v->attr);
    if (!v->off || !v->len || !v->score || !v->attr) {
        kvlm_vocab_free(v);
        return kvlm_fail(KVLM_ERR_NOMEM, "vocabulary of %d tokens: out of memory", (int)n);
    }
    for (int32_t i = 0; i < n; i++) v->attr[i] = KVLM_TOKATTR_UNUSED;
    return KVLM_OK;
}

void kvlm_vocab_free(kvlm_vocab *v)
{
    free(v->blob);
    free(v->off);
    free(v->len);
    free(v->score);
    free(v->attr);
    free(v->slot);
    free(v->pairs);
    memset(v, 0, sizeof *v);
}

kvlm_status kvlm_vocab_set(kvlm_vocab *v, int32_t id, const char *text, size_t len, float score,
                           uint8_t attr)
{
    if (id < 0 || id >= v->n)
        return kvlm_fail(KVLM_ERR_FORMAT, "token id %d out of range [0, %d)", (int)id, (int)v->n);
    if (!(v->attr[id] & KVLM_TOKATTR_UNUSED) || v->len[id])
        return kvlm_fail(KVLM_ERR_FORMAT, "token id %d defined twice", (int)id);
    if (len > KVLM_TOK_MAX_TOKEN_LEN)
        return kvlm_fail(KVLM_ERR_FORMAT, "token id %d: text of %zu bytes exceeds the limit %d",
                         (int)id, len, KVLM_TOK_MAX_TOKEN_LEN);
    if (v->blob_len + len + 1 > v->blob_cap) {
        size_t cap = v->blob_cap ? v->blob_cap : 1 << 16;
        while (cap < v->blob_len + len + 1) cap *= 2;
        char *b = realloc(v->blob, cap);
        if (!b) return kvlm_fail(KVLM_ERR_NOMEM, "vocabulary text: out of memory");
        v->blob = b;
        v->blob_cap = cap;
    }
    memcpy(v->blob + v->blob_len, text, len);
    v->blob[v->blob_len + len] = 0;
    v->off[id] = v->blob_len;
    v->len[id] = (uint32_t)len;
    v->blob_len += len + 1;
    v->score[id] = score;
    v->attr[id] = attr & (uint8_t)~KVLM_TOKATTR_UNUSED;
    if (!v->attr[id]) v->attr[id] = KVLM_TOKATTR_NORMAL;
    return KVLM_OK;
}

kvlm_status kvlm_vocab_build_index(kvlm_vocab *v)
{
    if (!v->blob) { /* every id a hole: still give the blob a byte for holes */
        v->blob = calloc(1, 1);
        if (!v->blob) return kvlm_fail(KVLM_ERR_NOMEM, "vocabulary: out of memory");
        v->blob_cap = 1;
    }
    uint64_t size = 16;
    while (size < (uint64_t)v->n * 2) size *= 2;
    free(v->slot);
    v->slot = malloc(size * sizeof *v->slot);
    if (!v->slot) return kvlm_fail(KVLM_ERR_NOMEM, "vocabulary index: out of memory");
    memset(v->slot, 0xFF, size * sizeof *v->slot);
    v->mask = size - 1;
    for (int32_t id = 0; id < v->n; id++) {
        if ((v->attr[id] & KVLM_TOKATTR_UNUSED) || v->len[id] == 0) continue;
        const char *s = kvlm_vocab_text(v, id);
        uint64_t h = hash_bytes(s, v->len[id]) & v->mask;
        for (;; h = (h + 1) & v->mask) {
            int32_t o = v->slot[h];
            if (o < 0) { v->slot[h] = id; break; }
            if (v->len[o] == v->len[id] && memcmp(kvlm_vocab_text(v, o), s, v->len[id]) == 0)
                break; /* duplicate text: lowest id keeps the entry */
        }
    }
    return KVLM_OK;
}

int32_t kvlm_vocab_find(const kvlm_vocab *v, const char *text, size_t len)
{
    if (!v->slot || len == 0) return -1;
    uint64_t h = hash_bytes(text, len) & v->mask;
    for (;; h = (h + 1) & v->mask) {
        int32_t o = v->slot[h];
        if (o < 0) return -1;
        if (v->len[o] == len && memcmp(kvlm_vocab_text(v, o), text, len) == 0) return o;
    }
}

kvlm_status kvlm_vocab_reserve_merges(kvlm_vocab *v, uint64_t n)
{
    uint64_t size = 16;
    while (size < n * 2 + 2) size *= 2;
    if (v->pairs && size <= v->pair_mask + 1) return KVLM_OK;
    struct kvlm_vocab_pair *old = v->pairs;
    uint64_t old_size = old ? v->pair_mask + 1 : 0;
    v->pairs = malloc(size * sizeof *v->pairs);
    if (!v->pairs) { v->pairs = old; return kvlm_fail(KVLM_ERR_NOMEM, "merge table: out of memory"); }
    for (uint64_t i = 0; i < size; i++) v->pairs[i].key = UINT64_MAX;
    v->pair_mask = size - 1;
    v->n_pairs = 0;
    for (uint64_t i = 0; i < old_size; i++)
        if (old[i].key != UINT64_MAX)
            kvlm_vocab_add_merge(v, (int32_t)(old[i].key >> 32), (int32_t)(old[i].key & 0xFFFFFFFFu),
                                 old[i].rank, old[i].merged);
    free(old);
    return KVLM_OK;
}

kvlm_status kvlm_vocab_add_merge(kvlm_vocab *v, int32_t left, int32_t right, int32_t rank, int32_t merged)
{
    if (!v->pairs || (v->n_pairs + 1) * 2 > v->pair_mask + 1) {
        kvlm_status st = kvlm_vocab_reserve_merges(v, (v->n_pairs + 1) * 2);
        if (st) return st;
    }
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint64_t h = hash_u64(key) & v->pair_mask;
    for (;; h = (h + 1) & v->pair_mask) {
        struct kvlm_vocab_pair *p = &v->pairs[h];
        if (p->key == UINT64_MAX) {
            p->key = key;
            p->rank = rank;
            p->merged = merged;
            v->n_pairs++;
            return KVLM_OK;
        }
        if (p->key == key) {
            if (rank < p->rank) { p->rank = rank; p->merged = merged; }
            return KVLM_OK;
        }
    }
}

bool kvlm_vocab_merge(const kvlm_vocab *v, int32_t left, int32_t right, int32_t *rank, int32_t *merged)
{
    if (!v->pairs) return false;
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint64_t h = hash_u64(key) & v->pair_mask;
    for (;; h = (h + 1) & v->pair_mask) {
        const struct kvlm_vocab_pair *p = &v->pairs[h];
        if (p->key == UINT64_MAX) return false;
        if (p->key == key) {
            *rank = p->rank;
            *merged = p->merged;
            return true;
        }
    }
}
