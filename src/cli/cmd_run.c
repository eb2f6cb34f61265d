/*
 * cmd_run.c - `kvlm run`: generate a continuation of one prompt.
 *
 *   kvlm run -m MODEL (-p PROMPT | -f FILE) [-n N] [sampling options]
 *            [--stop STR]... [--threads N] [--ctx N] [--prefill-chunk N]
 *            [--kv-type T] [--no-kv-cache] [--no-bos] [--special] [--json]
 *            [--prefix-cache] [--kv-memory MB] [--kv-block-size N]
 *            [--cache-namespace NS] [--session FILE] [--verbose]
 *
 * Text streams to stdout as it is generated (each write complete UTF-8,
 * flushed); timings go to stderr. --json prints one object instead.
 * The prompt must be non-empty valid UTF-8 (an invalid byte is reported
 * with its offset and the run refused: a prompt the user did not mean is
 * worse than an error) and fit the context. Exit codes: 0, 1 runtime, 2
 * usage or input (see gen_common.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define RUN_USAGE                                                                                        \
    "usage: kvlm run -m MODEL (-p PROMPT | -f FILE) [--tokenizer PATH] [-n N] [--temp T] [--top-k K] [--top-p P]\n"         \
    "                [--min-p P] [--repeat-penalty R] [--repeat-last-n N] [--presence-penalty P]\n"     \
    "                [--frequency-penalty F] [--seed S] [--stop STR]... [--threads N] [--ctx N]\n"      \
    "                [--prefill-chunk N] [--kv-type f32|f16|bf16|q8_0] [--no-kv-cache] [--no-bos]\n"    \
    "                [--special] [--json] [--verbose] [--prefix-cache] [--kv-memory MB]\n"   \
    "                [--kv-block-size N] [--cache-namespace NS] [--session FILE]\n"

static bool stream_out(const char *text, size_t len, void *user)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

int cmd_run(int argc, char **argv)
{
    cli_gen_opts o;
    cli_gen_opts_init(&o);
    /* One request per process: no other request could reuse its blocks.
     * --prefix-cache turns it on. */
    o.no_prefix_cache = true;
    const char *prompt = NULL, *file = NULL;
    bool json = false, special = false;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_gen_parse_option("run", argc, argv, &i, &o);
        if (r < 0) { rc = 2; goto out; }
        if (r > 0) continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && v) prompt = argv[++i];
        else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && v) file = argv[++i];
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--special")) special = true;
        else {
            fprintf(stderr, "kvlm run: unknown or incomplete option '%s'\n" RUN_USAGE, a);
            rc = 2;
            goto out;
        }
    }
    if (!o.model && !(o.model = cli_demo_model())) {
        fprintf(stderr, "kvlm run: no model given (-m MODEL) and the bundled demo model was not found "
                "(set KVLM_DEMO_MODEL to its path)\n");
        rc = 2;
        goto out;
    }
    if (!prompt == !file) {
        fprintf(stderr, "kvlm run: give the prompt with exactly one of -p PROMPT or -f FILE\n" RUN_USAGE);
        rc = 2;
        goto out;
    }
    if ((rc = cli_gen_validate("run", &o))) goto out;

    size_t len = 0;
    char *owned = NULL;
    if (file) {
        owned = cli_read_file(file, &len);
        if (!owned) {
            fprintf(stderr, "kvlm run: cannot read the prompt file %s\n", file);
            rc = 2;
            goto out;
        }
        prompt = owned;
    } else {
        len = strlen(prompt);
    }
    size_t bad;
    if (len == 0) {
        fprintf(stderr, "kvlm run: the prompt is empty\n");
        rc = 2;
    } else if (!cli_utf8_check(prompt, len, &bad)) {
        fprintf(stderr, "kvlm run: the prompt is not valid UTF-8: byte 0x%02x at offset %zu\n",
                (unsigned)(unsigned char)prompt[bad], bad);
        rc = 2;
    }
    if (rc) { free(owned); goto out; }

    cli_gen_handles h;
    if ((rc = cli_gen_open("run", &o, &h))) { free(owned); goto out; }
    int32_t *ids = NULL;
    size_t n = 0;
    unsigned flags = (o.no_bos ? 0 : KVLM_TOKENIZE_ADD_SPECIAL) | (special ? KVLM_TOKENIZE_PARSE_SPECIAL : 0);
    if (kvlm_tokenizer_encode_alloc(h.tok, prompt, len, flags, &ids, &n) != KVLM_OK) {
        fprintf(stderr, "kvlm run: cannot tokenize the prompt: %s\n", kvlm_last_error());
        rc = 1;
    } else if (n == 0) {
        fprintf(stderr, "kvlm run: the prompt gives no tokens\n");
        rc = 2;
    } else if (n > (size_t)h.n_ctx) {
        fprintf(stderr, "kvlm run: the prompt has %zu tokens, more than the context length %d (--ctx)\n", n, h.n_ctx);
        rc = 2;
    }
    free(owned);
    if (rc) { free(ids); cli_gen_close(&h); goto out; }

    if (!json) o.gp.on_text = stream_out;
    kvlm_generate_result res;
    kvlm_status st = kvlm_generate(h.session, h.tok, ids, (int)n, &o.gp, &res);
    if (st != KVLM_OK) {
        if (!json) putchar('\n');
        fprintf(stderr, "kvlm run: generation failed after %d tokens: %s\n", res.completion_tokens, kvlm_last_error());
        rc = 1;
    } else if (json) {
        printf("{\"tokens\": [");
        for (int i = 0; i < res.completion_tokens; i++) printf("%s%d", i ? ", " : "", res.tokens[i]);
        printf("], \"text\": ");
        cli_json_string_n(res.text, res.text_len);
        printf(", \"prompt_tokens\": %d, \"completion_tokens\": %d, \"ttft_ms\": %.3f, "
               "\"prefill_tokens_per_s\": %.3f, \"decode_tokens_per_s\": %.3f, \"kv_bytes\": %llu, "
               "\"finish_reason\": \"%s\", \"cached_tokens\": %d, \"prompt_computed_tokens\": %d}\n",
               res.prompt_tokens, res.completion_tokens, res.ttft_ms, res.prefill_tokens_per_s,
               res.decode_tokens_per_s, (unsigned long long)res.kv_bytes, kvlm_finish_reason_name(res.finish_reason),
               res.prompt_reused_tokens + res.prompt_cached_tokens, res.prompt_computed_tokens);
    } else {
        putchar('\n');
        fflush(stdout);
        cli_gen_print_timings("run", &res);
        if (o.verbose) cli_gen_print_cache_stats("run", &h);
    }
    if (st == KVLM_OK) cli_gen_save_session("run", &o, &h);
    if (st == KVLM_OK && res.finish_reason == KVLM_FINISH_CONTEXT_FULL)
        fprintf(stderr, "kvlm run: stopped: the context is full (%d tokens; raise --ctx)\n", h.n_ctx);
    kvlm_generate_result_free(&res);
    free(ids);
    cli_gen_close(&h);
out:
    cli_gen_opts_free(&o);
    return rc;
}
