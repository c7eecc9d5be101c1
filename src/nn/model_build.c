/* model_build.c - builds MLP / VGG / ResNet20 as a flat list of ops over
 * activation buffers (model_impl.h), in PyTorch state_dict order, and plans
 * their memory: buffer lifetimes, shared gradient slots, per-op saved state
 * and scratch. */
#include "nn/model_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "nn/layers.h"

/* ---- builder ------------------------------------------------------------------ */

static void *grow(void *p, int *cap, int n, size_t size)
{
    if (n < *cap) return p;
    int nc = *cap ? 2 * *cap : 16;
    void *q = sk_alloc_n((size_t)nc, size);
    if (!q) return NULL;
    if (p) memcpy(q, p, (size_t)*cap * size);
    sk_free(p);
    *cap = nc;
    return q;
}

static int new_buf(sk_model *m, int C, int H, int W)
{
    sk_buf *nb = grow(m->bufs, &m->cap_bufs, m->n_bufs, sizeof *nb);
    if (!nb) {
        m->failed = 1;
        return 0;
    }
    m->bufs = nb;
    sk_buf *b = &m->bufs[m->n_bufs];
    memset(b, 0, sizeof *b);
    b->C = C;
    b->H = H;
    b->W = W;
    b->per = (int64_t)C * H * W;
    b->first = b->last = -1;
    b->slot = -1;
    return m->n_bufs++;
}

