/*
 * arch_llama.c - the Llama family: Llama 2, Llama 3 (with llama3 rope
 * scaling), Mistral and Qwen2/Qwen2.5 (QKV bias, tied embeddings).
 *
 * Per layer, for a batch of n tokens (shapes in floats):
 *   xn = rmsnorm(x) * attn_norm                  [n][E]
 *   q = xn Wq^T (+bq)  [n][H*D];  k = xn Wk^T (+bk), v = xn Wv^T (+bv)  [n][KV*D]
 *   rope(q, k); store k, v in the KV cache at each token's position
 *   att = softmax(q k^T / sqrt(D)) v over cached positions 0..pos   [n][H*D]
 *   x += att Wo^T
 *   xn = rmsnorm(x) * ffn_norm
 *   x += (silu(xn Wg^T) * (xn Wu^T)) Wd^T          inner [n][F]
 * then logits = rmsnorm(x) * out_norm . Wout^T for the rows asked for.
 * Grouped-query attention: query head h reads KV head h / (H / KV).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "engine/context.h"
#include "model/bind.h"
#include "model/forward.h"

kvlm_status kvlm_llama_bind(kvlm_model *m, bool hf)
{
    const kvlm_model_info *in = &m->info;
    int64_t E = in->n_embd, QD = (int64_t)in->n_heads * in->head_dim,
            KD = (int64_t)in->n_kv_heads * in->head_dim, F = in->n_ff, V = in->n_vocab;
    kvlm_status s;
    m->layers = calloc((size_t)in->n_layers, sizeof *m->layers);
    if (!m->layers) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    if ((s = kvlm_bind_weight(m, hf ? "model.embed_tokens.weight" : "token_embd.weight", E, V, true,
                              &m->tok_embd)) ||
        (s = kvlm_bind_vec(m, hf ? "model.norm.weight" : "output_norm.weight", E, true, &m->out_norm)) ||
        (s = kvlm_bind_weight(m, hf ? "lm_head.weight" : "output.weight", E, V, false, &m->output)))
        return s;
    if (!m->output.data) {
        m->output = m->tok_embd;
        m->tied_embeddings = true;
    }
    bool want_bias = in->arch == KVLM_ARCH_QWEN2;
    for (int l = 0; l < in->n_layers; l++) {
        kvlm_layer *L = &m->layers[l];
        char n[192];
#define NAME(hfname, ggufname)                                                        \
    (hf ? (snprintf(n, sizeof n, "model.layers.%d.%s", l, hfname), n)                 \
        : (snprintf(n, sizeof n, "blk.%d.%s", l, ggufname), n))
        if ((s = kvlm_bind_vec(m, NAME("input_layernorm.weight", "attn_norm.weight"), E, true, &L->attn_norm)) ||
            (s = kvlm_bind_weight(m, NAME("self_attn.q_proj.weight", "attn_q.weight"), E, QD, true, &L->wq)) ||
            (s = kvlm_bind_weight(m, NAME("self_attn.k_proj.weight", "attn_k.weight"), E, KD, true, &L->wk)) ||
            (s = kvlm_bind_weight(m, NAME("self_attn.v_proj.weight", "attn_v.weight"), E, KD, true, &L->wv)) ||
            (s = kvlm_bind_weight(m, NAME("self_attn.o_proj.weight", "attn_output.weight"), QD, E, true, &L->wo)) ||
            (s = kvlm_bind_vec(m, NAME("self_attn.q_proj.bias", "attn_q.bias"), QD, want_bias, &L->bq)) ||
            (s = kvlm_bind_vec(m, NAME("self_attn.k_proj.bias", "attn_k.bias"), KD, want_bias, &L->bk)) ||
            (s = kvlm_bind_vec(m, NAME("self_attn.v_proj.bias", "attn_v.bias"), KD, want_bias, &L->bv)) ||
            (s = kvlm_bind_vec(m, NAME("post_attention_layernorm.weight", "ffn_norm.weight"), E, true, &L->ffn_norm)) ||
            (s = kvlm_bind_weight(m, NAME("mlp.gate_proj.weight", "ffn_gate.weight"), E, F, true, &L->w_gate)) ||
            (s = kvlm_bind_weight(m, NAME("mlp.up_proj.weight", "ffn_up.weight"), E, F, true, &L->w_up)) ||
            (s = kvlm_bind_weight(m, NAME("mlp.down_proj.weight", "ffn_down.weight"), F, E, true, &L->w_down)))
            return s;
        /* Llama with attention_bias may carry an output bias too. */
        if ((s = kvlm_bind_vec(m, NAME("self_attn.o_proj.bias", "attn_output.bias"), E, false, &L->bo)))
            return s;
