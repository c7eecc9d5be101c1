/* pipeline.c - the order of the stages of a run: inputs (data, model,
 * existing weights), the endpoints, the alignment methods, the linear-mode-
 * connectivity curves, and the results files; or the continual mode. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/options.h"
#include "app/state.h"
#include "core/mem.h"
#include "core/timer.h"
#include "io/atomic.h"

sk_status sk_run_validate_inputs(sk_run *r)
{
    const sk_config *c = &r->cfg;
    sk_pipe_state *ps = sk_alloc(sizeof *ps);
    sk_data_opts o;
    sk_status st;
    double t0 = sk_now();
    if (!ps) return SK_ENOMEM;
    r->state = ps;
    /* before any data is read or endpoint trained: the output folder must be usable */
    if ((st = sk_dir_check(c->output)) != SK_OK) return st;
    sk_options_data(c, &o);
    if ((st = sk_app_fetch_missing(c)) != SK_OK) return st;
    st = sk_dataset_load(&ps->ds, &o);
    if (st != SK_OK) return st;
    ps->ds_loaded = 1;
    st = sk_options_model(c, &ps->ds, &ps->ms);
    if (st != SK_OK) return st;
    st = sk_model_new(&ps->ms, sk_options_model_batch(c), &ps->m);
    if (st != SK_OK) return st;
    char *d = sk_model_describe(&ps->ms);
    snprintf(ps->model_desc, sizeof ps->model_desc, "%s", d ? d : "model");
    free(d);
    ps->loss.regression = ps->ds.train.n_classes == 0;
    /* continual: no endpoints, every method trains its own model */
    if (c->mode != SK_MODE_CONTINUAL && (st = sk_endpoints_load(r, ps)) != SK_OK) return st;
    sk_run_stage(r, "load", sk_now() - t0);
    return SK_OK;
}

static sk_status run_continual(sk_run *r, sk_pipe_state *ps)
{
    sk_cl_opts o;
    char ckpt[SK_PATH_MAX + 32], fp[24];
    double t0 = sk_now();
    sk_options_continual(&r->cfg, &o);
    sk_status st = sk_cl_ckpt_begin(r, &o, ckpt, sizeof ckpt, fp, sizeof fp);
    if (st == SK_OK) st = sk_continual_run(&o, &ps->ds, &ps->ms, r->log, r->opts->progress, &ps->cl);
    if (st != SK_OK) return st;
    sk_run_stage(r, "continual", sk_now() - t0);
    char path[SK_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/accuracy_matrix.csv", r->cfg.output);
    sk_run_wrote(r, path);
    snprintf(path, sizeof path, "%s/cl_accuracy.svg", r->cfg.output);
    sk_run_wrote(r, path);
    st = sk_cl_write_outputs(ps->cl, r->cfg.output);
    if (st != SK_OK) return st;
    unlink(ckpt); /* the results are saved: the checkpoint has served (one left behind would only resume at the end) */
    sk_cl_print_summary(ps->cl, r->log);
    return SK_OK;
}

sk_status sk_run_pipeline(sk_run *r)
{
    sk_pipe_state *ps = r->state;
    sk_status st;
    if (r->cfg.mode == SK_MODE_CONTINUAL) return run_continual(r, ps);
    if ((st = sk_endpoints_make(r, ps)) != SK_OK) return st;
    if ((st = sk_endpoints_evaluate(r, ps)) != SK_OK) return st;
    if (r->cfg.mode == SK_MODE_TRAIN) return SK_OK;
    if ((st = sk_align_all(r, ps)) != SK_OK) return st;
    if ((st = sk_report_sinkhorn_log(r, ps)) != SK_OK) return st;
    if ((st = sk_interp_all(r, ps)) != SK_OK) return st;
    if ((st = sk_report_curves(r, ps)) != SK_OK) return st;
    sk_report_summary(r, ps);
    return SK_OK;
}

void sk_run_free_state(sk_run *r)
{
    sk_pipe_state *ps = r->state;
    if (!ps) return;
    for (int k = 0; k < ps->n_methods; k++)
        sk_method_result_free(ps, &ps->meth[k]);
    for (int e = 0; e < 2; e++)
        sk_tset_free(ps->ep[e].theta);
    sk_cl_results_free(ps->cl);
    if (ps->planted) sk_perms_free(ps->spec, ps->planted);
    sk_perm_spec_free(ps->spec);
    sk_model_free(ps->m);
    sk_model_free(ps->m2);
    if (ps->ds_loaded) sk_dataset_free(&ps->ds);
    sk_free(ps);
    r->state = NULL;
}
