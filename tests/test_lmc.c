/* LMC barrier metrics on hand-made curves. */
#include "testutil.h"

#include <math.h>

#include "lmc/barrier.h"

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

static Suite *lmc_suite(void)
{
    Suite *s = suite_create("lmc");
    TCase *tc = tcase_create("barrier");
    tcase_add_test(tc, test_grid);
    tcase_add_test(tc, test_loss_barrier);
    tcase_add_test(tc, test_accuracy_drop);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(lmc_suite());
}