#undef NAME
    }
    return KVLM_OK;
}

typedef struct norm_task {
    kvlm_context *ctx;
    int n;
    const float *x;
    const float *w;
    float *y;
} norm_task;

static void rmsnorm_fn(void *arg, int ith, int nth)
{
    norm_task *t = arg;
    int e = t->ctx->model->info.n_embd;
    float eps = t->ctx->model->info.norm_eps;
    long lo, hi;
    kvlm_split(t->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) t->ctx->ops->rmsnorm(e, t->x + i * e, t->w, eps, t->y + i * e);
}

typedef struct swiglu_task {
    kvlm_context *ctx;
    int n;
} swiglu_task;

static void swiglu_fn(void *arg, int ith, int nth)
{
    swiglu_task *t = arg;
    int f = t->ctx->model->info.n_ff;
    long lo, hi;
    kvlm_split(t->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++)
        t->ctx->ops->swiglu(f, t->ctx->h1 + i * f, t->ctx->h2 + i * f, t->ctx->h1 + i * f);
}

void kvlm_forward_llama(kvlm_context *ctx, const kvlm_fwd_batch *b)
{
    const kvlm_model *m = ctx->model;
    const kvlm_kernel_ops *ops = ctx->ops;
    kvlm_threadpool *tp = ctx->tp;
    int n = b->n;
    int64_t E = m->info.n_embd, QD = (int64_t)m->info.n_heads * m->info.head_dim,
            KD = (int64_t)m->info.n_kv_heads * m->info.head_dim, F = m->info.n_ff;

    for (int i = 0; i < n; i++)
        kvlm_weight_dequant_row(ops, &m->tok_embd, b->tokens[i], ctx->x + i * E);

    for (int l = 0; l < m->info.n_layers; l++) {
        const kvlm_layer *L = &m->layers[l];
        norm_task nt = {ctx, n, ctx->x, L->attn_norm, ctx->xn};
        kvlm_threadpool_run(tp, rmsnorm_fn, &nt);
        kvlm_matmul(tp, ops, &L->wq, L->bq, ctx->xn, E, n, ctx->q, QD, ctx->mm);
        kvlm_matmul(tp, ops, &L->wk, L->bk, ctx->xn, E, n, ctx->k, KD, ctx->mm);
        kvlm_matmul(tp, ops, &L->wv, L->bv, ctx->xn, E, n, ctx->v, KD, ctx->mm);
        kvlm_fwd_rope(ctx, b, ctx->q, QD, ctx->k, KD);
        kvlm_fwd_store_kv(ctx, b, l, ctx->k, KD, ctx->v, KD);
        kvlm_fwd_attention(ctx, b, l, ctx->q, QD, ctx->att, QD);
        kvlm_matmul(tp, ops, &L->wo, L->bo, ctx->att, QD, n, ctx->xn, E, ctx->mm);
        kvlm_fwd_residual(ctx, n, ctx->x, ctx->xn);

        norm_task nf = {ctx, n, ctx->x, L->ffn_norm, ctx->xn};
        kvlm_threadpool_run(tp, rmsnorm_fn, &nf);
        kvlm_matmul(tp, ops, &L->w_gate, NULL, ctx->xn, E, n, ctx->h1, F, ctx->mm);
        kvlm_matmul(tp, ops, &L->w_up, NULL, ctx->xn, E, n, ctx->h2, F, ctx->mm);
        swiglu_task st = {ctx, n};
        kvlm_threadpool_run(tp, swiglu_fn, &st);
        kvlm_matmul(tp, ops, &L->w_down, NULL, ctx->h1, F, n, ctx->xn, E, ctx->mm);
        kvlm_fwd_residual(ctx, n, ctx->x, ctx->xn);
    }
    kvlm_fwd_logits(ctx, b, ctx->x);
}
