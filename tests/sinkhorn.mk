# tests for sinkhorn
check_PROGRAMS += test_sinkhorn
TESTS += test_sinkhorn
test_sinkhorn_SOURCES = test_sinkhorn.c
