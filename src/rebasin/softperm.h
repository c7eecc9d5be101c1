/* softperm.h - learnable soft permutations (doc/algorithms.md §8): one n_g x n_g
 * matrix X_g per group of a permutation spec, P_g = Sinkhorn(X_g), and the
 * soft-permuted tensor set pi_P(theta) with its backward.
 *
 * Convention (spec.h): permuted = P . original along every permuted axis;
 * P[i][p[i]] = 1 for a hard permutation p, so applying a permutation matrix
 * equals sk_perm_apply with p. For a tensor viewed as (outer, n*block, inner)
 * along an axis of group g with unit block `block`:
 *   out[o][u*block + r][k] = sum_v P_g[u][v] * in[o][v*block + r][k]
 * and the mode products of the different axes are applied one after the
 * other (they commute). Linear W (out, in): W' = P_o W P_i^T; conv
 * (Cout, Cin, kh, kw): over the channel axes; flatten: blocks of H*W.
 *
 * X lives in float (an sk_tset "X.<group name>" (n, n) per group, so that
 * sk_optim updates it); the Sinkhorn plan and its backward are in double
 * (sinkhorn.h workspace API); the products with P are float SGEMMs.
 * Buffers (is_buffer: BatchNorm running statistics) are permuted by the
 * hard projection LAP(X_g) only and get no gradient. */
#ifndef SK_REBASIN_SOFTPERM_H
#define SK_REBASIN_SOFTPERM_H
#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "rebasin/sinkhorn.h"
#include "rebasin/spec.h"

typedef struct sk_softperm sk_softperm;

typedef enum {
    SK_SOFTPERM_INIT_NOISY, /* I + 0.1 N(0,1) (published default) */
    SK_SOFTPERM_INIT_IDENTITY,
    SK_SOFTPERM_INIT_RANDOM, /* a random permutation matrix */
    SK_SOFTPERM_INIT_COUNT
} sk_softperm_init;
/* "perturbed-identity", "identity", "random-permutation" (core/names.h). */
extern const char *const sk_softperm_init_names[SK_SOFTPERM_INIT_COUNT];

/* One learnable X_g per group of s (s is borrowed and must outlive sp).
 * init: SK_SOFTPERM_INIT_*; rng: draws for init 0 and 2 (may be NULL for
 * init 1); o: Sinkhorn options (NULL = defaults), copied. */
SK_MUST_CHECK sk_status sk_softperm_new(const sk_perm_spec *s, sk_softperm_init init, sk_rng *rng,
                                        const sk_sinkhorn_opts *o, sk_softperm **out);
void sk_softperm_free(sk_softperm *sp); /* NULL-safe */

/* P_g = Sinkhorn(X_g) for every group (kept for apply and backward). */
SK_MUST_CHECK sk_status sk_softperm_forward(sk_softperm *sp);

/* out = pi_P(in) with the plans of the last sk_softperm_forward (in and out:
 * the layout the spec was built for, must not alias). Buffers: permuted by
 * LAP(X_g) (computed here), or copied unpermuted after
 * sk_softperm_set_hard_buffers(sp, 0) (for loops whose forwards never read
 * running statistics, e.g. train-mode BatchNorm; saves a LAP per group). */
SK_MUST_CHECK sk_status sk_softperm_apply(sk_softperm *sp, const sk_tset *in, sk_tset *out);
void sk_softperm_set_hard_buffers(sk_softperm *sp, int on);

/* dout: d loss / d out (layout of in; buffer entries ignored). `in`: the
 * set that was permuted; when it is the set of the last apply since the
 * last forward (same pointer), its values must be unchanged (the apply's
 * partial products P_o W are reused for dP_i). ACCUMULATES
 * d loss / d X_g into sk_softperm_grads (chain dP -> implicit Sinkhorn
 * backward, at the plans of the last forward). din (may be NULL): receives
 * (overwrites) d loss / d in for the non-buffer tensors (buffers: 0). */
SK_MUST_CHECK sk_status sk_softperm_backward(sk_softperm *sp, const sk_tset *in, const sk_tset *dout, sk_tset *din);

/* The X matrices and their gradients, one (n_g, n_g) tensor per group in
 * group order (borrowed; same layout), and zeroing of the gradients. */
sk_tset *sk_softperm_params(sk_softperm *sp);
sk_tset *sk_softperm_grads(sk_softperm *sp);
void sk_softperm_zero_grad(sk_softperm *sp);

/* The plan of group g of the last forward (n_g, n_g), double (borrowed). */
const double *sk_softperm_plan(const sk_softperm *sp, int g);

/* Hard permutations perms[g] = LAP(X_g) (maximise sum_i X_g[i][p[i]]). */
SK_MUST_CHECK sk_status sk_softperm_hard(const sk_softperm *sp, int64_t **perms);

/* Backward solver statistics since the last reset: backward calls in which
 * the Sinkhorn backward used its pseudo-inverse fallback. */
int sk_softperm_fallbacks(const sk_softperm *sp);

/* Cumulative seconds spent (for benchmarks): [0] Sinkhorn forward,
 * [1] Sinkhorn backward, [2] apply, [3] apply backward (dP and din). */
void sk_softperm_times(const sk_softperm *sp, double t[4]);

#endif
