/* wm.c - weight matching (Git Re-Basin, Algorithm 1; ALGORITHMS.md §4):
 * coordinate descent over the permutation groups, one LAP per group.
 *
 * Speed (a trained 3x512 MLP takes ~13 passes = ~39 LAPs of 512x512):
 *   - A's unit rows never change: gathered once, in float.
 *   - S = sum over refs of A_rows B_rows^T by SGEMM (the weights are float32,
 *     as in the reference implementation), each product added into the
 *     double S the LAP sees.
 *   - Warm start: each group keeps the LAP's dual potentials (u, v) of its
 *     last solve; the next solve runs on the reduced costs -S - u - v, which
 *     has the same optimal assignments (sum_i u[i] + v[p[i]] is the same for
 *     every permutation p) and, when S changed little, is nearly solved by the
 *     LAP's column reduction alone. The new assignment is accepted only if its
 *     objective on S itself is not lower than the current one's, so rounding
 *     in the reduced costs can never make a pass worse.
 *   - A group whose S cannot have changed (no group acting on another axis
 *     of its parameters changed since its last solve) is skipped: the LAP
 *     would return the same assignment. */
#include "rebasin/wm.h"

#include <math.h>
#include <string.h>

#include "core/blas.h"
#include "core/mem.h"
#include "rebasin/lap.h"

double sk_params_dot(const sk_tset *a, const sk_tset *b)
{
    double s = 0.0;
    for (int64_t i = 0; i < a->numel; i++)
        s += (double)a->block[i] * (double)b->block[i];
    return s;
}

/* One tensor permuted along every permuted axis except skip_axis (-1: none),
 * as sk_perm_apply_tensor, with a tight loop for the innermost axis. */
static void wm_permute(const sk_perm_spec *s, int64_t **perms, const sk_tensor *t, int param, int skip_axis,
                       const float *in, float *out, float *work)
{
    int axes[SK_MAXDIM], na = 0;
    for (int a = 0; a < t->ndim; a++)
        if (a != skip_axis && s->axis_group[param * SK_MAXDIM + a] >= 0) axes[na++] = a;
    if (na == 0) {
        memcpy(out, in, (size_t)t->numel * sizeof(float));
        return;
    }
    const float *src = in;
    for (int k = 0; k < na; k++) {
        float *dst = ((na - 1 - k) % 2 == 0) ? out : work;
        const int a = axes[k];
        const int64_t *p = perms[s->axis_group[param * SK_MAXDIM + a]];
        const int64_t block = s->axis_block[param * SK_MAXDIM + a];
        int64_t outer = 1, inner = 1, mid = t->shape[a];
        for (int d = 0; d < a; d++)
            outer *= t->shape[d];
        for (int d = a + 1; d < t->ndim; d++)
            inner *= t->shape[d];
        for (int64_t o = 0; o < outer; o++) {
            const float *si = src + o * mid * inner;
            float *di = dst + o * mid * inner;
            if (inner == 1) {
                if (block == 1)
                    for (int64_t i = 0; i < mid; i++)
                        di[i] = si[p[i]];
                else
                    for (int64_t i = 0; i < mid; i++)
                        di[i] = si[p[i / block] * block + i % block];
            } else {
                for (int64_t i = 0; i < mid; i++)
                    memcpy(di + i * inner, si + (p[i / block] * block + i % block) * inner,
                           (size_t)inner * sizeof(float));
            }
        }
        src = dst;
    }
}

/* Scratch for one S contribution. */
typedef struct {
    float *work, *bperm, *brow, *Sf;
} wm_ws;

/* S (n, n) += contribution of ref r of group g: A's unit rows times B's
 * (with every other permuted axis permuted) transposed. View a tensor as
 * (outer, units, run): outer == 1 is one NT product of the rows as stored,
 * run == 1 one TN product of the tensors as stored, else B's unit rows are
 * gathered. arow: A's unit rows (n, numel / n). */
static void add_ref(const sk_perm_spec *s, int64_t **perms, const sk_tset *A, const sk_tset *B, int g, int r,
                    const float *arow, wm_ws *w, double *S)
{
    const sk_perm_group *grp = &s->groups[g];
    const sk_perm_ref *ref = &grp->refs[r];
    const sk_tensor *ta = &A->t[ref->param], *tb = &B->t[ref->param];
    const int64_t n = grp->size, m = tb->numel / n;
    int64_t outer = 1;
    for (int d = 0; d < ref->axis; d++)
        outer *= tb->shape[d];
    const float *bp = tb->data;
    int other = 0;
    for (int a = 0; a < tb->ndim; a++)
        if (a != ref->axis && s->axis_group[ref->param * SK_MAXDIM + a] >= 0) other = 1;
    if (other) {
        wm_permute(s, perms, tb, ref->param, ref->axis, tb->data, w->bperm, w->work);
        bp = w->bperm;
    }
    if (outer == 1) {
        sk_sgemm(0, 1, (int)n, (int)n, (int)m, 1.0f, arow, (int)m, bp, (int)m, 0.0f, w->Sf, (int)n);
    } else if (m == outer) {
        /* run == 1: the units are the last axis (e.g. a linear weight's inputs) */
        sk_sgemm(1, 0, (int)n, (int)n, (int)m, 1.0f, ta->data, (int)n, bp, (int)n, 0.0f, w->Sf, (int)n);
    } else {
        sk_perm_unit_rows(tb, ref->axis, ref->block, bp, w->brow);
        sk_sgemm(0, 1, (int)n, (int)n, (int)m, 1.0f, arow, (int)m, w->brow, (int)m, 0.0f, w->Sf, (int)n);
    }
    for (int64_t i = 0; i < n * n; i++)
        S[i] += w->Sf[i];
}

