/* provider.h - batches of a data set split for the training, evaluation and
 * alignment loops (an sk_batch_fn and its context), private to src/app. */
#ifndef SK_APP_PROVIDER_H
#define SK_APP_PROVIDER_H
#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "io/progress.h"

typedef struct {
    const sk_dataset *ds; /* borrowed */
    const sk_split *sp;   /* borrowed */
    int32_t *idx;         /* (n) order of the examples */
    int64_t n;
    int batch;
    int shuffle, augment;
    sk_rng rng;       /* stream "DATA" of the seed: order and augmentation */
    sk_progress *bar; /* optional per-batch progress */
    int64_t bar_base;
} sk_provider;

/* Batches of `batch` examples of split sp in order 0..n-1, reshuffled when
 * step 0 is fetched if `shuffle`, augmented if `augment`. */
SK_MUST_CHECK sk_status sk_provider_init(sk_provider *p, const sk_dataset *ds, const sk_split *sp, int batch,
                                         int shuffle, int augment, uint64_t seed);
/* A fixed evaluation set of split sp: its examples in one order drawn once,
 * here, from stream "EVAL" of the seed (so the first k batches are a seeded
 * random subset of the split), never reshuffled and never augmented: every
 * pass returns the same batches, and no other provider's order is touched.
 * Providers made with the same seed and batch give the same set. */
SK_MUST_CHECK sk_status sk_provider_init_fixed(sk_provider *p, const sk_dataset *ds, const sk_split *sp, int batch,
                                               uint64_t seed);
void sk_provider_free(sk_provider *p);
/* The sk_batch_fn (nn/train.h): fills batch `step`; returns its size, 0 past the end. */
int sk_provider_next(void *ctx, int64_t epoch, int64_t step, float *x, int32_t *y, float *yr);

#endif
