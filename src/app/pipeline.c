/* pipeline.c - the stages of a run: inputs (data, existing weights), the
 * endpoints (trained when absent), the alignment methods, the linear-mode-
 * connectivity curves, and the results files. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/run_ctx.h"
#include "core/blas.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/timer.h"
#include "continual/continual.h"
#include "data/dataset.h"
#include "io/atomic.h"
#include "io/csv.h"
#include "io/h5w.h"
#include "io/json.h"
#include "io/progress.h"
#include "io/svg.h"
#include "lmc/barrier.h"
#include "lmc/interp.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/train.h"
#include "rebasin/am.h"
#include "rebasin/spec.h"
#include "rebasin/srb.h"
#include "rebasin/ste.h"
#include "rebasin/wm.h"

#define MAX_METHODS 12

typedef struct {
    int present;              /* weights file existed */
    int trained;              /* trained by this run */
    int untrained;            /* models.X.train false: the seeded initialisation */
    double seconds, samples_per_s;
    int epochs;
    double train_loss, train_acc, test_loss, test_acc;   /* final evaluation */
    sk_tset *theta;
} endpoint;

typedef struct {
    char name[48];            /* naive, weight_matching, ... */
    int64_t **perms;          /* NULL for naive */
    sk_tset *aligned;         /* pi(theta_B) (borrowed theta_B for naive) */
    double seconds;
    int passes;
    double objective;
    int64_t samples;
    double *lambda, *loss, *acc;   /* (points), (n_splits * points) */
    int64_t units, matched;        /* planted B: units whose planted partner was found */
    int cost;                      /* sinkhorn: sk_srb_cost, else -1 */
    sk_srb_result srb;             /* sinkhorn: per-epoch soft and hard costs */
    double ste_loss;
    sk_barrier bl[2], ba[2];       /* loss / accuracy barriers per split */
} method;

typedef struct {
    sk_dataset ds;
    int ds_loaded;
    sk_model_spec ms;
    sk_model *m, *m2;
    sk_perm_spec *spec;
    endpoint ep[2];
    int n_methods;
    method meth[MAX_METHODS];
    sk_loss_spec loss;
    char model_desc[256];
    int64_t **planted;        /* models.b.planted: B = planted(A) */
    sk_cl_results *cl;        /* mode continual */
} pipe_state;

/* ---- batch providers -------------------------------------------------------- */

typedef struct {
    const sk_dataset *ds;
    const sk_split *sp;
    int32_t *idx;             /* (n) order of the examples */
    int64_t n;
    int batch;
    int shuffle, augment;
    sk_rng rng;
    sk_progress *bar;         /* optional per-batch progress */
    int64_t bar_base, bar_total;
} provider;

static sk_status provider_init(provider *p, const sk_dataset *ds, const sk_split *sp, int batch, int shuffle,
                               int augment, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->ds = ds;
    p->sp = sp;
    p->n = sp->n;
    p->batch = batch;
    p->shuffle = shuffle;
    p->augment = augment;
    sk_rng_seed_stream(&p->rng, seed, 0x44415441 /* "DATA" */);
    p->idx = sk_alloc_n((size_t)(p->n > 0 ? p->n : 1), sizeof(int32_t));
    if (!p->idx) return SK_ENOMEM;
    for (int64_t i = 0; i < p->n; i++) p->idx[i] = (int32_t)i;
    return SK_OK;
}

static void provider_free(provider *p) { sk_free(p->idx); p->idx = NULL; }

static int provider_next(void *ctx, int64_t epoch, int64_t step, float *x, int32_t *y, float *yr)
{
    provider *p = ctx;
    (void)epoch;
    if (step == 0 && p->shuffle) sk_rng_shuffle_i32(&p->rng, p->idx, p->n);
    int64_t start = step * p->batch;
    if (start >= p->n) return 0;
    int n = (int)(p->n - start < p->batch ? p->n - start : p->batch);
    sk_dataset_batch(p->ds, p->sp, p->idx + start, n, p->augment, &p->rng, x, y, yr);
    if (p->bar) sk_progress_update(p->bar, p->bar_base + start + n, NULL);
    return n;
}

/* ---- inputs ------------------------------------------------------------------ */

static sk_status model_spec_from_config(const sk_config *c, const sk_dataset *ds, sk_model_spec *ms)
{
    memset(ms, 0, sizeof *ms);
    ms->arch = (sk_arch)c->model.arch;
    ms->n_hidden = c->model.n_hidden;
    if (ms->n_hidden > SK_MAX_HIDDEN)
        return sk_err(SK_ECONFIG, "model.hidden: at most %d layers", SK_MAX_HIDDEN);
    memcpy(ms->hidden, c->model.hidden, sizeof(int) * (size_t)ms->n_hidden);
    ms->activation = (sk_act)c->model.activation;
    ms->norm = (sk_mnorm)c->model.norm;
    ms->width = c->model.width;
    ms->vgg_head = (sk_vgghead)c->model.head;
    ms->dropout = (float)c->model.dropout;
    ms->in_c = ds->train.c;
    ms->in_h = ds->train.h;
    ms->in_w = ds->train.w;
    ms->n_out = ds->train.n_classes > 0 ? ds->train.n_classes : 1;
    return SK_OK;
}

/* The largest batch the run's model sees: evaluation always; training when
 * an endpoint will be trained (and BatchNorm re-estimation, which uses
 * train.batch_size); activation matching, STE and the data costs of Sinkhorn
 * re-basin only when they run. Activation buffers scale with it (VGG19 at
 * width 1: about 3 MB per image). */
static int model_batch(const sk_config *c)
{
    int b = c->train.eval_batch_size;
    int trains = c->mode == SK_MODE_CONTINUAL || c->model.norm == 1 || c->interpolation.bn_reset == SK_BNRESET_RECOMPUTE;
    int am = c->mode == SK_MODE_ACTIVATION_MATCHING || c->mode == SK_MODE_CONTINUAL;
    int data = c->mode == SK_MODE_CONTINUAL, srb = c->mode == SK_MODE_SINKHORN;
    for (int e = 0; e < 2; e++)
        if (!(e == 1 && c->models[1].planted) && c->models[e].train && !sk_file_exists(c->models[e].weights))
            trains = 1;
    for (int i = 0; i < c->align.n_methods; i++) {
        am |= c->align.methods[i] == SK_METHOD_ACTIVATION_MATCHING;
        data |= c->align.methods[i] == SK_METHOD_STE;
        srb |= c->align.methods[i] == SK_METHOD_SINKHORN;
    }
    for (int k = 0; srb && k < c->sinkhorn.n_costs; k++)
        data |= c->sinkhorn.costs[k] == SK_COST_MID || c->sinkhorn.costs[k] == SK_COST_RND;
    if (c->mode == SK_MODE_TRAIN) am = data = 0;
    if (trains && c->train.batch_size > b) b = c->train.batch_size;
    if (am && c->activation_matching.batch_size > b) b = c->activation_matching.batch_size;
    if (data && c->sinkhorn.batch_size > b) b = c->sinkhorn.batch_size;
    return b;
}

