/*
 * nfc.c - Unicode Normalization Form C for the NFC normalizer (Qwen2,
 * GPT-NeoX/MPT tokenizer.json files), from tables generated out of the
 * Unicode database (nfc_tables.h, gen_nfc_tables.py).
 *
 * Algorithm (UAX #15): decompose every code point canonically (Hangul
 * algorithmically), put each run of non-starters in canonical order (stable
 * by combining class), then compose: a character combines with the last
 * starter unless blocked by an intervening character of equal or higher
 * class.
 *
 * Cost is linear: text below U+0300 is copied (it is already NFC); the
 * canonical ordering of a run of k non-starters is a stable counting sort
 * for long runs (O(k + 256)), insertion sort for short ones, so 1 MB of
 * combining marks stays linear. Invalid UTF-8 bytes are copied unchanged
 * and act as blocking starters (HF cannot represent them).
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/nfc_tables.h"

#define INVALID_BIT 0x80000000u /* a raw invalid byte, kept as is */
#define SBase 0xAC00u
#define LBase 0x1100u
#define VBase 0x1161u
#define TBase 0x11A7u
#define LCount 19u
#define VCount 21u
#define TCount 28u
#define NCount (VCount * TCount)
#define SCount (LCount * NCount)

static unsigned ccc_of(uint32_t cp)
{
    if (cp < 0x300 || (cp & INVALID_BIT)) return 0;
    size_t lo = 0, hi = sizeof kvlm_nfc_ccc / sizeof *kvlm_nfc_ccc;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (kvlm_nfc_ccc[mid][0] < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < sizeof kvlm_nfc_ccc / sizeof *kvlm_nfc_ccc && kvlm_nfc_ccc[lo][0] == cp ? kvlm_nfc_ccc[lo][1] : 0;
}

static const uint32_t *decomp_of(uint32_t cp, uint32_t *n)
{
    size_t lo = 0, hi = sizeof kvlm_nfc_decomp / sizeof *kvlm_nfc_decomp;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (kvlm_nfc_decomp[mid][0] < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo < sizeof kvlm_nfc_decomp / sizeof *kvlm_nfc_decomp && kvlm_nfc_decomp[lo][0] == cp) {
        *n = kvlm_nfc_decomp[lo][2];
        return kvlm_nfc_pool + kvlm_nfc_decomp[lo][1];
    }
    return NULL;
}

static uint32_t compose(uint32_t a, uint32_t b) /* 0 if none */
{
    if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
        return SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
    if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
        return a + (b - TBase);
    if ((a | b) & INVALID_BIT) return 0;
    uint64_t key = ((uint64_t)a << 21) | b;
    size_t lo = 0, hi = sizeof kvlm_nfc_comp / sizeof *kvlm_nfc_comp;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (kvlm_nfc_comp[mid][0] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < sizeof kvlm_nfc_comp / sizeof *kvlm_nfc_comp && kvlm_nfc_comp[lo][0] == key ? (uint32_t)kvlm_nfc_comp[lo][1] : 0;
}

typedef struct cps { uint32_t *v; uint8_t *c; size_t n, cap; } cps;

static kvlm_status cps_push(cps *a, uint32_t cp)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        uint32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return kvlm_fail(KVLM_ERR_NOMEM, "NFC: out of memory");
        a->v = v;
        uint8_t *c = realloc(a->c, cap);
        if (!c) return kvlm_fail(KVLM_ERR_NOMEM, "NFC: out of memory");
        a->c = c;
        a->cap = cap;
    }
    a->c[a->n] = (uint8_t)ccc_of(cp);
    a->v[a->n++] = cp;
    return KVLM_OK;
}

static kvlm_status sort_run(cps *a, size_t s, size_t e)
{
    size_t k = e - s;
    if (k < 2) return KVLM_OK;
    if (k <= 32) {
        for (size_t i = s + 1; i < e; i++) {
            uint32_t v = a->v[i];
            uint8_t c = a->c[i];
            size_t j = i;
            while (j > s && a->c[j - 1] > c) { a->v[j] = a->v[j - 1]; a->c[j] = a->c[j - 1]; j--; }
            a->v[j] = v;
            a->c[j] = c;
        }
        return KVLM_OK;
    }
    size_t count[257] = {0};
    for (size_t i = s; i < e; i++) count[a->c[i] + 1]++;
    for (int i = 0; i < 256; i++) count[i + 1] += count[i];
    uint32_t *tmp = malloc(k * sizeof *tmp);
    if (!tmp) return kvlm_fail(KVLM_ERR_NOMEM, "NFC: out of memory");
    for (size_t i = s; i < e; i++) tmp[count[a->c[i]]++] = a->v[i];
    for (size_t i = 0; i < k; i++) {
        a->v[s + i] = tmp[i];
        a->c[s + i] = (uint8_t)ccc_of(tmp[i]);
    }
    free(tmp);
    return KVLM_OK;
}

