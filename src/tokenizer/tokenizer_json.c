/*
 * tokenizer_json.c - loads a Hugging Face tokenizer.json (+ the optional
 * tokenizer_config.json) into a kvlm_tokenizer.
 *
 * Supported: model BPE (merges as "a b" strings or [a, b] pairs,
 * byte_fallback, fuse_unk, ignore_merges, unk_token); normalizers Sequence /
 * Prepend / Replace(String) / NFC; pre-tokenizers Sequence / ByteLevel /
 * Split(Regex|String, behavior, invert) / Metaspace / Digits; post-processor
 * TemplateProcessing (BOS/EOS) / ByteLevel / Sequence; decoders ByteLevel,
 * Metaspace and the SentencePiece Sequence (Replace, ByteFallback, Fuse,
 * Strip). Anything else is rejected with KVLM_ERR_UNSUPPORTED naming the
 * component, never silently ignored (except BPE dropout, meaningless for
 * inference, and decoder parts with no effect on our byte-exact decode).
 *
 * Untrusted input: jansson bounds nesting depth (2048), every id is checked
 * against [0, KVLM_TOK_MAX_VOCAB), duplicate ids and merges naming missing
 * tokens are errors that name the entry.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

typedef struct jl {
    kvlm_tokenizer *t;
    const char *name;
    bool bytelevel;
    char *tmp; /* scratch for un-mapping byte-level strings */
    size_t tmp_cap;
} jl;

static const char *jstr(json_t *o, const char *key) /* NULL if absent / not a string */
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool jbool(json_t *o, const char *key, bool def)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

/* Converts a vocabulary-form string to internal form; returns pointer/len. */
static kvlm_status to_internal(jl *L, const char *s, size_t n, const char **out, size_t *out_len)
{
    if (!L->bytelevel) {
        *out = s;
        *out_len = n;
        return KVLM_OK;
    }
    if (n + 1 > L->tmp_cap) {
        size_t cap = n + 64;
        char *p = realloc(L->tmp, cap);
        if (!p) return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", L->name);
        L->tmp = p;
        L->tmp_cap = cap;
    }
    long r = kvlm_bytelevel_unmap(s, n, L->tmp);
    if (r < 0) return kvlm_fail(KVLM_ERR_FORMAT, "%s: token '%.64s' is not valid UTF-8", L->name, s);
    *out = L->tmp;
    *out_len = (size_t)r;
    return KVLM_OK;
}

static int32_t find_vocab_form(jl *L, const char *s, size_t n)
{
    const char *p;
    size_t l;
    if (to_internal(L, s, n, &p, &l)) return -1;
    return kvlm_vocab_find(&L->t->vocab, p, l);
}

static kvlm_status escape_literal(const char *s, kvlm_buf *out)
{
    kvlm_status st = KVLM_OK;
    for (; *s && !st; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x80 && !((c | 32) >= 'a' && (c | 32) <= 'z') && !(c >= '0' && c <= '9') && c != ' ')
            st = kvlm_buf_put(out, "\\", 1);
        if (!st) st = kvlm_buf_put(out, s, 1);
    }
    return st;
}

static kvlm_status parse_pattern(jl *L, json_t *pat, const char *what, void **re)
{
    const char *rx = jstr(pat, "Regex"), *lit = jstr(pat, "String");
    if (rx) return kvlm_regex_compile(rx, strlen(rx), what, re);
    if (lit) {
        kvlm_buf b = {0};
        kvlm_status st = escape_literal(lit, &b);
        if (!st) st = kvlm_regex_compile(b.p ? b.p : "", b.n, what, re);
        kvlm_buf_free(&b);
        return st;
    }
    return kvlm_fail(KVLM_ERR_FORMAT, "%s: %s: pattern is neither {\"Regex\"} nor {\"String\"}", L->name, what);
}

