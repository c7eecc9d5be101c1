# src/rebasin: permutation specs, weight/activation matching (LAP and Sinkhorn have their own fragments)
libsinkrb_a_SOURCES += rebasin/method.c rebasin/spec.c rebasin/wm.c rebasin/am.c
noinst_HEADERS += rebasin/method.h rebasin/spec.h rebasin/wm.h rebasin/am.h
