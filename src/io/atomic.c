#include "io/atomic.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The tracked temporary names: a fixed table, so that a signal handler can
 * walk it without allocating. A slot is free when its name is empty. */
#define SK_TEMPS 64
static char temps[SK_TEMPS][SK_PATH_MAX];

static void track(const char *tmp)
{
    for (int i = 0; i < SK_TEMPS; i++)
        if (!temps[i][0]) {
            snprintf(temps[i], sizeof temps[i], "%s", tmp);
            return;
        }
}

static void untrack(const char *tmp)
{
    for (int i = 0; i < SK_TEMPS; i++)
        if (temps[i][0] && !strcmp(temps[i], tmp)) temps[i][0] = '\0';
}

int sk_atomic_remove_temps(void)
{
    int n = 0;
    for (int i = 0; i < SK_TEMPS; i++)
        if (temps[i][0] && unlink(temps[i]) == 0) n++;
    return n;
}

void sk_atomic_remove_dead_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *de; (de = readdir(d));) {
        const char *t = strstr(de->d_name, ".tmp.");
        char *end;
        if (!t) continue;
        long pid = strtol(t + 5, &end, 10);
        if (end == t + 5 || *end != '.' || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive (or not ours to judge) */
        char path[SK_PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

sk_path_kind sk_path_kind_of(const char *path, const char **why)
{
    struct stat sl, st;
    *why = NULL;
    if (lstat(path, &sl) != 0) {
        if (errno == ENOENT) return SK_PATH_ABSENT;
        *why = errno == ENOTDIR ? "under a file, not a directory" : strerror(errno);
        return SK_PATH_BAD;
    }
    if (stat(path, &st) != 0) {
        *why = errno == ELOOP ? "a symbolic link loop" : "a symbolic link to a missing file";
        return SK_PATH_BAD;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = S_ISDIR(st.st_mode) ? "a directory" : "not a regular file";
        return SK_PATH_BAD;
    }
    return SK_PATH_FILE;
}

sk_status sk_atomic_tmpname(const char *path, char *tmp, size_t n)
{
    static unsigned counter;
    int k = snprintf(tmp, n, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
    if (k < 0 || (size_t)k >= n) return sk_err(SK_EIO, "%s: path too long", path);
    track(tmp);
    return SK_OK;
}

sk_status sk_atomic_rename(const char *tmp, const char *path)
{
    untrack(tmp);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return sk_err(SK_EIO, "%s: cannot rename %s into place: %s", path, tmp, strerror(e));
    }
    return SK_OK;
}

sk_status sk_afile_open(sk_afile *f, const char *path)
{
    sk_status st;
    memset(f, 0, sizeof *f);
    if (strlen(path) >= sizeof f->path) return sk_err(SK_EIO, "%s: path too long", path);
    snprintf(f->path, sizeof f->path, "%s", path);
    if ((st = sk_atomic_tmpname(path, f->tmp, sizeof f->tmp)) != SK_OK) return st;
    f->fp = fopen(f->tmp, "wb");
    if (!f->fp) {
        int e = errno;
        f->tmp[0] = '\0';
        return sk_err(SK_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    return SK_OK;
}

sk_status sk_afile_commit(sk_afile *f)
{
    int bad = 0, e = 0;
    if (!f->fp) return sk_err(SK_EIO, "%s: not open", f->path);
    if (fflush(f->fp) != 0 || ferror(f->fp)) {
        bad = 1;
        e = errno;
    }
    if (!bad && fsync(fileno(f->fp)) != 0 && errno != EINVAL) {
        bad = 1;
        e = errno;
    }
    if (fclose(f->fp) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    f->fp = NULL;
    if (bad) {
        untrack(f->tmp);
        unlink(f->tmp);
        return sk_err(SK_EIO, "%s: write failed: %s", f->path, strerror(e));
    }
    return sk_atomic_rename(f->tmp, f->path);
}

void sk_afile_abort(sk_afile *f)
{
    if (f->fp) fclose(f->fp);
    f->fp = NULL;
    if (f->tmp[0]) {
        untrack(f->tmp);
        unlink(f->tmp);
    }
    f->tmp[0] = '\0';
}

sk_status sk_write_file_atomic(const char *path, const void *data, size_t n)
{
    sk_afile f;
    sk_status st = sk_afile_open(&f, path);
    if (st != SK_OK) return st;
    if (n && fwrite(data, 1, n, f.fp) != n) {
        int e = errno;
        sk_afile_abort(&f);
        return sk_err(SK_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return sk_afile_commit(&f);
}

sk_status sk_mkdir_p(const char *path)
{
    char buf[SK_PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return sk_err(SK_EIO, "%s: bad directory path", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                return sk_err(SK_EIO, "%s: cannot create directory: %s", buf, strerror(e));
            }
            buf[i] = c;
        }
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) return sk_err(SK_EIO, "%s: not a directory", path);
    return SK_OK;
}

sk_status sk_dir_check(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) return SK_OK;
        return sk_err(SK_EIO, "%s exists and is not a directory", path);
    }
    if (errno == ENOENT) return SK_OK;
    if (errno == ENOTDIR) return sk_err(SK_EIO, "%s: a part of this path is a file, not a directory", path);
    return sk_err(SK_EIO, "%s: %s", path, strerror(errno));
}

int sk_file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

int sk_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