/* ---- normalizer ---------------------------------------------------------- */
static kvlm_status add_norm(jl *L, json_t *n)
{
    kvlm_tokenizer *t = L->t;
    const char *type = jstr(n, "type");
    if (!type) return kvlm_fail(KVLM_ERR_FORMAT, "%s: normalizer without a \"type\"", L->name);
    if (strcmp(type, "Sequence") == 0) {
        json_t *arr = json_object_get(n, "normalizers");
        if (!json_is_array(arr)) return kvlm_fail(KVLM_ERR_FORMAT, "%s: normalizer Sequence without a list", L->name);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            kvlm_status st = add_norm(L, json_array_get(arr, i));
            if (st) return st;
        }
        return KVLM_OK;
    }
    if (t->n_norm >= KVLM_TOK_MAX_PRETOK)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: more than %d normalizers", L->name, KVLM_TOK_MAX_PRETOK);
    kvlm_norm_step *s = &t->norm[t->n_norm];
    memset(s, 0, sizeof *s);
    if (strcmp(type, "Prepend") == 0) {
        const char *p = jstr(n, "prepend");
        if (!p) return kvlm_fail(KVLM_ERR_FORMAT, "%s: normalizer Prepend without \"prepend\"", L->name);
        s->type = KVLM_NORM_PREPEND;
        s->a = strdup(p);
        s->a_len = strlen(p);
        if (!s->a) return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", L->name);
    } else if (strcmp(type, "Replace") == 0) {
        json_t *pat = json_object_get(n, "pattern");
        const char *lit = jstr(pat, "String"), *content = jstr(n, "content");
        if (!lit || !content)
            return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: normalizer Replace supports only a String pattern with content", L->name);
        s->type = KVLM_NORM_REPLACE;
        s->a = strdup(lit);
        s->b = strdup(content);
        if (!s->a || !s->b) { free(s->a); free(s->b); return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", L->name); }
        s->a_len = strlen(lit);
        s->b_len = strlen(content);
    } else if (strcmp(type, "NFC") == 0) {
        s->type = KVLM_NORM_NFC;
    } else {
        return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: normalizer type \"%s\" is not supported (supported: Sequence, Prepend, Replace, NFC)",
                         L->name, type);
    }
    t->n_norm++;
    return KVLM_OK;
}

/* ---- pre-tokenizer ------------------------------------------------------- */
static kvlm_status parse_behavior(jl *L, const char *b, kvlm_split_behavior *out)
{
    static const struct { const char *name; kvlm_split_behavior v; } map[] = {
        {"Removed", KVLM_SPLIT_REMOVED},          {"Isolated", KVLM_SPLIT_ISOLATED},
        {"MergedWithPrevious", KVLM_SPLIT_MERGED_PREV}, {"MergedWithNext", KVLM_SPLIT_MERGED_NEXT},
        {"Contiguous", KVLM_SPLIT_CONTIGUOUS},
    };
    for (size_t i = 0; b && i < sizeof map / sizeof *map; i++)
        if (strcmp(b, map[i].name) == 0) { *out = map[i].v; return KVLM_OK; }
    return kvlm_fail(KVLM_ERR_FORMAT, "%s: unknown split behavior \"%s\"", L->name, b ? b : "(none)");
}

