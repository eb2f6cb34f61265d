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
#include <stdint.h>

#include "kvlm.h"

/* Parses a whole decimal integer in [lo, hi]; false on junk or range. */
bool cli_parse_int(const char *s, long long lo, long long hi, long long *out);
/* "f32" | "f16" | "bf16" | "q8_0" -> dtype; false if unknown. */
bool cli_parse_kv_type(const char *s, kvlm_dtype *out);
/* Loads a model, printing "kvlm <cmd>: <error>" on failure. */
kvlm_model *cli_load_model(const char *cmd, const char *path);
/* Seconds on a monotonic clock. */
double cli_now(void);
/* Prints a JSON string literal (quotes and escapes) to stdout. */
void cli_json_string(const char *s);

/* Parses "1 2 3" / "1,2,3" into a malloc'ed array (ids in [0, INT32_MAX]);
 * false on junk or an empty list. */
bool cli_parse_token_list(const char *s, int32_t **ids, size_t *n);
/* Reads a whole file (at most 1 GiB) into a NUL-terminated malloc'ed buffer. */
char *cli_read_file(const char *path, size_t *len);

int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif /* KVLM_CLI_H */
