# src/nn: layers (their naive references are in tests/ref), models, training
# loop, optimisers and schedules
libsinkrb_a_SOURCES += nn/linear.c nn/conv.c nn/conv_wino.c nn/conv_direct.c nn/conv_dispatch.c nn/norm.c nn/pool.c nn/act.c nn/loss.c \
	nn/model.c nn/model_build.c nn/train.c nn/optim.c
noinst_HEADERS += nn/layers.h nn/conv_impl.h nn/model.h nn/model_impl.h nn/train.h nn/optim.h
