/* test_continual.c - continual learning: task construction (rotation,
 * permutation, class splits, head masks), metrics on hand-made matrices, the
 * EWC Fisher against an explicit per-example gradient, the episodic memory,
 * and a smoke run of every method on synthetic data. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "continual/bench.h"
#include "continual/continual.h"
#include "continual/method.h"
#include "core/mem.h"
#include "io/atomic.h"
#include "app/options.h"
#include "cfg/cfg.h"
#include "testutil.h"

/* The continual run of a config (its options mapped as `sinkrb run` maps them). */
static sk_status cl_run(const sk_config *cfg, const sk_dataset *ds, const sk_model_spec *ms, sk_log *log,
                        sk_progress_mode pm, sk_cl_results **out)
{
    sk_cl_opts o;
    sk_options_continual(cfg, &o);
    return sk_continual_run(&o, ds, ms, log, pm, out);
}

/* ---- synthetic data ------------------------------------------------------- */

/* A learnable split: class k = a fixed random template plus noise. */
static void make_split(sk_split *sp, int64_t n, int c, int h, int w, int K, uint64_t seed, uint64_t tseed)
{
    const int D = c * h * w;
    sk_rng r, tr;
    sk_rng_seed(&r, seed);
    sk_rng_seed(&tr, tseed);
    uint8_t *tmpl = malloc((size_t)K * D);
    for (int64_t j = 0; j < (int64_t)K * D; j++)
        tmpl[j] = (uint8_t)(sk_rng_below(&tr, 2) ? 220 : 20);
    memset(sp, 0, sizeof *sp);
    sp->n = n;
    sp->c = c;
    sp->h = h;
    sp->w = w;
    sp->n_classes = K;
    sp->x = sk_alloc_n((size_t)n * D, 1);
    sp->y = sk_alloc_n((size_t)n, sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) {
        int k = (int)(i % K);
        sp->y[i] = k;
        for (int j = 0; j < D; j++) {
            int v = tmpl[k * D + j] + (int)sk_rng_below(&r, 41) - 20;
            sp->x[i * D + j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(tmpl);
}

static void make_ds(sk_dataset *ds, sk_ds_kind kind, int64_t ntr, int64_t nte, int c, int h, int w, int K)
{
    memset(ds, 0, sizeof *ds);
    ds->kind = kind;
    ds->normalize = SK_NORMALIZE_UNIT;
    make_split(&ds->train, ntr, c, h, w, K, 11, 99);
    make_split(&ds->test, nte, c, h, w, K, 12, 99);
    for (int i = 0; i < 3; i++)
        ds->std[i] = 1.0f;
}

/* ---- rotation ------------------------------------------------------------- */

START_TEST(test_rotation_exact)
{
    enum { H = 28, W = 28, P = H * W };
    uint8_t img[P];
    sk_rng r;
    sk_rng_seed(&r, 3);
    for (int p = 0; p < P; p++)
        img[p] = (uint8_t)sk_rng_below(&r, 256); /* asymmetric */
    int32_t src[P * 4];
    float wt[P * 4], out[P];
    /* 0 degrees: identity. */
    sk_cl_rotation_table(H, W, 0.0, src, wt);
    sk_cl_rotate(img, P, src, wt, 1.0f, 0.0f, out);
    for (int p = 0; p < P; p++)
        ck_assert_float_eq(out[p], (float)img[p]);
    /* 90 degrees counter-clockwise: out[r][c] = in[c][W-1-r]. */
    sk_cl_rotation_table(H, W, 90.0, src, wt);
    sk_cl_rotate(img, P, src, wt, 1.0f, 0.0f, out);
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++)
            ck_assert_float_eq(out[i * W + j], (float)img[j * W + (W - 1 - i)]);
    /* 180 degrees: out[r][c] = in[H-1-r][W-1-c]. */
    sk_cl_rotation_table(H, W, 180.0, src, wt);
    sk_cl_rotate(img, P, src, wt, 1.0f, 0.0f, out);
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++)
            ck_assert_float_eq(out[i * W + j], (float)img[(H - 1 - i) * W + (W - 1 - j)]);
    /* 45 degrees of a constant image: the interior stays constant (weights
     * sum to 1), the corners fall outside and read 0 (zero fill); the affine
     * normalisation is applied after the interpolation. */
    uint8_t cst[P];
    memset(cst, 100, sizeof cst);
    sk_cl_rotation_table(H, W, 45.0, src, wt);
    sk_cl_rotate(cst, P, src, wt, 0.5f, -1.0f, out);
    ck_assert_float_eq_tol(out[14 * W + 14], 49.0f, 1e-4f);
    ck_assert_float_eq_tol(out[0], -1.0f, 1e-6f);
    /* A bilinear point by hand: 30 degrees, pixel (3, 20). */
    sk_cl_rotation_table(H, W, 30.0, src, wt);
    sk_cl_rotate(img, P, src, wt, 1.0f, 0.0f, out);
    {
        double cy = 13.5, cx = 13.5, x = 20 - cx, y = 3 - cy, th = M_PI / 6;
        double sc = cos(th) * x - sin(th) * y + cx, sr = sin(th) * x + cos(th) * y + cy;
        int r0 = (int)floor(sr), c0 = (int)floor(sc);
        double fr = sr - r0, fc = sc - c0;
        double v = (1 - fr) * (1 - fc) * img[r0 * W + c0] + (1 - fr) * fc * img[r0 * W + c0 + 1] +
                   fr * (1 - fc) * img[(r0 + 1) * W + c0] + fr * fc * img[(r0 + 1) * W + c0 + 1];
        ck_assert_double_eq_tol(out[3 * W + 20], v, 1e-3);
    }
}
END_TEST

START_TEST(test_rotated_bench_angles)
{
    sk_dataset ds;
    make_ds(&ds, SK_DS_MNIST, 50, 20, 1, 6, 6, 10);
    sk_cl_bench *b = NULL;
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_ROTATED, 5, SK_CL_LINSPACE, 0, 1, &ds, 0, &b), SK_OK);
    ck_assert_double_eq_tol(b->angles[0], 0.0, 1e-12);
    ck_assert_double_eq_tol(b->angles[2], 90.0, 1e-12);
    ck_assert_double_eq_tol(b->angles[4], 180.0, 1e-12);
    ck_assert_ptr_null(b->mask);
    ck_assert_int_eq(b->n_train[3], 50);
    /* Task 2 (90 degrees) of a training image, through fill (unit scaling). */
    float x[36];
    int32_t y, t = 2, i = 7;
    sk_cl_bench_fill(b, 0, &t, &i, 1, NULL, x, &y);
    ck_assert_int_eq(y, ds.train.y[7]);
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 6; c++)
            ck_assert_float_eq_tol(x[r * 6 + c], ds.train.x[7 * 36 + c * 6 + (5 - r)] / 255.0f, 1e-6f);
    sk_cl_bench_free(b);
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_ROTATED, 4, SK_CL_STEP, 9, 1, &ds, 0, &b), SK_OK);
    ck_assert_double_eq_tol(b->angles[3], 27.0, 1e-12);
    sk_cl_bench_free(b);
    /* A CIFAR data set is refused for rotated MNIST, with the reason. */
    sk_dataset ds2;
    make_ds(&ds2, SK_DS_CIFAR10, 20, 10, 3, 4, 4, 10);
    sk_err_clear();
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_ROTATED, 2, SK_CL_LINSPACE, 0, 1, &ds2, 0, &b), SK_ECONFIG);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "mnist"));
    sk_dataset_free(&ds);
    sk_dataset_free(&ds2);
}
END_TEST

