/* agg_plots.c - the plots of an experiment's repetitions (aggregate.h): the
 * mean linear-mode-connectivity curves (from the units' interp.csv) or the
 * mean continual curve (accuracy_matrix.csv), each with a band of one
 * standard deviation; and a sweep's summary, a metric against the swept
 * value with error bars. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/aggregate.h"
#include "app/state.h"
#include "core/mem.h"
#include "io/atomic.h"
#include "io/svg.h"

#define MAXC 64 /* curves (method x split) */

typedef struct {
    char method[48], split[16], label[64]; /* label: the legend's (sk_method_label_of) */
    int P;                                 /* points (from the first unit that has the curve) */
    double *x;                             /* (P) lambda, or the task 1..T */
    double *y[2];                          /* (n * P): loss and accuracy, or the seen accuracy; NAN where absent */
} curve;

typedef struct {
    int n; /* repetitions */
    int nc;
    curve c[MAXC];
} curves;

static void curves_free(curves *cs)
{
    for (int i = 0; i < cs->nc; i++) {
        sk_free(cs->c[i].x);
        sk_free(cs->c[i].y[0]);
        sk_free(cs->c[i].y[1]);
    }
    cs->nc = 0;
}

/* Split a CSV line of plain fields (no quotes) at its commas: up to max. */
static int split_line(char *line, char **f, int max)
{
    int k = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; k < max;) {
        f[k++] = p;
        if (!(p = strchr(p, ','))) break;
        *p++ = '\0';
    }
    return k;
}

static curve *curve_of(curves *cs, const char *method, const char *split)
{
    for (int i = 0; i < cs->nc; i++)
        if (!strcmp(cs->c[i].method, method) && !strcmp(cs->c[i].split, split)) return &cs->c[i];
    if (cs->nc == MAXC) return NULL;
    curve *c = &cs->c[cs->nc++];
    memset(c, 0, sizeof *c);
    snprintf(c->method, sizeof c->method, "%s", method);
    snprintf(c->split, sizeof c->split, "%s", split);
    sk_method_label_of(method, c->label, sizeof c->label);
    return c;
}

/* The first unit that has curve c fixes its grid: P points at x. */
static int grid(curve *c, int n, int P, const double *x)
{
    if (c->x) return c->P == P;
    c->P = P;
    c->x = sk_alloc_n((size_t)P, sizeof *c->x);
    c->y[0] = sk_alloc_n((size_t)n * P, sizeof(double));
    c->y[1] = sk_alloc_n((size_t)n * P, sizeof(double));
    if (!c->x || !c->y[0] || !c->y[1]) return 0;
    memcpy(c->x, x, sizeof *x * (size_t)P);
    for (int i = 0; i < n * P; i++)
        c->y[0][i] = c->y[1][i] = NAN;
    return 1;
}

/* Repetition r's interp.csv (method,split,lambda,loss,accuracy) into cs. */
static void read_interp(curves *cs, int r, const char *dir)
{
    char path[SK_PATH_MAX + 32], *line = NULL, *f[5];
    size_t cap = 0;
    char cur[2][64] = {"", ""};
    int P = 0, maxP = 0;
    double *x = NULL, *lo = NULL, *ac = NULL;
    snprintf(path, sizeof path, "%s/interp.csv", dir);
    FILE *fp = fopen(path, "rb");
    if (!fp) return;
    for (int done = 0; !done;) {
        ssize_t len = getline(&line, &cap, fp);
        int nf = len > 0 ? split_line(line, f, 5) : 0;
        int same = nf == 5 && !strcmp(f[0], cur[0]) && !strcmp(f[1], cur[1]);
        if (!same && P > 0) { /* the previous curve is complete */
            curve *c = curve_of(cs, cur[0], cur[1]);
            if (c && grid(c, cs->n, P, x))
                for (int i = 0; i < P; i++) {
                    c->y[0][r * P + i] = lo[i];
                    c->y[1][r * P + i] = ac[i];
                }
            P = 0;
        }
        if (len <= 0) done = 1;
        if (nf != 5 || !strcmp(f[0], "method")) continue;
        if (P == maxP) {
            maxP = maxP ? 2 * maxP : 64;
            double *nx = realloc(x, sizeof *x * (size_t)maxP), *nl = nx ? realloc(lo, sizeof *lo * (size_t)maxP) : NULL,
                   *na = nl ? realloc(ac, sizeof *ac * (size_t)maxP) : NULL;
            if (nx) x = nx;
            if (nl) lo = nl;
            if (!na) break; /* out of memory: the curves so far */
            ac = na;
        }
        snprintf(cur[0], sizeof cur[0], "%s", f[0]);
        snprintf(cur[1], sizeof cur[1], "%s", f[1]);
        x[P] = strtod(f[2], NULL);
        lo[P] = strtod(f[3], NULL);
        ac[P] = f[4][0] ? strtod(f[4], NULL) : NAN;
        P++;
    }
    free(line);
    free(x);
    free(lo);
    free(ac);
    fclose(fp);
}

