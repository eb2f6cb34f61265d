/*
 * test_llama2c.c - llama2.c checkpoints and tokenizer.bin files.
 *
 * Without external data (always run):
 *   - synthetic checkpoints written here: the same random weights as legacy
 *     tied, legacy untied (wcls == embedding) and version 1 ("ak42") files
 *     give bit-identical logits; GQA; info fields; fingerprints equal for
 *     the same weights and different when one weight changes;
 *   - tokenizer.bin built in memory: count cap (4,194,304 ids) refused
 *     before allocation, special ids, byte fallback, decode.
 * With $KVLM_CONFORMANCE_DIR/models/stories260K (read in place; the test
 * prints SKIP for this part when it is absent):
 *   - conformance: eval BOS, greedy argmax for 256 steps, stop on BOS;
 *     the ids must equal expected_greedy.json's generated_token_ids and
 *     decode with tok512.bin to its generated_text;
 *   - the same through kvlm_generate (temperature 0), cached and with
 *     no_kv_cache: same tokens, and every step's logits memcmp-equal;
 *   - tok512.bin against sentencepiece reference ids
 *     (tests/fixtures/tokenizers/llama2c_tok512.json, made by
 *     make_llama2c_refs.py), decode and round trips;
 *   - kvlm_tokenizer_load on a checkpoint path finds tokenizer.bin beside
 *     it (a temporary folder of symlinks), and fails clearly without it.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "kvlm.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

#define REQUIRE_VOID(cond)                          \
    do {                                            \
        if (!(cond)) {                              \
            CHECK(0, "required: %s", #cond);        \
            return;                                 \
        }                                           \
    } while (0)

/* ---- synthetic checkpoints --------------------------------------------- */

typedef struct synth {
    int dim, hidden, layers, heads, kv_heads, vocab, seq;
    float *emb, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3, *rms_final, *wcls;
    size_t n_emb, n_att, n_q, n_k, n_o, n_ffn, n_w1;
} synth;

static uint64_t rng_state = 0x1234567887654321ull;
static float frand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xffffff) / 16777216.0f - 0.5f;
}

static float *rand_arr(size_t n, float scale, float offset)
{
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = offset + scale * frand();
    return a;
}

static void synth_make(synth *s)
{
    int hs = s->dim / s->heads, kd = s->kv_heads * hs;
    s->n_emb = (size_t)s->vocab * s->dim;
    s->n_att = (size_t)s->layers * s->dim;
    s->n_q = (size_t)s->layers * s->dim * s->dim;
    s->n_k = (size_t)s->layers * kd * s->dim;
    s->n_o = s->n_q;
    s->n_ffn = s->n_att;
    s->n_w1 = (size_t)s->layers * s->hidden * s->dim;
    s->emb = rand_arr(s->n_emb, 1.0f, 0);
    s->rms_att = rand_arr(s->n_att, 0.2f, 1.0f);
    s->wq = rand_arr(s->n_q, 0.5f, 0);
    s->wk = rand_arr(s->n_k, 0.5f, 0);
    s->wv = rand_arr(s->n_k, 0.5f, 0);
    s->wo = rand_arr(s->n_o, 0.5f, 0);
    s->rms_ffn = rand_arr(s->n_ffn, 0.2f, 1.0f);
    s->w1 = rand_arr(s->n_w1, 0.5f, 0);
    s->w2 = rand_arr(s->n_w1, 0.5f, 0);
    s->w3 = rand_arr(s->n_w1, 0.5f, 0);
    s->rms_final = rand_arr((size_t)s->dim, 0.2f, 1.0f);
    s->wcls = malloc(s->n_emb * sizeof(float));
    memcpy(s->wcls, s->emb, s->n_emb * sizeof(float));
}

static void synth_free(synth *s)
{
    float *p[] = {s->emb, s->rms_att, s->wq, s->wk, s->wv, s->wo, s->rms_ffn, s->w1, s->w2, s->w3,
                  s->rms_final, s->wcls};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) free(p[i]);
}

static void put(FILE *f, const float *a, size_t n) { fwrite(a, sizeof(float), n, f); }

/* kind 0: legacy tied, 1: legacy untied (vocab < 0, wcls after freq_cis),
 * 2: version 1 shared, 3: version 1 unshared */