/* Cache the constant part of every group's S when all of them fit in this many doubles. */
#define WM_CACHE_MAX ((int64_t)1 << 23)

sk_status sk_weight_matching(const sk_perm_spec *s, const sk_tset *A, const sk_tset *B, const sk_wm_opts *o,
                             int64_t **perms, sk_wm_result *res)
{
    sk_status st = SK_OK;
    const int G = s->n_groups;
    int64_t maxn = 1, maxg = 1, n_arow = 0, sum_g = 0, sum_g2 = 0;
    wm_ws ws = {0};
    float *arows = NULL;
    double *S = NULL, *S0all = NULL, *C = NULL, *du = NULL, *dv = NULL, *duals = NULL;
    int64_t *newp = NULL, *arow_off = NULL, *dual_off = NULL, *s0_off = NULL, *solved_at = NULL, *changed_at = NULL;
    int *order = NULL;
    uint8_t *deps = NULL, *ref_dep = NULL, *s0_done = NULL;
    sk_rng rng;

    memset(res, 0, sizeof *res);
    for (int i = 0; i < A->n; i++)
        if (A->t[i].numel > maxn) maxn = A->t[i].numel;
    for (int g = 0; g < G; g++) {
        int64_t n = s->groups[g].size;
        if (n > maxg) maxg = n;
        sum_g += n;
        sum_g2 += n * n;
        for (int r = 0; r < s->groups[g].n_refs; r++)
            n_arow += A->t[s->groups[g].refs[r].param].numel;
    }
    const int cache_ok = sum_g2 <= WM_CACHE_MAX;
    ws.work = sk_alloc_n((size_t)maxn, sizeof(float));
    ws.bperm = sk_alloc_n((size_t)maxn, sizeof(float));
    ws.brow = sk_alloc_n((size_t)maxn, sizeof(float));
    ws.Sf = sk_alloc_n((size_t)(maxg * maxg), sizeof(float));
    arows = sk_alloc_n((size_t)(n_arow > 0 ? n_arow : 1), sizeof(float));
    arow_off = sk_alloc_n((size_t)G * SK_PERM_MAX_REFS + 1, sizeof(int64_t));
    ref_dep = sk_alloc((size_t)G * SK_PERM_MAX_REFS + 1);
    S = sk_alloc_n((size_t)(maxg * maxg), sizeof(double));
    S0all = cache_ok ? sk_alloc_n((size_t)sum_g2 + 1, sizeof(double)) : NULL;
    s0_off = sk_alloc_n((size_t)G + 1, sizeof(int64_t));
    s0_done = sk_alloc((size_t)G + 1);
    C = sk_alloc_n((size_t)(maxg * maxg), sizeof(double));
    du = sk_alloc_n((size_t)maxg, sizeof(double));
    dv = sk_alloc_n((size_t)maxg, sizeof(double));
    duals = sk_alloc_n((size_t)(2 * sum_g + 1), sizeof(double)); /* u then v per group */
    dual_off = sk_alloc_n((size_t)G + 1, sizeof(int64_t));
    newp = sk_alloc_n((size_t)maxg, sizeof(int64_t));
    solved_at = sk_alloc_n((size_t)G + 1, sizeof(int64_t));
    changed_at = sk_alloc_n((size_t)G + 1, sizeof(int64_t));
    order = sk_alloc_n((size_t)G + 1, sizeof(int));
    deps = sk_alloc((size_t)G * (size_t)G + 1);
    res->objective = sk_alloc_n((size_t)o->max_iter + 1, sizeof(double));
    if (!ws.work || !ws.bperm || !ws.brow || !ws.Sf || !arows || !arow_off || !ref_dep || !S || (cache_ok && !S0all) ||
        !s0_off || !s0_done || !C || !du || !dv || !duals || !dual_off || !newp || !solved_at || !changed_at ||
        !order || !deps || !res->objective) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    /* A's unit rows per (group, ref); which refs and groups each group's S depends on. */
    {
        int64_t aoff = 0, doff = 0, soff = 0;
        for (int g = 0; g < G; g++) {
            const sk_perm_group *grp = &s->groups[g];
            dual_off[g] = doff;
            doff += 2 * grp->size;
            s0_off[g] = soff;
            soff += grp->size * grp->size;
            for (int r = 0; r < grp->n_refs; r++) {
                const sk_perm_ref *ref = &grp->refs[r];
                const sk_tensor *ta = &A->t[ref->param];
                arow_off[g * SK_PERM_MAX_REFS + r] = aoff;
                sk_perm_unit_rows(ta, ref->axis, ref->block, ta->data, arows + aoff);
                aoff += ta->numel;
                for (int a = 0; a < ta->ndim; a++) {
                    int h = s->axis_group[ref->param * SK_MAXDIM + a];
                    if (a != ref->axis && h >= 0) {
                        deps[g * G + h] = 1;
                        ref_dep[g * SK_PERM_MAX_REFS + r] = 1;
                    }
                }
            }
        }
    }
    sk_rng_seed_stream(&rng, o->seed, 0x574d /* "WM" */);
    for (int g = 0; g < G; g++)
        order[g] = g;

    int64_t stamp = 0;
    for (int it = 0; it < o->max_iter; it++) {
        int improved = 0;
        sk_rng_shuffle_i32(&rng, order, G);
        for (int k = 0; k < G; k++) {
            const int g = order[k];
            const sk_perm_group *grp = &s->groups[g];
            const int64_t n = grp->size;
            stamp++;
            if (solved_at[g] > 0) {
                int stale = 0;
                for (int h = 0; h < G && !stale; h++)
                    if (deps[g * G + h] && changed_at[h] >= solved_at[g]) stale = 1;
                if (!stale) continue; /* same S: the LAP would return the current assignment */
            }
            solved_at[g] = stamp;
            /* S = the cached constant part + the refs that depend on other groups. */
            double *S0 = cache_ok ? S0all + s0_off[g] : NULL;
            if (S0 && !s0_done[g]) {
                for (int r = 0; r < grp->n_refs; r++)
                    if (!ref_dep[g * SK_PERM_MAX_REFS + r])
                        add_ref(s, perms, A, B, g, r, arows + arow_off[g * SK_PERM_MAX_REFS + r], &ws, S0);
                s0_done[g] = 1;
            }
            if (S0)
                memcpy(S, S0, (size_t)(n * n) * sizeof(double));
            else
                memset(S, 0, (size_t)(n * n) * sizeof(double));
            for (int r = 0; r < grp->n_refs; r++)
                if (!S0 || ref_dep[g * SK_PERM_MAX_REFS + r])
                    add_ref(s, perms, A, B, g, r, arows + arow_off[g * SK_PERM_MAX_REFS + r], &ws, S);
            /* Minimise the reduced costs -S - u - v of the last solve (u = v = 0 at first). */
            double *u = duals + dual_off[g], *v = u + n;
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < n; j++)
                    C[i * n + j] = -S[i * n + j] - u[i] - v[j];
            st = lap_solve_min_duals(C, (int)n, (int)n, newp, du, dv, NULL);
            if (st != SK_OK) goto cleanup;
            for (int64_t i = 0; i < n; i++) {
                u[i] += du[i];
                v[i] += dv[i];
            }
            double newobj = 0.0, oldobj = 0.0;
            for (int64_t i = 0; i < n; i++) {
                newobj += S[i * n + newp[i]];
                oldobj += S[i * n + perms[g][i]];
            }
            if (newobj > oldobj + 1e-12) improved = 1;
            if (newobj >= oldobj && memcmp(perms[g], newp, (size_t)n * sizeof(int64_t)) != 0) {
                memcpy(perms[g], newp, (size_t)n * sizeof(int64_t));
                changed_at[g] = stamp;
            }
        }
        /* <A, pi(B)> over all parameters, in double */
        double obj = 0.0;
        for (int i = 0; i < B->n; i++) {
            const sk_tensor *tb = &B->t[i];
            wm_permute(s, perms, tb, i, -1, tb->data, ws.bperm, ws.work);
            const float *a = A->t[i].data;
            for (int64_t j = 0; j < tb->numel; j++)
                obj += (double)a[j] * (double)ws.bperm[j];
        }
        res->objective[res->passes++] = obj;
        if (!improved) break;
    }
cleanup:
    sk_free(ws.work);
    sk_free(ws.bperm);
    sk_free(ws.brow);
    sk_free(ws.Sf);
    sk_free(arows);
    sk_free(arow_off);
    sk_free(ref_dep);
    sk_free(S);
    sk_free(S0all);
    sk_free(s0_off);
    sk_free(s0_done);
    sk_free(C);
    sk_free(du);
    sk_free(dv);
    sk_free(duals);
    sk_free(dual_off);
    sk_free(newp);
    sk_free(solved_at);
    sk_free(changed_at);
    sk_free(order);
    sk_free(deps);
    if (st != SK_OK) {
        sk_free(res->objective);
        res->objective = NULL;
    }
    return st;
}

void sk_wm_result_free(sk_wm_result *res)
{
    if (!res) return;
    sk_free(res->objective);
    res->objective = NULL;
}
