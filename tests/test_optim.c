/* Optimisers, clipping and schedules: golden trajectories from PyTorch 1.13
 * (tests/fixtures/optim_golden.h5, made by tests/golden/make_optim_fixtures.py),
 * closed-form schedules, clipping, buffers left alone, option validation. */
#include "testutil.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/err.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "nn/optim.h"

#define NP 17 /* trainable entries in the fixture: w (4, 3) and b (5,) */
#define NCASE_MIN 16

/* w (4, 3), a buffer rm (4,) between the trainable tensors, b (5,). */
static sk_tset *fixture_set(void)
{
    sk_tset *s = sk_tset_new();
    int64_t w[2] = {4, 3}, r[1] = {4}, b[1] = {5};
    ck_assert_int_eq(sk_tset_add(s, "w", 2, w), 0);
    ck_assert_int_eq(sk_tset_add(s, "rm", 1, r), 1);
    ck_assert_int_eq(sk_tset_add(s, "b", 1, b), 2);
    s->t[1].is_buffer = 1;
    ck_assert_int_eq(sk_tset_alloc(s), SK_OK);
    return s;
}

/* flat [w, b] (17,) -> the set (skipping rm) */
static void put_flat(sk_tset *s, const float *x)
{
    memcpy(sk_tset_get(s, "w")->data, x, 12 * sizeof(float));
    memcpy(sk_tset_get(s, "b")->data, x + 12, 5 * sizeof(float));
}

static double attr_f64(hid_t g, const char *name)
{
    double v = NAN;
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    ck_assert_msg(a >= 0, "attribute %s missing", name);
    ck_assert(H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    H5Aclose(a);
    return v;
}

static int64_t attr_i64(hid_t g, const char *name)
{
    long long v = 0;
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    ck_assert_msg(a >= 0, "attribute %s missing", name);
    ck_assert(H5Aread(a, H5T_NATIVE_LLONG, &v) >= 0);
    H5Aclose(a);
    return (int64_t)v;
}

/* A fixed-length string attribute (h5py np.bytes_) into buf. */
static void attr_str(hid_t g, const char *name, char *buf, size_t n)
{
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    ck_assert_msg(a >= 0, "attribute %s missing", name);
    hid_t ft = H5Aget_type(a);
    size_t len = H5Tget_size(ft);
    ck_assert(len + 1 <= n);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, len + 1);
    H5Tset_strpad(mt, H5T_STR_NULLTERM);
    memset(buf, 0, n);
    ck_assert(H5Aread(a, mt, buf) >= 0);
    H5Tclose(mt);
    H5Tclose(ft);
    H5Aclose(a);
}

