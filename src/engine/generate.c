/*
 * generate.c - the generation loop on one session: prompt reuse, chunked
 * prefill, one-token decode steps, sampling, streaming text with stop
 * strings, and the naive no-KV-cache loop (public API and the exact stop
 * rules: "Generation" section of include/kvlm.h).
 *
 * Buffers (all allocated once per call, before the first token):
 *   seq    [n_prompt + cap]  prompt then generated ids: the sampler's
 *                            penalty history and the no-cache input
 *   logits [n_vocab]         the row the next token is sampled from
 *   acc    growing text      every byte the stream decoder produced for the
 *                            generated tokens (amortised doubling: O(log n)
 *                            reallocations for the whole run)
 *   piece  [3*(max piece + 3) + 1]  one stream_push output
 * (the tokenizer's stream decoder itself still allocates per push.)
 *
 * Invariants of the text state, after each token:
 *   (1) acc[0, emitted) went to on_text, in order, in calls that each end on
 *       a UTF-8 boundary (acc only ever receives whole characters);
 *   (2) no stop string occurs in acc (else the run has finished);
 *   (3) acc[emitted, acc_len) is the longest suffix of acc that is a proper
 *       prefix of some stop string (the held-back text), so no stop string
 *       can start inside acc[0, emitted).
 * A stop string is valid UTF-8 and starts with a lead byte, so a held-back
 * suffix starts on a character boundary too.
 *
 * Session state machine of one call (cached mode):
 *   holds S tokens --truncate(lcp)--> holds lcp --eval(prompt[lcp..n))-->
 *   holds n --(sample t_i, eval t_i)*--> holds n + generated - 1
 * No-cache mode: truncate(0) + eval(seq[0, len)) at every step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"
#include "engine/context.h"
#include "tokenizer/tokenizer.h"

#define KVLM_STOP_MAX_BYTES 1024

kvlm_generate_params kvlm_generate_default_params(void)
{
    kvlm_generate_params p;
    memset(&p, 0, sizeof p);
    p.max_tokens = 256;
    p.prefill_chunk = 512;
    p.sampler = kvlm_sampler_default_params();
    return p;
}

const char *kvlm_finish_reason_name(kvlm_finish_reason r)
{
    switch (r) {
    case KVLM_FINISH_NONE: return "none";
    case KVLM_FINISH_STOP: return "stop";
    case KVLM_FINISH_EOG: return "eog";
    case KVLM_FINISH_LENGTH: return "length";
    case KVLM_FINISH_CONTEXT_FULL: return "context_full";
    case KVLM_FINISH_CANCELLED: return "cancelled";
    }
    return "unknown";
}

void kvlm_generate_result_free(kvlm_generate_result *r)
{
    if (!r) return;
    free(r->tokens);
    free(r->text);
    r->tokens = NULL;
    r->text = NULL;
    r->completion_tokens = 0;
    r->text_len = 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Byte offset of the first invalid UTF-8 byte in s[0, n), or -1. */
static long utf8_check(const char *s, size_t n)
{
    size_t ok = kvlm_utf8_valid_prefix(s, n);
    return ok == n ? -1 : (long)ok;
}

typedef struct gen_state {
    kvlm_session *s;
    const kvlm_tokenizer *tok;
    const kvlm_generate_params *p;
    kvlm_generate_result *r;
    int n_vocab, n_ctx;
    size_t stop_max;          /* longest stop string */
    int32_t *seq;             /* [n_prompt + cap] */
    float *logits;            /* [n_vocab] */
    char *acc;                /* [acc_cap] generated text */
    size_t acc_len, acc_cap, emitted;
    char *piece;              /* [piece_cap] */
    size_t piece_cap;
    bool cancelled;
} gen_state;

static kvlm_status acc_put(gen_state *g, const char *b, size_t n)
{
    if (g->acc_len + n + 1 > g->acc_cap) {
        size_t cap = g->acc_cap ? g->acc_cap : 256;
        while (g->acc_len + n + 1 > cap) cap *= 2;
        char *a = realloc(g->acc, cap);
        if (!a) return kvlm_fail(KVLM_ERR_NOMEM, "generate: out of memory for %zu bytes of text", cap);
        g->acc = a;
        g->acc_cap = cap;
    }
    memcpy(g->acc + g->acc_len, b, n);
    g->acc_len += n;
    g->acc[g->acc_len] = 0;
    return KVLM_OK;
}

