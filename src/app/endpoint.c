/* endpoint.c - the two endpoints of a run: loaded when their weights exist,
 * else trained (or kept at their seeded initialisation, or B planted as a
 * random permutation of A) and saved; then evaluated on both splits. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "app/options.h"
#include "app/provider.h"
#include "app/state.h"
#include "core/mem.h"
#include "core/names.h"
#include "core/rng.h"
#include "core/strbuf.h"
#include "core/timer.h"
#include "io/atomic.h"
#include "io/h5w.h"
#include "io/kvtext.h"
#include "nn/optim.h"

/* ---- fingerprints ---------------------------------------------------------------- */

/* The recipe of the weights this config makes for endpoint e: every setting
 * they depend on, one "key: value" line each (the model section, with
 * models.X.dropout in place of model.dropout when the endpoint has its own,
 * the data set, its normalisation and its train/validation split (and for
 * the polynomial toy the run's seed, which draws its noise), the seed,
 * and the training section, or "source: init" for an untrained
 * initialisation). Its FNV-1a 64-bit hash is the endpoint's fingerprint;
 * both go into the weights file's attributes. Keys added after recipe 1 (`later`) are written only
 * when they differ from their default, so weights made before those keys
 * existed keep their fingerprint. */
sk_status sk_endpoint_recipe(const sk_config *c, int e, int init, sk_strbuf *out)
{
    static const char *const data_keys[] = {"dataset.name",        "dataset.normalize",  "dataset.mean",
                                            "dataset.std",         "dataset.augment",    "dataset.labels",
                                            "dataset.train_limit", "dataset.validation", "dataset.split_seed",
                                            "dataset.degree",      "dataset.points",     "dataset.noise"};
    static const char *const later[] = {"dataset.validation", "dataset.split_seed", "train.select"};
    char val[SK_CFG_PATH + 64];
    sk_status st = SK_OK;
    sk_strbuf_appendf(out, "recipe: sinkrb-endpoint 1\nsource: %s\nseed: %lld\n", init ? "init" : "trained",
                      c->models[e].seed);
    /* The polynomial toy's noise is drawn from the run's seed: other data
     * for every other seed (written, like the later keys, only when it is
     * not the default 1, which older weights were made with). */
    if (c->dataset.name == SK_DS_POLYNOMIAL && c->seed != 1) sk_strbuf_appendf(out, "data_seed: %lld\n", c->seed);
    for (int i = 0; i < sk_config_n_keys() && st == SK_OK; i++) {
        const char *key, *def;
        sk_config_key_info(i, &key, NULL, &def, NULL);
        int use =
            !strncmp(key, "model.", 6) || (!init && !strncmp(key, "train.", 6) &&
                                           strcmp(key, "train.eval_batch_size") && strcmp(key, "train.allow_chance"));
        for (int k = 0; k < SK_COUNT_OF(data_keys) && !use; k++)
            use =
                !strcmp(key, data_keys[k]) && (!init || !strcmp(key, "dataset.name") || !strcmp(key, "dataset.labels"));
        if (!use || (st = sk_config_value_text(c, key, val, sizeof val)) != SK_OK) continue;
        if (!strcmp(key, "model.dropout") && c->models[e].dropout >= 0) {
            /* The endpoint's own dropout replaces model.dropout (which then
             * only concerns the alignment). */
            char k2[32];
            snprintf(k2, sizeof k2, "models.%c.dropout", 'a' + e);
            if ((st = sk_config_value_text(c, k2, val, sizeof val)) == SK_OK)
                sk_strbuf_appendf(out, "%s: %s\n", k2, val);
            continue;
        }
        int is_later = 0;
        for (int k = 0; k < SK_COUNT_OF(later); k++)
            is_later |= !strcmp(key, later[k]);
        if (!is_later || strcmp(val, def)) sk_strbuf_appendf(out, "%s: %s\n", key, val);
    }
    return st != SK_OK ? st : out->err;
}

/* The lines of `want` whose value differs in `have` (or that `have` lacks), for the message. */
static void recipe_diff(const char *have, const char *want, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (const char *line = want; *line && k < n;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *colon = memchr(line, ':', len);
        if (colon) {
            char key[256], needle[300];
            snprintf(key, sizeof key, "%.*s", (int)(colon - line), line);
            snprintf(needle, sizeof needle, "%.*s\n", (int)len, line);
            if (!strstr(have, needle)) {
                const char *old = NULL;
                char pre[260];
                snprintf(pre, sizeof pre, "%s: ", key);
                for (const char *h = have; h && *h; h = strchr(h, '\n') ? strchr(h, '\n') + 1 : NULL)
                    if (!strncmp(h, pre, strlen(pre))) old = h + strlen(pre);
                int ol = old ? (int)strcspn(old, "\n") : 4;
                k += (size_t)snprintf(buf + k, n - k, "\n  %s: %.*s in the file, %.*s in this config", key, ol,
                                      old ? old : "none", (int)(len - (size_t)(colon + 2 - line)), colon + 2);
            }
        }
        line = nl ? nl + 1 : line + len;
    }
}

/* A file that carries a fingerprint must have been made by this config's
 * recipe; a file without one (a PyTorch export, a file of an older sinkrb)
 * is taken as it is. */
