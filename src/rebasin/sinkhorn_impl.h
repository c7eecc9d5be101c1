/* sinkhorn_impl.h - what the Sinkhorn sources share (private to
 * sinkhorn.c, sinkhorn_fwd.c, sinkhorn_bwd.c and the tests' dense
 * reference, tests/ref/sinkhorn_ref.c; the API is sinkhorn.h). */
#ifndef SK_REBASIN_SINKHORN_IMPL_H
#define SK_REBASIN_SINKHORN_IMPL_H

#include "rebasin/sinkhorn.h"

#define SK_SH_MAXT 16 /* per-thread partial arrays kept in the workspace */

struct sk_sinkhorn_ws {
    int nmax;
    double *A;    /* (nmax, nmax): forward: L; backward: Q = diag(r^-1/2) P, then the scaled Schur system */
    double *vec;  /* (19 nmax) the calls' vectors, layout at sk_sinkhorn_ws_new() */
    int *ivec;    /* (nmax) dpocon iwork */
    double *part; /* (2, SK_SH_MAXT, nmax) per-thread column partials */
    /* float wrappers (allocated on first use) */
    double *Pd, *Gd, *Dd; /* (nmax, nmax) each */
    int last_n;           /* n of the last forward_f (0: none) */
    double bound;         /* linear-step scaling bound */
    int solver;           /* SK_SINKHORN_SOLVER_* */
    int log_iters;        /* log-domain iterations of the last forward */
};

/* SK_EINVAL (message prefixed with fn) unless o is valid for size n. */
sk_status sk_sh_check_opts(const char *fn, int n, const sk_sinkhorn_opts *o);

/* The backward's first pass: r = P 1, c = P^T 1, ga = Ghat 1, gc = Ghat^T 1
 * with Ghat = -(1/tau) G .* P (itau = 1/tau). Returns nonzero when P or G
 * is invalid (P negative, non-finite or with a zero row; G non-finite).
 * Also used by the tests' dense reference. */
int sk_sh_sums(const double *P, const double *G, int n, double itau, double *r, double *c, double *ga, double *gc);

/* The workspace a call of size n runs on: *ws when given (SK_EINVAL if
 * made for a smaller n), else a new one, also returned in *own for the
 * caller to free (*own is NULL otherwise). */
sk_status sk_sh_ws_acquire(const char *fn, int n, sk_sinkhorn_ws **ws, sk_sinkhorn_ws **own);

/* Dot product and axpy over one row, the forward's linear steps and the
 * backward's matrix-free products; sk_sh_vec_kernels picks the build for
 * this CPU (defined in sinkhorn_fwd.c with the other row kernels). */
typedef double (*sk_sh_dot_fn)(const double *restrict, const double *restrict, int);
typedef void (*sk_sh_axpy_fn)(double, const double *restrict, double *restrict, int);
void sk_sh_vec_kernels(sk_sh_dot_fn *dot, sk_sh_axpy_fn *axpy);

#endif
