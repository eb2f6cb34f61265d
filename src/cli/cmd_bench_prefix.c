/*
 * cmd_bench_prefix.c - `kvlm bench prefix`: what the prefix cache buys,
 * measured through the public API only.
 *
 *   1. TTFT (the prompt eval with KVLM_LOGITS_LAST) of a P-token prompt on
 *      a cold cache, of the same prompt plus a new suffix in a new session
 *      (a hit of every full block of P), and of a different prompt that
 *      shares only its first `shared` tokens; the cached-token count of
 *      each, and the same prompts' TTFT in a context without the cache.
 *   2. logits_identical: the last logits of every cached run are
 *      memcmp-equal to a cold computation of the same tokens in a second
 *      context created with prefix_cache = false (the multi-turn rounds are
 *      compared by a 64-bit FNV-1a hash of the logits bytes).
 *   3. A multi-turn workload: U users x R rounds over one S-token system
 *      prompt; each round appends a Q-token question, evaluates the whole
 *      conversation in a NEW session (a stateless server: only the prefix
 *      cache provides reuse), generates A greedy answer tokens and appends
 *      them. Run with the cache and without it.
 *   4. KV bytes per token for each KV dtype, and the lookup cost per token
 *      (a full-hit eval with KVLM_LOGITS_NONE computes nothing).
 *
 * Invariants:
 *   - token ids are pseudo-random in [0, n_vocab) from fixed seeds, so two
 *     runs with the same options evaluate the same tokens;
 *   - every size fits the model's trained context: if the requested sizes
 *     do not, all token counts are scaled by one factor (each at least 1,
 *     `shared` at most `prompt`) and the output says so; if even that does
 *     not fit the command fails with a message, it never runs something
 *     else silently;
 *   - the cache context's KV budget holds every user's conversation, so the
 *     multi-turn run never evicts (the evictions counter is reported);
 *   - stdout carries only the tables or the one JSON object; progress goes
 *     to stderr when it is a terminal, the plot script's output to stderr.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"

#ifndef KVLM_SOURCE_DIR
#define KVLM_SOURCE_DIR "."
#endif

#define BP_USAGE                                                                                   \
    "usage: kvlm bench prefix [-m MODEL] [--threads T] [--kv-type T] [--prompt-tokens 2000]\n"     \
    "         [--suffix-tokens 50] [--shared-tokens 1000] [--users 8] [--rounds 5]\n"              \
    "         [--system-tokens 1000] [--question-tokens 100] [--answer-tokens 32] [--reps 1]\n"    \
    "         [--csv FILE] [--png FILE] [--json]\n"

typedef struct bp_sizes {
    long long prompt, suffix, shared, system, question, answer;
} bp_sizes;

static bool tty;

static void progress(const char *fmt, ...)
{
    if (!tty) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\r\033[Kbench prefix: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* xorshift32-style generator; seeds are never 0. */
static uint32_t rng_next(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static void fill_random(int32_t *t, long long n, uint32_t seed, int n_vocab)
{
    uint32_t s = seed ? seed : 1u;
    for (long long i = 0; i < n; i++) t[i] = (int32_t)(rng_next(&s) % (uint32_t)n_vocab);
}

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int32_t argmax(const float *l, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[best]) best = i;
    return best;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double mean(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return n ? s / n : 0;
}

/* Nearest-rank 90th percentile (sorts a copy). */
static double p90(const double *v, int n)
{
    double *c = malloc((size_t)n * sizeof *c);
    if (!c || n == 0) {
        free(c);
        return 0;
    }
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_d);
    int k = (int)ceil(0.9 * n) - 1;
    double r = c[k < 0 ? 0 : k];
    free(c);
    return r;
}

static long long needed_ctx(const bp_sizes *z, long long rounds)
{
    long long a = z->prompt + z->suffix, b = z->system + rounds * (z->question + z->answer);
    return a > b ? a : b;
}

