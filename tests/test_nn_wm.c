/* Weight matching's fast path (wm.c: SGEMM products, A's rows gathered once,
 * cached constant parts, warm-started LAP, skipped unchanged groups) against
 * a naive reference of doc/algorithms.md section 4 (double products, a cold LAP
 * per group, every group every pass), on every architecture, so that each
 * product layout (rows as stored, transposed, gathered with blocks) runs. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/rng.h"
#include "nn/model.h"
#include "rebasin/lap.h"
#include "rebasin/spec.h"
#include "rebasin/wm.h"

/* The algorithm as specified, with plain double loops. */
static int wm_ref(const sk_perm_spec *s, const sk_tset *A, const sk_tset *B, int max_iter, uint64_t seed,
                  int64_t **perms, double *objective)
{
    int64_t maxn = 1, maxg = 1;
    for (int i = 0; i < A->n; i++)
        if (A->t[i].numel > maxn) maxn = A->t[i].numel;
    for (int g = 0; g < s->n_groups; g++)
        if (s->groups[g].size > maxg) maxg = s->groups[g].size;
    float *bp = sk_alloc_n((size_t)maxn, 4), *work = sk_alloc_n((size_t)maxn, 4);
    float *ar = sk_alloc_n((size_t)maxn, 4), *br = sk_alloc_n((size_t)maxn, 4);
    double *S = sk_alloc_n((size_t)(maxg * maxg), 8);
    int64_t *newp = sk_alloc_n((size_t)maxg, 8);
    int *order = sk_alloc_n((size_t)s->n_groups + 1, sizeof(int));
    sk_tset *pb = sk_tset_like(B);
    sk_rng rng;
    int passes = 0;
    sk_rng_seed_stream(&rng, seed, 0x574d);
    for (int g = 0; g < s->n_groups; g++)
        order[g] = g;
    for (int it = 0; it < max_iter; it++) {
        int improved = 0;
        sk_rng_shuffle_i32(&rng, order, s->n_groups);
        for (int k = 0; k < s->n_groups; k++) {
            const sk_perm_group *grp = &s->groups[order[k]];
            int64_t n = grp->size;
            memset(S, 0, (size_t)(n * n) * 8);
            for (int r = 0; r < grp->n_refs; r++) {
                const sk_perm_ref *ref = &grp->refs[r];
                const sk_tensor *ta = &A->t[ref->param], *tb = &B->t[ref->param];
                int64_t m = ta->numel / n;
                sk_perm_apply_tensor(s, (const int64_t *const *)perms, tb, ref->param, ref->axis, tb->data, bp, work);
                sk_perm_unit_rows(ta, ref->axis, ref->block, ta->data, ar);
                sk_perm_unit_rows(tb, ref->axis, ref->block, bp, br);
                for (int64_t i = 0; i < n; i++)
                    for (int64_t j = 0; j < n; j++) {
                        double acc = 0.0;
                        for (int64_t c = 0; c < m; c++)
                            acc += (double)ar[i * m + c] * br[j * m + c];
                        S[i * n + j] += acc;
                    }
            }
            double newobj, oldobj = 0.0;
            ck_assert_int_eq(lap_solve_max(S, (int)n, (int)n, newp, &newobj), SK_OK);
            for (int64_t i = 0; i < n; i++)
                oldobj += S[i * n + perms[order[k]][i]];
            if (newobj > oldobj + 1e-12) improved = 1;
            memcpy(perms[order[k]], newp, (size_t)n * 8);
        }
        ck_assert_int_eq(sk_perm_apply(s, (const int64_t *const *)perms, B, pb), SK_OK);
        objective[passes++] = sk_params_dot(A, pb);
        if (!improved) break;
    }
    sk_free(bp);
    sk_free(work);
    sk_free(ar);
    sk_free(br);
    sk_free(S);
    sk_free(newp);
    sk_free(order);
    sk_tset_free(pb);
    return passes;
}

static sk_model_spec spec_of(sk_arch arch, sk_mnorm norm, double width, int hw, sk_vgghead head)
{
    sk_model_spec s;
    memset(&s, 0, sizeof s);
    s.arch = arch;
    s.norm = norm;
    s.width = width;
    s.vgg_head = head;
    s.activation = SK_ACT_RELU;
    s.in_c = 3;
    s.in_h = hw;
    s.in_w = hw;
    s.n_out = 10;
    if (arch == SK_ARCH_MLP) {
        s.n_hidden = 3;
        s.hidden[0] = 24;
        s.hidden[1] = 20;
        s.hidden[2] = 28;
        s.in_c = 1;
    }
    return s;
}

static void fill(sk_tset *p, sk_rng *r)
{
    for (int i = 0; i < p->n; i++) {
        sk_tensor *t = &p->t[i];
        double sd = t->ndim >= 2 ? sqrt(2.0 * (double)t->shape[0] / (double)t->numel) : 0.5;
        for (int64_t k = 0; k < t->numel; k++)
            t->data[k] = (float)(sd * sk_rng_normal(r));
        if (strstr(t->name, "running_var"))
            for (int64_t k = 0; k < t->numel; k++)
                t->data[k] = 0.5f + fabsf(t->data[k]);
    }
}

