/*
 * sampler.c - the sampling chain: logit bias, penalties, greedy, top-k,
 * top-p, min-p, temperature, softmax and a seeded draw (order and semantics
 * in include/kvlm.h).
 *
 * Design notes:
 *  (1) Parameters are validated once, at creation; bad values fail with
 *      KVLM_ERR_INVALID_ARG naming the parameter and its value. Per-call
 *      input (logits, history) is checked on every call.
 *  (2) All scratch is allocated at creation: n_vocab working logits,
 *      n_vocab candidates and n_vocab penalty counters. The counters are
 *      zero between calls: the penalty step counts the window, then clears
 *      each counter as it uses it, so the cost is O(window), not O(V).
 *  (3) Values are carried in double. Input logits are finite floats or
 *      -INFINITY and every parameter is finite, so bias sums, penalties
 *      and temperature scaling cannot overflow or produce NaN in double;
 *      -INFINITY stays -INFINITY through every step.
 *  (4) Cost per call: O(V) to copy the logits into doubles. Top-k then
 *      streams them through a bounded heap (O(V log k), candidates written
 *      only for the k winners); without top-k every finite token becomes a
 *      candidate. Top-p after top-k scans the k sorted survivors; top-p
 *      alone finds the nucleus by quickselect in expected O(V) and sorts
 *      only the few dozen candidates next to its boundary. Nothing sorts
 *      the vocabulary.
 *  (5) A -INFINITY token has probability 0 and is dropped before top-k; at
 *      least one finite token must remain (the maximum always survives
 *      top-k, top-p and min-p), otherwise the call fails.
 *  (6) Reproducibility: the draw uses rng.h (platform-independent). The
 *      probabilities use libm's exp(), so a draw that lands within a few
 *      ulps of a cumulative boundary could differ on another libm.
 */
#include "sample/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "sample/candidates.h"
#include "sample/rng.h"

struct kvlm_sampler {
    kvlm_sampler_params p;  /* validated; p.logit_bias points to bias */
    kvlm_logit_bias *bias;  /* own copy, p.n_logit_bias entries */
    int n_vocab;
    double *w;              /* n_vocab working logits, indexed by token id */
    kvlm_cand *cand;        /* n_vocab scratch candidates */
    int32_t *count;         /* n_vocab penalty counters, zero between calls */
    kvlm_rng rng;
};

kvlm_sampler_params kvlm_sampler_default_params(void)
{
    kvlm_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repetition_penalty = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.penalty_last_n = 64;
    p.logit_bias = NULL;
    p.n_logit_bias = 0;
    p.seed = 0;
    return p;
}

static kvlm_status validate(const kvlm_sampler_params *p, int n_vocab)
{
    const char *who = "kvlm_sampler_create";
    if (n_vocab <= 0)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: n_vocab %d must be positive", who, n_vocab);
    if (!(p->temperature >= 0.0f) || isinf(p->temperature))
        return kvlm_fail(KVLM_ERR_INVALID_ARG,
                         "%s: temperature %g is invalid (must be finite and >= 0; 0 is greedy)",
                         who, (double)p->temperature);
    if (p->top_k < 0)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: top_k %d is invalid (must be >= 0; 0 is off)",
                         who, p->top_k);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return kvlm_fail(KVLM_ERR_INVALID_ARG,
                         "%s: top_p %g is invalid (must be in (0, 1]; 1 is off)", who,
                         (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return kvlm_fail(KVLM_ERR_INVALID_ARG,
                         "%s: min_p %g is invalid (must be in [0, 1]; 0 is off)", who,
                         (double)p->min_p);
    if (!(p->repetition_penalty > 0.0f) || isinf(p->repetition_penalty))
        return kvlm_fail(KVLM_ERR_INVALID_ARG,
                         "%s: repetition_penalty %g is invalid (must be finite and > 0; 1 is off)",
                         who, (double)p->repetition_penalty);
    if (!isfinite(p->presence_penalty))
        return kvlm_fail(KVLM_ERR_INVALID_ARG,
                         "%s: presence_penalty %g is invalid (must be finite)", who,
                         (double)p->presence_penalty);
    if (!isfinite(p->frequency_penalty))
        return kvlm_fail(KVLM_ERR_INVALID_ARG,
                         "%s: frequency_penalty %g is invalid (must be finite)", who,
                         (double)p->frequency_penalty);
    if (p->penalty_last_n < -1)
        return kvlm_fail(KVLM_ERR_INVALID_ARG,
                         "%s: penalty_last_n %d is invalid (must be >= -1; -1 is the whole history)",
                         who, p->penalty_last_n);
    if (p->n_logit_bias < 0)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: n_logit_bias %d is negative", who,
                         p->n_logit_bias);
    if (p->n_logit_bias > 0 && !p->logit_bias)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: logit_bias is NULL but n_logit_bias is %d",
                         who, p->n_logit_bias);
    for (int i = 0; i < p->n_logit_bias; i++) {
        const kvlm_logit_bias *b = &p->logit_bias[i];
        if (b->token < 0 || b->token >= n_vocab)
            return kvlm_fail(KVLM_ERR_INVALID_ARG,
                             "%s: logit_bias[%d].token %d is out of range [0, %d)", who, i,
                             (int)b->token, n_vocab);
        if (isnan(b->bias) || b->bias == INFINITY)
            return kvlm_fail(KVLM_ERR_INVALID_ARG,
                             "%s: logit_bias[%d].bias %g (token %d) is invalid "
                             "(must be finite or -INFINITY)",
                             who, i, (double)b->bias, (int)b->token);
    }
    return KVLM_OK;
}

