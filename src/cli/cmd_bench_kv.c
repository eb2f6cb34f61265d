/*
 * cmd_bench_kv.c - `kvlm bench kv`: what the KV cache saves in generation.
 *
 *   kvlm bench kv [-m MODEL] [--lengths 64,128,256,512,1024] [--prompt-tokens P]
 *                 [--csv FILE] [--png FILE] [--no-plot] [--json] [--threads T]
 *                 [--tokenizer PATH] [--reps R]
 *
 * For each length n (capped so that P + n fits the context), greedy
 * generation of n tokens after the same P-token prompt, once with the KV
 * cache and once with kvlm_generate_params.no_kv_cache (the naive loop:
 * every step truncates the session to 0 and evaluates the whole sequence).
 * Both runs use a fresh session in a context without the prefix cache, so
 * nothing is reused between runs. End-of-generation tokens are banned
 * (logit bias -inf) so every run produces exactly n tokens.
 *
 * Tokens run through the model (the projection printed next to the times),
 * from kvlm_generate's loop (the last sampled token is never evaluated):
 *   with the cache:    P + (n - 1)
 *   without the cache: sum_{k=0}^{n-1} (P + k) = n P + n (n - 1) / 2
 * By the bit-exactness rule both give the same tokens; the table says
 * whether they did. Results go to stdout (a table, or one JSON object with
 * --json), a CSV file (default bench/out/bench-kv.csv) and a PNG plot made
 * by bench/plot_bench_kv.py when python3 with matplotlib is available
 * (default: the CSV path with .png). An untimed warm-up pages the weights in;
 * with --reps R each time is the median of R runs (tokens must be
 * identical in every one).
 */
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"

extern char **environ;

#define KV_USAGE                                                                                  \
    "usage: kvlm bench kv [-m MODEL] [--lengths 64,128,256,512,1024] [--prompt-tokens P]\n"     \
    "                     [--csv FILE] [--png FILE] [--no-plot] [--json] [--threads T]\n"      \
    "                     [--tokenizer PATH] [--reps R]\n"

#ifndef KVLM_SOURCE_DIR
#define KVLM_SOURCE_DIR "."
#endif

typedef struct kv_run {
    int n;
    double ms_cache, ms_nocache;
    long long computed_cache, computed_nocache;
    bool identical;
} kv_run;

/* Creates the parent folders of path (like mkdir -p on its dirname). */
static void make_parents(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return;
        *p = '/';
    }
}