/* ---- permutation ---------------------------------------------------------- */

START_TEST(test_permuted_round_trip)
{
    sk_dataset ds;
    make_ds(&ds, SK_DS_FASHION_MNIST, 30, 10, 1, 5, 5, 10);
    sk_cl_bench *b = NULL, *b2 = NULL, *b3 = NULL;
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_PERMUTED, 3, SK_CL_LINSPACE, 0, 7, &ds, 0, &b), SK_OK);
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_PERMUTED, 3, SK_CL_LINSPACE, 0, 7, &ds, 0, &b2), SK_OK);
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_PERMUTED, 3, SK_CL_LINSPACE, 0, 8, &ds, 0, &b3), SK_OK);
    const int D = 25;
    for (int j = 0; j < D; j++)
        ck_assert_int_eq(b->perm[j], j);                          /* task 1: identity */
    ck_assert_mem_eq(b->perm, b2->perm, sizeof(int32_t) * 3 * D); /* same seed, same tasks */
    ck_assert(memcmp(b->perm + D, b3->perm + D, sizeof(int32_t) * D) != 0);
    ck_assert(memcmp(b->perm + D, b->perm + 2 * D, sizeof(int32_t) * D) != 0);
    for (int t = 1; t < 3; t++) {
        /* Each task's map is a permutation, and undoing it recovers the image. */
        int seen[25] = {0};
        for (int j = 0; j < D; j++)
            seen[b->perm[t * D + j]]++;
        for (int j = 0; j < D; j++)
            ck_assert_int_eq(seen[j], 1);
        float x[25], back[25];
        int32_t y, task = t, i = 4;
        sk_cl_bench_fill(b, 1, &task, &i, 1, NULL, x, &y);
        for (int j = 0; j < D; j++)
            back[b->perm[t * D + j]] = x[j];
        for (int j = 0; j < D; j++)
            ck_assert_float_eq_tol(back[j], ds.test.x[4 * D + j] / 255.0f, 1e-6f);
    }
    sk_cl_bench_free(b);
    sk_cl_bench_free(b2);
    sk_cl_bench_free(b3);
    sk_dataset_free(&ds);
}
END_TEST

/* ---- class splits and heads ----------------------------------------------- */

START_TEST(test_split_cifar10_heads)
{
    sk_dataset ds;
    make_ds(&ds, SK_DS_CIFAR10, 100, 50, 3, 4, 4, 10);
    sk_cl_bench *b = NULL;
    sk_err_clear();
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_SPLIT_CIFAR10, 6, SK_CL_LINSPACE, 0, 1, &ds, 0, &b), SK_ECONFIG);
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_SPLIT_CIFAR10, 5, SK_CL_LINSPACE, 0, 1, &ds, 0, &b), SK_OK);
    for (int t = 0; t < 5; t++) {
        ck_assert_int_eq(b->n_train[t], 20);
        ck_assert_int_eq(b->n_test[t], 10);
        for (int64_t k = 0; k < b->n_train[t]; k++) {
            int y = ds.train.y[b->train_idx[t][k]];
            ck_assert(y == 2 * t || y == 2 * t + 1);
        }
        for (int k = 0; k < 10; k++)
            ck_assert_int_eq(b->mask[t * 10 + k], k / 2 == t);
    }
    /* Head masking: logits outside the task's head change neither the loss
     * nor get gradient; a huge outside logit does not count as a prediction. */
    float z[2 * 10], z2[2 * 10], d[2 * 10], d2[2 * 10];
    int32_t y[2] = {4, 7}, task[2] = {2, 3};
    for (int k = 0; k < 20; k++)
        z[k] = z2[k] = 0.1f * (float)(k % 7);
    z2[0] = 50.0f;
    z2[10 + 9] = -30.0f;
    int c1, c2;
    double l1 = sk_cl_loss(z, y, task, 2, 10, b->mask, 0, d, &c1);
    double l2 = sk_cl_loss(z2, y, task, 2, 10, b->mask, 0, d2, &c2);
    ck_assert_double_eq_tol(l1, l2, 1e-12);
    ck_assert_int_eq(c1, c2);
    for (int k = 0; k < 20; k++) {
        ck_assert_float_eq(d[k], d2[k]);
        if (!b->mask[task[k / 10] * 10 + k % 10]) ck_assert_float_eq(d[k], 0.0f);
    }
    /* Explicit value: example 0 sees logits 4, 5 (0.4, 0.5), label 4;
     * example 1 logits 16, 17 (0.2, 0.3), label 7. */
    double e0 = log(exp(0.4) + exp(0.5)) - 0.4;
    double e1 = log(exp(0.2) + exp(0.3)) - 0.3;
    ck_assert_double_eq_tol(l1, 0.5 * (e0 + e1), 1e-6);
    /* per_task weighting: two examples of task 2, one of task 3 -> the mean
     * per task, summed over tasks. */
    float z3[30];
    for (int n = 0; n < 3; n++)
        for (int j = 0; j < 10; j++)
            z3[n * 10 + j] = 0.1f * (float)j + 0.05f * (float)n;
    int32_t y3[3] = {4, 5, 7}, t3[3] = {2, 2, 3};
    double l3 = sk_cl_loss(z3, y3, t3, 3, 10, b->mask, 1, NULL, NULL);
    double ea = log(exp(0.4) + exp(0.5)) - 0.4, eb = log(exp(0.4) + exp(0.5)) - 0.5;
    double ec = log(exp(0.6) + exp(0.7)) - 0.7;
    ck_assert_double_eq_tol(l3, 0.5 * (ea + eb) + ec, 1e-6);
    ck_assert_double_eq_tol(sk_cl_loss(z3, y3, t3, 3, 10, b->mask, 0, NULL, NULL), (ea + eb + ec) / 3, 1e-6);
    sk_cl_bench_free(b);
    sk_dataset_free(&ds);
}
END_TEST

