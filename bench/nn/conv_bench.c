/* conv_bench - per-layer Conv2d timing (built by bench/run conv).
 *   conv_bench THREADS REPS [BATCH]
 * For every distinct conv layer of VGG11 (width 1, 32x32) and ResNet20
 * (width 1), batch BATCH (default 128): forward, and backward (data +
 * weights; weights only for the 3-channel first layers, as in the models),
 * for each algorithm that applies (im2col + SGEMM, Winograd,
 * direct) and the one AUTO picks (marked *). Prints per layer the direct-convolution GFLOP per process
 * CPU-second (2 N O C k^2 OH OW per pass; Winograd does fewer multiplies, so
 * its "effective" rate may exceed the SGEMM peak), the best of REPS, and the
 * in-process SGEMM peak (1024 x 1024 x 1024, same threads) to divide by. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/blas.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/timer.h"
#include "nn/conv_impl.h"
#include "nn/layers.h"
#include "sgemm_peak.h"

typedef struct {
    const char *net, *name;
    int C, H, O, stride, count; /* count: layers of this shape in one network */
} layer;

static const layer layers[] = {
    {"vgg11", "conv1 3-64 @32", 3, 32, 64, 1, 1},       {"vgg11", "conv2 64-128 @16", 64, 16, 128, 1, 1},
    {"vgg11", "conv3 128-256 @8", 128, 8, 256, 1, 1},   {"vgg11", "conv4 256-256 @8", 256, 8, 256, 1, 1},
    {"vgg11", "conv5 256-512 @4", 256, 4, 512, 1, 1},   {"vgg11", "conv6 512-512 @4", 512, 4, 512, 1, 1},
    {"vgg11", "conv7-8 512-512 @2", 512, 2, 512, 1, 2}, {"resnet20", "conv1 3-16 @32", 3, 32, 16, 1, 1},
    {"resnet20", "16-16 @32", 16, 32, 16, 1, 6},        {"resnet20", "16-32 s2 @32", 16, 32, 32, 2, 2},
    {"resnet20", "32-32 @16", 32, 16, 32, 1, 5},        {"resnet20", "32-64 s2 @16", 32, 16, 64, 2, 2},
    {"resnet20", "64-64 @8", 64, 8, 64, 1, 5},
};

/* best CPU seconds and best wall seconds of forward and of backward */
static void time_layer(const sk_conv_shape *s, float *x, float *w, float *b, float *y, float *dx, float *dw, float *db,
                       float *ws, int reps, double t[4])
{
    for (int i = 0; i < 4; i++)
        t[i] = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        double c0 = sk_cpu_now(), w0 = sk_now();
        sk_conv2d_forward(y, x, w, b, s, ws);
        double c1 = sk_cpu_now(), w1 = sk_now();
        sk_conv2d_backward(s->C > 3 ? dx : NULL, dw, db, y, x, w, s, ws, 0);
        double c2 = sk_cpu_now(), w2 = sk_now();
        if (!r) continue; /* warm-up */
        if (c1 - c0 < t[0]) t[0] = c1 - c0;
        if (c2 - c1 < t[1]) t[1] = c2 - c1;
        if (w1 - w0 < t[2]) t[2] = w1 - w0;
        if (w2 - w1 < t[3]) t[3] = w2 - w1;
    }
}

int main(int argc, char **argv)
{
    sk_blas_init(argc, argv);
    int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 5;
    int N = argc > 3 ? atoi(argv[3]) : 128;
    if (threads < 1 || reps < 1 || N < 1) return 2;
    sk_threads_set(threads);
    sk_rng r;
    sk_rng_seed(&r, 1);
    double peak = sgemm_peak(reps);
    printf("# conv_bench: %d threads, batch %d, BLAS %s (%s), SGEMM peak 1024^3 %.1f GFLOP per CPU-s\n", threads, N,
           sk_blas_name(), sk_blas_kernel(), peak);
    printf("# net layer count algo fwd_ms bwd_ms fwd_GF/cpu-s bwd_GF/cpu-s fwd_peak%% bwd_peak%% fwd_wall_ms "
           "bwd_wall_ms\n");
    for (unsigned l = 0; l < sizeof layers / sizeof *layers; l++) {
        const layer *L = &layers[l];
        sk_conv_shape s;
        sk_conv_shape_init(&s, N, L->C, L->H, L->H, L->O, 3, L->stride, 1);
        size_t nx = (size_t)N * L->C * L->H * L->H, nw = (size_t)L->O * L->C * 9, ny = (size_t)N * L->O * s.OH * s.OW;
        float *x = sk_alloc_n(nx, 4), *dx = sk_alloc_n(nx, 4), *w = sk_alloc_n(nw, 4), *dw = sk_alloc_n(nw, 4);
        float *y = sk_alloc_n(ny, 4), *b = sk_alloc_n((size_t)L->O, 4), *db = sk_alloc_n((size_t)L->O, 4);
        float *ws = sk_alloc_n(sk_conv_workspace(&s), 4);
        for (size_t i = 0; i < nx; i++)
            x[i] = (float)sk_rng_uniform(&r) - 0.5f;
        for (size_t i = 0; i < nw; i++)
            w[i] = ((float)sk_rng_uniform(&r) - 0.5f) * 0.1f;
        memset(b, 0, (size_t)L->O * 4);
        double fl = 2.0 * N * L->O * L->C * 9.0 * s.OH * s.OW;
        static const sk_conv_algo algos[3] = {SK_CONV_IM2COL, SK_CONV_WINOGRAD, SK_CONV_DIRECT};
        static const char *const names[3] = {"im2col", "winograd", "direct"};
        int applies[3] = {1, sk_conv_wino_applies(&s), sk_conv_direct_applies(&s)};
        sk_conv_set_algo(SK_CONV_AUTO);
        const sk_conv_algo pick = sk_conv_chosen(&s);
        for (int a = 0; a < 3; a++) {
            if (!applies[a]) continue;
            sk_conv_set_algo(algos[a]);
            double t[4];
            memset(dw, 0, nw * 4);
            time_layer(&s, x, w, b, y, dx, dw, db, ws, reps, t);
            printf("%s\t%-20s\t%d\t%s%s\t%.2f\t%.2f\t%.1f\t%.1f\t%.0f\t%.0f\t%.2f\t%.2f\n", L->net, L->name, L->count,
                   names[a], algos[a] == pick ? "*" : "", 1e3 * t[0], 1e3 * t[1], fl / t[0] * 1e-9,
                   2 * fl / t[1] * 1e-9, 100 * fl / t[0] * 1e-9 / peak, 100 * 2 * fl / t[1] * 1e-9 / peak, 1e3 * t[2],
                   1e3 * t[3]);
        }
        sk_free(x);
        sk_free(dx);
        sk_free(w);
        sk_free(dw);
        sk_free(y);
        sk_free(b);
        sk_free(db);
        sk_free(ws);
    }
    return 0;
}
