/* softperm.c - learnable soft permutations (see softperm.h). */
#include "rebasin/softperm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/blas.h"
#include "core/mem.h"
#include "core/timer.h"
#include "rebasin/lap.h"

const char *const sk_softperm_init_names[] = {[SK_SOFTPERM_INIT_NOISY] = "perturbed-identity",
                                              [SK_SOFTPERM_INIT_IDENTITY] = "identity",
                                              [SK_SOFTPERM_INIT_RANDOM] = "random-permutation"};

struct sk_softperm {
    const sk_perm_spec *s;
    sk_sinkhorn_opts o;
    sk_tset *X, *dX;         /* one (n_g, n_g) tensor per group */
    double **P;              /* (n_g, n_g) plans of the last forward */
    float **Pf;              /* the same in float, for the SGEMMs */
    float **G;               /* (n_g, n_g) d loss / d P_g accumulated in backward */
    double *xd, *gd, *dxd;   /* (nmax, nmax) scratch */
    float *w1, *w2;          /* (max numel) scratch */
    float *cache;            /* (numel of the set) P_a0-applied partials of two-axis tensors */
    const sk_tset *cache_in; /* the set the cache was made from (NULL: invalid) */
    int64_t **hard;          /* buffers' hard perms */
    sk_sinkhorn_ws *ws;
    int nmax, hard_buffers, fallbacks;
    double times[4];
};

/* ---- mode products -------------------------------------------------------- */

/* Tensor t viewed as (O, n, R) along `axis` with units of `block` entries. */
static void mode_view(const sk_tensor *t, int axis, int64_t block, int64_t *O, int64_t *R)
{
    *O = 1;
    *R = block;
    for (int d = 0; d < axis; d++)
        *O *= t->shape[d];
    for (int d = axis + 1; d < t->ndim; d++)
        *R *= t->shape[d];
}

/* Tensor t viewed as (O, n, R) along `axis` with units of `block` entries:
 * out[o] = op(P) in[o] for every o (op(P) = P, or P^T when trans). */
static void mode_apply(const sk_tensor *t, int axis, int64_t block, const float *P, int n, int trans, const float *in,
                       float *out)
{
    int64_t O, R;
    mode_view(t, axis, block, &O, &R);
    if (R == 1) {
        /* out (O, n) = in (O, n) op(P)^T */
        sk_sgemm(0, trans ? 0 : 1, (int)O, n, n, 1.0f, in, n, P, n, 0.0f, out, n);
        return;
    }
    for (int64_t o = 0; o < O; o++)
        sk_sgemm(trans ? 1 : 0, 0, n, (int)R, n, 1.0f, P, n, in + o * n * R, (int)R, 0.0f, out + o * n * R, (int)R);
}

/* dP (n, n) += sum_o G[o] Y[o]^T, both viewed as (O, n, R). */
static void mode_grad(const sk_tensor *t, int axis, int64_t block, int n, const float *G, const float *Y, float *dP)
{
    int64_t O, R;
    mode_view(t, axis, block, &O, &R);
    if (R == 1) {
        sk_sgemm(1, 0, n, n, (int)O, 1.0f, G, n, Y, n, 1.0f, dP, n);
        return;
    }
    for (int64_t o = 0; o < O; o++)
        sk_sgemm(0, 1, n, n, (int)R, 1.0f, G + o * n * R, (int)R, Y + o * n * R, (int)R, 1.0f, dP, n);
}

/* Apply the plans (or their transposes) of every permuted axis of tensor t
 * (index param) except skip_axis, from in into out (w: scratch of numel
 * floats; in, out, w pairwise distinct). mid (or NULL): when exactly two
 * axes are applied, receives the partial result after the first. */
static void apply_axes(const sk_softperm *sp, const sk_tensor *t, int param, int skip_axis, int trans, const float *in,
                       float *out, float *w, float *mid)
{
    const sk_perm_spec *s = sp->s;
    int axes[SK_MAXDIM], k = 0;
    for (int a = 0; a < t->ndim; a++)
        if (a != skip_axis && s->axis_group[param * SK_MAXDIM + a] >= 0) axes[k++] = a;
    if (k == 0) {
        memcpy(out, in, (size_t)t->numel * sizeof(float));
        return;
    }
    const float *src = in;
    for (int j = 0; j < k; j++) {
        float *dst = ((k - 1 - j) % 2 == 0) ? out : w; /* the last product lands in out */
        if (mid && k == 2 && j == 0) dst = mid;        /* keep P_a0-applied partial for the backward */
        int a = axes[j], g = s->axis_group[param * SK_MAXDIM + a];
        mode_apply(t, a, s->axis_block[param * SK_MAXDIM + a], sp->Pf[g], (int)s->groups[g].size, trans, src, dst);
        src = dst;
    }
}

