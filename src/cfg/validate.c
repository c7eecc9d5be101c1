/* validate.c - the checks of a whole config, cross-key rules included, shared
 * by `check` and `run`: derived paths and defaults, names, data, model,
 * training and continual constraints, each error at the position of the key
 * given last. */
#include "cfg/parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"

typedef struct {
    const char *origin;        /* the config: errors of keys not given */
    const char *item;          /* "sweep item L (k = v)", or NULL */
    const sk_cfg_where *where; /* positions, or NULL */
} vctx;

#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* An SK_ECONFIG error at the position of the key of `keys` (NULL-terminated)
 * given last: "FILE:LINE:COL: msg", "--set K=V: msg", or "ORIGIN: msg" when
 * none was given. */
static sk_status key_err(const vctx *v, const char *const *keys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static sk_status key_err(const vctx *v, const char *const *keys, const char *fmt, ...)
{
    const sk_cfg_pos *best = NULL;
    char msg[2048], at[SK_CFG_PATH + 400];
    va_list ap;
    for (; v->where && *keys; keys++) {
        const sk_cfg_key *k = sk_cfg_find(*keys);
        const sk_cfg_pos *p = k ? &v->where->key[k - sk_cfg_schema] : NULL;
        if (p && p->seq > (best ? best->seq : 0)) best = p;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sk_cfg_pos_text(v->where, best, v->origin, at, sizeof at);
    if (v->item) return sk_err(SK_ECONFIG, "%s: %s: %s", at, v->item, msg);
    return sk_err(SK_ECONFIG, "%s: %s", at, msg);
}

/* The name is a folder name under results/: never ".", "..", hidden, or
 * with a '/'. */
static sk_status check_name(const vctx *v, const sk_config *cfg)
{
    const sk_cfg_key *k = sk_cfg_find("name");
    int given = v->where && v->where->key[k - sk_cfg_schema].seq;
    const char *from = v->where && !given ? " (the config file's name; set name: in the config)" : "";
    if (!cfg->name[0]) return key_err(v, KEYS("name"), "name must not be empty");
    for (const char *p = cfg->name; *p; p++)
        if (!sk_cfg_name_char(*p))
            return key_err(v, KEYS("name"), "name \"%s\"%s may only contain letters, digits, '_', '-' and '.'",
                           cfg->name, from);
    if (cfg->name[0] == '.')
        return key_err(v, KEYS("name"), "name \"%s\"%s must not start with '.' (it is a folder name: results/<name>/)",
                       cfg->name, from);
    return SK_OK;
}

/* Channels of the images of a data set (0: not images). */
static int ds_channels(sk_ds_kind k)
{
    return k == SK_DS_MNIST || k == SK_DS_FASHION_MNIST ? 1 : k == SK_DS_CIFAR10 || k == SK_DS_CIFAR100 ? 3 : 0;
}

static sk_status check_data(const vctx *v, const sk_config *cfg)
{
    int custom = cfg->dataset.normalize == SK_NORMALIZE_CUSTOM, ch = ds_channels(cfg->dataset.name), n;
    const char *ds = sk_cfg_choice("dataset.name", cfg->dataset.name);
    float mean[3], std[3];
    if (custom && (cfg->dataset.n_mean == 0 || cfg->dataset.n_mean != cfg->dataset.n_std))
        return key_err(v, KEYS("dataset.normalize", "dataset.mean", "dataset.std"),
                       "dataset.normalize custom needs dataset.mean and dataset.std with one value per channel "
                       "each (got %d and %d)",
                       cfg->dataset.n_mean, cfg->dataset.n_std);
    if (!custom && (cfg->dataset.n_mean || cfg->dataset.n_std))
        return key_err(v, KEYS("dataset.normalize", "dataset.mean", "dataset.std"),
                       "dataset.mean and dataset.std are used only with dataset.normalize: custom (got %s)",
                       sk_normalize_names[cfg->dataset.normalize]);
    if (custom && ch && cfg->dataset.n_mean != ch)
        return key_err(v, KEYS("dataset.mean", "dataset.std", "dataset.name"),
                       "dataset.mean and dataset.std have %d value%s but %s images have %d channel%s",
                       cfg->dataset.n_mean, cfg->dataset.n_mean == 1 ? "" : "s", ds, ch, ch == 1 ? "" : "s");
    if (ch && (n = sk_normalize_preset(cfg->dataset.normalize, mean, std)) != 0 && n != ch)
        return key_err(v, KEYS("dataset.normalize", "dataset.name"),
                       "dataset.normalize %s has %d channel%s but %s images have %d",
                       sk_normalize_names[cfg->dataset.normalize], n, n == 1 ? "" : "s", ds, ch);
    if (cfg->dataset.train_limit > 0 && cfg->dataset.validation >= cfg->dataset.train_limit)
        return key_err(v, KEYS("dataset.train_limit", "dataset.validation"),
                       "dataset.validation (%lld) must be smaller than dataset.train_limit (%lld): the validation "
                       "examples are drawn from the training examples kept",
                       (long long)cfg->dataset.validation, (long long)cfg->dataset.train_limit);
    return SK_OK;
}

static sk_status check_model(const vctx *v, const sk_config *cfg)
{
    int conv = cfg->model.arch != SK_ARCH_MLP;
    const char *arch = sk_cfg_choice("model.arch", cfg->model.arch);
    if (conv && cfg->dataset.name == SK_DS_POLYNOMIAL)
        return key_err(v, KEYS("model.arch", "dataset.name"),
                       "model.arch %s needs image data (dataset.name is polynomial)", arch);
    if (conv && ds_channels(cfg->dataset.name) == 1 && cfg->model.arch != SK_ARCH_RESNET20)
        return key_err(v, KEYS("model.arch", "dataset.name"),
                       "model.arch %s needs 32x32 inputs (CIFAR); use mlp or resnet20 for %s", arch,
                       sk_cfg_choice("dataset.name", cfg->dataset.name));
    if (cfg->model.arch == SK_ARCH_RESNET20 && cfg->model.norm == SK_MNORM_NONE)
        return key_err(v, KEYS("model.arch", "model.norm"),
                       "model.arch resnet20 needs model.norm batchnorm or layernorm");
    for (int m = 0; m < 2; m++) {
        static const char *const key[2] = {"models.a.dropout", "models.b.dropout"};
        double p = cfg->models[m].dropout;
        if (!(p == -1 || (p >= 0 && p < 1)))
            return key_err(v, KEYS(key[m]), "%s must be in [0, 1), or -1 for model.dropout (got %g)", key[m], p);
        if (p > 0 && conv)
            return key_err(v, KEYS("model.arch", key[m]), "%s is an MLP option (model.arch is %s)", key[m], arch);
    }
    return SK_OK;
}

static sk_status check_train(const vctx *v, const sk_config *cfg)
{
    if (cfg->train.optimizer == SK_OPT_SGD && cfg->train.nesterov && cfg->train.momentum == 0.0)
        return key_err(v, KEYS("train.optimizer", "train.nesterov", "train.momentum"),
                       "train.nesterov needs train.momentum > 0 (SGD with Nesterov momentum)");
    if (cfg->train.schedule == SK_SCHED_COSINE && cfg->train.warmup_epochs > cfg->train.epochs)
        return key_err(v, KEYS("train.schedule", "train.warmup_epochs", "train.epochs"),
                       "train.warmup_epochs %g is longer than the training (train.epochs %d)", cfg->train.warmup_epochs,
                       cfg->train.epochs);
    if (cfg->train.select == SK_TRAIN_SELECT_BEST_VALIDATION && cfg->dataset.validation == 0)
        return key_err(v, KEYS("train.select", "dataset.validation"),
                       "train.select best_validation needs a validation split: set dataset.validation to the "
                       "number of training examples to hold out");
    return SK_OK;
}

/* The combinations of benchmark, data set and task count that exist (as
 * continual/bench.c checks them on the loaded data). */
static sk_status check_continual(const vctx *v, const sk_config *cfg)
{
    sk_cl_bench_kind b = cfg->continual.benchmark;
    sk_ds_kind ds = cfg->dataset.name;
    const char *bn = sk_cfg_choice("continual.benchmark", b), *dn = sk_cfg_choice("dataset.name", ds);
    if (cfg->mode != SK_MODE_CONTINUAL) return SK_OK;
    if (b == SK_CL_ROTATED || b == SK_CL_PERMUTED) {
        if (ds != SK_DS_MNIST && ds != SK_DS_FASHION_MNIST)
            return key_err(v, KEYS("mode", "continual.benchmark", "dataset.name"),
                           "continual.benchmark %s needs dataset.name mnist or fashion-mnist (got %s)", bn, dn);
    } else {
        sk_ds_kind need = b == SK_CL_SPLIT_CIFAR10 ? SK_DS_CIFAR10 : SK_DS_CIFAR100;
        int max_t = b == SK_CL_SPLIT_CIFAR10 ? 5 : 20;
        if (ds != need)
            return key_err(v, KEYS("mode", "continual.benchmark", "dataset.name"),
                           "continual.benchmark %s needs dataset.name %s (got %s)", bn,
                           sk_cfg_choice("dataset.name", need), dn);
        if (b == SK_CL_SPLIT_CIFAR100 && cfg->dataset.labels != SK_LABELS_FINE)
            return key_err(v, KEYS("mode", "continual.benchmark", "dataset.labels"),
                           "continual.benchmark split-cifar100 needs the 100 fine labels (dataset.labels is %s)",
                           sk_cfg_choice("dataset.labels", cfg->dataset.labels));
        if (cfg->continual.tasks > max_t)
            return key_err(v, KEYS("mode", "continual.benchmark", "continual.tasks"),
                           "continual.benchmark %s has at most %d tasks (continual.tasks is %d)", bn, max_t,
                           cfg->continual.tasks);
    }
    return SK_OK;
}

sk_status sk_cfg_finalize(sk_config *cfg, const char *origin, const char *item, const sk_cfg_where *where)
{
    vctx v = {origin, item, where};
    sk_status st;
    if ((st = check_name(&v, cfg)) != SK_OK) return st;
    if (!cfg->output[0]) snprintf(cfg->output, sizeof cfg->output, "results/%s", cfg->name);
    if (!cfg->dataset.path[0])
        snprintf(cfg->dataset.path, sizeof cfg->dataset.path, "%s", sk_cfg_default_data_dir(cfg->dataset.name));
    for (int m = 0; m < 2; m++)
        if (!cfg->models[m].weights[0]) {
            int k =
                snprintf(cfg->models[m].weights, sizeof cfg->models[m].weights, "%s/model_%c.h5", cfg->output, 'a' + m);
            if (k >= (int)sizeof cfg->models[m].weights) return key_err(&v, KEYS("output"), "output path too long");
        }
    if (!cfg->endpoints.cache[0] && (cfg->sweep.n > 0 || sk_config_n_repetitions(cfg) > 1) &&
        snprintf(cfg->endpoints.cache, sizeof cfg->endpoints.cache, "%s/endpoints", cfg->output) >=
            (int)sizeof cfg->endpoints.cache)
        return key_err(&v, KEYS("output"), "output path too long");
    if (cfg->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = n > 0 ? (int)n : 1;
    }
    /* Cross-key checks: everything the modules would refuse later, found
     * before any work. */
    char msg[256];
    if (sk_cfg_check_repeat(cfg, msg, sizeof msg) != SK_OK)
        return key_err(&v, KEYS("repeat", "repeat_seeds", "seed", "models.a.seed", "models.b.seed"), "%s", msg);
    if ((st = check_data(&v, cfg)) != SK_OK || (st = check_model(&v, cfg)) != SK_OK ||
        (st = check_train(&v, cfg)) != SK_OK || (st = check_continual(&v, cfg)) != SK_OK)
        return st;
    if (cfg->sweep.n > 0) {
        /* Every item must be a valid config on its own, before any work. */
        sk_config *tmp = sk_alloc(sizeof *tmp);
        if (!tmp) return SK_ENOMEM;
        for (int i = 0; i < cfg->sweep.n && st == SK_OK; i++)
            st = sk_cfg_sweep_item(cfg, i, tmp, origin, where);
        sk_free(tmp);
        return st;
    }
    return SK_OK;
}

sk_status sk_config_finalize(sk_config *cfg, const char *origin)
{
    sk_status st = sk_cfg_finalize(cfg, origin, NULL, NULL);
    return st == SK_OK ? st : sk_cfg_clean_msg(st);
}
