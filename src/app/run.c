/* run.c - the `run`, `check` and `info` commands. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <sys/file.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "app/options.h"
#include "app/state.h"
#include "app/units.h"
#include "app/run_ctx.h"
#include "core/blas.h"
#include "core/mem.h"
#include "core/timer.h"
#include "io/atomic.h"
#include "cfg/cfg.h"
#include "io/h5w.h"
#include "io/log.h"

sk_status sk_app_check(const sk_app_opts *o)
{
    sk_config cfg;
    sk_err_clear();
    sk_status st = sk_config_load(&cfg, o->config_path, o->sets, o->n_sets);
    if (st != SK_OK) return st;
    printf("# %s resolved by sinkrb %s\n", o->config_path, PACKAGE_VERSION);
    st = sk_config_write_yaml(&cfg, stdout);
    if (st == SK_OK && o->verify_spec) st = sk_run_verify_spec(&cfg, stderr);
    return st;
}

/* Stage timing for metrics.json. */
static void set_where(const sk_run *r);

void sk_run_stage(sk_run *r, const char *name, double seconds)
{
    if (r->n_stages < SK_RUN_MAX_STAGES) {
        snprintf(r->stages[r->n_stages].name, sizeof r->stages[0].name, "%s", name);
        r->stages[r->n_stages].seconds = seconds;
        r->n_stages++;
    }
    set_where(r);
}

/* ---- interruption and concurrent runs ------------------------------------------ */

/* What the signal handler says: prepared whenever a run starts or finishes a
 * stage, since the handler can only write what is ready. */
static char interrupted_at[SK_PATH_MAX + 256];

static void on_signal(int sig)
{
    int n = sk_atomic_remove_temps();
    char msg[SK_PATH_MAX + 400];
    size_t k = 0;
    const char *name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    /* Only async-signal-safe calls here: formatting by hand, write(2). */
#define PUT(s)                                                                                                         \
    for (const char *p_ = (s); *p_ && k + 1 < sizeof msg; p_++)                                                        \
    msg[k++] = *p_
    PUT("\nsinkrb: interrupted by ");
    PUT(name);
    PUT(interrupted_at[0] ? interrupted_at : "");
    PUT("; removed ");
    char num[16];
    int d = 0;
    do
        num[d++] = (char)('0' + n % 10);
    while ((n /= 10) && d < 15);
    while (d)
        msg[k++] = num[--d];
    PUT(" unfinished file(s); finished results stay, and a rerun starts again from what is missing\n");
#undef PUT
    if (write(2, msg, k) < 0) {
    }
    _exit(128 + sig);
}

void sk_run_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void set_where(const sk_run *r)
{
    if (r->n_stages)
        snprintf(interrupted_at, sizeof interrupted_at, " in %s after stage %s", r->cfg.output,
                 r->stages[r->n_stages - 1].name);
    else
        snprintf(interrupted_at, sizeof interrupted_at, " in %s before its first stage finished", r->cfg.output);
}

/* One run at a time per output folder: an exclusive lock on <dir>/.sinkrb.lock,
 * held until the process ends; the file names the holder. */
sk_status sk_run_lock(const char *dir, int *fd_out)
{
    char path[SK_PATH_MAX + 32], holder[512] = "";
    snprintf(path, sizeof path, "%s/.sinkrb.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return sk_err(SK_EIO, "%s: cannot create the lock file: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ssize_t n = read(fd, holder, sizeof holder - 1);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            return sk_err(SK_EIO,
                          "%s is in use by another sinkrb run (%s)\nHINT: wait for it to finish, or choose another "
                          "output folder (-o DIR)",
                          dir, holder[0] ? holder : "holder unknown");
        return sk_err(SK_EIO, "%s: cannot lock: %s", path, strerror(e));
    }
    char started[32];
    sk_wall_iso8601(started, sizeof started);
    int len = snprintf(holder, sizeof holder, "pid %ld, started %s\n", (long)getpid(), started);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, holder, (size_t)len, 0) != len) {
        /* the holder's description is a courtesy; the lock itself is held */
    }
    *fd_out = fd;
    return SK_OK;
}

void sk_run_wrote(sk_run *r, const char *path)
{
    size_t ol = strlen(r->cfg.output);
    if (!strncmp(path, r->cfg.output, ol) && path[ol] == '/') path += ol + 1;
    for (int i = 0; i < r->n_files; i++)
        if (!strcmp(r->files[i], path)) return;
    char **f = realloc(r->files, sizeof *f * (size_t)(r->n_files + 1));
    if (!f) return; /* the list is a report; a run does not fail for it */
    r->files = f;
    if ((r->files[r->n_files] = strdup(path))) r->n_files++;
}

