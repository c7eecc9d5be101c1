/* method.h - the training side of continual learning (internal to
 * src/continual): options, the per-example loss, evaluation, the EWC Fisher
 * and the trainer state every method shares (model, optimiser, batch
 * buffers, episodic memory).
 *
 * Dimension letters: n examples in a batch, K logits, D inputs, T tasks. */
#ifndef SK_CONTINUAL_METHOD_H
#define SK_CONTINUAL_METHOD_H
#include <stdint.h>

#include "continual/bench.h"
#include "core/err.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "continual/continual.h"
#include "io/log.h"
#include "io/progress.h"
#include "nn/model.h"
#include "nn/optim.h"

/* Softmax cross-entropy with a per-example head: example k may only use the
 * logits allowed by mask[task[k]*K ..] (mask NULL: all K). Weights: 1/n per
 * example (per_task = 0, the batch mean), or 1/(examples of the same task in
 * the batch) (per_task = 1: the sum over tasks of each task's mean loss).
 * d (n, K) receives d loss / d logits when not NULL; *correct the number of
 * correct argmax predictions within the head. task ids must be < 1024. */
double sk_cl_loss(const float *logits, const int32_t *y, const int32_t *task, int n, int K, const uint8_t *mask,
                  int per_task, float *d, int *correct);

/* Test accuracy of params (NULL = the model's own) on task t (its head only). */
SK_MUST_CHECK sk_status sk_cl_eval(sk_model *m, const sk_tset *params, const sk_cl_bench *b, int t, double *acc);

/* Diagonal empirical Fisher of task t: F = mean over S = min(samples,
 * examples of t) training examples (the first S of a shuffle from (seed, t),
 * never augmented) of g*g, g = d CE(example, its label) / d params at the model's own
 * parameters, eval-mode forward. F has the params layout (buffers stay 0). */
SK_MUST_CHECK sk_status sk_cl_fisher(sk_model *m, const sk_cl_bench *b, int t, int samples, uint64_t seed, sk_tset *F);

/* State shared by the methods' training loops. */
typedef struct {
    const sk_cl_bench *b;
    const sk_cl_opts *o;
    sk_model *m;
    sk_tset *g2; /* second gradient set (A-GEM reference, Fisher) */
    sk_optim *opt;
    int cap;                 /* batch buffers: 2 * batch_size (current + memory) */
    float *x;                /* (cap, D) */
    int32_t *y, *task, *idx; /* (cap) */
    int32_t *order;          /* (examples of the largest task) epoch order */
    sk_cl_memory mem;
    int32_t *mem_order; /* cycling order of memory draws */
    int64_t mem_pos, mem_order_n;
    int64_t mem_max;        /* the memory's largest size (mem_order holds mem_max + 1) */
    sk_rng mem_rng, rng;    /* memory draws; dropout/augmentation */
    sk_tset *ewc_a, *ewc_c; /* ewc: sum_t F_t, sum_t F_t theta*_t (params layout; NULL until ewc runs) */
} sk_cl_trainer;

/* Set up tr for benchmark b (borrowed) and options o (borrowed, read
 * while tr lives): the model built from ms (its initialisation is the
 * caller's), the optimiser, batch buffers for batch_size current plus as many
 * memory examples, an empty memory, seeded streams (sk_cl_trainer_reset).
 * On failure tr is left freed. */
SK_MUST_CHECK sk_status sk_cl_trainer_init(sk_cl_trainer *tr, const sk_cl_bench *b, const sk_cl_opts *o,
                                           const sk_model_spec *ms);
void sk_cl_trainer_free(sk_cl_trainer *tr); /* frees what tr owns, zeroes it; NULL-safe */
/* Empty the memory, zero the EWC sums and reseed the memory-draw and
 * dropout/augmentation streams from the run's seed: the state every method
 * starts from (sk_cl_trainer_init and sk_cl_run_method from task 0 call it). */
void sk_cl_trainer_reset(sk_cl_trainer *tr);
/* Allocate tr->ewc_a and tr->ewc_c (zero) unless they are. */
SK_MUST_CHECK sk_status sk_cl_trainer_ewc(sk_cl_trainer *tr);

/* Epoch order of task t: its training examples shuffled from (seed, t, epoch)
 * into tr->order; returns the count. */
int64_t sk_cl_task_order(sk_cl_trainer *tr, int t, int epoch);
/* Append n examples drawn from the memory (cycling through a shuffle of it)
 * at position `at` of the batch buffers' task/idx. */
void sk_cl_memory_draw(sk_cl_trainer *tr, int at, int n);
/* Memory examples mixed into a batch of `cur` current examples: min(batch_size, memory size). */
int sk_cl_memory_batch(const sk_cl_trainer *tr);

/* One task of the rebasin method (t > 0; doc/algorithms.md §10): learn soft
 * permutations and a residual on the current data plus memory, then update
 * the model's parameters in place. *mean_loss: mean minibatch loss. */
SK_MUST_CHECK sk_status sk_cl_rebasin_task(sk_cl_trainer *tr, int t, sk_progress *pg, int64_t *done, double *mean_loss);

/* Where sk_cl_run_method starts and what it calls after each task. */
typedef struct {
    /* Tasks already done (resuming): tr holds the state they left (model,
     * memory and its draw order, streams, EWC sums) and acc their rows. */
    int first;
    /* After task t is trained, added to the memory (and the EWC sums) and
     * evaluated; a status other than SK_OK ends the method with it. May be NULL. */
    sk_status (*after_task)(void *ctx, int t);
    void *ctx;
} sk_cl_task_hooks;

/* The task sequence of one method (joint: one round) from the model's
 * current parameters, from task hooks->first (hooks NULL: from the first
 * task, with sk_cl_trainer_reset first, as when hooks->first is 0); acc
 * (T, T) receives the accuracy matrix. */
SK_MUST_CHECK sk_status sk_cl_run_method(sk_cl_trainer *tr, int method, double *acc, sk_log *log, sk_progress_mode pm,
                                         const sk_cl_task_hooks *hooks);
/* The rounds of a method: T (joint: 1). */
int sk_cl_method_rounds(int method, int T);

#endif
