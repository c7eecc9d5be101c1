/* conv_impl.h - the Conv2d algorithms behind sk_conv2d_forward/backward
 * (conv.c dispatches); private to src/nn, and the tests and benchmarks. */
#ifndef SK_NN_CONV_IMPL_H
#define SK_NN_CONV_IMPL_H
#include <stddef.h>

#include "nn/layers.h"

/* im2col + SGEMM (conv.c): every shape; the reference of the others.
 * Its backward also takes dw = NULL (the input gradient only). */
size_t sk_conv_im2col_workspace(const sk_conv_shape *s);
void sk_conv_im2col_forward(float *y, const float *x, const float *w, const float *b, const sk_conv_shape *s,
                            float *ws);
void sk_conv_im2col_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                             const sk_conv_shape *s, float *ws, int acc_dx);

/* Winograd F(2x2, 3x3) (conv_wino.c): 3x3, stride 1, pad <= 2, W + 2 pad <= 1024. */
int sk_conv_wino_applies(const sk_conv_shape *s);
size_t sk_conv_wino_workspace(const sk_conv_shape *s);
void sk_conv_wino_forward(float *y, const float *x, const float *w, const float *b, const sk_conv_shape *s, float *ws);
void sk_conv_wino_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                           const sk_conv_shape *s, float *ws, int acc_dx);

/* Direct AVX2/FMA (conv_direct.c): 3x3, pad 1, stride 1, or stride 2 with H
 * and W even; OW % 8 == 0; a CPU with AVX2 and FMA. */
int sk_conv_direct_applies(const sk_conv_shape *s);
size_t sk_conv_direct_workspace(const sk_conv_shape *s);
void sk_conv_direct_forward(float *y, const float *x, const float *w, const float *b, const sk_conv_shape *s,
                            float *ws);
void sk_conv_direct_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                             const sk_conv_shape *s, float *ws, int acc_dx);

#endif
