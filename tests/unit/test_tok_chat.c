/*
 * test_tok_chat.c - built-in chat templates against transformers'
 * apply_chat_template renderings (tests/fixtures/tokenizers/chat/), template
 * recognition (on the vendor templates in $KVLM_CONFORMANCE_DIR when set, on
 * the inline ones always), cache stability (a prompt ending in a user turn
 * with the generation prompt is a byte prefix of every later prompt of the
 * same conversation), and errors.
 */
#include <jansson.h>
#include <stdbool.h>

#include "test.h"
#include "tok_util.h"

static size_t to_msgs(json_t *arr, kvlm_chat_message *m, size_t cap)
{
    size_t n = json_array_size(arr);
    for (size_t i = 0; i < n && i < cap; i++) {
        m[i].role = json_string_value(json_object_get(json_array_get(arr, i), "role"));
        m[i].content = json_string_value(json_object_get(json_array_get(arr, i), "content"));
    }
    return n < cap ? n : cap;
}

static void test_renderings(void)
{
    char p[1024];
    json_error_t e;
    json_t *j = json_load_file(fixture_path(p, sizeof p, "tokenizers/chat/renderings.json"), 0, &e);
    if (!j) { CHECK(0, "renderings.json: %s", e.text); return; }
    json_t *arr = json_object_get(j, "renderings");
    const char *conf = getenv("KVLM_CONFORMANCE_DIR");
    int pass = 0, total = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *r = json_array_get(arr, i);
        const char *name = json_string_value(json_object_get(r, "template"));
        const char *src = json_string_value(json_object_get(r, "source"));
        const char *want = json_string_value(json_object_get(r, "rendered"));
        bool gen = json_is_true(json_object_get(r, "add_generation_prompt"));
        kvlm_chat_message m[16];
        size_t n = to_msgs(json_object_get(r, "messages"), m, 16);
        char *got = NULL;
        size_t gl = 0;
        total++;
        kvlm_status st = kvlm_chat_render(NULL, name, m, n, gen, &got, &gl);
        bool ok = st == KVLM_OK && gl == strlen(want) && memcmp(got, want, gl) == 0;
        if (!ok) fprintf(stderr, "CHAT %s (%s, %zu msgs):\n got: %s\nwant: %s\n", name, src, n, got ? got : kvlm_last_error(), want);
        pass += ok;
        free(got);
        /* recognition */
        const char *jinja = json_string_value(json_object_get(r, "jinja"));
        char *file = NULL;
        if (!jinja && conf && *conf) {
            char fp[1024];
            snprintf(fp, sizeof fp, "%s/hf-tokenizers/chat-templates/%s", conf, src);
            file = tu_read(fp, NULL);
            jinja = file;
        }
        if (jinja) {
            const char *d = kvlm_chat_template_detect(jinja);
            CHECK(d && strcmp(d, name) == 0, "%s: recognised as %s, want %s", src, d ? d : "(none)", name);
        }
        free(file);
    }
    CHECK(pass == total && total > 0, "chat renderings: %d/%d", pass, total);
    printf("chat renderings: %d/%d match transformers\n", pass, total);
    json_decref(j);
}

static void test_cache_stability(void)
{
    static const char *const names[] = {"chatml", "llama3", "llama3.1", "llama2", "mistral", "gemma", "phi3"};
    kvlm_chat_message conv[] = {
        {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", " Next \n"},
        {"assistant", "Sure"}, {"user", "Last"},
    };
    for (size_t t = 0; t < sizeof names / sizeof *names; t++) {
        bool sys_ok = strcmp(names[t], "gemma") != 0 && strcmp(names[t], "mistral") != 0;
        kvlm_chat_message *m = sys_ok ? conv : conv + 1;
        size_t n = sys_ok ? 6 : 5;
        char *full = NULL;
        size_t fl;
        CHECK(kvlm_chat_render(NULL, names[t], m, n, true, &full, &fl) == KVLM_OK, "%s: %s", names[t], kvlm_last_error());
        for (size_t k = 1; k < n; k++) {
            if (strcmp(m[k - 1].role, "user") != 0) continue;
            char *part = NULL;
            size_t pl;
            CHECK(kvlm_chat_render(NULL, names[t], m, k, true, &part, &pl) == KVLM_OK, "render");
            CHECK(part && full && pl <= fl && memcmp(part, full, pl) == 0, "%s: %zu-message prompt is not a prefix", names[t], k);
            free(part);
        }
        free(full);
    }
}

static void test_errors(void)
{
    kvlm_chat_message m[2] = {{"system", "x"}, {"user", "y"}};
    char *o;
    size_t l;
    CHECK(kvlm_chat_render(NULL, "gemma", m, 2, true, &o, &l) == KVLM_ERR_INVALID_ARG, "gemma system");
    CHECK(kvlm_chat_render(NULL, "nope", m, 2, true, &o, &l) == KVLM_ERR_INVALID_ARG, "unknown name");
    CHECK(kvlm_chat_render(NULL, NULL, m, 2, true, &o, &l) == KVLM_ERR_UNSUPPORTED, "no tokenizer, no name");
    kvlm_chat_message bad[1] = {{"user", NULL}};
    CHECK(kvlm_chat_render(NULL, "chatml", bad, 1, true, &o, &l) == KVLM_ERR_INVALID_ARG, "NULL content");
    kvlm_chat_message tool[2] = {{"user", "a"}, {"tool", "b"}};
    CHECK(kvlm_chat_render(NULL, "mistral", tool, 2, true, &o, &l) == KVLM_ERR_INVALID_ARG, "mistral tool role");
    CHECK(kvlm_chat_template_detect("{{ nothing }}") == NULL, "unrecognised template");
    /* a tokenizer's own template is used when no name is given */
    char dir[1024];
    kvlm_tokenizer *t = NULL;
    if (kvlm_tokenizer_load(fixture_path(dir, sizeof dir, "tokenizers/bl_gpt2"), &t) == KVLM_OK) {
        CHECK(kvlm_tokenizer_chat_template_name(t) == NULL, "bl_gpt2 has no template");
        kvlm_tokenizer_free(t);
    }
}

int main(void)
{
    test_renderings();
    test_cache_stability();
    test_errors();
    TEST_MAIN_END("test_tok_chat");
}
