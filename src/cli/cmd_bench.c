/*
 * cmd_bench.c - `kvlm bench forward -m MODEL [--threads N] [--prompt 512]
 * [--gen 128] [--reps R] [--kv-type T] [--json]`: prefill tokens/s for a
 * prompt of random token ids (one session eval, chunked by --batch) and
 * decode tokens/s for single-token steps after it, median over R
 * repetitions after one untimed warm-up (which pages the weights in).
 *
 * With --seqs N (N >= 2) it measures batched decode instead: N sessions each
 * get their own --prompt tokens of random ids (different per session, so no
 * prefix is shared), then --gen steps of kvlm_session_eval_batch() append one
 * token to every session; decode tokens/s counts all N tokens of a step.
 * prefill tokens/s is then N * prompt over the N prefills.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define USAGE "usage: kvlm bench forward -m MODEL [--threads N] [--prompt N] [--gen N] [--reps N] [--batch N] [--kv-type T] [--seqs N] [--json]\n"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_forward(int argc, char **argv)
{
    const char *path = NULL;
    long long prompt = 512, gen = 128, reps = 3, seqs = 1, x;
    bool json = false;
    kvlm_context_params cp = kvlm_context_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) path = argv[++i];
        else if (!strcmp(a, "--json")) json = true;
        else if ((!strcmp(a, "--threads") || !strcmp(a, "-t")) && v && cli_parse_int(v, 1, 1024, &x)) { cp.n_threads = (int)x; i++; }
        else if (!strcmp(a, "--prompt") && v && cli_parse_int(v, 1, 1 << 20, &prompt)) i++;
        else if (!strcmp(a, "--gen") && v && cli_parse_int(v, 0, 1 << 20, &gen)) i++;
        else if (!strcmp(a, "--reps") && v && cli_parse_int(v, 1, 1000, &reps)) i++;
        else if (!strcmp(a, "--batch") && v && cli_parse_int(v, 1, 65536, &x)) { cp.n_batch = (int)x; i++; }
        else if (!strcmp(a, "--kv-type") && v && cli_parse_kv_type(v, &cp.kv_type)) i++;
        else if (!strcmp(a, "--seqs") && v && cli_parse_int(v, 1, 256, &seqs)) i++;
        else {
            fprintf(stderr, "kvlm bench forward: invalid option '%s'\n" USAGE, a);
            return 2;
        }
    }
    if (!path) { fprintf(stderr, USAGE); return 2; }
    kvlm_model *m = cli_load_model("bench", path);
    if (!m) return 1;
    kvlm_model_info in;
    kvlm_model_get_info(m, &in);
    cp.n_ctx = (int)(prompt + gen);
    cp.prefix_cache = false; /* every repetition must compute its prompt */
    if (seqs > 1) {
        /* room for every session (+1 block each for the copy-on-write of a shared tail) */
        int bs = cp.kv_block_size > 0 ? cp.kv_block_size : 16;
        uint64_t per_seq = (uint64_t)((prompt + gen) / bs + 2) * (uint64_t)bs;
        cp.kv_memory_bytes = (uint64_t)seqs * per_seq * kvlm_model_kv_bytes_per_token(m, cp.kv_type);
        if (cp.n_batch < seqs) cp.n_batch = (int)seqs;
    }
    kvlm_context *ctx = NULL;
    kvlm_status st = kvlm_context_create(m, &cp, &ctx);
    if (st) {
        fprintf(stderr, "kvlm bench: %s\n", kvlm_last_error());
        kvlm_model_free(m);
        return 1;
    }
    cp = kvlm_context_get_params(ctx);
    int32_t *toks = malloc((size_t)(prompt * seqs) * sizeof *toks);
    float *logits = malloc((size_t)in.n_vocab * (size_t)seqs * sizeof *logits);
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg);
    kvlm_session **ss = calloc((size_t)seqs, sizeof *ss);
    int32_t *step = malloc((size_t)seqs * sizeof *step);
    int rc = 0;
    if (!toks || !logits || !pp || !tg || !ss || !step) { fprintf(stderr, "kvlm bench: out of memory\n"); rc = 1; }
    uint32_t rng = 12345;
    for (long long i = 0; i < prompt * seqs && !rc; i++) {
        rng = rng * 1664525u + 1013904223u;
        toks[i] = (int32_t)((rng >> 8) % (uint32_t)in.n_vocab);
    }
    for (long long r = -1; r < reps && !rc; r++) {
        long long ns = 0;
        st = KVLM_OK;
        for (; ns < seqs && !st; ns++)
            st = kvlm_session_create(ctx, &ss[ns]);
        if (st) { ns--; fprintf(stderr, "kvlm bench: %s\n", kvlm_last_error()); rc = 1; }
        if (!json && r >= 0 && !rc) fprintf(stderr, "\rbench: repetition %lld/%lld", r + 1, reps);
        long long np = r < 0 ? (prompt < 16 ? prompt : 16) : prompt;
        double t0 = cli_now();
        for (long long k = 0; k < seqs && !rc && !st; k++)
            st = kvlm_session_eval(ss[k], toks + k * prompt, (int)np, KVLM_LOGITS_LAST, logits);
        double t1 = cli_now();
        for (long long k = 0; k < seqs; k++)
            step[k] = toks[k * prompt];
        for (long long g = 0; g < gen && !st && !rc && r >= 0; g++) {
            if (seqs == 1)
                st = kvlm_session_eval(ss[0], step, 1, KVLM_LOGITS_LAST, logits);
            else
                st = kvlm_session_eval_batch(ss, step, (int)seqs, logits);
            for (long long k = 0; k < seqs; k++)
                step[k] = (int32_t)((step[k] * 7 + 1 + (int32_t)k) % in.n_vocab);
        }
        double t2 = cli_now();
        for (long long k = 0; k < ns; k++) {
            kvlm_session_free(ss[k]);
            ss[k] = NULL;
        }
        if (st && !rc) { fprintf(stderr, "\nkvlm bench: %s\n", kvlm_last_error()); rc = 1; }
        if (!rc && r >= 0) {
            pp[r] = (double)(prompt * seqs) / (t1 - t0);
            tg[r] = gen ? (double)(gen * seqs) / (t2 - t1) : 0;
        }
    }
    if (!json && !rc) fprintf(stderr, "\n");
    if (!rc) {
        qsort(pp, (size_t)reps, sizeof *pp, cmp_d);
        qsort(tg, (size_t)reps, sizeof *tg, cmp_d);
        double ppm = pp[reps / 2], tgm = tg[reps / 2];
        const char *kvn = kvlm_dtype_name(cp.kv_type);
        if (json) {
            printf("{\"model\": ");
            cli_json_string(path);
            printf(", \"architecture\": \"%s\", \"n_params\": %llu, \"weight_bytes\": %llu, \"threads\": %d, "
                   "\"prompt_tokens\": %lld, \"gen_tokens\": %lld, \"seqs\": %lld, \"reps\": %lld, \"kv_type\": \"%s\", "
                   "\"prefill_tokens_per_s\": %.3f, \"decode_tokens_per_s\": %.3f}\n",
                   in.arch_name, (unsigned long long)in.n_params, (unsigned long long)in.weight_bytes,
                   cp.n_threads, prompt, gen, seqs, reps, kvn, ppm, tgm);
        } else {
            printf("model %s (%s, %.1f M params, %.1f MiB weights), %d threads, KV %s\n", path, in.arch_name,
                   (double)in.n_params / 1e6, (double)in.weight_bytes / 1048576.0, cp.n_threads, kvn);
            printf("prefill %lld tokens: %8.2f tokens/s   (median of %lld)\n", prompt, ppm, reps);
            if (seqs > 1)
                printf("decode  %lld steps x %lld sequences: %8.2f tokens/s (all sequences)\n", gen, seqs, tgm);
            else
                printf("decode  %lld tokens: %8.2f tokens/s\n", gen, tgm);
        }
    }
    free(pp);
    free(tg);
    free(ss);
    free(step);
    free(toks);
    free(logits);
    kvlm_context_free(ctx);
    kvlm_model_free(m);
    return rc;
}

