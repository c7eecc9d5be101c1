/* h5w.c - HDF5 weights and permutation files (layout documented in h5w.h).
 *
 * Every function closes every HDF5 id it opens on every path (one cleanup
 * label each). HDF5's own error printing is switched off for the calling
 * thread in every entry point; when a call fails, the innermost message of
 * the HDF5 error stack is quoted in our error text instead. */
#include "io/h5w.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/strbuf.h"
#include "io/atomic.h"

#define H5W_MAX_NUMEL ((int64_t)1 << 34) /* sanity bound against corrupt dims */
#define H5W_MAX_ATTR_BYTES (64u << 20)
#define H5W_LIST_CAP 8   /* lines per category in mismatch reports */
#define H5W_MAX_DEPTH 32 /* group nesting walked by info */

#define CLOSE_ID(fn, id)                                                                                               \
    do {                                                                                                               \
        if ((id) >= 0) (void)fn(id);                                                                                   \
        (id) = H5I_INVALID_HID;                                                                                        \
    } while (0)

/* ---- HDF5 error handling ------------------------------------------------ */

/* Turn off HDF5's automatic error printing (per thread in a thread-safe
 * build, hence called at every entry point; cheap and idempotent). */
static void h5_quiet(void)
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

/* "<path>: <what> (HDF5: <innermost message>)" */
static sk_status h5_fail(sk_status code, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static sk_status h5_fail(sk_status code, const char *path, const char *fmt, ...)
{
    char what[1024], inner[256];
    va_list ap;
    h5_inner(inner);
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sk_err(code, "%s: %s (HDF5: %s)", path, what, inner);
}

static sk_status h5_corrupt(const char *path, const char *obj)
{
    return h5_fail(SK_EFORMAT, path, "%s%struncated or corrupt HDF5 file", obj ? obj : "", obj ? ": " : "");
}

/* ---- small helpers ------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int is_nbt(const char *name)
{
    return ends_with(name, "num_batches_tracked");
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (ndim == 1 && k < n) k += (size_t)snprintf(buf + k, n - k, ",");
    if (k < n) snprintf(buf + k, n - k, ")");
}

static sk_status check_name(const char *path, const char *name)
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

static const char *class_name(H5T_class_t c)
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

/* numpy-like dtype name: float32, int64, uint8, float16, string, ... */
static void dtype_str(hid_t type, char *buf, size_t n)
{
    H5T_class_t c = H5Tget_class(type);
    size_t sz = H5Tget_size(type);
    const char *be = H5Tget_order(type) == H5T_ORDER_BE ? " (big-endian)" : "";
    if (c == H5T_FLOAT)
        snprintf(buf, n, "float%zu%s", sz * 8, be);
    else if (c == H5T_INTEGER)
        snprintf(buf, n, "%sint%zu%s", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", sz * 8, be);
    else if (c == H5T_STRING && H5Tis_variable_str(type) > 0)
        snprintf(buf, n, "string");
    else if (c == H5T_STRING)
        snprintf(buf, n, "string[%zu]", sz);
    else
        snprintf(buf, n, "%s", class_name(c));
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

static sk_status h5_open_read(const char *path, hid_t *fid)
{
    sk_status st;
    hid_t fapl;
    *fid = H5I_INVALID_HID;
    h5_quiet();
    if (!path) return sk_err(SK_EINVAL, "h5w: NULL path");
    if ((st = h5_precheck(path)) != SK_OK) return st;
    fapl = h5_fapl();
    if (fapl < 0) return h5_fail(SK_ENOMEM, path, "cannot create file access properties");
    *fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    st = *fid < 0 ? h5_corrupt(path, NULL) : SK_OK; /* before H5Pclose clears the stack */
    H5Pclose(fapl);
    return st;
}

/* Create the temporary file ourselves first, so a bad folder or permission
 * gives errno's message rather than HDF5's. */
static sk_status h5_create_tmp(const char *path, char *tmp, size_t n, hid_t *fid)
{
    sk_status st;
    hid_t fapl;
    int fd;
    *fid = H5I_INVALID_HID;
    tmp[0] = '\0';
    if ((st = sk_atomic_tmpname(path, tmp, n)) != SK_OK) return st;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) {
        int e = errno;
        tmp[0] = '\0';
        return sk_err(SK_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    close(fd);
    fapl = h5_fapl();
    if (fapl >= 0) *fid = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    st = *fid < 0 ? h5_fail(SK_EIO, path, "cannot create HDF5 file %s", tmp) : SK_OK;
    if (fapl >= 0) H5Pclose(fapl);
    if (st != SK_OK) {
        unlink(tmp);
        tmp[0] = '\0';
    }
    return st;
}

/* Close, fsync and rename into place; on failure the temporary is removed. */
static sk_status h5_commit(const char *path, const char *tmp, hid_t *fid)
{
    int fd;
    herr_t r = H5Fclose(*fid);
    *fid = H5I_INVALID_HID;
    if (r < 0) {
        sk_status st = h5_fail(SK_EIO, path, "cannot finish writing %s", tmp);
        unlink(tmp);
        return st;
    }
    fd = open(tmp, O_RDONLY);
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL)) {
        int e = errno;
        if (fd >= 0) close(fd);
        unlink(tmp);
        return sk_err(SK_EIO, "%s: cannot sync %s: %s", path, tmp, strerror(e));
    }
    close(fd);
    return sk_atomic_rename(tmp, path);
}

/* ---- attributes --------------------------------------------------------- */

static sk_status attr_write_str(hid_t loc, const char *path, const char *name, const char *val)
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
    st = h5_fail(SK_EIO, path, "cannot write attribute %s", name);
cleanup:
    CLOSE_ID(H5Aclose, attr);
    CLOSE_ID(H5Sclose, space);
    CLOSE_ID(H5Tclose, type);
    return st;
}

static sk_status attr_write_int(hid_t loc, const char *path, const char *name, int64_t val)
{
    sk_status st = SK_OK;
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    if ((space = H5Screate(H5S_SCALAR)) < 0) goto fail;
    if ((attr = H5Acreate2(loc, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT)) < 0) goto fail;
    if (H5Awrite(attr, H5T_NATIVE_INT64, &val) < 0) goto fail;
    goto cleanup;
fail:
    st = h5_fail(SK_EIO, path, "cannot write attribute %s", name);
cleanup:
    CLOSE_ID(H5Aclose, attr);
    CLOSE_ID(H5Sclose, space);
    return st;
}

/* Read a string attribute (scalar, or an array joined with '\n'; variable or
 * fixed length) into a new string. *out = NULL when the attribute is absent. */
static sk_status attr_read_text(hid_t loc, const char *path, const char *name, char **out)
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
    if (ex < 0) return h5_corrupt(path, name);
    if (ex == 0) return SK_OK;
    if ((attr = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (ftype = H5Aget_type(attr)) < 0 ||
        (space = H5Aget_space(attr)) < 0 || (np = H5Sget_simple_extent_npoints(space)) < 0) {
        st = h5_corrupt(path, name);
        goto cleanup;
    }
    if (H5Tget_class(ftype) != H5T_STRING) {
        st = sk_err(SK_EFORMAT, "%s: attribute %s: expected a string, found %s", path, name,
                    class_name(H5Tget_class(ftype)));
        goto cleanup;
    }
    n = (size_t)np;
    isvar = H5Tis_variable_str(ftype);
    if (isvar < 0) {
        st = h5_corrupt(path, name);
        goto cleanup;
    }
    if (isvar) {
        if (n > H5W_MAX_ATTR_BYTES / sizeof(char *)) goto toobig;
        mtype = H5Tcopy(H5T_C_S1);
        if (mtype < 0 || H5Tset_size(mtype, H5T_VARIABLE) < 0 || H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0) {
            st = h5_fail(SK_ENOMEM, path, "attribute %s: cannot make string type", name);
            goto cleanup;
        }
        if (!(vstr = sk_alloc_n(n ? n : 1, sizeof *vstr))) {
            st = SK_ENOMEM;
            goto cleanup;
        }
        if (n && H5Aread(attr, mtype, vstr) < 0) {
            memset(vstr, 0, n * sizeof *vstr);
            st = h5_corrupt(path, name);
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
            st = h5_corrupt(path, name);
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

/* An integer scalar attribute; *present = 0 when absent. */
static sk_status attr_read_int(hid_t loc, const char *path, const char *name, long long *v, int *present)
{
    sk_status st = SK_OK;
    hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID, space = H5I_INVALID_HID;
    htri_t ex = H5Aexists(loc, name);
    *present = 0;
    if (ex < 0) return h5_corrupt(path, name);
    if (ex == 0) return SK_OK;
    if ((attr = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (ftype = H5Aget_type(attr)) < 0 ||
        (space = H5Aget_space(attr)) < 0) {
        st = h5_corrupt(path, name);
        goto cleanup;
    }
    if (H5Tget_class(ftype) != H5T_INTEGER || H5Sget_simple_extent_npoints(space) != 1) {
        st = sk_err(SK_EFORMAT, "%s: attribute %s: expected one integer, found %s", path, name,
                    class_name(H5Tget_class(ftype)));
        goto cleanup;
    }
    if (H5Aread(attr, H5T_NATIVE_LLONG, v) < 0) {
        st = h5_corrupt(path, name);
        goto cleanup;
    }
    *present = 1;
cleanup:
    CLOSE_ID(H5Sclose, space);
    CLOSE_ID(H5Tclose, ftype);
    CLOSE_ID(H5Aclose, attr);
    return st;
}

/* format / format_version: absent is fine (plain h5py file); another format
 * or a newer version is an error. */
static sk_status check_format(hid_t fid, const char *path, const char *want)
{
    sk_status st;
    char *fmt = NULL;
    long long ver = 0;
    int has_ver = 0;
    if ((st = attr_read_text(fid, path, "format", &fmt)) != SK_OK) return st;
    if (fmt && strcmp(fmt, want) != 0) {
        st = sk_err(SK_EFORMAT, "%s: this is a '%s' file, expected '%s'%s", path, fmt, want,
                    strcmp(fmt, SK_H5W_PERM_FORMAT) == 0
                        ? "\nHINT: perm_*.h5 files hold permutations, not weights; use the "
                          "aligned_*.h5 file"
                        : "");
        goto cleanup;
    }
    if ((st = attr_read_int(fid, path, "format_version", &ver, &has_ver)) != SK_OK) goto cleanup;
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
    char **ds; /* dataset paths ("a", "g/b"), name order per group */
    int n, cap;
    int n_groups; /* groups seen (at the root when not recursing) */
    char first_group[SK_NAME_MAX];
    const char *path; /* the file, for messages */
    sk_status st;
} h5w_links;

typedef struct {
    h5w_links *L;
    const char *prefix;
    int depth, recurse;
} h5w_walk;

static sk_status h5_walk_group(hid_t g, const char *prefix, int depth, int recurse, h5w_links *L);

static herr_t h5_links_cb(hid_t g, const char *name, const H5L_info_t *info, void *ud)
{
    h5w_walk *w = ud;
    h5w_links *L = w->L;
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
        L->st = h5_corrupt(L->path, full);
        free(full);
        return -1;
    }
    t = H5Iget_type(o);
    if (t == H5I_DATASET) {
        if (L->n == L->cap) {
            int cap = L->cap ? 2 * L->cap : 32;
            char **nd = realloc(L->ds, (size_t)cap * sizeof *nd);
            if (!nd) {
                L->st = sk_err(SK_ENOMEM, "%s: out of memory", L->path);
                goto fail;
            }
            L->ds = nd;
            L->cap = cap;
        }
        L->ds[L->n++] = full;
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

static sk_status h5_walk_group(hid_t g, const char *prefix, int depth, int recurse, h5w_links *L)
{
    hsize_t idx = 0;
    h5w_walk w = {L, prefix, depth, recurse};
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, h5_links_cb, &w) < 0) {
        if (L->st == SK_OK) L->st = h5_corrupt(L->path, prefix[0] ? prefix : "root group");
    }
    return L->st;
}

static void h5_links_free(h5w_links *L)
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

/* Order of the n names: those listed in the `order_attr` attribute first (in
 * its order), then the rest in the given (name) order. skip[i] names are
 * dropped silently. *perm receives indices into names; *np its length. */
static sk_status h5_order(hid_t fid, const char *path, const char *order_attr, char **names, int n, const char *skip,
                          int **perm, int *np)
{
    sk_status st;
    char *text = NULL, **lines = NULL;
    char *used = NULL;
    int nl = 0, k = 0;
    *perm = NULL;
    *np = 0;
    if ((st = attr_read_text(fid, path, order_attr, &text)) != SK_OK) return st;
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

/* Rank and dims of a dataset as int64 (rank <= SK_MAXDIM, sane size). */
static sk_status ds_shape(hid_t ds, const char *path, const char *name, int maxdim, int *ndim, int64_t *shape)
{
    sk_status st = SK_OK;
    hsize_t dims[H5S_MAX_RANK];
    hid_t space = H5Dget_space(ds);
    H5S_class_t cls;
    int r;
    int64_t numel = 1;
    if (space < 0) return h5_corrupt(path, name);
    cls = H5Sget_simple_extent_type(space);
    if (cls == H5S_NO_CLASS) {
        st = h5_corrupt(path, name);
        goto cleanup;
    }
    if (cls == H5S_NULL) {
        st = sk_err(SK_EFORMAT, "%s: dataset %s has no data (null dataspace)", path, name);
        goto cleanup;
    }
    r = H5Sget_simple_extent_dims(space, dims, NULL);
    if (r < 0) {
        st = h5_corrupt(path, name);
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

/* ---- weights ------------------------------------------------------------ */

sk_status sk_h5w_write(const char *path, const sk_tset *params, const char *arch_yaml)
{
    sk_status st = SK_OK;
    hid_t fid = H5I_INVALID_HID, space = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    char tmp[SK_PATH_MAX] = "";
    sk_strbuf order = SK_STRBUF_INIT;
    h5_quiet();
    if (!path || !params) return sk_err(SK_EINVAL, "sk_h5w_write: NULL argument");
    if (params->n > 0 && !params->block) return sk_err(SK_EINVAL, "%s: tensor set is not allocated", path);
    for (int i = 0; i < params->n; i++) {
        if ((st = check_name(path, params->t[i].name)) != SK_OK) return st;
        sk_strbuf_appendf(&order, "%s%s", i ? "\n" : "", params->t[i].name);
    }
    if (order.err != SK_OK) {
        st = sk_err(SK_ENOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    if ((st = h5_create_tmp(path, tmp, sizeof tmp, &fid)) != SK_OK) goto cleanup;
    if ((st = attr_write_str(fid, path, "format", SK_H5W_FORMAT)) != SK_OK ||
        (st = attr_write_int(fid, path, "format_version", SK_H5W_VERSION)) != SK_OK ||
        (st = attr_write_str(fid, path, "param_order", sk_strbuf_str(&order))) != SK_OK)
        goto cleanup;
    if (arch_yaml && (st = attr_write_str(fid, path, "arch", arch_yaml)) != SK_OK) goto cleanup;
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
        st = h5_fail(SK_EIO, path, "cannot write dataset %s", t->name);
        goto cleanup;
    }
    st = h5_commit(path, tmp, &fid);
    tmp[0] = '\0'; /* h5_commit removed or renamed it */
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
    h5w_links L = {0};
    char *skip = NULL, *arch = NULL;
    int *order = NULL, n_order = 0;
    sk_tset *s = NULL;
    int64_t(*shapes)[SK_MAXDIM] = NULL;
    int *ndims = NULL;

    if (out) *out = NULL;
    if (arch_yaml) *arch_yaml = NULL;
    if (!out) return sk_err(SK_EINVAL, "sk_h5w_read: NULL output");
    if ((st = h5_open_read(path, &fid)) != SK_OK) return st;
    if ((st = check_format(fid, path, SK_H5W_FORMAT)) != SK_OK) goto cleanup;
    L.path = path;
    if ((st = h5_walk_group(fid, "", 0, 0, &L)) != SK_OK) goto cleanup;
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
        if ((ds = H5Dopen2(fid, name, H5P_DEFAULT)) < 0 || (ftype = H5Dget_type(ds)) < 0) {
            st = h5_corrupt(path, name);
            goto cleanup;
        }
        cls = H5Tget_class(ftype);
        if (cls == H5T_INTEGER && is_nbt(name)) {
            skip[i] = 1;
        } else if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
            st = sk_err(SK_EFORMAT, "%s: dataset %s: expected float data, found %s", path, name, class_name(cls));
            goto cleanup;
        } else {
            if (strlen(name) >= SK_NAME_MAX) {
                st = sk_err(SK_EFORMAT, "%s: dataset name %s is too long (max %d characters)", path, name,
                            SK_NAME_MAX - 1);
                goto cleanup;
            }
            if ((st = ds_shape(ds, path, name, SK_MAXDIM, &ndims[i], shapes[i])) != SK_OK) goto cleanup;
        }
        CLOSE_ID(H5Tclose, ftype);
        CLOSE_ID(H5Dclose, ds);
    }
    if ((st = h5_order(fid, path, "param_order", L.ds, L.n, skip, &order, &n_order)) != SK_OK) goto cleanup;

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
            st = h5_corrupt(path, t->name);
            goto cleanup;
        }
        CLOSE_ID(H5Dclose, ds);
    }
    if ((st = attr_read_text(fid, path, "arch", &arch)) != SK_OK) goto cleanup;
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
    h5_links_free(&L);
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

sk_status sk_h5w_load_into_ex(const char *path, sk_tset *model, const char *const *rename, int n_rename,
                              const char *model_desc)
{
    sk_status st = SK_OK;
    sk_tset *f = NULL;
    char *arch = NULL, (*mapped)[SK_NAME_MAX] = NULL, *used = NULL, *matched = NULL;
    int *where = NULL, n_groups = 0, n_match = 0, bad;
    char first_group[SK_NAME_MAX] = "";
    sk_strbuf sb = SK_STRBUF_INIT;

    h5_quiet();
    if (!path || !model) return sk_err(SK_EINVAL, "sk_h5w_load_into: NULL argument");
    if (model->n > 0 && !model->block) return sk_err(SK_EINVAL, "%s: the model's tensor set is not allocated", path);
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
    if ((st = h5w_read(path, &f, &arch, &n_groups, first_group, sizeof first_group)) != SK_OK) return st;
    mapped = sk_alloc_n((size_t)(f->n ? f->n : 1), sizeof *mapped);
    matched = sk_alloc((size_t)(f->n ? f->n : 1));
    used = sk_alloc((size_t)(n_rename ? n_rename : 1));
    where = sk_alloc_n((size_t)(model->n ? model->n : 1), sizeof *where);
    if (!mapped || !matched || !used || !where) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int i = 0; i < f->n; i++) {
        if ((st = rename_one(rename, n_rename, f->t[i].name, mapped[i], SK_NAME_MAX, used)) != SK_OK) {
            st = sk_err_prefix(st, "%s: ", path);
            goto cleanup;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(mapped[i], mapped[j]) == 0) {
                st = sk_err(SK_EFORMAT, "%s: after renaming, both %s and %s are named %s", path, f->t[j].name,
                            f->t[i].name, mapped[i]);
                goto cleanup;
            }
    }

    h5w_cat miss = {&sb, 0, 0, "missing:"}, shp = {&sb, 0, 0, "shape:"}, extra = {&sb, 0, 0, "extra:"},
            unused = {&sb, 0, 0, "rename:"};
    sk_strbuf_appendf(&sb, "%s: weights do not match the configured model%s%s%s:", path, model_desc ? " (" : "",
                      model_desc ? model_desc : "", model_desc ? ")" : "");
    for (int m = 0; m < model->n; m++) {
        const sk_tensor *t = &model->t[m];
        char ms[160], fs[160];
        int i = 0;
        while (i < f->n && strcmp(mapped[i], t->name) != 0)
            i++;
        where[m] = i < f->n ? i : -1;
        shape_str(t->ndim, t->shape, ms, sizeof ms);
        if (i == f->n) {
            cat_line(&miss, "%s %s", t->name, ms);
            continue;
        }
        matched[i] = 1;
        bad = t->ndim != f->t[i].ndim;
        for (int d = 0; !bad && d < t->ndim; d++)
            bad = t->shape[d] != f->t[i].shape[d];
        if (bad) {
            shape_str(f->t[i].ndim, f->t[i].shape, fs, sizeof fs);
            if (strcmp(f->t[i].name, t->name) != 0)
                cat_line(&shp, "%s expected %s, file has %s (as %s)", t->name, ms, fs, f->t[i].name);
            else
                cat_line(&shp, "%s expected %s, file has %s", t->name, ms, fs);
        } else {
            n_match++;
        }
    }
    cat_done(&miss);
    cat_done(&shp);
    for (int i = 0; i < f->n; i++) {
        char fs[160];
        if (matched[i] || is_nbt(mapped[i])) continue;
        shape_str(f->t[i].ndim, f->t[i].shape, fs, sizeof fs);
        if (strcmp(f->t[i].name, mapped[i]) != 0)
            cat_line(&extra, "%s %s (renamed from %s)", mapped[i], fs, f->t[i].name);
        else
            cat_line(&extra, "%s %s", mapped[i], fs);
    }
    cat_done(&extra);

    if (miss.total == 0 && shp.total == 0 && extra.total == 0) {
        for (int m = 0; m < model->n; m++)
            if (model->t[m].numel)
                memcpy(model->t[m].data, f->t[where[m]].data, (size_t)model->t[m].numel * sizeof(float));
        goto cleanup;
    }
    for (int k = 0; k < n_rename; k++)
        if (!used[k])
            cat_line(&unused, "%s -> %s is unused (no such name in the file)", rename[2 * k], rename[2 * k + 1]);
    cat_done(&unused);
    sk_strbuf_appendf(&sb, "\n  the model has %d tensors, the file %d; %d match", model->n, f->n, n_match);
    if (n_groups > 0 && f->n == 0)
        sk_strbuf_appendf(&sb,
                          "\n  the file keeps its datasets in groups (%s/...); sinkrb reads datasets "
                          "at the root, named like the PyTorch state_dict keys",
                          first_group);
    if (arch && arch[0]) {
        char *line = arch;
        int k = 0;
        sk_strbuf_appendf(&sb, "\n  the file was written for:");
        while (line && *line && k < 8) {
            char *nl = strchr(line, '\n');
            sk_strbuf_appendf(&sb, "\n    %.*s", nl ? (int)(nl - line) : (int)strlen(line), line);
            line = nl ? nl + 1 : NULL;
            k++;
        }
        if (line && *line) sk_strbuf_appendf(&sb, "\n    ...");
    }
    sk_strbuf_appendf(&sb,
                      "\nHINT: check the model section of the config against the file "
                      "(sinkrb info %s), or map file names to model names with a rename list",
                      path);
    st = sk_err(SK_EFORMAT, "%s",
                sb.err != SK_OK ? "weights do not match the model (out of memory "
                                  "describing how)"
                                : sk_strbuf_str(&sb));
cleanup:
    sk_strbuf_free(&sb);
    sk_tset_free(f);
    sk_free(arch);
    sk_free(mapped);
    sk_free(matched);
    sk_free(used);
    sk_free(where);
    return st;
}

sk_status sk_h5w_load_into(const char *path, sk_tset *model, const char *const *rename, int n_rename)
{
    return sk_h5w_load_into_ex(path, model, rename, n_rename, NULL);
}

/* ---- permutations ------------------------------------------------------- */

/* 0 if p is a permutation of 0..n-1, else the first offending index + 1. */
static int64_t perm_check(const int64_t *p, int64_t n, char *seen)
{
    memset(seen, 0, (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= n || seen[p[i]]) return i + 1;
        seen[p[i]] = 1;
    }
    return 0;
}

sk_status sk_h5w_write_perms(const char *path, int n, const char *const *names, const int64_t *const *perms,
                             const int64_t *sizes)
{
    sk_status st = SK_OK;
    hid_t fid = H5I_INVALID_HID, space = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    char tmp[SK_PATH_MAX] = "", *seen = NULL;
    sk_strbuf order = SK_STRBUF_INIT;
    int64_t maxn = 1;
    h5_quiet();
    if (!path || n < 0 || (n > 0 && (!names || !perms || !sizes)))
        return sk_err(SK_EINVAL, "sk_h5w_write_perms: bad arguments");
    for (int g = 0; g < n; g++) {
        if ((st = check_name(path, names[g])) != SK_OK) goto cleanup;
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
    for (int g = 0; g < n; g++) {
        int64_t bad = perm_check(perms[g], sizes[g], seen);
        if (bad) {
            st = sk_err(SK_EINVAL, "%s: %s is not a permutation of 0..%lld (entry %lld = %lld)", path, names[g],
                        (long long)sizes[g] - 1, (long long)bad - 1, (long long)perms[g][bad - 1]);
            goto cleanup;
        }
    }
    if ((st = h5_create_tmp(path, tmp, sizeof tmp, &fid)) != SK_OK) goto cleanup;
    if ((st = attr_write_str(fid, path, "format", SK_H5W_PERM_FORMAT)) != SK_OK ||
        (st = attr_write_int(fid, path, "format_version", SK_H5W_VERSION)) != SK_OK ||
        (st = attr_write_str(fid, path, "perm_order", sk_strbuf_str(&order))) != SK_OK)
        goto cleanup;
    for (int g = 0; g < n; g++) {
        hsize_t dim = (hsize_t)sizes[g];
        if ((space = H5Screate_simple(1, &dim, NULL)) < 0 ||
            (ds = H5Dcreate2(fid, names[g], H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
            (dim > 0 && H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, perms[g]) < 0)) {
            st = h5_fail(SK_EIO, path, "cannot write dataset %s", names[g]);
            goto cleanup;
        }
        CLOSE_ID(H5Dclose, ds);
        CLOSE_ID(H5Sclose, space);
    }
    st = h5_commit(path, tmp, &fid);
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

sk_status sk_h5w_read_perms(const char *path, int *n, char ***names, int64_t ***perms, int64_t **sizes)
{
    sk_status st = SK_OK;
    hid_t fid = H5I_INVALID_HID, ds = H5I_INVALID_HID, ftype = H5I_INVALID_HID;
    h5w_links L = {0};
    int *order = NULL, n_order = 0, ng = 0;
    char **nm = NULL, *seen = NULL;
    int64_t **pm = NULL, *sz = NULL;

    if (!n || !names || !perms || !sizes) return sk_err(SK_EINVAL, "sk_h5w_read_perms: NULL output");
    *n = 0;
    *names = NULL;
    *perms = NULL;
    *sizes = NULL;
    if ((st = h5_open_read(path, &fid)) != SK_OK) return st;
    if ((st = check_format(fid, path, SK_H5W_PERM_FORMAT)) != SK_OK) goto cleanup;
    L.path = path;
    if ((st = h5_walk_group(fid, "", 0, 0, &L)) != SK_OK) goto cleanup;
    if ((st = h5_order(fid, path, "perm_order", L.ds, L.n, NULL, &order, &n_order)) != SK_OK) goto cleanup;
    nm = sk_alloc_n((size_t)(n_order ? n_order : 1), sizeof *nm);
    pm = sk_alloc_n((size_t)(n_order ? n_order : 1), sizeof *pm);
    sz = sk_alloc_n((size_t)(n_order ? n_order : 1), sizeof *sz);
    if (!nm || !pm || !sz) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (ng = 0; ng < n_order; ng++) {
        const char *name = L.ds[order[ng]];
        int ndim = 0;
        int64_t shape[1] = {0}, bad;
        if (!(nm[ng] = sk_strdup(name))) {
            st = SK_ENOMEM;
            goto cleanup;
        }
        if ((ds = H5Dopen2(fid, name, H5P_DEFAULT)) < 0 || (ftype = H5Dget_type(ds)) < 0) {
            st = h5_corrupt(path, name);
            goto cleanup;
        }
        if (H5Tget_class(ftype) != H5T_INTEGER) {
            st = sk_err(SK_EFORMAT, "%s: permutation %s: expected integer data, found %s", path, name,
                        class_name(H5Tget_class(ftype)));
            goto cleanup;
        }
        if ((st = ds_shape(ds, path, name, 1, &ndim, shape)) != SK_OK) goto cleanup;
        if (ndim != 1 || shape[0] > INT32_MAX) {
            st = sk_err(SK_EFORMAT, "%s: permutation %s: expected a vector", path, name);
            goto cleanup;
        }
        sz[ng] = shape[0];
        if (!(pm[ng] = sk_alloc_n((size_t)(sz[ng] ? sz[ng] : 1), sizeof(int64_t))) ||
            !(seen = sk_alloc((size_t)(sz[ng] ? sz[ng] : 1)))) {
            st = SK_ENOMEM;
            goto cleanup;
        }
        if (sz[ng] > 0 && H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, pm[ng]) < 0) {
            st = h5_corrupt(path, name);
            goto cleanup;
        }
        if ((bad = perm_check(pm[ng], sz[ng], seen)) != 0) {
            st = sk_err(SK_EFORMAT, "%s: %s is not a permutation of 0..%lld (entry %lld = %lld)", path, name,
                        (long long)sz[ng] - 1, (long long)bad - 1, (long long)pm[ng][bad - 1]);
            goto cleanup;
        }
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
    CLOSE_ID(H5Fclose, fid);
    if (nm || pm || sz) sk_h5w_perms_free(n_order, nm, pm, sz); /* zero-filled: safe */
    sk_free(seen);
    sk_free(order);
    h5_links_free(&L);
    return st;
}

/* ---- info --------------------------------------------------------------- */

typedef struct {
    char shape[128], dtype[48];
    int has_stats;
    double min, max, mean, l2;
    int64_t n_nan;
    char err[256];
} h5w_row;

/* min, max, mean and L2 norm in double, reading about 1M values at a time
 * (NaNs are counted and left out). */
static sk_status ds_stats(hid_t ds, const char *path, const char *name, h5w_row *row)
{
    sk_status st = SK_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    hsize_t dims[H5S_MAX_RANK], start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
    double *buf = NULL, sum = 0, sq = 0, mn = INFINITY, mx = -INFINITY;
    hsize_t rows, rowlen = 1, block, cnt = 0;
    int r;
    if ((fspace = H5Dget_space(ds)) < 0 || (r = H5Sget_simple_extent_dims(fspace, dims, NULL)) < 0) {
        st = h5_corrupt(path, name);
        goto cleanup;
    }
    if (H5Sget_simple_extent_type(fspace) == H5S_NULL) goto cleanup;
    rows = r ? dims[0] : 1;
    for (int d = 1; d < r; d++)
        rowlen *= dims[d];
    if (rows == 0 || rowlen == 0) goto cleanup;
    if (rowlen > (hsize_t)H5W_MAX_NUMEL || rows > (hsize_t)H5W_MAX_NUMEL) {
        st = sk_err(SK_EFORMAT, "%s: dataset %s has an implausible size", path, name);
        goto cleanup;
    }
    block = rowlen >= (1u << 20) ? 1 : (1u << 20) / rowlen;
    if (block > rows) block = rows;
    if (!(buf = sk_alloc_n((size_t)(block * rowlen), sizeof *buf))) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int d = 0; d < r; d++)
        count[d] = dims[d];
    for (hsize_t r0 = 0; r0 < rows; r0 += block) {
        hsize_t b = rows - r0 < block ? rows - r0 : block, nel = b * rowlen;
        if (r) {
            start[0] = r0;
            count[0] = b;
            if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0) {
                st = h5_corrupt(path, name);
                goto cleanup;
            }
        }
        if ((mspace = H5Screate_simple(1, &nel, NULL)) < 0 ||
            H5Dread(ds, H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, buf) < 0) {
            st = h5_corrupt(path, name);
            goto cleanup;
        }
        CLOSE_ID(H5Sclose, mspace);
        for (hsize_t i = 0; i < nel; i++) {
            double v = buf[i];
            if (isnan(v)) {
                row->n_nan++;
                continue;
            }
            if (v < mn) mn = v;
            if (v > mx) mx = v;
            sum += v;
            sq += v * v;
            cnt++;
        }
    }
    if (cnt) {
        row->has_stats = 1;
        row->min = mn;
        row->max = mx;
        row->mean = sum / (double)cnt;
        row->l2 = sqrt(sq);
    }
cleanup:
    CLOSE_ID(H5Sclose, mspace);
    CLOSE_ID(H5Sclose, fspace);
    sk_free(buf);
    return st;
}

static herr_t attr_names_cb(hid_t loc, const char *name, const H5A_info_t *info, void *ud)
{
    h5w_links *L = ud;
    (void)loc;
    (void)info;
    if (L->n == L->cap) {
        int cap = L->cap ? 2 * L->cap : 16;
        char **nd = realloc(L->ds, (size_t)cap * sizeof *nd);
        if (!nd) return -1;
        L->ds = nd;
        L->cap = cap;
    }
    if (!(L->ds[L->n] = strdup(name))) return -1;
    L->n++;
    return 0;
}

/* One line for an attribute other than the known ones. */
static void info_attr_value(FILE *out, hid_t fid, const char *path, const char *name)
{
    hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID, space = H5I_INVALID_HID;
    char dt[48];
    hssize_t np;
    double v[8];
    if ((attr = H5Aopen(fid, name, H5P_DEFAULT)) < 0 || (ftype = H5Aget_type(attr)) < 0 ||
        (space = H5Aget_space(attr)) < 0 || (np = H5Sget_simple_extent_npoints(space)) < 0) {
        fprintf(out, "(unreadable)\n");
        goto cleanup;
    }
    dtype_str(ftype, dt, sizeof dt);
    if (H5Tget_class(ftype) == H5T_STRING) {
        char *text = NULL;
        if (attr_read_text(fid, path, name, &text) != SK_OK || !text) {
            fprintf(out, "(unreadable string)\n");
        } else {
            char *nl = strchr(text, '\n');
            int len = nl ? (int)(nl - text) : (int)strlen(text);
            fprintf(out, "%.*s%s\n", len > 200 ? 200 : len, text, nl ? " ..." : (len > 200 ? "..." : ""));
        }
        sk_free(text);
    } else if ((H5Tget_class(ftype) == H5T_INTEGER || H5Tget_class(ftype) == H5T_FLOAT) && np >= 1 && np <= 8 &&
               H5Aread(attr, H5T_NATIVE_DOUBLE, v) >= 0) {
        for (hssize_t i = 0; i < np; i++)
            fprintf(out, "%s%.9g", i ? ", " : "", v[i]);
        fprintf(out, "  (%s)\n", dt);
    } else {
        fprintf(out, "<%s, %lld values>\n", dt, (long long)np);
    }
cleanup:
    CLOSE_ID(H5Sclose, space);
    CLOSE_ID(H5Tclose, ftype);
    CLOSE_ID(H5Aclose, attr);
}

static int info_is_known(const char *name)
{
    static const char *known[] = {"format", "format_version", "arch", "param_order", "perm_order"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(name, known[i]) == 0) return 1;
    return 0;
}

static void info_count_lines(FILE *out, const char *label, const char *text)
{
    int n = text[0] ? 1 : 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    fprintf(out, "%-16s %d names\n", label, n);
}

sk_status sk_h5w_info(const char *path, FILE *out)
{
    sk_status st = SK_OK, first_err = SK_OK;
    char first_msg[1024] = "";
    hid_t fid = H5I_INVALID_HID, ds = H5I_INVALID_HID, ftype = H5I_INVALID_HID;
    h5w_links L = {0}, A = {0};
    h5w_row *rows = NULL;
    char *fmt = NULL, *arch = NULL, *order = NULL;
    long long ver = 0;
    int has_ver = 0, wname = 4, wshape = 5, wdt = 5;
    long long total = 0;
    struct stat sb;
    hsize_t aidx = 0;

    if (!out) return sk_err(SK_EINVAL, "sk_h5w_info: NULL output stream");
    if ((st = h5_open_read(path, &fid)) != SK_OK) return st;
    fprintf(out, "%s: HDF5 file, %lld bytes\n", path, stat(path, &sb) == 0 ? (long long)sb.st_size : -1LL);
    if ((st = attr_read_text(fid, path, "format", &fmt)) != SK_OK ||
        (st = attr_read_int(fid, path, "format_version", &ver, &has_ver)) != SK_OK)
        goto cleanup;
    fprintf(out, "%-16s %s\n", "format:", fmt ? fmt : "(none: not written by sinkrb)");
    if (has_ver) fprintf(out, "%-16s %lld\n", "format_version:", ver);
    if ((st = attr_read_text(fid, path, "arch", &arch)) != SK_OK) goto cleanup;
    if (arch) {
        const char *line = arch;
        fprintf(out, "arch:\n");
        while (line) {
            const char *nl = strchr(line, '\n');
            int len = nl ? (int)(nl - line) : (int)strlen(line);
            fprintf(out, len ? "    %.*s\n" : "%.*s\n", len, line);
            line = nl ? nl + 1 : NULL;
            if (line && !*line) break;
        }
    }
    if ((st = attr_read_text(fid, path, "param_order", &order)) != SK_OK) goto cleanup;
    if (order) info_count_lines(out, "param_order:", order);
    sk_free(order);
    order = NULL;
    if ((st = attr_read_text(fid, path, "perm_order", &order)) != SK_OK) goto cleanup;
    if (order) info_count_lines(out, "perm_order:", order);
    A.path = path;
    if (H5Aiterate2(fid, H5_INDEX_NAME, H5_ITER_INC, &aidx, attr_names_cb, &A) < 0) {
        st = h5_corrupt(path, "root attributes");
        goto cleanup;
    }
    for (int i = 0; i < A.n; i++) {
        if (info_is_known(A.ds[i])) continue;
        fprintf(out, "%-16s ", A.ds[i]);
        info_attr_value(out, fid, path, A.ds[i]);
    }

    if (fmt && strcmp(fmt, SK_H5W_PERM_FORMAT) == 0) {
        int ng = 0;
        char **gn = NULL;
        int64_t **gp = NULL, *gs = NULL;
        if (sk_h5w_read_perms(path, &ng, &gn, &gp, &gs) != SK_OK) {
            fprintf(out, "permutation groups: invalid: %s\n", sk_err_msg());
            first_err = SK_EFORMAT;
            snprintf(first_msg, sizeof first_msg, "%s", sk_err_msg());
        } else {
            fprintf(out, "permutation groups (%d):\n", ng);
            for (int g = 0; g < ng; g++) {
                int64_t fixed = 0;
                for (int64_t i = 0; i < gs[g]; i++)
                    fixed += gp[g][i] == i;
                fprintf(out, "    %-24s size %-8lld %s", gn[g], (long long)gs[g], fixed == gs[g] ? "identity\n" : "");
                if (fixed != gs[g]) fprintf(out, "moves %lld of %lld\n", (long long)(gs[g] - fixed), (long long)gs[g]);
            }
        }
        sk_h5w_perms_free(ng, gn, gp, gs);
    }

    L.path = path;
    if ((st = h5_walk_group(fid, "", 0, 1, &L)) != SK_OK) goto cleanup;
    if (!(rows = sk_alloc_n((size_t)(L.n ? L.n : 1), sizeof *rows))) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int i = 0; i < L.n; i++) {
        h5w_row *row = &rows[i];
        int ndim = 0;
        int64_t shape[H5S_MAX_RANK];
        H5T_class_t cls;
        int len = (int)strlen(L.ds[i]);
        if (len > wname) wname = len;
        if ((ds = H5Dopen2(fid, L.ds[i], H5P_DEFAULT)) < 0 || (ftype = H5Dget_type(ds)) < 0) {
            h5_corrupt(path, L.ds[i]);
            goto row_err;
        }
        dtype_str(ftype, row->dtype, sizeof row->dtype);
        cls = H5Tget_class(ftype);
        if (ds_shape(ds, path, L.ds[i], H5S_MAX_RANK, &ndim, shape) != SK_OK) goto row_err;
        shape_str(ndim, shape, row->shape, sizeof row->shape);
        if (cls == H5T_FLOAT || cls == H5T_INTEGER) {
            long long numel = 1;
            for (int d = 0; d < ndim; d++)
                numel *= shape[d];
            total += numel;
        }
        if ((cls == H5T_FLOAT || cls == H5T_INTEGER) && ds_stats(ds, path, L.ds[i], row) != SK_OK) goto row_err;
        goto row_done;
    row_err:
        snprintf(row->err, sizeof row->err, "%s", sk_err_msg());
        if (first_err == SK_OK) {
            first_err = SK_EFORMAT;
            snprintf(first_msg, sizeof first_msg, "%s", sk_err_msg());
        }
    row_done:
        if ((int)strlen(row->shape) > wshape) wshape = (int)strlen(row->shape);
        if ((int)strlen(row->dtype) > wdt) wdt = (int)strlen(row->dtype);
        CLOSE_ID(H5Tclose, ftype);
        CLOSE_ID(H5Dclose, ds);
    }
    fprintf(out, "datasets (%d, %lld values):\n", L.n, total);
    if (L.n)
        fprintf(out, "    %-*s  %-*s  %-*s  %13s %13s %13s %13s\n", wname, "name", wshape, "shape", wdt, "dtype", "min",
                "max", "mean", "l2");
    for (int i = 0; i < L.n; i++) {
        const h5w_row *row = &rows[i];
        fprintf(out, "    %-*s  %-*s  %-*s", wname, L.ds[i], wshape, row->shape, wdt, row->dtype);
        if (row->err[0])
            fprintf(out, "  error: %s", row->err);
        else if (row->has_stats)
            fprintf(out, "  %13.6g %13.6g %13.6g %13.6g", row->min, row->max, row->mean, row->l2);
        else
            fprintf(out, "  %13s %13s %13s %13s", "-", "-", "-", "-");
        if (row->n_nan) fprintf(out, "  (%lld NaN)", (long long)row->n_nan);
        fprintf(out, "\n");
    }
    if (first_err != SK_OK) st = sk_err(first_err, "%s", first_msg);
cleanup:
    if (st == SK_OK && (fflush(out) != 0 || ferror(out)))
        st = sk_err(SK_EIO, "%s: cannot write the report: %s", path, strerror(errno));
    CLOSE_ID(H5Tclose, ftype);
    CLOSE_ID(H5Dclose, ds);
    CLOSE_ID(H5Fclose, fid);
    h5_links_free(&L);
    h5_links_free(&A);
    sk_free(rows);
    sk_free(fmt);
    sk_free(arch);
    sk_free(order);
    return st;
}
