/* mpi.c - a plan's units over MPI ranks (`mpirun -np K sinkrb run X.yaml`).
 *
 * Every rank builds the same plan from the same config. Rank 0 prepares the
 * top folder (as the serial run: inputs validated, lock, log, config) and
 * makes the task list: the cached endpoint trainings that do not exist yet,
 * then the units that are not complete. A coordinator thread on rank 0
 * hands the tasks out one at a time to whichever rank asks (dynamic
 * scheduling: a rank that finishes takes the next task); a unit is handed
 * out only once the endpoint trainings it needs are done, and a rank that
 * asks while none is ready waits briefly and asks again. Every rank, rank 0
 * included, works through the same request loop; each task is the same
 * function the serial run calls with the same config and thread count, so
 * the results are bit-identical to the serial run's. When every rank has
 * been told to stop, rank 0 collects the top folder's results (the code of
 * `sinkrb collect`) and every rank exits with rank 0's status.
 *
 * Messages: a request (worker -> rank 0, TAG_REQ) carries the task just
 * finished, its status, wall time and error message; the reply (TAG_REP) a
 * task code: k >= 0 unit k, -1 - j endpoint training j, or WAIT / STOP.
 * Waiting ranks sleep instead of spinning in MPI (polling with nanosleep),
 * so that a rank that is done does not take a core from one still working;
 * a rank told to WAIT asks again after 50 ms, then less and less often (up
 * to every 2 s), so that thousands of waiting ranks do not flood rank 0. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/units.h"
#include "core/mem.h"
#include "core/timer.h"
#include "io/atomic.h"
#include "io/log.h"

/* The world size from the launcher's environment (Open MPI, MPICH/Hydra
 * and PMI-1 launchers, Slurm's srun with PMIx), so that a build without MPI
 * can refuse to run K copies of the whole plan. */
int sk_mpi_world_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    const char *pmix = getenv("PMIX_RANK"), *n = getenv("SLURM_NTASKS");
    return pmix && n && atoi(n) > 0 ? atoi(n) : 1;
}

#ifndef HAVE_MPI

const char *sk_mpi_library(void)
{
    return NULL;
}

sk_status sk_mpi_run(const sk_app_opts *o, const sk_config *cfg)
{
    (void)o;
    (void)cfg;
    return sk_err(SK_EUSAGE,
                  "launched as one of %d MPI ranks, but this sinkrb was built without MPI: every rank would run "
                  "the whole plan\nHINT: install libopenmpi-dev and rebuild (./configure --with-mpi), or run "
                  "sinkrb without mpirun",
                  sk_mpi_world_size());
}

#else

#include <mpi.h>
#include <pthread.h>

enum { TAG_REQ = 11, TAG_REP = 12, TAG_STATUS = 13 };
#define TASK_WAIT (-2000000000)
#define TASK_STOP (-2000000001)
#define TASK_NONE (-2000000002)

typedef struct {
    int done;   /* the task just finished (TASK_NONE: the first request) */
    int status; /* its sk_status */
    double seconds;
    char msg[1024];
} request;

const char *sk_mpi_library(void)
{
    static char buf[MPI_MAX_LIBRARY_VERSION_STRING + 1];
    int n = 0;
    if (!buf[0]) {
        MPI_Get_library_version(buf, &n);
        buf[strcspn(buf, "\n,")] = '\0';
    }
    return buf;
}

static void nap(void)
{
    struct timespec ts = {0, 5 * 1000 * 1000}; /* 5 ms */
    nanosleep(&ts, NULL);
}

/* Wait for a request without spinning in MPI. */
static void wait_request(MPI_Request *rq)
{
    for (int flag = 0;;) {
        MPI_Test(rq, &flag, MPI_STATUS_IGNORE);
        if (flag) return;
        nap();
    }
}

/* ---- rank 0's coordinator ---------------------------------------------------- */

typedef struct {
    const sk_plan *p;
    const sk_plan_eps *eps;
    int n_tasks, *code, *state; /* state: 0 to do, 1 given out, 2 done */
    int *ep_task;               /* endpoint training j -> its task, or -1 (already made) */
    int *unit_task;             /* unit k -> its task, or -1 (complete) */
    int first;                  /* tasks before it are all given out */
    int n_ranks, stopped, failed;
    int units_total, units_done;
    double unit_seconds, t0;
    sk_log *log;
    char error[1100];
} coord;

/* Is task t's every endpoint training done? */
static int ready(const coord *c, int t)
{
    int k = c->code[t];
    if (k < 0) return 1;
    for (int e = 0; e < 2; e++) {
        int j = c->eps->needs[k][e];
        if (j >= 0 && c->ep_task[j] >= 0 && c->state[c->ep_task[j]] != 2) return 0;
    }
    return 1;
}

