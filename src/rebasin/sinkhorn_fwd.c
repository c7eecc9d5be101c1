/* sinkhorn_fwd.c - Sinkhorn forward (log domain, with linear steps).
 * See sinkhorn.h and doc/algorithms.md section 7.
 *
 * Dimension letters: n = group size; all matrices (n, n) row-major double.
 *
 * Forward speed: the log-domain iteration costs two exp per entry per
 * iteration. exp is a branch-free polynomial (sk_exp_nonpos, <= 2 ulp for
 * arguments <= 0) so that `omp simd` loops vectorise; the row kernels are
 * compiled for AVX2+FMA and baseline x86-64 (chosen at run time).
 * Two sweeps over L per iteration, rows split between the OpenMP threads with
 * the same static schedule in both sweeps (each core keeps its rows in L2):
 *   sweep 1: per-column sum of exp(L - colmax) (per-thread partials)
 *   sweep 2: per row: L -= column lse; row lse; L -= row lse; and the column
 *            maxima for the next iteration (per-thread partials). */
#include "config.h"

#include "rebasin/sinkhorn_impl.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/blas.h"
#include "core/err.h"

/* The row kernels are built twice on x86-64 (AVX2+FMA and baseline) and
 * chosen at run time; gcc's target_clones("arch=...") did not vectorise. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SK_SH_X86 1
#endif

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
#define SK_FW_KERNELS(SUF, ATTR)                                                                                       \
    ATTR static void fw_colsum_row_##SUF(const double *restrict L, const double *restrict cm, double *restrict cs,     \
                                         int n)                                                                        \
    {                                                                                                                  \
        _Pragma("omp simd") for (int j = 0; j < n; j++) cs[j] += sk_exp_nonpos(L[j] - cm[j]);                          \
    }                                                                                                                  \
    ATTR static void fw_row_##SUF(double *restrict L, const double *restrict clse, double *restrict cm,                \
                                  double *restrict P, int n)                                                           \
    {                                                                                                                  \
        double m = -INFINITY;                                                                                          \
        _Pragma("omp simd reduction(max : m)") for (int j = 0; j < n; j++)                                             \
        {                                                                                                              \
            double t = L[j] - clse[j];                                                                                 \
            L[j] = t;                                                                                                  \
            m = t > m ? t : m;                                                                                         \
        }                                                                                                              \
        double s = 0;                                                                                                  \
        _Pragma("omp simd reduction(+ : s)") for (int j = 0; j < n; j++) s += sk_exp_nonpos(L[j] - m);                 \
        double rl = m + log(s);                                                                                        \
        _Pragma("omp simd") for (int j = 0; j < n; j++)                                                                \
        {                                                                                                              \
            double t = L[j] - rl;                                                                                      \
            L[j] = t;                                                                                                  \
            cm[j] = t > cm[j] ? t : cm[j];                                                                             \
        }                                                                                                              \
        if (P) {                                                                                                       \
            _Pragma("omp simd") for (int j = 0; j < n; j++) P[j] = sk_exp_nonpos(L[j]);                                \
        }                                                                                                              \
    }                                                                                                                  \
    ATTR static double fw_dot_##SUF(const double *restrict K, const double *restrict b, int n)                         \
    { /* 16 partial sums: 4 independent vector FMA chains (latency) */                                                 \
        double acc[16] = {0};                                                                                          \
        int j = 0;                                                                                                     \
        for (; j + 16 <= n; j += 16) {                                                                                 \
            _Pragma("GCC unroll 16") for (int l = 0; l < 16; l++) acc[l] += K[j + l] * b[j + l];                       \
        }                                                                                                              \
        double t = 0;                                                                                                  \
        for (; j < n; j++)                                                                                             \
            t += K[j] * b[j];                                                                                          \
        for (int l = 0; l < 16; l++)                                                                                   \
            t += acc[l];                                                                                               \
        return t;                                                                                                      \
    }                                                                                                                  \
    ATTR static void fw_axpy_##SUF(double a, const double *restrict K, double *restrict acc, int n)                    \
    {                                                                                                                  \
        _Pragma("omp simd") for (int j = 0; j < n; j++) acc[j] += a * K[j];                                            \
    }

SK_FW_KERNELS(base, )
#ifdef SK_SH_X86
SK_FW_KERNELS(avx2, __attribute__((target("avx2,fma"))))
#endif
#pragma GCC pop_options

typedef void (*fw_colsum_fn)(const double *restrict, const double *restrict, double *restrict, int);
typedef void (*fw_row_fn)(double *restrict, const double *restrict, double *restrict, double *restrict, int);

static int use_avx2(void)
{
#ifdef SK_SH_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

void sk_sh_vec_kernels(sk_sh_dot_fn *dot, sk_sh_axpy_fn *axpy)
{
    *dot = fw_dot_base;
    *axpy = fw_axpy_base;
#ifdef SK_SH_X86
    if (use_avx2()) {
        *dot = fw_dot_avx2;
        *axpy = fw_axpy_avx2;
    }
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
static void log_iter(double *L, int n, int nt, double *cmax_t, double *csum_t, double *cmax, double *clse, double *P)
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
            for (int q = 1; q < nt; q++)
                m = fmax(m, cmax_t[(size_t)q * n + j]);
            cmax[j] = m;
        }
        for (int j = 0; j < n; j++)
            cs[j] = 0;
#pragma omp for schedule(static)
        for (int i = 0; i < n; i++)
            colsum(L + (size_t)i * n, cmax, cs, n);
#pragma omp for schedule(static)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int q = 0; q < nt; q++)
                s += csum_t[(size_t)q * n + j];
            clse[j] = cmax[j] + log(s);
        }
        for (int j = 0; j < n; j++)
            cm[j] = -INFINITY;
