/* Config: valid files, every kind of error with its exact file:line:col
 * message, --set overrides, and the resolved-config round trip. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg/cfg.h"

static sk_config cfg;

/* Load `text` written to NAME.yaml; returns status, message in sk_err_msg(). */
static sk_status load_text(const char *name, const char *text, const char *const *sets, int n)
{
    const char *p = tu_path(name);
    tu_write_str(p, text);
    return sk_config_load(&cfg, p, sets, n);
}

/* The message with the temp dir prefix removed ("bad.yaml:3:7: ..."). */
static const char *msg(void)
{
    const char *m = sk_err_msg();
    const char *d = tu_tmpdir();
    size_t n = strlen(d);
    return strncmp(m, d, n) == 0 ? m + n + 1 : m;
}

START_TEST(test_defaults_and_derived)
{
    ck_assert_int_eq(load_text("exp1.yaml", "seed: 7\n", NULL, 0), SK_OK);
    ck_assert_str_eq(cfg.name, "exp1"); /* from the file name */
    ck_assert_int_eq(cfg.seed, 7);
    ck_assert_int_eq(cfg.mode, SK_MODE_TRAIN);
    ck_assert_str_eq(cfg.output, "results/exp1");
    ck_assert_str_eq(cfg.dataset.path, "datasets/mnist");
    ck_assert_str_eq(cfg.models[0].weights, "results/exp1/model_a.h5");
    ck_assert_str_eq(cfg.models[1].weights, "results/exp1/model_b.h5");
    ck_assert_int_eq(cfg.model.n_hidden, 3);
    ck_assert_int_eq(cfg.model.hidden[2], 512);
    ck_assert_int_eq(cfg.models[1].seed, 2);
    ck_assert_double_eq(cfg.sinkhorn.tau, 1.0);
    ck_assert_int_eq(cfg.sinkhorn.iterations, 20);
    ck_assert_double_eq(cfg.sinkhorn.lr, 0.1);
    ck_assert_double_eq(cfg.sinkhorn.weight_decay, 0.01);
    ck_assert_int_eq(cfg.sinkhorn.select, SK_SELECT_LAST); /* the published result */
    ck_assert_int_eq(cfg.ste.select, SK_SELECT_BEST);      /* the reference keeps its lowest-loss permutation */
    ck_assert_int_eq(cfg.interpolation.points, 25);
    ck_assert_int_gt(cfg.threads, 0);
}
END_TEST

