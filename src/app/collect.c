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

#include "core/mem.h"
#include "io/atomic.h"

typedef struct {
    const sk_plan *p;
    const int *complete; /* per unit */
    double *seconds;     /* per unit: its wall time (NAN: not complete) */
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

sk_status sk_collect_write(sk_run *r, const sk_plan *p, int *n_missing)
{
    int *complete = sk_alloc_n((size_t)p->n_units, sizeof *complete);
    double *seconds = sk_alloc_n((size_t)p->n_units, sizeof *seconds);
    char *tbuf = NULL;
    size_t tlen = 0;
    FILE *table = open_memstream(&tbuf, &tlen);
    sk_status st = complete && seconds && table ? SK_OK : SK_ENOMEM;
    if (st == SK_OK) st = find_complete(r, p, complete, seconds, n_missing);
    if (st == SK_OK) st = write_rows(r, p, complete, table);
    if (table) fclose(table);
    table = NULL;
    if (st == SK_OK) {
        collect_ctx cx = {p, complete, seconds};
        st = sk_run_write_metrics_body(r, NULL, plan_body, &cx);
    }
    if (st == SK_OK) {
        const sk_config *c = &p->top;
        sk_log_out(r->log, "%s", "");
        if (c->sweep.n > 0)
            sk_log_out(r->log, "sweep %s over %s (%d items, %d repetition%s):", c->name, c->sweep.key, c->sweep.n,
                       p->n_reps, p->n_reps == 1 ? "" : "s");
        else
            sk_log_out(r->log, "%s: %d repetitions:", c->name, p->n_reps);
        if (*sk_run_sweep_table_header(c)) sk_log_out(r->log, "%s", sk_run_sweep_table_header(c));
        for (char *line = tbuf, *nl; line && *line; line = nl + 1) {
            if (!(nl = strchr(line, '\n'))) break;
            *nl = '\0';
            sk_log_out(r->log, "%s", line);
        }
    }
    free(tbuf);
    sk_free(complete);
    sk_free(seconds);
    return st;
}
