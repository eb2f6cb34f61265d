/*
 * xb16.c - the xb16 weight layout of the opt-in BF16 matmul (defined in
 * kernels.h): packing F16/BF16 rows, reading a row back, rounding an
 * activation row to BF16, and the scalar reference of xb16_dot.
 *
 * Invariants: every value in the layout and in an activation row is a
 * normal BF16 number, a signed zero, an infinity or a NaN - never a
 * subnormal - so the "denormals are zero" half of vdpbf16ps's rule never
 * applies and the reference only has to flush results; the reference
 * computes each element as vdpbf16ps does (odd element first, one rounding
 * per product added, results flushed to zero when subnormal), which the
 * AVX-512 BF16 kernel must match bit for bit (test_kernels).
 */
#include <math.h>
#include <pthread.h>

#include "kernels/kernels_impl.h"

size_t kvlm_xb16_bytes(int64_t n, int64_t n_out)
{
    return (size_t)((n_out + 15) / 16) * 16 * (size_t)n * 2;
}

/* kvlm_bf16_ftz on the bits of a float: subnormals (and zeros) to signed
 * zero, the rest rounded as kvlm_f32_to_bf16 */
static inline uint16_t ftz_bits(uint32_t u)
{
    if ((u & 0x7FFFFFFF) < 0x00800000)
        return (uint16_t)((u >> 16) & 0x8000);
    return kvlm_bf16_round_bits(u);
}

uint16_t kvlm_bf16_ftz(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return ftz_bits(u);
}

/* F16 -> its xb16 value, for all 65536 halves (built once: packing an F16
 * model converts each of its values, and the table is one load each) */
static uint16_t f16_xb16[65536];
static pthread_once_t f16_once = PTHREAD_ONCE_INIT;

static void f16_table(void)
{
    for (uint32_t h = 0; h < 65536; h++)
        f16_xb16[h] = kvlm_bf16_ftz(kvlm_f16_to_f32((uint16_t)h));
}

/* one half of t (F16 or BF16) as its xb16 value */
static inline uint16_t xb16_value(kvlm_dtype t, const uint8_t *p)
{
    uint16_t h = kvlm_ld_u16(p);
    return t == KVLM_DTYPE_F16 ? f16_xb16[h] : ftz_bits((uint32_t)h << 16);
}

void kvlm_xb16_pack(kvlm_dtype t, int64_t n, const void *w, size_t ws, int64_t nrows, void *dst)
{
    if (t == KVLM_DTYPE_F16)
        pthread_once(&f16_once, f16_table);
    const uint8_t *src = w;
    uint8_t *d = dst;
    int64_t groups = (nrows + 15) / 16;
    for (int64_t g = 0; g < groups; g++, d += (size_t)n * 32) {
        int rows = nrows - 16 * g < 16 ? (int)(nrows - 16 * g) : 16;
        /* a 64-byte line at a time: pair p of the 16 rows, padding rows 0 */
        for (int64_t p = 0; p < n / 2; p++) {
            uint32_t line[16] = {0};
            for (int r = 0; r < rows; r++) {
                const uint8_t *s = src + (size_t)(16 * g + r) * ws + 4 * p;
                line[r] = (uint32_t)xb16_value(t, s) | (uint32_t)xb16_value(t, s + 2) << 16;
            }
            memcpy(d + 64 * p, line, sizeof line);
        }
    }
}

void kvlm_xb16_row(int64_t n, const void *groups, int64_t r, float *dst)
{
    const uint8_t *g = (const uint8_t *)groups + (size_t)(r / 16) * (size_t)n * 32 + 4 * (r % 16);
    for (int64_t k = 0; k < n; k++)
        dst[k] = kvlm_bf16_to_f32(kvlm_ld_u16(g + (size_t)(k / 2) * 64 + 2 * (k % 2)));
}

void kvlm_xb16_x(int64_t n, const float *x, uint16_t *dst)
{
    for (int64_t k = 0; k < n; k++) {
        uint32_t u;
        memcpy(&u, x + k, 4);
        dst[k] = ftz_bits(u);
    }
}

/* vdpbf16ps's flush of a subnormal result */
static float ftz(float v) { return fabsf(v) < 0x1p-126f ? copysignf(0.0f, v) : v; }

void kvlm_ref_xb16_dot(int64_t n, const void *groups, int64_t ngroups, const void *x, size_t xs,
                       int64_t m, float *y, int64_t ldy, int64_t ncols)
{
    for (int64_t c = 0; c < m; c++) {
        const uint8_t *xr = (const uint8_t *)x + (size_t)c * xs;
        for (int64_t g = 0; g < ngroups; g++)
            for (int r = 0; r < 16 && 16 * g + r < ncols; r++) {
                const uint8_t *wr = (const uint8_t *)groups + (size_t)g * (size_t)n * 32 + 4 * r;
                float acc = 0.0f;
                for (int64_t p = 0; p < n / 2; p++) {
                    float w0 = kvlm_bf16_to_f32(kvlm_ld_u16(wr + 64 * p));
                    float w1 = kvlm_bf16_to_f32(kvlm_ld_u16(wr + 64 * p + 2));
                    float x0 = kvlm_bf16_to_f32(kvlm_ld_u16(xr + 4 * p));
                    float x1 = kvlm_bf16_to_f32(kvlm_ld_u16(xr + 4 * p + 2));
                    acc = ftz(fmaf(w1, x1, acc));
                    acc = ftz(fmaf(w0, x0, acc));
                }
                y[c * ldy + 16 * g + r] = acc;
            }
    }
}
