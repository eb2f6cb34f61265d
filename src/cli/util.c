/*
 * util.c - small helpers for the CLI commands (see cli.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

kvlm_model *cli_load_model(const char *cmd, const char *path)
{
    kvlm_model_params mp = kvlm_model_default_params();
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
