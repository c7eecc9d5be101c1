/* srb.c - Sinkhorn re-basin (see srb.h). */
#include "rebasin/srb.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "core/names.h"
#include "core/rng.h"
#include "core/timer.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "rebasin/softperm.h"

const char *const sk_srb_cost_names[] = {
    [SK_SRB_L2] = "l2", [SK_SRB_L1] = "l1", [SK_SRB_COSINE] = "cosine", [SK_SRB_MID] = "mid", [SK_SRB_RND] = "rnd"};

void sk_srb_opts_default(sk_srb_opts *o)
{
    memset(o, 0, sizeof *o);
    o->cost = SK_SRB_MID;
    o->tau = 1.0;
    o->iterations = 20;
    o->scale = 1.0;
    o->epochs = 20;
    o->steps = 1000;
    o->lr = 0.1;
    o->weight_decay = 0.01;
    o->eps = 1e-8;
    o->init = 0;
    o->seed = 0;
    o->eval_batches = 8;
    o->select = SK_SELECT_LAST;
}

const char *sk_srb_cost_name(int cost)
{
    return SK_NAME(sk_srb_cost_names, cost);
}

int sk_srb_cost_parse(const char *s, int *cost)
{
    int i = sk_name_index(sk_srb_cost_names, SK_SRB_COST_COUNT, s);
    if (i >= 0) {
        *cost = i;
        return 0;
    }
    sk_err(SK_ECONFIG, "unknown Sinkhorn re-basin cost '%s'\nHINT: one of l2, l1, cosine, mid, rnd", s);
    return -1;
}

void sk_srb_result_free(sk_srb_result *r)
{
    if (!r) return;
    sk_free(r->soft_cost);
    sk_free(r->hard_cost);
    r->soft_cost = r->hard_cost = NULL;
}

/* ---- data-free costs -------------------------------------------------------------- */

double sk_srb_weight_cost(int cost, const sk_tset *A, const sk_tset *Bp, sk_tset *dBp)
{
    int64_t count = 0;
    double c = 0;
    for (int i = 0; i < A->n; i++)
        if (!A->t[i].is_buffer) count += A->t[i].numel;
    if (dBp) memset(dBp->block, 0, (size_t)dBp->numel * sizeof(float));
    if (count == 0) return 0;
    for (int i = 0; i < A->n; i++) {
        const sk_tensor *ta = &A->t[i];
        if (ta->is_buffer) continue;
        const float *a = ta->data, *b = Bp->t[i].data;
        float *d = dBp ? dBp->t[i].data : NULL;
        int64_t n = ta->numel;
        if (cost == SK_SRB_L2) {
            double s = 0;
            for (int64_t k = 0; k < n; k++) {
                double e = (double)a[k] - b[k];
                s += e * e;
                if (d) d[k] = (float)(-2.0 * e / (double)count);
            }
            c += s / (double)count;
        } else if (cost == SK_SRB_L1) {
            double s = 0;
            for (int64_t k = 0; k < n; k++) {
                double e = (double)a[k] - b[k];
                s += fabs(e);
                if (d) d[k] = (float)((e > 0 ? -1.0 : e < 0 ? 1.0 : 0.0) / (double)count);
            }
            c += s / (double)count;
        } else { /* cosine: the published DistCosineLoss, sum over tensors of (3 - cos) / N */
            double ab = 0, aa = 0, bb = 0;
            for (int64_t k = 0; k < n; k++) {
                ab += (double)a[k] * b[k];
                aa += (double)a[k] * a[k];
                bb += (double)b[k] * b[k];
            }
            /* cos = <a, b> / max(|a| |b|, 1e-8); clamped, d cos / d b = a / 1e-8 */
            double den = sqrt(aa) * sqrt(bb);
            int clamped = !(den > SK_SRB_COSINE_EPS);
            if (clamped) den = SK_SRB_COSINE_EPS;
            double cs = ab / den;
            c += (3.0 - cs) / (double)count;
            if (d)
                for (int64_t k = 0; k < n; k++)
                    d[k] = (float)(-(clamped ? a[k] / den : a[k] / den - cs * b[k] / bb) / (double)count);
        }
    }
    return c;
}

