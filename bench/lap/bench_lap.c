/* bench_lap.c - times lap_solve_max on a matrix file shared with the SciPy
 * reference (bench/lap/ref_scipy.py), so both solve exactly the same data.
 *
 *   bench_lap gen <kind> <n> <seed> <file>   write an (N, N) float64 matrix
 *   bench_lap time <file> <reps>             one warm-up, then <reps> timed solves
 *
 * File format: magic "SKLAPF64", int64 n, int64 m, then n*m little-endian
 * float64 row-major. Kinds: uniform (U[0,1)), nearperm (P + 0.1 U[0,1)),
 * wmlike (S = A B^T with B a row-permuted noisy copy of A, like the weight
 * matching cost of two trained layers). Output of `time`: one line per
 * timed solve, "ms objective". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "core/timer.h"
#include "rebasin/lap.h"

static int parse_long(const char *s, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end) return -1;
    *out = v;
    return 0;
}

static int gen(const char *kind, long n, uint64_t seed, const char *path)
{
    sk_rng r;
    double *S = malloc(sizeof(double) * (size_t)n * (size_t)n);
    if (!S) return 1;
    sk_rng_seed(&r, seed);
    if (!strcmp(kind, "uniform")) {
        for (long k = 0; k < n * n; k++)
            S[k] = sk_rng_uniform(&r);
    } else if (!strcmp(kind, "nearperm")) {
        int64_t *q = malloc(sizeof(int64_t) * (size_t)n);
        if (!q) return 1;
        sk_rng_permutation(&r, q, n);
        for (long k = 0; k < n * n; k++)
            S[k] = 0.1 * sk_rng_uniform(&r);
        for (long i = 0; i < n; i++)
            S[i * n + q[i]] += 1.0;
        free(q);
    } else if (!strcmp(kind, "wmlike")) {
        long d = n; /* fan-in of the layer */
        double *A = malloc(sizeof(double) * (size_t)(n * d));
        double *B = malloc(sizeof(double) * (size_t)(n * d));
        int64_t *q = malloc(sizeof(int64_t) * (size_t)n);
        if (!A || !B || !q) return 1;
        sk_rng_permutation(&r, q, n);
        for (long k = 0; k < n * d; k++)
            A[k] = sk_rng_normal(&r);
        for (long i = 0; i < n; i++)
            for (long k = 0; k < d; k++)
                B[q[i] * d + k] = A[i * d + k] + 1.5 * sk_rng_normal(&r);
        for (long i = 0; i < n; i++)
            for (long j = 0; j < n; j++) {
                double s = 0.0;
                for (long k = 0; k < d; k++)
                    s += A[i * d + k] * B[j * d + k];
                S[i * n + j] = s;
            }
        free(A);
        free(B);
        free(q);
    } else {
        fprintf(stderr, "bench_lap: unknown kind '%s'\n", kind);
        return 2;
    }
    FILE *f = fopen(path, "wb");
    int64_t hdr[2] = {n, n};
    if (!f || fwrite("SKLAPF64", 1, 8, f) != 8 || fwrite(hdr, sizeof hdr, 1, f) != 1 ||
        fwrite(S, sizeof(double), (size_t)(n * n), f) != (size_t)(n * n) || fclose(f) != 0) {
        fprintf(stderr, "bench_lap: cannot write %s\n", path);
        return 1;
    }
    free(S);
    return 0;
}

static int timeit(const char *path, long reps)
{
    char magic[8];
    int64_t hdr[2];
    FILE *f = fopen(path, "rb");
    if (!f || fread(magic, 1, 8, f) != 8 || memcmp(magic, "SKLAPF64", 8) || fread(hdr, sizeof hdr, 1, f) != 1 ||
        hdr[0] <= 0 || hdr[1] < hdr[0] || hdr[1] > 100000) {
        fprintf(stderr, "bench_lap: %s: not a matrix file\n", path);
        return 1;
    }
    size_t nm = (size_t)hdr[0] * (size_t)hdr[1];
    double *S = malloc(sizeof(double) * nm);
    int64_t *p = malloc(sizeof(int64_t) * (size_t)hdr[0]);
    if (!S || !p || fread(S, sizeof(double), nm, f) != nm) {
        fprintf(stderr, "bench_lap: %s: truncated\n", path);
        return 1;
    }
    fclose(f);
    for (long r = -1; r < reps; r++) {
        double obj, t0 = sk_now();
        if (lap_solve_max(S, (int)hdr[0], (int)hdr[1], p, &obj) != SK_OK) {
            fprintf(stderr, "bench_lap: %s\n", sk_err_msg());
            return 1;
        }
        double ms = 1e3 * (sk_now() - t0);
        if (r >= 0) printf("%.4f %.17g\n", ms, obj);
    }
    free(S);
    free(p);
    return 0;
}

int main(int argc, char **argv)
{
    long n, seed, reps;
    if (argc == 6 && !strcmp(argv[1], "gen") && !parse_long(argv[3], &n) && n > 0 && n <= 20000 &&
        !parse_long(argv[4], &seed))
        return gen(argv[2], n, (uint64_t)seed, argv[5]);
    if (argc == 4 && !strcmp(argv[1], "time") && !parse_long(argv[3], &reps) && reps > 0) return timeit(argv[2], reps);
    fprintf(stderr, "usage: bench_lap gen <uniform|nearperm|wmlike> <n> <seed> <file>\n"
                    "       bench_lap time <file> <reps>\n");
    return 2;
}