/* ---- lifetime ---------------------------------------------------------------- */

sk_status sk_softperm_new(const sk_perm_spec *s, sk_softperm_init init, sk_rng *rng, const sk_sinkhorn_opts *o,
                          sk_softperm **out)
{
    sk_status st = SK_OK;
    *out = NULL;
    if (init < 0 || init > 2) return sk_err(SK_EINVAL, "sk_softperm_new: unknown init %d (0, 1 or 2)", init);
    if (init != SK_SOFTPERM_INIT_IDENTITY && !rng)
        return sk_err(SK_EINVAL, "sk_softperm_new: init %d needs an rng", init);
    sk_softperm *sp = sk_alloc(sizeof *sp);
    if (!sp) return SK_ENOMEM;
    sp->s = s;
    sp->o = o ? *o : sk_sinkhorn_opts_default();
    sp->hard_buffers = 1;
    int ng = s->n_groups;
    sp->X = sk_tset_new();
    sp->P = sk_alloc_n((size_t)ng + 1, sizeof(double *));
    sp->Pf = sk_alloc_n((size_t)ng + 1, sizeof(float *));
    sp->G = sk_alloc_n((size_t)ng + 1, sizeof(float *));
    if (!sp->X || !sp->P || !sp->Pf || !sp->G) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int g = 0; g < ng; g++) {
        char name[SK_NAME_MAX + 8];
        int64_t n = s->groups[g].size, shape[2] = {n, n};
        if (n > 46340) {
            st = sk_err(SK_EINVAL, "sk_softperm_new: group %s too large (%lld units)", s->groups[g].name, (long long)n);
            goto cleanup;
        }
        if (snprintf(name, sizeof name, "X.%s", s->groups[g].name) >= SK_NAME_MAX) {
            st = sk_err(SK_EINVAL, "sk_softperm_new: group name %s too long", s->groups[g].name);
            goto cleanup;
        }
        if (sk_tset_add(sp->X, name, 2, shape) < 0) {
            st = SK_EINVAL;
            goto cleanup;
        }
        if (n > sp->nmax) sp->nmax = (int)n;
        sp->P[g] = sk_alloc_n((size_t)(n * n), sizeof(double));
        sp->Pf[g] = sk_alloc_n((size_t)(n * n), sizeof(float));
        sp->G[g] = sk_alloc_n((size_t)(n * n), sizeof(float));
        if (!sp->P[g] || !sp->Pf[g] || !sp->G[g]) {
            st = SK_ENOMEM;
            goto cleanup;
        }
    }
    if ((st = sk_tset_alloc(sp->X)) != SK_OK) goto cleanup;
    sp->dX = sk_tset_like(sp->X);
    size_t nn = (size_t)sp->nmax * (size_t)sp->nmax + 1;
    sp->xd = sk_alloc_n(nn, sizeof(double));
    sp->gd = sk_alloc_n(nn, sizeof(double));
    sp->dxd = sk_alloc_n(nn, sizeof(double));
    sp->hard = sk_alloc_n((size_t)ng + 1, sizeof(int64_t *));
    if (!sp->dX || !sp->xd || !sp->gd || !sp->dxd || !sp->hard) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int g = 0; g < ng; g++)
        if (!(sp->hard[g] = sk_alloc_n((size_t)s->groups[g].size, sizeof(int64_t)))) {
            st = SK_ENOMEM;
            goto cleanup;
        }
    sp->ws = sk_sinkhorn_ws_new(sp->nmax > 0 ? sp->nmax : 1);
    if (!sp->ws) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int g = 0; g < ng; g++) {
        int64_t n = s->groups[g].size;
        float *x = sp->X->t[g].data;
        if (init == SK_SOFTPERM_INIT_NOISY) {
            for (int64_t i = 0; i < n * n; i++)
                x[i] = (float)(0.1 * sk_rng_normal(rng));
            for (int64_t i = 0; i < n; i++)
                x[i * n + i] += 1.0f;
        } else if (init == SK_SOFTPERM_INIT_IDENTITY) {
            for (int64_t i = 0; i < n; i++)
                x[i * n + i] = 1.0f;
        } else {
            sk_rng_permutation(rng, sp->hard[g], n);
            for (int64_t i = 0; i < n; i++)
                x[i * n + sp->hard[g][i]] = 1.0f;
        }
    }
    *out = sp;
    return SK_OK;
