/*
 * llama2c.c - validating reader of the llama2.c checkpoint header (see
 * llama2c.h for the two layouts) and format detection.
 *
 * Every header field is untrusted. Each is range-checked on its own first
 * (so the error names it), then the relations between them, then the exact
 * size. The bounds below keep every product of fields far below 2^63, so
 * the size arithmetic is plain uint64 without overflow:
 *   dim, hidden_dim <= 2^20, n_layers <= 2^10, vocab <= 2^22,
 *   seq_len <= 2^24  =>  every term <= 3 * 2^50, the sum < 2^56.
 * The body layout (floats, in order) is the one run.c maps:
 *   token_embedding [vocab][dim]
 *   rms_att [L][dim], wq [L][H*hs][dim], wk [L][KV*hs][dim], wv [L][KV*hs][dim],
 *   wo [L][dim][H*hs], rms_ffn [L][dim], w1 [L][F][dim], w2 [L][dim][F],
 *   w3 [L][F][dim], rms_final [dim],
 *   legacy only: freq_cis_real [seq_len][hs/2], freq_cis_imag [seq_len][hs/2],
 *   wcls [vocab][dim] when the classifier is not shared.
 * Version 1 stores the same tensors in another order (norms first) and no
 * freq_cis; loader_llama2c.c places them.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/status.h"
#include "model/llama2c.h"

#define L2C_MAX_DIM (1 << 20)
#define L2C_MAX_LAYERS 1024
#define L2C_MAX_HEADS 4096
#define L2C_MAX_VOCAB (1 << 22)
#define L2C_MAX_SEQ (1 << 24)
#define L2C_LEGACY_HEADER 28u
#define L2C_V1_HEADER 256u

static int32_t rd_i32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t v;
    memcpy(&v, &u, 4);
    return v;
}

/* Fills h from the 7 raw fields and checks them and the size; on failure
 * writes a message (without the file name) into err and returns the
 * status. Pure: sets no thread-local error. */
static kvlm_status check_fields(const int32_t f[7], int version, bool shared, uint64_t data_off,
                                uint64_t file_size, kvlm_llama2c_header *h, char *err, size_t errn)
{
    static const char *const names[7] = {"dim", "hidden_dim", "n_layers", "n_heads",
                                         "n_kv_heads", "vocab_size", "seq_len"};
    static const int32_t hi[7] = {L2C_MAX_DIM, L2C_MAX_DIM, L2C_MAX_LAYERS, L2C_MAX_HEADS,
                                  L2C_MAX_HEADS, L2C_MAX_VOCAB, L2C_MAX_SEQ};
    memset(h, 0, sizeof *h);
    for (int i = 0; i < 7; i++) {
        int64_t v = f[i];
        if (i == 5 && version == 0 && v < 0) v = -v; /* legacy: negative = separate classifier */
        if (v < 1 || v > hi[i]) {
            snprintf(err, errn, "header field %s = %d (int32 at offset %llu) is out of range [1, %d]%s",
                     names[i], (int)f[i], (unsigned long long)(data_off == L2C_V1_HEADER ? 8 : 0) + 4u * (unsigned)i,
                     (int)hi[i], i == 5 && version == 0 ? " (negative: untied classifier)" : "");
            return KVLM_ERR_FORMAT;
        }
    }
    h->version = version;
    h->dim = f[0];
    h->hidden_dim = f[1];
    h->n_layers = f[2];
    h->n_heads = f[3];
    h->n_kv_heads = f[4];
    h->vocab_size = f[5] < 0 ? -f[5] : f[5];
    h->seq_len = f[6];
    h->shared_classifier = version == 0 ? f[5] > 0 : shared;
    h->data_offset = data_off;
    if (h->dim % h->n_heads != 0) {
        snprintf(err, errn, "header field dim = %d is not divisible by n_heads = %d", h->dim, h->n_heads);
        return KVLM_ERR_FORMAT;
    }
    if (h->n_kv_heads > h->n_heads || h->n_heads % h->n_kv_heads != 0) {
        snprintf(err, errn, "header field n_kv_heads = %d does not divide n_heads = %d", h->n_kv_heads,
                 h->n_heads);
        return KVLM_ERR_FORMAT;
    }
    uint64_t hs = (uint64_t)(h->dim / h->n_heads);
    if (hs % 2 != 0 || hs > 1024) {
        snprintf(err, errn, "head size dim / n_heads = %llu must be even and at most 1024",
                 (unsigned long long)hs);
        return KVLM_ERR_FORMAT;
    }
    uint64_t D = (uint64_t)h->dim, F = (uint64_t)h->hidden_dim, L = (uint64_t)h->n_layers,
             V = (uint64_t)h->vocab_size, KD = (uint64_t)h->n_kv_heads * hs;
    uint64_t n = V * D                      /* token embedding */
                 + L * D * 2                /* rms_att, rms_ffn */
                 + L * D * D * 2            /* wq, wo */
                 + L * D * KD * 2           /* wk, wv */
                 + L * D * F * 3            /* w1, w2, w3 */
                 + D;                       /* rms_final */
    if (version == 0) n += (uint64_t)h->seq_len * (hs / 2) * 2; /* freq_cis real, imag */
    if (!h->shared_classifier) n += V * D;
    h->n_floats = n;
    uint64_t want = data_off + 4 * n;
    if (want != file_size) {
        snprintf(err, errn, "size %llu bytes does not match the header (dim %d, hidden_dim %d, n_layers %d, "
                 "n_heads %d, n_kv_heads %d, vocab_size %d, seq_len %d%s), which needs exactly %llu",
                 (unsigned long long)file_size, h->dim, h->hidden_dim, h->n_layers, h->n_heads, h->n_kv_heads,
                 h->vocab_size, h->seq_len, h->shared_classifier ? "" : ", separate classifier",
                 (unsigned long long)want);
        return KVLM_ERR_FORMAT;
    }
    return KVLM_OK;
}

