# src/io/h5w.mk: sources (paths relative to src/)
