/*
 * gguf_vocab.c - builds a kvlm_tokenizer from the tokenizer.ggml.* keys of
 * an open GGUF (src/model/gguf.h), following Hugging Face semantics.
 *
 *   tokenizer.ggml.model = "gpt2"  byte-level BPE: tokens (byte-level form,
 *                                  un-mapped to raw bytes), merges, and the
 *                                  pre-tokenizer named by tokenizer.ggml.pre
 *                                  (presets.c);
 *                        = "llama" SentencePiece BPE: tokens, scores (merge
 *                                  ranks derived in bpe_spm.c), byte fallback
 *                                  through <0xNN> tokens, the "legacy" HF
 *                                  normalizer (Prepend U+2581, Replace ' ')
 *                                  unless add_space_prefix is false.
 * token_type: 1 normal, 2 unknown, 3 control (special added token), 4 user
 * defined (non-special added token), 5 unused, 6 byte.
 * Every array length is checked against the token count and every element
 * type is checked; special ids are checked against the vocabulary.
 *
 * Until src/model/gguf.c is in the tree, the three GGUF entry points used
 * here are weak references and loading a GGUF reports KVLM_ERR_UNSUPPORTED;
 * __has_include picks the strong references as soon as gguf.c exists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "model/gguf.h"
#include "tokenizer/tokenizer.h"

#if defined(__has_include)
#if __has_include("model/gguf.c")
#define KVLM_TOK_HAVE_GGUF 1
#endif
#endif
#ifndef KVLM_TOK_HAVE_GGUF
#pragma weak kvlm_gguf_open
#pragma weak kvlm_gguf_close
#pragma weak kvlm_gguf_find_kv
#endif

static bool have_reader(void)
{
#ifdef KVLM_TOK_HAVE_GGUF
    return true;
#else
    kvlm_status (*open_fn)(const char *, kvlm_gguf **) = kvlm_gguf_open;
    const kvlm_gguf_kv *(*find_fn)(const kvlm_gguf *, const char *) = kvlm_gguf_find_kv;
    void (*close_fn)(kvlm_gguf *) = kvlm_gguf_close;
    return open_fn && find_fn && close_fn;
#endif
}

static bool str_is(kvlm_str s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

static const kvlm_gguf_kv *find_arr(const kvlm_gguf *g, const char *key, kvlm_gguf_type et, uint64_t n_min,
                                    kvlm_status *st)
{
    const kvlm_gguf_kv *kv = kvlm_gguf_find_kv(g, key);
    if (!kv) return NULL;
    if (kv->type != KVLM_GGUF_ARRAY || kv->v.arr.type != et) {
        *st = kvlm_fail(KVLM_ERR_FORMAT, "GGUF key %s: expected an array of type %d (got type %d)", key, (int)et,
                        kv->type == KVLM_GGUF_ARRAY ? (int)kv->v.arr.type : (int)kv->type);
        return NULL;
    }
    if (kv->v.arr.n < n_min) {
        *st = kvlm_fail(KVLM_ERR_FORMAT, "GGUF key %s: %llu elements, fewer than the %llu tokens", key,
                        (unsigned long long)kv->v.arr.n, (unsigned long long)n_min);
        return NULL;
    }
    return kv;
}

static int64_t get_int(const kvlm_gguf *g, const char *key, int64_t def, kvlm_status *st)
{
    const kvlm_gguf_kv *kv = kvlm_gguf_find_kv(g, key);
    if (!kv) return def;
    switch (kv->type) {
    case KVLM_GGUF_UINT8: case KVLM_GGUF_UINT16: case KVLM_GGUF_UINT32: case KVLM_GGUF_UINT64:
        return kv->v.u64 > INT32_MAX ? (int64_t)INT32_MAX + 1 : (int64_t)kv->v.u64;
    case KVLM_GGUF_INT8: case KVLM_GGUF_INT16: case KVLM_GGUF_INT32: case KVLM_GGUF_INT64:
        return kv->v.i64;
    default:
        *st = kvlm_fail(KVLM_ERR_FORMAT, "GGUF key %s: not an integer", key);
        return def;
    }
}

static bool get_bool(const kvlm_gguf *g, const char *key, bool def)
{
    const kvlm_gguf_kv *kv = kvlm_gguf_find_kv(g, key);
    return kv && kv->type == KVLM_GGUF_BOOL ? kv->v.u64 != 0 : def;
}

static int32_t arr_i32(const kvlm_gguf_kv *kv, uint64_t i)
{
    int32_t x;
    memcpy(&x, (const char *)kv->v.arr.data + 4 * i, 4);
    return x;
}

static float arr_f32(const kvlm_gguf_kv *kv, uint64_t i)
{
    float x;
    memcpy(&x, (const char *)kv->v.arr.data + 4 * i, 4);
    return x;
}

static kvlm_status build(kvlm_tokenizer *t, const kvlm_gguf *g)
{
    kvlm_status st = KVLM_OK;
    const kvlm_gguf_kv *model = kvlm_gguf_find_kv(g, "tokenizer.ggml.model");
    if (!model || model->type != KVLM_GGUF_STRING)
        return kvlm_fail(KVLM_ERR_FORMAT, "GGUF: tokenizer.ggml.model missing or not a string");
    bool gpt2 = str_is(model->v.str, "gpt2"), llama = str_is(model->v.str, "llama");
    if (!gpt2 && !llama)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED, "GGUF: tokenizer.ggml.model \"%.*s\" is not supported (gpt2, llama)",
                         (int)(model->v.str.len > 32 ? 32 : model->v.str.len), model->v.str.ptr);
    t->kind = gpt2 ? KVLM_TOK_BYTELEVEL : KVLM_TOK_SPM;
    const kvlm_gguf_kv *toks = find_arr(g, "tokenizer.ggml.tokens", KVLM_GGUF_STRING, 1, &st);
    if (!toks) return st ? st : kvlm_fail(KVLM_ERR_FORMAT, "GGUF: tokenizer.ggml.tokens missing");
    uint64_t n = toks->v.arr.n;
    if (n > KVLM_TOK_MAX_VOCAB) return kvlm_fail(KVLM_ERR_FORMAT, "GGUF: %llu tokens exceed the limit", (unsigned long long)n);
    const kvlm_gguf_kv *types = find_arr(g, "tokenizer.ggml.token_type", KVLM_GGUF_INT32, n, &st);
    if (st) return st;
    const kvlm_gguf_kv *scores = find_arr(g, "tokenizer.ggml.scores", KVLM_GGUF_FLOAT32, n, &st);
    if (st) return st;
    if ((st = kvlm_vocab_init(&t->vocab, (int32_t)n))) return st;
    char *tmp = malloc(KVLM_TOK_MAX_TOKEN_LEN + 8);
    t->added = calloc(n, sizeof *t->added);
    if (!tmp || !t->added) { free(tmp); return kvlm_fail(KVLM_ERR_NOMEM, "GGUF vocabulary: out of memory"); }
    for (uint64_t i = 0; i < n && !st; i++) {
        kvlm_str s = toks->v.arr.strs[i];
        int32_t type = types ? arr_i32(types, i) : 1;
        if (s.len > KVLM_TOK_MAX_TOKEN_LEN) {
            st = kvlm_fail(KVLM_ERR_FORMAT, "GGUF: token %llu longer than %d bytes", (unsigned long long)i, KVLM_TOK_MAX_TOKEN_LEN);
            break;
        }
        const char *text = s.ptr;
        size_t len = s.len;
        bool added = type == 3 || type == 4;
        if (gpt2 && !added) {
            long r = kvlm_bytelevel_unmap(s.ptr, s.len, tmp);
            if (r < 0) { st = kvlm_fail(KVLM_ERR_FORMAT, "GGUF: token %llu is not valid UTF-8", (unsigned long long)i); break; }
            text = tmp;
            len = (size_t)r;
        }
        uint8_t attr = type == 3 ? KVLM_TOKATTR_CONTROL : type == 4 ? KVLM_TOKATTR_USER : KVLM_TOKATTR_NORMAL;
        if (type == 2) attr = KVLM_TOKATTR_UNKNOWN | KVLM_TOKATTR_CONTROL;
        if ((st = kvlm_vocab_set(&t->vocab, (int32_t)i, text, len, scores ? arr_f32(scores, i) : 0, attr))) break;
        if (added && len > 0) {
            kvlm_added_token *a = &t->added[t->n_added];
            a->content = malloc(len + 1);
            if (!a->content) { st = kvlm_fail(KVLM_ERR_NOMEM, "GGUF vocabulary: out of memory"); break; }
            memcpy(a->content, text, len);
            a->content[len] = 0;
            a->len = len;
            a->id = (int32_t)i;
            a->special = type == 3;
            t->n_added++;
        }
    }
    free(tmp);
    if (st) return st;
    if ((st = kvlm_vocab_build_index(&t->vocab))) return st;
    if (gpt2) {
        const kvlm_gguf_kv *merges = find_arr(g, "tokenizer.ggml.merges", KVLM_GGUF_STRING, 0, &st);
        if (st) return st;
        if (!merges) return kvlm_fail(KVLM_ERR_FORMAT, "GGUF: gpt2 vocabulary without tokenizer.ggml.merges");
        if ((st = kvlm_vocab_reserve_merges(&t->vocab, merges->v.arr.n))) return st;
        char *buf = malloc(2 * KVLM_TOK_MAX_TOKEN_LEN + 8);
        if (!buf) return kvlm_fail(KVLM_ERR_NOMEM, "GGUF merges: out of memory");
        for (uint64_t i = 0; i < merges->v.arr.n && !st; i++) {
            kvlm_str m = merges->v.arr.strs[i];
            const char *sp = m.len ? memchr(m.ptr, ' ', m.len) : NULL;
            if (!sp || m.len > 2 * KVLM_TOK_MAX_TOKEN_LEN) {
                st = kvlm_fail(KVLM_ERR_FORMAT, "GGUF: tokenizer.ggml.merges[%llu] is not \"left right\"", (unsigned long long)i);
                break;
            }
            size_t al = (size_t)(sp - m.ptr);
            long ra = kvlm_bytelevel_unmap(m.ptr, al, buf);
            long rb = ra < 0 ? -1 : kvlm_bytelevel_unmap(sp + 1, m.len - al - 1, buf + ra);
            int32_t a = ra < 0 ? -1 : kvlm_vocab_find(&t->vocab, buf, (size_t)ra);
            int32_t b = rb < 0 ? -1 : kvlm_vocab_find(&t->vocab, buf + ra, (size_t)rb);
            int32_t c = rb < 0 ? -1 : kvlm_vocab_find(&t->vocab, buf, (size_t)(ra + rb));
            if (a < 0 || b < 0 || c < 0) {
                st = kvlm_fail(KVLM_ERR_FORMAT, "GGUF: tokenizer.ggml.merges[%llu] \"%.*s\" names a missing token",
                               (unsigned long long)i, (int)(m.len > 64 ? 64 : m.len), m.ptr);
                break;
            }
            st = kvlm_vocab_add_merge(&t->vocab, a, b, (int32_t)i, c);
        }
        free(buf);
        if (st) return st;
        const kvlm_gguf_kv *pre = kvlm_gguf_find_kv(g, "tokenizer.ggml.pre");
        if (pre && pre->type == KVLM_GGUF_STRING) st = kvlm_tokenizer_set_preset(t, pre->v.str.ptr, (size_t)pre->v.str.len);
        else st = kvlm_tokenizer_set_preset(t, "gpt-2", 5);
        if (st) return kvlm_fail_prefix(st, "GGUF tokenizer.ggml.pre");
    } else {
        if (!scores) return kvlm_fail(KVLM_ERR_FORMAT, "GGUF: llama vocabulary without tokenizer.ggml.scores");
        t->byte_fallback = true;
        t->fuse_unk = true;
        t->strip_leading_space = true;
        if (get_bool(g, "tokenizer.ggml.add_space_prefix", true)) {
            t->norm[0] = (kvlm_norm_step){KVLM_NORM_PREPEND, strdup("\xe2\x96\x81"), 3, NULL, 0};
            t->norm[1] = (kvlm_norm_step){KVLM_NORM_REPLACE, strdup(" "), 1, strdup("\xe2\x96\x81"), 3};
            t->n_norm = 2;
            if (!t->norm[0].a || !t->norm[1].a || !t->norm[1].b) return kvlm_fail(KVLM_ERR_NOMEM, "GGUF: out of memory");
        } else {
            t->norm[0] = (kvlm_norm_step){KVLM_NORM_REPLACE, strdup(" "), 1, strdup("\xe2\x96\x81"), 3};
            t->n_norm = 1;
            if (!t->norm[0].a || !t->norm[0].b) return kvlm_fail(KVLM_ERR_NOMEM, "GGUF: out of memory");
        }
        if ((st = kvlm_spm_build_merges(t))) return st;
    }
    int64_t bos = get_int(g, "tokenizer.ggml.bos_token_id", -1, &st);
    int64_t eos = get_int(g, "tokenizer.ggml.eos_token_id", -1, &st);
    int64_t unk = get_int(g, "tokenizer.ggml.unknown_token_id", -1, &st);
    int64_t pad = get_int(g, "tokenizer.ggml.padding_token_id", -1, &st);
    int64_t eot = get_int(g, "tokenizer.ggml.eot_token_id", -1, &st);
    if (st) return st;
    const int64_t ids[5] = {bos, eos, unk, pad, eot};
    static const char *const names[5] = {"bos_token_id", "eos_token_id", "unknown_token_id", "padding_token_id", "eot_token_id"};
    for (int i = 0; i < 5; i++)
        if (ids[i] < -1 || ids[i] >= (int64_t)n)
            return kvlm_fail(KVLM_ERR_FORMAT, "GGUF: tokenizer.ggml.%s = %lld is out of range [0, %llu)", names[i],
                             (long long)ids[i], (unsigned long long)n);
    t->bos_id = (int32_t)bos;
    t->eos_id = (int32_t)eos;
    t->unk_id = llama ? (int32_t)unk : -1;
    t->pad_id = (int32_t)pad;
    t->eot_id = (int32_t)eot;
    t->add_bos = get_bool(g, "tokenizer.ggml.add_bos_token", llama);
    t->add_eos = get_bool(g, "tokenizer.ggml.add_eos_token", false);
    const kvlm_gguf_kv *tpl = kvlm_gguf_find_kv(g, "tokenizer.chat_template");
    if (tpl && tpl->type == KVLM_GGUF_STRING) {
        t->chat_template = malloc(tpl->v.str.len + 1);
        if (!t->chat_template) return kvlm_fail(KVLM_ERR_NOMEM, "GGUF: out of memory");
        memcpy(t->chat_template, tpl->v.str.ptr, tpl->v.str.len);
        t->chat_template[tpl->v.str.len] = 0;
    }
    return kvlm_tokenizer_finish(t);
}

kvlm_status kvlm_tokenizer_from_gguf(const struct kvlm_gguf *g, kvlm_tokenizer **out)
{
    *out = NULL;
    if (!have_reader()) return kvlm_fail(KVLM_ERR_UNSUPPORTED, "GGUF reader (src/model/gguf.c) is not linked into this build");
    kvlm_tokenizer *t;
    kvlm_status st = kvlm_tokenizer_alloc(&t);
    if (st) return st;
    snprintf(t->source, sizeof t->source, "GGUF vocabulary");
    st = build(t, g);
    if (st) {
        kvlm_tokenizer_free(t);
        return st;
    }
    *out = t;
    return KVLM_OK;
}

kvlm_status kvlm_tokenizer_load_gguf_path(const char *path, kvlm_tokenizer **out)
{
    if (!have_reader()) return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: GGUF reader (src/model/gguf.c) is not linked into this build", path);
    kvlm_gguf *g = NULL;
    kvlm_status st = kvlm_gguf_open(path, &g);
    if (st) return st;
    st = kvlm_tokenizer_from_gguf(g, out);
    kvlm_gguf_close(g);
    if (st) return kvlm_fail_prefix(st, "%s", path);
    return KVLM_OK;
}
