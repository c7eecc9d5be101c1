# tests for h5w
check_PROGRAMS += test_h5w
TESTS += test_h5w
test_h5w_SOURCES = test_h5w.c
