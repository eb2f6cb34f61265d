/*
 * gen_common.c - what `kvlm run` and `kvlm chat` share: the generation and
 * sampling options, early validation (a usage error is reported before the
 * model is loaded where possible), loading model + tokenizer + context +
 * session, the UTF-8 check for user text, and the timing line.
 *
 * Exit-code policy for both commands: 2 for anything wrong in what the user
 * typed (options, values, empty/invalid-UTF-8/too-long prompt), 1 for
 * runtime failures (model file, memory, a generation error).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tokenizer/tokenizer.h"

void cli_gen_opts_init(cli_gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->gp = kvlm_generate_default_params();
    o->cp = kvlm_context_default_params();
    o->gp.max_tokens = -1; /* CLI default: until EOG or the context is full */
    o->prefill_chunk = 512;
}

void cli_gen_opts_free(cli_gen_opts *o) { free(o->stops); }

static bool parse_float(const char *s, float *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (*end || errno == ERANGE) return false;
    *out = v;
    return true;
}

static int bad_value(const char *cmd, const char *opt, const char *v, const char *want)
{
    fprintf(stderr, "kvlm %s: invalid value '%s' for %s (%s)\n", cmd, v, opt, want);
    return -1;
}

int cli_gen_parse_option(const char *cmd, int argc, char **argv, int *i, cli_gen_opts *o)
{
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    long long n;
    float f;
    /* flags without a value */
    if (!strcmp(a, "--no-kv-cache")) { o->gp.no_kv_cache = true; return 1; }
    if (!strcmp(a, "--no-bos")) { o->no_bos = true; return 1; }
    if (!strcmp(a, "--verbose")) { o->verbose = true; return 1; }
    if (!strcmp(a, "--no-prefix-cache")) { o->no_prefix_cache = true; return 1; }
    if (!strcmp(a, "--prefix-cache")) { o->no_prefix_cache = false; return 1; }

    static const char *const with_value[] = {
        "-m", "--model", "--tokenizer", "-n", "--max-tokens", "--temp", "--top-k", "--top-p", "--min-p",
        "--repeat-penalty", "--presence-penalty", "--frequency-penalty", "--repeat-last-n", "--seed",
        "--stop", "--threads", "--ctx", "--prefill-chunk", "--kv-type", "--kv-memory", "--kv-block-size",
        "--cache-namespace", "--session"};
    bool known = false;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
        if (!strcmp(a, with_value[k])) known = true;
    if (!known) return 0;
    if (!v) {
        fprintf(stderr, "kvlm %s: %s needs a value\n", cmd, a);
        return -1;
    }
    (*i)++;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
    else if (!strcmp(a, "--tokenizer")) o->tokenizer = v;
    else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
        if (!cli_parse_int(v, -1, INT_MAX, &n)) return bad_value(cmd, a, v, "an integer >= -1; -1: until the context is full");
        o->gp.max_tokens = (int)n;
    } else if (!strcmp(a, "--top-k")) {
        if (!cli_parse_int(v, INT_MIN, INT_MAX, &n)) return bad_value(cmd, a, v, "an integer");
        o->gp.sampler.top_k = (int)n;
    } else if (!strcmp(a, "--repeat-last-n")) {
        if (!cli_parse_int(v, INT_MIN, INT_MAX, &n)) return bad_value(cmd, a, v, "an integer");
        o->gp.sampler.penalty_last_n = (int)n;
    } else if (!strcmp(a, "--seed")) {
        if (!cli_parse_int(v, 0, LLONG_MAX, &n)) return bad_value(cmd, a, v, "a non-negative integer");
        o->gp.sampler.seed = (uint64_t)n;
    } else if (!strcmp(a, "--threads")) {
        if (!cli_parse_int(v, 0, 1024, &n)) return bad_value(cmd, a, v, "0..1024; 0: all CPUs");
        o->cp.n_threads = (int)n;
    } else if (!strcmp(a, "--ctx")) {
        if (!cli_parse_int(v, 0, 1 << 24, &n)) return bad_value(cmd, a, v, "0..16777216; 0: the model's trained length");
        o->cp.n_ctx = (int)n;
    } else if (!strcmp(a, "--prefill-chunk")) {
        if (!cli_parse_int(v, 1, 1 << 16, &n)) return bad_value(cmd, a, v, "1..65536");
        o->prefill_chunk = (int)n;
    } else if (!strcmp(a, "--kv-memory")) {
        if (!cli_parse_int(v, 1, 1 << 24, &n)) return bad_value(cmd, a, v, "MiB of KV cache, 1..16777216");
        o->cp.kv_memory_bytes = (uint64_t)n << 20;
    } else if (!strcmp(a, "--kv-block-size")) {
        if (!cli_parse_int(v, 1, 4096, &n)) return bad_value(cmd, a, v, "tokens per KV block, 1..4096");
        o->cp.kv_block_size = (int)n;
    } else if (!strcmp(a, "--cache-namespace")) {
        if (strlen(v) > 256) return bad_value(cmd, a, "(long)", "at most 256 bytes");
        o->cache_namespace = v;
    } else if (!strcmp(a, "--session")) {
        o->session_file = v;
    } else if (!strcmp(a, "--kv-type")) {
        if (!cli_parse_kv_type(v, &o->cp.kv_type)) return bad_value(cmd, a, v, "f32, f16, bf16 or q8_0");
    } else if (!strcmp(a, "--stop")) {
        size_t L = strlen(v), bad;
        if (!L) return bad_value(cmd, a, v, "a non-empty string");
        if (!cli_utf8_check(v, L, &bad)) return bad_value(cmd, a, "(binary)", "not valid UTF-8");
        const char **s = realloc(o->stops, (size_t)(o->n_stops + 1) * sizeof *s);
        if (!s) return bad_value(cmd, a, v, "out of memory");
        o->stops = s;
        o->stops[o->n_stops++] = v;
        o->gp.stop = o->stops;
        o->gp.n_stop = o->n_stops;
    } else {
        if (!parse_float(v, &f)) return bad_value(cmd, a, v, "a number");
        if (!strcmp(a, "--temp")) o->gp.sampler.temperature = f;
        else if (!strcmp(a, "--top-p")) o->gp.sampler.top_p = f;
        else if (!strcmp(a, "--min-p")) o->gp.sampler.min_p = f;
        else if (!strcmp(a, "--repeat-penalty")) o->gp.sampler.repetition_penalty = f;
        else if (!strcmp(a, "--presence-penalty")) o->gp.sampler.presence_penalty = f;
        else if (!strcmp(a, "--frequency-penalty")) o->gp.sampler.frequency_penalty = f;
    }
    return 1;
}

