# src/core: errors, memory, RNG, tensors, BLAS/LAPACK wrappers, threads, timing, string buffers, name tables
libsinkrb_a_SOURCES += core/err.c core/mem.c core/rng.c core/tensor.c core/blas.c core/timer.c core/strbuf.c core/stats.c
noinst_HEADERS += core/err.h core/mem.h core/rng.h core/tensor.h core/blas.h core/timer.h core/strbuf.h core/stats.h \
	core/names.h
