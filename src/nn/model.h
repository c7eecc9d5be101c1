/* model.h - the model zoo (MLP, VGG11/13/16/19, ResNet20) with PyTorch
 * state_dict names and layouts, one parameter block per model.
 *
 * Parameters AND buffers (BatchNorm running_mean/running_var, is_buffer = 1)
 * live in ONE sk_tset in state_dict order; gradients in a second set of the
 * same layout. PyTorch's integer `num_batches_tracked` buffers are not kept
 * (the weights I/O should skip them on load and may write 0 on save).
 *
 * Names:
 *   mlp       layers.{i}.weight|bias (i = 0..n_hidden); with a norm, the
 *             norm after hidden layer i is norms.{i}.weight|bias[|running_*],
 *             registered after all linear layers (a module holding two
 *             ModuleLists `layers` then `norms`).
 *   vggNN     features.{i}.* with i the index in the torchvision-style
 *             Sequential (conv, [norm], relu, ..., maxpool); head
 *             classifier.{0,2,4}.* (Git Re-Basin: Linear-ReLU-Linear-ReLU-Linear)
 *             or classifier.weight|bias (one Linear). A 2x2 max pool on a map
 *             smaller than 2x2 is skipped (its Sequential index still counts);
 *             the head's input is C*H*W of the final map (channel-major).
 *   resnet20  conv1, bn1, layer{s}.{b}.conv1|bn1|conv2|bn2, shortcut.0 (3x3
 *             stride-2 conv) / shortcut.1 (norm) when a stage changes stride or
 *             width, fc. Convs have no bias; "bn*" is whatever norm is chosen.
 * LayerNorm in conv nets normalises over channels at each pixel. */
#ifndef SK_NN_MODEL_H
#define SK_NN_MODEL_H
#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"
#include "core/tensor.h"

/* Each enum has a name table (core/names.h); the names are the config's. */
typedef enum {
    SK_ARCH_MLP,
    SK_ARCH_VGG11,
    SK_ARCH_VGG13,
    SK_ARCH_VGG16,
    SK_ARCH_VGG19,
    SK_ARCH_RESNET20,
    SK_ARCH_COUNT
} sk_arch;
typedef enum { SK_ACT_RELU, SK_ACT_TANH, SK_ACT_COUNT } sk_act;
typedef enum { SK_MNORM_NONE, SK_MNORM_BATCHNORM, SK_MNORM_LAYERNORM, SK_MNORM_COUNT } sk_mnorm;
typedef enum { SK_VGGHEAD_GITREBASIN, SK_VGGHEAD_LINEAR, SK_VGGHEAD_COUNT } sk_vgghead;
extern const char *const sk_arch_names[SK_ARCH_COUNT];       /* "mlp", "vgg11", ..., "resnet20" */
extern const char *const sk_act_names[SK_ACT_COUNT];         /* "relu", "tanh" */
extern const char *const sk_mnorm_names[SK_MNORM_COUNT];     /* "none", "batchnorm", "layernorm" */
extern const char *const sk_vgghead_names[SK_VGGHEAD_COUNT]; /* "gitrebasin", "linear" */
#define SK_MAX_HIDDEN 32
typedef struct {
    sk_arch arch;
    int n_hidden;
    int hidden[SK_MAX_HIDDEN]; /* mlp widths */
    sk_act activation;         /* every activation (conv nets too; ReLU is the standard there) */
    sk_mnorm norm;             /* conv nets; mlp: after each hidden linear */
    double width;              /* conv width multiplier: channels = max(1, round(c * width)) */
    sk_vgghead vgg_head;
    float dropout;        /* mlp: dropout prob after each hidden activation, 0 = none */
    int dropout_layers;   /* mlp: build the dropout layers even when dropout is 0, so that
                             sk_model_set_dropout_p can turn them on (per-endpoint dropout) */
    int in_c, in_h, in_w; /* input shape (mlp flattens it) */
    int n_out;            /* classes, or 1 for regression */
} sk_model_spec;

const char *sk_arch_name(sk_arch a);
/* VGG feature layers of a vgg arch: channels before the width multiplier,
 * 0 = 2x2 max pool, -1 ends the list; NULL for other archs. Borrowed. */
const int *sk_vgg_layers(sk_arch a);
int sk_arch_parse(const char *s, sk_arch *out); /* 0 ok, -1 unknown; "mlp","vgg11",...,"resnet20" */
const char *sk_mnorm_name(sk_mnorm n);          /* "none", "batchnorm", "layernorm" */

typedef struct sk_model sk_model;

/* Builds the network and allocates parameters, gradients and all activation
 * and scratch buffers for batches of up to max_batch (nothing is allocated in
 * forward/backward). Parameters are zero until sk_model_init. */
