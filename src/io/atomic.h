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

/* Temporary files are tracked from sk_atomic_tmpname until they are renamed
 * into place or removed, so that an interrupted run can remove its own:
 * sk_atomic_remove_temps unlinks every tracked one and returns how many (it
 * is async-signal-safe: a signal handler may call it). */
int sk_atomic_remove_temps(void);
/* Remove temporary files that runs killed without a chance to clean up left
 * in `dir` (names "<file>.tmp.<pid>.<n>" whose process no longer exists). */
void sk_atomic_remove_dead_temps(const char *dir);
/* What a path is: absent (nothing there, not even a link), a regular file,
 * or something else that is not usable as a file (a dangling or looping
 * symbolic link, a directory, a FIFO ...), with why in *why. */
typedef enum { SK_PATH_ABSENT, SK_PATH_FILE, SK_PATH_BAD } sk_path_kind;
sk_path_kind sk_path_kind_of(const char *path, const char **why);

SK_MUST_CHECK sk_status sk_write_file_atomic(const char *path, const void *data, size_t n);
/* mkdir -p */
SK_MUST_CHECK sk_status sk_mkdir_p(const char *path);
/* SK_OK when PATH is a directory or does not exist yet (its parents may not
 * either); an error naming PATH when it, or a part of it, is something else. */
SK_MUST_CHECK sk_status sk_dir_check(const char *path);
int sk_file_exists(const char *path);
/* Do a and b name the same existing file (same device and inode)? */
int sk_same_file(const char *a, const char *b);

#endif
