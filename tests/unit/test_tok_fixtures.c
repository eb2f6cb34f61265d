/*
 * test_tok_fixtures.c - kvlm's tokenizer against Hugging Face on tokenizers
 * trained by tests/fixtures/make_tokenizer_fixtures.py (one per supported
 * style: GPT-2, prefix-space ByteLevel, Llama 3 (ignore_merges), Qwen2
 * (NFC, non-special added token with lstrip/rstrip), a mixed pipeline of
 * every Split behaviour / Punctuation / Digits, Falcon's steps after
 * ByteLevel (which see the byte-level alphabet), SentencePiece legacy
 * normalizer and Metaspace). For each case: ids with specials parsed,
 * with add_special, with specials as plain text, and the decoding.
 */
#include <jansson.h>

#include "test.h"
#include "tok_util.h"

static int32_t *ids_of(json_t *a, size_t *n)
{
    *n = json_array_size(a);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return v;
}

static void run(const char *name)
{
    char dir[1024], vec[1100];
    fixture_path(dir, sizeof dir, "tokenizers/");
    strncat(dir, name, sizeof dir - strlen(dir) - 1);
    snprintf(vec, sizeof vec, "%s/vectors.json", dir);
    kvlm_tokenizer *tok = NULL;
    kvlm_status st = kvlm_tokenizer_load(dir, &tok);
    CHECK(st == KVLM_OK, "%s: load: %s", name, kvlm_last_error());
    json_error_t e;
    json_t *j = json_load_file(vec, 0, &e);
    CHECK(j != NULL, "%s: vectors.json: %s", name, e.text);
    if (!tok || !j) { kvlm_tokenizer_free(tok); json_decref(j); return; }
    json_t *cases = json_object_get(j, "cases");
    int pass[4] = {0}, total = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *text = json_string_value(json_object_get(c, "text"));
        size_t len = strlen(text), n;
        total++;
        static const char *const keys[3] = {"ids", "ids_special", "ids_nosplit"};
        static const unsigned flags[3] = {KVLM_TOKENIZE_PARSE_SPECIAL, KVLM_TOKENIZE_PARSE_SPECIAL | KVLM_TOKENIZE_ADD_SPECIAL, 0};
        for (int k = 0; k < 3; k++) {
            int32_t *want = ids_of(json_object_get(c, keys[k]), &n);
            char what[128];
            snprintf(what, sizeof what, "%s %s", name, keys[k]);
            pass[k] += tu_check_ids(tok, text, len, flags[k], want, n, what);
            free(want);
        }
        int32_t *ids = ids_of(json_object_get(c, "ids"), &n);
        const char *dec = json_string_value(json_object_get(c, "decoded"));
        char *got = NULL;
        size_t gl = 0;
        st = kvlm_tokenizer_decode_alloc(tok, ids, n, 0, &got, &gl);
        if (st == KVLM_OK && gl == strlen(dec) && memcmp(got, dec, gl) == 0) pass[3]++;
        else fprintf(stderr, "DECODE %s: \"%s\": got \"%s\" want \"%s\"\n", name, text, got ? got : "(error)", dec);
        free(got);
        free(ids);
    }
    for (int k = 0; k < 4; k++) CHECK(pass[k] == total, "%s: %d/%d pass (kind %d)", name, pass[k], total, k);
    printf("%s: ids %d/%d, ids+special %d/%d, specials-as-text %d/%d, decode %d/%d\n", name, pass[0], total, pass[1],
           total, pass[2], total, pass[3], total);
    json_decref(j);
    kvlm_tokenizer_free(tok);
}

int main(void)
{
    static const char *const names[] = {"bl_gpt2", "bl_prefix", "bl_llama3", "bl_qwen2", "bl_mixed", "bl_falcon", "spm_llama",
                                        "spm_metaspace"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) run(names[i]);
    TEST_MAIN_END("test_tok_fixtures");
}
