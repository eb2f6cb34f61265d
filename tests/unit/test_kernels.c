/*
 * test_kernels.c - every kernel of every ISA this CPU runs, against the
 * scalar reference and against independent oracles:
 *   - f16/bf16 conversions: exhaustive f16 round trip, rounding ties,
 *     inf/NaN/denormals, and each ISA's F16/BF16 quantize_row bit-identical
 *     to the scalar conversion (F16C / integer bf16 rounding vs C);
 *   - dequantize_row vs vectors dequantized by the Python gguf package
 *     (tests/fixtures/kernels, made by make_kernel_vectors.py): bit-exact;
 *   - quantize_row: bit-identical across ISAs;
 *   - vec_dot vs the reference: |isa - ref| <= 1e-5 * sum|w_i*x_i| + 1e-30
 *     (w, x dequantized); the reference vs a double-precision dot of the
 *     dequantized rows within the same bound, and vs the unquantized
 *     activation within the activation quantization error;
 *   - vec_dot4 and vec_dot4x2 bit-identical to vec_dot; vec_mad and row ops vs reference;
 *   - kvlm_matmul: every element equals vec_dot (+bias) bit for bit - for
 *     F16/BF16 weights the reference's vec_dot, on every ISA - for m rows
 *     at once vs each row alone, with 1, 2 and 3 threads, in the row and
 *     the x8 layout;
 *   - x8_dot over more K-quant groups than one pass of the prefill
 *     expansion holds, every ISA against kvlm_ref_x8_dot bit for bit;
 *   - panel_dot (the F32 batched path): every element of every rows x m
 *     shape (1..9 x 1..9, n with a float tail) equals vec_dot;
 *   - dot_rows / mad_rows (attention over KV rows) equal vec_dot / a
 *     sequence of vec_mad bit for bit, for 1..19 rows and several n.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "test.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static float frand(void) { return (float)(rnd() % 2000001) / 1000000.0f - 1.0f; }

static void *xaligned(size_t n) { return aligned_alloc(64, (n + 63) / 64 * 64 + 64); }

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* out[r] of a multi-row kernel (`what`) against vec_dot of row r alone, bit for bit */
static void check_rows_bits(const kvlm_kernel_ops *o, const char *what, kvlm_dtype t, int64_t n,
                            const uint8_t *w, size_t wb, const void *xq, const float *out, int rows)
{
    for (int r = 0; r < rows; r++) {
        float one = o->vec_dot(t, n, w + r * wb, xq);
        CHECK(fbits(one) == fbits(out[r]), "%s %s %s n=%lld row %d: %.9g vs %.9g", o->name, what,
              kvlm_dtype_name(t), (long long)n, r, out[r], one);
    }
}
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static const kvlm_dtype WEIGHT_TYPES[] = {
    KVLM_DTYPE_F32, KVLM_DTYPE_F16, KVLM_DTYPE_BF16, KVLM_DTYPE_Q8_0,
    KVLM_DTYPE_Q4_0, KVLM_DTYPE_Q4_K, KVLM_DTYPE_Q5_K, KVLM_DTYPE_Q6_K, KVLM_DTYPE_Q5_0,
};
#define N_WTYPES (int)(sizeof WEIGHT_TYPES / sizeof WEIGHT_TYPES[0])

/* Random valid row of type t: random bytes with finite f16 scales (K-quants
 * d/dmin >= 0 small, like real files), or random floats for float types. */
static void random_row(kvlm_dtype t, void *dst, int64_t n)
{
    const kvlm_dtype_traits *tr = kvlm_dtype_traits_get(t);
    uint8_t *b = dst;
    if (t == KVLM_DTYPE_F32 || t == KVLM_DTYPE_F16 || t == KVLM_DTYPE_BF16) {
        float *tmp = malloc((size_t)n * 4);
        for (int64_t i = 0; i < n; i++)
            tmp[i] = frand();
        kvlm_kernels_ref.quantize_row(t, tmp, dst, n);
        free(tmp);
        return;
    }
    size_t bytes = kvlm_dtype_row_bytes(t, n);
    for (size_t i = 0; i < bytes; i++)
        b[i] = (uint8_t)rnd();
    for (int64_t i = 0; i < n / tr->block_elems; i++) {
        uint8_t *blk = b + (size_t)i * tr->block_bytes;
        uint16_t h1 = kvlm_f32_to_f16(frand() * 0.05f), h2 = kvlm_f32_to_f16(fabsf(frand()) * 0.05f);
        if (t == KVLM_DTYPE_Q8_0 || t == KVLM_DTYPE_Q4_0 || t == KVLM_DTYPE_Q5_0) {
            memcpy(blk, &h1, 2);
        } else if (t == KVLM_DTYPE_Q6_K) {
            memcpy(blk + 208, &h1, 2);
        } else {
            h1 = kvlm_f32_to_f16(fabsf(frand()) * 0.05f);
            memcpy(blk, &h1, 2);
            memcpy(blk + 2, &h2, 2);
        }
    }
}

static int n_isas;
static const kvlm_kernel_ops *isas[3];

/* ---- conversions ---------------------------------------------------------- */

