/*
 * safetensors.h - a validating reader for Hugging Face safetensors files
 * and for model folders (model.safetensors, or shards listed in
 * model.safetensors.index.json).
 *
 * Each file is memory-mapped. The JSON header (at most 100 MB, inside the
 * file) is parsed with duplicate keys rejected; every tensor's dtype x shape
 * must equal its byte range, ranges must lie inside the data section, must
 * not overlap, and must cover it without holes. In a sharded folder the
 * index must name existing shard files inside the folder, every tensor must
 * be in the shard the index says, and names must be unique across shards.
 * Errors name the file, the tensor/field and the offset.
 *
 * Tensors of known dtypes other than F32/F16/BF16 (F64, I8..U64, BOOL,
 * F8_*, ...) make the open fail with KVLM_ERR_UNSUPPORTED naming the tensor
 * and dtype (after every format check has passed); an unknown dtype is
 * KVLM_ERR_FORMAT. Zero-element tensors are allowed (nbytes 0; data then
 * points at their offset and must not be read). Zip archives and PyTorch
 * pickles renamed to .safetensors get an error saying what they look like.
 */
#ifndef KVLM_SAFETENSORS_H
#define KVLM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "kvlm.h"

typedef struct kvlm_st_tensor {
    char *name;               /* NUL-terminated copy */
    kvlm_dtype type;          /* F32, F16 or BF16 */
    int n_dims;               /* 0..8 (0 = scalar) */
    int64_t shape[8];         /* row-major, outermost first (as in safetensors) */
    uint64_t nbytes;
    const void *data;         /* inside the mapping */
    int file_index;           /* which shard */
} kvlm_st_tensor;

/* All tensors of one safetensors file or of a model folder. */
typedef struct kvlm_st_set kvlm_st_set;

/* path: a .safetensors file or a folder holding model.safetensors or
 * model.safetensors.index.json plus its shards. */
kvlm_status kvlm_st_open(const char *path, kvlm_st_set **out);
/* One file's bytes from a caller-owned buffer (for fuzzing and tests). */
kvlm_status kvlm_st_parse(const void *buf, size_t size, const char *name, kvlm_st_set **out);
void kvlm_st_close(kvlm_st_set *s);

int64_t kvlm_st_n_tensors(const kvlm_st_set *s);
const kvlm_st_tensor *kvlm_st_tensor_at(const kvlm_st_set *s, int64_t i);
const kvlm_st_tensor *kvlm_st_find(const kvlm_st_set *s, const char *name); /* NULL if absent */
uint64_t kvlm_st_file_bytes(const kvlm_st_set *s); /* sum over files */
/* Number of files (1, or the number of distinct shards) and the path of
 * file i (NULL if out of range); kvlm_st_tensor.file_index indexes these. */
int kvlm_st_n_files(const kvlm_st_set *s);
const char *kvlm_st_file_path(const kvlm_st_set *s, int i);

#endif /* KVLM_SAFETENSORS_H */
