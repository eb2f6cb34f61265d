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
 *   F32/F16/BF16 vec_dot: one 8-lane FMA accumulator over chunks of 8
 *     elements, hsum8 in a fixed tree, then the tail left to right with
 *     scalar FMA. F16/BF16 x8_dot (the matmul): one FMA chain per element,
 *     the reference's order and bits.
 *   Q8_0/Q4_0/Q5_0: the reference's: per block the exact int32 sum of the
 *     32 products, then sum = sum + (d_w*d_x) * float(isum) in block order
 *     (multiply, multiply, add; no FMA), so every ISA gives the reference's
 *     bits. How the integer is formed (sign trick, Q4_0's unsigned nibbles
 *     minus 8 * the x sum, a row per lane in the x8 kernels) does not matter:
 *     it is exact.
 *   K-quants: exact int32 per super-block (identical to the reference's
 *     isum/imin), combined in float exactly as the reference does.
 * dequantize_row and quantize_row give the reference's bits for every type.
 * The *_rows(R, C, ...) helpers compute R weight rows x C activation rows
 * sharing every load (and unpack) of w and x; the instruction sequence of
 * each (r, c) element does not depend on R or C, which is what makes
 * vec_dot4 and vec_dot4x2 bit-identical to vec_dot.
 */
#ifndef KVLM_SIMD_BODY_H
#define KVLM_SIMD_BODY_H

#include <immintrin.h>
#include <math.h>

#include "kernels/kernels_impl.h"

/* vpdpbusd (u8 x s8, 4 products summed into int32) in the x8 tiles: the
 * AVX-512 table's file is built with VNNI, the AVX2 table's without */
#ifdef __AVX512VNNI__
#define KVLM_SIMD_VNNI 1
#else
#define KVLM_SIMD_VNNI 0
#endif

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

#ifdef __AVX512F__
/* The AVX-512 build's 512-bit tiles put two 256-bit lane sets in one zmm
 * (two weight groups, two queries or two activation rows); these load the
 * two halves. */

/* 16 halves (F16 or BF16) as f32 */
ALWAYS_INLINE __m512 cvt16(kvlm_dtype t, __m256i h)
{
    if (t == KVLM_DTYPE_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* 16 weights of a float type at element i of row w, as f32 */
ALWAYS_INLINE __m512 load16(kvlm_dtype t, const uint8_t *w, int64_t i)
{
    if (t == KVLM_DTYPE_F32)
        return _mm512_loadu_ps((const float *)(const void *)(w + 4 * i));
    return cvt16(t, _mm256_loadu_si256((const __m256i *)(const void *)(w + 2 * i)));
}

/* 8 weights of a float type at element i of row w, as f32 in both halves */
ALWAYS_INLINE __m512 load8x2(kvlm_dtype t, const uint8_t *w, int64_t i)
{
    if (t == KVLM_DTYPE_F32)
        return _mm512_broadcast_f32x8(_mm256_loadu_ps((const float *)(const void *)(w + 4 * i)));
    return cvt16(t, _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(w + 2 * i))));
}

/* 8 halves (F16/BF16) at p and 8 at p + gs, as f32: low and high half */
ALWAYS_INLINE __m512 ld2h(kvlm_dtype t, const uint8_t *p, size_t gs)
{
    return cvt16(t, _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)p)),
                                            _mm_loadu_si128((const __m128i *)(const void *)(p + gs)), 1));
}

/* 8 floats at p and 8 at p + gs: low and high half */
ALWAYS_INLINE __m512 ld2f(const uint8_t *p, size_t gs)
{
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps((const float *)(const void *)p)),
                              _mm256_loadu_ps((const float *)(const void *)(p + gs)), 1);
}

/* 32 bytes at p and 32 at p + gs: low and high half */
ALWAYS_INLINE __m512i ld2g(const uint8_t *p, size_t gs)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)p)),
                              _mm256_loadu_si256((const __m256i *)(const void *)(p + gs)), 1);
}

/* 4 bytes at p in every lane */
ALWAYS_INLINE __m512i bcast4z(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}
#endif

/* All *_rows helpers compute out[c*R + r] = dot(w row r, x row c) for R
 * weight rows (ws bytes apart) and C activation rows (xs bytes apart). */

/* ---- float weights (F32/F16/BF16) x F32 activations ----------------------- */

ALWAYS_INLINE void dotf_rows(const int R, const int C, kvlm_dtype t, int64_t n, const uint8_t *w,
                             size_t ws, const uint8_t *x, size_t xs, float *out)
{
    __m256 acc[8][3]; /* R <= 8, C <= 3, R * C <= 12 */
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int c = 0; c < C; c++)
            acc[r][c] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xv[3];
        UNROLL
        for (int c = 0; c < C; c++)
            xv[c] = _mm256_loadu_ps((const float *)(const void *)(x + c * xs) + i);
        UNROLL
        for (int r = 0; r < R; r++) {
            __m256 wv = load8(t, w + r * ws, i);
            UNROLL
            for (int c = 0; c < C; c++)
                acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    UNROLL
    for (int r = 0; r < R; r++) {
        UNROLL
        for (int c = 0; c < C; c++) {
            const float *xc = (const float *)(const void *)(x + c * xs);
            float s = hsum8(acc[r][c]);
            for (int64_t j = i; j < n; j++)
                s = fmaf(load1(t, w + r * ws, j), xc[j], s);
            out[c * R + r] = s;
        }
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

ALWAYS_INLINE __m256i ld256(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }
ALWAYS_INLINE void st256(uint8_t *p, __m256i v) { _mm256_storeu_si256((__m256i *)(void *)p, v); }

/* Q5_0: b points at the block (f16 d | qh[4] | qs[16]) -> 32 values in [-16, 15]. */
ALWAYS_INLINE __m256i q5_0_unpack(const uint8_t *b)
{
    __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(b + 6));
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(lo, 4), lo);
    v = _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
    uint32_t qh;
    memcpy(&qh, b + 2, 4);
    /* byte j of the result gets bit j of qh as 0x10 */
    __m256i h = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
                                    _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                                      0x0101010101010101LL, 0x0000000000000000LL));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    h = _mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit);
    v = _mm256_or_si256(v, _mm256_and_si256(h, _mm256_set1_epi8(0x10)));
    return _mm256_sub_epi8(v, _mm256_set1_epi8(16));
}

/* Block kinds of dotq_rows and the x8 tiles. */
enum { QK_Q8_0 = 0, QK_Q4_0 = 1, QK_Q5_0 = 2 };

ALWAYS_INLINE size_t q32_bytes(int kind) /* bytes of one block of that kind */
{
    return kind == QK_Q4_0 ? KVLM_Q4_0_BYTES : kind == QK_Q5_0 ? KVLM_Q5_0_BYTES : KVLM_Q8_0_BYTES;
}

ALWAYS_INLINE __m256i q32_unpack(int kind, const uint8_t *wb)
{
    return kind == QK_Q4_0 ? q4_0_unpack(wb + 2) : kind == QK_Q5_0 ? q5_0_unpack(wb) : ld256(wb + 2);
}

/* Per block: the exact int32 sum of each (row, column) pair, then
 * sum += (d_w * d_x) * isum in float (the reference's numerics; the x8
 * kernels below compute the same numbers with one row per lane). */
ALWAYS_INLINE void dotq_rows(const int R, const int C, int kind, int64_t nb, const uint8_t *w,
                             size_t ws, const uint8_t *x, size_t xs, float *out)
{
    const size_t wbytes = q32_bytes(kind);
    float sum[4][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    for (int64_t i = 0; i < nb; i++) {
        __m256i xq[2], x8[2];
        float dx[2];
        UNROLL
        for (int c = 0; c < C; c++) {
            const uint8_t *xb = x + c * xs + i * KVLM_Q8_0_BYTES;
            xq[c] = ld256(xb + 2);
            dx[c] = f16s(xb);
            if (kind == QK_Q4_0) /* 8 * (sum of x over each lane's 4 elements), exact */
                x8[c] = dot4(_mm256_set1_epi8(8), xq[c]);
        }
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *wb = w + r * ws + i * wbytes;
            float dw = f16s(wb);
            __m256i iv[2];
            if (kind == QK_Q4_0) {
                /* unsigned nibbles straight into the u8 operand: sum nib*x - 8*sum x
                 * = sum (nib-8)*x, exact */
                __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(wb + 2));
                __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(0x0F));
                UNROLL
                for (int c = 0; c < C; c++)
                    iv[c] = _mm256_sub_epi32(dot4(nib, xq[c]), x8[c]);
            } else {
                __m256i wq = q32_unpack(kind, wb);
                __m256i wabs = _mm256_sign_epi8(wq, wq); /* |w| as u8 (-128 -> 128) */
                UNROLL
                for (int c = 0; c < C; c++) /* sign trick: |w| (u8) x sign(w)*x (s8) = w*x */
                    iv[c] = dot4(wabs, _mm256_sign_epi8(xq[c], wq));
            }
            UNROLL
            for (int c = 0; c < C; c++) {
                float d = dw * dx[c];
                sum[r][c] += d * (float)hsum8i(iv[c]);
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int c = 0; c < C; c++)
            out[c * R + r] = sum[r][c];
}

/* ---- K-quant weights x Q8_K activations ------------------------------------ */

/* Q4_K/Q5_K 6-bit scales and mins of the 8 sub-blocks, branch-free (same
 * values as kvlm_k_scale_min): with little-endian words a = q[0..3],
 * b = q[4..7], c = q[8..11]:
 *   sc[0..3] = a & 63,  sc[4..7] = (c & 15) | (a >> 6) << 4
 *   m[0..3]  = b & 63,  m[4..7]  = (c >> 4) | (b >> 6) << 4        (per byte)
 * The mins come back as int32 lanes m_j * 0x10001 (m_j in both int16
 * halves) for vpmaddwd against the pairs of Q8_K block sums. */
ALWAYS_INLINE __m256i k_scales_mins(const uint8_t *q, uint8_t sc[8], uint8_t mn[8])
{
    uint32_t a, b, c, w[4];
    memcpy(&a, q, 4);
    memcpy(&b, q + 4, 4);
    memcpy(&c, q + 8, 4);
    w[0] = a & 0x3F3F3F3Fu;
    w[1] = (c & 0x0F0F0F0Fu) | ((a >> 6) & 0x03030303u) << 4;
    w[2] = b & 0x3F3F3F3Fu;
    w[3] = ((c >> 4) & 0x0F0F0F0Fu) | ((b >> 6) & 0x03030303u) << 4;
    memcpy(sc, w, 8);
    memcpy(mn, w + 2, 8);
    __m256i m = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(w + 2)));
    return _mm256_or_si256(m, _mm256_slli_epi32(m, 16));
}

ALWAYS_INLINE __m256i k_scales(const uint8_t *q, uint8_t sc[8])
{
    uint8_t mn[8];
    return k_scales_mins(q, sc, mn);
}

ALWAYS_INLINE void dotk45_rows(const int R, const int C, bool five, int64_t nb, const uint8_t *w,
                               size_t ws, const uint8_t *x, size_t xs, float *out)
{
    const size_t wbytes = five ? KVLM_Q5_K_BYTES : KVLM_Q4_K_BYTES;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    float sum[4][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    for (int64_t i = 0; i < nb; i++) {
        uint8_t s[4][8];
        __m256i isv[4][2], qh[4], mdup[4];
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *wb = w + r * ws + i * wbytes;
            mdup[r] = k_scales(wb + 4, s[r]);
            UNROLL
            for (int c = 0; c < C; c++)
                isv[r][c] = _mm256_setzero_si256();
            if (five)
                qh[r] = ld256(wb + 16);
        }
        UNROLL
        for (int jj = 0; jj < 4; jj++) {
            __m256i x0[2], x1[2];
            UNROLL
            for (int c = 0; c < C; c++) {
                const uint8_t *xq = x + c * xs + i * KVLM_Q8_K_BYTES + 4;
                x0[c] = ld256(xq + 64 * jj);
                x1[c] = ld256(xq + 64 * jj + 32);
            }
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
                UNROLL
                for (int c = 0; c < C; c++) {
                    isv[r][c] = _mm256_add_epi32(isv[r][c], dot4_sc(lo, x0[c], s0, s0));
                    isv[r][c] = _mm256_add_epi32(isv[r][c], dot4_sc(hi, x1[c], s1, s1));
                }
            }
        }
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *wb = w + r * ws + i * wbytes;
            UNROLL
            for (int c = 0; c < C; c++) {
                const uint8_t *xb = x + c * xs + i * KVLM_Q8_K_BYTES;
                int32_t isum = hsum8i(isv[r][c]);
                int32_t imin = hsum8i(_mm256_madd_epi16(ld256(xb + 260), mdup[r]));
                float dx = kvlm_ld_f32(xb);
                float d = f16s(wb) * dx, dmin = f16s(wb + 2) * dx;
                float a = d * (float)isum, cc = dmin * (float)imin;
                sum[r][c] += a - cc;
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int c = 0; c < C; c++)
            out[c * R + r] = sum[r][c];
}

ALWAYS_INLINE void dotk6_rows(const int R, const int C, int64_t nb, const uint8_t *w, size_t ws,
                              const uint8_t *x, size_t xs, float *out)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    float sum[4][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    for (int64_t i = 0; i < nb; i++) {
        __m256i isv[4][2];
        UNROLL
        for (int r = 0; r < R; r++)
            UNROLL
            for (int c = 0; c < C; c++)
                isv[r][c] = _mm256_setzero_si256();
        UNROLL
        for (int h = 0; h < 2; h++) {
            UNROLL
            for (int k = 0; k < 4; k++) {
                __m256i xv[2];
                UNROLL
                for (int c = 0; c < C; c++)
                    xv[c] = ld256(x + c * xs + i * KVLM_Q8_K_BYTES + 4 + 128 * h + 32 * k);
                UNROLL
                for (int r = 0; r < R; r++) {
                    const uint8_t *wb = w + r * ws + i * KVLM_Q6_K_BYTES;
                    const int8_t *sc = (const int8_t *)(wb + 192) + 8 * h;
                    __m256i lo = ld256(wb + 64 * h + 32 * (k & 1));
                    lo = (k < 2) ? _mm256_and_si256(lo, m4) : _mm256_and_si256(_mm256_srli_epi16(lo, 4), m4);
                    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(ld256(wb + 128 + 32 * h), 2 * k), m3);
                    __m256i q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)); /* 0..63 */
                    UNROLL
                    for (int c = 0; c < C; c++)
                        isv[r][c] = _mm256_add_epi32(isv[r][c], dot4_sc(q, xv[c], sc[2 * k], sc[2 * k + 1]));
                }
            }
        }
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *wb = w + r * ws + i * KVLM_Q6_K_BYTES;
            const int8_t *sc = (const int8_t *)(wb + 192);
            UNROLL
            for (int c = 0; c < C; c++) {
                const uint8_t *xb = x + c * xs + i * KVLM_Q8_K_BYTES;
                __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)sc));
                int32_t corr = hsum8i(_mm256_madd_epi16(sc16, ld256(xb + 260))); /* sum sc_g*bsum_g */
                int32_t isum = hsum8i(isv[r][c]) - 32 * corr; /* q-32 via the block sums */
                float d = f16s(wb + 208) * kvlm_ld_f32(xb);
                sum[r][c] += d * (float)isum;
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int c = 0; c < C; c++)
            out[c * R + r] = sum[r][c];
}

