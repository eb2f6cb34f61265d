/*
 * modelfile.h - helpers shared by the model-file readers (gguf.c,
 * safetensors.c): read-only memory mapping of a whole file, a guess at what
 * a file of the wrong format really is, and a sanitizer for untrusted names
 * printed in error messages.
 *
 * Invariants: a kvlm_mapped_file either maps exactly `size` bytes of a
 * regular file read-only, or (for an empty file) has base pointing at a
 * static empty buffer and nothing mapped; kvlm_unmap_file accepts a zeroed
 * struct. Nothing here reads past the bytes it is given.
 */
#ifndef KVLM_MODELFILE_H
#define KVLM_MODELFILE_H

#include <stddef.h>
#include <stdint.h>

#include "kvlm.h"

typedef struct kvlm_mapped_file {
    const uint8_t *base;   /* size bytes, read-only */
    size_t size;
    void *map;             /* mmap result, or NULL when size == 0 */
} kvlm_mapped_file;

/* Opens path (following symlinks), requires a regular file, maps it
 * PROT_READ. Errors (KVLM_ERR_IO) name the path. */
kvlm_status kvlm_map_file(const char *path, kvlm_mapped_file *out);
void kvlm_unmap_file(kvlm_mapped_file *m);

/* If the first bytes look like a known format other than the one expected,
 * returns a phrase such as "a zip archive (PyTorch .bin/.pt checkpoint?)";
 * otherwise NULL. Recognises GGUF, safetensors, zip, pickle, legacy
 * GGML/GGJT, Git LFS pointers and HTML pages. */
const char *kvlm_sniff_format(const uint8_t *buf, size_t size);

/* Copies at most n-1 bytes of s[0..len) into dst, NUL-terminated, with
 * non-printable bytes replaced by '?' and "..." appended when cut. Returns
 * dst, for use in printf arguments. */
char *kvlm_printable(char *dst, size_t n, const char *s, size_t len);

#endif /* KVLM_MODELFILE_H */
