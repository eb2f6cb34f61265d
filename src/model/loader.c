/*
 * loader.c - kvlm_model_load(): picks the format loader for a path, checks
 * the hyperparameters every architecture relies on, binds tensors to their
 * roles with shape checks, and answers the model queries of the public API
 * (info, tensor list, KV bytes per token, fingerprint). Formats: a folder
 * is Hugging Face, GGUF by magic, a llama2.c checkpoint (loader_llama2c.c)
 * by its header and exact size or a .bin name.
 *
 * Binding rules (kvlm_bind_*): a weight must be 2-D with exactly the
 * expected [n_in, n_out] and a supported weight type; a vector must be 1-D
 * with the expected length and is converted to an owned f32 array. A
 * missing required tensor or any mismatch is a KVLM_ERR_FORMAT naming the
 * file and the tensor.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "core/status.h"
#include "model/bind.h"
#include "model/gguf.h"
#include "model/llama2c.h"
#include "model/model.h"
#include "model/modelfile.h"
#include "model/safetensors.h"

kvlm_model_params kvlm_model_default_params(void)
{
    kvlm_model_params p;
    memset(&p, 0, sizeof p);
    return p;
}

void *kvlm_model_alloc_owned(kvlm_model *m, size_t bytes)
{
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? m->cap_owned * 2 : 64;
        void **o = realloc(m->owned, (size_t)cap * sizeof *o);
        if (!o) return NULL;
        m->owned = o;
        m->cap_owned = cap;
    }
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
    m->owned[m->n_owned++] = p;
    return p;
}

void kvlm_model_free(kvlm_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    if (m->repack_map) munmap(m->repack_map, m->repack_len);
    free(m->owned);
    free(m->layers);
    free(m->tensors);
    free(m->path);
    free(m->arch_name);
    free(m->name);
    free(m->tokenizer_json_path);
    if (m->gguf) kvlm_gguf_close(m->gguf);
    if (m->st) kvlm_st_close(m->st);
    if (m->raw_map) {
        kvlm_unmap_file(m->raw_map);
        free(m->raw_map);
    }
    free(m);
}

/* A llama2.c checkpoint has no magic in its legacy layout: it is taken as
 * one when the file is not GGUF and either its header matches its size
 * exactly (or carries the "ak42" magic), or it is named *.bin (so that a
 * broken .bin gets the llama2.c loader's error naming the bad field). */
static bool is_llama2c(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && memcmp(magic, "GGUF", 4) == 0) return false;
    if (kvlm_llama2c_sniff_path(path)) return true;
    return n >= 4 && strcmp(path + n - 4, ".bin") == 0;
}

kvlm_status kvlm_model_load(const char *path, const kvlm_model_params *params,
                            kvlm_model **out)
{
    if (!out) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_model_load: out is NULL");
    *out = NULL;
    if (!path || !*path) return kvlm_fail(KVLM_ERR_INVALID_ARG, "model path is empty");
    struct stat st;
    if (stat(path, &st) != 0)
        return kvlm_fail(KVLM_ERR_IO, "%s: %s", path, strerror(errno));

    kvlm_model *m = calloc(1, sizeof *m);
    if (!m) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    m->path = strdup(path);
    if (!m->path) {
        kvlm_model_free(m);
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    }
    kvlm_status s;
    if (S_ISDIR(st.st_mode)) {
        s = kvlm_model_load_hf(m, path);
    } else {
        size_t n = strlen(path);
        if (n >= 12 && strcmp(path + n - 12, ".safetensors") == 0) {
            /* Validate the file first: its own error is the more useful one. */
            kvlm_st_set *st1 = NULL;
            s = kvlm_st_open(path, &st1);
            kvlm_st_close(st1);
            if (s == KVLM_OK)
                s = kvlm_fail(KVLM_ERR_INVALID_ARG,
                              "%s: a bare .safetensors file has no config; pass the folder "
                              "holding config.json and the safetensors file(s)", path);
        } else if (is_llama2c(path, n))
            s = kvlm_model_load_llama2c(m, path);
        else
            s = kvlm_model_load_gguf(m, path);
    }
    /* Repacking reads the weights it repacks; with a progress callback the
     * other tensors are paged in too, whatever loader mapped them, so the
     * callback measures the slow part of a load (reading the file, packing)
     * and may cancel it. */
    if (s == KVLM_OK)
        s = kvlm_model_repack(m, params ? params->progress : NULL, params ? params->progress_user : NULL,
                              params && params->bf16_matmul);
    if (s != KVLM_OK) {
        kvlm_model_free(m);
        return s;
    }
    *out = m;
    return KVLM_OK;
}