/* ---- the loop ------------------------------------------------------------------------ */

/* One run of sk_sinkhorn_rebasin: its inputs, the learned soft permutations
 * and their optimiser, the buffers of a step, and the result being filled. */
typedef struct {
    const sk_perm_spec *s;
    sk_model *m;
    const sk_tset *A, *B;
    const sk_srb_opts *o;
    sk_batch_fn get_batch, get_eval; /* training batches; the hard evaluation's fixed batches */
    void *ctx, *eval_ctx;
    const sk_loss_spec *ls;
    sk_softperm *sp;
    sk_optim *opt;
    sk_tset *X, *dX;       /* the soft permutations' parameters and gradients (owned by sp) */
    int64_t **cur;         /* the latest hard projection */
    sk_tset *Bp, *mix, *g; /* soft-permuted B, interpolated model, gradient */
    float *x, *yr;
    int32_t *y;
    int cap, data; /* data: a data cost (mid, rnd), with batches of up to cap samples */
    int rounds;    /* epochs (data) or rounds of per_round steps (data-free) */
    int64_t per_round;
    sk_rng rlam, rdrop;
    sk_srb_result R;
} run;

static double batch_loss(run *r, const float *logits, int n)
{
    int K = sk_model_get_spec(r->m)->n_out;
    if (r->ls && r->ls->regression) return sk_loss_mse(logits, r->yr, n, K, NULL);
    return sk_loss_ce(logits, r->y, n, K, r->ls ? r->ls->class_mask : NULL, NULL, NULL);
}

static void lerp(sk_tset *out, const sk_tset *a, const sk_tset *b, double lam)
{
    float wa = (float)(1.0 - lam), wb = (float)lam;
    for (int64_t k = 0; k < out->numel; k++)
        out->block[k] = wa * a->block[k] + wb * b->block[k];
}

static sk_status fetch(run *r, sk_batch_fn fn, void *ctx, int64_t epoch, int64_t step, int *n)
{
    *n = fn(ctx, epoch, step, r->x, r->y, r->yr);
    if (*n < 0) return sk_err_prefix(SK_EIO, "Sinkhorn re-basin: batch %lld: ", (long long)step);
    if (*n > r->cap)
        return sk_err(SK_EINVAL, "Sinkhorn re-basin: batch of %d samples (the model allows %d)", *n, r->cap);
    return SK_OK;
}

/* Hard cost of perms: exact weight cost, or the task loss over the fixed
 * evaluation batches (H = pi_hard(B) in r->Bp). The forwards are
 * train-mode (BatchNorm normalises with the batch's own statistics, which
 * are fixed with the batches) with dropout off, so the same perms always
 * get the same number. */
static sk_status hard_cost(run *r, int64_t **perms, double *out)
{
    sk_status st = sk_perm_apply(r->s, (const int64_t *const *)perms, r->B, r->Bp);
    if (st != SK_OK) return st;
    if (!r->data) {
        *out = sk_srb_weight_cost(r->o->cost, r->A, r->Bp, NULL);
        return SK_OK;
    }
    static const double lam_mid[] = {0.5}, lam_rnd[] = {0.25, 0.5, 0.75};
    const double *lams = r->o->cost == SK_SRB_MID ? lam_mid : lam_rnd;
    int nl = r->o->cost == SK_SRB_MID ? 1 : 3;
    double total = 0;
    int64_t count = 0;
    sk_model_set_dropout(r->m, 0);
    for (int64_t k = 0; r->o->eval_batches <= 0 || k < r->o->eval_batches; k++) {
        int n;
        if ((st = fetch(r, r->get_eval, r->eval_ctx, -1, k, &n)) != SK_OK) break;
        if (n == 0) break;
        for (int j = 0; j < nl; j++) {
            lerp(r->mix, r->A, r->Bp, lams[j]);
            const float *logits = sk_model_forward(r->m, r->mix, r->x, n, 1, NULL);
            total += batch_loss(r, logits, n) * n / nl;
        }
        count += n;
    }
    sk_model_set_dropout(r->m, 1);
    if (st != SK_OK) return st;
    if (count == 0) return sk_err(SK_EINVAL, "Sinkhorn re-basin: the batch provider gave no evaluation batch");
    *out = total / (double)count;
    if (!isfinite(*out)) return sk_err(SK_ENUMERIC, "Sinkhorn re-basin: hard cost is %g", *out);
    return SK_OK;
}

