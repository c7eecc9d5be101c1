/* Linear assignment: exactness against brute force, special inputs, input
 * errors, and the LP dual certificate on larger problems.
 * Dimension letters: N rows, M columns. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "rebasin/lap.h"
#include "ref/ref.h"

/* Kinds of random matrices. */
enum { K_UNIFORM, K_INT_TIES, K_NEGATIVE, K_HUGE, K_MIXED_SCALE, K_ZEROS, K_COUNT };
static const char *kind_name[K_COUNT] = {"uniform", "int-ties", "negative", "huge", "mixed-scale", "signed-zeros"};

static void fill(sk_rng *r, int kind, double *S, int n, int m) // S: (N, M)
{
    for (int k = 0; k < n * m; k++) {
        double u = sk_rng_uniform(r);
        switch (kind) {
        case K_UNIFORM:
            S[k] = u;
            break;
        case K_INT_TIES:
            S[k] = (double)sk_rng_below(r, 4);
            break;
        case K_NEGATIVE:
            S[k] = -3.0 * u - (double)sk_rng_below(r, 3);
            break;
        case K_HUGE:
            S[k] = (2.0 * u - 1.0) * 1e12;
            break;
        case K_MIXED_SCALE: {
            /* integer multiples of very different scales: sums stay exact */
            static const double sc[4] = {1e12, 1.0, 0.0, -1e12};
            S[k] = sc[sk_rng_below(r, 4)] + (double)((int)sk_rng_below(r, 5) - 2);
            break;
        }
        case K_ZEROS:
            S[k] = sk_rng_below(r, 2) ? 0.0 : -0.0;
            break;
        }
    }
}

static double objective_of(const double *S, int n, int m, const int64_t *p)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += S[(size_t)i * m + p[i]];
    return s;
}

static void assert_injective(const int64_t *p, int n, int m)
{
    char *seen = calloc((size_t)m + 1, 1);
    ck_assert_ptr_nonnull(seen);
    for (int i = 0; i < n; i++) {
        ck_assert_msg(p[i] >= 0 && p[i] < m, "p[%d] = %lld out of range", i, (long long)p[i]);
        ck_assert_msg(!seen[p[i]], "column %lld used twice", (long long)p[i]);
        seen[p[i]] = 1;
    }
    free(seen);
}

/* Optimum equals brute force for every kind, square and rectangular, for
 * maximisation and (via negation) minimisation. */
START_TEST(test_matches_bruteforce)
{
    sk_rng r;
    double S[81], C[81];
    int64_t p[9], pb[9];
    int count = 0;
    for (int kind = 0; kind < K_COUNT; kind++) {
        for (int n = 1; n <= 8; n++) {
            for (int m = n; m <= n + 2 && m <= 9; m++) {
                int seeds = (m <= 6) ? 40 : (m <= 8 ? 6 : 2);
                for (int seed = 0; seed < seeds; seed++) {
                    sk_rng_seed_stream(&r, 1000u + (uint64_t)seed, (uint64_t)(kind * 100 + n * 10 + m));
                    fill(&r, kind, S, n, m);
                    double best = lap_bruteforce_max(S, n, m, pb);
                    double obj = NAN;
                    ck_assert_int_eq(lap_solve_max(S, n, m, p, &obj), SK_OK);
                    assert_injective(p, n, m);
                    ck_assert_msg(obj == objective_of(S, n, m, p), "reported objective mismatch");
                    ck_assert_msg(obj == best, "%s %dx%d seed %d: lap %.17g != brute force %.17g", kind_name[kind], n,
                                  m, seed, obj, best);
                    /* minimisation of -S has the same optimum, negated */
                    for (int k = 0; k < n * m; k++)
                        C[k] = -S[k];
                    ck_assert_int_eq(lap_solve_min(C, n, m, p, &obj), SK_OK);
                    assert_injective(p, n, m);
                    ck_assert_msg(-obj == best, "%s %dx%d seed %d (min): %.17g != %.17g", kind_name[kind], n, m, seed,
                                  -obj, best);
                    count++;
                }
            }
        }
    }
    ck_assert_int_gt(count, 1000);
}
END_TEST