static sk_status check_fingerprint(const sk_config *c, int e, sk_endpoint *ep)
{
    const char *path = c->models[e].weights;
    char *have = NULL, *have_fp = NULL, want_fp[24];
    sk_strbuf want = SK_STRBUF_INIT;
    sk_status st = sk_h5w_read_attr(path, "fingerprint", &have_fp);
    if (st == SK_OK && have_fp) st = sk_h5w_read_attr(path, "recipe", &have);
    if (st == SK_OK && have_fp) st = sk_endpoint_recipe(c, e, c->models[e].train == SK_ENDPOINT_INIT, &want);
    if (st == SK_OK && have_fp) {
        sk_kv_fingerprint(sk_strbuf_str(&want), want_fp, sizeof want_fp);
        snprintf(ep->fingerprint, sizeof ep->fingerprint, "%s", have_fp);
        ep->recipe_trained = have && strstr(have, "\nsource: trained\n") != NULL;
        if (strcmp(have_fp, want_fp) != 0) {
            char diff[2048];
            recipe_diff(have ? have : "", sk_strbuf_str(&want), diff, sizeof diff);
            st = sk_err(SK_EINVAL,
                        "%s: these weights were made by another recipe than models.%c of this config "
                        "(fingerprint %s, this config's %s):%s\nHINT: delete the file or point models.%c.weights "
                        "elsewhere to make new ones, or set models.%c.train: always to retrain it",
                        path, 'a' + e, have_fp, want_fp, diff, 'a' + e, 'a' + e);
        }
    }
    free(have);
    free(have_fp);
    sk_strbuf_free(&want);
    return st;
}

static const char *const action_names[] = {[SK_EP_LOAD] = "loaded",
                                           [SK_EP_TRAIN] = "trained",
                                           [SK_EP_INIT] = "initialisation",
                                           [SK_EP_PLANT] = "planted",
                                           [SK_EP_MISSING] = "missing"};

const char *sk_endpoint_source(const sk_endpoint *ep)
{
    return SK_NAME(action_names, ep->action);
}

/* Endpoint e's weights from models.X.weights into ep->theta, checked
 * against this config's recipe when the file carries one. */
static sk_status load_weights(sk_run *r, sk_pipe_state *ps, int e)
{
    const sk_config *c = &r->cfg;
    sk_endpoint *ep = &ps->ep[e];
    const char *why;
    if (sk_path_kind_of(c->models[e].weights, &why) == SK_PATH_BAD)
        return sk_err(SK_EIO, "models.%c.weights: %s is %s", 'a' + e, c->models[e].weights, why);
    const char *rn[2 * SK_CFG_RENAME];
    char buf[SK_CFG_RENAME][SK_CFG_RENAME_TEXT];
    int n_rn = c->models[e].n_rename;
    for (int i = 0; i < n_rn; i++) { /* "FROM=TO" -> {FROM, TO} (checked by the config) */
        snprintf(buf[i], sizeof buf[i], "%s", c->models[e].rename[i]);
        char *eq = strchr(buf[i], '=');
        *eq = '\0';
        rn[2 * i] = buf[i];
        rn[2 * i + 1] = eq + 1;
    }
    sk_status st = sk_h5w_load_into_ex(c->models[e].weights, ep->theta, n_rn ? rn : NULL, n_rn, ps->model_desc);
    if (st != SK_OK) return sk_err_prefix(st, "models.%c.weights: ", 'a' + e);
    if ((st = check_fingerprint(c, e, ep)) != SK_OK) return st;
    char *sel = NULL;
    if ((st = sk_h5w_read_attr(c->models[e].weights, "selected_epoch", &sel)) != SK_OK) return st;
    ep->selected_epoch = sel ? atoi(sel) : 0;
    free(sel);
    return SK_OK;
}

sk_status sk_endpoints_load(sk_run *r, sk_pipe_state *ps)
{
    const sk_config *c = &r->cfg;
    for (int e = 0; e < 2; e++) {
        sk_endpoint *ep = &ps->ep[e];
        ep->theta = sk_tset_like(sk_model_params(ps->m));
        if (!ep->theta) return SK_ENOMEM;
        ep->action = sk_options_endpoint(c, e);
        if (ep->action == SK_EP_MISSING)
            return sk_err(SK_EIO,
                          "models.%c.weights: %s does not exist\nHINT: check the path; to train model %c and save it "
                          "there, set models.%c.train: if_missing",
                          'a' + e, c->models[e].weights, 'a' + e, 'a' + e);
        sk_status st = ep->action == SK_EP_LOAD ? load_weights(r, ps, e) : SK_OK;
        if (st != SK_OK) return st;
    }
    return SK_OK;
}

/* ---- resuming interrupted training ---------------------------------------------- */

typedef struct {
    sk_run *r;
    sk_ckpt ck;
    char path[SK_PATH_MAX + 8], fingerprint[24];
    int failed; /* a write failed: logged once, no more attempts */
} ckpt_ctx;

/* <weights>.ckpt of endpoint e. */
static void ckpt_path(const sk_config *c, int e, char *buf, size_t n)
{
    snprintf(buf, n, "%s.ckpt", c->models[e].weights);
}

/* sk_epoch_end_fn: the checkpoint after every epoch but the last (the
 * weights follow that one at once). A checkpoint that cannot be written
 * costs the resumption, not the run: logged, and training goes on. */
static int ckpt_on_epoch_end(void *ctx, int epoch, int64_t global_step)
{
    ckpt_ctx *k = ctx;
    if (epoch >= k->ck.epochs || k->failed) return 0;
    if (sk_ckpt_write(&k->ck, epoch, global_step) != SK_OK) {
        sk_log_err(k->r->log, "warning: no checkpoint after epoch %d (training goes on): %s", epoch, sk_err_msg());
        sk_err_clear();
        k->failed = 1;
    }
    return 0;
}

/* Before endpoint e trains: point tc's end-of-epoch callback at the
 * checkpoint writer, and when a checkpoint of this recipe exists, restore
 * its state and start tc after its epoch. --restart removes the checkpoint
 * instead; one that does not fit is ignored (and replaced). */
