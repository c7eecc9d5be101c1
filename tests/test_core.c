/* Core: errors, RNG, tensor sets, BLAS self-check, string buffers, atomic files. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "core/blas.h"
#include "core/err.h"
#include "core/rng.h"
#include "core/stats.h"
#include "core/strbuf.h"
#include "core/tensor.h"
#include "io/atomic.h"

START_TEST(test_err_messages)
{
    sk_err_clear();
    ck_assert_int_eq(sk_err(SK_EFORMAT, "%s: bad magic %d", "x.idx", 7), SK_EFORMAT);
    ck_assert_str_eq(sk_err_msg(), "x.idx: bad magic 7");
    sk_err_prefix(SK_EFORMAT, "loading: ");
    ck_assert_str_eq(sk_err_msg(), "loading: x.idx: bad magic 7");
    /* the first message of a failing chain is kept: a caller's generic
     * message does not replace the root cause */
    ck_assert_int_eq(sk_err(SK_EIO, "read error"), SK_EIO);
    ck_assert_str_eq(sk_err_msg(), "loading: x.idx: bad magic 7");
    sk_err_clear();
    ck_assert_str_eq(sk_err_msg(), "");
    sk_err(SK_EIO, "second chain");
    ck_assert_str_eq(sk_err_msg(), "second chain");
    ck_assert_int_eq(sk_status_exit_code(SK_ECONFIG), 2);
    ck_assert_int_eq(sk_status_exit_code(SK_EUSAGE), 2);
    ck_assert_int_eq(sk_status_exit_code(SK_EIO), 1);
    ck_assert_int_eq(sk_status_exit_code(SK_OK), 0);
}
END_TEST

START_TEST(test_rng_deterministic_and_uniform)
{
    sk_rng a, b;
    sk_rng_seed(&a, 42);
    sk_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(sk_rng_u64(&a), sk_rng_u64(&b));
    sk_rng_seed_stream(&b, 42, 1);
    ck_assert_uint_ne(sk_rng_u64(&a), sk_rng_u64(&b));
    /* Moments of uniform and normal draws. */
    double su = 0, sn = 0, sn2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double u = sk_rng_uniform(&a), z = sk_rng_normal(&a);
        ck_assert(u >= 0.0 && u < 1.0);
        su += u;
        sn += z;
        sn2 += z * z;
    }
    ck_assert_double_eq_tol(su / n, 0.5, 0.005);
    ck_assert_double_eq_tol(sn / n, 0.0, 0.01);
    ck_assert_double_eq_tol(sn2 / n, 1.0, 0.02);
    /* below() stays in range and hits every value. */
    int hits[7] = {0};
    for (int i = 0; i < 7000; i++)
        hits[sk_rng_below(&a, 7)]++;
    for (int i = 0; i < 7; i++)
        ck_assert_int_gt(hits[i], 800);
}
END_TEST

START_TEST(test_rng_permutation_is_permutation)
{
    sk_rng r;
    int64_t p[257];
    int seen[257];
    sk_rng_seed(&r, 7);
    for (int rep = 0; rep < 20; rep++) {
        sk_rng_permutation(&r, p, 257);
        memset(seen, 0, sizeof seen);
        for (int i = 0; i < 257; i++) {
            ck_assert(p[i] >= 0 && p[i] < 257);
            seen[p[i]]++;
        }
        for (int i = 0; i < 257; i++)
            ck_assert_int_eq(seen[i], 1);
    }
}
END_TEST

START_TEST(test_tset_layout)
{
    sk_tset *s = sk_tset_new();
    int64_t w[2] = {3, 4}, b[1] = {3};
    ck_assert_int_eq(sk_tset_add(s, "layers.0.weight", 2, w), 0);
    ck_assert_int_eq(sk_tset_add(s, "layers.0.bias", 1, b), 1);
    ck_assert_int_eq(sk_tset_add(s, "layers.0.bias", 1, b), -1); /* duplicate */
    ck_assert_int_eq(sk_tset_alloc(s), SK_OK);
    ck_assert_int_eq(s->numel, 15);
    ck_assert_ptr_eq(sk_tset_get(s, "layers.0.bias")->data, s->block + 12);
    s->block[13] = 2.5f;
    sk_tset *c = sk_tset_clone(s);
    ck_assert(sk_tset_same_layout(s, c));
    ck_assert_float_eq(c->t[1].data[1], 2.5f);
    sk_tset *z = sk_tset_like(s);
    ck_assert_float_eq(z->t[1].data[1], 0.0f);
    char d[128];
    sk_tensor_describe(&s->t[0], d, sizeof d);
    ck_assert_str_eq(d, "layers.0.weight (3, 4)");
    sk_tset_free(s);
    sk_tset_free(c);
    sk_tset_free(z);
    sk_tset_free(NULL);
}
END_TEST

