/* atomic.h - results are written to a temporary file in the target folder and
 * renamed into place, so an interrupted run never leaves a half-written file
 * under its final name. */
#ifndef SK_IO_ATOMIC_H
#define SK_IO_ATOMIC_H
#include <stdio.h>
#include <stddef.h>

#include "core/err.h"

#define SK_PATH_MAX 4096

typedef struct {
    FILE *fp;               /* write here */
    char path[SK_PATH_MAX]; /* final name */
    char tmp[SK_PATH_MAX];  /* temporary name in the same folder */
} sk_afile;

SK_MUST_CHECK sk_status sk_afile_open(sk_afile *f, const char *path);
/* Flush, fsync, close and rename into place. On failure the temp is removed. */
SK_MUST_CHECK sk_status sk_afile_commit(sk_afile *f);
/* Close and remove the temporary file (safe to call after a failed open). */
void sk_afile_abort(sk_afile *f);

/* A unique temporary path next to `path` (for writers that open files
 * themselves, such as HDF5); rename with sk_atomic_rename. */
SK_MUST_CHECK sk_status sk_atomic_tmpname(const char *path, char *tmp, size_t n);
SK_MUST_CHECK sk_status sk_atomic_rename(const char *tmp, const char *path);

SK_MUST_CHECK sk_status sk_write_file_atomic(const char *path, const void *data, size_t n);
/* mkdir -p */
SK_MUST_CHECK sk_status sk_mkdir_p(const char *path);
int sk_file_exists(const char *path);
/* Do a and b name the same existing file (same device and inode)? */
int sk_same_file(const char *a, const char *b);

#endif
