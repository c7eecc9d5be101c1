/* pipeline.c - the stages of a run: inputs, the mode's work, metrics. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "app/run_ctx.h"
#include "core/blas.h"
#include "core/timer.h"
#include "io/atomic.h"
#include "io/json.h"

/* The mode's results section of metrics.json. */
static void pipeline_results_json(sk_run *r, sk_json *j)
{
    (void)r;
    (void)j;
}

sk_status sk_run_validate_inputs(sk_run *r)
{
    (void)r;
    return SK_OK;
}

sk_status sk_run_pipeline(sk_run *r)
{
    (void)r;
    return SK_OK;
}

static void write_provenance(sk_run *r, sk_json *j)
{
    sk_json_str(j, "format", "sinkrb-metrics");
    sk_json_int(j, "format_version", 1);
    sk_json_str(j, "sinkrb_version", PACKAGE_VERSION);
    sk_json_str(j, "config", r->opts->config_path);
    sk_json_str(j, "name", r->cfg.name);
    sk_json_str(j, "mode", sk_mode_name(r->cfg.mode));
    sk_json_int(j, "seed", r->cfg.seed);
    sk_json_int(j, "threads", r->cfg.threads);
    sk_json_obj_begin(j, "blas");
    sk_json_str(j, "library", sk_blas_name());
    sk_json_str(j, "kernel", sk_blas_kernel());
    sk_json_str(j, "kernel_selection", sk_blas_kernel_how());
    sk_json_obj_end(j);
#ifdef _OPENMP
    sk_json_bool(j, "openmp", 1);
#else
    sk_json_bool(j, "openmp", 0);
#endif
    sk_json_str(j, "started", r->started);
    sk_json_str(j, "finished", r->finished);
    sk_json_num(j, "wall_seconds", sk_now() - r->t_start);
    sk_json_obj_begin(j, "stage_seconds");
    for (int i = 0; i < r->n_stages; i++) sk_json_num(j, r->stages[i].name, r->stages[i].seconds);
    sk_json_obj_end(j);
}

sk_status sk_run_write_metrics(sk_run *r)
{
    char path[SK_PATH_MAX + 32];
    sk_json *j = sk_json_new();
    sk_status st;
    if (!j) return SK_ENOMEM;
    sk_json_obj_begin(j, NULL);
    write_provenance(r, j);
    pipeline_results_json(r, j);
    sk_json_obj_end(j);
    snprintf(path, sizeof path, "%s/metrics.json", r->cfg.output);
    st = sk_json_write_file(j, path);
    sk_json_free(j);
    return st;
}

void sk_run_free_state(sk_run *r) { (void)r; }
