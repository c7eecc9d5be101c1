/* train.c - the training step, epoch loop, evaluation and BatchNorm
 * re-estimation on top of sk_model_forward/backward. */
#include "nn/train.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "core/names.h"
#include "core/timer.h"
#include "nn/layers.h"

const char *const sk_train_select_names[] = {
    [SK_TRAIN_SELECT_LAST] = "last", [SK_TRAIN_SELECT_BEST_VALIDATION] = "best_validation"};

/* x, y, yr buffers for `cap` samples. */
typedef struct {
    float *x;
    int32_t *y;
    float *yr;
} batch_bufs;

static sk_status bufs_alloc(batch_bufs *b, const sk_model *m, int cap)
{
    const sk_model_spec *sp = sk_model_get_spec(m);
    size_t in = (size_t)sp->in_c * sp->in_h * sp->in_w;
    b->x = sk_alloc_n((size_t)cap * in, sizeof(float));
    b->y = sk_alloc_n((size_t)cap, sizeof(int32_t));
    b->yr = sk_alloc_n((size_t)cap * sp->n_out, sizeof(float));
    return (b->x && b->y && b->yr) ? SK_OK : SK_ENOMEM;
}

/* Batch `step` of a provider into b; *n its size (0 past the end). A failed
 * provider (< 0) or a batch over `cap` is an error naming `what` batch. */
static sk_status fetch(sk_batch_fn get, void *ctx, int64_t epoch, int64_t step, batch_bufs *b, int cap,
                       const char *what, const char *cap_name, int *n)
{
    *n = get(ctx, epoch, step, b->x, b->y, b->yr);
    if (*n >= 0 && *n <= cap) return SK_OK;
    return *n < 0 ? SK_EIO : sk_err(SK_EINVAL, "%s batch of %d samples (%s %d)", what, *n, cap_name, cap);
}

static void bufs_free(batch_bufs *b)
{
    sk_free(b->x);
    sk_free(b->y);
    sk_free(b->yr);
}

/* Loss (and dlogits if d != NULL) of the model's last logits. */
static double batch_loss(const sk_model *m, const float *logits, const int32_t *y, const float *yr, int n,
                         const sk_loss_spec *ls, float *d, int *correct)
{
    int K = sk_model_get_spec(m)->n_out;
    if (ls && ls->regression) {
        if (correct) *correct = 0;
        return sk_loss_mse(logits, yr, n, K, d);
    }
    return sk_loss_ce(logits, y, n, K, ls ? ls->class_mask : NULL, d, correct);
}

sk_status sk_train_grad(sk_model *m, const sk_tset *params, sk_tset *grads, const float *x, const int32_t *y,
                        const float *yr, int n, const sk_loss_spec *ls, sk_rng *rng, double *loss, int *n_correct)
{
    if (n < 1 || n > sk_model_max_batch(m))
        return sk_err(SK_EINVAL, "training batch of %d samples (model allows 1..%d)", n, sk_model_max_batch(m));
    const float *logits = sk_model_forward(m, params, x, n, 1, rng);
    float *d = sk_model_dlogits(m);
    double l = batch_loss(m, logits, y, yr, n, ls, d, n_correct);
    if (loss) *loss = l;
    if (!isfinite(l)) return sk_err(SK_ENUMERIC, "training loss is %g\nHINT: lower the learning rate", l);
    sk_model_zero_grads(m, grads);
    sk_model_backward(m, d, grads, NULL);
    return SK_OK;
}

