/* methods.c - finetune, EWC, experience replay, A-GEM and joint training
 * over a task sequence (doc/algorithms.md §10), plus the pieces they share:
 * the per-example-head loss, evaluation and the empirical Fisher.
 *
 * Choices (documented in the man page through the config docs):
 * - The model's optimiser state is reset at the start of every task.
 * - replay: every minibatch of B current examples gets min(B, |M|) memory
 *   examples appended (Avalanche's ReplayPlugin default, as in the published
 *   re-basin IL code); the loss is the mean over the combined batch.
 * - agem: the reference gradient is computed on min(B, |M|) memory examples
 *   drawn the same way; g is projected when g . g_ref < 0.
 * - ewc: after task t, F_t is the empirical Fisher on continual.fisher_samples
 *   examples of task t; the penalty sum_t (lambda/2) F_t (theta - theta*_t)^2
 *   is kept exactly as A = sum F_t, c = sum F_t theta*_t (gradient
 *   lambda (A theta - c)).
 * - joint: one model trained for `epochs` epochs over the union of every
 *   task's training data (per-example heads), evaluated once; every row of
 *   its accuracy matrix is that final evaluation (so forgetting = BWT = 0).
 *
 * Dimension letters: n batch, K logits, D inputs, T tasks. */
#include "continual/method.h"

#include "continual/continual.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "core/timer.h"
#include "nn/train.h"

#define STREAM_ORDER 0x6f72640000ULL
#define STREAM_FISHER 0x6669736800ULL
#define MAX_TASK_IDS 1024

double sk_cl_loss(const float *logits, const int32_t *y, const int32_t *task, int n, int K, const uint8_t *mask,
                  int per_task, float *d, int *correct)
{
    // logits (n, K), y (n), task (n), mask (T, K), d (n, K)
    int cnt[MAX_TASK_IDS];
    if (per_task) {
        memset(cnt, 0, sizeof cnt);
        for (int k = 0; k < n; k++)
            cnt[task[k] & (MAX_TASK_IDS - 1)]++;
    }
    double total = 0.0;
    int good = 0;
    for (int k = 0; k < n; k++) {
        const float *z = logits + (int64_t)k * K;
        const uint8_t *mk = mask ? mask + (int64_t)task[k] * K : NULL;
        double w = per_task ? 1.0 / cnt[task[k] & (MAX_TASK_IDS - 1)] : 1.0 / n;
        int arg = -1;
        float zmax = -INFINITY;
        for (int j = 0; j < K; j++) {
            if (mk && !mk[j]) continue;
            if (arg < 0 || z[j] > zmax) {
                zmax = z[j];
                arg = j;
            }
        }
        double se = 0.0;
        for (int j = 0; j < K; j++)
            if (!mk || mk[j]) se += exp((double)z[j] - zmax);
        double lse = (double)zmax + log(se);
        int t = y[k];
        int ok = t >= 0 && t < K && (!mk || mk[t]);
        total += w * (ok ? lse - z[t] : INFINITY);
        if (arg == t) good++;
        if (d) {
            float *dk = d + (int64_t)k * K;
            for (int j = 0; j < K; j++) {
                double p = (!mk || mk[j]) ? exp((double)z[j] - lse) : 0.0;
                dk[j] = (float)(w * (p - (j == t ? 1.0 : 0.0)));
            }
        }
    }
    if (correct) *correct = good;
    return total;
}

/* ---- evaluation ----------------------------------------------------------- */

typedef struct {
    const sk_cl_bench *b;
    int t, cap;
    int64_t pos;
    int32_t *task; /* (cap) all t */
} eval_ctx;

static int eval_batch(void *vctx, int64_t epoch, int64_t step, float *x, int32_t *y, float *yr)
{
    (void)epoch;
    (void)yr;
    eval_ctx *c = vctx;
    if (step == 0) c->pos = 0;
    int64_t left = c->b->n_test[c->t] - c->pos;
    int n = left < c->cap ? (int)left : c->cap;
    if (n <= 0) return 0;
    sk_cl_bench_fill(c->b, 1, c->task, c->b->test_idx[c->t] + c->pos, n, NULL, x, y);
    c->pos += n;
    return n;
}

