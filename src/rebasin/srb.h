/* srb.h - Sinkhorn re-basin (Peña et al.; doc/algorithms.md §8).
 *
 * Learns one soft permutation P_g = Sinkhorn(X_g) per group (softperm.h)
 * aligning theta_B onto theta_A (curves are lerp(A, pi(B)) for every method)
 * by AdamW on the X_g, and returns HARD permutations p_g = LAP(X_g):
 * those after the last epoch, or the best seen at the evaluations (`select`).
 *
 * Costs (B' = pi_P(B), the soft-permuted B; sums over learnable entries,
 * buffers excluded; N = the number of learnable scalars):
 *   l2      mean over all scalars of (A - B')^2                 (data-free)
 *   l1      mean over all scalars of |A - B'|                   (data-free)
 *   cosine  sum over tensors t of (3 - cos(A[t], B'[t])) / N,   (data-free)
 *           cos = <a, b> / max(|a| |b|, 1e-8): the published package's
 *           DistCosineLoss (rebasin/loss/loss.py), minimum 2 T / N
 *   mid     task loss of (A + B') / 2 on a training minibatch   (data)
 *   rnd     task loss of (1 - l) A + l B', l ~ U(0,1) per minibatch (data)
 * Data costs run the model in TRAIN mode (BatchNorm uses the batch
 * statistics of the mixed model; running statistics are neither used nor
 * meaningful for a mix), for the soft steps and for the hard evaluations;
 * the hard evaluations switch dropout off, so they are deterministic.
 *
 * Schedule:
 *   data costs: `epochs` passes over get_batch (epoch 0.., step 0..); after
 *     each, the hard cost = mean loss over the first `eval_batches` batches
 *     of get_eval (epoch -1, step 0..; <= 0: all of them), which must be the
 *     same batches at every call, with the hard perms (mid: at l = 1/2; rnd:
 *     mean over l = 1/4, 1/2, 3/4).
 *   data-free costs: `steps` optimisation steps in max(1, epochs) rounds of
 *     ceil(steps / rounds) steps; the hard cost (exact, of pi_hard(B)) is
 *     evaluated after every round, and the run stops once pi_hard(B) equals
 *     A in every learnable entry (a recovered planted permutation: the
 *     cost's minimum, 0 for l2 and l1).
 * Before the first epoch/round the hard cost of the initial LAP(X) is
 * measured too (result.initial_hard_cost, "epoch 0"). select: SK_SELECT_LAST
 * returns the perms after the final epoch/round (the published code's
 * result), SK_SELECT_BEST those of the lowest hard cost over epochs 0..n
 * (ties: the earliest). */
#ifndef SK_REBASIN_SRB_H
#define SK_REBASIN_SRB_H
#include <stdint.h>

#include "core/err.h"
#include "core/tensor.h"
#include "nn/model.h"
#include "nn/train.h"
#include "rebasin/method.h"
#include "rebasin/softperm.h"
#include "rebasin/spec.h"

typedef enum { SK_SRB_L2, SK_SRB_L1, SK_SRB_COSINE, SK_SRB_MID, SK_SRB_RND, SK_SRB_COST_COUNT } sk_srb_cost;
/* "l2", "l1", "cosine", "mid", "rnd" (core/names.h). */
extern const char *const sk_srb_cost_names[SK_SRB_COST_COUNT];

typedef struct {
    sk_srb_cost cost;
    double tau;              /* Sinkhorn temperature (1) */
    int iterations;          /* Sinkhorn iterations (20) */
    double scale;            /* Sinkhorn scale l in C = -l X (1) */
    int epochs;              /* data costs: passes over the batches; data-free: evaluation rounds (20) */
    int steps;               /* data-free costs: optimisation steps in total (1000); the run stops
                                early once pi_hard(B) == A (l2, l1: hard cost 0) */
    double lr, weight_decay; /* AdamW on X: 0.1, 0.01, betas (0.9, 0.999) */
    double eps;              /* AdamW epsilon (1e-8) */
    sk_softperm_init init;   /* I + 0.1 N(0,1), identity, or a random permutation */
    uint64_t seed;           /* X init, l draws of rnd, dropout */
    int eval_batches;        /* data costs: batches of the hard evaluation (8; <= 0: all) */
    sk_select select;        /* the perms returned: after the last epoch (default) or the best */
} sk_srb_opts;