static void synth_write(const synth *s, int kind, const char *path)
{
    FILE *f = fopen(path, "wb");
    int32_t hdr[7] = {s->dim, s->hidden, s->layers, s->heads, s->kv_heads, s->vocab, s->seq};
    if (kind == 1) hdr[5] = -s->vocab;
    if (kind <= 1) {
        fwrite(hdr, 4, 7, f);
        put(f, s->emb, s->n_emb);
        put(f, s->rms_att, s->n_att);
        put(f, s->wq, s->n_q);
        put(f, s->wk, s->n_k);
        put(f, s->wv, s->n_k);
        put(f, s->wo, s->n_o);
        put(f, s->rms_ffn, s->n_ffn);
        put(f, s->w1, s->n_w1);
        put(f, s->w2, s->n_w1);
        put(f, s->w3, s->n_w1);
        put(f, s->rms_final, (size_t)s->dim);
        size_t nf = (size_t)s->seq * (size_t)(s->dim / s->heads); /* real + imag halves */
        float *fc = calloc(nf, sizeof(float));
        put(f, fc, nf);
        free(fc);
        if (kind == 1) put(f, s->wcls, s->n_emb);
    } else {
        uint8_t h[256] = {0};
        uint32_t magic = 0x616b3432u;
        int32_t version = 1;
        memcpy(h, &magic, 4);
        memcpy(h + 4, &version, 4);
        memcpy(h + 8, hdr, 28);
        h[36] = kind == 2 ? 1 : 0;
        fwrite(h, 1, 256, f);
        put(f, s->rms_att, s->n_att);
        put(f, s->rms_ffn, s->n_ffn);
        put(f, s->rms_final, (size_t)s->dim);
        put(f, s->emb, s->n_emb);
        put(f, s->wq, s->n_q);
        put(f, s->wk, s->n_k);
        put(f, s->wv, s->n_k);
        put(f, s->wo, s->n_o);
        put(f, s->w1, s->n_w1);
        put(f, s->w2, s->n_w1);
        put(f, s->w3, s->n_w1);
        if (kind == 3) put(f, s->wcls, s->n_emb);
    }
    fclose(f);
}

/* Logits of every position for a fixed token sequence. */
static float *all_logits(const char *path, const int32_t *toks, int n, kvlm_model_info *info, uint8_t fp[32])
{
    kvlm_model *m = NULL;
    kvlm_status s = kvlm_model_load(path, NULL, &m);
    CHECK(s == KVLM_OK, "load %s: %s", path, kvlm_last_error());
    if (s) return NULL;
    kvlm_model_get_info(m, info);
    CHECK(kvlm_model_fingerprint(m, fp) == KVLM_OK, "fingerprint %s", path);
    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_threads = 1;
    kvlm_context *c = NULL;
    kvlm_session *se = NULL;
    float *out = malloc((size_t)n * (size_t)info->n_vocab * sizeof(float));
    if (kvlm_context_create(m, &cp, &c) != KVLM_OK || kvlm_session_create(c, &se) != KVLM_OK ||
        kvlm_session_eval(se, toks, n, KVLM_LOGITS_ALL, out) != KVLM_OK) {
        CHECK(0, "eval %s: %s", path, kvlm_last_error());
        free(out);
        out = NULL;
    }
    kvlm_session_free(se);
    kvlm_context_free(c);
    kvlm_model_free(m);
    return out;
}

