/*
 * bind.h - binding a loaded file's tensors to the roles an architecture
 * needs (used by the format loaders and the architecture files).
 *
 * Every function checks the tensor's presence, rank, shape and type, and
 * fails with KVLM_ERR_FORMAT / KVLM_ERR_UNSUPPORTED naming the file and the
 * tensor. Vectors and transposed matrices are converted into buffers owned
 * by the model.
 */
#ifndef KVLM_BIND_H
#define KVLM_BIND_H

#include "model/model.h"

const kvlm_tensor_desc *kvlm_bind_find(const kvlm_model *m, const char *name);

/* A weight of n_out rows of n_in elements, used in place (no copy). When
 * !required and absent, *w is zeroed (w->data == NULL) and KVLM_OK returned. */
kvlm_status kvlm_bind_weight(kvlm_model *m, const char *name, int64_t n_in, int64_t n_out,
                             bool required, kvlm_weight *w);

/* A 1-D float tensor of n elements converted to owned f32. When !required
 * and absent, *out = NULL and KVLM_OK. */
kvlm_status kvlm_bind_vec(kvlm_model *m, const char *name, int64_t n, bool required,
                          const float **out);

/* A float matrix converted to owned f32 [n_out][n_in]. transposed: the file
 * stores it as [n_in rows][n_out] (GPT-2 Conv1D). */
kvlm_status kvlm_bind_matrix_f32(kvlm_model *m, const char *name, int64_t n_in, int64_t n_out,
                                 bool transposed, const float **out);

/* A weight the file stores transposed (GPT-2 Conv1D in safetensors): copied
 * into an owned [n_out][n_in] buffer of the same float type. */
kvlm_status kvlm_bind_weight_transposed(kvlm_model *m, const char *name, int64_t n_in,
                                        int64_t n_out, kvlm_weight *w);

/* Factors dividing each rope inverse frequency for Llama 3 rope scaling
 * (Hugging Face rope_type "llama3"); out has head_dim/2 entries. */
void kvlm_llama3_rope_factors(int head_dim, float theta, float factor, float low_freq_factor,
                              float high_freq_factor, float original_max_pos, float *out);

/* Architecture binding (arch_llama.c, arch_gpt2.c). hf selects Hugging Face
 * tensor names, else GGUF names. */
kvlm_status kvlm_llama_bind(kvlm_model *m, bool hf);
kvlm_status kvlm_gpt2_bind(kvlm_model *m, bool hf);

#endif /* KVLM_BIND_H */
