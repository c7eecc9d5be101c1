/* layers.h - neural-network layers as free functions with paired
 * _forward/_backward (the naive references the tests compare them with
 * are in tests/ref).
 *
 * Dimension letters (row-major, PyTorch layouts):
 *   N batch, C input channels/features, O output channels/features,
 *   H, W input height/width, OH, OW output height/width,
 *   S = H*W spatial positions, P = OH*OW, K classes, k kernel size.
 *
 * Conventions:
 *   - backward functions ACCUMULATE parameter gradients (dw, db, dg += ...);
 *   - dx is written (acc_dx = 0) or accumulated into (acc_dx = 1); dx may be
 *     NULL when the input gradient is not needed (first layer);
 *   - elementwise layers may run in place (y == x, dx == dy).
 * Fast kernels use sk_sgemm for the products and OpenMP only on loops
 * without BLAS calls. */
#ifndef SK_NN_LAYERS_H
#define SK_NN_LAYERS_H
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

/* ---- Linear: y = x W^T + b ------------------------------------------------ */
void sk_linear_forward(float *y, const float *x, const float *w, const float *b, int N, int C,
                       int O); /* y (N,O), x (N,C), w (O,C), b (O) or NULL */
void sk_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int N, int C,
                        int O, int acc_dx);

/* ---- Conv2d (square kernel k, stride, zero padding) ------------------------ */
typedef struct {
    int N, C, H, W; /* input (N, C, H, W) */
    int O, k, stride, pad;
    int OH, OW; /* output (N, O, OH, OW) */
} sk_conv_shape;
/* Fills OH, OW; returns 0, or -1 when the output would be empty. */
int sk_conv_shape_init(sk_conv_shape *s, int N, int C, int H, int W, int O, int k, int stride, int pad);
/* Floats of workspace sk_conv2d_forward/backward need for this shape. */
size_t sk_conv_workspace(const sk_conv_shape *s);
/* y (N, O, OH, OW), x (N, C, H, W), w (O, C, k, k), b (O) or NULL, ws (workspace). */
void sk_conv2d_forward(float *y, const float *x, const float *w, const float *b, const sk_conv_shape *s, float *ws);
void sk_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        const sk_conv_shape *s, float *ws, int acc_dx);
/* Algorithm: AUTO picks a direct AVX2 kernel (3x3, pad 1, OW % 16 == 0 or
 * OW = 8 with OH even, CPU with AVX2/FMA) for stride-1 convs with C and O at
 * most SK_CONV_DIRECT_MAX_C (twice that on maps of at most 64 pixels) or
 * C < SK_CONV_WINO_MIN_C, and for stride-2 convs
 * (even H, W) with C and O at most twice that; else Winograd F(2x2, 3x3) for
 * 3x3 stride-1 convs with C >= SK_CONV_WINO_MIN_C; else im2col + SGEMM.
 * IM2COL / WINOGRAD / DIRECT force one (where it applies, else im2col).
 * Process-wide, for tests and benchmarks; the workspace covers every choice. */
typedef enum { SK_CONV_AUTO, SK_CONV_IM2COL, SK_CONV_WINOGRAD, SK_CONV_DIRECT } sk_conv_algo;
#define SK_CONV_WINO_MIN_C 8
#define SK_CONV_DIRECT_MAX_C 32
void sk_conv_set_algo(sk_conv_algo a);
sk_conv_algo sk_conv_get_algo(void);
sk_conv_algo sk_conv_chosen(const sk_conv_shape *s); /* what runs for s now */

/* ---- BatchNorm over (N, C, S): statistics per channel over N and S --------
 * (S = 1 is BatchNorm1d, S = H*W BatchNorm2d); eps 1e-5.
 * train = 1: normalise with the batch mean and biased variance, and if rm/rv
 * are not NULL update them: r = (1 - momentum) r + momentum * stat, with the
 * unbiased variance for rv (as PyTorch). train = 0: use rm/rv.
 * mean, invstd (C) receive the statistics used (needed by backward). */
#define SK_NORM_EPS 1e-5f
void sk_bn_forward(float *y, const float *x, const float *g, const float *b, float *rm, float *rv, float *mean,
                   float *invstd, int N, int C, int S, int train, float momentum);
void sk_bn_backward(float *dx, float *dg, float *db, const float *dy, const float *x, const float *g, const float *mean,
                    const float *invstd, int N, int C, int S, int train);

/* ---- LayerNorm over C at each (n, s) of (N, C, S), affine g, b of size C ---
 * (S = 1: LayerNorm over features; S = H*W: Git Re-Basin's channel LayerNorm).
 * mean, invstd (N, S); ws: 2*N*S floats of scratch for backward. */
void sk_ln_forward(float *y, const float *x, const float *g, const float *b, float *mean, float *invstd, int N, int C,
                   int S);
void sk_ln_backward(float *dx, float *dg, float *db, const float *dy, const float *x, const float *g, const float *mean,
                    const float *invstd, int N, int C, int S, float *ws);

/* ---- MaxPool2d 2x2 stride 2 (floor), global average pool -------------------
 * y (N, C, H/2, W/2); idx (N, C, H/2, W/2) the argmax 0..3 (first max wins). */
void sk_maxpool2_forward(float *y, uint8_t *idx, const float *x, int N, int C, int H, int W);
void sk_maxpool2_backward(float *dx, const float *dy, const uint8_t *idx, int N, int C, int H, int W);
void sk_gap_forward(float *y, const float *x, int N, int C, int S);    /* y (N, C) */
void sk_gap_backward(float *dx, const float *dy, int N, int C, int S); /* dx (N, C, S) */

/* ---- Elementwise (n elements; in place allowed) ---------------------------- */
void sk_relu_forward(float *y, const float *x, int64_t n);
void sk_relu_backward(float *dx, const float *dy, const float *y, int64_t n); /* y: output */
void sk_tanh_forward(float *y, const float *x, int64_t n);
void sk_tanh_backward(float *dx, const float *dy, const float *y, int64_t n); /* y: output */
/* Inverted dropout: y = x * mask / (1 - p); mask (n) drawn from rng. */
void sk_dropout_forward(float *y, uint8_t *mask, const float *x, int64_t n, float p, sk_rng *rng);
void sk_dropout_backward(float *dx, const float *dy, const uint8_t *mask, int64_t n, float p);
void sk_add_forward(float *y, const float *a, const float *b, int64_t n); /* y = a + b */
/* y += x (acc = 1) or y = x (acc = 0). */
void sk_axpy_acc(float *y, const float *x, int64_t n, int acc);

/* ---- Losses ------------------------------------------------------------------
 * Softmax cross-entropy, mean over the batch. logits (N, K), y (N) labels.
 * class_mask (K) or NULL: classes with mask 0 get logit -inf (probability 0,
 * zero gradient). dlogits (N, K) or NULL receives d(mean loss)/d logits.
 * n_correct (or NULL): argmax over the allowed classes == y (first max wins).
 * Returns the mean loss (computed in double). */
float sk_loss_ce(const float *logits, const int32_t *y, int N, int K, const uint8_t *class_mask, float *dlogits,
                 int *n_correct);
/* Mean squared error over all N*K entries (PyTorch's MSELoss mean). */
float sk_loss_mse(const float *pred, const float *target, int N, int K, float *dpred);

#endif
