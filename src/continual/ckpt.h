/* ckpt.h - the checkpoint file of a continual run (internal to
 * src/continual; continual.h says what it is for).
 *
 * An HDF5 file in the weights format (io/h5w.h), written atomically:
 *   datasets  "model.<name>"  the model's parameters and buffers;
 *             "ewc.a.<name>", "ewc.c.<name>"  ewc's sums (method ewc only);
 *             "memory" (n, 2)  the episodic memory, rows (task, example);
 *             "memory.order" (m)  the memory's draw order (both float32,
 *             exact below 2^24; absent when empty);
 *   attributes "fingerprint" (sk_cl_ckpt_opts) and "checkpoint", "key: value"
 *             lines: format (sinkrb-continual-checkpoint 1), tasks, methods
 *             (comma-separated names), method (the one in progress or just
 *             finished), tasks_done (of it; its rounds when finished),
 *             seconds (one per method up to it, the last one so far),
 *             accuracy (the matrices of the methods up to it, T*T each, rows
 *             not reached 0), memory (n), memory_order (m), memory_pos,
 *             rng_memory and rng_train (4 hex words each).
 * Numbers in the text are written so that they read back bit for bit. */
#ifndef SK_CONTINUAL_CKPT_H
#define SK_CONTINUAL_CKPT_H

#include "continual/method.h"
#include "core/err.h"

/* A run's state as the checkpoint sees it (all borrowed). */
typedef struct {
    const char *path, *fingerprint;
    sk_cl_trainer *tr; /* the model, memory, streams and EWC sums */
    int n_methods;
    const int *methods; /* (n_methods) sk_cl_method */
    double *acc;        /* (n_methods, T, T) */
    double *seconds;    /* (n_methods) */
} sk_cl_ckpt;

/* The state after `done` rounds of method k (methods before k finished). */
SK_MUST_CHECK sk_status sk_cl_ckpt_write(const sk_cl_ckpt *ck, int k, int done);
/* Restore the state of ck->path into ck's parts: *k, *done as written. An
 * error, with nothing changed, when the file cannot be read, carries another
 * fingerprint or does not fit the run (tasks, methods, model, memory). */
SK_MUST_CHECK sk_status sk_cl_ckpt_read(const sk_cl_ckpt *ck, int *k, int *done);

#endif
