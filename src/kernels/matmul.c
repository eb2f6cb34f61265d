/*
 * matmul.c - Y[m][n_out] = X[m][n_in] . W^T (+ bias), multi-threaded.
 *
 * Steps: (1) each X row is quantized once into scratch as traits(W)->act_type
 * (skipped for F32 activations: vec_dot reads X directly, which is what
 * quantize_row(F32) would copy), with its Q8_0 block sums after the rows
 * when the x8 kernels want them; threads split the rows. (2) threads split
 * the output columns (or, when there are few columns and many rows, the
 * rows) - columns in chunks each thread claims from a shared counter, rows
 * in contiguous static ranges; inside its range a thread walks tiles
 * of about TILE_BYTES of weight rows (a multiple of 8 rows, 8..64) x all its
 * X rows, so a weight tile stays in L2 and each X row in L1 while it is used
 * against the whole tile (8 weight rows at a time through vec_dot8, 4 x 2
 * through vec_dot4x2).
 *
 * x8 path (quantized weights in the x8 layout - repacked at load - or
 * in the row layout with m >= PANEL_MIN_ROWS; F16/BF16 weights always):
 * threads claim chunks of whole 8-row groups (at most X8_CHUNK_BYTES of
 * weights, so a chunk stays in L2 while all m X rows pass; no cap for one
 * row, which reuses nothing); row-layout weights are
 * packed into the thread's buffer first; ops->x8_dot computes the groups,
 * the n_out % 8 last rows go through the row kernels (F16/BF16: the
 * reference's chain, x8_dot's bits).
 *
 * xb16 path (F16/BF16 weights repacked for the opt-in BF16 matmul): X rows
 * are rounded to BF16 (kvlm_xb16_x) into scratch, threads claim chunks of
 * whole 16-row groups and run ops->xb16_dot (vdpbf16ps with AVX-512 BF16,
 * an FMA emulation of it elsewhere, the same bits) over all m rows.
 *
 * F32 panel path (m >= PANEL_MIN_ROWS, F32 weights): inside its column
 * range a thread runs ops->panel_dot over all m X rows against tiles of
 * about PANEL_BYTES of weight rows, read in place.
 *
 * Invariant (the bit-exactness contract): every Y element is computed by
 * ops->vec_dot(w_row, xq_row) - or vec_dot8 / vec_dot4 / vec_dot4x2 /
 * panel_dot / x8_dot, each documented and tested to give the same bits per
 * element - plus bias in one float add; for F16/BF16 weights the element is
 * kvlm_kernels_ref.vec_dot's fmaf chain on every ISA (x8_dot and
 * chain_block). No reduction is ever split, so Y does not depend on m,
 * tiling, layout or the thread count.
 */
#include <stdatomic.h>

#include "core/threadpool.h"
#include "kernels/kernels_impl.h"

#define TILE_BYTES (96 * 1024) /* weight tile kept in L2 while X rows stream past */
#define TILE_COLS 16              /* only used to decide when to split rows instead */
#define SCRATCH_ALIGN 64          /* activation rows in scratch */
#define PANEL_MIN_ROWS 4          /* fewer X rows: dot products straight from the weights */
#define PANEL_BYTES (160 * 1024)  /* F32 weight tile kept in L2 */
#define X8_CHUNK_BYTES (192 * 1024) /* x8 weight rows per claimed chunk, at most (L2) */
#define X8_FLOAT_MIN_ROWS 48        /* ... but F16/BF16 chunks keep 6 groups */

