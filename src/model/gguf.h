/*
 * gguf.h - a validating reader for GGUF v2 and v3 model files.
 *
 * The file is memory-mapped; every count, length, offset and dimension is
 * checked against the file size before use, and allocations are bounded by
 * the file size (never sized by an unchecked field). After a successful
 * open every key/value and tensor can be used without further checks:
 *   - strings point into the mapping and are not NUL-terminated (kvlm_str);
 *   - tensor data lies inside the data section, aligned to
 *     general.alignment, tensors do not overlap, and nbytes matches the
 *     type and shape.
 * Errors name the file, the field and the byte offset.
 *
 * Policy details: nested arrays are rejected (KVLM_ERR_UNSUPPORTED), as are
 * big-endian files and GGUF v1; bool values other than 0/1, empty keys,
 * duplicate keys and duplicate tensor names are KVLM_ERR_FORMAT.
 */
#ifndef KVLM_GGUF_H
#define KVLM_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "kvlm.h"

typedef enum kvlm_gguf_type {
    KVLM_GGUF_UINT8 = 0,
    KVLM_GGUF_INT8 = 1,
    KVLM_GGUF_UINT16 = 2,
    KVLM_GGUF_INT16 = 3,
    KVLM_GGUF_UINT32 = 4,
    KVLM_GGUF_INT32 = 5,
    KVLM_GGUF_FLOAT32 = 6,
    KVLM_GGUF_BOOL = 7,
    KVLM_GGUF_STRING = 8,
    KVLM_GGUF_ARRAY = 9,
    KVLM_GGUF_UINT64 = 10,
    KVLM_GGUF_INT64 = 11,
    KVLM_GGUF_FLOAT64 = 12,
} kvlm_gguf_type;

/* A length-delimited string inside the mapping (not NUL-terminated). */
typedef struct kvlm_str {
    const char *ptr;
    uint64_t len;
} kvlm_str;

typedef struct kvlm_gguf_kv {
    kvlm_str key;
    kvlm_gguf_type type;
    uint64_t offset;           /* file offset of the value */
    union {
        uint64_t u64;          /* UINT8..UINT64, BOOL (0/1) */
        int64_t i64;           /* INT8..INT64 */
        double f64;            /* FLOAT32, FLOAT64 */
        kvlm_str str;          /* STRING */
        struct {
            kvlm_gguf_type type;   /* element type (never ARRAY: nested arrays are rejected) */
            uint64_t n;            /* element count */
            const void *data;      /* numeric elements, packed little-endian */
            kvlm_str *strs;        /* STRING elements (n entries), else NULL */
        } arr;
    } v;
} kvlm_gguf_kv;

typedef struct kvlm_gguf_tensor {
    char *name;                /* NUL-terminated copy */
    int n_dims;                /* 1..4 */
    int64_t ne[4];             /* ne[0] innermost; unused dims are 1 */
    uint32_t ggml_type;        /* raw type id from the file */
    kvlm_dtype type;           /* same value; only meaningful when supported */
    uint64_t offset;           /* relative to the data section */
    uint64_t nbytes;
    const void *data;          /* inside the mapping */
} kvlm_gguf_tensor;

typedef struct kvlm_gguf kvlm_gguf;

/* Opens and validates path (mmap). */
kvlm_status kvlm_gguf_open(const char *path, kvlm_gguf **out);
/* Same over a caller-owned buffer (which must outlive the result); `name`
 * is used in error messages. */
kvlm_status kvlm_gguf_parse(const void *buf, size_t size, const char *name,
                            kvlm_gguf **out);
void kvlm_gguf_close(kvlm_gguf *g);

uint32_t kvlm_gguf_version(const kvlm_gguf *g);
uint64_t kvlm_gguf_file_size(const kvlm_gguf *g);
uint64_t kvlm_gguf_alignment(const kvlm_gguf *g);
/* Absolute file offset of the data section (tensor offsets are relative to
 * it): the end of the tensor infos rounded up to the alignment. */
uint64_t kvlm_gguf_data_offset(const kvlm_gguf *g);
const char *kvlm_gguf_path(const kvlm_gguf *g);

int64_t kvlm_gguf_n_kv(const kvlm_gguf *g);
const kvlm_gguf_kv *kvlm_gguf_kv_at(const kvlm_gguf *g, int64_t i);
/* NULL if absent. */
const kvlm_gguf_kv *kvlm_gguf_find_kv(const kvlm_gguf *g, const char *key);

/* Typed getters. Return KVLM_OK, or KVLM_ERR_FORMAT (with an error naming
 * the key) if absent or of an incompatible type / out of range. Integer
 * getters accept any integer type whose value fits. */
kvlm_status kvlm_gguf_get_u32(const kvlm_gguf *g, const char *key, uint32_t *out);
kvlm_status kvlm_gguf_get_u64(const kvlm_gguf *g, const char *key, uint64_t *out);
kvlm_status kvlm_gguf_get_f32(const kvlm_gguf *g, const char *key, float *out); /* also from FLOAT64 */
kvlm_status kvlm_gguf_get_bool(const kvlm_gguf *g, const char *key, bool *out);
kvlm_status kvlm_gguf_get_str(const kvlm_gguf *g, const char *key, kvlm_str *out);
/* Array of elem_type; *out receives the key/value (count in v.arr.n). */
kvlm_status kvlm_gguf_get_arr(const kvlm_gguf *g, const char *key, kvlm_gguf_type elem_type,
                              const kvlm_gguf_kv **out);

int64_t kvlm_gguf_n_tensors(const kvlm_gguf *g);
const kvlm_gguf_tensor *kvlm_gguf_tensor_at(const kvlm_gguf *g, int64_t i);
/* NULL if absent. */
const kvlm_gguf_tensor *kvlm_gguf_find_tensor(const kvlm_gguf *g, const char *name);

/* Name of a GGML type id ("q4_K", "iq2_xs", ...) or NULL if unknown.
 * Ids of types removed from GGML (4, 5, 31-33, 36-38) get a name ending in
 * "(removed)"; files using them are rejected with KVLM_ERR_UNSUPPORTED. */
const char *kvlm_ggml_type_name(uint32_t ggml_type);
/* Elements per block and bytes per block of a GGML type id. Returns false
 * (outputs untouched) for unknown and removed ids. Either pointer may be
 * NULL. */
bool kvlm_ggml_type_block(uint32_t ggml_type, uint32_t *blck, uint32_t *bytes);

/* true if s equals the NUL-terminated c. */
bool kvlm_str_eq(kvlm_str s, const char *c);

#endif /* KVLM_GGUF_H */
