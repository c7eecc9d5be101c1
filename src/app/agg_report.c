/* agg_report.c - what the aggregate of an experiment's repetitions writes
 * and prints (aggregate.h): metrics.json's "aggregate", the stdout tables,
 * and a sweep's rows of mean and standard deviation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/aggregate.h"

#define MAXN 64 /* names of one group (methods, endpoints, stages) */

/* Timings and counters: summarised, but not compared between methods. */
static int is_timing(const char *metric)
{
    return !strcmp(metric, "seconds") || !strcmp(metric, "sinkhorn_steps") || !strcmp(metric, "sinkhorn_best_epoch") ||
           !strcmp(metric, "train_seconds") || !strcmp(metric, "samples_per_second") ||
           !strcmp(metric, "selected_epoch") || !strcmp(metric, "wall_seconds");
}

static void stats_json(sk_json *j, const char *key, const sk_agg *a, const double *v)
{
    sk_stats s;
    sk_stats_of(v, a->n, &s);
    sk_json_obj_begin(j, key);
    sk_json_int(j, "n", s.n);
    sk_json_num(j, "mean", s.mean);
    sk_json_num(j, "std", s.std);
    sk_json_num(j, "min", s.min);
    sk_json_num(j, "max", s.max);
    if (s.n >= 3) {
        sk_json_arr_begin(j, "ci95");
        sk_json_num(j, NULL, s.ci_lo);
        sk_json_num(j, NULL, s.ci_hi);
        sk_json_arr_end(j);
    }
    sk_json_arr_begin(j, "values");
    for (int i = 0; i < a->n; i++)
        sk_json_num(j, NULL, v[i]); /* null where absent */
    sk_json_arr_end(j);
    sk_json_obj_end(j);
}

/* One name's rows: those without a split as metric: {...}, the others
 * under their split, splits in order of appearance. */
static void name_json(sk_json *j, const sk_agg *a, const char *group, const char *name)
{
    const char *splits[8];
    int ns = 0;
    for (int i = 0; i < a->n_rows; i++) {
        const sk_agg_row *w = &a->rows[i];
        if (strcmp(w->group, group) || strcmp(w->name, name)) continue;
        if (!w->split[0]) {
            stats_json(j, w->metric, a, w->v);
            continue;
        }
        int seen = 0;
        for (int k = 0; k < ns && !seen; k++)
            seen = !strcmp(splits[k], w->split);
        if (!seen && ns < 8) splits[ns++] = w->split;
    }
    for (int k = 0; k < ns; k++) {
        sk_json_obj_begin(j, splits[k]);
        for (int i = 0; i < a->n_rows; i++) {
            const sk_agg_row *w = &a->rows[i];
            if (!strcmp(w->group, group) && !strcmp(w->name, name) && !strcmp(w->split, splits[k]))
                stats_json(j, w->metric, a, w->v);
        }
        sk_json_obj_end(j);
    }
}

static void paired_json(sk_json *j, const sk_agg *a, const char *group, const char *m, const char *base)
{
    for (int i = 0; i < a->n_rows; i++) {
        const sk_agg_row *w = &a->rows[i], *b;
        if (strcmp(w->group, group) || strcmp(w->name, m) || is_timing(w->metric)) continue;
        if (!(b = sk_agg_find(a, group, base, w->split, w->metric))) continue;
        sk_paired p;
        sk_paired_of(w->v, b->v, a->n, &p);
        if (p.d.n == 0) continue;
        sk_json_obj_begin(j, NULL);
        sk_json_str(j, "method", m);
        sk_json_str(j, "baseline", base);
        if (w->split[0]) sk_json_str(j, "split", w->split);
        sk_json_str(j, "metric", w->metric);
        sk_json_int(j, "n", p.d.n);
        sk_json_num(j, "mean", p.d.mean);
        sk_json_num(j, "std", p.d.std);
        if (p.d.n >= 3) {
            sk_json_arr_begin(j, "ci95");
            sk_json_num(j, NULL, p.d.ci_lo);
            sk_json_num(j, NULL, p.d.ci_hi);
            sk_json_arr_end(j);
        }
        sk_json_int(j, "positive", p.pos);
        sk_json_int(j, "negative", p.neg);
        sk_json_int(j, "zero", p.zero);
        sk_json_int(j, "agree", p.agree);
        sk_json_obj_end(j);
    }
}

void sk_agg_json(sk_json *j, const sk_agg *a)
{
    static const char *const groups[][2] = {
        {"endpoint", "endpoints"}, {"method", "methods"}, {"continual", "continual"}, {"stage", "stage_seconds"}};
    const char *names[MAXN];
    sk_json_obj_begin(j, "aggregate");
    sk_json_int(j, "repetitions", a->n);
    sk_json_int(j, "complete", a->n_done);
    sk_json_str(j, "summary",
                "over the repetitions: n values, their mean, sample standard deviation (n - 1), min, "
                "max, the 95% t-interval of the mean (n >= 3), and each repetition's value (null: "
                "absent)");
    for (int g = 0; g < 4; g++) {
        int n = sk_agg_names(a, groups[g][0], names, MAXN);
        if (!n) continue;
        sk_json_obj_begin(j, groups[g][1]);
        for (int k = 0; k < n; k++) {
            if (g == 3) { /* stage_seconds: {stage: summary} */
                const sk_agg_row *w = sk_agg_find(a, "stage", names[k], "", "seconds");
                if (w) stats_json(j, names[k], a, w->v);
                continue;
            }
            sk_json_obj_begin(j, names[k]);
            name_json(j, a, groups[g][0], names[k]);
            sk_json_obj_end(j);
        }
        sk_json_obj_end(j);
    }
    const sk_agg_row *wall = sk_agg_find(a, "run", "", "", "wall_seconds");
    if (wall) stats_json(j, "wall_seconds", a, wall->v);
    sk_json_arr_begin(j, "paired"); /* every later method against every earlier one */
    for (int g = 1; g <= 2; g++) {
        int n = sk_agg_names(a, groups[g][0], names, MAXN);
        for (int m = 1; m < n; m++)
            for (int b = 0; b < m; b++)
                paired_json(j, a, groups[g][0], names[m], names[b]);
    }
    sk_json_arr_end(j);
    sk_json_obj_end(j);
}
