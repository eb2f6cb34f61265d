/*
 * tokenizer.h - internal API of kvlm's tokenizer layer (src/tokenizer/).
 *
 * One kvlm_tokenizer holds:
 *   - a vocabulary (vocab.c): token texts in *internal form*, a string->id
 *     hash and a pair->merge hash (rank, merged id) used by the BPE engine;
 *   - the pipeline of Hugging Face tokenizers, reduced to what the supported
 *     models use: added-token matching (added.c), normalizers (normalize.c),
 *     pre-tokenizers (pretokenize.c), the BPE model (bpe.c with the byte-level
 *     and SentencePiece front ends bpe_bytelevel.c / bpe_spm.c), the
 *     post-processor (BOS/EOS) and the decoder (detok.c);
 *   - chat-template metadata (chat_template.c).
 *
 * Internal form of token texts (invariant, set by the loaders):
 *   - byte-level models (GPT-2, Llama 3, Qwen2...): the raw bytes the token
 *     stands for, i.e. the GPT-2 bytes_to_unicode mapping is undone at load
 *     time. Text is therefore never re-mapped at encode time; each input byte
 *     b starts as the symbol byte_tok[b].
 *   - SentencePiece-style models (Llama 2, Mistral, Phi-3): the piece as
 *     written in the vocabulary ("\xe2\x96\x81" for U+2581 included); byte
 *     tokens "<0xNN>" are recognised into byte_tok[].
 * Every token additionally has a *decoded piece* (what detokenization emits):
 * raw bytes for byte-level, U+2581 -> ' ' and <0xNN> -> byte for SPM, the
 * content for added tokens.
 *
 * Thread safety: a loaded tokenizer is immutable; encode/decode may run
 * concurrently from several threads (all scratch memory is per call).
 */
#ifndef KVLM_TOKENIZER_H
#define KVLM_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvlm.h"

struct kvlm_gguf;

/* Hard limits on untrusted input (documented in docs/TOKENIZER.md). */
#define KVLM_TOK_MAX_VOCAB   (1 << 22)  /* 4,194,304 token ids */
#define KVLM_TOK_MAX_TOKEN_LEN 4096      /* bytes per token text */
#define KVLM_TOK_MAX_ADDED   65536
#define KVLM_TOK_MAX_PRETOK  16          /* pre-tokenizer / normalizer steps */

/* Token attributes (bit set). */
enum {
    KVLM_TOKATTR_NORMAL = 1 << 0,
    KVLM_TOKATTR_CONTROL = 1 << 1,  /* special: <s>, <|eot_id|>, ... */
    KVLM_TOKATTR_USER = 1 << 2,     /* non-special added token */
    KVLM_TOKATTR_BYTE = 1 << 3,     /* <0xNN> */
    KVLM_TOKATTR_UNUSED = 1 << 4,   /* hole in the id space / padding */
    KVLM_TOKATTR_UNKNOWN = 1 << 5,  /* <unk> */
};

/* ---- vocab.c ------------------------------------------------------------ */
typedef struct kvlm_vocab {
    int32_t n;               /* ids are [0, n) */
    char *blob;              /* all token texts, internal form, NUL-separated */
    size_t blob_len, blob_cap;
    uint64_t *off;           /* (n) offset of token i in blob */
    uint32_t *len;           /* (n) byte length of token i */
    float *score;            /* (n) SentencePiece score, 0 when absent */
    uint8_t *attr;           /* (n) KVLM_TOKATTR_* */
    int32_t *slot;           /* string hash: (mask+1) ids or -1 */
    uint64_t mask;
    /* pair (left,right) -> (rank, merged) hash for BPE */
    struct kvlm_vocab_pair {
        uint64_t key;        /* (uint64)left << 32 | right; UINT64_MAX = empty */
        int32_t rank;
        int32_t merged;
    } *pairs;
    uint64_t pair_mask;
    uint64_t n_pairs;
} kvlm_vocab;

