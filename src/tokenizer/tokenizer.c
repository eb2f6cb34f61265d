/*
 * tokenizer.c - the tokenizer object: construction helpers shared by the
 * loaders, the encode pipeline and the public kvlm_tokenizer_* entry points.
 *
 * Encode pipeline (Hugging Face tokenizers' order):
 *   1. split the text on added tokens matched in raw text (added.c); special
 *      ones only with KVLM_TOKENIZE_PARSE_SPECIAL, non-special ones always;
 *   2. each remaining non-empty segment is normalized (normalize.c) and split
 *      again on added tokens with normalized=true; each piece is then
 *      pre-tokenized (pretokenize.c) and goes through BPE (bpe.c);
 *   3. with KVLM_TOKENIZE_ADD_SPECIAL, BOS/EOS are added as the model's
 *      post-processor (tokenizer.json) or add_bos/add_eos (GGUF) say.
 * All scratch memory belongs to the call, so a tokenizer is shared
 * read-only between threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/status.h"
#include "model/llama2c.h"
#include "tokenizer/added.h"
#include "tokenizer/tokenizer.h"

/* Limit on the text accepted by encode (ids are counted in size_t, but a
 * 2 GiB text is surely a caller bug). */
#define KVLM_TOK_MAX_TEXT ((size_t)1 << 31)

kvlm_status kvlm_tokenizer_alloc(kvlm_tokenizer **out)
{
    kvlm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return kvlm_fail(KVLM_ERR_NOMEM, "tokenizer: out of memory");
    t->unk_id = t->bos_id = t->eos_id = t->pad_id = t->eot_id = -1;
    for (int i = 0; i < 256; i++) t->byte_tok[i] = -1;
    *out = t;
    return KVLM_OK;
}

void kvlm_tokenizer_free(kvlm_tokenizer *t)
{
    if (!t) return;
    kvlm_vocab_free(&t->vocab);
    free(t->piece_blob);
    free(t->piece_off);
    free(t->piece_len);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    free(t->trie);
    free(t->ntrie);
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].a);
        free(t->norm[i].b);
    }
    for (int i = 0; i < t->n_pretok; i++)
        if (t->pretok[i].re) kvlm_regex_free(t->pretok[i].re);
    free(t->chat_template);
    free(t);
}

static kvlm_status check_special(const kvlm_tokenizer *t, int32_t id, const char *what)
{
    if (id < -1 || id >= t->vocab.n)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: %s id %d is out of range [0, %d)", t->source, what, (int)id,
                         (int)t->vocab.n);
    if (id >= 0 && (t->vocab.attr[id] & KVLM_TOKATTR_UNUSED))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: %s id %d names no token", t->source, what, (int)id);
    return KVLM_OK;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "<0xNN>" with two hex digits -> byte, else -1. "<0x-1>", "<0xZZ>" are not bytes. */
static int byte_token_value(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int h = hexval((unsigned char)s[3]), l = hexval((unsigned char)s[4]);
    if (h < 0 || l < 0) return -1;
    return h * 16 + l;
}

