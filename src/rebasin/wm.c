/* wm.c - weight matching (Git Re-Basin, Algorithm 1; doc/algorithms.md §4):
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

/* One weight-matching run: its inputs, what is computed once (A's unit rows,
 * the dependencies between groups), what carries over from one group visit to
 * the next (cached constant parts of S, LAP duals, stamps) and scratch. */
typedef struct {
    const sk_perm_spec *s;
    const sk_tset *A, *B;
    int64_t **perms;
    int G;
    int cache_ok;  /* S0all holds the constant part of every group's S */
    int64_t stamp; /* one tick per group visit */
    wm_ws ws;
    float *arows;            /* A's unit rows per (group, ref), at arow_off */
    double *S, *C, *du, *dv; /* one group's S, its reduced costs, the LAP's dual updates */
    double *S0all;           /* per group at s0_off: the refs that depend on no other group */
    double *duals;           /* per group at dual_off: u then v of its last solve */
    int64_t *newp, *arow_off, *dual_off, *s0_off;
    int64_t *solved_at, *changed_at; /* stamp of a group's last solve / last change */
    int *order;                      /* group order of the current pass */
    uint8_t *deps;                   /* (G, G): group g's S depends on group h */
    uint8_t *ref_dep;                /* per (group, ref): the ref depends on another group */
    uint8_t *s0_done;                /* per group: its part of S0all is filled */
} wm_run;

/* S (n, n) += contribution of ref r of group g: A's unit rows times B's
 * (with every other permuted axis permuted) transposed. View a tensor as
 * (outer, units, run): outer == 1 is one NT product of the rows as stored,
 * run == 1 one TN product of the tensors as stored, else B's unit rows are
 * gathered. */
static void add_ref(wm_run *w, int g, int r, double *S)
{
    const sk_perm_spec *s = w->s;
    const sk_perm_group *grp = &s->groups[g];
    const sk_perm_ref *ref = &grp->refs[r];
    const sk_tensor *ta = &w->A->t[ref->param], *tb = &w->B->t[ref->param];
    const float *arow = w->arows + w->arow_off[g * SK_PERM_MAX_REFS + r]; /* (n, numel / n) */
    wm_ws *ws = &w->ws;
    const int64_t n = grp->size, m = tb->numel / n;
    int64_t outer = 1;
    for (int d = 0; d < ref->axis; d++)
        outer *= tb->shape[d];
    const float *bp = tb->data;
    int other = 0;
    for (int a = 0; a < tb->ndim; a++)
        if (a != ref->axis && s->axis_group[ref->param * SK_MAXDIM + a] >= 0) other = 1;
    if (other) {
        wm_permute(s, w->perms, tb, ref->param, ref->axis, tb->data, ws->bperm, ws->work);
        bp = ws->bperm;
    }
    if (outer == 1) {
        sk_sgemm(0, 1, (int)n, (int)n, (int)m, 1.0f, arow, (int)m, bp, (int)m, 0.0f, ws->Sf, (int)n);
    } else if (m == outer) {
        /* run == 1: the units are the last axis (e.g. a linear weight's inputs) */
        sk_sgemm(1, 0, (int)n, (int)n, (int)m, 1.0f, ta->data, (int)n, bp, (int)n, 0.0f, ws->Sf, (int)n);
    } else {
        sk_perm_unit_rows(tb, ref->axis, ref->block, bp, ws->brow);
        sk_sgemm(0, 1, (int)n, (int)n, (int)m, 1.0f, arow, (int)m, ws->brow, (int)m, 0.0f, ws->Sf, (int)n);
    }
    for (int64_t i = 0; i < n * n; i++)
        S[i] += ws->Sf[i];
}

/* Cache the constant part of every group's S when all of them fit in this many doubles. */
#define WM_CACHE_MAX ((int64_t)1 << 23)

/* Every buffer of the run, sized for the largest tensor and group, and
 * res->objective for max_iter passes. Zeroed: the stamps start at 0 (never
 * solved) and the duals at u = v = 0. */
