/*
 * session_io.c - kvlm_session_save / kvlm_session_load: a session's tokens
 * and K/V in a file, so a conversation survives the process.
 *
 * File format, version 1, all integers little-endian:
 *     0   "KVLMSESS"                magic (8 bytes)
 *     8   u32 version = 1
 *    12   u32 kv dtype, u32 block size, u32 n_layers, u32 n_kv_heads,
 *         u32 head_dim, u32 row bytes, u32 n_tokens
 *    40   32-byte model fingerprint
 *    72   i32 token ids [n_tokens]
 *         K/V rows: for each block b of the session, for each layer, K then
 *         V, for each KV head: the rows of the block's used slots
 *         (min(block size, n_tokens - b * block size)) - stale slots past
 *         the last token are never written
 *   end   32-byte SHA-256 of every byte before it
 * The reader trusts nothing: every header field must match the context,
 * the file size must be exactly what the header implies, token ids must be
 * in the vocabulary, every float (q8_0: every scale) must be finite, and
 * the checksum must match - otherwise a clean error and the session is
 * unchanged (new blocks are filled first and only then swapped in).
 * Loaded full blocks are published in the session's namespace like
 * computed ones: the file passed the model fingerprint and the checksum,
 * so they hold what this model computes for those tokens.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/status.h"
#include "engine/context.h"
#include "kernels/kernels.h"

#define HDR_BYTES 72u
#define SESSION_VERSION 1u

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static unsigned get16(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Bytes of K/V rows in a file for n tokens. */
static uint64_t kv_file_bytes(const kvlm_block_pool *p, uint64_t n)
{
    return n * 2u * (uint64_t)p->n_layers * (uint64_t)p->n_kv_heads * (uint64_t)p->row_bytes;
}

static void header(const kvlm_session *s, const uint8_t fp[32], uint8_t h[HDR_BYTES])
{
    const kvlm_block_pool *p = s->ctx->pool;
    memcpy(h, "KVLMSESS", 8);
    put32(h + 8, SESSION_VERSION);
    put32(h + 12, (uint32_t)p->kv_type);
    put32(h + 16, (uint32_t)p->block_size);
    put32(h + 20, (uint32_t)p->n_layers);
    put32(h + 24, (uint32_t)p->n_kv_heads);
    put32(h + 28, (uint32_t)p->head_dim);
    put32(h + 32, (uint32_t)p->row_bytes);
    put32(h + 36, (uint32_t)s->n_tokens);
    memcpy(h + 40, fp, 32);
}

/* Calls fn(row bytes) for every K/V row segment of the session's blocks,
 * in file order; a segment is `used` consecutive rows of one (layer,
 * kind, head) in one block. Stops at the first false. */
typedef bool (*seg_fn)(uint8_t *data, size_t len, void *user);
static bool for_each_segment(const kvlm_block_pool *p, const int32_t *blocks, int n_tokens, seg_fn fn, void *user)
{
    int bs = p->block_size, nb = (n_tokens + bs - 1) / bs;
    for (int b = 0; b < nb; b++) {
        int used = n_tokens - b * bs < bs ? n_tokens - b * bs : bs;
        for (int l = 0; l < p->n_layers; l++)
            for (int kind = 0; kind < 2; kind++)
                for (int h = 0; h < p->n_kv_heads; h++)
                    if (!fn(kvlm_kv_row(p, blocks[b], l, kind, h, 0), (size_t)used * p->row_bytes, user))
                        return false;
    }
    return true;
}

/* ---- save ---------------------------------------------------------------- */

typedef struct writer {
    FILE *f;
    EVP_MD_CTX *md;
    bool ok;
} writer;

static bool w_put(writer *w, const void *data, size_t len)
{
    if (!w->ok) return false;
    if (len && (fwrite(data, 1, len, w->f) != len || !EVP_DigestUpdate(w->md, data, len))) w->ok = false;
    return w->ok;
}

static bool w_seg(uint8_t *data, size_t len, void *user) { return w_put(user, data, len); }

