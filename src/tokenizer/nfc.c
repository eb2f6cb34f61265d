/*
 * nfc.c - Unicode NFC for the NFC normalizer (temporary subset).
 *
 * Text made only of code points below U+0300 and of scripts without
 * canonical compositions is already NFC; anything that could change is
 * rejected with KVLM_ERR_UNSUPPORTED naming the code point, never silently
 * passed through.
 */
#include "core/status.h"
#include "tokenizer/tokenizer.h"

kvlm_status kvlm_nfc(const char *s, size_t n, kvlm_buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        int l = kvlm_utf8_valid_len(u + i, n - i);
        if (l == 0) { i++; continue; }
        uint32_t cp = kvlm_utf8_decode(u + i, l);
        if (cp >= 0x300)
            return kvlm_fail(KVLM_ERR_UNSUPPORTED, "NFC normalizer: code point U+%04X at byte %zu is not supported yet",
                             (unsigned)cp, i);
        i += (size_t)l;
    }
    return kvlm_buf_put(out, s, n);
}
