/*
 * test_generate.c - kvlm_generate and the `kvlm run` / `kvlm chat` commands.
 *
 * Library (fixture models, the 288-token byte-level tokenizer
 * tests/fixtures/tokenizers/fixture288/tokenizer.json, one thread):
 *   - cached vs no_kv_cache: identical tokens and memcmp-identical logits at
 *     every step (f32 and quantized GGUFs, three architectures, prompt
 *     lengths 1..37, prefill chunks 512 / 7 / 1), greedy and seeded;
 *   - prompt reuse: a follow-up call reuses exactly what the session holds
 *     and gives the same logits as a cold session; a diverging prompt is
 *     truncated to the common prefix;
 *   - stop strings across token boundaries (cut before the match, never
 *     emitted, finish "stop"), held-back text released when no match;
 *   - max_tokens, EOG, context full, cancel, seeded sampling;
 *   - streaming: every callback complete UTF-8, concatenation == text,
 *     including a run that ends on half a multi-byte character;
 *   - bad arguments.
 * CLI (when KVLM_BIN is set): `kvlm run --json`, usage/input errors and
 * their exit codes, and `kvlm chat` driven by a script: turn 2 reuses every
 * token the session held (the --verbose counts) and the transcript equals a
 * --no-kv-cache run and a cold library run of the same conversation.
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

#define V 288
#define CHAT_MODEL "models/qwen2-f32.gguf"

static char tok_path[4096];
static kvlm_tokenizer *tok;

/* ---- helpers --------------------------------------------------------------- */

typedef struct env {
    kvlm_model *m;
    kvlm_context *c;
    kvlm_session *s;
} env;

static bool env_open(env *e, const char *model_rel, int n_ctx, int n_batch)
{
    char p[4096];
    memset(e, 0, sizeof *e);
    if (kvlm_model_load(fixture_path(p, sizeof p, model_rel), NULL, &e->m)) return false;
    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_threads = 1;
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    if (kvlm_context_create(e->m, &cp, &e->c)) return false;
    return kvlm_session_create(e->c, &e->s) == KVLM_OK;
}

static void env_close(env *e)
{
    kvlm_session_free(e->s);
    kvlm_context_free(e->c);
    kvlm_model_free(e->m);
}

/* Logits rows captured through on_logits. */
typedef struct rows {
    float *r;
    int n, cap;
} rows;

static void grab_logits(int step, const float *logits, int n_vocab, void *user)
{
    rows *w = user;
    if (step != w->n || n_vocab != V || w->n >= w->cap) {
        w->n = -1000000; /* flags a protocol error */
        return;
    }
    memcpy(w->r + (size_t)w->n * V, logits, V * sizeof(float));
    w->n++;
}

static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        int need = c < 0x80 ? 1 : c >= 0xC2 && c < 0xE0 ? 2 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xF0 && c < 0xF5 ? 4 : 0;
        if (!need || i + (size_t)need > n) return false;
        for (int k = 1; k < need; k++) {
            unsigned lo = 0x80, hi = 0xBF;
            if (k == 1 && c == 0xE0) lo = 0xA0;
            if (k == 1 && c == 0xED) hi = 0x9F;
            if (k == 1 && c == 0xF0) lo = 0x90;
            if (k == 1 && c == 0xF4) hi = 0x8F;
            if (u[i + k] < lo || u[i + k] > hi) return false;
        }
        i += (size_t)need;
    }
    return true;
}

/* Streamed text collected through on_text. */
typedef struct sink {
    char buf[65536];
    size_t n;
    int calls, bad_utf8, cancel_after;
} sink;

static bool collect(const char *text, size_t len, void *user)
{
    sink *k = user;
    if (len == 0 || !utf8_valid(text, len)) k->bad_utf8++;
    if (k->n + len < sizeof k->buf) {
        memcpy(k->buf + k->n, text, len);
        k->n += len;
    }
    k->calls++;
    return !(k->cancel_after && k->calls >= k->cancel_after);
}

static void make_prompt(int32_t *p, int n, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (int32_t)(32 + (seed >> 16) % 95); /* printable ASCII bytes */
    }
}

static kvlm_generate_params greedy(int max_tokens)
{
    kvlm_generate_params gp = kvlm_generate_default_params();
    gp.max_tokens = max_tokens;
    gp.sampler.temperature = 0;
    return gp;
}

/* ---- cached vs no-cache ---------------------------------------------------- */

