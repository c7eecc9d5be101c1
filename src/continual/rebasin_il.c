/* rebasin_il.c - incremental learning via re-basin (doc/algorithms.md §10, after
 * the authors' released code). Task 1 is trained normally (methods.c); for
 * each later task t, with theta the current model (fixed during the task):
 *
 *   P = Sinkhorn(X) per permutation group (X: I + 0.1 N(0,1), AdamW lr eta,
 *       weight decay 0.01), delta ~ N(0, s^2) (SGD lr gamma, weight decay
 *       beta, gradients clamped to +-clip), both minimising the task loss of
 *           theta_mid = 1/2 theta + 1/2 pi_P(theta) + delta
 *       on minibatches of B current examples plus min(B, |M|) memory
 *       examples, the loss the plain batch mean (continual.rebasin.loss
 *       mean, as the published Rotated-MNIST script, whose experiences all
 *       have task id 0) or the sum over the tasks present of each task's
 *       mean (task_mean);
 *   after the task's epochs, with the hard permutation p = LAP(X):
 *       theta <- alpha theta + (1 - alpha) pi_p(theta) + delta.
 *
 * Gradients: d loss / d delta = g_mid; d loss / d pi_P(theta) = g_mid / 2,
 * which sk_softperm_backward carries to X. Buffers (BatchNorm running
 * statistics) are mixed without delta. */
#include "continual/method.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "rebasin/softperm.h"
#include "rebasin/spec.h"

#define STREAM_REBASIN 0x7262696c00ULL

