/*
 * kvlm.h - the public C API of kvlm, an inference engine built around the
 * KV cache.
 *
 * Conventions (they hold for every function below):
 *   - Handles are opaque. Every constructor has a matching *_free(), which
 *     accepts NULL.
 *   - Parameter structs are obtained from kvlm_*_default_params() and then
 *     edited, so that new fields keep old callers working.
 *   - Functions that can fail return a kvlm_status. On failure the calling
 *     thread's kvlm_last_error() names what was wrong (file, field, offset,
 *     or argument). Library code never exits or aborts on bad input.
 *   - Token ranges are half-open [p0, p1).
 *   - Logits are float32, one row of n_vocab values per token.
 *
 * Ownership: a kvlm_context borrows its kvlm_model (the model must outlive
 * it); a kvlm_session borrows its kvlm_context.
 */
#ifndef KVLM_H
#define KVLM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Status codes
 *
 *    0  KVLM_OK               success
 *   -1  KVLM_ERR_INVALID_ARG  a caller-supplied argument is invalid
 *   -2  KVLM_ERR_IO           a file could not be opened, read, or mapped
 *   -3  KVLM_ERR_FORMAT       a file or value is malformed (bad magic,
 *                             truncated, out-of-range field, ...)
 *   -4  KVLM_ERR_UNSUPPORTED  well-formed but not supported (architecture,
 *                             tensor type, rope type, ...)
 *   -5  KVLM_ERR_NOMEM        a host allocation failed
 *   -6  KVLM_ERR_KV_FULL      no free KV block within the memory budget; the
 *                             caller may free sessions and retry
 *   -7  KVLM_ERR_CONTEXT_FULL the sequence would exceed the context length
 *   -8  KVLM_ERR_INTERNAL     an internal invariant failed (a bug)
 * ------------------------------------------------------------------------- */
typedef enum kvlm_status {
    KVLM_OK = 0,
    KVLM_ERR_INVALID_ARG = -1,
    KVLM_ERR_IO = -2,
    KVLM_ERR_FORMAT = -3,
    KVLM_ERR_UNSUPPORTED = -4,
    KVLM_ERR_NOMEM = -5,
    KVLM_ERR_KV_FULL = -6,
    KVLM_ERR_CONTEXT_FULL = -7,
    KVLM_ERR_INTERNAL = -8,
} kvlm_status;

/* Message describing the calling thread's most recent failure ("" if none). */
const char *kvlm_last_error(void);
/* Short constant name of a status code, e.g. "KVLM_ERR_FORMAT". */
const char *kvlm_status_name(kvlm_status s);

/* Version string of the library, e.g. "0.1.0". */
const char *kvlm_version(void);

/* ---------------------------------------------------------------------------
 * Models
 * ------------------------------------------------------------------------- */
typedef struct kvlm_model kvlm_model;

typedef enum kvlm_arch {
    KVLM_ARCH_GPT2 = 0,
    KVLM_ARCH_LLAMA = 1, /* Llama 2/3, Mistral and compatible */
    KVLM_ARCH_QWEN2 = 2, /* Qwen2 / Qwen2.5 (QKV bias) */
} kvlm_arch;

/* Progress callback for long loads: done/total in bytes. Return false to
 * cancel the load (it then fails with KVLM_ERR_INVALID_ARG, "load
 * cancelled"). Given a callback, kvlm_model_load() reads every weight once
 * after mapping the file(s) (so the pages are resident when it returns) and
 * reports the bytes read: total is the sum of the tensors' sizes, done
 * grows strictly and ends at total, about every 16 MiB. Without one,
 * weights are paged in by their first use, as before. */
typedef bool (*kvlm_progress_fn)(uint64_t done, uint64_t total, void *user);

typedef struct kvlm_model_params {
    kvlm_progress_fn progress; /* may be NULL */
    void *progress_user;
    /* Opt-in BF16 matmul for F16/BF16 weights (default false: exact, F32
     * activations). The layer matrices (and an output matrix that is not
     * the token embedding) are rounded to BF16 at load, activations are
     * rounded to BF16 per row, and dot products run as AVX-512 BF16's
     * vdpbf16ps does - about twice the prefill speed on CPUs with
     * AVX-512 BF16 (elsewhere an emulation of the same bits, slower than
     * the exact mode). Results
     * keep the bit-exactness rule but differ from the exact mode by BF16's
     * 8-bit precision; the model fingerprint records the mode. */
    bool bf16_matmul;
} kvlm_model_params;

kvlm_model_params kvlm_model_default_params(void);

/* Loads a model from a .gguf file or from a Hugging Face folder holding
 * config.json and model.safetensors (or sharded safetensors with
 * model.safetensors.index.json). */
