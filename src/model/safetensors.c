/*
 * safetensors.c - a validating reader for safetensors files and Hugging
 * Face model folders.
 *
 * One file is: an 8-byte little-endian header length N, N bytes of JSON,
 * then the data section. Checks, in order:
 *   (1) N <= 100 MB and 8 + N <= file size (otherwise, if the bytes look
 *       like a zip, a pickle, GGUF, ... the error says so);
 *   (2) the header is a JSON object (jansson, duplicate keys rejected, depth
 *       limited by jansson); "__metadata__" maps strings to strings;
 *   (3) every other entry has a known dtype, a shape of 0..8 non-negative
 *       integers whose product fits in int64, and data_offsets [begin, end]
 *       with begin <= end <= data size and end - begin == elements x dtype
 *       size (sizes computed in bits so sub-byte dtypes are exact);
 *   (4) the ranges, sorted, tile [0, data size) exactly: no overlap, no
 *       hole, no trailing bytes;
 *   (5) only then, a tensor whose dtype is known but not F32/F16/BF16 makes
 *       the file KVLM_ERR_UNSUPPORTED (so format errors are reported first).
 * A folder holds model.safetensors or model.safetensors.index.json; the
 * index's weight_map names shard files that must be plain names inside the
 * folder (no '/', no ".."), every mapped tensor must be in its shard, no
 * tensor may be in two shards and every shard tensor must be listed.
 * After success every tensor's data pointer and nbytes lie inside its
 * file's mapping. Error messages name the file, the tensor or field and the
 * byte offsets.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/status.h"
#include "model/modelfile.h"
#include "model/safetensors.h"

#define ST_MAX_HEADER 100000000ull /* 100 MB, as in the reference implementation */
#define ST_MAX_DIMS 8

typedef struct st_dtype {
    const char *name;
    uint32_t bits;       /* per element */
    int supported;
    kvlm_dtype type;     /* when supported */
} st_dtype;

static const st_dtype g_dtypes[] = {
    {"F32", 32, 1, KVLM_DTYPE_F32},  {"F16", 16, 1, KVLM_DTYPE_F16},
    {"BF16", 16, 1, KVLM_DTYPE_BF16}, {"F64", 64, 0, 0},
    {"I8", 8, 0, 0},    {"U8", 8, 0, 0},    {"I16", 16, 0, 0},   {"U16", 16, 0, 0},
    {"I32", 32, 0, 0},  {"U32", 32, 0, 0},  {"I64", 64, 0, 0},   {"U64", 64, 0, 0},
    {"BOOL", 8, 0, 0},  {"F8_E4M3", 8, 0, 0}, {"F8_E5M2", 8, 0, 0}, {"F8_E8M0", 8, 0, 0},
    {"C64", 64, 0, 0},  {"F4", 4, 0, 0},    {"F6_E2M3", 6, 0, 0}, {"F6_E3M2", 6, 0, 0},
};

typedef struct st_file {
    char *path;
    kvlm_mapped_file mf;     /* mapped when opened from disk */
    const uint8_t *base;
    uint64_t size;
} st_file;

struct kvlm_st_set {
    char *path;
    int n_files;
    st_file *files;
    int64_t n, cap;
    kvlm_st_tensor *tensors;
    const kvlm_st_tensor **sorted;   /* by name, built by finish() */
    uint64_t file_bytes;
};

typedef struct st_range {
    uint64_t b, e;
    const char *name;     /* JSON key, valid while the header is alive */
} st_range;

static int cmp_range(const void *a, const void *b)
{
    const st_range *x = a, *y = b;
    if (x->b != y->b)
        return x->b < y->b ? -1 : 1;
    if (x->e != y->e)
        return x->e < y->e ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    const kvlm_st_tensor *x = *(const kvlm_st_tensor *const *)a;
    const kvlm_st_tensor *y = *(const kvlm_st_tensor *const *)b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->file_index < y->file_index ? -1 : x->file_index > y->file_index;
}

