/* state.h - what one run holds between its stages (private to src/app):
 * the data, the model, the two endpoints, and one result per alignment
 * method with its curves. The stages live in their own files:
 *   endpoint.c  inputs, endpoint training, planted B, endpoint evaluation
 *   align.c     the method table and running the methods
 *   interp.c    the linear-mode-connectivity curves of every method
 *   report.c    metrics.json, interp.csv, the plots, the stdout and sweep tables
 *   verify.c    check --verify-spec
 *   pipeline.c  the order of the stages */
#ifndef SK_APP_STATE_H
#define SK_APP_STATE_H
#include <stdint.h>

#include "app/provider.h"
#include "app/run_ctx.h"
#include "continual/continual.h"
#include "core/strbuf.h"
#include "data/dataset.h"
#include "io/csv.h"
#include "io/json.h"
#include "lmc/barrier.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/train.h"
#include "rebasin/spec.h"
#include "rebasin/srb.h"
#include "rebasin/ste.h"

#define SK_APP_MAX_ALIGNED 12 /* naive + at most 11 aligned models */
#define SK_APP_MAX_METHODS 24 /* and as many +repair curves (interpolation.repair) */

typedef struct {
    int action;           /* sk_ep_action (app/options.h): loaded, trained, initialisation, planted */
    int trained;          /* trained by this run */
    int recipe_trained;   /* loaded: the file's recipe says sinkrb trained it ("source: trained") */
    char fingerprint[24]; /* of the recipe that made the weights ("" for a file without one) */
    double seconds, samples_per_s;
    int epochs;
    int selected_epoch;       /* the epoch train.select best_validation kept (0: the last, or unknown) */
    double selected_val_loss; /* its validation loss as training measured it (NAN: not measured) */
    double train_loss, train_acc, test_loss, test_acc; /* final evaluation */
    double val_loss, val_acc;                          /* on the validation split (NAN without one) */
    sk_tset *theta;
} sk_endpoint;

typedef struct sk_align_kind sk_align_kind;

/* One aligned model: the method that made it, its permutation, its own
 * results (by kind), and its curves along lambda. */
typedef struct {
    const sk_align_kind *kind;
    char name[48];    /* naive, weight_matching, sinkhorn_l2, ... */
    char label[48];   /* plot legend */
    sk_srb_cost cost; /* sinkhorn only */
    int64_t **perms;  /* NULL for naive */
    sk_tset *aligned; /* pi(theta_B) (borrowed theta_B for naive) */
    double seconds;
    struct {
        struct {
            int passes;
            double objective;
        } wm;
        struct {
            int64_t samples;
        } am;
        sk_srb_result srb; /* per-epoch soft and hard costs */
        sk_ste_result ste; /* per-epoch midpoint losses */
    } res;
    int64_t units, matched; /* planted B: units whose planted partner was found */
    struct {                /* a +repair curve (app/interp.c): its plain curve's method */
        const char *of;     /* NULL for the plain curves */
        int points;         /* REPAIR points of the model */
        int64_t examples;   /* statistics examples */
        double seconds;     /* the curve's wall time, REPAIR included */
    } repair;
    double *lambda, *loss, *acc; /* (points), (n_splits * points) */
    sk_barrier bl[2], ba[2];     /* loss / accuracy barriers per split */
} sk_method_result;

typedef struct sk_pipe_state {
    sk_dataset ds;
    int ds_loaded;
    sk_model_spec ms;
    sk_model *m, *m2;
    sk_perm_spec *spec;
    sk_endpoint ep[2];
    int n_methods;
    sk_method_result meth[SK_APP_MAX_METHODS];
    sk_loss_spec loss;
    char model_desc[256];
    int64_t **planted; /* models.b.planted: B = planted(A) */
    sk_cl_results *cl; /* mode continual */
} sk_pipe_state;

/* A kind of alignment: one entry of the table in align.c, indexed by
 * sk_align_method (rebasin/method.h), whose name names its results
 * (sinkhorn: "sinkhorn_<cost>"). */
struct sk_align_kind {
    const char *label; /* plot legend; sinkhorn: "Sinkhorn " + the cost's label */
    int per_cost;      /* one aligned model per cost of sinkhorn.costs */
    /* Find me->perms (identity on entry); NULL for naive (no alignment). */
    sk_status (*run)(sk_run *r, sk_pipe_state *ps, sk_method_result *me);
    /* The line logged when it finished (NULL: none). */
    void (*log)(sk_run *r, const sk_method_result *me);
    /* Its own fields of metrics.json (NULL: none). */
    void (*json)(sk_json *j, const sk_method_result *me);
    /* sweep.csv's sinkhorn_steps and sinkhorn_best_epoch (NULL: empty). */
    void (*csv)(const sk_method_result *me, double *steps, double *best_epoch);
    /* Its rows of sinkhorn_log.csv: method,epoch,soft_cost,hard_cost (NULL: none). */
    void (*epoch_rows)(sk_csv *csv, const sk_method_result *me);
    void (*free)(sk_method_result *me);
};

/* align.c */
/* The table's entry of an alignment method (sk_align_method), or of naive (-1). */
const sk_align_kind *sk_align_kind_of(int method);
int sk_method_is_naive(const sk_method_result *me);
/* The plot label of the method named `name` in files ("sinkhorn_mid" ->
 * "Sinkhorn C_Mid", "weight_matching+repair" -> "Weight matching + REPAIR"),
 * the name itself when no method has it. */
