/* LMC barrier metrics on hand-made curves. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "lmc/barrier.h"
#include "lmc/interp.h"
#include "lmc/repair.h"
#include "tu_model.h"

START_TEST(test_grid)
{
    double l[25];
    sk_lambda_grid(l, 25);
    ck_assert_double_eq(l[0], 0.0);
    ck_assert_double_eq(l[24], 1.0);
    ck_assert_double_eq_tol(l[12], 0.5, 1e-15);
    ck_assert_double_eq_tol(l[1], 1.0 / 24.0, 1e-15);
}
END_TEST

START_TEST(test_loss_barrier)
{
    /* f(l) = 1 + l + 4 l (1 - l): chord 1 + l, bump 4l(1-l) peaks at 1 at l=1/2.
     * barrier = 1 (at l = 1/2); f peaks at l = 5/8 with 2.5625, so
     * barrier_mid = 2.5625 - (1+2)/2 = 1.0625 (on the grid: within 1e-3);
     * auc = int 4l(1-l) = 2/3 (trapezoid on 101 points: close). */
    double l[101], f[101];
    sk_lambda_grid(l, 101);
    for (int i = 0; i < 101; i++)
        f[i] = 1.0 + l[i] + 4.0 * l[i] * (1.0 - l[i]);
    sk_barrier b;
    sk_barrier_compute(l, f, 101, +1, &b);
    ck_assert_double_eq_tol(b.barrier, 1.0, 1e-12);
    ck_assert_double_eq_tol(b.barrier_mid, 1.0625, 1e-3);
    ck_assert_double_eq_tol(b.auc, 2.0 / 3.0, 1e-4);
    /* Where the two definitions differ: monotone curve above the chord with
     * unequal ends. f = (0, 3, 2): chord at .5 is 1, barrier = 2; mid: 3 - 1 = 2.
     * f = (0, 1.5, 4): barrier = 1.5 - 2 = -0.5 -> max over ends (0) ... */
    double l3[3] = {0, 0.5, 1}, g[3] = {0, 1.5, 4};
    sk_barrier_compute(l3, g, 3, +1, &b);
    ck_assert_double_eq_tol(b.barrier, 0.0, 1e-15); /* ends give 0 */
    ck_assert_double_eq_tol(b.barrier_mid, 4.0 - 2.0, 1e-15);
    ck_assert_double_eq_tol(b.auc, 0.5 * (-0.5) * 0.5 * 2, 1e-15);
}
END_TEST

START_TEST(test_accuracy_drop)
{
    /* accuracy 0.9 -> 0.5 -> 0.8: drop below the chord (0.85 at 1/2) is 0.35. */
    double l[3] = {0, 0.5, 1}, a[3] = {0.9, 0.5, 0.8};
    sk_barrier b;
    sk_barrier_compute(l, a, 3, -1, &b);
    ck_assert_double_eq_tol(b.barrier, 0.35, 1e-12);
    ck_assert_double_eq_tol(b.barrier_mid, 0.85 - 0.5, 1e-12);
    ck_assert_double_eq_tol(b.auc, 0.35 * 0.5, 1e-12);
    /* A flat curve has no barrier. */
    double c[3] = {0.7, 0.7, 0.7};
    sk_barrier_compute(l, c, 3, -1, &b);
    ck_assert_double_eq_tol(b.barrier, 0.0, 1e-15);
    ck_assert_double_eq_tol(b.auc, 0.0, 1e-15);
}
END_TEST

/* ---- REPAIR (doc/algorithms.md §14) ------------------------------------------- */

/* A tiny MLP (9 inputs, hidden 6 and 9, 10 outputs; norm as given), two
 * generic endpoints, and 40 statistics inputs in batches of at most 16. */
typedef struct {
    sk_model *m;
    sk_tset *a, *b, *mix;
    sk_repair_data d;
    sk_repair_stats sa, sb;
} rfix;

static void rfix_init(rfix *f, sk_mnorm norm)
{
    sk_model_spec sp = tu_mlp_spec(2, 6, 3);
    sp.norm = norm;
    sk_rng r;
    ck_assert_int_eq(sk_model_new(&sp, 16, &f->m), SK_OK);
    f->a = sk_tset_like(sk_model_params(f->m));
    f->b = sk_tset_like(sk_model_params(f->m));
    f->mix = sk_tset_like(sk_model_params(f->m));
    sk_rng_seed(&r, 11);
    tu_randomize(f->a, &r);
    tu_randomize(f->b, &r);
    f->d.n = 40;
    f->d.in_size = 9;
    f->d.x = sk_alloc_n(40 * 9, sizeof(float));
    for (int i = 0; i < 40 * 9; i++)
        f->d.x[i] = (float)sk_rng_normal(&r);
    ck_assert_int_eq(sk_repair_stats_compute(f->m, f->a, &f->d, &f->sa), SK_OK);
    ck_assert_int_eq(sk_repair_stats_compute(f->m, f->b, &f->d, &f->sb), SK_OK);
    ck_assert_int_eq(f->sa.n_points, 2);
}

