/*
 * test_tok_api.c - the tokenizer API on its edges: bad token ids, small
 * buffers, malformed tokenizer.json (truncated, nested 10^6 deep, merges
 * naming missing tokens, duplicate and out-of-range ids, special ids out of
 * range, unsupported components), byte-token look-alikes, the streaming
 * decoder (held-back UTF-8, U+FFFD), parse_special, and a round-trip
 * property test over random byte strings (invalid UTF-8 included).
 */
#include <limits.h>
#include <stdbool.h>

#include "test.h"
#include "tok_util.h"
#include "tokenizer/tokenizer.h"

static kvlm_tokenizer *load_fixture(const char *name)
{
    char dir[1024];
    fixture_path(dir, sizeof dir, "tokenizers/");
    strncat(dir, name, sizeof dir - strlen(dir) - 1);
    kvlm_tokenizer *t = NULL;
    kvlm_status st = kvlm_tokenizer_load(dir, &t);
    CHECK(st == KVLM_OK, "%s: %s", name, kvlm_last_error());
    return t;
}

static kvlm_status from_json(const char *js, kvlm_tokenizer **t)
{
    return kvlm_tokenizer_from_json(js, strlen(js), NULL, 0, "inline.json", t);
}

#define MINI_HEAD "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2"
#define BL_PRE ",\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false}"

static void expect_fail(const char *js, kvlm_status code, const char *needle, const char *what)
{
    kvlm_tokenizer *t = NULL;
    kvlm_status st = from_json(js, &t);
    CHECK(st == code, "%s: got %s (%s), want %s", what, kvlm_status_name(st), kvlm_last_error(), kvlm_status_name(code));
    CHECK(!needle || strstr(kvlm_last_error(), needle), "%s: message \"%s\" lacks \"%s\"", what, kvlm_last_error(), needle);
    CHECK(t == NULL, "%s: tokenizer returned on failure", what);
    kvlm_tokenizer_free(t);
}

static void test_bad_json(void)
{
    expect_fail("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0", KVLM_ERR_FORMAT, "invalid JSON", "truncated");
    size_t depth = 1000000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = 0;
    expect_fail(deep, KVLM_ERR_FORMAT, "invalid JSON", "nested 10^6 deep");
    free(deep);
    expect_fail("[]", KVLM_ERR_FORMAT, "not an object", "top-level array");
    expect_fail("{}", KVLM_ERR_FORMAT, "model", "no model");
    expect_fail(MINI_HEAD "},\"merges\":[\"a c\"]}}", KVLM_ERR_FORMAT, "missing", "merge naming a missing token");
    expect_fail(MINI_HEAD "},\"merges\":[\"a b c\"]}}", KVLM_ERR_FORMAT, "left right", "merge with 3 parts");
    expect_fail(MINI_HEAD ",\"c\":1},\"merges\":[]}}", KVLM_ERR_FORMAT, "defined twice", "duplicate id");
    expect_fail(MINI_HEAD ",\"c\":-1},\"merges\":[]}}", KVLM_ERR_FORMAT, "out of range", "negative id");
    expect_fail(MINI_HEAD ",\"c\":99999999},\"merges\":[]}}", KVLM_ERR_FORMAT, "out of range", "huge id");
    expect_fail(MINI_HEAD ",\"c\":\"x\"},\"merges\":[]}}", KVLM_ERR_FORMAT, "not an integer", "string id");
    expect_fail("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", KVLM_ERR_UNSUPPORTED, "WordPiece", "WordPiece");
    expect_fail(MINI_HEAD "},\"merges\":[]},\"normalizer\":{\"type\":\"NFKD\"}}", KVLM_ERR_UNSUPPORTED, "NFKD", "NFKD");
    expect_fail(MINI_HEAD "},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}", KVLM_ERR_UNSUPPORTED,
                "BertPreTokenizer", "Bert pre-tokenizer");
    expect_fail(MINI_HEAD "},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},"
                "\"behavior\":\"Isolated\"}}", KVLM_ERR_FORMAT, "regex", "bad regex");
    expect_fail(MINI_HEAD "},\"merges\":[]},\"added_tokens\":[{\"id\":5000000,\"content\":\"<x>\"}]}", KVLM_ERR_FORMAT,
                "out of range", "added token id out of range");
    expect_fail(MINI_HEAD "},\"merges\":[]},\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
                "{\"id\":\"<s>\"}},{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{\"<s>\":{\"ids\":[7]}}}}",
                KVLM_ERR_FORMAT, "out of range", "BOS id >= vocab size");
    expect_fail(MINI_HEAD "},\"merges\":[],\"unk_token\":\"<unk>\"}}", KVLM_ERR_FORMAT, "unk_token", "unk missing");
    /* a valid mini vocabulary works, and the merge applies */
    kvlm_tokenizer *t = NULL;
    CHECK(from_json(MINI_HEAD "},\"merges\":[\"a b\"]}}", &t) == KVLM_OK, "mini: %s", kvlm_last_error());
    if (t) {
        int32_t ids[8];
        size_t n = 0;
        CHECK(kvlm_tokenizer_encode(t, "abab", 4, 0, ids, 8, &n) == KVLM_OK && n == 2 && ids[0] == 2 && ids[1] == 2,
              "mini encode: n=%zu", n);
        /* characters without a token are dropped, as HF does without unk */
        CHECK(kvlm_tokenizer_encode(t, "acb", 3, 0, ids, 8, &n) == KVLM_OK && n == 1 && ids[0] == 2, "mini drop: n=%zu", n);
        kvlm_tokenizer_free(t);
    }
}