static void progress(coord *c, int t, int rank)
{
    char id[160], eta[64] = "";
    int k = c->code[t], left = c->units_total - c->units_done;
    if (c->units_done > 0) {
        long s = (long)(c->unit_seconds / c->units_done * left / c->n_ranks + 0.5);
        snprintf(eta, sizeof eta, ", ETA %ld min %02ld s", s / 60, s % 60);
    }
    if (k < 0) {
        const sk_plan_ep *ep = &c->eps->ep[-1 - k];
        sk_log_out(c->log, "== endpoint training E%d (model %c, seed %lld) -> rank %d, its epochs in %s.log", -1 - k,
                   'a' + ep->e, ep->seed, rank, ep->path);
        return;
    }
    sk_plan_unit_id(c->p, k, id, sizeof id);
    sk_log_out(c->log, "== %s: unit %d (%s) -> rank %d (%d of %d units done%s)", c->p->top.name, k, id, rank,
               c->units_done, c->units_total, eta);
}

/* The task for `rank` (TASK_WAIT, or TASK_STOP when nothing is left): the
 * first one not given out whose endpoint trainings are done. */
static int next_task(coord *c, int rank)
{
    int pending = 0;
    while (c->first < c->n_tasks && c->state[c->first] != 0)
        c->first++;
    if (!c->failed)
        for (int t = c->first; t < c->n_tasks; t++) {
            if (c->state[t] != 0) continue;
            pending = 1;
            if (!ready(c, t)) continue;
            c->state[t] = 1;
            progress(c, t, rank);
            return c->code[t];
        }
    for (int t = 0; t < c->n_tasks && !c->failed && !pending; t++)
        pending = c->state[t] == 1; /* still running: their dependants may come */
    return pending ? TASK_WAIT : TASK_STOP;
}

static void finished(coord *c, const request *q, int rank)
{
    int t = q->done >= 0 ? c->unit_task[q->done] : c->ep_task[-1 - q->done];
    if (t >= 0) c->state[t] = 2;
    if (q->done >= 0) {
        c->units_done++;
        c->unit_seconds += q->seconds;
    }
    if (q->status != SK_OK && !c->failed) {
        c->failed = q->status;
        snprintf(c->error, sizeof c->error, "rank %d: %s", rank, q->msg);
        sk_log_err(c->log, "rank %d failed, no more tasks are handed out: %s", rank, q->msg);
    }
}

static void *coordinate(void *arg)
{
    coord *c = arg;
    request q;
    MPI_Status ms;
    MPI_Request rq;
    while (c->stopped < c->n_ranks) {
        MPI_Irecv(&q, (int)sizeof q, MPI_BYTE, MPI_ANY_SOURCE, TAG_REQ, MPI_COMM_WORLD, &rq);
        for (int flag = 0; !flag;) {
            MPI_Test(&rq, &flag, &ms);
            if (!flag) nap();
        }
        if (q.done != TASK_NONE) finished(c, &q, ms.MPI_SOURCE);
        int t = next_task(c, ms.MPI_SOURCE);
        if (t == TASK_STOP) c->stopped++;
        MPI_Send(&t, 1, MPI_INT, ms.MPI_SOURCE, TAG_REP, MPI_COMM_WORLD);
    }
    return NULL;
}

/* The tasks of rank 0's plan: the endpoint trainings to make, then the
 * units to run. */
static sk_status make_tasks(coord *c, const sk_app_opts *o, sk_config *u)
{
    const sk_plan *p = c->p;
    c->code = sk_alloc_n((size_t)(c->eps->n + p->n_units + 1), sizeof *c->code);
    c->state = sk_alloc_n((size_t)(c->eps->n + p->n_units + 1), sizeof *c->state);
    c->ep_task = sk_alloc_n((size_t)(c->eps->n + 1), sizeof *c->ep_task);
    c->unit_task = sk_alloc_n((size_t)(p->n_units + 1), sizeof *c->unit_task);
    if (!c->code || !c->state || !c->ep_task || !c->unit_task) return SK_ENOMEM;
    for (int j = 0; j < c->eps->n; j++) {
        c->ep_task[j] = -1;
        if (sk_file_exists(c->eps->ep[j].path)) continue;
        c->ep_task[j] = c->n_tasks;
        c->code[c->n_tasks++] = -1 - j;
    }
    for (int k = 0; k < p->n_units; k++) {
        sk_status st = sk_plan_unit(p, k, u);
        if (st != SK_OK) return st;
        c->unit_task[k] = -1;
        if (!o->restart && sk_plan_unit_complete(u, sk_plan_multi(p))) {
            sk_log_out(c->log, "unit %d is complete from an earlier run: reused (--restart redoes it)", k);
            continue;
        }
        c->unit_task[k] = c->n_tasks;
        c->code[c->n_tasks++] = k;
        c->units_total++;
    }
    return SK_OK;
}

/* ---- every rank ------------------------------------------------------------- */

