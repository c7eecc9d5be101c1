/* model.c - runs a built model (model_build.c) forward and backward, and its
 * parameters, taps and names. */
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/names.h"
#include "nn/layers.h"
#include "nn/model_impl.h"

/* ---- names ------------------------------------------------------------------ */

const char *const sk_arch_names[] = {
    [SK_ARCH_MLP] = "mlp",     [SK_ARCH_VGG11] = "vgg11", [SK_ARCH_VGG13] = "vgg13",
    [SK_ARCH_VGG16] = "vgg16", [SK_ARCH_VGG19] = "vgg19", [SK_ARCH_RESNET20] = "resnet20"};
const char *const sk_act_names[] = {[SK_ACT_RELU] = "relu", [SK_ACT_TANH] = "tanh"};
const char *const sk_mnorm_names[] = {
    [SK_MNORM_NONE] = "none", [SK_MNORM_BATCHNORM] = "batchnorm", [SK_MNORM_LAYERNORM] = "layernorm"};
const char *const sk_vgghead_names[] = {[SK_VGGHEAD_GITREBASIN] = "gitrebasin", [SK_VGGHEAD_LINEAR] = "linear"};

const char *sk_arch_name(sk_arch a)
{
    return SK_NAME(sk_arch_names, a);
}

int sk_arch_parse(const char *s, sk_arch *out)
{
    int i = sk_name_index(sk_arch_names, SK_ARCH_COUNT, s);
    if (i < 0) return -1;
    *out = (sk_arch)i;
    return 0;
}

const char *sk_mnorm_name(sk_mnorm n)
{
    return SK_NAME(sk_mnorm_names, n);
}

const sk_model_spec *sk_model_get_spec(const sk_model *m)
{
    return &m->spec;
}
int sk_model_max_batch(const sk_model *m)
{
    return m->max_batch;
}
sk_tset *sk_model_params(sk_model *m)
{
    return m->params;
}
sk_tset *sk_model_grads(sk_model *m)
{
    return m->grads;
}
float *sk_model_dlogits(sk_model *m)
{
    return m->dlog;
}
int sk_model_has_batchnorm(const sk_model *m)
{
    return m->has_bn;
}
void sk_model_set_bn_momentum(sk_model *m, float momentum)
{
    m->bn_momentum = momentum;
}
void sk_model_set_dropout(sk_model *m, int enabled)
{
    m->no_dropout = !enabled;
}
sk_status sk_model_set_dropout_p(sk_model *m, float p)
{
    int layers = 0;
    if (!(p >= 0.0f && p < 1.0f)) return sk_err(SK_EINVAL, "dropout must be in [0, 1) (got %g)", (double)p);
    for (int i = 0; i < m->n_ops; i++)
        layers += m->ops[i].kind == OP_DROPOUT;
    if (p > 0.0f && !layers)
        return sk_err(SK_EINVAL, "dropout %g: the model has no dropout layers (%s)", (double)p,
                      m->spec.arch == SK_ARCH_MLP ? "built without dropout" : "dropout is an MLP option");
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == OP_DROPOUT) m->ops[i].p = p;
    m->spec.dropout = p;
    return SK_OK;
}

void sk_model_zero_grads(sk_model *m, sk_tset *grads)
{
    sk_tset *g = grads ? grads : m->grads;
    memset(g->block, 0, (size_t)g->numel * sizeof(float));
}

int64_t sk_model_n_learnable(const sk_model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->params->n; i++)
        if (!m->params->t[i].is_buffer) n += m->params->t[i].numel;
    return n;
}

void sk_model_init(sk_model *m, sk_rng *rng)
{
    /* Walk ops in state_dict order = tensor index order. */
    sk_tset *P = m->params;
    for (int t = 0; t < P->n; t++) {
        for (int i = 0; i < m->n_ops; i++) {
            sk_op *o = &m->ops[i];
            if (o->w != t && o->b != t && o->rm != t && o->rv != t) continue;
            sk_tensor *T = &P->t[t];
            float val = 0.0f;
            int uniform = 0;
            double fan_in = 1.0;
            if (o->kind == OP_LINEAR || o->kind == OP_CONV) {
                sk_tensor *W = &P->t[o->w];
                fan_in = (double)(W->numel / W->shape[0]);
                uniform = 1;
            } else {
                val = (t == o->w || t == o->rv) ? 1.0f : 0.0f;
            }
            double bound = 1.0 / sqrt(fan_in);
            for (int64_t j = 0; j < T->numel; j++)
                T->data[j] = uniform ? (float)((2.0 * sk_rng_uniform(rng) - 1.0) * bound) : val;
            break;
        }
    }
}

/* ---- forward / backward ------------------------------------------------------ */

static float *tdata(const sk_tset *P, int idx)
{
    return idx >= 0 ? P->t[idx].data : NULL;
}