sk_status sk_cl_eval(sk_model *m, const sk_tset *params, const sk_cl_bench *b, int t, double *acc)
{
    eval_ctx c = {b, t, sk_model_max_batch(m), 0, NULL};
    sk_loss_spec ls = {0, b->mask ? b->mask + (int64_t)t * b->K : NULL};
    if (!(c.task = sk_alloc_n((size_t)c.cap, sizeof(int32_t)))) return SK_ENOMEM;
    for (int k = 0; k < c.cap; k++)
        c.task[k] = t;
    sk_status st = sk_model_eval(m, params, eval_batch, &c, &ls, NULL, acc);
    sk_free(c.task);
    return st;
}

/* ---- Fisher --------------------------------------------------------------- */

sk_status sk_cl_fisher(sk_model *m, const sk_cl_bench *b, int t, int samples, uint64_t seed, sk_tset *F)
{
    sk_status st = SK_OK;
    int64_t n = b->n_train[t];
    int64_t S = samples < n ? samples : n;
    int32_t *order = sk_alloc_n((size_t)(n > 0 ? n : 1), sizeof(int32_t));
    float *x = sk_alloc_n((size_t)b->D, sizeof(float));
    sk_tset *g = sk_tset_like(F);
    if (!order || !x || !g) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    memset(F->block, 0, (size_t)F->numel * sizeof(float));
    memcpy(order, b->train_idx[t], (size_t)n * sizeof(int32_t));
    sk_rng r;
    sk_rng_seed_stream(&r, seed, STREAM_FISHER + (uint64_t)t);
    sk_rng_shuffle_i32(&r, order, n);
    const int K = b->K;
    for (int64_t s = 0; s < S; s++) {
        int32_t y, task = t;
        sk_cl_bench_fill(b, 0, &task, &order[s], 1, NULL, x, &y);
        const float *z = sk_model_forward(m, NULL, x, 1, 0, NULL);
        float *d = sk_model_dlogits(m);
        double l = sk_cl_loss(z, &y, &task, 1, K, b->mask, 0, d, NULL);
        if (!isfinite(l)) {
            st = sk_err(SK_ENUMERIC, "EWC Fisher: loss %g on task %d", l, t + 1);
            goto cleanup;
        }
        sk_model_zero_grads(m, g);
        sk_model_backward(m, d, g, NULL);
        for (int i = 0; i < F->n; i++) {
            if (F->t[i].is_buffer) continue;
            float *f = F->t[i].data;
            const float *gi = g->t[i].data;
            for (int64_t j = 0; j < F->t[i].numel; j++)
                f[j] += gi[j] * gi[j];
        }
    }
    if (S > 0)
        for (int64_t j = 0; j < F->numel; j++)
            F->block[j] /= (float)S;
cleanup:
    sk_free(order);
    sk_free(x);
    sk_tset_free(g);
    return st;
}

/* ---- trainer helpers ------------------------------------------------------ */

void sk_cl_trainer_reset(sk_cl_trainer *tr)
{
    sk_cl_memory_free(&tr->mem);
    tr->mem_order_n = 0;
    tr->mem_pos = 0;
    sk_rng_seed_stream(&tr->mem_rng, tr->o->seed, 0x6d72000000ULL);
    sk_rng_seed_stream(&tr->rng, tr->o->seed, 0x7472000000ULL);
    sk_tset *ew[2] = {tr->ewc_a, tr->ewc_c};
    for (int i = 0; i < 2; i++)
        if (ew[i]) memset(ew[i]->block, 0, (size_t)ew[i]->numel * sizeof(float));
}

sk_status sk_cl_trainer_ewc(sk_cl_trainer *tr)
{
    if (!tr->ewc_a) tr->ewc_a = sk_tset_like(sk_model_params(tr->m));
    if (!tr->ewc_c) tr->ewc_c = sk_tset_like(sk_model_params(tr->m));
    return tr->ewc_a && tr->ewc_c ? SK_OK : SK_ENOMEM;
}

