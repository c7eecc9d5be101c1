/* schema.c - the config schema: every key, its storage, default, range or
 * choices and description; lookups and choice helpers used by the parser,
 * the printer and the sweep code. */
#include "cfg/schema.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/names.h"

#define OFF(f) offsetof(sk_config, f)
#define SZ(f) sizeof(((sk_config *)0)->f)
#define BIG 1e300
#define STR(k, f, d, doc)                                                                                              \
    {                                                                                                                  \
        k, T_STR, OFF(f), SZ(f), 0, d, 0, 0, 0, NULL, 0, NULL, doc, NULL                                               \
    }
#define INT(k, f, d, lo, hi, doc)                                                                                      \
    {                                                                                                                  \
        k, T_INT, OFF(f), SZ(f), 0, d, lo, hi, 0, NULL, 0, NULL, doc, NULL                                             \
    }
#define FLT(k, f, d, lo, hi, ex, doc)                                                                                  \
    {                                                                                                                  \
        k, T_FLOAT, OFF(f), SZ(f), 0, d, lo, hi, ex, NULL, 0, NULL, doc, NULL                                          \
    }
#define BOOL(k, f, d, doc)                                                                                             \
    {                                                                                                                  \
        k, T_BOOL, OFF(f), SZ(f), 0, d, 0, 1, 0, NULL, 0, NULL, doc, NULL                                              \
    }
#define ENUMA(k, f, d, names, al, doc)                                                                                 \
    {                                                                                                                  \
        k, T_ENUM, OFF(f), SZ(f), 0, d, 0, 0, 0, names, SK_COUNT_OF(names), al, doc, NULL                              \
    }
#define ENUM(k, f, d, names, doc) ENUMA(k, f, d, names, NULL, doc)
#define ILIST(k, f, n, d, lo, hi, doc)                                                                                 \
    {                                                                                                                  \
        k, T_INTLIST, OFF(f), SZ(f[0]), OFF(n), d, lo, hi, 0, NULL, 0, NULL, doc, NULL                                 \
    }
#define SLIST(k, f, n, d, chk, doc)                                                                                    \
    {                                                                                                                  \
        k, T_STRLIST, OFF(f), SZ(f[0]), OFF(n), d, 0, 0, 0, NULL, (int)(SZ(f) / SZ(f[0])), NULL, doc, chk              \
    }
#define FLIST(k, f, n, d, lo, hi, ex, doc)                                                                             \
    {                                                                                                                  \
        k, T_FLTLIST, OFF(f), SZ(f[0]), OFF(n), d, lo, hi, ex, NULL, (int)(SZ(f) / SZ(f[0])), NULL, doc, NULL          \
    }
#define PLIST(k, f, n, d, lo, hi, doc)                                                                                 \
    {                                                                                                                  \
        k, T_PAIRLIST, OFF(f), SZ(f[0]), OFF(n), d, lo, hi, 0, NULL, (int)(SZ(f) / SZ(f[0])), NULL, doc, NULL          \
    }
#define ELIST(k, f, n, d, names, doc)                                                                                  \
    {                                                                                                                  \
        k, T_ENUMLIST, OFF(f), SZ(f[0]), OFF(n), d, 0, 0, 0, names, SK_COUNT_OF(names), NULL, doc, NULL                \
    }

/* Fields the code reads as plain int (counts, booleans) must be int. */
_Static_assert(sizeof(((sk_config *)0)->align.n_methods) == sizeof(int), "list counts are int");

const char *const sk_endpoint_train_names[] = {[SK_ENDPOINT_AUTO] = "auto",
                                               [SK_ENDPOINT_IF_MISSING] = "if_missing",
                                               [SK_ENDPOINT_ALWAYS] = "always",
                                               [SK_ENDPOINT_NEVER] = "never",
                                               [SK_ENDPOINT_INIT] = "init"};

/* models.X.rename entries: FROM=TO, both sides non-empty; a '*' only as the
 * last character of both sides (a prefix rename), as sk_h5w_load_into takes them. */
