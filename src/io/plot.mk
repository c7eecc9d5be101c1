# src/io/plot.mk: result writers -- JSON, CSV, SVG plots (paths relative to src/)
libsinkrb_a_SOURCES += io/json.c io/csv.c io/svg.c
noinst_HEADERS += io/json.h io/csv.h io/svg.h
