/* stats.c - summaries of repeated measurements (stats.h). */
#include "core/stats.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

double sk_t975(int df)
{
    static const double t[31] = {NAN,      12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624,
                                 2.306004, 2.262157,  2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450,
                                 2.119905, 2.109816,  2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658,
                                 2.063899, 2.059539,  2.055529, 2.051831, 2.048407, 2.045230, 2.042272};
    static const int big_df[4] = {30, 40, 60, 120};
    static const double big_t[5] = {2.042272, 2.021075, 2.000298, 1.979930, 1.959964};
    if (df < 1) return NAN;
    if (df <= 30) return t[df];
    /* Between the tabulated degrees of freedom: linear in 1/df (exact at
     * the table's points, within 1e-4 of the quantile between them). */
    for (int i = 0; i < 4; i++) {
        double lo = big_df[i], hi = i < 3 ? big_df[i + 1] : INFINITY;
        if (df < hi || i == 3) {
            double x = (1.0 / lo - 1.0 / df) / (1.0 / lo - (isinf(hi) ? 0.0 : 1.0 / hi));
            return big_t[i] + x * (big_t[i + 1] - big_t[i]);
        }
    }
    return big_t[4];
}

void sk_stats_of(const double *v, int n, sk_stats *s)
{
    double sum = 0, ss = 0;
    s->n = 0;
    s->mean = s->std = s->min = s->max = s->ci_lo = s->ci_hi = NAN;
    for (int i = 0; i < n; i++) {
        if (!isfinite(v[i])) continue;
        sum += v[i];
        s->min = s->n ? fmin(s->min, v[i]) : v[i];
        s->max = s->n ? fmax(s->max, v[i]) : v[i];
        s->n++;
    }
    if (s->n == 0) return;
    s->mean = sum / s->n;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) ss += (v[i] - s->mean) * (v[i] - s->mean);
    if (s->n >= 2) s->std = sqrt(ss / (s->n - 1));
    if (s->n >= 3) {
        double h = sk_t975(s->n - 1) * s->std / sqrt((double)s->n);
        s->ci_lo = s->mean - h;
        s->ci_hi = s->mean + h;
    }
}

void sk_paired_of(const double *a, const double *b, int n, sk_paired *p)
{
    double *d = malloc(sizeof *d * (size_t)(n > 0 ? n : 1));
    p->pos = p->neg = p->zero = 0;
    if (!d) n = 0; /* no pairs: a summary of nothing */
    for (int i = 0; i < n; i++) {
        d[i] = isfinite(a[i]) && isfinite(b[i]) ? a[i] - b[i] : NAN;
        if (isnan(d[i])) continue;
        p->pos += d[i] > 0;
        p->neg += d[i] < 0;
        p->zero += d[i] == 0;
    }
    sk_stats_of(d, n, &p->d);
    free(d);
    p->agree = p->d.n == 0 ? 0 : p->d.mean > 0 ? p->pos : p->d.mean < 0 ? p->neg : p->zero;
}
