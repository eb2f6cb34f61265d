/*
 * test_perplexity.c - kvlm_perplexity() and `kvlm perplexity`.
 *
 * Oracles:
 *   (a) Hugging Face: for fixture models (f32 GGUF) and the manifest's token
 *       sequences, the mean NLL computed here in double from the stored HF
 *       logits (row t-1 predicts token t) must equal kvlm's within 1e-4
 *       relative, per token and on average, when one window covers the
 *       sequence.
 *   (b) The demo model's training script: `kvlm perplexity` on the held-out
 *       text (models/demo/heldout.txt) with its procedure (256-token
 *       non-overlapping windows, <|endoftext|> first) must score the same
 *       number of tokens and bytes as models/demo/train_log.json records and
 *       reproduce its NLL per token within 0.1% (skipped with
 *       KVLM_TEST_QUICK, it takes ~20 s of CPU).
 *   (c) Windowing: for several (window, stride) pairs the test derives from
 *       the rule in kvlm.h which window scores each token, evaluates that
 *       context tokens[b, t) in a fresh session, and requires kvlm's
 *       per-token NLL to equal the NLL of that row exactly (bit-exactness
 *       rule); window counts and evaluated tokens follow the rule's formula.
 *       Errors: n < 2, stride > window, window > n_ctx, bad tokens; the CLI
 *       refuses an empty file, stride 0, stride > ctx, ctx beyond the
 *       model's with exit code 2 and a message, and handles a text shorter
 *       than a window.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "kvlm.h"
#include "cli_run.h"
#include "test.h"

static char tmpdir[256];
static const char *bin;

static double nll_of(const float *row, int V, int32_t target)
{
    double mx = -INFINITY, s = 0;
    for (int v = 0; v < V; v++) mx = row[v] > mx ? row[v] : mx;
    for (int v = 0; v < V; v++) s += exp((double)row[v] - mx);
    return mx + log(s) - (double)row[target];
}

static kvlm_context *make_ctx(kvlm_model *m, int n_ctx, int n_batch)
{
    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_threads = 2;
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    kvlm_context *ctx = NULL;
    if (kvlm_context_create(m, &cp, &ctx) != KVLM_OK) fprintf(stderr, "context: %s\n", kvlm_last_error());
    return ctx;
}

/* (a) */
static void check_hf(const char *dir, json_t *manifest, const char *name)
{
    json_t *ty = json_object_get(json_object_get(json_object_get(json_object_get(manifest, "models"), name), "types"), "f32");
    const char *gg = json_string_value(json_object_get(ty, "gguf"));
    const char *pre = json_string_value(json_object_get(ty, "logits_prefix"));
    CHECK(gg && pre, "manifest has no f32 entry for %s", name);
    if (!gg || !pre) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, gg);
    kvlm_model *m = NULL;
    CHECK(kvlm_model_load(path, NULL, &m) == KVLM_OK, "load %s: %s", path, kvlm_last_error());
    if (!m) return;
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);
    const char *seqs[] = {"A", "B"};
    for (size_t si = 0; si < 2; si++) {
        json_t *sj = json_object_get(json_object_get(manifest, "sequences"), seqs[si]);
        int n = (int)json_array_size(sj);
        int32_t *toks = malloc((size_t)n * sizeof *toks);
        for (int i = 0; i < n; i++) toks[i] = (int32_t)json_integer_value(json_array_get(sj, (size_t)i));
        snprintf(path, sizeof path, "%s/%s.%s.logits", dir, pre, seqs[si]);
        size_t nf = 0;
        float *ref = read_floats(path, &nf);
        CHECK(ref && nf == (size_t)n * (size_t)in.n_vocab, "%s: %zu floats", path, nf);
        if (!ref || nf != (size_t)n * (size_t)in.n_vocab) {
            free(ref);
            free(toks);
            continue;
        }
        double want = 0;
        for (int t = 1; t < n; t++) want += nll_of(ref + (size_t)(t - 1) * (size_t)in.n_vocab, in.n_vocab, toks[t]);
        want /= n - 1;
        /* one window covering the sequence; n_batch 7 splits it into chunks */
        kvlm_context *ctx = make_ctx(m, 64, 7);
        double *tn = malloc((size_t)n * sizeof *tn);
        kvlm_perplexity_params pp = kvlm_perplexity_default_params();
        pp.token_nll = tn;
        kvlm_perplexity_result r;
        kvlm_status st = ctx ? kvlm_perplexity(ctx, toks, n, &pp, &r) : KVLM_ERR_INTERNAL;
        CHECK(st == KVLM_OK, "%s %s: %s", name, seqs[si], kvlm_last_error());
        if (!st) {
            CHECK(r.n_scored == n - 1 && r.n_windows == 1 && r.n_evaluated == n - 1, "%s %s: scored %d, windows %d",
                  name, seqs[si], r.n_scored, r.n_windows);
            double rel = fabs(r.mean_nll - want) / want;
            printf("%s %s: mean NLL kvlm %.7f, HF %.7f (relative %.2g), perplexity %.4f\n", name, seqs[si],
                   r.mean_nll, want, rel, r.perplexity);
            CHECK(rel <= 1e-4, "%s %s: mean NLL %.7f vs HF %.7f", name, seqs[si], r.mean_nll, want);
            CHECK(fabs(r.perplexity - exp(want)) <= 1e-4 * exp(want), "%s %s: perplexity", name, seqs[si]);
            CHECK(isnan(tn[0]), "token 0 is never scored");
            for (int t = 1; t < n; t++) {
                double w = nll_of(ref + (size_t)(t - 1) * (size_t)in.n_vocab, in.n_vocab, toks[t]);
                CHECK(fabs(tn[t] - w) <= 1e-4 * fmax(1.0, w), "%s %s token %d: %.6f vs HF %.6f", name, seqs[si], t,
                      tn[t], w);
            }
        }
        free(tn);
        kvlm_context_free(ctx);
        free(ref);
        free(toks);
    }
    kvlm_model_free(m);
}

