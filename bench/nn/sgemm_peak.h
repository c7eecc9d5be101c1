/* sgemm_peak.h - the in-process SGEMM peak the nn benchmarks divide by
 * (nn_bench.c, conv_bench.c): GFLOP per process CPU-second of a
 * 1024 x 1024 x 1024 product at the current thread count, the best of reps
 * timed calls after one untimed call. Needs core/blas.h, core/mem.h and
 * core/timer.h included before it. */
#ifndef SINKRB_BENCH_SGEMM_PEAK_H
#define SINKRB_BENCH_SGEMM_PEAK_H

static double sgemm_peak(int reps)
{
    const int n = 1024;
    float *A = sk_alloc_n((size_t)n * n, 4), *B = sk_alloc_n((size_t)n * n, 4), *C = sk_alloc_n((size_t)n * n, 4);
    for (int i = 0; i < n * n; i++)
        A[i] = B[i] = 0.5f;
    /* Warm up for half a second first: right after start-up OpenBLAS's
     * helper threads busy-wait for a while, and their CPU time counted
     * against the first calls once halved the measured peak (43 instead of
     * ~90 GFLOP per CPU-second on this machine). */
    double w0 = sk_now();
    while (sk_now() - w0 < 0.5)
        sk_sgemm(0, 0, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        double c0 = sk_cpu_now();
        sk_sgemm(0, 0, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
        double dt = sk_cpu_now() - c0;
        if (r && dt < best) best = dt;
    }
    sk_free(A);
    sk_free(B);
    sk_free(C);
    return 2.0 * n * n * n / best * 1e-9;
}

#endif
