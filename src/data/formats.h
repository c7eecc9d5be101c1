/* formats.h - the per-format readers behind sk_dataset_load (internal to src/data).
 *
 * Each loader fills one sk_split from the files in `dir`; `fetch_name` is the
 * datasets/fetch argument named in the HINT when a file is missing. */
#ifndef SK_DATA_FORMATS_H
#define SK_DATA_FORMATS_H
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "data/dataset.h"

/* ---- files (dataset.c) ---------------------------------------------------- */
/* Open `path` for reading, refusing anything but a regular file without
 * blocking on it (a FIFO, a device, a directory: "PATH: not a regular file
 * (a FIFO)"); *size (may be NULL) gets its size. Returns the descriptor, or
 * -1 with the error set ("PATH: Too many levels of symbolic links", ...; a
 * missing file with "HINT: run datasets/fetch <fetch_name>" unless NULL). */
int sk_data_open(const char *path, const char *fetch_name, int64_t *size);

/* ---- IDX (idx.c) ---------------------------------------------------------- */
typedef struct {
    int ndim;
    uint32_t dims[3];
} sk_idx_header;

/* Find dir/name, else dir/name.gz; writes the one that exists into path.
 * Missing: "dir/name: No such file or directory (nor name.gz)\nHINT: run
 * datasets/fetch <fetch_name>"; a name that exists but cannot be looked up
 * (a symlink loop, no permission) is reported with its own error. */
SK_MUST_CHECK sk_status sk_idx_resolve(const char *dir, const char *name, const char *fetch_name, char *path,
                                       size_t path_size);
/* Read an unsigned-byte IDX file with `ndim` dimensions (3 images, 1 labels),
 * raw or gzip: the header and all dims[0] items, into *data (sk_alloc'd,
 * items * prod(dims[1..]) bytes). The file must hold exactly what its header
 * announces (and a gzip file a correct CRC and length). */
SK_MUST_CHECK sk_status sk_idx_read(const char *path, int ndim, sk_idx_header *hdr, uint8_t **data, int64_t *n_items);
/* MNIST-layout split: <prefix>-images-idx3-ubyte + <prefix>-labels-idx1-ubyte
 * (prefix "train" or "t10k"), 28x28 images, every label 0..9. */
SK_MUST_CHECK sk_status sk_idx_load_split(const char *dir, const char *prefix, const char *fetch_name, sk_split *sp);

/* ---- CIFAR binary (cifar.c) ----------------------------------------------- */
/* Whole files, every label checked. CIFAR-10: files data_batch_1.bin ..
 * data_batch_5.bin (train) or test_batch.bin, records of 1 label byte + 3072
 * pixel bytes; all six files (whichever split is read) must hold equally
 * many records, as the official ones do (10000), so that a file cut at a
 * record boundary is found. */
SK_MUST_CHECK sk_status sk_cifar10_load_split(const char *dir, int train, sk_split *sp);
/* CIFAR-100: train.bin or test.bin, records of coarse byte, fine byte, 3072 pixels. */
SK_MUST_CHECK sk_status sk_cifar100_load_split(const char *dir, int train, int coarse, sk_split *sp);

/* ---- polynomial toy (poly.c) ---------------------------------------------- */
SK_MUST_CHECK sk_status sk_poly_load(const sk_data_opts *o, sk_split *train, sk_split *test);

#endif
