/* config.c - schema-driven YAML config: parse, override, validate, print. */
#include "io/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "core/mem.h"

typedef enum { T_STR, T_INT, T_FLOAT, T_BOOL, T_ENUM, T_INTLIST, T_ENUMLIST } ktype;

typedef struct {
    const char *key;      /* full dotted name */
    ktype type;
    size_t off;           /* value offset in sk_config */
    size_t cnt_off;       /* lists: offset of the element count */
    size_t size;          /* strings: buffer size */
    const char *def;      /* default, as YAML text */
    double min, max;      /* numbers, list elements: inclusive range */
    int min_excl;         /* 1: value must be > min */
    const char *choices;  /* enums: "a|b|c"; aliases after a ';': "true=auto,false=unit" */
    const char *doc;
} key_t_;

#define OFF(f) offsetof(sk_config, f)
#define SZ(f) sizeof(((sk_config *)0)->f)
#define BIG 1e300
#define STR(k, f, d, doc) {k, T_STR, OFF(f), 0, SZ(f), d, 0, 0, 0, NULL, doc}
#define INT(k, f, d, lo, hi, doc) {k, T_INT, OFF(f), 0, 0, d, lo, hi, 0, NULL, doc}
#define FLT(k, f, d, lo, hi, ex, doc) {k, T_FLOAT, OFF(f), 0, 0, d, lo, hi, ex, NULL, doc}
#define BOOL(k, f, d, doc) {k, T_BOOL, OFF(f), 0, 0, d, 0, 1, 0, NULL, doc}
#define ENUM(k, f, d, ch, doc) {k, T_ENUM, OFF(f), 0, 0, d, 0, 0, 0, ch, doc}
#define ILIST(k, f, n, d, lo, hi, doc) {k, T_INTLIST, OFF(f), OFF(n), 0, d, lo, hi, 0, NULL, doc}
#define ELIST(k, f, n, d, ch, doc) {k, T_ENUMLIST, OFF(f), OFF(n), 0, d, 0, 0, 0, ch, doc}

