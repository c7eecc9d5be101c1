/* sinkhorn_bwd.c - implicit gradient of the Sinkhorn operator: Schur
 * complement by PCG, else Cholesky, else pseudo-inverse (see sinkhorn.h
 * and doc/algorithms.md section 7).
 *
 * Dimension letters: n = group size; all matrices (n, n) row-major double.
 *
 * The backward does no OpenMP: its cost is one DSYRK and one DPOTRF (BLAS/
 * LAPACK threads) plus O(n^2) passes. */
#include "config.h"

#include "rebasin/sinkhorn_impl.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "core/blas.h"
#include "core/err.h"

/* The first pass (sinkhorn_impl.h). */
int sk_sh_sums(const double *P, const double *G, int n, double itau, double *r, double *c, double *ga, double *gc)
{
    int bad = 0;
    for (int j = 0; j < n; j++)
        c[j] = gc[j] = 0;
    for (int i = 0; i < n; i++) {
        const double *p = P + (size_t)i * n, *g = G + (size_t)i * n;
        double rs = 0, gs = 0;
        for (int j = 0; j < n; j++) {
            double pij = p[j], gh = -itau * g[j] * pij;
            bad |= !(pij >= 0) | !isfinite(pij) | !isfinite(g[j]);
            rs += pij;
            gs += gh;
            c[j] += pij;
            gc[j] += gh;
        }
        r[i] = rs;
        ga[i] = gs;
        bad |= !(rs > 0);
    }
    return bad;
}

/* Pseudo-inverse solve of the full n x n scaled Laplacian built from W
 * (upper triangle valid, row-major) and the scaling s: v = s .* pinv(S') (s .* b).
 * Uses A as the matrix/eigenvectors, lam (n) and y (n) as scratch. */
static sk_status bw_pinv_solve(const double *W, const double *s, const double *d, int n, double *A, const double *b,
                               double *lam, double *y, double *v, int *dropped)
{
    /* Row-major full symmetric matrix (== its column-major self). */
    for (int j = 0; j < n; j++) {
        A[(size_t)j * n + j] = d[j] > 0 ? 1.0 : 0.0;
        for (int k = j + 1; k < n; k++) {
            double x = -(W[(size_t)j * n + k] * s[j]) * s[k];
            A[(size_t)j * n + k] = x;
            A[(size_t)k * n + j] = x;
        }
    }
    lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', n, A, n, lam);
    if (info != 0)
        return sk_err(SK_ENUMERIC, "sinkhorn backward: fallback eigen-decomposition failed (dsyevd info %d, n = %d)",
                      (int)info, n);
    double lmax = 0;
    for (int k = 0; k < n; k++)
        lmax = fmax(lmax, fabs(lam[k]));
    double tol = 16.0 * n * DBL_EPSILON * lmax;
    for (int j = 0; j < n; j++)
        y[j] = s[j] * b[j];
    for (int j = 0; j < n; j++)
        v[j] = 0;
    int drop = 0;
    for (int k = 0; k < n; k++) {
        const double *q = A + (size_t)k * n; /* column k (col-major) */
        if (!(lam[k] > tol)) {
            drop++;
            continue;
        }
        double dot = 0;
        for (int j = 0; j < n; j++)
            dot += q[j] * y[j];
        dot /= lam[k];
        for (int j = 0; j < n; j++)
            v[j] += dot * q[j];
    }
    for (int j = 0; j < n; j++)
        v[j] *= s[j];
    *dropped = drop;
    return SK_OK;
}

/* Matrix-free S x = c .* x - P^T ((P x) ./ r): one sweep over P. */
static void bw_schur_apply(const double *P, const double *r, const double *c, int n, const double *x, double *out,
                           sk_sh_dot_fn dot, sk_sh_axpy_fn axpy)
{
    for (int j = 0; j < n; j++)
        out[j] = 0;
    for (int i = 0; i < n; i++) {
        const double *p = P + (size_t)i * n;
        axpy(-dot(p, x, n) / r[i], p, out, n);
    }
    for (int j = 0; j < n; j++)
        out[j] += c[j] * x[j];
}