static void test_cache_equivalence(void)
{
    static const char *models[] = {"models/llama-gqa-f32.gguf", "models/qwen2-f32.gguf", "models/gpt2-f32.gguf",
                                   "models/llama-gqa-q4_k.gguf", "models/qwen2-q8_0.gguf", "models/mistral-q4_0.gguf"};
    static const int lens[] = {1, 5, 37};
    static const int chunks[] = {512, 7, 1};
    enum { N = 10 };
    float *ra = malloc((size_t)(N + 1) * V * sizeof(float)), *rb = malloc((size_t)(N + 1) * V * sizeof(float));
    for (size_t mi = 0; mi < sizeof models / sizeof models[0]; mi++) {
        for (size_t li = 0; li < 3; li++) {
            size_t ci = (mi + li) % 3;
            env e;
            if (!env_open(&e, models[mi], 128, chunks[ci])) {
                CHECK(0, "%s: cannot open: %s", models[mi], kvlm_last_error());
                env_close(&e);
                continue;
            }
            int32_t prompt[64];
            make_prompt(prompt, lens[li], 100u + (unsigned)mi * 7u + (unsigned)li);
            for (int sampled = 0; sampled < 2; sampled++) {
                kvlm_generate_params gp = greedy(N);
                gp.prefill_chunk = chunks[(ci + 1) % 3];
                if (sampled) {
                    gp.sampler = kvlm_sampler_default_params();
                    gp.sampler.temperature = 1.0f;
                    gp.sampler.seed = 1234;
                }
                rows wa = {ra, 0, N + 1}, wb = {rb, 0, N + 1};
                kvlm_generate_result a, b;
                gp.on_logits = grab_logits;
                gp.logits_user = &wa;
                kvlm_status sa = kvlm_generate(e.s, tok, prompt, lens[li], &gp, &a);
                gp.no_kv_cache = true;
                gp.logits_user = &wb;
                kvlm_status sb = kvlm_generate(e.s, tok, prompt, lens[li], &gp, &b);
                CHECK(sa == KVLM_OK && sb == KVLM_OK, "%s: generate failed: %s", models[mi], kvlm_last_error());
                CHECK(a.completion_tokens == b.completion_tokens && a.completion_tokens > 0 &&
                          !memcmp(a.tokens, b.tokens, (size_t)a.completion_tokens * sizeof(int32_t)),
                      "%s len %d sampled %d: tokens differ with and without the KV cache", models[mi], lens[li],
                      sampled);
                CHECK(wa.n == a.completion_tokens && wb.n == wa.n, "%s: %d / %d logits rows for %d tokens",
                      models[mi], wa.n, wb.n, a.completion_tokens);
                if (wa.n == wb.n && wa.n > 0)
                    CHECK(!memcmp(ra, rb, (size_t)wa.n * V * sizeof(float)),
                          "%s len %d chunk %d sampled %d: logits not bit-identical with and without the KV cache",
                          models[mi], lens[li], chunks[ci], sampled);
                CHECK(a.text_len == b.text_len && !memcmp(a.text, b.text, a.text_len), "%s: texts differ",
                      models[mi]);
                CHECK(b.prompt_reused_tokens == 0 && b.prompt_computed_tokens == lens[li], "no-cache reuse %d",
                      b.prompt_reused_tokens);
                CHECK(kvlm_session_n_tokens(e.s) == lens[li] + b.completion_tokens - 1,
                      "session holds %d tokens, want prompt %d + generated %d - 1", kvlm_session_n_tokens(e.s),
                      lens[li], b.completion_tokens);
                kvlm_generate_result_free(&a);
                kvlm_generate_result_free(&b);
            }
            env_close(&e);
        }
    }
    free(ra);
    free(rb);
}

/* ---- prompt reuse ---------------------------------------------------------- */

static void test_reuse(void)
{
    env e, cold;
    if (!env_open(&e, "models/llama-gqa-f32.gguf", 128, 512) || !env_open(&cold, "models/llama-gqa-f32.gguf", 128, 512)) {
        CHECK(0, "open: %s", kvlm_last_error());
        return;
    }
    int32_t p[128];
    make_prompt(p, 20, 7);
    kvlm_generate_params gp = greedy(6);
    kvlm_generate_result r1, r2, r3;
    CHECK(kvlm_generate(e.s, tok, p, 20, &gp, &r1) == KVLM_OK, "turn 1: %s", kvlm_last_error());
    int held = kvlm_session_n_tokens(e.s);
    CHECK(held == 20 + r1.completion_tokens - 1, "held %d", held);
    /* turn 2: the whole sequence so far plus 5 new tokens */
    int n = 20;
    for (int i = 0; i < r1.completion_tokens; i++) p[n++] = r1.tokens[i];
    make_prompt(p + n, 5, 99);
    n += 5;
    float l2[6 * V], l3[6 * V];
    rows w2 = {l2, 0, 6}, w3 = {l3, 0, 6};
    gp.on_logits = grab_logits;
    gp.logits_user = &w2;
    CHECK(kvlm_generate(e.s, tok, p, n, &gp, &r2) == KVLM_OK, "turn 2: %s", kvlm_last_error());
    CHECK(r2.prompt_reused_tokens == held && r2.prompt_computed_tokens == n - held,
          "turn 2 reused %d computed %d, want %d and %d", r2.prompt_reused_tokens, r2.prompt_computed_tokens, held,
          n - held);
    gp.logits_user = &w3;
    CHECK(kvlm_generate(cold.s, tok, p, n, &gp, &r3) == KVLM_OK, "cold: %s", kvlm_last_error());
    CHECK(r3.prompt_reused_tokens == 0, "cold reused %d", r3.prompt_reused_tokens);
    CHECK(w2.n == w3.n && w2.n > 0 && !memcmp(l2, l3, (size_t)w2.n * V * sizeof(float)),
          "continued session and cold session give different logits");
    CHECK(r2.completion_tokens == r3.completion_tokens &&
              !memcmp(r2.tokens, r3.tokens, (size_t)r2.completion_tokens * sizeof(int32_t)),
          "continued and cold tokens differ");
    /* the same prompt again: everything but the last token is reused */
    kvlm_generate_result_free(&r3);
    CHECK(kvlm_generate(e.s, tok, p, n, &gp, &r3) == KVLM_OK && r3.prompt_reused_tokens == n - 1 &&
              r3.prompt_computed_tokens == 1,
          "same prompt: reused %d of %d", r3.prompt_reused_tokens, n);
    kvlm_generate_result_free(&r3);
    /* a prompt diverging at 10: truncated to 10, the rest computed */
    p[10] = p[10] == 40 ? 41 : 40;
    CHECK(kvlm_generate(e.s, tok, p, n, &gp, &r3) == KVLM_OK && r3.prompt_reused_tokens == 10 &&
              r3.prompt_computed_tokens == n - 10,
          "diverging prompt: reused %d", r3.prompt_reused_tokens);
    kvlm_generate_result_free(&r1);
    kvlm_generate_result_free(&r2);
    kvlm_generate_result_free(&r3);
    env_close(&e);
    env_close(&cold);
}

