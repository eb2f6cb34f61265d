/*
 * test_prefix_cache.c - the cross-request prefix cache (src/kv/, the
 * session API): reuse is bit-exact, tenants stay apart, a hash collision
 * cannot return wrong K/V, and the pool's invariants survive thousands of
 * random operations under a tiny memory budget.
 *
 * The oracle for every logits row is a cold computation: a context with the
 * prefix cache off evaluating the whole sequence in one call. Reuse must be
 * memcmp-equal to it (the bit-exactness rule), for every fixture
 * architecture, the demo model, and every KV dtype:
 *   full hit, partial hit, hit after other blocks were evicted, hit through
 *   a fork (copy-on-write of the shared tail), after truncate, decoding on
 *   top of cached blocks, batched decode of sessions sharing blocks.
 * kvlm_context_check() runs after every operation.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv/block_key.h"
#include "kvlm.h"
#include "cli_run.h"
#include "test.h"

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
    return rng;
}

static int V; /* n_vocab of the model under test */

static kvlm_context *mkctx(kvlm_model *m, kvlm_dtype kv, int bs, int n_blocks, bool cache, int n_ctx)
{
    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_threads = 1; /* thread counts are test_bitexact's concern */
    cp.kv_type = kv;
    cp.kv_block_size = bs;
    cp.n_ctx = n_ctx;
    cp.n_batch = 32;
    cp.prefix_cache = cache;
    if (n_blocks) cp.kv_memory_bytes = (uint64_t)n_blocks * bs * kvlm_model_kv_bytes_per_token(m, kv);
    kvlm_context *ctx = NULL;
    if (kvlm_context_create(m, &cp, &ctx) != KVLM_OK) return NULL;
    return ctx;
}

/* Cold logits of the last token of toks[0, n). */
static kvlm_context *cold_ctx;
static void cold(const int32_t *toks, int n, float *out)
{
    kvlm_session *s = NULL;
    if (kvlm_session_create(cold_ctx, &s) || kvlm_session_eval(s, toks, n, KVLM_LOGITS_LAST, out)) {
        fprintf(stderr, "cold run failed: %s\n", kvlm_last_error());
        memset(out, 0xff, (size_t)V * sizeof *out);
    }
    kvlm_session_free(s);
}

static bool same_as_cold(const int32_t *toks, int n, const float *lg)
{
    float *ref = malloc((size_t)V * sizeof *ref);
    cold(toks, n, ref);
    bool ok = memcmp(ref, lg, (size_t)V * sizeof *ref) == 0;
    free(ref);
    return ok;
}

#define CHECKED(ctx) CHECK(kvlm_context_check(ctx) == KVLM_OK, "invariants: %s", kvlm_last_error())

/* Evaluates toks[0, n) in a fresh session; checks logits against cold and
 * the cached-token count; returns the session (caller frees) or NULL. */
static kvlm_session *eval_new(kvlm_context *ctx, const char *ns, const int32_t *toks, int n,
                              int expect_cached, const char *what)
{
    kvlm_session_params sp = kvlm_session_default_params();
    sp.cache_namespace = ns;
    kvlm_session *s = NULL;
    float *lg = malloc((size_t)V * sizeof *lg);
    kvlm_status st = kvlm_session_create_ex(ctx, &sp, &s);
    if (!st) st = kvlm_session_eval(s, toks, n, KVLM_LOGITS_LAST, lg);
    CHECK(st == KVLM_OK, "%s: eval: %s", what, kvlm_last_error());
    if (!st) {
        CHECK(same_as_cold(toks, n, lg), "%s: logits differ from a cold run", what);
        if (expect_cached >= 0)
            CHECK(kvlm_session_cached_tokens(s) == expect_cached, "%s: %d cached tokens, expected %d", what,
                  kvlm_session_cached_tokens(s), expect_cached);
    }
    free(lg);
    CHECKED(ctx);
    return s;
}

/* Appends toks[0, n) to s one eval; checks the logits against cold over
 * the whole sequence seq[0, len) (seq ends with toks). */
