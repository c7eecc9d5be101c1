# tests of resuming endpoint training from a checkpoint; h5vals: a value
# dump of weights files for cli.sh
check_PROGRAMS += test_resume h5vals
TESTS += test_resume
test_resume_SOURCES = test_resume.c
h5vals_SOURCES = h5vals.c
