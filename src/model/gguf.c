/*
 * gguf.c - a validating reader for GGUF v2/v3 (little-endian) model files.
 *
 * The file is untrusted input. Parsing is a single forward pass over the
 * bytes with a cursor that never moves past `size`:
 *   (1) header: magic "GGUF", version 2 or 3, n_tensors, n_kv. Both counts
 *       are checked against the bytes left (a key/value needs at least 14
 *       bytes, a tensor info at least 33) before anything is allocated.
 *   (2) n_kv key/values (the kv and tensor tables grow as entries are
 *       read, so a forged count allocates nothing up front). Every string
 *       length and array length is checked
 *       against the bytes left before it is used; array element arrays are
 *       allocated only after that check, so no allocation is larger than
 *       the file. Nested arrays are rejected (no model in use needs them).
 *       Keys must be non-empty and unique. Bools must be 0 or 1.
 *   (3) general.alignment: if present a UINT32, non-zero power of two;
 *       default 32.
 *   (4) n_tensors tensor infos: name (non-empty, unique, no NUL byte),
 *       n_dims in 1..4, every ne >= 1, the product of the dims fits in
 *       int64 and the byte size in uint64, a known GGML type id (table
 *       below, with block size and block bytes), ne[0] a multiple of the
 *       block size.
 *   (5) data section at align_up(end of infos, alignment). Every tensor's
 *       offset is a multiple of the alignment and its bytes lie inside the
 *       file; sorted by offset, no two tensors overlap.
 * After kvlm_gguf_parse returns KVLM_OK every pointer in the result points
 * inside the buffer and every size has been checked, so users need no
 * further bounds checks. Error messages name the file, the field and the
 * byte offset of the field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "model/gguf.h"
#include "model/modelfile.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MIN_KV_BYTES 14     /* key len 8 + key 1 + type 4 + value 1 */
#define GGUF_MIN_TINFO_BYTES 33  /* name len 8 + name 1 + n_dims 4 + ne 8 + type 4 + offset 8 */
#define GGUF_MAX_NAME 65535      /* longest tensor name accepted */

/* ---------------------------------------------------------------------------
 * GGML type table: block size in elements and bytes per block (as ggml's
 * C type traits; note gguf-py lists q8_1 as 40 bytes, ggml's block_q8_1 is
 * 36, and q8_1 never appears in model files). Types that
 * were removed from GGML (their ids are reserved) have blck == 0: they get
 * a name but are rejected as unsupported.
 * ------------------------------------------------------------------------- */
typedef struct ggml_type_info {
    const char *name;
    uint32_t blck;   /* elements per block; 0 = removed type */
    uint32_t bytes;  /* bytes per block */
} ggml_type_info;

static const ggml_type_info g_types[] = {
    [0] = {"f32", 1, 4},
    [1] = {"f16", 1, 2},
    [2] = {"q4_0", 32, 18},
    [3] = {"q4_1", 32, 20},
    [4] = {"q4_2 (removed)", 0, 0},
    [5] = {"q4_3 (removed)", 0, 0},
    [6] = {"q5_0", 32, 22},
    [7] = {"q5_1", 32, 24},
    [8] = {"q8_0", 32, 34},
    [9] = {"q8_1", 32, 36},
    [10] = {"q2_K", 256, 84},
    [11] = {"q3_K", 256, 110},
    [12] = {"q4_K", 256, 144},
    [13] = {"q5_K", 256, 176},
    [14] = {"q6_K", 256, 210},
    [15] = {"q8_K", 256, 292},
    [16] = {"iq2_xxs", 256, 66},
    [17] = {"iq2_xs", 256, 74},
    [18] = {"iq3_xxs", 256, 98},
    [19] = {"iq1_s", 256, 50},
    [20] = {"iq4_nl", 32, 18},
    [21] = {"iq3_s", 256, 110},
    [22] = {"iq2_s", 256, 82},
    [23] = {"iq4_xs", 256, 136},
    [24] = {"i8", 1, 1},
    [25] = {"i16", 1, 2},
    [26] = {"i32", 1, 4},
    [27] = {"i64", 1, 8},
    [28] = {"f64", 1, 8},
    [29] = {"iq1_m", 256, 56},
    [30] = {"bf16", 1, 2},
    [31] = {"q4_0_4_4 (removed)", 0, 0},
    [32] = {"q4_0_4_8 (removed)", 0, 0},
    [33] = {"q4_0_8_8 (removed)", 0, 0},
    [34] = {"tq1_0", 256, 54},
    [35] = {"tq2_0", 256, 66},
    [36] = {"iq4_nl_4_4 (removed)", 0, 0},
    [37] = {"iq4_nl_4_8 (removed)", 0, 0},
    [38] = {"iq4_nl_8_8 (removed)", 0, 0},
    [39] = {"mxfp4", 32, 17},
    [40] = {"nvfp4", 64, 36},
    [41] = {"q1_0", 128, 18},
};
#define N_GGML_TYPES (sizeof g_types / sizeof g_types[0])

