/* Sinkhorn operator: forward marginals and reference, implicit backward vs
 * finite differences and vs the dense KKT solve, sharp-plan fallback.
 * Matrices are (n, n) row-major double. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/err.h"
#include "core/rng.h"
#include "rebasin/sinkhorn.h"
#include "ref/ref.h"

static double *mat(int n)
{
    double *a = calloc((size_t)n * n, sizeof(double));
    ck_assert_ptr_nonnull(a);
    return a;
}

static void randn(sk_rng *r, double *a, int n, double sd)
{
    for (int i = 0; i < n * n; i++)
        a[i] = sd * sk_rng_normal(r);
}

static double maxabs(const double *a, int n)
{
    double m = 0;
    for (int i = 0; i < n * n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

static double maxdiff(const double *a, const double *b, int n)
{
    double m = 0;
    for (int i = 0; i < n * n; i++)
        m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static int all_finite(const double *a, int n)
{
    for (int i = 0; i < n * n; i++)
        if (!isfinite(a[i])) return 0;
    return 1;
}

/* max |row sum - 1| and max |column sum - 1| */
static void marginal_err(const double *P, int n, double *er, double *ec)
{
    *er = *ec = 0;
    for (int i = 0; i < n; i++) {
        double s = 0, t = 0;
        for (int j = 0; j < n; j++) {
            s += P[i * n + j];
            t += P[j * n + i];
        }
        *er = fmax(*er, fabs(s - 1));
        *ec = fmax(*ec, fabs(t - 1));
    }
}

/* Naive reference: the spec's loop with libm exp/log, column-by-column. */
static void forward_naive(const double *X, int n, const sk_sinkhorn_opts *o, double *P)
{
    for (int i = 0; i < n * n; i++)
        P[i] = o->scale * X[i] / o->tau;
    for (int k = 0; k < o->iterations; k++) {
        for (int j = 0; j < n; j++) {
            double m = -INFINITY, s = 0;
            for (int i = 0; i < n; i++)
                m = fmax(m, P[i * n + j]);
            for (int i = 0; i < n; i++)
                s += exp(P[i * n + j] - m);
            for (int i = 0; i < n; i++)
                P[i * n + j] -= m + log(s);
        }
        for (int i = 0; i < n; i++) {
            double m = -INFINITY, s = 0;
            for (int j = 0; j < n; j++)
                m = fmax(m, P[i * n + j]);
            for (int j = 0; j < n; j++)
                s += exp(P[i * n + j] - m);
            for (int j = 0; j < n; j++)
                P[i * n + j] -= m + log(s);
        }
    }
    for (int i = 0; i < n * n; i++)
        P[i] = exp(P[i]);
}

/* dloss/dC of the backward output: dC = -dX / scale; its row and column
 * sums relative to max |dC|. */
static double dc_sums_rel(const double *dX, int n)
{
    double m = maxabs(dX, n), e = 0;
    for (int i = 0; i < n; i++) {
        double s = 0, t = 0;
        for (int j = 0; j < n; j++) {
            s += dX[i * n + j];
            t += dX[j * n + i];
        }
        e = fmax(e, fmax(fabs(s), fabs(t)));
    }
    return m > 0 ? e / m : e;
}

/* Backward with a chosen solver (AUTO: PCG first; CHOLESKY: skip PCG). */
static sk_status backward_with(int solver, const double *P, const double *G, int n, const sk_sinkhorn_opts *o,
                               double *dX, sk_sinkhorn_stats *st)
{
    sk_sinkhorn_ws *ws = sk_sinkhorn_ws_new(n);
    ck_assert_ptr_nonnull(ws);
    ck_assert_int_eq(sk_sinkhorn_ws_set_solver(ws, solver), SK_OK);
    sk_status s = sk_sinkhorn_backward_ws(ws, P, G, n, o, dX, st);
    sk_sinkhorn_ws_free(ws);
    return s;
}

