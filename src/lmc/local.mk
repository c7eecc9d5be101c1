# src/lmc: module sources (paths relative to src/)
