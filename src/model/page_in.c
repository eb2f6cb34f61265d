/*
 * page_in.c - kvlm_model_page_in(): reads a loaded model's weights into
 * memory once, in chunks, reporting progress (bytes done / total) to the
 * caller's kvlm_progress_fn. kvlm_model_load() calls it (through
 * kvlm_model_repack, for the tensors the repack did not already read) when
 * the caller gave a progress callback, whatever loader built the model,
 * since it only walks m->tensors (every loader fills that list).
 *
 * Invariants:
 *   - total is the sum of nbytes over m->tensors, skipped ones included;
 *     the callback sees done strictly increasing from done0 and, when the
 *     skipped tensors are exactly the ones reported before, the last call
 *     has done == total;
 *   - each chunk is first advised MADV_WILLNEED (read-ahead for file
 *     mappings; ignored where it does not apply), then one byte per page
 *     is read, so the chunk is resident when its progress is reported;
 *   - nothing is written: the mappings stay read-only and shared with the
 *     page cache;
 *   - a false return from the callback stops at once with
 *     KVLM_ERR_INVALID_ARG "load cancelled".
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/status.h"
#include "model/model.h"

#define PAGE_IN_CHUNK ((uint64_t)16 << 20) /* bytes between progress calls */

kvlm_status kvlm_model_page_in(kvlm_model *m, kvlm_progress_fn progress, void *user, uint64_t done,
                               const void *const *skip, int n_skip)
{
    if (!m) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_model_page_in: NULL model");
    uint64_t total = 0;
    for (int i = 0; i < m->n_tensors; i++) total += m->tensors[i].nbytes;
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096u;
    volatile uint8_t sink = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        bool skipped = false;
        for (int k = 0; k < n_skip && !skipped; k++)
            skipped = skip[k] == m->tensors[i].data;
        if (skipped)
            continue;
        const uint8_t *p = m->tensors[i].data;
        uint64_t n = m->tensors[i].nbytes;
        for (uint64_t off = 0; off < n;) {
            uint64_t c = n - off < PAGE_IN_CHUNK ? n - off : PAGE_IN_CHUNK;
            uintptr_t a = (uintptr_t)(p + off), lo = a & ~(page - 1);
            (void)madvise((void *)lo, (size_t)(a + c - lo), MADV_WILLNEED);
            /* first byte of every page the chunk touches, and its last byte */
            for (uintptr_t q = a; q < a + c; q = (q & ~(page - 1)) + page) sink ^= *(const volatile uint8_t *)q;
            sink ^= *(const volatile uint8_t *)(a + c - 1);
            off += c;
            done += c;
            if (progress && !progress(done, total, user))
                return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: load cancelled (%llu of %llu bytes paged in)", m->path,
                                 (unsigned long long)done, (unsigned long long)total);
        }
    }
    (void)sink;
    return KVLM_OK;
}