/* CIFAR-100 binary files (coarse, fine, 3072 pixels per record). */
static void write_cifar100(const char *path, int n, uint64_t seed)
{
    uint8_t *buf = malloc((size_t)n * 3074);
    sk_rng r;
    sk_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        uint8_t *rec = buf + (size_t)i * 3074;
        rec[1] = (uint8_t)(i % 100);
        rec[0] = (uint8_t)(rec[1] / 5);
        for (int j = 0; j < 3072; j++)
            rec[2 + j] = (uint8_t)((rec[1] * 37 + j) % 256 ^ sk_rng_below(&r, 16));
    }
    tu_write(path, buf, (size_t)n * 3074);
    free(buf);
}

START_TEST(test_split_cifar100_files)
{
    ck_assert_int_eq(sk_mkdir_p(tu_path("c100")), SK_OK);
    write_cifar100(tu_path("c100/train.bin"), 400, 1);
    write_cifar100(tu_path("c100/test.bin"), 200, 2);
    sk_data_opts o;
    sk_data_opts_init(&o, SK_DS_CIFAR100);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_path("c100"));
    o.path = dir;
    sk_dataset ds;
    ck_assert_int_eq(sk_dataset_load(&ds, &o), SK_OK);
    sk_cl_bench *b = NULL;
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_SPLIT_CIFAR100, 20, SK_CL_LINSPACE, 0, 1, &ds, 0, &b), SK_OK);
    for (int t = 0; t < 20; t++) {
        ck_assert_int_eq(b->n_train[t], 20);
        ck_assert_int_eq(b->n_test[t], 10);
        int on = 0;
        for (int k = 0; k < 100; k++)
            on += b->mask[t * 100 + k];
        ck_assert_int_eq(on, 5);
        ck_assert_int_eq(b->mask[t * 100 + 5 * t], 1);
        ck_assert_int_eq(b->mask[t * 100 + 5 * t + 4], 1);
    }
    sk_cl_bench_free(b);
    sk_err_clear();
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_SPLIT_CIFAR100, 21, SK_CL_LINSPACE, 0, 1, &ds, 0, &b), SK_ECONFIG);

    /* A whole run on it: 20 tasks, finetune and replay, a tiny MLP. */
    sk_config cfg;
    sk_config_defaults(&cfg, "c100");
    cfg.continual.benchmark = 3;
    cfg.continual.tasks = 20;
    cfg.continual.n_methods = 2;
    cfg.continual.methods[0] = 0;
    cfg.continual.methods[1] = 2;
    cfg.continual.epochs = 1;
    cfg.continual.batch_size = 10;
    cfg.continual.memory = SK_CL_MEMORY_PER_CLASS; /* the default before per_task */
    cfg.continual.memory_per_class = 1;
    sk_model_spec ms = {0};
    ms.arch = SK_ARCH_MLP;
    ms.n_hidden = 1;
    ms.hidden[0] = 8;
    ms.in_c = 3;
    ms.in_h = 32;
    ms.in_w = 32;
    ms.n_out = 100;
    sk_cl_results *res = NULL;
    ck_assert_int_eq(cl_run(&cfg, &ds, &ms, NULL, SK_PROGRESS_NEVER, &res), SK_OK);
    ck_assert_int_eq(sk_cl_results_tasks(res), 20);
    const double *a = sk_cl_results_matrix(res, 1);
    for (int k = 0; k < 400; k++)
        ck_assert(a[k] >= 0.0 && a[k] <= 1.0);
    sk_cl_results_free(res);
    sk_dataset_free(&ds);
}
END_TEST

/* ---- metrics -------------------------------------------------------------- */

START_TEST(test_metrics)
{
    /* rows: after task t; columns: task i */
    const double a[9] = {0.9, 0.1, 0.2, 0.6, 0.8, 0.3, 0.5, 0.7, 0.95};
    ck_assert_double_eq_tol(sk_cl_acc(a, 3), (0.5 + 0.7 + 0.95) / 3, 1e-15);
    /* forgetting: task 1 max(0.9, 0.6) - 0.5 = 0.4; task 2 max(0.1, 0.8) - 0.7 = 0.1 */
    ck_assert_double_eq_tol(sk_cl_forgetting(a, 3), 0.25, 1e-15);
    /* BWT: (0.5 - 0.9 + 0.7 - 0.8) / 2 */
    ck_assert_double_eq_tol(sk_cl_bwt(a, 3), -0.25, 1e-15);
    ck_assert_double_eq_tol(sk_cl_seen_acc(a, 3, 1), 0.7, 1e-15);
    /* positive backward transfer, and the max over rows before i too */
    const double b[4] = {0.5, 0.9, 0.6, 0.8};
    ck_assert_double_eq_tol(sk_cl_bwt(b, 2), 0.1, 1e-15);
    ck_assert_double_eq_tol(sk_cl_forgetting(b, 2), -0.1, 1e-15);
    const double one = 0.42;
    ck_assert_double_eq_tol(sk_cl_acc(&one, 1), 0.42, 1e-15);
    ck_assert_double_eq(sk_cl_forgetting(&one, 1), 0.0);
    ck_assert_double_eq(sk_cl_bwt(&one, 1), 0.0);
}
END_TEST

