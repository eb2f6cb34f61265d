/*
 * cmd_tokenize.c - `kvlm tokenize` and `kvlm detokenize`.
 *
 *   kvlm tokenize -m MODEL (--text T | --file F) [--special] [--no-bos]
 *       prints a JSON array of token ids. --special parses special-token
 *       text (e.g. "<|im_end|>") as the special token; otherwise it is plain
 *       text. The model's own rule for BOS/EOS applies unless --no-bos.
 *   kvlm detokenize -m MODEL --tokens "1 2 3" [--skip-special]
 *       prints the decoded bytes exactly (no newline added).
 * MODEL may be a model (.gguf or HF folder), a vocab-only GGUF, a
 * tokenizer.json, or a folder holding only tokenizer.json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static kvlm_tokenizer *load_tok(const char *cmd, const char *path)
{
    kvlm_tokenizer *t = NULL;
    if (kvlm_tokenizer_load(path, &t) != KVLM_OK) {
        fprintf(stderr, "kvlm %s: cannot load tokenizer: %s\n", cmd, kvlm_last_error());
        return NULL;
    }
    return t;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL, *text = NULL, *file = NULL;
    bool special = false, bos = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) path = argv[++i];
        else if ((!strcmp(a, "--text") || !strcmp(a, "-p")) && v) text = argv[++i];
        else if ((!strcmp(a, "--file") || !strcmp(a, "-f")) && v) file = argv[++i];
        else if (!strcmp(a, "--special")) special = true;
        else if (!strcmp(a, "--no-bos")) bos = false;
        else {
            fprintf(stderr, "kvlm tokenize: unknown or incomplete option '%s'\n"
                    "usage: kvlm tokenize -m MODEL (--text T | --file F) [--special] [--no-bos]\n", a);
            return 2;
        }
    }
    if (!path || (!text == !file)) {
        fprintf(stderr, "usage: kvlm tokenize -m MODEL (--text T | --file F) [--special] [--no-bos]\n");
        return 2;
    }
    size_t len = 0;
    char *owned = NULL;
    if (file) {
        owned = cli_read_file(file, &len);
        if (!owned) {
            fprintf(stderr, "kvlm tokenize: cannot read %s\n", file);
            return 1;
        }
        text = owned;
    } else {
        len = strlen(text);
    }
    kvlm_tokenizer *t = load_tok("tokenize", path);
    if (!t) { free(owned); return 1; }
    int32_t *ids = NULL;
    size_t n = 0;
    unsigned flags = (bos ? KVLM_TOKENIZE_ADD_SPECIAL : 0) | (special ? KVLM_TOKENIZE_PARSE_SPECIAL : 0);
    kvlm_status s = kvlm_tokenizer_encode_alloc(t, text, len, flags, &ids, &n);
    int rc = 0;
    if (s) {
        fprintf(stderr, "kvlm tokenize: %s\n", kvlm_last_error());
        rc = 1;
    } else {
        putchar('[');
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
        printf("]\n");
    }
    free(ids);
    kvlm_tokenizer_free(t);
    free(owned);
    return rc;
}

int cmd_detokenize(int argc, char **argv)
{
    const char *path = NULL, *toks = NULL;
    unsigned flags = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) path = argv[++i];
        else if (!strcmp(a, "--tokens") && v) toks = argv[++i];
        else if (!strcmp(a, "--skip-special")) flags |= KVLM_DETOKENIZE_SKIP_SPECIAL;
        else {
            fprintf(stderr, "kvlm detokenize: unknown or incomplete option '%s'\n"
                    "usage: kvlm detokenize -m MODEL --tokens \"1 2 3\" [--skip-special]\n", a);
            return 2;
        }
    }
    if (!path || !toks) {
        fprintf(stderr, "usage: kvlm detokenize -m MODEL --tokens \"1 2 3\" [--skip-special]\n");
        return 2;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    if (!cli_parse_token_list(toks, &ids, &n)) {
        fprintf(stderr, "kvlm detokenize: --tokens must be integers separated by spaces or commas\n");
        return 2;
    }
    kvlm_tokenizer *t = load_tok("detokenize", path);
    if (!t) { free(ids); return 1; }
    char *out = NULL;
    size_t len = 0;
    kvlm_status s = kvlm_tokenizer_decode_alloc(t, ids, n, flags, &out, &len);
    int rc = 0;
    if (s) {
        fprintf(stderr, "kvlm detokenize: %s\n", kvlm_last_error());
        rc = 1;
    } else if (fwrite(out, 1, len, stdout) != len) {
        rc = 1;
    }
    free(out);
    free(ids);
    kvlm_tokenizer_free(t);
    return rc;
}