sk_status sk_run_validate_inputs(sk_run *r)
{
    const sk_config *c = &r->cfg;
    pipe_state *ps = sk_alloc(sizeof *ps);
    sk_data_opts o;
    sk_status st;
    double t0 = sk_now();
    if (!ps) return SK_ENOMEM;
    r->state = ps;


    sk_data_opts_init(&o, (sk_ds_kind)c->dataset.name);
    o.path = c->dataset.path;
    o.normalize = c->dataset.normalize == SK_CFG_NORMALIZE_AUTO ? sk_normalize_auto((sk_ds_kind)c->dataset.name)
                  : c->dataset.normalize == SK_CFG_NORMALIZE_UNIT ? SK_NORMALIZE_UNIT
                                                                    : SK_NORMALIZE_STANDARD;
    o.coarse_labels = c->dataset.labels == 1;
    o.poly_degree = c->dataset.degree;
    o.poly_points = c->dataset.points;
    o.poly_noise = c->dataset.noise;
    o.seed = (uint64_t)c->seed;
    o.train_limit = c->dataset.train_limit;
    o.test_limit = c->dataset.test_limit;
    st = sk_dataset_load(&ps->ds, &o);
    if (st != SK_OK) return st;
    ps->ds_loaded = 1;
    st = model_spec_from_config(c, &ps->ds, &ps->ms);
    if (st != SK_OK) return st;
    st = sk_model_new(&ps->ms, model_batch(c), &ps->m);
    if (st != SK_OK) return st;
    char *d = sk_model_describe(&ps->ms);
    snprintf(ps->model_desc, sizeof ps->model_desc, "%s", d ? d : "model");
    free(d);
    ps->loss.regression = ps->ds.train.n_classes == 0;
    if (c->mode == SK_MODE_CONTINUAL) {
        sk_run_stage(r, "load", sk_now() - t0);
        return SK_OK;   /* no endpoints: every method trains its own model */
    }
    for (int e = 0; e < 2; e++) {
        ps->ep[e].theta = sk_tset_like(sk_model_params(ps->m));
        if (!ps->ep[e].theta) return SK_ENOMEM;
        if (e == 1 && c->models[1].planted) continue;   /* made from A in the pipeline */
        if (sk_file_exists(c->models[e].weights)) {
            st = sk_h5w_load_into_ex(c->models[e].weights, ps->ep[e].theta, NULL, 0, ps->model_desc);
            if (st != SK_OK) return st;
            ps->ep[e].present = 1;
        }
    }
    sk_run_stage(r, "load", sk_now() - t0);
    return SK_OK;
}

/* ---- training ---------------------------------------------------------------- */

typedef struct {
    sk_run *r;
    char who;
    int epochs;
    double last_sps;
    double tl, ta, vl, va;
    provider *prov;
    int64_t per_epoch;
} epoch_ctx;

static void on_epoch(void *ctx, int epoch, double train_loss, double train_acc, double test_loss,
                     double test_acc, double sps)
{
    epoch_ctx *e = ctx;
    char line[512];
    e->last_sps = sps;
    e->tl = train_loss; e->ta = train_acc; e->vl = test_loss; e->va = test_acc;
    if (isnan(train_acc))
        snprintf(line, sizeof line, "model %c epoch %d/%d: train loss %.5f | test loss %.5f | %.0f samples/s", e->who,
                 epoch, e->epochs, train_loss, test_loss, sps);
    else
        snprintf(line, sizeof line,
                 "model %c epoch %d/%d: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% | %.0f samples/s",
                 e->who, epoch, e->epochs, train_loss, 100 * train_acc, test_loss, 100 * test_acc, sps);
    if (e->prov && e->prov->bar) {
        sk_progress_done(e->prov->bar, line);
        e->prov->bar_base = (int64_t)epoch * e->per_epoch;
    } else if (e->r->opts->progress != SK_PROGRESS_NEVER) {
        fprintf(stderr, "%s\n", line);
    }
    sk_log_file(e->r->log, "%s", line);
}

static int optim_step(void *optctx, sk_tset *params, sk_tset *grads, int64_t step)
{
    (void)step;
    sk_optim_step(optctx, params, grads);
    return 0;
}

static sk_status train_endpoint(sk_run *r, pipe_state *ps, int e)
{
    const sk_config *c = &r->cfg;
    sk_rng rng;
    provider tr, te;
    sk_optim *opt = NULL;
    sk_optim_opts oo;
    sk_status st;
    double t0 = sk_now();
    uint64_t seed = (uint64_t)c->models[e].seed;
    int64_t steps = (ps->ds.train.n + c->train.batch_size - 1) / c->train.batch_size;

    sk_rng_seed_stream(&rng, seed, 0x494e4954 /* "INIT" */);
    sk_model_init(ps->m, &rng);
    st = provider_init(&tr, &ps->ds, &ps->ds.train, c->train.batch_size, 1, c->dataset.augment, seed);
    if (st == SK_OK)
        st = provider_init(&te, &ps->ds, &ps->ds.test, sk_model_max_batch(ps->m), 0, 0, seed);
    if (st != SK_OK) return st;

    sk_optim_opts_init(&oo, (sk_opt_kind)c->train.optimizer);
    oo.lr = c->train.lr;
    oo.momentum = c->train.momentum;
    oo.nesterov = c->train.nesterov;
    oo.weight_decay = c->train.weight_decay;
    oo.beta1 = c->train.beta1;
    oo.beta2 = c->train.beta2;
    oo.eps = c->train.eps;
    oo.clip_norm = c->train.clip_norm;
    oo.schedule = (sk_sched_kind)c->train.schedule;
    oo.total_steps = steps * c->train.epochs;
    oo.warmup_steps = (int64_t)llround(c->train.warmup_epochs * (double)steps);
    oo.step_size = steps * c->train.step_epochs;
    oo.gamma = c->train.schedule == SK_SCHED_EXPONENTIAL ? pow(c->train.gamma, 1.0 / (double)steps) : c->train.gamma;
    endpoint *ep = &ps->ep[e];
    if (!c->models[e].train) {
        /* models.X.train: false -- keep the seeded initialisation. */
        ep->untrained = 1;
        sk_log_err(r->log, "model %c: untrained (%s, seeded initialisation, seed %llu)", 'a' + e, ps->model_desc,
                   (unsigned long long)seed);
        st = sk_tset_copy(ep->theta, sk_model_params(ps->m));
        if (st != SK_OK) goto cleanup;
        goto save;
    }
    st = sk_optim_new(&oo, sk_model_params(ps->m), &opt);
    if (st != SK_OK) goto cleanup;

    sk_log_err(r->log, "training model %c (%s, seed %llu, %d epochs, %s, %lld examples)", 'a' + e, ps->model_desc,
               (unsigned long long)seed, c->train.epochs, sk_cfg_choice("train.optimizer", c->train.optimizer),
               (long long)ps->ds.train.n);
    epoch_ctx ec = {r, (char)('a' + e), c->train.epochs, 0, 0, 0, 0, 0, &tr, ps->ds.train.n};
    char label[32];
    snprintf(label, sizeof label, "model %c", 'a' + e);
    if (sk_progress_bars(r->opts->progress)) {
        tr.bar = sk_progress_new(r->opts->progress, label, ps->ds.train.n * c->train.epochs);
        tr.bar_total = ps->ds.train.n * c->train.epochs;
    }
    sk_train_cfg tc;
    memset(&tc, 0, sizeof tc);
    tc.epochs = c->train.epochs;
    tc.batch_size = c->train.batch_size;
    tc.loss = ps->loss;
    tc.get_batch = provider_next;
    tc.ctx = &tr;
    tc.get_test_batch = provider_next;
    tc.test_ctx = &te;
    tc.step = optim_step;
    tc.optctx = opt;
    tc.on_epoch = on_epoch;
    tc.epoch_ctx = &ec;
    tc.rng = &rng;
    st = sk_train(ps->m, &tc);
    sk_progress_free(tr.bar);
    tr.bar = NULL;
    if (st != SK_OK) goto cleanup;
    ep->trained = 1;
    ep->epochs = c->train.epochs;
    ep->seconds = sk_now() - t0;
    ep->samples_per_s = ec.last_sps;
    st = sk_tset_copy(ep->theta, sk_model_params(ps->m));
    if (st != SK_OK) goto cleanup;

save:
    /* Save where the config says (creating the folder), atomically. */
    {
        char dir[SK_PATH_MAX];
        snprintf(dir, sizeof dir, "%s", c->models[e].weights);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            if (*dir && (st = sk_mkdir_p(dir)) != SK_OK) goto cleanup;
        }
        char *arch = sk_config_model_yaml(c);
        st = sk_h5w_write(c->models[e].weights, ep->theta, arch);
        free(arch);
        if (st != SK_OK) goto cleanup;
        sk_log_err(r->log, "saved model %c to %s (%.1f s)", 'a' + e, c->models[e].weights, sk_now() - t0);
    }
