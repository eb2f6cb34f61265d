/*
 * test_safetensors.c - unit tests for the safetensors reader
 * (src/model/safetensors.c).
 *
 * Builds valid files in memory (F32, F16, BF16, a scalar, a zero-element
 * tensor, __metadata__, space-padded header), parses them from a buffer,
 * from a temp file, from a temp folder holding model.safetensors and from a
 * sharded folder with model.safetensors.index.json, and checks every field
 * and data byte read back. Then every truncated prefix and single-byte
 * corruption is parsed from an exact-size heap copy (ASan catches any
 * over-read); dtype policy (unsupported vs unknown) is checked by status.
 * Note: test.h's REQUIRE evaluates its condition twice, so conditions here
 * never have side effects.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/safetensors.h"
#include "test.h"

/* 8-byte length + header (space-padded to a multiple of 8) + data. */
static uint8_t *make_st(const char *hdr, const uint8_t *data, size_t dn, size_t *out_n)
{
    size_t hn = strlen(hdr), padn = (8 - hn % 8) % 8, tot = 8 + hn + padn + dn;
    uint8_t *b = malloc(tot);
    uint64_t n = hn + padn;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(n >> (8 * i));
    memcpy(b + 8, hdr, hn);
    memset(b + 8 + hn, ' ', padn);
    if (dn)
        memcpy(b + 8 + hn + padn, data, dn);
    *out_n = tot;
    return b;
}

static const char *HDR =
    "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
    "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,1,2],\"data_offsets\":[32,40]},"
    "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[40,44]},"
    "\"z\":{\"dtype\":\"F16\",\"shape\":[0,3],\"data_offsets\":[44,44]}}";
#define DATA_N 44

static void fill(uint8_t *d)
{
    for (int i = 0; i < DATA_N; i++)
        d[i] = (uint8_t)(i * 7 + 3);
}

static void check_set(const kvlm_st_set *s, const char *ctx, size_t file_n)
{
    uint8_t d[DATA_N];
    fill(d);
    CHECK(kvlm_st_n_tensors(s) == 5, "%s: n_tensors %lld", ctx, (long long)kvlm_st_n_tensors(s));
    CHECK(kvlm_st_file_bytes(s) == file_n, "%s: file bytes", ctx);
    CHECK(kvlm_st_n_files(s) == 1, "%s: n_files", ctx);
    struct { const char *n; kvlm_dtype t; int nd; int64_t sh[3]; uint64_t off, nb; } want[] = {
        {"w", KVLM_DTYPE_F32, 2, {2, 3, 0}, 0, 24},  {"h", KVLM_DTYPE_F16, 1, {4, 0, 0}, 24, 8},
        {"b", KVLM_DTYPE_BF16, 3, {2, 1, 2}, 32, 8}, {"s", KVLM_DTYPE_F32, 0, {0, 0, 0}, 40, 4},
        {"z", KVLM_DTYPE_F16, 2, {0, 3, 0}, 44, 0},
    };
    for (int i = 0; i < 5; i++) {
        const kvlm_st_tensor *t = kvlm_st_find(s, want[i].n);
        CHECK(t != NULL, "%s: find %s", ctx, want[i].n);
        if (!t)
            continue;
        CHECK(strcmp(t->name, want[i].n) == 0, "%s: name", ctx);
        CHECK(t->type == want[i].t, "%s: %s dtype", ctx, t->name);
        CHECK(t->n_dims == want[i].nd, "%s: %s n_dims %d", ctx, t->name, t->n_dims);
        for (int k = 0; k < want[i].nd; k++)
            CHECK(t->shape[k] == want[i].sh[k], "%s: %s shape[%d]", ctx, t->name, k);
        CHECK(t->nbytes == want[i].nb, "%s: %s nbytes", ctx, t->name);
        CHECK(t->file_index == 0, "%s: file index", ctx);
        CHECK(want[i].nb == 0 || memcmp(t->data, d + want[i].off, want[i].nb) == 0,
              "%s: %s data", ctx, t->name);
    }
    CHECK(kvlm_st_find(s, "__metadata__") == NULL && kvlm_st_find(s, "q") == NULL, "%s: absent",
          ctx);
    int64_t seen = 0;
    for (int64_t i = 0; i < kvlm_st_n_tensors(s); i++)
        seen += kvlm_st_tensor_at(s, i) != NULL;
    CHECK(seen == 5 && kvlm_st_tensor_at(s, 5) == NULL && kvlm_st_tensor_at(s, -1) == NULL,
          "%s: tensor_at", ctx);
}

