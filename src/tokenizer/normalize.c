/*
 * normalize.c - Hugging Face normalizers used by the supported models:
 * Prepend (to non-empty text), Replace (literal pattern) and NFC.
 *
 * NFC: kvlm_nfc (nfc.c) implements canonical decomposition, reordering and
 * composition from tables generated from the Unicode database. Invalid
 * UTF-8 bytes pass through NFC unchanged (HF cannot represent them).
 *
 * A tokenizer.json is untrusted: a Sequence of Replace steps can grow the
 * text geometrically (each step multiplying it), so the output is capped at
 * KVLM_NORM_MAX_GROWTH x the input (+ 64 KiB); past that the encode fails
 * with an error naming the normalizer step instead of running for ever.
 */
#include <string.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

#define KVLM_NORM_MAX_GROWTH 64

kvlm_status kvlm_normalize(const kvlm_norm_step *steps, int n_steps, const char *s, size_t n,
                           kvlm_buf *out)
{
    kvlm_buf tmp = {0};
    out->n = 0;
    kvlm_status st = kvlm_buf_put(out, s, n);
    for (int k = 0; k < n_steps && !st; k++) {
        const kvlm_norm_step *p = &steps[k];
        tmp.n = 0;
        switch (p->type) {
        case KVLM_NORM_PREPEND:
            if (out->n == 0) continue;
            st = kvlm_buf_put(&tmp, p->a, p->a_len);
            if (!st) st = kvlm_buf_put(&tmp, out->p, out->n);
            break;
        case KVLM_NORM_REPLACE: {
            size_t i = 0, last = 0;
            if (p->a_len == 0) continue;
            while (i + p->a_len <= out->n && !st && tmp.n <= KVLM_NORM_MAX_GROWTH * n + 65536) {
                if (memcmp(out->p + i, p->a, p->a_len) == 0) {
                    st = kvlm_buf_put(&tmp, out->p + last, i - last);
                    if (!st) st = kvlm_buf_put(&tmp, p->b, p->b_len);
                    i += p->a_len;
                    last = i;
                } else {
                    i++;
                }
            }
            if (!st) st = kvlm_buf_put(&tmp, out->p + last, out->n - last);
            break;
        }
        case KVLM_NORM_NFC:
            st = kvlm_nfc(out->p, out->n, &tmp);
            break;
        }
        if (st) break;
        if (tmp.n > KVLM_NORM_MAX_GROWTH * n + 65536) {
            st = kvlm_fail(KVLM_ERR_INVALID_ARG,
                           "tokenizer normalizer step %d expands %zu bytes of text to %zu bytes "
                           "(more than %dx): refusing", k, n, tmp.n, KVLM_NORM_MAX_GROWTH);
            break;
        }
        kvlm_buf t = *out;
        *out = tmp;
        tmp = t;
    }
    kvlm_buf_free(&tmp);
    return st;
}