sk_status sk_model_eval(sk_model *m, const sk_tset *params, sk_batch_fn get_batch, void *ctx, const sk_loss_spec *ls,
                        double *loss, double *acc)
{
    batch_bufs b = {0};
    sk_status st = bufs_alloc(&b, m, sk_model_max_batch(m));
    double total = 0.0;
    int64_t count = 0, correct = 0;
    if (st != SK_OK) goto cleanup;
    for (int64_t step = 0;; step++) {
        int n;
        if ((st = fetch(get_batch, ctx, -1, step, &b, sk_model_max_batch(m), "evaluation", "model allows", &n)))
            goto cleanup;
        if (n == 0) break;
        const float *logits = sk_model_forward(m, params, b.x, n, 0, NULL);
        int c = 0;
        total += batch_loss(m, logits, b.y, b.yr, n, ls, NULL, &c) * n;
        correct += c;
        count += n;
    }
    if (count == 0) {
        st = sk_err(SK_EINVAL, "evaluation: the batch provider returned no samples");
        goto cleanup;
    }
    if (loss) *loss = total / (double)count;
    if (acc) *acc = (ls && ls->regression) ? NAN : (double)correct / (double)count;
cleanup:
    bufs_free(&b);
    return st;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

sk_status sk_model_bn_reset(sk_model *m, sk_tset *params, sk_batch_fn get_batch, void *ctx, int n_batches)
{
    sk_tset *P = params ? params : sk_model_params(m);
    batch_bufs b = {0};
    sk_status st = SK_OK;
    if (!sk_model_has_batchnorm(m)) return SK_OK;
    for (int i = 0; i < P->n; i++) {
        sk_tensor *t = &P->t[i];
        if (!t->is_buffer) continue;
        float v = ends_with(t->name, "running_var") ? 1.0f : 0.0f;
        for (int64_t j = 0; j < t->numel; j++)
            t->data[j] = v;
    }
    if ((st = bufs_alloc(&b, m, sk_model_max_batch(m))) != SK_OK) goto cleanup;
    sk_model_set_dropout(m, 0);
    int64_t k = 0;
    for (int64_t step = 0; n_batches <= 0 || step < n_batches; step++) {
        int n;
        if ((st = fetch(get_batch, ctx, -1, step, &b, sk_model_max_batch(m), "BatchNorm re-estimation", "model allows",
                        &n)))
            goto cleanup;
        if (n == 0) break;
        k++;
        sk_model_set_bn_momentum(m, (float)(1.0 / (double)k));
        sk_model_forward(m, P, b.x, n, 1, NULL);
    }
cleanup:
    sk_model_set_bn_momentum(m, 0.1f);
    sk_model_set_dropout(m, 1);
    bufs_free(&b);
    return st;
}

sk_status sk_train(sk_model *m, sk_train_cfg *cfg)
{
    batch_bufs b = {0};
    int select_best = cfg->select == SK_TRAIN_SELECT_BEST_VALIDATION;
    sk_tset *best = select_best ? cfg->best : NULL; /* the parameters of the best epoch so far */
    sk_tset *own_best = NULL;
    sk_status st;
    if (cfg->batch_size < 1 || cfg->batch_size > sk_model_max_batch(m))
        return sk_err(SK_EINVAL, "batch_size %d must be in 1..%d (the model's max batch)", cfg->batch_size,
                      sk_model_max_batch(m));
    if (!cfg->get_batch || !cfg->step) return sk_err(SK_EINVAL, "sk_train: get_batch and step callbacks are required");
    if (cfg->start_epoch < 0 || cfg->start_epoch > cfg->epochs)
        return sk_err(SK_EINVAL, "sk_train: start epoch %d outside 0..%d", cfg->start_epoch, cfg->epochs);
    if (select_best && !cfg->get_val_batch)
        return sk_err(SK_EINVAL, "sk_train: selecting the best validation epoch needs a validation provider");
    if (cfg->start_epoch == 0) {
        cfg->selected_epoch = 0;
        cfg->selected_val_loss = cfg->selected_val_acc = NAN;
    }
    if (select_best && !best && !(best = own_best = sk_tset_like(sk_model_params(m)))) return SK_ENOMEM;
    if ((st = bufs_alloc(&b, m, cfg->batch_size)) != SK_OK) goto cleanup;
    for (int epoch = cfg->start_epoch; epoch < cfg->epochs; epoch++) {
        double total = 0.0, t0 = sk_now();
        int64_t count = 0, correct = 0;
        for (int64_t step = 0;; step++) {
            int n;
            if ((st = fetch(cfg->get_batch, cfg->ctx, epoch, step, &b, cfg->batch_size, "training", "batch_size", &n)))
                goto cleanup;
            if (n == 0) break;
            double l;
            int c = 0;
            if ((st = sk_train_grad(m, NULL, NULL, b.x, b.y, b.yr, n, &cfg->loss, cfg->rng, &l, &c)) != SK_OK) {
                sk_err_prefix(st, "epoch %d step %lld: ", epoch + 1, (long long)step);
                goto cleanup;
            }
            if (cfg->step(cfg->optctx, sk_model_params(m), sk_model_grads(m), cfg->global_step) != 0) {
                st = SK_ENUMERIC;
                goto cleanup;
            }
            cfg->global_step++;
            total += l * n;
            correct += c;
            count += n;
        }
        double dt = sk_now() - t0;
        sk_epoch_info info = {.epoch = epoch + 1,
                              .train_loss = count ? total / (double)count : NAN,
                              .train_acc = (count && !cfg->loss.regression) ? (double)correct / (double)count : NAN,
                              .val_loss = NAN,
                              .val_acc = NAN,
                              .test_loss = NAN,
                              .test_acc = NAN,
                              .samples_per_s = dt > 0 ? (double)count / dt : 0.0};
        if (cfg->get_val_batch && (st = sk_model_eval(m, NULL, cfg->get_val_batch, cfg->val_ctx, &cfg->loss,
                                                      &info.val_loss, &info.val_acc)) != SK_OK)
            goto cleanup;
        if (cfg->get_test_batch && (st = sk_model_eval(m, NULL, cfg->get_test_batch, cfg->test_ctx, &cfg->loss,
                                                       &info.test_loss, &info.test_acc)) != SK_OK)
            goto cleanup;
        /* A NaN validation loss is never better: the comparison is false. */
        info.best = select_best && (cfg->selected_epoch == 0 || info.val_loss < cfg->selected_val_loss);
        if (!select_best || info.best) {
            cfg->selected_epoch = info.epoch;
            cfg->selected_val_loss = info.val_loss;
            cfg->selected_val_acc = info.val_acc;
            if (best && (st = sk_tset_copy(best, sk_model_params(m))) != SK_OK) goto cleanup;
        }
        if (cfg->on_epoch) cfg->on_epoch(cfg->epoch_ctx, &info);
        if (count && !isfinite(info.train_loss)) { /* a diverged run is a failed run, never a result */
            st = sk_err(SK_ENUMERIC,
                        "training diverged: the training loss of epoch %d is %s\nHINT: lower train.lr, or add "
                        "a warm-up (train.warmup_epochs) or gradient clipping (train.clip_norm)",
                        epoch + 1, isnan(info.train_loss) ? "NaN" : "infinite");
            goto cleanup;
        }
        int end = cfg->on_epoch_end ? cfg->on_epoch_end(cfg->epoch_end_ctx, epoch + 1, cfg->global_step) : 0;
        if (end < 0) {
            st = SK_EIO;
            goto cleanup;
        }
        if (end > 0) goto cleanup; /* stopped: keeps the last trained epoch's parameters */
    }
    if (best && cfg->selected_epoch > 0) st = sk_tset_copy(sk_model_params(m), best);
cleanup:
    sk_tset_free(own_best);
    bufs_free(&b);
    return st;
}
