/* endpoint.c - the two endpoints of a run: loaded when their weights exist,
 * else trained (or kept at their seeded initialisation, or B planted as a
 * random permutation of A) and saved; then evaluated on both splits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/options.h"
#include "app/provider.h"
#include "app/state.h"
#include "core/rng.h"
#include "core/timer.h"
#include "io/atomic.h"
#include "io/h5w.h"
#include "nn/optim.h"

sk_status sk_endpoints_load(sk_run *r, sk_pipe_state *ps)
{
    const sk_config *c = &r->cfg;
    for (int e = 0; e < 2; e++) {
        ps->ep[e].theta = sk_tset_like(sk_model_params(ps->m));
        if (!ps->ep[e].theta) return SK_ENOMEM;
        if (e == 1 && c->models[1].planted) continue; /* made from A by sk_endpoints_make */
        if (sk_file_exists(c->models[e].weights)) {
            sk_status st = sk_h5w_load_into_ex(c->models[e].weights, ps->ep[e].theta, NULL, 0, ps->model_desc);
            if (st != SK_OK) return st;
            ps->ep[e].present = 1;
        }
    }
    return SK_OK;
}

/* ---- training ---------------------------------------------------------------- */

typedef struct {
    sk_run *r;
    char who;
    int epochs;
    double last_sps;
    sk_provider *prov;
    int64_t per_epoch;
} epoch_ctx;