/* (c) The rule of kvlm.h restated: windows start at k * S while they end
 * before the last input; the last one ends at n - 1. Returns the start of
 * the window scoring target t. */
static int window_start_for(int n, int W, int S, int t, int *n_windows, long long *evaluated)
{
    int last = n - 1, starts[4096], ends[4096], k = 0;
    for (int b = 0;; b += S) {
        if (b + W < last) {
            starts[k] = b;
            ends[k++] = b + W;
        } else {
            starts[k] = last - W > 0 ? last - W : 0;
            ends[k++] = last;
            break;
        }
    }
    *n_windows = k;
    *evaluated = 0;
    for (int i = 0; i < k; i++) *evaluated += ends[i] - starts[i];
    for (int i = 0; i < k; i++)
        if (ends[i] >= t) return starts[i];
    return -1;
}

static void check_windows(kvlm_model *m, const int32_t *toks, int n)
{
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);
    int V = in.n_vocab;
    float *row = malloc((size_t)V * sizeof *row);
    double *tn = malloc((size_t)n * sizeof *tn);
    kvlm_context *ctx = make_ctx(m, 64, 5);
    const int cases[][2] = {{8, 8}, {8, 3}, {16, 5}, {10, 1}, {7, 6}, {39, 39}, {64, 32}, {1, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && ctx; c++) {
        int W = cases[c][0], S = cases[c][1];
        kvlm_perplexity_params pp = kvlm_perplexity_default_params();
        pp.window = W;
        pp.stride = S;
        pp.token_nll = tn;
        kvlm_perplexity_result r;
        kvlm_status st = kvlm_perplexity(ctx, toks, n, &pp, &r);
        CHECK(st == KVLM_OK, "window %d stride %d: %s", W, S, kvlm_last_error());
        if (st) continue;
        int nw = 0;
        long long ev = 0;
        window_start_for(n, W, S, 1, &nw, &ev);
        CHECK(r.n_windows == nw && r.n_evaluated == ev && r.n_scored == n - 1,
              "window %d stride %d: %d windows (want %d), %lld evaluated (want %lld)", W, S, r.n_windows, nw,
              (long long)r.n_evaluated, ev);
        double sum = 0;
        int mismatches = 0, min_ctx = n;
        for (int t = 1; t < n; t++) {
            int b = window_start_for(n, W, S, t, &nw, &ev);
            if (b > 0 && t - b < min_ctx) min_ctx = t - b;
            kvlm_session *s = NULL;
            kvlm_session_create(ctx, &s);
            st = kvlm_session_eval(s, toks + b, t - b, KVLM_LOGITS_LAST, row);
            kvlm_session_free(s);
            double want = st ? NAN : nll_of(row, V, toks[t]);
            if (!(tn[t] == want)) mismatches++;
            sum += tn[t];
        }
        CHECK(mismatches == 0, "window %d stride %d: %d tokens differ from their context's fresh evaluation", W, S,
              mismatches);
        CHECK(fabs(sum - r.nll_sum) <= 1e-9 * fabs(sum), "window %d stride %d: per-token sum %.9f vs %.9f", W, S,
              sum, r.nll_sum);
        if (r.n_windows > 1 && W < n - 1)
            CHECK(min_ctx >= W - S + 1, "window %d stride %d: a later token had only %d tokens of context", W, S,
                  min_ctx);
    }
    /* errors */
    kvlm_perplexity_params pp = kvlm_perplexity_default_params();
    kvlm_perplexity_result r;
    CHECK(kvlm_perplexity(ctx, toks, 1, &pp, &r) == KVLM_ERR_INVALID_ARG, "one token is refused");
    CHECK(strstr(kvlm_last_error(), "at least 2"), "message: %s", kvlm_last_error());
    pp.window = 8;
    pp.stride = 9;
    CHECK(kvlm_perplexity(ctx, toks, n, &pp, &r) == KVLM_ERR_INVALID_ARG, "stride > window is refused");
    CHECK(strstr(kvlm_last_error(), "stride 9"), "message: %s", kvlm_last_error());
    pp.window = 65;
    pp.stride = 1;
    CHECK(kvlm_perplexity(ctx, toks, n, &pp, &r) == KVLM_ERR_INVALID_ARG, "window > n_ctx is refused");
    pp.window = pp.stride = -1;
    CHECK(kvlm_perplexity(ctx, toks, n, &pp, &r) == KVLM_ERR_INVALID_ARG, "negative window is refused");
    int32_t bad[3] = {1, V, 2};
    pp = kvlm_perplexity_default_params();
    CHECK(kvlm_perplexity(ctx, bad, 3, &pp, &r) == KVLM_ERR_INVALID_ARG, "token out of range is refused");
    free(row);
    free(tn);
    kvlm_context_free(ctx);
}