/* Jacobi-preconditioned conjugate gradients on the full (consistent,
 * semi-definite) Schur system S v = b, matrix-free: O(n^2) per iteration
 * instead of the O(n^3) DSYRK + Cholesky. Succeeds (returns 1) when the
 * true residual is <= SK_SH_CG_TOL * |b|; gives up after SK_SH_CG_MAXIT
 * iterations or on slow progress (ill-conditioned plans), and is not tried
 * when a column is sharp (see below). */
#define SK_SH_CG_TOL 1e-13
#define SK_SH_CG_MAXIT 100
#define SK_SH_CG_MIN_SHARE 1e-6
static int bw_pcg(const double *P, const double *r, const double *c, int n, const double *b, double *x,
                  double *tmp /* (5n) */, int *iters)
{
    sk_sh_dot_fn dot;
    sk_sh_axpy_fn axpy;
    sk_sh_vec_kernels(&dot, &axpy);
    double *res = tmp, *z = res + n, *p = z + n, *q = p + n, *dinv = q + n;
    /* Preconditioner: the Laplacian diagonal sum_i P_ij (r_i - P_ij) / r_i. */
    for (int j = 0; j < n; j++)
        dinv[j] = 0;
    for (int i = 0; i < n; i++) {
        const double *pi = P + (size_t)i * n;
        double ir = 1.0 / r[i];
        for (int j = 0; j < n; j++)
            dinv[j] += pi[j] * (r[i] - pi[j]) * ir;
    }
    /* The matrix-free product c x - P^T (P x / r) loses about
     * eps * c_j / d_j relative accuracy in column j (it is a difference of
     * O(c_j) terms for an O(d_j) result): sharp columns go to Cholesky on
     * the cancellation-free Laplacian form instead. */
    *iters = 0;
    for (int j = 0; j < n; j++)
        if (!(dinv[j] >= SK_SH_CG_MIN_SHARE * c[j])) return 0;
    for (int j = 0; j < n; j++)
        dinv[j] = 1.0 / dinv[j];
    double bn = 0;
    for (int j = 0; j < n; j++)
        bn += b[j] * b[j];
    bn = sqrt(bn);
    for (int j = 0; j < n; j++)
        x[j] = 0;
    if (bn == 0) return 1;
    double rz = 0;
    for (int j = 0; j < n; j++) {
        res[j] = b[j];
        z[j] = dinv[j] * res[j];
        p[j] = z[j];
        rz += res[j] * z[j];
    }
    double rn0 = bn, rn = bn;
    int it;
    for (it = 1; it <= SK_SH_CG_MAXIT; it++) {
        bw_schur_apply(P, r, c, n, p, q, dot, axpy);
        double pq = 0;
        for (int j = 0; j < n; j++)
            pq += p[j] * q[j];
        if (!(pq > 0)) break;
        double alpha = rz / pq, rz2 = 0;
        rn = 0;
        for (int j = 0; j < n; j++) {
            x[j] += alpha * p[j];
            res[j] -= alpha * q[j];
            rn += res[j] * res[j];
            z[j] = dinv[j] * res[j];
            rz2 += res[j] * z[j];
        }
        rn = sqrt(rn);
        if (rn <= 0.1 * SK_SH_CG_TOL * bn) break;
        /* slow progress: predict more than MAXIT iterations -> give up */
        if (it == 20 && rn > 1e-4 * rn0) break;
        double beta = rz2 / rz;
        rz = rz2;
        for (int j = 0; j < n; j++)
            p[j] = z[j] + beta * p[j];
    }
    *iters = it;
    /* The recursive residual drifts from the true one: check the latter. */
    bw_schur_apply(P, r, c, n, x, q, dot, axpy);
    double tn = 0;
    for (int j = 0; j < n; j++)
        tn += (b[j] - q[j]) * (b[j] - q[j]);
    int ok = sqrt(tn) <= SK_SH_CG_TOL * bn;
    for (int j = 0; j < n; j++)
        ok &= isfinite(x[j]);
    return ok;
}

/* The backward's vectors: consecutive slices of ws->vec, in this order
 * (sk_sinkhorn_ws_new sizes ws->vec for them). */