static void append(kvlm_session *s, const int32_t *toks, int n, const int32_t *seq, int len, const char *what)
{
    float *lg = malloc((size_t)V * sizeof *lg);
    kvlm_status st = kvlm_session_eval(s, toks, n, KVLM_LOGITS_LAST, lg);
    CHECK(st == KVLM_OK, "%s: %s", what, kvlm_last_error());
    if (!st) CHECK(same_as_cold(seq, len, lg), "%s: logits differ from a cold run", what);
    free(lg);
}

static void scenarios(kvlm_model *m, kvlm_dtype kv, const char *name)
{
    const int bs = 16;
    int32_t P[128], Q[128], X[128], Y[128], seq[256];
    for (int i = 0; i < 128; i++)
        P[i] = (int32_t)(rnd() % (uint32_t)V), Q[i] = (int32_t)(rnd() % (uint32_t)V),
        X[i] = (int32_t)(rnd() % (uint32_t)V), Y[i] = (int32_t)(rnd() % (uint32_t)V);
    char what[160];
    kvlm_context *ctx = mkctx(m, kv, bs, 40, true, 128);
    if (!ctx) return;
    cold_ctx = mkctx(m, kv, bs, 0, false, 128);
    if (!cold_ctx) {
        kvlm_context_free(ctx);
        return;
    }

    /* Full hits: a whole number of blocks (the last token is recomputed)
     * and a partial last block. */
    const int lens[] = {48, 45, 16, 5};
    const int exp_hit[] = {47, 32, 15, 0};
    for (int k = 0; k < 4; k++) {
        snprintf(what, sizeof what, "%s/%s: first %d tokens", name, kvlm_dtype_name(kv), lens[k]);
        kvlm_session_free(eval_new(ctx, "", P, lens[k], -1, what));
        snprintf(what, sizeof what, "%s/%s: full hit of %d tokens", name, kvlm_dtype_name(kv), lens[k]);
        kvlm_session *s = eval_new(ctx, "", P, lens[k], exp_hit[k], what);
        /* decode on top of the cached blocks */
        memcpy(seq, P, (size_t)lens[k] * sizeof *seq);
        for (int t = 0; t < 20 && s; t++) {
            seq[lens[k] + t] = Q[t];
            snprintf(what, sizeof what, "%s/%s: decode %d after a hit of %d", name, kvlm_dtype_name(kv), t, lens[k]);
            append(s, &Q[t], 1, seq, lens[k] + t + 1, what);
        }
        kvlm_session_free(s);
        CHECKED(ctx);
    }

    /* Partial hit: 40 shared tokens, a new suffix. */
    memcpy(seq, P, 40 * sizeof *seq);
    memcpy(seq + 40, Q, 20 * sizeof *seq);
    snprintf(what, sizeof what, "%s/%s: partial hit", name, kvlm_dtype_name(kv));
    kvlm_session_free(eval_new(ctx, "", seq, 60, 32, what));

    /* Fork: the child shares a partial tail; each side writes its own. */
    kvlm_cache_stats st0, st1;
    kvlm_context_cache_stats(ctx, &st0);
    kvlm_session *a = eval_new(ctx, "", P, 40, 32, "fork parent"), *c = NULL;
    CHECK(a && kvlm_session_fork(a, &c) == KVLM_OK, "fork: %s", kvlm_last_error());
    if (a && c) {
        CHECK(kvlm_session_n_tokens(c) == 40, "fork holds 40 tokens");
        memcpy(seq, P, 40 * sizeof *seq);
        memcpy(seq + 40, Q, 5 * sizeof *seq);
        snprintf(what, sizeof what, "%s/%s: fork child", name, kvlm_dtype_name(kv));
        append(c, Q, 5, seq, 45, what);
        memcpy(seq + 40, X, 5 * sizeof *seq);
        snprintf(what, sizeof what, "%s/%s: fork parent after the child wrote", name, kvlm_dtype_name(kv));
        append(a, X, 5, seq, 45, what);
        kvlm_context_cache_stats(ctx, &st1);
        CHECK(st1.cow_copies >= st0.cow_copies + 1, "the shared tail was copied (%llu -> %llu)",
              (unsigned long long)st0.cow_copies, (unsigned long long)st1.cow_copies);
        CHECKED(ctx);
        /* Truncate into a published block, then write: copy-on-write. */
        CHECK(kvlm_session_truncate(a, 37) == KVLM_OK, "truncate");
        memcpy(seq, P, 37 * sizeof *seq);
        memcpy(seq + 37, Y, 10 * sizeof *seq);
        snprintf(what, sizeof what, "%s/%s: after truncate", name, kvlm_dtype_name(kv));
        append(a, Y, 10, seq, 47, what);
        CHECKED(ctx);
        /* Batched decode of the two sessions. */
        float *lg = malloc(2 * (size_t)V * sizeof *lg);
        kvlm_session *both[2] = {a, c};
        int32_t nt[2] = {Q[50], Q[51]};
        CHECK(kvlm_session_eval_batch(both, nt, 2, lg) == KVLM_OK, "batch: %s", kvlm_last_error());
        seq[47] = Q[50];
        CHECK(same_as_cold(seq, 48, lg), "%s/%s: batched row 0", name, kvlm_dtype_name(kv));
        memcpy(seq, P, 40 * sizeof *seq);
        memcpy(seq + 40, Q, 5 * sizeof *seq);
        seq[45] = Q[51];
        CHECK(same_as_cold(seq, 46, lg + V), "%s/%s: batched row 1", name, kvlm_dtype_name(kv));
        free(lg);
        /* Save a's 48 tokens; load them into a session of a fresh context
         * (cold cache) and into one of this context; continue both. */
        char file[64];
        snprintf(file, sizeof file, "/tmp/kvlm-test-%d.session", (int)getpid());
        memcpy(seq, P, 37 * sizeof *seq);
        memcpy(seq + 37, Y, 10 * sizeof *seq);
        seq[47] = Q[50];
        seq[48] = Q[60];
        CHECK(kvlm_session_save(a, file) == KVLM_OK, "save: %s", kvlm_last_error());
        kvlm_context *fresh = mkctx(m, kv, bs, 40, true, 128);
        kvlm_session *l1 = NULL, *l2 = NULL;
        CHECK(fresh && kvlm_session_create(fresh, &l1) == KVLM_OK && kvlm_session_load(l1, file) == KVLM_OK,
              "load into a fresh context: %s", kvlm_last_error());
        CHECK(kvlm_session_n_tokens(l1) == 48, "loaded 48 tokens");
        snprintf(what, sizeof what, "%s/%s: after save/load (fresh context)", name, kvlm_dtype_name(kv));
        append(l1, &Q[60], 1, seq, 49, what);
        CHECK(kvlm_session_create(ctx, &l2) == KVLM_OK && kvlm_session_eval(l2, P, 3, KVLM_LOGITS_NONE, NULL) == KVLM_OK &&
                  kvlm_session_load(l2, file) == KVLM_OK,
              "load over a session's contents: %s", kvlm_last_error());
        snprintf(what, sizeof what, "%s/%s: after save/load (same context)", name, kvlm_dtype_name(kv));
        append(l2, &Q[60], 1, seq, 49, what);
        /* The loaded blocks were published: a new session in the fresh
         * context hits them. */
        if (fresh) {
            snprintf(what, sizeof what, "%s/%s: hit on loaded blocks", name, kvlm_dtype_name(kv));
            kvlm_session_free(eval_new(fresh, "", seq, 49, 48, what));
        }
        kvlm_session_free(l1);
        kvlm_session_free(l2);
        kvlm_context_free(fresh);
        remove(file);
    }
    kvlm_session_free(a);
    kvlm_session_free(c);
    CHECKED(ctx);
    kvlm_context_free(ctx);

    /* Eviction: 8 blocks. X's blocks are released first (oldest), then
     * P's; Y needs 4 blocks: 2 free + 2 evicted from X; P still hits. */
    ctx = mkctx(m, kv, bs, 8, true, 128);
    if (ctx) {
        kvlm_session_free(eval_new(ctx, "", X, 48, 0, "eviction: X"));
        kvlm_session_free(eval_new(ctx, "", P, 48, 0, "eviction: P"));
        kvlm_session_free(eval_new(ctx, "", Y, 60, 0, "eviction: Y"));
        kvlm_cache_stats s;
        kvlm_context_cache_stats(ctx, &s);
        CHECK(s.evictions == 2, "%llu evictions, expected 2", (unsigned long long)s.evictions);
        snprintf(what, sizeof what, "%s/%s: hit after eviction of other blocks", name, kvlm_dtype_name(kv));
        memcpy(seq, P, 48 * sizeof *seq);
        memcpy(seq + 48, Q, 4 * sizeof *seq);
        kvlm_session_free(eval_new(ctx, "", seq, 52, 48, what));
        /* X lost its tail blocks (evicted first), kept its head. */
        snprintf(what, sizeof what, "%s/%s: X's head survived", name, kvlm_dtype_name(kv));
        kvlm_session_free(eval_new(ctx, "", X, 48, 16, what));
        kvlm_context_free(ctx);
    }
    kvlm_context_free(cold_ctx);
    cold_ctx = NULL;
}

