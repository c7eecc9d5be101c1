# src/rebasin: the list of alignment methods, permutation specs, weight and
# activation matching, the LAP solver, the Sinkhorn operator, Sinkhorn
# re-basin and STE
libsinkrb_a_SOURCES += rebasin/method.c rebasin/spec.c rebasin/wm.c rebasin/am.c rebasin/lap.c \
	rebasin/sinkhorn.c rebasin/sinkhorn_fwd.c rebasin/sinkhorn_bwd.c \
	rebasin/softperm.c rebasin/srb.c rebasin/ste.c
noinst_HEADERS += rebasin/method.h rebasin/spec.h rebasin/wm.h rebasin/am.h rebasin/lap.h \
	rebasin/sinkhorn.h rebasin/sinkhorn_impl.h rebasin/softperm.h rebasin/srb.h rebasin/ste.h
