# src/io: HDF5 weights and permutations (h5util.h declares the HDF5 plumbing
# private to io/, shared by the weights, permutation and info files, and
# implemented in h5util.c, h5isolate.c, h5read.c, h5attr.c, h5walk.c and
# h5write.c), JSON, CSV and SVG writers, the log, progress bars, atomic files,
# the "key: value" text of checkpoint attributes (kvtext.c)
libsinkrb_a_SOURCES += io/atomic.c io/log.c io/progress.c \
	io/h5util.c io/h5isolate.c io/h5read.c io/h5attr.c io/h5walk.c io/h5write.c \
	io/h5w_weights.c io/h5w_load.c io/h5w_perms.c io/h5w_info.c \
	io/json.c io/csv.c io/svg.c io/svg_layout.c io/kvtext.c
noinst_HEADERS += io/atomic.h io/log.h io/progress.h io/h5w.h io/h5w_impl.h io/h5util.h io/json.h io/csv.h io/svg.h io/svg_impl.h io/kvtext.h
