/* App layer: every config -> module option mapping (app/options.c), the
 * name tables behind the schema's choices, and the report writers
 * (app/report.c) on hand-made results. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/aggregate.h"
#include "app/app.h"
#include "app/options.h"
#include "app/provider.h"
#include "app/state.h"
#include "cfg/cfg.h"
#include "core/mem.h"
#include "io/atomic.h"
#include "rebasin/method.h"

static sk_config cfg;

static void defaults(void)
{
    sk_config_defaults(&cfg, "app");
}

START_TEST(test_options_data_model)
{
    defaults();
    cfg.dataset.name = SK_DS_CIFAR100;
    snprintf(cfg.dataset.path, sizeof cfg.dataset.path, "somewhere");
    cfg.dataset.normalize = SK_NORMALIZE_UNIT;
    cfg.dataset.labels = SK_LABELS_COARSE;
    cfg.dataset.degree = 3;
    cfg.dataset.points = 77;
    cfg.dataset.noise = 0.25;
    cfg.dataset.train_limit = 123;
    cfg.dataset.test_limit = 45;
    cfg.seed = 99;
    sk_data_opts o;
    sk_options_data(&cfg, &o);
    ck_assert_int_eq(o.kind, SK_DS_CIFAR100);
    ck_assert_str_eq(o.path, "somewhere");
    ck_assert_int_eq(o.normalize, SK_NORMALIZE_UNIT);
    ck_assert_int_eq(o.coarse_labels, 1);
    ck_assert_int_eq(o.poly_degree, 3);
    ck_assert_int_eq(o.poly_points, 77);
    ck_assert_double_eq(o.poly_noise, 0.25);
    ck_assert_int_eq(o.train_limit, 123);
    ck_assert_int_eq(o.test_limit, 45);
    ck_assert_int_eq(o.seed, 99);
    cfg.dataset.normalize = SK_NORMALIZE_AUTO;
    cfg.dataset.labels = SK_LABELS_FINE;
    sk_options_data(&cfg, &o);
    ck_assert_int_eq(o.normalize, SK_NORMALIZE_AUTO); /* the loader resolves auto */
    ck_assert_int_eq(o.coarse_labels, 0);

    sk_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.train.c = 3;
    ds.train.h = 32;
    ds.train.w = 32;
    ds.train.n_classes = 10;
    cfg.model.arch = SK_ARCH_VGG13;
    cfg.model.activation = SK_ACT_TANH;
    cfg.model.norm = SK_MNORM_LAYERNORM;
    cfg.model.width = 0.5;
    cfg.model.head = SK_VGGHEAD_LINEAR;
    cfg.model.dropout = 0.25;
    sk_model_spec ms;
    ck_assert_int_eq(sk_options_model(&cfg, &ds, &ms), SK_OK);
    ck_assert_int_eq(ms.arch, SK_ARCH_VGG13);
    ck_assert_int_eq(ms.n_hidden, 3);
    ck_assert_int_eq(ms.hidden[1], 512);
    ck_assert_int_eq(ms.activation, SK_ACT_TANH);
    ck_assert_int_eq(ms.norm, SK_MNORM_LAYERNORM);
    ck_assert_double_eq(ms.width, 0.5);
    ck_assert_int_eq(ms.vgg_head, SK_VGGHEAD_LINEAR);
    ck_assert_float_eq(ms.dropout, 0.25f);
    ck_assert_int_eq(ms.in_c, 3);
    ck_assert_int_eq(ms.in_h, 32);
    ck_assert_int_eq(ms.n_out, 10);
    ds.train.n_classes = 0; /* regression: one output */
    ck_assert_int_eq(sk_options_model(&cfg, &ds, &ms), SK_OK);
    ck_assert_int_eq(ms.n_out, 1);
}
END_TEST

/* Per-endpoint dropout reaches the model (its layers), the endpoint and its
 * recipe; keys added after recipe 1 appear only when not at their default,
 * so a config that does not use them keeps its fingerprint. */
static char *recipe_of(const sk_config *c, int e, int init)
{
    sk_strbuf b = SK_STRBUF_INIT;
    ck_assert_int_eq(sk_endpoint_recipe(c, e, init, &b), SK_OK);
    char *t = strdup(sk_strbuf_str(&b));
    sk_strbuf_free(&b);
    return t;
}

