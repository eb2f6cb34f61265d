/*
 * x8.c - the interleaved "x8" weight layout (defined in kernels.h) of the
 * quantized weight types and of F16/BF16: packing, reading one row back,
 * the activation block sums the Q4_0/Q5_0 kernels need, and the scalar
 * reference of x8_dot.
 *
 * Invariants: packing moves bytes only (every scale, quant and half keeps
 * its value, so unpacking a row gives the file's bytes back); the reference
 * x8_dot computes each element exactly as kvlm_ref_vec_dot does on the row
 * layout - quantized: per block an exact int32 sum, then sum += (d_w * d_x)
 * * isum in block order; F16/BF16: one fmaf chain over the row - so the two
 * layouts give identical bits.
 */
#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "kernels/kernels_impl.h"

bool kvlm_x8_float(kvlm_dtype t) { return t == KVLM_DTYPE_F16 || t == KVLM_DTYPE_BF16; }

bool kvlm_x8_type(kvlm_dtype t)
{
    return t == KVLM_DTYPE_Q8_0 || t == KVLM_DTYPE_Q4_0 || t == KVLM_DTYPE_Q5_0 || t == KVLM_DTYPE_Q4_K ||
           t == KVLM_DTYPE_Q5_K || t == KVLM_DTYPE_Q6_K || kvlm_x8_float(t);
}

/* A "block" of F16/BF16 is one element: its group block is the 8 rows'
 * halves of that element, 16 bytes. */
static size_t block_bytes(kvlm_dtype t)
{
    switch (t) {
    case KVLM_DTYPE_F16:
    case KVLM_DTYPE_BF16: return 2;
    case KVLM_DTYPE_Q4_0: return KVLM_Q4_0_BYTES;
    case KVLM_DTYPE_Q5_0: return KVLM_Q5_0_BYTES;
    case KVLM_DTYPE_Q4_K: return KVLM_Q4_K_BYTES;
    case KVLM_DTYPE_Q5_K: return KVLM_Q5_K_BYTES;
    case KVLM_DTYPE_Q6_K: return KVLM_Q6_K_BYTES;
    default: return KVLM_Q8_0_BYTES;
    }
}

static int64_t block_elems(kvlm_dtype t)
{
    if (kvlm_x8_float(t))
        return 1;
    return t == KVLM_DTYPE_Q4_K || t == KVLM_DTYPE_Q5_K || t == KVLM_DTYPE_Q6_K ? 256 : 32;
}

/* f16 header fields per row block (d; Q4_K: d, dmin; F16/BF16: none); the
 * rest of the block is words of word_bytes (4; F16/BF16: the one 2-byte
 * element). Q6_K keeps its d at the end of the block (byte 208): its
 * header field is read from there, and the words are bytes 0..207. */
static int header_fields(kvlm_dtype t)
{
    return kvlm_x8_float(t) ? 0 : t == KVLM_DTYPE_Q4_K || t == KVLM_DTYPE_Q5_K ? 2 : 1;
}
static int header_at(kvlm_dtype t) { return t == KVLM_DTYPE_Q6_K ? 208 : 0; }
static int words_at(kvlm_dtype t) { return t == KVLM_DTYPE_Q6_K ? 0 : 2 * header_fields(t); }
static int word_bytes(kvlm_dtype t) { return kvlm_x8_float(t) ? 2 : 4; }

/* Row block blk <-> block of a group (lane r): header field f at
 * 16f + 2r, word k of the rest at 16H + 8wk + wr (w = word_bytes). */
static void block_to_group(kvlm_dtype t, const uint8_t *blk, int r, uint8_t *gb)
{
    const int H = header_fields(t), wb = word_bytes(t), words = (int)(block_bytes(t) - 2 * (size_t)H) / wb;
    for (int f = 0; f < H; f++)
        memcpy(gb + 16 * f + 2 * r, blk + header_at(t) + 2 * f, 2);
    for (int k = 0; k < words; k++)
        memcpy(gb + 16 * H + 8 * wb * k + wb * r, blk + words_at(t) + wb * k, (size_t)wb);
}

static void group_to_block(kvlm_dtype t, const uint8_t *gb, int r, uint8_t *blk)
{
    const int H = header_fields(t), wb = word_bytes(t), words = (int)(block_bytes(t) - 2 * (size_t)H) / wb;
    for (int f = 0; f < H; f++)
        memcpy(blk + header_at(t) + 2 * f, gb + 16 * f + 2 * r, 2);
    for (int k = 0; k < words; k++)
        memcpy(blk + words_at(t) + wb * k, gb + 16 * H + 8 * wb * k + wb * r, (size_t)wb);
}

#ifdef __SSE2__
/* 8 x 8 halves: in row r at rows + r * ws (16 bytes each) -> out, element
 * j of row r at 8j + r (three rounds of unpacks) */
