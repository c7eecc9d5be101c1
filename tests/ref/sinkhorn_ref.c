/* sinkhorn_ref.c - the published code's dense (2n-1) x (2n-1) KKT solve
 * of the Sinkhorn backward, the reference test_sinkhorn checks the Schur
 * complement solvers against. It validates its inputs with the library's
 * own helpers (rebasin/sinkhorn_impl.h), so both reject the same P and G. */
#include "ref/ref.h"

#include "core/blas.h"
#include "core/err.h"
#include "core/mem.h"
#include "rebasin/sinkhorn_impl.h"

sk_status sk_sinkhorn_backward_dense(const double *P, const double *G, int n, const sk_sinkhorn_opts *o, double *dX)
{
    sk_status st = sk_sh_check_opts("sk_sinkhorn_backward_dense", n, o);
    if (st) return st;
    if (n == 1) {
        dX[0] = 0;
        return SK_OK;
    }
    const double itau = 1.0 / o->tau;
    int m = 2 * n - 1;
    double *M = sk_alloc_n((size_t)m * m, sizeof(double));
    double *vec = sk_alloc_n(6 * (size_t)n, sizeof(double));
    lapack_int *piv = sk_alloc_n((size_t)m, sizeof(lapack_int));
    if (!M || !vec || !piv) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    double *r = vec, *c = r + n, *ga = c + n, *gc = ga + n, *x = gc + n; /* x: 2n */
    if (sk_sh_sums(P, G, n, itau, r, c, ga, gc)) {
        st = sk_err(SK_EINVAL, "sk_sinkhorn_backward_dense: invalid P or G");
        goto cleanup;
    }
    /* [diag(r) P[:, :n-1]; P[:, :n-1]^T diag(c[:n-1])] (row-major) */
    for (int i = 0; i < n; i++) {
        M[(size_t)i * m + i] = r[i];
        for (int j = 0; j < n - 1; j++) {
            M[(size_t)i * m + n + j] = P[(size_t)i * n + j];
            M[(size_t)(n + j) * m + i] = P[(size_t)i * n + j];
        }
        x[i] = ga[i];
    }
    for (int j = 0; j < n - 1; j++) {
        M[(size_t)(n + j) * m + n + j] = c[j];
        x[n + j] = gc[j];
    }
    lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, m, 1, M, m, piv, x, 1);
    if (info != 0) {
        st = sk_err(SK_ENUMERIC, "sk_sinkhorn_backward_dense: singular KKT matrix (dgesv info %d, n = %d)", (int)info,
                    n);
        goto cleanup;
    }
    x[2 * n - 1] = 0; /* v_{n-1} */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            dX[(size_t)i * n + j] = o->scale * P[(size_t)i * n + j] * (itau * G[(size_t)i * n + j] + x[i] + x[n + j]);
cleanup:
    sk_free(M);
    sk_free(vec);
    sk_free(piv);
    return st;
}
