/*
 * utf8.c - UTF-8 validation/decoding and the GPT-2 byte-level alphabet.
 *
 * kvlm_utf8_valid_len accepts exactly the well-formed sequences of RFC 3629
 * (no overlongs, no surrogates, nothing above U+10FFFF); anything else is
 * reported as invalid so callers can fall back to raw bytes.
 *
 * The byte-level alphabet (GPT-2's bytes_to_unicode): printable Latin-1
 * bytes '!'..'~', 0xA1..0xAC, 0xAE..0xFF stand for themselves; the other 68
 * bytes map, in increasing order, to U+0100, U+0101, ...
 */
#include <pthread.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

int kvlm_utf8_valid_len(const unsigned char *s, size_t n)
{
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80) return 0;
        return 2;
    }
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0;   /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0;  /* surrogate */
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0;
        if (c == 0xF4 && s[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

size_t kvlm_utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    for (int l; i < n && (l = kvlm_utf8_valid_len(u + i, n - i)) > 0;) i += (size_t)l;
    return i;
}

uint32_t kvlm_utf8_decode(const unsigned char *s, int len)
{
    switch (len) {
    case 1: return s[0];
    case 2: return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3: return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
}

int kvlm_utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool bl_self(unsigned b)
{
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t kvlm_bytelevel_cp(uint8_t b)
{
    /* the 68 remapped bytes, in order: 0x00-0x20, 0x7F-0xA0, 0xAD */
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
    if (b == 0xAD) return 256u + 67u;
    return b;
}

int kvlm_bytelevel_byte(uint32_t cp)
{
    if (cp < 256) return bl_self(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    unsigned k = cp - 256;
    for (unsigned i = 0; i < 256; i++)
        if (!bl_self(i) && k-- == 0) return (int)i;
    return -1;
}

static int16_t g_inv[256 + 68];
static pthread_once_t g_inv_once = PTHREAD_ONCE_INIT;

static void inv_init(void)
{
    for (uint32_t cp = 0; cp < 256 + 68; cp++) g_inv[cp] = (int16_t)kvlm_bytelevel_byte(cp);
}

long kvlm_bytelevel_unmap(const char *s, size_t len, char *out)
{
    pthread_once(&g_inv_once, inv_init);
    const int16_t *inv = g_inv;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < len) {
        int l = kvlm_utf8_valid_len(u + i, len - i);
        if (l == 0) return -1;
        uint32_t cp = kvlm_utf8_decode(u + i, l);
        if (cp < 256 + 68 && inv[cp] >= 0) {
            out[o++] = (char)inv[cp];
        } else {
            memcpy(out + o, s + i, (size_t)l);
            o += (size_t)l;
        }
        i += (size_t)l;
    }
    return (long)o;
}