/* ---- binding helpers ---------------------------------------------------- */

static const char *type_name(kvlm_dtype t)
{
    const char *n = kvlm_dtype_name(t);
    if (!n) n = kvlm_ggml_type_name((uint32_t)t);
    return n ? n : "unknown";
}

const kvlm_tensor_desc *kvlm_bind_find(const kvlm_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

static kvlm_status shape_error(const kvlm_model *m, const kvlm_tensor_desc *t,
                               const char *want)
{
    char got[96];
    int o = 0;
    for (int d = 0; d < t->n_dims && o < (int)sizeof got - 24; d++)
        o += snprintf(got + o, sizeof got - (size_t)o, "%s%lld", d ? ", " : "",
                      (long long)t->ne[d]);
    return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': shape (ne) [%s], expected %s",
                     m->path, t->name, got, want);
}

kvlm_status kvlm_bind_weight(kvlm_model *m, const char *name, int64_t n_in, int64_t n_out,
                             bool required, kvlm_weight *w)
{
    memset(w, 0, sizeof *w);
    const kvlm_tensor_desc *t = kvlm_bind_find(m, name);
    if (!t) {
        if (!required) return KVLM_OK;
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: missing tensor '%s'", m->path, name);
    }
    char want[96];
    snprintf(want, sizeof want, "[%lld, %lld]", (long long)n_in, (long long)n_out);
    if (t->n_dims != 2 || t->ne[0] != n_in || t->ne[1] != n_out) return shape_error(m, t, want);
    const kvlm_dtype_traits *tr = kvlm_dtype_traits_get(t->type);
    if (!tr || !tr->is_weight_type)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED,
                         "%s: tensor '%s': unsupported weight type %s (supported: f32, f16, "
                         "bf16, q8_0, q4_0, q5_0, q4_K, q5_K, q6_K)", m->path, name, type_name(t->type));
    size_t rb = kvlm_dtype_row_bytes(t->type, n_in);
    if (rb == 0 || (uint64_t)rb * (uint64_t)n_out != t->nbytes)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': %llu bytes do not match type %s and shape",
                         m->path, name, (unsigned long long)t->nbytes, tr->name);
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = rb;
    w->data = t->data;
    return KVLM_OK;
}

/* Converts n elements of a float-typed tensor to f32. */
static kvlm_status to_f32(kvlm_model *m, const kvlm_tensor_desc *t, int64_t n, float *dst)
{
    const kvlm_dtype_traits *tr = kvlm_dtype_traits_get(t->type);
    if (!tr || kvlm_dtype_row_bytes(t->type, n) == 0)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: tensor '%s': unsupported type %s",
                         m->path, t->name, type_name(t->type));
    kvlm_kernels_ref.dequantize_row(t->type, t->data, dst, n);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(dst[i]))
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': element %lld is not finite",
                             m->path, t->name, (long long)i);
    return KVLM_OK;
}

kvlm_status kvlm_bind_vec(kvlm_model *m, const char *name, int64_t n, bool required,
                          const float **out)
{
    *out = NULL;
    const kvlm_tensor_desc *t = kvlm_bind_find(m, name);
    if (!t) {
        if (!required) return KVLM_OK;
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: missing tensor '%s'", m->path, name);
    }
    char want[64];
    snprintf(want, sizeof want, "[%lld]", (long long)n);
    if (t->n_dims != 1 || t->ne[0] != n) return shape_error(m, t, want);
    float *dst = kvlm_model_alloc_owned(m, (size_t)n * sizeof(float));
    if (!dst) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    kvlm_status s = to_f32(m, t, n, dst);
    if (s) return s;
    *out = dst;
    return KVLM_OK;
}

