/* method.c - names of the alignment methods and of the selection rules. */
#include "rebasin/method.h"

const char *const sk_align_method_names[] = {
    [SK_ALIGN_WEIGHT_MATCHING] = "weight_matching",
    [SK_ALIGN_ACTIVATION_MATCHING] = "activation_matching",
    [SK_ALIGN_STE] = "ste",
    [SK_ALIGN_SINKHORN] = "sinkhorn",
};

const char *const sk_select_names[] = {[SK_SELECT_BEST] = "best", [SK_SELECT_LAST] = "last"};

int sk_select_track(sk_select sel, int epoch, double v, double *best, int *best_epoch, double *chosen,
                    int *chosen_epoch)
{
    int better = epoch == 0 || v < *best;
    if (better) {
        *best = v;
        *best_epoch = epoch;
    }
    if (!better && sel != SK_SELECT_LAST) return 0;
    *chosen = v;
    *chosen_epoch = epoch;
    return 1;
}
