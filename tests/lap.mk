# tests for lap
check_PROGRAMS += test_lap
TESTS += test_lap
test_lap_SOURCES = test_lap.c
