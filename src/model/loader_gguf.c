/*
 * loader_gguf.c - builds a kvlm_model from a GGUF file written by
 * llama.cpp's converters (or anything following their conventions).
 *
 * Conventions relied on (they are llama.cpp's):
 *   - general.architecture is "llama" (also Llama 3, Mistral), "qwen2" or
 *     "gpt2"; hyperparameters live under "<arch>.";
 *   - "llama" Q/K weights were permuted by the converter so RoPE pairs
 *     adjacent dimensions (KVLM_ROPE_NORM); "qwen2" keeps Hugging Face's
 *     half-split pairing (KVLM_ROPE_NEOX);
 *   - Llama 3 rope scaling arrives as the tensor rope_freqs.weight
 *     (head_dim/2 factors dividing the inverse frequencies);
 *   - output.weight may be absent: the output reuses token_embd.weight.
 * Tensor data stays in the mapping; only 1-D tensors are converted to f32.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "model/bind.h"
#include "model/gguf.h"
#include "model/model.h"

static kvlm_status get_u32_key(kvlm_model *m, const char *arch, const char *suffix,
                               bool required, uint32_t dflt, int *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!kvlm_gguf_find_kv(m->gguf, key)) {
        if (required)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: missing metadata key '%s'", m->path, key);
        *out = (int)dflt;
        return KVLM_OK;
    }
    uint32_t v;
    kvlm_status s = kvlm_gguf_get_u32(m->gguf, key, &v);
    if (s) return s;
    if (v > (1u << 30))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: metadata '%s' = %u is out of range", m->path, key, v);
    *out = (int)v;
    return KVLM_OK;
}

static kvlm_status get_f32_key(kvlm_model *m, const char *arch, const char *suffix,
                               bool required, float dflt, float *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!kvlm_gguf_find_kv(m->gguf, key)) {
        if (required)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: missing metadata key '%s'", m->path, key);
        *out = dflt;
        return KVLM_OK;
    }
    return kvlm_gguf_get_f32(m->gguf, key, out);
}

static char *str_dup(kvlm_str s)
{
    size_t n = s.len > 4096 ? 4096 : (size_t)s.len;
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, s.ptr, n);
    c[n] = 0;
    return c;
}

kvlm_status kvlm_model_load_gguf(kvlm_model *m, const char *path)
{
    kvlm_status s = kvlm_gguf_open(path, &m->gguf);
    if (s) return s;
    kvlm_gguf *g = m->gguf;

    /* Tensor list. */
    int64_t nt = kvlm_gguf_n_tensors(g);
    m->tensors = calloc(nt > 0 ? (size_t)nt : 1, sizeof *m->tensors);
    if (!m->tensors) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    m->n_tensors = (int)nt;
    uint64_t wbytes = 0, nparams = 0;
    for (int64_t i = 0; i < nt; i++) {
        const kvlm_gguf_tensor *t = kvlm_gguf_tensor_at(g, i);
        kvlm_tensor_desc *d = &m->tensors[i];
        d->name = t->name;
        d->type = (kvlm_dtype)t->ggml_type;
        d->n_dims = t->n_dims;
        memcpy(d->ne, t->ne, sizeof d->ne);
        d->data = t->data;
        d->nbytes = t->nbytes;
        wbytes += t->nbytes;
        nparams += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }

    kvlm_str arch;
    s = kvlm_gguf_get_str(g, "general.architecture", &arch);
    if (s) return s;
    m->arch_name = str_dup(arch);
    if (!m->arch_name) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    kvlm_model_info *in = &m->info;
    if (strcmp(m->arch_name, "llama") == 0 || strcmp(m->arch_name, "mistral") == 0) {
        in->arch = KVLM_ARCH_LLAMA;
        m->rope_style = KVLM_ROPE_NORM;
    } else if (strcmp(m->arch_name, "qwen2") == 0) {
        in->arch = KVLM_ARCH_QWEN2;
        m->rope_style = KVLM_ROPE_NEOX;
    } else if (strcmp(m->arch_name, "gpt2") == 0) {
        in->arch = KVLM_ARCH_GPT2;
        m->rope_style = KVLM_ROPE_NONE;
    } else {
        return kvlm_fail(KVLM_ERR_UNSUPPORTED,
                         "%s: general.architecture '%s' is not supported (supported: gpt2, "
                         "llama, mistral, qwen2)", path, m->arch_name);
    }
    in->arch_name = m->arch_name;
    in->format = "gguf";
    in->file_bytes = kvlm_gguf_file_size(g);
    in->weight_bytes = wbytes;
    in->n_params = nparams;
    in->n_tensors = m->n_tensors;
    kvlm_str name;
    if (kvlm_gguf_find_kv(g, "general.name") && kvlm_gguf_get_str(g, "general.name", &name) == KVLM_OK)
        m->name = str_dup(name);

    const char *a = m->arch_name;
    if ((s = get_u32_key(m, a, "block_count", true, 0, &in->n_layers)) ||
        (s = get_u32_key(m, a, "embedding_length", true, 0, &in->n_embd)) ||
        (s = get_u32_key(m, a, "attention.head_count", true, 0, &in->n_heads)) ||
        (s = get_u32_key(m, a, "attention.head_count_kv", false, 0, &in->n_kv_heads)) ||
        (s = get_u32_key(m, a, "feed_forward_length", true, 0, &in->n_ff)) ||
        (s = get_u32_key(m, a, "context_length", true, 0, &in->n_ctx_train)) ||
        (s = get_u32_key(m, a, "attention.key_length", false, 0, &in->head_dim)))
        return s;
    if (in->n_kv_heads == 0) in->n_kv_heads = in->n_heads;
    int vlen = 0;
    if ((s = get_u32_key(m, a, "attention.value_length", false, 0, &vlen))) return s;
    if (vlen && in->head_dim && vlen != in->head_dim)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: key_length %d != value_length %d", path,
                         in->head_dim, vlen);
    float theta = 0.0f;
    if (in->arch == KVLM_ARCH_GPT2) {
        if ((s = get_f32_key(m, a, "attention.layer_norm_epsilon", true, 0, &in->norm_eps))) return s;
    } else {
        if ((s = get_f32_key(m, a, "attention.layer_norm_rms_epsilon", true, 0, &in->norm_eps)) ||
            (s = get_f32_key(m, a, "rope.freq_base", false, 10000.0f, &theta)))
            return s;
        char key[128];
        snprintf(key, sizeof key, "%s.rope.scaling.type", a);
        kvlm_str st;
        if (kvlm_gguf_find_kv(g, key)) {
            if ((s = kvlm_gguf_get_str(g, key, &st))) return s;
            if (!kvlm_str_eq(st, "none") && !kvlm_str_eq(st, "llama3")) {
                char *t = str_dup(st);
                s = kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: rope scaling type '%s' is not supported "
                              "(supported: none, llama3 via rope_freqs.weight)", path, t ? t : "?");
                free(t);
                return s;
            }
        }
        int rdim = 0;
        if ((s = get_u32_key(m, a, "rope.dimension_count", false, 0, &rdim))) return s;
        int hd = in->head_dim ? in->head_dim : (in->n_heads ? in->n_embd / in->n_heads : 0);
        if (rdim && rdim != hd)
            return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: partial rotary embeddings "
                             "(rope.dimension_count %d != head_dim %d) are not supported", path,
                             rdim, hd);
    }
    const kvlm_tensor_desc *emb = kvlm_bind_find(m, "token_embd.weight");
    if (!emb) return kvlm_fail(KVLM_ERR_FORMAT, "%s: missing tensor 'token_embd.weight'", path);
    if (emb->n_dims != 2 || emb->ne[1] <= 0 || emb->ne[1] > (1 << 22))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor 'token_embd.weight' has an invalid shape", path);
    in->n_vocab = (int)emb->ne[1];
    int vocab_key = 0;
    if ((s = get_u32_key(m, a, "vocab_size", false, 0, &vocab_key))) return s;
    if (vocab_key && vocab_key != in->n_vocab)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: %s.vocab_size %d != token_embd rows %d", path, a,
                         vocab_key, in->n_vocab);

    float *factors = NULL;
    const kvlm_tensor_desc *rf = kvlm_bind_find(m, "rope_freqs.weight");
    if (rf && m->rope_style != KVLM_ROPE_NONE) {
        int hd = in->head_dim ? in->head_dim : (in->n_heads > 0 ? in->n_embd / in->n_heads : 0);
        const float *f;
        if ((s = kvlm_bind_vec(m, "rope_freqs.weight", hd / 2, true, &f))) return s;
        factors = (float *)f;
    }
    if ((s = kvlm_model_finish(m, theta, factors))) return s;
    return in->arch == KVLM_ARCH_GPT2 ? kvlm_gpt2_bind(m, false) : kvlm_llama_bind(m, false);
}
