/*
 * peak.c - compute peak probe for docs/PERFORMANCE.md: the most this machine
 * can do per second with the instructions kvlm's kernels use.
 *
 *   cc -O3 -mavx2 -mfma -pthread -o bench/out/peak bench/peak.c
 *   bench/out/peak THREADS      -> "F32_GFLOPS INT8_GOPS" on stdout
 *
 * f32: 12 independent 8-lane FMA chains per thread (enough to cover the FMA
 *      latency on 2 FMA pipes), 2 FLOP per lane; on a CPU with AVX-512 the
 *      same with 16-lane FMAs, and the larger of the two is the peak (some
 *      CPUs run 512-bit FMAs at the 256-bit FLOP rate, some at twice it;
 *      kvlm's AVX-512 table uses them for prefill either way).
 * int8: the int8 dot of the Q8_0/Q4_0 kernels, vpmaddubsw + vpmaddwd (32
 *      multiply-adds = 64 OP per pair), 12 independent chains; on a CPU
 *      with AVX-512 VNNI, where kvlm's AVX-512 table forms the same sums
 *      with vpdpbusd, the larger of its 256-bit and 512-bit rates instead
 *      (every rate goes to stderr).
 * Each thread runs ~0.5 s; the figure is the sum over threads. Nothing here
 * is part of kvlm; it only gives the prefill tables a ceiling.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERS 20000000L

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct { int kind; double ops_per_s; float sink; } job;

/* 12 independent 256-bit vpdpbusd chains: 32 multiply-adds = 64 OP each */
__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) static float vnni_chains(void)
{
    __m256i u = _mm256_set1_epi8(3), v = _mm256_set1_epi8(-5), a[12];
    for (int k = 0; k < 12; k++) a[k] = _mm256_set1_epi32(k);
    for (long i = 0; i < ITERS / 4; i++) {
#pragma GCC unroll 12
        for (int k = 0; k < 12; k++)
            a[k] = _mm256_dpbusd_epi32(a[k], u, v);
    }
    __m256i s = a[0];
    for (int k = 1; k < 12; k++) s = _mm256_add_epi32(s, a[k]);
    return (float)_mm256_extract_epi32(s, 0);
}

/* the same with 512-bit registers: 64 multiply-adds = 128 OP each */
__attribute__((target("avx512f,avx512vnni"))) static float vnni512_chains(void)
{
    __m512i u = _mm512_set1_epi8(3), v = _mm512_set1_epi8(-5), a[12];
    for (int k = 0; k < 12; k++) a[k] = _mm512_set1_epi32(k);
    for (long i = 0; i < ITERS / 4; i++) {
#pragma GCC unroll 12
        for (int k = 0; k < 12; k++)
            a[k] = _mm512_dpbusd_epi32(a[k], u, v);
    }
    __m512i s = a[0];
    for (int k = 1; k < 12; k++) s = _mm512_add_epi32(s, a[k]);
    return (float)_mm512_reduce_add_epi32(s);
}

/* 12 independent 16-lane FMA chains, 32 FLOP each */
__attribute__((target("avx512f"))) static float fma512_chains(void)
{
    __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < 12; k++) a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < ITERS / 4; i++) {
#pragma GCC unroll 12
        for (int k = 0; k < 12; k++) a[k] = _mm512_fmadd_ps(a[k], m, c);
    }
    __m512 s = a[0];
    for (int k = 1; k < 12; k++) s = _mm512_add_ps(s, a[k]);
    return _mm512_reduce_add_ps(s);
}

static void *run(void *arg)
{
    job *j = arg;
    double t0 = now();
    if (j->kind == 3) {
        j->sink = fma512_chains();
        j->ops_per_s = (double)(ITERS / 4) * 12 * 32 / (now() - t0);
    } else if (j->kind == 4) {
        j->sink = vnni512_chains();
        j->ops_per_s = (double)(ITERS / 4) * 12 * 128 / (now() - t0);
    } else if (j->kind == 2) {
        j->sink = vnni_chains();
        j->ops_per_s = (double)(ITERS / 4) * 12 * 64 / (now() - t0);
    } else if (j->kind == 0) {
        __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
        for (int k = 0; k < 12; k++) a[k] = _mm256_set1_ps((float)k);
        for (long i = 0; i < ITERS / 4; i++) {
#pragma GCC unroll 12
            for (int k = 0; k < 12; k++) a[k] = _mm256_fmadd_ps(a[k], m, c);
        }
        __m256 s = a[0];
        for (int k = 1; k < 12; k++) s = _mm256_add_ps(s, a[k]);
        j->sink = _mm256_cvtss_f32(s);
        j->ops_per_s = (double)(ITERS / 4) * 12 * 16 / (now() - t0);
    } else {
        __m256i u = _mm256_set1_epi8(3), v = _mm256_set1_epi8(-5), one = _mm256_set1_epi16(1), a[12];
        for (int k = 0; k < 12; k++) a[k] = _mm256_set1_epi32(k);
        for (long i = 0; i < ITERS / 4; i++) {
#pragma GCC unroll 12
            for (int k = 0; k < 12; k++)
                a[k] = _mm256_add_epi32(a[k], _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_xor_si256(v, a[k])), one));
        }
        __m256i s = a[0];
        for (int k = 1; k < 12; k++) s = _mm256_add_epi32(s, a[k]);
        j->sink = (float)_mm256_extract_epi32(s, 0);
        j->ops_per_s = (double)(ITERS / 4) * 12 * 64 / (now() - t0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int nt = argc > 1 ? atoi(argv[1]) : 1;
    if (nt < 1 || nt > 256) nt = 1;
    double res[5] = {0, 0, 0, 0, 0};
    __builtin_cpu_init();
    int vnni = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
    int avx512 = __builtin_cpu_supports("avx512f");
    for (int kind = 0; kind < 5; kind++) {
        if ((kind == 2 || kind == 4) && !vnni)
            continue;
        if (kind == 3 && !avx512)
            continue;
        pthread_t th[256];
        job jobs[256];
        for (int t = 0; t < nt; t++) {
            jobs[t].kind = kind;
            pthread_create(&th[t], NULL, run, &jobs[t]);
        }
        res[kind] = 0;
        for (int t = 0; t < nt; t++) {
            pthread_join(th[t], NULL);
            res[kind] += jobs[t].ops_per_s;
        }
    }
    if (avx512)
        fprintf(stderr, "f32 FMA 256-bit %.1f GFLOP/s, 512-bit %.1f GFLOP/s\n", res[0] / 1e9, res[3] / 1e9);
    if (vnni)
        fprintf(stderr, "int8 vpmaddubsw+vpmaddwd %.1f GOP/s, vpdpbusd 256-bit %.1f GOP/s, 512-bit %.1f GOP/s\n",
                res[1] / 1e9, res[2] / 1e9, res[4] / 1e9);
    double f32 = res[3] > res[0] ? res[3] : res[0];
    double i8 = vnni ? (res[4] > res[2] ? res[4] : res[2]) : res[1];
    printf("%.1f %.1f\n", f32 / 1e9, i8 / 1e9);
    return 0;
}
