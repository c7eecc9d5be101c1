/* h5w_weights.c - writing and reading weights files (format in h5w.h;
 * loading into a model is in h5w_load.c, the HDF5 plumbing is declared in
 * h5util.h). */
#include "io/h5w.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/strbuf.h"
#include "io/atomic.h"
#include "io/h5util.h"
#include "io/h5w_impl.h"

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

void h5w_scan_free(h5w_scan *sc)
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
sk_status h5w_scan_file(hid_t fid, const char *path, int64_t fsize, h5w_scan *sc)
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
sk_status h5w_read_text_attr(hid_t fid, const char *path, const char *name, char **out)
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
    if ((st = h5w_read_text_attr(fid, path, a->name, &text)) == SK_OK) sk_h5u_put_str(ch, text);
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

sk_status h5w_send_tensor(sk_h5u_chan *ch, hid_t fid, const char *path, const char *name, const h5w_ds *d,
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
        (st = h5w_scan_file(fid, path, sk_h5u_chan_size(ch), &sc)) != SK_OK ||
        (a->arch_yaml && (st = h5w_read_text_attr(fid, path, "arch", &arch)) != SK_OK))
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
        if ((st = h5w_send_tensor(ch, fid, path, sc.L.ds[sc.order[k]], &sc.d[sc.order[k]], NULL, 0)) != SK_OK)
            goto cleanup;
cleanup:
    sk_free(arch);
    h5w_scan_free(&sc);
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
