/* config.h - experiment configuration (YAML), schema-driven.
 *
 * One table (config.c: schema[]) lists every key with its type, default,
 * allowed range or choices and a one-line description. It drives parsing,
 * validation, the resolved-config printer, `--set` overrides, and the docs
 * test that checks every key appears in the man page. */
#ifndef SK_IO_CONFIG_H
#define SK_IO_CONFIG_H

#include <stdio.h>

#include "core/err.h"

#define SK_CFG_PATH 1024
#define SK_CFG_NAME 128
#define SK_CFG_LIST 32
#define SK_CFG_SWEEP 16             /* at most this many sweep values */
#define SK_CFG_SWEEP_TEXT 256       /* one sweep value, as YAML flow text */

typedef enum { SK_MODE_TRAIN, SK_MODE_WEIGHT_MATCHING, SK_MODE_ACTIVATION_MATCHING,
               SK_MODE_SINKHORN, SK_MODE_CONTINUAL } sk_mode;
typedef enum { SK_CFG_DS_MNIST, SK_CFG_DS_FASHION_MNIST, SK_CFG_DS_CIFAR10, SK_CFG_DS_CIFAR100,
               SK_CFG_DS_POLYNOMIAL } sk_cfg_dataset;
typedef enum { SK_CFG_NORMALIZE_AUTO, SK_CFG_NORMALIZE_UNIT, SK_CFG_NORMALIZE_STANDARD } sk_cfg_normalize;
typedef enum { SK_METHOD_WEIGHT_MATCHING, SK_METHOD_ACTIVATION_MATCHING, SK_METHOD_STE,
               SK_METHOD_SINKHORN } sk_method;
typedef enum { SK_COST_L2, SK_COST_L1, SK_COST_COSINE, SK_COST_MID, SK_COST_RND } sk_cost;
typedef enum { SK_SPLIT_TRAIN, SK_SPLIT_TEST } sk_split_id;
typedef enum { SK_BNRESET_AUTO, SK_BNRESET_RECOMPUTE, SK_BNRESET_NONE } sk_bnreset;

/* continual.rebasin.*: the incremental-learning-via-re-basin settings (also
 * the continual module's own options, copied whole). */
typedef struct {
    double lr, tau;
    int iterations;
    double delta_lr, delta_weight_decay, delta_clip, delta_init_std, alpha;
} sk_cfg_cl_rebasin;

/* Every field is documented (type, default, range) in config.c's schema and in
 * man/sinkrb.1; enums store the index of the choice in the schema's list. */