/* The order here is the order of the resolved config and of the man page. */
static const key_t_ schema[] = {
    STR("name", name, "\"\"", "experiment name; results go to results/<name>/ (default: the config file's base name)"),
    INT("seed", seed, "1", 0, 9.2e18, "seed of every random choice in the run (data order, inits, group orders)"),
    ENUM("mode", mode, "train", "train|weight_matching|activation_matching|sinkhorn|continual",
         "what the run does; train only trains/saves the endpoints"),
    INT("threads", threads, "0", 0, 1024, "threads for BLAS and OpenMP loops; 0 = one per CPU core"),
    STR("output", output, "\"\"", "results folder (default results/<name>); -o overrides it"),

    ENUM("dataset.name", dataset.name, "mnist", "mnist|fashion-mnist|cifar10|cifar100|polynomial", "data set"),
    STR("dataset.path", dataset.path, "\"\"", "folder holding the official files (default datasets/<dataset.name>)"),
    ENUM("dataset.normalize", dataset.normalize, "auto", "auto|unit|standard;true=auto,false=unit",
         "pixel scaling: unit = [0,1]; standard = per-channel mean/std of the training split; auto = standard for CIFAR, unit for MNIST"),
    BOOL("dataset.augment", dataset.augment, "false", "CIFAR training augmentation: random crop (4-pixel padding) and horizontal flip"),
    ENUM("dataset.labels", dataset.labels, "fine", "fine|coarse", "CIFAR-100 label set"),
    INT("dataset.train_limit", dataset.train_limit, "0", 0, 9.2e18, "use only the first N training examples (0 = all)"),
    INT("dataset.test_limit", dataset.test_limit, "0", 0, 9.2e18, "use only the first N test examples (0 = all)"),
    INT("dataset.degree", dataset.degree, "1", 1, 3, "polynomial toy: degree 1, 2 or 3"),
    INT("dataset.points", dataset.points, "100", 2, 1e7, "polynomial toy: number of points"),
    FLT("dataset.noise", dataset.noise, "0.05", 0, BIG, 0, "polynomial toy: Gaussian noise standard deviation"),

    ENUM("model.arch", model.arch, "mlp", "mlp|vgg11|vgg13|vgg16|vgg19|resnet20", "architecture"),
    ILIST("model.hidden", model.hidden, model.n_hidden, "[512, 512, 512]", 1, 1e6, "MLP hidden widths"),
    ENUM("model.activation", model.activation, "relu", "relu|tanh", "MLP activation"),
    ENUM("model.norm", model.norm, "none", "none|batchnorm|layernorm", "normalisation after each conv (conv nets)"),
    FLT("model.width", model.width, "1", 0, 1024, 1, "width multiplier of conv nets"),
    ENUM("model.head", model.head, "gitrebasin", "gitrebasin|linear",
         "VGG classifier: gitrebasin = Linear-ReLU-Linear-ReLU-Linear (512w units), linear = one Linear"),
    FLT("model.dropout", model.dropout, "0", 0, 1, 0, "MLP dropout probability after each hidden activation"),

    STR("models.a.weights", models[0].weights, "\"\"", "endpoint A weights (HDF5); trained and saved when absent (default <output>/model_a.h5)"),
    INT("models.a.seed", models[0].seed, "1", 0, 9.2e18, "seed of endpoint A's initialisation and data order"),
    BOOL("models.a.train", models[0].train, "true",
         "train A when its weights file is absent; false = save and use its seeded initialisation (untrained)"),
    STR("models.b.weights", models[1].weights, "\"\"", "endpoint B weights (default <output>/model_b.h5)"),
    INT("models.b.seed", models[1].seed, "2", 0, 9.2e18, "seed of endpoint B"),
    BOOL("models.b.train", models[1].train, "true",
         "train B when its weights file is absent; false = its seeded initialisation (ignored when planted)"),
    BOOL("models.b.planted", models[1].planted, "false",
         "planted-permutation recovery: B is a random permutation of A (drawn from models.b.seed), not trained"),
    FLT("models.b.noise", models[1].noise, "0", 0, BIG, 0,
        "planted B: standard deviation of Gaussian noise added to every parameter after permuting"),

    INT("train.epochs", train.epochs, "10", 1, 1e6, "training epochs"),
    INT("train.batch_size", train.batch_size, "500", 1, 1e6, "minibatch size"),
    INT("train.eval_batch_size", train.eval_batch_size, "1000", 1, 1e6, "batch size of evaluation passes"),
    ENUM("train.optimizer", train.optimizer, "adam", "sgd|adam|adamw", "optimiser"),
    FLT("train.lr", train.lr, "0.001", 0, BIG, 1, "learning rate"),
    FLT("train.momentum", train.momentum, "0.9", 0, 1, 0, "SGD momentum"),
    BOOL("train.nesterov", train.nesterov, "false", "SGD Nesterov momentum"),
    FLT("train.weight_decay", train.weight_decay, "0", 0, BIG, 0, "weight decay (L2 for sgd/adam, decoupled for adamw)"),
    FLT("train.beta1", train.beta1, "0.9", 0, 1, 0, "Adam beta1"),
    FLT("train.beta2", train.beta2, "0.999", 0, 1, 0, "Adam beta2"),
    FLT("train.eps", train.eps, "1e-08", 0, BIG, 1, "Adam epsilon"),
    ENUM("train.schedule", train.schedule, "constant", "constant|cosine|step|exponential", "learning-rate schedule"),
    FLT("train.warmup_epochs", train.warmup_epochs, "0", 0, 1e6, 0, "cosine: linear warm-up length in epochs"),
    INT("train.step_epochs", train.step_epochs, "30", 1, 1e6, "step: multiply the lr by gamma every this many epochs"),
    FLT("train.gamma", train.gamma, "0.1", 0, 1, 1, "step/exponential decay factor (exponential: per epoch)"),
    FLT("train.clip_norm", train.clip_norm, "0", 0, BIG, 0, "clip the gradient's global L2 norm (0 = off)"),

    ELIST("align.methods", align.methods, align.n_methods, "[weight_matching, activation_matching]",
          "weight_matching|activation_matching|ste|sinkhorn", "alignment methods compared in one run"),
    INT("weight_matching.max_iter", weight_matching.max_iter, "100", 1, 1e6, "weight matching: maximum passes over the groups"),
    INT("activation_matching.samples", activation_matching.samples, "0", 0, 9.2e18, "training examples for the statistics (0 = all)"),
    ENUM("activation_matching.cost", activation_matching.cost, "inner_product", "inner_product|correlation",
         "activation similarity"),
    INT("activation_matching.batch_size", activation_matching.batch_size, "1000", 1, 1e6, "batch size of the statistics pass"),

    ELIST("sinkhorn.costs", sinkhorn.costs, sinkhorn.n_costs, "[l2, mid, rnd]", "l2|l1|cosine|mid|rnd",
          "Sinkhorn re-basin costs (one aligned model per cost)"),
    FLT("sinkhorn.tau", sinkhorn.tau, "1", 0, BIG, 1, "Sinkhorn temperature"),
    INT("sinkhorn.iterations", sinkhorn.iterations, "20", 1, 1e6, "Sinkhorn iterations"),
    FLT("sinkhorn.scale", sinkhorn.scale, "1", 0, BIG, 1, "scale l of the cost C = -l X"),
    INT("sinkhorn.epochs", sinkhorn.epochs, "20", 1, 1e6,
        "data costs (mid, rnd): epochs over the training data; data-free costs: rounds after which the hard cost is measured"),
    INT("sinkhorn.steps", sinkhorn.steps, "1000", 1, 1e8, "optimisation steps (data-free costs l2, l1, cosine)"),
    FLT("sinkhorn.lr", sinkhorn.lr, "0.1", 0, BIG, 1, "AdamW learning rate on the matrices"),
    FLT("sinkhorn.weight_decay", sinkhorn.weight_decay, "0.01", 0, BIG, 0, "AdamW weight decay on the matrices"),
    FLT("sinkhorn.eps", sinkhorn.eps, "1e-08", 0, BIG, 1,
        "AdamW epsilon; data-free costs of large, small-weight models (untrained VGGs) have gradients below "
        "1e-8 per matrix entry, which the default epsilon damps: use 1e-12 there"),
    ENUM("sinkhorn.init", sinkhorn.init, "perturbed-identity", "perturbed-identity|identity|random-permutation",
         "initial matrices: I + 0.1 N(0,1), I, or a random permutation"),
    INT("sinkhorn.batch_size", sinkhorn.batch_size, "500", 1, 1e6, "minibatch size of data costs"),
    INT("sinkhorn.eval_batches", sinkhorn.eval_batches, "8", 0, 1e9,
        "data costs: training batches on which the hard permutation's cost is measured after each epoch (0 = all)"),

    INT("ste.epochs", ste.epochs, "10", 1, 1e6, "straight-through estimator: epochs over the training data"),
    FLT("ste.lr", ste.lr, "0.01", 0, BIG, 1, "straight-through estimator: SGD learning rate"),
    FLT("ste.momentum", ste.momentum, "0.9", 0, 1, 0, "straight-through estimator: SGD momentum"),
    INT("ste.eval_batches", ste.eval_batches, "8", 0, 1e9,
        "straight-through estimator: batches on which each epoch's permutation is scored (0 = all)"),

    INT("interpolation.points", interpolation.points, "25", 2, 1e5, "lambda values in [0,1], both ends included"),
    ELIST("interpolation.splits", interpolation.splits, interpolation.n_splits, "[train, test]", "train|test",
          "splits evaluated along the path"),
    ENUM("interpolation.bn_reset", interpolation.bn_reset, "auto", "auto|recompute|none",
         "re-estimate BatchNorm statistics at each lambda (auto = when the model has BatchNorm)"),

    ENUM("continual.benchmark", continual.benchmark, "rotated-mnist",
         "rotated-mnist|permuted-mnist|split-cifar10|split-cifar100",
         "task sequence (rotated/permuted use dataset.name: mnist or fashion-mnist)"),
    INT("continual.tasks", continual.tasks, "20", 1, 1000, "number of tasks (split benchmarks: at most 5 / 20)"),
    ENUM("continual.angles", continual.angles, "linspace", "linspace|step",
         "rotated: angles linspace(0, 180, tasks), or continual.step degrees apart"),
    FLT("continual.step", continual.step, "9", 0, 360, 0, "rotated with angles step: degrees between tasks"),
    ELIST("continual.methods", continual.methods, continual.n_methods, "[finetune, ewc, replay, agem, joint, rebasin]",
          "finetune|ewc|replay|agem|joint|rebasin", "continual-learning methods compared in one run"),
    INT("continual.epochs", continual.epochs, "5", 1, 1e6, "epochs per task"),
    INT("continual.batch_size", continual.batch_size, "500", 1, 1e6, "minibatch size"),
    ENUM("continual.optimizer", continual.optimizer, "adamw", "sgd|adam|adamw", "optimiser of the model's own training"),
    FLT("continual.lr", continual.lr, "0.001", 0, BIG, 1, "learning rate of the model's own training"),
    FLT("continual.momentum", continual.momentum, "0.9", 0, 1, 0, "SGD momentum"),
    FLT("continual.weight_decay", continual.weight_decay, "0.01", 0, BIG, 0, "weight decay of the model's own training"),
    INT("continual.memory_per_class", continual.memory_per_class, "5", 0, 1e6,
        "episodic memory: examples per class per task (replay, agem, rebasin)"),
    FLT("continual.ewc_lambda", continual.ewc_lambda, "100", 0, BIG, 0, "EWC penalty strength"),
    INT("continual.fisher_samples", continual.fisher_samples, "1000", 1, 1e9, "EWC: examples for the diagonal Fisher"),
    FLT("continual.rebasin.lr", continual.rebasin.lr, "0.1", 0, BIG, 1, "rebasin: AdamW learning rate of the Sinkhorn matrices"),
    FLT("continual.rebasin.tau", continual.rebasin.tau, "1", 0, BIG, 1, "rebasin: Sinkhorn temperature"),
    INT("continual.rebasin.iterations", continual.rebasin.iterations, "20", 1, 1e6, "rebasin: Sinkhorn iterations"),
    FLT("continual.rebasin.delta_lr", continual.rebasin.delta_lr, "0.05", 0, BIG, 1, "rebasin: SGD learning rate of the residual"),
    FLT("continual.rebasin.delta_weight_decay", continual.rebasin.delta_weight_decay, "0.1", 0, BIG, 0,
        "rebasin: weight decay of the residual"),
    FLT("continual.rebasin.delta_clip", continual.rebasin.delta_clip, "0.001", 0, BIG, 0,
        "rebasin: clip residual gradients to this absolute value"),
    FLT("continual.rebasin.delta_init_std", continual.rebasin.delta_init_std, "0.0001", 0, BIG, 0,
        "rebasin: standard deviation of the residual's initialisation"),
    FLT("continual.rebasin.alpha", continual.rebasin.alpha, "0.8", 0, 1, 0,
        "rebasin: update theta = alpha theta + (1 - alpha) pi(theta) + delta"),
};
#define N_KEYS ((int)(sizeof schema / sizeof schema[0]))

