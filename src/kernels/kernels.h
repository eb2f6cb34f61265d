/*
 * kernels.h - the numeric kernels every forward pass goes through: tensor
 * element types (block layouts as in GGUF), dequantization, activation
 * quantization, dot products, and the row-wise ops of a transformer layer.
 *
 * Each kernel has a scalar reference (src/kernels/ref/) and may have AVX2 and
 * AVX-512 variants (src/kernels/x86/); kvlm_kernels() picks the best one the
 * CPU supports at first use. Tests compare every variant against the
 * reference.
 *
 * Bit-exactness contract (see docs/ARCHITECTURE.md): for a fixed ISA level,
 *   - vec_dot(w_row, x_row) depends only on those two rows and reduces over
 *     the row in one fixed order;
 *   - quantize_act(x_row) depends only on that row;
 *   - every row-wise op depends only on its own row.
 * Therefore a matmul computed element by element (or by any tiling that
 * keeps each element's reduction order) gives the same bits whatever the
 * number of rows in the batch or the number of threads.
 * The block-quantized dot products (every quantized weight type) use the
 * reference's per-row order on every ISA - per block an exact integer sum,
 * then float scaling and a running float sum in block order - so they give
 * the reference's bits; the float types' vec_dot uses 8-lane FMA chains on
 * SIMD ISAs, but kvlm_matmul over F16/BF16 weights computes the
 * reference's single fmaf chain per element on every ISA (x8_dot).
 */
#ifndef KVLM_KERNELS_H
#define KVLM_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "kvlm.h"

/* Block sizes (elements per block) of the block-quantized types. */
#define KVLM_QK4_0 32
#define KVLM_QK8_0 32
#define KVLM_QK_K 256

typedef struct kvlm_dtype_traits {
    const char *name;        /* "f32", "q4_K", ... */
    int block_elems;         /* elements per block (1 for float types) */
    size_t block_bytes;      /* bytes per block */
    kvlm_dtype act_type;     /* the form vec_dot wants the activation row in:
                                F32, Q8_0 or Q8_K */
    bool is_weight_type;     /* may appear as a model weight */
} kvlm_dtype_traits;

/* Traits of t, or NULL if kvlm does not support t. */
const kvlm_dtype_traits *kvlm_dtype_traits_get(kvlm_dtype t);

/* Bytes of a row of n elements of type t; 0 if n is not a multiple of the
 * block size or t unknown. */
size_t kvlm_dtype_row_bytes(kvlm_dtype t, int64_t n);

/* f16 / bf16 <-> f32 scalar conversions (bf16 rounding: nearest-even, NaN kept). */
float kvlm_f16_to_f32(uint16_t h);
uint16_t kvlm_f32_to_f16(float f);
float kvlm_bf16_to_f32(uint16_t h);
uint16_t kvlm_f32_to_bf16(float f);

typedef enum kvlm_isa {
    KVLM_ISA_REF = 0,    /* portable scalar C: the oracle */
    KVLM_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    KVLM_ISA_AVX512 = 2, /* AVX-512 F/BW/VL/DQ + VNNI (int8 dots via vpdpbusd);
                            CPUs without VNNI get the AVX2 level */
} kvlm_isa;

/* Per-ISA kernel table. Function pointers taking a dtype handle every
 * supported weight/KV type; n is a multiple of the type's block size. */
