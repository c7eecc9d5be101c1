/* spec.h - permutation specs (doc/algorithms.md §2) and applying permutations.
 *
 * A spec lists the permutation groups of an architecture and, for each, every
 * (parameter, axis) it acts on. It is derived from the model definition (the
 * same construction the model builder follows), never listed per width.
 * A permutation p of a group of size n is an index vector: unit i of the
 * permuted model is unit p[i] of the original. */
#ifndef SK_REBASIN_SPEC_H
#define SK_REBASIN_SPEC_H
#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "nn/model.h"

#define SK_PERM_MAX_REFS 64

typedef struct {
    int param;     /* index of the tensor in the model's sk_tset */
    int axis;      /* axis it acts on */
    int64_t block; /* unit u covers indices [u*block, (u+1)*block) of the axis
                      (1, or H*W at a conv -> linear flatten) */
} sk_perm_ref;

typedef struct {
    char name[SK_NAME_MAX]; /* the module whose units these are, e.g. "layers.0" */
    int64_t size;           /* units */
    int n_refs;
    sk_perm_ref refs[SK_PERM_MAX_REFS];
    int tap; /* activation tap of the model for this group, -1 if none */
} sk_perm_group;

typedef struct {
    int n_groups;
    sk_perm_group *groups;
    int n_params;
    /* axis_group[p * SK_MAXDIM + a]: group acting on axis a of tensor p, or -1;
     * axis_block likewise. */
    int *axis_group;
    int64_t *axis_block;
} sk_perm_spec;

/* Build the spec for a model spec over its parameter set (names and shapes;
 * the tap indices come from the model when `m` is non-NULL). */
SK_MUST_CHECK sk_status sk_perm_spec_build(const sk_model_spec *ms, const sk_tset *params, const sk_model *m,
                                           sk_perm_spec **out);
void sk_perm_spec_free(sk_perm_spec *s);

/* perms[g] (size groups[g].size) for every group. out = pi(in): every tensor
 * re-indexed along each of its permuted axes. in and out have the layout the
 * spec was built for and must not alias. */
SK_MUST_CHECK sk_status sk_perm_apply(const sk_perm_spec *s, const int64_t *const *perms, const sk_tset *in,
                                      sk_tset *out);

/* Permute one tensor along every permuted axis except `skip_axis` (-1: none). */
void sk_perm_apply_tensor(const sk_perm_spec *s, const int64_t *const *perms, const sk_tensor *t, int param,
                          int skip_axis, const float *in, float *out, float *work);

/* Gather tensor `param` with axis `axis` moved first, unit-major:
 * dst (n_units, numel / n_units), row u = every element of unit u. */
void sk_perm_unit_rows(const sk_tensor *t, int axis, int64_t block, const float *src, float *dst);

/* Identity / random permutations for every group (arrays owned by the caller
 * via sk_perms_free). */
int64_t **sk_perms_identity(const sk_perm_spec *s);
int64_t **sk_perms_random(const sk_perm_spec *s, sk_rng *rng);
void sk_perms_free(const sk_perm_spec *s, int64_t **perms);
/* The inverse of every permutation. */
int64_t **sk_perms_inverse(const sk_perm_spec *s, int64_t *const *perms);

/* Parameters with no symmetry a permutation could hide behind: weights
 * N(0, 2 / fan_in), biases N(0, 0.05^2), norm weights 1 + N(0, 0.3^2),
 * running means N(0, 0.3^2), running variances U(0.5, 1.5). A seeded
 * initialisation (norm weights 1, biases and running means 0, variances 1)
 * is permutation-invariant in every such tensor, so a spec that forgot one
 * would pass a proof made on it. */
void sk_params_randomize(sk_tset *p, sk_rng *r);

/* Functional-equivalence proof (doc/algorithms.md §2): on a copy of the model's
 * parameters made generic by sk_params_randomize, apply random permutations
 * and compare the model's outputs on x (N, C, H, W) (eval mode).
 * *max_rel = max |out - out_perm| / max |out|. The model's own parameters
 * are not changed. */
SK_MUST_CHECK sk_status sk_perm_spec_verify(sk_model *m, const sk_perm_spec *s, const float *x, int N, sk_rng *rng,
                                            double *max_rel);

#endif