/* ---- EWC Fisher ----------------------------------------------------------- */

START_TEST(test_fisher_explicit)
{
    enum { D = 4, Hh = 3, K = 3, N = 12 };
    sk_dataset ds;
    make_ds(&ds, SK_DS_MNIST, N, 6, 1, 2, 2, K);
    sk_cl_bench *b = NULL;
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_ROTATED, 2, SK_CL_LINSPACE, 0, 1, &ds, 0, &b), SK_OK);
    sk_model_spec ms = {0};
    ms.arch = SK_ARCH_MLP;
    ms.n_hidden = 1;
    ms.hidden[0] = Hh;
    ms.in_c = 1;
    ms.in_h = 2;
    ms.in_w = 2;
    ms.n_out = K;
    sk_model *m = NULL;
    ck_assert_int_eq(sk_model_new(&ms, 4, &m), SK_OK);
    sk_rng r;
    sk_rng_seed(&r, 5);
    sk_model_init(m, &r);
    sk_tset *P = sk_model_params(m);
    sk_tset *F = sk_tset_like(P);
    ck_assert_int_eq(sk_cl_fisher(m, b, 1, 1000, 1, F), SK_OK);

    /* Explicit per-example gradients of CE for relu MLP, in double. */
    const float *W0 = sk_tset_get(P, "layers.0.weight")->data, *b0 = sk_tset_get(P, "layers.0.bias")->data;
    const float *W1 = sk_tset_get(P, "layers.1.weight")->data, *b1 = sk_tset_get(P, "layers.1.bias")->data;
    double fW0[Hh * D] = {0}, fb0[Hh] = {0}, fW1[K * Hh] = {0}, fb1[K] = {0};
    for (int n = 0; n < N; n++) {
        float x[D];
        int32_t y, t = 1, i = n;
        sk_cl_bench_fill(b, 0, &t, &i, 1, NULL, x, &y);
        double h[Hh], z[K], p[K], dz[K], dh[Hh];
        for (int u = 0; u < Hh; u++) {
            double s = b0[u];
            for (int j = 0; j < D; j++)
                s += (double)W0[u * D + j] * x[j];
            h[u] = s > 0 ? s : 0;
        }
        double zm = -1e300, se = 0;
        for (int k = 0; k < K; k++) {
            z[k] = b1[k];
            for (int u = 0; u < Hh; u++)
                z[k] += (double)W1[k * Hh + u] * h[u];
            if (z[k] > zm) zm = z[k];
        }
        for (int k = 0; k < K; k++)
            se += exp(z[k] - zm);
        for (int k = 0; k < K; k++) {
            p[k] = exp(z[k] - zm) / se;
            dz[k] = p[k] - (k == y);
        }
        for (int u = 0; u < Hh; u++) {
            dh[u] = 0;
            for (int k = 0; k < K; k++)
                dh[u] += W1[k * Hh + u] * dz[k];
            if (h[u] <= 0) dh[u] = 0;
        }
        for (int k = 0; k < K; k++) {
            fb1[k] += dz[k] * dz[k] / N;
            for (int u = 0; u < Hh; u++)
                fW1[k * Hh + u] += pow(dz[k] * h[u], 2) / N;
        }
        for (int u = 0; u < Hh; u++) {
            fb0[u] += dh[u] * dh[u] / N;
            for (int j = 0; j < D; j++)
                fW0[u * D + j] += pow(dh[u] * x[j], 2) / N;
        }
    }
    double worst = 0, scale = 0;
    const sk_tensor *t0 = sk_tset_get(F, "layers.0.weight"), *t1 = sk_tset_get(F, "layers.0.bias");
    const sk_tensor *t2 = sk_tset_get(F, "layers.1.weight"), *t3 = sk_tset_get(F, "layers.1.bias");
    for (int k = 0; k < Hh * D; k++) {
        worst = fmax(worst, fabs(t0->data[k] - fW0[k]));
        scale = fmax(scale, fW0[k]);
    }
    for (int k = 0; k < Hh; k++) {
        worst = fmax(worst, fabs(t1->data[k] - fb0[k]));
        scale = fmax(scale, fb0[k]);
    }
    for (int k = 0; k < K * Hh; k++) {
        worst = fmax(worst, fabs(t2->data[k] - fW1[k]));
        scale = fmax(scale, fW1[k]);
    }
    for (int k = 0; k < K; k++) {
        worst = fmax(worst, fabs(t3->data[k] - fb1[k]));
        scale = fmax(scale, fb1[k]);
    }
    ck_assert(scale > 1e-3);
    ck_assert_msg(worst <= 1e-5 * scale, "Fisher differs from the explicit estimate by %g (scale %g)", worst, scale);
    /* Fewer samples: a different (subset) estimate, still finite and >= 0. */
    ck_assert_int_eq(sk_cl_fisher(m, b, 0, 3, 1, F), SK_OK);
    for (int64_t k = 0; k < F->numel; k++)
        ck_assert(F->block[k] >= 0.0f && isfinite(F->block[k]));
    sk_tset_free(F);
    sk_model_free(m);
    sk_cl_bench_free(b);
    sk_dataset_free(&ds);
}
END_TEST

/* ---- memory --------------------------------------------------------------- */

