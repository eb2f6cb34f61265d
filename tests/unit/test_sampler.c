/*
 * test_sampler.c - the sampler (src/sample/) against an independent numpy
 * oracle and against its own contract.
 *
 * tests/fixtures/sampler/vectors.json (made by make_sampler_vectors.py)
 * holds logits vectors and parameter sets with the probabilities numpy
 * computes after the whole chain and the greedy token. Checked here:
 *   - kvlm_sampler_probs matches numpy within 1e-6 per token, and every
 *     token numpy removed has probability 0;
 *   - greedy (temperature 0, same bias and penalties) matches exactly;
 *   - for cases marked "draw", 20000 seeded draws have frequencies within
 *     0.02 of the probabilities and never pick a removed token;
 *   - the PRNG matches a Python xoshiro256** bit for bit;
 *   - same seed -> same sequence, other seed -> another, reset -> again;
 *   - invalid parameters and arguments fail with KVLM_ERR_INVALID_ARG and a
 *     message naming the parameter;
 *   - top-k and top-p selection equal a full sort, ties included.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvlm.h"
#include "sample/candidates.h"
#include "sample/rng.h"
#include "sample/sampler.h"
#include "test.h"

#define N_DRAWS 20000

typedef struct vec {
    const char *name;
    float *v;
    int n;
} vec;

static vec g_vecs[32];
static int g_nvecs;

/* The test's own splitmix64 (the oracle's formula for generated vectors). */
static uint64_t t_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double jnum(json_t *j)
{
    if (json_is_string(j) && strcmp(json_string_value(j), "-inf") == 0) return -INFINITY;
    return json_number_value(j);
}

static int load_vectors(json_t *vectors)
{
    const char *name;
    json_t *v;
    json_object_foreach(vectors, name, v) {
        if (g_nvecs == (int)(sizeof g_vecs / sizeof g_vecs[0])) return -1;
        vec *out = &g_vecs[g_nvecs++];
        out->name = name;
        json_t *arr = json_object_get(v, "logits");
        if (arr) {
            out->n = (int)json_array_size(arr);
            out->v = malloc((size_t)out->n * sizeof *out->v);
            for (int i = 0; i < out->n; i++) out->v[i] = (float)jnum(json_array_get(arr, (size_t)i));
        } else {
            json_t *gen = json_object_get(v, "gen");
            out->n = (int)json_integer_value(json_object_get(gen, "n"));
            uint64_t x = (uint64_t)json_integer_value(json_object_get(gen, "seed"));
            out->v = malloc((size_t)out->n * sizeof *out->v);
            for (int i = 0; i < out->n; i++)
                out->v[i] = (float)((double)((int64_t)(t_splitmix(&x) >> 40) - (1 << 23)) /
                                    (double)(1 << 20));
        }
    }
    return 0;
}

static const vec *find_vec(const char *name)
{
    for (int i = 0; i < g_nvecs; i++)
        if (strcmp(g_vecs[i].name, name) == 0) return &g_vecs[i];
    return NULL;
}

/* Parameters from a case; bias entries go to *bias (caller frees). */
static kvlm_sampler_params case_params(json_t *jp, kvlm_logit_bias **bias)
{
    kvlm_sampler_params p = kvlm_sampler_default_params();
    p.temperature = (float)jnum(json_object_get(jp, "temperature"));
    p.top_k = (int)json_integer_value(json_object_get(jp, "top_k"));
    p.top_p = (float)jnum(json_object_get(jp, "top_p"));
    p.min_p = (float)jnum(json_object_get(jp, "min_p"));
    p.repetition_penalty = (float)jnum(json_object_get(jp, "repetition_penalty"));
    p.presence_penalty = (float)jnum(json_object_get(jp, "presence_penalty"));
    p.frequency_penalty = (float)jnum(json_object_get(jp, "frequency_penalty"));
    p.penalty_last_n = (int)json_integer_value(json_object_get(jp, "penalty_last_n"));
    p.seed = (uint64_t)json_integer_value(json_object_get(jp, "seed"));
    json_t *jb = json_object_get(jp, "logit_bias");
    int nb = (int)json_array_size(jb);
    *bias = nb ? calloc((size_t)nb, sizeof **bias) : NULL;
    for (int i = 0; i < nb; i++) {
        json_t *e = json_array_get(jb, (size_t)i);
        (*bias)[i].token = (int32_t)json_integer_value(json_array_get(e, 0));
        (*bias)[i].bias = (float)jnum(json_array_get(e, 1));
    }
    p.logit_bias = *bias;
    p.n_logit_bias = nb;
    return p;
}

