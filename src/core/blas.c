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

void sk_sgemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
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
                if (!A || !B || !C) { free(A); free(B); free(C); return INFINITY; }
                for (int i = 0; i < M * K; i++) { s = s * 1103515245u + 12345u; A[i] = (float)((s >> 9) % 2001) / 1000.0f - 1.0f; }
                for (int i = 0; i < K * N; i++) { s = s * 1103515245u + 12345u; B[i] = (float)((s >> 9) % 2001) / 1000.0f - 1.0f; }
                for (int i = 0; i < M * N; i++) C[i] = 0.5f;
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
                free(A); free(B); free(C);
            }
        }
    }
    return worst;
}

#ifdef SK_BLAS_OPENBLAS
static int is_generic_kernel(const char *core)
{
    static const char *generic[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                    "Atom", "Katmai", "Coppermine", "Northwood", "Banias",
                                    "Opteron", "Barcelona", "Bobcat", "Unknown", NULL};
    for (int i = 0; generic[i]; i++)
        if (strcasecmp(core, generic[i]) == 0) return 1;
    return 0;
}

static const char *best_kernel_for_cpu(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
    return NULL;
}

static void reexec(char **argv)
{
    fflush(NULL);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the kernel we have. */
}
#endif

void sk_blas_init(int argc, char **argv)
{
    (void)argc;
#ifdef SK_BLAS_OPENBLAS
    const char *user = getenv("SINKRB_BLAS_KERNEL");
    const char *mark = getenv(REEXEC_MARK);
    const char *core = openblas_get_corename();
    if (mark) {
        /* We re-executed with OPENBLAS_CORETYPE set: verify it. */
        const char *want = getenv("OPENBLAS_CORETYPE");
        double err = sk_blas_selfcheck();
        unsetenv(REEXEC_MARK);
        if (err > 1e-5) {
            /* The forced kernel computes wrong results: go back to auto. */
            setenv("SINKRB_BLAS_KERNEL", "auto", 1);
            unsetenv("OPENBLAS_CORETYPE");
            setenv("SINKRB_BLAS_FALLBACK", want ? want : "?", 1);
            reexec(argv);
            return;
        }
        snprintf(kernel_how, sizeof kernel_how,
                 "%s by sinkrb (library chose %s; CPU supports it; verified against a naive SGEMM)",
                 user && strcmp(user, "auto") ? "forced by SINKRB_BLAS_KERNEL" : "selected",
                 mark);
        unsetenv("OPENBLAS_CORETYPE");  /* don't leak into child processes */
        return;
    }
    if (getenv("SINKRB_BLAS_FALLBACK")) {
        snprintf(kernel_how, sizeof kernel_how,
                 "auto-detected (the faster kernel %s failed the self-check)",
                 getenv("SINKRB_BLAS_FALLBACK"));
        return;
    }
    if (user && strcmp(user, "auto") == 0) {
        snprintf(kernel_how, sizeof kernel_how, "auto-detected (SINKRB_BLAS_KERNEL=auto)");
        return;
    }
    if (getenv("OPENBLAS_CORETYPE") && !user) {
        snprintf(kernel_how, sizeof kernel_how, "set by OPENBLAS_CORETYPE=%s", getenv("OPENBLAS_CORETYPE"));
        return;
    }
    const char *target = user ? user : (is_generic_kernel(core) ? best_kernel_for_cpu() : NULL);
    if (target && strcasecmp(target, core) != 0) {
        setenv("OPENBLAS_CORETYPE", target, 1);
        setenv(REEXEC_MARK, core, 1);
        reexec(argv);
        unsetenv(REEXEC_MARK);
        unsetenv("OPENBLAS_CORETYPE");
        snprintf(kernel_how, sizeof kernel_how, "auto-detected (re-exec for %s failed)", target);
    }
#else
    (void)argv;
#endif
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

const char *sk_blas_kernel_how(void) { return kernel_how; }

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

int sk_threads_get(void) { return n_threads; }
