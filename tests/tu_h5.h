/* tu_h5.h - HDF5 files built with the C API the way h5py lays them out, for
 * the weights-format suites (test_h5w, test_h5w_robust). */
#ifndef SK_TU_H5_H
#define SK_TU_H5_H

#include <hdf5.h>

/* Dataset `name` of file type ftype (scalar when ndim is 0) holding data
 * (memory type mtype; NULL: never written). */
void tu_h5_dataset(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndim, const hsize_t *dims,
                   const void *data);
/* A variable-length string attribute, as h5py writes a Python str. */
void tu_h5_str_attr(hid_t loc, const char *name, const char *val);

#endif
