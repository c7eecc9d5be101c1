# tests for continual learning
check_PROGRAMS += test_continual
TESTS += test_continual
test_continual_SOURCES = test_continual.c
