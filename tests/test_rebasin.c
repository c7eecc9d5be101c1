/* Permutation specs (functional equivalence for every architecture),
 * applying permutations, weight matching (planted permutation recovery) and
 * activation matching. */
#include "testutil.h"
#include "tu_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "nn/model.h"
#include "rebasin/am.h"
#include "rebasin/spec.h"
#include "rebasin/wm.h"

/* Build, randomise, and prove the spec: outputs unchanged under random
 * permutations (max |diff| / max |logit| <= 1e-4, doc/algorithms.md §2), and a
 * deliberately wrong permutation (one tensor left unpermuted) is detected. */
static void prove(const sk_model_spec *ms, const char *what)
{
    sk_model *m = NULL;
    sk_perm_spec *s = NULL;
    sk_rng r;
    int N = 4;
    int64_t in = (int64_t)ms->in_c * ms->in_h * ms->in_w;
    sk_rng_seed(&r, 11);
    ck_assert_int_eq(sk_model_new(ms, N, &m), SK_OK);
    tu_randomize(sk_model_params(m), &r);
    ck_assert_msg(sk_perm_spec_build(ms, sk_model_params(m), m, &s) == SK_OK, "%s: %s", what, sk_err_msg());
    ck_assert_int_gt(s->n_groups, 0);
    float *x = malloc(sizeof(float) * (size_t)(N * in));
    for (int64_t i = 0; i < N * in; i++)
        x[i] = (float)sk_rng_normal(&r);
    double rel = -1;
    ck_assert_int_eq(sk_perm_spec_verify(m, s, x, N, &r, &rel), SK_OK);
    ck_assert_msg(rel <= 1e-4, "%s: permuted network differs: max rel %g", what, rel);

    /* Every parameter axis claimed by a group has the right size, and the
     * proof has teeth: dropping one reference breaks equivalence. */
    sk_perm_group *g = &s->groups[s->n_groups - 1];
    sk_perm_ref saved = g->refs[0];
    s->axis_group[saved.param * SK_MAXDIM + saved.axis] = -1;
    ck_assert_int_eq(sk_perm_spec_verify(m, s, x, N, &r, &rel), SK_OK);
    ck_assert_msg(rel > 1e-3, "%s: a broken spec was not detected (rel %g)", what, rel);
    free(x);
    sk_perm_spec_free(s);
    sk_model_free(m);
}

/* MLPs with a norm layer after each hidden layer: the spec permutes the
 * norms.i.* tensors too, and the proof detects a spec that forgets any of
 * them even on a seeded initialisation (norm weights 1, biases 0, running
 * statistics 0 / 1, which no permutation changes). */
START_TEST(test_spec_mlp_norm)
{
    static const sk_mnorm norms[] = {SK_MNORM_BATCHNORM, SK_MNORM_LAYERNORM};
    for (int k = 0; k < 2; k++) {
        sk_model_spec ms = tu_mlp_spec(3, 12, 5);
        ms.norm = norms[k];
        prove(&ms, k ? "mlp layernorm" : "mlp batchnorm");

        sk_model *m = NULL;
        sk_perm_spec *s = NULL;
        sk_rng r;
        int N = 8;
        sk_rng_seed(&r, 5);
        ck_assert_int_eq(sk_model_new(&ms, N, &m), SK_OK);
        sk_model_init(m, &r); /* seeded: every norm tensor is constant */
        ck_assert_int_eq(sk_perm_spec_build(&ms, sk_model_params(m), m, &s), SK_OK);
        float x[8 * 25];
        for (int i = 0; i < N * 25; i++)
            x[i] = (float)sk_rng_normal(&r);
        double rel = -1;
        ck_assert_int_eq(sk_perm_spec_verify(m, s, x, N, &r, &rel), SK_OK);
        ck_assert_msg(rel <= 1e-4, "mlp norm %d: permuted network differs: max rel %g", k, rel);
        int norm_refs = 0;
        for (int g = 0; g < s->n_groups; g++)
            for (int j = 0; j < s->groups[g].n_refs; j++) {
                const sk_perm_ref *ref = &s->groups[g].refs[j];
                const char *name = sk_model_params(m)->t[ref->param].name;
                if (strncmp(name, "norms.", 6) != 0) continue;
                norm_refs++;
                /* forget this one tensor: the proof must fail */
                s->axis_group[ref->param * SK_MAXDIM + ref->axis] = -1;
                ck_assert_int_eq(sk_perm_spec_verify(m, s, x, N, &r, &rel), SK_OK);
                ck_assert_msg(rel > 1e-3, "a spec without %s passed the proof (rel %g)", name, rel);
                s->axis_group[ref->param * SK_MAXDIM + ref->axis] = g;
            }
        ck_assert_int_eq(norm_refs, k ? 3 * 2 : 3 * 4); /* weight, bias (+ running mean, var) per layer */
        sk_perm_spec_free(s);
        sk_model_free(m);
    }
}
END_TEST

