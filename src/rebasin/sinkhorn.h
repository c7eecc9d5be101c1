/* sinkhorn.h - the Sinkhorn operator and its implicit gradient
 * (doc/algorithms.md section 7).
 *
 * Dimension letters: n = size of the permutation group; every matrix is
 * (n, n), row-major, double precision unless the name ends in _f.
 *
 * Forward (log domain, unit marginals): with L = scale * X / tau, K times
 * subtract the column logsumexp, then the row logsumexp; P = exp(L). Rows
 * of P sum to 1 to rounding, columns up to the Sinkhorn error.
 *
 * Backward (implicit differentiation at the fixed point): given P and
 * G = dloss/dP, returns dloss/dX. The (2n-1) KKT system is reduced to the
 * n x n Schur complement S = diag(c) - P^T diag(1/r) P, which is a weighted
 * graph Laplacian. First try: Jacobi-preconditioned conjugate gradients,
 * matrix-free (O(n^2) per iteration, <= 100 iterations, true relative
 * residual <= 1e-13); well-conditioned (soft) plans converge in tens of
 * iterations. Otherwise (sharp plans) we build S as a Laplacian (diagonal = sum of the
 * off-diagonal weights), which avoids the catastrophic cancellation of
 * c_j - sum_i P_ij^2 / r_i when P is sharp, scale it to unit diagonal
 * (Jacobi), fix v_{n-1} = 0 and factor the (n-1) SPD block by Cholesky.
 *
 * Fallback (sharp plans): when dpotrf fails or dpocon's reciprocal condition
 * estimate is below SK_SINKHORN_RCOND_MIN, the full n x n scaled Laplacian is
 * solved in the least-squares sense by its pseudo-inverse (LAPACKE_dsyevd;
 * eigenvalues below n * 16 * DBL_EPSILON * lambda_max are dropped). The
 * system is consistent (the right-hand side is orthogonal to the null vector
 * of every connected component), so the minimum-norm solution gives the
 * exact gradient also when underflow disconnects the plan; for an exact
 * permutation it is 0. Never NaN for finite inputs. */
#ifndef SK_REBASIN_SINKHORN_H
#define SK_REBASIN_SINKHORN_H

#include "core/err.h"

typedef struct {
    double tau;     /* temperature, > 0 (default 1.0) */
    int iterations; /* K >= 1 (default 20) */
    double scale;   /* l in C = -l * X, != 0 (default 1.0) */
} sk_sinkhorn_opts;

/* Defaults: tau 1.0, 20 iterations, scale 1.0. */
sk_sinkhorn_opts sk_sinkhorn_opts_default(void);

/* Below this reciprocal condition (1-norm estimate of the Jacobi-scaled
 * grounded Schur complement) the backward uses the pseudo-inverse fallback. */
#define SK_SINKHORN_RCOND_MIN 1e-10

/* Backward solvers (sk_sinkhorn_stats.method; sk_sinkhorn_ws_set_solver). */
enum {
    SK_SINKHORN_SOLVER_AUTO = 0,     /* PCG first (as a method: PCG was used) */
    SK_SINKHORN_SOLVER_CHOLESKY = 1, /* DSYRK + DPOTRF */
    SK_SINKHORN_SOLVER_PINV = 2      /* fallback: DSYEVD pseudo-inverse */
};

/* Filled by the backward, for logging. */
typedef struct {
    int method;        /* SK_SINKHORN_SOLVER_AUTO (= PCG), _CHOLESKY or _PINV */
    int cg_iterations; /* PCG iterations tried (also when it gave up) */
    int fallback;      /* 1 when the pseudo-inverse fallback was used */
    int potrf_info;    /* dpotrf's info (> 0: not positive definite), 0 if ok */
    double rcond;      /* dpocon estimate (0 when the factorisation failed) */
    int dropped;       /* fallback only: eigenvalues treated as zero */
} sk_sinkhorn_stats;

/* Workspace reused across calls for every n <= nmax (no allocation per
 * call, except inside the fallback's LAPACKE_dsyevd). Not thread-safe:
 * one workspace per concurrent caller. */
typedef struct sk_sinkhorn_ws sk_sinkhorn_ws;
sk_sinkhorn_ws *sk_sinkhorn_ws_new(int nmax); /* NULL + sk_err on failure */
void sk_sinkhorn_ws_free(sk_sinkhorn_ws *ws); /* NULL-safe */

/* The forward's first iteration is in the log domain; later iterations are
 * taken in the linear domain (P = diag(a) K diag(b) with K = exp(L) at the
 * last log-domain step: one sweep over K per iteration, no exp) while every
 * new column scaling lies in [1/bound, bound] (default 1e13; the row
 * scalings then do too), otherwise the iteration is redone in the log domain
 * after absorbing a, b into L. Same iterates as the spec's loop up to
 * rounding. For tests and diagnostics: change the bound (> 1; a bound near 1
 * forces log-domain steps) and read how many iterations of the last forward
 * on ws ran in the log domain (>= 1). */
SK_MUST_CHECK sk_status sk_sinkhorn_ws_set_linear_bound(sk_sinkhorn_ws *ws, double bound);
int sk_sinkhorn_ws_log_iterations(const sk_sinkhorn_ws *ws);

/* Backward solver: SK_SINKHORN_SOLVER_AUTO (default: PCG, then Cholesky,
 * then pseudo-inverse) or SK_SINKHORN_SOLVER_CHOLESKY (skip PCG). */
SK_MUST_CHECK sk_status sk_sinkhorn_ws_set_solver(sk_sinkhorn_ws *ws, int solver);

/* X (n, n) -> P (n, n). ws may be NULL (temporary buffers are allocated).
 * X and P may alias. SK_EINVAL on bad options, n < 1 or non-finite L. */
SK_MUST_CHECK sk_status sk_sinkhorn_forward_ws(sk_sinkhorn_ws *ws, const double *X, int n, const sk_sinkhorn_opts *o,
                                               double *P);
SK_MUST_CHECK sk_status sk_sinkhorn_forward(const double *X, int n, const sk_sinkhorn_opts *o, double *P);

/* P (n, n) forward output, G = dloss/dP (n, n) -> dX = dloss/dX (n, n).
 * dX must not alias P or G. st may be NULL. SK_EINVAL when P has a negative
 * or non-finite entry or an all-zero row, or G is non-finite. */
SK_MUST_CHECK sk_status sk_sinkhorn_backward_ws(sk_sinkhorn_ws *ws, const double *P, const double *G, int n,
                                                const sk_sinkhorn_opts *o, double *dX, sk_sinkhorn_stats *st);
SK_MUST_CHECK sk_status sk_sinkhorn_backward(const double *P, const double *G, int n, const sk_sinkhorn_opts *o,
                                             double *dX);

/* Float wrappers for float parameters (computation in double; ws required,
 * made with nmax >= n). forward_f keeps the double plan in ws; backward_f
 * differentiates the LAST forward_f made on the same ws (SK_EINVAL when there
 * was none or n differs), so the backward never sees float-rounded P. */
SK_MUST_CHECK sk_status sk_sinkhorn_forward_f(sk_sinkhorn_ws *ws, const float *X, int n, const sk_sinkhorn_opts *o,
                                              float *P);
SK_MUST_CHECK sk_status sk_sinkhorn_backward_f(sk_sinkhorn_ws *ws, const float *G, int n, const sk_sinkhorn_opts *o,
                                               float *dX, sk_sinkhorn_stats *st);

#endif
