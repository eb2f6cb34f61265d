/*
 * membw.c - measures memory read bandwidth (GB/s) with N threads, each
 * summing its own slice of a 1 GiB buffer with several independent
 * streams; prints the best of 5 passes. Used by bench/forward.sh to state
 * decode speed as a share of the bandwidth bound.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BYTES (1ull << 30)

static uint64_t *buf;
static int nthreads;
static volatile uint64_t sink;

static void *reader(void *arg)
{
    long t = (long)arg;
    size_t n = BYTES / 8 / (size_t)nthreads, lo = n * (size_t)t;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = lo; i + 4 <= lo + n; i += 4) {
        a += buf[i];
        b += buf[i + 1];
        c += buf[i + 2];
        d += buf[i + 3];
    }
    sink += a + b + c + d;
    return NULL;
}

int main(int argc, char **argv)
{
    nthreads = argc > 1 ? atoi(argv[1]) : 1;
    if (nthreads < 1 || nthreads > 256) return 2;
    buf = aligned_alloc(64, BYTES);
    if (!buf) return 1;
    memset(buf, 1, BYTES);
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        struct timespec t0, t1;
        pthread_t th[256];
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long t = 0; t < nthreads; t++) pthread_create(&th[t], NULL, reader, (void *)t);
        for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        double gbs = (double)BYTES / s / 1e9;
        if (gbs > best) best = gbs;
    }
    printf("%.1f\n", best);
    return 0;
}
