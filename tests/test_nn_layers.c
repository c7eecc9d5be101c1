/* nn layers: every fast kernel against its naive reference on random shapes
 * (incl. stride 2, padding, 1x1, batched and per-image conv chunks), and
 * finite-difference gradient checks of every layer.
 *
 * Finite differences: L = sum_i r_i * y_i (double) with fixed random r, the
 * layer evaluated by its naive reference (double accumulation, float
 * output), central differences with step h = 5e-3 on inputs of size O(1).
 * Rounding of y to float costs ~1e-4 in the difference quotient, so the
 * check is: max |fd - analytic| <= 2e-3 * max(1, max |analytic|).
 * Fast vs reference: max |fast - ref| <= 1e-4 * max(1, max |ref|). */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/rng.h"
#include "nn/layers.h"
#include "ref/ref.h"

#define FD_H 5e-3f
#define FD_TOL 2e-3
#define FAST_TOL 1e-4

static sk_rng R;

static float *frand(int64_t n, double scale)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)((2.0 * sk_rng_uniform(&R) - 1.0) * scale);
    return p;
}

static float *fzero(int64_t n)
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(float));
}

static float *fcopy(const float *a, int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    memcpy(p, a, (size_t)n * sizeof *p);
    return p;
}

static void close_enough(const char *what, const float *a, const float *ref, int64_t n, double tol)
{
    double m = 0.0, e = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs(ref[i]) > m) m = fabs(ref[i]);
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= e)) e = d;
    }
    ck_assert_msg(e <= tol * fmax(1.0, m), "%s: max error %g (max |ref| %g, tol %g)", what, e, m, tol * fmax(1.0, m));
}

static double dot(const float *r, const float *y, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)r[i] * y[i];
    return s;
}

/* ---- generic finite-difference driver ---------------------------------------- */

typedef double (*loss_fn)(void *ctx);

static void fd_check(const char *what, loss_fn L, void *ctx, float *p, int64_t n, const float *an)
{
    double err = 0.0, m = 0.0;
    int64_t step = n > 300 ? n / 300 : 1; /* at most ~300 coordinates */
    for (int64_t i = 0; i < n; i += step) {
        float old = p[i];
        p[i] = old + FD_H;
        double hp = p[i], lp = L(ctx);
        p[i] = old - FD_H;
        double hm = p[i], lm = L(ctx);
        p[i] = old;
        double fd = (lp - lm) / (hp - hm);
        if (fabs(an[i]) > m) m = fabs(an[i]);
        double e = fabs(fd - an[i]);
        if (!(e <= err)) err = e;
    }
    ck_assert_msg(err <= FD_TOL * fmax(1.0, m), "%s: FD error %g (max |grad| %g)", what, err, m);
}

/* ---- Linear ------------------------------------------------------------------ */

typedef struct {
    int N, C, O;
    float *x, *w, *b, *y, *r;
} lin_ctx;

static double lin_loss(void *c)
{
    lin_ctx *k = c;
    sk_linear_forward_ref(k->y, k->x, k->w, k->b, k->N, k->C, k->O);
    return dot(k->r, k->y, (int64_t)k->N * k->O);
}

START_TEST(test_linear)
{
    static const int shapes[][3] = {{1, 1, 1}, {5, 7, 3}, {17, 33, 9}, {64, 100, 70}};
    for (unsigned t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        int N = shapes[t][0], C = shapes[t][1], O = shapes[t][2];
        int64_t nx = (int64_t)N * C, nw = (int64_t)O * C, ny = (int64_t)N * O;
        lin_ctx k = {N, C, O, frand(nx, 1), frand(nw, 1), frand(O, 1), fzero(ny), frand(ny, 1)};
        float *y = fzero(ny), *yref = fzero(ny);
        sk_linear_forward(y, k.x, k.w, k.b, N, C, O);
        sk_linear_forward_ref(yref, k.x, k.w, k.b, N, C, O);
        close_enough("linear forward", y, yref, ny, FAST_TOL);
        /* backward: accumulate onto nonzero grads, dx written and accumulated */
        for (int acc = 0; acc < 2; acc++) {
            float *dw = frand(nw, 1), *db = frand(O, 1), *dx = frand(nx, 1);
            float *dw2 = fcopy(dw, nw), *db2 = fcopy(db, O), *dx2 = fcopy(dx, nx);
            sk_linear_backward(dx, dw, db, k.r, k.x, k.w, N, C, O, acc);
            sk_linear_backward_ref(dx2, dw2, db2, k.r, k.x, k.w, N, C, O, acc);
            close_enough("linear dx", dx, dx2, nx, FAST_TOL);
            close_enough("linear dw", dw, dw2, nw, FAST_TOL);
            close_enough("linear db", db, db2, O, FAST_TOL);
            free(dw);
            free(db);
            free(dx);
            free(dw2);
            free(db2);
            free(dx2);
        }
        if (nx * nw < 100000) {
            float *dw = fzero(nw), *db = fzero(O), *dx = fzero(nx);
            sk_linear_backward(dx, dw, db, k.r, k.x, k.w, N, C, O, 0);
            fd_check("linear FD x", lin_loss, &k, k.x, nx, dx);
            fd_check("linear FD w", lin_loss, &k, k.w, nw, dw);
            fd_check("linear FD b", lin_loss, &k, k.b, O, db);
            free(dw);
            free(db);
            free(dx);
        }
        free(k.x);
        free(k.w);
        free(k.b);
        free(k.y);
        free(k.r);
        free(y);
        free(yref);
    }
}
END_TEST

