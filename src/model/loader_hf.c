/*
 * loader_hf.c - builds a kvlm_model from a Hugging Face model folder:
 * config.json plus model.safetensors or sharded safetensors with
 * model.safetensors.index.json.
 *
 * config.json is untrusted: every key is type-checked and range-checked
 * (kvlm_model_finish), and absent required keys are named in the error.
 * Both rope conventions are read: transformers >= 5 "rope_parameters"
 * {rope_theta, rope_type, ...} and the older top-level "rope_theta" with
 * "rope_scaling". Hugging Face Q/K weights are not permuted, so RoPE pairs
 * dimension i with i + head_dim/2 (KVLM_ROPE_NEOX).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "core/status.h"
#include "model/bind.h"
#include "model/model.h"
#include "model/safetensors.h"

#define CONFIG_MAX_BYTES (16u << 20)

typedef struct cfg {
    json_t *root;
    const char *path;
} cfg;

/* Integer key: absent -> dflt if !required. Rejects non-integers and values
 * outside [lo, hi]. */
static kvlm_status cfg_int(const cfg *c, const char *key, bool required, long long dflt,
                           long long lo, long long hi, int *out)
{
    json_t *v = json_object_get(c->root, key);
    if (!v || json_is_null(v)) {
        if (required) return kvlm_fail(KVLM_ERR_FORMAT, "%s: missing key '%s'", c->path, key);
        *out = (int)dflt;
        return KVLM_OK;
    }
    long long x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < (double)lo || d > (double)hi)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: key '%s' = %g is not an integer in [%lld, %lld]",
                             c->path, key, d, lo, hi);
        x = (long long)d;
    } else {
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: key '%s' must be an integer", c->path, key);
    }
    if (x < lo || x > hi)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: key '%s' = %lld is out of range [%lld, %lld]",
                         c->path, key, x, lo, hi);
    *out = (int)x;
    return KVLM_OK;
}

static kvlm_status obj_num(const char *path, json_t *obj, const char *key, bool required,
                           double dflt, double *out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v)) {
        if (required) return kvlm_fail(KVLM_ERR_FORMAT, "%s: missing key '%s'", path, key);
        *out = dflt;
        return KVLM_OK;
    }
    if (!json_is_number(v))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: key '%s' must be a number", path, key);
    *out = json_number_value(v);
    if (!isfinite(*out))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: key '%s' is not finite", path, key);
    return KVLM_OK;
}

static const char *obj_str(json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return v && json_is_string(v) ? json_string_value(v) : NULL;
}

/* Reads the rope settings into theta and (for llama3) per-frequency factors. */
static kvlm_status read_rope(kvlm_model *m, const cfg *c, float *theta, float **factors)
{
    json_t *rp = json_object_get(c->root, "rope_parameters");
    json_t *rs = json_object_get(c->root, "rope_scaling");
    if (rp && !json_is_object(rp) && !json_is_null(rp))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: 'rope_parameters' must be an object", c->path);
    if (rs && !json_is_object(rs) && !json_is_null(rs))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: 'rope_scaling' must be an object", c->path);
    if (rp && !json_is_object(rp)) rp = NULL;
    if (rs && !json_is_object(rs)) rs = NULL;
    double th;
    kvlm_status s;
    if (rp && json_object_get(rp, "rope_theta"))
        s = obj_num(c->path, rp, "rope_theta", true, 0, &th);
    else
        s = obj_num(c->path, c->root, "rope_theta", false, 10000.0, &th);
    if (s) return s;
    if (!(th > 0 && th < 1e12))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: rope_theta %g is out of range", c->path, th);
    *theta = (float)th;
    *factors = NULL;
    json_t *sc = rp ? rp : rs;
    const char *type = obj_str(sc, "rope_type");
    if (!type) type = obj_str(sc, "type");
    if (!type || strcmp(type, "default") == 0) return KVLM_OK;
    if (strcmp(type, "llama3") != 0)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: rope type '%s' is not supported "
                         "(supported: default, llama3)", c->path, type);
    double factor, lo, hi, old;
    if ((s = obj_num(c->path, sc, "factor", true, 0, &factor)) ||
        (s = obj_num(c->path, sc, "low_freq_factor", true, 0, &lo)) ||
        (s = obj_num(c->path, sc, "high_freq_factor", true, 0, &hi)) ||
        (s = obj_num(c->path, sc, "original_max_position_embeddings", true, 0, &old)))
        return s;
    if (!(factor >= 1 && factor < 1e6 && lo > 0 && hi > lo && hi < 1e6 && old >= 1 && old < 1e9))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: llama3 rope parameters are out of range", c->path);
    int hd = m->info.head_dim ? m->info.head_dim
                              : (m->info.n_heads > 0 ? m->info.n_embd / m->info.n_heads : 0);
    if (hd <= 0 || hd > 1024) return KVLM_OK; /* kvlm_model_finish reports it */
    float *f = kvlm_model_alloc_owned(m, (size_t)(hd / 2) * sizeof(float));
    if (!f) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    kvlm_llama3_rope_factors(hd, *theta, (float)factor, (float)lo, (float)hi, (float)old, f);
    *factors = f;
    return KVLM_OK;
}

