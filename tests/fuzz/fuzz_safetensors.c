/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors reader.
 *
 * Copies the input into an exact-size heap buffer (so ASan sees any read
 * past the end), calls kvlm_st_parse, and on success checks that every
 * tensor's bytes lie inside the buffer, reads the first and last byte of
 * each, and looks each tensor up by name. On failure the error message
 * must be non-empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

static volatile uint64_t g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    if (size)
        memcpy(buf, data, size);
    kvlm_st_set *s = NULL;
    kvlm_status st = kvlm_st_parse(buf, size, "fuzz.safetensors", &s);
    if (st != KVLM_OK) {
        if (kvlm_last_error()[0] == 0 || s != NULL)
            __builtin_trap();
        free(buf);
        return 0;
    }
    const uint8_t *lo = buf, *hi = buf + size;
    uint64_t total = 0;
    for (int64_t i = 0; i < kvlm_st_n_tensors(s); i++) {
        const kvlm_st_tensor *t = kvlm_st_tensor_at(s, i);
        const uint8_t *p = t->data;
        if (p < lo || p > hi || t->nbytes > (uint64_t)(hi - p) || t->n_dims < 0 || t->n_dims > 8)
            __builtin_trap();
        if (t->nbytes) {
            g_sink += p[0];
            g_sink += p[t->nbytes - 1];
        }
        total += t->nbytes;
        if (kvlm_st_find(s, t->name) != t)
            __builtin_trap();
    }
    if (total > size || kvlm_st_file_bytes(s) != size)
        __builtin_trap();
    kvlm_st_close(s);
    free(buf);
    return 0;
}