ALWAYS_INLINE void dot_rows(const int R, const int C, kvlm_dtype wt, int64_t n, const void *w,
                            size_t ws, const void *x, size_t xs, float *out)
{
    switch (wt) {
    case KVLM_DTYPE_F32:
    case KVLM_DTYPE_F16:
    case KVLM_DTYPE_BF16:
        dotf_rows(R, C, wt, n, w, ws, x, xs, out);
        return;
    case KVLM_DTYPE_Q8_0: dotq_rows(R, C, QK_Q8_0, n / 32, w, ws, x, xs, out); return;
    case KVLM_DTYPE_Q4_0: dotq_rows(R, C, QK_Q4_0, n / 32, w, ws, x, xs, out); return;
    case KVLM_DTYPE_Q5_0: dotq_rows(R, C, QK_Q5_0, n / 32, w, ws, x, xs, out); return;
    case KVLM_DTYPE_Q4_K: dotk45_rows(R, C, false, n / 256, w, ws, x, xs, out); return;
    case KVLM_DTYPE_Q5_K: dotk45_rows(R, C, true, n / 256, w, ws, x, xs, out); return;
    case KVLM_DTYPE_Q6_K: dotk6_rows(R, C, n / 256, w, ws, x, xs, out); return;
    default:
        for (int k = 0; k < R * C; k++)
            out[k] = 0.0f;
    }
}

static float simd_vec_dot(kvlm_dtype wt, int64_t n, const void *w, const void *x)
{
    float out[1];
    dot_rows(1, 1, wt, n, w, 0, x, 0, out);
    return out[0];
}

static void simd_vec_dot4(kvlm_dtype wt, int64_t n, const void *w, size_t ws, const void *x, float out[4])
{
    dot_rows(4, 1, wt, n, w, ws, x, 0, out);
}

/* 8 rows x 1 activation row: 8 independent FMA chains keep both FMA pipes
 * busy through the 4-cycle latency (4 chains, as vec_dot4, leave them half
 * idle); the float weight types only, two vec_dot4 calls otherwise */
static void simd_vec_dot8(kvlm_dtype wt, int64_t n, const void *w, size_t ws, const void *x, float out[8])
{
    if (wt == KVLM_DTYPE_F32 || wt == KVLM_DTYPE_F16 || wt == KVLM_DTYPE_BF16) {
        dotf_rows(8, 1, wt, n, w, ws, x, 0, out);
        return;
    }
    dot_rows(4, 1, wt, n, w, ws, x, 0, out);
    dot_rows(4, 1, wt, n, (const uint8_t *)w + 4 * ws, ws, x, 0, out + 4);
}

static void simd_vec_dot4x2(kvlm_dtype wt, int64_t n, const void *w, size_t ws, const void *x,
                            size_t xs, float out[8])
{
    dot_rows(4, 2, wt, n, w, ws, x, xs, out);
}

/* ---- F32 weight panels for batched matmul (kvlm_kernel_ops.panel_dot) -------
 *
 * A tile of F32 weight rows, read in place, against all m activation rows
 * in 4 x 3 register tiles. (F16/BF16 and the quantized types use the x8
 * layout instead, below.)
 * Invariant: every (weight row, activation row) element goes through the
 * instruction sequence of dotf_rows(1, 1, ...) = vec_dot: one 8-lane FMA
 * chain + hsum8 + scalar tail. */

ALWAYS_INLINE void panel_tile(const int R, const int C, int64_t n, const uint8_t *p, size_t ps,
                              const uint8_t *x, size_t xs, float *y, int64_t ldy)
{
    float out[12];
    dotf_rows(R, C, KVLM_DTYPE_F32, n, p, ps, x, xs, out);
    UNROLL
    for (int c = 0; c < C; c++)
        UNROLL
        for (int r = 0; r < R; r++)
            y[c * ldy + r] = out[c * R + r];
}

/* Columns [c, c + C) of simd_panel_dot: 4-row tiles, then single rows. */
ALWAYS_INLINE void panel_cols(const int C, int64_t n, const uint8_t *p, size_t ps, int rows,
                              const uint8_t *x, size_t xs, float *y, int64_t ldy)
{
    int r = 0;
    for (; r + 4 <= rows; r += 4) panel_tile(4, C, n, p + r * ps, ps, x, xs, y + r, ldy);
    for (; r < rows; r++) panel_tile(1, C, n, p + r * ps, ps, x, xs, y + r, ldy);
}

#ifdef __AVX512F__
/* The AVX-512 build's panel tile: R weight rows x 3 pairs of activation
 * rows, x rows 2q and 2q + 1 in the low and high halves of a zmm and the
 * weight's 8 elements in both, so each 512-bit FMA runs two of dotf_rows'
 * 8-lane chains; each half then gets hsum8 and the scalar tail as there:
 * the same bits. */
ALWAYS_INLINE void panel_tile16(const int R, int64_t n, const uint8_t *p, size_t ps, const uint8_t *x, size_t xs,
                                float *y, int64_t ldy)
{
    __m512 acc[4][3]; /* R <= 4 */
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int q = 0; q < 3; q++)
            acc[r][q] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512 xv[3];
        UNROLL
        for (int q = 0; q < 3; q++)
            xv[q] = ld2f(x + 2 * q * xs + 4 * i, xs);
        UNROLL
        for (int r = 0; r < R; r++) {
            __m512 wv = _mm512_broadcast_f32x8(_mm256_loadu_ps((const float *)(const void *)(p + r * ps) + i));
            UNROLL
            for (int q = 0; q < 3; q++)
                acc[r][q] = _mm512_fmadd_ps(wv, xv[q], acc[r][q]);
        }
    }
    UNROLL
    for (int r = 0; r < R; r++) {
        const float *wr = (const float *)(const void *)(p + r * ps);
        UNROLL
        for (int c = 0; c < 6; c++) {
            const float *xc = (const float *)(const void *)(x + c * xs);
            __m256 h = c % 2 ? _mm512_extractf32x8_ps(acc[r][c / 2], 1) : _mm512_castps512_ps256(acc[r][c / 2]);
            float sum = hsum8(h);
            for (int64_t j = i; j < n; j++)
                sum = fmaf(wr[j], xc[j], sum);
            y[c * ldy + r] = sum;
        }
    }
}

ALWAYS_INLINE void panel_cols16(int64_t n, const uint8_t *p, size_t ps, int rows, const uint8_t *x, size_t xs,
                                float *y, int64_t ldy)
{
    int r = 0;
    for (; r + 4 <= rows; r += 4) panel_tile16(4, n, p + r * ps, ps, x, xs, y + r, ldy);
    for (; r < rows; r++) panel_tile16(1, n, p + r * ps, ps, x, xs, y + r, ldy);
}
#endif

/* y[c*ldy + r] = vec_dot(weight row r, x row c) for r < rows, c < m, F32
 * weight rows ps bytes apart, in 3-column tiles (6 in the AVX-512 build). */
static void simd_panel_dot(kvlm_dtype wt, int64_t n, const void *panel, size_t ps, int rows,
                           const void *x, size_t xs, int64_t m, float *y, int64_t ldy)
{
    (void)wt;
    const uint8_t *p = panel, *xb = x;
    int64_t c = 0;
#ifdef __AVX512F__
    for (; c + 6 <= m; c += 6) panel_cols16(n, p, ps, rows, xb + c * xs, xs, y + c * ldy, ldy);
#endif
    for (; c + 3 <= m; c += 3) panel_cols(3, n, p, ps, rows, xb + c * xs, xs, y + c * ldy, ldy);
    for (; c < m; c++) panel_cols(1, n, p, ps, rows, xb + c * xs, xs, y + c * ldy, ldy);
}

/* ---- x8 weights (kernels.h) x Q8_0 activations --------------------------------
 * One weight row per 32-bit lane. Per block b and activation row c: the
 * 8 rows' exact int32 sums (vertical adds only), then
 *   acc = acc + (d_w * d_x) * float(isum)
 * as two vector multiplies and an add: the reference's operations on the
 * same numbers, so every element equals vec_dot's bits. Q8_0 forms the
 * products with the sign trick (|w| u8 x sign(w)*x s8: a pair sum is at most
 * 2*128*127, no saturation), one vpmaddwd per 32 products. Q4_0 feeds the
 * unsigned nibbles (0..15) straight in and subtracts 8 * the block's x sum
 * at the end; its int16 pair sums are at most 2*15*127 = 3810, so the 8 of a
 * block add in int16 (<= 30480) before one vpmaddwd. Q5_0 is Q4_0 with
 * each nibble's fifth bit ORed in from the 8 rows' qh words (q5_bits) and
 * 16 * the x sum subtracted; its pair sums reach 2*31*127 = 7874, so they
 * are widened every 2 of the 4 nibble vectors. Tiles of C <= 4
 * activation rows share every weight load. With VNNI (the AVX-512 table)
 * every 32 products are one vpdpbusd straight into int32: Q4_0/Q5_0 feed
 * their unsigned quants as they are, Q8_0 feeds w + 128 (w XOR 0x80) as
 * the unsigned operand and subtracts 128 * the block's x sum. */

/* Software prefetch of [p, p + bytes): the K-quant x8 kernels ask for the
 * next super-block of their weight stream while they work on the current
 * one. They spend long enough on a block (1.1-1.7 KB of 8 rows) that the
 * hardware prefetcher alone left them waiting on memory at each block's
 * first load (perf annotate: ~40% of Q6_K's samples on that load).
 * Prefetching past the end of a weight is harmless (a prefetch never
 * faults). */
ALWAYS_INLINE void prefetch_block(const uint8_t *p, const size_t bytes)
{
    for (size_t l = 0; l < bytes; l += 64)
        _mm_prefetch((const char *)(p + l), _MM_HINT_T0);
}

/* The decode (one activation row) tiles of Q8_0/Q4_0/Q5_0 ask for the block
 * about 2.3 KB ahead in each group's stream (blocks of gbb bytes): TinyLlama
 * Q4_0 decode 54-56 -> 71-77 tok/s on a Zen 5 VM (16 Q4_0 blocks ahead; 4,
 * 8, 32 and 64 gave 57-65, 60-71, 67-68 and 64-65; on the AVX2 VMs of round
 * 5 a prefetch here had shown no gain) */
#define X8_PF_BLOCKS(gbb) (2304 / (gbb) > 0 ? 2304 / (gbb) : 1)
#define X8_PF_MAX_ROWS 8 /* activation rows up to which the Q8_0/Q4_0 tiles prefetch */

ALWAYS_INLINE __m256i bcast4(const uint8_t *p) /* 4 bytes at p in every lane */
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* Q5_0's fifth bits for the x8 nibble vector h (lo: elements 4h + j, hi:
 * 16 + 4h + j of each lane's row): byte j of lane r = 0x10 if that bit of
 * row r's qh word (lane r of qh) is set. The bit is in byte (hi ? 2 : 0) +
 * h/2 of the word, at position 4(h%2) + j. */
ALWAYS_INLINE __m256i q5_bits(__m256i qh, const int h, const bool hi)
{
    const char s = (char)((hi ? 2 : 0) + h / 2);
    const __m256i idx = _mm256_setr_epi8(s, s, s, s, (char)(4 + s), (char)(4 + s), (char)(4 + s), (char)(4 + s),
                                         (char)(8 + s), (char)(8 + s), (char)(8 + s), (char)(8 + s),
                                         (char)(12 + s), (char)(12 + s), (char)(12 + s), (char)(12 + s),
                                         s, s, s, s, (char)(4 + s), (char)(4 + s), (char)(4 + s), (char)(4 + s),
                                         (char)(8 + s), (char)(8 + s), (char)(8 + s), (char)(8 + s),
                                         (char)(12 + s), (char)(12 + s), (char)(12 + s), (char)(12 + s));
    const __m256i bit = _mm256_set1_epi32((int)(0x08040201u << (4 * (h % 2))));
    __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(qh, idx), bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(v, bit), _mm256_set1_epi8(0x10));
}

/* G groups (gs bytes apart) x C activation rows, G <= 2, C <= 4: y[c*ldy + 8*gi + r].
 * kind: QK_Q8_0, QK_Q4_0 or QK_Q5_0 (a constant at every call). */
