/* Data: IDX (raw and gzip), CIFAR-10/100 binary, the polynomial toy,
 * validation messages, normalisation and augmentation -- on fixtures written
 * here -- plus the real MNIST / CIFAR-10 / Fashion-MNIST files when
 * datasets/fetch has put them in the source tree. */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "core/err.h"
#include "core/rng.h"
#include "data/dataset.h"

/* ---- fixture writers ------------------------------------------------------ */

static const char *mkdir_tmp(const char *name)
{
    const char *p = tu_path(name);
    ck_assert_msg(mkdir(p, 0755) == 0, "mkdir %s", p);
    return p;
}

static const char *join(const char *dir, const char *name)
{
    static char bufs[8][8192];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static const char *join3(const char *a, const char *b, const char *c)
{
    static char bufs[4][8192];
    static int k;
    char *r = bufs[k++ & 3];
    snprintf(r, sizeof bufs[0], "%s/%s/%s", a, b, c);
    return r;
}

static void put_be32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

/* An IDX file: magic, ndim sizes, payload; gz != 0 writes it with zlib. */
static void write_idx(const char *path, int gz, uint32_t magic, int ndim, const uint32_t *dims, const uint8_t *payload,
                      size_t n)
{
    unsigned char head[16];
    size_t hs = 4 + 4 * (size_t)ndim;
    put_be32(head, magic);
    for (int d = 0; d < ndim; d++)
        put_be32(head + 4 + 4 * d, dims[d]);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_msg(f != NULL, "gzopen %s", path);
        ck_assert_int_eq(gzwrite(f, head, (unsigned)hs), (int)hs);
        if (n) ck_assert_int_eq(gzwrite(f, payload, (unsigned)n), (int)n);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_msg(f != NULL, "fopen %s", path);
        ck_assert_uint_eq(fwrite(head, 1, hs, f), hs);
        if (n) ck_assert_uint_eq(fwrite(payload, 1, n, f), n);
        ck_assert_int_eq(fclose(f), 0);
    }
}

static uint8_t mnist_pix(int64_t i, int64_t j)
{
    return (uint8_t)(i * 31 + j * 7 + 3);
}
static uint8_t mnist_lab(int64_t i)
{
    return (uint8_t)((i * 3 + 1) % 10);
}

/* One MNIST split: n images (h x w) and n_labels labels (normally h = w = 28,
 * n_labels = n), with an optional label override at record bad_at. */
static void write_mnist_split(const char *dir, const char *prefix, int gz, uint32_t n, uint32_t h, uint32_t w,
                              uint32_t n_labels)
{
    char name[128];
    uint8_t *px = malloc((size_t)n * h * w + 1), *lb = malloc((size_t)n_labels + 1);
    uint32_t dims[3] = {n, h, w};
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < h * w; j++)
            px[(size_t)i * h * w + j] = mnist_pix(i, j);
    for (uint32_t i = 0; i < n_labels; i++)
        lb[i] = mnist_lab(i);
    snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", prefix, gz ? ".gz" : "");
    write_idx(join(dir, name), gz, 0x803, 3, dims, px, (size_t)n * h * w);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", prefix, gz ? ".gz" : "");
    write_idx(join(dir, name), gz, 0x801, 1, &n_labels, lb, n_labels);
    free(px);
    free(lb);
}

/* A complete small MNIST folder: 7 train + 4 test images. */
static const char *make_mnist(const char *name, int gz)
{
    const char *dir = mkdir_tmp(name);
    write_mnist_split(dir, "train", gz, 7, 28, 28, 7);
    write_mnist_split(dir, "t10k", gz, 4, 28, 28, 4);
    return dir;
}

/* Channel-dependent ranges so per-channel statistics differ. */
static uint8_t cifar_pix(int64_t g, int64_t j)
{
    int64_t v = g * 13 + j * 5;
    switch (j / 1024) {
    case 0:
        return (uint8_t)(v & 127);
    case 1:
        return (uint8_t)(v & 255);
    default:
        return (uint8_t)(128 + ((v * 3) & 127));
    }
}

/* CIFAR-10 folder: `per` records in each of the 5 train batches, n_test in the
 * test batch (a valid folder has n_test == per). Global record g has label
 * g % 10. */
static const char *make_cifar10(const char *name, int per, int n_test)
{
    const char *dir = mkdir_tmp(name);
    uint8_t rec[3073];
    for (int k = 0; k <= 5; k++) {
        char fname[64];
        int n = k < 5 ? per : n_test;
        FILE *f;
        if (k < 5)
            snprintf(fname, sizeof fname, "data_batch_%d.bin", k + 1);
        else
            snprintf(fname, sizeof fname, "test_batch.bin");
        f = fopen(join(dir, fname), "wb");
        ck_assert(f != NULL);
        for (int r = 0; r < n; r++) {
            int64_t g = k < 5 ? (int64_t)k * per + r : 1000 + r;
            rec[0] = (uint8_t)(g % 10);
            for (int j = 0; j < 3072; j++)
                rec[1 + j] = cifar_pix(g, j);
            ck_assert_uint_eq(fwrite(rec, 1, sizeof rec, f), sizeof rec);
        }
        ck_assert_int_eq(fclose(f), 0);
    }
    return dir;
}

/* CIFAR-100 folder: record g has coarse g % 20, fine (g * 7) % 100. */
static const char *make_cifar100(const char *name, int n_train, int n_test)
{
    const char *dir = mkdir_tmp(name);
    uint8_t rec[3074];
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen(join(dir, k == 0 ? "train.bin" : "test.bin"), "wb");
        int n = k == 0 ? n_train : n_test;
        ck_assert(f != NULL);
        for (int r = 0; r < n; r++) {
            int64_t g = k == 0 ? r : 500 + r;
            rec[0] = (uint8_t)(g % 20);
            rec[1] = (uint8_t)((g * 7) % 100);
            for (int j = 0; j < 3072; j++)
                rec[2 + j] = cifar_pix(g, j);
            ck_assert_uint_eq(fwrite(rec, 1, sizeof rec, f), sizeof rec);
        }
        ck_assert_int_eq(fclose(f), 0);
    }
    return dir;
}

static sk_status load(sk_dataset *ds, sk_ds_kind kind, const char *dir)
{
    sk_data_opts o;
    sk_data_opts_init(&o, kind);
    o.path = dir;
    sk_err_clear();
    return sk_dataset_load(ds, &o);
}

/* Load must fail with a message containing `path` followed by `phrase`. */
static void expect_fail(sk_ds_kind kind, const char *dir, const char *path, const char *phrase)
{
    sk_dataset ds;
    char want[4096];
    sk_status st = load(&ds, kind, dir);
    ck_assert_msg(st != SK_OK, "loading %s should fail (%s)", dir, phrase);
    snprintf(want, sizeof want, "%s: %s", path, phrase);
    ck_assert_msg(strstr(sk_err_msg(), want) != NULL, "message\n  %s\nlacks\n  %s", sk_err_msg(), want);
    ck_assert_ptr_null(ds.train.x);
    ck_assert_ptr_null(ds.test.x);
    sk_dataset_free(&ds);
}

/* Per-channel mean and std of pixel/255 over a split, the slow way. */
static void direct_stats(const sk_split *sp, int c, double *mean, double *std)
{
    const int64_t hw = (int64_t)sp->h * sp->w;
    double s = 0, s2 = 0, cnt = (double)sp->n * (double)hw;
    for (int64_t i = 0; i < sp->n; i++)
        for (int64_t j = 0; j < hw; j++)
            s += sp->x[i * sp->c * hw + c * hw + j] / 255.0;
    *mean = s / cnt;
    for (int64_t i = 0; i < sp->n; i++)
        for (int64_t j = 0; j < hw; j++) {
            double d = sp->x[i * sp->c * hw + c * hw + j] / 255.0 - *mean;
            s2 += d * d;
        }
    *std = sqrt(s2 / cnt);
}

/* ---- names, options -------------------------------------------------------- */

START_TEST(test_kind_names)
{
    sk_ds_kind k = SK_DS_POLYNOMIAL;
    const sk_ds_kind all[] = {SK_DS_MNIST, SK_DS_FASHION_MNIST, SK_DS_CIFAR10, SK_DS_CIFAR100, SK_DS_POLYNOMIAL};
    ck_assert_str_eq(sk_ds_kind_name(SK_DS_FASHION_MNIST), "fashion-mnist");
    ck_assert_str_eq(sk_ds_kind_name(SK_DS_CIFAR100), "cifar100");
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        ck_assert_int_eq(sk_ds_kind_parse(sk_ds_kind_name(all[i]), &k), 0);
        ck_assert_int_eq(k, all[i]);
    }
    ck_assert_int_eq(sk_ds_kind_parse("imagenet", &k), -1);
    ck_assert_int_eq(sk_ds_kind_parse(NULL, &k), -1);
    ck_assert_int_eq(sk_normalize_auto(SK_DS_CIFAR10), SK_NORMALIZE_STANDARD);
    ck_assert_int_eq(sk_normalize_auto(SK_DS_CIFAR100), SK_NORMALIZE_STANDARD);
    ck_assert_int_eq(sk_normalize_auto(SK_DS_MNIST), SK_NORMALIZE_UNIT);
    {
        sk_data_opts o;
        sk_data_opts_init(&o, SK_DS_POLYNOMIAL);
        ck_assert_int_eq(o.poly_points, 100);
        ck_assert_double_eq(o.poly_noise, 0.05);
        ck_assert_int_eq(o.coarse_labels, 0);
        ck_assert_int_eq(o.train_limit, 0);
    }
}
END_TEST

