/*
 * presets.c - named pre-tokenizer configurations for vocabularies that do
 * not carry their pipeline (GGUF `tokenizer.ggml.pre`, tiktoken-style
 * encoder.json + merges), and the encoder/merges loader.
 *
 * Each preset reproduces the Hugging Face tokenizer.json of its family:
 *   gpt-2, mpt, gpt2, default  ByteLevel(add_prefix_space=false, use_regex)
 *                              (mpt also has an NFC normalizer)
 *   llama-bpe, llama3          Split(LLAMA3 regex, Isolated) + ByteLevel(no regex),
 *                              ignore_merges
 *   qwen2, deepseek-r1-qwen    NFC + Split(QWEN2 regex, Isolated) + ByteLevel(no regex)
 *   starcoder                  Digits(individual) + ByteLevel(use_regex)
 *   falcon                     Punctuation(Contiguous) + ByteLevel(use_regex)
 *                              + Digits + Split([0-9][0-9][0-9], Isolated)
 *   deepseek-llm               Splits: [\r\n], \s?<cased letters>+, \s?<ASCII and
 *                              full-width punctuation>+, \s+$, <CJK/Hangul>+,
 *                              \p{N}+, then ByteLevel(no regex). The vendor's
 *                              explicit cased-letter class is written \p{L&}
 *                              here (checked on the 46 llama.cpp vectors).
 *   deepseek-coder             Splits: [\r\n], \s?\p{L}+, \s?\p{P}+, <CJK/Hangul>+,
 *                              \p{N}, then ByteLevel(no regex)
 * An unknown name is KVLM_ERR_UNSUPPORTED naming it.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

static const char rx_llama3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char rx_qwen2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static kvlm_status push(kvlm_tokenizer *t, kvlm_pretok_type type, const char *rx, kvlm_split_behavior b)
{
    if (t->n_pretok >= KVLM_TOK_MAX_PRETOK) return kvlm_fail(KVLM_ERR_INTERNAL, "preset: too many steps");
    kvlm_pretok_step *s = &t->pretok[t->n_pretok];
    memset(s, 0, sizeof *s);
    s->type = type;
    s->behavior = b;
    if (rx) {
        kvlm_status st = kvlm_regex_compile(rx, strlen(rx), "preset regex", &s->re);
        if (st) return st;
    }
    t->n_pretok++;
    return KVLM_OK;
}

static bool is(const char *p, size_t n, const char *name) { return strlen(name) == n && memcmp(p, name, n) == 0; }

kvlm_status kvlm_tokenizer_set_preset(kvlm_tokenizer *t, const char *p, size_t n)
{
    kvlm_status st;
    if (is(p, n, "gpt-2") || is(p, n, "gpt2") || is(p, n, "default") || is(p, n, "mpt") || is(p, n, "gpt-neox")) {
        if ((is(p, n, "mpt") || is(p, n, "gpt-neox")) && t->n_norm < KVLM_TOK_MAX_PRETOK) {
            memset(&t->norm[t->n_norm], 0, sizeof t->norm[0]);
            t->norm[t->n_norm++].type = KVLM_NORM_NFC;
        }
        return push(t, KVLM_PRETOK_BYTELEVEL, kvlm_regex_gpt2, KVLM_SPLIT_ISOLATED);
    }
    if (is(p, n, "llama-bpe") || is(p, n, "llama3")) {
        t->ignore_merges = true;
        if ((st = push(t, KVLM_PRETOK_SPLIT, rx_llama3, KVLM_SPLIT_ISOLATED))) return st;
        return push(t, KVLM_PRETOK_BYTELEVEL, NULL, KVLM_SPLIT_ISOLATED);
    }
    if (is(p, n, "qwen2") || is(p, n, "deepseek-r1-qwen")) {
        if (t->n_norm < KVLM_TOK_MAX_PRETOK) { /* Qwen2's tokenizer.json normalizes to NFC */
            memset(&t->norm[t->n_norm], 0, sizeof t->norm[0]);
            t->norm[t->n_norm++].type = KVLM_NORM_NFC;
        }
        if ((st = push(t, KVLM_PRETOK_SPLIT, rx_qwen2, KVLM_SPLIT_ISOLATED))) return st;
        return push(t, KVLM_PRETOK_BYTELEVEL, NULL, KVLM_SPLIT_ISOLATED);
    }
    if (is(p, n, "starcoder")) {
        if ((st = push(t, KVLM_PRETOK_DIGITS, "\\p{N}", KVLM_SPLIT_ISOLATED))) return st;
        return push(t, KVLM_PRETOK_BYTELEVEL, kvlm_regex_gpt2, KVLM_SPLIT_ISOLATED);
    }
    if (is(p, n, "falcon")) {
        if ((st = push(t, KVLM_PRETOK_SPLIT, "[\\p{P}!-/:-@\\[-`{-~]", KVLM_SPLIT_CONTIGUOUS))) return st;
        if ((st = push(t, KVLM_PRETOK_BYTELEVEL, kvlm_regex_gpt2, KVLM_SPLIT_ISOLATED))) return st;
        if ((st = push(t, KVLM_PRETOK_DIGITS, "\\p{N}+", KVLM_SPLIT_ISOLATED))) return st;
        return push(t, KVLM_PRETOK_SPLIT, "[0-9][0-9][0-9]", KVLM_SPLIT_ISOLATED);
    }
    if (is(p, n, "deepseek-llm")) {
        static const char *const rx[] = {"[\\r\\n]", "\\s?\\p{L&}+", "\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f\xe3\x80\x80-\xe3\x80\x82]+",
                                         "\\s+$", "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+", "\\p{N}+"};
        for (size_t i = 0; i < sizeof rx / sizeof *rx; i++)
            if ((st = push(t, KVLM_PRETOK_SPLIT, rx[i], KVLM_SPLIT_ISOLATED))) return st;
        return push(t, KVLM_PRETOK_BYTELEVEL, NULL, KVLM_SPLIT_ISOLATED);
    }
    if (is(p, n, "deepseek-coder")) {
        static const char *const rx[] = {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+",
                                         "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+", "\\p{N}"};
        for (size_t i = 0; i < sizeof rx / sizeof *rx; i++)
            if ((st = push(t, KVLM_PRETOK_SPLIT, rx[i], KVLM_SPLIT_ISOLATED))) return st;
        return push(t, KVLM_PRETOK_BYTELEVEL, NULL, KVLM_SPLIT_ISOLATED);
    }
    return kvlm_fail(KVLM_ERR_UNSUPPORTED, "pre-tokenizer \"%.*s\" is not supported (known: gpt-2, mpt, llama-bpe, qwen2, "
                     "deepseek-r1-qwen, starcoder, falcon, deepseek-llm, deepseek-coder)", (int)(n > 64 ? 64 : n), p);
}