kvlm_status kvlm_llama2c_parse_header(const uint8_t *buf, size_t size, const char *name,
                                      kvlm_llama2c_header *out)
{
    char err[512];
    int32_t f[7];
    kvlm_status s;
    if (!name) name = "llama2.c checkpoint";
    if (size >= 8 && (uint32_t)rd_i32(buf) == KVLM_LLAMA2C_MAGIC) {
        int32_t version = rd_i32(buf + 4);
        if (version == 2)
            return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: llama2.c export version 2 (int8 Q8_0 weights) is not "
                             "supported; export with version 1 (fp32) or the legacy format", name);
        if (version != 1)
            return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: llama2.c export version %d is not supported "
                             "(supported: legacy and version 1)", name, (int)version);
        if (size < L2C_V1_HEADER)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: %zu bytes, shorter than the %u-byte version 1 header",
                             name, size, L2C_V1_HEADER);
        for (int i = 0; i < 7; i++) f[i] = rd_i32(buf + 8 + 4 * i);
        if (buf[36] > 1)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: header field shared_classifier = %u (byte at offset 36) "
                             "is not 0 or 1", name, (unsigned)buf[36]);
        s = check_fields(f, 1, buf[36] == 1, L2C_V1_HEADER, size, out, err, sizeof err);
    } else {
        if (size < L2C_LEGACY_HEADER)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: %zu bytes, shorter than the %u-byte llama2.c header",
                             name, size, L2C_LEGACY_HEADER);
        for (int i = 0; i < 7; i++) f[i] = rd_i32(buf + 4 * i);
        s = check_fields(f, 0, false, L2C_LEGACY_HEADER, size, out, err, sizeof err);
    }
    if (s != KVLM_OK) return kvlm_fail(s, "%s: llama2.c checkpoint: %s", name, err);
    return KVLM_OK;
}

bool kvlm_llama2c_sniff(const uint8_t *buf, size_t n, uint64_t file_size)
{
    if (n >= 4 && (uint32_t)rd_i32(buf) == KVLM_LLAMA2C_MAGIC) return true;
    if (n < L2C_LEGACY_HEADER || file_size < L2C_LEGACY_HEADER) return false;
    int32_t f[7];
    for (int i = 0; i < 7; i++) f[i] = rd_i32(buf + 4 * i);
    kvlm_llama2c_header h;
    char err[512];
    return check_fields(f, 0, false, L2C_LEGACY_HEADER, file_size, &h, err, sizeof err) == KVLM_OK;
}

bool kvlm_llama2c_sniff_path(const char *path)
{
    struct stat sb;
    if (!path || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
    FILE *fp = fopen(path, "rb");
    if (!fp) return false;
    uint8_t buf[64];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    return kvlm_llama2c_sniff(buf, n, (uint64_t)sb.st_size);
}