kvlm_status kvlm_model_load(const char *path, const kvlm_model_params *params,
                            kvlm_model **out);
void kvlm_model_free(kvlm_model *model);

/* Tensor element types, numbered as in GGUF. */
typedef enum kvlm_dtype {
    KVLM_DTYPE_F32 = 0,
    KVLM_DTYPE_F16 = 1,
    KVLM_DTYPE_Q4_0 = 2,
    KVLM_DTYPE_Q5_0 = 6, /* llama.cpp's fallback for rows not a multiple of 256 in K-quant files */
    KVLM_DTYPE_Q8_0 = 8,
    KVLM_DTYPE_Q4_K = 12,
    KVLM_DTYPE_Q5_K = 13,
    KVLM_DTYPE_Q6_K = 14,
    KVLM_DTYPE_Q8_K = 15, /* activations only, never a weight type here */
    KVLM_DTYPE_BF16 = 30,
} kvlm_dtype;

/* Name of a dtype ("f32", "q4_K", ...) or NULL if kvlm does not know it. */
const char *kvlm_dtype_name(kvlm_dtype t);

typedef struct kvlm_model_info {
    kvlm_arch arch;
    const char *arch_name;   /* "gpt2", "llama", "qwen2" */
    const char *format;      /* "gguf", "safetensors" or "llama2c" */
    int n_layers;
    int n_embd;              /* hidden size */
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int n_ff;                /* MLP inner size */
    int n_vocab;
    int n_ctx_train;         /* trained context length */
    float rope_theta;        /* 0 for GPT-2 */
    float norm_eps;
    uint64_t n_params;       /* number of weights */
    uint64_t file_bytes;     /* total size of the model file(s) */
    uint64_t weight_bytes;   /* bytes of tensor data */
    int n_tensors;
} kvlm_model_info;

void kvlm_model_get_info(const kvlm_model *model, kvlm_model_info *out);

/* Number of tensors; name, dtype, shape (ne[0] innermost, as in GGUF) of
 * tensor i in [0, n). Returns false for i out of range. */
bool kvlm_model_tensor(const kvlm_model *model, int i, const char **name,
                       kvlm_dtype *dtype, int64_t ne[4], int *n_dims);

/* SHA-256 fingerprint over the architecture hyperparameters, the tokenizer
 * metadata, every tensor's name, type, shape and data, and the BF16 matmul
 * mode when it is on (its K/V differ from the exact mode's). It identifies the
 * model for persistent caches. Computed on first call (it reads all weights
 * once), then cached in the model. */
kvlm_status kvlm_model_fingerprint(kvlm_model *model, uint8_t out[32]);

/* KV cache bytes per token for a KV dtype:
 * 2 * n_layers * n_kv_heads * head_dim * bytes-per-element. */
uint64_t kvlm_model_kv_bytes_per_token(const kvlm_model *model, kvlm_dtype kv_type);

/* ---------------------------------------------------------------------------
 * Contexts: thread pool, scratch memory and the KV block pool for a model.
 * ------------------------------------------------------------------------- */
typedef struct kvlm_context kvlm_context;

typedef struct kvlm_context_params {
    int n_threads;          /* 0: number of online CPUs */
    int n_ctx;              /* max tokens per sequence; 0: model's trained length */
    int n_batch;            /* max tokens per forward pass (prefill chunk); default 512 */
    kvlm_dtype kv_type;     /* KVLM_DTYPE_F32 (default), F16, BF16 or Q8_0 */
    int kv_block_size;      /* tokens per KV block; default 16 */
    uint64_t kv_memory_bytes; /* KV pool budget; 0: enough for one n_ctx sequence */
    bool prefix_cache;      /* default true: full KV blocks are published in a
                               prefix index and reused by later sessions */
} kvlm_context_params;

kvlm_context_params kvlm_context_default_params(void);

kvlm_status kvlm_context_create(kvlm_model *model, const kvlm_context_params *params,
                                kvlm_context **out);
void kvlm_context_free(kvlm_context *ctx);

/* The effective parameters (defaults resolved). */
kvlm_context_params kvlm_context_get_params(const kvlm_context *ctx);

/* ---------------------------------------------------------------------------
 * Sessions: one token sequence and its KV cache (the C counterpart of
 * Hugging Face's past_key_values).
 * ------------------------------------------------------------------------- */
typedef struct kvlm_session kvlm_session;

kvlm_status kvlm_session_create(kvlm_context *ctx, kvlm_session **out);
void kvlm_session_free(kvlm_session *s);

typedef enum kvlm_logits_mode {
    KVLM_LOGITS_NONE = 0, /* compute no logits */
    KVLM_LOGITS_LAST = 1, /* logits of the last token: n_vocab floats */
    KVLM_LOGITS_ALL = 2,  /* logits of every token: n * n_vocab floats */
} kvlm_logits_mode;