/* ---- Conv2d ------------------------------------------------------------------ */

typedef struct {
    sk_conv_shape s;
    float *x, *w, *b, *y, *r;
} conv_ctx;

static double conv_loss(void *c)
{
    conv_ctx *k = c;
    sk_conv2d_forward_ref(k->y, k->x, k->w, k->b, &k->s);
    return dot(k->r, k->y, (int64_t)k->s.N * k->s.O * k->s.OH * k->s.OW);
}

START_TEST(test_conv)
{
    /* N, C, H, W, O, k, stride, pad, bias */
    static const int shapes[][9] = {
        {3, 2, 7, 5, 4, 3, 1, 1, 1},   /* batched chunk, odd sizes */
        {2, 3, 8, 8, 5, 3, 2, 1, 1},   /* stride 2 */
        {2, 3, 9, 7, 4, 3, 2, 1, 0},   /* stride 2, odd input */
        {5, 4, 6, 7, 3, 1, 1, 0, 1},   /* 1x1 */
        {2, 3, 9, 9, 4, 5, 2, 2, 1},   /* 5x5 stride 2 pad 2 */
        {2, 2, 6, 6, 3, 3, 1, 0, 1},   /* no padding */
        {2, 2, 33, 33, 3, 3, 1, 1, 1}, /* P >= 1024: per-image GEMM */
        {300, 2, 4, 4, 3, 3, 1, 1, 0}, /* several chunks with a remainder */
        {3, 16, 2, 2, 8, 3, 1, 1, 1},  /* 2x2 maps */
        {2, 3, 1, 1, 4, 3, 1, 1, 1},   /* 1x1 maps, padding only */
    };
    for (unsigned t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        const int *q = shapes[t];
        conv_ctx k;
        ck_assert_int_eq(sk_conv_shape_init(&k.s, q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]), 0);
        int64_t nx = (int64_t)q[0] * q[1] * q[2] * q[3], nw = (int64_t)q[4] * q[1] * q[5] * q[5];
        int64_t ny = (int64_t)q[0] * q[4] * k.s.OH * k.s.OW;
        k.x = frand(nx, 1);
        k.w = frand(nw, 1);
        k.b = q[8] ? frand(q[4], 1) : NULL;
        k.y = fzero(ny);
        k.r = frand(ny, 1);
        float *ws = fzero((int64_t)sk_conv_workspace(&k.s));
        float *y = fzero(ny), *yref = fzero(ny);
        sk_conv2d_forward(y, k.x, k.w, k.b, &k.s, ws);
        sk_conv2d_forward_ref(yref, k.x, k.w, k.b, &k.s);
        close_enough("conv forward", y, yref, ny, FAST_TOL);
        for (int acc = 0; acc < 2; acc++) {
            float *dw = frand(nw, 1), *db = frand(q[4], 1), *dx = frand(nx, 1);
            float *dw2 = fcopy(dw, nw), *db2 = fcopy(db, q[4]), *dx2 = fcopy(dx, nx);
            sk_conv2d_backward(dx, dw, k.b ? db : NULL, k.r, k.x, k.w, &k.s, ws, acc);
            sk_conv2d_backward_ref(dx2, dw2, k.b ? db2 : NULL, k.r, k.x, k.w, &k.s, acc);
            close_enough("conv dx", dx, dx2, nx, FAST_TOL);
            close_enough("conv dw", dw, dw2, nw, FAST_TOL);
            close_enough("conv db", db, db2, q[4], FAST_TOL);
            /* dx = NULL skips the input gradient but still gives dw */
            memcpy(dw, dw2, (size_t)nw * sizeof *dw);
            sk_conv2d_backward(NULL, dw, NULL, k.r, k.x, k.w, &k.s, ws, 0);
            sk_conv2d_backward_ref(NULL, dw2, NULL, k.r, k.x, k.w, &k.s, 0);
            close_enough("conv dw (no dx)", dw, dw2, nw, FAST_TOL);
            free(dw);
            free(db);
            free(dx);
            free(dw2);
            free(db2);
            free(dx2);
        }
        if (ny * nw < 200000) {
            float *dw = fzero(nw), *db = fzero(q[4]), *dx = fzero(nx);
            sk_conv2d_backward(dx, dw, k.b ? db : NULL, k.r, k.x, k.w, &k.s, ws, 0);
            fd_check("conv FD x", conv_loss, &k, k.x, nx, dx);
            fd_check("conv FD w", conv_loss, &k, k.w, nw, dw);
            if (k.b) fd_check("conv FD b", conv_loss, &k, k.b, q[4], db);
            free(dw);
            free(db);
            free(dx);
        }
        free(k.x);
        free(k.w);
        free(k.b);
        free(k.y);
        free(k.r);
        free(ws);
        free(y);
        free(yref);
    }
}
END_TEST