SK_MUST_CHECK sk_status sk_model_new(const sk_model_spec *spec, int max_batch, sk_model **out);
void sk_model_free(sk_model *m); /* safe on NULL */
const sk_model_spec *sk_model_get_spec(const sk_model *m);
int sk_model_max_batch(const sk_model *m);
sk_tset *sk_model_params(sk_model *m); /* borrowed */
sk_tset *sk_model_grads(sk_model *m);  /* borrowed */
/* Scratch of (max_batch, n_out) floats for the caller's d loss / d logits. */
float *sk_model_dlogits(sk_model *m);
int sk_model_has_batchnorm(const sk_model *m);
/* Running-statistics momentum of train-mode forwards (default 0.1; the
 * running-stat re-estimation uses 1/k at its k-th batch). */
void sk_model_set_bn_momentum(sk_model *m, float momentum);
/* Dropout in train-mode forwards (default on; off during re-estimation). */
void sk_model_set_dropout(sk_model *m, int enabled);
/* The probability of every dropout layer from now on (the spec's dropout
 * until then). A p > 0 needs the layers (an MLP built with dropout > 0 or
 * dropout_layers); p must be in [0, 1). With p = 0 a layer passes its input
 * through and draws nothing from the rng. */
SK_MUST_CHECK sk_status sk_model_set_dropout_p(sk_model *m, float p);
/* Zero a gradient set (NULL = the model's own). */
void sk_model_zero_grads(sk_model *m, sk_tset *grads);

/* PyTorch default init: weights kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)),
 * biases U(+-1/sqrt(fan_in)), norm weight 1 / bias 0, running mean 0 / var 1.
 * Draws in state_dict order from rng. */
void sk_model_init(sk_model *m, sk_rng *rng);

/* Forward x (N, in_c, in_h, in_w), N <= max_batch, -> logits (N, n_out), owned
 * by the model, valid until the next forward.
 * params: NULL = the model's own, else a set of identical layout.
 * train = 1: BatchNorm uses batch statistics and UPDATES the running
 * statistics stored in `params` (momentum 0.1, or the cumulative average
 * during sk_model_bn_reset); dropout active (rng required when dropout > 0).
 * train = 0: running statistics, no dropout (rng unused). */
const float *sk_model_forward(sk_model *m, const sk_tset *params, const float *x, int N, int train, sk_rng *rng);
/* Backward from dlogits (N, n_out) of the last forward: ACCUMULATES into grads
 * (NULL = the model's own) for the params used in that forward; if dx is not
 * NULL it receives d input (N, in_c, in_h, in_w). */
void sk_model_backward(sk_model *m, const float *dlogits, sk_tset *grads, float *dx);

/* Activation taps: every permutable "unit" point (MLP: post-activation of each
 * hidden layer, named "layers.{i}"; VGG: post-ReLU after each conv,
 * "features.{i}" with i the conv's index, and the Git Re-Basin head's hidden
 * layers "classifier.0", "classifier.2"; ResNet: stem "conv1" and each block's
 * output "layer{s}.{b}" (the residual stream after the post-addition ReLU),
 * and each block's inner post-ReLU "layer{s}.{b}.conv1"). data points into
 * the last forward's buffers, (N, channels, h, w). */
typedef struct {
    const char *name;
    int channels;
    int h, w;
    const float *data;
} sk_tap;
int sk_model_n_taps(const sk_model *m);
sk_tap sk_model_tap(const sk_model *m, int i);

/* Forward in eval mode through ops 0..op of the layer graph only (op as
 * sk_repair_point.op gives it) and return that op's output (N, C, H, W) as
 * the full forward computes it before any later in-place op touches it.
 * No backward may follow. */
const float *sk_model_forward_to(sk_model *m, const sk_tset *params, const float *x, int N, int op);

/* REPAIR points (doc/algorithms.md §14): one per conv or linear layer but the
 * output layer, in forward order, where the layer's output channels can take
 * a per-channel affine correction folded into parameters: the output of its
 * norm when it has one (w, b = the norm's weight and bias), else its own
 * output (w = the layer's weight, whose row c is scaled, b = its bias; a
 * layer without a bias and norm has no point). */
typedef struct {
    const char *name; /* the layer's weight tensor, e.g. "layers.0.weight" */
    int op;           /* for sk_model_forward_to */
    int w, b;         /* tensor indices in the parameter set */
    int norm;         /* 1: at a norm's output */
    int channels;     /* C */
    int spatial;      /* H*W of the corrected output (1 for linear layers) */
} sk_repair_point;
int sk_model_n_repair_points(const sk_model *m);
sk_repair_point sk_model_repair_point(const sk_model *m, int i);

/* "mlp 784-512-512-512-10 relu", "vgg11 w=0.125 layernorm head=gitrebasin 3x32x32->10",
 * "resnet20 w=1 batchnorm 3x32x32->10" (malloc'd, free()). NULL on bad spec. */
char *sk_model_describe(const sk_model_spec *spec);

/* Learnable parameters (excluding buffers) of a built model. */
int64_t sk_model_n_learnable(const sk_model *m);

#endif