static kvlm_status read_config(kvlm_model *m, const char *dir, float *theta, float **factors)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return kvlm_fail(KVLM_ERR_IO, "%s: cannot open (a Hugging Face model folder needs "
                             "config.json)", path);
    char *buf = malloc(CONFIG_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
    fclose(f);
    if (n > CONFIG_MAX_BYTES) {
        free(buf);
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: larger than %u bytes", path, CONFIG_MAX_BYTES);
    }
    json_error_t err;
    json_t *root = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &err);
    free(buf);
    if (!root)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: invalid JSON at line %d column %d: %s", path,
                         err.line, err.column, err.text);
    kvlm_status s = KVLM_OK;
    cfg c = {root, path};
    kvlm_model_info *in = &m->info;
    if (!json_is_object(root)) {
        s = kvlm_fail(KVLM_ERR_FORMAT, "%s: top level must be an object", path);
        goto done;
    }
    const char *mt = obj_str(root, "model_type");
    if (!mt) {
        s = kvlm_fail(KVLM_ERR_FORMAT, "%s: missing key 'model_type'", path);
        goto done;
    }
    m->arch_name = strdup(mt);
    if (!m->arch_name) {
        s = kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
        goto done;
    }
    const long long BIG = 1 << 24;
    if (strcmp(mt, "gpt2") == 0) {
        in->arch = KVLM_ARCH_GPT2;
        m->rope_style = KVLM_ROPE_NONE;
        const char *act = obj_str(root, "activation_function");
        if (act && strcmp(act, "gelu_new") != 0 && strcmp(act, "gelu_pytorch_tanh") != 0) {
            s = kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: activation_function '%s' is not supported "
                          "(supported: gelu_new)", path, act);
            goto done;
        }
        double eps;
        if ((s = cfg_int(&c, "n_layer", true, 0, 1, 1024, &in->n_layers)) ||
            (s = cfg_int(&c, "n_embd", true, 0, 1, 1 << 20, &in->n_embd)) ||
            (s = cfg_int(&c, "n_head", true, 0, 1, 4096, &in->n_heads)) ||
            (s = cfg_int(&c, "n_positions", true, 0, 1, BIG, &in->n_ctx_train)) ||
            (s = cfg_int(&c, "vocab_size", true, 0, 1, 1 << 22, &in->n_vocab)) ||
            (s = obj_num(path, root, "layer_norm_epsilon", false, 1e-5, &eps)))
            goto done;
        if ((s = cfg_int(&c, "n_inner", false, 0, 1, 1 << 20, &in->n_ff))) goto done;
        if (in->n_ff == 0) in->n_ff = 4 * in->n_embd;
        in->n_kv_heads = in->n_heads;
        in->norm_eps = (float)eps;
        *theta = 0;
    } else if (strcmp(mt, "llama") == 0 || strcmp(mt, "mistral") == 0 || strcmp(mt, "qwen2") == 0) {
        bool qwen = strcmp(mt, "qwen2") == 0;
        in->arch = qwen ? KVLM_ARCH_QWEN2 : KVLM_ARCH_LLAMA;
        m->rope_style = KVLM_ROPE_NEOX;
        const char *act = obj_str(root, "hidden_act");
        if (act && strcmp(act, "silu") != 0) {
            s = kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: hidden_act '%s' is not supported (supported: "
                          "silu)", path, act);
            goto done;
        }
        double eps;
        if ((s = cfg_int(&c, "num_hidden_layers", true, 0, 1, 1024, &in->n_layers)) ||
            (s = cfg_int(&c, "hidden_size", true, 0, 1, 1 << 20, &in->n_embd)) ||
            (s = cfg_int(&c, "num_attention_heads", true, 0, 1, 4096, &in->n_heads)) ||
            (s = cfg_int(&c, "num_key_value_heads", false, 0, 1, 4096, &in->n_kv_heads)) ||
            (s = cfg_int(&c, "intermediate_size", true, 0, 1, 1 << 20, &in->n_ff)) ||
            (s = cfg_int(&c, "max_position_embeddings", true, 0, 1, BIG, &in->n_ctx_train)) ||
            (s = cfg_int(&c, "vocab_size", true, 0, 1, 1 << 22, &in->n_vocab)) ||
            (s = cfg_int(&c, "head_dim", false, 0, 1, 1024, &in->head_dim)) ||
            (s = obj_num(path, root, "rms_norm_eps", false, 1e-6, &eps)))
            goto done;
        if (in->n_kv_heads == 0) in->n_kv_heads = in->n_heads;
        in->norm_eps = (float)eps;
        json_t *mlpb = json_object_get(root, "mlp_bias");
        if (mlpb && json_is_true(mlpb)) {
            s = kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: mlp_bias true is not supported", path);
            goto done;
        }
        /* Sliding-window attention: Mistral applies it to every layer when set. */
        int sw = 0;
        json_t *usw = json_object_get(root, "use_sliding_window");
        bool sw_on = qwen ? (usw && json_is_true(usw)) : true;
        if (sw_on && (s = cfg_int(&c, "sliding_window", false, 0, 0, BIG, &sw))) goto done;
        if (qwen && sw_on) {
            s = kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: Qwen2 use_sliding_window is not supported", path);
            goto done;
        }
        m->sliding_window = sw_on ? sw : 0;
        if ((s = read_rope(m, &c, theta, factors))) goto done;
    } else {
        s = kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: model_type '%s' is not supported (supported: "
                      "gpt2, llama, mistral, qwen2)", path, mt);
        goto done;
    }
    in->arch_name = m->arch_name;
