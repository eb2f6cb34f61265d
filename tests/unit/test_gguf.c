/*
 * test_gguf.c - unit tests for the GGUF reader (src/model/gguf.c).
 *
 * Builds valid GGUF files byte by byte in memory (every metadata value type,
 * arrays of every element type, tensors of several GGML types and ranks, a
 * custom alignment), parses them from a buffer and from a temp file, and
 * checks every value read back. Then parses every truncated prefix and every
 * single-byte corruption of the file from exact-size heap copies: each must
 * fail cleanly or succeed, never read out of bounds (run under ASan too).
 * Note: test.h's REQUIRE evaluates its condition twice, so conditions here
 * never have side effects.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/gguf.h"
#include "test.h"

/* REQUIRE for void helpers. */
#define REQUIRE_VOID(x)                                                      \
    do {                                                                     \
        CHECK((x) != NULL, "unexpected NULL");                               \
        if (!(x))                                                            \
            return;                                                          \
    } while (0)

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort(); /* test harness only */
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put_le(buf *b, uint64_t v, int n)
{
    uint8_t t[8];
    for (int i = 0; i < n; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, (size_t)n);
}
static void put_str(buf *b, const char *s)
{
    put_le(b, strlen(s), 8);
    put(b, s, strlen(s));
}
static void put_key(buf *b, const char *k, kvlm_gguf_type t)
{
    put_str(b, k);
    put_le(b, t, 4);
}
static void pad(buf *b, size_t align)
{
    while (b->n % align)
        put_le(b, 0, 1);
}
static uint64_t f32bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static uint64_t f64bits(double f)
{
    uint64_t u;
    memcpy(&u, &f, 8);
    return u;
}

typedef struct tdesc {
    const char *name;
    int n_dims;
    int64_t ne[4];
    uint32_t type;
    uint64_t nbytes;
    uint64_t offset;
} tdesc;

static const tdesc g_t[] = {
    {"token_embd.weight", 2, {4, 3, 1, 1}, 0, 48, 0},
    {"blk.0.attn_norm.weight", 1, {8, 1, 1, 1}, 1, 16, 64},
    {"blk.0.ffn_up.weight", 2, {64, 2, 1, 1}, 2, 72, 128},
    {"blk.0.ffn_down.weight", 1, {256, 1, 1, 1}, 12, 144, 256},
    {"four_d", 4, {2, 2, 2, 2}, 30, 32, 448},
    {"q8", 3, {32, 1, 2, 1}, 8, 68, 512},
};
#define NT (int)(sizeof g_t / sizeof g_t[0])
#define ALIGN 64

/* Fills tensor i's data with a pattern that depends on i. */
static uint8_t pattern(int i, uint64_t j) { return (uint8_t)(i * 37 + j * 11 + 1); }