/* ---- choices ------------------------------------------------------------ */

/* The i-th choice of "a|b|c;aliases" into buf; 0 if out of range. */
static int choice_at(const char *choices, int i, char *buf, size_t n)
{
    const char *p = choices;
    for (int k = 0; k < i; k++) {
        p = strpbrk(p, "|;");
        if (!p || *p == ';') return 0;
        p++;
    }
    size_t len = strcspn(p, "|;");
    if (len + 1 > n) len = n - 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    return 1;
}

static int choice_index(const char *choices, const char *s)
{
    char buf[64];
    for (int i = 0; choice_at(choices, i, buf, sizeof buf); i++)
        if (strcmp(buf, s) == 0) return i;
    const char *al = strchr(choices, ';');
    if (al) {
        /* aliases "from=to,from=to" */
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", al + 1);
        for (char *save = NULL, *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            if (!eq) continue;
            *eq = '\0';
            if (strcmp(tok, s) == 0) return choice_index(choices, eq + 1);
        }
    }
    return -1;
}

static void choices_text(const char *choices, char *buf, size_t n)
{
    char c[64];
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; choice_at(choices, i, c, sizeof c) && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : "", c);
}

static int levenshtein(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

/* "; did you mean \"x\"?" for the closest choice within distance 2, else "". */
static void suggest(const char *choices, const char *s, char *buf, size_t n)
{
    char c[64], best[64] = "";
    int bd = 3;
    buf[0] = '\0';
    for (int i = 0; choice_at(choices, i, c, sizeof c); i++) {
        int d = levenshtein(c, s);
        if (d < bd) { bd = d; snprintf(best, sizeof best, "%s", c); }
    }
    if (best[0]) snprintf(buf, n, "; did you mean \"%s\"?", best);
}

/* ---- setting values ------------------------------------------------------ */

typedef struct {
    const char *origin;       /* file name, or "--set key=value" */
    int is_set;               /* origin is a --set argument (no line:col) */
} ctx_t;

static sk_status node_err(const ctx_t *cx, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sk_status node_err(const ctx_t *cx, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cx->is_set || !node)
        return sk_err(SK_ECONFIG, "%s: %s", cx->origin, msg);
    return sk_err(SK_ECONFIG, "%s:%zu:%zu: %s", cx->origin, node->start_mark.line + 1,
                  node->start_mark.column + 1, msg);
}

static const char *scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int parse_ll(const char *s, long long *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) {
        /* Accept integral floats written like 1e3 or 1000.0. */
        double d = strtod(s, &end);
        if (*end || !isfinite(d) || d != floor(d) || fabs(d) > 9.2e18) return -1;
        v = (long long)d;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    double d = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

static void range_text(const key_t_ *k, char *buf, size_t n)
{
    int hi = k->max < 1e17;
    if (k->type == T_FLOAT) {
        if (hi) snprintf(buf, n, "a number %s %g and <= %g", k->min_excl ? ">" : ">=", k->min, k->max);
        else snprintf(buf, n, "a number %s %g", k->min_excl ? ">" : ">=", k->min);
    } else {
        if (hi) snprintf(buf, n, "an integer in %lld..%lld", (long long)k->min, (long long)k->max);
        else snprintf(buf, n, "an integer >= %lld", (long long)k->min);
    }
}

static int in_range(const key_t_ *k, double v)
{
    if (k->min_excl ? !(v > k->min) : !(v >= k->min)) return 0;
    return v <= k->max;
}

/* Set one enum/int element from a scalar node; `what` names it in errors. */
static sk_status set_elem(const ctx_t *cx, const key_t_ *k, const yaml_node_t *n, int *out)
{
    const char *s = scalar(n);
    char want[512], sug[96];
    if (k->type == T_ENUMLIST || k->type == T_ENUM) {
        choices_text(k->choices, want, sizeof want);
        if (!s) return node_err(cx, n, "%s entries must be one of %s", k->key, want);
        int i = choice_index(k->choices, s);
        if (i < 0) {
            suggest(k->choices, s, sug, sizeof sug);
            return node_err(cx, n, "%s must be one of %s (got \"%s\")%s", k->key, want, s, sug);
        }
        *out = i;
        return SK_OK;
    }
    long long v;
    range_text(k, want, sizeof want);
    if (!s || parse_ll(s, &v) != 0 || !in_range(k, (double)v))
        return node_err(cx, n, "%s entries must be %s (got %s%s%s)", k->key, want, s ? "\"" : "",
                        s ? s : "a collection", s ? "\"" : "");
    *out = (int)v;
    return SK_OK;
}

static sk_status set_key(sk_config *cfg, const ctx_t *cx, const key_t_ *k, yaml_document_t *doc,
                         yaml_node_t *n)
{
    char *base = (char *)cfg;
    const char *s = scalar(n);
    char want[512];
    switch (k->type) {
    case T_STR:
        if (!s) return node_err(cx, n, "%s must be a string", k->key);
        if (strlen(s) >= k->size)
            return node_err(cx, n, "%s is too long (at most %zu characters)", k->key, k->size - 1);
        snprintf(base + k->off, k->size, "%s", s);
        return SK_OK;
    case T_INT: {
        long long v;
        range_text(k, want, sizeof want);
        if (!s || parse_ll(s, &v) != 0)
            return node_err(cx, n, "%s must be %s (got %s%s%s)", k->key, want, s ? "\"" : "",
                            s ? s : "a collection", s ? "\"" : "");
        if (!in_range(k, (double)v))
            return node_err(cx, n, "%s must be %s (got %lld)", k->key, want, v);
        if (k->max <= 2147483647.0) *(int *)(base + k->off) = (int)v;
        else *(long long *)(base + k->off) = v;
        return SK_OK;
    }
    case T_FLOAT: {
        double v;
        range_text(k, want, sizeof want);
        if (!s || parse_double(s, &v) != 0)
            return node_err(cx, n, "%s must be %s (got %s%s%s)", k->key, want, s ? "\"" : "",
                            s ? s : "a collection", s ? "\"" : "");
        if (!in_range(k, v)) return node_err(cx, n, "%s must be %s (got %s)", k->key, want, s);
        *(double *)(base + k->off) = v;
        return SK_OK;
    }
    case T_BOOL: {
        static const char *yes[] = {"true", "True", "TRUE", "yes", "on", NULL};
        static const char *no[] = {"false", "False", "FALSE", "no", "off", NULL};
        for (int i = 0; s && yes[i]; i++)
            if (!strcmp(s, yes[i])) { *(int *)(base + k->off) = 1; return SK_OK; }
        for (int i = 0; s && no[i]; i++)
            if (!strcmp(s, no[i])) { *(int *)(base + k->off) = 0; return SK_OK; }
        return node_err(cx, n, "%s must be true or false (got %s%s%s)", k->key, s ? "\"" : "",
                        s ? s : "a collection", s ? "\"" : "");
    }
    case T_ENUM:
        return set_elem(cx, k, n, (int *)(base + k->off));
    case T_INTLIST:
    case T_ENUMLIST: {
        int *arr = (int *)(base + k->off), *cnt = (int *)(base + k->cnt_off);
        int tmp[SK_CFG_LIST], m = 0;
        if (n->type == YAML_SCALAR_NODE) {
            /* A single value is a one-element list. */
            sk_status st = set_elem(cx, k, n, &tmp[0]);
            if (st != SK_OK) return st;
            m = 1;
        } else if (n->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
                yaml_node_t *e = yaml_document_get_node(doc, *it);
                if (m == SK_CFG_LIST) return node_err(cx, e, "%s has more than %d entries", k->key, SK_CFG_LIST);
                sk_status st = set_elem(cx, k, e, &tmp[m]);
                if (st != SK_OK) return st;
                for (int j = 0; k->type == T_ENUMLIST && j < m; j++)
                    if (tmp[j] == tmp[m]) return node_err(cx, e, "%s lists \"%s\" twice", k->key, scalar(e));
                m++;
            }
        } else {
            return node_err(cx, n, "%s must be a list such as %s", k->key, k->def);
        }
        if (m == 0) return node_err(cx, n, "%s must not be empty", k->key);
        memcpy(arr, tmp, (size_t)m * sizeof(int));
        *cnt = m;
        return SK_OK;
    }
    }
    return SK_OK;
}

static const key_t_ *find_key(const char *full)
{
    for (int i = 0; i < N_KEYS; i++)
        if (strcmp(schema[i].key, full) == 0) return &schema[i];
    return NULL;
}

/* Is `prefix` (e.g. "models.a") a section that has keys under it? */
static int is_section(const char *prefix)
{
    size_t n = strlen(prefix);
    for (int i = 0; i < N_KEYS; i++)
        if (strncmp(schema[i].key, prefix, n) == 0 && schema[i].key[n] == '.') return 1;
    return 0;
}

/* Keys directly under `prefix` ("" for the top level), as "a, b, c", and the
 * closest one to `name` (within edit distance 2) in `best`. */
static void keys_under(const char *prefix, const char *name, char *list, size_t n, char *best, size_t bn)
{
    char parts[N_KEYS][64];
    int np = 0, bd = 3;
    size_t pl = strlen(prefix), k = 0;
    list[0] = best[0] = '\0';
    for (int i = 0; i < N_KEYS; i++) {
        const char *key = schema[i].key;
        if (pl && (strncmp(key, prefix, pl) != 0 || key[pl] != '.')) continue;
        const char *rest = pl ? key + pl + 1 : key;
        size_t len = strcspn(rest, ".");
        if (len >= sizeof parts[0]) continue;
        int dup = 0;
        for (int j = 0; j < np; j++)
            if (strlen(parts[j]) == len && !strncmp(parts[j], rest, len)) dup = 1;
        if (dup) continue;
        memcpy(parts[np], rest, len);
        parts[np][len] = '\0';
        if (k < n) k += (size_t)snprintf(list + k, n - k, "%s%s", np ? ", " : "", parts[np]);
        int d = levenshtein(parts[np], name);
        if (d < bd && bn > len) {
            bd = d;
            memcpy(best, parts[np], len + 1);
        }
        np++;
    }
    if (!pl) {
        /* The sweep section is not in the schema table. */
        if (k < n) snprintf(list + k, n - k, ", sweep");
        if (levenshtein("sweep", name) < bd && bn > 5) snprintf(best, bn, "sweep");
    }
}

static sk_status parse_sweep(sk_config *cfg, const ctx_t *cx, yaml_document_t *doc, yaml_node_t *map);

static sk_status walk_mapping(sk_config *cfg, const ctx_t *cx, yaml_document_t *doc, yaml_node_t *map,
                              const char *prefix, unsigned char *seen)
{
    int sweep_seen = 0;
    if (map->type != YAML_MAPPING_NODE) {
        if (*prefix) return node_err(cx, map, "%s must be a mapping of keys (a section)", prefix);
        return node_err(cx, map, "the config must be a mapping of keys (name: ..., mode: ..., ...)");
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        const char *name = scalar(kn);
        char full[256], list[1024], best[64];
        if (!name) return node_err(cx, kn, "keys must be plain names");
        snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", name);
        const key_t_ *k = find_key(full);
        if (!*prefix && !strcmp(name, "sweep")) {
            if (sweep_seen++) return node_err(cx, kn, "duplicate key sweep");
            sk_status st = parse_sweep(cfg, cx, doc, vn);
            if (st != SK_OK) return st;
        } else if (k) {
            int idx = (int)(k - schema);
            if (seen[idx]) return node_err(cx, kn, "duplicate key %s", full);
            seen[idx] = 1;
            sk_status st = set_key(cfg, cx, k, doc, vn);
            if (st != SK_OK) return st;
        } else if (is_section(full)) {
            sk_status st = walk_mapping(cfg, cx, doc, vn, full, seen);
            if (st != SK_OK) return st;
        } else {
            keys_under(prefix, name, list, sizeof list, best, sizeof best);
            if (best[0])
                return node_err(cx, kn, "unknown key \"%s\"%s%s (did you mean \"%s\"?)", name,
                                *prefix ? " in section " : "", prefix, best);
            return node_err(cx, kn, "unknown key \"%s\"%s%s (expected one of: %s)", name,
                            *prefix ? " in section " : "", prefix, list);
        }
    }
    return SK_OK;
}

/* Parse YAML text into a document; syntax errors name origin:line:col. */
static sk_status load_doc(const ctx_t *cx, const unsigned char *text, size_t len, yaml_document_t *doc)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return sk_err(SK_ENOMEM, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&parser, text, len);
    if (!yaml_parser_load(&parser, doc)) {
        sk_status st;
        if (cx->is_set)
            st = sk_err(SK_ECONFIG, "%s: YAML syntax error: %s", cx->origin,
                        parser.problem ? parser.problem : "invalid value");
        else
            st = sk_err(SK_ECONFIG, "%s:%zu:%zu: YAML syntax error: %s%s%s", cx->origin,
                        parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "invalid document",
                        parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_parser_delete(&parser);
    return SK_OK;
}

static sk_status set_default(sk_config *cfg, const key_t_ *k)
{
    yaml_document_t doc;
    ctx_t cx = {"(built-in default)", 1};
    sk_status st = load_doc(&cx, (const unsigned char *)k->def, strlen(k->def), &doc);
    if (st != SK_OK) return st;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    st = root ? set_key(cfg, &cx, k, &doc, root) : sk_err(SK_ECONFIG, "empty default for %s", k->key);
    yaml_document_delete(&doc);
    return st;
}

void sk_config_defaults(sk_config *cfg, const char *name)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < N_KEYS; i++) set_default(cfg, &schema[i]);
    if (name) snprintf(cfg->name, sizeof cfg->name, "%s", name);
}

