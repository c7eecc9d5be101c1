/* align.c - the alignment methods of a run, as one table: each kind knows
 * how to run, what to log, what to add to metrics.json and to sweep.csv.
 * A new method is one entry here (with its value in rebasin/method.h) and
 * its own file in src/rebasin (doc/architecture.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/options.h"
#include "app/provider.h"
#include "app/state.h"
#include "core/mem.h"
#include "core/names.h"
#include "core/timer.h"
#include "io/atomic.h"
#include "io/h5w.h"
#include "rebasin/am.h"
#include "rebasin/method.h"
#include "rebasin/srb.h"
#include "rebasin/ste.h"
#include "rebasin/wm.h"

/* ---- weight matching ---------------------------------------------------------- */

static sk_status wm_run(sk_run *r, sk_pipe_state *ps, sk_method_result *me)
{
    sk_wm_opts o;
    sk_wm_result res;
    sk_options_wm(&r->cfg, &o);
    sk_status st = sk_weight_matching(ps->spec, ps->ep[0].theta, ps->ep[1].theta, &o, me->perms, &res);
    if (st != SK_OK) return st;
    me->res.wm.passes = res.passes;
    me->res.wm.objective = res.passes ? res.objective[res.passes - 1] : 0;
    sk_wm_result_free(&res);
    return SK_OK;
}

static void wm_log(sk_run *r, const sk_method_result *me)
{
    sk_log_err(r->log, "weight matching: %d passes, %.3f s", me->res.wm.passes, me->seconds);
}

static void wm_json(sk_json *j, const sk_method_result *me)
{
    if (!me->res.wm.passes) return;
    sk_json_int(j, "passes", me->res.wm.passes);
    sk_json_num(j, "objective", me->res.wm.objective);
}

/* ---- activation matching ------------------------------------------------------- */

static sk_status am_run(sk_run *r, sk_pipe_state *ps, sk_method_result *me)
{
    const sk_config *c = &r->cfg;
    sk_provider p;
    sk_am_opts o;
    sk_status st;
    if (!ps->m2 && (st = sk_model_new(&ps->ms, sk_model_max_batch(ps->m), &ps->m2)) != SK_OK) return st;
    sk_options_am(c, &o);
    st = sk_provider_init(&p, &ps->ds, &ps->ds.train, c->activation_matching.batch_size, 0, 0, (uint64_t)c->seed);
    if (st == SK_OK && sk_progress_bars(r->opts->progress)) /* one pass over the examples used */
        p.bar = sk_progress_new(r->opts->progress, me->name,
                                o.samples > 0 && o.samples < ps->ds.train.n ? o.samples : ps->ds.train.n);
    if (st == SK_OK)
        st = sk_activation_matching(ps->spec, ps->m, ps->m2, ps->ep[0].theta, ps->ep[1].theta, &o, sk_provider_next, &p,
                                    me->perms, &me->res.am.samples);
    sk_progress_done(p.bar, NULL);
    sk_progress_free(p.bar);
    p.bar = NULL;
    sk_provider_free(&p);
    return st;
}

static void am_log(sk_run *r, const sk_method_result *me)
{
    sk_log_err(r->log, "activation matching: %lld examples, %.3f s", (long long)me->res.am.samples, me->seconds);
}

static void am_json(sk_json *j, const sk_method_result *me)
{
    if (me->res.am.samples) sk_json_int(j, "samples", me->res.am.samples);
}

/* ---- per-epoch progress of the learned methods ------------------------------------ */

/* The epochs of a learned method: a bar (with ETA) over epochs x examples,
 * advanced by its training provider batch by batch (data-free costs: by
 * round), and one line per epoch. */
typedef struct {
    sk_run *r;
    const char *name;
    sk_progress *bar;  /* NULL: no bars (one line per epoch on stderr) */
    sk_provider *prov; /* its training batches */
    int64_t per_epoch; /* bar units per epoch */
} epoch_cb;

static void epoch_start(epoch_cb *cb, sk_run *r, const char *name, sk_provider *prov, int epochs, int64_t per_epoch)
{
    memset(cb, 0, sizeof *cb);
    cb->r = r;
    cb->name = name;
    cb->prov = prov;
    cb->per_epoch = per_epoch;
    if (sk_progress_bars(r->opts->progress)) {
        cb->bar = sk_progress_new(r->opts->progress, name, (int64_t)epochs * per_epoch);
        if (per_epoch > 1) prov->bar = cb->bar;
    }
}

