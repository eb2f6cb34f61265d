/*
 * ops_ref.c - scalar reference row ops (rmsnorm, layernorm, swiglu, gelu,
 * add) and the reference kernel table.
 *
 * Each op reads and writes one row of n floats; sums run left to right in
 * float (norm statistics in double for accuracy, still one fixed order).
 * y may alias x for every op.
 */
#include <math.h>

#include "kernels/kernels_impl.h"

void kvlm_ref_rmsnorm(int64_t n, const float *x, const float *w, float eps, float *y)
{
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (int64_t i = 0; i < n; i++)
        y[i] = w ? (x[i] * scale) * w[i] : x[i] * scale;
}

void kvlm_ref_layernorm(int64_t n, const float *x, const float *w, const float *b,
                        float eps, float *y)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += x[i];
    double mean = s / (double)n, v = 0.0;
    for (int64_t i = 0; i < n; i++)
        v += ((double)x[i] - mean) * ((double)x[i] - mean);
    float scale = (float)(1.0 / sqrt(v / (double)n + (double)eps));
    float fm = (float)mean;
    for (int64_t i = 0; i < n; i++) {
        float t = (x[i] - fm) * scale;
        if (w)
            t *= w[i];
        if (b)
            t += b[i];
        y[i] = t;
    }
}

void kvlm_ref_swiglu(int64_t n, const float *g, const float *u, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* 0.5 v (1 + tanh t) computed as v / (1 + e^(-2t)): the same function,
 * without the cancellation of 1 + tanh t (which is 0 in float for t < -9) */
void kvlm_ref_gelu(int64_t n, const float *x, float *y)
{
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float t = c * (v + 0.044715f * (v * v * v));
        y[i] = v / (1.0f + expf(-2.0f * t));
    }
}

void kvlm_ref_add(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

void kvlm_ref_softmax(int64_t n, float *x, float s)
{
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        x[j] *= s;
        if (x[j] > mx) mx = x[j];
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        x[j] = expf(x[j] - mx);
        sum += x[j];
    }
    float inv = 1.0f / sum;
    for (int64_t j = 0; j < n; j++)
        x[j] *= inv;
}

const kvlm_kernel_ops kvlm_kernels_ref = {
    .isa = KVLM_ISA_REF,
    .name = "ref",
    .dequantize_row = kvlm_ref_dequantize_row,
    .quantize_row = kvlm_ref_quantize_row,
    .vec_dot = kvlm_ref_vec_dot,
    .x8_dot = kvlm_ref_x8_dot,
    .xb16_dot = kvlm_ref_xb16_dot,
    .vec_mad = kvlm_ref_vec_mad,
    .rmsnorm = kvlm_ref_rmsnorm,
    .layernorm = kvlm_ref_layernorm,
    .swiglu = kvlm_ref_swiglu,
    .gelu = kvlm_ref_gelu,
    .add = kvlm_ref_add,
    .softmax = kvlm_ref_softmax,
};