static void test_conversions(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = kvlm_f16_to_f32((uint16_t)h);
        bool nan = ((h >> 10) & 0x1F) == 0x1F && (h & 0x3FF);
        if (nan) {
            bad += !isnan(f);
            bad += isnan(f) && !(kvlm_f32_to_f16(f) & 0x200); /* quieted */
        } else {
            bad += kvlm_f32_to_f16(f) != h;
        }
    }
    CHECK(bad == 0, "f16 round trip: %d mismatches", bad);
    CHECK(kvlm_f16_to_f32(0x0001) == 0x1p-24f, "smallest f16 denormal");
    CHECK(kvlm_f16_to_f32(0x7C00) == INFINITY && kvlm_f16_to_f32(0xFC00) == -INFINITY, "f16 inf");
    CHECK(kvlm_f32_to_f16(65504.0f) == 0x7BFF, "f16 max");
    CHECK(kvlm_f32_to_f16(65519.99f) == 0x7BFF, "below the f16 overflow tie");
    CHECK(kvlm_f32_to_f16(65520.0f) == 0x7C00, "f16 overflow tie rounds to inf");
    CHECK(kvlm_f32_to_f16(1e10f) == 0x7C00 && kvlm_f32_to_f16(-1e10f) == 0xFC00, "f16 overflow");
    CHECK(kvlm_f32_to_f16(0x1p-25f) == 0x0000, "tie to even at the smallest denormal -> 0");
    CHECK(kvlm_f32_to_f16(0x1.000002p-25f) == 0x0001, "just above the tie -> denormal 1");
    CHECK(kvlm_f32_to_f16(0x3p-25f) == 0x0002, "1.5 denormal ties to even 2");
    CHECK(kvlm_f32_to_f16(1e-40f) == 0x0000 && kvlm_f32_to_f16(-1e-40f) == 0x8000, "f32 denormal -> +-0");
    CHECK(kvlm_f32_to_f16(1.0f + 0x1p-11f) == 0x3C00, "1 + half ulp ties to even");
    CHECK(kvlm_f32_to_f16(1.0f + 0x3p-11f) == 0x3C02, "1 + 1.5 ulp ties to even (up)");
    CHECK(isnan(kvlm_f16_to_f32(kvlm_f32_to_f16(NAN))), "f16 NaN kept");
    /* bf16 */
    CHECK(kvlm_f32_to_bf16(1.0f) == 0x3F80, "bf16 1");
    CHECK(kvlm_f32_to_bf16(bitsf(0x3F808000)) == 0x3F80, "bf16 tie to even (down)");
    CHECK(kvlm_f32_to_bf16(bitsf(0x3F818000)) == 0x3F82, "bf16 tie to even (up)");
    CHECK(kvlm_f32_to_bf16(bitsf(0x3F808001)) == 0x3F81, "bf16 above tie");
    CHECK(kvlm_f32_to_bf16(INFINITY) == 0x7F80 && kvlm_f32_to_bf16(-INFINITY) == 0xFF80, "bf16 inf");
    CHECK(kvlm_f32_to_bf16(bitsf(0x7F7FFFFF)) == 0x7F80, "bf16 max float rounds to inf");
    CHECK(isnan(kvlm_bf16_to_f32(kvlm_f32_to_bf16(bitsf(0x7F800001)))), "bf16 NaN with low payload kept NaN");
    CHECK(kvlm_f32_to_bf16(bitsf(0x00018000)) == 0x0002, "bf16 denormal rounding");
    CHECK(kvlm_bf16_to_f32(0x0001) == bitsf(0x00010000), "bf16 denormal exact");

    /* every ISA's F16/BF16 quantize_row (F16C, integer SIMD) == scalar */
    enum { N = 4096 };
    float *x = malloc(N * 4);
    uint16_t *ref = malloc(N * 2), *got = malloc(N * 2);
    for (int i = 0; i < N; i++) {
        uint32_t u = rnd() << 16 ^ rnd();
        x[i] = bitsf(u);                    /* any bit pattern: NaN, inf, denormals */
        if (i % 3 == 0)
            x[i] = frand() * 70000.0f;      /* around the f16 range */
        if (i % 5 == 0)
            x[i] = frand() * 1e-5f;         /* f16 denormals */
        if (i % 7 == 0)
            x[i] = bitsf((fbits(frand()) & ~0x1FFFu) | 0x1000u); /* f16 ties */
    }
    for (int k = 0; k < n_isas; k++) {
        for (int t = 0; t < 2; t++) {
            kvlm_dtype dt = t ? KVLM_DTYPE_BF16 : KVLM_DTYPE_F16;
            for (int n = 1; n <= N; n = n * 3 + 1) {
                kvlm_kernels_ref.quantize_row(dt, x, ref, n);
                isas[k]->quantize_row(dt, x, got, n);
                int mism = 0;
                for (int i = 0; i < n; i++) {
                    float a = t ? kvlm_bf16_to_f32(ref[i]) : kvlm_f16_to_f32(ref[i]);
                    float b = t ? kvlm_bf16_to_f32(got[i]) : kvlm_f16_to_f32(got[i]);
                    if (ref[i] != got[i] && !(isnan(a) && isnan(b)))
                        mism++;
                }
                CHECK(mism == 0, "%s quantize_row %s n=%d: %d mismatches", isas[k]->name,
                      t ? "bf16" : "f16", n, mism);
            }
        }
    }
    free(x);
    free(ref);
    free(got);
}

/* ---- dequantize vs the gguf oracle ---------------------------------------- */