/* The brute force itself on a case worked by hand. */
START_TEST(test_bruteforce_by_hand)
{
    const double S[6] = {1, 5, 2, 4, 6, 0};
    int64_t p[2];
    ck_assert(lap_bruteforce_max(S, 2, 3, p) == 9.0); /* 5 + 4 */
    ck_assert_int_eq(p[0], 1);
    ck_assert_int_eq(p[1], 0);
    ck_assert(isnan(lap_bruteforce_max(S, 3, 2, p)));
    ck_assert(lap_bruteforce_max(S, 0, 3, p) == 0.0);
}
END_TEST

/* Identity and permuted identity (plus rectangular injections) give back
 * exactly that map, however the entries are offset or scaled. */
START_TEST(test_identity_and_permutations)
{
    sk_rng r;
    sk_rng_seed(&r, 5);
    for (int n = 1; n <= 64; n += (n < 8 ? 1 : 9)) {
        for (int extra = 0; extra <= 3; extra += 3) {
            int m = n + extra;
            double *S = calloc((size_t)n * m, sizeof *S);
            double *C = calloc((size_t)n * m, sizeof *C);
            int64_t *q = calloc((size_t)m, sizeof *q), *p = calloc((size_t)m, sizeof *p);
            ck_assert(S && C && q && p);
            for (int rep = 0; rep < 3; rep++) {
                if (rep == 0)
                    for (int i = 0; i < m; i++)
                        q[i] = i;
                else
                    sk_rng_permutation(&r, q, m);
                double off = rep == 2 ? -7.5 : 0.0;
                for (int k = 0; k < n * m; k++) {
                    S[k] = off;
                    C[k] = -off;
                }
                for (int i = 0; i < n; i++) {
                    S[(size_t)i * m + q[i]] = off + 1.0;
                    C[(size_t)i * m + q[i]] = -off - 1.0;
                }
                double obj;
                ck_assert_int_eq(lap_solve_max(S, n, m, p, &obj), SK_OK);
                for (int i = 0; i < n; i++)
                    ck_assert_int_eq(p[i], q[i]);
                ck_assert(obj == n * (off + 1.0));
                ck_assert_int_eq(lap_solve_min(C, n, m, p, &obj), SK_OK);
                for (int i = 0; i < n; i++)
                    ck_assert_int_eq(p[i], q[i]);
            }
            free(S);
            free(C);
            free(q);
            free(p);
        }
    }
}
END_TEST

START_TEST(test_tiny_and_empty)
{
    double one = -3.25, obj = 99.0;
    int64_t p[4] = {-5, -5, -5, -5};
    ck_assert_int_eq(lap_solve_max(&one, 1, 1, p, &obj), SK_OK);
    ck_assert_int_eq(p[0], 0);
    ck_assert(obj == -3.25);
    ck_assert_int_eq(lap_solve_min(&one, 1, 1, p, NULL), SK_OK);
    ck_assert_int_eq(p[0], 0);
    /* n = 0: valid, nothing written, objective 0; even with NULL pointers */
    p[0] = -5;
    obj = 99.0;
    ck_assert_int_eq(lap_solve_max(NULL, 0, 0, p, &obj), SK_OK);
    ck_assert(obj == 0.0);
    ck_assert_int_eq(p[0], -5);
    ck_assert_int_eq(lap_solve_min(NULL, 0, 4, NULL, NULL), SK_OK);
    /* one row, several columns: the argmax / argmin */
    const double row[4] = {2.0, 9.0, -1.0, 9.5};
    ck_assert_int_eq(lap_solve_max(row, 1, 4, p, &obj), SK_OK);
    ck_assert_int_eq(p[0], 3);
    ck_assert(obj == 9.5);
    ck_assert_int_eq(lap_solve_min(row, 1, 4, p, &obj), SK_OK);
    ck_assert_int_eq(p[0], 2);
    ck_assert(obj == -1.0);
}
END_TEST