kvlm_status kvlm_vocab_init(kvlm_vocab *v, int32_t n);
void kvlm_vocab_free(kvlm_vocab *v);
/* Sets token id's text (copied). Fails on a duplicate id. */
kvlm_status kvlm_vocab_set(kvlm_vocab *v, int32_t id, const char *text, size_t len,
                           float score, uint8_t attr);
/* Builds the string hash; fails (naming the token) on duplicate texts when
 * strict, otherwise the lowest id wins. */
kvlm_status kvlm_vocab_build_index(kvlm_vocab *v);
int32_t kvlm_vocab_find(const kvlm_vocab *v, const char *text, size_t len); /* -1 if absent */
static inline const char *kvlm_vocab_text(const kvlm_vocab *v, int32_t id) { return v->blob + v->off[id]; }
/* Adds a merge rule; the first rule for a pair wins (lower rank). */
kvlm_status kvlm_vocab_add_merge(kvlm_vocab *v, int32_t left, int32_t right, int32_t rank, int32_t merged);
kvlm_status kvlm_vocab_reserve_merges(kvlm_vocab *v, uint64_t n);
/* Looks up a pair; returns false if there is no merge. */
bool kvlm_vocab_merge(const kvlm_vocab *v, int32_t left, int32_t right, int32_t *rank, int32_t *merged);

/* ---- utf8.c -------------------------------------------------------------- */
/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 if invalid. */
int kvlm_utf8_valid_len(const unsigned char *s, size_t n);
/* Length of the longest well-formed prefix of s[0..n): n when all of it is
 * valid UTF-8, else the byte offset of the first invalid or cut sequence. */
size_t kvlm_utf8_valid_prefix(const char *s, size_t n);
/* Decodes a valid sequence (caller checked with kvlm_utf8_valid_len). */
uint32_t kvlm_utf8_decode(const unsigned char *s, int len);
int kvlm_utf8_encode(uint32_t cp, char out[4]);
/* GPT-2 bytes_to_unicode: code point standing for byte b, and the inverse
 * (-1 if cp is not one of the 256). */
uint32_t kvlm_bytelevel_cp(uint8_t b);
int kvlm_bytelevel_byte(uint32_t cp);
/* Converts a byte-level token string (UTF-8 of mapped code points) to raw
 * bytes in out (capacity >= len). Code points outside the mapping are copied
 * as their UTF-8 (so added tokens survive). Returns the output length, or -1
 * for invalid UTF-8. */
long kvlm_bytelevel_unmap(const char *s, size_t len, char *out);

/* ---- growing byte buffer ------------------------------------------------- */
typedef struct kvlm_buf {
    char *p;
    size_t n, cap;
} kvlm_buf;
kvlm_status kvlm_buf_reserve(kvlm_buf *b, size_t extra);
kvlm_status kvlm_buf_put(kvlm_buf *b, const void *s, size_t n);
void kvlm_buf_free(kvlm_buf *b);

/* ---- pieces: a list of byte ranges over one buffer ----------------------- */
typedef struct kvlm_piece {
    size_t off, len;
} kvlm_piece;
typedef struct kvlm_pieces {
    kvlm_buf text;
    kvlm_piece *v;
    size_t n, cap;
    bool first_segment; /* the pieces come from the text's first segment */
} kvlm_pieces;
kvlm_status kvlm_pieces_push(kvlm_pieces *p, const char *s, size_t n);
/* Pushes a range of p->text itself (no copy). */
kvlm_status kvlm_pieces_push_ref(kvlm_pieces *p, size_t off, size_t n);
void kvlm_pieces_reset(kvlm_pieces *p);
void kvlm_pieces_free(kvlm_pieces *p);

