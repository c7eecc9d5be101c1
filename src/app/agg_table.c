/* agg_table.c - the stdout summary of an experiment's repetitions and a
 * sweep's rows of them (aggregate.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/aggregate.h"

#define MAXN 64

/* A quantity of the tables: where its rows are and how it prints. */
typedef struct {
    const char *head;   /* column title */
    const char *metric; /* values.csv metric */
    int split;          /* per split (the table's split) or not */
    int pct;            /* a fraction shown in percent */
    int prec;           /* decimals (percent: 2) */
    const char *higher; /* what a positive difference means ("higher", "more") */
} quantity;

static const quantity lmc_q[] = {
    {"loss barrier", "loss_barrier", 1, 0, 4, "higher"}, {"acc drop", "accuracy_barrier", 1, 1, 2, "higher"},
    {"acc@mid", "midpoint_accuracy", 1, 1, 2, "higher"}, {"loss@mid", "midpoint_loss", 1, 0, 4, "higher"},
    {"recovery", "recovery_rate", 0, 1, 2, "higher"},    {"seconds", "seconds", 0, 0, 3, "longer"},
};
static const quantity cl_q[] = {
    {"ACC", "acc", 0, 1, 2, "higher"},
    {"forgetting", "forgetting", 0, 1, 2, "higher"},
    {"BWT", "bwt", 0, 1, 2, "higher"},
    {"seconds", "seconds", 0, 0, 1, "longer"},
};

/* "m ± s [lo, hi]" (interval when n >= 3; "m" alone when n = 1; "-" when 0). */
static void fmt_stats(char *buf, size_t n, const sk_stats *s, int pct, int prec, int with_ci)
{
    double k = pct ? 100 : 1;
    int p = prec;
    const char *u = pct ? "%" : "";
    if (s->n == 0) {
        snprintf(buf, n, "-");
        return;
    }
    int m = snprintf(buf, n, "%.*f%s", p, k * s->mean, u);
    if (s->n >= 2) m += snprintf(buf + m, n - (size_t)m, " ± %.*f%s", p, k * s->std, u);
    if (with_ci && s->n >= 3)
        snprintf(buf + m, n - (size_t)m, " [%.*f%s, %.*f%s]", p, k * s->ci_lo, u, p, k * s->ci_hi, u);
}

/* The split the tables show: test when the runs evaluated it. */
const char *sk_agg_split(const sk_config *c)
{
    for (int s = 0; s < c->interpolation.n_splits; s++)
        if (c->interpolation.splits[s] == SK_SPLIT_TEST) return "test";
    return sk_split_name(c->interpolation.splits[0]);
}

/* Which of qs have a row for any name of the group. */
static int present(const sk_agg *a, const char *group, const quantity *q, const char *split)
{
    for (int i = 0; i < a->n_rows; i++)
        if (!strcmp(a->rows[i].group, group) && !strcmp(a->rows[i].metric, q->metric) &&
            !strcmp(a->rows[i].split, q->split ? split : ""))
            return 1;
    return 0;
}

/* Log a table line without its trailing blanks. */
static void out_line(sk_log *log, char *line)
{
    size_t k = strlen(line);
    while (k && line[k - 1] == ' ')
        line[--k] = '\0';
    sk_log_out(log, "%s", line);
}

static void print_table(sk_log *log, const sk_agg *a, const char *group, const quantity *qs, int nq, const char *split)
{
    const char *names[MAXN];
    char line[2048], cell[128];
    int n = sk_agg_names(a, group, names, MAXN), show[16] = {0};
    int k = snprintf(line, sizeof line, "%-22s", "method");
    for (int q = 0; q < nq; q++)
        if ((show[q] = present(a, group, &qs[q], split)))
            k += snprintf(line + k, sizeof line - (size_t)k, " %-34s", qs[q].head);
    out_line(log, line);
    for (int m = 0; m < n; m++) {
        k = snprintf(line, sizeof line, "%-22s", names[m]);
        for (int q = 0; q < nq; q++) {
            if (!show[q]) continue;
            const sk_agg_row *w = sk_agg_find(a, group, names[m], qs[q].split ? split : "", qs[q].metric);
            sk_stats s = {0};
            if (w) sk_stats_of(w->v, a->n, &s);
            fmt_stats(cell, sizeof cell, &s, qs[q].pct, qs[q].prec, 1);
            k += snprintf(line + k, sizeof line - (size_t)k, " %-34s", cell);
        }
        out_line(log, line);
    }
}