/* ---- stop strings ---------------------------------------------------------- */

static void test_stop(void)
{
    env e;
    if (!env_open(&e, "models/qwen2-f32.gguf", 128, 512)) {
        CHECK(0, "open: %s", kvlm_last_error());
        env_close(&e);
        return;
    }
    bool done[2] = {false, false};
    for (unsigned seed = 1; seed < 60 && !(done[0] && done[1]); seed++) {
        int32_t p[16];
        make_prompt(p, 8, seed);
        kvlm_generate_params gp = greedy(24);
        kvlm_generate_result r;
        if (kvlm_generate(e.s, tok, p, 8, &gp, &r) != KVLM_OK) {
            CHECK(0, "generate: %s", kvlm_last_error());
            break;
        }
        for (int kind = 0; kind < 2; kind++) {
            if (done[kind]) continue;
            /* kind 0: three consecutive printable ASCII tokens (one byte
             * each in this vocabulary), not the first token;
             * kind 1: the tail "|>" of a special token's text and the next
             * token, a printable ASCII byte. */
            char stop[8] = "";
            for (int i = 1; i + 2 < r.completion_tokens && !stop[0]; i++) {
                int32_t t0 = r.tokens[i], t1 = r.tokens[i + 1], t2 = r.tokens[i + 2];
                if (kind == 0 && t0 >= 32 && t0 < 127 && t1 >= 32 && t1 < 127 && t2 >= 32 && t2 < 127)
                    snprintf(stop, sizeof stop, "%c%c%c", t0, t1, t2);
                if (kind == 1 && t0 > 256 && t1 >= 32 && t1 < 127) snprintf(stop, sizeof stop, "|>%c", t1);
            }
            if (!stop[0]) continue;
            done[kind] = true;
            size_t L = strlen(stop);
            const char *hit = memmem(r.text, r.text_len, stop, L);
            CHECK(hit != NULL, "kind %d: stop \"%s\" not in the text", kind, stop);
            if (!hit) continue;
            size_t first = (size_t)(hit - r.text);
            printf("test_generate: stop string \"%s\" (kind %d) at byte %zu of a %zu-byte greedy text\n", stop, kind,
                   first, r.text_len);
            const char *stops[] = {"\x01\x02 never", stop};
            sink k = {.n = 0};
            gp.stop = stops;
            gp.n_stop = 2;
            gp.on_text = collect;
            gp.text_user = &k;
            kvlm_generate_result s;
            CHECK(kvlm_generate(e.s, tok, p, 8, &gp, &s) == KVLM_OK, "stop run: %s", kvlm_last_error());
            CHECK(s.finish_reason == KVLM_FINISH_STOP, "finish %s, want stop", kvlm_finish_reason_name(s.finish_reason));
            CHECK(s.text_len == first && !memcmp(s.text, r.text, first), "stop text: %zu bytes, want %zu", s.text_len,
                  first);
            CHECK(k.n == s.text_len && !memcmp(k.buf, s.text, k.n) && !k.bad_utf8,
                  "streamed %zu bytes, text %zu; bad utf8 %d", k.n, s.text_len, k.bad_utf8);
            CHECK(!memmem(k.buf, k.n, stop, L), "the stop string was emitted");
            CHECK(s.completion_tokens <= r.completion_tokens &&
                      !memcmp(s.tokens, r.tokens, (size_t)s.completion_tokens * sizeof(int32_t)),
                  "tokens before the stop differ");
            kvlm_generate_result_free(&s);

            /* a stop string whose head appears but never completes: the held
             * back bytes come out at the end, the text is unchanged */
            char never[16];
            snprintf(never, sizeof never, "%c%c\x01\x01\x01", stop[0], stop[1]);
            const char *stops2[] = {never};
            sink k2 = {.n = 0};
            gp.stop = stops2;
            gp.n_stop = 1;
            gp.text_user = &k2;
            CHECK(kvlm_generate(e.s, tok, p, 8, &gp, &s) == KVLM_OK, "stop run 2");
            CHECK(s.finish_reason == r.finish_reason && s.text_len == r.text_len && !memcmp(s.text, r.text, r.text_len),
                  "unmatched stop string changed the text");
            CHECK(k2.n == r.text_len && !memcmp(k2.buf, r.text, r.text_len), "streamed text differs");
            kvlm_generate_result_free(&s);
        }
        kvlm_generate_result_free(&r);
    }
    CHECK(done[0] && done[1], "no greedy run with a stop string candidate of kind %d", done[0] ? 1 : 0);
    env_close(&e);
}

