/* report.c - what a run writes and prints: sinkhorn_log.csv, interp.csv and
 * the plots, the stdout table, metrics.json (provenance and results), and a
 * sweep's rows, table and metrics.json. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/options.h"
#include "app/state.h"
#include "core/blas.h"
#include "core/timer.h"
#include "io/atomic.h"
#include "io/csv.h"
#include "io/json.h"
#include "io/svg.h"

/* sinkhorn_log.csv: method,epoch,soft_cost,hard_cost (epoch 0: before any
 * step), from the methods whose kind logs epochs. */
sk_status sk_report_sinkhorn_log(sk_run *r, sk_pipe_state *ps)
{
    int any = 0;
    char path[SK_PATH_MAX + 32];
    for (int k = 0; k < ps->n_methods; k++)
        any |= ps->meth[k].kind->epoch_rows != NULL;
    if (!any) return SK_OK;
    snprintf(path, sizeof path, "%s/sinkhorn_log.csv", r->cfg.output);
    sk_run_wrote(r, path);
    sk_csv *csv = sk_csv_open(path, "method,epoch,soft_cost,hard_cost");
    if (!csv) return SK_EIO;
    for (int k = 0; k < ps->n_methods; k++)
        if (ps->meth[k].kind->epoch_rows) ps->meth[k].kind->epoch_rows(csv, &ps->meth[k]);
    return sk_csv_close(csv);
}

sk_status sk_report_curves(sk_run *r, sk_pipe_state *ps)
{
    const sk_config *c = &r->cfg;
    int P = c->interpolation.points, S = c->interpolation.n_splits;
    char path[SK_PATH_MAX + 32];
    sk_status st;
    snprintf(path, sizeof path, "%s/interp.csv", c->output);
    sk_run_wrote(r, path);
    sk_csv *csv = sk_csv_open(path, "method,split,lambda,loss,accuracy");
    if (!csv) return SK_EIO;
    for (int k = 0; k < ps->n_methods; k++)
        for (int s = 0; s < S; s++)
            for (int i = 0; i < P; i++) {
                const sk_method_result *me = &ps->meth[k];
                char l[40], lo[40], ac[40] = "";
                sk_json_fmt_num(l, sizeof l, me->lambda[i]);
                sk_json_fmt_num(lo, sizeof lo, me->loss[s * P + i]);
                if (!ps->loss.regression) sk_json_fmt_num(ac, sizeof ac, me->acc[s * P + i]);
                sk_csv_row(csv, "%s,%s,%s,%s,%s", me->name, sk_split_name(c->interpolation.splits[s]), l, lo, ac);
            }
    st = sk_csv_close(csv);
    if (st != SK_OK) return st;

    /* One plot per quantity, one panel per split, one line per method. */
    for (int q = 0; q < (ps->loss.regression ? 1 : 2); q++) {
        sk_panel panels[2];
        sk_series series[2][SK_APP_MAX_METHODS];
        memset(series, 0, sizeof series);
        for (int s = 0; s < S; s++) {
            for (int k = 0; k < ps->n_methods; k++) {
                const sk_method_result *me = &ps->meth[k];
                series[s][k].label = me->label;
                series[s][k].n = P;
                series[s][k].x = me->lambda;
                series[s][k].y = (q == 0 ? me->loss : me->acc) + s * P;
            }
            memset(&panels[s], 0, sizeof panels[s]);
            panels[s].title = sk_split_name(c->interpolation.splits[s]);
            panels[s].xlabel = "\xce\xbb (interpolation weight)";
            panels[s].ylabel = q == 0 ? (ps->loss.regression ? "MSE loss" : "cross-entropy loss") : "accuracy";
            panels[s].n_series = ps->n_methods;
            panels[s].series = series[s];
            panels[s].x0_label = "A";
            panels[s].x1_label = "B";
        }
        char title[400];
        snprintf(title, sizeof title, "%s: %s along the linear path", ps->model_desc, q == 0 ? "loss" : "accuracy");
        snprintf(path, sizeof path, "%s/%s", c->output, q == 0 ? "lmc_loss.svg" : "lmc_accuracy.svg");
        sk_run_wrote(r, path);
        st = sk_svg_plot(path, title, S, panels, 480 * S + 40, 440);
        if (st != SK_OK) return st;
    }
    return SK_OK;
}