/* One prompt eval in a new session: TTFT in ms, cached tokens, logits. */
static kvlm_status timed_eval(kvlm_context *ctx, const int32_t *t, int n, float *logits, double *ms, int *cached)
{
    kvlm_session *s = NULL;
    kvlm_status st = kvlm_session_create(ctx, &s);
    if (st) return st;
    double t0 = cli_now();
    st = kvlm_session_eval(s, t, n, KVLM_LOGITS_LAST, logits);
    double t1 = cli_now();
    *ms = (t1 - t0) * 1e3;
    *cached = kvlm_session_cached_tokens(s);
    kvlm_session_free(s);
    return st;
}

/* Runs argv (argv[0] looked up in PATH) with its stdout sent to stderr;
 * the exit status, or -1 if it could not run. */
static int spawn_wait(char *const argv[])
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(2, 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

/* Multi-turn results of one mode: arrays [rounds * users], index r * U + u. */
typedef struct bp_mt {
    double *ttft_ms;
    int *prompt, *cached;
    uint64_t *hash;
    long long computed;   /* prefill tokens computed, all rounds */
    long long prompt_sum; /* prompt tokens evaluated, all rounds */
    long long hit_sum;
} bp_mt;

static void mt_free(bp_mt *m)
{
    free(m->ttft_ms);
    free(m->prompt);
    free(m->cached);
    free(m->hash);
}

static int run_multi_turn(kvlm_context *ctx, const char *label, const bp_sizes *z, int U, int R, int n_vocab,
                          int n_ctx, float *logits, bp_mt *m)
{
    memset(m, 0, sizeof *m);
    size_t cells = (size_t)U * (size_t)R;
    m->ttft_ms = calloc(cells, sizeof *m->ttft_ms);
    m->prompt = calloc(cells, sizeof *m->prompt);
    m->cached = calloc(cells, sizeof *m->cached);
    m->hash = calloc(cells, sizeof *m->hash);
    int32_t *conv = malloc((size_t)U * (size_t)n_ctx * sizeof *conv);
    int *len = calloc((size_t)U, sizeof *len);
    int rc = 0;
    if (!m->ttft_ms || !m->prompt || !m->cached || !m->hash || !conv || !len) {
        fprintf(stderr, "kvlm bench prefix: out of memory\n");
        rc = 1;
    }
    for (int u = 0; u < U && !rc; u++) {
        fill_random(conv + (size_t)u * (size_t)n_ctx, z->system, 0x5157u, n_vocab); /* same system prompt */
        len[u] = (int)z->system;
    }
    for (int r = 0; r < R && !rc; r++) {
        for (int u = 0; u < U && !rc; u++) {
            progress("%s: round %d, user %d", label, r + 1, u + 1);
            int32_t *c = conv + (size_t)u * (size_t)n_ctx;
            fill_random(c + len[u], z->question, 0x9e3779b9u ^ (uint32_t)(r * 7919 + u * 104729 + 1), n_vocab);
            len[u] += (int)z->question;
            size_t k = (size_t)r * (size_t)U + (size_t)u;
            kvlm_session *s = NULL;
            kvlm_status st = kvlm_session_create(ctx, &s);
            double t0 = cli_now();
            if (!st) st = kvlm_session_eval(s, c, len[u], KVLM_LOGITS_LAST, logits);
            double t1 = cli_now();
            if (!st) {
                m->ttft_ms[k] = (t1 - t0) * 1e3;
                m->prompt[k] = len[u];
                m->cached[k] = kvlm_session_cached_tokens(s);
                m->hash[k] = fnv1a(logits, (size_t)n_vocab * sizeof *logits);
                m->computed += len[u] - m->cached[k];
                m->prompt_sum += len[u];
                m->hit_sum += m->cached[k];
            }
            for (long long a = 0; a < z->answer && !st; a++) {
                int32_t tok = argmax(logits, n_vocab);
                c[len[u]++] = tok;
                if (a + 1 < z->answer) st = kvlm_session_eval(s, &tok, 1, KVLM_LOGITS_LAST, logits);
            }
            kvlm_session_free(s);
            if (st) {
                fprintf(stderr, "\nkvlm bench prefix: multi-turn (%s) round %d user %d: %s\n", label, r + 1, u + 1,
                        kvlm_last_error());
                rc = 1;
            }
        }
    }
    free(conv);
    free(len);
    return rc;
}

static void round_stats(const bp_mt *m, int r, int U, double *mean_ms, double *p90_ms, long long *computed,
                        long long *prompt, long long *hit)
{
    const double *row = m->ttft_ms + (size_t)r * (size_t)U;
    *mean_ms = mean(row, U);
    *p90_ms = p90(row, U);
    *computed = *prompt = *hit = 0;
    for (int u = 0; u < U; u++) {
        size_t k = (size_t)r * (size_t)U + (size_t)u;
        *prompt += m->prompt[k];
        *hit += m->cached[k];
        *computed += m->prompt[k] - m->cached[k];
    }
}

static bool write_csv(const char *path, const bp_mt *mc, const bp_mt *mn, int U, int R)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "kvlm bench prefix: cannot write %s: %s\n", path, strerror(errno));
        return false;
    }
    fprintf(f, "mode,round,user,prompt_tokens,cached_tokens,computed_tokens,ttft_ms\n");
    for (int mode = 0; mode < 2; mode++) {
        const bp_mt *m = mode ? mn : mc;
        for (int r = 0; r < R; r++)
            for (int u = 0; u < U; u++) {
                size_t k = (size_t)r * (size_t)U + (size_t)u;
                fprintf(f, "%s,%d,%d,%d,%d,%d,%.3f\n", mode ? "nocache" : "cache", r + 1, u + 1, m->prompt[k],
                        m->cached[k], m->prompt[k] - m->cached[k], m->ttft_ms[k]);
            }
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "kvlm bench prefix: cannot write %s\n", path);
        return false;
    }
    return true;
}

