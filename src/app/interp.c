/* interp.c - the linear-mode-connectivity stage: for every method, loss and
 * accuracy along lerp(A, pi(B)) on each split, and the barriers. */
#include <string.h>

#include "app/options.h"
#include "app/provider.h"
#include "app/state.h"
#include "core/mem.h"
#include "core/timer.h"
#include "lmc/interp.h"

typedef struct {
    sk_progress *bar;
} point_ctx;

static void on_point(void *ctx, int point, int points)
{
    point_ctx *p = ctx;
    (void)points;
    sk_progress_update(p->bar, point, NULL);
}

/* One method's curve on every split, and its barriers. */
static sk_status curve(sk_run *r, sk_pipe_state *ps, sk_method_result *me, sk_lmc_opts *o)
{
    const sk_config *c = &r->cfg;
    int P = c->interpolation.points, S = c->interpolation.n_splits;
    me->lambda = sk_alloc_n((size_t)P, sizeof(double));
    me->loss = sk_alloc_n((size_t)(P * S), sizeof(double));
    me->acc = sk_alloc_n((size_t)(P * S), sizeof(double));
    if (!me->lambda || !me->loss || !me->acc) return SK_ENOMEM;
    char label[64];
    snprintf(label, sizeof label, "lmc %s", me->name);
    point_ctx pc = {sk_progress_new(r->opts->progress, label, P)};
    o->on_point = on_point;
    o->point_ctx = &pc;
    sk_status st = sk_lmc_curve(ps->m, ps->ep[0].theta, me->aligned, o, me->lambda, me->loss, me->acc);
    sk_progress_done(pc.bar, NULL);
    sk_progress_free(pc.bar);
    if (st != SK_OK) return st;
    for (int s = 0; s < S; s++) {
        sk_barrier_compute(me->lambda, me->loss + s * P, P, +1, &me->bl[s]);
        if (!ps->loss.regression) sk_barrier_compute(me->lambda, me->acc + s * P, P, -1, &me->ba[s]);
    }
    sk_log_file(r->log, "lmc %s: %d points, barrier %s %.4f", me->name, P, sk_split_name(c->interpolation.splits[0]),
                me->bl[0].barrier);
    return SK_OK;
}

/* ---- interpolation.repair: a +repair curve per method -------------------------- */

static void repair_json(sk_json *j, const sk_method_result *me)
{
    sk_json_obj_begin(j, "repair");
    sk_json_str(j, "of", me->repair.of);
    sk_json_int(j, "points", me->repair.points);
    sk_json_int(j, "examples", me->repair.examples);
    sk_json_num(j, "seconds", me->repair.seconds);
    sk_json_obj_end(j);
}

/* The +repair curves' kind: none of an alignment's own results. */
static const sk_align_kind repair_kind = {"REPAIR", 0, NULL, NULL, repair_json, NULL, NULL, NULL};

/* For each of the first n methods, a curve of the same path with REPAIR at
 * every lambda (lmc/repair.h), as the method <name>+repair. */
static sk_status repair_curves(sk_run *r, sk_pipe_state *ps, int n, sk_lmc_opts *o)
{
    const sk_config *c = &r->cfg;
    sk_provider fixed;
    sk_repair_data d;
    sk_repair_stats sa, sb;
    memset(&sa, 0, sizeof sa);
    memset(&sb, 0, sizeof sb);
    memset(&d, 0, sizeof d);
    sk_status st = sk_provider_init_fixed(&fixed, &ps->ds, &ps->ds.train, c->train.eval_batch_size, (uint64_t)c->seed);
    if (st != SK_OK) return st;
    st = sk_repair_data_load(ps->m, sk_provider_next, &fixed, c->interpolation.repair_batches, &d);
    sk_provider_free(&fixed);
    if (st == SK_OK) st = sk_repair_stats_compute(ps->m, ps->ep[0].theta, &d, &sa);
    for (int k = 0; k < n && st == SK_OK; k++) {
        const sk_method_result *base = &ps->meth[k];
        sk_method_result *me = &ps->meth[ps->n_methods++];
        double t0 = sk_now();
        memset(me, 0, sizeof *me);
        me->kind = &repair_kind;
        snprintf(me->name, sizeof me->name, "%.40s+repair", base->name);
        snprintf(me->label, sizeof me->label, "%.38s + REPAIR", base->label);
        me->aligned = base->aligned; /* borrowed (perms NULL: not freed) */
        me->seconds = base->seconds;
        me->units = base->units;
        me->matched = base->matched;
        me->repair.of = base->name;
        me->repair.points = sa.n_points;
        me->repair.examples = d.n;
        sk_repair_stats_free(&sb);
        if ((st = sk_repair_stats_compute(ps->m, me->aligned, &d, &sb)) != SK_OK) break;
        o->repair_a = &sa;
        o->repair_b = &sb;
        o->repair_data = &d;
        st = curve(r, ps, me, o);
        o->repair_a = o->repair_b = NULL;
        o->repair_data = NULL;
        me->repair.seconds = sk_now() - t0;
    }
    sk_repair_stats_free(&sa);
    sk_repair_stats_free(&sb);
    sk_repair_data_free(&d);
    return st;
}

sk_status sk_interp_all(sk_run *r, sk_pipe_state *ps)
{
    const sk_config *c = &r->cfg;
    int S = c->interpolation.n_splits;
    sk_provider prov[2], bn;
    sk_status st = SK_OK;
    double t0 = sk_now();
    memset(prov, 0, sizeof prov);
    memset(&bn, 0, sizeof bn);
    for (int s = 0; s < S && st == SK_OK; s++)
        st = sk_provider_init(&prov[s], &ps->ds,
                              c->interpolation.splits[s] == SK_SPLIT_TRAIN ? &ps->ds.train : &ps->ds.test,
                              sk_model_max_batch(ps->m), 0, 0, (uint64_t)c->seed);
    /* BatchNorm re-estimation: all training examples (reshuffled at every
     * lambda), or interpolation.bn_batches batches of a fixed seeded subset */
    if (st == SK_OK)
        st = c->interpolation.bn_batches > 0
                 ? sk_provider_init_fixed(&bn, &ps->ds, &ps->ds.train, c->train.batch_size, (uint64_t)c->seed)
                 : sk_provider_init(&bn, &ps->ds, &ps->ds.train, c->train.batch_size, 1, 0, (uint64_t)c->seed);
    sk_lmc_opts o;
    memset(&o, 0, sizeof o);
    o.points = c->interpolation.points;
    o.bn_reset = sk_options_bn_reset(c, sk_model_has_batchnorm(ps->m));
    o.bn_batches = sk_provider_next;
    o.bn_ctx = &bn;
    o.bn_n_batches = c->interpolation.bn_batches;
    o.n_splits = S;
    for (int s = 0; s < S; s++) {
        o.eval[s] = sk_provider_next;
        o.eval_ctx[s] = &prov[s];
    }
    o.loss = ps->loss;
    int n = ps->n_methods;
    for (int k = 0; k < n && st == SK_OK; k++)
        st = curve(r, ps, &ps->meth[k], &o);
    if (st == SK_OK && c->interpolation.repair == SK_REPAIR_REPAIR) st = repair_curves(r, ps, n, &o);
    for (int s = 0; s < S; s++)
        sk_provider_free(&prov[s]);
    sk_provider_free(&bn);
    sk_run_stage(r, "lmc", sk_now() - t0);
    return st;
}
