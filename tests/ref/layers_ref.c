/* layers_ref.c - naive references for the fast layer kernels of src/nn
 * (test_nn_layers compares the two): plain loops over the definitions, no
 * BLAS, no OpenMP. Same conventions as nn/layers.h. */
#include "ref/ref.h"

#include <math.h>
#include <string.h>

/* ---- Linear ---------------------------------------------------------------- */

void sk_linear_forward_ref(float *y, const float *x, const float *w, const float *b, int N, int C, int O)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double acc = b ? b[o] : 0.0;
            for (int c = 0; c < C; c++)
                acc += (double)x[(int64_t)n * C + c] * w[(int64_t)o * C + c];
            y[(int64_t)n * O + o] = (float)acc;
        }
}

void sk_linear_backward_ref(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int N,
                            int C, int O, int acc_dx)
{
    for (int o = 0; o < O; o++) {
        double sb = 0.0;
        for (int n = 0; n < N; n++)
            sb += dy[(int64_t)n * O + o];
        if (db) db[o] += (float)sb;
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int n = 0; n < N; n++)
                s += (double)dy[(int64_t)n * O + o] * x[(int64_t)n * C + c];
            dw[(int64_t)o * C + c] += (float)s;
        }
    }
    if (!dx) return;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            double s = acc_dx ? dx[(int64_t)n * C + c] : 0.0;
            for (int o = 0; o < O; o++)
                s += (double)dy[(int64_t)n * O + o] * w[(int64_t)o * C + c];
            dx[(int64_t)n * C + c] = (float)s;
        }
}

/* ---- Conv2d ---------------------------------------------------------------- */

void sk_conv2d_forward_ref(float *y, const float *x, const float *w, const float *b, const sk_conv_shape *s)
{
    const int k = s->k;
    for (int n = 0; n < s->N; n++)
        for (int o = 0; o < s->O; o++)
            for (int oh = 0; oh < s->OH; oh++)
                for (int ow = 0; ow < s->OW; ow++) {
                    double acc = b ? b[o] : 0.0;
                    for (int c = 0; c < s->C; c++)
                        for (int ki = 0; ki < k; ki++)
                            for (int kj = 0; kj < k; kj++) {
                                int ih = oh * s->stride - s->pad + ki;
                                int iw = ow * s->stride - s->pad + kj;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                acc += (double)x[(((int64_t)n * s->C + c) * s->H + ih) * s->W + iw] *
                                       w[(((int64_t)o * s->C + c) * k + ki) * k + kj];
                            }
                    y[(((int64_t)n * s->O + o) * s->OH + oh) * s->OW + ow] = (float)acc;
                }
}

void sk_conv2d_backward_ref(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                            const sk_conv_shape *s, int acc_dx)
{
    const int k = s->k;
    int64_t nx = (int64_t)s->N * s->C * s->H * s->W;
    if (dx && !acc_dx) memset(dx, 0, (size_t)nx * sizeof *dx);
    for (int n = 0; n < s->N; n++)
        for (int o = 0; o < s->O; o++)
            for (int oh = 0; oh < s->OH; oh++)
                for (int ow = 0; ow < s->OW; ow++) {
                    float g = dy[(((int64_t)n * s->O + o) * s->OH + oh) * s->OW + ow];
                    if (db) db[o] += g;
                    for (int c = 0; c < s->C; c++)
                        for (int ki = 0; ki < k; ki++)
                            for (int kj = 0; kj < k; kj++) {
                                int ih = oh * s->stride - s->pad + ki;
                                int iw = ow * s->stride - s->pad + kj;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                int64_t xi = (((int64_t)n * s->C + c) * s->H + ih) * s->W + iw;
                                int64_t wi = (((int64_t)o * s->C + c) * k + ki) * k + kj;
                                dw[wi] += g * x[xi];
                                if (dx) dx[xi] += g * w[wi];
                            }
                }
}

/* ---- BatchNorm ------------------------------------------------------------- */

void sk_bn_forward_ref(float *y, const float *x, const float *g, const float *b, float *rm, float *rv, float *mean,
                       float *invstd, int N, int C, int S, int train, float momentum)
{
    const int64_t M = (int64_t)N * S;
    for (int c = 0; c < C; c++) {
        double mu, var;
        if (train) {
            double s1 = 0.0, s2 = 0.0;
            for (int n = 0; n < N; n++)
                for (int s = 0; s < S; s++)
                    s1 += x[((int64_t)n * C + c) * S + s];
            mu = s1 / M;
            for (int n = 0; n < N; n++)
                for (int s = 0; s < S; s++) {
                    double d = x[((int64_t)n * C + c) * S + s] - mu;
                    s2 += d * d;
                }
            var = s2 / M;
            if (rm) rm[c] = (float)((1.0 - momentum) * rm[c] + momentum * mu);
            if (rv) rv[c] = (float)((1.0 - momentum) * rv[c] + momentum * (M > 1 ? var * M / (M - 1) : var));
        } else {
            mu = rm[c];
            var = rv[c];
        }
        double is = 1.0 / sqrt(var + SK_NORM_EPS);
        mean[c] = (float)mu;
        invstd[c] = (float)is;
        for (int n = 0; n < N; n++)
            for (int s = 0; s < S; s++) {
                int64_t i = ((int64_t)n * C + c) * S + s;
                y[i] = (float)((x[i] - mu) * is * (g ? g[c] : 1.0) + (b ? b[c] : 0.0));
            }
    }
}

