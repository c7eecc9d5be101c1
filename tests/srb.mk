# tests for Sinkhorn re-basin and STE
check_PROGRAMS += test_srb
TESTS += test_srb
test_srb_SOURCES = test_srb.c
