# src/rebasin/lap.mk: sources (paths relative to src/)
libsinkrb_a_SOURCES += rebasin/lap.c
noinst_HEADERS += rebasin/lap.h
