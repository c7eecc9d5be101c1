# src/rebasin/srb.mk: Sinkhorn re-basin and STE
libsinkrb_a_SOURCES += rebasin/softperm.c rebasin/srb.c
noinst_HEADERS += rebasin/softperm.h rebasin/srb.h
