/* act.c - elementwise layers: ReLU, Tanh, inverted dropout, residual add.
 * All take n elements and may run in place. */
#include "nn/layers.h"

#include <math.h>
#include <string.h>

#define PAR_MIN 32768 /* below this many elements threads cost more than they save */

void sk_relu_forward(float *y, const float *x, int64_t n)
{
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void sk_relu_backward(float *dx, const float *dy, const float *y, int64_t n)
{
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float d = dy[i]; /* loaded unconditionally: a blend, not a branch */
        dx[i] = y[i] > 0.0f ? d : 0.0f;
    }
}

void sk_tanh_forward(float *y, const float *x, int64_t n)
{
#pragma omp parallel for schedule(static) if (n > PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

void sk_tanh_backward(float *dx, const float *dy, const float *y, int64_t n)
{
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

void sk_dropout_forward(float *y, uint8_t *mask, const float *x, int64_t n, float p, sk_rng *rng)
{
    /* Drawn sequentially from the caller's stream: deterministic for a seed. */
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (int64_t i = 0; i < n; i++) {
        mask[i] = sk_rng_uniform(rng) >= (double)p;
        y[i] = mask[i] ? x[i] * scale : 0.0f;
    }
}

void sk_dropout_backward(float *dx, const float *dy, const uint8_t *mask, int64_t n, float p)
{
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        dx[i] = mask[i] ? dy[i] * scale : 0.0f;
}

void sk_add_forward(float *y, const float *a, const float *b, int64_t n)
{
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void sk_axpy_acc(float *y, const float *x, int64_t n, int acc)
{
    if (!acc) {
        if (y != x) memcpy(y, x, (size_t)n * sizeof *y);
        return;
    }
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}
