/* h5util.c - HDF5 plumbing shared by the weights, permutation and info code
 * (see h5util.h). Every function closes every HDF5 id it opens on every path
 * (one cleanup label each). */
#include "io/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/strbuf.h"
#include "io/atomic.h"
#include "io/h5w.h"

#define H5W_MAX_ATTR_BYTES (64u << 20)
#define H5W_MAX_DEPTH 32 /* group nesting walked by info */

/* ---- HDF5 error handling ------------------------------------------------ */

void sk_h5u_quiet(void)
{
    (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static herr_t h5_walk_cb(unsigned n, const H5E_error2_t *e, void *ud)
{
    char *buf = ud;
    if (n != 0) return 0;
    if (e->desc && e->desc[0]) {
        snprintf(buf, 256, "%s", e->desc);
    } else {
        H5E_type_t t;
        if (H5Eget_msg(e->min_num, &t, buf, 256) < 0) buf[0] = '\0';
    }
    return 0;
}

/* The innermost (most specific) message on the current HDF5 error stack. */
static const char *h5_inner(char buf[256])
{
    buf[0] = '\0';
    (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_walk_cb, buf);
    if (!buf[0]) snprintf(buf, 256, "no detail");
    return buf;
}

sk_status sk_h5u_fail(sk_status code, const char *path, const char *fmt, ...)
{
    char what[1024], inner[256];
    va_list ap;
    h5_inner(inner);
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sk_err(code, "%s: %s (HDF5: %s)", path, what, inner);
}

sk_status sk_h5u_corrupt(const char *path, const char *obj)
{
    return sk_h5u_fail(SK_EFORMAT, path, "%s%struncated or corrupt HDF5 file", obj ? obj : "", obj ? ": " : "");
}

/* ---- small helpers ------------------------------------------------------ */

void sk_h5u_shape_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (ndim == 1 && k < n) k += (size_t)snprintf(buf + k, n - k, ",");
    if (k < n) snprintf(buf + k, n - k, ")");
}

sk_status sk_h5u_check_name(const char *path, const char *name)
{
    if (!name || !name[0] || strchr(name, '/') || strchr(name, '\n') || strcmp(name, ".") == 0)
        return sk_err(SK_EINVAL,
                      "%s: invalid dataset name '%s' (must be non-empty, without '/' "
                      "or newlines)",
                      path, name ? name : "(null)");
    return SK_OK;
}

/* File access properties: file locking on, but not an error on file systems
 * without locks (NFS, Lustre). */
static hid_t h5_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    if (fapl >= 0) (void)H5Pset_file_locking(fapl, 1, 1);
#endif
    return fapl;
}

const char *sk_h5u_class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER:
        return "integer";
    case H5T_FLOAT:
        return "float";
    case H5T_TIME:
        return "time";
    case H5T_STRING:
        return "string";
    case H5T_BITFIELD:
        return "bitfield";
    case H5T_OPAQUE:
        return "opaque";
    case H5T_COMPOUND:
        return "compound";
    case H5T_REFERENCE:
        return "reference";
    case H5T_ENUM:
        return "enum (numpy bool?)";
    case H5T_VLEN:
        return "variable-length sequence";
    case H5T_ARRAY:
        return "array";
    default:
        return "unknown";
    }
}

/* ---- opening ------------------------------------------------------------ */

static const unsigned char h5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

/* Check the file before HDF5 sees it, so the common failures get plain
 * messages: missing, empty, not HDF5 at all (with a hint for PyTorch .pt). */
