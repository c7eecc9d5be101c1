/* lap_ref.c - exhaustive linear assignment, the reference test_lap checks
 * lap_solve_* against. */
#include "ref/ref.h"

#include <math.h>
#include <string.h>

/* Depth-first enumeration of injective maps, summing in row order so the
 * result matches a plain loop over the chosen entries. */
static void lap_bf_rec(const double *S, int n, int m, int i, double acc, unsigned used, int64_t *cur, int64_t *best,
                       double *bestv)
{
    if (i == n) {
        if (acc > *bestv) {
            *bestv = acc;
            memcpy(best, cur, (size_t)n * sizeof(int64_t));
        }
        return;
    }
    for (int j = 0; j < m; j++) {
        if (used & (1u << j)) continue;
        cur[i] = j;
        lap_bf_rec(S, n, m, i + 1, acc + S[(size_t)i * m + j], used | (1u << j), cur, best, bestv);
    }
}

double lap_bruteforce_max(const double *S, int n, int m, int64_t *p)
{
    int64_t cur[9], best[9];
    double bestv = -INFINITY;
    if (n < 0 || m > 9 || n > m) return NAN;
    if (n == 0) return 0.0;
    lap_bf_rec(S, n, m, 0, 0.0, 0u, cur, best, &bestv);
    if (p) memcpy(p, best, (size_t)n * sizeof(int64_t));
    return bestv;
}