/* The first quantity in each repetition, one column per repetition. */
static void print_values(sk_log *log, const sk_agg *a, const char *group, const quantity *q, const char *split)
{
    const char *names[MAXN];
    char line[4096];
    int n = sk_agg_names(a, group, names, MAXN), shown = a->n < 16 ? a->n : 16;
    sk_log_out(log, "%s%s%s in each repetition%s:", q->head, q->split ? " " : "", q->split ? split : "",
               a->n > shown ? " (the first 16)" : "");
    for (int m = 0; m < n; m++) {
        const sk_agg_row *w = sk_agg_find(a, group, names[m], q->split ? split : "", q->metric);
        int k = snprintf(line, sizeof line, "%-22s", names[m]);
        for (int r = 0; r < shown && w; r++) {
            double v = (q->pct ? 100 : 1) * w->v[r];
            if (isnan(v))
                k += snprintf(line + k, sizeof line - (size_t)k, " %9s", "-");
            else
                k += snprintf(line + k, sizeof line - (size_t)k, q->pct ? " %8.2f%%" : " %9.4f", v);
        }
        sk_log_out(log, "%s", line);
    }
}

/* "m − base: loss barrier -0.0120 ± 0.0040 (3 of 3 lower), ..." */
static void print_paired(sk_log *log, const sk_agg *a, const char *group, const char *m, const char *base,
                         const quantity *qs, int nq, const char *split)
{
    char line[2048], cell[96];
    int k = snprintf(line, sizeof line, "  %s - %s:", m, base), any = 0;
    for (int q = 0; q < nq; q++) {
        const char *sp = qs[q].split ? split : "";
        const sk_agg_row *x = sk_agg_find(a, group, m, sp, qs[q].metric),
                         *y = sk_agg_find(a, group, base, sp, qs[q].metric);
        if (!x || !y || !strcmp(qs[q].metric, "seconds")) continue;
        sk_paired p;
        sk_paired_of(x->v, y->v, a->n, &p);
        if (p.d.n == 0) continue;
        fmt_stats(cell, sizeof cell, &p.d, qs[q].pct, qs[q].prec, 0);
        const char *dir = p.d.mean > 0 ? qs[q].higher : p.d.mean < 0 ? "lower" : "equal";
        if (!strcmp(qs[q].higher, "higher") && p.d.mean < 0) dir = "lower";
        k += snprintf(line + k, sizeof line - (size_t)k, "%s %s %s%s (%d of %d %s)", any ? "," : "", qs[q].head,
                      p.d.mean > 0 ? "+" : "", cell, p.agree, p.d.n, dir);
        any = 1;
    }
    if (any) sk_log_out(log, "%s", line);
}

static void print_endpoints(sk_log *log, const sk_agg *a)
{
    char l[96], c[96];
    for (int e = 0; e < 2; e++) {
        const char *n = e ? "b" : "a";
        const sk_agg_row *lw = sk_agg_find(a, "endpoint", n, "test", "loss"),
                         *aw = sk_agg_find(a, "endpoint", n, "test", "accuracy");
        sk_stats s = {0}, t = {0};
        if (!lw) continue;
        sk_stats_of(lw->v, a->n, &s);
        fmt_stats(l, sizeof l, &s, 0, 4, 1);
        if (aw) sk_stats_of(aw->v, a->n, &t);
        fmt_stats(c, sizeof c, &t, 1, 2, 1);
        sk_log_out(log, "model %s: test loss %s%s%s", n, l, aw ? ", accuracy " : "", aw ? c : "");
    }
}

void sk_agg_print(sk_log *log, const sk_agg *a, const sk_config *c, const char *title)
{
    const char *names[MAXN], *split = sk_agg_split(c);
    int cl = c->mode == SK_MODE_CONTINUAL, nq = cl ? 4 : 6;
    const quantity *qs = cl ? cl_q : lmc_q;
    const char *group = cl ? "continual" : "method";
    sk_log_out(log, "%s", "");
    sk_log_out(log, "%s: %d repetitions (%d complete): mean ± std [95%% t-interval of the mean]%s%s%s", title, a->n,
               a->n_done, cl || c->mode == SK_MODE_TRAIN ? "" : ", on the ",
               cl || c->mode == SK_MODE_TRAIN ? "" : split, cl || c->mode == SK_MODE_TRAIN ? "" : " split");
    if (!cl) print_endpoints(log, a);
    if (c->mode == SK_MODE_TRAIN) return;
    print_table(log, a, group, qs, nq, split);
    print_values(log, a, group, &qs[0], split);
    int n = sk_agg_names(a, group, names, MAXN), ref = 0;
    for (int m = 0; m < n; m++)
        if (!strcmp(names[m], cl ? "rebasin" : "weight_matching")) ref = m;
    if (n < 2) return;
    sk_log_out(log, "paired differences%s (mean ± std; repetitions agreeing in sign):",
               cl ? " within each repetition (same tasks, initialisation and data order)" : " on the same endpoints");
    for (int m = 0; m < n; m++)
        if (m != ref) {
            if (cl)
                print_paired(log, a, group, names[ref], names[m], qs, nq, split);
            else
                print_paired(log, a, group, names[m], names[ref], qs, nq, split);
        }
}