/* Appends tokens [0, n) to the session, computing their K/V (in chunks of at
 * most n_batch tokens) and the logits asked for into `logits`.
 * Returns KVLM_ERR_CONTEXT_FULL if the session would exceed n_ctx and
 * KVLM_ERR_KV_FULL if the block pool is exhausted; in both cases the session
 * is left as it was before the call. */
kvlm_status kvlm_session_eval(kvlm_session *s, const int32_t *tokens, int n,
                              kvlm_logits_mode mode, float *logits);

/* Number of tokens whose K/V the session holds. */
int kvlm_session_n_tokens(const kvlm_session *s);

/* Rewinds the session to its first n tokens, releasing later KV blocks. */
kvlm_status kvlm_session_truncate(kvlm_session *s, int n);

/* Batched decode: appends tokens[i] to sessions[i] for i in [0, n) in ONE
 * forward pass (each weight is read once for all n sequences), n <= the
 * context's n_batch. The sessions must be distinct and belong to the same
 * context. logits (may be NULL) receives n rows of n_vocab floats, row i
 * bit-identical to what kvlm_session_eval(sessions[i], &tokens[i], 1, LAST)
 * would give. All-or-nothing: on KVLM_ERR_KV_FULL / KVLM_ERR_CONTEXT_FULL
 * no session changes. */
kvlm_status kvlm_session_eval_batch(kvlm_session *const *sessions, const int32_t *tokens, int n,
                                    float *logits);

/* ---------------------------------------------------------------------------
 * Prefix cache (src/kv/, src/engine/; see docs/ARCHITECTURE.md "Prefix cache")
 *
 * Every full KV block a session computes is published under a key: SHA-256
 * over (parent block's key, the block's token ids, cache namespace, model
 * fingerprint, KV dtype, block size). kvlm_session_eval first matches the
 * longest run of published blocks that continues the session's tokens and
 * computes only the rest; when everything is cached the last token is still
 * computed (into a copy of its block) to produce logits. Published blocks
 * are immutable and shared by reference count; a session writing into a
 * shared or published block copies it first. Blocks nobody references keep
 * their key in an LRU list and are evicted only when a block is needed.
 * By the bit-exactness rule, logits served from cached blocks are
 * memcmp-equal to a cold computation.
 *
 * Namespaces separate tenants: a lookup only matches blocks published in
 * the same namespace.
 * ------------------------------------------------------------------------- */
typedef struct kvlm_session_params {
    const char *cache_namespace; /* NULL or "": the default namespace; at most
                                    256 bytes; copied */
    bool prefix_cache;           /* default true: look up and publish blocks
                                    (no effect if the context has no cache) */
} kvlm_session_params;

kvlm_session_params kvlm_session_default_params(void);

/* kvlm_session_create() is kvlm_session_create_ex() with the defaults. */
kvlm_status kvlm_session_create_ex(kvlm_context *ctx, const kvlm_session_params *params,
                                   kvlm_session **out);

/* Tokens of the last kvlm_session_eval() call served from the prefix
 * cache instead of computed (0 after any other call). */
int kvlm_session_cached_tokens(const kvlm_session *s);

/* A new session holding the same tokens, sharing every KV block with s
 * (the first write into a shared block copies it). Same namespace. */
kvlm_status kvlm_session_fork(const kvlm_session *s, kvlm_session **out);

/* Writes the session's tokens and KV to a file: magic, format version,
 * model fingerprint, KV dtype, block size, shapes, token ids, the K/V rows
 * of the session's positions, SHA-256 checksum. */
kvlm_status kvlm_session_save(const kvlm_session *s, const char *path);

/* Replaces the session's contents with a saved file's. Any mismatch (model
 * fingerprint, KV dtype, block size, shapes, n_ctx), truncation or
 * corruption is a clean KVLM_ERR_FORMAT / KVLM_ERR_UNSUPPORTED /
 * KVLM_ERR_IO naming the problem, and leaves the session unchanged. */
kvlm_status kvlm_session_load(kvlm_session *s, const char *path);

typedef struct kvlm_cache_stats {
    uint64_t lookups;        /* prefix lookups (one per eval that could match) */
    uint64_t hit_tokens;     /* tokens served from published blocks */
    uint64_t miss_tokens;    /* tokens computed by kvlm_session_eval */
    uint64_t evictions;      /* cached blocks whose key was dropped for reuse */
    uint64_t cow_copies;     /* blocks copied before a write */
    int blocks_total;        /* blocks in the pool */
    int blocks_used;         /* referenced by at least one session */
    int blocks_cached;       /* unreferenced, keyed, in the LRU list */
    int blocks_free;         /* unreferenced, no key */
    uint64_t block_bytes;    /* bytes of K/V per block */
    int block_size;          /* tokens per block */
} kvlm_cache_stats;

