check_PROGRAMS += test_lmc
TESTS += test_lmc
test_lmc_SOURCES = test_lmc.c
