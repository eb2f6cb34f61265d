/*
 * main.c - the `kvlm` program: dispatches to one subcommand per file.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "kvlm %s - LLM inference built around the KV cache\n"
            "\n"
            "usage: kvlm <command> [options]\n"
            "\n"
            "commands:\n"
            "  run -m MODEL -p PROMPT [-n N] [--temp T] [--seed S] [--stop STR] [--json] ...\n"
            "                                       generate text (streamed), timings on stderr\n"
            "  chat -m MODEL [--system S] [--chat-template NAME] [--verbose] ...\n"
            "                                       multi-turn chat from stdin, KV kept between turns\n"
            "  inspect MODEL [--json] [--tensors]   architecture, sizes, tensor types, KV bytes/token\n"
            "  logits -m MODEL --tokens \"1 2 3\" --out FILE\n"
            "                                       float32 logits [n_tokens x n_vocab]\n"
            "  tokenize -m MODEL (--text T | --file F) [--special] [--no-bos]\n"
            "                                       JSON array of token ids\n"
            "  detokenize -m MODEL --tokens \"1 2 3\" [--skip-special]\n"
            "  bench prefix [-m MODEL] [--prompt-tokens 2000] [--users 8] [--rounds 5] [--png F] [--json]\n"
            "                                       prefix-cache TTFT: cold, hit, shared prefix, multi-turn\n"
            "  bench forward -m MODEL [--threads N] [--prompt 512] [--gen 128] [--json]\n"
            "                                       prefill and decode tokens/s\n"
            "  bench tokenize -m MODEL --file F     tokenizer throughput (MB/s)\n"
            "  bench kv [-m MODEL] [--lengths 64,128,256] [--csv F] [--png F] [--json]\n"
            "                                       generation with vs without the KV cache\n"
            "  perplexity [-m MODEL] -f TEXT [--ctx N] [--stride S] [--kv-type T] [--json]\n"
            "                                       sliding-window perplexity of a text\n"
            "  kv-plan [-m MODEL] --ctx N [--batch B] [--kv-type T] [--kv-block-size S] [--json]\n"
            "                                       weights + KV memory, what the engine allocates\n"
            "\n"
            "MODEL is a .gguf file or a Hugging Face folder (config.json + *.safetensors).\n"
            "--bf16-matmul, anywhere after the command: F16/BF16 weights multiply in BF16\n"
            "(AVX-512 BF16; faster prefill, BF16 precision).\n"
            "See docs/CLI.md for every option.\n",
            kvlm_version());
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    /* the global option: taken out before the command parses its own */
    int n = 1;
    for (int i = 1; i < argc; i++) {
        if (i > 1 && strcmp(argv[i], "--bf16-matmul") == 0)
            cli_bf16_matmul = true;
        else
            argv[n++] = argv[i];
    }
    argc = n;
    argv[argc] = NULL;
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0) return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "chat") == 0) return cmd_chat(argc - 1, argv + 1);
    if (strcmp(cmd, "inspect") == 0) return cmd_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "logits") == 0) return cmd_logits(argc - 1, argv + 1);
    if (strcmp(cmd, "tokenize") == 0) return cmd_tokenize(argc - 1, argv + 1);
    if (strcmp(cmd, "detokenize") == 0) return cmd_detokenize(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "perplexity") == 0) return cmd_perplexity(argc - 1, argv + 1);
    if (strcmp(cmd, "kv-plan") == 0) return cmd_kv_plan(argc - 1, argv + 1);
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("kvlm %s\n", kvlm_version());
        return 0;
    }
    fprintf(stderr, "kvlm: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
