/* plan.h - the work units of a config (private to src/app). A config is
 * one experiment, or a sweep of experiments (its items); each experiment
 * runs sk_config_n_repetitions times. Every (item, repetition) pair is a
 * unit: a derived config run on its own into its own folder, independent
 * of every other unit, so that units can run in any order, in parallel, on
 * other machines (--unit, MPI), and a rerun skips the complete ones.
 *
 * Unit k is item k / n_reps, repetition k % n_reps. Its folder:
 *   no sweep, one repetition:  <output>                (the plain run)
 *   no sweep, N repetitions:   <output>/rep<r>
 *   sweep, one repetition:     <output>/<label>
 *   sweep, N repetitions:      <output>/<label>/rep<r>
 * and the experiment folder of item i (where its repetitions' aggregates
 * go) is <output>, or <output>/<label> in a sweep. */
#ifndef SK_APP_PLAN_H
#define SK_APP_PLAN_H

#include <stddef.h>

#include "cfg/cfg.h"

typedef struct {
    sk_config top; /* the finalized config (its sweep, its repetitions) */
    int n_items;   /* sweep items; 1 without a sweep */
    int n_reps;
    int n_units; /* n_items * n_reps */
} sk_plan;

/* A plan of a finalized config; heap-allocated, free with sk_plan_free. */
SK_MUST_CHECK sk_status sk_plan_new(const sk_config *top, sk_plan **out);
void sk_plan_free(sk_plan *p);
/* More than one unit, or a sweep: the run gets a top folder of its own
 * above the units' (sweep.csv, the aggregates). */
int sk_plan_multi(const sk_plan *p);
/* The config of unit k (finalized; errors name the item and repetition). */
SK_MUST_CHECK sk_status sk_plan_unit(const sk_plan *p, int k, sk_config *out);
/* The config of item i (the sweep item, or the config; before repetitions). */
SK_MUST_CHECK sk_status sk_plan_item(const sk_plan *p, int i, sk_config *out);
/* "<label>/rep<r>", "<label>", "rep<r>" or "." (unit k's folder under the output). */
void sk_plan_unit_id(const sk_plan *p, int k, char *buf, size_t n);
/* Item i's folder: <output>/<label>, or <output> without a sweep. */
void sk_plan_item_dir(const sk_plan *p, int i, char *buf, size_t n);
/* Item i's label and value ("" without a sweep). */
const char *sk_plan_item_label(const sk_plan *p, int i);
const char *sk_plan_item_value(const sk_plan *p, int i);
/* Is the unit whose config is `unit` complete in its folder from an earlier
 * run: its results written (metrics.json last, which marks it complete;
 * values.csv; in a multi-unit plan sweep_item.csv and sweep_item.txt) and its
 * config.yaml the unit's resolved config? */
int sk_plan_unit_complete(const sk_config *unit, int multi);

/* The endpoint trainings a plan's units share: the distinct cached
 * endpoints (endpoints.cache, by fingerprint) in the order the units first
 * need them. A unit makes the ones it needs that do not exist yet (under
 * their lock); a scheduler (MPI) makes them first, as tasks of their own. */
typedef struct {
    char fp[24];    /* fingerprint */
    char *path;     /* <cache>/<fingerprint>.h5 (owned) */
    int unit, e;    /* the first unit that needs it, as its endpoint e (0 = a) */
    long long seed; /* its models.X.seed */
} sk_plan_ep;
typedef struct {
    int n;
    sk_plan_ep *ep;  /* (n) */
    int (*needs)[2]; /* (n_units): unit k's endpoint e is ep[needs[k][e]], or -1 (not cached) */
} sk_plan_eps;
SK_MUST_CHECK sk_status sk_plan_endpoints(const sk_plan *p, sk_plan_eps *out);
void sk_plan_endpoints_free(sk_plan_eps *eps);

#endif