void kvlm_context_cache_stats(const kvlm_context *ctx, kvlm_cache_stats *out);

/* Verifies the block pool's and prefix index's invariants (reference counts,
 * free list, LRU membership, index consistency). KVLM_OK, or
 * KVLM_ERR_INTERNAL naming the broken invariant. */
kvlm_status kvlm_context_check(const kvlm_context *ctx);

/* Drops every cached (unreferenced) block's key: a cold cache. */
void kvlm_context_cache_clear(kvlm_context *ctx);

/* ===========================================================================
 * Tokenizers (section owned by src/tokenizer/; see docs/TOKENIZER.md)
 *
 * A kvlm_tokenizer is immutable once loaded: encode/decode may be called
 * from several threads at once. Ids are int32_t in [0, n_vocab).
 * Capacity convention for functions filling a caller buffer: if the buffer
 * is too small they return KVLM_ERR_INVALID_ARG and still store the needed
 * count in *n_out, so callers may size a buffer and call again.
 * ========================================================================= */
typedef struct kvlm_tokenizer kvlm_tokenizer;

/* Loads a tokenizer from a .gguf (tokenizer.ggml.* keys), a tokenizer.json,
 * or a folder holding tokenizer.json (+ optional tokenizer_config.json, which
 * supplies add_bos/add_eos, bos/eos and the chat template). */
kvlm_status kvlm_tokenizer_load(const char *path, kvlm_tokenizer **out);
void kvlm_tokenizer_free(kvlm_tokenizer *tok);

/* Encoding flags. */
#define KVLM_TOKENIZE_ADD_SPECIAL   1u /* add BOS/EOS as the model's post-processor does */
#define KVLM_TOKENIZE_PARSE_SPECIAL 2u /* recognise special-token text (else plain text) */

/* Tokenizes text[0, len) (any bytes; see docs/TOKENIZER.md for invalid UTF-8)
 * into ids[0, capacity). *n_out receives the number of ids. */
kvlm_status kvlm_tokenizer_encode(const kvlm_tokenizer *tok, const char *text, size_t len,
                                  unsigned flags, int32_t *ids, size_t capacity, size_t *n_out);
/* Same, into a malloc'ed array the caller frees with free(). */
kvlm_status kvlm_tokenizer_encode_alloc(const kvlm_tokenizer *tok, const char *text, size_t len,
                                        unsigned flags, int32_t **ids, size_t *n_out);

/* Decoding flags. */
#define KVLM_DETOKENIZE_SKIP_SPECIAL 1u /* drop control tokens (BOS, EOS, ...) */

/* Detokenizes ids[0, n) into buf[0, capacity): the bytes, then a NUL.
 * *n_out receives the byte count (without the NUL); capacity must be at
 * least *n_out + 1. Invalid ids (negative, >= n_vocab, holes) are
 * KVLM_ERR_INVALID_ARG. The result is the exact bytes of the tokens (byte
 * fallback and byte-level bytes joined), so decode(encode(s)) == s. */
kvlm_status kvlm_tokenizer_decode(const kvlm_tokenizer *tok, const int32_t *ids, size_t n,
                                  unsigned flags, char *buf, size_t capacity, size_t *n_out);
/* Same, into a malloc'ed NUL-terminated string the caller frees. */
kvlm_status kvlm_tokenizer_decode_alloc(const kvlm_tokenizer *tok, const int32_t *ids, size_t n,
                                        unsigned flags, char **text, size_t *n_out);

/* The bytes token id stands for when decoded in the middle of a text (no
 * leading-space stripping), owned by the tokenizer. May be invalid UTF-8
 * (a single byte-fallback byte). */
kvlm_status kvlm_tokenizer_token_to_piece(const kvlm_tokenizer *tok, int32_t id,
                                          const char **piece, size_t *len);
/* The token's text as written in the vocabulary (e.g. "Ġhello", "▁the",
 * "<0x0A>"), owned by the tokenizer (NUL-terminated). NULL for an invalid id. */
const char *kvlm_tokenizer_token_text(const kvlm_tokenizer *tok, int32_t id);
/* Id of an exact token text, or -1. */
int32_t kvlm_tokenizer_find(const kvlm_tokenizer *tok, const char *text, size_t len);

