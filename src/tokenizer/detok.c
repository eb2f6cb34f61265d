/*
 * detok.c - detokenization: whole-sequence decode and the streaming decoder.
 *
 * decode: concatenates the tokens' decoded pieces (tokenizer.c builds them:
 * raw bytes for byte-level tokens, U+2581 -> ' ' and <0xNN> -> byte for
 * SentencePiece tokens, the content for added tokens), then applies the
 * decoder's Strip(' ', start=1) (SentencePiece models) to the first byte of
 * the whole output, as HF's Fuse + Strip do. Unlike HF, invalid UTF-8 is
 * NOT replaced by U+FFFD here: decode is the exact inverse of encode, bytes
 * included (docs/TOKENIZER.md). Use the stream for display text.
 *
 * stream: same bytes, cut at UTF-8 boundaries. State machine per push:
 *   pending (0..3 bytes that are a valid prefix of a UTF-8 sequence)
 *   + piece  -> emit every complete valid sequence, U+FFFD for each maximal
 *              invalid subpart, keep a valid incomplete tail as pending.
 *   finish   -> a non-empty pending tail becomes one U+FFFD.
 * So the concatenated stream output is always valid UTF-8, and equals the
 * decode output whenever that is valid UTF-8.
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

static kvlm_status piece_of(const kvlm_tokenizer *t, int32_t id, size_t i, const char **p, size_t *n)
{
    if (id < 0 || id >= t->vocab.n || (t->vocab.attr[id] & KVLM_TOKATTR_UNUSED))
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "detokenize: ids[%zu] = %d is not a token of this vocabulary (n_vocab %d)",
                         i, (int)id, (int)t->vocab.n);
    *p = t->piece_blob + t->piece_off[id];
    *n = t->piece_len[id];
    return KVLM_OK;
}

static kvlm_status decode_buf(const kvlm_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, kvlm_buf *out)
{
    if (!t || (!ids && n)) return kvlm_fail(KVLM_ERR_INVALID_ARG, "detokenize: NULL argument");
    kvlm_status st = kvlm_buf_put(out, "", 0);
    bool started = false; /* Strip applies to the first non-empty piece only */
    for (size_t i = 0; i < n && !st; i++) {
        const char *p;
        size_t l;
        if ((st = piece_of(t, ids[i], i, &p, &l))) break;
        if ((flags & KVLM_DETOKENIZE_SKIP_SPECIAL) && (t->vocab.attr[ids[i]] & KVLM_TOKATTR_CONTROL)) continue;
        if (!started && l > 0) {
            if (t->strip_leading_space && p[0] == ' ') p++, l--;
            started = true;
        }
        st = kvlm_buf_put(out, p, l);
    }
    return st;
}

kvlm_status kvlm_tokenizer_decode_alloc(const kvlm_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags,
                                        char **text, size_t *n_out)
{
    kvlm_buf b = {0};
    kvlm_status st = decode_buf(tok, ids, n, flags, &b);
    if (st) { kvlm_buf_free(&b); return st; }
    *text = b.p;
    *n_out = b.n;
    return KVLM_OK;
}

kvlm_status kvlm_tokenizer_decode(const kvlm_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, char *buf,
                                  size_t capacity, size_t *n_out)
{
    kvlm_buf b = {0};
    kvlm_status st = decode_buf(tok, ids, n, flags, &b);
    if (!st) {
        if (n_out) *n_out = b.n;
        if (!buf || capacity < b.n + 1)
            st = kvlm_fail(KVLM_ERR_INVALID_ARG, "detokenize: %zu bytes (+ NUL) do not fit the capacity of %zu", b.n, capacity);
        else
            memcpy(buf, b.p, b.n + 1);
    }
    kvlm_buf_free(&b);
    return st;
}

/* ---- streaming ------------------------------------------------------------ */

/* What a push changes; restored as a whole when a push fails. */
typedef struct stream_state {
    bool started;          /* a non-empty piece has been seen (for Strip) */
    unsigned char pend[4];
    int n_pend;
} stream_state;

struct kvlm_tokenizer_stream {
    const kvlm_tokenizer *tok;
    unsigned flags;
    stream_state st;
    kvlm_buf in, out;      /* scratch reused by every push: no allocation per token */
};

kvlm_status kvlm_tokenizer_stream_create(const kvlm_tokenizer *tok, unsigned flags, kvlm_tokenizer_stream **out)
{
    if (!tok || !out) return kvlm_fail(KVLM_ERR_INVALID_ARG, "stream: NULL argument");
    kvlm_tokenizer_stream *s = calloc(1, sizeof *s);
    if (!s) return kvlm_fail(KVLM_ERR_NOMEM, "stream: out of memory");
    s->tok = tok;
    s->flags = flags;
    *out = s;
    return KVLM_OK;
}

