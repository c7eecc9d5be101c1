/* method.c - names of the alignment methods and of the selection rules. */
#include "rebasin/method.h"

const char *const sk_align_method_names[] = {
    [SK_ALIGN_WEIGHT_MATCHING] = "weight_matching",
    [SK_ALIGN_ACTIVATION_MATCHING] = "activation_matching",
    [SK_ALIGN_STE] = "ste",
    [SK_ALIGN_SINKHORN] = "sinkhorn",
};

const char *const sk_select_names[] = {[SK_SELECT_BEST] = "best", [SK_SELECT_LAST] = "last"};