/* ---- BatchNorm / LayerNorm ----------------------------------------------------- */

typedef struct {
    int N, C, S, train, ln;
    float *x, *g, *b, *rm, *rv, *mean, *is, *y, *r;
} norm_ctx;

static double norm_loss(void *c)
{
    norm_ctx *k = c;
    if (k->ln)
        sk_ln_forward_ref(k->y, k->x, k->g, k->b, k->mean, k->is, k->N, k->C, k->S);
    else /* running stats not updated by FD evaluations */
        sk_bn_forward_ref(k->y, k->x, k->g, k->b, k->train ? NULL : k->rm, k->train ? NULL : k->rv, k->mean, k->is,
                          k->N, k->C, k->S, k->train, 0.1f);
    return dot(k->r, k->y, (int64_t)k->N * k->C * k->S);
}

START_TEST(test_norms)
{
    static const int shapes[][3] = {{4, 3, 1}, {7, 5, 1}, {3, 4, 6}, {2, 6, 9}, {33, 8, 16}};
    for (unsigned t = 0; t < sizeof shapes / sizeof *shapes; t++)
        for (int mode = 0; mode < 3; mode++) { /* BN train, BN eval, LN */
            int N = shapes[t][0], C = shapes[t][1], S = shapes[t][2];
            int64_t n = (int64_t)N * C * S, ns = mode == 2 ? (int64_t)N * S : C;
            norm_ctx k = {N,           C,           S,           mode == 0,     mode == 2,
                          frand(n, 2), frand(C, 1), frand(C, 1), frand(C, 0.5), frand(C, 0.5),
                          fzero(ns),   fzero(ns),   fzero(n),    frand(n, 1)};
            for (int c = 0; c < C; c++) {
                k.g[c] += 1.5f;
                k.rv[c] += 1.0f;
            }
            for (int64_t i = 0; i < n; i++)
                k.x[i] += 0.3f * (float)((i / S) % C); /* channel offsets */
            float *y = fzero(n), *yref = fzero(n), *mu = fzero(ns), *is = fzero(ns);
            float *rm2 = fcopy(k.rm, C), *rv2 = fcopy(k.rv, C);
            if (mode == 2) {
                sk_ln_forward(y, k.x, k.g, k.b, mu, is, N, C, S);
                sk_ln_forward_ref(yref, k.x, k.g, k.b, k.mean, k.is, N, C, S);
            } else {
                sk_bn_forward(y, k.x, k.g, k.b, k.rm, k.rv, mu, is, N, C, S, k.train, 0.1f);
                sk_bn_forward_ref(yref, k.x, k.g, k.b, rm2, rv2, k.mean, k.is, N, C, S, k.train, 0.1f);
                close_enough("bn running_mean", k.rm, rm2, C, 1e-5);
                close_enough("bn running_var", k.rv, rv2, C, 1e-5);
            }
            close_enough("norm forward", y, yref, n, FAST_TOL);
            close_enough("norm invstd", is, k.is, ns, 1e-5);
            float *dx = fzero(n), *dg = frand(C, 1), *db = frand(C, 1);
            float *dx2 = fzero(n), *dg2 = fcopy(dg, C), *db2 = fcopy(db, C);
            float *ws = fzero(2 * (int64_t)N * S);
            if (mode == 2) {
                sk_ln_backward(dx, dg, db, k.r, k.x, k.g, mu, is, N, C, S, ws);
                sk_ln_backward_ref(dx2, dg2, db2, k.r, k.x, k.g, k.mean, k.is, N, C, S);
            } else {
                sk_bn_backward(dx, dg, db, k.r, k.x, k.g, mu, is, N, C, S, k.train);
                sk_bn_backward_ref(dx2, dg2, db2, k.r, k.x, k.g, k.mean, k.is, N, C, S, k.train);
            }
            close_enough("norm dx", dx, dx2, n, FAST_TOL);
            close_enough("norm dg", dg, dg2, C, FAST_TOL);
            close_enough("norm db", db, db2, C, FAST_TOL);
            if (n <= 600) {
                memset(dg, 0, (size_t)C * sizeof *dg);
                memset(db, 0, (size_t)C * sizeof *db);
                if (mode == 2)
                    sk_ln_backward(dx, dg, db, k.r, k.x, k.g, mu, is, N, C, S, ws);
                else
                    sk_bn_backward(dx, dg, db, k.r, k.x, k.g, mu, is, N, C, S, k.train);
                fd_check("norm FD x", norm_loss, &k, k.x, n, dx);
                fd_check("norm FD g", norm_loss, &k, k.g, C, dg);
                fd_check("norm FD b", norm_loss, &k, k.b, C, db);
            }
            free(k.x);
            free(k.g);
            free(k.b);
            free(k.rm);
            free(k.rv);
            free(k.mean);
            free(k.is);
            free(k.y);
            free(k.r);
            free(y);
            free(yref);
            free(mu);
            free(is);
            free(rm2);
            free(rv2);
            free(dx);
            free(dg);
            free(db);
            free(dx2);
            free(dg2);
            free(db2);
            free(ws);
        }
}
END_TEST

