/*
 * cli_run.h - running the kvlm binary from a C test: run_kvlm() executes
 * "$KVLM_BIN ARGS" with stdout and stderr captured into files, cli_tmpdir()
 * and cli_rmdir() make and remove the test's per-process temporary folder,
 * and run_kvlm_in() sends stderr to <folder>/stderr. Header-only, for tests
 * that check the command line end to end (files are read back with
 * test.h's slurp_file).
 */
#ifndef KVLM_CLI_RUN_H
#define KVLM_CLI_RUN_H

#include <stdbool.h>
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

/* `$bin args` with stdout to out_file (NULL: discarded) and stderr to
 * <dir>/stderr, where the test reads it back. */
static inline int run_kvlm_in(const char *bin, const char *dir, const char *args, const char *out_file)
{
    char err[512];
    snprintf(err, sizeof err, "%s/stderr", dir);
    return run_kvlm(bin, args, out_file, err);
}

/* Makes the folder /tmp/kvlm-test-NAME-PID into dir[n]; false if it cannot. */
static inline bool cli_tmpdir(char *dir, size_t n, const char *name)
{
    char cmd[600];
    snprintf(dir, n, "/tmp/kvlm-test-%s-%d", name, (int)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    return system(cmd) == 0;
}

static inline void cli_rmdir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", dir);
}

#endif /* KVLM_CLI_RUN_H */
