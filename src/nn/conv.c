/* conv.c - Conv2d by im2col + one SGEMM per chunk of images: every shape,
 * and the reference of the faster algorithms (conv_wino.c, conv_direct.c;
 * conv_dispatch.c chooses).
 *
 * N batch, C input channels, H W input size, O output channels, k kernel,
 * OH OW output size, P = OH*OW, R = C*k*k rows of the column matrix.
 *
 * The column matrix of a chunk of nb images is (R, nb*P): column n*P + p
 * holds the receptive field of output pixel p of image n. One GEMM
 *   T (O, nb*P) = w (O, R) * col (R, nb*P)
 * then scatters T into y (N, O, P) (adding the bias). When P is large
 * (>= SK_CONV_DIRECT_P) the chunk is one image and the GEMM writes straight
 * into y; 1x1 stride-1 unpadded convs use x itself as the column matrix. */
#include "nn/layers.h"

#include <string.h>

#include "core/blas.h"
#include "nn/conv_impl.h"

#define SK_CONV_DIRECT_P 1024     /* per-image GEMM is already wide enough */
#define SK_CONV_TARGET_COLS 2048  /* columns per batched GEMM */
#define SK_CONV_MAX_COL (8 << 20) /* floats of column matrix per chunk */

int sk_conv_shape_init(sk_conv_shape *s, int N, int C, int H, int W, int O, int k, int stride, int pad)
{
    s->N = N;
    s->C = C;
    s->H = H;
    s->W = W;
    s->O = O;
    s->k = k;
    s->stride = stride;
    s->pad = pad;
    if (k < 1 || stride < 1 || pad < 0) return -1;
    s->OH = (H + 2 * pad - k) / stride + 1;
    s->OW = (W + 2 * pad - k) / stride + 1;
    return (H + 2 * pad < k || W + 2 * pad < k) ? -1 : 0;
}

static int conv_is_1x1(const sk_conv_shape *s)
{
    return s->k == 1 && s->stride == 1 && s->pad == 0;
}

/* Images per chunk. */
static int conv_chunk(const sk_conv_shape *s)
{
    int P = s->OH * s->OW;
    int64_t R = (int64_t)s->C * s->k * s->k;
    if (P >= SK_CONV_DIRECT_P || conv_is_1x1(s)) return 1;
    int nb = (SK_CONV_TARGET_COLS + P - 1) / P;
    while (nb > 1 && R * nb * P > SK_CONV_MAX_COL)
        nb--;
    return nb < s->N ? nb : (s->N > 0 ? s->N : 1);
}

size_t sk_conv_im2col_workspace(const sk_conv_shape *s)
{
    int nb = conv_chunk(s);
    size_t P = (size_t)s->OH * s->OW, R = (size_t)s->C * s->k * s->k;
    if (conv_is_1x1(s)) return 1;
    /* column matrix, plus the (O, nb*P) product when chunks are batched */
    return R * nb * P + (nb > 1 ? (size_t)s->O * nb * P : 0);
}

/* col (R, nb*P) <- images n0..n0+nb-1 of x. */
static void im2col(float *col, const float *x, const sk_conv_shape *s, int n0, int nb)
{
    const int k = s->k, st = s->stride, pad = s->pad, H = s->H, W = s->W;
    const int OH = s->OH, OW = s->OW, P = OH * OW;
    const int R = s->C * k * k;
    const int64_t ld = (int64_t)nb * P;
#pragma omp parallel for schedule(static) if (ld * R > 32768)
    for (int r = 0; r < R; r++) {
        int c = r / (k * k), ki = (r / k) % k, kj = r % k;
        /* stride 1: valid ow in [lo, hi), i.e. 0 <= ow - pad + kj < W; plain
         * loops rather than memcpy/memset calls, which dominate for the
         * 2..8-pixel rows of the deep layers */
        int lo = pad - kj, hi = W + pad - kj;
        if (lo < 0) lo = 0;
        if (hi > OW) hi = OW;
        if (hi < lo) hi = lo;
        const int off = kj - pad;
        for (int n = 0; n < nb; n++) {
            const float *xc = x + ((int64_t)(n0 + n) * s->C + c) * H * W;
            float *dst = col + (int64_t)r * ld + (int64_t)n * P;
            for (int oh = 0; oh < OH; oh++) {
                int ih = oh * st - pad + ki;
                float *restrict d = dst + (int64_t)oh * OW;
                if (ih < 0 || ih >= H) {
                    for (int ow = 0; ow < OW; ow++)
                        d[ow] = 0.0f;
                    continue;
                }
                const float *restrict xr = xc + (int64_t)ih * W;
                if (st == 1) {
                    for (int ow = 0; ow < lo; ow++)
                        d[ow] = 0.0f;
                    for (int ow = lo; ow < hi; ow++)
                        d[ow] = xr[ow + off];
                    for (int ow = hi; ow < OW; ow++)
                        d[ow] = 0.0f;
                } else {
                    for (int ow = 0; ow < OW; ow++) {
                        int iw = ow * st - pad + kj;
                        d[ow] = (iw >= 0 && iw < W) ? xr[iw] : 0.0f;
                    }
                }
            }
        }
    }
}

