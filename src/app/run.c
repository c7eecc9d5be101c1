/* run.c - the `run`, `check` and `info` commands. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "app/run_ctx.h"
#include "core/blas.h"
#include "core/mem.h"
#include "core/timer.h"
#include "io/atomic.h"
#include "io/config.h"
#include "io/h5w.h"
#include "io/log.h"

sk_status sk_app_check(const sk_app_opts *o)
{
    sk_config cfg;
    sk_status st = sk_config_load(&cfg, o->config_path, o->sets, o->n_sets);
    if (st != SK_OK) return st;
    printf("# %s resolved by sinkrb %s\n", o->config_path, PACKAGE_VERSION);
    st = sk_config_write_yaml(&cfg, stdout);
    if (st == SK_OK && o->verify_spec) st = sk_run_verify_spec(&cfg, stderr);
    return st;
}

/* Stage timing for metrics.json. */
void sk_run_stage(sk_run *r, const char *name, double seconds)
{
    if (r->n_stages < SK_RUN_MAX_STAGES) {
        snprintf(r->stages[r->n_stages].name, sizeof r->stages[0].name, "%s", name);
        r->stages[r->n_stages].seconds = seconds;
        r->n_stages++;
    }
}

static sk_status write_config(const sk_run *r)
{
    char path[SK_PATH_MAX + 32];
    sk_afile f;
    sk_status st;
    snprintf(path, sizeof path, "%s/config.yaml", r->cfg.output);
    if ((st = sk_afile_open(&f, path)) != SK_OK) return st;
    fprintf(f.fp, "# resolved config written by sinkrb %s (sinkrb run accepts it unchanged)\n", PACKAGE_VERSION);
    if ((st = sk_config_write_yaml(&r->cfg, f.fp)) != SK_OK) {
        sk_afile_abort(&f);
        return sk_err_prefix(st, "%s: ", path);
    }
    return sk_afile_commit(&f);
}

sk_status sk_app_run(const sk_app_opts *o)
{
    sk_run *r = sk_alloc(sizeof *r);
    sk_status st;
    char path[SK_PATH_MAX + 32];
    if (!r) return SK_ENOMEM;
    r->opts = o;
    r->t_start = sk_now();
    sk_wall_iso8601(r->started, sizeof r->started);

    /* Everything that can be wrong with the config is found before any work. */
    st = sk_config_load(&r->cfg, o->config_path, o->sets, o->n_sets);
    if (st != SK_OK) goto cleanup;
    st = sk_run_validate_inputs(r);
    if (st != SK_OK) goto cleanup;

    sk_threads_set(r->cfg.threads);
    st = sk_mkdir_p(r->cfg.output);
    if (st != SK_OK) goto cleanup;
    snprintf(path, sizeof path, "%s/log.txt", r->cfg.output);
    st = sk_log_open(&r->log, path, o->quiet);
    if (st != SK_OK) goto cleanup;
    sk_log_file(r->log, "sinkrb %s run %s (mode %s, seed %lld, threads %d, BLAS %s kernel %s)",
                PACKAGE_VERSION, o->config_path, sk_mode_name(r->cfg.mode), r->cfg.seed, r->cfg.threads,
                sk_blas_name(), sk_blas_kernel());
    st = write_config(r);
    if (st != SK_OK) goto cleanup;

    st = sk_run_pipeline(r);
    if (st != SK_OK) goto cleanup;

    sk_wall_iso8601(r->finished, sizeof r->finished);
    st = sk_run_write_metrics(r);
    if (st == SK_OK) sk_log_out(r->log, "results: %s/", r->cfg.output);
cleanup:
    if (st != SK_OK && r->log) sk_log_file(r->log, "error: %s", sk_err_msg());
    sk_run_free_state(r);
    sk_log_close(r->log);
    sk_free(r);
    return st;
}

sk_status sk_app_info(const char *path)
{
    return sk_h5w_info(path, stdout);
}
