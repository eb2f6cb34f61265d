/*
 * cmd_logits.c - `kvlm logits -m MODEL --tokens "1 2 3" --out FILE`:
 * runs the tokens through the model and writes float32 little-endian
 * logits [n_tokens x n_vocab], row i being the logits after token i.
 * Options: --threads N, --batch N (tokens per forward pass, to check that
 * chunking does not change results), --kv-type f32|f16|bf16|q8_0,
 * --kv-block-size N.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define USAGE "usage: kvlm logits -m MODEL --tokens \"1 2 3\" --out FILE [--threads N] [--batch N] [--kv-type T] [--kv-block-size N]\n"

int cmd_logits(int argc, char **argv)
{
    const char *path = NULL, *toks = NULL, *out = NULL;
    kvlm_context_params cp = kvlm_context_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long x;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) path = argv[++i];
        else if (!strcmp(a, "--tokens") && v) toks = argv[++i];
        else if ((!strcmp(a, "--out") || !strcmp(a, "-o")) && v) out = argv[++i];
        else if ((!strcmp(a, "--threads") || !strcmp(a, "-t")) && v) {
            if (!cli_parse_int(v, 1, 1024, &x)) { fprintf(stderr, "kvlm logits: --threads must be 1..1024\n"); return 2; }
            cp.n_threads = (int)x; i++;
        } else if (!strcmp(a, "--batch") && v) {
            if (!cli_parse_int(v, 1, 65536, &x)) { fprintf(stderr, "kvlm logits: --batch must be 1..65536\n"); return 2; }
            cp.n_batch = (int)x; i++;
        } else if (!strcmp(a, "--kv-type") && v) {
            if (!cli_parse_kv_type(v, &cp.kv_type)) { fprintf(stderr, "kvlm logits: --kv-type must be f32, f16, bf16 or q8_0\n"); return 2; }
            i++;
        } else if (!strcmp(a, "--kv-block-size") && v) {
            if (!cli_parse_int(v, 1, 4096, &x)) { fprintf(stderr, "kvlm logits: --kv-block-size must be 1..4096\n"); return 2; }
            cp.kv_block_size = (int)x; i++;
        } else {
            fprintf(stderr, "kvlm logits: unknown or incomplete option '%s'\n" USAGE, a);
            return 2;
        }
    }
    if (!path || !toks || !out) {
        fprintf(stderr, USAGE);
        return 2;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    if (!cli_parse_token_list(toks, &ids, &n)) {
        fprintf(stderr, "kvlm logits: --tokens must be token ids separated by spaces or commas\n");
        return 2;
    }
    kvlm_model *m = cli_load_model("logits", path);
    if (!m) { free(ids); return 1; }
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);
    if (cp.n_ctx == 0 && (int)n > (in.n_ctx_train < 4096 ? in.n_ctx_train : 4096)) cp.n_ctx = (int)n;
    int rc = 1;
    kvlm_context *ctx = NULL;
    kvlm_session *s = NULL;
    float *logits = NULL;
    kvlm_status st = kvlm_context_create(m, &cp, &ctx);
    if (!st) st = kvlm_session_create(ctx, &s);
    if (!st) {
        logits = malloc(n * (size_t)in.n_vocab * sizeof(float));
        if (!logits) st = KVLM_ERR_NOMEM;
    }
    if (!st) st = kvlm_session_eval(s, ids, (int)n, KVLM_LOGITS_ALL, logits);
    if (st) {
        fprintf(stderr, "kvlm logits: %s\n", kvlm_last_error());
    } else {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(logits, sizeof(float), n * (size_t)in.n_vocab, f) != n * (size_t)in.n_vocab) {
            fprintf(stderr, "kvlm logits: cannot write %s\n", out);
        } else {
            rc = 0;
        }
        if (f && fclose(f) != 0) rc = 1;
    }
    free(logits);
    kvlm_session_free(s);
    kvlm_context_free(ctx);
    kvlm_model_free(m);
    free(ids);
    return rc;
}
