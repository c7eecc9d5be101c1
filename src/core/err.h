/* err.h - status codes and the last error message.
 *
 * Library code never prints and never exits: it returns an sk_status and
 * leaves a human-readable message (naming the file/place and, where useful,
 * a "HINT:" with the fix) in a thread-local buffer. The CLI prints it. */
#ifndef SK_CORE_ERR_H
#define SK_CORE_ERR_H

typedef enum {
    SK_OK = 0,
    SK_EIO,      /* file missing, unreadable, unwritable */
    SK_EFORMAT,  /* corrupt or unexpected file content */
    SK_ECONFIG,  /* config error (exit status 2) */
    SK_EUSAGE,   /* command-line usage error (exit status 2) */
    SK_ENOMEM,
    SK_EINVAL,   /* invalid argument to a library call */
    SK_ENUMERIC  /* numerical failure (NaN, divergence) */
} sk_status;

/* Record a message and return `code`, so callers can write
 *   return sk_err(SK_EFORMAT, "%s: bad magic", path); */
sk_status sk_err(sk_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prepend context to the current message ("loading model a: <old>"). */
sk_status sk_err_prefix(sk_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *sk_err_msg(void);   /* "" when none; borrowed */
void sk_err_clear(void);
const char *sk_status_name(sk_status s);
/* Process exit status for a status: 0 ok, 2 usage/config, 1 otherwise. */
int sk_status_exit_code(sk_status s);

#endif
