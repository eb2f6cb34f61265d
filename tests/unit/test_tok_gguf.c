/*
 * test_tok_gguf.c - GGUF vocabulary loading (gguf_vocab.c) on small GGUF
 * files written by this test: a byte-level `gpt2` vocabulary and a
 * SentencePiece `llama` one that must tokenize correctly, and malformed ones
 * (arrays shorter than the token list, arrays of the wrong element type,
 * special ids >= vocab size, merges naming missing tokens, unknown model or
 * pre-tokenizer) that must fail with errors naming the key. Skips with a
 * message while the GGUF reader (src/model/gguf.c) is not linked.
 */
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "test.h"
#include "tok_util.h"
#include "tokenizer/tokenizer.h"

/* ---- a minimal GGUF v3 writer (metadata only, no tensors) ---------------- */
typedef struct gw { kvlm_buf b; uint64_t n_kv; } gw;

static void w_raw(gw *w, const void *p, size_t n) { kvlm_buf_put(&w->b, p, n); }
static void w_u32(gw *w, uint32_t x) { w_raw(w, &x, 4); }
static void w_u64(gw *w, uint64_t x) { w_raw(w, &x, 8); }
static void w_str(gw *w, const char *s, size_t n) { w_u64(w, n); w_raw(w, s, n); }
static void w_key(gw *w, const char *k, uint32_t type) { w_str(w, k, strlen(k)); w_u32(w, type); w->n_kv++; }
static void kv_str(gw *w, const char *k, const char *v) { w_key(w, k, 8); w_str(w, v, strlen(v)); }
static void kv_u32(gw *w, const char *k, uint32_t v) { w_key(w, k, 4); w_u32(w, v); }
static void kv_bool(gw *w, const char *k, bool v) { w_key(w, k, 7); uint8_t x = v; w_raw(w, &x, 1); }
static void kv_strs(gw *w, const char *k, char **v, size_t n)
{
    w_key(w, k, 9);
    w_u32(w, 8);
    w_u64(w, n);
    for (size_t i = 0; i < n; i++) w_str(w, v[i], strlen(v[i]));
}
static void kv_arr32(gw *w, const char *k, uint32_t et, const void *v, size_t n)
{
    w_key(w, k, 9);
    w_u32(w, et);
    w_u64(w, n);
    w_raw(w, v, 4 * n);
}

static const char *write_file(gw *w, const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "/tmp/kvlm_test_tok_%d_%s.gguf", (int)getpid(), name);
    FILE *f = fopen(path, "wb");
    uint32_t ver = 3;
    uint64_t nt = 0;
    fwrite("GGUF", 1, 4, f);
    fwrite(&ver, 4, 1, f);
    fwrite(&nt, 8, 1, f);
    fwrite(&w->n_kv, 8, 1, f);
    fwrite(w->b.p, 1, w->b.n, f);
    /* pad to the default alignment (32) */
    long pos = ftell(f);
    while (pos++ % 32) fputc(0, f);
    fclose(f);
    kvlm_buf_free(&w->b);
    w->n_kv = 0;
    return path;
}

/* ---- vocabularies -------------------------------------------------------- */
enum { BL_N = 256 + 3 };
static char *bl_tokens[BL_N];

static void make_bl_tokens(void)
{
    for (int b = 0; b < 256; b++) {
        char u[5] = {0};
        kvlm_utf8_encode(kvlm_bytelevel_cp((uint8_t)b), u);
        bl_tokens[b] = strdup(u);
    }
    bl_tokens[256] = strdup("ab");
    bl_tokens[257] = strdup("\xc4\xa0" "ab"); /* "Ġab" */
    bl_tokens[258] = strdup("<|endoftext|>");
}

typedef struct bl_opts {
    const char *model, *pre;
    size_t n_types;
    uint32_t types_elem;
    uint32_t bos;
    const char *merge2;
} bl_opts;