kvlm_status kvlm_session_save(const kvlm_session *s, const char *path)
{
    if (!s || !path) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_save: NULL argument");
    if (!s->ctx) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_save: the session's context was freed");
    uint8_t fp[32];
    kvlm_status st = kvlm_model_fingerprint(s->ctx->model, fp);
    if (st) return st;
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    snprintf(tmp, pl + 16, "%s.tmp%ld", path, (long)getpid());
    writer w = {fopen(tmp, "wb"), EVP_MD_CTX_new(), true};
    if (!w.f || !w.md || !EVP_DigestInit_ex(w.md, EVP_sha256(), NULL)) {
        st = kvlm_fail(w.f ? KVLM_ERR_NOMEM : KVLM_ERR_IO, "%s: cannot write: %s", path,
                       w.f ? "no SHA-256" : strerror(errno));
        goto out;
    }
    uint8_t h[HDR_BYTES];
    header(s, fp, h);
    w_put(&w, h, sizeof h);
    for (int i = 0; i < s->n_tokens && w.ok; i++) {
        uint8_t t[4];
        put32(t, (uint32_t)s->tokens[i]);
        w_put(&w, t, 4);
    }
    for_each_segment(s->ctx->pool, s->blocks, s->n_tokens, w_seg, &w);
    uint8_t sum[32];
    unsigned len = 0;
    if (w.ok && (!EVP_DigestFinal_ex(w.md, sum, &len) || len != 32)) w.ok = false;
    if (w.ok && fwrite(sum, 1, 32, w.f) != 32) w.ok = false;
    if (fclose(w.f) != 0) w.ok = false;
    w.f = NULL;
    if (!w.ok) {
        st = kvlm_fail(KVLM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) != 0) st = kvlm_fail(KVLM_ERR_IO, "%s: cannot rename the written file: %s", path, strerror(errno));
out:
    if (w.f) fclose(w.f);
    if (st) remove(tmp);
    EVP_MD_CTX_free(w.md);
    free(tmp);
    return st;
}

/* ---- load ---------------------------------------------------------------- */

typedef struct reader {
    FILE *f;
    EVP_MD_CTX *md;
    const char *path;
    kvlm_dtype kv_type;
    kvlm_status st;
} reader;

static bool r_get(reader *r, void *data, size_t len)
{
    if (r->st) return false;
    if (fread(data, 1, len, r->f) != len)
        r->st = kvlm_fail(KVLM_ERR_FORMAT, "%s: file ends early", r->path);
    else if (!EVP_DigestUpdate(r->md, data, len))
        r->st = kvlm_fail(KVLM_ERR_INTERNAL, "SHA-256 failed");
    return !r->st;
}

/* Every float finite (q8_0: every block scale). */
static bool finite_rows(const reader *r, const uint8_t *d, size_t len)
{
    switch (r->kv_type) {
    case KVLM_DTYPE_F32:
        for (size_t i = 0; i + 4 <= len; i += 4) {
            float f;
            memcpy(&f, d + i, 4);
            if (!isfinite(f)) return false;
        }
        return true;
    case KVLM_DTYPE_F16:
        for (size_t i = 0; i + 2 <= len; i += 2)
            if ((get16(d + i) & 0x7C00u) == 0x7C00u) return false;
        return true;
    case KVLM_DTYPE_BF16:
        for (size_t i = 0; i + 2 <= len; i += 2)
            if ((get16(d + i) & 0x7F80u) == 0x7F80u) return false;
        return true;
    case KVLM_DTYPE_Q8_0: {
        size_t bb = kvlm_dtype_traits_get(KVLM_DTYPE_Q8_0)->block_bytes; /* f16 scale + 32 int8 */
        for (size_t i = 0; i + bb <= len; i += bb)
            if ((get16(d + i) & 0x7C00u) == 0x7C00u) return false;
        return true;
    }
    default:
        return false;
    }
}

static bool r_seg(uint8_t *data, size_t len, void *user)
{
    reader *r = user;
    if (!r_get(r, data, len)) return false;
    if (!finite_rows(r, data, len)) {
        r->st = kvlm_fail(KVLM_ERR_FORMAT, "%s: K/V holds a non-finite value", r->path);
        return false;
    }
    return true;
}

#define MISMATCH(what, got, want)                                                                    \
    do {                                                                                             \
        if ((got) != (want)) {                                                                       \
            st = kvlm_fail(KVLM_ERR_FORMAT, "%s: saved with %s %u, this context has %u", path, what, \
                           (unsigned)(got), (unsigned)(want));                                       \
            goto out;                                                                                \
        }                                                                                            \
    } while (0)

