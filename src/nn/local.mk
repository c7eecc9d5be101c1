# src/nn: module sources (paths relative to src/)