cleanup:
    sk_softperm_free(sp);
    return st;
}

void sk_softperm_free(sk_softperm *sp)
{
    if (!sp) return;
    int ng = sp->s->n_groups;
    for (int g = 0; g < ng; g++) {
        if (sp->P) sk_free(sp->P[g]);
        if (sp->Pf) sk_free(sp->Pf[g]);
        if (sp->G) sk_free(sp->G[g]);
        if (sp->hard) sk_free(sp->hard[g]);
    }
    sk_free(sp->P);
    sk_free(sp->Pf);
    sk_free(sp->G);
    sk_free(sp->hard);
    sk_free(sp->xd);
    sk_free(sp->gd);
    sk_free(sp->dxd);
    sk_free(sp->w1);
    sk_free(sp->w2);
    sk_free(sp->cache);
    sk_tset_free(sp->X);
    sk_tset_free(sp->dX);
    sk_sinkhorn_ws_free(sp->ws);
    sk_free(sp);
}

sk_tset *sk_softperm_params(sk_softperm *sp)
{
    return sp->X;
}
sk_tset *sk_softperm_grads(sk_softperm *sp)
{
    return sp->dX;
}
void sk_softperm_zero_grad(sk_softperm *sp)
{
    memset(sp->dX->block, 0, (size_t)sp->dX->numel * sizeof(float));
}
const double *sk_softperm_plan(const sk_softperm *sp, int g)
{
    return sp->P[g];
}
void sk_softperm_set_hard_buffers(sk_softperm *sp, int on)
{
    sp->hard_buffers = on != 0;
}
int sk_softperm_fallbacks(const sk_softperm *sp)
{
    return sp->fallbacks;
}
void sk_softperm_times(const sk_softperm *sp, double t[4])
{
    memcpy(t, sp->times, sizeof sp->times);
}

/* ---- forward ----------------------------------------------------------------- */

sk_status sk_softperm_forward(sk_softperm *sp)
{
    double t0 = sk_now();
    sp->cache_in = NULL;
    for (int g = 0; g < sp->s->n_groups; g++) {
        int64_t n = sp->s->groups[g].size;
        const float *x = sp->X->t[g].data;
        for (int64_t i = 0; i < n * n; i++)
            sp->xd[i] = x[i];
        sk_status st = sk_sinkhorn_forward_ws(sp->ws, sp->xd, (int)n, &sp->o, sp->P[g]);
        if (st != SK_OK) return sk_err_prefix(st, "sk_softperm_forward: group %s: ", sp->s->groups[g].name);
        for (int64_t i = 0; i < n * n; i++)
            sp->Pf[g][i] = (float)sp->P[g][i];
    }
    sp->times[0] += sk_now() - t0;
    return SK_OK;
}

sk_status sk_softperm_hard(const sk_softperm *sp, int64_t **perms)
{
    sk_status st = SK_OK;
    double *S = sk_alloc_n((size_t)sp->nmax * (size_t)sp->nmax + 1, sizeof(double));
    if (!S) return SK_ENOMEM;
    for (int g = 0; g < sp->s->n_groups && st == SK_OK; g++) {
        int64_t n = sp->s->groups[g].size;
        const float *x = sp->X->t[g].data;
        for (int64_t i = 0; i < n * n; i++)
            S[i] = x[i];
        st = lap_solve_max(S, (int)n, (int)n, perms[g], NULL);
        if (st != SK_OK) st = sk_err_prefix(st, "sk_softperm_hard: group %s: ", sp->s->groups[g].name);
    }
    sk_free(S);
    return st;
}

static sk_status ensure_work(sk_softperm *sp, const sk_tset *in)
{
    if (sp->w1) return SK_OK;
    int64_t maxn = 1;
    for (int i = 0; i < in->n; i++)
        if (in->t[i].numel > maxn) maxn = in->t[i].numel;
    sp->w1 = sk_alloc_n((size_t)maxn, sizeof(float));
    sp->w2 = sk_alloc_n((size_t)maxn, sizeof(float));
    sp->cache = sk_alloc_n((size_t)in->numel + 1, sizeof(float));
    if (!sp->w1 || !sp->w2 || !sp->cache) return SK_ENOMEM;
    return SK_OK;
}