static void namespaces(kvlm_model *m)
{
    int32_t P[64];
    for (int i = 0; i < 64; i++) P[i] = (int32_t)(rnd() % (uint32_t)V);
    kvlm_context *ctx = mkctx(m, KVLM_DTYPE_F32, 16, 32, true, 128);
    cold_ctx = mkctx(m, KVLM_DTYPE_F32, 16, 0, false, 128);
    if (!ctx || !cold_ctx) {
        CHECK(0, "namespace contexts: %s", kvlm_last_error());
        kvlm_context_free(ctx);
        kvlm_context_free(cold_ctx);
        return;
    }
    kvlm_session *a = eval_new(ctx, "alice", P, 64, 0, "alice first");
    kvlm_session *b = eval_new(ctx, "bob", P, 64, 0, "bob never sees alice's blocks");
    kvlm_session *d = eval_new(ctx, NULL, P, 64, 0, "the default namespace is its own");
    kvlm_cache_stats s;
    kvlm_context_cache_stats(ctx, &s);
    CHECK(s.blocks_used == 12, "three namespaces hold 3 x 4 blocks, not shared (%d used)", s.blocks_used);
    kvlm_session *a2 = eval_new(ctx, "alice", P, 64, 63, "alice again hits");
    kvlm_session_free(a), kvlm_session_free(b), kvlm_session_free(d), kvlm_session_free(a2);
    kvlm_session *b2 = eval_new(ctx, "bob", P, 64, 63, "bob hits his own blocks");
    kvlm_session_free(b2);
    kvlm_session_params sp = kvlm_session_default_params();
    char longns[300];
    memset(longns, 'x', sizeof longns - 1);
    longns[299] = 0;
    sp.cache_namespace = longns;
    kvlm_session *bad = NULL;
    CHECK(kvlm_session_create_ex(ctx, &sp, &bad) == KVLM_ERR_INVALID_ARG && !bad, "a 299-byte namespace is refused");
    /* A session with the cache off neither hits nor publishes. */
    sp = kvlm_session_default_params();
    sp.prefix_cache = false;
    kvlm_session *off = NULL;
    float *lg = malloc((size_t)V * sizeof *lg);
    CHECK(kvlm_session_create_ex(ctx, &sp, &off) == KVLM_OK &&
              kvlm_session_eval(off, P, 64, KVLM_LOGITS_LAST, lg) == KVLM_OK &&
              kvlm_session_cached_tokens(off) == 0,
          "cache-off session computes everything");
    free(lg);
    kvlm_session_free(off);
    kvlm_context_cache_clear(ctx);
    kvlm_context_cache_stats(ctx, &s);
    CHECK(s.blocks_cached == 0 && s.blocks_free == s.blocks_total, "cache_clear empties the cache");
    kvlm_session_free(eval_new(ctx, "alice", P, 64, 0, "cold after cache_clear"));
    CHECKED(ctx);
    kvlm_context_free(ctx);
    kvlm_context_free(cold_ctx);
    cold_ctx = NULL;
}