static sk_status ckpt_begin(ckpt_ctx *k, sk_run *r, sk_pipe_state *ps, int e, sk_optim *opt, sk_provider *tr,
                            sk_rng *rng, sk_train_cfg *tc)
{
    const sk_config *c = &r->cfg;
    sk_strbuf text = SK_STRBUF_INIT;
    sk_status st = sk_endpoint_recipe(c, e, 0, &text);
    if (st == SK_OK) sk_kv_fingerprint(sk_strbuf_str(&text), k->fingerprint, sizeof k->fingerprint);
    sk_strbuf_free(&text);
    if (st != SK_OK) return st;
    ckpt_path(c, e, k->path, sizeof k->path);
    k->r = r;
    k->failed = 0;
    k->ck = (sk_ckpt){k->path,  k->fingerprint,      c->train.epochs,        sk_model_params(ps->m), opt, tr, rng,
                      tc->best, &tc->selected_epoch, &tc->selected_val_loss, &tc->selected_val_acc};
    tc->on_epoch_end = ckpt_on_epoch_end;
    tc->epoch_end_ctx = k;
    const char *why;
    if (sk_path_kind_of(k->path, &why) == SK_PATH_ABSENT) return SK_OK;
    if (r->opts->restart) {
        if (unlink(k->path) == 0)
            sk_log_err(r->log, "model %c: --restart: removed the checkpoint %s", 'a' + e, k->path);
        return SK_OK;
    }
    int epoch;
    int64_t global_step;
    if (sk_ckpt_read(&k->ck, &epoch, &global_step) != SK_OK) {
        sk_log_err(r->log, "model %c: ignoring the checkpoint %s (it will be replaced): %s", 'a' + e, k->path,
                   sk_err_msg());
        sk_err_clear();
        return SK_OK;
    }
    tc->start_epoch = epoch;
    tc->global_step = global_step;
    tr->bar_base = (int64_t)epoch * tr->n;
    sk_log_err(r->log, "model %c: resuming from the checkpoint %s after epoch %d/%d", 'a' + e, k->path, epoch,
               c->train.epochs);
    return SK_OK;
}

/* Once endpoint e's weights are saved its checkpoint has served. */
static void ckpt_remove(const sk_config *c, int e)
{
    char path[SK_PATH_MAX + 8];
    ckpt_path(c, e, path, sizeof path);
    unlink(path);
}

/* ---- training ---------------------------------------------------------------- */

typedef struct {
    sk_run *r;
    char who;
    int epochs;
    double last_sps;
    sk_provider *prov;
    int64_t per_epoch;
    double train_loss, val_acc, test_acc, test_loss; /* of the last epoch trained */
} epoch_ctx;

static void on_epoch(void *ctx, const sk_epoch_info *in)
{
    epoch_ctx *e = ctx;
    char line[512], val[128] = "";
    e->last_sps = in->samples_per_s;
    e->train_loss = in->train_loss;
    e->val_acc = in->val_acc;
    e->test_acc = in->test_acc;
    e->test_loss = in->test_loss;
    if (isnan(in->train_acc)) {
        if (!isnan(in->val_loss)) snprintf(val, sizeof val, " | val loss %.5f%s", in->val_loss, in->best ? " *" : "");
        snprintf(line, sizeof line, "model %c epoch %d/%d: train loss %.5f%s | test loss %.5f | %.0f samples/s", e->who,
                 in->epoch, e->epochs, in->train_loss, val, in->test_loss, in->samples_per_s);
    } else {
        if (!isnan(in->val_loss))
            snprintf(val, sizeof val, " | val loss %.4f acc %.2f%%%s", in->val_loss, 100 * in->val_acc,
                     in->best ? " *" : "");
        snprintf(line, sizeof line,
                 "model %c epoch %d/%d: train loss %.4f acc %.2f%%%s | test loss %.4f acc %.2f%% | %.0f samples/s",
                 e->who, in->epoch, e->epochs, in->train_loss, 100 * in->train_acc, val, in->test_loss,
                 100 * in->test_acc, in->samples_per_s);
    }
    if (e->prov->bar) {
        sk_progress_done(e->prov->bar, line);
        e->prov->bar_base = (int64_t)in->epoch * e->per_epoch;
    } else if (e->r->opts->progress != SK_PROGRESS_NEVER) {
        fprintf(stderr, "%s\n", line);
    }
    sk_log_file(e->r->log, "%s", line);
}

static int optim_step(void *optctx, sk_tset *params, sk_tset *grads, int64_t step)
{
    (void)step;
    sk_optim_step(optctx, params, grads);
    return 0;
}

/* ---- endpoints that did not train (train.allow_chance) --------------------------- */

#define CHANCE_ACC_MARGIN 0.03 /* accuracy at most 1/classes + this is chance */
#define CHANCE_LOSS_TOL 0.005  /* a loss within this of ln(classes) is flat */

/* A classifier endpoint e whose accuracy (on split acc_split) is at chance,
 * or whose loss (loss_what) is NaN or flat at ln(classes), did not train:
 * an error when fatal (and train.allow_chance is off), else a warning in
 * the log. Regression is checked for a NaN loss only. */