/* ---- the reference section: published values beside the run's ---------------------- */

/* Curve f (a method's loss or acc) of split index s at lambda = 1/2: the
 * grid point when interpolation.points is odd, else the mean of the two
 * points around it (the grid is symmetric about 1/2). */
static double at_half(const double *f, int s, int P)
{
    const double *g = f + (size_t)s * P;
    return P % 2 ? g[(P - 1) / 2] : 0.5 * (g[P / 2 - 1] + g[P / 2]);
}

/* The index in interpolation.splits of the reference's split, or -1. */
static int reference_split(const sk_config *c)
{
    for (int s = 0; s < c->interpolation.n_splits; s++)
        if (c->interpolation.splits[s] == c->reference.split) return s;
    return -1;
}

/* Endpoint e's own evaluation on split `sp` (train or test). */
static void endpoint_on(const sk_endpoint *ep, sk_split_id sp, double *loss, double *acc)
{
    *loss = sp == SK_SPLIT_TEST ? ep->test_loss : ep->train_loss;
    *acc = sp == SK_SPLIT_TEST ? ep->test_acc : ep->train_acc;
}

static void reference_row(sk_run *r, int reg, const char *name, double loss, double acc, int ref)
{
    const sk_config *c = &r->cfg;
    char rl[16] = "-", ra[16] = "-", line[256];
    if (ref >= 0 && c->reference.entries[ref].has_loss) snprintf(rl, sizeof rl, "%.4g", c->reference.entries[ref].loss);
    if (ref >= 0 && c->reference.entries[ref].has_acc)
        snprintf(ra, sizeof ra, "%.1f%%", 100 * c->reference.entries[ref].acc);
    int n = snprintf(line, sizeof line, "%-22s %10.4f %8s", name, loss, rl);
    if (!reg) snprintf(line + n, sizeof line - (size_t)n, " %10.2f%% %8s", 100 * acc, ra);
    sk_log_out(r->log, "%s", line);
}

/* The reference's values beside the run's own at lambda = 1/2 on its split:
 * the endpoints' own evaluation, then every method's curve. */
static void report_reference(sk_run *r, sk_pipe_state *ps)
{
    const sk_config *c = &r->cfg;
    int P = c->interpolation.points, s = reference_split(c), reg = ps->loss.regression;
    const char *split = sk_split_name(c->reference.split);
    if (!c->reference.present || ps->n_methods == 0) return;
    sk_log_out(r->log, "%s", "");
    if (s < 0) {
        sk_log_out(r->log, "reference (%s split) not shown: interpolation.splits does not evaluate %s", split, split);
        return;
    }
    sk_log_out(r->log, "at lambda = 1/2 on the %s split, beside the reference%s%s%s:", split,
               c->reference.source[0] ? " (" : "", c->reference.source, c->reference.source[0] ? ")" : "");
    if (reg)
        sk_log_out(r->log, "%-22s %10s %8s", "method", "loss", "paper");
    else
        sk_log_out(r->log, "%-22s %10s %8s %11s %8s", "method", "loss", "paper", "accuracy", "paper");
    int ep_ref = sk_config_reference_find(c, "endpoints");
    for (int e = 0; e < 2; e++) {
        double l, a;
        endpoint_on(&ps->ep[e], c->reference.split, &l, &a);
        reference_row(r, reg, e ? "model b" : "model a", l, a, ep_ref);
    }
    for (int m = 0; m < ps->n_methods; m++) {
        const sk_method_result *me = &ps->meth[m];
        if (!me->loss) continue;
        reference_row(r, reg, me->name, at_half(me->loss, s, P), reg ? NAN : at_half(me->acc, s, P),
                      sk_config_reference_find(c, me->name));
    }
}

/* metrics.json: entry `ref` of the reference (loss, accuracy as given), and
 * the run's own values at lambda = 1/2 when measured (have_run). */
