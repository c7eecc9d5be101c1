# tests for plot: JSON, CSV and SVG writers
check_PROGRAMS += test_plot
TESTS += test_plot
test_plot_SOURCES = test_plot.c
