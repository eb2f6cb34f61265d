/*
 * repack.c - puts a loaded model's F16 / BF16 / Q8_0 / Q4_0 / Q5_0 / Q4_K / Q5_K / Q6_K matrix weights into
 * the x8 layout (kernels.h) once, at load, so every matmul - decode
 * included - runs the one-row-per-lane kernels straight from memory.
 *
 * Invariants: only weights that go through kvlm_matmul are repacked (the
 * token embedding only when it is also the output matrix; its row lookups
 * go through kvlm_weight_dequant_row, which reads either layout); a
 * repacked weight lives in the model's repack mapping (one anonymous
 * mapping for all of them, 64-byte aligned slots), keeps its size, holds the
 * same values (kvlm_x8_pack moves bytes only) and has x8 set; the tensor
 * descriptors keep pointing at the file, so the model fingerprint is the
 * file's. Environment KVLM_REPACK=0 leaves every weight as the file has it
 * (the row-layout kernels give the same bits; for measurements and tests).
 *
 * Progress (a callback given to kvlm_model_load): the bytes of the tensors
 * repacked are reported as they are packed, then the remaining tensors are
 * paged in by kvlm_model_page_in, continuing the same count, so done
 * still grows strictly to the sum of all tensors' bytes and a false return
 * cancels the load.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/cpu.h"
#include "core/status.h"
#include "core/threadpool.h"
#include "model/model.h"

#define PROGRESS_BYTES ((size_t)16 << 20) /* bytes packed between progress calls */
#define MAX_PACK_THREADS 8

typedef struct load_progress {
    kvlm_progress_fn fn;  /* NULL: none */
    void *user;
    uint64_t done, total;
} load_progress;

/* Drops this process's mapping of the file pages behind [p, p + n): they
 * were read once for packing and are not needed again (the page cache
 * keeps them; a later read, e.g. the fingerprint, faults them back). Only
 * called for GGUF data, which is always a read-only file mapping. */
static void release_file_pages(const void *p, size_t n)
{
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0)
        return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)ps - 1) / (uintptr_t)ps * (uintptr_t)ps;
    uintptr_t b = ((uintptr_t)p + n) / (uintptr_t)ps * (uintptr_t)ps;
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Counts `bytes` more as read and tells the callback; false (with the
 * error set) when it cancels the load. */
static bool advance(const kvlm_model *m, load_progress *lp, uint64_t bytes)
{
    lp->done += bytes;
    if (!lp->fn || lp->fn(lp->done, lp->total, lp->user))
        return true;
    kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: load cancelled (%llu of %llu bytes read)", m->path,
              (unsigned long long)lp->done, (unsigned long long)lp->total);
    return false;
}

static bool repackable(const kvlm_weight *w)
{
    return kvlm_x8_type(w->type) && !w->x8 && w->n_out >= 8 && w->data;
}

static size_t weight_bytes(const kvlm_weight *w)
{
    return w->row_bytes * (size_t)w->n_out;
}

/* bytes of w's slot in the repack mapping (64-byte aligned slots) */
static size_t slot_bytes(const kvlm_weight *w)
{
    return (weight_bytes(w) + 63) / 64 * 64;
}

/* One anonymous mapping of `total` bytes for every repacked weight, kept
 * in m->repack_map for kvlm_model_free. NULL if out of memory. (Advising
 * it for transparent huge pages was measured and left out: with the
 * kernel's usual defrag=madvise setting the faults then wait on
 * compaction, 1.4-3.6 s of system time instead of 0.8 s for TinyLlama
 * Q8_0.) */
static uint8_t *reserve(kvlm_model *m, size_t total)
{
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    m->repack_map = p;
    m->repack_len = total;
    return p;
}

/* Groups [g0, g0 + ng) of w packed from src to dst, split among the pool's
 * threads by kvlm_split: the first write to each fresh page - the kernel
 * zeroing it, most of a repack's cost - and the packing both scale with
 * cores. The bytes do not depend on the split (they are only moved). */
typedef struct pack_task {
    const kvlm_weight *w;
    const uint8_t *src;
    uint8_t *dst;
    int64_t g0, ng;
} pack_task;

