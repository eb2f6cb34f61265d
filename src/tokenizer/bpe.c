/*
 * bpe.c - the BPE merge engine shared by byte-level and SentencePiece BPE.
 *
 * Algorithm (the same order as Hugging Face tokenizers' Word::merge_all):
 * the word starts as a list of symbols (bytes or characters, from a front
 * end). Every adjacent pair that has a merge rule is pushed on a min-heap
 * keyed by (rank, position of the left symbol). We pop the best entry; if
 * it is stale (the left symbol died, or either neighbour changed id) it is
 * dropped, else the two symbols are merged in place (the right one is
 * unlinked) and the two new adjacent pairs are pushed. An entry is only
 * (rank, position); on pop the pair now at that position is looked up and
 * the entry is stale unless it still has that rank. Each merge removes a
 * symbol and pushes at most two entries, so a word of n symbols costs
 * O(n log n) time and O(n) memory, whatever its content: 1 MB of 'a' is
 * fine without any cap on the word length.
 *
 * Rank semantics: for merges-based vocabularies the rank is the merge's line
 * number; for score-based (SentencePiece GGUF) vocabularies bpe_spm.c ranks
 * the candidate merges by descending score of the merged piece, which gives
 * the SentencePiece BPE order (highest score first, leftmost on ties).
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tokenizer/bpe_internal.h"

kvlm_status kvlm_bpe_reserve(kvlm_bpe_scratch *sc, size_t n)
{
    if (n <= sc->sym_cap) return KVLM_OK;
    size_t cap = sc->sym_cap ? sc->sym_cap : 64;
    while (cap < n) cap *= 2;
    struct kvlm_bpe_sym *s = realloc(sc->sym, cap * sizeof *s);
    if (!s) return kvlm_fail(KVLM_ERR_NOMEM, "BPE: out of memory for %zu symbols", n);
    sc->sym = s;
    sc->sym_cap = cap;
    return KVLM_OK;
}

void kvlm_bpe_scratch_free(kvlm_bpe_scratch *s)
{
    free(s->sym);
    free(s->heap);
    memset(s, 0, sizeof *s);
}

static inline bool ent_less(const struct kvlm_bpe_heap_ent *a, const struct kvlm_bpe_heap_ent *b)
{
    return a->key < b->key;
}

static kvlm_status heap_push(kvlm_bpe_scratch *sc, size_t *n, struct kvlm_bpe_heap_ent e)
{
    if (*n == sc->heap_cap) {
        size_t cap = sc->heap_cap ? sc->heap_cap * 2 : 64;
        struct kvlm_bpe_heap_ent *h = realloc(sc->heap, cap * sizeof *h);
        if (!h) return kvlm_fail(KVLM_ERR_NOMEM, "BPE: out of memory (heap)");
        sc->heap = h;
        sc->heap_cap = cap;
    }
    struct kvlm_bpe_heap_ent *h = sc->heap;
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ent_less(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
    return KVLM_OK;
}

static struct kvlm_bpe_heap_ent heap_pop(kvlm_bpe_scratch *sc, size_t *n)
{
    struct kvlm_bpe_heap_ent *h = sc->heap;
    struct kvlm_bpe_heap_ent top = h[0], last = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && ent_less(&h[c + 1], &h[c])) c++;
        if (!ent_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = last;
    return top;
}

static kvlm_status push_pair(const kvlm_tokenizer *t, kvlm_bpe_scratch *sc, size_t *hn, int32_t pos)
{
    if (pos < 0) return KVLM_OK;
    int32_t nx = sc->sym[pos].next;
    if (nx < 0) return KVLM_OK;
    int32_t rank, merged;
    if (!kvlm_vocab_merge(&t->vocab, sc->sym[pos].id, sc->sym[nx].id, &rank, &merged)) return KVLM_OK;
    struct kvlm_bpe_heap_ent e = {(uint64_t)(uint32_t)rank << 32 | (uint32_t)pos};
    return heap_push(sc, hn, e);
}

static kvlm_status emit(int32_t id, int32_t **ids, size_t *n_ids, size_t *cap_ids)
{
    if (*n_ids == *cap_ids) {
        size_t cap = *cap_ids ? *cap_ids * 2 : 256;
        int32_t *p = realloc(*ids, cap * sizeof *p);
        if (!p) return kvlm_fail(KVLM_ERR_NOMEM, "tokenizer: out of memory for %zu ids", cap);
        *ids = p;
        *cap_ids = cap;
    }
    (*ids)[(*n_ids)++] = id;
    return KVLM_OK;
}

kvlm_status kvlm_bpe_word(const kvlm_tokenizer *t, const char *s, size_t n, kvlm_bpe_scratch *sc,
                          int32_t **ids, size_t *n_ids, size_t *cap_ids)
{
    if (n == 0) return KVLM_OK;
    if (t->ignore_merges) {
        int32_t id = kvlm_vocab_find(&t->vocab, s, n);
        if (id >= 0 && (t->vocab.attr[id] & KVLM_TOKATTR_NORMAL)) return emit(id, ids, n_ids, cap_ids);
    }
    size_t ns = 0;
    kvlm_status st = t->kind == KVLM_TOK_BYTELEVEL ? kvlm_bpe_bytelevel_init(t, s, n, sc, &ns)
                                                   : kvlm_bpe_spm_init(t, s, n, sc, &ns);
    if (st) return st;
    if (ns > INT32_MAX / 2) return kvlm_fail(KVLM_ERR_INVALID_ARG, "BPE: word of %zu symbols too long", ns);
    struct kvlm_bpe_sym *sym = sc->sym;
    for (size_t i = 0; i < ns; i++) {
        sym[i].prev = (int32_t)i - 1;
        sym[i].next = i + 1 < ns ? (int32_t)i + 1 : -1;
        sym[i].dead = 0;
    }
    size_t hn = 0;
    for (size_t i = 0; i + 1 < ns; i++)
        if ((st = push_pair(t, sc, &hn, (int32_t)i))) return st;
    while (hn > 0) {
        struct kvlm_bpe_heap_ent e = heap_pop(sc, &hn);
        int32_t pos = (int32_t)(e.key & 0xFFFFFFFFu), rank, merged;
        struct kvlm_bpe_sym *a = &sc->sym[pos];
        if (a->dead || a->next < 0) continue;
        struct kvlm_bpe_sym *b = &sc->sym[a->next];
        /* stale unless the pair there now has exactly this entry's rank (a
         * rank names one merged token, so the merge is the same) */
        if (!kvlm_vocab_merge(&t->vocab, a->id, b->id, &rank, &merged) || (uint32_t)rank != (uint32_t)(e.key >> 32))
            continue;
        a->id = merged;
        b->dead = 1;
        a->next = b->next;
        if (b->next >= 0) sc->sym[b->next].prev = pos;
        if ((st = push_pair(t, sc, &hn, a->prev))) return st;
        if ((st = push_pair(t, sc, &hn, pos))) return st;
    }
    for (int32_t i = ns ? 0 : -1; i >= 0; i = sc->sym[i].next)
        if ((st = emit(sc->sym[i].id, ids, n_ids, cap_ids))) return st;
    return KVLM_OK;
}
