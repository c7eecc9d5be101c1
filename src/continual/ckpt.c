/* ckpt.c - the checkpoint file of a continual run (format in ckpt.h). */
#include "continual/ckpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/strbuf.h"
#include "io/h5w.h"
#include "io/kvtext.h"

#define FORMAT "sinkrb-continual-checkpoint 1"
#define EXACT (INT64_C(1) << 24) /* float32 holds every integer below it */

/* The tensor sets a checkpoint of method k holds: the model's parameters and
 * buffers, and for ewc its two sums; returns how many. */
static int ckpt_sets(const sk_cl_ckpt *ck, int k, sk_tset *sets[3])
{
    sets[0] = sk_model_params(ck->tr->m);
    if (ck->methods[k] != SK_CL_EWC) return 1;
    sets[1] = ck->tr->ewc_a;
    sets[2] = ck->tr->ewc_c;
    return 3;
}

/* The dataset of tensor `name` of set g. */
static int set_name(char *buf, size_t n, int g, const char *name)
{
    static const char *const prefix[] = {"model.", "ewc.a.", "ewc.c."};
    int k = snprintf(buf, n, "%s%s", prefix[g], name);
    return k > 0 && (size_t)k < SK_NAME_MAX;
}

/* The accuracy matrices exactly: each double's 64 bits as four 16-bit
 * pieces (float32 holds them exactly), most significant first. */
static void f64_put(float *dst, const double *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &v[i], sizeof u);
        for (int p = 0; p < 4; p++)
            dst[4 * i + p] = (float)((u >> (48 - 16 * p)) & 0xffff);
    }
}

static int f64_get(double *v, const float *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t u = 0;
        for (int p = 0; p < 4; p++) {
            float f = src[4 * i + p];
            if (!(f >= 0.0f && f <= 65535.0f) || f != (float)(int)f) return 0;
            u = (u << 16) | (uint64_t)f;
        }
        if (v) memcpy(&v[i], &u, sizeof u);
    }
    return 1;
}

/* Every dataset of a checkpoint of method k, filled. */
static sk_status ckpt_tensors(const sk_cl_ckpt *ck, int k, sk_tset *all)
{
    const sk_cl_trainer *tr = ck->tr;
    const int T = tr->b->T;
    sk_tset *sets[3];
    int n_sets = ckpt_sets(ck, k, sets);
    char name[SK_NAME_MAX + 16];
    for (int g = 0; g < n_sets; g++)
        for (int i = 0; i < sets[g]->n; i++) {
            const sk_tensor *t = &sets[g]->t[i];
            if (!set_name(name, sizeof name, g, t->name))
                return sk_err(SK_EINVAL, "%s: tensor name %s is too long for a checkpoint", ck->path, t->name);
            if (sk_tset_add(all, name, t->ndim, t->shape) < 0) return sk_err_prefix(SK_EINVAL, "%s: ", ck->path);
        }
    const int64_t acc_shape[4] = {k + 1, T, T, 4}, mem_shape[2] = {tr->mem.n, 2};
    if (sk_tset_add(all, "accuracy", 4, acc_shape) < 0 ||
        (tr->mem.n > 0 && sk_tset_add(all, "memory", 2, mem_shape) < 0) ||
        (tr->mem_order_n > 0 && sk_tset_add(all, "memory.order", 1, &tr->mem_order_n) < 0))
        return sk_err_prefix(SK_EINVAL, "%s: ", ck->path);
    sk_status st = sk_tset_alloc(all);
    if (st != SK_OK) return st;
    int j = 0;
    for (int g = 0; g < n_sets; g++)
        for (int i = 0; i < sets[g]->n; i++, j++)
            memcpy(all->t[j].data, sets[g]->t[i].data, (size_t)sets[g]->t[i].numel * sizeof(float));
    f64_put(all->t[j++].data, ck->acc, (int64_t)(k + 1) * T * T);
    if (tr->mem.n > 0) {
        for (int64_t i = 0; i < tr->mem.n; i++) {
            all->t[j].data[2 * i] = (float)tr->mem.task[i];
            all->t[j].data[2 * i + 1] = (float)tr->mem.idx[i];
        }
        j++;
    }
    for (int64_t i = 0; i < tr->mem_order_n; i++)
        all->t[j].data[i] = (float)tr->mem_order[i];
    return SK_OK;
}