done:
    json_decref(root);
    return s;
}

kvlm_status kvlm_model_load_hf(kvlm_model *m, const char *dir)
{
    float theta = 0, *factors = NULL;
    kvlm_status s = read_config(m, dir, &theta, &factors);
    if (s) return s;
    s = kvlm_st_open(dir, &m->st);
    if (s) return s;
    int64_t nt = kvlm_st_n_tensors(m->st);
    m->tensors = calloc(nt > 0 ? (size_t)nt : 1, sizeof *m->tensors);
    if (!m->tensors) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    uint64_t wbytes = 0, nparams = 0;
    for (int64_t i = 0; i < nt; i++) {
        const kvlm_st_tensor *t = kvlm_st_tensor_at(m->st, i);
        kvlm_tensor_desc *d = &m->tensors[i];
        if (t->n_dims > 4)
            return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most 4)",
                             dir, t->name, t->n_dims);
        d->name = t->name;
        d->type = t->type;
        d->n_dims = t->n_dims;
        for (int k = 0; k < 4; k++) d->ne[k] = 1;
        uint64_t ne = 1;
        for (int k = 0; k < t->n_dims; k++) {
            d->ne[k] = t->shape[t->n_dims - 1 - k];
            ne *= (uint64_t)d->ne[k];
        }
        d->data = t->data;
        d->nbytes = t->nbytes;
        wbytes += t->nbytes;
        nparams += ne;
    }
    m->n_tensors = (int)nt;
    kvlm_model_info *in = &m->info;
    in->format = "safetensors";
    in->file_bytes = kvlm_st_file_bytes(m->st);
    in->weight_bytes = wbytes;
    in->n_params = nparams;
    in->n_tensors = m->n_tensors;
    const char *slash = strrchr(dir, '/');
    m->name = strdup(slash && slash[1] ? slash + 1 : dir);
    char tpath[4096];
    snprintf(tpath, sizeof tpath, "%s/tokenizer.json", dir);
    struct stat st;
    if (stat(tpath, &st) == 0) m->tokenizer_json_path = strdup(tpath);
    if ((s = kvlm_model_finish(m, theta, NULL))) return s;
    if (factors) {
        for (int i = 0; i < in->head_dim / 2; i++) m->rope_freqs[i] /= factors[i];
    }
    return in->arch == KVLM_ARCH_GPT2 ? kvlm_gpt2_bind(m, true) : kvlm_llama_bind(m, true);
}