const float *sk_model_forward(sk_model *m, const sk_tset *params, const float *x, int N, int train, sk_rng *rng)
{
    const sk_tset *P = params ? params : m->params;
    m->bufs[0].data = (float *)x; /* read only */
    m->lp = P;
    m->lN = N;
    m->ltrain = train;
    int end = m->stop_op >= 0 && m->stop_op < m->n_ops ? m->stop_op + 1 : m->n_ops;
    for (int i = 0; i < end; i++) {
        sk_op *o = &m->ops[i];
        sk_buf *bi = &m->bufs[o->in], *bo = &m->bufs[o->out];
        float *X = bi->data, *Y = bo->data;
        int S = bi->H * bi->W;
        switch (o->kind) {
        case OP_LINEAR:
            sk_linear_forward(Y, X, tdata(P, o->w), tdata(P, o->b), N, (int)bi->per, bo->C);
            break;
        case OP_CONV: {
            sk_conv_shape cs;
            op_conv_shape(m, o, N, &cs);
            sk_conv2d_forward(Y, X, tdata(P, o->w), tdata(P, o->b), &cs, m->ws);
            break;
        }
        case OP_BN:
            sk_bn_forward(Y, X, tdata(P, o->w), tdata(P, o->b), tdata(P, o->rm), tdata(P, o->rv), o->mean, o->invstd, N,
                          bi->C, S, train != 0, m->bn_momentum);
            break;
        case OP_LN:
            sk_ln_forward(Y, X, tdata(P, o->w), tdata(P, o->b), o->mean, o->invstd, N, bi->C, S);
            break;
        case OP_RELU:
            sk_relu_forward(Y, X, N * bi->per);
            break;
        case OP_TANH:
            sk_tanh_forward(Y, X, N * bi->per);
            break;
        case OP_MAXPOOL:
            sk_maxpool2_forward(Y, o->mask, X, N, bi->C, bi->H, bi->W);
            break;
        case OP_GAP:
            sk_gap_forward(Y, X, N, bi->C, S);
            break;
        case OP_DROPOUT:
            if (train && !m->no_dropout && o->p > 0.0f) {
                sk_dropout_forward(Y, o->mask, X, N * bi->per, o->p, rng);
            } else {
                memcpy(Y, X, (size_t)(N * bi->per) * sizeof *Y);
                /* a backward after this forward passes gradients through */
                memset(o->mask, 1, (size_t)(N * bi->per));
            }
            break;
        case OP_ADD:
            sk_add_forward(Y, X, m->bufs[o->in2].data, N * bi->per);
            break;
        }
    }
    return m->bufs[m->ops[end - 1].out].data;
}

const float *sk_model_forward_to(sk_model *m, const sk_tset *params, const float *x, int N, int op)
{
    m->stop_op = op;
    const float *y = sk_model_forward(m, params, x, N, 0, NULL);
    m->stop_op = -1;
    m->lN = 0; /* no backward after a partial forward */
    return y;
}

/* ---- REPAIR points ------------------------------------------------------------- */

/* Point i (i < 0: count them) in forward order: every conv or linear op but
 * the model's last, at its norm's output when a norm reads it next, else at
 * its own output when it has a bias. Returns the count, or 1 when found. */
static int repair_point(const sk_model *m, int want, sk_repair_point *out)
{
    int n = 0;
    for (int i = 0; i + 1 < m->n_ops; i++) {
        const sk_op *o = &m->ops[i], *nx = &m->ops[i + 1];
        if (o->kind != OP_CONV && o->kind != OP_LINEAR) continue;
        int norm = (nx->kind == OP_BN || nx->kind == OP_LN) && nx->in == o->out;
        const sk_op *at = norm ? nx : o;
        if (at->b < 0) continue;
        if (n++ != want) continue;
        const sk_buf *b = &m->bufs[at->out];
        out->name = m->params->t[o->w].name;
        out->op = (int)(at - m->ops);
        out->w = at->w;
        out->b = at->b;
        out->norm = norm;
        out->channels = b->C;
        out->spatial = b->H * b->W;
        return 1;
    }
    return want < 0 ? n : 0;
}

int sk_model_n_repair_points(const sk_model *m)
{
    return repair_point(m, -1, NULL);
}

sk_repair_point sk_model_repair_point(const sk_model *m, int i)
{
    sk_repair_point p = {0};
    if (i >= 0) repair_point(m, i, &p);
    return p;
}