static const char *check_rename(const char *s)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || !eq[1] || strchr(eq + 1, '='))
        return "FROM=TO pairs such as \"module.*=*\" or \"fc1.weight=layers.0.weight\"";
    size_t a = (size_t)(eq - s), b = strlen(eq + 1);
    const char *star1 = memchr(s, '*', a), *star2 = strchr(eq + 1, '*');
    int pre1 = star1 == s + a - 1, pre2 = star2 == eq + b;
    if ((star1 && !pre1) || (star2 && !pre2) || pre1 != pre2)
        return "FROM=TO pairs whose '*', if any, ends both sides (a prefix rename such as \"module.*=*\")";
    return NULL;
}

const char *const sk_mode_names[] = {[SK_MODE_TRAIN] = "train",
                                     [SK_MODE_WEIGHT_MATCHING] = "weight_matching",
                                     [SK_MODE_ACTIVATION_MATCHING] = "activation_matching",
                                     [SK_MODE_SINKHORN] = "sinkhorn",
                                     [SK_MODE_CONTINUAL] = "continual"};

/* The order here is the order of the resolved config and of the man page. */
const sk_cfg_key sk_cfg_schema[] = {
    STR("name", name, "\"\"", "experiment name; results go to results/<name>/ (default: the config file's base name)"),
    INT("seed", seed, "1", 0, 9.2e18, "seed of every random choice in the run (data order, inits, group orders)"),
    ENUM("mode", mode, "train", sk_mode_names, "what the run does; train only trains/saves the endpoints"),
    INT("threads", threads, "0", 0, 1024, "threads for BLAS and OpenMP loops; 0 = one per CPU core"),
    STR("output", output, "\"\"", "results folder (default results/<name>); -o overrides it"),
    INT("repeat", repeat, "1", 1, 10000,
        "repetitions of the experiment (of every sweep item): repetition r runs on endpoint seeds models.a.seed + k r "
        "and models.b.seed + k r, k = 2 |models.b.seed - models.a.seed| (1 when equal), with run seed seed + r, into "
        "<output>/rep<r>; repetition 0 is the plain run. With repeat > 1 the results folder gets the mean, standard "
        "deviation and 95% t-interval of every result and paired differences between the methods"),
    PLIST("repeat_seeds", repeat_seeds, n_repeat_seeds, "[]", 0, 9.2e18,
          "explicit endpoint seeds, one [A, B] pair per repetition (e.g. [[1, 2], [3, 4]]), in place of the rule of "
          "repeat; repeat must then be 1 or their number"),

    ENUM("dataset.name", dataset.name, "mnist", sk_ds_kind_names, "data set"),
    STR("dataset.path", dataset.path, "\"\"", "folder holding the official files (default datasets/<dataset.name>)"),
    ENUMA("dataset.normalize", dataset.normalize, "auto", sk_normalize_names, "true=auto,false=unit",
          "inputs are (pixel/255 - mean) / std per channel, with: unit = mean 0, std 1; standard = the statistics "
          "of the whole training split (before train_limit); custom = dataset.mean and dataset.std; presets "
          "cifar10 (0.4914, 0.4822, 0.4465 / 0.2470, 0.2435, 0.2616), cifar10-kuangliu (std 0.2023, 0.1994, "
          "0.2010), cifar100 (0.5071, 0.4865, 0.4409 / 0.2673, 0.2564, 0.2762), imagenet (0.485, 0.456, 0.406 / "
          "0.229, 0.224, 0.225), mnist (0.1307 / 0.3081); auto = standard for CIFAR, unit for MNIST. Use the "
          "normalisation the weights were trained with"),
    FLIST("dataset.mean", dataset.mean, dataset.n_mean, "[]", 0, 1, 0,
          "normalize custom: per-channel mean of pixel/255 (one value per channel: 1 for MNIST, 3 for CIFAR)"),
    FLIST("dataset.std", dataset.std, dataset.n_std, "[]", 0, BIG, 1,
          "normalize custom: per-channel standard deviation of pixel/255 (as many values as dataset.mean)"),
    BOOL("dataset.augment", dataset.augment, "false",
         "CIFAR training augmentation: random crop (4-pixel padding) and horizontal flip"),
    ENUM("dataset.labels", dataset.labels, "fine", sk_labels_names, "CIFAR-100 label set"),
    INT("dataset.train_limit", dataset.train_limit, "0", 0, 9.2e18, "use only the first N training examples (0 = all)"),
    INT("dataset.test_limit", dataset.test_limit, "0", 0, 9.2e18, "use only the first N test examples (0 = all)"),
    INT("dataset.validation", dataset.validation, "0", 0, 9.2e18,
        "hold out this many of the training examples kept (all, or the first train_limit) as a validation split, "
        "drawn at random with dataset.split_seed; the others are the training split that training, alignment, "
        "BatchNorm re-estimation and the train curves use (0 = no validation split)"),
    INT("dataset.split_seed", dataset.split_seed, "1", 0, 9.2e18,
        "seed of the train/validation draw (independent of seed and the endpoints' seeds)"),
    INT("dataset.degree", dataset.degree, "1", 1, 3, "polynomial toy: degree 1, 2 or 3"),
    INT("dataset.points", dataset.points, "100", 2, 1e7, "polynomial toy: number of points"),
    FLT("dataset.noise", dataset.noise, "0.05", 0, BIG, 0, "polynomial toy: Gaussian noise standard deviation"),

    ENUM("model.arch", model.arch, "mlp", sk_arch_names, "architecture"),
    ILIST("model.hidden", model.hidden, model.n_hidden, "[512, 512, 512]", 1, 1e6, "MLP hidden widths"),
    ENUM("model.activation", model.activation, "relu", sk_act_names,
         "activation of every architecture: after each hidden linear and its norm (MLP), each conv and its norm "
         "(VGG, ResNet20; a residual block's second conv: after the addition) and the VGG head's hidden linears"),
    ENUM("model.norm", model.norm, "none", sk_mnorm_names,
         "normalisation after each hidden linear (MLP) or conv (VGG, ResNet20, which needs one), before the "
         "activation; layernorm in conv nets: over the channels at each pixel"),
    FLT("model.width", model.width, "1", 0, 1024, 1, "width multiplier of conv nets"),
    ENUM("model.head", model.head, "gitrebasin", sk_vgghead_names,
         "VGG classifier: gitrebasin = Linear-act-Linear-act-Linear (512w units), linear = one Linear"),
    FLT("model.dropout", model.dropout, "0", 0, 1, SK_CFG_EXCL_MAX,
        "MLP dropout probability after each hidden activation"),

    STR("models.a.weights", models[0].weights, "\"\"", "endpoint A weights (HDF5; default <output>/model_a.h5)"),
    INT("models.a.seed", models[0].seed, "1", 0, 9.2e18, "seed of endpoint A's initialisation and data order"),
    ENUMA("models.a.train", models[0].train, "auto", sk_endpoint_train_names, "true=auto,false=init",
          "where A comes from: auto = load models.a.weights when it exists, else train and save it if it is the "
          "default location (a path you wrote that does not exist is an error); if_missing = load, else train and "
          "save there; always = train and overwrite; never = the file must exist; init = load, else save and use "
          "the seeded initialisation untrained (true and false are read as auto and init)"),
    FLT("models.a.dropout", models[0].dropout, "-1", -1, 1, 0,
        "MLP dropout probability while A trains, in [0, 1); -1 = model.dropout (which the alignment methods use)"),
    SLIST("models.a.rename", models[0].rename, models[0].n_rename, "[]", check_rename,
          "FROM=TO pairs mapping names in A's weights file onto the model's, tried in order: an exact name, or a "
          "prefix when both sides end in '*' (\"module.*=*\" strips DataParallel's prefix)"),
    STR("models.b.weights", models[1].weights, "\"\"", "endpoint B weights (default <output>/model_b.h5)"),
    INT("models.b.seed", models[1].seed, "2", 0, 9.2e18, "seed of endpoint B"),
    ENUMA("models.b.train", models[1].train, "auto", sk_endpoint_train_names, "true=auto,false=init",
          "where B comes from, as models.a.train (ignored when planted)"),
    FLT("models.b.dropout", models[1].dropout, "-1", -1, 1, 0,
        "MLP dropout probability while B trains, as models.a.dropout"),
    SLIST("models.b.rename", models[1].rename, models[1].n_rename, "[]", check_rename,
          "FROM=TO pairs mapping names in B's weights file onto the model's, as models.a.rename"),
    BOOL("models.b.planted", models[1].planted, "false",
         "planted-permutation recovery: B is a random permutation of A (drawn from models.b.seed), not trained"),
    FLT("models.b.noise", models[1].noise, "0", 0, BIG, 0,
        "planted B: standard deviation of Gaussian noise added to every parameter after permuting"),

    STR("endpoints.cache", endpoints.cache, "\"\"",
        "folder of the endpoint cache: endpoints whose weights are at their default location are kept there as "
        "<fingerprint>.h5, trained once by the first run that needs them (under a lock, <fingerprint>.h5.lock) and "
        "loaded by every other item, repetition or run naming the folder (default: <output>/endpoints for a sweep or "
        "repetitions, none for a single run)"),

    INT("train.epochs", train.epochs, "10", 1, 1e6, "training epochs"),
    INT("train.batch_size", train.batch_size, "500", 1, 1e6, "minibatch size"),
    INT("train.eval_batch_size", train.eval_batch_size, "1000", 1, 1e6, "batch size of evaluation passes"),
    ENUM("train.optimizer", train.optimizer, "adam", sk_opt_kind_names, "optimiser"),
    FLT("train.lr", train.lr, "0.001", 0, BIG, 1, "learning rate"),
    FLT("train.momentum", train.momentum, "0.9", 0, 1, SK_CFG_EXCL_MAX, "SGD momentum"),
    BOOL("train.nesterov", train.nesterov, "false", "SGD Nesterov momentum"),
    FLT("train.weight_decay", train.weight_decay, "0", 0, BIG, 0,
        "weight decay (L2 for sgd/adam, decoupled for adamw)"),
    FLT("train.beta1", train.beta1, "0.9", 0, 1, SK_CFG_EXCL_MAX, "Adam beta1"),
    FLT("train.beta2", train.beta2, "0.999", 0, 1, SK_CFG_EXCL_MAX, "Adam beta2"),
    FLT("train.eps", train.eps, "1e-08", 0, BIG, 1, "Adam epsilon"),
    ENUM("train.schedule", train.schedule, "constant", sk_sched_kind_names, "learning-rate schedule"),
    FLT("train.warmup_epochs", train.warmup_epochs, "0", 0, 1e6, 0, "cosine: linear warm-up length in epochs"),
    INT("train.step_epochs", train.step_epochs, "30", 1, 1e6, "step: multiply the lr by gamma every this many epochs"),
    FLT("train.gamma", train.gamma, "0.1", 0, 1, 1, "step/exponential decay factor (exponential: per epoch)"),
    FLT("train.clip_norm", train.clip_norm, "0", 0, BIG, 0, "clip the gradient's global L2 norm (0 = off)"),
    ENUM("train.select", train.select, "last", sk_train_select_names,
         "the epoch whose weights an endpoint keeps (and saves): last, or best_validation = the epoch with the lowest "
         "validation loss, ties to the earliest (needs dataset.validation; every epoch is still trained)"),
    BOOL("train.allow_chance", train.allow_chance, "false",
         "accept a classifier endpoint at chance level: by default a trained endpoint whose validation (else test) "
         "accuracy is within 3 points of 1/classes, or whose final training loss is NaN or within 0.005 of "
         "ln(classes), stops the run (exit 1), and so does a loaded file that sinkrb trained; other loaded files "
         "only warn. Untrained (init) and planted endpoints are never checked. Not part of the weights' recipe"),

    ELIST("align.methods", align.methods, align.n_methods, "[weight_matching, activation_matching]",
          sk_align_method_names, "alignment methods compared in one run"),
    INT("weight_matching.max_iter", weight_matching.max_iter, "100", 1, 1e6,
        "weight matching: maximum passes over the groups"),
    INT("activation_matching.samples", activation_matching.samples, "0", 0, 9.2e18,
        "training examples for the statistics (0 = all)"),
    ENUM("activation_matching.cost", activation_matching.cost, "inner_product", sk_am_cost_names,
         "activation similarity"),
    INT("activation_matching.batch_size", activation_matching.batch_size, "1000", 1, 1e6,
        "batch size of the statistics pass"),

    ELIST("sinkhorn.costs", sinkhorn.costs, sinkhorn.n_costs, "[l2, mid, rnd]", sk_srb_cost_names,
          "Sinkhorn re-basin costs (one aligned model per cost)"),
    FLT("sinkhorn.tau", sinkhorn.tau, "1", 0, BIG, 1, "Sinkhorn temperature"),
    INT("sinkhorn.iterations", sinkhorn.iterations, "20", 1, 1e6, "Sinkhorn iterations"),
    FLT("sinkhorn.scale", sinkhorn.scale, "1", 0, BIG, 1, "scale l of the cost C = -l X"),
    INT("sinkhorn.epochs", sinkhorn.epochs, "20", 1, 1e6,
        "data costs (mid, rnd): epochs over the training data; data-free costs: rounds after which the hard cost is "
        "measured"),
    INT("sinkhorn.steps", sinkhorn.steps, "1000", 1, 1e8, "optimisation steps (data-free costs l2, l1, cosine)"),
    FLT("sinkhorn.lr", sinkhorn.lr, "0.1", 0, BIG, 1, "AdamW learning rate on the matrices"),
    FLT("sinkhorn.weight_decay", sinkhorn.weight_decay, "0.01", 0, BIG, 0, "AdamW weight decay on the matrices"),
    FLT("sinkhorn.eps", sinkhorn.eps, "1e-08", 0, BIG, 1,
        "AdamW epsilon; data-free costs of large, small-weight models (untrained VGGs) and the cosine cost (divided "
        "by the number of scalars) have gradients below 1e-8 per matrix entry, which the default epsilon damps: use "
        "1e-12 there"),
    ENUM("sinkhorn.init", sinkhorn.init, "perturbed-identity", sk_softperm_init_names,
         "initial matrices: I + 0.1 N(0,1), I, or a random permutation"),
    INT("sinkhorn.batch_size", sinkhorn.batch_size, "500", 1, 1e6, "minibatch size of data costs"),
    INT("sinkhorn.eval_batches", sinkhorn.eval_batches, "8", 0, 1e9,
        "data costs: training batches on which the hard permutation's cost is measured after each epoch (0 = all); "
        "a fixed random subset of the training split drawn once from the seed, the same for every epoch, cost and "
        "method"),
    ENUM("sinkhorn.select", sinkhorn.select, "last", sk_select_names,
         "the hard permutation returned: last = after the final epoch (or the round that reached hard cost 0), as "
         "the published code; best = the lowest hard cost over epochs 0..E (data costs: on the evaluation batches)"),

    INT("ste.epochs", ste.epochs, "10", 1, 1e6,
        "straight-through estimator: epochs over the training data (the reference, Git Re-Basin's "
        "mnist_mlp_ste2.py and cifar10_mlp_ste2.py, runs 250; every step is a weight matching)"),
    FLT("ste.lr", ste.lr, "0.01", 0, BIG, 1, "straight-through estimator: SGD learning rate (the reference's)"),
    FLT("ste.momentum", ste.momentum, "0.9", 0, 1, SK_CFG_EXCL_MAX,
        "straight-through estimator: SGD momentum (the reference: optax.sgd, momentum 0.9)"),
    INT("ste.batch_size", ste.batch_size, "1000", 1, 1e6,
        "straight-through estimator: minibatch size of its steps and of its evaluation batches (the reference: "
        "1000 for the MLPs, 500 for VGG-16)"),
    INT("ste.eval_batches", ste.eval_batches, "8", 0, 1e9,
        "straight-through estimator: batches of the fixed evaluation set (as sinkhorn.eval_batches) on which each "
        "epoch's permutation is scored (0 = all)"),
    ENUM("ste.select", ste.select, "best", sk_select_names,
         "straight-through estimator: the permutation returned: best = the lowest midpoint loss on the evaluation "
         "batches over epochs 0..E (the reference also keeps its lowest-loss permutation, scored per step on the "
         "training minibatch); last = after the final epoch"),

    INT("interpolation.points", interpolation.points, "25", 2, 1e5, "lambda values in [0,1], both ends included"),
    ELIST("interpolation.splits", interpolation.splits, interpolation.n_splits, "[train, test]", sk_split_names,
          "splits evaluated along the path"),
    ENUM("interpolation.bn_reset", interpolation.bn_reset, "auto", sk_bnreset_names,
         "re-estimate BatchNorm statistics at each lambda (auto = when the model has BatchNorm)"),
    INT("interpolation.bn_batches", interpolation.bn_batches, "0", 0, 1e6,
        "BatchNorm re-estimation: batches of train.batch_size training examples (a fixed seeded subset, the same at "
        "every lambda and for every method); 0 = the whole training split, reshuffled at every lambda"),
    ENUM("interpolation.repair", interpolation.repair, "none", sk_repair_kind_names,
         "REPAIR (Jordan et al. 2023; beyond the published re-basin code): repair = also evaluate every method's path "
         "with each hidden layer's pre-activation channels (after its norm when it has one) reset, at every lambda, "
         "to the mean and std interpolated from the endpoints', by an affine folded into that layer's or norm's "
         "weight and bias; its curves are named <method>+repair"),
    INT("interpolation.repair_batches", interpolation.repair_batches, "5", 1, 1e6,
        "REPAIR: batches of train.eval_batch_size training examples (a fixed seeded subset) on which every "
        "statistic is measured"),

    ENUM("continual.benchmark", continual.benchmark, "rotated-mnist", sk_cl_bench_names,
         "task sequence (rotated/permuted use dataset.name: mnist or fashion-mnist)"),
    INT("continual.tasks", continual.tasks, "20", 1, 1000, "number of tasks (split benchmarks: at most 5 / 20)"),
    ENUM("continual.angles", continual.angles, "linspace", sk_cl_angles_names,
         "rotated: angles linspace(0, 180, tasks), or continual.step degrees apart"),
    FLT("continual.step", continual.step, "9", 0, 360, 0, "rotated with angles step: degrees between tasks"),
    ELIST("continual.methods", continual.methods, continual.n_methods, "[finetune, ewc, replay, agem, joint, rebasin]",
          sk_cl_method_names, "continual-learning methods compared in one run"),
    INT("continual.epochs", continual.epochs, "5", 1, 1e6, "epochs per task"),
    INT("continual.batch_size", continual.batch_size, "500", 1, 1e6, "minibatch size"),
    ENUM("continual.optimizer", continual.optimizer, "adamw", sk_opt_kind_names,
         "optimiser of the model's own training"),
    FLT("continual.lr", continual.lr, "0.001", 0, BIG, 1, "learning rate of the model's own training"),
    FLT("continual.momentum", continual.momentum, "0.9", 0, 1, SK_CFG_EXCL_MAX, "SGD momentum"),
    FLT("continual.weight_decay", continual.weight_decay, "0.01", 0, BIG, 0,
        "weight decay of the model's own training"),
    ENUM("continual.memory", continual.memory, "per_task", sk_cl_memory_names,
         "episodic memory of replay, agem and rebasin: per_task = continual.memory_per_task random examples of "
         "each finished task (the published, experience-balanced memory); per_class = continual.memory_per_class "
         "examples of each class of each finished task (class-balanced)"),
    INT("continual.memory_per_task", continual.memory_per_task, "50", 0, 1e6,
        "episodic memory per_task: random examples kept per task"),
    INT("continual.memory_per_class", continual.memory_per_class, "5", 0, 1e6,
        "episodic memory per_class: examples kept per class per task"),
    FLT("continual.ewc_lambda", continual.ewc_lambda, "100", 0, BIG, 0, "EWC penalty strength"),
    INT("continual.fisher_samples", continual.fisher_samples, "1000", 1, 1e9, "EWC: examples for the diagonal Fisher"),
    FLT("continual.rebasin.lr", continual.rebasin.lr, "0.1", 0, BIG, 1,
        "rebasin: AdamW learning rate of the Sinkhorn matrices"),
    FLT("continual.rebasin.tau", continual.rebasin.tau, "1", 0, BIG, 1, "rebasin: Sinkhorn temperature"),
    INT("continual.rebasin.iterations", continual.rebasin.iterations, "20", 1, 1e6, "rebasin: Sinkhorn iterations"),
    FLT("continual.rebasin.delta_lr", continual.rebasin.delta_lr, "0.05", 0, BIG, 1,
        "rebasin: SGD learning rate of the residual"),
    FLT("continual.rebasin.delta_weight_decay", continual.rebasin.delta_weight_decay, "0.1", 0, BIG, 0,
        "rebasin: weight decay of the residual"),
    FLT("continual.rebasin.delta_clip", continual.rebasin.delta_clip, "0.001", 0, BIG, 0,
        "rebasin: clip residual gradients to this absolute value"),
    FLT("continual.rebasin.delta_init_std", continual.rebasin.delta_init_std, "0.0001", 0, BIG, 0,
        "rebasin: standard deviation of the residual's initialisation"),
    FLT("continual.rebasin.alpha", continual.rebasin.alpha, "0.8", 0, 1, 0,
        "rebasin: update theta = alpha theta + (1 - alpha) pi(theta) + delta"),
    ENUM("continual.rebasin.loss", continual.rebasin.loss, "mean", sk_cl_rebasin_loss_names,
         "rebasin: mean = plain mean over the batch of current and memory examples (the published Rotated-MNIST "
         "loss); task_mean = sum over the tasks in the batch of each task's mean loss"),
};
const int sk_cfg_n_schema = SK_COUNT_OF(sk_cfg_schema);
_Static_assert(SK_COUNT_OF(sk_cfg_schema) <= SK_CFG_MAX_KEYS, "raise SK_CFG_MAX_KEYS");