kvlm_status kvlm_bind_matrix_f32(kvlm_model *m, const char *name, int64_t n_in, int64_t n_out,
                                 bool transposed, const float **out)
{
    *out = NULL;
    const kvlm_tensor_desc *t = kvlm_bind_find(m, name);
    if (!t) return kvlm_fail(KVLM_ERR_FORMAT, "%s: missing tensor '%s'", m->path, name);
    int64_t a = transposed ? n_out : n_in, b = transposed ? n_in : n_out;
    char want[96];
    snprintf(want, sizeof want, "[%lld, %lld]", (long long)a, (long long)b);
    if (t->n_dims != 2 || t->ne[0] != a || t->ne[1] != b) return shape_error(m, t, want);
    size_t total = (size_t)n_in * (size_t)n_out;
    float *dst = kvlm_model_alloc_owned(m, total * sizeof(float));
    if (!dst) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    kvlm_tensor_desc whole = *t;
    kvlm_status s = to_f32(m, &whole, (int64_t)total, dst);
    if (s) return s;
    if (transposed) {
        float *tmp = malloc(total * sizeof(float));
        if (!tmp) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
        memcpy(tmp, dst, total * sizeof(float));
        /* tmp is [n_in rows][n_out cols]; dst becomes [n_out rows][n_in cols] */
        for (int64_t i = 0; i < n_in; i++)
            for (int64_t o = 0; o < n_out; o++) dst[o * n_in + i] = tmp[i * n_out + o];
        free(tmp);
    }
    *out = dst;
    return KVLM_OK;
}

kvlm_status kvlm_bind_weight_transposed(kvlm_model *m, const char *name, int64_t n_in,
                                        int64_t n_out, kvlm_weight *w)
{
    /* Stored as [n_in rows][n_out]; kernels want n_out rows of n_in. The
     * transpose is done in f32 and stored in the tensor's own float type. */
    const kvlm_tensor_desc *t = kvlm_bind_find(m, name);
    if (!t) return kvlm_fail(KVLM_ERR_FORMAT, "%s: missing tensor '%s'", m->path, name);
    if (t->type != KVLM_DTYPE_F32 && t->type != KVLM_DTYPE_F16 && t->type != KVLM_DTYPE_BF16)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: tensor '%s': transposed weights must be "
                         "f32, f16 or bf16", m->path, name);
    const float *f;
    kvlm_status s = kvlm_bind_matrix_f32(m, name, n_in, n_out, true, &f);
    if (s) return s;
    size_t rb = kvlm_dtype_row_bytes(t->type, n_in);
    void *dst = kvlm_model_alloc_owned(m, rb * (size_t)n_out);
    if (!dst) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    for (int64_t o = 0; o < n_out; o++)
        kvlm_kernels_ref.quantize_row(t->type, f + o * n_in, (char *)dst + (size_t)o * rb, n_in);
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = rb;
    w->data = dst;
    return KVLM_OK;
}

/* ---- hyperparameters ---------------------------------------------------- */

#define KVLM_MAX_DIM (1 << 20)
#define KVLM_MAX_LAYERS 1024
#define KVLM_MAX_VOCAB (1 << 22)
#define KVLM_MAX_HEADS 4096

