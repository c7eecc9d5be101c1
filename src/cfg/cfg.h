/* cfg.h - experiment configuration (YAML), schema-driven.
 *
 * One table (schema.c) lists every key with its type, storage, default,
 * allowed range or choices and a one-line description. It drives parsing
 * (parse.c), validation, the resolved-config printer (emit.c), `--set`
 * overrides, sweeps (sweep.c) and the docs test that checks every key
 * appears in the man page. Choice keys take their names from the name
 * tables of the modules that own the enums (core/names.h). */
#ifndef SK_CFG_CFG_H
#define SK_CFG_CFG_H

#include <stdio.h>

#include "continual/continual.h"
#include "core/err.h"
#include "data/dataset.h"
#include "lmc/interp.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/train.h"
#include "rebasin/am.h"
#include "rebasin/method.h"
#include "rebasin/softperm.h"
#include "rebasin/srb.h"

#define SK_CFG_PATH 1024
#define SK_CFG_NAME 128
#define SK_CFG_LIST 32
#define SK_CFG_SWEEP 16       /* at most this many sweep values */
#define SK_CFG_SWEEP_TEXT 256 /* one sweep value, as YAML flow text */

#define SK_CFG_REF 16          /* reference.methods: at most this many entries */
#define SK_CFG_RENAME 16       /* models.X.rename: at most this many pairs */
#define SK_CFG_RENAME_TEXT 160 /* one "FROM=TO" pair */
#define SK_CFG_REPEAT_SEEDS 64 /* repeat_seeds: at most this many (A, B) pairs */

/* models.X.train: where an endpoint comes from. auto = load the weights file
 * when it exists, else train and save it there if it is the default location
 * inside the output folder (a path the user wrote that does not exist is an
 * error); if_missing = load, else train and save (any path); always = train
 * and overwrite; never = the file must exist; init = load, else save and use
 * the seeded initialisation untrained. */
typedef enum {
    SK_ENDPOINT_AUTO,
    SK_ENDPOINT_IF_MISSING,
    SK_ENDPOINT_ALWAYS,
    SK_ENDPOINT_NEVER,
    SK_ENDPOINT_INIT,
    SK_ENDPOINT_COUNT
} sk_endpoint_train;
extern const char *const sk_endpoint_train_names[SK_ENDPOINT_COUNT];

/* What a run does (`mode`): the config's own enum. */
typedef enum {
    SK_MODE_TRAIN,
    SK_MODE_WEIGHT_MATCHING,
    SK_MODE_ACTIVATION_MATCHING,
    SK_MODE_SINKHORN,
    SK_MODE_CONTINUAL,
    SK_MODE_COUNT
} sk_mode;
extern const char *const sk_mode_names[SK_MODE_COUNT];

/* Every field is documented (type, default, range) in schema.c and in
 * man/sinkrb.1; choice fields have their module's enum type. */