static sk_status h5_precheck(const char *path)
{
    sk_status st = SK_OK;
    struct stat sb;
    unsigned char head[8];
    FILE *f = fopen(path, "rb");
    if (!f) return sk_err(SK_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fileno(f), &sb) != 0) {
        st = sk_err(SK_EIO, "%s: %s", path, strerror(errno));
        goto cleanup;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = sk_err(SK_EIO, "%s: is a directory, not an HDF5 file", path);
        goto cleanup;
    }
    if (sb.st_size == 0) {
        st = sk_err(SK_EFORMAT, "%s: not an HDF5 file (the file is empty)", path);
        goto cleanup;
    }
    /* The signature sits at 0, 512, 1024, 2048, ... (after a user block). */
    for (off_t off = 0; off + 8 <= sb.st_size; off = off ? 2 * off : 512) {
        if (fseeko(f, off, SEEK_SET) != 0 || fread(head, 1, 8, f) != 8) break;
        if (memcmp(head, h5_sig, 8) == 0) goto cleanup; /* found: HDF5 */
    }
    memset(head, 0, sizeof head);
    if (fseeko(f, 0, SEEK_SET) == 0 && fread(head, 1, sizeof head, f) > 0) {
        if (head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
            st = sk_err(SK_EFORMAT,
                        "%s: not an HDF5 file (it is a zip archive, like PyTorch's "
                        "torch.save output)\nHINT: convert it: sd = torch.load(p); with "
                        "h5py.File(out, 'w') as f: [f.create_dataset(k, data=v.numpy()) for k, v "
                        "in sd.items()]",
                        path);
            goto cleanup;
        }
        if (head[0] == 0x80 && head[1] <= 5) {
            st = sk_err(SK_EFORMAT, "%s: not an HDF5 file (it looks like a Python pickle)", path);
            goto cleanup;
        }
    }
    if (sb.st_size < 8 && memcmp(head, h5_sig, (size_t)sb.st_size) == 0)
        st = sk_err(SK_EFORMAT, "%s: truncated or corrupt HDF5 file (only %lld bytes)", path, (long long)sb.st_size);
    else
        st = sk_err(SK_EFORMAT, "%s: not an HDF5 file (no HDF5 signature)", path);
cleanup:
    fclose(f);
    return st;
}

sk_status sk_h5u_open_read(const char *path, hid_t *fid)
{
    sk_status st;
    hid_t fapl;
    *fid = H5I_INVALID_HID;
    sk_h5u_quiet();
    if (!path) return sk_err(SK_EINVAL, "h5w: NULL path");
    if ((st = h5_precheck(path)) != SK_OK) return st;
    fapl = h5_fapl();
    if (fapl < 0) return sk_h5u_fail(SK_ENOMEM, path, "cannot create file access properties");
    *fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    st = *fid < 0 ? sk_h5u_corrupt(path, NULL) : SK_OK; /* before H5Pclose clears the stack */
    H5Pclose(fapl);
    return st;
}

/* The temporary file is created (empty) here, so a bad folder or permission
 * gives errno's message before any work; the HDF5 file lives in memory. */
sk_status sk_h5u_create_tmp(const char *path, size_t size_hint, char *tmp, size_t n, hid_t *fid)
{
    sk_status st;
    hid_t fapl;
    int fd;
    size_t inc = (size_t)1 << 20;
    *fid = H5I_INVALID_HID;
    tmp[0] = '\0';
    sk_h5u_quiet();
    if ((st = sk_atomic_tmpname(path, tmp, n)) != SK_OK) return st;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        tmp[0] = '\0';
        return sk_err(SK_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    close(fd);
    /* One allocation for the whole file when the hint is right. */
    if (size_hint > inc) inc = size_hint + ((size_t)64 << 10);
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fapl_core(fapl, inc, 0) >= 0) *fid = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    st = *fid < 0 ? sk_h5u_fail(SK_ENOMEM, path, "cannot create an HDF5 file in memory") : SK_OK;
    if (fapl >= 0) H5Pclose(fapl);
    if (st != SK_OK) {
        unlink(tmp);
        tmp[0] = '\0';
    }
    return st;
}

sk_status sk_h5u_commit(const char *path, const char *tmp, hid_t *fid)
{
    sk_status st = SK_OK;
    unsigned char *img = NULL;
    ssize_t n;
    int fd = -1;
    if (H5Fflush(*fid, H5F_SCOPE_LOCAL) < 0 || (n = H5Fget_file_image(*fid, NULL, 0)) <= 0) {
        st = sk_h5u_fail(SK_EIO, path, "cannot finish the HDF5 file");
        goto cleanup;
    }
    if (!(img = malloc((size_t)n))) {
        st = sk_err(SK_ENOMEM, "%s: out of memory (%lld bytes)", path, (long long)n);
        goto cleanup;
    }
    if (H5Fget_file_image(*fid, img, (size_t)n) != n) {
        st = sk_h5u_fail(SK_EIO, path, "cannot finish the HDF5 file");
        goto cleanup;
    }
    CLOSE_ID(H5Fclose, *fid); /* in memory: no I/O to fail */
    fd = open(tmp, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) {
        st = sk_err(SK_EIO, "%s: cannot write %s: %s", path, tmp, strerror(errno));
        goto cleanup;
    }
    for (ssize_t done = 0; done < n;) {
        ssize_t k = write(fd, img + done, (size_t)(n - done));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            st = sk_err(SK_EIO, "%s: write failed: %s", path, k < 0 ? strerror(errno) : "no progress");
            goto cleanup;
        }
        done += k;
    }
    if (fsync(fd) != 0 && errno != EINVAL) {
        st = sk_err(SK_EIO, "%s: cannot sync %s: %s", path, tmp, strerror(errno));
        goto cleanup;
    }
    if (close(fd) != 0) {
        fd = -1;
        st = sk_err(SK_EIO, "%s: write failed: %s", path, strerror(errno));
        goto cleanup;
    }
    fd = -1;
    st = sk_atomic_rename(tmp, path); /* removes tmp on failure */
    free(img);
    return st;
