# tests for continual learning
check_PROGRAMS += test_continual
TESTS += test_continual
test_continual_SOURCES = test_continual.c
# resuming a continual run from its checkpoint
check_PROGRAMS += test_cl_resume
TESTS += test_cl_resume
test_cl_resume_SOURCES = test_cl_resume.c