static int write_file(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(b, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

static void sweep(const uint8_t *b, size_t n)
{
    int prefix_ok = 0;
    for (size_t k = 0; k < n; k++) {
        uint8_t *c = malloc(k ? k : 1);
        memcpy(c, b, k);
        kvlm_st_set *s = NULL;
        if (kvlm_st_parse(c, k, "prefix.safetensors", &s) == KVLM_OK)
            prefix_ok++;
        kvlm_st_close(s);
        free(c);
    }
    CHECK(prefix_ok == 0, "%d truncated prefixes parsed", prefix_ok);
    for (size_t i = 0; i < n; i++)
        for (int m = 0; m < 3; m++) {
            uint8_t *c = malloc(n);
            memcpy(c, b, n);
            c[i] = m == 0 ? 0xff : m == 1 ? (uint8_t)'9' : (uint8_t)(c[i] ^ 1);
            kvlm_st_set *s = NULL;
            if (kvlm_st_parse(c, n, "mut.safetensors", &s) == KVLM_OK) {
                for (int64_t t = 0; t < kvlm_st_n_tensors(s); t++) {
                    const kvlm_st_tensor *x = kvlm_st_tensor_at(s, t);
                    if (x->nbytes) {
                        volatile uint8_t v = ((const uint8_t *)x->data)[0];
                        v ^= ((const uint8_t *)x->data)[x->nbytes - 1];
                        (void)v;
                    }
                }
            } else {
                CHECK(strstr(kvlm_last_error(), "mut.safetensors") != NULL, "no file name: %s",
                      kvlm_last_error());
            }
            kvlm_st_close(s);
            free(c);
        }
}

static kvlm_status parse_hdr(const char *hdr, size_t dn)
{
    uint8_t d[64] = {0};
    size_t n;
    uint8_t *b = make_st(hdr, d, dn, &n);
    kvlm_st_set *s = NULL;
    kvlm_status st = kvlm_st_parse(b, n, "t.safetensors", &s);
    kvlm_st_close(s);
    free(b);
    return st;
}

int main(void)
{
    uint8_t d[DATA_N];
    fill(d);
    size_t n;
    uint8_t *b = make_st(HDR, d, DATA_N, &n);
    kvlm_st_set *s = NULL;
    kvlm_status st = kvlm_st_parse(b, n, "mem.safetensors", &s);
    REQUIRE(st == KVLM_OK, "parse: %s", kvlm_last_error());
    check_set(s, "buffer", n);
    kvlm_st_close(s);

    /* File, and folder with model.safetensors. */
    char dir[] = "/tmp/kvlm_test_st_XXXXXX";
    char *made = mkdtemp(dir);
    REQUIRE(made != NULL, "mkdtemp");
    char p[512], p2[512], p3[512], pi[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    int wr = write_file(p, b, n);
    REQUIRE(wr == 0, "write");
    st = kvlm_st_open(p, &s);
    REQUIRE(st == KVLM_OK, "open file: %s", kvlm_last_error());
    check_set(s, "file", n);
    CHECK(strcmp(kvlm_st_file_path(s, 0), p) == 0, "file path");
    kvlm_st_close(s);
    st = kvlm_st_open(dir, &s);
    REQUIRE(st == KVLM_OK, "open folder: %s", kvlm_last_error());
    check_set(s, "folder", n);
    kvlm_st_close(s);
    unlink(p);

    /* Sharded folder: w,h in shard 1; b,s,z in shard 2. */
    size_t n1, n2;
    uint8_t *b1 = make_st("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                          "\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}}",
                          d, 32, &n1);
    uint8_t *b2 = make_st("{\"b\":{\"dtype\":\"BF16\",\"shape\":[2,1,2],\"data_offsets\":[0,8]},"
                          "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]},"
                          "\"z\":{\"dtype\":\"F16\",\"shape\":[0,3],\"data_offsets\":[12,12]}}",
                          d + 32, 12, &n2);
    snprintf(p2, sizeof p2, "%s/a-00001.safetensors", dir);
    snprintf(p3, sizeof p3, "%s/a-00002.safetensors", dir);
    snprintf(pi, sizeof pi, "%s/model.safetensors.index.json", dir);
    wr = write_file(p2, b1, n1) | write_file(p3, b2, n2);
    REQUIRE(wr == 0, "write shards");
    const char *idx = "{\"metadata\":{\"total_size\":44},\"weight_map\":{"
                      "\"w\":\"a-00001.safetensors\",\"h\":\"a-00001.safetensors\","
                      "\"b\":\"a-00002.safetensors\",\"s\":\"a-00002.safetensors\","
                      "\"z\":\"a-00002.safetensors\"}}";
    wr = write_file(pi, idx, strlen(idx));
    REQUIRE(wr == 0, "write index");
    st = kvlm_st_open(dir, &s);
    REQUIRE(st == KVLM_OK, "open sharded: %s", kvlm_last_error());
    CHECK(kvlm_st_n_tensors(s) == 5 && kvlm_st_n_files(s) == 2, "sharded counts");
    CHECK(kvlm_st_file_bytes(s) == n1 + n2, "sharded bytes");
    const kvlm_st_tensor *t = kvlm_st_find(s, "w");
    CHECK(t && strcmp(kvlm_st_file_path(s, t->file_index), p2) == 0 &&
          memcmp(t->data, d, 24) == 0, "w in shard 1");
    t = kvlm_st_find(s, "s");
    CHECK(t && strcmp(kvlm_st_file_path(s, t->file_index), p3) == 0 &&
          memcmp(t->data, d + 40, 4) == 0 && t->n_dims == 0, "s in shard 2");
    kvlm_st_close(s);
    /* Index listing a tensor in the wrong shard. */
    const char *bad = "{\"weight_map\":{\"w\":\"a-00002.safetensors\",\"h\":\"a-00001.safetensors\","
                      "\"b\":\"a-00002.safetensors\",\"s\":\"a-00002.safetensors\","
                      "\"z\":\"a-00002.safetensors\"}}";
    wr = write_file(pi, bad, strlen(bad));
    REQUIRE(wr == 0, "write index");
    CHECK(kvlm_st_open(dir, &s) == KVLM_ERR_FORMAT &&
          strstr(kvlm_last_error(), "model.safetensors.index.json") &&
          strstr(kvlm_last_error(), "'w'"), "wrong shard: %s", kvlm_last_error());
    unlink(pi);
    unlink(p2);
    unlink(p3);
    CHECK(kvlm_st_open(dir, &s) == KVLM_ERR_IO && strstr(kvlm_last_error(), "neither"),
          "empty folder: %s", kvlm_last_error());
    rmdir(dir);
    free(b1);
    free(b2);

    /* dtype policy and a few header rules. */
    CHECK(parse_hdr("{\"x\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8) ==
          KVLM_ERR_UNSUPPORTED && strstr(kvlm_last_error(), "'x'") &&
          strstr(kvlm_last_error(), "I64"), "I64 unsupported: %s", kvlm_last_error());
    CHECK(parse_hdr("{\"x\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3) ==
          KVLM_ERR_UNSUPPORTED, "BOOL unsupported");
    CHECK(parse_hdr("{\"x\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8) ==
          KVLM_ERR_FORMAT, "unknown dtype");
    /* A format error elsewhere wins over an unsupported dtype. */
    CHECK(parse_hdr("{\"x\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 16) ==
          KVLM_ERR_FORMAT, "hole beats unsupported");
    CHECK(parse_hdr("{}", 0) == KVLM_OK, "empty header");
    CHECK(parse_hdr("{\"__metadata__\":{}}", 0) == KVLM_OK, "metadata only");
    CHECK(parse_hdr("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}",
                    4) == KVLM_OK, "unknown entry fields ignored");
    CHECK(parse_hdr("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4) ==
          KVLM_ERR_FORMAT && strstr(kvlm_last_error(), "does not match"), "size mismatch");

    sweep(b, n);
    free(b);
    CHECK(kvlm_st_open("/nonexistent/m.safetensors", &s) == KVLM_ERR_IO &&
          strstr(kvlm_last_error(), "/nonexistent/m.safetensors"), "missing file");
    TEST_MAIN_END("test_safetensors");
}