cleanup:
    sk_optim_free(opt);
    provider_free(&tr);
    provider_free(&te);
    return st;
}

/* models.b.planted: B = pi(A) (+ noise) with a random pi from models.b.seed;
 * every method's result is then scored against pi^-1. */
static sk_status make_planted(sk_run *r, pipe_state *ps)
{
    const sk_config *c = &r->cfg;
    sk_rng rng;
    sk_status st = sk_perm_spec_build(&ps->ms, ps->ep[0].theta, ps->m, &ps->spec);
    if (st != SK_OK) return st;
    sk_rng_seed_stream(&rng, (uint64_t)c->models[1].seed, 0x504c414e /* "PLAN" */);
    ps->planted = sk_perms_random(ps->spec, &rng);
    if (!ps->planted) return SK_ENOMEM;
    st = sk_perm_apply(ps->spec, (const int64_t *const *)ps->planted, ps->ep[0].theta, ps->ep[1].theta);
    if (st != SK_OK) return st;
    if (c->models[1].noise > 0) {
        sk_tset *b = ps->ep[1].theta;
        for (int i = 0; i < b->n; i++) {
            if (b->t[i].is_buffer) continue;
            for (int64_t k = 0; k < b->t[i].numel; k++)
                b->t[i].data[k] += (float)(c->models[1].noise * sk_rng_normal(&rng));
        }
    }
    sk_log_err(r->log, "model b: a random permutation of model a (seed %lld, noise %g)", c->models[1].seed,
               c->models[1].noise);
    return SK_OK;
}

static void score_recovery(pipe_state *ps, method *me)
{
    if (!ps->planted) return;
    int64_t **inv = sk_perms_inverse(ps->spec, ps->planted);
    if (!inv) return;
    me->units = me->matched = 0;
    for (int g = 0; g < ps->spec->n_groups; g++)
        for (int64_t i = 0; i < ps->spec->groups[g].size; i++) {
            me->units++;
            me->matched += me->perms[g][i] == inv[g][i];
        }
    sk_perms_free(ps->spec, inv);
}

static sk_status eval_split(sk_run *r, pipe_state *ps, const sk_tset *theta, const sk_split *sp, double *loss,
                            double *acc)
{
    provider p;
    sk_status st = provider_init(&p, &ps->ds, sp, sk_model_max_batch(ps->m), 0, 0, (uint64_t)r->cfg.seed);
    if (st != SK_OK) return st;
    st = sk_model_eval(ps->m, theta, provider_next, &p, &ps->loss, loss, acc);
    provider_free(&p);
    return st;
}

/* ---- alignment ------------------------------------------------------------------- */

static method *add_method(pipe_state *ps, const char *name)
{
    method *m = &ps->meth[ps->n_methods++];
    memset(m, 0, sizeof *m);
    m->cost = -1;
    snprintf(m->name, sizeof m->name, "%s", name);
    return m;
}

static sk_status save_method(sk_run *r, pipe_state *ps, method *me)
{
    char path[SK_PATH_MAX + 64];
    const char **names = sk_alloc_n((size_t)ps->spec->n_groups + 1, sizeof *names);
    int64_t *sizes = sk_alloc_n((size_t)ps->spec->n_groups + 1, sizeof *sizes);
    sk_status st = SK_OK;
    if (!names || !sizes) { st = SK_ENOMEM; goto cleanup; }
    for (int g = 0; g < ps->spec->n_groups; g++) {
        names[g] = ps->spec->groups[g].name;
        sizes[g] = ps->spec->groups[g].size;
    }
    snprintf(path, sizeof path, "%s/perm_%s.h5", r->cfg.output, me->name);
    st = sk_h5w_write_perms(path, ps->spec->n_groups, names, (const int64_t *const *)me->perms, sizes);
    if (st != SK_OK) goto cleanup;
    snprintf(path, sizeof path, "%s/aligned_%s.h5", r->cfg.output, me->name);
    char *arch = sk_config_model_yaml(&r->cfg);
    st = sk_h5w_write(path, me->aligned, arch);
    free(arch);
cleanup:
    sk_free(names);
    sk_free(sizes);
    return st;
}

typedef struct { sk_run *r; const char *name; } cb_ctx;
static void on_srb_epoch(void *ctx, int epoch, double soft, double hard)
{
    cb_ctx *cb = ctx;
    char line[256];
    snprintf(line, sizeof line, "%s epoch %d: soft cost %.6g, hard cost %.6g", cb->name, epoch, soft, hard);
    if (cb->r->opts->progress != SK_PROGRESS_NEVER) fprintf(stderr, "%s\n", line);
    sk_log_file(cb->r->log, "%s", line);
}

static void on_ste_epoch(void *ctx, int epoch, double loss)
{
    cb_ctx *cb = ctx;
    char line[256];
    snprintf(line, sizeof line, "%s epoch %d: midpoint loss %.6g", cb->name, epoch, loss);
    if (cb->r->opts->progress != SK_PROGRESS_NEVER) fprintf(stderr, "%s\n", line);
    sk_log_file(cb->r->log, "%s", line);
}

