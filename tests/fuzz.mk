# The fuzz targets (tests/fuzz/): their regression and seed corpora replay
# under the normal build in make check; `make fuzz` runs libFuzzer campaigns
# (clang, tests/fuzz/run).
FUZZ_COMMON = fuzz/fuzz.h fuzz/fuzz_common.c fuzz/replay_main.c
check_PROGRAMS += fuzz_config_replay fuzz_idx_replay fuzz_cifar_replay fuzz_h5w_replay
fuzz_config_replay_SOURCES = fuzz/fuzz_config.c $(FUZZ_COMMON)
fuzz_idx_replay_SOURCES = fuzz/fuzz_idx.c $(FUZZ_COMMON)
fuzz_cifar_replay_SOURCES = fuzz/fuzz_cifar.c $(FUZZ_COMMON)
fuzz_h5w_replay_SOURCES = fuzz/fuzz_h5w.c $(FUZZ_COMMON)
TESTS += fuzz/replay.sh
dist_check_SCRIPTS += fuzz/replay.sh fuzz/run
EXTRA_DIST += fuzz/corpus fuzz/regress fuzz/README.md