static size_t act_stride(const kvlm_weight *w)
{
    const kvlm_dtype_traits *tr = kvlm_dtype_traits_get(w->type);
    size_t b = w->xb16 ? (size_t)w->n_in * 2 : kvlm_dtype_row_bytes(tr->act_type, w->n_in);
    return (b + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN;
}

/* whether the x8 kernel of w's type wants the Q8_0 block sums of x */
static bool wants_xsum(const kvlm_weight *w)
{
    return w->type == KVLM_DTYPE_Q8_0 || w->type == KVLM_DTYPE_Q4_0 || w->type == KVLM_DTYPE_Q5_0;
}

/* bytes of the x8 block sums of m activation rows (after the rows) */
static size_t xsum_bytes(const kvlm_weight *w, int64_t m)
{
    return wants_xsum(w) ? (size_t)m * (size_t)(w->n_in / 32) * sizeof(int32_t) : 0;
}

size_t kvlm_matmul_scratch_bytes(const kvlm_weight *w, int64_t m)
{
    const kvlm_dtype_traits *tr = kvlm_dtype_traits_get(w->type);
    if (!tr || (tr->act_type == KVLM_DTYPE_F32 && !w->xb16))
        return 0;
    return (size_t)m * act_stride(w) + xsum_bytes(w, m);
}

typedef struct mm_ctx {
    const kvlm_kernel_ops *ops;
    const kvlm_weight *w;
    const float *bias;        /* [n_out] or NULL */
    const float *x;           /* [m][ldx] */
    int64_t ldx, m;
    const uint8_t *xq;        /* [m] rows of act_type, xq_stride bytes apart */
    size_t xq_stride;
    int32_t *xsum;            /* x8 path: [m][n_in/32] block sums of xq */
    kvlm_dtype act;
    float *y;                 /* [m][ldy] */
    int64_t ldy;
    bool split_rows;
    bool x8;                  /* x8 path: weights in groups of 8 rows (kvlm_x8_type) */
    bool xb16;                /* xb16 path: the BF16 matmul */
    size_t x8_stride;         /* x8 path, row-layout weights: packing buffer bytes */
    bool panel;               /* F32 batched path (see the header comment) */
    int64_t panel_rows;       /* weight rows per tile */
    int64_t chunk_cols;       /* columns per dynamically claimed chunk (multiple of 4) */
    long n_chunks;
    atomic_long next_chunk;   /* next unclaimed chunk */
} mm_ctx;

static void quantize_task(void *arg, int ith, int nth)
{
    mm_ctx *c = arg;
    long lo, hi;
    kvlm_split((long)c->m, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        void *xr = (void *)(c->xq + (size_t)r * c->xq_stride);
        if (c->xb16) {
            kvlm_xb16_x(c->w->n_in, c->x + r * c->ldx, xr);
            continue;
        }
        c->ops->quantize_row(c->act, c->x + r * c->ldx, xr, c->w->n_in);
        if (c->xsum)
            kvlm_x8_block_sums(c->w->n_in, xr, c->xsum + r * (c->w->n_in / 32));
    }
}

/* Y[r0..r1)[c0..c1) */
static void mm_block(const mm_ctx *c, int64_t r0, int64_t r1, int64_t c0, int64_t c1)
{
    const kvlm_weight *w = c->w;
    const uint8_t *wd = w->data;
    int64_t tile = (int64_t)(TILE_BYTES / (w->row_bytes ? w->row_bytes : 1)) / 8 * 8;
    tile = tile < 8 ? 8 : tile > 64 ? 64 : tile;
    for (int64_t t0 = c0; t0 < c1; t0 += tile) {
        int64_t t1 = t0 + tile < c1 ? t0 + tile : c1;
        int64_t r = r0;
        if (c->ops->vec_dot4x2 && t1 - t0 >= 4) {
            for (; r + 2 <= r1; r += 2) {
                const void *xr = c->xq + (size_t)r * c->xq_stride;
                float *y0 = c->y + r * c->ldy, *y1 = y0 + c->ldy;
                int64_t col = t0;
                for (; col + 4 <= t1; col += 4) {
                    float out[8];
                    c->ops->vec_dot4x2(w->type, w->n_in, wd + (size_t)col * w->row_bytes,
                                       w->row_bytes, xr, c->xq_stride, out);
                    for (int k = 0; k < 4; k++) {
                        float b = c->bias ? c->bias[col + k] : 0.0f;
                        y0[col + k] = c->bias ? out[k] + b : out[k];
                        y1[col + k] = c->bias ? out[4 + k] + b : out[4 + k];
                    }
                }
                for (; col < t1; col++) {
                    const uint8_t *wr = wd + (size_t)col * w->row_bytes;
                    float v0 = c->ops->vec_dot(w->type, w->n_in, wr, xr);
                    float v1 = c->ops->vec_dot(w->type, w->n_in, wr, (const uint8_t *)xr + c->xq_stride);
                    y0[col] = c->bias ? v0 + c->bias[col] : v0;
                    y1[col] = c->bias ? v1 + c->bias[col] : v1;
                }
            }
        }
        for (; r < r1; r++) {
            const void *xr = c->xq + (size_t)r * c->xq_stride;
            float *yr = c->y + r * c->ldy;
            int64_t col = t0;
            if (c->ops->vec_dot8) {
                for (; col + 8 <= t1; col += 8) {
                    float out[8];
                    c->ops->vec_dot8(w->type, w->n_in, wd + (size_t)col * w->row_bytes, w->row_bytes, xr, out);
                    for (int k = 0; k < 8; k++)
                        yr[col + k] = c->bias ? out[k] + c->bias[col + k] : out[k];
                }
            }
            if (c->ops->vec_dot4) {
                for (; col + 4 <= t1; col += 4) {
                    float out[4];
                    c->ops->vec_dot4(w->type, w->n_in, wd + (size_t)col * w->row_bytes,
                                     w->row_bytes, xr, out);
                    for (int k = 0; k < 4; k++)
                        yr[col + k] = c->bias ? out[k] + c->bias[col + k] : out[k];
                }
            }
            for (; col < t1; col++) {
                float v = c->ops->vec_dot(w->type, w->n_in, wd + (size_t)col * w->row_bytes, xr);
                yr[col] = c->bias ? v + c->bias[col] : v;
            }
        }
    }
}

/* y[r * ldy + k] += bias[c0 + k] for rows r < rows, columns k < n (y at
 * the block's first element) */
static void add_bias(const mm_ctx *c, float *y, int64_t rows, int64_t c0, int64_t n)
{
    if (!c->bias)
        return;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < n; k++)
            y[r * c->ldy + k] += c->bias[c0 + k];
}