/* Keys weakened to 1 bit: nearly every publish collides. Lookups may only
 * ever return blocks with the same tokens, parent and namespace. */
static void collisions(kvlm_model *m)
{
    kvlm_block_key_test_weaken(1);
    kvlm_context *ctx = mkctx(m, KVLM_DTYPE_F32, 4, 64, true, 64);
    cold_ctx = mkctx(m, KVLM_DTYPE_F32, 4, 0, false, 64);
    int32_t base[3][64];
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < 64; i++) base[b][i] = (int32_t)(rnd() % (uint32_t)V);
    int32_t seq[64];
    int hits = 0;
    for (int it = 0; it < 60 && ctx && cold_ctx; it++) {
        int b = (int)(rnd() % 3), n = 4 + (int)(rnd() % 40), split = (int)(rnd() % (unsigned)n);
        memcpy(seq, base[b], (size_t)n * sizeof *seq);
        for (int i = split; i < n; i++)
            if (rnd() % 2) seq[i] = (int32_t)(rnd() % (uint32_t)V);
        const char *ns = rnd() % 2 ? "a" : "b";
        kvlm_session *s = eval_new(ctx, ns, seq, n, -1, "weak-key eval");
        if (s) hits += kvlm_session_cached_tokens(s);
        kvlm_session_free(s);
    }
    kvlm_cache_stats st;
    kvlm_context_cache_stats(ctx, &st);
    CHECK(st.blocks_cached <= 2, "with 1-bit keys at most 2 blocks can be published (%d)", st.blocks_cached);
    printf("weak keys: %d cached tokens served, all logits equal to cold runs\n", hits);
    kvlm_block_key_test_weaken(0);
    kvlm_context_free(ctx);
    kvlm_context_free(cold_ctx);
    cold_ctx = NULL;
}