static sk_status check_chance(sk_run *r, const sk_pipe_state *ps, int e, const char *acc_split, double acc,
                              const char *loss_what, double loss, int fatal)
{
    const sk_config *c = &r->cfg;
    int K = ps->ds.train.n_classes;
    double lnk = K > 0 ? log((double)K) : NAN;
    char why[256] = "";
    if (isnan(loss) || isinf(loss))
        snprintf(why, sizeof why, "its %s is %g", loss_what, loss);
    else if (K > 1 && fabs(loss - lnk) <= CHANCE_LOSS_TOL)
        snprintf(why, sizeof why, "its %s %.4f is flat at ln(%d) = %.4f", loss_what, loss, K, lnk);
    else if (K > 1 && !isnan(acc) && acc <= 1.0 / K + CHANCE_ACC_MARGIN)
        snprintf(why, sizeof why, "its %s accuracy %.2f%% is at chance (1/%d = %.2f%%)", acc_split, 100 * acc, K,
                 100.0 / K);
    if (!why[0]) return SK_OK;
    const char *src = ps->ep[e].action == SK_EP_LOAD ? "loaded" : "trained";
    if (c->train.allow_chance) {
        sk_log_err(r->log, "model %c (seed %lld, %s): %s; kept (train.allow_chance)", 'a' + e, c->models[e].seed, src,
                   why);
        return SK_OK;
    }
    if (!fatal) {
        sk_log_err(r->log,
                   "warning: model %c (seed %lld, loaded from %s): %s; it may not be a trained network (set "
                   "train.allow_chance: true to silence this)",
                   'a' + e, c->models[e].seed, c->models[e].weights, why);
        return SK_OK;
    }
    return sk_err(SK_ENUMERIC,
                  "model %c (seed %lld, %s, %s) did not train: %s%s\nHINT: a longer warm-up (train.warmup_epochs "
                  "with train.schedule: cosine), a lower train.lr, a norm (model.norm) or more train.epochs usually "
                  "fix it; set train.allow_chance: true to keep such an endpoint deliberately",
                  'a' + e, c->models[e].seed, ps->model_desc, src, why,
                  ps->ep[e].action == SK_EP_LOAD ? " (its weights file was made by an earlier sinkrb run: delete it "
                                                   "to retrain)"
                                                 : "; its weights were not saved");
}

/* Train endpoint e from its seeded initialisation into ps->ep[e].theta
 * (models.X.train false: keep the initialisation). */
static sk_status train(sk_run *r, sk_pipe_state *ps, int e, sk_provider *tr, sk_provider *va, sk_provider *te,
                       sk_rng *rng)
{
    const sk_config *c = &r->cfg;
    sk_endpoint *ep = &ps->ep[e];
    uint64_t seed = (uint64_t)c->models[e].seed;
    double t0 = sk_now();
    if (ep->action == SK_EP_INIT) {
        sk_log_err(r->log, "model %c: untrained (%s, seeded initialisation, seed %llu)", 'a' + e, ps->model_desc,
                   (unsigned long long)seed);
        return sk_tset_copy(ep->theta, sk_model_params(ps->m));
    }
    sk_optim_opts oo;
    sk_optim *opt = NULL;
    sk_options_optim(c, (ps->ds.train.n + c->train.batch_size - 1) / c->train.batch_size, &oo);
    sk_status st = sk_optim_new(&oo, sk_model_params(ps->m), &opt);
    if (st != SK_OK) return st;
    double dropout = sk_config_endpoint_dropout(c, e);
    char drop[32] = "";
    if (c->model.arch == SK_ARCH_MLP && dropout != c->model.dropout)
        snprintf(drop, sizeof drop, ", dropout %g", dropout);
    sk_log_err(r->log, "training model %c (%s%s, seed %llu, %d epochs, %s, %lld examples)", 'a' + e, ps->model_desc,
               drop, (unsigned long long)seed, c->train.epochs, sk_opt_kind_name(c->train.optimizer),
               (long long)ps->ds.train.n);
    epoch_ctx ec = {r, (char)('a' + e), c->train.epochs, 0, tr, ps->ds.train.n, NAN, NAN, NAN, NAN};
    char label[32];
    snprintf(label, sizeof label, "model %c", 'a' + e);
    if (sk_progress_bars(r->opts->progress))
        tr->bar = sk_progress_new(r->opts->progress, label, ps->ds.train.n * c->train.epochs);
    sk_train_cfg tc;
    memset(&tc, 0, sizeof tc);
    tc.epochs = c->train.epochs;
    tc.batch_size = c->train.batch_size;
    tc.loss = ps->loss;
    tc.get_batch = sk_provider_next;
    tc.ctx = tr;
    if (va) {
        tc.get_val_batch = sk_provider_next;
        tc.val_ctx = va;
    }
    tc.select = c->train.select;
    tc.get_test_batch = sk_provider_next;
    tc.test_ctx = te;
    tc.step = optim_step;
    tc.optctx = opt;
    tc.on_epoch = on_epoch;
    tc.epoch_ctx = &ec;
    tc.rng = rng;
    /* An endpoint with a dropout of its own (MLP only) trains with it; the
     * alignment methods then use model.dropout again. */
    int own = c->model.arch == SK_ARCH_MLP && dropout != c->model.dropout;
    ckpt_ctx ck;
    st = own ? sk_model_set_dropout_p(ps->m, (float)dropout) : SK_OK;
    if (st == SK_OK && tc.select == SK_TRAIN_SELECT_BEST_VALIDATION &&
        !(tc.best = sk_tset_like(sk_model_params(ps->m))))
        st = SK_ENOMEM;
    if (st == SK_OK) st = ckpt_begin(&ck, r, ps, e, opt, tr, rng, &tc);
    if (st == SK_OK) st = sk_train(ps->m, &tc);
    sk_tset_free(tc.best);
    if (own) {
        sk_status st2 = sk_model_set_dropout_p(ps->m, (float)c->model.dropout);
        if (st == SK_OK) st = st2;
    }
    sk_progress_free(tr->bar);
    tr->bar = NULL;
    sk_optim_free(opt);
    if (st != SK_OK) return st;
    /* The kept epoch's accuracy: its validation accuracy, else the last epoch's test accuracy. */
    int best = c->train.select == SK_TRAIN_SELECT_BEST_VALIDATION;
    double acc = best ? tc.selected_val_acc : va ? ec.val_acc : ec.test_acc;
    if ((st = check_chance(r, ps, e, va ? "validation" : "test", acc, "final training loss", ec.train_loss, 1)) !=
        SK_OK)
        return st;
    ep->trained = 1;
    ep->epochs = c->train.epochs;
    ep->selected_val_loss = tc.selected_val_loss;
    if (c->train.select == SK_TRAIN_SELECT_BEST_VALIDATION) {
        ep->selected_epoch = tc.selected_epoch;
        sk_log_err(r->log, "model %c: keeping epoch %d of %d (lowest validation loss, %.4f)", 'a' + e,
                   tc.selected_epoch, c->train.epochs, tc.selected_val_loss);
    }
    ep->seconds = sk_now() - t0;
    ep->samples_per_s = ec.last_sps;
    return sk_tset_copy(ep->theta, sk_model_params(ps->m));
}

