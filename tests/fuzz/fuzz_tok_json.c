/*
 * fuzz_tok_json.c - libFuzzer target for the tokenizer.json loader: any
 * bytes must either load (and then tokenize/detokenize a fixed text without
 * crashing) or fail with an error; never crash, leak or hang.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvlm.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kvlm_tokenizer *t = NULL;
    if (kvlm_tokenizer_from_json((const char *)data, size, NULL, 0, "fuzz.json", &t) != KVLM_OK) return 0;
    static const char text[] = "Hello world! 123 \xe4\xb8\xad\xe6\x96\x87 <s> \xff\xfe e\xcc\x81 \xf0\x9f\x98\x80";
    int32_t *ids = NULL;
    size_t n = 0;
    if (kvlm_tokenizer_encode_alloc(t, text, sizeof text - 1, KVLM_TOKENIZE_PARSE_SPECIAL | KVLM_TOKENIZE_ADD_SPECIAL,
                                    &ids, &n) == KVLM_OK) {
        char *back = NULL;
        size_t bl;
        if (kvlm_tokenizer_decode_alloc(t, ids, n, 0, &back, &bl) != KVLM_OK) abort();
        free(back);
        free(ids);
    }
    kvlm_tokenizer_free(t);
    return 0;
}
