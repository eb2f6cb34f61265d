/*
 * threadpool.c - fixed pool of workers running one parallel region at a time
 * (see threadpool.h).
 *
 * Protocol: the caller publishes (fn, ctx), then bumps `generation` (release).
 * Each worker waits until generation differs from the last one it ran -
 * spinning for a short while, then sleeping on `cv` - runs fn(ctx, ith, nth),
 * and decrements `pending` (release). The caller runs ith 0 itself and spins
 * (then yields) until pending reaches 0 (acquire), so everything the workers
 * wrote is visible when kvlm_threadpool_run returns.
 * Invariants: pending == 0 whenever no region is in flight; fn/ctx are only
 * written while pending == 0; the mutex guards only the sleep/wake handshake.
 */
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#define SPIN_ITERS 20000

struct kvlm_threadpool;

typedef struct worker {
    struct kvlm_threadpool *tp;
    int ith;
    pthread_t thread;
} worker;

struct kvlm_threadpool {
    int n_threads;
    worker *workers;             /* n_threads - 1 workers: ith 1..n-1 */
    kvlm_task_fn fn;
    void *ctx;
    atomic_uint generation;      /* bumped once per region */
    atomic_int pending;          /* workers still running the current region */
    atomic_bool stop;
    atomic_int sleepers;         /* workers asleep (or about to) on cv */
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct kvlm_threadpool *tp = w->tp;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&tp->generation, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&tp->stop, memory_order_acquire)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&tp->mu);
            atomic_fetch_add(&tp->sleepers, 1);
            while (atomic_load(&tp->generation) == seen && !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->cv, &tp->mu);
            atomic_fetch_sub(&tp->sleepers, 1);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load_explicit(&tp->stop, memory_order_acquire) && g == seen)
            return NULL;
        seen = g;
        tp->fn(tp->ctx, w->ith, tp->n_threads);
        atomic_fetch_sub_explicit(&tp->pending, 1, memory_order_release);
    }
}

kvlm_threadpool *kvlm_threadpool_create(int n_threads)
{
    if (n_threads < 1)
        n_threads = 1;
    struct kvlm_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp)
        return NULL;
    tp->n_threads = n_threads;
    atomic_init(&tp->generation, 0);
    atomic_init(&tp->pending, 0);
    atomic_init(&tp->stop, false);
    atomic_init(&tp->sleepers, 0);
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
    if (n_threads > 1) {
        tp->workers = calloc((size_t)n_threads - 1, sizeof *tp->workers);
        if (!tp->workers)
            goto fail;
        for (int i = 0; i < n_threads - 1; i++) {
            tp->workers[i].tp = tp;
            tp->workers[i].ith = i + 1;
            if (pthread_create(&tp->workers[i].thread, NULL, worker_main, &tp->workers[i]) != 0) {
                tp->n_threads = i + 1; /* only i workers exist: join those */
                kvlm_threadpool_free(tp);
                return NULL;
            }
        }
    }
    return tp;
fail:
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->cv);
    free(tp);
    return NULL;
}

void kvlm_threadpool_free(kvlm_threadpool *tp)
{
    if (!tp)
        return;
    pthread_mutex_lock(&tp->mu);
    atomic_store(&tp->stop, true);
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 0; i < tp->n_threads - 1; i++)
        pthread_join(tp->workers[i].thread, NULL);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->cv);
    free(tp->workers);
    free(tp);
}

int kvlm_threadpool_n_threads(const kvlm_threadpool *tp)
{
    return tp ? tp->n_threads : 1;
}

void kvlm_threadpool_run(kvlm_threadpool *tp, kvlm_task_fn fn, void *ctx)
{
    if (!tp || tp->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    tp->fn = fn;
    tp->ctx = ctx;
    atomic_store_explicit(&tp->pending, tp->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add(&tp->generation, 1); /* seq_cst: pairs with sleepers */
    if (atomic_load(&tp->sleepers) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->cv);
        pthread_mutex_unlock(&tp->mu);
    }
    fn(ctx, 0, tp->n_threads);
    int spins = 0;
    while (atomic_load_explicit(&tp->pending, memory_order_acquire) > 0) {
        if (++spins < SPIN_ITERS)
            cpu_relax();
        else
            sched_yield();
    }
}