/* `kvlm bench tokenize -m MODEL --file F [--reps R] [--json]`: encode
 * throughput of one thread over the whole file, median of R runs. */
static int bench_tokenize(int argc, char **argv)
{
    const char *path = NULL, *file = NULL;
    long long reps = 5;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) path = argv[++i];
        else if ((!strcmp(a, "--file") || !strcmp(a, "-f")) && v) file = argv[++i];
        else if (!strcmp(a, "--reps") && v && cli_parse_int(v, 1, 1000, &reps)) i++;
        else if (!strcmp(a, "--json")) json = true;
        else {
            fprintf(stderr, "usage: kvlm bench tokenize -m MODEL --file F [--reps N] [--json]\n");
            return 2;
        }
    }
    if (!path || !file) {
        fprintf(stderr, "usage: kvlm bench tokenize -m MODEL --file F [--reps N] [--json]\n");
        return 2;
    }
    size_t len = 0;
    char *text = cli_read_file(file, &len);
    if (!text) {
        fprintf(stderr, "kvlm bench: cannot read %s\n", file);
        return 1;
    }
    kvlm_tokenizer *t = NULL;
    if (kvlm_tokenizer_load(path, &t) != KVLM_OK) {
        fprintf(stderr, "kvlm bench: cannot load tokenizer: %s\n", kvlm_last_error());
        free(text);
        return 1;
    }
    double *mbs = calloc((size_t)reps, sizeof *mbs);
    size_t n_tokens = 0;
    int rc = 0;
    for (long long r = 0; r < reps && mbs; r++) {
        int32_t *ids = NULL;
        double t0 = cli_now();
        kvlm_status st = kvlm_tokenizer_encode_alloc(t, text, len, 0, &ids, &n_tokens);
        double t1 = cli_now();
        free(ids);
        if (st) {
            fprintf(stderr, "kvlm bench: %s\n", kvlm_last_error());
            rc = 1;
            break;
        }
        mbs[r] = (double)len / 1e6 / (t1 - t0);
        if (!json) fprintf(stderr, "\rbench: repetition %lld/%lld", r + 1, reps);
    }
    if (!rc && mbs) {
        if (!json) fprintf(stderr, "\n");
        qsort(mbs, (size_t)reps, sizeof *mbs, cmp_d);
        double med = mbs[reps / 2];
        if (json) {
            printf("{\"model\": ");
            cli_json_string(path);
            printf(", \"file\": ");
            cli_json_string(file);
            printf(", \"bytes\": %zu, \"tokens\": %zu, \"reps\": %lld, \"mb_per_s\": %.3f}\n", len,
                   n_tokens, reps, med);
        } else {
            printf("tokenize %s: %zu bytes -> %zu tokens, %.2f MB/s (median of %lld, 1 thread)\n", file,
                   len, n_tokens, med, reps);
        }
    }
    free(mbs);
    kvlm_tokenizer_free(t);
    free(text);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, USAGE);
        return 2;
    }
    if (strcmp(argv[1], "prefix") == 0) return bench_prefix(argc - 1, argv + 1);
    if (strcmp(argv[1], "forward") == 0) return bench_forward(argc - 1, argv + 1);
    if (strcmp(argv[1], "tokenize") == 0) return bench_tokenize(argc - 1, argv + 1);
    if (strcmp(argv[1], "kv") == 0) return bench_kv(argc - 1, argv + 1);
    fprintf(stderr, "kvlm bench: unknown benchmark '%s' (available: forward, tokenize, kv, prefix)\n", argv[1]);
    return 2;
}