static void reference_json(sk_json *j, const sk_config *c, int ref, int have_run, double loss, double acc, int reg)
{
    if (ref < 0) return;
    sk_json_obj_begin(j, "reference");
    if (c->reference.entries[ref].has_loss) sk_json_num(j, "loss", c->reference.entries[ref].loss);
    if (c->reference.entries[ref].has_acc) sk_json_num(j, "accuracy", c->reference.entries[ref].acc);
    if (have_run) {
        sk_json_num(j, "run_loss", loss);
        if (!reg) sk_json_num(j, "run_accuracy", acc);
    }
    sk_json_obj_end(j);
}

void sk_report_summary(sk_run *r, sk_pipe_state *ps)
{
    const sk_config *c = &r->cfg;
    int P = c->interpolation.points, S = c->interpolation.n_splits, mid = (P - 1) / 2;
    char line[512];
    int w = 22; /* the method column: the longest name (+repair curves are longer) */
    for (int m = 0; m < ps->n_methods; m++)
        if ((int)strlen(ps->meth[m].name) > w) w = (int)strlen(ps->meth[m].name);
    sk_log_out(r->log, "%s", "");
    int n = snprintf(line, sizeof line, "%-*s", w, "method");
    for (int s = 0; s < S; s++) {
        char col[64];
        snprintf(col, sizeof col, "barrier %s", sk_split_name(c->interpolation.splits[s]));
        n += snprintf(line + n, sizeof line - (size_t)n, " %14s", col);
    }
    for (int s = 0; s < S && !ps->loss.regression; s++) {
        char col[64];
        snprintf(col, sizeof col, "acc drop %s", sk_split_name(c->interpolation.splits[s]));
        n += snprintf(line + n, sizeof line - (size_t)n, " %14s", col);
    }
    for (int s = 0; s < S && !ps->loss.regression; s++) {
        char col[64];
        snprintf(col, sizeof col, "acc@%.2f %s", ps->meth[0].lambda ? ps->meth[0].lambda[mid] : 0.5,
                 sk_split_name(c->interpolation.splits[s]));
        n += snprintf(line + n, sizeof line - (size_t)n, " %15s", col);
    }
    sk_log_out(r->log, "%s", line);
    for (int m = 0; m < ps->n_methods; m++) {
        const sk_method_result *me = &ps->meth[m];
        n = snprintf(line, sizeof line, "%-*s", w, me->name);
        for (int s = 0; s < S; s++)
            n += snprintf(line + n, sizeof line - (size_t)n, " %14.4f", me->bl[s].barrier);
        for (int s = 0; s < S && !ps->loss.regression; s++)
            n += snprintf(line + n, sizeof line - (size_t)n, " %13.2f%%", 100 * me->ba[s].barrier);
        for (int s = 0; s < S && !ps->loss.regression; s++)
            n += snprintf(line + n, sizeof line - (size_t)n, " %14.2f%%", 100 * me->acc[s * P + mid]);
        sk_log_out(r->log, "%s", line);
    }
    report_reference(r, ps);
    /* With BatchNorm statistics re-estimated along the path, the curve's ends
     * (what the barriers are measured against) are not the endpoints' own
     * evaluation: show both. */
    if (!ps->m || !sk_options_bn_reset(c, sk_model_has_batchnorm(ps->m)) || ps->n_methods == 0) return;
    const sk_method_result *nv = &ps->meth[0];
    for (int s = 0; s < S; s++) {
        int test = c->interpolation.splits[s] == SK_SPLIT_TEST;
        const double own[2][2] = {
            {test ? ps->ep[0].test_loss : ps->ep[0].train_loss, test ? ps->ep[0].test_acc : ps->ep[0].train_acc},
            {test ? ps->ep[1].test_loss : ps->ep[1].train_loss, test ? ps->ep[1].test_acc : ps->ep[1].train_acc}};
        for (int e = 0; e < 2; e++) {
            int i = s * P + (e ? P - 1 : 0);
            if (ps->loss.regression)
                sk_log_out(r->log, "%s: model %c on the curve (BatchNorm re-estimated) loss %.4f, own loss %.4f",
                           sk_split_name(c->interpolation.splits[s]), 'a' + e, nv->loss[i], own[e][0]);
            else
                sk_log_out(r->log,
                           "%s: model %c on the curve (BatchNorm re-estimated) loss %.4f acc %.2f%%, own loss %.4f "
                           "acc %.2f%%",
                           sk_split_name(c->interpolation.splits[s]), 'a' + e, nv->loss[i], 100 * nv->acc[i], own[e][0],
                           100 * own[e][1]);
        }
    }
}