static void *read_file(const char *rel, size_t *len)
{
    char path[1024];
    fixture_path(path, sizeof path, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc((size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void test_dequantize_oracle(void)
{
    for (int ti = 0; ti < N_WTYPES; ti++) {
        kvlm_dtype t = WEIGHT_TYPES[ti];
        const kvlm_dtype_traits *tr = kvlm_dtype_traits_get(t);
        char rel[256];
        size_t nbin, nf32;
        snprintf(rel, sizeof rel, "kernels/%s.bin", tr->name);
        void *bin = read_file(rel, &nbin);
        snprintf(rel, sizeof rel, "kernels/%s.f32", tr->name);
        float *want = read_file(rel, &nf32);
        CHECK(bin && want, "fixture for %s missing (run tests/fixtures/make_kernel_vectors.py)", tr->name);
        if (!bin || !want) {
            free(bin);
            free(want);
            continue;
        }
        int64_t n = (int64_t)(nf32 / 4);
        CHECK(kvlm_dtype_row_bytes(t, n) == nbin, "%s: %zu bytes for %lld elements", tr->name, nbin,
              (long long)n);
        float *got = xaligned((size_t)n * 4);
        for (int k = 0; k < n_isas; k++) {
            /* whole row, and a short prefix (one block / a few elements) */
            int64_t lens[2] = {n, tr->block_elems == 1 ? 13 : tr->block_elems};
            for (int li = 0; li < 2; li++) {
                memset(got, 0xAB, (size_t)n * 4);
                isas[k]->dequantize_row(t, bin, got, lens[li]);
                int mism = 0;
                for (int64_t i = 0; i < lens[li]; i++)
                    if (fbits(got[i]) != fbits(want[i]))
                        mism++;
                CHECK(mism == 0, "%s dequantize %s n=%lld: %d of %lld differ from gguf", isas[k]->name,
                      tr->name, (long long)lens[li], mism, (long long)lens[li]);
                if (li == 1 && lens[1] < n)
                    CHECK(fbits(got[lens[1]]) == 0xABABABABu, "%s dequantize %s wrote past n",
                          isas[k]->name, tr->name);
            }
        }
        free(got);
        free(bin);
        free(want);
    }
}

/* ---- quantize / vec_dot / vec_dot4 ---------------------------------------- */

static void test_vec_dot(void)
{
    static const int64_t lens_f[] = {1, 7, 16, 31, 64, 100, 1000, 4099};
    static const int64_t lens_q[] = {32, 64, 96, 224, 512, 4096};
    static const int64_t lens_k[] = {256, 512, 768, 2560};
    for (int ti = 0; ti < N_WTYPES; ti++) {
        kvlm_dtype t = WEIGHT_TYPES[ti];
        const kvlm_dtype_traits *tr = kvlm_dtype_traits_get(t);
        const int64_t *lens = tr->block_elems == 1 ? lens_f : tr->block_elems == 32 ? lens_q : lens_k;
        int nl = tr->block_elems == 1 ? 8 : tr->block_elems == 32 ? 6 : 4;
        for (int li = 0; li < nl; li++) {
            int64_t n = lens[li];
            size_t wb = kvlm_dtype_row_bytes(t, n);
            size_t xb = kvlm_dtype_row_bytes(tr->act_type, n);
            uint8_t *w = xaligned(8 * wb + 2);
            uint8_t *xq = xaligned(xb), *xq2 = xaligned(xb);
            float *x = xaligned((size_t)n * 4), *wf = xaligned((size_t)n * 4), *xf = xaligned((size_t)n * 4);
            for (int r = 0; r < 8; r++)
                random_row(t, w + r * wb, n);
            for (int64_t i = 0; i < n; i++)
                x[i] = frand() * (i % 17 == 0 ? 4.0f : 1.0f);
            kvlm_kernels_ref.quantize_row(tr->act_type, x, xq, n);
            kvlm_kernels_ref.dequantize_row(tr->act_type, xq, xf, n);
            kvlm_kernels_ref.dequantize_row(t, w, wf, n);
            double exact = 0, mag = 0, unq = 0, qerr = 0;
            for (int64_t i = 0; i < n; i++) {
                exact += (double)wf[i] * xf[i];
                mag += fabs((double)wf[i] * xf[i]);
                unq += (double)wf[i] * x[i];
                qerr += fabs((double)wf[i]) * fabs((double)x[i] - xf[i]);
            }
            float ref = kvlm_kernels_ref.vec_dot(t, n, w, xq);
            double tol = 1e-5 * mag + 1e-30;
            CHECK(fabs(ref - exact) <= tol, "ref vec_dot %s n=%lld: %g vs exact %g", tr->name,
                  (long long)n, ref, exact);
            /* activation quantization error is bounded by half a step per element */
            if (tr->act_type != KVLM_DTYPE_F32) {
                double maxerr = 0;
                for (int64_t i = 0; i < n; i++) {
                    int64_t b0 = i / tr->block_elems * tr->block_elems;
                    double amax = 0;
                    for (int64_t j = b0; j < b0 + tr->block_elems; j++)
                        amax = fmax(amax, fabs(x[j]));
                    maxerr += fabs((double)wf[i]) * (amax / 127.0 * 0.5002);
                }
                CHECK(qerr <= maxerr, "%s act quantization error %g > %g", tr->name, qerr, maxerr);
                CHECK(fabs(ref - unq) <= maxerr + tol, "%s: dot vs unquantized %g vs %g", tr->name, ref, unq);
            }
            for (int k = 0; k < n_isas; k++) {
                const kvlm_kernel_ops *o = isas[k];
                o->quantize_row(tr->act_type, x, xq2, n);
                CHECK(memcmp(xq, xq2, xb) == 0, "%s quantize_row %s n=%lld differs from ref", o->name,
                      kvlm_dtype_traits_get(tr->act_type)->name, (long long)n);
                float v = o->vec_dot(t, n, w, xq);
                CHECK(fabs(v - ref) <= tol, "%s vec_dot %s n=%lld: %.9g vs ref %.9g (tol %g)", o->name,
                      tr->name, (long long)n, v, ref, tol);
                CHECK(o->vec_dot(t, n, w, xq) == v, "vec_dot not deterministic");
                if (tr->block_elems > 1) /* every quantized type: the reference's numerics */
                    CHECK(fbits(v) == fbits(ref), "%s vec_dot %s n=%lld: %.9g, not the reference's bits %.9g",
                          o->name, tr->name, (long long)n, v, ref);
                if (o->vec_dot4x2) {
                    /* two activation rows, 64-byte stride: xq and a second row */
                    size_t xs = (xb + 63) / 64 * 64;
                    uint8_t *x2 = xaligned(2 * xs);
                    float *xo = xaligned((size_t)n * 4);
                    for (int64_t i = 0; i < n; i++)
                        xo[i] = frand();
                    memcpy(x2, xq, xb);
                    o->quantize_row(tr->act_type, xo, x2 + xs, n);
                    float out[8];
                    o->vec_dot4x2(t, n, w, wb, x2, xs, out);
                    for (int c = 0; c < 2; c++)
                        for (int r = 0; r < 4; r++) {
                            float one = o->vec_dot(t, n, w + r * wb, x2 + c * xs);
                            CHECK(fbits(one) == fbits(out[c * 4 + r]),
                                  "%s vec_dot4x2 %s n=%lld row %d x %d: %.9g vs %.9g", o->name, tr->name,
                                  (long long)n, r, c, out[c * 4 + r], one);
                        }
                    free(x2);
                    free(xo);
                }
                if (o->vec_dot8) {
                    float out[8];
                    o->vec_dot8(t, n, w, wb, xq, out);
                    check_rows_bits(o, "vec_dot8", t, n, w, wb, xq, out, 8);
                }
                if (o->vec_dot4) {
                    float out[4];
                    o->vec_dot4(t, n, w, wb, xq, out);
                    check_rows_bits(o, "vec_dot4", t, n, w, wb, xq, out, 4);
                }
                /* unaligned weight row (rows are only 2-byte aligned in GGUF) */
                memmove(w + 2, w, wb);
                float vu = o->vec_dot(t, n, w + 2, xq);
                CHECK(fbits(vu) == fbits(v), "%s vec_dot %s on a 2-byte aligned row differs", o->name, tr->name);
                memmove(w, w + 2, wb);
            }
            free(w); free(xq); free(xq2); free(x); free(wf); free(xf);
        }
    }
}

/* ---- vec_mad and row ops --------------------------------------------------- */

static void test_vec_mad_and_ops(void)
{
    static const kvlm_dtype kv[] = {KVLM_DTYPE_F32, KVLM_DTYPE_F16, KVLM_DTYPE_BF16, KVLM_DTYPE_Q8_0};
    static const int64_t lens[] = {32, 64, 96, 128, 1024};
    for (int ti = 0; ti < 4; ti++) {
        for (int li = 0; li < 5; li++) {
            int64_t n = lens[li];
            size_t vb = kvlm_dtype_row_bytes(kv[ti], n);
            uint8_t *v = xaligned(vb);
            float *src = xaligned((size_t)n * 4), *vf = xaligned((size_t)n * 4);
            float *y0 = xaligned((size_t)n * 4), *y1 = xaligned((size_t)n * 4);
            for (int64_t i = 0; i < n; i++)
                src[i] = frand();
            kvlm_kernels_ref.quantize_row(kv[ti], src, v, n);
            kvlm_kernels_ref.dequantize_row(kv[ti], v, vf, n);
            float a = frand();
            for (int64_t i = 0; i < n; i++)
                y0[i] = frand();
            memcpy(y1, y0, (size_t)n * 4);
            kvlm_kernels_ref.vec_mad(kv[ti], n, v, a, y1);
            int bad = 0;
            for (int64_t i = 0; i < n; i++)
                bad += fabs(y1[i] - (y0[i] + (double)a * vf[i])) > 1e-6 * (fabs(y0[i]) + fabs(a * vf[i])) + 1e-30;
            CHECK(bad == 0, "ref vec_mad %s n=%lld: %d bad", kvlm_dtype_name(kv[ti]), (long long)n, bad);
            for (int k = 0; k < n_isas; k++) {
                float *y2 = xaligned((size_t)n * 4);
                memcpy(y2, y0, (size_t)n * 4);
                isas[k]->vec_mad(kv[ti], n, v, a, y2);
                bad = 0;
                for (int64_t i = 0; i < n; i++)
                    bad += fabs(y2[i] - y1[i]) > 1e-6 * (fabs(y0[i]) + fabs(a * vf[i])) + 1e-30;
                CHECK(bad == 0, "%s vec_mad %s n=%lld: %d bad", isas[k]->name, kvlm_dtype_name(kv[ti]),
                      (long long)n, bad);
                free(y2);
            }
            free(v); free(src); free(vf); free(y0); free(y1);
        }
    }

    enum { N = 1000 };
    float x[N], g[N], w[N], b[N], y[N], y2[N];
    for (int i = 0; i < N; i++) {
        x[i] = frand() * 3;
        g[i] = frand() * 8;
        w[i] = frand();
        b[i] = frand();
    }
    double ss = 0, s = 0;
    for (int i = 0; i < N; i++) {
        ss += (double)x[i] * x[i];
        s += x[i];
    }
    double mean = s / N, var = 0;
    for (int i = 0; i < N; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= N;
    for (int k = 0; k < n_isas; k++) {
        const kvlm_kernel_ops *o = isas[k];
        int bad = 0;
        o->rmsnorm(N, x, w, 1e-5f, y);
        for (int i = 0; i < N; i++)
            bad += fabs(y[i] - x[i] / sqrt(ss / N + 1e-5) * w[i]) > 1e-5;
        o->rmsnorm(N, x, NULL, 1e-5f, y);
        for (int i = 0; i < N; i++)
            bad += fabs(y[i] - x[i] / sqrt(ss / N + 1e-5)) > 1e-5;
        CHECK(bad == 0, "%s rmsnorm: %d bad", o->name, bad);
        bad = 0;
        o->layernorm(N, x, w, b, 1e-5f, y);
        for (int i = 0; i < N; i++)
            bad += fabs(y[i] - ((x[i] - mean) / sqrt(var + 1e-5) * w[i] + b[i])) > 1e-5;
        CHECK(bad == 0, "%s layernorm: %d bad", o->name, bad);
        bad = 0;
        o->swiglu(N, g, x, y);
        for (int i = 0; i < N; i++)
            bad += fabs(y[i] - g[i] / (1 + exp(-(double)g[i])) * x[i]) > 1e-5 * (1 + fabs(y[i]));
        CHECK(bad == 0, "%s swiglu: %d bad", o->name, bad);
        bad = 0;
        o->gelu(N, g, y);
        for (int i = 0; i < N; i++) {
            double v = g[i];
            double want = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
            bad += fabs(y[i] - want) > 1e-5 * (1 + fabs(want));
        }
        CHECK(bad == 0, "%s gelu: %d bad", o->name, bad);
        {
            /* wide range (exp's clamps, cancellation near 0), an odd tail, and NaN in -> NaN out */
            enum { NW = 1003 };
            float gw[NW], uw[NW], yw[NW];
            for (int i = 0; i < NW; i++) {
                double t = (double)i / (NW - 1);
                gw[i] = (float)(i % 3 == 0 ? (t - 0.5) * 200.0 : i % 3 == 1 ? (t - 0.5) * 1e-3 : (t - 0.5) * 30.0);
                uw[i] = frand() * 2;
            }
            gw[NW - 2] = NAN;
            int badw = 0;
            o->swiglu(NW, gw, uw, yw);
            for (int i = 0; i < NW - 2; i++) {
                double gd = gw[i], want = gd / (1 + exp(-gd)) * uw[i];
                if (!(fabs(yw[i] - want) <= 2e-6 * fabs(want) + 1e-35) && badw++ < 5)
                    fprintf(stderr, "%s swiglu(%.9g) = %.9g, want %.9g\n", o->name, gd, yw[i], want);
            }
            badw += !isnan(yw[NW - 2]);
            o->gelu(NW, gw, yw);
            for (int i = 0; i < NW - 2; i++) {
                /* 0.5 v (1 + tanh t) written as v / (1 + e^-2t): the same function, without
                 * the oracle's own cancellation for t << 0 (where 1 + tanh t rounds to 0) */
                double v = gw[i], t = sqrt(2 / M_PI) * (v + 0.044715 * v * v * v);
                double want = v / (1 + exp(-2 * t));
                /* float t carries a relative error of ~1 ulp, which e^-2t multiplies by |2t| */
                if (!(fabs(yw[i] - want) <= 2e-7 * (8 + 2 * fabs(t)) * fabs(want) + 1e-35) && badw++ < 5)
                    fprintf(stderr, "%s gelu(%.9g) = %.9g, want %.9g\n", o->name, v, yw[i], want);
            }
            badw += !isnan(yw[NW - 2]);
            CHECK(badw == 0, "%s swiglu/gelu over a wide range: %d bad", o->name, badw);
        }
        {
            /* softmax against double precision, every length 1..41 (tails), scores up to +-60 */
            int bads = 0;
            for (int n = 1; n <= 41; n++) {
                float sx[41];
                double e[41], mx = -INFINITY, sum = 0;
                for (int j = 0; j < n; j++) {
                    sx[j] = frand() * (n % 2 ? 60.0f : 3.0f);
                    mx = fmax(mx, 0.125 * sx[j]);
                }
                for (int j = 0; j < n; j++)
                    sum += (e[j] = exp(0.125 * sx[j] - mx));
                o->softmax(n, sx, 0.125f);
                for (int j = 0; j < n; j++)
                    bads += !(fabs(sx[j] - e[j] / sum) <= 2e-6 * e[j] / sum + 1e-30);
            }
            CHECK(bads == 0, "%s softmax: %d bad", o->name, bads);
        }
        memcpy(y, x, sizeof y);
        memcpy(y2, w, sizeof y2);
        o->add(N, y2, y);
        bad = 0;
        for (int i = 0; i < N; i++)
            bad += y[i] != x[i] + w[i];
        CHECK(bad == 0, "%s add: %d bad", o->name, bad);
    }
}

/* The AVX-512 softmax runs e^x 16 lanes at a time but keeps the 8-wide
 * kernel's bits (the same operations per element, the same 8 lane sums in
 * the same order): it must equal the AVX2 table's on every length, the
 * 16-, 8- and 1-element steps and the masked tail alike. */
static void test_softmax_widths(void)
{
    const kvlm_kernel_ops *a2 = NULL, *a5 = NULL;
    for (int k = 0; k < n_isas; k++) {
        if (strcmp(isas[k]->name, "avx2") == 0) a2 = isas[k];
        if (strcmp(isas[k]->name, "avx512") == 0) a5 = isas[k];
    }
    if (!a2 || !a5)
        return;
    int bad = 0;
    for (int n = 1; n <= 200; n++) {
        float x2[200], x5[200];
        for (int j = 0; j < n; j++)
            x2[j] = x5[j] = frand() * (n % 3 ? 40.0f : 2.0f);
        a2->softmax(n, x2, 0.125f);
        a5->softmax(n, x5, 0.125f);
        bad += memcmp(x2, x5, (size_t)n * 4) != 0;
    }
    CHECK(bad == 0, "softmax: avx512 differs from avx2 at %d of 200 lengths", bad);
}

/* ---- xb16 (the BF16 matmul) -------------------------------------------------------
 * kvlm_bf16_ftz's rounding; packing F16/BF16 rows and reading them back;
 * the reference xb16_dot against a double-precision sum of the same BF16
 * values; and every table's xb16_dot (AVX-512 BF16's vdpbf16ps) against the
 * reference bit for bit - many shapes (tiles of 1-8 activation rows, 1-3
 * and 8 groups, a partial last group) and values whose products and sums
 * reach the subnormal range, where the results are flushed to zero. */
static void test_xb16(void)
{
    CHECK(kvlm_bf16_ftz(1.0f) == 0x3F80 && kvlm_bf16_ftz(-2.0f) == 0xC000, "bf16 of 1, -2");
    CHECK(kvlm_bf16_ftz(1.0f + 0x1p-8f) == 0x3F80, "1 + half ulp ties to even (down)");
    CHECK(kvlm_bf16_ftz(1.0f + 0x3p-8f) == 0x3F82, "1 + 1.5 ulp ties to even (up)");
    CHECK(kvlm_bf16_ftz(0x1p-127f) == 0x0000 && kvlm_bf16_ftz(-0x1p-127f) == 0x8000, "subnormal -> signed 0");
    CHECK(kvlm_bf16_ftz(0x1p-126f) == 0x0080, "smallest normal kept");
    CHECK((kvlm_bf16_ftz(NAN) & 0x7FC0) == 0x7FC0, "NaN stays NaN");
    enum { N = 96, NOUT = 53, M = 13 };
    uint16_t w16[NOUT * N];
    float wf[NOUT * N];
    int bad = 0;
    for (int tt = 0; tt < 2; tt++) {
        kvlm_dtype t = tt ? KVLM_DTYPE_BF16 : KVLM_DTYPE_F16;
        for (int i = 0; i < NOUT * N; i++) {
            float v = frand() * 4.0f;
            w16[i] = tt ? kvlm_f32_to_bf16(v) : kvlm_f32_to_f16(v);
            wf[i] = tt ? kvlm_bf16_to_f32(w16[i]) : kvlm_f16_to_f32(w16[i]);
        }
        uint8_t *g = xaligned(kvlm_xb16_bytes(N, NOUT));
        kvlm_xb16_pack(t, N, w16, N * 2, NOUT, g);
        float row[N];
        for (int r = 0; r < 64; r++) { /* the padding rows read back as zeros */
            kvlm_xb16_row(N, g, r, row);
            for (int k = 0; k < N; k++)
                bad += fbits(row[k]) != fbits(r < NOUT ? kvlm_bf16_to_f32(kvlm_bf16_ftz(wf[r * N + k])) : 0.0f);
        }
        free(g);
    }
    CHECK(bad == 0, "xb16 pack / row: %d values differ", bad);

    /* weights and activations spanning 2^-70 .. 2^10 in magnitude, some
     * exact cancellations: products and partial sums cross 2^-126 */
    float x[M * N];
    for (int i = 0; i < NOUT * N; i++) {
        float v = frand();
        int e = (int)(rnd() % 8) == 0 ? -60 - (int)(rnd() % 10) : (int)(rnd() % 14) - 4;
        w16[i] = kvlm_f32_to_bf16(ldexpf(v, e));
    }
    for (int i = 0; i < M * N; i++) {
        float v = frand();
        int e = (int)(rnd() % 8) == 0 ? -60 - (int)(rnd() % 10) : (int)(rnd() % 14) - 4;
        x[i] = ldexpf(v, e);
    }
    /* weight rows 1 and 2 and activation row 1 near 2^-64: their products
     * are around 2^-128, subnormal, and the results are flushed (row 2
     * reaches them after a normal start that cancels: x0 * (w0 - w0)) */
    for (int k = 0; k < N; k++) {
        w16[N + k] = kvlm_f32_to_bf16(ldexpf(frand(), -64));
        w16[2 * N + k] = kvlm_f32_to_bf16(ldexpf(frand(), -64 + (k < 2 ? 70 : 0)));
        x[N + k] = ldexpf(frand(), -63);
    }
    w16[2 * N + 1] = (uint16_t)(w16[2 * N] ^ 0x8000);
    x[N + 1] = x[N];
    uint8_t *g = xaligned(kvlm_xb16_bytes(N, NOUT));
    kvlm_xb16_pack(KVLM_DTYPE_BF16, N, w16, N * 2, NOUT, g);
    size_t xs = N * 2 + 6;
    uint8_t *xq = xaligned(xs * M);
    for (int c = 0; c < M; c++)
        kvlm_xb16_x(N, x + c * N, (uint16_t *)(void *)(xq + c * xs));
    const int64_t ldy = 70;
    float *ref = malloc(sizeof(float) * M * ldy), *got = malloc(sizeof(float) * M * ldy);
    const int64_t ng = (NOUT + 15) / 16;
    kvlm_ref_xb16_dot(N, g, ng, xq, xs, M, ref, ldy, NOUT);
    int far = 0, flushed = 0;
    for (int c = 0; c < M; c++)
        for (int r = 0; r < NOUT; r++) {
            double sum = 0, mag = 0;
            float wr[N];
            kvlm_xb16_row(N, g, r, wr);
            for (int k = 0; k < N; k++) {
                uint16_t xb;
                memcpy(&xb, xq + c * xs + 2 * k, 2);
                double p = (double)wr[k] * kvlm_bf16_to_f32(xb);
                sum += p;
                mag += fabs(p);
            }
            float v = ref[c * ldy + r];
            flushed += v == 0.0f && sum != 0;
            far += !(fabs(v - sum) <= 1e-6 * mag + 0x1p-120);
        }
    CHECK(far == 0, "reference xb16_dot: %d of %d elements far from the double sum", far, M * NOUT);
    for (int k = 0; k < n_isas; k++) {
        const kvlm_kernel_ops *o = isas[k];
        if (!o->xb16_dot)
            continue;
        int mism = 0, runs = 0;
        for (int m = 1; m <= M; m++)
            for (int64_t g0 = 0; g0 < ng; g0++) {
                /* groups [g0, ng), columns up to the weight's last row */
                for (size_t i = 0; i < (size_t)(M * ldy); i++)
                    got[i] = -7.0f;
                int64_t ncols = NOUT - 16 * g0;
                o->xb16_dot(N, g + (size_t)g0 * N * 32, ng - g0, xq, xs, m, got, ldy, ncols);
                runs++;
                for (int c = 0; c < M; c++)
                    for (int64_t r = 0; r < ldy; r++) {
                        float want = c < m && r < ncols ? ref[c * ldy + 16 * g0 + r] : -7.0f;
                        mism += fbits(got[c * ldy + r]) != fbits(want);
                    }
            }
        CHECK(mism == 0, "%s xb16_dot: %d mismatches with the reference in %d runs", o->name, mism, runs);
    }
    /* 8 groups for one row (the decode tile) */
    enum { NO8 = 16 * 9 };
    uint8_t *g8 = xaligned(kvlm_xb16_bytes(N, NO8));
    uint16_t *w8 = malloc(sizeof(uint16_t) * NO8 * N);
    for (int i = 0; i < NO8 * N; i++)
        w8[i] = kvlm_f32_to_bf16(frand());
    kvlm_xb16_pack(KVLM_DTYPE_BF16, N, w8, N * 2, NO8, g8);
    kvlm_ref_xb16_dot(N, g8, 9, xq, xs, 1, ref, NO8, NO8);
    for (int k = 0; k < n_isas; k++)
        if (isas[k]->xb16_dot) {
            isas[k]->xb16_dot(N, g8, 9, xq, xs, 1, got, NO8, NO8);
            CHECK(memcmp(got, ref, NO8 * sizeof(float)) == 0, "%s xb16_dot: 9 groups x 1 row differ", isas[k]->name);
        }
    printf("xb16: %d of %d reference elements flushed to zero\n", flushed, M * NOUT);
    free(g8); free(w8); free(g); free(xq); free(ref); free(got);
}

/* ---- F32 panels ---------------------------------------------------------------- */

static void test_panels(void)
{
    const kvlm_dtype t = KVLM_DTYPE_F32;
    for (int k = 0; k < n_isas; k++) {
        const kvlm_kernel_ops *o = isas[k];
        if (!o->panel_dot)
            continue;
        const int64_t n = 101; /* a float tail after the 8-lane chunks */
        enum { MAXR = 9, MAXM = 9 };
        size_t wb = kvlm_dtype_row_bytes(t, n), xb = wb;
        uint8_t *w = xaligned(wb * MAXR), *x = xaligned(xb * MAXM);
        float y[MAXM * MAXR];
        for (int r = 0; r < MAXR; r++)
            random_row(t, w + r * wb, n);
        for (int c = 0; c < MAXM; c++)
            random_row(t, x + c * xb, n);
        int bad = 0;
        for (int rows = 1; rows <= MAXR; rows++)
            for (int m = 1; m <= MAXM; m++) {
                memset(y, 0xFF, sizeof y);
                o->panel_dot(t, n, w, wb, rows, x, xb, m, y, MAXR);
                for (int c = 0; c < m; c++)
                    for (int r = 0; r < rows; r++)
                        bad += fbits(y[c * MAXR + r]) != fbits(o->vec_dot(t, n, w + r * wb, x + c * xb));
            }
        CHECK(bad == 0, "%s panel_dot f32: %d elements differ from vec_dot", o->name, bad);
        free(w); free(x);
    }
}

/* ---- attention row kernels ------------------------------------------------- */

static void test_attn_rows(void)
{
    static const kvlm_dtype kv_types[] = {KVLM_DTYPE_F32, KVLM_DTYPE_F16, KVLM_DTYPE_BF16, KVLM_DTYPE_Q8_0};
    static const int64_t ns[] = {32, 64, 96, 128};
    for (int k = 0; k < n_isas; k++) {
        const kvlm_kernel_ops *o = isas[k];
        if (!o->dot_rows || !o->mad_rows)
            continue;
        for (int ti = 0; ti < 4; ti++)
        for (int ni = 0; ni < 4; ni++) {
            kvlm_dtype t = kv_types[ti];
            int64_t n = ns[ni];
            const kvlm_dtype_traits *tr = kvlm_dtype_traits_get(t);
            size_t rb = kvlm_dtype_row_bytes(t, n) + 6; /* odd stride: rows not aligned */
            enum { NR = 19 };
            /* NX queries (fours, a pair and a single one in the AVX-512 build), xs apart */
            enum { NX = 7 };
            size_t xs = kvlm_dtype_row_bytes(tr->act_type, n) + 64;
            uint8_t *rows = xaligned(rb * NR), *x = xaligned(xs * NX);
            /* mad_rows: up to NA queries, weight rows NR + 1 apart, outputs n + 5 apart */
            enum { NA = 9 };
            const size_t ldy = (size_t)n + 5;
            float *xf = malloc((size_t)n * 4), *y1 = malloc(ldy * NA * 4), *y2 = malloc(ldy * NA * 4);
            float a[NA][NR + 1], out[NX][NR + 1];
            for (int j = 0; j < NR; j++)
                random_row(t, rows + j * rb, n);
            for (int q = 0; q < NA; q++)
                for (int j = 0; j <= NR; j++)
                    a[q][j] = frand();
            for (int q = NX - 1; q >= 0; q--) { /* xf ends as query 0 */
                for (int64_t i = 0; i < n; i++)
                    xf[i] = frand();
                o->quantize_row(tr->act_type, xf, x + q * xs, n);
            }
            int bad = 0;
            for (int nr = 1; nr <= NR; nr++) {
                for (int nx = 1; nx <= NX; nx++) {
                    o->dot_rows(t, n, rows, rb, nr, x, xs, nx, out[0], NR + 1);
                    for (int q = 0; q < nx; q++)
                        for (int j = 0; j < nr; j++)
                            bad += fbits(out[q][j]) != fbits(o->vec_dot(t, n, rows + j * rb, x + q * xs));
                }
                for (int na = 1; na <= NA; na++) {
                    for (size_t i = 0; i < ldy * NA; i++)
                        y1[i] = y2[i] = frand();
                    o->mad_rows(t, n, rows, rb, nr, a[0], NR + 1, na, y1, ldy);
                    for (int q = 0; q < na; q++)
                        for (int j = 0; j < nr; j++)
                            o->vec_mad(t, n, rows + j * rb, a[q][j], y2 + q * ldy);
                    bad += memcmp(y1, y2, ldy * NA * 4) != 0; /* the gaps and rows past na untouched too */
                }
            }
            CHECK(bad == 0, "%s dot_rows/mad_rows %s n=%lld: %d mismatches", o->name, tr->name, (long long)n, bad);
            free(rows); free(x); free(xf); free(y1); free(y2);
        }
    }
}

/* ---- matmul ---------------------------------------------------------------- */

static void test_matmul(void)
{
    kvlm_threadpool *pools[3] = {NULL, kvlm_threadpool_create(2), kvlm_threadpool_create(3)};
    /* n_out, m: groups + tail rows; tail only; many groups; 3 groups, one row;
     * 50 groups, so that a thread's chunk holds 7 (1 thread), 4 (2) or 3
     * (3 threads) groups against 2 full 8-row tiles and 3 rows (the F16/BF16
     * AVX-512 tiles of 6, 4 and 2 groups and the odd one) */
    static const int64_t shapes[5][2] = {{45, 37}, {3, 5}, {130, 2}, {27, 1}, {400, 19}};
    for (int si = 0; si < 5; si++)
    for (int ti = 0; ti < N_WTYPES; ti++) {
        kvlm_dtype t = WEIGHT_TYPES[ti];
        const kvlm_dtype_traits *tr = kvlm_dtype_traits_get(t);
        int64_t n_in = tr->block_elems == 256 ? 512 : 96, n_out = shapes[si][0], m = shapes[si][1];
        int64_t ldx = n_in + 3, ldy = n_out + 5;
        kvlm_weight W = {t, n_in, n_out, kvlm_dtype_row_bytes(t, n_in), NULL, false, false};
        uint8_t *wd = xaligned(W.row_bytes * (size_t)n_out);
        for (int64_t r = 0; r < n_out; r++)
            random_row(t, wd + r * W.row_bytes, n_in);
        W.data = wd;
        /* the same weights in the x8 layout (groups, then the last n_out % 8 rows as they are) */
        kvlm_weight W8 = W;
        uint8_t *w8 = NULL;
        if (kvlm_x8_type(t)) {
            w8 = xaligned(W.row_bytes * (size_t)n_out);
            int64_t g = n_out / 8;
            kvlm_x8_pack(t, n_in, wd, W.row_bytes, g, w8);
            memcpy(w8 + g * 8 * W.row_bytes, wd + g * 8 * W.row_bytes, (size_t)(n_out - 8 * g) * W.row_bytes);
            W8.data = w8;
            W8.x8 = true;
            int bad = 0, badf = 0;
            uint8_t *row = xaligned(W.row_bytes);
            float *f0 = xaligned((size_t)n_in * 4), *f1 = xaligned((size_t)n_in * 4);
            for (int64_t r = 0; r < n_out; r++) {
                if (r < 8 * g) {
                    kvlm_x8_unpack_row(t, n_in, w8, r, row);
                    bad += memcmp(row, wd + r * W.row_bytes, W.row_bytes) != 0;
                }
                kvlm_kernels_ref.dequantize_row(t, wd + r * W.row_bytes, f0, n_in);
                kvlm_weight_dequant_row(&kvlm_kernels_ref, &W8, r, f1);
                badf += memcmp(f0, f1, (size_t)n_in * 4) != 0;
            }
            CHECK(bad == 0 && badf == 0, "x8 %s: %d rows unpack differently, %d dequantize differently",
                  tr->name, bad, badf);
            free(row);
            free(f0);
            free(f1);
        }
        float *x = xaligned((size_t)(m * ldx) * 4), *bias = xaligned((size_t)n_out * 4);
        for (int64_t i = 0; i < m * ldx; i++)
            x[i] = frand();
        for (int64_t i = 0; i < n_out; i++)
            bias[i] = frand();
        float *y = xaligned((size_t)(m * ldy) * 4), *y1 = xaligned((size_t)(m * ldy) * 4);
        void *scratch = xaligned(kvlm_matmul_scratch_bytes(&W, m) + 1);
        uint8_t *xq = xaligned(kvlm_dtype_row_bytes(tr->act_type, n_in));
        for (int lay = 0; lay < (w8 ? 2 : 1); lay++)
        for (int k = 0; k < n_isas; k++) {
            const kvlm_kernel_ops *o = isas[k];
            const kvlm_weight *Wp = lay ? &W8 : &W;
            for (int withb = 0; withb < 2; withb++) {
                const float *bb = withb ? bias : NULL;
                kvlm_matmul(NULL, o, Wp, bb, x, ldx, m, y, ldy, scratch);
                /* F16/BF16 matmuls give the reference's chain on every ISA */
                const kvlm_kernel_ops *oracle = kvlm_x8_float(t) ? &kvlm_kernels_ref : o;
                int bad = 0;
                for (int64_t r = 0; r < m; r++) {
                    o->quantize_row(tr->act_type, x + r * ldx, xq, n_in);
                    for (int64_t c = 0; c < n_out; c++) {
                        float v = oracle->vec_dot(t, n_in, wd + c * W.row_bytes, xq);
                        if (bb)
                            v += bb[c];
                        bad += fbits(v) != fbits(y[r * ldy + c]);
                    }
                }
                CHECK(bad == 0, "%s matmul %s%s bias=%d: %d elements differ from %s vec_dot", o->name,
                      tr->name, lay ? " (x8 layout)" : "", withb, bad, oracle->name);
                for (int p = 0; p < 3; p++) {
                    if (p > 0 && !pools[p])
                        continue;
                    memset(y1, 0, (size_t)(m * ldy) * 4);
                    kvlm_matmul(pools[p], o, Wp, bb, x, ldx, m, y1, ldy, scratch);
                    bad = 0;
                    for (int64_t r = 0; r < m; r++)
                        bad += memcmp(y + r * ldy, y1 + r * ldy, (size_t)n_out * 4) != 0;
                    CHECK(bad == 0, "%s matmul %s: %d rows differ with %d threads", o->name, tr->name, bad,
                          kvlm_threadpool_n_threads(pools[p]));
                    bad = 0;
                    for (int64_t r = 0; r < m; r++) {
                        kvlm_matmul(pools[p], o, Wp, bb, x + r * ldx, ldx, 1, y1, ldy, scratch);
                        bad += memcmp(y + r * ldy, y1, (size_t)n_out * 4) != 0;
                    }
                    CHECK(bad == 0, "%s matmul %s: %d rows differ when computed alone (%d threads)",
                          o->name, tr->name, bad, kvlm_threadpool_n_threads(pools[p]));
                }
            }
        }
        free(wd); free(w8); free(x); free(bias); free(y); free(y1); free(scratch); free(xq);
    }
    kvlm_threadpool_free(pools[1]);
    kvlm_threadpool_free(pools[2]);
}

/* x8_dot called directly with more K-quant groups than one expansion pass
 * of the prefill path holds (512 KB: 184-210 groups of one super-block),
 * so the pass loop runs more than once; every ISA against the reference */
static void test_x8_expand_passes(void)
{
    static const kvlm_dtype types[3] = {KVLM_DTYPE_Q4_K, KVLM_DTYPE_Q5_K, KVLM_DTYPE_Q6_K};
    const int64_t n = 256, ngroups = 450, m = 9;
    for (int ti = 0; ti < 3; ti++) {
        kvlm_dtype t = types[ti];
        size_t rb = kvlm_dtype_row_bytes(t, n), xs = kvlm_dtype_row_bytes(KVLM_DTYPE_Q8_K, n);
        uint8_t *w = xaligned(rb * 8 * ngroups), *g = xaligned(rb * 8 * ngroups), *x = xaligned(xs * m);
        float *xf = xaligned((size_t)n * 4), *y0 = xaligned((size_t)(m * 8 * ngroups) * 4),
              *y1 = xaligned((size_t)(m * 8 * ngroups) * 4);
        for (int64_t r = 0; r < 8 * ngroups; r++)
            random_row(t, w + r * rb, n);
        kvlm_x8_pack(t, n, w, rb, ngroups, g);
        for (int64_t c = 0; c < m; c++) {
            for (int64_t i = 0; i < n; i++)
                xf[i] = frand();
            kvlm_kernels_ref.quantize_row(KVLM_DTYPE_Q8_K, xf, x + c * xs, n);
        }
        kvlm_ref_x8_dot(t, n, g, ngroups, x, xs, NULL, m, y0, 8 * ngroups);
        for (int k = 0; k < n_isas; k++) {
            if (!isas[k]->x8_dot)
                continue;
            memset(y1, 0xff, (size_t)(m * 8 * ngroups) * 4);
            isas[k]->x8_dot(t, n, g, ngroups, x, xs, NULL, m, y1, 8 * ngroups);
            CHECK(memcmp(y0, y1, (size_t)(m * 8 * ngroups) * 4) == 0,
                  "%s x8_dot %s, %lld groups x %lld rows: differs from the reference", isas[k]->name,
                  kvlm_dtype_traits_get(t)->name, (long long)ngroups, (long long)m);
        }
        free(w); free(g); free(x); free(xf); free(y0); free(y1);
    }
}

int main(void)
{
    CHECK(kvlm_dtype_row_bytes(KVLM_DTYPE_Q4_K, 512) == 288, "q4_K row bytes");
    CHECK(kvlm_dtype_row_bytes(KVLM_DTYPE_Q8_0, 33) == 0, "partial block rejected");
    CHECK(kvlm_dtype_row_bytes(KVLM_DTYPE_Q8_K, 256) == 292, "q8_K block bytes");
    CHECK(kvlm_dtype_traits_get((kvlm_dtype)99) == NULL, "unknown dtype");
    for (int isa = KVLM_ISA_REF; isa <= KVLM_ISA_AVX512; isa++) {
        const kvlm_kernel_ops *o = kvlm_kernels_get((kvlm_isa)isa);
        if (o) {
            CHECK(o->isa == (kvlm_isa)isa, "table isa");
            isas[n_isas++] = o;
        }
        printf("isa %d: %s\n", isa, o ? "available, testing" : "not available on this CPU");
    }
    REQUIRE(kvlm_kernels() != NULL, "kvlm_kernels");
    printf("kvlm_kernels() selects %s\n", kvlm_kernels()->name);
    test_conversions();
    test_dequantize_oracle();
    test_vec_dot();
    test_vec_mad_and_ops();
    test_panels();
    test_attn_rows();
    test_softmax_widths();
    test_xb16();
    test_matmul();
    test_x8_expand_passes();
    TEST_MAIN_END("test_kernels");
}
