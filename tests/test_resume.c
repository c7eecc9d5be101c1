/* Resuming endpoint training from a checkpoint (app/endpoint.c sk_ckpt_*,
 * nn/train.c start_epoch): training N epochs straight and training k
 * epochs, stopping, and resuming from the checkpoint file in fresh objects
 * (a new process would have nothing else) give the same per-epoch losses,
 * weights, buffers, optimiser state and rng states, bit for bit: SGD with
 * Nesterov momentum and Adam with a cosine schedule, an MLP with
 * BatchNorm and dropout, on images with augmentation (random crop and
 * flip) and a reshuffle per epoch. Leaving out any one piece of the state
 * changes the result, so each is needed. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/provider.h"
#include "app/state.h"
#include "core/mem.h"
#include "core/rng.h"
#include "nn/optim.h"
#include "nn/train.h"

#define EPOCHS 5
#define STOP 2
#define BATCH 8
#define NTRAIN 44 /* 6 batches, the last one short */
#define NTEST 16

/* Random 3x8x8 images with random labels: enough to train on. */
static void make_data(sk_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    ds->kind = SK_DS_CIFAR10;
    ds->normalize = SK_NORMALIZE_UNIT;
    sk_rng r;
    sk_rng_seed(&r, 99);
    sk_split *sp[2] = {&ds->train, &ds->test};
    for (int s = 0; s < 2; s++) {
        sk_split *p = sp[s];
        p->n = s ? NTEST : NTRAIN;
        p->c = 3, p->h = 8, p->w = 8;
        p->n_classes = 10;
        p->x = sk_alloc_n((size_t)p->n * 192, 1);
        p->y = sk_alloc_n((size_t)p->n, sizeof(int32_t));
        ck_assert(p->x && p->y);
        for (int64_t i = 0; i < p->n * 192; i++)
            p->x[i] = (uint8_t)sk_rng_below(&r, 256);
        for (int64_t i = 0; i < p->n; i++)
            p->y[i] = (int32_t)sk_rng_below(&r, 10);
    }
}

/* Everything one training process holds. */
typedef struct {
    sk_model *m;
    sk_optim *opt;
    sk_provider tr, te, va;
    sk_rng rng;
    sk_ckpt ck;
    int select_best; /* train.select best_validation (on the test images) */
    sk_tset *best;   /* its selected epoch's parameters so far */
    int sel;         /* its selected epoch */
    double sel_loss, sel_acc;
    double loss[EPOCHS][3]; /* train loss, train acc, test loss per epoch */
    int stop;               /* stop after this epoch (0: never) */
} rig;

static void rig_new(rig *g, const sk_dataset *ds, int adam, int select_best, const char *path)
{
    memset(g, 0, sizeof *g);
    g->select_best = select_best;
    sk_model_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.arch = SK_ARCH_MLP;
    sp.n_hidden = 2;
    sp.hidden[0] = 16;
    sp.hidden[1] = 12;
    sp.activation = SK_ACT_RELU;
    sp.norm = SK_MNORM_BATCHNORM;
    sp.width = 1;
    sp.dropout = 0.25f;
    sp.in_c = 3, sp.in_h = 8, sp.in_w = 8;
    sp.n_out = 10;
    ck_assert_int_eq(sk_model_new(&sp, BATCH, &g->m), SK_OK);
    sk_rng_seed_stream(&g->rng, 5, 0x494e4954);
    sk_model_init(g->m, &g->rng);
    ck_assert_int_eq(sk_provider_init(&g->tr, ds, &ds->train, BATCH, 1, 1, 5), SK_OK);
    ck_assert_int_eq(sk_provider_init(&g->te, ds, &ds->test, BATCH, 0, 0, 5), SK_OK);
    ck_assert_int_eq(sk_provider_init(&g->va, ds, &ds->test, BATCH, 0, 0, 5), SK_OK);
    sk_optim_opts o;
    sk_optim_opts_init(&o, adam ? SK_OPT_ADAM : SK_OPT_SGD);
    if (adam) {
        o.lr = 3e-3;
        o.schedule = SK_SCHED_COSINE;
        o.total_steps = EPOCHS * 6;
        o.warmup_steps = 4;
    } else {
        o.lr = 0.05;
        o.momentum = 0.9;
        o.nesterov = 1;
        o.weight_decay = 5e-4;
    }
    ck_assert_int_eq(sk_optim_new(&o, sk_model_params(g->m), &g->opt), SK_OK);
    g->sel_loss = g->sel_acc = NAN;
    if (select_best) ck_assert_ptr_nonnull(g->best = sk_tset_like(sk_model_params(g->m)));
    g->ck = (sk_ckpt){path,    "00000000c0ffee00", EPOCHS,     sk_model_params(g->m), g->opt, &g->tr, &g->rng, g->best,
                      &g->sel, &g->sel_loss,       &g->sel_acc};
}