static void stem_of(const char *path, char *out, size_t n)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t len = strcspn(b, ".");
    if (len == 0) len = strlen(b);
    if (len >= n) len = n - 1;
    memcpy(out, b, len);
    out[len] = '\0';
}

/* ---- sweep ------------------------------------------------------------------ */

static int plain_safe(const char *s);

/* s as a YAML double-quoted scalar. */
static void quote_str(const char *s, char *buf, size_t n)
{
    size_t j = 0;
    buf[j++] = '"';
    for (; *s && j + 8 < n; s++) {
        if (*s == '"' || *s == '\\') { buf[j++] = '\\'; buf[j++] = *s; }
        else if ((unsigned char)*s < 0x20) j += (size_t)snprintf(buf + j, n - j, "\\x%02x", (unsigned char)*s);
        else buf[j++] = *s;
    }
    buf[j++] = '"';
    buf[j] = '\0';
}

/* A value node already accepted by set_key as YAML flow text: a scalar, or a
 * flat sequence of scalars (the only shapes the schema's types take). */
static int flow_text(const key_t_ *k, yaml_document_t *doc, yaml_node_t *n, char *buf, size_t len)
{
    size_t j = 0;
    if (n->type == YAML_SCALAR_NODE) {
        if (k->type == T_STR) quote_str(scalar(n), buf, len);
        else snprintf(buf, len, "%s", scalar(n));
        return strlen(buf) + 1 < len;
    }
    j += (size_t)snprintf(buf, len, "[");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top && j < len; it++) {
        yaml_node_t *e = yaml_document_get_node(doc, *it);
        j += (size_t)snprintf(buf + j, len - j, "%s%s", it > n->data.sequence.items.start ? ", " : "", scalar(e));
    }
    if (j < len) j += (size_t)snprintf(buf + j, len - j, "]");
    return j + 1 < len;
}

