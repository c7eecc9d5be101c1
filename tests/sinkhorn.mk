# tests for sinkhorn