static const char *gpt2_file(const char *name, bl_opts o)
{
    gw w = {0};
    kv_str(&w, "general.architecture", "gpt2");
    kv_str(&w, "tokenizer.ggml.model", o.model);
    if (o.pre) kv_str(&w, "tokenizer.ggml.pre", o.pre);
    kv_strs(&w, "tokenizer.ggml.tokens", bl_tokens, BL_N);
    int32_t types[BL_N];
    for (int i = 0; i < BL_N; i++) types[i] = 1;
    types[258] = 3;
    kv_arr32(&w, "tokenizer.ggml.token_type", o.types_elem, types, o.n_types);
    char *merges[3] = {"a b", "\xc4\xa0 ab", (char *)o.merge2};
    kv_strs(&w, "tokenizer.ggml.merges", merges, o.merge2 ? 3 : 2);
    kv_u32(&w, "tokenizer.ggml.bos_token_id", o.bos);
    kv_u32(&w, "tokenizer.ggml.eos_token_id", 258);
    return write_file(&w, name);
}

static bl_opts bl_default(void) { return (bl_opts){"gpt2", "gpt-2", BL_N, 5, 258, NULL}; }

static const char *llama_file(const char *name, size_t n_scores, uint32_t unk)
{
    enum { N = 3 + 256 + 5 };
    char *tok[N];
    float scores[N];
    int32_t types[N];
    tok[0] = strdup("<unk>"); types[0] = 2;
    tok[1] = strdup("<s>"); types[1] = 3;
    tok[2] = strdup("</s>"); types[2] = 3;
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        tok[3 + b] = strdup(s);
        types[3 + b] = 6;
    }
    const char *pieces[5] = {"\xe2\x96\x81", "a", "b", "\xe2\x96\x81\x61" /* "▁a" */, "ab"};
    for (int i = 0; i < 5; i++) {
        tok[259 + i] = strdup(pieces[i]);
        types[259 + i] = 1;
    }
    for (int i = 0; i < N; i++) scores[i] = -(float)i;
    gw w = {0};
    kv_str(&w, "general.architecture", "llama");
    kv_str(&w, "tokenizer.ggml.model", "llama");
    kv_str(&w, "tokenizer.ggml.pre", "default");
    kv_strs(&w, "tokenizer.ggml.tokens", tok, N);
    kv_arr32(&w, "tokenizer.ggml.scores", 6, scores, n_scores);
    kv_arr32(&w, "tokenizer.ggml.token_type", 5, types, N);
    kv_u32(&w, "tokenizer.ggml.bos_token_id", 1);
    kv_u32(&w, "tokenizer.ggml.eos_token_id", 2);
    kv_u32(&w, "tokenizer.ggml.unknown_token_id", unk);
    kv_bool(&w, "tokenizer.ggml.add_bos_token", true);
    for (int i = 0; i < N; i++) free(tok[i]);
    return write_file(&w, name);
}

static void expect_fail(const char *path, kvlm_status code, const char *needle, const char *what)
{
    kvlm_tokenizer *t = NULL;
    kvlm_status st = kvlm_tokenizer_load(path, &t);
    CHECK(st == code, "%s: got %s (%s)", what, kvlm_status_name(st), kvlm_last_error());
    CHECK(!needle || strstr(kvlm_last_error(), needle), "%s: \"%s\" lacks \"%s\"", what, kvlm_last_error(), needle);
    kvlm_tokenizer_free(t);
    unlink(path);
}

