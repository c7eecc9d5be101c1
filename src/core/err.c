#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SK_ERR_MAX 4096
static _Thread_local char err_buf[SK_ERR_MAX];

sk_status sk_err(sk_status code, const char *fmt, ...)
{
    va_list ap;
    if (err_buf[0]) return code; /* the chain's root cause is already recorded */
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return code;
}

sk_status sk_err_prefix(sk_status code, const char *fmt, ...)
{
    char old[SK_ERR_MAX], pre[SK_ERR_MAX];
    va_list ap;
    memcpy(old, err_buf, sizeof old);
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    size_t pl = strnlen(pre, sizeof pre - 1), ol = strnlen(old, sizeof old - 1);
    if (pl > SK_ERR_MAX - 1) pl = SK_ERR_MAX - 1;
    if (ol > SK_ERR_MAX - 1 - pl) ol = SK_ERR_MAX - 1 - pl;
    memcpy(err_buf, pre, pl);
    memcpy(err_buf + pl, old, ol);
    err_buf[pl + ol] = '\0';
    return code;
}

const char *sk_err_msg(void)
{
    return err_buf;
}
void sk_err_clear(void)
{
    err_buf[0] = '\0';
}

const char *sk_status_name(sk_status s)
{
    switch (s) {
    case SK_OK:
        return "ok";
    case SK_EIO:
        return "I/O error";
    case SK_EFORMAT:
        return "format error";
    case SK_ECONFIG:
        return "config error";
    case SK_EUSAGE:
        return "usage error";
    case SK_ENOMEM:
        return "out of memory";
    case SK_EINVAL:
        return "invalid argument";
    case SK_ENUMERIC:
        return "numerical error";
    }
    return "unknown error";
}

int sk_status_exit_code(sk_status s)
{
    if (s == SK_OK) return 0;
    if (s == SK_ECONFIG || s == SK_EUSAGE) return 2;
    return 1;
}
