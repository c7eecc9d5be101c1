/* h5w_perms.c - permutation files (format in h5w.h; the HDF5 plumbing is
 * declared in h5util.h). */
#include "io/h5w.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/strbuf.h"
#include "io/atomic.h"
#include "io/h5util.h"

/* ---- permutations ------------------------------------------------------- */

/* SK_OK when p is a permutation of 0..n-1, else `code` with a message naming
 * the first offending entry. seen: n bytes of scratch. */
static sk_status perm_check(sk_status code, const char *path, const char *name, const int64_t *p, int64_t n, char *seen)
{
    memset(seen, 0, (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= n || seen[p[i]])
            return sk_err(code, "%s: %s is not a permutation of 0..%lld (entry %lld = %lld)", path, name,
                          (long long)n - 1, (long long)i, (long long)p[i]);
        seen[p[i]] = 1;
    }
    return SK_OK;
}

sk_status sk_h5w_write_perms(const char *path, int n, const char *const *names, const int64_t *const *perms,
                             const int64_t *sizes)
{
    sk_status st = SK_OK;
    hid_t fid = H5I_INVALID_HID, space = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    char tmp[SK_PATH_MAX] = "", *seen = NULL;
    sk_strbuf order = SK_STRBUF_INIT;
    int64_t maxn = 1;
    sk_h5u_quiet();
    if (!path || n < 0 || (n > 0 && (!names || !perms || !sizes)))
        return sk_err(SK_EINVAL, "sk_h5w_write_perms: bad arguments");
    for (int g = 0; g < n; g++) {
        if ((st = sk_h5u_check_name(path, names[g])) != SK_OK) goto cleanup;
        if (sizes[g] < 0 || sizes[g] > INT32_MAX || (sizes[g] > 0 && !perms[g])) {
            st = sk_err(SK_EINVAL, "%s: permutation %s: bad size %lld", path, names[g], (long long)sizes[g]);
            goto cleanup;
        }
        for (int h = 0; h < g; h++)
            if (strcmp(names[g], names[h]) == 0) {
                st = sk_err(SK_EINVAL, "%s: permutation group %s given twice", path, names[g]);
                goto cleanup;
            }
        if (sizes[g] > maxn) maxn = sizes[g];
        sk_strbuf_appendf(&order, "%s%s", g ? "\n" : "", names[g]);
    }
    if (order.err != SK_OK || !(seen = sk_alloc((size_t)maxn))) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int g = 0; g < n; g++)
        if ((st = perm_check(SK_EINVAL, path, names[g], perms[g], sizes[g], seen)) != SK_OK) goto cleanup;
    size_t hint = 4096 + (size_t)n * 600 + order.len;
    for (int g = 0; g < n; g++)
        hint += (size_t)sizes[g] * sizeof(int64_t);
    if ((st = sk_h5u_create_tmp(path, hint, tmp, sizeof tmp, &fid)) != SK_OK) goto cleanup;
    if ((st = sk_h5u_attr_write_str(fid, path, "format", SK_H5W_PERM_FORMAT)) != SK_OK ||
        (st = sk_h5u_attr_write_int(fid, path, "format_version", SK_H5W_VERSION)) != SK_OK ||
        (st = sk_h5u_attr_write_str(fid, path, "perm_order", sk_strbuf_str(&order))) != SK_OK)
        goto cleanup;
    for (int g = 0; g < n; g++) {
        hsize_t dim = (hsize_t)sizes[g];
        if ((space = H5Screate_simple(1, &dim, NULL)) < 0 ||
            (ds = H5Dcreate2(fid, names[g], H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
            (dim > 0 && H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, perms[g]) < 0)) {
            st = sk_h5u_fail(SK_EIO, path, "cannot write dataset %s", names[g]);
            goto cleanup;
        }
        CLOSE_ID(H5Dclose, ds);
        CLOSE_ID(H5Sclose, space);
    }
    st = sk_h5u_commit(path, tmp, &fid);
    tmp[0] = '\0';
cleanup:
    CLOSE_ID(H5Dclose, ds);
    CLOSE_ID(H5Sclose, space);
    CLOSE_ID(H5Fclose, fid);
    if (st != SK_OK && tmp[0]) unlink(tmp);
    sk_strbuf_free(&order);
    sk_free(seen);
    return st;
}

