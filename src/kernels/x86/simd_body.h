/*
 * simd_body.h - the x86 kernel bodies shared by kernels_avx2.c and
 * kernels_avx512.c. Included (once) by each of those files, which compile it
 * with their own ISA flags and first define the int8 dot primitives:
 *
 *   __m256i dot4(__m256i u8, __m256i s8)
 *       int32 lane i = sum of the 4 products u8[4i..4i+3] * s8[4i..4i+3]
 *       (u8 <= 128, |s8| <= 127, so AVX2's maddubs cannot saturate)
 *   __m256i dot4_sc(__m256i u8, __m256i s8, int scA, int scB)
 *       the same, lanes 0..3 (bytes 0..15) times scA, lanes 4..7 times scB
 *   #define KVLM_SIMD_ISA / KVLM_SIMD_NAME (table fields)
 *
 * Everything here is static. Reduction orders (fixed for the ISA):
 *   F32/F16/BF16: per row two 8-lane FMA accumulators over chunks of 16
 *     (even/odd 8-element halves), one more 8-chunk into accumulator 0,
 *     then hsum8(acc0 + acc1) in a fixed tree, then the tail left to right
 *     with scalar FMA.
 *   Q8_0/Q4_0: exact int32 lanes per block, then per-lane FMA of
 *     (d_w*d_x) into accumulator (block index & 1); hsum8(acc0 + acc1).
 *   K-quants: exact int32 per super-block (identical to the reference's
 *     isum/imin), combined in float exactly as the reference does.
 * The *_rows(R, ...) helpers compute R rows with one shared load of x; the
 * per-row instruction sequence does not depend on R, which is what makes
 * vec_dot4 bit-identical to vec_dot.
 */
#ifndef KVLM_SIMD_BODY_H
#define KVLM_SIMD_BODY_H

#include <immintrin.h>
#include <math.h>

#include "kernels/kernels_impl.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* the per-row loops must be fully unrolled so accumulators live in registers */
#define UNROLL _Pragma("GCC unroll 8")

ALWAYS_INLINE float f16s(const uint8_t *p) { return _cvtsh_ss(kvlm_ld_u16(p)); }

ALWAYS_INLINE float hsum8(__m256 v)
{
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}

ALWAYS_INLINE int32_t hsum8i(__m256i v)
{
    __m128i a = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    a = _mm_add_epi32(a, _mm_shuffle_epi32(a, _MM_SHUFFLE(1, 0, 3, 2)));
    a = _mm_add_epi32(a, _mm_shuffle_epi32(a, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(a);
}

/* 8 weights of a float type at element i of row w, as f32 */
ALWAYS_INLINE __m256 load8(kvlm_dtype t, const uint8_t *w, int64_t i)
{
    if (t == KVLM_DTYPE_F32)
        return _mm256_loadu_ps((const float *)(const void *)(w + 4 * i));
    __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(w + 2 * i));
    if (t == KVLM_DTYPE_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

ALWAYS_INLINE float load1(kvlm_dtype t, const uint8_t *w, int64_t i)
{
    if (t == KVLM_DTYPE_F32)
        return kvlm_ld_f32(w + 4 * i);
    if (t == KVLM_DTYPE_F16)
        return f16s(w + 2 * i);
    return kvlm_bf16_to_f32(kvlm_ld_u16(w + 2 * i));
}

/* ---- float weights (F32/F16/BF16) x F32 activations ----------------------- */

ALWAYS_INLINE void dotf_rows(const int R, kvlm_dtype t, int64_t n, const uint8_t *w, size_t ws,
                             const float *x, float *out)
{
    __m256 a0[4], a1[4];
    UNROLL
    for (int r = 0; r < R; r++)
        a0[r] = a1[r] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
        UNROLL
        for (int r = 0; r < R; r++) {
            a0[r] = _mm256_fmadd_ps(load8(t, w + r * ws, i), x0, a0[r]);
            a1[r] = _mm256_fmadd_ps(load8(t, w + r * ws, i + 8), x1, a1[r]);
        }
    }
    if (i + 8 <= n) {
        __m256 x0 = _mm256_loadu_ps(x + i);
        UNROLL
        for (int r = 0; r < R; r++)
            a0[r] = _mm256_fmadd_ps(load8(t, w + r * ws, i), x0, a0[r]);
        i += 8;
    }
    UNROLL
    for (int r = 0; r < R; r++) {
        float s = hsum8(_mm256_add_ps(a0[r], a1[r]));
        for (int64_t j = i; j < n; j++)
            s = fmaf(load1(t, w + r * ws, j), x[j], s);
        out[r] = s;
    }
}

/* ---- Q8_0 / Q4_0 weights x Q8_0 activations -------------------------------- */

ALWAYS_INLINE __m256i q4_0_unpack(const uint8_t *q) /* 16 bytes -> 32 values in [-8, 7] */
{
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)q);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    v = _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
    return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
}

