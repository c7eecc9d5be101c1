/* aggregate.h - the results of an experiment's repetitions side by side
 * (private to src/app): every row of the units' values.csv with its value
 * in each repetition, and their summaries (core/stats.h) for metrics.json,
 * the tables and sweep.csv. */
#ifndef SK_APP_AGGREGATE_H
#define SK_APP_AGGREGATE_H

#include <stdio.h>

#include "app/run_ctx.h"
#include "core/stats.h"
#include "io/csv.h"
#include "io/json.h"
#include "io/log.h"

typedef struct {
    char group[16], name[64], split[16], metric[40]; /* as in values.csv */
    double *v;                                       /* (n): the value in each repetition, NAN where absent */
} sk_agg_row;

typedef struct {
    int n;      /* repetitions */
    int n_done; /* of which complete (read) */
    int *done;  /* (n) */
    int n_rows, cap;
    sk_agg_row *rows; /* in the order of their first appearance */
} sk_agg;

SK_MUST_CHECK sk_status sk_agg_init(sk_agg *a, int n);
/* Add repetition r from its folder's values.csv. */
SK_MUST_CHECK sk_status sk_agg_add(sk_agg *a, int r, const char *dir);
void sk_agg_free(sk_agg *a);
/* The row (NULL when no repetition has it). */
const sk_agg_row *sk_agg_find(const sk_agg *a, const char *group, const char *name, const char *split,
                              const char *metric);
/* The distinct names of a group, in order (at most max; returns how many). */
int sk_agg_names(const sk_agg *a, const char *group, const char **names, int max);

/* metrics.json's "aggregate" object (agg_report.c): the summary of every
 * row, grouped as endpoints / methods / continual / stages / run, and the
 * paired differences between every two methods (or continual methods). */
void sk_agg_json(sk_json *j, const sk_agg *a);
/* The summary on stdout: the mode's table of mean +- std [95% interval],
 * the main metric per repetition, and the paired differences against the
 * reference method (weight_matching when run, else naive; continual:
 * rebasin against the others). */
void sk_agg_print(sk_log *log, const sk_agg *a, const sk_config *c, const char *title);
/* The split the tables and the sweep summary show: test when evaluated. */
const char *sk_agg_split(const sk_config *c);
/* A sweep of repetitions: the header of its sweep.csv (mean and std per
 * metric), the item's rows, and its lines of the summary table. */
const char *sk_agg_sweep_header(const sk_config *c);
const char *sk_agg_sweep_table_header(const sk_config *c);
void sk_agg_sweep_rows(const sk_agg *a, const sk_config *c, sk_csv *csv, const char *label, const char *value,
                       FILE *table);

/* agg_plots.c: an experiment's mean curves with a band of -+ 1 std into
 * dir (lmc_loss.svg and lmc_accuracy.svg, or cl_accuracy.svg; `name` in
 * their titles), from the
 * folders of its n repetitions (NULL: not complete); recorded as written
 * by r when dir is r's output folder. A sweep's summary at path: each
 * item's mean of the mode's main metrics (the loss and accuracy barriers
 * on `split`; continual: ACC and forgetting; train: the endpoints' test
 * accuracy) against the swept value, with error bars of -+ 1 std. */
SK_MUST_CHECK sk_status sk_agg_plot_curves(sk_run *r, const char *dir, const sk_config *c, const char *name,
                                           const char *const *unit_dirs, int n);
SK_MUST_CHECK sk_status sk_agg_plot_sweep(const char *path, const sk_config *c, const sk_agg *items, const char *split);

#endif