/* ---- a sweep's rows ------------------------------------------------------------ */

/* sweep.csv columns of a sweep of repetitions: the metric's mean and std
 * over the item's repetitions. */
typedef struct {
    const char *col;    /* column stem */
    const char *group;  /* values.csv group */
    const char *name;   /* values.csv name (an endpoint: a, b); NULL: the row's */
    const char *split;  /* values.csv split; NULL: the row's */
    const char *metric; /* values.csv metric */
} column;

static const column lmc_cols[] = {
    {"loss_barrier", "method", NULL, NULL, "loss_barrier"},
    {"loss_barrier_mid", "method", NULL, NULL, "loss_barrier_mid"},
    {"loss_auc", "method", NULL, NULL, "loss_auc"},
    {"accuracy_barrier", "method", NULL, NULL, "accuracy_barrier"},
    {"accuracy_barrier_mid", "method", NULL, NULL, "accuracy_barrier_mid"},
    {"accuracy_auc", "method", NULL, NULL, "accuracy_auc"},
    {"midpoint_loss", "method", NULL, NULL, "midpoint_loss"},
    {"midpoint_accuracy", "method", NULL, NULL, "midpoint_accuracy"},
    {"recovery_rate", "method", NULL, "", "recovery_rate"},
    {"seconds", "method", NULL, "", "seconds"},
    {"sinkhorn_steps", "method", NULL, "", "sinkhorn_steps"},
    {"sinkhorn_best_epoch", "method", NULL, "", "sinkhorn_best_epoch"},
    {"a_test_accuracy", "endpoint", "a", "test", "accuracy"},
    {"b_test_accuracy", "endpoint", "b", "test", "accuracy"},
};
static const column cl_cols[] = {{"acc", "continual", NULL, "", "acc"},
                                 {"forgetting", "continual", NULL, "", "forgetting"},
                                 {"bwt", "continual", NULL, "", "bwt"},
                                 {"seconds", "continual", NULL, "", "seconds"}};
static const column train_cols[] = {{"train_loss", "endpoint", NULL, "train", "loss"},
                                    {"train_accuracy", "endpoint", NULL, "train", "accuracy"},
                                    {"test_loss", "endpoint", NULL, "test", "loss"},
                                    {"test_accuracy", "endpoint", NULL, "test", "accuracy"},
                                    {"train_seconds", "endpoint", NULL, "", "train_seconds"}};

static const column *columns(const sk_config *c, int *n)
{
    if (c->mode == SK_MODE_CONTINUAL) {
        *n = 4;
        return cl_cols;
    }
    if (c->mode == SK_MODE_TRAIN) {
        *n = 5;
        return train_cols;
    }
    *n = 14;
    return lmc_cols;
}

const char *sk_agg_sweep_header(const sk_config *c)
{
    static char buf[2048];
    int n, k;
    const column *cols = columns(c, &n);
    k = snprintf(buf, sizeof buf, "label,value,%s,n",
                 c->mode == SK_MODE_CONTINUAL ? "method"
                 : c->mode == SK_MODE_TRAIN   ? "model"
                                              : "method,split");
    for (int i = 0; i < n; i++)
        k += snprintf(buf + k, sizeof buf - (size_t)k, ",%s_mean,%s_std", cols[i].col, cols[i].col);
    return buf;
}

const char *sk_agg_sweep_table_header(const sk_config *c)
{
    if (c->mode == SK_MODE_CONTINUAL)
        return "label            method                 ACC                  forgetting           BWT";
    if (c->mode == SK_MODE_TRAIN) return "label            model  test loss            test accuracy";
    if (c->dataset.name == SK_DS_POLYNOMIAL)
        return "label            method                 barrier              loss@mid             seconds";
    return "label            method                 barrier              acc@mid              seconds";
}

