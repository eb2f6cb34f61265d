/*
 * attn_bench.c - microbenchmark of one attention work item for
 * docs/PERFORMANCE.md: a KV head of CTX f32 positions (head_dim 64) in
 * blocks of 16 rows placed GAP bytes apart - as one head's rows sit in
 * kvlm's block pool, a whole block (all layers' K and V) apart - against
 * the 8 query heads of a grouped-query group: scores through dot_rows, the
 * softmax of each row, V through mad_rows, as forward.c's attention does
 * for one token. Best of 20; between runs a 256 MB buffer is walked to push
 * the KV rows out of the caches unless NOFLUSH is set.
 *
 *   sh bench/kernels.sh                      (builds it against build/libkvlm.a)
 *   bench/out/attn_bench CTX GAP PREFETCH_BLOCKS
 *   e.g. bench/out/attn_bench 2048 737280 2  (TinyLlama's block size, f32 KV)
 *
 * PREFETCH_BLOCKS > 0 asks for the rows that many blocks ahead, as
 * forward.c does (0: none). Prints the K pass, softmax and V pass times of
 * the item and the time per (position, head). Not part of kvlm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"

enum { GROUP = 8, HD = 64, BS = 16, REPS = 20 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void prefetch_rows(const uint8_t *p)
{
    for (int o = 0; o < BS * HD * 4; o += 64)
        __builtin_prefetch(p + o, 0, 3);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: attn_bench CTX GAP PREFETCH_BLOCKS\n");
        return 2;
    }
    int ctx = atoi(argv[1]), pf = atoi(argv[3]);
    size_t gap = (size_t)atol(argv[2]), row = HD * 4;
    if (ctx < BS || ctx % BS || gap < 2 * BS * row || pf < 0) {
        fprintf(stderr, "attn_bench: CTX a multiple of %d, GAP >= %zu, PREFETCH_BLOCKS >= 0\n", BS, 2 * BS * row);
        return 2;
    }
    const kvlm_kernel_ops *ops = kvlm_kernels();
    int nblk = ctx / BS;
    size_t flush_bytes = (size_t)256 << 20;
    uint8_t *pool = aligned_alloc(64, (size_t)nblk * gap), *junk = malloc(flush_bytes);
    float *q = malloc(GROUP * HD * 4), *sc = malloc((size_t)GROUP * (size_t)ctx * 4), *out = malloc(GROUP * HD * 4);
    if (!pool || !junk || !q || !sc || !out) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    srand(1);
    for (size_t i = 0; i < (size_t)nblk * gap / 4; i++) ((float *)(void *)pool)[i] = (float)(rand() % 100) * 0.01f;
    for (int i = 0; i < GROUP * HD; i++) q[i] = 0.01f * (float)(i % 7);
    memset(junk, 0, flush_bytes);
    double best = 1e30, tk = 0, ts = 0;
    for (int rep = 0; rep < REPS; rep++) {
        if (!getenv("NOFLUSH"))
            for (size_t i = 0; i < flush_bytes; i += 64) junk[i]++;
        double t0 = now();
        for (int b = 0; b < nblk; b++) { /* K in the first half of a block's place, V in the second */
            if (pf && b + pf < nblk) prefetch_rows(pool + (size_t)(b + pf) * gap);
            ops->dot_rows(KVLM_DTYPE_F32, HD, pool + (size_t)b * gap, row, BS, q, HD * 4, GROUP, sc + b * BS,
                          (size_t)ctx);
        }
        double t1 = now();
        for (int g = 0; g < GROUP; g++) {
            ops->softmax(ctx, sc + (size_t)g * (size_t)ctx, 0.125f);
            memset(out + g * HD, 0, HD * 4);
        }
        double t2 = now();
        for (int b = 0; b < nblk; b++) {
            const uint8_t *v = pool + (size_t)b * gap + gap / 2;
            if (pf && b + pf < nblk) prefetch_rows(pool + (size_t)(b + pf) * gap + gap / 2);
            ops->mad_rows(KVLM_DTYPE_F32, HD, v, row, BS, sc + b * BS, (size_t)ctx, GROUP, out, HD);
        }
        double t = now() - t0;
        if (t < best) {
            best = t;
            tk = t1 - t0;
            ts = t2 - t1;
        }
    }
    printf("%s ctx %d gap %zu prefetch %d: K %.1f us, softmax %.1f us, V %.1f us; %.1f us per item, "
           "%.2f ns per (position, head)\n",
           ops->name, ctx, gap, pf, tk * 1e6, ts * 1e6, (best - tk - ts) * 1e6, best * 1e6,
           best * 1e9 / ctx / GROUP);
    return 0;
}