START_TEST(test_all_equal)
{
    for (int n = 1; n <= 40; n += 13) {
        for (int m = n; m <= n + 5; m += 5) {
            double *S = malloc(sizeof(double) * (size_t)n * m);
            int64_t *p = malloc(sizeof(int64_t) * (size_t)n);
            ck_assert(S && p);
            for (int k = 0; k < n * m; k++)
                S[k] = 2.5;
            double obj;
            ck_assert_int_eq(lap_solve_max(S, n, m, p, &obj), SK_OK);
            assert_injective(p, n, m);
            ck_assert(obj == 2.5 * n);
            ck_assert_int_eq(lap_solve_min(S, n, m, p, &obj), SK_OK);
            assert_injective(p, n, m);
            ck_assert(obj == 2.5 * n);
            free(S);
            free(p);
        }
    }
}
END_TEST

START_TEST(test_rejects_bad_input)
{
    double S[6 * 7];
    int64_t p[7];
    for (int k = 0; k < 42; k++)
        S[k] = k % 5;
    S[3 * 7 + 5] = NAN;
    sk_err_clear();
    ck_assert_int_eq(lap_solve_max(S, 6, 7, p, NULL), SK_EINVAL);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "(3, 5)"));
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "NaN"));
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "HINT"));
    S[3 * 7 + 5] = 1.0;
    S[0] = -INFINITY;
    sk_err_clear();
    ck_assert_int_eq(lap_solve_min(S, 6, 7, p, NULL), SK_EINVAL);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "(0, 0)"));
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "infinite"));
    S[0] = 0.0;
    S[41] = INFINITY;
    sk_err_clear();
    ck_assert_int_eq(lap_solve_max(S, 6, 7, p, NULL), SK_EINVAL);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "(5, 6)"));
    S[41] = 1.0;
    /* more rows than columns, negative sizes */
    sk_err_clear();
    ck_assert_int_eq(lap_solve_max(S, 7, 6, p, NULL), SK_EINVAL);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "7 rows > 6 columns"));
    sk_err_clear();
    ck_assert_int_eq(lap_solve_max(S, -1, 6, p, NULL), SK_EINVAL);
    /* finite but spanning more than doubles can hold as potentials */
    S[0] = 1e308;
    S[1] = -1e308;
    sk_err_clear();
    ck_assert_int_eq(lap_solve_max(S, 6, 7, p, NULL), SK_EINVAL);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "range"));
    /* and the valid matrix solves */
    S[0] = 0.0;
    S[1] = 1.0;
    ck_assert_int_eq(lap_solve_max(S, 6, 7, p, NULL), SK_OK);
    assert_injective(p, 6, 7);
}
END_TEST

/* Greedy baseline: repeatedly take the largest remaining entry. */
static double greedy_max(const double *S, int n, int m)
{
    char *rowu = calloc((size_t)n, 1), *colu = calloc((size_t)m, 1);
    double tot = 0.0;
    ck_assert(rowu && colu);
    for (int t = 0; t < n; t++) {
        int bi = -1, bj = -1;
        for (int i = 0; i < n; i++) {
            if (rowu[i]) continue;
            for (int j = 0; j < m; j++)
                if (!colu[j] && (bi < 0 || S[(size_t)i * m + j] > S[(size_t)bi * m + bj])) {
                    bi = i;
                    bj = j;
                }
        }
        rowu[bi] = colu[bj] = 1;
        tot += S[(size_t)bi * m + bj];
    }
    free(rowu);
    free(colu);
    return tot;
}

