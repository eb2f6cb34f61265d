/*
 * cmd_chat.c - `kvlm chat`: multi-turn chat that keeps one KV cache.
 *
 *   kvlm chat -m MODEL [--system S] [--chat-template NAME] [-n N]
 *             [sampling options] [--stop STR]... [--threads N] [--ctx N]
 *             [--prefill-chunk N] [--kv-type T] [--no-kv-cache] [--verbose]
 *             [--no-prefix-cache] [--kv-memory MB] [--kv-block-size N]
 *             [--cache-namespace NS] [--session FILE]
 *
 * One user turn per stdin line (a "> " prompt only when stdin is a
 * terminal; empty lines are skipped; EOF ends the chat). Each turn:
 *   1. the whole conversation (system, user/assistant turns, the new user
 *      line) is rendered with the chat template and add_generation_prompt;
 *   2. the rendering is tokenized with PARSE_SPECIAL and without
 *      ADD_SPECIAL (the template writes BOS itself where the model has one);
 *   3. kvlm_generate on the ONE session of the chat: it keeps the longest
 *      common prefix of what the session holds and the new rendering and
 *      evaluates only the rest (truncating where the rendering diverges,
 *      e.g. when a reply does not re-tokenize to the generated ids);
 *   4. the reply text (no EOG token text, no stop string) is printed and
 *      appended to the history as the assistant message.
 * --verbose prints per turn on stderr:
 *   "[turn K] held H, reused R, cached K, computed C, generated G, finish F"
 * where H is what the session held before the turn and K the tokens served
 * from the prefix cache (and a line of cache counters). A turn whose rendering
 * extends the previous one reuses R == H tokens.
 * Exit codes: 0, 1 runtime (incl. a full context), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define CHAT_USAGE                                                                                       \
    "usage: kvlm chat -m MODEL [--system S] [--chat-template NAME] [--tokenizer PATH] [-n N] [--temp T] [--top-k K]\n"     \
    "                 [--top-p P] [--min-p P] [--repeat-penalty R] [--presence-penalty P]\n"            \
    "                 [--frequency-penalty F] [--seed S] [--stop STR]... [--threads N] [--ctx N]\n"     \
    "                 [--prefill-chunk N] [--kv-type T] [--no-kv-cache] [--verbose]\n"                  \
    "                 [--no-prefix-cache] [--kv-memory MB] [--kv-block-size N] [--cache-namespace NS]\n"   \
    "                 [--session FILE]\n"                  \
    "templates: chatml, llama3, llama3.1, llama2, mistral, gemma, phi3\n"

static bool stream_out(const char *text, size_t len, void *user)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

typedef struct history {
    kvlm_chat_message *m;
    size_t n, cap;
} history;

static bool history_add(history *h, const char *role, const char *content, size_t len)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        kvlm_chat_message *m = realloc(h->m, cap * sizeof *m);
        if (!m) return false;
        h->m = m;
        h->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return false;
    memcpy(c, content, len);
    c[len] = 0;
    h->m[h->n].role = role;
    h->m[h->n].content = c;
    h->n++;
    return true;
}

static void history_free(history *h)
{
    for (size_t i = 0; i < h->n; i++) free((char *)h->m[i].content);
    free(h->m);
}

int cmd_chat(int argc, char **argv)
{
    cli_gen_opts o;
    cli_gen_opts_init(&o);
    const char *system_prompt = NULL, *tmpl = NULL;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_gen_parse_option("chat", argc, argv, &i, &o);
        if (r < 0) { rc = 2; goto out; }
        if (r > 0) continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--system") && v) system_prompt = argv[++i];
        else if (!strcmp(a, "--chat-template") && v) tmpl = argv[++i];
        else {
            fprintf(stderr, "kvlm chat: unknown or incomplete option '%s'\n" CHAT_USAGE, a);
            rc = 2;
            goto out;
        }
    }
    if (!o.model && !(o.model = cli_demo_model())) {
        fprintf(stderr, "kvlm chat: no model given (-m MODEL) and the bundled demo model was not found "
                "(set KVLM_DEMO_MODEL to its path)\n");
        rc = 2;
        goto out;
    }
    size_t bad;
    if (system_prompt && !cli_utf8_check(system_prompt, strlen(system_prompt), &bad)) {
        fprintf(stderr, "kvlm chat: --system is not valid UTF-8 (byte offset %zu)\n", bad);
        rc = 2;
        goto out;
    }
    if ((rc = cli_gen_validate("chat", &o))) goto out;

    cli_gen_handles h;
    if ((rc = cli_gen_open("chat", &o, &h))) goto out;
    if (!tmpl && !kvlm_tokenizer_chat_template_name(h.tok)) {
        fprintf(stderr, "kvlm chat: %s has no chat template kvlm recognises; choose one with --chat-template NAME\n"
                        "(chatml, llama3, llama3.1, llama2, mistral, gemma, phi3)\n", o.model);
        cli_gen_close(&h);
        rc = 2;
        goto out;
    }
    history hist = {0};
    if (system_prompt && !history_add(&hist, "system", system_prompt, strlen(system_prompt))) {
        fprintf(stderr, "kvlm chat: out of memory\n");
        rc = 1;
    }
    /* Check the template name once, on the system prompt (or nothing). */
    if (!rc) {
        char *r = NULL;
        size_t rl;
        if (kvlm_chat_render(h.tok, tmpl, hist.m, hist.n, true, &r, &rl) != KVLM_OK) {
            fprintf(stderr, "kvlm chat: cannot render the chat template: %s\n", kvlm_last_error());
            rc = 2;
        }
        free(r);
    }

    bool tty = isatty(STDIN_FILENO);
    o.gp.on_text = stream_out;
    char *line = NULL;
    size_t line_cap = 0;
    int turn = 0;
    while (!rc) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got < 0) break;
        size_t len = (size_t)got;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        if (len == 0) continue;
        if (!cli_utf8_check(line, len, &bad)) {
            fprintf(stderr, "kvlm chat: line ignored: not valid UTF-8 (byte offset %zu)\n", bad);
            continue;
        }
        if (!history_add(&hist, "user", line, len)) {
            fprintf(stderr, "kvlm chat: out of memory\n");
            rc = 1;
            break;
        }
        turn++;
        char *text = NULL;
        size_t tl = 0;
        int32_t *ids = NULL;
        size_t n = 0;
        if (kvlm_chat_render(h.tok, tmpl, hist.m, hist.n, true, &text, &tl) != KVLM_OK ||
            kvlm_tokenizer_encode_alloc(h.tok, text, tl, KVLM_TOKENIZE_PARSE_SPECIAL, &ids, &n) != KVLM_OK) {
            fprintf(stderr, "kvlm chat: turn %d: %s\n", turn, kvlm_last_error());
            free(text);
            rc = 1;
            break;
        }
        free(text);
        if (n > (size_t)h.n_ctx) {
            fprintf(stderr, "kvlm chat: the conversation (%zu tokens) no longer fits the context of %d tokens "
                            "(--ctx); start a new chat\n", n, h.n_ctx);
            free(ids);
            rc = 1;
            break;
        }
        int held = kvlm_session_n_tokens(h.session);
        kvlm_generate_result res;
        kvlm_status st = kvlm_generate(h.session, h.tok, ids, (int)n, &o.gp, &res);
        free(ids);
        putchar('\n');
        fflush(stdout);
        if (st != KVLM_OK) {
            fprintf(stderr, "kvlm chat: turn %d: generation failed: %s\n", turn, kvlm_last_error());
            rc = 1;
        } else {
            if (o.verbose) {
                fprintf(stderr, "[turn %d] held %d, reused %d, cached %d, computed %d, generated %d, finish %s\n",
                        turn, held, res.prompt_reused_tokens, res.prompt_cached_tokens, res.prompt_computed_tokens,
                        res.completion_tokens, kvlm_finish_reason_name(res.finish_reason));
                cli_gen_print_timings("chat", &res);
                cli_gen_print_cache_stats("chat", &h);
            }
            if (!history_add(&hist, "assistant", res.text, res.text_len)) {
                fprintf(stderr, "kvlm chat: out of memory\n");
                rc = 1;
            } else if (res.finish_reason == KVLM_FINISH_CONTEXT_FULL) {
                fprintf(stderr, "kvlm chat: the context is full (%d tokens, --ctx); start a new chat\n", h.n_ctx);
                rc = 1;
            }
        }
        kvlm_generate_result_free(&res);
    }
    cli_gen_save_session("chat", &o, &h);
    free(line);
    history_free(&hist);
    cli_gen_close(&h);
out:
    cli_gen_opts_free(&o);
    return rc;
}
