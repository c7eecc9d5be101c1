#include "io/log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"

struct sk_log {
    FILE *file;
    int quiet;
};

sk_status sk_log_open(sk_log **out, const char *path, int quiet)
{
    sk_log *l = sk_alloc(sizeof *l);
    if (!l) return SK_ENOMEM;
    l->quiet = quiet;
    if (path) {
        l->file = fopen(path, "a");
        if (!l->file) {
            int e = errno;
            sk_free(l);
            return sk_err(SK_EIO, "%s: cannot open log: %s", path, strerror(e));
        }
    }
    *out = l;
    return SK_OK;
}

void sk_log_close(sk_log *l)
{
    if (!l) return;
    if (l->file) fclose(l->file);
    sk_free(l);
}

static void to_file(sk_log *l, const char *msg)
{
    char ts[32];
    struct timespec now;
    struct tm tm;
    if (!l || !l->file) return;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    /* Multi-line messages: stamp every line. */
    const char *p = msg;
    do {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(l->file, "%s.%03ldZ %.*s\n", ts, now.tv_nsec / 1000000, len, p);
        p = nl ? nl + 1 : NULL;
    } while (p && *p);
    fflush(l->file);
}

#define FORMAT(buf, fmt)                                                                                               \
    char buf[8192];                                                                                                    \
    va_list ap;                                                                                                        \
    va_start(ap, fmt);                                                                                                 \
    vsnprintf(buf, sizeof buf, fmt, ap);                                                                               \
    va_end(ap)

void sk_log_out(sk_log *l, const char *fmt, ...)
{
    FORMAT(msg, fmt);
    if (!l || !l->quiet) {
        fputs(msg, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    to_file(l, msg);
}

void sk_log_err(sk_log *l, const char *fmt, ...)
{
    FORMAT(msg, fmt);
    fputs(msg, stderr);
    fputc('\n', stderr);
    to_file(l, msg);
}

void sk_log_file(sk_log *l, const char *fmt, ...)
{
    FORMAT(msg, fmt);
    to_file(l, msg);
}