static void epoch_end(epoch_cb *cb)
{
    if (cb->prov) cb->prov->bar = NULL;
    sk_progress_free(cb->bar);
    cb->bar = NULL;
}

static void epoch_line(epoch_cb *cb, int epoch, const char *line)
{
    if (cb->bar) {
        sk_progress_update(cb->bar, (int64_t)epoch * cb->per_epoch, NULL);
        sk_progress_done(cb->bar, line);
        cb->prov->bar_base = (int64_t)epoch * cb->per_epoch;
    } else if (cb->r->opts->progress != SK_PROGRESS_NEVER) {
        fprintf(stderr, "%s\n", line);
    }
    sk_log_file(cb->r->log, "%s", line);
}

static void on_srb_epoch(void *ctx, int epoch, double soft, double hard)
{
    epoch_cb *cb = ctx;
    char line[256];
    snprintf(line, sizeof line, "%s epoch %d: soft cost %.6g, hard cost %.6g", cb->name, epoch, soft, hard);
    epoch_line(cb, epoch, line);
}

static void on_ste_epoch(void *ctx, int epoch, double loss)
{
    epoch_cb *cb = ctx;
    char line[256];
    snprintf(line, sizeof line, "%s epoch %d: midpoint loss %.6g", cb->name, epoch, loss);
    epoch_line(cb, epoch, line);
}

/* ---- Sinkhorn re-basin (one aligned model per cost) --------------------------------- */

/* The training batches of a learned method (reshuffled every epoch) and,
 * from a provider of their own, the fixed evaluation batches its epochs are
 * scored on: the same seeded set for every epoch, cost and method of the run
 * (doc/algorithms.md §8). */
static sk_status data_providers(const sk_config *c, sk_pipe_state *ps, int batch, sk_provider *train, sk_provider *eval)
{
    memset(eval, 0, sizeof *eval);
    sk_status st = sk_provider_init(train, &ps->ds, &ps->ds.train, batch, 1, 0, (uint64_t)c->seed);
    if (st == SK_OK) st = sk_provider_init_fixed(eval, &ps->ds, &ps->ds.train, batch, (uint64_t)c->seed);
    return st;
}

static sk_status srb_run(sk_run *r, sk_pipe_state *ps, sk_method_result *me)
{
    const sk_config *c = &r->cfg;
    sk_provider p, pe;
    sk_srb_opts o;
    sk_options_srb(c, me->cost, &o);
    sk_status st = data_providers(c, ps, c->sinkhorn.batch_size, &p, &pe);
    if (st == SK_OK) {
        epoch_cb cb;
        int data = me->cost == SK_SRB_MID || me->cost == SK_SRB_RND;
        epoch_start(&cb, r, me->name, &p, o.epochs, data ? ps->ds.train.n : 1);
        sk_log_err(r->log, "%s: learning soft permutations (%s cost, tau %g, %d iterations)", me->name,
                   sk_srb_cost_name(me->cost), o.tau, o.iterations);
        st = sk_sinkhorn_rebasin(ps->spec, ps->m, ps->ep[0].theta, ps->ep[1].theta, &o, sk_provider_next, &p,
                                 sk_provider_next, &pe, &ps->loss, on_srb_epoch, &cb, me->perms, &me->res.srb);
        epoch_end(&cb);
    }
    sk_provider_free(&p);
    sk_provider_free(&pe);
    return st;
}

static void srb_log(sk_run *r, const sk_method_result *me)
{
    const sk_srb_result *s = &me->res.srb;
    sk_log_err(r->log,
               "%s: hard cost %.6g at epoch %d of %d (select %s; best %.6g at epoch %d), %lld steps, %d Sinkhorn "
               "fallbacks, %.3f s",
               me->name, s->selected_hard_cost, s->selected_epoch, s->n_epochs, SK_NAME(sk_select_names, s->select),
               s->best_hard_cost, s->best_epoch, (long long)s->n_steps, s->fallbacks, me->seconds);
}