/* Random operations on a tiny pool; invariants after each; logits of
 * every successful eval compared with a cold run. */
static void property(kvlm_model *m, int iters)
{
    enum { MAXS = 6, NCTX = 48 };
    kvlm_context *ctx = mkctx(m, KVLM_DTYPE_F32, 4, 18, true, NCTX);
    cold_ctx = mkctx(m, KVLM_DTYPE_F32, 4, 0, false, NCTX);
    if (!ctx || !cold_ctx) {
        CHECK(0, "property contexts: %s", kvlm_last_error());
        kvlm_context_free(ctx);
        kvlm_context_free(cold_ctx);
        return;
    }
    kvlm_session *ss[MAXS] = {0};
    int32_t shadow[MAXS][NCTX];
    int32_t base[3][NCTX];
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < NCTX; i++) base[b][i] = (int32_t)(rnd() % (uint32_t)V);
    float *lg = malloc((size_t)MAXS * (size_t)V * sizeof *lg);
    int n_ok = 0, n_full = 0, n_hit = 0, fails = 0;
    for (int it = 0; it < iters && fails < 5; it++) {
        int op = (int)(rnd() % 100), k = (int)(rnd() % MAXS);
        kvlm_session *s = ss[k];
        if (!s) {
            kvlm_session_params sp = kvlm_session_default_params();
            sp.cache_namespace = rnd() % 4 ? "" : "other";
            if (kvlm_session_create_ex(ctx, &sp, &ss[k]) != KVLM_OK) fails++;
        } else if (op < 50) {
            int n0 = kvlm_session_n_tokens(s), n = 1 + (int)(rnd() % 12);
            if (n0 + n > NCTX) n = NCTX - n0;
            if (n <= 0) continue;
            int b = (int)(rnd() % 3);
            int32_t t[NCTX];
            for (int i = 0; i < n; i++)
                t[i] = rnd() % 8 ? base[b][n0 + i] : (int32_t)(rnd() % (uint32_t)V);
            kvlm_status st = kvlm_session_eval(s, t, n, KVLM_LOGITS_LAST, lg);
            if (st == KVLM_OK) {
                memcpy(shadow[k] + n0, t, (size_t)n * sizeof *t);
                n_ok++;
                n_hit += kvlm_session_cached_tokens(s);
                if (!same_as_cold(shadow[k], n0 + n, lg)) {
                    CHECK(0, "iteration %d: eval logits differ from cold", it);
                    fails++;
                }
            } else {
                CHECK(st == KVLM_ERR_KV_FULL, "iteration %d: eval failed: %s", it, kvlm_last_error());
                CHECK(kvlm_session_n_tokens(s) == n0, "iteration %d: refused eval changed the session", it);
                n_full++;
            }
        } else if (op < 60) {
            int j = (k + 1 + (int)(rnd() % (MAXS - 1))) % MAXS;
            if (!ss[j] && kvlm_session_fork(s, &ss[j]) == KVLM_OK)
                memcpy(shadow[j], shadow[k], sizeof shadow[k]);
        } else if (op < 75) {
            int n0 = kvlm_session_n_tokens(s);
            CHECK(kvlm_session_truncate(s, n0 ? (int)(rnd() % (unsigned)(n0 + 1)) : 0) == KVLM_OK, "truncate");
        } else if (op < 88) {
            kvlm_session_free(s);
            ss[k] = NULL;
        } else if (op < 98) {
            kvlm_session *live[MAXS];
            int32_t t[MAXS];
            int idx[MAXS], nl = 0;
            for (int i = 0; i < MAXS; i++)
                if (ss[i] && kvlm_session_n_tokens(ss[i]) > 0 && kvlm_session_n_tokens(ss[i]) < NCTX) {
                    idx[nl] = i;
                    t[nl] = base[rnd() % 3][kvlm_session_n_tokens(ss[i])];
                    live[nl++] = ss[i];
                }
            if (!nl) continue;
            int before[MAXS];
            for (int i = 0; i < nl; i++) before[i] = kvlm_session_n_tokens(live[i]);
            kvlm_status st = kvlm_session_eval_batch(live, t, nl, lg);
            if (st == KVLM_OK) {
                for (int i = 0; i < nl; i++) {
                    shadow[idx[i]][before[i]] = t[i];
                    if (!same_as_cold(shadow[idx[i]], before[i] + 1, lg + (size_t)i * (size_t)V)) {
                        CHECK(0, "iteration %d: batched row %d differs from cold", it, i);
                        fails++;
                    }
                }
            } else {
                CHECK(st == KVLM_ERR_KV_FULL, "iteration %d: batch failed: %s", it, kvlm_last_error());
                for (int i = 0; i < nl; i++)
                    CHECK(kvlm_session_n_tokens(live[i]) == before[i], "refused batch changed a session");
            }
        } else {
            kvlm_context_cache_clear(ctx);
        }
        if (kvlm_context_check(ctx) != KVLM_OK) {
            CHECK(0, "iteration %d (op %d): %s", it, op, kvlm_last_error());
            fails++;
        }
    }
    kvlm_cache_stats st;
    kvlm_context_cache_stats(ctx, &st);
    printf("property: %d iterations, %d evals ok, %d refused (KV full), %d tokens from cache, %llu evictions, "
           "%llu copies\n", iters, n_ok, n_full, n_hit, (unsigned long long)st.evictions,
           (unsigned long long)st.cow_copies);
    CHECK(n_hit > 0 && st.evictions > 0 && st.cow_copies > 0 && n_full > 0,
          "the random run exercised hits, evictions, copies and a full pool");
    for (int i = 0; i < MAXS; i++) kvlm_session_free(ss[i]);
    CHECKED(ctx);
    free(lg);
    kvlm_context_free(ctx);
    kvlm_context_free(cold_ctx);
    cold_ctx = NULL;
}


