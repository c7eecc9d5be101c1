/* units.c - a plan's units (app/plan.h): `sinkrb run` of a sweep or of
 * repetitions (every unit in order, reusing the complete ones, then the
 * top folder's results), one unit (--unit K), `sinkrb plan` and
 * `sinkrb collect`. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/collect.h"
#include "app/plan.h"
#include "app/run_ctx.h"
#include "app/state.h"
#include "app/units.h"
#include "core/blas.h"
#include "core/mem.h"
#include "core/timer.h"
#include "io/atomic.h"
#include "io/log.h"

/* Every experiment's inputs (the first repetition of each item: the others
 * differ in their seeds only) are checked before any work. */
static sk_status validate_plan(const sk_app_opts *o, const sk_plan *p, sk_config *unit)
{
    sk_run *r = sk_alloc(sizeof *r);
    sk_status st = r ? SK_OK : SK_ENOMEM;
    for (int i = 0; i < p->n_items && st == SK_OK; i++) {
        if ((st = sk_plan_unit(p, i * p->n_reps, unit)) != SK_OK) break;
        memset(r, 0, sizeof *r);
        r->opts = o;
        r->cfg = *unit;
        sk_endpoint_use_cache(&r->cfg, r->cached);
        st = sk_run_validate_inputs(r);
        if (st != SK_OK && p->top.sweep.n > 0) st = sk_err_prefix(st, "sweep item %s: ", p->top.sweep.labels[i]);
        sk_run_free_state(r);
    }
    sk_free(r);
    return st;
}

/* --restart of a whole plan (or run): the cached endpoints its units use
 * are made again; their files, checkpoints and logs are removed first, once. */
void sk_run_forget_cached(const sk_config *u)
{
    for (int e = 0; e < 2; e++) {
        char fp[24], path[SK_CFG_PATH + 8];
        if (!sk_endpoint_cached(u, e, fp, sizeof fp, path, sizeof path - 8)) continue;
        size_t n = strlen(path);
        unlink(path);
        strcpy(path + n, ".ckpt");
        unlink(path);
        strcpy(path + n, ".log");
        unlink(path);
    }
}

/* "1 h 02 min", "3 min 20 s", "45 s". */
static void duration_text(double s, char *buf, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld h %02ld min", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, n, "%ld min %02ld s", t / 60, t % 60);
    else
        snprintf(buf, n, "%ld s", t);
}

/* Runs unit k of p (or reuses it when complete from an earlier run); the
 * progress line says how many are done and, from the units this process
 * ran, how long the rest will take. */
static sk_status plan_unit(const sk_app_opts *o, const sk_plan *p, int k, sk_config *u, sk_log *log, int *n_run,
                           double *t_run)
{
    char id[160], eta[48] = "";
    sk_status st = sk_plan_unit(p, k, u);
    if (st != SK_OK) return st;
    int reuse = !o->restart && sk_plan_unit_complete(u, 1), i = k / p->n_reps;
    sk_plan_unit_id(p, k, id, sizeof id);
    if (*n_run > 0) {
        char d[32];
        duration_text(*t_run / *n_run * (p->n_units - k), d, sizeof d);
        snprintf(eta, sizeof eta, ", ETA %s", d);
    }
    char what[SK_CFG_SWEEP_TEXT + 200] = "";
    if (p->top.sweep.n > 0) snprintf(what, sizeof what, "%s = %s", p->top.sweep.key, p->top.sweep.values[i]);
    if (p->n_reps > 1)
        snprintf(what + strlen(what), sizeof what - strlen(what), "%srepetition %d (seed %lld, a %lld, b %lld)",
                 what[0] ? ", " : "", k % p->n_reps, u->seed, u->models[0].seed, u->models[1].seed);
    sk_log_out(log, "== %s: unit %d of %d (%d done%s): %s -> %s/%s", p->top.name, k + 1, p->n_units, k, eta, what,
               u->output, reuse ? " (complete from an earlier run: reused; --restart redoes it)" : "");
    if (reuse) return SK_OK;
    double t0 = sk_now();
    sk_unit_tag tag = {sk_plan_item_label(p, i), sk_plan_item_value(p, i), id};
    st = sk_run_one(o, u, &tag);
    if (st != SK_OK) return sk_err_prefix(st, "unit %s: ", id);
    *t_run += sk_now() - t0;
    (*n_run)++;
    sk_log_file(log, "unit %s finished in %.1f s", id, sk_now() - t0);
    return SK_OK;
}