cleanup:
    CLOSE_ID(H5Fclose, *fid);
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(img);
    return st;
}

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
        if (n > H5W_MAX_ATTR_BYTES / sizeof(char *)) goto toobig;
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
        for (size_t i = 0; i < n; i++)
            sk_strbuf_appendf(&sb, "%s%s", i ? "\n" : "", vstr[i] ? vstr[i] : "");
    } else {
        size_t sz = H5Tget_size(ftype);
        if (sz == 0 || (n && sz > H5W_MAX_ATTR_BYTES / n)) goto toobig;
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
            sk_strbuf_appendf(&sb, "%s%.*s", i ? "\n" : "", (int)len, p);
        }
    }
    if (sb.err != SK_OK) {
        st = sk_err(SK_ENOMEM, "%s: attribute %s: out of memory", path, name);
        goto cleanup;
    }
    *out = sk_strdup(sk_strbuf_str(&sb));
    if (!*out) st = SK_ENOMEM;
    goto cleanup;
toobig:
    st = sk_err(SK_EFORMAT, "%s: attribute %s is implausibly large (corrupt file?)", path, name);
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

/* ---- walking links ------------------------------------------------------ */

typedef struct {
    sk_h5u_links *L;
    const char *prefix;
    int depth, recurse;
} h5w_walk;

static sk_status h5_walk_group(hid_t g, const char *prefix, int depth, int recurse, sk_h5u_links *L);

sk_status sk_h5u_links_add(sk_h5u_links *L, char *name)
{
    if (L->n == L->cap) {
        int cap = L->cap ? 2 * L->cap : 32;
        char **nd = realloc(L->ds, (size_t)cap * sizeof *nd);
        if (!nd) return sk_err(SK_ENOMEM, "%s: out of memory", L->path);
        L->ds = nd;
        L->cap = cap;
    }
    L->ds[L->n++] = name;
    return SK_OK;
}

static herr_t h5_links_cb(hid_t g, const char *name, const H5L_info_t *info, void *ud)
{
    h5w_walk *w = ud;
    sk_h5u_links *L = w->L;
    hid_t o;
    H5I_type_t t;
    char *full = NULL;
    sk_strbuf sb = SK_STRBUF_INIT;
    if (info->type != H5L_TYPE_HARD) return 0; /* soft/external links are not followed */
    sk_strbuf_appendf(&sb, "%s%s%s", w->prefix, w->prefix[0] ? "/" : "", name);
    if (sb.err != SK_OK) {
        L->st = sk_err(SK_ENOMEM, "%s: out of memory", L->path);
        sk_strbuf_free(&sb);
        return -1;
    }
    full = sk_strbuf_detach(&sb);
    o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) {
        L->st = sk_h5u_corrupt(L->path, full);
        free(full);
        return -1;
    }
    t = H5Iget_type(o);
    if (t == H5I_DATASET) {
        if ((L->st = sk_h5u_links_add(L, full)) != SK_OK) goto fail;
        full = NULL;
    } else if (t == H5I_GROUP) {
        if (L->n_groups++ == 0) snprintf(L->first_group, sizeof L->first_group, "%s", full);
        if (w->recurse) {
            if (w->depth >= H5W_MAX_DEPTH) {
                L->st = sk_err(SK_EFORMAT, "%s: groups nested deeper than %d at %s (a cycle?)", L->path, H5W_MAX_DEPTH,
                               full);
                goto fail;
            }
            if (h5_walk_group(o, full, w->depth + 1, 1, L) != SK_OK) goto fail;
        }
    }
    H5Oclose(o);
    free(full);
    return 0;
fail:
    H5Oclose(o);
    free(full);
    return -1;
}

static sk_status h5_walk_group(hid_t g, const char *prefix, int depth, int recurse, sk_h5u_links *L)
{
    hsize_t idx = 0;
    h5w_walk w = {L, prefix, depth, recurse};
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, h5_links_cb, &w) < 0) {
        if (L->st == SK_OK) L->st = sk_h5u_corrupt(L->path, prefix[0] ? prefix : "root group");
    }
    return L->st;
}