void sk_h5w_perms_free(int n, char **names, int64_t **perms, int64_t *sizes)
{
    for (int g = 0; g < n; g++) {
        if (names) sk_free(names[g]);
        if (perms) sk_free(perms[g]);
    }
    sk_free(names);
    sk_free(perms);
    sk_free(sizes);
}

sk_status sk_h5w_perms_read_open(hid_t fid, const char *path, int64_t fsize, int *n, char ***names, int64_t ***perms,
                                 int64_t **sizes)
{
    sk_status st = SK_OK;
    hid_t ds = H5I_INVALID_HID, ftype = H5I_INVALID_HID;
    sk_h5u_links L = {0};
    int *order = NULL, n_order = 0, ng = 0;
    char **nm = NULL, *seen = NULL;
    int64_t **pm = NULL, *sz = NULL;
    double total = 0;

    *n = 0;
    *names = NULL;
    *perms = NULL;
    *sizes = NULL;
    if ((st = sk_h5u_check_format(fid, path, SK_H5W_PERM_FORMAT)) != SK_OK) goto cleanup;
    if ((st = sk_h5u_walk(fid, path, 0, &L)) != SK_OK) goto cleanup;
    if ((st = sk_h5u_order(fid, path, "perm_order", &L, NULL, &order, &n_order)) != SK_OK) goto cleanup;
    nm = sk_alloc_n((size_t)(n_order ? n_order : 1), sizeof *nm);
    pm = sk_alloc_n((size_t)(n_order ? n_order : 1), sizeof *pm);
    sz = sk_alloc_n((size_t)(n_order ? n_order : 1), sizeof *sz);
    if (!nm || !pm || !sz) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (ng = 0; ng < n_order; ng++) {
        const char *name = L.ds[order[ng]];
        int ndim = 0, compressed = 0;
        int64_t shape[1] = {0}, raw = 0;
        if (!(nm[ng] = sk_strdup(name))) {
            st = SK_ENOMEM;
            goto cleanup;
        }
        if ((st = sk_h5u_open_dataset(fid, path, name, &ds, &ftype)) != SK_OK) goto cleanup;
        if (H5Tget_class(ftype) != H5T_INTEGER) {
            st = sk_err(SK_EFORMAT, "%s: permutation %s: expected integer data, found %s", path, name,
                        sk_h5u_class_name(H5Tget_class(ftype)));
            goto cleanup;
        }
        if ((st = sk_h5u_ds_shape(ds, path, name, 1, &ndim, shape)) != SK_OK) goto cleanup;
        if (ndim != 1 || shape[0] > INT32_MAX) {
            st = sk_err(SK_EFORMAT, "%s: permutation %s: expected a vector", path, name);
            goto cleanup;
        }
        if ((st = sk_h5u_ds_check_size(ds, ftype, path, name, ndim, shape, fsize, &raw, &compressed)) != SK_OK)
            goto cleanup;
        total += (double)shape[0];
        if (total > (1.0 + H5W_MAX_RATIO) * (double)fsize) {
            st = sk_err(SK_EFORMAT, "%s: the permutations declare more entries than the file holds (a corrupt file?)",
                        path);
            goto cleanup;
        }
        sz[ng] = shape[0];
        if (!(pm[ng] = sk_alloc_n((size_t)(sz[ng] ? sz[ng] : 1), sizeof(int64_t))) ||
            !(seen = sk_alloc((size_t)(sz[ng] ? sz[ng] : 1)))) {
            st = SK_ENOMEM;
            goto cleanup;
        }
        if (sz[ng] > 0 && H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, pm[ng]) < 0) {
            st = sk_h5u_corrupt(path, name);
            goto cleanup;
        }
        if ((st = perm_check(SK_EFORMAT, path, name, pm[ng], sz[ng], seen)) != SK_OK) goto cleanup;
        sk_free(seen);
        seen = NULL;
        CLOSE_ID(H5Tclose, ftype);
        CLOSE_ID(H5Dclose, ds);
    }
    *n = n_order;
    *names = nm;
    *perms = pm;
    *sizes = sz;
    nm = NULL;
    pm = NULL;
    sz = NULL;
cleanup:
    CLOSE_ID(H5Tclose, ftype);
    CLOSE_ID(H5Dclose, ds);
    if (nm || pm || sz) sk_h5w_perms_free(n_order, nm, pm, sz); /* zero-filled: safe */
    sk_free(seen);
    sk_free(order);
    sk_h5u_links_free(&L);
    return st;
}

