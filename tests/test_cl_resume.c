/* test_cl_resume.c - resuming mode continual from its checkpoint
 * (continual/ckpt.c, sk_cl_ckpt_opts): a run of every method stopped after
 * a task (by its after_task hook, with the checkpoint of that task written)
 * and rerun with the same checkpoint file ends with the accuracy matrices
 * and, method by method, the final parameters and buffers of a run never
 * stopped, bit for bit -- stopped in each method, on rotated tasks and on
 * split tasks with augmentation, with BatchNorm and dropout. Leaving out a
 * piece of the saved state (the model, the dropout/augmentation stream, the
 * memory-draw stream, the memory, ewc's sums, the accuracy rows) changes
 * the result; a checkpoint of another fingerprint, of other methods, or a
 * corrupt one is ignored, and the run starts from its first task. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/options.h"
#include "cfg/cfg.h"
#include "continual/continual.h"
#include "continual/method.h"
#include "core/mem.h"
#include "core/rng.h"
#include "io/atomic.h"
#include "io/h5w.h"

#define T 3
#define FP "00000000c0ffee01"

/* Class templates plus noise: 3x8x8 images, 10 classes (split tasks see 2 each). */
static void make_split(sk_split *sp, int64_t n, uint64_t seed)
{
    const int D = 3 * 8 * 8;
    sk_rng r, tr;
    sk_rng_seed(&r, seed);
    sk_rng_seed(&tr, 77);
    uint8_t tmpl[10 * 3 * 8 * 8];
    for (int j = 0; j < 10 * D; j++)
        tmpl[j] = (uint8_t)(sk_rng_below(&tr, 2) ? 200 : 40);
    memset(sp, 0, sizeof *sp);
    sp->n = n;
    sp->c = 3, sp->h = 8, sp->w = 8;
    sp->n_classes = 10;
    sp->x = sk_alloc_n((size_t)n * D, 1);
    sp->y = sk_alloc_n((size_t)n, sizeof(int32_t));
    ck_assert(sp->x && sp->y);
    for (int64_t i = 0; i < n; i++) {
        int k = (int)(i % 10);
        sp->y[i] = k;
        for (int j = 0; j < D; j++) {
            int v = tmpl[k * D + j] + (int)sk_rng_below(&r, 121) - 60;
            sp->x[i * D + j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

/* A run's data, model and options. */
typedef struct {
    sk_dataset ds;
    sk_model_spec ms;
    sk_cl_opts o;
} setup;

/* split: split-cifar10 with augmentation, else rotated tasks (single head). */
static void setup_new(setup *s, int split)
{
    memset(s, 0, sizeof *s);
    s->ds.kind = split ? SK_DS_CIFAR10 : SK_DS_MNIST;
    s->ds.normalize = SK_NORMALIZE_UNIT;
    make_split(&s->ds.train, 240, 11);
    make_split(&s->ds.test, 60, 12);
    if (!split) { /* rotated tasks need one channel: keep the first */
        s->ds.train.c = s->ds.test.c = 1;
        for (int64_t i = 0; i < s->ds.train.n; i++)
            memmove(s->ds.train.x + i * 64, s->ds.train.x + i * 192, 64);
        for (int64_t i = 0; i < s->ds.test.n; i++)
            memmove(s->ds.test.x + i * 64, s->ds.test.x + i * 192, 64);
    }
    for (int i = 0; i < 3; i++)
        s->ds.std[i] = 1.0f;
    sk_config cfg;
    sk_config_defaults(&cfg, "clr");
    cfg.seed = 7;
    cfg.continual.benchmark = split ? SK_CL_SPLIT_CIFAR10 : SK_CL_ROTATED;
    cfg.continual.tasks = T;
    cfg.continual.epochs = 1;
    cfg.continual.batch_size = 20;
    cfg.continual.memory_per_task = 30;
    cfg.continual.fisher_samples = 40;
    cfg.dataset.augment = split;
    sk_options_continual(&cfg, &s->o);
    s->ms.arch = SK_ARCH_MLP;
    s->ms.n_hidden = 1;
    s->ms.hidden[0] = 16;
    s->ms.activation = SK_ACT_RELU;
    s->ms.norm = SK_MNORM_BATCHNORM;
    s->ms.width = 1;
    s->ms.dropout = 0.2f;
    s->ms.in_c = split ? 3 : 1, s->ms.in_h = 8, s->ms.in_w = 8;
    s->ms.n_out = 10;
}

/* What one run did: the tasks it finished (hook calls), the parameters
 * after each method's last task, its results. */
typedef struct {
    int stop_k, stop_t; /* stop after this task (stop_k -1: never) */
    int first_k, first_t, calls;
    sk_tset *final[SK_CL_MAX_METHODS];
    const sk_cl_opts *o;
    sk_cl_results *res;
} run_rec;

static sk_status hook(void *ctx, int k, int t, const sk_tset *params)
{
    run_rec *r = ctx;
    if (!r->calls++) r->first_k = k, r->first_t = t;
    if (t == sk_cl_method_rounds(r->o->methods[k], T) - 1) {
        sk_tset_free(r->final[k]);
        r->final[k] = sk_tset_clone(params);
    }
    if (k == r->stop_k && t == r->stop_t) return sk_err(SK_EINVAL, "stopped by the test");
    return SK_OK;
}

/* Run s with checkpoints at path (fingerprint fp), stopping after task
 * (stop_k, stop_t) when stop_k >= 0 (then no results). */
static void run(const setup *s, const char *path, const char *fp, int stop_k, int stop_t, run_rec *r)
{
    memset(r, 0, sizeof *r);
    r->stop_k = stop_k, r->stop_t = stop_t, r->first_k = r->first_t = -1;
    sk_cl_opts o = s->o;
    o.ckpt = (sk_cl_ckpt_opts){path, fp, hook, r};
    r->o = &s->o;
    sk_err_clear();
    sk_status st = sk_continual_run(&o, &s->ds, &s->ms, NULL, SK_PROGRESS_NEVER, &r->res);
    if (stop_k >= 0) {
        ck_assert_int_eq(st, SK_EINVAL);
        ck_assert_str_eq(sk_err_msg(), "stopped by the test");
        ck_assert_ptr_null(r->res);
    } else {
        ck_assert_msg(st == SK_OK, "%s", sk_err_msg());
    }
}

static void rec_free(run_rec *r)
{
    for (int k = 0; k < SK_CL_MAX_METHODS; k++)
        sk_tset_free(r->final[k]);
    sk_cl_results_free(r->res);
}

static int same_floats(const sk_tset *a, const sk_tset *b)
{
    return a && b && a->numel == b->numel && !memcmp(a->block, b->block, (size_t)a->numel * sizeof(float));
}

/* b (resumed from method k0 on) ended as a: every matrix, every final model
 * from k0 on. */
static int same_run(const run_rec *a, const run_rec *b, int k0)
{
    int n = sk_cl_results_n_methods(a->res), same = n == sk_cl_results_n_methods(b->res);
    for (int k = 0; k < n && same; k++) {
        same = !memcmp(sk_cl_results_matrix(a->res, k), sk_cl_results_matrix(b->res, k), sizeof(double) * T * T);
        same = same && (k < k0 || same_floats(a->final[k], b->final[k]));
        double sec = sk_cl_results_seconds(b->res, k);
        ck_assert(isfinite(sec) && sec >= 0);
    }
    return same;
}

/* Stopped after each method's second task (joint: its only one), resumed:
 * the run never stopped. */
static void resume_case(int split)
{
    setup s;
    setup_new(&s, split);
    ck_assert_int_eq(s.o.n_methods, SK_CL_N_METHODS);
    const char *path = tu_path(split ? "split.ckpt" : "rot.ckpt");
    run_rec a, b, c;
    run(&s, NULL, NULL, -1, 0, &a);
    ck_assert_int_eq(a.calls, 5 * T + 1);
    for (int k = 0; k < s.o.n_methods; k++) {
        int last = sk_cl_method_rounds(s.o.methods[k], T) - 1, t = last ? 1 : 0;
        remove(path);
        run(&s, path, FP, k, t, &b);
        ck_assert(sk_file_exists(path));
        run(&s, path, FP, -1, 0, &c);
        /* it went on after the checkpoint's task */
        ck_assert_int_eq(c.first_k, t == last ? k + 1 : k);
        ck_assert_int_eq(c.first_t, t == last ? 0 : t + 1);
        ck_assert_msg(same_run(&a, &c, c.first_k), "stopped in %s (%s): the resumed run differs",
                      sk_cl_method_name(s.o.methods[k]), split ? "split" : "rotated");
        rec_free(&b);
        rec_free(&c);
    }
    /* The last checkpoint (every method done) stays for the caller to
     * remove; a rerun with it only reports. */
    run(&s, path, FP, -1, 0, &c);
    ck_assert_int_eq(c.calls, 0);
    ck_assert(same_run(&a, &c, SK_CL_MAX_METHODS));
    rec_free(&c);
    rec_free(&a);
    sk_dataset_free(&s.ds);
}

START_TEST(test_resume_rotated)
{
    resume_case(0);
}
END_TEST

START_TEST(test_resume_split_augmented)
{
    resume_case(1);
}
END_TEST

/* ---- a checkpoint with a piece left out ----------------------------------- */

/* text with line `key` given `value` (malloc'd). */
static char *set_line(const char *text, const char *key, const char *value)
{
    size_t kl = strlen(key);
    char *out = malloc(strlen(text) + strlen(value) + 2);
    ck_assert_ptr_nonnull(out);
    out[0] = '\0';
    for (const char *l = text; *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l + 1) : strlen(l);
        if (!strncmp(l, key, kl) && l[kl] == ':')
            sprintf(out + strlen(out), "%s: %s\n", key, value);
        else
            strncat(out, l, len);
        l += len;
    }
    return out;
}

enum { SPOIL_MODEL, SPOIL_RNG_TRAIN, SPOIL_RNG_MEMORY, SPOIL_MEMORY, SPOIL_EWC, SPOIL_ACCURACY, N_SPOIL };

/* Rewrite the checkpoint at path without piece `what` (as a run that did
 * not keep it would have it: reseeded, empty, zero) or, for the model, with
 * one weight changed. */
static void spoil(const char *path, int what, uint64_t seed)
{
    char *fp = NULL, *text = NULL, *t2 = NULL;
    sk_tset *all = NULL, *out = sk_tset_new();
    ck_assert_int_eq(sk_h5w_read_attr(path, "fingerprint", &fp), SK_OK);
    ck_assert_int_eq(sk_h5w_read_attr(path, "checkpoint", &text), SK_OK);
    ck_assert_int_eq(sk_h5w_read(path, &all, NULL), SK_OK);
    for (int i = 0; i < all->n; i++) {
        const char *nm = all->t[i].name;
        if (what == SPOIL_MEMORY && !strncmp(nm, "memory", 6)) continue;
        ck_assert_int_ge(sk_tset_add(out, nm, all->t[i].ndim, all->t[i].shape), 0);
    }
    ck_assert_int_eq(sk_tset_alloc(out), SK_OK);
    int hit = 0;
    for (int i = 0; i < out->n; i++) {
        sk_tensor *t = &out->t[i];
        memcpy(t->data, sk_tset_get(all, t->name)->data, (size_t)t->numel * sizeof(float));
        if (what == SPOIL_MODEL && !strcmp(t->name, "model.layers.0.weight")) t->data[0] += 1e-3f, hit = 1;
        if (what == SPOIL_EWC && !strncmp(t->name, "ewc.", 4)) memset(t->data, 0, (size_t)t->numel * 4), hit = 1;
        if (what == SPOIL_ACCURACY && !strcmp(t->name, "accuracy")) memset(t->data, 0, (size_t)t->numel * 4), hit = 1;
    }
    sk_rng g;
    char w[80];
    if (what == SPOIL_RNG_TRAIN || what == SPOIL_RNG_MEMORY) { /* the streams as sk_cl_trainer_reset seeds them */
        sk_rng_seed_stream(&g, seed, what == SPOIL_RNG_TRAIN ? 0x7472000000ULL : 0x6d72000000ULL);
        snprintf(w, sizeof w, "%016llx %016llx %016llx %016llx", (unsigned long long)g.s[0], (unsigned long long)g.s[1],
                 (unsigned long long)g.s[2], (unsigned long long)g.s[3]);
        t2 = set_line(text, what == SPOIL_RNG_TRAIN ? "rng_train" : "rng_memory", w), hit = 1;
    } else if (what == SPOIL_MEMORY) {
        char *a = set_line(text, "memory", "0"), *b = set_line(a, "memory_order", "0");
        t2 = set_line(b, "memory_pos", "0"), hit = 1;
        free(a);
        free(b);
    }
    ck_assert_msg(hit, "piece %d is not in the checkpoint", what);
    const char *attrs[] = {"fingerprint", fp, "checkpoint", t2 ? t2 : text};
    ck_assert_int_eq(sk_h5w_write_ex(path, out, NULL, attrs, 2), SK_OK);
    free(fp);
    free(text);
    free(t2);
    sk_tset_free(all);
    sk_tset_free(out);
}

START_TEST(test_resume_needs_every_piece)
{
    /* the method whose result each piece must change */
    static const int method_of[N_SPOIL] = {SK_CL_FINETUNE, SK_CL_FINETUNE, SK_CL_REPLAY,
                                           SK_CL_REBASIN,  SK_CL_EWC,      SK_CL_AGEM};
    setup s;
    setup_new(&s, 1);
    const char *path = tu_path("spoil.ckpt");
    run_rec a, b, c;
    run(&s, NULL, NULL, -1, 0, &a);
    for (int what = 0; what < N_SPOIL; what++) {
        int k = 0;
        while ((int)s.o.methods[k] != method_of[what])
            k++;
        for (int spoilt = 0; spoilt < 2; spoilt++) {
            remove(path);
            run(&s, path, FP, k, 1, &b);
            if (spoilt) spoil(path, what, s.o.seed);
            run(&s, path, FP, -1, 0, &c);
            ck_assert_int_eq(c.first_k, k);
            ck_assert_int_eq(c.first_t, 2);
            if (spoilt)
                ck_assert_msg(!same_run(&a, &c, k), "leaving out piece %d changed nothing", what);
            else
                ck_assert(same_run(&a, &c, k));
            rec_free(&b);
            rec_free(&c);
        }
    }
    rec_free(&a);
    sk_dataset_free(&s.ds);
}
END_TEST

/* ---- checkpoints that are not used ----------------------------------------- */

START_TEST(test_resume_ignores_foreign)
{
    setup s;
    setup_new(&s, 0);
    const char *path = tu_path("foreign.ckpt");
    run_rec a, b, c;
    run(&s, NULL, NULL, -1, 0, &a);
    for (int why = 0; why < 4; why++) {
        setup s2 = s;
        remove(path);
        run(&s, path, FP, 2, 1, &b);
        rec_free(&b);
        const char *fp = FP;
        if (why == 0) fp = "1111111111111111"; /* another config */
        if (why == 1) {                        /* other methods (with the same fingerprint) */
            s2.o.n_methods = 4;
        }
        if (why == 2) tu_write_str(path, "garbage, not HDF5\n"); /* corrupt */
        if (why == 3) {                                          /* cut short */
            size_t n;
            char *bytes = tu_read(path, &n);
            tu_write(path, bytes, n / 2);
            free(bytes);
        }
        run(&s2, path, fp, -1, 0, &c);
        ck_assert_int_eq(c.first_k, 0); /* from the first task */
        ck_assert_int_eq(c.first_t, 0);
        int n = sk_cl_results_n_methods(c.res);
        for (int k = 0; k < n; k++)
            ck_assert(!memcmp(sk_cl_results_matrix(a.res, k), sk_cl_results_matrix(c.res, k), sizeof(double) * T * T));
        rec_free(&c);
    }
    rec_free(&a);
    sk_dataset_free(&s.ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cl_resume");
    TCase *tc = tcase_create("cl_resume");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_resume_rotated);
    tcase_add_test(tc, test_resume_split_augmented);
    tcase_add_test(tc, test_resume_needs_every_piece);
    tcase_add_test(tc, test_resume_ignores_foreign);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