typedef struct kvlm_kernel_ops {
    kvlm_isa isa;
    const char *name;        /* "ref", "avx2", "avx512" */

    /* dst[0..n) = dequantized src row of type t. */
    void (*dequantize_row)(kvlm_dtype t, const void *src, float *dst, int64_t n);

    /* Convert an f32 activation row to act_type (F32: copy, F16, BF16, Q8_0,
     * Q8_K) so that vec_dot can consume it. Also used to store K/V rows.
     * Rounding (identical bits on every ISA for finite inputs; NaN stays
     * NaN for F16/BF16): F16/BF16 nearest-even;
     * Q8_0: d = f16(amax/127), q = rint(clamp(x * (1/d), +-127));
     * Q8_K: d = amax/127 as f32, q likewise, bsums[g] = sum of q[16g..16g+15].
     * rint is round-half-to-even; an all-zero block gets d = 0, q = 0. */
    void (*quantize_row)(kvlm_dtype act_type, const float *src, void *dst, int64_t n);

    /* sum_i w[i] * x[i] over n elements, w of type wt, x of type
     * traits(wt)->act_type as produced by quantize_row. */
    float (*vec_dot)(kvlm_dtype wt, int64_t n, const void *w, const void *x);

    /* out[k] = vec_dot(wt, n, w + k*w_stride, x) for k = 0..3, bit for bit
     * (the same per-element reduction, sharing each load of x). May be NULL;
     * kvlm_matmul then calls vec_dot per element. w: 4 rows, w_stride bytes
     * apart; x: one act row. */
    void (*vec_dot4)(kvlm_dtype wt, int64_t n, const void *w, size_t w_stride,
                     const void *x, float out[4]);
    /* The same for 8 rows (out[k], k = 0..7). May be NULL. */
    void (*vec_dot8)(kvlm_dtype wt, int64_t n, const void *w, size_t w_stride,
                     const void *x, float out[8]);
    /* out[c*4 + k] = vec_dot(wt, n, w + k*w_stride, x + c*x_stride) for
     * k = 0..3, c = 0..1, bit for bit: a 4x2 register tile for batched
     * matmul (each weight load serves two activation rows). May be NULL. */
    void (*vec_dot4x2)(kvlm_dtype wt, int64_t n, const void *w, size_t w_stride,
                       const void *x, size_t x_stride, float out[8]);

    /* F32 weight tiles for batched matmul (may be NULL): y[c*ldy + r] =
     * vec_dot(F32, n, weight row r, x row c) for r < rows, c < m, bit for
     * bit, reading the weight rows in place (ps bytes apart) and the x rows
     * (F32, xs bytes apart). */
    void (*panel_dot)(kvlm_dtype wt, int64_t n, const void *panel, size_t ps, int rows,
                      const void *x, size_t xs, int64_t m, float *y, int64_t ldy);

    /* Interleaved weights (the "x8" layout below; kvlm_x8_type types only):
     * y[c*ldy + 8g + r] = vec_dot(wt, n, weight row 8g+r, x row c) for
     * g < ngroups, r < 8, c < m, bit for bit, reading the weights as x8
     * groups (8 * row_bytes apart) and the x rows (act_type, xs bytes
     * apart); for F16/BF16 the reference's vec_dot (one fmaf chain), on
     * every ISA.
     * xsum[c*(n/32) + b] = sum of the 32 int8 values of block b of x row c
     * (kvlm_x8_block_sums). */
    void (*x8_dot)(kvlm_dtype wt, int64_t n, const void *groups, int64_t ngroups,
                   const void *x, size_t xs, const int32_t *xsum, int64_t m,
                   float *y, int64_t ldy);

    /* F16/BF16 weights in the xb16 layout (below), the opt-in BF16 matmul:
     * y[c*ldy + 16*g + r] = kvlm_ref_xb16_dot's value for row r of group g
     * and activation row c (kvlm_xb16_x rows, xs bytes apart), for
     * 16*g + r < ncols, g < ngroups, c < m; columns from ncols on are not
     * written. AVX-512 BF16 runs vdpbf16ps; the AVX2 table (and AVX-512
     * without BF16) emulates it with FMAs and explicit flushes, slower than
     * the exact mode; the same bits everywhere. */
    void (*xb16_dot)(int64_t n, const void *groups, int64_t ngroups, const void *x, size_t xs,
                     int64_t m, float *y, int64_t ldy, int64_t ncols);

    /* Attention over nr consecutive KV rows (stride bytes apart), bit for
     * bit equal to the one-row kernels: dot_rows sets out[q*ldo + j] =
     * vec_dot(t, n, rows + j*stride, x + q*xs) for nx queries q (the
     * query heads of a KV group, xs bytes apart); mad_rows does, for
     * na queries q, vec_mad(t, n, rows + j*stride, a[q*as + j],
     * y + q*ldy) for j = 0..nr-1 in that order. t is a KV type (F32, F16,
     * BF16, Q8_0); x is in traits(t)->act_type. */
    void (*dot_rows)(kvlm_dtype t, int64_t n, const void *rows, size_t stride, int nr,
                     const void *x, size_t xs, int nx, float *out, size_t ldo);
    void (*mad_rows)(kvlm_dtype t, int64_t n, const void *rows, size_t stride, int nr,
                     const float *a, size_t as, int na, float *y, size_t ldy);

    /* y[0..n) += a * dequant(v) for a row v of type t (F32, F16, BF16, Q8_0):
     * attention's V accumulation. */
    void (*vec_mad)(kvlm_dtype t, int64_t n, const void *v, float a, float *y);

    /* Row-wise ops. All operate on one row of n floats. */
    /* y = x / sqrt(mean(x^2) + eps) * w            (w may be NULL: no scale) */
    void (*rmsnorm)(int64_t n, const float *x, const float *w, float eps, float *y);
    /* y = (x - mean) / sqrt(var + eps) * w + b     (biased variance) */
    void (*layernorm)(int64_t n, const float *x, const float *w, const float *b,
                      float eps, float *y);
    /* y[i] = silu(g[i]) * u[i] */
    void (*swiglu)(int64_t n, const float *g, const float *u, float *y);
    /* y[i] = gelu_tanh(x[i]) (the GPT-2 "gelu_new" approximation) */
    void (*gelu)(int64_t n, const float *x, float *y);
    /* y[i] += x[i] */
    void (*add)(int64_t n, const float *x, float *y);
    /* x[i] = e^(s*x[i] - m) / sum_j e^(s*x[j] - m), m = max_j s*x[j]: the
     * attention softmax over one row of scores (n >= 1) */
    void (*softmax)(int64_t n, float *x, float s);
} kvlm_kernel_ops;