int64_t sk_cl_task_order(sk_cl_trainer *tr, int t, int epoch)
{
    int64_t n = tr->b->n_train[t];
    memcpy(tr->order, tr->b->train_idx[t], (size_t)n * sizeof(int32_t));
    sk_rng r;
    sk_rng_seed_stream(&r, tr->o->seed, STREAM_ORDER + ((uint64_t)t << 16) + (uint64_t)epoch);
    sk_rng_shuffle_i32(&r, tr->order, n);
    return n;
}

int sk_cl_memory_batch(const sk_cl_trainer *tr)
{
    int64_t B = tr->o->batch_size;
    return (int)(tr->mem.n < B ? tr->mem.n : B);
}

void sk_cl_memory_draw(sk_cl_trainer *tr, int at, int n)
{
    /* The memory grows between tasks; restart the cycle when it did. */
    if (tr->mem_order_n != tr->mem.n) {
        for (int64_t k = 0; k < tr->mem.n; k++)
            tr->mem_order[k] = (int32_t)k;
        tr->mem_order_n = tr->mem.n;
        tr->mem_pos = tr->mem.n; /* forces a shuffle */
    }
    for (int k = 0; k < n; k++) {
        if (tr->mem_pos >= tr->mem_order_n) {
            sk_rng_shuffle_i32(&tr->mem_rng, tr->mem_order, tr->mem_order_n);
            tr->mem_pos = 0;
        }
        int32_t e = tr->mem_order[tr->mem_pos++];
        tr->task[at + k] = tr->mem.task[e];
        tr->idx[at + k] = tr->mem.idx[e];
    }
}

/* Forward/backward of the batch buffers' first n examples into grads. */
static sk_status batch_grad(sk_cl_trainer *tr, const sk_tset *params, sk_tset *grads, int n, int per_task, double *loss)
{
    const sk_cl_bench *b = tr->b;
    sk_cl_bench_fill(b, 0, tr->task, tr->idx, n, &tr->rng, tr->x, tr->y);
    const float *z = sk_model_forward(tr->m, params, tr->x, n, 1, &tr->rng);
    float *d = sk_model_dlogits(tr->m);
    double l = sk_cl_loss(z, tr->y, tr->task, n, b->K, b->mask, per_task, d, NULL);
    if (!isfinite(l)) return sk_err(SK_ENUMERIC, "training loss is %g\nHINT: lower continual.lr", l);
    sk_model_zero_grads(tr->m, grads);
    sk_model_backward(tr->m, d, grads, NULL);
    if (loss) *loss = l;
    return SK_OK;
}

static double tset_dot(const sk_tset *a, const sk_tset *b)
{
    double s = 0.0;
    for (int i = 0; i < a->n; i++) {
        if (a->t[i].is_buffer) continue;
        const float *x = a->t[i].data, *y = b->t[i].data;
        for (int64_t j = 0; j < a->t[i].numel; j++)
            s += (double)x[j] * y[j];
    }
    return s;
}

/* ---- one method ----------------------------------------------------------- */

int sk_cl_method_rounds(int method, int T)
{
    return method == SK_CL_JOINT ? 1 : T;
}