START_TEST(test_endpoint_dropout_and_recipe)
{
    defaults();
    sk_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.train.c = ds.train.h = 1;
    ds.train.w = 4;
    ds.train.n_classes = 2;
    sk_model_spec ms;
    ck_assert_double_eq(cfg.models[0].dropout, -1); /* default: model.dropout */
    ck_assert_int_eq(sk_options_model(&cfg, &ds, &ms), SK_OK);
    ck_assert_int_eq(ms.dropout_layers, 0);
    char *a0 = recipe_of(&cfg, 0, 0), *b0 = recipe_of(&cfg, 1, 0);
    ck_assert_ptr_nonnull(strstr(a0, "\nmodel.dropout: 0\n"));
    ck_assert_ptr_null(strstr(a0, "dataset.validation"));
    ck_assert_ptr_null(strstr(a0, "split_seed"));
    ck_assert_ptr_null(strstr(a0, "train.select"));
    ck_assert_ptr_nonnull(strstr(b0, "\nseed: 2\n"));

    cfg.models[1].dropout = 0.25; /* the published B */
    ck_assert_double_eq(sk_config_endpoint_dropout(&cfg, 0), 0);
    ck_assert_double_eq(sk_config_endpoint_dropout(&cfg, 1), 0.25);
    ck_assert_int_eq(sk_options_model(&cfg, &ds, &ms), SK_OK);
    ck_assert_float_eq(ms.dropout, 0.0f); /* the alignment's model */
    ck_assert_int_eq(ms.dropout_layers, 1);
    char *a1 = recipe_of(&cfg, 0, 0), *b1 = recipe_of(&cfg, 1, 0);
    ck_assert_str_eq(a1, a0); /* A's weights do not depend on B's dropout */
    ck_assert_ptr_nonnull(strstr(b1, "\nmodels.b.dropout: 0.25\n"));
    ck_assert_ptr_null(strstr(b1, "model.dropout"));
    ck_assert_str_ne(b1, b0);
    /* model.dropout now concerns only A (and the alignment) */
    cfg.model.dropout = 0.1;
    char *b2 = recipe_of(&cfg, 1, 0), *a2 = recipe_of(&cfg, 0, 0);
    ck_assert_str_eq(b2, b1);
    ck_assert_ptr_nonnull(strstr(a2, "\nmodel.dropout: 0.1\n"));
    /* an explicit 0 is an override too */
    cfg.models[0].dropout = 0;
    char *a3 = recipe_of(&cfg, 0, 0);
    ck_assert_ptr_nonnull(strstr(a3, "\nmodels.a.dropout: 0\n"));
    ck_assert_double_eq(sk_config_endpoint_dropout(&cfg, 0), 0);
    /* the split and the selection, once used, are part of the recipe */
    cfg.dataset.validation = 1000;
    cfg.train.select = SK_TRAIN_SELECT_BEST_VALIDATION;
    char *a4 = recipe_of(&cfg, 0, 0), *a4i = recipe_of(&cfg, 0, 1);
    ck_assert_ptr_nonnull(strstr(a4, "\ndataset.validation: 1000\n"));
    ck_assert_ptr_nonnull(strstr(a4, "\ntrain.select: best_validation\n"));
    ck_assert_ptr_null(strstr(a4i, "train.select")); /* an untrained initialisation has no training */
    ck_assert_ptr_null(strstr(a4i, "dataset.validation"));
    cfg.dataset.split_seed = 5;
    char *a5 = recipe_of(&cfg, 0, 0);
    ck_assert_ptr_nonnull(strstr(a5, "\ndataset.split_seed: 5\n"));
    free(a0), free(b0), free(a1), free(b1), free(a2), free(b2), free(a3), free(a4), free(a4i), free(a5);
}
END_TEST

START_TEST(test_options_optim)
{
    defaults();
    cfg.train.optimizer = SK_OPT_SGD;
    cfg.train.lr = 0.05;
    cfg.train.momentum = 0.8;
    cfg.train.nesterov = 1;
    cfg.train.weight_decay = 5e-4;
    cfg.train.beta1 = 0.8;
    cfg.train.beta2 = 0.99;
    cfg.train.eps = 1e-6;
    cfg.train.clip_norm = 2;
    cfg.train.schedule = SK_SCHED_COSINE;
    cfg.train.epochs = 4;
    cfg.train.warmup_epochs = 0.5;
    cfg.train.step_epochs = 3;
    cfg.train.gamma = 0.5;
    sk_optim_opts o;
    sk_options_optim(&cfg, 10, &o);
    ck_assert_int_eq(o.kind, SK_OPT_SGD);
    ck_assert_double_eq(o.lr, 0.05);
    ck_assert_double_eq(o.momentum, 0.8);
    ck_assert_int_eq(o.nesterov, 1);
    ck_assert_double_eq(o.weight_decay, 5e-4);
    ck_assert_double_eq(o.beta1, 0.8);
    ck_assert_double_eq(o.beta2, 0.99);
    ck_assert_double_eq(o.eps, 1e-6);
    ck_assert_double_eq(o.clip_norm, 2);
    ck_assert_int_eq(o.schedule, SK_SCHED_COSINE);
    ck_assert_int_eq(o.total_steps, 40);
    ck_assert_int_eq(o.warmup_steps, 5);
    ck_assert_int_eq(o.step_size, 30);
    ck_assert_double_eq(o.gamma, 0.5);
    /* exponential: train.gamma is per epoch, the optimiser decays per step */
    cfg.train.schedule = SK_SCHED_EXPONENTIAL;
    sk_options_optim(&cfg, 10, &o);
    ck_assert_double_eq_tol(pow(o.gamma, 10), 0.5, 1e-12);
}
END_TEST

START_TEST(test_options_methods)
{
    defaults();
    cfg.seed = 5;
    cfg.weight_matching.max_iter = 7;
    sk_wm_opts w;
    sk_options_wm(&cfg, &w);
    ck_assert_int_eq(w.max_iter, 7);
    ck_assert_int_eq(w.seed, 5);

    cfg.activation_matching.samples = 300;
    cfg.activation_matching.batch_size = 50;
    cfg.activation_matching.cost = SK_AM_CORRELATION;
    sk_am_opts a;
    sk_options_am(&cfg, &a);
    ck_assert_int_eq(a.samples, 300);
    ck_assert_int_eq(a.batch_size, 50);
    ck_assert_int_eq(a.cost, SK_AM_CORRELATION);

    cfg.sinkhorn.tau = 0.5;
    cfg.sinkhorn.iterations = 11;
    cfg.sinkhorn.scale = 2;
    cfg.sinkhorn.epochs = 3;
    cfg.sinkhorn.steps = 99;
    cfg.sinkhorn.lr = 0.2;
    cfg.sinkhorn.weight_decay = 0.03;
    cfg.sinkhorn.eps = 1e-12;
    cfg.sinkhorn.init = SK_SOFTPERM_INIT_RANDOM;
    cfg.sinkhorn.eval_batches = 4;
    cfg.sinkhorn.select = SK_SELECT_BEST;
    sk_srb_opts s;
    sk_options_srb(&cfg, SK_SRB_RND, &s);
    ck_assert_int_eq(s.cost, SK_SRB_RND);
    ck_assert_double_eq(s.tau, 0.5);
    ck_assert_int_eq(s.iterations, 11);
    ck_assert_double_eq(s.scale, 2);
    ck_assert_int_eq(s.epochs, 3);
    ck_assert_int_eq(s.steps, 99);
    ck_assert_double_eq(s.lr, 0.2);
    ck_assert_double_eq(s.weight_decay, 0.03);
    ck_assert_double_eq(s.eps, 1e-12);
    ck_assert_int_eq(s.init, SK_SOFTPERM_INIT_RANDOM);
    ck_assert_int_eq(s.seed, 5);
    ck_assert_int_eq(s.eval_batches, 4);
    ck_assert_int_eq(s.select, SK_SELECT_BEST);

    cfg.ste.epochs = 2;
    cfg.ste.lr = 0.3;
    cfg.ste.momentum = 0.5;
    cfg.ste.eval_batches = 6;
    cfg.ste.select = SK_SELECT_LAST;
    cfg.ste.batch_size = 64;
    sk_ste_opts t;
    sk_options_ste(&cfg, &t);
    ck_assert_int_eq(t.epochs, 2);
    ck_assert_double_eq(t.lr, 0.3);
    ck_assert_double_eq(t.momentum, 0.5);
    ck_assert_int_eq(t.seed, 5);
    ck_assert_int_eq(t.wm_max_iter, 7);
    ck_assert_int_eq(t.eval_batches, 6);
    ck_assert_int_eq(t.select, SK_SELECT_LAST);
    ck_assert_int_eq(t.batch_size, 64);

    cfg.interpolation.bn_reset = SK_BNRESET_AUTO;
    ck_assert_int_eq(sk_options_bn_reset(&cfg, 1), 1);
    ck_assert_int_eq(sk_options_bn_reset(&cfg, 0), 0);
    cfg.interpolation.bn_reset = SK_BNRESET_RECOMPUTE;
    ck_assert_int_eq(sk_options_bn_reset(&cfg, 0), 1);
    cfg.interpolation.bn_reset = SK_BNRESET_NONE;
    ck_assert_int_eq(sk_options_bn_reset(&cfg, 1), 0);
}
END_TEST

