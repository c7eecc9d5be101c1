# src/app: the commands (run, check, info) behind main.c
libsinkrb_a_SOURCES += app/run.c app/pipeline.c
noinst_HEADERS += app/app.h app/run_ctx.h
