/* sinkhorn.c - Sinkhorn operator (log domain) and its implicit gradient.
 * See sinkhorn.h and ALGORITHMS.md section 7.
 *
 * Dimension letters: n = group size; all matrices (n, n) row-major double.
 *
 * Forward speed: the log-domain iteration costs two exp per entry per
 * iteration. exp is a branch-free polynomial (sk_exp_nonpos, <= 2 ulp for
 * arguments <= 0) so that `omp simd` loops vectorise; the row kernels are
 * compiled for AVX2+FMA and baseline x86-64 (target_clones, chosen at load).
 * Two sweeps over L per iteration, rows split between the OpenMP threads with
 * the same static schedule in both sweeps (each core keeps its rows in L2):
 *   sweep 1: per-column sum of exp(L - colmax) (per-thread partials)
 *   sweep 2: per row: L -= column lse; row lse; L -= row lse; and the column
 *            maxima for the next iteration (per-thread partials).
 * The backward does no OpenMP: its cost is one DSYRK and one DPOTRF (BLAS/
 * LAPACK threads) plus O(n^2) passes. */
#include "config.h"

#include "rebasin/sinkhorn.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/blas.h"
#include "core/err.h"
#include "core/mem.h"

#define SK_SH_MAXT 16 /* per-thread partial arrays kept in the workspace */

/* Linear-domain scaling bound: a half-step is taken in the linear domain
 * only when every new scaling lies in [e^-30, e^30]. Entries of K = exp(L)
 * that underflowed at the last absorption are then below e^(60-708) of the
 * plan's row sums: the linear iterate equals the log-domain one to rounding. */
#define SK_SH_SCALE_MAX 1e13 /* ~e^30 */

/* The row kernels are built twice on x86-64 (AVX2+FMA and baseline) and
 * chosen at run time; gcc's target_clones("arch=...") did not vectorise. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SK_SH_X86 1
#endif

struct sk_sinkhorn_ws {
    int nmax;
    double *A;      /* (nmax, nmax): Q = diag(r^-1/2) P, then the scaled Schur system */
    double *vec;    /* vectors, see ws_vectors() */
    int *ivec;      /* (nmax) dpocon iwork */
    double *part;   /* (2, SK_SH_MAXT, nmax) per-thread column partials */
    /* float wrappers (allocated on first use) */
    double *Pd, *Gd, *Dd; /* (nmax, nmax) each */
    int last_n;     /* n of the last forward_f (0: none) */
    double bound;   /* linear-step scaling bound */
    int solver;     /* SK_SINKHORN_SOLVER_* */
    int log_iters;  /* log-domain iterations of the last forward */
};

sk_sinkhorn_opts sk_sinkhorn_opts_default(void)
{
    sk_sinkhorn_opts o = {1.0, 20, 1.0};
    return o;
}

sk_sinkhorn_ws *sk_sinkhorn_ws_new(int nmax)
{
    if (nmax < 1) {
        sk_err(SK_EINVAL, "sk_sinkhorn_ws_new: nmax must be >= 1 (got %d)", nmax);
        return NULL;
    }
    sk_sinkhorn_ws *ws = sk_alloc(sizeof *ws);
    if (!ws) return NULL;
    size_t n = (size_t)nmax;
    ws->nmax = nmax;
    ws->bound = SK_SH_SCALE_MAX;
    ws->A = sk_alloc_n(n * n, sizeof(double));
    ws->vec = sk_alloc_n(24 * n, sizeof(double));
    ws->ivec = sk_alloc_n(n, sizeof(int));
    ws->part = sk_alloc_n(2 * SK_SH_MAXT * n, sizeof(double));
    if (!ws->A || !ws->vec || !ws->ivec || !ws->part) {
        sk_sinkhorn_ws_free(ws);
        return NULL;
    }
    return ws;
}

void sk_sinkhorn_ws_free(sk_sinkhorn_ws *ws)
{
    if (!ws) return;
    sk_free(ws->A);
    sk_free(ws->vec);
    sk_free(ws->ivec);
    sk_free(ws->part);
    sk_free(ws->Pd);
    sk_free(ws->Gd);
    sk_free(ws->Dd);
    sk_free(ws);
}

sk_status sk_sinkhorn_ws_set_linear_bound(sk_sinkhorn_ws *ws, double bound)
{
    if (!ws || !(bound > 1) || !isfinite(bound))
        return sk_err(SK_EINVAL, "sk_sinkhorn_ws_set_linear_bound: need a workspace and a "
                                 "finite bound > 1 (got %g)", bound);
    ws->bound = bound;
    return SK_OK;
}

