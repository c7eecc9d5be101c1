/* options.h - every mapping from the config (cfg/cfg.h) to a module's own
 * options: the one place where config fields meet module structs. */
#ifndef SK_APP_OPTIONS_H
#define SK_APP_OPTIONS_H
#include <stdint.h>

#include "cfg/cfg.h"
#include "continual/continual.h"
#include "data/dataset.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "rebasin/am.h"
#include "rebasin/srb.h"
#include "rebasin/ste.h"
#include "rebasin/wm.h"

/* dataset.*: kind, path, normalisation, labels, toy settings, limits; seed. */
void sk_options_data(const sk_config *c, sk_data_opts *o);
/* model.* on the input shape and classes of ds; SK_ECONFIG when too deep. */
SK_MUST_CHECK sk_status sk_options_model(const sk_config *c, const sk_dataset *ds, sk_model_spec *ms);
/* train.*: the endpoints' optimiser and schedule for steps_per_epoch steps. */
void sk_options_optim(const sk_config *c, int64_t steps_per_epoch, sk_optim_opts *o);
void sk_options_wm(const sk_config *c, sk_wm_opts *o);
void sk_options_am(const sk_config *c, sk_am_opts *o);
/* sinkhorn.* for one cost of sinkhorn.costs. */
void sk_options_srb(const sk_config *c, sk_srb_cost cost, sk_srb_opts *o);
void sk_options_ste(const sk_config *c, sk_ste_opts *o);
/* interpolation.bn_reset for a model with (1) or without (0) BatchNorm. */
int sk_options_bn_reset(const sk_config *c, int has_batchnorm);
/* continual.* (with train.eval_batch_size, Adam betas/eps from train.*). */
void sk_options_continual(const sk_config *c, sk_cl_opts *o);
/* What a run does for endpoint e (0 = A, 1 = B), from models.X.train and
 * whether models.X.weights exists; MISSING: the config names a weights file
 * that does not exist and does not ask to make it (an error). */
typedef enum { SK_EP_LOAD, SK_EP_TRAIN, SK_EP_INIT, SK_EP_PLANT, SK_EP_MISSING } sk_ep_action;
sk_ep_action sk_options_endpoint(const sk_config *c, int e);
/* Is models.X.weights the default location, <output>/model_<x>.h5? */
int sk_options_default_weights(const sk_config *c, int e);

/* The largest batch the run's model sees: evaluation always; training when
 * an endpoint will be trained (and BatchNorm re-estimation, which uses
 * train.batch_size); activation matching, STE and the data costs of Sinkhorn
 * re-basin only when they run. Activation buffers scale with it (VGG19 at
 * width 1: about 3 MB per image). */
int sk_options_model_batch(const sk_config *c);

#endif
