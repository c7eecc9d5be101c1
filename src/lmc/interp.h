/* interp.h - loss and accuracy along the linear path between two models
 * (doc/algorithms.md §9). */
#ifndef SK_LMC_INTERP_H
#define SK_LMC_INTERP_H

#include "core/err.h"
#include "core/tensor.h"
#include "lmc/repair.h"
#include "nn/model.h"
#include "nn/train.h"

/* theta = (1 - lambda) a + lambda b, over every parameter and buffer,
 * computed as (1-l)*a + l*b (never with a division). */
void sk_lerp(sk_tset *out, const sk_tset *a, const sk_tset *b, double lambda);

/* interpolation.bn_reset: re-estimate BatchNorm statistics at every lambda
 * when the model has BatchNorm (auto), always, or never. */
typedef enum { SK_BNRESET_AUTO, SK_BNRESET_RECOMPUTE, SK_BNRESET_NONE, SK_BNRESET_COUNT } sk_bnreset;
extern const char *const sk_bnreset_names[SK_BNRESET_COUNT]; /* "auto", "recompute", "none" */

typedef struct {
    int points;   /* lambda values in [0,1], ends included */
    int bn_reset; /* re-estimate BatchNorm statistics at every lambda */
    sk_batch_fn bn_batches;
    void *bn_ctx;     /* training batches for the re-estimation */
    int bn_n_batches; /* how many of them (0 = until bn_batches returns 0) */
    int n_splits;
    sk_batch_fn eval[2];
    void *eval_ctx[2]; /* one provider per split */
    sk_loss_spec loss;
    /* REPAIR (lmc/repair.h): when repair_a is set, every theta(lambda) is
     * repaired towards the endpoints' statistics repair_a (of a) and
     * repair_b (of b) on repair_data, after the BatchNorm re-estimation. */
    const sk_repair_stats *repair_a, *repair_b;
    const sk_repair_data *repair_data;
    /* optional progress: called after every lambda */
    void (*on_point)(void *ctx, int point, int points);
    void *point_ctx;
} sk_lmc_opts;

/* loss[s * points + i], acc[s * points + i] for split s and lambda i. */
SK_MUST_CHECK sk_status sk_lmc_curve(sk_model *m, const sk_tset *a, const sk_tset *b, const sk_lmc_opts *o,
                                     double *lambda, double *loss, double *acc);

#endif