static double loss(const double *X, const double *G, int n, const sk_sinkhorn_opts *o, double *P)
{
    ck_assert_int_eq(sk_sinkhorn_forward(X, n, o, P), SK_OK);
    double l = 0;
    for (int i = 0; i < n * n; i++)
        l += G[i] * P[i];
    return l;
}

START_TEST(test_forward_marginals_and_reference)
{
    sk_rng r;
    sk_rng_seed(&r, 1);
    int sizes[] = {2, 7, 50, 130};
    for (int t = 0; t < 4; t++) {
        int n = sizes[t];
        double *X = mat(n), *P = mat(n), *Q = mat(n);
        randn(&r, X, n, 1.0);
        sk_sinkhorn_opts o = sk_sinkhorn_opts_default();
        ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o, P), SK_OK);
        double er, ec;
        marginal_err(P, n, &er, &ec);
        ck_assert_double_lt(er, 1e-12);
        ck_assert_double_lt(ec, 1e-2); /* 20 iterations on N(0,1): ~1e-6 */
        forward_naive(X, n, &o, Q);
        ck_assert_double_lt(maxdiff(P, Q, n), 1e-13);
        for (int i = 0; i < n * n; i++)
            ck_assert(P[i] > 0 && P[i] <= 1);
        /* Converged: columns to 1e-10 as well. */
        o.iterations = 2000;
        ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o, P), SK_OK);
        marginal_err(P, n, &er, &ec);
        ck_assert_double_lt(er, 1e-12);
        ck_assert_double_lt(ec, 1e-10);
        /* tau and scale enter only as scale/tau. */
        o.iterations = 20;
        o.tau = 0.5;
        o.scale = 2.0;
        ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o, P), SK_OK);
        sk_sinkhorn_opts o2 = {0.25, 20, 1.0};
        ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o2, Q), SK_OK);
        ck_assert_double_lt(maxdiff(P, Q, n), 1e-13);
        free(X);
        free(P);
        free(Q);
    }
}
END_TEST

/* The forward takes linear-domain steps while the scalings stay in range and
 * falls back to log-domain steps otherwise: on hard inputs (wide range,
 * exact underflow, sharp) it must still match the naive log-domain loop. */
START_TEST(test_forward_hard_inputs_vs_naive)
{
    sk_rng r;
    sk_rng_seed(&r, 12);
    int n = 40;
    double *X = mat(n), *P = mat(n), *Q = mat(n);
    sk_sinkhorn_ws *ws = sk_sinkhorn_ws_new(n);
    double bounds[] = {1e13, 2.0, 1.0001};
    int extra = 0, extra_default = 0;
    for (int c = 0; c < 8; c++) {
        double taus[] = {1.0, 0.3, 1.0, 0.5, 1.0, 0.5, 0.03, 0.01};
        sk_sinkhorn_opts o = {taus[c], c < 4 ? 20 : 300, 1.0};
        if (c < 2 || c >= 6)
            randn(&r, X, n, c < 2 ? 30.0 : 1.0);
        else if (c < 4)
            for (int i = 0; i < n * n; i++)
                X[i] = sk_rng_uniform(&r) < 0.2 ? 800 : -800;
        else
            for (int i = 0; i < n * n; i++)
                X[i] = (i % (n + 1) == 0 ? 50 : 0) + 20 * sk_rng_uniform(&r);
        forward_naive(X, n, &o, Q);
        for (int b = 0; b < 3; b++) {
            ck_assert_int_eq(sk_sinkhorn_ws_set_linear_bound(ws, bounds[b]), SK_OK);
            ck_assert_int_eq(sk_sinkhorn_forward_ws(ws, X, n, &o, P), SK_OK);
            ck_assert(all_finite(P, n));
            double e = maxdiff(P, Q, n);
            ck_assert_msg(e < 1e-12, "case %d bound %g: fast vs naive %g", c, bounds[b], e);
            double er, ec;
            marginal_err(P, n, &er, &ec);
            ck_assert_double_lt(er, 1e-12);
            int li = sk_sinkhorn_ws_log_iterations(ws);
            ck_assert_int_ge(li, 1);
            if (b == 0 && c < 6) ck_assert_int_eq(li, 1); /* only the first */
            if (b == 0) extra_default += li - 1;
            extra += li - 1;
        }
    }
    /* The log-domain fallback was exercised (small tau, and small bounds). */
    ck_assert_int_gt(extra_default, 0);
    ck_assert_int_gt(extra, extra_default);
    sk_err_clear();
    ck_assert_int_eq(sk_sinkhorn_ws_set_linear_bound(ws, 1.0), SK_EINVAL);
    sk_sinkhorn_ws_free(ws);
    free(X);
    free(P);
    free(Q);
}
END_TEST

