/*
 * arch_gpt2.c - GPT-2: learned absolute positions, pre-LayerNorm blocks,
 * fused QKV projection with bias, GELU (tanh approximation) MLP, output
 * tied to the token embedding unless output.weight / lm_head.weight exists.
 *
 * Per layer, for a batch of n tokens (E = n_embd, F = n_ff):
 *   xn = layernorm(x) * ln1_w + ln1_b                 [n][E]
 *   qkv = xn Wqkv^T + bqkv                            [n][3E] = q | k | v
 *   store k, v; att = causal attention of q           [n][E]
 *   x += att Wo^T + bo
 *   xn = layernorm(x) * ln2_w + ln2_b
 *   x += gelu(xn Wup^T + bup) Wdown^T + bdown         inner [n][F]
 * Hugging Face stores the projections as Conv1D ([in][out]); they are
 * transposed at load into [out][in] so every weight is used row-wise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "engine/context.h"
#include "model/bind.h"
#include "model/forward.h"

kvlm_status kvlm_gpt2_bind(kvlm_model *m, bool hf)
{
    const kvlm_model_info *in = &m->info;
    int64_t E = in->n_embd, F = in->n_ff, V = in->n_vocab;
    kvlm_status s;
    if (in->n_kv_heads != in->n_heads || in->head_dim * in->n_heads != in->n_embd)
        return kvlm_fail(KVLM_ERR_FORMAT, "%s: GPT-2 needs n_embd = n_heads * head_dim", m->path);
    m->layers = calloc((size_t)in->n_layers, sizeof *m->layers);
    if (!m->layers) return kvlm_fail(KVLM_ERR_NOMEM, "out of memory");
    const char *pre = "";
    if (hf && kvlm_bind_find(m, "transformer.wte.weight")) pre = "transformer.";
    char n[192];
#define G(ggufname, hfname) \
    (hf ? (snprintf(n, sizeof n, "%s%s", pre, hfname), n) : ggufname)
    if ((s = kvlm_bind_weight(m, G("token_embd.weight", "wte.weight"), E, V, true, &m->tok_embd)) ||
        (s = kvlm_bind_matrix_f32(m, G("position_embd.weight", "wpe.weight"), E, in->n_ctx_train,
                                  false, &m->pos_embd)) ||
        (s = kvlm_bind_vec(m, G("output_norm.weight", "ln_f.weight"), E, true, &m->out_norm)) ||
        (s = kvlm_bind_vec(m, G("output_norm.bias", "ln_f.bias"), E, true, &m->out_norm_b)))
        return s;
#undef G
    if ((s = kvlm_bind_weight(m, hf ? "lm_head.weight" : "output.weight", E, V, false, &m->output)))
        return s;
    if (!m->output.data) {
        m->output = m->tok_embd;
        m->tied_embeddings = true;
    }
    for (int l = 0; l < in->n_layers; l++) {
        kvlm_layer *L = &m->layers[l];
#define NAME(hfname, ggufname)                                                        \
    (hf ? (snprintf(n, sizeof n, "%sh.%d.%s", pre, l, hfname), n)                     \
        : (snprintf(n, sizeof n, "blk.%d.%s", l, ggufname), n))
        if ((s = kvlm_bind_vec(m, NAME("ln_1.weight", "attn_norm.weight"), E, true, &L->attn_norm)) ||
            (s = kvlm_bind_vec(m, NAME("ln_1.bias", "attn_norm.bias"), E, true, &L->attn_norm_b)) ||
            (s = kvlm_bind_vec(m, NAME("attn.c_attn.bias", "attn_qkv.bias"), 3 * E, true, &L->bqkv)) ||
            (s = kvlm_bind_vec(m, NAME("attn.c_proj.bias", "attn_output.bias"), E, true, &L->bo)) ||
            (s = kvlm_bind_vec(m, NAME("ln_2.weight", "ffn_norm.weight"), E, true, &L->ffn_norm)) ||
            (s = kvlm_bind_vec(m, NAME("ln_2.bias", "ffn_norm.bias"), E, true, &L->ffn_norm_b)) ||
            (s = kvlm_bind_vec(m, NAME("mlp.c_fc.bias", "ffn_up.bias"), F, true, &L->b_up)) ||
            (s = kvlm_bind_vec(m, NAME("mlp.c_proj.bias", "ffn_down.bias"), E, true, &L->b_down)))
            return s;
        if (hf) {
            if ((s = kvlm_bind_weight_transposed(m, NAME("attn.c_attn.weight", ""), E, 3 * E, &L->wqkv)) ||
                (s = kvlm_bind_weight_transposed(m, NAME("attn.c_proj.weight", ""), E, E, &L->wo)) ||
                (s = kvlm_bind_weight_transposed(m, NAME("mlp.c_fc.weight", ""), E, F, &L->w_up)) ||
                (s = kvlm_bind_weight_transposed(m, NAME("mlp.c_proj.weight", ""), F, E, &L->w_down)))
                return s;
        } else {
            if ((s = kvlm_bind_weight(m, NAME("", "attn_qkv.weight"), E, 3 * E, true, &L->wqkv)) ||
                (s = kvlm_bind_weight(m, NAME("", "attn_output.weight"), E, E, true, &L->wo)) ||
                (s = kvlm_bind_weight(m, NAME("", "ffn_up.weight"), E, F, true, &L->w_up)) ||
                (s = kvlm_bind_weight(m, NAME("", "ffn_down.weight"), F, E, true, &L->w_down)))
                return s;
        }
#undef NAME
    }
    return KVLM_OK;
}

typedef struct ln_task {
    kvlm_context *ctx;
    int n;
    const float *x, *w, *b;
    float *y;
} ln_task;

static void layernorm_fn(void *arg, int ith, int nth)
{
    ln_task *t = arg;
    int e = t->ctx->model->info.n_embd;
    float eps = t->ctx->model->info.norm_eps;
    long lo, hi;
    kvlm_split(t->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++)
        t->ctx->ops->layernorm(e, t->x + i * e, t->w, t->b, eps, t->y + i * e);
}

static void gelu_fn(void *arg, int ith, int nth)
{
    ln_task *t = arg;
    int f = t->ctx->model->info.n_ff;
    long lo, hi;
    kvlm_split(t->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) t->ctx->ops->gelu(f, t->ctx->h1 + i * f, t->ctx->h1 + i * f);
}

void kvlm_forward_gpt2(kvlm_context *ctx, const kvlm_fwd_batch *b)
{
    const kvlm_model *m = ctx->model;
    const kvlm_kernel_ops *ops = ctx->ops;
    kvlm_threadpool *tp = ctx->tp;
    int n = b->n;
    int64_t E = m->info.n_embd, F = m->info.n_ff;

    for (int i = 0; i < n; i++) {
        float *x = ctx->x + i * E;
        kvlm_weight_dequant_row(ops, &m->tok_embd, b->tokens[i], x);
        ops->add(E, m->pos_embd + (int64_t)b->pos[i] * E, x);
    }
    for (int l = 0; l < m->info.n_layers; l++) {
        const kvlm_layer *L = &m->layers[l];
        ln_task t1 = {ctx, n, ctx->x, L->attn_norm, L->attn_norm_b, ctx->xn};
        kvlm_threadpool_run(tp, layernorm_fn, &t1);
        kvlm_matmul(tp, ops, &L->wqkv, L->bqkv, ctx->xn, E, n, ctx->qkv, 3 * E, ctx->mm);
        kvlm_fwd_store_kv(ctx, b, l, ctx->qkv + E, 3 * E, ctx->qkv + 2 * E, 3 * E);
        kvlm_fwd_attention(ctx, b, l, ctx->qkv, 3 * E, ctx->att, E);
        kvlm_matmul(tp, ops, &L->wo, L->bo, ctx->att, E, n, ctx->xn, E, ctx->mm);
        kvlm_fwd_residual(ctx, n, ctx->x, ctx->xn);

        ln_task t2 = {ctx, n, ctx->x, L->ffn_norm, L->ffn_norm_b, ctx->xn};
        kvlm_threadpool_run(tp, layernorm_fn, &t2);
        kvlm_matmul(tp, ops, &L->w_up, L->b_up, ctx->xn, E, n, ctx->h1, F, ctx->mm);
        ln_task tg = {ctx, n, NULL, NULL, NULL, NULL};
        kvlm_threadpool_run(tp, gelu_fn, &tg);
        kvlm_matmul(tp, ops, &L->w_down, L->b_down, ctx->h1, F, n, ctx->xn, E, ctx->mm);
        kvlm_fwd_residual(ctx, n, ctx->x, ctx->xn);
    }
    kvlm_fwd_logits(ctx, b, ctx->x);
}