static sk_status wm_alloc(wm_run *w, int max_iter, sk_wm_result *res)
{
    const sk_perm_spec *s = w->s;
    const sk_tset *A = w->A;
    const int G = w->G;
    int64_t maxn = 1, maxg = 1, n_arow = 0, sum_g = 0, sum_g2 = 0;
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
    w->cache_ok = sum_g2 <= WM_CACHE_MAX;
    w->ws.work = sk_alloc_n((size_t)maxn, sizeof(float));
    w->ws.bperm = sk_alloc_n((size_t)maxn, sizeof(float));
    w->ws.brow = sk_alloc_n((size_t)maxn, sizeof(float));
    w->ws.Sf = sk_alloc_n((size_t)(maxg * maxg), sizeof(float));
    w->arows = sk_alloc_n((size_t)(n_arow > 0 ? n_arow : 1), sizeof(float));
    w->arow_off = sk_alloc_n((size_t)G * SK_PERM_MAX_REFS + 1, sizeof(int64_t));
    w->ref_dep = sk_alloc((size_t)G * SK_PERM_MAX_REFS + 1);
    w->S = sk_alloc_n((size_t)(maxg * maxg), sizeof(double));
    w->S0all = w->cache_ok ? sk_alloc_n((size_t)sum_g2 + 1, sizeof(double)) : NULL;
    w->s0_off = sk_alloc_n((size_t)G + 1, sizeof(int64_t));
    w->s0_done = sk_alloc((size_t)G + 1);
    w->C = sk_alloc_n((size_t)(maxg * maxg), sizeof(double));
    w->du = sk_alloc_n((size_t)maxg, sizeof(double));
    w->dv = sk_alloc_n((size_t)maxg, sizeof(double));
    w->duals = sk_alloc_n((size_t)(2 * sum_g + 1), sizeof(double)); /* u then v per group */
    w->dual_off = sk_alloc_n((size_t)G + 1, sizeof(int64_t));
    w->newp = sk_alloc_n((size_t)maxg, sizeof(int64_t));
    w->solved_at = sk_alloc_n((size_t)G + 1, sizeof(int64_t));
    w->changed_at = sk_alloc_n((size_t)G + 1, sizeof(int64_t));
    w->order = sk_alloc_n((size_t)G + 1, sizeof(int));
    w->deps = sk_alloc((size_t)G * (size_t)G + 1);
    res->objective = sk_alloc_n((size_t)max_iter + 1, sizeof(double));
    if (!w->ws.work || !w->ws.bperm || !w->ws.brow || !w->ws.Sf || !w->arows || !w->arow_off || !w->ref_dep || !w->S ||
        (w->cache_ok && !w->S0all) || !w->s0_off || !w->s0_done || !w->C || !w->du || !w->dv || !w->duals ||
        !w->dual_off || !w->newp || !w->solved_at || !w->changed_at || !w->order || !w->deps || !res->objective)
        return SK_ENOMEM;
    return SK_OK;
}

static void wm_free(wm_run *w)
{
    sk_free(w->ws.work);
    sk_free(w->ws.bperm);
    sk_free(w->ws.brow);
    sk_free(w->ws.Sf);
    sk_free(w->arows);
    sk_free(w->arow_off);
    sk_free(w->ref_dep);
    sk_free(w->S);
    sk_free(w->S0all);
    sk_free(w->s0_off);
    sk_free(w->s0_done);
    sk_free(w->C);
    sk_free(w->du);
    sk_free(w->dv);
    sk_free(w->duals);
    sk_free(w->dual_off);
    sk_free(w->newp);
    sk_free(w->solved_at);
    sk_free(w->changed_at);
    sk_free(w->order);
    sk_free(w->deps);
}

/* What never changes during the run: A's unit rows per (group, ref), the
 * offsets of each group's cached S and duals, and which refs and groups each
 * group's S depends on. */
static void wm_index(wm_run *w)
{
    const sk_perm_spec *s = w->s;
    const int G = w->G;
    int64_t aoff = 0, doff = 0, soff = 0;
    for (int g = 0; g < G; g++) {
        const sk_perm_group *grp = &s->groups[g];
        w->dual_off[g] = doff;
        doff += 2 * grp->size;
        w->s0_off[g] = soff;
        soff += grp->size * grp->size;
        for (int r = 0; r < grp->n_refs; r++) {
            const sk_perm_ref *ref = &grp->refs[r];
            const sk_tensor *ta = &w->A->t[ref->param];
            w->arow_off[g * SK_PERM_MAX_REFS + r] = aoff;
            sk_perm_unit_rows(ta, ref->axis, ref->block, ta->data, w->arows + aoff);
            aoff += ta->numel;
            for (int a = 0; a < ta->ndim; a++) {
                int h = s->axis_group[ref->param * SK_MAXDIM + a];
                if (a != ref->axis && h >= 0) {
                    w->deps[g * G + h] = 1;
                    w->ref_dep[g * SK_PERM_MAX_REFS + r] = 1;
                }
            }
        }
    }
}

/* Group g was solved before and no group its S depends on changed since:
 * the LAP would return the current assignment. */
static int wm_unchanged(const wm_run *w, int g)
{
    if (w->solved_at[g] <= 0) return 0;
    for (int h = 0; h < w->G; h++)
        if (w->deps[g * w->G + h] && w->changed_at[h] >= w->solved_at[g]) return 0;
    return 1;
}

