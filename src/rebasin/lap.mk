# src/rebasin/lap.mk: sources (paths relative to src/)