/* Save endpoint e where the config says (creating the folder), atomically. */
static sk_status save(sk_run *r, sk_pipe_state *ps, int e, double t0)
{
    const sk_config *c = &r->cfg;
    char dir[SK_PATH_MAX];
    sk_status st;
    snprintf(dir, sizeof dir, "%s", c->models[e].weights);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        if (*dir && (st = sk_mkdir_p(dir)) != SK_OK) return st;
    }
    sk_strbuf text = SK_STRBUF_INIT;
    char *arch = sk_config_model_yaml(c);
    st = sk_endpoint_recipe(c, e, ps->ep[e].action == SK_EP_INIT, &text);
    if (st == SK_OK) {
        char sel[24];
        sk_kv_fingerprint(sk_strbuf_str(&text), ps->ep[e].fingerprint, sizeof ps->ep[e].fingerprint);
        snprintf(sel, sizeof sel, "%d", ps->ep[e].selected_epoch);
        /* selected_epoch: the epoch train.select best_validation kept, for later runs that load it */
        const char *attrs[] = {"fingerprint",        ps->ep[e].fingerprint, "recipe",
                               sk_strbuf_str(&text), "selected_epoch",      sel};
        st = sk_h5w_write_ex(c->models[e].weights, ps->ep[e].theta, arch, attrs, ps->ep[e].selected_epoch > 0 ? 3 : 2);
    }
    free(arch);
    sk_strbuf_free(&text);
    if (st != SK_OK) return st;
    sk_run_wrote(r, c->models[e].weights);
    sk_log_err(r->log, "saved model %c to %s (%.1f s)", 'a' + e, c->models[e].weights, sk_now() - t0);
    return SK_OK;
}

static sk_status train_endpoint(sk_run *r, sk_pipe_state *ps, int e)
{
    const sk_config *c = &r->cfg;
    sk_rng rng;
    sk_provider tr, va, te;
    double t0 = sk_now();
    uint64_t seed = (uint64_t)c->models[e].seed;
    int has_val = ps->ds.val.n > 0;
    sk_rng_seed_stream(&rng, seed, 0x494e4954 /* "INIT" */);
    sk_model_init(ps->m, &rng);
    memset(&va, 0, sizeof va);
    memset(&te, 0, sizeof te);
    sk_status st = sk_provider_init(&tr, &ps->ds, &ps->ds.train, c->train.batch_size, 1, c->dataset.augment, seed);
    if (st == SK_OK && has_val) st = sk_provider_init(&va, &ps->ds, &ps->ds.val, sk_model_max_batch(ps->m), 0, 0, seed);
    if (st == SK_OK) st = sk_provider_init(&te, &ps->ds, &ps->ds.test, sk_model_max_batch(ps->m), 0, 0, seed);
    if (st == SK_OK) st = train(r, ps, e, &tr, has_val ? &va : NULL, &te, &rng);
    if (st == SK_OK) st = save(r, ps, e, t0);
    if (st == SK_OK) ckpt_remove(c, e);
    sk_provider_free(&tr);
    sk_provider_free(&va);
    sk_provider_free(&te);
    return st;
}

/* models.b.planted: B = pi(A) (+ noise) with a random pi from models.b.seed;
 * every method's result is then scored against pi^-1. */
static sk_status make_planted(sk_run *r, sk_pipe_state *ps)
{
    const sk_config *c = &r->cfg;
    sk_rng rng;
    sk_status st = sk_perm_spec_build(&ps->ms, ps->ep[0].theta, ps->m, &ps->spec);
    if (st != SK_OK) return st;
    sk_rng_seed_stream(&rng, (uint64_t)c->models[1].seed, 0x504c414e /* "PLAN" */);
    ps->planted = sk_perms_random(ps->spec, &rng);
    if (!ps->planted) return SK_ENOMEM;
    st = sk_perm_apply(ps->spec, (const int64_t *const *)ps->planted, ps->ep[0].theta, ps->ep[1].theta);
    if (st != SK_OK) return st;
    if (c->models[1].noise > 0) {
        sk_tset *b = ps->ep[1].theta;
        for (int i = 0; i < b->n; i++) {
            if (b->t[i].is_buffer) continue;
            for (int64_t k = 0; k < b->t[i].numel; k++)
                b->t[i].data[k] += (float)(c->models[1].noise * sk_rng_normal(&rng));
        }
    }
    sk_log_err(r->log, "model b: a random permutation of model a (seed %lld, noise %g)", c->models[1].seed,
               c->models[1].noise);
    return SK_OK;
}

/* A cached endpoint is made under an exclusive lock on <weights>.lock, so
 * that of the processes that need it at once one makes it and the others
 * wait, then load what it saved (weights appear under their name only when
 * complete). *fd: the lock, to close once the weights are saved. */