static buf build(uint32_t version, bool custom_align)
{
    buf b = {0};
    put(&b, "GGUF", 4);
    put_le(&b, version, 4);
    put_le(&b, NT, 8);
    put_le(&b, custom_align ? 19 : 18, 8);
    put_key(&b, "u8", KVLM_GGUF_UINT8); put_le(&b, 200, 1);
    put_key(&b, "i8", KVLM_GGUF_INT8); put_le(&b, (uint8_t)-100, 1);
    put_key(&b, "u16", KVLM_GGUF_UINT16); put_le(&b, 60000, 2);
    put_key(&b, "i16", KVLM_GGUF_INT16); put_le(&b, (uint16_t)-30000, 2);
    put_key(&b, "u32", KVLM_GGUF_UINT32); put_le(&b, 4000000000u, 4);
    put_key(&b, "i32", KVLM_GGUF_INT32); put_le(&b, (uint32_t)-2000000000, 4);
    put_key(&b, "f32", KVLM_GGUF_FLOAT32); put_le(&b, f32bits(1.5f), 4);
    put_key(&b, "bool", KVLM_GGUF_BOOL); put_le(&b, 1, 1);
    put_key(&b, "general.architecture", KVLM_GGUF_STRING); put_str(&b, "llama");
    put_key(&b, "u64", KVLM_GGUF_UINT64); put_le(&b, 0xfedcba9876543210ull, 8);
    put_key(&b, "i64", KVLM_GGUF_INT64); put_le(&b, (uint64_t)INT64_MIN, 8);
    put_key(&b, "f64", KVLM_GGUF_FLOAT64); put_le(&b, f64bits(-2.25), 8);
    put_key(&b, "arr.u8", KVLM_GGUF_ARRAY); put_le(&b, KVLM_GGUF_UINT8, 4); put_le(&b, 3, 8);
    put_le(&b, 1, 1); put_le(&b, 2, 1); put_le(&b, 3, 1);
    put_key(&b, "arr.i32", KVLM_GGUF_ARRAY); put_le(&b, KVLM_GGUF_INT32, 4); put_le(&b, 2, 8);
    put_le(&b, (uint32_t)-7, 4); put_le(&b, 9, 4);
    put_key(&b, "arr.f32", KVLM_GGUF_ARRAY); put_le(&b, KVLM_GGUF_FLOAT32, 4); put_le(&b, 2, 8);
    put_le(&b, f32bits(0.5f), 4); put_le(&b, f32bits(-1.0f), 4);
    put_key(&b, "arr.str", KVLM_GGUF_ARRAY); put_le(&b, KVLM_GGUF_STRING, 4); put_le(&b, 3, 8);
    put_str(&b, "hello"); put_str(&b, ""); put_str(&b, "<s>");
    put_key(&b, "arr.empty", KVLM_GGUF_ARRAY); put_le(&b, KVLM_GGUF_UINT64, 4); put_le(&b, 0, 8);
    put_key(&b, "arr.bool", KVLM_GGUF_ARRAY); put_le(&b, KVLM_GGUF_BOOL, 4); put_le(&b, 2, 8);
    put_le(&b, 0, 1); put_le(&b, 1, 1);
    if (custom_align) {
        put_key(&b, "general.alignment", KVLM_GGUF_UINT32);
        put_le(&b, ALIGN, 4);
    }
    for (int i = 0; i < NT; i++) {
        put_str(&b, g_t[i].name);
        put_le(&b, (uint64_t)g_t[i].n_dims, 4);
        for (int d = 0; d < g_t[i].n_dims; d++)
            put_le(&b, (uint64_t)g_t[i].ne[d], 8);
        put_le(&b, g_t[i].type, 4);
        put_le(&b, g_t[i].offset, 8);
    }
    pad(&b, custom_align ? ALIGN : 32);
    size_t data = b.n;
    for (int i = 0; i < NT; i++) {
        while (b.n < data + g_t[i].offset)
            put_le(&b, 0, 1);
        for (uint64_t j = 0; j < g_t[i].nbytes; j++)
            put_le(&b, pattern(i, j), 1);
    }
    return b;
}