ALWAYS_INLINE void x8_tile(const int G, const int C, const int kind, int64_t nb, const uint8_t *g, size_t gs,
                           const uint8_t *x, size_t xs, const int32_t *xsum, float *y, int64_t ldy)
{
    const bool q5 = kind == QK_Q5_0;
    const size_t gbb = 8 * q32_bytes(kind);
    const int qs_at = q5 ? 48 : 16; /* Q5_0: the 8 rows' qh words at 16, then qs */
    const __m256i ones = _mm256_set1_epi16(1), m4 = _mm256_set1_epi8(0x0F);
    __m256 acc[2][4];
    UNROLL
    for (int gi = 0; gi < G; gi++)
        UNROLL
        for (int c = 0; c < C; c++)
            acc[gi][c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i is[2][4];
        if (C == 1)
            UNROLL
            for (int gi = 0; gi < G; gi++)
                prefetch_block(g + gi * gs + (b + X8_PF_BLOCKS(gbb)) * gbb, gbb);
        if (kind != QK_Q8_0) {
            __m256i s16[2][4], qh[2];
            UNROLL
            for (int gi = 0; gi < G; gi++) {
                if (q5)
                    qh[gi] = ld256(g + gi * gs + b * gbb + 16);
                UNROLL
                for (int c = 0; c < C; c++) {
                    s16[gi][c] = _mm256_setzero_si256();
                    is[gi][c] = _mm256_setzero_si256();
                }
            }
            UNROLL
            for (int h = 0; h < 4; h++) {
                UNROLL
                for (int gi = 0; gi < G; gi++) {
                    __m256i p = ld256(g + gi * gs + b * gbb + qs_at + 32 * h);
                    __m256i lo = _mm256_and_si256(p, m4), hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), m4);
                    if (q5) {
                        lo = _mm256_or_si256(lo, q5_bits(qh[gi], h, false));
                        hi = _mm256_or_si256(hi, q5_bits(qh[gi], h, true));
                    }
                    UNROLL
                    for (int c = 0; c < C; c++) {
                        const uint8_t *xq = x + c * xs + b * KVLM_Q8_0_BYTES + 2;
#if KVLM_SIMD_VNNI
                        is[gi][c] = _mm256_dpbusd_epi32(is[gi][c], lo, bcast4(xq + 4 * h));
                        is[gi][c] = _mm256_dpbusd_epi32(is[gi][c], hi, bcast4(xq + 16 + 4 * h));
#else
                        __m256i t = _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(xq + 4 * h)),
                                                     _mm256_maddubs_epi16(hi, bcast4(xq + 16 + 4 * h)));
                        s16[gi][c] = _mm256_add_epi16(s16[gi][c], t);
#endif
                    }
                }
                /* Q5_0 pair sums reach 2*31*127 = 7874 per h: flush every 2 */
                if (!KVLM_SIMD_VNNI && q5 && h % 2 == 1) {
                    UNROLL
                    for (int gi = 0; gi < G; gi++)
                        UNROLL
                        for (int c = 0; c < C; c++) {
                            is[gi][c] = _mm256_add_epi32(is[gi][c], _mm256_madd_epi16(s16[gi][c], ones));
                            s16[gi][c] = _mm256_setzero_si256();
                        }
                }
            }
            UNROLL
            for (int gi = 0; gi < G; gi++)
                UNROLL
                for (int c = 0; c < C; c++) {
                    if (!KVLM_SIMD_VNNI && !q5)
                        is[gi][c] = _mm256_madd_epi16(s16[gi][c], ones);
                    is[gi][c] = _mm256_sub_epi32(is[gi][c], _mm256_set1_epi32((q5 ? 16 : 8) * xsum[c * nb + b]));
                }
        } else {
            UNROLL
            for (int gi = 0; gi < G; gi++)
                UNROLL
                for (int c = 0; c < C; c++)
                    is[gi][c] = _mm256_setzero_si256();
            UNROLL
            for (int k = 0; k < 8; k++) {
                UNROLL
                for (int gi = 0; gi < G; gi++) {
                    __m256i w = ld256(g + gi * gs + b * gbb + 16 + 32 * k);
#if KVLM_SIMD_VNNI
                    __m256i wu = _mm256_xor_si256(w, _mm256_set1_epi8((char)0x80)); /* w + 128 as u8 */
                    UNROLL
                    for (int c = 0; c < C; c++) {
                        const uint8_t *xq = x + c * xs + b * KVLM_Q8_0_BYTES + 2;
                        is[gi][c] = _mm256_dpbusd_epi32(is[gi][c], wu, bcast4(xq + 4 * k));
                    }
#else
                    __m256i wa = _mm256_sign_epi8(w, w);
                    UNROLL
                    for (int c = 0; c < C; c++) {
                        const uint8_t *xq = x + c * xs + b * KVLM_Q8_0_BYTES + 2;
                        __m256i p = _mm256_maddubs_epi16(wa, _mm256_sign_epi8(bcast4(xq + 4 * k), w));
                        is[gi][c] = _mm256_add_epi32(is[gi][c], _mm256_madd_epi16(p, ones));
                    }
#endif
                }
            }
#if KVLM_SIMD_VNNI
            UNROLL
            for (int gi = 0; gi < G; gi++)
                UNROLL
                for (int c = 0; c < C; c++) /* sum (w + 128) x - 128 * sum x */
                    is[gi][c] = _mm256_sub_epi32(is[gi][c], _mm256_set1_epi32(128 * xsum[c * nb + b]));
#endif
        }
        UNROLL
        for (int gi = 0; gi < G; gi++) {
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(g + gi * gs + b * gbb)));
            UNROLL
            for (int c = 0; c < C; c++) {
                __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(f16s(x + c * xs + b * KVLM_Q8_0_BYTES)));
                acc[gi][c] = _mm256_add_ps(acc[gi][c], _mm256_mul_ps(d, _mm256_cvtepi32_ps(is[gi][c])));
            }
        }
    }
    UNROLL
    for (int gi = 0; gi < G; gi++)
        UNROLL
        for (int c = 0; c < C; c++)
            _mm256_storeu_ps(y + c * ldy + 8 * gi, acc[gi][c]);
}

#ifdef __AVX512F__
/* The AVX-512 build's Q8_0/Q4_0 prefill tile: one zmm holds the same 4-byte
 * step of two groups (rows of group g in the low 8 lanes, of g + 1 in the
 * high 8), so each 512-bit vpdpbusd does two of x8_tile's; a block's int32
 * sums are exact whatever the split, and the float steps are x8_tile's per
 * lane, so the bits are the same. This VM runs zmm vpdpbusd at twice the
 * ymm rate (1052 against 524 GOP/s per core). A tile is one pair of groups
 * x C activation rows. */
#define X8Q_ROWS 8 /* activation rows per tile: 4 -> 8 gave 210 -> 272 GMAC/s (Q8_0), 12 spilled */

ALWAYS_INLINE void x8_tile16(const int C, const int kind, int64_t nb, const uint8_t *g, size_t gs,
                             const uint8_t *x, size_t xs, const int32_t *xsum, float *y, int64_t ldy, bool pf)
{
    const size_t gbb = 8 * q32_bytes(kind);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512 acc[X8Q_ROWS];
    UNROLL
    for (int c = 0; c < C; c++)
        acc[c] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + b * gbb;
        if (C == 1 || pf) {
            prefetch_block(gb + X8_PF_BLOCKS(gbb) * gbb, gbb);
            prefetch_block(gb + gs + X8_PF_BLOCKS(gbb) * gbb, gbb);
        }
        __m512i is[X8Q_ROWS];
        UNROLL
        for (int c = 0; c < C; c++)
            is[c] = _mm512_setzero_si512();
        if (kind == QK_Q4_0) {
            UNROLL
            for (int h = 0; h < 4; h++) {
                __m512i p = ld2g(gb + 16 + 32 * h, gs);
                __m512i lo = _mm512_and_si512(p, m4), hi = _mm512_and_si512(_mm512_srli_epi16(p, 4), m4);
                UNROLL
                for (int c = 0; c < C; c++) {
                    const uint8_t *xq = x + c * xs + b * KVLM_Q8_0_BYTES + 2;
                    is[c] = _mm512_dpbusd_epi32(is[c], lo, bcast4z(xq + 4 * h));
                    is[c] = _mm512_dpbusd_epi32(is[c], hi, bcast4z(xq + 16 + 4 * h));
                }
            }
            UNROLL
            for (int c = 0; c < C; c++)
                is[c] = _mm512_sub_epi32(is[c], _mm512_set1_epi32(8 * xsum[c * nb + b]));
        } else {
            UNROLL
            for (int k = 0; k < 8; k++) {
                __m512i wu = _mm512_xor_si512(ld2g(gb + 16 + 32 * k, gs), _mm512_set1_epi8((char)0x80));
                UNROLL
                for (int c = 0; c < C; c++) {
                    const uint8_t *xq = x + c * xs + b * KVLM_Q8_0_BYTES + 2;
                    is[c] = _mm512_dpbusd_epi32(is[c], wu, bcast4z(xq + 4 * k));
                }
            }
            UNROLL
            for (int c = 0; c < C; c++) /* sum (w + 128) x - 128 * sum x */
                is[c] = _mm512_sub_epi32(is[c], _mm512_set1_epi32(128 * xsum[c * nb + b]));
        }
        __m512 dw = ld2h(KVLM_DTYPE_F16, gb, gs);
        UNROLL
        for (int c = 0; c < C; c++) {
            __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(f16s(x + c * xs + b * KVLM_Q8_0_BYTES)));
            acc[c] = _mm512_add_ps(acc[c], _mm512_mul_ps(d, _mm512_cvtepi32_ps(is[c])));
        }
    }
    UNROLL
    for (int c = 0; c < C; c++)
        _mm512_storeu_ps(y + c * ldy, acc[c]);
}
#endif

/* all groups x C activation rows; pairs of groups when C <= 2 (two weight
 * streams in flight for decode), or C <= 4 with VNNI (the AVX-512 build's
 * Q8_0/Q4_0: x8_tile16 on pairs of groups, see below) */
ALWAYS_INLINE void x8_cols(const int C, const int kind, int64_t n, const uint8_t *groups, int64_t ngroups,
                           const uint8_t *x, size_t xs, const int32_t *xsum, float *y, int64_t ldy, bool pf)
{
    const int64_t nb = n / 32;
    const size_t gs = (size_t)nb * 8 * q32_bytes(kind);
    int64_t g = 0;
#ifdef __AVX512F__
    /* prefill, and Q4_0 decode too: its nibble unpacking, not memory, bounded
     * the ymm tile (TinyLlama Q4_0 decode 48.8-51.4 -> 51.1-53.9 tok/s; Q8_0
     * decode showed no gain within the noise, so it keeps the ymm pairs) */
    if (kind == QK_Q4_0 || (kind == QK_Q8_0 && C >= 2))
        for (; g + 2 <= ngroups; g += 2)
            x8_tile16(C, kind, nb, groups + g * gs, gs, x, xs, xsum, y + 8 * g, ldy, pf);
#endif
    if (C <= (KVLM_SIMD_VNNI ? 4 : 2))
        for (; g + 2 <= ngroups; g += 2)
            x8_tile(2, C, kind, nb, groups + g * gs, gs, x, xs, xsum, y + 8 * g, ldy);
    /* x8_tile takes at most 4 rows */
    for (; g < ngroups; g++)
        for (int c = 0; c < C; c += 4)
            x8_tile(1, C - c < 4 ? C - c : 4, kind, nb, groups + g * gs, gs, x + c * xs, xs, xsum + c * nb,
                    y + c * ldy + 8 * g, ldy);
}

/* every activation row of a Q8_0/Q4_0/Q5_0 x8_dot (kind a constant at each
 * call, so each type gets its own loops): 2 groups x 2 activation rows per
 * tile - with more accumulators GCC spills them inside the block loop
 * (measured: Q4_0 45 GMAC/s per thread with 1 x 4 or 1 x 3 tiles, 61-69
 * with 2 x 2; Q8_0 about 42 either way, bound by its two multiply-port ops
 * per 32 products). The VNNI build (32 registers, no int16 stage) runs
 * 2 groups x 4 rows: Q4_0 96 -> 117 GMAC/s per thread, Q8_0 100-102 ->
 * 106-108; 2 x 6 was slower than 2 x 4 (Q4_0 67-72 against 80-85) */
ALWAYS_INLINE void x8_rows(const int kind, int64_t n, const uint8_t *gp, int64_t ngroups, const uint8_t *xb,
                           size_t xs, const int32_t *xsum, int64_t m, float *y, int64_t ldy)
{
    const int64_t nb = n / 32;
    int64_t c = 0;
    /* a batch that fits one tile reads each weight once, from memory
     * (batched decode): the tiles prefetch ahead as decode's do */
    const bool pf = m <= X8_PF_MAX_ROWS;
#ifdef __AVX512F__
    if (kind != QK_Q5_0)
        for (; c + X8Q_ROWS <= m; c += X8Q_ROWS)
            x8_cols(X8Q_ROWS, kind, n, gp, ngroups, xb + c * xs, xs, xsum + c * nb, y + c * ldy, ldy, pf);
#endif
#if KVLM_SIMD_VNNI
    for (; c + 4 <= m; c += 4)
        x8_cols(4, kind, n, gp, ngroups, xb + c * xs, xs, xsum + c * nb, y + c * ldy, ldy, pf);
#endif
    for (; c + 2 <= m; c += 2)
        x8_cols(2, kind, n, gp, ngroups, xb + c * xs, xs, xsum + c * nb, y + c * ldy, ldy, pf);
    if (c < m)
        x8_cols(1, kind, n, gp, ngroups, xb + c * xs, xs, xsum + c * nb, y + c * ldy, ldy, pf);
}

/* Q4_K in the x8 layout (header fields d at 0, dmin at 16; then 4-byte
 * words: 3 of packed scales at 32 + 32k, 32 of quants at 128 + 32k) x
 * Q8_K activations, C <= 2 rows: per super-block and lane (row), the
 * reference's exact isum = sum_j sc_j * (sub-block j dot) and imin =
 * sum_j m_j * (x sum of sub-block j), then sum += d*isum - dmin*imin as the
 * reference. The 6-bit scales of 8 rows unpack in 4 vector ops
 * (k_scales_mins on a lane each); vpshufb spreads sub-block j's scale into
 * both int16 halves of its lane, so vpmaddwd applies the scale while it
 * widens (the 16 products of a half are <= 16*15*127 = 30480). */
/* Q5_K: bit j of every byte of qh moved to bit 4 (0x10 or 0), j a
 * constant: one shift within 16-bit lanes and a mask (the bits a shift
 * carries across the byte boundary land outside bit 4) */
ALWAYS_INLINE __m256i k5_bit(__m256i qh, const int j)
{
    __m256i v = j < 4 ? _mm256_slli_epi16(qh, 4 - j) : j > 4 ? _mm256_srli_epi16(qh, j - 4) : qh;
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* Quant word 8p + kk of a Q4_K/Q5_K x8 super-block gb: the 8 rows' values
 * of elements 64p + 4kk.. (lo, sub-block 2p) and 64p + 32 + 4kk.. (hi,
 * sub-block 2p + 1); Q5_K ORs in the fifth bits from its qh words (at 128,
 * quants at 384) */
ALWAYS_INLINE void k45_quants(const uint8_t *gb, const bool five, const int p, const int kk, __m256i *lo,
                              __m256i *hi)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i q = ld256(gb + (five ? 384 : 128) + 32 * (8 * p + kk));
    *lo = _mm256_and_si256(q, m4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    if (five) {
        __m256i qh = ld256(gb + 128 + 32 * kk);
        *lo = _mm256_or_si256(*lo, k5_bit(qh, 2 * p));
        *hi = _mm256_or_si256(*hi, k5_bit(qh, 2 * p + 1));
    }
}

/* The 6-bit scales (sc[0]: sub-blocks 0..3, sc[1]: 4..7, a byte each per
 * lane) and mins (mn[]) of the 8 rows of a Q4_K/Q5_K x8 super-block gb */
ALWAYS_INLINE void k45_scales_mins(const uint8_t *gb, __m256i sc[2], __m256i mn[2])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m6 = _mm256_set1_epi8(0x3F), m2 = _mm256_set1_epi8(0x03);
    __m256i A = ld256(gb + 32), B = ld256(gb + 64), W = ld256(gb + 96);
    sc[0] = _mm256_and_si256(A, m6);
    sc[1] = _mm256_or_si256(_mm256_and_si256(W, m4),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(A, 6), m2), 4));
    mn[0] = _mm256_and_si256(B, m6);
    mn[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(W, 4), m4),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(B, 6), m2), 4));
}