int32_t kvlm_tokenizer_n_vocab(const kvlm_tokenizer *tok);
int32_t kvlm_tokenizer_bos(const kvlm_tokenizer *tok); /* -1 if none */
int32_t kvlm_tokenizer_eos(const kvlm_tokenizer *tok); /* -1 if none */
/* true for control/special tokens (BOS, EOS, <|im_end|>, ...). */
bool kvlm_tokenizer_is_special(const kvlm_tokenizer *tok, int32_t id);
/* true if generating id should end a turn (EOS, EOT, <|im_end|>, <|end|>...). */
bool kvlm_tokenizer_is_eog(const kvlm_tokenizer *tok, int32_t id);
/* Whether KVLM_TOKENIZE_ADD_SPECIAL adds a BOS for this model. */
bool kvlm_tokenizer_adds_bos(const kvlm_tokenizer *tok);

/* Streaming detokenizer: feed ids one at a time, get only complete UTF-8.
 * Incomplete sequences are held back (at most 3 bytes) until a later token
 * completes them; bytes that can never become valid UTF-8 are replaced by
 * U+FFFD; finish() emits U+FFFD for a dangling incomplete tail. Output never
 * contains invalid UTF-8. The stream borrows its tokenizer. */
typedef struct kvlm_tokenizer_stream kvlm_tokenizer_stream;
kvlm_status kvlm_tokenizer_stream_create(const kvlm_tokenizer *tok, unsigned flags,
                                         kvlm_tokenizer_stream **out);
void kvlm_tokenizer_stream_free(kvlm_tokenizer_stream *s);
/* Writes the text made complete by id into buf[0, capacity) (NUL-terminated),
 * *n_out bytes. capacity >= 3 * (piece length + 3) + 1 always suffices
 * (each invalid byte may become a 3-byte U+FFFD); if it is too small the
 * call fails with KVLM_ERR_INVALID_ARG, stores the need in *n_out and
 * leaves the stream unchanged. */
kvlm_status kvlm_tokenizer_stream_push(kvlm_tokenizer_stream *s, int32_t id, char *buf,
                                       size_t capacity, size_t *n_out);
kvlm_status kvlm_tokenizer_stream_finish(kvlm_tokenizer_stream *s, char *buf, size_t capacity,
                                         size_t *n_out);

/* Chat templates. Built-in renderers, chosen by recognising the model's
 * chat_template (or by name: "chatml", "llama3", "llama3.1", "llama2",
 * "mistral", "gemma", "phi3"). Rendering is cache-stable: the rendering of messages
 * [0, k) is a byte prefix of the rendering of [0, k+1) when the template
 * allows it (see docs/TOKENIZER.md). */
typedef struct kvlm_chat_message {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content; /* NUL-terminated UTF-8 */
} kvlm_chat_message;

/* Name of the built-in template recognised for tok ("chatml", ...), or NULL
 * if the model has none or it is not recognised. */
const char *kvlm_tokenizer_chat_template_name(const kvlm_tokenizer *tok);
/* Same recognition for a Jinja template source (NULL if not recognised). */
const char *kvlm_chat_template_detect(const char *jinja_source);
/* Renders msgs[0, n) with template `name` (NULL: the tokenizer's own) into a
 * malloc'ed NUL-terminated string (*len bytes) the caller frees.
 * add_generation_prompt appends the assistant header. */
kvlm_status kvlm_chat_render(const kvlm_tokenizer *tok, const char *name,
                             const kvlm_chat_message *msgs, size_t n, bool add_generation_prompt,
                             char **out, size_t *len);
/* ===================== end of the tokenizer section ====================== */

/* ---------------------------------------------------------------------------
 * Sampling: choosing the next token from one row of logits.
 *
 * A sampler applies, in this order (llama.cpp's default chain):
 *   1. logit bias           logit[t] += bias for each (t, bias) entry;
 *                           -INFINITY bans t
 *   2. penalties            over the last penalty_last_n tokens of the
 *                           history, for each token t seen count > 0 times:
 *                           repetition (llama.cpp / HF): logit > 0 ?
 *                           logit / r : logit * r; then presence and
 *                           frequency (OpenAI): logit -= presence +
 *                           frequency * count
 *   3. greedy               if temperature == 0: the token with the highest
 *                           logit, the lowest id among ties; stop here
 *   4. top-k                keep the k highest logits
 *   5. top-p                keep the smallest set of highest logits whose
 *                           softmax probability sums to >= top_p
 *   6. min-p                keep tokens with probability >= min_p times the
 *                           highest probability
 *   7. temperature          logit /= temperature
 *   8. softmax and a draw   from the sampler's own seeded generator
 * Logits are ordered by value, then by token id (lower first), so ties at
 * a top-k or top-p boundary keep the lower ids. Every step uses the
 * probabilities left by the step before (top-p and min-p see temperature 1).
 *
 * A sampler holds scratch memory for n_vocab tokens and does not allocate
 * while sampling. It is not thread-safe: use one per sequence.
 * ------------------------------------------------------------------------- */
typedef struct kvlm_sampler kvlm_sampler;