ALWAYS_INLINE __m256i q32_dot(__m256i wq, __m256i xq) /* signed x signed, sign trick */
{
    return dot4(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq));
}

ALWAYS_INLINE void dotq_rows(const int R, bool q4, int64_t nb, const uint8_t *w, size_t ws,
                             const uint8_t *x, float *out)
{
    const size_t wbytes = q4 ? KVLM_Q4_0_BYTES : KVLM_Q8_0_BYTES;
    __m256 acc[4][2];
    UNROLL
    for (int r = 0; r < R; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = x + i * KVLM_Q8_0_BYTES;
        __m256i xq = _mm256_loadu_si256((const __m256i *)(const void *)(xb + 2));
        float dx = f16s(xb);
        int k = (int)(i & 1);
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *wb = w + r * ws + i * wbytes;
            __m256i wq = q4 ? q4_0_unpack(wb + 2)
                            : _mm256_loadu_si256((const __m256i *)(const void *)(wb + 2));
            __m256 p = _mm256_cvtepi32_ps(q32_dot(wq, xq));
            acc[r][k] = _mm256_fmadd_ps(_mm256_set1_ps(f16s(wb) * dx), p, acc[r][k]);
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        out[r] = hsum8(_mm256_add_ps(acc[r][0], acc[r][1]));
}

/* ---- K-quant weights x Q8_K activations ------------------------------------ */

ALWAYS_INLINE int16_t bsum(const uint8_t *xb, int g)
{
    int16_t s;
    memcpy(&s, xb + 260 + 2 * g, 2);
    return s;
}

ALWAYS_INLINE __m256i ld256(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }

ALWAYS_INLINE void dotk45_rows(const int R, bool five, int64_t nb, const uint8_t *w, size_t ws,
                               const uint8_t *x, float *out)
{
    const size_t wbytes = five ? KVLM_Q5_K_BYTES : KVLM_Q4_K_BYTES;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    float sum[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = x + i * KVLM_Q8_K_BYTES, *xq = xb + 4;
        uint8_t s[4][8], m[4][8];
        __m256i isv[4], qh[4];
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *wb = w + r * ws + i * wbytes;
            UNROLL
            for (int j = 0; j < 8; j++)
                kvlm_k_scale_min(j, wb + 4, &s[r][j], &m[r][j]);
            isv[r] = _mm256_setzero_si256();
            if (five)
                qh[r] = ld256(wb + 16);
        }
        UNROLL
        for (int jj = 0; jj < 4; jj++) {
            __m256i x0 = ld256(xq + 64 * jj), x1 = ld256(xq + 64 * jj + 32);
            UNROLL
            for (int r = 0; r < R; r++) {
                const uint8_t *q = w + r * ws + i * wbytes + (five ? 48 : 16) + 32 * jj;
                __m256i qv = ld256(q);
                __m256i lo = _mm256_and_si256(qv, m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
                if (five) {
                    __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(qh[r], 2 * jj), one);
                    __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(qh[r], 2 * jj + 1), one);
                    lo = _mm256_or_si256(lo, _mm256_slli_epi16(h0, 4));
                    hi = _mm256_or_si256(hi, _mm256_slli_epi16(h1, 4));
                }
                int s0 = s[r][2 * jj], s1 = s[r][2 * jj + 1];
                isv[r] = _mm256_add_epi32(isv[r], dot4_sc(lo, x0, s0, s0));
                isv[r] = _mm256_add_epi32(isv[r], dot4_sc(hi, x1, s1, s1));
            }
        }
        float dx = kvlm_ld_f32(xb);
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *wb = w + r * ws + i * wbytes;
            int32_t isum = hsum8i(isv[r]), imin = 0;
            UNROLL
            for (int j = 0; j < 8; j++)
                imin += m[r][j] * (bsum(xb, 2 * j) + bsum(xb, 2 * j + 1));
            float d = f16s(wb) * dx, dmin = f16s(wb + 2) * dx;
            float a = d * (float)isum, c = dmin * (float)imin;
            sum[r] += a - c;
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        out[r] = sum[r];
}