static void run_case(int ci, json_t *c, float *probs, double *expect, int *listed, int *counts)
{
    const char *vname = json_string_value(json_object_get(c, "vector"));
    const vec *v = find_vec(vname);
    if (!v) {
        CHECK(0, "case %d: unknown vector %s", ci, vname ? vname : "(null)");
        return;
    }
    kvlm_logit_bias *bias;
    kvlm_sampler_params p = case_params(json_object_get(c, "params"), &bias);
    json_t *jh = json_object_get(c, "history");
    int nh = (int)json_array_size(jh);
    int32_t hist[64];
    if (nh > 64) nh = 64;
    for (int i = 0; i < nh; i++) hist[i] = (int32_t)json_integer_value(json_array_get(jh, (size_t)i));

    kvlm_sampler *s = NULL, *g = NULL;
    kvlm_status st = kvlm_sampler_create(&p, v->n, &s);
    CHECK(st == KVLM_OK, "case %d (%s): create: %s", ci, vname, kvlm_last_error());
    kvlm_sampler_params pg = p;
    pg.temperature = 0.0f;
    st = kvlm_sampler_create(&pg, v->n, &g);
    CHECK(st == KVLM_OK, "case %d (%s): create greedy: %s", ci, vname, kvlm_last_error());
    if (!s || !g) goto done;

    int32_t tok = -1;
    if (json_is_true(json_object_get(c, "error"))) {
        st = kvlm_sampler_probs(s, v->v, hist, nh, probs);
        CHECK(st == KVLM_ERR_INVALID_ARG, "case %d (%s): probs gave %d, want an error", ci, vname, st);
        st = kvlm_sampler_sample(s, v->v, hist, nh, &tok);
        CHECK(st == KVLM_ERR_INVALID_ARG, "case %d (%s): sample gave %d, want an error", ci, vname, st);
        CHECK(strstr(kvlm_last_error(), "banned") != NULL, "case %d: message '%s'", ci,
              kvlm_last_error());
        st = kvlm_sampler_sample(g, v->v, hist, nh, &tok);
        CHECK(st == KVLM_ERR_INVALID_ARG, "case %d (%s): greedy gave %d, want an error", ci, vname, st);
        goto done;
    }

    /* probabilities */
    for (int t = 0; t < v->n; t++) {
        expect[t] = 0.0;
        listed[t] = 0;
    }
    json_t *jp = json_object_get(c, "probs");
    for (size_t i = 0; i < json_array_size(jp); i++) {
        json_t *e = json_array_get(jp, i);
        int t = (int)json_integer_value(json_array_get(e, 0));
        expect[t] = json_number_value(json_array_get(e, 1));
        listed[t] = 1;
    }
    st = kvlm_sampler_probs(s, v->v, hist, nh, probs);
    CHECK(st == KVLM_OK, "case %d (%s): probs: %s", ci, vname, kvlm_last_error());
    if (st == KVLM_OK) {
        int bad = 0;
        for (int t = 0; t < v->n && bad < 3; t++) {
            double d = fabs((double)probs[t] - expect[t]);
            if (d > 1e-6 || (!listed[t] && probs[t] >= 1e-30f)) {
                bad++;
                CHECK(0, "case %d (%s): token %d: kvlm %.9g, numpy %.9g", ci, vname, t,
                      (double)probs[t], expect[t]);
            }
        }
        CHECK(bad == 0, "case %d (%s) T=%g k=%d p=%g minp=%g: probabilities differ", ci, vname,
              (double)p.temperature, p.top_k, (double)p.top_p, (double)p.min_p);
    }

    /* greedy */
    int want = (int)json_integer_value(json_object_get(c, "greedy"));
    st = kvlm_sampler_sample(g, v->v, hist, nh, &tok);
    CHECK(st == KVLM_OK && tok == want, "case %d (%s): greedy %d, numpy %d (%s)", ci, vname,
          (int)tok, want, kvlm_last_error());

    /* draws */
    if (json_is_true(json_object_get(c, "draw"))) {
        memset(counts, 0, (size_t)v->n * sizeof *counts);
        int fails = 0;
        for (int i = 0; i < N_DRAWS; i++) {
            if (kvlm_sampler_sample(s, v->v, hist, nh, &tok) != KVLM_OK || tok < 0 || tok >= v->n) {
                fails++;
                continue;
            }
            counts[tok]++;
        }
        CHECK(fails == 0, "case %d (%s): %d draws failed", ci, vname, fails);
        double worst = 0.0;
        int worst_t = -1;
        for (int t = 0; t < v->n; t++) {
            double d = fabs((double)counts[t] / N_DRAWS - expect[t]);
            if (d > worst) {
                worst = d;
                worst_t = t;
            }
            CHECK(listed[t] || counts[t] == 0, "case %d (%s): removed token %d drawn %d times", ci,
                  vname, t, counts[t]);
        }
        CHECK(worst < 0.02, "case %d (%s): token %d frequency off by %.4f", ci, vname, worst_t, worst);
    }

done:
    kvlm_sampler_free(s);
    kvlm_sampler_free(g);
    free(bias);
}

