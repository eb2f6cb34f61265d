/*
 * util.c - growing buffers, piece lists and bounded file reading shared by
 * the tokenizer files. Every growth is checked for overflow and failure;
 * nothing here aborts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

kvlm_status kvlm_buf_reserve(kvlm_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->n) return kvlm_fail(KVLM_ERR_NOMEM, "tokenizer: buffer size overflow");
    size_t need = b->n + extra + 1;
    if (need <= b->cap) return KVLM_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return kvlm_fail(KVLM_ERR_NOMEM, "tokenizer: out of memory (%zu bytes)", cap);
    b->p = p;
    b->cap = cap;
    return KVLM_OK;
}

kvlm_status kvlm_buf_put(kvlm_buf *b, const void *s, size_t n)
{
    kvlm_status st = kvlm_buf_reserve(b, n);
    if (st) return st;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return KVLM_OK;
}

void kvlm_buf_free(kvlm_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

kvlm_status kvlm_pieces_push_ref(kvlm_pieces *p, size_t off, size_t n)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        kvlm_piece *v = realloc(p->v, cap * sizeof *v);
        if (!v) return kvlm_fail(KVLM_ERR_NOMEM, "tokenizer: out of memory (pieces)");
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n].off = off;
    p->v[p->n].len = n;
    p->n++;
    return KVLM_OK;
}

kvlm_status kvlm_pieces_push(kvlm_pieces *p, const char *s, size_t n)
{
    size_t off = p->text.n;
    kvlm_status st = kvlm_buf_put(&p->text, s, n);
    if (st) return st;
    return kvlm_pieces_push_ref(p, off, n);
}

void kvlm_pieces_reset(kvlm_pieces *p)
{
    p->text.n = 0;
    p->n = 0;
}

void kvlm_pieces_free(kvlm_pieces *p)
{
    kvlm_buf_free(&p->text);
    free(p->v);
    memset(p, 0, sizeof *p);
}

kvlm_status kvlm_read_file(const char *path, size_t max, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return kvlm_fail(KVLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    kvlm_buf b = {0};
    char tmp[65536];
    size_t got;
    while ((got = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (b.n + got > max) {
            fclose(f);
            kvlm_buf_free(&b);
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: larger than the limit of %zu bytes", path, max);
        }
        kvlm_status st = kvlm_buf_put(&b, tmp, got);
        if (st) { fclose(f); kvlm_buf_free(&b); return st; }
    }
    int err = ferror(f);
    fclose(f);
    if (err) { kvlm_buf_free(&b); return kvlm_fail(KVLM_ERR_IO, "%s: read error", path); }
    if (!b.p && kvlm_buf_put(&b, "", 0)) return KVLM_ERR_NOMEM;
    *data = b.p;
    *len = b.n;
    return KVLM_OK;
}