static void test_synthetic(void)
{
    synth s = {.dim = 32, .hidden = 40, .layers = 2, .heads = 4, .kv_heads = 2, .vocab = 37, .seq = 24};
    synth_make(&s);
    char dir[] = "/tmp/kvlm_l2c_XXXXXX";
    REQUIRE_VOID(mkdtemp(dir) != NULL);
    char paths[4][256];
    for (int k = 0; k < 4; k++) {
        snprintf(paths[k], sizeof paths[k], "%s/synth%d.%s", dir, k, k == 3 ? "ckpt" : "bin");
        synth_write(&s, k, paths[k]);
    }
    int32_t toks[20];
    for (int i = 0; i < 20; i++) toks[i] = (int32_t)((i * 7 + 3) % s.vocab);
    float *ref = NULL;
    uint8_t fp[4][32];
    for (int k = 0; k < 4; k++) {
        kvlm_model_info in;
        float *l = all_logits(paths[k], toks, 20, &in, fp[k]);
        if (!l) continue;
        CHECK(strcmp(in.format, "llama2c") == 0, "format %s", in.format);
        CHECK(in.arch == KVLM_ARCH_LLAMA && in.n_layers == 2 && in.n_embd == 32 && in.n_heads == 4 &&
              in.n_kv_heads == 2 && in.head_dim == 8 && in.n_ff == 40 && in.n_vocab == 37 &&
              in.n_ctx_train == 24 && in.rope_theta == 10000.0f && in.norm_eps == 1e-5f,
              "kind %d: hyperparameters", k);
        size_t want_tensors = 2 + 9 * 2 + (k == 1 || k == 3);
        CHECK(in.n_tensors == (int)want_tensors, "kind %d: %d tensors", k, in.n_tensors);
        bool finite = true;
        for (size_t i = 0; i < 20u * 37u; i++) finite &= isfinite(l[i]) != 0;
        CHECK(finite, "kind %d: non-finite logits", k);
        if (!ref) ref = l;
        else {
            CHECK(memcmp(ref, l, 20u * 37u * sizeof(float)) == 0, "kind %d: logits differ from legacy tied", k);
            free(l);
        }
    }
    /* The fingerprint covers the tensor list in file order, so the two
     * layouts differ; tied and untied differ by output.weight. A reload
     * gives the same fingerprint, a changed weight another one. */
    CHECK(memcmp(fp[0], fp[1], 32) != 0, "tied and untied fingerprints are equal");
    kvlm_model *m = NULL;
    uint8_t fp2[32];
    CHECK(kvlm_model_load(paths[0], NULL, &m) == KVLM_OK && kvlm_model_fingerprint(m, fp2) == KVLM_OK,
          "reload: %s", kvlm_last_error());
    CHECK(memcmp(fp2, fp[0], 32) == 0, "fingerprint changed on reload");
    kvlm_model_free(m);
    m = NULL;
    s.w2[5] += 0.25f;
    synth_write(&s, 0, paths[0]);
    CHECK(kvlm_model_load(paths[0], NULL, &m) == KVLM_OK && kvlm_model_fingerprint(m, fp2) == KVLM_OK,
          "reload: %s", kvlm_last_error());
    CHECK(memcmp(fp2, fp[0], 32) != 0, "fingerprint ignores a weight change");
    kvlm_model_free(m);
    /* A checkpoint path without tokenizer.bin beside it: a clear error. */
    kvlm_tokenizer *t = NULL;
    kvlm_status st = kvlm_tokenizer_load(paths[0], &t);
    CHECK(st == KVLM_ERR_IO && t == NULL && strstr(kvlm_last_error(), "tokenizer.bin"),
          "tokenizer from a bare checkpoint: %d %s", st, kvlm_last_error());
    free(ref);
    for (int k = 0; k < 4; k++) unlink(paths[k]);
    rmdir(dir);
    synth_free(&s);
}

