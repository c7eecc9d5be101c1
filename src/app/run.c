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

static void catch_signals(void)
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
static sk_status lock_output(const char *dir, int *fd_out)
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
static sk_status clear_stale(const sk_run *r)
{
    static const char *const patterns[] = {
        "aligned_*.h5",        "perm_*.h5",       "interp.csv", "lmc_loss.svg", "lmc_accuracy.svg", "sinkhorn_log.csv",
        "accuracy_matrix.csv", "cl_accuracy.svg", "sweep.csv",  "metrics.json", "sweep_item.csv",   "sweep_item.txt"};
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

static sk_status write_config(sk_run *r)
{
    char path[SK_PATH_MAX + 32];
    sk_afile f;
    sk_status st;
    snprintf(path, sizeof path, "%s/config.yaml", r->cfg.output);
    sk_run_wrote(r, path);
    if ((st = sk_afile_open(&f, path)) != SK_OK) return st;
    fprintf(f.fp, "# resolved config written by sinkrb %s (sinkrb run accepts it unchanged)\n", PACKAGE_VERSION);
    if ((st = sk_config_write_yaml(&r->cfg, f.fp)) != SK_OK) {
        sk_afile_abort(&f);
        return sk_err_prefix(st, "%s: ", path);
    }
    return sk_afile_commit(&f);
}

/* One run of a resolved config (a whole config, or one item of a sweep).
 * The inputs are validated (data, existing weights) before anything is
 * written. With `csv`, the run's summary rows are added to the sweep's. */
/* A sweep item's rows of sweep.csv and lines of the summary table, kept in
 * its folder (sweep_item.csv, sweep_item.txt) so that a rerun of the sweep
 * can reuse a finished item; written before metrics.json, which marks the
 * item complete. */
static sk_status write_item_rows(sk_run *r, const char *label, const char *value)
{
    char path[SK_PATH_MAX + 32], *tbuf = NULL;
    size_t tlen = 0;
    snprintf(path, sizeof path, "%s/sweep_item.csv", r->cfg.output);
    sk_run_wrote(r, path);
    sk_csv *csv = sk_csv_open(path, NULL);
    FILE *table = open_memstream(&tbuf, &tlen);
    sk_status st = csv && table ? sk_run_sweep_rows(r, csv, label, value, table) : csv ? SK_ENOMEM : SK_EIO;
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

static sk_status run_one(const sk_app_opts *o, const sk_config *cfg, const char *label, const char *value)
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
    if (o->restart) /* a clean run: the endpoints this run made before are made again */
        for (int e = 0; e < 2; e++)
            if (sk_options_default_weights(&r->cfg, e) && r->cfg.models[e].train == SK_ENDPOINT_AUTO)
                r->cfg.models[e].train = SK_ENDPOINT_ALWAYS;
    st = sk_run_validate_inputs(r);
    if (st != SK_OK) goto cleanup;

    sk_threads_set(r->cfg.threads);
    st = sk_mkdir_p(r->cfg.output);
    if (st == SK_OK) st = lock_output(r->cfg.output, &lock_fd);
    if (st == SK_OK) st = clear_stale(r);
    if (st != SK_OK) goto cleanup;
    sk_atomic_remove_dead_temps(r->cfg.output);
    set_where(r);
    snprintf(path, sizeof path, "%s/log.txt", r->cfg.output);
    st = sk_log_open(&r->log, path, o->quiet);
    if (st != SK_OK) goto cleanup;
    sk_run_wrote(r, path);
    sk_log_file(r->log, "sinkrb %s run %s%s%s (mode %s, seed %lld, threads %d, BLAS %s kernel %s)", PACKAGE_VERSION,
                o->config_path, label ? ", sweep item " : "", label ? label : "", sk_mode_name(r->cfg.mode),
                r->cfg.seed, r->cfg.threads, sk_blas_name(), sk_blas_kernel());
    st = write_config(r);
    if (st != SK_OK) goto cleanup;

    st = sk_run_pipeline(r);
    if (st != SK_OK) goto cleanup;

    if (label && (st = write_item_rows(r, label, value)) != SK_OK) goto cleanup;
    sk_wall_iso8601(r->finished, sizeof r->finished);
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

/* Is sweep item `item` complete in its folder from an earlier run of the same
 * config: its metrics.json, rows and table written, and its config.yaml the
 * item's resolved config? */
static int item_complete(const sk_config *item)
{
    static const char *const need[] = {"metrics.json", "sweep_item.csv", "sweep_item.txt"};
    char path[SK_PATH_MAX + 32];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", item->output, need[i]);
        if (!sk_file_exists(path)) return 0;
    }
    snprintf(path, sizeof path, "%s/config.yaml", item->output);
    FILE *f = fopen(path, "rb");
    char *want = sk_config_to_yaml(item), *have = NULL;
    size_t cap = 0;
    int same = 0;
    if (f && want) {
        ssize_t n = getdelim(&have, &cap, '\0', f);           /* the whole file */
        const char *body = n > 0 ? strchr(have, '\n') : NULL; /* after the "# resolved config" line */
        same = body && !strcmp(body + 1, want);
    }
    if (f) fclose(f);
    free(have);
    free(want);
    return same;
}

/* Appends a finished item's rows and table lines (from its folder). */
static sk_status append_item_rows(const sk_config *item, sk_csv *csv, FILE *table)
{
    char path[SK_PATH_MAX + 32], *line = NULL;
    size_t cap = 0;
    sk_status st = SK_OK;
    snprintf(path, sizeof path, "%s/sweep_item.csv", item->output);
    FILE *f = fopen(path, "rb");
    if (!f) return sk_err(SK_EIO, "%s: %s", path, strerror(errno));
    for (ssize_t n; (n = getline(&line, &cap, f)) > 0;) {
        if (line[n - 1] == '\n') line[n - 1] = '\0';
        if ((st = sk_csv_row(csv, "%s", line)) != SK_OK) break;
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/sweep_item.txt", item->output);
    if (st == SK_OK && (f = fopen(path, "rb"))) {
        for (ssize_t n; (n = getline(&line, &cap, f)) > 0;)
            fputs(line, table);
        fclose(f);
    } else if (st == SK_OK) {
        st = sk_err(SK_EIO, "%s: %s", path, strerror(errno));
    }
    free(line);
    return st;
}

/* A sweep: every item's inputs are checked first, then the items run in
 * order into <output>/<label>/ (an item already complete from an earlier run
 * of the same config is reused unless --restart); <output>/sweep.csv (one
 * row per item and method and split) appears when the last item has
 * finished. */
static sk_status run_sweep(const sk_app_opts *o, const sk_config *cfg)
{
    int lock_fd = -1;
    sk_config *items = sk_alloc_n((size_t)cfg->sweep.n, sizeof *items);
    sk_run *r = sk_alloc(sizeof *r);
    sk_csv *csv = NULL;
    sk_log *log = NULL;
    char *tbuf = NULL;
    size_t tlen = 0;
    FILE *table = NULL;
    char path[SK_PATH_MAX + 32];
    sk_status st = SK_OK;
    double t0 = sk_now(), secs[SK_CFG_SWEEP];
    if (!items || !r) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int i = 0; i < cfg->sweep.n && st == SK_OK; i++) {
        st = sk_config_sweep_item(cfg, i, &items[i]);
        if (st != SK_OK) break;
        memset(r, 0, sizeof *r);
        r->opts = o;
        r->cfg = items[i];
        st = sk_run_validate_inputs(r);
        if (st != SK_OK) st = sk_err_prefix(st, "sweep item %s: ", cfg->sweep.labels[i]);
        sk_run_free_state(r);
    }
    if (st != SK_OK) goto cleanup;

    memset(r, 0, sizeof *r);
    r->opts = o;
    r->cfg = *cfg;
    r->t_start = t0;
    sk_wall_iso8601(r->started, sizeof r->started);
    if ((st = sk_mkdir_p(cfg->output)) != SK_OK || (st = lock_output(cfg->output, &lock_fd)) != SK_OK ||
        (st = clear_stale(r)) != SK_OK)
        goto cleanup;
    sk_atomic_remove_dead_temps(cfg->output);
    snprintf(path, sizeof path, "%s/log.txt", cfg->output);
    if ((st = sk_log_open(&log, path, o->quiet)) != SK_OK) goto cleanup;
    sk_run_wrote(r, path);
    r->log = log;
    if ((st = write_config(r)) != SK_OK) goto cleanup;
    snprintf(path, sizeof path, "%s/sweep.csv", cfg->output);
    sk_run_wrote(r, path);
    csv = sk_csv_open(path, sk_run_sweep_header(cfg));
    table = open_memstream(&tbuf, &tlen);
    if (!csv || !table) {
        st = csv ? SK_ENOMEM : SK_EIO;
        goto cleanup;
    }
    for (int i = 0; i < cfg->sweep.n && st == SK_OK; i++) {
        double ti = sk_now();
        int reuse = !o->restart && item_complete(&items[i]);
        sk_log_out(log, "== sweep %s: item %d of %d, %s = %s -> %s/%s/%s", cfg->name, i + 1, cfg->sweep.n,
                   cfg->sweep.key, cfg->sweep.values[i], cfg->output, cfg->sweep.labels[i],
                   reuse ? " (complete from an earlier run: reused; --restart redoes it)" : "");
        if (!reuse) st = run_one(o, &items[i], cfg->sweep.labels[i], cfg->sweep.values[i]);
        if (st == SK_OK) st = append_item_rows(&items[i], csv, table);
        if (st != SK_OK) st = sk_err_prefix(st, "sweep item %s: ", cfg->sweep.labels[i]);
        secs[i] = sk_now() - ti;
        if (st == SK_OK) sk_log_file(log, "item %s finished in %.1f s", cfg->sweep.labels[i], secs[i]);
    }
    if (st != SK_OK) goto cleanup;
    st = sk_csv_close(csv);
    csv = NULL;
    if (st != SK_OK) goto cleanup;
    sk_wall_iso8601(r->finished, sizeof r->finished);
    if ((st = sk_run_write_sweep_metrics(r, secs)) != SK_OK) goto cleanup;
    fflush(table);
    sk_log_out(log, "%s", "");
    sk_log_out(log, "sweep %s over %s (%d items, %.1f s):", cfg->name, cfg->sweep.key, cfg->sweep.n, sk_now() - t0);
    if (*sk_run_sweep_table_header(cfg)) sk_log_out(log, "%s", sk_run_sweep_table_header(cfg));
    for (char *line = tbuf, *nl; line && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) break;
        *nl = '\0';
        sk_log_out(log, "%s", line);
    }
    sk_log_out(log, "results: %s/ (sweep.csv, and one folder per item)", cfg->output);
cleanup:
    if (st != SK_OK && log) sk_log_file(log, "error: %s", sk_err_msg());
    sk_csv_abort(csv);
    if (table) fclose(table);
    free(tbuf);
    sk_log_close(log);
    sk_free(items);
    if (lock_fd >= 0) close(lock_fd);
    if (r) sk_run_files_free(r);
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
    catch_signals();
    if (st == SK_OK) st = cfg->sweep.n > 0 ? run_sweep(o, cfg) : run_one(o, cfg, NULL, NULL);
    sk_free(cfg);
    return st;
}

sk_status sk_app_info(const char *path)
{
    sk_err_clear();
    return sk_h5w_info(path, stdout);
}