/* ---- limits, EOG, cancel, streaming, seeds ---------------------------------- */

static void test_limits(void)
{
    env e;
    if (!env_open(&e, "models/llama-gqa-q8_0.gguf", 32, 512)) {
        CHECK(0, "open: %s", kvlm_last_error());
        env_close(&e);
        return;
    }
    kvlm_logit_bias ban_eos = {256, -INFINITY};
    int32_t p[40];
    make_prompt(p, 40, 3);
    kvlm_generate_params gp = greedy(5);
    gp.sampler.logit_bias = &ban_eos;
    gp.sampler.n_logit_bias = 1;
    kvlm_generate_result r;

    CHECK(kvlm_generate(e.s, tok, p, 10, &gp, &r) == KVLM_OK && r.completion_tokens == 5 &&
              r.finish_reason == KVLM_FINISH_LENGTH,
          "max_tokens 5: %d tokens, finish %s", r.completion_tokens, kvlm_finish_reason_name(r.finish_reason));
    CHECK(r.ttft_ms > 0 && r.prefill_tokens_per_s > 0 && r.decode_tokens_per_s > 0 &&
              r.kv_bytes == (uint64_t)kvlm_session_n_tokens(e.s) * kvlm_model_kv_bytes_per_token(e.m, KVLM_DTYPE_F32),
          "timings/kv bytes: ttft %g prefill %g decode %g kv %llu", r.ttft_ms, r.prefill_tokens_per_s,
          r.decode_tokens_per_s, (unsigned long long)r.kv_bytes);
    kvlm_generate_result_free(&r);

    gp.max_tokens = 0;
    CHECK(kvlm_generate(e.s, tok, p, 10, &gp, &r) == KVLM_OK && r.completion_tokens == 0 &&
              r.finish_reason == KVLM_FINISH_LENGTH && kvlm_session_n_tokens(e.s) == 10,
          "max_tokens 0");
    kvlm_generate_result_free(&r);

    /* context full: n_ctx 32, prompt 20 -> 12 tokens */
    gp.max_tokens = -1;
    CHECK(kvlm_generate(e.s, tok, p, 20, &gp, &r) == KVLM_OK && r.completion_tokens == 12 &&
              r.finish_reason == KVLM_FINISH_CONTEXT_FULL && kvlm_session_n_tokens(e.s) == 31,
          "context full: %d tokens, finish %s, session %d", r.completion_tokens,
          kvlm_finish_reason_name(r.finish_reason), kvlm_session_n_tokens(e.s));
    kvlm_generate_result_free(&r);
    gp.max_tokens = 100;
    CHECK(kvlm_generate(e.s, tok, p, 32, &gp, &r) == KVLM_OK && r.completion_tokens == 0 &&
              r.finish_reason == KVLM_FINISH_CONTEXT_FULL,
          "prompt == n_ctx");
    kvlm_generate_result_free(&r);
    int before = kvlm_session_n_tokens(e.s);
    CHECK(kvlm_generate(e.s, tok, p, 33, &gp, &r) == KVLM_ERR_CONTEXT_FULL && kvlm_session_n_tokens(e.s) == before,
          "prompt > n_ctx must fail and leave the session");
    CHECK(strstr(kvlm_last_error(), "context") != NULL, "message: %s", kvlm_last_error());
    kvlm_generate_result_free(&r);

    /* EOG: force token 256 */
    kvlm_logit_bias force_eos = {256, 1000.0f};
    gp.sampler.logit_bias = &force_eos;
    CHECK(kvlm_generate(e.s, tok, p, 5, &gp, &r) == KVLM_OK && r.completion_tokens == 1 && r.tokens[0] == 256 &&
              r.finish_reason == KVLM_FINISH_EOG && r.text_len == 0,
          "eog: %d tokens, finish %s", r.completion_tokens, kvlm_finish_reason_name(r.finish_reason));
    kvlm_generate_result_free(&r);

    /* half a multi-byte character at the end: every token is 0xE2 */
    kvlm_logit_bias lead = {0xE2, 1000.0f};
    gp.sampler.logit_bias = &lead;
    gp.max_tokens = 3;
    sink k = {.n = 0};
    gp.on_text = collect;
    gp.text_user = &k;
    CHECK(kvlm_generate(e.s, tok, p, 5, &gp, &r) == KVLM_OK, "lead bytes");
    CHECK(r.text_len == 9 && !memcmp(r.text, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9),
          "3 x 0xE2 should give 3 x U+FFFD (%zu bytes)", r.text_len);
    CHECK(!k.bad_utf8 && k.n == r.text_len && !memcmp(k.buf, r.text, k.n), "lead bytes stream");
    kvlm_generate_result_free(&r);

    /* streaming over sampled text: each call valid UTF-8, concat == text */
    gp.sampler = kvlm_sampler_default_params();
    gp.sampler.temperature = 1.5f;
    gp.sampler.top_k = 0;
    gp.sampler.top_p = 1;
    gp.sampler.min_p = 0;
    gp.sampler.seed = 5;
    gp.sampler.logit_bias = &ban_eos;
    gp.sampler.n_logit_bias = 1;
    gp.max_tokens = 20;
    sink k2 = {.n = 0};
    gp.text_user = &k2;
    kvlm_generate_result r2;
    CHECK(kvlm_generate(e.s, tok, p, 5, &gp, &r) == KVLM_OK, "sampled run");
    CHECK(k2.calls > 1 && !k2.bad_utf8 && k2.n == r.text_len && !memcmp(k2.buf, r.text, k2.n) &&
              utf8_valid(r.text, r.text_len),
          "streamed %zu bytes in %d calls (bad %d), text %zu", k2.n, k2.calls, k2.bad_utf8, r.text_len);
    /* same seed, same tokens; another seed, other tokens */
    gp.on_text = NULL;
    CHECK(kvlm_generate(e.s, tok, p, 5, &gp, &r2) == KVLM_OK && r2.completion_tokens == r.completion_tokens &&
              !memcmp(r2.tokens, r.tokens, (size_t)r.completion_tokens * sizeof(int32_t)),
          "seeded sampling is not reproducible");
    kvlm_generate_result_free(&r2);
    gp.sampler.seed = 6;
    CHECK(kvlm_generate(e.s, tok, p, 5, &gp, &r2) == KVLM_OK &&
              memcmp(r2.tokens, r.tokens, (size_t)r.completion_tokens * sizeof(int32_t)) != 0,
          "seeds 5 and 6 gave the same 20 tokens");
    kvlm_generate_result_free(&r2);
    kvlm_generate_result_free(&r);

    /* cancel after the second callback */
    sink k3 = {.n = 0, .cancel_after = 2};
    gp.on_text = collect;
    gp.text_user = &k3;
    CHECK(kvlm_generate(e.s, tok, p, 5, &gp, &r) == KVLM_OK && r.finish_reason == KVLM_FINISH_CANCELLED &&
              k3.calls == 2 && r.text_len == k3.n && !memcmp(r.text, k3.buf, k3.n),
          "cancel: finish %s, %d calls", kvlm_finish_reason_name(r.finish_reason), k3.calls);
    kvlm_generate_result_free(&r);
    env_close(&e);
}

