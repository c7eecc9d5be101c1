/* spec.c - permutation specs derived from the model definition, and applying
 * permutations to parameter sets. */
#include "rebasin/spec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"

/* ---- building ------------------------------------------------------------ */

typedef struct {
    sk_perm_spec *s;
    const sk_tset *params;
    const sk_model *m;
    sk_status st;
} builder;

static int new_group(builder *b, const char *name, int64_t size)
{
    sk_perm_spec *s = b->s;
    sk_perm_group *ng = sk_alloc_n((size_t)s->n_groups + 1, sizeof *ng);
    if (!ng) {
        b->st = SK_ENOMEM;
        return -1;
    }
    if (s->n_groups) memcpy(ng, s->groups, (size_t)s->n_groups * sizeof *ng);
    sk_free(s->groups);
    s->groups = ng;
    sk_perm_group *g = &s->groups[s->n_groups];
    snprintf(g->name, sizeof g->name, "%s", name);
    g->size = size;
    g->tap = -1;
    if (b->m)
        for (int i = 0; i < sk_model_n_taps(b->m); i++)
            if (strcmp(sk_model_tap(b->m, i).name, name) == 0) g->tap = i;
    return s->n_groups++;
}

/* Add tensor `name` (which must exist) on `axis` to group g. */
static void add_ref(builder *b, int g, const char *name, int axis)
{
    if (b->st != SK_OK || g < 0) return;
    int p = sk_tset_find(b->params, name);
    sk_perm_group *grp = &b->s->groups[g];
    if (p < 0) {
        b->st = sk_err(SK_EINVAL, "permutation spec: tensor %s not in the model", name);
        return;
    }
    const sk_tensor *t = &b->params->t[p];
    if (axis >= t->ndim || t->shape[axis] % grp->size != 0) {
        b->st = sk_err(SK_EINVAL, "permutation spec: %s axis %d does not hold %lld units of group %s", name, axis,
                       (long long)grp->size, grp->name);
        return;
    }
    if (grp->n_refs == SK_PERM_MAX_REFS) {
        b->st = sk_err(SK_EINVAL, "permutation spec: group %s has too many tensors", grp->name);
        return;
    }
    grp->refs[grp->n_refs].param = p;
    grp->refs[grp->n_refs].axis = axis;
    grp->refs[grp->n_refs].block = t->shape[axis] / grp->size;
    grp->n_refs++;
}

/* Every tensor of module `prefix` (prefix.weight, .bias, .running_mean,
 * .running_var -- whichever exist) on `axis`. */
static void add_module(builder *b, int g, const char *prefix, int axis)
{
    static const char *sfx[] = {"weight", "bias", "running_mean", "running_var"};
    char nm[SK_NAME_MAX + 16];
    int found = 0;
    for (int i = 0; i < 4; i++) {
        snprintf(nm, sizeof nm, "%s.%s", prefix, sfx[i]);
        if (sk_tset_find(b->params, nm) >= 0) {
            add_ref(b, g, nm, axis);
            found = 1;
        }
    }
    if (!found && b->st == SK_OK) b->st = sk_err(SK_EINVAL, "permutation spec: module %s not in the model", prefix);
}

static int64_t out_units(builder *b, const char *module)
{
    char nm[SK_NAME_MAX + 16];
    snprintf(nm, sizeof nm, "%s.weight", module);
    const sk_tensor *t = sk_tset_get(b->params, nm);
    if (!t) {
        if (b->st == SK_OK) b->st = sk_err(SK_EINVAL, "permutation spec: %s not in the model", nm);
        return 1;
    }
    return t->shape[0];
}

static void build_mlp(builder *b, const sk_model_spec *ms)
{
    char nm[64], w[80];
    for (int i = 0; i < ms->n_hidden && b->st == SK_OK; i++) {
        snprintf(nm, sizeof nm, "layers.%d", i);
        int g = new_group(b, nm, out_units(b, nm));
        add_module(b, g, nm, 0);
        if (ms->norm != SK_MNORM_NONE) { /* the norm after hidden layer i (weight, bias, running stats) */
            snprintf(nm, sizeof nm, "norms.%d", i);
            add_module(b, g, nm, 0);
        }
        snprintf(w, sizeof w, "layers.%d.weight", i + 1);
        add_ref(b, g, w, 1);
    }
}

/* VGG: the torchvision Sequential numbering the model builder uses
 * (conv, [norm], relu per conv; one index per max pool). */