static void rig_free(rig *g)
{
    sk_model_free(g->m);
    sk_optim_free(g->opt);
    sk_provider_free(&g->tr);
    sk_provider_free(&g->te);
    sk_provider_free(&g->va);
    sk_tset_free(g->best);
}

static int step_fn(void *ctx, sk_tset *p, sk_tset *gr, int64_t step)
{
    (void)step;
    return isnan(sk_optim_step(ctx, p, gr)) ? -1 : 0;
}

static void on_epoch(void *ctx, const sk_epoch_info *in)
{
    rig *g = ctx;
    g->loss[in->epoch - 1][0] = in->train_loss;
    g->loss[in->epoch - 1][1] = in->train_acc;
    g->loss[in->epoch - 1][2] = in->test_loss;
}

/* What endpoint.c does: a checkpoint after every epoch but the last. */
static int on_end(void *ctx, int epoch, int64_t global_step)
{
    rig *g = ctx;
    if (epoch < EPOCHS && sk_ckpt_write(&g->ck, epoch, global_step) != SK_OK) return -1;
    return epoch == g->stop;
}

/* Train g from start (global step gs), returning the final global step. */
static int64_t train(rig *g, int start, int64_t gs)
{
    sk_train_cfg tc;
    memset(&tc, 0, sizeof tc);
    tc.epochs = EPOCHS;
    tc.batch_size = BATCH;
    tc.get_batch = sk_provider_next;
    tc.ctx = &g->tr;
    tc.get_test_batch = sk_provider_next;
    tc.test_ctx = &g->te;
    tc.step = step_fn;
    tc.optctx = g->opt;
    tc.on_epoch = on_epoch;
    tc.epoch_ctx = g;
    tc.on_epoch_end = on_end;
    tc.epoch_end_ctx = g;
    tc.rng = &g->rng;
    tc.start_epoch = start;
    tc.global_step = gs;
    if (g->select_best) {
        tc.select = SK_TRAIN_SELECT_BEST_VALIDATION;
        tc.get_val_batch = sk_provider_next;
        tc.val_ctx = &g->va;
        tc.best = g->best;
        tc.selected_epoch = g->sel;
        tc.selected_val_loss = g->sel_loss;
        tc.selected_val_acc = g->sel_acc;
        /* as endpoint.c: the checkpoint reads the selection where sk_train keeps it */
        g->ck.selected_epoch = &tc.selected_epoch;
        g->ck.selected_val_loss = &tc.selected_val_loss;
        g->ck.selected_val_acc = &tc.selected_val_acc;
    }
    ck_assert_msg(sk_train(g->m, &tc) == SK_OK, "%s", sk_err_msg());
    g->ck.selected_epoch = &g->sel;
    g->ck.selected_val_loss = &g->sel_loss;
    g->ck.selected_val_acc = &g->sel_acc;
    g->sel = tc.selected_epoch;
    g->sel_loss = tc.selected_val_loss;
    g->sel_acc = tc.selected_val_acc;
    return tc.global_step;
}

static int same_floats(const sk_tset *a, const sk_tset *b)
{
    return a->numel == b->numel && memcmp(a->block, b->block, (size_t)a->numel * sizeof(float)) == 0;
}