void sk_method_label_of(const char *name, char *buf, size_t n);
/* Adds naive, then align.methods in order (plus the mode's own method when
 * not listed), runs each, saves perm_<name>.h5 and aligned_<name>.h5. */
SK_MUST_CHECK sk_status sk_align_all(sk_run *r, sk_pipe_state *ps);
void sk_method_result_free(sk_pipe_state *ps, sk_method_result *me);

/* endpoint.c */
SK_MUST_CHECK sk_status sk_endpoints_load(sk_run *r, sk_pipe_state *ps);
SK_MUST_CHECK sk_status sk_endpoints_make(sk_run *r, sk_pipe_state *ps);
/* One endpoint: loaded, made under the cache's lock, trained or planted. */
SK_MUST_CHECK sk_status sk_endpoint_make(sk_run *r, sk_pipe_state *ps, int e);
SK_MUST_CHECK sk_status sk_endpoints_evaluate(sk_run *r, sk_pipe_state *ps);

/* The recipe of the weights this config makes for endpoint e (init: its
 * untrained initialisation), one "key: value" line per setting, appended
 * to out; its hash is the endpoint's fingerprint. */
SK_MUST_CHECK sk_status sk_endpoint_recipe(const sk_config *c, int e, int init, sk_strbuf *out);
/* The endpoint cache (endpoints.cache): endpoint e of c is cached when the
 * config names a cache, its weights are at their default location, and it
 * is trained (models.X.train auto or if_missing) or an initialisation
 * (init), not planted; then it lives in <cache>/<fingerprint>.h5, made once
 * by whichever run needs it first (under the lock <file>.lock) and loaded
 * by every other. fp gets its fingerprint, path its file; 0: not cached. */
int sk_endpoint_cached(const sk_config *c, int e, char *fp, size_t fpn, char *path, size_t n);
/* Point c's cached endpoints at their files in the cache (train: if_missing,
 * or init); cached[e] says which. */
void sk_endpoint_use_cache(sk_config *c, int cached[2]);
/* "loaded", "trained", "initialisation" or "planted". */
const char *sk_endpoint_source(const sk_endpoint *ep);

/* A checkpoint of endpoint training (endpoint.c): everything the epoch loop
 * carries from one epoch to the next, so that training resumes after the
 * last finished epoch and ends bit-identical to an uninterrupted run. It is
 * written after each epoch but the last to <weights>.ckpt, an HDF5 file in
 * the weights format (io/h5w.h), atomically: datasets "model.<name>" (the
 * parameters and buffers), "optim.1.<name>" and "optim.2.<name>" (the
 * optimiser's state sets, sk_optim_export), "data.order" (the training
 * provider's current example order, as float32: exact up to 2^24 examples);
 * attributes "fingerprint" (the endpoint's recipe fingerprint) and
 * "checkpoint", "key: value" lines: epoch, epochs, global_step,
 * optimizer_steps, rng_model (the dropout stream) and rng_data (the
 * provider's order and augmentation stream), each rng as 4 hex words; with
 * train.select best_validation also the selected epoch so far (below). */
typedef struct {
    const char *path;        /* the checkpoint file */
    const char *fingerprint; /* of the endpoint's recipe */
    int epochs;              /* of the whole training */
    sk_tset *params;         /* the model's parameters and buffers */
    sk_optim *opt;
    sk_provider *prov; /* training batches: example order and rng */
    sk_rng *rng;       /* the model's dropout stream */
    /* train.select best_validation (else NULL): the selected epoch's
     * parameters so far ("best.<name>") and its number, validation loss and
     * accuracy (checkpoint lines selected_epoch, selected_val_loss and
     * selected_val_acc, the doubles in hexadecimal). */
    sk_tset *best;
    int *selected_epoch;
    double *selected_val_loss, *selected_val_acc;
} sk_ckpt;

/* The state after `epoch` epochs and global_step optimiser steps. */
SK_MUST_CHECK sk_status sk_ckpt_write(const sk_ckpt *ck, int epoch, int64_t global_step);
/* Restore the state in ck's parts from ck->path: *epoch epochs done (1..epochs),
 * *global_step. An error, with nothing changed, when the file cannot be read,
 * carries another fingerprint or does not fit the parts (shapes, optimiser,
 * number of examples). */
SK_MUST_CHECK sk_status sk_ckpt_read(const sk_ckpt *ck, int *epoch, int64_t *global_step);

/* cl_ckpt.c: point o->ckpt at <output>/continual.ckpt (path and fp are the
 * caller's buffers, SK_PATH_MAX + 32 and 24 bytes) with the fingerprint of
 * r's config; with --restart, remove the file first. The caller removes it
 * once the results are written. */
SK_MUST_CHECK sk_status sk_cl_ckpt_begin(sk_run *r, sk_cl_opts *o, char *path, size_t path_n, char *fp, size_t fp_n);

/* fetch.c: when dataset.path is the default folder and the data set is not
 * there, fetch it (datasets/fetch); an error when that fails. */
SK_MUST_CHECK sk_status sk_app_fetch_missing(const sk_config *c);

/* interp.c */
SK_MUST_CHECK sk_status sk_interp_all(sk_run *r, sk_pipe_state *ps);

/* report.c */
SK_MUST_CHECK sk_status sk_report_sinkhorn_log(sk_run *r, sk_pipe_state *ps);
SK_MUST_CHECK sk_status sk_report_curves(sk_run *r, sk_pipe_state *ps);
void sk_report_summary(sk_run *r, sk_pipe_state *ps);

#endif