/* ---- tokenizer.bin built in memory -------------------------------------- */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void b_put(bytes *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void b_tok(bytes *b, float score, const char *s)
{
    int32_t n = (int32_t)strlen(s);
    b_put(b, &score, 4);
    b_put(b, &n, 4);
    b_put(b, s, (size_t)n);
}

static void test_tok_memory(void)
{
    bytes b = {0};
    int32_t ml = 8;
    b_put(&b, &ml, 4);
    b_tok(&b, 0, "<unk>");
    b_tok(&b, 0, "\n<s>\n");
    b_tok(&b, 0, "\n</s>\n");
    for (int i = 0; i < 256; i++) {
        char p[8];
        snprintf(p, sizeof p, "<0x%02X>", i);
        b_tok(&b, 0, p);
    }
    b_tok(&b, -1, " h");  /* 259 */
    b_tok(&b, -2, "hi");  /* 260 */
    b_tok(&b, -3, " hi"); /* 261 */
    b_tok(&b, -4, "h");   /* 262 */
    b_tok(&b, -5, "i");   /* 263 */
    b_tok(&b, -6, " ");   /* 264 */
    kvlm_tokenizer *t = NULL;
    kvlm_status st = kvlm_tokenizer_from_llama2c(b.p, b.n, "mem.bin", &t);
    CHECK(st == KVLM_OK, "small tokenizer: %s", kvlm_last_error());
    if (t) {
        CHECK(kvlm_tokenizer_n_vocab(t) == 265, "n_vocab %d", kvlm_tokenizer_n_vocab(t));
        CHECK(kvlm_tokenizer_bos(t) == 1 && kvlm_tokenizer_eos(t) == 2, "bos/eos");
        CHECK(kvlm_tokenizer_adds_bos(t), "adds BOS");
        CHECK(kvlm_tokenizer_is_eog(t, 2) && kvlm_tokenizer_is_eog(t, 1) && !kvlm_tokenizer_is_eog(t, 0),
              "EOS and BOS (run.c stops on BOS) end generation");
        int32_t ids[16];
        size_t n = 0;
        /* "hi" -> "\u2581hi" -> symbols (\u2581, h, i). Pairs by score:
         * (\u2581,h) -> " h" (-1) beats (h,i) -> "hi" (-2); then
         * (" h", i) -> " hi" (-3). */
        st = kvlm_tokenizer_encode(t, "hi", 2, KVLM_TOKENIZE_ADD_SPECIAL, ids, 16, &n);
        CHECK(st == KVLM_OK && n == 2 && ids[0] == 1 && ids[1] == 261, "encode 'hi': n=%zu %d %d", n,
              n > 0 ? ids[0] : -1, n > 1 ? ids[1] : -1);
        /* unknown character -> byte fallback (é = C3 A9) */
        st = kvlm_tokenizer_encode(t, "\xc3\xa9", 2, 0, ids, 16, &n);
        CHECK(st == KVLM_OK && n == 3 && ids[0] == 264 && ids[1] == 3 + 0xC3 && ids[2] == 3 + 0xA9,
              "byte fallback: n=%zu", n);
        char *text = NULL;
        size_t tn = 0;
        int32_t seq[] = {1, 261, 264, 3 + 0xC3, 3 + 0xA9, 2};
        st = kvlm_tokenizer_decode_alloc(t, seq, 6, KVLM_DETOKENIZE_SKIP_SPECIAL, &text, &tn);
        CHECK(st == KVLM_OK && text && strcmp(text, "hi \xc3\xa9") == 0, "decode: '%s'", text ? text : "");
        free(text);
        /* "<s>" is special: plain text unless asked to parse specials */
        st = kvlm_tokenizer_encode(t, "<s>", 3, KVLM_TOKENIZE_PARSE_SPECIAL, ids, 16, &n);
        CHECK(st == KVLM_OK && n == 1 && ids[0] == 1, "parse special <s>: n=%zu", n);
        kvlm_tokenizer_free(t);
    }
    /* Truncating the file anywhere inside the entries must fail cleanly. */
    for (size_t cut = 0; cut < b.n; cut += 97) {
        kvlm_tokenizer *t2 = NULL;
        st = kvlm_tokenizer_from_llama2c(b.p, cut, "cut.bin", &t2);
        /* a cut exactly at an entry boundary is a valid shorter vocabulary */
        CHECK(st == KVLM_OK || st == KVLM_ERR_FORMAT, "cut %zu: %d", cut, st);
        CHECK((st == KVLM_OK) == (t2 != NULL), "cut %zu: result and status disagree", cut);
        kvlm_tokenizer_free(t2);
    }
    free(b.p);

    /* Count cap: 4,194,305 empty entries are refused before allocation. */
    size_t n_ent = (size_t)KVLM_TOK_MAX_VOCAB + 1, sz = 4 + 8 * n_ent;
    uint8_t *big = calloc(1, sz);
    REQUIRE_VOID(big != NULL);
    int32_t one = 1;
    memcpy(big, &one, 4);
    kvlm_tokenizer *t3 = NULL;
    st = kvlm_tokenizer_from_llama2c(big, sz, "big.bin", &t3);
    CHECK(st == KVLM_ERR_FORMAT && t3 == NULL && strstr(kvlm_last_error(), "more than 4194304 tokens"),
          "count cap: %d %s", st, kvlm_last_error());
    free(big);
}

/* ---- conformance: stories260K ------------------------------------------ */

static const char *conf_dir;

static const char *cpath(char *buf, size_t n, const char *rel)
{
    snprintf(buf, n, "%s/models/stories260K/%s", conf_dir, rel);
    return buf;
}

static int32_t argmax(const float *l, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[best]) best = i;
    return best;
}

