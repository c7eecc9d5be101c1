#include "config.h"
#include "core/blas.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef SK_BLAS_OPENBLAS
/* Declared in OpenBLAS's cblas.h; repeated for other CBLAS headers. */
char *openblas_get_corename(void);
char *openblas_get_config(void);
void openblas_set_num_threads(int num_threads);
#endif

static char kernel_how[160] = "auto-detected by the BLAS library";
static int n_threads = 1;

#define REEXEC_MARK "SINKRB_BLAS_REEXEC"

void sk_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                A, lda, B, ldb, beta, C, ldc);
}

double sk_blas_selfcheck(void)
{
    /* Odd sizes exercise the kernels' edge handling. */
    static const int shapes[][3] = {{67, 45, 71}, {128, 96, 200}, {1, 33, 17}, {257, 19, 64}};
    double worst = 0.0;
    unsigned s = 12345u;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int M = shapes[k][0], N = shapes[k][1], K = shapes[k][2];
        for (int ta = 0; ta < 2; ta++) {
            for (int tb = 0; tb < 2; tb++) {
                float *A = malloc(sizeof(float) * (size_t)M * K);
                float *B = malloc(sizeof(float) * (size_t)K * N);
                float *C = malloc(sizeof(float) * (size_t)M * N);
                if (!A || !B || !C) {
                    free(A);
                    free(B);
                    free(C);
                    return INFINITY;
                }
                for (int i = 0; i < M * K; i++) {
                    s = s * 1103515245u + 12345u;
                    A[i] = (float)((s >> 9) % 2001) / 1000.0f - 1.0f;
                }
                for (int i = 0; i < K * N; i++) {
                    s = s * 1103515245u + 12345u;
                    B[i] = (float)((s >> 9) % 2001) / 1000.0f - 1.0f;
                }
                for (int i = 0; i < M * N; i++)
                    C[i] = 0.5f;
                int lda = ta ? M : K, ldb = tb ? K : N;
                sk_sgemm(ta, tb, M, N, K, 1.5f, A, lda, B, ldb, 0.25f, C, N);
                for (int i = 0; i < M; i++) {
                    for (int j = 0; j < N; j++) {
                        double acc = 0.0, mag = 0.0;
                        for (int p = 0; p < K; p++) {
                            double a = ta ? A[p * lda + i] : A[i * lda + p];
                            double b = tb ? B[j * ldb + p] : B[p * ldb + j];
                            acc += a * b;
                            mag += fabs(a * b);
                        }
                        double ref = 1.5 * acc + 0.25 * 0.5;
                        double err = fabs(C[i * N + j] - ref) / (1.5 * mag + 1.0);
                        if (!(err <= worst)) worst = isnan(err) ? INFINITY : (err > worst ? err : worst);
                    }
                }
                free(A);
                free(B);
                free(C);
            }
        }
    }
    return worst;
}

#ifdef SK_BLAS_OPENBLAS
static int is_generic_kernel(const char *core)
{
    static const char *generic[] = {"Prescott", "Core2",     "Penryn",     "Dunnington", "Nehalem",
                                    "Atom",     "Katmai",    "Coppermine", "Northwood",  "Banias",
                                    "Opteron",  "Barcelona", "Bobcat",     "Unknown",    NULL};
    for (int i = 0; generic[i]; i++)
        if (strcasecmp(core, generic[i]) == 0) return 1;
    return 0;
}