/* Checks the LP dual certificate of a minimisation: feasibility within tol,
 * complementary slackness, v <= 0 / v == 0 on free columns when n < m, and
 * strong duality. tol = 0 demands exactness (integer data). */
static void check_certificate(const double *C, int n, int m, double tol, const char *what)
{
    int64_t *p = malloc(sizeof(int64_t) * (size_t)n);
    double *u = malloc(sizeof(double) * (size_t)n), *v = malloc(sizeof(double) * (size_t)m);
    char *used = calloc((size_t)m, 1);
    double obj;
    ck_assert(p && u && v && used);
    ck_assert_int_eq(lap_solve_min_duals(C, n, m, p, u, v, &obj), SK_OK);
    assert_injective(p, n, m);
    ck_assert_msg(obj == objective_of(C, n, m, p), "%s: objective mismatch", what);
    double dual = 0.0, worst = 0.0;
    for (int i = 0; i < n; i++) {
        dual += u[i];
        used[p[i]] = 1;
        double cs = C[(size_t)i * m + p[i]] - u[i] - v[p[i]];
        ck_assert_msg(fabs(cs) <= tol, "%s: slackness violated at row %d: %g", what, i, cs);
        for (int j = 0; j < m; j++) {
            double rc = C[(size_t)i * m + j] - u[i] - v[j];
            if (rc < worst) worst = rc;
        }
    }
    ck_assert_msg(worst >= -tol, "%s: dual infeasible by %g", what, -worst);
    for (int j = 0; j < m; j++) {
        dual += v[j];
        if (n < m) {
            ck_assert_msg(v[j] <= 0.0, "%s: v[%d] = %g > 0", what, j, v[j]);
            if (!used[j]) ck_assert_msg(v[j] == 0.0, "%s: free column %d has v = %g", what, j, v[j]);
        }
    }
    ck_assert_msg(fabs(dual - obj) <= tol * (n + m) + 0.0, "%s: duality gap %g", what, dual - obj);
    free(p);
    free(u);
    free(v);
    free(used);
}

START_TEST(test_large_random_certified)
{
    sk_rng r;
    int n = 200;
    double *S = malloc(sizeof(double) * 200 * 260), *C = malloc(sizeof(double) * 200 * 260);
    int64_t *p = malloc(sizeof(int64_t) * 200);
    ck_assert(S && C && p);
    sk_rng_seed(&r, 2024);
    for (int kind = 0; kind < K_COUNT; kind++) {
        for (int m = n; m <= n + 60; m += 60) {
            char what[64];
            snprintf(what, sizeof what, "%s %dx%d", kind_name[kind], n, m);
            fill(&r, kind, S, n, m);
            double obj;
            ck_assert_int_eq(lap_solve_max(S, n, m, p, &obj), SK_OK);
            assert_injective(p, n, m);
            ck_assert_msg(obj >= greedy_max(S, n, m), "%s: worse than greedy", what);
            /* certificate of the minimisation of -S (same problem) */
            for (int k = 0; k < n * m; k++)
                C[k] = -S[k];
            int exact = kind == K_INT_TIES || kind == K_MIXED_SCALE || kind == K_ZEROS;
            double scale = kind == K_HUGE ? 1e12 : 4.0;
            check_certificate(C, n, m, exact ? 0.0 : 1e-12 * scale, what);
            double obj2;
            ck_assert_int_eq(lap_solve_min(C, n, m, p, &obj2), SK_OK);
            ck_assert_msg(fabs(obj2 + obj) <= 1e-12 * scale * n, "%s: min/max disagree", what);
        }
    }
    free(S);
    free(C);
    free(p);
}
END_TEST

/* Near-permutation scores (the weight-matching regime) and near-ties at a
 * huge offset, where dual decrements in the row-reduction phase round away:
 * must terminate and stay optimal. */