/* Ask rank 0 for tasks and do them until told to stop. */
static void work(const sk_app_opts *o, const sk_plan *p, const sk_plan_eps *eps, sk_config *u)
{
    request q = {.done = TASK_NONE};
    int naps = 10; /* waiting: 50 ms, doubling up to 2 s while nothing is ready */
    for (;;) {
        int t;
        MPI_Request rq;
        MPI_Send(&q, (int)sizeof q, MPI_BYTE, 0, TAG_REQ, MPI_COMM_WORLD);
        MPI_Irecv(&t, 1, MPI_INT, 0, TAG_REP, MPI_COMM_WORLD, &rq);
        wait_request(&rq);
        if (t == TASK_STOP) return;
        q.done = t;
        if (t == TASK_WAIT) {
            q.done = TASK_NONE;
            for (int i = 0; i < naps; i++)
                nap();
            naps = naps < 200 ? 2 * naps : 400;
            continue;
        }
        naps = 10;
        double t0 = sk_now();
        sk_err_clear();
        sk_status st = t >= 0 ? sk_run_unit_task(o, p, t, u) : sk_run_endpoint_task(o, p, eps, -1 - t);
        q.status = st;
        q.seconds = sk_now() - t0;
        snprintf(q.msg, sizeof q.msg, "%s", st == SK_OK ? "" : sk_err_msg());
    }
}

/* Rank 0: prepare, coordinate (in a thread) while working, collect. */
static sk_status rank0(const sk_app_opts *o, const sk_app_opts *quiet, const sk_config *cfg, int n_ranks, int threaded)
{
    sk_plan_run pr;
    sk_plan_eps eps = {0};
    coord c = {0};
    pthread_t th;
    sk_status st = sk_plan_run_begin(o, cfg, &pr);
    if (st == SK_OK) st = sk_plan_endpoints(pr.p, &eps);
    c = (coord){.p = pr.p, .eps = &eps, .n_ranks = n_ranks, .log = pr.r ? pr.r->log : NULL, .t0 = sk_now()};
    if (st == SK_OK) st = make_tasks(&c, o, pr.u);
    int go = st == SK_OK;
    MPI_Bcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (go) {
        sk_log_out(
            c.log, "%s: %d task(s) (%d endpoint training(s), %d unit(s)) over %d MPI ranks (%s), %d thread(s) each",
            cfg->name, c.n_tasks, c.n_tasks - c.units_total, c.units_total, n_ranks, sk_mpi_library(), cfg->threads);
        if (threaded && pthread_create(&th, NULL, coordinate, &c) == 0) {
            work(quiet, pr.p, &eps, pr.u);
            pthread_join(th, NULL);
        } else {
            c.n_ranks = n_ranks - 1; /* no thread: rank 0 only coordinates */
            if (n_ranks > 1) coordinate(&c);
        }
        if (c.failed) st = sk_err(SK_EIO, "%s", c.error);
    }
    st = sk_plan_run_end(&pr, st);
    sk_plan_endpoints_free(&eps);
    sk_free(c.code);
    sk_free(c.state);
    sk_free(c.ep_task);
    sk_free(c.unit_task);
    return st;
}

sk_status sk_mpi_run(const sk_app_opts *o, const sk_config *cfg)
{
    int provided = 0, rank = 0, size = 1, ok;
    MPI_Initialized(&ok);
    if (!ok)
        MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
    else
        MPI_Query_thread(&provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    sk_app_opts quiet = *o;
    quiet.quiet = 1;
    quiet.progress = SK_PROGRESS_NEVER;
    int threaded = provided >= MPI_THREAD_MULTIPLE;
    sk_status st = SK_OK;
    int multi = cfg->sweep.n > 0 || sk_config_n_repetitions(cfg) > 1;
    if (!multi && rank == 0) { /* a single run: rank 0 runs it, the others have nothing to do */
        if (o->restart) sk_run_forget_cached(cfg);
        st = sk_run_one(o, cfg, NULL);
    } else if (!multi) {
    } else if (rank == 0) {
        st = rank0(o, &quiet, cfg, size, threaded);
    } else {
        sk_plan *p = NULL;
        sk_plan_eps eps = {0};
        sk_config *u = sk_alloc(sizeof *u);
        int go = 0;
        st = u ? sk_plan_new(cfg, &p) : SK_ENOMEM;
        if (st == SK_OK) st = sk_plan_endpoints(p, &eps);
        MPI_Bcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (go) work(&quiet, p, &eps, u);
        sk_plan_endpoints_free(&eps);
        sk_plan_free(p);
        sk_free(u);
    }
    /* Every rank ends with rank 0's status (waiting without spinning). */
    int code[2] = {st, 0};
    MPI_Request rq;
    MPI_Ibcast(code, 1, MPI_INT, 0, MPI_COMM_WORLD, &rq);
    wait_request(&rq);
    if (rank != 0 && code[0] != SK_OK)
        st = sk_err((sk_status)code[0], "stopped: rank 0 reported the error (see its output)");
    MPI_Finalize();
    return rank == 0 ? st : (sk_status)code[0];
}

#endif