START_TEST(test_bn_running_stats_match_pytorch_rule)
{
    /* x = channel c holds values {c, c+2} -> mean c+1, biased var 1, unbiased 2 */
    float x[2 * 2 * 1], y[4], mu[2], is[2], rm[2] = {0, 0}, rv[2] = {1, 1};
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 2; c++)
            x[n * 2 + c] = (float)(c + 2 * n);
    sk_bn_forward(y, x, NULL, NULL, rm, rv, mu, is, 2, 2, 1, 1, 0.1f);
    ck_assert_float_eq_tol(rm[0], 0.1f * 1.0f, 1e-7f);
    ck_assert_float_eq_tol(rm[1], 0.1f * 2.0f, 1e-7f);
    ck_assert_float_eq_tol(rv[0], 0.9f + 0.1f * 2.0f, 1e-6f);
    ck_assert_float_eq_tol(is[0], 1.0f / sqrtf(1.0f + 1e-5f), 1e-6f);
    ck_assert_float_eq_tol(y[0], -1.0f / sqrtf(1.0f + 1e-5f), 1e-6f);
}
END_TEST

/* ---- pooling ------------------------------------------------------------------- */

typedef struct {
    int N, C, H, W, gap;
    float *x, *y, *r;
} pool_ctx;

static double pool_loss(void *c)
{
    pool_ctx *k = c;
    if (k->gap) {
        sk_gap_forward(k->y, k->x, k->N, k->C, k->H * k->W);
        return dot(k->r, k->y, (int64_t)k->N * k->C);
    }
    sk_maxpool2_forward_ref(k->y, k->x, k->N, k->C, k->H, k->W);
    return dot(k->r, k->y, (int64_t)k->N * k->C * (k->H / 2) * (k->W / 2));
}