sk_status sk_plan_run_begin(const sk_app_opts *o, const sk_config *cfg, sk_plan_run *pr)
{
    char path[SK_PATH_MAX + 32];
    memset(pr, 0, sizeof *pr);
    pr->lock_fd = -1;
    pr->u = sk_alloc(sizeof *pr->u);
    pr->r = sk_alloc(sizeof *pr->r);
    sk_status st = pr->u && pr->r ? sk_plan_new(cfg, &pr->p) : SK_ENOMEM;
    if (st == SK_OK) st = validate_plan(o, pr->p, pr->u);
    if (st != SK_OK) return st;
    sk_run *r = pr->r;
    r->opts = o;
    r->cfg = *cfg;
    r->t_start = sk_now();
    sk_wall_iso8601(r->started, sizeof r->started);
    if ((st = sk_mkdir_p(cfg->output)) != SK_OK || (st = sk_run_lock(cfg->output, &pr->lock_fd)) != SK_OK ||
        (st = sk_run_clear_stale(r)) != SK_OK)
        return st;
    sk_atomic_remove_dead_temps(cfg->output);
    snprintf(path, sizeof path, "%s/log.txt", cfg->output);
    if ((st = sk_log_open(&r->log, path, o->quiet)) != SK_OK) return st;
    sk_run_wrote(r, path);
    if ((st = sk_run_write_config(r, cfg)) != SK_OK) return st;
    for (int k = 0; k < pr->p->n_units && st == SK_OK && o->restart; k++)
        if ((st = sk_plan_unit(pr->p, k, pr->u)) == SK_OK) sk_run_forget_cached(pr->u);
    return st;
}

sk_status sk_plan_run_end(sk_plan_run *pr, sk_status st)
{
    sk_run *r = pr->r;
    int missing = 0;
    if (st == SK_OK) {
        sk_wall_iso8601(r->finished, sizeof r->finished);
        st = sk_collect_write(r, pr->p, &missing);
    }
    if (st == SK_OK && missing) st = sk_err(SK_EIO, "%d unit(s) of %s are not complete", missing, r->cfg.output);
    if (st == SK_OK) sk_log_out(r->log, "results: %s/ (one folder per unit)", r->cfg.output);
    if (st != SK_OK && r && r->log) sk_log_file(r->log, "error: %s", sk_err_msg());
    if (r) {
        sk_log_close(r->log);
        sk_run_files_free(r);
    }
    if (pr->lock_fd >= 0) close(pr->lock_fd);
    sk_plan_free(pr->p);
    sk_free(pr->u);
    sk_free(r);
    memset(pr, 0, sizeof *pr);
    return st;
}

/* A plan of several units (a sweep, or repetitions): every experiment's
 * inputs are checked first, then the units run in order into their folders
 * (a unit already complete from an earlier run of the same config is reused
 * unless --restart), then the top folder's results are collected. */
sk_status sk_run_plan(const sk_app_opts *o, const sk_config *cfg)
{
    sk_plan_run pr;
    int n_run = 0;
    double t_run = 0;
    sk_status st = sk_plan_run_begin(o, cfg, &pr);
    for (int k = 0; pr.p && k < pr.p->n_units && st == SK_OK; k++)
        st = plan_unit(o, pr.p, k, pr.u, pr.r->log, &n_run, &t_run);
    return sk_plan_run_end(&pr, st);
}

/* Task: endpoint trainings[j] of the plan, made (as the first unit that
 * needs it would make it) into the endpoint cache, under its lock. Its
 * progress (one line per epoch) goes to <weights>.log beside it: a scheduler
 * runs several at once, whose lines would interleave on one terminal. */