kvlm_status kvlm_sampler_create(const kvlm_sampler_params *params, int n_vocab,
                                kvlm_sampler **out)
{
    if (!out) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_sampler_create: out is NULL");
    *out = NULL;
    kvlm_sampler_params p = params ? *params : kvlm_sampler_default_params();
    kvlm_status st = validate(&p, n_vocab);
    if (st != KVLM_OK) return st;

    kvlm_sampler *s = calloc(1, sizeof *s);
    if (!s) return kvlm_fail(KVLM_ERR_NOMEM, "kvlm_sampler_create: out of memory");
    s->n_vocab = n_vocab;
    s->w = malloc((size_t)n_vocab * sizeof *s->w);
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    if (p.n_logit_bias > 0) {
        s->bias = malloc((size_t)p.n_logit_bias * sizeof *s->bias);
        if (s->bias) memcpy(s->bias, p.logit_bias, (size_t)p.n_logit_bias * sizeof *s->bias);
    }
    if (!s->w || !s->cand || !s->count || (p.n_logit_bias > 0 && !s->bias)) {
        kvlm_sampler_free(s);
        return kvlm_fail(KVLM_ERR_NOMEM, "kvlm_sampler_create: cannot allocate scratch for %d tokens",
                         n_vocab);
    }
    p.logit_bias = s->bias;
    s->p = p;
    kvlm_rng_seed(&s->rng, p.seed);
    *out = s;
    return KVLM_OK;
}

void kvlm_sampler_free(kvlm_sampler *s)
{
    if (!s) return;
    free(s->w);
    free(s->cand);
    free(s->count);
    free(s->bias);
    free(s);
}

void kvlm_sampler_reset(kvlm_sampler *s)
{
    if (s) kvlm_rng_seed(&s->rng, s->p.seed);
}

const kvlm_sampler_params *kvlm_sampler_get_params(const kvlm_sampler *s)
{
    return &s->p;
}

/* Step 2: penalties over the last penalty_last_n history tokens (design
 * note 2) on the working logits w[], indexed by token id. */
static void apply_penalties(kvlm_sampler *s, const int32_t *history, int n_history)
{
    const kvlm_sampler_params *p = &s->p;
    double rep = p->repetition_penalty, pres = p->presence_penalty,
           freq = p->frequency_penalty;
    if (rep == 1.0 && pres == 0.0 && freq == 0.0) return;
    int n = (p->penalty_last_n < 0 || p->penalty_last_n > n_history) ? n_history
                                                                       : p->penalty_last_n;
    const int32_t *win = history + (n_history - n);
    for (int i = 0; i < n; i++) s->count[win[i]]++;
    for (int i = 0; i < n; i++) {
        int32_t t = win[i];
        int32_t c = s->count[t];
        if (c == 0) continue; /* already applied for an earlier occurrence */
        s->count[t] = 0;
        double w = s->w[t];
        if (rep != 1.0) w = w > 0.0 ? w / rep : w * rep;
        w -= (double)c * freq + pres;
        s->w[t] = w;
    }
}

/* Step 5: top-p over c[0, *n) (softmax at temperature 1 over the current
 * candidates). Sorted input (after top-k) is scanned in order; otherwise
 * kvlm_cand_top_p finds the nucleus without sorting the vocabulary. */
static void apply_top_p(kvlm_cand *c, int *n, int sorted, double wmax, double top_p)
{
    double z = 0.0;
    for (int i = 0; i < *n; i++) {
        c[i].p = exp(c[i].w - wmax);
        z += c[i].p;
    }
    for (int i = 0; i < *n; i++) c[i].p /= z;
    if (!sorted) {
        *n = kvlm_cand_top_p(c, *n, top_p);
        return;
    }
    double cum = 0.0;
    for (int i = 0; i < *n; i++) {
        cum += c[i].p;
        if (cum >= top_p) {
            *n = i + 1;
            return;
        }
    }
    /* rounding left the total just under top_p: keep all */
}

/* Runs the chain. On success c[0, *n_out) are the surviving candidates with
 * w = exp((logit - max) / temperature) (1 for the greedy token) and *z_out
 * their sum (>= 1: the maximum contributes exp(0)). */
