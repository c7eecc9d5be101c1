/* nn_bench - training throughput of sinkrb's nn engine (built by bench/nn/run).
 *   nn_bench mlp|eval|vgg11|vgg11bn|resnet20|gemm THREADS STEPS
 * mlp:   784-512-512-512-10, batch 500, Adam (lr 1e-3, sk_optim as `sinkrb run`), random data
 * vgg11: width 1, layernorm (vgg11bn: batchnorm), Git Re-Basin head, 3x32x32, batch 128:
 *        forward + backward
 * resnet20: width 1, batchnorm, 3x32x32, batch 128: forward + backward
 * eval:  the mlp, forward only (eval mode) + loss at batch 1000
 * vgg11eval, resnet20eval: the conv nets forward only (eval mode) + loss at
 *        batch 500 (the configs' eval_batch_size), as the LMC curves run them
 * gemm:  in-process SGEMM GFLOP/s at the MLP's shapes (the peak to compare with)
 * Prints one line "name samples_per_s gflops ... cpu S" (medians over STEPS timed steps;
 * conv nets add "peak P limit L%": the in-process SGEMM peak in GFLOP per
 * CPU-second and the training rate in direct-convolution FLOPs as a fraction
 * of it, per CPU-second;
 * S = samples per process CPU-second, which time-slicing by other processes
 * does not lower: with 1 thread, the wall rate of an idle machine). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/blas.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/timer.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/train.h"
#include "sgemm_peak.h"

/* Forward FLOPs per sample of the conv nets as direct convolutions and
 * products (2*O*C*k^2*OH*OW per conv, 2*in*out per linear); *first: the
 * first conv's share. Training = 3 x forward less the first layer's input
 * gradient. */
