/* values.c - values.csv: every scalar result of one run in long format
 * (group,name,split,metric,value), the input of the aggregates over
 * repetitions (app/aggregate.c). Rows:
 *   endpoint,<a|b>,<train|validation|test>,<loss|accuracy>
 *   endpoint,<a|b>,,<train_seconds|samples_per_second|selected_epoch>
 *   method,<name>,<split>,<loss_barrier|loss_barrier_mid|loss_auc|accuracy_barrier|
 *                          accuracy_barrier_mid|accuracy_auc|midpoint_loss|midpoint_accuracy>
 *   method,<name>,,<seconds|recovery_rate|sinkhorn_steps|sinkhorn_best_epoch>
 *   continual,<method>,,<acc|forgetting|bwt|seconds>
 *   stage,<stage>,,seconds
 *   run,,,wall_seconds
 * Values are the shortest text that reads back as the same double; absent
 * values (NaN) have no row. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/state.h"
#include "core/timer.h"
#include "io/atomic.h"
#include "io/json.h"

static void row(sk_csv *csv, const char *group, const char *name, const char *split, const char *metric, double v)
{
    char b[40];
    if (isnan(v)) return;
    sk_csv_row(csv, "%s,%s,%s,%s,%s", group, sk_csv_q(csv, name), split, metric, sk_json_fmt_num(b, sizeof b, v));
}

static void endpoint_rows(sk_csv *csv, const sk_pipe_state *ps)
{
    int reg = ps->loss.regression;
    for (int e = 0; e < 2; e++) {
        const sk_endpoint *ep = &ps->ep[e];
        const char *n = e ? "b" : "a";
        row(csv, "endpoint", n, "train", "loss", ep->train_loss);
        if (!reg) row(csv, "endpoint", n, "train", "accuracy", ep->train_acc);
        if (ps->ds.val.n > 0) {
            row(csv, "endpoint", n, "validation", "loss", ep->val_loss);
            if (!reg) row(csv, "endpoint", n, "validation", "accuracy", ep->val_acc);
        }
        row(csv, "endpoint", n, "test", "loss", ep->test_loss);
        if (!reg) row(csv, "endpoint", n, "test", "accuracy", ep->test_acc);
        if (ep->trained) {
            row(csv, "endpoint", n, "", "train_seconds", ep->seconds);
            row(csv, "endpoint", n, "", "samples_per_second", ep->samples_per_s);
        }
        if (ep->selected_epoch > 0) row(csv, "endpoint", n, "", "selected_epoch", ep->selected_epoch);
    }
}

static void method_rows(sk_csv *csv, const sk_config *c, const sk_pipe_state *ps)
{
    int P = c->interpolation.points, mid = (P - 1) / 2, reg = ps->loss.regression;
    for (int k = 0; k < ps->n_methods; k++) {
        const sk_method_result *me = &ps->meth[k];
        int aligned = !sk_method_is_naive(me);
        double steps = NAN, best_epoch = NAN;
        if (me->kind->csv) me->kind->csv(me, &steps, &best_epoch);
        if (aligned) row(csv, "method", me->name, "", "seconds", me->seconds);
        if (ps->planted && aligned && me->units)
            row(csv, "method", me->name, "", "recovery_rate", (double)me->matched / (double)me->units);
        row(csv, "method", me->name, "", "sinkhorn_steps", steps);
        row(csv, "method", me->name, "", "sinkhorn_best_epoch", best_epoch);
        for (int s = 0; s < c->interpolation.n_splits && me->loss; s++) {
            const char *sp = sk_split_name(c->interpolation.splits[s]);
            row(csv, "method", me->name, sp, "loss_barrier", me->bl[s].barrier);
            row(csv, "method", me->name, sp, "loss_barrier_mid", me->bl[s].barrier_mid);
            row(csv, "method", me->name, sp, "loss_auc", me->bl[s].auc);
            if (!reg) {
                row(csv, "method", me->name, sp, "accuracy_barrier", me->ba[s].barrier);
                row(csv, "method", me->name, sp, "accuracy_barrier_mid", me->ba[s].barrier_mid);
                row(csv, "method", me->name, sp, "accuracy_auc", me->ba[s].auc);
            }
            row(csv, "method", me->name, sp, "midpoint_loss", me->loss[s * P + mid]);
            if (!reg) row(csv, "method", me->name, sp, "midpoint_accuracy", me->acc[s * P + mid]);
        }
    }
}

static void continual_rows(sk_csv *csv, const sk_cl_results *cl)
{
    int T = sk_cl_results_tasks(cl);
    for (int k = 0; k < sk_cl_results_n_methods(cl); k++) {
        const double *a = sk_cl_results_matrix(cl, k);
        const char *m = sk_cl_results_method(cl, k);
        row(csv, "continual", m, "", "acc", sk_cl_acc(a, T));
        row(csv, "continual", m, "", "forgetting", sk_cl_forgetting(a, T));
        row(csv, "continual", m, "", "bwt", sk_cl_bwt(a, T));
        row(csv, "continual", m, "", "seconds", sk_cl_results_seconds(cl, k));
    }
}

sk_status sk_run_write_values(sk_run *r)
{
    char path[SK_PATH_MAX + 32];
    const sk_pipe_state *ps = r->state;
    snprintf(path, sizeof path, "%s/values.csv", r->cfg.output);
    sk_run_wrote(r, path);
    sk_csv *csv = sk_csv_open(path, "group,name,split,metric,value");
    if (!csv) return SK_EIO;
    if (ps && ps->cl) {
        continual_rows(csv, ps->cl);
    } else if (ps) {
        endpoint_rows(csv, ps);
        method_rows(csv, &r->cfg, ps);
    }
    for (int i = 0; i < r->n_stages; i++)
        row(csv, "stage", r->stages[i].name, "", "seconds", r->stages[i].seconds);
    row(csv, "run", "", "", "wall_seconds", sk_now() - r->t_start);
    return sk_csv_close(csv);
}

/* One CSV field of `line` from *p (RFC 4180 quotes), into buf; advances *p
 * past its comma. */