static kvlm_status add_pretok(jl *L, json_t *p)
{
    kvlm_tokenizer *t = L->t;
    const char *type = jstr(p, "type");
    if (!type) return kvlm_fail(KVLM_ERR_FORMAT, "%s: pre_tokenizer without a \"type\"", L->name);
    if (strcmp(type, "Sequence") == 0) {
        json_t *arr = json_object_get(p, "pretokenizers");
        if (!json_is_array(arr)) return kvlm_fail(KVLM_ERR_FORMAT, "%s: pre_tokenizer Sequence without a list", L->name);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            kvlm_status st = add_pretok(L, json_array_get(arr, i));
            if (st) return st;
        }
        return KVLM_OK;
    }
    if (t->n_pretok >= KVLM_TOK_MAX_PRETOK)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: more than %d pre-tokenizers", L->name, KVLM_TOK_MAX_PRETOK);
    kvlm_pretok_step *s = &t->pretok[t->n_pretok];
    memset(s, 0, sizeof *s);
    kvlm_status st = KVLM_OK;
    if (strcmp(type, "ByteLevel") == 0) {
        s->type = KVLM_PRETOK_BYTELEVEL;
        s->add_prefix_space = jbool(p, "add_prefix_space", false);
        if (jbool(p, "use_regex", true))
            st = kvlm_regex_compile(kvlm_regex_gpt2, strlen(kvlm_regex_gpt2), "ByteLevel regex", &s->re);
    } else if (strcmp(type, "Split") == 0) {
        s->type = KVLM_PRETOK_SPLIT;
        s->invert = jbool(p, "invert", false);
        st = parse_behavior(L, jstr(p, "behavior"), &s->behavior);
        if (!st) st = parse_pattern(L, json_object_get(p, "pattern"), "Split pre-tokenizer", &s->re);
    } else if (strcmp(type, "Metaspace") == 0) {
        s->type = KVLM_PRETOK_METASPACE;
        const char *r = jstr(p, "replacement");
        if (!r) r = "\xe2\x96\x81";
        if (strlen(r) == 0 || strlen(r) > 4)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: Metaspace replacement must be one character", L->name);
        memcpy(s->repl, r, strlen(r));
        s->repl_len = (int)strlen(r);
        const char *scheme = jstr(p, "prepend_scheme");
        if (scheme) {
            if (strcmp(scheme, "always") == 0) s->prepend_scheme = 0;
            else if (strcmp(scheme, "first") == 0) s->prepend_scheme = 1;
            else if (strcmp(scheme, "never") == 0) s->prepend_scheme = 2;
            else return kvlm_fail(KVLM_ERR_FORMAT, "%s: Metaspace prepend_scheme \"%s\" unknown", L->name, scheme);
        } else {
            s->prepend_scheme = jbool(p, "add_prefix_space", true) ? 0 : 2;
        }
        s->split = jbool(p, "split", true);
    } else if (strcmp(type, "Digits") == 0) {
        s->type = KVLM_PRETOK_DIGITS;
        s->individual_digits = jbool(p, "individual_digits", false);
        /* Rust char::is_numeric is Unicode N (Nd, Nl, No) */
        const char *rx = s->individual_digits ? "\\p{N}" : "\\p{N}+";
        st = kvlm_regex_compile(rx, strlen(rx), "Digits pre-tokenizer", &s->re);
    } else if (strcmp(type, "Punctuation") == 0) {
        s->type = KVLM_PRETOK_SPLIT;
        const char *b = jstr(p, "behavior");
        st = parse_behavior(L, b ? b : "Isolated", &s->behavior);
        static const char rx[] = "[\\p{P}!-/:-@\\[-`{-~]";
        if (!st) st = kvlm_regex_compile(rx, strlen(rx), "Punctuation pre-tokenizer", &s->re);
    } else {
        return kvlm_fail(KVLM_ERR_UNSUPPORTED,
                         "%s: pre_tokenizer type \"%s\" is not supported (supported: Sequence, ByteLevel, Split, Metaspace, Digits, Punctuation)",
                         L->name, type);
    }
    if (st) return kvlm_fail_prefix(st, "%s", L->name);
    t->n_pretok++;
    return KVLM_OK;
}

static bool has_type(json_t *o, const char *list_key, const char *type)
{
    const char *ty = jstr(o, "type");
    if (!ty) return false;
    if (strcmp(ty, type) == 0) return true;
    if (strcmp(ty, "Sequence") == 0) {
        json_t *arr = json_object_get(o, list_key);
        for (size_t i = 0; i < json_array_size(arr); i++)
            if (has_type(json_array_get(arr, i), list_key, type)) return true;
    }
    return false;
}

/* ---- post-processor -------------------------------------------------------- */
static kvlm_status parse_post(jl *L, json_t *p)
{
    kvlm_tokenizer *t = L->t;
    const char *type = jstr(p, "type");
    if (!type || strcmp(type, "ByteLevel") == 0) return KVLM_OK;
    if (strcmp(type, "Sequence") == 0) {
        json_t *arr = json_object_get(p, "processors");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            kvlm_status st = parse_post(L, json_array_get(arr, i));
            if (st) return st;
        }
        return KVLM_OK;
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: post_processor type \"%s\" is not supported", L->name, type);
    json_t *single = json_object_get(p, "single"), *specials = json_object_get(p, "special_tokens");
    size_t n = json_array_size(single);
    t->add_bos = t->add_eos = false;
    for (size_t i = 0; i < n; i++) {
        json_t *sp = json_object_get(json_array_get(single, i), "SpecialToken");
        if (!sp) continue;
        const char *name = jstr(sp, "id");
        json_t *ids = json_object_get(json_object_get(specials, name ? name : ""), "ids");
        json_t *id0 = json_array_get(ids, 0);
        if (!json_is_integer(id0) || json_array_size(ids) != 1)
            return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: TemplateProcessing special token \"%s\" must map to one id",
                             L->name, name ? name : "?");
        json_int_t id = json_integer_value(id0);
        if (id < 0 || id >= t->vocab.n)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: TemplateProcessing id %lld out of range", L->name, (long long)id);
        if (i == 0) { t->add_bos = true; t->bos_id = (int32_t)id; }
        else if (i == n - 1) { t->add_eos = true; t->eos_id = (int32_t)id; }
        else return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: TemplateProcessing with a special token in the middle", L->name);
    }
    return KVLM_OK;
}