static void build_vgg(builder *b, const sk_model_spec *ms)
{
    const int *c = sk_vgg_layers(ms->arch);
    char nm[64], w[80];
    int idx = 0, prev = -1;
    for (int j = 0; c[j] >= 0 && b->st == SK_OK; j++) {
        if (c[j] == 0) {
            idx++;
            continue;
        }
        int conv = idx++;
        snprintf(nm, sizeof nm, "features.%d", conv);
        if (prev >= 0) {
            snprintf(w, sizeof w, "features.%d.weight", conv);
            add_ref(b, prev, w, 1);
        }
        int g = new_group(b, nm, out_units(b, nm));
        add_module(b, g, nm, 0);
        if (ms->norm != SK_MNORM_NONE) {
            snprintf(nm, sizeof nm, "features.%d", idx++);
            add_module(b, g, nm, 0);
        }
        idx++; /* relu */
        prev = g;
    }
    if (b->st != SK_OK) return;
    if (ms->vgg_head == SK_VGGHEAD_LINEAR) {
        add_ref(b, prev, "classifier.weight", 1); /* blocks of H*W columns */
        return;
    }
    add_ref(b, prev, "classifier.0.weight", 1);
    int g0 = new_group(b, "classifier.0", out_units(b, "classifier.0"));
    add_module(b, g0, "classifier.0", 0);
    add_ref(b, g0, "classifier.2.weight", 1);
    int g2 = new_group(b, "classifier.2", out_units(b, "classifier.2"));
    add_module(b, g2, "classifier.2", 0);
    add_ref(b, g2, "classifier.4.weight", 1);
}

/* ResNet20: one group per residual stream (a new stream starts wherever a
 * block has a projection shortcut) and one inner group per block. */
static void build_resnet(builder *b)
{
    char pre[32], nm[64], w[80];
    int stream = new_group(b, "conv1", out_units(b, "conv1"));
    add_module(b, stream, "conv1", 0);
    add_module(b, stream, "bn1", 0);
    for (int s = 1; s <= 3 && b->st == SK_OK; s++) {
        for (int bl = 0; bl < 3 && b->st == SK_OK; bl++) {
            snprintf(pre, sizeof pre, "layer%d.%d", s, bl);
            snprintf(nm, sizeof nm, "%s.shortcut.0.weight", pre);
            int has_sc = sk_tset_find(b->params, nm) >= 0;
            /* Readers of the incoming stream. */
            snprintf(w, sizeof w, "%s.conv1.weight", pre);
            add_ref(b, stream, w, 1);
            if (has_sc) {
                add_ref(b, stream, nm, 1);
                /* The block writes a new stream, named after it. */
                snprintf(nm, sizeof nm, "%s.shortcut.0", pre);
                stream = new_group(b, pre, out_units(b, nm));
                add_module(b, stream, nm, 0);
                snprintf(nm, sizeof nm, "%s.shortcut.1", pre);
                add_module(b, stream, nm, 0);
            }
            /* The block's inner units. */
            snprintf(nm, sizeof nm, "%s.conv1", pre);
            int inner = new_group(b, nm, out_units(b, nm));
            add_module(b, inner, nm, 0);
            snprintf(nm, sizeof nm, "%s.bn1", pre);
            add_module(b, inner, nm, 0);
            snprintf(w, sizeof w, "%s.conv2.weight", pre);
            add_ref(b, inner, w, 1);
            /* Writers into the stream. */
            snprintf(nm, sizeof nm, "%s.conv2", pre);
            add_module(b, stream, nm, 0);
            snprintf(nm, sizeof nm, "%s.bn2", pre);
            add_module(b, stream, nm, 0);
        }
    }
    add_ref(b, stream, "fc.weight", 1);
}