static sk_op *new_op(sk_model *m, op_kind kind, int in, int out)
{
    static sk_op dummy;
    sk_op *no = grow(m->ops, &m->cap_ops, m->n_ops, sizeof *no);
    if (!no) {
        m->failed = 1;
        memset(&dummy, 0, sizeof dummy);
        return &dummy;
    }
    m->ops = no;
    sk_op *o = &m->ops[m->n_ops++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->in = in;
    o->in2 = -1;
    o->out = out;
    o->w = o->b = o->rm = o->rv = -1;
    return o;
}

static int add_tensor(sk_model *m, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                      int is_buffer)
{
    int64_t shape[4] = {d0, d1, d2, d3};
    if (m->failed) return -1;
    int i = sk_tset_add(m->params, name, ndim, shape);
    if (i < 0) {
        m->failed = 1;
        return -1;
    }
    m->params->t[i].is_buffer = is_buffer;
    return i;
}

static void add_tap(sk_model *m, const char *name, int buf)
{
    sk_tapdef *nt = grow(m->taps, &m->cap_taps, m->n_taps, sizeof *nt);
    if (!nt) {
        m->failed = 1;
        return;
    }
    m->taps = nt;
    snprintf(m->taps[m->n_taps].name, SK_NAME_MAX, "%s", name);
    m->taps[m->n_taps++].buf = buf;
}

static int conv_layer(sk_model *m, const char *name, int in, int O, int k, int stride, int pad, int bias)
{
    char nm[SK_NAME_MAX];
    sk_buf *bi = &m->bufs[in];
    int C = bi->C, H = bi->H, W = bi->W;
    int OH = (H + 2 * pad - k) / stride + 1, OW = (W + 2 * pad - k) / stride + 1;
    int out = new_buf(m, O, OH, OW);
    sk_op *o = new_op(m, OP_CONV, in, out);
    o->k = k;
    o->stride = stride;
    o->pad = pad;
    snprintf(nm, sizeof nm, "%s.weight", name);
    o->w = add_tensor(m, nm, 4, O, C, k, k, 0);
    if (bias) {
        snprintf(nm, sizeof nm, "%s.bias", name);
        o->b = add_tensor(m, nm, 1, O, 0, 0, 0, 0);
    }
    return out;
}

static int linear_layer(sk_model *m, const char *name, int in, int O)
{
    char nm[SK_NAME_MAX];
    int out = new_buf(m, O, 1, 1);
    sk_op *o = new_op(m, OP_LINEAR, in, out);
    snprintf(nm, sizeof nm, "%s.weight", name);
    o->w = add_tensor(m, nm, 2, O, m->bufs[in].per, 0, 0, 0);
    snprintf(nm, sizeof nm, "%s.bias", name);
    o->b = add_tensor(m, nm, 1, O, 0, 0, 0, 0);
    return out;
}

/* A norm op (BatchNorm or LayerNorm) from buffer `in` into a new buffer *out
 * of the same shape. Its tensors are declared apart (norm_tensors): the MLP
 * declares them after all its linear layers. */
static sk_op *norm_op(sk_model *m, int in, sk_mnorm kind, int *out)
{
    sk_buf *bi = &m->bufs[in];
    *out = new_buf(m, bi->C, bi->H, bi->W);
    return new_op(m, kind == SK_MNORM_BATCHNORM ? OP_BN : OP_LN, in, *out);
}

/* The tensors of norm op o over C channels: <prefix>.weight, .bias and, for
 * BatchNorm, the buffers .running_mean, .running_var. */
static void norm_tensors(sk_model *m, sk_op *o, const char *prefix, int C, sk_mnorm kind)
{
    char nm[SK_NAME_MAX];
    snprintf(nm, sizeof nm, "%s.weight", prefix);
    o->w = add_tensor(m, nm, 1, C, 0, 0, 0, 0);
    snprintf(nm, sizeof nm, "%s.bias", prefix);
    o->b = add_tensor(m, nm, 1, C, 0, 0, 0, 0);
    if (kind == SK_MNORM_BATCHNORM) {
        snprintf(nm, sizeof nm, "%s.running_mean", prefix);
        o->rm = add_tensor(m, nm, 1, C, 0, 0, 0, 1);
        snprintf(nm, sizeof nm, "%s.running_var", prefix);
        o->rv = add_tensor(m, nm, 1, C, 0, 0, 0, 1);
        m->has_bn = 1;
    }
}

/* Norm after buffer `in` (or `in` unchanged for SK_MNORM_NONE). */
static int norm_layer(sk_model *m, const char *name, int in, sk_mnorm kind)
{
    if (kind == SK_MNORM_NONE) return in;
    int out;
    sk_op *o = norm_op(m, in, kind, &out);
    norm_tensors(m, o, name, m->bufs[in].C, kind);
    return out;
}

static int act_layer(sk_model *m, int in, sk_act act)
{
    new_op(m, act == SK_ACT_TANH ? OP_TANH : OP_RELU, in, in);
    return in;
}

static int scaled(int c, double width)
{
    long v = lround(c * width);
    return v < 1 ? 1 : (int)v;
}

static void build_mlp(sk_model *m)
{
    const sk_model_spec *sp = &m->spec;
    char nm[SK_NAME_MAX];
    int cur = 0;
    /* Ops interleave linear, norm, act, dropout, but the norms' tensors come
     * after all linear layers in the state_dict: declare them in a second pass. */
    int norm_at[SK_MAX_HIDDEN];
    for (int i = 0; i <= sp->n_hidden; i++) {
        int O = i < sp->n_hidden ? sp->hidden[i] : sp->n_out;
        snprintf(nm, sizeof nm, "layers.%d", i);
        cur = linear_layer(m, nm, cur, O);
        if (i == sp->n_hidden) break;
        if (sp->norm != SK_MNORM_NONE) {
            int out;
            norm_at[i] = (int)(norm_op(m, cur, sp->norm, &out) - m->ops);
            cur = out;
        }
        cur = act_layer(m, cur, sp->activation);
        snprintf(nm, sizeof nm, "layers.%d", i);
        add_tap(m, nm, cur);
        if (sp->dropout > 0.0f || sp->dropout_layers) {
            int out = new_buf(m, O, 1, 1);
            sk_op *o = new_op(m, OP_DROPOUT, cur, out);
            o->p = sp->dropout;
            cur = out;
        }
    }
    if (sp->norm == SK_MNORM_NONE || m->failed) return;
    for (int i = 0; i < sp->n_hidden; i++) {
        snprintf(nm, sizeof nm, "norms.%d", i);
        norm_tensors(m, &m->ops[norm_at[i]], nm, sp->hidden[i], sp->norm);
    }
}

static const int vgg_cfg[4][24] = {
    /* 0 = maxpool, -1 = end */
    {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0, -1},
    {64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0, -1},
    {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0, -1},
    {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0, -1},
};

const int *sk_vgg_layers(sk_arch a)
{
    if (a < SK_ARCH_VGG11 || a > SK_ARCH_VGG19) return NULL;
    return vgg_cfg[(int)a - (int)SK_ARCH_VGG11];
}

static void build_vgg(sk_model *m, int which)
{
    const sk_model_spec *sp = &m->spec;
    char nm[SK_NAME_MAX];
    int cur = 0, idx = 0;
    for (int j = 0; vgg_cfg[which][j] >= 0 && !m->failed; j++) {
        int c = vgg_cfg[which][j];
        if (c == 0) {
            sk_buf *b = &m->bufs[cur];
            if (b->H >= 2 && b->W >= 2) {
                int out = new_buf(m, b->C, b->H / 2, b->W / 2);
                new_op(m, OP_MAXPOOL, cur, out);
                cur = out;
            }
            idx++;
            continue;
        }
        int conv_idx = idx;
        snprintf(nm, sizeof nm, "features.%d", idx++);
        cur = conv_layer(m, nm, cur, scaled(c, sp->width), 3, 1, 1, 1);
        if (sp->norm != SK_MNORM_NONE) {
            snprintf(nm, sizeof nm, "features.%d", idx++);
            cur = norm_layer(m, nm, cur, sp->norm);
        }
        cur = act_layer(m, cur, sp->activation);
        idx++;
        snprintf(nm, sizeof nm, "features.%d", conv_idx);
        add_tap(m, nm, cur);
    }
    if (m->failed) return;
    if (sp->vgg_head == SK_VGGHEAD_LINEAR) {
        linear_layer(m, "classifier", cur, sp->n_out);
        return;
    }
    int hid = scaled(512, sp->width);
    cur = linear_layer(m, "classifier.0", cur, hid);
    cur = act_layer(m, cur, sp->activation);
    add_tap(m, "classifier.0", cur);
    cur = linear_layer(m, "classifier.2", cur, hid);
    cur = act_layer(m, cur, sp->activation);
    add_tap(m, "classifier.2", cur);
    linear_layer(m, "classifier.4", cur, sp->n_out);
}

static void build_resnet20(sk_model *m)
{
    const sk_model_spec *sp = &m->spec;
    char nm[SK_NAME_MAX], pre[32];
    int cur = conv_layer(m, "conv1", 0, scaled(16, sp->width), 3, 1, 1, 0);
    cur = norm_layer(m, "bn1", cur, sp->norm);
    cur = act_layer(m, cur, sp->activation);
    add_tap(m, "conv1", cur);
    for (int s = 1; s <= 3 && !m->failed; s++) {
        int width = scaled(16 << (s - 1), sp->width);
        for (int bl = 0; bl < 3 && !m->failed; bl++) {
            int stride = (s > 1 && bl == 0) ? 2 : 1;
            int in = cur;
            snprintf(pre, sizeof pre, "layer%d.%d", s, bl);
            int need_sc = stride != 1 || m->bufs[in].C != width;
            /* Tensors in state_dict order: conv1, bn1, conv2, bn2, shortcut. */
            snprintf(nm, sizeof nm, "%s.conv1", pre);
            int h = conv_layer(m, nm, in, width, 3, stride, 1, 0);
            snprintf(nm, sizeof nm, "%s.bn1", pre);
            h = norm_layer(m, nm, h, sp->norm);
            h = act_layer(m, h, sp->activation);
            snprintf(nm, sizeof nm, "%s.conv1", pre);
            add_tap(m, nm, h);
            snprintf(nm, sizeof nm, "%s.conv2", pre);
            h = conv_layer(m, nm, h, width, 3, 1, 1, 0);
            snprintf(nm, sizeof nm, "%s.bn2", pre);
            /* The residual add runs in place on this buffer: fine also for
             * a bare conv output (conv backward needs only its input). */
            h = norm_layer(m, nm, h, sp->norm);
            int sc = in;
            if (need_sc) {
                snprintf(nm, sizeof nm, "%s.shortcut.0", pre);
                sc = conv_layer(m, nm, in, width, 3, stride, 1, 0);
                snprintf(nm, sizeof nm, "%s.shortcut.1", pre);
                sc = norm_layer(m, nm, sc, sp->norm);
            }
            if (m->failed) return;
            sk_op *o = new_op(m, OP_ADD, h, h);
            o->in2 = sc;
            cur = act_layer(m, h, sp->activation);
            add_tap(m, pre, cur);
        }
    }
    if (m->failed) return;
    sk_buf *b = &m->bufs[cur];
    int g = new_buf(m, b->C, 1, 1);
    new_op(m, OP_GAP, cur, g);
    linear_layer(m, "fc", g, sp->n_out);
}

/* Each buffer's first and last op (its gradient is live over them in
 * backward), and a check of the readers: a buffer read by several ops must
 * have only accumulate-capable readers after the first (conv, linear, add
 * operand). */
static sk_status plan_liveness(sk_model *m)
{
    for (int i = 0; i < m->n_ops; i++) {
        sk_op *o = &m->ops[i];
        int ids[3] = {o->in, o->in2, o->out};
        for (int j = 0; j < 3; j++) {
            if (ids[j] < 0) continue;
            sk_buf *b = &m->bufs[ids[j]];
            if (b->first < 0) b->first = i;
            b->last = i;
        }
    }
    for (int i = 0; i < m->n_ops; i++) {
        sk_op *o = &m->ops[i];
        if (o->in == o->out) continue;
        int readers = 0;
        for (int j = 0; j < m->n_ops; j++) {
            sk_op *p = &m->ops[j];
            if ((p->in == o->in && p->out != p->in) || p->in2 == o->in) readers++;
        }
        if (readers > 1 && o->kind != OP_CONV && o->kind != OP_LINEAR)
            return sk_err(SK_EINVAL, "model builder: buffer %d has %d readers (internal error)", o->in, readers);
    }
    return SK_OK;
}

/* Gradient slots by interval colouring in backward order: buffer b's
 * gradient is live over ops [first, last]; sort by last descending, reuse a
 * slot whose current occupant's first is > this buffer's last. Then the
 * slots and the buffers (but the caller's buffer 0), for max_batch samples. */
static sk_status plan_slots(sk_model *m)
{
    const int NB = m->max_batch;
    int nb = m->n_bufs;
    int *order = sk_alloc_n((size_t)nb, sizeof *order);
    int *slot_free_below = sk_alloc_n((size_t)nb, sizeof *order); /* occupant's first */
    int64_t *slot_size = sk_alloc_n((size_t)nb, sizeof *slot_size);
    sk_status st = SK_OK;
    if (!order || !slot_free_below || !slot_size) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    int n = 0;
    for (int b = 1; b < nb; b++)
        order[n++] = b;
    for (int i = 1; i < n; i++) /* insertion sort, n is small */
        for (int j = i; j > 0 && m->bufs[order[j]].last > m->bufs[order[j - 1]].last; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    m->n_slots = 0;
    for (int i = 0; i < n; i++) {
        sk_buf *b = &m->bufs[order[i]];
        int s;
        for (s = 0; s < m->n_slots; s++)
            if (slot_free_below[s] > b->last) break;
        if (s == m->n_slots) {
            m->n_slots++;
            slot_size[s] = 0;
        }
        slot_free_below[s] = b->first;
        if (b->per > slot_size[s]) slot_size[s] = b->per;
        b->slot = s;
    }
    m->slots = sk_alloc_n((size_t)m->n_slots, sizeof *m->slots);
    m->ginit = sk_alloc((size_t)nb);
    if (!m->slots || !m->ginit) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int s = 0; s < m->n_slots; s++)
        if (!(m->slots[s] = sk_alloc_n((size_t)(slot_size[s] * NB), sizeof(float)))) {
            st = SK_ENOMEM;
            goto cleanup;
        }
    for (int b = 1; b < nb; b++)
        if (!(m->bufs[b].data = sk_alloc_n((size_t)(m->bufs[b].per * NB), sizeof(float)))) {
            st = SK_ENOMEM;
            goto cleanup;
        }
cleanup:
    sk_free(order);
    sk_free(slot_free_below);
    sk_free(slot_size);
    return st;
}

/* Per-op saved state (norm statistics, pool and dropout masks), the shared
 * scratch (the largest any op needs) and the caller's d logits. */
static sk_status plan_op_state(sk_model *m)
{
    const int NB = m->max_batch;
    sk_status st = SK_OK;
    m->ws_n = 1;
    for (int i = 0; i < m->n_ops; i++) {
        sk_op *o = &m->ops[i];
        sk_buf *bi = &m->bufs[o->in], *bo = &m->bufs[o->out];
        size_t need = 0;
        switch (o->kind) {
        case OP_CONV: {
            sk_conv_shape cs;
            op_conv_shape(m, o, NB, &cs);
            need = sk_conv_workspace(&cs);
            break;
        }
        case OP_BN:
            o->mean = sk_alloc_n((size_t)bi->C, sizeof(float));
            o->invstd = sk_alloc_n((size_t)bi->C, sizeof(float));
            if (!o->mean || !o->invstd) return SK_ENOMEM;
            break;
        case OP_LN: {
            size_t ns = (size_t)NB * bi->H * bi->W;
            o->mean = sk_alloc_n(ns, sizeof(float));
            o->invstd = sk_alloc_n(ns, sizeof(float));
            if (!o->mean || !o->invstd) return SK_ENOMEM;
            need = 2 * ns;
            break;
        }
        case OP_MAXPOOL:
        case OP_DROPOUT:
            if (!(o->mask = sk_alloc((size_t)(bo->per * NB)))) return SK_ENOMEM;
            break;
        default:
            break;
        }
        if (need > m->ws_n) m->ws_n = need;
    }
    if (!(m->ws = sk_alloc_n(m->ws_n, sizeof(float)))) st = SK_ENOMEM;
    if (!(m->dlog = sk_alloc_n((size_t)NB * m->spec.n_out, sizeof(float)))) st = SK_ENOMEM;
    return st;
}

/* Liveness, gradient slots, scratch sizes, per-op saved state. */
static sk_status plan(sk_model *m)
{
    sk_status st;
    if ((st = plan_liveness(m)) != SK_OK) return st;
    if ((st = plan_slots(m)) != SK_OK) return st;
    return plan_op_state(m);
}

static sk_status check_spec(const sk_model_spec *sp, int max_batch)
{
    if (max_batch < 1) return sk_err(SK_EINVAL, "model: max_batch must be >= 1 (got %d)", max_batch);
    if (sp->in_c < 1 || sp->in_h < 1 || sp->in_w < 1)
        return sk_err(SK_EINVAL, "model: bad input shape %dx%dx%d", sp->in_c, sp->in_h, sp->in_w);
    if (sp->n_out < 1) return sk_err(SK_EINVAL, "model: n_out must be >= 1 (got %d)", sp->n_out);
    if ((unsigned)sp->arch > SK_ARCH_RESNET20)
        return sk_err(SK_EINVAL, "model: unknown architecture %d", (int)sp->arch);
    if ((unsigned)sp->norm > SK_MNORM_LAYERNORM) return sk_err(SK_EINVAL, "model: unknown norm %d", (int)sp->norm);
    if (sp->arch == SK_ARCH_MLP) {
        if (sp->n_hidden < 0 || sp->n_hidden > SK_MAX_HIDDEN)
            return sk_err(SK_EINVAL, "mlp: n_hidden must be in 0..%d (got %d)", SK_MAX_HIDDEN, sp->n_hidden);
        for (int i = 0; i < sp->n_hidden; i++)
            if (sp->hidden[i] < 1)
                return sk_err(SK_EINVAL, "mlp: hidden width %d is %d (must be >= 1)", i, sp->hidden[i]);
        if (!(sp->dropout >= 0.0f && sp->dropout < 1.0f))
            return sk_err(SK_EINVAL, "mlp: dropout must be in [0, 1) (got %g)", (double)sp->dropout);
    } else {
        if (!(sp->width > 0.0) || !isfinite(sp->width))
            return sk_err(SK_EINVAL, "%s: width must be > 0 (got %g)", sk_arch_name(sp->arch), sp->width);
        if (sp->arch == SK_ARCH_RESNET20 && (sp->in_h < 4 || sp->in_w < 4))
            return sk_err(SK_EINVAL, "resnet20: input %dx%d too small (need >= 4x4)", sp->in_h, sp->in_w);
    }
    return SK_OK;
}

sk_status sk_model_new(const sk_model_spec *spec, int max_batch, sk_model **out)
{
    sk_status st;
    sk_model *m = NULL;
    *out = NULL;
    if ((st = check_spec(spec, max_batch)) != SK_OK) return st;
    if (!(m = sk_alloc(sizeof *m))) return SK_ENOMEM;
    m->spec = *spec;
    m->max_batch = max_batch;
    m->bn_momentum = 0.1f;
    m->stop_op = -1;
    if (!(m->params = sk_tset_new())) {
        st = SK_ENOMEM;
        goto fail;
    }
    new_buf(m, spec->in_c, spec->in_h, spec->in_w); /* buffer 0: input */
    if (spec->arch == SK_ARCH_MLP) {
        m->bufs[0].C = spec->in_c * spec->in_h * spec->in_w; /* flattened */
        m->bufs[0].H = m->bufs[0].W = 1;
        build_mlp(m);
    } else if (spec->arch == SK_ARCH_RESNET20) {
        build_resnet20(m);
    } else {
        build_vgg(m, (int)spec->arch - (int)SK_ARCH_VGG11);
    }
    if (m->failed) {
        st = SK_ENOMEM;
        goto fail;
    }
    if ((st = sk_tset_alloc(m->params)) != SK_OK) goto fail;
    if (!(m->grads = sk_tset_like(m->params))) {
        st = SK_ENOMEM;
        goto fail;
    }
    if ((st = plan(m)) != SK_OK) goto fail;
    /* Neutral norm parameters until sk_model_init. */
    for (int i = 0; i < m->n_ops; i++) {
        sk_op *o = &m->ops[i];
        if (o->kind != OP_BN && o->kind != OP_LN) continue;
        sk_tensor *g = &m->params->t[o->w];
        for (int64_t j = 0; j < g->numel; j++)
            g->data[j] = 1.0f;
        if (o->rv >= 0) {
            sk_tensor *v = &m->params->t[o->rv];
            for (int64_t j = 0; j < v->numel; j++)
                v->data[j] = 1.0f;
        }
    }
    *out = m;
    return SK_OK;
fail:
    sk_err_prefix(st, "building %s: ", sk_arch_name(spec->arch));
    sk_model_free(m);
    return st;
}

void sk_model_free(sk_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_ops; i++) {
        sk_free(m->ops[i].mean);
        sk_free(m->ops[i].invstd);
        sk_free(m->ops[i].mask);
    }
    for (int b = 1; b < m->n_bufs; b++)
        sk_free(m->bufs[b].data);
    for (int s = 0; s < m->n_slots && m->slots; s++)
        sk_free(m->slots[s]);
    sk_free(m->slots);
    sk_free(m->ginit);
    sk_free(m->ws);
    sk_free(m->dlog);
    sk_free(m->ops);
    sk_free(m->bufs);
    sk_free(m->taps);
    sk_tset_free(m->params);
    sk_tset_free(m->grads);
    sk_free(m);
}
