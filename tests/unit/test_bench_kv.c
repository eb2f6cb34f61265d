/*
 * test_bench_kv.c - `kvlm bench kv --json` on a small fixture model.
 *
 * Checks: the JSON parses and has one run per requested length (8 and 16),
 * in order; every run produced the same tokens with and without the KV
 * cache (the bit-exactness rule through the whole generation loop); times
 * and speedups are positive and the speedup is the ratio of the two times;
 * the tokens-computed columns follow the formulas of kvlm_generate's loop
 * (P + n - 1 and n P + n(n - 1) / 2), recomputed here from P and n; the CSV
 * file holds the same rows; lengths beyond the context are capped; bad
 * options exit 2.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_run.h"
#include "test.h"

static const char *bin;
static char tmpdir[256];

/* Runs the binary; stderr goes to <tmpdir>/stderr. */
static int run(const char *args, const char *out_file) { return run_kvlm_in(bin, tmpdir, args, out_file); }

int main(void)
{
    bin = getenv("KVLM_BIN");
    if (!bin) {
        printf("test_bench_kv: KVLM_BIN not set, skipped\n");
        return 0;
    }
    char args[8192], model[4096], out[512], csv[512];
    REQUIRE(cli_tmpdir(tmpdir, sizeof tmpdir, "benchkv"), "mkdir");
    snprintf(out, sizeof out, "%s/out.json", tmpdir);
    snprintf(csv, sizeof csv, "%s/sub/kv.csv", tmpdir);
    fixture_path(model, sizeof model, "models/llama-gqa-f32.gguf");

    const int P = 5, want_n[] = {8, 16};
    snprintf(args, sizeof args, "bench kv -m '%s' --lengths 8,16 --prompt-tokens %d --json --no-plot --threads 2 --csv '%s'",
             model, P, csv);
    CHECK(run(args, out) == 0, "bench kv failed");
    json_error_t err;
    json_t *j = json_load_file(out, 0, &err);
    REQUIRE(j, "bench kv --json is not JSON: %s", err.text);
    CHECK(json_is_string(json_object_get(j, "model")), "model field");
    json_t *runs = json_object_get(j, "runs");
    CHECK(json_array_size(runs) == 2, "%zu runs, want 2", json_array_size(runs));
    for (size_t i = 0; i < json_array_size(runs) && i < 2; i++) {
        json_t *r = json_array_get(runs, i);
        long long n = json_integer_value(json_object_get(r, "n"));
        double mc = json_number_value(json_object_get(r, "ms_cache")), mn = json_number_value(json_object_get(r, "ms_nocache"));
        double sp = json_number_value(json_object_get(r, "speedup"));
        CHECK(n == want_n[i], "run %zu: n %lld, want %d", i, n, want_n[i]);
        CHECK(json_is_true(json_object_get(r, "tokens_identical")), "n %lld: tokens differ with and without the cache", n);
        CHECK(mc > 0 && mn > 0 && sp > 0, "n %lld: times %g %g, speedup %g", n, mc, mn, sp);
        CHECK(fabs(sp - mn / mc) <= 1e-3 * sp + 1e-3, "n %lld: speedup %g is not %g / %g", n, sp, mn, mc);
        CHECK(json_integer_value(json_object_get(r, "computed_tokens_cache")) == P + n - 1, "n %lld: computed with cache", n);
        CHECK(json_integer_value(json_object_get(r, "computed_tokens_nocache")) == n * P + n * (n - 1) / 2,
              "n %lld: computed without cache", n);
    }
    CHECK(json_is_null(json_object_get(j, "png")), "--no-plot writes no PNG");
    /* the CSV holds the same rows */
    FILE *f = fopen(csv, "r");
    CHECK(f != NULL, "CSV %s not written", csv);
    if (f) {
        char line[1024];
        int rows = 0;
        CHECK(fgets(line, sizeof line, f) && !strncmp(line, "n,prompt_tokens,ms_cache,ms_nocache", 35), "CSV header");
        while (fgets(line, sizeof line, f)) {
            int n, p;
            double mc;
            CHECK(sscanf(line, "%d,%d,%lf", &n, &p, &mc) == 3 && rows < 2 && n == want_n[rows] && p == P,
                  "CSV row %d: %s", rows, line);
            CHECK(strstr(line, ",true\n") != NULL, "CSV row %d not identical: %s", rows, line);
            if (rows < 2) {
                json_t *r = json_array_get(runs, (size_t)rows);
                CHECK(fabs(mc - json_number_value(json_object_get(r, "ms_cache"))) < 0.01, "CSV ms_cache matches JSON");
            }
            rows++;
        }
        CHECK(rows == 2, "CSV has %d rows", rows);
        fclose(f);
    }
    json_decref(j);

    /* a length beyond the context (the fixture's 128 tokens) is capped */
    snprintf(args, sizeof args, "bench kv -m '%s' --lengths 4,1000 --prompt-tokens 120 --json --no-plot --csv '%s'", model, csv);
    CHECK(run(args, out) == 0, "bench kv with a capped length failed");
    j = json_load_file(out, 0, &err);
    runs = j ? json_object_get(j, "runs") : NULL;
    CHECK(json_array_size(runs) == 2 && json_integer_value(json_object_get(json_array_get(runs, 1), "n")) == 8,
          "length 1000 capped to 128 - 120 = 8");
    json_decref(j);

    snprintf(args, sizeof args, "bench kv -m '%s' --lengths 8,x", model);
    CHECK(run(args, NULL) == 2, "bad --lengths -> 2");
    snprintf(args, sizeof args, "bench kv -m '%s' --lengths 0", model);
    CHECK(run(args, NULL) == 2, "--lengths 0 -> 2");
    snprintf(args, sizeof args, "bench kv -m '%s' --prompt-tokens 128", model);
    CHECK(run(args, NULL) == 2, "prompt filling the context -> 2");
    cli_rmdir(tmpdir);
    TEST_MAIN_END("test_bench_kv");
}
