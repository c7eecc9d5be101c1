# src/io: HDF5 weights and permutations (h5util.[ch] is the HDF5 plumbing
# private to io/, shared by the weights, permutation and info files), JSON,
# CSV and SVG writers, the log, progress bars, atomic files
libsinkrb_a_SOURCES += io/atomic.c io/log.c io/progress.c \
	io/h5util.c io/h5w_weights.c io/h5w_perms.c io/h5w_info.c \
	io/json.c io/csv.c io/svg.c io/svg_layout.c
noinst_HEADERS += io/atomic.h io/log.h io/progress.h io/h5w.h io/h5util.h io/json.h io/csv.h io/svg.h io/svg_impl.h
