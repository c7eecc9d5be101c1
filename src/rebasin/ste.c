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
    o->eval_batches = 8;
}

typedef struct {
    sk_model *m;
    sk_batch_fn get_batch, get_eval; /* training batches; the selection's fixed batches */
    void *ctx, *eval_ctx;
    const sk_loss_spec *ls;
    float *x, *yr;
    int32_t *y;
    int cap;
} ste_io;

static sk_status fetch(ste_io *io, sk_batch_fn fn, void *ctx, int64_t epoch, int64_t step, int *n)
{
    *n = fn(ctx, epoch, step, io->x, io->y, io->yr);
    if (*n < 0) return sk_err_prefix(SK_EIO, "STE matching: batch %lld: ", (long long)step);
    if (*n > io->cap) return sk_err(SK_EINVAL, "STE matching: batch of %d samples (the model allows %d)", *n, io->cap);
    return SK_OK;
}

/* Midpoint loss of mix (already (A + pi(B)) / 2) over the fixed evaluation
 * batches: train-mode forwards (BatchNorm batch statistics) with dropout
 * off, so the same perm always gets the same number. */
static sk_status eval_mid(ste_io *io, const sk_tset *mix, int eval_batches, double *out)
{
    sk_status st = SK_OK;
    double total = 0;
    int64_t count = 0;
    int K = sk_model_get_spec(io->m)->n_out;
    sk_model_set_dropout(io->m, 0);
    for (int64_t k = 0; eval_batches <= 0 || k < eval_batches; k++) {
        int n;
        if ((st = fetch(io, io->get_eval, io->eval_ctx, -1, k, &n)) != SK_OK) break;
        if (n == 0) break;
        const float *lg = sk_model_forward(io->m, mix, io->x, n, 1, NULL);
        double l = (io->ls && io->ls->regression)
                       ? sk_loss_mse(lg, io->yr, n, K, NULL)
                       : sk_loss_ce(lg, io->y, n, K, io->ls ? io->ls->class_mask : NULL, NULL, NULL);
        total += l * n;
        count += n;
    }
    sk_model_set_dropout(io->m, 1);
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

sk_status sk_ste_matching(const sk_perm_spec *s, sk_model *m, const sk_tset *A, const sk_tset *B, const sk_ste_opts *o,
                          sk_batch_fn get_batch, void *ctx, sk_batch_fn get_eval, void *eval_ctx,
                          const sk_loss_spec *ls, void (*on_epoch)(void *, int, double), void *cb_ctx, int64_t **perms,
                          double *best_loss)
{
    sk_status st = SK_OK;
    sk_tset *theta = NULL, *Bp = NULL, *mix = NULL, *g = NULL;
    sk_optim *opt = NULL;
    int64_t **cur = NULL;
    sk_rng rng;
    ste_io io;
    memset(&io, 0, sizeof io);
    if (A->n != s->n_params || !sk_tset_same_layout(A, B))
        return sk_err(SK_EINVAL, "sk_ste_matching: parameter layout does not match the spec");
    if (!m || !get_batch) return sk_err(SK_EINVAL, "sk_ste_matching: needs a model and training batches");
    if (o->epochs < 0 || o->wm_max_iter < 1)
        return sk_err(SK_EINVAL, "sk_ste_matching: epochs must be >= 0 and wm_max_iter >= 1");
    sk_rng_seed_stream(&rng, o->seed, 4);
    const sk_model_spec *ms = sk_model_get_spec(m);
    io.m = m;
    io.get_batch = get_batch;
    io.ctx = ctx;
    io.get_eval = get_eval ? get_eval : get_batch;
    io.eval_ctx = get_eval ? eval_ctx : ctx;
    io.ls = ls;
    io.cap = sk_model_max_batch(m);
    io.x = sk_alloc_n((size_t)io.cap * (size_t)(ms->in_c * ms->in_h * ms->in_w), sizeof(float));
    io.y = sk_alloc_n((size_t)io.cap, sizeof(int32_t));
    io.yr = sk_alloc_n((size_t)io.cap * (size_t)ms->n_out, sizeof(float));
    theta = sk_tset_clone(A);
    Bp = sk_tset_like(B);
    mix = sk_tset_like(B);
    g = sk_tset_like(B);
    cur = sk_perms_identity(s);
    if (!io.x || !io.y || !io.yr || !theta || !Bp || !mix || !g || !cur) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    sk_optim_opts oo;
    sk_optim_opts_init(&oo, SK_OPT_SGD);
    oo.lr = o->lr;
    oo.momentum = o->momentum;
    if ((st = sk_optim_new(&oo, theta, &opt)) != SK_OK) goto cleanup;
    sk_wm_opts wo = {o->wm_max_iter, o->seed};
    sk_wm_result wr;

    /* Epoch 0: weight matching of theta~ = A. */
    double best;
    if ((st = sk_weight_matching(s, theta, B, &wo, cur, &wr)) != SK_OK) goto cleanup;
    sk_wm_result_free(&wr);
    if ((st = sk_perm_apply(s, (const int64_t *const *)cur, B, Bp)) != SK_OK) goto cleanup;
    midpoint(mix, A, Bp);
    if ((st = eval_mid(&io, mix, o->eval_batches, &best)) != SK_OK) goto cleanup;
    for (int q = 0; q < s->n_groups; q++)
        memcpy(perms[q], cur[q], (size_t)s->groups[q].size * sizeof(int64_t));

    for (int e = 0; e < o->epochs; e++) {
        int64_t nsteps = 0;
        for (int64_t step = 0;; step++) {
            int n;
            double loss;
            if ((st = fetch(&io, get_batch, ctx, e, step, &n)) != SK_OK) goto cleanup;
            if (n == 0) break;
            if ((st = sk_weight_matching(s, theta, B, &wo, cur, &wr)) != SK_OK) goto cleanup;
            sk_wm_result_free(&wr);
            if ((st = sk_perm_apply(s, (const int64_t *const *)cur, B, Bp)) != SK_OK) goto cleanup;
            midpoint(mix, A, Bp);
            st = sk_train_grad(m, mix, g, io.x, io.y, io.yr, n, ls, &rng, &loss, NULL);
            if (st != SK_OK) {
                sk_err_prefix(st, "STE matching epoch %d step %lld: ", e + 1, (long long)step);
                goto cleanup;
            }
            /* Straight through: d loss / d theta~ = d loss / d theta_ste = g / 2. */
            for (int64_t k = 0; k < g->numel; k++)
                g->block[k] *= 0.5f;
            if (isnan(sk_optim_step(opt, theta, g))) {
                st = SK_EINVAL;
                goto cleanup;
            }
            nsteps++;
        }
        if (nsteps == 0) {
            st = sk_err(SK_EINVAL, "STE matching: epoch %d had no training batch", e + 1);
            goto cleanup;
        }
        /* The perm of theta~ after the epoch. */
        if ((st = sk_weight_matching(s, theta, B, &wo, cur, &wr)) != SK_OK) goto cleanup;
        sk_wm_result_free(&wr);
        if ((st = sk_perm_apply(s, (const int64_t *const *)cur, B, Bp)) != SK_OK) goto cleanup;
        midpoint(mix, A, Bp);
        double l;
        if ((st = eval_mid(&io, mix, o->eval_batches, &l)) != SK_OK) goto cleanup;
        if (l < best) {
            best = l;
            for (int q = 0; q < s->n_groups; q++)
                memcpy(perms[q], cur[q], (size_t)s->groups[q].size * sizeof(int64_t));
        }
        if (on_epoch) on_epoch(cb_ctx, e + 1, l);
    }
    if (best_loss) *best_loss = best;

cleanup:
    if (cur) sk_perms_free(s, cur);
    sk_optim_free(opt);
    sk_tset_free(theta);
    sk_tset_free(Bp);
    sk_tset_free(mix);
    sk_tset_free(g);
    sk_free(io.x);
    sk_free(io.y);
    sk_free(io.yr);
    return st;
}