static const char *pr(char *buf, size_t n, const char *s)
{
    return kvlm_printable(buf, n, s, strlen(s));
}

void kvlm_st_close(kvlm_st_set *s)
{
    if (!s)
        return;
    for (int64_t i = 0; i < s->n; i++)
        free(s->tensors[i].name);
    free(s->tensors);
    free(s->sorted);
    for (int i = 0; i < s->n_files; i++) {
        kvlm_unmap_file(&s->files[i].mf);
        free(s->files[i].path);
    }
    free(s->files);
    free(s->path);
    free(s);
}

static kvlm_status set_new(const char *path, int n_files, kvlm_st_set **out)
{
    kvlm_st_set *s = calloc(1, sizeof *s);
    if (!s)
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    s->path = strdup(path);
    s->files = calloc((size_t)(n_files > 0 ? n_files : 1), sizeof *s->files);
    if (!s->path || !s->files) {
        kvlm_st_close(s);
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    }
    s->n_files = n_files;
    *out = s;
    return KVLM_OK;
}

static kvlm_status not_safetensors(const char *nm, const uint8_t *b, uint64_t size,
                                   const char *why)
{
    const char *what = kvlm_sniff_format(b, (size_t)size);
    if (what && strcmp(what, "a safetensors file") != 0)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: not a safetensors file: it looks like %s", nm, what);
    return kvlm_fail(KVLM_ERR_FORMAT, "%s: not a valid safetensors file: %s", nm, why);
}

static kvlm_status check_metadata(const char *nm, json_t *meta)
{
    if (!json_is_object(meta))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: header field '__metadata__' must be an object "
                         "mapping strings to strings", nm);
    const char *k;
    json_t *v;
    char kb[96];
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: header field '__metadata__': value of '%s' is "
                             "not a string", nm, pr(kb, sizeof kb, k));
    }
    return KVLM_OK;
}

static kvlm_status add_tensor(kvlm_st_set *s, const char *nm, const kvlm_st_tensor *t)
{
    if (s->n == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 16;
        kvlm_st_tensor *p = realloc(s->tensors, (size_t)cap * sizeof *p);
        if (!p)
            return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", nm);
        s->tensors = p;
        s->cap = cap;
    }
    s->tensors[s->n++] = *t;
    return KVLM_OK;
}

/* Validates one tensor entry; on success fills *t (name not yet copied)
 * and the range. *dt receives the dtype entry. */
