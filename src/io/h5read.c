/* h5read.c - opening a file to read (in the reading child) and reading its
 * datasets within bounds: shape, size checked against what the file can
 * hold, values in blocks of bounded size. Every function closes every HDF5
 * id it opens on every path (one cleanup label each). */
#include "io/h5util.h"

#include <stdlib.h>

static size_t h5u_block = (size_t)1 << 20; /* values per block read */

void sk_h5u_set_block(size_t values)
{
    h5u_block = values;
}

/* File access properties: file locking on, but not an error on file systems
 * without locks (NFS, Lustre). */
static hid_t h5_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    if (fapl >= 0) (void)H5Pset_file_locking(fapl, 1, 1);
#endif
    return fapl;
}

sk_status sk_h5u_open_read(const char *path, hid_t *fid)
{
    sk_status st;
    hid_t fapl;
    *fid = H5I_INVALID_HID;
    sk_h5u_quiet();
    fapl = h5_fapl();
    if (fapl < 0) return sk_h5u_fail(SK_ENOMEM, path, "cannot create file access properties");
    *fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    st = *fid < 0 ? sk_h5u_corrupt(path, NULL) : SK_OK; /* before H5Pclose clears the stack */
    H5Pclose(fapl);
    return st;
}

/* ---- datasets ----------------------------------------------------------- */

sk_status sk_h5u_ds_shape(hid_t ds, const char *path, const char *name, int maxdim, int *ndim, int64_t *shape)
{
    sk_status st = SK_OK;
    hsize_t dims[H5S_MAX_RANK];
    hid_t space = H5Dget_space(ds);
    H5S_class_t cls;
    int r;
    int64_t numel = 1;
    if (space < 0) return sk_h5u_corrupt(path, name);
    cls = H5Sget_simple_extent_type(space);
    if (cls == H5S_NO_CLASS) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    if (cls == H5S_NULL) {
        st = sk_err(SK_EFORMAT, "%s: dataset %s has no data (null dataspace)", path, name);
        goto cleanup;
    }
    r = H5Sget_simple_extent_dims(space, dims, NULL);
    if (r < 0) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    if (r > maxdim) {
        st = sk_err(SK_EFORMAT,
                    "%s: dataset %s has rank %d; at most %d dimensions are "
                    "supported",
                    path, name, r, maxdim);
        goto cleanup;
    }
    for (int d = 0; d < r; d++) {
        if (dims[d] > (hsize_t)H5W_MAX_NUMEL || (dims[d] && numel > H5W_MAX_NUMEL / (int64_t)dims[d])) {
            st = sk_err(SK_EFORMAT, "%s: dataset %s has an implausible size (corrupt file?)", path, name);
            goto cleanup;
        }
        shape[d] = (int64_t)dims[d];
        numel *= shape[d];
    }
    *ndim = r;
cleanup:
    H5Sclose(space);
    return st;
}

sk_status sk_h5u_open_dataset(hid_t fid, const char *path, const char *name, hid_t *ds, hid_t *ftype)
{
    if ((*ds = H5Dopen2(fid, name, H5P_DEFAULT)) < 0 || (*ftype = H5Dget_type(*ds)) < 0)
        return sk_h5u_corrupt(path, name);
    return SK_OK;
}

