# src/app: the commands (run, check, info) behind main.c
libsinkrb_a_SOURCES += app/run.c app/pipeline.c app/provider.c app/options.c app/endpoint.c app/align.c \
	app/interp.c app/report.c app/verify.c app/fetch.c app/cl_ckpt.c \
	app/plan.c app/units.c app/mpi.c app/values.c app/collect.c app/aggregate.c app/agg_report.c app/agg_table.c app/agg_plots.c
noinst_HEADERS += app/app.h app/run_ctx.h app/state.h app/provider.h app/options.h app/plan.h app/units.h app/collect.h app/aggregate.h