/* The whole state of a and b is the same, bit for bit. */
static int same_state(const rig *a, const rig *b)
{
    int64_t sa, sb;
    int na, nb;
    const sk_tset *ea[2], *eb[2];
    sk_optim_export(a->opt, &sa, &na, ea);
    sk_optim_export(b->opt, &sb, &nb, eb);
    int same = sa == sb && na == nb && same_floats(sk_model_params(a->m), sk_model_params(b->m));
    for (int i = 0; i < na && same; i++)
        same = same_floats(ea[i], eb[i]);
    if (a->select_best)
        same = same && a->sel == b->sel && !memcmp(&a->sel_loss, &b->sel_loss, sizeof a->sel_loss) &&
               same_floats(a->best, b->best);
    return same && !memcmp(&a->rng, &b->rng, sizeof a->rng) && !memcmp(&a->tr.rng, &b->tr.rng, sizeof a->tr.rng) &&
           !memcmp(a->tr.idx, b->tr.idx, (size_t)a->tr.n * sizeof(int32_t));
}

static void resume_case(int adam, int select_best)
{
    sk_dataset ds;
    make_data(&ds);
    char pa[4200], pb[4200], pc[4200], tag[16];
    snprintf(tag, sizeof tag, "%s%s", adam ? "adam" : "sgd", select_best ? "_best" : "");
    snprintf(pa, sizeof pa, "%s_straight.ckpt", tu_path(tag));
    snprintf(pb, sizeof pb, "%s.ckpt", tu_path(tag));
    snprintf(pc, sizeof pc, "%s_resumed.ckpt", tu_path(tag));

    rig a, b;
    rig_new(&a, &ds, adam, select_best, pa);
    int64_t gs_a = train(&a, 0, 0);
    ck_assert_int_eq(gs_a, EPOCHS * 6);

    /* stop after epoch `stop`: the checkpoint holds that epoch. With
     * best_validation, the epoch the straight run selects (when it is not the
     * last), so that the resumed run must take its weights from the
     * checkpoint. */
    int stop = STOP;
    if (select_best) {
        ck_assert_msg(a.sel >= 1 && a.sel < EPOCHS, "selected epoch %d", a.sel);
        stop = a.sel;
    }
    rig_new(&b, &ds, adam, select_best, pb);
    b.stop = stop;
    int64_t gs_b = train(&b, 0, 0);
    ck_assert_int_eq(gs_b, stop * 6);
    for (int e = 0; e < stop; e++)
        ck_assert(!memcmp(a.loss[e], b.loss[e], sizeof a.loss[e]));
    rig_free(&b);

    /* resumed in fresh objects (spoil = 0), or with one piece of the state left out */
    for (int spoil = 0; spoil < (select_best ? 8 : 6); spoil++) {
        rig c;
        int epoch = 0;
        int64_t gs = 0;
        rig_new(&c, &ds, adam, select_best, pb);
        ck_assert_msg(sk_ckpt_read(&c.ck, &epoch, &gs) == SK_OK, "%s", sk_err_msg());
        ck_assert_int_eq(epoch, stop);
        ck_assert_int_eq(gs, stop * 6);
        ck_assert_int_eq(sk_optim_steps_done(c.opt), stop * 6);
        c.ck.path = pc;                            /* its own later checkpoints; pb stays at epoch `stop` */
        if (spoil == 1) sk_rng_seed(&c.rng, 1);    /* dropout draws */
        if (spoil == 2) sk_rng_seed(&c.tr.rng, 1); /* order and augmentation */
        if (spoil == 3) {                          /* the order carried over (each epoch reshuffles it) */
            sk_rng t;
            sk_rng_seed(&t, 3);
            sk_rng_shuffle_i32(&t, c.tr.idx, c.tr.n);
        }
        if (spoil == 4) { /* the optimiser's moments / momentum */
            int64_t s;
            int n;
            const sk_tset *sets[2];
            sk_optim_export(c.opt, &s, &n, sets);
            ck_assert_int_ge(n, 1);
            ((sk_tset *)sets[0])->block[0] += 1e-3f;
        }
        if (spoil == 5) sk_model_params(c.m)->block[0] += 1e-3f; /* the weights */
        if (spoil == 6) c.best->block[0] += 1e-3f;               /* the selected epoch's weights */
        if (spoil == 7) c.sel_loss = INFINITY;                   /* its validation loss */
        ck_assert_int_eq(train(&c, epoch, gs), gs_a);
        if (spoil == 0) {
            for (int e = stop; e < EPOCHS; e++)
                ck_assert_msg(!memcmp(a.loss[e], c.loss[e], sizeof a.loss[e]), "epoch %d: loss %.17g vs %.17g", e + 1,
                              a.loss[e][0], c.loss[e][0]);
            ck_assert_msg(same_state(&a, &c), "resumed state differs (%s)", tag);
        } else {
            ck_assert_msg(!same_state(&a, &c), "leaving out piece %d of the state changed nothing", spoil);
        }
        rig_free(&c);
    }
    rig_free(&a);
    sk_dataset_free(&ds);
}

