/* csv.c - atomic CSV writer (see csv.h). */
#include "io/csv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "io/atomic.h"

#define SK_CSV_NQ 8

/* Rows collect in memory; the file (temporary name, then renamed) is only
 * created by sk_csv_close, so an interrupted run leaves no temporary CSV. */
struct sk_csv {
    char path[SK_PATH_MAX];
    FILE *mem; /* open_memstream over buf */
    char *buf;
    size_t len;
    int failed; /* a write or quoting allocation failed */
    int write_errno;
    char *q[SK_CSV_NQ]; /* rotating buffers for sk_csv_q */
    size_t qcap[SK_CSV_NQ];
    int qnext;
};

static int csv_needs_quotes(const char *s)
{
    size_t n = strlen(s);
    if (n > 0 && (s[0] == ' ' || s[n - 1] == ' ')) return 1;
    return strpbrk(s, ",\"\r\n") != NULL;
}

size_t sk_csv_quote(char *dst, size_t n, const char *field)
{
    size_t k = 0;
    int quote = csv_needs_quotes(field);
#define CSV_PUT(ch)                                                                                                    \
    do {                                                                                                               \
        if (k + 1 < n) dst[k] = (ch);                                                                                  \
        k++;                                                                                                           \
    } while (0)
    if (quote) CSV_PUT('"');
    for (const char *p = field; *p; p++) {
        if (*p == '"') CSV_PUT('"');
        CSV_PUT(*p);
    }
    if (quote) CSV_PUT('"');
#undef CSV_PUT
    if (n > 0) dst[k < n ? k : n - 1] = '\0';
    return k;
}

const char *sk_csv_q(sk_csv *c, const char *field)
{
    int i = c->qnext;
    c->qnext = (c->qnext + 1) % SK_CSV_NQ;
    size_t need = sk_csv_quote(NULL, 0, field) + 1;
    if (need > c->qcap[i]) {
        char *nb = realloc(c->q[i], need);
        if (!nb) {
            if (!c->failed) {
                c->failed = 1;
                c->write_errno = ENOMEM;
            }
            return "";
        }
        c->q[i] = nb;
        c->qcap[i] = need;
    }
    sk_csv_quote(c->q[i], c->qcap[i], field);
    return c->q[i];
}

static void csv_free(sk_csv *c)
{
    if (c->mem) fclose(c->mem);
    free(c->buf);
    for (int i = 0; i < SK_CSV_NQ; i++)
        free(c->q[i]);
    sk_free(c);
}

/* The folder of path exists and is writable (checked at open, so that an
 * impossible destination is reported before any work). */
static int dir_writable(const char *path)
{
    char dir[SK_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return access(".", W_OK) == 0;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return access(dir, W_OK) == 0;
}

sk_csv *sk_csv_open(const char *path, const char *header)
{
    if (strlen(path) >= SK_PATH_MAX) {
        sk_err(SK_EIO, "%s: path too long", path);
        return NULL;
    }
    if (!dir_writable(path)) {
        sk_err(SK_EIO, "%s: cannot create: %s", path, strerror(errno));
        return NULL;
    }
    sk_csv *c = sk_alloc(sizeof *c);
    if (!c) return NULL;
    snprintf(c->path, sizeof c->path, "%s", path);
    if (!(c->mem = open_memstream(&c->buf, &c->len))) {
        csv_free(c);
        sk_err(SK_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (header && fprintf(c->mem, "%s\n", header) < 0) {
        csv_free(c);
        sk_err(SK_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    return c;
}

sk_status sk_csv_row(sk_csv *c, const char *fmt, ...)
{
    va_list ap;
    if (!c->failed) {
        va_start(ap, fmt);
        int r = vfprintf(c->mem, fmt, ap);
        va_end(ap);
        if (r < 0 || fputc('\n', c->mem) == EOF) {
            c->failed = 1;
            c->write_errno = errno ? errno : ENOMEM;
        }
    }
    if (c->failed) return sk_err(SK_EIO, "%s: write failed: %s", c->path, strerror(c->write_errno));
    return SK_OK;
}

sk_status sk_csv_close(sk_csv *c)
{
    sk_status st;
    if (!c) return sk_err(SK_EINVAL, "sk_csv_close: NULL");
    if (fclose(c->mem) != 0 && !c->failed) {
        c->failed = 1;
        c->write_errno = errno;
    }
    c->mem = NULL;
    if (c->failed)
        st = sk_err(SK_EIO, "%s: write failed: %s", c->path, strerror(c->write_errno));
    else
        st = sk_write_file_atomic(c->path, c->buf, c->len);
    csv_free(c);
    return st;
}

void sk_csv_abort(sk_csv *c)
{
    if (!c) return;
    csv_free(c);
}