START_TEST(test_memory_balance)
{
    sk_dataset ds;
    make_ds(&ds, SK_DS_CIFAR10, 200, 50, 3, 2, 2, 10);
    /* Make class 1 rare: only 2 examples. */
    int ones = 0;
    for (int64_t i = 0; i < ds.train.n; i++)
        if (ds.train.y[i] == 1 && ones++ >= 2) ds.train.y[i] = 0;
    sk_cl_bench *b = NULL;
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_SPLIT_CIFAR10, 5, SK_CL_LINSPACE, 0, 1, &ds, 0, &b), SK_OK);
    sk_cl_memory m = {0}, m2 = {0};
    ck_assert_int_eq(sk_cl_memory_add_task(&m, b, 0, 5, 9), SK_OK);
    ck_assert_int_eq(m.n, 5 + 2);
    ck_assert_int_eq(sk_cl_memory_add_task(&m, b, 3, 5, 9), SK_OK);
    ck_assert_int_eq(m.n, 17);
    int cnt[10] = {0};
    for (int64_t k = 0; k < m.n; k++) {
        int y = ds.train.y[m.idx[k]];
        cnt[y]++;
        ck_assert_int_eq(m.task[k], k < 7 ? 0 : 3);
        ck_assert(y / 2 == m.task[k]);
        for (int64_t j = 0; j < k; j++)
            ck_assert(m.idx[j] != m.idx[k]); /* no duplicates */
    }
    ck_assert_int_eq(cnt[0], 5);
    ck_assert_int_eq(cnt[1], 2);
    ck_assert_int_eq(cnt[6], 5);
    ck_assert_int_eq(cnt[7], 5);
    /* Deterministic from the seed. */
    ck_assert_int_eq(sk_cl_memory_add_task(&m2, b, 0, 5, 9), SK_OK);
    ck_assert_mem_eq(m.idx, m2.idx, 7 * sizeof(int32_t));
    sk_cl_memory_free(&m);
    sk_cl_memory_free(&m2);
    sk_cl_bench_free(b);
    sk_dataset_free(&ds);
}
END_TEST

/* Labels skewed towards class 0 (4 of every 5 examples; classes 1..9 share
 * the rest, at least 5 each when n >= 225): a class-balanced memory keeps at
 * most k of class 0, a random one mostly class 0. */
static void skew_labels(sk_split *sp)
{
    for (int64_t i = 0; i < sp->n; i++)
        sp->y[i] = i % 5 ? 0 : (int32_t)(1 + (i / 5) % 9);
}

static int count_label(const sk_dataset *ds, const sk_cl_memory *m, int task, int y)
{
    int c = 0;
    for (int64_t k = 0; k < m->n; k++)
        c += m->task[k] == task && ds->train.y[m->idx[k]] == y;
    return c;
}

START_TEST(test_memory_random)
{
    sk_dataset ds;
    make_ds(&ds, SK_DS_MNIST, 600, 50, 1, 4, 4, 10);
    skew_labels(&ds.train);
    sk_cl_bench *b = NULL;
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_ROTATED, 3, SK_CL_LINSPACE, 0, 1, &ds, 0, &b), SK_OK);
    sk_cl_memory m = {0}, m2 = {0}, cb = {0};
    ck_assert_int_eq(sk_cl_memory_add_random(&m, b, 0, 50, 9), SK_OK);
    ck_assert_int_eq(m.n, 50);
    ck_assert_int_eq(sk_cl_memory_add_random(&m, b, 1, 50, 9), SK_OK);
    ck_assert_int_eq(m.n, 100);
    for (int64_t k = 0; k < m.n; k++) {
        ck_assert_int_eq(m.task[k], k < 50 ? 0 : 1);
        ck_assert(m.idx[k] >= 0 && m.idx[k] < 600);
        for (int64_t j = k < 50 ? 0 : 50; j < k; j++)
            ck_assert(m.idx[j] != m.idx[k]); /* no duplicates within a task */
    }
    /* Random, not class-balanced: about 4/5 of each task's examples are of
     * class 0 (a class-balanced memory of 5 per class would hold 5). */
    for (int t = 0; t < 2; t++)
        ck_assert_int_gt(count_label(&ds, &m, t, 0), 25);
    /* The same shuffle as the class-balanced memory: its first example is the
     * first of the random memory (both walk (seed, t) in order). */
    ck_assert_int_eq(sk_cl_memory_add_task(&cb, b, 0, 5, 9), SK_OK);
    ck_assert_int_eq(cb.n, 50);
    ck_assert_int_eq(count_label(&ds, &cb, 0, 0), 5);
    ck_assert_int_eq(cb.idx[0], m.idx[0]);
    /* Deterministic from the seed; different tasks, different draws. */
    ck_assert_int_eq(sk_cl_memory_add_random(&m2, b, 0, 50, 9), SK_OK);
    ck_assert_mem_eq(m.idx, m2.idx, 50 * sizeof(int32_t));
    ck_assert(memcmp(m.idx, m.idx + 50, 50 * sizeof(int32_t)) != 0);
    /* More than the task has: all of it, once; 0: nothing. */
    sk_cl_memory_free(&m2);
    ck_assert_int_eq(sk_cl_memory_add_random(&m2, b, 2, 1000, 9), SK_OK);
    ck_assert_int_eq(m2.n, 600);
    ck_assert_int_eq(sk_cl_memory_add_random(&m2, b, 2, 0, 9), SK_OK);
    ck_assert_int_eq(m2.n, 600);
    sk_cl_memory_free(&m);
    sk_cl_memory_free(&m2);
    sk_cl_memory_free(&cb);
    sk_cl_bench_free(b);
    sk_dataset_free(&ds);
}
END_TEST

/* The config defaults and the option mapping of the memory and of the
 * rebasin loss: the published choices by default. */
START_TEST(test_options_memory_loss_defaults)
{
    sk_config cfg;
    sk_config_defaults(&cfg, "d");
    sk_cl_opts o;
    sk_options_continual(&cfg, &o);
    ck_assert_int_eq(o.memory, SK_CL_MEMORY_PER_TASK);
    ck_assert_int_eq(o.memory_per_task, 50);
    ck_assert_int_eq(o.memory_per_class, 5);
    ck_assert_int_eq(o.rebasin.loss, SK_CL_REBASIN_LOSS_MEAN);
    ck_assert_str_eq(sk_cl_memory_names[o.memory], "per_task");
    ck_assert_str_eq(sk_cl_rebasin_loss_names[o.rebasin.loss], "mean");
    cfg.continual.memory = SK_CL_MEMORY_PER_CLASS;
    cfg.continual.memory_per_task = 7;
    cfg.continual.memory_per_class = 3;
    cfg.continual.rebasin.loss = SK_CL_REBASIN_LOSS_TASK_MEAN;
    sk_options_continual(&cfg, &o);
    ck_assert_int_eq(o.memory, SK_CL_MEMORY_PER_CLASS);
    ck_assert_int_eq(o.memory_per_task, 7);
    ck_assert_int_eq(o.memory_per_class, 3);
    ck_assert_int_eq(o.rebasin.loss, SK_CL_REBASIN_LOSS_TASK_MEAN);
}
END_TEST

