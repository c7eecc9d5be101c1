/* lap.c - exact linear assignment by shortest augmenting paths.
 *
 * Jonker & Volgenant (1987), "A shortest augmenting path algorithm for dense
 * and sparse linear assignment problems", with the rectangular handling of
 * Crouse (2016), "On implementing 2D rectangular assignment algorithms".
 * Everything is minimisation of C[i][j] = sgn * A[i][j]; maximisation uses
 * sgn = -1, which is exact (negation never rounds), so no copy is made.
 *
 * Dimension letters: N rows, M columns, N <= M.
 *
 * Duals: v[j] per column is explicit; a row's dual is implicit,
 * u[i] = C[i][x[i]] - v[x[i]], and the invariant kept by every phase is
 *   every assigned row's column minimises C[i][j] - v[j] over j,
 * i.e. reduced costs C - u - v are >= 0 and 0 on assigned pairs.
 * For N < M, columns that were never assigned keep v = 0 and v only ever
 * decreases, which is the extra condition optimality needs there (Crouse).
 *
 * Phases (square problems use all of them, rectangular ones skip 1):
 *   1. column reduction: v[j] = min_i C[i][j], assign each column to its
 *      argmin row if that row is still free; reduction transfer moves slack
 *      from a uniquely assigned row's other columns into its column's dual.
 *   2. augmenting row reduction (two passes): a free row takes its cheapest
 *      column, lowering that column's dual by the gap to its second cheapest,
 *      and the displaced row is processed next. With floating point the
 *      lowering can round away, so a step that makes no progress defers the
 *      displaced row, and the total work is capped: this phase is only a
 *      warm start and the next one finishes whatever is left.
 *   3. augmentation: for each remaining free row a Dijkstra search over
 *      columns with reduced costs; all columns at the current minimum
 *      distance are collected at once, so ties cost nothing extra, and the
 *      search stops at the first free column found at the minimum. Each
 *      search assigns one more row, so it always terminates. */
#include "rebasin/lap.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "core/mem.h"

/* Workspace: one allocation, carved into the arrays below. */
typedef struct {
    double *v;     /* (M) column duals */
    double *d;     /* (M) shortest-path distances; column minima in phase 1 */
    int *x;        /* (N) row -> column, -1 when free */
    int *y;        /* (M) column -> row, -1 when free */
    int *pred;     /* (M) predecessor row on the shortest path; argmin rows in phase 1 */
    int *cols;     /* (M) column list: [0,low) scanned, [low,up) at min distance, [up,M) rest */
    int *freerows; /* (N) free rows */
    int *matches;  /* (N) columns whose minimum is this row (phase 1) */
} lap_ws;

static sk_status lap_ws_alloc(lap_ws *w, void **block, int n, int m)
{
    size_t nn = (size_t)n, mm = (size_t)m;
    size_t bytes = 2 * mm * sizeof(double) + (3 * nn + 3 * mm) * sizeof(int) + 64;
    char *b = sk_alloc(bytes);
    if (!b) return sk_err_prefix(SK_ENOMEM, "lap: workspace for %d x %d: ", n, m);
    *block = b;
    w->v = (double *)b;
    b += mm * sizeof(double);
    w->d = (double *)b;
    b += mm * sizeof(double);
    w->x = (int *)b;
    b += nn * sizeof(int);
    w->y = (int *)b;
    b += mm * sizeof(int);
    w->pred = (int *)b;
    b += mm * sizeof(int);
    w->cols = (int *)b;
    b += mm * sizeof(int);
    w->freerows = (int *)b;
    b += nn * sizeof(int);
    w->matches = (int *)b;
    return SK_OK;
}

/* Scan A once: NaN/Inf and an overflow-proof range. Also, for square
 * problems, the column minima of C = sgn*A and their first argmin rows. */
