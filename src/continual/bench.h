/* bench.h - continual-learning benchmarks (doc/algorithms.md §10): a task
 * sequence over an already-loaded data set, the per-task input transforms,
 * head masks, and the episodic memory (per task or class-balanced).
 *
 * Examples are referenced, never copied: an example of task t is the pair
 * (t, index into the split); its float input is built on demand by
 * sk_cl_bench_fill (rotation / permutation applied to the uint8 image, then
 * the data set's normalisation). Replay memories store such pairs.
 *
 * Dimension letters: T tasks, K classes (logits), D = C*H*W inputs,
 * P = H*W pixels, n examples in a batch. */
#ifndef SK_CONTINUAL_BENCH_H
#define SK_CONTINUAL_BENCH_H
#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"
#include "data/dataset.h"

typedef enum {
    SK_CL_ROTATED,
    SK_CL_PERMUTED,
    SK_CL_SPLIT_CIFAR10,
    SK_CL_SPLIT_CIFAR100,
    SK_CL_BENCH_COUNT
} sk_cl_bench_kind;
typedef enum { SK_CL_LINSPACE, SK_CL_STEP, SK_CL_ANGLES_COUNT } sk_cl_angles;
/* Name tables (core/names.h): "rotated-mnist", ...; "linspace", "step". */
extern const char *const sk_cl_bench_names[SK_CL_BENCH_COUNT];
extern const char *const sk_cl_angles_names[SK_CL_ANGLES_COUNT];

typedef struct {
    sk_cl_bench_kind kind;
    int T;                    /* tasks */
    const sk_dataset *ds;     /* borrowed */
    int C, H, W, D, K;        /* input shape, D = C*H*W, K classes (= logits) */
    double *angles;           /* (T) degrees, rotated only */
    int32_t *rot_src;         /* (T, P, 4) bilinear source pixel (P: outside, reads 0) */
    float *rot_w;             /* (T, P, 4) bilinear weights */
    int32_t *perm;            /* (T, D) permuted: input j of task t is pixel perm[t*D + j] */
    int classes_per_task;     /* split: 2 / 5; single head: K */
    uint8_t *mask;            /* (T, K) head of each task (split), NULL = single head */
    int32_t **train_idx;      /* (T) examples of each task in ds->train (shared for single head) */
    int64_t *n_train;         /* (T) */
    int32_t **test_idx;       /* (T) likewise in ds->test */
    int64_t *n_test;          /* (T) */
    int augment;              /* split-cifar training: random crop + flip (dataset.augment) */
    float lut_a[3], lut_b[3]; /* normalisation: float = a[c] * pixel + b[c] */
} sk_cl_bench;

const char *sk_cl_bench_name(sk_cl_bench_kind k); /* "rotated-mnist", ... */

/* Build the task sequence. rotated: angles linspace(0, 180, T) (T = 1: 0) or
 * `step` degrees apart (0, step, 2*step, ...); permuted: task 0 identity,
 * task t > 0 a permutation from (seed, t); split-cifar10: T <= 5 tasks of 2
 * consecutive classes; split-cifar100: T <= 20 tasks of 5 (fine labels).
 * rotated/permuted need a single-channel data set (mnist, fashion-mnist). */
SK_MUST_CHECK sk_status sk_cl_bench_new(sk_cl_bench_kind kind, int T, sk_cl_angles angles, double step, uint64_t seed,
                                        const sk_dataset *ds, int augment, sk_cl_bench **out);
void sk_cl_bench_free(sk_cl_bench *b); /* NULL-safe */

/* Inputs x (n, D) normalised, labels y (n) of examples (task[k], idx[k]) of
 * split `test` (0: ds->train, 1: ds->test). rng: augmentation draws (only
 * split benchmarks, training split, b->augment); NULL: no augmentation
 * (evaluation, the EWC Fisher). */
void sk_cl_bench_fill(const sk_cl_bench *b, int test, const int32_t *task, const int32_t *idx, int n, sk_rng *rng,
                      float *x, int32_t *y);

/* Bilinear rotation table of an h x w image by `deg` degrees counter-clockwise
 * (as displayed, row 0 on top) about the centre ((h-1)/2, (w-1)/2):
 * out[p] = sum_k w[p*4+k] * in[src[p*4+k]] with src = P (one past the last
 * pixel) meaning "outside" (zero fill, weight 0). src (P, 4), w (P, 4). Source coordinates within 1e-6 of an
 * integer snap to it, so multiples of 90 degrees are exact index rotations. */
void sk_cl_rotation_table(int h, int w, double deg, int32_t *src, float *wt);
/* Apply a table to one channel: dst (P) = a * (bilinear of src pixels) + b. */
void sk_cl_rotate(const uint8_t *src, int P, const int32_t *tab, const float *wt, float a, float b, float *dst);

/* Episodic memory: (task, index) pairs of training examples. */
typedef struct {
    int64_t n, cap;
    int32_t *task, *idx; /* (cap) */
} sk_cl_memory;

/* What the memory keeps of each finished task (continual.memory):
 * per_task: continual.memory_per_task random examples (an experience-balanced
 * buffer, as Avalanche's ExperienceBalancedBuffer in the published code);
 * per_class: continual.memory_per_class examples of each class (class-balanced). */
typedef enum { SK_CL_MEMORY_PER_TASK, SK_CL_MEMORY_PER_CLASS, SK_CL_MEMORY_COUNT } sk_cl_memory_kind;
extern const char *const sk_cl_memory_names[SK_CL_MEMORY_COUNT]; /* "per_task", "per_class" */

void sk_cl_memory_free(sk_cl_memory *m); /* frees the arrays, zeroes m */
/* Both adders walk the same shuffle of task t's training examples, drawn from
 * (seed, t), and append in its order. */
/* Add up to k examples per class of task t (class-balanced; classes with
 * fewer examples give all they have). */
SK_MUST_CHECK sk_status sk_cl_memory_add_task(sk_cl_memory *m, const sk_cl_bench *b, int t, int k, uint64_t seed);
/* Add min(n, examples of task t) examples of task t: the first n of the
 * shuffle, a uniformly random subset whatever the classes. */
SK_MUST_CHECK sk_status sk_cl_memory_add_random(sk_cl_memory *m, const sk_cl_bench *b, int t, int n, uint64_t seed);

#endif
