/*
 * cmd_perplexity.c - `kvlm perplexity`: how well a model predicts a text.
 *
 *   kvlm perplexity [-m MODEL] -f TEXT [--ctx N] [--stride S] [--kv-type T]
 *                   [--threads T] [--tokenizer P] [--add-bos | --no-bos] [--json]
 *
 * Tokenizes the file (BOS by the tokenizer's rule; --add-bos forces the BOS
 * token in front, --no-bos leaves it out), then kvlm_perplexity() scores
 * every token after the first exactly once with sliding windows of --ctx
 * tokens advanced by --stride (the window rule is in include/kvlm.h,
 * "Perplexity"). Prints tokens scored, mean NLL in nats, perplexity, bits
 * per byte (the scored tokens' NLL in bits over the bytes of their text)
 * and tokens/s; --json prints one object instead. Progress goes to stderr
 * when stderr is a terminal.
 *
 * Input rules: the file must exist, be non-empty valid UTF-8 and give at
 * least 2 tokens; --ctx in [1, the model's trained context] (default: the
 * trained context, at most 4096), --stride in [1, ctx] (default ctx / 2).
 * Exit codes: 0, 1 runtime failure (model, tokenizer, memory), 2 usage or
 * input error.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define PPL_USAGE                                                                                     \
    "usage: kvlm perplexity [-m MODEL] -f TEXT [--ctx N] [--stride S] [--kv-type f32|f16|bf16|q8_0]\n" \
    "                       [--threads T] [--tokenizer PATH] [--add-bos | --no-bos] [--json]\n"

static bool show_progress(int done, int total, void *user)
{
    (void)user;
    fprintf(stderr, "\rperplexity: window %d/%d", done, total);
    if (done == total) fprintf(stderr, "\r\033[K");
    return true;
}

int cmd_perplexity(int argc, char **argv)
{
    const char *path = NULL, *file = NULL, *tokp = NULL;
    long long ctx_arg = 0, stride_arg = 0, threads = 0;
    bool json = false, add_bos = false, no_bos = false, have_stride = false;
    kvlm_dtype kv = KVLM_DTYPE_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool val = !strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-f") || !strcmp(a, "--file") ||
                   !strcmp(a, "--ctx") || !strcmp(a, "--stride") || !strcmp(a, "--kv-type") ||
                   !strcmp(a, "--threads") || !strcmp(a, "-t") || !strcmp(a, "--tokenizer");
        if (val && !v) {
            fprintf(stderr, "kvlm perplexity: %s needs a value\n" PPL_USAGE, a);
            return 2;
        }
        if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--add-bos")) add_bos = true;
        else if (!strcmp(a, "--no-bos")) no_bos = true;
        else if (!val) {
            fprintf(stderr, "kvlm perplexity: unknown option '%s'\n" PPL_USAGE, a);
            return 2;
        } else {
            i++;
            if (!strcmp(a, "-m") || !strcmp(a, "--model")) path = v;
            else if (!strcmp(a, "-f") || !strcmp(a, "--file")) file = v;
            else if (!strcmp(a, "--tokenizer")) tokp = v;
            else if (!strcmp(a, "--kv-type")) {
                if (!cli_parse_kv_type(v, &kv)) {
                    fprintf(stderr, "kvlm perplexity: invalid --kv-type '%s' (f32, f16, bf16 or q8_0)\n", v);
                    return 2;
                }
            } else if (!strcmp(a, "--ctx")) {
                if (!cli_parse_int(v, 1, 1 << 24, &ctx_arg)) {
                    fprintf(stderr, "kvlm perplexity: invalid --ctx '%s' (an integer >= 1)\n", v);
                    return 2;
                }
            } else if (!strcmp(a, "--stride")) {
                if (!cli_parse_int(v, 1, 1 << 24, &stride_arg)) {
                    fprintf(stderr, "kvlm perplexity: invalid --stride '%s' (an integer >= 1)\n", v);
                    return 2;
                }
                have_stride = true;
            } else {
                if (!cli_parse_int(v, 0, 1024, &threads)) {
                    fprintf(stderr, "kvlm perplexity: invalid --threads '%s' (0..1024; 0: all CPUs)\n", v);
                    return 2;
                }
            }
        }
    }
    if (add_bos && no_bos) {
        fprintf(stderr, "kvlm perplexity: --add-bos and --no-bos contradict each other\n");
        return 2;
    }
    if (!file) {
        fprintf(stderr, "kvlm perplexity: no text file given (-f TEXT)\n" PPL_USAGE);
        return 2;
    }
    if (!path && !(path = cli_demo_model())) {
        fprintf(stderr, "kvlm perplexity: no model given (-m MODEL) and the bundled demo model was not found\n");
        return 2;
    }
    if (ctx_arg && have_stride && stride_arg > ctx_arg) {
        fprintf(stderr, "kvlm perplexity: --stride %lld is larger than --ctx %lld (the windows would skip tokens)\n",
                stride_arg, ctx_arg);
        return 2;
    }

    size_t len = 0;
    char *text = cli_read_file(file, &len);
    if (!text) {
        fprintf(stderr, "kvlm perplexity: cannot read the text file %s\n", file);
        return 2;
    }
    size_t bad;
    if (len == 0) {
        fprintf(stderr, "kvlm perplexity: the text file %s is empty\n", file);
        free(text);
        return 2;
    }
    if (!cli_utf8_check(text, len, &bad)) {
        fprintf(stderr, "kvlm perplexity: %s is not valid UTF-8 (byte offset %zu)\n", file, bad);
        free(text);
        return 2;
    }

    int rc = 1;
    kvlm_model *m = NULL;
    kvlm_tokenizer *tok = NULL;
    kvlm_context *ctx = NULL;
    int32_t *ids = NULL, *all = NULL;
    size_t n_ids = 0;
    if (!(m = cli_load_model("perplexity", path))) goto out;
    const char *tp = tokp ? tokp : path;
    if (kvlm_tokenizer_load(tp, &tok) != KVLM_OK) {
        fprintf(stderr, "kvlm perplexity: cannot load the tokenizer from %s: %s\n", tp, kvlm_last_error());
        goto out;
    }
    kvlm_model_info mi;
    kvlm_model_get_info(m, &mi);
    if (kvlm_tokenizer_n_vocab(tok) > mi.n_vocab) {
        fprintf(stderr, "kvlm perplexity: the tokenizer has %d tokens but the model only %d\n",
                (int)kvlm_tokenizer_n_vocab(tok), mi.n_vocab);
        goto out;
    }
    if (kvlm_tokenizer_encode_alloc(tok, text, len, no_bos ? 0 : KVLM_TOKENIZE_ADD_SPECIAL, &ids, &n_ids) !=
        KVLM_OK) {
        fprintf(stderr, "kvlm perplexity: cannot tokenize %s: %s\n", file, kvlm_last_error());
        goto out;
    }
    int32_t bos = kvlm_tokenizer_bos(tok);
    bool bos_added = !no_bos && n_ids > 0 && bos >= 0 && ids[0] == bos && kvlm_tokenizer_adds_bos(tok);
    size_t n = n_ids;
    all = ids;
    if (add_bos && !bos_added) {
        if (bos < 0) {
            fprintf(stderr, "kvlm perplexity: --add-bos: the tokenizer has no BOS token\n");
            rc = 2;
            goto out;
        }
        all = malloc((n_ids + 1) * sizeof *all);
        if (!all) {
            fprintf(stderr, "kvlm perplexity: out of memory\n");
            goto out;
        }
        all[0] = bos;
        memcpy(all + 1, ids, n_ids * sizeof *ids);
        n = n_ids + 1;
        bos_added = true;
    }
    if (n < 2 || n > INT_MAX) {
        fprintf(stderr, "kvlm perplexity: %s gives %zu token(s); at least 2 are needed (the first is never scored)\n",
                file, n);
        rc = 2;
        goto out;
    }
    int trained = mi.n_ctx_train;
    if (ctx_arg > trained) {
        fprintf(stderr, "kvlm perplexity: --ctx %lld exceeds the model's trained context %d\n", ctx_arg, trained);
        rc = 2;
        goto out;
    }
    int W = ctx_arg ? (int)ctx_arg : (trained < 4096 ? trained : 4096);
    int S = have_stride ? (int)stride_arg : (W / 2 > 0 ? W / 2 : 1);
    if (S > W) {
        fprintf(stderr, "kvlm perplexity: --stride %d is larger than the window %d (the model's context)\n", S, W);
        rc = 2;
        goto out;
    }
    /* A text shorter than the window is one window: allocate only that. */
    if ((size_t)W > n - 1) W = (int)(n - 1);
    if (S > W) S = W;

    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_threads = (int)threads;
    cp.n_ctx = W;
    cp.kv_type = kv;
    if (kvlm_context_create(m, &cp, &ctx) != KVLM_OK) {
        fprintf(stderr, "kvlm perplexity: cannot create a context: %s\n", kvlm_last_error());
        goto out;
    }
    cp = kvlm_context_get_params(ctx);
    kvlm_perplexity_params pp = kvlm_perplexity_default_params();
    pp.window = W;
    pp.stride = S;
    if (isatty(STDERR_FILENO)) pp.progress = show_progress;
    kvlm_perplexity_result r;
    if (kvlm_perplexity(ctx, all, (int)n, &pp, &r) != KVLM_OK) {
        fprintf(stderr, "\nkvlm perplexity: %s\n", kvlm_last_error());
        goto out;
    }
    /* bytes of the scored tokens' text */
    uint64_t bytes = 0;
    for (size_t i = 1; i < n; i++) {
        const char *pc;
        size_t l;
        if (kvlm_tokenizer_token_to_piece(tok, all[i], &pc, &l) == KVLM_OK) bytes += l;
    }
    double bpb = bytes ? r.nll_sum / log(2.0) / (double)bytes : 0.0;
    double tps = r.seconds > 0 ? r.n_scored / r.seconds : 0.0;
    double eps = r.seconds > 0 ? (double)r.n_evaluated / r.seconds : 0.0;
    const char *kvn = kvlm_dtype_name(cp.kv_type);
    if (json) {
        printf("{\"model\": ");
        cli_json_string(path);
        printf(", \"file\": ");
        cli_json_string(file);
        printf(", \"bytes\": %zu, \"tokens\": %zu, \"bos_added\": %s, \"window\": %d, \"stride\": %d, "
               "\"windows\": %d, \"kv_type\": \"%s\", \"threads\": %d, \"scored_tokens\": %d, "
               "\"scored_bytes\": %llu, \"evaluated_tokens\": %lld, \"nll_sum\": %.6f, \"mean_nll\": %.6f, "
               "\"perplexity\": %.6f, \"bits_per_byte\": %.6f, \"seconds\": %.3f, \"tokens_per_s\": %.2f, "
               "\"evaluated_tokens_per_s\": %.2f}\n",
               len, n, bos_added ? "true" : "false", r.window, r.stride, r.n_windows, kvn, cp.n_threads,
               r.n_scored, (unsigned long long)bytes, (long long)r.n_evaluated, r.nll_sum, r.mean_nll,
               r.perplexity, bpb, r.seconds, tps, eps);
    } else {
        printf("perplexity of %s on %s: %zu bytes -> %zu tokens%s\n", path, file, len, n,
               bos_added ? " (BOS first)" : "");
        printf("window %d, stride %d: %d windows, KV %s, %d threads\n", r.window, r.stride, r.n_windows, kvn,
               cp.n_threads);
        printf("scored %d tokens (%llu bytes): mean NLL %.4f nats/token, perplexity %.4f, %.4f bits/byte\n",
               r.n_scored, (unsigned long long)bytes, r.mean_nll, r.perplexity, bpb);
        printf("%.2f s: %.1f scored tokens/s (%lld tokens evaluated, %.1f/s)\n", r.seconds, tps,
               (long long)r.n_evaluated, eps);
    }
    rc = 0;
out:
    if (all != ids) free(all);
    free(ids);
    kvlm_context_free(ctx);
    kvlm_tokenizer_free(tok);
    kvlm_model_free(m);
    free(text);
    return rc;
}