void kvlm_tokenizer_stream_free(kvlm_tokenizer_stream *s)
{
    if (!s) return;
    kvlm_buf_free(&s->in);
    kvlm_buf_free(&s->out);
    free(s);
}

/* >0: length of a complete valid sequence at s; 0: invalid (length of the
 * maximal invalid subpart in *bad); -1: valid but incomplete prefix. */
static int utf8_step(const unsigned char *s, size_t n, int *bad)
{
    int l = kvlm_utf8_valid_len(s, n);
    if (l) return l;
    unsigned c = s[0];
    int need = c >= 0xC2 && c < 0xE0 ? 2 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xF0 && c < 0xF5 ? 4 : 0;
    if (!need) { *bad = 1; return 0; }
    size_t k = 1;
    for (; k < (size_t)need && k < n; k++) {
        unsigned lo = 0x80, hi = 0xBF;
        if (k == 1) {
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        }
        if (s[k] < lo || s[k] > hi) break;
    }
    if (k == n && k < (size_t)need) return -1;
    *bad = (int)k;
    return 0;
}

static kvlm_status emit_utf8(kvlm_tokenizer_stream *s, const unsigned char *p, size_t n, kvlm_buf *out)
{
    size_t i = 0;
    kvlm_status st = KVLM_OK;
    while (i < n && !st) {
        int bad = 0, l = utf8_step(p + i, n - i, &bad);
        if (l > 0) { st = kvlm_buf_put(out, p + i, (size_t)l); i += (size_t)l; }
        else if (l == 0) { st = kvlm_buf_put(out, "\xef\xbf\xbd", 3); i += (size_t)bad; }
        else { /* incomplete tail: keep */
            s->st.n_pend = (int)(n - i);
            memcpy(s->st.pend, p + i, n - i);
            return KVLM_OK;
        }
    }
    s->st.n_pend = 0;
    return st;
}

static kvlm_status stream_copy(kvlm_buf *b, char *buf, size_t capacity, size_t *n_out)
{
    if (n_out) *n_out = b->n;
    if (!buf || capacity < b->n + 1)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "stream: %zu bytes (+ NUL) do not fit the capacity of %zu", b->n, capacity);
    memcpy(buf, b->p ? b->p : "", b->n);
    buf[b->n] = 0;
    return KVLM_OK;
}

kvlm_status kvlm_tokenizer_stream_push(kvlm_tokenizer_stream *s, int32_t id, char *buf, size_t capacity, size_t *n_out)
{
    if (!s) return kvlm_fail(KVLM_ERR_INVALID_ARG, "stream: NULL stream");
    const char *p;
    size_t l;
    kvlm_status st = piece_of(s->tok, id, 0, &p, &l);
    if (st) return st;
    /* a too-small buffer must leave the stream unchanged: keep its state */
    stream_state save = s->st;
    if ((s->flags & KVLM_DETOKENIZE_SKIP_SPECIAL) && (s->tok->vocab.attr[id] & KVLM_TOKATTR_CONTROL)) l = 0;
    if (!s->st.started && l > 0) {
        if (s->tok->strip_leading_space && p[0] == ' ') p++, l--;
        s->st.started = true;
    }
    s->in.n = s->out.n = 0;
    st = kvlm_buf_put(&s->in, s->st.pend, (size_t)s->st.n_pend);
    if (!st) st = kvlm_buf_put(&s->in, p, l);
    if (!st) st = emit_utf8(s, (const unsigned char *)s->in.p, s->in.n, &s->out);
    if (!st) st = kvlm_buf_put(&s->out, "", 0);
    if (!st) st = stream_copy(&s->out, buf, capacity, n_out);
    if (st) s->st = save;
    return st;
}

kvlm_status kvlm_tokenizer_stream_finish(kvlm_tokenizer_stream *s, char *buf, size_t capacity, size_t *n_out)
{
    if (!s) return kvlm_fail(KVLM_ERR_INVALID_ARG, "stream: NULL stream");
    s->out.n = 0;
    kvlm_status st = s->st.n_pend ? kvlm_buf_put(&s->out, "\xef\xbf\xbd", 3) : kvlm_buf_put(&s->out, "", 0);
    if (!st) st = stream_copy(&s->out, buf, capacity, n_out);
    if (!st) s->st.n_pend = 0;
    return st;
}