/* Every learnable entry of A equals that of Bp (for l2 and l1: a hard cost
 * of exactly 0). */
static int same_learnable(const sk_tset *A, const sk_tset *Bp)
{
    for (int i = 0; i < A->n; i++)
        for (int64_t k = 0; !A->t[i].is_buffer && k < A->t[i].numel; k++)
            if (A->t[i].data[k] != Bp->t[i].data[k]) return 0;
    return 1;
}

static void copy_perms(const sk_perm_spec *s, int64_t **dst, int64_t *const *src)
{
    for (int g = 0; g < s->n_groups; g++)
        memcpy(dst[g], src[g], (size_t)s->groups[g].size * sizeof(int64_t));
}

/* The arguments, before anything is allocated (r->data already set). */
static sk_status srb_check(const run *r)
{
    const sk_srb_opts *o = r->o;
    if (o->cost < SK_SRB_L2 || o->cost > SK_SRB_RND)
        return sk_err(SK_EINVAL, "sk_sinkhorn_rebasin: unknown cost %d", o->cost);
    if (r->A->n != r->s->n_params || !sk_tset_same_layout(r->A, r->B))
        return sk_err(SK_EINVAL, "sk_sinkhorn_rebasin: parameter layout does not match the spec");
    if (r->data && (!r->m || !r->get_batch))
        return sk_err(SK_EINVAL, "sk_sinkhorn_rebasin: the %s cost needs a model and training batches",
                      sk_srb_cost_name(o->cost));
    if (!r->data && o->steps < 1) return sk_err(SK_EINVAL, "sk_sinkhorn_rebasin: steps must be >= 1");
    if (r->data && o->epochs < 1) return sk_err(SK_EINVAL, "sk_sinkhorn_rebasin: epochs must be >= 1");
    return SK_OK;
}

/* The soft permutations (seeded stream 1; streams 2 and 3 draw the
 * interpolation weights and dropout), their AdamW optimiser, the step's
 * buffers, and the split of the data-free steps into rounds (at most `epochs`,
 * none of them empty). */
static sk_status srb_setup(run *r)
{
    const sk_srb_opts *o = r->o;
    sk_status st;
    sk_rng rinit;
    sk_rng_seed_stream(&rinit, o->seed, 1);
    sk_rng_seed_stream(&r->rlam, o->seed, 2);
    sk_rng_seed_stream(&r->rdrop, o->seed, 3);

    sk_sinkhorn_opts so = {o->tau, o->iterations, o->scale};
    if ((st = sk_softperm_new(r->s, o->init, &rinit, &so, &r->sp)) != SK_OK) return st;
    if (r->data) sk_softperm_set_hard_buffers(r->sp, 0); /* train-mode forwards never read them */
    r->X = sk_softperm_params(r->sp);
    r->dX = sk_softperm_grads(r->sp);
    sk_optim_opts oo;
    sk_optim_opts_init(&oo, SK_OPT_ADAMW);
    oo.lr = o->lr;
    oo.weight_decay = o->weight_decay;
    if (o->eps > 0) oo.eps = o->eps;
    if ((st = sk_optim_new(&oo, r->X, &r->opt)) != SK_OK) return st;
    r->Bp = sk_tset_like(r->B);
    r->mix = sk_tset_like(r->B);
    r->g = sk_tset_like(r->B);
    r->cur = sk_perms_identity(r->s);
    if (!r->Bp || !r->mix || !r->g || !r->cur) return SK_ENOMEM;
    if (r->data) {
        const sk_model_spec *ms = sk_model_get_spec(r->m);
        r->cap = sk_model_max_batch(r->m);
        r->x = sk_alloc_n((size_t)r->cap * (size_t)(ms->in_c * ms->in_h * ms->in_w), sizeof(float));
        r->y = sk_alloc_n((size_t)r->cap, sizeof(int32_t));
        r->yr = sk_alloc_n((size_t)r->cap * (size_t)ms->n_out, sizeof(float));
        if (!r->x || !r->y || !r->yr) return SK_ENOMEM;
    }
    r->rounds = o->epochs < 1 ? 1 : o->epochs;
    r->per_round = r->data ? 0 : ((int64_t)o->steps + r->rounds - 1) / r->rounds;
    if (!r->data && r->per_round * (r->rounds - 1) >= o->steps)
        r->rounds = (int)((o->steps + r->per_round - 1) / r->per_round);
    r->R.soft_cost = sk_alloc_n((size_t)r->rounds, sizeof(double));
    r->R.hard_cost = sk_alloc_n((size_t)r->rounds, sizeof(double));
    if (!r->R.soft_cost || !r->R.hard_cost) return SK_ENOMEM;
    return SK_OK;
}

