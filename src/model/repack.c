/*
 * repack.c - puts a loaded model's Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K matrix weights into
 * the x8 layout (kernels.h) once, at load, so every matmul - decode
 * included - runs the one-row-per-lane kernels straight from memory.
 *
 * Invariants: only weights that go through kvlm_matmul are repacked (the
 * token embedding only when it is also the output matrix; its row lookups
 * go through kvlm_weight_dequant_row, which reads either layout); a
 * repacked weight lives in an owned buffer of the same size, holds the
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

#include "core/status.h"
#include "model/model.h"

#define PROGRESS_BYTES ((size_t)16 << 20) /* bytes packed between progress calls */

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

static kvlm_status repack_one(kvlm_model *m, kvlm_weight *w, load_progress *lp)
{
    size_t bytes = w->row_bytes * (size_t)w->n_out;
    uint8_t *buf = kvlm_model_alloc_owned(m, bytes);
    if (!buf)
        return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory repacking a %zu-byte weight", m->path, bytes);
    const uint8_t *src = w->data;
    int64_t groups = w->n_out / 8;
    size_t gbytes = (size_t)groups * 8 * w->row_bytes;
    int64_t step = (int64_t)(PROGRESS_BYTES / (8 * w->row_bytes));
    if (step < 1)
        step = 1;
    for (int64_t g = 0; g < groups; g += step) {
        int64_t ng = groups - g < step ? groups - g : step;
        size_t off = (size_t)g * 8 * w->row_bytes, len = (size_t)ng * 8 * w->row_bytes;
        kvlm_x8_pack(w->type, w->n_in, src + off, w->row_bytes, ng, buf + off);
        if (!advance(m, lp, len))
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
    /* the file data of every weight repacked, for the page-in to skip */
    int cap = 8 * m->info.n_layers + 1, n_done = 0;
    const void **packed = calloc((size_t)cap, sizeof *packed);
    if (!packed)
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    const char *env = getenv("KVLM_REPACK");
    bool on = !(env && !strcmp(env, "0"));
    kvlm_status s = KVLM_OK;
    for (int l = 0; on && l < m->info.n_layers && s == KVLM_OK; l++) {
        kvlm_layer *L = &m->layers[l];
        kvlm_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0] && s == KVLM_OK; i++) {
            if (!repackable(ws[i]))
                continue;
            const void *file = ws[i]->data;
            s = repack_one(m, ws[i], &lp);
            if (s == KVLM_OK)
                packed[n_done++] = file;
        }
    }
    if (on && s == KVLM_OK && repackable(&m->output)) {
        bool tied = m->tok_embd.data == m->output.data;
        const void *file = m->output.data;
        s = repack_one(m, &m->output, &lp);
        if (s == KVLM_OK) {
            packed[n_done++] = file;
            if (tied) {
                m->tok_embd.data = m->output.data;
                m->tok_embd.x8 = true;
            }
        }
    }
    if (s == KVLM_OK && progress)
        s = kvlm_model_page_in(m, progress, user, lp.done, packed, n_done);
    free(packed);
    return s;
}