/* The 256 Llama 3.1/3.2 special tokens (ids 128000..128255), which are not
 * part of encoder.json / tokenizer.model; BOS is added by the
 * post-processor as in HF's tokenizer.json. */
static kvlm_status add_llama3_specials(kvlm_tokenizer *t)
{
    static const char *const named[11] = {
        "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
        "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
        "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};
    t->added = calloc(256, sizeof *t->added);
    if (!t->added) return kvlm_fail(KVLM_ERR_NOMEM, "llama3 specials: out of memory");
    for (int i = 0; i < 256; i++) {
        char name[64];
        if (i < 11) snprintf(name, sizeof name, "%s", named[i]);
        else snprintf(name, sizeof name, "<|reserved_special_token_%d|>", i - 8);
        kvlm_added_token *a = &t->added[t->n_added++];
        a->id = 128000 + i;
        a->content = strdup(name);
        if (!a->content) return kvlm_fail(KVLM_ERR_NOMEM, "llama3 specials: out of memory");
        a->len = strlen(name);
        a->special = true;
    }
    t->bos_id = 128000;
    t->eos_id = 128001;
    t->eot_id = 128009;
    t->add_bos = true;
    return KVLM_OK;
}

kvlm_status kvlm_tokenizer_from_encoder_merges(const char *encoder_json, size_t enc_len, const char *merges,
                                               size_t merges_len, const char *preset, kvlm_tokenizer **out)
{
    *out = NULL;
    json_error_t err;
    json_t *enc = json_loadb(encoder_json, enc_len, 0, &err);
    if (!json_is_object(enc)) {
        json_decref(enc);
        return kvlm_fail(KVLM_ERR_FORMAT, "encoder.json: not a JSON object (line %d: %s)", err.line, err.text);
    }
    kvlm_tokenizer *t;
    kvlm_status st = kvlm_tokenizer_alloc(&t);
    if (st) { json_decref(enc); return st; }
    snprintf(t->source, sizeof t->source, "encoder.json");
    t->kind = KVLM_TOK_BYTELEVEL;
    json_int_t max_id = -1;
    const char *key;
    json_t *val;
    json_object_foreach(enc, key, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id >= KVLM_TOK_MAX_VOCAB) {
            st = kvlm_fail(KVLM_ERR_FORMAT, "encoder.json: entry \"%.64s\" has no valid id", key);
            goto fail;
        }
        if (id > max_id) max_id = id;
    }
    bool llama3 = strcmp(preset, "llama3") == 0 || strcmp(preset, "llama-bpe") == 0;
    if (llama3 && max_id != 127999) {
        st = kvlm_fail(KVLM_ERR_FORMAT, "encoder.json: the llama3 preset expects ids 0..127999 (got max %lld)", (long long)max_id);
        goto fail;
    }
    if ((st = kvlm_vocab_init(&t->vocab, llama3 ? 128256 : (int32_t)max_id + 1))) goto fail;
    if (llama3 && (st = add_llama3_specials(t))) goto fail;
    char *tmp = malloc(KVLM_TOK_MAX_TOKEN_LEN * 4 + 8);
    if (!tmp) { st = kvlm_fail(KVLM_ERR_NOMEM, "encoder.json: out of memory"); goto fail; }
    json_object_foreach(enc, key, val) {
        size_t kl = strlen(key);
        long r = kl <= KVLM_TOK_MAX_TOKEN_LEN * 4 ? kvlm_bytelevel_unmap(key, kl, tmp) : -1;
        if (r < 0) { st = kvlm_fail(KVLM_ERR_FORMAT, "encoder.json: bad token \"%.64s\"", key); break; }
        if ((st = kvlm_vocab_set(&t->vocab, (int32_t)json_integer_value(val), tmp, (size_t)r, 0, KVLM_TOKATTR_NORMAL))) break;
    }
    if (!st) st = kvlm_vocab_build_index(&t->vocab);
    /* merges: one "a b" per line; an optional "#version" first line */
    size_t line = 0;
    int32_t rank = 0;
    for (size_t i = 0; i < merges_len && !st; line++) {
        size_t j = i;
        while (j < merges_len && merges[j] != '\n') j++;
        size_t ll = j - i;
        const char *s = merges + i;
        i = j + 1;
        if (ll && s[ll - 1] == '\r') ll--;
        if (ll == 0 || (line == 0 && ll >= 8 && memcmp(s, "#version", 8) == 0)) continue;
        const char *sp = memchr(s, ' ', ll);
        if (!sp || ll > KVLM_TOK_MAX_TOKEN_LEN * 4) {
            st = kvlm_fail(KVLM_ERR_FORMAT, "merges: line %zu is not \"left right\"", line + 1);
            break;
        }
        size_t al = (size_t)(sp - s);
        long ra = kvlm_bytelevel_unmap(s, al, tmp);
        long rb = ra < 0 ? -1 : kvlm_bytelevel_unmap(sp + 1, ll - al - 1, tmp + ra);
        if (ra < 0 || rb < 0) { st = kvlm_fail(KVLM_ERR_FORMAT, "merges: line %zu is not valid UTF-8", line + 1); break; }
        int32_t a = kvlm_vocab_find(&t->vocab, tmp, (size_t)ra);
        int32_t b = kvlm_vocab_find(&t->vocab, tmp + ra, (size_t)rb);
        int32_t m = kvlm_vocab_find(&t->vocab, tmp, (size_t)(ra + rb));
        if (a < 0 || b < 0 || m < 0) {
            st = kvlm_fail(KVLM_ERR_FORMAT, "merges: line %zu names a token missing from encoder.json", line + 1);
            break;
        }
        st = kvlm_vocab_add_merge(&t->vocab, a, b, rank++, m);
    }
    free(tmp);
    if (!st) st = kvlm_tokenizer_set_preset(t, preset, strlen(preset));
    if (!st) st = kvlm_tokenizer_finish(t);
fail:
    json_decref(enc);
    if (st) kvlm_tokenizer_free(t);
    else *out = t;
    return st;
}
