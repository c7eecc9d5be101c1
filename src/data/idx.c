/* idx.c - IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed.
 *
 * IDX: a big-endian magic 0x000008NN (type 0x08 = unsigned byte, NN = number
 * of dimensions), NN big-endian uint32 sizes, then the bytes row-major.
 * Everything goes through zlib's gzread, which reads uncompressed files
 * transparently, so one code path serves both. Bytes are never trusted: the
 * buffer grows only as data actually arrives, so a corrupt header cannot make
 * us allocate gigabytes or read past the end. A file is always read to its
 * end, so that its size, the gzip CRC and length are checked whatever part of
 * it a run uses. */
#include "data/formats.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/mem.h"

#define IDX_FIRST_CHUNK ((int64_t)1 << 20) /* initial buffer; doubles up to the announced size */
#define IDX_MAX_READ (1 << 30)             /* gzread takes an unsigned int */

sk_status sk_idx_resolve(const char *dir, const char *name, const char *fetch_name, char *path, size_t path_size)
{
    struct stat st;
    int n;

    n = snprintf(path, path_size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= path_size) return sk_err(SK_EINVAL, "%s/%s: path too long", dir, name);
    if (stat(path, &st) == 0) return SK_OK;
    /* Only a missing file falls back to the .gz twin: a symlink loop or a
     * permission problem is reported for the name that has it. */
    if (errno != ENOENT) return sk_err(SK_EIO, "%s: %s", path, strerror(errno));
    n = snprintf(path, path_size, "%s/%s.gz", dir, name);
    if (n < 0 || (size_t)n >= path_size) return sk_err(SK_EINVAL, "%s/%s.gz: path too long", dir, name);
    if (stat(path, &st) == 0) return SK_OK;
    if (errno != ENOENT) return sk_err(SK_EIO, "%s: %s", path, strerror(errno));
    return sk_err(SK_EIO,
                  "%s/%s: %s (nor %s.gz)\nHINT: run datasets/fetch %s, or point dataset.path "
                  "at the folder holding the files",
                  dir, name, strerror(ENOENT), name, fetch_name);
}

static uint32_t be32(const unsigned char *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | (uint32_t)b[3];
}

/* Read up to `want` bytes into buf; returns bytes read (short at end of
 * data), or -1 with the error set when zlib reports corrupt data. A gzip
 * stream that ends early is a short read, reported by the caller as
 * truncation (*gz_truncated = 1). */
static int64_t gz_read_all(gzFile f, const char *path, uint8_t *buf, int64_t want, int *gz_truncated)
{
    int64_t got = 0;
    int errnum = Z_OK;
    while (got < want) {
        int64_t chunk = want - got;
        int r;
        if (chunk > IDX_MAX_READ) chunk = IDX_MAX_READ;
        r = gzread(f, buf + got, (unsigned)chunk);
        if (r <= 0) break;
        got += r;
    }
    {
        const char *msg = gzerror(f, &errnum);
        if (errnum == Z_BUF_ERROR) {
            *gz_truncated = 1;
        } else if (errnum != Z_OK) {
            size_t pl = strlen(path);
            if (errnum == Z_ERRNO) msg = strerror(errno);
            /* zlib prefixes its messages with the path, or "<fd:N>" for a
             * descriptor; we put the path first already */
            else if (msg && strncmp(msg, path, pl) == 0 && strncmp(msg + pl, ": ", 2) == 0)
                msg += pl + 2;
            else if (msg && strncmp(msg, "<fd:", 4) == 0 && strstr(msg, ">: "))
                msg = strstr(msg, ">: ") + 3;
            sk_err(SK_EFORMAT, "%s: corrupt gzip data (%s)\nHINT: delete the file and fetch it again", path,
                   msg ? msg : "unknown zlib error");
            return -1;
        }
    }
    return got;
}