/* Read a whole dataset of `count` elements of memory type mt. */
static void read_ds(hid_t g, const char *name, hid_t mt, void *buf, hssize_t count)
{
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    ck_assert_msg(d >= 0, "dataset %s missing", name);
    hid_t sp = H5Dget_space(d);
    ck_assert_int_eq(H5Sget_simple_extent_npoints(sp), count);
    ck_assert(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
}

typedef struct {
    int steps, ncase;
    double worst; /* max relative parameter error over all cases */
    char worst_case[160];
} golden_ctx;

static void replay_case(hid_t cases, const char *name, golden_ctx *ctx)
{
    int T = ctx->steps;
    hid_t g = H5Gopen2(cases, name, H5P_DEFAULT);
    ck_assert(g >= 0);
    sk_optim_opts o;
    char kind[32], sched[32];
    attr_str(g, "kind", kind, sizeof kind);
    attr_str(g, "schedule", sched, sizeof sched);
    ck_assert_int_eq(sk_opt_kind_parse(kind, &o.kind), 0);
    sk_optim_opts_init(&o, o.kind);
    ck_assert_int_eq(sk_sched_kind_parse(sched, &o.schedule), 0);
    o.lr = attr_f64(g, "lr");
    o.momentum = attr_f64(g, "momentum");
    o.weight_decay = attr_f64(g, "weight_decay");
    o.beta1 = attr_f64(g, "beta1");
    o.beta2 = attr_f64(g, "beta2");
    o.eps = attr_f64(g, "eps");
    o.clip_norm = attr_f64(g, "clip_norm");
    o.clip_value = attr_f64(g, "clip_value");
    o.gamma = attr_f64(g, "gamma");
    o.nesterov = (int)attr_i64(g, "nesterov");
    o.total_steps = attr_i64(g, "total_steps");
    o.warmup_steps = attr_i64(g, "warmup_steps");
    o.step_size = attr_i64(g, "step_size");
    if (o.schedule != SK_SCHED_STEP) o.step_size = 1;

    float *traj = malloc(sizeof(float) * (size_t)(T + 1) * NP);
    float *grads = malloc(sizeof(float) * (size_t)T * NP);
    double *lrs = malloc(sizeof(double) * (size_t)T);
    read_ds(g, "params", H5T_NATIVE_FLOAT, traj, (hssize_t)(T + 1) * NP);
    read_ds(g, "grads", H5T_NATIVE_FLOAT, grads, (hssize_t)T * NP);
    read_ds(g, "lr", H5T_NATIVE_DOUBLE, lrs, T);

    sk_tset *p = fixture_set(), *gr = sk_tset_like(p);
    float *rm = sk_tset_get(p, "rm")->data;
    for (int i = 0; i < 4; i++)
        rm[i] = 0.25f * (float)(i + 1);
    put_flat(p, traj);
    sk_optim *opt = NULL;
    ck_assert_msg(sk_optim_new(&o, p, &opt) == SK_OK, "%s: %s", name, sk_err_msg());
    for (int k = 0; k < T; k++) {
        put_flat(gr, grads + (size_t)k * NP);
        /* A huge "gradient" in the buffer slot: must not count for clipping. */
        for (int i = 0; i < 4; i++)
            sk_tset_get(gr, "rm")->data[i] = 1e3f;
        ck_assert_int_eq(sk_optim_steps_done(opt), k);
        double lr = sk_optim_step(opt, p, gr);
        ck_assert_msg(fabs(lr - lrs[k]) <= 1e-12 * fabs(lrs[k]) + 1e-15, "%s step %d: lr %.17g, torch %.17g", name, k,
                      lr, lrs[k]);
        /* Relative error of the parameter vector, max|got - torch| / max|torch|:
         * torch's CPU kernels fuse a + alpha*b into an FMA on AVX2/AVX-512
         * machines and ours round twice, so an entry that cancels to near
         * zero can differ from torch's by ~1 ulp of its old value. */
        const float *want = traj + (size_t)(k + 1) * NP;
        const float *w = sk_tset_get(p, "w")->data, *b = sk_tset_get(p, "b")->data;
        double maxdiff = 0.0, maxref = 0.0;
        int at = 0;
        for (int i = 0; i < NP; i++) {
            double got = i < 12 ? w[i] : b[i - 12];
            double d = fabs(got - want[i]);
            if (d > maxdiff) {
                maxdiff = d;
                at = i;
            }
            maxref = fmax(maxref, fabs(want[i]));
        }
        double err = maxdiff / maxref;
        if (err > ctx->worst) {
            ctx->worst = err;
            snprintf(ctx->worst_case, sizeof ctx->worst_case, "%s", name);
        }
        ck_assert_msg(err <= 1e-6, "%s step %d: entry %d differs from torch by %.3g (relative %.3g)", name, k, at,
                      maxdiff, err);
        for (int i = 0; i < 4; i++)
            ck_assert_float_eq(rm[i], 0.25f * (float)(i + 1));
    }
    ctx->ncase++;
    sk_optim_free(opt);
    sk_tset_free(p);
    sk_tset_free(gr);
    free(traj);
    free(grads);
    free(lrs);
    H5Gclose(g);
}

START_TEST(test_golden_pytorch)
{
    const char *path = tu_src("tests/fixtures/optim_golden.h5");
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_msg(f >= 0, "cannot open %s", path);
    golden_ctx ctx = {0};
    ctx.steps = (int)attr_i64(f, "steps");
    ck_assert_int_eq(ctx.steps, 10);
    hid_t cases = H5Gopen2(f, "cases", H5P_DEFAULT);
    ck_assert(cases >= 0);
    /* by index, not H5Literate: its callback type differs between HDF5 1.10 and 1.12 */
    H5G_info_t gi;
    ck_assert(H5Gget_info(cases, &gi) >= 0);
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        char name[128];
        ssize_t len = H5Lget_name_by_idx(cases, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
        ck_assert(len > 0 && (size_t)len < sizeof name);
        replay_case(cases, name, &ctx);
    }
    ck_assert_int_ge(ctx.ncase, NCASE_MIN);
    fprintf(stderr, "optim golden: %d cases, worst relative error %.3g (%s)\n", ctx.ncase, ctx.worst, ctx.worst_case);
    H5Gclose(cases);
    H5Fclose(f);
}
END_TEST

static sk_optim *make_opt(const sk_optim_opts *o, const sk_tset *p)
{
    sk_optim *opt = NULL;
    ck_assert_msg(sk_optim_new(o, p, &opt) == SK_OK, "%s", sk_err_msg());
    return opt;
}

START_TEST(test_schedules_closed_form)
{
    sk_tset *p = fixture_set();
    sk_optim_opts o;
    sk_optim_opts_init(&o, SK_OPT_SGD);
    o.lr = 0.1;
    sk_optim *opt = make_opt(&o, p);
    ck_assert_double_eq(sk_optim_lr(opt, 0), 0.1);
    ck_assert_double_eq(sk_optim_lr(opt, 123456), 0.1);
    sk_optim_free(opt);

    /* cosine, 100 steps, 10 warm-up */
    o.schedule = SK_SCHED_COSINE;
    o.total_steps = 100;
    o.warmup_steps = 10;
    opt = make_opt(&o, p);
    ck_assert_double_eq(sk_optim_lr(opt, 0), 0.0);
    ck_assert_double_eq_tol(sk_optim_lr(opt, 5), 0.05, 1e-15);
    ck_assert_double_eq_tol(sk_optim_lr(opt, 10), 0.1, 1e-15);
    ck_assert_double_eq_tol(sk_optim_lr(opt, 55), 0.05, 1e-15); /* half way through the cosine */
    ck_assert_double_eq_tol(sk_optim_lr(opt, 40), 0.1 * 0.5 * (1 + cos(M_PI / 3)), 1e-15);
    ck_assert_double_eq_tol(sk_optim_lr(opt, 100), 0.0, 1e-15);
    ck_assert_double_eq_tol(sk_optim_lr(opt, 150), 0.0, 1e-15); /* stays at 0 after the end */
    for (int k = 11; k < 100; k++)
        ck_assert(sk_optim_lr(opt, k) < sk_optim_lr(opt, k - 1));
    sk_optim_free(opt);
    /* no warm-up: CosineAnnealingLR(T_max=100) closed form */
    o.warmup_steps = 0;
    opt = make_opt(&o, p);
    for (int k = 0; k <= 100; k += 7)
        ck_assert_double_eq_tol(sk_optim_lr(opt, k), 0.05 * (1 + cos(M_PI * k / 100.0)), 1e-15);
    sk_optim_free(opt);

    o.schedule = SK_SCHED_STEP;
    o.step_size = 30;
    o.gamma = 0.1;
    opt = make_opt(&o, p);
    ck_assert_double_eq_tol(sk_optim_lr(opt, 29), 0.1, 1e-15);
    ck_assert_double_eq_tol(sk_optim_lr(opt, 30), 0.01, 1e-15);
    ck_assert_double_eq_tol(sk_optim_lr(opt, 89), 0.001, 1e-15);
    ck_assert_double_eq_tol(sk_optim_lr(opt, 90), 0.0001, 1e-16);
    sk_optim_free(opt);

    o.schedule = SK_SCHED_EXPONENTIAL;
    o.gamma = 0.95;
    opt = make_opt(&o, p);
    ck_assert_double_eq(sk_optim_lr(opt, 0), 0.1);
    ck_assert_double_eq_tol(sk_optim_lr(opt, 10), 0.1 * pow(0.95, 10), 1e-15);
    /* the step uses (and returns) the scheduled lr, then advances */
    sk_tset *g = sk_tset_like(p);
    for (int k = 0; k < 3; k++)
        ck_assert_double_eq_tol(sk_optim_step(opt, p, g), 0.1 * pow(0.95, k), 1e-15);
    ck_assert_int_eq(sk_optim_steps_done(opt), 3);
    sk_optim_reset(opt);
    ck_assert_int_eq(sk_optim_steps_done(opt), 0);
    ck_assert_double_eq(sk_optim_step(opt, p, g), 0.1);
    sk_optim_free(opt);
    sk_tset_free(g);
    sk_tset_free(p);
}
END_TEST

START_TEST(test_clipping)
{
    sk_tset *p = fixture_set(), *g = sk_tset_like(p);
    float *gw = sk_tset_get(g, "w")->data, *gb = sk_tset_get(g, "b")->data;
    float *rg = sk_tset_get(g, "rm")->data;
    sk_optim_opts o;
    sk_optim_opts_init(&o, SK_OPT_SGD);
    o.lr = 0.0; /* only the clipping of the gradient is observed */

    /* value clipping: clamp entries, keep small ones and NaN, leave the buffer slot */
    o.clip_value = 1e-3;
    sk_optim *opt = make_opt(&o, p);
    for (int i = 0; i < 12; i++)
        gw[i] = (float)(i - 6) * 4e-4f;
    gb[0] = NAN;
    gb[1] = -5.0f;
    rg[0] = 9.0f;
    sk_optim_step(opt, p, g);
    for (int i = 0; i < 12; i++) {
        float x = (float)(i - 6) * 4e-4f;
        ck_assert_float_eq(gw[i], x < -1e-3f ? -1e-3f : (x > 1e-3f ? 1e-3f : x));
    }
    ck_assert(isnan(gb[0]));
    ck_assert_float_eq(gb[1], -1e-3f);
    ck_assert_float_eq(rg[0], 9.0f);
    sk_optim_free(opt);

    /* norm clipping: ||g|| = 5 (3-4-0 triangle) -> scaled to norm 1; the buffer is not counted */
    o.clip_value = 0;
    o.clip_norm = 1.0;
    opt = make_opt(&o, p);
    memset(g->block, 0, (size_t)g->numel * sizeof(float));
    gw[0] = 3.0f;
    gb[4] = 4.0f;
    rg[2] = 100.0f;
    ck_assert_double_eq_tol(sk_grad_norm(g), 5.0, 1e-12);
    sk_optim_step(opt, p, g);
    ck_assert_float_eq_tol(gw[0], 0.6f, 1e-6f);
    ck_assert_float_eq_tol(gb[4], 0.8f, 1e-6f);
    ck_assert_float_eq(rg[2], 100.0f);
    ck_assert_double_eq_tol(sk_grad_norm(g), 1.0, 1e-6);
    /* below the threshold: untouched, bit for bit */
    gw[0] = 0.3f;
    gb[4] = 0.4f;
    sk_optim_step(opt, p, g);
    ck_assert_float_eq(gw[0], 0.3f);
    ck_assert_float_eq(gb[4], 0.4f);
    sk_optim_free(opt);
    sk_tset_free(g);
    sk_tset_free(p);
}
END_TEST

/* Independent double-precision Adam/SGD on a large random set, compared with
 * the float kernels; also 1 vs 2 threads must agree bit for bit. */
static void ref_step(const sk_optim_opts *o, int64_t t, double *p, const double *g, double *s1, double *s2, int64_t n,
                     double lr)
{
    for (int64_t i = 0; i < n; i++) {
        double gi = g[i];
        if (o->kind == SK_OPT_SGD) {
            gi += o->weight_decay * p[i];
            if (o->momentum > 0) {
                s1[i] = t == 0 ? gi : o->momentum * s1[i] + gi;
                gi = o->nesterov ? gi + o->momentum * s1[i] : s1[i];
            }
            p[i] -= lr * gi;
        } else {
            if (o->kind == SK_OPT_ADAMW)
                p[i] *= 1.0 - lr * o->weight_decay;
            else
                gi += o->weight_decay * p[i];
            s1[i] = o->beta1 * s1[i] + (1 - o->beta1) * gi;
            s2[i] = o->beta2 * s2[i] + (1 - o->beta2) * gi * gi;
            double mh = s1[i] / (1 - pow(o->beta1, (double)(t + 1)));
            double vh = s2[i] / (1 - pow(o->beta2, (double)(t + 1)));
            (void)vh;
            p[i] -= lr * mh / (sqrt(s2[i]) / sqrt(1 - pow(o->beta2, (double)(t + 1))) + o->eps);
        }
    }
}

START_TEST(test_large_vs_double_reference_and_threads)
{
    const int64_t n = 200003; /* odd; OpenMP on (parallel_min below) */
    static const sk_opt_kind kinds[3] = {SK_OPT_SGD, SK_OPT_ADAM, SK_OPT_ADAMW};
    for (int kk = 0; kk < 3; kk++) {
        sk_tset *p1 = sk_tset_new();
        int64_t sh[1] = {n}, sb[1] = {1000};
        sk_tset_add(p1, "a", 1, sh);
        sk_tset_add(p1, "bn.running_mean", 1, sb);
        sk_tset_add(p1, "c", 1, sb);
        p1->t[1].is_buffer = 1;
        ck_assert_int_eq(sk_tset_alloc(p1), SK_OK);
        sk_rng r;
        sk_rng_seed(&r, 11 + (uint64_t)kk);
        for (int64_t i = 0; i < p1->numel; i++)
            p1->block[i] = (float)sk_rng_normal(&r);
        sk_tset *p2 = sk_tset_clone(p1), *g = sk_tset_like(p1);
        int64_t N = p1->numel;
        double *dp = malloc(sizeof(double) * (size_t)N), *dg = malloc(sizeof(double) * (size_t)N);
        double *d1 = calloc((size_t)N, sizeof(double)), *d2 = calloc((size_t)N, sizeof(double));
        for (int64_t i = 0; i < N; i++)
            dp[i] = p1->block[i];
        sk_optim_opts o;
        sk_optim_opts_init(&o, kinds[kk]);
        o.weight_decay = 0.05;
        o.momentum = 0.9;
        o.nesterov = 1;
        o.lr = kinds[kk] == SK_OPT_SGD ? 0.01 : 1e-3;
        o.parallel_min = 1000;
        sk_optim *a = make_opt(&o, p1), *b = make_opt(&o, p2);
        for (int t = 0; t < 5; t++) {
            for (int64_t i = 0; i < N; i++) {
                g->block[i] = (float)sk_rng_normal(&r);
                dg[i] = g->block[i];
            }
            sk_tset *g2 = sk_tset_clone(g);
            sk_threads_set(1);
            double lr = sk_optim_step(a, p1, g);
            sk_threads_set(2);
            sk_optim_step(b, p2, g2);
            sk_tset_free(g2);
            /* the buffer (indices n .. n+999) is skipped in the reference too */
            ref_step(&o, t, dp, dg, d1, d2, n, lr);
            ref_step(&o, t, dp + n + 1000, dg + n + 1000, d1 + n + 1000, d2 + n + 1000, 1000, lr);
        }
        sk_threads_set(1);
        ck_assert_int_eq(memcmp(p1->block, p2->block, sizeof(float) * (size_t)N), 0);
        double worst = 0;
        for (int64_t i = 0; i < N; i++) {
            double e = fabs(p1->block[i] - dp[i]) / fmax(fabs(dp[i]), 1e-2);
            if (e > worst) worst = e;
        }
        ck_assert_msg(worst < 1e-5, "%s: float vs double reference rel err %g", sk_opt_kind_name(kinds[kk]), worst);
        for (int64_t i = n; i < n + 1000; i++)
            ck_assert_float_eq(p1->block[i], (float)dp[i]);
        sk_optim_free(a);
        sk_optim_free(b);
        sk_tset_free(p1);
        sk_tset_free(p2);
        sk_tset_free(g);
        free(dp);
        free(dg);
        free(d1);
        free(d2);
    }
}
END_TEST

START_TEST(test_names_and_validation)
{
    sk_opt_kind k;
    sk_sched_kind s;
    ck_assert_int_eq(sk_opt_kind_parse("adamw", &k), 0);
    ck_assert_int_eq(k, SK_OPT_ADAMW);
    ck_assert_str_eq(sk_opt_kind_name(SK_OPT_SGD), "sgd");
    ck_assert_int_eq(sk_opt_kind_parse("rmsprop", &k), -1);
    ck_assert(strstr(sk_err_msg(), "rmsprop") && strstr(sk_err_msg(), "HINT"));
    ck_assert_int_eq(sk_sched_kind_parse("cosine", &s), 0);
    ck_assert_int_eq(s, SK_SCHED_COSINE);
    ck_assert_str_eq(sk_sched_kind_name(SK_SCHED_EXPONENTIAL), "exponential");
    ck_assert_int_eq(sk_sched_kind_parse("linear", &s), -1);

    sk_tset *p = fixture_set();
    sk_optim *opt = NULL;
    sk_optim_opts o;
    sk_optim_opts_init(&o, SK_OPT_SGD);
    o.nesterov = 1; /* without momentum */
    sk_err_clear();
    ck_assert_int_eq(sk_optim_new(&o, p, &opt), SK_ECONFIG);
    ck_assert_ptr_null(opt);
    ck_assert(strstr(sk_err_msg(), "nesterov"));
    sk_optim_opts_init(&o, SK_OPT_ADAM);
    o.beta2 = 1.0;
    sk_err_clear();
    ck_assert_int_eq(sk_optim_new(&o, p, &opt), SK_ECONFIG);
    sk_optim_opts_init(&o, SK_OPT_ADAM);
    o.schedule = SK_SCHED_COSINE;
    o.total_steps = 10;
    o.warmup_steps = 11;
    sk_err_clear();
    ck_assert_int_eq(sk_optim_new(&o, p, &opt), SK_ECONFIG);
    ck_assert(strstr(sk_err_msg(), "warmup_steps"));
    o.schedule = SK_SCHED_STEP;
    o.step_size = 0;
    sk_err_clear();
    ck_assert_int_eq(sk_optim_new(&o, p, &opt), SK_ECONFIG);
    o.lr = -1;
    o.schedule = SK_SCHED_CONSTANT;
    sk_err_clear();
    ck_assert_int_eq(sk_optim_new(&o, p, &opt), SK_ECONFIG);

    /* a step with a gradient set of another layout is refused, nothing changes */
    sk_optim_opts_init(&o, SK_OPT_ADAM);
    opt = make_opt(&o, p);
    sk_tset *other = sk_tset_new();
    int64_t sh[1] = {21};
    sk_tset_add(other, "w", 1, sh);
    ck_assert_int_eq(sk_tset_alloc(other), SK_OK);
    sk_err_clear();
    ck_assert(isnan(sk_optim_step(opt, p, other)));
    ck_assert(strstr(sk_err_msg(), "layout"));
    ck_assert_int_eq(sk_optim_steps_done(opt), 0);
    sk_optim_free(opt);
    sk_optim_free(NULL);
    sk_tset_free(other);
    sk_tset_free(p);
}
END_TEST

/* Export after k steps, import into a new optimiser, continue: every later
 * step equals, bit for bit, the one an optimiser that never stopped takes
 * (SGD without and with momentum and Nesterov, Adam, AdamW with a schedule
 * and clipping); imports of the wrong shape are refused. */
START_TEST(test_export_import)
{
    static const sk_opt_kind kinds[] = {SK_OPT_SGD, SK_OPT_SGD, SK_OPT_SGD, SK_OPT_ADAM, SK_OPT_ADAMW};
    for (int c = 0; c < 5; c++) {
        sk_optim_opts o;
        sk_optim_opts_init(&o, kinds[c]);
        o.momentum = c == 0 ? 0.0 : 0.9;
        o.nesterov = c == 2;
        o.weight_decay = 1e-3;
        if (c == 4) {
            o.schedule = SK_SCHED_COSINE;
            o.total_steps = 12;
            o.warmup_steps = 3;
            o.clip_norm = 0.5;
        }
        sk_tset *p = fixture_set(), *q = fixture_set(), *g = fixture_set();
        sk_optim *a = make_opt(&o, p), *b = NULL;
        sk_rng r;
        sk_rng_seed(&r, 40 + (uint64_t)c);
        for (int64_t i = 0; i < p->numel; i++)
            p->block[i] = (float)sk_rng_normal(&r);
        for (int k = 0; k < 10; k++) {
            if (k == 4) { /* the "checkpoint": q and b take over */
                int64_t steps;
                int n;
                const sk_tset *sets[2];
                sk_optim_export(a, &steps, &n, sets);
                ck_assert_int_eq(steps, 4);
                ck_assert_int_eq(n, c == 0 ? 0 : (c < 3 ? 1 : 2));
                b = make_opt(&o, q);
                ck_assert_int_eq(sk_optim_import(b, steps, n, sets), SK_OK);
                ck_assert_int_eq(sk_optim_steps_done(b), 4);
                ck_assert_int_eq(sk_optim_import(b, steps, n + 1, sets), SK_EINVAL);
                ck_assert_int_eq(sk_optim_import(b, -1, n, sets), SK_EINVAL);
                ck_assert_int_eq(sk_tset_copy(q, p), SK_OK);
            }
            for (int64_t i = 0; i < g->numel; i++)
                g->block[i] = (float)sk_rng_normal(&r);
            sk_tset *g2 = sk_tset_clone(g);
            double lr = sk_optim_step(a, p, g);
            if (b) {
                double lr2 = sk_optim_step(b, q, g2);
                ck_assert(lr == lr2);
                ck_assert_msg(memcmp(p->block, q->block, (size_t)p->numel * sizeof(float)) == 0, "case %d step %d", c,
                              k);
            }
            sk_tset_free(g2);
        }
        int64_t sa, sb;
        int na, nb;
        const sk_tset *ea[2], *eb[2];
        sk_optim_export(a, &sa, &na, ea);
        sk_optim_export(b, &sb, &nb, eb);
        ck_assert_int_eq(sa, sb);
        for (int i = 0; i < na; i++)
            ck_assert(memcmp(ea[i]->block, eb[i]->block, (size_t)ea[i]->numel * sizeof(float)) == 0);
        sk_optim_free(a);
        sk_optim_free(b);
        sk_tset_free(p);
        sk_tset_free(q);
        sk_tset_free(g);
    }
}
END_TEST

static Suite *optim_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_add_test(tc, test_golden_pytorch);
    tcase_add_test(tc, test_schedules_closed_form);
    tcase_add_test(tc, test_clipping);
    tcase_add_test(tc, test_large_vs_double_reference_and_threads);
    tcase_add_test(tc, test_names_and_validation);
    tcase_add_test(tc, test_export_import);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(optim_suite());
}