typedef struct kvlm_logit_bias {
    int32_t token; /* in [0, n_vocab) */
    float bias;    /* added to the logit; -INFINITY bans the token; entries
                      for the same token add up */
} kvlm_logit_bias;

typedef struct kvlm_sampler_params {
    float temperature;        /* >= 0; 0: greedy. Default 0.8 */
    int top_k;                /* >= 0; 0: off. Default 40 */
    float top_p;              /* in (0, 1]; 1: off. Default 0.95 */
    float min_p;              /* in [0, 1]; 0: off. Default 0.05 */
    float repetition_penalty; /* > 0; 1: off (default) */
    float presence_penalty;   /* finite, may be negative; 0: off (default) */
    float frequency_penalty;  /* finite, may be negative; 0: off (default) */
    int penalty_last_n;       /* penalties look at the last n history tokens;
                                 0: none, -1: the whole history. Default 64 */
    const kvlm_logit_bias *logit_bias; /* n_logit_bias entries, copied by
                                          kvlm_sampler_create; default NULL */
    int n_logit_bias;
    uint64_t seed;            /* the same seed gives the same draws on every
                                 run and platform. Default 0 */
} kvlm_sampler_params;

kvlm_sampler_params kvlm_sampler_default_params(void);

/* Creates a sampler for logits rows of n_vocab floats. params NULL means the
 * defaults. Fails with KVLM_ERR_INVALID_ARG, naming the parameter and its
 * value, for NaN or out-of-range values and for bias tokens outside
 * [0, n_vocab). */
kvlm_status kvlm_sampler_create(const kvlm_sampler_params *params, int n_vocab,
                                kvlm_sampler **out);
void kvlm_sampler_free(kvlm_sampler *s);

/* Chooses the next token from logits (n_vocab floats, -INFINITY allowed,
 * NaN and +INFINITY not). history holds the n_history tokens of the
 * sequence so far (prompt and generated; it may be NULL when n_history is
 * 0); only its last penalty_last_n tokens matter. Advances the random
 * state unless temperature is 0. Fails with KVLM_ERR_INVALID_ARG for a bad
 * argument, a history token out of range, or when every token is banned. */
kvlm_status kvlm_sampler_sample(kvlm_sampler *s, const float *logits,
                                const int32_t *history, int n_history,
                                int32_t *token_out);

/* Restarts the random sequence from the seed given at creation. */
void kvlm_sampler_reset(kvlm_sampler *s);

/* ===========================================================================
 * Generation (section owned by src/engine/generate.c)
 *
 * kvlm_generate() runs one request on an existing session: it makes the
 * session hold the prompt, then samples and appends one token per step
 * until a stop condition. The prompt is the WHOLE sequence the model should
 * see (for a chat: the whole rendered conversation), not only the new part:
 *
 *   1. prompt reuse: the session keeps the longest common prefix of what it
 *      holds and prompt[0, n_prompt - 1) (at least the last prompt token is
 *      always evaluated, to get its logits); later tokens are dropped with
 *      kvlm_session_truncate and prompt[reused, n_prompt) is evaluated in
 *      chunks of prefill_chunk tokens. A session that already holds a
 *      prefix of the prompt (the previous chat turn) therefore computes only
 *      the new tokens; of the rest, what the prefix cache holds is attached
 *      instead of computed (prompt_cached_tokens).
 *   2. decode: sample from the last logits, append the token, evaluate it
 *      (one token per forward pass), repeat.
 *   3. on return the session holds the prompt and every generated token but
 *      the last (the last one was sampled, never evaluated), so a follow-up
 *      call with prompt + reply continues without recomputation.
 *
 * Stop conditions, checked after each sampled token in this order:
 *   KVLM_FINISH_EOG          kvlm_tokenizer_is_eog(token) (EOS, end of turn);
 *                            the token is in result.tokens, its text is not
 *                            in result.text
 *   KVLM_FINISH_STOP         a stop string appeared in the decoded text; it
 *                            is matched on the text, across token
 *                            boundaries; the text is cut before the earliest
 *                            match and the stop string is never emitted
 *   KVLM_FINISH_CANCELLED    the text callback returned false
 *   KVLM_FINISH_LENGTH       max_tokens tokens were generated
 *   KVLM_FINISH_CONTEXT_FULL prompt + generated tokens reached n_ctx (a
 *                            prompt of exactly n_ctx tokens generates
 *                            nothing); not an error
 *
 * Streaming: on_text receives the text in order, each call complete UTF-8
 * (the tokenizer's stream decoder) and never a byte that could still turn
 * out to be the start of a stop string (such bytes are held back until the
 * next token decides). The concatenation of all calls equals result.text,
 * except after a cancel (then result.text is what was delivered). The
 * decoder starts fresh at the first generated token: for SentencePiece
 * models the leading space of the first generated token is kept when the
 * prompt has a non-special token, as it would be in the middle of a text.
 *
 * no_kv_cache: the naive loop that keeps no KV between steps: every step
 * truncates the session to 0 tokens and evaluates the whole sequence
 * (prompt + generated so far) again. By the bit-exactness rule it gives the
 * same logits bit for bit, hence the same tokens with the same sampler
 * seed; it exists to measure what the cache saves. Nothing is reused:
 * neither the session's KV nor the prefix cache (it neither looks up nor
 * publishes blocks).
 *
 * prefill_chunk and the context's n_batch: kvlm_session_eval already cuts
 * its input into forward passes of at most n_batch tokens (the size the
 * context's scratch memory was made for). kvlm_generate hands the prompt to
 * kvlm_session_eval prefill_chunk tokens at a time, so a forward pass holds
 * min(prefill_chunk, n_batch) tokens. To use chunks larger than 512, create
 * the context with n_batch >= prefill_chunk. The logits do not depend on
 * either (bit-exactness), only the speed does.
 * ========================================================================= */