static sk_status run_method(sk_run *r, pipe_state *ps, int which, int cost)
{
    const sk_config *c = &r->cfg;
    const sk_tset *A = ps->ep[0].theta, *B = ps->ep[1].theta;
    char name[48];
    if (which == SK_METHOD_SINKHORN) snprintf(name, sizeof name, "sinkhorn_%s", sk_cost_name(cost));
    else snprintf(name, sizeof name, "%s", sk_method_name(which));
    method *me = add_method(ps, name);
    me->cost = which == SK_METHOD_SINKHORN ? cost : -1;
    double t0 = sk_now();
    sk_status st = SK_OK;
    me->perms = sk_perms_identity(ps->spec);
    me->aligned = sk_tset_like(A);
    if (!me->perms || !me->aligned) return SK_ENOMEM;
    if (which == SK_METHOD_WEIGHT_MATCHING) {
        sk_wm_opts o = {c->weight_matching.max_iter, (uint64_t)c->seed};
        sk_wm_result res;
        st = sk_weight_matching(ps->spec, A, B, &o, me->perms, &res);
        if (st != SK_OK) return st;
        me->passes = res.passes;
        me->objective = res.passes ? res.objective[res.passes - 1] : 0;
        sk_wm_result_free(&res);
    } else if (which == SK_METHOD_ACTIVATION_MATCHING) {
        provider p;
        if (!ps->m2 && (st = sk_model_new(&ps->ms, sk_model_max_batch(ps->m), &ps->m2)) != SK_OK) return st;
        st = provider_init(&p, &ps->ds, &ps->ds.train, c->activation_matching.batch_size, 0, 0, (uint64_t)c->seed);
        if (st != SK_OK) return st;
        sk_am_opts o = {c->activation_matching.samples, c->activation_matching.batch_size,
                        c->activation_matching.cost};
        st = sk_activation_matching(ps->spec, ps->m, ps->m2, A, B, &o, provider_next, &p, me->perms, &me->samples);
        provider_free(&p);
        if (st != SK_OK) return st;
    } else if (which == SK_METHOD_SINKHORN) {
        provider p;
        sk_srb_opts o;
        sk_srb_opts_default(&o);
        o.cost = cost;
        o.tau = c->sinkhorn.tau;
        o.iterations = c->sinkhorn.iterations;
        o.scale = c->sinkhorn.scale;
        o.epochs = c->sinkhorn.epochs;
        o.steps = c->sinkhorn.steps;
        o.lr = c->sinkhorn.lr;
        o.weight_decay = c->sinkhorn.weight_decay;
        o.eps = c->sinkhorn.eps;
        o.init = c->sinkhorn.init;
        o.seed = (uint64_t)c->seed;
        o.eval_batches = c->sinkhorn.eval_batches;
        st = provider_init(&p, &ps->ds, &ps->ds.train, c->sinkhorn.batch_size, 1, 0, (uint64_t)c->seed);
        if (st != SK_OK) return st;
        cb_ctx cb = {r, me->name};
        sk_log_err(r->log, "%s: learning soft permutations (%s cost, tau %g, %d iterations)", me->name,
                   sk_cost_name(cost), o.tau, o.iterations);
        st = sk_sinkhorn_rebasin(ps->spec, ps->m, A, B, &o, provider_next, &p, &ps->loss, on_srb_epoch, &cb,
                                 me->perms, &me->srb);
        provider_free(&p);
        if (st != SK_OK) return st;
    } else if (which == SK_METHOD_STE) {
        provider p;
        sk_ste_opts o;
        sk_ste_opts_default(&o);
        o.epochs = c->ste.epochs;
        o.lr = c->ste.lr;
        o.momentum = c->ste.momentum;
        o.seed = (uint64_t)c->seed;
        o.wm_max_iter = c->weight_matching.max_iter;
        o.eval_batches = c->ste.eval_batches;
        st = provider_init(&p, &ps->ds, &ps->ds.train, c->sinkhorn.batch_size, 1, 0, (uint64_t)c->seed);
        if (st != SK_OK) return st;
        cb_ctx cb = {r, me->name};
        st = sk_ste_matching(ps->spec, ps->m, A, B, &o, provider_next, &p, &ps->loss, on_ste_epoch, &cb, me->perms,
                             &me->ste_loss);
        provider_free(&p);
        if (st != SK_OK) return st;
    } else {
        return sk_err(SK_EINVAL, "method %s is not available", me->name);
    }
    st = sk_perm_apply(ps->spec, (const int64_t *const *)me->perms, B, me->aligned);
    if (st != SK_OK) return st;
    me->seconds = sk_now() - t0;
    score_recovery(ps, me);
    if (ps->planted)
        sk_log_out(r->log, "%s: recovered %lld of %lld units of the planted permutation (%.2f%%)%s", me->name,
                   (long long)me->matched, (long long)me->units, 100.0 * (double)me->matched / (double)me->units,
                   me->matched == me->units ? ", exact" : "");
    if (which == SK_METHOD_WEIGHT_MATCHING)
        sk_log_err(r->log, "weight matching: %d passes, %.3f s", me->passes, me->seconds);
    else if (which == SK_METHOD_ACTIVATION_MATCHING)
        sk_log_err(r->log, "activation matching: %lld examples, %.3f s", (long long)me->samples, me->seconds);
    else if (which == SK_METHOD_SINKHORN)
        sk_log_err(r->log, "%s: best hard cost %.6g at epoch %d of %d, %lld steps, %d Sinkhorn fallbacks, %.3f s",
                   me->name, me->srb.best_hard_cost, me->srb.best_epoch, me->srb.n_epochs,
                   (long long)me->srb.n_steps, me->srb.fallbacks, me->seconds);
    else
        sk_log_err(r->log, "ste: best midpoint loss %.6g, %.3f s", me->ste_loss, me->seconds);
    sk_run_stage(r, me->name, me->seconds);
    return save_method(r, ps, me);
}

/* sinkhorn_log.csv: method,epoch,soft_cost,hard_cost (epoch 0: before any step). */
static sk_status write_sinkhorn_log(sk_run *r, pipe_state *ps)
{
    int any = 0;
    char path[SK_PATH_MAX + 32];
    for (int k = 0; k < ps->n_methods; k++) any |= ps->meth[k].cost >= 0 && k > 0;
    if (!any) return SK_OK;
    snprintf(path, sizeof path, "%s/sinkhorn_log.csv", r->cfg.output);
    sk_csv *csv = sk_csv_open(path, "method,epoch,soft_cost,hard_cost");
    if (!csv) return SK_EIO;
    for (int k = 1; k < ps->n_methods; k++) {
        const method *me = &ps->meth[k];
        char a[40], b[40];
        if (me->cost < 0) continue;
        sk_json_fmt_num(b, sizeof b, me->srb.initial_hard_cost);
        sk_csv_row(csv, "%s,0,,%s", me->name, b);
        for (int e = 0; e < me->srb.n_epochs; e++) {
            sk_json_fmt_num(a, sizeof a, me->srb.soft_cost[e]);
            sk_json_fmt_num(b, sizeof b, me->srb.hard_cost[e]);
            sk_csv_row(csv, "%s,%d,%s,%s", me->name, e + 1, a, b);
        }
    }
    return sk_csv_close(csv);
}

/* ---- LMC ------------------------------------------------------------------------ */

typedef struct { sk_progress *bar; } point_ctx;
static void on_point(void *ctx, int point, int points)
{
    point_ctx *p = ctx;
    (void)points;
    sk_progress_update(p->bar, point, NULL);
}

static sk_status lmc_all(sk_run *r, pipe_state *ps)
{
    const sk_config *c = &r->cfg;
    int P = c->interpolation.points, S = c->interpolation.n_splits;
    provider prov[2], bn;
    sk_status st = SK_OK;
    int bn_reset = c->interpolation.bn_reset == SK_BNRESET_RECOMPUTE ||
                   (c->interpolation.bn_reset == SK_BNRESET_AUTO && sk_model_has_batchnorm(ps->m));
    double t0 = sk_now();
    memset(prov, 0, sizeof prov);
    memset(&bn, 0, sizeof bn);
    for (int s = 0; s < S && st == SK_OK; s++)
        st = provider_init(&prov[s], &ps->ds, c->interpolation.splits[s] == SK_SPLIT_TRAIN ? &ps->ds.train : &ps->ds.test,
                           sk_model_max_batch(ps->m), 0, 0, (uint64_t)c->seed);
    if (st == SK_OK)
        st = provider_init(&bn, &ps->ds, &ps->ds.train, c->train.batch_size, 1, 0, (uint64_t)c->seed);
    for (int k = 0; k < ps->n_methods && st == SK_OK; k++) {
        method *me = &ps->meth[k];
        me->lambda = sk_alloc_n((size_t)P, sizeof(double));
        me->loss = sk_alloc_n((size_t)(P * S), sizeof(double));
        me->acc = sk_alloc_n((size_t)(P * S), sizeof(double));
        if (!me->lambda || !me->loss || !me->acc) { st = SK_ENOMEM; break; }
        sk_lmc_opts o;
        memset(&o, 0, sizeof o);
        o.points = P;
        o.bn_reset = bn_reset;
        o.bn_batches = provider_next;
        o.bn_ctx = &bn;
        o.n_splits = S;
        for (int s = 0; s < S; s++) {
            o.eval[s] = provider_next;
            o.eval_ctx[s] = &prov[s];
        }
        o.loss = ps->loss;
        char label[64];
        snprintf(label, sizeof label, "lmc %s", me->name);
        point_ctx pc = {sk_progress_new(r->opts->progress, label, P)};
        o.on_point = on_point;
        o.point_ctx = &pc;
        st = sk_lmc_curve(ps->m, ps->ep[0].theta, me->aligned, &o, me->lambda, me->loss, me->acc);
        sk_progress_done(pc.bar, NULL);
        sk_progress_free(pc.bar);
        for (int s = 0; st == SK_OK && s < S; s++) {
            sk_barrier_compute(me->lambda, me->loss + s * P, P, +1, &me->bl[s]);
            if (!ps->loss.regression) sk_barrier_compute(me->lambda, me->acc + s * P, P, -1, &me->ba[s]);
        }
        if (st == SK_OK)
            sk_log_file(r->log, "lmc %s: %d points, barrier %s %.4f", me->name, P, sk_split_name(c->interpolation.splits[0]),
                        me->bl[0].barrier);
    }
    for (int s = 0; s < S; s++) provider_free(&prov[s]);
    provider_free(&bn);
    sk_run_stage(r, "lmc", sk_now() - t0);
    return st;
}