/* ---- metrics.json ----------------------------------------------------------------- */

static void barrier_json(sk_json *j, const char *key, const sk_barrier *b)
{
    sk_json_obj_begin(j, key);
    sk_json_num(j, "barrier", b->barrier);
    sk_json_num(j, "barrier_mid", b->barrier_mid);
    sk_json_num(j, "auc", b->auc);
    sk_json_obj_end(j);
}

static void pipeline_results_json(sk_run *r, sk_json *j)
{
    sk_pipe_state *ps = r->state;
    const sk_config *c = &r->cfg;
    if (!ps || !ps->ds_loaded) return;
    sk_json_obj_begin(j, "dataset");
    sk_json_str(j, "name", sk_cfg_choice("dataset.name", c->dataset.name));
    sk_json_str(j, "path", c->dataset.path);
    sk_json_str(j, "normalize", sk_normalize_names[ps->ds.normalize]);
    if (ps->ds.train.x) { /* images: the per-channel statistics the batches use */
        double m[3], sd[3];
        int ch = ps->ds.train.c < 3 ? ps->ds.train.c : 3;
        for (int i = 0; i < ch; i++)
            sk_dataset_norm_stats(&ps->ds, i, &m[i], &sd[i]);
        sk_json_arr_begin(j, "mean");
        for (int i = 0; i < ch; i++)
            sk_json_num(j, NULL, m[i]);
        sk_json_arr_end(j);
        sk_json_arr_begin(j, "std");
        for (int i = 0; i < ch; i++)
            sk_json_num(j, NULL, sd[i]);
        sk_json_arr_end(j);
    }
    sk_json_int(j, "train_examples", ps->ds.train.n);
    if (ps->ds.val.n > 0) {
        sk_json_int(j, "validation_examples", ps->ds.val.n);
        sk_json_int(j, "split_seed", c->dataset.split_seed);
    }
    sk_json_int(j, "test_examples", ps->ds.test.n);
    sk_json_obj_end(j);
    sk_json_obj_begin(j, "model");
    sk_json_str(j, "description", ps->model_desc);
    if (ps->m) sk_json_int(j, "parameters", sk_model_n_learnable(ps->m));
    sk_json_obj_end(j);
    if (ps->cl) {
        sk_cl_results_json(ps->cl, j);
        return;
    }
    int reg = ps->loss.regression;
    if (c->reference.present) {
        sk_json_obj_begin(j, "reference");
        sk_json_str(j, "source", c->reference.source);
        sk_json_str(j, "split", sk_split_name(c->reference.split));
        sk_json_num(j, "lambda", 0.5);
        sk_json_obj_end(j);
    }
    sk_json_obj_begin(j, "endpoints");
    for (int e = 0; e < 2; e++) {
        const sk_endpoint *ep = &ps->ep[e];
        sk_json_obj_begin(j, e ? "b" : "a");
        sk_json_str(j, "weights", c->models[e].weights);
        sk_json_int(j, "seed", c->models[e].seed);
        sk_json_str(j, "source", sk_endpoint_source(ep)); /* loaded, trained, initialisation, planted */
        sk_json_bool(j, "trained", ep->trained);
        sk_json_str(j, "fingerprint", ep->fingerprint[0] ? ep->fingerprint : NULL);
        if (r->cached[e]) sk_json_bool(j, "cached", 1);
        if (ep->action == SK_EP_INIT) sk_json_bool(j, "untrained_initialisation", 1);
        if (e == 1 && ps->planted) {
            sk_json_bool(j, "planted", 1);
            sk_json_num(j, "noise", c->models[1].noise);
        }
        if (ep->selected_epoch > 0) sk_json_int(j, "selected_epoch", ep->selected_epoch);
        if (ep->trained) {
            sk_json_int(j, "epochs", ep->epochs);
            sk_json_str(j, "select", sk_cfg_choice("train.select", c->train.select));
            if (c->model.arch == SK_ARCH_MLP) sk_json_num(j, "dropout", sk_config_endpoint_dropout(c, e));
            if (!isnan(ep->selected_val_loss)) sk_json_num(j, "selected_validation_loss", ep->selected_val_loss);
            sk_json_num(j, "train_seconds", ep->seconds);
            sk_json_num(j, "samples_per_second", ep->samples_per_s);
        }
        sk_json_num(j, "train_loss", ep->train_loss);
        if (ps->ds.val.n > 0) sk_json_num(j, "validation_loss", ep->val_loss);
        sk_json_num(j, "test_loss", ep->test_loss);
        if (!ps->loss.regression) {
            sk_json_num(j, "train_accuracy", ep->train_acc);
            if (ps->ds.val.n > 0) sk_json_num(j, "validation_accuracy", ep->val_acc);
            sk_json_num(j, "test_accuracy", ep->test_acc);
        }
        if (ps->n_methods > 0 && ps->meth[0].loss) {
            /* The endpoint as the curve evaluates it (lambda 0 for A, 1 for
             * B; with BatchNorm re-estimated when bn_reset applies): the
             * barriers are measured against these. */
            int P = c->interpolation.points;
            sk_json_obj_begin(j, "on_curve");
            for (int s = 0; s < c->interpolation.n_splits; s++) {
                int i = s * P + (e ? P - 1 : 0);
                sk_json_obj_begin(j, sk_split_name(c->interpolation.splits[s]));
                sk_json_num(j, "loss", ps->meth[0].loss[i]);
                if (!ps->loss.regression) sk_json_num(j, "accuracy", ps->meth[0].acc[i]);
                sk_json_obj_end(j);
            }
            sk_json_obj_end(j);
        }
        double el, ea;
        endpoint_on(ep, c->reference.split, &el, &ea);
        reference_json(j, c, sk_config_reference_find(c, "endpoints"), 1, el, ea, reg);
        sk_json_obj_end(j);
    }
    sk_json_obj_end(j);
    if (ps->n_methods == 0) return;
    int P = c->interpolation.points, mid = (P - 1) / 2;
    sk_json_obj_begin(j, "methods");
    for (int k = 0; k < ps->n_methods; k++) {
        const sk_method_result *me = &ps->meth[k];
        sk_json_obj_begin(j, me->name);
        int aligned = !sk_method_is_naive(me);
        if (aligned) sk_json_num(j, "seconds", me->seconds);
        if (me->kind->json) me->kind->json(j, me);
        if (ps->planted && aligned) {
            sk_json_obj_begin(j, "recovery");
            sk_json_int(j, "units", me->units);
            sk_json_int(j, "units_matched", me->matched);
            sk_json_num(j, "rate", me->units ? (double)me->matched / (double)me->units : 0.0);
            sk_json_bool(j, "exact", me->matched == me->units);
            sk_json_obj_end(j);
        }
        for (int s = 0; s < c->interpolation.n_splits && me->loss; s++) {
            sk_json_obj_begin(j, sk_split_name(c->interpolation.splits[s]));
            barrier_json(j, "loss", &me->bl[s]);
            if (!ps->loss.regression) barrier_json(j, "accuracy", &me->ba[s]);
            sk_json_num(j, "midpoint_lambda", me->lambda[mid]);
            sk_json_num(j, "midpoint_loss", me->loss[s * P + mid]);
            if (!ps->loss.regression) sk_json_num(j, "midpoint_accuracy", me->acc[s * P + mid]);
            sk_json_obj_end(j);
        }
        int rs = reference_split(c);
        reference_json(j, c, sk_config_reference_find(c, me->name), rs >= 0 && me->loss,
                       rs >= 0 && me->loss ? at_half(me->loss, rs, P) : NAN,
                       rs >= 0 && me->loss && !reg ? at_half(me->acc, rs, P) : NAN, reg);
        sk_json_obj_end(j);
    }
    sk_json_obj_end(j);
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
    for (int i = 0; i < r->n_stages; i++)
        sk_json_num(j, r->stages[i].name, r->stages[i].seconds);
    sk_json_obj_end(j);
}

