/*
 * test.h - the tiny assertion layer shared by kvlm's C tests.
 *
 * CHECK(cond, fmt, ...) records a failure with file:line and a message and
 * continues; TEST_MAIN_END prints "test_x: N checks, M failed" and returns
 * non-zero if anything failed. Fixture paths come from $KVLM_FIXTURES (set
 * by CTest); conformance data from $KVLM_CONFORMANCE_DIR (tests skip with a
 * message when it is unset); read_floats() reads a stored logits file.
 */
#ifndef KVLM_TEST_H
#define KVLM_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_checks, test_failed;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        test_checks++;                                                       \
        if (!(cond)) {                                                       \
            test_failed++;                                                   \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, \
                    #cond);                                                  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

/* Stops the test program (for failures that make further checks useless). */
#define REQUIRE(cond, ...)                                                   \
    do {                                                                     \
        int require_ok_ = (cond) ? 1 : 0; /* evaluated once */               \
        CHECK(require_ok_, __VA_ARGS__);                                     \
        if (!require_ok_) {                                                  \
            fprintf(stderr, "aborting this test program (%s)\n", #cond);     \
            return 1;                                                        \
        }                                                                    \
    } while (0)

#define TEST_MAIN_END(name)                                                  \
    do {                                                                     \
        printf("%s: %d checks, %d failed\n", name, test_checks, test_failed); \
        return test_failed ? 1 : 0;                                          \
    } while (0)

/* Path under the fixture folder, in a static buffer per call site. */
static inline const char *fixture_path(char *buf, size_t n, const char *rel)
{
    const char *dir = getenv("KVLM_FIXTURES");
    snprintf(buf, n, "%s/%s", dir ? dir : "tests/fixtures", rel);
    return buf;
}

/* A whole file, NUL-terminated, malloc'ed (so suitably aligned for any
 * type); *n bytes (n may be NULL). NULL if unreadable. */
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

/* A raw little-endian float32 file (the fixtures' stored logits), malloc'ed;
 * *n floats. NULL if unreadable. */
static inline float *read_floats(const char *path, size_t *n)
{
    size_t bytes = 0;
    float *d = (float *)(void *)slurp_file(path, &bytes);
    *n = bytes / sizeof(float);
    return d;
}

#endif /* KVLM_TEST_H */