kvlm_status kvlm_tokenizer_finish(kvlm_tokenizer *t)
{
    kvlm_vocab *v = &t->vocab;
    kvlm_status st;
    /* added tokens get their text into the vocabulary when the model lacks it */
    for (int i = 0; i < t->n_added; i++) {
        kvlm_added_token *a = &t->added[i];
        if (a->id < 0 || a->id >= v->n)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: added token '%.64s' has id %d out of range [0, %d)",
                             t->source, a->content, (int)a->id, (int)v->n);
        uint8_t attr = a->special ? KVLM_TOKATTR_CONTROL : KVLM_TOKATTR_USER;
        if (v->attr[a->id] & KVLM_TOKATTR_UNUSED) {
            if ((st = kvlm_vocab_set(v, a->id, a->content, a->len, 0, attr))) return st;
        } else {
            v->attr[a->id] = (uint8_t)((v->attr[a->id] & ~KVLM_TOKATTR_NORMAL) | attr);
        }
    }
    if ((st = kvlm_vocab_build_index(v))) return st;
    /* byte symbols */
    for (int32_t id = 0; id < v->n; id++) {
        if (v->attr[id] & KVLM_TOKATTR_UNUSED) continue;
        const char *s = kvlm_vocab_text(v, id);
        if (t->kind == KVLM_TOK_SPM) {
            int b = byte_token_value(s, v->len[id]);
            if (b >= 0) {
                if (t->byte_tok[b] < 0) t->byte_tok[b] = id;
                v->attr[id] = (uint8_t)((v->attr[id] & ~KVLM_TOKATTR_NORMAL) | KVLM_TOKATTR_BYTE);
            }
        } else if (v->len[id] == 1 && (v->attr[id] & KVLM_TOKATTR_NORMAL)) {
            unsigned char b = (unsigned char)s[0];
            if (t->byte_tok[b] < 0) t->byte_tok[b] = id;
        }
    }
    /* decoded pieces. An added token with normalized=true decodes as its
     * normalized content (HF reports "\u2581<s>" for Llama 2's <s>). */
    kvlm_buf pb = {0}, norm = {0};
    int32_t *norm_of = malloc((size_t)v->n * sizeof *norm_of); /* added index whose normalized text to use */
    t->piece_off = malloc((size_t)v->n * sizeof *t->piece_off);
    t->piece_len = malloc((size_t)v->n * sizeof *t->piece_len);
    if (!norm_of || !t->piece_off || !t->piece_len) {
        free(norm_of);
        return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory for decoded pieces", t->source);
    }
    for (int32_t id = 0; id < v->n; id++) norm_of[id] = -1;
    if (t->n_norm)
        for (int i = 0; i < t->n_added; i++)
            if (t->added[i].normalized && norm_of[t->added[i].id] < 0) norm_of[t->added[i].id] = i;
    st = kvlm_buf_reserve(&pb, v->blob_len + (size_t)v->n + 16);
    for (int32_t id = 0; id < v->n && !st; id++) {
        const char *s = kvlm_vocab_text(v, id);
        size_t n = v->len[id];
        bool spm_text = t->kind == KVLM_TOK_SPM && (v->attr[id] & KVLM_TOKATTR_NORMAL);
        if (norm_of[id] >= 0) {
            const kvlm_added_token *a = &t->added[norm_of[id]];
            if ((st = kvlm_normalize(t->norm, t->n_norm, a->content, a->len, &norm))) break;
            s = norm.p;
            n = norm.n;
            spm_text = t->kind == KVLM_TOK_SPM;
        }
        t->piece_off[id] = pb.n;
        size_t start = pb.n;
        if (t->kind == KVLM_TOK_SPM && (v->attr[id] & KVLM_TOKATTR_BYTE)) {
            char c = (char)byte_token_value(s, n);
            st = kvlm_buf_put(&pb, &c, 1);
        } else if (spm_text) {
            for (size_t i = 0; i < n && !st;) {
                if (i + 3 <= n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
                    st = kvlm_buf_put(&pb, " ", 1);
                    i += 3;
                } else {
                    st = kvlm_buf_put(&pb, s + i, 1);
                    i++;
                }
            }
        } else {
            st = kvlm_buf_put(&pb, s, n);
        }
        t->piece_len[id] = (uint32_t)(pb.n - start);
        if (!st) st = kvlm_buf_put(&pb, "", 1); /* NUL separator (keeps pieces printable) */
    }
    free(norm_of);
    kvlm_buf_free(&norm);
    t->piece_blob = pb.p;
    if (st) return st;
    if ((st = check_special(t, t->bos_id, "BOS"))) return st;
    if ((st = check_special(t, t->eos_id, "EOS"))) return st;
    if ((st = check_special(t, t->unk_id, "UNK"))) return st;
    if ((st = check_special(t, t->pad_id, "PAD"))) return st;
    if ((st = check_special(t, t->eot_id, "EOT"))) return st;
    if (t->unk_id >= 0) v->attr[t->unk_id] |= KVLM_TOKATTR_UNKNOWN;
    return kvlm_added_build(t);
}

