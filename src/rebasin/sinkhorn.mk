# src/rebasin/sinkhorn.mk: sources (paths relative to src/)
libsinkrb_a_SOURCES += rebasin/sinkhorn.c
noinst_HEADERS += rebasin/sinkhorn.h
