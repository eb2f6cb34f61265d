/*
 * repack.c - puts a loaded model's Q8_0 / Q4_0 matrix weights into the x8
 * layout (kernels.h) once, at load, so every matmul - decode included -
 * runs the one-row-per-lane kernels straight from memory.
 *
 * Invariants: only weights that go through kvlm_matmul are repacked (the
 * token embedding only when it is also the output matrix; its row lookups
 * go through kvlm_weight_dequant_row, which reads either layout); a
 * repacked weight lives in an owned buffer of the same size, holds the
 * same values (kvlm_x8_pack moves bytes only) and has x8 set; the tensor
 * descriptors keep pointing at the file, so the model fingerprint is the
 * file's. Environment KVLM_REPACK=0 leaves every weight as the file has it
 * (the row-layout kernels give the same bits; for measurements and tests).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/status.h"
#include "model/model.h"

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

static kvlm_status repack_one(kvlm_model *m, kvlm_weight *w)
{
    if (!kvlm_x8_type(w->type) || w->x8 || w->n_out < 8 || !w->data)
        return KVLM_OK;
    size_t bytes = w->row_bytes * (size_t)w->n_out;
    uint8_t *buf = kvlm_model_alloc_owned(m, bytes);
    if (!buf)
        return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory repacking a %zu-byte weight", m->path, bytes);
    int64_t groups = w->n_out / 8;
    size_t gbytes = (size_t)groups * 8 * w->row_bytes;
    kvlm_x8_pack(w->type, w->n_in, w->data, w->row_bytes, groups, buf);
    memcpy(buf + gbytes, (const uint8_t *)w->data + gbytes, bytes - gbytes);
    if (m->gguf)
        release_file_pages(w->data, bytes);
    w->data = buf;
    w->x8 = true;
    return KVLM_OK;
}

kvlm_status kvlm_model_repack(kvlm_model *m)
{
    const char *env = getenv("KVLM_REPACK");
    if (env && !strcmp(env, "0"))
        return KVLM_OK;
    kvlm_status s = KVLM_OK;
    for (int l = 0; l < m->info.n_layers && s == KVLM_OK; l++) {
        kvlm_layer *L = &m->layers[l];
        kvlm_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0] && s == KVLM_OK; i++)
            s = repack_one(m, ws[i]);
    }
    if (s != KVLM_OK)
        return s;
    bool tied = m->tok_embd.data == m->output.data;
    s = repack_one(m, &m->output);
    if (s == KVLM_OK && tied) {
        m->tok_embd.data = m->output.data;
        m->tok_embd.x8 = m->output.x8;
    }
    return s;
}