static const struct {
    sk_arch arch;
    sk_mnorm norm;
    double width;
    int hw;
    sk_vgghead head;
    const char *what;
} cases[] = {
    {SK_ARCH_MLP, SK_MNORM_NONE, 1.0, 9, SK_VGGHEAD_GITREBASIN, "mlp"},
    {SK_ARCH_MLP, SK_MNORM_LAYERNORM, 1.0, 9, SK_VGGHEAD_GITREBASIN, "mlp layernorm"},
    /* 64x64: the head's first linear sees a 2x2 map (unit blocks of 4) */
    {SK_ARCH_VGG11, SK_MNORM_LAYERNORM, 0.0625, 64, SK_VGGHEAD_GITREBASIN, "vgg11 layernorm 64x64"},
    {SK_ARCH_VGG11, SK_MNORM_BATCHNORM, 0.0625, 32, SK_VGGHEAD_LINEAR, "vgg11 batchnorm linear head"},
    {SK_ARCH_RESNET20, SK_MNORM_BATCHNORM, 0.5, 8, SK_VGGHEAD_GITREBASIN, "resnet20 batchnorm"},
};

/* Independent endpoints: the same passes, permutations and objectives as the reference. */
START_TEST(test_wm_matches_reference)
{
    sk_model_spec ms = spec_of(cases[_i].arch, cases[_i].norm, cases[_i].width, cases[_i].hw, cases[_i].head);
    sk_model *m;
    sk_perm_spec *s;
    sk_rng r;
    sk_rng_seed(&r, 40 + (uint64_t)_i);
    ck_assert_int_eq(sk_model_new(&ms, 1, &m), SK_OK);
    ck_assert_int_eq(sk_perm_spec_build(&ms, sk_model_params(m), m, &s), SK_OK);
    sk_tset *A = sk_tset_like(sk_model_params(m)), *B = sk_tset_like(A);
    fill(A, &r);
    fill(B, &r);
    int64_t **pf = sk_perms_identity(s), **pr = sk_perms_identity(s);
    double objr[100];
    int passes = wm_ref(s, A, B, 100, 3, pr, objr);
    sk_wm_opts o = {100, 3};
    sk_wm_result res;
    ck_assert_int_eq(sk_weight_matching(s, A, B, &o, pf, &res), SK_OK);
    ck_assert_msg(res.passes == passes, "%s: %d passes, reference %d", cases[_i].what, res.passes, passes);
    ck_assert_int_ge(passes, 2);
    for (int k = 0; k < passes; k++)
        ck_assert_msg(fabs(res.objective[k] - objr[k]) <= 1e-9 * fabs(objr[k]) + 1e-9,
                      "%s: pass %d objective %.12g, reference %.12g", cases[_i].what, k, res.objective[k], objr[k]);
    for (int g = 0; g < s->n_groups; g++)
        ck_assert_msg(memcmp(pf[g], pr[g], (size_t)s->groups[g].size * sizeof(int64_t)) == 0,
                      "%s: group %s differs from the reference", cases[_i].what, s->groups[g].name);
    sk_wm_result_free(&res);
    sk_perms_free(s, pf);
    sk_perms_free(s, pr);
    sk_tset_free(A);
    sk_tset_free(B);
    sk_perm_spec_free(s);
    sk_model_free(m);
}
END_TEST

/* B = pi(A): the fast path recovers pi exactly on every architecture. */
START_TEST(test_wm_planted_all_archs)
{
    sk_model_spec ms = spec_of(cases[_i].arch, cases[_i].norm, cases[_i].width, cases[_i].hw, cases[_i].head);
    sk_model *m;
    sk_perm_spec *s;
    sk_rng r;
    sk_rng_seed(&r, 70 + (uint64_t)_i);
    ck_assert_int_eq(sk_model_new(&ms, 1, &m), SK_OK);
    ck_assert_int_eq(sk_perm_spec_build(&ms, sk_model_params(m), m, &s), SK_OK);
    sk_tset *A = sk_tset_like(sk_model_params(m)), *B = sk_tset_like(A), *C = sk_tset_like(A);
    fill(A, &r);
    int64_t **planted = sk_perms_random(s, &r), **found = sk_perms_identity(s);
    ck_assert_int_eq(sk_perm_apply(s, (const int64_t *const *)planted, A, B), SK_OK);
    sk_wm_opts o = {100, 5};
    sk_wm_result res;
    ck_assert_int_eq(sk_weight_matching(s, A, B, &o, found, &res), SK_OK);
    ck_assert_int_eq(sk_perm_apply(s, (const int64_t *const *)found, B, C), SK_OK);
    ck_assert_msg(memcmp(A->block, C->block, (size_t)A->numel * sizeof(float)) == 0,
                  "%s: planted permutation not recovered (%d passes)", cases[_i].what, res.passes);
    for (int k = 1; k < res.passes; k++)
        ck_assert(res.objective[k] >= res.objective[k - 1] - 1e-9);
    sk_wm_result_free(&res);
    sk_perms_free(s, planted);
    sk_perms_free(s, found);
    sk_tset_free(A);
    sk_tset_free(B);
    sk_tset_free(C);
    sk_perm_spec_free(s);
    sk_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *su = suite_create("nn_wm");
    TCase *tc = tcase_create("wm");
    tcase_set_timeout(tc, 120);
    int nc = (int)(sizeof cases / sizeof cases[0]);
    tcase_add_loop_test(tc, test_wm_matches_reference, 0, nc);
    tcase_add_loop_test(tc, test_wm_planted_all_archs, 0, nc);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    return tu_run(suite());
}
