/*
 * peak.c - compute peak probe for docs/PERFORMANCE.md: the most this machine
 * can do per second with the instructions kvlm's kernels use.
 *
 *   cc -O3 -mavx2 -mfma -pthread -o bench/out/peak bench/peak.c
 *   bench/out/peak THREADS      -> "F32_GFLOPS INT8_GOPS BF16_GFLOPS" on stdout
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
 * bf16: 512-bit vdpbf16ps (32 multiply-adds = 64 FLOP), the BF16 matmul's
 *      instruction, 12 chains; 0 where the CPU lacks AVX-512 BF16.
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

/* NAME(): 12 independent chains a[k] = STEP (k = 0..11, a[k] of type V
 * starting at INIT, with the constants CONSTS) run ITERS / 4 times, then
 * added with ADD; the sum s, as OUT, keeps the chains live */
#define CHAINS(NAME, TARGET, V, CONSTS, INIT, STEP, ADD, OUT)                  \
    __attribute__((target(TARGET))) static float NAME(void)                   \
    {                                                                          \
        CONSTS;                                                                \
        V a[12];                                                               \
        for (int k = 0; k < 12; k++) a[k] = INIT;                              \
        for (long i = 0; i < ITERS / 4; i++) {                                 \
            _Pragma("GCC unroll 12") for (int k = 0; k < 12; k++) a[k] = STEP; \
        }                                                                      \
        V s = a[0];                                                            \
        for (int k = 1; k < 12; k++) s = ADD(s, a[k]);                         \
        return OUT;                                                            \
    }

/* kind 0: 8-lane FMAs, 16 FLOP each */
CHAINS(fma256_chains, "avx2,fma", __m256, const __m256 m = _mm256_set1_ps(0.999999f);
       const __m256 c = _mm256_set1_ps(1e-7f), _mm256_set1_ps((float)k), _mm256_fmadd_ps(a[k], m, c),
       _mm256_add_ps, _mm256_cvtss_f32(s))
/* kind 1: vpmaddubsw + vpmaddwd (+ the add), 32 multiply-adds = 64 OP */
CHAINS(pair_chains, "avx2", __m256i, const __m256i u = _mm256_set1_epi8(3); const __m256i v = _mm256_set1_epi8(-5);
       const __m256i one = _mm256_set1_epi16(1), _mm256_set1_epi32(k),
       _mm256_add_epi32(a[k], _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_xor_si256(v, a[k])), one)),
       _mm256_add_epi32, (float)_mm256_extract_epi32(s, 0))
/* kind 2: 256-bit vpdpbusd, 32 multiply-adds = 64 OP */
CHAINS(vnni_chains, "avx2,avx512f,avx512vl,avx512vnni", __m256i, const __m256i u = _mm256_set1_epi8(3);
       const __m256i v = _mm256_set1_epi8(-5), _mm256_set1_epi32(k), _mm256_dpbusd_epi32(a[k], u, v),
       _mm256_add_epi32, (float)_mm256_extract_epi32(s, 0))
/* kind 3: 16-lane FMAs, 32 FLOP each */
CHAINS(fma512_chains, "avx512f", __m512, const __m512 m = _mm512_set1_ps(0.999999f);
       const __m512 c = _mm512_set1_ps(1e-7f), _mm512_set1_ps((float)k), _mm512_fmadd_ps(a[k], m, c),
       _mm512_add_ps, _mm512_reduce_add_ps(s))
/* kind 4: 512-bit vpdpbusd, 64 multiply-adds = 128 OP */
CHAINS(vnni512_chains, "avx512f,avx512vnni", __m512i, const __m512i u = _mm512_set1_epi8(3);
       const __m512i v = _mm512_set1_epi8(-5), _mm512_set1_epi32(k), _mm512_dpbusd_epi32(a[k], u, v),
       _mm512_add_epi32, (float)_mm512_reduce_add_epi32(s))
/* kind 5: 512-bit vdpbf16ps (the BF16 matmul), 32 multiply-adds = 64 FLOP */
CHAINS(bf16_chains, "avx512f,avx512bf16", __m512, const __m512bh u = (__m512bh)_mm512_set1_epi16(0x3F80);
       const __m512bh v = (__m512bh)_mm512_set1_epi16(0x3380), _mm512_set1_ps((float)k),
       _mm512_dpbf16_ps(a[k], u, v), _mm512_add_ps, _mm512_reduce_add_ps(s))

static const struct {
    float (*fn)(void);
    double ops; /* per chain step */
} KINDS[6] = {{fma256_chains, 16}, {pair_chains, 64}, {vnni_chains, 64}, {fma512_chains, 32}, {vnni512_chains, 128},
               {bf16_chains, 64}};

static void *run(void *arg)
{
    job *j = arg;
    double t0 = now();
    j->sink = KINDS[j->kind].fn();
    j->ops_per_s = (double)(ITERS / 4) * 12 * KINDS[j->kind].ops / (now() - t0);
    return NULL;
}

int main(int argc, char **argv)
{
    int nt = argc > 1 ? atoi(argv[1]) : 1;
    if (nt < 1 || nt > 256) nt = 1;
    double res[6] = {0, 0, 0, 0, 0, 0};
    __builtin_cpu_init();
    int vnni = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
    int avx512 = __builtin_cpu_supports("avx512f");
    int bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
    for (int kind = 0; kind < 6; kind++) {
        if ((kind == 2 || kind == 4) && !vnni)
            continue;
        if (kind == 3 && !avx512)
            continue;
        if (kind == 5 && !bf16)
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
    if (bf16)
        fprintf(stderr, "bf16 vdpbf16ps 512-bit %.1f GFLOP/s\n", res[5] / 1e9);
    double f32 = res[3] > res[0] ? res[3] : res[0];
    double i8 = vnni ? (res[4] > res[2] ? res[4] : res[2]) : res[1];
    printf("%.1f %.1f %.1f\n", f32 / 1e9, i8 / 1e9, res[5] / 1e9);
    return 0;
}
