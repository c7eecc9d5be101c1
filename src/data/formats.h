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

/* ---- IDX (idx.c) ---------------------------------------------------------- */
typedef struct {
    int ndim;
    uint32_t dims[3];
} sk_idx_header;

/* Find dir/name, else dir/name.gz; writes the one that exists into path.
 * Missing: "dir/name: No such file or directory (nor name.gz)\nHINT: run
 * datasets/fetch <fetch_name>". */
SK_MUST_CHECK sk_status sk_idx_resolve(const char *dir, const char *name, const char *fetch_name, char *path,
                                       size_t path_size);
/* Read an unsigned-byte IDX file with `ndim` dimensions (3 images, 1 labels),
 * raw or gzip. Reads the header and then the first min(dims[0], limit) items
 * (limit <= 0: all), into *data (sk_alloc'd, items * prod(dims[1..]) bytes).
 * Without a limit the file must hold exactly what its header announces. */
SK_MUST_CHECK sk_status sk_idx_read(const char *path, int ndim, int64_t limit, sk_idx_header *hdr, uint8_t **data,
                                    int64_t *n_items);
/* MNIST-layout split: <prefix>-images-idx3-ubyte + <prefix>-labels-idx1-ubyte
 * (prefix "train" or "t10k"), 28x28 images, labels 0..9. */
SK_MUST_CHECK sk_status sk_idx_load_split(const char *dir, const char *prefix, const char *fetch_name, int64_t limit,
                                          sk_split *sp);

/* ---- CIFAR binary (cifar.c) ----------------------------------------------- */
/* CIFAR-10: files data_batch_1.bin..data_batch_5.bin (train) or test_batch.bin,
 * records of 1 label byte + 3072 pixel bytes. */
SK_MUST_CHECK sk_status sk_cifar10_load_split(const char *dir, int train, int64_t limit, sk_split *sp);
/* CIFAR-100: train.bin or test.bin, records of coarse byte, fine byte, 3072 pixels. */
SK_MUST_CHECK sk_status sk_cifar100_load_split(const char *dir, int train, int coarse, int64_t limit, sk_split *sp);

/* ---- polynomial toy (poly.c) ---------------------------------------------- */
SK_MUST_CHECK sk_status sk_poly_load(const sk_data_opts *o, sk_split *train, sk_split *test);

#endif
