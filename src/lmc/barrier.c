#include "lmc/barrier.h"

#include <math.h>

void sk_lambda_grid(double *lambda, int n)
{
    for (int i = 0; i < n; i++)
        lambda[i] = n > 1 ? (double)i / (double)(n - 1) : 0.0;
    if (n > 1) lambda[n - 1] = 1.0;
}

void sk_barrier_compute(const double *lambda, const double *f, int n, int sign, sk_barrier *out)
{
    double s = sign < 0 ? -1.0 : 1.0;
    double f0 = s * f[0], f1 = s * f[n - 1];
    double best = -INFINITY, top = -INFINITY, auc = 0.0, prev = 0.0;
    for (int i = 0; i < n; i++) {
        double l = lambda[i], v = s * f[i];
        double gap = v - ((1.0 - l) * f0 + l * f1);
        if (gap > best) best = gap;
        if (v > top) top = v;
        if (i > 0) auc += 0.5 * (gap + prev) * (l - lambda[i - 1]);
        prev = gap;
    }
    out->barrier = best;
    out->barrier_mid = top - 0.5 * (f0 + f1);
    out->auc = auc;
}
