# tests for nn: layers (fast vs naive, finite differences), models (FD,
# determinism, training smoke), golden comparison with PyTorch
check_PROGRAMS += test_nn_layers test_nn_conv test_nn_model test_nn_golden test_nn_wm
TESTS += test_nn_layers test_nn_conv test_nn_model test_nn_golden test_nn_wm
test_nn_layers_SOURCES = test_nn_layers.c
# conv algorithms (Winograd, im2col) vs the naive reference, random shapes
test_nn_conv_SOURCES = test_nn_conv.c
test_nn_model_SOURCES = test_nn_model.c
test_nn_golden_SOURCES = test_nn_golden.c
# weight matching's fast path vs a naive reference, every architecture
test_nn_wm_SOURCES = test_nn_wm.c
EXTRA_DIST += golden/make_nn_fixtures.py
