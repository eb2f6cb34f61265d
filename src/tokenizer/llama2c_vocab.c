/*
 * llama2c_vocab.c - builds a kvlm_tokenizer from llama2.c's tokenizer.bin
 * (the vocabulary run.c reads with `-z`), as SentencePiece BPE.
 *
 * File layout (little-endian):
 *   int32 max_token_length
 *   then, for each id from 0 until the end of the file:
 *     float32 score, int32 len, len bytes of the piece
 * There is no count: the ids run to EOF, and the file must end exactly
 * after a whole entry. Pieces are SentencePiece pieces with U+2581 already
 * turned into ' ' by llama2.c's exporter; ids 0, 1, 2 are <unk>, BOS and
 * EOS (run.c hard-codes 1 and 2; the exporter writes them as "\n<s>\n" and
 * "\n</s>\n"); <0xNN> pieces are byte-fallback tokens.
 *
 * Mapping onto kvlm's SentencePiece form (tokenizer.h): ' ' in a normal
 * piece becomes U+2581 again; ids 1 and 2 become the special tokens "<s>"
 * and "</s>" (their text without the surrounding newlines), id 0 the
 * unknown token; BOS also ends generation (kvlm_tokenizer_is_eog), as in
 * run.c, which stops when it samples BOS; scores drive the merge order exactly as for a GGUF llama
 * vocabulary (bpe_spm.c). The pipeline is SentencePiece's with
 * add_dummy_prefix and no other normalization: Prepend U+2581, Replace
 * ' ' -> U+2581, byte fallback; decode strips the dummy-prefix space. This
 * is what run.c's encode/decode do, and what the sentencepiece library
 * gives on the .model the file was exported from.
 *
 * Untrusted input: max_token_length must be in [1, 4096], every len in
 * [0, max_token_length] and inside the file, every score finite, the id
 * count at most KVLM_TOK_MAX_VOCAB (a count is bounded by size / 8 before
 * anything is allocated). Errors are KVLM_ERR_FORMAT naming the file, the
 * id and the byte offset.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

static int32_t rd_i32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t v;
    memcpy(&v, &u, 4);
    return v;
}

static float rd_f32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static bool is_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* "<0xNN>": the byte-fallback pieces (the same rule tokenizer.c applies). */
static bool is_byte_piece(const uint8_t *s, size_t n)
{
    return n == 6 && memcmp(s, "<0x", 3) == 0 && is_hex(s[3]) && is_hex(s[4]) && s[5] == '>';
}

/* Walks the entries once: checks every field and counts the ids. */
static kvlm_status scan(const uint8_t *buf, size_t size, const char *name, int32_t *max_len, int32_t *n_out)
{
    if (size < 4)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: %zu bytes, too short for a llama2.c tokenizer "
                         "(int32 max_token_length first)", name, size);
    int32_t ml = rd_i32(buf);
    if (ml < 1 || ml > KVLM_TOK_MAX_TOKEN_LEN)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: max_token_length = %d (offset 0) is out of range [1, %d]",
                         name, (int)ml, KVLM_TOK_MAX_TOKEN_LEN);
    size_t off = 4;
    int64_t n = 0;
    while (off < size) {
        if (n >= KVLM_TOK_MAX_VOCAB)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: more than %d tokens", name, KVLM_TOK_MAX_VOCAB);
        if (size - off < 8)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: token %lld at offset %zu: truncated entry header "
                             "(%zu bytes left, need 8)", name, (long long)n, off, size - off);
        float score = rd_f32(buf + off);
        int32_t len = rd_i32(buf + off + 4);
        if (!isfinite(score))
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: token %lld at offset %zu: score is not finite", name,
                             (long long)n, off);
        if (len < 0 || len > ml)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: token %lld at offset %zu: length %d is out of range "
                             "[0, max_token_length %d]", name, (long long)n, off + 4, (int)len, (int)ml);
        if ((size_t)len > size - off - 8)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: token %lld at offset %zu: length %d runs past the end "
                             "of the file (%zu bytes left)", name, (long long)n, off + 4, (int)len,
                             size - off - 8);
        off += 8 + (size_t)len;
        n++;
    }
    if (n == 0) return kvlm_fail(KVLM_ERR_FORMAT, "%s: no tokens after max_token_length", name);
    *max_len = ml;
    *n_out = (int32_t)n;
    return KVLM_OK;
}

/* Control pieces as llama2.c writes them ("\n<s>\n") lose their newlines. */
static void trim_newlines(const uint8_t **s, size_t *n)
{
    while (*n && (*s)[0] == '\n') (*s)++, (*n)--;
    while (*n && (*s)[*n - 1] == '\n') (*n)--;
}