START_TEST(test_spec_mlp)
{
    for (int L = 1; L <= 4; L++) {
        sk_model_spec ms = tu_mlp_spec(L, 16, 6);
        prove(&ms, "mlp");
    }
    sk_model_spec t = tu_mlp_spec(3, 8, 4);
    t.activation = SK_ACT_TANH;
    prove(&t, "mlp tanh");
}
END_TEST

START_TEST(test_spec_vgg)
{
    static const sk_arch archs[] = {SK_ARCH_VGG11, SK_ARCH_VGG13, SK_ARCH_VGG16, SK_ARCH_VGG19};
    static const sk_mnorm norms[] = {SK_MNORM_NONE, SK_MNORM_BATCHNORM, SK_MNORM_LAYERNORM};
    for (int a = 0; a < 4; a++)
        for (int n = 0; n < 3; n++) {
            sk_model_spec ms = tu_conv_spec(archs[a], norms[n], 0.0625, 8, SK_VGGHEAD_GITREBASIN);
            prove(&ms, sk_arch_name(archs[a]));
        }
    /* Linear head on a 64x64 input: the flatten keeps 2x2 positions per
     * channel, so the classifier's input axis is permuted in blocks of 4. */
    sk_model_spec big = tu_conv_spec(SK_ARCH_VGG11, SK_MNORM_BATCHNORM, 0.0625, 64, SK_VGGHEAD_LINEAR);
    prove(&big, "vgg11 linear head 64x64");
    sk_model_spec big2 = tu_conv_spec(SK_ARCH_VGG11, SK_MNORM_LAYERNORM, 0.0625, 64, SK_VGGHEAD_GITREBASIN);
    prove(&big2, "vgg11 gitrebasin head 64x64");
}
END_TEST

START_TEST(test_spec_resnet)
{
    sk_model_spec a = tu_conv_spec(SK_ARCH_RESNET20, SK_MNORM_LAYERNORM, 0.5, 8, SK_VGGHEAD_GITREBASIN);
    prove(&a, "resnet20 layernorm");
    sk_model_spec b = tu_conv_spec(SK_ARCH_RESNET20, SK_MNORM_BATCHNORM, 0.5, 8, SK_VGGHEAD_GITREBASIN);
    prove(&b, "resnet20 batchnorm");
    sk_model_spec c = tu_conv_spec(SK_ARCH_RESNET20, SK_MNORM_LAYERNORM, 1, 8, SK_VGGHEAD_GITREBASIN);
    prove(&c, "resnet20 w1");
}
END_TEST

START_TEST(test_spec_groups)
{
    /* MLP 784-512-256-10: two groups, sizes and references as §2 says. */
    sk_model_spec ms = tu_mlp_spec(2, 16, 2);
    ms.hidden[0] = 12;
    ms.hidden[1] = 7;
    sk_model *m;
    sk_perm_spec *s;
    ck_assert_int_eq(sk_model_new(&ms, 2, &m), SK_OK);
    ck_assert_int_eq(sk_perm_spec_build(&ms, sk_model_params(m), m, &s), SK_OK);
    ck_assert_int_eq(s->n_groups, 2);
    ck_assert_int_eq(s->groups[0].size, 12);
    ck_assert_int_eq(s->groups[1].size, 7);
    ck_assert_int_eq(s->groups[0].n_refs, 3);
    const sk_tset *p = sk_model_params(m);
    ck_assert_str_eq(p->t[s->groups[1].refs[2].param].name, "layers.2.weight");
    ck_assert_int_eq(s->groups[1].refs[2].axis, 1);
    ck_assert_int_ge(s->groups[0].tap, 0);
    sk_perm_spec_free(s);
    sk_model_free(m);

    /* ResNet20: 3 streams (stem, stage 2, stage 3) + 9 inner groups. */
    sk_model_spec rs = tu_conv_spec(SK_ARCH_RESNET20, SK_MNORM_LAYERNORM, 1, 8, SK_VGGHEAD_GITREBASIN);
    ck_assert_int_eq(sk_model_new(&rs, 2, &m), SK_OK);
    ck_assert_int_eq(sk_perm_spec_build(&rs, sk_model_params(m), m, &s), SK_OK);
    ck_assert_int_eq(s->n_groups, 12);
    for (int g = 0; g < s->n_groups; g++)
        ck_assert_int_ge(s->groups[g].tap, 0);
    sk_perm_spec_free(s);
    sk_model_free(m);
}
END_TEST

