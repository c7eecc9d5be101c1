/* metrics.c - ACC, forgetting and backward transfer of an accuracy matrix
 * (doc/algorithms.md §10). a (T, T): a[t*T + i] = accuracy on task i after task t. */
#include "continual/continual.h"

double sk_cl_acc(const double *a, int T)
{
    double s = 0.0;
    for (int i = 0; i < T; i++)
        s += a[(int64_t)(T - 1) * T + i];
    return T > 0 ? s / T : 0.0;
}

double sk_cl_forgetting(const double *a, int T)
{
    if (T < 2) return 0.0;
    double s = 0.0;
    for (int i = 0; i < T - 1; i++) {
        double best = a[i];
        for (int t = 1; t < T - 1; t++)
            if (a[(int64_t)t * T + i] > best) best = a[(int64_t)t * T + i];
        s += best - a[(int64_t)(T - 1) * T + i];
    }
    return s / (T - 1);
}

double sk_cl_bwt(const double *a, int T)
{
    if (T < 2) return 0.0;
    double s = 0.0;
    for (int i = 0; i < T - 1; i++)
        s += a[(int64_t)(T - 1) * T + i] - a[(int64_t)i * T + i];
    return s / (T - 1);
}

double sk_cl_seen_acc(const double *a, int T, int t)
{
    double s = 0.0;
    for (int i = 0; i <= t; i++)
        s += a[(int64_t)t * T + i];
    return s / (t + 1);
}
