/*
 * quant_ref.c - scalar reference (the oracle) for dequantization, activation
 * quantization, dot products and vec_mad over every supported dtype.
 *
 * Plain C, no processor-specific code. Every SIMD variant is tested against
 * these functions. Reduction order of vec_dot: elements (float types) or
 * blocks (quantized types) strictly left to right - F32 as sum += w * x,
 * F16/BF16 as one fmaf chain (the bits every ISA's matmul gives for those
 * weights, kernels.h); inside a quantized block
 * the products are summed exactly in int32, then the block contributes
 * (d_w * d_x) * isum (minus (dmin_w * d_x) * imin for Q4_K/Q5_K) in float.
 * Block layouts and quantization rules: kernels_impl.h.
 */
#include <math.h>

#include "kernels/kernels_impl.h"

/* ---- dequantize ---------------------------------------------------------- */

static void deq_q8_0(const uint8_t *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += KVLM_Q8_0_BYTES, y += 32) {
        float d = kvlm_ld_f16(b);
        const int8_t *q = (const int8_t *)(b + 2);
        for (int j = 0; j < 32; j++)
            y[j] = d * (float)q[j];
    }
}

static void deq_q4_0(const uint8_t *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += KVLM_Q4_0_BYTES, y += 32) {
        float d = kvlm_ld_f16(b);
        const uint8_t *q = b + 2;
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)((q[j] & 0xF) - 8);
            y[j + 16] = d * (float)((q[j] >> 4) - 8);
        }
    }
}

static inline int q5_0_value(const uint8_t *b, int j) /* element j of a Q5_0 block, in [-16, 15] */
{
    uint32_t qh;
    memcpy(&qh, b + 2, 4);
    const uint8_t *q = b + 6;
    int nib = j < 16 ? (q[j] & 0xF) : (q[j - 16] >> 4);
    return (nib | (int)((qh >> j) & 1u) << 4) - 16;
}

static void deq_q5_0(const uint8_t *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += KVLM_Q5_0_BYTES, y += 32) {
        float d = kvlm_ld_f16(b);
        for (int j = 0; j < 32; j++)
            y[j] = d * (float)q5_0_value(b, j);
    }
}

static void deq_q4_k(const uint8_t *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += KVLM_Q4_K_BYTES) {
        float d = kvlm_ld_f16(b), dmin = kvlm_ld_f16(b + 2);
        const uint8_t *sc = b + 4, *q = b + 16;
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t s0, m0, s1, m1;
            kvlm_k_scale_min(j, sc, &s0, &m0);
            kvlm_k_scale_min(j + 1, sc, &s1, &m1);
            float d0 = d * s0, mm0 = dmin * m0, d1 = d * s1, mm1 = dmin * m1;
            for (int l = 0; l < 32; l++) {
                float t = d0 * (float)(q[l] & 0xF);
                *y++ = t - mm0;
            }
            for (int l = 0; l < 32; l++) {
                float t = d1 * (float)(q[l] >> 4);
                *y++ = t - mm1;
            }
        }
    }
}

static void deq_q5_k(const uint8_t *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += KVLM_Q5_K_BYTES) {
        float d = kvlm_ld_f16(b), dmin = kvlm_ld_f16(b + 2);
        const uint8_t *sc = b + 4, *qh = b + 16, *q = b + 48;
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t s0, m0, s1, m1;
            kvlm_k_scale_min(j, sc, &s0, &m0);
            kvlm_k_scale_min(j + 1, sc, &s1, &m1);
            float d0 = d * s0, mm0 = dmin * m0, d1 = d * s1, mm1 = dmin * m1;
            for (int l = 0; l < 32; l++) {
                int v = (q[l] & 0xF) | (((qh[l] >> j) & 1) << 4);
                float t = d0 * (float)v;
                *y++ = t - mm0;
            }
            for (int l = 0; l < 32; l++) {
                int v = (q[l] >> 4) | (((qh[l] >> (j + 1)) & 1) << 4);
                float t = d1 * (float)v;
                *y++ = t - mm1;
            }
        }
    }
}