/* ---- encoding ------------------------------------------------------------ */

typedef struct enc {
    int32_t *ids;
    size_t n, cap;
    kvlm_buf norm;
    kvlm_pieces a, b;
    kvlm_bpe_scratch sc;
} enc;

static kvlm_status enc_push(enc *e, int32_t id)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 256;
        int32_t *p = realloc(e->ids, cap * sizeof *p);
        if (!p) return kvlm_fail(KVLM_ERR_NOMEM, "tokenizer: out of memory for %zu ids", cap);
        e->ids = p;
        e->cap = cap;
    }
    e->ids[e->n++] = id;
    return KVLM_OK;
}

static kvlm_status encode_piece(const kvlm_tokenizer *t, enc *e, const char *s, size_t n, bool first)
{
    if (n == 0) return KVLM_OK;
    kvlm_status st;
    kvlm_pieces_reset(&e->a);
    if ((st = kvlm_pieces_push(&e->a, s, n))) return st;
    e->a.first_segment = first;
    if ((st = kvlm_pretokenize(t->pretok, t->n_pretok, &e->a, &e->b))) return st;
    for (size_t i = 0; i < e->b.n; i++) {
        st = kvlm_bpe_word(t, e->b.text.p + e->b.v[i].off, e->b.v[i].len, &e->sc, &e->ids, &e->n, &e->cap);
        if (st) return st;
    }
    return KVLM_OK;
}

/* A raw segment between raw-matched added tokens: normalize it, then split
 * it on normalized added tokens (HF order), then pre-tokenize + BPE. */
static kvlm_status encode_segment(const kvlm_tokenizer *t, enc *e, const char *s, size_t n, bool first,
                                  bool parse_special)
{
    if (n == 0) return KVLM_OK;
    if (!t->n_norm) return encode_piece(t, e, s, n, first);
    kvlm_status st = kvlm_normalize(t->norm, t->n_norm, s, n, &e->norm);
    if (st) return st;
    s = e->norm.p;
    n = e->norm.n;
    size_t pos = 0;
    kvlm_added_match m;
    while (pos < n && kvlm_added_find(t, true, s, n, pos, parse_special, &m)) {
        if ((st = encode_piece(t, e, s + pos, m.start - pos, first && pos == 0))) return st;
        if ((st = enc_push(e, m.id))) return st;
        pos = m.end;
    }
    return encode_piece(t, e, s + pos, n - pos, first && pos == 0);
}

static kvlm_status encode_all(const kvlm_tokenizer *t, const char *text, size_t len, unsigned flags, enc *e)
{
    if (!t || (!text && len)) return kvlm_fail(KVLM_ERR_INVALID_ARG, "tokenize: NULL tokenizer or text");
    if (len > KVLM_TOK_MAX_TEXT)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "tokenize: text of %zu bytes exceeds the limit", len);
    kvlm_status st;
    bool special = flags & KVLM_TOKENIZE_ADD_SPECIAL;
    if (special && t->add_bos && t->bos_id >= 0 && (st = enc_push(e, t->bos_id))) return st;
    size_t pos = 0;
    kvlm_added_match m;
    bool ps = flags & KVLM_TOKENIZE_PARSE_SPECIAL;
    while (pos < len && kvlm_added_find(t, false, text, len, pos, ps, &m)) {
        if ((st = encode_segment(t, e, text + pos, m.start - pos, pos == 0, ps))) return st;
        if ((st = enc_push(e, m.id))) return st;
        pos = m.end;
    }
    if ((st = encode_segment(t, e, text + pos, len - pos, pos == 0, ps))) return st;
    if (special && t->add_eos && t->eos_id >= 0 && (st = enc_push(e, t->eos_id))) return st;
    return KVLM_OK;
}

