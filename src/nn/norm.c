/* norm.c - BatchNorm (statistics per channel over N and S) and LayerNorm
 * (statistics over C at each (n, s)). x (N, C, S) with S = H*W (1 for the
 * 1-D variants); g, b (C) affine weight and bias. */
#include "nn/layers.h"

#include <math.h>
#include <string.h>

#define PAR_MIN 32768

/* ---- BatchNorm -------------------------------------------------------------
 * The per-channel sums run as OpenMP SIMD reductions into double partial
 * sums (a fixed order: deterministic; several times faster than the one
 * dependent chain of float additions per image row they replace, and more
 * accurate). */

void sk_bn_forward(float *y, const float *x, const float *g, const float *b, float *rm, float *rv, float *mean,
                   float *invstd, int N, int C, int S, int train, float momentum)
{
    const int64_t M = (int64_t)N * S, cs = (int64_t)C * S;
#pragma omp parallel for schedule(static) if (M * C > PAR_MIN)
    for (int c = 0; c < C; c++) {
        float mu, is;
        if (train) {
            /* one pass: sums of x and x^2 in double; the cancellation in
             * E[x^2] - m^2 costs about log10(m^2 / var) of double's 16
             * digits, far below SK_NORM_EPS for activations of any sane size */
            double s1 = 0.0, s2 = 0.0;
            for (int n = 0; n < N; n++) {
                const float *xr = x + n * cs + (int64_t)c * S;
                double a1 = 0.0, a2 = 0.0;
#pragma omp simd reduction(+ : a1, a2)
                for (int s = 0; s < S; s++) {
                    const double v = xr[s];
                    a1 += v;
                    a2 += v * v;
                }
                s1 += a1;
                s2 += a2;
            }
            double m = s1 / (double)M, var = s2 / (double)M - m * m;
            if (var < 0.0) var = 0.0;
            mu = (float)m;
            is = (float)(1.0 / sqrt(var + SK_NORM_EPS));
            if (rm) rm[c] = (1.0f - momentum) * rm[c] + momentum * mu;
            if (rv) {
                double unb = M > 1 ? var * (double)M / (double)(M - 1) : var;
                rv[c] = (1.0f - momentum) * rv[c] + momentum * (float)unb;
            }
        } else {
            mu = rm[c];
            is = (float)(1.0 / sqrt((double)rv[c] + SK_NORM_EPS));
        }
        mean[c] = mu;
        invstd[c] = is;
        float sc = g ? g[c] * is : is, sh = (b ? b[c] : 0.0f) - mu * sc;
        for (int n = 0; n < N; n++) {
            const float *xr = x + n * cs + (int64_t)c * S;
            float *yr = y + n * cs + (int64_t)c * S;
#pragma omp simd
            for (int s = 0; s < S; s++)
                yr[s] = xr[s] * sc + sh;
        }
    }
}

void sk_bn_backward(float *dx, float *dg, float *db, const float *dy, const float *x, const float *g, const float *mean,
                    const float *invstd, int N, int C, int S, int train)
{
    const int64_t M = (int64_t)N * S, cs = (int64_t)C * S;
#pragma omp parallel for schedule(static) if (M * C > PAR_MIN)
    for (int c = 0; c < C; c++) {
        const float mu = mean[c], is = invstd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int n = 0; n < N; n++) {
            const float *xr = x + n * cs + (int64_t)c * S, *dr = dy + n * cs + (int64_t)c * S;
            double a = 0.0, bb = 0.0;
#pragma omp simd reduction(+ : a, bb)
            for (int s = 0; s < S; s++) {
                a += dr[s];
                bb += (double)(dr[s] * (xr[s] - mu));
            }
            sdy += a;
            sdyx += bb;
        }
        sdyx *= is; /* sum dy * xhat */
        if (dg) dg[c] += (float)sdyx;
        if (db) db[c] += (float)sdy;
        if (!dx) continue;
        const float gc = g ? g[c] : 1.0f;
        if (train) {
            /* dx = g*is/M * (M*dy - sum dy - xhat * sum dy*xhat) */
            const float k1 = gc * is, k2 = (float)(sdy / (double)M), k3 = (float)(sdyx / (double)M) * is;
            for (int n = 0; n < N; n++) {
                const float *xr = x + n * cs + (int64_t)c * S, *dr = dy + n * cs + (int64_t)c * S;
                float *o = dx + n * cs + (int64_t)c * S;
#pragma omp simd
                for (int s = 0; s < S; s++)
                    o[s] = k1 * (dr[s] - k2 - (xr[s] - mu) * k3);
            }
        } else {
            const float k1 = gc * is;
            for (int n = 0; n < N; n++) {
                const float *dr = dy + n * cs + (int64_t)c * S;
                float *o = dx + n * cs + (int64_t)c * S;
                for (int s = 0; s < S; s++)
                    o[s] = k1 * dr[s];
            }
        }
    }
}

