/* rebasin_il.c - incremental learning via re-basin (ALGORITHMS.md §10). */
#include "continual/method.h"

sk_status sk_cl_rebasin_task(sk_cl_trainer *tr, int t, sk_progress *pg, int64_t *done)
{
    (void)tr;
    (void)t;
    (void)pg;
    (void)done;
    return sk_err(SK_EINVAL, "continual method rebasin is not available in this build (soft permutations missing)");
}