const char *kvlm_ggml_type_name(uint32_t t)
{
    return t < N_GGML_TYPES ? g_types[t].name : NULL;
}

bool kvlm_ggml_type_block(uint32_t t, uint32_t *blck, uint32_t *bytes)
{
    if (t >= N_GGML_TYPES || g_types[t].blck == 0)
        return false;
    if (blck)
        *blck = g_types[t].blck;
    if (bytes)
        *bytes = g_types[t].bytes;
    return true;
}

static const char *gguf_type_name(uint32_t t)
{
    static const char *const names[] = {"uint8", "int8", "uint16", "int16", "uint32",
                                        "int32", "float32", "bool", "string", "array",
                                        "uint64", "int64", "float64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Bytes of one scalar value; 0 for STRING, ARRAY and unknown ids. */
static uint64_t gguf_scalar_size(uint32_t t)
{
    switch (t) {
    case KVLM_GGUF_UINT8: case KVLM_GGUF_INT8: case KVLM_GGUF_BOOL: return 1;
    case KVLM_GGUF_UINT16: case KVLM_GGUF_INT16: return 2;
    case KVLM_GGUF_UINT32: case KVLM_GGUF_INT32: case KVLM_GGUF_FLOAT32: return 4;
    case KVLM_GGUF_UINT64: case KVLM_GGUF_INT64: case KVLM_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

struct kvlm_gguf {
    char *path;                  /* name used in messages */
    kvlm_mapped_file mf;         /* set when opened from a path */
    const uint8_t *base;
    uint64_t size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;        /* absolute offset of the data section */
    int64_t n_kv;
    kvlm_gguf_kv *kv;
    const kvlm_gguf_kv **kv_sorted;        /* by key */
    int64_t n_tensors;
    kvlm_gguf_tensor *tensors;
    uint64_t *tinfo_off;                   /* file offset of each tensor info */
    const kvlm_gguf_tensor **t_sorted;     /* by name */
};

/* ---------------------------------------------------------------------------
 * Cursor over the bytes. Every read goes through need().
 * ------------------------------------------------------------------------- */
typedef struct rd {
    const uint8_t *b;
    uint64_t size, off;
    const char *name;
} rd;

static uint64_t left(const rd *r) { return r->size - r->off; }

static kvlm_status need(rd *r, uint64_t n, const char *ctx, const char *what)
{
    if (left(r) < n)
        return kvlm_fail(KVLM_ERR_FORMAT,
                         "%s: truncated file: %s%s%s at offset %llu needs %llu bytes, "
                         "only %llu left (file is %llu bytes)",
                         r->name, ctx, *ctx ? ": " : "", what, (unsigned long long)r->off,
                         (unsigned long long)n, (unsigned long long)left(r),
                         (unsigned long long)r->size);
    return KVLM_OK;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static kvlm_status rd_uint(rd *r, int n, const char *ctx, const char *what, uint64_t *out)
{
    kvlm_status s = need(r, (uint64_t)n, ctx, what);
    if (s)
        return s;
    *out = le(r->b + r->off, n);
    r->off += (uint64_t)n;
    return KVLM_OK;
}

static kvlm_status rd_str(rd *r, const char *ctx, const char *what, kvlm_str *out)
{
    uint64_t at = r->off, len;
    kvlm_status s = rd_uint(r, 8, ctx, what, &len);
    if (s)
        return s;
    if (len > left(r))
        return kvlm_fail(KVLM_ERR_FORMAT,
                         "%s: %s%s%s at offset %llu: string length %llu is larger than the "
                         "rest of the file (%llu bytes)",
                         r->name, ctx, *ctx ? ": " : "", what, (unsigned long long)at,
                         (unsigned long long)len, (unsigned long long)left(r));
    out->ptr = (const char *)(r->b + r->off);
    out->len = len;
    r->off += len;
    return KVLM_OK;
}

/* Reads a value of scalar type t (not STRING/ARRAY) into kv->v. */
static kvlm_status rd_scalar(rd *r, uint32_t t, const char *ctx, kvlm_gguf_kv *kv)
{
    uint64_t at = r->off, n = gguf_scalar_size(t), v;
    kvlm_status s = rd_uint(r, (int)n, ctx, "value", &v);
    if (s)
        return s;
    switch (t) {
    case KVLM_GGUF_INT8: kv->v.i64 = (int8_t)(uint8_t)v; break;
    case KVLM_GGUF_INT16: kv->v.i64 = (int16_t)(uint16_t)v; break;
    case KVLM_GGUF_INT32: kv->v.i64 = (int32_t)(uint32_t)v; break;
    case KVLM_GGUF_INT64: kv->v.i64 = (int64_t)v; break;
    case KVLM_GGUF_FLOAT32: {
        uint32_t u = (uint32_t)v;
        float f;
        memcpy(&f, &u, 4);
        kv->v.f64 = f;
        break;
    }
    case KVLM_GGUF_FLOAT64: memcpy(&kv->v.f64, &v, 8); break;
    case KVLM_GGUF_BOOL:
        if (v > 1)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: %s: bool value %llu at offset %llu (must be 0 or 1)",
                             r->name, ctx, (unsigned long long)v, (unsigned long long)at);
        kv->v.u64 = v;
        break;
    default: kv->v.u64 = v; break;
    }
    return KVLM_OK;
}

static kvlm_status rd_array(rd *r, const char *ctx, kvlm_gguf_kv *kv)
{
    uint64_t at = r->off, et, n;
    kvlm_status s = rd_uint(r, 4, ctx, "array element type", &et);
    if (s)
        return s;
    if (et == KVLM_GGUF_ARRAY)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED,
                         "%s: %s: nested arrays (array of array at offset %llu) are not supported",
                         r->name, ctx, (unsigned long long)at);
    if (et > KVLM_GGUF_FLOAT64)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: %s: unknown array element type %llu at offset %llu",
                         r->name, ctx, (unsigned long long)et, (unsigned long long)at);
    uint64_t nat = r->off;
    s = rd_uint(r, 8, ctx, "array length", &n);
    if (s)
        return s;
    uint64_t es = et == KVLM_GGUF_STRING ? 8 : gguf_scalar_size((uint32_t)et);
    if (n > left(r) / es)
        return kvlm_fail(KVLM_ERR_FORMAT,
                         "%s: %s: array length %llu at offset %llu is larger than the rest of "
                         "the file could hold (%llu bytes left, %llu bytes per %s element)",
                         r->name, ctx, (unsigned long long)n, (unsigned long long)nat,
                         (unsigned long long)left(r), (unsigned long long)es,
                         gguf_type_name((uint32_t)et));
    kv->v.arr.type = (kvlm_gguf_type)et;
    kv->v.arr.n = n;
    kv->v.arr.data = r->b + r->off;
    kv->v.arr.strs = NULL;
    if (et == KVLM_GGUF_STRING) {
        kv->v.arr.data = NULL;
        if (n == 0)
            return KVLM_OK;
        kv->v.arr.strs = malloc((size_t)n * sizeof(kvlm_str)); /* n <= file size / 8 */
        if (!kv->v.arr.strs)
            return kvlm_fail(KVLM_ERR_NOMEM, "%s: %s: out of memory for %llu strings", r->name,
                             ctx, (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++) {
            char what[64];
            snprintf(what, sizeof what, "string element %llu", (unsigned long long)i);
            if ((s = rd_str(r, ctx, what, &kv->v.arr.strs[i])))
                return s;
        }
        return KVLM_OK;
    }
    if (et == KVLM_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (r->b[r->off + i] > 1)
                return kvlm_fail(KVLM_ERR_FORMAT,
                                 "%s: %s: bool element %llu at offset %llu is %u (must be 0 or 1)",
                                 r->name, ctx, (unsigned long long)i,
                                 (unsigned long long)(r->off + i), r->b[r->off + i]);
    r->off += n * es;
    return KVLM_OK;
}

static int cmp_str(kvlm_str a, kvlm_str b)
{
    uint64_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, (size_t)n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int cmp_kv_ptr(const void *a, const void *b)
{
    const kvlm_gguf_kv *x = *(const kvlm_gguf_kv *const *)a, *y = *(const kvlm_gguf_kv *const *)b;
    int c = cmp_str(x->key, y->key);
    return c ? c : (x < y ? -1 : x > y);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    const kvlm_gguf_tensor *x = *(const kvlm_gguf_tensor *const *)a;
    const kvlm_gguf_tensor *y = *(const kvlm_gguf_tensor *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x < y ? -1 : x > y);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const kvlm_gguf_tensor *x = *(const kvlm_gguf_tensor *const *)a;
    const kvlm_gguf_tensor *y = *(const kvlm_gguf_tensor *const *)b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x < y ? -1 : x > y;
}

void kvlm_gguf_close(kvlm_gguf *g)
{
    if (!g)
        return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++)
            if (g->kv[i].type == KVLM_GGUF_ARRAY)
                free(g->kv[i].v.arr.strs);
    if (g->tensors)
        for (int64_t i = 0; i < g->n_tensors; i++)
            free(g->tensors[i].name);
    free(g->kv);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->tinfo_off);
    free(g->t_sorted);
    kvlm_unmap_file(&g->mf);
    free(g->path);
    free(g);
}

static kvlm_status parse_header(kvlm_gguf *g, rd *r, uint64_t *n_tensors, uint64_t *n_kv)
{
    const char *nm = r->name;
    if (r->size < 4 || memcmp(r->b, "GGUF", 4) != 0) {
        const char *what = kvlm_sniff_format(r->b, (size_t)r->size);
        if (r->size < 4)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: not a GGUF file: %s (%llu bytes, too small "
                             "for the 4-byte magic)", nm, what ? what : "too short",
                             (unsigned long long)r->size);
        return kvlm_fail(KVLM_ERR_FORMAT,
                         "%s: not a GGUF file: bad magic %02x %02x %02x %02x at offset 0%s%s",
                         nm, r->b[0], r->b[1], r->b[2], r->b[3], what ? "; it looks like " : "",
                         what ? what : "");
    }
    r->off = 4;
    uint64_t v;
    kvlm_status s = rd_uint(r, 4, "header", "version", &v);
    if (s)
        return s;
    if (v == 1)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED,
                         "%s: GGUF version 1 (offset 4) is not supported (only versions 2 and 3); "
                         "re-convert the model with a current llama.cpp", nm);
    if (v == 0x02000000u || v == 0x03000000u)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED,
                         "%s: this is a big-endian GGUF file (version field at offset 4 is "
                         "byte-swapped); only little-endian GGUF is supported", nm);
    if (v != 2 && v != 3)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED,
                         "%s: unsupported GGUF version %llu at offset 4 (supported: 2 and 3)", nm,
                         (unsigned long long)v);
    g->version = (uint32_t)v;
    if ((s = rd_uint(r, 8, "header", "n_tensors", n_tensors)))
        return s;
    if ((s = rd_uint(r, 8, "header", "n_kv", n_kv)))
        return s;
    /* Both sections follow; each needs a minimum number of bytes per item. */
    if (*n_kv > left(r) / GGUF_MIN_KV_BYTES)
        return kvlm_fail(KVLM_ERR_FORMAT,
                         "%s: header: n_kv = %llu (offset 16) is larger than the rest of the "
                         "file could hold (%llu bytes left)",
                         nm, (unsigned long long)*n_kv, (unsigned long long)left(r));
    if (*n_tensors > left(r) / GGUF_MIN_TINFO_BYTES)
        return kvlm_fail(KVLM_ERR_FORMAT,
                         "%s: header: n_tensors = %llu (offset 8) is larger than the rest of the "
                         "file could hold (%llu bytes left)",
                         nm, (unsigned long long)*n_tensors, (unsigned long long)left(r));
    return KVLM_OK;
}