START_TEST(test_full_file)
{
    const char *text = "name: cifar_mlp\n"
                       "seed: 1\n"
                       "mode: sinkhorn\n"
                       "threads: 2\n"
                       "dataset:\n"
                       "  name: cifar10\n"
                       "  path: datasets/cifar10\n"
                       "  normalize: true\n"
                       "  augment: false\n"
                       "model:\n"
                       "  arch: mlp\n"
                       "  hidden: [512, 512, 512]\n"
                       "  activation: relu\n"
                       "  norm: none\n"
                       "  width: 1\n"
                       "models:\n"
                       "  a: { weights: results/cifar_mlp/model_a.h5, seed: 1 }\n"
                       "  b: { weights: results/cifar_mlp/model_b.h5, seed: 2 }\n"
                       "train:\n"
                       "  epochs: 20\n"
                       "  batch_size: 500\n"
                       "  optimizer: adam\n"
                       "  lr: 1.0e-3\n"
                       "  schedule: constant\n"
                       "align:\n"
                       "  methods: [weight_matching, activation_matching, ste, sinkhorn]\n"
                       "sinkhorn:\n"
                       "  costs: [l2, mid, rnd]\n"
                       "  tau: 1.0\n"
                       "  iterations: 20\n"
                       "  epochs: 20\n"
                       "  lr: 0.1\n"
                       "interpolation:\n"
                       "  points: 25\n"
                       "  splits: [train, test]\n"
                       "  bn_reset: auto\n";
    ck_assert_msg(load_text("design.yaml", text, NULL, 0) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(cfg.mode, SK_MODE_SINKHORN);
    ck_assert_int_eq(cfg.dataset.name, SK_DS_CIFAR10);
    ck_assert_int_eq(cfg.dataset.normalize, SK_NORMALIZE_AUTO); /* true is an alias */
    ck_assert_int_eq(cfg.align.n_methods, 4);
    ck_assert_int_eq(cfg.align.methods[2], SK_ALIGN_STE);
    ck_assert_int_eq(cfg.sinkhorn.n_costs, 3);
    ck_assert_int_eq(cfg.sinkhorn.costs[1], SK_SRB_MID);
    ck_assert_double_eq(cfg.train.lr, 1e-3);
    ck_assert_int_eq(cfg.train.epochs, 20);
    ck_assert_str_eq(cfg.models[0].weights, "results/cifar_mlp/model_a.h5");
}
END_TEST

/* Each kind of error, with its exact message. */
static void expect_error(const char *text, const char *want)
{
    sk_err_clear();
    ck_assert_int_eq(load_text("bad.yaml", text, NULL, 0), SK_ECONFIG);
    ck_assert_msg(strcmp(msg(), want) == 0, "got:  %s\nwant: %s", msg(), want);
}

START_TEST(test_errors_exact)
{
    expect_error("name: x\nseed: 1\nmode: sinkhron\n",
                 "bad.yaml:3:7: mode must be one of train, weight_matching, activation_matching, sinkhorn, "
                 "continual (got \"sinkhron\"); did you mean \"sinkhorn\"?");
    expect_error("train:\n  epoch: 3\n",
                 "bad.yaml:2:3: unknown key \"epoch\" in section train (did you mean \"epochs\"?)");
    expect_error(
        "colour: red\n",
        "bad.yaml:1:1: unknown key \"colour\" (expected one of: name, seed, mode, threads, output, "
        "repeat, repeat_seeds, dataset, model, models, endpoints, train, align, weight_matching, activation_matching, "
        "sinkhorn, ste, "
        "interpolation, continual, sweep, reference)");
    expect_error("train:\n  epochs: ten\n",
                 "bad.yaml:2:11: train.epochs must be an integer in 1..1000000 (got \"ten\")");
    expect_error("train:\n  epochs: 0\n", "bad.yaml:2:11: train.epochs must be an integer in 1..1000000 (got 0)");
    /* normalisation statistics and foreign-name maps */
    expect_error("dataset:\n  normalize: custom\n  mean: [0.5, 1.5, 0.5]\n",
                 "bad.yaml:3:15: dataset.mean entries must be a number >= 0 and <= 1 (got \"1.5\")");
    expect_error("dataset:\n  normalize: custom\n  mean: [0.5, 0.5, 0.5, 0.5]\n",
                 "bad.yaml:3:25: dataset.mean has more than 3 entries");
    expect_error("dataset:\n  normalize: custom\n  mean: [0.5]\n",
                 "bad.yaml:3:9: dataset.normalize custom needs dataset.mean and dataset.std with one value per channel "
                 "each (got 1 and 0)");
    expect_error("dataset:\n  std: [0.3]\n",
                 "bad.yaml:2:8: dataset.mean and dataset.std are used only with dataset.normalize: custom (got auto)");
    expect_error("models:\n  b:\n    rename: [\"module.*=x\"]\n",
                 "bad.yaml:3:14: models.b.rename entries must be FROM=TO pairs whose '*', if any, ends both sides "
                 "(a prefix rename such as \"module.*=*\") (got \"module.*=x\")");
    expect_error("models:\n  a:\n    train: sometimes\n",
                 "bad.yaml:3:12: models.a.train must be one of auto, if_missing, always, never, init (got "
                 "\"sometimes\")");
    expect_error("sinkhorn:\n  tau: -1\n", "bad.yaml:2:8: sinkhorn.tau must be a number > 0 (got -1)");
    expect_error("sinkhorn:\n  tau: [1]\n", "bad.yaml:2:8: sinkhorn.tau must be a number > 0 (got a collection)");
    expect_error("model:\n  hidden: [512, -3]\n",
                 "bad.yaml:2:17: model.hidden entries must be an integer in 1..1000000 (got \"-3\")");
    expect_error("model:\n  hidden: {a: 1}\n", "bad.yaml:2:11: model.hidden must be a list such as [512, 512, 512]");
    expect_error("dataset:\n  augment: maybe\n",
                 "bad.yaml:2:12: dataset.augment must be true or false (got \"maybe\")");
    expect_error("dataset: cifar10\n", "bad.yaml:1:10: dataset must be a mapping of keys (a section)");
    expect_error("align:\n  methods: [ste, ste]\n", "bad.yaml:2:18: align.methods lists \"ste\" twice");
    expect_error("seed: 1\nseed: 2\n", "bad.yaml:2:1: duplicate key seed");
    expect_error("model:\n  hidden: [512, 512\n",
                 "bad.yaml:3:1: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence");
    expect_error("a: b: c\n", "bad.yaml:1:5: YAML syntax error: mapping values are not allowed in this context");
    expect_error("- 1\n- 2\n", "bad.yaml:1:1: the config must be a mapping of keys (name: ..., mode: ..., ...)");
    expect_error(
        "dataset:\n  train_limit: 100\n  validation: 100\n",
        "bad.yaml:3:15: dataset.validation (100) must be smaller than dataset.train_limit (100): the validation "
        "examples are drawn from the training examples kept");
    expect_error("train:\n  select: best_validation\n",
                 "bad.yaml:2:11: train.select best_validation needs a validation split: set dataset.validation to the "
                 "number of training examples to hold out");
    expect_error(
        "train:\n  select: best\n",
        "bad.yaml:2:11: train.select must be one of last, best_validation (got \"best\"); did you mean \"last\"?");
    expect_error("models:\n  b: {dropout: -0.5}\n",
                 "bad.yaml:2:16: models.b.dropout must be in [0, 1), or -1 for model.dropout (got -0.5)");
    expect_error("models:\n  a: {dropout: 1}\n",
                 "bad.yaml:2:16: models.a.dropout must be in [0, 1), or -1 for model.dropout (got 1)");
    expect_error("models:\n  a: {dropout: 2}\n",
                 "bad.yaml:2:16: models.a.dropout must be a number >= -1 and <= 1 (got 2)");
    expect_error("dataset:\n  name: cifar10\nmodel:\n  arch: vgg11\nmodels:\n  b: {dropout: 0.25}\n",
                 "bad.yaml:6:16: models.b.dropout is an MLP option (model.arch is vgg11)");
    expect_error("dataset:\n  name: mnist\nmodel:\n  arch: vgg11\n",
                 "bad.yaml:4:9: model.arch vgg11 needs 32x32 inputs (CIFAR); use mlp or resnet20 for mnist");
}
END_TEST

START_TEST(test_missing_file)
{
    sk_err_clear();
    ck_assert_int_eq(sk_config_load(&cfg, "/nonexistent/x.yaml", NULL, 0), SK_ECONFIG);
    ck_assert_str_eq(sk_err_msg(), "/nonexistent/x.yaml: No such file or directory");
}
END_TEST

START_TEST(test_set_overrides)
{
    const char *sets[] = {
        "model.hidden=[1024,1024]", "sinkhorn.tau=0.5",      "models.b.seed=9", "align.methods=[sinkhorn]",
        "dataset.name=cifar10",     "output=/tmp/somewhere", "name=renamed"};
    ck_assert_msg(load_text("s.yaml", "model:\n  hidden: [8]\n", sets, 7) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(cfg.model.n_hidden, 2);
    ck_assert_int_eq(cfg.model.hidden[1], 1024);
    ck_assert_double_eq(cfg.sinkhorn.tau, 0.5);
    ck_assert_int_eq(cfg.models[1].seed, 9);
    ck_assert_int_eq(cfg.align.n_methods, 1);
    ck_assert_int_eq(cfg.align.methods[0], SK_ALIGN_SINKHORN);
    ck_assert_str_eq(cfg.dataset.path, "datasets/cifar10");
    ck_assert_str_eq(cfg.models[0].weights, "/tmp/somewhere/model_a.h5");
    ck_assert_str_eq(cfg.name, "renamed");

    const char *bad1[] = {"sinkhorn.tau=-2"};
    sk_err_clear();
    ck_assert_int_eq(load_text("s.yaml", "seed: 1\n", bad1, 1), SK_ECONFIG);
    ck_assert_str_eq(sk_err_msg(), "--set sinkhorn.tau=-2: sinkhorn.tau must be a number > 0 (got -2)");
    const char *bad2[] = {"sinkhorn.tua=2"};
    sk_err_clear();
    ck_assert_int_eq(load_text("s.yaml", "seed: 1\n", bad2, 1), SK_ECONFIG);
    ck_assert_str_eq(sk_err_msg(),
                     "--set sinkhorn.tua=2: unknown key \"sinkhorn.tua\" (did you mean \"sinkhorn.tau\"?)");
    const char *bad3[] = {"model.hidden"};
    sk_err_clear();
    ck_assert_int_eq(load_text("s.yaml", "seed: 1\n", bad3, 1), SK_ECONFIG);
    ck_assert_str_eq(sk_err_msg(), "--set model.hidden: expected KEY=VALUE, e.g. --set model.hidden=[1024,1024]");
    const char *bad4[] = {"model.hidden=[1,"};
    sk_err_clear();
    ck_assert_int_eq(load_text("s.yaml", "seed: 1\n", bad4, 1), SK_ECONFIG);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "--set model.hidden=[1,: YAML syntax error"));
}
END_TEST