/* ---- IDX -------------------------------------------------------------------- */

static void check_mnist_fixture(const sk_dataset *ds)
{
    ck_assert_int_eq(ds->train.n, 7);
    ck_assert_int_eq(ds->test.n, 4);
    ck_assert_int_eq(ds->train.c, 1);
    ck_assert_int_eq(ds->train.h, 28);
    ck_assert_int_eq(ds->train.w, 28);
    ck_assert_int_eq(ds->train.n_classes, 10);
    ck_assert_int_eq(sk_dataset_dim(ds), 784);
    for (int64_t i = 0; i < 7; i++) {
        ck_assert_int_eq(ds->train.y[i], mnist_lab(i));
        for (int j = 0; j < 784; j++)
            ck_assert_uint_eq(ds->train.x[i * 784 + j], mnist_pix(i, j));
    }
    for (int64_t i = 0; i < 4; i++) {
        ck_assert_int_eq(ds->test.y[i], mnist_lab(i));
        ck_assert_uint_eq(ds->test.x[i * 784 + 500], mnist_pix(i, 500));
    }
    ck_assert_ptr_null(ds->train.xr);
}

static int real_present(const char *rel, const char *probe);

/* Normalisation: standard uses the statistics of the whole training split
 * whatever train_limit keeps; presets and custom statistics are what the
 * batches use; a preset of the wrong channel count is refused. */
START_TEST(test_normalisation_choices)
{
    sk_dataset full, lim;
    sk_data_opts o;
    float x[3 * 1024];
    int32_t idx0 = 0, y;
    const char *dir = make_cifar10("c10_norm", 5, 5);
    ck_assert_int_eq(load(&full, SK_DS_CIFAR10, dir), SK_OK);
    sk_data_opts_init(&o, SK_DS_CIFAR10);
    o.path = dir;
    o.train_limit = 3;
    ck_assert_int_eq(sk_dataset_load(&lim, &o), SK_OK);
    ck_assert_int_eq(lim.train.n, 3);
    for (int c = 0; c < 3; c++) { /* the whole split's statistics, not those of the first 3 records */
        ck_assert_float_eq(lim.mean[c], full.mean[c]);
        ck_assert_float_eq(lim.std[c], full.std[c]);
    }
    double m, s;
    sk_dataset_free(&lim);
    if (real_present("datasets/mnist", "train-images-idx3-ubyte")) {
        /* on real data the first records' statistics differ from the split's */
        sk_data_opts om;
        sk_data_opts_init(&om, SK_DS_MNIST);
        om.path = tu_src("datasets/mnist");
        om.train_limit = 100;
        ck_assert_int_eq(sk_dataset_load(&lim, &om), SK_OK);
        direct_stats(&lim.train, 0, &m, &s);
        ck_assert_double_eq_tol(lim.mean[0], 0.1307, 1e-4);
        ck_assert(fabs(m - lim.mean[0]) > 1e-3);
        sk_dataset_free(&lim);
    }
    sk_dataset_free(&full);

    /* a preset: the published CIFAR-10 statistics */
    o.train_limit = 0;
    o.normalize = SK_NORMALIZE_CIFAR10_KUANGLIU;
    ck_assert_int_eq(sk_dataset_load(&lim, &o), SK_OK);
    sk_dataset_norm_stats(&lim, 2, &m, &s);
    ck_assert_double_eq_tol(m, 0.4465, 1e-6);
    ck_assert_double_eq_tol(s, 0.2010, 1e-6);
    sk_dataset_batch(&lim, &lim.train, &idx0, 1, 0, NULL, x, &y, NULL);
    ck_assert_double_eq_tol(x[2048 + 5], (lim.train.x[2048 + 5] / 255.0 - 0.4465) / 0.2010, 1e-5);
    sk_dataset_free(&lim);
    /* custom statistics */
    o.normalize = SK_NORMALIZE_CUSTOM;
    for (int c = 0; c < 3; c++)
        o.mean[c] = 0.25f * (float)c, o.std[c] = 0.5f;
    ck_assert_int_eq(sk_dataset_load(&lim, &o), SK_OK);
    sk_dataset_batch(&lim, &lim.train, &idx0, 1, 0, NULL, x, &y, NULL);
    ck_assert_double_eq_tol(x[1024 + 7], (lim.train.x[1024 + 7] / 255.0 - 0.25) / 0.5, 1e-5);
    sk_dataset_free(&lim);
    /* a one-channel preset on three-channel images */
    o.normalize = SK_NORMALIZE_MNIST;
    sk_err_clear();
    ck_assert_int_eq(sk_dataset_load(&lim, &o), SK_ECONFIG);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "dataset.normalize mnist has 1 channel but cifar10 images have 3"));
}
END_TEST

START_TEST(test_idx_raw_and_gzip)
{
    for (int gz = 0; gz < 2; gz++) {
        sk_dataset ds;
        double m, s;
        const char *dir = make_mnist(gz ? "mnist_gz" : "mnist_raw", gz);
        ck_assert_msg(load(&ds, SK_DS_MNIST, dir) == SK_OK, "%s", sk_err_msg());
        check_mnist_fixture(&ds);
        ck_assert_int_eq(ds.normalize, SK_NORMALIZE_UNIT);
        direct_stats(&ds.train, 0, &m, &s);
        ck_assert_double_eq_tol(ds.mean[0], m, 1e-6);
        ck_assert_double_eq_tol(ds.std[0], s, 1e-6);
        ck_assert_double_eq(ds.mean[1], 0.0); /* unused channels: identity */
        ck_assert_double_eq(ds.std[1], 1.0);
        sk_dataset_free(&ds);
        sk_dataset_free(&ds); /* idempotent */
    }
    /* Mixed: raw images, gzip labels; the plain name wins when both exist. */
    {
        sk_dataset ds;
        const char *dir = make_mnist("mnist_mixed", 1);
        uint32_t dims[3] = {7, 28, 28};
        uint8_t px[7 * 784];
        for (int i = 0; i < 7; i++)
            for (int j = 0; j < 784; j++)
                px[i * 784 + j] = (uint8_t)(255 - mnist_pix(i, j));
        write_idx(join(dir, "train-images-idx3-ubyte"), 0, 0x803, 3, dims, px, sizeof px);
        ck_assert_msg(load(&ds, SK_DS_FASHION_MNIST, dir) == SK_OK, "%s", sk_err_msg());
        ck_assert_int_eq(ds.kind, SK_DS_FASHION_MNIST);
        ck_assert_uint_eq(ds.train.x[5 * 784 + 9], 255 - mnist_pix(5, 9));
        ck_assert_int_eq(ds.train.y[6], mnist_lab(6));
        sk_dataset_free(&ds);
    }
}
END_TEST