static sk_status check_layout(const sk_softperm *sp, const sk_tset *a, const sk_tset *b, const char *who)
{
    if (a->n != sp->s->n_params || (b && !sk_tset_same_layout(a, b)))
        return sk_err(SK_EINVAL, "%s: parameter layout does not match the spec", who);
    return SK_OK;
}

sk_status sk_softperm_apply(sk_softperm *sp, const sk_tset *in, sk_tset *out)
{
    sk_status st;
    if ((st = check_layout(sp, in, out, "sk_softperm_apply")) != SK_OK) return st;
    if ((st = ensure_work(sp, in)) != SK_OK) return st;
    double t0 = sk_now();
    int have_hard = 0;
    for (int i = 0; i < in->n; i++) {
        const sk_tensor *t = &in->t[i];
        if (t->is_buffer) {
            if (!sp->hard_buffers) {
                memcpy(out->t[i].data, t->data, (size_t)t->numel * sizeof(float));
                continue;
            }
            if (!have_hard) {
                if ((st = sk_softperm_hard(sp, sp->hard)) != SK_OK) return st;
                have_hard = 1;
            }
            sk_perm_apply_tensor(sp->s, (const int64_t *const *)sp->hard, t, i, -1, t->data, out->t[i].data, sp->w1);
            continue;
        }
        apply_axes(sp, t, i, -1, 0, t->data, out->t[i].data, sp->w1, sp->cache + t->offset);
    }
    sp->cache_in = in;
    sp->times[2] += sk_now() - t0;
    return SK_OK;
}

/* ---- backward ---------------------------------------------------------------- */

sk_status sk_softperm_backward(sk_softperm *sp, const sk_tset *in, const sk_tset *dout, sk_tset *din)
{
    sk_status st;
    const sk_perm_spec *s = sp->s;
    if ((st = check_layout(sp, in, dout, "sk_softperm_backward")) != SK_OK) return st;
    if (din && (st = check_layout(sp, in, din, "sk_softperm_backward")) != SK_OK) return st;
    if ((st = ensure_work(sp, in)) != SK_OK) return st;
    double t0 = sk_now();
    for (int g = 0; g < s->n_groups; g++)
        memset(sp->G[g], 0, (size_t)(s->groups[g].size * s->groups[g].size) * sizeof(float));
    for (int i = 0; i < in->n; i++) {
        const sk_tensor *t = &in->t[i];
        const float *G = dout->t[i].data;
        if (t->is_buffer) {
            if (din) memset(din->t[i].data, 0, (size_t)t->numel * sizeof(float));
            continue;
        }
        int axes[SK_MAXDIM], k = 0;
        for (int a = 0; a < t->ndim; a++)
            if (s->axis_group[i * SK_MAXDIM + a] >= 0) axes[k++] = a;
        for (int j = 0; j < k; j++) {
            int a = axes[j], g = s->axis_group[i * SK_MAXDIM + a];
            /* Y = in with every other axis applied; dP_g += G . Y^T over the
             * axis. Two axes: Y of the second is the forward's partial. */
            const float *Y = t->data;
            if (k == 2 && j == 1 && sp->cache_in == in) {
                Y = sp->cache + t->offset;
            } else if (k > 1) {
                apply_axes(sp, t, i, a, 0, t->data, sp->w2, sp->w1, NULL);
                Y = sp->w2;
            }
            mode_grad(t, a, s->axis_block[i * SK_MAXDIM + a], (int)s->groups[g].size, G, Y, sp->G[g]);
        }
        if (din) apply_axes(sp, t, i, -1, 1, G, din->t[i].data, sp->w1, NULL);
    }
    double t1 = sk_now();
    sp->times[3] += t1 - t0;
    for (int g = 0; g < s->n_groups; g++) {
        int64_t n = s->groups[g].size;
        sk_sinkhorn_stats ss;
        for (int64_t k = 0; k < n * n; k++)
            sp->gd[k] = sp->G[g][k];
        st = sk_sinkhorn_backward_ws(sp->ws, sp->P[g], sp->gd, (int)n, &sp->o, sp->dxd, &ss);
        if (st != SK_OK) return sk_err_prefix(st, "sk_softperm_backward: group %s: ", s->groups[g].name);
        if (ss.fallback) sp->fallbacks++;
        float *dx = sp->dX->t[g].data;
        for (int64_t k = 0; k < n * n; k++)
            dx[k] += (float)sp->dxd[k];
    }
    sp->times[1] += sk_now() - t1;
    return SK_OK;
}