static void check_contents(const kvlm_gguf *g, uint32_t version, uint64_t align, const char *ctx)
{
    CHECK(kvlm_gguf_version(g) == version, "%s: version", ctx);
    CHECK(kvlm_gguf_alignment(g) == align, "%s: alignment %llu", ctx,
          (unsigned long long)kvlm_gguf_alignment(g));
    CHECK(kvlm_gguf_data_offset(g) % align == 0, "%s: data offset", ctx);
    CHECK(kvlm_gguf_n_kv(g) == (align == 32 ? 18 : 19), "%s: n_kv", ctx);
    CHECK(kvlm_gguf_n_tensors(g) == NT, "%s: n_tensors", ctx);

    const kvlm_gguf_kv *kv = kvlm_gguf_kv_at(g, 0);
    CHECK(kv && kvlm_str_eq(kv->key, "u8") && kv->type == KVLM_GGUF_UINT8 && kv->v.u64 == 200,
          "%s: kv 0", ctx);
    CHECK(kvlm_gguf_kv_at(g, -1) == NULL && kvlm_gguf_kv_at(g, 99) == NULL, "%s: kv_at range", ctx);
    kv = kvlm_gguf_find_kv(g, "i8");
    CHECK(kv && kv->type == KVLM_GGUF_INT8 && kv->v.i64 == -100, "%s: i8", ctx);
    kv = kvlm_gguf_find_kv(g, "i16");
    CHECK(kv && kv->v.i64 == -30000, "%s: i16", ctx);
    kv = kvlm_gguf_find_kv(g, "i32");
    CHECK(kv && kv->v.i64 == -2000000000, "%s: i32", ctx);
    kv = kvlm_gguf_find_kv(g, "i64");
    CHECK(kv && kv->v.i64 == INT64_MIN, "%s: i64", ctx);
    kv = kvlm_gguf_find_kv(g, "f64");
    CHECK(kv && kv->type == KVLM_GGUF_FLOAT64 && kv->v.f64 == -2.25, "%s: f64", ctx);
    CHECK(kvlm_gguf_find_kv(g, "nope") == NULL && kvlm_gguf_find_kv(g, "u") == NULL &&
          kvlm_gguf_find_kv(g, "u88") == NULL, "%s: absent keys", ctx);

    uint32_t u32;
    uint64_t u64;
    float f;
    bool bo;
    kvlm_str s;
    CHECK(kvlm_gguf_get_u32(g, "u8", &u32) == KVLM_OK && u32 == 200, "%s: get_u32 u8", ctx);
    CHECK(kvlm_gguf_get_u32(g, "u16", &u32) == KVLM_OK && u32 == 60000, "%s: get_u32 u16", ctx);
    CHECK(kvlm_gguf_get_u32(g, "u32", &u32) == KVLM_OK && u32 == 4000000000u, "%s: u32", ctx);
    CHECK(kvlm_gguf_get_u32(g, "u64", &u32) == KVLM_ERR_FORMAT &&
          strstr(kvlm_last_error(), "out of range"), "%s: u64 into u32: %s", ctx, kvlm_last_error());
    CHECK(kvlm_gguf_get_u32(g, "i32", &u32) == KVLM_ERR_FORMAT &&
          strstr(kvlm_last_error(), "negative"), "%s: negative into u32", ctx);
    CHECK(kvlm_gguf_get_u64(g, "u64", &u64) == KVLM_OK && u64 == 0xfedcba9876543210ull,
          "%s: get_u64", ctx);
    CHECK(kvlm_gguf_get_u64(g, "f32", &u64) == KVLM_ERR_FORMAT &&
          strstr(kvlm_last_error(), "'f32'") && strstr(kvlm_last_error(), "float32"),
          "%s: float into u64: %s", ctx, kvlm_last_error());
    CHECK(kvlm_gguf_get_f32(g, "f32", &f) == KVLM_OK && f == 1.5f, "%s: get_f32", ctx);
    CHECK(kvlm_gguf_get_f32(g, "f64", &f) == KVLM_OK && f == -2.25f, "%s: get_f32 f64", ctx);
    CHECK(kvlm_gguf_get_f32(g, "u8", &f) == KVLM_ERR_FORMAT, "%s: get_f32 int", ctx);
    CHECK(kvlm_gguf_get_bool(g, "bool", &bo) == KVLM_OK && bo, "%s: get_bool", ctx);
    CHECK(kvlm_gguf_get_bool(g, "u8", &bo) == KVLM_ERR_FORMAT, "%s: get_bool int", ctx);
    CHECK(kvlm_gguf_get_str(g, "general.architecture", &s) == KVLM_OK && kvlm_str_eq(s, "llama"),
          "%s: get_str", ctx);
    CHECK(kvlm_gguf_get_str(g, "missing.key", &s) == KVLM_ERR_FORMAT &&
          strstr(kvlm_last_error(), "'missing.key' is missing"), "%s: missing: %s", ctx,
          kvlm_last_error());

    const kvlm_gguf_kv *a;
    CHECK(kvlm_gguf_get_arr(g, "arr.u8", KVLM_GGUF_UINT8, &a) == KVLM_OK && a->v.arr.n == 3 &&
          memcmp(a->v.arr.data, "\1\2\3", 3) == 0 && a->v.arr.strs == NULL, "%s: arr.u8", ctx);
    CHECK(kvlm_gguf_get_arr(g, "arr.u8", KVLM_GGUF_INT32, &a) == KVLM_ERR_FORMAT &&
          strstr(kvlm_last_error(), "array of uint8"), "%s: arr type", ctx);
    if (kvlm_gguf_get_arr(g, "arr.i32", KVLM_GGUF_INT32, &a) == KVLM_OK) {
        const uint8_t *p = a->v.arr.data;
        int32_t x = (int32_t)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24);
        CHECK(a->v.arr.n == 2 && x == -7 && p[4] == 9, "%s: arr.i32", ctx);
    } else {
        CHECK(0, "%s: arr.i32 %s", ctx, kvlm_last_error());
    }
    if (kvlm_gguf_get_arr(g, "arr.f32", KVLM_GGUF_FLOAT32, &a) == KVLM_OK) {
        float x[2];
        memcpy(x, a->v.arr.data, 8); /* little-endian host */
        CHECK(a->v.arr.n == 2 && x[0] == 0.5f && x[1] == -1.0f, "%s: arr.f32", ctx);
    } else {
        CHECK(0, "%s: arr.f32", ctx);
    }
    if (kvlm_gguf_get_arr(g, "arr.str", KVLM_GGUF_STRING, &a) == KVLM_OK) {
        CHECK(a->v.arr.n == 3 && kvlm_str_eq(a->v.arr.strs[0], "hello") &&
              kvlm_str_eq(a->v.arr.strs[1], "") && kvlm_str_eq(a->v.arr.strs[2], "<s>"),
              "%s: arr.str", ctx);
    } else {
        CHECK(0, "%s: arr.str", ctx);
    }
    CHECK(kvlm_gguf_get_arr(g, "arr.empty", KVLM_GGUF_UINT64, &a) == KVLM_OK && a->v.arr.n == 0,
          "%s: arr.empty", ctx);
    CHECK(kvlm_gguf_get_arr(g, "arr.bool", KVLM_GGUF_BOOL, &a) == KVLM_OK && a->v.arr.n == 2,
          "%s: arr.bool", ctx);
    CHECK(kvlm_gguf_get_arr(g, "u8", KVLM_GGUF_UINT8, &a) == KVLM_ERR_FORMAT, "%s: not arr", ctx);

    for (int i = 0; i < NT; i++) {
        const kvlm_gguf_tensor *t = kvlm_gguf_tensor_at(g, i);
        REQUIRE_VOID(t);
        CHECK(strcmp(t->name, g_t[i].name) == 0, "%s: tensor %d name %s", ctx, i, t->name);
        CHECK(kvlm_gguf_find_tensor(g, g_t[i].name) == t, "%s: find %s", ctx, g_t[i].name);
        CHECK(t->n_dims == g_t[i].n_dims, "%s: %s n_dims", ctx, t->name);
        for (int d = 0; d < 4; d++)
            CHECK(t->ne[d] == g_t[i].ne[d], "%s: %s ne[%d]", ctx, t->name, d);
        CHECK(t->ggml_type == g_t[i].type && (uint32_t)t->type == g_t[i].type, "%s: %s type", ctx,
              t->name);
        CHECK(t->nbytes == g_t[i].nbytes, "%s: %s nbytes %llu", ctx, t->name,
              (unsigned long long)t->nbytes);
        CHECK(t->offset == g_t[i].offset, "%s: %s offset", ctx, t->name);
        const uint8_t *d = t->data;
        int ok = 1;
        for (uint64_t j = 0; j < t->nbytes; j++)
            ok &= d[j] == pattern(i, j);
        CHECK(ok, "%s: %s data", ctx, t->name);
        CHECK(((uintptr_t)d - (uintptr_t)kvlm_gguf_tensor_at(g, 0)->data) % align == 0,
              "%s: %s data alignment", ctx, t->name);
    }
    CHECK(kvlm_gguf_find_tensor(g, "absent") == NULL, "%s: absent tensor", ctx);
    CHECK(kvlm_gguf_tensor_at(g, NT) == NULL, "%s: tensor_at range", ctx);
}


