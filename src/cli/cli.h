/*
 * cli.h - helpers shared by the kvlm subcommands: strict number parsing,
 * KV type names, model loading with error reporting, and the command
 * entry points (one file per command).
 *
 * Commands return a process exit code: 0 success, 1 runtime failure,
 * 2 usage error. Errors go to stderr as "kvlm <cmd>: message".
 */
#ifndef KVLM_CLI_H
#define KVLM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvlm.h"

/* Parses a whole decimal integer in [lo, hi]; false on junk or range. */
bool cli_parse_int(const char *s, long long lo, long long hi, long long *out);
/* "f32" | "f16" | "bf16" | "q8_0" -> dtype; false if unknown. */
bool cli_parse_kv_type(const char *s, kvlm_dtype *out);
/* Loads a model, printing "kvlm <cmd>: <error>" on failure. When stderr is
 * a terminal and the model's files exceed CLI_LOAD_BAR_MIN_BYTES, a
 * one-line progress bar (kvlm_model_params.progress) is drawn on stderr
 * while the weights are read, then erased. */
#define CLI_LOAD_BAR_MIN_BYTES (100ull * 1000 * 1000)
/* Size of a model file, or of a folder's *.safetensors files (0: unknown). */
uint64_t cli_model_file_bytes(const char *path);
kvlm_model *cli_load_model(const char *cmd, const char *path);
/* --bf16-matmul (main.c): cli_load_model sets kvlm_model_params.bf16_matmul */
extern bool cli_bf16_matmul;
/* Seconds on a monotonic clock. */
double cli_now(void);
/* Prints a JSON string literal (quotes and escapes) to stdout. */
void cli_json_string(const char *s);

/* Parses "1 2 3" / "1,2,3" into a malloc'ed array (ids in [0, INT32_MAX]);
 * false on junk or an empty list. */
bool cli_parse_token_list(const char *s, int32_t **ids, size_t *n);
/* Reads a whole file (at most 1 GiB) into a NUL-terminated malloc'ed buffer. */
char *cli_read_file(const char *path, size_t *len);

/* The bundled demo model used when no -m is given: $KVLM_DEMO_MODEL, else
 * the copy in the source tree the program was built from
 * (models/demo/kjv-llama.gguf), else NULL if neither exists. */
const char *cli_demo_model(void);

int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* `kvlm bench kv` (cmd_bench_kv.c), dispatched by cmd_bench; argv[0] is "kv". */
int bench_kv(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_kv_plan(int argc, char **argv);

/* ---- generation commands (gen_common.c): `kvlm run` and `kvlm chat` ---- */
typedef struct cli_gen_opts {
    const char *model;
    const char *tokenizer;    /* --tokenizer PATH; NULL: the model's own */
    kvlm_generate_params gp;  /* sampler, max_tokens, stop list, no_kv_cache */
    kvlm_context_params cp;   /* threads, ctx, kv type; n_batch = prefill chunk */
    int prefill_chunk;
    const char **stops;       /* [n_stops] borrowed from argv, gp.stop points here */
    int n_stops;
    bool no_bos, verbose;
    bool no_prefix_cache;     /* --no-prefix-cache / --prefix-cache (run's default: off) */
    const char *cache_namespace; /* --cache-namespace NS */
    const char *session_file; /* --session FILE: load before, save after */
} cli_gen_opts;

typedef struct cli_gen_handles {
    kvlm_model *model;
    kvlm_tokenizer *tok;
    kvlm_context *ctx;
    kvlm_session *session;
    int n_ctx;                /* resolved context length */
} cli_gen_handles;

void cli_gen_opts_init(cli_gen_opts *o);
void cli_gen_opts_free(cli_gen_opts *o);
/* Parses the option at argv[*i] if it is a generation option (advancing *i
 * past its value): 1 consumed, 0 not a generation option, -1 bad value
 * (message printed). */
int cli_gen_parse_option(const char *cmd, int argc, char **argv, int *i, cli_gen_opts *o);
/* Checks the sampling values (the sampler's own validation) and resolves
 * the prefill chunk; 0 or the exit code 2 (message printed). */
int cli_gen_validate(const char *cmd, cli_gen_opts *o);
/* Loads the model from o->model and the tokenizer from o->tokenizer
 * (default: o->model), creates context and session;
 * 0 or exit code 1 (message printed). */
int cli_gen_open(const char *cmd, cli_gen_opts *o, cli_gen_handles *h);
void cli_gen_close(cli_gen_handles *h);
/* Saves the session to --session FILE if one was given (a warning, not a
 * failure, when it cannot be written). */
void cli_gen_save_session(const char *cmd, const cli_gen_opts *o, const cli_gen_handles *h);
/* The prefix cache's counters on stderr (--verbose). */
void cli_gen_print_cache_stats(const char *cmd, const cli_gen_handles *h);
/* True if s[0, n) is valid UTF-8; else *bad_offset is the offset of the
 * first byte that does not start a valid sequence. */
bool cli_utf8_check(const char *s, size_t n, size_t *bad_offset);
/* Timing and token counts of one generation, two lines on stderr. */
void cli_gen_print_timings(const char *cmd, const kvlm_generate_result *r);

/* JSON string literal of s[0, n) (NUL bytes included) to stdout. */
void cli_json_string_n(const char *s, size_t n);

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);

/* `kvlm bench prefix` (cmd_bench_prefix.c), dispatched by cmd_bench; argv[0] is "prefix". */
int bench_prefix(int argc, char **argv);

#endif /* KVLM_CLI_H */