static void on_epoch(void *ctx, int epoch, double train_loss, double train_acc, double test_loss, double test_acc,
                     double sps)
{
    epoch_ctx *e = ctx;
    char line[512];
    e->last_sps = sps;
    if (isnan(train_acc))
        snprintf(line, sizeof line, "model %c epoch %d/%d: train loss %.5f | test loss %.5f | %.0f samples/s", e->who,
                 epoch, e->epochs, train_loss, test_loss, sps);
    else
        snprintf(line, sizeof line,
                 "model %c epoch %d/%d: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% | %.0f samples/s",
                 e->who, epoch, e->epochs, train_loss, 100 * train_acc, test_loss, 100 * test_acc, sps);
    if (e->prov->bar) {
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

/* Train endpoint e from its seeded initialisation into ps->ep[e].theta
 * (models.X.train false: keep the initialisation). */
static sk_status train(sk_run *r, sk_pipe_state *ps, int e, sk_provider *tr, sk_provider *te, sk_rng *rng)
{
    const sk_config *c = &r->cfg;
    sk_endpoint *ep = &ps->ep[e];
    uint64_t seed = (uint64_t)c->models[e].seed;
    double t0 = sk_now();
    if (!c->models[e].train) {
        ep->untrained = 1;
        sk_log_err(r->log, "model %c: untrained (%s, seeded initialisation, seed %llu)", 'a' + e, ps->model_desc,
                   (unsigned long long)seed);
        return sk_tset_copy(ep->theta, sk_model_params(ps->m));
    }
    sk_optim_opts oo;
    sk_optim *opt = NULL;
    sk_options_optim(c, (ps->ds.train.n + c->train.batch_size - 1) / c->train.batch_size, &oo);
    sk_status st = sk_optim_new(&oo, sk_model_params(ps->m), &opt);
    if (st != SK_OK) return st;
    sk_log_err(r->log, "training model %c (%s, seed %llu, %d epochs, %s, %lld examples)", 'a' + e, ps->model_desc,
               (unsigned long long)seed, c->train.epochs, sk_opt_kind_name(c->train.optimizer),
               (long long)ps->ds.train.n);
    epoch_ctx ec = {r, (char)('a' + e), c->train.epochs, 0, tr, ps->ds.train.n};
    char label[32];
    snprintf(label, sizeof label, "model %c", 'a' + e);
    if (sk_progress_bars(r->opts->progress))
        tr->bar = sk_progress_new(r->opts->progress, label, ps->ds.train.n * c->train.epochs);
    sk_train_cfg tc;
    memset(&tc, 0, sizeof tc);
    tc.epochs = c->train.epochs;
    tc.batch_size = c->train.batch_size;
    tc.loss = ps->loss;
    tc.get_batch = sk_provider_next;
    tc.ctx = tr;
    tc.get_test_batch = sk_provider_next;
    tc.test_ctx = te;
    tc.step = optim_step;
    tc.optctx = opt;
    tc.on_epoch = on_epoch;
    tc.epoch_ctx = &ec;
    tc.rng = rng;
    st = sk_train(ps->m, &tc);
    sk_progress_free(tr->bar);
    tr->bar = NULL;
    sk_optim_free(opt);
    if (st != SK_OK) return st;
    ep->trained = 1;
    ep->epochs = c->train.epochs;
    ep->seconds = sk_now() - t0;
    ep->samples_per_s = ec.last_sps;
    return sk_tset_copy(ep->theta, sk_model_params(ps->m));
}

/* Save endpoint e where the config says (creating the folder), atomically. */
static sk_status save(sk_run *r, sk_pipe_state *ps, int e, double t0)
{
    const sk_config *c = &r->cfg;
    char dir[SK_PATH_MAX];
    sk_status st;
    snprintf(dir, sizeof dir, "%s", c->models[e].weights);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        if (*dir && (st = sk_mkdir_p(dir)) != SK_OK) return st;
    }
    char *arch = sk_config_model_yaml(c);
    st = sk_h5w_write(c->models[e].weights, ps->ep[e].theta, arch);
    free(arch);
    if (st != SK_OK) return st;
    sk_log_err(r->log, "saved model %c to %s (%.1f s)", 'a' + e, c->models[e].weights, sk_now() - t0);
    return SK_OK;
}

static sk_status train_endpoint(sk_run *r, sk_pipe_state *ps, int e)
{
    const sk_config *c = &r->cfg;
    sk_rng rng;
    sk_provider tr, te;
    double t0 = sk_now();
    uint64_t seed = (uint64_t)c->models[e].seed;
    sk_rng_seed_stream(&rng, seed, 0x494e4954 /* "INIT" */);
    sk_model_init(ps->m, &rng);
    memset(&te, 0, sizeof te);
    sk_status st = sk_provider_init(&tr, &ps->ds, &ps->ds.train, c->train.batch_size, 1, c->dataset.augment, seed);
    if (st == SK_OK) st = sk_provider_init(&te, &ps->ds, &ps->ds.test, sk_model_max_batch(ps->m), 0, 0, seed);
    if (st == SK_OK) st = train(r, ps, e, &tr, &te, &rng);
    if (st == SK_OK) st = save(r, ps, e, t0);
    sk_provider_free(&tr);
    sk_provider_free(&te);
    return st;
}

/* models.b.planted: B = pi(A) (+ noise) with a random pi from models.b.seed;
 * every method's result is then scored against pi^-1. */
static sk_status make_planted(sk_run *r, sk_pipe_state *ps)
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

sk_status sk_endpoints_make(sk_run *r, sk_pipe_state *ps)
{
    const sk_config *c = &r->cfg;
    double t0 = sk_now();
    sk_status st;
    for (int e = 0; e < 2; e++) {
        if (ps->ep[e].present) {
            sk_log_err(r->log, "model %c: loaded %s", 'a' + e, c->models[e].weights);
            continue;
        }
        st = e == 1 && c->models[1].planted ? make_planted(r, ps) : train_endpoint(r, ps, e);
        if (st != SK_OK) return st;
    }
    if (ps->ep[0].trained || ps->ep[1].trained) sk_run_stage(r, "train", sk_now() - t0);
    return SK_OK;
}

static sk_status eval_split(sk_run *r, sk_pipe_state *ps, const sk_tset *theta, const sk_split *sp, double *loss,
                            double *acc)
{
    sk_provider p;
    sk_status st = sk_provider_init(&p, &ps->ds, sp, sk_model_max_batch(ps->m), 0, 0, (uint64_t)r->cfg.seed);
    if (st == SK_OK) st = sk_model_eval(ps->m, theta, sk_provider_next, &p, &ps->loss, loss, acc);
    sk_provider_free(&p);
    return st;
}

sk_status sk_endpoints_evaluate(sk_run *r, sk_pipe_state *ps)
{
    double t0 = sk_now();
    sk_status st;
    for (int e = 0; e < 2; e++) {
        sk_endpoint *ep = &ps->ep[e];
        if ((st = eval_split(r, ps, ep->theta, &ps->ds.train, &ep->train_loss, &ep->train_acc)) != SK_OK) return st;
        if ((st = eval_split(r, ps, ep->theta, &ps->ds.test, &ep->test_loss, &ep->test_acc)) != SK_OK) return st;
        if (ps->loss.regression)
            sk_log_out(r->log, "model %c: train loss %.5f, test loss %.5f", 'a' + e, ep->train_loss, ep->test_loss);
        else
            sk_log_out(r->log, "model %c: train loss %.4f acc %.2f%%, test loss %.4f acc %.2f%%", 'a' + e,
                       ep->train_loss, 100 * ep->train_acc, ep->test_loss, 100 * ep->test_acc);
    }
    sk_run_stage(r, "evaluate", sk_now() - t0);
    return SK_OK;
}