static void transpose8x8_u16(const uint8_t *rows, size_t ws, uint8_t *out)
{
    __m128i a[8], b[8];
    for (int r = 0; r < 8; r++)
        a[r] = _mm_loadu_si128((const __m128i *)(const void *)(rows + (size_t)r * ws));
    for (int i = 0; i < 4; i++) {
        b[2 * i] = _mm_unpacklo_epi16(a[2 * i], a[2 * i + 1]);
        b[2 * i + 1] = _mm_unpackhi_epi16(a[2 * i], a[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++)
        for (int h = 0; h < 2; h++) {
            a[4 * i + 2 * h] = _mm_unpacklo_epi32(b[4 * i + h], b[4 * i + h + 2]);
            a[4 * i + 2 * h + 1] = _mm_unpackhi_epi32(b[4 * i + h], b[4 * i + h + 2]);
        }
    /* a[q]: elements 2q, 2q + 1 of rows 0-3; a[4 + q]: the same of rows 4-7 */
    for (int q = 0; q < 4; q++) {
        _mm_storeu_si128((__m128i *)(void *)(out + 32 * q), _mm_unpacklo_epi64(a[q], a[4 + q]));
        _mm_storeu_si128((__m128i *)(void *)(out + 32 * q + 16), _mm_unpackhi_epi64(a[q], a[4 + q]));
    }
}
#endif

/* F16/BF16: element k of row r to 2 * (8k + r), a group at a time */
static void pack_halves(int64_t n, const uint8_t *w, size_t ws, int64_t groups, uint8_t *dst)
{
    for (int64_t g = 0; g < groups; g++) {
        const uint8_t *rows = w + (size_t)g * 8 * ws;
        uint8_t *out = dst + (size_t)g * 16 * (size_t)n;
        int64_t k = 0;
#ifdef __SSE2__
        for (; k + 8 <= n; k += 8)
            transpose8x8_u16(rows + 2 * (size_t)k, ws, out + 16 * (size_t)k);
#endif
        for (; k < n; k++)
            for (int r = 0; r < 8; r++)
                memcpy(out + 16 * (size_t)k + 2 * (size_t)r, rows + (size_t)r * ws + 2 * (size_t)k, 2);
    }
}

void kvlm_x8_pack(kvlm_dtype t, int64_t n, const void *w, size_t ws, int64_t groups, void *dst)
{
    if (kvlm_x8_float(t)) {
        pack_halves(n, w, ws, groups, dst);
        return;
    }
    const size_t bb = block_bytes(t);
    const int64_t nb = n / block_elems(t);
    const size_t gs = (size_t)nb * 8 * bb; /* bytes per group */
    for (int64_t g = 0; g < groups; g++) {
        const uint8_t *rows = (const uint8_t *)w + (size_t)g * 8 * ws;
        uint8_t *out = (uint8_t *)dst + (size_t)g * gs;
        for (int64_t b = 0; b < nb; b++, out += 8 * bb)
            for (int r = 0; r < 8; r++)
                block_to_group(t, rows + (size_t)r * ws + (size_t)b * bb, r, out);
    }
}

void kvlm_x8_unpack_row(kvlm_dtype t, int64_t n, const void *groups, int64_t r, void *dst)
{
    const size_t bb = block_bytes(t);
    const int64_t nb = n / block_elems(t);
    const uint8_t *g = (const uint8_t *)groups + (size_t)(r / 8) * (size_t)nb * 8 * bb;
    uint8_t *out = dst;
    for (int64_t b = 0; b < nb; b++, g += 8 * bb, out += bb)
        group_to_block(t, g, (int)(r % 8), out);
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
    if (kvlm_x8_float(wt)) {
        /* kvlm_ref_vec_dot's chain: sum = fmaf(w[k], x[k], sum) from 0 */
        for (int64_t c = 0; c < m; c++)
            for (int64_t r = 0; r < 8 * ngroups; r++) {
                const uint8_t *g = (const uint8_t *)groups + (size_t)(r / 8) * 16 * (size_t)n + 2 * (size_t)(r % 8);
                const float *xc = (const float *)(const void *)((const uint8_t *)x + (size_t)c * xs);
                float sum = 0.0f;
                for (int64_t k = 0; k < n; k++) {
                    uint16_t h = kvlm_ld_u16(g + 16 * (size_t)k);
                    float v = wt == KVLM_DTYPE_F16 ? kvlm_f16_to_f32(h) : kvlm_bf16_to_f32(h);
                    sum = fmaf(v, xc[k], sum);
                }
                y[c * ldy + r] = sum;
            }
        return;
    }
    /* Each weight block is rebuilt in the row layout and given to the
     * reference dot on its own; the reference sums a row as sum += (value
     * of block b) from 0, and 0 + v == v, so this is its result bit for bit. */
    uint8_t blk[KVLM_Q6_K_BYTES];
    const size_t bb = block_bytes(wt);
    const int64_t be = block_elems(wt), nb = n / be;
    const size_t ab = kvlm_dtype_row_bytes(kvlm_dtype_traits_get(wt)->act_type, be);
    for (int64_t c = 0; c < m; c++)
        for (int64_t r = 0; r < 8 * ngroups; r++) {
            const uint8_t *g = (const uint8_t *)groups + (size_t)(r / 8) * (size_t)nb * 8 * bb;
            float sum = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                group_to_block(wt, g + (size_t)b * 8 * bb, (int)(r % 8), blk);
                sum += kvlm_ref_vec_dot(wt, be, blk, (const uint8_t *)x + (size_t)c * xs + (size_t)b * ab);
            }
            y[c * ldy + r] = sum;
        }
}

void kvlm_weight_dequant_row(const kvlm_kernel_ops *ops, const kvlm_weight *w, int64_t r, float *dst)
{
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
    if (w->xb16) {
        kvlm_xb16_row(w->n_in, w->data, r, dst);
        return;
    }
    if (!w->x8 || r >= w->n_out / 8 * 8) {
        ops->dequantize_row(w->type, row, dst, w->n_in);
        return;
    }
    /* one block at a time through a stack buffer: rows can be long */
    const size_t bb = block_bytes(w->type);
    const int64_t be = block_elems(w->type);
    const uint8_t *g = (const uint8_t *)w->data + (size_t)(r / 8) * 8 * w->row_bytes;
    uint8_t blk[KVLM_Q6_K_BYTES];
    for (int64_t b = 0; b < w->n_in / be; b++, g += 8 * bb) {
        group_to_block(w->type, g, (int)(r % 8), blk);
        ops->dequantize_row(w->type, blk, dst + be * b, be);
    }
}
