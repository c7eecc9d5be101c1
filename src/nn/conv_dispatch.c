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

/* 3x3 stride-1 layers (measured in doc/performance.md):
 *  - direct, when its 6 x 16 register block fits the rows (16k pixels, or
 *    8-pixel rows in pairs), for narrow layers (C and O <= SK_CONV_DIRECT_MAX_C)
 *    and first layers (C < SK_CONV_WINO_MIN_C, any O: forward at twice
 *    im2col's rate, and their backward is the weight gradient only), and
 *    8x8 maps up to 2 SK_CONV_DIRECT_MAX_C channels (ResNet20's 64-64 @8,
 *    idle machine: direct 6.5 + 15.2 ms forward + backward, Winograd 7.4 +
 *    15.4; on a loaded one 7.8 + 20.2 against 11.6 + 23.5);
 *    stride 2 (even H, W) up to 2 SK_CONV_DIRECT_MAX_C channels: all three
 *    passes direct, the input gradient per parity of the input pixel
 *    (ResNet20's down-sampling convs: 64-78 vs 29-47 GFLOP/s forward);
 *  - Winograd when C >= SK_CONV_WINO_MIN_C (its GEMMs have K = C);
 *  - im2col for the rest (other kernels and strides, wider stride-2 layers). */
static sk_conv_algo choose(const sk_conv_shape *s)
{
    switch (conv_algo) {
    case SK_CONV_IM2COL:
        return SK_CONV_IM2COL;
    case SK_CONV_WINOGRAD:
        return sk_conv_wino_applies(s) ? SK_CONV_WINOGRAD : SK_CONV_IM2COL;
    case SK_CONV_DIRECT:
        return sk_conv_direct_applies(s) ? SK_CONV_DIRECT : SK_CONV_IM2COL;
    default:
        break;
    }
    const int narrow = s->C <= SK_CONV_DIRECT_MAX_C && s->O <= SK_CONV_DIRECT_MAX_C;
    const int rows_ok = s->OW % 16 == 0 || (s->OW == 8 && s->OH % 2 == 0);
    /* 8x8 maps and up to 2 SK_CONV_DIRECT_MAX_C channels (ResNet20's 64-64 @8):
     * 16 Winograd tiles per image are too few to pay for its transforms */
    const int small = s->OH * s->OW <= 64 && s->C <= 2 * SK_CONV_DIRECT_MAX_C && s->O <= 2 * SK_CONV_DIRECT_MAX_C;
    if (sk_conv_direct_applies(s) && rows_ok) {
        if (s->stride == 1 && (narrow || small || s->C < SK_CONV_WINO_MIN_C)) return SK_CONV_DIRECT;
        if (s->stride == 2 && s->C <= 2 * SK_CONV_DIRECT_MAX_C && s->O <= 2 * SK_CONV_DIRECT_MAX_C)
            return SK_CONV_DIRECT;
    }
    if (sk_conv_wino_applies(s) && s->C >= SK_CONV_WINO_MIN_C) return SK_CONV_WINOGRAD;
    return SK_CONV_IM2COL;
}

sk_conv_algo sk_conv_chosen(const sk_conv_shape *s)
{
    return choose(s);
}

size_t sk_conv_workspace(const sk_conv_shape *s)
{
    /* enough for either algorithm: the choice may change after a model is built */
    size_t a = sk_conv_im2col_workspace(s);
    size_t b = sk_conv_wino_applies(s) ? sk_conv_wino_workspace(s) : 0;
    size_t c = sk_conv_direct_applies(s) ? sk_conv_direct_workspace(s) : 0;
    a = a > b ? a : b;
    return a > c ? a : c;
}

void sk_conv2d_forward(float *y, const float *x, const float *w, const float *b, const sk_conv_shape *s, float *ws)
{
    switch (choose(s)) {
    case SK_CONV_DIRECT:
        sk_conv_direct_forward(y, x, w, b, s, ws);
        break;
    case SK_CONV_WINOGRAD:
        sk_conv_wino_forward(y, x, w, b, s, ws);
        break;
    default:
        sk_conv_im2col_forward(y, x, w, b, s, ws);
    }
}

void sk_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        const sk_conv_shape *s, float *ws, int acc_dx)
{
    switch (choose(s)) {
    case SK_CONV_DIRECT:
        sk_conv_direct_backward(dx, dw, db, dy, x, w, s, ws, acc_dx);
        break;
    case SK_CONV_WINOGRAD:
        sk_conv_wino_backward(dx, dw, db, dy, x, w, s, ws, acc_dx);
        break;
    default:
        sk_conv_im2col_backward(dx, dw, db, dy, x, w, s, ws, acc_dx);
    }
}