/* Grows *arr (elements of size es, capacity *cap) to hold at least n + 1
 * elements, doubling, never beyond max (a count already checked against the
 * file size). The new element is zeroed. */
static bool grow(void **arr, size_t es, int64_t *cap, int64_t n, uint64_t max)
{
    if (n < *cap) {
        memset((char *)*arr + (size_t)n * es, 0, es);
        return true;
    }
    uint64_t c = *cap ? (uint64_t)*cap * 2 : 64;
    if (c > max)
        c = max;
    void *p = realloc(*arr, (size_t)c * es);
    if (!p)
        return false;
    *arr = p;
    *cap = (int64_t)c;
    memset((char *)p + (size_t)n * es, 0, es);
    return true;
}

/* Parses n key/values. Arrays grow as entries are actually read, so a
 * forged count costs no memory before the bytes run out. */
static kvlm_status parse_kvs(kvlm_gguf *g, rd *r, uint64_t n)
{
    kvlm_status s;
    char ctx[160], kname[96];
    int64_t cap = 0;
    for (int64_t i = 0; i < (int64_t)n; i++) {
        void *arr = g->kv;
        bool ok = grow(&arr, sizeof *g->kv, &cap, i, n);
        g->kv = arr;
        if (!ok)
            return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory for key/values", r->name);
        g->n_kv = i + 1;
        kvlm_gguf_kv *kv = &g->kv[i];
        uint64_t at = r->off, t;
        snprintf(ctx, sizeof ctx, "key/value #%lld", (long long)i);
        if ((s = rd_str(r, ctx, "key", &kv->key)))
            return s;
        if (kv->key.len == 0)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: %s at offset %llu: empty key", r->name, ctx,
                             (unsigned long long)at);
        snprintf(ctx, sizeof ctx, "key '%s' (at offset %llu)",
                 kvlm_printable(kname, sizeof kname, kv->key.ptr, (size_t)kv->key.len),
                 (unsigned long long)at);
        uint64_t tat = r->off;
        if ((s = rd_uint(r, 4, ctx, "value type", &t)))
            return s;
        if (t > KVLM_GGUF_FLOAT64)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: %s: unknown value type %llu at offset %llu",
                             r->name, ctx, (unsigned long long)t, (unsigned long long)tat);
        kv->type = (kvlm_gguf_type)t;
        kv->offset = r->off;
        if (t == KVLM_GGUF_STRING)
            s = rd_str(r, ctx, "string value", &kv->v.str);
        else if (t == KVLM_GGUF_ARRAY)
            s = rd_array(r, ctx, kv);
        else
            s = rd_scalar(r, (uint32_t)t, ctx, kv);
        if (s)
            return s;
    }
    /* Unique keys. */
    if (g->n_kv > 0) {
        g->kv_sorted = malloc((size_t)g->n_kv * sizeof *g->kv_sorted);
        if (!g->kv_sorted)
            return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", r->name);
        for (int64_t i = 0; i < g->n_kv; i++)
            g->kv_sorted[i] = &g->kv[i];
        qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv_ptr);
        for (int64_t i = 1; i < g->n_kv; i++)
            if (cmp_str(g->kv_sorted[i - 1]->key, g->kv_sorted[i]->key) == 0) {
                const kvlm_gguf_kv *a = g->kv_sorted[i - 1], *b = g->kv_sorted[i];
                return kvlm_fail(KVLM_ERR_FORMAT,
                                 "%s: duplicate key '%s' (values at offsets %llu and %llu)",
                                 r->name, kvlm_printable(kname, sizeof kname, a->key.ptr,
                                                         (size_t)a->key.len),
                                 (unsigned long long)a->offset, (unsigned long long)b->offset);
            }
    }
    return KVLM_OK;
}

