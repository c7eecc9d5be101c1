/* continual.c - `mode: continual`: build the benchmark, run every configured
 * method from the same initialisation, and report the accuracy matrices
 * (CSV, SVG, JSON, stdout table). */
#include "continual/continual.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "continual/bench.h"
#include "continual/ckpt.h"
#include "continual/method.h"
#include "core/mem.h"
#include "core/names.h"
#include "core/timer.h"
#include "io/atomic.h"
#include "io/csv.h"
#include "io/svg.h"

#define STREAM_INIT 0x696e697400ULL

struct sk_cl_results {
    int T, n;
    int method[SK_CL_MAX_METHODS];
    char benchmark[32];
    double *acc; /* (n, T, T) */
    double seconds[SK_CL_MAX_METHODS];
};

const char *const sk_cl_method_names[] = {
    [SK_CL_FINETUNE] = "finetune", [SK_CL_EWC] = "ewc",     [SK_CL_REPLAY] = "replay",
    [SK_CL_AGEM] = "agem",         [SK_CL_JOINT] = "joint", [SK_CL_REBASIN] = "rebasin"};

const char *const sk_cl_rebasin_loss_names[] = {
    [SK_CL_REBASIN_LOSS_MEAN] = "mean", [SK_CL_REBASIN_LOSS_TASK_MEAN] = "task_mean"};

const char *sk_cl_method_name(int method)
{
    return SK_NAME(sk_cl_method_names, method);
}

int sk_cl_results_tasks(const sk_cl_results *r)
{
    return r->T;
}
int sk_cl_results_n_methods(const sk_cl_results *r)
{
    return r->n;
}
const char *sk_cl_results_method(const sk_cl_results *r, int k)
{
    return sk_cl_method_name(r->method[k]);
}
const double *sk_cl_results_matrix(const sk_cl_results *r, int k)
{
    return r->acc + (int64_t)k * r->T * r->T;
}
double sk_cl_results_seconds(const sk_cl_results *r, int k)
{
    return r->seconds[k];
}

void sk_cl_results_free(sk_cl_results *r)
{
    if (!r) return;
    sk_free(r->acc);
    sk_free(r);
}

void sk_cl_trainer_free(sk_cl_trainer *tr)
{
    if (!tr) return;
    sk_model_free(tr->m);
    sk_tset_free(tr->g2);
    sk_optim_free(tr->opt);
    sk_free(tr->x);
    sk_free(tr->y);
    sk_free(tr->task);
    sk_free(tr->idx);
    sk_free(tr->order);
    sk_free(tr->mem_order);
    sk_cl_memory_free(&tr->mem);
    sk_tset_free(tr->ewc_a);
    sk_tset_free(tr->ewc_c);
    memset(tr, 0, sizeof *tr);
}

sk_status sk_cl_trainer_init(sk_cl_trainer *tr, const sk_cl_bench *b, const sk_cl_opts *o, const sk_model_spec *ms)
{
    sk_status st = SK_OK;
    const int T = b->T;
    memset(tr, 0, sizeof *tr);
    tr->b = b;
    tr->o = o;
    tr->cap = 2 * o->batch_size;
    int max_batch = tr->cap > o->eval_batch_size ? tr->cap : o->eval_batch_size;
    if ((st = sk_model_new(ms, max_batch, &tr->m)) != SK_OK) goto fail;
    int64_t max_order = 0, sum_train = 0;
    for (int t = 0; t < T; t++) {
        if (b->n_train[t] > max_order) max_order = b->n_train[t];
        sum_train += b->n_train[t];
    }
    for (int k = 0; k < o->n_methods; k++)
        if (o->methods[k] == SK_CL_JOINT && sum_train > max_order) max_order = sum_train;
    if (max_order > INT32_MAX) {
        st = sk_err(SK_EINVAL, "continual: more than 2^31 training examples");
        goto fail;
    }
    tr->x = sk_alloc_n((size_t)tr->cap * b->D, sizeof(float));
    tr->y = sk_alloc_n((size_t)tr->cap, sizeof(int32_t));
    tr->task = sk_alloc_n((size_t)tr->cap, sizeof(int32_t));
    tr->idx = sk_alloc_n((size_t)tr->cap, sizeof(int32_t));
    tr->order = sk_alloc_n((size_t)max_order, sizeof(int32_t));
    /* The memory never holds more than every training example once. */
    int64_t per_task = o->memory == SK_CL_MEMORY_PER_CLASS ? (int64_t)o->memory_per_class * b->K : o->memory_per_task;
    int64_t mem_max = (per_task > 0 ? per_task : 0) * T;
    if (mem_max > sum_train) mem_max = sum_train;
    tr->mem_max = mem_max;
    tr->mem_order = sk_alloc_n((size_t)mem_max + 1, sizeof(int32_t));
    tr->g2 = sk_tset_like(sk_model_params(tr->m));
    if (!tr->x || !tr->y || !tr->task || !tr->idx || !tr->order || !tr->mem_order || !tr->g2) {
        st = SK_ENOMEM;
        goto fail;
    }
    if ((st = sk_optim_new(&o->opt, sk_model_params(tr->m), &tr->opt)) != SK_OK) goto fail;
    sk_cl_trainer_reset(tr);
    return SK_OK;
fail:
    sk_cl_trainer_free(tr);
    return st;
}