static void test_rng_golden(json_t *rng)
{
    for (size_t i = 0; i < json_array_size(rng); i++) {
        json_t *e = json_array_get(rng, i);
        uint64_t seed = strtoull(json_string_value(json_object_get(e, "seed")), NULL, 10);
        json_t *next = json_object_get(e, "next");
        kvlm_rng r;
        kvlm_rng_seed(&r, seed);
        for (size_t j = 0; j < json_array_size(next); j++) {
            uint64_t want = strtoull(json_string_value(json_array_get(next, j)), NULL, 10);
            uint64_t got = kvlm_rng_next(&r);
            CHECK(got == want, "rng seed %llu output %zu: %llu, python %llu",
                  (unsigned long long)seed, j, (unsigned long long)got, (unsigned long long)want);
        }
    }
    kvlm_rng r;
    kvlm_rng_seed(&r, 1);
    double lo = 1.0, hi = 0.0;
    for (int i = 0; i < 100000; i++) {
        double u = kvlm_rng_uniform(&r);
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    CHECK(lo >= 0.0 && lo < 1e-3 && hi < 1.0 && hi > 0.999, "uniform range [%g, %g]", lo, hi);
}

/* Generates n tokens, feeding each back as history (penalties on). */
static int generate(kvlm_sampler *s, const vec *v, int32_t *out, int n)
{
    for (int i = 0; i < n; i++)
        if (kvlm_sampler_sample(s, v->v, out, i, &out[i]) != KVLM_OK) return -1;
    return 0;
}

static void test_reproducible(void)
{
    const vec *v = find_vec("v1000");
    if (!v) {
        CHECK(0, "vector v1000 missing");
        return;
    }
    enum { N = 300 };
    int32_t a[N], b[N], c[N], d[N];
    kvlm_sampler_params p = kvlm_sampler_default_params();
    p.temperature = 1.2f;
    p.top_k = 0;
    p.top_p = 0.98f;
    p.min_p = 0.0f;
    p.repetition_penalty = 1.1f;
    p.seed = 42;
    kvlm_sampler *s1 = NULL, *s2 = NULL, *s3 = NULL;
    CHECK(kvlm_sampler_create(&p, v->n, &s1) == KVLM_OK, "create: %s", kvlm_last_error());
    CHECK(kvlm_sampler_create(&p, v->n, &s2) == KVLM_OK, "create: %s", kvlm_last_error());
    p.seed = 43;
    CHECK(kvlm_sampler_create(&p, v->n, &s3) == KVLM_OK, "create: %s", kvlm_last_error());
    if (s1 && s2 && s3) {
        CHECK(generate(s1, v, a, N) == 0, "generate a: %s", kvlm_last_error());
        CHECK(generate(s2, v, b, N) == 0, "generate b: %s", kvlm_last_error());
        CHECK(generate(s3, v, c, N) == 0, "generate c: %s", kvlm_last_error());
        CHECK(memcmp(a, b, sizeof a) == 0, "same seed gave different sequences");
        int same = 0;
        for (int i = 0; i < N; i++) same += a[i] == c[i];
        CHECK(same < N / 2, "seeds 42 and 43 agree on %d of %d tokens", same, N);
        kvlm_sampler_reset(s1);
        CHECK(generate(s1, v, d, N) == 0, "generate d: %s", kvlm_last_error());
        CHECK(memcmp(a, d, sizeof a) == 0, "reset did not restart the sequence");
        /* probs and greedy do not advance the state */
        kvlm_sampler_reset(s1);
        float *probs = malloc((size_t)v->n * sizeof *probs);
        CHECK(probs && kvlm_sampler_probs(s1, v->v, NULL, 0, probs) == KVLM_OK, "probs: %s",
              kvlm_last_error());
        free(probs);
        CHECK(generate(s1, v, d, N) == 0 && memcmp(a, d, sizeof a) == 0,
              "kvlm_sampler_probs moved the random state");
    }
    kvlm_sampler_free(s1);
    kvlm_sampler_free(s2);
    kvlm_sampler_free(s3);
}

static void expect_create_error(kvlm_sampler_params p, int n_vocab, const char *what)
{
    kvlm_sampler *s = (kvlm_sampler *)&p; /* must be overwritten with NULL */
    kvlm_status st = kvlm_sampler_create(&p, n_vocab, &s);
    CHECK(st == KVLM_ERR_INVALID_ARG, "%s: create gave %d, want KVLM_ERR_INVALID_ARG", what, st);
    CHECK(s == NULL, "%s: out not cleared on failure", what);
    CHECK(strstr(kvlm_last_error(), what) != NULL, "%s: message '%s' does not name it", what,
          kvlm_last_error());
    if (st == KVLM_OK) kvlm_sampler_free(s);
}

static void test_invalid(void)
{
    const kvlm_sampler_params d = kvlm_sampler_default_params();
    kvlm_sampler_params p;
    const float nan = NAN;
#define BAD(field, value, name)   \
    do {                          \
        p = d;                    \
        p.field = value;          \
        expect_create_error(p, 100, name); \
    } while (0)
    BAD(temperature, -0.5f, "temperature");
    BAD(temperature, nan, "temperature");
    BAD(temperature, INFINITY, "temperature");
    BAD(top_k, -1, "top_k");
    BAD(top_p, 0.0f, "top_p");
    BAD(top_p, 1.5f, "top_p");
    BAD(top_p, -0.1f, "top_p");
    BAD(top_p, nan, "top_p");
    BAD(min_p, -0.01f, "min_p");
    BAD(min_p, 1.01f, "min_p");
    BAD(min_p, nan, "min_p");
    BAD(repetition_penalty, 0.0f, "repetition_penalty");
    BAD(repetition_penalty, -1.0f, "repetition_penalty");
    BAD(repetition_penalty, nan, "repetition_penalty");
    BAD(repetition_penalty, INFINITY, "repetition_penalty");
    BAD(presence_penalty, nan, "presence_penalty");
    BAD(presence_penalty, -INFINITY, "presence_penalty");
    BAD(frequency_penalty, nan, "frequency_penalty");
    BAD(frequency_penalty, INFINITY, "frequency_penalty");
    BAD(penalty_last_n, -2, "penalty_last_n");
    BAD(n_logit_bias, -1, "n_logit_bias");
    BAD(n_logit_bias, 2, "logit_bias"); /* NULL array */
#undef BAD
    kvlm_logit_bias lb[2] = {{3, 1.0f}, {100, 1.0f}};
    p = d;
    p.logit_bias = lb;
    p.n_logit_bias = 2;
    expect_create_error(p, 100, "logit_bias[1].token 100");
    lb[1].token = -1;
    expect_create_error(p, 100, "logit_bias[1].token -1");
    lb[1].token = 5;
    lb[1].bias = nan;
    expect_create_error(p, 100, "logit_bias[1].bias");
    lb[1].bias = INFINITY;
    expect_create_error(p, 100, "logit_bias[1].bias");
    expect_create_error(d, 0, "n_vocab");
    expect_create_error(d, -3, "n_vocab");
    CHECK(kvlm_sampler_create(&d, 10, NULL) == KVLM_ERR_INVALID_ARG, "NULL out accepted");

    /* valid edge values */
    kvlm_sampler *s = NULL;
    p = d;
    p.temperature = 0.0f;
    p.top_p = 1.0f;
    p.min_p = 1.0f;
    p.top_k = 0;
    p.penalty_last_n = -1;
    p.presence_penalty = -2.0f;
    lb[1].bias = -INFINITY;
    p.logit_bias = lb;
    p.n_logit_bias = 2;
    CHECK(kvlm_sampler_create(&p, 100, &s) == KVLM_OK, "edge values rejected: %s", kvlm_last_error());
    kvlm_sampler_free(s);
    s = NULL;
    CHECK(kvlm_sampler_create(NULL, 100, &s) == KVLM_OK && s, "NULL params (defaults) rejected");

    /* per-call arguments */
    float logits[100];
    for (int i = 0; i < 100; i++) logits[i] = (float)(i % 7);
    int32_t hist[3] = {1, 2, 3}, tok;
    float probs[100];
    CHECK(kvlm_sampler_sample(s, logits, hist, 3, &tok) == KVLM_OK, "valid call failed: %s",
          kvlm_last_error());
    CHECK(kvlm_sampler_sample(NULL, logits, hist, 3, &tok) == KVLM_ERR_INVALID_ARG, "NULL sampler");
    CHECK(kvlm_sampler_sample(s, NULL, hist, 3, &tok) == KVLM_ERR_INVALID_ARG, "NULL logits");
    CHECK(kvlm_sampler_sample(s, logits, hist, 3, NULL) == KVLM_ERR_INVALID_ARG, "NULL token_out");
    CHECK(kvlm_sampler_sample(s, logits, NULL, 3, &tok) == KVLM_ERR_INVALID_ARG, "NULL history");
    CHECK(kvlm_sampler_sample(s, logits, NULL, 0, &tok) == KVLM_OK, "empty NULL history rejected");
    CHECK(kvlm_sampler_sample(s, logits, hist, -1, &tok) == KVLM_ERR_INVALID_ARG, "n_history -1");
    CHECK(strstr(kvlm_last_error(), "n_history") != NULL, "message '%s'", kvlm_last_error());
    hist[1] = 100;
    CHECK(kvlm_sampler_sample(s, logits, hist, 3, &tok) == KVLM_ERR_INVALID_ARG, "history token 100");
    CHECK(strstr(kvlm_last_error(), "history[1] = 100") != NULL, "message '%s'", kvlm_last_error());
    hist[1] = -5;
    CHECK(kvlm_sampler_probs(s, logits, hist, 3, probs) == KVLM_ERR_INVALID_ARG, "history token -5");
    hist[1] = 2;
    logits[17] = NAN;
    CHECK(kvlm_sampler_sample(s, logits, hist, 3, &tok) == KVLM_ERR_INVALID_ARG, "NaN logit");
    CHECK(strstr(kvlm_last_error(), "logits[17]") != NULL, "message '%s'", kvlm_last_error());
    logits[17] = INFINITY;
    CHECK(kvlm_sampler_probs(s, logits, hist, 3, probs) == KVLM_ERR_INVALID_ARG, "+inf logit");
    logits[17] = -INFINITY;
    CHECK(kvlm_sampler_sample(s, logits, hist, 3, &tok) == KVLM_OK && tok != 17, "-inf logit: %s",
          kvlm_last_error());
    CHECK(kvlm_sampler_probs(s, logits, hist, 3, NULL) == KVLM_ERR_INVALID_ARG, "NULL probs_out");
    /* the penalty counters survive a failed call: results unchanged after */
    float p1[100], p2[100];
    logits[17] = 1.0f;
    CHECK(kvlm_sampler_probs(s, logits, hist, 3, p1) == KVLM_OK, "probs: %s", kvlm_last_error());
    hist[2] = 1000;
    CHECK(kvlm_sampler_probs(s, logits, hist, 3, p2) != KVLM_OK, "bad history accepted");
    hist[2] = 3;
    CHECK(kvlm_sampler_probs(s, logits, hist, 3, p2) == KVLM_OK && memcmp(p1, p2, sizeof p1) == 0,
          "probabilities changed between identical calls");
    kvlm_sampler_free(s);
    kvlm_sampler_free(NULL);
    kvlm_sampler_reset(NULL);

    /* the bias list is copied: changing the caller's array later has no effect */
    {
        float lg[4] = {1.0f, 2.0f, 3.0f, 0.0f};
        kvlm_logit_bias b[1] = {{0, 10.0f}};
        kvlm_sampler_params q = kvlm_sampler_default_params();
        q.temperature = 0.0f;
        q.logit_bias = b;
        q.n_logit_bias = 1;
        kvlm_sampler *g = NULL;
        CHECK(kvlm_sampler_create(&q, 4, &g) == KVLM_OK, "create: %s", kvlm_last_error());
        if (g) {
            b[0].token = 3;
            CHECK(kvlm_sampler_sample(g, lg, NULL, 0, &tok) == KVLM_OK && tok == 0,
                  "bias list not copied (token %d)", (int)tok);
            const kvlm_sampler_params *gp = kvlm_sampler_get_params(g);
            CHECK(gp->logit_bias != b && gp->n_logit_bias == 1 && gp->logit_bias[0].token == 0 &&
                      gp->temperature == 0.0f,
                  "kvlm_sampler_get_params");
        }
        kvlm_sampler_free(g);
    }

    kvlm_sampler_params dp = kvlm_sampler_default_params();
    CHECK(dp.temperature == 0.8f && dp.top_k == 40 && dp.top_p == 0.95f && dp.min_p == 0.05f &&
              dp.repetition_penalty == 1.0f && dp.penalty_last_n == 64 && dp.n_logit_bias == 0,
          "default params changed");
}

static int cand_ref_cmp(const void *pa, const void *pb)
{
    const kvlm_cand *a = pa, *b = pb;
    if (a->w != b->w) return a->w > b->w ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static void test_select_top(void)
{
    enum { N = 997 };
    static double w[N];
    static kvlm_cand c[N + 1], ref[N];
    uint64_t x = 5;
    const int ks[] = {1, 2, 7, 64, 500, 900, 996, 997, 2000};
    for (int round = 0; round < 5; round++) {
        /* round 0: distinct; later rounds: fewer distinct values (ties);
         * round 4: mostly -inf */
        int levels = round == 0 ? 1 << 30 : (round == 1 ? 50 : (round == 2 ? 3 : 1));
        int nf = 0;
        for (int i = 0; i < N; i++) {
            w[i] = (double)(t_splitmix(&x) % (uint64_t)levels);
            if ((round == 1 && i % 10 == 3) || (round == 4 && i % 100 != 7)) w[i] = -INFINITY;
            if (w[i] != -INFINITY) {
                ref[nf].w = w[i];
                ref[nf].id = i;
                nf++;
            }
        }
        qsort(ref, (size_t)nf, sizeof ref[0], cand_ref_cmp);
        for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++) {
            int want = ks[k] < nf ? ks[k] : nf;
            int m = kvlm_cand_top_k(w, N, ks[k] > N ? N : ks[k], c);
            int ok = m == want;
            for (int i = 0; ok && i < m; i++) ok = c[i].id == ref[i].id && c[i].w == ref[i].w;
            CHECK(ok, "top_k round %d k=%d: %d selected (want %d) or order differs from a full sort",
                  round, ks[k], m, want);
        }
    }
}

/* kvlm_cand_top_p against a full sort and a sequential sum. Probabilities
 * are multiples of 2^-20 so that every sum is exact in any order. */
static void test_top_p_select(void)
{
    enum { N = 3001 };
    static kvlm_cand c[N], ref[N];
    static int rank_of[N];
    uint64_t x = 11;
    const double fracs[] = {1e-9, 0.01, 0.3, 0.5, 0.77, 0.999, 1.0, 1.5};
    for (int round = 0; round < 4; round++) {
        int n = round == 3 ? 40 : N;
        int levels = round == 0 ? 1 << 20 : (round == 1 ? 100 : (round == 2 ? 2 : 1 << 20));
        double total = 0.0;
        for (int i = 0; i < n; i++) {
            ref[i].w = (double)(t_splitmix(&x) % (uint64_t)levels);
            ref[i].p = ref[i].w * 0x1.0p-20;
            ref[i].id = (int32_t)((i * 1013) % n);
            total += ref[i].p;
        }
        kvlm_cand orig[N];
        memcpy(orig, ref, (size_t)n * sizeof ref[0]);
        qsort(ref, (size_t)n, sizeof ref[0], cand_ref_cmp);
        for (int i = 0; i < n; i++) rank_of[ref[i].id] = i;
        for (size_t f = 0; f < sizeof fracs / sizeof fracs[0]; f++) {
            double top_p = fracs[f] * total;
            int want = n;
            double cum = 0.0;
            for (int i = 0; i < n; i++) {
                cum += ref[i].p;
                if (cum >= top_p) {
                    want = i + 1;
                    break;
                }
            }
            memcpy(c, orig, (size_t)n * sizeof c[0]);
            int k = kvlm_cand_top_p(c, n, top_p);
            int ok = k == want;
            for (int i = 0; ok && i < k; i++) ok = rank_of[c[i].id] < k;
            CHECK(ok, "top_p select round %d frac %g: kept %d, want %d", round, fracs[f], k, want);
        }
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Timing on the 152064-token vector (printed, not checked). */
static void test_speed(void)
{
    const vec *v = find_vec("v152064");
    if (!v) return;
    struct {
        const char *what;
        int top_k;
        float top_p, min_p, temp;
    } cfg[] = {
        {"defaults (k=40 p=0.95 min_p=0.05)", 40, 0.95f, 0.05f, 0.8f},
        {"top_p=0.95 only", 0, 0.95f, 0.0f, 1.0f},
        {"no filter", 0, 1.0f, 0.0f, 1.0f},
        {"greedy", 0, 1.0f, 0.0f, 0.0f},
    };
    int32_t hist[64];
    for (int i = 0; i < 64; i++) hist[i] = (i * 2377) % v->n;
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        kvlm_sampler_params p = kvlm_sampler_default_params();
        p.top_k = cfg[k].top_k;
        p.top_p = cfg[k].top_p;
        p.min_p = cfg[k].min_p;
        p.temperature = cfg[k].temp;
        p.repetition_penalty = 1.1f;
        kvlm_sampler *s = NULL;
        if (kvlm_sampler_create(&p, v->n, &s) != KVLM_OK) {
            CHECK(0, "create: %s", kvlm_last_error());
            continue;
        }
        int n = 20, fails = 0;
        int32_t tok;
        double t0 = now_ms();
        for (int i = 0; i < n; i++) fails += kvlm_sampler_sample(s, v->v, hist, 64, &tok) != KVLM_OK;
        double dt = (now_ms() - t0) / n;
        CHECK(fails == 0, "%s: %d calls failed", cfg[k].what, fails);
        printf("  V=%d %-36s %.3f ms/token\n", v->n, cfg[k].what, dt);
        kvlm_sampler_free(s);
    }
}

int main(void)
{
    char path[1024];
    fixture_path(path, sizeof path, "sampler/vectors.json");
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    REQUIRE(doc != NULL, "cannot read %s: %s (line %d)", path, err.text, err.line);
    REQUIRE(load_vectors(json_object_get(doc, "vectors")) == 0, "too many vectors");
    int vmax = 0;
    for (int i = 0; i < g_nvecs; i++)
        if (g_vecs[i].n > vmax) vmax = g_vecs[i].n;
    float *probs = malloc((size_t)vmax * sizeof *probs);
    double *expect = malloc((size_t)vmax * sizeof *expect);
    int *listed = malloc((size_t)vmax * sizeof *listed);
    int *counts = malloc((size_t)vmax * sizeof *counts);
    REQUIRE(probs && expect && listed && counts, "out of memory");

    json_t *cases = json_object_get(doc, "cases");
    REQUIRE(json_array_size(cases) > 100, "too few cases in %s", path);
    for (size_t i = 0; i < json_array_size(cases); i++)
        run_case((int)i, json_array_get(cases, i), probs, expect, listed, counts);
    printf("  %zu oracle cases\n", json_array_size(cases));

    test_rng_golden(json_object_get(doc, "rng"));
    test_reproducible();
    test_invalid();
    test_select_top();
    test_top_p_select();
    test_speed();

    free(probs);
    free(expect);
    free(listed);
    free(counts);
    for (int i = 0; i < g_nvecs; i++) free(g_vecs[i].v);
    json_decref(doc);
    TEST_MAIN_END("test_sampler");
}