typedef struct {
    double *r, *c, *ga, *gc; /* (n) P 1, P^T 1, Ghat 1, Ghat^T 1 */
    double *b;               /* (n) right-hand side of S v = b */
    double *d, *s;           /* (n) Laplacian diagonal, Jacobi scaling (Cholesky) */
    double *v, *u;           /* (n) column and row multipliers */
    double *y, *lam;         /* (n) scratch; eigenvalues (pseudo-inverse) */
    double *work;            /* (3n) dpocon's work, first the 1-norm's column sums */
    double *cgtmp;           /* (5n) PCG's vectors */
} bw_vecs;

static bw_vecs bw_carve(double *vec, int n)
{
    bw_vecs t;
    t.r = vec;
    t.c = t.r + n;
    t.ga = t.c + n;
    t.gc = t.ga + n;
    t.b = t.gc + n;
    t.d = t.b + n;
    t.s = t.d + n;
    t.v = t.s + n;
    t.u = t.v + n;
    t.y = t.u + n;
    t.lam = t.y + n;
    t.work = t.lam + n;
    t.cgtmp = t.work + 3 * n;
    return t;
}

/* Sharp plans: S v = b by Cholesky on the grounded, Jacobi-scaled
 * Laplacian form of S (no cancellation), else by the pseudo-inverse of the
 * full scaled Laplacian. Reads t->r, t->b; writes t->v; W (n, n) receives
 * P^T diag(1/r) P (upper triangle). */
static sk_status bw_cholesky(sk_sinkhorn_ws *ws, const double *P, int n, double *W, const bw_vecs *t,
                             sk_sinkhorn_stats *sts)
{
    const int n1 = n - 1;
    const double *r = t->r, *b = t->b;
    double *d = t->d, *s = t->s, *v = t->v, *work = t->work;
    double *A = ws->A;
    sts->method = SK_SINKHORN_SOLVER_CHOLESKY;
    /* Q = diag(r^-1/2) P into A; W = Q^T Q (upper triangle, row-major). */
    for (int i = 0; i < n; i++) {
        double f = 1.0 / sqrt(r[i]);
        const double *p = P + (size_t)i * n;
        double *q = A + (size_t)i * n;
        for (int j = 0; j < n; j++)
            q[j] = f * p[j];
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, n, 1.0, A, n, 0.0, W, n);
    /* Laplacian diagonal d_j = sum_{k != j} W_jk (equals c_j - W_jj in exact
     * arithmetic, without the cancellation). */
    for (int j = 0; j < n; j++)
        d[j] = 0;
    for (int j = 0; j < n; j++) {
        const double *w = W + (size_t)j * n;
        double acc = 0;
        for (int k = j + 1; k < n; k++) {
            acc += w[k];
            d[k] += w[k];
        }
        d[j] += acc;
    }
    for (int j = 0; j < n; j++)
        s[j] = d[j] > 0 ? 1.0 / sqrt(d[j]) : 1.0;
    /* Grounded, Jacobi-scaled system S' (n1 x n1) into A with leading dim n1.
     * Symmetric: fill both triangles, so row/column-major do not matter. */
    double anorm = 0;
    for (int j = 0; j < n1; j++)
        work[j] = 0;
    for (int j = 0; j < n1; j++) {
        double *aj = A + (size_t)j * n1;
        aj[j] = d[j] > 0 ? 1.0 : 0.0;
        work[j] += aj[j];
        const double *w = W + (size_t)j * n;
        for (int k = j + 1; k < n1; k++) {
            double x = -(w[k] * s[j]) * s[k];
            aj[k] = x;
            A[(size_t)k * n1 + j] = x;
            work[j] += fabs(x);
            work[k] += fabs(x);
        }
    }
    for (int j = 0; j < n1; j++)
        anorm = fmax(anorm, work[j]);
    int fallback = 0;
    lapack_int info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', n1, A, n1);
    sts->potrf_info = (int)info;
    if (info < 0) return sk_err(SK_ENUMERIC, "sinkhorn backward: dpotrf argument error %d", (int)info);
    if (info > 0) {
        fallback = 1;
    } else {
        double rc = 0;
        info = LAPACKE_dpocon_work(LAPACK_COL_MAJOR, 'L', n1, A, n1, anorm, &rc, work, ws->ivec);
        sts->rcond = rc;
        if (info != 0 || !(rc >= SK_SINKHORN_RCOND_MIN)) fallback = 1;
    }
    if (!fallback) {
        for (int j = 0; j < n1; j++)
            v[j] = s[j] * b[j];
        info = LAPACKE_dpotrs_work(LAPACK_COL_MAJOR, 'L', n1, 1, A, n1, v, n1);
        if (info != 0) return sk_err(SK_ENUMERIC, "sinkhorn backward: dpotrs failed (info %d)", (int)info);
        for (int j = 0; j < n1; j++)
            v[j] *= s[j];
        v[n1] = 0;
        for (int j = 0; j < n; j++)
            if (!isfinite(v[j])) fallback = 1;
    }
    if (!fallback) return SK_OK;
    sts->fallback = 1;
    sts->method = SK_SINKHORN_SOLVER_PINV;
    return bw_pinv_solve(W, s, d, n, A, b, t->lam, t->y, v, &sts->dropped);
}

