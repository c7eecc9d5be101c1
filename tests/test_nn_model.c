/* nn models: state_dict names and shapes, whole-model finite-difference
 * gradient checks (mlp, vgg11 with each norm, resnet20), taps, alternate
 * parameter sets, evaluation, BatchNorm re-estimation, determinism and
 * training smoke tests.
 *
 * Whole-model FD: loss = mean CE of the fast float forward; central
 * differences with h = 3e-4 on ~120 sampled parameters (every tensor at least
 * twice) and input coordinates. Float GEMM rounding (~1e-6 of the loss) over
 * 2h gives ~3e-3 noise, so: ||fd - g|| <= 2e-2 * ||g|| over the sample, and
 * per coordinate |fd - g| <= 2e-3 + 5e-2 * |g| for at least 95% of them
 * (ReLU / max-pool kinks may be crossed by a few). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/err.h"
#include "core/rng.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "nn/train.h"

static sk_model_spec mlp_spec(int in, int h1, int h2, int out)
{
    sk_model_spec s;
    memset(&s, 0, sizeof s);
    s.arch = SK_ARCH_MLP;
    s.n_hidden = h2 > 0 ? 2 : 1;
    s.hidden[0] = h1;
    s.hidden[1] = h2;
    s.in_c = 1;
    s.in_h = 1;
    s.in_w = in;
    s.n_out = out;
    s.width = 1.0;
    return s;
}

static sk_model_spec conv_spec(sk_arch a, sk_mnorm norm, double width, int h, int w)
{
    sk_model_spec s;
    memset(&s, 0, sizeof s);
    s.arch = a;
    s.norm = norm;
    s.width = width;
    s.vgg_head = SK_VGGHEAD_GITREBASIN;
    s.in_c = 3;
    s.in_h = h;
    s.in_w = w;
    s.n_out = 10;
    return s;
}

static sk_model *build(const sk_model_spec *s, int max_batch, uint64_t seed)
{
    sk_model *m = NULL;
    sk_rng r;
    ck_assert_msg(sk_model_new(s, max_batch, &m) == SK_OK, "%s", sk_err_msg());
    sk_rng_seed(&r, seed);
    sk_model_init(m, &r);
    return m;
}

static float *rand_input(int64_t n, uint64_t seed)
{
    sk_rng r;
    sk_rng_seed(&r, seed);
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)sk_rng_normal(&r);
    return x;
}

static int64_t in_size(const sk_model_spec *s)
{
    return (int64_t)s->in_c * s->in_h * s->in_w;
}

/* ---- names --------------------------------------------------------------------- */

