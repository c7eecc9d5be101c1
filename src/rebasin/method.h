/* method.h - the alignment methods a run compares (align.methods).
 *
 * Each is implemented in its own file of this folder (wm.c, am.c, ste.c,
 * srb.c); src/app/align.c holds the table that runs, logs and reports them.
 * A new method is one value here with its name, one entry in that table,
 * and its own file (doc/architecture.md). */
#ifndef SK_REBASIN_METHOD_H
#define SK_REBASIN_METHOD_H

typedef enum {
    SK_ALIGN_WEIGHT_MATCHING,
    SK_ALIGN_ACTIVATION_MATCHING,
    SK_ALIGN_STE,
    SK_ALIGN_SINKHORN, /* one aligned model per cost of sinkhorn.costs */
    SK_ALIGN_COUNT
} sk_align_method;

/* "weight_matching", "activation_matching", "ste", "sinkhorn" (core/names.h). */
extern const char *const sk_align_method_names[SK_ALIGN_COUNT];

/* Which of its evaluated permutations a learned method (STE, Sinkhorn
 * re-basin) returns: the one of the lowest evaluation cost over epochs 0..E
 * (ties: the earliest), or the one after the final epoch. */
typedef enum { SK_SELECT_BEST, SK_SELECT_LAST, SK_SELECT_COUNT } sk_select;
/* "best", "last" (core/names.h). */
extern const char *const sk_select_names[SK_SELECT_COUNT];

/* One epoch's score v of a learned method (lower is better): updates the
 * best score and epoch, and the chosen ones under `sel`; returns 1 when the
 * epoch's permutation is the one to keep. Epoch 0 always counts as best. */
int sk_select_track(sk_select sel, int epoch, double v, double *best, int *best_epoch, double *chosen,
                    int *chosen_epoch);

#endif