static void enc_free_scratch(enc *e)
{
    kvlm_buf_free(&e->norm);
    kvlm_pieces_free(&e->a);
    kvlm_pieces_free(&e->b);
    kvlm_bpe_scratch_free(&e->sc);
}

kvlm_status kvlm_tokenizer_encode_alloc(const kvlm_tokenizer *tok, const char *text, size_t len,
                                        unsigned flags, int32_t **ids, size_t *n_out)
{
    enc e = {0};
    kvlm_status st = encode_all(tok, text, len, flags, &e);
    enc_free_scratch(&e);
    if (st) {
        free(e.ids);
        return st;
    }
    if (!e.ids) e.ids = malloc(sizeof *e.ids);
    if (!e.ids) return kvlm_fail(KVLM_ERR_NOMEM, "tokenize: out of memory");
    *ids = e.ids;
    *n_out = e.n;
    return KVLM_OK;
}

kvlm_status kvlm_tokenizer_encode(const kvlm_tokenizer *tok, const char *text, size_t len, unsigned flags,
                                  int32_t *ids, size_t capacity, size_t *n_out)
{
    int32_t *tmp = NULL;
    size_t n = 0;
    kvlm_status st = kvlm_tokenizer_encode_alloc(tok, text, len, flags, &tmp, &n);
    if (st) return st;
    if (n_out) *n_out = n;
    if (n > capacity || (n && !ids)) {
        free(tmp);
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "tokenize: %zu ids do not fit the capacity of %zu", n, capacity);
    }
    if (n) memcpy(ids, tmp, n * sizeof *ids);
    free(tmp);
    return KVLM_OK;
}

/* ---- small accessors ------------------------------------------------------ */

static bool valid_id(const kvlm_tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->vocab.n && !(t->vocab.attr[id] & KVLM_TOKATTR_UNUSED);
}

kvlm_status kvlm_tokenizer_token_to_piece(const kvlm_tokenizer *tok, int32_t id, const char **piece, size_t *len)
{
    if (!valid_id(tok, id))
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "token id %d is not a token of this vocabulary (n_vocab %d)",
                         (int)id, tok ? (int)tok->vocab.n : 0);
    *piece = tok->piece_blob + tok->piece_off[id];
    *len = tok->piece_len[id];
    return KVLM_OK;
}

const char *kvlm_tokenizer_token_text(const kvlm_tokenizer *tok, int32_t id)
{
    return valid_id(tok, id) ? kvlm_vocab_text(&tok->vocab, id) : NULL;
}

int32_t kvlm_tokenizer_find(const kvlm_tokenizer *tok, const char *text, size_t len)
{
    return tok && text ? kvlm_vocab_find(&tok->vocab, text, len) : -1;
}

int32_t kvlm_tokenizer_n_vocab(const kvlm_tokenizer *tok) { return tok ? tok->vocab.n : 0; }
int32_t kvlm_tokenizer_bos(const kvlm_tokenizer *tok) { return tok ? tok->bos_id : -1; }
int32_t kvlm_tokenizer_eos(const kvlm_tokenizer *tok) { return tok ? tok->eos_id : -1; }
bool kvlm_tokenizer_adds_bos(const kvlm_tokenizer *tok) { return tok && tok->add_bos && tok->bos_id >= 0; }

bool kvlm_tokenizer_is_special(const kvlm_tokenizer *tok, int32_t id)
{
    return valid_id(tok, id) && (tok->vocab.attr[id] & KVLM_TOKATTR_CONTROL);
}

bool kvlm_tokenizer_is_eog(const kvlm_tokenizer *tok, int32_t id)
{
    if (!valid_id(tok, id)) return false;
    if (id == tok->eos_id || id == tok->eot_id) return true;
    if (!(tok->vocab.attr[id] & KVLM_TOKATTR_CONTROL)) return false;
    static const char *const eog[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                      "<|endoftext|>", "<|end_of_text|>", "<|eom_id|>", "</s>"};
    const char *s = kvlm_vocab_text(&tok->vocab, id);
    for (size_t i = 0; i < sizeof eog / sizeof *eog; i++)
        if (strcmp(s, eog[i]) == 0) return true;
    return false;
}

