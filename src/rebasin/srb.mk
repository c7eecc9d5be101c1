# src/rebasin/srb.mk: Sinkhorn re-basin and STE