/* ---- model ---------------------------------------------------------------- */
static kvlm_status load_model(jl *L, json_t *root)
{
    kvlm_tokenizer *t = L->t;
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) return kvlm_fail(KVLM_ERR_FORMAT, "%s: no \"model\" object", L->name);
    const char *mt = jstr(model, "type");
    if (mt && strcmp(mt, "BPE") != 0)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: model type \"%s\" is not supported (only BPE)", L->name, mt);
    const char *pfx = jstr(model, "continuing_subword_prefix"), *sfx = jstr(model, "end_of_word_suffix");
    if ((pfx && *pfx) || (sfx && *sfx))
        return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: BPE continuing_subword_prefix/end_of_word_suffix are not supported", L->name);
    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    if (!json_is_object(vocab)) return kvlm_fail(KVLM_ERR_FORMAT, "%s: model.vocab is not an object", L->name);
    if (merges && !json_is_array(merges)) return kvlm_fail(KVLM_ERR_FORMAT, "%s: model.merges is not a list", L->name);
    t->byte_fallback = jbool(model, "byte_fallback", false);
    t->fuse_unk = jbool(model, "fuse_unk", false);
    t->ignore_merges = jbool(model, "ignore_merges", false);

    /* id space: vocab ids and added-token ids */
    json_int_t max_id = -1;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val)) return kvlm_fail(KVLM_ERR_FORMAT, "%s: model.vocab[\"%.64s\"] is not an integer", L->name, key);
        json_int_t id = json_integer_value(val);
        if (id < 0 || id >= KVLM_TOK_MAX_VOCAB)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: model.vocab[\"%.64s\"] = %lld is out of range [0, %d)", L->name, key,
                             (long long)id, KVLM_TOK_MAX_VOCAB);
        if (id > max_id) max_id = id;
    }
    json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_array(added)) return kvlm_fail(KVLM_ERR_FORMAT, "%s: added_tokens is not a list", L->name);
    if (json_array_size(added) > KVLM_TOK_MAX_ADDED)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: more than %d added tokens", L->name, KVLM_TOK_MAX_ADDED);
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i), *idv = json_object_get(a, "id");
        if (!json_is_integer(idv) || !jstr(a, "content"))
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: added_tokens[%zu] needs an integer id and a content string", L->name, i);
        json_int_t id = json_integer_value(idv);
        if (id < 0 || id >= KVLM_TOK_MAX_VOCAB)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: added_tokens[%zu].id = %lld out of range", L->name, i, (long long)id);
        if (id > max_id) max_id = id;
    }
    if (max_id < 0) return kvlm_fail(KVLM_ERR_FORMAT, "%s: empty vocabulary", L->name);
    kvlm_status st = kvlm_vocab_init(&t->vocab, (int32_t)max_id + 1);
    if (st) return kvlm_fail_prefix(st, "%s", L->name);
    json_object_foreach(vocab, key, val) {
        const char *p;
        size_t l;
        if ((st = to_internal(L, key, strlen(key), &p, &l))) return st;
        if ((st = kvlm_vocab_set(&t->vocab, (int32_t)json_integer_value(val), p, l, 0, KVLM_TOKATTR_NORMAL)))
            return kvlm_fail_prefix(st, "%s: model.vocab[\"%.64s\"]", L->name, key);
    }
    if ((st = kvlm_vocab_build_index(&t->vocab))) return st;

    /* added tokens */
    t->added = calloc(json_array_size(added) + 1, sizeof *t->added);
    if (!t->added) return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", L->name);
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        const char *c = jstr(a, "content");
        kvlm_added_token *at = &t->added[t->n_added];
        at->id = (int32_t)json_integer_value(json_object_get(a, "id"));
        at->len = strlen(c);
        if (at->len > KVLM_TOK_MAX_TOKEN_LEN)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: added_tokens[%zu] content too long", L->name, i);
        at->content = strdup(c);
        if (!at->content) return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", L->name);
        at->special = jbool(a, "special", false);
        at->lstrip = jbool(a, "lstrip", false);
        at->rstrip = jbool(a, "rstrip", false);
        at->single_word = jbool(a, "single_word", false);
        at->normalized = jbool(a, "normalized", !at->special);
        t->n_added++;
        /* an added token whose id holds a different vocab text is malformed */
        if (!(t->vocab.attr[at->id] & KVLM_TOKATTR_UNUSED)) {
            int32_t same = kvlm_vocab_find(&t->vocab, c, at->len);
            int32_t same_bl = find_vocab_form(L, c, at->len);
            if (same != at->id && same_bl != at->id)
                return kvlm_fail(KVLM_ERR_FORMAT, "%s: added token \"%.64s\" has id %d, which the vocabulary gives to another text",
                                 L->name, c, (int)at->id);
        }
    }

    /* merges */
    size_t nm = json_array_size(merges);
    if (nm > (size_t)INT32_MAX / 2) return kvlm_fail(KVLM_ERR_FORMAT, "%s: too many merges", L->name);
    if (nm && (st = kvlm_vocab_reserve_merges(&t->vocab, nm))) return st;
    kvlm_buf cat = {0};
    for (size_t i = 0; i < nm && !st; i++) {
        json_t *m = json_array_get(merges, i);
        const char *a, *b;
        size_t al, bl;
        if (json_is_string(m)) {
            const char *s = json_string_value(m);
            const char *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                st = kvlm_fail(KVLM_ERR_FORMAT, "%s: merges[%zu] \"%.64s\" is not \"left right\"", L->name, i, s);
                break;
            }
            a = s; al = (size_t)(sp - s); b = sp + 1; bl = strlen(b);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0)); al = strlen(a);
            b = json_string_value(json_array_get(m, 1)); bl = strlen(b);
        } else {
            st = kvlm_fail(KVLM_ERR_FORMAT, "%s: merges[%zu] is neither a string nor a pair of strings", L->name, i);
            break;
        }
        int32_t ia = find_vocab_form(L, a, al), ib = find_vocab_form(L, b, bl);
        cat.n = 0;
        if ((st = kvlm_buf_put(&cat, a, al)) || (st = kvlm_buf_put(&cat, b, bl))) break;
        int32_t im = find_vocab_form(L, cat.p, cat.n);
        if (ia < 0 || ib < 0 || im < 0) {
            st = kvlm_fail(KVLM_ERR_FORMAT, "%s: merges[%zu] \"%.*s %.*s\" names a token missing from the vocabulary (%s)",
                           L->name, i, (int)(al > 64 ? 64 : al), a, (int)(bl > 64 ? 64 : bl), b,
                           ia < 0 ? "left" : ib < 0 ? "right" : "merged");
            break;
        }
        st = kvlm_vocab_add_merge(&t->vocab, ia, ib, (int32_t)i, im);
    }
    kvlm_buf_free(&cat);
    if (st) return st;
    const char *unk = jstr(model, "unk_token");
    if (unk) {
        t->unk_id = find_vocab_form(L, unk, strlen(unk));
        if (t->unk_id < 0) return kvlm_fail(KVLM_ERR_FORMAT, "%s: model.unk_token \"%.64s\" is not in the vocabulary", L->name, unk);
    }
    return KVLM_OK;
}