static void expect_shape(sk_tset *P, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                         int buffer)
{
    sk_tensor *t = sk_tset_get(P, name);
    int64_t d[4] = {d0, d1, d2, d3};
    ck_assert_msg(t != NULL, "missing tensor %s", name);
    ck_assert_int_eq(t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        ck_assert_int_eq(t->shape[i], d[i]);
    ck_assert_int_eq(t->is_buffer, buffer);
}

START_TEST(test_names_and_shapes)
{
    sk_model_spec s = mlp_spec(784, 512, 512, 10);
    s.n_hidden = 3;
    s.hidden[2] = 512;
    sk_model *m = build(&s, 4, 1);
    sk_tset *P = sk_model_params(m);
    ck_assert_int_eq(P->n, 8);
    ck_assert_str_eq(P->t[0].name, "layers.0.weight");
    expect_shape(P, "layers.0.weight", 2, 512, 784, 0, 0, 0);
    expect_shape(P, "layers.3.weight", 2, 10, 512, 0, 0, 0);
    expect_shape(P, "layers.3.bias", 1, 10, 0, 0, 0, 0);
    ck_assert_int_eq(sk_model_n_learnable(m), 784 * 512 + 512 + 2 * (512 * 512 + 512) + 5130);
    ck_assert_int_eq(sk_model_n_taps(m), 3);
    char *d = sk_model_describe(&s);
    ck_assert_str_eq(d, "mlp 784-512-512-512-10 relu");
    free(d);
    sk_model_free(m);

    s = conv_spec(SK_ARCH_VGG11, SK_MNORM_BATCHNORM, 1.0, 32, 32);
    m = build(&s, 2, 1);
    P = sk_model_params(m);
    expect_shape(P, "features.0.weight", 4, 64, 3, 3, 3, 0);
    expect_shape(P, "features.1.running_var", 1, 64, 0, 0, 0, 1);
    expect_shape(P, "features.4.weight", 4, 128, 64, 3, 3, 0); /* 0 conv 1 bn 2 relu 3 pool */
    expect_shape(P, "features.25.weight", 4, 512, 512, 3, 3, 0);
    expect_shape(P, "classifier.0.weight", 2, 512, 512, 0, 0, 0);
    expect_shape(P, "classifier.4.weight", 2, 10, 512, 0, 0, 0);
    ck_assert_int_eq(sk_model_n_taps(m), 10);
    sk_tap t = sk_model_tap(m, 0);
    ck_assert_str_eq(t.name, "features.0");
    ck_assert_int_eq(t.channels, 64);
    ck_assert_int_eq(t.h, 32);
    d = sk_model_describe(&s);
    ck_assert_str_eq(d, "vgg11 w=1 batchnorm head=gitrebasin 3x32x32->10");
    free(d);
    sk_model_free(m);

    /* vgg16 layernorm, width 0.5, linear head on 64x32: flatten 256 * (2*1) */
    s = conv_spec(SK_ARCH_VGG16, SK_MNORM_LAYERNORM, 0.5, 64, 32);
    s.vgg_head = SK_VGGHEAD_LINEAR;
    m = build(&s, 2, 1);
    P = sk_model_params(m);
    expect_shape(P, "features.0.weight", 4, 32, 3, 3, 3, 0);
    expect_shape(P, "features.1.weight", 1, 32, 0, 0, 0, 0);
    ck_assert_ptr_null(sk_tset_get(P, "features.1.running_mean"));
    expect_shape(P, "classifier.weight", 2, 10, 256 * 2, 0, 0, 0);
    ck_assert_int_eq(sk_model_n_taps(m), 13);
    sk_model_free(m);

    s = conv_spec(SK_ARCH_RESNET20, SK_MNORM_BATCHNORM, 1.0, 32, 32);
    m = build(&s, 2, 1);
    P = sk_model_params(m);
    ck_assert_str_eq(P->t[0].name, "conv1.weight");
    expect_shape(P, "conv1.weight", 4, 16, 3, 3, 3, 0);
    expect_shape(P, "bn1.running_mean", 1, 16, 0, 0, 0, 1);
    expect_shape(P, "layer1.0.conv1.weight", 4, 16, 16, 3, 3, 0);
    ck_assert_ptr_null(sk_tset_get(P, "layer1.0.shortcut.0.weight"));
    ck_assert_ptr_null(sk_tset_get(P, "layer1.0.conv1.bias"));
    expect_shape(P, "layer2.0.conv1.weight", 4, 32, 16, 3, 3, 0);
    expect_shape(P, "layer2.0.shortcut.0.weight", 4, 32, 16, 3, 3, 0);
    expect_shape(P, "layer2.0.shortcut.1.running_var", 1, 32, 0, 0, 0, 1);
    ck_assert_ptr_null(sk_tset_get(P, "layer2.1.shortcut.0.weight"));
    expect_shape(P, "layer3.2.bn2.weight", 1, 64, 0, 0, 0, 0);
    expect_shape(P, "fc.weight", 2, 10, 64, 0, 0, 0);
    ck_assert_str_eq(P->t[P->n - 1].name, "fc.bias");
    /* state_dict order inside a block: conv1, bn1, conv2, bn2, shortcut */
    ck_assert_int_lt(sk_tset_find(P, "layer2.0.bn2.running_var"), sk_tset_find(P, "layer2.0.shortcut.0.weight"));
    ck_assert_int_eq(sk_model_n_taps(m), 19);
    ck_assert_str_eq(sk_model_tap(m, 18).name, "layer3.2");
    ck_assert_int_eq(sk_model_tap(m, 18).h, 8);
    sk_model_free(m);

    /* bad specs are reported, not crashed on */
    s = conv_spec(SK_ARCH_RESNET20, SK_MNORM_NONE, 0.0, 32, 32);
    sk_err_clear();
    ck_assert_int_eq(sk_model_new(&s, 2, &m), SK_EINVAL);
    ck_assert_ptr_null(m);
    sk_arch a;
    ck_assert_int_eq(sk_arch_parse("vgg13", &a), 0);
    ck_assert_int_eq(a, SK_ARCH_VGG13);
    ck_assert_int_eq(sk_arch_parse("vgg12", &a), -1);
    ck_assert_str_eq(sk_arch_name(SK_ARCH_RESNET20), "resnet20");
}
END_TEST

/* ---- whole-model finite differences ------------------------------------------ */

static double model_loss(sk_model *m, const float *x, const int32_t *y, int N, int train, uint64_t dseed)
{
    sk_rng r;
    sk_rng_seed(&r, dseed); /* same dropout mask every evaluation */
    const float *z = sk_model_forward(m, NULL, x, N, train, &r);
    return sk_loss_ce(z, y, N, sk_model_get_spec(m)->n_out, NULL, NULL, NULL);
}

static void fd_model(const sk_model_spec *s, int N, int train)
{
    const double h = getenv("FD_H") ? strtod(getenv("FD_H"), NULL) : 3e-4;
    sk_model *m = build(s, N, 7);
    int64_t nin = in_size(s) * N;
    float *x = rand_input(nin, 8), *dx = calloc((size_t)nin, sizeof *dx);
    int32_t y[16];
    for (int i = 0; i < N; i++)
        y[i] = (i * 3) % s->n_out;
    sk_tset *P = sk_model_params(m), *G = sk_model_grads(m);
    /* perturb norm parameters away from 1/0 so their gradients are generic */
    sk_rng r;
    sk_rng_seed(&r, 9);
    for (int t = 0; t < P->n; t++)
        if (P->t[t].ndim == 1 && !P->t[t].is_buffer)
            for (int64_t j = 0; j < P->t[t].numel; j++)
                P->t[t].data[j] += (float)(0.2 * sk_rng_normal(&r));

    sk_rng_seed(&r, 11);
    const float *z = sk_model_forward(m, NULL, x, N, train, &r);
    float *d = sk_model_dlogits(m);
    sk_loss_ce(z, y, N, s->n_out, NULL, d, NULL);
    sk_model_zero_grads(m, NULL);
    sk_model_backward(m, d, NULL, dx);

    double se = 0.0, sg = 0.0;
    int bad = 0, total = 0;
    for (int t = 0; t < P->n + 1; t++) {
        float *p = t < P->n ? P->t[t].data : x;
        float *g = t < P->n ? G->t[t].data : dx;
        int64_t n = t < P->n ? P->t[t].numel : nin;
        if (t < P->n && P->t[t].is_buffer) continue;
        int k = t < P->n ? 2 + (int)(120 / P->n) : 12;
        for (int j = 0; j < k; j++) {
            int64_t i = (int64_t)sk_rng_below(&r, (uint32_t)n);
            float old = p[i];
            p[i] = (float)(old + h);
            double hp = p[i], lp = model_loss(m, x, y, N, train, 11);
            p[i] = (float)(old - h);
            double hm = p[i], lm = model_loss(m, x, y, N, train, 11);
            p[i] = old;
            double fd = (lp - lm) / (hp - hm), e = fabs(fd - g[i]);
            se += e * e;
            sg += (double)g[i] * g[i];
            total++;
            if (e > 2e-3 + 5e-2 * fabs(g[i])) {
                bad++;
                if (getenv("FD_VERBOSE") && atoi(getenv("FD_VERBOSE")) > 1)
                    fprintf(stderr, "%s[%lld]: fd %g analytic %g\n", t < P->n ? P->t[t].name : "x", (long long)i, fd,
                            g[i]);
            }
        }
    }
    char *desc = sk_model_describe(s);
    if (getenv("FD_VERBOSE"))
        fprintf(stderr, "%s train=%d: rel %g, %d/%d off\n", desc, train, sqrt(se / sg), bad, total);
    ck_assert_msg(sqrt(se) <= 2e-2 * sqrt(sg), "%s: FD relative error %g", desc, sqrt(se / sg));
    ck_assert_msg(bad <= total / 20, "%s: %d of %d FD coordinates off", desc, bad, total);
    ck_assert_msg(sg > 0.0, "%s: zero gradient", desc);
    free(desc);
    free(x);
    free(dx);
    sk_model_free(m);
}

START_TEST(test_fd_mlp)
{
    sk_model_spec s = mlp_spec(12, 9, 7, 4);
    fd_model(&s, 5, 1);
    s.activation = SK_ACT_TANH;
    fd_model(&s, 5, 1);
    s.norm = SK_MNORM_BATCHNORM;
    fd_model(&s, 5, 1);
    fd_model(&s, 5, 0);
    s.norm = SK_MNORM_LAYERNORM;
    s.dropout = 0.3f;
    fd_model(&s, 5, 1);
}
END_TEST

/* Per-endpoint dropout: layers built with dropout_layers pass their input
 * through at p = 0 (a train-mode forward equals the eval-mode one and the
 * rng is not touched) and drop units once sk_model_set_dropout_p turns them on. */
START_TEST(test_dropout_p)
{
    enum { N = 6, D = 10 };
    sk_model_spec s = mlp_spec(D, 64, 64, 3);
    s.dropout_layers = 1;
    sk_model *m = build(&s, N, 4);
    float *x = rand_input(N * D, 9), ev[N * 3], tr[N * 3];
    sk_rng r, r0;
    sk_rng_seed(&r, 5);
    r0 = r;
    memcpy(ev, sk_model_forward(m, NULL, x, N, 0, NULL), sizeof ev);
    memcpy(tr, sk_model_forward(m, NULL, x, N, 1, &r), sizeof tr);
    ck_assert_int_eq(memcmp(ev, tr, sizeof ev), 0);
    ck_assert_int_eq(memcmp(&r, &r0, sizeof r), 0); /* no draws */
    ck_assert_int_eq(sk_model_set_dropout_p(m, 0.5f), SK_OK);
    ck_assert_float_eq(sk_model_get_spec(m)->dropout, 0.5f);
    memcpy(tr, sk_model_forward(m, NULL, x, N, 1, &r), sizeof tr);
    ck_assert_int_ne(memcmp(ev, tr, sizeof ev), 0);
    ck_assert_int_ne(memcmp(&r, &r0, sizeof r), 0);
    memcpy(tr, sk_model_forward(m, NULL, x, N, 0, NULL), sizeof tr); /* eval mode: no dropout */
    ck_assert_int_eq(memcmp(ev, tr, sizeof ev), 0);
    ck_assert_int_eq(sk_model_set_dropout_p(m, 0.0f), SK_OK);
    memcpy(tr, sk_model_forward(m, NULL, x, N, 1, &r), sizeof tr);
    ck_assert_int_eq(memcmp(ev, tr, sizeof ev), 0);
    sk_err_clear();
    ck_assert_int_eq(sk_model_set_dropout_p(m, 1.0f), SK_EINVAL);
    sk_model_free(m);
    /* Without the layers only p = 0 is accepted. */
    s.dropout_layers = 0;
    m = build(&s, N, 4);
    ck_assert_int_eq(sk_model_set_dropout_p(m, 0.0f), SK_OK);
    sk_err_clear();
    ck_assert_int_eq(sk_model_set_dropout_p(m, 0.25f), SK_EINVAL);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "the model has no dropout layers"));
    sk_model_free(m);
    free(x);
}
END_TEST