static void pack_fn(void *arg, int ith, int nth)
{
    const pack_task *p = arg;
    long lo, hi;
    kvlm_split((long)p->ng, ith, nth, &lo, &hi);
    size_t off = (size_t)(p->g0 + lo) * 8 * p->w->row_bytes;
    kvlm_x8_pack(p->w->type, p->w->n_in, p->src + off, p->w->row_bytes, hi - lo, p->dst + off);
}

static kvlm_status repack_one(kvlm_model *m, kvlm_weight *w, uint8_t *buf, kvlm_threadpool *tp, load_progress *lp)
{
    size_t bytes = weight_bytes(w);
    const uint8_t *src = w->data;
    int64_t groups = w->n_out / 8;
    size_t gbytes = (size_t)groups * 8 * w->row_bytes;
    int64_t step = (int64_t)(PROGRESS_BYTES / (8 * w->row_bytes));
    if (step < 1)
        step = 1;
    for (int64_t g = 0; g < groups; g += step) {
        int64_t ng = groups - g < step ? groups - g : step;
        pack_task t = {w, src, buf, g, ng};
        kvlm_threadpool_run(tp, pack_fn, &t);
        if (!advance(m, lp, (size_t)ng * 8 * w->row_bytes))
            return KVLM_ERR_INVALID_ARG;
    }
    memcpy(buf + gbytes, src + gbytes, bytes - gbytes);
    if (bytes > gbytes && !advance(m, lp, bytes - gbytes))
        return KVLM_ERR_INVALID_ARG;
    if (m->gguf)
        release_file_pages(src, bytes);
    w->data = buf;
    w->x8 = true;
    return KVLM_OK;
}

kvlm_status kvlm_model_repack(kvlm_model *m, kvlm_progress_fn progress, void *user)
{
    load_progress lp = {progress, user, 0, 0};
    for (int i = 0; i < m->n_tensors; i++)
        lp.total += m->tensors[i].nbytes;
    /* the weights to repack, in order, and their file data (for the
     * page-in to skip) */
    int cap = 8 * m->info.n_layers + 1, n = 0;
    kvlm_weight **todo = calloc((size_t)cap, sizeof *todo);
    const void **packed = calloc((size_t)cap, sizeof *packed);
    if (!todo || !packed) {
        free(todo);
        free(packed);
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    }
    const char *env = getenv("KVLM_REPACK");
    bool on = !(env && !strcmp(env, "0"));
    size_t total = 0;
    for (int l = 0; on && l < m->info.n_layers; l++) {
        kvlm_layer *L = &m->layers[l];
        kvlm_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            if (repackable(ws[i]))
                todo[n++] = ws[i];
    }
    if (on && repackable(&m->output))
        todo[n++] = &m->output;
    for (int i = 0; i < n; i++)
        total += slot_bytes(todo[i]);
    kvlm_status s = KVLM_OK;
    uint8_t *base = n ? reserve(m, total) : NULL;
    if (n && !base)
        s = kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory repacking %zu bytes of weights", m->path, total);
    /* NULL (no threads to be had): everything runs on this thread */
    int nt = kvlm_cpu_count();
    kvlm_threadpool *tp = n && nt > 1 ? kvlm_threadpool_create(nt > MAX_PACK_THREADS ? MAX_PACK_THREADS : nt) : NULL;
    size_t off = 0;
    for (int i = 0; i < n && s == KVLM_OK; i++) {
        kvlm_weight *w = todo[i];
        bool tied = w == &m->output && m->tok_embd.data == m->output.data;
        packed[i] = w->data;
        s = repack_one(m, w, base + off, tp, &lp);
        off += slot_bytes(w);
        if (s == KVLM_OK && tied) {
            m->tok_embd.data = m->output.data;
            m->tok_embd.x8 = true;
        }
    }
    kvlm_threadpool_free(tp);
    if (s == KVLM_OK && progress)
        s = kvlm_model_page_in(m, progress, user, lp.done, packed, n);
    free(todo);
    free(packed);
    return s;
}