/* dx images n0.. (+)= col2im(col); parallel over channels so writes never race. */
static void col2im(float *dx, const float *col, const sk_conv_shape *s, int n0, int nb, int acc)
{
    const int k = s->k, st = s->stride, pad = s->pad, H = s->H, W = s->W;
    const int OH = s->OH, OW = s->OW, P = OH * OW;
    const int64_t ld = (int64_t)nb * P;
#pragma omp parallel for collapse(2) schedule(static) if (ld * s->C * k * k > 32768)
    for (int n = 0; n < nb; n++)
        for (int c = 0; c < s->C; c++) {
            float *xc = dx + ((int64_t)(n0 + n) * s->C + c) * H * W;
            if (!acc) memset(xc, 0, (size_t)H * W * sizeof *xc);
            for (int ki = 0; ki < k; ki++)
                for (int kj = 0; kj < k; kj++) {
                    const float *src = col + (int64_t)((c * k + ki) * k + kj) * ld + (int64_t)n * P;
                    for (int oh = 0; oh < OH; oh++) {
                        int ih = oh * st - pad + ki;
                        if (ih < 0 || ih >= H) continue;
                        float *restrict xr = xc + (int64_t)ih * W;
                        const float *restrict sr = src + (int64_t)oh * OW;
                        if (st == 1) {
                            /* valid ow: 0 <= ow - pad + kj < W; a plain vector add */
                            int lo = pad - kj, hi = W + pad - kj;
                            if (lo < 0) lo = 0;
                            if (hi > OW) hi = OW;
                            const int off = kj - pad;
#pragma omp simd
                            for (int ow = lo; ow < hi; ow++)
                                xr[ow + off] += sr[ow];
                            continue;
                        }
                        for (int ow = 0; ow < OW; ow++) {
                            int iw = ow * st - pad + kj;
                            if (iw >= 0 && iw < W) xr[iw] += sr[ow];
                        }
                    }
                }
        }
}

void sk_conv_im2col_forward(float *y, const float *x, const float *w, const float *b, const sk_conv_shape *s, float *ws)
{
    const int O = s->O, P = s->OH * s->OW, R = s->C * s->k * s->k;
    const int nb = conv_chunk(s);
    const int64_t xs = (int64_t)s->C * s->H * s->W, ys = (int64_t)O * P;
    for (int n0 = 0; n0 < s->N; n0 += nb) {
        int m = s->N - n0 < nb ? s->N - n0 : nb;
        if (nb == 1) {
            float *yn = y + n0 * ys;
            const float *col = x + n0 * xs;
            if (!conv_is_1x1(s)) {
                im2col(ws, x, s, n0, 1);
                col = ws;
            }
            sk_sgemm(0, 0, O, P, R, 1.0f, w, R, col, P, 0.0f, yn, P);
            if (b)
                for (int o = 0; o < O; o++) {
                    float *yr = yn + (int64_t)o * P;
                    for (int p = 0; p < P; p++)
                        yr[p] += b[o];
                }
            continue;
        }
        float *col = ws, *T = ws + (int64_t)R * nb * P;
        const int64_t ld = (int64_t)m * P;
        im2col(col, x, s, n0, m);
        sk_sgemm(0, 0, O, (int)ld, R, 1.0f, w, R, col, (int)ld, 0.0f, T, (int)ld);
#pragma omp parallel for schedule(static) if (ld * O > 32768)
        for (int o = 0; o < O; o++) {
            float bo = b ? b[o] : 0.0f;
            for (int n = 0; n < m; n++) {
                const float *tr = T + (int64_t)o * ld + (int64_t)n * P;
                float *yr = y + (n0 + n) * ys + (int64_t)o * P;
                for (int p = 0; p < P; p++)
                    yr[p] = tr[p] + bo;
            }
        }
    }
}

void sk_conv_im2col_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                             const sk_conv_shape *s, float *ws, int acc_dx)
{
    const int O = s->O, P = s->OH * s->OW, R = s->C * s->k * s->k;
    const int nb = conv_chunk(s);
    const int64_t xs = (int64_t)s->C * s->H * s->W, ys = (int64_t)O * P;
    for (int n0 = 0; n0 < s->N; n0 += nb) {
        int m = s->N - n0 < nb ? s->N - n0 : nb;
        const int64_t ld = (int64_t)m * P;
        const float *D; /* dy of the chunk as (O, ld) */
        float *col = ws;
        if (nb == 1) {
            D = dy + n0 * ys;
        } else {
            float *T = ws + (int64_t)R * nb * P;
#pragma omp parallel for schedule(static) if (ld * O > 32768)
            for (int o = 0; o < O; o++)
                for (int n = 0; n < m; n++)
                    memcpy(T + (int64_t)o * ld + (int64_t)n * P, dy + (n0 + n) * ys + (int64_t)o * P,
                           (size_t)P * sizeof *T);
            D = T;
        }
        if (db) {
#pragma omp parallel for schedule(static) if (ld * O > 32768)
            for (int o = 0; o < O; o++) {
                const float *r = D + (int64_t)o * ld;
                float acc = 0.0f;
                for (int64_t j = 0; j < ld; j++)
                    acc += r[j];
                db[o] += acc;
            }
        }
        if (dw) {
            const float *C;
            if (nb == 1 && conv_is_1x1(s)) {
                C = x + n0 * xs;
            } else {
                im2col(col, x, s, n0, m);
                C = col;
            }
            /* dw (O, R) += D (O, ld) * col^T (ld, R) */
            sk_sgemm(0, 1, O, R, (int)ld, 1.0f, D, (int)ld, C, (int)ld, 1.0f, dw, R);
        }
        if (!dx) continue;
        if (nb == 1 && conv_is_1x1(s)) {
            /* dx_n (C, P) (+)= w^T (C, O) * D (O, P) */
            sk_sgemm(1, 0, R, P, O, 1.0f, w, R, D, P, acc_dx ? 1.0f : 0.0f, dx + n0 * xs, P);
            continue;
        }
        /* dcol (R, ld) = w^T (R, O) * D (O, ld), into the column buffer */
        sk_sgemm(1, 0, R, (int)ld, O, 1.0f, w, R, D, (int)ld, 0.0f, col, (int)ld);
        col2im(dx, col, s, n0, m, acc_dx);
    }
}