START_TEST(test_fd_vgg11)
{
    /* BatchNorm centres every ReLU input at 0, so each finite difference
     * crosses many ReLU kinks: the BatchNorm variants are checked here with
     * tanh (smooth), and with ReLU against PyTorch in test_nn_golden.
     * Train-mode statistics over 4 values (1x1 maps, N = 4) are themselves
     * very curved, so that variant gets 16x16 inputs and 8 samples. */
    for (int norm = 0; norm < 3; norm++) {
        int bn = norm == SK_MNORM_BATCHNORM;
        sk_model_spec s = conv_spec(SK_ARCH_VGG11, (sk_mnorm)norm, 0.125, bn ? 16 : 8, bn ? 16 : 8);
        if (bn) s.activation = SK_ACT_TANH;
        fd_model(&s, bn ? 8 : 4, 1);
    }
    sk_model_spec s = conv_spec(SK_ARCH_VGG11, SK_MNORM_BATCHNORM, 0.125, 8, 8);
    fd_model(&s, 4, 0); /* eval mode: running statistics, ReLU */
    s = conv_spec(SK_ARCH_VGG13, SK_MNORM_NONE, 0.125, 8, 8);
    s.vgg_head = SK_VGGHEAD_LINEAR;
    fd_model(&s, 3, 1);
}
END_TEST