typedef enum kvlm_finish_reason {
    KVLM_FINISH_NONE = 0,         /* no generation ran (an error) */
    KVLM_FINISH_STOP = 1,         /* a stop string matched */
    KVLM_FINISH_EOG = 2,          /* end-of-generation token (EOS, end of turn) */
    KVLM_FINISH_LENGTH = 3,       /* max_tokens reached */
    KVLM_FINISH_CONTEXT_FULL = 4, /* the sequence reached n_ctx */
    KVLM_FINISH_CANCELLED = 5,    /* on_text returned false */
} kvlm_finish_reason;

/* "none", "stop", "eog", "length", "context_full", "cancelled". */
const char *kvlm_finish_reason_name(kvlm_finish_reason r);

/* Receives text[0, len) (not NUL-terminated, len > 0): complete UTF-8 that
 * can no longer be part of a stop string. Return false to stop generating
 * (finish reason KVLM_FINISH_CANCELLED). */
typedef bool (*kvlm_generate_text_fn)(const char *text, size_t len, void *user);
/* Receives the logits row (n_vocab floats) from which token number `step`
 * (0 = the first generated token) is about to be sampled. For tests and
 * analysis; the row is only valid during the call. */
typedef void (*kvlm_generate_logits_fn)(int step, const float *logits, int n_vocab, void *user);

typedef struct kvlm_generate_params {
    int max_tokens;           /* tokens to generate at most; < 0: until the
                                 context is full; 0: only evaluate the
                                 prompt. Default 256 */
    const char *const *stop;  /* n_stop non-empty UTF-8 stop strings (each
                                 at most 1024 bytes), borrowed for the call */
    int n_stop;
    int prefill_chunk;        /* prompt tokens per kvlm_session_eval call,
                                 >= 1; default 512 (see above) */
    bool no_kv_cache;         /* recompute the whole sequence every step */
    kvlm_sampler_params sampler; /* default kvlm_sampler_default_params() */
    kvlm_generate_text_fn on_text;     /* may be NULL */
    void *text_user;
    kvlm_generate_logits_fn on_logits; /* may be NULL */
    void *logits_user;
} kvlm_generate_params;

kvlm_generate_params kvlm_generate_default_params(void);

typedef struct kvlm_generate_result {
    int32_t *tokens;          /* [completion_tokens] generated ids (malloc'ed),
                                 the EOG token included when it ended the run */
    int completion_tokens;
    char *text;               /* NUL-terminated malloc'ed UTF-8: the generated
                                 text without EOG token text or stop string */
    size_t text_len;
    int prompt_tokens;        /* n_prompt */
    int prompt_reused_tokens; /* prompt tokens whose KV the session already held */
    int prompt_computed_tokens; /* prompt tokens computed by this call */
    int prompt_cached_tokens; /* prompt tokens served from the prefix cache;
                                 reused + cached + computed = n_prompt, and
                                 the hosted APIs' cached_tokens is
                                 prompt_reused_tokens + prompt_cached_tokens */
    kvlm_finish_reason finish_reason;
    double ttft_ms;           /* call start -> first token sampled */
    double prefill_ms;        /* evaluating the prompt */
    double decode_ms;         /* first token sampled -> end */
    double prefill_tokens_per_s; /* prompt_computed_tokens / prefill time */
    double decode_tokens_per_s;  /* tokens evaluated after the first one per
                                    second of decode time (0 if none) */
    uint64_t kv_bytes;        /* K/V bytes the session holds at the end:
                                 n_tokens x kvlm_model_kv_bytes_per_token */
} kvlm_generate_result;