static kvlm_status nfc_slow(const unsigned char *u, size_t n, kvlm_buf *out)
{
    cps a = {0};
    kvlm_status st = KVLM_OK;
    for (size_t i = 0; i < n && !st;) {
        int l = kvlm_utf8_valid_len(u + i, n - i);
        if (l == 0) { st = cps_push(&a, INVALID_BIT | u[i]); i++; continue; }
        uint32_t cp = kvlm_utf8_decode(u + i, l), dn;
        i += (size_t)l;
        const uint32_t *d;
        if (cp >= SBase && cp < SBase + SCount) {
            uint32_t si = cp - SBase;
            st = cps_push(&a, LBase + si / NCount);
            if (!st) st = cps_push(&a, VBase + (si % NCount) / TCount);
            if (!st && si % TCount) st = cps_push(&a, TBase + si % TCount);
        } else if (cp >= 0xC0 && (d = decomp_of(cp, &dn)) != NULL) {
            for (uint32_t k = 0; k < dn && !st; k++) st = cps_push(&a, d[k]);
        } else {
            st = cps_push(&a, cp);
        }
    }
    /* canonical ordering of non-starter runs */
    for (size_t i = 0; i < a.n && !st;) {
        if (a.c[i] == 0) { i++; continue; }
        size_t j = i;
        while (j < a.n && a.c[j] != 0) j++;
        st = sort_run(&a, i, j);
        i = j;
    }
    /* composition, in place: last_ccc is the class of the last character
     * kept after the current starter (-1: none, so adjacent) */
    size_t w = 0;
    long starter = -1;
    int last_ccc = -1;
    for (size_t i = 0; i < a.n && !st; i++) {
        uint32_t cp = a.v[i];
        int c = a.c[i];
        if (starter >= 0 && (last_ccc == -1 || last_ccc < c)) {
            uint32_t m = compose(a.v[starter], cp);
            if (m) {
                a.v[starter] = m;
                continue;
            }
        }
        if (c == 0) { starter = (long)w; last_ccc = -1; }
        else last_ccc = c;
        a.v[w] = cp;
        a.c[w++] = (uint8_t)c;
    }
    a.n = w;
    for (size_t i = 0; i < a.n && !st; i++) {
        char b[4];
        if (a.v[i] & INVALID_BIT) {
            b[0] = (char)(a.v[i] & 0xFF);
            st = kvlm_buf_put(out, b, 1);
        } else {
            st = kvlm_buf_put(out, b, (size_t)kvlm_utf8_encode(a.v[i], b));
        }
    }
    free(a.v);
    free(a.c);
    return st;
}

kvlm_status kvlm_nfc(const char *s, size_t n, kvlm_buf *out)
{
    /* Segments start at ASCII bytes (no composition pair ends in ASCII, so
     * the boundary before one is safe). A segment whose bytes are all below
     * 0xCC holds only code points below U+0300 and is already NFC: it is
     * copied. Others go through the full algorithm. */
    const unsigned char *u = (const unsigned char *)s;
    out->n = 0;
    kvlm_status st = kvlm_buf_put(out, "", 0);
    size_t copy_from = 0, i = 0;
    while (i < n && !st) {
        size_t j = i + 1;
        bool slow = u[i] >= 0xCC;
        while (j < n && u[j] >= 0x80) slow |= u[j++] >= 0xCC;
        if (slow) {
            st = kvlm_buf_put(out, s + copy_from, i - copy_from);
            if (!st) st = nfc_slow(u + i, j - i, out);
            copy_from = j;
        }
        i = j;
    }
    if (!st) st = kvlm_buf_put(out, s + copy_from, n - copy_from);
    return st;
}