static double conv_net_fwd_flops(const char *what, double *first_out)
{
    double f = 0.0, first = 0.0;
    if (strncmp(what, "resnet20", 8) == 0) {
        /* {C, O, output side, count} of every 3x3 conv */
        static const int L[][4] = {{3, 16, 32, 1},  {16, 16, 32, 6}, {16, 32, 16, 2},
                                   {32, 32, 16, 5}, {32, 64, 8, 2},  {64, 64, 8, 5}};
        for (unsigned i = 0; i < sizeof L / sizeof *L; i++)
            f += 2.0 * L[i][0] * L[i][1] * 9 * L[i][2] * L[i][2] * L[i][3];
        first = 2.0 * 3 * 16 * 9 * 32 * 32;
        f += 2.0 * 64 * 10;
    } else {
        static const int cfg[] = {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
        int c = 3, hw = 32;
        for (unsigned i = 0; i < sizeof cfg / sizeof *cfg; i++) {
            if (!cfg[i]) {
                hw /= 2;
                continue;
            }
            if (c == 3) first = 2.0 * c * cfg[i] * 9 * hw * hw;
            f += 2.0 * c * cfg[i] * 9 * hw * hw;
            c = cfg[i];
        }
        f += 2.0 * (512 * 512 + 512 * 512 + 512 * 10);
    }
    *first_out = first;
    return f;
}

static double conv_net_flops(const char *what)
{
    double first, f = conv_net_fwd_flops(what, &first);
    return 3.0 * f - first;
}

/* A conv net's line: samples per second (step of B samples in dt wall, dc CPU
 * seconds), fs FLOPs per sample as GFLOP/s, the SGEMM peak and the fraction of
 * it reached per CPU-second (the FLOP limit), samples per CPU-second. */
static void print_conv_rate(const char *what, int B, double dt, double dc, double fs, int threads)
{
    const double peak = sgemm_peak(3);
    printf("%s %.0f samples/s %.1f GFLOP/s (%s, %d threads) peak %.1f limit %.0f%% cpu %.0f\n", what, B / dt,
           fs * B / dt * 1e-9, sk_blas_kernel(), threads, peak, 100.0 * fs * B / dc * 1e-9 / peak, B / dc);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    sk_blas_init(argc, argv);
    if (argc < 4) {
        fprintf(stderr, "usage: nn_bench mlp|eval|vgg11|vgg11bn|resnet20|vgg11eval|resnet20eval|gemm THREADS STEPS\n");
        return 2;
    }
    const char *what = argv[1];
    int threads = (int)strtol(argv[2], NULL, 10), steps = (int)strtol(argv[3], NULL, 10);
    if (threads < 1 || steps < 1) return 2;
    sk_threads_set(threads);
    double *t = calloc((size_t)steps, sizeof *t), *ct = calloc((size_t)steps, sizeof *ct);
    sk_rng r;
    sk_rng_seed(&r, 1);

    if (strcmp(what, "gemm") == 0) {
        /* the MLP's three GEMM shapes per layer, 512x512 hidden */
        int M = 500, N = 512, K = 512;
        float *A = sk_alloc_n((size_t)M * K, 4), *B = sk_alloc_n((size_t)N * K, 4), *C = sk_alloc_n((size_t)M * N, 4);
        for (int i = 0; i < M * K; i++)
            A[i] = (float)sk_rng_uniform(&r);
        for (int i = 0; i < N * K; i++)
            B[i] = (float)sk_rng_uniform(&r);
        for (int s = 0; s < steps + 3; s++) {
            double t0 = sk_now();
            sk_sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N); /* forward */
            sk_sgemm(0, 0, M, K, N, 1.0f, C, N, B, K, 0.0f, A, K); /* dx */
            sk_sgemm(1, 0, N, K, M, 1.0f, C, N, A, K, 1.0f, B, K); /* dw */
            if (s >= 3) t[s - 3] = sk_now() - t0;
        }
        double dt = median(t, steps);
        printf("gemm %s %.1f GFLOP/s\n", sk_blas_kernel(), 3.0 * 2.0 * M * N * K / dt * 1e-9);
        sk_free(A);
        sk_free(B);
        sk_free(C);
        free(t);
        free(ct);
        return 0;
    }

    sk_model_spec s;
    memset(&s, 0, sizeof s);
    int B;
    int eval = strcmp(what, "eval") == 0;
    size_t wl = strlen(what);
    int conv_eval = wl > 4 && strcmp(what + wl - 4, "eval") == 0;
    if (strcmp(what, "mlp") == 0 || eval) {
        s.arch = SK_ARCH_MLP;
        s.n_hidden = 3;
        s.hidden[0] = s.hidden[1] = s.hidden[2] = 512;
        s.in_c = 1;
        s.in_h = 28;
        s.in_w = 28;
        s.n_out = 10;
        s.width = 1.0;
        B = eval ? 1000 : 500;
    } else if (strncmp(what, "resnet20", 8) == 0) {
        s.arch = SK_ARCH_RESNET20;
        s.width = 1.0;
        s.norm = SK_MNORM_BATCHNORM;
        s.in_c = 3;
        s.in_h = 32;
        s.in_w = 32;
        s.n_out = 10;
        B = conv_eval ? 500 : 128;
    } else {
        s.arch = SK_ARCH_VGG11;
        s.width = 1.0;
        s.norm = strcmp(what, "vgg11bn") == 0 ? SK_MNORM_BATCHNORM : SK_MNORM_LAYERNORM;
        s.vgg_head = SK_VGGHEAD_GITREBASIN;
        s.in_c = 3;
        s.in_h = 32;
        s.in_w = 32;
        s.n_out = 10;
        B = conv_eval ? 500 : 128;
    }
    sk_model *m = NULL;
    if (sk_model_new(&s, B, &m) != SK_OK) {
        fprintf(stderr, "%s\n", sk_err_msg());
        return 1;
    }
    sk_model_init(m, &r);
    int64_t nin = (int64_t)B * s.in_c * s.in_h * s.in_w;
    float *x = sk_alloc_n((size_t)nin, 4);
    int32_t *y = sk_alloc_n((size_t)B, 4);
    for (int64_t i = 0; i < nin; i++)
        x[i] = (float)sk_rng_uniform(&r);
    for (int i = 0; i < B; i++)
        y[i] = i % 10;
    /* the optimiser `sinkrb run` uses (Adam, lr 1e-3) */
    sk_optim_opts oo;
    sk_optim_opts_init(&oo, SK_OPT_ADAM);
    oo.lr = 1e-3;
    sk_optim *opt = NULL;
    if (sk_optim_new(&oo, sk_model_params(m), &opt) != SK_OK) {
        fprintf(stderr, "%s\n", sk_err_msg());
        return 1;
    }
    sk_loss_spec ls = {0, NULL};
    if (eval || conv_eval) {
        /* forward only (eval mode) + loss: the MLP 10 batches of 1000 per step
         * after 3 untimed steps, the conv nets one batch of 500 after one */
        const int per = eval ? 10 : 1, warm = eval ? 3 : 1;
        for (int st = 0; st < steps + warm; st++) {
            double t0 = sk_now(), c0 = sk_cpu_now();
            for (int b = 0; b < per; b++) {
                const float *lg = sk_model_forward(m, NULL, x, B, 0, NULL);
                int c;
                sk_loss_ce(lg, y, B, 10, NULL, NULL, &c);
            }
            if (st >= warm) {
                t[st - warm] = sk_now() - t0;
                ct[st - warm] = sk_cpu_now() - c0;
            }
        }
        double dt = median(t, steps) / per, dc = median(ct, steps) / per;
        if (eval) {
            printf("eval %.0f samples/s %.1f GFLOP/s (%s, %d threads) cpu %.0f\n", B / dt,
                   2.0 * B * (784 * 512 + 2 * 512 * 512 + 5120) / dt * 1e-9, sk_blas_kernel(), threads, B / dc);
        } else {
            double first;
            print_conv_rate(what, B, dt, dc, conv_net_fwd_flops(what, &first), threads);
        }
        sk_optim_free(opt);
        sk_model_free(m);
        sk_free(x);
        sk_free(y);
        free(t);
        free(ct);
        return 0;
    }
    const int warm = steps < 5 ? 1 : 3; /* untimed warm-up steps */
    for (int st = 0; st < steps + warm; st++) {
        double t0 = sk_now(), c0 = sk_cpu_now();
        if (sk_train_grad(m, NULL, NULL, x, y, NULL, B, &ls, &r, NULL, NULL) != SK_OK) return 1;
        if (s.arch == SK_ARCH_MLP) sk_optim_step(opt, sk_model_params(m), sk_model_grads(m));
        if (st >= warm) {
            t[st - warm] = sk_now() - t0;
            ct[st - warm] = sk_cpu_now() - c0;
        }
    }
    double dt = median(t, steps), dc = median(ct, steps);
    /* GEMM flops: forward 2*B*in*out, backward dw 2*B*in*out, dx 2*B*in*out except layer 0 */
    double fl = 0.0;
    if (s.arch == SK_ARCH_MLP) {
        int dims[5] = {784, 512, 512, 512, 10};
        for (int i = 0; i < 4; i++)
            fl += 2.0 * B * dims[i] * dims[i + 1] * (i == 0 ? 2 : 3);
    }
    if (s.arch != SK_ARCH_MLP) {
        /* conv nets: the rate as direct-convolution FLOPs per CPU-second and as a
         * fraction of the SGEMM peak (the FLOP limit) */
        print_conv_rate(what, B, dt, dc, conv_net_flops(what), threads);
    } else {
        printf("%s %.0f samples/s %.1f GFLOP/s (%s, %d threads) cpu %.0f\n", what, B / dt, fl / dt * 1e-9,
               sk_blas_kernel(), threads, B / dc);
    }
    sk_optim_free(opt);
    sk_model_free(m);
    sk_free(x);
    sk_free(y);
    free(t);
    free(ct);
    return 0;
}
