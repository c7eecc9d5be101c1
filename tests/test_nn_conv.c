/* nn conv algorithms: Winograd F(2x2, 3x3) (conv_wino.c) and im2col + SGEMM
 * (conv.c) against the naive double-accumulating reference (tests/ref), on
 * random 3x3 stride-1 shapes and fixed stride-2 ones and the direct AVX2 kernel (conv_direct.c) on
 * those it accepts (pad 1, OW % 8 == 0, AVX2): odd and even H/W, padding 0..2, C and O not
 * multiples of anything, batch 1 and > 1, several chunks; forward,
 * backward-data (written and accumulated), backward-weights and bias.
 *
 * Tolerance: Winograd F(2,3) computes the same sums with its input and
 * output transforms adding up to 4 (resp. 9) terms of the same magnitude
 * before and after the products, and the filter transform scales by 1/2 and
 * 1/4 (exact in binary): its rounding error is a small constant times that
 * of the direct sum (Lavin & Gray 2016; F(2,3) is the most accurate of the
 * family). Measured over these shapes, max |fast - ref| / max |ref|:
 * im2col 5.7e-6, Winograd 5.1e-6 (both largest for the weight gradient of
 * the 70-image case, a sum of 22680 products; 1.3e-6 on the small shapes).
 * The check allows 1e-4 relative to max(1, max |ref|), the bound of the
 * other fast-vs-reference layer tests. CONV_VERBOSE=1 prints the errors. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/rng.h"
#include "nn/conv_impl.h"
#include "nn/layers.h"
#include "ref/ref.h"

#define CONV_TOL 1e-4

static sk_rng R;
static int n_direct;    /* cases the direct kernel ran (needs AVX2, OW % 8 == 0, pad 1) */
static double worst[3]; /* max relative error seen: im2col, Winograd, direct */
static const char *const algo_name[3] = {"im2col", "winograd", "direct"};

static float *frand(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(2.0 * sk_rng_uniform(&R) - 1.0);
    return p;
}

static float *fcopy(const float *a, int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    memcpy(p, a, (size_t)(n > 0 ? n : 1) * sizeof *p);
    return p;
}

static int irand(int lo, int hi) /* uniform in [lo, hi] */
{
    return lo + (int)(sk_rng_uniform(&R) * (hi - lo + 1));
}

static void check_close(const char *what, int algo, const float *a, const float *ref, int64_t n, const sk_conv_shape *s)
{
    double m = 0.0, e = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs(ref[i]) > m) m = fabs(ref[i]);
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= e)) e = d;
    }
    if (m > 0 && e / m > worst[algo]) worst[algo] = e / m;
    ck_assert_msg(e <= CONV_TOL * fmax(1.0, m), "%s %s N%d C%d %dx%d O%d pad %d: max error %g (max |ref| %g)",
                  algo_name[algo], what, s->N, s->C, s->H, s->W, s->O, s->pad, e, m);
}

typedef struct {
    sk_conv_shape s;
    int64_t nx, nw, ny;
    float *x, *w, *b, *dy, *ws;
} conv_case;

static void run_algo(const conv_case *k, int algo)
{
    const sk_conv_shape *s = &k->s;
    float *y = frand(k->ny), *yref = frand(k->ny);
    if (algo == 2)
        sk_conv_direct_forward(y, k->x, k->w, k->b, s, k->ws);
    else if (algo)
        sk_conv_wino_forward(y, k->x, k->w, k->b, s, k->ws);
    else
        sk_conv_im2col_forward(y, k->x, k->w, k->b, s, k->ws);
    sk_conv2d_forward_ref(yref, k->x, k->w, k->b, s);
    check_close("forward", algo, y, yref, k->ny, s);
    for (int acc = 0; acc < 2; acc++) {
        float *dx = frand(k->nx), *dw = frand(k->nw), *db = frand(s->O);
        float *dx2 = fcopy(dx, k->nx), *dw2 = fcopy(dw, k->nw), *db2 = fcopy(db, s->O);
        if (algo == 2)
            sk_conv_direct_backward(dx, dw, db, k->dy, k->x, k->w, s, k->ws, acc);
        else if (algo)
            sk_conv_wino_backward(dx, dw, db, k->dy, k->x, k->w, s, k->ws, acc);
        else
            sk_conv_im2col_backward(dx, dw, db, k->dy, k->x, k->w, s, k->ws, acc);
        sk_conv2d_backward_ref(dx2, dw2, db2, k->dy, k->x, k->w, s, acc);
        check_close("backward-data", algo, dx, dx2, k->nx, s);
        check_close("backward-weights", algo, dw, dw2, k->nw, s);
        check_close("bias gradient", algo, db, db2, s->O, s);
        /* weights only (dx NULL) */
        memcpy(dw, dw2, (size_t)k->nw * sizeof *dw);
        if (algo == 2)
            sk_conv_direct_backward(NULL, dw, NULL, k->dy, k->x, k->w, s, k->ws, 0);
        else if (algo)
            sk_conv_wino_backward(NULL, dw, NULL, k->dy, k->x, k->w, s, k->ws, 0);
        else
            sk_conv_im2col_backward(NULL, dw, NULL, k->dy, k->x, k->w, s, k->ws, 0);
        sk_conv2d_backward_ref(NULL, dw2, NULL, k->dy, k->x, k->w, s, 0);
        check_close("backward-weights (no dx)", algo, dw, dw2, k->nw, s);
        free(dx);
        free(dw);
        free(db);
        free(dx2);
        free(dw2);
        free(db2);
    }
    free(y);
    free(yref);
}

