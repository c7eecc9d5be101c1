/* h5w_weights.c - reading, writing and loading weights files (format in
 * h5w.h; the HDF5 plumbing is in h5util.c). */
#include "io/h5w.h"

#include <float.h>
#include <math.h>
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

/* ---- reading: the scan (in the reading child) ---------------------------- */

/* What the scan learns of one root dataset, before any data is read. */
typedef struct {
    int ndim;
    int64_t shape[SK_MAXDIM];
    H5T_class_t cls;
    size_t esz; /* bytes per value in the file */
} h5w_ds;

typedef struct {
    sk_h5u_links L; /* root datasets and links */
    h5w_ds *d;      /* per L.ds[i] */
    char *skip;     /* per L.ds[i]: an integer num_batches_tracked, not a tensor */
    int *order, n_order;
} h5w_scan;

static void scan_free(h5w_scan *sc)
{
    sk_h5u_links_free(&sc->L);
    sk_free(sc->d);
    sk_free(sc->skip);
    sk_free(sc->order);
    memset(sc, 0, sizeof *sc);
}

/* Every root dataset's type and shape, checked against what the file can
 * hold (sk_h5u_ds_check_size, and the sum over all datasets), and the
 * order. Reads no data. */
static sk_status scan_file(hid_t fid, const char *path, int64_t fsize, h5w_scan *sc)
{
    sk_status st;
    hid_t ds = H5I_INVALID_HID, ftype = H5I_INVALID_HID;
    double plain = 0, packed = 0;
    memset(sc, 0, sizeof *sc);
    if ((st = sk_h5u_walk(fid, path, 0, &sc->L)) != SK_OK) return st;
    sc->d = sk_alloc_n((size_t)(sc->L.n ? sc->L.n : 1), sizeof *sc->d);
    sc->skip = sk_alloc((size_t)(sc->L.n ? sc->L.n : 1));
    if (!sc->d || !sc->skip) return SK_ENOMEM;
    for (int i = 0; i < sc->L.n; i++) {
        const char *name = sc->L.ds[i];
        h5w_ds *d = &sc->d[i];
        int64_t raw = 0;
        int compressed = 0;
        if ((st = sk_h5u_open_dataset(fid, path, name, &ds, &ftype)) != SK_OK) goto cleanup;
        d->cls = H5Tget_class(ftype);
        d->esz = H5Tget_size(ftype);
        if (d->cls == H5T_INTEGER && is_nbt(name)) {
            sc->skip[i] = 1;
        } else if (d->cls != H5T_FLOAT && d->cls != H5T_INTEGER) {
            st = sk_err(SK_EFORMAT, "%s: dataset %s: expected float data, found %s", path, name,
                        sk_h5u_class_name(d->cls));
            goto cleanup;
        } else {
            if (strlen(name) >= SK_NAME_MAX) {
                st = sk_err(SK_EFORMAT, "%s: dataset name %s is too long (max %d characters)", path, name,
                            SK_NAME_MAX - 1);
                goto cleanup;
            }
            if ((st = sk_h5u_ds_shape(ds, path, name, SK_MAXDIM, &d->ndim, d->shape)) != SK_OK ||
                (st = sk_h5u_ds_check_size(ds, ftype, path, name, d->ndim, d->shape, fsize, &raw, &compressed)) !=
                    SK_OK)
                goto cleanup;
            *(compressed ? &packed : &plain) += (double)raw;
        }
        CLOSE_ID(H5Tclose, ftype);
        CLOSE_ID(H5Dclose, ds);
    }
    if (plain > (double)fsize || packed > H5W_MAX_RATIO * (double)fsize) {
        char decl[32], have[32];
        sk_h5u_bytes_str(plain + packed, decl, sizeof decl);
        sk_h5u_bytes_str((double)fsize, have, sizeof have);
        st = sk_err(SK_EFORMAT,
                    "%s: the datasets declare %s in all, more than the file (%s) holds (datasets sharing "
                    "their data, or a corrupt file)",
                    path, decl, have);
        goto cleanup;
    }
    st = sk_h5u_order(fid, path, "param_order", &sc->L, sc->skip, &sc->order, &sc->n_order);
cleanup:
    CLOSE_ID(H5Tclose, ftype);
    CLOSE_ID(H5Dclose, ds);
    return st;
}

/* A string attribute that must be text (it may end up on a terminal). */
static sk_status read_text_attr(hid_t fid, const char *path, const char *name, char **out)
{
    sk_status st = sk_h5u_attr_read_text(fid, path, name, out);
    if (st == SK_OK && *out && !sk_h5u_is_text(*out, strlen(*out))) {
        sk_free(*out);
        *out = NULL;
        st = sk_err(SK_EFORMAT, "%s: attribute %s is not UTF-8 text (a corrupt file?)", path, name);
    }
    return st;
}

