/* h5w_info.c - `sinkrb info FILE.h5` (see sk_h5w_info in h5w.h; the HDF5
 * plumbing is declared in h5util.h). The report is made in the reading child
 * (sk_h5u_isolated) and sent to the parent piece by piece, which escapes
 * what is not printable text and writes it out, so a crash part way still
 * shows what came before it. A problem with one attribute, one dataset or
 * the permutation groups is reported in its place and the report goes on;
 * the first such problem becomes the returned error. */
#include "io/h5w.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/mem.h"
#include "io/h5util.h"

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
        snprintf(buf, n, "%s", sk_h5u_class_name(c));
}

typedef struct {
    char shape[128], dtype[48];
    int has_stats;
    double min, max, mean, l2;
    int64_t n_nan;
    char err[512];
    sk_h5u_key key;       /* the dataset object, for names sharing one */
    int has_key, same_as; /* same_as: an earlier row with the same key, or -1 */
} h5w_row;

/* The first problem met while reporting. */
typedef struct {
    sk_status st;
    char msg[1024];
} h5w_first;

/* Keep the current sk_err message when it is the first problem; info goes
 * on past it, so the next problem starts a chain of its own. */
static void note_problem(h5w_first *first)
{
    if (first->st == SK_OK) {
        first->st = SK_EFORMAT;
        snprintf(first->msg, sizeof first->msg, "%s", sk_err_msg());
    }
    sk_err_clear();
}

/* min, max, mean and L2 norm in double, block by block (NaNs are counted
 * and left out). */
typedef struct {
    double sum, sq, mn, mx;
    int64_t cnt, n_nan;
} h5w_acc;

static sk_status stats_block(void *vals, size_t n, int64_t first, void *ud)
{
    h5w_acc *a = ud;
    const double *v = vals;
    (void)first;
    for (size_t i = 0; i < n; i++) {
        double x = v[i];
        if (isnan(x)) {
            a->n_nan++;
            continue;
        }
        if (x < a->mn) a->mn = x;
        if (x > a->mx) a->mx = x;
        a->sum += x;
        a->sq += x * x;
        a->cnt++;
    }
    return SK_OK;
}

static sk_status ds_stats(hid_t ds, const char *path, const char *name, h5w_row *row, sk_h5u_chan *ch)
{
    h5w_acc a = {0, 0, INFINITY, -INFINITY, 0, 0};
    sk_status st = sk_h5u_read_blocks(ds, path, name, H5T_NATIVE_DOUBLE, stats_block, &a, ch);
    row->n_nan = a.n_nan;
    if (st == SK_OK && a.cnt) {
        row->has_stats = 1;
        row->min = a.mn;
        row->max = a.mx;
        row->mean = a.sum / (double)a.cnt;
        row->l2 = sqrt(a.sq);
    }
    return st;
}