sk_status sk_cl_rebasin_task(sk_cl_trainer *tr, int t, sk_progress *pg, int64_t *done, double *mean_loss)
{
    const sk_cl_opts *o = tr->o;
    sk_model *m = tr->m;
    sk_tset *theta = sk_model_params(m);
    sk_status st = SK_OK;
    sk_perm_spec *spec = NULL;
    sk_softperm *sp = NULL;
    sk_optim *xopt = NULL, *dopt = NULL;
    sk_tset *pth = NULL, *mid = NULL, *delta = NULL, *gmid = NULL, *dpi = NULL;
    int64_t **perms = NULL;
    double lsum = 0.0;
    int64_t lcount = 0;
    sk_rng r;
    sk_rng_seed_stream(&r, o->seed, STREAM_REBASIN + (uint64_t)t);

    if ((st = sk_perm_spec_build(sk_model_get_spec(m), theta, m, &spec)) != SK_OK) goto cleanup;
    sk_sinkhorn_opts so = sk_sinkhorn_opts_default();
    so.tau = o->rebasin.tau;
    so.iterations = o->rebasin.iterations;
    if ((st = sk_softperm_new(spec, SK_SOFTPERM_INIT_NOISY, &r, &so, &sp)) != SK_OK) goto cleanup;
    sk_softperm_set_hard_buffers(sp, 0); /* train-mode forwards never read running statistics */
    pth = sk_tset_like(theta);
    mid = sk_tset_like(theta);
    delta = sk_tset_like(theta);
    gmid = sk_tset_like(theta);
    dpi = sk_tset_like(theta);
    if (!pth || !mid || !delta || !gmid || !dpi) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int i = 0; i < delta->n; i++) {
        if (delta->t[i].is_buffer) continue;
        for (int64_t j = 0; j < delta->t[i].numel; j++)
            delta->t[i].data[j] = (float)(o->rebasin.delta_init_std * sk_rng_normal(&r));
    }
    {
        sk_optim_opts xo, dop;
        sk_optim_opts_init(&xo, SK_OPT_ADAMW); /* weight decay 0.01, betas (0.9, 0.999) */
        xo.lr = o->rebasin.lr;
        sk_optim_opts_init(&dop, SK_OPT_SGD);
        dop.lr = o->rebasin.delta_lr;
        dop.momentum = 0.0;
        dop.weight_decay = o->rebasin.delta_weight_decay;
        dop.clip_value = o->rebasin.delta_clip;
        if ((st = sk_optim_new(&xo, sk_softperm_params(sp), &xopt)) != SK_OK) goto cleanup;
        if ((st = sk_optim_new(&dop, delta, &dopt)) != SK_OK) goto cleanup;
    }

    const int B = o->batch_size;
    for (int e = 0; e < o->epochs; e++) {
        int64_t n = sk_cl_task_order(tr, t, e);
        for (int64_t pos = 0; pos < n; pos += B) {
            int cur = n - pos < B ? (int)(n - pos) : B;
            for (int k = 0; k < cur; k++) {
                tr->task[k] = t;
                tr->idx[k] = tr->order[pos + k];
            }
            int nm = sk_cl_memory_batch(tr);
            if (nm > 0) sk_cl_memory_draw(tr, cur, nm);
            /* theta_mid = theta/2 + pi_P(theta)/2 + delta */
            if ((st = sk_softperm_forward(sp)) != SK_OK) goto cleanup;
            if ((st = sk_softperm_apply(sp, theta, pth)) != SK_OK) goto cleanup;
            for (int i = 0; i < mid->n; i++) {
                const float *a = theta->t[i].data, *b = pth->t[i].data, *d = delta->t[i].data;
                float *c = mid->t[i].data;
                int buf = mid->t[i].is_buffer;
                for (int64_t j = 0; j < mid->t[i].numel; j++)
                    c[j] = 0.5f * a[j] + 0.5f * b[j] + (buf ? 0.0f : d[j]);
            }
            sk_cl_bench_fill(tr->b, 0, tr->task, tr->idx, cur + nm, &tr->rng, tr->x, tr->y);
            const float *z = sk_model_forward(m, mid, tr->x, cur + nm, 1, &tr->rng);
            float *dz = sk_model_dlogits(m);
            double l = sk_cl_loss(z, tr->y, tr->task, cur + nm, tr->b->K, tr->b->mask,
                                  o->rebasin.loss == SK_CL_REBASIN_LOSS_TASK_MEAN, dz, NULL);
            if (!isfinite(l)) {
                st = sk_err(SK_ENUMERIC, "rebasin: loss %g\nHINT: lower continual.rebasin.lr or delta_lr", l);
                goto cleanup;
            }
            lsum += l;
            lcount++;
            sk_model_zero_grads(m, gmid);
            sk_model_backward(m, dz, gmid, NULL);
            for (int64_t j = 0; j < gmid->numel; j++)
                dpi->block[j] = 0.5f * gmid->block[j];
            sk_softperm_zero_grad(sp);
            if ((st = sk_softperm_backward(sp, theta, dpi, NULL)) != SK_OK) goto cleanup;
            if (!isfinite(sk_optim_step(xopt, sk_softperm_params(sp), sk_softperm_grads(sp))) ||
                !isfinite(sk_optim_step(dopt, delta, gmid))) {
                st = SK_ENUMERIC;
                goto cleanup;
            }
            (*done)++;
            sk_progress_update(pg, *done, NULL);
        }
    }

    /* theta <- alpha theta + (1 - alpha) pi_hard(theta) + delta */
    perms = sk_perms_identity(spec);
    if (!perms) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    if ((st = sk_softperm_hard(sp, perms)) != SK_OK) goto cleanup;
    if ((st = sk_perm_apply(spec, (const int64_t *const *)perms, theta, pth)) != SK_OK) goto cleanup;
    {
        const float al = (float)o->rebasin.alpha;
        for (int i = 0; i < theta->n; i++) {
            float *a = theta->t[i].data;
            const float *b = pth->t[i].data, *d = delta->t[i].data;
            int buf = theta->t[i].is_buffer;
            for (int64_t j = 0; j < theta->t[i].numel; j++)
                a[j] = al * a[j] + (1.0f - al) * b[j] + (buf ? 0.0f : d[j]);
        }
    }
cleanup:
    *mean_loss = lcount ? lsum / (double)lcount : NAN;
    if (perms) sk_perms_free(spec, perms);
    sk_optim_free(xopt);
    sk_optim_free(dopt);
    sk_tset_free(pth);
    sk_tset_free(mid);
    sk_tset_free(delta);
    sk_tset_free(gmid);
    sk_tset_free(dpi);
    sk_softperm_free(sp);
    sk_perm_spec_free(spec);
    return st;
}
