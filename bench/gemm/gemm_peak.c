/* gemm_peak.c - the in-process SGEMM peak (the physical limit of the training hot path; bench/gemm/README.md), per
 * OpenBLAS kernel.
 *
 *   gemm_peak [--rounds R] [--kernels default,auto,Haswell,SkylakeX,Cooperlake] [--quick]
 *
 * The parent runs R rounds; in each round it starts itself once per kernel
 * (SINKRB_BLAS_KERNEL=NAME, or unset for "default" = sinkrb's own policy;
 * sk_blas_init re-executes the child with OPENBLAS_CORETYPE set), so kernels
 * are interleaved in time and background load hits them alike. Each child
 * times every shape once per thread count (best of a few calls) and prints
 * GFLOP/s; the parent prints the median over rounds.
 *
 * Shapes: 2048^3 and the GEMMs of one training step of an MLP
 * 784-512-512-512-10 at batch 500 (row-major, as sinkrb's layers call them):
 *   forward  Y = X W^T          (500 x in) (out x in)^T      NT  M=500 N=out K=in
 *   backward dX = dY W          (500 x out) (out x in)       NN  M=500 N=in  K=out (not for layer 1)
 *            dW = dY^T X        (500 x out)^T (500 x in)     TN  M=out N=in  K=500
 * "mlp step" is the total flops of those 11 GEMMs over their total time. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/blas.h"
#include "core/timer.h"

typedef struct {
    const char *name;
    int ta, tb, M, N, K;
    int mlp; /* part of the MLP step */
} shape;

static const shape shapes[] = {
    {"2048^3 NN", 0, 0, 2048, 2048, 2048, 0},
    {"fwd 500x784 * (512x784)^T", 0, 1, 500, 512, 784, 1},
    {"fwd 500x512 * (512x512)^T", 0, 1, 500, 512, 512, 2}, /* twice */
    {"fwd 500x512 * (10x512)^T", 0, 1, 500, 10, 512, 1},
    {"dX  500x10 * 10x512", 0, 0, 500, 512, 10, 1},
    {"dX  500x512 * 512x512", 0, 0, 500, 512, 512, 2}, /* twice */
    {"dW  (500x10)^T * 500x512", 1, 0, 10, 512, 500, 1},
    {"dW  (500x512)^T * 500x512", 1, 0, 512, 512, 500, 2}, /* twice */
    {"dW  (500x512)^T * 500x784", 1, 0, 512, 784, 500, 1},
};
#define NSHAPE ((int)(sizeof shapes / sizeof shapes[0]))
#define NCOL (NSHAPE + 1) /* + the MLP step aggregate */
static const int thread_counts[] = {1, 2};
#define NTHR 2

static double flops(const shape *s)
{
    return 2.0 * s->M * s->N * s->K;
}

static float *rand_buf(size_t n, unsigned seed)
{
    float *x = malloc(n * sizeof(float));
    if (!x) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)((seed >> 9) % 2001) / 1000.0f - 1.0f;
    }
    return x;
}

/* Seconds per call: best of `reps` timed calls (each repeated until >= 5 ms);
 * *cpu: process CPU seconds per call in the same best sample. */
static double time_shape(const shape *s, int reps, double *cpu)
{
    float *A = rand_buf((size_t)s->M * s->K, 1), *B = rand_buf((size_t)s->K * s->N, 2);
    float *C = rand_buf((size_t)s->M * s->N, 3);
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    sk_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N); /* warm-up */
    int inner = 1;
    double t0 = sk_now();
    sk_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
    double one = sk_now() - t0;
    if (one < 5e-3) inner = (int)(5e-3 / (one > 1e-7 ? one : 1e-7)) + 1;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double c0 = sk_cpu_now();
        t0 = sk_now();
        for (int i = 0; i < inner; i++)
            sk_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
        double t = (sk_now() - t0) / inner, c = (sk_cpu_now() - c0) / inner;
        if (t < best) {
            best = t;
            *cpu = c;
        }
    }
    free(A);
    free(B);
    free(C);
    return best;
}