sk_status sk_run_endpoint_task(const sk_app_opts *o, const sk_plan *p, const sk_plan_eps *eps, int j)
{
    sk_run *r = sk_alloc(sizeof *r);
    sk_status st = r ? sk_plan_unit(p, eps->ep[j].unit, &r->cfg) : SK_ENOMEM;
    int e = eps->ep[j].e;
    if (st == SK_OK) {
        r->opts = o;
        r->t_start = sk_now();
        sk_endpoint_use_cache(&r->cfg, r->cached);
        sk_threads_set(r->cfg.threads);
        st = sk_mkdir_p(r->cfg.endpoints.cache);
    }
    if (st == SK_OK) {
        char path[SK_PATH_MAX + 8];
        snprintf(path, sizeof path, "%s.log", eps->ep[j].path);
        st = sk_log_open(&r->log, path, 1);
    }
    if (st == SK_OK) st = sk_run_validate_inputs(r);
    if (st == SK_OK) st = sk_endpoint_make(r, r->state, e);
    if (st != SK_OK)
        st = sk_err_prefix(st, "endpoint training E%d (model %c of unit %d): ", j, 'a' + e, eps->ep[j].unit);
    if (r) {
        sk_run_free_state(r);
        sk_log_close(r->log);
        sk_run_files_free(r);
    }
    sk_free(r);
    return st;
}

/* Task: unit k of the plan, run again whether complete or not (the
 * scheduler gives out only the units that are not). */
sk_status sk_run_unit_task(const sk_app_opts *o, const sk_plan *p, int k, sk_config *u)
{
    char id[160];
    int i = k / p->n_reps;
    sk_status st = sk_plan_unit(p, k, u);
    if (st != SK_OK) return st;
    sk_plan_unit_id(p, k, id, sizeof id);
    sk_unit_tag tag = {sk_plan_item_label(p, i), sk_plan_item_value(p, i), id};
    st = sk_run_one(o, u, sk_plan_multi(p) ? &tag : NULL);
    return st == SK_OK ? st : sk_err_prefix(st, "unit %s: ", id);
}

/* --unit K: unit K alone (reused when complete, unless --restart). The top
 * folder gets the config (every unit writes the same bytes) for `sinkrb
 * collect`, which writes the top folder's results once all are done. */
sk_status sk_run_plan_unit(const sk_app_opts *o, const sk_config *cfg)
{
    sk_plan *p = NULL;
    sk_config *u = sk_alloc(sizeof *u);
    sk_run *r = sk_alloc(sizeof *r);
    sk_log *log = NULL;
    char id[160];
    sk_status st = u && r ? sk_plan_new(cfg, &p) : SK_ENOMEM;
    if (st == SK_OK && o->unit >= p->n_units)
        st = sk_err(SK_EUSAGE, "--unit %d: the plan of %s has %d unit%s (0..%d; sinkrb plan lists them)", o->unit,
                    o->config_path, p->n_units, p->n_units == 1 ? "" : "s", p->n_units - 1);
    if (st == SK_OK) st = sk_plan_unit(p, o->unit, u);
    if (st == SK_OK) st = sk_log_open(&log, NULL, o->quiet);
    if (st != SK_OK) goto cleanup;
    sk_plan_unit_id(p, o->unit, id, sizeof id);
    int multi = sk_plan_multi(p), i = o->unit / p->n_reps;
    if (multi) { /* the top folder's config, for collect */
        memset(r, 0, sizeof *r);
        r->opts = o;
        r->cfg = *cfg;
        if ((st = sk_mkdir_p(cfg->output)) != SK_OK || (st = sk_run_write_config(r, cfg)) != SK_OK) goto cleanup;
        sk_run_files_free(r);
    }
    if (!o->restart && sk_plan_unit_complete(u, multi)) {
        sk_log_out(log, "unit %d of %d (%s) is complete from an earlier run: reused (--restart redoes it)", o->unit,
                   p->n_units, id);
        goto cleanup;
    }
    sk_unit_tag tag = {sk_plan_item_label(p, i), sk_plan_item_value(p, i), id};
    sk_log_out(log, "== %s: unit %d of %d -> %s/", cfg->name, o->unit, p->n_units, u->output);
    st = sk_run_one(o, u, multi ? &tag : NULL);
    if (st == SK_OK && multi)
        sk_log_out(log, "unit %d of %d (%s) done; when every unit is: sinkrb collect %s", o->unit, p->n_units, id,
                   cfg->output);
cleanup:
    sk_log_close(log);
    sk_plan_free(p);
    sk_free(u);
    sk_free(r);
    return st;
}

