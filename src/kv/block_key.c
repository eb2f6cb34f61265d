/*
 * block_key.c - the one place block keys are computed (see block_key.h).
 *
 * Encoding hashed, all integers little-endian:
 *     "kvlm.block.v1"                       domain tag (with its length)
 *     field 'P': 32-byte parent key, or field 'R' with no bytes for a root
 *     field 'T': block_size token ids as int32
 *     field 'N': namespace bytes
 *     field 'F': 32-byte model identity (kvlm_block_key_scope)
 *     field 'D': KV dtype as uint32
 *     field 'B': block size as uint32
 * where a field is (one tag byte, uint64 byte length, bytes). Tags and
 * lengths make the encoding injective.
 */
#include <string.h>

#include <openssl/evp.h>

#include "core/status.h"

#include "kv/block_key.h"

static int weak_bits;

void kvlm_block_key_test_weaken(int bits) { weak_bits = bits < 0 ? 0 : bits > 256 ? 256 : bits; }

static void put_field(EVP_MD_CTX *c, char tag, const void *p, uint64_t n)
{
    uint8_t hdr[9];
    hdr[0] = (uint8_t)tag;
    for (int i = 0; i < 8; i++) hdr[1 + i] = (uint8_t)(n >> (8 * i));
    EVP_DigestUpdate(c, hdr, sizeof hdr);
    if (n) EVP_DigestUpdate(c, p, (size_t)n);
}

static void put_u32(EVP_MD_CTX *c, char tag, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put_field(c, tag, b, 4);
}

kvlm_status kvlm_block_key_compute(const kvlm_block_key_scope *scope, const kvlm_block_key *parent,
                                   const int32_t *tokens, const char *ns, size_t ns_len,
                                   kvlm_block_key *out)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(c);
        return kvlm_fail(KVLM_ERR_NOMEM, "cannot start SHA-256 for a block key");
    }
    static const char tag[] = "kvlm.block.v1";
    put_field(c, 'V', tag, sizeof tag - 1);
    if (parent) put_field(c, 'P', parent->b, 32);
    else put_field(c, 'R', NULL, 0);
    /* token ids as little-endian int32, in bounded pieces */
    uint8_t buf[256];
    uint64_t n = (uint64_t)scope->block_size * 4;
    uint8_t hdr[9] = {'T'};
    for (int i = 0; i < 8; i++) hdr[1 + i] = (uint8_t)(n >> (8 * i));
    EVP_DigestUpdate(c, hdr, sizeof hdr);
    size_t k = 0;
    for (int i = 0; i < scope->block_size; i++) {
        uint32_t v = (uint32_t)tokens[i];
        buf[k++] = (uint8_t)v, buf[k++] = (uint8_t)(v >> 8), buf[k++] = (uint8_t)(v >> 16),
        buf[k++] = (uint8_t)(v >> 24);
        if (k == sizeof buf) EVP_DigestUpdate(c, buf, k), k = 0;
    }
    if (k) EVP_DigestUpdate(c, buf, k);
    put_field(c, 'N', ns, ns_len);
    put_field(c, 'F', scope->fingerprint, 32);
    put_u32(c, 'D', (uint32_t)scope->kv_type);
    put_u32(c, 'B', (uint32_t)scope->block_size);
    unsigned len = 0;
    int ok = EVP_DigestFinal_ex(c, out->b, &len);
    EVP_MD_CTX_free(c);
    if (!ok || len != 32) return kvlm_fail(KVLM_ERR_INTERNAL, "SHA-256 of a block key failed");
    if (weak_bits) {
        int full = weak_bits / 8, rem = weak_bits % 8;
        if (rem) out->b[full] &= (uint8_t)(0xFF << (8 - rem)), full++;
        memset(out->b + full, 0, (size_t)(32 - full));
    }
    return KVLM_OK;
}

kvlm_status kvlm_namespace_digest(const char *ns, size_t ns_len, uint8_t out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(c);
        return kvlm_fail(KVLM_ERR_NOMEM, "cannot start SHA-256 for a namespace");
    }
    static const char tag[] = "kvlm.namespace.v1";
    put_field(c, 'V', tag, sizeof tag - 1);
    put_field(c, 'N', ns, ns_len);
    unsigned len = 0;
    int ok = EVP_DigestFinal_ex(c, out, &len);
    EVP_MD_CTX_free(c);
    return ok && len == 32 ? KVLM_OK : kvlm_fail(KVLM_ERR_INTERNAL, "SHA-256 of a namespace failed");
}
