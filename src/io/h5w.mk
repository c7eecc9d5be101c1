# src/io/h5w.mk: sources (paths relative to src/). h5util.[ch] is the HDF5
# plumbing private to io/, shared by the weights, permutation and info files.
libsinkrb_a_SOURCES += io/h5util.c io/h5w_weights.c io/h5w_perms.c io/h5w_info.c
noinst_HEADERS += io/h5w.h io/h5util.h
