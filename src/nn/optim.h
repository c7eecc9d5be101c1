/* optim.h - optimisers (SGD, Adam, AdamW), gradient clipping and
 * learning-rate schedules, as flat loops over sk_tset blocks.
 *
 * Semantics follow PyTorch 1.13 exactly (float32 arithmetic in the same
 * order as torch's CPU kernels):
 *   SGD   (torch.optim.SGD, dampening 0): d = g + wd*p; buf = m*buf + d
 *         (buf = d on the first step); d = nesterov ? d + m*buf : buf;
 *         p -= lr*d.  momentum 0: p -= lr*(g + wd*p).
 *   Adam  (torch.optim.Adam, L2 added to the gradient): g += wd*p;
 *         m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 *         p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps), t = step+1.
 *   AdamW (torch.optim.AdamW, decoupled): p *= 1 - lr*wd, then Adam with wd 0.
 *   Clipping acts on the gradient set in place before the update, like
 *   torch.nn.utils.clip_grad_value_ (clamp to [-v, v]) and then
 *   clip_grad_norm_ (g *= min(1, c / (||g||_2 + 1e-6)), the norm taken over
 *   all trainable entries).
 * Entries with is_buffer = 1 (BatchNorm running statistics) are never read
 * for the norm nor updated.
 *
 * Schedules (lr at 0-based optimiser step k, base lr L):
 *   constant:    L
 *   cosine:      k < W: L*k/W (linear warm-up from 0), else
 *                L*0.5*(1 + cos(pi * min(1, (k-W)/(T-W))))  (T = total_steps,
 *                W = warmup_steps; 0 from step T on) -- LambdaLR with that
 *                lambda, equal to CosineAnnealingLR(T_max=T, eta_min=0) when W = 0
 *   step:        L*gamma^floor(k/step_size)   (StepLR)
 *   exponential: L*gamma^k                    (ExponentialLR)
 */
#ifndef SK_NN_OPTIM_H
#define SK_NN_OPTIM_H
#include <stdint.h>

#include "core/err.h"
#include "core/tensor.h"

typedef enum { SK_OPT_SGD, SK_OPT_ADAM, SK_OPT_ADAMW, SK_OPT_COUNT } sk_opt_kind;
typedef enum { SK_SCHED_CONSTANT, SK_SCHED_COSINE, SK_SCHED_STEP, SK_SCHED_EXPONENTIAL, SK_SCHED_COUNT } sk_sched_kind;
/* Name tables (core/names.h), the config's choices. */
extern const char *const sk_opt_kind_names[SK_OPT_COUNT];     /* "sgd", "adam", "adamw" */
extern const char *const sk_sched_kind_names[SK_SCHED_COUNT]; /* "constant", "cosine", "step", "exponential" */

typedef struct {
    sk_opt_kind kind;
    double lr, momentum, weight_decay;
    int nesterov;             /* sgd: momentum 0.9 typical; dampening 0 */
    double beta1, beta2, eps; /* adam/adamw: 0.9, 0.999, 1e-8 */
    double clip_norm;         /* > 0: clip the global L2 norm of the gradient first */
    double clip_value;        /* > 0: clamp each gradient entry to [-v, v] (applied before clip_norm) */
    sk_sched_kind schedule;
    int64_t total_steps, warmup_steps; /* cosine: linear warm-up from 0 then cosine to 0 */
    int64_t step_size;
    double gamma;         /* step: lr *= gamma every step_size steps; exponential: every step */
    int64_t parallel_min; /* OpenMP over the block only from this many trainable entries (0: 4Mi).
                           * The update is memory-bound and ~1 ms for 1M entries on one core;
                           * a 2-thread region costs more than it saves when the cores are
                           * shared or OpenBLAS's threads are still spinning after a GEMM. */
} sk_optim_opts;

typedef struct sk_optim sk_optim;

/* PyTorch's defaults for `kind`: sgd lr 0.01 momentum 0; adam lr 1e-3,
 * betas (0.9, 0.999), eps 1e-8, wd 0; adamw the same with wd 0.01; constant
 * schedule (gamma 0.1, step_size 1 for when a schedule is chosen later). */
void sk_optim_opts_init(sk_optim_opts *o, sk_opt_kind kind);

/* Validates the options (SK_ECONFIG with a message naming the field) and
 * allocates the state (sk_tset_like(params): one set for SGD with momentum,
 * two for Adam/AdamW). `params` fixes the layout every later step must have. */
SK_MUST_CHECK sk_status sk_optim_new(const sk_optim_opts *o, const sk_tset *params, sk_optim **out);
void sk_optim_free(sk_optim *o); /* safe on NULL */

/* The schedule: learning rate used by the 0-based optimiser step `step`. */
double sk_optim_lr(const sk_optim *o, int64_t step);

/* One update of `params` using `grads` (same layout as at sk_optim_new; the
 * gradients are clipped in place when clipping is on) at the optimiser's
 * own step counter, which it then advances. Returns the lr used, or NAN
 * with sk_err set when the layouts differ. */
double sk_optim_step(sk_optim *o, sk_tset *params, sk_tset *grads);

/* Steps taken so far (the 0-based index of the next step). */
int64_t sk_optim_steps_done(const sk_optim *o);
/* Zero the state (momentum, moments) and the step counter. */
void sk_optim_reset(sk_optim *o);

/* The whole state, for checkpoints: the step counter and n_sets state sets
 * of the parameters' layout (0 for SGD without momentum, 1 for SGD with
 * momentum: the momentum buffers, 2 for Adam/AdamW: the first and second
 * moments). Export lends the optimiser's own sets (valid until the next
 * step or sk_optim_free); import copies values in, and fails (SK_EINVAL,
 * nothing changed) when steps < 0 or the number of sets or a set's layout
 * differs from this optimiser's. Steps after an import are, bit for bit,
 * those the exporting optimiser would have taken. */
void sk_optim_export(const sk_optim *o, int64_t *steps, int *n_sets, const sk_tset *sets[2]);
SK_MUST_CHECK sk_status sk_optim_import(sk_optim *o, int64_t steps, int n_sets, const sk_tset *const *sets);

/* Global L2 norm of the trainable (non-buffer) entries of `g`, in double. */
double sk_grad_norm(const sk_tset *g);

/* "sgd" | "adam" | "adamw"; parse returns 0, or -1 with sk_err(SK_ECONFIG) set. */
const char *sk_opt_kind_name(sk_opt_kind k);
int sk_opt_kind_parse(const char *s, sk_opt_kind *out);
/* "constant" | "cosine" | "step" | "exponential"; parse as above. */
const char *sk_sched_kind_name(sk_sched_kind k);
int sk_sched_kind_parse(const char *s, sk_sched_kind *out);

#endif