static sk_status cache_lock(sk_run *r, sk_pipe_state *ps, int e, int *fd)
{
    const sk_config *c = &r->cfg;
    char path[SK_PATH_MAX + 8], dir[SK_PATH_MAX];
    snprintf(path, sizeof path, "%s.lock", c->models[e].weights);
    snprintf(dir, sizeof dir, "%s", c->endpoints.cache);
    sk_status st = sk_mkdir_p(dir);
    if (st != SK_OK) return st;
    if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0)
        return sk_err(SK_EIO, "%s: cannot create the lock file: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        sk_log_err(r->log, "model %c: waiting for another process that makes it (%s)", 'a' + e, path);
        while (flock(*fd, LOCK_EX) != 0)
            if (errno != EINTR) return sk_err(SK_EIO, "%s: cannot lock: %s", path, strerror(errno));
    }
    if (sk_file_exists(c->models[e].weights)) { /* made meanwhile */
        ps->ep[e].action = SK_EP_LOAD;
        return load_weights(r, ps, e);
    }
    return SK_OK;
}

sk_status sk_endpoint_make(sk_run *r, sk_pipe_state *ps, int e)
{
    const sk_config *c = &r->cfg;
    int fd = -1;
    sk_status st = SK_OK;
    if (r->cached[e] && ps->ep[e].action != SK_EP_LOAD) st = cache_lock(r, ps, e, &fd);
    if (st == SK_OK && ps->ep[e].action == SK_EP_LOAD)
        sk_log_err(r->log, "model %c: loaded %s%s", 'a' + e, c->models[e].weights,
                   r->cached[e] ? " (endpoint cache)" : "");
    else if (st == SK_OK)
        st = ps->ep[e].action == SK_EP_PLANT ? make_planted(r, ps) : train_endpoint(r, ps, e);
    if (fd >= 0) close(fd); /* releases the lock */
    return st;
}

sk_status sk_endpoints_make(sk_run *r, sk_pipe_state *ps)
{
    double t0 = sk_now();
    sk_status st = SK_OK;
    for (int e = 0; e < 2 && st == SK_OK; e++)
        st = sk_endpoint_make(r, ps, e);
    if (st != SK_OK) return st;
    if (ps->ep[0].trained || ps->ep[1].trained) sk_run_stage(r, "train", sk_now() - t0);
    return SK_OK;
}

int sk_endpoint_cached(const sk_config *c, int e, char *fp, size_t fpn, char *path, size_t n)
{
    sk_endpoint_train t = c->models[e].train;
    if (!c->endpoints.cache[0] || (e == 1 && c->models[1].planted) || !sk_options_default_weights(c, e)) return 0;
    if (t != SK_ENDPOINT_AUTO && t != SK_ENDPOINT_IF_MISSING && t != SK_ENDPOINT_INIT) return 0;
    sk_strbuf text = SK_STRBUF_INIT;
    int ok = sk_endpoint_recipe(c, e, t == SK_ENDPOINT_INIT, &text) == SK_OK;
    if (ok) sk_kv_fingerprint(sk_strbuf_str(&text), fp, fpn);
    sk_strbuf_free(&text);
    if (!ok) sk_err_clear();
    return ok && snprintf(path, n, "%s/%s.h5", c->endpoints.cache, fp) < (int)n;
}

void sk_endpoint_use_cache(sk_config *c, int cached[2])
{
    for (int e = 0; e < 2; e++) {
        char fp[24], path[SK_CFG_PATH];
        cached[e] = sk_endpoint_cached(c, e, fp, sizeof fp, path, sizeof path);
        if (!cached[e]) continue;
        snprintf(c->models[e].weights, sizeof c->models[e].weights, "%s", path);
        if (c->models[e].train != SK_ENDPOINT_INIT) c->models[e].train = SK_ENDPOINT_IF_MISSING;
    }
}

static sk_status eval_split(sk_run *r, sk_pipe_state *ps, const sk_tset *theta, const sk_split *sp, double *loss,
                            double *acc)
{
    sk_provider p;
    sk_status st = sk_provider_init(&p, &ps->ds, sp, sk_model_max_batch(ps->m), 0, 0, (uint64_t)r->cfg.seed);
    if (st == SK_OK) st = sk_model_eval(ps->m, theta, sk_provider_next, &p, &ps->loss, loss, acc);
    sk_provider_free(&p);
    return st;
}

sk_status sk_endpoints_evaluate(sk_run *r, sk_pipe_state *ps)
{
    double t0 = sk_now();
    sk_status st;
    for (int e = 0; e < 2; e++) {
        sk_endpoint *ep = &ps->ep[e];
        char val[96] = "", sel[48] = "";
        ep->val_loss = ep->val_acc = NAN;
        if ((st = eval_split(r, ps, ep->theta, &ps->ds.train, &ep->train_loss, &ep->train_acc)) != SK_OK) return st;
        if (ps->ds.val.n > 0 && (st = eval_split(r, ps, ep->theta, &ps->ds.val, &ep->val_loss, &ep->val_acc)) != SK_OK)
            return st;
        if ((st = eval_split(r, ps, ep->theta, &ps->ds.test, &ep->test_loss, &ep->test_acc)) != SK_OK) return st;
        if (ep->selected_epoch > 0) snprintf(sel, sizeof sel, " (epoch %d)", ep->selected_epoch);
        if (ps->loss.regression) {
            if (!isnan(ep->val_loss)) snprintf(val, sizeof val, ", validation loss %.5f", ep->val_loss);
            sk_log_out(r->log, "model %c%s: train loss %.5f%s, test loss %.5f", 'a' + e, sel, ep->train_loss, val,
                       ep->test_loss);
        } else {
            if (!isnan(ep->val_loss))
                snprintf(val, sizeof val, ", validation loss %.4f acc %.2f%%", ep->val_loss, 100 * ep->val_acc);
            sk_log_out(r->log, "model %c%s: train loss %.4f acc %.2f%%%s, test loss %.4f acc %.2f%%", 'a' + e, sel,
                       ep->train_loss, 100 * ep->train_acc, val, ep->test_loss, 100 * ep->test_acc);
        }
        int has_val = !isnan(ep->val_loss);
        if (ep->action == SK_EP_LOAD &&
            (st = check_chance(r, ps, e, has_val ? "validation" : "test", has_val ? ep->val_acc : ep->test_acc,
                               "training loss", ep->train_loss, ep->recipe_trained)) != SK_OK)
            return st;
    }
    sk_run_stage(r, "evaluate", sk_now() - t0);
    return SK_OK;
}