/* Train task t (or, for joint, the union of all tasks) with method `meth`. */
static sk_status train_task(sk_cl_trainer *tr, int meth, int t, sk_progress *pg, int64_t *done, double *mean_loss)
{
    const sk_cl_opts *o = tr->o;
    const sk_cl_bench *b = tr->b;
    sk_tset *P = sk_model_params(tr->m), *G = sk_model_grads(tr->m);
    const int B = o->batch_size;
    sk_status st = SK_OK;
    double lsum = 0.0;
    int64_t lcount = 0;
    sk_optim_reset(tr->opt);
    for (int e = 0; e < o->epochs; e++) {
        int64_t n;
        if (meth == SK_CL_JOINT) {
            /* The union: global ids over all tasks, shuffled. */
            n = 0;
            for (int i = 0; i < b->T; i++)
                n += b->n_train[i];
            for (int64_t k = 0; k < n; k++)
                tr->order[k] = (int32_t)k;
            sk_rng r;
            sk_rng_seed_stream(&r, o->seed, STREAM_ORDER + 0xffff0000ULL + (uint64_t)e);
            sk_rng_shuffle_i32(&r, tr->order, n);
        } else {
            n = sk_cl_task_order(tr, t, e);
        }
        for (int64_t pos = 0; pos < n; pos += B) {
            int cur = n - pos < B ? (int)(n - pos) : B;
            for (int k = 0; k < cur; k++) {
                int32_t id = tr->order[pos + k];
                if (meth == SK_CL_JOINT) {
                    int i = 0;
                    while (id >= b->n_train[i])
                        id -= (int32_t)b->n_train[i++];
                    tr->task[k] = i;
                    tr->idx[k] = b->train_idx[i][id];
                } else {
                    tr->task[k] = t;
                    tr->idx[k] = id;
                }
            }
            int nb = cur;
            int nm = (meth == SK_CL_REPLAY || meth == SK_CL_AGEM) ? sk_cl_memory_batch(tr) : 0;
            if (meth == SK_CL_REPLAY && nm > 0) {
                sk_cl_memory_draw(tr, cur, nm);
                nb += nm;
            }
            double l;
            if ((st = batch_grad(tr, NULL, G, nb, 0, &l)) != SK_OK) goto cleanup;
            lsum += l;
            lcount++;
            if (meth == SK_CL_EWC && t > 0) {
                const float lam = (float)o->ewc_lambda;
                for (int i = 0; i < P->n; i++) {
                    if (P->t[i].is_buffer) continue;
                    float *g = G->t[i].data;
                    const float *p = P->t[i].data, *a = tr->ewc_a->t[i].data, *c = tr->ewc_c->t[i].data;
                    for (int64_t j = 0; j < P->t[i].numel; j++)
                        g[j] += lam * (a[j] * p[j] - c[j]);
                }
            }
            if (meth == SK_CL_AGEM && nm > 0) {
                sk_cl_memory_draw(tr, 0, nm);
                if ((st = batch_grad(tr, NULL, tr->g2, nm, 0, NULL)) != SK_OK) goto cleanup;
                double dot = tset_dot(G, tr->g2);
                if (dot < 0.0) {
                    double rr = tset_dot(tr->g2, tr->g2);
                    float s = rr > 0.0 ? (float)(dot / rr) : 0.0f;
                    for (int i = 0; i < G->n; i++) {
                        if (G->t[i].is_buffer) continue;
                        float *g = G->t[i].data;
                        const float *gr = tr->g2->t[i].data;
                        for (int64_t j = 0; j < G->t[i].numel; j++)
                            g[j] -= s * gr[j];
                    }
                }
            }
            if (!isfinite(sk_optim_step(tr->opt, P, G))) {
                st = SK_ENUMERIC;
                goto cleanup;
            }
            (*done)++;
            sk_progress_update(pg, *done, NULL);
        }
    }
cleanup:
    *mean_loss = lcount ? lsum / (double)lcount : NAN;
    return st;
}

/* What a finished task t leaves for the next ones: ewc adds the task's
 * Fisher and optimum to its sums, the memory methods add the task's examples
 * (every task but the last). */
static sk_status task_leaves(sk_cl_trainer *tr, int meth, int t)
{
    const sk_cl_bench *b = tr->b;
    const sk_cl_opts *o = tr->o;
    const sk_tset *P = sk_model_params(tr->m);
    sk_status st = SK_OK;
    if (t >= b->T - 1) return SK_OK;
    if (meth == SK_CL_EWC) {
        sk_tset *F = sk_tset_like(P);
        if (!F) return SK_ENOMEM;
        if ((st = sk_cl_fisher(tr->m, b, t, o->fisher_samples, o->seed, F)) == SK_OK)
            for (int64_t j = 0; j < P->numel; j++) {
                tr->ewc_a->block[j] += F->block[j];
                tr->ewc_c->block[j] += F->block[j] * P->block[j];
            }
        sk_tset_free(F);
        return st;
    }
    if (meth == SK_CL_REPLAY || meth == SK_CL_AGEM || meth == SK_CL_REBASIN)
        st = o->memory == SK_CL_MEMORY_PER_CLASS ? sk_cl_memory_add_task(&tr->mem, b, t, o->memory_per_class, o->seed)
                                                 : sk_cl_memory_add_random(&tr->mem, b, t, o->memory_per_task, o->seed);
    return st;
}