kvlm_status kvlm_model_finish(kvlm_model *m, float rope_theta, const float *rope_factors)
{
    kvlm_model_info *in = &m->info;
    const char *p = m->path;
#define RANGE(field, keys, lo, hi)                                                       \
    if (in->field < (lo) || in->field > (hi))                                            \
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: %s (%s) = %lld is out of range [%lld, %lld]", \
                         p, #field, keys, (long long)in->field, (long long)(lo), (long long)(hi));
    RANGE(n_layers, "num_hidden_layers / block_count", 1, KVLM_MAX_LAYERS);
    RANGE(n_embd, "hidden_size / embedding_length", 1, KVLM_MAX_DIM);
    RANGE(n_heads, "num_attention_heads / attention.head_count", 1, KVLM_MAX_HEADS);
    RANGE(n_kv_heads, "num_key_value_heads / attention.head_count_kv", 1, in->n_heads);
    RANGE(n_ff, "intermediate_size / feed_forward_length", 1, KVLM_MAX_DIM);
    RANGE(n_vocab, "vocab_size / token_embd rows", 1, KVLM_MAX_VOCAB);
    RANGE(n_ctx_train, "max_position_embeddings / context_length", 1, 1 << 24);
#undef RANGE
    if (in->n_heads % in->n_kv_heads != 0)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: the number of heads %d (num_attention_heads / "
                         "attention.head_count) is not a multiple of the number of KV heads %d "
                         "(num_key_value_heads / attention.head_count_kv)",
                         p, in->n_heads, in->n_kv_heads);
    if (in->head_dim <= 0) {
        if (in->n_embd % in->n_heads != 0)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: hidden size %d (hidden_size / embedding_length) "
                             "is not divisible by the number of heads %d (num_attention_heads / "
                             "attention.head_count)", p, in->n_embd, in->n_heads);
        in->head_dim = in->n_embd / in->n_heads;
    }
    if (in->head_dim > 1024 || in->head_dim % 2 != 0 ||
        (int64_t)in->head_dim * in->n_heads > KVLM_MAX_DIM)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: head_dim %d is not supported (even, <= 1024)",
                         p, in->head_dim);
    if (!(in->norm_eps > 0.0f && in->norm_eps < 1.0f))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: norm epsilon %g is out of range (0, 1)", p,
                         (double)in->norm_eps);
    if (m->rope_style != KVLM_ROPE_NONE) {
        if (!(rope_theta > 0.0f && isfinite(rope_theta)))
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: rope_theta %g is invalid", p, (double)rope_theta);
        in->rope_theta = rope_theta;
        int half = in->head_dim / 2;
        float *f = kvlm_model_alloc_owned(m, (size_t)half * sizeof(float));
        if (!f) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
        for (int i = 0; i < half; i++) {
            /* As Hugging Face computes it: 1 / base^(2i/d), in float32. */
            float e = (float)(2 * i) / (float)in->head_dim;
            f[i] = 1.0f / powf(rope_theta, e);
            if (rope_factors) {
                if (!(rope_factors[i] > 0.0f))
                    return kvlm_fail(KVLM_ERR_FORMAT, "%s: rope frequency factor %d is %g", p, i,
                                     (double)rope_factors[i]);
                f[i] /= rope_factors[i];
            }
        }
        m->rope_freqs = f;
    }
    return KVLM_OK;
}

/* Llama 3 rope scaling, as Hugging Face's _compute_llama3_parameters: the
 * factor dividing each inverse frequency. */
void kvlm_llama3_rope_factors(int head_dim, float theta, float factor, float low_ff,
                              float high_ff, float old_ctx, float *out)
{
    float low_wavelen = old_ctx / low_ff, high_wavelen = old_ctx / high_ff;
    for (int i = 0; i < head_dim / 2; i++) {
        float inv = 1.0f / powf(theta, (float)(2 * i) / (float)head_dim);
        float wavelen = 2.0f * (float)M_PI / inv;
        if (wavelen < high_wavelen) {
            out[i] = 1.0f;
        } else if (wavelen > low_wavelen) {
            out[i] = factor;
        } else {
            float smooth = (old_ctx / wavelen - low_ff) / (high_ff - low_ff);
            out[i] = 1.0f / ((1.0f - smooth) / factor + smooth);
        }
    }
}

/* ---- public queries ----------------------------------------------------- */

void kvlm_model_get_info(const kvlm_model *m, kvlm_model_info *out) { *out = m->info; }

bool kvlm_model_tensor(const kvlm_model *m, int i, const char **name, kvlm_dtype *dtype,
                       int64_t ne[4], int *n_dims)
{
    if (!m || i < 0 || i >= m->n_tensors) return false;
    const kvlm_tensor_desc *t = &m->tensors[i];
    if (name) *name = t->name;
    if (dtype) *dtype = t->type;
    if (ne) memcpy(ne, t->ne, sizeof t->ne);
    if (n_dims) *n_dims = t->n_dims;
    return true;
}