static kvlm_status parse_entry(const char *nm, const char *key, json_t *val,
                               uint64_t data_size, uint64_t data_base, kvlm_st_tensor *t,
                               st_range *rg, const st_dtype **dt)
{
    char kb[96];
    pr(kb, sizeof kb, key);
    if (!json_is_object(val))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': header entry is not an object", nm, kb);
    json_t *jd = json_object_get(val, "dtype"), *js = json_object_get(val, "shape"),
           *jo = json_object_get(val, "data_offsets");
    if (!json_is_string(jd))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': missing or non-string 'dtype'", nm, kb);
    const char *ds = json_string_value(jd);
    *dt = NULL;
    for (size_t i = 0; i < sizeof g_dtypes / sizeof g_dtypes[0]; i++)
        if (strcmp(ds, g_dtypes[i].name) == 0)
            *dt = &g_dtypes[i];
    char db[48];
    if (!*dt)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", nm, kb,
                         pr(db, sizeof db, ds));
    if (!json_is_array(js))
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': missing or non-array 'shape'", nm, kb);
    size_t nd = json_array_size(js);
    if (nd > ST_MAX_DIMS)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: tensor '%s': shape has %zu dims (at most %d "
                         "supported)", nm, kb, nd, ST_MAX_DIMS);
    memset(t, 0, sizeof *t);
    t->n_dims = (int)nd;
    uint64_t nel = 1;
    for (size_t d = 0; d < nd; d++) {
        json_t *e = json_array_get(js, d);
        if (!json_is_integer(e) || json_integer_value(e) < 0)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative "
                             "integer", nm, kb, d);
        t->shape[d] = (int64_t)json_integer_value(e);
        if (__builtin_mul_overflow(nel, (uint64_t)t->shape[d], &nel) || nel > (uint64_t)INT64_MAX)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': element count of the shape "
                             "overflows (at shape[%zu])", nm, kb, d);
    }
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': 'data_offsets' must be an array "
                         "[begin, end]", nm, kb);
    json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
    if (!json_is_integer(jb) || !json_is_integer(je) || json_integer_value(jb) < 0 ||
        json_integer_value(je) < 0)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': data_offsets must be non-negative "
                         "integers", nm, kb);
    uint64_t b = (uint64_t)json_integer_value(jb), e = (uint64_t)json_integer_value(je);
    if (b > e)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] has begin "
                         "> end", nm, kb, (unsigned long long)b, (unsigned long long)e);
    if (e > data_size)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu) (file "
                         "bytes [%llu, %llu)) extend past end of data (%llu bytes)", nm, kb,
                         (unsigned long long)b, (unsigned long long)e,
                         (unsigned long long)(data_base + b), (unsigned long long)(data_base + e),
                         (unsigned long long)data_size);
    uint64_t bits;
    if (__builtin_mul_overflow(nel, (uint64_t)(*dt)->bits, &bits) || bits % 8 != 0 ||
        bits / 8 != e - b)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': dtype %s x %llu elements does not "
                         "match data_offsets [%llu, %llu) (%llu bytes)", nm, kb, (*dt)->name,
                         (unsigned long long)nel, (unsigned long long)b, (unsigned long long)e,
                         (unsigned long long)(e - b));
    t->type = (*dt)->type;
    t->nbytes = e - b;
    rg->b = b;
    rg->e = e;
    rg->name = key;
    return KVLM_OK;
}

/* Parses file fi of s (its base/size/path already set) and appends its
 * tensors. */
