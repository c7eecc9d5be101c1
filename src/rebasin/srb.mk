# src/rebasin/srb.mk: Sinkhorn re-basin and STE
libsinkrb_a_SOURCES += rebasin/softperm.c
noinst_HEADERS += rebasin/softperm.h
