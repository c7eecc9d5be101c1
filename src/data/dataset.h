/* dataset.h - the data sets sinkrb trains on, read from their official files.
 *
 * MNIST / Fashion-MNIST (IDX, raw or gzip), CIFAR-10 / CIFAR-100 (binary
 * version) and the polynomial regression toy (doc/algorithms.md section 11).
 * Images stay uint8 in memory (a CIFAR-10 train split is 150 MiB); batches are
 * converted to float and normalised on the fly by sk_dataset_batch.
 *
 * Dimension letters: N examples in a split, B examples in a batch,
 * C channels, H rows, W columns, D = C*H*W. */
#ifndef SK_DATA_DATASET_H
#define SK_DATA_DATASET_H
#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"

typedef enum {
    SK_DS_MNIST,
    SK_DS_FASHION_MNIST,
    SK_DS_CIFAR10,
    SK_DS_CIFAR100,
    SK_DS_POLYNOMIAL,
    SK_DS_COUNT
} sk_ds_kind;

/* Inputs are (pixel / 255 - mean[c]) / std[c] with mean and std from: */
typedef enum {
    SK_NORMALIZE_AUTO,     /* STANDARD for CIFAR, UNIT otherwise (sk_normalize_auto) */
    SK_NORMALIZE_UNIT,     /* mean 0, std 1: pixel / 255, in [0, 1] */
    SK_NORMALIZE_STANDARD, /* the statistics of the whole training split (before any limit) */
    SK_NORMALIZE_CUSTOM,   /* the caller's (sk_data_opts.mean / .std) */
    SK_NORMALIZE_CIFAR10,  /* presets: published statistics (sk_normalize_preset) */
    SK_NORMALIZE_CIFAR10_KUANGLIU,
    SK_NORMALIZE_CIFAR100,
    SK_NORMALIZE_IMAGENET,
    SK_NORMALIZE_MNIST,
    SK_NORMALIZE_COUNT
} sk_normalize;

/* CIFAR-100 label sets. */
typedef enum { SK_LABELS_FINE, SK_LABELS_COARSE, SK_LABELS_COUNT } sk_labels;
/* The two splits of every data set. */
typedef enum { SK_SPLIT_TRAIN, SK_SPLIT_TEST, SK_SPLIT_COUNT } sk_split_id;

/* Name tables (core/names.h), the config's choices: "mnist", ...;
 * "auto", "unit", "standard"; "fine", "coarse"; "train", "test". */
extern const char *const sk_ds_kind_names[SK_DS_COUNT];
extern const char *const sk_normalize_names[SK_NORMALIZE_COUNT];
extern const char *const sk_labels_names[SK_LABELS_COUNT];
extern const char *const sk_split_names[SK_SPLIT_COUNT];

typedef struct {
    sk_ds_kind kind;
    const char *path;                /* folder holding the official files (borrowed);
                                        NULL = "datasets/<sk_ds_kind_name(kind)>" */
    sk_normalize normalize;          /* AUTO: sk_normalize_auto(kind) */
    float mean[3], std[3];           /* CUSTOM: per channel (pixel / 255 scale) */
    int coarse_labels;               /* CIFAR-100: 1 = 20 coarse labels, 0 = 100 fine labels (default) */
    int poly_degree;                 /* polynomial toy: 1, 2 or 3 */
    int poly_points;                 /* default 100 (0 also means 100) */
    double poly_noise;               /* default 0.05 (standard deviation of the noise on y) */
    uint64_t seed;                   /* polynomial noise */
    int64_t train_limit, test_limit; /* 0 = all, else only the first N records (smoke tests; the
                                        files are still read and validated whole) */
    int64_t validation;              /* > 0: hold out this many of the kept training records as the
                                        validation split (sk_dataset.val), drawn with split_seed */
    uint64_t split_seed;             /* seed of the train/validation draw */
} sk_data_opts;

typedef struct {
    int64_t n;      /* examples */
    int c, h, w;    /* image shape (1,28,28) / (3,32,32); polynomial: (1,1,1) */
    int n_classes;  /* 10 / 100 / 20; 0 for regression */
    uint8_t *x;     /* (N, D) raw pixels, channel-planar; NULL for regression */
    int32_t *y;     /* (N) labels; NULL for regression */
    float *xr, *yr; /* regression only: inputs (N, 1), targets (N, 1) */
    int32_t *rec;   /* (N) record number of each example in the official training file, or NULL
                       when the examples are the file's records 0..N-1 in order */
} sk_split;

