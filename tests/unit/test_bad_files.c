/*
 * test_bad_files.c - runs the committed regression corpus of malformed model
 * files (tests/fixtures/bad/, made by tests/fixtures/make_bad_files.py).
 *
 * For every MANIFEST.tsv line "path<TAB>expected": gguf/ entries must fail
 * kvlm_gguf_open, safetensors/ entries and hf/<case> folders must fail
 * kvlm_st_open, llama2c/ checkpoints kvlm_model_load, llama2c_tok/
 * tokenizer.bin files kvlm_tokenizer_load, and kvlm_last_error() must
 * contain `expected` and name the file. hf/config_* cases are skipped here: they hold a valid
 * model.safetensors and a broken config.json, and are covered by the model
 * loader's test through kvlm_model_load. The same bytes are also fed to
 * kvlm_gguf_parse / kvlm_st_parse from a heap buffer of exactly the file's
 * size, so ASan catches any read past the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/llama2c.h"
#include "model/safetensors.h"
#include "tokenizer/tokenizer.h"
#include "test.h"

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *b = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            unsigned char *p = realloc(b, cap);
            if (!p) {
                free(b);
                fclose(f);
                return NULL;
            }
            b = p;
        }
        size_t r = fread(b + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    /* Exact-size copy so that a one-byte over-read is caught by ASan. */
    unsigned char *e = malloc(len ? len : 1);
    if (e && len)
        memcpy(e, b, len);
    free(b);
    *n = len;
    return e;
}

static void check_one(const char *rel, const char *expect, const char *path)
{
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    kvlm_status s;
    char err[1024];
    if (strncmp(rel, "gguf/", 5) == 0) {
        kvlm_gguf *g = NULL;
        s = kvlm_gguf_open(path, &g);
        snprintf(err, sizeof err, "%s", kvlm_last_error());
        CHECK(s != KVLM_OK && g == NULL, "%s: kvlm_gguf_open succeeded", rel);
        kvlm_gguf_close(g);
        size_t n = 0;
        unsigned char *buf = slurp(path, &n);
        CHECK(buf != NULL, "%s: cannot read", rel);
        if (buf) {
            kvlm_gguf *g2 = NULL;
            kvlm_status s2 = kvlm_gguf_parse(buf, n, path, &g2);
            CHECK(s2 == s, "%s: parse gave %d, open gave %d", rel, s2, s);
            CHECK(strcmp(kvlm_last_error(), err) == 0, "%s: parse message differs: %s", rel,
                  kvlm_last_error());
            kvlm_gguf_close(g2);
            free(buf);
        }
    } else if (strncmp(rel, "llama2c/", 8) == 0) {
        kvlm_model *m = NULL;
        s = kvlm_model_load(path, NULL, &m);
        snprintf(err, sizeof err, "%s", kvlm_last_error());
        CHECK(s != KVLM_OK && m == NULL, "%s: kvlm_model_load succeeded", rel);
        kvlm_model_free(m);
        size_t n = 0;
        unsigned char *buf = slurp(path, &n);
        CHECK(buf != NULL, "%s: cannot read", rel);
        if (buf) { /* the header reader alone, on an exact-size buffer */
            kvlm_llama2c_header h;
            kvlm_status s2 = kvlm_llama2c_parse_header(buf, n, path, &h);
            CHECK(s2 == s || (s2 == KVLM_OK && s == KVLM_ERR_FORMAT), "%s: header parse gave %d, load gave %d",
                  rel, s2, s);
            free(buf);
        }
    } else if (strncmp(rel, "llama2c_tok/", 12) == 0) {
        kvlm_tokenizer *t = NULL;
        s = kvlm_tokenizer_load(path, &t);
        snprintf(err, sizeof err, "%s", kvlm_last_error());
        CHECK(s != KVLM_OK && t == NULL, "%s: kvlm_tokenizer_load succeeded", rel);
        kvlm_tokenizer_free(t);
        size_t n = 0;
        unsigned char *buf = slurp(path, &n);
        CHECK(buf != NULL, "%s: cannot read", rel);
        if (buf) {
            kvlm_tokenizer *t2 = NULL;
            kvlm_status s2 = kvlm_tokenizer_from_llama2c(buf, n, path, &t2);
            CHECK(s2 == s && t2 == NULL, "%s: from_llama2c gave %d, load gave %d", rel, s2, s);
            CHECK(strcmp(kvlm_last_error(), err) == 0, "%s: buffer message differs: %s", rel, kvlm_last_error());
            kvlm_tokenizer_free(t2);
            free(buf);
        }
    } else {
        kvlm_st_set *st = NULL;
        s = kvlm_st_open(path, &st);
        snprintf(err, sizeof err, "%s", kvlm_last_error());
        CHECK(s != KVLM_OK && st == NULL, "%s: kvlm_st_open succeeded", rel);
        kvlm_st_close(st);
        if (strncmp(rel, "safetensors/", 12) == 0) {
            size_t n = 0;
            unsigned char *buf = slurp(path, &n);
            CHECK(buf != NULL, "%s: cannot read", rel);
            if (buf) {
                kvlm_st_set *s2 = NULL;
                kvlm_status r2 = kvlm_st_parse(buf, n, path, &s2);
                CHECK(r2 == s, "%s: parse gave %d, open gave %d", rel, r2, s);
                kvlm_st_close(s2);
                free(buf);
            }
        }
    }
    CHECK(strstr(err, expect) != NULL, "%s: error '%s' lacks '%s'", rel, err, expect);
    CHECK(strstr(err, base) != NULL, "%s: error '%s' does not name the file", rel, err);
    if (getenv("KVLM_TEST_VERBOSE"))
        printf("%-50s %s\n", rel, err);
}

int main(void)
{
    char mpath[4096];
    fixture_path(mpath, sizeof mpath, "bad/MANIFEST.tsv");
    FILE *f = fopen(mpath, "r");
    REQUIRE(f != NULL, "cannot open %s (run tests/fixtures/make_bad_files.py)", mpath);
    char line[2048];
    int n_run = 0, n_skip = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == '#' || line[0] == 0)
            continue;
        char *tab = strchr(line, '\t');
        CHECK(tab != NULL, "MANIFEST line without tab: %s", line);
        if (!tab)
            continue;
        *tab = 0;
        const char *rel = line, *expect = tab + 1;
        CHECK(expect[0] != 0, "%s: empty expected substring", rel);
        if (strncmp(rel, "hf/config_", 10) == 0) {
            n_skip++; /* config.json cases: the model loader's test covers them */
            continue;
        }
        char rp[1024], path[4200];
        snprintf(rp, sizeof rp, "bad/%s", rel);
        fixture_path(path, sizeof path, rp);
        check_one(rel, expect, path);
        n_run++;
    }
    fclose(f);
    CHECK(n_run >= 100, "only %d cases ran", n_run);
    printf("test_bad_files: %d cases run, %d config cases skipped\n", n_run, n_skip);
    TEST_MAIN_END("test_bad_files");
}
