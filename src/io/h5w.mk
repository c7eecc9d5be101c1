# src/io/h5w.mk: sources (paths relative to src/)
libsinkrb_a_SOURCES += io/h5w.c
noinst_HEADERS += io/h5w.h