/* The "methods" line's value: the names, comma-separated. */
static void methods_text(const sk_cl_ckpt *ck, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < ck->n_methods && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? "," : "", sk_cl_method_name(ck->methods[i]));
}

sk_status sk_cl_ckpt_write(const sk_cl_ckpt *ck, int k, int done)
{
    const sk_cl_trainer *tr = ck->tr;
    if (tr->b->ds->train.n > EXACT)
        return sk_err(SK_EINVAL, "%s: %lld training examples are more than a checkpoint holds (2^24)", ck->path,
                      (long long)tr->b->ds->train.n);
    sk_tset *all = sk_tset_new();
    sk_strbuf text = SK_STRBUF_INIT;
    sk_status st = all ? ckpt_tensors(ck, k, all) : SK_ENOMEM;
    if (st == SK_OK) {
        char methods[SK_CL_MAX_METHODS * 16];
        methods_text(ck, methods, sizeof methods);
        sk_strbuf_appendf(&text, "format: %s\ntasks: %d\nmethods: %s\nmethod: %s\ntasks_done: %d\n", FORMAT, tr->b->T,
                          methods, sk_cl_method_name(ck->methods[k]), done);
        sk_kv_put_doubles(&text, "seconds", ck->seconds, k + 1);
        sk_strbuf_appendf(&text, "memory: %lld\nmemory_order: %lld\nmemory_pos: %lld\n", (long long)tr->mem.n,
                          (long long)tr->mem_order_n, (long long)tr->mem_pos);
        sk_kv_put_rng(&text, "rng_memory", &tr->mem_rng);
        sk_kv_put_rng(&text, "rng_train", &tr->rng);
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

/* ---- reading ---------------------------------------------------------------- */

/* What the checkpoint attribute says. */
typedef struct {
    int k, done;
    long long mem_n, order_n, pos;
    double seconds[SK_CL_MAX_METHODS];
    sk_rng mem_rng, rng;
} ckpt_head;

static sk_status parse_head(const sk_cl_ckpt *ck, const char *text, ckpt_head *h)
{
    const sk_cl_trainer *tr = ck->tr;
    const char *v;
    char methods[SK_CL_MAX_METHODS * 16];
    long long T = 0, done = 0;
    methods_text(ck, methods, sizeof methods);
    size_t ml = strlen(methods);
    if (!(v = sk_kv_value(text, "format")) || strncmp(v, FORMAT "\n", sizeof FORMAT))
        return sk_err(SK_EINVAL, "%s: not a continual checkpoint (format)", ck->path);
    if (!sk_kv_ll(text, "tasks", &T) || T != tr->b->T || !(v = sk_kv_value(text, "methods")) ||
        strncmp(v, methods, ml) || v[ml] != '\n')
        return sk_err(SK_EINVAL, "%s: made for other tasks or methods than this run's (%d tasks: %s)", ck->path,
                      tr->b->T, methods);
    h->k = -1;
    if ((v = sk_kv_value(text, "method")))
        for (int i = 0; i < ck->n_methods; i++) {
            const char *nm = sk_cl_method_name(ck->methods[i]);
            if (!strncmp(v, nm, strlen(nm)) && v[strlen(nm)] == '\n') h->k = i;
        }
    if (h->k < 0 || !sk_kv_ll(text, "tasks_done", &done) || done < 1 ||
        done > sk_cl_method_rounds(ck->methods[h->k], tr->b->T))
        return sk_err(SK_EINVAL, "%s: the method or its tasks done do not fit this run", ck->path);
    h->done = (int)done;
    if (!sk_kv_doubles(text, "seconds", h->seconds, h->k + 1) || !sk_kv_ll(text, "memory", &h->mem_n) ||
        !sk_kv_ll(text, "memory_order", &h->order_n) || !sk_kv_ll(text, "memory_pos", &h->pos) ||
        !sk_kv_rng(text, "rng_memory", &h->mem_rng) || !sk_kv_rng(text, "rng_train", &h->rng))
        return sk_err(SK_EINVAL, "%s: the checkpoint attribute lacks a field or has a bad value", ck->path);
    for (int i = 0; i <= h->k; i++)
        if (!isfinite(h->seconds[i]) || h->seconds[i] < 0)
            return sk_err(SK_EINVAL, "%s: seconds %g", ck->path, h->seconds[i]);
    if (h->mem_n < 0 || h->mem_n > tr->mem_max || h->order_n < 0 || h->order_n > h->mem_n || h->pos < 0 ||
        h->pos > h->order_n)
        return sk_err(SK_EINVAL, "%s: a memory of %lld examples (draw order %lld, position %lld) does not fit this run",
                      ck->path, h->mem_n, h->order_n, h->pos);
    return SK_OK;
}

/* A dataset `name` of the given shape, or NULL (sk_err set). */
static const sk_tensor *want(const sk_cl_ckpt *ck, const sk_tset *all, const char *name, int ndim, const int64_t *shape)
{
    const sk_tensor *f = sk_tset_get(all, name);
    int same = f && f->ndim == ndim;
    for (int d = 0; d < ndim && same; d++)
        same = f->shape[d] == shape[d];
    if (!same) sk_err(SK_EINVAL, "%s: %s %s", ck->path, f ? "another shape of" : "no tensor", name);
    return same ? f : NULL;
}

/* Every dataset there with its shape and sane values, and nothing more. */
static sk_status check_tensors(const sk_cl_ckpt *ck, const ckpt_head *h, const sk_tset *all)
{
    const sk_cl_trainer *tr = ck->tr;
    const int T = tr->b->T;
    sk_tset *sets[3];
    int n_sets = ckpt_sets(ck, h->k, sets), count = 1 + (h->mem_n > 0) + (h->order_n > 0);
    char name[SK_NAME_MAX + 16];
    for (int g = 0; g < n_sets; g++)
        for (int i = 0; i < sets[g]->n; i++, count++)
            if (!set_name(name, sizeof name, g, sets[g]->t[i].name) ||
                !want(ck, all, name, sets[g]->t[i].ndim, sets[g]->t[i].shape))
                return sk_err(SK_EINVAL, "%s: no tensor %s", ck->path, name);
    if (all->n != count)
        return sk_err(SK_EINVAL, "%s: %d tensors, where this run's state makes %d", ck->path, all->n, count);
    const int64_t acc_shape[4] = {h->k + 1, T, T, 4}, mem_shape[2] = {h->mem_n, 2};
    const sk_tensor *a = want(ck, all, "accuracy", 4, acc_shape), *m = NULL, *o = NULL;
    if (!a) return SK_EINVAL;
    if (!f64_get(NULL, a->data, a->numel / 4))
        return sk_err(SK_EINVAL, "%s: accuracy is not a set of doubles", ck->path);
    if (h->mem_n > 0 && !(m = want(ck, all, "memory", 2, mem_shape))) return SK_EINVAL;
    if (h->order_n > 0 && !(o = want(ck, all, "memory.order", 1, &(int64_t){h->order_n}))) return SK_EINVAL;
    for (int64_t i = 0; i < h->mem_n; i++) {
        float t = m->data[2 * i], x = m->data[2 * i + 1];
        if (!(t >= 0 && t < T && x >= 0 && x < (float)tr->b->ds->train.n) || t != (float)(int)t || x != (float)(int)x)
            return sk_err(SK_EINVAL, "%s: memory entry %lld is not an example of a task", ck->path, (long long)i);
    }
    uint8_t *seen = sk_alloc_n((size_t)h->order_n + 1, 1);
    if (!seen) return SK_ENOMEM;
    sk_status st = SK_OK;
    for (int64_t i = 0; i < h->order_n && st == SK_OK; i++) {
        float v = o->data[i];
        if (!(v >= 0 && v < (float)h->order_n) || v != (float)(int64_t)v || seen[(int64_t)v]++)
            st = sk_err(SK_EINVAL, "%s: memory.order is not an order of the memory", ck->path);
    }
    sk_free(seen);
    return st;
}

/* Copy the checkpoint into the run (nothing here can fail). */
static void restore(const sk_cl_ckpt *ck, const ckpt_head *h, const sk_tset *all, sk_cl_memory *mem)
{
    sk_cl_trainer *tr = ck->tr;
    const int T = tr->b->T;
    sk_tset *sets[3];
    int n_sets = ckpt_sets(ck, h->k, sets);
    char name[SK_NAME_MAX + 16];
    for (int g = 0; g < n_sets; g++)
        for (int i = 0; i < sets[g]->n; i++) {
            set_name(name, sizeof name, g, sets[g]->t[i].name);
            const sk_tensor *f = sk_tset_get(all, name);
            memcpy(sets[g]->t[i].data, f->data, (size_t)f->numel * sizeof(float));
        }
    f64_get(ck->acc, sk_tset_get(all, "accuracy")->data, (int64_t)(h->k + 1) * T * T);
    memcpy(ck->seconds, h->seconds, (size_t)(h->k + 1) * sizeof(double));
    const sk_tensor *m = sk_tset_get(all, "memory"), *o = sk_tset_get(all, "memory.order");
    for (int64_t i = 0; i < h->mem_n; i++) {
        mem->task[i] = (int32_t)m->data[2 * i];
        mem->idx[i] = (int32_t)m->data[2 * i + 1];
    }
    mem->n = h->mem_n;
    sk_cl_memory_free(&tr->mem);
    tr->mem = *mem;
    for (int64_t i = 0; i < h->order_n; i++)
        tr->mem_order[i] = (int32_t)o->data[i];
    tr->mem_order_n = h->order_n;
    tr->mem_pos = h->pos;
    tr->mem_rng = h->mem_rng;
    tr->rng = h->rng;
}

sk_status sk_cl_ckpt_read(const sk_cl_ckpt *ck, int *k, int *done)
{
    char *fp = NULL, *text = NULL;
    sk_tset *all = NULL;
    ckpt_head h;
    sk_cl_memory mem = {0};
    sk_status st = sk_h5w_read_attr(ck->path, "fingerprint", &fp);
    if (st == SK_OK && (!fp || strcmp(fp, ck->fingerprint)))
        st = sk_err(SK_EINVAL, "%s: made by another config (fingerprint %s, this run's %s)", ck->path, fp ? fp : "none",
                    ck->fingerprint);
    if (st == SK_OK) st = sk_h5w_read_attr(ck->path, "checkpoint", &text);
    if (st == SK_OK && !text) st = sk_err(SK_EINVAL, "%s: not a checkpoint (no checkpoint attribute)", ck->path);
    if (st == SK_OK) st = parse_head(ck, text, &h);
    if (st == SK_OK && ck->methods[h.k] == SK_CL_EWC) st = sk_cl_trainer_ewc(ck->tr);
    if (st == SK_OK) st = sk_h5w_read(ck->path, &all, NULL);
    if (st == SK_OK) st = check_tensors(ck, &h, all);
    if (st == SK_OK) {
        mem.cap = h.mem_n > 0 ? h.mem_n : 1;
        mem.task = sk_alloc_n((size_t)mem.cap, sizeof(int32_t));
        mem.idx = sk_alloc_n((size_t)mem.cap, sizeof(int32_t));
        if (!mem.task || !mem.idx) st = SK_ENOMEM;
    }
    if (st == SK_OK) {
        restore(ck, &h, all, &mem);
        *k = h.k;
        *done = h.done;
    } else {
        sk_cl_memory_free(&mem);
    }
    free(fp);
    free(text);
    sk_tset_free(all);
    return st;
}