/* A trainer as sk_continual_run builds it: rotated, 3 tasks of 600 skewed
 * 4x4 examples, MLP 16-8-10, one batch per epoch, options from cfg. */
typedef struct {
    sk_dataset ds;
    sk_cl_bench *b;
    sk_cl_opts o;
    sk_cl_trainer tr;
} cl_fixture;

static void fixture_new(cl_fixture *f, const sk_config *cfg)
{
    make_ds(&f->ds, SK_DS_MNIST, 600, 50, 1, 4, 4, 10);
    skew_labels(&f->ds.train);
    sk_options_continual(cfg, &f->o);
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_ROTATED, 3, SK_CL_LINSPACE, 0, f->o.seed, &f->ds, 0, &f->b), SK_OK);
    sk_model_spec ms = {0};
    ms.arch = SK_ARCH_MLP;
    ms.n_hidden = 1;
    ms.hidden[0] = 8;
    ms.in_c = 1;
    ms.in_h = 4;
    ms.in_w = 4;
    ms.n_out = 10;
    ck_assert_int_eq(sk_cl_trainer_init(&f->tr, f->b, &f->o, &ms), SK_OK);
}

static void fixture_free(cl_fixture *f)
{
    sk_cl_trainer_free(&f->tr);
    sk_cl_bench_free(f->b);
    sk_dataset_free(&f->ds);
}

static void fixture_config(sk_config *cfg)
{
    sk_config_defaults(cfg, "fx");
    cfg->seed = 5;
    cfg->continual.tasks = 3;
    cfg->continual.epochs = 1;
    cfg->continual.batch_size = 600;
}

/* The memory a whole run of `meth` leaves behind (after tasks 1 and 2). */
static void run_memory(const sk_config *cfg, int meth, sk_cl_memory *out)
{
    cl_fixture f;
    fixture_new(&f, cfg);
    sk_rng init;
    sk_rng_seed(&init, 1);
    sk_model_init(f.tr.m, &init);
    double acc[9];
    ck_assert_int_eq(sk_cl_run_method(&f.tr, meth, acc, NULL, SK_PROGRESS_NEVER, NULL), SK_OK);
    *out = f.tr.mem; /* taken over */
    memset(&f.tr.mem, 0, sizeof f.tr.mem);
    fixture_free(&f);
}

START_TEST(test_memory_default_per_task)
{
    sk_config cfg;
    fixture_config(&cfg);
    /* Default: 50 random examples of each finished task, the same memory for
     * replay, agem and rebasin. */
    sk_cl_memory m = {0}, m2 = {0};
    run_memory(&cfg, SK_CL_REPLAY, &m);
    ck_assert_int_eq(m.n, 2 * 50);
    sk_dataset ds;
    make_ds(&ds, SK_DS_MNIST, 600, 50, 1, 4, 4, 10);
    skew_labels(&ds.train);
    for (int t = 0; t < 2; t++) {
        int n = 0;
        for (int64_t k = 0; k < m.n; k++)
            n += m.task[k] == t;
        ck_assert_int_eq(n, 50);
        ck_assert_int_gt(count_label(&ds, &m, t, 0), 5); /* not class-balanced */
    }
    sk_cl_bench *b = NULL;
    ck_assert_int_eq(sk_cl_bench_new(SK_CL_ROTATED, 3, SK_CL_LINSPACE, 0, 5, &ds, 0, &b), SK_OK);
    sk_cl_memory want = {0};
    ck_assert_int_eq(sk_cl_memory_add_random(&want, b, 0, 50, 5), SK_OK);
    ck_assert_int_eq(sk_cl_memory_add_random(&want, b, 1, 50, 5), SK_OK);
    ck_assert_mem_eq(m.idx, want.idx, 100 * sizeof(int32_t));
    ck_assert_mem_eq(m.task, want.task, 100 * sizeof(int32_t));
    const int others[] = {SK_CL_AGEM, SK_CL_REBASIN};
    for (int q = 0; q < 2; q++) {
        run_memory(&cfg, others[q], &m2);
        ck_assert_int_eq(m2.n, m.n);
        ck_assert_mem_eq(m2.idx, m.idx, 100 * sizeof(int32_t));
        sk_cl_memory_free(&m2);
    }
    /* memory_per_task sets the size. */
    cfg.continual.memory_per_task = 20;
    run_memory(&cfg, SK_CL_REPLAY, &m2);
    ck_assert_int_eq(m2.n, 2 * 20);
    ck_assert_mem_eq(m2.idx, want.idx, 20 * sizeof(int32_t));
    sk_cl_memory_free(&m2);
    /* memory per_class: the class-balanced memory of earlier versions. */
    cfg.continual.memory = SK_CL_MEMORY_PER_CLASS;
    run_memory(&cfg, SK_CL_REPLAY, &m2);
    sk_cl_memory_free(&want);
    ck_assert_int_eq(sk_cl_memory_add_task(&want, b, 0, 5, 5), SK_OK);
    ck_assert_int_eq(sk_cl_memory_add_task(&want, b, 1, 5, 5), SK_OK);
    ck_assert_int_eq(m2.n, 100);
    ck_assert_mem_eq(m2.idx, want.idx, 100 * sizeof(int32_t));
    for (int t = 0; t < 2; t++)
        for (int y = 0; y < 10; y++)
            ck_assert_int_eq(count_label(&ds, &m2, t, y), 5);
    sk_cl_memory_free(&m);
    sk_cl_memory_free(&m2);
    sk_cl_memory_free(&want);
    sk_cl_bench_free(b);
    sk_dataset_free(&ds);
}
END_TEST