static void spit(const char *path, const unsigned char *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) fwrite(d, 1, n, f), fclose(f);
}

/* Save/load with bad input: every truncation, every single-byte flip,
 * another model, another KV dtype or block size -> a clean error and the
 * session untouched. */
static void save_load_bad(kvlm_model *m, kvlm_model *other)
{
    char file[64], bad[64];
    snprintf(file, sizeof file, "/tmp/kvlm-test-%d.good", (int)getpid());
    snprintf(bad, sizeof bad, "/tmp/kvlm-test-%d.bad", (int)getpid());
    int32_t P[8] = {5, 17, 3, 200, 9, 41, 77, 12};
    kvlm_context *ctx = mkctx(m, KVLM_DTYPE_F32, 16, 8, true, 64);
    cold_ctx = mkctx(m, KVLM_DTYPE_F32, 16, 0, false, 64);
    kvlm_session *s = NULL, *t = NULL;
    if (!ctx || !cold_ctx || kvlm_session_create(ctx, &s) || kvlm_session_eval(s, P, 3, KVLM_LOGITS_NONE, NULL) ||
        kvlm_session_save(s, file) || kvlm_session_create(ctx, &t) ||
        kvlm_session_eval(t, P + 4, 2, KVLM_LOGITS_NONE, NULL)) {
        CHECK(0, "save_load_bad setup: %s", kvlm_last_error());
        goto out;
    }
    size_t n = 0;
    unsigned char *d = (unsigned char *)slurp_file(file, &n), *e = malloc(n + 1);
    CHECK(d && e && n > 100, "saved file of %zu bytes", n);
    int fails = 0;
    for (size_t cut = 0; d && e && cut < n; cut++) {
        spit(bad, d, cut);
        kvlm_status st = kvlm_session_load(t, bad);
        if (st == KVLM_OK || kvlm_session_n_tokens(t) != 2) fails++;
    }
    CHECK(fails == 0, "%d truncated files were not refused cleanly", fails);
    fails = 0;
    for (size_t i = 0; d && e && i < n; i++) {
        memcpy(e, d, n);
        e[i] ^= (unsigned char)(1u << (i % 8));
        spit(bad, e, n);
        kvlm_status st = kvlm_session_load(t, bad);
        if (st == KVLM_OK || kvlm_session_n_tokens(t) != 2) {
            if (fails++ < 3) fprintf(stderr, "flip of byte %zu: status %d\n", i, (int)st);
        }
    }
    CHECK(fails == 0, "%d corrupted files were not refused (of %zu)", fails, n);
    /* The refused loads left t's K/V intact: its next logits are cold's. */
    int32_t seq[3] = {P[4], P[5], P[6]};
    append(t, &P[6], 1, seq, 3, "session after refused loads");
    if (d) {
        memcpy(e, d, n);
        spit(bad, e, n + 0);
        FILE *f = fopen(bad, "ab");
        if (f) fputc(0, f), fclose(f);
        CHECK(kvlm_session_load(t, bad) == KVLM_ERR_FORMAT, "padded file refused: %s", kvlm_last_error());
    }
    CHECK(kvlm_session_load(t, "/nonexistent/x.session") == KVLM_ERR_IO, "missing file: %s", kvlm_last_error());
    /* Another model, KV dtype, block size. */
    kvlm_context *c2 = NULL;
    kvlm_session *u = NULL;
    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_threads = 1;
    cp.n_ctx = 64;
    if (kvlm_context_create(other, &cp, &c2) == KVLM_OK && kvlm_session_create(c2, &u) == KVLM_OK) {
        CHECK(kvlm_session_load(u, file) == KVLM_ERR_FORMAT, "other model refused: %s", kvlm_last_error());
        printf("other model: %s\n", kvlm_last_error());
    }
    kvlm_session_free(u), u = NULL;
    kvlm_context_free(c2), c2 = NULL;
    cp.kv_type = KVLM_DTYPE_F16;
    if (kvlm_context_create(m, &cp, &c2) == KVLM_OK && kvlm_session_create(c2, &u) == KVLM_OK) {
        CHECK(kvlm_session_load(u, file) == KVLM_ERR_FORMAT, "other KV dtype refused: %s", kvlm_last_error());
        printf("other dtype: %s\n", kvlm_last_error());
    }
    kvlm_session_free(u), u = NULL;
    kvlm_context_free(c2), c2 = NULL;
    cp.kv_type = KVLM_DTYPE_F32;
    cp.kv_block_size = 8;
    if (kvlm_context_create(m, &cp, &c2) == KVLM_OK && kvlm_session_create(c2, &u) == KVLM_OK) {
        CHECK(kvlm_session_load(u, file) == KVLM_ERR_FORMAT, "other block size refused: %s", kvlm_last_error());
        printf("other block size: %s\n", kvlm_last_error());
    }
    kvlm_session_free(u);
    kvlm_context_free(c2);
    free(d);
    free(e);
    CHECKED(ctx);
out:
    kvlm_session_free(s);
    kvlm_session_free(t);
    kvlm_context_free(ctx);
    kvlm_context_free(cold_ctx);
    cold_ctx = NULL;
    remove(file);
    remove(bad);
}