static void test_bad_args(void)
{
    env e;
    if (!env_open(&e, "models/qwen2-f32.gguf", 64, 512)) {
        CHECK(0, "open: %s", kvlm_last_error());
        env_close(&e);
        return;
    }
    int32_t p[4] = {72, 105, 33, 32};
    kvlm_generate_params gp = greedy(4);
    kvlm_generate_result r;
    CHECK(kvlm_generate(NULL, tok, p, 4, &gp, &r) == KVLM_ERR_INVALID_ARG && r.tokens == NULL, "NULL session");
    CHECK(kvlm_generate(e.s, NULL, p, 4, &gp, &r) == KVLM_ERR_INVALID_ARG, "NULL tokenizer");
    CHECK(kvlm_generate(e.s, tok, p, 0, &gp, &r) == KVLM_ERR_INVALID_ARG, "empty prompt");
    kvlm_generate_result_free(&r);
    int32_t badp[2] = {1, 288};
    CHECK(kvlm_generate(e.s, tok, badp, 2, &gp, &r) == KVLM_ERR_INVALID_ARG &&
              strstr(kvlm_last_error(), "out of range"),
          "token out of range: %s", kvlm_last_error());
    gp.prefill_chunk = 0;
    CHECK(kvlm_generate(e.s, tok, p, 4, &gp, &r) == KVLM_ERR_INVALID_ARG, "prefill_chunk 0");
    gp.prefill_chunk = 512;
    const char *empty[] = {""}, *badutf[] = {"a\xff"};
    gp.stop = empty;
    gp.n_stop = 1;
    CHECK(kvlm_generate(e.s, tok, p, 4, &gp, &r) == KVLM_ERR_INVALID_ARG, "empty stop string");
    gp.stop = badutf;
    CHECK(kvlm_generate(e.s, tok, p, 4, &gp, &r) == KVLM_ERR_INVALID_ARG && strstr(kvlm_last_error(), "offset 1"),
          "invalid UTF-8 stop string: %s", kvlm_last_error());
    gp.n_stop = 0;
    gp.sampler.temperature = -1;
    CHECK(kvlm_generate(e.s, tok, p, 4, &gp, &r) == KVLM_ERR_INVALID_ARG && strstr(kvlm_last_error(), "temperature"),
          "negative temperature: %s", kvlm_last_error());
    gp.sampler.temperature = 0;
    gp.sampler.top_p = 2;
    CHECK(kvlm_generate(e.s, tok, p, 4, &gp, &r) == KVLM_ERR_INVALID_ARG && strstr(kvlm_last_error(), "top_p"),
          "top_p 2: %s", kvlm_last_error());
    CHECK(kvlm_session_n_tokens(e.s) == 0, "failed calls touched the session");
    kvlm_generate_result_free(NULL);
    env_close(&e);
}

