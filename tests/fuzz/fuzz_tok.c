/*
 * fuzz_tok.c - libFuzzer target: tokenize arbitrary bytes with trained
 * fixture tokenizers (byte-level with NFC, mixed Split behaviours,
 * SentencePiece with byte fallback), then detokenize, stream-detokenize and
 * check the invariants: the byte round trip where the pipeline is lossless,
 * and stream output always valid UTF-8. Input byte 0 selects tokenizer and
 * flags. Fixtures are read from $KVLM_FIXTURES or ./tests/fixtures.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvlm.h"
#include "tokenizer/tokenizer.h"

static kvlm_tokenizer *g_tok[4];

static void load(void)
{
    static int done;
    if (done) return;
    done = 1;
    const char *dir = getenv("KVLM_FIXTURES");
    if (!dir) dir = "tests/fixtures";
    static const char *const names[4] = {"bl_qwen2", "bl_mixed", "spm_llama", "bl_llama3"};
    for (int i = 0; i < 4; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/tokenizers/%s", dir, names[i]);
        if (kvlm_tokenizer_load(p, &g_tok[i]) != KVLM_OK) {
            fprintf(stderr, "fuzz_tok: cannot load %s: %s\n", p, kvlm_last_error());
            abort(); /* harness setup error, not an input */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load();
    if (size < 1) return 0;
    int which = data[0] & 3;
    unsigned flags = (data[0] >> 2) & 3;
    const kvlm_tokenizer *t = g_tok[which];
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    int32_t *ids = NULL;
    size_t m = 0;
    if (kvlm_tokenizer_encode_alloc(t, text, n, flags, &ids, &m) != KVLM_OK) return 0;
    for (size_t i = 0; i < m; i++)
        if (ids[i] < 0 || ids[i] >= kvlm_tokenizer_n_vocab(t)) abort();
    char *back = NULL;
    size_t bl = 0;
    if (kvlm_tokenizer_decode_alloc(t, ids, m, 0, &back, &bl) != KVLM_OK) abort();
    /* lossless pipelines: bl_mixed and bl_llama3 without added BOS */
    if ((which == 1 || which == 3) && !(flags & KVLM_TOKENIZE_ADD_SPECIAL) && (bl != n || memcmp(back, text, n) != 0))
        abort();
    free(back);
    kvlm_tokenizer_stream *s;
    if (kvlm_tokenizer_stream_create(t, 0, &s) == KVLM_OK) {
        char buf[8192];
        size_t k;
        for (size_t i = 0; i < m; i++) {
            if (kvlm_tokenizer_stream_push(s, ids[i], buf, sizeof buf, &k) != KVLM_OK) abort();
            for (size_t j = 0; j < k;) {
                int l = kvlm_utf8_valid_len((const unsigned char *)buf + j, k - j);
                if (!l) abort();
                j += (size_t)l;
            }
        }
        if (kvlm_tokenizer_stream_finish(s, buf, sizeof buf, &k) != KVLM_OK) abort();
        kvlm_tokenizer_stream_free(s);
    }
    free(ids);
    /* decoding arbitrary ids must fail cleanly or succeed */
    if (n >= 8) {
        int32_t raw[16];
        size_t k = n / 4 < 16 ? n / 4 : 16;
        memcpy(raw, text, k * 4);
        char *d = NULL;
        size_t dl;
        if (kvlm_tokenizer_decode_alloc(t, raw, k, 0, &d, &dl) == KVLM_OK) free(d);
    }
    return 0;
}