ALWAYS_INLINE void dotk6_rows(const int R, int64_t nb, const uint8_t *w, size_t ws,
                              const uint8_t *x, float *out)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    float sum[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = x + i * KVLM_Q8_K_BYTES, *xq = xb + 4;
        __m256i isv[4];
        UNROLL
        for (int r = 0; r < R; r++)
            isv[r] = _mm256_setzero_si256();
        UNROLL
        for (int h = 0; h < 2; h++) {
            __m256i xv[4];
            UNROLL
            for (int k = 0; k < 4; k++)
                xv[k] = ld256(xq + 128 * h + 32 * k);
            UNROLL
            for (int r = 0; r < R; r++) {
                const uint8_t *wb = w + r * ws + i * KVLM_Q6_K_BYTES;
                const int8_t *sc = (const int8_t *)(wb + 192) + 8 * h;
                __m256i l0 = ld256(wb + 64 * h), l1 = ld256(wb + 64 * h + 32), hb = ld256(wb + 128 + 32 * h);
                UNROLL
                for (int k = 0; k < 4; k++) {
                    __m256i lo = (k & 1) ? l1 : l0;
                    lo = (k < 2) ? _mm256_and_si256(lo, m4) : _mm256_and_si256(_mm256_srli_epi16(lo, 4), m4);
                    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), m3);
                    __m256i q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)); /* 0..63 */
                    isv[r] = _mm256_add_epi32(isv[r], dot4_sc(q, xv[k], sc[2 * k], sc[2 * k + 1]));
                }
            }
        }
        float dx = kvlm_ld_f32(xb);
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *wb = w + r * ws + i * KVLM_Q6_K_BYTES;
            const int8_t *sc = (const int8_t *)(wb + 192);
            int32_t corr = 0;
            for (int g = 0; g < 16; g++)
                corr += sc[g] * bsum(xb, g);
            int32_t isum = hsum8i(isv[r]) - 32 * corr;
            float d = f16s(wb + 208) * dx;
            sum[r] += d * (float)isum;
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        out[r] = sum[r];
}

ALWAYS_INLINE void dot_rows(const int R, kvlm_dtype wt, int64_t n, const void *w, size_t ws,
                            const void *x, float *out)
{
    switch (wt) {
    case KVLM_DTYPE_F32:
    case KVLM_DTYPE_F16:
    case KVLM_DTYPE_BF16:
        dotf_rows(R, wt, n, w, ws, x, out);
        return;
    case KVLM_DTYPE_Q8_0: dotq_rows(R, false, n / 32, w, ws, x, out); return;
    case KVLM_DTYPE_Q4_0: dotq_rows(R, true, n / 32, w, ws, x, out); return;
    case KVLM_DTYPE_Q4_K: dotk45_rows(R, false, n / 256, w, ws, x, out); return;
    case KVLM_DTYPE_Q5_K: dotk45_rows(R, true, n / 256, w, ws, x, out); return;
    case KVLM_DTYPE_Q6_K: dotk6_rows(R, n / 256, w, ws, x, out); return;
    default:
        UNROLL
        for (int r = 0; r < R; r++)
            out[r] = 0.0f;
    }
}

static float simd_vec_dot(kvlm_dtype wt, int64_t n, const void *w, const void *x)
{
    float out[1];
    dot_rows(1, wt, n, w, 0, x, out);
    return out[0];
}