START_TEST(test_fd_resnet20)
{
    for (int norm = 0; norm < 3; norm++) {
        sk_model_spec s = conv_spec(SK_ARCH_RESNET20, (sk_mnorm)norm, norm == 1 ? 1.0 : 0.5, 8, 8);
        if (norm == SK_MNORM_BATCHNORM) s.activation = SK_ACT_TANH;
        fd_model(&s, 4, 1);
    }
}
END_TEST

/* ---- taps, parameter sets, gradient accumulation --------------------------------- */

START_TEST(test_taps_and_param_sets)
{
    sk_model_spec s = mlp_spec(6, 5, 4, 3);
    sk_model *m = build(&s, 8, 3);
    float *x = rand_input(6 * 8, 4);
    const float *z = sk_model_forward(m, NULL, x, 8, 0, NULL);
    float z0[24];
    memcpy(z0, z, sizeof z0);
    /* tap 0 = relu(x W0^T + b0) */
    sk_tap t = sk_model_tap(m, 0);
    ck_assert_str_eq(t.name, "layers.0");
    ck_assert_int_eq(t.channels, 5);
    sk_tset *P = sk_model_params(m);
    const float *W = sk_tset_get(P, "layers.0.weight")->data, *b = sk_tset_get(P, "layers.0.bias")->data;
    for (int n = 0; n < 8; n++)
        for (int o = 0; o < 5; o++) {
            double a = b[o];
            for (int c = 0; c < 6; c++)
                a += (double)x[n * 6 + c] * W[o * 6 + c];
            ck_assert_double_eq_tol(t.data[n * 5 + o], a > 0 ? a : 0, 1e-5);
        }
    /* a cloned set gives the same logits; a changed one differs, own params untouched */
    sk_tset *Q = sk_tset_clone(P);
    z = sk_model_forward(m, Q, x, 8, 0, NULL);
    ck_assert_mem_eq(z, z0, sizeof z0);
    sk_tset_get(Q, "layers.2.bias")->data[1] += 1.0f;
    z = sk_model_forward(m, Q, x, 8, 0, NULL);
    ck_assert_float_eq_tol(z[1], z0[1] + 1.0f, 1e-5f);
    ck_assert_float_eq_tol(z[0], z0[0], 1e-6f);
    /* backward accumulates: two backward passes = twice the gradient, into a given set */
    sk_tset *G = sk_tset_like(P);
    int32_t y[8] = {0, 1, 2, 0, 1, 2, 0, 1};
    z = sk_model_forward(m, NULL, x, 8, 1, NULL);
    float *d = sk_model_dlogits(m);
    sk_loss_ce(z, y, 8, 3, NULL, d, NULL);
    sk_model_backward(m, d, G, NULL);
    sk_tset *G1 = sk_tset_clone(G);
    sk_model_backward(m, d, G, NULL);
    for (int64_t i = 0; i < G->numel; i++)
        ck_assert_float_eq_tol(G->block[i], 2 * G1->block[i], 1e-6f);
    sk_tset_free(Q);
    sk_tset_free(G);
    sk_tset_free(G1);
    free(x);
    sk_model_free(m);
}
END_TEST