/* Characters allowed in `name` and in sweep labels (folder names). */
static int name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

static int label_ok(const char *s)
{
    if (!*s || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!name_char(*s)) return 0;
    return 1;
}

/* Default labels: the value text with brackets and blanks dropped, commas as
 * '-', anything else unsafe in a folder name as '_'; made unique by a suffix. */
static void default_labels(sk_config *cfg)
{
    for (int i = 0; i < cfg->sweep.n; i++) {
        char *l = cfg->sweep.labels[i];
        size_t j = 0;
        for (const char *p = cfg->sweep.values[i]; *p && j + 1 < sizeof cfg->sweep.labels[0] - 4; p++) {
            if (*p == '[' || *p == ']' || *p == ' ' || *p == '"') continue;
            l[j++] = *p == ',' ? '-' : name_char(*p) ? *p : '_';
        }
        l[j] = '\0';
        if (!label_ok(l)) snprintf(l, sizeof cfg->sweep.labels[0], "item%d", i + 1);
        for (int k = 0; k < i; k++)
            if (!strcmp(cfg->sweep.labels[k], l)) {
                snprintf(l + j, sizeof cfg->sweep.labels[0] - j, "-%d", i + 1);
                break;
            }
    }
}

/* One of sweep.key / sweep.values / sweep.labels (`sub`) from a node. */
static sk_status sweep_set(sk_config *cfg, const ctx_t *cx, yaml_document_t *doc, const char *sub, yaml_node_t *n)
{
    if (!strcmp(sub, "key")) {
        const char *s = scalar(n);
        const key_t_ *k = s ? find_key(s) : NULL;
        if (!k) {
            const char *best = NULL;
            int bd = 4;
            for (int i = 0; s && i < N_KEYS; i++) {
                int d = levenshtein(schema[i].key, s);
                if (d < bd) { bd = d; best = schema[i].key; }
            }
            return node_err(cx, n, "sweep.key must name a config key such as model.arch (got %s%s%s)%s%s%s",
                            s ? "\"" : "", s ? s : "a collection", s ? "\"" : "", best ? "; did you mean \"" : "",
                            best ? best : "", best ? "\"?" : "");
        }
        if (!strcmp(s, "name") || !strcmp(s, "output"))
            return node_err(cx, n, "sweep.key cannot be %s: every sweep item writes into <output>/<label>", s);
        if (!strcmp(s, "mode"))
            return node_err(cx, n, "sweep.key cannot be mode: the items of a sweep share one summary table");
        snprintf(cfg->sweep.key, sizeof cfg->sweep.key, "%s", s);
        return SK_OK;
    }
    if (!strcmp(sub, "values")) {
        const key_t_ *k = find_key(cfg->sweep.key);
        if (!k) return node_err(cx, n, "sweep.values needs sweep.key (the config key the values are for)");
        if (n->type != YAML_SEQUENCE_NODE)
            return node_err(cx, n, "sweep.values must be a list of values of %s", k->key);
        sk_config *tmp = sk_alloc(sizeof *tmp);
        sk_status st = SK_OK;
        int m = 0;
        if (!tmp) return SK_ENOMEM;
        /* Cleared first, so a config's bytes depend only on its values. */
        memset(cfg->sweep.values, 0, sizeof cfg->sweep.values);
        memset(cfg->sweep.labels, 0, sizeof cfg->sweep.labels);
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(doc, *it);
            if (m == SK_CFG_SWEEP) { st = node_err(cx, e, "sweep.values has more than %d entries", SK_CFG_SWEEP); break; }
            *tmp = *cfg;
            if ((st = set_key(tmp, cx, k, doc, e)) != SK_OK) break;
            if (!flow_text(k, doc, e, cfg->sweep.values[m], sizeof cfg->sweep.values[0])) {
                st = node_err(cx, e, "sweep value is too long");
                break;
            }
            m++;
        }
        sk_free(tmp);
        if (st != SK_OK) return st;
        cfg->sweep.n = m;   /* an empty list turns the sweep off */
        default_labels(cfg);
        return SK_OK;
    }
    if (!strcmp(sub, "labels")) {
        int m = 0;
        if (n->type != YAML_SEQUENCE_NODE) return node_err(cx, n, "sweep.labels must be a list of folder names");
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, m++) {
            yaml_node_t *e = yaml_document_get_node(doc, *it);
            const char *s = scalar(e);
            if (m == SK_CFG_SWEEP) return node_err(cx, e, "sweep.labels has more than %d entries", SK_CFG_SWEEP);
            if (!s || !label_ok(s) || strlen(s) >= sizeof cfg->sweep.labels[0])
                return node_err(cx, e, "sweep.labels entries must be folder names of letters, digits, '_', '-' "
                                       "and '.' (at most %zu characters)", sizeof cfg->sweep.labels[0] - 1);
            for (yaml_node_item_t *jt = n->data.sequence.items.start; jt < it; jt++)
                if (!strcmp(scalar(yaml_document_get_node(doc, *jt)), s))
                    return node_err(cx, e, "sweep.labels lists \"%s\" twice", s);
        }
        if (m != cfg->sweep.n)
            return node_err(cx, n, "sweep.labels has %d entries but sweep.values has %d", m, cfg->sweep.n);
        memset(cfg->sweep.labels, 0, sizeof cfg->sweep.labels);
        m = 0;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, m++) {
            const char *s = scalar(yaml_document_get_node(doc, *it));
            snprintf(cfg->sweep.labels[m], sizeof cfg->sweep.labels[0], "%s", s);
        }
        return SK_OK;
    }
    if (cx->is_set)
        return sk_err(SK_ECONFIG, "%s: unknown key \"sweep.%s\" (expected one of: sweep.key, sweep.values, sweep.labels)",
                      cx->origin, sub);
    return node_err(cx, n, "unknown key \"%s\" in section sweep (expected one of: key, values, labels)", sub);
}

