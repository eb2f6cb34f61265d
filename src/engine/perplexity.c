/*
 * perplexity.c - kvlm_perplexity(): sliding-window negative log-likelihood
 * of a token sequence (the window rule is documented in kvlm.h, section
 * "Perplexity").
 *
 * Invariants:
 *   - every token of tokens[1, n) is scored exactly once; `done` is the last
 *     target scored so far and only grows; the windows' scored ranges
 *     (done, e] tile [1, n - 1] without gaps;
 *   - each window runs in the same session, truncated to 0 tokens first, so
 *     its positions start at 0 like an independent sequence;
 *   - logits are only requested for rows whose prediction is scored, at
 *     most `chunk` rows at a time (the buffer is chunk x n_vocab floats,
 *     allocated once);
 *   - the NLL of a row is logsumexp(row) - row[target], in double.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"
#include "engine/context.h"

#define LOGITS_BUDGET_BYTES (64u << 20) /* cap on the logits buffer */

kvlm_perplexity_params kvlm_perplexity_default_params(void)
{
    kvlm_perplexity_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* -log softmax(row)[target] in double. */
static double row_nll(const float *row, int V, int32_t target)
{
    double mx = row[0];
    for (int v = 1; v < V; v++)
        if (row[v] > mx) mx = row[v];
    double sum = 0.0;
    for (int v = 0; v < V; v++) sum += exp((double)row[v] - mx);
    return mx + log(sum) - (double)row[target];
}

kvlm_status kvlm_perplexity(kvlm_context *ctx, const int32_t *tokens, int n,
                            const kvlm_perplexity_params *params, kvlm_perplexity_result *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!ctx || !tokens || !out) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_perplexity: NULL argument");
    kvlm_perplexity_params p = params ? *params : kvlm_perplexity_default_params();
    if (n < 2)
        return kvlm_fail(KVLM_ERR_INVALID_ARG,
                         "kvlm_perplexity: %d token(s); at least 2 are needed (the first is never scored)", n);
    int n_ctx = ctx->p.n_ctx;
    int W = p.window ? p.window : n_ctx;
    if (W < 1 || W > n_ctx)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_perplexity: window %d is out of range [1, n_ctx = %d]",
                         p.window, n_ctx);
    int S = p.stride ? p.stride : (W / 2 > 0 ? W / 2 : 1);
    if (S < 1 || S > W)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_perplexity: stride %d is out of range [1, window = %d]",
                         p.stride, W);
    int V = ctx->model->info.n_vocab;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_perplexity: token %d at index %d is out of range [0, %d)",
                             tokens[i], i, V);

    int last_in = n - 1; /* inputs are tokens[0, n - 1); targets tokens[1, n) */
    int n_windows = 1;
    if (last_in > W) n_windows += (last_in - W + S - 1) / S;

    int chunk = (int)(LOGITS_BUDGET_BYTES / ((size_t)V * sizeof(float)));
    if (chunk < 1) chunk = 1;
    if (chunk > ctx->p.n_batch) chunk = ctx->p.n_batch;
    float *logits = malloc((size_t)chunk * (size_t)V * sizeof *logits);
    kvlm_session *s = NULL;
    kvlm_status st = KVLM_OK;
    if (!logits) return kvlm_fail(KVLM_ERR_NOMEM, "kvlm_perplexity: cannot allocate %d logits rows", chunk);
    /* Every row's logits are needed, so nothing can come from the prefix
     * cache, and publishing windows would only cost hashing. */
    kvlm_session_params sp = kvlm_session_default_params();
    sp.prefix_cache = false;
    if ((st = kvlm_session_create_ex(ctx, &sp, &s))) {
        free(logits);
        return st;
    }
    if (p.token_nll) {
        p.token_nll[0] = NAN;
        for (int i = 1; i < n; i++) p.token_nll[i] = NAN;
    }

    double t0 = now_s(), sum = 0.0;
    int64_t evaluated = 0;
    int done = 0, w = 0;
    for (int b = 0; !st; b += S) {
        int e = b + W; /* inputs [b, e), targets [b + 1, e] */
        if (e >= last_in) {
            e = last_in;
            b = e - W > 0 ? e - W : 0;
        }
        if ((st = kvlm_session_truncate(s, 0))) break;
        /* inputs [b, done) only give context; inputs [done, e) predict the
         * targets (done, e] scored by this window */
        int first = done > b ? done : b;
        if (first > b && (st = kvlm_session_eval(s, tokens + b, first - b, KVLM_LOGITS_NONE, NULL))) break;
        for (int off = first; off < e && !st; off += chunk) {
            int c = e - off < chunk ? e - off : chunk;
            if ((st = kvlm_session_eval(s, tokens + off, c, KVLM_LOGITS_ALL, logits))) break;
            for (int r = 0; r < c; r++) {
                int t = off + r + 1;
                double nll = row_nll(logits + (size_t)r * (size_t)V, V, tokens[t]);
                if (!isfinite(nll)) {
                    st = kvlm_fail(KVLM_ERR_INTERNAL, "kvlm_perplexity: non-finite logits predicting token %d", t);
                    break;
                }
                sum += nll;
                if (p.token_nll) p.token_nll[t] = nll;
            }
        }
        if (st) break;
        evaluated += e - b;
        done = e;
        w++;
        if (p.progress && !p.progress(w, n_windows, p.progress_user)) {
            st = kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_perplexity: cancelled after window %d of %d", w, n_windows);
            break;
        }
        if (e == last_in) break;
    }
    double t1 = now_s();
    kvlm_session_free(s);
    free(logits);
    if (st) return st;
    if (done != last_in || w != n_windows)
        return kvlm_fail(KVLM_ERR_INTERNAL, "kvlm_perplexity: scored up to %d of %d in %d of %d windows", done,
                         last_in, w, n_windows);
    out->window = W;
    out->stride = S;
    out->n_windows = w;
    out->n_scored = last_in;
    out->n_evaluated = evaluated;
    out->nll_sum = sum;
    out->mean_nll = sum / (double)last_in;
    out->perplexity = exp(out->mean_nll);
    out->seconds = t1 - t0;
    return KVLM_OK;
}
