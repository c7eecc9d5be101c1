# src/io/plot.mk: sources (paths relative to src/)
