check_PROGRAMS += test_core
TESTS += test_core
test_core_SOURCES = test_core.c
