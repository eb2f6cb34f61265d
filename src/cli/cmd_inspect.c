/*
 * cmd_inspect.c - `kvlm inspect MODEL [--json] [--tensors] [--no-fingerprint]`:
 * what a model is (architecture, dimensions, tensor types, parameter
 * count, file size), what its KV cache costs per token in each KV dtype,
 * and its fingerprint.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const kvlm_dtype kv_types[] = {KVLM_DTYPE_F32, KVLM_DTYPE_F16, KVLM_DTYPE_BF16, KVLM_DTYPE_Q8_0};

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false, tensors = false, fp = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = true;
        else if (strcmp(argv[i], "--tensors") == 0) tensors = true;
        else if (strcmp(argv[i], "--no-fingerprint") == 0) fp = false;
        else if ((strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "--model") == 0) && i + 1 < argc) path = argv[++i];
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else {
            fprintf(stderr, "kvlm inspect: unknown option '%s'\nusage: kvlm inspect MODEL [--json] [--tensors]\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: kvlm inspect MODEL [--json] [--tensors] [--no-fingerprint]\n");
        return 2;
    }
    kvlm_model *m = cli_load_model("inspect", path);
    if (!m) return 1;
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);

    /* Count tensors and bytes per type. */
    int count[64] = {0};
    for (int i = 0; i < in.n_tensors; i++) {
        kvlm_dtype t;
        kvlm_model_tensor(m, i, NULL, &t, NULL, NULL);
        if ((unsigned)t < 64) count[t]++;
    }
    char fph[65] = "";
    if (fp) {
        uint8_t d[32];
        if (kvlm_model_fingerprint(m, d) == KVLM_OK)
            for (int i = 0; i < 32; i++) snprintf(fph + 2 * i, 3, "%02x", d[i]);
    }
    if (json) {
        printf("{\"path\": ");
        cli_json_string(path);
        printf(", \"format\": \"%s\", \"architecture\": \"%s\", \"n_layers\": %d, \"n_embd\": %d, "
               "\"n_heads\": %d, \"n_kv_heads\": %d, \"head_dim\": %d, \"n_ff\": %d, \"n_vocab\": %d, "
               "\"n_ctx_train\": %d, \"rope_theta\": %g, \"norm_eps\": %g, \"n_params\": %llu, "
               "\"file_bytes\": %llu, \"weight_bytes\": %llu, \"n_tensors\": %d, \"tensor_types\": {",
               in.format, in.arch_name, in.n_layers, in.n_embd, in.n_heads, in.n_kv_heads, in.head_dim,
               in.n_ff, in.n_vocab, in.n_ctx_train, (double)in.rope_theta, (double)in.norm_eps,
               (unsigned long long)in.n_params, (unsigned long long)in.file_bytes,
               (unsigned long long)in.weight_bytes, in.n_tensors);
        bool first = true;
        for (int t = 0; t < 64; t++)
            if (count[t]) {
                printf("%s\"%s\": %d", first ? "" : ", ", kvlm_dtype_name((kvlm_dtype)t) ? kvlm_dtype_name((kvlm_dtype)t) : "other", count[t]);
                first = false;
            }
        printf("}, \"kv_bytes_per_token\": {");
        for (size_t i = 0; i < sizeof kv_types / sizeof kv_types[0]; i++)
            printf("%s\"%s\": %llu", i ? ", " : "", kvlm_dtype_name(kv_types[i]),
                   (unsigned long long)kvlm_model_kv_bytes_per_token(m, kv_types[i]));
        printf("}");
        if (fp) printf(", \"fingerprint\": \"%s\"", fph);
        if (tensors) {
            printf(", \"tensors\": [");
            for (int i = 0; i < in.n_tensors; i++) {
                const char *name;
                kvlm_dtype t;
                int64_t ne[4];
                int nd;
                kvlm_model_tensor(m, i, &name, &t, ne, &nd);
                printf("%s{\"name\": ", i ? ", " : "");
                cli_json_string(name);
                printf(", \"type\": \"%s\", \"ne\": [", kvlm_dtype_name(t) ? kvlm_dtype_name(t) : "other");
                for (int d = 0; d < nd; d++) printf("%s%lld", d ? ", " : "", (long long)ne[d]);
                printf("]}");
            }
            printf("]");
        }
        printf("}\n");
    } else {
        printf("model:        %s\n", path);
        printf("format:       %s\n", in.format);
        printf("architecture: %s\n", in.arch_name);
        printf("layers:       %d\n", in.n_layers);
        printf("hidden:       %d\n", in.n_embd);
        printf("heads:        %d (KV heads %d, head dim %d)%s\n", in.n_heads, in.n_kv_heads, in.head_dim,
               in.n_kv_heads == in.n_heads ? "" : (in.n_kv_heads == 1 ? " multi-query" : " grouped-query"));
        printf("ffn:          %d\n", in.n_ff);
        printf("vocab:        %d\n", in.n_vocab);
        printf("context:      %d (trained)\n", in.n_ctx_train);
        if (in.rope_theta > 0) printf("rope theta:   %g\n", (double)in.rope_theta);
        printf("norm eps:     %g\n", (double)in.norm_eps);
        printf("parameters:   %llu (%.2f M)\n", (unsigned long long)in.n_params, (double)in.n_params / 1e6);
        printf("file size:    %llu bytes (%.2f MiB)\n", (unsigned long long)in.file_bytes,
               (double)in.file_bytes / (1024.0 * 1024.0));
        printf("tensors:      %d:", in.n_tensors);
        for (int t = 0; t < 64; t++)
            if (count[t]) printf(" %s x%d", kvlm_dtype_name((kvlm_dtype)t) ? kvlm_dtype_name((kvlm_dtype)t) : "other", count[t]);
        printf("\nKV bytes/token:");
        for (size_t i = 0; i < sizeof kv_types / sizeof kv_types[0]; i++)
            printf(" %s %llu", kvlm_dtype_name(kv_types[i]),
                   (unsigned long long)kvlm_model_kv_bytes_per_token(m, kv_types[i]));
        printf("\n");
        if (fp) printf("fingerprint:  %s\n", fph);
        if (tensors) {
            for (int i = 0; i < in.n_tensors; i++) {
                const char *name;
                kvlm_dtype t;
                int64_t ne[4];
                int nd;
                kvlm_model_tensor(m, i, &name, &t, ne, &nd);
                printf("  %-40s %-6s [", name, kvlm_dtype_name(t) ? kvlm_dtype_name(t) : "other");
                for (int d = 0; d < nd; d++) printf("%s%lld", d ? ", " : "", (long long)ne[d]);
                printf("]\n");
            }
        }
    }
    kvlm_model_free(m);
    return 0;
}