/* Q6_K element e (0..255) of a block: its 6-bit value minus 32, and its
 * scale group (16 elements each). Layout: halves of 128; in a half h,
 * element 32*k + l (k 0..3, l 0..31) has low nibble from ql[64h + l + 32*(k&1)]
 * (k<2: low nibble, k>=2: high nibble) and two high bits from qh[32h + l]
 * bits 2k..2k+1. */
static inline int q6_k_value(const uint8_t *ql, const uint8_t *qh, int e)
{
    int h = e / 128, k = (e % 128) / 32, l = e % 32;
    int lo = ql[64 * h + l + 32 * (k & 1)];
    lo = (k < 2) ? (lo & 0xF) : (lo >> 4);
    int hi = (qh[32 * h + l] >> (2 * k)) & 3;
    return (lo | (hi << 4)) - 32;
}

static void deq_q6_k(const uint8_t *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += KVLM_Q6_K_BYTES, y += 256) {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        float d = kvlm_ld_f16(b + 208);
        for (int e = 0; e < 256; e++) {
            float ds = d * (float)sc[e / 16];
            y[e] = ds * (float)q6_k_value(ql, qh, e);
        }
    }
}

static void deq_q8_k(const uint8_t *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += KVLM_Q8_K_BYTES, y += 256) {
        float d = kvlm_ld_f32(b);
        const int8_t *q = (const int8_t *)(b + 4);
        for (int j = 0; j < 256; j++)
            y[j] = d * (float)q[j];
    }
}

void kvlm_ref_dequantize_row(kvlm_dtype t, const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    switch (t) {
    case KVLM_DTYPE_F32:
        memcpy(dst, src, (size_t)n * 4);
        break;
    case KVLM_DTYPE_F16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = kvlm_ld_f16(b + 2 * i);
        break;
    case KVLM_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = kvlm_bf16_to_f32(kvlm_ld_u16(b + 2 * i));
        break;
    case KVLM_DTYPE_Q8_0: deq_q8_0(b, dst, n / 32); break;
    case KVLM_DTYPE_Q4_0: deq_q4_0(b, dst, n / 32); break;
    case KVLM_DTYPE_Q5_0: deq_q5_0(b, dst, n / 32); break;
    case KVLM_DTYPE_Q4_K: deq_q4_k(b, dst, n / 256); break;
    case KVLM_DTYPE_Q5_K: deq_q5_k(b, dst, n / 256); break;
    case KVLM_DTYPE_Q6_K: deq_q6_k(b, dst, n / 256); break;
    case KVLM_DTYPE_Q8_K: deq_q8_k(b, dst, n / 256); break;
    }
}

/* ---- quantize (activations and K/V rows) ---------------------------------- */

static inline int8_t q8_round(float x, float id)
{
    float v = x * id;
    v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
    return (int8_t)nearbyintf(v);
}

