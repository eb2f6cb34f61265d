/*
 * kernels_avx2.c - the AVX2 + FMA + F16C kernel table (x86-64-v3 CPUs).
 *
 * Compiled with -mavx2 -mfma -mf16c; only called after kvlm_kernels_get()
 * has checked the CPU (dispatch.c). The bodies live in simd_body.h; this
 * file supplies the int8 dot primitive: vpmaddubsw (u8 x s8 -> pairs of
 * int16, which cannot saturate for |u8| <= 128, |s8| <= 127) then vpmaddwd
 * against 1 (or the sub-block scales) -> exact int32.
 */
#include <immintrin.h>

#include "kernels/kernels_impl.h"

static inline __attribute__((always_inline)) __m256i dot4(__m256i u8, __m256i s8)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u8, s8), _mm256_set1_epi16(1));
}

static inline __attribute__((always_inline)) __m256i dot4_sc(__m256i u8, __m256i s8, int scA, int scB)
{
    __m256i sc = _mm256_set_m128i(_mm_set1_epi16((short)scB), _mm_set1_epi16((short)scA));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u8, s8), sc);
}

#include "kernels/x86/simd_body.h"

KVLM_SIMD_TABLE(avx2_ops, KVLM_ISA_AVX2, "avx2", simd_xb16e_dot);

const kvlm_kernel_ops *kvlm_kernels_avx2(void) { return &avx2_ops; }
