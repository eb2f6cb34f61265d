/*
 * test_threadpool.c - kvlm_threadpool: every ith runs exactly once per
 * region, the caller is ith 0, results are visible on return, many
 * back-to-back regions (spinning path) and regions after an idle pause
 * (sleeping path) work, tp == NULL runs serially, kvlm_split covers [0, n).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "core/threadpool.h"
#include "test.h"

typedef struct {
    int nth_seen;
    int hits[16];
    long data[1000];
    pthread_t caller;
    int caller_is_0;
} ctx_t;

static void task(void *arg, int ith, int nth)
{
    ctx_t *c = arg;
    c->hits[ith]++;
    if (ith == 0) {
        c->nth_seen = nth;
        c->caller_is_0 = pthread_equal(pthread_self(), c->caller);
    }
    long lo, hi;
    kvlm_split(1000, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++)
        c->data[i] += i;
}

static atomic_int counter;
static void count_task(void *arg, int ith, int nth)
{
    (void)arg; (void)ith; (void)nth;
    atomic_fetch_add(&counter, 1);
}

int main(void)
{
    /* kvlm_split partitions exactly */
    for (int nth = 1; nth <= 7; nth++) {
        for (long n = 0; n < 30; n++) {
            long prev = 0, total = 0;
            for (int i = 0; i < nth; i++) {
                long lo, hi;
                kvlm_split(n, i, nth, &lo, &hi);
                CHECK(lo == prev && hi >= lo, "split contiguous");
                CHECK(hi - lo <= n / nth + 1, "split balanced");
                total += hi - lo;
                prev = hi;
            }
            CHECK(total == n && prev == n, "split covers n=%ld nth=%d", n, nth);
        }
    }

    ctx_t c = {0};
    c.caller = pthread_self();
    kvlm_threadpool_run(NULL, task, &c);
    CHECK(c.hits[0] == 1 && c.nth_seen == 1 && c.caller_is_0, "NULL pool runs serially");
    CHECK(kvlm_threadpool_n_threads(NULL) == 1, "NULL pool has 1 thread");

    for (int n = 1; n <= 4; n++) {
        kvlm_threadpool *tp = kvlm_threadpool_create(n);
        REQUIRE(tp != NULL, "create %d", n);
        CHECK(kvlm_threadpool_n_threads(tp) == n, "n_threads");
        ctx_t d = {0};
        d.caller = pthread_self();
        const int R = 500;
        for (int r = 0; r < R; r++)
            kvlm_threadpool_run(tp, task, &d);
        int ok = 1;
        for (int i = 0; i < n; i++)
            ok &= d.hits[i] == R;
        CHECK(ok && d.hits[n] == 0, "every ith ran once per region (n=%d)", n);
        CHECK(d.nth_seen == n && d.caller_is_0, "nth and caller (n=%d)", n);
        ok = 1;
        for (long i = 0; i < 1000; i++)
            ok &= d.data[i] == i * R;
        CHECK(ok, "all writes visible after run (n=%d)", n);
        /* let workers fall asleep, then wake them */
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        atomic_store(&counter, 0);
        for (int r = 0; r < 10; r++) {
            kvlm_threadpool_run(tp, count_task, NULL);
            nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
        }
        CHECK(atomic_load(&counter) == 10 * n, "regions after sleeping: %d", atomic_load(&counter));
        kvlm_threadpool_free(tp);
    }
    /* create/free without running */
    kvlm_threadpool_free(kvlm_threadpool_create(3));
    kvlm_threadpool_free(NULL);
    TEST_MAIN_END("test_threadpool");
}