/* "0-2, 5" for the units of items[0..n) (sorted). */
static void ranges(const int *items, int n, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && k < len; i++) {
        int j = i;
        while (j + 1 < n && items[j + 1] == items[j] + 1)
            j++;
        if (j > i)
            k += (size_t)snprintf(buf + k, len - k, "%s%d-%d", k ? ", " : "", items[i], items[j]);
        else
            k += (size_t)snprintf(buf + k, len - k, "%s%d", k ? ", " : "", items[i]);
        i = j;
    }
    if (k >= len && len > 4) snprintf(buf + len - 4, 4, "..."); /* cut short */
}

/* Each endpoint training with the units that need it (one pass over the
 * units: the lists are the units grouped by endpoint). */
static void print_endpoints(const sk_plan *p, const sk_plan_eps *eps)
{
    int *start = sk_alloc_n((size_t)eps->n + 1, sizeof *start),
        *who = sk_alloc_n((size_t)(2 * p->n_units + 1), sizeof *who);
    int *fill = sk_alloc_n((size_t)eps->n + 1, sizeof *fill);
    char list[512];
    printf("endpoint trainings: %d (each made once, before the units that need it; a unit makes the ones that do "
           "not exist yet, the others wait on its lock)\n",
           eps->n);
    if (!start || !who || !fill) goto done;
    for (int k = 0; k < p->n_units; k++)
        for (int e = 0; e < 2; e++)
            if (eps->needs[k][e] >= 0 && (e == 0 || eps->needs[k][1] != eps->needs[k][0]))
                start[eps->needs[k][e] + 1]++;
    for (int j = 0; j < eps->n; j++)
        start[j + 1] += start[j];
    for (int k = 0; k < p->n_units; k++)
        for (int e = 0; e < 2; e++) {
            int j = eps->needs[k][e];
            if (j >= 0 && (e == 0 || eps->needs[k][1] != eps->needs[k][0])) who[start[j] + fill[j]++] = k;
        }
    for (int j = 0; j < eps->n; j++) {
        int m = start[j + 1] - start[j];
        ranges(who + start[j], m, list, sizeof list);
        printf("  E%-3d model %c seed %-6lld %s %-9s needed by unit%s %s\n", j, 'a' + eps->ep[j].e, eps->ep[j].seed,
               eps->ep[j].path, sk_file_exists(eps->ep[j].path) ? "(made)" : "(to make)", m == 1 ? "" : "s", list);
    }
done:
    sk_free(start);
    sk_free(who);
    sk_free(fill);
}

static void print_units(const sk_plan *p, const sk_plan_eps *eps, sk_config *u)
{
    int done = 0;
    printf("units: %d\n", p->n_units);
    for (int k = 0; k < p->n_units; k++) {
        char id[160], what[SK_CFG_SWEEP_TEXT + 200] = "", needs[32] = "";
        if (sk_plan_unit(p, k, u) != SK_OK) {
            sk_err_clear();
            continue;
        }
        int c = sk_plan_unit_complete(u, sk_plan_multi(p)), i = k / p->n_reps;
        done += c;
        sk_plan_unit_id(p, k, id, sizeof id);
        if (p->top.sweep.n > 0) snprintf(what, sizeof what, "%s = %s, ", p->top.sweep.key, p->top.sweep.values[i]);
        snprintf(what + strlen(what), sizeof what - strlen(what), "seed %lld, a %lld, b %lld", u->seed,
                 u->models[0].seed, u->models[1].seed);
        for (int e = 0; e < 2; e++)
            if (eps->needs[k][e] >= 0)
                snprintf(needs + strlen(needs), sizeof needs - strlen(needs), " E%d", eps->needs[k][e]);
        printf("  %-4d %-20s %-10s %s%s%s\n", k, id, c ? "complete" : "to run", what, needs[0] ? "; needs" : "", needs);
    }
    printf("complete: %d of %d\n", done, p->n_units);
}

