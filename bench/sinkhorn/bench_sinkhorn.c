/* bench_sinkhorn.c - timing server for bench/sinkhorn/run.
 *
 * Reads commands on stdin, one per line, answers one line each (so a driver
 * can interleave our runs with PyTorch's in warm processes):
 *   time N THREADS REPS   -> "fwd_ms bwd_ms fallback" per rep, space-separated
 *                            triples on one line (20 iterations, tau 1)
 *   dump N DIR            -> writes DIR/X_N.f64, G_N.f64, dX_N.f64 (row-major
 *                            float64) for the cross-check; answers "ok"
 *   quit
 * X = I + 0.1 N(0,1) (the published initialisation), G ~ N(0,1), seed 1. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/blas.h"
#include "core/err.h"
#include "core/rng.h"
#include "rebasin/sinkhorn.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static void make_inputs(int n, double *X, double *G)
{
    sk_rng r;
    sk_rng_seed(&r, 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            X[(size_t)i * n + j] = (i == j) + 0.1 * sk_rng_normal(&r);
    for (size_t i = 0; i < (size_t)n * n; i++)
        G[i] = sk_rng_normal(&r);
}

static int write_f64(const char *dir, const char *name, int n, const double *a)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_%d.f64", dir, name, n);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t nn = (size_t)n * n;
    int ok = fwrite(a, sizeof(double), nn, f) == nn;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

int main(int argc, char **argv)
{
    sk_blas_init(argc, argv);
    char line[4096];
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin)) {
        char cmd[16], dir[4000];
        int n = 0, th = 1, reps = 1;
        if (sscanf(line, "%15s", cmd) != 1) continue;
        if (!strcmp(cmd, "quit")) break;
        int is_time = !strcmp(cmd, "time"), is_dump = !strcmp(cmd, "dump");
        if ((is_time && sscanf(line, "%*s %d %d %d", &n, &th, &reps) != 3) ||
            (is_dump && sscanf(line, "%*s %d %3999s", &n, dir) != 2) || (!is_time && !is_dump) || n < 1 || n > 8192 ||
            reps < 1 || th < 1) {
            printf("error: bad command: %s", line);
            continue;
        }
        size_t nn = (size_t)n * n;
        double *X = malloc(nn * sizeof(double)), *G = malloc(nn * sizeof(double)), *P = malloc(nn * sizeof(double)),
               *dX = malloc(nn * sizeof(double));
        sk_sinkhorn_ws *ws = sk_sinkhorn_ws_new(n);
        if (!X || !G || !P || !dX || !ws) {
            printf("error: out of memory\n");
            return 1;
        }
        make_inputs(n, X, G);
        sk_sinkhorn_opts o = sk_sinkhorn_opts_default();
        sk_threads_set(th);
        sk_sinkhorn_stats st;
        int bad = 0;
        /* warm-up (page faults, BLAS thread start) */
        bad |= sk_sinkhorn_forward_ws(ws, X, n, &o, P) != SK_OK;
        bad |= sk_sinkhorn_backward_ws(ws, P, G, n, &o, dX, &st) != SK_OK;
        if (is_dump) {
            bad |= write_f64(dir, "X", n, X) || write_f64(dir, "G", n, G) || write_f64(dir, "dX", n, dX);
            printf(bad ? "error: %s\n" : "ok\n", sk_err_msg());
        } else {
            for (int r = 0; r < reps && !bad; r++) {
                double t0 = now_ms();
                bad |= sk_sinkhorn_forward_ws(ws, X, n, &o, P) != SK_OK;
                double t1 = now_ms();
                bad |= sk_sinkhorn_backward_ws(ws, P, G, n, &o, dX, &st) != SK_OK;
                double t2 = now_ms();
                printf("%s%.4f %.4f %d", r ? " " : "", t1 - t0, t2 - t1, st.fallback);
            }
            printf(bad ? "\nerror: %s\n" : "\n", sk_err_msg());
        }
        sk_sinkhorn_ws_free(ws);
        free(X);
        free(G);
        free(P);
        free(dX);
    }
    return 0;
}