sk_status sk_sinkhorn_ws_set_solver(sk_sinkhorn_ws *ws, int solver)
{
    if (!ws || (solver != SK_SINKHORN_SOLVER_AUTO && solver != SK_SINKHORN_SOLVER_CHOLESKY))
        return sk_err(SK_EINVAL, "sk_sinkhorn_ws_set_solver: need a workspace and "
                                 "SK_SINKHORN_SOLVER_AUTO or _CHOLESKY (got %d)", solver);
    ws->solver = solver;
    return SK_OK;
}

int sk_sinkhorn_ws_log_iterations(const sk_sinkhorn_ws *ws)
{
    return ws ? ws->log_iters : 0;
}

static sk_status check_opts(const char *fn, int n, const sk_sinkhorn_opts *o)
{
    if (!o) return sk_err(SK_EINVAL, "%s: options are NULL", fn);
    if (n < 1) return sk_err(SK_EINVAL, "%s: n must be >= 1 (got %d)", fn, n);
    if (!(o->tau > 0) || !isfinite(o->tau))
        return sk_err(SK_EINVAL, "%s: sinkhorn tau must be > 0 (got %g)", fn, o->tau);
    if (o->iterations < 1)
        return sk_err(SK_EINVAL, "%s: sinkhorn iterations must be >= 1 (got %d)", fn,
                      o->iterations);
    if (o->scale == 0 || !isfinite(o->scale))
        return sk_err(SK_EINVAL, "%s: sinkhorn scale must be finite and != 0 (got %g)",
                      fn, o->scale);
    return SK_OK;
}

/* ---------------------------------------------------------------- forward */

/* No-trapping-math lets gcc if-convert (vectorise) the final select in
 * sk_exp_nonpos; it changes no result. */
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")

/* exp(x) for x <= 0 (also right up to x = 709), 0 below -708 (the values
 * that would be subnormal are flushed: they are < 1e-307 of a sum >= 1).
 * Range reduction x = k ln2 + r, |r| <= ln2/2, degree-13 Taylor polynomial
 * (truncation < 2e-16 relative), 2^k assembled in the exponent bits. */
static inline double sk_exp_nonpos(double x)
{
    const double shifter = 0x1.8p52;
    double kd = x * 0x1.71547652b82fep0 + shifter;
    uint64_t ki;
    memcpy(&ki, &kd, sizeof ki);
    kd -= shifter;
    double r = x - kd * 0x1.62e42fefa3800p-1; /* ln2 high part (exact k*hi) */
    r = r - kd * 0x1.ef35793c76730p-45;       /* ln2 low part */
    double p = 1.0 / 6227020800.0;            /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t bits = (ki + 1023u) << 52;
    double s;
    memcpy(&s, &bits, sizeof s);
    double y = p * s;
    return x < -708.0 ? 0.0 : y;
}

/* fw_colsum_row: cs[j] += exp(L[j] - cm[j]).
 * fw_row: one row of the row pass: L -= clse; L -= lse(L); cm = max(cm, L);
 * with P != NULL also writes P = exp(L). */
#define SK_FW_KERNELS(SUF, ATTR)                                                      \
    ATTR static void fw_colsum_row_##SUF(const double *restrict L,                    \
                                         const double *restrict cm,                   \
                                         double *restrict cs, int n)                  \
    {                                                                                 \
        _Pragma("omp simd") for (int j = 0; j < n; j++) cs[j] +=                      \
            sk_exp_nonpos(L[j] - cm[j]);                                              \
    }                                                                                 \
    ATTR static void fw_row_##SUF(double *restrict L, const double *restrict clse,    \
                                  double *restrict cm, double *restrict P, int n)     \
    {                                                                                 \
        double m = -INFINITY;                                                         \
        _Pragma("omp simd reduction(max : m)") for (int j = 0; j < n; j++)            \
        {                                                                             \
            double t = L[j] - clse[j];                                                \
            L[j] = t;                                                                 \
            m = t > m ? t : m;                                                        \
        }                                                                             \
        double s = 0;                                                                 \
        _Pragma("omp simd reduction(+ : s)") for (int j = 0; j < n; j++) s +=         \
            sk_exp_nonpos(L[j] - m);                                                  \
        double rl = m + log(s);                                                       \
        _Pragma("omp simd") for (int j = 0; j < n; j++)                               \
        {                                                                             \
            double t = L[j] - rl;                                                     \
            L[j] = t;                                                                 \
            cm[j] = t > cm[j] ? t : cm[j];                                            \
        }                                                                             \
        if (P) {                                                                      \
            _Pragma("omp simd") for (int j = 0; j < n; j++) P[j] = sk_exp_nonpos(L[j]); \
        }                                                                             \
    }                                                                                 \
    ATTR static double fw_dot_##SUF(const double *restrict K, const double *restrict b, \
                                    int n)                                            \
    { /* 16 partial sums: 4 independent vector FMA chains (latency) */             \
        double acc[16] = {0};                                                         \
        int j = 0;                                                                    \
        for (; j + 16 <= n; j += 16) {                                                \
            _Pragma("GCC unroll 16") for (int l = 0; l < 16; l++) acc[l] +=           \
                K[j + l] * b[j + l];                                                  \
        }                                                                             \
        double t = 0;                                                                 \
        for (; j < n; j++) t += K[j] * b[j];                                          \
        for (int l = 0; l < 16; l++) t += acc[l];                                     \
        return t;                                                                     \
    }                                                                                 \
    ATTR static void fw_axpy_##SUF(double a, const double *restrict K,                \
                                   double *restrict acc, int n)                       \
    {                                                                                 \
        _Pragma("omp simd") for (int j = 0; j < n; j++) acc[j] += a * K[j];           \
    }

