check_PROGRAMS += test_config
TESTS += test_config
test_config_SOURCES = test_config.c