START_TEST(test_options_continual)
{
    defaults();
    cfg.seed = 11;
    cfg.continual.benchmark = SK_CL_PERMUTED;
    cfg.continual.tasks = 4;
    cfg.continual.angles = SK_CL_STEP;
    cfg.continual.step = 12;
    cfg.dataset.augment = 1;
    cfg.continual.n_methods = 2;
    cfg.continual.methods[0] = SK_CL_REBASIN;
    cfg.continual.methods[1] = SK_CL_EWC;
    cfg.continual.epochs = 3;
    cfg.continual.batch_size = 64;
    cfg.train.eval_batch_size = 256;
    cfg.continual.optimizer = SK_OPT_SGD;
    cfg.continual.lr = 0.02;
    cfg.continual.momentum = 0.7;
    cfg.continual.weight_decay = 0.001;
    cfg.train.beta1 = 0.85;
    cfg.continual.memory_per_class = 9;
    cfg.continual.ewc_lambda = 3;
    cfg.continual.fisher_samples = 17;
    cfg.continual.rebasin.alpha = 0.6;
    cfg.continual.rebasin.iterations = 13;
    sk_cl_opts o;
    sk_options_continual(&cfg, &o);
    ck_assert_int_eq(o.benchmark, SK_CL_PERMUTED);
    ck_assert_int_eq(o.tasks, 4);
    ck_assert_int_eq(o.angles, SK_CL_STEP);
    ck_assert_double_eq(o.step, 12);
    ck_assert_int_eq(o.augment, 1);
    ck_assert_int_eq(o.n_methods, 2);
    ck_assert_int_eq(o.methods[0], SK_CL_REBASIN);
    ck_assert_int_eq(o.methods[1], SK_CL_EWC);
    ck_assert_int_eq(o.epochs, 3);
    ck_assert_int_eq(o.batch_size, 64);
    ck_assert_int_eq(o.eval_batch_size, 256);
    ck_assert_int_eq(o.opt.kind, SK_OPT_SGD);
    ck_assert_double_eq(o.opt.lr, 0.02);
    ck_assert_double_eq(o.opt.momentum, 0.7);
    ck_assert_double_eq(o.opt.weight_decay, 0.001);
    ck_assert_double_eq(o.opt.beta1, 0.85);
    ck_assert_int_eq(o.memory_per_class, 9);
    ck_assert_double_eq(o.ewc_lambda, 3);
    ck_assert_int_eq(o.fisher_samples, 17);
    ck_assert_double_eq(o.rebasin.alpha, 0.6);
    ck_assert_int_eq(o.rebasin.iterations, 13);
    ck_assert_int_eq(o.seed, 11);
    /* momentum only reaches SGD */
    cfg.continual.optimizer = SK_OPT_ADAMW;
    sk_options_continual(&cfg, &o);
    ck_assert_double_eq(o.opt.momentum, 0.0);
}
END_TEST

/* The batch the model is built for: evaluation, plus whatever the run uses. */
START_TEST(test_options_model_batch)
{
    defaults();
    snprintf(cfg.models[0].weights, sizeof cfg.models[0].weights, "%s", tu_src("configs/smoke_align.yaml"));
    snprintf(cfg.models[1].weights, sizeof cfg.models[1].weights, "%s", tu_src("configs/smoke_train.yaml"));
    cfg.mode = SK_MODE_WEIGHT_MATCHING;
    cfg.align.n_methods = 1;
    cfg.align.methods[0] = SK_ALIGN_WEIGHT_MATCHING;
    cfg.train.eval_batch_size = 100;
    cfg.train.batch_size = 700;
    cfg.activation_matching.batch_size = 800;
    cfg.sinkhorn.batch_size = 900;
    cfg.ste.batch_size = 950;
    ck_assert_int_eq(sk_options_model_batch(&cfg), 100); /* both endpoints exist: evaluation only */
    cfg.align.methods[0] = SK_ALIGN_ACTIVATION_MATCHING;
    ck_assert_int_eq(sk_options_model_batch(&cfg), 800);
    cfg.align.methods[0] = SK_ALIGN_STE;
    ck_assert_int_eq(sk_options_model_batch(&cfg), 950); /* STE's own batch size, not sinkhorn.batch_size */
    cfg.ste.batch_size = 50;
    ck_assert_int_eq(sk_options_model_batch(&cfg), 100);
    cfg.align.methods[0] = SK_ALIGN_SINKHORN;
    cfg.sinkhorn.n_costs = 1;
    cfg.sinkhorn.costs[0] = SK_SRB_L2;
    ck_assert_int_eq(sk_options_model_batch(&cfg), 100); /* data-free cost */
    cfg.sinkhorn.costs[0] = SK_SRB_MID;
    ck_assert_int_eq(sk_options_model_batch(&cfg), 900);
    cfg.sinkhorn.costs[0] = SK_SRB_L2;
    cfg.models[1].weights[0] = 'x'; /* B must be trained (a path of the user's: only when asked) */
    ck_assert_int_eq(sk_options_model_batch(&cfg), 100);
    ck_assert_int_eq(sk_options_endpoint(&cfg, 1), SK_EP_MISSING);
    cfg.models[1].train = SK_ENDPOINT_IF_MISSING;
    ck_assert_int_eq(sk_options_endpoint(&cfg, 1), SK_EP_TRAIN);
    cfg.sinkhorn.costs[0] = SK_SRB_L2;
    ck_assert_int_eq(sk_options_model_batch(&cfg), 700);
}
END_TEST

