/*
 * test_load_progress.c - kvlm_model_params.progress: the loader pages the
 * weights in and reports bytes.
 *
 * Oracle: the fixture's architecture in tests/fixtures/models/manifest.json
 * (layers, hidden size, heads, KV heads, head dim, MLP size, vocabulary,
 * untied output): the number of float32 weights of a Llama model of that
 * shape, times 4 bytes, is the total the callback must end at, for the
 * GGUF file and for the Hugging Face folder (both f32), and the same shape
 * in Q8_0 / Q4_0 GGUF files (matrices repacked at load, reported while
 * packed; and without repacking). Checks: done grows
 * strictly, the last call has done == total, every call has the same
 * total; a callback returning false cancels the load with
 * KVLM_ERR_INVALID_ARG "load cancelled" and no model, after exactly the
 * calls made so far; loads without a callback still work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kvlm.h"
#include "test.h"

typedef struct rec {
    uint64_t done[4096], total[4096];
    int n, cancel_at; /* return false on call number cancel_at (1-based); 0: never */
} rec;

static bool record(uint64_t done, uint64_t total, void *user)
{
    rec *r = user;
    if (r->n < 4096) {
        r->done[r->n] = done;
        r->total[r->n] = total;
    }
    r->n++;
    return r->cancel_at == 0 || r->n < r->cancel_at;
}

static void check_load(const char *path, uint64_t want_total)
{
    static rec r;
    memset(&r, 0, sizeof r);
    kvlm_model_params mp = kvlm_model_default_params();
    mp.progress = record;
    mp.progress_user = &r;
    kvlm_model *m = NULL;
    kvlm_status st = kvlm_model_load(path, &mp, &m);
    CHECK(st == KVLM_OK && m, "load %s with progress: %s", path, kvlm_last_error());
    CHECK(r.n >= 2, "%s: %d progress calls", path, r.n);
    bool mono = true, same_total = true;
    for (int i = 0; i < r.n && i < 4096; i++) {
        if (i > 0 && r.done[i] <= r.done[i - 1]) mono = false;
        if (r.total[i] != want_total) same_total = false;
    }
    CHECK(mono, "%s: done values are not strictly increasing", path);
    CHECK(same_total, "%s: total %llu, want %llu", path, (unsigned long long)(r.n ? r.total[0] : 0),
          (unsigned long long)want_total);
    CHECK(r.n > 0 && r.done[r.n - 1] == want_total, "%s: last done %llu, want %llu", path,
          (unsigned long long)(r.n ? r.done[r.n - 1] : 0), (unsigned long long)want_total);
    if (m) {
        kvlm_model_info in;
        kvlm_model_get_info(m, &in);
        CHECK(in.weight_bytes == want_total, "%s: weight_bytes %llu", path, (unsigned long long)in.weight_bytes);
    }
    kvlm_model_free(m);

    /* cancel on the third call */
    int calls = r.n;
    memset(&r, 0, sizeof r);
    r.cancel_at = 3;
    m = (kvlm_model *)&r; /* must be reset to NULL */
    st = kvlm_model_load(path, &mp, &m);
    CHECK(st == KVLM_ERR_INVALID_ARG, "%s: cancel gives %s", path, kvlm_status_name(st));
    CHECK(m == NULL, "%s: no model after a cancel", path);
    CHECK(strstr(kvlm_last_error(), "load cancelled"), "%s: message '%s'", path, kvlm_last_error());
    CHECK(calls < 3 || r.n == 3, "%s: %d calls after cancelling on the 3rd", path, r.n);

    /* no callback */
    m = NULL;
    CHECK(kvlm_model_load(path, NULL, &m) == KVLM_OK && m, "%s: load without params", path);
    kvlm_model_free(m);
}

int main(void)
{
    char man[4096], gguf[4096], dir[4096];
    fixture_path(man, sizeof man, "models/manifest.json");
    json_error_t err;
    json_t *mj = json_load_file(man, 0, &err);
    REQUIRE(mj, "manifest: %s", err.text);
    json_t *a = json_object_get(json_object_get(mj, "models"), "llama-gqa");
    long long L = json_integer_value(json_object_get(a, "n_layer")), E = json_integer_value(json_object_get(a, "n_embd")),
              H = json_integer_value(json_object_get(a, "n_head")), KVH = json_integer_value(json_object_get(a, "n_head_kv")),
              hd = json_integer_value(json_object_get(a, "head_dim")), F = json_integer_value(json_object_get(a, "n_ff")),
              V = json_integer_value(json_object_get(mj, "vocab_size"));
    REQUIRE(L > 0 && E > 0 && V > 0 && json_is_false(json_object_get(a, "tied_embeddings")), "manifest fields");
    /* embeddings + output + final norm; per layer q, k, v, o, gate, up, down, two norms */
    long long per_layer = E * H * hd + 2 * E * KVH * hd + H * hd * E + 3 * E * F + 2 * E;
    uint64_t want = (uint64_t)(2 * V * E + E + L * per_layer) * 4;
    printf("llama-gqa f32: %llu weight bytes expected\n", (unsigned long long)want);
    check_load(fixture_path(gguf, sizeof gguf, "models/llama-gqa-f32.gguf"), want);
    check_load(fixture_path(dir, sizeof dir, "models/llama-gqa"), want);

    /* Quantized files: every matrix is repacked at load (repack.c) and
     * reported while it is packed, the norms are paged in after; the same
     * count without repacking (KVLM_REPACK=0: page-in only). Every 2-D
     * tensor is Q8_0 (34 bytes per 32) or Q4_0 (18 per 32), norms f32. */
    long long mat = 2 * V * E + L * (per_layer - 2 * E), norms = E + L * 2 * E;
    static const struct { const char *file; long long block_bytes; } q[] = {
        {"models/llama-gqa-q8_0.gguf", 34}, {"models/llama-gqa-q4_0.gguf", 18}};
    for (int i = 0; i < 2; i++) {
        uint64_t wq = (uint64_t)(mat / 32 * q[i].block_bytes + norms * 4);
        printf("%s: %llu weight bytes expected\n", q[i].file, (unsigned long long)wq);
        fixture_path(gguf, sizeof gguf, q[i].file);
        check_load(gguf, wq);
        setenv("KVLM_REPACK", "0", 1);
        check_load(gguf, wq);
        unsetenv("KVLM_REPACK");
    }
    json_decref(mj);
    TEST_MAIN_END("test_load_progress");
}
