/* repair.h - REPAIR (Jordan et al., ICLR 2023) for the networks along the
 * linear path: each REPAIR point's channels (nn/model.h: the pre-activation
 * of every hidden conv/linear layer, after its norm when it has one) get the
 * mean and standard deviation interpolated from the endpoints', by a
 * per-channel affine folded into the layer's (or norm's) weight and bias, so
 * that the repaired network is a plain network of the same architecture
 * (doc/algorithms.md §14). */
#ifndef SK_LMC_REPAIR_H
#define SK_LMC_REPAIR_H

#include "core/err.h"
#include "core/tensor.h"
#include "nn/model.h"
#include "nn/train.h"

/* interpolation.repair: none, or repair (a second curve per method). */
typedef enum { SK_REPAIR_NONE, SK_REPAIR_REPAIR, SK_REPAIR_COUNT } sk_repair_kind;
extern const char *const sk_repair_kind_names[SK_REPAIR_COUNT]; /* "none", "repair" */

/* The statistics batches: n inputs (n, in_c, in_h, in_w) in batches of at
 * most the model's max_batch; every statistic is taken over exactly these. */
typedef struct {
    float *x;
    int64_t n;
    int64_t in_size; /* floats per input */
} sk_repair_data;

/* The first `batches` batches of get_batch (epoch -1, steps 0..batches-1;
 * fewer when it ends earlier) copied into d. */
SK_MUST_CHECK sk_status sk_repair_data_load(sk_model *m, sk_batch_fn get_batch, void *ctx, int batches,
                                            sk_repair_data *d);
void sk_repair_data_free(sk_repair_data *d);

/* Per point p and channel c: mean[p][c], std[p][c] (population std over
 * the N*H*W values of the channel, no epsilon), in double. */
typedef struct {
    int n_points;
    double **mean, **std;
} sk_repair_stats;

/* The statistics of every point of theta (eval mode) on d. */
SK_MUST_CHECK sk_status sk_repair_stats_compute(sk_model *m, const sk_tset *theta, const sk_repair_data *d,
                                                sk_repair_stats *out);
/* The statistics of point p only, into mean and std (channels each). */
SK_MUST_CHECK sk_status sk_repair_point_stats(sk_model *m, const sk_tset *theta, const sk_repair_data *d, int p,
                                              double *mean, double *std);
void sk_repair_stats_free(sk_repair_stats *s);

/* Fold y' = scale[c] * y + shift[c] on point p's output channels into theta:
 * the point's weight rows (or norm weight) times scale, its bias b[c] ->
 * scale[c] * b[c] + shift[c]. */
void sk_repair_fold(sk_tset *theta, const sk_repair_point *p, const double *scale, const double *shift);

/* REPAIR mix = theta(lambda) in place: for every point in forward order,
 * measure its channels on d (earlier points already repaired) and fold the
 * affine that gives each channel the mean (1-l) mean_A + l mean_B and std
 * (1-l) std_A + l std_B. A channel whose measured std is 0 (dead) is only
 * shifted. At lambda 0 and 1 the correction is the identity up to rounding. */
SK_MUST_CHECK sk_status sk_repair_apply(sk_model *m, sk_tset *mix, const sk_repair_stats *a, const sk_repair_stats *b,
                                        double lambda, const sk_repair_data *d);

#endif
