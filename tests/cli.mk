# Integration tests of the command line and of the documentation.
TESTS += cli.sh docs.sh format.sh metrics_schema.sh mpi.sh
dist_check_SCRIPTS += cli.sh docs.sh format.sh metrics_schema.sh mpi.sh