static herr_t attr_names_cb(hid_t loc, const char *name, const H5A_info_t *info, void *ud)
{
    sk_h5u_links *L = ud;
    char *dup = strdup(name);
    (void)loc;
    (void)info;
    if (!dup || sk_h5u_links_add(L, dup) != SK_OK) {
        free(dup);
        return -1;
    }
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
        if (sk_h5u_attr_read_text(fid, path, name, &text) != SK_OK || !text) {
            fprintf(out, "(unreadable string: %s)\n", sk_err_msg());
            sk_err_clear(); /* shown as unreadable; info goes on */
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

/* A known attribute that could not be read: said in its place. */
static void info_unreadable(FILE *out, const char *label, h5w_first *first)
{
    fprintf(out, "%-16s (unreadable: %s)\n", label, sk_err_msg());
    note_problem(first);
}

/* The root attributes: the known ones first, in a fixed order, then any
 * others. *fmt receives the format attribute (NULL when absent; sk_free). */
static sk_status info_attrs(FILE *out, hid_t fid, const char *path, char **fmt, h5w_first *first)
{
    sk_status st = SK_OK;
    sk_h5u_links A = {0};
    char *arch = NULL, *order = NULL;
    long long ver = 0;
    int has_ver = 0;
    hsize_t aidx = 0;
    if (sk_h5u_attr_read_text(fid, path, "format", fmt) != SK_OK)
        info_unreadable(out, "format:", first);
    else
        fprintf(out, "%-16s %s\n", "format:", *fmt ? *fmt : "(none: not written by sinkrb)");
    if (sk_h5u_attr_read_int(fid, path, "format_version", &ver, &has_ver) != SK_OK)
        info_unreadable(out, "format_version:", first);
    else if (has_ver)
        fprintf(out, "%-16s %lld\n", "format_version:", ver);
    if (sk_h5u_attr_read_text(fid, path, "arch", &arch) != SK_OK) {
        info_unreadable(out, "arch:", first);
    } else if (arch) {
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
    if (sk_h5u_attr_read_text(fid, path, "param_order", &order) != SK_OK)
        info_unreadable(out, "param_order:", first);
    else if (order)
        info_count_lines(out, "param_order:", order);
    sk_free(order);
    order = NULL;
    if (sk_h5u_attr_read_text(fid, path, "perm_order", &order) != SK_OK)
        info_unreadable(out, "perm_order:", first);
    else if (order)
        info_count_lines(out, "perm_order:", order);
    A.path = path;
    if (H5Aiterate2(fid, H5_INDEX_NAME, H5_ITER_INC, &aidx, attr_names_cb, &A) < 0) {
        st = sk_h5u_corrupt(path, "root attributes");
        goto cleanup;
    }
    for (int i = 0; i < A.n; i++) {
        if (info_is_known(A.ds[i])) continue;
        fprintf(out, "%-16s ", A.ds[i]);
        info_attr_value(out, fid, path, A.ds[i]);
    }
cleanup:
    sk_h5u_links_free(&A);
    sk_free(arch);
    sk_free(order);
    return st;
}

/* A permutation file's groups: size, and how many entries each moves. */
static void info_perms(FILE *out, hid_t fid, const char *path, int64_t fsize, h5w_first *first)
{
    int ng = 0;
    char **gn = NULL;
    int64_t **gp = NULL, *gs = NULL;
    if (sk_h5w_perms_read_open(fid, path, fsize, &ng, &gn, &gp, &gs) != SK_OK) {
        fprintf(out, "permutation groups: invalid: %s\n", sk_err_msg());
        note_problem(first);
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

/* One dataset's row of the table (what could be learnt before a failure
 * stays in it); numeric datasets add their size to *total. A second name
 * of a dataset already in the table gets no statistics of its own. */
static sk_status info_row(hid_t fid, const char *path, int64_t fsize, const char *name, h5w_row *rows, int i,
                          long long *total, sk_h5u_chan *ch)
{
    sk_status st;
    h5w_row *row = &rows[i];
    hid_t ds = H5I_INVALID_HID, ftype = H5I_INVALID_HID;
    int ndim = 0, compressed = 0;
    int64_t shape[H5S_MAX_RANK], raw = 0;
    H5T_class_t cls;
    row->same_as = -1;
    if ((st = sk_h5u_open_dataset(fid, path, name, &ds, &ftype)) != SK_OK) goto cleanup;
    dtype_str(ftype, row->dtype, sizeof row->dtype);
    cls = H5Tget_class(ftype);
    if ((st = sk_h5u_ds_shape(ds, path, name, H5S_MAX_RANK, &ndim, shape)) != SK_OK) goto cleanup;
    sk_h5u_shape_str(ndim, shape, row->shape, sizeof row->shape);
    row->has_key = sk_h5u_obj_key(ds, &row->key) == SK_OK;
    for (int j = 0; row->has_key && j < i; j++)
        if (rows[j].has_key && memcmp(&rows[j].key, &row->key, sizeof row->key) == 0) {
            row->same_as = j;
            goto cleanup;
        }
    if (cls == H5T_FLOAT || cls == H5T_INTEGER) {
        long long numel = 1;
        for (int d = 0; d < ndim; d++)
            numel *= shape[d];
        *total += numel;
        if ((st = sk_h5u_ds_check_size(ds, ftype, path, name, ndim, shape, fsize, &raw, &compressed)) != SK_OK)
            goto cleanup;
        st = ds_stats(ds, path, name, row, ch);
    }
cleanup:
    CLOSE_ID(H5Tclose, ftype);
    CLOSE_ID(H5Dclose, ds);
    return st;
}

/* The table of every dataset in the file, groups walked, then the links
 * not followed and the groups too deep to list. */
static sk_status info_datasets(FILE *out, hid_t fid, const char *path, int64_t fsize, h5w_first *first, sk_h5u_chan *ch)
{
    sk_status st = SK_OK;
    sk_h5u_links L = {0};
    h5w_row *rows = NULL;
    int wname = 4, wshape = 5, wdt = 5;
    long long total = 0;
    char walk_err[1024] = "";
    if (sk_h5u_walk(fid, path, 1, &L) != SK_OK) { /* the datasets found before it go in the table */
        snprintf(walk_err, sizeof walk_err, "%s", sk_err_msg());
        note_problem(first);
    }
    if (!(rows = sk_alloc_n((size_t)(L.n ? L.n : 1), sizeof *rows))) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int i = 0; i < L.n; i++) {
        h5w_row *row = &rows[i];
        int len = (int)strlen(L.ds[i]);
        if (len > wname) wname = len;
        if (info_row(fid, path, fsize, L.ds[i], rows, i, &total, ch) != SK_OK) {
            snprintf(row->err, sizeof row->err, "%s", sk_err_msg());
            note_problem(first);
        }
        if ((int)strlen(row->shape) > wshape) wshape = (int)strlen(row->shape);
        if ((int)strlen(row->dtype) > wdt) wdt = (int)strlen(row->dtype);
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
        else if (row->same_as >= 0)
            fprintf(out, "  (the same dataset as %s)", L.ds[row->same_as]);
        else if (row->has_stats)
            fprintf(out, "  %13.6g %13.6g %13.6g %13.6g", row->min, row->max, row->mean, row->l2);
        else
            fprintf(out, "  %13s %13s %13s %13s", "-", "-", "-", "-");
        if (row->n_nan) fprintf(out, "  (%lld NaN)", (long long)row->n_nan);
        fprintf(out, "\n");
    }
    if (L.n_lk) fprintf(out, "links (%d):\n", L.n_lk);
    for (int i = 0; i < L.n_lk; i++) {
        static const char *kind[] = {"soft link, not followed", "external link, not followed",
                                     "the same group, listed once"};
        fprintf(out, "    %s -> %s (%s)\n", L.lk[i].name, L.lk[i].target, kind[L.lk[i].kind]);
    }
    if (walk_err[0]) fprintf(out, "not listed: what lies past an unreadable link or group: %s\n", walk_err);
    if (L.n_deep)
        fprintf(out, "not listed: groups nested deeper than %d (%d; the first: %s)\n", H5W_MAX_DEPTH, L.n_deep, L.deep);
cleanup:
    sk_h5u_links_free(&L);
    sk_free(rows);
    return st;
}

/* Sending the report: the text written to the memory stream since the
 * last piece, as (1, text) pieces; (0) ends it. */
typedef struct {
    FILE *out;
    char *buf;
    size_t len, sent;
} h5w_text;

static void text_send(sk_h5u_chan *ch, h5w_text *t)
{
    fflush(t->out);
    while (t->sent < t->len) {
        size_t k = t->len - t->sent < ((size_t)1 << 20) ? t->len - t->sent : (size_t)1 << 20;
        sk_h5u_put_u64(ch, 1);
        sk_h5u_put_u64(ch, (uint64_t)k);
        sk_h5u_put(ch, t->buf + t->sent, k);
        t->sent += k;
    }
    sk_h5u_beat(ch);
}

static sk_status info_child(sk_h5u_chan *ch, void *arg)
{
    const char *path = sk_h5u_chan_path(ch);
    int64_t fsize = sk_h5u_chan_size(ch);
    sk_status st;
    h5w_first first = {SK_OK, ""};
    hid_t fid = H5I_INVALID_HID;
    char *fmt = NULL;
    h5w_text t = {NULL, NULL, 0, 0};
    (void)arg;
    if (!(t.out = open_memstream(&t.buf, &t.len))) return sk_err(SK_ENOMEM, "%s: out of memory", path);
    if ((st = sk_h5u_open_read(path, &fid)) != SK_OK) goto cleanup;
    fprintf(t.out, "%s: HDF5 file, %lld bytes\n", path, (long long)fsize);
    text_send(ch, &t);
    if ((st = info_attrs(t.out, fid, path, &fmt, &first)) != SK_OK) goto cleanup;
    text_send(ch, &t);
    if (fmt && strcmp(fmt, SK_H5W_PERM_FORMAT) == 0) {
        info_perms(t.out, fid, path, fsize, &first);
        text_send(ch, &t);
    }
    if ((st = info_datasets(t.out, fid, path, fsize, &first, ch)) != SK_OK) goto cleanup;
    if (first.st != SK_OK) st = sk_err(first.st, "%s", first.msg);
cleanup:
    text_send(ch, &t);
    if (st == SK_OK) sk_h5u_put_u64(ch, 0);
    fclose(t.out);
    free(t.buf);
    CLOSE_ID(H5Fclose, fid);
    sk_free(fmt);
    return st;
}

/* The parent: every piece, escaped, to the caller's stream. */
static sk_status info_parent(sk_h5u_chan *ch, void *arg)
{
    FILE *out = arg;
    sk_status st;
    for (;;) {
        uint64_t kind;
        char *piece = NULL;
        uint64_t n;
        sk_strbuf esc = SK_STRBUF_INIT;
        if ((st = sk_h5u_get_u64(ch, &kind, 1)) != SK_OK || kind == 0) return st;
        if ((st = sk_h5u_get_u64(ch, &n, (uint64_t)1 << 20)) != SK_OK) return st;
        if (!(piece = malloc(n ? (size_t)n : 1))) return sk_err(SK_ENOMEM, "out of memory");
        if ((st = sk_h5u_get(ch, piece, (size_t)n)) == SK_OK) {
            sk_h5u_escape(&esc, piece, (size_t)n, 1);
            if (esc.err != SK_OK)
                st = SK_ENOMEM;
            else
                fwrite(sk_strbuf_str(&esc), 1, esc.len, out);
        }
        sk_strbuf_free(&esc);
        free(piece);
        if (st != SK_OK) return st;
    }
}

sk_status sk_h5w_info(const char *path, FILE *out)
{
    sk_status st;
    if (!out) return sk_err(SK_EINVAL, "sk_h5w_info: NULL output stream");
    st = sk_h5u_isolated(path, info_child, info_parent, out);
    if (st == SK_OK && (fflush(out) != 0 || ferror(out)))
        st = sk_err(SK_EIO, "%s: cannot write the report: %s", path, strerror(errno));
    return st;
}