static void json_round_array(const bp_mt *m, int U, int R, int what)
{
    putchar('[');
    for (int r = 0; r < R; r++) {
        double mn, p9;
        long long comp, pr, hit;
        round_stats(m, r, U, &mn, &p9, &comp, &pr, &hit);
        if (what == 0) printf("%s%.3f", r ? ", " : "", mn);
        else if (what == 1) printf("%s%.3f", r ? ", " : "", p9);
        else if (what == 2) printf("%s%lld", r ? ", " : "", comp);
        else printf("%s%.4f", r ? ", " : "", pr ? (double)hit / (double)pr : 0.0);
    }
    putchar(']');
}

int bench_prefix(int argc, char **argv)
{
    const char *path = NULL, *csv = NULL, *png = NULL;
    bp_sizes z = {2000, 50, 1000, 1000, 100, 32};
    long long users = 8, rounds = 5, reps = 1, x;
    bool json = false;
    kvlm_context_params cp = kvlm_context_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long *dst = NULL, lo = 1, hi = 1 << 24;
        if (!strcmp(a, "--prompt-tokens")) dst = &z.prompt;
        else if (!strcmp(a, "--suffix-tokens")) dst = &z.suffix;
        else if (!strcmp(a, "--shared-tokens")) { dst = &z.shared; lo = 0; }
        else if (!strcmp(a, "--system-tokens")) dst = &z.system;
        else if (!strcmp(a, "--question-tokens")) dst = &z.question;
        else if (!strcmp(a, "--answer-tokens")) { dst = &z.answer; lo = 0; }
        else if (!strcmp(a, "--users")) { dst = &users; hi = 4096; }
        else if (!strcmp(a, "--rounds")) { dst = &rounds; hi = 4096; }
        else if (!strcmp(a, "--reps")) { dst = &reps; hi = 1000; }
        if (dst) {
            if (!v || !cli_parse_int(v, lo, hi, dst)) {
                fprintf(stderr, "kvlm bench prefix: %s needs an integer in [%lld, %lld], got '%s'\n" BP_USAGE, a, lo,
                        hi, v ? v : "(nothing)");
                return 2;
            }
            i++;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) path = argv[++i];
        else if (!strcmp(a, "--csv") && v) csv = argv[++i];
        else if (!strcmp(a, "--png") && v) png = argv[++i];
        else if (!strcmp(a, "--json")) json = true;
        else if ((!strcmp(a, "--threads") || !strcmp(a, "-t")) && v && cli_parse_int(v, 1, 1024, &x)) {
            cp.n_threads = (int)x;
            i++;
        } else if (!strcmp(a, "--kv-type") && v && cli_parse_kv_type(v, &cp.kv_type)) i++;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(BP_USAGE, stdout);
            return 0;
        } else {
            fprintf(stderr, "kvlm bench prefix: invalid option or value '%s'\n" BP_USAGE, a);
            return 2;
        }
    }
    if (z.shared > z.prompt) {
        fprintf(stderr, "kvlm bench prefix: --shared-tokens %lld exceeds --prompt-tokens %lld\n", z.shared, z.prompt);
        return 2;
    }
    if (!path) path = cli_demo_model();
    if (!path) {
        fprintf(stderr, "kvlm bench prefix: no -m MODEL given and the demo model was not found "
                        "(set KVLM_DEMO_MODEL)\n");
        return 2;
    }
    tty = isatty(2) != 0;
    int U = (int)users, R = (int)rounds;

    kvlm_model *model = cli_load_model("bench prefix", path);
    if (!model) return 1;
    kvlm_model_info in;
    kvlm_model_get_info(model, &in);

    /* Fit the sizes into the model's context. */
    bp_sizes req = z;
    double scale = 1.0;
    long long need = needed_ctx(&z, rounds);
    if (need > in.n_ctx_train) {
        scale = (double)in.n_ctx_train / (double)need;
        long long *f[] = {&z.prompt, &z.suffix, &z.shared, &z.system, &z.question, &z.answer};
        long long mins[] = {1, 1, 0, 1, 1, 0};
        for (int i = 0; i < 6; i++) {
            long long s = (long long)floor((double)*f[i] * scale);
            *f[i] = s < mins[i] ? mins[i] : s;
        }
        if (z.shared > z.prompt) z.shared = z.prompt;
        need = needed_ctx(&z, rounds);
        if (need > in.n_ctx_train) {
            fprintf(stderr,
                    "kvlm bench prefix: the sizes need %lld tokens of context even scaled by %.4f; the model has "
                    "%d (use fewer --rounds or smaller token counts)\n",
                    need, scale, in.n_ctx_train);
            kvlm_model_free(model);
            return 2;
        }
    }
    const int V = in.n_vocab;
    const int n_ctx = (int)need;
    const int P = (int)z.prompt, SFX = (int)z.suffix, SH = (int)z.shared;

    /* Contexts: one with the prefix cache (budget for every conversation
     * plus the single-prompt runs), one without. */
    cp.n_ctx = n_ctx;
    int bs = cp.kv_block_size > 0 ? cp.kv_block_size : 16;
    uint64_t bpt = kvlm_model_kv_bytes_per_token(model, cp.kv_type);
    uint64_t blocks_per_seq = (uint64_t)(n_ctx + bs - 1) / (uint64_t)bs + 1;
    kvlm_context_params cc = cp, cn = cp;
    cc.prefix_cache = true;
    cc.kv_memory_bytes = bpt * (uint64_t)bs * blocks_per_seq * (uint64_t)(U + 4);
    cn.prefix_cache = false;
    cn.kv_memory_bytes = bpt * (uint64_t)bs * blocks_per_seq * 2;
    kvlm_context *ctx = NULL, *ref = NULL;
    kvlm_status st = kvlm_context_create(model, &cc, &ctx);
    if (!st) st = kvlm_context_create(model, &cn, &ref);
    if (st) {
        fprintf(stderr, "kvlm bench prefix: %s\n", kvlm_last_error());
        kvlm_context_free(ctx);
        kvlm_model_free(model);
        return 1;
    }
    cc = kvlm_context_get_params(ctx);
    bs = cc.kv_block_size;

    int rc = 0;
    int32_t *prompt = malloc((size_t)(P + SFX) * sizeof *prompt);
    int32_t *other = malloc((size_t)P * sizeof *other);
    float *logits = malloc((size_t)V * sizeof *logits);
    float *lref = malloc((size_t)V * sizeof *lref);
    float *lhit = malloc((size_t)V * sizeof *lhit);
    float *lsh = malloc((size_t)V * sizeof *lsh);
    double *cold_ms = calloc((size_t)reps, sizeof(double)), *hit_ms = calloc((size_t)reps, sizeof(double));
    double *sh_ms = calloc((size_t)reps, sizeof(double));
    bp_mt mc, mn;
    memset(&mc, 0, sizeof mc);
    memset(&mn, 0, sizeof mn);
    if (!prompt || !other || !logits || !lref || !lhit || !lsh || !cold_ms || !hit_ms || !sh_ms) {
        fprintf(stderr, "kvlm bench prefix: out of memory\n");
        rc = 1;
        goto out;
    }
    fill_random(prompt, P + SFX, 0xC0FFEEu, V);
    memcpy(other, prompt, (size_t)SH * sizeof *other);
    fill_random(other + SH, P - SH, 0xBADCAFEu, V);

    /* Warm-up (untimed): pages the weights in; then a cold cache. */
    {
        int nw = n_ctx < 2 * bs ? n_ctx : 2 * bs;
        int32_t *w = malloc((size_t)nw * sizeof *w);
        double ms;
        int cached;
        if (!w) { rc = 1; goto out; }
        fill_random(w, nw, 0x12345u, V);
        progress("warm-up");
        st = timed_eval(ctx, w, nw, logits, &ms, &cached);
        if (!st) st = timed_eval(ref, w, nw, logits, &ms, &cached);
        free(w);
        if (st) {
            fprintf(stderr, "\nkvlm bench prefix: warm-up: %s\n", kvlm_last_error());
            rc = 1;
            goto out;
        }
    }

    /* 1 + 2: TTFT cold / hit / shared prefix, and cold references. */
    int cached_cold = 0, cached_hit = 0, cached_sh = 0, c2;
    double ref_hit_ms = 0, ref_sh_ms = 0;
    bool id_hit = true, id_sh = true;
    for (long long r = 0; r < reps && !st; r++) {
        kvlm_context_cache_clear(ctx);
        progress("%s, repetition %d/%d", "single prompts", (int)r + 1, (int)reps);
        st = timed_eval(ctx, prompt, P, logits, &cold_ms[r], &cached_cold);
        if (!st) st = timed_eval(ctx, prompt, P + SFX, logits, &hit_ms[r], &cached_hit);
        if (!st && r == 0) memcpy(lhit, logits, (size_t)V * sizeof *logits);
        if (!st) st = timed_eval(ctx, other, P, logits, &sh_ms[r], &cached_sh);
        if (!st && r == 0) memcpy(lsh, logits, (size_t)V * sizeof *logits);
    }
    if (!st) {
        progress("cold references without the cache");
        st = timed_eval(ref, prompt, P + SFX, lref, &ref_hit_ms, &c2);
        if (!st) id_hit = memcmp(lref, lhit, (size_t)V * sizeof *lref) == 0;
        if (!st) st = timed_eval(ref, other, P, lref, &ref_sh_ms, &c2);
        if (!st) id_sh = memcmp(lref, lsh, (size_t)V * sizeof *lref) == 0;
    }
    if (st) {
        fprintf(stderr, "\nkvlm bench prefix: %s\n", kvlm_last_error());
        rc = 1;
        goto out;
    }
    double t_cold = median(cold_ms, (int)reps), t_hit = median(hit_ms, (int)reps), t_sh = median(sh_ms, (int)reps);

    /* 4b: lookup cost - a full hit of P's full blocks with no logits. */
    int full = P / bs * bs;
    double lookup_ns = -1;
    if (full > 0) {
        enum { LREPS = 21 };
        double v[LREPS];
        for (int r = 0; r < LREPS && !st; r++) {
            kvlm_session *s = NULL;
            if ((st = kvlm_session_create(ctx, &s))) break;
            double t0 = cli_now();
            st = kvlm_session_eval(s, prompt, full, KVLM_LOGITS_NONE, NULL);
            double t1 = cli_now();
            if (!st && kvlm_session_cached_tokens(s) != full) {
                fprintf(stderr, "kvlm bench prefix: lookup run served %d of %d tokens from the cache\n",
                        kvlm_session_cached_tokens(s), full);
                st = KVLM_ERR_INTERNAL;
            }
            kvlm_session_free(s);
            v[r] = (t1 - t0) * 1e9 / full;
        }
        if (st) {
            fprintf(stderr, "kvlm bench prefix: lookup: %s\n", kvlm_last_error());
            rc = 1;
            goto out;
        }
        lookup_ns = median(v, LREPS);
    }

    /* 3: multi-turn, with and without the cache. */
    kvlm_context_cache_clear(ctx);
    kvlm_cache_stats s0, s1;
    kvlm_context_cache_stats(ctx, &s0);
    if ((rc = run_multi_turn(ctx, "multi-turn with cache", &z, U, R, V, n_ctx, logits, &mc))) goto out;
    kvlm_context_cache_stats(ctx, &s1);
    if ((rc = run_multi_turn(ref, "multi-turn without cache", &z, U, R, V, n_ctx, logits, &mn))) goto out;
    if (tty) fprintf(stderr, "\r\033[K");
    bool id_mt = true;
    for (size_t k = 0; k < (size_t)U * (size_t)R; k++)
        if (mc.hash[k] != mn.hash[k] || mc.prompt[k] != mn.prompt[k]) id_mt = false;
    bool identical = id_hit && id_sh && id_mt;
    double mt_mean_c = mean(mc.ttft_ms, U * R), mt_mean_n = mean(mn.ttft_ms, U * R);
    double mt_p90_c = p90(mc.ttft_ms, U * R), mt_p90_n = p90(mn.ttft_ms, U * R);
    double hit_rate = mc.prompt_sum ? (double)mc.hit_sum / (double)mc.prompt_sum : 0;
    uint64_t evictions = s1.evictions - s0.evictions;

    /* CSV and plot. */
    char tmpcsv[64] = "";
    const char *csv_path = csv;
    if (!csv && png) {
        snprintf(tmpcsv, sizeof tmpcsv, "/tmp/kvlm-bench-prefix-%d.csv", (int)getpid());
        csv_path = tmpcsv;
    }
    bool plotted = false;
    if (csv_path && !write_csv(csv_path, &mc, &mn, U, R)) {
        rc = 1;
        goto out;
    }
    if (png) {
        char script[4096];
        const char *src = getenv("KVLM_SOURCE_DIR");
        snprintf(script, sizeof script, "%s/bench/plot_bench_prefix.py", src && *src ? src : KVLM_SOURCE_DIR);
        if (access(script, R_OK) != 0) {
            fprintf(stderr, "kvlm bench prefix: %s not found; no plot\n", script);
        } else {
            const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
            char title[512];
            snprintf(title, sizeof title, "%s, KV %s, %d thread(s), %d users, S=%lld Q=%lld A=%lld", base,
                     kvlm_dtype_name(cc.kv_type), cc.n_threads, U, z.system, z.question, z.answer);
            char *cmd[] = {"python3", script, (char *)csv_path, (char *)png, "--title", title, NULL};
            int prc = spawn_wait(cmd); /* 127: no python3; 3: no matplotlib (the script's convention) */
            plotted = prc == 0;
            if (prc == 127 || prc == 3)
                fprintf(stderr, "kvlm bench prefix: python3 with matplotlib is not available; no plot (to plot: "
                                "pip install matplotlib && python3 %s CSV %s)\n", script, png);
            else if (!plotted)
                fprintf(stderr, "kvlm bench prefix: the plot script failed (exit %d)\n", prc);
        }
        if (tmpcsv[0]) remove(tmpcsv);
    }

    static const kvlm_dtype kvt[] = {KVLM_DTYPE_F32, KVLM_DTYPE_F16, KVLM_DTYPE_BF16, KVLM_DTYPE_Q8_0};
    if (json) {
        printf("{\"model\": ");
        cli_json_string(path);
        printf(", \"architecture\": \"%s\", \"threads\": %d, \"kv_type\": \"%s\", \"block_size\": %d, "
               "\"n_ctx\": %d, \"n_ctx_train\": %d, \"reps\": %lld,\n",
               in.arch_name, cc.n_threads, kvlm_dtype_name(cc.kv_type), bs, n_ctx, in.n_ctx_train, reps);
        printf(" \"scale\": %.6f, \"requested\": {\"prompt_tokens\": %lld, \"suffix_tokens\": %lld, "
               "\"shared_tokens\": %lld, \"system_tokens\": %lld, \"question_tokens\": %lld, \"answer_tokens\": %lld},\n",
               scale, req.prompt, req.suffix, req.shared, req.system, req.question, req.answer);
        printf(" \"sizes\": {\"prompt_tokens\": %d, \"suffix_tokens\": %d, \"shared_tokens\": %d, "
               "\"system_tokens\": %lld, \"question_tokens\": %lld, \"answer_tokens\": %lld, \"users\": %d, "
               "\"rounds\": %d},\n",
               P, SFX, SH, z.system, z.question, z.answer, U, R);
        printf(" \"ttft_cold_ms\": %.3f, \"ttft_hit_ms\": %.3f, \"ttft_shared_prefix_ms\": %.3f, "
               "\"ttft_hit_nocache_ms\": %.3f, \"ttft_shared_prefix_nocache_ms\": %.3f, \"hit_speedup\": %.3f,\n",
               t_cold, t_hit, t_sh, ref_hit_ms, ref_sh_ms, t_hit > 0 ? t_cold / t_hit : 0);
        printf(" \"cached_tokens_cold\": %d, \"cached_tokens_hit\": %d, \"cached_tokens_shared_prefix\": %d,\n",
               cached_cold, cached_hit, cached_sh);
        printf(" \"logits_identical\": %s, \"logits_identical_hit\": %s, \"logits_identical_shared_prefix\": %s, "
               "\"logits_identical_multi_turn\": %s,\n",
               identical ? "true" : "false", id_hit ? "true" : "false", id_sh ? "true" : "false",
               id_mt ? "true" : "false");
        printf(" \"lookup_ns_per_token\": ");
        if (lookup_ns >= 0) printf("%.3f", lookup_ns);
        else printf("null");
        printf(", \"lookup_tokens\": %d,\n \"kv_bytes_per_token\": {", full);
        for (int i = 0; i < 4; i++)
            printf("%s\"%s\": %llu", i ? ", " : "", kvlm_dtype_name(kvt[i]),
                   (unsigned long long)kvlm_model_kv_bytes_per_token(model, kvt[i]));
        printf("},\n \"multi_turn\": {\"ttft_mean_ms_cache\": %.3f, \"ttft_mean_ms_nocache\": %.3f, "
               "\"ttft_p90_ms_cache\": %.3f, \"ttft_p90_ms_nocache\": %.3f, \"hit_rate\": %.6f, "
               "\"prompt_tokens\": %lld, \"hit_tokens\": %lld, \"tokens_computed_cache\": %lld, "
               "\"tokens_computed_nocache\": %lld, \"evictions\": %llu,\n",
               mt_mean_c, mt_mean_n, mt_p90_c, mt_p90_n, hit_rate, mc.prompt_sum, mc.hit_sum, mc.computed,
               mn.computed, (unsigned long long)evictions);
        printf("  \"per_round\": {\"ttft_mean_ms_cache\": ");
        json_round_array(&mc, U, R, 0);
        printf(", \"ttft_mean_ms_nocache\": ");
        json_round_array(&mn, U, R, 0);
        printf(",\n   \"ttft_p90_ms_cache\": ");
        json_round_array(&mc, U, R, 1);
        printf(", \"ttft_p90_ms_nocache\": ");
        json_round_array(&mn, U, R, 1);
        printf(",\n   \"tokens_computed_cache\": ");
        json_round_array(&mc, U, R, 2);
        printf(", \"tokens_computed_nocache\": ");
        json_round_array(&mn, U, R, 2);
        printf(", \"hit_rate\": ");
        json_round_array(&mc, U, R, 3);
        printf("}},\n \"csv\": ");
        if (csv) cli_json_string(csv);
        else printf("null");
        printf(", \"png\": ");
        if (plotted) cli_json_string(png);
        else printf("null");
        printf("}\n");
    } else {
        printf("kvlm bench prefix: %s (%s), KV %s, block %d tokens, %d thread(s), n_ctx %d\n", path, in.arch_name,
               kvlm_dtype_name(cc.kv_type), bs, cc.n_threads, n_ctx);
        if (scale < 1.0)
            printf("sizes scaled by %.4f to fit the model's %d-token context (requested: prompt %lld, suffix %lld, "
                   "shared %lld, system %lld, question %lld, answer %lld)\n",
                   scale, in.n_ctx_train, req.prompt, req.suffix, req.shared, req.system, req.question, req.answer);
        printf("sizes used: prompt %d, suffix %d, shared %d, system %lld, question %lld, answer %lld, "
               "%d users x %d rounds%s\n\n",
               P, SFX, SH, z.system, z.question, z.answer, U, R, reps > 1 ? " (TTFT: median of --reps)" : "");
        printf("%-34s %8s %12s %14s %10s\n", "time to first token", "tokens", "cached", "TTFT ms", "no cache");
        printf("%-34s %8d %12d %14.2f %10s\n", "cold prompt", P, cached_cold, t_cold, "");
        printf("%-34s %8d %12d %14.2f %10.2f\n", "same prompt + new suffix", P + SFX, cached_hit, t_hit, ref_hit_ms);
        printf("%-34s %8d %12d %14.2f %10.2f\n", "other prompt, shared prefix", P, cached_sh, t_sh, ref_sh_ms);
        printf("hit speedup (cold / hit): %.1fx; logits identical to a cold computation: %s\n\n",
               t_hit > 0 ? t_cold / t_hit : 0, identical ? "yes" : "NO");
        printf("multi-turn: %d users x %d rounds, new session per round\n", U, R);
        printf("%5s %12s %12s %12s %12s %10s %10s %8s\n", "round", "mean cache", "p90 cache", "mean none", "p90 none",
               "computed", "none", "hit rate");
        for (int r = 0; r < R; r++) {
            double m1, p1, m2, p2;
            long long c1, pr1, h1, cn2, pr2, h2;
            round_stats(&mc, r, U, &m1, &p1, &c1, &pr1, &h1);
            round_stats(&mn, r, U, &m2, &p2, &cn2, &pr2, &h2);
            printf("%5d %12.2f %12.2f %12.2f %12.2f %10lld %10lld %7.1f%%\n", r + 1, m1, p1, m2, p2, c1, cn2,
                   pr1 ? 100.0 * (double)h1 / (double)pr1 : 0.0);
        }
        printf("%5s %12.2f %12.2f %12.2f %12.2f %10lld %10lld %7.1f%%   (TTFT in ms)\n", "all", mt_mean_c, mt_p90_c,
               mt_mean_n, mt_p90_n, mc.computed, mn.computed, 100.0 * hit_rate);
        printf("multi-turn logits identical with and without the cache: %s; evictions: %llu\n\n",
               id_mt ? "yes" : "NO", (unsigned long long)evictions);
        printf("KV bytes per token:");
        for (int i = 0; i < 4; i++)
            printf(" %s %llu%s", kvlm_dtype_name(kvt[i]),
                   (unsigned long long)kvlm_model_kv_bytes_per_token(model, kvt[i]), i < 3 ? "," : "\n");
        if (lookup_ns >= 0)
            printf("lookup cost: %.1f ns per token (full hit of %d tokens, no logits, median of 21)\n", lookup_ns,
                   full);
        else
            printf("lookup cost: n/a (the prompt has no full block)\n");
        if (csv) printf("csv: %s\n", csv);
        if (plotted) printf("png: %s\n", png);
    }
    if (!identical) {
        fprintf(stderr, "kvlm bench prefix: cached logits differ from a cold computation (a bug)\n");
        rc = 1;
    }

out:
    if (tty) fprintf(stderr, "\r\033[K");
    mt_free(&mc);
    mt_free(&mn);
    free(prompt);
    free(other);
    free(logits);
    free(lref);
    free(lhit);
    free(lsh);
    free(cold_ms);
    free(hit_ms);
    free(sh_ms);
    kvlm_context_free(ref);
    kvlm_context_free(ctx);
    kvlm_model_free(model);
    return rc;
}
