/*
 * loader_llama2c.c - builds a kvlm_model from a llama2.c checkpoint
 * (llama2c.h): arch LLAMA, f32 weights used in place in the file mapping.
 *
 * What the format does not say and run.c hard-codes: RMSNorm eps 1e-5,
 * RoPE theta 10000 on adjacent pairs (2i, 2i+1) inside each head
 * (KVLM_ROPE_NORM, as GGUF llama files), SwiGLU w2(silu(w1 x) * w3 x).
 * The freq_cis tables of the legacy layout are not used (kvlm computes the
 * same frequencies from theta).
 *
 * The loader lists the tensors under their GGUF names (token_embd.weight,
 * blk.N.attn_q.weight, ...) pointing into the mapping, then reuses the GGUF
 * path: kvlm_model_finish checks the hyperparameters and kvlm_llama_bind
 * binds every tensor with its shape check. So a llama2.c model is, after
 * load, indistinguishable from the same weights read from a GGUF file.
 *
 * Invariants: the mapping (m->raw_map) outlives every weight pointer (it is
 * released in kvlm_model_free); each tensor lies inside the mapping because
 * kvlm_llama2c_parse_header checked that the file holds exactly the floats
 * the header implies and tensors are placed by summing those same sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "model/bind.h"
#include "model/llama2c.h"
#include "model/model.h"
#include "model/modelfile.h"

#define L2C_NAME_LEN 48

typedef struct placer {
    kvlm_model *m;
    const uint8_t *base;   /* start of the float data */
    uint64_t off;          /* next float index */
    char *names;           /* n_tensors * L2C_NAME_LEN bytes, owned by the model */
} placer;

/* Adds one tensor of ne0 x ne1 floats (ne1 == 0: 1-D) at the current
 * position and advances past it. */
static void place(placer *p, const char *name, int64_t ne0, int64_t ne1)
{
    kvlm_model *m = p->m;
    kvlm_tensor_desc *d = &m->tensors[m->n_tensors];
    char *nm = p->names + (size_t)m->n_tensors * L2C_NAME_LEN;
    snprintf(nm, L2C_NAME_LEN, "%s", name);
    d->name = nm;
    d->type = KVLM_DTYPE_F32;
    d->n_dims = ne1 ? 2 : 1;
    d->ne[0] = ne0;
    d->ne[1] = ne1 ? ne1 : 1;
    d->ne[2] = d->ne[3] = 1;
    uint64_t n = (uint64_t)ne0 * (uint64_t)(ne1 ? ne1 : 1);
    d->data = p->base + 4 * p->off;
    d->nbytes = 4 * n;
    p->off += n;
    m->n_tensors++;
}

/* One tensor per layer, layers stored one after the other. */
static void place_layers(placer *p, const char *suffix, int n_layers, int64_t ne0, int64_t ne1)
{
    char name[L2C_NAME_LEN];
    for (int l = 0; l < n_layers; l++) {
        snprintf(name, sizeof name, "blk.%d.%s", l, suffix);
        place(p, name, ne0, ne1);
    }
}

kvlm_status kvlm_model_load_llama2c(kvlm_model *m, const char *path)
{
    m->raw_map = calloc(1, sizeof *m->raw_map);
    if (!m->raw_map) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    kvlm_status s = kvlm_map_file(path, m->raw_map);
    if (s) return s;
    kvlm_llama2c_header h;
    if ((s = kvlm_llama2c_parse_header(m->raw_map->base, m->raw_map->size, path, &h))) {
        const char *what = kvlm_sniff_format(m->raw_map->base, m->raw_map->size);
        if (what && s == KVLM_ERR_FORMAT)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: not a llama2.c checkpoint: this looks like %s", path, what);
        return s;
    }

    int64_t D = h.dim, F = h.hidden_dim, V = h.vocab_size, hs = h.dim / h.n_heads,
            KD = (int64_t)h.n_kv_heads * hs;
    int L = h.n_layers;
    int n_tensors = 9 * L + 2 + (h.shared_classifier ? 0 : 1);
    m->tensors = calloc((size_t)n_tensors, sizeof *m->tensors);
    placer p = {m, m->raw_map->base + h.data_offset, 0,
                kvlm_model_alloc_owned(m, (size_t)n_tensors * L2C_NAME_LEN)};
    if (!m->tensors || !p.names) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");

    if (h.version == 0) {
        place(&p, "token_embd.weight", D, V);
        place_layers(&p, "attn_norm.weight", L, D, 0);
        place_layers(&p, "attn_q.weight", L, D, D);
        place_layers(&p, "attn_k.weight", L, D, KD);
        place_layers(&p, "attn_v.weight", L, D, KD);
        place_layers(&p, "attn_output.weight", L, D, D);
        place_layers(&p, "ffn_norm.weight", L, D, 0);
        place_layers(&p, "ffn_gate.weight", L, D, F);  /* w1 */
        place_layers(&p, "ffn_down.weight", L, F, D);  /* w2 */
        place_layers(&p, "ffn_up.weight", L, D, F);    /* w3 */
        place(&p, "output_norm.weight", D, 0);
        p.off += (uint64_t)h.seq_len * (uint64_t)(hs / 2) * 2; /* freq_cis_real, freq_cis_imag */
    } else {
        place_layers(&p, "attn_norm.weight", L, D, 0);
        place_layers(&p, "ffn_norm.weight", L, D, 0);
        place(&p, "output_norm.weight", D, 0);
        place(&p, "token_embd.weight", D, V);
        place_layers(&p, "attn_q.weight", L, D, D);
        place_layers(&p, "attn_k.weight", L, D, KD);
        place_layers(&p, "attn_v.weight", L, D, KD);
        place_layers(&p, "attn_output.weight", L, D, D);
        place_layers(&p, "ffn_gate.weight", L, D, F);
        place_layers(&p, "ffn_down.weight", L, F, D);
        place_layers(&p, "ffn_up.weight", L, D, F);
    }
    if (!h.shared_classifier) place(&p, "output.weight", D, V);
    if (p.off != h.n_floats || m->n_tensors != n_tensors)
        return kvlm_fail(KVLM_ERR_INTERNAL, "%s: llama2.c layout placed %llu of %llu floats", path,
                         (unsigned long long)p.off, (unsigned long long)h.n_floats);

    m->arch_name = strdup("llama");
    const char *slash = strrchr(path, '/');
    m->name = strdup(slash ? slash + 1 : path);
    if (!m->arch_name || !m->name) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    kvlm_model_info *in = &m->info;
    in->arch = KVLM_ARCH_LLAMA;
    in->arch_name = m->arch_name;
    in->format = "llama2c";
    in->n_layers = L;
    in->n_embd = h.dim;
    in->n_heads = h.n_heads;
    in->n_kv_heads = h.n_kv_heads;
    in->head_dim = (int)hs;
    in->n_ff = h.hidden_dim;
    in->n_vocab = h.vocab_size;
    in->n_ctx_train = h.seq_len;
    in->norm_eps = 1e-5f;
    in->file_bytes = m->raw_map->size;
    uint64_t params = 0;
    for (int i = 0; i < m->n_tensors; i++) params += m->tensors[i].nbytes / 4;
    in->n_params = params;
    in->weight_bytes = 4 * params;
    in->n_tensors = m->n_tensors;
    m->rope_style = KVLM_ROPE_NORM;
    if ((s = kvlm_model_finish(m, 10000.0f, NULL))) return s;
    return kvlm_llama_bind(m, false);
}