static kvlm_status run_chain(kvlm_sampler *s, const char *who, const float *logits,
                             const int32_t *history, int n_history, int *n_out, double *z_out)
{
    const kvlm_sampler_params *p = &s->p;
    const int V = s->n_vocab;
    if (!logits) return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: logits is NULL", who);
    if (n_history < 0)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: n_history %d is negative", who, n_history);
    if (n_history > 0 && !history)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: history is NULL but n_history is %d", who,
                         n_history);
    for (int i = 0; i < n_history; i++)
        if (history[i] < 0 || history[i] >= V)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: history[%d] = %d is out of range [0, %d)",
                             who, i, (int)history[i], V);

    double *w = s->w;
    for (int i = 0; i < V; i++) {
        float x = logits[i];
        if (isnan(x) || x == INFINITY)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: logits[%d] is %g (NaN and +inf are invalid)",
                             who, i, (double)x);
        w[i] = x;
    }

    /* 1. logit bias */
    for (int i = 0; i < p->n_logit_bias; i++) w[p->logit_bias[i].token] += p->logit_bias[i].bias;

    /* 2. penalties */
    apply_penalties(s, history, n_history);

    kvlm_cand *c = s->cand;
    /* 3. greedy: the first maximum in id order is the lowest id among ties */
    if (p->temperature == 0.0f) {
        int best = -1;
        for (int i = 0; i < V; i++)
            if (w[i] != -INFINITY && (best < 0 || w[i] > w[best])) best = i;
        if (best < 0)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: every token has logit -inf (all banned)", who);
        c[0].id = best;
        c[0].w = 1.0;
        *n_out = 1;
        *z_out = 1.0;
        return KVLM_OK;
    }

    /* 4. top-k straight from w[]; otherwise every finite token is a
     * candidate. -inf tokens (probability 0) are dropped either way. */
    int n = 0, sorted = 0;
    double wmax = -INFINITY;
    if (p->top_k > 0 && p->top_k < V) {
        n = kvlm_cand_top_k(w, V, p->top_k, c);
        sorted = 1;
        if (n > 0) wmax = c[0].w;
    } else {
        for (int i = 0; i < V; i++) {
            if (w[i] == -INFINITY) continue;
            if (w[i] > wmax) wmax = w[i];
            c[n].w = w[i];
            c[n].id = i;
            n++;
        }
    }
    if (n == 0)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: every token has logit -inf (all banned)", who);

    /* 5. top-p */
    if (p->top_p < 1.0f) apply_top_p(c, &n, sorted, wmax, p->top_p);

    /* 6. min-p: p_i >= min_p * p_max  <=>  exp(w_i - w_max) >= min_p */
    if (p->min_p > 0.0f) {
        double min_p = p->min_p;
        int k = 0;
        for (int i = 0; i < n; i++)
            if (exp(c[i].w - wmax) >= min_p) c[k++] = c[i];
        n = k;
    }

    /* 7-8. temperature and softmax weights */
    double t = p->temperature, z = 0.0;
    for (int i = 0; i < n; i++) {
        c[i].w = exp((c[i].w - wmax) / t);
        z += c[i].w;
    }
    *n_out = n;
    *z_out = z;
    return KVLM_OK;
}

kvlm_status kvlm_sampler_sample(kvlm_sampler *s, const float *logits, const int32_t *history,
                                int n_history, int32_t *token_out)
{
    const char *who = "kvlm_sampler_sample";
    if (!s || !token_out)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: %s is NULL", who, s ? "token_out" : "sampler");
    int n;
    double z;
    kvlm_status st = run_chain(s, who, logits, history, n_history, &n, &z);
    if (st != KVLM_OK) return st;
    const kvlm_cand *c = s->cand;
    if (s->p.temperature == 0.0f) {
        *token_out = c[0].id;
        return KVLM_OK;
    }
    double u = kvlm_rng_uniform(&s->rng) * z, acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += c[i].w;
        if (u < acc) {
            *token_out = c[i].id;
            return KVLM_OK;
        }
    }
    /* u fell past the rounded total: the last token with weight > 0 */
    for (int i = n - 1; i >= 0; i--) {
        if (c[i].w > 0.0) {
            *token_out = c[i].id;
            return KVLM_OK;
        }
    }
    return kvlm_fail(KVLM_ERR_INTERNAL, "%s: no candidate with positive weight", who);
}

kvlm_status kvlm_sampler_probs(kvlm_sampler *s, const float *logits, const int32_t *history,
                               int n_history, float *probs_out)
{
    const char *who = "kvlm_sampler_probs";
    if (!s || !probs_out)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "%s: %s is NULL", who, s ? "probs_out" : "sampler");
    int n;
    double z;
    kvlm_status st = run_chain(s, who, logits, history, n_history, &n, &z);
    if (st != KVLM_OK) return st;
    memset(probs_out, 0, (size_t)s->n_vocab * sizeof *probs_out);
    for (int i = 0; i < n; i++) probs_out[s->cand[i].id] = (float)(s->cand[i].w / z);
    return KVLM_OK;
}
