/* app.h - the sinkrb commands (run, check, info) as library calls, so that
 * main.c only parses the command line and the tests can call them. */
#ifndef SK_APP_APP_H
#define SK_APP_APP_H

#include "core/err.h"
#include "cfg/cfg.h"
#include "io/progress.h"

typedef struct {
    const char *config_path;
    const char *const *sets; /* --set KEY=VALUE (and -o/--seed/--threads as sets) */
    int n_sets;
    sk_progress_mode progress;
    int quiet;       /* no summary on stdout */
    int verify_spec; /* check: run the permutation-spec proof */
    int restart;     /* run: redo everything instead of resuming */
    int unit;        /* run --unit K: only unit K of the plan (-1: all) */
} sk_app_opts;

/* `sinkrb run`: everything the config asks for; results under cfg.output. */
SK_MUST_CHECK sk_status sk_app_run(const sk_app_opts *o);
/* `sinkrb check`: validate and print the resolved config to stdout. */
SK_MUST_CHECK sk_status sk_app_check(const sk_app_opts *o);
/* `sinkrb plan`: the config's units and the endpoint trainings they need. */
SK_MUST_CHECK sk_status sk_app_plan(const sk_app_opts *o);
/* `sinkrb collect DIR`: the top folder's results from the finished units
 * of the plan in DIR (its config.yaml); an error naming the missing units
 * when there are any. */
SK_MUST_CHECK sk_status sk_app_collect(const sk_app_opts *o, const char *dir);
/* The MPI library sinkrb is built with ("Open MPI v4.1.4"), NULL without
 * MPI (app/mpi.c). */
const char *sk_mpi_library(void);
/* `sinkrb info FILE.h5`. */
SK_MUST_CHECK sk_status sk_app_info(const char *path);

#endif
