/*
 * llama2c.h - the checkpoint format of Karpathy's llama2.c (`run.c`): a
 * header of seven int32 hyperparameters followed by flat float32 arrays.
 *
 * Two layouts are recognised:
 *   - legacy (v0, what the TinyStories checkpoints use): no magic; 7 int32
 *     at offset 0, data at 28. A negative vocab_size means the classifier is
 *     stored separately (after freq_cis); positive means it is tied to the
 *     token embedding. Detected only by the exact file size
 *     28 + 4 * n_floats, since there is nothing else to go by;
 *   - versioned ("ak42" magic, uint32 0x616b3432, then int32 version):
 *     version 1 is fp32 with a 256-byte header holding the 7 int32 and a
 *     uint8 shared-classifier flag; version 2 (int8 Q8_0) is refused as
 *     KVLM_ERR_UNSUPPORTED.
 *
 * Invariant: kvlm_llama2c_parse_header() accepts a buffer only if every
 * field is in range, dim is a multiple of n_heads, n_heads of n_kv_heads,
 * the head size is even, and the exact byte count the header implies equals
 * the buffer size; all sizes are computed in 64 bits from bounded fields,
 * so they cannot overflow. Nothing reads past `size` bytes.
 */
#ifndef KVLM_LLAMA2C_H
#define KVLM_LLAMA2C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvlm.h"

#define KVLM_LLAMA2C_MAGIC 0x616b3432u /* "ak42" */

typedef struct kvlm_llama2c_header {
    int version;          /* 0 legacy, 1 versioned fp32 */
    int dim;              /* model width */
    int hidden_dim;       /* MLP inner size */
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int vocab_size;       /* absolute value of the stored field */
    int seq_len;          /* trained context length */
    bool shared_classifier;
    uint64_t data_offset; /* bytes before the first float */
    uint64_t n_floats;    /* floats the layout holds, freq_cis included */
} kvlm_llama2c_header;

/* Validates buf[0..size) as a whole llama2.c checkpoint (header and exact
 * size; the float data itself is not inspected). `name` is used in error
 * messages. KVLM_ERR_FORMAT names the bad field; KVLM_ERR_UNSUPPORTED for
 * a versioned file other than version 1. */
kvlm_status kvlm_llama2c_parse_header(const uint8_t *buf, size_t size, const char *name,
                                      kvlm_llama2c_header *out);

/* True when buf (the first bytes of a file, at least 36 of them or all of a
 * smaller file) and the file size look like a llama2.c checkpoint: the
 * "ak42" magic, or a legacy header whose exact size formula gives
 * file_size. Sets no error. */
bool kvlm_llama2c_sniff(const uint8_t *buf, size_t n, uint64_t file_size);

/* kvlm_llama2c_sniff on a path (reads the first bytes and stats it). False
 * for anything unreadable or not a regular file. */
bool kvlm_llama2c_sniff_path(const char *path);

#endif /* KVLM_LLAMA2C_H */