static void test_byte_lookalikes(void)
{
    /* <0x-1> and <0xZZ> are ordinary pieces, not bytes; <0x41> is the byte 'A' */
    kvlm_tokenizer *t = NULL;
    kvlm_status st = from_json("{\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{\"<0x-1>\":0,"
                               "\"<0xZZ>\":1,\"<0x41>\":2,\"x\":3},\"merges\":[]}}", &t);
    CHECK(st == KVLM_OK, "lookalikes: %s", kvlm_last_error());
    if (!t) return;
    const char *p;
    size_t l;
    CHECK(kvlm_tokenizer_token_to_piece(t, 0, &p, &l) == KVLM_OK && l == 6 && memcmp(p, "<0x-1>", 6) == 0, "<0x-1> piece");
    CHECK(kvlm_tokenizer_token_to_piece(t, 1, &p, &l) == KVLM_OK && l == 6, "<0xZZ> piece");
    CHECK(kvlm_tokenizer_token_to_piece(t, 2, &p, &l) == KVLM_OK && l == 1 && p[0] == 'A', "<0x41> piece");
    int32_t ids[8];
    size_t n = 0;
    /* 'A' is not a vocab piece: byte fallback gives <0x41>; 'y' has no byte token: dropped (no unk) */
    CHECK(kvlm_tokenizer_encode(t, "Axy", 3, 0, ids, 8, &n) == KVLM_OK && n == 2 && ids[0] == 2 && ids[1] == 3,
          "byte fallback: n=%zu", n);
    kvlm_tokenizer_free(t);
}

static void test_ids_and_buffers(kvlm_tokenizer *t)
{
    int32_t nv = kvlm_tokenizer_n_vocab(t);
    const int32_t bad[] = {-1, INT_MAX, nv, INT_MIN};
    char buf[64];
    size_t n;
    for (size_t i = 0; i < 4; i++) {
        CHECK(kvlm_tokenizer_decode(t, &bad[i], 1, 0, buf, sizeof buf, &n) == KVLM_ERR_INVALID_ARG, "decode id %d", bad[i]);
        const char *p;
        size_t l;
        CHECK(kvlm_tokenizer_token_to_piece(t, bad[i], &p, &l) == KVLM_ERR_INVALID_ARG, "piece id %d", bad[i]);
        CHECK(kvlm_tokenizer_token_text(t, bad[i]) == NULL, "text id %d", bad[i]);
        CHECK(!kvlm_tokenizer_is_special(t, bad[i]) && !kvlm_tokenizer_is_eog(t, bad[i]), "flags id %d", bad[i]);
    }
    int32_t ids[4];
    n = 0;
    const char *txt = "Hello world, this is a longer text.";
    CHECK(kvlm_tokenizer_encode(t, txt, strlen(txt), 0, ids, 2, &n) == KVLM_ERR_INVALID_ARG && n > 2,
          "small id buffer reports the need (%zu)", n);
    int32_t hello[8];
    CHECK(kvlm_tokenizer_encode(t, "Hi", 2, 0, hello, 8, &n) == KVLM_OK, "encode Hi");
    char tiny[2];
    size_t need = 0;
    CHECK(kvlm_tokenizer_decode(t, hello, n, 0, tiny, 2, &need) == KVLM_ERR_INVALID_ARG && need == 2,
          "small text buffer reports the need (%zu)", need);
    CHECK(kvlm_tokenizer_encode(t, NULL, 0, 0, ids, 4, &n) == KVLM_OK && n == 0, "empty NULL text");
    CHECK(kvlm_tokenizer_encode(NULL, "x", 1, 0, ids, 4, &n) == KVLM_ERR_INVALID_ARG, "NULL tokenizer");
}