static void run_case_stride(int N, int C, int H, int W, int O, int pad, int bias, int stride)
{
    conv_case k;
    ck_assert_int_eq(sk_conv_shape_init(&k.s, N, C, H, W, O, 3, stride, pad), 0);
    ck_assert(stride != 1 || sk_conv_wino_applies(&k.s));
    k.nx = (int64_t)N * C * H * W;
    k.nw = (int64_t)O * C * 9;
    k.ny = (int64_t)N * O * k.s.OH * k.s.OW;
    k.x = frand(k.nx);
    k.w = frand(k.nw);
    k.b = bias ? frand(O) : NULL;
    k.dy = frand(k.ny);
    size_t nws = sk_conv_workspace(&k.s);
    ck_assert(nws >= sk_conv_im2col_workspace(&k.s));
    ck_assert(stride != 1 || nws >= sk_conv_wino_workspace(&k.s));
    k.ws = frand((int64_t)nws); /* garbage: the algorithms must not rely on zeroed scratch */
    run_algo(&k, 0);
    if (stride == 1) run_algo(&k, 1);
    if (sk_conv_direct_applies(&k.s)) {
        ck_assert(nws >= sk_conv_direct_workspace(&k.s));
        run_algo(&k, 2);
        n_direct++;
    }
    free(k.x);
    free(k.w);
    free(k.b);
    free(k.dy);
    free(k.ws);
}

static void run_case(int N, int C, int H, int W, int O, int pad, int bias)
{
    run_case_stride(N, C, H, W, O, pad, bias, 1);
}

START_TEST(test_conv_fixed_shapes)
{
    /* N, C, H, W, O, pad, bias */
    static const int shapes[][7] = {
        {1, 1, 1, 1, 1, 1, 1},     /* 1x1 map: one tile, all padding */
        {1, 3, 2, 2, 5, 1, 0},     /* 2x2 map */
        {2, 5, 3, 3, 4, 0, 1},     /* no padding: a 1x1 output */
        {3, 7, 5, 9, 6, 1, 1},     /* odd sizes: half tiles at the bottom and right */
        {2, 9, 6, 7, 11, 2, 0},    /* pad 2 */
        {1, 16, 32, 32, 16, 1, 0}, /* ResNet20 stage 1, batch 1 */
        {4, 64, 8, 8, 33, 1, 1},   /* O not a multiple of anything */
        {40, 33, 4, 4, 17, 1, 1},  /* many small planes */
        {3, 16, 16, 16, 16, 1, 0}, /* direct: blocks of 4 channels x 16 pixels */
        {2, 13, 8, 8, 19, 1, 1},   /* direct: 8-pixel rows in pairs, 19 = 12 + 6 + 1 channels */
        {2, 6, 7, 8, 9, 1, 1},     /* direct: 8-pixel rows, odd H: 8 x 8 blocks */
        {2, 5, 7, 24, 6, 1, 1},    /* direct: odd H, 8-pixel blocks, a remainder of 2 */
        {9, 20, 32, 32, 10, 1, 0}, /* direct: several chunks */
    };
    for (unsigned t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        const int *q = shapes[t];
        run_case(q[0], q[1], q[2], q[3], q[4], q[5], q[6]);
    }
}
END_TEST

START_TEST(test_conv_random_shapes)
{
    for (int t = 0; t < 40; t++) {
        int pad = irand(0, 2);
        int H = irand(pad > 0 ? 1 : 3, 13), W = irand(pad > 0 ? 1 : 3, 13);
        if (H + 2 * pad < 3) H = 3 - 2 * pad;
        if (W + 2 * pad < 3) W = 3 - 2 * pad;
        if (t % 4 == 0) { /* a width the direct kernel takes */
            pad = 1;
            W = 8 * irand(1, 3);
        }
        run_case(irand(1, 4), irand(1, 24), H, W, irand(1, 21), pad, irand(0, 1));
    }
}
END_TEST

