# src/data: module sources (paths relative to src/)
