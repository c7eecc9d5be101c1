#include "lmc/interp.h"

#include "core/mem.h"
#include "lmc/barrier.h"

const char *const sk_bnreset_names[] = {
    [SK_BNRESET_AUTO] = "auto", [SK_BNRESET_RECOMPUTE] = "recompute", [SK_BNRESET_NONE] = "none"};

void sk_lerp(sk_tset *out, const sk_tset *a, const sk_tset *b, double lambda)
{
    float wa = (float)(1.0 - lambda), wb = (float)lambda;
    for (int64_t i = 0; i < a->numel; i++)
        out->block[i] = wa * a->block[i] + wb * b->block[i];
}

sk_status sk_lmc_curve(sk_model *m, const sk_tset *a, const sk_tset *b, const sk_lmc_opts *o, double *lambda,
                       double *loss, double *acc)
{
    sk_tset *mix = sk_tset_like(a);
    sk_status st = SK_OK;
    if (!mix) return SK_ENOMEM;
    sk_lambda_grid(lambda, o->points);
    for (int i = 0; i < o->points; i++) {
        sk_lerp(mix, a, b, lambda[i]);
        if (o->bn_reset) {
            st = sk_model_bn_reset(m, mix, o->bn_batches, o->bn_ctx, o->bn_n_batches);
            if (st != SK_OK) break;
        }
        if (o->repair_a && (st = sk_repair_apply(m, mix, o->repair_a, o->repair_b, lambda[i], o->repair_data)) != SK_OK)
            break;
        for (int s = 0; s < o->n_splits; s++) {
            st = sk_model_eval(m, mix, o->eval[s], o->eval_ctx[s], &o->loss, &loss[s * o->points + i],
                               &acc[s * o->points + i]);
            if (st != SK_OK) break;
        }
        if (st != SK_OK) break;
        if (o->on_point) o->on_point(o->point_ctx, i + 1, o->points);
    }
    sk_tset_free(mix);
    return st;
}