static kvlm_status parse_alignment(kvlm_gguf *g, const char *nm)
{
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const kvlm_gguf_kv *a = kvlm_gguf_find_kv(g, "general.alignment");
    if (!a)
        return KVLM_OK;
    if (a->type != KVLM_GGUF_UINT32)
        return kvlm_fail(KVLM_ERR_FORMAT,
                         "%s: key 'general.alignment' (value at offset %llu) has type %s; it must "
                         "be uint32", nm, (unsigned long long)a->offset, gguf_type_name(a->type));
    uint64_t v = a->v.u64;
    if (v == 0 || (v & (v - 1)) != 0)
        return kvlm_fail(KVLM_ERR_FORMAT,
                         "%s: key 'general.alignment' (value at offset %llu) is %llu; it must be "
                         "a non-zero power of two", nm, (unsigned long long)a->offset,
                         (unsigned long long)v);
    g->alignment = v;
    return KVLM_OK;
}

static kvlm_status parse_tensor_info(kvlm_gguf *g, rd *r, int64_t i)
{
    kvlm_gguf_tensor *t = &g->tensors[i];
    uint64_t at = r->off, u;
    char ctx[200], tname[96];
    kvlm_status s;
    g->tinfo_off[i] = at;
    snprintf(ctx, sizeof ctx, "tensor info #%lld", (long long)i);
    kvlm_str name;
    if ((s = rd_str(r, ctx, "name", &name)))
        return s;
    if (name.len == 0 || name.len > GGUF_MAX_NAME || memchr(name.ptr, 0, (size_t)name.len))
        return kvlm_fail(KVLM_ERR_FORMAT,
                         "%s: %s at offset %llu: invalid tensor name (length %llu; must be 1..%d "
                         "bytes without NUL)", r->name, ctx, (unsigned long long)at,
                         (unsigned long long)name.len, GGUF_MAX_NAME);
    t->name = malloc((size_t)name.len + 1);
    if (!t->name)
        return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", r->name);
    memcpy(t->name, name.ptr, (size_t)name.len);
    t->name[name.len] = 0;
    kvlm_printable(tname, sizeof tname, name.ptr, (size_t)name.len);
    snprintf(ctx, sizeof ctx, "tensor '%s' (info at offset %llu)", tname, (unsigned long long)at);
    uint64_t dat = r->off;
    if ((s = rd_uint(r, 4, ctx, "n_dims", &u)))
        return s;
    if (u == 0 || u > 4)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: %s: n_dims = %llu at offset %llu (must be 1..4)",
                         r->name, ctx, (unsigned long long)u, (unsigned long long)dat);
    t->n_dims = (int)u;
    for (int d = 0; d < 4; d++)
        t->ne[d] = 1;
    for (int d = 0; d < t->n_dims; d++) {
        uint64_t eat = r->off;
        char what[16];
        snprintf(what, sizeof what, "ne[%d]", d);
        if ((s = rd_uint(r, 8, ctx, what, &u)))
            return s;
        if (u == 0 || u > (uint64_t)INT64_MAX)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: %s: ne[%d] = %lld at offset %llu (must be >= 1)",
                             r->name, ctx, d, (long long)u, (unsigned long long)eat);
        t->ne[d] = (int64_t)u;
    }
    uint64_t tat = r->off;
    if ((s = rd_uint(r, 4, ctx, "type", &u)))
        return s;
    t->ggml_type = (uint32_t)u;
    t->type = (kvlm_dtype)u;
    if (u >= N_GGML_TYPES)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: %s: unknown tensor type id %llu at offset %llu",
                         r->name, ctx, (unsigned long long)u, (unsigned long long)tat);
    const ggml_type_info *ti = &g_types[u];
    if (ti->blck == 0)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED,
                         "%s: %s: tensor type %s (id %llu at offset %llu) was removed from GGML; "
                         "re-convert the model", r->name, ctx, ti->name, (unsigned long long)u,
                         (unsigned long long)tat);
    if ((s = rd_uint(r, 8, ctx, "offset", &t->offset)))
        return s;
    /* Element count must fit int64, byte size must fit uint64 and size_t. */
    int64_t nel = 1;
    for (int d = 0; d < 4; d++)
        if (__builtin_mul_overflow(nel, t->ne[d], &nel))
            return kvlm_fail(KVLM_ERR_FORMAT,
                             "%s: %s: dims %lld x %lld x %lld x %lld overflow int64", r->name, ctx,
                             (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                             (long long)t->ne[3]);
    if (t->ne[0] % ti->blck != 0)
        return kvlm_fail(KVLM_ERR_FORMAT,
                         "%s: %s: ne[0] = %lld is not a multiple of the block size %u of type %s",
                         r->name, ctx, (long long)t->ne[0], ti->blck, ti->name);
    uint64_t nb = (uint64_t)(t->ne[0] / ti->blck);
    bool ovf = __builtin_mul_overflow(nb, (uint64_t)ti->bytes, &nb);
    for (int d = 1; d < 4; d++)
        ovf = ovf || __builtin_mul_overflow(nb, (uint64_t)t->ne[d], &nb);
    if (ovf || nb > (uint64_t)SIZE_MAX)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: %s: byte size of %lld elements of %s overflows",
                         r->name, ctx, (long long)nel, ti->name);
    t->nbytes = nb;
    return KVLM_OK;
}