/* The `sweep:` section: key first, then values, then labels, whatever their
 * order in the file. */
static sk_status parse_sweep(sk_config *cfg, const ctx_t *cx, yaml_document_t *doc, yaml_node_t *map)
{
    static const char *names[] = {"key", "values", "labels"};
    yaml_node_t *val[3] = {NULL, NULL, NULL};
    if (map->type != YAML_MAPPING_NODE)
        return node_err(cx, map, "sweep must be a section with key, values and (optionally) labels");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        const char *name = scalar(kn);
        int i = 0;
        while (i < 3 && !(name && !strcmp(name, names[i]))) i++;
        if (i == 3) {
            char sug[96];
            suggest("key|values|labels", name ? name : "", sug, sizeof sug);
            return node_err(cx, kn, "unknown key \"%s\" in section sweep (expected one of: key, values, labels)%s",
                            name ? name : "?", sug);
        }
        if (val[i]) return node_err(cx, kn, "duplicate key sweep.%s", names[i]);
        val[i] = yaml_document_get_node(doc, p->value);
    }
    if (!val[0]) return node_err(cx, map, "sweep needs key: the config key to vary, e.g. key: model.arch");
    if (!val[1]) return node_err(cx, map, "sweep needs values: the list of values of sweep.key to run");
    for (int i = 0; i < 3; i++) {
        if (!val[i]) continue;
        sk_status st = sweep_set(cfg, cx, doc, names[i], val[i]);
        if (st != SK_OK) return st;
    }
    return SK_OK;
}

static sk_status apply_set(sk_config *cfg, const char *arg, unsigned char *seen)
{
    char origin[600];
    const char *eq = strchr(arg, '=');
    snprintf(origin, sizeof origin, "--set %s", arg);
    ctx_t cx = {origin, 1};
    if (!eq || eq == arg)
        return sk_err(SK_ECONFIG, "%s: expected KEY=VALUE, e.g. --set model.hidden=[1024,1024]", origin);
    char key[256];
    size_t kl = (size_t)(eq - arg);
    if (kl >= sizeof key) return sk_err(SK_ECONFIG, "%s: key too long", origin);
    memcpy(key, arg, kl);
    key[kl] = '\0';
    if (!strncmp(key, "sweep.", 6)) {
        yaml_document_t sdoc;
        sk_status sst = load_doc(&cx, (const unsigned char *)(eq + 1), strlen(eq + 1), &sdoc);
        if (sst != SK_OK) return sst;
        yaml_node_t *root = yaml_document_get_root_node(&sdoc);
        if (!root) sst = sk_err(SK_ECONFIG, "%s: missing value", origin);
        else sst = sweep_set(cfg, &cx, &sdoc, key + 6, root);
        yaml_document_delete(&sdoc);
        return sst;
    }
    const key_t_ *k = find_key(key);
    if (!k) {
        char list[1024], best[64], prefix[256];
        const char *dot = strrchr(key, '.');
        snprintf(prefix, sizeof prefix, "%.*s", dot ? (int)(dot - key) : 0, key);
        keys_under(prefix, dot ? dot + 1 : key, list, sizeof list, best, sizeof best);
        if (best[0])
            return sk_err(SK_ECONFIG, "%s: unknown key \"%s\" (did you mean \"%s%s%s\"?)", origin, key, prefix,
                          *prefix ? "." : "", best);
        return sk_err(SK_ECONFIG, "%s: unknown key \"%s\"", origin, key);
    }
    const char *val = eq + 1;
    yaml_document_t doc;
    sk_status st;
    if (k->type == T_STR && val[0] != '"' && val[0] != '\'') {
        /* Strings are taken literally (a path may contain " #"); quote to
         * use YAML escapes. */
        if (strlen(val) >= k->size) return sk_err(SK_ECONFIG, "%s: value too long", origin);
        snprintf((char *)cfg + k->off, k->size, "%s", val);
        seen[k - schema] = 1;
        return SK_OK;
    }
    st = load_doc(&cx, (const unsigned char *)val, strlen(val), &doc);
    if (st != SK_OK) return st;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) st = sk_err(SK_ECONFIG, "%s: missing value", origin);
    else st = set_key(cfg, &cx, k, &doc, root);
    yaml_document_delete(&doc);
    if (st == SK_OK) seen[k - schema] = 1;
    return st;
}