/* Every choice key takes its names from a module's table: no gap, no
 * duplicate, static strings. */
/* Legend labels from the method names of files (aggregate plots). */
START_TEST(test_method_labels)
{
    static const char *const cases[][2] = {{"naive", "Naive"},
                                           {"weight_matching", "Weight matching"},
                                           {"activation_matching", "Activation matching"},
                                           {"ste", "STE"},
                                           {"sinkhorn_l2", "Sinkhorn C_L2"},
                                           {"sinkhorn_mid", "Sinkhorn C_Mid"},
                                           {"sinkhorn_rnd+repair", "Sinkhorn C_Rnd + REPAIR"},
                                           {"naive+repair", "Naive + REPAIR"},
                                           {"rebasin", "rebasin"},
                                           {"sinkhorn_nope", "sinkhorn_nope"}};
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sk_method_label_of(cases[i][0], buf, sizeof buf);
        ck_assert_str_eq(buf, cases[i][1]);
    }
}
END_TEST

START_TEST(test_name_tables)
{
    int n = sk_config_n_keys();
    int choice_keys = 0;
    for (int i = 0; i < n; i++) {
        const char *key, *type;
        sk_config_key_info(i, &key, &type, NULL, NULL);
        if (strncmp(type, "choice", 6) && strcmp(type, "list of choices")) continue;
        choice_keys++;
        int k = 0;
        for (; strcmp(sk_cfg_choice(key, k), "?"); k++) {
            ck_assert_ptr_eq(sk_cfg_choice(key, k), sk_cfg_choice(key, k)); /* no rotating buffers */
            for (int j = 0; j < k; j++)
                ck_assert_str_ne(sk_cfg_choice(key, j), sk_cfg_choice(key, k));
        }
        ck_assert_msg(k >= 2, "%s has %d choices", key, k);
    }
    ck_assert_int_ge(choice_keys, 18);
    const char *first = sk_cfg_choice("model.arch", 5);
    for (int i = 0; i < 20; i++)
        sk_cfg_choice("mode", i % 5);
    ck_assert_str_eq(first, "resnet20"); /* still valid after many other calls */
    ck_assert_str_eq(sk_method_name(SK_ALIGN_STE), "ste");
    ck_assert_str_eq(sk_cost_name(SK_SRB_COSINE), "cosine");
    ck_assert_str_eq(sk_split_name(SK_SPLIT_TEST), "test");
    ck_assert_str_eq(sk_mode_name(SK_MODE_CONTINUAL), "continual");
    ck_assert_str_eq(sk_mode_name(SK_MODE_COUNT), "?");
    ck_assert_str_eq(sk_cfg_choice("no.such.key", 0), "?");
}
END_TEST

/* ---- report writers on hand-made results ------------------------------------ */

typedef struct {
    sk_app_opts opts;
    sk_run r;
    sk_pipe_state ps;
} fake_run;

/* Three methods (naive, weight matching, Sinkhorn l2) with 3-point curves on
 * two splits; output into a fresh folder. */
static fake_run *fake_new(const char *out)
{
    fake_run *f = calloc(1, sizeof *f);
    ck_assert_ptr_nonnull(f);
    f->opts.config_path = "fake.yaml";
    f->opts.progress = SK_PROGRESS_NEVER;
    f->opts.quiet = 1;
    f->r.opts = &f->opts;
    sk_config_defaults(&f->r.cfg, "fake");
    f->r.cfg.mode = SK_MODE_SINKHORN;
    f->r.cfg.interpolation.points = 3;
    snprintf(f->r.cfg.output, sizeof f->r.cfg.output, "%s", tu_path(out));
    ck_assert_int_eq(sk_mkdir_p(f->r.cfg.output), SK_OK);
    f->r.state = &f->ps;
    snprintf(f->ps.model_desc, sizeof f->ps.model_desc, "mlp test");
    f->ps.ds_loaded = 1;
    f->ps.ds.train.n = 50;
    f->ps.ds.test.n = 20;
    f->ps.ep[0].test_acc = 0.9;
    f->ps.ep[1].test_acc = 0.8;
    f->ps.ep[0].trained = 1;
    f->ps.ep[0].epochs = 2;
    static const char *names[] = {"naive", "weight_matching", "sinkhorn_l2"};
    static const int kinds[] = {-1, SK_ALIGN_WEIGHT_MATCHING, SK_ALIGN_SINKHORN};
    static const char *labels[] = {"Naive", "Weight matching", "Sinkhorn C_L2"};
    f->ps.n_methods = 3;
    for (int k = 0; k < 3; k++) {
        sk_method_result *m = &f->ps.meth[k];
        m->kind = sk_align_kind_of(kinds[k]);
        snprintf(m->name, sizeof m->name, "%s", names[k]);
        snprintf(m->label, sizeof m->label, "%s", labels[k]);
        m->seconds = 1.5 + k;
        m->lambda = calloc(3, sizeof(double));
        m->loss = calloc(6, sizeof(double));
        m->acc = calloc(6, sizeof(double));
        for (int i = 0; i < 3; i++) {
            m->lambda[i] = 0.5 * i;
            for (int s = 0; s < 2; s++) {
                /* dyadic values: their shortest text is exact */
                m->loss[s * 3 + i] = (i == 1 ? 1.0 - 0.25 * k : 0.5) + 0.25 * s;
                m->acc[s * 3 + i] = (i == 1 ? 0.5 + 0.125 * k : 0.875) - 0.125 * s;
            }
        }
        for (int s = 0; s < 2; s++) {
            sk_barrier_compute(m->lambda, m->loss + 3 * s, 3, +1, &m->bl[s]);
            sk_barrier_compute(m->lambda, m->acc + 3 * s, 3, -1, &m->ba[s]);
        }
    }
    f->ps.meth[1].res.wm.passes = 3;
    f->ps.meth[1].res.wm.objective = 12.5;
    sk_srb_result *s = &f->ps.meth[2].res.srb;
    s->n_epochs = 2;
    s->soft_cost = calloc(2, sizeof(double));
    s->hard_cost = calloc(2, sizeof(double));
    s->soft_cost[0] = 0.75, s->soft_cost[1] = 0.5, s->hard_cost[0] = 0.25, s->hard_cost[1] = 0.125;
    s->initial_hard_cost = 1;
    s->best_epoch = 2;
    s->best_hard_cost = 0.125;
    s->n_steps = 40;
    return f;
}