static sk_status write_curves(sk_run *r, pipe_state *ps)
{
    const sk_config *c = &r->cfg;
    int P = c->interpolation.points, S = c->interpolation.n_splits;
    char path[SK_PATH_MAX + 32];
    sk_status st;
    snprintf(path, sizeof path, "%s/interp.csv", c->output);
    sk_csv *csv = sk_csv_open(path, "method,split,lambda,loss,accuracy");
    if (!csv) return SK_EIO;
    for (int k = 0; k < ps->n_methods; k++)
        for (int s = 0; s < S; s++)
            for (int i = 0; i < P; i++) {
                const method *me = &ps->meth[k];
                char l[40], lo[40], ac[40] = "";
                sk_json_fmt_num(l, sizeof l, me->lambda[i]);
                sk_json_fmt_num(lo, sizeof lo, me->loss[s * P + i]);
                if (!ps->loss.regression) sk_json_fmt_num(ac, sizeof ac, me->acc[s * P + i]);
                sk_csv_row(csv, "%s,%s,%s,%s,%s", me->name, sk_split_name(c->interpolation.splits[s]), l, lo, ac);
            }
    st = sk_csv_close(csv);
    if (st != SK_OK) return st;

    /* One plot per quantity, one panel per split, one line per method. */
    static const char *label_of[] = {"naive", "Naive", "weight_matching", "Weight matching",
                                     "activation_matching", "Activation matching", "ste", "STE",
                                     "sinkhorn_l2", "Sinkhorn C_L2", "sinkhorn_l1", "Sinkhorn C_L1",
                                     "sinkhorn_cosine", "Sinkhorn C_cos", "sinkhorn_mid", "Sinkhorn C_Mid",
                                     "sinkhorn_rnd", "Sinkhorn C_Rnd", NULL};
    for (int q = 0; q < (ps->loss.regression ? 1 : 2); q++) {
        sk_panel panels[2];
        sk_series series[2][MAX_METHODS];
        for (int s = 0; s < S; s++) {
            for (int k = 0; k < ps->n_methods; k++) {
                const method *me = &ps->meth[k];
                const char *lab = me->name;
                for (int j = 0; label_of[j]; j += 2)
                    if (!strcmp(label_of[j], me->name)) lab = label_of[j + 1];
                series[s][k].label = lab;
                series[s][k].n = P;
                series[s][k].x = me->lambda;
                series[s][k].y = (q == 0 ? me->loss : me->acc) + s * P;
            }
            memset(&panels[s], 0, sizeof panels[s]);
            panels[s].title = sk_split_name(c->interpolation.splits[s]);
            panels[s].xlabel = "\xce\xbb (interpolation weight)";
            panels[s].ylabel = q == 0 ? (ps->loss.regression ? "MSE loss" : "cross-entropy loss") : "accuracy";
            panels[s].n_series = ps->n_methods;
            panels[s].series = series[s];
            panels[s].x0_label = "A";
            panels[s].x1_label = "B";
        }
        char title[400];
        snprintf(title, sizeof title, "%s: %s along the linear path", ps->model_desc, q == 0 ? "loss" : "accuracy");
        snprintf(path, sizeof path, "%s/%s", c->output, q == 0 ? "lmc_loss.svg" : "lmc_accuracy.svg");
        st = sk_svg_plot(path, title, S, panels, 480 * S + 40, 440);
        if (st != SK_OK) return st;
    }
    return SK_OK;
}

static void print_summary(sk_run *r, pipe_state *ps)
{
    const sk_config *c = &r->cfg;
    int P = c->interpolation.points, S = c->interpolation.n_splits, mid = (P - 1) / 2;
    char line[512];
    sk_log_out(r->log, "%s", "");
    int n = snprintf(line, sizeof line, "%-22s", "method");
    for (int s = 0; s < S; s++) {
        char col[64];
        snprintf(col, sizeof col, "barrier %s", sk_split_name(c->interpolation.splits[s]));
        n += snprintf(line + n, sizeof line - (size_t)n, " %14s", col);
    }
    for (int s = 0; s < S && !ps->loss.regression; s++) {
        char col[64];
        snprintf(col, sizeof col, "acc drop %s", sk_split_name(c->interpolation.splits[s]));
        n += snprintf(line + n, sizeof line - (size_t)n, " %14s", col);
    }
    for (int s = 0; s < S && !ps->loss.regression; s++) {
        char col[64];
        snprintf(col, sizeof col, "acc@%.2f %s", ps->meth[0].lambda ? ps->meth[0].lambda[mid] : 0.5,
                 sk_split_name(c->interpolation.splits[s]));
        n += snprintf(line + n, sizeof line - (size_t)n, " %15s", col);
    }
    sk_log_out(r->log, "%s", line);
    for (int m = 0; m < ps->n_methods; m++) {
        const method *me = &ps->meth[m];
        n = snprintf(line, sizeof line, "%-22s", me->name);
        for (int s = 0; s < S; s++) n += snprintf(line + n, sizeof line - (size_t)n, " %14.4f", me->bl[s].barrier);
        for (int s = 0; s < S && !ps->loss.regression; s++)
            n += snprintf(line + n, sizeof line - (size_t)n, " %13.2f%%", 100 * me->ba[s].barrier);
        for (int s = 0; s < S && !ps->loss.regression; s++)
            n += snprintf(line + n, sizeof line - (size_t)n, " %14.2f%%", 100 * me->acc[s * P + mid]);
        sk_log_out(r->log, "%s", line);
    }
}