const sk_cfg_key *sk_cfg_find(const char *full)
{
    for (int i = 0; i < sk_cfg_n_schema; i++)
        if (strcmp(sk_cfg_schema[i].key, full) == 0) return &sk_cfg_schema[i];
    return NULL;
}

/* ---- choices ------------------------------------------------------------ */

const char *sk_cfg_choice_at(const sk_cfg_key *k, int i)
{
    return k->names && i >= 0 && i < k->n_names ? k->names[i] : NULL;
}

int sk_cfg_choice_index(const sk_cfg_key *k, const char *s)
{
    int i = sk_name_index(k->names, k->n_names, s);
    if (i >= 0 || !k->aliases) return i;
    /* aliases "from=to,from=to" */
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", k->aliases);
    for (char *save = NULL, *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = '\0';
        if (strcmp(tok, s) == 0) return sk_name_index(k->names, k->n_names, eq + 1);
    }
    return -1;
}

void sk_cfg_choices_text(const sk_cfg_key *k, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < k->n_names && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", k->names[i]);
}

int sk_cfg_levenshtein(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

void sk_cfg_suggest(const char *const *names, int n, const char *s, char *buf, size_t len)
{
    const char *best = NULL;
    int bd = 3;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        int d = sk_cfg_levenshtein(names[i], s);
        if (d < bd) {
            bd = d;
            best = names[i];
        }
    }
    if (best) snprintf(buf, len, "; did you mean \"%s\"?", best);
}