START_TEST(test_pools)
{
    static const int shapes[][4] = {{2, 3, 4, 4}, {3, 2, 5, 7}, {1, 4, 2, 3}, {40, 30, 8, 8}};
    for (unsigned t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        int N = shapes[t][0], C = shapes[t][1], H = shapes[t][2], W = shapes[t][3];
        int64_t nx = (int64_t)N * C * H * W, ny = (int64_t)N * C * (H / 2) * (W / 2);
        pool_ctx k = {N, C, H, W, 0, frand(nx, 1), fzero(nx), frand(nx, 1)};
        if (nx < 1000) {
            /* distinct values 0.02 apart: no window has a near-tie within the FD step */
            int64_t *perm = malloc((size_t)nx * sizeof *perm);
            sk_rng_permutation(&R, perm, nx);
            for (int64_t i = 0; i < nx; i++)
                k.x[i] = 0.02f * (float)(perm[i] - nx / 2);
            free(perm);
        }
        float *y = fzero(ny), *yref = fzero(ny), *dx = fzero(nx), *dx2 = fzero(nx);
        uint8_t *idx = calloc((size_t)ny + 1, 1);
        sk_maxpool2_forward(y, idx, k.x, N, C, H, W);
        sk_maxpool2_forward_ref(yref, k.x, N, C, H, W);
        close_enough("maxpool forward", y, yref, ny, 0.0);
        sk_maxpool2_backward(dx, k.r, idx, N, C, H, W);
        sk_maxpool2_backward_ref(dx2, k.r, k.x, N, C, H, W);
        close_enough("maxpool backward", dx, dx2, nx, 0.0);
        if (nx < 1000) fd_check("maxpool FD", pool_loss, &k, k.x, nx, dx);
        /* ties: the first maximum in scan order gets the gradient (as PyTorch) */
        for (int64_t i = 0; i < nx; i++)
            k.x[i] = 1.0f;
        sk_maxpool2_forward(y, idx, k.x, N, C, H, W);
        for (int64_t i = 0; i < ny; i++)
            ck_assert_int_eq(idx[i], 0);
        /* GAP */
        k.gap = 1;
        float *g = fzero((int64_t)N * C), *dg = fzero(nx);
        sk_gap_backward(dg, k.r, N, C, H * W);
        for (int64_t i = 0; i < nx; i++)
            k.x[i] = (float)(2.0 * sk_rng_uniform(&R) - 1.0);
        fd_check("gap FD", pool_loss, &k, k.x, nx, dg);
        sk_gap_forward(g, k.x, N, C, H * W);
        double s = 0.0;
        for (int i = 0; i < H * W; i++)
            s += k.x[i];
        ck_assert_double_eq_tol(g[0], s / (H * W), 1e-5);
        free(k.x);
        free(k.y);
        free(k.r);
        free(y);
        free(yref);
        free(dx);
        free(dx2);
        free(idx);
        free(g);
        free(dg);
    }
}
END_TEST

/* ---- activations, dropout, add ----------------------------------------------- */

typedef struct {
    int64_t n;
    int tanh_;
    float *x, *y, *r;
} act_ctx;

static double act_loss(void *c)
{
    act_ctx *k = c;
    if (k->tanh_)
        sk_tanh_forward(k->y, k->x, k->n);
    else
        sk_relu_forward(k->y, k->x, k->n);
    return dot(k->r, k->y, k->n);
}

START_TEST(test_activations)
{
    int64_t n = 257;
    for (int tt = 0; tt < 2; tt++) {
        act_ctx k = {n, tt, frand(n, 2), fzero(n), frand(n, 1)};
        for (int64_t i = 0; i < n; i++) /* keep ReLU inputs away from the kink */
            if (fabsf(k.x[i]) < 0.05f) k.x[i] = 0.1f;
        float *dx = fzero(n);
        act_loss(&k);
        if (tt)
            sk_tanh_backward(dx, k.r, k.y, n);
        else
            sk_relu_backward(dx, k.r, k.y, n);
        fd_check(tt ? "tanh FD" : "relu FD", act_loss, &k, k.x, n, dx);
        /* in place gives the same */
        act_loss(&k);
        float *z = fcopy(k.x, n);
        if (tt)
            sk_tanh_forward(z, z, n);
        else
            sk_relu_forward(z, z, n);
        close_enough("in place", z, k.y, n, 0.0);
        free(k.x);
        free(k.y);
        free(k.r);
        free(dx);
        free(z);
    }
    /* dropout: inverted scaling, mask reused by backward, rate ~ p, seeded */
    int64_t m = 20000;
    float *x = frand(m, 1), *y = fzero(m), *y2 = fzero(m), *dx = fzero(m);
    uint8_t *mask = calloc((size_t)m, 1), *mask2 = calloc((size_t)m, 1);
    sk_rng a, b;
    sk_rng_seed(&a, 5);
    sk_rng_seed(&b, 5);
    sk_dropout_forward(y, mask, x, m, 0.25f, &a);
    sk_dropout_forward(y2, mask2, x, m, 0.25f, &b);
    ck_assert_mem_eq(mask, mask2, (size_t)m);
    int64_t kept = 0;
    for (int64_t i = 0; i < m; i++) {
        kept += mask[i];
        ck_assert_float_eq_tol(y[i], mask[i] ? x[i] / 0.75f : 0.0f, 1e-6f);
    }
    ck_assert_double_eq_tol((double)kept / m, 0.75, 0.02);
    sk_dropout_backward(dx, x, mask, m, 0.25f);
    close_enough("dropout backward", dx, y, m, 1e-6);
    /* add and accumulate */
    sk_add_forward(y2, x, y, m);
    for (int64_t i = 0; i < m; i++)
        ck_assert_float_eq(y2[i], x[i] + y[i]);
    sk_axpy_acc(y2, x, m, 1);
    for (int64_t i = 0; i < m; i++)
        ck_assert_float_eq_tol(y2[i], 2 * x[i] + y[i], 1e-6f);
    sk_axpy_acc(y2, x, m, 0);
    ck_assert_mem_eq(y2, x, (size_t)m * sizeof *x);
    free(x);
    free(y);
    free(y2);
    free(dx);
    free(mask);
    free(mask2);
}
END_TEST

