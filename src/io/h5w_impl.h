/* h5w_impl.h - what reading (h5w_weights.c) and loading (h5w_load.c)
 * weights files share: the scan of a file's root datasets, the checked
 * transfer of a tensor's values, and name helpers; private to src/io. The
 * scan and the transfer run in the reading child (sk_h5u_isolated). */
#ifndef SK_IO_H5W_IMPL_H
#define SK_IO_H5W_IMPL_H

#include <string.h>

#include "io/h5util.h"

static inline int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static inline int is_nbt(const char *name)
{
    return ends_with(name, "num_batches_tracked");
}

/* What the scan learns of one root dataset, before any data is read. */
typedef struct {
    int ndim;
    int64_t shape[SK_MAXDIM];
    H5T_class_t cls;
    size_t esz; /* bytes per value in the file */
} h5w_ds;

typedef struct {
    sk_h5u_links L; /* root datasets and links */
    h5w_ds *d;      /* per L.ds[i] */
    char *skip;     /* per L.ds[i]: an integer num_batches_tracked, not a tensor */
    int *order, n_order;
} h5w_scan;

void h5w_scan_free(h5w_scan *sc);
/* Every root dataset's type and shape, checked against what the file can
 * hold (sk_h5u_ds_check_size, and the sum over all datasets), and the
 * order. Reads no data. */
SK_MUST_CHECK sk_status h5w_scan_file(hid_t fid, const char *path, int64_t fsize, h5w_scan *sc);
/* A string attribute that must be text (it may end up on a terminal). */
SK_MUST_CHECK sk_status h5w_read_text_attr(hid_t fid, const char *path, const char *name, char **out);
/* Send dataset `name` (scanned as d) through ch as float32 values,
 * converted and checked: integers only up to 2^24 in magnitude, float64
 * only within the float32 range, and with `finite` no NaN or infinity
 * (model_name, when not NULL, is the model's name for a renamed tensor, for
 * the message). */
SK_MUST_CHECK sk_status h5w_send_tensor(sk_h5u_chan *ch, hid_t fid, const char *path, const char *name, const h5w_ds *d,
                                        const char *model_name, int finite);

#endif