void kvlm_ref_quantize_row(kvlm_dtype t, const float *x, void *dst, int64_t n)
{
    uint8_t *b = dst;
    switch (t) {
    case KVLM_DTYPE_F32:
        memcpy(dst, x, (size_t)n * 4);
        break;
    case KVLM_DTYPE_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = kvlm_f32_to_f16(x[i]);
            memcpy(b + 2 * i, &h, 2);
        }
        break;
    case KVLM_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = kvlm_f32_to_bf16(x[i]);
            memcpy(b + 2 * i, &h, 2);
        }
        break;
    case KVLM_DTYPE_Q8_0:
        for (int64_t i = 0; i < n / 32; i++, x += 32, b += KVLM_Q8_0_BYTES) {
            float amax = 0.0f;
            for (int j = 0; j < 32; j++)
                amax = fmaxf(amax, fabsf(x[j]));
            uint16_t d16;
            float d = kvlm_q8_0_scale(amax, &d16);
            float id = d != 0.0f ? 1.0f / d : 0.0f;
            memcpy(b, &d16, 2);
            for (int j = 0; j < 32; j++)
                b[2 + j] = (uint8_t)q8_round(x[j], id);
        }
        break;
    case KVLM_DTYPE_Q8_K:
        for (int64_t i = 0; i < n / 256; i++, x += 256, b += KVLM_Q8_K_BYTES) {
            float amax = 0.0f;
            for (int j = 0; j < 256; j++)
                amax = fmaxf(amax, fabsf(x[j]));
            float d = amax / 127.0f;
            float id = d != 0.0f ? 1.0f / d : 0.0f;
            memcpy(b, &d, 4);
            int8_t *q = (int8_t *)(b + 4);
            for (int g = 0; g < 16; g++) {
                int16_t s = 0;
                for (int j = 0; j < 16; j++) {
                    q[16 * g + j] = q8_round(x[16 * g + j], id);
                    s = (int16_t)(s + q[16 * g + j]);
                }
                memcpy(b + 260 + 2 * g, &s, 2);
            }
        }
        break;
    default:
        break; /* not an activation / KV type: nothing written */
    }
}

/* ---- vec_dot -------------------------------------------------------------- */

static float dot_q8_0(int64_t nb, const uint8_t *w, const uint8_t *x)
{
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, w += KVLM_Q8_0_BYTES, x += KVLM_Q8_0_BYTES) {
        const int8_t *qw = (const int8_t *)(w + 2), *qx = (const int8_t *)(x + 2);
        int32_t isum = 0;
        for (int j = 0; j < 32; j++)
            isum += qw[j] * qx[j];
        float d = kvlm_ld_f16(w) * kvlm_ld_f16(x);
        sum += d * (float)isum;
    }
    return sum;
}

static float dot_q4_0(int64_t nb, const uint8_t *w, const uint8_t *x)
{
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, w += KVLM_Q4_0_BYTES, x += KVLM_Q8_0_BYTES) {
        const uint8_t *qw = w + 2;
        const int8_t *qx = (const int8_t *)(x + 2);
        int32_t isum = 0;
        for (int j = 0; j < 16; j++)
            isum += ((qw[j] & 0xF) - 8) * qx[j] + ((qw[j] >> 4) - 8) * qx[j + 16];
        float d = kvlm_ld_f16(w) * kvlm_ld_f16(x);
        sum += d * (float)isum;
    }
    return sum;
}

static float dot_q5_0(int64_t nb, const uint8_t *w, const uint8_t *x)
{
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, w += KVLM_Q5_0_BYTES, x += KVLM_Q8_0_BYTES) {
        const int8_t *qx = (const int8_t *)(x + 2);
        int32_t isum = 0;
        for (int j = 0; j < 32; j++)
            isum += q5_0_value(w, j) * qx[j];
        float d = kvlm_ld_f16(w) * kvlm_ld_f16(x);
        sum += d * (float)isum;
    }
    return sum;
}

static inline int16_t q8k_bsum(const uint8_t *x, int g)
{
    int16_t s;
    memcpy(&s, x + 260 + 2 * g, 2);
    return s;
}

/* Q4_K and Q5_K share the per-block combination. */
static float dot_q45_k(bool five, int64_t nb, const uint8_t *w, const uint8_t *x)
{
    float sum = 0.0f;
    size_t wbytes = five ? KVLM_Q5_K_BYTES : KVLM_Q4_K_BYTES;
    for (int64_t i = 0; i < nb; i++, w += wbytes, x += KVLM_Q8_K_BYTES) {
        const uint8_t *sc = w + 4, *qh = w + 16, *q = w + (five ? 48 : 16);
        const int8_t *qx = (const int8_t *)(x + 4);
        int32_t isum = 0, imin = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t s, m;
            kvlm_k_scale_min(j, sc, &s, &m);
            const uint8_t *qq = q + 32 * (j / 2);
            int32_t dot = 0;
            for (int l = 0; l < 32; l++) {
                int v = (j & 1) ? (qq[l] >> 4) : (qq[l] & 0xF);
                if (five)
                    v |= ((qh[l] >> j) & 1) << 4;
                dot += v * qx[32 * j + l];
            }
            isum += s * dot;
            imin += m * (q8k_bsum(x, 2 * j) + q8k_bsum(x, 2 * j + 1));
        }
        float dx = kvlm_ld_f32(x);
        float d = kvlm_ld_f16(w) * dx, dmin = kvlm_ld_f16(w + 2) * dx;
        float a = d * (float)isum, c = dmin * (float)imin;
        sum += a - c;
    }
    return sum;
}