/* Runs argv (no shell), its stdout sent to stderr; returns the exit code or -1. */
static int spawn_wait(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

static bool parse_lengths(const char *s, int **out, int *n)
{
    int32_t *ids = NULL;
    size_t k = 0;
    if (!cli_parse_token_list(s, &ids, &k)) return false;
    int *a = malloc(k * sizeof *a);
    if (!a) {
        free(ids);
        return false;
    }
    for (size_t i = 0; i < k; i++) {
        if (ids[i] < 1) {
            free(ids);
            free(a);
            return false;
        }
        a[i] = ids[i];
    }
    free(ids);
    *out = a;
    *n = (int)k;
    return true;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of a[0, n) (sorts a). */
static double median(double *a, int n)
{
    qsort(a, (size_t)n, sizeof *a, cmp_d);
    return n % 2 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
}

static kvlm_status timed_generate(kvlm_context *ctx, const kvlm_tokenizer *tok, const int32_t *prompt, int np,
                                  const kvlm_generate_params *gp, kvlm_generate_result *r, double *ms)
{
    kvlm_session *s = NULL;
    kvlm_status st = kvlm_session_create(ctx, &s);
    if (st) {
        memset(r, 0, sizeof *r);
        return st;
    }
    double t0 = cli_now();
    st = kvlm_generate(s, tok, prompt, np, gp, r);
    *ms = (cli_now() - t0) * 1e3;
    kvlm_session_free(s);
    return st;
}

int bench_kv(int argc, char **argv)
{
    const char *path = NULL, *csv = "bench/out/bench-kv.csv", *png = NULL, *tokp = NULL;
    long long P = 8, threads = 0, reps = 1;
    bool json = false, plot = true;
    int *lengths = NULL, n_lengths = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--no-plot")) plot = false;
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) path = argv[++i];
        else if (!strcmp(a, "--csv") && v) csv = argv[++i];
        else if (!strcmp(a, "--png") && v) png = argv[++i];
        else if (!strcmp(a, "--tokenizer") && v) tokp = argv[++i];
        else if (!strcmp(a, "--prompt-tokens") && v && cli_parse_int(v, 1, 1 << 20, &P)) i++;
        else if (!strcmp(a, "--reps") && v && cli_parse_int(v, 1, 100, &reps)) i++;
        else if ((!strcmp(a, "--threads") || !strcmp(a, "-t")) && v && cli_parse_int(v, 0, 1024, &threads)) i++;
        else if (!strcmp(a, "--lengths") && v) {
            free(lengths);
            if (!parse_lengths(v, &lengths, &n_lengths)) {
                fprintf(stderr, "kvlm bench kv: invalid --lengths '%s' (positive integers, e.g. 64,128,256)\n", v);
                return 2;
            }
            i++;
        } else {
            fprintf(stderr, "kvlm bench kv: invalid or incomplete option '%s'\n" KV_USAGE, a);
            free(lengths);
            return 2;
        }
    }
    if (!lengths) {
        static const int def[] = {64, 128, 256, 512, 1024};
        n_lengths = 5;
        lengths = malloc(sizeof def);
        if (!lengths) return 1;
        memcpy(lengths, def, sizeof def);
    }
    if (!path && !(path = cli_demo_model())) {
        fprintf(stderr, "kvlm bench kv: no model given (-m MODEL) and the bundled demo model was not found\n");
        free(lengths);
        return 2;
    }
    char png_buf[4096];
    if (!png) {
        size_t L = strlen(csv);
        if (L > 4 && !strcmp(csv + L - 4, ".csv")) snprintf(png_buf, sizeof png_buf, "%.*s.png", (int)(L - 4), csv);
        else snprintf(png_buf, sizeof png_buf, "%s.png", csv);
        png = png_buf;
    }

    int rc = 1;
    kvlm_model *m = NULL;
    kvlm_tokenizer *tok = NULL;
    kvlm_context *ctx = NULL;
    int32_t *prompt = NULL;
    kvlm_logit_bias *bias = NULL;
    kv_run *runs = NULL;
    int n_runs = 0;
    if (!(m = cli_load_model("bench", path))) goto out;
    if (kvlm_tokenizer_load(tokp ? tokp : path, &tok) != KVLM_OK) {
        fprintf(stderr, "kvlm bench kv: cannot load the tokenizer of %s: %s (give one with --tokenizer PATH)\n",
                tokp ? tokp : path, kvlm_last_error());
        goto out;
    }
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);
    int trained = in.n_ctx_train < 4096 ? in.n_ctx_train : 4096;
    if (P >= trained) {
        fprintf(stderr, "kvlm bench kv: --prompt-tokens %lld leaves no room in the context of %d tokens\n", P, trained);
        rc = 2;
        goto out;
    }
    /* cap the lengths by the context, drop repeats */
    int max_n = 0;
    runs = calloc((size_t)n_lengths, sizeof *runs);
    if (!runs) goto out;
    for (int i = 0; i < n_lengths; i++) {
        int n = lengths[i];
        if (n > trained - P) {
            fprintf(stderr, "kvlm bench kv: length %d capped to %lld (context %d, prompt %lld)\n", n, trained - P,
                    trained, P);
            n = (int)(trained - P);
        }
        bool dup = false;
        for (int j = 0; j < n_runs; j++) dup |= runs[j].n == n;
        if (dup) continue;
        runs[n_runs++].n = n;
        if (n > max_n) max_n = n;
    }
    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_threads = (int)threads;
    cp.n_ctx = (int)P + max_n;
    cp.prefix_cache = false; /* nothing may be reused between runs */
    if (kvlm_context_create(m, &cp, &ctx) != KVLM_OK) {
        fprintf(stderr, "kvlm bench kv: cannot create a context: %s\n", kvlm_last_error());
        goto out;
    }
    cp = kvlm_context_get_params(ctx);

    /* prompt: P pseudo-random non-special ids of the tokenizer */
    int nv = kvlm_tokenizer_n_vocab(tok) < in.n_vocab ? kvlm_tokenizer_n_vocab(tok) : in.n_vocab;
    prompt = malloc((size_t)P * sizeof *prompt);
    bias = malloc((size_t)nv * sizeof *bias);
    if (!prompt || !bias) goto out;
    uint32_t rng = 2024;
    for (long long i = 0; i < P;) {
        rng = rng * 1664525u + 1013904223u;
        int32_t id = (int32_t)((rng >> 8) % (uint32_t)nv);
        if (!kvlm_tokenizer_is_special(tok, id)) prompt[i++] = id;
    }
    int n_bias = 0;
    for (int32_t id = 0; id < nv; id++)
        if (kvlm_tokenizer_is_eog(tok, id)) bias[n_bias++] = (kvlm_logit_bias){id, -INFINITY};
    kvlm_generate_params gp = kvlm_generate_default_params();
    gp.sampler.temperature = 0.0f;
    gp.sampler.logit_bias = bias;
    gp.sampler.n_logit_bias = n_bias;

    bool tty = isatty(STDERR_FILENO);
    kvlm_generate_result r1, r2;
    double ms;
    gp.max_tokens = max_n < 4 ? max_n : 4; /* warm-up: pages the weights in */
    kvlm_status st = timed_generate(ctx, tok, prompt, (int)P, &gp, &r1, &ms);
    kvlm_generate_result_free(&r1);
    double *tc = calloc((size_t)reps, sizeof *tc), *tn = calloc((size_t)reps, sizeof *tn);
    if (!tc || !tn) st = KVLM_ERR_NOMEM;
    for (int i = 0; i < n_runs && !st; i++) {
        kv_run *k = &runs[i];
        gp.max_tokens = k->n;
        k->identical = true;
        for (long long rep = 0; rep < reps && !st; rep++) {
            gp.no_kv_cache = false;
            if (tty)
                fprintf(stderr, "\rbench kv: n = %d (%d/%d), repetition %lld/%lld, with the cache...     ", k->n, i + 1,
                        n_runs, rep + 1, reps);
            st = timed_generate(ctx, tok, prompt, (int)P, &gp, &r1, &tc[rep]);
            if (!st) {
                gp.no_kv_cache = true;
                if (tty)
                    fprintf(stderr, "\rbench kv: n = %d (%d/%d), repetition %lld/%lld, without the cache...", k->n,
                            i + 1, n_runs, rep + 1, reps);
                st = timed_generate(ctx, tok, prompt, (int)P, &gp, &r2, &tn[rep]);
            } else {
                memset(&r2, 0, sizeof r2);
            }
            if (!st && (r1.completion_tokens != k->n || r2.completion_tokens != k->n)) {
                fprintf(stderr, "\nkvlm bench kv: n = %d: generated %d and %d tokens (finish %s / %s)\n", k->n,
                        r1.completion_tokens, r2.completion_tokens, kvlm_finish_reason_name(r1.finish_reason),
                        kvlm_finish_reason_name(r2.finish_reason));
                st = KVLM_ERR_INTERNAL;
            }
            if (!st) {
                if (memcmp(r1.tokens, r2.tokens, (size_t)k->n * sizeof *r1.tokens) != 0) k->identical = false;
            } else if (st != KVLM_ERR_INTERNAL) {
                fprintf(stderr, "\nkvlm bench kv: n = %d: %s\n", k->n, kvlm_last_error());
            }
            kvlm_generate_result_free(&r1);
            kvlm_generate_result_free(&r2);
        }
        if (st) break;
        k->ms_cache = median(tc, (int)reps);
        k->ms_nocache = median(tn, (int)reps);
        k->computed_cache = P + k->n - 1;
        k->computed_nocache = (long long)k->n * P + (long long)k->n * (k->n - 1) / 2;
    }
    free(tc);
    free(tn);
    if (tty) fprintf(stderr, "\r\033[K");
    if (st) goto out;

    /* CSV */
    make_parents(csv);
    FILE *f = fopen(csv, "w");
    if (!f) {
        fprintf(stderr, "kvlm bench kv: cannot write %s: %s\n", csv, strerror(errno));
        goto out;
    }
    fprintf(f, "n,prompt_tokens,ms_cache,ms_nocache,tokens_per_s_cache,tokens_per_s_nocache,speedup,"
               "computed_tokens_cache,computed_tokens_nocache,tokens_identical\n");
    for (int i = 0; i < n_runs; i++) {
        kv_run *k = &runs[i];
        fprintf(f, "%d,%lld,%.6f,%.6f,%.3f,%.3f,%.4f,%lld,%lld,%s\n", k->n, P, k->ms_cache, k->ms_nocache,
                k->n / k->ms_cache * 1e3, k->n / k->ms_nocache * 1e3, k->ms_nocache / k->ms_cache,
                k->computed_cache, k->computed_nocache, k->identical ? "true" : "false");
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "kvlm bench kv: cannot write %s\n", csv);
        goto out;
    }

    /* plot */
    bool plotted = false;
    char script[4096];
    snprintf(script, sizeof script, "%s/bench/plot_bench_kv.py", KVLM_SOURCE_DIR);
    if (plot) {
        char *check[] = {"python3", "-c", "import matplotlib", NULL};
        if (access(script, R_OK) != 0) {
            fprintf(stderr, "kvlm bench kv: %s not found; plot the CSV yourself\n", script);
        } else if (spawn_wait(check) != 0) {
            fprintf(stderr, "kvlm bench kv: python3 with matplotlib is not available; to plot:\n"
                            "  pip install matplotlib && python3 %s %s %s\n", script, csv, png);
        } else {
            make_parents(png);
            const char *base = strrchr(path, '/') && strrchr(path, '/')[1] ? strrchr(path, '/') + 1 : path;
            char title[512];
            snprintf(title, sizeof title, "%s, %d thread(s)", base, cp.n_threads);
            char *cmd[] = {"python3", script, (char *)csv, (char *)png, "--title", title, NULL};
            plotted = spawn_wait(cmd) == 0;
            if (!plotted) fprintf(stderr, "kvlm bench kv: the plot script failed\n");
        }
    }

    if (json) {
        printf("{\"model\": ");
        cli_json_string(path);
        printf(", \"prompt_tokens\": %lld, \"reps\": %lld, \"threads\": %d, \"kv_type\": \"%s\", \"runs\": [", P,
               reps, cp.n_threads,
               kvlm_dtype_name(cp.kv_type));
        for (int i = 0; i < n_runs; i++) {
            kv_run *k = &runs[i];
            printf("%s{\"n\": %d, \"ms_cache\": %.6f, \"ms_nocache\": %.6f, \"tokens_per_s_cache\": %.3f, "
                   "\"tokens_per_s_nocache\": %.3f, \"speedup\": %.4f, \"computed_tokens_cache\": %lld, "
                   "\"computed_tokens_nocache\": %lld, \"tokens_identical\": %s}",
                   i ? ", " : "", k->n, k->ms_cache, k->ms_nocache, k->n / k->ms_cache * 1e3,
                   k->n / k->ms_nocache * 1e3, k->ms_nocache / k->ms_cache, k->computed_cache, k->computed_nocache,
                   k->identical ? "true" : "false");
        }
        printf("], \"csv\": ");
        cli_json_string(csv);
        printf(", \"png\": ");
        if (plotted) cli_json_string(png);
        else printf("null");
        printf("}\n");
    } else {
        printf("model %s, prompt %lld tokens, greedy, %d threads, KV %s, median of %lld\n", path, P, cp.n_threads,
               kvlm_dtype_name(cp.kv_type), reps);
        printf("%6s %12s %10s %12s %10s %9s %14s %14s %10s\n", "n", "cache ms", "tok/s", "no-cache ms", "tok/s",
               "speedup", "computed(c)", "computed(nc)", "identical");
        for (int i = 0; i < n_runs; i++) {
            kv_run *k = &runs[i];
            printf("%6d %12.1f %10.1f %12.1f %10.1f %8.2fx %14lld %14lld %10s\n", k->n, k->ms_cache,
                   k->n / k->ms_cache * 1e3, k->ms_nocache, k->n / k->ms_nocache * 1e3,
                   k->ms_nocache / k->ms_cache, k->computed_cache, k->computed_nocache,
                   k->identical ? "yes" : "NO");
        }
        printf("tokens computed: with the cache P + n - 1, without n*P + n(n-1)/2\n");
        printf("CSV: %s\n", csv);
        if (plotted) printf("plot: %s\n", png);
    }
    rc = 0;
    for (int i = 0; i < n_runs; i++)
        if (!runs[i].identical) rc = 1; /* a broken bit-exactness rule is a failure */
    if (rc) fprintf(stderr, "kvlm bench kv: the cached and uncached tokens differ\n");
out:
    free(runs);
    free(bias);
    free(prompt);
    free(lengths);
    kvlm_context_free(ctx);
    kvlm_tokenizer_free(tok);
    kvlm_model_free(m);
    return rc;
}