static void fake_free(fake_run *f)
{
    for (int k = 0; k < f->ps.n_methods; k++) {
        free(f->ps.meth[k].lambda);
        free(f->ps.meth[k].loss);
        free(f->ps.meth[k].acc);
    }
    sk_run_files_free(&f->r);
    free(f->ps.meth[2].res.srb.soft_cost);
    free(f->ps.meth[2].res.srb.hard_cost);
    free(f);
}

START_TEST(test_report_curves_and_summary)
{
    fake_run *f = fake_new("rep1");
    ck_assert_int_eq(sk_report_curves(&f->r, &f->ps), SK_OK);
    char p[4200];
    snprintf(p, sizeof p, "%s/interp.csv", f->r.cfg.output);
    char *csv = tu_read(p, NULL);
    ck_assert_ptr_nonnull(strstr(csv, "method,split,lambda,loss,accuracy\n"));
    ck_assert_ptr_nonnull(strstr(csv, "naive,train,0,0.5,0.875\n"));
    ck_assert_ptr_nonnull(strstr(csv, "naive,train,0.5,1,0.5\n"));
    ck_assert_ptr_nonnull(strstr(csv, "sinkhorn_l2,test,1,0.75,0.75\n"));
    int lines = 0;
    for (char *q = csv; *q; q++)
        lines += *q == '\n';
    ck_assert_int_eq(lines, 1 + 3 * 2 * 3);
    free(csv);
    snprintf(p, sizeof p, "%s/lmc_accuracy.svg", f->r.cfg.output);
    char *svg = tu_read(p, NULL);
    ck_assert_ptr_nonnull(strstr(svg, "Sinkhorn C_L2")); /* the legend uses the labels */
    ck_assert_ptr_nonnull(strstr(svg, "Weight matching"));
    free(svg);
    fake_free(f);
}
END_TEST

START_TEST(test_report_metrics_and_sweep_rows)
{
    fake_run *f = fake_new("rep2");
    ck_assert_int_eq(sk_run_write_metrics(&f->r), SK_OK);
    char p[4200];
    snprintf(p, sizeof p, "%s/metrics.json", f->r.cfg.output);
    char *js = tu_read(p, NULL);
    ck_assert_ptr_nonnull(strstr(js, "\"format\": \"sinkrb-metrics\""));
    ck_assert_ptr_nonnull(strstr(js, "\"mode\": \"sinkhorn\""));
    ck_assert_ptr_nonnull(strstr(js, "\"train_examples\": 50"));
    ck_assert_ptr_nonnull(strstr(js, "\"sinkhorn_l2\": {"));
    ck_assert_ptr_nonnull(strstr(js, "\"midpoint_accuracy\": 0.75"));
    /* each kind adds its own fields; naive has no seconds */
    ck_assert_ptr_nonnull(strstr(js, "\"passes\": 3,"));
    ck_assert_ptr_nonnull(strstr(js, "\"objective\": 12.5"));
    ck_assert_ptr_nonnull(strstr(js, "\"cost\": \"l2\""));
    ck_assert_ptr_nonnull(strstr(js, "\"best_epoch\": 2"));
    ck_assert_ptr_null(strstr(js, "\"naive\": {\n      \"seconds\""));
    ck_assert_ptr_nonnull(strstr(js, "\"weight_matching\": {\n      \"seconds\": 2.5"));
    free(js);
    ck_assert_int_eq(sk_report_sinkhorn_log(&f->r, &f->ps), SK_OK);
    snprintf(p, sizeof p, "%s/sinkhorn_log.csv", f->r.cfg.output);
    char *log = tu_read(p, NULL);
    ck_assert_str_eq(log, "method,epoch,soft_cost,hard_cost\nsinkhorn_l2,0,,1\nsinkhorn_l2,1,0.75,0.25\n"
                          "sinkhorn_l2,2,0.5,0.125\n");
    free(log);
    sk_csv *csv;
    snprintf(p, sizeof p, "%s/sweep.csv", f->r.cfg.output);
    csv = sk_csv_open(p, sk_run_sweep_header(&f->r.cfg));
    ck_assert_ptr_nonnull(csv);
    char *tb = NULL;
    size_t tl = 0;
    FILE *table = open_memstream(&tb, &tl);
    ck_assert_int_eq(sk_run_sweep_rows(&f->r, csv, "w1", "[8, 8]", table, "w1"), SK_OK);
    fclose(table);
    ck_assert_int_eq(sk_csv_close(csv), SK_OK);
    char *rows = tu_read(p, NULL);
    ck_assert_ptr_nonnull(strstr(rows, "w1,\"[8, 8]\",weight_matching,train,"));
    ck_assert_ptr_nonnull(strstr(rows, ",0.9,0.8\n"));          /* endpoint test accuracies close each row */
    ck_assert_ptr_nonnull(strstr(rows, ",3.5,40,2,0.9,0.8\n")); /* sinkhorn: seconds, steps, best epoch */
    ck_assert_ptr_nonnull(strstr(rows, ",2.5,,,0.9,0.8\n"));    /* weight matching: no Sinkhorn columns */
    ck_assert_ptr_nonnull(strstr(tb, "sinkhorn_l2"));
    free(rows);
    free(tb);
    fake_free(f);
}
END_TEST