/* ---- data providers for the loop tests -------------------------------------------- */

typedef struct {
    const float *x;
    const int32_t *y;
    const float *yr;
    int n, d, k, bs;
} arr_data;

static int arr_batch(void *ctx, int64_t epoch, int64_t step, float *x, int32_t *y, float *yr)
{
    arr_data *a = ctx;
    (void)epoch;
    int64_t s0 = step * a->bs;
    if (s0 >= a->n) return 0;
    int n = (int)(a->n - s0 < a->bs ? a->n - s0 : a->bs);
    memcpy(x, a->x + s0 * a->d, (size_t)n * a->d * sizeof *x);
    if (a->y) memcpy(y, a->y + s0, (size_t)n * sizeof *y);
    if (a->yr) memcpy(yr, a->yr + s0 * a->k, (size_t)n * a->k * sizeof *yr);
    return n;
}

typedef struct {
    float lr;
} sgd_ctx;

static int sgd_step(void *optctx, sk_tset *params, sk_tset *grads, int64_t step)
{
    sgd_ctx *o = optctx;
    (void)step;
    for (int t = 0; t < params->n; t++) {
        if (params->t[t].is_buffer) continue;
        float *p = params->t[t].data;
        const float *g = grads->t[t].data;
        for (int64_t i = 0; i < params->t[t].numel; i++)
            p[i] -= o->lr * g[i];
    }
    return 0;
}

typedef struct {
    int calls;
    double first_loss, last_loss, last_acc, last_test_acc;
} epoch_log;

static void on_epoch(void *ctx, const sk_epoch_info *in)
{
    epoch_log *l = ctx;
    if (l->calls == 0) l->first_loss = in->train_loss;
    l->calls++;
    ck_assert_int_eq(in->epoch, l->calls);
    ck_assert(in->samples_per_s > 0.0);
    ck_assert(isnan(in->val_loss) && isnan(in->val_acc)); /* no validation provider */
    ck_assert_int_eq(in->best, 0);
    l->last_loss = in->train_loss;
    l->last_acc = in->train_acc;
    l->last_test_acc = in->test_acc;
}

/* 4 Gaussian blobs in 16-D, separable: means +-2 on two coordinates. */
static void blobs(int n, float *x, int32_t *y, uint64_t seed)
{
    sk_rng r;
    sk_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int c = (int)sk_rng_below(&r, 4);
        y[i] = c;
        for (int j = 0; j < 16; j++)
            x[i * 16 + j] = (float)(0.5 * sk_rng_normal(&r));
        x[i * 16 + 0] += (c & 1) ? 2.0f : -2.0f;
        x[i * 16 + 1] += (c & 2) ? 2.0f : -2.0f;
    }
}

