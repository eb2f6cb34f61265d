/*
 * cpu.c - CPUID/XGETBV feature detection (see cpu.h).
 *
 * Invariant: a flag is true only if both CPUID reports the instruction set
 * and XCR0 shows the OS enabled the matching register state.
 */
#include "core/cpu.h"

#include <pthread.h>
#include <unistd.h>

static kvlm_cpu_features g_features;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static void detect(void)
{
    unsigned int a, b, c, d;
    kvlm_cpu_features f = {0};
    if (!__get_cpuid(1, &a, &b, &c, &d))
        goto done;
    bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    bool fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx)
        goto done;
    unsigned long long xcr0 = read_xcr0();
    bool ymm_ok = (xcr0 & 0x6) == 0x6;           /* SSE + AVX state */
    bool zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    if (!ymm_ok || __get_cpuid_max(0, 0) < 7)
        goto done;
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = (b >> 5) & 1;
    f.fma = fma;
    f.f16c = f16c;
    if (zmm_ok) {
        f.avx512f = (b >> 16) & 1;
        f.avx512dq = (b >> 17) & 1;
        f.avx512bw = (b >> 30) & 1;
        f.avx512vl = (b >> 31) & 1;
        f.avx512vnni = (c >> 11) & 1;
        unsigned int a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        f.avx512bf16 = (a1 >> 5) & 1;
        (void)b1; (void)c1; (void)d1;
    }
done:
    g_features = f;
}
#else
static void detect(void) {}
#endif

const kvlm_cpu_features *kvlm_cpu_get(void)
{
    pthread_once(&g_once, detect);
    return &g_features;
}

int kvlm_cpu_count(void)
{
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c < 1 ? 1 : c > 1024 ? 1024 : (int)c;
}