uint64_t kvlm_model_kv_bytes_per_token(const kvlm_model *m, kvlm_dtype kv_type)
{
    size_t row = kvlm_dtype_row_bytes(kv_type, m->info.head_dim);
    return 2ull * (uint64_t)m->info.n_layers * (uint64_t)m->info.n_kv_heads * row;
}

static void h_u64(EVP_MD_CTX *c, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    EVP_DigestUpdate(c, b, 8);
}

static void h_bytes(EVP_MD_CTX *c, const void *p, uint64_t n)
{
    h_u64(c, n);
    /* EVP_DigestUpdate takes size_t; feed large buffers in pieces. */
    const uint8_t *q = p;
    while (n) {
        size_t k = n > (1u << 30) ? (1u << 30) : (size_t)n;
        EVP_DigestUpdate(c, q, k);
        q += k;
        n -= k;
    }
}

static void h_str(EVP_MD_CTX *c, const char *s) { h_bytes(c, s, strlen(s)); }

static void h_file(EVP_MD_CTX *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        h_u64(c, 0);
        return;
    }
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(c, buf, n);
    fclose(f);
}

kvlm_status kvlm_model_fingerprint(kvlm_model *m, uint8_t out[32])
{
    if (!m || !out) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_model_fingerprint: NULL argument");
    if (m->have_fingerprint) {
        memcpy(out, m->fingerprint, 32);
        return KVLM_OK;
    }
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        return kvlm_fail(KVLM_ERR_INTERNAL, "SHA-256 unavailable");
    }
    const kvlm_model_info *in = &m->info;
    h_str(c, "kvlm-model-fingerprint-v1");
    h_str(c, m->arch_name);
    int64_t hp[] = {in->n_layers, in->n_embd, in->n_heads, in->n_kv_heads, in->head_dim,
                    in->n_ff, in->n_vocab, in->n_ctx_train, m->rope_style, m->sliding_window};
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) h_u64(c, (uint64_t)hp[i]);
    uint32_t fb;
    memcpy(&fb, &in->norm_eps, 4);
    h_u64(c, fb);
    if (m->rope_freqs) h_bytes(c, m->rope_freqs, (uint64_t)in->head_dim / 2 * sizeof(float));
    /* Tokenizer data. */
    if (m->gguf) {
        for (int64_t i = 0; i < kvlm_gguf_n_kv(m->gguf); i++) {
            const kvlm_gguf_kv *kv = kvlm_gguf_kv_at(m->gguf, i);
            if (kv->key.len < 10 || memcmp(kv->key.ptr, "tokenizer.", 10) != 0) continue;
            h_bytes(c, kv->key.ptr, kv->key.len);
            h_u64(c, kv->type);
            if (kv->type == KVLM_GGUF_STRING) {
                h_bytes(c, kv->v.str.ptr, kv->v.str.len);
            } else if (kv->type == KVLM_GGUF_ARRAY) {
                h_u64(c, kv->v.arr.type);
                h_u64(c, kv->v.arr.n);
                if (kv->v.arr.strs) {
                    for (uint64_t j = 0; j < kv->v.arr.n; j++)
                        h_bytes(c, kv->v.arr.strs[j].ptr, kv->v.arr.strs[j].len);
                } else {
                    static const uint8_t esz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
                    uint32_t et = kv->v.arr.type;
                    if (et < sizeof esz && esz[et])
                        h_bytes(c, kv->v.arr.data, kv->v.arr.n * esz[et]);
                }
            } else {
                h_u64(c, kv->v.u64);
            }
        }
    } else if (m->tokenizer_json_path) {
        h_file(c, m->tokenizer_json_path);
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const kvlm_tensor_desc *t = &m->tensors[i];
        h_str(c, t->name);
        h_u64(c, (uint64_t)t->type);
        for (int d = 0; d < 4; d++) h_u64(c, (uint64_t)t->ne[d]);
        h_bytes(c, t->data, t->nbytes);
    }
    if (m->bf16_matmul)
        h_str(c, "matmul:bf16");
    unsigned int len = 0;
    EVP_DigestFinal_ex(c, m->fingerprint, &len);
    EVP_MD_CTX_free(c);
    m->have_fingerprint = true;
    memcpy(out, m->fingerprint, 32);
    return KVLM_OK;
}