START_TEST(test_forward_threads_and_inplace)
{
    /* Two OpenMP threads (used from n = 1024) and one give the same plan;
     * X and P may alias. */
    sk_rng r;
    sk_rng_seed(&r, 2);
    int n = 1024;
    double *X = mat(n), *P = mat(n), *Q = mat(n);
    randn(&r, X, n, 2.0);
    sk_sinkhorn_opts o = {0.7, 20, 1.0};
    sk_threads_set(1);
    ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o, P), SK_OK);
    sk_threads_set(2);
    memcpy(Q, X, sizeof(double) * n * n);
    ck_assert_int_eq(sk_sinkhorn_forward(Q, n, &o, Q), SK_OK);
    sk_threads_set(1);
    ck_assert_double_lt(maxdiff(P, Q, n), 1e-14);
    free(X);
    free(P);
    free(Q);
}
END_TEST

START_TEST(test_forward_permutation_invariance)
{
    sk_rng r;
    sk_rng_seed(&r, 3);
    int n = 37;
    double *X = mat(n), *Y = mat(n), *P = mat(n), *Q = mat(n);
    int64_t pr[37], pc[37];
    randn(&r, X, n, 1.5);
    sk_rng_permutation(&r, pr, n);
    sk_rng_permutation(&r, pc, n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            Y[i * n + j] = X[pr[i] * n + pc[j]];
    sk_sinkhorn_opts o = sk_sinkhorn_opts_default();
    ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o, P), SK_OK);
    ck_assert_int_eq(sk_sinkhorn_forward(Y, n, &o, Q), SK_OK);
    double e = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            e = fmax(e, fabs(Q[i * n + j] - P[pr[i] * n + pc[j]]));
    ck_assert_double_lt(e, 1e-14);
    free(X);
    free(Y);
    free(P);
    free(Q);
}
END_TEST

/* Backward vs central finite differences of l = sum(G .* P(X)) with the
 * forward run to convergence (column error < 1e-13 asserted).
 * h = 1e-5: truncation ~h^2 and rounding ~1e-16/h, both < 1e-9 here.
 * Tolerance: max |dX - fd| <= 1e-6 * max |fd|. */