SK_FW_KERNELS(base, )
#ifdef SK_SH_X86
SK_FW_KERNELS(avx2, __attribute__((target("avx2,fma"))))
#endif
#pragma GCC pop_options

typedef void (*fw_colsum_fn)(const double *restrict, const double *restrict,
                             double *restrict, int);
typedef void (*fw_row_fn)(double *restrict, const double *restrict, double *restrict,
                          double *restrict, int);
typedef double (*fw_dot_fn)(const double *restrict, const double *restrict, int);
typedef void (*fw_axpy_fn)(double, const double *restrict, double *restrict, int);

static int use_avx2(void)
{
#ifdef SK_SH_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* One log-domain iteration on L (n, n): columns, then rows; K = exp(L)
 * into P. On entry the per-thread column maxima cmax_t
 * hold (with their max over threads) the column maxima of L; on exit they
 * hold those of the new L. */
static void log_iter(double *L, int n, int nt, double *cmax_t,
                     double *csum_t, double *cmax, double *clse, double *P)
{
    fw_colsum_fn colsum = fw_colsum_row_base;
    fw_row_fn row = fw_row_base;
#ifdef SK_SH_X86
    if (use_avx2()) {
        colsum = fw_colsum_row_avx2;
        row = fw_row_avx2;
    }
#endif
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = thread_id();
        double *cm = cmax_t + (size_t)t * n, *cs = csum_t + (size_t)t * n;
#pragma omp for schedule(static)
        for (int j = 0; j < n; j++) {
            double m = cmax_t[j];
            for (int q = 1; q < nt; q++) m = fmax(m, cmax_t[(size_t)q * n + j]);
            cmax[j] = m;
        }
        for (int j = 0; j < n; j++) cs[j] = 0;
#pragma omp for schedule(static)
        for (int i = 0; i < n; i++) colsum(L + (size_t)i * n, cmax, cs, n);
#pragma omp for schedule(static)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int q = 0; q < nt; q++) s += csum_t[(size_t)q * n + j];
            clse[j] = cmax[j] + log(s);
        }
        for (int j = 0; j < n; j++) cm[j] = -INFINITY;
#pragma omp for schedule(static)
        for (int i = 0; i < n; i++) row(L + (size_t)i * n, clse, cm, P + (size_t)i * n, n);
    }
}

/* Per-thread column maxima of L for nt threads (all rows in slot 0, the
 * other slots copies). */
static void col_max(const double *L, int n, int nt, double *cmax_t)
{
    for (int j = 0; j < n; j++) cmax_t[j] = -INFINITY;
    for (int i = 0; i < n; i++) {
        const double *l = L + (size_t)i * n;
#pragma omp simd
        for (int j = 0; j < n; j++) cmax_t[j] = l[j] > cmax_t[j] ? l[j] : cmax_t[j];
    }
    for (int q = 1; q < nt; q++)
        memcpy(cmax_t + (size_t)q * n, cmax_t, (size_t)n * sizeof(double));
}

/* y = 1 / s when every s is in [1/bound, bound]; returns 0 (y untouched)
 * otherwise (also for NaN). */