/* The validation split (dataset.validation > 0): a seeded random choice of
 * `validation` records among the training records kept (the first
 * train_limit, or all); the remaining ones are the training split. The draw
 * is a permutation of the kept records from RNG stream (split_seed, "VALI"):
 * its first n - validation entries are training, the rest validation (the
 * published examples' random_split(dataset, [9000, 1000])); each split keeps
 * the file order of its records and records it in `rec`. Without it `val`
 * is empty (n = 0). Test examples are never drawn. */
typedef struct {
    sk_ds_kind kind;
    sk_normalize normalize;
    sk_split train, test, val;
    float mean[3], std[3];             /* per-channel statistics of the whole training split, before any
                                          train_limit (pixel/255 scale); polynomial: mean 0, std 1 */
    float fixed_mean[3], fixed_std[3]; /* CUSTOM and presets: the statistics given */
} sk_dataset;

/* "mnist", "fashion-mnist", "cifar10", "cifar100", "polynomial". */
const char *sk_ds_kind_name(sk_ds_kind k);
/* 0 ok, -1 unknown (also accepts "fashion_mnist", "cifar-10", "cifar-100"). */
int sk_ds_kind_parse(const char *s, sk_ds_kind *out);
/* The per-channel mean and std that batches are normalised with (0 and 1
 * for UNIT); c < 3. */
void sk_dataset_norm_stats(const sk_dataset *ds, int c, double *mean, double *std);
/* The normalisation "auto" stands for: STANDARD for CIFAR, UNIT otherwise. */
sk_normalize sk_normalize_auto(sk_ds_kind k);
/* The channels, mean and std of a preset (SK_NORMALIZE_CIFAR10 ...); 0 for
 * a kind that is not a preset. */
int sk_normalize_preset(sk_normalize k, float mean[3], float std[3]);
/* Defaults for `kind`: path NULL, auto normalisation, fine labels, degree 1,
 * 100 points, noise 0.05, seed 0, no limits. */
void sk_data_opts_init(sk_data_opts *o, sk_ds_kind kind);

/* Load both splits. On failure `ds` is left empty (safe to free) and the
 * message names the file, e.g. "datasets/mnist/train-images-idx3-ubyte:
 * No such file or directory\nHINT: run datasets/fetch mnist". */
SK_MUST_CHECK sk_status sk_dataset_load(sk_dataset *ds, const sk_data_opts *o);
void sk_dataset_free(sk_dataset *ds); /* safe on a zeroed or freed dataset */
/* Free one split's arrays and zero it (safe on NULL / zeroed splits). */
void sk_split_free(sk_split *sp);

/* Input features per example (c*h*w; 1 for the polynomial toy). */
int64_t sk_dataset_dim(const sk_dataset *ds);

/* Build a float batch from examples idx[0..n) of split `sp` (one of ds->train,
 * ds->test):
 *   x_out  (B, C, H, W) normalised per ds->normalize; regression: (B, 1) inputs
 *   y_out  (B) labels (classification; may be NULL)
 *   yr_out (B, 1) targets (regression; may be NULL)
 * augment != 0 (images only): random crop with 4-pixel zero padding then a
 * horizontal flip with p = 0.5, drawing from rng (3 draws per example, in
 * example order). The padding is pixel value 0 before normalisation, as
 * torchvision's RandomCrop(padding=4) on uint8 images followed by Normalize.
 * augment == 0 is deterministic and never touches rng (which may be NULL).
 * Every idx[b] must lie in [0, sp->n) (not checked). */
void sk_dataset_batch(const sk_dataset *ds, const sk_split *sp, const int32_t *idx, int n, int augment, sk_rng *rng,
                      float *x_out, int32_t *y_out, float *yr_out);

/* The per-channel lookup table pixel -> normalised float used by
 * sk_dataset_batch. lut (C, 256). */
void sk_dataset_lut(const sk_dataset *ds, int c, float *lut);

/* One image through a shift and an optional mirror (the kernel behind the
 * augmentation, exposed for tests):
 *   dst[c][i][j] = lut[c][src[c][i + dy][jj + dx]],  jj = flip ? w-1-j : j,
 * where out-of-range source pixels read as value 0 (zero padding).
 * src (C, H, W) uint8, lut (C, 256), dst (C, H, W). */
void sk_image_shift_flip(const uint8_t *src, int c, int h, int w, int dy, int dx, int flip, const float *lut,
                         float *dst);

#endif