START_TEST(test_backward_finite_differences)
{
    sk_rng r;
    sk_rng_seed(&r, 4);
    int sizes[] = {2, 3, 4, 5, 8, 11, 16};
    double taus[] = {0.5, 1.0, 3.0};
    double worst = 0;
    for (int t = 0; t < 7; t++)
        for (int q = 0; q < 3; q++) {
            int n = sizes[t];
            sk_sinkhorn_opts o = {taus[q], 600, q == 1 ? 1.5 : 1.0};
            double *X = mat(n), *G = mat(n), *P = mat(n), *dX = mat(n), *fd = mat(n), *dd = mat(n);
            randn(&r, X, n, 1.0);
            randn(&r, G, n, 1.0);
            ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o, P), SK_OK);
            double er, ec;
            marginal_err(P, n, &er, &ec);
            ck_assert_double_lt(ec, 1e-13);
            sk_sinkhorn_stats st;
            ck_assert_int_eq(backward_with(SK_SINKHORN_SOLVER_CHOLESKY, P, G, n, &o, dd, &st), SK_OK);
            ck_assert_int_eq(st.method, SK_SINKHORN_SOLVER_CHOLESKY);
            ck_assert_int_eq(st.fallback, 0);
            ck_assert_double_gt(st.rcond, 1e-6);
            ck_assert_int_eq(sk_sinkhorn_backward_ws(NULL, P, G, n, &o, dX, &st), SK_OK);
            ck_assert_int_eq(st.method, SK_SINKHORN_SOLVER_AUTO); /* PCG converged */
            ck_assert_int_eq(st.fallback, 0);
            ck_assert_double_lt(maxdiff(dX, dd, n) / maxabs(dd, n), 1e-10);
            double *Pt = mat(n);
            const double h = 1e-5;
            for (int k = 0; k < n * n; k++) {
                double x0 = X[k];
                X[k] = x0 + h;
                double lp = loss(X, G, n, &o, Pt);
                X[k] = x0 - h;
                double lm = loss(X, G, n, &o, Pt);
                X[k] = x0;
                fd[k] = (lp - lm) / (2 * h);
            }
            double rel = maxdiff(dX, fd, n) / maxabs(fd, n);
            worst = fmax(worst, rel);
            ck_assert_msg(rel < 1e-6, "n=%d tau=%g: FD rel err %g", n, o.tau, rel);
            /* dC has zero row and column sums; dense KKT agrees. */
            ck_assert_double_lt(dc_sums_rel(dX, n), 1e-10);
            ck_assert_int_eq(sk_sinkhorn_backward_dense(P, G, n, &o, dd), SK_OK);
            ck_assert_double_lt(maxdiff(dX, dd, n) / maxabs(dd, n), 1e-9);
            free(X);
            free(G);
            free(P);
            free(dX);
            free(fd);
            free(dd);
            free(Pt);
        }
    ck_assert_double_lt(worst, 1e-6);
}
END_TEST

/* Schur vs dense at the default 20 iterations (unconverged: actual sums). */
START_TEST(test_backward_schur_vs_dense)
{
    sk_rng r;
    sk_rng_seed(&r, 5);
    int sizes[] = {2, 9, 33, 64, 100};
    for (int t = 0; t < 5; t++) {
        int n = sizes[t];
        double *X = mat(n), *G = mat(n), *P = mat(n), *dX = mat(n), *dd = mat(n);
        randn(&r, X, n, 1.0 + t);
        randn(&r, G, n, 1.0);
        sk_sinkhorn_opts o = {0.8, 20, 1.0};
        ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o, P), SK_OK);
        ck_assert_int_eq(sk_sinkhorn_backward_dense(P, G, n, &o, dd), SK_OK);
        for (int solver = 0; solver < 2; solver++) {
            sk_sinkhorn_stats st;
            ck_assert_int_eq(backward_with(solver, P, G, n, &o, dX, &st), SK_OK);
            ck_assert_int_eq(st.method, solver);
            double rel = maxdiff(dX, dd, n) / maxabs(dd, n);
            ck_assert_msg(rel < 1e-9, "n=%d solver %d: schur vs dense %g", n, solver, rel);
            ck_assert_double_lt(dc_sums_rel(dX, n), 1e-10);
            ck_assert_double_gt(maxabs(dX, n), 1e-6); /* not trivially zero */
        }
        free(X);
        free(G);
        free(P);
        free(dX);
        free(dd);
    }
}
END_TEST