static kvlm_status parse_tensors(kvlm_gguf *g, rd *r, uint64_t n)
{
    kvlm_status s;
    char tname[96];
    const char *nm = r->name;
    int64_t cap = 0, cap2 = 0;
    for (int64_t i = 0; i < (int64_t)n; i++) {
        void *a = g->tensors, *b = g->tinfo_off;
        bool ok = grow(&a, sizeof *g->tensors, &cap, i, n);
        g->tensors = a;
        ok = ok && grow(&b, sizeof *g->tinfo_off, &cap2, i, n);
        g->tinfo_off = b;
        if (!ok)
            return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory for tensor infos", nm);
        g->n_tensors = i + 1;
        if ((s = parse_tensor_info(g, r, i)))
            return s;
    }
    uint64_t infos_end = r->off;
    g->data_offset = infos_end + (g->alignment - infos_end % g->alignment) % g->alignment;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        kvlm_gguf_tensor *t = &g->tensors[i];
        kvlm_printable(tname, sizeof tname, t->name, strlen(t->name));
        if (t->offset % g->alignment != 0)
            return kvlm_fail(KVLM_ERR_FORMAT,
                             "%s: tensor '%s' (info at offset %llu): data offset %llu is not a "
                             "multiple of general.alignment (%llu)", nm, tname,
                             (unsigned long long)g->tinfo_off[i], (unsigned long long)t->offset,
                             (unsigned long long)g->alignment);
        uint64_t start, end;
        if (__builtin_add_overflow(g->data_offset, t->offset, &start) ||
            __builtin_add_overflow(start, t->nbytes, &end))
            return kvlm_fail(KVLM_ERR_FORMAT,
                             "%s: tensor '%s' (info at offset %llu): data offset %llu + %llu "
                             "bytes (data section at %llu) is far past end of file (%llu bytes)",
                             nm, tname, (unsigned long long)g->tinfo_off[i],
                             (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                             (unsigned long long)g->data_offset, (unsigned long long)g->size);
        if (end > g->size)
            return kvlm_fail(KVLM_ERR_FORMAT,
                             "%s: tensor '%s' (info at offset %llu): data [%llu, %llu) extends "
                             "past end of file (%llu bytes)", nm, tname,
                             (unsigned long long)g->tinfo_off[i],
                             (unsigned long long)(g->data_offset + t->offset),
                             (unsigned long long)(g->data_offset + t->offset + t->nbytes),
                             (unsigned long long)g->size);
        t->data = g->base + start;
    }
    if (g->n_tensors == 0)
        return KVLM_OK;
    const kvlm_gguf_tensor **by = malloc((size_t)g->n_tensors * sizeof *by);
    g->t_sorted = malloc((size_t)g->n_tensors * sizeof *g->t_sorted);
    if (!by || !g->t_sorted) {
        free(by);
        return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", nm);
    }
    for (int64_t i = 0; i < g->n_tensors; i++)
        by[i] = g->t_sorted[i] = &g->tensors[i];
    qsort(by, (size_t)g->n_tensors, sizeof *by, cmp_tensor_offset);
    for (int64_t i = 1; i < g->n_tensors; i++) {
        const kvlm_gguf_tensor *a = by[i - 1], *b = by[i];
        if (a->offset + a->nbytes > b->offset) {
            char an[96];
            kvlm_printable(an, sizeof an, a->name, strlen(a->name));
            kvlm_printable(tname, sizeof tname, b->name, strlen(b->name));
            s = kvlm_fail(KVLM_ERR_FORMAT,
                          "%s: tensor '%s' (info at offset %llu): data [%llu, %llu) overlaps "
                          "tensor '%s' data [%llu, %llu)", nm, tname,
                          (unsigned long long)g->tinfo_off[b - g->tensors],
                          (unsigned long long)(g->data_offset + b->offset),
                          (unsigned long long)(g->data_offset + b->offset + b->nbytes), an,
                          (unsigned long long)(g->data_offset + a->offset),
                          (unsigned long long)(g->data_offset + a->offset + a->nbytes));
            free(by);
            return s;
        }
    }
    free(by);
    qsort(g->t_sorted, (size_t)g->n_tensors, sizeof *g->t_sorted, cmp_tensor_name);
    for (int64_t i = 1; i < g->n_tensors; i++)
        if (strcmp(g->t_sorted[i - 1]->name, g->t_sorted[i]->name) == 0) {
            const kvlm_gguf_tensor *a = g->t_sorted[i - 1], *b = g->t_sorted[i];
            kvlm_printable(tname, sizeof tname, a->name, strlen(a->name));
            return kvlm_fail(KVLM_ERR_FORMAT,
                             "%s: duplicate tensor name '%s' (infos at offsets %llu and %llu)", nm,
                             tname, (unsigned long long)g->tinfo_off[a - g->tensors],
                             (unsigned long long)g->tinfo_off[b - g->tensors]);
        }
    return KVLM_OK;
}