typedef struct logit_log {
    float *rows; /* [max_steps][n_vocab] */
    int max_steps, n_vocab, n;
    const float *cmp; /* when set: compare instead of store */
    int mismatches;
} logit_log;

static void on_logits(int step, const float *logits, int n_vocab, void *user)
{
    logit_log *g = user;
    if (step < 0 || step >= g->max_steps || n_vocab != g->n_vocab) return;
    if (g->cmp) {
        if (memcmp(g->cmp + (size_t)step * n_vocab, logits, (size_t)n_vocab * sizeof(float)) != 0) g->mismatches++;
    } else {
        memcpy(g->rows + (size_t)step * n_vocab, logits, (size_t)n_vocab * sizeof(float));
    }
    g->n++;
}

static void test_stories260k(void)
{
    char p[4096], tp[4096], jp[4096];
    cpath(p, sizeof p, "stories260K.bin");
    cpath(tp, sizeof tp, "tok512.bin");
    cpath(jp, sizeof jp, "expected_greedy.json");
    if (access(p, R_OK) != 0 || access(tp, R_OK) != 0 || access(jp, R_OK) != 0) {
        printf("SKIP stories260K: %s absent\n", p);
        return;
    }
    json_error_t je;
    json_t *j = json_load_file(jp, 0, &je);
    REQUIRE_VOID(j != NULL);
    json_t *jids = json_object_get(j, "generated_token_ids");
    size_t n_exp = json_array_size(jids);
    CHECK(n_exp == 256, "expected_greedy.json: %zu ids", n_exp);
    int32_t *exp = malloc((n_exp + 1) * sizeof *exp);
    for (size_t i = 0; i < n_exp; i++) exp[i] = (int32_t)json_integer_value(json_array_get(jids, i));
    const char *exp_text = json_string_value(json_object_get(j, "generated_text"));

    kvlm_model *m = NULL;
    kvlm_status st = kvlm_model_load(p, NULL, &m);
    CHECK(st == KVLM_OK, "load: %s", kvlm_last_error());
    kvlm_tokenizer *tok = NULL;
    st = kvlm_tokenizer_load(tp, &tok);
    CHECK(st == KVLM_OK, "tokenizer: %s", kvlm_last_error());
    if (!m || !tok) goto out;
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);
    CHECK(in.n_layers == 5 && in.n_embd == 64 && in.n_heads == 8 && in.n_kv_heads == 4 && in.n_ff == 172 &&
          in.n_vocab == 512 && in.n_ctx_train == 512 && in.n_tensors == 47 && in.n_params == 260032,
          "stories260K hyperparameters");
    CHECK(kvlm_tokenizer_n_vocab(tok) == 512, "tok512 n_vocab %d", kvlm_tokenizer_n_vocab(tok));

    /* 1. the plain loop: eval BOS, argmax, stop on BOS (as run.c) */
    kvlm_context_params cp = kvlm_context_default_params();
    cp.n_threads = 1;
    kvlm_context *c = NULL;
    kvlm_session *se = NULL;
    st = kvlm_context_create(m, &cp, &c);
    if (!st) st = kvlm_session_create(c, &se);
    CHECK(st == KVLM_OK, "context: %s", kvlm_last_error());
    if (st) goto out;
    float *logits = malloc(512 * sizeof(float));
    int32_t gen[256];
    int n_gen = 0;
    int32_t cur = 1;
    for (int step = 0; step < 256; step++) {
        st = kvlm_session_eval(se, &cur, 1, KVLM_LOGITS_LAST, logits);
        if (st) break;
        int32_t next = argmax(logits, 512);
        if (next == 1) break;
        gen[n_gen++] = next;
        cur = next;
    }
    CHECK(st == KVLM_OK, "eval: %s", kvlm_last_error());
    int first_diff = -1;
    for (int i = 0; i < n_gen && i < (int)n_exp; i++)
        if (gen[i] != exp[i]) { first_diff = i; break; }
    CHECK(n_gen == (int)n_exp && first_diff < 0, "greedy: %d ids, first difference at step %d", n_gen, first_diff);
    char *text = NULL;
    size_t tn = 0;
    st = kvlm_tokenizer_decode_alloc(tok, gen, (size_t)n_gen, 0, &text, &tn);
    CHECK(st == KVLM_OK && exp_text && text && strcmp(text, exp_text) == 0, "decoded text differs:\n%s",
          text ? text : "");
    /* decode after BOS, as run.c prints it */
    int32_t with_bos[257];
    with_bos[0] = 1;
    memcpy(with_bos + 1, gen, (size_t)n_gen * sizeof *gen);
    char *text2 = NULL;
    st = kvlm_tokenizer_decode_alloc(tok, with_bos, (size_t)n_gen + 1, KVLM_DETOKENIZE_SKIP_SPECIAL, &text2, &tn);
    CHECK(st == KVLM_OK && text && text2 && strcmp(text2, text) == 0, "decode with BOS differs");
    free(text2);
    printf("stories260K greedy: %d/%zu ids match\n", first_diff < 0 ? n_gen : first_diff, n_exp);

    /* 2. kvlm_generate, cached then no_kv_cache: same ids, same logits */
    logit_log lg = {malloc(256 * 512 * sizeof(float)), 256, 512, 0, NULL, 0};
    for (int mode = 0; mode < 2; mode++) {
        kvlm_session *s2 = NULL;
        CHECK(kvlm_session_create(c, &s2) == KVLM_OK, "session");
        kvlm_generate_params gp = kvlm_generate_default_params();
        gp.max_tokens = 256;
        gp.sampler.temperature = 0;
        gp.no_kv_cache = mode == 1;
        gp.on_logits = on_logits;
        gp.logits_user = &lg;
        lg.n = 0;
        lg.cmp = mode == 1 ? lg.rows : NULL;
        kvlm_generate_result r;
        int32_t bos = 1;
        st = kvlm_generate(s2, tok, &bos, 1, &gp, &r);
        CHECK(st == KVLM_OK, "generate (%s): %s", mode ? "no cache" : "cached", kvlm_last_error());
        CHECK(r.completion_tokens == (int)n_exp && memcmp(r.tokens, exp, n_exp * sizeof *exp) == 0,
              "generate (%s): %d tokens, ids differ from expected", mode ? "no cache" : "cached",
              r.completion_tokens);
        CHECK(r.text && exp_text && strcmp(r.text, exp_text) == 0, "generate (%s): text differs",
              mode ? "no cache" : "cached");
        CHECK(lg.n == 256, "generate: %d logits rows", lg.n);
        if (mode == 1) CHECK(lg.mismatches == 0, "no_kv_cache: %d steps' logits differ", lg.mismatches);
        kvlm_generate_result_free(&r);
        kvlm_session_free(s2);
    }
    free(lg.rows);
    free(text);
    free(logits);
    kvlm_session_free(se);
    kvlm_context_free(c);

    /* 3. a checkpoint path finds tokenizer.bin beside it */
    char dir[] = "/tmp/kvlm_l2c_tok_XXXXXX";
    if (mkdtemp(dir)) {
        char a[4200], b[4200];
        snprintf(a, sizeof a, "%s/model.bin", dir);
        snprintf(b, sizeof b, "%s/tokenizer.bin", dir);
        CHECK(symlink(p, a) == 0, "symlink");
        kvlm_tokenizer *t2 = NULL;
        st = kvlm_tokenizer_load(a, &t2);
        CHECK(st == KVLM_ERR_IO && strstr(kvlm_last_error(), "tokenizer.bin"), "no tokenizer.bin: %s",
              kvlm_last_error());
        CHECK(symlink(tp, b) == 0, "symlink");
        st = kvlm_tokenizer_load(a, &t2);
        CHECK(st == KVLM_OK && t2 && kvlm_tokenizer_n_vocab(t2) == 512, "tokenizer beside checkpoint: %s",
              kvlm_last_error());
        kvlm_tokenizer_free(t2);
        unlink(b);
        unlink(a);
        rmdir(dir);
    }
