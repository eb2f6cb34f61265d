/*
 * x8.c - the interleaved "x8" weight layout of Q8_0 and Q4_0 (defined in
 * kernels.h): packing, reading one row back, the activation block sums its
 * Q4_0 kernels need, and the scalar reference of x8_dot.
 *
 * Invariants: packing moves bytes only (every scale and quant keeps its
 * value, so unpacking a row gives the file's bytes back); the reference
 * x8_dot computes each element exactly as kvlm_ref_vec_dot does on the row
 * layout - per block an exact int32 sum, then sum += (d_w * d_x) * isum in
 * block order - so the two layouts give identical bits.
 */
#include "kernels/kernels_impl.h"

bool kvlm_x8_type(kvlm_dtype t) { return t == KVLM_DTYPE_Q8_0 || t == KVLM_DTYPE_Q4_0; }

static size_t block_bytes(kvlm_dtype t) { return t == KVLM_DTYPE_Q4_0 ? KVLM_Q4_0_BYTES : KVLM_Q8_0_BYTES; }

/* bytes of quants per row per block: Q8_0 32 (8 chunks of 4), Q4_0 16 (4 chunks) */
static int quant_bytes(kvlm_dtype t) { return t == KVLM_DTYPE_Q4_0 ? 16 : 32; }

void kvlm_x8_pack(kvlm_dtype t, int64_t n, const void *w, size_t ws, int64_t groups, void *dst)
{
    const size_t bb = block_bytes(t);
    const int qb = quant_bytes(t);
    const int64_t nb = n / 32;
    const size_t gs = (size_t)nb * 8 * bb; /* bytes per group */
    for (int64_t g = 0; g < groups; g++) {
        const uint8_t *rows = (const uint8_t *)w + (size_t)g * 8 * ws;
        uint8_t *out = (uint8_t *)dst + (size_t)g * gs;
        for (int64_t b = 0; b < nb; b++, out += 8 * bb) {
            for (int r = 0; r < 8; r++) {
                const uint8_t *blk = rows + (size_t)r * ws + (size_t)b * bb;
                memcpy(out + 2 * r, blk, 2);
                for (int k = 0; k < qb / 4; k++)
                    memcpy(out + 16 + 32 * k + 4 * r, blk + 2 + 4 * k, 4);
            }
        }
    }
}

void kvlm_x8_unpack_row(kvlm_dtype t, int64_t n, const void *groups, int64_t r, void *dst)
{
    const size_t bb = block_bytes(t);
    const int qb = quant_bytes(t);
    const int64_t nb = n / 32;
    const uint8_t *g = (const uint8_t *)groups + (size_t)(r / 8) * (size_t)nb * 8 * bb;
    const int lane = (int)(r % 8);
    uint8_t *out = dst;
    for (int64_t b = 0; b < nb; b++, g += 8 * bb, out += bb) {
        memcpy(out, g + 2 * lane, 2);
        for (int k = 0; k < qb / 4; k++)
            memcpy(out + 2 + 4 * k, g + 16 + 32 * k + 4 * lane, 4);
    }
}

void kvlm_x8_block_sums(int64_t n, const void *x, int32_t *xsum)
{
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / 32; i++, b += KVLM_Q8_0_BYTES) {
        const int8_t *q = (const int8_t *)(b + 2);
        int32_t s = 0;
        for (int j = 0; j < 32; j++)
            s += q[j];
        xsum[i] = s;
    }
}

void kvlm_ref_x8_dot(kvlm_dtype wt, int64_t n, const void *groups, int64_t ngroups,
                     const void *x, size_t xs, const int32_t *xsum, int64_t m,
                     float *y, int64_t ldy)
{
    (void)xsum; /* the reference forms each product directly */
    const size_t bb = block_bytes(wt);
    const int64_t nb = n / 32;
    for (int64_t c = 0; c < m; c++) {
        const uint8_t *xr = (const uint8_t *)x + (size_t)c * xs;
        for (int64_t g = 0; g < ngroups; g++) {
            const uint8_t *gp = (const uint8_t *)groups + (size_t)g * (size_t)nb * 8 * bb;
            for (int r = 0; r < 8; r++) {
                float sum = 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    const uint8_t *gb = gp + (size_t)b * 8 * bb, *xb = xr + (size_t)b * KVLM_Q8_0_BYTES;
                    const int8_t *qx = (const int8_t *)(xb + 2);
                    int32_t isum = 0;
                    if (wt == KVLM_DTYPE_Q4_0) {
                        for (int j = 0; j < 16; j++) {
                            uint8_t q = gb[16 + 32 * (j / 4) + 4 * r + j % 4];
                            isum += ((q & 0xF) - 8) * qx[j] + ((q >> 4) - 8) * qx[j + 16];
                        }
                    } else {
                        for (int j = 0; j < 32; j++)
                            isum += (int8_t)gb[16 + 32 * (j / 4) + 4 * r + j % 4] * qx[j];
                    }
                    float d = kvlm_ld_f16(gb + 2 * r) * kvlm_ld_f16(xb);
                    sum += d * (float)isum;
                }
                y[c * ldy + 8 * g + r] = sum;
            }
        }
    }
}

void kvlm_weight_dequant_row(const kvlm_kernel_ops *ops, const kvlm_weight *w, int64_t r, float *dst)
{
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
    if (!w->x8 || r >= w->n_out / 8 * 8) {
        ops->dequantize_row(w->type, row, dst, w->n_in);
        return;
    }
    /* one block at a time through a stack buffer: rows can be long */
    const size_t bb = block_bytes(w->type);
    const int qb = quant_bytes(w->type);
    const uint8_t *g = (const uint8_t *)w->data + (size_t)(r / 8) * 8 * w->row_bytes;
    const int lane = (int)(r % 8);
    uint8_t blk[KVLM_Q8_0_BYTES];
    for (int64_t b = 0; b < w->n_in / 32; b++, g += 8 * bb) {
        memcpy(blk, g + 2 * lane, 2);
        for (int k = 0; k < qb / 4; k++)
            memcpy(blk + 2 + 4 * k, g + 16 + 32 * k + 4 * lane, 4);
        ops->dequantize_row(w->type, blk, dst + 32 * b, 32);
    }
}