START_TEST(test_blas_selfcheck)
{
    /* Whatever kernel the library picked, SGEMM must agree with the naive loop. */
    ck_assert_double_lt(sk_blas_selfcheck(), 1e-5);
}
END_TEST

START_TEST(test_strbuf)
{
    sk_strbuf b = SK_STRBUF_INIT;
    ck_assert_str_eq(sk_strbuf_str(&b), "");
    ck_assert_int_eq(sk_strbuf_append(&b, "ab"), SK_OK);
    ck_assert_int_eq(sk_strbuf_append_n(&b, "cdef", 2), SK_OK);
    ck_assert_int_eq(sk_strbuf_appendf(&b, "-%d-%s", 42, "x"), SK_OK);
    ck_assert_str_eq(sk_strbuf_str(&b), "abcd-42-x");
    ck_assert_uint_eq(b.len, 9);
    /* Growing past the first allocation, through both kinds of add. */
    for (int i = 0; i < 300; i++)
        ck_assert_int_eq(sk_strbuf_appendf(&b, "%03d", i), SK_OK);
    ck_assert_int_eq(sk_strbuf_appendf(&b, "%600s", "<"), SK_OK);
    ck_assert_uint_eq(b.len, 9 + 900 + 600);
    ck_assert_uint_eq(strlen(b.s), b.len);
    ck_assert(strncmp(b.s + 9, "000001002", 9) == 0);
    ck_assert_int_eq(b.s[b.len - 1], '<');
    sk_strbuf_truncate(&b, 4);
    ck_assert_str_eq(sk_strbuf_str(&b), "abcd");
    sk_strbuf_truncate(&b, 10);
    ck_assert_str_eq(sk_strbuf_str(&b), "abcd");
    /* A failure is sticky and leaves the text as it was. */
    ck_assert_int_eq(sk_strbuf_reserve(&b, (size_t)-1), SK_ENOMEM);
    ck_assert_int_eq(sk_strbuf_append(&b, "more"), SK_ENOMEM);
    ck_assert_int_eq(sk_strbuf_appendf(&b, "%d", 1), SK_ENOMEM);
    ck_assert_int_eq(b.err, SK_ENOMEM);
    ck_assert_str_eq(sk_strbuf_str(&b), "abcd");
    ck_assert_ptr_null(sk_strbuf_detach(&b));
    ck_assert_ptr_null(b.s);
    /* reset clears the error and keeps the memory. */
    ck_assert_int_eq(sk_strbuf_append(&b, "x"), SK_OK);
    char *mem = b.s;
    b.err = SK_ENOMEM;
    sk_strbuf_reset(&b);
    ck_assert_int_eq(b.err, SK_OK);
    ck_assert_str_eq(sk_strbuf_str(&b), "");
    ck_assert_int_eq(sk_strbuf_append(&b, "yz"), SK_OK);
    ck_assert_ptr_eq(b.s, mem);
    char *s = sk_strbuf_detach(&b);
    ck_assert_str_eq(s, "yz");
    ck_assert_ptr_null(b.s);
    ck_assert_uint_eq(b.len, 0);
    free(s);
    s = sk_strbuf_detach(&b); /* nothing added: an empty text, not NULL */
    ck_assert_str_eq(s, "");
    free(s);
    sk_strbuf_free(&b);
    sk_strbuf_free(NULL);
}
END_TEST

START_TEST(test_atomic_write)
{
    const char *p = tu_path("atomic.txt");
    ck_assert_int_eq(sk_write_file_atomic(p, "hello\n", 6), SK_OK);
    char *s = tu_read(p, NULL);
    ck_assert_str_eq(s, "hello\n");
    free(s);
    /* An aborted write leaves the old content and no temp file behind. */
    sk_afile f;
    ck_assert_int_eq(sk_afile_open(&f, p), SK_OK);
    fputs("half", f.fp);
    char tmp[4096];
    strcpy(tmp, f.tmp);
    sk_afile_abort(&f);
    ck_assert(!sk_file_exists(tmp));
    s = tu_read(p, NULL);
    ck_assert_str_eq(s, "hello\n");
    free(s);
    ck_assert_int_eq(sk_mkdir_p(tu_path("a/b/c")), SK_OK);
    ck_assert(sk_file_exists(tu_path("a/b/c")));
    sk_err_clear();
    ck_assert_int_eq(sk_write_file_atomic("/nonexistent-dir/x", "a", 1), SK_EIO);
    ck_assert(strstr(sk_err_msg(), "/nonexistent-dir/x") != NULL);
}
END_TEST

