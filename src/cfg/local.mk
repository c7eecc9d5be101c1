# src/cfg: the config schema, parser, sweeps, the reference section and printer
libsinkrb_a_SOURCES += cfg/schema.c cfg/parse.c cfg/values.c cfg/validate.c cfg/sweep.c cfg/reference.c cfg/emit.c \
	cfg/repeat.c
noinst_HEADERS += cfg/cfg.h cfg/schema.h cfg/parse.h