static void srb_json(sk_json *j, const sk_method_result *me)
{
    const sk_srb_result *s = &me->res.srb;
    sk_json_str(j, "cost", sk_srb_cost_name(me->cost));
    sk_json_str(j, "select", SK_NAME(sk_select_names, s->select));
    sk_json_int(j, "selected_epoch", s->selected_epoch);
    sk_json_num(j, "selected_hard_cost", s->selected_hard_cost);
    sk_json_num(j, "initial_hard_cost", s->initial_hard_cost);
    sk_json_num(j, "best_hard_cost", s->best_hard_cost);
    sk_json_int(j, "best_epoch", s->best_epoch);
    sk_json_int(j, "epochs", s->n_epochs);
    sk_json_int(j, "steps", s->n_steps);
    sk_json_int(j, "sinkhorn_fallbacks", s->fallbacks);
}

static void srb_csv(const sk_method_result *me, double *steps, double *best_epoch)
{
    *steps = (double)me->res.srb.n_steps;
    *best_epoch = me->res.srb.best_epoch;
}

static void srb_epoch_rows(sk_csv *csv, const sk_method_result *me)
{
    const sk_srb_result *s = &me->res.srb;
    char a[40], b[40];
    sk_json_fmt_num(b, sizeof b, s->initial_hard_cost);
    sk_csv_row(csv, "%s,0,,%s", me->name, b);
    for (int e = 0; e < s->n_epochs; e++) {
        sk_json_fmt_num(a, sizeof a, s->soft_cost[e]);
        sk_json_fmt_num(b, sizeof b, s->hard_cost[e]);
        sk_csv_row(csv, "%s,%d,%s,%s", me->name, e + 1, a, b);
    }
}

static void srb_free(sk_method_result *me)
{
    sk_srb_result_free(&me->res.srb);
}

/* ---- straight-through estimator -------------------------------------------------- */

static sk_status ste_run(sk_run *r, sk_pipe_state *ps, sk_method_result *me)
{
    const sk_config *c = &r->cfg;
    sk_provider p, pe;
    sk_ste_opts o;
    sk_options_ste(c, &o);
    sk_status st = data_providers(c, ps, o.batch_size, &p, &pe);
    if (st == SK_OK) {
        epoch_cb cb;
        epoch_start(&cb, r, me->name, &p, o.epochs, ps->ds.train.n);
        sk_log_err(r->log, "ste: SGD lr %g momentum %g, batch %d, %d epochs", o.lr, o.momentum, o.batch_size, o.epochs);
        st = sk_ste_matching(ps->spec, ps->m, ps->ep[0].theta, ps->ep[1].theta, &o, sk_provider_next, &p,
                             sk_provider_next, &pe, &ps->loss, on_ste_epoch, &cb, me->perms, &me->res.ste);
        epoch_end(&cb);
    }
    sk_provider_free(&p);
    sk_provider_free(&pe);
    return st;
}

static void ste_log(sk_run *r, const sk_method_result *me)
{
    const sk_ste_result *s = &me->res.ste;
    sk_log_err(r->log, "ste: midpoint loss %.6g at epoch %d of %d (select %s; best %.6g at epoch %d), %.3f s",
               s->selected_loss, s->selected_epoch, s->n_epochs, SK_NAME(sk_select_names, s->select), s->best_loss,
               s->best_epoch, me->seconds);
}

/* The evaluation losses of every epoch (0: weight matching of A), the
 * selection rule and what it chose. */
static void ste_json(sk_json *j, const sk_method_result *me)
{
    const sk_ste_result *s = &me->res.ste;
    sk_json_int(j, "epochs", s->n_epochs);
    sk_json_int(j, "steps", s->n_steps);
    sk_json_str(j, "select", SK_NAME(sk_select_names, s->select));
    sk_json_int(j, "selected_epoch", s->selected_epoch);
    sk_json_num(j, "selected_midpoint_loss", s->selected_loss);
    sk_json_int(j, "best_epoch", s->best_epoch);
    sk_json_num(j, "best_midpoint_loss", s->best_loss);
    sk_json_arr_begin(j, "epoch_midpoint_loss");
    sk_json_num(j, NULL, s->initial_loss);
    for (int e = 0; e < s->n_epochs; e++)
        sk_json_num(j, NULL, s->loss[e]);
    sk_json_arr_end(j);
}

static void ste_free(sk_method_result *me)
{
    sk_ste_result_free(&me->res.ste);
}

/* ---- the table -------------------------------------------------------------------- */

static const sk_align_kind naive_kind = {.label = "Naive"};