sk_status sk_run_pipeline(sk_run *r)
{
    pipe_state *ps = r->state;
    const sk_config *c = &r->cfg;
    sk_status st = SK_OK;
    double t0 = sk_now();
    if (c->mode == SK_MODE_CONTINUAL) {
        st = sk_continual_run(c, &ps->ds, &ps->ms, r->log, r->opts->progress, &ps->cl);
        if (st != SK_OK) return st;
        sk_run_stage(r, "continual", sk_now() - t0);
        st = sk_cl_write_outputs(ps->cl, c->output);
        if (st != SK_OK) return st;
        sk_cl_print_summary(ps->cl, r->log);
        return SK_OK;
    }
    for (int e = 0; e < 2; e++) {
        if (ps->ep[e].present) {
            sk_log_err(r->log, "model %c: loaded %s", 'a' + e, c->models[e].weights);
            continue;
        }
        if (e == 1 && c->models[1].planted) {
            st = make_planted(r, ps);
            if (st != SK_OK) return st;
            continue;
        }
        st = train_endpoint(r, ps, e);
        if (st != SK_OK) return st;
    }
    if (ps->ep[0].trained || ps->ep[1].trained) sk_run_stage(r, "train", sk_now() - t0);
    t0 = sk_now();
    for (int e = 0; e < 2; e++) {
        endpoint *ep = &ps->ep[e];
        if ((st = eval_split(r, ps, ep->theta, &ps->ds.train, &ep->train_loss, &ep->train_acc)) != SK_OK) return st;
        if ((st = eval_split(r, ps, ep->theta, &ps->ds.test, &ep->test_loss, &ep->test_acc)) != SK_OK) return st;
        if (ps->loss.regression)
            sk_log_out(r->log, "model %c: train loss %.5f, test loss %.5f", 'a' + e, ep->train_loss, ep->test_loss);
        else
            sk_log_out(r->log, "model %c: train loss %.4f acc %.2f%%, test loss %.4f acc %.2f%%", 'a' + e,
                       ep->train_loss, 100 * ep->train_acc, ep->test_loss, 100 * ep->test_acc);
    }
    sk_run_stage(r, "evaluate", sk_now() - t0);
    if (c->mode == SK_MODE_TRAIN) return SK_OK;

    if (!ps->spec && (st = sk_perm_spec_build(&ps->ms, ps->ep[0].theta, ps->m, &ps->spec)) != SK_OK) return st;
    method *naive = add_method(ps, "naive");
    naive->aligned = ps->ep[1].theta;   /* borrowed */
    /* align.methods in order, plus the mode's own method when not listed;
     * sinkhorn expands to one method per cost of sinkhorn.costs. */
    int order[SK_CFG_LIST + 1], n = 0, own = -1;
    for (int i = 0; i < c->align.n_methods; i++) order[n++] = c->align.methods[i];
    if (c->mode == SK_MODE_WEIGHT_MATCHING) own = SK_METHOD_WEIGHT_MATCHING;
    if (c->mode == SK_MODE_ACTIVATION_MATCHING) own = SK_METHOD_ACTIVATION_MATCHING;
    if (c->mode == SK_MODE_SINKHORN) own = SK_METHOD_SINKHORN;
    int listed = 0;
    for (int i = 0; i < n; i++) listed |= order[i] == own;
    if (own >= 0 && !listed) order[n++] = own;
    for (int i = 0; i < n; i++) {
        if (order[i] == SK_METHOD_SINKHORN) {
            for (int k = 0; k < c->sinkhorn.n_costs; k++) {
                if (ps->n_methods == MAX_METHODS) return sk_err(SK_ECONFIG, "too many methods (at most %d)", MAX_METHODS - 1);
                st = run_method(r, ps, order[i], c->sinkhorn.costs[k]);
                if (st != SK_OK) return st;
            }
            continue;
        }
        if (ps->n_methods == MAX_METHODS) return sk_err(SK_ECONFIG, "too many methods (at most %d)", MAX_METHODS - 1);
        st = run_method(r, ps, order[i], -1);
        if (st != SK_OK) return st;
    }
    st = write_sinkhorn_log(r, ps);
    if (st != SK_OK) return st;
    st = lmc_all(r, ps);
    if (st != SK_OK) return st;
    st = write_curves(r, ps);
    if (st != SK_OK) return st;
    print_summary(r, ps);
    return SK_OK;
}

sk_status sk_run_verify_spec(const sk_config *cfg, FILE *out)
{
    sk_run r;
    sk_app_opts o;
    sk_status st;
    sk_rng rng;
    float *x = NULL;
    int32_t *y = NULL;
    float *yr = NULL;
    memset(&r, 0, sizeof r);
    memset(&o, 0, sizeof o);
    o.config_path = "(config)";
    r.opts = &o;
    r.cfg = *cfg;
    st = sk_run_validate_inputs(&r);
    pipe_state *ps = r.state;
    if (st != SK_OK) goto cleanup;
    int N = sk_model_max_batch(ps->m) < 64 ? sk_model_max_batch(ps->m) : 64;
    if (N > ps->ds.test.n) N = (int)ps->ds.test.n;
    int64_t dim = (int64_t)ps->ms.in_c * ps->ms.in_h * ps->ms.in_w;
    x = sk_alloc_n((size_t)(N * dim), sizeof(float));
    y = sk_alloc_n((size_t)N, sizeof(int32_t));
    yr = sk_alloc_n((size_t)N * (size_t)ps->ms.n_out, sizeof(float));
    if (!x || !y || !yr) { st = SK_ENOMEM; goto cleanup; }
    int32_t idx[64];
    for (int i = 0; i < N; i++) idx[i] = i;
    sk_dataset_batch(&ps->ds, &ps->ds.test, idx, N, 0, NULL, x, y, yr);
    sk_rng_seed(&rng, (uint64_t)cfg->seed);
    /* The endpoint A weights when they exist, else a seeded initialisation. */
    if (ps->ep[0].present) sk_tset_copy(sk_model_params(ps->m), ps->ep[0].theta);
    else sk_model_init(ps->m, &rng);
    st = sk_perm_spec_build(&ps->ms, sk_model_params(ps->m), ps->m, &ps->spec);
    if (st != SK_OK) goto cleanup;
    int64_t units = 0;
    for (int g = 0; g < ps->spec->n_groups; g++) units += ps->spec->groups[g].size;
    fprintf(out, "permutation spec of %s: %d groups, %lld units\n", ps->model_desc, ps->spec->n_groups,
            (long long)units);
    for (int g = 0; g < ps->spec->n_groups; g++) {
        const sk_perm_group *grp = &ps->spec->groups[g];
        fprintf(out, "  %-24s %6lld units, %2d tensors:", grp->name, (long long)grp->size, grp->n_refs);
        for (int k = 0; k < grp->n_refs; k++) {
            const sk_perm_ref *ref = &grp->refs[k];
            fprintf(out, " %s[%d]", sk_model_params(ps->m)->t[ref->param].name, ref->axis);
            if (ref->block > 1) fprintf(out, "x%lld", (long long)ref->block);
        }
        fputc('\n', out);
    }
    double worst = 0;
    for (int trial = 0; trial < 3 && st == SK_OK; trial++) {
        double rel;
        st = sk_perm_spec_verify(ps->m, ps->spec, x, N, &rng, &rel);
        if (!(rel <= worst)) worst = rel;
    }
    if (st != SK_OK) goto cleanup;
    if (worst <= 1e-4) {
        fprintf(out, "spec verified: outputs unchanged under 3 random permutations of every group "
                     "(max |diff| / max |logit| = %.2e <= 1e-4, %d %s test inputs)\n", worst, N,
                sk_cfg_choice("dataset.name", cfg->dataset.name));
    } else {
        st = sk_err(SK_ENUMERIC, "permutation spec of %s FAILED: permuted outputs differ (max rel %.3e > 1e-4)",
                    ps->model_desc, worst);
    }
cleanup:
    sk_free(x);
    sk_free(y);
    sk_free(yr);
    sk_run_free_state(&r);
    return st;
}

/* ---- metrics.json ----------------------------------------------------------------- */

static void barrier_json(sk_json *j, const char *key, const sk_barrier *b)
{
    sk_json_obj_begin(j, key);
    sk_json_num(j, "barrier", b->barrier);
    sk_json_num(j, "barrier_mid", b->barrier_mid);
    sk_json_num(j, "auc", b->auc);
    sk_json_obj_end(j);
}