static int recip_ok(const double *s, int n, double bound, double *y)
{
    int ok = 1;
    for (int j = 0; j < n; j++) ok &= s[j] >= 1.0 / bound && s[j] <= bound;
    if (!ok) return 0;
    for (int j = 0; j < n; j++) y[j] = 1.0 / s[j];
    return 1;
}

/* L_ij += log a_i + log b_j, then a = b = 1. */
static void absorb(double *L, int n, double *a, double *b, double *la)
{
    for (int i = 0; i < n; i++) la[i] = log(a[i]);
    for (int j = 0; j < n; j++) b[j] = log(b[j]);
    for (int i = 0; i < n; i++) {
        double *l = L + (size_t)i * n;
        double ai = la[i];
#pragma omp simd
        for (int j = 0; j < n; j++) l[j] += ai + b[j];
    }
    for (int j = 0; j < n; j++) a[j] = b[j] = 1;
}

/* OpenMP threads for the log-domain passes. Only for large n: the linear
 * steps are single-threaded and memory-bound, normally only the first
 * iteration is in the log domain, and an OpenMP region next to OpenBLAS's
 * spinning threads (the backward) costs more than it saves at small n. */
#define SK_SH_OMP_MIN 1024
static int forward_threads(int n)
{
    int nt = sk_threads_get();
    if (nt > SK_SH_MAXT) nt = SK_SH_MAXT;
    if (nt < 1 || n < SK_SH_OMP_MIN) nt = 1;
    return nt;
}

/* acc = K^T sa (row sweep). */
static void lin_colsum(const double *K, const double *sa, int n, double *acc,
                       fw_axpy_fn axpy)
{
    for (int j = 0; j < n; j++) acc[j] = 0;
    for (int i = 0; i < n; i++) axpy(sa[i], K + (size_t)i * n, acc, n);
}

sk_status sk_sinkhorn_forward_ws(sk_sinkhorn_ws *ws, const double *X, int n,
                                 const sk_sinkhorn_opts *o, double *P)
{
    sk_status st = check_opts("sk_sinkhorn_forward", n, o);
    if (st) return st;
    if (!X || !P) return sk_err(SK_EINVAL, "sk_sinkhorn_forward: NULL matrix");
    sk_sinkhorn_ws *own = NULL;
    if (!ws || ws->nmax < n) {
        if (ws)
            return sk_err(SK_EINVAL,
                          "sk_sinkhorn_forward: workspace made for n <= %d, got n = %d",
                          ws->nmax, n);
        own = ws = sk_sinkhorn_ws_new(n);
        if (!ws) return SK_ENOMEM;
    }
    int nt = forward_threads(n);
    double *cmax_t = ws->part, *csum_t = ws->part + (size_t)SK_SH_MAXT * n;
    double *cmax = ws->vec, *clse = cmax + n, *sa = clse + n, *sb = sa + n, *tmp = sb + n;
    double *acc = tmp + n; /* tmp: scratch for absorb() */
    double *L = ws->A;
    double f = o->scale / o->tau;
    int bad = 0;
    for (size_t i = 0; i < (size_t)n * n; i++) {
        double v = f * X[i];
        bad |= !isfinite(v);
        L[i] = v;
    }
    if (bad) {
        st = sk_err(SK_EINVAL,
                    "sk_sinkhorn_forward: scale*X/tau has a non-finite entry (n = %d)\n"
                    "HINT: the Sinkhorn parameters diverged; lower the learning rate", n);
        goto cleanup;
    }
    /* First iteration in the log domain (K = exp(L) into P), then linear
     * steps P = diag(sa) K diag(sb). One sweep over K per iteration: the
     * row step (sa = 1 / (K sb)) of iteration k also accumulates K^T sa for
     * the column step of iteration k+1. A half-step whose scalings would
     * leave the safe range is redone in the log domain after absorbing sa,
     * sb into L. X is not read after this. */
    fw_dot_fn dot = fw_dot_base;
    fw_axpy_fn axpy = fw_axpy_base;
#ifdef SK_SH_X86
    if (use_avx2()) {
        dot = fw_dot_avx2;
        axpy = fw_axpy_avx2;
    }
#endif
    const double bound = ws->bound;
    ws->log_iters = 1;
    col_max(L, n, nt, cmax_t);
    log_iter(L, n, nt, cmax_t, csum_t, cmax, clse, P);
    for (int j = 0; j < n; j++) sa[j] = sb[j] = 1;
    int scaled = 0;    /* sa, sb differ from 1 */
    int acc_ok = 0;    /* acc = K^T sa is up to date */
    for (int k = 1; k < o->iterations; k++) {
        /* columns: sb = 1 / (K^T sa) */
        if (!acc_ok) lin_colsum(P, sa, n, acc, axpy);
        if (!recip_ok(acc, n, bound, sb)) {
            ws->log_iters++;
            if (scaled) absorb(L, n, sa, sb, tmp);
            col_max(L, n, nt, cmax_t);
            log_iter(L, n, nt, cmax_t, csum_t, cmax, clse, P);
            scaled = acc_ok = 0;
            continue;
        }
        scaled = 1;
        /* rows: sa = 1 / (K sb), and acc = K^T sa for the next iteration.
         * No range check needed: every absorption ends with a log-domain row
         * pass, so the rows of K sum to 1 and (K sb)_i lies between min sb
         * and max sb, inside [1/bound, bound] by the column check. */
        int more = k + 1 < o->iterations;
        if (more)
            for (int j = 0; j < n; j++) acc[j] = 0;
        for (int i = 0; i < n; i++) {
            const double *kr = P + (size_t)i * n;
            double ai = 1.0 / dot(kr, sb, n);
            sa[i] = ai;
            if (more) axpy(ai, kr, acc, n);
        }
        acc_ok = more;
    }
    if (scaled)
        for (int i = 0; i < n; i++) {
            double *p = P + (size_t)i * n;
            double ai = sa[i];
#pragma omp simd
            for (int j = 0; j < n; j++) p[j] = ai * p[j] * sb[j];
        }
cleanup:
    sk_sinkhorn_ws_free(own);
    return st;
}