/* Repetition r's accuracy_matrix.csv (method,after_task,task,accuracy, tasks
 * 1-based) into cs as each method's mean accuracy over the tasks seen. */
#define MAXT 1000 /* continual.tasks at most */
#define MAXM SK_CL_N_METHODS

static void read_continual(curves *cs, int r, const char *dir)
{
    char path[SK_PATH_MAX + 32], *line = NULL, *f[4], names[MAXM][48];
    size_t cap = 0;
    int T = 0, nm = 0;
    struct {
        double sum[MAXM][MAXT], x[MAXT];
        int cnt[MAXM][MAXT];
    } *w = sk_alloc(sizeof *w);
    snprintf(path, sizeof path, "%s/accuracy_matrix.csv", dir);
    FILE *fp = w ? fopen(path, "rb") : NULL;
    if (!fp) {
        sk_free(w);
        return;
    }
    while (getline(&line, &cap, fp) > 0) {
        if (split_line(line, f, 4) != 4 || !strcmp(f[0], "method")) continue;
        int t = atoi(f[1]), i = atoi(f[2]), m = 0;
        while (m < nm && strcmp(names[m], f[0]))
            m++;
        if (m == nm && nm < MAXM) snprintf(names[nm++], sizeof names[0], "%s", f[0]);
        if (m >= nm || t < 1 || t > MAXT || i < 1 || i > t) continue; /* seen tasks only */
        w->sum[m][t - 1] += strtod(f[3], NULL);
        w->cnt[m][t - 1]++;
        T = t > T ? t : T;
    }
    free(line);
    fclose(fp);
    for (int t = 0; t < T; t++)
        w->x[t] = t + 1;
    for (int m = 0; m < nm; m++) {
        curve *c = curve_of(cs, names[m], "");
        if (!c || !grid(c, cs->n, T, w->x)) continue;
        for (int t = 0; t < T; t++)
            c->y[0][r * T + t] = w->cnt[m][t] ? w->sum[m][t] / w->cnt[m][t] : NAN;
    }
    sk_free(w);
}

/* Series of curve c's quantity q: the mean over the repetitions, and mean
 * -+ std as its band (buf: 3 P doubles; v: n doubles of scratch). */
static void mean_band(const curves *cs, const curve *c, int q, double *buf, double *v, sk_series *se)
{
    double *m = buf, *lo = buf + c->P, *hi = buf + 2 * c->P;
    for (int i = 0; i < c->P; i++) {
        sk_stats s;
        for (int r = 0; r < cs->n; r++)
            v[r] = c->y[q][r * c->P + i];
        sk_stats_of(v, cs->n, &s);
        m[i] = s.mean;
        lo[i] = s.mean - s.std;
        hi[i] = s.mean + s.std;
    }
    *se = (sk_series){.label = c->label, .n = c->P, .x = c->x, .y = m, .lo = lo, .hi = hi};
}

/* One figure of curves cs: one panel per split (in order), one series per
 * method, quantity q; `ylabel`, the figure's `what` in its title. */