/* d cost / d Bp of one step into r->g, and the step's cost *c: the batch
 * loss of the model interpolated at lam (data costs; the gradient through
 * mix = (1 - lam) A + lam Bp is lam times d loss / d mix), or the weight cost
 * (data-free). */
static sk_status srb_cost_grad(run *r, int e, int64_t step, int n, double lam, double *c)
{
    if (!r->data) {
        *c = sk_srb_weight_cost(r->o->cost, r->A, r->Bp, r->g);
        return SK_OK;
    }
    lerp(r->mix, r->A, r->Bp, lam);
    sk_status st = sk_train_grad(r->m, r->mix, r->g, r->x, r->y, r->yr, n, r->ls, &r->rdrop, c, NULL);
    if (st != SK_OK) return sk_err_prefix(st, "Sinkhorn re-basin epoch %d step %lld: ", e + 1, (long long)step);
    float fl = (float)lam;
    for (int64_t k = 0; k < r->g->numel; k++)
        r->g->block[k] *= fl;
    return SK_OK;
}

/* One data epoch (every training batch) or one data-free round (per_round
 * steps, fewer in the last): soft forward, cost gradient, backward, AdamW
 * step. *soft_mean: the mean soft cost per sample (data) or per step (data-free). */
static sk_status srb_round(run *r, int e, double *soft_mean)
{
    const sk_srb_opts *o = r->o;
    sk_status st;
    double soft = 0;
    int64_t nsteps = 0, nsamples = 0;
    for (int64_t step = 0; r->data || step < r->per_round; step++) {
        if (!r->data && (int64_t)e * r->per_round + step >= o->steps) break;
        int n = 0;
        double lam = 1.0, c = 0;
        if (r->data) {
            if ((st = fetch(r, r->get_batch, r->ctx, e, step, &n)) != SK_OK) return st;
            if (n == 0) break;
            lam = o->cost == SK_SRB_MID ? 0.5 : sk_rng_uniform(&r->rlam);
        }
        if ((st = sk_softperm_forward(r->sp)) != SK_OK) return st;
        if ((st = sk_softperm_apply(r->sp, r->B, r->Bp)) != SK_OK) return st;
        double t0 = sk_now();
        if ((st = srb_cost_grad(r, e, step, n, lam, &c)) != SK_OK) return st;
        if (r->data) {
            soft += c * n;
            nsamples += n;
        } else {
            soft += c;
            nsamples++;
        }
        r->R.t_model += sk_now() - t0;
        sk_softperm_zero_grad(r->sp);
        if ((st = sk_softperm_backward(r->sp, r->B, r->g, NULL)) != SK_OK) return st;
        t0 = sk_now();
        if (isnan(sk_optim_step(r->opt, r->X, r->dX))) return SK_EINVAL;
        r->R.t_optim += sk_now() - t0;
        nsteps++;
    }
    if (nsteps == 0) return sk_err(SK_EINVAL, "Sinkhorn re-basin: epoch %d had no training batch", e + 1);
    r->R.n_steps += nsteps;
    *soft_mean = soft / (double)nsamples;
    return SK_OK;
}