/* Makes `session` hold prompt[0, n_prompt) (reusing its longest common
 * prefix), then generates as described above. `tok` must belong to the
 * session's model (for EOG tokens and text). params NULL means the
 * defaults. *result is always initialised (free it with
 * kvlm_generate_result_free, also after an error); after an error during
 * decoding it holds what was generated before the error, and the session
 * holds a prefix of prompt + generated tokens (still consistent).
 * Token ids the model has beyond the tokenizer's vocabulary (padded output
 * rows) are never sampled.
 * Errors: KVLM_ERR_INVALID_ARG (NULL arguments, n_prompt < 1, a token out
 * of range, bad params; the sampler's validation message is passed on),
 * KVLM_ERR_CONTEXT_FULL (n_prompt > n_ctx; the session is unchanged),
 * KVLM_ERR_KV_FULL (the block pool ran out), KVLM_ERR_NOMEM. */
kvlm_status kvlm_generate(kvlm_session *session, const kvlm_tokenizer *tok,
                          const int32_t *prompt, int n_prompt,
                          const kvlm_generate_params *params,
                          kvlm_generate_result *result);
void kvlm_generate_result_free(kvlm_generate_result *result);
/* ===================== end of the generation section ===================== */

/* ===========================================================================
 * Perplexity (section owned by src/engine/perplexity.c; `kvlm perplexity`)
 *
 * kvlm_perplexity() scores tokens[1, n) of a token sequence: the negative
 * log-likelihood (natural log, computed in double from each logits row) of
 * every token given the tokens before it, with a sliding window when the
 * sequence is longer than the window.
 *
 * Windows. A window is `window` consecutive tokens run through the model as
 * one fresh sequence (positions from 0); its logits row j predicts the token
 * after its j-th token. Window k starts at b = k * stride and holds
 * tokens[b, b + window); it scores the tokens not scored before, i.e. the
 * first window scores tokens[1, window] and every later one its last
 * `stride` predictions. This is the Hugging Face "perplexity of fixed-length
 * models" procedure with every logits row used (HF's windows of max_length
 * tokens score max_length - 1 tokens; a kvlm window of `window` tokens
 * scores `window`). One difference: the last window is slid back to end at
 * the end of the sequence (b = n - 1 - window) rather than starting at the
 * next stride step, so the last tokens keep a full window of context.
 * Consequences:
 *   - every token of tokens[1, n) is scored exactly once;
 *   - a token scored by a later window has at least window - stride + 1
 *     tokens of context (stride == window: non-overlapping windows, as in
 *     the demo model's training script; stride 1: every token gets the
 *     whole window);
 *   - n - 1 <= window: one window over tokens[0, n - 1).
 * Tokens before a window's first scored prediction are evaluated without
 * logits. The context's prefix cache and KV settings apply as for any
 * session; by the bit-exactness rule the result does not depend on n_batch,
 * the block size or the thread count.
 * ========================================================================= */
/* Called after each window; return false to cancel (KVLM_ERR_INVALID_ARG). */
typedef bool (*kvlm_perplexity_progress_fn)(int windows_done, int windows_total, void *user);

typedef struct kvlm_perplexity_params {
    int window;          /* tokens per window, 1..n_ctx; 0 (default): the context's n_ctx */
    int stride;          /* 1..window; 0 (default): window / 2, at least 1 */
    double *token_nll;   /* NULL or [n]: receives the NLL of tokens[t] at t
                            (nats), NaN at t = 0 (never scored) */
    kvlm_perplexity_progress_fn progress; /* may be NULL */
    void *progress_user;
} kvlm_perplexity_params;

kvlm_perplexity_params kvlm_perplexity_default_params(void);

typedef struct kvlm_perplexity_result {
    int window, stride;   /* resolved */
    int n_windows;
    int n_scored;         /* n - 1 */
    int64_t n_evaluated;  /* tokens run through the model (overlaps counted) */
    double nll_sum;       /* nats, over the scored tokens */
    double mean_nll;      /* nll_sum / n_scored */
    double perplexity;    /* exp(mean_nll) */
    double seconds;       /* wall time of the evaluation */
} kvlm_perplexity_result;

/* Scores tokens[1, n) (n >= 2) as described above on a session of its own
 * in ctx (created and freed by the call). Errors: KVLM_ERR_INVALID_ARG
 * (NULL arguments, n < 2, window or stride out of range, a token out of
 * range, cancelled), KVLM_ERR_KV_FULL, KVLM_ERR_NOMEM, KVLM_ERR_INTERNAL
 * (a non-finite logit). *out is zeroed first. */
kvlm_status kvlm_perplexity(kvlm_context *ctx, const int32_t *tokens, int n,
                            const kvlm_perplexity_params *params, kvlm_perplexity_result *out);
/* ===================== end of the perplexity section ===================== */

#ifdef __cplusplus
}
#endif
#endif /* KVLM_H */
