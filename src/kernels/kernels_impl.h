/*
 * kernels_impl.h - internals shared by the kernel files (not part of the
 * kernels API): block byte layouts, unaligned-safe field loads, the scalar
 * building blocks of the reference that SIMD tables reuse.
 *
 * Block layouts (identical to GGUF/ggml; all multi-byte fields little-endian,
 * read with memcpy because rows are only 2-byte aligned in general):
 *   Q8_0 (34 B / 32):  f16 d | int8 qs[32]                    x = d*q
 *   Q4_0 (18 B / 32):  f16 d | u8 qs[16]  elem j<16: qs[j]&15, j>=16: qs[j-16]>>4;
 *                      x = d*(nib-8)
 *   Q5_0 (22 B / 32):  f16 d | u8 qh[4] | u8 qs[16]  low nibble as Q4_0, bit 4 of
 *                      elem j = bit j of qh (little-endian u32); x = d*(q-16)
 *   Q4_K (144 B/256):  f16 d | f16 dmin | u8 scales[12] | u8 qs[128]
 *   Q5_K (176 B/256):  f16 d | f16 dmin | u8 scales[12] | u8 qh[32] | u8 qs[128]
 *   Q6_K (210 B/256):  u8 ql[128] | u8 qh[64] | int8 scales[16] | f16 d
 *   Q8_K (292 B/256):  f32 d | int8 qs[256] | int16 bsums[16]   (activations)
 * K-quant sub-block j (of 8, 32 elements) of Q4_K/Q5_K: 6-bit scale sc_j and
 * min m_j unpacked by kvlm_k_scale_min(); x = d*sc_j*q - dmin*m_j.
 *
 * Activation quantization (shared by every ISA, bit-identical):
 *   Q8_0: d = f16(amax/127); id = d ? 1/d : 0; q = clamp(rint(x*id), +-127)
 *   Q8_K: d = amax/127 (f32);  id = d ? 1/d : 0; q = clamp(rint(x*id), +-127),
 *         bsums[g] = sum of q over elements 16g..16g+15.
 *   rint = round half to even (the default FP rounding mode).
 */
#ifndef KVLM_KERNELS_IMPL_H
#define KVLM_KERNELS_IMPL_H

#include <string.h>

#include "kernels/kernels.h"

#define KVLM_Q8_0_BYTES 34
#define KVLM_Q4_0_BYTES 18
#define KVLM_Q5_0_BYTES 22
#define KVLM_Q4_K_BYTES 144
#define KVLM_Q5_K_BYTES 176
#define KVLM_Q6_K_BYTES 210
#define KVLM_Q8_K_BYTES 292

static inline uint16_t kvlm_ld_u16(const void *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t kvlm_ld_u32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The bits of a float -> BF16: nearest-even, NaN kept (sign and top
 * payload, quieted). kvlm_f32_to_bf16 and the xb16 packing use it. */
static inline uint16_t kvlm_bf16_round_bits(uint32_t u)
{
    if ((u & 0x7FFFFFFF) > 0x7F800000)
        return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

static inline float kvlm_ld_f16(const void *p) { return kvlm_f16_to_f32(kvlm_ld_u16(p)); }

static inline float kvlm_ld_f32(const void *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

/* 6-bit scale and min of sub-block j (0..7) from a Q4_K/Q5_K scales[12]. */
static inline void kvlm_k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Scalar reference entry points (ref/), reused by SIMD tables for the
 * dtypes or ops they do not specialize. */
void kvlm_ref_dequantize_row(kvlm_dtype t, const void *src, float *dst, int64_t n);
void kvlm_ref_quantize_row(kvlm_dtype t, const float *src, void *dst, int64_t n);
float kvlm_ref_vec_dot(kvlm_dtype wt, int64_t n, const void *w, const void *x);
void kvlm_ref_vec_mad(kvlm_dtype t, int64_t n, const void *v, float a, float *y);
void kvlm_ref_rmsnorm(int64_t n, const float *x, const float *w, float eps, float *y);
void kvlm_ref_layernorm(int64_t n, const float *x, const float *w, const float *b,
                        float eps, float *y);
void kvlm_ref_swiglu(int64_t n, const float *g, const float *u, float *y);
void kvlm_ref_gelu(int64_t n, const float *x, float *y);
void kvlm_ref_add(int64_t n, const float *x, float *y);
void kvlm_ref_softmax(int64_t n, float *x, float s);

/* Per-thread scratch (scratch.c): one buffer per slot and thread, at
 * least `bytes`, 64-byte aligned, kept for the thread's later calls;
 * NULL if out of memory. */
typedef enum kvlm_scratch_slot {
    KVLM_SCRATCH_PACK = 0,   /* matmul: row-layout weights packed into x8 groups */
    KVLM_SCRATCH_EXPAND = 1, /* x8_dot: K-quant groups expanded for prefill */
    KVLM_SCRATCH_SLOTS = 2
} kvlm_scratch_slot;
void *kvlm_thread_scratch(kvlm_scratch_slot slot, size_t bytes);

/* Q8_0 / Q8_K scale of a block from its absolute maximum (see above). */
static inline float kvlm_q8_0_scale(float amax, uint16_t *d16)
{
    *d16 = kvlm_f32_to_f16(amax / 127.0f);
    return kvlm_f16_to_f32(*d16);
}

#endif /* KVLM_KERNELS_IMPL_H */
