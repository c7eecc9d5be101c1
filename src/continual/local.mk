# src/continual: module sources (paths relative to src/)