void sk_model_backward(sk_model *m, const float *dlogits, sk_tset *grads, float *dx)
{
    sk_tset *G = grads ? grads : m->grads;
    const sk_tset *P = m->lp;
    const int N = m->lN, train = m->ltrain;
    memset(m->ginit, 0, (size_t)m->n_bufs);
    /* d logits into the last buffer's slot */
    sk_buf *bl = &m->bufs[m->ops[m->n_ops - 1].out];
    memmove(m->slots[bl->slot], dlogits, (size_t)(N * bl->per) * sizeof(float));
    m->ginit[m->ops[m->n_ops - 1].out] = 1;
    for (int i = m->n_ops - 1; i >= 0; i--) {
        sk_op *o = &m->ops[i];
        sk_buf *bi = &m->bufs[o->in], *bo = &m->bufs[o->out];
        float *X = bi->data, *Y = bo->data;
        float *dY = m->slots[bo->slot];
        float *dX = o->in == 0 ? dx : m->slots[bi->slot];
        int acc = m->ginit[o->in] && o->in != o->out;
        int S = bi->H * bi->W;
        m->ginit[o->in] = 1;
        switch (o->kind) {
        case OP_LINEAR:
            sk_linear_backward(dX, tdata(G, o->w), tdata(G, o->b), dY, X, tdata(P, o->w), N, (int)bi->per, bo->C, acc);
            break;
        case OP_CONV: {
            sk_conv_shape cs;
            op_conv_shape(m, o, N, &cs);
            sk_conv2d_backward(dX, tdata(G, o->w), tdata(G, o->b), dY, X, tdata(P, o->w), &cs, m->ws, acc);
            break;
        }
        case OP_BN:
            sk_bn_backward(dX, tdata(G, o->w), tdata(G, o->b), dY, X, tdata(P, o->w), o->mean, o->invstd, N, bi->C, S,
                           train != 0);
            break;
        case OP_LN:
            sk_ln_backward(dX, tdata(G, o->w), tdata(G, o->b), dY, X, tdata(P, o->w), o->mean, o->invstd, N, bi->C, S,
                           m->ws);
            break;
        case OP_RELU:
            if (dX) sk_relu_backward(dX, dY, Y, N * bi->per);
            break;
        case OP_TANH:
            if (dX) sk_tanh_backward(dX, dY, Y, N * bi->per);
            break;
        case OP_MAXPOOL:
            if (dX) sk_maxpool2_backward(dX, dY, o->mask, N, bi->C, bi->H, bi->W);
            break;
        case OP_GAP:
            if (dX) sk_gap_backward(dX, dY, N, bi->C, S);
            break;
        case OP_DROPOUT:
            if (dX) sk_dropout_backward(dX, dY, o->mask, N * bi->per, (train && !m->no_dropout) ? o->p : 0.0f);
            break;
        case OP_ADD: {
            /* in place: d in = d out already; d in2 (+)= d out */
            sk_buf *b2 = &m->bufs[o->in2];
            float *d2 = o->in2 == 0 ? dx : m->slots[b2->slot];
            if (d2) sk_axpy_acc(d2, dY, N * bi->per, m->ginit[o->in2]);
            m->ginit[o->in2] = 1;
            break;
        }
        }
    }
}

/* ---- taps, description -------------------------------------------------------- */

int sk_model_n_taps(const sk_model *m)
{
    return m->n_taps;
}

sk_tap sk_model_tap(const sk_model *m, int i)
{
    sk_tap t = {0};
    if (i < 0 || i >= m->n_taps) return t;
    const sk_buf *b = &m->bufs[m->taps[i].buf];
    t.name = m->taps[i].name;
    t.channels = b->C;
    t.h = b->H;
    t.w = b->W;
    t.data = b->data;
    return t;
}

char *sk_model_describe(const sk_model_spec *sp)
{
    char buf[1024];
    int k;
    if (sp->arch == SK_ARCH_MLP) {
        k = snprintf(buf, sizeof buf, "mlp %d", sp->in_c * sp->in_h * sp->in_w);
        for (int i = 0; i < sp->n_hidden && i < SK_MAX_HIDDEN && k < (int)sizeof buf; i++)
            k += snprintf(buf + k, sizeof buf - (size_t)k, "-%d", sp->hidden[i]);
        if (k < (int)sizeof buf)
            k += snprintf(buf + k, sizeof buf - (size_t)k, "-%d %s", sp->n_out, SK_NAME(sk_act_names, sp->activation));
        if (sp->norm != SK_MNORM_NONE && k < (int)sizeof buf)
            k += snprintf(buf + k, sizeof buf - (size_t)k, " %s", sk_mnorm_name(sp->norm));
        if (sp->dropout > 0.0f && k < (int)sizeof buf)
            snprintf(buf + k, sizeof buf - (size_t)k, " dropout=%g", (double)sp->dropout);
    } else {
        k = snprintf(buf, sizeof buf, "%s w=%g %s", sk_arch_name(sp->arch), sp->width, sk_mnorm_name(sp->norm));
        if (sp->arch != SK_ARCH_RESNET20 && k < (int)sizeof buf)
            k += snprintf(buf + k, sizeof buf - (size_t)k, " head=%s",
                          sp->vgg_head == SK_VGGHEAD_LINEAR ? "linear" : "gitrebasin");
        if (k < (int)sizeof buf)
            snprintf(buf + k, sizeof buf - (size_t)k, " %dx%dx%d->%d", sp->in_c, sp->in_h, sp->in_w, sp->n_out);
    }
    size_t n = strlen(buf) + 1;
    char *s = malloc(n);
    if (s) memcpy(s, buf, n);
    return s;
}
