/* pipeline.c - the stages of a run: inputs, the mode's work, metrics. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "app/run_ctx.h"
#include "core/blas.h"
#include "core/timer.h"
#include "io/atomic.h"

sk_status sk_run_validate_inputs(sk_run *r)
{
    (void)r;
    return SK_OK;
}

sk_status sk_run_pipeline(sk_run *r)
{
    (void)r;
    return SK_OK;
}

sk_status sk_run_write_metrics(sk_run *r)
{
    (void)r;
    return SK_OK;
}

void sk_run_free_state(sk_run *r) { (void)r; }
