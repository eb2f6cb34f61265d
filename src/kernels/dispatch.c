/*
 * dispatch.c - picks the kernel table for this CPU.
 *
 * A table is offered only if the CPU and OS support every instruction its
 * file was compiled with: AVX2 level = AVX2+FMA+F16C; AVX-512 level =
 * F+BW+VL+DQ+VNNI (the *_avx512.c files are built with -mavx512vnni, so a
 * CPU without VNNI uses the AVX2 level). Selection happens once.
 *
 * The best table the CPU has is the default. The AVX-512 table was opt-in
 * until it had passed test_kernels and the whole test suite on a CPU with
 * AVX-512 (an AMD Zen 5 with VNNI and BF16, 2026-11-23); on that CPU it
 * runs Q8_0 prefill about 2x the AVX2 table (vpdpbusd, docs/PERFORMANCE.md).
 * KVLM_ISA=ref|avx2|avx512 caps the choice; no setting raises it past
 * what the CPU has.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "kernels/kernels.h"

const kvlm_kernel_ops *kvlm_kernels_get(kvlm_isa isa)
{
    const kvlm_cpu_features *f = kvlm_cpu_get();
    bool l2 = f->avx2 && f->fma && f->f16c;
    switch (isa) {
    case KVLM_ISA_REF:
        return &kvlm_kernels_ref;
    case KVLM_ISA_AVX2:
        return l2 ? kvlm_kernels_avx2() : NULL;
    case KVLM_ISA_AVX512:
        if (l2 && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni)
            return kvlm_kernels_avx512();
        return NULL;
    }
    return NULL;
}

static const kvlm_kernel_ops *g_best;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void select_best(void)
{
    int cap = KVLM_ISA_AVX512;
    const char *env = getenv("KVLM_ISA");
    if (env) {
        if (!strcmp(env, "ref"))
            cap = KVLM_ISA_REF;
        else if (!strcmp(env, "avx2"))
            cap = KVLM_ISA_AVX2;
        else if (!strcmp(env, "avx512"))
            cap = KVLM_ISA_AVX512;
    }
    for (int isa = cap; isa >= KVLM_ISA_REF; isa--) {
        const kvlm_kernel_ops *ops = kvlm_kernels_get((kvlm_isa)isa);
        if (ops) {
            g_best = ops;
            return;
        }
    }
}

const kvlm_kernel_ops *kvlm_kernels(void)
{
    pthread_once(&g_once, select_best);
    return g_best;
}