/* ---- sk_h5w_read_attr --------------------------------------------------- */

typedef struct {
    const char *name;
    char **value;
} h5w_attr_arg;

static sk_status attr_child(sk_h5u_chan *ch, void *arg)
{
    h5w_attr_arg *a = arg;
    const char *path = sk_h5u_chan_path(ch);
    hid_t fid = H5I_INVALID_HID;
    char *text = NULL;
    sk_status st = sk_h5u_open_read(path, &fid);
    if (st != SK_OK) return st;
    if ((st = read_text_attr(fid, path, a->name, &text)) == SK_OK) sk_h5u_put_str(ch, text);
    CLOSE_ID(H5Fclose, fid);
    sk_free(text);
    return st;
}

static sk_status attr_parent(sk_h5u_chan *ch, void *arg)
{
    h5w_attr_arg *a = arg;
    return sk_h5u_get_str(ch, a->value, H5W_MAX_ATTR_BYTES);
}

sk_status sk_h5w_read_attr(const char *path, const char *name, char **value)
{
    h5w_attr_arg a = {name, value};
    *value = NULL;
    if (!name) return sk_err(SK_EINVAL, "sk_h5w_read_attr: NULL name");
    return sk_h5u_isolated(path, attr_child, attr_parent, &a);
}

/* Sending one tensor's values as float32, converted and checked. */
typedef struct {
    sk_h5u_chan *ch;
    const char *path, *name, *model_name; /* model_name: when renamed, else NULL */
    H5T_class_t cls;
    int is_double; /* read as double: float64 (or wider) and integers */
    int finite;    /* refuse NaN and infinities */
} h5w_tx;

/* No NaN or infinity among f[0..n) (all exponent bits set); a loop the
 * compiler vectorises, the element is looked for only when there is one. */