sk_status sk_sinkhorn_backward_ws(sk_sinkhorn_ws *ws, const double *P, const double *G, int n,
                                  const sk_sinkhorn_opts *o, double *dX, sk_sinkhorn_stats *stats)
{
    sk_sinkhorn_stats sdummy;
    sk_sinkhorn_stats *sts = stats ? stats : &sdummy;
    memset(sts, 0, sizeof *sts);
    sk_status st = sk_sh_check_opts("sk_sinkhorn_backward", n, o);
    if (st) return st;
    if (!P || !G || !dX) return sk_err(SK_EINVAL, "sk_sinkhorn_backward: NULL matrix");
    if (n == 1) { /* P = [1] whatever X is */
        sts->rcond = 1;
        dX[0] = 0;
        return SK_OK;
    }
    sk_sinkhorn_ws *own;
    st = sk_sh_ws_acquire("sk_sinkhorn_backward", n, &ws, &own);
    if (st) return st;
    const double itau = 1.0 / o->tau;
    const bw_vecs t = bw_carve(ws->vec, n);
    double *r = t.r, *c = t.c, *ga = t.ga, *gc = t.gc, *b = t.b, *v = t.v, *u = t.u, *y = t.y;

    if (sk_sh_sums(P, G, n, itau, r, c, ga, gc)) {
        st = sk_err(SK_EINVAL,
                    "sk_sinkhorn_backward: P must be finite, >= 0, with positive row sums, "
                    "and G finite (n = %d)",
                    n);
        goto cleanup;
    }
    /* b = Ghat^T 1 - P^T diag(1/r) Ghat 1 */
    for (int i = 0; i < n; i++)
        y[i] = ga[i] / r[i];
    cblas_dgemv(CblasRowMajor, CblasTrans, n, n, 1.0, P, n, y, 1, 0.0, b, 1);
    for (int j = 0; j < n; j++)
        b[j] = gc[j] - b[j];
    if (ws->solver == SK_SINKHORN_SOLVER_AUTO && bw_pcg(P, r, c, n, b, v, t.cgtmp, &sts->cg_iterations)) {
        sts->method = SK_SINKHORN_SOLVER_AUTO;
    } else {
        /* W = P^T diag(1/r) P lives in dX until the end */
        st = bw_cholesky(ws, P, n, dX, &t, sts);
        if (st) goto cleanup;
    }
    /* u = diag(1/r)(Ghat 1 - P v) */
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, n, 1.0, P, n, v, 1, 0.0, u, 1);
    for (int i = 0; i < n; i++)
        u[i] = (ga[i] - u[i]) / r[i];
    /* dX = -scale dC, dC = Ghat - P .* (u 1^T + 1 v^T) = -P .* (G/tau + u + v) */
    const double sc = o->scale;
    for (int i = 0; i < n; i++) {
        const double *p = P + (size_t)i * n, *g = G + (size_t)i * n;
        double *dx = dX + (size_t)i * n;
        double ui = u[i];
#pragma omp simd
        for (int j = 0; j < n; j++)
            dx[j] = sc * p[j] * (itau * g[j] + ui + v[j]);
    }
cleanup:
    sk_sinkhorn_ws_free(own);
    return st;
}

sk_status sk_sinkhorn_backward(const double *P, const double *G, int n, const sk_sinkhorn_opts *o, double *dX)
{
    return sk_sinkhorn_backward_ws(NULL, P, G, n, o, dX, NULL);
}