sk_status sk_perm_spec_build(const sk_model_spec *ms, const sk_tset *params, const sk_model *m, sk_perm_spec **out)
{
    builder b = {NULL, params, m, SK_OK};
    b.s = sk_alloc(sizeof *b.s);
    if (!b.s) return SK_ENOMEM;
    switch (ms->arch) {
    case SK_ARCH_MLP:
        build_mlp(&b, ms);
        break;
    case SK_ARCH_VGG11:
    case SK_ARCH_VGG13:
    case SK_ARCH_VGG16:
    case SK_ARCH_VGG19:
        build_vgg(&b, ms);
        break;
    case SK_ARCH_RESNET20:
        build_resnet(&b);
        break;
    case SK_ARCH_COUNT:
        b.st = sk_err(SK_EINVAL, "sk_perm_spec_build: unknown architecture");
        break;
    }
    if (b.st == SK_OK && m && ms->arch == SK_ARCH_RESNET20) {
        /* Stream groups are observed at the post-addition activation of the
         * last block that writes them (the stem's when no block does). */
        for (int g = 0; g < b.s->n_groups; g++) {
            sk_perm_group *grp = &b.s->groups[g];
            if (strstr(grp->name, ".conv1")) continue; /* inner groups have their own tap */
            int best = grp->tap;
            for (int r = 0; r < grp->n_refs; r++) {
                const char *pn = params->t[grp->refs[r].param].name;
                if (grp->refs[r].axis != 0 || !strstr(pn, ".bn2.")) continue;
                char blk[32];
                snprintf(blk, sizeof blk, "%.*s", (int)(strstr(pn, ".bn2.") - pn), pn);
                for (int i = 0; i < sk_model_n_taps(m); i++)
                    if (strcmp(sk_model_tap(m, i).name, blk) == 0) best = i;
            }
            grp->tap = best;
        }
    }
    if (b.st == SK_OK) {
        sk_perm_spec *s = b.s;
        s->n_params = params->n;
        s->axis_group = sk_alloc_n((size_t)params->n * SK_MAXDIM, sizeof(int));
        s->axis_block = sk_alloc_n((size_t)params->n * SK_MAXDIM, sizeof(int64_t));
        if (!s->axis_group || !s->axis_block) b.st = SK_ENOMEM;
        for (int i = 0; b.st == SK_OK && i < params->n * SK_MAXDIM; i++)
            s->axis_group[i] = -1;
        for (int g = 0; b.st == SK_OK && g < s->n_groups; g++)
            for (int r = 0; r < s->groups[g].n_refs; r++) {
                const sk_perm_ref *ref = &s->groups[g].refs[r];
                int k = ref->param * SK_MAXDIM + ref->axis;
                if (s->axis_group[k] >= 0) {
                    b.st = sk_err(SK_EINVAL, "permutation spec: %s axis %d claimed by groups %s and %s",
                                  params->t[ref->param].name, ref->axis, s->groups[s->axis_group[k]].name,
                                  s->groups[g].name);
                    break;
                }
                s->axis_group[k] = g;
                s->axis_block[k] = ref->block;
            }
    }
    if (b.st != SK_OK) {
        sk_perm_spec_free(b.s);
        return b.st;
    }
    *out = b.s;
    return SK_OK;
}

void sk_perm_spec_free(sk_perm_spec *s)
{
    if (!s) return;
    sk_free(s->groups);
    sk_free(s->axis_group);
    sk_free(s->axis_block);
    sk_free(s);
}

/* ---- applying ------------------------------------------------------------- */

/* out = in re-indexed along `axis` (shape dims): out[o][i][r] = in[o][src(i)][r]
 * with src(i) = p[i / block] * block + i % block. */
static void gather_axis(const sk_tensor *t, int axis, int64_t block, const int64_t *p, const float *in, float *out)
{
    int64_t outer = 1, inner = 1, mid = t->shape[axis];
    for (int d = 0; d < axis; d++)
        outer *= t->shape[d];
    for (int d = axis + 1; d < t->ndim; d++)
        inner *= t->shape[d];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < mid; i++) {
            int64_t src = p[i / block] * block + i % block;
            memcpy(out + (o * mid + i) * inner, in + (o * mid + src) * inner, (size_t)inner * sizeof(float));
        }
}

void sk_perm_apply_tensor(const sk_perm_spec *s, const int64_t *const *perms, const sk_tensor *t, int param,
                          int skip_axis, const float *in, float *out, float *work)
{
    int axes[SK_MAXDIM], n = 0;
    for (int a = 0; a < t->ndim; a++)
        if (a != skip_axis && s->axis_group[param * SK_MAXDIM + a] >= 0) axes[n++] = a;
    if (n == 0) {
        memcpy(out, in, (size_t)t->numel * sizeof(float));
        return;
    }
    /* Chain through work so that the last gather lands in out. */
    const float *src = in;
    for (int k = 0; k < n; k++) {
        float *dst = ((n - 1 - k) % 2 == 0) ? out : work;
        int a = axes[k], g = s->axis_group[param * SK_MAXDIM + a];
        gather_axis(t, a, s->axis_block[param * SK_MAXDIM + a], perms[g], src, dst);
        src = dst;
    }
}

sk_status sk_perm_apply(const sk_perm_spec *s, const int64_t *const *perms, const sk_tset *in, sk_tset *out)
{
    int64_t maxn = 0;
    if (in->n != s->n_params || !sk_tset_same_layout(in, out))
        return sk_err(SK_EINVAL, "sk_perm_apply: parameter layout does not match the spec");
    for (int i = 0; i < in->n; i++)
        if (in->t[i].numel > maxn) maxn = in->t[i].numel;
    float *work = sk_alloc_n((size_t)maxn + 1, sizeof(float));
    if (!work) return SK_ENOMEM;
    for (int i = 0; i < in->n; i++)
        sk_perm_apply_tensor(s, perms, &in->t[i], i, -1, in->t[i].data, out->t[i].data, work);
    sk_free(work);
    return SK_OK;
}

