# tests for h5w
check_PROGRAMS += test_h5w
TESTS += test_h5w
test_h5w_SOURCES = test_h5w.c
check_PROGRAMS += test_h5w_robust
TESTS += test_h5w_robust
test_h5w_robust_SOURCES = test_h5w_robust.c