sk_status sk_run_write_metrics_body(sk_run *r, const char *dir, void (*body)(sk_run *r, sk_json *j, void *ctx),
                                    void *ctx)
{
    char path[SK_PATH_MAX + 32];
    sk_json *j = sk_json_new();
    sk_status st;
    if (!j) return SK_ENOMEM;
    snprintf(path, sizeof path, "%s/metrics.json", dir ? dir : r->cfg.output);
    if (!dir) sk_run_wrote(r, path);
    sk_json_obj_begin(j, NULL);
    write_provenance(r, j);
    body(r, j, ctx);
    sk_json_arr_begin(j, "files"); /* every file this run wrote, relative to its folder */
    for (int i = 0; i < r->n_files && !dir; i++)
        sk_json_str(j, NULL, r->files[i]);
    sk_json_arr_end(j);
    sk_json_obj_end(j);
    st = sk_json_write_file(j, path);
    sk_json_free(j);
    return st;
}

static void results_body(sk_run *r, sk_json *j, void *unused)
{
    (void)unused;
    pipeline_results_json(r, j);
}

sk_status sk_run_write_metrics(sk_run *r)
{
    return sk_run_write_metrics_body(r, NULL, results_body, NULL);
}

/* ---- sweep summaries ------------------------------------------------------------ */

