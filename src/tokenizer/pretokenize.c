/*
 * pretokenize.c - Hugging Face pre-tokenizers over PCRE2: Split (regex,
 * behavior, invert), ByteLevel (prefix space + GPT-2 regex), Metaspace and
 * Digits, applied in sequence.
 *
 * Regexes are compiled once per tokenizer with PCRE2_UTF | PCRE2_UCP (so
 * \p{L}, \s, \w follow Unicode like the Oniguruma engine HF uses) and
 * PCRE2_MATCH_INVALID_UTF, then JIT-compiled. With MATCH_INVALID_UTF,
 * pcre2_match does not validate the whole subject on each call (which would
 * make the match loop quadratic) and invalid byte sequences simply never
 * match: they stay in the gaps between matches, and gaps are pieces too, so
 * the BPE still encodes those bytes (byte-level or byte fallback). Each
 * match runs under a match limit and a bounded JIT stack; hitting a limit is
 * an error, never a silent change of output.
 *
 * Split behaviours reproduce tokenizers' NormalizedString::split exactly
 * (see apply_behavior). Empty pieces are dropped. Steps after a ByteLevel
 * step see the byte-level alphabet, as in HF (split_mapped).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

const char kvlm_regex_gpt2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

kvlm_status kvlm_regex_compile(const char *pattern, size_t len, const char *what, void **out)
{
    int err;
    PCRE2_SIZE eoff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &eoff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: regex does not compile at offset %zu: %s", what,
                         (size_t)eoff, (const char *)msg);
    }
    /* JIT is an optimisation: if unavailable, the interpreter gives the same results. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    *out = re;
    return KVLM_OK;
}

void kvlm_regex_free(void *re) { pcre2_code_free((pcre2_code *)re); }

/* One interval of a piece: [s, e) and whether it is a delimiter. */
typedef struct ival { size_t s, e; int delim; } ival;
typedef struct ivals { ival *v; size_t n, cap; } ivals;

static kvlm_status ival_push(ivals *iv, size_t s, size_t e, int d)
{
    if (iv->n == iv->cap) {
        size_t cap = iv->cap ? iv->cap * 2 : 64;
        ival *v = realloc(iv->v, cap * sizeof *v);
        if (!v) return kvlm_fail(KVLM_ERR_NOMEM, "pre-tokenizer: out of memory");
        iv->v = v;
        iv->cap = cap;
    }
    iv->v[iv->n++] = (ival){s, e, d};
    return KVLM_OK;
}

typedef struct pt_ctx {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js;
    ivals iv, tmp;
} pt_ctx;

/* Finds regex matches in s[0..n) as intervals (gaps included). */
static kvlm_status regex_intervals(pt_ctx *c, pcre2_code *re, const char *s, size_t n, ivals *iv)
{
    iv->n = 0;
    size_t pos = 0, last = 0;
    while (pos < n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, 0, c->md, c->mc);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return kvlm_fail(KVLM_ERR_UNSUPPORTED, "pre-tokenizer regex failed at byte %zu of a %zu-byte piece: %s",
                             pos, n, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* empty match: step one character (or one invalid byte) */
            int l = kvlm_utf8_valid_len((const unsigned char *)s + ms, n - ms);
            pos = ms + (l ? (size_t)l : 1);
            continue;
        }
        kvlm_status st;
        if (ms > last && (st = ival_push(iv, last, ms, 0))) return st;
        if ((st = ival_push(iv, ms, me, 1))) return st;
        last = pos = me;
    }
    if (n > last) return ival_push(iv, last, n, 0);
    return KVLM_OK;
}

/* tokenizers' split behaviours over intervals (delim flags already inverted
 * when asked), merging in place into out. */
static kvlm_status apply_behavior(kvlm_split_behavior b, const ivals *in, ivals *out)
{
    out->n = 0;
    kvlm_status st = KVLM_OK;
    int prev = 0;
    switch (b) {
    case KVLM_SPLIT_REMOVED:
        for (size_t i = 0; i < in->n && !st; i++)
            if (!in->v[i].delim) st = ival_push(out, in->v[i].s, in->v[i].e, 0);
        break;
    case KVLM_SPLIT_ISOLATED:
        for (size_t i = 0; i < in->n && !st; i++) st = ival_push(out, in->v[i].s, in->v[i].e, 0);
        break;
    case KVLM_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < in->n && !st; i++) {
            const ival *x = &in->v[i];
            if (x->delim && !prev && out->n) out->v[out->n - 1].e = x->e;
            else st = ival_push(out, x->s, x->e, 0);
            prev = x->delim;
        }
        break;
    case KVLM_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < in->n && !st; i++) {
            const ival *x = &in->v[i];
            if (x->delim == prev && out->n) out->v[out->n - 1].e = x->e;
            else st = ival_push(out, x->s, x->e, 0);
            prev = x->delim;
        }
        break;
    case KVLM_SPLIT_MERGED_NEXT: /* processed right to left, then reversed */
        for (size_t k = in->n; k-- > 0 && !st;) {
            const ival *x = &in->v[k];
            if (x->delim && !prev && out->n) out->v[out->n - 1].s = x->s;
            else st = ival_push(out, x->s, x->e, 0);
            prev = x->delim;
        }
        for (size_t i = 0, j = out->n ? out->n - 1 : 0; i < j; i++, j--) {
            ival t = out->v[i];
            out->v[i] = out->v[j];
            out->v[j] = t;
        }
        break;
    }
    return st;
}