/* byte 4r' + i of each 128-bit half into the int16 halves of lane r' (0x80: 0) */
ALWAYS_INLINE __m256i k45_pick(__m256i v, const int lo, const int hi)
{
    const __m256i base = _mm256_setr_epi32((int)0x80008000, (int)0x80048004, (int)0x80088008, (int)0x800C800C,
                                           (int)0x80008000, (int)0x80048004, (int)0x80088008, (int)0x800C800C);
    return _mm256_shuffle_epi8(v, _mm256_add_epi32(base, _mm256_set1_epi32(lo + (hi << 16))));
}

/* sub-block j's scale in both int16 halves of each lane */
ALWAYS_INLINE __m256i k45_scale(const __m256i sc[2], const int j) { return k45_pick(sc[j / 4], j % 4, j % 4); }

/* (m_2p, m_2p+1) in the int16 halves of each lane */
ALWAYS_INLINE __m256i k45_min_pair(const __m256i mn[2], const int p)
{
    return k45_pick(mn[p / 2], 2 * (p % 2), 2 * (p % 2) + 1);
}

/* a Q8_K row's sums of the 8 sub-blocks (its bsums are per 16), packed to
 * int16 (|sum| <= 32*127: exact); k45_x_pair(pk, p) broadcasts the pair
 * (2p, 2p+1) */
ALWAYS_INLINE __m256i k45_x_sums(const uint8_t *xb)
{
    __m256i xs8 = _mm256_madd_epi16(ld256(xb + 260), _mm256_set1_epi16(1));
    return _mm256_packs_epi32(xs8, xs8);
}
ALWAYS_INLINE __m256i k45_x_pair(__m256i pk, const int p)
{
    return _mm256_permutevar8x32_epi32(pk, _mm256_set1_epi32((p / 2) * 4 + (p % 2)));
}

/* the reference's float steps of a Q4_K/Q5_K super-block:
 * acc + ((d * dx) * isum - (dmin * dx) * imin) */
ALWAYS_INLINE __m256 k45_accum(__m256 acc, __m256 dv, __m256 dmv, float dx, __m256i isum, __m256i imin)
{
    __m256 x = _mm256_set1_ps(dx);
    __m256 a = _mm256_mul_ps(_mm256_mul_ps(dv, x), _mm256_cvtepi32_ps(isum));
    __m256 c = _mm256_mul_ps(_mm256_mul_ps(dmv, x), _mm256_cvtepi32_ps(imin));
    return _mm256_add_ps(acc, _mm256_sub_ps(a, c));
}

ALWAYS_INLINE void x8k_tile(const int C, bool five, int64_t nb, const uint8_t *g, const uint8_t *x, size_t xs,
                            float *y, int64_t ldy)
{
    /* Q5_K: the 5th bit of element l of sub-block j is bit j of qh byte l
     * (qh words at 128, quants at 384); values up to 31 let only 4
     * vpmaddubsw results (<= 4*2*31*127 = 31496) add in int16 */
    const size_t gbb = 8 * (five ? KVLM_Q5_K_BYTES : KVLM_Q4_K_BYTES);
    const int flush = five ? 4 : 8;
    __m256 acc[2];
    UNROLL
    for (int c = 0; c < C; c++)
        acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + b * gbb;
        prefetch_block(gb + gbb, gbb);
        __m256i sc[2], mn[2];
        k45_scales_mins(gb, sc, mn);
        __m256i isum[2], imin[2];
        UNROLL
        for (int c = 0; c < C; c++)
            isum[c] = _mm256_setzero_si256();
        UNROLL
        for (int p = 0; p < 4; p++) { /* sub-blocks 2p (low nibbles) and 2p+1 (high) */
            const int j0 = 2 * p, j1 = 2 * p + 1;
            __m256i se[2], so[2];
            UNROLL
            for (int kk = 0; kk < 8; kk++) {
                __m256i lo, hi;
                k45_quants(gb, five, p, kk, &lo, &hi);
                UNROLL
                for (int c = 0; c < C; c++) {
                    const uint8_t *xq = x + c * xs + b * KVLM_Q8_K_BYTES + 4;
                    __m256i pe = _mm256_maddubs_epi16(lo, bcast4(xq + 64 * p + 4 * kk));
                    __m256i po = _mm256_maddubs_epi16(hi, bcast4(xq + 64 * p + 32 + 4 * kk));
                    se[c] = kk % flush == 0 ? pe : _mm256_add_epi16(se[c], pe);
                    so[c] = kk % flush == 0 ? po : _mm256_add_epi16(so[c], po);
                }
                if (kk % flush == flush - 1) {
                    __m256i s0 = k45_scale(sc, j0), s1 = k45_scale(sc, j1);
                    UNROLL
                    for (int c = 0; c < C; c++)
                        isum[c] = _mm256_add_epi32(isum[c], _mm256_add_epi32(_mm256_madd_epi16(se[c], s0),
                                                                             _mm256_madd_epi16(so[c], s1)));
                }
            }
        }
        UNROLL
        for (int c = 0; c < C; c++) {
            __m256i pk = k45_x_sums(x + c * xs + b * KVLM_Q8_K_BYTES);
            imin[c] = _mm256_setzero_si256();
            UNROLL
            for (int p = 0; p < 4; p++)
                imin[c] = _mm256_add_epi32(imin[c], _mm256_madd_epi16(k45_min_pair(mn, p), k45_x_pair(pk, p)));
        }
        __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)gb));
        __m256 dmv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(gb + 16)));
        UNROLL
        for (int c = 0; c < C; c++)
            acc[c] = k45_accum(acc[c], dv, dmv, kvlm_ld_f32(x + c * xs + b * KVLM_Q8_K_BYTES), isum[c], imin[c]);
    }
    UNROLL
    for (int c = 0; c < C; c++)
        _mm256_storeu_ps(y + c * ldy, acc[c]);
}

/* Q6_K in the x8 layout (d of the 8 rows at 0; then 4-byte words: ql at
 * 16 + 32w for w < 32, qh words 32..47, the int8 scales words 48..51) x
 * Q8_K activations, C <= 4 rows (prefill runs 4: the unpacking of each
 * weight vector is shared by more products, 22-25% faster than 2 for
 * TinyLlama-shape Q6_K prefill): per super-block and lane (row) the
 * reference's exact isum = sum_g sc_g * sum (q - 32) * x over the 16
 * sub-blocks, formed as sum_g sc_g * (sum q*x) - 32 * sum_g sc_g * bsum_g,
 * then sum += (d * d_x) * isum. q = 0..63, so two vpmaddubsw results
 * (<= 2 * 2*63*127 = 32004) add in int16 before vpmaddwd applies the
 * sub-block's scale; vpshufb puts a scale byte into the high byte of both
 * int16 halves of its lane and an arithmetic shift sign-extends it. */
ALWAYS_INLINE __m256i k6_scale(const uint8_t *gb, int g0, int g1)
{
    /* lane r' of a 128-bit half: bytes 4r' (+ index) into bytes 1 and 3, 0 elsewhere */
    const __m256i base = _mm256_setr_epi32(0x00800080, 0x04800480, 0x08800880, 0x0C800C80,
                                           0x00800080, 0x04800480, 0x08800880, 0x0C800C80);
    __m256i w = ld256(gb + 16 + 32 * (48 + g0 / 4));
    __m256i ctl = _mm256_add_epi32(base, _mm256_set1_epi32(((g0 % 4) << 8) | ((g1 % 4) << 24)));
    return _mm256_srai_epi16(_mm256_shuffle_epi8(w, ctl), 8);
}

/* the 8 rows' 6-bit quants (0..63) of elements 128h + 32k + 4j.. */
ALWAYS_INLINE __m256i k6_quants(const uint8_t *gb, const int h, const int k, const int j)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    __m256i ql = ld256(gb + 16 + 32 * (16 * h + 8 * (k & 1) + j));
    __m256i lo = k < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(ld256(gb + 16 + 32 * (32 + 8 * h + j)), 2 * k), m3);
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
}

ALWAYS_INLINE void x8k6_tile(const int C, int64_t nb, const uint8_t *g, const uint8_t *x, size_t xs,
                             float *y, int64_t ldy)
{
    const size_t gbb = 8 * KVLM_Q6_K_BYTES;
    __m256 acc[4];
    UNROLL
    for (int c = 0; c < C; c++)
        acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + b * gbb;
        prefetch_block(gb + gbb, gbb);
        __m256i isum[4], corr[4];
        UNROLL
        for (int c = 0; c < C; c++)
            isum[c] = corr[c] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            UNROLL
            for (int k = 0; k < 4; k++) {
                const int g0 = 8 * h + 2 * k;
                __m256i sc[2] = {k6_scale(gb, g0, g0), k6_scale(gb, g0 + 1, g0 + 1)};
                __m256i t[4];
                UNROLL
                for (int j = 0; j < 8; j++) {
                    __m256i q = k6_quants(gb, h, k, j);
                    UNROLL
                    for (int c = 0; c < C; c++) {
                        const uint8_t *xq = x + c * xs + b * KVLM_Q8_K_BYTES + 4 + 128 * h + 32 * k + 4 * j;
                        __m256i p = _mm256_maddubs_epi16(q, bcast4(xq));
                        t[c] = (j % 2 == 0) ? p : _mm256_add_epi16(t[c], p);
                        if (j % 2 == 1)
                            isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(t[c], sc[j / 4]));
                    }
                }
            }
        }
        UNROLL
        for (int p = 0; p < 8; p++) { /* sub-blocks 2p, 2p+1: scales x the Q8_K block sums */
            __m256i scp = k6_scale(gb, 2 * p, 2 * p + 1);
            UNROLL
            for (int c = 0; c < C; c++)
                corr[c] = _mm256_add_epi32(corr[c], _mm256_madd_epi16(scp, bcast4(x + c * xs + b * KVLM_Q8_K_BYTES + 260 + 4 * p)));
        }
        __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)gb));
        UNROLL
        for (int c = 0; c < C; c++) {
            __m256i is = _mm256_sub_epi32(isum[c], _mm256_slli_epi32(corr[c], 5));
            __m256 d = _mm256_mul_ps(dv, _mm256_set1_ps(kvlm_ld_f32(x + c * xs + b * KVLM_Q8_K_BYTES)));
            acc[c] = _mm256_add_ps(acc[c], _mm256_mul_ps(d, _mm256_cvtepi32_ps(is)));
        }
    }
    UNROLL
    for (int c = 0; c < C; c++)
        _mm256_storeu_ps(y + c * ldy, acc[c]);
}

ALWAYS_INLINE void x8k_cols(const bool five, int64_t n, const uint8_t *gp, int64_t ngroups, const uint8_t *xb,
                            size_t xs, int64_t m, float *y, int64_t ldy)
{
    const size_t gs = (size_t)(n / 256) * 8 * (five ? KVLM_Q5_K_BYTES : KVLM_Q4_K_BYTES);
    int64_t c = 0;
    for (; c + 2 <= m; c += 2)
        for (int64_t g = 0; g < ngroups; g++)
            x8k_tile(2, five, n / 256, gp + g * gs, xb + c * xs, xs, y + c * ldy + 8 * g, ldy);
    if (c < m)
        for (int64_t g = 0; g < ngroups; g++)
            x8k_tile(1, five, n / 256, gp + g * gs, xb + c * xs, xs, y + c * ldy + 8 * g, ldy);
}

/* every activation row of a Q6_K x8_dot: tiles of 4 rows (prefill), then 2, then 1 */
ALWAYS_INLINE void x8k6_rows(int64_t n, const uint8_t *gp, int64_t ngroups, const uint8_t *xb, size_t xs,
                             int64_t m, float *y, int64_t ldy)
{
    const size_t gs = (size_t)(n / 256) * 8 * KVLM_Q6_K_BYTES;
    int64_t c = 0;
    for (; c + 4 <= m; c += 4)
        for (int64_t g = 0; g < ngroups; g++)
            x8k6_tile(4, n / 256, gp + g * gs, xb + c * xs, xs, y + c * ldy + 8 * g, ldy);
    for (; c + 2 <= m; c += 2)
        for (int64_t g = 0; g < ngroups; g++)
            x8k6_tile(2, n / 256, gp + g * gs, xb + c * xs, xs, y + c * ldy + 8 * g, ldy);
    if (c < m)
        for (int64_t g = 0; g < ngroups; g++)
            x8k6_tile(1, n / 256, gp + g * gs, xb + c * xs, xs, y + c * ldy + 8 * g, ldy);
}

/* ---- K-quant x8 groups expanded for prefill ----------------------------------
 * With many activation rows the tiles above unpack every weight vector
 * (nibbles, fifth and sixth bits, 6-bit scales) once per tile of 2 (Q4_K,
 * Q5_K) or 4 (Q6_K) rows: the unpacking, not the products, bounded their
 * prefill (TinyLlama Q5_K pp512 0.73x llama.cpp, Q6_K 0.92x). From
 * XK_MIN_ROWS rows, x8_dot expands the call's groups once into the thread's
 * scratch and runs tiles of 4 rows whose inner step is a load, a broadcast,
 * vpmaddubsw and an add per 32 products. Per group and super-block the
 * expansion holds (offsets in bytes):
 *   0     the 256 quants of the 8 rows as bytes (Q4_K 0..15, Q5_K 0..31, Q6_K
 *         0..63): vector v = elements 4v..4v+3, row r in lane r;
 *   2048  per sub-block (Q4_K/Q5_K: 8 of 32 elements, Q6_K: 16 of 16) its
 *         scale in both int16 halves of each lane, for vpmaddwd;
 *   then  Q4_K/Q5_K: per pair p of sub-blocks (m_2p, m_2p+1) per lane, and d,
 *         dmin as 8 f32; Q6_K: per pair p (sc_2p, sc_2p+1) per lane (the
 *         block-sum correction) and d as 8 f32.
 * With VNNI each sub-block's products sum in int32 through vpdpbusd and
 * one vpmulld applies the scale. The integers are the tiles' - isum, imin,
 * the -32 correction - exact in any order, and the float steps are theirs,
 * so the bits are x8_dot's. */
#define XK_MIN_ROWS 8
#define XK45_BYTES 2496           /* 2048 + 8*32 + 4*32 + 2*32 */
#define XK6_BYTES 2848            /* 2048 + 16*32 + 8*32 + 32 */
#define XK_SCRATCH (512 * 1024)   /* expanded groups per pass, at most (L2) */