/* ---- batch providers ------------------------------------------------------------ */

/* The evaluation provider returns the same batches on every pass, the same
 * set for the same seed (a seeded subset, not the first examples), and
 * fetching from it leaves the training provider's order alone. */
/* The aggregate of repetitions from hand-made values.csv files: each
 * row's values in repetition order (absent in one), its summary in
 * metrics.json, the paired differences and a sweep's mean/std row. */
START_TEST(test_aggregate_repetitions)
{
    static const char *const files[3] = {
        "group,name,split,metric,value\nmethod,naive,test,loss_barrier,0.5\nmethod,wm,test,loss_barrier,0.1\n"
        "method,wm,,seconds,2\nrun,,,wall_seconds,10\n",
        "group,name,split,metric,value\nmethod,naive,test,loss_barrier,0.7\nmethod,wm,test,loss_barrier,0.2\n"
        "run,,,wall_seconds,12\n",
        "group,name,split,metric,value\nmethod,naive,test,loss_barrier,0.6\nmethod,wm,test,loss_barrier,0.65\n"
        "method,wm,,seconds,4\nrun,,,wall_seconds,11\n"};
    sk_agg a;
    ck_assert_int_eq(sk_agg_init(&a, 4), SK_OK); /* repetition 3 never finished */
    for (int r = 0; r < 3; r++) {
        char dir[32];
        snprintf(dir, sizeof dir, "agg%d", r);
        ck_assert_int_eq(sk_mkdir_p(tu_path(dir)), SK_OK);
        snprintf(dir, sizeof dir, "agg%d/values.csv", r);
        tu_write_str(tu_path(dir), files[r]);
        snprintf(dir, sizeof dir, "agg%d", r);
        ck_assert_msg(sk_agg_add(&a, r, tu_path(dir)) == SK_OK, "%s", sk_err_msg());
    }
    ck_assert_int_eq(a.n_done, 3);
    const sk_agg_row *w = sk_agg_find(&a, "method", "wm", "", "seconds");
    ck_assert_ptr_nonnull(w);
    ck_assert(w->v[0] == 2 && isnan(w->v[1]) && w->v[2] == 4 && isnan(w->v[3]));
    const char *names[4];
    ck_assert_int_eq(sk_agg_names(&a, "method", names, 4), 2);
    ck_assert_str_eq(names[1], "wm");

    sk_json *j = sk_json_new();
    sk_json_obj_begin(j, NULL);
    sk_agg_json(j, &a);
    sk_json_obj_end(j);
    ck_assert_int_eq(sk_json_status(j), SK_OK);
    const char *t = sk_json_text(j);
    /* naive: 0.5, 0.7, 0.6 -> mean 0.6, std 0.1 (n - 1), interval with t(2) */
    ck_assert_ptr_nonnull(strstr(t, "\"values\": [0.5, 0.7, 0.6, null]"));
    ck_assert_ptr_nonnull(strstr(t, "\"repetitions\": 4"));
    ck_assert_ptr_nonnull(strstr(t, "\"complete\": 3"));
    /* wm - naive = -0.4, -0.5, +0.05: two of three negative, with the mean */
    const char *pr = strstr(t, "\"baseline\": \"naive\"");
    ck_assert_ptr_nonnull(pr);
    ck_assert_ptr_nonnull(strstr(pr, "\"negative\": 2"));
    ck_assert_ptr_nonnull(strstr(pr, "\"positive\": 1"));
    ck_assert_ptr_nonnull(strstr(pr, "\"agree\": 2"));
    ck_assert_ptr_null(strstr(t, "\"metric\": \"seconds\"")); /* timings are summarised, not compared */
    sk_json_free(j);

    sk_config c;
    sk_config_defaults(&c, "agg");
    c.mode = SK_MODE_WEIGHT_MATCHING;
    c.interpolation.n_splits = 1;
    c.interpolation.splits[0] = SK_SPLIT_TEST;
    sk_csv *csv = sk_csv_open(tu_path("agg.csv"), sk_agg_sweep_header(&c));
    char *tb = NULL;
    size_t tl = 0;
    FILE *table = open_memstream(&tb, &tl);
    sk_agg_sweep_rows(&a, &c, csv, "x", "1", table);
    fclose(table);
    ck_assert_int_eq(sk_csv_close(csv), SK_OK);
    char *text = tu_read(tu_path("agg.csv"), NULL);
    ck_assert_ptr_nonnull(strstr(text, "\nx,1,naive,test,3,0.6,0.0999999"));
    ck_assert_ptr_nonnull(strstr(text, "\nx,1,wm,test,3,0.3166666666666"));
    ck_assert_ptr_nonnull(strstr(tb, "0.6000 ± 0.1000"));
    free(text);
    free(tb);
    sk_agg_free(&a);
}
END_TEST