static const sk_align_kind kinds[] = {
    [SK_ALIGN_WEIGHT_MATCHING] = {.label = "Weight matching", .run = wm_run, .log = wm_log, .json = wm_json},
    [SK_ALIGN_ACTIVATION_MATCHING] = {.label = "Activation matching", .run = am_run, .log = am_log, .json = am_json},
    [SK_ALIGN_STE] = {.label = "STE", .run = ste_run, .log = ste_log, .json = ste_json, .free = ste_free},
    [SK_ALIGN_SINKHORN] = {.label = "Sinkhorn",
                           .per_cost = 1,
                           .run = srb_run,
                           .log = srb_log,
                           .json = srb_json,
                           .csv = srb_csv,
                           .epoch_rows = srb_epoch_rows,
                           .free = srb_free},
};
_Static_assert(SK_COUNT_OF(kinds) == SK_ALIGN_COUNT, "an entry for every alignment method");

/* Plot labels of the Sinkhorn costs (the paper's names). */
static const char *const cost_labels[] = {[SK_SRB_L2] = "C_L2",
                                          [SK_SRB_L1] = "C_L1",
                                          [SK_SRB_COSINE] = "C_cos",
                                          [SK_SRB_MID] = "C_Mid",
                                          [SK_SRB_RND] = "C_Rnd"};
_Static_assert(SK_COUNT_OF(cost_labels) == SK_SRB_COST_COUNT, "a label for every cost");

const sk_align_kind *sk_align_kind_of(int method)
{
    return method >= 0 && method < SK_ALIGN_COUNT ? &kinds[method] : &naive_kind;
}

void sk_method_label_of(const char *name, char *buf, size_t n)
{
    size_t len = strlen(name), rl = strlen("+repair");
    int repair = len > rl && !strcmp(name + len - rl, "+repair");
    char base[64];
    snprintf(base, sizeof base, "%.*s", (int)(repair ? len - rl : len), name);
    const char *label = !strcmp(base, "naive") ? naive_kind.label : NULL;
    char tmp[96];
    for (int k = 0; k < SK_ALIGN_COUNT && !label; k++) {
        const char *mn = sk_align_method_names[k];
        size_t ml = strlen(mn);
        if (!kinds[k].per_cost && !strcmp(base, mn)) label = kinds[k].label;
        for (int c = 0; kinds[k].per_cost && c < SK_SRB_COST_COUNT && !label; c++)
            if (!strncmp(base, mn, ml) && base[ml] == '_' && !strcmp(base + ml + 1, sk_srb_cost_names[c])) {
                snprintf(tmp, sizeof tmp, "%s %s", kinds[k].label, cost_labels[c]);
                label = tmp;
            }
    }
    if (!label) label = base; /* not a method of this table: its name */
    if (repair)
        snprintf(buf, n, "%.38s + REPAIR", label);
    else
        snprintf(buf, n, "%s", label);
}

int sk_method_is_naive(const sk_method_result *me)
{
    return me->kind == &naive_kind;
}

static sk_method_result *add_method(sk_pipe_state *ps, const sk_align_kind *kind, sk_srb_cost cost)
{
    sk_method_result *m = &ps->meth[ps->n_methods++];
    /* The table's kinds are named by the method's config name. */
    const char *name = kind == &naive_kind ? "naive" : sk_align_method_names[kind - kinds];
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->cost = cost;
    if (kind->per_cost) {
        snprintf(m->name, sizeof m->name, "%s_%s", name, sk_srb_cost_name(cost));
        snprintf(m->label, sizeof m->label, "%s %s", kind->label, SK_NAME(cost_labels, cost));
    } else {
        snprintf(m->name, sizeof m->name, "%s", name);
        snprintf(m->label, sizeof m->label, "%s", kind->label);
    }
    return m;
}