START_TEST(test_limits)
{
    sk_dataset ds;
    sk_data_opts o;
    const char *dir = make_mnist("mnist_lim", 1);
    sk_data_opts_init(&o, SK_DS_MNIST);
    o.path = dir;
    o.train_limit = 3;
    o.test_limit = 100; /* more than there is: all */
    ck_assert_msg(sk_dataset_load(&ds, &o) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(ds.train.n, 3);
    ck_assert_int_eq(ds.test.n, 4);
    ck_assert_uint_eq(ds.train.x[2 * 784 + 100], mnist_pix(2, 100));
    ck_assert_int_eq(ds.train.y[2], mnist_lab(2));
    sk_dataset_free(&ds);

    dir = make_cifar10("c10_lim", 2, 2);
    sk_data_opts_init(&o, SK_DS_CIFAR10);
    o.path = dir;
    o.train_limit = 5; /* spans data_batch_1..3 */
    o.test_limit = 1;
    ck_assert_msg(sk_dataset_load(&ds, &o) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(ds.train.n, 5);
    ck_assert_int_eq(ds.test.n, 1);
    ck_assert_int_eq(ds.train.y[4], 4);
    ck_assert_uint_eq(ds.train.x[4 * 3072 + 2000], cifar_pix(4, 2000));
    sk_dataset_free(&ds);

    o.train_limit = -1;
    sk_err_clear();
    ck_assert_int_eq(sk_dataset_load(&ds, &o), SK_EINVAL);
}
END_TEST

/* dataset.validation: a seeded draw among the kept training records; the
 * two splits are disjoint, together the kept records, each in file order,
 * and the test split is never drawn from. */
static void check_val_split(const sk_dataset *ds, int64_t kept, int64_t n_val)
{
    uint8_t seen[64] = {0};
    ck_assert_int_le(kept, 64);
    ck_assert_int_eq(ds->train.n, kept - n_val);
    ck_assert_int_eq(ds->val.n, n_val);
    const sk_split *sp[2] = {&ds->train, &ds->val};
    for (int s = 0; s < 2; s++) {
        ck_assert_ptr_nonnull(sp[s]->rec);
        for (int64_t i = 0; i < sp[s]->n; i++) {
            int32_t r = sp[s]->rec[i];
            ck_assert_int_ge(r, 0);
            ck_assert_int_lt(r, kept);    /* only records train_limit keeps */
            ck_assert_int_eq(seen[r], 0); /* disjoint */
            seen[r] = 1;
            if (i) ck_assert_int_lt(sp[s]->rec[i - 1], r); /* file order */
            if (sp[s]->x) {
                ck_assert_int_eq(sp[s]->y[i], r % 10);
                for (int j = 0; j < 3072; j += 101)
                    ck_assert_uint_eq(sp[s]->x[i * 3072 + j], cifar_pix(r, j));
            } else {
                ck_assert_float_eq(sp[s]->xr[i], ds->test.xr[r]); /* the toy's inputs are the test's */
            }
        }
    }
    ck_assert_ptr_null(ds->test.rec);
}

START_TEST(test_validation_split)
{
    sk_dataset ds, ds2, whole;
    sk_data_opts o;
    const char *dir = make_cifar10("c10_val", 3, 3);
    sk_data_opts_init(&o, SK_DS_CIFAR10);
    o.path = dir;
    ck_assert_msg(sk_dataset_load(&whole, &o) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(whole.val.n, 0);
    ck_assert_ptr_null(whole.train.rec);
    o.train_limit = 12;
    o.validation = 4;
    o.split_seed = 7;
    ck_assert_msg(sk_dataset_load(&ds, &o) == SK_OK, "%s", sk_err_msg());
    check_val_split(&ds, 12, 4);
    ck_assert_int_eq(ds.test.n, 3); /* the test split is untouched */
    ck_assert_int_eq(ds.test.y[0], 1000 % 10);
    ck_assert_uint_eq(ds.val.c, 3);
    ck_assert_int_eq(ds.val.n_classes, 10);
    for (int c = 0; c < 3; c++) /* standard statistics: the whole training split's, as before */
        ck_assert_float_eq(ds.mean[c], whole.mean[c]);
    /* Seeded: the same seed draws the same records, another seed others. */
    ck_assert_int_eq(sk_dataset_load(&ds2, &o), SK_OK);
    ck_assert_int_eq(memcmp(ds.val.rec, ds2.val.rec, 4 * sizeof(int32_t)), 0);
    sk_dataset_free(&ds2);
    o.split_seed = 8;
    ck_assert_int_eq(sk_dataset_load(&ds2, &o), SK_OK);
    check_val_split(&ds2, 12, 4);
    ck_assert_int_ne(memcmp(ds.val.rec, ds2.val.rec, 4 * sizeof(int32_t)), 0);
    sk_dataset_free(&ds2);
    /* Batches of the validation split are its examples. */
    {
        int32_t idx[2] = {3, 0};
        float xb[2 * 3072];
        int32_t yb[2];
        sk_dataset_batch(&ds, &ds.val, idx, 2, 0, NULL, xb, yb, NULL);
        ck_assert_int_eq(yb[0], ds.val.rec[3] % 10);
        ck_assert_int_eq(yb[1], ds.val.rec[0] % 10);
    }
    sk_dataset_free(&ds);
    /* All records (no train_limit). */
    o.train_limit = 0;
    o.validation = 1;
    ck_assert_int_eq(sk_dataset_load(&ds, &o), SK_OK);
    check_val_split(&ds, 15, 1);
    sk_dataset_free(&ds);
    /* At least one training example must remain. */
    o.train_limit = 4;
    o.validation = 4;
    sk_err_clear();
    ck_assert_int_eq(sk_dataset_load(&ds, &o), SK_ECONFIG);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "dataset.validation (4) must be smaller than the number of training "
                                               "examples kept (4)"));
    o.validation = -1;
    sk_err_clear();
    ck_assert_int_eq(sk_dataset_load(&ds, &o), SK_EINVAL);
    sk_dataset_free(&whole);
    /* The polynomial toy (regression targets) splits the same way. */
    sk_data_opts_init(&o, SK_DS_POLYNOMIAL);
    o.poly_points = 40;
    o.validation = 10;
    o.split_seed = 3;
    ck_assert_int_eq(sk_dataset_load(&ds, &o), SK_OK);
    check_val_split(&ds, 40, 10);
    ck_assert_int_eq(ds.test.n, 40);
    sk_dataset_free(&ds);
}
END_TEST

/* ---- CIFAR ------------------------------------------------------------------ */

START_TEST(test_cifar10)
{
    sk_dataset ds;
    const char *dir = make_cifar10("c10", 3, 3);
    ck_assert_msg(load(&ds, SK_DS_CIFAR10, dir) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(ds.normalize, SK_NORMALIZE_STANDARD);
    ck_assert_int_eq(ds.train.n, 15);
    ck_assert_int_eq(ds.test.n, 3);
    ck_assert_int_eq(ds.train.c, 3);
    ck_assert_int_eq(ds.train.h, 32);
    ck_assert_int_eq(ds.train.w, 32);
    ck_assert_int_eq(ds.train.n_classes, 10);
    for (int64_t g = 0; g < 15; g++) { /* batches concatenated in order 1..5 */
        ck_assert_int_eq(ds.train.y[g], g % 10);
        for (int j = 0; j < 3072; j += 97)
            ck_assert_uint_eq(ds.train.x[g * 3072 + j], cifar_pix(g, j));
    }
    ck_assert_int_eq(ds.test.y[1], 1001 % 10);
    ck_assert_uint_eq(ds.test.x[3072 + 3071], cifar_pix(1001, 3071));
    for (int c = 0; c < 3; c++) {
        double m, s;
        direct_stats(&ds.train, c, &m, &s);
        ck_assert_double_eq_tol(ds.mean[c], m, 1e-6);
        ck_assert_double_eq_tol(ds.std[c], s, 1e-6);
    }
    ck_assert(fabsf(ds.mean[0] - ds.mean[2]) > 0.01f); /* channels really differ */
    sk_dataset_free(&ds);
}
END_TEST

START_TEST(test_cifar100)
{
    sk_dataset ds;
    sk_data_opts o;
    const char *dir = make_cifar100("c100", 6, 3);
    ck_assert_msg(load(&ds, SK_DS_CIFAR100, dir) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(ds.train.n, 6);
    ck_assert_int_eq(ds.test.n, 3);
    ck_assert_int_eq(ds.train.n_classes, 100);
    for (int64_t g = 0; g < 6; g++) {
        ck_assert_int_eq(ds.train.y[g], (g * 7) % 100);
        ck_assert_uint_eq(ds.train.x[g * 3072 + 1500], cifar_pix(g, 1500));
    }
    ck_assert_int_eq(ds.test.y[2], (502 * 7) % 100);
    sk_dataset_free(&ds);

    sk_data_opts_init(&o, SK_DS_CIFAR100);
    o.path = dir;
    o.coarse_labels = 1;
    ck_assert_msg(sk_dataset_load(&ds, &o) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(ds.train.n_classes, 20);
    ck_assert_int_eq(ds.test.n_classes, 20);
    for (int64_t g = 0; g < 6; g++)
        ck_assert_int_eq(ds.train.y[g], g % 20);
    ck_assert_int_eq(ds.test.y[0], 500 % 20);
    sk_dataset_free(&ds);
}
END_TEST

/* ---- validation ------------------------------------------------------------- */

START_TEST(test_idx_errors)
{
    const char *dir;
    char msg[512];
    uint32_t dims[3];
    uint8_t buf[6 * 784];

    /* Wrong magic: a labels file where the images should be. */
    dir = make_mnist("e_magic", 1);
    dims[0] = 7;
    write_idx(join(dir, "train-images-idx3-ubyte.gz"), 1, 0x801, 1, dims, buf, 7);
    expect_fail(SK_DS_MNIST, dir, join(dir, "train-images-idx3-ubyte.gz"),
                "wrong magic number 0x00000801 (expected 0x00000803 for IDX images)");

    /* 27x28 images. */
    dir = mkdir_tmp("e_dims");
    write_mnist_split(dir, "train", 0, 3, 27, 28, 3);
    write_mnist_split(dir, "t10k", 0, 3, 28, 28, 3);
    expect_fail(SK_DS_MNIST, dir, join(dir, "train-images-idx3-ubyte"), "wrong image size 27x28 (expected 28x28)");

    /* Truncated raw file: the header says 6 images, 4.5 are there. */
    dir = make_mnist("e_trunc", 0);
    dims[0] = 6;
    dims[1] = 28;
    dims[2] = 28;
    memset(buf, 7, sizeof buf);
    write_idx(join(dir, "t10k-images-idx3-ubyte"), 0, 0x803, 3, dims, buf, 4 * 784 + 392);
    expect_fail(SK_DS_MNIST, dir, join(dir, "t10k-images-idx3-ubyte"),
                "truncated: expected 4704 bytes of pixel data, file has 3528");

    /* Same truncation inside a gzip file. */
    dir = make_mnist("e_trunc_gz", 1);
    write_idx(join(dir, "train-images-idx3-ubyte.gz"), 1, 0x803, 3, dims, buf, 4 * 784 + 392);
    expect_fail(SK_DS_MNIST, dir, join(dir, "train-images-idx3-ubyte.gz"),
                "truncated: expected 4704 bytes of pixel data, file has 3528");

    /* Extra bytes after what the header announces. */
    dir = make_mnist("e_extra", 0);
    dims[0] = 5;
    write_idx(join(dir, "train-images-idx3-ubyte"), 0, 0x803, 3, dims, buf, 5 * 784 + 1);
    write_mnist_split(dir, "train", 1, 5, 28, 28, 5); /* the .gz twin is shadowed */
    expect_fail(SK_DS_MNIST, dir, join(dir, "train-images-idx3-ubyte"), "more data than the 3920 bytes");

    /* Images and labels disagree on the count. */
    dir = mkdir_tmp("e_count");
    write_mnist_split(dir, "train", 1, 5, 28, 28, 4);
    write_mnist_split(dir, "t10k", 1, 2, 28, 28, 2);
    snprintf(msg, sizeof msg, "4 labels, but %s has 5 images", join(dir, "train-images-idx3-ubyte.gz"));
    expect_fail(SK_DS_MNIST, dir, join(dir, "train-labels-idx1-ubyte.gz"), msg);

    /* Label out of range. */
    dir = make_mnist("e_label", 0);
    {
        uint8_t lb[7] = {0, 1, 2, 3, 4, 11, 6};
        dims[0] = 7;
        write_idx(join(dir, "train-labels-idx1-ubyte"), 0, 0x801, 1, dims, lb, 7);
    }
    expect_fail(SK_DS_MNIST, dir, join(dir, "train-labels-idx1-ubyte"), "label 11 at record 5 is out of range 0..9");

    /* A file too short for its header. */
    dir = make_mnist("e_short", 0);
    tu_write(join(dir, "t10k-labels-idx1-ubyte"), "\0\0\x08\x01\0\0", 6);
    expect_fail(SK_DS_MNIST, dir, join(dir, "t10k-labels-idx1-ubyte"), "file too short for an IDX header");
}
END_TEST

/* Rewrite a file with one byte changed (or cut at `cut` bytes when >= 0). */
static void mangle(const char *path, long at, uint8_t xor_with, long cut)
{
    size_t n;
    char *b = tu_read(path, &n);
    ck_assert_ptr_nonnull(b);
    if (at >= 0 && at < (long)n) b[at] = (char)(b[at] ^ xor_with);
    tu_write(path, b, cut >= 0 && (size_t)cut < n ? (size_t)cut : n);
    free(b);
}

START_TEST(test_gzip_errors)
{
    const char *dir, *p;
    size_t n;
    char *b;

    /* A broken CRC in the gzip trailer. */
    dir = make_mnist("g_crc", 1);
    p = join(dir, "train-images-idx3-ubyte.gz");
    b = tu_read(p, &n);
    free(b);
    mangle(p, (long)n - 8, 0xff, -1);
    expect_fail(SK_DS_MNIST, dir, p, "corrupt gzip data (incorrect data check)");

    /* A gzip stream cut in the middle. */
    dir = make_mnist("g_cut", 1);
    p = join(dir, "train-labels-idx1-ubyte.gz");
    b = tu_read(p, &n);
    free(b);
    mangle(p, -1, 0, (long)n - 12);
    {
        sk_dataset ds;
        sk_err_clear();
        ck_assert_int_ne(load(&ds, SK_DS_MNIST, dir), SK_OK);
        ck_assert_msg(strstr(sk_err_msg(), p) == sk_err_msg(), "%s", sk_err_msg());
        ck_assert_msg(strstr(sk_err_msg(), "gzip stream ends early"), "%s", sk_err_msg());
    }

    /* Garbage in the deflate data: some error naming the file, never a crash. */
    dir = make_mnist("g_garbage", 1);
    p = join(dir, "train-images-idx3-ubyte.gz");
    b = tu_read(p, &n);
    free(b);
    for (long at = 20; at < (long)n - 8; at += 7)
        mangle(p, at, 0x5a, -1);
    {
        sk_dataset ds;
        sk_err_clear();
        ck_assert_int_ne(load(&ds, SK_DS_MNIST, dir), SK_OK);
        ck_assert_msg(strstr(sk_err_msg(), p) == sk_err_msg(), "%s", sk_err_msg());
    }
}
END_TEST

/* Every prefix and many single-byte corruptions of small raw and gzip IDX
 * files: the loader must fail cleanly or succeed, never read out of bounds
 * (the ASan build checks that) and always name the file when failing. */
START_TEST(test_idx_fuzz)
{
    sk_rng rng;
    sk_rng_seed(&rng, 99);
    for (int gz = 0; gz < 2; gz++) {
        const char *dir = make_mnist(gz ? "fz_gz" : "fz_raw", gz);
        const char *p = join(dir, gz ? "t10k-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte");
        const char *pl = join(dir, gz ? "t10k-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte");
        size_t n, nl;
        char *orig = tu_read(p, &n), *origl = tu_read(pl, &nl);
        int fails = 0;
        for (size_t cut = 0; cut < n; cut += gz ? 3 : 97) {
            sk_dataset ds;
            tu_write(p, orig, cut);
            sk_err_clear();
            ck_assert_int_ne(load(&ds, SK_DS_MNIST, dir), SK_OK);
            ck_assert_msg(strstr(sk_err_msg(), p) == sk_err_msg(), "cut %zu: %s", cut, sk_err_msg());
        }
        tu_write(p, orig, n);
        for (int rep = 0; rep < 120; rep++) {
            sk_dataset ds;
            const char *q = rep & 1 ? pl : p;
            size_t len = rep & 1 ? nl : n;
            char *c = malloc(len);
            size_t at = sk_rng_below(&rng, (uint32_t)(rep < 60 ? (len < 24 ? len : 24) : len));
            memcpy(c, rep & 1 ? origl : orig, len);
            c[at] = (char)(c[at] ^ (1 + sk_rng_below(&rng, 255)));
            tu_write(q, c, len);
            free(c);
            if (load(&ds, SK_DS_MNIST, dir) != SK_OK) {
                fails++;
                ck_assert_msg(strstr(sk_err_msg(), q) == sk_err_msg(), "%s", sk_err_msg());
            }
            sk_dataset_free(&ds);
            tu_write(q, rep & 1 ? origl : orig, len);
        }
        ck_assert_int_gt(fails, 40);
        free(orig);
        free(origl);
    }
}
END_TEST

START_TEST(test_cifar_errors)
{
    const char *dir;
    char buf[3 * 3074];

    /* Size not a multiple of the record. */
    dir = make_cifar10("ce_size", 2, 2);
    memset(buf, 1, sizeof buf);
    tu_write(join(dir, "data_batch_4.bin"), buf, 3 * 3073 - 1);
    expect_fail(SK_DS_CIFAR10, dir, join(dir, "data_batch_4.bin"),
                "size 9218 is not a multiple of 3073 (truncated download?)\nHINT: run datasets/fetch cifar10");

    /* Empty file. */
    dir = make_cifar10("ce_empty", 2, 2);
    tu_write(join(dir, "test_batch.bin"), buf, 0);
    expect_fail(SK_DS_CIFAR10, dir, join(dir, "test_batch.bin"), "size 0 is not a multiple of 3073");

    /* Label out of range. */
    dir = make_cifar10("ce_label", 2, 2);
    memset(buf, 0, sizeof buf);
    buf[3 * 0] = 3;
    buf[3073] = 10;
    tu_write(join(dir, "data_batch_2.bin"), buf, 2 * 3073);
    expect_fail(SK_DS_CIFAR10, dir, join(dir, "data_batch_2.bin"), "label 10 at record 1 is out of range 0..9");

    /* CIFAR-100: wrong size, coarse and fine labels out of range. */
    dir = make_cifar100("ce100", 3, 2);
    tu_write(join(dir, "train.bin"), buf, 3073 * 2);
    expect_fail(SK_DS_CIFAR100, dir, join(dir, "train.bin"),
                "size 6146 is not a multiple of 3074 (truncated download?)\nHINT: run datasets/fetch cifar100");
    memset(buf, 0, sizeof buf);
    buf[3074 * 2] = 20;
    tu_write(join(dir, "train.bin"), buf, 3 * 3074);
    expect_fail(SK_DS_CIFAR100, dir, join(dir, "train.bin"), "coarse label 20 at record 2 is out of range 0..19");
    buf[3074 * 2] = 0;
    buf[3074 + 1] = 100;
    tu_write(join(dir, "train.bin"), buf, 3 * 3074);
    expect_fail(SK_DS_CIFAR100, dir, join(dir, "train.bin"), "fine label 100 at record 1 is out of range 0..99");
}
END_TEST

START_TEST(test_missing_files)
{
    const char *dir = mkdir_tmp("empty");
    expect_fail(SK_DS_MNIST, dir, join(dir, "train-images-idx3-ubyte"),
                "No such file or directory (nor train-images-idx3-ubyte.gz)\nHINT: run datasets/fetch mnist");
    expect_fail(SK_DS_FASHION_MNIST, dir, join(dir, "train-images-idx3-ubyte"),
                "No such file or directory (nor train-images-idx3-ubyte.gz)\nHINT: run datasets/fetch fashion-mnist");
    expect_fail(SK_DS_CIFAR10, dir, join(dir, "data_batch_1.bin"),
                "No such file or directory\nHINT: run datasets/fetch cifar10");
    expect_fail(SK_DS_CIFAR100, dir, join(dir, "train.bin"),
                "No such file or directory\nHINT: run datasets/fetch cifar100");
    /* Only the test labels missing. */
    {
        const char *d2 = make_mnist("miss_lab", 1);
        remove(join(d2, "t10k-labels-idx1-ubyte.gz"));
        expect_fail(SK_DS_MNIST, d2, join(d2, "t10k-labels-idx1-ubyte"), "No such file or directory");
    }
    /* data_batch_5 missing: found before anything is read. */
    {
        const char *d3 = make_cifar10("miss_b5", 1, 1);
        remove(join(d3, "data_batch_5.bin"));
        expect_fail(SK_DS_CIFAR10, d3, join(d3, "data_batch_5.bin"), "No such file or directory");
    }
    /* The default path is datasets/<name> (relative to the working directory). */
    {
        sk_dataset ds;
        sk_data_opts o;
        sk_data_opts_init(&o, SK_DS_CIFAR100);
        sk_err_clear();
        ck_assert_int_ne(sk_dataset_load(&ds, &o), SK_OK);
        ck_assert_msg(strstr(sk_err_msg(), "datasets/cifar100/train.bin: ") == sk_err_msg(), "%s", sk_err_msg());
    }
}
END_TEST

/* Inputs that are not regular files are refused without blocking on them
 * (a FIFO with no writer would make an open() or read() wait forever: the
 * alarm turns such a regression into a failure instead of a hang). */
START_TEST(test_special_files)
{
    const char *dir, *p;
    alarm(20);

    /* An IDX FIFO (the plain name wins over the .gz twin). */
    dir = make_mnist("sp_fifo", 1);
    p = join(dir, "t10k-labels-idx1-ubyte");
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    expect_fail(SK_DS_MNIST, dir, p, "not a regular file (a FIFO)");

    /* A directory where an IDX file should be. */
    dir = make_mnist("sp_dir", 0);
    p = join(dir, "train-images-idx3-ubyte");
    ck_assert_int_eq(remove(p), 0);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    expect_fail(SK_DS_MNIST, dir, p, "not a regular file (a directory)");

    /* CIFAR: a FIFO test batch, a directory training batch. */
    dir = make_cifar10("sp_cifar_fifo", 1, 1);
    p = join(dir, "test_batch.bin");
    ck_assert_int_eq(remove(p), 0);
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    expect_fail(SK_DS_CIFAR10, dir, p, "not a regular file (a FIFO)");
    dir = make_cifar100("sp_cifar_dir", 2, 2);
    p = join(dir, "test.bin");
    ck_assert_int_eq(remove(p), 0);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    expect_fail(SK_DS_CIFAR100, dir, p, "not a regular file (a directory)");

    /* A symlink loop is reported as one, not as a missing file: on the .gz
     * name, and on the plain name (which would otherwise hide behind an
     * existing .gz twin). */
    dir = make_mnist("sp_loop", 1);
    p = join(dir, "t10k-labels-idx1-ubyte.gz");
    ck_assert_int_eq(remove(p), 0);
    ck_assert_int_eq(symlink("t10k-labels-idx1-ubyte.gz", p), 0);
    expect_fail(SK_DS_MNIST, dir, p, "Too many levels of symbolic links");
    dir = make_mnist("sp_loop_plain", 1);
    p = join(dir, "train-images-idx3-ubyte");
    ck_assert_int_eq(symlink("train-images-idx3-ubyte", p), 0);
    expect_fail(SK_DS_MNIST, dir, p, "Too many levels of symbolic links");
    dir = make_cifar10("sp_loop_cifar", 1, 1);
    p = join(dir, "data_batch_2.bin");
    ck_assert_int_eq(remove(p), 0);
    ck_assert_int_eq(symlink("data_batch_2.bin", p), 0);
    expect_fail(SK_DS_CIFAR10, dir, p, "Too many levels of symbolic links");
    alarm(0);
}
END_TEST

/* Load with limits: must fail naming `path` followed by `phrase`. */
static void expect_fail_limited(sk_ds_kind kind, const char *dir, int64_t train_limit, int64_t test_limit,
                                const char *path, const char *phrase)
{
    sk_dataset ds;
    sk_data_opts o;
    char want[4096];
    sk_data_opts_init(&o, kind);
    o.path = dir;
    o.train_limit = train_limit;
    o.test_limit = test_limit;
    sk_err_clear();
    ck_assert_msg(sk_dataset_load(&ds, &o) != SK_OK, "loading %s with limits %lld, %lld should fail (%s)", dir,
                  (long long)train_limit, (long long)test_limit, phrase);
    snprintf(want, sizeof want, "%s: %s", path, phrase);
    ck_assert_msg(strstr(sk_err_msg(), want) == sk_err_msg(), "message\n  %s\nlacks\n  %s", sk_err_msg(), want);
    ck_assert_ptr_null(ds.train.x);
    ck_assert_ptr_null(ds.test.x);
}

/* An MNIST folder of n noisy (incompressible) images per split, gzip: its
 * files are larger than zlib's buffers, so reading the first records does
 * not reach the end of the stream. */
static const char *make_noisy_mnist(const char *name, uint32_t n)
{
    const char *dir = mkdir_tmp(name);
    uint8_t *px = malloc((size_t)n * 784), *lb = malloc(n);
    uint32_t dims[3] = {n, 28, 28};
    sk_rng r;
    sk_rng_seed(&r, 5);
    for (size_t j = 0; j < (size_t)n * 784; j++)
        px[j] = (uint8_t)sk_rng_below(&r, 256);
    for (uint32_t i = 0; i < n; i++)
        lb[i] = mnist_lab(i);
    for (int split = 0; split < 2; split++) {
        char name2[128];
        snprintf(name2, sizeof name2, "%s-images-idx3-ubyte.gz", split ? "t10k" : "train");
        write_idx(join(dir, name2), 1, 0x803, 3, dims, px, (size_t)n * 784);
        snprintf(name2, sizeof name2, "%s-labels-idx1-ubyte.gz", split ? "t10k" : "train");
        write_idx(join(dir, name2), 1, 0x801, 1, dims, lb, n);
    }
    free(px);
    free(lb);
    return dir;
}

/* Files are validated whole whatever part of them a limit keeps: damage
 * after the first records (the gzip CRC and length, the deflate data, a cut,
 * the last label) is found with train_limit and test_limit set. */
START_TEST(test_limits_validate_whole_files)
{
    enum { N = 600 }; /* 470 KB of pixels per split */
    const char *dir, *p;
    size_t n;
    char *b;

    for (int split = 0; split < 2; split++) {
        const char *pre = split ? "t10k" : "train";
        char name[128], dname[64];
        snprintf(name, sizeof name, "%s-images-idx3-ubyte.gz", pre);
        /* A broken CRC in the gzip trailer. */
        snprintf(dname, sizeof dname, "lw_crc_%s", pre);
        dir = make_noisy_mnist(dname, N);
        p = join(dir, name);
        b = tu_read(p, &n);
        free(b);
        mangle(p, (long)n - 8, 0xff, -1);
        expect_fail_limited(SK_DS_MNIST, dir, 1, 1, p, "corrupt gzip data (incorrect data check)");
        /* A wrong length in the trailer. */
        snprintf(dname, sizeof dname, "lw_len_%s", pre);
        dir = make_noisy_mnist(dname, N);
        p = join(dir, name);
        b = tu_read(p, &n);
        free(b);
        mangle(p, (long)n - 4, 0x01, -1);
        expect_fail_limited(SK_DS_MNIST, dir, 1, 1, p, "corrupt gzip data (incorrect length check)");
        /* Corrupt deflate data near the end of the stream: some error naming
         * the file. */
        snprintf(dname, sizeof dname, "lw_deflate_%s", pre);
        dir = make_noisy_mnist(dname, N);
        p = join(dir, name);
        b = tu_read(p, &n);
        free(b);
        mangle(p, (long)n - 100, 0x5a, -1);
        expect_fail_limited(SK_DS_MNIST, dir, 1, 1, p, "");
        /* The gzip stream cut in half. */
        snprintf(dname, sizeof dname, "lw_cut_%s", pre);
        dir = make_noisy_mnist(dname, N);
        p = join(dir, name);
        b = tu_read(p, &n);
        free(b);
        mangle(p, -1, 0, (long)n / 2);
        expect_fail_limited(SK_DS_MNIST, dir, 1, 1, p, "truncated: expected 470400 bytes of pixel data");
        /* The last label out of range. */
        snprintf(dname, sizeof dname, "lw_label_%s", pre);
        dir = make_noisy_mnist(dname, N);
        snprintf(name, sizeof name, "%s-labels-idx1-ubyte.gz", pre);
        p = join(dir, name);
        {
            uint8_t lb[N];
            uint32_t nl = N;
            for (int i = 0; i < N; i++)
                lb[i] = mnist_lab(i);
            lb[N - 1] = 10;
            write_idx(p, 1, 0x801, 1, &nl, lb, N);
        }
        expect_fail_limited(SK_DS_MNIST, dir, 1, 1, p, "label 10 at record 599 is out of range 0..9");
    }
    /* The same files load when intact. */
    {
        sk_dataset ds;
        sk_data_opts o;
        sk_data_opts_init(&o, SK_DS_MNIST);
        o.path = make_noisy_mnist("lw_ok", N);
        o.train_limit = 1;
        o.test_limit = 2;
        ck_assert_msg(sk_dataset_load(&ds, &o) == SK_OK, "%s", sk_err_msg());
        ck_assert_int_eq(ds.train.n, 1);
        ck_assert_int_eq(ds.test.n, 2);
        sk_dataset_free(&ds);
    }

    /* CIFAR-10: the last label of the test batch, read with test_limit 1. */
    dir = make_cifar10("lw_c10_label", 2, 2);
    p = join(dir, "test_batch.bin");
    b = tu_read(p, &n);
    b[3073] = 10;
    tu_write(p, b, n);
    free(b);
    expect_fail_limited(SK_DS_CIFAR10, dir, 1, 1, p, "label 10 at record 1 is out of range 0..9");
    /* CIFAR-100: the last fine label of test.bin. */
    dir = make_cifar100("lw_c100_label", 3, 3);
    p = join(dir, "test.bin");
    b = tu_read(p, &n);
    b[2 * 3074 + 1] = (char)100;
    tu_write(p, b, n);
    free(b);
    expect_fail_limited(SK_DS_CIFAR100, dir, 1, 1, p, "fine label 100 at record 2 is out of range 0..99");

    /* A CIFAR-10 file cut at a record boundary (here to one record) is found
     * by its record count, on a full read as with limits. */
    dir = make_cifar10("lw_c10_cut_test", 3, 1);
    expect_fail_limited(SK_DS_CIFAR10, dir, 0, 0, join(dir, "test_batch.bin"),
                        "1 records where the other files of the data set have 3 each (truncated download?)\n"
                        "HINT: run datasets/fetch cifar10");
    dir = make_cifar10("lw_c10_cut_train", 3, 3);
    p = join(dir, "data_batch_3.bin");
    mangle(p, -1, 0, 3073);
    expect_fail_limited(SK_DS_CIFAR10, dir, 0, 0, p, "1 records where the other files of the data set have 3 each");
    expect_fail_limited(SK_DS_CIFAR10, dir, 1, 1, p, "1 records where the other files of the data set have 3 each");
}
END_TEST

/* ---- batches, normalisation, augmentation ------------------------------------ */

START_TEST(test_batch_normalisation)
{
    sk_dataset ds;
    const char *dir = make_cifar10("bn", 4, 4);
    int32_t idx[20], y[20];
    float *x = malloc(sizeof(float) * 20 * 3072);
    ck_assert_msg(load(&ds, SK_DS_CIFAR10, dir) == SK_OK, "%s", sk_err_msg());
    for (int i = 0; i < 20; i++)
        idx[i] = 19 - i;

    /* STANDARD: the whole training split comes out with mean 0, std 1 per channel. */
    sk_dataset_batch(&ds, &ds.train, idx, 20, 0, NULL, x, y, NULL);
    for (int c = 0; c < 3; c++) {
        double s = 0, s2 = 0;
        for (int b = 0; b < 20; b++)
            for (int j = 0; j < 1024; j++) {
                double v = x[(size_t)b * 3072 + c * 1024 + j];
                s += v;
                s2 += v * v;
            }
        ck_assert_double_eq_tol(s / 20480, 0.0, 1e-5);
        ck_assert_double_eq_tol(s2 / 20480, 1.0, 1e-4);
    }
    for (int b = 0; b < 20; b++)
        ck_assert_int_eq(y[b], ds.train.y[19 - b]);
    {
        int g = 19 - 3, j = 2048 + 77; /* example 3 of the batch, blue channel */
        double want = (cifar_pix(g, j) / 255.0 - ds.mean[2]) / ds.std[2];
        ck_assert_double_eq_tol(x[3 * 3072 + j], want, 1e-6);
    }

    /* UNIT: pixel / 255. */
    ds.normalize = SK_NORMALIZE_UNIT;
    sk_dataset_batch(&ds, &ds.test, idx + 18, 2, 0, NULL, x, y, NULL); /* test examples 1, 0 */
    ck_assert_int_eq(y[0], ds.test.y[1]);
    for (int j = 0; j < 3072; j += 31)
        ck_assert_double_eq_tol(x[j], cifar_pix(1001, j) / 255.0, 1e-7);
    free(x);
    sk_dataset_free(&ds);
}
END_TEST

START_TEST(test_shift_flip_kernel)
{
    enum { C = 2, H = 5, W = 4 };
    uint8_t src[C * H * W];
    float lut[C * 256], out[C * H * W];
    for (int k = 0; k < C * H * W; k++)
        src[k] = (uint8_t)(k + 1);
    for (int c = 0; c < C; c++)
        for (int v = 0; v < 256; v++)
            lut[c * 256 + v] = (float)v + 1000.0f * c;

    /* Identity. */
    sk_image_shift_flip(src, C, H, W, 0, 0, 0, lut, out);
    for (int k = 0; k < C * H * W; k++)
        ck_assert_float_eq(out[k], lut[(k / (H * W)) * 256 + src[k]]);
    /* Flip mirrors every row. */
    sk_image_shift_flip(src, C, H, W, 0, 0, 1, lut, out);
    for (int c = 0; c < C; c++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                ck_assert_float_eq(out[(c * H + i) * W + j], lut[c * 256 + src[(c * H + i) * W + W - 1 - j]]);
    /* Shift down-right by (1, 2): reads src[i+1][j+2], zero-padded beyond. */
    sk_image_shift_flip(src, C, H, W, 1, 2, 0, lut, out);
    for (int c = 0; c < C; c++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                int si = i + 1, sj = j + 2;
                float want = si < H && sj < W ? lut[c * 256 + src[(c * H + si) * W + sj]] : lut[c * 256];
                ck_assert_float_eq(out[(c * H + i) * W + j], want);
            }
    /* Shifted past the whole image: all padding. */
    sk_image_shift_flip(src, C, H, W, -H, 0, 1, lut, out);
    for (int k = 0; k < C * H * W; k++)
        ck_assert_float_eq(out[k], lut[(k / (H * W)) * 256]);
}
END_TEST

START_TEST(test_augmentation)
{
    sk_dataset ds;
    const char *dir = make_cifar10("aug", 2, 2);
    enum { B = 10, D = 3072 };
    int32_t idx[B], y[B];
    float *x = malloc(sizeof(float) * B * D), *x2 = malloc(sizeof(float) * B * D);
    float *cand = malloc(sizeof(float) * D), lut[3 * 256];
    int seen_off[9][9] = {{0}}, seen_flip[2] = {0};
    sk_rng rng, rng2;
    ck_assert_msg(load(&ds, SK_DS_CIFAR10, dir) == SK_OK, "%s", sk_err_msg());
    sk_dataset_lut(&ds, 3, lut);
    for (int i = 0; i < B; i++)
        idx[i] = i;

    /* augment = 0: deterministic, equal to the identity transform. */
    sk_dataset_batch(&ds, &ds.train, idx, B, 0, NULL, x, y, NULL);
    sk_dataset_batch(&ds, &ds.train, idx, B, 0, NULL, x2, NULL, NULL);
    ck_assert_int_eq(memcmp(x, x2, sizeof(float) * B * D), 0);
    sk_image_shift_flip(ds.train.x + 7 * D, 3, 32, 32, 0, 0, 0, lut, cand);
    ck_assert_int_eq(memcmp(x + 7 * D, cand, sizeof(float) * D), 0);

    /* augment = 1: each example is its source shifted by (dy, dx) in
     * [-4, 4]^2 with zero padding, mirrored when flip = 1, where dy, dx, flip
     * are the rng's next three draws (the documented order) -- replayed here
     * on a copy of the generator. All 81 shifts and both flips occur. */
    sk_rng_seed(&rng, 5);
    for (int rep = 0; rep < 300; rep++) {
        rng2 = rng;
        sk_dataset_batch(&ds, &ds.train, idx, B, 1, &rng, x, y, NULL);
        for (int b = 0; b < B; b++) {
            int dy = (int)sk_rng_below(&rng2, 9) - 4, dx = (int)sk_rng_below(&rng2, 9) - 4;
            int f = (int)sk_rng_below(&rng2, 2);
            ck_assert_int_eq(y[b], ds.train.y[b]);
            sk_image_shift_flip(ds.train.x + (size_t)b * D, 3, 32, 32, dy, dx, f, lut, cand);
            ck_assert_msg(memcmp(cand, x + (size_t)b * D, sizeof(float) * D) == 0,
                          "rep %d example %d is not shift (%d,%d) flip %d of its source", rep, b, dy, dx, f);
            seen_off[dy + 4][dx + 4]++;
            seen_flip[f]++;
        }
        ck_assert_uint_eq(rng.s[0], rng2.s[0]); /* exactly 3 draws per example */
    }
    for (int a = 0; a < 9; a++)
        for (int b = 0; b < 9; b++)
            ck_assert_int_gt(seen_off[a][b], 10);
    ck_assert_int_gt(seen_flip[0], 1300);
    ck_assert_int_gt(seen_flip[1], 1300);

    sk_rng_seed(&rng, 11);
    sk_rng_seed(&rng2, 11);
    sk_dataset_batch(&ds, &ds.train, idx, B, 1, &rng, x, NULL, NULL);
    sk_dataset_batch(&ds, &ds.train, idx, B, 1, &rng2, x2, NULL, NULL);
    ck_assert_int_eq(memcmp(x, x2, sizeof(float) * B * D), 0);
    sk_dataset_batch(&ds, &ds.train, idx, B, 1, &rng2, x2, NULL, NULL);
    ck_assert_int_ne(memcmp(x, x2, sizeof(float) * B * D), 0);

    free(x);
    free(x2);
    free(cand);
    sk_dataset_free(&ds);
}
END_TEST

/* ---- polynomial toy ----------------------------------------------------------- */

START_TEST(test_polynomial)
{
    static const double lo[4] = {0, -4, -1, 2}, hi[4] = {0, -2, 1, 4};
    for (int d = 1; d <= 3; d++) {
        sk_dataset ds, ds2;
        sk_data_opts o;
        double s = 0, s2 = 0, diff = 0;
        sk_data_opts_init(&o, SK_DS_POLYNOMIAL);
        o.poly_degree = d;
        o.seed = 3;
        ck_assert_msg(sk_dataset_load(&ds, &o) == SK_OK, "%s", sk_err_msg());
        ck_assert_int_eq(ds.train.n, 100);
        ck_assert_int_eq(ds.test.n, 100);
        ck_assert_int_eq(ds.train.n_classes, 0);
        ck_assert_ptr_null(ds.train.x);
        ck_assert_ptr_null(ds.train.y);
        ck_assert_int_eq(sk_dataset_dim(&ds), 1);
        ck_assert_double_eq_tol(ds.train.xr[0], lo[d], 1e-6);
        ck_assert_double_eq_tol(ds.train.xr[99], hi[d], 1e-6);
        ck_assert_double_eq_tol(ds.train.xr[1] - ds.train.xr[0], (hi[d] - lo[d]) / 99, 1e-6);
        for (int i = 0; i < 100; i++) {
            double x = ds.train.xr[i];
            double f = d == 1 ? x + 3 : d == 2 ? 2 * x * x - 1 : (x - 3) * (x - 3) * (x - 3);
            double r = ds.train.yr[i] - f;
            ck_assert_float_eq(ds.test.xr[i], ds.train.xr[i]); /* same inputs */
            s += r;
            s2 += r * r;
            diff += fabs(ds.test.yr[i] - ds.train.yr[i]);
        }
        ck_assert_double_eq_tol(sqrt(s2 / 100 - (s / 100) * (s / 100)), 0.05, 0.015);
        ck_assert_double_gt(diff, 1.0); /* independent noise draws */
        /* Seeded: the same seed reproduces, another seed does not. */
        ck_assert_int_eq(sk_dataset_load(&ds2, &o), SK_OK);
        ck_assert_int_eq(memcmp(ds.train.yr, ds2.train.yr, 100 * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(ds.test.yr, ds2.test.yr, 100 * sizeof(float)), 0);
        sk_dataset_free(&ds2);
        o.seed = 4;
        ck_assert_int_eq(sk_dataset_load(&ds2, &o), SK_OK);
        ck_assert_int_ne(memcmp(ds.train.yr, ds2.train.yr, 100 * sizeof(float)), 0);
        sk_dataset_free(&ds2);
        /* Batches hand out inputs and targets. */
        {
            int32_t idx[3] = {5, 0, 99};
            float xb[3], yb[3];
            sk_dataset_batch(&ds, &ds.train, idx, 3, 1, NULL, xb, NULL, yb);
            for (int i = 0; i < 3; i++) {
                ck_assert_float_eq(xb[i], ds.train.xr[idx[i]]);
                ck_assert_float_eq(yb[i], ds.train.yr[idx[i]]);
            }
        }
        sk_dataset_free(&ds);
    }
    /* Noise level, precisely, from many points. */
    {
        sk_dataset ds;
        sk_data_opts o;
        double s2 = 0;
        sk_data_opts_init(&o, SK_DS_POLYNOMIAL);
        o.poly_points = 20000;
        o.poly_noise = 0.05;
        ck_assert_int_eq(sk_dataset_load(&ds, &o), SK_OK);
        for (int i = 0; i < 20000; i++) {
            double r = ds.train.yr[i] - (ds.train.xr[i] + 3.0);
            s2 += r * r;
        }
        ck_assert_double_eq_tol(sqrt(s2 / 20000), 0.05, 0.0015);
        sk_dataset_free(&ds);
        o.poly_noise = 0.0;
        o.train_limit = 10;
        ck_assert_int_eq(sk_dataset_load(&ds, &o), SK_OK);
        ck_assert_int_eq(ds.train.n, 10);
        ck_assert_double_eq_tol(ds.train.yr[9], ds.train.xr[9] + 3.0, 1e-6);
        sk_dataset_free(&ds);
    }
    /* Invalid options. */
    {
        sk_dataset ds;
        sk_data_opts o;
        sk_data_opts_init(&o, SK_DS_POLYNOMIAL);
        o.poly_degree = 4;
        sk_err_clear();
        ck_assert_int_eq(sk_dataset_load(&ds, &o), SK_EINVAL);
        ck_assert_ptr_nonnull(strstr(sk_err_msg(), "degree must be 1, 2 or 3 (got 4)"));
        o.poly_degree = 2;
        o.poly_points = 1;
        sk_err_clear();
        ck_assert_int_eq(sk_dataset_load(&ds, &o), SK_EINVAL);
        o.poly_points = 100;
        o.poly_noise = -1;
        sk_err_clear();
        ck_assert_int_eq(sk_dataset_load(&ds, &o), SK_EINVAL);
    }
}
END_TEST

/* ---- datasets/fetch --from (sparse files stand in for the real ones) --------- */

static void sparse_file(const char *path, off_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "create %s", path);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(truncate(path, size), 0);
}

/* Run datasets/fetch with `args`; returns its exit status, output in *out. */
static int run_fetch(const char *args, char **out)
{
    char cmd[8192];
    const char *log = tu_path("fetch.out");
    int rc;
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>&1", tu_src("datasets/fetch"), args, log);
    rc = system(cmd);
    ck_assert_msg(rc != -1 && WIFEXITED(rc), "cannot run %s", cmd);
    *out = tu_read(log, NULL);
    ck_assert_ptr_nonnull(*out);
    return WEXITSTATUS(rc);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

START_TEST(test_fetch_from_mirror)
{
    static const char *idx[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                 "t10k-labels-idx1-ubyte"};
    static const off_t raw[4] = {47040016, 60008, 7840016, 10008};
    static const off_t gz[4] = {9000000, 30000, 1500000, 5000};
    /* Own copies: tu_path() and join() hand out rotating static buffers. */
    char mirror[2048], dest[2048], dest2[2048], m_mnist[2048], m_fashion[2048], m_c10[2048];
    char args[8192], want[8192], *out = NULL;

    snprintf(mirror, sizeof mirror, "%s", mkdir_tmp("mirror"));
    snprintf(dest, sizeof dest, "%s", mkdir_tmp("dest"));
    snprintf(dest2, sizeof dest2, "%s", tu_path("dest2"));
    snprintf(m_mnist, sizeof m_mnist, "%s", mkdir_tmp("mirror/mnist"));
    snprintf(m_fashion, sizeof m_fashion, "%s", mkdir_tmp("mirror/fashion-mnist"));
    snprintf(m_c10, sizeof m_c10, "%s", mkdir_tmp("mirror/cifar-10-batches-bin"));
    if (file_size(tu_src("datasets/fetch")) < 0) { /* e.g. a tarball without it */
        fprintf(stderr, "NOTE: %s absent; skipping the fetch test\n", tu_src("datasets/fetch"));
        return;
    }
    for (int k = 0; k < 4; k++) {
        char name[64];
        sparse_file(join(m_mnist, idx[k]), raw[k]); /* raw IDX in the mirror */
        snprintf(name, sizeof name, "%s.gz", idx[k]);
        sparse_file(join(m_fashion, name), gz[k]); /* gzip IDX in the mirror */
    }
    for (int k = 1; k <= 6; k++) {
        char name[64];
        if (k <= 5)
            snprintf(name, sizeof name, "data_batch_%d.bin", k);
        else
            snprintf(name, sizeof name, "test_batch.bin");
        sparse_file(join(m_c10, name), 30730000);
    }

    snprintf(args, sizeof args, "mnist cifar10 fashion-mnist --from '%s' --dest '%s'", mirror, dest);
    ck_assert_int_eq(run_fetch(args, &out), 0);
    snprintf(want, sizeof want, "mnist: %s/mnist ready (4 copied, 0 already present) from %s", dest, m_mnist);
    ck_assert_msg(strstr(out, want), "%s", out);
    snprintf(want, sizeof want, "cifar10: %s/cifar10 ready (6 copied", dest);
    ck_assert_msg(strstr(out, want), "%s", out);
    snprintf(want, sizeof want, "fashion-mnist: %s/fashion-mnist ready (4 copied, 0 already present) from %s", dest,
             m_fashion);
    ck_assert_msg(strstr(out, want), "%s", out);
    free(out);
    ck_assert_int_eq(file_size(join3(dest, "mnist", "t10k-images-idx3-ubyte")), 7840016);
    ck_assert_int_eq(file_size(join3(dest, "fashion-mnist", "train-labels-idx1-ubyte.gz")), 30000);
    ck_assert_int_eq(file_size(join3(dest, "cifar10", "data_batch_5.bin")), 30730000);
    { /* copies, not links */
        struct stat st;
        ck_assert_int_eq(lstat(join3(dest, "cifar10", "test_batch.bin"), &st), 0);
        ck_assert(S_ISREG(st.st_mode));
    }

    /* Again: nothing to copy. */
    snprintf(args, sizeof args, "mnist --from '%s' --dest '%s'", mirror, dest);
    ck_assert_int_eq(run_fetch(args, &out), 0);
    ck_assert_msg(strstr(out, "(0 copied, 4 already present)"), "%s", out);
    free(out);

    /* A truncated mirror file fails, naming it. */
    ck_assert_int_eq(truncate(join(m_c10, "data_batch_3.bin"), 30729999), 0);
    snprintf(args, sizeof args, "cifar10 --from '%s' --dest '%s'", mirror, dest2);
    ck_assert_int_eq(run_fetch(args, &out), 1);
    snprintf(want, sizeof want, "%s: 30729999 bytes (expected 30730000; truncated?)", join(m_c10, "data_batch_3.bin"));
    ck_assert_msg(strstr(out, want), "%s", out);
    free(out);

    /* No CIFAR-100 in the mirror. */
    snprintf(args, sizeof args, "cifar100 --from '%s' --dest '%s'", mirror, dest);
    ck_assert_int_eq(run_fetch(args, &out), 1);
    ck_assert_msg(strstr(out, "cifar100: no mirror folder found"), "%s", out);
    free(out);

    /* Usage errors exit 2; --help exits 0. */
    ck_assert_int_eq(run_fetch("", &out), 2);
    free(out);
    ck_assert_int_eq(run_fetch("imagenet --from /tmp", &out), 2);
    ck_assert_msg(strstr(out, "unknown data set 'imagenet'"), "%s", out);
    free(out);
    ck_assert_int_eq(run_fetch("mnist --from /nonexistent-dir", &out), 2);
    free(out);
    ck_assert_int_eq(run_fetch("mnist --bogus", &out), 2);
    free(out);
    ck_assert_int_eq(run_fetch("--help", &out), 0);
    ck_assert_msg(strstr(out, "--from DIR"), "%s", out);
    free(out);
}
END_TEST

/* ---- the real files (populated by datasets/fetch; CI always fetches) --------- */

/* 1 when rel/probe (or rel/probe.gz) exists; else print a note and return 0. */
static int real_present(const char *rel, const char *probe)
{
    struct stat st;
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", tu_src(rel), probe);
    if (stat(p, &st) == 0) return 1;
    snprintf(p, sizeof p, "%s/%s.gz", tu_src(rel), probe);
    if (stat(p, &st) == 0) return 1;
    fprintf(stderr, "NOTE: %s absent; skipping the real-data check (run datasets/fetch)\n", tu_src(rel));
    return 0;
}

static uint64_t pixel_sum(const sk_split *sp)
{
    uint64_t s = 0;
    const int64_t n = sp->n * sp->c * sp->h * sp->w;
    for (int64_t i = 0; i < n; i++)
        s += sp->x[i];
    return s;
}

START_TEST(test_real_mnist)
{
    sk_dataset ds;
    static const int32_t first_train[10] = {5, 0, 4, 1, 9, 2, 1, 3, 1, 4};
    static const int32_t first_test[10] = {7, 2, 1, 0, 4, 1, 4, 9, 5, 9};
    if (!real_present("datasets/mnist", "train-images-idx3-ubyte")) return;
    ck_assert_msg(load(&ds, SK_DS_MNIST, tu_src("datasets/mnist")) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(ds.train.n, 60000);
    ck_assert_int_eq(ds.test.n, 10000);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(ds.train.y[i], first_train[i]);
        ck_assert_int_eq(ds.test.y[i], first_test[i]);
    }
    /* Sums of all pixel bytes, computed once with numpy from the same files. */
    ck_assert_uint_eq(pixel_sum(&ds.train), 1567298545ULL);
    ck_assert_uint_eq(pixel_sum(&ds.test), 264923200ULL);
    /* The well-known MNIST statistics. */
    ck_assert_double_eq_tol(ds.mean[0], 0.1307, 1e-4);
    ck_assert_double_eq_tol(ds.std[0], 0.3081, 1e-4);
    sk_dataset_free(&ds);
}
END_TEST

START_TEST(test_real_cifar10)
{
    sk_dataset ds;
    /* The shared copy's fixed record order (see datasets/README.md). */
    static const int32_t first_train[10] = {5, 8, 3, 5, 6, 7, 4, 4, 4, 7};
    static const int32_t first_test[10] = {2, 8, 1, 4, 7, 9, 5, 6, 4, 4};
    /* The original release's first labels (data_batch_1.bin, test_batch.bin). */
    static const int32_t official_train[10] = {6, 9, 9, 4, 1, 1, 2, 7, 8, 3};
    static const int32_t official_test[10] = {3, 8, 8, 0, 6, 6, 1, 6, 3, 1};
    const int64_t counts[10] = {5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000};
    int64_t seen[10] = {0};
    if (!real_present("datasets/cifar10", "data_batch_1.bin")) return;
    ck_assert_msg(load(&ds, SK_DS_CIFAR10, tu_src("datasets/cifar10")) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(ds.train.n, 50000);
    ck_assert_int_eq(ds.test.n, 10000);
    for (int64_t i = 0; i < ds.train.n; i++)
        seen[ds.train.y[i]]++;
    for (int c = 0; c < 10; c++)
        ck_assert_int_eq(seen[c], counts[c]);
    if (memcmp(ds.train.y, official_train, sizeof official_train) == 0) {
        /* An original download (datasets/fetch online): its known label order. */
        ck_assert_int_eq(memcmp(ds.test.y, official_test, sizeof official_test), 0);
        fprintf(stderr, "NOTE: datasets/cifar10 is the original release; pixel checksum not checked\n");
    } else {
        for (int i = 0; i < 10; i++) {
            ck_assert_int_eq(ds.train.y[i], first_train[i]);
            ck_assert_int_eq(ds.test.y[i], first_test[i]);
        }
        /* Sums of all pixel bytes, computed once with numpy from the same files. */
        ck_assert_uint_eq(pixel_sum(&ds.train), 18537712937ULL);
        ck_assert_uint_eq(pixel_sum(&ds.test), 3732740007ULL);
    }
    /* Roughly the published CIFAR-10 channel statistics. */
    ck_assert_double_eq_tol(ds.mean[0], 0.4914, 0.005);
    ck_assert_double_eq_tol(ds.mean[1], 0.4822, 0.005);
    ck_assert_double_eq_tol(ds.mean[2], 0.4465, 0.005);
    ck_assert_double_eq_tol(ds.std[0], 0.2470, 0.005);
    sk_dataset_free(&ds);
}
END_TEST

START_TEST(test_real_fashion_mnist)
{
    sk_dataset ds;
    static const int32_t first_train[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    if (!real_present("datasets/fashion-mnist", "train-images-idx3-ubyte")) return;
    ck_assert_msg(load(&ds, SK_DS_FASHION_MNIST, tu_src("datasets/fashion-mnist")) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(ds.train.n, 60000);
    ck_assert_int_eq(ds.test.n, 10000);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(ds.train.y[i], first_train[i]);
    ck_assert_uint_eq(pixel_sum(&ds.train), 3431114169ULL);
    ck_assert_uint_eq(pixel_sum(&ds.test), 573469082ULL);
    sk_dataset_free(&ds);
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("fixtures");
    TCase *real = tcase_create("real");
    tcase_add_test(tc, test_kind_names);
    tcase_add_test(tc, test_idx_raw_and_gzip);
    tcase_add_test(tc, test_normalisation_choices);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_validation_split);
    tcase_add_test(tc, test_cifar10);
    tcase_add_test(tc, test_cifar100);
    tcase_add_test(tc, test_idx_errors);
    tcase_add_test(tc, test_gzip_errors);
    tcase_add_test(tc, test_idx_fuzz);
    tcase_add_test(tc, test_cifar_errors);
    tcase_add_test(tc, test_missing_files);
    tcase_add_test(tc, test_special_files);
    tcase_add_test(tc, test_limits_validate_whole_files);
    tcase_add_test(tc, test_batch_normalisation);
    tcase_add_test(tc, test_shift_flip_kernel);
    tcase_add_test(tc, test_augmentation);
    tcase_add_test(tc, test_polynomial);
    tcase_add_test(tc, test_fetch_from_mirror);
    tcase_add_test(real, test_real_mnist);
    tcase_add_test(real, test_real_cifar10);
    tcase_add_test(real, test_real_fashion_mnist);
    tcase_set_timeout(tc, 60);
    tcase_set_timeout(real, 120); /* reads 400 MB; slow under sanitizers */
    suite_add_tcase(s, tc);
    suite_add_tcase(s, real);
    return s;
}

int main(void)
{
    return tu_run(data_suite());
}