int cli_gen_validate(const char *cmd, cli_gen_opts *o)
{
    kvlm_sampler *s = NULL;
    if (kvlm_sampler_create(&o->gp.sampler, 1, &s) != KVLM_OK) {
        fprintf(stderr, "kvlm %s: invalid sampling parameters: %s\n", cmd, kvlm_last_error());
        return 2;
    }
    kvlm_sampler_free(s);
    /* a forward pass holds min(prefill chunk, n_batch) tokens: size the
     * context's batch for the chunk asked for */
    o->gp.prefill_chunk = o->prefill_chunk;
    o->cp.n_batch = o->prefill_chunk;
    return 0;
}

int cli_gen_open(const char *cmd, cli_gen_opts *o, cli_gen_handles *h)
{
    memset(h, 0, sizeof *h);
    h->model = cli_load_model(cmd, o->model);
    if (!h->model) return 1;
    const char *tp = o->tokenizer ? o->tokenizer : o->model;
    if (kvlm_tokenizer_load(tp, &h->tok) != KVLM_OK) {
        fprintf(stderr, "kvlm %s: cannot load the tokenizer from %s: %s\n", cmd, tp, kvlm_last_error());
        cli_gen_close(h);
        return 1;
    }
    o->cp.prefix_cache = !o->no_prefix_cache;
    if (kvlm_context_create(h->model, &o->cp, &h->ctx) != KVLM_OK) {
        fprintf(stderr, "kvlm %s: cannot create a context: %s\n", cmd, kvlm_last_error());
        cli_gen_close(h);
        return 1;
    }
    kvlm_session_params sp = kvlm_session_default_params();
    sp.cache_namespace = o->cache_namespace;
    if (kvlm_session_create_ex(h->ctx, &sp, &h->session) != KVLM_OK) {
        fprintf(stderr, "kvlm %s: cannot create a session: %s\n", cmd, kvlm_last_error());
        cli_gen_close(h);
        return 1;
    }
    /* A saved session is a cache: when it cannot be used (missing, other
     * model, corrupted) the run starts cold. */
    if (o->session_file) {
        kvlm_status ls = kvlm_session_load(h->session, o->session_file);
        if (ls == KVLM_OK) {
            if (o->verbose)
                fprintf(stderr, "kvlm %s: loaded %d tokens of KV from %s\n", cmd,
                        kvlm_session_n_tokens(h->session), o->session_file);
        } else if (ls != KVLM_ERR_IO || o->verbose) {
            fprintf(stderr, "kvlm %s: starting without the saved session: %s\n", cmd, kvlm_last_error());
        }
    }
    kvlm_model_info mi;
    kvlm_model_get_info(h->model, &mi);
    if (kvlm_tokenizer_n_vocab(h->tok) > mi.n_vocab) {
        fprintf(stderr, "kvlm %s: the tokenizer has %d tokens but the model only %d: they do not belong together\n",
                cmd, (int)kvlm_tokenizer_n_vocab(h->tok), mi.n_vocab);
        cli_gen_close(h);
        return 1;
    }
    h->n_ctx = kvlm_context_get_params(h->ctx).n_ctx;
    return 0;
}

