/*
 * model.h - the in-memory model: hyperparameters and weight views shared by
 * every architecture, whatever file format they came from.
 *
 * Invariants after kvlm_model_load() succeeds:
 *   - every kvlm_weight points at n_out rows of row_bytes bytes inside a
 *     mapping or an owned buffer, its type is a supported weight type and
 *     n_in is a multiple of the type's block size;
 *   - every 1-D parameter (norm weights, biases, rope factors) is an owned
 *     float array of the documented length;
 *   - weights whose rows the format stores transposed (GPT-2's Conv1D in
 *     safetensors) have been transposed into owned buffers;
 *   - hyperparameters are consistent (n_heads * head_dim covers the Q
 *     projection, n_heads % n_kv_heads == 0, ...) and every weight's shape
 *     matches them.
 * A model is read-only after load and may be shared by many contexts.
 */
#ifndef KVLM_MODEL_H
#define KVLM_MODEL_H

#include <stdint.h>
#include <stdbool.h>

#include "kvlm.h"
#include "kernels/kernels.h"

struct kvlm_gguf;
struct kvlm_st_set;
struct kvlm_mapped_file;

/* How RoPE pairs the dimensions of a head. */
typedef enum kvlm_rope_style {
    KVLM_ROPE_NONE = 0,  /* GPT-2: learned positions */
    KVLM_ROPE_NORM = 1,  /* adjacent pairs (2i, 2i+1): GGUF "llama" files, whose
                            Q/K rows llama.cpp's converter permuted */
    KVLM_ROPE_NEOX = 2,  /* halves (i, i + d/2): Hugging Face weights, GGUF qwen2 */
} kvlm_rope_style;

typedef struct kvlm_layer {
    /* Llama family: separate projections. GPT-2: wqkv fused. */
    kvlm_weight wq, wk, wv;     /* [n_heads*head_dim | n_kv*head_dim rows][n_embd] */
    kvlm_weight wqkv;           /* GPT-2: [3*n_embd][n_embd] */
    kvlm_weight wo;             /* [n_embd][n_heads*head_dim] */
    kvlm_weight w_gate;         /* [n_ff][n_embd] (Llama) */
    kvlm_weight w_up;           /* [n_ff][n_embd] */
    kvlm_weight w_down;         /* [n_embd][n_ff] */
    const float *bq, *bk, *bv;  /* Qwen2 / Llama attention_bias; else NULL */
    const float *bqkv;          /* GPT-2 [3*n_embd] */
    const float *bo;            /* GPT-2 [n_embd]; else NULL */
    const float *b_up;          /* GPT-2 [n_ff] */
    const float *b_down;        /* GPT-2 [n_embd] */
    const float *attn_norm;     /* [n_embd] */
    const float *attn_norm_b;   /* GPT-2 LayerNorm bias [n_embd] */
    const float *ffn_norm;      /* [n_embd] */
    const float *ffn_norm_b;    /* GPT-2 */
} kvlm_layer;

/* One tensor as listed by `kvlm inspect`. */
typedef struct kvlm_tensor_desc {
    const char *name;
    kvlm_dtype type;
    int n_dims;
    int64_t ne[4];              /* ne[0] innermost */
    const void *data;
    uint64_t nbytes;
} kvlm_tensor_desc;

struct kvlm_model {
    kvlm_model_info info;
    char *path;
    char *arch_name;
    char *name;                 /* general.name or folder name */
    kvlm_rope_style rope_style;
    float *rope_freqs;          /* [head_dim/2] inverse frequencies, scaling applied; NULL for GPT-2 */
    int sliding_window;         /* 0: none; else keys j with p - j < window */

    kvlm_weight tok_embd;       /* [n_vocab][n_embd], any weight type */
    const float *pos_embd;      /* GPT-2 [n_ctx_train][n_embd] */
    const float *out_norm;      /* [n_embd] */
    const float *out_norm_b;    /* GPT-2 */
    kvlm_weight output;         /* [n_vocab][n_embd]; may alias tok_embd (tied) */
    bool tied_embeddings;
    kvlm_layer *layers;         /* [n_layers] */

    kvlm_tensor_desc *tensors;  /* every tensor of the file(s) */
    int n_tensors;

    struct kvlm_gguf *gguf;     /* the mapping(s) the weights point into */
    struct kvlm_st_set *st;
    struct kvlm_mapped_file *raw_map; /* llama2.c checkpoint: the whole file */
    char *tokenizer_json_path;  /* HF folder: tokenizer.json if present */

    void **owned;               /* buffers freed with the model */
    int n_owned, cap_owned;
    void *repack_map;           /* repack.c: one anonymous mapping holding every */
    size_t repack_len;          /* repacked weight (munmap'ed with the model) */

    bool bf16_matmul;           /* repack.c put F16/BF16 matrices in the xb16 form */
    bool have_fingerprint;
    uint8_t fingerprint[32];
};

/* Internal helpers shared by the format loaders (loader.c). */
void *kvlm_model_alloc_owned(struct kvlm_model *m, size_t bytes);
kvlm_status kvlm_model_load_gguf(struct kvlm_model *m, const char *path);
kvlm_status kvlm_model_load_hf(struct kvlm_model *m, const char *dir);
kvlm_status kvlm_model_load_llama2c(struct kvlm_model *m, const char *path);
/* Reads the bytes of every tensor whose data pointer is not in
 * skip[0..n_skip) once (page_in.c), calling progress(done0 + bytes read,
 * total) every 16 MiB and at the end of each tensor, total being the sum of
 * every tensor's bytes; false from progress cancels with
 * KVLM_ERR_INVALID_ARG. Loader-independent: it walks m->tensors only. */
kvlm_status kvlm_model_page_in(struct kvlm_model *m, kvlm_progress_fn progress, void *user,
                               uint64_t done0, const void *const *skip, int n_skip);
/* Puts the matrix weights of every kvlm_x8_type into the x8 layout (repack.c);
 * with bf16, F16/BF16 ones into the xb16 layout of the BF16 matmul.
 * With a progress callback it also pages in every other tensor, and
 * reports both as one count of the tensors' bytes (kvlm_model_params). */
kvlm_status kvlm_model_repack(struct kvlm_model *m, kvlm_progress_fn progress, void *user, bool bf16);
/* Checks hyperparameters and fills derived ones (head_dim, rope freqs). */
kvlm_status kvlm_model_finish(struct kvlm_model *m, float rope_theta,
                              const float *rope_factors /* [head_dim/2] or NULL */);

#endif /* KVLM_MODEL_H */