/* ---- CLI --------------------------------------------------------------- */

/* Runs the binary; stderr goes to <tmpdir>/stderr. */
static int run(const char *args, const char *out_file) { return run_kvlm_in(bin, tmpdir, args, out_file); }


static void expect_usage_error(const char *args, const char *needle)
{
    char errf[512];
    snprintf(errf, sizeof errf, "%s/stderr", tmpdir);
    int rc = run(args, NULL);
    char *e = slurp_file(errf, NULL);
    CHECK(rc == 2, "'%s' exits %d, want 2", args, rc);
    CHECK(e && strstr(e, needle), "'%s': stderr '%s' lacks '%s'", args, e ? e : "", needle);
    free(e);
}

static json_t *run_json(const char *args)
{
    char out[512];
    snprintf(out, sizeof out, "%s/out.json", tmpdir);
    int rc = run(args, out);
    CHECK(rc == 0, "'%s' exits %d", args, rc);
    json_error_t err;
    json_t *j = rc == 0 ? json_load_file(out, 0, &err) : NULL;
    CHECK(rc != 0 || j, "'%s': not JSON: %s", args, err.text);
    return j;
}

static void check_cli(const char *demo_dir)
{
    char gguf[4096], held[4096], args[16384], f[512], log_path[4096];
    snprintf(gguf, sizeof gguf, "%s/kjv-llama.gguf", demo_dir);
    snprintf(held, sizeof held, "%s/heldout.txt", demo_dir);
    snprintf(log_path, sizeof log_path, "%s/train_log.json", demo_dir);

    /* usage and input errors */
    snprintf(f, sizeof f, "%s/empty.txt", tmpdir);
    FILE *fp = fopen(f, "wb");
    if (fp) fclose(fp);
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s'", gguf, f);
    expect_usage_error(args, "is empty");
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s/missing.txt'", gguf, tmpdir);
    expect_usage_error(args, "cannot read");
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s' --stride 0", gguf, held);
    expect_usage_error(args, "--stride '0'");
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s' --ctx 64 --stride 65", gguf, held);
    expect_usage_error(args, "larger than --ctx");
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s' --ctx 100000", gguf, held);
    expect_usage_error(args, "trained context");
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s' --stride 300", gguf, held);
    expect_usage_error(args, "larger than the window");
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s' --add-bos --no-bos", gguf, held);
    expect_usage_error(args, "contradict");
    snprintf(f, sizeof f, "%s/one.txt", tmpdir);
    fp = fopen(f, "wb");
    if (fp) {
        fputs("And", fp);
        fclose(fp);
    }
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s'", gguf, f);
    expect_usage_error(args, "at least 2");
    snprintf(f, sizeof f, "%s/bad.txt", tmpdir);
    fp = fopen(f, "wb");
    if (fp) {
        fputs("In the \xff beginning", fp);
        fclose(fp);
    }
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s'", gguf, f);
    expect_usage_error(args, "offset 7");

    /* a text shorter than one window: one window, every token after the first */
    snprintf(f, sizeof f, "%s/short.txt", tmpdir);
    fp = fopen(f, "wb");
    if (fp) {
        fputs("In the beginning God created the heaven and the earth.\n", fp);
        fclose(fp);
    }
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s' --json", gguf, f);
    json_t *j = run_json(args);
    if (j) {
        long long nt = json_integer_value(json_object_get(j, "tokens"));
        CHECK(nt > 5 && json_integer_value(json_object_get(j, "windows")) == 1 &&
              json_integer_value(json_object_get(j, "scored_tokens")) == nt - 1 &&
              json_integer_value(json_object_get(j, "window")) == nt - 1,
              "short text: tokens %lld, windows %lld", nt, json_integer_value(json_object_get(j, "windows")));
        CHECK(json_is_false(json_object_get(j, "bos_added")), "the demo tokenizer adds no BOS");
        double ppl = json_number_value(json_object_get(j, "perplexity"));
        CHECK(ppl > 1 && ppl < 4096, "short text perplexity %g", ppl);
        json_decref(j);
    }
    /* stride == ctx and stride < ctx on the first 2000 bytes of the held-out text */
    char *text = slurp_file(held, NULL);
    snprintf(f, sizeof f, "%s/part.txt", tmpdir);
    fp = fopen(f, "wb");
    if (fp && text) {
        fwrite(text, 1, 2000, fp);
        fclose(fp);
    }
    free(text);
    const int ws[][2] = {{64, 64}, {64, 16}};
    for (int c = 0; c < 2; c++) {
        snprintf(args, sizeof args, "perplexity -m '%s' -f '%s' --ctx %d --stride %d --json", gguf, f, ws[c][0],
                 ws[c][1]);
        j = run_json(args);
        if (!j) continue;
        long long n = json_integer_value(json_object_get(j, "tokens"));
        int nw = 0;
        long long ev = 0;
        window_start_for((int)n, ws[c][0], ws[c][1], 1, &nw, &ev);
        CHECK(json_integer_value(json_object_get(j, "windows")) == nw &&
              json_integer_value(json_object_get(j, "evaluated_tokens")) == ev &&
              json_integer_value(json_object_get(j, "scored_tokens")) == n - 1 &&
              json_integer_value(json_object_get(j, "scored_bytes")) < 2000,
              "ctx %d stride %d: windows %lld (want %d)", ws[c][0], ws[c][1],
              json_integer_value(json_object_get(j, "windows")), nw);
        json_decref(j);
    }

    /* (b) the training script's number */
    if (getenv("KVLM_TEST_QUICK")) {
        printf("test_perplexity: KVLM_TEST_QUICK set, demo held-out perplexity skipped\n");
        return;
    }
    json_error_t err;
    json_t *lg = json_load_file(log_path, 0, &err);
    CHECK(lg != NULL, "%s: %s", log_path, err.text);
    json_t *ho = json_object_get(lg, "heldout");
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s' --ctx 256 --stride 256 --add-bos --json --threads 2",
             gguf, held);
    j = run_json(args);
    if (j && ho) {
        double want = json_number_value(json_object_get(ho, "nll_per_token"));
        double got = json_number_value(json_object_get(j, "mean_nll"));
        printf("demo held-out: kvlm mean NLL %.6f (perplexity %.4f), training script %.6f (%.4f)\n", got,
               json_number_value(json_object_get(j, "perplexity")), want, exp(want));
        CHECK(json_integer_value(json_object_get(j, "scored_tokens")) ==
                  json_integer_value(json_object_get(ho, "heldout_tokens")),
              "scored tokens %lld", json_integer_value(json_object_get(j, "scored_tokens")));
        CHECK(json_integer_value(json_object_get(j, "scored_bytes")) ==
                  json_integer_value(json_object_get(ho, "heldout_bytes")),
              "scored bytes %lld", json_integer_value(json_object_get(j, "scored_bytes")));
        CHECK(want > 0 && fabs(got - want) <= 1e-3 * want, "mean NLL %.6f vs %.6f", got, want);
        double bpb = json_number_value(json_object_get(ho, "bits_per_byte"));
        CHECK(fabs(json_number_value(json_object_get(j, "bits_per_byte")) - bpb) <= 1e-3 * bpb, "bits per byte");
    }
    json_decref(j);
    json_decref(lg);
}