/* The defaults in parentheses above; cost mid, init 0, seed 0, select last. */
void sk_srb_opts_default(sk_srb_opts *o);
const char *sk_srb_cost_name(int cost);          /* "l2", "l1", "cosine", "mid", "rnd" */
int sk_srb_cost_parse(const char *s, int *cost); /* 0, or -1 with sk_err(SK_ECONFIG) */

typedef struct {
    int n_epochs;             /* epochs (data) or rounds (data-free) run */
    double *soft_cost;        /* (n_epochs) mean soft cost of the epoch's steps */
    double *hard_cost;        /* (n_epochs) hard cost after the epoch */
    double initial_hard_cost; /* of LAP(X) before any step ("epoch 0") */
    int best_epoch;           /* 0..n_epochs: the lowest hard cost (ties: the earliest) */
    double best_hard_cost;
    sk_select select;   /* the rule of opts.select */
    int selected_epoch; /* 0..n_epochs: the epoch whose perms were returned */
    double selected_hard_cost;
    int fallbacks;   /* Sinkhorn backward calls that used the pseudo-inverse fallback */
    int64_t n_steps; /* optimisation steps taken */
    double seconds;  /* wall time of the whole call */
    /* time breakdown (seconds, summed over all steps): Sinkhorn forward,
     * Sinkhorn backward, soft apply, apply backward (dP), model forward +
     * backward + loss (data) or cost (data-free), AdamW, hard evaluations */
    double t_sinkhorn_fwd, t_sinkhorn_bwd, t_apply, t_apply_bwd, t_model, t_optim, t_eval;
} sk_srb_result;

/* Learn perms aligning B onto A. m: a model of A's architecture used for
 * forwards/backwards (data costs; its own parameters are not touched; its
 * dropout is switched off during the hard evaluations and back on after;
 * may be NULL for data-free costs). get_batch/ctx: training batches (data
 * costs; capacity sk_model_max_batch(m)); get_eval/eval_ctx: the hard
 * evaluation's batches, a fixed set (NULL: get_batch at epoch -1, which
 * must then return the same batches at every call); ls: the task loss
 * (NULL = cross-entropy). on_epoch (optional): (cb_ctx, epoch 1.., soft, hard).
 * perms: one array per group (any content on entry), receives the selected
 * hard perms. res (may be NULL): filled, free with sk_srb_result_free. */
SK_MUST_CHECK sk_status sk_sinkhorn_rebasin(const sk_perm_spec *s, sk_model *m, const sk_tset *A, const sk_tset *B,
                                            const sk_srb_opts *o, sk_batch_fn get_batch, void *ctx,
                                            sk_batch_fn get_eval, void *eval_ctx, const sk_loss_spec *ls,
                                            void (*on_epoch)(void *, int, double, double), void *cb_ctx,
                                            int64_t **perms, sk_srb_result *res);
void sk_srb_result_free(sk_srb_result *r); /* NULL-safe; frees the arrays */

/* The clamp of the cosine cost's denominator (published: 1e-8). */
#define SK_SRB_COSINE_EPS 1e-8

/* The data-free costs (l2, l1, cosine) of A against Bp (learnable entries
 * only), and optionally d cost / d Bp into dBp (may be NULL; buffer entries
 * are set to 0). */
double sk_srb_weight_cost(int cost, const sk_tset *A, const sk_tset *Bp, sk_tset *dBp);

#endif