static sk_status save_method(sk_run *r, sk_pipe_state *ps, sk_method_result *me)
{
    char path[SK_PATH_MAX + 64];
    const char **names = sk_alloc_n((size_t)ps->spec->n_groups + 1, sizeof *names);
    int64_t *sizes = sk_alloc_n((size_t)ps->spec->n_groups + 1, sizeof *sizes);
    sk_status st = SK_OK;
    if (!names || !sizes) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int g = 0; g < ps->spec->n_groups; g++) {
        names[g] = ps->spec->groups[g].name;
        sizes[g] = ps->spec->groups[g].size;
    }
    snprintf(path, sizeof path, "%s/perm_%s.h5", r->cfg.output, me->name);
    sk_run_wrote(r, path);
    st = sk_h5w_write_perms(path, ps->spec->n_groups, names, (const int64_t *const *)me->perms, sizes);
    if (st != SK_OK) goto cleanup;
    snprintf(path, sizeof path, "%s/aligned_%s.h5", r->cfg.output, me->name);
    sk_run_wrote(r, path);
    char *arch = sk_config_model_yaml(&r->cfg);
    st = sk_h5w_write(path, me->aligned, arch);
    free(arch);
cleanup:
    sk_free(names);
    sk_free(sizes);
    return st;
}

/* Planted B: how many units each group's permutation maps to their planted partner. */
static void score_recovery(sk_pipe_state *ps, sk_method_result *me)
{
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

static sk_status run_method(sk_run *r, sk_pipe_state *ps, const sk_align_kind *kind, sk_srb_cost cost)
{
    if (ps->n_methods == SK_APP_MAX_ALIGNED)
        return sk_err(SK_ECONFIG, "too many methods (at most %d)", SK_APP_MAX_ALIGNED - 1);
    sk_method_result *me = add_method(ps, kind, cost);
    double t0 = sk_now();
    me->perms = sk_perms_identity(ps->spec);
    me->aligned = sk_tset_like(ps->ep[0].theta);
    if (!me->perms || !me->aligned) return SK_ENOMEM;
    sk_status st = kind->run(r, ps, me);
    if (st != SK_OK) return st;
    st = sk_perm_apply(ps->spec, (const int64_t *const *)me->perms, ps->ep[1].theta, me->aligned);
    if (st != SK_OK) return st;
    me->seconds = sk_now() - t0;
    if (ps->planted) {
        score_recovery(ps, me);
        sk_log_out(r->log, "%s: recovered %lld of %lld units of the planted permutation (%.2f%%)%s", me->name,
                   (long long)me->matched, (long long)me->units, 100.0 * (double)me->matched / (double)me->units,
                   me->matched == me->units ? ", exact" : "");
    }
    if (kind->log) kind->log(r, me);
    sk_run_stage(r, me->name, me->seconds);
    return save_method(r, ps, me);
}

sk_status sk_align_all(sk_run *r, sk_pipe_state *ps)
{
    const sk_config *c = &r->cfg;
    sk_status st;
    if (!ps->spec && (st = sk_perm_spec_build(&ps->ms, ps->ep[0].theta, ps->m, &ps->spec)) != SK_OK) return st;
    sk_method_result *naive = add_method(ps, &naive_kind, 0);
    naive->aligned = ps->ep[1].theta; /* borrowed */
    /* align.methods in order, plus the mode's own method when not listed. */
    sk_align_method order[SK_CFG_LIST + 1];
    int n = 0, own = -1, listed = 0;
    for (int i = 0; i < c->align.n_methods; i++)
        order[n++] = c->align.methods[i];
    if (c->mode == SK_MODE_WEIGHT_MATCHING) own = SK_ALIGN_WEIGHT_MATCHING;
    if (c->mode == SK_MODE_ACTIVATION_MATCHING) own = SK_ALIGN_ACTIVATION_MATCHING;
    if (c->mode == SK_MODE_SINKHORN) own = SK_ALIGN_SINKHORN;
    for (int i = 0; i < n; i++)
        listed |= (int)order[i] == own;
    if (own >= 0 && !listed) order[n++] = (sk_align_method)own;
    for (int i = 0; i < n; i++) {
        const sk_align_kind *kind = &kinds[order[i]];
        for (int k = 0; k < (kind->per_cost ? c->sinkhorn.n_costs : 1); k++)
            if ((st = run_method(r, ps, kind, kind->per_cost ? c->sinkhorn.costs[k] : 0)) != SK_OK) return st;
    }
    return SK_OK;
}

void sk_method_result_free(sk_pipe_state *ps, sk_method_result *me)
{
    if (me->perms) {
        sk_perms_free(ps->spec, me->perms);
        sk_tset_free(me->aligned);
    }
    sk_free(me->lambda);
    sk_free(me->loss);
    sk_free(me->acc);
    if (me->kind && me->kind->free) me->kind->free(me);
}
