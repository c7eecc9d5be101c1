/* sinkhorn.c - Sinkhorn operator: options, workspace and the float
 * wrappers. The forward is in sinkhorn_fwd.c, the implicit backward in
 * sinkhorn_bwd.c. See sinkhorn.h and doc/algorithms.md section 7.
 *
 * Dimension letters: n = group size; all matrices (n, n) row-major double. */
#include "config.h"

#include "rebasin/sinkhorn_impl.h"

#include <math.h>

#include "core/err.h"
#include "core/mem.h"

/* Linear-domain scaling bound: a half-step is taken in the linear domain
 * only when every new scaling lies in [e^-30, e^30]. Entries of K = exp(L)
 * that underflowed at the last absorption are then below e^(60-708) of the
 * plan's row sums: the linear iterate equals the log-domain one to rounding. */
#define SK_SH_SCALE_MAX 1e13 /* ~e^30 */

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
    /* ws->vec: vectors of the call's n doubles, carved afresh by each call
     * (one workspace never serves a forward and a backward at once), so its
     * size is the larger carve, the backward's 19:
     *   forward, 6: cmax, clse (column maxima and logsumexps), sa, sb (row
     *     and column scalings), tmp (absorb()'s log a), acc (K^T sa);
     *   backward, 19 (bw_vecs): r, c, ga, gc (row and column sums of P and
     *     Ghat), b (right-hand side), d, s (Laplacian diagonal, Jacobi
     *     scaling), v, u (multipliers), y (scratch), lam (eigenvalues),
     *     then 3 for dpocon's work and 5 for PCG's res, z, p, q, dinv.
     * PCG's and Cholesky's scratch could overlap (15), but moving a slice
     * changes its alignment and with it OpenBLAS's results in the last bit. */
    ws->vec = sk_alloc_n(19 * n, sizeof(double));
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
        return sk_err(SK_EINVAL,
                      "sk_sinkhorn_ws_set_linear_bound: need a workspace and a "
                      "finite bound > 1 (got %g)",
                      bound);
    ws->bound = bound;
    return SK_OK;
}

sk_status sk_sinkhorn_ws_set_solver(sk_sinkhorn_ws *ws, int solver)
{
    if (!ws || (solver != SK_SINKHORN_SOLVER_AUTO && solver != SK_SINKHORN_SOLVER_CHOLESKY))
        return sk_err(SK_EINVAL,
                      "sk_sinkhorn_ws_set_solver: need a workspace and "
                      "SK_SINKHORN_SOLVER_AUTO or _CHOLESKY (got %d)",
                      solver);
    ws->solver = solver;
    return SK_OK;
}

int sk_sinkhorn_ws_log_iterations(const sk_sinkhorn_ws *ws)
{
    return ws ? ws->log_iters : 0;
}

sk_status sk_sh_check_opts(const char *fn, int n, const sk_sinkhorn_opts *o)
{
    if (!o) return sk_err(SK_EINVAL, "%s: options are NULL", fn);
    if (n < 1) return sk_err(SK_EINVAL, "%s: n must be >= 1 (got %d)", fn, n);
    if (!(o->tau > 0) || !isfinite(o->tau))
        return sk_err(SK_EINVAL, "%s: sinkhorn tau must be > 0 (got %g)", fn, o->tau);
    if (o->iterations < 1) return sk_err(SK_EINVAL, "%s: sinkhorn iterations must be >= 1 (got %d)", fn, o->iterations);
    if (o->scale == 0 || !isfinite(o->scale))
        return sk_err(SK_EINVAL, "%s: sinkhorn scale must be finite and != 0 (got %g)", fn, o->scale);
    return SK_OK;
}

/* SK_EINVAL when ws was made for a smaller n. */
static sk_status ws_fits(const char *fn, const sk_sinkhorn_ws *ws, int n)
{
    if (n > ws->nmax) return sk_err(SK_EINVAL, "%s: workspace made for n <= %d, got n = %d", fn, ws->nmax, n);
    return SK_OK;
}

sk_status sk_sh_ws_acquire(const char *fn, int n, sk_sinkhorn_ws **ws, sk_sinkhorn_ws **own)
{
    *own = NULL;
    if (*ws) return ws_fits(fn, *ws, n);
    *own = *ws = sk_sinkhorn_ws_new(n);
    return *ws ? SK_OK : SK_ENOMEM;
}

/* ----------------------------------------------------------- float wrappers */

static sk_status ws_float_bufs(sk_sinkhorn_ws *ws, int n, const char *fn)
{
    if (!ws) return sk_err(SK_EINVAL, "%s: a workspace is required", fn);
    sk_status st = ws_fits(fn, ws, n);
    if (st) return st;
    size_t nn = (size_t)ws->nmax * ws->nmax;
    if (!ws->Pd) ws->Pd = sk_alloc_n(nn, sizeof(double));
    if (!ws->Gd) ws->Gd = sk_alloc_n(nn, sizeof(double));
    if (!ws->Dd) ws->Dd = sk_alloc_n(nn, sizeof(double));
    if (!ws->Pd || !ws->Gd || !ws->Dd) return SK_ENOMEM;
    return SK_OK;
}

sk_status sk_sinkhorn_forward_f(sk_sinkhorn_ws *ws, const float *X, int n, const sk_sinkhorn_opts *o, float *P)
{
    sk_status st = ws_float_bufs(ws, n, "sk_sinkhorn_forward_f");
    if (st) return st;
    ws->last_n = 0;
    size_t nn = (size_t)n * n;
    for (size_t i = 0; i < nn; i++)
        ws->Pd[i] = X[i];
    st = sk_sinkhorn_forward_ws(ws, ws->Pd, n, o, ws->Pd);
    if (st) return st;
    for (size_t i = 0; i < nn; i++)
        P[i] = (float)ws->Pd[i];
    ws->last_n = n;
    return SK_OK;
}

sk_status sk_sinkhorn_backward_f(sk_sinkhorn_ws *ws, const float *G, int n, const sk_sinkhorn_opts *o, float *dX,
                                 sk_sinkhorn_stats *stats)
{
    sk_status st = ws_float_bufs(ws, n, "sk_sinkhorn_backward_f");
    if (st) return st;
    if (ws->last_n != n)
        return sk_err(SK_EINVAL,
                      "sk_sinkhorn_backward_f: no forward_f of size %d on this workspace "
                      "(last: %d)",
                      n, ws->last_n);
    size_t nn = (size_t)n * n;
    for (size_t i = 0; i < nn; i++)
        ws->Gd[i] = G[i];
    st = sk_sinkhorn_backward_ws(ws, ws->Pd, ws->Gd, n, o, ws->Dd, stats);
    if (st) return st;
    for (size_t i = 0; i < nn; i++)
        dX[i] = (float)ws->Dd[i];
    return SK_OK;
}
