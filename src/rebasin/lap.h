/* lap.h - exact linear assignment (doc/algorithms.md section 3).
 *
 * Dimension letters: N rows, M columns, N <= M. Matrices are dense,
 * row-major doubles: entry (i, j) is at A[i*M + j].
 *
 * The solver is a Jonker-Volgenant shortest-augmenting-path method with
 * dual potentials (column reduction + reduction transfer, augmenting row
 * reduction, then Dijkstra-like augmentation), O(N^2 M) worst case, exact in
 * the sense that it only ever adds and subtracts input entries: on integer
 * matrices (|entries| < 2^50 / N) every quantity is computed exactly. */
#ifndef SK_REBASIN_LAP_H
#define SK_REBASIN_LAP_H
#include <stdint.h>

#include "core/err.h"

/* Maximise sum_i S[i*m + p[i]] over injective maps p: rows -> cols.
 * S: (N, M) row-major, n <= m. Writes p[0..n) (p may be NULL only when
 * n == 0). objective may be NULL. Returns SK_OK, or SK_EINVAL (message set)
 * for n > m, negative sizes, a non-finite entry (the message names it), or
 * entries spanning more than ~1e308 / (4 (n + 1)) (potentials could overflow).
 * n == 0 is valid: nothing is written to p, the objective is 0. */
SK_MUST_CHECK sk_status lap_solve_max(const double *S, int n, int m, int64_t *p, double *objective);

/* Same as lap_solve_max, minimising sum_i C[i*m + p[i]]. */
SK_MUST_CHECK sk_status lap_solve_min(const double *C, int n, int m, int64_t *p, double *objective);

/* lap_solve_min that also returns the optimal dual certificate:
 * u: (N), v: (M) (either may be NULL) with
 *   u[i] + v[j] <= C[i][j] for all i, j       (dual feasibility, up to rounding)
 *   u[i] + v[p[i]] == C[i][p[i]]               (complementary slackness)
 *   when n < m: v[j] <= 0, and v[j] == 0 for columns no row is assigned to,
 * so sum(u) + sum(v) equals the optimum (the LP dual certifies optimality). */
SK_MUST_CHECK sk_status lap_solve_min_duals(const double *C, int n, int m, int64_t *p, double *u, double *v,
                                            double *objective);

#endif