START_TEST(test_workspace_reuse)
{
    sk_rng r;
    sk_rng_seed(&r, 6);
    sk_sinkhorn_ws *ws = sk_sinkhorn_ws_new(40);
    ck_assert_ptr_nonnull(ws);
    int sizes[] = {40, 7, 1, 25};
    for (int t = 0; t < 4; t++) {
        int n = sizes[t];
        double *X = mat(n), *G = mat(n), *P = mat(n), *Q = mat(n), *dX = mat(n), *dY = mat(n);
        randn(&r, X, n, 1.0);
        randn(&r, G, n, 1.0);
        sk_sinkhorn_opts o = sk_sinkhorn_opts_default();
        ck_assert_int_eq(sk_sinkhorn_forward_ws(ws, X, n, &o, P), SK_OK);
        ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o, Q), SK_OK);
        ck_assert_double_eq(maxdiff(P, Q, n), 0);
        ck_assert_int_eq(sk_sinkhorn_backward_ws(ws, P, G, n, &o, dX, NULL), SK_OK);
        ck_assert_int_eq(sk_sinkhorn_backward(P, G, n, &o, dY), SK_OK);
        ck_assert_double_eq(maxdiff(dX, dY, n), 0);
        free(X);
        free(G);
        free(P);
        free(Q);
        free(dX);
        free(dY);
    }
    double X[41 * 41] = {0}, P[41 * 41];
    sk_sinkhorn_opts o = sk_sinkhorn_opts_default();
    sk_err_clear();
    ck_assert_int_eq(sk_sinkhorn_forward_ws(ws, X, 41, &o, P), SK_EINVAL);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "n <= 40"));
    sk_sinkhorn_ws_free(ws);
    sk_sinkhorn_ws_free(NULL);
}
END_TEST

START_TEST(test_n1_and_invalid)
{
    sk_sinkhorn_opts o = sk_sinkhorn_opts_default();
    double X = 3.7, P = -1, G = 2.0, dX = 5;
    ck_assert_int_eq(sk_sinkhorn_forward(&X, 1, &o, &P), SK_OK);
    ck_assert_double_eq_tol(P, 1.0, 1e-15);
    sk_sinkhorn_stats st;
    ck_assert_int_eq(sk_sinkhorn_backward_ws(NULL, &P, &G, 1, &o, &dX, &st), SK_OK);
    ck_assert_double_eq(dX, 0);
    ck_assert_int_eq(st.fallback, 0);
    dX = 5;
    ck_assert_int_eq(sk_sinkhorn_backward_dense(&P, &G, 1, &o, &dX), SK_OK);
    ck_assert_double_eq(dX, 0);

    double X2[4] = {0, 1, INFINITY, 0}, P2[4], G2[4] = {1, 2, 3, 4}, D2[4];
    sk_err_clear();
    ck_assert_int_eq(sk_sinkhorn_forward(X2, 2, &o, P2), SK_EINVAL);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "non-finite"));
    sk_sinkhorn_opts bad = {0.0, 20, 1.0};
    X2[2] = 0.5;
    sk_err_clear();
    ck_assert_int_eq(sk_sinkhorn_forward(X2, 2, &bad, P2), SK_EINVAL);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "tau must be > 0"));
    bad = (sk_sinkhorn_opts){1.0, 0, 1.0};
    sk_err_clear();
    ck_assert_int_eq(sk_sinkhorn_forward(X2, 2, &bad, P2), SK_EINVAL);
    sk_err_clear();
    ck_assert_int_eq(sk_sinkhorn_forward(X2, 0, &o, P2), SK_EINVAL);
    /* Backward rejects negative P, zero rows, NaN G. */
    double Pn[4] = {0.5, 0.5, -0.1, 1.1};
    sk_err_clear();
    ck_assert_int_eq(sk_sinkhorn_backward(Pn, G2, 2, &o, D2), SK_EINVAL);
    double Pz[4] = {0, 0, 0.5, 0.5};
    sk_err_clear();
    ck_assert_int_eq(sk_sinkhorn_backward(Pz, G2, 2, &o, D2), SK_EINVAL);
    double Pg[4] = {0.5, 0.5, 0.5, 0.5};
    G2[1] = NAN;
    sk_err_clear();
    ck_assert_int_eq(sk_sinkhorn_backward(Pg, G2, 2, &o, D2), SK_EINVAL);
}
END_TEST