/* ---- losses ------------------------------------------------------------------- */

typedef struct {
    int N, K, mse;
    float *z;
    int32_t *y;
    float *t;
    const uint8_t *mask;
} loss_ctx;

static double loss_loss(void *c)
{
    loss_ctx *k = c;
    if (k->mse) return sk_loss_mse(k->z, k->t, k->N, k->K, NULL);
    return sk_loss_ce(k->z, k->y, k->N, k->K, k->mask, NULL, NULL);
}

START_TEST(test_losses)
{
    int N = 6, K = 5;
    int32_t y[6] = {0, 1, 2, 1, 3, 1};
    uint8_t mask[5] = {0, 1, 1, 1, 0};
    for (int variant = 0; variant < 3; variant++) {
        loss_ctx k = {N, K, variant == 2, frand(N * K, 3), y, frand(N * K, 1), variant == 1 ? mask : NULL};
        if (variant == 1) y[0] = 2; /* labels inside the allowed set */
        float *d = fzero(N * K);
        int correct = -1;
        if (k.mse)
            sk_loss_mse(k.z, k.t, N, K, d);
        else
            sk_loss_ce(k.z, y, N, K, k.mask, d, &correct);
        fd_check("loss FD", loss_loss, &k, k.z, N * K, d);
        if (variant == 1) {
            /* masked classes: zero gradient, and a huge masked logit changes nothing */
            for (int n = 0; n < N; n++) {
                ck_assert_float_eq(d[n * K + 0], 0.0f);
                ck_assert_float_eq(d[n * K + 4], 0.0f);
            }
            double l0 = loss_loss(&k);
            k.z[0] = 1e30f;
            k.z[4] = 50.0f;
            ck_assert_double_eq_tol(loss_loss(&k), l0, 1e-6);
            int c2;
            sk_loss_ce(k.z, y, N, K, mask, NULL, &c2);
            ck_assert_int_eq(c2, correct);
        }
        free(k.z);
        free(k.t);
        free(d);
    }
    /* stability: huge logits give finite loss; known value */
    float z[3] = {1000.0f, 0.0f, -1000.0f};
    int32_t t0 = 1;
    int c;
    double l = sk_loss_ce(z, &t0, 1, 3, NULL, NULL, &c);
    ck_assert_double_eq_tol(l, 1000.0, 1e-3);
    ck_assert_int_eq(c, 0);
    float z2[2] = {0.0f, 0.0f};
    ck_assert_double_eq_tol(sk_loss_ce(z2, &t0, 1, 2, NULL, NULL, NULL), log(2.0), 1e-6);
}
END_TEST

static void seed_rng(void)
{
    sk_rng_seed(&R, 12345); /* same data whether or not Check forks per test */
}

int main(void)
{
    sk_threads_set(2); /* exercise the OpenMP paths */
    Suite *s = suite_create("nn_layers");
    TCase *tc = tcase_create("layers");
    tcase_add_checked_fixture(tc, seed_rng, NULL);
    tcase_add_test(tc, test_linear);
    tcase_add_test(tc, test_conv);
    tcase_add_test(tc, test_norms);
    tcase_add_test(tc, test_bn_running_stats_match_pytorch_rule);
    tcase_add_test(tc, test_pools);
    tcase_add_test(tc, test_activations);
    tcase_add_test(tc, test_losses);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
