# src/io: YAML config, HDF5 weights, JSON/CSV writers, SVG plots, progress, atomic files
libsinkrb_a_SOURCES += io/atomic.c
noinst_HEADERS += io/atomic.h
