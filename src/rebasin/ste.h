/* ste.h - straight-through estimator matching (Git Re-Basin Algorithm 2,
 * doc/algorithms.md §6), the expensive baseline.
 *
 * Learns theta~ (initialised to theta_A). Every minibatch: perm = weight
 * matching of theta~ against theta_B, warm-started from the previous perm;
 * theta_ste = pi(theta_B) in value with gradients flowing to theta~
 * (d loss / d theta~ = d loss / d theta_ste); loss = task loss of
 * (theta_A + theta_ste) / 2 in TRAIN mode (BatchNorm batch statistics, as
 * in srb.h); SGD with momentum on theta~.
 * Selection [choice]: after every epoch (and before the first: "epoch 0",
 * plain weight matching of A against B) the midpoint loss of the current
 * perm is measured on the first `eval_batches` batches of the fixed
 * evaluation set (epoch -1; <= 0: all), train mode with dropout off.
 * select best (default; Git Re-Basin keeps the perm of the lowest loss too,
 * though per step and on the training minibatch): the perm of the lowest
 * loss (ties: the earliest); select last: the perm after the final epoch. */
#ifndef SK_REBASIN_STE_H
#define SK_REBASIN_STE_H
#include <stdint.h>

#include "core/err.h"
#include "core/tensor.h"
#include "nn/model.h"
#include "nn/train.h"
#include "rebasin/method.h"
#include "rebasin/spec.h"

typedef struct {
    int epochs;          /* passes over the training batches (10) */
    double lr, momentum; /* SGD on theta~: 1e-2, 0.9 */
    uint64_t seed;       /* weight matching's group order, dropout */
    int wm_max_iter;     /* weight matching passes per minibatch (100; warm-started, usually 2-3) */
    int batch_size;      /* of the batches get_batch and get_eval return (1000, the reference's for
                            MLPs); the caller builds them with it, sk_ste_matching rejects larger ones */
    int eval_batches;    /* batches of the per-epoch selection (8; <= 0: all) */
    sk_select select;    /* the perm returned: the best (default) or the last */
} sk_ste_opts;

void sk_ste_opts_default(sk_ste_opts *o);

typedef struct {
    int n_epochs;
    int64_t n_steps;     /* straight-through steps taken */
    double initial_loss; /* midpoint loss of epoch 0 (weight matching of A) */
    double *loss;        /* (n_epochs) midpoint loss after each epoch */
    int best_epoch;      /* 0..n_epochs: the lowest loss (ties: the earliest) */
    double best_loss;
    sk_select select;   /* the rule of opts.select */
    int selected_epoch; /* 0..n_epochs: the epoch whose perm was returned */
    double selected_loss;
} sk_ste_result;

void sk_ste_result_free(sk_ste_result *r); /* NULL-safe; frees the array */

/* m: a model of A's architecture (its own parameters are not touched; its
 * dropout is switched off during the evaluations and back on after);
 * get_batch: training batches (capacity sk_model_max_batch(m)); get_eval/
 * eval_ctx: the evaluation batches, a fixed set (NULL: get_batch at epoch
 * -1, which must then return the same batches at every call); ls: NULL =
 * cross-entropy. on_epoch (optional): (cb_ctx, epoch 1.., midpoint loss of
 * the epoch's perm on the evaluation batches). perms: one array per group,
 * receives the selected perm. res (may be NULL): filled on success, free
 * with sk_ste_result_free. */
SK_MUST_CHECK sk_status sk_ste_matching(const sk_perm_spec *s, sk_model *m, const sk_tset *A, const sk_tset *B,
                                        const sk_ste_opts *o, sk_batch_fn get_batch, void *ctx, sk_batch_fn get_eval,
                                        void *eval_ctx, const sk_loss_spec *ls, void (*on_epoch)(void *, int, double),
                                        void *cb_ctx, int64_t **perms, sk_ste_result *res);

#endif