/* ---- normalize.c --------------------------------------------------------- */
typedef enum kvlm_norm_type {
    KVLM_NORM_PREPEND,      /* str: prepend to non-empty text */
    KVLM_NORM_REPLACE,      /* pattern (literal) -> content */
    KVLM_NORM_NFC,          /* Unicode NFC (see normalize.c for coverage) */
} kvlm_norm_type;
typedef struct kvlm_norm_step {
    kvlm_norm_type type;
    char *a;  size_t a_len;  /* prepend text / replace pattern */
    char *b;  size_t b_len;  /* replace content */
} kvlm_norm_step;
/* Applies the normalizers to s[0..n) into out (reset first). */
kvlm_status kvlm_normalize(const kvlm_norm_step *steps, int n_steps, const char *s, size_t n,
                           kvlm_buf *out);

/* Unicode NFC of s[0..n) into out (nfc.c). */
kvlm_status kvlm_nfc(const char *s, size_t n, kvlm_buf *out);

/* ---- pretokenize.c ------------------------------------------------------- */
typedef enum kvlm_split_behavior {
    KVLM_SPLIT_REMOVED,
    KVLM_SPLIT_ISOLATED,
    KVLM_SPLIT_MERGED_PREV,
    KVLM_SPLIT_MERGED_NEXT,
    KVLM_SPLIT_CONTIGUOUS,
} kvlm_split_behavior;

typedef enum kvlm_pretok_type {
    KVLM_PRETOK_SPLIT,      /* regex split (PCRE2) */
    KVLM_PRETOK_BYTELEVEL,  /* optional prefix space + GPT-2 regex split */
    KVLM_PRETOK_METASPACE,  /* ' ' -> replacement, prepend, split */
    KVLM_PRETOK_DIGITS,     /* digit runs (or single digits) isolated */
} kvlm_pretok_type;

typedef struct kvlm_pretok_step {
    kvlm_pretok_type type;
    void *re;               /* pcre2_code_8 * (SPLIT, BYTELEVEL with regex) */
    kvlm_split_behavior behavior;
    bool invert;
    bool add_prefix_space;  /* BYTELEVEL */
    char repl[8]; int repl_len; /* METASPACE replacement (UTF-8) */
    int prepend_scheme;     /* METASPACE: 0 always, 1 first, 2 never */
    bool split;             /* METASPACE */
    bool individual_digits; /* DIGITS */
} kvlm_pretok_step;

/* Compiles a regex (UTF, UCP, MATCH_INVALID_UTF, JIT). Error names `what`. */
kvlm_status kvlm_regex_compile(const char *pattern, size_t len, const char *what, void **out);
void kvlm_regex_free(void *re);
/* The GPT-2 pre-tokenizer regex used by ByteLevel(use_regex=true). */
extern const char kvlm_regex_gpt2[];
/* Runs the steps over `in` (one piece per segment) producing `out`. `tmp` is
 * scratch. Invalid UTF-8 never matches a regex: it is left between matches,
 * so it forms its own pieces (documented in docs/TOKENIZER.md). */
kvlm_status kvlm_pretokenize(const kvlm_pretok_step *steps, int n_steps, kvlm_pieces *in,
                             kvlm_pieces *out);

/* ---- bpe.c --------------------------------------------------------------- */
typedef struct kvlm_bpe_scratch {
    struct kvlm_bpe_sym *sym; size_t sym_cap;
    struct kvlm_bpe_heap_ent *heap; size_t heap_cap;
} kvlm_bpe_scratch;
void kvlm_bpe_scratch_free(kvlm_bpe_scratch *s);

/* ---- the tokenizer ------------------------------------------------------- */
typedef enum kvlm_tok_kind {
    KVLM_TOK_BYTELEVEL = 0, /* byte-level BPE (GPT-2 style) */
    KVLM_TOK_SPM = 1,       /* SentencePiece-style BPE on characters, byte fallback */
} kvlm_tok_kind;

typedef struct kvlm_added_token {
    int32_t id;
    char *content; size_t len;
    bool special, lstrip, rstrip, single_word, normalized;
} kvlm_added_token;