static void rfix_free(rfix *f)
{
    sk_repair_stats_free(&f->sa);
    sk_repair_stats_free(&f->sb);
    sk_free(f->d.x);
    sk_tset_free(f->a);
    sk_tset_free(f->b);
    sk_tset_free(f->mix);
    sk_model_free(f->m);
}

/* max |forward(p) - want| over the 40 inputs' logits, relative to max |want|. */
static double rel_diff(sk_model *m, const sk_tset *p, const float *want, const float *x)
{
    double d = 0, w = 1e-30;
    for (int s = 0; s < 40; s += 16) {
        int n = 40 - s < 16 ? 40 - s : 16;
        const float *y = sk_model_forward(m, p, x + s * 9, n, 0, NULL);
        for (int i = 0; i < n * 10; i++) {
            d = fmax(d, fabs(y[i] - want[s * 10 + i]));
            w = fmax(w, fabs(want[s * 10 + i]));
        }
    }
    return d / w;
}

static void logits_of(sk_model *m, const sk_tset *p, const float *x, float *out)
{
    for (int s = 0; s < 40; s += 16) {
        int n = 40 - s < 16 ? 40 - s : 16;
        memcpy(out + s * 10, sk_model_forward(m, p, x + s * 9, n, 0, NULL), (size_t)n * 10 * sizeof(float));
    }
}

/* (a) At lambda 0 and 1 the repaired network is the endpoint, with and
 * without norms. */
START_TEST(test_repair_ends)
{
    for (int norm = 0; norm < SK_MNORM_COUNT; norm++) {
        rfix f;
        float want[400];
        rfix_init(&f, (sk_mnorm)norm);
        for (int e = 0; e < 2; e++) {
            sk_lerp(f.mix, f.a, f.b, e);
            ck_assert_int_eq(sk_repair_apply(f.m, f.mix, &f.sa, &f.sb, e, &f.d), SK_OK);
            logits_of(f.m, e ? f.b : f.a, f.d.x, want);
            ck_assert_double_le(rel_diff(f.m, f.mix, want, f.d.x), 1e-6);
        }
        rfix_free(&f);
    }
}
END_TEST

/* (b) After REPAIR every point's channels have the interpolated mean and
 * std on the statistics inputs; without it they do not. */
START_TEST(test_repair_hits_targets)
{
    for (int norm = 0; norm < SK_MNORM_COUNT; norm++) {
        rfix f;
        double mean[16], std[16], lam = 0.4, off = 0;
        rfix_init(&f, (sk_mnorm)norm);
        sk_lerp(f.mix, f.a, f.b, lam);
        for (int p = 0; p < 2; p++) {
            ck_assert_int_eq(sk_repair_point_stats(f.m, f.mix, &f.d, p, mean, std), SK_OK);
            for (int c = 0; c < sk_model_repair_point(f.m, p).channels; c++)
                off = fmax(off, fabs(std[c] - ((1 - lam) * f.sa.std[p][c] + lam * f.sb.std[p][c])));
        }
        ck_assert_double_gt(off, 1e-2); /* the plain mix is off target */
        ck_assert_int_eq(sk_repair_apply(f.m, f.mix, &f.sa, &f.sb, lam, &f.d), SK_OK);
        for (int p = 0; p < 2; p++) {
            ck_assert_int_eq(sk_repair_point_stats(f.m, f.mix, &f.d, p, mean, std), SK_OK);
            for (int c = 0; c < sk_model_repair_point(f.m, p).channels; c++) {
                double tm = (1 - lam) * f.sa.mean[p][c] + lam * f.sb.mean[p][c];
                double ts = (1 - lam) * f.sa.std[p][c] + lam * f.sb.std[p][c];
                ck_assert_double_eq_tol(mean[c], tm, 1e-4 * (1 + fabs(tm)));
                if (std[c] > 0) ck_assert_double_eq_tol(std[c], ts, 1e-4 * (1 + ts));
            }
        }
        rfix_free(&f);
    }
}
END_TEST

/* (c) The folded network (norm-free MLP) equals the explicit computation:
 * every hidden pre-activation normalised by its own statistics on the
 * inputs, then given the target mean and std, layer after layer. */
