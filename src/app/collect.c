/* collect.c - the results of a multi-unit plan above its units (collect.h):
 * sweep.csv (one repetition) or repetitions.csv (every unit's rows), the
 * summary table, and the top metrics.json (the items and units with their
 * seeds, folders and wall times). */
#include "app/collect.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/aggregate.h"
#include "core/mem.h"
#include "io/atomic.h"

typedef struct {
    const sk_plan *p;
    const int *complete; /* per unit */
    double *seconds;     /* per unit: its wall time (NAN: not complete) */
    const sk_agg *agg;   /* without a sweep: the repetitions' aggregate (else NULL) */
    int item;            /* an item's own metrics.json: its index (else -1) */
} collect_ctx;

/* A unit's wall time from its values.csv (NAN when unreadable). */
static double unit_seconds(const char *dir)
{
    char path[SK_PATH_MAX + 32];
    sk_value *v;
    int n;
    snprintf(path, sizeof path, "%s/values.csv", dir);
    if (sk_values_read(path, &v, &n) != SK_OK) {
        sk_err_clear();
        return NAN;
    }
    double s = sk_values_get(v, n, "run", "", "", "wall_seconds");
    free(v);
    return s;
}

static void units_json(sk_json *j, const collect_ctx *cx)
{
    const sk_plan *p = cx->p;
    sk_config *u = sk_alloc(sizeof *u);
    sk_json_arr_begin(j, "units");
    for (int k = 0; u && k < p->n_units; k++) {
        char id[160];
        if (sk_plan_unit(p, k, u) != SK_OK) {
            sk_err_clear();
            continue;
        }
        sk_plan_unit_id(p, k, id, sizeof id);
        sk_json_obj_begin(j, NULL);
        sk_json_str(j, "id", id);
        if (p->top.sweep.n > 0) sk_json_str(j, "item", sk_plan_item_label(p, k / p->n_reps));
        sk_json_int(j, "repetition", k % p->n_reps);
        sk_json_int(j, "seed", u->seed);
        sk_json_int(j, "a_seed", u->models[0].seed);
        sk_json_int(j, "b_seed", u->models[1].seed);
        sk_json_str(j, "output", u->output);
        sk_json_bool(j, "complete", cx->complete[k]);
        if (cx->complete[k]) sk_json_num(j, "wall_seconds", cx->seconds[k]);
        sk_json_obj_end(j);
    }
    sk_json_arr_end(j);
    sk_free(u);
}

static void plan_body(sk_run *r, sk_json *j, void *ctx)
{
    const collect_ctx *cx = ctx;
    const sk_plan *p = cx->p;
    const sk_config *c = &p->top;
    (void)r;
    if (cx->item >= 0) { /* an item's folder: which item, and its repetitions' aggregate */
        sk_json_obj_begin(j, "item");
        sk_json_str(j, "key", c->sweep.key);
        sk_json_str(j, "label", c->sweep.labels[cx->item]);
        sk_json_str(j, "value", c->sweep.values[cx->item]);
        sk_json_obj_end(j);
        sk_agg_json(j, cx->agg);
        return;
    }
    if (c->sweep.n > 0) {
        sk_json_obj_begin(j, "sweep");
        sk_json_str(j, "key", c->sweep.key);
        sk_json_str(j, "table", "sweep.csv");
        sk_json_arr_begin(j, "items");
        for (int i = 0; i < c->sweep.n; i++) {
            char out[SK_PATH_MAX + 80];
            double secs = 0;
            sk_plan_item_dir(p, i, out, sizeof out);
            for (int q = 0; q < p->n_reps; q++)
                if (cx->complete[i * p->n_reps + q]) secs += cx->seconds[i * p->n_reps + q];
            sk_json_obj_begin(j, NULL);
            sk_json_str(j, "label", c->sweep.labels[i]);
            sk_json_str(j, "value", c->sweep.values[i]);
            sk_json_str(j, "output", out);
            sk_json_num(j, "wall_seconds", secs);
            sk_json_obj_end(j);
        }
        sk_json_arr_end(j);
        sk_json_obj_end(j);
    }
    if (p->n_reps > 1) {
        sk_json_obj_begin(j, "repetitions");
        sk_json_int(j, "n", p->n_reps);
        sk_json_str(j, "seeds", c->n_repeat_seeds > 0 ? "repeat_seeds" : "rule");
        sk_json_str(j, "table", "repetitions.csv");
        sk_json_obj_end(j);
    }
    units_json(j, cx);
    if (cx->agg) sk_agg_json(j, cx->agg);
}