out:
    kvlm_tokenizer_free(tok);
    kvlm_model_free(m);
    free(exp);
    json_decref(j);
}

static void test_tok512_refs(void)
{
    char tp[4096], fx[4096];
    cpath(tp, sizeof tp, "tok512.bin");
    if (access(tp, R_OK) != 0) {
        printf("SKIP tok512 reference ids: %s absent\n", tp);
        return;
    }
    fixture_path(fx, sizeof fx, "tokenizers/llama2c_tok512.json");
    json_error_t je;
    json_t *j = json_load_file(fx, 0, &je);
    REQUIRE_VOID(j != NULL);
    kvlm_tokenizer *tok = NULL;
    kvlm_status st = kvlm_tokenizer_load(tp, &tok);
    CHECK(st == KVLM_OK, "tok512: %s", kvlm_last_error());
    if (!tok) { json_decref(j); return; }
    json_t *cases = json_object_get(j, "cases");
    size_t ok = 0, n_cases = json_array_size(cases);
    for (size_t i = 0; i < n_cases; i++) {
        json_t *cs = json_array_get(cases, i);
        const char *text = json_string_value(json_object_get(cs, "text"));
        const char *coll = json_string_value(json_object_get(cs, "collapsed"));
        const char *dec = json_string_value(json_object_get(cs, "decoded"));
        json_t *jids = json_object_get(cs, "ids");
        size_t n_want = json_array_size(jids);
        int32_t *want = malloc((n_want + 2) * sizeof *want);
        want[0] = 1;
        for (size_t k = 0; k < n_want; k++) want[k + 1] = (int32_t)json_integer_value(json_array_get(jids, k));
        /* sentencepiece collapses spaces (remove_extra_whitespaces); run.c
         * and kvlm keep them: compare on the collapsed text */
        int32_t *ids = NULL;
        size_t n = 0;
        st = kvlm_tokenizer_encode_alloc(tok, coll, strlen(coll), 0, &ids, &n);
        bool same = st == KVLM_OK && n == n_want && (n == 0 || memcmp(ids, want + 1, n * sizeof *ids) == 0);
        CHECK(same, "case %zu '%s': ids differ from sentencepiece (%zu vs %zu)", i, text, n, n_want);
        free(ids);
        /* with BOS */
        st = kvlm_tokenizer_encode_alloc(tok, coll, strlen(coll), KVLM_TOKENIZE_ADD_SPECIAL, &ids, &n);
        CHECK(st == KVLM_OK && n == n_want + 1 && memcmp(ids, want, n * sizeof *ids) == 0, "case %zu: with BOS", i);
        free(ids);
        char *out = NULL;
        size_t on = 0;
        if (strstr(text, "\xe2\x96\x81")) {
            /* A literal U+2581 is lossy in every SentencePiece pipeline (it
             * decodes as a space), and sentencepiece then strips more
             * leading spaces than HF's decoder (one), which kvlm follows:
             * only the ids are compared. */
            ok += same;
            free(want);
            continue;
        }
        /* decode of the reference ids equals sentencepiece's decode */
        st = kvlm_tokenizer_decode_alloc(tok, want + 1, n_want, 0, &out, &on);
        CHECK(st == KVLM_OK && out && strcmp(out, dec) == 0, "case %zu: decode '%s' != '%s'", i, out ? out : "", dec);
        free(out);
        /* round trip of the original text (spaces kept, bytes exact) */
        st = kvlm_tokenizer_encode_alloc(tok, text, strlen(text), KVLM_TOKENIZE_ADD_SPECIAL, &ids, &n);
        if (st == KVLM_OK) st = kvlm_tokenizer_decode_alloc(tok, ids, n, KVLM_DETOKENIZE_SKIP_SPECIAL, &out, &on);
        CHECK(st == KVLM_OK && out && on == strlen(text) && memcmp(out, text, on) == 0, "case %zu: round trip '%s'",
              i, out ? out : "");
        free(ids);
        free(out);
        out = NULL;
        ok += same;
        free(want);
    }
    CHECK(n_cases >= 20, "only %zu cases", n_cases);
    printf("tok512.bin vs sentencepiece: %zu/%zu cases\n", ok, n_cases);
    kvlm_tokenizer_free(tok);
    json_decref(j);
}

int main(void)
{
    test_synthetic();
    test_tok_memory();
    conf_dir = getenv("KVLM_CONFORMANCE_DIR");
    if (!conf_dir || !*conf_dir) {
        printf("SKIP stories260K conformance: KVLM_CONFORMANCE_DIR is not set\n");
    } else {
        test_stories260k();
        test_tok512_refs();
    }
    TEST_MAIN_END("test_llama2c");
}