/* Stride 2 (ResNet20's down-sampling convs): direct (even H and W) against
 * im2col and the reference, including the 8-pixel-row pairs and odd sizes
 * the direct kernel declines. */
/* The direct kernel hands whole chunks of images to threads and adds the
 * chunks' weight-gradient partials in chunk order: 1, 2 and 3 threads give
 * the same bits (stride 1 and 2; 16-16 @32 makes one-image chunks). */
START_TEST(test_direct_threads)
{
    static const int shapes[][6] = {{7, 16, 32, 32, 16, 1}, {9, 8, 16, 16, 12, 1}, {6, 16, 32, 32, 32, 2}};
    for (unsigned i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const int *q = shapes[i];
        sk_conv_shape s;
        ck_assert_int_eq(sk_conv_shape_init(&s, q[0], q[1], q[2], q[3], q[4], 3, q[5], 1), 0);
        if (!sk_conv_direct_applies(&s)) continue; /* no AVX2 */
        const int64_t nx = (int64_t)s.N * s.C * s.H * s.W, nw = (int64_t)s.O * s.C * 9,
                      ny = (int64_t)s.N * s.O * s.OH * s.OW;
        float *x = frand(nx), *w = frand(nw), *b = frand(s.O), *dy = frand(ny);
        float *ws = malloc(sk_conv_workspace(&s) * sizeof *ws);
        float *out[3];
        for (int t = 0; t < 3; t++) {
            sk_threads_set(t + 1);
            out[t] = malloc((size_t)(ny + nx + nw + s.O) * sizeof(float));
            float *y = out[t], *dx = y + ny, *dw = dx + nx, *db = dw + nw;
            memset(dw, 0, (size_t)(nw + s.O) * sizeof(float));
            sk_conv_direct_forward(y, x, w, b, &s, ws);
            sk_conv_direct_backward(dx, dw, db, dy, x, w, &s, ws, 0);
            if (!t) continue;
            ck_assert_msg(!memcmp(out[0], y, (size_t)ny * sizeof(float)), "shape %u: y at %d threads", i, t + 1);
            ck_assert_msg(!memcmp(out[0] + ny + nx, dw, (size_t)(nw + s.O) * sizeof(float)),
                          "shape %u: dw, db at %d threads", i, t + 1);
            ck_assert_msg(!memcmp(out[0] + ny, dx, (size_t)nx * sizeof(float)), "shape %u: dx at %d threads", i, t + 1);
        }
        sk_threads_set(2);
        for (int t = 0; t < 3; t++)
            free(out[t]);
        free(x);
        free(w);
        free(b);
        free(dy);
        free(ws);
    }
}
END_TEST

START_TEST(test_conv_stride2)
{
    static const int shapes[][7] = {
        {2, 16, 32, 32, 32, 1, 0}, /* ResNet20 16-32 s2 @32 (16-pixel output rows) */
        {3, 32, 16, 16, 64, 1, 0}, /* 32-64 s2 @16: 8-pixel rows in pairs */
        {2, 5, 16, 48, 7, 1, 1},   /* 24-pixel rows: 8-pixel blocks, remainders */
        {2, 3, 14, 16, 9, 1, 1},   /* 7 output rows (odd): 8 x 8 blocks */
        {3, 4, 9, 16, 5, 1, 0},    /* odd H: not direct */
        {20, 6, 32, 32, 10, 1, 1}, /* several chunks */
    };
    for (unsigned t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        const int *q = shapes[t];
        run_case_stride(q[0], q[1], q[2], q[3], q[4], q[5], q[6], 2);
    }
}
END_TEST

/* Chunks: a batch larger than one chunk (the weight gradient sums over chunks). */
START_TEST(test_conv_chunks)
{
    run_case(70, 24, 18, 18, 40, 1, 1);
}
END_TEST

static void seed_rng(void)
{
    sk_rng_seed(&R, 4242);
}

static void report(void)
{
    if (getenv("CONV_VERBOSE"))
        fprintf(stderr, "max relative error: im2col %.3g, winograd %.3g, direct %.3g (%d direct cases)\n", worst[0],
                worst[1], worst[2], n_direct);
}

int main(void)
{
    sk_threads_set(2); /* exercise the OpenMP paths */
    Suite *s = suite_create("nn_conv");
    TCase *tc = tcase_create("conv");
    tcase_add_checked_fixture(tc, seed_rng, report);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_conv_fixed_shapes);
    tcase_add_test(tc, test_conv_random_shapes);
    tcase_add_test(tc, test_conv_chunks);
    tcase_add_test(tc, test_conv_stride2);
    tcase_add_test(tc, test_direct_threads);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
