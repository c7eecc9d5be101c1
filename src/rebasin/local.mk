# src/rebasin: module sources (paths relative to src/)