static int32_t token_id_of(jl *L, json_t *v) /* string or {"content": ...} */
{
    const char *s = json_is_string(v) ? json_string_value(v) : jstr(v, "content");
    if (!s) return -1;
    int32_t id = -1;
    for (int i = 0; i < L->t->n_added && id < 0; i++)
        if (strcmp(L->t->added[i].content, s) == 0) id = L->t->added[i].id;
    return id >= 0 ? id : find_vocab_form(L, s, strlen(s));
}

static int32_t first_present(jl *L, const char *const *names)
{
    for (; *names; names++) {
        json_t *s = json_string(*names);
        int32_t id = token_id_of(L, s);
        json_decref(s);
        if (id >= 0) return id;
    }
    return -1;
}

static kvlm_status parse_config(jl *L, json_t *cfg)
{
    kvlm_tokenizer *t = L->t;
    json_t *v;
    if ((v = json_object_get(cfg, "bos_token")) && !json_is_null(v)) {
        int32_t id = token_id_of(L, v);
        if (id < 0) return kvlm_fail(KVLM_ERR_FORMAT, "%s: tokenizer_config bos_token is not a token", L->name);
        t->bos_id = id;
    }
    if ((v = json_object_get(cfg, "eos_token")) && !json_is_null(v)) {
        int32_t id = token_id_of(L, v);
        if (id < 0) return kvlm_fail(KVLM_ERR_FORMAT, "%s: tokenizer_config eos_token is not a token", L->name);
        t->eos_id = id;
    }
    if ((v = json_object_get(cfg, "pad_token")) && !json_is_null(v)) t->pad_id = token_id_of(L, v);
    if (json_is_boolean(v = json_object_get(cfg, "add_bos_token"))) t->add_bos = json_is_true(v);
    if (json_is_boolean(v = json_object_get(cfg, "add_eos_token"))) t->add_eos = json_is_true(v);
    v = json_object_get(cfg, "chat_template");
    const char *tpl = json_is_string(v) ? json_string_value(v) : NULL;
    for (size_t i = 0; !tpl && json_is_array(v) && i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        const char *nm = jstr(e, "name");
        if (nm && strcmp(nm, "default") == 0) tpl = jstr(e, "template");
    }
    if (tpl && !(t->chat_template = strdup(tpl))) return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", L->name);
    return KVLM_OK;
}