/* ---- storage ------------------------------------------------------------ */

void sk_cfg_store_int(void *field, size_t size, long long v)
{
    switch (size) {
    case 1: {
        int8_t x = (int8_t)v;
        memcpy(field, &x, 1);
        break;
    }
    case 2: {
        int16_t x = (int16_t)v;
        memcpy(field, &x, 2);
        break;
    }
    case 4: {
        int32_t x = (int32_t)v;
        memcpy(field, &x, 4);
        break;
    }
    default: {
        int64_t x = (int64_t)v;
        memcpy(field, &x, 8);
        break;
    }
    }
}

long long sk_cfg_load_int(const void *field, size_t size)
{
    switch (size) {
    case 1: {
        int8_t x;
        memcpy(&x, field, 1);
        return x;
    }
    case 2: {
        int16_t x;
        memcpy(&x, field, 2);
        return x;
    }
    case 4: {
        int32_t x;
        memcpy(&x, field, 4);
        return x;
    }
    default: {
        int64_t x;
        memcpy(&x, field, 8);
        return x;
    }
    }
}

int sk_cfg_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

double sk_config_endpoint_dropout(const sk_config *cfg, int e)
{
    return cfg->models[e].dropout >= 0 ? cfg->models[e].dropout : cfg->model.dropout;
}

