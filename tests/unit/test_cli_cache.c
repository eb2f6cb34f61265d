/*
 * test_cli_cache.c - the prefix cache and saved sessions seen from the
 * command line (`kvlm run` with the bundled demo model):
 *   - --session FILE saves the KV; the same command again starts from it:
 *     cached_tokens = prompt - 1 (the last prompt token is always computed)
 *     and the generated tokens are identical to the first run's;
 *   - a corrupted or foreign session file is reported on stderr and the run
 *     starts cold with the same output (cached data may be lost, never
 *     wrong);
 *   - --no-prefix-cache changes nothing in the output; the cache options
 *     validate their values.
 */
#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "cli_run.h"
#include "test.h"

static const char *bin;
static char dir[256], out[320], err[320];

/* Runs `kvlm run ... --json`; returns the parsed object or NULL. */
static json_t *run_json(const char *args, int *rc)
{
    char a[8192];
    snprintf(a, sizeof a, "run %s --json", args);
    *rc = run_kvlm(bin, a, out, err);
    json_error_t je;
    return json_load_file(out, 0, &je);
}

static bool same_tokens(json_t *a, json_t *b)
{
    return a && b && json_equal(json_object_get(a, "tokens"), json_object_get(b, "tokens"));
}

int main(void)
{
    bin = getenv("KVLM_BIN");
    if (!bin) {
        printf("test_cli_cache: KVLM_BIN not set, skipped\n");
        return 0;
    }
    snprintf(dir, sizeof dir, "/tmp/kvlm-test-cli-cache-%d", (int)getpid());
    char cmd[1024], args[4096], sess[400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    REQUIRE(system(cmd) == 0, "mkdir");
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    snprintf(sess, sizeof sess, "%s/chat.kv", dir);
    const char *prompt = "And God said, Let there be light: and there was light. And God saw the light, that it was good";

    int rc;
    snprintf(args, sizeof args, "-p '%s' -n 12 --threads 1 --session '%s'", prompt, sess);
    json_t *first = run_json(args, &rc);
    REQUIRE(rc == 0 && first, "first run (rc %d)", rc);
    int np = (int)json_integer_value(json_object_get(first, "prompt_tokens"));
    CHECK(np > 16, "prompt of %d tokens", np);
    CHECK(json_integer_value(json_object_get(first, "cached_tokens")) == 0, "cold run caches nothing");
    CHECK(access(sess, F_OK) == 0, "session file written");

    json_t *second = run_json(args, &rc);
    CHECK(rc == 0 && second, "second run (rc %d)", rc);
    CHECK(json_integer_value(json_object_get(second, "cached_tokens")) == np - 1,
          "second run: %lld cached tokens, expected %d",
          (long long)json_integer_value(json_object_get(second, "cached_tokens")), np - 1);
    CHECK(json_integer_value(json_object_get(second, "prompt_computed_tokens")) == 1, "one token computed");
    CHECK(same_tokens(first, second), "same tokens from the saved session");

    /* Corrupt one byte in the middle: refused, cold run, same output. */
    size_t n = 0;
    char *d = slurp_file(sess, &n);
    REQUIRE(d && n > 200, "session file readable (%zu bytes)", n);
    d[n / 2] ^= 0x10;
    FILE *f = fopen(sess, "wb");
    REQUIRE(f && fwrite(d, 1, n, f) == n && fclose(f) == 0, "rewrite");
    free(d);
    json_t *third = run_json(args, &rc);
    CHECK(rc == 0 && third, "run with a corrupted session (rc %d)", rc);
    CHECK(json_integer_value(json_object_get(third, "cached_tokens")) == 0, "corrupted session not used");
    CHECK(same_tokens(first, third), "same tokens after a corrupted session");
    char *e = slurp_file(err, NULL);
    CHECK(e && strstr(e, "checksum mismatch"), "stderr names the corruption: %s", e ? e : "(none)");
    free(e);

    /* Without the prefix cache the saved session still serves (it is the
     * session's own KV), and the output does not change. */
    snprintf(args, sizeof args, "-p '%s' -n 12 --threads 1 --session '%s' --no-prefix-cache", prompt, sess);
    json_t *fourth = run_json(args, &rc);
    CHECK(rc == 0 && same_tokens(first, fourth), "--no-prefix-cache gives the same tokens");
    CHECK(json_integer_value(json_object_get(fourth, "cached_tokens")) == np - 1, "session reused without the cache");

    snprintf(args, sizeof args, "-p x --kv-memory 0");
    json_t *bad = run_json(args, &rc);
    CHECK(rc == 2, "--kv-memory 0 is a usage error (rc %d)", rc);
    snprintf(args, sizeof args, "-p x --kv-block-size 5000");
    json_t *bad2 = run_json(args, &rc);
    CHECK(rc == 2, "--kv-block-size 5000 is a usage error (rc %d)", rc);

    json_decref(first), json_decref(second), json_decref(third), json_decref(fourth), json_decref(bad),
        json_decref(bad2);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    TEST_MAIN_END("test_cli_cache");
}