START_TEST(test_repair_fold_explicit)
{
    rfix f;
    double lam = 0.3;
    rfix_init(&f, SK_MNORM_NONE);
    sk_lerp(f.mix, f.a, f.b, lam);
    /* explicit forward in double over all 40 inputs at once */
    double h[40][16], z[40][16];
    int in = 9, widths[3] = {6, 9, 10};
    for (int i = 0; i < 40; i++)
        for (int k = 0; k < 9; k++)
            h[i][k] = f.d.x[i * 9 + k];
    for (int l = 0; l < 3; l++) {
        const sk_tensor *W = &f.mix->t[2 * l], *B = &f.mix->t[2 * l + 1];
        int O = widths[l];
        for (int i = 0; i < 40; i++)
            for (int o = 0; o < O; o++) {
                double v = B->data[o];
                for (int k = 0; k < in; k++)
                    v += (double)W->data[o * in + k] * h[i][k];
                z[i][o] = v;
            }
        for (int o = 0; o < O && l < 2; o++) {
            double mu = 0, var = 0;
            for (int i = 0; i < 40; i++)
                mu += z[i][o] / 40;
            for (int i = 0; i < 40; i++)
                var += (z[i][o] - mu) * (z[i][o] - mu) / 40;
            double tm = (1 - lam) * f.sa.mean[l][o] + lam * f.sb.mean[l][o];
            double ts = (1 - lam) * f.sa.std[l][o] + lam * f.sb.std[l][o];
            for (int i = 0; i < 40; i++)
                z[i][o] = (z[i][o] - mu) / sqrt(var) * ts + tm;
        }
        for (int i = 0; i < 40; i++)
            for (int o = 0; o < O; o++)
                h[i][o] = l < 2 && z[i][o] < 0 ? 0 : z[i][o];
        in = O;
    }
    float want[400];
    for (int i = 0; i < 40; i++)
        for (int o = 0; o < 10; o++)
            want[i * 10 + o] = (float)h[i][o];
    ck_assert_int_eq(sk_repair_apply(f.m, f.mix, &f.sa, &f.sb, lam, &f.d), SK_OK);
    ck_assert_double_le(rel_diff(f.m, f.mix, want, f.d.x), 1e-4);
    /* the repaired network is a plain network of the same layout */
    ck_assert_int_eq(f.mix->n, sk_model_params(f.m)->n);
    rfix_free(&f);
}
END_TEST

/* sk_repair_fold on a conv net with LayerNorm and on a BatchNorm VGG head:
 * the corrected point's output is scale * y + shift. */
START_TEST(test_repair_fold_points)
{
    for (int norm = 0; norm < SK_MNORM_COUNT; norm++) {
        sk_model_spec sp = tu_conv_spec(SK_ARCH_VGG11, (sk_mnorm)norm, 0.0625, 8, SK_VGGHEAD_GITREBASIN);
        sk_model *m;
        sk_rng r;
        ck_assert_int_eq(sk_model_new(&sp, 4, &m), SK_OK);
        sk_tset *p = sk_tset_like(sk_model_params(m)), *q = sk_tset_like(sk_model_params(m));
        sk_rng_seed(&r, 5);
        tu_randomize(p, &r);
        float x[4 * 3 * 64];
        for (int i = 0; i < 4 * 3 * 64; i++)
            x[i] = (float)sk_rng_normal(&r);
        int P = sk_model_n_repair_points(m);
        ck_assert_int_eq(P, 10); /* 8 convs and the two hidden head layers */
        for (int k = 0; k < P; k += 3) {
            sk_repair_point rp = sk_model_repair_point(m, k);
            ck_assert_int_eq(rp.norm, norm != SK_MNORM_NONE && k < 8);
            int C = rp.channels, S = rp.spatial;
            double scale[64], shift[64];
            for (int c = 0; c < C; c++) {
                scale[c] = 0.5 + 0.1 * c;
                shift[c] = 0.3 - 0.05 * c;
            }
            ck_assert_int_eq(sk_tset_copy(q, p), SK_OK);
            sk_repair_fold(q, &rp, scale, shift);
            float *y = sk_alloc_n((size_t)4 * C * S, sizeof(float));
            memcpy(y, sk_model_forward_to(m, p, x, 4, rp.op), (size_t)4 * C * S * sizeof(float));
            const float *y2 = sk_model_forward_to(m, q, x, 4, rp.op);
            for (int n = 0; n < 4; n++)
                for (int c = 0; c < C; c++)
                    for (int s = 0; s < S; s++) {
                        double want = scale[c] * y[(n * C + c) * S + s] + shift[c];
                        ck_assert_double_eq_tol(y2[(n * C + c) * S + s], want, 1e-4 * (1 + fabs(want)));
                    }
            sk_free(y);
        }
        sk_tset_free(p);
        sk_tset_free(q);
        sk_model_free(m);
    }
}
END_TEST

static Suite *lmc_suite(void)
{
    Suite *s = suite_create("lmc");
    TCase *tc = tcase_create("barrier");
    tcase_add_test(tc, test_grid);
    tcase_add_test(tc, test_loss_barrier);
    tcase_add_test(tc, test_accuracy_drop);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("repair");
    tcase_add_test(tr, test_repair_ends);
    tcase_add_test(tr, test_repair_hits_targets);
    tcase_add_test(tr, test_repair_fold_explicit);
    tcase_add_test(tr, test_repair_fold_points);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    return tu_run(lmc_suite());
}