int main(void)
{
    char dir[4096], man[4096], demo[4096];
    REQUIRE(cli_tmpdir(tmpdir, sizeof tmpdir, "ppl"), "mkdir");
    fixture_path(dir, sizeof dir, "models");
    fixture_path(man, sizeof man, "models/manifest.json");
    fixture_path(demo, sizeof demo, "../../models/demo");
    json_error_t err;
    json_t *mj = json_load_file(man, 0, &err);
    REQUIRE(mj, "manifest: %s", err.text);

    check_hf(dir, mj, "llama-gqa");
    check_hf(dir, mj, "qwen2");
    check_hf(dir, mj, "gpt2");

    char path[4096];
    snprintf(path, sizeof path, "%s/llama-gqa-f32.gguf", dir);
    kvlm_model *m = NULL;
    REQUIRE(kvlm_model_load(path, NULL, &m) == KVLM_OK, "load %s", path);
    json_t *A = json_object_get(json_object_get(mj, "sequences"), "A");
    int n = (int)json_array_size(A);
    int32_t toks[64];
    for (int i = 0; i < n && i < 64; i++) toks[i] = (int32_t)json_integer_value(json_array_get(A, (size_t)i));
    check_windows(m, toks, n);
    kvlm_model_free(m);
    json_decref(mj);

    bin = getenv("KVLM_BIN");
    if (bin) check_cli(demo);
    else printf("test_perplexity: KVLM_BIN not set, CLI checks skipped\n");
    cli_rmdir(tmpdir);
    TEST_MAIN_END("test_perplexity");
}
