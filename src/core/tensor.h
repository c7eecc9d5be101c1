/* tensor.h - named float32 tensors living in one contiguous block.
 *
 * A model's parameters (and buffers), its gradients, and each optimiser state
 * are each one sk_tset: a list of named views (PyTorch state_dict names and
 * layouts, row-major) into a single allocation, so interpolation, permutation,
 * optimiser steps and saving are flat loops over `block`. */
#ifndef SK_CORE_TENSOR_H
#define SK_CORE_TENSOR_H
#include <stdint.h>

#include "core/err.h"

#define SK_MAXDIM 4
#define SK_NAME_MAX 96

typedef struct {
    char name[SK_NAME_MAX];
    int ndim;
    int64_t shape[SK_MAXDIM];
    int64_t numel;
    int64_t offset; /* index of the first element in the owning block */
    float *data;    /* view into the owning sk_tset's block (borrowed) */
    int is_buffer;  /* 1: state, not trained (BatchNorm running_mean/var) */
} sk_tensor;

typedef struct {
    int n, cap;
    sk_tensor *t;  /* n named views, in insertion order */
    float *block;  /* owns all data; NULL until sk_tset_alloc */
    int64_t numel; /* total elements */
} sk_tset;

sk_tset *sk_tset_new(void);
void sk_tset_free(sk_tset *s); /* safe on NULL */
/* Declare a tensor (before sk_tset_alloc). Returns its index or -1 (sk_err
 * set) on a duplicate name, bad shape or allocation failure. */
int sk_tset_add(sk_tset *s, const char *name, int ndim, const int64_t *shape);
/* Allocate the zero-filled block and point every view into it. */
SK_MUST_CHECK sk_status sk_tset_alloc(sk_tset *s);
/* A new set with the same names and shapes, zero-filled (gradients, moments). */
sk_tset *sk_tset_like(const sk_tset *s);
/* A deep copy (layout and values). */
sk_tset *sk_tset_clone(const sk_tset *s);
/* Copy values between two sets of identical layout. */
SK_MUST_CHECK sk_status sk_tset_copy(sk_tset *dst, const sk_tset *src);
int sk_tset_find(const sk_tset *s, const char *name);       /* index or -1 */
sk_tensor *sk_tset_get(const sk_tset *s, const char *name); /* NULL if absent */
/* Same names, shapes and order. */
int sk_tset_same_layout(const sk_tset *a, const sk_tset *b);
/* "layers.0.weight (512, 784)" style description into buf. */
void sk_tensor_describe(const sk_tensor *t, char *buf, int n);

#endif
