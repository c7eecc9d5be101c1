check_PROGRAMS += test_rebasin
TESTS += test_rebasin
test_rebasin_SOURCES = test_rebasin.c
