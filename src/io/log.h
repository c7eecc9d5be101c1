/* log.h - what a run prints: the summary on stdout (unless quiet) and every
 * line, timestamped, in <output>/log.txt; progress goes to stderr only. */
#ifndef SK_IO_LOG_H
#define SK_IO_LOG_H
#include <stdio.h>

#include "core/err.h"

typedef struct sk_log sk_log;

/* path may be NULL (no file). The log file is appended to as the run goes
 * (a log is not a result: it is useful precisely when a run is interrupted). */
SK_MUST_CHECK sk_status sk_log_open(sk_log **out, const char *path, int quiet);
void sk_log_close(sk_log *l); /* NULL-safe */
/* A line for stdout and log.txt. */
void sk_log_out(sk_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line for stderr (status, warnings) and log.txt. */
void sk_log_err(sk_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line for log.txt only. */
void sk_log_file(sk_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
