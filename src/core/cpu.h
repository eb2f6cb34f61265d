/*
 * cpu.h - x86 CPU feature detection for kernel dispatch, and the number of
 * online CPUs (the default thread count).
 *
 * A feature is reported only if the CPU has it AND the OS saves the register
 * state it needs (XGETBV: YMM for AVX/AVX2, opmask+ZMM for AVX-512), so a
 * kernel selected from these flags never faults. On non-x86 builds every
 * flag is false. Detection runs once; the result is immutable afterwards.
 */
#ifndef KVLM_CPU_H
#define KVLM_CPU_H

#include <stdbool.h>

typedef struct kvlm_cpu_features {
    bool avx2, fma, f16c;                 /* the AVX2 kernel level */
    bool avx512f, avx512bw, avx512vl, avx512dq; /* the AVX-512 kernel level */
    bool avx512vnni, avx512bf16;          /* optional extras */
} kvlm_cpu_features;

/* Features of this CPU (detected on first call; thread-safe). */
const kvlm_cpu_features *kvlm_cpu_get(void);

/* CPUs online now (sysconf), at least 1. */
int kvlm_cpu_count(void);

#endif /* KVLM_CPU_H */