static void simd_vec_dot4(kvlm_dtype wt, int64_t n, const void *w, size_t ws, const void *x, float out[4])
{
    dot_rows(4, wt, n, w, ws, x, out);
}

/* ---- quantize_row (bit-identical to the reference) -------------------------- */

/* 8 floats -> 8 int8 (low 64 bits) after clamp to +-127 and rint */
ALWAYS_INLINE __m256i q8_lanes(__m256 v, __m256 id)
{
    v = _mm256_mul_ps(v, id);
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvtps_epi32(v);
}

/* 32 floats -> 32 int8 stored at dst */
ALWAYS_INLINE void q8_store32(const float *x, float id, uint8_t *dst)
{
    __m256 vid = _mm256_set1_ps(id);
    __m256i a = q8_lanes(_mm256_loadu_ps(x), vid), b = q8_lanes(_mm256_loadu_ps(x + 8), vid);
    __m256i c = q8_lanes(_mm256_loadu_ps(x + 16), vid), d = q8_lanes(_mm256_loadu_ps(x + 24), vid);
    __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    __m256i p = _mm256_packs_epi16(ab, cd);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(void *)dst, p);
}

ALWAYS_INLINE float amax32(const float *x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
    for (int j = 8; j < 32; j += 8)
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}

static void simd_quantize_row(kvlm_dtype t, const float *x, void *dst, int64_t n)
{
    uint8_t *b = dst;
    int64_t i = 0;
    switch (t) {
    case KVLM_DTYPE_F16:
        for (; i + 8 <= n; i += 8)
            _mm_storeu_si128((__m128i *)(void *)(b + 2 * i),
                             _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        kvlm_ref_quantize_row(t, x + i, b + 2 * i, n - i);
        return;
    case KVLM_DTYPE_BF16: {
        const __m256i absm = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
        const __m256i bias = _mm256_set1_epi32(0x7FFF), one = _mm256_set1_epi32(1);
        for (; i + 16 <= n; i += 16) {
            __m256i r[2];
            UNROLL
            for (int k = 0; k < 2; k++) {
                __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i + 8 * k));
                __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absm), inf);
                __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
                __m256i rnd = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(bias, lsb)), 16);
                __m256i qn = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
                r[k] = _mm256_blendv_epi8(rnd, qn, nan);
            }
            __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(r[0], r[1]), _MM_SHUFFLE(3, 1, 2, 0));
            _mm256_storeu_si256((__m256i *)(void *)(b + 2 * i), p);
        }
        kvlm_ref_quantize_row(t, x + i, b + 2 * i, n - i);
        return;
    }
    case KVLM_DTYPE_Q8_0:
        for (; i < n / 32; i++, x += 32, b += KVLM_Q8_0_BYTES) {
            uint16_t d16;
            float d = kvlm_q8_0_scale(amax32(x), &d16);
            float id = d != 0.0f ? 1.0f / d : 0.0f;
            memcpy(b, &d16, 2);
            q8_store32(x, id, b + 2);
        }
        return;
    case KVLM_DTYPE_Q8_K:
        for (; i < n / 256; i++, x += 256, b += KVLM_Q8_K_BYTES) {
            float amax = 0.0f;
            for (int j = 0; j < 256; j += 32)
                amax = fmaxf(amax, amax32(x + j));
            float d = amax / 127.0f;
            float id = d != 0.0f ? 1.0f / d : 0.0f;
            memcpy(b, &d, 4);
            for (int j = 0; j < 256; j += 32)
                q8_store32(x + j, id, b + 4 + j);
            const int8_t *q = (const int8_t *)(b + 4);
            for (int g = 0; g < 16; g++) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(q + 16 * g));
                __m128i s16 = _mm_maddubs_epi16(_mm_set1_epi8(1), v);           /* 8 x int16 */
                __m128i s32 = _mm_madd_epi16(s16, _mm_set1_epi16(1));          /* 4 x int32 */
                s32 = _mm_add_epi32(s32, _mm_shuffle_epi32(s32, _MM_SHUFFLE(1, 0, 3, 2)));
                s32 = _mm_add_epi32(s32, _mm_shuffle_epi32(s32, _MM_SHUFFLE(2, 3, 0, 1)));
                int16_t s = (int16_t)_mm_cvtsi128_si32(s32);
                memcpy(b + 260 + 2 * g, &s, 2);
            }
        }
        return;
    default:
        kvlm_ref_quantize_row(t, x, dst, n);
        return;
    }
}

