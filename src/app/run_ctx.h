/* run_ctx.h - the state of one `sinkrb run`, shared by the pipeline stages. */
#ifndef SK_APP_RUN_CTX_H
#define SK_APP_RUN_CTX_H

#include <stdio.h>

#include "app/app.h"
#include "cfg/cfg.h"
#include "io/csv.h"
#include "io/log.h"

#define SK_RUN_MAX_STAGES 32

typedef struct sk_run {
    const sk_app_opts *opts;
    sk_config cfg;
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

/* pipeline.c */
SK_MUST_CHECK sk_status sk_run_validate_inputs(sk_run *r); /* load data and existing weights; nothing written */
SK_MUST_CHECK sk_status sk_run_pipeline(sk_run *r);        /* the mode's work */
SK_MUST_CHECK sk_status sk_run_write_metrics(sk_run *r);   /* metrics.json, atomically */
/* A sweep's metrics.json: provenance and the items with their wall times. */
SK_MUST_CHECK sk_status sk_run_write_sweep_metrics(sk_run *r, const double *item_seconds);
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
SK_MUST_CHECK sk_status sk_run_sweep_rows(sk_run *r, sk_csv *csv, const char *label, const char *value, FILE *table);

#endif
