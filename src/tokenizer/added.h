/*
 * added.h - the added-token matcher (added.c): a byte trie over the added
 * tokens' contents, searched leftmost-longest.
 */
#ifndef KVLM_TOK_ADDED_H
#define KVLM_TOK_ADDED_H

#include "tokenizer/tokenizer.h"

typedef struct kvlm_added_match {
    size_t start, end;  /* [start, end) in the text, strip whitespace included */
    int32_t id;
} kvlm_added_match;

kvlm_status kvlm_added_build(kvlm_tokenizer *t);
/* Finds the first added token at or after `from`, in raw text (normalized
 * false: t->trie) or in normalized text (normalized true: t->ntrie). */
bool kvlm_added_find(const kvlm_tokenizer *t, bool normalized, const char *s, size_t n, size_t from,
                     bool parse_special, kvlm_added_match *m);

#endif
