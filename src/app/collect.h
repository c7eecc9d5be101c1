/* collect.h - the results of a multi-unit plan above its units (private to
 * src/app): whatever the complete units left in their folders, gathered
 * into the top folder (and, with repetitions, each experiment's folder).
 * `sinkrb run` calls it after the last unit; `sinkrb collect` and MPI's
 * rank 0 call it too, so they all write the same files. */
#ifndef SK_APP_COLLECT_H
#define SK_APP_COLLECT_H

#include "app/plan.h"
#include "app/run_ctx.h"

/* r: the top run (r->cfg = p->top, its log and provenance). Writes the top
 * folder's files from the complete units and sets *n_missing to the number
 * of units that are not complete (each named in the log). */
SK_MUST_CHECK sk_status sk_collect_write(sk_run *r, const sk_plan *p, int *n_missing);

#endif
