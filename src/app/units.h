/* units.h - running a plan's units (private to src/app; units.c): the
 * pieces the serial driver, --unit and the MPI scheduler (mpi.c) share. */
#ifndef SK_APP_UNITS_H
#define SK_APP_UNITS_H

#include "app/plan.h"
#include "app/run_ctx.h"

/* A plan's top folder while its units run: the plan, the top run (its log
 * and provenance), the folder's lock. */
typedef struct {
    sk_plan *p;
    sk_run *r;
    sk_config *u; /* scratch for unit configs */
    int lock_fd;
} sk_plan_run;

/* Validate every experiment's inputs, lock and prepare the top folder (its
 * log and config; with --restart, the plan's cached endpoints removed). */
SK_MUST_CHECK sk_status sk_plan_run_begin(const sk_app_opts *o, const sk_config *cfg, sk_plan_run *pr);
/* When st is SK_OK collect the top folder's results (an error when a unit
 * is missing); release everything. Returns the final status. */
SK_MUST_CHECK sk_status sk_plan_run_end(sk_plan_run *pr, sk_status st);
/* Tasks of a scheduler: make the plan's endpoint training j (into the
 * endpoint cache), or run unit k (whether complete or not). */
SK_MUST_CHECK sk_status sk_run_endpoint_task(const sk_app_opts *o, const sk_plan *p, const sk_plan_eps *eps, int j);
SK_MUST_CHECK sk_status sk_run_unit_task(const sk_app_opts *o, const sk_plan *p, int k, sk_config *u);

/* mpi.c: the number of ranks this process was launched with by an MPI
 * launcher (1 when it was not), and a plan run over the ranks (every rank
 * calls it; an error without MPI built in). */
int sk_mpi_world_size(void);
SK_MUST_CHECK sk_status sk_mpi_run(const sk_app_opts *o, const sk_config *cfg);

#endif
