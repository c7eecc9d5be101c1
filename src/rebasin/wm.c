/* wm.c - weight matching (Git Re-Basin, Algorithm 1; ALGORITHMS.md §4):
 * coordinate descent over the permutation groups, one LAP per group. */
#include "rebasin/wm.h"

#include <math.h>
#include <string.h>

#include "core/blas.h"
#include "core/mem.h"
#include "rebasin/lap.h"

/* Unit rows of tensor t along (axis, block), in double: (units, numel/units). */
static void rows_double(const sk_tensor *t, int axis, int64_t block, const float *src, float *tmp, double *dst)
{
    sk_perm_unit_rows(t, axis, block, src, tmp);
    for (int64_t i = 0; i < t->numel; i++) dst[i] = tmp[i];
}

double sk_params_dot(const sk_tset *a, const sk_tset *b)
{
    double s = 0.0;
    for (int64_t i = 0; i < a->numel; i++) s += (double)a->block[i] * (double)b->block[i];
    return s;
}

sk_status sk_weight_matching(const sk_perm_spec *s, const sk_tset *A, const sk_tset *B, const sk_wm_opts *o,
                             int64_t **perms, sk_wm_result *res)
{
    sk_status st = SK_OK;
    int64_t maxn = 1, maxg = 1;
    float *tmp = NULL, *work = NULL, *bperm = NULL;
    double *arow = NULL, *brow = NULL, *S = NULL;
    int64_t *newp = NULL;
    int *order = NULL;
    sk_tset *pb = NULL;
    sk_rng rng;

    memset(res, 0, sizeof *res);
    for (int i = 0; i < A->n; i++)
        if (A->t[i].numel > maxn) maxn = A->t[i].numel;
    for (int g = 0; g < s->n_groups; g++)
        if (s->groups[g].size > maxg) maxg = s->groups[g].size;
    tmp = sk_alloc_n((size_t)maxn, sizeof(float));
    work = sk_alloc_n((size_t)maxn, sizeof(float));
    bperm = sk_alloc_n((size_t)maxn, sizeof(float));
    arow = sk_alloc_n((size_t)maxn, sizeof(double));
    brow = sk_alloc_n((size_t)maxn, sizeof(double));
    S = sk_alloc_n((size_t)(maxg * maxg), sizeof(double));
    newp = sk_alloc_n((size_t)maxg, sizeof(int64_t));
    order = sk_alloc_n((size_t)s->n_groups + 1, sizeof(int));
    pb = sk_tset_like(B);
    res->objective = sk_alloc_n((size_t)o->max_iter + 1, sizeof(double));
    if (!tmp || !work || !bperm || !arow || !brow || !S || !newp || !order || !pb || !res->objective) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    sk_rng_seed_stream(&rng, o->seed, 0x574d /* "WM" */);
    for (int g = 0; g < s->n_groups; g++) order[g] = g;

    for (int it = 0; it < o->max_iter; it++) {
        int improved = 0;
        sk_rng_shuffle_i32(&rng, order, s->n_groups);
        for (int k = 0; k < s->n_groups; k++) {
            const sk_perm_group *grp = &s->groups[order[k]];
            int64_t n = grp->size;
            memset(S, 0, (size_t)(n * n) * sizeof(double));
            for (int r = 0; r < grp->n_refs; r++) {
                const sk_perm_ref *ref = &grp->refs[r];
                const sk_tensor *ta = &A->t[ref->param], *tb = &B->t[ref->param];
                int64_t m = ta->numel / n;
                /* B with every other permuted axis already permuted. */
                sk_perm_apply_tensor(s, (const int64_t *const *)perms, tb, ref->param, ref->axis, tb->data,
                                     bperm, work);
                rows_double(ta, ref->axis, ref->block, ta->data, tmp, arow);
                rows_double(tb, ref->axis, ref->block, bperm, tmp, brow);
                /* S += A_rows * B_rows^T  (n, m) x (m, n) */
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)m, 1.0, arow, (int)m,
                            brow, (int)m, 1.0, S, (int)n);
            }
            double newobj;
            st = lap_solve_max(S, (int)n, (int)n, newp, &newobj);
            if (st != SK_OK) goto cleanup;
            double oldobj = 0.0;
            for (int64_t i = 0; i < n; i++) oldobj += S[i * n + perms[order[k]][i]];
            if (newobj > oldobj + 1e-12) improved = 1;
            memcpy(perms[order[k]], newp, (size_t)n * sizeof(int64_t));
        }
        st = sk_perm_apply(s, (const int64_t *const *)perms, B, pb);
        if (st != SK_OK) goto cleanup;
        res->objective[res->passes++] = sk_params_dot(A, pb);
        if (!improved) break;
    }
cleanup:
    sk_free(tmp);
    sk_free(work);
    sk_free(bperm);
    sk_free(arow);
    sk_free(brow);
    sk_free(S);
    sk_free(newp);
    sk_free(order);
    sk_tset_free(pb);
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