START_TEST(test_provider_fixed)
{
    sk_data_opts d;
    sk_data_opts_init(&d, SK_DS_POLYNOMIAL);
    d.poly_points = 100;
    sk_dataset ds;
    ck_assert_int_eq(sk_dataset_load(&ds, &d), SK_OK);
    sk_provider tr, tr2, ev, ev2;
    ck_assert_int_eq(sk_provider_init(&tr, &ds, &ds.train, 10, 1, 0, 7), SK_OK);
    ck_assert_int_eq(sk_provider_init(&tr2, &ds, &ds.train, 10, 1, 0, 7), SK_OK);
    ck_assert_int_eq(sk_provider_init_fixed(&ev, &ds, &ds.train, 10, 7), SK_OK);
    ck_assert_int_eq(sk_provider_init_fixed(&ev2, &ds, &ds.train, 10, 7), SK_OK);
    float x[10], x2[10], yr[10];
    int32_t y[10];
    float first[2][10];
    for (int pass = 0; pass < 3; pass++)
        for (int k = 0; k < 2; k++) {
            ck_assert_int_eq(sk_provider_next(&ev, -1, k, x, y, yr), 10);
            if (pass == 0) memcpy(first[k], x, sizeof x);
            ck_assert(memcmp(first[k], x, sizeof x) == 0);
            /* training batches of tr (interleaved with evaluations) = those of tr2 (none) */
            ck_assert_int_eq(sk_provider_next(&tr, pass, k, x, y, yr), 10);
            ck_assert_int_eq(sk_provider_next(&tr2, pass, k, x2, y, yr), 10);
            ck_assert(memcmp(x, x2, sizeof x) == 0);
        }
    ck_assert_int_eq(sk_provider_next(&ev2, -1, 0, x, y, yr), 10);
    ck_assert(memcmp(first[0], x, sizeof x) == 0);
    int in_order = 1;
    for (int i = 0; i < 10; i++)
        in_order &= ev.idx[i] == i;
    ck_assert(!in_order);
    sk_provider_free(&tr);
    sk_provider_free(&tr2);
    sk_provider_free(&ev);
    sk_provider_free(&ev2);
    sk_dataset_free(&ds);
}
END_TEST

/* ---- whole runs on the polynomial toy --------------------------------------- */

/* Runs configs/smoke_align.yaml with the --set overrides sets (plus the
 * output folder out); SK_OK expected. */
static void run_smoke(const char *out, const char *const *sets, int n)
{
    const char *all[32];
    char outset[4200];
    snprintf(outset, sizeof outset, "output=%s", tu_path(out));
    all[0] = outset;
    for (int i = 0; i < n; i++)
        all[i + 1] = sets[i];
    sk_app_opts o;
    memset(&o, 0, sizeof o);
    o.config_path = tu_src("configs/smoke_align.yaml");
    o.sets = all;
    o.n_sets = n + 1;
    o.progress = SK_PROGRESS_NEVER;
    o.quiet = 1;
    ck_assert_msg(sk_app_run(&o) == SK_OK, "%s", sk_err_msg());
}

/* The numbers after `prefix` in each line of text that has it, as text. */
static int collect(const char *text, const char *prefix, char vals[][40], int max)
{
    int n = 0;
    for (const char *q = text; (q = strstr(q, prefix)) && n < max; n++) {
        q += strlen(prefix);
        size_t k = strcspn(q, "\n, ");
        snprintf(vals[n], 40, "%.*s", (int)(k < 39 ? k : 39), q);
    }
    return n;
}

/* With a learning rate too small to move anything (1e-30) the permutation
 * stays what it is, so every hard evaluation of a run must give the same
 * number: the evaluation batches are a fixed set (here 2 of the 5 training
 * batches, so a re-drawn subset would differ; STE: 2 of 4) and dropout is
 * off while scoring. Sinkhorn: epochs 0..4 of both data costs; STE: epochs
 * 1..4. */
START_TEST(test_run_frozen_evaluation)
{
    static const char *const sets[] = {"mode=sinkhorn",
                                       "align.methods=[ste, sinkhorn]",
                                       "sinkhorn.costs=[mid, rnd]",
                                       "model.dropout=0.25",
                                       "sinkhorn.lr=1e-30",
                                       "sinkhorn.batch_size=20",
                                       "sinkhorn.eval_batches=2",
                                       "sinkhorn.epochs=4",
                                       "ste.lr=1e-30",
                                       "ste.epochs=4",
                                       "ste.eval_batches=2",
                                       "ste.batch_size=25",
                                       "interpolation.points=2"};
    run_smoke("frozen", sets, (int)(sizeof sets / sizeof sets[0]));
    char p[4200], v[8][40];
    static const char *const costs[] = {"sinkhorn_mid,", "sinkhorn_rnd,"};
    snprintf(p, sizeof p, "%s/sinkhorn_log.csv", tu_path("frozen"));
    char *log = tu_read(p, NULL);
    for (int c = 0; c < 2; c++) {
        char prefix[40];
        int n = 0;
        for (int e = 0; e <= 4; e++) {
            snprintf(prefix, sizeof prefix, "\n%s%d,", costs[c], e);
            const char *q = strstr(log, prefix);
            ck_assert_ptr_nonnull(q);
            q = strchr(q + strlen(prefix), ',') + 1; /* past the soft cost */
            snprintf(v[n++], 40, "%.*s", (int)strcspn(q, "\n"), q);
        }
        for (int e = 1; e < n; e++)
            ck_assert_msg(!strcmp(v[e], v[0]), "%s hard cost at epoch %d is %s, at epoch 0 %s", costs[c], e, v[e],
                          v[0]);
    }
    free(log);
    snprintf(p, sizeof p, "%s/log.txt", tu_path("frozen"));
    log = tu_read(p, NULL);
    int n = collect(log, ": midpoint loss ", v, 8);
    ck_assert_int_ge(n, 4);
    for (int e = 1; e < n; e++)
        ck_assert_msg(!strcmp(v[e], v[0]), "STE midpoint loss %s after epoch %d, %s after epoch 1", v[e], e + 1, v[0]);
    free(log);
    /* metrics.json says which rule chose which epoch: Sinkhorn (last) the
     * final epoch, STE (best; every epoch ties) epoch 0. */
    snprintf(p, sizeof p, "%s/metrics.json", tu_path("frozen"));
    char *js = tu_read(p, NULL);
    const char *mid = strstr(js, "\"sinkhorn_mid\": {"), *ste = strstr(js, "\"ste\": {");
    ck_assert_ptr_nonnull(mid);
    ck_assert_ptr_nonnull(ste);
    ck_assert_ptr_nonnull(strstr(mid, "\"select\": \"last\",\n      \"selected_epoch\": 4,"));
    ck_assert_ptr_nonnull(strstr(ste, "\"select\": \"best\",\n      \"selected_epoch\": 0,"));
    ck_assert_ptr_nonnull(strstr(ste, "\"epoch_midpoint_loss\": ["));
    /* STE runs on batches of ste.batch_size (25: 4 steps per epoch over the
     * 100 points), not of sinkhorn.batch_size (20: 5 steps) */
    ck_assert_ptr_nonnull(strstr(ste, "\"epochs\": 4,\n      \"steps\": 16,"));
    free(js);
}
END_TEST