sk_status sk_app_plan(const sk_app_opts *o)
{
    sk_config *cfg = sk_alloc(sizeof *cfg), *u = sk_alloc(sizeof *u);
    sk_plan *p = NULL;
    sk_plan_eps eps = {0};
    sk_err_clear();
    sk_status st = cfg && u ? sk_config_load(cfg, o->config_path, o->sets, o->n_sets) : SK_ENOMEM;
    if (st == SK_OK) st = sk_plan_new(cfg, &p);
    if (st == SK_OK) st = sk_plan_endpoints(p, &eps);
    if (st == SK_OK) {
        printf("plan of %s (%s): %d item%s x %d repetition%s, results in %s/\n", cfg->name, o->config_path, p->n_items,
               p->n_items == 1 ? "" : "s", p->n_reps, p->n_reps == 1 ? "" : "s", cfg->output);
        printf("endpoint cache: %s\n", cfg->endpoints.cache[0] ? cfg->endpoints.cache : "none");
        print_endpoints(p, &eps);
        print_units(p, &eps, u);
        if (sk_plan_multi(p))
            printf("run one unit: sinkrb run %s --unit K; when all are done: sinkrb collect %s\n", o->config_path,
                   cfg->output);
    }
    sk_plan_endpoints_free(&eps);
    sk_plan_free(p);
    sk_free(cfg);
    sk_free(u);
    return st;
}

sk_status sk_app_collect(const sk_app_opts *o, const char *dir)
{
    char path[SK_PATH_MAX + 32], set[SK_PATH_MAX + 16];
    sk_config *cfg = sk_alloc(sizeof *cfg);
    sk_run *r = sk_alloc(sizeof *r);
    sk_plan *p = NULL;
    sk_app_opts co = *o;
    int fd = -1, missing = 0;
    sk_err_clear();
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    snprintf(set, sizeof set, "output=%s", dir); /* the folder may have moved */
    const char *sets[1] = {set};
    co.config_path = path;
    sk_status st = cfg && r ? SK_OK : SK_ENOMEM;
    if (st == SK_OK && !sk_file_exists(path))
        st = sk_err(SK_EUSAGE, "%s has no config.yaml: not the results folder of a sinkrb run", dir);
    if (st == SK_OK) st = sk_config_load(cfg, path, sets, 1);
    if (st == SK_OK) st = sk_plan_new(cfg, &p);
    if (st == SK_OK && !sk_plan_multi(p))
        st = sk_err(SK_EUSAGE, "%s holds a single run (no sweep, no repetitions): nothing to collect", dir);
    if (st == SK_OK) {
        memset(r, 0, sizeof *r);
        r->opts = &co;
        r->cfg = *cfg;
        r->t_start = sk_now();
        sk_wall_iso8601(r->started, sizeof r->started);
        snprintf(path, sizeof path, "%s/log.txt", dir);
        if ((st = sk_run_lock(dir, &fd)) == SK_OK && (st = sk_log_open(&r->log, path, o->quiet)) == SK_OK) {
            sk_run_wrote(r, path);
            sk_wall_iso8601(r->finished, sizeof r->finished);
            st = sk_collect_write(r, p, &missing);
        }
    }
    if (st == SK_OK && missing)
        st = sk_err(SK_EIO,
                    "%d of %d units of %s are missing (listed above): the results written are those of the others"
                    "\nHINT: run each (sinkrb run CONFIG --unit K; sinkrb plan CONFIG lists them), then collect again",
                    missing, p->n_units, dir);
    else if (st == SK_OK)
        sk_log_out(r->log, "collected %d units: %s/", p->n_units, dir);
    if (r) {
        sk_log_close(r->log);
        sk_run_files_free(r);
    }
    if (fd >= 0) close(fd);
    sk_plan_free(p);
    sk_free(cfg);
    sk_free(r);
    return st;
}