/* ---- checkpoints ---------------------------------------------------------------- */

/* Group g of a checkpoint: 0 the parameters, 1 and 2 the optimiser's sets,
 * CKPT_BEST the parameters of the selected epoch so far (best_validation). */
enum { CKPT_BEST = 3 };
static int ckpt_name(char *buf, size_t n, int g, const char *name)
{
    int k = g == CKPT_BEST ? snprintf(buf, n, "best.%s", name)
            : g            ? snprintf(buf, n, "optim.%d.%s", g, name)
                           : snprintf(buf, n, "model.%s", name);
    return k > 0 && (size_t)k < SK_NAME_MAX;
}

/* The groups a checkpoint of ck holds: src[g] for g = 0..CKPT_BEST, NULL
 * where absent; *n_sets the optimiser's sets; returns the number of sets. */
static int ckpt_groups(const sk_ckpt *ck, const sk_tset *src[CKPT_BEST + 1], int64_t *steps, int *n_sets)
{
    src[0] = ck->params;
    src[1] = src[2] = NULL;
    sk_optim_export(ck->opt, steps, n_sets, src + 1);
    src[CKPT_BEST] = ck->best;
    return 1 + *n_sets + (ck->best != NULL);
}

sk_status sk_ckpt_write(const sk_ckpt *ck, int epoch, int64_t global_step)
{
    int64_t steps;
    int n_sets;
    const sk_tset *src[CKPT_BEST + 1];
    ckpt_groups(ck, src, &steps, &n_sets);
    if (ck->prov->n > (INT64_C(1) << 24))
        return sk_err(SK_EINVAL, "%s: %lld training examples are more than a checkpoint holds (2^24)", ck->path,
                      (long long)ck->prov->n);
    sk_tset *all = sk_tset_new();
    sk_strbuf text = SK_STRBUF_INIT;
    char name[SK_NAME_MAX + 32];
    sk_status st = all ? SK_OK : SK_ENOMEM;
    for (int g = 0; g <= CKPT_BEST && st == SK_OK; g++)
        for (int i = 0; src[g] && i < src[g]->n && st == SK_OK; i++) {
            const sk_tensor *t = &src[g]->t[i];
            if (!ckpt_name(name, sizeof name, g, t->name))
                st = sk_err(SK_EINVAL, "%s: tensor name %s is too long for a checkpoint", ck->path, t->name);
            else if (sk_tset_add(all, name, t->ndim, t->shape) < 0)
                st = sk_err_prefix(SK_EINVAL, "%s: ", ck->path);
        }
    if (st == SK_OK && sk_tset_add(all, "data.order", 1, &ck->prov->n) < 0)
        st = sk_err_prefix(SK_EINVAL, "%s: ", ck->path);
    if (st == SK_OK) st = sk_tset_alloc(all);
    if (st == SK_OK) {
        int k = 0;
        for (int g = 0; g <= CKPT_BEST; g++)
            for (int i = 0; src[g] && i < src[g]->n; i++, k++)
                memcpy(all->t[k].data, src[g]->t[i].data, (size_t)src[g]->t[i].numel * sizeof(float));
        for (int64_t i = 0; i < ck->prov->n; i++)
            all->t[k].data[i] = (float)ck->prov->idx[i];
        sk_strbuf_appendf(&text, "epoch: %d\nepochs: %d\nglobal_step: %lld\noptimizer_steps: %lld\n", epoch, ck->epochs,
                          (long long)global_step, (long long)steps);
        sk_kv_put_rng(&text, "rng_model", ck->rng);
        sk_kv_put_rng(&text, "rng_data", &ck->prov->rng);
        if (ck->best) {
            sk_strbuf_appendf(&text, "selected_epoch: %d\n", *ck->selected_epoch);
            sk_kv_put_doubles(&text, "selected_val_loss", ck->selected_val_loss, 1);
            sk_kv_put_doubles(&text, "selected_val_acc", ck->selected_val_acc, 1);
        }
        st = text.err;
    }
    if (st == SK_OK) {
        const char *attrs[] = {"fingerprint", ck->fingerprint, "checkpoint", sk_strbuf_str(&text)};
        st = sk_h5w_write_ex(ck->path, all, NULL, attrs, 2);
    }
    sk_strbuf_free(&text);
    sk_tset_free(all);
    return st;
}

/* Check the checkpoint's tensor set `all` against ck's parts; the optimiser
 * sets into sets[] (new, of the parameters' layout). */