const char *sk_run_sweep_header(const sk_config *c)
{
    if (c->mode == SK_MODE_CONTINUAL) return "label,value,method,acc,forgetting,bwt,seconds";
    if (c->mode == SK_MODE_TRAIN)
        return "label,value,model,train_loss,train_accuracy,test_loss,test_accuracy,train_seconds";
    return "label,value,method,split,loss_barrier,loss_barrier_mid,loss_auc,accuracy_barrier,"
           "accuracy_barrier_mid,accuracy_auc,midpoint_loss,midpoint_accuracy,recovery_rate,seconds,"
           "sinkhorn_steps,sinkhorn_best_epoch,a_test_accuracy,b_test_accuracy";
}

/* A number for a CSV cell: shortest round-trip text, "" when absent (NaN). */
static const char *cell(char *buf, size_t n, double v)
{
    if (isnan(v))
        buf[0] = '\0';
    else
        sk_json_fmt_num(buf, n, v);
    return buf;
}

sk_status sk_run_sweep_rows(sk_run *r, sk_csv *csv, const char *label, const char *value, FILE *table,
                            const char *table_label)
{
    sk_pipe_state *ps = r->state;
    const sk_config *c = &r->cfg;
    char b[14][40];
    char lab[80], val[SK_CFG_SWEEP_TEXT + 8];
    if (!ps) return SK_OK;
    snprintf(lab, sizeof lab, "%s", sk_csv_q(csv, label));
    snprintf(val, sizeof val, "%s", sk_csv_q(csv, value));
    if (ps->cl) {
        int T = sk_cl_results_tasks(ps->cl);
        for (int k = 0; k < sk_cl_results_n_methods(ps->cl); k++) {
            const double *a = sk_cl_results_matrix(ps->cl, k);
            double acc = sk_cl_acc(a, T), f = sk_cl_forgetting(a, T), bwt = sk_cl_bwt(a, T);
            const char *m = sk_cl_results_method(ps->cl, k);
            sk_csv_row(csv, "%s,%s,%s,%s,%s,%s,%s", lab, val, m, cell(b[0], 40, acc), cell(b[1], 40, f),
                       cell(b[2], 40, bwt), cell(b[3], 40, sk_cl_results_seconds(ps->cl, k)));
            fprintf(table, "%-16s %-22s ACC %6.2f%%  forgetting %6.2f%%  BWT %7.2f%%  %8.1f s\n", table_label, m,
                    100 * acc, 100 * f, 100 * bwt, sk_cl_results_seconds(ps->cl, k));
        }
        return SK_OK;
    }
    if (c->mode == SK_MODE_TRAIN) {
        for (int e = 0; e < 2; e++) {
            const sk_endpoint *ep = &ps->ep[e];
            sk_csv_row(csv, "%s,%s,%c,%s,%s,%s,%s,%s", lab, val, 'a' + e, cell(b[0], 40, ep->train_loss),
                       cell(b[1], 40, ps->loss.regression ? NAN : ep->train_acc), cell(b[2], 40, ep->test_loss),
                       cell(b[3], 40, ps->loss.regression ? NAN : ep->test_acc),
                       cell(b[4], 40, ep->trained ? ep->seconds : NAN));
            fprintf(table, "%-16s model %c   train loss %.4f acc %6.2f%%   test loss %.4f acc %6.2f%%\n", table_label,
                    'a' + e, ep->train_loss, 100 * ep->train_acc, ep->test_loss, 100 * ep->test_acc);
        }
        return SK_OK;
    }
    int P = c->interpolation.points, S = c->interpolation.n_splits, mid = (P - 1) / 2;
    int show = 0; /* the split of the table: test when evaluated */
    for (int s = 0; s < S; s++)
        if (c->interpolation.splits[s] == SK_SPLIT_TEST) show = s;
    for (int k = 0; k < ps->n_methods; k++) {
        const sk_method_result *me = &ps->meth[k];
        int aligned = !sk_method_is_naive(me);
        double rec = ps->planted && aligned && me->units ? (double)me->matched / (double)me->units : NAN;
        double steps = NAN, best_epoch = NAN;
        if (me->kind->csv) me->kind->csv(me, &steps, &best_epoch);
        for (int s = 0; s < S && me->loss; s++) {
            int reg = ps->loss.regression;
            sk_csv_row(csv, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s", lab, val, me->name,
                       sk_split_name(c->interpolation.splits[s]), cell(b[0], 40, me->bl[s].barrier),
                       cell(b[1], 40, me->bl[s].barrier_mid), cell(b[2], 40, me->bl[s].auc),
                       cell(b[3], 40, reg ? NAN : me->ba[s].barrier), cell(b[4], 40, reg ? NAN : me->ba[s].barrier_mid),
                       cell(b[5], 40, reg ? NAN : me->ba[s].auc), cell(b[6], 40, me->loss[s * P + mid]),
                       cell(b[7], 40, reg ? NAN : me->acc[s * P + mid]), cell(b[8], 40, rec),
                       cell(b[9], 40, aligned ? me->seconds : NAN), cell(b[10], 40, steps), cell(b[11], 40, best_epoch),
                       reg ? "" : cell(b[12], 40, ps->ep[0].test_acc), reg ? "" : cell(b[13], 40, ps->ep[1].test_acc));
        }
        char recs[32] = "-", accs[32] = "-", drop[32] = "-";
        if (!isnan(rec)) snprintf(recs, sizeof recs, "%.2f%%", 100 * rec);
        if (me->loss && !ps->loss.regression) {
            snprintf(accs, sizeof accs, "%.2f%%", 100 * me->acc[show * P + mid]);
            snprintf(drop, sizeof drop, "%.2f%%", 100 * me->ba[show].barrier);
        }
        fprintf(table, "%-16s %-22s %10.4f %10.4f %10s %10s %10s %9.2f\n", table_label, me->name,
                me->loss ? me->bl[show].barrier : NAN, me->loss ? me->bl[show].auc : NAN, drop, accs, recs,
                aligned ? me->seconds : 0.0);
    }
    return SK_OK;
}

const char *sk_run_sweep_table_header(const sk_config *c)
{
    if (c->mode == SK_MODE_CONTINUAL || c->mode == SK_MODE_TRAIN) return "";
    return "label            method                    barrier        auc   acc drop    acc@mid   recovery   seconds";
}
