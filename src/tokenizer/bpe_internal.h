/*
 * bpe_internal.h - the symbol list shared by the BPE engine (bpe.c) and its
 * two front ends (bpe_bytelevel.c, bpe_spm.c), which turn one pre-tokenized
 * word into initial symbols. A symbol is a token id in a doubly linked list
 * over an array; merging unlinks the right symbol (marking it dead).
 */
#ifndef KVLM_BPE_INTERNAL_H
#define KVLM_BPE_INTERNAL_H

#include "tokenizer/tokenizer.h"

struct kvlm_bpe_sym {
    int32_t id;      /* token id */
    int32_t prev;    /* index of the previous live symbol, -1 at the start */
    int32_t next;    /* index of the next live symbol, -1 at the end */
    int32_t dead;    /* merged into its left neighbour */
};

/* A heap entry is (rank << 32 | position of the left symbol): 8 bytes, so
 * that big heaps stay cache-friendly. The pair is re-looked-up on pop. */
struct kvlm_bpe_heap_ent {
    uint64_t key;
};

/* Ensures room for n symbols. */
kvlm_status kvlm_bpe_reserve(kvlm_bpe_scratch *sc, size_t n);

/* Front ends: fill sc->sym[0..*n) from the word (links are set by bpe.c). */
kvlm_status kvlm_bpe_bytelevel_init(const kvlm_tokenizer *t, const char *s, size_t n,
                                    kvlm_bpe_scratch *sc, size_t *n_sym);
kvlm_status kvlm_bpe_spm_init(const kvlm_tokenizer *t, const char *s, size_t n,
                              kvlm_bpe_scratch *sc, size_t *n_sym);

#endif