sk_status sk_config_load(sk_config *cfg, const char *path, const char *const *sets, int n_sets)
{
    unsigned char seen[N_KEYS];
    char *text = NULL;
    size_t len = 0;
    yaml_document_t doc;
    int have_doc = 0;
    sk_status st = SK_OK;
    ctx_t cx = {path, 0};
    FILE *f;
    char stem[SK_CFG_NAME];

    memset(seen, 0, sizeof seen);
    stem_of(path, stem, sizeof stem);
    sk_config_defaults(cfg, stem);

    f = fopen(path, "rb");
    if (!f) return sk_err(SK_ECONFIG, "%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) == 0) {
        long l = ftell(f);
        if (l >= 0) len = (size_t)l;
        rewind(f);
    }
    text = sk_alloc(len + 1);
    if (!text) { fclose(f); return SK_ENOMEM; }
    if (len && fread(text, 1, len, f) != len) {
        fclose(f);
        st = sk_err(SK_ECONFIG, "%s: read error", path);
        goto cleanup;
    }
    fclose(f);

    st = load_doc(&cx, (unsigned char *)text, len, &doc);
    if (st != SK_OK) goto cleanup;
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        st = walk_mapping(cfg, &cx, &doc, root, "", seen);
        if (st != SK_OK) goto cleanup;
    }
    for (int i = 0; i < n_sets; i++) {
        st = apply_set(cfg, sets[i], seen);
        if (st != SK_OK) goto cleanup;
    }
    if (!cfg->name[0]) snprintf(cfg->name, sizeof cfg->name, "%s", stem);
    st = sk_config_finalize(cfg, path);
cleanup:
    if (have_doc) yaml_document_delete(&doc);
    sk_free(text);
    return st;
}

static sk_status sweep_item(const sk_config *cfg, int i, sk_config *out, const char *origin);

/* dataset.path when not given, by dataset.name. */
static const char *const ds_dir[] = {"datasets/mnist", "datasets/fashion-mnist", "datasets/cifar10",
                                     "datasets/cifar100", ""};

sk_status sk_config_finalize(sk_config *cfg, const char *origin)
{
    if (!cfg->name[0]) return sk_err(SK_ECONFIG, "%s: name must not be empty", origin);
    for (const char *p = cfg->name; *p; p++)
        if (!name_char(*p))
            return sk_err(SK_ECONFIG, "%s: name \"%s\" may only contain letters, digits, '_', '-' and '.'",
                          origin, cfg->name);
    if (!cfg->output[0]) snprintf(cfg->output, sizeof cfg->output, "results/%s", cfg->name);
    if (!cfg->dataset.path[0]) snprintf(cfg->dataset.path, sizeof cfg->dataset.path, "%s", ds_dir[cfg->dataset.name]);
    for (int m = 0; m < 2; m++)
        if (!cfg->models[m].weights[0]) {
            int k = snprintf(cfg->models[m].weights, sizeof cfg->models[m].weights, "%s/model_%c.h5",
                             cfg->output, 'a' + m);
            if (k >= (int)sizeof cfg->models[m].weights)
                return sk_err(SK_ECONFIG, "%s: output path too long", origin);
        }
    if (cfg->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = n > 0 ? (int)n : 1;
    }
    /* Cross-key checks. */
    int conv = cfg->model.arch != 0;
    if (conv && (cfg->dataset.name == SK_CFG_DS_POLYNOMIAL))
        return sk_err(SK_ECONFIG, "%s: model.arch %s needs image data (dataset.name is polynomial)", origin,
                      sk_cfg_choice("model.arch", cfg->model.arch));
    if (conv && (cfg->dataset.name == SK_CFG_DS_MNIST || cfg->dataset.name == SK_CFG_DS_FASHION_MNIST) &&
        cfg->model.arch != 5)
        return sk_err(SK_ECONFIG, "%s: model.arch %s needs 32x32 inputs (CIFAR); use mlp or resnet20 for %s",
                      origin, sk_cfg_choice("model.arch", cfg->model.arch),
                      sk_cfg_choice("dataset.name", cfg->dataset.name));
    if (cfg->model.arch == 5 && cfg->model.norm == 0)
        return sk_err(SK_ECONFIG, "%s: model.arch resnet20 needs model.norm batchnorm or layernorm", origin);
    if (cfg->sweep.n > 0) {
        /* Every item must be a valid config on its own, before any work. */
        sk_config *tmp = sk_alloc(sizeof *tmp);
        sk_status st = SK_OK;
        if (!tmp) return SK_ENOMEM;
        for (int i = 0; i < cfg->sweep.n && st == SK_OK; i++) st = sweep_item(cfg, i, tmp, origin);
        sk_free(tmp);
        return st;
    }
    return SK_OK;
}

static sk_status sweep_item(const sk_config *cfg, int i, sk_config *out, const char *origin)
{
    char where[SK_CFG_PATH + 128], def[SK_CFG_PATH + 32], arg[SK_CFG_SWEEP_TEXT + 80];
    unsigned char seen[N_KEYS];
    if (i < 0 || i >= cfg->sweep.n) return sk_err(SK_EINVAL, "sweep item %d out of range", i);
    snprintf(where, sizeof where, "%s: sweep item %s (%s = %s)", origin, cfg->sweep.labels[i], cfg->sweep.key,
             cfg->sweep.values[i]);
    *out = *cfg;
    memset(&out->sweep, 0, sizeof out->sweep);
    if (snprintf(out->output, sizeof out->output, "%s/%s", cfg->output, cfg->sweep.labels[i]) >=
        (int)sizeof out->output)
        return sk_err(SK_ECONFIG, "%s: output path too long", where);
    /* Paths derived from the output or the data set follow the item. */
    for (int m = 0; m < 2; m++) {
        snprintf(def, sizeof def, "%s/model_%c.h5", cfg->output, 'a' + m);
        if (!strcmp(cfg->models[m].weights, def)) out->models[m].weights[0] = '\0';
    }
    if (!strcmp(cfg->dataset.path, ds_dir[cfg->dataset.name])) out->dataset.path[0] = '\0';
    snprintf(arg, sizeof arg, "%s=%s", cfg->sweep.key, cfg->sweep.values[i]);
    sk_status st = apply_set(out, arg, seen);
    if (st != SK_OK) return sk_err_prefix(st, "%s: ", where);
    return sk_config_finalize(out, where);
}

