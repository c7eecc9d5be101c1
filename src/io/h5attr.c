/* h5attr.c - attributes: writing strings and integers, reading text and
 * integers within bounds (variable-length strings: their lengths before
 * their text), and the format check. Every function closes every HDF5 id it
 * opens on every path (one cleanup label each). */
#include "io/h5util.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "io/h5w.h"

/* ---- attributes --------------------------------------------------------- */

sk_status sk_h5u_attr_write_str(hid_t loc, const char *path, const char *name, const char *val)
{
    sk_status st = SK_OK;
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    type = H5Tcopy(H5T_C_S1);
    if (type < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0) goto fail;
    if ((space = H5Screate(H5S_SCALAR)) < 0) goto fail;
    if ((attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT)) < 0) goto fail;
    if (H5Awrite(attr, type, &val) < 0) goto fail;
    goto cleanup;
fail:
    st = sk_h5u_fail(SK_EIO, path, "cannot write attribute %s", name);
cleanup:
    CLOSE_ID(H5Aclose, attr);
    CLOSE_ID(H5Sclose, space);
    CLOSE_ID(H5Tclose, type);
    return st;
}

sk_status sk_h5u_attr_write_int(hid_t loc, const char *path, const char *name, int64_t val)
{
    sk_status st = SK_OK;
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    if ((space = H5Screate(H5S_SCALAR)) < 0) goto fail;
    if ((attr = H5Acreate2(loc, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT)) < 0) goto fail;
    if (H5Awrite(attr, H5T_NATIVE_INT64, &val) < 0) goto fail;
    goto cleanup;
fail:
    st = sk_h5u_fail(SK_EIO, path, "cannot write attribute %s", name);
cleanup:
    CLOSE_ID(H5Aclose, attr);
    CLOSE_ID(H5Sclose, space);
    return st;
}

/* The lengths of variable-length strings before reading them. On disk each
 * string of an attribute is its length (4 bytes, little-endian) and a
 * global heap ID; HDF5 has no call that returns the lengths without reading
 * the heap, but a conversion to an opaque type of the same size with a
 * conversion function that changes nothing hands over the disk form as it
 * is. The function is registered in the reading child only. */
#define H5U_PROBE_TAG "sinkrb: raw variable-length string"

static herr_t probe_conv(hid_t src, hid_t dst, H5T_cdata_t *cdata, size_t nelmts, size_t buf_stride, size_t bkg_stride,
                         void *buf, void *bkg, hid_t dxpl)
{
    (void)nelmts, (void)buf_stride, (void)bkg_stride, (void)buf, (void)bkg, (void)dxpl;
    if (cdata->command == H5T_CONV_INIT) {
        char *tag;
        int ok;
        if (H5Tis_variable_str(src) <= 0 || H5Tget_class(dst) != H5T_OPAQUE || H5Tget_size(src) != H5Tget_size(dst))
            return -1;
        tag = H5Tget_tag(dst);
        ok = tag && strcmp(tag, H5U_PROBE_TAG) == 0;
        if (tag) H5free_memory(tag);
        if (!ok) return -1;
        cdata->need_bkg = H5T_BKG_NO;
    }
    return 0; /* H5T_CONV_CONV: the bytes stay as they are; H5T_CONV_FREE */
}

/* *total = the summed lengths of the n variable-length strings of attr;
 * *known = 0 when the library would not hand the disk form over (then
 * nothing is known and the caller reads as before). */
