/* run_ctx.h - the state of one `sinkrb run`, shared by the pipeline stages. */
#ifndef SK_APP_RUN_CTX_H
#define SK_APP_RUN_CTX_H

#include <stdio.h>

#include "app/app.h"
#include "cfg/cfg.h"
#include "io/csv.h"
#include "io/json.h"
#include "io/log.h"

#define SK_RUN_MAX_STAGES 32

typedef struct sk_run {
    const sk_app_opts *opts;
    sk_config cfg;
    int cached[2]; /* endpoint e lives in the endpoint cache (app/endpoint.c) */
    sk_log *log;
    double t_start;
    char started[32], finished[32];
    int n_stages;
    struct {
        char name[48];
        double seconds;
    } stages[SK_RUN_MAX_STAGES];
    struct sk_pipe_state *state; /* pipeline-owned (data, models, results; app/state.h) */
    char **files;                /* the files this run wrote, in order (metrics.json lists them) */
    int n_files;
} sk_run;

/* run.c: one run of a resolved config (the whole config, or a unit of a
 * plan, tagged with its sweep item's label and value and its id). */
typedef struct {
    const char *label, *value, *id;
} sk_unit_tag;
SK_MUST_CHECK sk_status sk_run_one(const sk_app_opts *o, const sk_config *cfg, const sk_unit_tag *tag);
/* One run at a time per folder: an exclusive lock on <dir>/.sinkrb.lock
 * (*fd: close to release). */
SK_MUST_CHECK sk_status sk_run_lock(const char *dir, int *fd);
/* Remove an earlier run's results that this one would not overwrite. */
SK_MUST_CHECK sk_status sk_run_clear_stale(const sk_run *r);
/* <output>/config.yaml of c, atomically. */
SK_MUST_CHECK sk_status sk_run_write_config(sk_run *r, const sk_config *c);
/* SIGINT and SIGTERM remove unfinished files and say where the run stopped. */
void sk_run_catch_signals(void);

/* units.c: a sweep or repetitions (every unit), one unit (opts->unit), and
 * the cached endpoints of a config removed for --restart. */
SK_MUST_CHECK sk_status sk_run_plan(const sk_app_opts *o, const sk_config *cfg);
SK_MUST_CHECK sk_status sk_run_plan_unit(const sk_app_opts *o, const sk_config *cfg);
void sk_run_forget_cached(const sk_config *u);

/* pipeline.c */
SK_MUST_CHECK sk_status sk_run_validate_inputs(sk_run *r); /* load data and existing weights; nothing written */
SK_MUST_CHECK sk_status sk_run_pipeline(sk_run *r);        /* the mode's work */
SK_MUST_CHECK sk_status sk_run_write_metrics(sk_run *r);   /* metrics.json, atomically */
SK_MUST_CHECK sk_status sk_run_write_values(sk_run *r);    /* values.csv (app/values.c) */
/* One row of a values.csv, and the rows of a file (malloc'd; free()). */
typedef struct {
    char group[16], name[64], split[16], metric[40];
    double v;
} sk_value;
SK_MUST_CHECK sk_status sk_values_read(const char *path, sk_value **rows, int *n);
/* The value of a row (NAN when there is none). */
double sk_values_get(const sk_value *rows, int n, const char *group, const char *name, const char *split,
                     const char *metric);
/* <dir>/metrics.json (dir NULL: the run's output folder, listing the files
 * the run wrote): the provenance, then what `body` adds. */
SK_MUST_CHECK sk_status sk_run_write_metrics_body(sk_run *r, const char *dir,
                                                  void (*body)(sk_run *r, sk_json *j, void *ctx), void *ctx);
void sk_run_free_state(sk_run *r);
void sk_run_stage(sk_run *r, const char *name, double seconds);
/* Record that the run wrote `path` (relative to the output folder when inside it). */
void sk_run_wrote(sk_run *r, const char *path);
void sk_run_files_free(sk_run *r);
/* check --verify-spec: prove the configured model's permutation spec by
 * functional equivalence on real inputs; report to `out`. */
SK_MUST_CHECK sk_status sk_run_verify_spec(const sk_config *cfg, FILE *out);
/* Sweeps: the header of sweep.csv for a config's mode; one run's rows
 * (label and value of its item) into csv and, one line per method or
 * endpoint, into `table` (the summary printed at the end of the sweep; its
 * column header from sk_run_sweep_table_header, "" for none). */
const char *sk_run_sweep_header(const sk_config *c);
const char *sk_run_sweep_table_header(const sk_config *c);
SK_MUST_CHECK sk_status sk_run_sweep_rows(sk_run *r, sk_csv *csv, const char *label, const char *value, FILE *table,
                                          const char *table_label);

#endif