/* X = a * permutation (+ noise): plan sharp up to e^-a. */
static void perm_matrix(sk_rng *r, double *X, int n, double on, double off, double noise)
{
    int64_t p[256];
    ck_assert_int_le(n, 256);
    sk_rng_permutation(r, p, n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            X[i * n + j] = (p[i] == j ? on : off) + noise * sk_rng_normal(r);
}

START_TEST(test_sharp_exact_permutation)
{
    /* +-800: off-support entries underflow to exactly 0 in double; S = 0.
     * The dense KKT solve of the published code is singular here. */
    sk_rng r;
    sk_rng_seed(&r, 7);
    int n = 24;
    double *X = mat(n), *G = mat(n), *P = mat(n), *dX = mat(n);
    perm_matrix(&r, X, n, 800, -800, 0);
    randn(&r, G, n, 1.0);
    sk_sinkhorn_opts o = sk_sinkhorn_opts_default();
    ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o, P), SK_OK);
    int ones = 0;
    for (int i = 0; i < n * n; i++) {
        ck_assert(P[i] == 0 || fabs(P[i] - 1) < 1e-15);
        ones += P[i] > 0.5;
    }
    ck_assert_int_eq(ones, n);
    sk_sinkhorn_stats st;
    /* Cholesky path: dpotrf fails (S = 0), the pseudo-inverse drops all. */
    ck_assert_int_eq(backward_with(SK_SINKHORN_SOLVER_CHOLESKY, P, G, n, &o, dX, &st), SK_OK);
    ck_assert_int_eq(st.fallback, 1);
    ck_assert_int_eq(st.method, SK_SINKHORN_SOLVER_PINV);
    ck_assert_int_gt(st.potrf_info, 0);
    ck_assert_int_eq(st.dropped, n);
    ck_assert(all_finite(dX, n));
    ck_assert_double_lt(maxabs(dX, n), 1e-14);
    /* Default: the right-hand side is exactly 0, PCG returns v = 0. */
    ck_assert_int_eq(sk_sinkhorn_backward_ws(NULL, P, G, n, &o, dX, &st), SK_OK);
    ck_assert(all_finite(dX, n));
    ck_assert_double_lt(maxabs(dX, n), 1e-14);
    sk_err_clear();
    ck_assert_int_eq(sk_sinkhorn_backward_dense(P, G, n, &o, dX), SK_ENUMERIC);
    free(X);
    free(G);
    free(P);
    free(dX);
}
END_TEST

START_TEST(test_sharp_near_permutation)
{
    /* X = 50 * permutation: off-support P ~ e^-50 (no underflow). The
     * Laplacian form keeps the Schur complement well-conditioned (weights
     * ~e^-100 but uniform), so Cholesky succeeds; the gradient is ~0
     * (|G| e^-50 scale) up to rounding of the G/tau terms. */
    sk_rng r;
    sk_rng_seed(&r, 8);
    int sizes[] = {2, 10, 64};
    for (int t = 0; t < 3; t++) {
        int n = sizes[t];
        double *X = mat(n), *G = mat(n), *P = mat(n), *dX = mat(n), *dd = mat(n);
        perm_matrix(&r, X, n, 50, 0, 0);
        randn(&r, G, n, 1.0);
        sk_sinkhorn_opts o = sk_sinkhorn_opts_default();
        ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o, P), SK_OK);
        sk_sinkhorn_stats st;
        ck_assert_int_eq(sk_sinkhorn_backward_ws(NULL, P, G, n, &o, dX, &st), SK_OK);
        ck_assert(all_finite(dX, n));
        ck_assert_double_lt(maxabs(dX, n), 1e-13);
        /* The matrix-free PCG product would cancel catastrophically here
         * (S ~ e^-100 as a difference of O(1) terms): PCG is not tried,
         * Cholesky on the Laplacian form succeeds without the fallback. */
        ck_assert_int_eq(st.method, SK_SINKHORN_SOLVER_CHOLESKY);
        ck_assert_int_eq(st.fallback, 0);
        /* Near-permutation with noise, tau 0.5: off-support P ~ e^-6. Sinkhorn
         * converges slowly on near-permutations (rate ~1 - 4 e^-6 here): run
         * 5000 iterations and check convergence before the FD comparison. */
        perm_matrix(&r, X, n, 3, 0, 0.3);
        sk_sinkhorn_opts o2 = {0.5, 5000, 1.0};
        ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o2, P), SK_OK);
        double er, ec;
        marginal_err(P, n, &er, &ec);
        ck_assert_double_lt(ec, 1e-13);
        ck_assert_int_eq(sk_sinkhorn_backward_ws(NULL, P, G, n, &o2, dX, &st), SK_OK);
        ck_assert_int_eq(st.fallback, 0);
        ck_assert(all_finite(dX, n));
        ck_assert_double_lt(dc_sums_rel(dX, n), 1e-10);
        if (n <= 10) {
            double *Pt = mat(n), *fd = mat(n);
            const double h = 1e-6;
            for (int k = 0; k < n * n; k++) {
                double x0 = X[k];
                X[k] = x0 + h;
                double lp = loss(X, G, n, &o2, Pt);
                X[k] = x0 - h;
                double lm = loss(X, G, n, &o2, Pt);
                X[k] = x0;
                fd[k] = (lp - lm) / (2 * h);
            }
            double rel = maxdiff(dX, fd, n) / maxabs(fd, n);
            ck_assert_msg(rel < 1e-5, "near-perm n=%d: FD rel err %g", n, rel);
            free(Pt);
            free(fd);
        }
        free(X);
        free(G);
        free(P);
        free(dX);
        free(dd);
    }
}
END_TEST