/* Evaluate every task after round t into row t of acc (joint: every row);
 * the progress line of the round into line. */
static sk_status task_eval(sk_cl_trainer *tr, int meth, int t, double *acc, const char *label, double loss, double t0,
                           char *line, size_t n)
{
    const int T = tr->b->T;
    sk_status st;
    for (int i = 0; i < T; i++)
        if ((st = sk_cl_eval(tr->m, NULL, tr->b, i, &acc[(int64_t)t * T + i])) != SK_OK) return st;
    if (meth == SK_CL_JOINT)
        for (int r = 1; r < T; r++)
            memcpy(acc + (int64_t)r * T, acc, (size_t)T * sizeof(double));
    int last = meth == SK_CL_JOINT ? T - 1 : t;
    double seen = 0.0;
    for (int i = 0; i <= last; i++)
        seen += acc[(int64_t)t * T + i];
    seen /= last + 1;
    char lbuf[32] = "";
    if (isfinite(loss)) snprintf(lbuf, sizeof lbuf, ", train loss %.4f", loss);
    snprintf(line, n, "%s: mean accuracy on tasks 1..%d %.4f, this task %.4f%s (%.1f s)", label, last + 1, seen,
             acc[(int64_t)t * T + (meth == SK_CL_JOINT ? 0 : t)], lbuf, sk_now() - t0);
    return SK_OK;
}

sk_status sk_cl_run_method(sk_cl_trainer *tr, int meth, double *acc, sk_log *log, sk_progress_mode pm,
                           const sk_cl_task_hooks *hooks)
{
    const sk_cl_bench *b = tr->b;
    const sk_cl_opts *o = tr->o;
    const int T = b->T;
    sk_status st = SK_OK;
    sk_progress *pg = NULL;
    int first = hooks ? hooks->first : 0;
    if (meth == SK_CL_EWC && (st = sk_cl_trainer_ewc(tr)) != SK_OK) return st;
    if (first == 0) sk_cl_trainer_reset(tr);
    for (int t = first; t < sk_cl_method_rounds(meth, T); t++) {
        double t0 = sk_now(), loss = NAN;
        char label[96], line[256];
        int64_t steps = 0, done = 0;
        if (meth == SK_CL_JOINT) {
            for (int i = 0; i < T; i++)
                steps += b->n_train[i];
            snprintf(label, sizeof label, "%s (all %d tasks)", sk_cl_method_name(meth), T);
        } else {
            steps = b->n_train[t];
            snprintf(label, sizeof label, "%s task %d/%d", sk_cl_method_name(meth), t + 1, T);
        }
        steps = (steps + o->batch_size - 1) / o->batch_size * o->epochs;
        pg = sk_progress_new(pm, label, steps);
        if (meth == SK_CL_REBASIN && t > 0)
            st = sk_cl_rebasin_task(tr, t, pg, &done, &loss);
        else
            st = train_task(tr, meth, t, pg, &done, &loss);
        if (st != SK_OK) {
            sk_err_prefix(st, "continual %s, task %d: ", sk_cl_method_name(meth), t + 1);
            goto cleanup;
        }
        if ((st = task_leaves(tr, meth, t)) != SK_OK) goto cleanup;
        if ((st = task_eval(tr, meth, t, acc, label, loss, t0, line, sizeof line)) != SK_OK) goto cleanup;
        sk_progress_done(pg, line);
        sk_progress_free(pg);
        pg = NULL;
        sk_log_file(log, "%s", line);
        if (hooks && hooks->after_task && (st = hooks->after_task(hooks->ctx, t)) != SK_OK) goto cleanup;
    }
cleanup:
    sk_progress_free(pg);
    return st;
}