static kvlm_status add_special(kvlm_tokenizer *t, int32_t id, const uint8_t *s, size_t n)
{
    if (n == 0) return KVLM_OK;
    kvlm_added_token *a = &t->added[t->n_added];
    a->content = malloc(n + 1);
    if (!a->content) return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", t->source);
    memcpy(a->content, s, n);
    a->content[n] = 0;
    a->len = n;
    a->id = id;
    a->special = true;
    t->n_added++;
    return KVLM_OK;
}

static kvlm_status build(kvlm_tokenizer *t, const uint8_t *buf, size_t size, const char *name)
{
    int32_t ml = 0, n = 0;
    kvlm_status st = scan(buf, size, name, &ml, &n);
    if (st) return st;
    t->kind = KVLM_TOK_SPM;
    if ((st = kvlm_vocab_init(&t->vocab, n))) return kvlm_fail_prefix(st, "%s", name);
    t->added = calloc(2, sizeof *t->added);
    char *tmp = malloc((size_t)ml * 3 + 8); /* ' ' (1 byte) -> U+2581 (3 bytes) */
    if (!t->added || !tmp) {
        free(tmp);
        return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", name);
    }
    size_t off = 4;
    for (int32_t id = 0; id < n && !st; id++) {
        float score = rd_f32(buf + off);
        size_t len = (size_t)rd_i32(buf + off + 4);
        const uint8_t *s = buf + off + 8;
        off += 8 + len;
        if (id <= 2) {
            trim_newlines(&s, &len);
            uint8_t attr = id == 0 ? (KVLM_TOKATTR_UNKNOWN | KVLM_TOKATTR_CONTROL) : KVLM_TOKATTR_CONTROL;
            if ((st = kvlm_vocab_set(&t->vocab, id, (const char *)s, len, score, attr))) break;
            if (id > 0) st = add_special(t, id, s, len);
            continue;
        }
        if (is_byte_piece(s, len)) {
            st = kvlm_vocab_set(&t->vocab, id, (const char *)s, len, score, KVLM_TOKATTR_BYTE);
            continue;
        }
        size_t k = 0;
        for (size_t i = 0; i < len; i++) {
            if (s[i] == ' ') {
                memcpy(tmp + k, "\xe2\x96\x81", 3);
                k += 3;
            } else {
                tmp[k++] = (char)s[i];
            }
        }
        st = kvlm_vocab_set(&t->vocab, id, tmp, k, score, KVLM_TOKATTR_NORMAL);
    }
    free(tmp);
    if (st) return kvlm_fail_prefix(st, "%s", name);
    t->unk_id = 0;
    t->bos_id = n > 1 ? 1 : -1;
    t->eos_id = n > 2 ? 2 : -1;
    /* llama2.c models are trained on documents separated by BOS, and run.c
     * stops when it samples BOS: it ends generation here as EOS does. */
    t->eot_id = t->bos_id;
    t->add_bos = t->bos_id >= 0;
    t->add_eos = false;
    t->byte_fallback = true;
    t->fuse_unk = true;
    t->strip_leading_space = true;
    t->norm[0] = (kvlm_norm_step){KVLM_NORM_PREPEND, strdup("\xe2\x96\x81"), 3, NULL, 0};
    t->norm[1] = (kvlm_norm_step){KVLM_NORM_REPLACE, strdup(" "), 1, strdup("\xe2\x96\x81"), 3};
    t->n_norm = 2;
    if (!t->norm[0].a || !t->norm[1].a || !t->norm[1].b) return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", name);
    if ((st = kvlm_vocab_build_index(&t->vocab)) || (st = kvlm_spm_build_merges(t)))
        return kvlm_fail_prefix(st, "%s", name);
    return kvlm_tokenizer_finish(t);
}

kvlm_status kvlm_tokenizer_from_llama2c(const uint8_t *buf, size_t size, const char *name, kvlm_tokenizer **out)
{
    if (!out || (!buf && size)) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_tokenizer_from_llama2c: NULL argument");
    *out = NULL;
    if (!name) name = "tokenizer.bin";
    kvlm_tokenizer *t;
    kvlm_status st = kvlm_tokenizer_alloc(&t);
    if (st) return st;
    const char *slash = strrchr(name, '/');
    snprintf(t->source, sizeof t->source, "%s", slash ? slash + 1 : name);
    st = build(t, buf, size, name);
    if (st) {
        kvlm_tokenizer_free(t);
        return st;
    }
    *out = t;
    return KVLM_OK;
}

#define KVLM_TOK_MAX_LLAMA2C ((size_t)256 << 20)

kvlm_status kvlm_tokenizer_load_llama2c_path(const char *path, kvlm_tokenizer **out)
{
    char *data = NULL;
    size_t n = 0;
    kvlm_status st = kvlm_read_file(path, KVLM_TOK_MAX_LLAMA2C, &data, &n);
    if (st) return st;
    st = kvlm_tokenizer_from_llama2c((const uint8_t *)data, n, path, out);
    free(data);
    return st;
}
