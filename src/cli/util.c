/*
 * util.c - small helpers for the CLI commands (see cli.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

bool cli_parse_int(const char *s, long long lo, long long hi, long long *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_kv_type(const char *s, kvlm_dtype *out)
{
    static const struct { const char *n; kvlm_dtype t; } t[] = {
        {"f32", KVLM_DTYPE_F32}, {"f16", KVLM_DTYPE_F16}, {"bf16", KVLM_DTYPE_BF16}, {"q8_0", KVLM_DTYPE_Q8_0}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(s, t[i].n) == 0) {
            *out = t[i].t;
            return true;
        }
    return false;
}

/* Bytes of model data behind path: the file's size, or for a folder the
 * sum of its *.safetensors files (0 if unknown). */
uint64_t cli_model_file_bytes(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return (uint64_t)st.st_size;
    DIR *d = opendir(path);
    if (!d) return 0;
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 12 || strcmp(e->d_name + n - 12, ".safetensors") != 0) continue;
        char f[4096];
        snprintf(f, sizeof f, "%s/%s", path, e->d_name);
        if (stat(f, &st) == 0 && S_ISREG(st.st_mode)) total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

/* One-line bar on stderr, redrawn when the percentage changes; cleared at
 * the end. */
static bool load_bar(uint64_t done, uint64_t total, void *user)
{
    int *last = user;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (pct == *last) return true;
    *last = pct;
    if (done >= total) {
        fprintf(stderr, "\r\033[K");
        return true;
    }
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\rloading model [%s] %3d%%  %.2f / %.2f GB", bar, pct, (double)done / 1e9,
            (double)total / 1e9);
    return true;
}

bool cli_bf16_matmul;

kvlm_model *cli_load_model(const char *cmd, const char *path)
{
    kvlm_model_params mp = kvlm_model_default_params();
    mp.bf16_matmul = cli_bf16_matmul;
    int last_pct = -1;
    if (isatty(STDERR_FILENO) && cli_model_file_bytes(path) > CLI_LOAD_BAR_MIN_BYTES) {
        mp.progress = load_bar;
        mp.progress_user = &last_pct;
    }
    kvlm_model *m = NULL;
    kvlm_status s = kvlm_model_load(path, &mp, &m);
    if (s != KVLM_OK) {
        fprintf(stderr, "kvlm %s: cannot load model: %s\n", cmd, kvlm_last_error());
        return NULL;
    }
    return m;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

bool cli_parse_token_list(const char *s, int32_t **ids, size_t *n)
{
    size_t cap = strlen(s) / 2 + 1, k = 0;
    int32_t *a = malloc(cap * sizeof *a);
    if (!a) return false;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX ||
            (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n')) {
            free(a);
            return false;
        }
        a[k++] = (int32_t)v;
        p = end;
    }
    if (k == 0) {
        free(a);
        return false;
    }
    *ids = a;
    *n = k;
    return true;
}

const char *cli_demo_model(void)
{
    const char *env = getenv("KVLM_DEMO_MODEL");
    if (env && *env) return env;
#ifdef KVLM_DEMO_MODEL_PATH
    if (access(KVLM_DEMO_MODEL_PATH, R_OK) == 0) return KVLM_DEMO_MODEL_PATH;
#endif
    return NULL;
}

/* Reads a whole file (at most 1 GiB). */
char *cli_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        if (cap >= (1u << 30)) { free(buf); buf = NULL; break; }
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    if (buf && ferror(f)) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}