static kvlm_status emit_ivals(const ivals *iv, const char *base, size_t base_off, bool by_ref,
                              kvlm_pieces *out)
{
    for (size_t i = 0; i < iv->n; i++) {
        if (iv->v[i].e <= iv->v[i].s) continue;
        kvlm_status st = by_ref ? kvlm_pieces_push_ref(out, base_off + iv->v[i].s, iv->v[i].e - iv->v[i].s)
                                : kvlm_pieces_push(out, base + iv->v[i].s, iv->v[i].e - iv->v[i].s);
        if (st) return st;
    }
    return KVLM_OK;
}

static kvlm_status split_regex(pt_ctx *c, pcre2_code *re, kvlm_split_behavior b, bool invert,
                               const char *s, size_t n, kvlm_pieces *out)
{
    kvlm_status st = regex_intervals(c, re, s, n, &c->iv);
    if (st) return st;
    if (invert)
        for (size_t i = 0; i < c->iv.n; i++) c->iv.v[i].delim = !c->iv.v[i].delim;
    if ((st = apply_behavior(b, &c->iv, &c->tmp))) return st;
    return emit_ivals(&c->tmp, s, 0, false, out);
}

/* Split of a piece that an earlier ByteLevel step has turned into the
 * byte-level alphabet in HF (each byte one code point, e.g. 0xC2 0xBD ->
 * "\u00c2\u00bd"): run the regex on the mapped text, then cut the raw piece
 * at the corresponding bytes. Exact because the mapping is one character
 * per byte. */
static kvlm_status split_mapped(pt_ctx *c, pcre2_code *re, kvlm_split_behavior b, bool invert, const char *s,
                                size_t n, kvlm_pieces *out)
{
    kvlm_buf m = {0};
    size_t *raw = malloc((2 * n + 1) * sizeof *raw);
    kvlm_status st = raw ? KVLM_OK : kvlm_fail(KVLM_ERR_NOMEM, "pre-tokenizer: out of memory");
    for (size_t i = 0; i < n && !st; i++) {
        char u[4];
        int l = kvlm_utf8_encode(kvlm_bytelevel_cp((uint8_t)s[i]), u);
        for (int k = 0; k < l; k++) raw[m.n + (size_t)k] = i;
        st = kvlm_buf_put(&m, u, (size_t)l);
    }
    if (!st) {
        raw[m.n] = n;
        st = regex_intervals(c, re, m.p ? m.p : "", m.n, &c->iv);
    }
    if (!st && invert)
        for (size_t i = 0; i < c->iv.n; i++) c->iv.v[i].delim = !c->iv.v[i].delim;
    if (!st) st = apply_behavior(b, &c->iv, &c->tmp);
    for (size_t i = 0; i < c->tmp.n && !st; i++) {
        c->tmp.v[i].s = raw[c->tmp.v[i].s];
        c->tmp.v[i].e = raw[c->tmp.v[i].e];
    }
    if (!st) st = emit_ivals(&c->tmp, s, 0, false, out);
    free(raw);
    kvlm_buf_free(&m);
    return st;
}

