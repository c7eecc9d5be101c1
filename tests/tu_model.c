#include "tu_model.h"

#include "rebasin/spec.h"

#include <math.h>
#include <string.h>

sk_model_spec tu_mlp_spec(int n_hidden, int width, int in)
{
    sk_model_spec s;
    memset(&s, 0, sizeof s);
    s.arch = SK_ARCH_MLP;
    s.n_hidden = n_hidden;
    for (int i = 0; i < n_hidden; i++)
        s.hidden[i] = width + 3 * i;
    s.activation = SK_ACT_RELU;
    s.width = 1;
    s.in_c = 1;
    s.in_h = in;
    s.in_w = in;
    s.n_out = 10;
    return s;
}

sk_model_spec tu_conv_spec(sk_arch arch, sk_mnorm norm, double width, int hw, sk_vgghead head)
{
    sk_model_spec s;
    memset(&s, 0, sizeof s);
    s.arch = arch;
    s.norm = norm;
    s.width = width;
    s.vgg_head = head;
    s.activation = SK_ACT_RELU;
    s.in_c = 3;
    s.in_h = hw;
    s.in_w = hw;
    s.n_out = 10;
    return s;
}

void tu_randomize(sk_tset *p, sk_rng *r)
{
    sk_params_randomize(p, r);
}
