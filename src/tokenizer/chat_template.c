/*
 * chat_template.c - built-in chat template renderers.
 *
 * kvlm does not run Jinja. It recognises the model's chat_template by
 * marker strings and renders with a C function that reproduces the vendor
 * template byte for byte for system/user/assistant messages (no tools):
 *
 *   chatml    Qwen2/2.5 (<|im_start|>); default Qwen system prompt when the
 *             conversation has none
 *   llama3    Llama 3.0 (<|start_header_id|>, no date header)
 *   llama3.1  Llama 3.1/3.2 ("Cutting Knowledge Date" system header, date
 *             "26 Jul 2024" as the template's default)
 *   llama2    Llama 2 chat ([INST] with <<SYS>>)
 *   mistral   Mistral v3/Nemo ([INST]...[/INST]; the system text goes
 *             into the user turn only when it is the last message, as the
 *             vendor template does)
 *   gemma     Gemma/Gemma 2 (<start_of_turn>, assistant -> model; a system
 *             message is rejected, as the vendor template raises)
 *   phi3      Phi-3/3.5 (<|user|> ... <|end|>; eos text appended when no
 *             generation prompt)
 *
 * Cache stability: for every template except mistral-with-system, the
 * rendering of a conversation ending in a user message with the generation
 * prompt is a byte prefix of the rendering of any continuation of that
 * conversation, so the KV of the earlier prompt is reusable. (Mistral moves
 * the system message into the last user turn, so only its system-less
 * renderings are prefix-stable; phi3 without the generation prompt ends
 * with eos text.) Renderings contain the BOS text where the template
 * does; tokenize them with KVLM_TOKENIZE_PARSE_SPECIAL and without
 * KVLM_TOKENIZE_ADD_SPECIAL.
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

typedef kvlm_status (*render_fn)(const kvlm_chat_message *m, size_t n, bool gen, kvlm_buf *o);

static kvlm_status put(kvlm_buf *o, const char *s) { return kvlm_buf_put(o, s, strlen(s)); }

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static kvlm_status put_trim(kvlm_buf *o, const char *s)
{
    size_t n = strlen(s), a = 0;
    while (a < n && is_ws(s[a])) a++;
    while (n > a && is_ws(s[n - 1])) n--;
    return kvlm_buf_put(o, s + a, n - a);
}

static bool role_is(const kvlm_chat_message *m, const char *r) { return strcmp(m->role, r) == 0; }

static kvlm_status r_chatml(const kvlm_chat_message *m, size_t n, bool gen, kvlm_buf *o)
{
    kvlm_status st = KVLM_OK;
    size_t i = 0;
    if (n && role_is(&m[0], "system")) {
        st = put(o, "<|im_start|>system\n");
        if (!st) st = put(o, m[0].content);
        if (!st) st = put(o, "<|im_end|>\n");
        i = 1;
    } else {
        st = put(o, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n");
    }
    for (; i < n && !st; i++) {
        st = put(o, "<|im_start|>");
        if (!st) st = put(o, m[i].role);
        if (!st) st = put(o, "\n");
        if (!st) st = put(o, m[i].content);
        if (!st) st = put(o, "<|im_end|>\n");
    }
    if (!st && gen) st = put(o, "<|im_start|>assistant\n");
    return st;
}

static kvlm_status llama3_turns(const kvlm_chat_message *m, size_t n, bool gen, kvlm_buf *o)
{
    kvlm_status st = KVLM_OK;
    for (size_t i = 0; i < n && !st; i++) {
        st = put(o, "<|start_header_id|>");
        if (!st) st = put(o, m[i].role);
        if (!st) st = put(o, "<|end_header_id|>\n\n");
        if (!st) st = put_trim(o, m[i].content);
        if (!st) st = put(o, "<|eot_id|>");
    }
    if (!st && gen) st = put(o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return st;
}

static kvlm_status r_llama3(const kvlm_chat_message *m, size_t n, bool gen, kvlm_buf *o)
{
    kvlm_status st = put(o, "<|begin_of_text|>");
    return st ? st : llama3_turns(m, n, gen, o);
}

static kvlm_status r_llama31(const kvlm_chat_message *m, size_t n, bool gen, kvlm_buf *o)
{
    kvlm_status st = put(o, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
    size_t i = 0;
    if (!st && n && role_is(&m[0], "system")) {
        st = put_trim(o, m[0].content);
        i = 1;
    }
    if (!st) st = put(o, "<|eot_id|>");
    return st ? st : llama3_turns(m + i, n - i, gen, o);
}

static kvlm_status r_llama2(const kvlm_chat_message *m, size_t n, bool gen, kvlm_buf *o)
{
    kvlm_status st = KVLM_OK;
    size_t i = 0;
    const char *sys = NULL;
    if (n && role_is(&m[0], "system")) {
        sys = m[0].content;
        i = 1;
    }
    for (size_t k = i; k < n && !st; k++) {
        if (role_is(&m[k], "user")) {
            st = put(o, "<s>[INST] ");
            if (!st && k == i && sys) {
                /* '<<SYS>>\n' + system + '\n<</SYS>>\n\n' + content, then strip() */
                kvlm_buf c = {0};
                st = put(&c, "<<SYS>>\n");
                if (!st) st = put(&c, sys);
                if (!st) st = put(&c, "\n<</SYS>>\n\n");
                if (!st) st = put(&c, m[k].content);
                if (!st) st = put_trim(o, c.p);
                kvlm_buf_free(&c);
            } else if (!st) {
                st = put_trim(o, m[k].content);
            }
            if (!st) st = put(o, " [/INST]");
        } else if (role_is(&m[k], "assistant")) {
            st = put(o, " ");
            if (!st) st = put_trim(o, m[k].content);
            if (!st) st = put(o, " </s>");
        }
    }
    (void)gen; /* the Llama 2 template has no generation prompt: [/INST] ends the prompt */
    return st;
}

