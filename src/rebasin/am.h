/* am.h - activation matching (Git Re-Basin §3.1, doc/algorithms.md §5). */
#ifndef SK_REBASIN_AM_H
#define SK_REBASIN_AM_H
#include <stdint.h>

#include "core/err.h"
#include "nn/model.h"
#include "nn/train.h"
#include "rebasin/spec.h"

typedef enum { SK_AM_INNER_PRODUCT, SK_AM_CORRELATION, SK_AM_COST_COUNT } sk_am_cost;
/* "inner_product", "correlation" (core/names.h). */
extern const char *const sk_am_cost_names[SK_AM_COST_COUNT];

typedef struct {
    int64_t samples; /* examples to use (0 = every batch the provider gives) */
    int batch_size;
    sk_am_cost cost;
} sk_am_opts;

/* ma and mb are two instances of the same model (so both models' activations
 * of a batch are available at once); A and B their parameters. get_batch
 * yields the same inputs for both (no augmentation). Writes one permutation
 * per group into perms; n_used (may be NULL) receives the examples used.
 * Conv layers count every spatial position as a sample. */
SK_MUST_CHECK sk_status sk_activation_matching(const sk_perm_spec *s, sk_model *ma, sk_model *mb, const sk_tset *A,
                                               const sk_tset *B, const sk_am_opts *o, sk_batch_fn get_batch, void *ctx,
                                               int64_t **perms, int64_t *n_used);

#endif