kvlm_status kvlm_session_load(kvlm_session *s, const char *path)
{
    if (!s || !path) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_load: NULL argument");
    if (!s->ctx) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_session_load: the session's context was freed");
    kvlm_context *ctx = s->ctx;
    kvlm_block_pool *p = ctx->pool;
    uint8_t fp[32];
    kvlm_status st = kvlm_model_fingerprint(ctx->model, fp);
    if (st) return st;
    reader r = {fopen(path, "rb"), EVP_MD_CTX_new(), path, p->kv_type, KVLM_OK};
    int32_t *toks = NULL, *blocks = NULL;
    int nb = 0;
    if (!r.f) {
        st = kvlm_fail(KVLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (!r.md || !EVP_DigestInit_ex(r.md, EVP_sha256(), NULL)) {
        st = kvlm_fail(KVLM_ERR_NOMEM, "SHA-256 unavailable");
        goto out;
    }
    struct stat sb;
    if (fstat(fileno(r.f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = kvlm_fail(KVLM_ERR_IO, "%s: not a regular file", path);
        goto out;
    }
    uint8_t h[HDR_BYTES];
    if (!r_get(&r, h, sizeof h)) {
        st = kvlm_fail(KVLM_ERR_FORMAT, "%s: too short for a kvlm session file (%lld bytes)", path,
                       (long long)sb.st_size);
        goto out;
    }
    if (memcmp(h, "KVLMSESS", 8) != 0) {
        st = kvlm_fail(KVLM_ERR_FORMAT, "%s: not a kvlm session file (bad magic)", path);
        goto out;
    }
    if (get32(h + 8) != SESSION_VERSION) {
        st = kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: session file version %u (this kvlm reads %u)", path,
                       get32(h + 8), SESSION_VERSION);
        goto out;
    }
    if (get32(h + 12) != (uint32_t)p->kv_type) {
        const char *n = get32(h + 12) < 64 ? kvlm_dtype_name((kvlm_dtype)get32(h + 12)) : NULL;
        st = kvlm_fail(KVLM_ERR_FORMAT, "%s: saved with KV type %s, this context uses %s", path, n ? n : "?",
                       kvlm_dtype_name(p->kv_type));
        goto out;
    }
    MISMATCH("KV block size", get32(h + 16), (uint32_t)p->block_size);
    MISMATCH("n_layers", get32(h + 20), (uint32_t)p->n_layers);
    MISMATCH("n_kv_heads", get32(h + 24), (uint32_t)p->n_kv_heads);
    MISMATCH("head_dim", get32(h + 28), (uint32_t)p->head_dim);
    MISMATCH("KV row bytes", get32(h + 32), (uint32_t)p->row_bytes);
    if (memcmp(h + 40, fp, 32) != 0) {
        st = kvlm_fail(KVLM_ERR_FORMAT, "%s: saved from a different model (fingerprint mismatch)", path);
        goto out;
    }
    uint32_t n = get32(h + 36);
    if (n > (uint32_t)ctx->p.n_ctx) {
        st = kvlm_fail(KVLM_ERR_FORMAT, "%s: holds %u tokens, more than this context's n_ctx %d", path, n, ctx->p.n_ctx);
        goto out;
    }
    uint64_t want = HDR_BYTES + 4ull * n + kv_file_bytes(p, n) + 32;
    if ((uint64_t)sb.st_size != want) {
        st = kvlm_fail(KVLM_ERR_FORMAT, "%s: is %lld bytes, its header implies %llu (truncated or padded)", path,
                       (long long)sb.st_size, (unsigned long long)want);
        goto out;
    }
    int bs = p->block_size;
    nb = ((int)n + bs - 1) / bs;
    toks = malloc(((size_t)n + 1) * sizeof *toks);
    blocks = malloc(((size_t)nb + 1) * sizeof *blocks);
    if (!toks || !blocks) {
        st = kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint8_t t[4];
        if (!r_get(&r, t, 4)) break;
        toks[i] = (int32_t)get32(t);
        if (toks[i] < 0 || toks[i] >= ctx->model->info.n_vocab) {
            st = kvlm_fail(KVLM_ERR_FORMAT, "%s: token %d at index %u is out of the vocabulary [0, %d)", path,
                           toks[i], i, ctx->model->info.n_vocab);
            goto out;
        }
    }
    if ((st = r.st)) goto out;
    /* New blocks first: the session is untouched until everything checks. */
    int got = 0;
    for (; got < nb; got++)
        if ((st = kvlm_block_pool_alloc(p, &blocks[got]))) break;
    if (!st) {
        for_each_segment(p, blocks, (int)n, r_seg, &r);
        st = r.st;
    }
    if (!st) {
        uint8_t sum[32], want_sum[32];
        unsigned len = 0;
        if (fread(want_sum, 1, 32, r.f) != 32) st = kvlm_fail(KVLM_ERR_FORMAT, "%s: checksum missing", path);
        else if (!EVP_DigestFinal_ex(r.md, sum, &len) || len != 32) st = kvlm_fail(KVLM_ERR_INTERNAL, "SHA-256 failed");
        else if (memcmp(sum, want_sum, 32) != 0)
            st = kvlm_fail(KVLM_ERR_FORMAT, "%s: checksum mismatch (the file is corrupted)", path);
    }
    if (st) {
        while (got > 0) kvlm_block_pool_release(p, blocks[--got]);
        goto out;
    }
    /* Swap in. */
    for (int i = s->n_blocks - 1; i >= 0; i--) kvlm_block_pool_release(p, s->blocks[i]);
    memcpy(s->blocks, blocks, (size_t)nb * sizeof *blocks);
    memcpy(s->tokens, toks, (size_t)n * sizeof *toks);
    s->n_blocks = nb;
    s->n_tokens = (int)n;
    s->n_pub = 0;
    s->last_cached = 0;
    kvlm_session_publish(s);
out:
    if (r.f) fclose(r.f);
    EVP_MD_CTX_free(r.md);
    free(toks);
    free(blocks);
    kvlm_context_debug_check(ctx);
    return st;
}
