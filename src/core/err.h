/* err.h - status codes and the error message of a failing call chain.
 *
 * Library code never prints and never exits: it returns an sk_status and
 * leaves a human-readable message (naming the file/place and, where useful,
 * a "HINT:" with the fix) in a thread-local buffer. The CLI prints it.
 *
 * Like curl's error buffer, the buffer keeps the FIRST message of a failing
 * chain: the function that detects a failure calls sk_err, and when its
 * callers call sk_err again on the way up, their (less specific) messages
 * are dropped; a caller that wants to add context uses sk_err_prefix. The
 * chain starts at sk_err_clear(), which each top-level operation calls
 * (a command, loading a config, a data set or a weights file) and which a
 * caller calls when it recovers from a failure it handled. */
#ifndef SK_CORE_ERR_H
#define SK_CORE_ERR_H

typedef enum {
    SK_OK = 0,
    SK_EIO,     /* file missing, unreadable, unwritable */
    SK_EFORMAT, /* corrupt or unexpected file content */
    SK_ECONFIG, /* config error (exit status 2) */
    SK_EUSAGE,  /* command-line usage error (exit status 2) */
    SK_ENOMEM,
    SK_EINVAL,  /* invalid argument to a library call */
    SK_ENUMERIC /* numerical failure (NaN, divergence) */
} sk_status;

/* Status-returning functions whose result must be looked at. */
#define SK_MUST_CHECK __attribute__((warn_unused_result))

/* Record a message (unless the chain already has one) and return `code`, so
 * callers can write
 *   return sk_err(SK_EFORMAT, "%s: bad magic", path); */
sk_status sk_err(sk_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepend context to the current message ("loading model a: <old>"). */
sk_status sk_err_prefix(sk_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sk_err_msg(void); /* "" when none; borrowed */
/* Start a new chain: no message. */
void sk_err_clear(void);
const char *sk_status_name(sk_status s);
/* Process exit status for a status: 0 ok, 2 usage/config, 1 otherwise. */
int sk_status_exit_code(sk_status s);

#endif