static int child(int quick)
{
    printf("kernel %s\n", sk_blas_kernel());
    printf("how %s\n", sk_blas_kernel_how());
    printf("blas %s\n", sk_blas_name());
    for (int ti = 0; ti < NTHR; ti++) {
        sk_threads_set(thread_counts[ti]);
        double mlp_flops = 0, mlp_time = 0, mlp_cpu = 0;
        for (int k = 0; k < NSHAPE; k++) {
            int reps = k == 0 ? (quick ? 1 : 3) : (quick ? 2 : 5);
            double cpu = 0;
            double t = time_shape(&shapes[k], reps, &cpu);
            printf("r %d %d %.3f\n", thread_counts[ti], k, flops(&shapes[k]) / t * 1e-9);
            if (thread_counts[ti] == 1) printf("c %d %.3f\n", k, flops(&shapes[k]) / cpu * 1e-9);
            if (shapes[k].mlp) {
                mlp_flops += shapes[k].mlp * flops(&shapes[k]);
                mlp_time += shapes[k].mlp * t;
                mlp_cpu += shapes[k].mlp * cpu;
            }
        }
        printf("r %d %d %.3f\n", thread_counts[ti], NSHAPE, mlp_flops / mlp_time * 1e-9);
        if (thread_counts[ti] == 1) printf("c %d %.3f\n", NSHAPE, mlp_flops / mlp_cpu * 1e-9);
    }
    fflush(stdout);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define MAXK 8
#define MAXR 31

typedef struct {
    char label[32];  /* as requested */
    char kernel[64]; /* as reported by OpenBLAS */
    char how[200];
    double v[NTHR][NCOL][MAXR];
    double cpu1[NCOL][MAXR]; /* 1 thread: GFLOP per CPU-second */
    int nr;
} kres;

/* Run one child with SINKRB_BLAS_KERNEL set (or unset) and parse its output into r. */
static int run_child(const char *self, const char *label, int quick, kres *r)
{
    int fd[2];
    if (pipe(fd) != 0) {
        perror("pipe");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        close(fd[1]);
        unsetenv("OPENBLAS_CORETYPE");
        if (strcmp(label, "default") == 0)
            unsetenv("SINKRB_BLAS_KERNEL");
        else
            setenv("SINKRB_BLAS_KERNEL", label, 1);
        char *args[] = {(char *)self, (char *)"--child", quick ? (char *)"--quick" : NULL, NULL};
        execv(self, args);
        perror("execv");
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    char line[512];
    int got = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        int th, k;
        double g;
        if (strncmp(line, "kernel ", 7) == 0)
            snprintf(r->kernel, sizeof r->kernel, "%s", line + 7);
        else if (strncmp(line, "how ", 4) == 0)
            snprintf(r->how, sizeof r->how, "%s", line + 4);
        else if (strncmp(line, "blas ", 5) == 0)
            continue;
        else if (sscanf(line, "c %d %lf", &k, &g) == 2 && k >= 0 && k < NCOL)
            r->cpu1[k][r->nr] = g;
        else if (sscanf(line, "r %d %d %lf", &th, &k, &g) == 3 && k >= 0 && k < NCOL) {
            int ti = th == 1 ? 0 : 1;
            r->v[ti][k][r->nr] = g;
            got++;
        }
    }
    if (f) fclose(f);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != NTHR * NCOL) {
        fprintf(stderr, "child for %s failed (status %d, %d values)\n", label, status, got);
        return -1;
    }
    r->nr++;
    return 0;
}

static double median(const double *v, int m, double *max)
{
    double tmp[MAXR];
    memcpy(tmp, v, sizeof(double) * (size_t)m);
    qsort(tmp, (size_t)m, sizeof(double), cmp_double);
    *max = tmp[m - 1];
    return m % 2 ? tmp[m / 2] : 0.5 * (tmp[m / 2 - 1] + tmp[m / 2]);
}

int main(int argc, char **argv)
{
    int rounds = 5, quick = 0, is_child = 0;
    const char *klist = "default,auto,Haswell,SkylakeX,Cooperlake";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--child") == 0)
            is_child = 1;
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (errno || *end || v < 1 || v > MAXR) {
                fprintf(stderr, "--rounds: 1..%d\n", MAXR);
                return 2;
            }
            rounds = (int)v;
        } else if (strcmp(argv[i], "--kernels") == 0 && i + 1 < argc)
            klist = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--rounds R] [--kernels default,auto,Haswell,...] [--quick]\n", argv[0]);
            return 2;
        }
    }
    if (is_child) {
        sk_blas_init(argc, argv);
        return child(quick);
    }

    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        perror("readlink /proc/self/exe");
        return 1;
    }
    self[n] = 0;

    static kres res[MAXK];
    int nk = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", klist);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && nk < MAXK; tok = strtok_r(NULL, ",", &save))
        snprintf(res[nk++].label, sizeof res[0].label, "%s", tok);

    printf("BLAS: %s; CPU threads used: 1 and 2; %d rounds, kernels interleaved; median GFLOP/s\n", sk_blas_name(),
           rounds);
    fflush(stdout);
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < nk; k++) {
            /* rotate the order each round so no kernel always runs first */
            kres *kr = &res[(k + r) % nk];
            if (run_child(self, kr->label, quick, kr) != 0) return 1;
        }
        fprintf(stderr, "round %d/%d done\n", r + 1, rounds);
    }

    for (int k = 0; k < nk; k++)
        printf("%-10s -> kernel %-10s (%s)\n", res[k].label, res[k].kernel, res[k].how);
    printf("\n| shape (M x N x K) | thr |");
    for (int k = 0; k < nk; k++)
        printf(" %s (%s) |", res[k].label, res[k].kernel);
    printf("\n|---|---|");
    for (int k = 0; k < nk; k++)
        printf("---|");
    printf("\n");
    for (int c = 0; c < NCOL; c++) {
        for (int ti = 0; ti < NTHR; ti++) {
            if (c < NSHAPE)
                printf("| %s (%dx%dx%d) | %d |", shapes[c].name, shapes[c].M, shapes[c].N, shapes[c].K,
                       thread_counts[ti]);
            else
                printf("| **MLP step** (all 11 GEMMs) | %d |", thread_counts[ti]);
            for (int k = 0; k < nk; k++) {
                double hi, med = median(res[k].v[ti][c], res[k].nr, &hi);
                printf(" %.0f (%.0f) |", med, hi);
            }
            printf("\n");
        }
    }
    printf("\n1 thread, GFLOP per process CPU-second (time-slicing by other processes does not count):\n");
    printf("\n| shape | thr |");
    for (int k = 0; k < nk; k++)
        printf(" %s |", res[k].label);
    printf("\n|---|---|");
    for (int k = 0; k < nk; k++)
        printf("---|");
    printf("\n");
    for (int c = 0; c < NCOL; c++) {
        printf("| %s | 1 |", c < NSHAPE ? shapes[c].name : "**MLP step**");
        for (int k = 0; k < nk; k++) {
            double hi, med = median(res[k].cpu1[c], res[k].nr, &hi);
            printf(" %.0f (%.0f) |", med, hi);
        }
        printf("\n");
    }
    printf("\nValues: median (max) GFLOP/s over rounds; each sample is the best of 3-5 calls.\n"
           "Background load only ever slows a sample down, so on a shared machine the max is\n"
           "the better estimate of what the kernel can do; the median shows what a run meets.\n");
    return 0;
}
