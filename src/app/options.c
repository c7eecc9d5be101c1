/* options.c - config -> module options. */
#include "app/options.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/atomic.h"

void sk_options_data(const sk_config *c, sk_data_opts *o)
{
    sk_data_opts_init(o, c->dataset.name);
    o->path = c->dataset.path;
    o->normalize = c->dataset.normalize;
    for (int i = 0; i < 3; i++) {
        o->mean[i] = (float)(i < c->dataset.n_mean ? c->dataset.mean[i] : 0.0);
        o->std[i] = (float)(i < c->dataset.n_std ? c->dataset.std[i] : 1.0);
    }
    o->coarse_labels = c->dataset.labels == SK_LABELS_COARSE;
    o->poly_degree = c->dataset.degree;
    o->poly_points = c->dataset.points;
    o->poly_noise = c->dataset.noise;
    o->seed = (uint64_t)c->seed;
    o->train_limit = c->dataset.train_limit;
    o->test_limit = c->dataset.test_limit;
    o->validation = c->dataset.validation;
    o->split_seed = (uint64_t)c->dataset.split_seed;
}

sk_status sk_options_model(const sk_config *c, const sk_dataset *ds, sk_model_spec *ms)
{
    memset(ms, 0, sizeof *ms);
    ms->arch = c->model.arch;
    ms->n_hidden = c->model.n_hidden;
    if (ms->n_hidden > SK_MAX_HIDDEN) return sk_err(SK_ECONFIG, "model.hidden: at most %d layers", SK_MAX_HIDDEN);
    memcpy(ms->hidden, c->model.hidden, sizeof(int) * (size_t)ms->n_hidden);
    ms->activation = c->model.activation;
    ms->norm = c->model.norm;
    ms->width = c->model.width;
    ms->vgg_head = c->model.head;
    ms->dropout = (float)c->model.dropout;
    /* An endpoint with a dropout of its own needs the layers even when the
     * alignment's model.dropout is 0. */
    ms->dropout_layers = sk_config_endpoint_dropout(c, 0) > 0 || sk_config_endpoint_dropout(c, 1) > 0;
    ms->in_c = ds->train.c;
    ms->in_h = ds->train.h;
    ms->in_w = ds->train.w;
    ms->n_out = ds->train.n_classes > 0 ? ds->train.n_classes : 1;
    return SK_OK;
}

void sk_options_optim(const sk_config *c, int64_t steps, sk_optim_opts *o)
{
    sk_optim_opts_init(o, c->train.optimizer);
    o->lr = c->train.lr;
    o->momentum = c->train.momentum;
    o->nesterov = c->train.nesterov;
    o->weight_decay = c->train.weight_decay;
    o->beta1 = c->train.beta1;
    o->beta2 = c->train.beta2;
    o->eps = c->train.eps;
    o->clip_norm = c->train.clip_norm;
    o->schedule = c->train.schedule;
    o->total_steps = steps * c->train.epochs;
    o->warmup_steps = (int64_t)llround(c->train.warmup_epochs * (double)steps);
    o->step_size = steps * c->train.step_epochs;
    /* train.gamma is per epoch for the exponential schedule, which decays every step. */
    o->gamma = c->train.schedule == SK_SCHED_EXPONENTIAL ? pow(c->train.gamma, 1.0 / (double)steps) : c->train.gamma;
}

void sk_options_wm(const sk_config *c, sk_wm_opts *o)
{
    o->max_iter = c->weight_matching.max_iter;
    o->seed = (uint64_t)c->seed;
}

void sk_options_am(const sk_config *c, sk_am_opts *o)
{
    o->samples = c->activation_matching.samples;
    o->batch_size = c->activation_matching.batch_size;
    o->cost = c->activation_matching.cost;
}

void sk_options_srb(const sk_config *c, sk_srb_cost cost, sk_srb_opts *o)
{
    sk_srb_opts_default(o);
    o->cost = cost;
    o->tau = c->sinkhorn.tau;
    o->iterations = c->sinkhorn.iterations;
    o->scale = c->sinkhorn.scale;
    o->epochs = c->sinkhorn.epochs;
    o->steps = c->sinkhorn.steps;
    o->lr = c->sinkhorn.lr;
    o->weight_decay = c->sinkhorn.weight_decay;
    o->eps = c->sinkhorn.eps;
    o->init = c->sinkhorn.init;
    o->seed = (uint64_t)c->seed;
    o->eval_batches = c->sinkhorn.eval_batches;
    o->select = c->sinkhorn.select;
}

void sk_options_ste(const sk_config *c, sk_ste_opts *o)
{
    sk_ste_opts_default(o);
    o->epochs = c->ste.epochs;
    o->lr = c->ste.lr;
    o->momentum = c->ste.momentum;
    o->seed = (uint64_t)c->seed;
    o->wm_max_iter = c->weight_matching.max_iter;
    o->eval_batches = c->ste.eval_batches;
    o->select = c->ste.select;
    o->batch_size = c->ste.batch_size;
}