/* Best kernels for this CPU (selected once; thread-safe). The environment
 * variable KVLM_ISA=ref|avx2|avx512 lowers the choice, for testing. */
const kvlm_kernel_ops *kvlm_kernels(void);
/* Kernels of one ISA level, or NULL if this CPU or build lacks it. */
const kvlm_kernel_ops *kvlm_kernels_get(kvlm_isa isa);

/* ---------------------------------------------------------------------------
 * The x8 weight layout (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K, F16, BF16): 8 weight rows interleaved so
 * that one 32-byte load holds 4 consecutive quants of each of the 8 rows. Kernels then
 * keep one row per 32-bit lane and never reduce across lanes: a block's int8
 * products for 8 rows are summed by vertical adds, scaled by the 8 rows'
 * scales with one vector multiply, and accumulated per lane.
 *
 * A group is 8 rows; its block b (8 * block_bytes bytes, at b * 8 *
 * block_bytes) holds
 *   bytes [0, 16): the 8 rows' f16 scales d, row 0 first;
 *   Q8_0: byte 16 + 32k + 4r + j = q of row r, element 4k + j (k < 8, j < 4);
 *   Q4_0: byte 16 + 32h + 4r + j = byte qs[4h + j] of row r (h < 4, j < 4),
 *         whose low nibble is element 4h + j and high nibble 4h + j + 16;
 *   Q5_0: bytes 16 + 4r + [0, 4) = qh of row r, then its qs as Q4_0's at 48.
 * In general (x8.c): a row block's f16 header fields (d; Q4_K: d, dmin; Q6_K:
 * its d, which sits at the block's end; Q5_K as Q4_K) go to arrays of 8 at 16f, and the
 * rest of the block, 4-byte word w, to 16H + 32w + 4r (H header fields):
 * Q4_K: 3 words of packed scales, then 32 of quants; Q6_K: ql (32 words),
 * qh (16), scales (4). F16/BF16: byte 16k + 2r = element k of row r (one
 * 16-byte load per element of 8 rows); their x8_dot takes F32 x rows.
 * A weight of n_out rows in x8 form holds n_out / 8 groups followed by the
 * n_out % 8 remaining rows in the plain row layout, so it has the same size
 * and row r >= 8 * (n_out / 8) sits where it would in the row layout. The
 * values are the file's; only their order changes (the model fingerprint is
 * taken over the file's bytes).
 * ------------------------------------------------------------------------- */

/* Whether t has an x8 form. */
bool kvlm_x8_type(kvlm_dtype t);
/* Whether t is a float type with an x8 form (F16, BF16). */
bool kvlm_x8_float(kvlm_dtype t);
/* Packs 8 * groups rows (ws bytes apart, row layout) into dst (x8 form). */
void kvlm_x8_pack(kvlm_dtype t, int64_t n, const void *w, size_t ws, int64_t groups, void *dst);
/* Row r (of any group) of x8 groups back in the row layout (row_bytes at dst). */
void kvlm_x8_unpack_row(kvlm_dtype t, int64_t n, const void *groups, int64_t r, void *dst);
/* xsum[b] = sum of the 32 int8 values of Q8_0 block b of x (n elements). */
void kvlm_x8_block_sums(int64_t n, const void *x, int32_t *xsum);
/* The reference x8_dot (scalar; the same bits as kvlm_kernels_ref.vec_dot). */
void kvlm_ref_x8_dot(kvlm_dtype wt, int64_t n, const void *groups, int64_t ngroups,
                     const void *x, size_t xs, const int32_t *xsum, int64_t m,
                     float *y, int64_t ldy);

