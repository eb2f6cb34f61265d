/*
 * matmul_bench.c - kernel driver for docs/PERFORMANCE.md: kvlm_matmul on
 * random weights of one type in the x8 layout (F32: the row layout), best
 * of REPS calls, in GMAC/s (multiply-adds per second; x2 for GFLOP/s).
 *
 *   sh bench/kernels.sh                      (builds it against build/libkvlm.a)
 *   bench/out/matmul_bench TYPE N_IN N_OUT M THREADS REPS
 *   e.g. bench/out/matmul_bench q4_0 2048 2048 512 1 5
 *
 * TYPE is f32, f16, bf16, q8_0, q4_0, q4_k, q5_k or q6_k. Quantized weights
 * are random bytes with every block's scales set to 1e-3, so every value is
 * finite; the rate does not depend on the values. KVLM_ISA=avx2|avx512
 * picks the kernel table as it does for kvlm. XB16=1 puts f16/bf16 weights
 * in the xb16 layout (the BF16 matmul) instead of x8. Not part of kvlm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/threadpool.h"
#include "kernels/kernels.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const struct {
    const char *name;
    kvlm_dtype t;
    size_t block, scale_at; /* bytes per block; offset of its f16 scale d */
} TYPES[] = {
    {"f32", KVLM_DTYPE_F32, 0, 0},      {"f16", KVLM_DTYPE_F16, 0, 0},
    {"bf16", KVLM_DTYPE_BF16, 0, 0},    {"q8_0", KVLM_DTYPE_Q8_0, 34, 0},
    {"q4_0", KVLM_DTYPE_Q4_0, 18, 0},   {"q4_k", KVLM_DTYPE_Q4_K, 144, 0},
    {"q5_k", KVLM_DTYPE_Q5_K, 176, 0},  {"q6_k", KVLM_DTYPE_Q6_K, 210, 208},
};

static void *xalloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: matmul_bench TYPE N_IN N_OUT M THREADS REPS\n");
        return 2;
    }
    int ti = -1;
    for (int i = 0; i < (int)(sizeof TYPES / sizeof TYPES[0]); i++)
        if (!strcmp(argv[1], TYPES[i].name)) ti = i;
    long n = atol(argv[2]), no = atol(argv[3]), m = atol(argv[4]);
    int threads = atoi(argv[5]), reps = atoi(argv[6]);
    if (ti < 0 || n < 256 || n % 256 || no < 8 || no % 8 || m < 1 || threads < 1 || reps < 1) {
        fprintf(stderr, "matmul_bench: unknown type, or N_IN not a multiple of 256, N_OUT of 8\n");
        return 2;
    }
    kvlm_dtype t = TYPES[ti].t;
    size_t rb = kvlm_dtype_row_bytes(t, n), bytes = rb * (size_t)no;
    uint8_t *w = xalloc(bytes);
    srand(1);
    if (t == KVLM_DTYPE_F32) {
        for (size_t i = 0; i < bytes / 4; i++) ((float *)(void *)w)[i] = (float)(rand() % 2001 - 1000) * 1e-5f;
    } else if (t == KVLM_DTYPE_F16 || t == KVLM_DTYPE_BF16) {
        for (size_t i = 0; i < bytes / 2; i++) {
            float f = (float)(rand() % 2001 - 1000) * 1e-5f;
            ((uint16_t *)(void *)w)[i] = t == KVLM_DTYPE_F16 ? kvlm_f32_to_f16(f) : kvlm_f32_to_bf16(f);
        }
    } else {
        uint16_t d = kvlm_f32_to_f16(1e-3f);
        for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)rand();
        for (size_t i = 0; i < bytes; i += TYPES[ti].block) {
            memcpy(w + i + TYPES[ti].scale_at, &d, 2);
            if (t == KVLM_DTYPE_Q4_K || t == KVLM_DTYPE_Q5_K) memcpy(w + i + 2, &d, 2); /* dmin */
        }
    }
    kvlm_weight W = {.type = t, .n_in = n, .n_out = no, .row_bytes = rb, .data = w, .x8 = false};
    if ((t == KVLM_DTYPE_F16 || t == KVLM_DTYPE_BF16) && getenv("XB16") && atoi(getenv("XB16"))) {
        uint8_t *xb = xalloc(kvlm_xb16_bytes(n, no));
        kvlm_xb16_pack(t, n, w, rb, no, xb);
        W.data = xb;
        W.xb16 = true;
    } else if (kvlm_x8_type(t)) {
        uint8_t *x8 = xalloc(bytes);
        kvlm_x8_pack(t, n, w, rb, no / 8, x8);
        W.data = x8;
        W.x8 = true;
    }
    float *x = xalloc((size_t)m * (size_t)n * 4), *y = xalloc((size_t)m * (size_t)no * 4);
    for (long i = 0; i < m * n; i++) x[i] = (float)(rand() % 100) * 0.01f;
    void *scratch = xalloc(kvlm_matmul_scratch_bytes(&W, m) + 64);
    kvlm_threadpool *tp = threads > 1 ? kvlm_threadpool_create(threads) : NULL;
    const kvlm_kernel_ops *ops = kvlm_kernels();
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        kvlm_matmul(tp, ops, &W, NULL, x, n, m, y, no, scratch);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    printf("%s %s %ld x %ld, m = %ld, %d thread%s: %.1f GMAC/s\n", ops->name, argv[1], no, n, m, threads,
           threads > 1 ? "s" : "", (double)n * (double)no * (double)m / best / 1e9);
    return 0;
}