static sk_status ckpt_fit(const sk_ckpt *ck, const sk_tset *all, sk_tset **sets)
{
    char name[SK_NAME_MAX + 32];
    const sk_tset *P = ck->params, *src[CKPT_BEST + 1];
    int64_t steps;
    int n_sets, groups = ckpt_groups(ck, src, &steps, &n_sets);
    if (all->n != groups * P->n + 1)
        return sk_err(SK_EINVAL, "%s: %d tensors, where this model, optimizer and selection make %d", ck->path, all->n,
                      groups * P->n + 1);
    for (int g = 0; g <= CKPT_BEST; g++) {
        if (!src[g]) continue;
        if (g && !(sets[g - 1] = sk_tset_like(P))) return SK_ENOMEM;
        for (int i = 0; i < P->n; i++) {
            const sk_tensor *t = &P->t[i], *f;
            if (!ckpt_name(name, sizeof name, g, t->name) || !(f = sk_tset_get(all, name)))
                return sk_err(SK_EINVAL, "%s: no tensor %s", ck->path, name);
            int same = f->ndim == t->ndim;
            for (int d = 0; d < t->ndim && same; d++)
                same = f->shape[d] == t->shape[d];
            if (!same) return sk_err(SK_EINVAL, "%s: tensor %s has another shape than the model's", ck->path, name);
            if (g) memcpy(sets[g - 1]->t[i].data, f->data, (size_t)f->numel * sizeof(float));
        }
    }
    const sk_tensor *o = sk_tset_get(all, "data.order");
    if (!o || o->numel != ck->prov->n)
        return sk_err(SK_EINVAL, "%s: the example order does not have the %lld training examples", ck->path,
                      (long long)ck->prov->n);
    uint8_t *seen = sk_alloc_n((size_t)(o->numel > 0 ? o->numel : 1), 1);
    if (!seen) return SK_ENOMEM;
    sk_status st = SK_OK;
    for (int64_t i = 0; i < o->numel && st == SK_OK; i++) {
        float v = o->data[i];
        if (!(v >= 0.0f && v < (float)o->numel) || v != (float)(int64_t)v || seen[(int64_t)v]++)
            st = sk_err(SK_EINVAL, "%s: data.order is not an order of the training examples", ck->path);
    }
    sk_free(seen);
    return st;
}

sk_status sk_ckpt_read(const sk_ckpt *ck, int *epoch, int64_t *global_step)
{
    char *fp = NULL, *text = NULL;
    sk_tset *all = NULL, *sets[CKPT_BEST] = {NULL, NULL, NULL};
    long long ep = 0, eps = 0, gs = 0, steps = 0, sel = 0;
    double sel_loss = NAN, sel_acc = NAN;
    sk_rng rm, rd;
    int64_t own_steps;
    int n_sets;
    const sk_tset *own[2];
    sk_optim_export(ck->opt, &own_steps, &n_sets, own);
    sk_status st = sk_h5w_read_attr(ck->path, "fingerprint", &fp);
    if (st == SK_OK && (!fp || strcmp(fp, ck->fingerprint)))
        st = sk_err(SK_EINVAL, "%s: made by another recipe (fingerprint %s, this endpoint's %s)", ck->path,
                    fp ? fp : "none", ck->fingerprint);
    if (st == SK_OK) st = sk_h5w_read_attr(ck->path, "checkpoint", &text);
    if (st == SK_OK && !text) st = sk_err(SK_EINVAL, "%s: not a checkpoint (no checkpoint attribute)", ck->path);
    if (st == SK_OK) {
        if (!sk_kv_ll(text, "epoch", &ep) || !sk_kv_ll(text, "epochs", &eps) || !sk_kv_ll(text, "global_step", &gs) ||
            !sk_kv_ll(text, "optimizer_steps", &steps) || !sk_kv_rng(text, "rng_model", &rm) ||
            !sk_kv_rng(text, "rng_data", &rd))
            st = sk_err(SK_EINVAL, "%s: the checkpoint attribute lacks a field or has a bad value", ck->path);
        else if (eps != ck->epochs || ep < 1 || ep > eps || gs < 0 || steps < 0)
            st = sk_err(SK_EINVAL, "%s: epoch %lld of %lld (global step %lld) does not fit a training of %d epochs",
                        ck->path, ep, eps, gs, ck->epochs);
        else if (ck->best && (!sk_kv_ll(text, "selected_epoch", &sel) || sel < 1 || sel > ep ||
                              !sk_kv_doubles(text, "selected_val_loss", &sel_loss, 1) ||
                              !sk_kv_doubles(text, "selected_val_acc", &sel_acc, 1)))
            st = sk_err(SK_EINVAL, "%s: the checkpoint lacks the selected epoch of train.select best_validation",
                        ck->path);
    }
    if (st == SK_OK) st = sk_h5w_read(ck->path, &all, NULL);
    if (st == SK_OK) st = ckpt_fit(ck, all, sets);
    if (st == SK_OK) st = sk_optim_import(ck->opt, steps, n_sets, (const sk_tset *const *)sets);
    if (st == SK_OK) { /* nothing below can fail */
        for (int i = 0; i < ck->params->n; i++) {
            char name[SK_NAME_MAX + 32];
            ckpt_name(name, sizeof name, 0, ck->params->t[i].name);
            const sk_tensor *f = sk_tset_get(all, name);
            memcpy(ck->params->t[i].data, f->data, (size_t)f->numel * sizeof(float));
        }
        if (ck->best) {
            for (int i = 0; i < ck->best->n; i++)
                memcpy(ck->best->t[i].data, sets[CKPT_BEST - 1]->t[i].data,
                       (size_t)ck->best->t[i].numel * sizeof(float));
            *ck->selected_epoch = (int)sel;
            *ck->selected_val_loss = sel_loss;
            *ck->selected_val_acc = sel_acc;
        }
        const sk_tensor *o = sk_tset_get(all, "data.order");
        for (int64_t i = 0; i < o->numel; i++)
            ck->prov->idx[i] = (int32_t)o->data[i];
        ck->prov->rng = rd;
        *ck->rng = rm;
        *epoch = (int)ep;
        *global_step = gs;
    }
    free(fp);
    free(text);
    sk_tset_free(all);
    for (int g = 0; g < CKPT_BEST; g++)
        sk_tset_free(sets[g]);
    return st;
}