static void sweep(const buf *b, const char *ctx)
{
    /* Every strict prefix must fail; every single-byte corruption must be
     * handled without out-of-bounds reads (exact-size heap copies). */
    int prefix_ok = 0;
    for (size_t n = 0; n < b->n; n++) {
        uint8_t *c = malloc(n ? n : 1);
        memcpy(c, b->p, n);
        kvlm_gguf *g = NULL;
        if (kvlm_gguf_parse(c, n, "prefix.gguf", &g) == KVLM_OK)
            prefix_ok++;
        kvlm_gguf_close(g);
        free(c);
    }
    CHECK(prefix_ok == 0, "%s: %d truncated prefixes parsed", ctx, prefix_ok);
    for (size_t i = 0; i < b->n; i++) {
        for (int k = 0; k < 3; k++) {
            uint8_t *c = malloc(b->n);
            memcpy(c, b->p, b->n);
            c[i] = k == 0 ? 0xff : k == 1 ? 0x00 : (uint8_t)(c[i] ^ 0x80);
            kvlm_gguf *g = NULL;
            if (kvlm_gguf_parse(c, b->n, "mut.gguf", &g) == KVLM_OK) {
                for (int64_t t = 0; t < kvlm_gguf_n_tensors(g); t++) {
                    const kvlm_gguf_tensor *x = kvlm_gguf_tensor_at(g, t);
                    volatile uint8_t s = ((const uint8_t *)x->data)[0];
                    s ^= ((const uint8_t *)x->data)[x->nbytes - 1];
                    (void)s;
                }
            } else {
                CHECK(strstr(kvlm_last_error(), "mut.gguf") != NULL, "%s: message lacks name: %s",
                      ctx, kvlm_last_error());
            }
            kvlm_gguf_close(g);
            free(c);
        }
    }
}

