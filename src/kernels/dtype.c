/*
 * dtype.c - element type traits and the scalar f16/bf16 conversions.
 *
 * The conversions are exact IEEE round-to-nearest-even with denormals,
 * infinities and NaN handled; SIMD code (F16C, integer bf16 rounding)
 * produces the same bits, which test_kernels checks.
 */
#include <math.h>
#include <string.h>

#include "kernels/kernels_impl.h"

static const kvlm_dtype_traits T_F32 = {"f32", 1, 4, KVLM_DTYPE_F32, true};
static const kvlm_dtype_traits T_F16 = {"f16", 1, 2, KVLM_DTYPE_F32, true};
static const kvlm_dtype_traits T_BF16 = {"bf16", 1, 2, KVLM_DTYPE_F32, true};
static const kvlm_dtype_traits T_Q4_0 = {"q4_0", 32, KVLM_Q4_0_BYTES, KVLM_DTYPE_Q8_0, true};
static const kvlm_dtype_traits T_Q5_0 = {"q5_0", 32, KVLM_Q5_0_BYTES, KVLM_DTYPE_Q8_0, true};
static const kvlm_dtype_traits T_Q8_0 = {"q8_0", 32, KVLM_Q8_0_BYTES, KVLM_DTYPE_Q8_0, true};
static const kvlm_dtype_traits T_Q4_K = {"q4_K", 256, KVLM_Q4_K_BYTES, KVLM_DTYPE_Q8_K, true};
static const kvlm_dtype_traits T_Q5_K = {"q5_K", 256, KVLM_Q5_K_BYTES, KVLM_DTYPE_Q8_K, true};
static const kvlm_dtype_traits T_Q6_K = {"q6_K", 256, KVLM_Q6_K_BYTES, KVLM_DTYPE_Q8_K, true};
static const kvlm_dtype_traits T_Q8_K = {"q8_K", 256, KVLM_Q8_K_BYTES, KVLM_DTYPE_Q8_K, false};

const kvlm_dtype_traits *kvlm_dtype_traits_get(kvlm_dtype t)
{
    switch (t) {
    case KVLM_DTYPE_F32: return &T_F32;
    case KVLM_DTYPE_F16: return &T_F16;
    case KVLM_DTYPE_BF16: return &T_BF16;
    case KVLM_DTYPE_Q4_0: return &T_Q4_0;
    case KVLM_DTYPE_Q5_0: return &T_Q5_0;
    case KVLM_DTYPE_Q8_0: return &T_Q8_0;
    case KVLM_DTYPE_Q4_K: return &T_Q4_K;
    case KVLM_DTYPE_Q5_K: return &T_Q5_K;
    case KVLM_DTYPE_Q6_K: return &T_Q6_K;
    case KVLM_DTYPE_Q8_K: return &T_Q8_K;
    }
    return NULL;
}

const char *kvlm_dtype_name(kvlm_dtype t)
{
    const kvlm_dtype_traits *tr = kvlm_dtype_traits_get(t);
    return tr ? tr->name : NULL;
}

size_t kvlm_dtype_row_bytes(kvlm_dtype t, int64_t n)
{
    const kvlm_dtype_traits *tr = kvlm_dtype_traits_get(t);
    if (!tr || n < 0 || n % tr->block_elems != 0)
        return 0;
    return (size_t)(n / tr->block_elems) * tr->block_bytes;
}

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float kvlm_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    if (exp == 0x1F) /* inf / NaN: payload kept */
        return bits_f32(sign | 0x7F800000u | (mant << 13));
    if (exp == 0) {
        if (mant == 0)
            return bits_f32(sign);
        /* denormal: mant * 2^-24, exact in f32 */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t kvlm_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t exp = (u >> 23) & 0xFF, mant = u & 0x7FFFFF;
    if (exp == 0xFF) { /* inf / NaN (quieted, payload truncated, as F16C) */
        if (mant == 0)
            return sign | 0x7C00;
        return (uint16_t)(sign | 0x7E00 | (mant >> 13));
    }
    int e = (int)exp - 127 + 15;
    if (e >= 0x1F)
        return sign | 0x7C00;
    if (e <= 0) { /* f16 denormal or zero */
        if (e < -10)
            return sign; /* below half the smallest denormal: rounds to 0 */
        uint32_t m = mant | 0x800000; /* implicit bit */
        int shift = 14 - e;           /* 24-bit significand -> 10-bit denormal */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1)))
            r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
        r++; /* may carry into the exponent, up to inf: correct */
    return (uint16_t)(sign | r);
}

float kvlm_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t kvlm_f32_to_bf16(float f) { return kvlm_bf16_round_bits(f32_bits(f)); }