static float dot_q6_k(int64_t nb, const uint8_t *w, const uint8_t *x)
{
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++, w += KVLM_Q6_K_BYTES, x += KVLM_Q8_K_BYTES) {
        const int8_t *sc = (const int8_t *)(w + 192), *qx = (const int8_t *)(x + 4);
        int32_t isum = 0;
        for (int g = 0; g < 16; g++) {
            int32_t dot = 0;
            for (int l = 0; l < 16; l++)
                dot += q6_k_value(w, w + 128, 16 * g + l) * qx[16 * g + l];
            isum += sc[g] * dot;
        }
        float d = kvlm_ld_f16(w + 208) * kvlm_ld_f32(x);
        sum += d * (float)isum;
    }
    return sum;
}

float kvlm_ref_vec_dot(kvlm_dtype wt, int64_t n, const void *w, const void *x)
{
    const uint8_t *bw = w;
    const float *xf = x;
    float sum = 0.0f;
    switch (wt) {
    case KVLM_DTYPE_F32:
        for (int64_t i = 0; i < n; i++)
            sum += kvlm_ld_f32(bw + 4 * i) * xf[i];
        return sum;
    case KVLM_DTYPE_F16: /* one fmaf chain: what the x8 kernels compute per lane */
        for (int64_t i = 0; i < n; i++)
            sum = fmaf(kvlm_ld_f16(bw + 2 * i), xf[i], sum);
        return sum;
    case KVLM_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            sum = fmaf(kvlm_bf16_to_f32(kvlm_ld_u16(bw + 2 * i)), xf[i], sum);
        return sum;
    case KVLM_DTYPE_Q8_0: return dot_q8_0(n / 32, bw, x);
    case KVLM_DTYPE_Q4_0: return dot_q4_0(n / 32, bw, x);
    case KVLM_DTYPE_Q5_0: return dot_q5_0(n / 32, bw, x);
    case KVLM_DTYPE_Q4_K: return dot_q45_k(false, n / 256, bw, x);
    case KVLM_DTYPE_Q5_K: return dot_q45_k(true, n / 256, bw, x);
    case KVLM_DTYPE_Q6_K: return dot_q6_k(n / 256, bw, x);
    default: return 0.0f;
    }
}

/* ---- vec_mad -------------------------------------------------------------- */

void kvlm_ref_vec_mad(kvlm_dtype t, int64_t n, const void *v, float a, float *y)
{
    const uint8_t *b = v;
    switch (t) {
    case KVLM_DTYPE_F32:
        for (int64_t i = 0; i < n; i++)
            y[i] += a * kvlm_ld_f32(b + 4 * i);
        break;
    case KVLM_DTYPE_F16:
        for (int64_t i = 0; i < n; i++)
            y[i] += a * kvlm_ld_f16(b + 2 * i);
        break;
    case KVLM_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            y[i] += a * kvlm_bf16_to_f32(kvlm_ld_u16(b + 2 * i));
        break;
    case KVLM_DTYPE_Q8_0:
        for (int64_t i = 0; i < n / 32; i++, b += KVLM_Q8_0_BYTES, y += 32) {
            float ad = a * kvlm_ld_f16(b);
            const int8_t *q = (const int8_t *)(b + 2);
            for (int j = 0; j < 32; j++)
                y[j] += ad * (float)q[j];
        }
        break;
    default:
        break;
    }
}
