/* testutil.h - shared helpers for the Check suites. */
#ifndef SK_TESTUTIL_H
#define SK_TESTUTIL_H
#include <check.h>
#include <stddef.h>

/* A fresh empty directory under $TMPDIR (or /tmp); caller frees nothing,
 * the path lives until the process ends. Removed at exit. */
const char *tu_tmpdir(void);
/* tu_tmpdir()/name into a static rotating buffer. */
const char *tu_path(const char *name);
/* Write bytes / a string to a file; ck_abort on failure. */
void tu_write(const char *path, const void *data, size_t n);
void tu_write_str(const char *path, const char *s);
/* Read a whole file into a malloc'd NUL-terminated buffer (n may be NULL). */
char *tu_read(const char *path, size_t *n);
/* Path under the source tree (SK_TOP_SRCDIR/rel) in a static rotating buffer. */
const char *tu_src(const char *rel);
/* Run a suite; returns the process exit status (0 when all passed). */
int tu_run(Suite *s);

#endif