START_TEST(test_sharp_partly_underflowed)
{
    /* Rows/columns in S (size s) are an exact permutation (+-800), the rest
     * (size m) a soft N(0,1) block; P is block diagonal with exact zeros, so
     * the Schur complement is singular (disconnected). The fallback must give
     * the exact gradient: zero on the sharp part, the small problem's
     * gradient on the soft block. Both orders (grounded node sharp or soft). */
    sk_rng r;
    sk_rng_seed(&r, 9);
    int s = 6, m = 9, n = s + m;
    for (int order = 0; order < 2; order++) {
        double *X = mat(n), *G = mat(n), *P = mat(n), *dX = mat(n);
        double *Xs = mat(m), *Gs = mat(m), *Ps = mat(m), *dXs = mat(m);
        int64_t p[16];
        sk_rng_permutation(&r, p, s);
        int off = order == 0 ? 0 : s; /* soft block offset */
        int so = order == 0 ? m : 0;  /* sharp block offset */
        for (int i = 0; i < n * n; i++)
            X[i] = -800;
        for (int i = 0; i < s; i++)
            X[(so + i) * n + so + p[i]] = 800;
        randn(&r, Xs, m, 1.0);
        randn(&r, G, n, 1.0);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) {
                X[(off + i) * n + off + j] = Xs[i * m + j];
                Gs[i * m + j] = G[(off + i) * n + off + j];
            }
        sk_sinkhorn_opts o = {1.0, 500, 1.0};
        ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o, P), SK_OK);
        ck_assert_int_eq(sk_sinkhorn_forward(Xs, m, &o, Ps), SK_OK);
        ck_assert_int_eq(sk_sinkhorn_backward(Ps, Gs, m, &o, dXs), SK_OK);
        for (int solver = 0; solver < 2; solver++) {
            sk_sinkhorn_stats st;
            ck_assert_int_eq(backward_with(solver, P, G, n, &o, dX, &st), SK_OK);
            if (solver == SK_SINKHORN_SOLVER_CHOLESKY) {
                ck_assert_int_eq(st.fallback, 1);
                ck_assert_int_eq(st.dropped, s + 1); /* one null vector per component */
            }
            ck_assert(all_finite(dX, n));
            double e = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    int bi = i - off, bj = j - off;
                    double want = (bi >= 0 && bi < m && bj >= 0 && bj < m) ? dXs[bi * m + bj] : 0;
                    e = fmax(e, fabs(dX[i * n + j] - want));
                }
            ck_assert_msg(e < 1e-9 * maxabs(dXs, m), "order %d solver %d: err %g", order, solver, e);
        }
        free(X);
        free(G);
        free(P);
        free(dX);
        free(Xs);
        free(Gs);
        free(Ps);
        free(dXs);
    }
}
END_TEST