/* ---- dequantize_row (bit-identical to the reference / gguf) ---------------- */

static void simd_dequantize_row(kvlm_dtype t, const void *src, float *y, int64_t n)
{
    const uint8_t *b = src;
    int64_t i = 0;
    switch (t) {
    case KVLM_DTYPE_F16:
    case KVLM_DTYPE_BF16:
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, load8(t, b, i));
        for (; i < n; i++)
            y[i] = load1(t, b, i);
        return;
    case KVLM_DTYPE_Q8_0:
    case KVLM_DTYPE_Q4_0: {
        bool q4 = t == KVLM_DTYPE_Q4_0;
        size_t bb = q4 ? KVLM_Q4_0_BYTES : KVLM_Q8_0_BYTES;
        for (; i < n / 32; i++, b += bb, y += 32) {
            __m256 d = _mm256_set1_ps(f16s(b));
            __m256i q = q4 ? q4_0_unpack(b + 2) : ld256(b + 2);
            UNROLL
            for (int k = 0; k < 4; k++) {
                __m128i q8 = k < 2 ? _mm256_castsi256_si128(q) : _mm256_extracti128_si256(q, 1);
                if (k & 1)
                    q8 = _mm_srli_si128(q8, 8);
                __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
                _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(d, v));
            }
        }
        return;
    }
    default:
        kvlm_ref_dequantize_row(t, src, y, n);
        return;
    }
}

/* ---- vec_mad: y += a * v ---------------------------------------------------- */

static void simd_vec_mad(kvlm_dtype t, int64_t n, const void *v, float a, float *y)
{
    const uint8_t *b = v;
    int64_t i = 0;
    __m256 va = _mm256_set1_ps(a);
    switch (t) {
    case KVLM_DTYPE_F32:
    case KVLM_DTYPE_F16:
    case KVLM_DTYPE_BF16:
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load8(t, b, i), _mm256_loadu_ps(y + i)));
        for (; i < n; i++)
            y[i] = fmaf(a, load1(t, b, i), y[i]);
        return;
    case KVLM_DTYPE_Q8_0:
        for (; i < n / 32; i++, b += KVLM_Q8_0_BYTES, y += 32) {
            __m256 ad = _mm256_set1_ps(a * f16s(b));
            UNROLL
            for (int k = 0; k < 4; k++) {
                __m128i q8 = _mm_loadl_epi64((const __m128i *)(const void *)(b + 2 + 8 * k));
                __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
                _mm256_storeu_ps(y + 8 * k, _mm256_fmadd_ps(ad, q, _mm256_loadu_ps(y + 8 * k)));
            }
        }
        return;
    default:
        kvlm_ref_vec_mad(t, n, v, a, y);
        return;
    }
}

/* ---- row ops ---------------------------------------------------------------- */

static void simd_add(int64_t n, const float *x, float *y)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] += x[i];
}

#define KVLM_SIMD_TABLE(tbl_name, isa_val, name_str)  \
    static const kvlm_kernel_ops tbl_name = {         \
        .isa = isa_val,                               \
        .name = name_str,                             \
        .dequantize_row = simd_dequantize_row,        \
        .quantize_row = simd_quantize_row,            \
        .vec_dot = simd_vec_dot,                      \
        .vec_dot4 = simd_vec_dot4,                    \
        .vec_mad = simd_vec_mad,                      \
        .rmsnorm = kvlm_ref_rmsnorm,                  \
        .layernorm = kvlm_ref_layernorm,              \
        .swiglu = kvlm_ref_swiglu,                    \
        .gelu = kvlm_ref_gelu,                        \
        .add = simd_add,                              \
    }

#endif /* KVLM_SIMD_BODY_H */
