/* ste.c - straight-through estimator matching (see ste.h). */
#include "rebasin/ste.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "core/rng.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "rebasin/wm.h"

void sk_ste_opts_default(sk_ste_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 10;
    o->lr = 1e-2;
    o->momentum = 0.9;
    o->wm_max_iter = 100;
    o->batch_size = 1000;
    o->eval_batches = 8;
    o->select = SK_SELECT_BEST;
}

/* One run of sk_ste_matching: its inputs, theta~ and its optimiser, the
 * step's buffers, and the result being filled. */
typedef struct {
    const sk_perm_spec *s;
    sk_model *m;
    const sk_tset *A, *B;
    const sk_ste_opts *o;
    sk_batch_fn get_batch, get_eval; /* training batches; the selection's fixed batches */
    void *ctx, *eval_ctx;
    const sk_loss_spec *ls;
    float *x, *yr;
    int32_t *y;
    int cap;
    sk_tset *theta, *Bp, *mix, *g; /* theta~, pi(B), the midpoint, its gradient */
    sk_optim *opt;
    int64_t **cur; /* the latest weight matching of theta~ */
    sk_wm_opts wo;
    sk_rng rng; /* dropout of the steps */
    sk_ste_result R;
} ste_run;

static sk_status fetch(ste_run *r, sk_batch_fn fn, void *ctx, int64_t epoch, int64_t step, int *n)
{
    *n = fn(ctx, epoch, step, r->x, r->y, r->yr);
    if (*n < 0) return sk_err_prefix(SK_EIO, "STE matching: batch %lld: ", (long long)step);
    if (*n > r->cap) return sk_err(SK_EINVAL, "STE matching: batch of %d samples (the model allows %d)", *n, r->cap);
    if (r->o->batch_size > 0 && *n > r->o->batch_size)
        return sk_err(SK_EINVAL, "STE matching: batch of %d samples (batch_size is %d)", *n, r->o->batch_size);
    return SK_OK;
}

/* Midpoint loss of mix (already (A + pi(B)) / 2) over the fixed evaluation
 * batches: train-mode forwards (BatchNorm batch statistics) with dropout
 * off, so the same perm always gets the same number. */
static sk_status eval_mid(ste_run *r, const sk_tset *mix, int eval_batches, double *out)
{
    sk_status st = SK_OK;
    double total = 0;
    int64_t count = 0;
    int K = sk_model_get_spec(r->m)->n_out;
    sk_model_set_dropout(r->m, 0);
    for (int64_t k = 0; eval_batches <= 0 || k < eval_batches; k++) {
        int n;
        if ((st = fetch(r, r->get_eval, r->eval_ctx, -1, k, &n)) != SK_OK) break;
        if (n == 0) break;
        const float *lg = sk_model_forward(r->m, mix, r->x, n, 1, NULL);
        double l = (r->ls && r->ls->regression)
                       ? sk_loss_mse(lg, r->yr, n, K, NULL)
                       : sk_loss_ce(lg, r->y, n, K, r->ls ? r->ls->class_mask : NULL, NULL, NULL);
        total += l * n;
        count += n;
    }
    sk_model_set_dropout(r->m, 1);
    if (st != SK_OK) return st;
    if (count == 0) return sk_err(SK_EINVAL, "STE matching: the batch provider gave no evaluation batch");
    *out = total / (double)count;
    if (!isfinite(*out)) return sk_err(SK_ENUMERIC, "STE matching: midpoint loss is %g", *out);
    return SK_OK;
}

static void midpoint(sk_tset *mix, const sk_tset *A, const sk_tset *Bp)
{
    for (int64_t k = 0; k < mix->numel; k++)
        mix->block[k] = 0.5f * A->block[k] + 0.5f * Bp->block[k];
}

static void copy_perms(const sk_perm_spec *s, int64_t **dst, int64_t *const *src)
{
    for (int q = 0; q < s->n_groups; q++)
        memcpy(dst[q], src[q], (size_t)s->groups[q].size * sizeof(int64_t));
}

/* The perm of theta~ (weight matching warm-started from cur), its midpoint
 * loss *l on the evaluation batches, and the selection: kept in perms if
 * select is last, or if it is the first (epoch 0) or strictly better than
 * the best so far. */
static sk_status score(ste_run *r, int epoch, int64_t **perms, double *l)
{
    sk_wm_result wr;
    sk_status st = sk_weight_matching(r->s, r->theta, r->B, &r->wo, r->cur, &wr);
    if (st != SK_OK) return st;
    sk_wm_result_free(&wr);
    if ((st = sk_perm_apply(r->s, (const int64_t *const *)r->cur, r->B, r->Bp)) != SK_OK) return st;
    midpoint(r->mix, r->A, r->Bp);
    if ((st = eval_mid(r, r->mix, r->o->eval_batches, l)) != SK_OK) return st;
    if (sk_select_track(r->o->select, epoch, *l, &r->R.best_loss, &r->R.best_epoch, &r->R.selected_loss,
                        &r->R.selected_epoch))
        copy_perms(r->s, perms, r->cur);
    return SK_OK;
}