ALWAYS_INLINE void xk45_expand(const bool five, int64_t nb, const uint8_t *g, uint8_t *e)
{
    const size_t gbb = 8 * (five ? KVLM_Q5_K_BYTES : KVLM_Q4_K_BYTES);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + b * gbb;
        uint8_t *eb = e + b * XK45_BYTES;
        prefetch_block(gb + X8_PF_BLOCKS(gbb) * gbb, gbb); /* the group's stream, from memory */
        __m256i sc[2], mn[2];
        k45_scales_mins(gb, sc, mn);
        UNROLL
        for (int j = 0; j < 8; j++)
            st256(eb + 2048 + 32 * j, k45_scale(sc, j));
        UNROLL
        for (int p = 0; p < 4; p++)
            st256(eb + 2304 + 32 * p, k45_min_pair(mn, p));
        _mm256_storeu_ps((float *)(void *)(eb + 2432), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)gb)));
        _mm256_storeu_ps((float *)(void *)(eb + 2464),
                         _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(gb + 16))));
        /* quant word 8p + kk: low nibbles elements 64p + 4kk.., high 64p + 32 + 4kk.. */
        UNROLL
        for (int p = 0; p < 4; p++) {
            UNROLL
            for (int kk = 0; kk < 8; kk++) {
                __m256i lo, hi;
                k45_quants(gb, five, p, kk, &lo, &hi);
                st256(eb + 32 * (16 * p + kk), lo);
                st256(eb + 32 * (16 * p + 8 + kk), hi);
            }
        }
    }
}

ALWAYS_INLINE void xk6_expand(int64_t nb, const uint8_t *g, uint8_t *e)
{
    const size_t gbb = 8 * KVLM_Q6_K_BYTES;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + b * gbb;
        uint8_t *eb = e + b * XK6_BYTES;
        prefetch_block(gb + X8_PF_BLOCKS(gbb) * gbb, gbb);
        UNROLL
        for (int s = 0; s < 16; s++)
            st256(eb + 2048 + 32 * s, k6_scale(gb, s, s));
        UNROLL
        for (int p = 0; p < 8; p++)
            st256(eb + 2560 + 32 * p, k6_scale(gb, 2 * p, 2 * p + 1));
        _mm256_storeu_ps((float *)(void *)(eb + 2816), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)gb)));
        /* elements 128h + 32k + 4j.. of each row: vector 32h + 8k + j */
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++) {
                UNROLL
                for (int j = 0; j < 8; j++) {
                    st256(eb + 32 * (32 * h + 8 * k + j), k6_quants(gb, h, k, j));
                }
            }
    }
}

/* one expanded group x C <= 4 activation rows (Q8_K): y[c*ldy + r]. The
 * type t (a constant at every call) sets the sub-block length and how many
 * vpmaddubsw results add in int16 before vpmaddwd widens them: at most
 * 2*15*127 = 3810 per result for Q4_K (8 add), 7874 for Q5_K (4), 16002 for
 * Q6_K (2) - never past 32767. */
ALWAYS_INLINE void xk_tile(const int C, const kvlm_dtype t, int64_t nb, const uint8_t *e, const uint8_t *x, size_t xs,
                           float *y, int64_t ldy)
{
    const bool six = t == KVLM_DTYPE_Q6_K;
    const int nsub = six ? 16 : 8, sv = six ? 4 : 8;
    const size_t ebytes = six ? XK6_BYTES : XK45_BYTES;
    __m256 acc[4];
    UNROLL
    for (int c = 0; c < C; c++)
        acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *eb = e + b * ebytes;
        const uint8_t *xq = x + b * KVLM_Q8_K_BYTES + 4;
        __m256i isum[4];
        UNROLL
        for (int c = 0; c < C; c++)
            isum[c] = _mm256_setzero_si256();
        for (int s = 0; s < nsub; s++) {
            const __m256i S = ld256(eb + 2048 + 32 * s);
            __m256i part[4];
#if KVLM_SIMD_VNNI
            /* int32 sub-block sums (<= 32*63*127), then times the scale */
            UNROLL
            for (int v = 0; v < sv; v++) {
                const __m256i w = ld256(eb + 32 * (sv * s + v));
                UNROLL
                for (int c = 0; c < C; c++)
                    part[c] = _mm256_dpbusd_epi32(v == 0 ? _mm256_setzero_si256() : part[c], w,
                                               bcast4(xq + c * xs + 4 * (sv * s + v)));
            }
            const __m256i S32 = _mm256_srai_epi32(S, 16);
            UNROLL
            for (int c = 0; c < C; c++)
                isum[c] = _mm256_add_epi32(isum[c], _mm256_mullo_epi32(part[c], S32));
#else
            const int flush = t == KVLM_DTYPE_Q4_K ? 8 : t == KVLM_DTYPE_Q5_K ? 4 : 2;
            UNROLL
            for (int v = 0; v < sv; v++) {
                const __m256i w = ld256(eb + 32 * (sv * s + v));
                UNROLL
                for (int c = 0; c < C; c++) {
                    __m256i p = _mm256_maddubs_epi16(w, bcast4(xq + c * xs + 4 * (sv * s + v)));
                    part[c] = v % flush == 0 ? p : _mm256_add_epi16(part[c], p);
                    if (v % flush == flush - 1)
                        isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(part[c], S));
                }
            }
#endif
        }
        if (six) {
            const __m256 dv = _mm256_loadu_ps((const float *)(const void *)(eb + 2816));
            UNROLL
            for (int c = 0; c < C; c++) {
                const uint8_t *xb = x + c * xs + b * KVLM_Q8_K_BYTES;
                __m256i corr = _mm256_setzero_si256();
                UNROLL
                for (int p = 0; p < 8; p++)
                    corr = _mm256_add_epi32(corr, _mm256_madd_epi16(ld256(eb + 2560 + 32 * p), bcast4(xb + 260 + 4 * p)));
                __m256i is = _mm256_sub_epi32(isum[c], _mm256_slli_epi32(corr, 5));
                __m256 d = _mm256_mul_ps(dv, _mm256_set1_ps(kvlm_ld_f32(xb)));
                acc[c] = _mm256_add_ps(acc[c], _mm256_mul_ps(d, _mm256_cvtepi32_ps(is)));
            }
        } else {
            const __m256 dv = _mm256_loadu_ps((const float *)(const void *)(eb + 2432));
            const __m256 dmv = _mm256_loadu_ps((const float *)(const void *)(eb + 2464));
            UNROLL
            for (int c = 0; c < C; c++) {
                const uint8_t *xb = x + c * xs + b * KVLM_Q8_K_BYTES;
                __m256i pk = k45_x_sums(xb), imin = _mm256_setzero_si256();
                UNROLL
                for (int p = 0; p < 4; p++)
                    imin = _mm256_add_epi32(imin, _mm256_madd_epi16(ld256(eb + 2304 + 32 * p), k45_x_pair(pk, p)));
                acc[c] = k45_accum(acc[c], dv, dmv, kvlm_ld_f32(xb), isum[c], imin);
            }
        }
    }
    UNROLL
    for (int c = 0; c < C; c++)
        _mm256_storeu_ps(y + c * ldy, acc[c]);
}

#ifdef __AVX512F__
/* xk_tile on two expanded groups at once (e and e + es; group g in the low
 * 8 lanes of each zmm, g + 1 in the high 8): every integer sum is exact and
 * every float step is xk_tile's per lane, so the same bits, at half the
 * vpdpbusd/vpmulld count where 512-bit ops run at twice the 256-bit rate. */
#define XKZ_ROWS 8 /* activation rows per tile, a multiple of 4 (8: Q4_K 264-270 -> 307-315 GMAC/s against 4) */

ALWAYS_INLINE void xk_tile16(const int C, const kvlm_dtype t, int64_t nb, const uint8_t *e, size_t es,
                             const uint8_t *x, size_t xs, float *y, int64_t ldy)
{
    const bool six = t == KVLM_DTYPE_Q6_K;
    const int nsub = six ? 16 : 8, sv = six ? 4 : 8;
    const size_t ebytes = six ? XK6_BYTES : XK45_BYTES;
    __m512 acc[XKZ_ROWS];
    UNROLL
    for (int c = 0; c < C; c++)
        acc[c] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *eb = e + b * ebytes;
        const uint8_t *xq = x + b * KVLM_Q8_K_BYTES + 4;
        __m512i isum[XKZ_ROWS];
        UNROLL
        for (int c = 0; c < C; c++)
            isum[c] = _mm512_setzero_si512();
        for (int s = 0; s < nsub; s++) {
            __m512i part[XKZ_ROWS];
            UNROLL
            for (int v = 0; v < sv; v++) {
                const __m512i w = ld2g(eb + 32 * (sv * s + v), es);
                UNROLL
                for (int c = 0; c < C; c++)
                    part[c] = _mm512_dpbusd_epi32(v == 0 ? _mm512_setzero_si512() : part[c], w,
                                                  bcast4z(xq + c * xs + 4 * (sv * s + v)));
            }
            const __m512i S32 = _mm512_srai_epi32(ld2g(eb + 2048 + 32 * s, es), 16);
            UNROLL
            for (int c = 0; c < C; c++)
                isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(part[c], S32));
        }
        if (six) {
            const __m512 dv = ld2f(eb + 2816, es);
            UNROLL
            for (int c = 0; c < C; c++) {
                const uint8_t *xb = x + c * xs + b * KVLM_Q8_K_BYTES;
                __m512i corr = _mm512_setzero_si512();
                UNROLL
                for (int p = 0; p < 8; p++)
                    corr = _mm512_add_epi32(corr, _mm512_madd_epi16(ld2g(eb + 2560 + 32 * p, es), bcast4z(xb + 260 + 4 * p)));
                __m512i is = _mm512_sub_epi32(isum[c], _mm512_slli_epi32(corr, 5));
                __m512 d = _mm512_mul_ps(dv, _mm512_set1_ps(kvlm_ld_f32(xb)));
                acc[c] = _mm512_add_ps(acc[c], _mm512_mul_ps(d, _mm512_cvtepi32_ps(is)));
            }
        } else {
            const __m512 dv = ld2f(eb + 2432, es), dmv = ld2f(eb + 2464, es);
            UNROLL
            for (int c = 0; c < C; c++) {
                const uint8_t *xb = x + c * xs + b * KVLM_Q8_K_BYTES;
                __m256i pk = k45_x_sums(xb);
                __m512i imin = _mm512_setzero_si512();
                UNROLL
                for (int p = 0; p < 4; p++) /* k45_x_pair's lanes are all one pair */
                    imin = _mm512_add_epi32(imin, _mm512_madd_epi16(ld2g(eb + 2304 + 32 * p, es),
                                                                    _mm512_broadcastd_epi32(_mm256_castsi256_si128(k45_x_pair(pk, p)))));
                /* k45_accum's steps */
                __m512 xd = _mm512_set1_ps(kvlm_ld_f32(xb));
                __m512 a = _mm512_mul_ps(_mm512_mul_ps(dv, xd), _mm512_cvtepi32_ps(isum[c]));
                __m512 m = _mm512_mul_ps(_mm512_mul_ps(dmv, xd), _mm512_cvtepi32_ps(imin));
                acc[c] = _mm512_add_ps(acc[c], _mm512_sub_ps(a, m));
            }
        }
    }
    UNROLL
    for (int c = 0; c < C; c++)
        _mm512_storeu_ps(y + c * ldy, acc[c]);
}
#endif

/* every activation row of a K-quant x8_dot through expanded groups: as many
 * groups as XK_SCRATCH holds at a time, expanded once, then tiles of 4 rows
 * (the rest in one smaller tile) over each. false (nothing written) when no
 * scratch can be had: the caller runs the unexpanded tiles, same bits. */
ALWAYS_INLINE bool xk_rows(const kvlm_dtype t, int64_t n, const uint8_t *gp, int64_t ngroups, const uint8_t *xb,
                           size_t xs, int64_t m, float *y, int64_t ldy)
{
    const int64_t nb = n / 256;
    const bool six = t == KVLM_DTYPE_Q6_K;
    const size_t gs = (size_t)nb * 8 * (six ? KVLM_Q6_K_BYTES : t == KVLM_DTYPE_Q5_K ? KVLM_Q5_K_BYTES : KVLM_Q4_K_BYTES);
    const size_t es = (size_t)nb * (six ? XK6_BYTES : XK45_BYTES);
    int64_t per = (int64_t)(XK_SCRATCH / es);
    per = per < 1 ? 1 : per > ngroups ? ngroups : per;
#ifdef __AVX512F__
    if (per > 2)
        per = per / 2 * 2; /* whole pairs for xk_tile16 */
#endif
    uint8_t *e = kvlm_thread_scratch(KVLM_SCRATCH_EXPAND, (size_t)per * es);
    if (!e)
        return false;
    for (int64_t g0 = 0; g0 < ngroups; g0 += per) {
        const int64_t ng = ngroups - g0 < per ? ngroups - g0 : per;
        for (int64_t g = 0; g < ng; g++) {
            if (six)
                xk6_expand(nb, gp + (g0 + g) * gs, e + g * es);
            else
                xk45_expand(t == KVLM_DTYPE_Q5_K, nb, gp + (g0 + g) * gs, e + g * es);
        }
        float *yg = y + 8 * g0;
        int64_t c = 0;
#ifdef __AVX512F__
        for (; c + XKZ_ROWS <= m; c += XKZ_ROWS) {
            int64_t g = 0;
            for (; g + 2 <= ng; g += 2)
                xk_tile16(XKZ_ROWS, t, nb, e + g * es, es, xb + c * xs, xs, yg + c * ldy + 8 * g, ldy);
            for (; g < ng; g++)
                for (int c4 = 0; c4 < XKZ_ROWS; c4 += 4)
                    xk_tile(4, t, nb, e + g * es, xb + (c + c4) * xs, xs, yg + (c + c4) * ldy + 8 * g, ldy);
        }
#endif
        for (; c + 4 <= m; c += 4)
            for (int64_t g = 0; g < ng; g++)
                xk_tile(4, t, nb, e + g * es, xb + c * xs, xs, yg + c * ldy + 8 * g, ldy);
        for (int64_t g = 0; g < ng; g++)
            switch (m - c) {
            case 3: xk_tile(3, t, nb, e + g * es, xb + c * xs, xs, yg + c * ldy + 8 * g, ldy); break;
            case 2: xk_tile(2, t, nb, e + g * es, xb + c * xs, xs, yg + c * ldy + 8 * g, ldy); break;
            case 1: xk_tile(1, t, nb, e + g * es, xb + c * xs, xs, yg + c * ldy + 8 * g, ldy); break;
            default: break;
            }
    }
    return true;
}