static inline __attribute__((always_inline)) int lap_scan(const double *A, int n, int m, double sgn, int colmin,
                                                          double *vmin, int *arg)
{
    double bad = 0.0, lo = INFINITY, hi = -INFINITY;
    if (colmin) {
        for (int j = 0; j < m; j++) {
            vmin[j] = INFINITY;
            arg[j] = 0;
        }
    }
    for (int i = 0; i < n; i++) {
        const double *row = A + (size_t)i * m;
        for (int j = 0; j < m; j++) {
            double a = row[j];
            bad += a * 0.0; /* NaN iff some entry is NaN or Inf */
            lo = a < lo ? a : lo;
            hi = a > hi ? a : hi;
        }
        if (colmin) {
            for (int j = 0; j < m; j++) {
                double c = sgn * row[j];
                if (c < vmin[j]) {
                    vmin[j] = c;
                    arg[j] = i;
                }
            }
        }
    }
    if (bad != bad) return 1;
    /* Potentials and path lengths stay within a few multiples of N times the
     * range of the entries; refuse matrices where that could overflow. */
    if (!isfinite((hi - lo) * (4.0 * ((double)n + 1.0)))) return 2;
    return 0;
}

/* Phase 1 for square problems: column reduction and reduction transfer.
 * Returns the number of free rows put in w->freerows. */
static inline __attribute__((always_inline)) int lap_column_reduce(const double *A, int n, int m, double sgn, lap_ws *w)
{
    double *v = w->v;
    int *x = w->x, *y = w->y, *matches = w->matches;
    int nfree = 0;
    /* w->d holds the column minima and w->pred their argmin rows. */
    for (int j = m - 1; j >= 0; j--) {
        int i = w->pred[j];
        v[j] = w->d[j];
        if (++matches[i] == 1) {
            x[i] = j;
            y[j] = i;
        } else if (v[j] < v[x[i]]) {
            /* prefer the column where this row is cheaper */
            int j1 = x[i];
            x[i] = j;
            y[j] = i;
            y[j1] = -1;
        } else {
            y[j] = -1;
        }
    }
    for (int i = 0; i < n; i++) {
        if (matches[i] == 0) {
            w->freerows[nfree++] = i;
        } else if (matches[i] == 1) {
            /* reduction transfer: u_i = min_{j != j1} C[i][j] - v[j] >= 0 */
            const double *row = A + (size_t)i * m;
            int j1 = x[i];
            double mn = INFINITY;
            for (int j = 0; j < m; j++) {
                double h = sgn * row[j] - v[j];
                if (j != j1 && h < mn) mn = h;
            }
            if (m > 1) v[j1] -= mn; /* a 1 x 1 problem has no other column */
        }
    }
    return nfree;
}

/* Phase 2: augmenting row reduction over the nfree rows in w->freerows.
 * Returns the number of rows still free (listed in w->freerows). */
static inline __attribute__((always_inline)) int lap_row_reduce(const double *A, int n, int m, double sgn, lap_ws *w,
                                                                int nfree)
{
    double *v = w->v;
    int *x = w->x, *y = w->y, *fr = w->freerows;
    /* Each step costs O(M); the cap keeps this phase O(N M) in total even
     * when rounding makes the dual decrements tiny. */
    long budget = 4L * n + 16;
    for (int pass = 0; pass < 2 && nfree > 0; pass++) {
        int k = 0, prev = nfree;
        nfree = 0;
        while (k < prev) {
            if (budget-- <= 0) {
                /* out of budget: keep the unprocessed rows free */
                memmove(fr + nfree, fr + k, (size_t)(prev - k) * sizeof(int));
                return nfree + (prev - k);
            }
            int i = fr[k++];
            const double *row = A + (size_t)i * m;
            double u1 = sgn * row[0] - v[0], u2 = INFINITY;
            int j1 = 0, j2 = -1;
            for (int j = 1; j < m; j++) {
                double h = sgn * row[j] - v[j];
                if (h < u2) {
                    if (h >= u1) {
                        u2 = h;
                        j2 = j;
                    } else {
                        u2 = u1;
                        j2 = j1;
                        u1 = h;
                        j1 = j;
                    }
                }
            }
            int i0 = y[j1];
            int progress = 0;
            if (u1 < u2) {
                double nv = v[j1] - (u2 - u1);
                if (nv < v[j1]) {
                    v[j1] = nv;
                    progress = 1;
                }
            } else if (i0 >= 0) {
                /* tie: take the second column instead (it may be free) */
                j1 = j2;
                i0 = y[j1];
            }
            x[i] = j1;
            y[j1] = i;
            if (i0 >= 0) {
                x[i0] = -1;
                if (progress)
                    fr[--k] = i0; /* process the displaced row next */
                else
                    fr[nfree++] = i0; /* defer it to the next pass */
            }
        }
    }
    return nfree;
}

