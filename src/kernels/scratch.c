/*
 * scratch.c - per-thread scratch buffers that kernels reuse from call to
 * call: the matmul's buffer for packing row-layout weights into x8 groups,
 * and x8_dot's buffer for K-quant groups expanded for prefill.
 *
 * Invariants: a slot's buffer belongs to the calling thread only (no
 * locking), is 64-byte aligned, only grows, and is freed when the thread
 * exits. The contents are undefined on return; callers overwrite what
 * they read. A NULL return (out of memory) leaves the caller's fallback
 * path, which gives the same bits. A buffer allocated per call instead
 * cost a fresh mapping - page faults and zeroing - in every call.
 */
#include <pthread.h>
#include <stdlib.h>

#include "kernels/kernels_impl.h"

#define SCRATCH_ALIGN 64

typedef struct thread_bufs {
    void *p[KVLM_SCRATCH_SLOTS];
    size_t cap[KVLM_SCRATCH_SLOTS];
} thread_bufs;

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_key_ok;

static void bufs_free(void *b)
{
    thread_bufs *t = b;
    for (int s = 0; s < KVLM_SCRATCH_SLOTS; s++)
        free(t->p[s]);
    free(t);
}

static void key_init(void) { g_key_ok = pthread_key_create(&g_key, bufs_free) == 0; }

void *kvlm_thread_scratch(kvlm_scratch_slot slot, size_t bytes)
{
    if ((int)slot < 0 || (int)slot >= KVLM_SCRATCH_SLOTS)
        return NULL;
    pthread_once(&g_once, key_init);
    if (!g_key_ok)
        return NULL;
    thread_bufs *t = pthread_getspecific(g_key);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t || pthread_setspecific(g_key, t) != 0) {
            free(t);
            return NULL;
        }
    }
    if (t->cap[slot] < bytes) {
        size_t cap = (bytes + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN;
        void *p = aligned_alloc(SCRATCH_ALIGN, cap);
        if (!p)
            return NULL;
        free(t->p[slot]);
        t->p[slot] = p;
        t->cap[slot] = cap;
    }
    return t->p[slot];
}