START_TEST(test_near_permutation_and_rounding)
{
    sk_rng r;
    int n = 300;
    double *S = malloc(sizeof(double) * (size_t)n * n), *C = malloc(sizeof(double) * (size_t)n * n);
    int64_t *q = malloc(sizeof(int64_t) * (size_t)n), *p = malloc(sizeof(int64_t) * (size_t)n);
    ck_assert(S && C && q && p);
    sk_rng_seed(&r, 77);
    sk_rng_permutation(&r, q, n);
    for (int k = 0; k < n * n; k++)
        S[k] = 0.1 * sk_rng_uniform(&r);
    for (int i = 0; i < n; i++)
        S[(size_t)i * n + q[i]] += 1.0;
    double obj;
    ck_assert_int_eq(lap_solve_max(S, n, n, p, &obj), SK_OK);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(p[i], q[i]);
    for (int k = 0; k < n * n; k++)
        C[k] = -S[k];
    check_certificate(C, n, n, 1e-12, "near-permutation");
    /* 1e15 + tiny: ulp(1e15) = 0.125, so differences of 1e-3 round away */
    for (int k = 0; k < n * n; k++)
        C[k] = 1e15 + 1e-3 * sk_rng_uniform(&r) + (double)sk_rng_below(&r, 3);
    check_certificate(C, n, n, 1.0, "huge offset");
    for (int k = 0; k < n * n; k++)
        C[k] = (k % 7 == 0 ? -1e14 : 1e-9 * (double)(k % 11));
    check_certificate(C, n / 2, n, 1e-1, "mixed magnitudes, rectangular");
    free(S);
    free(C);
    free(q);
    free(p);
}
END_TEST

/* Columns near 1e15 (ulp 0.125) mixed with columns in [0, 1): in the row
 * reduction phase the dual decrement of a huge column is smaller than its ulp
 * and rounds away (the no-progress path). Must terminate and be optimal up
 * to the rounding of the huge entries themselves. */
START_TEST(test_dual_decrements_round_away)
{
    sk_rng r;
    static double S[64], C[120 * 120];
    int64_t p[8];
    sk_rng_seed(&r, 31);
    for (int rep = 0; rep < 150; rep++) {
        int n = 3 + rep % 6, m = n + (rep % 3 == 0);
        for (int k = 0; k < n * m; k++)
            C[k] = (k % m) % 2 == 0 ? 1e15 + 0.125 * sk_rng_below(&r, 8) : sk_rng_uniform(&r);
        for (int k = 0; k < n * m; k++)
            S[k] = -C[k];
        double best = lap_bruteforce_max(S, n, m, NULL), obj;
        ck_assert_int_eq(lap_solve_min(C, n, m, p, &obj), SK_OK);
        assert_injective(p, n, m);
        /* ulp(8e15) = 1: the sums themselves are rounded to that */
        ck_assert_msg(fabs(-obj - best) <= 2.0, "rep %d: %.17g vs %.17g", rep, -obj, best);
    }
    for (int k = 0; k < 120 * 120; k++)
        C[k] = (k % 120) % 2 == 0 ? 1e15 + 0.125 * sk_rng_below(&r, 8) : sk_rng_uniform(&r);
    check_certificate(C, 120, 120, 0.25, "round-away 120x120");
    check_certificate(C, 100, 120, 0.25, "round-away 100x120");
}
END_TEST

static Suite *lap_suite(void)
{
    Suite *s = suite_create("lap");
    TCase *tc = tcase_create("lap");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bruteforce_by_hand);
    tcase_add_test(tc, test_matches_bruteforce);
    tcase_add_test(tc, test_identity_and_permutations);
    tcase_add_test(tc, test_tiny_and_empty);
    tcase_add_test(tc, test_all_equal);
    tcase_add_test(tc, test_rejects_bad_input);
    tcase_add_test(tc, test_large_random_certified);
    tcase_add_test(tc, test_near_permutation_and_rounding);
    tcase_add_test(tc, test_dual_decrements_round_away);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(lap_suite());
}