typedef struct {
    int *n;
    char ***names;
    int64_t ***perms;
    int64_t **sizes;
} h5w_perms_arg;

/* The child: the count, then per group its name, size and entries. */
static sk_status perms_child(sk_h5u_chan *ch, void *arg)
{
    const char *path = sk_h5u_chan_path(ch);
    hid_t fid = H5I_INVALID_HID;
    int n = 0;
    char **nm = NULL;
    int64_t **pm = NULL, *sz = NULL;
    sk_status st;
    (void)arg;
    if ((st = sk_h5u_open_read(path, &fid)) != SK_OK) return st;
    if ((st = sk_h5w_perms_read_open(fid, path, sk_h5u_chan_size(ch), &n, &nm, &pm, &sz)) == SK_OK) {
        sk_h5u_put_u64(ch, (uint64_t)n);
        for (int g = 0; g < n; g++) {
            sk_h5u_put_str(ch, nm[g]);
            sk_h5u_put_u64(ch, (uint64_t)sz[g]);
            sk_h5u_put(ch, pm[g], (size_t)sz[g] * sizeof(int64_t));
        }
    }
    sk_h5w_perms_free(n, nm, pm, sz);
    CLOSE_ID(H5Fclose, fid);
    return st;
}

/* The parent: the same, bounded by the file's size and checked again. */
static sk_status perms_parent(sk_h5u_chan *ch, void *arg)
{
    h5w_perms_arg *a = arg;
    const char *path = sk_h5u_chan_path(ch);
    int64_t fsize = sk_h5u_chan_size(ch);
    sk_status st;
    uint64_t n = 0, v;
    int g = 0;
    double total = 0;
    char **nm = NULL, *seen = NULL;
    int64_t **pm = NULL, *sz = NULL;
    if ((st = sk_h5u_get_u64(ch, &n, (uint64_t)fsize < INT32_MAX ? (uint64_t)fsize : INT32_MAX)) != SK_OK) return st;
    nm = sk_alloc_n((size_t)(n ? n : 1), sizeof *nm);
    pm = sk_alloc_n((size_t)(n ? n : 1), sizeof *pm);
    sz = sk_alloc_n((size_t)(n ? n : 1), sizeof *sz);
    if (!nm || !pm || !sz) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (g = 0; g < (int)n; g++) {
        if ((st = sk_h5u_get_str(ch, &nm[g], 65536)) != SK_OK || (st = sk_h5u_get_u64(ch, &v, INT32_MAX)) != SK_OK)
            goto cleanup;
        total += (double)v;
        if (!nm[g] || total > (1.0 + H5W_MAX_RATIO) * (double)fsize) {
            st = sk_h5u_bad_result(ch, "malformed permutations");
            goto cleanup;
        }
        sz[g] = (int64_t)v;
        if (!(pm[g] = sk_alloc_n((size_t)(v ? v : 1), sizeof(int64_t))) || !(seen = sk_alloc((size_t)(v ? v : 1)))) {
            st = SK_ENOMEM;
            goto cleanup;
        }
        if ((st = sk_h5u_get(ch, pm[g], (size_t)v * sizeof(int64_t))) != SK_OK ||
            (st = perm_check(SK_EFORMAT, path, nm[g], pm[g], sz[g], seen)) != SK_OK)
            goto cleanup;
        sk_free(seen);
        seen = NULL;
    }
    *a->n = (int)n;
    *a->names = nm;
    *a->perms = pm;
    *a->sizes = sz;
    nm = NULL;
    pm = NULL;
    sz = NULL;
cleanup:
    if (nm || pm || sz) sk_h5w_perms_free((int)n, nm, pm, sz); /* zero-filled: safe */
    sk_free(seen);
    return st;
}

sk_status sk_h5w_read_perms(const char *path, int *n, char ***names, int64_t ***perms, int64_t **sizes)
{
    h5w_perms_arg a = {n, names, perms, sizes};
    if (!n || !names || !perms || !sizes) return sk_err(SK_EINVAL, "sk_h5w_read_perms: NULL output");
    *n = 0;
    *names = NULL;
    *perms = NULL;
    *sizes = NULL;
    return sk_h5u_isolated(path, perms_child, perms_parent, &a);
}
