/* nn: golden comparison with PyTorch 1.13 (fixtures from
 * tests/golden/make_nn_fixtures.py). Parameters and inputs come from an
 * integer hash reproduced bit-exactly here; the fixtures hold PyTorch's eval
 * and train logits, loss, parameter gradients (full or sampled) and running
 * statistics after one train-mode forward.
 *
 * Tolerances (float32 on both sides, different summation orders):
 *   logits, running stats: max |ours - torch| <= 1e-4 * max(1, max |torch|)
 *   loss:                  |ours - torch| <= 1e-5 * max(1, |torch|)
 *   gradients, per tensor: max |ours - torch| <= 2e-4 * max(1e-3, max |torch|)
 *                          and the full-gradient norm within 1e-3 * max(norm, 1e-4)
 *                          (conv biases before BatchNorm have zero gradient in exact
 *                          arithmetic; both sides then hold ~1e-7 rounding noise). */
#include "testutil.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "nn/train.h"

/* Same as hash_u() in make_nn_fixtures.py. */
static double hash_u(uint64_t seed, uint64_t i)
{
    uint64_t z = seed * 0x9E3779B97F4A7C15ULL + i * 0xBF58476D1CE4E5B9ULL + 0x94D049BB133111EBULL;
    z ^= z >> 31;
    z *= 0xBF58476D1CE4E5B9ULL;
    z ^= z >> 29;
    z *= 0x94D049BB133111EBULL;
    z ^= z >> 32;
    return (double)(z >> 40) / (double)(1 << 24) * 2.0 - 1.0;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Same values as fill_value() in make_nn_fixtures.py (a 1-D ".weight" is
 * always a norm weight in these models). */
static void fill_params(sk_tset *P)
{
    for (int t = 0; t < P->n; t++) {
        sk_tensor *T = &P->t[t];
        for (int64_t i = 0; i < T->numel; i++) {
            double u = hash_u((uint64_t)t + 1, (uint64_t)i), v;
            if (ends_with(T->name, "running_mean"))
                v = 0.2 * u;
            else if (ends_with(T->name, "running_var"))
                v = 1.0 + 0.5 * u;
            else if (T->ndim == 1 && ends_with(T->name, ".weight"))
                v = 1.0 + 0.2 * u;
            else if (T->ndim == 1)
                v = 0.1 * u;
            else
                v = (1.0 / sqrt((double)(T->numel / T->shape[0]))) * u;
            T->data[i] = (float)v;
        }
    }
}

static float *read_f32(hid_t f, const char *name, int64_t *n)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    ck_assert_msg(d >= 0, "dataset %s missing", name);
    hid_t sp = H5Dget_space(d);
    int64_t k = H5Sget_simple_extent_npoints(sp);
    float *buf = malloc((size_t)(k > 0 ? k : 1) * sizeof *buf);
    ck_assert(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
    if (n) *n = k;
    return buf;
}

static int32_t *read_i32(hid_t f, const char *name, int64_t *n)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    ck_assert_msg(d >= 0, "dataset %s missing", name);
    hid_t sp = H5Dget_space(d);
    int64_t k = H5Sget_simple_extent_npoints(sp);
    int32_t *buf = malloc((size_t)(k > 0 ? k : 1) * sizeof *buf);
    ck_assert(H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
    if (n) *n = k;
    return buf;
}

static double read_scalar(hid_t f, const char *name)
{
    double v = 0.0;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    ck_assert_msg(d >= 0, "dataset %s missing", name);
    ck_assert(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) >= 0);
    H5Dclose(d);
    return v;
}

static int link_exists(hid_t f, const char *path)
{
    /* H5Lexists needs every intermediate group to exist. */
    char grp[256];
    const char *slash = strchr(path, '/');
    if (slash) {
        snprintf(grp, sizeof grp, "%.*s", (int)(slash - path), path);
        if (H5Lexists(f, grp, H5P_DEFAULT) <= 0) return 0;
    }
    return H5Lexists(f, path, H5P_DEFAULT) > 0;
}