/* One epoch of straight-through steps over the training batches. */
static sk_status ste_epoch(ste_run *r, int e)
{
    sk_status st;
    int64_t nsteps = 0;
    for (int64_t step = 0;; step++) {
        int n;
        double loss;
        sk_wm_result wr;
        if ((st = fetch(r, r->get_batch, r->ctx, e, step, &n)) != SK_OK) return st;
        if (n == 0) break;
        if ((st = sk_weight_matching(r->s, r->theta, r->B, &r->wo, r->cur, &wr)) != SK_OK) return st;
        sk_wm_result_free(&wr);
        if ((st = sk_perm_apply(r->s, (const int64_t *const *)r->cur, r->B, r->Bp)) != SK_OK) return st;
        midpoint(r->mix, r->A, r->Bp);
        st = sk_train_grad(r->m, r->mix, r->g, r->x, r->y, r->yr, n, r->ls, &r->rng, &loss, NULL);
        if (st != SK_OK) return sk_err_prefix(st, "STE matching epoch %d step %lld: ", e + 1, (long long)step);
        /* Straight through: d loss / d theta~ = d loss / d theta_ste = g / 2. */
        for (int64_t k = 0; k < r->g->numel; k++)
            r->g->block[k] *= 0.5f;
        if (isnan(sk_optim_step(r->opt, r->theta, r->g))) return SK_EINVAL;
        nsteps++;
    }
    if (nsteps == 0) return sk_err(SK_EINVAL, "STE matching: epoch %d had no training batch", e + 1);
    r->R.n_steps += nsteps;
    return SK_OK;
}

/* theta~ = A and its SGD optimiser, the step's buffers. */
static sk_status ste_setup(ste_run *r)
{
    const sk_model_spec *ms = sk_model_get_spec(r->m);
    r->cap = sk_model_max_batch(r->m);
    r->x = sk_alloc_n((size_t)r->cap * (size_t)(ms->in_c * ms->in_h * ms->in_w), sizeof(float));
    r->y = sk_alloc_n((size_t)r->cap, sizeof(int32_t));
    r->yr = sk_alloc_n((size_t)r->cap * (size_t)ms->n_out, sizeof(float));
    r->theta = sk_tset_clone(r->A);
    r->Bp = sk_tset_like(r->B);
    r->mix = sk_tset_like(r->B);
    r->g = sk_tset_like(r->B);
    r->cur = sk_perms_identity(r->s);
    r->R.loss = sk_alloc_n((size_t)(r->o->epochs > 0 ? r->o->epochs : 1), sizeof(double));
    if (!r->x || !r->y || !r->yr || !r->theta || !r->Bp || !r->mix || !r->g || !r->cur || !r->R.loss) return SK_ENOMEM;
    sk_optim_opts oo;
    sk_optim_opts_init(&oo, SK_OPT_SGD);
    oo.lr = r->o->lr;
    oo.momentum = r->o->momentum;
    r->wo.max_iter = r->o->wm_max_iter;
    r->wo.seed = r->o->seed;
    sk_rng_seed_stream(&r->rng, r->o->seed, 4);
    return sk_optim_new(&oo, r->theta, &r->opt);
}

void sk_ste_result_free(sk_ste_result *r)
{
    if (!r) return;
    sk_free(r->loss);
    r->loss = NULL;
}

sk_status sk_ste_matching(const sk_perm_spec *s, sk_model *m, const sk_tset *A, const sk_tset *B, const sk_ste_opts *o,
                          sk_batch_fn get_batch, void *ctx, sk_batch_fn get_eval, void *eval_ctx,
                          const sk_loss_spec *ls, void (*on_epoch)(void *, int, double), void *cb_ctx, int64_t **perms,
                          sk_ste_result *res)
{
    if (res) memset(res, 0, sizeof *res);
    if (A->n != s->n_params || !sk_tset_same_layout(A, B))
        return sk_err(SK_EINVAL, "sk_ste_matching: parameter layout does not match the spec");
    if (!m || !get_batch) return sk_err(SK_EINVAL, "sk_ste_matching: needs a model and training batches");
    if (o->epochs < 0 || o->wm_max_iter < 1)
        return sk_err(SK_EINVAL, "sk_ste_matching: epochs must be >= 0 and wm_max_iter >= 1");
    ste_run r;
    memset(&r, 0, sizeof r);
    r.s = s;
    r.m = m;
    r.A = A;
    r.B = B;
    r.o = o;
    r.R.select = o->select;
    r.get_batch = get_batch;
    r.ctx = ctx;
    r.get_eval = get_eval ? get_eval : get_batch;
    r.eval_ctx = get_eval ? eval_ctx : ctx;
    r.ls = ls;
    sk_status st = ste_setup(&r);
    /* Epoch 0: weight matching of theta~ = A. */
    if (st == SK_OK) st = score(&r, 0, perms, &r.R.initial_loss);
    for (int e = 0; st == SK_OK && e < o->epochs; e++) {
        double l;
        if ((st = ste_epoch(&r, e)) != SK_OK) break;
        if ((st = score(&r, e + 1, perms, &l)) != SK_OK) break;
        r.R.loss[e] = l;
        r.R.n_epochs = e + 1;
        if (on_epoch) on_epoch(cb_ctx, e + 1, l);
    }
    if (res && st == SK_OK)
        *res = r.R;
    else
        sk_ste_result_free(&r.R);
    if (r.cur) sk_perms_free(s, r.cur);
    sk_optim_free(r.opt);
    sk_tset_free(r.theta);
    sk_tset_free(r.Bp);
    sk_tset_free(r.mix);
    sk_tset_free(r.g);
    sk_free(r.x);
    sk_free(r.y);
    sk_free(r.yr);
    return st;
}