typedef struct {
    char name[SK_CFG_NAME];
    long long seed;
    int mode;                       /* sk_mode */
    int threads;
    char output[SK_CFG_PATH];       /* results folder; "" -> results/<name> */
    struct {
        int name;                   /* sk_cfg_dataset */
        char path[SK_CFG_PATH];     /* "" -> datasets/<name> */
        int normalize;              /* sk_cfg_normalize */
        int augment;
        int labels;                 /* 0 fine, 1 coarse (cifar100) */
        long long train_limit, test_limit;
        int degree, points;         /* polynomial toy */
        double noise;
    } dataset;
    struct {
        int arch;                   /* order of sk_arch in nn/model.h */
        int n_hidden;
        int hidden[SK_CFG_LIST];
        int activation;             /* relu, tanh */
        int norm;                   /* none, batchnorm, layernorm */
        double width;
        int head;                   /* vgg classifier: gitrebasin, linear */
        double dropout;
    } model;
    struct {
        char weights[SK_CFG_PATH];  /* "" -> <output>/model_<x>.h5 */
        long long seed;
        int train;                  /* 0: use the seeded initialisation, untrained */
        int planted;                /* b only: B = a random permutation of A */
        double noise;               /* b only: Gaussian noise std added to the planted B */
    } models[2];
    struct {
        int epochs, batch_size, eval_batch_size;
        int optimizer;              /* sgd, adam, adamw */
        double lr, momentum, weight_decay;
        int nesterov;
        double beta1, beta2, eps;
        int schedule;               /* constant, cosine, step, exponential */
        double warmup_epochs;
        int step_epochs;
        double gamma, clip_norm;
    } train;
    struct {
        int n_methods;
        int methods[SK_CFG_LIST];   /* sk_method */
    } align;
    struct {
        int max_iter;
    } weight_matching;
    struct {
        long long samples;          /* 0 = the whole training split */
        int cost;                   /* inner_product, correlation */
        int batch_size;
    } activation_matching;
    struct {
        int n_costs;
        int costs[SK_CFG_LIST];     /* sk_cost */
        double tau;
        int iterations;
        double scale;
        int epochs, steps;
        double lr, weight_decay, eps;
        int init;                   /* perturbed-identity, identity, random-permutation */
        int batch_size;
        int eval_batches;
    } sinkhorn;
    struct {
        int epochs;
        double lr, momentum;
        int eval_batches;
    } ste;
    struct {
        int points;
        int n_splits;
        int splits[SK_CFG_LIST];    /* sk_split_id */
        int bn_reset;               /* sk_bnreset */
    } interpolation;
    struct {
        int benchmark;              /* rotated-mnist, permuted-mnist, split-cifar10, split-cifar100 */
        int tasks;
        int angles;                 /* linspace, step */
        double step;                /* degrees per task for angles: step */
        int n_methods;
        int methods[SK_CFG_LIST];   /* finetune, ewc, replay, agem, joint, rebasin */
        int epochs, batch_size;
        int optimizer;              /* sgd, adam, adamw */
        double lr, momentum, weight_decay;
        int memory_per_class;
        double ewc_lambda;
        int fisher_samples;
        sk_cfg_cl_rebasin rebasin;
    } continual;
    /* `sweep:` (not in the schema table: its values take the type of the key
     * they sweep). n = 0: no sweep. Each value runs the config once with
     * `key` set to it, into <output>/<label>. */
    struct {
        char key[64];
        int n;
        char values[SK_CFG_SWEEP][SK_CFG_SWEEP_TEXT];   /* YAML flow text */
        char labels[SK_CFG_SWEEP][64];                  /* [A-Za-z0-9_.-]+, unique */
    } sweep;
} sk_config;

/* Parse a config file (defaults for absent keys), apply `--set` overrides
 * (each "key=value", value in YAML flow syntax), fill derived defaults, and
 * validate. On error returns SK_ECONFIG with "FILE:LINE:COL: message". */
sk_status sk_config_load(sk_config *cfg, const char *path, const char *const *sets, int n_sets);
/* Defaults only (no file); `name` becomes cfg->name. */
void sk_config_defaults(sk_config *cfg, const char *name);
/* Derived defaults (paths) and cross-key checks; called by sk_config_load. */
sk_status sk_config_finalize(sk_config *cfg, const char *origin);
/* The resolved config as YAML that sk_config_load accepts unchanged. */
sk_status sk_config_write_yaml(const sk_config *cfg, FILE *out);
/* Same, into a malloc'd string. */
char *sk_config_to_yaml(const sk_config *cfg);
/* Sweep item i (0 <= i < cfg->sweep.n) of a finalized config: a copy
 * without the sweep, with sweep.key set to values[i], output
 * <output>/<labels[i]> and the paths that were derived from the output
 * (models.*.weights) or from the data set re-derived; finalized, so errors
 * of the combination are reported ("sweep item LABEL: ..."). */
sk_status sk_config_sweep_item(const sk_config *cfg, int i, sk_config *out);
/* The model section as YAML text (for the weights file's `arch` attribute). */
char *sk_config_model_yaml(const sk_config *cfg);

/* Choice names, for printing. */
const char *sk_mode_name(int mode);
const char *sk_method_name(int m);
const char *sk_cost_name(int c);
const char *sk_split_name(int s);
const char *sk_cfg_choice(const char *key, int index);   /* any enum key, e.g. "model.arch" */

/* Schema introspection (docs tests): number of keys, and key i's full name,
 * type text, default text and description. */
int sk_config_n_keys(void);
void sk_config_key_info(int i, const char **key, const char **type, const char **def,
                        const char **doc);

#endif