/* What the run carries from task to task for its checkpoints. */
typedef struct {
    const sk_cl_opts *o;
    sk_log *log;
    sk_cl_ckpt ck; /* path NULL: no checkpoints */
    int k;         /* the method in progress */
    double t0;     /* when it started (resumed: earlier by its seconds so far) */
    int failed;    /* a checkpoint could not be written: logged once, no more attempts */
} run_ckpt;

/* sk_cl_task_hooks.after_task: the seconds so far, the checkpoint, the
 * caller's hook. A checkpoint that cannot be written costs the resumption,
 * not the run: logged, and the run goes on. */
static sk_status after_task(void *ctx, int t)
{
    run_ckpt *c = ctx;
    c->ck.seconds[c->k] = sk_now() - c->t0;
    if (c->ck.path && !c->failed && sk_cl_ckpt_write(&c->ck, c->k, t + 1) != SK_OK) {
        sk_log_err(c->log, "warning: no checkpoint after continual %s task %d (the run goes on): %s",
                   sk_cl_method_name(c->ck.methods[c->k]), t + 1, sk_err_msg());
        sk_err_clear();
        c->failed = 1;
    }
    if (!c->o->ckpt.after_task) return SK_OK;
    return c->o->ckpt.after_task(c->o->ckpt.ctx, c->k, t, sk_model_params(c->ck.tr->m));
}

/* When the checkpoint file holds this run's state, restore it: *k0 the
 * method to go on with, *first its rounds done. One that does not fit or
 * cannot be read is ignored (the first new checkpoint replaces it). */
static void resume(run_ckpt *c, int *k0, int *first)
{
    const char *why;
    int k, done;
    *k0 = *first = 0;
    if (!c->ck.path || sk_path_kind_of(c->ck.path, &why) == SK_PATH_ABSENT) return;
    if (sk_cl_ckpt_read(&c->ck, &k, &done) != SK_OK) {
        sk_log_err(c->log, "continual: ignoring the checkpoint %s (it will be replaced): %s", c->ck.path, sk_err_msg());
        sk_err_clear();
        return;
    }
    int meth = c->ck.methods[k], rounds = sk_cl_method_rounds(meth, c->ck.tr->b->T);
    sk_log_err(c->log, "continual: resuming from the checkpoint %s after %s task %d/%d (method %d/%d)", c->ck.path,
               sk_cl_method_name(meth), meth == SK_CL_JOINT ? c->ck.tr->b->T : done,
               meth == SK_CL_JOINT ? c->ck.tr->b->T : rounds, k + 1, c->ck.n_methods);
    *k0 = done == rounds ? k + 1 : k;
    *first = done == rounds ? 0 : done;
}