typedef struct {
    char name[SK_CFG_NAME];
    long long seed;
    sk_mode mode;
    int threads;
    char output[SK_CFG_PATH]; /* results folder; "" -> results/<name> */
    /* Repetitions (cfg/repeat.c): every experiment (the config, or each
     * sweep item) runs `repeat` times on other endpoint seeds, or once per
     * pair of repeat_seeds (A, B) when given (then repeat is 1 or their
     * number). */
    int repeat;
    int n_repeat_seeds;
    long long repeat_seeds[SK_CFG_REPEAT_SEEDS][2];
    struct {
        sk_ds_kind name;
        char path[SK_CFG_PATH]; /* "" -> datasets/<name> */
        sk_normalize normalize;
        int n_mean, n_std; /* dataset.mean / dataset.std (normalize: custom) */
        double mean[3], std[3];
        int augment;
        sk_labels labels; /* cifar100 */
        long long train_limit, test_limit;
        long long validation, split_seed; /* held-out validation examples and the seed of their draw */
        int degree, points;               /* polynomial toy */
        double noise;
    } dataset;
    struct {
        sk_arch arch;
        int n_hidden;
        int hidden[SK_CFG_LIST];
        sk_act activation;
        sk_mnorm norm;
        double width;
        sk_vgghead head; /* vgg classifier */
        double dropout;
    } model;
    struct {
        char weights[SK_CFG_PATH]; /* "" -> <output>/model_<x>.h5 */
        long long seed;
        sk_endpoint_train train;
        int n_rename; /* models.X.rename: "FROM=TO" pairs applied to the file's names */
        char rename[SK_CFG_RENAME][SK_CFG_RENAME_TEXT];
        double dropout; /* MLP dropout while this endpoint trains; < 0: model.dropout */
        int planted;    /* b only: B = a random permutation of A */
        double noise;   /* b only: Gaussian noise std added to the planted B */
    } models[2];
    struct {
        /* the endpoint cache: trained endpoints by fingerprint, shared by
         * every unit and run that names the folder; "" -> <output>/endpoints
         * for a sweep or repetitions, none for a single run */
        char cache[SK_CFG_PATH];
    } endpoints;
    struct {
        int epochs, batch_size, eval_batch_size;
        sk_opt_kind optimizer;
        double lr, momentum, weight_decay;
        int nesterov;
        double beta1, beta2, eps;
        sk_sched_kind schedule;
        double warmup_epochs;
        int step_epochs;
        double gamma, clip_norm;
        sk_train_select select;
        int allow_chance; /* accept endpoints at chance level (app/endpoint.c) */
    } train;
    struct {
        int n_methods;
        sk_align_method methods[SK_CFG_LIST];
    } align;
    struct {
        int max_iter;
    } weight_matching;
    struct {
        long long samples; /* 0 = the whole training split */
        sk_am_cost cost;
        int batch_size;
    } activation_matching;
    struct {
        int n_costs;
        sk_srb_cost costs[SK_CFG_LIST];
        double tau;
        int iterations;
        double scale;
        int epochs, steps;
        double lr, weight_decay, eps;
        sk_softperm_init init;
        int batch_size;
        int eval_batches;
        sk_select select;
    } sinkhorn;
    struct {
        int epochs;
        double lr, momentum;
        int batch_size;
        int eval_batches;
        sk_select select;
    } ste;
    struct {
        int points;
        int n_splits;
        sk_split_id splits[SK_CFG_LIST];
        sk_bnreset bn_reset;
        int bn_batches;
        sk_repair_kind repair;
        int repair_batches;
    } interpolation;
    struct {
        sk_cl_bench_kind benchmark;
        int tasks;
        sk_cl_angles angles;
        double step; /* degrees per task for angles: step */
        int n_methods;
        sk_cl_method methods[SK_CFG_LIST];
        int epochs, batch_size;
        sk_opt_kind optimizer;
        double lr, momentum, weight_decay;
        sk_cl_memory_kind memory;
        int memory_per_task, memory_per_class;
        double ewc_lambda;
        int fisher_samples;
        sk_cl_rebasin_opts rebasin;
    } continual;
    /* `sweep:` (not in the schema table: its values take the type of the key
     * they sweep). n = 0: no sweep. Each value runs the config once with
     * `key` set to it, into <output>/<label>. */
    struct {
        char key[64];
        int n;
        char values[SK_CFG_SWEEP][SK_CFG_SWEEP_TEXT]; /* YAML flow text */
        char labels[SK_CFG_SWEEP][64];                /* [A-Za-z0-9_.-]+, unique */
    } sweep;
    /* `reference:` (not in the schema table; parsed by reference.c):
     * published values at lambda = 1/2 on one split, shown beside the run's
     * own in the summary and metrics.json; never computed. present = 0:
     * none. An entry's has_* says which of its values are given. */
    struct {
        int present;
        char source[256];  /* where the values come from */
        sk_split_id split; /* the split they are measured on (default test) */
        struct {
            char name[48]; /* "endpoints", or a result name: naive, weight_matching, sinkhorn_mid, ... */
            int has_loss, has_acc;
            double loss, acc; /* accuracy as a fraction */
        } entries[SK_CFG_REF + 1];
        int n;
    } reference;
} sk_config;