static sk_status plot_curves(const curves *cs, int q, const char *path, const char *name, const char *what,
                             const char *xlabel, const char *ylabel, int lmc)
{
    const char *splits[4];
    int ns = 0, total = 0;
    for (int i = 0; i < cs->nc; i++) {
        int seen = 0;
        for (int k = 0; k < ns; k++)
            seen |= !strcmp(splits[k], cs->c[i].split);
        if (!seen && ns < 4) splits[ns++] = cs->c[i].split;
        total += cs->c[i].P;
    }
    sk_panel panels[4];
    sk_series *se = sk_alloc_n((size_t)(cs->nc ? cs->nc : 1), sizeof *se);
    double *buf = sk_alloc_n((size_t)(3 * total + 1), sizeof *buf), *v = sk_alloc_n((size_t)cs->n, sizeof *v);
    sk_status st = se && buf && v ? SK_OK : SK_ENOMEM;
    for (int k = 0, used = 0, off = 0; k < ns && st == SK_OK; k++) {
        int first = used;
        for (int i = 0; i < cs->nc; i++) {
            if (strcmp(cs->c[i].split, splits[k])) continue;
            mean_band(cs, &cs->c[i], q, buf + off, v, &se[used++]);
            off += 3 * cs->c[i].P;
        }
        panels[k] = (sk_panel){.title = splits[k][0] ? splits[k] : NULL,
                               .xlabel = xlabel,
                               .ylabel = ylabel,
                               .n_series = used - first,
                               .series = se + first};
        if (lmc) {
            panels[k].x0_label = "A";
            panels[k].x1_label = "B";
        }
    }
    char title[512];
    snprintf(title, sizeof title, "%s: %s, mean of %d repetitions (band: \xc2\xb1 1 std)", name, what, cs->n);
    if (st == SK_OK) st = sk_svg_plot(path, title, ns, panels, ns > 1 ? 480 * ns + 40 : 720, ns > 1 ? 440 : 480);
    sk_free(se);
    sk_free(buf);
    sk_free(v);
    return st;
}

sk_status sk_agg_plot_curves(sk_run *r, const char *dir, const sk_config *c, const char *name,
                             const char *const *unit_dirs, int n)
{
    curves *cs = sk_alloc(sizeof *cs);
    char path[SK_PATH_MAX + 32];
    sk_status st = cs ? SK_OK : SK_ENOMEM;
    int cl = c->mode == SK_MODE_CONTINUAL;
    if (st != SK_OK || c->mode == SK_MODE_TRAIN) {
        sk_free(cs);
        return st;
    }
    cs->n = n;
    for (int q = 0; q < n; q++)
        if (unit_dirs[q]) cl ? read_continual(cs, q, unit_dirs[q]) : read_interp(cs, q, unit_dirs[q]);
    int acc = 0; /* any accuracy on the curves (not the polynomial toy) */
    for (int i = 0; i < cs->nc && !cl; i++)
        for (int k = 0; k < n * cs->c[i].P && !acc; k++)
            acc = !isnan(cs->c[i].y[1][k]);
    for (int q = 0; q < (cl ? 1 : 1 + acc) && st == SK_OK && cs->nc; q++) {
        snprintf(path, sizeof path, "%s/%s", dir, cl ? "cl_accuracy.svg" : q ? "lmc_accuracy.svg" : "lmc_loss.svg");
        if (r && dir == r->cfg.output) sk_run_wrote(r, path);
        if (cl)
            st =
                plot_curves(cs, 0, path, name, "mean accuracy over the tasks seen so far", "after task", "accuracy", 0);
        else
            st = plot_curves(cs, q, path, name, q ? "accuracy along the linear path" : "loss along the linear path",
                             "\xce\xbb (interpolation weight)",
                             q                                     ? "accuracy"
                             : c->dataset.name == SK_DS_POLYNOMIAL ? "MSE loss"
                                                                   : "cross-entropy loss",
                             1);
    }
    curves_free(cs);
    sk_free(cs);
    return st;
}

/* ---- a sweep's summary ------------------------------------------------------------ */

/* What a sweep's summary plots per mode: (group, metric, split?, y label). */
typedef struct {
    const char *group, *metric;
    int split;
    const char *ylabel;
} sweep_q;

static int sweep_quantities(const sk_config *c, sweep_q *q)
{
    int reg = c->dataset.name == SK_DS_POLYNOMIAL;
    if (c->mode == SK_MODE_CONTINUAL) {
        q[0] = (sweep_q){"continual", "acc", 0, "ACC (final mean accuracy)"};
        q[1] = (sweep_q){"continual", "forgetting", 0, "forgetting"};
        return 2;
    }
    if (c->mode == SK_MODE_TRAIN) {
        q[0] = (sweep_q){"endpoint", reg ? "loss" : "accuracy", 1, reg ? "test loss" : "test accuracy"};
        return 1;
    }
    q[0] = (sweep_q){"method", "loss_barrier", 1, "loss barrier"};
    if (!reg) q[1] = (sweep_q){"method", "accuracy_barrier", 1, "accuracy barrier"};
    return reg ? 1 : 2;
}