START_TEST(test_training_smoke)
{
    enum { NTR = 512, NTE = 256 };
    float *xtr = malloc(NTR * 16 * sizeof(float)), *xte = malloc(NTE * 16 * sizeof(float));
    int32_t ytr[NTR], yte[NTE];
    blobs(NTR, xtr, ytr, 1);
    blobs(NTE, xte, yte, 2);
    sk_model_spec s = mlp_spec(16, 32, 0, 4);
    s.dropout = 0.1f;
    sk_model *m = build(&s, 64, 5);
    arr_data tr = {xtr, ytr, NULL, NTR, 16, 4, 32}, te = {xte, yte, NULL, NTE, 16, 4, 64};
    double l0, a0;
    sk_loss_spec ls = {0, NULL};
    ck_assert_int_eq(sk_model_eval(m, NULL, arr_batch, &te, &ls, &l0, &a0), SK_OK);
    sgd_ctx opt = {0.1f};
    epoch_log log = {0};
    sk_rng r;
    sk_rng_seed(&r, 3);
    sk_train_cfg cfg = {.epochs = 20,
                        .batch_size = 32,
                        .loss = ls,
                        .get_batch = arr_batch,
                        .ctx = &tr,
                        .get_test_batch = arr_batch,
                        .test_ctx = &te,
                        .step = sgd_step,
                        .optctx = &opt,
                        .on_epoch = on_epoch,
                        .epoch_ctx = &log,
                        .rng = &r};
    ck_assert_int_eq(sk_train(m, &cfg), SK_OK);
    ck_assert_int_eq(log.calls, 20);
    ck_assert_int_eq(cfg.global_step, 20 * (NTR / 32)); /* 320 steps */
    double l1, a1;
    ck_assert_int_eq(sk_model_eval(m, NULL, arr_batch, &te, &ls, &l1, &a1), SK_OK);
    /* stated factors: test loss falls at least 5x, accuracy >= 95% */
    ck_assert_msg(l1 < l0 / 5.0, "loss %g -> %g", l0, l1);
    ck_assert_msg(a1 >= 0.95, "accuracy %g -> %g", a0, a1);
    ck_assert_double_eq_tol(log.last_test_acc, a1, 1e-12);
    ck_assert(log.last_loss < log.first_loss / 3.0);

    /* class mask: restricted to classes {1, 3}, accuracy counts only those */
    uint8_t mask[4] = {0, 1, 0, 1};
    sk_loss_spec lm = {0, mask};
    double lmask, amask;
    ck_assert_int_eq(sk_model_eval(m, NULL, arr_batch, &te, &lm, &lmask, &amask), SK_OK);
    ck_assert(amask <= a1 + 1e-12);

    /* a batch size above the model's max batch is refused */
    cfg.batch_size = 100;
    sk_err_clear();
    ck_assert_int_eq(sk_train(m, &cfg), SK_EINVAL);
    free(xtr);
    free(xte);
    sk_model_free(m);
}
END_TEST

/* train.select best_validation: the model ends with the parameters of the
 * epoch of lowest validation loss (the earliest of equals), which the
 * callback saw flagged; last keeps the last epoch's. */
typedef struct {
    sk_model *m;
    int n;
    double val[12];
    int best[12];
    float *snap[12]; /* the parameters after each epoch */
} snap_log;

static void on_epoch_snap(void *ctx, const sk_epoch_info *in)
{
    snap_log *l = ctx;
    const sk_tset *p = sk_model_params(l->m);
    ck_assert_int_eq(in->epoch, l->n + 1);
    ck_assert(!isnan(in->val_loss) && !isnan(in->val_acc));
    l->val[l->n] = in->val_loss;
    l->best[l->n] = in->best;
    l->snap[l->n] = malloc((size_t)p->numel * sizeof(float));
    memcpy(l->snap[l->n], p->block, (size_t)p->numel * sizeof(float));
    l->n++;
}