int main(void)
{
    CHECK(strcmp(kvlm_ggml_type_name(0), "f32") == 0, "name f32");
    CHECK(strcmp(kvlm_ggml_type_name(12), "q4_K") == 0, "name q4_K");
    CHECK(strcmp(kvlm_ggml_type_name(30), "bf16") == 0, "name bf16");
    CHECK(strcmp(kvlm_ggml_type_name(39), "mxfp4") == 0, "name mxfp4");
    CHECK(strcmp(kvlm_ggml_type_name(17), "iq2_xs") == 0, "name iq2_xs");
    CHECK(strcmp(kvlm_ggml_type_name(40), "nvfp4") == 0, "name nvfp4");
    CHECK(strcmp(kvlm_ggml_type_name(41), "q1_0") == 0, "name q1_0");
    CHECK(kvlm_ggml_type_name(42) == NULL && kvlm_ggml_type_name(0xffffffffu) == NULL, "unknown");
    uint32_t bl = 0, by = 0;
    CHECK(kvlm_ggml_type_block(14, &bl, &by) && bl == 256 && by == 210, "q6_K block");
    CHECK(kvlm_ggml_type_block(8, &bl, &by) && bl == 32 && by == 34, "q8_0 block");
    CHECK(kvlm_ggml_type_block(2, &bl, &by) && bl == 32 && by == 18, "q4_0 block");
    CHECK(!kvlm_ggml_type_block(4, &bl, &by) && !kvlm_ggml_type_block(42, NULL, NULL), "removed");
    kvlm_str s = {"abc", 3};
    CHECK(kvlm_str_eq(s, "abc") && !kvlm_str_eq(s, "ab") && !kvlm_str_eq(s, "abcd"), "str_eq");

    for (int variant = 0; variant < 3; variant++) {
        uint32_t version = variant == 1 ? 2 : 3;
        bool custom = variant == 2;
        uint64_t align = custom ? ALIGN : 32;
        char ctx[32];
        snprintf(ctx, sizeof ctx, "v%u align %llu", version, (unsigned long long)align);
        buf b = build(version, custom);
        kvlm_gguf *g = NULL;
        kvlm_status st = kvlm_gguf_parse(b.p, b.n, "mem.gguf", &g);
        REQUIRE(st == KVLM_OK, "%s: parse: %s", ctx, kvlm_last_error());
        CHECK(strcmp(kvlm_gguf_path(g), "mem.gguf") == 0, "path");
        CHECK(kvlm_gguf_file_size(g) == b.n, "file size");
        check_contents(g, version, align, ctx);
        kvlm_gguf_close(g);

        char path[] = "/tmp/kvlm_test_gguf_XXXXXX";
        int fd = mkstemp(path);
        REQUIRE(fd >= 0, "mkstemp");
        ssize_t wr = write(fd, b.p, b.n);
        REQUIRE(wr == (ssize_t)b.n, "write");
        close(fd);
        st = kvlm_gguf_open(path, &g);
        REQUIRE(st == KVLM_OK, "%s: open: %s", ctx, kvlm_last_error());
        CHECK(strcmp(kvlm_gguf_path(g), path) == 0, "open path");
        CHECK(kvlm_gguf_file_size(g) == b.n, "open file size");
        check_contents(g, version, align, ctx);
        kvlm_gguf_close(g);
        unlink(path);
        if (variant == 0)
            sweep(&b, ctx);
        free(b.p);
    }
    kvlm_gguf *g = NULL;
    CHECK(kvlm_gguf_open("/nonexistent/x.gguf", &g) == KVLM_ERR_IO &&
          strstr(kvlm_last_error(), "/nonexistent/x.gguf"), "missing file");
    CHECK(kvlm_gguf_open("/tmp", &g) == KVLM_ERR_IO, "directory");
    CHECK(kvlm_gguf_parse(NULL, 0, "null.gguf", &g) == KVLM_ERR_FORMAT, "empty buffer");
    TEST_MAIN_END("test_gguf");
}