START_TEST(test_resume_sgd_momentum)
{
    resume_case(0, 0);
}
END_TEST

START_TEST(test_resume_adam)
{
    resume_case(1, 0);
}
END_TEST

/* train.select best_validation: the checkpoint also carries the selected
 * epoch so far (its weights, number and validation loss). */
START_TEST(test_resume_best_validation)
{
    resume_case(0, 1);
    resume_case(1, 1);
}
END_TEST

/* A checkpoint of another recipe, of another model or optimiser, or no
 * checkpoint at all is refused with nothing changed; sk_train refuses a
 * start epoch beyond its epochs. */
START_TEST(test_resume_refused)
{
    sk_dataset ds;
    make_data(&ds);
    char path[4200];
    snprintf(path, sizeof path, "%s", tu_path("refused.ckpt"));
    rig a, b;
    rig_new(&a, &ds, 1, 0, path);
    a.stop = 1;
    train(&a, 0, 0);
    int epoch = -7;
    int64_t gs = -7;

    rig_new(&b, &ds, 1, 0, path);
    sk_tset *before = sk_tset_clone(sk_model_params(b.m));
    b.ck.fingerprint = "1111111111111111";
    sk_err_clear();
    ck_assert_int_eq(sk_ckpt_read(&b.ck, &epoch, &gs), SK_EINVAL);
    ck_assert_msg(
        strstr(sk_err_msg(), "another recipe (fingerprint 00000000c0ffee00, this endpoint's 1111111111111111)"), "%s",
        sk_err_msg());
    b.ck.fingerprint = a.ck.fingerprint;
    b.ck.epochs = EPOCHS + 1;
    sk_err_clear();
    ck_assert_int_eq(sk_ckpt_read(&b.ck, &epoch, &gs), SK_EINVAL);
    b.ck.epochs = EPOCHS;
    sk_optim_free(b.opt); /* SGD without momentum keeps no state sets */
    sk_optim_opts o;
    sk_optim_opts_init(&o, SK_OPT_SGD);
    ck_assert_int_eq(sk_optim_new(&o, sk_model_params(b.m), &b.opt), SK_OK);
    b.ck.opt = b.opt;
    sk_err_clear();
    ck_assert_int_eq(sk_ckpt_read(&b.ck, &epoch, &gs), SK_EINVAL);
    ck_assert_int_eq(sk_optim_steps_done(b.opt), 0);
    b.ck.path = tu_path("absent.ckpt");
    sk_err_clear();
    ck_assert_int_ne(sk_ckpt_read(&b.ck, &epoch, &gs), SK_OK);
    ck_assert(same_floats(before, sk_model_params(b.m)));
    ck_assert_int_eq(epoch, -7);
    ck_assert_int_eq(gs, -7);

    sk_train_cfg tc;
    memset(&tc, 0, sizeof tc);
    tc.epochs = 2;
    tc.batch_size = BATCH;
    tc.get_batch = sk_provider_next;
    tc.ctx = &b.tr;
    tc.step = step_fn;
    tc.optctx = b.opt;
    tc.rng = &b.rng;
    tc.start_epoch = 3;
    sk_err_clear();
    ck_assert_int_eq(sk_train(b.m, &tc), SK_EINVAL);
    sk_tset_free(before);
    rig_free(&a);
    rig_free(&b);
    sk_dataset_free(&ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resume");
    TCase *tc = tcase_create("resume");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_resume_sgd_momentum);
    tcase_add_test(tc, test_resume_adam);
    tcase_add_test(tc, test_resume_best_validation);
    tcase_add_test(tc, test_resume_refused);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
