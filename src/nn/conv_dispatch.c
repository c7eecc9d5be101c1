/* conv_dispatch.c - picks the Conv2d algorithm per shape (see conv_impl.h and
 * doc/performance.md for the measurements behind the rule). */
#include "nn/conv_impl.h"
#include "nn/layers.h"

static sk_conv_algo conv_algo = SK_CONV_AUTO;

void sk_conv_set_algo(sk_conv_algo a)
{
    conv_algo = a;
}

sk_conv_algo sk_conv_get_algo(void)
{
    return conv_algo;
}

/* Winograd for 3x3 stride-1 layers with enough input channels to fill its
 * GEMMs (K = C); im2col for the rest (K = 9 C: the 3-channel first layer). */
static int use_wino(const sk_conv_shape *s)
{
    if (conv_algo == SK_CONV_IM2COL || !sk_conv_wino_applies(s)) return 0;
    return conv_algo == SK_CONV_WINOGRAD || s->C >= SK_CONV_WINO_MIN_C;
}

size_t sk_conv_workspace(const sk_conv_shape *s)
{
    /* enough for either algorithm: the choice may change after a model is built */
    size_t a = sk_conv_im2col_workspace(s);
    size_t b = sk_conv_wino_applies(s) ? sk_conv_wino_workspace(s) : 0;
    return a > b ? a : b;
}

void sk_conv2d_forward(float *y, const float *x, const float *w, const float *b, const sk_conv_shape *s, float *ws)
{
    if (use_wino(s))
        sk_conv_wino_forward(y, x, w, b, s, ws);
    else
        sk_conv_im2col_forward(y, x, w, b, s, ws);
}

void sk_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        const sk_conv_shape *s, float *ws, int acc_dx)
{
    if (use_wino(s))
        sk_conv_wino_backward(dx, dw, db, dy, x, w, s, ws, acc_dx);
    else
        sk_conv_im2col_backward(dx, dw, db, dy, x, w, s, ws, acc_dx);
}