/* ---------------------------------------------------------------------------
 * The xb16 layout: F16/BF16 weights for the opt-in BF16 matmul
 * (kvlm_model_params.bf16_matmul), the form AVX-512 BF16's vdpbf16ps reads.
 * A group is 16 rows; for element pair p (elements 2p, 2p+1; n even) the
 * group holds 64 bytes at 64p: row r's pair as one 32-bit word at 4r, the
 * even element in the low half. Each value is the weight rounded to BF16
 * (nearest-even; exact for BF16 files) with subnormals flushed to signed
 * zero. A weight of n_out rows holds ceil(n_out / 16) groups, the last one
 * padded with zero rows, so it takes kvlm_xb16_bytes(n_in, n_out) bytes.
 * Activation rows are rounded likewise (kvlm_xb16_x: n BF16 values).
 *
 * The numerics are vdpbf16ps's (Intel SDM; measured equal on AMD Zen 5):
 * each output element is one chain over the row's pairs in order,
 *   acc = ftz(fma(w[2p+1], x[2p+1], acc)); acc = ftz(fma(w[2p], x[2p], acc)),
 * from acc = 0, where ftz flushes a subnormal result to signed zero (the
 * products are exact in f32, so each step rounds once). Both decode and
 * prefill run this chain, so the bit-exactness rule holds within the mode;
 * the values differ from the exact F32-activation matmul by BF16's 8-bit
 * precision.
 * ------------------------------------------------------------------------- */

/* Bytes of an xb16 weight of n_out rows of n (even) elements. */
size_t kvlm_xb16_bytes(int64_t n, int64_t n_out);
/* Packs rows [0, nrows) of an F16/BF16 weight (ws bytes apart, row layout)
 * into ceil(nrows / 16) groups at dst, padding the last with zero rows. */
void kvlm_xb16_pack(kvlm_dtype t, int64_t n, const void *w, size_t ws, int64_t nrows, void *dst);
/* Row r of xb16 groups as f32 (its BF16 values). */
void kvlm_xb16_row(int64_t n, const void *groups, int64_t r, float *dst);
/* f32 -> BF16 as the layout rounds: nearest-even, subnormals to signed
 * zero, NaN kept (quiet). */
uint16_t kvlm_bf16_ftz(float f);
/* An activation row of n floats as n BF16 values (kvlm_bf16_ftz). */
void kvlm_xb16_x(int64_t n, const float *x, uint16_t *dst);
/* The reference xb16_dot (scalar; the chain above). */
void kvlm_ref_xb16_dot(int64_t n, const void *groups, int64_t ngroups, const void *x, size_t xs,
                       int64_t m, float *y, int64_t ldy, int64_t ncols);

/* Per-ISA tables, defined in ref/ and x86/. Call kvlm_kernels_avx2/avx512
 * only through kvlm_kernels_get(), which checks the CPU first. */
extern const kvlm_kernel_ops kvlm_kernels_ref;
const kvlm_kernel_ops *kvlm_kernels_avx2(void);   /* NULL if not compiled in */
const kvlm_kernel_ops *kvlm_kernels_avx512(void); /* NULL if not compiled in */

/* ---------------------------------------------------------------------------
 * Matrix multiplication: Y[m][n_out] = X[m][n_in] . W^T for a weight W of
 * n_out rows of n_in elements of type w->type.
 * ------------------------------------------------------------------------- */
typedef struct kvlm_weight {
    kvlm_dtype type;
    int64_t n_in;            /* elements per row (GGUF ne[0]) */
    int64_t n_out;           /* rows (GGUF ne[1]) */
    size_t row_bytes;        /* kvlm_dtype_row_bytes(type, n_in) */
    const void *data;        /* n_out rows, row_bytes apart (x8: see above) */
    bool x8;                 /* data is in the x8 form (kvlm_x8_type only) */
    bool xb16;               /* data is in the xb16 form (F16/BF16; the BF16 matmul) */
} kvlm_weight;

/* Row r of w dequantized to f32 (dst[n_in]), whatever its layout. */
void kvlm_weight_dequant_row(const kvlm_kernel_ops *ops, const kvlm_weight *w, int64_t r, float *dst);

struct kvlm_threadpool;

/* Bytes of scratch kvlm_matmul needs for m rows of X against w. */
size_t kvlm_matmul_scratch_bytes(const kvlm_weight *w, int64_t m);

/* Y = X . W^T (+ bias if bias != NULL, bias[n_out] f32). X is m rows of
 * n_in floats, ldx floats apart; Y is m rows of n_out floats, ldy apart.
 * scratch holds kvlm_matmul_scratch_bytes(w, m) bytes (64-byte aligned).
 * Threads split rows and columns, never the reduction: each Y element is
 * exactly ops->vec_dot(w_row, quantize_row(x_row)) (+ bias). */
void kvlm_matmul(struct kvlm_threadpool *tp, const kvlm_kernel_ops *ops,
                 const kvlm_weight *w, const float *bias,
                 const float *x, int64_t ldx, int64_t m,
                 float *y, int64_t ldy, void *scratch);

#endif /* KVLM_KERNELS_H */
