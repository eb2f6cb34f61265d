/*
 * bpe_spm.c - front end of SentencePiece-style BPE (Llama 2, Mistral, Phi-3)
 * and the score -> merge-rank conversion for GGUF `llama` vocabularies.
 *
 * Initial symbols: each UTF-8 character of the (normalized) word that is a
 * vocabulary token. A character that is not (or a byte of invalid UTF-8)
 * becomes, with byte_fallback, one <0xNN> token per byte (only if all of
 * them exist), otherwise <unk> (consecutive <unk> fused when fuse_unk), as
 * in Hugging Face's BPE model.
 *
 * GGUF llama vocabularies have scores instead of merges. SentencePiece BPE
 * repeatedly merges the adjacent pair whose concatenation is a vocabulary
 * piece with the highest score (leftmost on ties). kvlm_spm_build_merges
 * turns that into merge rules: for each normal token and each split of its
 * text at a character boundary into two existing tokens, a rule
 * (left, right) -> token with rank = position of the token in descending
 * score order. bpe.c then runs unchanged. Cost: O(sum of token lengths).
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tokenizer/bpe_internal.h"

kvlm_status kvlm_bpe_spm_init(const kvlm_tokenizer *t, const char *s, size_t n,
                              kvlm_bpe_scratch *sc, size_t *n_sym)
{
    /* at most one symbol per byte */
    kvlm_status st = kvlm_bpe_reserve(sc, n);
    if (st) return st;
    const unsigned char *u = (const unsigned char *)s;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        int l = kvlm_utf8_valid_len(u + i, n - i);
        if (l == 0) l = 1; /* a stray byte is its own "character" */
        int32_t id = kvlm_vocab_find(&t->vocab, s + i, (size_t)l);
        if (id >= 0 && !(t->vocab.attr[id] & KVLM_TOKATTR_UNUSED)) {
            sc->sym[k++].id = id;
        } else {
            bool done = false;
            if (t->byte_fallback) {
                done = true;
                for (int j = 0; j < l; j++)
                    if (t->byte_tok[u[i + j]] < 0) done = false;
                if (done)
                    for (int j = 0; j < l; j++) sc->sym[k++].id = t->byte_tok[u[i + j]];
            }
            if (!done && t->unk_id >= 0 &&
                !(t->fuse_unk && k > 0 && sc->sym[k - 1].id == t->unk_id))
                sc->sym[k++].id = t->unk_id;
        }
        i += (size_t)l;
    }
    *n_sym = k;
    return KVLM_OK;
}

struct scored { float score; int32_t id; };
static int cmp_score_desc(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

kvlm_status kvlm_spm_build_merges(kvlm_tokenizer *t)
{
    kvlm_vocab *v = &t->vocab;
    struct scored *order = malloc((size_t)v->n * sizeof *order);
    if (!order) return kvlm_fail(KVLM_ERR_NOMEM, "SentencePiece merges: out of memory");
    int32_t m = 0;
    for (int32_t i = 0; i < v->n; i++)
        if ((v->attr[i] & KVLM_TOKATTR_NORMAL) && v->len[i] > 1) {
            order[m].score = v->score[i];
            order[m++].id = i;
        }
    qsort(order, (size_t)m, sizeof *order, cmp_score_desc);
    kvlm_status st = kvlm_vocab_reserve_merges(v, (uint64_t)m * 4);
    for (int32_t r = 0; r < m && !st; r++) {
        int32_t id = order[r].id;
        const unsigned char *s = (const unsigned char *)kvlm_vocab_text(v, id);
        size_t len = v->len[id];
        for (size_t cut = 1; cut < len && !st; cut++) {
            if ((s[cut] & 0xC0) == 0x80) continue; /* not a character boundary */
            int32_t a = kvlm_vocab_find(v, (const char *)s, cut);
            int32_t b = kvlm_vocab_find(v, (const char *)s + cut, len - cut);
            if (a < 0 || b < 0) continue;
            if ((v->attr[a] | v->attr[b]) & (KVLM_TOKATTR_CONTROL | KVLM_TOKATTR_UNUSED)) continue;
            st = kvlm_vocab_add_merge(v, a, b, r, id);
        }
    }
    free(order);
    return st;
}