/* The rebasin loss of task 3 on a batch of 600 current examples and 100
 * memory examples of tasks 1 and 2. At theta = 0 (and delta ~ 1e-4) every
 * logit is ~0, so every example's cross-entropy is log 10: the plain batch
 * mean is log 10, the sum over the three tasks of their means 3 log 10. The
 * task's reported mean loss is that of its single minibatch. */
static double rebasin_first_loss(sk_config *cfg)
{
    cl_fixture f;
    fixture_new(&f, cfg);
    for (int t = 0; t < 2; t++)
        ck_assert_int_eq(sk_cl_memory_add_random(&f.tr.mem, f.b, t, 50, f.o.seed), SK_OK);
    ck_assert_double_eq(sk_model_params(f.tr.m)->block[0], 0.0f); /* parameters stay 0 until init */
    int64_t done = 0;
    double loss = NAN;
    ck_assert_int_eq(sk_cl_rebasin_task(&f.tr, 2, NULL, &done, &loss), SK_OK);
    ck_assert_int_eq(done, 1);
    fixture_free(&f);
    return loss;
}

START_TEST(test_rebasin_loss_weighting)
{
    sk_config cfg;
    fixture_config(&cfg);
    double mean = rebasin_first_loss(&cfg);
    ck_assert_msg(fabs(mean - log(10.0)) < 1e-2, "default rebasin loss %g, want the plain mean log 10 = %g", mean,
                  log(10.0));
    cfg.continual.rebasin.loss = SK_CL_REBASIN_LOSS_TASK_MEAN;
    double task_mean = rebasin_first_loss(&cfg);
    ck_assert_msg(fabs(task_mean - 3 * log(10.0)) < 3e-2, "task_mean rebasin loss %g, want 3 log 10 = %g", task_mean,
                  3 * log(10.0));
    /* The weights behind the two: per example 1/n, or 1/(examples of its task). */
    float z[4 * 10], d0[4 * 10], d1[4 * 10];
    int32_t y[4] = {1, 2, 3, 4}, task[4] = {2, 2, 2, 0};
    for (int k = 0; k < 40; k++)
        z[k] = 0.0f;
    sk_cl_loss(z, y, task, 4, 10, NULL, 0, d0, NULL);
    sk_cl_loss(z, y, task, 4, 10, NULL, 1, d1, NULL);
    for (int n = 0; n < 4; n++) {
        ck_assert_float_eq_tol(d0[n * 10 + y[n]], (0.1f - 1.0f) / 4.0f, 1e-6f);
        ck_assert_float_eq_tol(d1[n * 10 + y[n]], (0.1f - 1.0f) / (n < 3 ? 3.0f : 1.0f), 1e-6f);
    }
}
END_TEST

/* ---- smoke run of every method --------------------------------------------- */

static int run_methods(const int *methods, int n, sk_cl_results **res, sk_dataset *ds)
{
    sk_config cfg;
    sk_config_defaults(&cfg, "toy");
    cfg.seed = 3;
    cfg.continual.benchmark = 0;
    cfg.continual.tasks = 3;
    cfg.continual.n_methods = n;
    for (int k = 0; k < n; k++)
        cfg.continual.methods[k] = methods[k];
    cfg.continual.epochs = 3;
    cfg.continual.batch_size = 32;
    cfg.continual.lr = 3e-3;
    cfg.continual.memory = SK_CL_MEMORY_PER_CLASS; /* the defaults before per_task and mean */
    cfg.continual.memory_per_class = 4;
    cfg.continual.rebasin.loss = SK_CL_REBASIN_LOSS_TASK_MEAN;
    cfg.continual.fisher_samples = 100;
    sk_model_spec ms = {0};
    ms.arch = SK_ARCH_MLP;
    ms.n_hidden = 1;
    ms.hidden[0] = 32;
    ms.in_c = 1;
    ms.in_h = 8;
    ms.in_w = 8;
    ms.n_out = 10;
    return cl_run(&cfg, ds, &ms, NULL, SK_PROGRESS_NEVER, res);
}

START_TEST(test_smoke_all_methods)
{
    sk_dataset ds;
    make_ds(&ds, SK_DS_MNIST, 600, 200, 1, 8, 8, 10);
    const int methods[] = {0, 1, 2, 3, 4};
    sk_cl_results *res = NULL;
    ck_assert_int_eq(run_methods(methods, 5, &res, &ds), SK_OK);
    ck_assert_int_eq(sk_cl_results_n_methods(res), 5);
    const int T = 3;
    double acc[5];
    for (int k = 0; k < 5; k++) {
        const double *a = sk_cl_results_matrix(res, k);
        acc[k] = sk_cl_acc(a, T);
        ck_assert_str_eq(sk_cl_results_method(res, k), sk_cl_method_name(methods[k]));
        ck_assert(a[0] > 0.5); /* task 1 is learnt by every method */
    }
    /* joint is the upper bound of plain finetuning; replay forgets less. */
    ck_assert_msg(acc[4] >= acc[0], "joint %g < finetune %g", acc[4], acc[0]);
    ck_assert_msg(acc[2] >= acc[0], "replay %g < finetune %g", acc[2], acc[0]);
    ck_assert_double_eq(sk_cl_forgetting(sk_cl_results_matrix(res, 4), T), 0.0);

    /* Identical runs give identical matrices (shared seeds, data order). */
    sk_cl_results *res2 = NULL;
    ck_assert_int_eq(run_methods(methods, 1, &res2, &ds), SK_OK);
    ck_assert_mem_eq(sk_cl_results_matrix(res, 0), sk_cl_results_matrix(res2, 0), sizeof(double) * T * T);
    sk_cl_results_free(res2);

    /* Outputs. */
    const char *dir = tu_path("out");
    ck_assert_int_eq(sk_mkdir_p(dir), SK_OK);
    ck_assert_int_eq(sk_cl_write_outputs(res, dir), SK_OK);
    char *csv = tu_read(tu_path("out/accuracy_matrix.csv"), NULL);
    ck_assert_ptr_nonnull(csv);
    int lines = 0;
    for (char *p = csv; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 1 + 5 * T * T);
    ck_assert(strncmp(csv, "method,after_task,task,accuracy\nfinetune,1,1,", 45) == 0);
    free(csv);
    char *svg = tu_read(tu_path("out/cl_accuracy.svg"), NULL);
    ck_assert_ptr_nonnull(strstr(svg, "replay"));
    free(svg);
    sk_json *j = sk_json_new();
    sk_json_obj_begin(j, NULL);
    sk_cl_results_json(res, j);
    sk_json_obj_end(j);
    ck_assert_int_eq(sk_json_status(j), SK_OK);
    ck_assert_ptr_nonnull(strstr(sk_json_text(j), "\"forgetting\""));
    ck_assert_ptr_nonnull(strstr(sk_json_text(j), "\"agem\""));
    sk_json_free(j);
    sk_cl_results_free(res);
    sk_dataset_free(&ds);
}
END_TEST

