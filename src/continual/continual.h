/* continual.h - `mode: continual` (doc/algorithms.md §10): a benchmark's task
 * sequence, the methods compared on it (finetune, ewc, replay, agem, joint,
 * rebasin), the accuracy matrix and its metrics, and the result files.
 *
 * Every method starts from the same initialisation and sees the same data
 * order, the same episodic memory and the same evaluation (each task's test
 * split after every task). Accuracy matrix: a is T x T row-major,
 * a[t*T + i] = test accuracy on task i after training task t (0-based).
 *
 * Choices (details in methods.c and rebasin_il.c):
 * - the model's optimiser (continual.optimizer/lr/momentum/weight_decay,
 *   Adam betas/eps from train.*) is reset at the start of every task;
 * - one episodic memory for replay, agem and rebasin: after every task but
 *   the last it keeps continual.memory_per_task random examples of the task
 *   (memory per_task, the published experience-balanced buffer) or
 *   continual.memory_per_class examples of each of its classes (per_class),
 *   both from a seeded shuffle; replay and rebasin append min(batch_size,
 *   |memory|) memory examples to every minibatch, agem computes its
 *   reference gradient on as many;
 * - rebasin's loss is the plain batch mean, or with continual.rebasin.loss
 *   task_mean the sum over tasks of each task's mean;
 * - ewc: empirical diagonal Fisher on continual.fisher_samples examples per
 *   task, accumulated over tasks (exactly: sum_t F_t (theta - theta*_t)^2);
 * - joint: one model trained continual.epochs epochs on the union of all
 *   tasks; every row of its matrix is that final model's accuracies (so its
 *   forgetting and BWT are 0) -- the upper bound, at the cost of one method. */
#ifndef SK_CONTINUAL_CONTINUAL_H
#define SK_CONTINUAL_CONTINUAL_H

#include "core/err.h"
#include "data/dataset.h"
#include "continual/bench.h"
#include "io/json.h"
#include "io/log.h"
#include "io/progress.h"
#include "nn/model.h"
#include "nn/optim.h"

/* The methods (continual.methods), with their name table (core/names.h). */
typedef enum {
    SK_CL_FINETUNE,
    SK_CL_EWC,
    SK_CL_REPLAY,
    SK_CL_AGEM,
    SK_CL_JOINT,
    SK_CL_REBASIN,
    SK_CL_N_METHODS
} sk_cl_method;
extern const char *const sk_cl_method_names[SK_CL_N_METHODS]; /* "finetune", ... */
#define SK_CL_MAX_METHODS SK_CL_N_METHODS                     /* methods of one run: each at most once */

/* How the rebasin loss weighs the examples of a batch (continual.rebasin.loss):
 * mean: the plain mean over the batch (current and memory examples alike),
 * what the published Rotated-MNIST script computes (its experiences all have
 * task id 0); task_mean: the sum over the task ids present of each task's
 * mean loss (the published loss when every task has its own id). */
typedef enum { SK_CL_REBASIN_LOSS_MEAN, SK_CL_REBASIN_LOSS_TASK_MEAN, SK_CL_REBASIN_LOSS_COUNT } sk_cl_rebasin_loss;
extern const char *const sk_cl_rebasin_loss_names[SK_CL_REBASIN_LOSS_COUNT]; /* "mean", "task_mean" */

/* The rebasin method's own settings (continual.rebasin.*). */
typedef struct {
    double lr, tau;                                                  /* AdamW on the Sinkhorn matrices; temperature */
    int iterations;                                                  /* Sinkhorn iterations */
    double delta_lr, delta_weight_decay, delta_clip, delta_init_std; /* the residual delta (SGD) */
    double alpha; /* theta = alpha theta + (1 - alpha) pi(theta) + delta */
    sk_cl_rebasin_loss loss;
} sk_cl_rebasin_opts;

/* Checkpoints of a run (doc/architecture.md, "Checkpoints"): after every
 * finished task of every method, sk_continual_run writes to `path`,
 * atomically, everything the rest of the run depends on -- the model's
 * parameters and buffers, the episodic memory and the position of its draw
 * order, the memory-draw and dropout/augmentation streams, ewc's sums, the
 * accuracy rows and seconds so far -- with `fingerprint`. When `path` holds
 * a checkpoint of this fingerprint (and of this run's tasks, methods and
 * model) at the start, the run resumes after its task and ends bit-identical
 * to a run never stopped; a checkpoint that does not fit or cannot be read
 * is ignored with a line on the log (the next checkpoint replaces it). The
 * optimiser is not part of it: every task starts it afresh. The last
 * checkpoint (all methods done) stays: the caller removes it once the
 * results are saved. */