/* Phase 3: one shortest augmenting path from free row f. */
static inline __attribute__((always_inline)) void lap_augment(const double *A, int m, double sgn, lap_ws *w, int f)
{
    double *v = w->v, *d = w->d;
    int *x = w->x, *y = w->y, *pred = w->pred, *cols = w->cols;
    const double *rowf = A + (size_t)f * m;
    for (int j = 0; j < m; j++) {
        d[j] = sgn * rowf[j] - v[j];
        pred[j] = f;
        cols[j] = j;
    }
    int low = 0, up = 0, last = 0, end = -1;
    double mn = 0.0;
    while (end < 0) {
        if (up == low) {
            /* collect every unscanned column at the new minimum distance */
            last = low;
            mn = d[cols[up++]];
            for (int k = up; k < m; k++) {
                int j = cols[k];
                double h = d[j];
                if (h <= mn) {
                    if (h < mn) {
                        up = low;
                        mn = h;
                    }
                    cols[k] = cols[up];
                    cols[up++] = j;
                }
            }
            for (int k = low; k < up; k++) {
                if (y[cols[k]] < 0) {
                    end = cols[k];
                    break;
                }
            }
            if (end >= 0) break;
        }
        /* scan the row assigned to one column at the minimum */
        int j1 = cols[low++];
        int i = y[j1];
        const double *row = A + (size_t)i * m;
        double u1 = sgn * row[j1] - v[j1] - mn;
        for (int k = up; k < m; k++) {
            int j = cols[k];
            double h = sgn * row[j] - v[j] - u1;
            if (h < d[j]) {
                d[j] = h;
                pred[j] = i;
                if (h == mn) {
                    if (y[j] < 0) {
                        end = j;
                        break;
                    }
                    cols[k] = cols[up];
                    cols[up++] = j;
                }
            }
        }
    }
    /* dual update for the columns scanned before the last minimum search;
     * the ones scanned since are at distance mn and need no change */
    for (int k = 0; k < last; k++) {
        int j = cols[k];
        v[j] += d[j] - mn;
    }
    /* flip the path back to f */
    for (;;) {
        int i = pred[end];
        int jn = x[i];
        y[end] = i;
        x[i] = end;
        if (i == f) break;
        end = jn;
    }
}

static inline __attribute__((always_inline)) void lap_run(const double *A, int n, int m, double sgn, lap_ws *w)
{
    int nfree;
    for (int i = 0; i < n; i++)
        w->x[i] = -1;
    for (int j = 0; j < m; j++)
        w->y[j] = -1;
    if (n == m) {
        nfree = lap_column_reduce(A, n, m, sgn, w);
    } else {
        for (int j = 0; j < m; j++)
            w->v[j] = 0.0;
        for (int i = 0; i < n; i++)
            w->freerows[i] = i;
        nfree = n;
    }
    if (m > 1) nfree = lap_row_reduce(A, n, m, sgn, w, nfree);
    for (int k = 0; k < nfree; k++)
        lap_augment(A, m, sgn, w, w->freerows[k]);
}

