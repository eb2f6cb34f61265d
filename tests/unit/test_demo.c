/*
 * test_demo.c - the bundled demo model (models/demo/kjv-llama.gguf and its
 * Hugging Face folder) against Hugging Face: greedy decoding from the
 * prompt in models/demo/reference.json must give exactly the 32 token ids
 * HF generated, from both copies; and the model's own tokenizer must encode
 * the prompt text to the same ids as HF's tokenizer did.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kvlm.h"
#include "test.h"

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static void greedy(const char *path, const int32_t *prompt, int np, const int32_t *want, int nw)
{
    kvlm_model *m = NULL;
    kvlm_status st = kvlm_model_load(path, NULL, &m);
    CHECK(st == KVLM_OK, "load %s: %s", path, kvlm_last_error());
    if (st) return;
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);
    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_threads = 2;
    kvlm_context *ctx = NULL;
    kvlm_session *s = NULL;
    float *lg = malloc((size_t)in.n_vocab * sizeof(float));
    st = kvlm_context_create(m, &cp, &ctx);
    if (!st) st = kvlm_session_create(ctx, &s);
    if (!st) st = kvlm_session_eval(s, prompt, np, KVLM_LOGITS_LAST, lg);
    CHECK(st == KVLM_OK, "%s: %s", path, kvlm_last_error());
    int ok = 0;
    for (int i = 0; i < nw && !st; i++) {
        int32_t t = argmax(lg, in.n_vocab);
        if (t == want[i]) ok++;
        else {
            CHECK(0, "%s: greedy step %d gives %d, HF gave %d", path, i, t, want[i]);
            break;
        }
        st = kvlm_session_eval(s, &t, 1, KVLM_LOGITS_LAST, lg);
    }
    CHECK(ok == nw, "%s: %d of %d greedy tokens match HF", path, ok, nw);
    printf("%s: %d of %d greedy tokens match HF\n", path, ok, nw);
    free(lg);
    kvlm_session_free(s);
    kvlm_context_free(ctx);
    kvlm_model_free(m);
}

int main(void)
{
    char ref[4096], root[4096], path[4200];
    fixture_path(root, sizeof root, "../../models/demo");
    snprintf(ref, sizeof ref, "%s/reference.json", root);
    json_error_t err;
    json_t *j = json_load_file(ref, 0, &err);
    REQUIRE(j != NULL, "%s: %s", ref, err.text);
    json_t *pj = json_object_get(j, "prompt_ids"), *gj = json_object_get(j, "greedy_ids");
    int np = (int)json_array_size(pj), ng = (int)json_array_size(gj);
    REQUIRE(np > 0 && np < 64 && ng > 0 && ng <= 64, "reference.json shape");
    int32_t prompt[64], want[64];
    for (int i = 0; i < np; i++) prompt[i] = (int32_t)json_integer_value(json_array_get(pj, (size_t)i));
    for (int i = 0; i < ng; i++) want[i] = (int32_t)json_integer_value(json_array_get(gj, (size_t)i));

    snprintf(path, sizeof path, "%s/kjv-llama.gguf", root);
    greedy(path, prompt, np, want, ng);
    snprintf(path, sizeof path, "%s/kjv-llama-hf", root);
    greedy(path, prompt, np, want, ng);

    /* The GGUF's embedded tokenizer gives HF's prompt ids. */
    snprintf(path, sizeof path, "%s/kjv-llama.gguf", root);
    kvlm_tokenizer *tok = NULL;
    CHECK(kvlm_tokenizer_load(path, &tok) == KVLM_OK, "tokenizer: %s", kvlm_last_error());
    const char *text = json_string_value(json_object_get(j, "prompt"));
    if (tok && text) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(kvlm_tokenizer_encode_alloc(tok, text, strlen(text), KVLM_TOKENIZE_ADD_SPECIAL, &ids, &n) == KVLM_OK,
              "encode");
        CHECK(n == (size_t)np && ids && memcmp(ids, prompt, n * sizeof *ids) == 0, "prompt ids differ from HF");
        free(ids);
    }
    kvlm_tokenizer_free(tok);
    json_decref(j);
    TEST_MAIN_END("test_demo");
}
