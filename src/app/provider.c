/* provider.c - batches of a split: a seeded order, optional augmentation,
 * and an optional progress bar advanced per batch. */
#include "app/provider.h"

#include <string.h>

#include "core/mem.h"

sk_status sk_provider_init(sk_provider *p, const sk_dataset *ds, const sk_split *sp, int batch, int shuffle,
                           int augment, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->ds = ds;
    p->sp = sp;
    p->n = sp->n;
    p->batch = batch;
    p->shuffle = shuffle;
    p->augment = augment;
    sk_rng_seed_stream(&p->rng, seed, 0x44415441 /* "DATA" */);
    p->idx = sk_alloc_n((size_t)(p->n > 0 ? p->n : 1), sizeof(int32_t));
    if (!p->idx) return SK_ENOMEM;
    for (int64_t i = 0; i < p->n; i++)
        p->idx[i] = (int32_t)i;
    return SK_OK;
}

sk_status sk_provider_init_fixed(sk_provider *p, const sk_dataset *ds, const sk_split *sp, int batch, uint64_t seed)
{
    sk_status st = sk_provider_init(p, ds, sp, batch, 0, 0, seed);
    if (st != SK_OK) return st;
    sk_rng order;
    sk_rng_seed_stream(&order, seed, 0x4556414c /* "EVAL" */);
    sk_rng_shuffle_i32(&order, p->idx, p->n);
    return SK_OK;
}

void sk_provider_free(sk_provider *p)
{
    sk_free(p->idx);
    p->idx = NULL;
}

int sk_provider_next(void *ctx, int64_t epoch, int64_t step, float *x, int32_t *y, float *yr)
{
    sk_provider *p = ctx;
    (void)epoch;
    if (step == 0 && p->shuffle) sk_rng_shuffle_i32(&p->rng, p->idx, p->n);
    int64_t start = step * p->batch;
    if (start >= p->n) return 0;
    int n = (int)(p->n - start < p->batch ? p->n - start : p->batch);
    sk_dataset_batch(p->ds, p->sp, p->idx + start, n, p->augment, &p->rng, x, y, yr);
    if (p->bar) sk_progress_update(p->bar, p->bar_base + start + n, NULL);
    return n;
}
