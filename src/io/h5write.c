/* h5write.c - the in-memory writer (see h5util.h for why): a new HDF5
 * file in memory, its image written to a temporary file, fsynced and
 * renamed into place. */
#include "io/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/atomic.h"

/* The temporary file is created (empty) here, so a bad folder or permission
 * gives errno's message before any work; the HDF5 file lives in memory. */
sk_status sk_h5u_create_tmp(const char *path, size_t size_hint, char *tmp, size_t n, hid_t *fid)
{
    sk_status st;
    hid_t fapl;
    int fd;
    size_t inc = (size_t)1 << 20;
    *fid = H5I_INVALID_HID;
    tmp[0] = '\0';
    sk_h5u_quiet();
    if ((st = sk_atomic_tmpname(path, tmp, n)) != SK_OK) return st;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        tmp[0] = '\0';
        return sk_err(SK_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    close(fd);
    /* One allocation for the whole file when the hint is right. */
    if (size_hint > inc) inc = size_hint + ((size_t)64 << 10);
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fapl_core(fapl, inc, 0) >= 0) *fid = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    st = *fid < 0 ? sk_h5u_fail(SK_ENOMEM, path, "cannot create an HDF5 file in memory") : SK_OK;
    if (fapl >= 0) H5Pclose(fapl);
    if (st != SK_OK) {
        unlink(tmp);
        tmp[0] = '\0';
    }
    return st;
}

sk_status sk_h5u_commit(const char *path, const char *tmp, hid_t *fid)
{
    sk_status st = SK_OK;
    unsigned char *img = NULL;
    ssize_t n;
    int fd = -1;
    if (H5Fflush(*fid, H5F_SCOPE_LOCAL) < 0 || (n = H5Fget_file_image(*fid, NULL, 0)) <= 0) {
        st = sk_h5u_fail(SK_EIO, path, "cannot finish the HDF5 file");
        goto cleanup;
    }
    if (!(img = malloc((size_t)n))) {
        st = sk_err(SK_ENOMEM, "%s: out of memory (%lld bytes)", path, (long long)n);
        goto cleanup;
    }
    if (H5Fget_file_image(*fid, img, (size_t)n) != n) {
        st = sk_h5u_fail(SK_EIO, path, "cannot finish the HDF5 file");
        goto cleanup;
    }
    CLOSE_ID(H5Fclose, *fid); /* in memory: no I/O to fail */
    fd = open(tmp, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) {
        st = sk_err(SK_EIO, "%s: cannot write %s: %s", path, tmp, strerror(errno));
        goto cleanup;
    }
    for (ssize_t done = 0; done < n;) {
        ssize_t k = write(fd, img + done, (size_t)(n - done));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            st = sk_err(SK_EIO, "%s: write failed: %s", path, k < 0 ? strerror(errno) : "no progress");
            goto cleanup;
        }
        done += k;
    }
    if (fsync(fd) != 0 && errno != EINVAL) {
        st = sk_err(SK_EIO, "%s: cannot sync %s: %s", path, tmp, strerror(errno));
        goto cleanup;
    }
    if (close(fd) != 0) {
        fd = -1;
        st = sk_err(SK_EIO, "%s: write failed: %s", path, strerror(errno));
        goto cleanup;
    }
    fd = -1;
    st = sk_atomic_rename(tmp, path); /* removes tmp on failure */
    free(img);
    return st;
cleanup:
    CLOSE_ID(H5Fclose, *fid);
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(img);
    return st;
}