static kvlm_status load(jl *L, json_t *root, json_t *cfg)
{
    kvlm_tokenizer *t = L->t;
    json_t *pre = json_object_get(root, "pre_tokenizer"), *dec = json_object_get(root, "decoder");
    json_t *norm = json_object_get(root, "normalizer"), *post = json_object_get(root, "post_processor");
    L->bytelevel = has_type(pre, "pretokenizers", "ByteLevel") || has_type(dec, "decoders", "ByteLevel");
    t->kind = L->bytelevel ? KVLM_TOK_BYTELEVEL : KVLM_TOK_SPM;
    kvlm_status st = load_model(L, root);
    if (st) return st;
    if (json_is_object(norm) && (st = add_norm(L, norm))) return st;
    if (json_is_object(pre) && (st = add_pretok(L, pre))) return st;
    if (json_is_object(post) && (st = parse_post(L, post))) return st;
    if (json_is_object(dec)) {
        t->strip_leading_space = false;
        if (has_type(dec, "decoders", "Strip")) t->strip_leading_space = true;
        if (has_type(dec, "decoders", "Metaspace")) t->strip_leading_space = true;
    }
    /* defaults when the config does not say */
    static const char *const eos_names[] = {"</s>", "<|endoftext|>", "<|end_of_text|>", "<|im_end|>", "<eos>", NULL};
    static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", NULL};
    if (t->eos_id < 0) t->eos_id = first_present(L, eos_names);
    t->eot_id = first_present(L, eot_names);
    if (cfg && (st = parse_config(L, cfg))) return st;
    return kvlm_tokenizer_finish(t);
}

kvlm_status kvlm_tokenizer_from_json(const char *json, size_t len, const char *config_json, size_t config_len,
                                     const char *name, kvlm_tokenizer **out)
{
    *out = NULL;
    json_error_t err;
    json_t *root = json_loadb(json, len, 0, &err);
    if (!root)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: invalid JSON at line %d column %d (byte %d): %s", name, err.line,
                         err.column, err.position, err.text);
    json_t *cfg = NULL;
    if (config_json) {
        cfg = json_loadb(config_json, config_len, 0, &err);
        if (!cfg) {
            json_decref(root);
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: tokenizer_config.json: invalid JSON at line %d column %d: %s", name,
                             err.line, err.column, err.text);
        }
    }
    kvlm_tokenizer *t;
    kvlm_status st = kvlm_tokenizer_alloc(&t);
    if (!st) {
        snprintf(t->source, sizeof t->source, "%.63s", name);
        jl L = {t, name, false, NULL, 0};
        st = json_is_object(root) ? load(&L, root, json_is_object(cfg) ? cfg : NULL)
                                  : kvlm_fail(KVLM_ERR_FORMAT, "%s: top level is not an object", name);
        free(L.tmp);
        if (st) kvlm_tokenizer_free(t);
        else *out = t;
    }
    json_decref(root);
    json_decref(cfg);
    return st;
}
