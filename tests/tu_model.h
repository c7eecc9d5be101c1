/* tu_model.h - small model specs and parameter initialisations shared by the
 * re-basin test suites. */
#ifndef SK_TU_MODEL_H
#define SK_TU_MODEL_H

#include "core/rng.h"
#include "core/tensor.h"
#include "nn/model.h"

/* MLP with n_hidden layers of distinct widths width, width+3, ..., on
 * in x in single-channel inputs, 10 outputs, ReLU. */
sk_model_spec tu_mlp_spec(int n_hidden, int width, int in);
/* A conv net on hw x hw RGB inputs, 10 outputs, ReLU. */
sk_model_spec tu_conv_spec(sk_arch arch, sk_mnorm norm, double width, int hw, sk_vgghead head);
/* Parameters that keep the signal alive through deep stacks (weights
 * N(0, 2/fan_in), small biases, norm weights near 1) and non-trivial
 * BatchNorm running statistics, so a wrong permutation changes the outputs. */
void tu_randomize(sk_tset *p, sk_rng *r);

#endif