void sk_bn_backward_ref(float *dx, float *dg, float *db, const float *dy, const float *x, const float *g,
                        const float *mean, const float *invstd, int N, int C, int S, int train)
{
    const int64_t M = (int64_t)N * S;
    for (int c = 0; c < C; c++) {
        double sdy = 0.0, sdyx = 0.0, is = invstd[c];
        for (int n = 0; n < N; n++)
            for (int s = 0; s < S; s++) {
                int64_t i = ((int64_t)n * C + c) * S + s;
                sdy += dy[i];
                sdyx += dy[i] * (x[i] - mean[c]) * is;
            }
        if (dg) dg[c] += (float)sdyx;
        if (db) db[c] += (float)sdy;
        if (!dx) continue;
        double gc = g ? g[c] : 1.0;
        for (int n = 0; n < N; n++)
            for (int s = 0; s < S; s++) {
                int64_t i = ((int64_t)n * C + c) * S + s;
                double xh = (x[i] - mean[c]) * is;
                dx[i] = train ? (float)(gc * is * (dy[i] - sdy / M - xh * sdyx / M)) : (float)(gc * is * dy[i]);
            }
    }
}

/* ---- LayerNorm ------------------------------------------------------------- */

void sk_ln_forward_ref(float *y, const float *x, const float *g, const float *b, float *mean, float *invstd, int N,
                       int C, int S)
{
    for (int n = 0; n < N; n++)
        for (int s = 0; s < S; s++) {
            double s1 = 0.0, s2 = 0.0;
            for (int c = 0; c < C; c++)
                s1 += x[((int64_t)n * C + c) * S + s];
            double mu = s1 / C;
            for (int c = 0; c < C; c++) {
                double d = x[((int64_t)n * C + c) * S + s] - mu;
                s2 += d * d;
            }
            double is = 1.0 / sqrt(s2 / C + SK_NORM_EPS);
            mean[(int64_t)n * S + s] = (float)mu;
            invstd[(int64_t)n * S + s] = (float)is;
            for (int c = 0; c < C; c++) {
                int64_t i = ((int64_t)n * C + c) * S + s;
                y[i] = (float)((x[i] - mu) * is * (g ? g[c] : 1.0) + (b ? b[c] : 0.0));
            }
        }
}

void sk_ln_backward_ref(float *dx, float *dg, float *db, const float *dy, const float *x, const float *g,
                        const float *mean, const float *invstd, int N, int C, int S)
{
    for (int n = 0; n < N; n++)
        for (int s = 0; s < S; s++) {
            double mu = mean[(int64_t)n * S + s], is = invstd[(int64_t)n * S + s];
            double A = 0.0, B = 0.0;
            for (int c = 0; c < C; c++) {
                int64_t i = ((int64_t)n * C + c) * S + s;
                double xh = (x[i] - mu) * is, gc = g ? g[c] : 1.0;
                A += dy[i] * gc;
                B += dy[i] * gc * xh;
                if (dg) dg[c] += (float)(dy[i] * xh);
                if (db) db[c] += dy[i];
            }
            if (!dx) continue;
            for (int c = 0; c < C; c++) {
                int64_t i = ((int64_t)n * C + c) * S + s;
                double xh = (x[i] - mu) * is, gc = g ? g[c] : 1.0;
                dx[i] = (float)(is * (dy[i] * gc - A / C - xh * B / C));
            }
        }
}

/* ---- MaxPool2d 2x2 --------------------------------------------------------- */

void sk_maxpool2_forward_ref(float *y, const float *x, int N, int C, int H, int W)
{
    const int OH = H / 2, OW = W / 2;
    for (int64_t pl = 0; pl < (int64_t)N * C; pl++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float v = x[pl * H * W + (int64_t)(2 * oh) * W + 2 * ow];
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++) {
                        float u = x[pl * H * W + (int64_t)(2 * oh + a) * W + 2 * ow + b];
                        if (u > v) v = u;
                    }
                y[pl * OH * OW + oh * OW + ow] = v;
            }
}

void sk_maxpool2_backward_ref(float *dx, const float *dy, const float *x, int N, int C, int H, int W)
{
    const int OH = H / 2, OW = W / 2;
    memset(dx, 0, (size_t)N * C * H * W * sizeof *dx);
    for (int64_t pl = 0; pl < (int64_t)N * C; pl++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int64_t best = pl * H * W + (int64_t)(2 * oh) * W + 2 * ow;
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++) {
                        int64_t i = pl * H * W + (int64_t)(2 * oh + a) * W + 2 * ow + b;
                        if (x[i] > x[best]) best = i;
                    }
                dx[best] += dy[pl * OH * OW + oh * OW + ow];
            }
}