static kvlm_status parse_one(kvlm_st_set *s, int fi)
{
    const st_file *f = &s->files[fi];
    const char *nm = f->path;
    const uint8_t *base = f->base;
    uint64_t size = f->size;
    if (size < 8)
        return not_safetensors(nm, base, size, "file is shorter than the 8-byte header length");
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | base[i];
    if (n > ST_MAX_HEADER || n > size - 8) {
        char why[160];
        snprintf(why, sizeof why, "header length %llu (bytes 0..8) %s (file is %llu bytes)",
                 (unsigned long long)n,
                 n > ST_MAX_HEADER ? "exceeds the 100 MB limit" : "extends past end of file",
                 (unsigned long long)size);
        return not_safetensors(nm, base, size, why);
    }
    if (n == 0 || base[8] != '{') {
        const char *what = kvlm_sniff_format(base, (size_t)size);
        if (what)
            return not_safetensors(nm, base, size, "");
    }
    json_error_t err;
    json_t *root = json_loadb((const char *)base + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: header (bytes [8, %llu)) is not valid JSON: %s "
                         "(at file offset %llu)", nm, (unsigned long long)(8 + n), err.text,
                         (unsigned long long)(8 + (uint64_t)(err.position > 0 ? err.position : 0)));
    kvlm_status st = KVLM_OK;
    st_range *rg = NULL;
    size_t nr = 0;
    const char *unsup_name = NULL, *unsup_dtype = NULL;
    if (!json_is_object(root)) {
        st = kvlm_fail(KVLM_ERR_FORMAT, "%s: header is JSON but not an object", nm);
        goto out;
    }
    size_t ne = json_object_size(root);
    rg = malloc((ne ? ne : 1) * sizeof *rg);   /* bounded by the JSON header */
    if (!rg) {
        st = kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", nm);
        goto out;
    }
    uint64_t data_base = 8 + n, data_size = size - data_base;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((st = check_metadata(nm, val)))
                goto out;
            continue;
        }
        kvlm_st_tensor t;
        const st_dtype *dt = NULL;
        if ((st = parse_entry(nm, key, val, data_size, data_base, &t, &rg[nr], &dt)))
            goto out;
        nr++;
        if (!dt->supported) {
            if (!unsup_name) {
                unsup_name = key;
                unsup_dtype = dt->name;
            }
            continue;
        }
        t.data = base + data_base + rg[nr - 1].b;
        t.file_index = fi;
        if (!(t.name = strdup(key))) {
            st = kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", nm);
            goto out;
        }
        if ((st = add_tensor(s, nm, &t))) {
            free(t.name);
            goto out;
        }
    }
    /* The ranges must tile [0, data_size). */
    qsort(rg, nr, sizeof *rg, cmp_range);
    uint64_t cur = 0;
    char a[96], b[96];
    for (size_t i = 0; i < nr; i++) {
        if (rg[i].b < cur) {
            st = kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu) overlap "
                           "tensor '%s' (which ends at %llu)", nm, pr(a, sizeof a, rg[i].name),
                           (unsigned long long)rg[i].b, (unsigned long long)rg[i].e,
                           pr(b, sizeof b, rg[i - 1].name), (unsigned long long)cur);
            goto out;
        }
        if (rg[i].b > cur) {
            st = kvlm_fail(KVLM_ERR_FORMAT, "%s: hole in data section: bytes [%llu, %llu) (file "
                           "offsets [%llu, %llu)) before tensor '%s' belong to no tensor", nm,
                           (unsigned long long)cur, (unsigned long long)rg[i].b,
                           (unsigned long long)(data_base + cur),
                           (unsigned long long)(data_base + rg[i].b), pr(a, sizeof a, rg[i].name));
            goto out;
        }
        cur = rg[i].e;
    }
    if (cur != data_size) {
        st = kvlm_fail(KVLM_ERR_FORMAT, "%s: hole in data section: trailing bytes [%llu, %llu) "
                       "(file offsets [%llu, %llu)) belong to no tensor", nm,
                       (unsigned long long)cur, (unsigned long long)data_size,
                       (unsigned long long)(data_base + cur), (unsigned long long)size);
        goto out;
    }
    if (unsup_name)
        st = kvlm_fail(KVLM_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, which kvlm does not "
                       "support (supported: F32, F16, BF16)", nm, pr(a, sizeof a, unsup_name),
                       unsup_dtype);
out:
    free(rg);
    json_decref(root);
    return st;
}

/* Sorts tensors by name and rejects a name present in two files. */
static kvlm_status finish(kvlm_st_set *s)
{
    for (int i = 0; i < s->n_files; i++)
        s->file_bytes += s->files[i].size;
    if (s->n == 0)
        return KVLM_OK;
    s->sorted = malloc((size_t)s->n * sizeof *s->sorted);
    if (!s->sorted)
        return kvlm_fail(KVLM_ERR_NOMEM, "%s: out of memory", s->path);
    for (int64_t i = 0; i < s->n; i++)
        s->sorted[i] = &s->tensors[i];
    qsort(s->sorted, (size_t)s->n, sizeof *s->sorted, cmp_tensor_name);
    char a[96];
    for (int64_t i = 1; i < s->n; i++)
        if (strcmp(s->sorted[i - 1]->name, s->sorted[i]->name) == 0)
            return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s' is in two shards: %s and %s",
                             s->path, pr(a, sizeof a, s->sorted[i]->name),
                             s->files[s->sorted[i - 1]->file_index].path,
                             s->files[s->sorted[i]->file_index].path);
    return KVLM_OK;
}