static int all_finite(const float *f, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, f + i, sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

static sk_status tx_block(void *vals, size_t n, int64_t first, void *ud)
{
    h5w_tx *tx = ud;
    float *f = vals;
    if (tx->is_double) { /* in place: float i lies below double i (memcpy: no type punning) */
        for (size_t i = 0; i < n; i++) {
            double x;
            float y;
            memcpy(&x, (const char *)vals + i * sizeof x, sizeof x);
            if (tx->cls == H5T_INTEGER && fabs(x) > 16777216.0)
                return sk_err(SK_EFORMAT,
                              "%s: dataset %s: integer %.0f at index %lld is not exactly representable as "
                              "float32 (integer data are converted only up to 2^24 = 16777216 in magnitude)",
                              tx->path, tx->name, x, (long long)(first + (int64_t)i));
            if (tx->cls != H5T_INTEGER && isfinite(x) && fabs(x) > FLT_MAX)
                return sk_err(SK_EFORMAT,
                              "%s: dataset %s: value %g at index %lld is beyond the float32 range "
                              "(float64 data are converted to float32)",
                              tx->path, tx->name, x, (long long)(first + (int64_t)i));
            y = (float)x;
            memcpy((char *)vals + i * sizeof y, &y, sizeof y);
        }
    }
    for (size_t i = 0; tx->finite && !all_finite(f, n) && i < n; i++) {
        if (isfinite(f[i])) continue;
        char also[SK_NAME_MAX + 32] = "";
        if (tx->model_name) snprintf(also, sizeof also, " (the model's %s)", tx->model_name);
        return sk_err(SK_EFORMAT,
                      "%s: tensor %s%s has %s at index %lld\nHINT: weights with NaN or infinite values cannot be "
                      "aligned or interpolated (did the training that wrote them diverge?)",
                      tx->path, tx->name, also,
                      isnan(f[i])     ? "a NaN"
                      : signbit(f[i]) ? "an infinity (-inf)"
                                      : "an infinity (+inf)",
                      (long long)(first + (int64_t)i));
    }
    sk_h5u_put(tx->ch, f, n * sizeof *f);
    return SK_OK;
}

static sk_status send_tensor(sk_h5u_chan *ch, hid_t fid, const char *path, const char *name, const h5w_ds *d,
                             const char *model_name, int finite)
{
    sk_status st;
    hid_t ds;
    h5w_tx tx = {ch, path, name, model_name, d->cls, d->cls != H5T_FLOAT || d->esz > 4, finite};
    if ((ds = H5Dopen2(fid, name, H5P_DEFAULT)) < 0) return sk_h5u_corrupt(path, name);
    st = sk_h5u_read_blocks(ds, path, name, tx.is_double ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, tx_block, &tx, ch);
    H5Dclose(ds);
    return st;
}

/* ---- sk_h5w_read -------------------------------------------------------- */

typedef struct {
    sk_tset **out;
    char **arch_yaml;
} h5w_read_arg;

/* The child: the header (count; per tensor its name, rank, dims and buffer
 * flag), the arch text, then every tensor's values in order. */
static sk_status read_child(sk_h5u_chan *ch, void *arg)
{
    h5w_read_arg *a = arg;
    const char *path = sk_h5u_chan_path(ch);
    sk_status st;
    hid_t fid = H5I_INVALID_HID;
    h5w_scan sc;
    char *arch = NULL;
    memset(&sc, 0, sizeof sc);
    if ((st = sk_h5u_open_read(path, &fid)) != SK_OK) return st;
    if ((st = sk_h5u_check_format(fid, path, SK_H5W_FORMAT)) != SK_OK ||
        (st = scan_file(fid, path, sk_h5u_chan_size(ch), &sc)) != SK_OK ||
        (a->arch_yaml && (st = read_text_attr(fid, path, "arch", &arch)) != SK_OK))
        goto cleanup;
    sk_h5u_put_u64(ch, (uint64_t)sc.n_order);
    for (int k = 0; k < sc.n_order; k++) {
        const h5w_ds *d = &sc.d[sc.order[k]];
        const char *name = sc.L.ds[sc.order[k]];
        sk_h5u_put_str(ch, name);
        sk_h5u_put_u64(ch, (uint64_t)d->ndim);
        for (int j = 0; j < d->ndim; j++)
            sk_h5u_put_u64(ch, (uint64_t)d->shape[j]);
        sk_h5u_put_u64(ch, (uint64_t)(ends_with(name, "running_mean") || ends_with(name, "running_var")));
    }
    sk_h5u_put_str(ch, arch);
    for (int k = 0; k < sc.n_order; k++)
        if ((st = send_tensor(ch, fid, path, sc.L.ds[sc.order[k]], &sc.d[sc.order[k]], NULL, 0)) != SK_OK) goto cleanup;
cleanup:
    sk_free(arch);
    scan_free(&sc);
    CLOSE_ID(H5Fclose, fid);
    return st;
}

/* The parent: the same, trusting nothing it was sent to be in bounds. */
static sk_status read_parent(sk_h5u_chan *ch, void *arg)
{
    h5w_read_arg *a = arg;
    sk_status st;
    uint64_t n, v;
    int64_t fsize = sk_h5u_chan_size(ch);
    sk_tset *s = sk_tset_new();
    char *name = NULL, *arch = NULL;
    if (!s) return SK_ENOMEM;
    if ((st = sk_h5u_get_u64(ch, &n, (uint64_t)fsize < INT32_MAX ? (uint64_t)fsize : INT32_MAX)) != SK_OK) goto cleanup;
    for (uint64_t k = 0; k < n; k++) {
        int64_t shape[SK_MAXDIM];
        int ndim, j;
        if ((st = sk_h5u_get_str(ch, &name, SK_NAME_MAX - 1)) != SK_OK ||
            (st = sk_h5u_get_u64(ch, &v, SK_MAXDIM)) != SK_OK)
            goto cleanup;
        ndim = (int)v;
        for (int d = 0; d < ndim; d++) {
            if ((st = sk_h5u_get_u64(ch, &v, (uint64_t)H5W_MAX_NUMEL)) != SK_OK) goto cleanup;
            shape[d] = (int64_t)v;
        }
        if (!name || (j = sk_tset_add(s, name, ndim, shape)) < 0) {
            st = sk_h5u_bad_result(ch, "a malformed tensor list");
            goto cleanup;
        }
        if ((st = sk_h5u_get_u64(ch, &v, 1)) != SK_OK) goto cleanup;
        s->t[j].is_buffer = (int)v;
        free(name);
        name = NULL;
        /* No more values than the file can hold (1 byte each at least). */
        if (s->numel > H5W_MAX_NUMEL || (double)s->numel > (1.0 + H5W_MAX_RATIO) * (double)fsize) {
            st = sk_h5u_bad_result(ch, "more values than the file can hold");
            goto cleanup;
        }
    }
    if ((st = sk_h5u_get_str(ch, &arch, H5W_MAX_ATTR_BYTES)) != SK_OK) goto cleanup;
    if ((st = sk_tset_alloc(s)) != SK_OK) {
        st = sk_err_prefix(st, "%s: ", sk_h5u_chan_path(ch));
        goto cleanup;
    }
    if (s->numel && (st = sk_h5u_get(ch, s->block, (size_t)s->numel * sizeof(float))) != SK_OK) goto cleanup;
    *a->out = s;
    s = NULL;
    if (a->arch_yaml) {
        *a->arch_yaml = arch;
        arch = NULL;
    }
cleanup:
    sk_tset_free(s);
    free(name);
    free(arch);
    return st;
}

sk_status sk_h5w_read(const char *path, sk_tset **out, char **arch_yaml)
{
    h5w_read_arg a = {out, arch_yaml};
    if (out) *out = NULL;
    if (arch_yaml) *arch_yaml = NULL;
    if (!out) return sk_err(SK_EINVAL, "sk_h5w_read: NULL output");
    return sk_h5u_isolated(path, read_child, read_parent, &a);
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

/* One sk_h5w_load_into_ex (in the reading child): the file's tensors (their
 * names and shapes, no data), how they pair with the model's, and the
 * report of what does not match. */
typedef struct {
    const char *path;
    h5w_scan *sc; /* the scan of the file */
    hid_t fid;
    sk_tset *f;                  /* the file's tensors, unallocated: names and shapes */
    int *f_ds;                   /* per f tensor: its index in sc->L.ds */
    char *arch;                  /* the file's arch attribute (read for a report), or NULL */
    char (*mapped)[SK_NAME_MAX]; /* f's names after renaming */
    char *used;                  /* per rename pair: applied to some name */
    char *scratch;               /* as used, for links (which do not count as uses) */
    char *matched;               /* per file tensor: a model tensor has its name */
    int *where;                  /* per model tensor: the file tensor with its name, -1 when none */
    int n_match;                 /* model tensors found with the right shape */
    sk_strbuf sb;                /* the mismatch report */
    const char *const *rename;
    int n_rename;
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
/* Is the model's tensor `name` a soft or external link in the file (after
 * renaming)? Then what it is, in what. */
static int link_for(h5w_load *ld, const char *name, char *what, size_t n)
{
    const sk_h5u_links *L = &ld->sc->L;
    for (int k = 0; k < L->n_lk; k++) {
        char mapped[SK_NAME_MAX];
        if (L->lk[k].kind == 2) continue;
        if (rename_one(ld->rename, ld->n_rename, L->lk[k].name, mapped, sizeof mapped, ld->scratch) != SK_OK) {
            sk_err_clear(); /* a name too long to rename: not this one */
            continue;
        }
        if (strcmp(mapped, name) == 0) {
            sk_h5u_link_what(&L->lk[k], what, n);
            return 1;
        }
    }
    return 0;
}

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
            char what[1024];
            if (link_for(ld, t->name, what, sizeof what))
                cat_line(&miss, "%s %s: %s", t->name, ms, what);
            else
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
    if (ld->sc->L.n_groups > 0 && ld->f->n == 0)
        sk_strbuf_appendf(sb,
                          "\n  the file keeps its datasets in groups (%s/...); sinkrb reads datasets "
                          "at the root, named like the PyTorch state_dict keys",
                          ld->sc->L.first_group);
    /* The arch the file was written for, when it can be read. */
    if (read_text_attr(ld->fid, ld->path, "arch", &ld->arch) != SK_OK) sk_err_clear();
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

typedef struct {
    sk_tset *model;
    const char *const *rename;
    int n_rename;
    const char *model_desc;
    float *buf; /* the parent's scratch copy of the values, in model order */
} h5w_load_arg;

/* The child: scan the file, pair its tensors with the model's by name and
 * shape (no data read yet), report a mismatch, else send the model's
 * tensors' values in model order, checked to be finite. */
static sk_status load_child(sk_h5u_chan *ch, void *arg)
{
    h5w_load_arg *a = arg;
    const sk_tset *model = a->model;
    const char *path = sk_h5u_chan_path(ch);
    sk_status st;
    h5w_scan sc;
    h5w_load ld;
    int n_f;
    memset(&sc, 0, sizeof sc);
    memset(&ld, 0, sizeof ld);
    ld.path = path;
    ld.sc = &sc;
    ld.fid = H5I_INVALID_HID;
    ld.rename = a->rename;
    ld.n_rename = a->n_rename;
    if ((st = sk_h5u_open_read(path, &ld.fid)) != SK_OK) return st;
    if ((st = sk_h5u_check_format(ld.fid, path, SK_H5W_FORMAT)) != SK_OK ||
        (st = scan_file(ld.fid, path, sk_h5u_chan_size(ch), &sc)) != SK_OK)
        goto cleanup;
    n_f = sc.n_order;
    ld.f = sk_tset_new();
    ld.f_ds = sk_alloc_n((size_t)(n_f ? n_f : 1), sizeof *ld.f_ds);
    ld.mapped = sk_alloc_n((size_t)(n_f ? n_f : 1), sizeof *ld.mapped);
    ld.matched = sk_alloc((size_t)(n_f ? n_f : 1));
    ld.used = sk_alloc((size_t)(a->n_rename ? a->n_rename : 1));
    ld.scratch = sk_alloc((size_t)(a->n_rename ? a->n_rename : 1));
    ld.where = sk_alloc_n((size_t)(model->n ? model->n : 1), sizeof *ld.where);
    if (!ld.f || !ld.f_ds || !ld.mapped || !ld.matched || !ld.used || !ld.scratch || !ld.where) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int k = 0; k < n_f; k++) {
        int i = sc.order[k];
        if (sk_tset_add(ld.f, sc.L.ds[i], sc.d[i].ndim, sc.d[i].shape) < 0) {
            st = sk_err_prefix(SK_EFORMAT, "%s: ", path);
            goto cleanup;
        }
        ld.f_ds[k] = i;
    }
    if ((st = rename_all(&ld, a->rename, a->n_rename)) != SK_OK) goto cleanup;
    sk_strbuf_appendf(&ld.sb, "%s: weights do not match the configured model%s%s%s:", path, a->model_desc ? " (" : "",
                      a->model_desc ? a->model_desc : "", a->model_desc ? ")" : "");
    if (match_tensors(&ld, model) != 0) {
        explain_mismatch(&ld, model, a->rename, a->n_rename);
        st = sk_err(SK_EFORMAT, "%s",
                    ld.sb.err != SK_OK ? "weights do not match the model (out of memory describing how)"
                                       : sk_strbuf_str(&ld.sb));
        goto cleanup;
    }
    for (int m = 0; m < model->n; m++) {
        int i = ld.f_ds[ld.where[m]];
        const char *fname = sc.L.ds[i];
        if (model->t[m].numel == 0) continue;
        st = send_tensor(ch, ld.fid, path, fname, &sc.d[i], strcmp(fname, model->t[m].name) ? model->t[m].name : NULL,
                         1);
        if (st != SK_OK) goto cleanup;
    }
cleanup:
    CLOSE_ID(H5Fclose, ld.fid);
    scan_free(&sc);
    sk_strbuf_free(&ld.sb);
    sk_tset_free(ld.f);
    sk_free(ld.f_ds);
    sk_free(ld.arch);
    sk_free(ld.mapped);
    sk_free(ld.matched);
    sk_free(ld.used);
    sk_free(ld.scratch);
    sk_free(ld.where);
    return st;
}

/* The parent: the values into a scratch copy, copied into the model by
 * sk_h5w_load_into_ex once all of them arrived and the child is gone (its
 * pages are no longer shared, so writing the model costs no copy-on-write). */
static sk_status load_parent(sk_h5u_chan *ch, void *arg)
{
    h5w_load_arg *a = arg;
    if (a->model->numel == 0) return SK_OK;
    /* malloc: no need to zero what is overwritten next */
    if (!(a->buf = malloc((size_t)a->model->numel * sizeof *a->buf)))
        return sk_err(SK_ENOMEM, "%s: out of memory", sk_h5u_chan_path(ch));
    return sk_h5u_get(ch, a->buf, (size_t)a->model->numel * sizeof *a->buf);
}

sk_status sk_h5w_load_into_ex(const char *path, sk_tset *model, const char *const *rename, int n_rename,
                              const char *model_desc)
{
    sk_status st;
    h5w_load_arg a = {model, rename, n_rename, model_desc, NULL};
    int64_t off = 0;
    sk_h5u_quiet();
    if (!path || !model) return sk_err(SK_EINVAL, "sk_h5w_load_into: NULL argument");
    if (model->n > 0 && !model->block) return sk_err(SK_EINVAL, "%s: the model's tensor set is not allocated", path);
    if ((st = check_renames(path, rename, n_rename)) != SK_OK) return st;
    st = sk_h5u_isolated(path, load_child, load_parent, &a);
    for (int m = 0; st == SK_OK && m < model->n; m++) {
        if (model->t[m].numel) memcpy(model->t[m].data, a.buf + off, (size_t)model->t[m].numel * sizeof *a.buf);
        off += model->t[m].numel;
    }
    free(a.buf);
    return st;
}

sk_status sk_h5w_load_into(const char *path, sk_tset *model, const char *const *rename, int n_rename)
{
    return sk_h5w_load_into_ex(path, model, rename, n_rename, NULL);
}
