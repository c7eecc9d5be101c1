/* bench_srb.c - one `mid`-cost Sinkhorn re-basin epoch vs one training
 * epoch of the same model (sk_train, SGD), interleaved in one process, with
 * the per-step time breakdown of the re-basin epoch.
 *
 * Usage: bench_srb [train_limit (0 = all 50000)] [reps] [batch] [threads]
 * Model: CIFAR-10 MLP 3072-512-512-512-10, data from datasets/cifar10. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/rng.h"
#include "core/timer.h"
#include "data/dataset.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/train.h"
#include "rebasin/spec.h"
#include "rebasin/srb.h"

typedef struct {
    const sk_dataset *ds;
    int32_t *idx;
    int64_t n;
    int bs, cap;
} provider;

static int get_batch(void *c, int64_t epoch, int64_t step, float *x, int32_t *y, float *yr)
{
    provider *p = c;
    int bs = epoch < 0 ? p->cap : p->bs;
    int64_t start = step * bs;
    (void)yr;
    if (start >= p->n) return 0;
    int n = (int)(p->n - start < bs ? p->n - start : bs);
    sk_dataset_batch(p->ds, &p->ds->train, p->idx + start, n, 0, NULL, x, y, NULL);
    return n;
}

static int step_fn(void *o, sk_tset *p, sk_tset *g, int64_t k)
{
    (void)k;
    sk_optim_step(o, p, g);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    int64_t limit = argc > 1 ? strtoll(argv[1], NULL, 10) : 10000;
    int reps = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 3, bs = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 500;
    int threads = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 1;
    if (reps < 1 || reps > 50 || bs < 1 || threads < 1) return 2;
    sk_blas_init(argc, argv);
    sk_threads_set(threads);
    sk_dataset ds;
    sk_data_opts dopt;
    sk_data_opts_init(&dopt, SK_DS_CIFAR10);
    dopt.train_limit = limit;
    dopt.test_limit = 10;
    if (sk_dataset_load(&ds, &dopt) != SK_OK) {
        fprintf(stderr, "%s\n", sk_err_msg());
        return 1;
    }
    sk_model_spec ms;
    memset(&ms, 0, sizeof ms);
    ms.arch = SK_ARCH_MLP;
    ms.n_hidden = 3;
    ms.hidden[0] = ms.hidden[1] = ms.hidden[2] = 512;
    ms.activation = SK_ACT_RELU;
    ms.width = 1;
    ms.in_c = 3;
    ms.in_h = 32;
    ms.in_w = 32;
    ms.n_out = 10;
    sk_model *ma, *mb, *mt;
    if (sk_model_new(&ms, bs, &ma) || sk_model_new(&ms, bs, &mb) || sk_model_new(&ms, bs, &mt)) return 1;
    sk_rng r;
    sk_rng_seed(&r, 1);
    sk_model_init(ma, &r);
    sk_rng_seed(&r, 2);
    sk_model_init(mb, &r);
    sk_rng_seed(&r, 3);
    sk_model_init(mt, &r);
    provider p = {&ds, NULL, ds.train.n, bs, bs};
    p.idx = malloc(sizeof(int32_t) * (size_t)p.n);
    for (int64_t i = 0; i < p.n; i++)
        p.idx[i] = (int32_t)i;
    sk_perm_spec *s;
    if (sk_perm_spec_build(&ms, sk_model_params(ma), ma, &s) != SK_OK) return 1;
    int64_t **perms = sk_perms_identity(s);
    sk_optim_opts oo;
    sk_optim_opts_init(&oo, SK_OPT_SGD);
    oo.lr = 0.01;
    oo.momentum = 0.9;
    sk_optim *opt;
    if (sk_optim_new(&oo, sk_model_params(mt), &opt) != SK_OK) return 1;
    double tt[50], ts[50], br[50][8];
    int64_t nsteps = 0;
    printf("# CIFAR-10 MLP 3072-512-512-512-10, %lld training examples, batch %d, threads %d\n", (long long)p.n, bs,
           sk_threads_get());
    for (int k = 0; k < reps; k++) {
        sk_train_cfg cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.epochs = 1;
        cfg.batch_size = bs;
        cfg.get_batch = get_batch;
        cfg.ctx = &p;
        cfg.step = step_fn;
        cfg.optctx = opt;
        cfg.rng = &r;
        double t0 = sk_now();
        if (sk_train(mt, &cfg) != SK_OK) {
            fprintf(stderr, "%s\n", sk_err_msg());
            return 1;
        }
        tt[k] = sk_now() - t0;
        sk_srb_opts so;
        sk_srb_opts_default(&so);
        so.cost = SK_SRB_MID;
        so.epochs = 1;
        so.eval_batches = 1;
        so.seed = 1;
        sk_srb_result res;
        t0 = sk_now();
        if (sk_sinkhorn_rebasin(s, ma, sk_model_params(ma), sk_model_params(mb), &so, get_batch, &p, NULL, NULL, NULL,
                                NULL, NULL, perms, &res) != SK_OK) {
            fprintf(stderr, "%s\n", sk_err_msg());
            return 1;
        }
        ts[k] = sk_now() - t0;
        nsteps = res.n_steps;
        double b[8] = {res.t_sinkhorn_fwd, res.t_sinkhorn_bwd, res.t_apply, res.t_apply_bwd,
                       res.t_model,        res.t_optim,        res.t_eval,  res.seconds};
        memcpy(br[k], b, sizeof b);
        printf("rep %d: train epoch %.3f s, srb mid epoch %.3f s (ratio %.2f), fallbacks %d\n", k + 1, tt[k], ts[k],
               ts[k] / tt[k], res.fallbacks);
        sk_srb_result_free(&res);
    }
    double rat[50];
    for (int k = 0; k < reps; k++)
        rat[k] = ts[k] / tt[k];
    double mr = median(rat, reps);
    /* Breakdown of the median-time srb rep, per step. */
    int kmed = 0;
    double sorted[50];
    memcpy(sorted, ts, sizeof(double) * (size_t)reps);
    double mts = median(sorted, reps);
    for (int k = 0; k < reps; k++)
        if (ts[k] == mts) kmed = k;
    static const char *names[] = {"Sinkhorn forward",
                                  "Sinkhorn backward (implicit)",
                                  "soft apply (P W P^T)",
                                  "apply backward (dP)",
                                  "model fwd+bwd+loss (+mix)",
                                  "AdamW on X",
                                  "hard evaluation (LAP + eval batch)"};
    double mtt = median(tt, reps);
    printf("\nmedian: train epoch %.3f s (%.1f ms/step), srb mid epoch %.3f s, median ratio %.2f\n", mtt,
           1e3 * mtt / (double)nsteps, mts, mr);
    printf("\n| part (srb mid epoch, median rep) | ms/step | share |\n|---|---:|---:|\n");
    double acc = 0;
    for (int i = 0; i < 7; i++) {
        double v = i == 6 ? br[kmed][i] : br[kmed][i] / (double)nsteps;
        acc += br[kmed][i];
        if (i == 6)
            printf("| %s (once per epoch) | %.1f ms total | %.1f%% |\n", names[i], 1e3 * v,
                   100 * br[kmed][i] / br[kmed][7]);
        else
            printf("| %s | %.2f | %.1f%% |\n", names[i], 1e3 * v, 100 * br[kmed][i] / br[kmed][7]);
    }
    printf("| other (batches, lerp, bookkeeping) | %.2f | %.1f%% |\n", 1e3 * (br[kmed][7] - acc) / (double)nsteps,
           100 * (br[kmed][7] - acc) / br[kmed][7]);
    printf("| total | %.2f | 100%% |\n", 1e3 * br[kmed][7] / (double)nsteps);
    sk_perms_free(s, perms);
    sk_perm_spec_free(s);
    sk_optim_free(opt);
    sk_model_free(ma);
    sk_model_free(mb);
    sk_model_free(mt);
    free(p.idx);
    sk_dataset_free(&ds);
    return 0;
}
