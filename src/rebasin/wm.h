/* wm.h - weight matching (Git Re-Basin Algorithm 1, doc/algorithms.md §4). */
#ifndef SK_REBASIN_WM_H
#define SK_REBASIN_WM_H
#include <stdint.h>

#include "core/err.h"
#include "core/tensor.h"
#include "rebasin/spec.h"

typedef struct {
    int max_iter;  /* passes over the groups (default 100) */
    uint64_t seed; /* group order: a fresh shuffle per pass from this seed */
} sk_wm_opts;

typedef struct {
    int passes;        /* passes run (the last one made no improvement, or max_iter) */
    double *objective; /* (passes) sum over parameters of <theta_A, pi(theta_B)> after each pass */
} sk_wm_result;

/* Find perms (one per group of s) maximising <A, pi(B)>. perms holds the start
 * (identity, or a warm start) and receives the result. */
SK_MUST_CHECK sk_status sk_weight_matching(const sk_perm_spec *s, const sk_tset *A, const sk_tset *B,
                                           const sk_wm_opts *o, int64_t **perms, sk_wm_result *res);
void sk_wm_result_free(sk_wm_result *res);
/* sum_i a[i] b[i] over whole blocks, in double. */
double sk_params_dot(const sk_tset *a, const sk_tset *b);

#endif