typedef struct {
    const char *path;        /* NULL: no checkpoints */
    const char *fingerprint; /* of the settings the run depends on (the caller's choice) */
    /* Called after every finished task (its checkpoint written): k indexes
     * methods, t the task (joint: 0), params the model's parameters and
     * buffers then. A status other than SK_OK ends the run with it (the
     * tests stop runs this way). NULL: none. */
    sk_status (*after_task)(void *ctx, int k, int t, const sk_tset *params);
    void *ctx;
} sk_cl_ckpt_opts;

typedef struct {
    sk_cl_bench_kind benchmark;
    int tasks;
    sk_cl_angles angles; /* rotated: linspace(0, 180, tasks) or `step` degrees apart */
    double step;
    int augment; /* split-cifar training augmentation */
    int n_methods;
    sk_cl_method methods[SK_CL_MAX_METHODS];
    int epochs, batch_size, eval_batch_size;
    sk_optim_opts opt;        /* the model's own optimiser (reset at every task) */
    sk_cl_memory_kind memory; /* what the memory keeps of each finished task */
    int memory_per_task;      /* memory per_task: random examples per task */
    int memory_per_class;     /* memory per_class: examples per class per task */
    double ewc_lambda;
    int fisher_samples;
    sk_cl_rebasin_opts rebasin;
    uint64_t seed;
    sk_cl_ckpt_opts ckpt; /* all zero: no checkpoints */
} sk_cl_opts;

typedef struct sk_cl_results sk_cl_results;

/* Run o->methods on o->benchmark over the loaded data set ds (borrowed),
 * with models built from ms (input shape of ds, n_out = classes). Progress
 * (one line per task and method) goes through pm, per-task accuracy rows to
 * log (may be NULL). *out is owned by the caller (sk_cl_results_free). */
SK_MUST_CHECK sk_status sk_continual_run(const sk_cl_opts *o, const sk_dataset *ds, const sk_model_spec *ms,
                                         sk_log *log, sk_progress_mode pm, sk_cl_results **out);
/* <outdir>/accuracy_matrix.csv (method,after_task,task,accuracy; tasks
 * 1-based) and <outdir>/cl_accuracy.svg (mean accuracy over the tasks seen so
 * far after each task, one line per method), each written atomically. */
SK_MUST_CHECK sk_status sk_cl_write_outputs(const sk_cl_results *r, const char *outdir);
/* Adds "continual": {benchmark, tasks, methods: {<name>: {acc, forgetting,
 * bwt, seconds, accuracy_matrix (T rows of T)}}} to the open object of j. */
void sk_cl_results_json(const sk_cl_results *r, sk_json *j);
/* The stdout table: method, ACC, forgetting, BWT, seconds. */
void sk_cl_print_summary(const sk_cl_results *r, sk_log *log);
void sk_cl_results_free(sk_cl_results *r); /* NULL-safe */

/* Accessors (tests, callers that want the numbers). */
int sk_cl_results_tasks(const sk_cl_results *r);
int sk_cl_results_n_methods(const sk_cl_results *r);
const char *sk_cl_results_method(const sk_cl_results *r, int k);   /* "finetune", ... */
const double *sk_cl_results_matrix(const sk_cl_results *r, int k); /* (T, T), borrowed */
double sk_cl_results_seconds(const sk_cl_results *r, int k);

/* Metrics of an accuracy matrix a (T, T):
 *   ACC        = mean_i a[T-1][i]
 *   forgetting = mean_{i<T-1} (max_{t<T-1} a[t][i] - a[T-1][i])   (Chaudhry et al.:
 *                the max runs over every earlier row, as doc/algorithms.md §10 writes it)
 *   BWT        = mean_{i<T-1} (a[T-1][i] - a[i][i])
 * Forgetting and BWT are 0 when T = 1. */
double sk_cl_acc(const double *a, int T);
double sk_cl_forgetting(const double *a, int T);
double sk_cl_bwt(const double *a, int T);
/* Mean accuracy over the tasks seen after task t: mean_{i<=t} a[t][i]. */
double sk_cl_seen_acc(const double *a, int T, int t);

/* "finetune" | "ewc" | "replay" | "agem" | "joint" | "rebasin"; "?" if out of range. */
const char *sk_cl_method_name(int method);

#endif
