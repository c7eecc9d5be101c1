# src/io: YAML config, HDF5 weights, JSON/CSV writers, SVG plots, progress, atomic files
libsinkrb_a_SOURCES += io/atomic.c
noinst_HEADERS += io/atomic.h
libsinkrb_a_SOURCES += io/log.c
noinst_HEADERS += io/log.h
libsinkrb_a_SOURCES += io/progress.c
noinst_HEADERS += io/progress.h