/* Y[r0..r1)[c0..c1) of F32 weights through ops->panel_dot, a tile of
 * panel_rows weight rows (read in place) at a time */
static void panel_block(const mm_ctx *c, int64_t r0, int64_t r1, int64_t c0, int64_t c1)
{
    const kvlm_weight *w = c->w;
    for (int64_t t0 = c0; t0 < c1; t0 += c->panel_rows) {
        int rows = (int)(t0 + c->panel_rows < c1 ? c->panel_rows : c1 - t0);
        float *y = c->y + r0 * c->ldy + t0;
        c->ops->panel_dot(w->type, w->n_in, (const uint8_t *)w->data + (size_t)t0 * w->row_bytes, w->row_bytes,
                          rows, c->xq + (size_t)r0 * c->xq_stride, c->xq_stride, r1 - r0, y, c->ldy);
        add_bias(c, y, r1 - r0, t0, rows);
    }
}

/* Y[0..m)[c0..c1) of F16/BF16 weights read in the row layout: the
 * reference's fmaf chain per element, the bits x8_dot gives the groups
 * (the n_out % 8 last rows, or every row when a packing buffer cannot be
 * had) */
static void chain_block(const mm_ctx *c, int64_t c0, int64_t c1)
{
    const kvlm_weight *w = c->w;
    for (int64_t r = 0; r < c->m; r++)
        for (int64_t col = c0; col < c1; col++) {
            float v = kvlm_kernels_ref.vec_dot(w->type, w->n_in, (const uint8_t *)w->data + (size_t)col * w->row_bytes,
                                               c->xq + (size_t)r * c->xq_stride);
            c->y[r * c->ldy + col] = c->bias ? v + c->bias[col] : v;
        }
}

/* rows [c0, c1) of every X row without x8_dot, in the same bits */
static void rows_block(const mm_ctx *c, int64_t c0, int64_t c1)
{
    if (kvlm_x8_float(c->w->type))
        chain_block(c, c0, c1);
    else
        mm_block(c, 0, c->m, c0, c1);
}

