/* aggregate.c - an experiment's repetitions side by side (aggregate.h). */
#include "app/aggregate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "io/atomic.h"

sk_status sk_agg_init(sk_agg *a, int n)
{
    memset(a, 0, sizeof *a);
    a->n = n;
    a->done = sk_alloc_n((size_t)n, sizeof *a->done);
    return a->done ? SK_OK : SK_ENOMEM;
}

void sk_agg_free(sk_agg *a)
{
    for (int i = 0; i < a->n_rows; i++)
        sk_free(a->rows[i].v);
    free(a->rows);
    sk_free(a->done);
    memset(a, 0, sizeof *a);
}

const sk_agg_row *sk_agg_find(const sk_agg *a, const char *group, const char *name, const char *split,
                              const char *metric)
{
    for (int i = 0; i < a->n_rows; i++) {
        const sk_agg_row *w = &a->rows[i];
        if (!strcmp(w->metric, metric) && !strcmp(w->name, name) && !strcmp(w->split, split) &&
            !strcmp(w->group, group))
            return w;
    }
    return NULL;
}

/* The row of v (a new one, all NAN, when there is none yet). */
static sk_agg_row *row_of(sk_agg *a, const sk_value *v)
{
    sk_agg_row *w = (sk_agg_row *)sk_agg_find(a, v->group, v->name, v->split, v->metric);
    if (w) return w;
    if (a->n_rows == a->cap) {
        int cap = a->cap ? 2 * a->cap : 64;
        sk_agg_row *rows = realloc(a->rows, sizeof *rows * (size_t)cap);
        if (!rows) return NULL;
        a->rows = rows;
        a->cap = cap;
    }
    w = &a->rows[a->n_rows];
    memset(w, 0, sizeof *w);
    snprintf(w->group, sizeof w->group, "%s", v->group);
    snprintf(w->name, sizeof w->name, "%s", v->name);
    snprintf(w->split, sizeof w->split, "%s", v->split);
    snprintf(w->metric, sizeof w->metric, "%s", v->metric);
    if (!(w->v = sk_alloc_n((size_t)a->n, sizeof *w->v))) return NULL;
    for (int i = 0; i < a->n; i++)
        w->v[i] = NAN;
    a->n_rows++;
    return w;
}

sk_status sk_agg_add(sk_agg *a, int r, const char *dir)
{
    char path[SK_PATH_MAX + 32];
    sk_value *v;
    int n;
    snprintf(path, sizeof path, "%s/values.csv", dir);
    sk_status st = sk_values_read(path, &v, &n);
    for (int i = 0; i < n && st == SK_OK; i++) {
        sk_agg_row *w = row_of(a, &v[i]);
        if (!w)
            st = sk_err(SK_ENOMEM, "%s: out of memory", path);
        else
            w->v[r] = v[i].v;
    }
    free(v);
    if (st == SK_OK && !a->done[r]) {
        a->done[r] = 1;
        a->n_done++;
    }
    return st;
}

int sk_agg_names(const sk_agg *a, const char *group, const char **names, int max)
{
    int m = 0;
    for (int i = 0; i < a->n_rows && m < max; i++) {
        if (strcmp(a->rows[i].group, group)) continue;
        int seen = 0;
        for (int k = 0; k < m && !seen; k++)
            seen = !strcmp(names[k], a->rows[i].name);
        if (!seen) names[m++] = a->rows[i].name;
    }
    return m;
}