/* Earliest stop-string match that may involve bytes from `from` on, or -1. */
static long find_stop(const gen_state *g, size_t from)
{
    long best = -1;
    for (int i = 0; i < g->p->n_stop; i++) {
        const char *st = g->p->stop[i];
        size_t L = strlen(st);
        size_t start = from >= L - 1 ? from - (L - 1) : 0;
        if (start < g->emitted) start = g->emitted; /* invariant (3) */
        for (size_t k = start; k + L <= g->acc_len; k++)
            if (g->acc[k] == st[0] && memcmp(g->acc + k, st, L) == 0) {
                if (best < 0 || (long)k < best) best = (long)k;
                break;
            }
    }
    return best;
}

/* Delivers acc[emitted, upto) to on_text. */
static void emit(gen_state *g, size_t upto)
{
    if (upto <= g->emitted || g->cancelled) return;
    if (g->p->on_text && !g->p->on_text(g->acc + g->emitted, upto - g->emitted, g->p->text_user))
        g->cancelled = true;
    g->emitted = upto;
}

/* Bytes at the end of acc that could start a stop string (invariant (3)). */
static size_t hold_back(const gen_state *g)
{
    size_t hold = 0, avail = g->acc_len - g->emitted;
    for (int i = 0; i < g->p->n_stop; i++) {
        const char *st = g->p->stop[i];
        size_t L = strlen(st);
        size_t k = L - 1 < avail ? L - 1 : avail;
        for (; k > hold; k--)
            if (memcmp(g->acc + g->acc_len - k, st, k) == 0) break;
        if (k > hold) hold = k;
    }
    return hold;
}

/* New decoded bytes arrived at acc[old, acc_len): finish on a stop string,
 * else emit what can no longer start one. Returns true on a stop match. */
static bool text_step(gen_state *g, size_t old, bool final)
{
    long m = g->p->n_stop ? find_stop(g, old) : -1;
    if (m >= 0) {
        emit(g, (size_t)m);
        g->acc_len = (size_t)m;
        g->acc[m] = 0;
        return true;
    }
    emit(g, final ? g->acc_len : g->acc_len - hold_back(g));
    return false;
}

/* Evaluates tokens[0, n) in calls of at most `chunk` tokens, the logits of
 * the last token into g->logits. */
/* Evaluates tokens[0, n) in prefill_chunk pieces; *cached (may be NULL)
 * receives how many were served from the prefix cache. The no-KV-cache
 * loop bypasses the prefix cache: it must recompute everything. */
static kvlm_status eval_chunked(gen_state *g, const int32_t *tokens, int n, int *cached)
{
    int chunk = g->p->prefill_chunk;
    unsigned flags = g->p->no_kv_cache ? KVLM_EVAL_NO_CACHE : 0;
    if (cached) *cached = 0;
    for (int off = 0; off < n; off += chunk) {
        int c = n - off < chunk ? n - off : chunk;
        bool last = off + c == n;
        kvlm_status st = kvlm_session_eval_flags(g->s, tokens + off, c,
                                                 last ? KVLM_LOGITS_LAST : KVLM_LOGITS_NONE,
                                                 last ? g->logits : NULL, flags);
        if (st) return st;
        if (cached) *cached += kvlm_session_cached_tokens(g->s);
    }
    return KVLM_OK;
}

static kvlm_status check_params(const kvlm_generate_params *p)
{
    if (p->prefill_chunk < 1)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "generate: prefill_chunk must be >= 1 (got %d)", p->prefill_chunk);
    if (p->n_stop < 0 || (p->n_stop > 0 && !p->stop))
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "generate: bad stop list (n_stop %d)", p->n_stop);
    for (int i = 0; i < p->n_stop; i++) {
        const char *st = p->stop[i];
        if (!st || !*st) return kvlm_fail(KVLM_ERR_INVALID_ARG, "generate: stop string %d is empty", i);
        size_t L = strlen(st);
        if (L > KVLM_STOP_MAX_BYTES)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "generate: stop string %d is %zu bytes long (at most %d)", i, L,
                             KVLM_STOP_MAX_BYTES);
        long bad = utf8_check(st, L);
        if (bad >= 0)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "generate: stop string %d is not valid UTF-8 (byte offset %ld)", i,
                             bad);
    }
    return KVLM_OK;
}

/* Starts the stream decoder as if in the middle of a text (see kvlm.h):
 * feeds it one non-special prompt token, discarding the output. */
static kvlm_status prime_stream(kvlm_tokenizer_stream *ts, const kvlm_tokenizer *tok, const int32_t *prompt,
                                int n, char *buf, size_t cap)
{
    for (int i = n - 1; i >= 0; i--) {
        if (kvlm_tokenizer_is_special(tok, prompt[i])) continue;
        size_t k;
        kvlm_status st = kvlm_tokenizer_stream_push(ts, prompt[i], buf, cap, &k);
        if (!st) st = kvlm_tokenizer_stream_finish(ts, buf, cap, &k);
        return st;
    }
    return KVLM_OK;
}