/* Y[0..m)[c0..c1) on the x8 path: c0 is a multiple of 8; whole groups go
 * through ops->x8_dot (packed into the thread's buffer first when the
 * weights are in the row layout), the n_out % 8 last rows through
 * rows_block */
static void x8_block(const mm_ctx *c, int64_t c0, int64_t c1)
{
    const kvlm_weight *w = c->w;
    const uint8_t *wd = w->data;
    int64_t g1 = c1 / 8 * 8;
    if (g1 > c0) {
        const void *groups = wd + (size_t)c0 * w->row_bytes;
        if (!w->x8) {
            uint8_t *buf = kvlm_thread_scratch(KVLM_SCRATCH_PACK, c->x8_stride);
            if (!buf) { /* out of memory: the row kernels, same bits */
                rows_block(c, c0, c1);
                return;
            }
            kvlm_x8_pack(w->type, w->n_in, groups, w->row_bytes, (g1 - c0) / 8, buf);
            groups = buf;
        }
        float *y = c->y + c0;
        c->ops->x8_dot(w->type, w->n_in, groups, (g1 - c0) / 8, c->xq, c->xq_stride, c->xsum, c->m, y, c->ldy);
        add_bias(c, y, c->m, c0, g1 - c0);
    }
    if (c1 > g1)
        rows_block(c, g1 > c0 ? g1 : c0, c1);
}

/* Y[0..m)[c0..c1) on the xb16 path: c0 is a multiple of 16 */
static void xb16_block(const mm_ctx *c, int64_t c0, int64_t c1)
{
    const kvlm_weight *w = c->w;
    const uint8_t *groups = (const uint8_t *)w->data + (size_t)(c0 / 16) * (size_t)w->n_in * 32;
    float *y = c->y + c0;
    c->ops->xb16_dot(w->n_in, groups, (c1 - c0 + 15) / 16, c->xq, c->xq_stride, c->m, y, c->ldy, c1 - c0);
    add_bias(c, y, c->m, c0, c1 - c0);
}

static void dot_task(void *arg, int ith, int nth)
{
    mm_ctx *c = arg;
    if (c->split_rows) {
        long lo, hi;
        kvlm_split((long)c->m, ith, nth, &lo, &hi);
        if (c->panel)
            panel_block(c, lo, hi, 0, c->w->n_out);
        else
            mm_block(c, lo, hi, 0, c->w->n_out);
        return;
    }
    /* columns in chunks claimed one at a time: a thread that is
     * descheduled (the machine is shared) holds up at most one chunk */
    for (;;) {
        long k = atomic_fetch_add_explicit(&c->next_chunk, 1, memory_order_relaxed);
        if (k >= c->n_chunks)
            break;
        int64_t c0 = (int64_t)k * c->chunk_cols, c1 = c0 + c->chunk_cols;
        if (c1 > c->w->n_out)
            c1 = c->w->n_out;
        if (c->xb16)
            xb16_block(c, c0, c1);
        else if (c->x8)
            x8_block(c, c0, c1);
        else if (c->panel)
            panel_block(c, 0, c->m, c0, c1);
        else
            mm_block(c, 0, c->m, c0, c1);
    }
}

/* Columns per chunk on the x8 and xb16 paths, whole groups (8 rows; xb16:
 * 16): about 8 chunks per thread, and with several X rows at most
 * X8_CHUNK_BYTES, so a chunk stays in L2 while the m rows pass. One row
 * reuses nothing, so its chunks are not capped (the F16/BF16 decode kernel
 * wants 4 groups - 4 independent FMA chains - per call, which a capped
 * chunk of long rows does not hold). */
