/*
 * cli_run.h - running the kvlm binary from a C test: run_kvlm() executes
 * "$KVLM_BIN ARGS" with stdout and stderr captured into files of a
 * per-process temporary folder, and slurp_file() reads a file back.
 * Header-only, for tests that check the command line end to end.
 */
#ifndef KVLM_CLI_RUN_H
#define KVLM_CLI_RUN_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Exit status of `$bin args` with stdin from in_file (NULL: /dev/null),
 * stdout to out_file (NULL: discarded) and stderr to err_file (NULL:
 * discarded); -1 if it did not exit normally. */
static inline int run_kvlm_io(const char *bin, const char *args, const char *in_file, const char *out_file,
                              const char *err_file)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' %s <'%s' >'%s' 2>'%s'", bin, args, in_file ? in_file : "/dev/null",
             out_file ? out_file : "/dev/null", err_file ? err_file : "/dev/null");
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc)) return -1;
    return WEXITSTATUS(rc);
}

static inline int run_kvlm(const char *bin, const char *args, const char *out_file, const char *err_file)
{
    return run_kvlm_io(bin, args, NULL, out_file, err_file);
}

/* A whole file, NUL-terminated, malloc'ed; NULL if unreadable. */
static inline char *slurp_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = sz >= 0 ? malloc((size_t)sz + 1) : NULL;
    if (d && fread(d, 1, (size_t)sz, f) != (size_t)sz) {
        free(d);
        d = NULL;
    }
    if (d) d[sz] = 0;
    fclose(f);
    if (n) *n = d ? (size_t)sz : 0;
    return d;
}

#endif /* KVLM_CLI_RUN_H */
