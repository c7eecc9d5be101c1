#include "core/tensor.h"
#include "core/mem.h"

#include <stdio.h>
#include <string.h>

sk_tset *sk_tset_new(void)
{
    return sk_alloc(sizeof(sk_tset));
}

void sk_tset_free(sk_tset *s)
{
    if (!s) return;
    sk_free(s->t);
    sk_free(s->block);
    sk_free(s);
}

int sk_tset_find(const sk_tset *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0) return i;
    return -1;
}

sk_tensor *sk_tset_get(const sk_tset *s, const char *name)
{
    int i = sk_tset_find(s, name);
    return i < 0 ? NULL : &s->t[i];
}

int sk_tset_add(sk_tset *s, const char *name, int ndim, const int64_t *shape)
{
    sk_tensor *t;
    if (s->block) {
        sk_err(SK_EINVAL, "sk_tset_add(%s): set already allocated", name);
        return -1;
    }
    if (ndim < 0 || ndim > SK_MAXDIM || strlen(name) >= SK_NAME_MAX) {
        sk_err(SK_EINVAL, "tensor %s: unsupported rank %d or name too long", name, ndim);
        return -1;
    }
    if (sk_tset_find(s, name) >= 0) {
        sk_err(SK_EINVAL, "duplicate tensor name %s", name);
        return -1;
    }
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        sk_tensor *nt = sk_alloc_n((size_t)cap, sizeof *nt);
        if (!nt) return -1;
        if (s->n) memcpy(nt, s->t, (size_t)s->n * sizeof *nt);
        sk_free(s->t);
        s->t = nt;
        s->cap = cap;
    }
    t = &s->t[s->n];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            sk_err(SK_EINVAL, "tensor %s: negative dimension", name);
            return -1;
        }
        t->shape[d] = shape[d];
        t->numel *= shape[d];
    }
    t->offset = s->numel;
    s->numel += t->numel;
    return s->n++;
}

sk_status sk_tset_alloc(sk_tset *s)
{
    if (s->block) return SK_OK;
    s->block = sk_alloc_n((size_t)(s->numel ? s->numel : 1), sizeof(float));
    if (!s->block) return SK_ENOMEM;
    for (int i = 0; i < s->n; i++)
        s->t[i].data = s->block + s->t[i].offset;
    return SK_OK;
}

sk_tset *sk_tset_like(const sk_tset *s)
{
    sk_tset *d = sk_tset_new();
    if (!d) return NULL;
    for (int i = 0; i < s->n; i++) {
        if (sk_tset_add(d, s->t[i].name, s->t[i].ndim, s->t[i].shape) < 0) goto fail;
        d->t[i].is_buffer = s->t[i].is_buffer;
    }
    if (sk_tset_alloc(d) != SK_OK) goto fail;
    return d;
fail:
    sk_tset_free(d);
    return NULL;
}

sk_tset *sk_tset_clone(const sk_tset *s)
{
    sk_tset *d = sk_tset_like(s);
    if (d && s->block) memcpy(d->block, s->block, (size_t)s->numel * sizeof(float));
    return d;
}

int sk_tset_same_layout(const sk_tset *a, const sk_tset *b)
{
    if (a->n != b->n || a->numel != b->numel) return 0;
    for (int i = 0; i < a->n; i++) {
        if (strcmp(a->t[i].name, b->t[i].name) || a->t[i].ndim != b->t[i].ndim) return 0;
        for (int d = 0; d < a->t[i].ndim; d++)
            if (a->t[i].shape[d] != b->t[i].shape[d]) return 0;
    }
    return 1;
}

sk_status sk_tset_copy(sk_tset *dst, const sk_tset *src)
{
    if (!sk_tset_same_layout(dst, src)) return sk_err(SK_EINVAL, "sk_tset_copy: layouts differ");
    memcpy(dst->block, src->block, (size_t)src->numel * sizeof(float));
    return SK_OK;
}

void sk_tensor_describe(const sk_tensor *t, char *buf, int n)
{
    int k = snprintf(buf, (size_t)n, "%s (", t->name);
    for (int d = 0; d < t->ndim && k < n; d++)
        k += snprintf(buf + k, (size_t)(n - k), d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (k < n) snprintf(buf + k, (size_t)(n - k), ")");
}
