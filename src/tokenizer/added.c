/*
 * added.c - finding added tokens (special and non-special) in input text.
 *
 * Added tokens are matched on the raw text before normalization and
 * pre-tokenization, leftmost-longest like Hugging Face's AddedVocabulary
 * (an Aho-Corasick in LeftmostLongest mode). We use a byte trie: at each
 * position we walk the trie as far as the text allows and keep the longest
 * token end; cost per position is bounded by the longest token (at most
 * KVLM_TOK_MAX_TOKEN_LEN), independent of the number of tokens.
 *
 * Two tries, as HF's AddedVocabulary: tokens with normalized=false (or all
 * tokens when the model has no normalizer) are matched in the raw text;
 * tokens with normalized=true are matched after normalization, against
 * their normalized content (Llama 2's "<s>" becomes "\u2581<s>", so it
 * matches only where the normalized text has "\u2581<s>").
 *
 * Flags: special tokens are matched only with parse_special; non-special
 * ones always. lstrip/rstrip extend the match over adjacent whitespace (the
 * whitespace is consumed); single_word requires word boundaries around the
 * match.
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/added.h"

struct kvlm_trie_node {
    int32_t first_child;  /* index of first child, -1 if none */
    int32_t sibling;      /* next sibling, -1 if none */
    int32_t added;        /* index into t->added of a token ending here, -1 if none */
    uint8_t byte;
};

typedef struct trie_b { struct kvlm_trie_node *v; int32_t n, cap; } trie_b;

static kvlm_status trie_add(trie_b *tr, const char *s, size_t n, int32_t idx)
{
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        int32_t c = tr->v[node].first_child;
        while (c >= 0 && tr->v[c].byte != b) c = tr->v[c].sibling;
        if (c < 0) {
            if (tr->n == tr->cap) {
                int32_t nc = tr->cap * 2;
                struct kvlm_trie_node *p = realloc(tr->v, (size_t)nc * sizeof *p);
                if (!p) return kvlm_fail(KVLM_ERR_NOMEM, "added tokens: out of memory");
                tr->v = p;
                tr->cap = nc;
            }
            c = tr->n++;
            tr->v[c] = (struct kvlm_trie_node){-1, tr->v[node].first_child, -1, b};
            tr->v[node].first_child = c;
        }
        node = c;
    }
    /* the first definition of a content wins */
    if (tr->v[node].added < 0) tr->v[node].added = idx;
    return KVLM_OK;
}

static kvlm_status trie_init(trie_b *tr)
{
    tr->cap = 256;
    tr->n = 1;
    tr->v = malloc((size_t)tr->cap * sizeof *tr->v);
    if (!tr->v) return kvlm_fail(KVLM_ERR_NOMEM, "added tokens: out of memory");
    tr->v[0] = (struct kvlm_trie_node){-1, -1, -1, 0};
    return KVLM_OK;
}

kvlm_status kvlm_added_build(kvlm_tokenizer *t)
{
    trie_b raw = {0}, nrm = {0};
    kvlm_buf norm = {0};
    kvlm_status st = trie_init(&raw);
    if (!st) st = trie_init(&nrm);
    for (int i = 0; i < t->n_added && !st; i++) {
        const kvlm_added_token *a = &t->added[i];
        if (a->len == 0) continue;
        if (a->normalized && t->n_norm > 0) {
            st = kvlm_normalize(t->norm, t->n_norm, a->content, a->len, &norm);
            if (!st && norm.n) st = trie_add(&nrm, norm.p, norm.n, i);
        } else {
            st = trie_add(&raw, a->content, a->len, i);
        }
    }
    kvlm_buf_free(&norm);
    free(t->trie);
    free(t->ntrie);
    t->trie = raw.v;
    t->n_trie = raw.n;
    t->ntrie = nrm.v;
    t->n_ntrie = nrm.n;
    return st;
}

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static bool is_word(unsigned char c) { return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }

bool kvlm_added_find(const kvlm_tokenizer *t, bool normalized, const char *s, size_t n, size_t from,
                     bool parse_special, kvlm_added_match *m)
{
    const struct kvlm_trie_node *tr = normalized ? t->ntrie : t->trie;
    if (t->n_added == 0 || !tr || tr[0].first_child < 0) return false;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = from; i < n; i++) {
        int32_t node = 0, best = -1;
        size_t best_end = 0;
        for (size_t j = i; j < n; j++) {
            int32_t c = tr[node].first_child;
            while (c >= 0 && tr[c].byte != u[j]) c = tr[c].sibling;
            if (c < 0) break;
            node = c;
            int32_t a = tr[node].added;
            if (a >= 0 && (parse_special || !t->added[a].special)) {
                const kvlm_added_token *at = &t->added[a];
                if (at->single_word && ((i > 0 && is_word(u[i - 1])) || (j + 1 < n && is_word(u[j + 1]))))
                    continue;
                best = a;
                best_end = j + 1;
            }
        }
        if (best >= 0) {
            const kvlm_added_token *at = &t->added[best];
            size_t s0 = i, e0 = best_end;
            if (at->lstrip)
                while (s0 > from && is_space(u[s0 - 1])) s0--;
            if (at->rstrip)
                while (e0 < n && is_space(u[e0])) e0++;
            m->start = s0;
            m->end = e0;
            m->id = at->id;
            return true;
        }
    }
    return false;
}