static void cmp_max(const char *what, const float *ours, const float *ref, int64_t n, double rtol, double floor_)
{
    double mref = 0.0, err = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs(ref[i]) > mref) mref = fabs(ref[i]);
        double e = fabs((double)ours[i] - ref[i]);
        if (!(e <= err)) err = e; /* NaN-propagating */
    }
    double tol = rtol * (mref > floor_ ? mref : floor_);
    ck_assert_msg(err <= tol, "%s: max abs error %g > %g (max |ref| %g)", what, err, tol, mref);
}

static void run_golden(const char *fixture, const sk_model_spec *sp)
{
    hid_t f = H5Fopen(tu_src(fixture), H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_msg(f >= 0, "cannot open %s", tu_src(fixture));
    int64_t nl, ny;
    float *le = read_f32(f, "logits_eval", &nl);
    float *lt = read_f32(f, "logits_train", NULL);
    int32_t *y = read_i32(f, "y", &ny);
    int N = (int)ny, K = sp->n_out;
    ck_assert_int_eq(nl, (int64_t)N * K);

    sk_model *m = NULL;
    ck_assert_msg(sk_model_new(sp, N, &m) == SK_OK, "%s", sk_err_msg());
    sk_tset *P = sk_model_params(m), *G = sk_model_grads(m);
    /* the fixture has one entry per tensor of ours (same names) */
    {
        hid_t a = H5Aopen(f, "n_tensors", H5P_DEFAULT);
        long long nt = 0;
        ck_assert(a >= 0 && H5Aread(a, H5T_NATIVE_LLONG, &nt) >= 0);
        H5Aclose(a);
        ck_assert_int_eq(nt, P->n);
    }
    fill_params(P);
    int64_t nin = (int64_t)N * sp->in_c * sp->in_h * sp->in_w;
    float *x = malloc((size_t)nin * sizeof *x);
    for (int64_t i = 0; i < nin; i++)
        x[i] = (float)hash_u(1000, (uint64_t)i);

    const float *out = sk_model_forward(m, NULL, x, N, 0, NULL);
    cmp_max("logits_eval", out, le, nl, 1e-4, 1.0);
    out = sk_model_forward(m, NULL, x, N, 1, NULL);
    cmp_max("logits_train", out, lt, nl, 1e-4, 1.0);
    float *d = sk_model_dlogits(m);
    double loss = sk_loss_ce(out, y, N, K, NULL, d, NULL);
    double ref_loss = read_scalar(f, "loss");
    ck_assert_msg(fabs(loss - ref_loss) <= 1e-5 * fmax(1.0, fabs(ref_loss)), "loss %.8g vs torch %.8g", loss, ref_loss);
    sk_model_zero_grads(m, NULL);
    sk_model_backward(m, d, NULL, NULL);

    char path[256];
    for (int t = 0; t < P->n; t++) {
        sk_tensor *T = &P->t[t], *GT = &G->t[t];
        if (T->is_buffer) {
            snprintf(path, sizeof path, "running/%s", T->name);
            int64_t n;
            float *r = read_f32(f, path, &n);
            ck_assert_int_eq(n, T->numel);
            cmp_max(path, T->data, r, n, 1e-4, 1.0);
            free(r);
            continue;
        }
        snprintf(path, sizeof path, "grads/%s", T->name);
        int64_t n;
        float *g = read_f32(f, path, &n);
        float *ours = malloc((size_t)n * sizeof *ours);
        snprintf(path, sizeof path, "grads_idx/%s", T->name);
        if (link_exists(f, path)) {
            int64_t ni;
            int32_t *idx = read_i32(f, path, &ni);
            ck_assert_int_eq(ni, n);
            for (int64_t i = 0; i < n; i++) {
                ck_assert(idx[i] >= 0 && idx[i] < T->numel);
                ours[i] = GT->data[idx[i]];
            }
            free(idx);
        } else {
            ck_assert_int_eq(n, T->numel);
            memcpy(ours, GT->data, (size_t)n * sizeof *ours);
        }
        snprintf(path, sizeof path, "grads/%s", T->name);
        cmp_max(path, ours, g, n, 2e-4, 1e-3);
        snprintf(path, sizeof path, "grads_norm/%s", T->name);
        double rn = read_scalar(f, path), on = 0.0;
        for (int64_t i = 0; i < GT->numel; i++)
            on += (double)GT->data[i] * GT->data[i];
        on = sqrt(on);
        ck_assert_msg(fabs(on - rn) <= 1e-3 * fmax(rn, 1e-4), "%s: %g vs torch %g", path, on, rn);
        free(g);
        free(ours);
    }
    free(x);
    free(le);
    free(lt);
    free(y);
    sk_model_free(m);
    H5Fclose(f);
}

static sk_model_spec conv_spec(sk_arch a, sk_mnorm norm, double width, sk_vgghead head, int c, int h, int w, int n_out)
{
    sk_model_spec s;
    memset(&s, 0, sizeof s);
    s.arch = a;
    s.norm = norm;
    s.width = width;
    s.vgg_head = head;
    s.in_c = c;
    s.in_h = h;
    s.in_w = w;
    s.n_out = n_out;
    return s;
}

START_TEST(test_golden_mlp)
{
    sk_model_spec s;
    memset(&s, 0, sizeof s);
    s.arch = SK_ARCH_MLP;
    s.n_hidden = 2;
    s.hidden[0] = 32;
    s.hidden[1] = 24;
    s.in_c = 1;
    s.in_h = 8;
    s.in_w = 8;
    s.n_out = 10;
    s.width = 1.0;
    run_golden("tests/fixtures/nn_mlp.h5", &s);
    memset(&s, 0, sizeof s);
    s.arch = SK_ARCH_MLP;
    s.n_hidden = 1;
    s.hidden[0] = 7;
    s.activation = SK_ACT_TANH;
    s.in_c = 1;
    s.in_h = 1;
    s.in_w = 5;
    s.n_out = 3;
    s.width = 1.0;
    run_golden("tests/fixtures/nn_mlp_tanh.h5", &s);
}
END_TEST

START_TEST(test_golden_vgg11)
{
    sk_model_spec s = conv_spec(SK_ARCH_VGG11, SK_MNORM_BATCHNORM, 0.125, SK_VGGHEAD_GITREBASIN, 3, 8, 8, 10);
    run_golden("tests/fixtures/nn_vgg11_bn.h5", &s);
    /* 16x32 input: the last pool is skipped and the flatten has S = 1*2 */
    s = conv_spec(SK_ARCH_VGG11, SK_MNORM_LAYERNORM, 0.125, SK_VGGHEAD_LINEAR, 3, 16, 32, 10);
    run_golden("tests/fixtures/nn_vgg11_ln.h5", &s);
}
END_TEST

START_TEST(test_golden_resnet20)
{
    sk_model_spec s = conv_spec(SK_ARCH_RESNET20, SK_MNORM_LAYERNORM, 0.5, SK_VGGHEAD_GITREBASIN, 3, 8, 8, 10);
    run_golden("tests/fixtures/nn_resnet20_ln.h5", &s);
    s = conv_spec(SK_ARCH_RESNET20, SK_MNORM_BATCHNORM, 0.5, SK_VGGHEAD_GITREBASIN, 3, 8, 8, 10);
    run_golden("tests/fixtures/nn_resnet20_bn.h5", &s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nn_golden");
    TCase *tc = tcase_create("torch");
    tcase_add_test(tc, test_golden_mlp);
    tcase_add_test(tc, test_golden_vgg11);
    tcase_add_test(tc, test_golden_resnet20);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