sk_status sk_sinkhorn_forward(const double *X, int n, const sk_sinkhorn_opts *o,
                              double *P)
{
    return sk_sinkhorn_forward_ws(NULL, X, n, o, P);
}

/* --------------------------------------------------------------- backward */

/* First pass: r = P 1, c = P^T 1, ga = Ghat 1, gc = Ghat^T 1 with
 * Ghat = -(1/tau) G .* P. Returns nonzero when P or G is invalid. */
static int bw_sums(const double *P, const double *G, int n, double itau, double *r,
                   double *c, double *ga, double *gc)
{
    int bad = 0;
    for (int j = 0; j < n; j++) c[j] = gc[j] = 0;
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
static sk_status bw_pinv_solve(const double *W, const double *s, const double *d, int n,
                               double *A, const double *b, double *lam, double *y,
                               double *v, int *dropped)
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
        return sk_err(SK_ENUMERIC,
                      "sinkhorn backward: fallback eigen-decomposition failed (dsyevd info %d, n = %d)",
                      (int)info, n);
    double lmax = 0;
    for (int k = 0; k < n; k++) lmax = fmax(lmax, fabs(lam[k]));
    double tol = 16.0 * n * DBL_EPSILON * lmax;
    for (int j = 0; j < n; j++) y[j] = s[j] * b[j];
    for (int j = 0; j < n; j++) v[j] = 0;
    int drop = 0;
    for (int k = 0; k < n; k++) {
        const double *q = A + (size_t)k * n; /* column k (col-major) */
        if (!(lam[k] > tol)) {
            drop++;
            continue;
        }
        double dot = 0;
        for (int j = 0; j < n; j++) dot += q[j] * y[j];
        dot /= lam[k];
        for (int j = 0; j < n; j++) v[j] += dot * q[j];
    }
    for (int j = 0; j < n; j++) v[j] *= s[j];
    *dropped = drop;
    return SK_OK;
}