/* EWC on split tasks with training augmentation: the Fisher reads its
 * examples without augmentation (it once passed no rng to the augmenting
 * fill and crashed); the run is deterministic. */
START_TEST(test_ewc_split_augmented)
{
    sk_dataset ds;
    make_ds(&ds, SK_DS_CIFAR10, 200, 60, 3, 8, 8, 10);
    sk_config cfg;
    sk_config_defaults(&cfg, "aug");
    cfg.continual.benchmark = SK_CL_SPLIT_CIFAR10;
    cfg.continual.tasks = 2;
    cfg.continual.n_methods = 1;
    cfg.continual.methods[0] = SK_CL_EWC;
    cfg.continual.epochs = 1;
    cfg.continual.batch_size = 20;
    cfg.continual.fisher_samples = 30;
    cfg.dataset.augment = 1;
    sk_model_spec ms = {0};
    ms.arch = SK_ARCH_MLP;
    ms.n_hidden = 1;
    ms.hidden[0] = 8;
    ms.in_c = 3;
    ms.in_h = 8;
    ms.in_w = 8;
    ms.n_out = 10;
    sk_cl_results *r1 = NULL, *r2 = NULL;
    ck_assert_msg(cl_run(&cfg, &ds, &ms, NULL, SK_PROGRESS_NEVER, &r1) == SK_OK, "%s", sk_err_msg());
    ck_assert_msg(cl_run(&cfg, &ds, &ms, NULL, SK_PROGRESS_NEVER, &r2) == SK_OK, "%s", sk_err_msg());
    ck_assert_mem_eq(sk_cl_results_matrix(r1, 0), sk_cl_results_matrix(r2, 0), sizeof(double) * 4);
    sk_cl_results_free(r1);
    sk_cl_results_free(r2);
    sk_dataset_free(&ds);
}
END_TEST

START_TEST(test_run_rejects_bad_input)
{
    sk_dataset ds;
    make_ds(&ds, SK_DS_MNIST, 60, 20, 1, 4, 4, 10);
    sk_cl_results *res = NULL;
    const int dup[] = {0, 2, 0};
    sk_err_clear();
    ck_assert_int_eq(run_methods(dup, 3, &res, &ds), SK_ECONFIG);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "finetune is listed twice"));
    ck_assert_ptr_null(res);
    /* The model spec must match the data (8x8 spec, 4x4 data: n_out is
     * checked first, then the model build fails on the input size). */
    sk_config cfg;
    sk_config_defaults(&cfg, "bad");
    cfg.continual.tasks = 2;
    sk_model_spec ms = {0};
    ms.arch = SK_ARCH_MLP;
    ms.n_hidden = 1;
    ms.hidden[0] = 4;
    ms.in_c = 1;
    ms.in_h = 4;
    ms.in_w = 4;
    ms.n_out = 7;
    sk_err_clear();
    ck_assert_int_eq(cl_run(&cfg, &ds, &ms, NULL, SK_PROGRESS_NEVER, &res), SK_EINVAL);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "7 outputs"));
    /* split-cifar10 on MNIST is a config error naming the expected data set. */
    cfg.continual.benchmark = 2;
    ms.n_out = 10;
    sk_err_clear();
    ck_assert_int_eq(cl_run(&cfg, &ds, &ms, NULL, SK_PROGRESS_NEVER, &res), SK_ECONFIG);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "cifar10"));
    sk_dataset_free(&ds);
}
END_TEST

START_TEST(test_smoke_rebasin)
{
    sk_dataset ds;
    make_ds(&ds, SK_DS_MNIST, 600, 200, 1, 8, 8, 10);
    const int methods[] = {0, 5};
    sk_cl_results *res = NULL;
    sk_status st = run_methods(methods, 2, &res, &ds);
    ck_assert_msg(st == SK_OK, "%s", sk_err_msg());
    const double *a = sk_cl_results_matrix(res, 1);
    ck_assert(a[0] > 0.5);
    for (int k = 0; k < 9; k++)
        ck_assert(isfinite(a[k]));
    /* Task 1 is trained exactly like finetune. */
    ck_assert_double_eq(a[0], sk_cl_results_matrix(res, 0)[0]);
    sk_cl_results_free(res);
    sk_dataset_free(&ds);
}
END_TEST

static Suite *continual_suite(void)
{
    Suite *s = suite_create("continual");
    TCase *tc = tcase_create("continual");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rotation_exact);
    tcase_add_test(tc, test_rotated_bench_angles);
    tcase_add_test(tc, test_permuted_round_trip);
    tcase_add_test(tc, test_split_cifar10_heads);
    tcase_add_test(tc, test_split_cifar100_files);
    tcase_add_test(tc, test_metrics);
    tcase_add_test(tc, test_fisher_explicit);
    tcase_add_test(tc, test_memory_balance);
    tcase_add_test(tc, test_memory_random);
    tcase_add_test(tc, test_options_memory_loss_defaults);
    tcase_add_test(tc, test_memory_default_per_task);
    tcase_add_test(tc, test_rebasin_loss_weighting);
    tcase_add_test(tc, test_smoke_all_methods);
    tcase_add_test(tc, test_ewc_split_augmented);
    tcase_add_test(tc, test_run_rejects_bad_input);
    tcase_add_test(tc, test_smoke_rebasin);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(continual_suite());
}
