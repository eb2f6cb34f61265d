/*
 * threadpool.c - fixed pool of workers running one parallel region at a time
 * (see threadpool.h).
 *
 * A region has n_threads slots (the ith passed to fn). Slots are claimed,
 * not assigned: `state` packs (generation << SLOT_BITS) | next unclaimed
 * slot, and a slot belongs to whoever moves `state` past it with a
 * compare-and-swap that also checks the generation. The caller publishes
 * (fn, ctx), resets `done`, then stores state = (generation + 1, slot 1)
 * (seq_cst: pairs with `sleepers`), runs slot 0 and keeps claiming slots
 * until none is left, then waits (spin, then yield) until `done` counts
 * every slot. A worker waits for a new generation - spinning for a short
 * while, then sleeping on `cv` - and claims slots the same way.
 *
 * Why claimed slots: on a shared machine a worker may be descheduled for
 * milliseconds; with fixed assignment every region (hundreds per token) then
 * waited for it. Now the caller runs the slots the worker has not claimed;
 * the caller only waits for slots a worker actually started.
 * Invariants: a stale worker (one that read an older generation) cannot
 * claim, because its compare-and-swap sees another generation; fn/ctx are
 * read only after a successful claim (acquire) and stay valid until `done`
 * reaches n_threads, which the caller waits for; results do not depend on
 * which thread runs a slot (callers index scratch by ith, never by thread).
 * The mutex guards only the sleep/wake handshake.
 */
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#define SPIN_ITERS 20000
#define SLOT_BITS 16
#define SLOT_MASK ((1ul << SLOT_BITS) - 1)

struct kvlm_threadpool;

typedef struct worker {
    struct kvlm_threadpool *tp;
    pthread_t thread;
} worker;

struct kvlm_threadpool {
    int n_threads;
    worker *workers;             /* n_threads - 1 workers */
    kvlm_task_fn fn;
    void *ctx;
    atomic_ulong state;          /* generation << SLOT_BITS | next unclaimed slot */
    atomic_int done;             /* slots of the current region finished */
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

/* Claims and runs slots of generation gen until none is left. */
static void run_slots(struct kvlm_threadpool *tp, unsigned long gen)
{
    unsigned long s = atomic_load_explicit(&tp->state, memory_order_acquire);
    for (;;) {
        if (s >> SLOT_BITS != gen || (s & SLOT_MASK) >= (unsigned long)tp->n_threads)
            return;
        if (!atomic_compare_exchange_weak_explicit(&tp->state, &s, s + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* s reloaded */
        tp->fn(tp->ctx, (int)(s & SLOT_MASK), tp->n_threads);
        atomic_fetch_add_explicit(&tp->done, 1, memory_order_release);
        s = atomic_load_explicit(&tp->state, memory_order_acquire);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct kvlm_threadpool *tp = w->tp;
    unsigned long seen = 0;
    for (;;) {
        unsigned long g;
        int spins = 0;
        while ((g = atomic_load_explicit(&tp->state, memory_order_acquire) >> SLOT_BITS) == seen &&
               !atomic_load_explicit(&tp->stop, memory_order_acquire)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&tp->mu);
            atomic_fetch_add(&tp->sleepers, 1);
            while (atomic_load(&tp->state) >> SLOT_BITS == seen && !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->cv, &tp->mu);
            atomic_fetch_sub(&tp->sleepers, 1);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load_explicit(&tp->stop, memory_order_acquire) && g == seen)
            return NULL;
        seen = g;
        run_slots(tp, g);
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
    atomic_init(&tp->state, 0);
    atomic_init(&tp->done, 0);
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
    atomic_store_explicit(&tp->done, 0, memory_order_relaxed);
    unsigned long gen = (atomic_load_explicit(&tp->state, memory_order_relaxed) >> SLOT_BITS) + 1;
    atomic_store(&tp->state, gen << SLOT_BITS | 1); /* seq_cst: pairs with sleepers; slot 0 is ours */
    if (atomic_load(&tp->sleepers) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->cv);
        pthread_mutex_unlock(&tp->mu);
    }
    fn(ctx, 0, tp->n_threads);
    atomic_fetch_add_explicit(&tp->done, 1, memory_order_relaxed);
    run_slots(tp, gen);
    int spins = 0;
    while (atomic_load_explicit(&tp->done, memory_order_acquire) < tp->n_threads) {
        if (++spins < SPIN_ITERS)
            cpu_relax();
        else
            sched_yield();
    }
}