/* Matrix-free S x = c .* x - P^T ((P x) ./ r): one sweep over P. */
static void bw_schur_apply(const double *P, const double *r, const double *c, int n,
                           const double *x, double *out, fw_dot_fn dot, fw_axpy_fn axpy)
{
    for (int j = 0; j < n; j++) out[j] = 0;
    for (int i = 0; i < n; i++) {
        const double *p = P + (size_t)i * n;
        axpy(-dot(p, x, n) / r[i], p, out, n);
    }
    for (int j = 0; j < n; j++) out[j] += c[j] * x[j];
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
static int bw_pcg(const double *P, const double *r, const double *c, int n,
                  const double *b, double *x, double *tmp /* (5n) */, int *iters)
{
    fw_dot_fn dot = fw_dot_base;
    fw_axpy_fn axpy = fw_axpy_base;
#ifdef SK_SH_X86
    if (use_avx2()) {
        dot = fw_dot_avx2;
        axpy = fw_axpy_avx2;
    }
#endif
    double *res = tmp, *z = res + n, *p = z + n, *q = p + n, *dinv = q + n;
    /* Preconditioner: the Laplacian diagonal sum_i P_ij (r_i - P_ij) / r_i. */
    for (int j = 0; j < n; j++) dinv[j] = 0;
    for (int i = 0; i < n; i++) {
        const double *pi = P + (size_t)i * n;
        double ir = 1.0 / r[i];
        for (int j = 0; j < n; j++) dinv[j] += pi[j] * (r[i] - pi[j]) * ir;
    }
    /* The matrix-free product c x - P^T (P x / r) loses about
     * eps * c_j / d_j relative accuracy in column j (it is a difference of
     * O(c_j) terms for an O(d_j) result): sharp columns go to Cholesky on
     * the cancellation-free Laplacian form instead. */
    *iters = 0;
    for (int j = 0; j < n; j++)
        if (!(dinv[j] >= SK_SH_CG_MIN_SHARE * c[j])) return 0;
    for (int j = 0; j < n; j++) dinv[j] = 1.0 / dinv[j];
    double bn = 0;
    for (int j = 0; j < n; j++) bn += b[j] * b[j];
    bn = sqrt(bn);
    for (int j = 0; j < n; j++) x[j] = 0;
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
        for (int j = 0; j < n; j++) pq += p[j] * q[j];
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
        for (int j = 0; j < n; j++) p[j] = z[j] + beta * p[j];
    }
    *iters = it;
    /* The recursive residual drifts from the true one: check the latter. */
    bw_schur_apply(P, r, c, n, x, q, dot, axpy);
    double tn = 0;
    for (int j = 0; j < n; j++) tn += (b[j] - q[j]) * (b[j] - q[j]);
    int ok = sqrt(tn) <= SK_SH_CG_TOL * bn;
    for (int j = 0; j < n; j++) ok &= isfinite(x[j]);
    return ok;
}