kvlm_status kvlm_generate(kvlm_session *session, const kvlm_tokenizer *tok, const int32_t *prompt, int n_prompt,
                          const kvlm_generate_params *params, kvlm_generate_result *result)
{
    if (result) memset(result, 0, sizeof *result);
    if (!session || !tok || !prompt || !result)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_generate: NULL argument");
    kvlm_generate_params defaults = kvlm_generate_default_params();
    const kvlm_generate_params *p = params ? params : &defaults;
    if (n_prompt < 1) return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_generate: empty prompt (n_prompt = %d)", n_prompt);
    kvlm_status st = check_params(p);
    if (st) return st;

    double t0 = now_ms();
    kvlm_context *ctx = session->ctx;
    gen_state g;
    memset(&g, 0, sizeof g);
    g.s = session;
    g.tok = tok;
    g.p = p;
    g.r = result;
    g.n_vocab = ctx->model->info.n_vocab;
    g.n_ctx = ctx->p.n_ctx;
    result->prompt_tokens = n_prompt;
    if (kvlm_tokenizer_n_vocab(tok) > g.n_vocab)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_generate: the tokenizer has %d tokens, the model only %d",
                         (int)kvlm_tokenizer_n_vocab(tok), g.n_vocab);
    if (n_prompt > g.n_ctx)
        return kvlm_fail(KVLM_ERR_CONTEXT_FULL,
                         "kvlm_generate: the prompt has %d tokens, more than the context length %d", n_prompt,
                         g.n_ctx);
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= g.n_vocab)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "kvlm_generate: prompt token %d at index %d is out of range [0, %d)",
                             prompt[i], i, g.n_vocab);

    /* Tokens this call may generate: bounded by max_tokens and the context. */
    int room = g.n_ctx - n_prompt;
    int cap = p->max_tokens >= 0 && p->max_tokens < room ? p->max_tokens : room;

    /* Ids the model has but the tokenizer lacks (padded output rows) can
     * never be decoded: ban them, after the caller's own bias entries. */
    kvlm_sampler *smp = NULL;
    kvlm_tokenizer_stream *ts = NULL;
    kvlm_sampler_params sp = p->sampler;
    int n_tok_vocab = kvlm_tokenizer_n_vocab(tok);
    kvlm_logit_bias *bias = NULL;
    if (n_tok_vocab < g.n_vocab && sp.n_logit_bias >= 0 && (sp.logit_bias || sp.n_logit_bias == 0)) {
        int nb = sp.n_logit_bias + (g.n_vocab - n_tok_vocab);
        bias = malloc((size_t)nb * sizeof *bias);
        if (!bias) return kvlm_fail(KVLM_ERR_NOMEM, "kvlm_generate: out of memory");
        if (sp.n_logit_bias) memcpy(bias, sp.logit_bias, (size_t)sp.n_logit_bias * sizeof *bias);
        for (int i = sp.n_logit_bias, id = n_tok_vocab; i < nb; i++, id++) {
            bias[i].token = id;
            bias[i].bias = -INFINITY;
        }
        sp.logit_bias = bias;
        sp.n_logit_bias = nb;
    }
    st = kvlm_sampler_create(&sp, g.n_vocab, &smp);
    free(bias); /* the sampler copied it */
    if (st) return st;
    size_t max_piece = 0;
    for (int32_t id = 0; id < kvlm_tokenizer_n_vocab(tok); id++) {
        const char *pc;
        size_t l;
        if (kvlm_tokenizer_token_to_piece(tok, id, &pc, &l) == KVLM_OK && l > max_piece) max_piece = l;
    }
    g.piece_cap = 3 * (max_piece + 3) + 1;
    g.seq = malloc(((size_t)n_prompt + (size_t)cap + 1) * sizeof *g.seq);
    g.logits = malloc((size_t)g.n_vocab * sizeof *g.logits);
    g.piece = malloc(g.piece_cap);
    result->tokens = malloc(((size_t)cap + 1) * sizeof *result->tokens);
    if (!g.seq || !g.logits || !g.piece || !result->tokens) {
        st = kvlm_fail(KVLM_ERR_NOMEM, "kvlm_generate: out of memory");
        goto done;
    }
    memcpy(g.seq, prompt, (size_t)n_prompt * sizeof *prompt);
    if ((st = acc_put(&g, "", 0))) goto done;
    if ((st = kvlm_tokenizer_stream_create(tok, 0, &ts))) goto done;
    if ((st = prime_stream(ts, tok, prompt, n_prompt, g.piece, g.piece_cap))) goto done;

    if (n_prompt == g.n_ctx) { /* no room for even one token */
        result->finish_reason = KVLM_FINISH_CONTEXT_FULL;
        goto done;
    }

    /* ---- prefill: keep the longest common prefix, evaluate the rest ---- */
    int lcp = 0;
    if (!p->no_kv_cache) {
        int held = session->n_tokens, lim = n_prompt - 1 < held ? n_prompt - 1 : held;
        while (lcp < lim && session->tokens[lcp] == prompt[lcp]) lcp++;
    }
    if ((st = kvlm_session_truncate(session, lcp))) goto done;
    int cached = 0;
    if ((st = eval_chunked(&g, prompt + lcp, n_prompt - lcp, &cached))) goto done;
    result->prompt_reused_tokens = lcp;
    result->prompt_cached_tokens = cached;
    result->prompt_computed_tokens = n_prompt - lcp - cached;
    double t_prefill = now_ms();
    result->prefill_ms = t_prefill - t0;
    double t_first = t_prefill;
    int n_decode_evals = 0;

    /* ---- decode ---- */
    int n = n_prompt; /* sequence length: seq[0, n) */
    kvlm_finish_reason fin = KVLM_FINISH_NONE;
    if (cap == 0) fin = p->max_tokens == 0 ? KVLM_FINISH_LENGTH : KVLM_FINISH_CONTEXT_FULL;
    while (fin == KVLM_FINISH_NONE) {
        int step = n - n_prompt;
        if (p->on_logits) p->on_logits(step, g.logits, g.n_vocab, p->logits_user);
        int32_t t;
        if ((st = kvlm_sampler_sample(smp, g.logits, g.seq, n, &t))) break;
        g.seq[n++] = t;
        result->tokens[result->completion_tokens++] = t;
        if (step == 0) {
            t_first = now_ms();
            result->ttft_ms = t_first - t0;
        }
        if (kvlm_tokenizer_is_eog(tok, t)) {
            fin = KVLM_FINISH_EOG;
            break;
        }
        size_t k, old = g.acc_len;
        if ((st = kvlm_tokenizer_stream_push(ts, t, g.piece, g.piece_cap, &k))) break;
        if ((st = acc_put(&g, g.piece, k))) break;
        if (text_step(&g, old, false)) fin = KVLM_FINISH_STOP;
        else if (g.cancelled) fin = KVLM_FINISH_CANCELLED;
        else if (p->max_tokens >= 0 && n - n_prompt >= p->max_tokens) fin = KVLM_FINISH_LENGTH;
        else if (n >= g.n_ctx) fin = KVLM_FINISH_CONTEXT_FULL;
        if (fin) break;
        if (p->no_kv_cache) {
            if ((st = kvlm_session_truncate(session, 0))) break;
            st = eval_chunked(&g, g.seq, n, NULL);
        } else {
            st = kvlm_session_eval(session, &t, 1, KVLM_LOGITS_LAST, g.logits);
        }
        if (st) break;
        n_decode_evals++;
    }
    /* The tail: a dangling incomplete character becomes U+FFFD. */
    if (!st && (fin == KVLM_FINISH_EOG || fin == KVLM_FINISH_LENGTH || fin == KVLM_FINISH_CONTEXT_FULL)) {
        size_t k, old = g.acc_len;
        if (!(st = kvlm_tokenizer_stream_finish(ts, g.piece, g.piece_cap, &k)) && !(st = acc_put(&g, g.piece, k)))
            if (text_step(&g, old, true)) fin = KVLM_FINISH_STOP;
        /* a false return from this last delivery cancels nothing: the run
         * had already ended, and every byte was delivered */
    }
    if (fin == KVLM_FINISH_CANCELLED) g.acc_len = g.emitted, g.acc[g.acc_len] = 0;
    result->finish_reason = fin;
    double t_end = now_ms();
    result->decode_ms = result->completion_tokens ? t_end - t_first : 0;
    if (result->prefill_ms > 0)
        result->prefill_tokens_per_s = result->prompt_computed_tokens / (result->prefill_ms * 1e-3);
    if (n_decode_evals > 0 && result->decode_ms > 0)
        result->decode_tokens_per_s = n_decode_evals / (result->decode_ms * 1e-3);

done:
    result->kv_bytes = (uint64_t)session->n_tokens * kvlm_model_kv_bytes_per_token(ctx->model, ctx->p.kv_type);
    result->text = g.acc ? g.acc : calloc(1, 1);
    result->text_len = g.acc ? g.acc_len : 0;
    kvlm_tokenizer_stream_free(ts);
    kvlm_sampler_free(smp);
    free(g.seq);
    free(g.logits);
    free(g.piece);
    return st;
}