/* a K-quant x8_dot (t a constant at each call): expanded for prefill
 * (XK_MIN_ROWS rows or more, when scratch can be had), else the tiles.
 * The AVX-512 table hands the Q6_K tiles (decode) to the AVX2 table's:
 * built with the AVX-512 flags, the same source streamed weights from
 * memory at 60-70% of the speed (TinyLlama Q6_K decode 15-20 tok/s vs
 * 26-28; from L3 it was faster). Every path gives the same bits. */
ALWAYS_INLINE void xk_dot(const kvlm_dtype t, int64_t n, const uint8_t *gp, int64_t ngroups, const uint8_t *xb,
                          size_t xs, int64_t m, float *y, int64_t ldy)
{
    if (m >= XK_MIN_ROWS && xk_rows(t, n, gp, ngroups, xb, xs, m, y, ldy))
        return;
    if (t != KVLM_DTYPE_Q6_K)
        x8k_cols(t == KVLM_DTYPE_Q5_K, n, gp, ngroups, xb, xs, m, y, ldy);
    else if (KVLM_SIMD_VNNI)
        kvlm_kernels_avx2()->x8_dot(t, n, gp, ngroups, xb, xs, NULL, m, y, ldy);
    else
        x8k6_rows(n, gp, ngroups, xb, xs, m, y, ldy);
}

/* ---- F16/BF16 weights in the x8 layout x F32 activations ---------------------
 * Element k of a group is the 8 rows' halves at 16k: one 16-byte load and
 * one conversion give the 8 rows' values as f32 lanes. Lane r of acc[j][c]
 * runs weight row 8(g+j)+r against x row c as one chain
 *   acc = fma(w[k], x[k], acc), k = 0..n-1, from +0
 * - kvlm_ref_vec_dot's order and rounding for these types, so every element
 * is the reference's bits whatever the ISA, tile or batch. An outer product:
 * a tile of G groups x C activation rows loads G weight vectors and C
 * broadcast x values per k for G*C FMAs, so prefill runs at the FMA ports'
 * rate instead of reloading both operands per product; decode (C = 1) keeps
 * 4 groups' chains in flight to cover the FMA latency. */
ALWAYS_INLINE void x8f_tile(const int G, const int C, const kvlm_dtype t, int64_t n, const uint8_t *g,
                            size_t gs, const uint8_t *x, size_t xs, float *y, int64_t ldy)
{
    __m256 acc[4][8]; /* G <= 4, C <= 8; G * C <= 12 but for the AVX-512 build's odd group (G = 1, C = 8) */
    UNROLL
    for (int j = 0; j < G; j++)
        UNROLL
        for (int c = 0; c < C; c++)
            acc[j][c] = _mm256_setzero_ps();
    for (int64_t k = 0; k < n; k++) {
        __m256 wv[4];
        /* decode: each group's stream 2304 bytes ahead, a line per 4 k
         * (TinyLlama F16 decode 25.7-26.8 -> 31.4-31.7 tok/s, Qwen2.5
         * F16 41.5 -> 55.0-57.8 on a Zen 5 VM) */
        if (C == 1 && k % 4 == 0)
            UNROLL
            for (int j = 0; j < G; j++)
                _mm_prefetch((const char *)(g + (size_t)j * gs + 16 * k + 2304), _MM_HINT_T0);
        UNROLL
        for (int j = 0; j < G; j++)
            wv[j] = load8(t, g + (size_t)j * gs, 8 * k);
        UNROLL
        for (int c = 0; c < C; c++) {
            __m256 xv = _mm256_broadcast_ss((const float *)(const void *)(x + (size_t)c * xs) + k);
            UNROLL
            for (int j = 0; j < G; j++)
                acc[j][c] = _mm256_fmadd_ps(wv[j], xv, acc[j][c]);
        }
    }
    UNROLL
    for (int j = 0; j < G; j++)
        UNROLL
        for (int c = 0; c < C; c++)
            _mm256_storeu_ps(y + c * ldy + 8 * j, acc[j][c]);
}

#ifdef __AVX512F__
/* The AVX-512 build's prefill tile: one zmm holds element k of two
 * consecutive groups (16 rows, 16 lanes), so each 512-bit FMA does 16 of
 * the chains above - the same per-lane chain, so the same bits - on CPUs
 * that run 512-bit FMAs at twice the 256-bit rate (a Zen 5 VM: 216 against
 * 128 GFLOP/s per core for 2048 x 2048 x 512; where they run at the same
 * rate it costs nothing). A tile is P pairs of groups x C rows of x: P * C
 * accumulators, 2P weight loads and C broadcasts per k; P = 3, C = 8 (24
 * accumulators of the 32 registers) beat P = 2 by 12%, and C = 6 or 8 gave
 * the same. */
#define X8F_ROWS 8 /* activation rows per prefill tile */

ALWAYS_INLINE void x8f_tile16(const int P, const int C, const kvlm_dtype t, int64_t n, const uint8_t *g,
                              size_t gs, const uint8_t *x, size_t xs, float *y, int64_t ldy)
{
    __m512 acc[3][X8F_ROWS]; /* P <= 3 */
    UNROLL
    for (int p = 0; p < P; p++)
        UNROLL
        for (int c = 0; c < C; c++)
            acc[p][c] = _mm512_setzero_ps();
    for (int64_t k = 0; k < n; k++) {
        __m512 wv[3];
        UNROLL
        for (int p = 0; p < P; p++)
            wv[p] = ld2h(t, g + (size_t)(2 * p) * gs + 16 * k, gs);
        UNROLL
        for (int c = 0; c < C; c++) {
            __m512 xv = _mm512_set1_ps(((const float *)(const void *)(x + (size_t)c * xs))[k]);
            UNROLL
            for (int p = 0; p < P; p++)
                acc[p][c] = _mm512_fmadd_ps(wv[p], xv, acc[p][c]);
        }
    }
    UNROLL
    for (int p = 0; p < P; p++)
        UNROLL
        for (int c = 0; c < C; c++)
            _mm512_storeu_ps(y + c * ldy + 16 * p, acc[p][c]);
}
#else
#define X8F_ROWS 6
#endif

/* x rows [c, c + C) against every group (gs bytes apart): 6 groups at a
 * time in the AVX-512 build (then 4, then 2), pairs otherwise; then the
 * odd one */
ALWAYS_INLINE void x8f_cols(const int C, const kvlm_dtype t, int64_t n, const uint8_t *gp, size_t gs,
                            int64_t ngroups, const uint8_t *x, size_t xs, float *y, int64_t ldy)
{
    int64_t g = 0;
#ifdef __AVX512F__
    for (; g + 6 <= ngroups; g += 6)
        x8f_tile16(3, C, t, n, gp + g * gs, gs, x, xs, y + 8 * g, ldy);
    if (g + 4 <= ngroups) {
        x8f_tile16(2, C, t, n, gp + g * gs, gs, x, xs, y + 8 * g, ldy);
        g += 4;
    }
    if (g + 2 <= ngroups) {
        x8f_tile16(1, C, t, n, gp + g * gs, gs, x, xs, y + 8 * g, ldy);
        g += 2;
    }
#else
    for (; g + 2 <= ngroups; g += 2)
        x8f_tile(2, C, t, n, gp + g * gs, gs, x, xs, y + 8 * g, ldy);
#endif
    if (g < ngroups)
        x8f_tile(1, C, t, n, gp + g * gs, gs, x, xs, y + 8 * g, ldy);
}

/* every activation row of an F16/BF16 x8_dot: decode 4 groups at a time,
 * prefill in tiles of X8F_ROWS rows (the remainder in one smaller tile) */
ALWAYS_INLINE void x8f_rows(const kvlm_dtype t, int64_t n, const uint8_t *gp, int64_t ngroups,
                            const uint8_t *xb, size_t xs, int64_t m, float *y, int64_t ldy)
{
    const size_t gs = (size_t)n * 16; /* bytes per group */
    if (m == 1) {
        int64_t g = 0;
        for (; g + 4 <= ngroups; g += 4)
            x8f_tile(4, 1, t, n, gp + g * gs, gs, xb, xs, y + 8 * g, ldy);
        switch (ngroups - g) {
        case 3: x8f_tile(3, 1, t, n, gp + g * gs, gs, xb, xs, y + 8 * g, ldy); break;
        case 2: x8f_tile(2, 1, t, n, gp + g * gs, gs, xb, xs, y + 8 * g, ldy); break;
        case 1: x8f_tile(1, 1, t, n, gp + g * gs, gs, xb, xs, y + 8 * g, ldy); break;
        default: break;
        }
        return;
    }
    int64_t c = 0;
    for (; c + X8F_ROWS <= m; c += X8F_ROWS)
        x8f_cols(X8F_ROWS, t, n, gp, gs, ngroups, xb + c * xs, xs, y + c * ldy, ldy);
    switch (m - c) {
#if X8F_ROWS > 6
    case 7: x8f_cols(7, t, n, gp, gs, ngroups, xb + c * xs, xs, y + c * ldy, ldy); break;
    case 6: x8f_cols(6, t, n, gp, gs, ngroups, xb + c * xs, xs, y + c * ldy, ldy); break;
#endif
    case 5: x8f_cols(5, t, n, gp, gs, ngroups, xb + c * xs, xs, y + c * ldy, ldy); break;
    case 4: x8f_cols(4, t, n, gp, gs, ngroups, xb + c * xs, xs, y + c * ldy, ldy); break;
    case 3: x8f_cols(3, t, n, gp, gs, ngroups, xb + c * xs, xs, y + c * ldy, ldy); break;
    case 2: x8f_cols(2, t, n, gp, gs, ngroups, xb + c * xs, xs, y + c * ldy, ldy); break;
    case 1: x8f_cols(1, t, n, gp, gs, ngroups, xb + c * xs, xs, y + c * ldy, ldy); break;
    default: break;
    }
}

static void simd_x8_dot(kvlm_dtype wt, int64_t n, const void *groups, int64_t ngroups, const void *x,
                        size_t xs, const int32_t *xsum, int64_t m, float *y, int64_t ldy)
{
    const uint8_t *gp = groups, *xb = x;
    /* each call passes its type's constants, so each type gets its own loops */
    switch (wt) {
    case KVLM_DTYPE_Q4_K: xk_dot(KVLM_DTYPE_Q4_K, n, gp, ngroups, xb, xs, m, y, ldy); return;
    case KVLM_DTYPE_Q5_K: xk_dot(KVLM_DTYPE_Q5_K, n, gp, ngroups, xb, xs, m, y, ldy); return;
    case KVLM_DTYPE_Q6_K: xk_dot(KVLM_DTYPE_Q6_K, n, gp, ngroups, xb, xs, m, y, ldy); return;
    case KVLM_DTYPE_Q4_0: x8_rows(QK_Q4_0, n, gp, ngroups, xb, xs, xsum, m, y, ldy); return;
    case KVLM_DTYPE_Q5_0: x8_rows(QK_Q5_0, n, gp, ngroups, xb, xs, xsum, m, y, ldy); return;
    case KVLM_DTYPE_F16: x8f_rows(KVLM_DTYPE_F16, n, gp, ngroups, xb, xs, m, y, ldy); return;
    case KVLM_DTYPE_BF16: x8f_rows(KVLM_DTYPE_BF16, n, gp, ngroups, xb, xs, m, y, ldy); return;
    default: x8_rows(QK_Q8_0, n, gp, ngroups, xb, xs, xsum, m, y, ldy); return;
    }
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
    case KVLM_DTYPE_Q4_0:
    case KVLM_DTYPE_Q5_0: {
        int kind = t == KVLM_DTYPE_Q4_0 ? QK_Q4_0 : t == KVLM_DTYPE_Q5_0 ? QK_Q5_0 : QK_Q8_0;
        size_t bb = q32_bytes(kind);
        for (; i < n / 32; i++, b += bb, y += 32) {
            __m256 d = _mm256_set1_ps(f16s(b));
            __m256i q = q32_unpack(kind, b);
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
    case KVLM_DTYPE_Q4_K:
    case KVLM_DTYPE_Q5_K: {
        bool five = t == KVLM_DTYPE_Q5_K;
        const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
        for (; i < n / 256; i++, b += five ? KVLM_Q5_K_BYTES : KVLM_Q4_K_BYTES) {
            float d = f16s(b), dmin = f16s(b + 2);
            uint8_t sc[8], mn[8];
            k_scales_mins(b + 4, sc, mn);
            __m256i qh = five ? ld256(b + 16) : _mm256_setzero_si256();
            for (int jj = 0; jj < 4; jj++) {
                __m256i qv = ld256(b + (five ? 48 : 16) + 32 * jj);
                __m256i q2[2] = {_mm256_and_si256(qv, m4), _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4)};
                for (int h = 0; h < 2; h++) {
                    int j = 2 * jj + h;
                    if (five)
                        q2[h] = _mm256_or_si256(q2[h], _mm256_slli_epi16(
                                    _mm256_and_si256(_mm256_srli_epi16(qh, j), one), 4));
                    /* as the reference: (d*sc)*q - dmin*m, no fused multiply-add */
                    __m256 vd = _mm256_set1_ps(d * sc[j]), vm = _mm256_set1_ps(dmin * mn[j]);
                    for (int k = 0; k < 4; k++) {
                        __m128i q8 = k < 2 ? _mm256_castsi256_si128(q2[h]) : _mm256_extracti128_si256(q2[h], 1);
                        if (k & 1)
                            q8 = _mm_srli_si128(q8, 8);
                        __m256 qf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q8));
                        _mm256_storeu_ps(y + 32 * j + 8 * k, _mm256_sub_ps(_mm256_mul_ps(vd, qf), vm));
                    }
                }
            }
            y += 256;
        }
        return;
    }
    case KVLM_DTYPE_Q6_K: {
        const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3), c32 = _mm256_set1_epi8(32);
        for (; i < n / 256; i++, b += KVLM_Q6_K_BYTES, y += 256) {
            float d = f16s(b + 208);
            const int8_t *sc = (const int8_t *)(b + 192);
            for (int h = 0; h < 2; h++) {
                for (int k = 0; k < 4; k++) {
                    __m256i lo = ld256(b + 64 * h + 32 * (k & 1));
                    lo = (k < 2) ? _mm256_and_si256(lo, m4) : _mm256_and_si256(_mm256_srli_epi16(lo, 4), m4);
                    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(ld256(b + 128 + 32 * h), 2 * k), m3);
                    __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), c32);
                    int e0 = 128 * h + 32 * k; /* first element of these 32 */
                    for (int kk = 0; kk < 4; kk++) {
                        __m128i q8 = kk < 2 ? _mm256_castsi256_si128(q) : _mm256_extracti128_si256(q, 1);
                        if (kk & 1)
                            q8 = _mm_srli_si128(q8, 8);
                        int e = e0 + 8 * kk;
                        __m256 ds = _mm256_set1_ps(d * (float)sc[e / 16]);
                        __m256 qf = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
                        _mm256_storeu_ps(y + e, _mm256_mul_ps(ds, qf));
                    }
                }
            }
        }
        return;
    }
    default:
        kvlm_ref_dequantize_row(t, src, y, n);
        return;
    }
}