#pragma omp for schedule(static)
        for (int i = 0; i < n; i++)
            row(L + (size_t)i * n, clse, cm, P + (size_t)i * n, n);
    }
}

/* Per-thread column maxima of L for nt threads (all rows in slot 0, the
 * other slots copies). */
static void col_max(const double *L, int n, int nt, double *cmax_t)
{
    for (int j = 0; j < n; j++)
        cmax_t[j] = -INFINITY;
    for (int i = 0; i < n; i++) {
        const double *l = L + (size_t)i * n;
#pragma omp simd
        for (int j = 0; j < n; j++)
            cmax_t[j] = l[j] > cmax_t[j] ? l[j] : cmax_t[j];
    }
    for (int q = 1; q < nt; q++)
        memcpy(cmax_t + (size_t)q * n, cmax_t, (size_t)n * sizeof(double));
}

/* y = 1 / s when every s is in [1/bound, bound]; returns 0 (y untouched)
 * otherwise (also for NaN). */
static int recip_ok(const double *s, int n, double bound, double *y)
{
    int ok = 1;
    for (int j = 0; j < n; j++)
        ok &= s[j] >= 1.0 / bound && s[j] <= bound;
    if (!ok) return 0;
    for (int j = 0; j < n; j++)
        y[j] = 1.0 / s[j];
    return 1;
}

/* L_ij += log a_i + log b_j, then a = b = 1. */
static void absorb(double *L, int n, double *a, double *b, double *la)
{
    for (int i = 0; i < n; i++)
        la[i] = log(a[i]);
    for (int j = 0; j < n; j++)
        b[j] = log(b[j]);
    for (int i = 0; i < n; i++) {
        double *l = L + (size_t)i * n;
        double ai = la[i];
#pragma omp simd
        for (int j = 0; j < n; j++)
            l[j] += ai + b[j];
    }
    for (int j = 0; j < n; j++)
        a[j] = b[j] = 1;
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
static void lin_colsum(const double *K, const double *sa, int n, double *acc, sk_sh_axpy_fn axpy)
{
    for (int j = 0; j < n; j++)
        acc[j] = 0;
    for (int i = 0; i < n; i++)
        axpy(sa[i], K + (size_t)i * n, acc, n);
}

sk_status sk_sinkhorn_forward_ws(sk_sinkhorn_ws *ws, const double *X, int n, const sk_sinkhorn_opts *o, double *P)
{
    sk_status st = sk_sh_check_opts("sk_sinkhorn_forward", n, o);
    if (st) return st;
    if (!X || !P) return sk_err(SK_EINVAL, "sk_sinkhorn_forward: NULL matrix");
    sk_sinkhorn_ws *own;
    st = sk_sh_ws_acquire("sk_sinkhorn_forward", n, &ws, &own);
    if (st) return st;
    int nt = forward_threads(n);
    double *cmax_t = ws->part, *csum_t = ws->part + (size_t)SK_SH_MAXT * n;
    double *cmax = ws->vec, *clse = cmax + n, *sa = clse + n, *sb = sa + n, *tmp = sb + n;
    double *acc = tmp + n; /* tmp: scratch for absorb(); ws->vec layout: sk_sinkhorn_ws_new */
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
                    "HINT: the Sinkhorn parameters diverged; lower the learning rate",
                    n);
        goto cleanup;
    }
    /* First iteration in the log domain (K = exp(L) into P), then linear
     * steps P = diag(sa) K diag(sb). One sweep over K per iteration: the
     * row step (sa = 1 / (K sb)) of iteration k also accumulates K^T sa for
     * the column step of iteration k+1. A half-step whose scalings would
     * leave the safe range is redone in the log domain after absorbing sa,
     * sb into L. X is not read after this. */
    sk_sh_dot_fn dot;
    sk_sh_axpy_fn axpy;
    sk_sh_vec_kernels(&dot, &axpy);
    const double bound = ws->bound;
    ws->log_iters = 1;
    col_max(L, n, nt, cmax_t);
    log_iter(L, n, nt, cmax_t, csum_t, cmax, clse, P);
    for (int j = 0; j < n; j++)
        sa[j] = sb[j] = 1;
    int scaled = 0; /* sa, sb differ from 1 */
    int acc_ok = 0; /* acc = K^T sa is up to date */
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
            for (int j = 0; j < n; j++)
                acc[j] = 0;
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
            for (int j = 0; j < n; j++)
                p[j] = ai * p[j] * sb[j];
        }
cleanup:
    sk_sinkhorn_ws_free(own);
    return st;
}

sk_status sk_sinkhorn_forward(const double *X, int n, const sk_sinkhorn_opts *o, double *P)
{
    return sk_sinkhorn_forward_ws(NULL, X, n, o, P);
}