kvlm_status kvlm_st_parse(const void *buf, size_t size, const char *name, kvlm_st_set **out)
{
    if (!out || (!buf && size))
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_st_parse: NULL argument");
    *out = NULL;
    static const uint8_t empty[1];
    kvlm_st_set *s;
    kvlm_status st = set_new(name ? name : "<buffer>", 1, &s);
    if (st)
        return st;
    if (!(s->files[0].path = strdup(s->path))) {
        kvlm_st_close(s);
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    }
    s->files[0].base = buf ? buf : empty;
    s->files[0].size = size;
    if ((st = parse_one(s, 0)) || (st = finish(s))) {
        kvlm_st_close(s);
        return st;
    }
    *out = s;
    return KVLM_OK;
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

static kvlm_status open_file_into(kvlm_st_set *s, int fi, const char *path)
{
    st_file *f = &s->files[fi];
    if (!(f->path = strdup(path)))
        return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    kvlm_status st = kvlm_map_file(path, &f->mf);
    if (st)
        return st;
    f->base = f->mf.base;
    f->size = f->mf.size;
    return parse_one(s, fi);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Shard names must be plain file names inside the folder. */
static bool shard_name_ok(const char *n)
{
    return n[0] && !strchr(n, '/') && !strchr(n, '\\') && !strstr(n, "..") &&
           strcmp(n, ".") != 0;
}

static kvlm_status open_sharded(const char *dir, const char *idx_path, kvlm_st_set **out)
{
    kvlm_mapped_file mf;
    kvlm_status st = kvlm_map_file(idx_path, &mf);
    if (st)
        return st;
    if (mf.size > ST_MAX_HEADER) {
        kvlm_unmap_file(&mf);
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: index is larger than 100 MB", idx_path);
    }
    json_error_t err;
    json_t *root = json_loadb((const char *)mf.base, mf.size, JSON_REJECT_DUPLICATES, &err);
    kvlm_unmap_file(&mf);
    if (!root)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: not valid JSON: %s (line %d, column %d)", idx_path,
                         err.text, err.line, err.column);
    kvlm_st_set *s = NULL;
    const char **shards = NULL;
    char a[96], b[96];
    json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(wm)) {
        st = kvlm_fail(KVLM_ERR_FORMAT, "%s: missing or non-object 'weight_map'", idx_path);
        goto fail;
    }
    size_t nw = json_object_size(wm), ns = 0;
    if (nw == 0) {
        st = kvlm_fail(KVLM_ERR_FORMAT, "%s: 'weight_map' is empty", idx_path);
        goto fail;
    }
    shards = malloc(nw * sizeof *shards);
    if (!shards) {
        st = kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    const char *key;
    json_t *val;
    json_object_foreach(wm, key, val) {
        if (!json_is_string(val)) {
            st = kvlm_fail(KVLM_ERR_FORMAT, "%s: weight_map['%s'] is not a string", idx_path,
                           pr(a, sizeof a, key));
            goto fail;
        }
        const char *sh = json_string_value(val);
        if (!shard_name_ok(sh) || strlen(sh) != json_string_length(val)) {
            st = kvlm_fail(KVLM_ERR_FORMAT, "%s: weight_map['%s']: shard file name '%s' is not a "
                           "plain file name in the folder (no '/', no '..')", idx_path,
                           pr(a, sizeof a, key), pr(b, sizeof b, sh));
            goto fail;
        }
        shards[ns++] = sh;
    }
    qsort(shards, ns, sizeof *shards, cmp_cstr);
    size_t nu = 0;
    for (size_t i = 0; i < ns; i++)
        if (nu == 0 || strcmp(shards[nu - 1], shards[i]) != 0)
            shards[nu++] = shards[i];
    if (nu > 100000) {
        st = kvlm_fail(KVLM_ERR_FORMAT, "%s: %zu shards is too many", idx_path, nu);
        goto fail;
    }
    if ((st = set_new(dir, (int)nu, &s)))
        goto fail;
    for (size_t i = 0; i < nu; i++) {
        char *p = join(dir, shards[i]);
        if (!p) {
            st = kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
            goto fail;
        }
        struct stat sb;
        if (stat(p, &sb) != 0) {
            st = kvlm_fail(KVLM_ERR_IO, "%s: shard '%s' listed in weight_map does not exist (%s)",
                           idx_path, pr(a, sizeof a, shards[i]), p);
            free(p);
            goto fail;
        }
        st = open_file_into(s, (int)i, p);
        free(p);
        if (st)
            goto fail;
    }
    if ((st = finish(s)))
        goto fail;
    /* Index and shards must agree exactly. */
    json_object_foreach(wm, key, val) {
        const kvlm_st_tensor *t = kvlm_st_find(s, key);
        const char *sh = json_string_value(val);
        if (!t) {
            st = kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s' is mapped to shard '%s' but that "
                           "shard does not contain it", idx_path, pr(a, sizeof a, key),
                           pr(b, sizeof b, sh));
            goto fail;
        }
        const char *in = strrchr(s->files[t->file_index].path, '/') + 1;
        if (strcmp(in, sh) != 0) {
            st = kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s' is mapped to shard '%s' but that "
                           "shard does not contain it (it is in '%s')", idx_path,
                           pr(a, sizeof a, key), pr(b, sizeof b, sh), in);
            goto fail;
        }
    }
    if ((size_t)s->n != nw)
        for (int64_t i = 0; i < s->n; i++)
            if (!json_object_get(wm, s->tensors[i].name)) {
                st = kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s' in shard %s is not listed in "
                               "weight_map", idx_path, pr(a, sizeof a, s->tensors[i].name),
                               s->files[s->tensors[i].file_index].path);
                goto fail;
            }
    free(shards);
    json_decref(root);
    *out = s;
    return KVLM_OK;