static kvlm_status r_mistral(const kvlm_chat_message *m, size_t n, bool gen, kvlm_buf *o)
{
    kvlm_status st = put(o, "<s>");
    size_t i = 0;
    const char *sys = NULL;
    if (n && role_is(&m[0], "system")) {
        sys = m[0].content;
        i = 1;
    }
    for (size_t k = i; k < n && !st; k++) {
        if (role_is(&m[k], "user")) {
            st = put(o, "[INST]");
            /* the vendor template puts the system text in the user turn only
             * when that turn is the last message (loop.last) */
            if (!st && k == n - 1 && sys) {
                st = put(o, sys);
                if (!st) st = put(o, "\n\n");
            }
            if (!st) st = put(o, m[k].content);
            if (!st) st = put(o, "[/INST]");
        } else if (role_is(&m[k], "assistant")) {
            st = put(o, m[k].content);
            if (!st) st = put(o, "</s>");
        } else {
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "chat template mistral: message %zu has role \"%s\" (only an initial "
                             "system message, then user/assistant)", k, m[k].role);
        }
    }
    (void)gen;
    return st;
}

static kvlm_status r_gemma(const kvlm_chat_message *m, size_t n, bool gen, kvlm_buf *o)
{
    if (n && role_is(&m[0], "system"))
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "chat template gemma: system role not supported (as in the model's template)");
    kvlm_status st = put(o, "<bos>");
    for (size_t i = 0; i < n && !st; i++) {
        st = put(o, "<start_of_turn>");
        if (!st) st = put(o, role_is(&m[i], "assistant") ? "model" : m[i].role);
        if (!st) st = put(o, "\n");
        if (!st) st = put_trim(o, m[i].content);
        if (!st) st = put(o, "<end_of_turn>\n");
    }
    if (!st && gen) st = put(o, "<start_of_turn>model\n");
    return st;
}

static kvlm_status r_phi3(const kvlm_chat_message *m, size_t n, bool gen, kvlm_buf *o)
{
    kvlm_status st = KVLM_OK;
    for (size_t i = 0; i < n && !st; i++) {
        const char *tag = role_is(&m[i], "system") ? (m[i].content[0] ? "<|system|>\n" : NULL)
                        : role_is(&m[i], "user")   ? "<|user|>\n"
                        : role_is(&m[i], "assistant") ? "<|assistant|>\n" : NULL;
        if (!tag) continue;
        st = put(o, tag);
        if (!st) st = put(o, m[i].content);
        if (!st) st = put(o, "<|end|>\n");
    }
    if (!st) st = put(o, gen ? "<|assistant|>\n" : "<|endoftext|>");
    return st;
}

static const struct {
    const char *name;
    render_fn fn;
} g_templates[] = {
    {"chatml", r_chatml}, {"llama3", r_llama3}, {"llama3.1", r_llama31}, {"llama2", r_llama2},
    {"mistral", r_mistral}, {"gemma", r_gemma}, {"phi3", r_phi3},
};

static const char *detect(const char *tpl)
{
    if (!tpl) return NULL;
    if (strstr(tpl, "<|im_start|>")) return "chatml";
    if (strstr(tpl, "<|start_header_id|>")) return strstr(tpl, "Cutting Knowledge Date") ? "llama3.1" : "llama3";
    if (strstr(tpl, "<start_of_turn>")) return "gemma";
    if (strstr(tpl, "<|assistant|>") && strstr(tpl, "<|end|>")) return "phi3";
    if (strstr(tpl, "[INST]")) return strstr(tpl, "<<SYS>>") ? "llama2" : "mistral";
    return NULL;
}

const char *kvlm_tokenizer_chat_template_name(const kvlm_tokenizer *tok)
{
    return tok ? detect(tok->chat_template) : NULL;
}

const char *kvlm_chat_template_detect(const char *jinja_source) { return detect(jinja_source); }

kvlm_status kvlm_chat_render(const kvlm_tokenizer *tok, const char *name, const kvlm_chat_message *msgs, size_t n,
                             bool add_generation_prompt, char **out, size_t *len)
{
    if (!out || !len || (n && !msgs)) return kvlm_fail(KVLM_ERR_INVALID_ARG, "chat render: NULL argument");
    if (!name) name = kvlm_tokenizer_chat_template_name(tok);
    if (!name)
        return kvlm_fail(KVLM_ERR_UNSUPPORTED, "chat render: the model has no recognised chat template; pass a name "
                         "(chatml, llama3, llama3.1, llama2, mistral, gemma, phi3)");
    render_fn fn = NULL;
    for (size_t i = 0; i < sizeof g_templates / sizeof *g_templates; i++)
        if (strcmp(g_templates[i].name, name) == 0) fn = g_templates[i].fn;
    if (!fn)
        return kvlm_fail(KVLM_ERR_INVALID_ARG, "chat render: unknown template \"%.64s\" (chatml, llama3, llama3.1, "
                         "llama2, mistral, gemma, phi3)", name);
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content)
            return kvlm_fail(KVLM_ERR_INVALID_ARG, "chat render: message %zu has a NULL role or content", i);
    kvlm_buf o = {0};
    kvlm_status st = kvlm_buf_put(&o, "", 0);
    if (!st) st = fn(msgs, n, add_generation_prompt, &o);
    if (st) {
        kvlm_buf_free(&o);
        return st;
    }
    *out = o.p;
    *len = o.n;
    return KVLM_OK;
}
