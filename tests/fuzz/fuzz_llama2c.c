/*
 * fuzz_llama2c.c - libFuzzer target for the llama2.c readers: the
 * checkpoint header (src/model/llama2c.c) with the model loader behind it,
 * and the tokenizer.bin loader (src/tokenizer/llama2c_vocab.c).
 *
 * Input: one selector byte, then the file. Even selector: a checkpoint.
 * The bytes are copied into an exact-size heap buffer (ASan sees any read
 * past the end) for kvlm_llama2c_parse_header; sniff and parse must agree
 * on legacy files; when the header is accepted and the file is small, it is
 * written to a private temporary file and loaded with kvlm_model_load,
 * which must then succeed or fail with a message, and a loaded model's
 * tensors are touched and its fingerprint computed. Odd selector: a
 * tokenizer.bin; on success the vocabulary encodes and decodes a fixed
 * text and the input's own bytes, and every id it returns is in range.
 * Any failure must leave a non-empty error message and a NULL result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvlm.h"
#include "model/llama2c.h"
#include "tokenizer/tokenizer.h"

static volatile uint64_t g_sink;

static void fuzz_checkpoint(const uint8_t *buf, size_t size)
{
    kvlm_llama2c_header h;
    kvlm_status s = kvlm_llama2c_parse_header(buf, size, "fuzz.bin", &h);
    bool sniff = kvlm_llama2c_sniff(buf, size, size);
    if (s != KVLM_OK) {
        if (kvlm_last_error()[0] == 0) __builtin_trap();
        /* a legacy file the sniffer accepts always parses */
        if (sniff && !(size >= 4 && buf[0] == 0x32 && buf[1] == 0x34 && buf[2] == 0x6b && buf[3] == 0x61))
            __builtin_trap();
        return;
    }
    if (h.data_offset + 4 * h.n_floats != size) __builtin_trap();
    if (size > (1u << 20)) return;
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_llama2c_%d.bin", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return;
    size_t w = fwrite(buf, 1, size, f);
    fclose(f);
    if (w != size) return;
    kvlm_model *m = NULL;
    s = kvlm_model_load(path, NULL, &m);
    if (s != KVLM_OK) {
        if (kvlm_last_error()[0] == 0 || m) __builtin_trap();
        unlink(path);
        return;
    }
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);
    for (int i = 0; i < in.n_tensors; i++) {
        const char *name;
        int64_t ne[4];
        int nd;
        if (!kvlm_model_tensor(m, i, &name, NULL, ne, &nd)) __builtin_trap();
        g_sink += (uint64_t)ne[0] + (uint64_t)strlen(name);
    }
    uint8_t fp[32];
    if (kvlm_model_fingerprint(m, fp) != KVLM_OK) __builtin_trap();
    g_sink += fp[0];
    kvlm_model_free(m);
    unlink(path);
}

static void fuzz_tokenizer(const uint8_t *buf, size_t size)
{
    kvlm_tokenizer *t = NULL;
    kvlm_status s = kvlm_tokenizer_from_llama2c(buf, size, "fuzz.bin", &t);
    if (s != KVLM_OK) {
        if (kvlm_last_error()[0] == 0 || t) __builtin_trap();
        return;
    }
    int32_t nv = kvlm_tokenizer_n_vocab(t);
    const char *texts[2] = {"Once upon a time, \xc3\xa9t\xc3\xa9 <s> \xe2\x96\x81 x\n", (const char *)buf};
    size_t lens[2] = {strlen(texts[0]), size > 256 ? 256 : size};
    for (int k = 0; k < 2; k++) {
        for (unsigned flags = 0; flags < 4; flags++) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (kvlm_tokenizer_encode_alloc(t, texts[k], lens[k], flags, &ids, &n) != KVLM_OK) __builtin_trap();
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= nv) __builtin_trap();
            char *out = NULL;
            size_t on = 0;
            if (kvlm_tokenizer_decode_alloc(t, ids, n, flags & 1, &out, &on) != KVLM_OK) __builtin_trap();
            g_sink += on;
            free(out);
            free(ids);
        }
    }
    kvlm_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t n = size - 1;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return 0;
    if (n) memcpy(buf, data + 1, n);
    if (data[0] % 2 == 0) fuzz_checkpoint(buf, n);
    else fuzz_tokenizer(buf, n);
    free(buf);
    return 0;
}