void sk_run_files_free(sk_run *r)
{
    for (int i = 0; i < r->n_files; i++)
        free(r->files[i]);
    free(r->files);
    r->files = NULL;
    r->n_files = 0;
}

/* Results of an earlier run in the output folder that this run would not
 * overwrite (aligned_*.h5 and perm_*.h5 of methods no longer run, curves of
 * another mode, ...) are removed before it writes anything, so that the
 * folder holds one run's results. Endpoint weights are never removed, nor a
 * file the config names as an input. */
sk_status sk_run_clear_stale(const sk_run *r)
{
    static const char *const patterns[] = {
        "aligned_*.h5",     "perm_*.h5",           "interp.csv",      "lmc_loss.svg",   "lmc_accuracy.svg",
        "sinkhorn_log.csv", "accuracy_matrix.csv", "cl_accuracy.svg", "sweep.csv",      "metrics.json",
        "sweep_item.csv",   "sweep_item.txt",      "values.csv",      "repetitions.csv"};
    DIR *d = opendir(r->cfg.output);
    if (!d) return SK_OK; /* a new folder */
    sk_status st = SK_OK;
    for (struct dirent *de; (de = readdir(d)) && st == SK_OK;) {
        int stale = 0;
        for (int i = 0; i < (int)(sizeof patterns / sizeof *patterns); i++)
            stale |= fnmatch(patterns[i], de->d_name, 0) == 0;
        if (!stale) continue;
        char path[SK_PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", r->cfg.output, de->d_name);
        int input = 0;
        for (int e = 0; e < 2; e++)
            input |= sk_same_file(path, r->cfg.models[e].weights);
        if (!input && unlink(path) != 0 && errno != ENOENT)
            st = sk_err(SK_EIO, "%s: cannot remove a result of an earlier run: %s", path, strerror(errno));
    }
    closedir(d);
    return st;
}

/* <output>/config.yaml: the config as given (before --restart's changes),
 * which a rerun compares with its own to reuse complete units. */
sk_status sk_run_write_config(sk_run *r, const sk_config *c)
{
    char path[SK_PATH_MAX + 32];
    sk_afile f;
    sk_status st;
    snprintf(path, sizeof path, "%s/config.yaml", r->cfg.output);
    sk_run_wrote(r, path);
    if ((st = sk_afile_open(&f, path)) != SK_OK) return st;
    fprintf(f.fp, "# resolved config written by sinkrb %s (sinkrb run accepts it unchanged)\n", PACKAGE_VERSION);
    if ((st = sk_config_write_yaml(c, f.fp)) != SK_OK) {
        sk_afile_abort(&f);
        return sk_err_prefix(st, "%s: ", path);
    }
    return sk_afile_commit(&f);
}

/* A unit of a multi-unit plan: its sweep item's label and value ("" without
 * a sweep) and its id (the label of its lines in the summary table). */

/* A unit's rows of sweep.csv (or repetitions.csv) and lines of the summary
 * table, kept in its folder (sweep_item.csv, sweep_item.txt) so that a rerun
 * can reuse a finished unit; written before metrics.json, which marks the
 * unit complete. */
static sk_status write_item_rows(sk_run *r, const sk_unit_tag *u)
{
    char path[SK_PATH_MAX + 32], *tbuf = NULL;
    size_t tlen = 0;
    snprintf(path, sizeof path, "%s/sweep_item.csv", r->cfg.output);
    sk_run_wrote(r, path);
    sk_csv *csv = sk_csv_open(path, NULL);
    FILE *table = open_memstream(&tbuf, &tlen);
    sk_status st = csv && table ? sk_run_sweep_rows(r, csv, u->label, u->value, table, u->id)
                   : csv        ? SK_ENOMEM
                                : SK_EIO;
    if (table) fclose(table);
    if (st == SK_OK) {
        st = sk_csv_close(csv);
        csv = NULL;
    }
    sk_csv_abort(csv);
    snprintf(path, sizeof path, "%s/sweep_item.txt", r->cfg.output);
    sk_run_wrote(r, path);
    if (st == SK_OK) st = sk_write_file_atomic(path, tbuf ? tbuf : "", tbuf ? tlen : 0);
    free(tbuf);
    return st;
}

/* One run of a resolved config: the whole config, or one unit of a plan
 * (tag: its label and id). The inputs are validated (data, existing
 * weights) before anything is written. */
sk_status sk_run_one(const sk_app_opts *o, const sk_config *cfg, const sk_unit_tag *tag)
{
    int lock_fd = -1;
    sk_run *r = sk_alloc(sizeof *r);
    sk_status st;
    char path[SK_PATH_MAX + 32];
    if (!r) return SK_ENOMEM;
    r->opts = o;
    r->t_start = sk_now();
    sk_wall_iso8601(r->started, sizeof r->started);
    r->cfg = *cfg;
    sk_endpoint_use_cache(&r->cfg, r->cached);
    if (o->restart) /* a clean run: the endpoints this run made before are made again (the cache's by the plan) */
        for (int e = 0; e < 2; e++)
            if (!r->cached[e] && sk_options_default_weights(&r->cfg, e) && r->cfg.models[e].train == SK_ENDPOINT_AUTO)
                r->cfg.models[e].train = SK_ENDPOINT_ALWAYS;
    st = sk_run_validate_inputs(r);
    if (st != SK_OK) goto cleanup;

    sk_threads_set(r->cfg.threads);
    st = sk_mkdir_p(r->cfg.output);
    if (st == SK_OK) st = sk_run_lock(r->cfg.output, &lock_fd);
    if (st == SK_OK) st = sk_run_clear_stale(r);
    if (st != SK_OK) goto cleanup;
    sk_atomic_remove_dead_temps(r->cfg.output);
    set_where(r);
    snprintf(path, sizeof path, "%s/log.txt", r->cfg.output);
    st = sk_log_open(&r->log, path, o->quiet);
    if (st != SK_OK) goto cleanup;
    sk_run_wrote(r, path);
    sk_log_file(r->log, "sinkrb %s run %s%s%s (mode %s, seed %lld, threads %d, BLAS %s kernel %s)", PACKAGE_VERSION,
                o->config_path, tag ? ", unit " : "", tag ? tag->id : "", sk_mode_name(r->cfg.mode), r->cfg.seed,
                r->cfg.threads, sk_blas_name(), sk_blas_kernel());
    st = sk_run_write_config(r, cfg);
    if (st != SK_OK) goto cleanup;

    st = sk_run_pipeline(r);
    if (st != SK_OK) goto cleanup;

    if (tag && (st = write_item_rows(r, tag)) != SK_OK) goto cleanup;
    sk_wall_iso8601(r->finished, sizeof r->finished);
    if ((st = sk_run_write_values(r)) != SK_OK) goto cleanup;
    st = sk_run_write_metrics(r);
    if (st == SK_OK) sk_log_out(r->log, "results: %s/", r->cfg.output);
cleanup:
    if (st != SK_OK && r->log) sk_log_file(r->log, "error: %s", sk_err_msg());
    sk_run_free_state(r);
    sk_run_files_free(r);
    sk_log_close(r->log);
    if (lock_fd >= 0) close(lock_fd);
    sk_free(r);
    return st;
}

sk_status sk_app_run(const sk_app_opts *o)
{
    sk_config *cfg = sk_alloc(sizeof *cfg);
    sk_status st;
    sk_err_clear();
    if (!cfg) return SK_ENOMEM;
    /* Everything that can be wrong with the config is found before any work. */
    st = sk_config_load(cfg, o->config_path, o->sets, o->n_sets);
    sk_run_catch_signals();
    if (st == SK_OK && sk_mpi_world_size() > 1 && o->unit >= 0)
        st = sk_err(SK_EUSAGE, "--unit runs one unit in one process: under mpirun the ranks share the whole plan");
    else if (st == SK_OK && sk_mpi_world_size() > 1)
        st = sk_mpi_run(o, cfg);
    else if (st == SK_OK && o->unit >= 0)
        st = sk_run_plan_unit(o, cfg);
    else if (st == SK_OK && (cfg->sweep.n > 0 || sk_config_n_repetitions(cfg) > 1))
        st = sk_run_plan(o, cfg);
    else if (st == SK_OK) {
        if (o->restart) sk_run_forget_cached(cfg);
        st = sk_run_one(o, cfg, NULL);
    }
    sk_free(cfg);
    return st;
}

sk_status sk_app_info(const char *path)
{
    sk_err_clear();
    return sk_h5w_info(path, stdout);
}