/* Parse a config file (defaults for absent keys), apply `--set` overrides
 * (each "key=value", value in YAML flow syntax), fill derived defaults, and
 * validate. On error returns SK_ECONFIG with "FILE:LINE:COL: message". */
SK_MUST_CHECK sk_status sk_config_load(sk_config *cfg, const char *path, const char *const *sets, int n_sets);
/* Defaults only (no file); `name` becomes cfg->name. */
void sk_config_defaults(sk_config *cfg, const char *name);
/* Derived defaults (paths) and cross-key checks; called by sk_config_load. */
SK_MUST_CHECK sk_status sk_config_finalize(sk_config *cfg, const char *origin);
/* The resolved config as YAML that sk_config_load accepts unchanged. */
SK_MUST_CHECK sk_status sk_config_write_yaml(const sk_config *cfg, FILE *out);
/* Same, into a malloc'd string. */
char *sk_config_to_yaml(const sk_config *cfg);
/* Sweep item i (0 <= i < cfg->sweep.n) of a finalized config: a copy
 * without the sweep, with sweep.key set to values[i], output
 * <output>/<labels[i]> and the paths that were derived from the output
 * (models.*.weights) or from the data set re-derived; finalized, so errors
 * of the combination are reported ("sweep item LABEL: ..."). */
SK_MUST_CHECK sk_status sk_config_sweep_item(const sk_config *cfg, int i, sk_config *out);
/* Repetitions (cfg/repeat.c). Their number: repeat_seeds' length when
 * given, else repeat. Repetition r's seeds: the run seed is seed + r; the
 * endpoints' are repeat_seeds[r] when given, else models.a.seed + k r and
 * models.b.seed + k r with the stride k = 2 |models.b.seed - models.a.seed|
 * (1 when they are equal), so that no seed of A in one repetition is the
 * seed of B in another. Repetition 0 of the rule is the config itself. */
int sk_config_n_repetitions(const sk_config *cfg);
void sk_config_repetition_seeds(const sk_config *cfg, int r, long long *seed, long long *a, long long *b);
/* Repetition r (0 <= r < sk_config_n_repetitions) of a finalized config
 * without a sweep (a sweep item is one): a copy with those seeds, repeat 1,
 * no repeat_seeds, output <output>/rep<r> and the weights paths derived
 * from the output re-derived; finalized. */
SK_MUST_CHECK sk_status sk_config_repetition(const sk_config *cfg, int r, sk_config *out);
/* The value of one key as it is printed in the resolved config (e.g. "[512, 512]"
 * for model.hidden); SK_EINVAL for a key not in the schema. */
SK_MUST_CHECK sk_status sk_config_value_text(const sk_config *cfg, const char *key, char *buf, size_t n);
/* The index in cfg->reference.entries of the entry named `name`
 * ("endpoints", "naive", "sinkhorn_mid", ...), or -1 (also when the config
 * has no reference section). */
int sk_config_reference_find(const sk_config *cfg, const char *name);
/* The dropout endpoint e (0 = A, 1 = B) trains with: models.X.dropout when
 * set (>= 0), else model.dropout. */
double sk_config_endpoint_dropout(const sk_config *cfg, int e);
/* dataset.path when not given, by dataset.name ("" for the polynomial toy). */
const char *sk_cfg_default_data_dir(sk_ds_kind k);
/* The model section as YAML text (for the weights file's `arch` attribute). */
char *sk_config_model_yaml(const sk_config *cfg);

/* Choice names, for printing: static strings, "?" when out of range. */
const char *sk_mode_name(int mode);
const char *sk_method_name(int m);
const char *sk_cost_name(int c);
const char *sk_split_name(int s);
const char *sk_cfg_choice(const char *key, int index); /* any choice key, e.g. "model.arch" */

/* Schema introspection (docs tests): number of keys, and key i's full name,
 * type text, default text and description. */
int sk_config_n_keys(void);
void sk_config_key_info(int i, const char **key, const char **type, const char **def, const char **doc);

#endif
