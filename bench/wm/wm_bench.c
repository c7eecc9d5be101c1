/* wm_bench - weight matching time on two trained MLPs (built by bench/run wm).
 *   wm_bench MODEL_A.h5 MODEL_B.h5 [REPS [THREADS]]
 * Builds the MLP 784-512-512-512-10 parameter layout, loads both endpoints,
 * runs sk_weight_matching (max_iter 100, seed 1) REPS times and prints
 * "wm <median seconds> s <passes> passes objective <last> perm_hash <h> cpu <median CPU s>"
 * (CPU = the process's CPU time: with 1 thread, what the wall time would be on
 * an idle machine)
 * (the hash lets two builds be compared for identical results). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/blas.h"
#include "core/mem.h"
#include "core/timer.h"
#include "io/h5w.h"
#include "nn/model.h"
#include "rebasin/spec.h"
#include "rebasin/wm.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    sk_blas_init(argc, argv);
    if (argc < 3) {
        fprintf(stderr, "usage: wm_bench MODEL_A.h5 MODEL_B.h5 [REPS]\n");
        return 2;
    }
    int reps = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 5;
    if (reps < 1) reps = 1;
    int threads = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 2;
    sk_threads_set(threads < 1 ? 1 : threads);
    sk_model_spec ms;
    memset(&ms, 0, sizeof ms);
    ms.arch = SK_ARCH_MLP;
    ms.n_hidden = 3;
    ms.hidden[0] = ms.hidden[1] = ms.hidden[2] = 512;
    ms.in_c = 1;
    ms.in_h = 28;
    ms.in_w = 28;
    ms.n_out = 10;
    ms.width = 1.0;
    sk_model *m = NULL;
    sk_perm_spec *ps = NULL;
    if (sk_model_new(&ms, 1, &m) != SK_OK) goto fail;
    sk_tset *A = sk_tset_like(sk_model_params(m)), *B = sk_tset_like(sk_model_params(m));
    if (!A || !B) goto fail;
    if (sk_h5w_load_into(argv[1], A, NULL, 0) != SK_OK) goto fail;
    if (sk_h5w_load_into(argv[2], B, NULL, 0) != SK_OK) goto fail;
    if (sk_perm_spec_build(&ms, A, m, &ps) != SK_OK) goto fail;
    double *t = calloc((size_t)reps, sizeof *t), *cpu = calloc((size_t)reps, sizeof *cpu);
    int passes = 0;
    double obj = 0.0;
    unsigned long long h = 1469598103934665603ULL;
    for (int r = 0; r < reps; r++) {
        int64_t **p = sk_perms_identity(ps);
        sk_wm_opts o = {100, 1};
        sk_wm_result res;
        double t0 = sk_now(), c0 = sk_cpu_now();
        if (sk_weight_matching(ps, A, B, &o, p, &res) != SK_OK) goto fail;
        t[r] = sk_now() - t0;
        cpu[r] = sk_cpu_now() - c0;
        passes = res.passes;
        obj = res.objective[res.passes - 1];
        if (r == 0)
            for (int g = 0; g < ps->n_groups; g++)
                for (int64_t i = 0; i < ps->groups[g].size; i++)
                    h = (h ^ (unsigned long long)p[g][i]) * 1099511628211ULL;
        sk_wm_result_free(&res);
        sk_perms_free(ps, p);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_d);
    qsort(cpu, (size_t)reps, sizeof *cpu, cmp_d);
    printf("wm %.3f s %d passes objective %.6f perm_hash %016llx cpu %.3f\n", t[reps / 2], passes, obj, h,
           cpu[reps / 2]);
    free(t);
    free(cpu);
    sk_perm_spec_free(ps);
    sk_tset_free(A);
    sk_tset_free(B);
    sk_model_free(m);
    return 0;
fail:
    fprintf(stderr, "wm_bench: %s\n", sk_err_msg());
    return 1;
}