/* Every method from the same initialisation (or from the checkpoint). */
static sk_status run_methods(sk_cl_trainer *tr, sk_cl_results *r, const sk_cl_opts *o, sk_log *log, sk_progress_mode pm)
{
    const int T = r->T;
    run_ckpt c = {o, log, {o->ckpt.path, o->ckpt.fingerprint, tr, r->n, r->method, r->acc, r->seconds}, 0, 0, 0};
    int k0, first;
    resume(&c, &k0, &first);
    for (int k = k0; k < r->n; k++) {
        int meth = r->method[k];
        if (k > k0) first = 0;
        if (!first) {
            sk_rng init;
            sk_rng_seed_stream(&init, o->seed, STREAM_INIT);
            sk_model_init(tr->m, &init);
        }
        c.k = k;
        c.t0 = sk_now() - (first ? r->seconds[k] : 0.0);
        sk_cl_task_hooks hk = {first, after_task, &c};
        sk_status st = sk_cl_run_method(tr, meth, r->acc + (int64_t)k * T * T, log, pm, &hk);
        if (st != SK_OK) return st;
        r->seconds[k] = sk_now() - c.t0;
        const double *a = r->acc + (int64_t)k * T * T;
        sk_log_file(log, "continual %s: ACC %.4f forgetting %.4f BWT %.4f (%.1f s)", sk_cl_method_name(meth),
                    sk_cl_acc(a, T), sk_cl_forgetting(a, T), sk_cl_bwt(a, T), r->seconds[k]);
    }
    return SK_OK;
}

sk_status sk_continual_run(const sk_cl_opts *opts, const sk_dataset *ds, const sk_model_spec *ms, sk_log *log,
                           sk_progress_mode pm, sk_cl_results **out)
{
    sk_status st = SK_OK;
    sk_cl_bench *b = NULL;
    sk_cl_results *r = NULL;
    sk_cl_trainer tr;
    const sk_cl_opts o = *opts;
    memset(&tr, 0, sizeof tr);
    *out = NULL;
    if ((unsigned)o.benchmark >= SK_CL_BENCH_COUNT)
        return sk_err(SK_ECONFIG, "continual.benchmark: unknown choice %d", (int)o.benchmark);
    if (o.n_methods < 1 || o.n_methods > SK_CL_MAX_METHODS)
        return sk_err(SK_ECONFIG, "continual.methods: between 1 and %d methods", SK_CL_MAX_METHODS);
    for (int k = 0; k < o.n_methods; k++) {
        int mk = o.methods[k];
        if (mk < 0 || mk >= SK_CL_N_METHODS) return sk_err(SK_ECONFIG, "continual.methods: unknown method %d", mk);
        for (int q = 0; q < k; q++)
            if (o.methods[q] == o.methods[k])
                return sk_err(SK_ECONFIG, "continual.methods: %s is listed twice", sk_cl_method_name(mk));
    }
    if (o.ckpt.path && !o.ckpt.fingerprint)
        return sk_err(SK_EINVAL, "continual: a checkpoint path needs a fingerprint");
    if ((st = sk_cl_bench_new(o.benchmark, o.tasks, o.angles, o.step, o.seed, ds, o.augment, &b)) != SK_OK)
        goto cleanup;
    if (ms->n_out != b->K) {
        st = sk_err(SK_EINVAL, "continual: the model has %d outputs but the data set has %d classes", ms->n_out, b->K);
        goto cleanup;
    }
    const int T = b->T;
    if (!(r = sk_alloc(sizeof *r))) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    r->T = T;
    r->n = o.n_methods;
    for (int k = 0; k < r->n; k++)
        r->method[k] = o.methods[k];
    snprintf(r->benchmark, sizeof r->benchmark, "%s", sk_cl_bench_name(b->kind));
    if (!(r->acc = sk_alloc_n((size_t)r->n * T * T, sizeof(double)))) {
        st = SK_ENOMEM;
        goto cleanup;
    }

    /* The shared trainer: one model (re-initialised per method from the same
     * seed), batch buffers for current + memory examples. */
    if ((st = sk_cl_trainer_init(&tr, b, &o, ms)) != SK_OK) goto cleanup;
    if ((st = run_methods(&tr, r, &o, log, pm)) != SK_OK) goto cleanup;
    *out = r;
    r = NULL;
cleanup:
    sk_cl_trainer_free(&tr);
    sk_cl_bench_free(b);
    sk_cl_results_free(r);
    return st;
}

