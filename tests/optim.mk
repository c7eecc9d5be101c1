# tests for optim
check_PROGRAMS += test_optim
TESTS += test_optim
test_optim_SOURCES = test_optim.c
EXTRA_DIST += golden/make_optim_fixtures.py