static kvlm_status parse_all(kvlm_gguf *g)
{
    rd r = {g->base, g->size, 0, g->path};
    uint64_t n_tensors = 0, n_kv = 0;
    kvlm_status s = parse_header(g, &r, &n_tensors, &n_kv);
    if (s)
        return s;
    /* Counts are bounded by the file size (checked in parse_header). */
    if ((s = parse_kvs(g, &r, n_kv)))
        return s;
    if ((s = parse_alignment(g, g->path)))
        return s;
    if (n_tensors > left(&r) / GGUF_MIN_TINFO_BYTES)
        return kvlm_fail(KVLM_ERR_FORMAT,
                         "%s: header: n_tensors = %llu (offset 8) is larger than the rest of the "
                         "file after the key/values could hold (%llu bytes left at offset %llu)",
                         g->path, (unsigned long long)n_tensors, (unsigned long long)left(&r),
                         (unsigned long long)r.off);
    return parse_tensors(g, &r, n_tensors);
}

static kvlm_status gguf_new(const char *name, kvlm_gguf **out)
{
    *out = NULL;
    kvlm_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(name ? name : "<buffer>"))) {
        free(g);
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    }
    *out = g;
    return KVLM_OK;
}

kvlm_status kvlm_gguf_parse(const void *buf, size_t size, const char *name, kvlm_gguf **out)
{
    if (!out || (!buf && size))
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_gguf_parse: NULL argument");
    kvlm_gguf *g;
    kvlm_status s = gguf_new(name, &g);
    if (s)
        return s;
    static const uint8_t empty[1];
    g->base = buf ? buf : empty;
    g->size = size;
    if ((s = parse_all(g))) {
        kvlm_gguf_close(g);
        return s;
    }
    *out = g;
    return KVLM_OK;
}

