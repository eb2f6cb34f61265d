/*
 * bpe_bytelevel.c - front end of byte-level BPE (GPT-2, Llama 3, Qwen2...).
 *
 * Token texts are stored as raw bytes (tokenizer.h), so a word's initial
 * symbols are simply byte_tok[b] for each byte b: no per-call re-mapping
 * through the bytes_to_unicode alphabet. This also makes invalid UTF-8
 * encodable: every byte has a token. A byte without a token (a malformed
 * vocabulary) becomes <unk> when the model has one and is dropped otherwise,
 * as Hugging Face's BPE model does.
 */
#include "core/status.h"
#include "tokenizer/bpe_internal.h"

kvlm_status kvlm_bpe_bytelevel_init(const kvlm_tokenizer *t, const char *s, size_t n,
                                    kvlm_bpe_scratch *sc, size_t *n_sym)
{
    kvlm_status st = kvlm_bpe_reserve(sc, n);
    if (st) return st;
    const unsigned char *u = (const unsigned char *)s;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_tok[u[i]];
        if (id < 0) {
            if (t->unk_id < 0) continue;
            if (t->fuse_unk && k > 0 && sc->sym[k - 1].id == t->unk_id) continue;
            id = t->unk_id;
        }
        sc->sym[k++].id = id;
    }
    *n_sym = k;
    return KVLM_OK;
}