static sk_status vlen_total(hid_t attr, const char *path, const char *name, size_t n, uint64_t *total, int *known)
{
    static int registered;
    sk_status st = SK_OK;
    hsize_t stor = H5Aget_storage_size(attr);
    size_t esz;
    unsigned char *raw = NULL;
    hid_t op = H5I_INVALID_HID, vs = H5I_INVALID_HID;
    *total = 0;
    *known = 0;
    if (n == 0 || stor == 0 || stor % n != 0) return SK_OK;
    esz = (size_t)(stor / n);
    if (esz < 8 || esz > 64) return SK_OK;
    if (stor > H5W_MAX_ATTR_BYTES)
        return sk_err(SK_EFORMAT, "%s: attribute %s holds %zu strings, more than sinkrb reads (a corrupt file?)", path,
                      name, n);
    if (!registered) {
        vs = H5Tcopy(H5T_C_S1);
        op = H5Tcreate(H5T_OPAQUE, esz);
        registered = vs >= 0 && op >= 0 && H5Tset_size(vs, H5T_VARIABLE) >= 0 && H5Tset_tag(op, H5U_PROBE_TAG) >= 0 &&
                             H5Tregister(H5T_PERS_SOFT, "sinkrb_vlen_probe", vs, op, probe_conv) >= 0
                         ? 1
                         : -1;
        CLOSE_ID(H5Tclose, op);
        CLOSE_ID(H5Tclose, vs);
    }
    if (registered < 0) return SK_OK;
    if ((op = H5Tcreate(H5T_OPAQUE, esz)) < 0 || H5Tset_tag(op, H5U_PROBE_TAG) < 0) goto cleanup;
    if (!(raw = malloc((size_t)stor))) {
        st = sk_err(SK_ENOMEM, "%s: attribute %s: out of memory", path, name);
        goto cleanup;
    }
    if (H5Aread(attr, op, raw) < 0) goto cleanup;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *e = raw + i * esz;
        *total += (uint64_t)e[0] | (uint64_t)e[1] << 8 | (uint64_t)e[2] << 16 | (uint64_t)e[3] << 24;
    }
    *known = 1;
cleanup:
    H5Eclear2(H5E_DEFAULT);
    free(raw);
    CLOSE_ID(H5Tclose, op);
    return st;
}

static sk_status too_big(const char *path, const char *name, double bytes)
{
    char b[32], cap[32];
    sk_h5u_bytes_str(bytes, b, sizeof b);
    sk_h5u_bytes_str((double)H5W_MAX_ATTR_BYTES, cap, sizeof cap);
    return sk_err(SK_EFORMAT, "%s: attribute %s holds %s of text, more than sinkrb reads (%s; a corrupt file?)", path,
                  name, b, cap);
}