sk_status sk_idx_read(const char *path, int ndim, sk_idx_header *hdr, uint8_t **data, int64_t *n_items)
{
    sk_status st = SK_OK;
    gzFile f = NULL;
    unsigned char head[16];
    uint8_t *buf = NULL;
    const char *what = ndim == 1 ? "labels" : "images";
    const char *payload = ndim == 1 ? "label data" : "pixel data";
    uint32_t magic, want_magic = 0x00000800u | (uint32_t)ndim;
    int64_t item = 1, items, want, got = 0, cap;
    int hsize = 4 + 4 * ndim, trunc = 0, fd;

    *data = NULL;
    *n_items = 0;
    memset(hdr, 0, sizeof *hdr);
    if (ndim < 1 || ndim > 3) return sk_err(SK_EINVAL, "%s: unsupported IDX rank %d", path, ndim);

    if ((fd = sk_data_open(path, NULL, NULL)) < 0) return SK_EIO;
    f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        st = sk_err(SK_ENOMEM, "%s: cannot open (zlib)", path);
        goto cleanup;
    }
    gzbuffer(f, 1 << 17);
    got = gz_read_all(f, path, head, hsize, &trunc);
    if (got < 0) {
        st = SK_EFORMAT;
        goto cleanup;
    }
    if (got < 4) {
        st = sk_err(SK_EFORMAT, "%s: file too short for an IDX header (%lld bytes)", path, (long long)got);
        goto cleanup;
    }
    magic = be32(head);
    if (magic != want_magic) {
        st = sk_err(SK_EFORMAT, "%s: wrong magic number 0x%08x (expected 0x%08x for IDX %s)", path, magic, want_magic,
                    what);
        goto cleanup;
    }
    if (got < hsize) {
        st = sk_err(SK_EFORMAT, "%s: file too short for an IDX header (%lld of %d bytes)", path, (long long)got, hsize);
        goto cleanup;
    }
    hdr->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        hdr->dims[d] = be32(head + 4 + 4 * d);
    for (int d = 1; d < ndim; d++) {
        if (hdr->dims[d] == 0 || hdr->dims[d] > 65536) {
            st = sk_err(SK_EFORMAT, "%s: implausible IDX dimension %u", path, hdr->dims[d]);
            goto cleanup;
        }
        item *= hdr->dims[d];
    }
    if (item > ((int64_t)1 << 24)) {
        st = sk_err(SK_EFORMAT, "%s: implausible IDX item size %lld bytes", path, (long long)item);
        goto cleanup;
    }
    items = hdr->dims[0];
    want = items * item; /* <= 2^32 * 2^24: no overflow */

    /* Grow as data arrives (a lying header costs at most a doubling). */
    cap = want < IDX_FIRST_CHUNK ? want : IDX_FIRST_CHUNK;
    buf = sk_alloc((size_t)(cap > 0 ? cap : 1));
    if (!buf) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    got = 0;
    for (;;) {
        int64_t r = gz_read_all(f, path, buf + got, cap - got, &trunc);
        if (r < 0) {
            st = SK_EFORMAT;
            goto cleanup;
        }
        got += r;
        if (got < cap || cap == want) break;
        {
            int64_t ncap = cap * 2 < want ? cap * 2 : want;
            uint8_t *nb = sk_alloc((size_t)ncap);
            if (!nb) {
                st = SK_ENOMEM;
                goto cleanup;
            }
            memcpy(nb, buf, (size_t)got);
            sk_free(buf);
            buf = nb;
            cap = ncap;
        }
    }
    if (got < want) {
        st = sk_err(SK_EFORMAT,
                    "%s: truncated: expected %lld bytes of %s, file has %lld%s\n"
                    "HINT: the download is incomplete; delete the file and fetch it again",
                    path, (long long)want, payload, (long long)got, trunc ? " (gzip stream ends early)" : "");
        goto cleanup;
    }
    {
        /* The file must end here (this also makes zlib check the gzip CRC
         * and length trailer). */
        unsigned char extra;
        int64_t r = gz_read_all(f, path, &extra, 1, &trunc);
        if (r < 0) {
            st = SK_EFORMAT;
            goto cleanup;
        }
        if (r > 0) {
            st = sk_err(SK_EFORMAT,
                        "%s: more data than the %lld bytes of %s the header announces "
                        "(%u %s)",
                        path, (long long)want, payload, hdr->dims[0], what);
            goto cleanup;
        }
        if (trunc) {
            st = sk_err(SK_EFORMAT, "%s: gzip stream ends early (missing trailer; truncated download?)", path);
            goto cleanup;
        }
    }
    *data = buf;
    *n_items = items;
    buf = NULL;

cleanup:
    sk_free(buf);
    if (f) gzclose(f);
    return st;
}

sk_status sk_idx_load_split(const char *dir, const char *prefix, const char *fetch_name, sk_split *sp)
{
    sk_status st = SK_OK;
    char ipath[4096], lpath[4096], name[64];
    sk_idx_header ih, lh;
    uint8_t *pix = NULL, *lab = NULL;
    int64_t ni = 0, nl = 0;
    int32_t *y = NULL;

    memset(sp, 0, sizeof *sp);
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    st = sk_idx_resolve(dir, name, fetch_name, ipath, sizeof ipath);
    if (st) goto cleanup;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    st = sk_idx_resolve(dir, name, fetch_name, lpath, sizeof lpath);
    if (st) goto cleanup;

    st = sk_idx_read(ipath, 3, &ih, &pix, &ni);
    if (st) goto cleanup;
    if (ih.dims[1] != 28 || ih.dims[2] != 28) {
        st = sk_err(SK_EFORMAT, "%s: wrong image size %ux%u (expected 28x28)", ipath, ih.dims[1], ih.dims[2]);
        goto cleanup;
    }
    st = sk_idx_read(lpath, 1, &lh, &lab, &nl);
    if (st) goto cleanup;
    if (lh.dims[0] != ih.dims[0]) {
        st = sk_err(SK_EFORMAT, "%s: %u labels, but %s has %u images (files from different sets?)", lpath, lh.dims[0],
                    ipath, ih.dims[0]);
        goto cleanup;
    }
    y = sk_alloc_n((size_t)(nl > 0 ? nl : 1), sizeof *y);
    if (!y) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int64_t i = 0; i < nl; i++) {
        if (lab[i] > 9) {
            st = sk_err(SK_EFORMAT, "%s: label %d at record %lld is out of range 0..9", lpath, lab[i], (long long)i);
            goto cleanup;
        }
        y[i] = lab[i];
    }
    sp->n = ni;
    sp->c = 1;
    sp->h = 28;
    sp->w = 28;
    sp->n_classes = 10;
    sp->x = pix;
    sp->y = y;
    pix = NULL;
    y = NULL;

cleanup:
    sk_free(pix);
    sk_free(lab);
    sk_free(y);
    return st;
}