static int64_t group_chunk_cols(const kvlm_weight *w, int64_t m, int nth)
{
    int64_t cc = (w->n_out + 8 * nth - 1) / (8 * nth);
    int64_t cap = (int64_t)(X8_CHUNK_BYTES / w->row_bytes) / 8 * 8;
    cc = (cc + 7) / 8 * 8;
    /* F16/BF16 prefill tiles span 6 groups (AVX-512: 3 zmm of 2 groups
     * each; xb16: 3 groups of 16); long rows (the FFN down projection)
     * would cap a chunk below that and leave the smaller tiles, 20% slower */
    if (kvlm_x8_float(w->type) && cap < X8_FLOAT_MIN_ROWS)
        cap = X8_FLOAT_MIN_ROWS;
    if (m > 1 && cap >= 8 && cc > cap)
        cc = cap;
    /* prefill tiles take x8 groups in pairs (AVX-512: one zmm holds two
     * groups): an odd group per chunk would run alone, at half rate (Q8_0
     * 2048 x 2048 x 512: 231 against 272 GMAC/s per thread); xb16 groups
     * are 16 rows at any m */
    if ((m > 1 || w->xb16) && cc >= 16)
        cc = cc / 16 * 16;
    int64_t min = w->xb16 ? 16 : 8;
    return cc < min ? min : cc;
}

void kvlm_matmul(struct kvlm_threadpool *tp, const kvlm_kernel_ops *ops,
                 const kvlm_weight *w, const float *bias,
                 const float *x, int64_t ldx, int64_t m,
                 float *y, int64_t ldy, void *scratch)
{
    if (m <= 0 || w->n_out <= 0)
        return;
    const kvlm_dtype_traits *tr = kvlm_dtype_traits_get(w->type);
    if (!tr || w->row_bytes == 0)
        return; /* unsupported type or n_in not a whole number of blocks */
    int nth = kvlm_threadpool_n_threads(tp);
    mm_ctx c = {
        .ops = ops, .w = w, .bias = bias, .x = x, .ldx = ldx, .m = m,
        .act = tr->act_type, .y = y, .ldy = ldy,
    };
    /* xb16 path: the BF16 matmul's layout. x8 path: weights already in x8
     * form, or enough rows to pay for packing; F16/BF16 always (their
     * matmul bits are x8_dot's chain) */
    c.xb16 = w->xb16;
    c.x8 = !c.xb16 && kvlm_x8_type(w->type) && ops->x8_dot &&
           (w->x8 || m >= PANEL_MIN_ROWS || kvlm_x8_float(w->type));
    if (tr->act_type == KVLM_DTYPE_F32 && !c.xb16) {
        c.xq = (const uint8_t *)x;
        c.xq_stride = (size_t)ldx * sizeof(float);
    } else {
        c.xq = scratch;
        c.xq_stride = act_stride(w);
        if (c.x8 && wants_xsum(w))
            c.xsum = (int32_t *)(void *)((uint8_t *)scratch + (size_t)m * c.xq_stride);
        kvlm_threadpool_run(m > 1 ? tp : NULL, quantize_task, &c);
    }
    if (c.x8 || c.xb16) {
        c.chunk_cols = group_chunk_cols(w, m, nth);
        if (c.x8 && !w->x8)
            c.x8_stride = (size_t)c.chunk_cols * w->row_bytes;
    } else {
        c.split_rows = m >= nth && w->n_out < (int64_t)TILE_COLS * nth;
        if (m >= PANEL_MIN_ROWS && ops->panel_dot && w->type == KVLM_DTYPE_F32) {
            int64_t rows = (int64_t)(PANEL_BYTES / w->row_bytes) / 4 * 4;
            c.panel_rows = rows < 4 ? 4 : rows > 256 ? 256 : rows;
            c.panel = true;
        }
        /* about 8 chunks per thread (whole panel tiles on the panel path) */
        int64_t cc = (w->n_out + 8 * nth - 1) / (8 * nth);
        cc = (cc + 3) / 4 * 4;
        if (c.panel)
            cc = c.panel_rows;
        c.chunk_cols = cc < 4 ? 4 : cc;
    }
    c.n_chunks = (long)((w->n_out + c.chunk_cols - 1) / c.chunk_cols);
    atomic_init(&c.next_chunk, 0);
    kvlm_threadpool_run(tp, dot_task, &c);
}