/* x of the items: the swept values when every one is a number, else 1..n
 * with the labels as categories (*numeric says which). */
static void sweep_x(const sk_config *c, double *x, int *numeric)
{
    *numeric = 1;
    for (int i = 0; i < c->sweep.n; i++) {
        char *end;
        x[i] = strtod(c->sweep.values[i], &end);
        if (end == c->sweep.values[i] || *end || !isfinite(x[i])) *numeric = 0;
    }
    for (int i = 0; i < c->sweep.n && !*numeric; i++)
        x[i] = i + 1;
}

sk_status sk_agg_plot_sweep(const char *path, const sk_config *c, const sk_agg *items, const char *split)
{
    sweep_q q[2];
    int nq = sweep_quantities(c, q), n = c->sweep.n, numeric, nm = 0;
    const char *names[MAXC];
    char labels[MAXC][64];      /* the legend: alignment methods as single runs name them */
    for (int i = 0; i < n; i++) /* the methods (endpoints) of every item, in order */
        nm = sk_agg_names(&items[i], q[0].group, names, MAXC) > nm ? sk_agg_names(&items[i], q[0].group, names, MAXC)
                                                                   : nm;
    double *buf = sk_alloc_n((size_t)(4 * n * nm * nq + 1), sizeof *buf), x[SK_CFG_SWEEP];
    sk_series *se = sk_alloc_n((size_t)(nm * nq + 1), sizeof *se);
    sk_panel panels[2];
    sk_status st = buf && se ? SK_OK : SK_ENOMEM;
    sweep_x(c, x, &numeric);
    for (int m = 0; m < nm; m++) {
        if (!strcmp(q[0].group, "method"))
            sk_method_label_of(names[m], labels[m], sizeof labels[m]);
        else
            snprintf(labels[m], sizeof labels[m], "%s", names[m]);
    }
    for (int k = 0; k < nq && st == SK_OK; k++) {
        for (int m = 0; m < nm; m++) {
            double *y = buf + (size_t)4 * n * (k * nm + m), *lo = y + n, *hi = y + 2 * n, *xs = y + 3 * n;
            for (int i = 0; i < n; i++) {
                /* categories: the methods side by side, so that their bars do not hide each other */
                xs[i] = x[i] + (numeric ? 0.0 : 0.08 * (m - 0.5 * (nm - 1)));
                const sk_agg_row *w =
                    sk_agg_find(&items[i], q[k].group, names[m], q[k].split ? split : "", q[k].metric);
                sk_stats s = {0};
                s.mean = s.std = NAN;
                if (w) sk_stats_of(w->v, items[i].n, &s);
                y[i] = s.mean;
                lo[i] = s.mean - s.std;
                hi[i] = s.mean + s.std;
            }
            se[k * nm + m] = (sk_series){.label = labels[m], .n = n, .x = xs, .y = y, .lo = lo, .hi = hi, .bars = 1};
        }
        panels[k] = (sk_panel){.title = q[k].split ? split : NULL,
                               .xlabel = c->sweep.key,
                               .ylabel = q[k].ylabel,
                               .n_series = nm,
                               .series = se + k * nm};
    }
    char title[512], cats[SK_CFG_SWEEP][64];
    const char *cp[SK_CFG_SWEEP];
    int reps = items[0].n;
    snprintf(title, sizeof title, "%s: sweep over %s%s%d repetition%s%s", c->name, c->sweep.key,
             reps > 1 ? " (mean of " : " (", reps, reps > 1 ? "s" : "",
             reps > 1 ? "; error bars: \xc2\xb1 1 std)" : ")");
    for (int i = 0; i < n; i++) {
        snprintf(cats[i], sizeof cats[i], "%s", c->sweep.labels[i]);
        cp[i] = cats[i];
    }
    if (st == SK_OK)
        st = sk_svg_plot_categories(path, title, nq, panels, numeric ? NULL : cp, numeric ? 0 : n, nq > 1 ? 1000 : 720,
                                    480);
    sk_free(buf);
    sk_free(se);
    return st;
}