kvlm_status kvlm_gguf_open(const char *path, kvlm_gguf **out)
{
    if (!path || !out)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_gguf_open: NULL argument");
    *out = NULL;
    kvlm_gguf *g;
    kvlm_status s = gguf_new(path, &g);
    if (s)
        return s;
    if ((s = kvlm_map_file(path, &g->mf))) {
        kvlm_gguf_close(g);
        return s;
    }
    g->base = g->mf.base;
    g->size = g->mf.size;
    if ((s = parse_all(g))) {
        kvlm_gguf_close(g);
        return s;
    }
    *out = g;
    return KVLM_OK;
}

/* ---------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------- */
uint32_t kvlm_gguf_version(const kvlm_gguf *g) { return g->version; }
uint64_t kvlm_gguf_file_size(const kvlm_gguf *g) { return g->size; }
uint64_t kvlm_gguf_alignment(const kvlm_gguf *g) { return g->alignment; }
uint64_t kvlm_gguf_data_offset(const kvlm_gguf *g) { return g->data_offset; }
const char *kvlm_gguf_path(const kvlm_gguf *g) { return g->path; }
int64_t kvlm_gguf_n_kv(const kvlm_gguf *g) { return g->n_kv; }
int64_t kvlm_gguf_n_tensors(const kvlm_gguf *g) { return g->n_tensors; }

const kvlm_gguf_kv *kvlm_gguf_kv_at(const kvlm_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? &g->kv[i] : NULL;
}