/* A tokenizer smaller than the model (the model's padded output rows):
 * those ids are never sampled, even when the logit bias pushes them. */
static void test_small_tokenizer(void)
{
    json_error_t je;
    json_t *j = json_load_file(tok_path, 0, &je);
    if (!j) {
        CHECK(0, "tokenizer.json: %s", je.text);
        return;
    }
    json_t *added = json_object_get(j, "added_tokens"), *vocab = json_object_get(json_object_get(j, "model"), "vocab");
    while (json_array_size(added) > 1) {
        json_t *last = json_array_get(added, json_array_size(added) - 1);
        json_object_del(vocab, json_string_value(json_object_get(last, "content")));
        json_array_remove(added, json_array_size(added) - 1);
    }
    char path[256];
    snprintf(path, sizeof path, "/tmp/kvlm-test-gen-tok-%d.json", (int)getpid());
    int w = json_dump_file(j, path, 0);
    json_decref(j);
    kvlm_tokenizer *small = NULL;
    env e;
    if (w != 0 || kvlm_tokenizer_load(path, &small) != KVLM_OK || !env_open(&e, "models/qwen2-f32.gguf", 64, 64)) {
        CHECK(0, "small tokenizer set-up: %s", kvlm_last_error());
        kvlm_tokenizer_free(small);
        remove(path);
        return;
    }
    CHECK(kvlm_tokenizer_n_vocab(small) == 257, "small vocab %d", (int)kvlm_tokenizer_n_vocab(small));
    kvlm_logit_bias push = {287, 1000.0f};
    kvlm_generate_params gp = greedy(4);
    gp.sampler.logit_bias = &push;
    gp.sampler.n_logit_bias = 1;
    int32_t p[3] = {72, 105, 33};
    kvlm_generate_result r;
    CHECK(kvlm_generate(e.s, small, p, 3, &gp, &r) == KVLM_OK, "small tokenizer: %s", kvlm_last_error());
    bool ok = r.completion_tokens > 0;
    for (int i = 0; i < r.completion_tokens; i++) ok = ok && r.tokens[i] < 257;
    CHECK(ok, "an id beyond the tokenizer's vocabulary was sampled");
    kvlm_generate_result_free(&r);
    env_close(&e);
    kvlm_tokenizer_free(small);
    remove(path);
}

/* ---- CLI ------------------------------------------------------------------- */

static const char *bin;
static char tmpdir[256];

static int run_cli(const char *args, const char *in_file, const char *out_file, const char *err_file)
{
    return run_kvlm_io(bin, args, in_file, out_file, err_file);
}


static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static bool file_has(const char *path, const char *needle)
{
    char *d = slurp_file(path, NULL);
    bool ok = d && strstr(d, needle);
    free(d);
    return ok;
}

/* Greedy reply (max_tokens) of the chatml rendering of msgs through the library. */
static bool chat_reply(env *e, const kvlm_chat_message *msgs, size_t n, int max_tokens, kvlm_generate_result *r)
{
    char *text = NULL;
    size_t tl;
    int32_t *ids = NULL;
    size_t ni;
    if (kvlm_chat_render(tok, "chatml", msgs, n, true, &text, &tl) ||
        kvlm_tokenizer_encode_alloc(tok, text, tl, KVLM_TOKENIZE_PARSE_SPECIAL, &ids, &ni)) {
        free(text);
        return false;
    }
    kvlm_generate_params gp = greedy(max_tokens);
    kvlm_status st = kvlm_generate(e->s, tok, ids, (int)ni, &gp, r);
    free(text);
    free(ids);
    return st == KVLM_OK;
}

