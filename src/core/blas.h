/* blas.h - the one place that includes CBLAS/LAPACKE, plus BLAS kernel
 * selection and thread control.
 *
 * Threads: OpenBLAS (pthreads) and OpenMP must not both spawn a thread per
 * core at once. Rule in sinkrb: never call BLAS inside an OpenMP parallel
 * region; parallelise with OpenMP only loops that do no BLAS calls. */
#ifndef SK_CORE_BLAS_H
#define SK_CORE_BLAS_H

#include <cblas.h>
#include <lapacke.h>

/* Call first thing in main(). With OpenBLAS on a CPU that supports AVX2 or
 * AVX-512 but whose OpenBLAS chose a generic kernel (e.g. "Prescott"), sets
 * OPENBLAS_CORETYPE and re-executes the program once (OpenBLAS reads that
 * variable only when it loads), then verifies the new kernel against a naive
 * product and falls back to auto-detection if it disagrees.
 * User overrides: OPENBLAS_CORETYPE set by the user is respected;
 * SINKRB_BLAS_KERNEL=auto keeps the library's own choice; SINKRB_BLAS_KERNEL=NAME
 * forces NAME. Returns only when no re-exec happened (or exec failed). */
void sk_blas_init(int argc, char **argv);

const char *sk_blas_name(void);       /* "OpenBLAS 0.3.21", "BLIS", "CBLAS" */
const char *sk_blas_kernel(void);     /* "SkylakeX", "Prescott", ... or "unknown" */
const char *sk_blas_kernel_how(void); /* how the kernel was chosen */

/* Compare cblas_sgemm against a naive triple loop for several shapes and
 * transposes. Returns the max relative error seen (0 when exact). */
double sk_blas_selfcheck(void);

/* Threads for BLAS and OpenMP regions (n >= 1). */
void sk_threads_set(int n);
int sk_threads_get(void);

/* For a batch of small independent GEMMs run from an OpenMP loop, one per
 * thread: sk_blas_serial_begin makes the BLAS single-threaded and returns 1
 * (OpenBLAS, whose calls are thread-safe), or returns 0 and changes nothing
 * (other BLAS: call the GEMMs one after another instead);
 * sk_blas_serial_end restores sk_threads_get() BLAS threads. The one
 * exception to "no BLAS inside OpenMP regions". */
int sk_blas_serial_begin(void);
void sk_blas_serial_end(void);

/* Row-major C = alpha * op(A) * op(B) + beta * C. */
void sk_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc);

#endif