START_TEST(test_roundtrip)
{
    const char *sets[] = {"model.hidden=[300,200,100]",     "train.lr=0.000123456789", "name=we:ird",
                          "dataset.path=/data/my cifar #1", "sinkhorn.costs=[mid]",    "train.eps=1e-12"};
    /* name is validated: use a legal one but an odd path. */
    sets[2] = "name=odd.name-1";
    ck_assert_msg(load_text("rt.yaml", "mode: sinkhorn\n", sets, 6) == SK_OK, "%s", sk_err_msg());
    char *y1 = sk_config_to_yaml(&cfg);
    sk_config first = cfg;
    tu_write_str(tu_path("resolved.yaml"), y1);
    ck_assert_msg(sk_config_load(&cfg, tu_path("resolved.yaml"), NULL, 0) == SK_OK, "%s", sk_err_msg());
    char *y2 = sk_config_to_yaml(&cfg);
    ck_assert_str_eq(y1, y2);
    ck_assert(memcmp(&first, &cfg, sizeof cfg) == 0);
    ck_assert_str_eq(cfg.dataset.path, "/data/my cifar #1");
    ck_assert_double_eq(cfg.train.lr, 0.000123456789);
    free(y1);
    free(y2);
    char *m = sk_config_model_yaml(&cfg);
    ck_assert_ptr_nonnull(strstr(m, "arch: mlp"));
    ck_assert_ptr_nonnull(strstr(m, "hidden: [300, 200, 100]"));
    ck_assert_ptr_null(strstr(m, "seed"));
    free(m);
}
END_TEST

/* reference: published values at lambda = 1/2, parsed, kept through the
 * resolved config and sweeps, and refused with file:line:col when wrong. */