fail:
    free(shards);
    json_decref(root);
    kvlm_st_close(s);
    return st;
}

kvlm_status kvlm_st_open(const char *path, kvlm_st_set **out)
{
    if (!path || !out)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_st_open: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return kvlm_fail(KVLM_ERR_IO, "%s: does not exist or is not accessible", path);
    kvlm_status st;
    kvlm_st_set *s = NULL;
    if (S_ISDIR(sb.st_mode)) {
        char *idx = join(path, "model.safetensors.index.json");
        char *one = join(path, "model.safetensors");
        if (!idx || !one) {
            free(idx);
            free(one);
            return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
        }
        if (stat(idx, &sb) == 0) {
            st = open_sharded(path, idx, out);
        } else if (stat(one, &sb) == 0) {
            st = set_new(path, 1, &s);
            if (!st && !(st = open_file_into(s, 0, one)))
                st = finish(s);
            if (st)
                kvlm_st_close(s);
            else
                *out = s;
        } else {
            char *bin = join(path, "pytorch_model.bin");
            char *bidx = join(path, "pytorch_model.bin.index.json");
            bool has_bin = (bin && stat(bin, &sb) == 0) || (bidx && stat(bidx, &sb) == 0);
            free(bin);
            free(bidx);
            st = kvlm_fail(KVLM_ERR_IO, "%s: folder holds neither model.safetensors nor "
                           "model.safetensors.index.json%s", path,
                           has_bin ? " (it has PyTorch pytorch_model.bin weights, which kvlm "
                                     "does not read: convert them to safetensors)" : "");
        }
        free(idx);
        free(one);
        return st;
    }
    if ((st = set_new(path, 1, &s)))
        return st;
    if ((st = open_file_into(s, 0, path)) || (st = finish(s))) {
        kvlm_st_close(s);
        return st;
    }
    *out = s;
    return KVLM_OK;
}

int64_t kvlm_st_n_tensors(const kvlm_st_set *s) { return s->n; }

const kvlm_st_tensor *kvlm_st_tensor_at(const kvlm_st_set *s, int64_t i)
{
    return i >= 0 && i < s->n ? &s->tensors[i] : NULL;
}

const kvlm_st_tensor *kvlm_st_find(const kvlm_st_set *s, const char *name)
{
    if (!name || !s->sorted)
        return NULL;
    int64_t lo = 0, hi = s->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->sorted[mid]->name, name);
        if (c == 0)
            return s->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

uint64_t kvlm_st_file_bytes(const kvlm_st_set *s) { return s->file_bytes; }

int kvlm_st_n_files(const kvlm_st_set *s) { return s->n_files; }

const char *kvlm_st_file_path(const kvlm_st_set *s, int i)
{
    return i >= 0 && i < s->n_files ? s->files[i].path : NULL;
}