int main(void)
{
    const char *models[] = {"models/gpt2-f32.gguf", "models/llama-gqa-f32.gguf", "models/llama3-rope-f32.gguf",
                            "models/mistral-f32.gguf", "models/qwen2-f32.gguf", "models/llama-gqa-q8_0.gguf",
                            "models/qwen2-q4_0.gguf"};
    const kvlm_dtype kvs[] = {KVLM_DTYPE_F32, KVLM_DTYPE_F16, KVLM_DTYPE_BF16, KVLM_DTYPE_Q8_0};
    bool quick = getenv("KVLM_TEST_QUICK") != NULL;
    char path[1024];
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        kvlm_model *m = NULL;
        REQUIRE(kvlm_model_load(fixture_path(path, sizeof path, models[i]), NULL, &m) == KVLM_OK,
                "load %s: %s", models[i], kvlm_last_error());
        kvlm_model_info in;
        kvlm_model_get_info(m, &in);
        V = in.n_vocab;
        for (size_t k = 0; k < sizeof kvs / sizeof kvs[0]; k++) {
            if (quick && k > 0 && i > 1) break;
            scenarios(m, kvs[k], models[i]);
        }
        if (i == 1) {
            namespaces(m);
            collisions(m);
        }
        if (i == 0) {
            property(m, quick ? 600 : 3000);
            kvlm_model *f16 = NULL;
            REQUIRE(kvlm_model_load(fixture_path(path, sizeof path, "models/gpt2-f16.gguf"), NULL, &f16) == KVLM_OK,
                    "load gpt2-f16: %s", kvlm_last_error());
            save_load_bad(m, f16);
            kvlm_model_free(f16);
        }
        kvlm_model_free(m);
    }
    /* The demo model (a real trained model, block size 16). */
    char demo[1024];
    fixture_path(demo, sizeof demo, "../../models/demo/kjv-llama.gguf");
    kvlm_model *m = NULL;
    if (kvlm_model_load(demo, NULL, &m) == KVLM_OK) {
        kvlm_model_info in;
        kvlm_model_get_info(m, &in);
        V = in.n_vocab;
        scenarios(m, KVLM_DTYPE_F32, "demo");
        if (!quick) scenarios(m, KVLM_DTYPE_Q8_0, "demo");
        kvlm_model_free(m);
    } else {
        CHECK(0, "demo model %s: %s", demo, kvlm_last_error());
    }
    TEST_MAIN_END("test_prefix_cache");
}