int sk_options_bn_reset(const sk_config *c, int has_batchnorm)
{
    return c->interpolation.bn_reset == SK_BNRESET_RECOMPUTE ||
           (c->interpolation.bn_reset == SK_BNRESET_AUTO && has_batchnorm);
}

void sk_options_continual(const sk_config *c, sk_cl_opts *o)
{
    memset(o, 0, sizeof *o);
    o->benchmark = c->continual.benchmark;
    o->tasks = c->continual.tasks;
    o->angles = c->continual.angles;
    o->step = c->continual.step;
    o->augment = c->dataset.augment;
    o->n_methods = c->continual.n_methods < SK_CL_MAX_METHODS ? c->continual.n_methods : SK_CL_MAX_METHODS;
    memcpy(o->methods, c->continual.methods, sizeof o->methods[0] * (size_t)o->n_methods);
    o->epochs = c->continual.epochs;
    o->batch_size = c->continual.batch_size;
    o->eval_batch_size = c->train.eval_batch_size;
    sk_optim_opts_init(&o->opt, c->continual.optimizer);
    o->opt.lr = c->continual.lr;
    o->opt.momentum = c->continual.optimizer == SK_OPT_SGD ? c->continual.momentum : 0.0;
    o->opt.weight_decay = c->continual.weight_decay;
    o->opt.beta1 = c->train.beta1;
    o->opt.beta2 = c->train.beta2;
    o->opt.eps = c->train.eps;
    o->memory = c->continual.memory;
    o->memory_per_task = c->continual.memory_per_task;
    o->memory_per_class = c->continual.memory_per_class;
    o->ewc_lambda = c->continual.ewc_lambda;
    o->fisher_samples = c->continual.fisher_samples;
    o->rebasin = c->continual.rebasin;
    o->seed = (uint64_t)c->seed;
}

int sk_options_default_weights(const sk_config *c, int e)
{
    char def[sizeof c->output + 16];
    snprintf(def, sizeof def, "%s/model_%c.h5", c->output, 'a' + e);
    return strcmp(c->models[e].weights, def) == 0;
}

sk_ep_action sk_options_endpoint(const sk_config *c, int e)
{
    if (e == 1 && c->models[1].planted) return SK_EP_PLANT;
    sk_endpoint_train t = c->models[e].train;
    const char *why;
    /* Only a truly absent path counts as absent: a dangling link or a
     * directory is loaded, and the load reports what it is. */
    sk_path_kind k = sk_path_kind_of(c->models[e].weights, &why);
    if (k == SK_PATH_BAD) return SK_EP_LOAD;
    if (t == SK_ENDPOINT_ALWAYS) return SK_EP_TRAIN;
    if (k == SK_PATH_FILE) return SK_EP_LOAD;
    switch (t) {
    case SK_ENDPOINT_INIT:
        return SK_EP_INIT;
    case SK_ENDPOINT_IF_MISSING:
        return SK_EP_TRAIN;
    case SK_ENDPOINT_AUTO:
        return sk_options_default_weights(c, e) ? SK_EP_TRAIN : SK_EP_MISSING;
    case SK_ENDPOINT_NEVER:
    case SK_ENDPOINT_ALWAYS:
    case SK_ENDPOINT_COUNT:
        break;
    }
    return SK_EP_MISSING;
}

int sk_options_model_batch(const sk_config *c)
{
    int b = c->train.eval_batch_size;
    int trains = c->mode == SK_MODE_CONTINUAL || c->model.norm == SK_MNORM_BATCHNORM ||
                 c->interpolation.bn_reset == SK_BNRESET_RECOMPUTE;
    int am = c->mode == SK_MODE_ACTIVATION_MATCHING || c->mode == SK_MODE_CONTINUAL;
    int data = c->mode == SK_MODE_CONTINUAL, srb = c->mode == SK_MODE_SINKHORN, ste = 0;
    for (int e = 0; e < 2; e++)
        trains |= sk_options_endpoint(c, e) == SK_EP_TRAIN;
    for (int i = 0; i < c->align.n_methods; i++) {
        am |= c->align.methods[i] == SK_ALIGN_ACTIVATION_MATCHING;
        ste |= c->align.methods[i] == SK_ALIGN_STE;
        srb |= c->align.methods[i] == SK_ALIGN_SINKHORN;
    }
    for (int k = 0; srb && k < c->sinkhorn.n_costs; k++)
        data |= c->sinkhorn.costs[k] == SK_SRB_MID || c->sinkhorn.costs[k] == SK_SRB_RND;
    if (c->mode == SK_MODE_TRAIN) am = data = ste = 0;
    if (trains && c->train.batch_size > b) b = c->train.batch_size;
    if (am && c->activation_matching.batch_size > b) b = c->activation_matching.batch_size;
    if (data && c->sinkhorn.batch_size > b) b = c->sinkhorn.batch_size;
    if (ste && c->ste.batch_size > b) b = c->ste.batch_size;
    return b;
}
