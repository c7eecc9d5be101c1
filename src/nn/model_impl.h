/* model_impl.h - the layer graph of a model, shared by model_build.c (builds
 * it and plans its memory) and model.c (runs it); private to src/nn.
 *
 * Buffers hold per-sample tensors (C, H, W) for up to max_batch samples;
 * buffer 0 is the caller's input. ReLU/Tanh and the residual add run in place
 * (their backward needs only their output). Gradients of buffers live in a
 * few shared "slots": a buffer's gradient is alive in backward from its last
 * consumer to its producer, and buffers with disjoint lifetimes share a slot
 * (interval colouring at build time). A buffer read by two ops (the ResNet
 * block input) gets its gradient written by the first backward and
 * accumulated by the second. */
#ifndef SK_NN_MODEL_IMPL_H
#define SK_NN_MODEL_IMPL_H
#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"
#include "nn/layers.h"
#include "nn/model.h"

typedef enum { OP_LINEAR, OP_CONV, OP_BN, OP_LN, OP_RELU, OP_TANH, OP_MAXPOOL, OP_GAP, OP_DROPOUT, OP_ADD } op_kind;

typedef struct {
    op_kind kind;
    int in, in2, out;     /* buffer ids (in2: second ADD operand) */
    int w, b, rm, rv;     /* tensor indices into the parameter set, -1 = none */
    int k, stride, pad;   /* conv */
    float p;              /* dropout */
    float *mean, *invstd; /* norm statistics of the last forward */
    uint8_t *mask;        /* pool argmax / dropout mask */
} sk_op;

typedef struct {
    int C, H, W;
    int64_t per;     /* C*H*W */
    float *data;     /* max_batch * per floats (buffer 0: the caller's x) */
    int first, last; /* ops producing / last touching it */
    int slot;        /* gradient slot, -1 for buffer 0 */
} sk_buf;

typedef struct {
    char name[SK_NAME_MAX];
    int buf;
} sk_tapdef;

struct sk_model {
    sk_model_spec spec;
    int max_batch;
    sk_tset *params, *grads;
    sk_op *ops;
    int n_ops, cap_ops;
    sk_buf *bufs;
    int n_bufs, cap_bufs;
    sk_tapdef *taps;
    int n_taps, cap_taps;
    float **slots;
    int n_slots;
    uint8_t *ginit; /* per buffer: gradient written in this backward */
    float *ws;
    size_t ws_n; /* shared scratch (im2col, LayerNorm backward) */
    float *dlog; /* (max_batch, n_out) scratch for the caller's loss gradient */
    int has_bn;
    float bn_momentum; /* 0.1, or 1/k during running-stat re-estimation */
    int no_dropout;    /* set during running-stat re-estimation */
    int stop_op;       /* sk_model_forward_to: the last op to run (-1: all) */
    /* last forward */
    const sk_tset *lp;
    int lN, ltrain;
    int failed; /* a build step failed (sk_err set) */
};

/* The conv shape of conv op o for a batch of N. */
static inline void op_conv_shape(const sk_model *m, const sk_op *o, int N, sk_conv_shape *cs)
{
    const sk_buf *bi = &m->bufs[o->in], *bo = &m->bufs[o->out];
    sk_conv_shape_init(cs, N, bi->C, bi->H, bi->W, bo->C, o->k, o->stride, o->pad);
}

#endif