/* The summaries of repeated measurements on hand-made values: sample
 * standard deviation (n - 1), the t-interval (n >= 3 only), NaN entries
 * skipped, and paired differences with their sign agreement. */
START_TEST(test_stats)
{
    sk_stats s;
    const double v[] = {1, 2, 3, 4, NAN};
    sk_stats_of(v, 5, &s);
    ck_assert_int_eq(s.n, 4);
    ck_assert_double_eq_tol(s.mean, 2.5, 1e-15);
    ck_assert_double_eq_tol(s.std, sqrt(5.0 / 3.0), 1e-15); /* sum of squares 5 over n - 1 = 3 */
    ck_assert_double_eq(s.min, 1);
    ck_assert_double_eq(s.max, 4);
    double h = 3.182446 * sqrt(5.0 / 3.0) / 2; /* t(0.975, 3) std / sqrt(4) */
    ck_assert_double_eq_tol(s.ci_lo, 2.5 - h, 1e-12);
    ck_assert_double_eq_tol(s.ci_hi, 2.5 + h, 1e-12);
    const double two[] = {0.25, 0.75};
    sk_stats_of(two, 2, &s);
    ck_assert_double_eq_tol(s.std, sqrt(0.125), 1e-15);
    ck_assert(isnan(s.ci_lo) && isnan(s.ci_hi)); /* no interval below 3 values */
    sk_stats_of(two, 1, &s);
    ck_assert_int_eq(s.n, 1);
    ck_assert(s.mean == 0.25 && isnan(s.std));
    sk_stats_of(v + 4, 1, &s);
    ck_assert(s.n == 0 && isnan(s.mean));
    /* t quantiles: the table, and between its entries */
    ck_assert_double_eq_tol(sk_t975(1), 12.706205, 1e-6);
    ck_assert_double_eq_tol(sk_t975(2), 4.302653, 1e-6);
    ck_assert_double_eq_tol(sk_t975(30), 2.042272, 1e-6);
    ck_assert_double_eq_tol(sk_t975(40), 2.021075, 1e-6);
    ck_assert_double_eq_tol(sk_t975(50), 2.008559, 1e-4);
    ck_assert_double_eq_tol(sk_t975(90), 1.986675, 1e-4);
    ck_assert_double_eq_tol(sk_t975(1000), 1.962339, 1e-4);
    ck_assert_double_eq_tol(sk_t975(1000000), 1.959966, 1e-5);
    ck_assert(isnan(sk_t975(0)));
    for (int df = 1; df < 300; df++) /* decreasing towards the normal quantile */
        ck_assert(sk_t975(df + 1) < sk_t975(df) && sk_t975(df) > 1.959964);
    /* paired: d = a - b = {-0.5, -1, 0.25}, one pair without b */
    const double a[] = {1.0, 2.0, 3.25, 7.0}, b[] = {1.5, 3.0, 3.0, NAN};
    sk_paired p;
    sk_paired_of(a, b, 4, &p);
    ck_assert_int_eq(p.d.n, 3);
    ck_assert_double_eq_tol(p.d.mean, -1.25 / 3, 1e-15);
    ck_assert_int_eq(p.neg, 2);
    ck_assert_int_eq(p.pos, 1);
    ck_assert_int_eq(p.agree, 2); /* 2 of 3 agree with the negative mean */
    double m = -1.25 / 3, ss = (-0.5 - m) * (-0.5 - m) + (-1 - m) * (-1 - m) + (0.25 - m) * (0.25 - m);
    ck_assert_double_eq_tol(p.d.std, sqrt(ss / 2), 1e-15);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_err_messages);
    tcase_add_test(tc, test_stats);
    tcase_add_test(tc, test_rng_deterministic_and_uniform);
    tcase_add_test(tc, test_rng_permutation_is_permutation);
    tcase_add_test(tc, test_tset_layout);
    tcase_add_test(tc, test_blas_selfcheck);
    tcase_add_test(tc, test_strbuf);
    tcase_add_test(tc, test_atomic_write);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(core_suite());
}