const char *sk_cfg_default_data_dir(sk_ds_kind k)
{
    static const char *const dir[] = {[SK_DS_MNIST] = "datasets/mnist",
                                      [SK_DS_FASHION_MNIST] = "datasets/fashion-mnist",
                                      [SK_DS_CIFAR10] = "datasets/cifar10",
                                      [SK_DS_CIFAR100] = "datasets/cifar100",
                                      [SK_DS_POLYNOMIAL] = ""};
    _Static_assert(SK_COUNT_OF(dir) == SK_DS_COUNT, "a default folder for every data set");
    return (unsigned)k < SK_DS_COUNT ? dir[k] : "";
}

/* ---- names for printing, introspection ----------------------------------- */

const char *sk_cfg_choice(const char *key, int index)
{
    const sk_cfg_key *e = sk_cfg_find(key);
    const char *c = e ? sk_cfg_choice_at(e, index) : NULL;
    return c ? c : "?";
}

const char *sk_mode_name(int mode)
{
    return SK_NAME(sk_mode_names, mode);
}
const char *sk_method_name(int m)
{
    return SK_NAME(sk_align_method_names, m);
}
const char *sk_cost_name(int c)
{
    return SK_NAME(sk_srb_cost_names, c);
}
const char *sk_split_name(int s)
{
    return SK_NAME(sk_split_names, s);
}

int sk_config_n_keys(void)
{
    return sk_cfg_n_schema;
}

void sk_config_key_info(int i, const char **key, const char **type, const char **def, const char **doc)
{
    static const char *const tn[] = {[T_STR] = "string",
                                     [T_INT] = "integer",
                                     [T_FLOAT] = "number",
                                     [T_BOOL] = "boolean",
                                     [T_ENUM] = "choice",
                                     [T_INTLIST] = "list of integers",
                                     [T_ENUMLIST] = "list of choices",
                                     [T_STRLIST] = "list of strings",
                                     [T_FLTLIST] = "list of numbers",
                                     [T_PAIRLIST] = "list of [A, B] pairs"};
    const sk_cfg_key *k = &sk_cfg_schema[i];
    if (key) *key = k->key;
    if (type) *type = tn[k->type];
    if (def) *def = k->def;
    if (doc) *doc = k->doc;
}