/* Two instantiations so the sign folds into the arithmetic. */
static int lap_scan_min(const double *A, int n, int m, int colmin, double *vmin, int *arg)
{
    return lap_scan(A, n, m, 1.0, colmin, vmin, arg);
}
static int lap_scan_max(const double *A, int n, int m, int colmin, double *vmin, int *arg)
{
    return lap_scan(A, n, m, -1.0, colmin, vmin, arg);
}
static void lap_run_min(const double *A, int n, int m, lap_ws *w)
{
    lap_run(A, n, m, 1.0, w);
}
static void lap_run_max(const double *A, int n, int m, lap_ws *w)
{
    lap_run(A, n, m, -1.0, w);
}

/* Name the first non-finite entry (slow path, only after a failed scan). */
static sk_status lap_err_nonfinite(const double *A, int n, int m)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double a = A[(size_t)i * m + j];
            if (!isfinite(a))
                return sk_err(SK_EINVAL,
                              "lap: entry (%d, %d) of the %d x %d matrix is %s"
                              "\nHINT: assignment needs finite scores; check the "
                              "inputs for NaN/Inf",
                              i, j, n, m, isnan(a) ? "NaN" : "infinite");
        }
    return sk_err(SK_EINVAL, "lap: non-finite entry in the %d x %d matrix", n, m);
}

static sk_status lap_solve(const double *A, int n, int m, double sgn, int64_t *p, double *u, double *vout,
                           double *objective)
{
    lap_ws w = {0};
    void *block = NULL;
    sk_status st = SK_OK;
    if (objective) *objective = 0.0;
    if (n < 0 || m < 0) return sk_err(SK_EINVAL, "lap: negative size %d x %d", n, m);
    if (n > m)
        return sk_err(SK_EINVAL,
                      "lap: %d rows > %d columns; rows must not outnumber columns"
                      "\nHINT: solve the transposed problem",
                      n, m);
    if (n == 0) {
        if (vout)
            for (int j = 0; j < m; j++)
                vout[j] = 0.0;
        return SK_OK;
    }
    if (!A || !p) return sk_err(SK_EINVAL, "lap: NULL matrix or output");
    st = lap_ws_alloc(&w, &block, n, m);
    if (st != SK_OK) return st;
    int sq = (n == m);
    int bad = sgn > 0 ? lap_scan_min(A, n, m, sq, w.d, w.pred) : lap_scan_max(A, n, m, sq, w.d, w.pred);
    if (bad == 1) {
        st = lap_err_nonfinite(A, n, m);
        goto cleanup;
    }
    if (bad == 2) {
        st = sk_err(SK_EINVAL,
                    "lap: the entries of the %d x %d matrix span too large a range "
                    "for double-precision potentials\nHINT: rescale the scores",
                    n, m);
        goto cleanup;
    }
    if (sgn > 0)
        lap_run_min(A, n, m, &w);
    else
        lap_run_max(A, n, m, &w);

    double obj = 0.0;
    for (int i = 0; i < n; i++) {
        p[i] = w.x[i];
        obj += A[(size_t)i * m + w.x[i]];
    }
    if (objective) *objective = obj;
    if (vout)
        for (int j = 0; j < m; j++)
            vout[j] = w.v[j];
    if (u)
        for (int i = 0; i < n; i++)
            u[i] = A[(size_t)i * m + w.x[i]] - w.v[w.x[i]];
cleanup:
    sk_free(block);
    return st;
}

sk_status lap_solve_max(const double *S, int n, int m, int64_t *p, double *objective)
{
    return lap_solve(S, n, m, -1.0, p, NULL, NULL, objective);
}

sk_status lap_solve_min(const double *C, int n, int m, int64_t *p, double *objective)
{
    return lap_solve(C, n, m, 1.0, p, NULL, NULL, objective);
}

sk_status lap_solve_min_duals(const double *C, int n, int m, int64_t *p, double *u, double *v, double *objective)
{
    return lap_solve(C, n, m, 1.0, p, u, v, objective);
}