int main(void)
{
    make_bl_tokens();
    const char *p = gpt2_file("probe", bl_default());
    kvlm_tokenizer *t = NULL;
    kvlm_status st = kvlm_tokenizer_load(p, &t);
    if (st == KVLM_ERR_UNSUPPORTED && strstr(kvlm_last_error(), "not linked")) {
        printf("test_tok_gguf: SKIP (%s)\n", kvlm_last_error());
        unlink(p);
        return 0;
    }
    CHECK(st == KVLM_OK, "gpt2 vocab: %s", kvlm_last_error());
    unlink(p);
    if (t) {
        int32_t ids[16];
        size_t n = 0;
        CHECK(kvlm_tokenizer_encode(t, "ab ab<|endoftext|>", 18, KVLM_TOKENIZE_PARSE_SPECIAL, ids, 16, &n) == KVLM_OK &&
              n == 3 && ids[0] == 256 && ids[1] == 257 && ids[2] == 258, "gpt2 encode: n=%zu", n);
        CHECK(kvlm_tokenizer_is_special(t, 258) && kvlm_tokenizer_eos(t) == 258, "control token type");
        kvlm_tokenizer_free(t);
    }
    p = llama_file("llama", 3 + 256 + 5, 0);
    t = NULL;
    CHECK(kvlm_tokenizer_load(p, &t) == KVLM_OK, "llama vocab: %s", kvlm_last_error());
    unlink(p);
    if (t) {
        int32_t ids[16];
        size_t n = 0;
        /* "a ab" -> "▁a▁ab": ▁a (score -262) beats ab (-263), so both ▁a
         * merge first and b stays alone */
        CHECK(kvlm_tokenizer_encode(t, "a ab", 4, KVLM_TOKENIZE_ADD_SPECIAL, ids, 16, &n) == KVLM_OK && n == 4 &&
              ids[0] == 1 && ids[1] == 262 && ids[2] == 262 && ids[3] == 261, "llama encode: n=%zu", n);
        /* "bab" -> "▁bab": only a+b can merge: ▁ b ab */
        CHECK(kvlm_tokenizer_encode(t, "bab", 3, 0, ids, 16, &n) == KVLM_OK && n == 3 && ids[0] == 259 &&
              ids[1] == 261 && ids[2] == 263, "llama encode bab: n=%zu", n);
        /* 'c' is not a piece: byte fallback <0x63> */
        CHECK(kvlm_tokenizer_encode(t, "c", 1, 0, ids, 16, &n) == KVLM_OK && n == 2 && ids[1] == 3 + 'c',
              "byte fallback: n=%zu", n);
        char *d;
        size_t dl;
        CHECK(kvlm_tokenizer_decode_alloc(t, ids, n, 0, &d, &dl) == KVLM_OK && dl == 1 && d[0] == 'c', "decode");
        free(d);
        kvlm_tokenizer_free(t);
    }
    bl_opts o = bl_default();
    o.n_types = 100;
    expect_fail(gpt2_file("short_types", o), KVLM_ERR_FORMAT, "token_type", "token_type shorter than tokens");
    o = bl_default();
    o.types_elem = 6;
    expect_fail(gpt2_file("float_types", o), KVLM_ERR_FORMAT, "token_type", "token_type of float32");
    o = bl_default();
    o.bos = 5000;
    expect_fail(gpt2_file("bos_range", o), KVLM_ERR_FORMAT, "bos_token_id", "bos id >= vocab");
    o = bl_default();
    o.merge2 = "zz yy";
    expect_fail(gpt2_file("bad_merge", o), KVLM_ERR_FORMAT, "merges[2]", "merge naming missing tokens");
    o = bl_default();
    o.model = "bert";
    expect_fail(gpt2_file("bert", o), KVLM_ERR_UNSUPPORTED, "bert", "unsupported model");
    o = bl_default();
    o.pre = "no-such-pre";
    expect_fail(gpt2_file("pre", o), KVLM_ERR_UNSUPPORTED, "no-such-pre", "unknown pre-tokenizer");
    expect_fail(llama_file("short_scores", 10, 0), KVLM_ERR_FORMAT, "scores", "scores shorter than tokens");
    expect_fail(llama_file("unk_range", 3 + 256 + 5, 99999), KVLM_ERR_FORMAT, "unknown_token_id", "unk id >= vocab");
    for (int i = 0; i < BL_N; i++) free(bl_tokens[i]);
    TEST_MAIN_END("test_tok_gguf");
}