struct kvlm_tokenizer {
    kvlm_tok_kind kind;
    kvlm_vocab vocab;
    int32_t byte_tok[256];   /* symbol for a raw byte (-1 if none) */
    int32_t unk_id, bos_id, eos_id, pad_id, eot_id;
    bool add_bos, add_eos;   /* what the post-processor adds with add_special */
    bool ignore_merges;      /* BPE: a word found whole in the vocab is one token */
    bool byte_fallback;      /* SPM: unknown chars become <0xNN> tokens */
    bool fuse_unk;
    bool strip_leading_space;/* decoder: Strip(' ', start=1) (SPM) */
    /* decoded pieces (detokenization output) */
    char *piece_blob; uint64_t *piece_off; uint32_t *piece_len;
    /* added tokens (sorted by nothing in particular) and their matcher */
    kvlm_added_token *added; int n_added;
    /* raw-text matcher (tokens with normalized=false, or all when there is
     * no normalizer) and normalized-text matcher (normalized=true tokens,
     * keyed by their normalized content, as HF's AddedVocabulary) */
    struct kvlm_trie_node *trie; int32_t n_trie;
    struct kvlm_trie_node *ntrie; int32_t n_ntrie;
    /* pipeline */
    kvlm_norm_step norm[KVLM_TOK_MAX_PRETOK]; int n_norm;
    kvlm_pretok_step pretok[KVLM_TOK_MAX_PRETOK]; int n_pretok;
    /* chat */
    char *chat_template;     /* the model's Jinja source, or NULL */
    char source[64];         /* "tokenizer.json", "gguf", ... for messages */
};
typedef struct kvlm_tokenizer kvlm_tokenizer;

kvlm_status kvlm_tokenizer_alloc(kvlm_tokenizer **out);
/* Completes a tokenizer after a loader filled vocab/added/pipeline: builds
 * the indexes, byte table, decoded pieces and the added-token matcher, and
 * checks every special id against the vocabulary. */
kvlm_status kvlm_tokenizer_finish(kvlm_tokenizer *t);

/* Loaders. */
kvlm_status kvlm_tokenizer_from_json(const char *json, size_t len, const char *config_json,
                                     size_t config_len, const char *name, kvlm_tokenizer **out);
kvlm_status kvlm_tokenizer_from_gguf(const struct kvlm_gguf *g, kvlm_tokenizer **out);
/* llama2.c tokenizer.bin (llama2c_vocab.c): SentencePiece BPE from
 * buf[0..size); name is used in messages. The _path variant reads a file. */
kvlm_status kvlm_tokenizer_from_llama2c(const uint8_t *buf, size_t size, const char *name,
                                        kvlm_tokenizer **out);
kvlm_status kvlm_tokenizer_load_llama2c_path(const char *path, kvlm_tokenizer **out);
/* Builds a byte-level BPE from a GPT-2 style encoder.json (token -> id) and
 * vocab.bpe/merges.txt, with a named pre-tokenizer preset ("gpt-2",
 * "llama3", "qwen2", ...). Used for vocabularies distributed that way. */
kvlm_status kvlm_tokenizer_from_encoder_merges(const char *encoder_json, size_t enc_len,
                                               const char *merges, size_t merges_len,
                                               const char *preset, kvlm_tokenizer **out);
/* Installs a named pre-tokenizer preset (llama.cpp `tokenizer.ggml.pre`
 * names and HF family names). Sets ignore_merges where the family needs it. */
kvlm_status kvlm_tokenizer_set_preset(kvlm_tokenizer *t, const char *preset, size_t len);

/* Score-based (SentencePiece GGUF) vocabularies: derive merge rules. */
kvlm_status kvlm_spm_build_merges(kvlm_tokenizer *t);

/* BPE over one pre-tokenized word: appends ids to *ids. */
kvlm_status kvlm_bpe_word(const kvlm_tokenizer *t, const char *s, size_t n, kvlm_bpe_scratch *sc,
                          int32_t **ids, size_t *n_ids, size_t *cap_ids);

/* Reads a whole file (bounded by max bytes). */
kvlm_status kvlm_read_file(const char *path, size_t max, char **data, size_t *len);

#endif /* KVLM_TOKENIZER_H */