const kvlm_gguf_tensor *kvlm_gguf_tensor_at(const kvlm_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

bool kvlm_str_eq(kvlm_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

const kvlm_gguf_kv *kvlm_gguf_find_kv(const kvlm_gguf *g, const char *key)
{
    if (!key || !g->kv_sorted)
        return NULL;
    kvlm_str k = {key, strlen(key)};
    int64_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = cmp_str(g->kv_sorted[mid]->key, k);
        if (c == 0)
            return g->kv_sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const kvlm_gguf_tensor *kvlm_gguf_find_tensor(const kvlm_gguf *g, const char *name)
{
    if (!name || !g->t_sorted)
        return NULL;
    int64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->t_sorted[mid]->name, name);
        if (c == 0)
            return g->t_sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Looks key up; fails naming it if absent. */
static kvlm_status get_kv(const kvlm_gguf *g, const char *key, const kvlm_gguf_kv **out)
{
    *out = kvlm_gguf_find_kv(g, key);
    if (!*out)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: key '%s' is missing", g->path, key ? key : "(null)");
    return KVLM_OK;
}

static kvlm_status wrong_type(const kvlm_gguf *g, const char *key, const kvlm_gguf_kv *kv,
                              const char *want)
{
    return kvlm_fail(KVLM_ERR_FORMAT, "%s: key '%s' (value at offset %llu) has type %s, expected %s",
                     g->path, key, (unsigned long long)kv->offset, gguf_type_name(kv->type), want);
}

static bool is_unsigned(kvlm_gguf_type t)
{
    return t == KVLM_GGUF_UINT8 || t == KVLM_GGUF_UINT16 || t == KVLM_GGUF_UINT32 ||
           t == KVLM_GGUF_UINT64;
}

static bool is_signed(kvlm_gguf_type t)
{
    return t == KVLM_GGUF_INT8 || t == KVLM_GGUF_INT16 || t == KVLM_GGUF_INT32 ||
           t == KVLM_GGUF_INT64;
}

static kvlm_status get_uint(const kvlm_gguf *g, const char *key, uint64_t max, uint64_t *out)
{
    const kvlm_gguf_kv *kv;
    kvlm_status s = get_kv(g, key, &kv);
    if (s)
        return s;
    uint64_t v;
    if (is_unsigned(kv->type))
        v = kv->v.u64;
    else if (is_signed(kv->type) && kv->v.i64 >= 0)
        v = (uint64_t)kv->v.i64;
    else if (is_signed(kv->type))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: key '%s' (value at offset %llu) is negative (%lld)",
                         g->path, key, (unsigned long long)kv->offset, (long long)kv->v.i64);
    else
        return wrong_type(g, key, kv, "an integer");
    if (v > max)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: key '%s' (value at offset %llu) = %llu is out of "
                         "range (max %llu)", g->path, key, (unsigned long long)kv->offset,
                         (unsigned long long)v, (unsigned long long)max);
    *out = v;
    return KVLM_OK;
}

kvlm_status kvlm_gguf_get_u32(const kvlm_gguf *g, const char *key, uint32_t *out)
{
    uint64_t v;
    kvlm_status s = get_uint(g, key, UINT32_MAX, &v);
    if (!s)
        *out = (uint32_t)v;
    return s;
}

kvlm_status kvlm_gguf_get_u64(const kvlm_gguf *g, const char *key, uint64_t *out)
{
    return get_uint(g, key, UINT64_MAX, out);
}

kvlm_status kvlm_gguf_get_f32(const kvlm_gguf *g, const char *key, float *out)
{
    const kvlm_gguf_kv *kv;
    kvlm_status s = get_kv(g, key, &kv);
    if (s)
        return s;
    if (kv->type != KVLM_GGUF_FLOAT32 && kv->type != KVLM_GGUF_FLOAT64)
        return wrong_type(g, key, kv, "float32 or float64");
    *out = (float)kv->v.f64;
    return KVLM_OK;
}

kvlm_status kvlm_gguf_get_bool(const kvlm_gguf *g, const char *key, bool *out)
{
    const kvlm_gguf_kv *kv;
    kvlm_status s = get_kv(g, key, &kv);
    if (s)
        return s;
    if (kv->type != KVLM_GGUF_BOOL)
        return wrong_type(g, key, kv, "bool");
    *out = kv->v.u64 != 0;
    return KVLM_OK;
}

kvlm_status kvlm_gguf_get_str(const kvlm_gguf *g, const char *key, kvlm_str *out)
{
    const kvlm_gguf_kv *kv;
    kvlm_status s = get_kv(g, key, &kv);
    if (s)
        return s;
    if (kv->type != KVLM_GGUF_STRING)
        return wrong_type(g, key, kv, "string");
    *out = kv->v.str;
    return KVLM_OK;
}

kvlm_status kvlm_gguf_get_arr(const kvlm_gguf *g, const char *key, kvlm_gguf_type elem_type,
                              const kvlm_gguf_kv **out)
{
    const kvlm_gguf_kv *kv;
    kvlm_status s = get_kv(g, key, &kv);
    if (s)
        return s;
    if (kv->type != KVLM_GGUF_ARRAY)
        return wrong_type(g, key, kv, "array");
    if (kv->v.arr.type != elem_type)
        return kvlm_fail(KVLM_ERR_FORMAT,
                         "%s: key '%s' (value at offset %llu) is an array of %s, expected an "
                         "array of %s", g->path, key, (unsigned long long)kv->offset,
                         gguf_type_name(kv->v.arr.type), gguf_type_name(elem_type));
    *out = kv;
    return KVLM_OK;
}