START_TEST(test_sharp_random_signs)
{
    /* Entries +-800 at random: P has many exact zeros; not a permutation.
     * Finite output and zero row/column sums of dC, whatever solve is used. */
    sk_rng r;
    sk_rng_seed(&r, 10);
    int n = 30;
    double *X = mat(n), *G = mat(n), *P = mat(n), *dX = mat(n);
    for (int i = 0; i < n * n; i++)
        X[i] = sk_rng_uniform(&r) < 0.3 ? 800 : -800;
    randn(&r, G, n, 1.0);
    sk_sinkhorn_opts o = {0.5, 20, 1.0};
    ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o, P), SK_OK);
    ck_assert(all_finite(P, n));
    sk_sinkhorn_stats st;
    ck_assert_int_eq(sk_sinkhorn_backward_ws(NULL, P, G, n, &o, dX, &st), SK_OK);
    ck_assert(all_finite(dX, n));
    ck_assert_double_lt(dc_sums_rel(dX, n), 1e-9);
    free(X);
    free(G);
    free(P);
    free(dX);
}
END_TEST

START_TEST(test_float_wrappers)
{
    sk_rng r;
    sk_rng_seed(&r, 11);
    int n = 20;
    double *X = mat(n), *G = mat(n), *P = mat(n), *dX = mat(n);
    float *Xf = calloc(n * n, sizeof(float)), *Gf = calloc(n * n, sizeof(float)), *Pf = calloc(n * n, sizeof(float)),
          *dXf = calloc(n * n, sizeof(float));
    randn(&r, X, n, 1.0);
    randn(&r, G, n, 1.0);
    for (int i = 0; i < n * n; i++) {
        Xf[i] = (float)X[i];
        X[i] = Xf[i];
        Gf[i] = (float)G[i];
        G[i] = Gf[i];
    }
    sk_sinkhorn_ws *ws = sk_sinkhorn_ws_new(n);
    sk_sinkhorn_opts o = sk_sinkhorn_opts_default();
    sk_err_clear();
    ck_assert_int_eq(sk_sinkhorn_backward_f(ws, Gf, n, &o, dXf, NULL), SK_EINVAL);
    ck_assert_int_eq(sk_sinkhorn_forward_f(ws, Xf, n, &o, Pf), SK_OK);
    ck_assert_int_eq(sk_sinkhorn_backward_f(ws, Gf, n, &o, dXf, NULL), SK_OK);
    ck_assert_int_eq(sk_sinkhorn_forward(X, n, &o, P), SK_OK);
    ck_assert_int_eq(sk_sinkhorn_backward(P, G, n, &o, dX), SK_OK);
    for (int i = 0; i < n * n; i++) {
        ck_assert_double_eq_tol(Pf[i], P[i], 1e-7 * P[i] + 1e-12);
        ck_assert_double_eq_tol(dXf[i], dX[i], 1e-6 * maxabs(dX, n));
    }
    sk_err_clear();
    ck_assert_int_eq(sk_sinkhorn_forward_f(NULL, Xf, n, &o, Pf), SK_EINVAL);
    sk_sinkhorn_ws_free(ws);
    free(X);
    free(G);
    free(P);
    free(dX);
    free(Xf);
    free(Gf);
    free(Pf);
    free(dXf);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sinkhorn");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_forward_marginals_and_reference);
    tcase_add_test(tc, test_forward_hard_inputs_vs_naive);
    tcase_add_test(tc, test_forward_threads_and_inplace);
    tcase_add_test(tc, test_forward_permutation_invariance);
    tcase_add_test(tc, test_backward_finite_differences);
    tcase_add_test(tc, test_backward_schur_vs_dense);
    tcase_add_test(tc, test_workspace_reuse);
    tcase_add_test(tc, test_n1_and_invalid);
    tcase_add_test(tc, test_sharp_exact_permutation);
    tcase_add_test(tc, test_sharp_near_permutation);
    tcase_add_test(tc, test_sharp_partly_underflowed);
    tcase_add_test(tc, test_sharp_random_signs);
    tcase_add_test(tc, test_float_wrappers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