START_TEST(test_train_select_best)
{
    enum { NTR = 256, NVA = 128, E = 12 };
    float *xtr = malloc(NTR * 16 * sizeof(float)), *xva = malloc(NVA * 16 * sizeof(float));
    int32_t ytr[NTR], yva[NVA];
    blobs(NTR, xtr, ytr, 5);
    blobs(NVA, xva, yva, 6);
    /* Half of the validation labels disagree with the training rule: its
     * loss first falls, then rises as the model grows confident. */
    for (int i = 0; i < NVA; i += 2)
        yva[i] = (yva[i] + 1) % 4;
    for (int sel = 0; sel < 2; sel++) {
        sk_model_spec s = mlp_spec(16, 32, 0, 4);
        s.dropout = 0.1f;
        sk_model *m = build(&s, 64, 7);
        arr_data tr = {xtr, ytr, NULL, NTR, 16, 4, 32}, va = {xva, yva, NULL, NVA, 16, 4, 64};
        sk_loss_spec ls = {0, NULL};
        sgd_ctx opt = {0.2f};
        snap_log log = {.m = m};
        sk_rng r;
        sk_rng_seed(&r, 3);
        sk_train_cfg cfg = {.epochs = E,
                            .batch_size = 32,
                            .loss = ls,
                            .get_batch = arr_batch,
                            .ctx = &tr,
                            .get_val_batch = arr_batch,
                            .val_ctx = &va,
                            .select = sel ? SK_TRAIN_SELECT_BEST_VALIDATION : SK_TRAIN_SELECT_LAST,
                            .step = sgd_step,
                            .optctx = &opt,
                            .on_epoch = on_epoch_snap,
                            .epoch_ctx = &log,
                            .rng = &r};
        ck_assert_msg(sk_train(m, &cfg) == SK_OK, "%s", sk_err_msg());
        ck_assert_int_eq(log.n, E);
        int want = E; /* 1-based */
        if (sel) {
            want = 1;
            for (int e = 1; e < E; e++)
                if (log.val[e] < log.val[want - 1]) want = e + 1;
            double lo = INFINITY;
            for (int e = 0; e < E; e++) { /* flagged: a new strict minimum */
                ck_assert_int_eq(log.best[e], log.val[e] < lo);
                if (log.val[e] < lo) lo = log.val[e];
            }
            ck_assert_msg(want < E, "validation loss fell to the end: the test needs an earlier minimum");
        } else {
            for (int e = 0; e < E; e++)
                ck_assert_int_eq(log.best[e], 0);
        }
        ck_assert_int_eq(cfg.selected_epoch, want);
        ck_assert_double_eq(cfg.selected_val_loss, log.val[want - 1]);
        const sk_tset *p = sk_model_params(m);
        ck_assert_int_eq(memcmp(p->block, log.snap[want - 1], (size_t)p->numel * sizeof(float)), 0);
        double vl, vacc;
        ck_assert_int_eq(sk_model_eval(m, NULL, arr_batch, &va, &ls, &vl, &vacc), SK_OK);
        ck_assert_double_eq(vl, cfg.selected_val_loss); /* the same evaluation, bit for bit */
        ck_assert_double_eq(vacc, cfg.selected_val_acc);
        for (int e = 0; e < E; e++)
            free(log.snap[e]);
        /* best_validation without a validation provider is refused */
        if (sel) {
            cfg.get_val_batch = NULL;
            sk_err_clear();
            ck_assert_int_eq(sk_train(m, &cfg), SK_EINVAL);
        }
        sk_model_free(m);
    }
    free(xtr);
    free(xva);
}
END_TEST

START_TEST(test_regression_smoke)
{
    /* y = 2x^2 - 1 on [-1, 1], mlp 1-10-1 tanh, MSE */
    enum { N = 100 };
    float x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = -1.0f + 2.0f * i / (N - 1);
        y[i] = 2.0f * x[i] * x[i] - 1.0f;
    }
    sk_model_spec s = mlp_spec(1, 10, 0, 1);
    s.activation = SK_ACT_TANH;
    sk_model *m = build(&s, N, 2);
    arr_data d = {x, NULL, y, N, 1, 1, 20};
    sk_loss_spec ls = {1, NULL};
    double l0, l1, acc;
    ck_assert_int_eq(sk_model_eval(m, NULL, arr_batch, &d, &ls, &l0, &acc), SK_OK);
    ck_assert(isnan(acc));
    sgd_ctx opt = {0.2f};
    sk_train_cfg cfg = {.epochs = 300,
                        .batch_size = 20,
                        .loss = ls,
                        .get_batch = arr_batch,
                        .ctx = &d,
                        .step = sgd_step,
                        .optctx = &opt};
    ck_assert_int_eq(sk_train(m, &cfg), SK_OK);
    ck_assert_int_eq(sk_model_eval(m, NULL, arr_batch, &d, &ls, &l1, &acc), SK_OK);
    ck_assert_msg(l1 < l0 / 10.0 && l1 < 0.05, "mse %g -> %g", l0, l1);
    sk_model_free(m);
}
END_TEST

/* ---- BatchNorm re-estimation --------------------------------------------------------- */

