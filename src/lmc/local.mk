# src/lmc: interpolation and barrier metrics
libsinkrb_a_SOURCES += lmc/barrier.c lmc/interp.c lmc/repair.c
noinst_HEADERS += lmc/barrier.h lmc/interp.h lmc/repair.h