START_TEST(test_reference)
{
    const char *text = "mode: sinkhorn\n"
                       "reference:\n"
                       "  source: \"Pe\xc3\xb1"
                       "a et al., CVPR 2023, Fig. 4 (read off the plot)\"\n"
                       "  split: test\n"
                       "  endpoints: {loss: 1.3, accuracy: 0.53}\n"
                       "  methods:\n"
                       "    naive: {loss: 2.3, accuracy: 0.15}\n"
                       "    weight_matching: {accuracy: 0.39, loss: 1.64}\n"
                       "    sinkhorn_mid:\n"
                       "      loss: 1.37\n";
    ck_assert_msg(load_text("ref.yaml", text, NULL, 0) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(cfg.reference.present, 1);
    ck_assert_int_eq(cfg.reference.split, SK_SPLIT_TEST);
    ck_assert_str_eq(cfg.reference.source, "Pe\xc3\xb1"
                                           "a et al., CVPR 2023, Fig. 4 (read off the plot)");
    ck_assert_int_eq(cfg.reference.n, 4);
    int e = sk_config_reference_find(&cfg, "endpoints"), w = sk_config_reference_find(&cfg, "weight_matching");
    int mid = sk_config_reference_find(&cfg, "sinkhorn_mid");
    ck_assert_int_ge(e, 0);
    ck_assert_double_eq(cfg.reference.entries[e].loss, 1.3);
    ck_assert_double_eq(cfg.reference.entries[e].acc, 0.53);
    ck_assert_double_eq(cfg.reference.entries[w].loss, 1.64);
    ck_assert_double_eq(cfg.reference.entries[w].acc, 0.39);
    ck_assert_int_eq(cfg.reference.entries[mid].has_loss, 1);
    ck_assert_int_eq(cfg.reference.entries[mid].has_acc, 0);
    ck_assert_int_eq(sk_config_reference_find(&cfg, "ste"), -1);
    /* the resolved config carries it and reads back to the same bytes */
    char *y1 = sk_config_to_yaml(&cfg);
    sk_config first = cfg;
    ck_assert_ptr_nonnull(strstr(y1, "reference:\n  source: \"Pe\xc3\xb1"
                                     "a et al., CVPR 2023, Fig. 4 (read off the "
                                     "plot)\"\n  split: test\n  endpoints: {loss: 1.3, accuracy: 0.53}\n  methods:\n"
                                     "    naive: {loss: 2.3, accuracy: 0.15}\n    weight_matching: {loss: 1.64, "
                                     "accuracy: 0.39}\n    sinkhorn_mid: {loss: 1.37}\n"));
    tu_write_str(tu_path("r.yaml"), y1); /* a shorter stem than the name it holds: the same name bytes */
    ck_assert_msg(sk_config_load(&cfg, tu_path("r.yaml"), NULL, 0) == SK_OK, "%s", sk_err_msg());
    ck_assert(memcmp(&first, &cfg, sizeof cfg) == 0);
    free(y1);
    /* without the section: none */
    ck_assert_int_eq(load_text("noref.yaml", "seed: 1\n", NULL, 0), SK_OK);
    ck_assert_int_eq(cfg.reference.present, 0);
    ck_assert_int_eq(sk_config_reference_find(&cfg, "naive"), -1);
    y1 = sk_config_to_yaml(&cfg);
    ck_assert_ptr_null(strstr(y1, "reference"));
    free(y1);
    /* a sweep item keeps it */
    ck_assert_msg(load_text("refsw.yaml",
                            "reference:\n  endpoints: {accuracy: 0.5}\nsweep:\n  key: seed\n  values: [1, 2]\n", NULL,
                            0) == SK_OK,
                  "%s", sk_err_msg());
    sk_config item;
    ck_assert_int_eq(sk_config_sweep_item(&cfg, 1, &item), SK_OK);
    ck_assert_int_eq(item.reference.present, 1);
    ck_assert_double_eq(item.reference.entries[0].acc, 0.5);
    /* --set cannot change it */
    const char *sets[] = {"reference.split=train"};
    sk_err_clear();
    ck_assert_int_eq(load_text("ref.yaml", text, sets, 1), SK_ECONFIG);
    ck_assert_str_eq(
        sk_err_msg(),
        "--set reference.split=train: the reference section cannot be set with --set; edit the config file");
    /* errors name the file, line and column */
    expect_error("reference: [1, 2]\n",
                 "bad.yaml:1:12: reference must be a section with source, split, endpoints and methods (published "
                 "values at lambda = 1/2)");
    expect_error("reference:\n  sorce: x\n",
                 "bad.yaml:2:3: unknown key \"sorce\" in section reference (expected one of: source, split, endpoints, "
                 "methods); did you mean \"source\"?");
    expect_error("reference:\n  split: validation\n  endpoints: {loss: 1}\n",
                 "bad.yaml:2:10: reference.split must be one of train, test (got \"validation\")");
    expect_error("reference:\n  source: x\n",
                 "bad.yaml:2:3: reference needs endpoints or methods (the values to show beside the run's)");
    expect_error("reference:\n  methods:\n    sinkhorn_mdi: {loss: 1}\n",
                 "bad.yaml:3:5: unknown method \"sinkhorn_mdi\" in reference.methods (expected one of: naive, "
                 "weight_matching, activation_matching, ste, sinkhorn_l2, sinkhorn_l1, sinkhorn_cosine, sinkhorn_mid, "
                 "sinkhorn_rnd); did you mean \"sinkhorn_mid\"?");
    expect_error("reference:\n  methods:\n    sinkhorn: {loss: 1}\n",
                 "bad.yaml:3:5: unknown method \"sinkhorn\" in reference.methods (expected one of: naive, "
                 "weight_matching, activation_matching, ste, sinkhorn_l2, sinkhorn_l1, sinkhorn_cosine, sinkhorn_mid, "
                 "sinkhorn_rnd)");
    expect_error("reference:\n  methods:\n    naive: {loss: 2.3, accuracy: 15}\n",
                 "bad.yaml:3:34: reference.methods.naive.accuracy must be a fraction in [0, 1] (53% is 0.53) (got "
                 "\"15\")");
    expect_error("reference:\n  methods:\n    ste: {loss: -1}\n",
                 "bad.yaml:3:17: reference.methods.ste.loss must be a number >= 0 (got \"-1\")");
    expect_error("reference:\n  methods:\n    ste: {loss: high}\n",
                 "bad.yaml:3:17: reference.methods.ste.loss must be a number >= 0 (got \"high\")");
    expect_error("reference:\n  endpoints: {los: 1}\n",
                 "bad.yaml:2:15: unknown key \"los\" in reference.endpoints (expected loss, accuracy); did you mean "
                 "\"loss\"?");
    expect_error("reference:\n  endpoints: {}\n",
                 "bad.yaml:2:14: reference.endpoints needs loss, accuracy or both, e.g. {loss: 1.37, accuracy: 0.50}");
    expect_error("reference:\n  endpoints: 1.3\n",
                 "bad.yaml:2:14: reference.endpoints must be a mapping such as {loss: 1.37, accuracy: 0.50}");
    expect_error("reference:\n  methods:\n    naive: {loss: 1, loss: 2}\n",
                 "bad.yaml:3:22: duplicate key reference.methods.naive.loss");
    expect_error("reference:\n  methods:\n    naive: {loss: 1}\n    naive: {loss: 2}\n",
                 "bad.yaml:4:5: duplicate key reference.methods.naive");
    expect_error("reference:\n  methods: [naive]\n",
                 "bad.yaml:2:12: reference.methods must be a mapping of result names to values, e.g. sinkhorn_mid: "
                 "{loss: 1.37, accuracy: 0.50}");
    expect_error("reference:\n  split: test\n  split: train\n", "bad.yaml:3:3: duplicate key reference.split");
    expect_error("reference:\n  endpoints: {loss: 1}\nreference:\n  endpoints: {loss: 1}\n",
                 "bad.yaml:3:1: duplicate key reference");
}
END_TEST

/* sweep: parsing (key first whatever the order), default and explicit
 * labels, items with their derived paths, --set, round trip, errors. */
/* Repetitions: the seed rule (disjoint A and B seeds, repetition 0 the
 * config itself), explicit pairs, the derived configs and the errors. */
START_TEST(test_repeat)
{
    ck_assert_msg(load_text("rp.yaml", "seed: 5\nmodels: {a: {seed: 1}, b: {seed: 2}}\nrepeat: 4\n", NULL, 0) == SK_OK,
                  "%s", sk_err_msg());
    ck_assert_int_eq(sk_config_n_repetitions(&cfg), 4);
    long long s, a, b, as[4], bs[4];
    for (int r = 0; r < 4; r++) {
        sk_config_repetition_seeds(&cfg, r, &s, &as[r], &bs[r]);
        ck_assert_int_eq(s, 5 + r);
    }
    ck_assert_int_eq(as[0], 1); /* repetition 0: the config's own seeds */
    ck_assert_int_eq(bs[0], 2);
    ck_assert_int_eq(as[2], 5); /* stride 2 |2 - 1| */
    ck_assert_int_eq(bs[2], 6);
    for (int r = 0; r < 4; r++)
        for (int q = 0; q < 4; q++)
            ck_assert(as[r] != bs[q] && (r == q || as[r] != as[q]));
    sk_config rep;
    ck_assert_int_eq(sk_config_repetition(&cfg, 3, &rep), SK_OK);
    ck_assert_int_eq(rep.seed, 8);
    ck_assert_int_eq(rep.models[0].seed, 7);
    ck_assert_int_eq(rep.models[1].seed, 8);
    ck_assert_int_eq(rep.repeat, 1);
    ck_assert_str_eq(rep.output, "results/rp/rep3");
    ck_assert_str_eq(rep.models[1].weights, "results/rp/rep3/model_b.h5");
    sk_err_clear();
    ck_assert_int_eq(sk_config_repetition(&cfg, 4, &rep), SK_EINVAL);

    /* a wider gap: stride 2 |b - a| keeps them apart */
    ck_assert_int_eq(load_text("rp.yaml", "models: {a: {seed: 10}, b: {seed: 4}}\nrepeat: 3\n", NULL, 0), SK_OK);
    sk_config_repetition_seeds(&cfg, 2, &s, &a, &b);
    ck_assert_int_eq(a, 34);
    ck_assert_int_eq(b, 28);

    /* explicit pairs: their number is the number of repetitions */
    ck_assert_msg(load_text("rp.yaml", "repeat_seeds: [[3, 9], [4, 11]]\n", NULL, 0) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(sk_config_n_repetitions(&cfg), 2);
    sk_config_repetition_seeds(&cfg, 1, &s, &a, &b);
    ck_assert_int_eq(a, 4);
    ck_assert_int_eq(b, 11);
    char *y = sk_config_to_yaml(&cfg);
    ck_assert_ptr_nonnull(strstr(y, "\nrepeat_seeds: [[3, 9], [4, 11]]\n"));
    free(y);
    const char *same[] = {"repeat=2"};
    ck_assert_int_eq(load_text("rp.yaml", "repeat_seeds: [[3, 9], [4, 11]]\n", same, 1), SK_OK);

    expect_error("repeat: 0\n", "bad.yaml:1:9: repeat must be an integer in 1..10000 (got 0)");
    expect_error("repeat_seeds: [1, 2]\n", "bad.yaml:1:16: repeat_seeds entries must be pairs [A, B] of seeds");
    expect_error("repeat_seeds: [[1, -2]]\n",
                 "bad.yaml:1:20: repeat_seeds entries must be an integer >= 0 (got \"-2\")");
    expect_error("repeat: 3\nrepeat_seeds: [[1, 2]]\n",
                 "bad.yaml:2:15: repeat is 3 but repeat_seeds has 1 pairs (repeat_seeds sets the number of "
                 "repetitions)");
    expect_error("sweep: {key: repeat, values: [1, 2]}\n",
                 "bad.yaml:1:14: sweep.key cannot be repeat: every sweep item runs the config's repetitions");
}
END_TEST

START_TEST(test_sweep)
{
    const char *text = "name: sw\nmode: weight_matching\n"
                       "models:\n  b: { weights: /w/b.h5 }\n"
                       "sweep:\n  values: [[16, 16], [32, 32, 32, 32]]\n  key: model.hidden\n";
    ck_assert_msg(load_text("sw.yaml", text, NULL, 0) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(cfg.sweep.n, 2);
    ck_assert_str_eq(cfg.sweep.key, "model.hidden");
    ck_assert_str_eq(cfg.sweep.values[0], "[16, 16]");
    ck_assert_str_eq(cfg.sweep.labels[1], "32-32-32-32");
    sk_config item;
    ck_assert_int_eq(sk_config_sweep_item(&cfg, 1, &item), SK_OK);
    ck_assert_int_eq(item.sweep.n, 0);
    ck_assert_int_eq(item.model.n_hidden, 4);
    ck_assert_int_eq(item.model.hidden[3], 32);
    ck_assert_str_eq(item.output, "results/sw/32-32-32-32");
    ck_assert_str_eq(item.models[0].weights, "results/sw/32-32-32-32/model_a.h5"); /* derived: follows */
    ck_assert_str_eq(item.models[1].weights, "/w/b.h5");                           /* explicit: kept */
    sk_err_clear();
    ck_assert_int_eq(sk_config_sweep_item(&cfg, 2, &item), SK_EINVAL);

    /* Round trip: the resolved YAML (with its labels) loads to the same bytes. */
    char *y1 = sk_config_to_yaml(&cfg);
    sk_config first = cfg;
    tu_write_str(tu_path("sw.yaml"), y1); /* same stem: the name buffer holds the same bytes */
    ck_assert_msg(sk_config_load(&cfg, tu_path("sw.yaml"), NULL, 0) == SK_OK, "%s", sk_err_msg());
    char *y2 = sk_config_to_yaml(&cfg);
    ck_assert_str_eq(y1, y2);
    ck_assert(memcmp(&first, &cfg, sizeof cfg) == 0);
    free(y1);
    free(y2);

    /* Strings are quoted, labels are folder-safe; explicit labels win. */
    ck_assert_msg(load_text("sw2.yaml", "sweep:\n  key: dataset.path\n  values: [\"/a b\", x]\n", NULL, 0) == SK_OK,
                  "%s", sk_err_msg());
    ck_assert_str_eq(cfg.sweep.values[0], "\"/a b\"");
    ck_assert_str_eq(cfg.sweep.labels[0], "_ab");
    ck_assert_int_eq(sk_config_sweep_item(&cfg, 0, &item), SK_OK);
    ck_assert_str_eq(item.dataset.path, "/a b");
    ck_assert_msg(load_text("sw3.yaml", "sweep:\n  key: seed\n  values: [1, 2]\n  labels: [s1, s2]\n", NULL, 0) ==
                      SK_OK,
                  "%s", sk_err_msg());
    ck_assert_str_eq(cfg.sweep.labels[1], "s2");
    ck_assert_int_eq(sk_config_sweep_item(&cfg, 1, &item), SK_OK);
    ck_assert_int_eq(item.seed, 2);
    ck_assert_str_eq(item.output, "results/sw3/s2");

    /* --set: values reset the labels; an empty list turns the sweep off. */
    const char *one[] = {"sweep.values=[7]"};
    ck_assert_msg(load_text("sw3.yaml", "sweep:\n  key: seed\n  values: [1, 2]\n  labels: [s1, s2]\n", one, 1) == SK_OK,
                  "%s", sk_err_msg());
    ck_assert_int_eq(cfg.sweep.n, 1);
    ck_assert_str_eq(cfg.sweep.labels[0], "7");
    const char *off[] = {"sweep.values=[]"};
    ck_assert_int_eq(load_text("sw3.yaml", "sweep:\n  key: seed\n  values: [1, 2]\n", off, 1), SK_OK);
    ck_assert_int_eq(cfg.sweep.n, 0);
    const char *badset[] = {"sweep.values=[vgg12]"};
    ck_assert_int_eq(
        load_text("sw4.yaml", "dataset: {name: cifar10}\nsweep: {key: model.arch, values: [vgg11]}\n", badset, 1),
        SK_ECONFIG);
    ck_assert_str_eq(sk_err_msg(), "--set sweep.values=[vgg12]: model.arch must be one of mlp, vgg11, vgg13, vgg16, "
                                   "vgg19, resnet20 (got \"vgg12\"); did you mean \"vgg11\"?");

    expect_error("sweep:\n  key: model.arc\n  values: [1]\n",
                 "bad.yaml:2:8: sweep.key must name a config key such as model.arch (got \"model.arc\"); "
                 "did you mean \"model.arch\"?");
    expect_error("sweep:\n  key: model.arch\n  values: [vgg11, vgg12]\n",
                 "bad.yaml:3:19: model.arch must be one of mlp, vgg11, vgg13, vgg16, vgg19, resnet20 (got \"vgg12\"); "
                 "did you mean \"vgg11\"?");
    expect_error("sweep:\n  key: model.arch\n  value: [vgg11]\n",
                 "bad.yaml:3:3: unknown key \"value\" in section sweep (expected one of: key, values, labels); "
                 "did you mean \"values\"?");
    expect_error("sweep:\n  key: seed\n  values: [1, 2]\n  labels: [a, b, c]\n",
                 "bad.yaml:4:11: sweep.labels has 3 entries but sweep.values has 2");
    expect_error("sweep:\n  key: seed\n  values: [1, 2]\n  labels: [a, a/b]\n",
                 "bad.yaml:4:15: sweep.labels entries must be folder names of letters, digits, '_', '-' and '.', "
                 "not starting with '.' (at most 63 characters)");
    expect_error("sweep:\n  key: seed\n  values: [1, 2]\n  labels: [a, .b]\n",
                 "bad.yaml:4:15: sweep.labels entries must be folder names of letters, digits, '_', '-' and '.', "
                 "not starting with '.' (at most 63 characters)");
    expect_error("sweep:\n  key: seed\n  values: [1, 2]\n  labels: [a, a]\n",
                 "bad.yaml:4:15: sweep.labels lists \"a\" twice");
    expect_error("sweep:\n  key: output\n  values: [x]\n",
                 "bad.yaml:2:8: sweep.key cannot be output: every sweep item writes into <output>/<label>");
    expect_error("sweep:\n  key: seed\n", "bad.yaml:2:3: sweep needs values: the list of values of sweep.key to run");
    expect_error("sweep: [1]\n", "bad.yaml:1:8: sweep must be a section with key, values and (optionally) labels");
    expect_error("swep:\n  key: seed\n", "bad.yaml:1:1: unknown key \"swep\" (did you mean \"sweep\"?)");
    expect_error("dataset: {name: cifar10}\nsweep:\n  key: model.arch\n  values: [vgg11, resnet20]\n",
                 "bad.yaml:4:19: sweep item resnet20 (model.arch = resnet20): model.arch resnet20 needs model.norm "
                 "batchnorm or layernorm");
}
END_TEST

/* Only a regular file is a config, and a bounded one: a FIFO must not
 * block (the alarm turns a regression into a failure, not a hang), a
 * directory or a device is refused with a clear config error. */
START_TEST(test_config_file_kinds)
{
    const char *p = tu_path("fifo.yaml");
    char *big;
    alarm(20);
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    sk_err_clear();
    ck_assert_int_eq(sk_config_load(&cfg, p, NULL, 0), SK_ECONFIG);
    ck_assert_str_eq(msg(), "fifo.yaml: not a regular file (a FIFO); a config is a YAML file");
    alarm(0);
    p = tu_path("dir.yaml");
    ck_assert_int_eq(mkdir(p, 0755), 0);
    ck_assert_int_eq(sk_config_load(&cfg, p, NULL, 0), SK_ECONFIG);
    ck_assert_str_eq(msg(), "dir.yaml: not a regular file (a directory); a config is a YAML file");
    ck_assert_int_eq(sk_config_load(&cfg, "/dev/null", NULL, 0), SK_ECONFIG);
    ck_assert_str_eq(sk_err_msg(), "/dev/null: not a regular file (a character device); a config is a YAML file");
    ck_assert_int_eq(sk_config_load(&cfg, "/dev/zero", NULL, 0), SK_ECONFIG);
    ck_assert_str_eq(sk_err_msg(), "/dev/zero: not a regular file (a character device); a config is a YAML file");
    ck_assert_int_eq(sk_config_load(&cfg, "/dev/urandom", NULL, 0), SK_ECONFIG);
    /* At most 1 MiB (here: a comment one byte too long). */
    big = malloc((1 << 20) + 2);
    memset(big, '#', (1 << 20) + 1);
    big[(1 << 20) + 1] = '\0';
    ck_assert_int_eq(load_text("big.yaml", big, NULL, 0), SK_ECONFIG);
    ck_assert_str_eq(msg(), "big.yaml: 1048577 bytes is too large for a config (at most 1 MiB)");
    big[1 << 20] = '\0';
    ck_assert_msg(load_text("big.yaml", big, NULL, 0) == SK_OK, "%s", sk_err_msg());
    free(big);
    /* An empty regular file is a config of defaults. */
    ck_assert_msg(load_text("empty.yaml", "", NULL, 0) == SK_OK, "%s", sk_err_msg());
}
END_TEST

/* Nesting deeper than 64 levels stops the parse where it happens (libyaml's
 * scanner is quadratic in the depth: 100,000 levels took a minute), in a
 * file, in block style and in a --set value. */
START_TEST(test_nesting_depth)
{
    const int n = 100000;
    char *t = malloc(2 * (size_t)n + 32), *set = malloc(2 * (size_t)n + 32), want[512];
    size_t j = 0;
    alarm(20);
    for (int i = 0; i < n; i++)
        t[j++] = '[';
    for (int i = 0; i < n; i++)
        t[j++] = ']';
    t[j] = '\0';
    expect_error(t, "bad.yaml:1:65: YAML nesting deeper than 64 levels");
    j = (size_t)sprintf(t, "model:\n  hidden: ");
    for (int i = 0; i < n; i++)
        t[j++] = '[';
    t[j] = '\0';
    expect_error(t, "bad.yaml:2:73: YAML nesting deeper than 64 levels");
    /* Block style: 70 mappings, one per line. */
    j = 0;
    for (int i = 0; i < 70; i++)
        j += (size_t)sprintf(t + j, "%*sk:\n", i, "");
    expect_error(t, "bad.yaml:65:65: YAML nesting deeper than 64 levels");
    /* --set */
    j = (size_t)sprintf(set, "model.hidden=");
    for (int i = 0; i < n; i++)
        set[j++] = '[';
    for (int i = 0; i < n; i++)
        set[j++] = ']';
    set[j] = '\0';
    const char *sets[] = {set};
    sk_err_clear();
    ck_assert_int_eq(load_text("s.yaml", "seed: 1\n", sets, 1), SK_ECONFIG);
    snprintf(want, sizeof want, "--set model.hidden=%.147s... (%zu characters): YAML nesting deeper than 64 levels",
             t + 0, j);
    memset(want + 19, '[', 147);
    ck_assert_str_eq(sk_err_msg(), want);
    /* 64 levels are fine as YAML (here the schema refuses the value). */
    strcpy(t, "model:\n  hidden: ");
    j = strlen(t);
    for (int i = 0; i < 62; i++) /* the document's two mappings are levels too */
        t[j++] = '[';
    for (int i = 0; i < 62; i++)
        t[j++] = ']';
    t[j++] = '\n';
    t[j] = '\0';
    expect_error(t, "bad.yaml:2:12: model.hidden entries must be an integer in 1..1000000 (got a collection)");
    alarm(0);
    free(t);
    free(set);
}
END_TEST

START_TEST(test_second_document)
{
    const char *m = "a second YAML document (a config is one document: remove the '---' line and what follows, or "
                    "merge it into the first)";
    char want[512];
    snprintf(want, sizeof want, "bad.yaml:2:1: %s", m);
    expect_error("seed: 1\n---\nseed: 2\n", want);
    expect_error("seed: 1\n---\nseed: [\n", want); /* a syntax error in it too */
    expect_error("seed: 1\n---\n", want);
    expect_error("seed: 1\n...\nseed: 2\n", "bad.yaml:3:1: YAML syntax error: did not find expected <document start>");
    /* One document with its markers is fine. */
    ck_assert_msg(load_text("one.yaml", "---\nseed: 3\n...\n", NULL, 0) == SK_OK, "%s", sk_err_msg());
    ck_assert_int_eq(cfg.seed, 3);
    const char *sets[] = {"model.hidden=[1]\n---\n[2]"};
    ck_assert_int_eq(load_text("s.yaml", "seed: 1\n", sets, 1), SK_ECONFIG);
    snprintf(want, sizeof want, "--set model.hidden=[1]\\n---\\n[2]: %s", m);
    ck_assert_str_eq(sk_err_msg(), want);
}
END_TEST

/* The name is a folder under results/: never ".", "..", hidden or with a
 * '/', whether it comes from the file, --set or the file's name; the error
 * points at the value. */
START_TEST(test_name_errors)
{
    expect_error("seed: 1\nname: ..\n",
                 "bad.yaml:2:7: name \"..\" must not start with '.' (it is a folder name: results/<name>/)");
    expect_error("name: .\n",
                 "bad.yaml:1:7: name \".\" must not start with '.' (it is a folder name: results/<name>/)");
    expect_error("name: .hidden\n",
                 "bad.yaml:1:7: name \".hidden\" must not start with '.' (it is a folder name: results/<name>/)");
    expect_error("name: \"a/b\"\n", "bad.yaml:1:7: name \"a/b\" may only contain letters, digits, '_', '-' and '.'");
    expect_error("name: \"../x\"\n", "bad.yaml:1:7: name \"../x\" may only contain letters, digits, '_', '-' and '.'");
    const char *sets[] = {"name=.."};
    sk_err_clear();
    ck_assert_int_eq(load_text("s.yaml", "name: fine\n", sets, 1), SK_ECONFIG);
    ck_assert_str_eq(sk_err_msg(), "--set name=..: name \"..\" must not start with '.' (it is a folder name: "
                                   "results/<name>/)");
    const char *nl[] = {"name=a\nb"};
    sk_err_clear();
    ck_assert_int_eq(load_text("s.yaml", "name: fine\n", nl, 1), SK_ECONFIG);
    ck_assert_str_eq(sk_err_msg(),
                     "--set name=a\\nb: name \"a\\nb\" may only contain letters, digits, '_', '-' and '.'");
    sk_err_clear();
    ck_assert_int_eq(load_text(".x.yaml", "seed: 1\n", NULL, 0), SK_ECONFIG);
    ck_assert_str_eq(msg(), ".x.yaml: name \".x.yaml\" (the config file's name; set name: in the config) must not "
                            "start with '.' (it is a folder name: results/<name>/)");
    ck_assert_msg(load_text(".x.yaml", "name: x.1..2\n", NULL, 0) == SK_OK, "%s", sk_err_msg());
    ck_assert_str_eq(cfg.output, "results/x.1..2");
}
END_TEST

/* Every constraint the modules would check during a run is a config error
 * at load (so `check` and `run` refuse the same configs, before any work),
 * at the position of the key given last. */
START_TEST(test_run_constraints)
{
    /* Values that are never valid: the schema's ranges. */
    expect_error("train:\n  beta1: 1\n", "bad.yaml:2:10: train.beta1 must be a number >= 0 and < 1 (got 1)");
    expect_error("train:\n  beta2: 1.0\n", "bad.yaml:2:10: train.beta2 must be a number >= 0 and < 1 (got 1.0)");
    expect_error("train:\n  momentum: 1\n", "bad.yaml:2:13: train.momentum must be a number >= 0 and < 1 (got 1)");
    expect_error("ste:\n  momentum: 1\n", "bad.yaml:2:13: ste.momentum must be a number >= 0 and < 1 (got 1)");
    expect_error("continual:\n  optimizer: sgd\n  momentum: 1\n",
                 "bad.yaml:3:13: continual.momentum must be a number >= 0 and < 1 (got 1)");
    expect_error("model:\n  dropout: 1.0\n", "bad.yaml:2:12: model.dropout must be a number >= 0 and < 1 (got 1.0)");
    const char *b1[] = {"train.beta1=1"};
    sk_err_clear();
    ck_assert_int_eq(load_text("s.yaml", "seed: 1\n", b1, 1), SK_ECONFIG);
    ck_assert_str_eq(sk_err_msg(), "--set train.beta1=1: train.beta1 must be a number >= 0 and < 1 (got 1)");
    ck_assert_msg(load_text("ok.yaml", "train: {beta1: 0.99, beta2: 0.9999, momentum: 0.99}\nmodel: {dropout: 0.9}\n",
                            NULL, 0) == SK_OK,
                  "%s", sk_err_msg());

    /* Continual benchmarks: data set, labels, task count. */
    expect_error("mode: continual\ndataset:\n  name: cifar10\ncontinual:\n  benchmark: split-cifar10\n  tasks: 6\n",
                 "bad.yaml:6:10: continual.benchmark split-cifar10 has at most 5 tasks (continual.tasks is 6)");
    expect_error("mode: continual\ncontinual: {benchmark: split-cifar100, tasks: 21}\ndataset: {name: cifar100}\n",
                 "bad.yaml:2:47: continual.benchmark split-cifar100 has at most 20 tasks (continual.tasks is 21)");
    expect_error("mode: continual\ndataset:\n  name: cifar10\n",
                 "bad.yaml:3:9: continual.benchmark rotated-mnist needs dataset.name mnist or fashion-mnist (got "
                 "cifar10)");
    expect_error("dataset:\n  name: polynomial\nmode: continual\n",
                 "bad.yaml:3:7: continual.benchmark rotated-mnist needs dataset.name mnist or fashion-mnist (got "
                 "polynomial)");
    expect_error("mode: continual\ncontinual: {benchmark: split-cifar10}\n",
                 "bad.yaml:2:24: continual.benchmark split-cifar10 needs dataset.name cifar10 (got mnist)");
    expect_error("mode: continual\ndataset: {name: cifar100, labels: coarse}\ncontinual: {benchmark: split-cifar100}\n",
                 "bad.yaml:3:24: continual.benchmark split-cifar100 needs the 100 fine labels (dataset.labels is "
                 "coarse)");
    /* ... checked in mode continual only. */
    ck_assert_msg(load_text("ok.yaml", "dataset: {name: cifar10}\ncontinual: {tasks: 50}\n", NULL, 0) == SK_OK, "%s",
                  sk_err_msg());

    /* Architectures and data: the key given last is named. */
    expect_error("model:\n  arch: vgg11\ndataset:\n  name: mnist\n",
                 "bad.yaml:4:9: model.arch vgg11 needs 32x32 inputs (CIFAR); use mlp or resnet20 for mnist");
    expect_error("model:\n  arch: vgg16\n", "bad.yaml:2:9: model.arch vgg16 needs 32x32 inputs (CIFAR); use mlp or "
                                            "resnet20 for mnist");
    expect_error("dataset:\n  name: cifar10\nmodel:\n  arch: resnet20\n",
                 "bad.yaml:4:9: model.arch resnet20 needs model.norm batchnorm or layernorm");
    const char *mn[] = {"dataset.name=mnist"};
    sk_err_clear();
    ck_assert_int_eq(load_text("s.yaml", "dataset: {name: cifar10}\nmodel: {arch: vgg11}\n", mn, 1), SK_ECONFIG);
    ck_assert_str_eq(sk_err_msg(), "--set dataset.name=mnist: model.arch vgg11 needs 32x32 inputs (CIFAR); use mlp "
                                   "or resnet20 for mnist");

    /* Normalisation statistics and the data set's channels. */
    expect_error("dataset:\n  normalize: cifar10\n",
                 "bad.yaml:2:14: dataset.normalize cifar10 has 3 channels but mnist images have 1");
    expect_error("dataset:\n  name: cifar10\n  normalize: mnist\n",
                 "bad.yaml:3:14: dataset.normalize mnist has 1 channel but cifar10 images have 3");
    expect_error("dataset:\n  name: cifar10\n  normalize: custom\n  mean: [0.5]\n  std: [0.2]\n",
                 "bad.yaml:5:8: dataset.mean and dataset.std have 1 value but cifar10 images have 3 channels");
    ck_assert_msg(load_text("ok.yaml", "dataset: {name: polynomial, normalize: cifar10}\n", NULL, 0) == SK_OK, "%s",
                  sk_err_msg());

    /* The optimiser and the schedule. */
    expect_error("train:\n  optimizer: sgd\n  momentum: 0\n  nesterov: true\n",
                 "bad.yaml:4:13: train.nesterov needs train.momentum > 0 (SGD with Nesterov momentum)");
    expect_error("train:\n  schedule: cosine\n  epochs: 4\n  warmup_epochs: 4.5\n",
                 "bad.yaml:4:18: train.warmup_epochs 4.5 is longer than the training (train.epochs 4)");
    ck_assert_msg(load_text("ok.yaml", "train: {schedule: cosine, epochs: 4, warmup_epochs: 4}\n", NULL, 0) == SK_OK,
                  "%s", sk_err_msg());

    /* A sweep item names the position of its value. */
    expect_error("dataset: {name: polynomial}\nsweep:\n  key: model.arch\n  values: [mlp, vgg11]\n",
                 "bad.yaml:4:17: sweep item vgg11 (model.arch = vgg11): model.arch vgg11 needs image data "
                 "(dataset.name is polynomial)");
    expect_error("mode: continual\ndataset: {name: cifar10}\ncontinual: {benchmark: split-cifar10, tasks: 5}\n"
                 "sweep: {key: continual.tasks, values: [5, 6]}\n",
                 "bad.yaml:4:43: sweep item 6 (continual.tasks = 6): continual.benchmark split-cifar10 has at most 5 "
                 "tasks (continual.tasks is 6)");
}
END_TEST

/* --set messages: a section is not a key; control characters are escaped. */
START_TEST(test_set_messages)
{
    struct {
        const char *set, *want;
    } cases[] = {
        {"train=1", "--set train=1: train is a section, not a key: set one of its keys train.KEY (epochs, batch_size, "
                    "eval_batch_size, optimizer, lr, momentum, nesterov, weight_decay, beta1, beta2, eps, schedule, "
                    "warmup_epochs, step_epochs, gamma, clip_norm, select, allow_chance)"},
        {"models.a=x", "--set models.a=x: models.a is a section, not a key: set one of its keys models.a.KEY "
                       "(weights, seed, train, dropout, rename)"},
        {"sweep=1", "--set sweep=1: sweep is a section, not a key: set one of its keys sweep.key, sweep.values, "
                    "sweep.labels"},
        {"mode=\"a\\nb\"", "--set mode=\"a\\nb\": mode must be one of train, weight_matching, activation_matching, "
                           "sinkhorn, continual (got \"a\\nb\")"},
        {"trian\n=1", "--set trian\\n=1: unknown key \"trian\\n\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *sets[] = {cases[i].set};
        sk_err_clear();
        ck_assert_int_eq(load_text("s.yaml", "seed: 1\n", sets, 1), SK_ECONFIG);
        ck_assert_str_eq(sk_err_msg(), cases[i].want);
    }
}
END_TEST

START_TEST(test_schema_docs)
{
    /* Every key has a type, a parseable default and a description. */
    for (int i = 0; i < sk_config_n_keys(); i++) {
        const char *k, *t, *d, *doc;
        sk_config_key_info(i, &k, &t, &d, &doc);
        ck_assert(k && *k && t && *t && d && *d && doc && strlen(doc) > 5);
    }
    ck_assert_str_eq(sk_cfg_choice("model.arch", 5), "resnet20");
    ck_assert_str_eq(sk_mode_name(SK_MODE_CONTINUAL), "continual");
}
END_TEST

START_TEST(test_man_page_documents_every_key)
{
    /* The man page's CONFIGURATION section has an entry ".B key" with the
     * key's default for every key of the schema. */
    char *man = tu_read(tu_src("man/sinkrb.1"), NULL);
    ck_assert_ptr_nonnull(man);
    for (int i = 0; i < sk_config_n_keys(); i++) {
        const char *k, *d;
        char entry[256], def[256];
        sk_config_key_info(i, &k, NULL, &d, NULL);
        snprintf(entry, sizeof entry, "\n.TP\n.B %s\n", k);
        const char *at = strstr(man, entry);
        ck_assert_msg(at != NULL, "man/sinkrb.1 does not document config key %s", k);
        snprintf(def, sizeof def, "default \\fB%s\\fR", d);
        const char *next = strstr(at + 4, "\n.TP");
        const char *found = strstr(at, def);
        ck_assert_msg(found && (!next || found < next), "man/sinkrb.1: key %s lacks its default %s", k, d);
    }
    static const char *sweep_keys[] = {"sweep.key", "sweep.values", "sweep.labels"};
    for (int i = 0; i < 3; i++) {
        char entry[64];
        snprintf(entry, sizeof entry, "\n.TP\n.B %s\n", sweep_keys[i]);
        ck_assert_msg(strstr(man, entry) != NULL, "man/sinkrb.1 does not document %s", sweep_keys[i]);
    }
    free(man);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_defaults_and_derived);
    tcase_add_test(tc, test_full_file);
    tcase_add_test(tc, test_errors_exact);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_set_overrides);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_sweep);
    tcase_add_test(tc, test_repeat);
    tcase_add_test(tc, test_config_file_kinds);
    tcase_add_test(tc, test_nesting_depth);
    tcase_add_test(tc, test_second_document);
    tcase_add_test(tc, test_name_errors);
    tcase_add_test(tc, test_run_constraints);
    tcase_add_test(tc, test_set_messages);
    tcase_add_test(tc, test_reference);
    tcase_add_test(tc, test_schema_docs);
    tcase_add_test(tc, test_man_page_documents_every_key);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(config_suite());
}