static const char *best_kernel_for_cpu(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

/* The user decided (SINKRB_BLAS_KERNEL=auto, or OPENBLAS_CORETYPE): say so. */
static int describe_user_choice(void)
{
    const char *user = getenv("SINKRB_BLAS_KERNEL");
    if (user && strcmp(user, "auto") == 0) {
        snprintf(kernel_how, sizeof kernel_how, "auto-detected (SINKRB_BLAS_KERNEL=auto)");
        return 1;
    }
    if (getenv("OPENBLAS_CORETYPE") && !user) {
        snprintf(kernel_how, sizeof kernel_how, "set by OPENBLAS_CORETYPE=%s", getenv("OPENBLAS_CORETYPE"));
        return 1;
    }
    return 0;
}
#endif

static void reexec(char **argv)
{
    fflush(NULL);
    execv("/proc/self/exe", argv);
}

void sk_blas_init(int argc, char **argv)
{
    (void)argc;
    const char *mark = getenv(REEXEC_MARK);
    if (mark) {
        /* Second start: the environment below is in force. */
#ifdef SK_BLAS_OPENBLAS
        const char *forced = getenv("SINKRB_BLAS_FORCED");
        if (forced) {
            const char *user = getenv("SINKRB_BLAS_KERNEL");
            double err = sk_blas_selfcheck();
            if (err > 1e-5) {
                /* The forced kernel computes wrong results: back to auto. */
                setenv("SINKRB_BLAS_KERNEL", "auto", 1);
                unsetenv("OPENBLAS_CORETYPE");
                unsetenv("SINKRB_BLAS_FORCED");
                setenv("SINKRB_BLAS_FALLBACK", forced, 1);
                reexec(argv);
                return;
            }
            if (user && strcmp(user, "auto"))
                snprintf(kernel_how, sizeof kernel_how,
                         "forced by SINKRB_BLAS_KERNEL (library chose %s; verified against a naive SGEMM)", mark);
            else
                snprintf(kernel_how, sizeof kernel_how,
                         "selected by sinkrb: the library chose the generic %s on a CPU with %s; "
                         "verified against a naive SGEMM",
                         mark, getenv("SINKRB_BLAS_ISA") ? getenv("SINKRB_BLAS_ISA") : "AVX2");
            unsetenv("OPENBLAS_CORETYPE"); /* don't leak into child processes */
            unsetenv("SINKRB_BLAS_FORCED");
            unsetenv("SINKRB_BLAS_ISA");
        } else if (getenv("SINKRB_BLAS_FALLBACK")) {
            snprintf(kernel_how, sizeof kernel_how, "auto-detected (the kernel %s failed the self-check)",
                     getenv("SINKRB_BLAS_FALLBACK"));
        } else {
            describe_user_choice();
        }
#endif
        unsetenv(REEXEC_MARK);
        return;
    }

    int again = 0;
    /* libgomp's idle workers spin by default and then fight OpenBLAS's
     * threads for the cores (measured: 2-thread MLP training 6x slower).
     * The runtime reads this only when it loads, hence the re-exec. */
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        again = 1;
    }
#ifdef SK_BLAS_OPENBLAS
    /* OpenBLAS's own worker threads busy-wait (sched_yield) for 2^28 cycles
     * after every threaded product, on the cores our OpenMP loops (the
     * Winograd transforms, the norms) need next: 2^4 puts them to sleep at
     * once. Measured at 2 threads: VGG11 training 126-135 -> 157-165 samples
     * per second, ResNet20 239-266 -> 305-313 (doc/performance.md). */
    if (!getenv("OPENBLAS_THREAD_TIMEOUT")) {
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
        again = 1;
    }
    const char *user = getenv("SINKRB_BLAS_KERNEL");
    const char *core = openblas_get_corename();
    if (!describe_user_choice()) {
        const char *target = user ? user : (is_generic_kernel(core) ? best_kernel_for_cpu() : NULL);
        if (target && strcasecmp(target, core) != 0) {
            setenv("OPENBLAS_CORETYPE", target, 1);
            setenv("SINKRB_BLAS_FORCED", target, 1);
            setenv("SINKRB_BLAS_ISA", user ? "" : (strcmp(target, "SkylakeX") ? "AVX2" : "AVX-512"), 1);
            again = 1;
        }
    }
    const char *markval = core;
#else
    const char *markval = "-";
#endif
    if (again) {
        setenv(REEXEC_MARK, markval, 1);
        reexec(argv);
        /* exec failed: carry on as we are. */
        unsetenv(REEXEC_MARK);
#ifdef SK_BLAS_OPENBLAS
        if (getenv("SINKRB_BLAS_FORCED")) {
            snprintf(kernel_how, sizeof kernel_how, "auto-detected (re-exec for %s failed)",
                     getenv("SINKRB_BLAS_FORCED"));
            unsetenv("SINKRB_BLAS_FORCED");
            unsetenv("OPENBLAS_CORETYPE");
        }
#endif
    }
}

const char *sk_blas_name(void)
{
#ifdef SK_BLAS_OPENBLAS
    static char name[64];
    if (!name[0]) {
        const char *cfg = openblas_get_config();
        /* "OpenBLAS 0.3.21 DYNAMIC_ARCH ..." -> "OpenBLAS 0.3.21" */
        const char *sp = cfg ? strchr(cfg, ' ') : NULL;
        if (sp) sp = strchr(sp + 1, ' ');
        snprintf(name, sizeof name, "%.*s", sp ? (int)(sp - cfg) : 40, cfg ? cfg : "OpenBLAS");
    }
    return name;
#else
    return SK_BLAS_NAME;
#endif
}

const char *sk_blas_kernel(void)
{
#ifdef SK_BLAS_OPENBLAS
    return openblas_get_corename();
#else
    return "unknown";
#endif
}

const char *sk_blas_kernel_how(void)
{
    return kernel_how;
}

void sk_threads_set(int n)
{
    if (n < 1) n = 1;
    n_threads = n;
#ifdef SK_BLAS_OPENBLAS
    openblas_set_num_threads(n);
#endif
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

int sk_blas_serial_begin(void)
{
#ifdef SK_BLAS_OPENBLAS
    if (n_threads > 1) openblas_set_num_threads(1);
    return 1;
#else
    return 0;
#endif
}

void sk_blas_serial_end(void)
{
#ifdef SK_BLAS_OPENBLAS
    if (n_threads > 1) openblas_set_num_threads(n_threads);
#endif
}

int sk_threads_get(void)
{
    return n_threads;
}
