# src/continual: module sources (paths relative to src/)
libsinkrb_a_SOURCES += continual/bench.c continual/metrics.c continual/methods.c continual/rebasin_il.c \
	continual/continual.c continual/ckpt.c
noinst_HEADERS += continual/continual.h continual/bench.h continual/method.h continual/ckpt.h