sk_status sk_h5u_attr_read_text(hid_t loc, const char *path, const char *name, char **out)
{
    sk_status st = SK_OK;
    hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    char **vstr = NULL, *fbuf = NULL;
    hssize_t np;
    size_t n = 0;
    sk_strbuf sb = SK_STRBUF_INIT;
    htri_t ex, isvar;
    *out = NULL;
    ex = H5Aexists(loc, name);
    if (ex < 0) return sk_h5u_corrupt(path, name);
    if (ex == 0) return SK_OK;
    if ((attr = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (ftype = H5Aget_type(attr)) < 0 ||
        (space = H5Aget_space(attr)) < 0 || (np = H5Sget_simple_extent_npoints(space)) < 0) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    if (H5Tget_class(ftype) != H5T_STRING) {
        st = sk_err(SK_EFORMAT, "%s: attribute %s: expected a string, found %s", path, name,
                    sk_h5u_class_name(H5Tget_class(ftype)));
        goto cleanup;
    }
    n = (size_t)np;
    isvar = H5Tis_variable_str(ftype);
    if (isvar < 0) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    if (isvar) {
        uint64_t total = 0;
        int known = 0;
        if (n > H5W_MAX_ATTR_BYTES / sizeof(char *)) {
            st = sk_err(SK_EFORMAT, "%s: attribute %s holds %zu strings, more than sinkrb reads (a corrupt file?)",
                        path, name, n);
            goto cleanup;
        }
        if ((st = vlen_total(attr, path, name, n, &total, &known)) != SK_OK) goto cleanup;
        if (known && total > H5W_MAX_ATTR_BYTES) {
            st = too_big(path, name, (double)total);
            goto cleanup;
        }
        mtype = H5Tcopy(H5T_C_S1);
        if (mtype < 0 || H5Tset_size(mtype, H5T_VARIABLE) < 0 || H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0) {
            st = sk_h5u_fail(SK_ENOMEM, path, "attribute %s: cannot make string type", name);
            goto cleanup;
        }
        if (!(vstr = sk_alloc_n(n ? n : 1, sizeof *vstr))) {
            st = SK_ENOMEM;
            goto cleanup;
        }
        if (n && H5Aread(attr, mtype, vstr) < 0) {
            memset(vstr, 0, n * sizeof *vstr);
            st = sk_h5u_corrupt(path, name);
            goto cleanup;
        }
        for (size_t i = 0; i < n; i++) {
            if (i) sk_strbuf_append(&sb, "\n");
            if (vstr[i]) sk_strbuf_append(&sb, vstr[i]);
            if (sb.len > H5W_MAX_ATTR_BYTES) {
                st = too_big(path, name, (double)sb.len);
                goto cleanup;
            }
        }
    } else {
        size_t sz = H5Tget_size(ftype);
        if (sz == 0 || (n && sz > H5W_MAX_ATTR_BYTES / n)) {
            st = too_big(path, name, (double)sz * (double)n);
            goto cleanup;
        }
        if (!(fbuf = sk_alloc(n * sz + 1))) {
            st = SK_ENOMEM;
            goto cleanup;
        }
        if (n && H5Aread(attr, ftype, fbuf) < 0) {
            st = sk_h5u_corrupt(path, name);
            goto cleanup;
        }
        for (size_t i = 0; i < n; i++) {
            const char *p = fbuf + i * sz;
            size_t len = 0;
            while (len < sz && p[len])
                len++;
            while (len > 0 && p[len - 1] == ' ' && H5Tget_strpad(ftype) == H5T_STR_SPACEPAD)
                len--;
            if (i) sk_strbuf_append(&sb, "\n");
            sk_strbuf_append_n(&sb, p, len);
        }
    }
    if (sb.err != SK_OK) {
        st = sk_err(SK_ENOMEM, "%s: attribute %s: out of memory", path, name);
        goto cleanup;
    }
    *out = sk_strdup(sk_strbuf_str(&sb));
    if (!*out) st = SK_ENOMEM;
cleanup:
    if (vstr) {
        for (size_t i = 0; i < n; i++)
            if (vstr[i]) H5free_memory(vstr[i]);
        sk_free(vstr);
    }
    sk_free(fbuf);
    sk_strbuf_free(&sb);
    CLOSE_ID(H5Tclose, mtype);
    CLOSE_ID(H5Sclose, space);
    CLOSE_ID(H5Tclose, ftype);
    CLOSE_ID(H5Aclose, attr);
    return st;
}

sk_status sk_h5u_attr_read_int(hid_t loc, const char *path, const char *name, long long *v, int *present)
{
    sk_status st = SK_OK;
    hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID, space = H5I_INVALID_HID;
    htri_t ex = H5Aexists(loc, name);
    *present = 0;
    if (ex < 0) return sk_h5u_corrupt(path, name);
    if (ex == 0) return SK_OK;
    if ((attr = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (ftype = H5Aget_type(attr)) < 0 ||
        (space = H5Aget_space(attr)) < 0) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    if (H5Tget_class(ftype) != H5T_INTEGER || H5Sget_simple_extent_npoints(space) != 1) {
        st = sk_err(SK_EFORMAT, "%s: attribute %s: expected one integer, found %s", path, name,
                    sk_h5u_class_name(H5Tget_class(ftype)));
        goto cleanup;
    }
    if (H5Aread(attr, H5T_NATIVE_LLONG, v) < 0) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    *present = 1;
cleanup:
    CLOSE_ID(H5Sclose, space);
    CLOSE_ID(H5Tclose, ftype);
    CLOSE_ID(H5Aclose, attr);
    return st;
}

sk_status sk_h5u_check_format(hid_t fid, const char *path, const char *want)
{
    sk_status st;
    char *fmt = NULL;
    long long ver = 0;
    int has_ver = 0;
    if ((st = sk_h5u_attr_read_text(fid, path, "format", &fmt)) != SK_OK) return st;
    if (fmt && strcmp(fmt, want) != 0) {
        st = sk_err(SK_EFORMAT, "%s: this is a '%s' file, expected '%s'%s", path, fmt, want,
                    strcmp(fmt, SK_H5W_PERM_FORMAT) == 0
                        ? "\nHINT: perm_*.h5 files hold permutations, not weights; use the "
                          "aligned_*.h5 file"
                        : "");
        goto cleanup;
    }
    if ((st = sk_h5u_attr_read_int(fid, path, "format_version", &ver, &has_ver)) != SK_OK) goto cleanup;
    if (has_ver && ver > SK_H5W_VERSION)
        st = sk_err(SK_EFORMAT,
                    "%s: format_version %lld is newer than this sinkrb reads (%d)"
                    "\nHINT: upgrade sinkrb",
                    path, ver, SK_H5W_VERSION);
    else if (has_ver && ver < 1)
        st = sk_err(SK_EFORMAT, "%s: invalid format_version %lld", path, ver);
cleanup:
    sk_free(fmt);
    return st;
}
