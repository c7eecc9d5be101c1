/* h5w_weights.c - reading, writing and loading weights files (format in
 * h5w.h; the HDF5 plumbing is in h5util.c). */
#include "io/h5w.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/strbuf.h"
#include "io/atomic.h"
#include "io/h5util.h"

#define H5W_LIST_CAP 8 /* lines per category in mismatch reports */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int is_nbt(const char *name)
{
    return ends_with(name, "num_batches_tracked");
}

/* ---- weights ------------------------------------------------------------ */

sk_status sk_h5w_write(const char *path, const sk_tset *params, const char *arch_yaml)
{
    return sk_h5w_write_ex(path, params, arch_yaml, NULL, 0);
}

sk_status sk_h5w_read_attr(const char *path, const char *name, char **value)
{
    hid_t fid = H5I_INVALID_HID;
    char *text = NULL;
    *value = NULL;
    sk_h5u_quiet();
    sk_status st = sk_h5u_open_read(path, &fid);
    if (st != SK_OK) return st;
    st = sk_h5u_attr_read_text(fid, path, name, &text);
    CLOSE_ID(H5Fclose, fid);
    if (st == SK_OK && text) {
        *value = strdup(text);
        if (!*value) st = sk_err(SK_ENOMEM, "%s: out of memory", path);
    }
    sk_free(text);
    return st;
}

/* About the size of the file: data, names, attributes, HDF5's overhead. */
static size_t h5w_size_hint(const sk_tset *params, const char *arch_yaml, const char *const *attrs, int n_attrs)
{
    size_t n = (size_t)params->numel * sizeof(float) + (size_t)params->n * 600 + 4096;
    if (arch_yaml) n += strlen(arch_yaml);
    for (int i = 0; i < 2 * n_attrs; i++)
        n += strlen(attrs[i]) + 64;
    return n;
}