static void pipeline_results_json(sk_run *r, sk_json *j)
{
    pipe_state *ps = r->state;
    const sk_config *c = &r->cfg;
    if (!ps || !ps->ds_loaded) return;
    sk_json_obj_begin(j, "dataset");
    sk_json_str(j, "name", sk_cfg_choice("dataset.name", c->dataset.name));
    sk_json_str(j, "path", c->dataset.path);
    sk_json_int(j, "train_examples", ps->ds.train.n);
    sk_json_int(j, "test_examples", ps->ds.test.n);
    sk_json_obj_end(j);
    sk_json_obj_begin(j, "model");
    sk_json_str(j, "description", ps->model_desc);
    if (ps->m) sk_json_int(j, "parameters", sk_model_n_learnable(ps->m));
    sk_json_obj_end(j);
    if (ps->cl) {
        sk_cl_results_json(ps->cl, j);
        return;
    }
    sk_json_obj_begin(j, "endpoints");
    for (int e = 0; e < 2; e++) {
        const endpoint *ep = &ps->ep[e];
        sk_json_obj_begin(j, e ? "b" : "a");
        sk_json_str(j, "weights", c->models[e].weights);
        sk_json_int(j, "seed", c->models[e].seed);
        sk_json_bool(j, "trained", ep->trained);
        if (ep->untrained) sk_json_bool(j, "untrained_initialisation", 1);
        if (e == 1 && ps->planted) {
            sk_json_bool(j, "planted", 1);
            sk_json_num(j, "noise", c->models[1].noise);
        }
        if (ep->trained) {
            sk_json_int(j, "epochs", ep->epochs);
            sk_json_num(j, "train_seconds", ep->seconds);
            sk_json_num(j, "samples_per_second", ep->samples_per_s);
        }
        sk_json_num(j, "train_loss", ep->train_loss);
        sk_json_num(j, "test_loss", ep->test_loss);
        if (!ps->loss.regression) {
            sk_json_num(j, "train_accuracy", ep->train_acc);
            sk_json_num(j, "test_accuracy", ep->test_acc);
        }
        sk_json_obj_end(j);
    }
    sk_json_obj_end(j);
    if (ps->n_methods == 0) return;
    int P = c->interpolation.points, mid = (P - 1) / 2;
    sk_json_obj_begin(j, "methods");
    for (int k = 0; k < ps->n_methods; k++) {
        const method *me = &ps->meth[k];
        sk_json_obj_begin(j, me->name);
        if (k > 0) sk_json_num(j, "seconds", me->seconds);
        if (me->passes) {
            sk_json_int(j, "passes", me->passes);
            sk_json_num(j, "objective", me->objective);
        }
        if (me->samples) sk_json_int(j, "samples", me->samples);
        if (me->cost >= 0 && k > 0) {
            sk_json_str(j, "cost", sk_cost_name(me->cost));
            sk_json_num(j, "initial_hard_cost", me->srb.initial_hard_cost);
            sk_json_num(j, "best_hard_cost", me->srb.best_hard_cost);
            sk_json_int(j, "best_epoch", me->srb.best_epoch);
            sk_json_int(j, "epochs", me->srb.n_epochs);
            sk_json_int(j, "steps", me->srb.n_steps);
            sk_json_int(j, "sinkhorn_fallbacks", me->srb.fallbacks);
        }
        if (!strcmp(me->name, "ste")) sk_json_num(j, "best_midpoint_loss", me->ste_loss);
        if (ps->planted && k > 0) {
            sk_json_obj_begin(j, "recovery");
            sk_json_int(j, "units", me->units);
            sk_json_int(j, "units_matched", me->matched);
            sk_json_num(j, "rate", me->units ? (double)me->matched / (double)me->units : 0.0);
            sk_json_bool(j, "exact", me->matched == me->units);
            sk_json_obj_end(j);
        }
        for (int s = 0; s < c->interpolation.n_splits && me->loss; s++) {
            sk_json_obj_begin(j, sk_split_name(c->interpolation.splits[s]));
            barrier_json(j, "loss", &me->bl[s]);
            if (!ps->loss.regression) barrier_json(j, "accuracy", &me->ba[s]);
            sk_json_num(j, "midpoint_lambda", me->lambda[mid]);
            sk_json_num(j, "midpoint_loss", me->loss[s * P + mid]);
            if (!ps->loss.regression) sk_json_num(j, "midpoint_accuracy", me->acc[s * P + mid]);
            sk_json_obj_end(j);
        }
        sk_json_obj_end(j);
    }
    sk_json_obj_end(j);
}

static void write_provenance(sk_run *r, sk_json *j)
{
    sk_json_str(j, "format", "sinkrb-metrics");
    sk_json_int(j, "format_version", 1);
    sk_json_str(j, "sinkrb_version", PACKAGE_VERSION);
    sk_json_str(j, "config", r->opts->config_path);
    sk_json_str(j, "name", r->cfg.name);
    sk_json_str(j, "mode", sk_mode_name(r->cfg.mode));
    sk_json_int(j, "seed", r->cfg.seed);
    sk_json_int(j, "threads", r->cfg.threads);
    sk_json_obj_begin(j, "blas");
    sk_json_str(j, "library", sk_blas_name());
    sk_json_str(j, "kernel", sk_blas_kernel());
    sk_json_str(j, "kernel_selection", sk_blas_kernel_how());
    sk_json_obj_end(j);
#ifdef _OPENMP
    sk_json_bool(j, "openmp", 1);
#else
    sk_json_bool(j, "openmp", 0);
#endif
    sk_json_str(j, "started", r->started);
    sk_json_str(j, "finished", r->finished);
    sk_json_num(j, "wall_seconds", sk_now() - r->t_start);
    sk_json_obj_begin(j, "stage_seconds");
    for (int i = 0; i < r->n_stages; i++) sk_json_num(j, r->stages[i].name, r->stages[i].seconds);
    sk_json_obj_end(j);
}

sk_status sk_run_write_metrics(sk_run *r)
{
    char path[SK_PATH_MAX + 32];
    sk_json *j = sk_json_new();
    sk_status st;
    if (!j) return SK_ENOMEM;
    sk_json_obj_begin(j, NULL);
    write_provenance(r, j);
    pipeline_results_json(r, j);
    sk_json_obj_end(j);
    snprintf(path, sizeof path, "%s/metrics.json", r->cfg.output);
    st = sk_json_write_file(j, path);
    sk_json_free(j);
    return st;
}

/* A sweep's own metrics.json: provenance, then the items in order (label,
 * value, folder, wall time); each item's results are in its folder. */
sk_status sk_run_write_sweep_metrics(sk_run *r, const double *item_seconds)
{
    const sk_config *c = &r->cfg;
    char path[SK_PATH_MAX + 32];
    sk_json *j = sk_json_new();
    sk_status st;
    if (!j) return SK_ENOMEM;
    sk_json_obj_begin(j, NULL);
    write_provenance(r, j);
    sk_json_obj_begin(j, "sweep");
    sk_json_str(j, "key", c->sweep.key);
    sk_json_str(j, "table", "sweep.csv");
    sk_json_arr_begin(j, "items");
    for (int i = 0; i < c->sweep.n; i++) {
        char out[SK_PATH_MAX + 80];
        snprintf(out, sizeof out, "%s/%s", c->output, c->sweep.labels[i]);
        sk_json_obj_begin(j, NULL);
        sk_json_str(j, "label", c->sweep.labels[i]);
        sk_json_str(j, "value", c->sweep.values[i]);
        sk_json_str(j, "output", out);
        sk_json_num(j, "wall_seconds", item_seconds[i]);
        sk_json_obj_end(j);
    }
    sk_json_arr_end(j);
    sk_json_obj_end(j);
    sk_json_obj_end(j);
    snprintf(path, sizeof path, "%s/metrics.json", c->output);
    st = sk_json_write_file(j, path);
    sk_json_free(j);
    return st;
}

