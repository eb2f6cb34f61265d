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
 * The BF16 matmul (kvlm_model_params.bf16_matmul) puts F16/BF16 matrices
 * with an even row length into the xb16 layout instead (KVLM_REPACK=0 or
 * not: it is the mode's only form), rounding them to BF16; a tied output
 * matrix stays exact in x8, as the token embedding's rows must.
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

/* whether the BF16 matmul takes w (xb16) */
static bool xb16_able(const kvlm_weight *w)
{
    return kvlm_x8_float(w->type) && !w->x8 && !w->xb16 && w->n_in % 2 == 0 && w->n_out >= 1 && w->data;
}

/* Queues w for the xb16 form (where xb_ok and it qualifies) or else the x8
 * form (where on and it qualifies); todo/xb grow by one, or w stays as it is */
static void queue(kvlm_weight *w, bool xb_ok, bool on, kvlm_weight **todo, bool *xb, int *n)
{
    if (xb_ok && xb16_able(w)) {
        xb[*n] = true;
        todo[(*n)++] = w;
    } else if (on && repackable(w)) {
        todo[(*n)++] = w;
    }
}

static size_t weight_bytes(const kvlm_weight *w)
{
    return w->row_bytes * (size_t)w->n_out;
}

/* bytes of w's slot in the repack mapping (64-byte aligned slots) */
static size_t slot_bytes(const kvlm_weight *w, bool xb16)
{
    size_t b = xb16 ? kvlm_xb16_bytes(w->n_in, w->n_out) : weight_bytes(w);
    return (b + 63) / 64 * 64;
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
    int rows;                 /* rows per group: 8 (x8) or 16 (xb16) */
} pack_task;

static void pack_fn(void *arg, int ith, int nth)
{
    const pack_task *p = arg;
    long lo, hi;
    kvlm_split((long)p->ng, ith, nth, &lo, &hi);
    size_t off = (size_t)(p->g0 + lo) * (size_t)p->rows * p->w->row_bytes;
    if (p->rows == 8) {
        kvlm_x8_pack(p->w->type, p->w->n_in, p->src + off, p->w->row_bytes, hi - lo, p->dst + off);
        return;
    }
    int64_t r0 = (p->g0 + lo) * 16, r1 = (p->g0 + hi) * 16;
    if (r1 > p->w->n_out)
        r1 = p->w->n_out;
    if (r1 > r0) /* the xb16 group is as big as its 16 rows (2 bytes a value) */
        kvlm_xb16_pack(p->w->type, p->w->n_in, p->src + off, p->w->row_bytes, r1 - r0, p->dst + off);
}

/* w into buf: x8 groups and the n_out % 8 rows as they are, or (xb16)
 * ceil(n_out / 16) padded groups */
static kvlm_status repack_one(kvlm_model *m, kvlm_weight *w, uint8_t *buf, kvlm_threadpool *tp, load_progress *lp,
                              bool xb16)
{
    size_t bytes = weight_bytes(w);
    const uint8_t *src = w->data;
    int rows = xb16 ? 16 : 8;
    int64_t groups = xb16 ? (w->n_out + 15) / 16 : w->n_out / 8;
    size_t gbytes = (size_t)groups * (size_t)rows * w->row_bytes;
    int64_t step = (int64_t)(PROGRESS_BYTES / ((size_t)rows * w->row_bytes));
    if (step < 1)
        step = 1;
    uint64_t counted = 0;
    for (int64_t g = 0; g < groups; g += step) {
        int64_t ng = groups - g < step ? groups - g : step;
        pack_task t = {w, src, buf, g, ng, rows};
        kvlm_threadpool_run(tp, pack_fn, &t);
        /* progress counts the file's bytes: the padded group's extra rows
         * are not counted */
        uint64_t b = (uint64_t)ng * (uint64_t)rows * w->row_bytes;
        if (counted + b > bytes)
            b = bytes - counted;
        counted += b;
        if (b && !advance(m, lp, b))
            return KVLM_ERR_INVALID_ARG;
    }
    if (!xb16) {
        memcpy(buf + gbytes, src + gbytes, bytes - gbytes);
        if (bytes > gbytes && !advance(m, lp, bytes - gbytes))
            return KVLM_ERR_INVALID_ARG;
    }
    if (m->gguf)
        release_file_pages(src, bytes);
    w->data = buf;
    w->x8 = !xb16;
    w->xb16 = xb16;
    return KVLM_OK;
}

kvlm_status kvlm_model_repack(kvlm_model *m, kvlm_progress_fn progress, void *user, bool bf16)
{
    m->bf16_matmul = bf16;
    load_progress lp = {progress, user, 0, 0};
    for (int i = 0; i < m->n_tensors; i++)
        lp.total += m->tensors[i].nbytes;
    /* the weights to repack, in order, and their file data (for the
     * page-in to skip) */
    int cap = 8 * m->info.n_layers + 1, n = 0;
    kvlm_weight **todo = calloc((size_t)cap, sizeof *todo);
    const void **packed = calloc((size_t)cap, sizeof *packed);
    bool *xb = calloc((size_t)cap, sizeof *xb); /* todo[i] goes to xb16 */
    if (!todo || !packed || !xb) {
        free(todo);
        free(packed);
        free(xb);
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    }
    const char *env = getenv("KVLM_REPACK");
    bool on = !(env && !strcmp(env, "0"));
    size_t total = 0;
    bool tied_out = m->tok_embd.data == m->output.data;
    for (int l = 0; l < m->info.n_layers; l++) {
        kvlm_layer *L = &m->layers[l];
        kvlm_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            queue(ws[i], bf16, on, todo, xb, &n);
    }
    queue(&m->output, bf16 && !tied_out, on, todo, xb, &n);
    for (int i = 0; i < n; i++)
        total += slot_bytes(todo[i], xb[i]);
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
        bool tied = w == &m->output && tied_out;
        packed[i] = w->data;
        s = repack_one(m, w, base + off, tp, &lp, xb[i]);
        off += slot_bytes(w, xb[i]);
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
    free(xb);
    return s;
}