void cli_gen_save_session(const char *cmd, const cli_gen_opts *o, const cli_gen_handles *h)
{
    if (!o->session_file || !h->session) return;
    if (kvlm_session_save(h->session, o->session_file) != KVLM_OK)
        fprintf(stderr, "kvlm %s: warning: cannot save the session: %s\n", cmd, kvlm_last_error());
    else if (o->verbose)
        fprintf(stderr, "kvlm %s: saved %d tokens of KV to %s\n", cmd, kvlm_session_n_tokens(h->session),
                o->session_file);
}

void cli_gen_print_cache_stats(const char *cmd, const cli_gen_handles *h)
{
    kvlm_cache_stats s;
    kvlm_context_cache_stats(h->ctx, &s);
    fprintf(stderr,
            "kvlm %s: prefix cache: %llu lookups, %llu tokens hit, %llu computed; blocks of %d tokens: "
            "%d used, %d cached, %d free of %d; %llu evicted, %llu copied\n",
            cmd, (unsigned long long)s.lookups, (unsigned long long)s.hit_tokens, (unsigned long long)s.miss_tokens,
            s.block_size, s.blocks_used, s.blocks_cached, s.blocks_free, s.blocks_total,
            (unsigned long long)s.evictions, (unsigned long long)s.cow_copies);
}

void cli_gen_close(cli_gen_handles *h)
{
    kvlm_session_free(h->session);
    kvlm_context_free(h->ctx);
    kvlm_tokenizer_free(h->tok);
    kvlm_model_free(h->model);
    memset(h, 0, sizeof *h);
}

bool cli_utf8_check(const char *s, size_t n, size_t *bad_offset)
{
    size_t ok = kvlm_utf8_valid_prefix(s, n);
    if (bad_offset) *bad_offset = ok;
    return ok == n;
}

void cli_gen_print_timings(const char *cmd, const kvlm_generate_result *r)
{
    fprintf(stderr,
            "kvlm %s: prompt %d tokens (%d reused, %d cached, %d computed), generated %d, finish %s\n"
            "kvlm %s: TTFT %.1f ms, prefill %.1f tok/s, decode %.1f tok/s, KV %llu bytes\n",
            cmd, r->prompt_tokens, r->prompt_reused_tokens, r->prompt_cached_tokens, r->prompt_computed_tokens,
            r->completion_tokens,
            kvlm_finish_reason_name(r->finish_reason), cmd, r->ttft_ms, r->prefill_tokens_per_s,
            r->decode_tokens_per_s, (unsigned long long)r->kv_bytes);
}

void cli_json_string_n(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}