sk_status sk_sinkhorn_backward_ws(sk_sinkhorn_ws *ws, const double *P, const double *G,
                                  int n, const sk_sinkhorn_opts *o, double *dX,
                                  sk_sinkhorn_stats *stats)
{
    sk_sinkhorn_stats sdummy;
    sk_sinkhorn_stats *sts = stats ? stats : &sdummy;
    memset(sts, 0, sizeof *sts);
    sk_status st = check_opts("sk_sinkhorn_backward", n, o);
    if (st) return st;
    if (!P || !G || !dX) return sk_err(SK_EINVAL, "sk_sinkhorn_backward: NULL matrix");
    if (n == 1) { /* P = [1] whatever X is */
        sts->rcond = 1;
        dX[0] = 0;
        return SK_OK;
    }
    sk_sinkhorn_ws *own = NULL;
    if (!ws || ws->nmax < n) {
        if (ws)
            return sk_err(SK_EINVAL,
                          "sk_sinkhorn_backward: workspace made for n <= %d, got n = %d",
                          ws->nmax, n);
        own = ws = sk_sinkhorn_ws_new(n);
        if (!ws) return SK_ENOMEM;
    }
    const double itau = 1.0 / o->tau;
    const int n1 = n - 1;
    double *r = ws->vec, *c = r + n, *ga = c + n, *gc = ga + n, *b = gc + n;
    double *d = b + n, *s = d + n, *v = s + n, *u = v + n, *y = u + n, *lam = y + n;
    double *work = lam + n; /* 3n for dpocon */
    double *cgtmp = work + 3 * n; /* 5n */
    double *A = ws->A, *W = dX; /* W = P^T diag(1/r) P lives in dX until the end */

    if (bw_sums(P, G, n, itau, r, c, ga, gc)) {
        st = sk_err(SK_EINVAL,
                    "sk_sinkhorn_backward: P must be finite, >= 0, with positive row sums, "
                    "and G finite (n = %d)", n);
        goto cleanup;
    }
    /* b = Ghat^T 1 - P^T diag(1/r) Ghat 1 */
    for (int i = 0; i < n; i++) y[i] = ga[i] / r[i];
    cblas_dgemv(CblasRowMajor, CblasTrans, n, n, 1.0, P, n, y, 1, 0.0, b, 1);
    for (int j = 0; j < n; j++) b[j] = gc[j] - b[j];
    if (ws->solver == SK_SINKHORN_SOLVER_AUTO &&
        bw_pcg(P, r, c, n, b, v, cgtmp, &sts->cg_iterations)) {
        sts->method = SK_SINKHORN_SOLVER_AUTO;
        goto solved;
    }
    sts->method = SK_SINKHORN_SOLVER_CHOLESKY;
    /* Q = diag(r^-1/2) P into A; W = Q^T Q (upper triangle, row-major). */
    for (int i = 0; i < n; i++) {
        double f = 1.0 / sqrt(r[i]);
        const double *p = P + (size_t)i * n;
        double *q = A + (size_t)i * n;
        for (int j = 0; j < n; j++) q[j] = f * p[j];
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, n, 1.0, A, n, 0.0, W, n);
    /* Laplacian diagonal d_j = sum_{k != j} W_jk (equals c_j - W_jj in exact
     * arithmetic, without the cancellation). */
    for (int j = 0; j < n; j++) d[j] = 0;
    for (int j = 0; j < n; j++) {
        const double *w = W + (size_t)j * n;
        double acc = 0;
        for (int k = j + 1; k < n; k++) {
            acc += w[k];
            d[k] += w[k];
        }
        d[j] += acc;
    }
    for (int j = 0; j < n; j++) s[j] = d[j] > 0 ? 1.0 / sqrt(d[j]) : 1.0;
    /* Grounded, Jacobi-scaled system S' (n1 x n1) into A with leading dim n1.
     * Symmetric: fill both triangles, so row/column-major do not matter. */
    double anorm = 0;
    for (int j = 0; j < n1; j++) work[j] = 0;
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
    for (int j = 0; j < n1; j++) anorm = fmax(anorm, work[j]);
    int fallback = 0;
    lapack_int info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', n1, A, n1);
    sts->potrf_info = (int)info;
    if (info < 0) {
        st = sk_err(SK_ENUMERIC, "sinkhorn backward: dpotrf argument error %d", (int)info);
        goto cleanup;
    }
    if (info > 0) {
        fallback = 1;
    } else {
        double rc = 0;
        info = LAPACKE_dpocon_work(LAPACK_COL_MAJOR, 'L', n1, A, n1, anorm, &rc, work,
                                   ws->ivec);
        sts->rcond = rc;
        if (info != 0 || !(rc >= SK_SINKHORN_RCOND_MIN)) fallback = 1;
    }
    if (!fallback) {
        for (int j = 0; j < n1; j++) v[j] = s[j] * b[j];
        info = LAPACKE_dpotrs_work(LAPACK_COL_MAJOR, 'L', n1, 1, A, n1, v, n1);
        if (info != 0) {
            st = sk_err(SK_ENUMERIC, "sinkhorn backward: dpotrs failed (info %d)", (int)info);
            goto cleanup;
        }
        for (int j = 0; j < n1; j++) v[j] *= s[j];
        v[n1] = 0;
        for (int j = 0; j < n; j++)
            if (!isfinite(v[j])) fallback = 1;
    }
    if (fallback) {
        sts->fallback = 1;
        sts->method = SK_SINKHORN_SOLVER_PINV;
        st = bw_pinv_solve(W, s, d, n, A, b, lam, y, v, &sts->dropped);
        if (st) goto cleanup;
    }
solved:
    /* u = diag(1/r)(Ghat 1 - P v) */
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, n, 1.0, P, n, v, 1, 0.0, u, 1);
    for (int i = 0; i < n; i++) u[i] = (ga[i] - u[i]) / r[i];
    /* dX = -scale dC, dC = Ghat - P .* (u 1^T + 1 v^T) = -P .* (G/tau + u + v) */
    const double sc = o->scale;
    for (int i = 0; i < n; i++) {
        const double *p = P + (size_t)i * n, *g = G + (size_t)i * n;
        double *dx = dX + (size_t)i * n;
        double ui = u[i];
#pragma omp simd
        for (int j = 0; j < n; j++) dx[j] = sc * p[j] * (itau * g[j] + ui + v[j]);
    }
cleanup:
    sk_sinkhorn_ws_free(own);
    return st;
}

sk_status sk_sinkhorn_backward(const double *P, const double *G, int n,
                               const sk_sinkhorn_opts *o, double *dX)
{
    return sk_sinkhorn_backward_ws(NULL, P, G, n, o, dX, NULL);
}

/* ---------------------------------------------------- dense KKT reference */