/* w->S = group g's similarity: the cached constant part (filled at the
 * group's first visit) plus the refs that depend on other groups; every ref
 * when nothing is cached. */
static void wm_similarity(wm_run *w, int g)
{
    const sk_perm_group *grp = &w->s->groups[g];
    const int64_t n = grp->size;
    double *S0 = w->cache_ok ? w->S0all + w->s0_off[g] : NULL;
    if (S0 && !w->s0_done[g]) {
        for (int r = 0; r < grp->n_refs; r++)
            if (!w->ref_dep[g * SK_PERM_MAX_REFS + r]) add_ref(w, g, r, S0);
        w->s0_done[g] = 1;
    }
    if (S0)
        memcpy(w->S, S0, (size_t)(n * n) * sizeof(double));
    else
        memset(w->S, 0, (size_t)(n * n) * sizeof(double));
    for (int r = 0; r < grp->n_refs; r++)
        if (!S0 || w->ref_dep[g * SK_PERM_MAX_REFS + r]) add_ref(w, g, r, w->S);
}

/* The LAP step of group g on w->S, warm-started from the group's last duals.
 * The new assignment is taken only if its objective on S itself is not lower
 * (rounding in the reduced costs must never make a pass worse); *improved is
 * set when it is higher by more than rounding. */
static sk_status wm_solve(wm_run *w, int g, int *improved)
{
    const int64_t n = w->s->groups[g].size;
    const double *S = w->S;
    double *C = w->C;
    int64_t *cur = w->perms[g], *newp = w->newp;
    /* Minimise the reduced costs -S - u - v of the last solve (u = v = 0 at first). */
    double *u = w->duals + w->dual_off[g], *v = u + n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            C[i * n + j] = -S[i * n + j] - u[i] - v[j];
    sk_status st = lap_solve_min_duals(C, (int)n, (int)n, newp, w->du, w->dv, NULL);
    if (st != SK_OK) return st;
    for (int64_t i = 0; i < n; i++) {
        u[i] += w->du[i];
        v[i] += w->dv[i];
    }
    double newobj = 0.0, oldobj = 0.0;
    for (int64_t i = 0; i < n; i++) {
        newobj += S[i * n + newp[i]];
        oldobj += S[i * n + cur[i]];
    }
    if (newobj > oldobj + 1e-12) *improved = 1;
    if (newobj >= oldobj && memcmp(cur, newp, (size_t)n * sizeof(int64_t)) != 0) {
        memcpy(cur, newp, (size_t)n * sizeof(int64_t));
        w->changed_at[g] = w->stamp;
    }
    return SK_OK;
}

/* One pass of coordinate descent: every group once, in a fresh random order,
 * skipping those whose S cannot have changed. */
static sk_status wm_pass(wm_run *w, sk_rng *rng, int *improved)
{
    sk_rng_shuffle_i32(rng, w->order, w->G);
    for (int k = 0; k < w->G; k++) {
        const int g = w->order[k];
        w->stamp++;
        if (wm_unchanged(w, g)) continue;
        w->solved_at[g] = w->stamp;
        wm_similarity(w, g);
        sk_status st = wm_solve(w, g, improved);
        if (st != SK_OK) return st;
    }
    return SK_OK;
}

/* <A, pi(B)> over all parameters, in double */
static double wm_objective(wm_run *w)
{
    double obj = 0.0;
    for (int i = 0; i < w->B->n; i++) {
        const sk_tensor *tb = &w->B->t[i];
        wm_permute(w->s, w->perms, tb, i, -1, tb->data, w->ws.bperm, w->ws.work);
        const float *a = w->A->t[i].data;
        for (int64_t j = 0; j < tb->numel; j++)
            obj += (double)a[j] * (double)w->ws.bperm[j];
    }
    return obj;
}

sk_status sk_weight_matching(const sk_perm_spec *s, const sk_tset *A, const sk_tset *B, const sk_wm_opts *o,
                             int64_t **perms, sk_wm_result *res)
{
    wm_run w = {.s = s, .A = A, .B = B, .perms = perms, .G = s->n_groups};
    sk_rng rng;

    memset(res, 0, sizeof *res);
    sk_status st = wm_alloc(&w, o->max_iter, res);
    if (st == SK_OK) {
        wm_index(&w);
        sk_rng_seed_stream(&rng, o->seed, 0x574d /* "WM" */);
        for (int g = 0; g < w.G; g++)
            w.order[g] = g;
        for (int it = 0; it < o->max_iter; it++) {
            int improved = 0;
            if ((st = wm_pass(&w, &rng, &improved)) != SK_OK) break;
            res->objective[res->passes++] = wm_objective(&w);
            if (!improved) break;
        }
    }
    wm_free(&w);
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