START_TEST(test_apply_inverse)
{
    sk_model_spec ms = tu_conv_spec(SK_ARCH_VGG11, SK_MNORM_BATCHNORM, 0.0625, 64, SK_VGGHEAD_LINEAR);
    sk_model *m;
    sk_perm_spec *s;
    sk_rng r;
    sk_rng_seed(&r, 5);
    ck_assert_int_eq(sk_model_new(&ms, 1, &m), SK_OK);
    tu_randomize(sk_model_params(m), &r);
    ck_assert_int_eq(sk_perm_spec_build(&ms, sk_model_params(m), m, &s), SK_OK);
    int64_t **p = sk_perms_random(s, &r), **q = sk_perms_inverse(s, p);
    sk_tset *a = sk_model_params(m), *b = sk_tset_like(a), *c = sk_tset_like(a);
    ck_assert_int_eq(sk_perm_apply(s, (const int64_t *const *)p, a, b), SK_OK);
    ck_assert_int_eq(sk_perm_apply(s, (const int64_t *const *)q, b, c), SK_OK);
    ck_assert(memcmp(a->block, c->block, (size_t)a->numel * sizeof(float)) == 0);
    ck_assert(memcmp(a->block, b->block, (size_t)a->numel * sizeof(float)) != 0);
    sk_perms_free(s, p);
    sk_perms_free(s, q);
    sk_tset_free(b);
    sk_tset_free(c);
    sk_perm_spec_free(s);
    sk_model_free(m);
}
END_TEST

/* B = pi(A) with a random planted pi: weight matching finds pi^-1 exactly
 * (every unit of every group), for MLPs with 2..16 hidden layers. */
START_TEST(test_wm_recovers_planted)
{
    static const int depths[] = {2, 4, 8, 16};
    for (int d = 0; d < 4; d++) {
        sk_model_spec ms = tu_mlp_spec(depths[d], 32, 5);
        sk_model *m;
        sk_perm_spec *s;
        sk_rng r;
        sk_rng_seed(&r, 100 + (uint64_t)d);
        ck_assert_int_eq(sk_model_new(&ms, 1, &m), SK_OK);
        tu_randomize(sk_model_params(m), &r);
        ck_assert_int_eq(sk_perm_spec_build(&ms, sk_model_params(m), m, &s), SK_OK);
        sk_tset *A = sk_model_params(m), *B = sk_tset_like(A), *C = sk_tset_like(A);
        int64_t **planted = sk_perms_random(s, &r), **found = sk_perms_identity(s);
        ck_assert_int_eq(sk_perm_apply(s, (const int64_t *const *)planted, A, B), SK_OK);
        sk_wm_opts o = {100, 7};
        sk_wm_result res;
        ck_assert_int_eq(sk_weight_matching(s, A, B, &o, found, &res), SK_OK);
        /* pi_found(B) == A exactly. */
        ck_assert_int_eq(sk_perm_apply(s, (const int64_t *const *)found, B, C), SK_OK);
        ck_assert_msg(memcmp(A->block, C->block, (size_t)A->numel * sizeof(float)) == 0,
                      "depth %d: planted permutation not recovered (%d passes)", depths[d], res.passes);
        ck_assert_int_ge(res.passes, 2);
        for (int k = 1; k < res.passes; k++)
            ck_assert(res.objective[k] >= res.objective[k - 1] - 1e-6);
        sk_wm_result_free(&res);
        sk_perms_free(s, planted);
        sk_perms_free(s, found);
        sk_tset_free(B);
        sk_tset_free(C);
        sk_perm_spec_free(s);
        sk_model_free(m);
    }
}
END_TEST

/* Activation matching on B = pi(A): identical activations up to the
 * permutation, so the LAP recovers pi^-1 exactly, with either cost. */
typedef struct {
    const float *x;
    int n, dim, cap;
} batches;
static int next_batch(void *ctx, int64_t epoch, int64_t step, float *x, int32_t *y, float *yr)
{
    batches *b = ctx;
    (void)epoch;
    (void)y;
    (void)yr;
    int64_t start = step * b->cap;
    if (start >= b->n) return 0;
    int n = (int)(b->n - start < b->cap ? b->n - start : b->cap);
    memcpy(x, b->x + start * b->dim, sizeof(float) * (size_t)(n * b->dim));
    return n;
}