/* The reference section: printed beside the run's values at lambda = 1/2
 * on its split (the endpoints' own evaluation, then every method) and
 * recorded in metrics.json; entries without a value print "-". */
START_TEST(test_report_reference)
{
    fake_run *f = fake_new("rep3");
    sk_config *c = &f->r.cfg;
    c->reference.present = 1;
    c->reference.split = SK_SPLIT_TEST;
    snprintf(c->reference.source, sizeof c->reference.source, "the paper, Fig. 4");
    static const char *names[] = {"endpoints", "naive", "sinkhorn_l2"};
    static const double loss[] = {1.3, 2.3, 1.53}, acc[] = {0.53, 0.15, 0};
    for (int i = 0; i < 3; i++) {
        snprintf(c->reference.entries[i].name, sizeof c->reference.entries[i].name, "%s", names[i]);
        c->reference.entries[i].has_loss = 1;
        c->reference.entries[i].loss = loss[i];
        c->reference.entries[i].has_acc = i < 2;
        c->reference.entries[i].acc = acc[i];
    }
    c->reference.n = 3;
    f->ps.ep[0].test_loss = 1.25;
    f->ps.ep[1].test_loss = 1.5;
    char p[4200];
    snprintf(p, sizeof p, "%s/log.txt", c->output);
    ck_assert_int_eq(sk_log_open(&f->r.log, p, 1), SK_OK);
    sk_report_summary(&f->r, &f->ps);
    sk_log_close(f->r.log);
    f->r.log = NULL;
    char *log = tu_read(p, NULL);
    ck_assert_ptr_nonnull(
        strstr(log, "at lambda = 1/2 on the test split, beside the reference (the paper, Fig. 4):\n"));
    ck_assert_ptr_nonnull(strstr(log, "method                       loss    paper    accuracy    paper\n"));
    ck_assert_ptr_nonnull(strstr(log, "model a                    1.2500      1.3      90.00%    53.0%\n"));
    ck_assert_ptr_nonnull(strstr(log, "model b                    1.5000      1.3      80.00%    53.0%\n"));
    /* the fake curves at lambda = 1/2 on test: loss 1.25 - 0.25 k, accuracy 0.375 + 0.125 k */
    ck_assert_ptr_nonnull(strstr(log, "naive                      1.2500      2.3      37.50%    15.0%\n"));
    ck_assert_ptr_nonnull(strstr(log, "weight_matching            1.0000        -      50.00%        -\n"));
    ck_assert_ptr_nonnull(strstr(log, "sinkhorn_l2                0.7500     1.53      62.50%        -\n"));
    free(log);
    ck_assert_int_eq(sk_run_write_metrics(&f->r), SK_OK);
    snprintf(p, sizeof p, "%s/metrics.json", c->output);
    char *js = tu_read(p, NULL);
    ck_assert_ptr_nonnull(strstr(js, "\"reference\": {\n    \"source\": \"the paper, Fig. 4\",\n    \"split\": "
                                     "\"test\",\n    \"lambda\": 0.5\n  }"));
    ck_assert_ptr_nonnull(strstr(js, "\"reference\": {\n        \"loss\": 1.3,\n        \"accuracy\": 0.53,\n        "
                                     "\"run_loss\": 1.25,\n        \"run_accuracy\": 0.9\n      }"));
    ck_assert_ptr_nonnull(strstr(js, "\"reference\": {\n        \"loss\": 2.3,\n        \"accuracy\": 0.15,\n        "
                                     "\"run_loss\": 1.25,\n        \"run_accuracy\": 0.375\n      }"));
    ck_assert_ptr_nonnull(strstr(js, "\"reference\": {\n        \"loss\": 1.53,\n        \"run_loss\": 0.75,\n        "
                                     "\"run_accuracy\": 0.625\n      }"));
    int refs = 0;
    for (const char *q = js; (q = strstr(q, "\"reference\"")); q++)
        refs++;
    ck_assert_int_eq(refs, 1 + 2 + 2); /* top level, both endpoints, naive and sinkhorn_l2 */
    free(js);
    /* A split the run does not evaluate is named instead of a table. */
    c->interpolation.n_splits = 1;
    c->interpolation.splits[0] = SK_SPLIT_TRAIN;
    snprintf(p, sizeof p, "%s/log2.txt", c->output);
    ck_assert_int_eq(sk_log_open(&f->r.log, p, 1), SK_OK);
    sk_report_summary(&f->r, &f->ps);
    sk_log_close(f->r.log);
    f->r.log = NULL;
    log = tu_read(p, NULL);
    ck_assert_ptr_nonnull(
        strstr(log, "reference (test split) not shown: interpolation.splits does not evaluate test\n"));
    free(log);
    fake_free(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("app");
    TCase *tc = tcase_create("options");
    tcase_add_test(tc, test_options_data_model);
    tcase_add_test(tc, test_options_optim);
    tcase_add_test(tc, test_endpoint_dropout_and_recipe);
    tcase_add_test(tc, test_options_methods);
    tcase_add_test(tc, test_options_continual);
    tcase_add_test(tc, test_options_model_batch);
    tcase_add_test(tc, test_name_tables);
    tcase_add_test(tc, test_method_labels);
    suite_add_tcase(s, tc);
    tc = tcase_create("report");
    tcase_add_test(tc, test_report_curves_and_summary);
    tcase_add_test(tc, test_report_metrics_and_sweep_rows);
    tcase_add_test(tc, test_report_reference);
    tcase_add_test(tc, test_aggregate_repetitions);
    suite_add_tcase(s, tc);
    tc = tcase_create("runs");
    tcase_add_test(tc, test_provider_fixed);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_run_frozen_evaluation);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
