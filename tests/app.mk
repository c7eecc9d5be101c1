# tests for src/app: option mapping, name tables, report writers
check_PROGRAMS += test_app
TESTS += test_app
test_app_SOURCES = test_app.c
