/*
 * tok_util.h - helpers shared by the tokenizer tests: file reading, the
 * llama.cpp .inp/.out vector format (FORMAT.md in the conformance folder)
 * and id-list comparison with a readable diff.
 */
#ifndef KVLM_TOK_UTIL_H
#define KVLM_TOK_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvlm.h"

static inline char *tu_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap + 1);
    size_t got;
    while (p && (got = fread(p + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            char *q = realloc(p, cap + 1);
            if (!q) { free(p); p = NULL; }
            else p = q;
        }
    }
    fclose(f);
    if (p) p[n] = 0;
    if (len) *len = n;
    return p;
}

static inline int tu_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static inline void tu_print_ids(const char *label, const int32_t *ids, size_t n)
{
    fprintf(stderr, "  %s (%zu):", label, n);
    for (size_t i = 0; i < n && i < 64; i++) fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, n > 64 ? " ...\n" : "\n");
}

/* Encodes text and compares with expect; prints both on mismatch. */
static inline int tu_check_ids(const kvlm_tokenizer *tok, const char *text, size_t len, unsigned flags, const int32_t *expect,
                        size_t n_expect, const char *what)
{
    int32_t *ids = NULL;
    size_t n = 0;
    kvlm_status st = kvlm_tokenizer_encode_alloc(tok, text, len, flags, &ids, &n);
    int ok = st == KVLM_OK && n == n_expect && (n == 0 || memcmp(ids, expect, n * sizeof *ids) == 0);
    if (!ok) {
        fprintf(stderr, "MISMATCH %s: text \"%.*s\"%s\n", what, (int)(len > 120 ? 120 : len), text, len > 120 ? "..." : "");
        if (st) fprintf(stderr, "  error: %s\n", kvlm_last_error());
        tu_print_ids("got", ids, n);
        tu_print_ids("want", expect, n_expect);
    }
    free(ids);
    return ok;
}

/* Runs a llama.cpp .inp/.out pair; returns the number of failures, or -1 if
 * the files are malformed; *n_cases receives the case count. */
static inline int tu_run_inp_out(const kvlm_tokenizer *tok, const char *inp_path, const char *out_path, int *n_cases)
{
    size_t il, ol;
    char *inp = tu_read(inp_path, &il), *out = tu_read(out_path, &ol);
    if (!inp || !out) { free(inp); free(out); return -1; }
    static const char sep[] = "\n__ggml_vocab_test__\n";
    size_t seplen = sizeof sep - 1;
    int fails = 0, cases = 0;
    char *ip = inp, *op = out;
    int32_t *want = malloc(sizeof(int32_t) * 4096);
    while (ip < inp + il) {
        char *e = strstr(ip, sep);
        if (!e) break;
        char *eol = strchr(op, '\n');
        if (!eol) { fails = -1; break; }
        size_t nw = 0;
        for (char *q = op; q < eol && nw < 4096;) {
            while (q < eol && *q == ' ') q++;
            if (q >= eol) break;
            want[nw++] = (int32_t)strtol(q, &q, 10);
        }
        if (!tu_check_ids(tok, ip, (size_t)(e - ip), 0, want, nw, inp_path)) fails++;
        /* round trip */
        int32_t *ids = NULL;
        size_t n = 0;
        char *back = NULL;
        size_t bl = 0;
        if (kvlm_tokenizer_encode_alloc(tok, ip, (size_t)(e - ip), 0, &ids, &n) == KVLM_OK &&
            kvlm_tokenizer_decode_alloc(tok, ids, n, 0, &back, &bl) == KVLM_OK) {
            if (bl != (size_t)(e - ip) || memcmp(back, ip, bl) != 0) {
                fprintf(stderr, "ROUNDTRIP %s: \"%.*s\" -> \"%.*s\"\n", inp_path, (int)(e - ip), ip, (int)bl, back);
                fails++;
            }
        }
        free(ids);
        free(back);
        cases++;
        ip = e + seplen;
        op = eol + 1;
    }
    free(want);
    free(inp);
    free(out);
    *n_cases = cases;
    return fails;
}

#endif