sk_status sk_cl_write_outputs(const sk_cl_results *r, const char *outdir)
{
    sk_status st = SK_OK;
    char path[4096];
    const int T = r->T;
    double *xs = NULL, *ys = NULL;
    sk_series *ser = NULL;
    snprintf(path, sizeof path, "%s/accuracy_matrix.csv", outdir);
    sk_csv *c = sk_csv_open(path, "method,after_task,task,accuracy");
    if (!c) return sk_err_prefix(SK_EIO, "continual results: ");
    for (int k = 0; k < r->n; k++) {
        const double *a = sk_cl_results_matrix(r, k);
        for (int t = 0; t < T; t++)
            for (int i = 0; i < T; i++)
                sk_csv_row(c, "%s,%d,%d," SK_CSV_F64, sk_csv_q(c, sk_cl_results_method(r, k)), t + 1, i + 1,
                           a[(int64_t)t * T + i]);
    }
    if ((st = sk_csv_close(c)) != SK_OK) return st;

    xs = sk_alloc_n((size_t)T, sizeof(double));
    ys = sk_alloc_n((size_t)r->n * T, sizeof(double));
    ser = sk_alloc_n((size_t)r->n, sizeof(sk_series));
    if (!xs || !ys || !ser) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int t = 0; t < T; t++)
        xs[t] = t + 1;
    for (int k = 0; k < r->n; k++) {
        const double *a = sk_cl_results_matrix(r, k);
        for (int t = 0; t < T; t++)
            ys[(int64_t)k * T + t] = sk_cl_seen_acc(a, T, t);
        ser[k].label = sk_cl_results_method(r, k);
        ser[k].n = T;
        ser[k].x = xs;
        ser[k].y = ys + (int64_t)k * T;
    }
    char title[96];
    snprintf(title, sizeof title, "%s: mean accuracy over the tasks seen so far", r->benchmark);
    sk_panel p = {NULL, "after task", "accuracy", r->n, ser, NULL, NULL, 0};
    snprintf(path, sizeof path, "%s/cl_accuracy.svg", outdir);
    st = sk_svg_plot(path, title, 1, &p, 720, 480);
cleanup:
    sk_free(xs);
    sk_free(ys);
    sk_free(ser);
    return st;
}

void sk_cl_results_json(const sk_cl_results *r, sk_json *j)
{
    const int T = r->T;
    sk_json_obj_begin(j, "continual");
    sk_json_str(j, "benchmark", r->benchmark);
    sk_json_int(j, "tasks", T);
    sk_json_obj_begin(j, "methods");
    for (int k = 0; k < r->n; k++) {
        const double *a = sk_cl_results_matrix(r, k);
        sk_json_obj_begin(j, sk_cl_results_method(r, k));
        sk_json_num(j, "acc", sk_cl_acc(a, T));
        sk_json_num(j, "forgetting", sk_cl_forgetting(a, T));
        sk_json_num(j, "bwt", sk_cl_bwt(a, T));
        sk_json_num(j, "seconds", r->seconds[k]);
        sk_json_arr_begin(j, "seen_accuracy");
        for (int t = 0; t < T; t++)
            sk_json_num(j, NULL, sk_cl_seen_acc(a, T, t));
        sk_json_arr_end(j);
        sk_json_arr_begin(j, "accuracy_matrix");
        for (int t = 0; t < T; t++) {
            sk_json_arr_begin(j, NULL);
            for (int i = 0; i < T; i++)
                sk_json_num(j, NULL, a[(int64_t)t * T + i]);
            sk_json_arr_end(j);
        }
        sk_json_arr_end(j);
        sk_json_obj_end(j);
    }
    sk_json_obj_end(j);
    sk_json_obj_end(j);
}

void sk_cl_print_summary(const sk_cl_results *r, sk_log *log)
{
    const int T = r->T;
    sk_log_out(log, "%s, %d tasks", r->benchmark, T);
    sk_log_out(log, "%-10s %8s %11s %8s %9s", "method", "ACC", "forgetting", "BWT", "seconds");
    for (int k = 0; k < r->n; k++) {
        const double *a = sk_cl_results_matrix(r, k);
        sk_log_out(log, "%-10s %8.4f %11.4f %8.4f %9.1f", sk_cl_results_method(r, k), sk_cl_acc(a, T),
                   sk_cl_forgetting(a, T), sk_cl_bwt(a, T), r->seconds[k]);
    }
}
