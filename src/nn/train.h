/* train.h - per-batch gradient, epoch loop, evaluation and BatchNorm
 * running-statistics re-estimation. Data and optimiser are the caller's:
 * batches come through a callback (the caller shuffles per epoch), the
 * parameter update through another. */
#ifndef SK_NN_TRAIN_H
#define SK_NN_TRAIN_H
#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "nn/model.h"

/* Fill x (n, in_c, in_h, in_w) and y (n) class labels, or yr (n, n_out)
 * regression targets (the unused one may be ignored); return n (1..capacity),
 * 0 when the epoch / split is done, or < 0 on error (sk_err set).
 * Capacity: batch_size while training, sk_model_max_batch() in evaluation.
 * epoch is -1 in evaluation and running-stat re-estimation; step counts
 * batches from 0 within the pass. */
typedef int (*sk_batch_fn)(void *ctx, int64_t epoch, int64_t step, float *x, int32_t *y, float *yr);
/* Optimiser step: update params from grads; 0 = ok, else an error (sk_err set). */
typedef int (*sk_step_fn)(void *optctx, sk_tset *params, sk_tset *grads, int64_t global_step);
/* Which epoch's parameters training ends with (train.select). */
typedef enum { SK_TRAIN_SELECT_LAST, SK_TRAIN_SELECT_BEST_VALIDATION, SK_TRAIN_SELECT_COUNT } sk_train_select;
extern const char *const sk_train_select_names[SK_TRAIN_SELECT_COUNT]; /* "last", "best_validation" */

/* What one epoch measured, for the on_epoch callback. */
typedef struct {
    int epoch;                    /* counts from 1 */
    double train_loss, train_acc; /* means over the epoch's minibatches (train mode, before each step) */
    double val_loss, val_acc;     /* NAN without a validation provider */
    double test_loss, test_acc;   /* NAN without a test provider */
    double samples_per_s;         /* training throughput (forward + backward + step, excluding evaluation) */
    int best;                     /* best_validation: this epoch has the lowest validation loss so far */
} sk_epoch_info;
/* After each epoch; accuracies are NAN for regression. */
typedef void (*sk_epoch_fn)(void *ctx, const sk_epoch_info *info);
/* At the very end of each epoch (after on_epoch; epoch counts from 1,
 * global_step is the steps taken so far), e.g. to write a checkpoint:
 * 0 = go on, 1 = stop after this epoch (sk_train returns SK_OK), < 0 = an
 * error (sk_err set; sk_train returns SK_EIO). */
typedef int (*sk_epoch_end_fn)(void *ctx, int epoch, int64_t global_step);

typedef struct {
    int regression;            /* 1: MSE against yr; 0: softmax cross-entropy on y */
    const uint8_t *class_mask; /* (n_out) allowed classes (multi-head), or NULL */
} sk_loss_spec;

typedef struct {
    int epochs, batch_size; /* batch_size <= the model's max_batch */
    sk_loss_spec loss;
    sk_batch_fn get_batch;
    void *ctx; /* training batches */
    sk_batch_fn get_val_batch;
    void *val_ctx; /* optional: the validation split, evaluated after each epoch */
    sk_batch_fn get_test_batch;
    void *test_ctx; /* optional: evaluated after each epoch (reported only) */
    /* BEST_VALIDATION: the model ends with the parameters (buffers included)
     * of the epoch with the lowest validation loss, ties to the earliest,
     * instead of the last epoch's; needs get_val_batch. Every epoch is still
     * trained. */
    sk_train_select select;
    sk_step_fn step;
    void *optctx;
    sk_epoch_fn on_epoch;
    void *epoch_ctx;     /* optional */
    sk_rng *rng;         /* dropout draws (required when the model has dropout) */
    int64_t global_step; /* in/out: optimiser steps so far (continues across calls) */
    /* Resuming: epochs start_epoch+1..epochs are trained (0: all). The
     * caller restores what the epoch loop carries from one epoch to the
     * next as it was after epoch start_epoch: the parameters and buffers,
     * global_step, the optimiser, the rng, the batch provider's state and,
     * for BEST_VALIDATION, best and the selected_* fields. */
    int start_epoch;
    sk_epoch_end_fn on_epoch_end; /* optional */
    void *epoch_end_ctx;
    /* BEST_VALIDATION: the parameters of the selected epoch so far, shaped
     * like the model's (NULL: sk_train keeps its own copy; a caller that
     * checkpoints passes its own so that it can save and restore it). */
    sk_tset *best;
    int selected_epoch;                         /* in/out: the epoch whose parameters the model ends with */
    double selected_val_loss, selected_val_acc; /* in/out: its validation loss and accuracy (NAN without one) */
} sk_train_cfg;

/* Zero grads, forward (train = 1) on x (n, ...), loss, backward into grads.
 * params/grads NULL = the model's own. loss (mean over the batch) and
 * n_correct may be NULL. SK_ENUMERIC if the loss is not finite. */
SK_MUST_CHECK sk_status sk_train_grad(sk_model *m, const sk_tset *params, sk_tset *grads, const float *x,
                                      const int32_t *y, const float *yr, int n, const sk_loss_spec *ls, sk_rng *rng,
                                      double *loss, int *n_correct);

/* Epochs cfg->start_epoch+1 .. cfg->epochs of: batches -> sk_train_grad ->
 * cfg->step; then the optional validation and test evaluations, on_epoch and
 * on_epoch_end. Updates cfg->global_step and the selected_* outputs (reset
 * when start_epoch is 0). Training k epochs, stopping, and resuming with
 * start_epoch = k from the state after epoch k gives the same numbers, bit
 * for bit, as training straight through. When on_epoch_end stops the run the
 * model keeps the last trained epoch's parameters. */
SK_MUST_CHECK sk_status sk_train(sk_model *m, sk_train_cfg *cfg);

/* Mean loss and accuracy (NAN for regression) of params (NULL = the model's
 * own) over all batches of a provider, in eval mode (running statistics). */
SK_MUST_CHECK sk_status sk_model_eval(sk_model *m, const sk_tset *params, sk_batch_fn get_batch, void *ctx,
                                      const sk_loss_spec *ls, double *loss, double *acc);

/* Re-estimate BatchNorm running statistics of params (NULL = the model's
 * own): reset running_mean = 0, running_var = 1, then forward in train mode
 * (no dropout) over up to n_batches batches (<= 0: all) with the cumulative
 * average (PyTorch's reset_running_stats + momentum=None). No-op without BN. */
SK_MUST_CHECK sk_status sk_model_bn_reset(sk_model *m, sk_tset *params, sk_batch_fn get_batch, void *ctx,
                                          int n_batches);

#endif