sk_status sk_config_sweep_item(const sk_config *cfg, int i, sk_config *out)
{
    return sweep_item(cfg, i, out, "config");
}

/* ---- printing ------------------------------------------------------------ */

static int plain_safe(const char *s)
{
    static const char *reserved[] = {"true", "false", "yes", "no", "on", "off", "null", "~", "True",
                                     "False", "Yes", "No", "On", "Off", "Null", "NULL", "TRUE", "FALSE", NULL};
    if (!*s) return 0;
    for (int i = 0; reserved[i]; i++)
        if (!strcmp(s, reserved[i])) return 0;
    char *end;
    strtod(s, &end);
    if (*end == '\0') return 0;   /* looks like a number */
    if (strchr("-?:,[]{}#&*!|>'\"%@`", s[0]) || isspace((unsigned char)s[0])) return 0;
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == '#' || *p == '"' || *p == '\\') return 0;
        if (*p == ':' && (p[1] == ' ' || p[1] == '\0')) return 0;
    }
    return !isspace((unsigned char)s[strlen(s) - 1]);
}

static void fmt_double(double v, char *buf, size_t n)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, n, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* Keep it a YAML float-looking token when integral: fine either way for us. */
}

static void value_text(const sk_config *cfg, const key_t_ *k, char *buf, size_t n)
{
    const char *base = (const char *)cfg;
    char c[64];
    switch (k->type) {
    case T_STR: {
        const char *s = base + k->off;
        if (plain_safe(s)) snprintf(buf, n, "%s", s);
        else quote_str(s, buf, n);
        break;
    }
    case T_INT:
        if (k->max <= 2147483647.0) snprintf(buf, n, "%d", *(const int *)(base + k->off));
        else snprintf(buf, n, "%lld", *(const long long *)(base + k->off));
        break;
    case T_FLOAT: fmt_double(*(const double *)(base + k->off), buf, n); break;
    case T_BOOL: snprintf(buf, n, "%s", *(const int *)(base + k->off) ? "true" : "false"); break;
    case T_ENUM:
        choice_at(k->choices, *(const int *)(base + k->off), c, sizeof c);
        snprintf(buf, n, "%s", c);
        break;
    case T_INTLIST:
    case T_ENUMLIST: {
        const int *arr = (const int *)(base + k->off);
        int cnt = *(const int *)(base + k->cnt_off);
        size_t j = (size_t)snprintf(buf, n, "[");
        for (int i = 0; i < cnt && j < n; i++) {
            if (k->type == T_ENUMLIST) choice_at(k->choices, arr[i], c, sizeof c);
            else snprintf(c, sizeof c, "%d", arr[i]);
            j += (size_t)snprintf(buf + j, n - j, "%s%s", i ? ", " : "", c);
        }
        if (j < n) snprintf(buf + j, n - j, "]");
        break;
    }
    }
}

/* Emit keys whose name starts with `only` ("" = all) as nested YAML. */
static sk_status emit(const sk_config *cfg, FILE *out, const char *only)
{
    char prev[256] = "";
    size_t ol = strlen(only);
    for (int i = 0; i < N_KEYS; i++) {
        const key_t_ *k = &schema[i];
        char val[SK_CFG_PATH + 64];
        if (ol && strncmp(k->key, only, ol) != 0) continue;
        const char *key = k->key + ol;
        /* Print the section headers that differ from the previous key's. */
        const char *p = key, *q = prev;
        int depth = 0;
        while (1) {
            const char *dp = strchr(p, '.');
            if (!dp) break;
            size_t len = (size_t)(dp - p);
            const char *dq = strchr(q, '.');
            int same = dq && (size_t)(dq - q) == len && !strncmp(p, q, len);
            if (!same) {
                fprintf(out, "%*s%.*s:\n", 2 * depth, "", (int)len, p);
                q = "";
            } else {
                q = dq + 1;
            }
            p = dp + 1;
            depth++;
        }
        value_text(cfg, k, val, sizeof val);
        fprintf(out, "%*s%s: %s\n", 2 * depth, "", p, val);
        snprintf(prev, sizeof prev, "%s", key);
    }
    if (!ol && cfg->sweep.n > 0) {
        fprintf(out, "sweep:\n  key: %s\n  values:\n", cfg->sweep.key);
        for (int i = 0; i < cfg->sweep.n; i++) fprintf(out, "    - %s\n", cfg->sweep.values[i]);
        fprintf(out, "  labels: [");
        for (int i = 0; i < cfg->sweep.n; i++) fprintf(out, "%s%s", i ? ", " : "", cfg->sweep.labels[i]);
        fprintf(out, "]\n");
    }
    return ferror(out) ? sk_err(SK_EIO, "write error") : SK_OK;
}

sk_status sk_config_write_yaml(const sk_config *cfg, FILE *out)
{
    return emit(cfg, out, "");
}

static char *emit_string(const sk_config *cfg, const char *only)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) { sk_err(SK_ENOMEM, "open_memstream failed"); return NULL; }
    emit(cfg, f, only);
    fclose(f);
    return buf;
}

char *sk_config_to_yaml(const sk_config *cfg) { return emit_string(cfg, ""); }
char *sk_config_model_yaml(const sk_config *cfg) { return emit_string(cfg, "model."); }

const char *sk_cfg_choice(const char *key, int index)
{
    static _Thread_local char buf[8][64];
    static _Thread_local int k;
    const key_t_ *e = find_key(key);
    char *b = buf[k++ & 7];
    if (!e || !e->choices || !choice_at(e->choices, index, b, 64)) return "?";
    return b;
}

const char *sk_mode_name(int mode) { return sk_cfg_choice("mode", mode); }
const char *sk_method_name(int m) { return sk_cfg_choice("align.methods", m); }
const char *sk_cost_name(int c) { return sk_cfg_choice("sinkhorn.costs", c); }
const char *sk_split_name(int s) { return sk_cfg_choice("interpolation.splits", s); }

int sk_config_n_keys(void) { return N_KEYS; }

void sk_config_key_info(int i, const char **key, const char **type, const char **def, const char **doc)
{
    static const char *tn[] = {"string", "integer", "number", "boolean", "choice", "list of integers",
                               "list of choices"};
    const key_t_ *k = &schema[i];
    if (key) *key = k->key;
    if (type) *type = tn[k->type];
    if (def) *def = k->def;
    if (doc) *doc = k->doc;
}