sk_status sk_h5u_ds_check_size(hid_t ds, hid_t ftype, const char *path, const char *name, int ndim,
                               const int64_t *shape, int64_t file_size, int64_t *raw, int *compressed)
{
    sk_status st = SK_OK;
    hid_t dcpl = H5I_INVALID_HID;
    int64_t numel = 1;
    size_t esz = H5Tget_size(ftype);
    hsize_t stored;
    haddr_t off;
    char sh[160], decl[32], have[32];
    for (int d = 0; d < ndim; d++)
        numel *= shape[d];
    *raw = 0;
    *compressed = 0;
    if (numel == 0) return SK_OK;
    if (esz == 0 || esz > 64) return sk_h5u_corrupt(path, name);
    *raw = numel * (int64_t)esz; /* numel <= 2^34 (sk_h5u_ds_shape) */
    if ((dcpl = H5Dget_create_plist(ds)) < 0) return sk_h5u_corrupt(path, name);
    *compressed = H5Pget_nfilters(dcpl) > 0;
    stored = H5Dget_storage_size(ds);
    sk_h5u_shape_str(ndim, shape, sh, sizeof sh);
    sk_h5u_bytes_str((double)*raw, decl, sizeof decl);
    if (stored == 0) {
        st = sk_err(SK_EFORMAT,
                    "%s: dataset %s declares shape %s (%s) but stores no data (never written, or a corrupt "
                    "file)",
                    path, name, sh, decl);
    } else if (!*compressed && (*raw > file_size || (int64_t)stored > file_size)) {
        sk_h5u_bytes_str((double)file_size, have, sizeof have);
        st = sk_err(SK_EFORMAT, "%s: dataset %s declares shape %s (%s) but the whole file is %s: truncated or corrupt",
                    path, name, sh, decl, have);
    } else if (!*compressed && H5Pget_layout(dcpl) == H5D_CONTIGUOUS && (off = H5Dget_offset(ds)) != HADDR_UNDEF &&
               (off > (haddr_t)file_size || (haddr_t)*raw > (haddr_t)file_size - off)) {
        sk_h5u_bytes_str((double)file_size, have, sizeof have);
        st = sk_err(SK_EFORMAT,
                    "%s: dataset %s (shape %s, %s) would end past the end of the file (%s): truncated or "
                    "corrupt",
                    path, name, sh, decl, have);
    } else if (*compressed && ((int64_t)stored > file_size || (double)*raw > H5W_MAX_RATIO * (double)stored)) {
        sk_h5u_bytes_str((double)stored, have, sizeof have);
        st = sk_err(SK_EFORMAT,
                    "%s: dataset %s declares shape %s (%s) but stores %s compressed: more than compression "
                    "explains (a corrupt file?)",
                    path, name, sh, decl, have);
    }
    H5Eclear2(H5E_DEFAULT);
    H5Pclose(dcpl);
    return st;
}

sk_status sk_h5u_read_blocks(hid_t ds, const char *path, const char *name, hid_t mtype, sk_h5u_block_fn fn, void *ud,
                             sk_h5u_chan *ch)
{
    sk_status st = SK_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    hsize_t dims[H5S_MAX_RANK], start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
    hsize_t suffix = 1, step, numel = 1, maxb;
    size_t esz = H5Tget_size(mtype);
    void *buf = NULL;
    int r, k;
    int64_t first = 0;
    if ((fspace = H5Dget_space(ds)) < 0 || (r = H5Sget_simple_extent_dims(fspace, dims, NULL)) < 0) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    for (int d = 0; d < r; d++)
        numel *= dims[d];
    if (numel == 0) goto cleanup;
    /* Blocks: the first k dims one index at a time, dim k in steps, the
     * dims after k whole (their product fits the block). */
    for (k = r - 1; k >= 0 && suffix * dims[k] <= h5u_block; k--)
        suffix *= dims[k];
    if (k < 0) { /* everything fits in one block */
        k = 0;
        suffix = r ? numel / dims[0] : 1;
    }
    step = r ? h5u_block / suffix : 1;
    if (step < 1) step = 1;
    if (r && step > dims[k]) step = dims[k];
    maxb = step * suffix;
    if (!(buf = malloc((size_t)maxb * esz))) { /* not zeroed: H5Dread fills it */
        st = sk_err(SK_ENOMEM, "%s: %s: out of memory", path, name);
        goto cleanup;
    }
    if (r == 0) { /* a scalar */
        if (H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            st = sk_h5u_corrupt(path, name);
        else
            st = fn(buf, 1, 0, ud);
        goto cleanup;
    }
    for (int d = 0; d < r; d++)
        count[d] = d < k ? 1 : dims[d];
    for (;;) {
        hsize_t b = dims[k] - start[k] < step ? dims[k] - start[k] : step, nel = b * suffix;
        count[k] = b;
        if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            (mspace = H5Screate_simple(1, &nel, NULL)) < 0 ||
            H5Dread(ds, mtype, mspace, fspace, H5P_DEFAULT, buf) < 0) {
            st = sk_h5u_corrupt(path, name);
            goto cleanup;
        }
        CLOSE_ID(H5Sclose, mspace);
        if ((st = fn(buf, (size_t)nel, first, ud)) != SK_OK) goto cleanup;
        if (ch) sk_h5u_beat(ch);
        first += (int64_t)nel;
        /* Next block: dim k, then the odometer over the dims before it. */
        start[k] += b;
        int d = k;
        while (d >= 0 && start[d] >= dims[d]) {
            start[d] = 0;
            if (--d >= 0) start[d]++;
        }
        if (d < 0) break;
    }
cleanup:
    CLOSE_ID(H5Sclose, mspace);
    CLOSE_ID(H5Sclose, fspace);
    free(buf);
    return st;
}