/* ---- LayerNorm ------------------------------------------------------------- */

void sk_ln_forward(float *y, const float *x, const float *g, const float *b, float *mean, float *invstd, int N, int C,
                   int S)
{
    const int64_t cs = (int64_t)C * S;
#pragma omp parallel for schedule(static) if (N * cs > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *xn = x + n * cs;
        float *yn = y + n * cs, *mu = mean + (int64_t)n * S, *is = invstd + (int64_t)n * S;
#pragma omp simd
        for (int s = 0; s < S; s++) {
            mu[s] = 0.0f;
            is[s] = 0.0f;
        }
        for (int c = 0; c < C; c++)
#pragma omp simd
            for (int s = 0; s < S; s++)
                mu[s] += xn[(int64_t)c * S + s];
#pragma omp simd
        for (int s = 0; s < S; s++)
            mu[s] /= (float)C;
        for (int c = 0; c < C; c++)
#pragma omp simd
            for (int s = 0; s < S; s++) {
                float d = xn[(int64_t)c * S + s] - mu[s];
                is[s] += d * d;
            }
#pragma omp simd
        for (int s = 0; s < S; s++)
            is[s] = 1.0f / sqrtf(is[s] / (float)C + SK_NORM_EPS);
        for (int c = 0; c < C; c++) {
            float gc = g ? g[c] : 1.0f, bc = b ? b[c] : 0.0f;
            const float *xr = xn + (int64_t)c * S;
            float *yr = yn + (int64_t)c * S;
#pragma omp simd
            for (int s = 0; s < S; s++)
                yr[s] = (xr[s] - mu[s]) * is[s] * gc + bc;
        }
    }
}

void sk_ln_backward(float *dx, float *dg, float *db, const float *dy, const float *x, const float *g, const float *mean,
                    const float *invstd, int N, int C, int S, float *ws)
{
    const int64_t cs = (int64_t)C * S;
    if (dg || db) {
#pragma omp parallel for schedule(static) if (N * cs > PAR_MIN)
        for (int c = 0; c < C; c++) {
            double sg = 0.0, sb = 0.0;
            for (int n = 0; n < N; n++) {
                const float *xr = x + n * cs + (int64_t)c * S, *dr = dy + n * cs + (int64_t)c * S;
                const float *mu = mean + (int64_t)n * S, *is = invstd + (int64_t)n * S;
                float a = 0.0f, bb = 0.0f;
                for (int s = 0; s < S; s++) {
                    a += dr[s] * (xr[s] - mu[s]) * is[s];
                    bb += dr[s];
                }
                sg += a;
                sb += bb;
            }
            if (dg) dg[c] += (float)sg;
            if (db) db[c] += (float)sb;
        }
    }
    if (!dx) return;
#pragma omp parallel for schedule(static) if (N * cs > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *xn = x + n * cs, *dn = dy + n * cs;
        const float *mu = mean + (int64_t)n * S, *is = invstd + (int64_t)n * S;
        float *A = ws + 2 * (int64_t)n * S, *B = A + S, *o = dx + n * cs;
#pragma omp simd
        for (int s = 0; s < S; s++) {
            A[s] = 0.0f;
            B[s] = 0.0f;
        }
        /* A = sum_c dy*g, B = sum_c dy*g*xhat */
        for (int c = 0; c < C; c++) {
            float gc = g ? g[c] : 1.0f;
            const float *xr = xn + (int64_t)c * S, *dr = dn + (int64_t)c * S;
#pragma omp simd
            for (int s = 0; s < S; s++) {
                float dxh = dr[s] * gc;
                A[s] += dxh;
                B[s] += dxh * (xr[s] - mu[s]) * is[s];
            }
        }
        const float invc = 1.0f / (float)C;
#pragma omp simd
        for (int s = 0; s < S; s++) {
            A[s] *= invc;
            B[s] *= invc;
        }
        for (int c = 0; c < C; c++) {
            float gc = g ? g[c] : 1.0f;
            const float *xr = xn + (int64_t)c * S, *dr = dn + (int64_t)c * S;
            float *orow = o + (int64_t)c * S;
#pragma omp simd
            for (int s = 0; s < S; s++) {
                float xh = (xr[s] - mu[s]) * is[s];
                orow[s] = is[s] * (dr[s] * gc - A[s] - xh * B[s]);
            }
        }
    }
}
