# tests for data
check_PROGRAMS += test_data
TESTS += test_data
test_data_SOURCES = test_data.c