sk_status sk_h5u_walk(hid_t fid, const char *path, int recurse, sk_h5u_links *L)
{
    L->path = path;
    return h5_walk_group(fid, "", 0, recurse, L);
}

void sk_h5u_links_free(sk_h5u_links *L)
{
    for (int i = 0; i < L->n; i++)
        free(L->ds[i]);
    free(L->ds);
    memset(L, 0, sizeof *L);
}

/* Split text on '\n' in place into a new array of pointers into it. */
static sk_status split_lines(char *text, char ***out, int *n)
{
    int cnt = 0, k = 0;
    *out = NULL;
    *n = 0;
    if (!text[0]) return SK_OK;
    for (char *p = text; *p; p++)
        cnt += *p == '\n';
    cnt++;
    if (!(*out = sk_alloc_n((size_t)cnt, sizeof **out))) return SK_ENOMEM;
    for (char *p = text;;) {
        char *nl = strchr(p, '\n');
        (*out)[k++] = p;
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    *n = k;
    return SK_OK;
}

sk_status sk_h5u_order(hid_t fid, const char *path, const char *order_attr, char **names, int n, const char *skip,
                       int **perm, int *np)
{
    sk_status st;
    char *text = NULL, **lines = NULL;
    char *used = NULL;
    int nl = 0, k = 0;
    *perm = NULL;
    *np = 0;
    if ((st = sk_h5u_attr_read_text(fid, path, order_attr, &text)) != SK_OK) return st;
    if (!(*perm = sk_alloc_n((size_t)(n ? n : 1), sizeof **perm)) || !(used = sk_alloc((size_t)(n ? n : 1)))) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    if (text && (st = split_lines(text, &lines, &nl)) != SK_OK) goto cleanup;
    for (int j = 0; j < nl; j++) {
        int i = 0;
        while (i < n && strcmp(names[i], lines[j]) != 0)
            i++;
        if (i == n) {
            st = sk_err(SK_EFORMAT,
                        "%s: attribute %s lists '%s', but the file has no such "
                        "dataset",
                        path, order_attr, lines[j]);
            goto cleanup;
        }
        if (used[i]) {
            st = sk_err(SK_EFORMAT, "%s: attribute %s lists '%s' twice", path, order_attr, lines[j]);
            goto cleanup;
        }
        used[i] = 1;
        if (!skip || !skip[i]) (*perm)[k++] = i;
    }
    for (int i = 0; i < n; i++)
        if (!used[i] && (!skip || !skip[i])) (*perm)[k++] = i;
    *np = k;
cleanup:
    if (st != SK_OK) {
        sk_free(*perm);
        *perm = NULL;
    }
    sk_free(lines);
    sk_free(used);
    sk_free(text);
    return st;
}

sk_status sk_h5u_ds_shape(hid_t ds, const char *path, const char *name, int maxdim, int *ndim, int64_t *shape)
{
    sk_status st = SK_OK;
    hsize_t dims[H5S_MAX_RANK];
    hid_t space = H5Dget_space(ds);
    H5S_class_t cls;
    int r;
    int64_t numel = 1;
    if (space < 0) return sk_h5u_corrupt(path, name);
    cls = H5Sget_simple_extent_type(space);
    if (cls == H5S_NO_CLASS) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    if (cls == H5S_NULL) {
        st = sk_err(SK_EFORMAT, "%s: dataset %s has no data (null dataspace)", path, name);
        goto cleanup;
    }
    r = H5Sget_simple_extent_dims(space, dims, NULL);
    if (r < 0) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    if (r > maxdim) {
        st = sk_err(SK_EFORMAT,
                    "%s: dataset %s has rank %d; at most %d dimensions are "
                    "supported",
                    path, name, r, maxdim);
        goto cleanup;
    }
    for (int d = 0; d < r; d++) {
        if (dims[d] > (hsize_t)H5W_MAX_NUMEL || (dims[d] && numel > H5W_MAX_NUMEL / (int64_t)dims[d])) {
            st = sk_err(SK_EFORMAT, "%s: dataset %s has an implausible size (corrupt file?)", path, name);
            goto cleanup;
        }
        shape[d] = (int64_t)dims[d];
        numel *= shape[d];
    }
    *ndim = r;
cleanup:
    H5Sclose(space);
    return st;
}

sk_status sk_h5u_open_dataset(hid_t fid, const char *path, const char *name, hid_t *ds, hid_t *ftype)
{
    if ((*ds = H5Dopen2(fid, name, H5P_DEFAULT)) < 0 || (*ftype = H5Dget_type(*ds)) < 0)
        return sk_h5u_corrupt(path, name);
    return SK_OK;
}