/* Unit k's rows (its sweep_item.csv, each line prefixed by `prefix`) into
 * csv and its table lines into table. */
static sk_status append_unit_rows(const char *dir, const char *prefix, sk_csv *csv, FILE *table)
{
    char path[SK_PATH_MAX + 32], *line = NULL;
    size_t cap = 0;
    sk_status st = SK_OK;
    snprintf(path, sizeof path, "%s/sweep_item.csv", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return sk_err(SK_EIO, "%s: %s", path, strerror(errno));
    for (ssize_t n; (n = getline(&line, &cap, f)) > 0;) {
        if (line[n - 1] == '\n') line[n - 1] = '\0';
        if ((st = sk_csv_row(csv, "%s%s", prefix, line)) != SK_OK) break;
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/sweep_item.txt", dir);
    if (st == SK_OK && (f = fopen(path, "rb"))) {
        for (ssize_t n; (n = getline(&line, &cap, f)) > 0;)
            fputs(line, table);
        fclose(f);
    } else if (st == SK_OK) {
        st = sk_err(SK_EIO, "%s: %s", path, strerror(errno));
    }
    free(line);
    return st;
}

/* sweep.csv (a sweep of single runs) or repetitions.csv (every unit's rows,
 * after its repetition number), and the table of every unit's lines. */
static sk_status write_rows(sk_run *r, const sk_plan *p, const int *complete, FILE *table)
{
    char path[SK_PATH_MAX + 32], header[1024], prefix[16];
    const char *name = p->n_reps > 1 ? "repetitions.csv" : "sweep.csv";
    sk_config *u = sk_alloc(sizeof *u);
    if (!u) return SK_ENOMEM;
    snprintf(header, sizeof header, "%s%s", p->n_reps > 1 ? "repetition," : "", sk_run_sweep_header(&p->top));
    snprintf(path, sizeof path, "%s/%s", p->top.output, name);
    sk_run_wrote(r, path);
    sk_csv *csv = sk_csv_open(path, header);
    sk_status st = csv ? SK_OK : SK_EIO;
    for (int k = 0; k < p->n_units && st == SK_OK; k++) {
        if (!complete[k]) continue;
        if ((st = sk_plan_unit(p, k, u)) != SK_OK) break;
        snprintf(prefix, sizeof prefix, "%d,", k % p->n_reps);
        st = append_unit_rows(u->output, p->n_reps > 1 ? prefix : "", csv, table);
    }
    sk_free(u);
    if (st != SK_OK) {
        sk_csv_abort(csv);
        return st;
    }
    return sk_csv_close(csv);
}

/* Which units are complete, and their wall times; the missing ones logged. */
static sk_status find_complete(sk_run *r, const sk_plan *p, int *complete, double *seconds, int *n_missing)
{
    sk_config *u = sk_alloc(sizeof *u);
    sk_status st = u ? SK_OK : SK_ENOMEM;
    *n_missing = 0;
    for (int k = 0; k < p->n_units && st == SK_OK; k++) {
        char id[160];
        if ((st = sk_plan_unit(p, k, u)) != SK_OK) break;
        complete[k] = sk_plan_unit_complete(u, 1);
        seconds[k] = complete[k] ? unit_seconds(u->output) : NAN;
        if (complete[k]) continue;
        sk_plan_unit_id(p, k, id, sizeof id);
        sk_log_err(r->log, "unit %d (%s) is missing: %s has no complete results", k, id, u->output);
        (*n_missing)++;
    }
    sk_free(u);
    return st;
}

/* Item i's repetitions side by side, from its complete units; with dirs,
 * each repetition's folder (NULL: not complete; strings to free). */
static sk_status load_item(const sk_plan *p, int i, const int *complete, sk_agg *a, char **dirs)
{
    sk_config *u = sk_alloc(sizeof *u);
    sk_status st = u ? sk_agg_init(a, p->n_reps) : SK_ENOMEM;
    for (int q = 0; q < p->n_reps && st == SK_OK; q++) {
        int k = i * p->n_reps + q;
        if (!complete[k]) continue;
        if ((st = sk_plan_unit(p, k, u)) == SK_OK) st = sk_agg_add(a, q, u->output);
        if (st == SK_OK && dirs && !(dirs[q] = strdup(u->output))) st = SK_ENOMEM;
    }
    sk_free(u);
    return st;
}

/* Item i's aggregate plots into its folder (the mean curves and their bands). */
static sk_status plot_item(sk_run *r, const sk_plan *p, int i, const int *complete)
{
    char **dirs = sk_alloc_n((size_t)p->n_reps, sizeof *dirs), dir[SK_PATH_MAX + 80];
    sk_agg a = {0};
    sk_status st = dirs ? load_item(p, i, complete, &a, dirs) : SK_ENOMEM;
    sk_plan_item_dir(p, i, dir, sizeof dir);
    if (st == SK_OK && a.n_done > 0) {
        char name[SK_CFG_NAME + SK_CFG_SWEEP_TEXT + 80]; /* the title names the item */
        if (p->top.sweep.n > 0)
            snprintf(name, sizeof name, "%s, %s = %s", p->top.name, p->top.sweep.key, p->top.sweep.values[i]);
        else
            snprintf(name, sizeof name, "%s", p->top.name);
        st = sk_agg_plot_curves(r, p->top.sweep.n > 0 ? dir : r->cfg.output, &p->top, name, (const char *const *)dirs,
                                p->n_reps);
    }
    for (int q = 0; dirs && q < p->n_reps; q++)
        free(dirs[q]);
    sk_free(dirs);
    sk_agg_free(&a);
    return st;
}

/* A sweep of repetitions: each item's aggregate into its folder's
 * metrics.json, its rows of sweep.csv (mean and std) and table lines. */
static sk_status collect_items(sk_run *r, collect_ctx *cx, const sk_agg *items, FILE *table)
{
    const sk_plan *p = cx->p;
    char path[SK_PATH_MAX + 32], dir[SK_PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/sweep.csv", p->top.output);
    sk_run_wrote(r, path);
    sk_csv *csv = sk_csv_open(path, sk_agg_sweep_header(&p->top));
    sk_status st = csv ? SK_OK : SK_EIO;
    for (int i = 0; i < p->n_items && st == SK_OK; i++) {
        sk_plan_item_dir(p, i, dir, sizeof dir);
        sk_agg_sweep_rows(&items[i], &p->top, csv, sk_plan_item_label(p, i), sk_plan_item_value(p, i), table);
        collect_ctx ic = *cx;
        ic.agg = &items[i];
        ic.item = i;
        st = sk_mkdir_p(dir);
        if (st == SK_OK) st = sk_run_write_metrics_body(r, dir, plan_body, &ic);
    }
    if (st != SK_OK) {
        sk_csv_abort(csv);
        return st;
    }
    return sk_csv_close(csv);
}

static void print_lines(sk_log *log, char *text)
{
    for (char *line = text, *nl; line && *line; line = nl + 1) {
        if (!(nl = strchr(line, '\n'))) break;
        *nl = '\0';
        sk_log_out(log, "%s", line);
    }
}

/* The aggregates of a plan with repetitions or a sweep: every item's (its
 * metrics.json and plots, the sweep's rows), and the sweep's summary plot. */
static sk_status aggregate(sk_run *r, collect_ctx *cx, sk_agg *items, FILE *table)
{
    const sk_plan *p = cx->p;
    char path[SK_PATH_MAX + 32];
    sk_status st = SK_OK;
    for (int i = 0; i < p->n_items && st == SK_OK; i++)
        st = load_item(p, i, cx->complete, &items[i], NULL);
    for (int i = 0; i < p->n_items && st == SK_OK && p->n_reps > 1; i++)
        st = plot_item(r, p, i, cx->complete);
    if (st == SK_OK && p->n_reps > 1 && p->top.sweep.n > 0) st = collect_items(r, cx, items, table);
    if (st == SK_OK && p->top.sweep.n > 0) {
        snprintf(path, sizeof path, "%s/sweep_summary.svg", p->top.output);
        sk_run_wrote(r, path);
        st = sk_agg_plot_sweep(path, &p->top, items, sk_agg_split(&p->top));
    }
    if (st == SK_OK && p->n_reps > 1 && p->top.sweep.n == 0) cx->agg = &items[0];
    return st;
}

/* The top folder's files and the summary on stdout. */
static sk_status collect(sk_run *r, collect_ctx *cx, FILE *table, char **tbuf, FILE *scratch)
{
    const sk_plan *p = cx->p;
    const sk_config *c = &p->top;
    sk_agg *items = sk_alloc_n((size_t)p->n_items, sizeof *items);
    if (!items) return SK_ENOMEM;
    /* every unit's rows: sweep.csv of single runs, or repetitions.csv */
    sk_status st = write_rows(r, p, cx->complete, p->n_reps > 1 ? scratch : table);
    if (st == SK_OK) st = aggregate(r, cx, items, table);
    if (st == SK_OK) st = sk_run_write_metrics_body(r, NULL, plan_body, cx);
    fflush(table);
    if (st == SK_OK && cx->agg) {
        sk_agg_print(r->log, cx->agg, c, c->name);
    } else if (st == SK_OK) {
        sk_log_out(r->log, "%s", "");
        sk_log_out(r->log, "sweep %s over %s (%d items%s):", c->name, c->sweep.key, c->sweep.n,
                   p->n_reps > 1 ? ", repetitions: mean ± std" : "");
        const char *h = p->n_reps > 1 ? sk_agg_sweep_table_header(c) : sk_run_sweep_table_header(c);
        if (*h) sk_log_out(r->log, "%s", h);
        print_lines(r->log, *tbuf);
    }
    cx->agg = NULL;
    for (int i = 0; i < p->n_items; i++)
        sk_agg_free(&items[i]);
    sk_free(items);
    return st;
}

sk_status sk_collect_write(sk_run *r, const sk_plan *p, int *n_missing)
{
    int *complete = sk_alloc_n((size_t)p->n_units, sizeof *complete);
    double *seconds = sk_alloc_n((size_t)p->n_units, sizeof *seconds);
    char *tbuf = NULL, *sbuf = NULL;
    size_t tlen = 0, slen = 0;
    FILE *table = open_memstream(&tbuf, &tlen), *scratch = open_memstream(&sbuf, &slen);
    sk_status st = complete && seconds && table && scratch ? SK_OK : SK_ENOMEM;
    if (st == SK_OK) st = find_complete(r, p, complete, seconds, n_missing);
    if (st == SK_OK) {
        collect_ctx cx = {p, complete, seconds, NULL, -1};
        st = collect(r, &cx, table, &tbuf, scratch);
    }
    if (table) fclose(table);
    if (scratch) fclose(scratch);
    free(tbuf);
    free(sbuf);
    sk_free(complete);
    sk_free(seconds);
    return st;
}