/* One sweep.csv row: the columns' mean and std for (name, split). */
static void sweep_row(const sk_agg *a, const column *cols, int nc, sk_csv *csv, const char *lead, const char *name,
                      const char *split)
{
    char buf[4096], num[2][40];
    int k = snprintf(buf, sizeof buf, "%s,%d", lead, a->n_done);
    for (int i = 0; i < nc; i++) {
        const char *nm = cols[i].name ? cols[i].name : name, *sp = cols[i].split ? cols[i].split : split;
        const sk_agg_row *w = sk_agg_find(a, cols[i].group, nm, sp, cols[i].metric);
        sk_stats s = {0};
        if (w) sk_stats_of(w->v, a->n, &s);
        num[0][0] = num[1][0] = '\0';
        if (s.n > 0) sk_json_fmt_num(num[0], sizeof num[0], s.mean);
        if (s.n > 1) sk_json_fmt_num(num[1], sizeof num[1], s.std);
        k += snprintf(buf + k, sizeof buf - (size_t)k, ",%s,%s", num[0], num[1]);
    }
    sk_csv_row(csv, "%s", buf);
}

static void table_cell(const sk_agg *a, const char *group, const char *name, const char *split, const char *metric,
                       int pct, char *buf, size_t n)
{
    const sk_agg_row *w = sk_agg_find(a, group, name, split, metric);
    sk_stats s = {0};
    if (w) sk_stats_of(w->v, a->n, &s);
    fmt_stats(buf, n, &s, pct, pct ? 2 : strcmp(metric, "seconds") ? 4 : 3, 0);
}

void sk_agg_sweep_rows(const sk_agg *a, const sk_config *c, sk_csv *csv, const char *label, const char *value,
                       FILE *table)
{
    const char *names[MAXN], *split = sk_agg_split(c);
    char lead[SK_CFG_SWEEP_TEXT + 256], x[3][96];
    int nc, cl = c->mode == SK_MODE_CONTINUAL, tr = c->mode == SK_MODE_TRAIN;
    const column *cols = columns(c, &nc);
    int n = sk_agg_names(a, cl ? "continual" : tr ? "endpoint" : "method", names, MAXN);
    char lab[80], val[SK_CFG_SWEEP_TEXT + 8];
    snprintf(lab, sizeof lab, "%s", sk_csv_q(csv, label));
    snprintf(val, sizeof val, "%s", sk_csv_q(csv, value));
    for (int m = 0; m < n; m++) {
        if (cl || tr) {
            snprintf(lead, sizeof lead, "%s,%s,%s", lab, val, sk_csv_q(csv, names[m]));
            sweep_row(a, cols, nc, csv, lead, names[m], "");
            if (tr) { /* train and test columns read the endpoint's two splits */
                table_cell(a, "endpoint", names[m], "test", "loss", 0, x[0], sizeof x[0]);
                table_cell(a, "endpoint", names[m], "test", "accuracy", 1, x[1], sizeof x[1]);
                fprintf(table, "%-16s %-6s %-20s %s\n", label, names[m], x[0], x[1]);
            } else {
                for (int q = 0; q < 3; q++)
                    table_cell(a, "continual", names[m], "", cols[q].metric, 1, x[q], sizeof x[q]);
                fprintf(table, "%-16s %-22s %-20s %-20s %s\n", label, names[m], x[0], x[1], x[2]);
            }
            continue;
        }
        for (int s = 0; s < c->interpolation.n_splits; s++) {
            const char *sp = sk_split_name(c->interpolation.splits[s]);
            snprintf(lead, sizeof lead, "%s,%s,%s,%s", lab, val, sk_csv_q(csv, names[m]), sp);
            sweep_row(a, cols, nc, csv, lead, names[m], sp);
        }
        table_cell(a, "method", names[m], split, "loss_barrier", 0, x[0], sizeof x[0]);
        if (c->dataset.name == SK_DS_POLYNOMIAL)
            table_cell(a, "method", names[m], split, "midpoint_loss", 0, x[1], sizeof x[1]);
        else
            table_cell(a, "method", names[m], split, "midpoint_accuracy", 1, x[1], sizeof x[1]);
        table_cell(a, "method", names[m], "", "seconds", 0, x[2], sizeof x[2]);
        fprintf(table, "%-16s %-22s %-20s %-20s %s\n", label, names[m], x[0], x[1], x[2]);
    }
}
