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

static kvlm_status trie_add(kvlm_tokenizer *t, int32_t *cap, const char *s, size_t n, int32_t idx)
{
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        int32_t c = t->trie[node].first_child;
        while (c >= 0 && t->trie[c].byte != b) c = t->trie[c].sibling;
        if (c < 0) {
            if (t->n_trie == *cap) {
                int32_t nc = *cap * 2;
                struct kvlm_trie_node *p = realloc(t->trie, (size_t)nc * sizeof *p);
                if (!p) return kvlm_fail(KVLM_ERR_NOMEM, "added tokens: out of memory");
                t->trie = p;
                *cap = nc;
            }
            c = t->n_trie++;
            t->trie[c] = (struct kvlm_trie_node){-1, t->trie[node].first_child, -1, b};
            t->trie[node].first_child = c;
        }
        node = c;
    }
    /* the first definition of a content wins */
    if (t->trie[node].added < 0) t->trie[node].added = idx;
    return KVLM_OK;
}

kvlm_status kvlm_added_build(kvlm_tokenizer *t)
{
    free(t->trie);
    int32_t cap = 256;
    t->trie = malloc((size_t)cap * sizeof *t->trie);
    if (!t->trie) return kvlm_fail(KVLM_ERR_NOMEM, "added tokens: out of memory");
    t->trie[0] = (struct kvlm_trie_node){-1, -1, -1, 0};
    t->n_trie = 1;
    for (int i = 0; i < t->n_added; i++) {
        if (t->added[i].len == 0) continue;
        kvlm_status st = trie_add(t, &cap, t->added[i].content, t->added[i].len, i);
        if (st) return st;
    }
    return KVLM_OK;
}

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static bool is_word(unsigned char c) { return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }

bool kvlm_added_find(const kvlm_tokenizer *t, const char *s, size_t n, size_t from, bool parse_special,
                     kvlm_added_match *m)
{
    if (t->n_added == 0) return false;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = from; i < n; i++) {
        int32_t node = 0, best = -1;
        size_t best_end = 0;
        for (size_t j = i; j < n; j++) {
            int32_t c = t->trie[node].first_child;
            while (c >= 0 && t->trie[c].byte != u[j]) c = t->trie[c].sibling;
            if (c < 0) break;
            node = c;
            int32_t a = t->trie[node].added;
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