/* ---- xb16_dot: the BF16 matmul (AVX-512 BF16) --------------------------------
 * One zmm accumulator holds 16 weight rows (a group) against one activation
 * row; each vdpbf16ps adds pair p of the 16 rows times the row's pair p
 * (one 32-bit word, broadcast): lane r runs row r's chain in pair order,
 * which is the reference's (kernels.h). Tiles of G groups x R activation
 * rows share every load; the weights of a tile's groups are prefetched
 * XB16_PF bytes ahead (one stream per group, for decode). */
#if defined(__AVX512BF16__)
#define XB16_PF 2048
#define XB16_G1 8 /* groups per tile for one activation row (decode): 8 read streams */
ALWAYS_INLINE void xb16_tile(const int G, const int R, int64_t np, const uint8_t *w, size_t gs, const uint8_t *x,
                             size_t xs, float *y, int64_t ldy, int64_t ncols)
{
    __m512 acc[XB16_G1][8];
    UNROLL
    for (int g = 0; g < G; g++)
        UNROLL
        for (int r = 0; r < R; r++)
            acc[g][r] = _mm512_setzero_ps();
    for (int64_t p = 0; p < np; p++) {
        __m512bh wv[XB16_G1];
        UNROLL
        for (int g = 0; g < G; g++) {
            _mm_prefetch((const char *)(w + g * gs + 64 * p + XB16_PF), _MM_HINT_T0);
            wv[g] = (__m512bh)_mm512_loadu_si512(w + g * gs + 64 * p);
        }
        UNROLL
        for (int r = 0; r < R; r++) {
            __m512bh xv = (__m512bh)_mm512_set1_epi32((int)kvlm_ld_u32(x + r * xs + 4 * p));
            UNROLL
            for (int g = 0; g < G; g++)
                acc[g][r] = _mm512_dpbf16_ps(acc[g][r], wv[g], xv);
        }
    }
    UNROLL
    for (int g = 0; g < G; g++) {
        int64_t left = ncols - 16 * g;
        __mmask16 k = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        UNROLL
        for (int r = 0; r < R; r++)
            _mm512_mask_storeu_ps(y + r * ldy + 16 * g, k, acc[g][r]);
    }
}

/* R activation rows against every group, 3 groups per tile (one row: 8) */
ALWAYS_INLINE void xb16_rows(const int R, int64_t np, const uint8_t *w, int64_t ngroups, const uint8_t *x,
                             size_t xs, float *y, int64_t ldy, int64_t ncols)
{
    const size_t gs = (size_t)np * 64;
    int64_t g = 0;
    if (R == 1)
        for (; g + XB16_G1 <= ngroups; g += XB16_G1)
            xb16_tile(XB16_G1, 1, np, w + g * gs, gs, x, xs, y + 16 * g, ldy, ncols - 16 * g);
    for (; g + 3 <= ngroups; g += 3)
        xb16_tile(3, R, np, w + g * gs, gs, x, xs, y + 16 * g, ldy, ncols - 16 * g);
    if (ngroups - g == 2)
        xb16_tile(2, R, np, w + g * gs, gs, x, xs, y + 16 * g, ldy, ncols - 16 * g);
    else if (ngroups - g == 1)
        xb16_tile(1, R, np, w + g * gs, gs, x, xs, y + 16 * g, ldy, ncols - 16 * g);
}

static void simd_xb16_dot(int64_t n, const void *groups, int64_t ngroups, const void *x, size_t xs, int64_t m,
                          float *y, int64_t ldy, int64_t ncols)
{
    const uint8_t *xq = x;
    int64_t c = 0, np = n / 2;
    for (; c + 8 <= m; c += 8)
        xb16_rows(8, np, groups, ngroups, xq + c * xs, xs, y + c * ldy, ldy, ncols);
    if (m - c >= 4) {
        xb16_rows(4, np, groups, ngroups, xq + c * xs, xs, y + c * ldy, ldy, ncols);
        c += 4;
    }
    if (m - c >= 2) {
        xb16_rows(2, np, groups, ngroups, xq + c * xs, xs, y + c * ldy, ldy, ncols);
        c += 2;
    }
    if (m - c == 1)
        xb16_rows(1, np, groups, ngroups, xq + c * xs, xs, y + c * ldy, ldy, ncols);
}
#define KVLM_SIMD_XB16 simd_xb16_dot
#endif

/* The same chain without AVX-512 BF16 (the AVX2 table, and AVX-512 CPUs
 * without BF16): 8 rows per ymm, half a group; a pair word's odd element
 * is its high half (as f32: the word & 0xFFFF0000), the even one its low
 * half shifted up; each FMA is the reference's fmaf and ftz8 flushes a
 * subnormal result to signed zero (the inputs are never subnormal). About
 * 5 instructions per FMA: for running the mode anywhere, not for speed. */
ALWAYS_INLINE __m256 ftz8(__m256 v)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 tiny = _mm256_cmp_ps(_mm256_andnot_ps(sign, v), _mm256_set1_ps(0x1p-126f), _CMP_LT_OQ);
    return _mm256_andnot_ps(_mm256_andnot_ps(sign, tiny), v); /* where tiny, keep only the sign */
}

ALWAYS_INLINE void xb16e_tile(const int R, int64_t np, const uint8_t *w, const uint8_t *x, size_t xs, float *y,
                              int64_t ldy, int64_t ncols)
{
    const __m256i hi = _mm256_set1_epi32((int)0xFFFF0000u);
    __m256 acc[2][4];
    UNROLL
    for (int h = 0; h < 2; h++)
        UNROLL
        for (int r = 0; r < R; r++)
            acc[h][r] = _mm256_setzero_ps();
    for (int64_t p = 0; p < np; p++) {
        __m256 w1[2], w0[2];
        UNROLL
        for (int h = 0; h < 2; h++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(w + 64 * p + 32 * h));
            w1[h] = _mm256_castsi256_ps(_mm256_and_si256(v, hi));
            w0[h] = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        }
        UNROLL
        for (int r = 0; r < R; r++) {
            __m256i xv = _mm256_set1_epi32((int)kvlm_ld_u32(x + r * xs + 4 * p));
            __m256 x1 = _mm256_castsi256_ps(_mm256_and_si256(xv, hi));
            __m256 x0 = _mm256_castsi256_ps(_mm256_slli_epi32(xv, 16));
            UNROLL
            for (int h = 0; h < 2; h++) {
                acc[h][r] = ftz8(_mm256_fmadd_ps(w1[h], x1, acc[h][r]));
                acc[h][r] = ftz8(_mm256_fmadd_ps(w0[h], x0, acc[h][r]));
            }
        }
    }
    UNROLL
    for (int h = 0; h < 2; h++) {
        int64_t left = ncols - 8 * h;
        UNROLL
        for (int r = 0; r < R; r++) {
            if (left >= 8) {
                _mm256_storeu_ps(y + r * ldy + 8 * h, acc[h][r]);
            } else if (left > 0) {
                float b[8];
                _mm256_storeu_ps(b, acc[h][r]);
                memcpy(y + r * ldy + 8 * h, b, (size_t)left * sizeof(float));
            }
        }
    }
}

static void simd_xb16e_dot(int64_t n, const void *groups, int64_t ngroups, const void *x, size_t xs, int64_t m,
                           float *y, int64_t ldy, int64_t ncols)
{
    const uint8_t *xq = x;
    const int64_t np = n / 2;
    for (int64_t g = 0; g < ngroups; g++) {
        const uint8_t *w = (const uint8_t *)groups + (size_t)g * (size_t)np * 64;
        int64_t c = 0;
        for (; c + 4 <= m; c += 4)
            xb16e_tile(4, np, w, xq + c * xs, xs, y + c * ldy + 16 * g, ldy, ncols - 16 * g);
        for (; c < m; c++)
            xb16e_tile(1, np, w, xq + c * xs, xs, y + c * ldy + 16 * g, ldy, ncols - 16 * g);
    }
}
#ifndef KVLM_SIMD_XB16
#define KVLM_SIMD_XB16 simd_xb16e_dot
#endif

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

/* ---- attention over consecutive KV rows -------------------------------------
 * dot_rows for float KV types, 8 rows at a time: 8 accumulators run the
 * exact FMA chain of dotf_rows(1, 1) and are then reduced together by a
 * transpose whose per-row tree is hsum8's: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7))
 * (IEEE addition is commutative, so operand order inside a pair does not
 * matter). Rows past a multiple of 8 and n % 8 != 0 use dot_rows(1, 1)
 * itself. The AVX-512 build takes the queries in fours, two per zmm
 * (dot_rows_z), and reduces both halves of a zmm at once (hsum8x8z).
 * mad_rows keeps 4 registers of y per query in registers across the rows,
 * for several queries at once (mad_tile: 4 in zmm, 2 in ymm), so a row is
 * loaded once for all of them and the FMAs of different queries overlap;
 * each element still gets fma(a[j], v_j, y) for j in order, as vec_mad. */

