/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader.
 *
 * Copies the input into an exact-size heap buffer (so ASan sees any read
 * past the end), calls kvlm_gguf_parse, and on success touches every
 * key/value (strings, array elements) and the first and last byte of every
 * tensor's data, and looks every key and tensor up by name, proving that
 * everything the parser accepted lies inside the buffer. On failure the
 * error message must be non-empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"

static volatile uint64_t g_sink;

static void touch(const void *p, uint64_t n)
{
    if (n) {
        g_sink += ((const uint8_t *)p)[0];
        g_sink += ((const uint8_t *)p)[n - 1];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    if (size)
        memcpy(buf, data, size);
    kvlm_gguf *g = NULL;
    kvlm_status s = kvlm_gguf_parse(buf, size, "fuzz.gguf", &g);
    if (s != KVLM_OK) {
        if (kvlm_last_error()[0] == 0 || g != NULL)
            __builtin_trap();
        free(buf);
        return 0;
    }
    const uint8_t *lo = buf, *hi = buf + size;
    for (int64_t i = 0; i < kvlm_gguf_n_kv(g); i++) {
        const kvlm_gguf_kv *kv = kvlm_gguf_kv_at(g, i);
        touch(kv->key.ptr, kv->key.len);
        if (kv->offset > size)
            __builtin_trap();
        char key[256];
        size_t kl = kv->key.len < sizeof key - 1 ? (size_t)kv->key.len : sizeof key - 1;
        memcpy(key, kv->key.ptr, kl);
        key[kl] = 0;
        if (!memchr(key, 0, kl) && kl == kv->key.len && kvlm_gguf_find_kv(g, key) != kv)
            __builtin_trap();
        if (kv->type == KVLM_GGUF_STRING) {
            touch(kv->v.str.ptr, kv->v.str.len);
        } else if (kv->type == KVLM_GGUF_ARRAY) {
            if (kv->v.arr.type == KVLM_GGUF_STRING) {
                for (uint64_t j = 0; j < kv->v.arr.n; j++)
                    touch(kv->v.arr.strs[j].ptr, kv->v.arr.strs[j].len);
            } else if (kv->v.arr.n) {
                const uint8_t *p = kv->v.arr.data;
                if (p < lo || p >= hi)
                    __builtin_trap();
                touch(p, 1);
            }
        }
        uint32_t u32;
        uint64_t u64;
        float f;
        bool b;
        kvlm_str str;
        kvlm_gguf_get_u32(g, key, &u32);
        kvlm_gguf_get_u64(g, key, &u64);
        kvlm_gguf_get_f32(g, key, &f);
        kvlm_gguf_get_bool(g, key, &b);
        kvlm_gguf_get_str(g, key, &str);
    }
    for (int64_t i = 0; i < kvlm_gguf_n_tensors(g); i++) {
        const kvlm_gguf_tensor *t = kvlm_gguf_tensor_at(g, i);
        const uint8_t *p = t->data;
        if (t->nbytes == 0 || p < lo || p + t->nbytes > hi || t->n_dims < 1 || t->n_dims > 4)
            __builtin_trap();
        touch(p, t->nbytes);
        if (kvlm_gguf_find_tensor(g, t->name) != t || kvlm_ggml_type_name(t->ggml_type) == NULL)
            __builtin_trap();
    }
    kvlm_gguf_close(g);
    free(buf);
    return 0;
}
