# src/rebasin/sinkhorn.mk: sources (paths relative to src/)