/* Project the soft permutations to hard ones (r->cur), take their hard cost
 * *h, track the best, and keep them in perms if they are selected: select
 * last: always (the last evaluation wins); select best: if they are the
 * first (epoch 0: the initial projection) or better than the best so far. */
static sk_status srb_evaluate(run *r, int epoch, int64_t **perms, double *h)
{
    sk_status st;
    double t0 = sk_now();
    if ((st = sk_softperm_hard(r->sp, r->cur)) != SK_OK) return st;
    if ((st = hard_cost(r, r->cur, h)) != SK_OK) return st;
    r->R.t_eval += sk_now() - t0;
    if (sk_select_track(r->o->select, epoch, *h, &r->R.best_hard_cost, &r->R.best_epoch, &r->R.selected_hard_cost,
                        &r->R.selected_epoch))
        copy_perms(r->s, perms, r->cur);
    return SK_OK;
}

/* The softperm's timings into the result, the result to res (only on
 * success), and everything of the run freed. */
static void srb_finish(run *r, sk_status st, double t_start, sk_srb_result *res)
{
    if (r->sp) {
        double t[4];
        sk_softperm_times(r->sp, t);
        r->R.t_sinkhorn_fwd = t[0];
        r->R.t_sinkhorn_bwd = t[1];
        r->R.t_apply = t[2];
        r->R.t_apply_bwd = t[3];
        r->R.fallbacks = sk_softperm_fallbacks(r->sp);
    }
    r->R.seconds = sk_now() - t_start;
    if (res && st == SK_OK)
        *res = r->R;
    else
        sk_srb_result_free(&r->R);
    if (r->cur) sk_perms_free(r->s, r->cur);
    sk_tset_free(r->Bp);
    sk_tset_free(r->mix);
    sk_tset_free(r->g);
    sk_free(r->x);
    sk_free(r->y);
    sk_free(r->yr);
    sk_optim_free(r->opt);
    sk_softperm_free(r->sp);
}

sk_status sk_sinkhorn_rebasin(const sk_perm_spec *s, sk_model *m, const sk_tset *A, const sk_tset *B,
                              const sk_srb_opts *o, sk_batch_fn get_batch, void *ctx, sk_batch_fn get_eval,
                              void *eval_ctx, const sk_loss_spec *ls, void (*on_epoch)(void *, int, double, double),
                              void *cb_ctx, int64_t **perms, sk_srb_result *res)
{
    double t_start = sk_now();
    run r;
    memset(&r, 0, sizeof r);
    if (res) memset(res, 0, sizeof *res);
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
    r.data = o->cost == SK_SRB_MID || o->cost == SK_SRB_RND;
    sk_status st = srb_check(&r);
    if (st != SK_OK) return st;

    if ((st = srb_setup(&r)) != SK_OK) goto cleanup;
    if ((st = srb_evaluate(&r, 0, perms, &r.R.initial_hard_cost)) != SK_OK) goto cleanup;
    for (int e = 0; e < r.rounds; e++) {
        double soft = 0, h = 0;
        if ((st = srb_round(&r, e, &soft)) != SK_OK) goto cleanup;
        if ((st = srb_evaluate(&r, e + 1, perms, &h)) != SK_OK) goto cleanup;
        r.R.soft_cost[e] = soft;
        r.R.hard_cost[e] = h;
        r.R.n_epochs = e + 1;
        if (on_epoch) on_epoch(cb_ctx, e + 1, soft, h);
        /* Data-free costs: pi_hard(B) == A (a recovered planted permutation)
         * is the cost's minimum and cannot improve, so stop. */
        if (!r.data && same_learnable(r.A, r.Bp)) break;
    }

cleanup:
    srb_finish(&r, st, t_start, res);
    return st;
}