sk_status sk_sinkhorn_backward_dense(const double *P, const double *G, int n,
                                     const sk_sinkhorn_opts *o, double *dX)
{
    sk_status st = check_opts("sk_sinkhorn_backward_dense", n, o);
    if (st) return st;
    if (n == 1) {
        dX[0] = 0;
        return SK_OK;
    }
    const double itau = 1.0 / o->tau;
    int m = 2 * n - 1;
    double *M = sk_alloc_n((size_t)m * m, sizeof(double));
    double *vec = sk_alloc_n(6 * (size_t)n, sizeof(double));
    lapack_int *piv = sk_alloc_n((size_t)m, sizeof(lapack_int));
    if (!M || !vec || !piv) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    double *r = vec, *c = r + n, *ga = c + n, *gc = ga + n, *x = gc + n; /* x: 2n */
    if (bw_sums(P, G, n, itau, r, c, ga, gc)) {
        st = sk_err(SK_EINVAL, "sk_sinkhorn_backward_dense: invalid P or G");
        goto cleanup;
    }
    /* [diag(r) P[:, :n-1]; P[:, :n-1]^T diag(c[:n-1])] (row-major) */
    for (int i = 0; i < n; i++) {
        M[(size_t)i * m + i] = r[i];
        for (int j = 0; j < n - 1; j++) {
            M[(size_t)i * m + n + j] = P[(size_t)i * n + j];
            M[(size_t)(n + j) * m + i] = P[(size_t)i * n + j];
        }
        x[i] = ga[i];
    }
    for (int j = 0; j < n - 1; j++) {
        M[(size_t)(n + j) * m + n + j] = c[j];
        x[n + j] = gc[j];
    }
    lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, m, 1, M, m, piv, x, 1);
    if (info != 0) {
        st = sk_err(SK_ENUMERIC,
                    "sk_sinkhorn_backward_dense: singular KKT matrix (dgesv info %d, n = %d)",
                    (int)info, n);
        goto cleanup;
    }
    x[2 * n - 1] = 0; /* v_{n-1} */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            dX[(size_t)i * n + j] = o->scale * P[(size_t)i * n + j] *
                                    (itau * G[(size_t)i * n + j] + x[i] + x[n + j]);
cleanup:
    sk_free(M);
    sk_free(vec);
    sk_free(piv);
    return st;
}

/* ----------------------------------------------------------- float wrappers */

static sk_status ws_float_bufs(sk_sinkhorn_ws *ws, int n, const char *fn)
{
    if (!ws) return sk_err(SK_EINVAL, "%s: a workspace is required", fn);
    if (n > ws->nmax)
        return sk_err(SK_EINVAL, "%s: workspace made for n <= %d, got n = %d", fn, ws->nmax,
                      n);
    size_t nn = (size_t)ws->nmax * ws->nmax;
    if (!ws->Pd) ws->Pd = sk_alloc_n(nn, sizeof(double));
    if (!ws->Gd) ws->Gd = sk_alloc_n(nn, sizeof(double));
    if (!ws->Dd) ws->Dd = sk_alloc_n(nn, sizeof(double));
    if (!ws->Pd || !ws->Gd || !ws->Dd) return SK_ENOMEM;
    return SK_OK;
}

sk_status sk_sinkhorn_forward_f(sk_sinkhorn_ws *ws, const float *X, int n,
                                const sk_sinkhorn_opts *o, float *P)
{
    sk_status st = ws_float_bufs(ws, n, "sk_sinkhorn_forward_f");
    if (st) return st;
    ws->last_n = 0;
    size_t nn = (size_t)n * n;
    for (size_t i = 0; i < nn; i++) ws->Pd[i] = X[i];
    st = sk_sinkhorn_forward_ws(ws, ws->Pd, n, o, ws->Pd);
    if (st) return st;
    for (size_t i = 0; i < nn; i++) P[i] = (float)ws->Pd[i];
    ws->last_n = n;
    return SK_OK;
}

sk_status sk_sinkhorn_backward_f(sk_sinkhorn_ws *ws, const float *G, int n,
                                 const sk_sinkhorn_opts *o, float *dX,
                                 sk_sinkhorn_stats *stats)
{
    sk_status st = ws_float_bufs(ws, n, "sk_sinkhorn_backward_f");
    if (st) return st;
    if (ws->last_n != n)
        return sk_err(SK_EINVAL,
                      "sk_sinkhorn_backward_f: no forward_f of size %d on this workspace "
                      "(last: %d)", n, ws->last_n);
    size_t nn = (size_t)n * n;
    for (size_t i = 0; i < nn; i++) ws->Gd[i] = G[i];
    st = sk_sinkhorn_backward_ws(ws, ws->Pd, ws->Gd, n, o, ws->Dd, stats);
    if (st) return st;
    for (size_t i = 0; i < nn; i++) dX[i] = (float)ws->Dd[i];
    return SK_OK;
}