static kvlm_status step_metaspace(pt_ctx *c, const kvlm_pretok_step *p, const char *s, size_t n,
                                  bool first, kvlm_pieces *out)
{
    /* Build the replaced text in out->text, then split it there. */
    size_t base = out->text.n;
    const char *r = p->repl;
    size_t rl = (size_t)p->repl_len;
    bool starts = n >= 1 && s[0] == ' ';
    if (!starts && n >= rl && memcmp(s, r, rl) == 0) starts = true;
    kvlm_status st = KVLM_OK;
    if (!starts && (p->prepend_scheme == 0 || (p->prepend_scheme == 1 && first)))
        st = kvlm_buf_put(&out->text, r, rl);
    for (size_t i = 0; i < n && !st; i++)
        st = s[i] == ' ' ? kvlm_buf_put(&out->text, r, rl) : kvlm_buf_put(&out->text, s + i, 1);
    if (st) return st;
    size_t len = out->text.n - base;
    if (!p->split) return len ? kvlm_pieces_push_ref(out, base, len) : KVLM_OK;
    c->iv.n = 0;
    const char *t = out->text.p + base;
    size_t last = 0;
    for (size_t i = 0; i + rl <= len && !st;) {
        if (memcmp(t + i, r, rl) == 0) {
            if (i > last) st = ival_push(&c->iv, last, i, 0);
            if (!st) st = ival_push(&c->iv, i, i + rl, 1);
            i += rl;
            last = i;
        } else {
            i++;
        }
    }
    if (!st && len > last) st = ival_push(&c->iv, last, len, 0);
    if (!st) st = apply_behavior(KVLM_SPLIT_MERGED_NEXT, &c->iv, &c->tmp);
    if (!st) st = emit_ivals(&c->tmp, NULL, base, true, out);
    return st;
}

kvlm_status kvlm_pretokenize(const kvlm_pretok_step *steps, int n_steps, kvlm_pieces *in,
                             kvlm_pieces *out)
{
    /* PCRE2 match state is per thread and reused across calls (creating a
     * JIT stack maps memory, too costly per call); the interval lists are
     * per call. Freed at thread exit by nobody: a few KB per thread. */
    static _Thread_local pt_ctx tls;
    pt_ctx c = {0};
    kvlm_status st = KVLM_OK;
    if (!tls.md) {
        tls.md = pcre2_match_data_create(4, NULL);
        tls.mc = pcre2_match_context_create(NULL);
        tls.js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
        if (!tls.md || !tls.mc || !tls.js) {
            if (tls.js) pcre2_jit_stack_free(tls.js);
            if (tls.mc) pcre2_match_context_free(tls.mc);
            if (tls.md) pcre2_match_data_free(tls.md);
            tls.md = NULL;
            return kvlm_fail(KVLM_ERR_NOMEM, "pre-tokenizer: out of memory");
        }
        pcre2_set_match_limit(tls.mc, 10u * 1000 * 1000);
        pcre2_jit_stack_assign(tls.mc, NULL, tls.js);
    }
    c.md = tls.md;
    c.mc = tls.mc;
    c.js = tls.js;
    bool first_seg = in->first_segment;
    bool mapped = false; /* an earlier ByteLevel step mapped the text (HF) */
    for (int k = 0; k < n_steps && !st; k++) {
        const kvlm_pretok_step *p = &steps[k];
        kvlm_pieces_reset(out);
        for (size_t i = 0; i < in->n && !st; i++) {
            const char *s = in->text.p + in->v[i].off;
            size_t n = in->v[i].len;
            switch (p->type) {
            case KVLM_PRETOK_SPLIT:
                st = mapped ? split_mapped(&c, p->re, p->behavior, p->invert, s, n, out)
                            : split_regex(&c, p->re, p->behavior, p->invert, s, n, out);
                break;
            case KVLM_PRETOK_BYTELEVEL:
                if (p->add_prefix_space && (n == 0 || s[0] != ' ')) {
                    kvlm_buf pre = {0};
                    st = kvlm_buf_put(&pre, " ", 1);
                    if (!st) st = kvlm_buf_put(&pre, s, n);
                    if (!st) st = p->re ? split_regex(&c, p->re, KVLM_SPLIT_ISOLATED, false, pre.p, pre.n, out)
                                        : kvlm_pieces_push(out, pre.p, pre.n);
                    kvlm_buf_free(&pre);
                } else {
                    st = p->re ? split_regex(&c, p->re, KVLM_SPLIT_ISOLATED, false, s, n, out)
                               : kvlm_pieces_push(out, s, n);
                }
                break;
            case KVLM_PRETOK_METASPACE:
                st = step_metaspace(&c, p, s, n, first_seg && i == 0, out);
                break;
            case KVLM_PRETOK_DIGITS: /* compiled to \p{N} or \p{N}+, Isolated */
                st = mapped ? split_mapped(&c, p->re, KVLM_SPLIT_ISOLATED, false, s, n, out)
                            : split_regex(&c, p->re, KVLM_SPLIT_ISOLATED, false, s, n, out);
                break;
            }
        }
        if (st) break;
        if (p->type == KVLM_PRETOK_BYTELEVEL) mapped = true;
        /* swap: the output becomes the next step's input */
        kvlm_pieces t = *in;
        *in = *out;
        *out = t;
        in->first_segment = first_seg;
    }
    if (!st) { /* result is in `in` after the last swap; move it to out */
        kvlm_pieces t = *in;
        *in = *out;
        *out = t;
    }
    free(c.iv.v);
    free(c.tmp.v);
    return st;
}