void sk_run_free_state(sk_run *r)
{
    pipe_state *ps = r->state;
    if (!ps) return;
    for (int k = 0; k < ps->n_methods; k++) {
        method *me = &ps->meth[k];
        if (me->perms) {
            sk_perms_free(ps->spec, me->perms);
            sk_tset_free(me->aligned);
        }
        sk_free(me->lambda);
        sk_free(me->loss);
        sk_free(me->acc);
        sk_srb_result_free(&me->srb);
    }
    for (int e = 0; e < 2; e++) sk_tset_free(ps->ep[e].theta);
    sk_cl_results_free(ps->cl);
    if (ps->planted) sk_perms_free(ps->spec, ps->planted);
    sk_perm_spec_free(ps->spec);
    sk_model_free(ps->m);
    sk_model_free(ps->m2);
    if (ps->ds_loaded) sk_dataset_free(&ps->ds);
    sk_free(ps);
    r->state = NULL;
}

/* ---- sweep summaries ------------------------------------------------------------ */

const char *sk_run_sweep_header(const sk_config *c)
{
    if (c->mode == SK_MODE_CONTINUAL) return "label,value,method,acc,forgetting,bwt,seconds";
    if (c->mode == SK_MODE_TRAIN)
        return "label,value,model,train_loss,train_accuracy,test_loss,test_accuracy,train_seconds";
    return "label,value,method,split,loss_barrier,loss_barrier_mid,loss_auc,accuracy_barrier,"
           "accuracy_barrier_mid,accuracy_auc,midpoint_loss,midpoint_accuracy,recovery_rate,seconds,"
           "sinkhorn_steps,sinkhorn_best_epoch,a_test_accuracy,b_test_accuracy";
}

/* A number for a CSV cell: shortest round-trip text, "" when absent (NaN). */
static const char *cell(char *buf, size_t n, double v)
{
    if (isnan(v)) buf[0] = '\0';
    else sk_json_fmt_num(buf, n, v);
    return buf;
}

sk_status sk_run_sweep_rows(sk_run *r, sk_csv *csv, const char *label, const char *value, FILE *table)
{
    pipe_state *ps = r->state;
    const sk_config *c = &r->cfg;
    char b[14][40];
    char lab[80], val[SK_CFG_SWEEP_TEXT + 8];
    if (!ps) return SK_OK;
    snprintf(lab, sizeof lab, "%s", sk_csv_q(csv, label));
    snprintf(val, sizeof val, "%s", sk_csv_q(csv, value));
    if (ps->cl) {
        int T = sk_cl_results_tasks(ps->cl);
        for (int k = 0; k < sk_cl_results_n_methods(ps->cl); k++) {
            const double *a = sk_cl_results_matrix(ps->cl, k);
            double acc = sk_cl_acc(a, T), f = sk_cl_forgetting(a, T), bwt = sk_cl_bwt(a, T);
            const char *m = sk_cl_results_method(ps->cl, k);
            sk_csv_row(csv, "%s,%s,%s,%s,%s,%s,%s", lab, val, m, cell(b[0], 40, acc), cell(b[1], 40, f),
                       cell(b[2], 40, bwt), cell(b[3], 40, sk_cl_results_seconds(ps->cl, k)));
            fprintf(table, "%-16s %-22s ACC %6.2f%%  forgetting %6.2f%%  BWT %7.2f%%  %8.1f s\n", label, m,
                    100 * acc, 100 * f, 100 * bwt, sk_cl_results_seconds(ps->cl, k));
        }
        return SK_OK;
    }
    if (c->mode == SK_MODE_TRAIN) {
        for (int e = 0; e < 2; e++) {
            const endpoint *ep = &ps->ep[e];
            sk_csv_row(csv, "%s,%s,%c,%s,%s,%s,%s,%s", lab, val, 'a' + e, cell(b[0], 40, ep->train_loss),
                       cell(b[1], 40, ps->loss.regression ? NAN : ep->train_acc), cell(b[2], 40, ep->test_loss),
                       cell(b[3], 40, ps->loss.regression ? NAN : ep->test_acc),
                       cell(b[4], 40, ep->trained ? ep->seconds : NAN));
            fprintf(table, "%-16s model %c   train loss %.4f acc %6.2f%%   test loss %.4f acc %6.2f%%\n", label,
                    'a' + e, ep->train_loss, 100 * ep->train_acc, ep->test_loss, 100 * ep->test_acc);
        }
        return SK_OK;
    }
    int P = c->interpolation.points, S = c->interpolation.n_splits, mid = (P - 1) / 2;
    int show = 0;   /* the split of the table: test when evaluated */
    for (int s = 0; s < S; s++)
        if (c->interpolation.splits[s] == SK_SPLIT_TEST) show = s;
    for (int k = 0; k < ps->n_methods; k++) {
        const method *me = &ps->meth[k];
        double rec = ps->planted && k > 0 && me->units ? (double)me->matched / (double)me->units : NAN;
        int srb = me->cost >= 0 && k > 0;
        for (int s = 0; s < S && me->loss; s++) {
            int reg = ps->loss.regression;
            sk_csv_row(csv, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s", lab, val, me->name,
                       sk_split_name(c->interpolation.splits[s]), cell(b[0], 40, me->bl[s].barrier),
                       cell(b[1], 40, me->bl[s].barrier_mid), cell(b[2], 40, me->bl[s].auc),
                       cell(b[3], 40, reg ? NAN : me->ba[s].barrier), cell(b[4], 40, reg ? NAN : me->ba[s].barrier_mid),
                       cell(b[5], 40, reg ? NAN : me->ba[s].auc), cell(b[6], 40, me->loss[s * P + mid]),
                       cell(b[7], 40, reg ? NAN : me->acc[s * P + mid]), cell(b[8], 40, rec),
                       cell(b[9], 40, k > 0 ? me->seconds : NAN), cell(b[10], 40, srb ? (double)me->srb.n_steps : NAN),
                       cell(b[11], 40, srb ? me->srb.best_epoch : NAN),
                       reg ? "" : cell(b[12], 40, ps->ep[0].test_acc), reg ? "" : cell(b[13], 40, ps->ep[1].test_acc));
        }
        char recs[32] = "-", accs[32] = "-", drop[32] = "-";
        if (!isnan(rec)) snprintf(recs, sizeof recs, "%.2f%%", 100 * rec);
        if (me->loss && !ps->loss.regression) {
            snprintf(accs, sizeof accs, "%.2f%%", 100 * me->acc[show * P + mid]);
            snprintf(drop, sizeof drop, "%.2f%%", 100 * me->ba[show].barrier);
        }
        fprintf(table, "%-16s %-22s %10.4f %10.4f %10s %10s %10s %9.2f\n", label, me->name,
                me->loss ? me->bl[show].barrier : NAN, me->loss ? me->bl[show].auc : NAN, drop, accs, recs,
                k > 0 ? me->seconds : 0.0);
    }
    return SK_OK;
}

const char *sk_run_sweep_table_header(const sk_config *c)
{
    if (c->mode == SK_MODE_CONTINUAL || c->mode == SK_MODE_TRAIN) return "";
    return "label            method                    barrier        auc   acc drop    acc@mid   recovery   seconds";
}
