/*
 * threadpool.h - a fixed pool of worker threads that run one parallel
 * region at a time.
 *
 * kvlm_threadpool_run(tp, fn, ctx) calls fn(ctx, ith, nth) once for every
 * ith in [0, nth) - the calling thread runs ith 0, and also any ith no
 * worker has started by the time it is free (a descheduled worker does not
 * hold the region up) - and returns when all have finished. Workers spin briefly and then sleep on a condition variable, so
 * back-to-back regions (one per matmul) are cheap and an idle pool costs no
 * CPU. Only one thread may call kvlm_threadpool_run on a pool at a time.
 *
 * Work is split statically by the callers (rows/columns, never a
 * reduction), so results never depend on which thread ran what.
 */
#ifndef KVLM_THREADPOOL_H
#define KVLM_THREADPOOL_H

typedef struct kvlm_threadpool kvlm_threadpool;

typedef void (*kvlm_task_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1 (the caller counts as one). NULL on allocation failure. */
kvlm_threadpool *kvlm_threadpool_create(int n_threads);
void kvlm_threadpool_free(kvlm_threadpool *tp);
int kvlm_threadpool_n_threads(const kvlm_threadpool *tp);
/* tp may be NULL: fn(ctx, 0, 1) runs on the caller. */
void kvlm_threadpool_run(kvlm_threadpool *tp, kvlm_task_fn fn, void *ctx);

/* Half-open share [*lo, *hi) of n items for thread ith of nth. */
static inline void kvlm_split(long n, int ith, int nth, long *lo, long *hi)
{
    long per = n / nth, rem = n % nth;
    *lo = ith * per + (ith < rem ? ith : rem);
    *hi = *lo + per + (ith < rem ? 1 : 0);
}

#endif /* KVLM_THREADPOOL_H */