static void field(const char **p, char *buf, size_t n)
{
    const char *s = *p;
    size_t j = 0;
    if (*s == '"') {
        for (s++; *s && !(*s == '"' && s[1] != '"'); s++) {
            if (*s == '"') s++;
            if (j + 1 < n) buf[j++] = *s;
        }
        if (*s == '"') s++;
    } else {
        for (; *s && *s != ',' && *s != '\n'; s++)
            if (j + 1 < n) buf[j++] = *s;
    }
    buf[j] = '\0';
    *p = *s == ',' ? s + 1 : s;
}

sk_status sk_values_read(const char *path, sk_value **rows, int *n)
{
    FILE *f = fopen(path, "rb");
    char *line = NULL, num[64];
    size_t cap = 0;
    int m = 0, max = 0;
    sk_value *v = NULL;
    *rows = NULL;
    *n = 0;
    if (!f) return sk_err(SK_EIO, "%s: %s", path, strerror(errno));
    sk_status st = SK_OK;
    for (ssize_t len; (len = getline(&line, &cap, f)) > 0;) {
        if (!strncmp(line, "group,", 6)) continue; /* the header */
        if (m == max) {
            sk_value *w = realloc(v, sizeof *v * (size_t)(max = max ? 2 * max : 64));
            if (!w) {
                st = sk_err(SK_ENOMEM, "%s: out of memory", path);
                break;
            }
            v = w;
        }
        const char *p = line;
        char *end;
        field(&p, v[m].group, sizeof v[m].group);
        field(&p, v[m].name, sizeof v[m].name);
        field(&p, v[m].split, sizeof v[m].split);
        field(&p, v[m].metric, sizeof v[m].metric);
        field(&p, num, sizeof num);
        v[m].v = strtod(num, &end);
        if (end == num || *end) {
            st = sk_err(SK_EFORMAT, "%s: row %d: not a group,name,split,metric,value row", path, m + 2);
            break;
        }
        m++;
    }
    free(line);
    fclose(f);
    if (st != SK_OK) {
        free(v);
        return st;
    }
    *rows = v;
    *n = m;
    return SK_OK;
}

double sk_values_get(const sk_value *rows, int n, const char *group, const char *name, const char *split,
                     const char *metric)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].metric, metric) && !strcmp(rows[i].name, name) && !strcmp(rows[i].split, split) &&
            !strcmp(rows[i].group, group))
            return rows[i].v;
    return NAN;
}