static void test_special(void)
{
    kvlm_tokenizer *t = load_fixture("bl_qwen2");
    if (!t) return;
    int32_t *ids;
    size_t n;
    const char *s = "<|im_start|>user";
    int32_t im = kvlm_tokenizer_find(t, "<|im_start|>", 12);
    CHECK(im >= 0 && kvlm_tokenizer_is_special(t, im), "<|im_start|> is special");
    CHECK(kvlm_tokenizer_encode_alloc(t, s, strlen(s), KVLM_TOKENIZE_PARSE_SPECIAL, &ids, &n) == KVLM_OK && n >= 2 &&
          ids[0] == im, "parse_special");
    free(ids);
    CHECK(kvlm_tokenizer_encode_alloc(t, s, strlen(s), 0, &ids, &n) == KVLM_OK && n > 2 && ids[0] != im,
          "specials as text");
    free(ids);
    int32_t end = kvlm_tokenizer_find(t, "<|im_end|>", 10);
    CHECK(kvlm_tokenizer_eos(t) == end && kvlm_tokenizer_is_eog(t, end), "eos = <|im_end|> from tokenizer_config");
    CHECK(kvlm_tokenizer_bos(t) == -1 && !kvlm_tokenizer_adds_bos(t), "qwen has no BOS");
    int32_t two[2] = {end, end};
    char *txt;
    size_t tl;
    CHECK(kvlm_tokenizer_decode_alloc(t, two, 2, KVLM_DETOKENIZE_SKIP_SPECIAL, &txt, &tl) == KVLM_OK && tl == 0,
          "skip_special drops control tokens");
    free(txt);
    kvlm_tokenizer_free(t);
}

/* Streams ids one by one and checks the output is valid UTF-8 and equals
 * `want` once finished. */
static void stream_check(const kvlm_tokenizer *t, const int32_t *ids, size_t n, const char *want, size_t want_len,
                         const char *what)
{
    kvlm_tokenizer_stream *s;
    CHECK(kvlm_tokenizer_stream_create(t, 0, &s) == KVLM_OK, "stream create");
    kvlm_buf all = {0};
    char buf[256];
    size_t k;
    for (size_t i = 0; i < n; i++) {
        CHECK(kvlm_tokenizer_stream_push(s, ids[i], buf, sizeof buf, &k) == KVLM_OK, "%s: push %zu: %s", what, i,
              kvlm_last_error());
        for (size_t j = 0; j < k;) {
            int l = kvlm_utf8_valid_len((const unsigned char *)buf + j, k - j);
            CHECK(l > 0, "%s: invalid UTF-8 emitted after id %zu", what, i);
            j += l ? (size_t)l : 1;
        }
        kvlm_buf_put(&all, buf, k);
    }
    CHECK(kvlm_tokenizer_stream_finish(s, buf, sizeof buf, &k) == KVLM_OK, "finish");
    kvlm_buf_put(&all, buf, k);
    CHECK(all.n == want_len && memcmp(all.p, want, want_len) == 0, "%s: stream gave \"%.*s\"", what, (int)all.n, all.p);
    kvlm_buf_free(&all);
    kvlm_tokenizer_stream_free(s);
}

static void test_stream(void)
{
    kvlm_tokenizer *t = load_fixture("spm_llama");
    if (!t) return;
    const char *txt = "Hi 😀 中文 e\xcc\x81!";
    int32_t *ids;
    size_t n;
    CHECK(kvlm_tokenizer_encode_alloc(t, txt, strlen(txt), 0, &ids, &n) == KVLM_OK, "encode");
    stream_check(t, ids, n, txt, strlen(txt), "spm valid text");
    /* the emoji is 4 byte-fallback tokens: the first three must emit nothing */
    int32_t b[4] = {t->byte_tok[0xF0], t->byte_tok[0x9F], t->byte_tok[0x98], t->byte_tok[0x80]};
    kvlm_tokenizer_stream *s;
    kvlm_tokenizer_stream_create(t, 0, &s);
    char buf[64];
    size_t k;
    for (int i = 0; i < 3; i++) {
        kvlm_tokenizer_stream_push(s, b[i], buf, sizeof buf, &k);
        CHECK(k == 0, "incomplete emoji byte %d emitted %zu bytes", i, k);
    }
    kvlm_tokenizer_stream_push(s, b[3], buf, sizeof buf, &k);
    CHECK(k == 4 && memcmp(buf, "😀", 4) == 0, "completed emoji");
    CHECK(kvlm_tokenizer_stream_push(s, -1, buf, sizeof buf, &k) == KVLM_ERR_INVALID_ARG, "stream rejects -1");
    kvlm_tokenizer_stream_free(s);
    /* a too-small buffer fails, reports the need, and changes nothing */
    int32_t hi[1] = {-1}; /* a token whose piece is " x..." */
    for (int32_t id = 0; id < kvlm_tokenizer_n_vocab(t) && hi[0] < 0; id++) {
        const char *pc;
        size_t pl;
        if (kvlm_tokenizer_token_to_piece(t, id, &pc, &pl) == KVLM_OK && pl >= 3 && pc[0] == ' ' && pc[1] != ' ')
            hi[0] = id;
    }
    CHECK(hi[0] >= 0, "no token with a leading space");
    kvlm_tokenizer_stream_create(t, 0, &s);
    char one[1];
    CHECK(kvlm_tokenizer_stream_push(s, hi[0], one, 1, &k) == KVLM_ERR_INVALID_ARG && k > 0, "small stream buffer");
    CHECK(kvlm_tokenizer_stream_push(s, hi[0], buf, sizeof buf, &k) == KVLM_OK && k > 0 && buf[0] != ' ',
          "retry after a small buffer still strips the leading space: \"%s\"", buf);
    kvlm_tokenizer_stream_free(s);
    /* dangling tail -> U+FFFD at finish; a lone continuation byte -> U+FFFD */
    int32_t d[2] = {t->byte_tok[0xE4], t->byte_tok[0xB8]};
    stream_check(t, d, 2, "\xef\xbf\xbd", 3, "dangling tail");
    int32_t c[2] = {t->byte_tok[0x80], t->byte_tok['A']};
    stream_check(t, c, 2, "\xef\xbf\xbd" "A", 4, "lone continuation");
    free(ids);
    kvlm_tokenizer_free(t);
}