/* ---- loading ---------------------------------------------------------------- */

kvlm_status kvlm_tokenizer_load_gguf_path(const char *path, kvlm_tokenizer **out);

#define KVLM_TOK_MAX_JSON ((size_t)512 << 20)

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static kvlm_status load_json_pair(const char *json_path, const char *config_path, kvlm_tokenizer **out)
{
    char *js = NULL, *cfg = NULL;
    size_t jn = 0, cn = 0;
    kvlm_status st = kvlm_read_file(json_path, KVLM_TOK_MAX_JSON, &js, &jn);
    if (st) return st;
    struct stat sb;
    if (config_path && stat(config_path, &sb) == 0) {
        st = kvlm_read_file(config_path, 64u << 20, &cfg, &cn);
        if (st) { free(js); return st; }
    }
    st = kvlm_tokenizer_from_json(js, jn, cfg, cn, json_path, out);
    free(js);
    free(cfg);
    return st;
}

kvlm_status kvlm_tokenizer_load(const char *path, kvlm_tokenizer **out)
{
    if (!path || !out) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_tokenizer_load: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return kvlm_fail(KVLM_ERR_IO, "%s: no such file or folder", path);
    size_t pl = strlen(path);
    if (pl > 3800) return kvlm_fail(KVLM_ERR_INVALID_ARG, "tokenizer path too long");
    char a[4096], b[4096];
    if (S_ISDIR(sb.st_mode)) {
        snprintf(a, sizeof a, "%s/tokenizer.json", path);
        snprintf(b, sizeof b, "%s/tokenizer_config.json", path);
        if (stat(a, &sb) != 0)
            return kvlm_fail(KVLM_ERR_IO, "%s: folder has no tokenizer.json", path);
        return load_json_pair(a, b, out);
    }
    /* sniff GGUF by magic, whatever the extension */
    FILE *f = fopen(path, "rb");
    if (!f) return kvlm_fail(KVLM_ERR_IO, "%s: cannot open", path);
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && memcmp(magic, "GGUF", 4) == 0) return kvlm_tokenizer_load_gguf_path(path, out);
    if (ends_with(path, ".gguf")) return kvlm_fail(KVLM_ERR_FORMAT, "%s: not a GGUF file (bad magic)", path);
    /* a llama2.c checkpoint carries no vocabulary: use tokenizer.bin beside it */
    const char *slash = strrchr(path, '/');
    if (kvlm_llama2c_sniff_path(path)) {
        if (slash) snprintf(a, sizeof a, "%.*s/tokenizer.bin", (int)(slash - path), path);
        else snprintf(a, sizeof a, "tokenizer.bin");
        if (stat(a, &sb) != 0)
            return kvlm_fail(KVLM_ERR_IO, "%s is a llama2.c checkpoint, which holds no vocabulary, and there "
                             "is no %s beside it: give the tokenizer file (--tokenizer)", path, a);
        return kvlm_tokenizer_load_llama2c_path(a, out);
    }
    /* a llama2.c tokenizer.bin: named *.bin, or starting with a small int32
     * max_token_length (a JSON file starts with printable text) */
    int32_t max_len = (int32_t)((uint32_t)(unsigned char)magic[0] | (uint32_t)(unsigned char)magic[1] << 8 |
                                (uint32_t)(unsigned char)magic[2] << 16 | (uint32_t)(unsigned char)magic[3] << 24);
    if (ends_with(path, ".bin") || (got == 4 && max_len >= 1 && max_len <= KVLM_TOK_MAX_TOKEN_LEN))
        return kvlm_tokenizer_load_llama2c_path(path, out);
    /* a tokenizer.json file: use a sibling tokenizer_config.json if present */
    if (slash) snprintf(b, sizeof b, "%.*s/tokenizer_config.json", (int)(slash - path), path);
    else snprintf(b, sizeof b, "tokenizer_config.json");
    return load_json_pair(path, b, out);
}