START_TEST(test_bn_reset)
{
    enum { N = 96, D = 5 };
    sk_model_spec s = mlp_spec(D, 6, 0, 3);
    s.norm = SK_MNORM_BATCHNORM;
    sk_model *m = build(&s, 32, 4);
    float *x = rand_input(N * D, 6);
    arr_data d = {x, NULL, NULL, N, D, 3, 32};
    sk_tset *Q = sk_tset_clone(sk_model_params(m));
    ck_assert_int_eq(sk_model_bn_reset(m, Q, arr_batch, &d, 0), SK_OK);
    /* cumulative average of equal-size batch means = the dataset mean of the pre-norm activation */
    const float *W = sk_tset_get(Q, "layers.0.weight")->data, *b = sk_tset_get(Q, "layers.0.bias")->data;
    const float *rm = sk_tset_get(Q, "norms.0.running_mean")->data;
    const float *rv = sk_tset_get(Q, "norms.0.running_var")->data;
    for (int o = 0; o < 6; o++) {
        double mu = 0.0;
        for (int n = 0; n < N; n++) {
            double a = b[o];
            for (int c = 0; c < D; c++)
                a += (double)x[n * D + c] * W[o * D + c];
            mu += a / N;
        }
        ck_assert_double_eq_tol(rm[o], mu, 1e-5);
        ck_assert(rv[o] > 0.0f);
    }
    /* only Q's buffers changed */
    ck_assert_float_eq(sk_tset_get(sk_model_params(m), "norms.0.running_mean")->data[0], 0.0f);
    /* limited number of batches: the first batch's statistics exactly */
    sk_tset *Q1 = sk_tset_clone(Q);
    ck_assert_int_eq(sk_model_bn_reset(m, Q1, arr_batch, &d, 1), SK_OK);
    ck_assert(fabsf(sk_tset_get(Q1, "norms.0.running_mean")->data[0] - rm[0]) > 0.0f);
    sk_tset_free(Q);
    sk_tset_free(Q1);
    free(x);
    sk_model_free(m);
}
END_TEST

/* ---- determinism ------------------------------------------------------------------------ */

static sk_tset *train_steps(const sk_model_spec *s, int steps)
{
    sk_model *m = build(s, 8, 21);
    int64_t nin = in_size(s) * 8;
    float *x = rand_input(nin * steps, 22);
    int32_t y[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    sk_rng r;
    sk_rng_seed(&r, 23);
    sk_loss_spec ls = {0, NULL};
    sgd_ctx opt = {0.05f};
    for (int i = 0; i < steps; i++) {
        ck_assert_int_eq(sk_train_grad(m, NULL, NULL, x + i * nin, y, NULL, 8, &ls, &r, NULL, NULL), SK_OK);
        sgd_step(&opt, sk_model_params(m), sk_model_grads(m), i);
    }
    sk_tset *out = sk_tset_clone(sk_model_params(m));
    free(x);
    sk_model_free(m);
    return out;
}

START_TEST(test_determinism)
{
    sk_model_spec specs[3];
    specs[0] = mlp_spec(20, 16, 16, 8);
    specs[0].dropout = 0.2f;
    specs[1] = conv_spec(SK_ARCH_VGG11, SK_MNORM_BATCHNORM, 0.25, 16, 16);
    specs[2] = conv_spec(SK_ARCH_RESNET20, SK_MNORM_LAYERNORM, 0.5, 8, 8);
    sk_threads_set(2); /* the OpenMP and threaded-BLAS paths */
    for (int i = 0; i < 3; i++) {
        sk_tset *a = train_steps(&specs[i], 4), *b = train_steps(&specs[i], 4);
        ck_assert_int_eq(a->numel, b->numel);
        ck_assert_mem_eq(a->block, b->block, (size_t)a->numel * sizeof(float));
        sk_tset_free(a);
        sk_tset_free(b);
    }
    sk_threads_set(1);
}
END_TEST

int main(void)
{
    /* One thread: these models are tiny, and idle OpenMP workers spinning
     * next to BLAS threads on a loaded 2-core machine cost more than they
     * save (see the OMP_WAIT_POLICY note in the nn report). */
    sk_threads_set(1);
    Suite *s = suite_create("nn_model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_names_and_shapes);
    tcase_add_test(tc, test_fd_mlp);
    tcase_add_test(tc, test_fd_vgg11);
    tcase_add_test(tc, test_fd_resnet20);
    tcase_add_test(tc, test_taps_and_param_sets);
    tcase_add_test(tc, test_training_smoke);
    tcase_add_test(tc, test_regression_smoke);
    tcase_add_test(tc, test_train_select_best);
    tcase_add_test(tc, test_dropout_p);
    tcase_add_test(tc, test_bn_reset);
    tcase_add_test(tc, test_determinism);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
