/* h5util.c - HDF5 plumbing shared by the weights, permutation and info code:
 * HDF5's error messages, text from files, small helpers for messages (see
 * h5util.h for the map of the other h5*.c files, and for why reading happens
 * in a child process and writing in memory). */
#include "io/h5util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

/* ---- text --------------------------------------------------------------- */

/* Bytes in the printable UTF-8 character at s (n bytes left): 1 for ASCII
 * other than controls and DEL, 2-4 for a valid sequence that is not a C1
 * control, overlong, a surrogate or beyond U+10FFFF; 0 when not printable. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0], cp;
    size_t k;
    if (c < 0x80) return c >= 0x20 && c != 0x7f;
    if (c >= 0xc2 && c <= 0xdf) {
        k = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    if (cp <= 0x9f) return 0; /* C1 controls */
    return k;
}

void sk_h5u_escape(sk_strbuf *out, const char *s, size_t n, int keep_nl)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_len(u + i, n - i), j = i;
        while (k > 0 && j < n) { /* a run of printable characters at once */
            j += k;
            k = j < n ? utf8_len(u + j, n - j) : 0;
        }
        if (j > i) {
            sk_strbuf_append_n(out, s + i, j - i);
            i = j;
            continue;
        }
        if (keep_nl && (u[i] == '\n' || u[i] == '\t'))
            sk_strbuf_append_n(out, s + i, 1);
        else
            sk_strbuf_appendf(out, "\\x%02x", u[i]);
        i++;
    }
}

int sk_h5u_is_text(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(u + i, n - i);
        if (k == 0 && u[i] != '\n' && u[i] != '\r' && u[i] != '\t') return 0;
        i += k ? k : 1;
    }
    return 1;
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

void sk_h5u_bytes_str(double bytes, char *buf, size_t n)
{
    static const char *unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = -1;
    if (bytes < 10240) {
        snprintf(buf, n, "%.0f bytes", bytes);
        return;
    }
    while (bytes >= 1024 && u < 5) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, n, "%.1f %s", bytes, unit[u]);
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
