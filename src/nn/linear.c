/* linear.c - fully connected layer: y = x W^T + b (PyTorch nn.Linear).
 * N batch, C input features, O output features. */
#include "nn/layers.h"

#include <string.h>

#include "core/blas.h"

void sk_linear_forward(float *y, const float *x, const float *w, const float *b, int N, int C, int O)
{
    /* y (N, O) = bias rows + x (N, C) * w^T (C, O): prefilling the bias and
     * accumulating (beta = 1) saves the BLAS's own pass over C for beta = 0
     * and a separate bias pass. */
    if (b) {
        for (int n = 0; n < N; n++)
            memcpy(y + (int64_t)n * O, b, (size_t)O * sizeof *y);
    }
    sk_sgemm(0, 1, N, O, C, 1.0f, x, C, w, C, b ? 1.0f : 0.0f, y, O);
}

void sk_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int N, int C,
                        int O, int acc_dx)
{
    /* dw (O, C) += dy^T (O, N) * x (N, C) */
    sk_sgemm(1, 0, O, C, N, 1.0f, dy, O, x, C, 1.0f, dw, C);
    if (db) {
        /* Column sums of dy, one output per thread slice: deterministic. */
#pragma omp parallel for schedule(static) if ((int64_t)N * O > 65536)
        for (int o0 = 0; o0 < O; o0 += 64) {
            int o1 = o0 + 64 < O ? o0 + 64 : O;
            float acc[64];
            for (int o = o0; o < o1; o++)
                acc[o - o0] = 0.0f;
            for (int n = 0; n < N; n++) {
                const float *r = dy + (int64_t)n * O;
                for (int o = o0; o < o1; o++)
                    acc[o - o0] += r[o];
            }
            for (int o = o0; o < o1; o++)
                db[o] += acc[o - o0];
        }
    }
    /* dx (N, C) = dy (N, O) * w (O, C) */
    if (dx) sk_sgemm(0, 0, N, C, O, 1.0f, dy, O, w, C, acc_dx ? 1.0f : 0.0f, dx, C);
}