static void am_case(const sk_model_spec *ms, int cost, const char *what)
{
    sk_model *ma, *mb;
    sk_perm_spec *s;
    sk_rng r;
    int dim = ms->in_c * ms->in_h * ms->in_w, n = 64;
    sk_rng_seed(&r, 3);
    ck_assert_int_eq(sk_model_new(ms, 16, &ma), SK_OK);
    ck_assert_int_eq(sk_model_new(ms, 16, &mb), SK_OK);
    tu_randomize(sk_model_params(ma), &r);
    ck_assert_int_eq(sk_perm_spec_build(ms, sk_model_params(ma), ma, &s), SK_OK);
    sk_tset *A = sk_model_params(ma), *B = sk_model_params(mb), *C = sk_tset_like(A);
    int64_t **planted = sk_perms_random(s, &r), **found = sk_perms_identity(s);
    ck_assert_int_eq(sk_perm_apply(s, (const int64_t *const *)planted, A, B), SK_OK);
    float *x = malloc(sizeof(float) * (size_t)(n * dim));
    for (int i = 0; i < n * dim; i++)
        x[i] = (float)sk_rng_normal(&r);
    batches bt = {x, n, dim, 16};
    sk_am_opts o = {0, 16, cost};
    int64_t used = 0;
    ck_assert_msg(sk_activation_matching(s, ma, mb, A, B, &o, next_batch, &bt, found, &used) == SK_OK, "%s",
                  sk_err_msg());
    ck_assert_int_eq(used, n);
    /* Units that never activate on these inputs tie with each other, so ask
     * for what matters: pi_found(B) computes A's function on the data, and
     * almost every unit is matched to its planted partner. */
    ck_assert_int_eq(sk_perm_apply(s, (const int64_t *const *)found, B, C), SK_OK);
    /* Which of A's units ever activate on the data (a dead unit's match is a
     * tie with every other dead unit)? */
    int64_t **inv = sk_perms_inverse(s, planted), alive = 0, right = 0;
    unsigned char *live[64] = {0};
    for (int g = 0; g < s->n_groups; g++)
        live[g] = calloc((size_t)s->groups[g].size, 1);
    for (int64_t b0 = 0; b0 < n; b0 += 16) {
        sk_model_forward(ma, A, x + b0 * dim, 16, 0, &r);
        for (int g = 0; g < s->n_groups; g++) {
            sk_tap t = sk_model_tap(ma, s->groups[g].tap);
            int64_t hw = (int64_t)t.h * t.w;
            for (int64_t k = 0; k < 16 * t.channels * hw; k++)
                if (t.data[k] != 0.0f) live[g][(k / hw) % t.channels] = 1;
        }
    }
    for (int g = 0; g < s->n_groups; g++) {
        for (int64_t i = 0; i < s->groups[g].size; i++) {
            if (!live[g][i]) continue;
            alive++;
            right += found[g][i] == inv[g][i];
        }
        free(live[g]);
    }
    ck_assert_msg(right == alive, "%s: only %lld of %lld live units matched", what, (long long)right, (long long)alive);
    float *ya = malloc(sizeof(float) * (size_t)(16 * ms->n_out));
    memcpy(ya, sk_model_forward(ma, A, x, 16, 0, &r), sizeof(float) * (size_t)(16 * ms->n_out));
    const float *yc = sk_model_forward(ma, C, x, 16, 0, &r);
    double diff = 0, scale = 0;
    for (int i = 0; i < 16 * ms->n_out; i++) {
        diff = fmax(diff, fabs(ya[i] - yc[i]));
        scale = fmax(scale, fabs(ya[i]));
    }
    ck_assert_msg(diff <= 1e-4 * scale, "%s: aligned model computes a different function (%g)", what, diff);
    free(ya);
    sk_perms_free(s, inv);
    free(x);
    sk_perms_free(s, planted);
    sk_perms_free(s, found);
    sk_tset_free(C);
    sk_perm_spec_free(s);
    sk_model_free(ma);
    sk_model_free(mb);
}

START_TEST(test_am_recovers_planted)
{
    /* tanh: no dead units, whose matching would be a tie. */
    sk_model_spec mlp = tu_mlp_spec(3, 24, 4);
    mlp.activation = SK_ACT_TANH;
    am_case(&mlp, SK_AM_INNER_PRODUCT, "mlp inner product");
    am_case(&mlp, SK_AM_CORRELATION, "mlp correlation");
    sk_model_spec vgg = tu_conv_spec(SK_ARCH_VGG11, SK_MNORM_LAYERNORM, 0.0625, 8, SK_VGGHEAD_GITREBASIN);
    am_case(&vgg, SK_AM_INNER_PRODUCT, "vgg11");
    sk_model_spec rn = tu_conv_spec(SK_ARCH_RESNET20, SK_MNORM_LAYERNORM, 0.5, 8, SK_VGGHEAD_GITREBASIN);
    am_case(&rn, SK_AM_CORRELATION, "resnet20");
}
END_TEST

static Suite *rebasin_suite(void)
{
    Suite *s = suite_create("rebasin");
    TCase *tc = tcase_create("spec");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_spec_mlp);
    tcase_add_test(tc, test_spec_mlp_norm);
    tcase_add_test(tc, test_spec_vgg);
    tcase_add_test(tc, test_spec_resnet);
    tcase_add_test(tc, test_spec_groups);
    tcase_add_test(tc, test_apply_inverse);
    tcase_add_test(tc, test_wm_recovers_planted);
    tcase_add_test(tc, test_am_recovers_planted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(rebasin_suite());
}