/* SentencePiece pipelines are lossless except for a literal U+2581 (it
 * decodes as a space) and for text around parsed special tokens (the legacy
 * normalizer prepends U+2581 to every segment), both as in HF; so for them
 * the property excludes U+2581 and parse_special. */
static void test_roundtrip_property(const char *name, bool spm)
{
    kvlm_tokenizer *t = load_fixture(name);
    if (!t) return;
    static const char *const atoms[] = {"a", "Z", "7", " ", "  ", "\t", "\n", "'s", "'LL", ".", "!!", "é", "e\xcc\x81",
                                        "ß", "中", "文", "😀", "👨\xe2\x80\x8d👩", "ي", "\xe2\x96\x81", "\xff", "\xc3",
                                        "\x80", "\xed\xa0\x80", "<s>", "<|endoftext|>", "[TOOL]", "\xf4\x90\x80\x80", "\0"};
    unsigned seed = 12345;
    int fails = 0;
    for (int it = 0; it < 3000; it++) {
        char s[512];
        size_t n = 0;
        seed = seed * 1103515245u + 12345u;
        int k = (int)((seed >> 16) % 24);
        for (int j = 0; j < k; j++) {
            seed = seed * 1103515245u + 12345u;
            const char *a = atoms[(seed >> 16) % (sizeof atoms / sizeof *atoms)];
            if (spm && strcmp(a, "\xe2\x96\x81") == 0) a = "_";
            size_t al = a[0] ? strlen(a) : 1;
            memcpy(s + n, a, al);
            n += al;
        }
        int32_t *ids = NULL;
        size_t m = 0;
        char *back = NULL;
        size_t bl = 0;
        kvlm_status st = kvlm_tokenizer_encode_alloc(t, s, n, !spm && ((seed >> 8) & 1) ? KVLM_TOKENIZE_PARSE_SPECIAL : 0, &ids, &m);
        if (st == KVLM_OK) st = kvlm_tokenizer_decode_alloc(t, ids, m, 0, &back, &bl);
        if (st != KVLM_OK || bl != n || memcmp(back, s, n) != 0) {
            if (fails++ < 5)
                fprintf(stderr, "%s: round trip failed for \"%.*s\" -> \"%.*s\" (%s)\n", name, (int)n, s, (int)bl,
                        back ? back : "", st ? kvlm_last_error() : "differs");
        }
        free(ids);
        free(back);
    }
    CHECK(fails == 0, "%s: %d of 3000 random strings do not round-trip", name, fails);
    kvlm_tokenizer_free(t);
}

int main(void)
{
    test_bad_json();
    test_byte_lookalikes();
    kvlm_tokenizer *t = load_fixture("bl_gpt2");
    if (t) test_ids_and_buffers(t);
    kvlm_tokenizer_free(t);
    t = load_fixture("spm_llama");
    if (t) test_ids_and_buffers(t);
    kvlm_tokenizer_free(t);
    test_special();
    test_stream();
    /* exact byte round trip holds where the pipeline is lossless */
    test_roundtrip_property("bl_gpt2", false);
    test_roundtrip_property("bl_llama3", false);
    test_roundtrip_property("bl_mixed", false);
    test_roundtrip_property("spm_llama", true);
    TEST_MAIN_END("test_tok_api");
}