static void test_cli(void)
{
    char model[4096], args[8192], out[512], err[512], in[512];
    fixture_path(model, sizeof model, "models/llama-gqa-f32.gguf");
    snprintf(out, sizeof out, "%s/out", tmpdir);
    snprintf(err, sizeof err, "%s/err", tmpdir);
    snprintf(in, sizeof in, "%s/in", tmpdir);
    const char *common = "--temp 0 --threads 1 --ctx 512";

    /* run --json equals the library */
    snprintf(args, sizeof args, "run -m '%s' --tokenizer '%s' -p 'Once upon' -n 8 %s --json", model, tok_path, common);
    CHECK(run_cli(args, NULL, out, err) == 0, "run --json failed");
    json_error_t je;
    json_t *j = json_load_file(out, 0, &je);
    CHECK(j != NULL, "run --json output is not JSON: %s", je.text);
    env e;
    if (j && env_open(&e, "models/llama-gqa-f32.gguf", 512, 512)) {
        int32_t p[9] = {'O', 'n', 'c', 'e', ' ', 'u', 'p', 'o', 'n'};
        kvlm_generate_params gp = greedy(8);
        kvlm_generate_result r;
        CHECK(kvlm_generate(e.s, tok, p, 9, &gp, &r) == KVLM_OK, "library run");
        json_t *tk = json_object_get(j, "tokens");
        CHECK(json_array_size(tk) == (size_t)r.completion_tokens, "json tokens");
        for (size_t i = 0; i < json_array_size(tk) && i < (size_t)r.completion_tokens; i++)
            CHECK(json_integer_value(json_array_get(tk, i)) == r.tokens[i], "json token %zu", i);
        const char *txt = json_string_value(json_object_get(j, "text"));
        CHECK(txt && json_string_length(json_object_get(j, "text")) == r.text_len && !memcmp(txt, r.text, r.text_len),
              "json text");
        CHECK(json_integer_value(json_object_get(j, "prompt_tokens")) == 9 &&
                  json_integer_value(json_object_get(j, "completion_tokens")) == r.completion_tokens,
              "json counts");
        CHECK(json_number_value(json_object_get(j, "ttft_ms")) > 0 &&
                  json_number_value(json_object_get(j, "prefill_tokens_per_s")) > 0 &&
                  json_number_value(json_object_get(j, "decode_tokens_per_s")) > 0 &&
                  json_integer_value(json_object_get(j, "kv_bytes")) > 0,
              "json timings");
        const char *fr = json_string_value(json_object_get(j, "finish_reason"));
        CHECK(fr && !strcmp(fr, kvlm_finish_reason_name(r.finish_reason)), "json finish_reason %s", fr ? fr : "?");
        kvlm_generate_result_free(&r);
        env_close(&e);
    }
    json_decref(j);

    /* streaming run: stdout is the text, timings on stderr */
    snprintf(args, sizeof args, "run -m '%s' --tokenizer '%s' -p 'Once upon' -n 8 %s --no-kv-cache", model, tok_path,
             common);
    CHECK(run_cli(args, NULL, out, err) == 0, "run failed");
    CHECK(file_has(err, "TTFT") && file_has(err, "decode") && file_has(err, "KV"), "timings on stderr");

    /* usage and input errors */
    struct { const char *args; int rc; const char *msg; } bad[] = {
        {"run -p 'In the beginning' -n 4", 0, "TTFT"}, /* no -m: the bundled demo model */
        {"run -m '%s' --tokenizer '%s' -p ''", 2, "empty"},
        {"run -m '%s' --tokenizer '%s' -p 'hello' --temp -1", 2, "temperature"},
        {"run -m '%s' --tokenizer '%s' -p 'hello' --top-p 7", 2, "top_p"},
        {"run -m '%s' --tokenizer '%s' -p 'hello' --repeat-penalty nan", 2, "repetition"},
        {"run -m '%s' --tokenizer '%s' -p 'hello' --top-k -3", 2, "top_k"},
        {"run -m '%s' --tokenizer '%s' -p 'hello' -n x", 2, "-n"},
        {"run -m '%s' --tokenizer '%s' -p 'a prompt that is longer than sixteen tokens' --ctx 16", 2, "context"},
        {"run -m /nonexistent.gguf -p 'hello'", 1, "nonexistent"},
        {"run -m '%s' --tokenizer '%s' -p 'hi' --bogus", 2, "--bogus"},
        {"chat -m '%s' --tokenizer '%s'", 2, "--chat-template"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, bad[i].args, model, tok_path);
        int rc = run_cli(args, NULL, NULL, err);
        CHECK(rc == bad[i].rc && file_has(err, bad[i].msg), "'%s': exit %d (want %d), stderr lacks '%s'", args, rc,
              bad[i].rc, bad[i].msg);
    }
    char pf[512];
    snprintf(pf, sizeof pf, "%s/prompt.txt", tmpdir);
    write_file(pf, "ab\xff" "cd", 5);
    snprintf(args, sizeof args, "run -m '%s' --tokenizer '%s' -f '%s'", model, tok_path, pf);
    CHECK(run_cli(args, NULL, NULL, err) == 2 && file_has(err, "offset 2"), "invalid UTF-8 prompt");

    /* chat: pick a first user line whose 3-token greedy reply re-tokenizes
     * to the generated ids (a random model often emits bytes that are not
     * UTF-8; their U+FFFD would not round-trip, and the next turn would
     * then rightly reuse less). */
    fixture_path(model, sizeof model, CHAT_MODEL);
    if (!env_open(&e, CHAT_MODEL, 512, 512)) {
        CHECK(0, "open: %s", kvlm_last_error());
        env_close(&e);
        return;
    }
    char line1[32] = "";
    kvlm_generate_result r1 = {0};
    for (int i = 0; i < 400 && !line1[0]; i++) {
        char cand[32];
        snprintf(cand, sizeof cand, "Tell me %d", i);
        kvlm_chat_message m[2] = {{"system", "S"}, {"user", cand}};
        kvlm_generate_result r;
        if (!chat_reply(&e, m, 2, 3, &r)) break;
        bool ok = r.completion_tokens == 3 && r.finish_reason == KVLM_FINISH_LENGTH;
        int32_t *re = NULL;
        size_t nre = 0;
        ok = ok && kvlm_tokenizer_encode_alloc(tok, r.text, r.text_len, KVLM_TOKENIZE_PARSE_SPECIAL, &re, &nre) == KVLM_OK &&
             nre == 3 && !memcmp(re, r.tokens, 3 * sizeof(int32_t));
        free(re);
        if (ok) {
            strcpy(line1, cand);
            r1 = r;
        } else {
            kvlm_generate_result_free(&r);
        }
    }
    CHECK(line1[0], "no user line with an ASCII reply found");
    if (line1[0]) {
        const char *line2 = "And then?";
        char script[128];
        int sl = snprintf(script, sizeof script, "%s\n\n%s\n", line1, line2);
        write_file(in, script, (size_t)sl);
        snprintf(args, sizeof args, "chat -m '%s' --tokenizer '%s' --chat-template chatml --system S -n 3 %s --verbose",
                 model, tok_path, common);
        CHECK(run_cli(args, in, out, err) == 0, "chat failed");
        size_t n_out = 0;
        char *o1 = slurp_file(out, &n_out), *e1 = slurp_file(err, NULL);
        int t1h = -1, t1r = -1, t1c = -1, t2h = -1, t2r = -1, t2c = -1, t1k = -1, t2k = -1;
        const char *p1 = e1 ? strstr(e1, "[turn 1]") : NULL, *p2 = e1 ? strstr(e1, "[turn 2]") : NULL;
        CHECK(p1 && sscanf(p1, "[turn 1] held %d, reused %d, cached %d, computed %d", &t1h, &t1r, &t1k, &t1c) == 4,
              "turn 1 line");
        CHECK(p2 && sscanf(p2, "[turn 2] held %d, reused %d, cached %d, computed %d", &t2h, &t2r, &t2k, &t2c) == 4,
              "turn 2 line");
        CHECK(t1h == 0 && t1r == 0 && t1k == 0 && t1c == r1.prompt_tokens,
              "turn 1: held %d reused %d cached %d computed %d (prompt %d)", t1h, t1r, t1k, t1c, r1.prompt_tokens);
        printf("test_generate: chat first line '%s'; turn 2 held %d, reused %d, computed %d\n", line1, t2h, t2r, t2c);
        CHECK(t2h == t1c + 3 - 1 && t2r == t2h && t2k == 0 && t2c > 0,
              "turn 2 must reuse every token the session held: held %d, reused %d, computed %d", t2h, t2r, t2c);
        /* the same transcript with --no-kv-cache (nothing reused) */
        snprintf(args, sizeof args, "chat -m '%s' --tokenizer '%s' --chat-template chatml --system S -n 3 %s "
                 "--no-kv-cache", model, tok_path, common);
        char out2[600];
        snprintf(out2, sizeof out2, "%s.nokv", out);
        CHECK(run_cli(args, in, out2, err) == 0, "chat --no-kv-cache failed");
        size_t n2 = 0;
        char *o2 = slurp_file(out2, &n2);
        CHECK(o1 && o2 && n_out == n2 && !memcmp(o1, o2, n2), "chat transcript differs with --no-kv-cache");
        /* and a cold library run of the whole conversation */
        env cold;
        if (env_open(&cold, CHAT_MODEL, 512, 512)) {
            kvlm_chat_message m[4] = {{"system", "S"}, {"user", line1}, {"assistant", r1.text}, {"user", line2}};
            kvlm_generate_result r2;
            if (chat_reply(&cold, m, 4, 3, &r2)) {
                char want[4096];
                int wl = snprintf(want, sizeof want, "%s\n%s\n", r1.text, r2.text);
                CHECK(o1 && (size_t)wl == n_out && !memcmp(o1, want, n_out), "chat transcript differs from a cold run");
                kvlm_generate_result_free(&r2);
            } else {
                CHECK(0, "cold chat reply: %s", kvlm_last_error());
            }
        }
        env_close(&cold);
        free(o1);
        free(o2);
        free(e1);
    }
    kvlm_generate_result_free(&r1);
    env_close(&e);
}

int main(void)
{
    fixture_path(tok_path, sizeof tok_path, "tokenizers/fixture288/tokenizer.json");
    REQUIRE(kvlm_tokenizer_load(tok_path, &tok) == KVLM_OK, "tokenizer: %s", kvlm_last_error());
    REQUIRE(kvlm_tokenizer_n_vocab(tok) == V, "vocab %d", (int)kvlm_tokenizer_n_vocab(tok));
    test_cache_equivalence();
    test_reuse();
    test_stop();
    test_limits();
    test_bad_args();
    test_small_tokenizer();
    bin = getenv("KVLM_BIN");
    if (bin) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/kvlm-test-gen-%d", (int)getpid());
        char cmd[512];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tmpdir);
        if (system(cmd) == 0) test_cli();
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    } else {
        printf("test_generate: KVLM_BIN not set, CLI part skipped\n");
    }
    kvlm_tokenizer_free(tok);
    TEST_MAIN_END("test_generate");
}
