# src/nn/optim.mk: optimisers and schedules
libsinkrb_a_SOURCES += nn/optim.c
noinst_HEADERS += nn/optim.h
