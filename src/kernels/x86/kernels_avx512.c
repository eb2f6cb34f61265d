/*
 * kernels_avx512.c - the AVX-512 (F/BW/VL/DQ + VNNI) kernel table.
 *
 * Compiled with the AVX-512 flags (see CMakeLists.txt); only called after
 * kvlm_kernels_get() has checked the CPU, including VNNI. Bodies are shared
 * with AVX2 (simd_body.h); the int8 dot primitive here is vpdpbusd (u8 x s8,
 * four products summed straight into int32: exact, no int16 stage), and the
 * scaled form multiplies the int32 lanes by the sub-block scales (vpmulld).
 */
#include <immintrin.h>

#include "core/cpu.h"
#include "kernels/kernels_impl.h"

static inline __attribute__((always_inline)) __m256i dot4(__m256i u8, __m256i s8)
{
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u8, s8);
}

static inline __attribute__((always_inline)) __m256i dot4_sc(__m256i u8, __m256i s8, int scA, int scB)
{
    __m256i sc = _mm256_set_m128i(_mm_set1_epi32(scB), _mm_set1_epi32(scA));
    return _mm256_mullo_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), u8, s8), sc);
}

#include "kernels/x86/simd_body.h"

/* Two tables: the BF16 matmul kernel (vdpbf16ps) only where the CPU has
 * AVX-512 BF16 (the file is compiled with it, nothing else here uses it);
 * elsewhere its FMA emulation */
KVLM_SIMD_TABLE(avx512_ops, KVLM_ISA_AVX512, "avx512", simd_xb16e_dot);
KVLM_SIMD_TABLE(avx512bf16_ops, KVLM_ISA_AVX512, "avx512", KVLM_SIMD_XB16);

const kvlm_kernel_ops *kvlm_kernels_avx512(void)
{
    return kvlm_cpu_get()->avx512bf16 ? &avx512bf16_ops : &avx512_ops;
}