sk_status sk_h5w_write_ex(const char *path, const sk_tset *params, const char *arch_yaml, const char *const *attrs,
                          int n_attrs)
{
    sk_status st = SK_OK;
    hid_t fid = H5I_INVALID_HID, space = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    char tmp[SK_PATH_MAX] = "";
    sk_strbuf order = SK_STRBUF_INIT;
    sk_h5u_quiet();
    if (!path || !params) return sk_err(SK_EINVAL, "sk_h5w_write: NULL argument");
    if (params->n > 0 && !params->block) return sk_err(SK_EINVAL, "%s: tensor set is not allocated", path);
    for (int i = 0; i < params->n; i++) {
        if ((st = sk_h5u_check_name(path, params->t[i].name)) != SK_OK) return st;
        sk_strbuf_appendf(&order, "%s%s", i ? "\n" : "", params->t[i].name);
    }
    if (order.err != SK_OK) {
        st = sk_err(SK_ENOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    if ((st = sk_h5u_create_tmp(path, h5w_size_hint(params, arch_yaml, attrs, n_attrs), tmp, sizeof tmp, &fid)) !=
        SK_OK)
        goto cleanup;
    if ((st = sk_h5u_attr_write_str(fid, path, "format", SK_H5W_FORMAT)) != SK_OK ||
        (st = sk_h5u_attr_write_int(fid, path, "format_version", SK_H5W_VERSION)) != SK_OK ||
        (st = sk_h5u_attr_write_str(fid, path, "param_order", sk_strbuf_str(&order))) != SK_OK)
        goto cleanup;
    if (arch_yaml && (st = sk_h5u_attr_write_str(fid, path, "arch", arch_yaml)) != SK_OK) goto cleanup;
    for (int i = 0; i < n_attrs; i++)
        if ((st = sk_h5u_attr_write_str(fid, path, attrs[2 * i], attrs[2 * i + 1])) != SK_OK) goto cleanup;
    for (int i = 0; i < params->n; i++) {
        const sk_tensor *t = &params->t[i];
        hsize_t dims[SK_MAXDIM];
        for (int d = 0; d < t->ndim; d++)
            dims[d] = (hsize_t)t->shape[d];
        space = t->ndim ? H5Screate_simple(t->ndim, dims, NULL) : H5Screate(H5S_SCALAR);
        if (space < 0) goto fail;
        ds = H5Dcreate2(fid, t->name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (ds < 0) goto fail;
        if (t->numel > 0 && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0) goto fail;
        CLOSE_ID(H5Dclose, ds);
        CLOSE_ID(H5Sclose, space);
        continue;
    fail:
        st = sk_h5u_fail(SK_EIO, path, "cannot write dataset %s", t->name);
        goto cleanup;
    }
    st = sk_h5u_commit(path, tmp, &fid);
    tmp[0] = '\0'; /* sk_h5u_commit removed or renamed it */
cleanup:
    CLOSE_ID(H5Dclose, ds);
    CLOSE_ID(H5Sclose, space);
    CLOSE_ID(H5Fclose, fid);
    if (st != SK_OK && tmp[0]) unlink(tmp);
    sk_strbuf_free(&order);
    return st;
}

/* sk_h5w_read, also reporting the root groups (for load_into's message). */
static sk_status h5w_read(const char *path, sk_tset **out, char **arch_yaml, int *n_groups, char *first_group,
                          size_t fg_n)
{
    sk_status st = SK_OK;
    hid_t fid = H5I_INVALID_HID, ds = H5I_INVALID_HID, ftype = H5I_INVALID_HID;
    sk_h5u_links L = {0};
    char *skip = NULL, *arch = NULL;
    int *order = NULL, n_order = 0;
    sk_tset *s = NULL;
    int64_t(*shapes)[SK_MAXDIM] = NULL;
    int *ndims = NULL;

    if (out) *out = NULL;
    if (arch_yaml) *arch_yaml = NULL;
    if (!out) return sk_err(SK_EINVAL, "sk_h5w_read: NULL output");
    if ((st = sk_h5u_open_read(path, &fid)) != SK_OK) return st;
    if ((st = sk_h5u_check_format(fid, path, SK_H5W_FORMAT)) != SK_OK) goto cleanup;
    if ((st = sk_h5u_walk(fid, path, 0, &L)) != SK_OK) goto cleanup;
    if (n_groups) *n_groups = L.n_groups;
    if (first_group) snprintf(first_group, fg_n, "%s", L.first_group);
    skip = sk_alloc((size_t)(L.n ? L.n : 1));
    shapes = sk_alloc_n((size_t)(L.n ? L.n : 1), sizeof *shapes);
    ndims = sk_alloc_n((size_t)(L.n ? L.n : 1), sizeof *ndims);
    if (!skip || !shapes || !ndims) {
        st = SK_ENOMEM;
        goto cleanup;
    }

    /* Pass 1: types and shapes. */
    for (int i = 0; i < L.n; i++) {
        const char *name = L.ds[i];
        H5T_class_t cls;
        if ((st = sk_h5u_open_dataset(fid, path, name, &ds, &ftype)) != SK_OK) goto cleanup;
        cls = H5Tget_class(ftype);
        if (cls == H5T_INTEGER && is_nbt(name)) {
            skip[i] = 1;
        } else if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
            st =
                sk_err(SK_EFORMAT, "%s: dataset %s: expected float data, found %s", path, name, sk_h5u_class_name(cls));
            goto cleanup;
        } else {
            if (strlen(name) >= SK_NAME_MAX) {
                st = sk_err(SK_EFORMAT, "%s: dataset name %s is too long (max %d characters)", path, name,
                            SK_NAME_MAX - 1);
                goto cleanup;
            }
            if ((st = sk_h5u_ds_shape(ds, path, name, SK_MAXDIM, &ndims[i], shapes[i])) != SK_OK) goto cleanup;
        }
        CLOSE_ID(H5Tclose, ftype);
        CLOSE_ID(H5Dclose, ds);
    }
    if ((st = sk_h5u_order(fid, path, "param_order", L.ds, L.n, skip, &order, &n_order)) != SK_OK) goto cleanup;

    /* Pass 2: the set, then the data. */
    if (!(s = sk_tset_new())) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int k = 0; k < n_order; k++) {
        int i = order[k];
        int j = sk_tset_add(s, L.ds[i], ndims[i], shapes[i]);
        if (j < 0) {
            st = sk_err_prefix(SK_EFORMAT, "%s: ", path);
            goto cleanup;
        }
        s->t[j].is_buffer = ends_with(L.ds[i], "running_mean") || ends_with(L.ds[i], "running_var");
    }
    if (s->numel > H5W_MAX_NUMEL) {
        st = sk_err(SK_EFORMAT, "%s: implausibly many values (%lld)", path, (long long)s->numel);
        goto cleanup;
    }
    if ((st = sk_tset_alloc(s)) != SK_OK) goto cleanup;
    for (int j = 0; j < s->n; j++) {
        sk_tensor *t = &s->t[j];
        if (t->numel == 0) continue;
        if ((ds = H5Dopen2(fid, t->name, H5P_DEFAULT)) < 0 ||
            H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0) {
            st = sk_h5u_corrupt(path, t->name);
            goto cleanup;
        }
        CLOSE_ID(H5Dclose, ds);
    }
    if ((st = sk_h5u_attr_read_text(fid, path, "arch", &arch)) != SK_OK) goto cleanup;
    *out = s;
    s = NULL;
    if (arch_yaml) {
        *arch_yaml = arch;
        arch = NULL;
    }
cleanup:
    CLOSE_ID(H5Tclose, ftype);
    CLOSE_ID(H5Dclose, ds);
    CLOSE_ID(H5Fclose, fid);
    sk_h5u_links_free(&L);
    sk_tset_free(s);
    sk_free(skip);
    sk_free(shapes);
    sk_free(ndims);
    sk_free(order);
    sk_free(arch);
    return st;
}

sk_status sk_h5w_read(const char *path, sk_tset **out, char **arch_yaml)
{
    return h5w_read(path, out, arch_yaml, NULL, NULL, 0);
}

/* Map a file name through the rename pairs (exact first, then the longest
 * matching '*' prefix). used[k] is set for the pair applied. */
static sk_status rename_one(const char *const *rn, int n, const char *name, char *out, size_t cap, char *used)
{
    int best = -1;
    size_t best_len = 0;
    for (int k = 0; k < n; k++) {
        if (!ends_with(rn[2 * k], "*") && strcmp(rn[2 * k], name) == 0) {
            best = k;
            break;
        }
    }
    if (best < 0) {
        for (int k = 0; k < n; k++) {
            size_t len = strlen(rn[2 * k]);
            if (len > 0 && rn[2 * k][len - 1] == '*' && strncmp(rn[2 * k], name, len - 1) == 0 &&
                (best < 0 || len - 1 > best_len)) {
                best = k;
                best_len = len - 1;
            }
        }
    }
    if (best < 0) {
        snprintf(out, cap, "%s", name);
        return SK_OK;
    }
    used[best] = 1;
    const char *to = rn[2 * best + 1];
    int k;
    if (ends_with(rn[2 * best], "*"))
        k = snprintf(out, cap, "%.*s%s", (int)(strlen(to) - 1), to, name + best_len);
    else
        k = snprintf(out, cap, "%s", to);
    if (k < 0 || (size_t)k >= cap)
        return sk_err(SK_EINVAL, "rename of %s gives a name longer than %zu characters", name, cap - 1);
    return SK_OK;
}

/* Append "  <label> line" entries, capped, to a report. */
typedef struct {
    sk_strbuf *sb;
    int shown, total;
    const char *label;
} h5w_cat;

static void cat_line(h5w_cat *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cat_line(h5w_cat *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    c->total++;
    if (c->shown >= H5W_LIST_CAP) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    sk_strbuf_appendf(c->sb, "\n  %-9s %s", c->label, line);
    c->shown++;
}

static void cat_done(h5w_cat *c)
{
    if (c->total > c->shown) sk_strbuf_appendf(c->sb, "\n  %-9s ... and %d more", c->label, c->total - c->shown);
}

/* One sk_h5w_load_into_ex: the file's tensors, how they pair with the
 * model's, and the report of what does not match. */
typedef struct {
    const char *path;
    sk_tset *f;   /* the file's tensors */
    char *arch;   /* its arch attribute, or NULL */
    int n_groups; /* groups at its root */
    char first_group[SK_NAME_MAX];
    char (*mapped)[SK_NAME_MAX]; /* f's names after renaming */
    char *used;                  /* per rename pair: applied to some name */
    char *matched;               /* per file tensor: a model tensor has its name */
    int *where;                  /* per model tensor: the file tensor with its name, -1 when none */
    int n_match;                 /* model tensors found with the right shape */
    sk_strbuf sb;                /* the mismatch report */
} h5w_load;

/* Pairs of non-NULL names, '*' ending both sides or neither. */
static sk_status check_renames(const char *path, const char *const *rename, int n_rename)
{
    if (n_rename < 0 || (n_rename > 0 && !rename)) return sk_err(SK_EINVAL, "%s: bad rename list", path);
    for (int k = 0; k < n_rename; k++) {
        if (!rename[2 * k] || !rename[2 * k + 1])
            return sk_err(SK_EINVAL, "%s: rename pair %d has a NULL name", path, k);
        if (ends_with(rename[2 * k], "*") != ends_with(rename[2 * k + 1], "*"))
            return sk_err(SK_EINVAL,
                          "%s: rename %s -> %s: both sides or neither must end in "
                          "'*'",
                          path, rename[2 * k], rename[2 * k + 1]);
    }
    return SK_OK;
}

/* ld->mapped and ld->used; two file tensors must not end up with one name. */
static sk_status rename_all(h5w_load *ld, const char *const *rename, int n_rename)
{
    const sk_tset *f = ld->f;
    sk_status st;
    for (int i = 0; i < f->n; i++) {
        if ((st = rename_one(rename, n_rename, f->t[i].name, ld->mapped[i], SK_NAME_MAX, ld->used)) != SK_OK)
            return sk_err_prefix(st, "%s: ", ld->path);
        for (int j = 0; j < i; j++)
            if (strcmp(ld->mapped[i], ld->mapped[j]) == 0)
                return sk_err(SK_EFORMAT, "%s: after renaming, both %s and %s are named %s", ld->path, f->t[j].name,
                              f->t[i].name, ld->mapped[i]);
    }
    return SK_OK;
}

/* Pair every model tensor with the file's tensor of the same (mapped) name,
 * listing the missing, wrongly shaped and extra ones in ld->sb. Returns how
 * many there are (0: the file fits the model). */
static int match_tensors(h5w_load *ld, const sk_tset *model)
{
    const sk_tset *f = ld->f;
    h5w_cat miss = {&ld->sb, 0, 0, "missing:"}, shp = {&ld->sb, 0, 0, "shape:"}, extra = {&ld->sb, 0, 0, "extra:"};
    for (int m = 0; m < model->n; m++) {
        const sk_tensor *t = &model->t[m];
        char ms[160], fs[160];
        int i = 0, bad;
        while (i < f->n && strcmp(ld->mapped[i], t->name) != 0)
            i++;
        ld->where[m] = i < f->n ? i : -1;
        sk_h5u_shape_str(t->ndim, t->shape, ms, sizeof ms);
        if (i == f->n) {
            cat_line(&miss, "%s %s", t->name, ms);
            continue;
        }
        ld->matched[i] = 1;
        bad = t->ndim != f->t[i].ndim;
        for (int d = 0; !bad && d < t->ndim; d++)
            bad = t->shape[d] != f->t[i].shape[d];
        if (bad) {
            sk_h5u_shape_str(f->t[i].ndim, f->t[i].shape, fs, sizeof fs);
            if (strcmp(f->t[i].name, t->name) != 0)
                cat_line(&shp, "%s expected %s, file has %s (as %s)", t->name, ms, fs, f->t[i].name);
            else
                cat_line(&shp, "%s expected %s, file has %s", t->name, ms, fs);
        } else {
            ld->n_match++;
        }
    }
    cat_done(&miss);
    cat_done(&shp);
    for (int i = 0; i < f->n; i++) {
        char fs[160];
        if (ld->matched[i] || is_nbt(ld->mapped[i])) continue;
        sk_h5u_shape_str(f->t[i].ndim, f->t[i].shape, fs, sizeof fs);
        if (strcmp(f->t[i].name, ld->mapped[i]) != 0)
            cat_line(&extra, "%s %s (renamed from %s)", ld->mapped[i], fs, f->t[i].name);
        else
            cat_line(&extra, "%s %s", ld->mapped[i], fs);
    }
    cat_done(&extra);
    return miss.total + shp.total + extra.total;
}

/* The end of a mismatch report: unused renames, counts, and what the file
 * says about itself (datasets kept in groups, the arch it was written for). */
static void explain_mismatch(h5w_load *ld, const sk_tset *model, const char *const *rename, int n_rename)
{
    sk_strbuf *sb = &ld->sb;
    h5w_cat unused = {sb, 0, 0, "rename:"};
    for (int k = 0; k < n_rename; k++)
        if (!ld->used[k])
            cat_line(&unused, "%s -> %s is unused (no such name in the file)", rename[2 * k], rename[2 * k + 1]);
    cat_done(&unused);
    sk_strbuf_appendf(sb, "\n  the model has %d tensors, the file %d; %d match", model->n, ld->f->n, ld->n_match);
    if (ld->n_groups > 0 && ld->f->n == 0)
        sk_strbuf_appendf(sb,
                          "\n  the file keeps its datasets in groups (%s/...); sinkrb reads datasets "
                          "at the root, named like the PyTorch state_dict keys",
                          ld->first_group);
    if (ld->arch && ld->arch[0]) {
        char *line = ld->arch;
        int k = 0;
        sk_strbuf_appendf(sb, "\n  the file was written for:");
        while (line && *line && k < 8) {
            char *nl = strchr(line, '\n');
            sk_strbuf_appendf(sb, "\n    %.*s", nl ? (int)(nl - line) : (int)strlen(line), line);
            line = nl ? nl + 1 : NULL;
            k++;
        }
        if (line && *line) sk_strbuf_appendf(sb, "\n    ...");
    }
    sk_strbuf_appendf(sb,
                      "\nHINT: check the model section of the config against the file "
                      "(sinkrb info %s), or map the file's names onto the model's with models.a.rename / "
                      "models.b.rename (e.g. [\"module.*=*\"])",
                      ld->path);
}

sk_status sk_h5w_load_into_ex(const char *path, sk_tset *model, const char *const *rename, int n_rename,
                              const char *model_desc)
{
    sk_status st = SK_OK;
    h5w_load ld = {0};
    const sk_tset *f;

    sk_h5u_quiet();
    if (!path || !model) return sk_err(SK_EINVAL, "sk_h5w_load_into: NULL argument");
    if (model->n > 0 && !model->block) return sk_err(SK_EINVAL, "%s: the model's tensor set is not allocated", path);
    if ((st = check_renames(path, rename, n_rename)) != SK_OK) return st;
    ld.path = path;
    if ((st = h5w_read(path, &ld.f, &ld.arch, &ld.n_groups, ld.first_group, sizeof ld.first_group)) != SK_OK) return st;
    f = ld.f;
    ld.mapped = sk_alloc_n((size_t)(f->n ? f->n : 1), sizeof *ld.mapped);
    ld.matched = sk_alloc((size_t)(f->n ? f->n : 1));
    ld.used = sk_alloc((size_t)(n_rename ? n_rename : 1));
    ld.where = sk_alloc_n((size_t)(model->n ? model->n : 1), sizeof *ld.where);
    if (!ld.mapped || !ld.matched || !ld.used || !ld.where) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    if ((st = rename_all(&ld, rename, n_rename)) != SK_OK) goto cleanup;

    sk_strbuf_appendf(&ld.sb, "%s: weights do not match the configured model%s%s%s:", path, model_desc ? " (" : "",
                      model_desc ? model_desc : "", model_desc ? ")" : "");
    if (match_tensors(&ld, model) == 0) {
        for (int m = 0; m < model->n; m++)
            if (model->t[m].numel)
                memcpy(model->t[m].data, f->t[ld.where[m]].data, (size_t)model->t[m].numel * sizeof(float));
        goto cleanup;
    }
    explain_mismatch(&ld, model, rename, n_rename);
    st = sk_err(SK_EFORMAT, "%s",
                ld.sb.err != SK_OK ? "weights do not match the model (out of memory "
                                     "describing how)"
                                   : sk_strbuf_str(&ld.sb));
cleanup:
    sk_strbuf_free(&ld.sb);
    sk_tset_free(ld.f);
    sk_free(ld.arch);
    sk_free(ld.mapped);
    sk_free(ld.matched);
    sk_free(ld.used);
    sk_free(ld.where);
    return st;
}

sk_status sk_h5w_load_into(const char *path, sk_tset *model, const char *const *rename, int n_rename)
{
    return sk_h5w_load_into_ex(path, model, rename, n_rename, NULL);
}