void sk_perm_unit_rows(const sk_tensor *t, int axis, int64_t block, const float *src, float *dst)
{
    /* src viewed as (outer, units, block, inner); dst as (units, outer, block, inner). */
    int64_t outer = 1, inner = 1, units = t->shape[axis] / block;
    for (int d = 0; d < axis; d++)
        outer *= t->shape[d];
    for (int d = axis + 1; d < t->ndim; d++)
        inner *= t->shape[d];
    int64_t run = block * inner; /* contiguous elements of one unit in one outer slice */
    for (int64_t u = 0; u < units; u++)
        for (int64_t o = 0; o < outer; o++)
            memcpy(dst + (u * outer + o) * run, src + (o * units + u) * run, (size_t)run * sizeof(float));
}

int64_t **sk_perms_identity(const sk_perm_spec *s)
{
    int64_t **p = sk_alloc_n((size_t)s->n_groups + 1, sizeof *p);
    if (!p) return NULL;
    for (int g = 0; g < s->n_groups; g++) {
        p[g] = sk_alloc_n((size_t)s->groups[g].size, sizeof(int64_t));
        if (!p[g]) {
            sk_perms_free(s, p);
            return NULL;
        }
        for (int64_t i = 0; i < s->groups[g].size; i++)
            p[g][i] = i;
    }
    return p;
}

int64_t **sk_perms_random(const sk_perm_spec *s, sk_rng *rng)
{
    int64_t **p = sk_perms_identity(s);
    for (int g = 0; p && g < s->n_groups; g++)
        sk_rng_permutation(rng, p[g], s->groups[g].size);
    return p;
}

int64_t **sk_perms_inverse(const sk_perm_spec *s, int64_t *const *perms)
{
    int64_t **q = sk_perms_identity(s);
    for (int g = 0; q && g < s->n_groups; g++)
        for (int64_t i = 0; i < s->groups[g].size; i++)
            q[g][perms[g][i]] = i;
    return q;
}

void sk_perms_free(const sk_perm_spec *s, int64_t **perms)
{
    if (!perms) return;
    for (int g = 0; g < s->n_groups; g++)
        sk_free(perms[g]);
    sk_free(perms);
}

void sk_params_randomize(sk_tset *p, sk_rng *r)
{
    for (int i = 0; i < p->n; i++) {
        sk_tensor *t = &p->t[i];
        if (strstr(t->name, "running_var")) {
            for (int64_t k = 0; k < t->numel; k++)
                t->data[k] = 0.5f + (float)sk_rng_uniform(r);
        } else if (t->ndim >= 2) {
            double sd = sqrt(2.0 * (double)t->shape[0] / (double)t->numel);
            for (int64_t k = 0; k < t->numel; k++)
                t->data[k] = (float)(sd * sk_rng_normal(r));
        } else if (strstr(t->name, "running_mean")) {
            for (int64_t k = 0; k < t->numel; k++)
                t->data[k] = 0.3f * (float)sk_rng_normal(r);
        } else if (strstr(t->name, "bias")) {
            for (int64_t k = 0; k < t->numel; k++)
                t->data[k] = 0.05f * (float)sk_rng_normal(r);
        } else { /* norm weights */
            for (int64_t k = 0; k < t->numel; k++)
                t->data[k] = 1.0f + 0.3f * (float)sk_rng_normal(r);
        }
    }
}

sk_status sk_perm_spec_verify(sk_model *m, const sk_perm_spec *s, const float *x, int N, sk_rng *rng, double *max_rel)
{
    const sk_model_spec *ms = sk_model_get_spec(m);
    sk_tset *params = sk_tset_like(sk_model_params(m));
    sk_tset *perm = sk_tset_like(sk_model_params(m));
    int64_t **p = sk_perms_random(s, rng);
    int64_t n_out = (int64_t)N * ms->n_out;
    float *ref = sk_alloc_n((size_t)n_out, sizeof(float));
    sk_status st = SK_OK;
    if (!params || !perm || !p || !ref) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    sk_params_randomize(params, rng);
    st = sk_perm_apply(s, (const int64_t *const *)p, params, perm);
    if (st != SK_OK) goto cleanup;
    memcpy(ref, sk_model_forward(m, params, x, N, 0, rng), (size_t)n_out * sizeof(float));
    const float *out = sk_model_forward(m, perm, x, N, 0, rng);
    double scale = 0.0, diff = 0.0;
    for (int64_t i = 0; i < n_out; i++) {
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
        double d = fabs((double)ref[i] - (double)out[i]);
        if (!(d <= diff)) diff = d; /* NaN propagates */
    }
    *max_rel = diff / (scale > 0 ? scale : 1.0);
cleanup:
    sk_tset_free(params);
    sk_tset_free(perm);
    sk_perms_free(s, p);
    sk_free(ref);
    return st;
}