ALWAYS_INLINE __m256 hsum8x8(const __m256 v[8])
{
    __m256 s[4];
    for (int k = 0; k < 4; k++) /* rows k and k+4: lanes l0+l4 .. l3+l7 of each */
        s[k] = _mm256_add_ps(_mm256_permute2f128_ps(v[k], v[k + 4], 0x20),
                             _mm256_permute2f128_ps(v[k], v[k + 4], 0x31));
    /* s[k] = [r_k: a0 a1 a2 a3 | r_k+4: a0 a1 a2 a3] with a_i = l_i + l_i+4 */
    __m256 t01 = _mm256_add_ps(_mm256_unpacklo_ps(s[0], s[1]), _mm256_unpackhi_ps(s[0], s[1]));
    __m256 t23 = _mm256_add_ps(_mm256_unpacklo_ps(s[2], s[3]), _mm256_unpackhi_ps(s[2], s[3]));
    /* t01 = [r0: a0+a2, r1: a0+a2, r0: a1+a3, r1: a1+a3 | rows 4, 5 likewise] */
    __m256 lo = _mm256_shuffle_ps(t01, t23, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 hi = _mm256_shuffle_ps(t01, t23, _MM_SHUFFLE(3, 2, 3, 2));
    return _mm256_add_ps(lo, hi); /* [r0 r1 r2 r3 | r4 r5 r6 r7] */
}

/* one query: out[j] = vec_dot(row j, x) */
static void dot_rows1(kvlm_dtype t, int64_t n, const uint8_t *r, size_t stride, int nr, const void *x, float *out)
{
    int j = 0;
    if ((t == KVLM_DTYPE_F32 || t == KVLM_DTYPE_F16 || t == KVLM_DTYPE_BF16) && n % 8 == 0) {
        const float *xf = x;
        for (; j + 8 <= nr; j += 8) {
            __m256 acc[8];
            UNROLL
            for (int k = 0; k < 8; k++)
                acc[k] = _mm256_setzero_ps();
            for (int64_t i = 0; i < n; i += 8) {
                __m256 xv = _mm256_loadu_ps(xf + i);
                UNROLL
                for (int k = 0; k < 8; k++)
                    acc[k] = _mm256_fmadd_ps(load8(t, r + (size_t)(j + k) * stride, i), xv, acc[k]);
            }
            _mm256_storeu_ps(out + j, hsum8x8(acc));
        }
    }
    for (; j < nr; j++)
        out[j] = simd_vec_dot(t, n, r + (size_t)j * stride, x);
}

#ifdef __AVX512F__
/* hsum8x8 of two queries' accumulators at once: lanes 0-7 of v[k] are row
 * k's 8 lane sums against query a, lanes 8-15 against query b. Every row
 * gets hsum8x8's additions in its order; the 128-bit quarters are only
 * arranged differently until the last shuffle. Returns [a: r0..r7 | b: r0..r7]. */
ALWAYS_INLINE __m512 hsum8x8z(const __m512 v[8])
{
    __m512 s[4];
    UNROLL
    for (int k = 0; k < 4; k++) /* quarters [a row k, b row k, a row k+4, b row k+4], l_i + l_i+4 */
        s[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[k], v[k + 4], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(v[k], v[k + 4], _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 t01 = _mm512_add_ps(_mm512_unpacklo_ps(s[0], s[1]), _mm512_unpackhi_ps(s[0], s[1]));
    __m512 t23 = _mm512_add_ps(_mm512_unpacklo_ps(s[2], s[3]), _mm512_unpackhi_ps(s[2], s[3]));
    __m512 lo = _mm512_shuffle_ps(t01, t23, _MM_SHUFFLE(1, 0, 1, 0));
    __m512 hi = _mm512_shuffle_ps(t01, t23, _MM_SHUFFLE(3, 2, 3, 2));
    __m512 r = _mm512_add_ps(lo, hi); /* [a r0-3, b r0-3, a r4-7, b r4-7] */
    return _mm512_shuffle_f32x4(r, r, _MM_SHUFFLE(3, 1, 2, 0));
}

/* 2P queries (x + q*xs; F32) against nr rows, 8 at a time: in acc[k][p]
 * lanes 0-7 run row k's 8-lane chain against query 2p, lanes 8-15 against
 * query 2p+1 - dot_rows1's chains and, through hsum8x8z, its reduction -
 * so each 512-bit FMA does two of its FMAs and every row is loaded once for
 * all 2P queries. Rows past a multiple of 8 go through vec_dot. */
ALWAYS_INLINE void dot_rows_z(const int P, kvlm_dtype t, int64_t n, const uint8_t *r, size_t stride, int nr,
                              const uint8_t *x, size_t xs, float *out, size_t ldo)
{
    int j = 0;
    for (; j + 8 <= nr; j += 8) {
        __m512 acc[8][2];
        UNROLL
        for (int k = 0; k < 8; k++)
            UNROLL
            for (int p = 0; p < P; p++)
                acc[k][p] = _mm512_setzero_ps();
        for (int64_t i = 0; i < n; i += 8) {
            __m512 xv[2];
            UNROLL
            for (int p = 0; p < P; p++)
                xv[p] = ld2f(x + 2 * p * xs + 4 * i, xs);
            UNROLL
            for (int k = 0; k < 8; k++) {
                __m512 w = load8x2(t, r + (size_t)(j + k) * stride, i);
                UNROLL
                for (int p = 0; p < P; p++)
                    acc[k][p] = _mm512_fmadd_ps(w, xv[p], acc[k][p]);
            }
        }
        UNROLL
        for (int p = 0; p < P; p++) {
            __m512 v[8];
            UNROLL
            for (int k = 0; k < 8; k++)
                v[k] = acc[k][p];
            __m512 sum = hsum8x8z(v);
            _mm256_storeu_ps(out + 2 * p * ldo + j, _mm512_castps512_ps256(sum));
            _mm256_storeu_ps(out + (2 * p + 1) * ldo + j, _mm512_extractf32x8_ps(sum, 1));
        }
    }
    for (; j < nr; j++)
        for (int q = 0; q < 2 * P; q++)
            out[q * ldo + j] = simd_vec_dot(t, n, r + (size_t)j * stride, x + q * xs);
}
#endif

static void simd_dot_rows(kvlm_dtype t, int64_t n, const void *rows, size_t stride, int nr, const void *x,
                          size_t xs, int nx, float *out, size_t ldo)
{
    const uint8_t *r = rows, *xq = x;
    int q = 0;
#ifdef __AVX512F__
    if ((t == KVLM_DTYPE_F32 || t == KVLM_DTYPE_F16 || t == KVLM_DTYPE_BF16) && n % 8 == 0) {
        for (; q + 4 <= nx; q += 4)
            dot_rows_z(2, t, n, r, stride, nr, xq + q * xs, xs, out + q * ldo, ldo);
        if (q + 2 <= nx) {
            dot_rows_z(1, t, n, r, stride, nr, xq + q * xs, xs, out + q * ldo, ldo);
            q += 2;
        }
    }
#endif
    for (; q < nx; q++)
        dot_rows1(t, n, r, stride, nr, xq + q * xs, out + q * ldo);
}

/* one query's y[i0..n) as the one-row vec_mad sequence, 32, 8 and 1
 * elements at a time (each element's chain is the same at any width) */
static void mad_rows1(kvlm_dtype t, int64_t n, int64_t i, const uint8_t *r, size_t stride, int nr,
                      const float *a, float *y)
{
    for (; i + 32 <= n; i += 32) {
        __m256 acc[4];
        UNROLL
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_loadu_ps(y + i + 8 * k);
        for (int j = 0; j < nr; j++) {
            __m256 va = _mm256_set1_ps(a[j]);
            UNROLL
            for (int k = 0; k < 4; k++)
                acc[k] = _mm256_fmadd_ps(va, load8(t, r + (size_t)j * stride, i + 8 * k), acc[k]);
        }
        UNROLL
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(y + i + 8 * k, acc[k]);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 acc = _mm256_loadu_ps(y + i);
        for (int j = 0; j < nr; j++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(a[j]), load8(t, r + (size_t)j * stride, i), acc);
        _mm256_storeu_ps(y + i, acc);
    }
    for (; i < n; i++)
        for (int j = 0; j < nr; j++)
            y[i] = fmaf(a[j], load1(t, r + (size_t)j * stride, i), y[i]);
}

/* Q queries' y[i..i+MAD_W) kept in registers across the rows: each row's
 * MAD_W elements are loaded (and converted) once for all Q, and the Q x 4
 * accumulators are independent chains, so the FMAs are not held up by
 * their latency as one query's 4 were. */
#ifdef __AVX512F__
#define MAD_W 64
#define MAD_Q 4
typedef __m512 mad_vec;
#define MAD_LOAD(t, w, i) load16(t, w, i)
#define MAD_LDU _mm512_loadu_ps
#define MAD_STU _mm512_storeu_ps
#define MAD_SET1 _mm512_set1_ps
#define MAD_FMA _mm512_fmadd_ps
#else
#define MAD_W 32
#define MAD_Q 2 /* 16 ymm registers: 8 accumulators, 4 rows, the weight */
typedef __m256 mad_vec;
#define MAD_LOAD(t, w, i) load8(t, w, i)
#define MAD_LDU _mm256_loadu_ps
#define MAD_STU _mm256_storeu_ps
#define MAD_SET1 _mm256_set1_ps
#define MAD_FMA _mm256_fmadd_ps
#endif

ALWAYS_INLINE void mad_tile(const int Q, kvlm_dtype t, int64_t i, const uint8_t *r, size_t stride, int nr,
                            const float *a, size_t as, float *y, size_t ldy)
{
    enum { L = MAD_W / 4 }; /* floats per register */
    mad_vec acc[MAD_Q][4];
    UNROLL
    for (int q = 0; q < Q; q++)
        UNROLL
        for (int k = 0; k < 4; k++)
            acc[q][k] = MAD_LDU(y + q * ldy + i + L * k);
    for (int j = 0; j < nr; j++) {
        mad_vec v[4];
        UNROLL
        for (int k = 0; k < 4; k++)
            v[k] = MAD_LOAD(t, r + (size_t)j * stride, i + L * k);
        UNROLL
        for (int q = 0; q < Q; q++) {
            mad_vec va = MAD_SET1(a[q * as + j]);
            UNROLL
            for (int k = 0; k < 4; k++)
                acc[q][k] = MAD_FMA(va, v[k], acc[q][k]);
        }
    }
    UNROLL
    for (int q = 0; q < Q; q++)
        UNROLL
        for (int k = 0; k < 4; k++)
            MAD_STU(y + q * ldy + i + L * k, acc[q][k]);
}

static void simd_mad_rows(kvlm_dtype t, int64_t n, const void *rows, size_t stride, int nr,
                          const float *a, size_t as, int na, float *y, size_t ldy)
{
    const uint8_t *r = rows;
    if (t != KVLM_DTYPE_F32 && t != KVLM_DTYPE_F16 && t != KVLM_DTYPE_BF16) {
        for (int q = 0; q < na; q++)
            for (int j = 0; j < nr; j++)
                simd_vec_mad(t, n, r + (size_t)j * stride, a[q * as + j], y + q * ldy);
        return;
    }
    const int64_t nw = n - n % MAD_W;
    for (int64_t i = 0; i < nw; i += MAD_W) {
        int q = 0;
        for (; q + MAD_Q <= na; q += MAD_Q)
            mad_tile(MAD_Q, t, i, r, stride, nr, a + q * as, as, y + q * ldy, ldy);
        switch (na - q) {
#if MAD_Q > 3
        case 3: mad_tile(3, t, i, r, stride, nr, a + q * as, as, y + q * ldy, ldy); break;
        case 2: mad_tile(2, t, i, r, stride, nr, a + q * as, as, y + q * ldy, ldy); break;
#endif
        case 1: mad_tile(1, t, i, r, stride, nr, a + q * as, as, y + q * ldy, ldy); break;
        default: break;
        }
    }
    if (nw < n)
        for (int q = 0; q < na; q++)
            mad_rows1(t, n, nw, r, stride, nr, a + q * as, y + q * ldy);
}

/* ---- row ops ---------------------------------------------------------------- */

/* e^x for 8 (exp8) or 16 floats (exp16): x clamped to [-87.33, 88] (NaN stays NaN: the clamps
 * take x as the second operand, which min/max return when either is NaN);
 * x = n*ln2 + r with |r| <= ln2/2 (ln2 split in two for an exact first
 * step); e^r by the classic degree-7 single-precision minimax polynomial;
 * times 2^n built in the exponent field. Within 2 ulp of e^x on the
 * clamped range (test_kernels checks against double precision). */
#define DEF_EXP(NAME, V, VI, P, ROUND, CASTI)                                                   \
    ALWAYS_INLINE V NAME(V x)                                                                   \
    {                                                                                           \
        x = P##_min_ps(P##_set1_ps(88.0f), x);                                                  \
        x = P##_max_ps(P##_set1_ps(-87.33654f), x);                                             \
        V n = ROUND(P##_mul_ps(x, P##_set1_ps(1.44269504088896341f)),                           \
                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);                             \
        V r = P##_fnmadd_ps(n, P##_set1_ps(0.693359375f), x);                                   \
        r = P##_fnmadd_ps(n, P##_set1_ps(-2.12194440e-4f), r);                                  \
        V p = P##_set1_ps(1.9875691500e-4f);                                                    \
        p = P##_fmadd_ps(p, r, P##_set1_ps(1.3981999507e-3f));                                  \
        p = P##_fmadd_ps(p, r, P##_set1_ps(8.3334519073e-3f));                                  \
        p = P##_fmadd_ps(p, r, P##_set1_ps(4.1665795894e-2f));                                  \
        p = P##_fmadd_ps(p, r, P##_set1_ps(1.6666665459e-1f));                                  \
        p = P##_fmadd_ps(p, r, P##_set1_ps(5.0000001201e-1f));                                  \
        p = P##_fmadd_ps(p, P##_mul_ps(r, r), r);                                               \
        p = P##_add_ps(p, P##_set1_ps(1.0f));                                                   \
        VI e = P##_slli_epi32(P##_add_epi32(P##_cvtps_epi32(n), P##_set1_epi32(127)), 23);      \
        return P##_mul_ps(p, CASTI(e));                                                         \
    }

DEF_EXP(exp8, __m256, __m256i, _mm256, _mm256_round_ps, _mm256_castsi256_ps)
#ifdef __AVX512F__
/* the same operations on 16 lanes: the same bits per element */
DEF_EXP(exp16, __m512, __m512i, _mm512, _mm512_roundscale_ps, _mm512_castsi512_ps)
#endif

/* y = silu(g) * u = g / (1 + e^-g) * u, 8 elements */
ALWAYS_INLINE __m256 swiglu8(__m256 g, __m256 u)
{
    __m256 den = _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), g)));
    return _mm256_mul_ps(_mm256_div_ps(g, den), u);
}

/* gelu_tanh(v) = 0.5 v (1 + tanh(t)) = v / (1 + e^(-2t)), t = sqrt(2/pi) (v + 0.044715 v^3):
 * the same function without tanh's cancellation near 0 */
ALWAYS_INLINE __m256 gelu8(__m256 v)
{
    __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
    __m256 t = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                             _mm256_add_ps(v, _mm256_mul_ps(_mm256_set1_ps(0.044715f), v3)));
    __m256 den = _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_mul_ps(_mm256_set1_ps(-2.0f), t)));
    return _mm256_div_ps(v, den);
}

/* Every element, the tail included (through an 8-float buffer), goes
 * through the same vector function, so an element's value does not depend
 * on its position in the row. */
static void simd_swiglu(int64_t n, const float *g, const float *u, float *y)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, swiglu8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) {
        float gb[8] = {0}, ub[8] = {0}, yb[8];
        memcpy(gb, g + i, (size_t)(n - i) * 4);
        memcpy(ub, u + i, (size_t)(n - i) * 4);
        _mm256_storeu_ps(yb, swiglu8(_mm256_loadu_ps(gb), _mm256_loadu_ps(ub)));
        memcpy(y + i, yb, (size_t)(n - i) * 4);
    }
}

/* softmax: scale and max (exact in any order), then e^(x - max) through
 * exp8 with 8 lane sums (the tail's padding lanes masked to 0) reduced by
 * hsum8, then one multiply by 1/sum; the same operations for a given n
 * whatever the row's neighbours. The AVX-512 build runs exp16 on 16
 * elements and adds its low, then its high 8 lanes to the 8 sums: the
 * sums' order and every element's bits are the 8-wide ones. */
static void simd_softmax(int64_t n, float *x, float s)
{
    const __m256 vs = _mm256_set1_ps(s);
    __m256 vmx = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
#ifdef __AVX512F__
    __m512 zmx = _mm512_set1_ps(-INFINITY);
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + i), _mm512_set1_ps(s));
        _mm512_storeu_ps(x + i, v);
        zmx = _mm512_max_ps(zmx, v);
    }
    vmx = _mm256_max_ps(_mm512_castps512_ps256(zmx), _mm512_extractf32x8_ps(zmx, 1));
#endif
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
        _mm256_storeu_ps(x + i, v);
        vmx = _mm256_max_ps(vmx, v);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmx), _mm256_extractf128_ps(vmx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    float mx = _mm_cvtss_f32(m4);
    for (int64_t j = i; j < n; j++) {
        x[j] *= s;
        mx = x[j] > mx ? x[j] : mx;
    }
    const __m256 vm = _mm256_set1_ps(mx);
    __m256 acc = _mm256_setzero_ps();
    i = 0;
#ifdef __AVX512F__
    for (; i + 16 <= n; i += 16) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), _mm512_set1_ps(mx)));
        _mm512_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, _mm512_castps512_ps256(e));
        acc = _mm256_add_ps(acc, _mm512_extractf32x8_ps(e, 1));
    }
#endif
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (i < n) {
        float b[8] = {0};
        memcpy(b, x + i, (size_t)(n - i) * 4);
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(b), vm));
        __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), lane));
        e = _mm256_and_ps(e, keep);
        _mm256_storeu_ps(b, e);
        memcpy(x + i, b, (size_t)(n - i) * 4);
        acc = _mm256_add_ps(acc, e);
    }
    const __m256 inv = _mm256_set1_ps(1.0f / hsum8(acc));
    i = 0;
#ifdef __AVX512F__
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), _mm512_set1_ps(_mm256_cvtss_f32(inv))));
#endif
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++)
        x[i] *= _mm256_cvtss_f32(inv);
}

static void simd_gelu(int64_t n, const float *x, float *y)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, gelu8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float xb[8] = {0}, yb[8];
        memcpy(xb, x + i, (size_t)(n - i) * 4);
        _mm256_storeu_ps(yb, gelu8(_mm256_loadu_ps(xb)));
        memcpy(y + i, yb, (size_t)(n - i) * 4);
    }
}

static void simd_add(int64_t n, const float *x, float *y)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] += x[i];
}

#define KVLM_SIMD_TABLE(tbl_name, isa_val, name_str, xb16) \
    static const kvlm_kernel_ops tbl_name = {         \
        .isa = isa_val,                               \
        .name = name_str,                             \
        .xb16_dot = xb16,                             \
        .dequantize_row = simd_dequantize_row,        \
        .quantize_row = simd_quantize_row,            \
        .vec_dot = simd_vec_dot,                      \
        .vec_dot4 = simd_vec_dot4,                    \
        .vec_dot8 = simd_vec_dot8,                    \
        .vec_dot4x2 = simd_vec_dot4x2,                \
        .panel_dot = simd_panel_dot,                  \
        .x8_dot = simd_x8_dot,                        \
        .vec_mad = simd_vec_mad,                      \
        .dot_rows = simd_dot_rows,                    \
        .mad_rows = simd_mad_rows,                    \
        .rmsnorm = kvlm_ref_rmsnorm,                  \
        .layernorm = kvlm_ref_layernorm,              \
        .swiglu = simd_swiglu,                        \
        .gelu = simd_gelu,                            \
        .add = simd_add,                              \
        .softmax = simd_softmax,                      \
    }

#endif /* KVLM_SIMD_BODY_H */
