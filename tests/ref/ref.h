/* ref.h - reference implementations the unit tests check the product code
 * against: simple, slow, obviously right. Built into libtestutil.a only
 * (make check), never into libsinkrb.a. */
#ifndef SK_TESTS_REF_H
#define SK_TESTS_REF_H
#include <stdint.h>

#include "core/err.h"
#include "nn/layers.h"
#include "rebasin/sinkhorn.h"

/* ---- nn layers (layers_ref.c): same arguments and conventions as the fast
 * kernels of nn/layers.h, without their workspaces; maxpool recomputes the
 * argmax from x instead of storing it. */
void sk_linear_forward_ref(float *y, const float *x, const float *w, const float *b, int N, int C, int O);
void sk_linear_backward_ref(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int N,
                            int C, int O, int acc_dx);
void sk_conv2d_forward_ref(float *y, const float *x, const float *w, const float *b, const sk_conv_shape *s);
void sk_conv2d_backward_ref(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                            const sk_conv_shape *s, int acc_dx);
void sk_bn_forward_ref(float *y, const float *x, const float *g, const float *b, float *rm, float *rv, float *mean,
                       float *invstd, int N, int C, int S, int train, float momentum);
void sk_bn_backward_ref(float *dx, float *dg, float *db, const float *dy, const float *x, const float *g,
                        const float *mean, const float *invstd, int N, int C, int S, int train);
void sk_ln_forward_ref(float *y, const float *x, const float *g, const float *b, float *mean, float *invstd, int N,
                       int C, int S);
void sk_ln_backward_ref(float *dx, float *dg, float *db, const float *dy, const float *x, const float *g,
                        const float *mean, const float *invstd, int N, int C, int S);
void sk_maxpool2_forward_ref(float *y, const float *x, int N, int C, int H, int W);
void sk_maxpool2_backward_ref(float *dx, const float *dy, const float *x, int N, int C, int H, int W);

/* ---- linear assignment (lap_ref.c) -----------------------------------------
 * Tries every injective map, n <= m <= 9 (and n >= 0). Writes the first
 * best map found to p (may be NULL) and returns its objective; returns NAN
 * (p untouched) outside the size limit. */
double lap_bruteforce_max(const double *S, int n, int m, int64_t *p);

/* ---- Sinkhorn backward (sinkhorn_ref.c) ------------------------------------
 * The published code's dense (2n-1) x (2n-1) KKT solve (v_{n-1} = 0,
 * LAPACKE_dgesv). Allocates; fails (SK_ENUMERIC) when the system is
 * singular, like the published code. */
sk_status sk_sinkhorn_backward_dense(const double *P, const double *G, int n, const sk_sinkhorn_opts *o, double *dX);

#endif
