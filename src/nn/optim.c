/* optim.c - SGD / Adam / AdamW, gradient clipping and lr schedules.
 *
 * The update is element-wise, so it runs as flat loops over the spans of
 * the block that hold trainable tensors (adjacent trainable tensors merged;
 * buffers skipped). The arithmetic is float32 in the order of PyTorch 1.13's
 * CPU kernels (add with alpha: a + alpha*b; addcmul: s + (v*a)*b; addcdiv:
 * s + (v*a)/b) with the scalar coefficients computed in double and rounded
 * to float, as torch does with Python scalars. Results do not depend on the
 * thread count (every entry is computed independently). */
#include "config.h"
#include "nn/optim.h"

#include <math.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <immintrin.h>
#endif

#include "core/mem.h"
#include "core/names.h"

/* Default sk_optim_opts.parallel_min. */
#define OPTIM_PAR_MIN_DEFAULT (INT64_C(1) << 22)
/* Even then, spans shorter than this (tensors between buffers) run serially. */
#define OPTIM_SPAN_PAR_MIN 16384

typedef struct {
    int64_t off, len;
} optim_span;

struct sk_optim {
    sk_optim_opts o;
    sk_tset *s1, *s2; /* sgd: momentum buffer (NULL when momentum 0); adam: m, v */
    int64_t step;     /* steps taken */
    int n;            /* layout fingerprint: tensor count and numel */
    int64_t numel;
    int nspan;
    optim_span *span; /* trainable ranges of the block */
    int par;          /* use OpenMP (enough trainable entries) */
};

/* OpenMP for span s? */
static int span_par(const sk_optim *o, int s)
{
    return o->par && o->span[s].len >= OPTIM_SPAN_PAR_MIN;
}

const char *const sk_opt_kind_names[] = {[SK_OPT_SGD] = "sgd", [SK_OPT_ADAM] = "adam", [SK_OPT_ADAMW] = "adamw"};
const char *const sk_sched_kind_names[] = {[SK_SCHED_CONSTANT] = "constant",
                                           [SK_SCHED_COSINE] = "cosine",
                                           [SK_SCHED_STEP] = "step",
                                           [SK_SCHED_EXPONENTIAL] = "exponential"};

const char *sk_opt_kind_name(sk_opt_kind k)
{
    return SK_NAME(sk_opt_kind_names, k);
}
const char *sk_sched_kind_name(sk_sched_kind k)
{
    return SK_NAME(sk_sched_kind_names, k);
}

int sk_opt_kind_parse(const char *s, sk_opt_kind *out)
{
    for (int i = 0; i < SK_OPT_COUNT; i++) {
        if (s && strcasecmp(s, sk_opt_kind_names[i]) == 0) {
            *out = (sk_opt_kind)i;
            return 0;
        }
    }
    sk_err(SK_ECONFIG, "unknown optimizer '%s'\nHINT: use one of sgd, adam, adamw", s ? s : "(null)");
    return -1;
}

int sk_sched_kind_parse(const char *s, sk_sched_kind *out)
{
    for (int i = 0; i < SK_SCHED_COUNT; i++) {
        if (s && strcasecmp(s, sk_sched_kind_names[i]) == 0) {
            *out = (sk_sched_kind)i;
            return 0;
        }
    }
    sk_err(SK_ECONFIG, "unknown schedule '%s'\nHINT: use one of constant, cosine, step, exponential", s ? s : "(null)");
    return -1;
}

void sk_optim_opts_init(sk_optim_opts *o, sk_opt_kind kind)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->lr = kind == SK_OPT_SGD ? 0.01 : 1e-3;
    o->weight_decay = kind == SK_OPT_ADAMW ? 0.01 : 0.0;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->schedule = SK_SCHED_CONSTANT;
    o->step_size = 1;
    o->gamma = 0.1;
}

static sk_status optim_check(const sk_optim_opts *o)
{
    if ((unsigned)o->kind > SK_OPT_ADAMW) return sk_err(SK_ECONFIG, "optimizer: unknown kind %d", (int)o->kind);
    if (!(o->lr >= 0.0) || !isfinite(o->lr))
        return sk_err(SK_ECONFIG, "optimizer: lr must be finite and >= 0 (got %g)", o->lr);
    if (!(o->weight_decay >= 0.0) || !isfinite(o->weight_decay))
        return sk_err(SK_ECONFIG, "optimizer: weight_decay must be >= 0 (got %g)", o->weight_decay);
    if (!(o->clip_norm >= 0.0) || !(o->clip_value >= 0.0))
        return sk_err(SK_ECONFIG, "optimizer: clip_norm and clip_value must be >= 0 (0 = off; got %g, %g)",
                      o->clip_norm, o->clip_value);
    if (o->kind == SK_OPT_SGD) {
        if (!(o->momentum >= 0.0 && o->momentum < 1.0))
            return sk_err(SK_ECONFIG, "optimizer sgd: momentum must be in [0, 1) (got %g)", o->momentum);
        if (o->nesterov && o->momentum == 0.0)
            return sk_err(SK_ECONFIG, "optimizer sgd: nesterov needs momentum > 0\nHINT: set momentum: 0.9");
    } else {
        if (!(o->beta1 >= 0.0 && o->beta1 < 1.0) || !(o->beta2 >= 0.0 && o->beta2 < 1.0))
            return sk_err(SK_ECONFIG, "optimizer %s: betas must be in [0, 1) (got %g, %g)", sk_opt_kind_name(o->kind),
                          o->beta1, o->beta2);
        if (!(o->eps >= 0.0))
            return sk_err(SK_ECONFIG, "optimizer %s: eps must be >= 0 (got %g)", sk_opt_kind_name(o->kind), o->eps);
    }
    switch (o->schedule) {
    case SK_SCHED_CONSTANT:
        break;
    case SK_SCHED_COSINE:
        if (o->total_steps <= 0 || o->warmup_steps < 0 || o->warmup_steps > o->total_steps)
            return sk_err(SK_ECONFIG,
                          "schedule cosine: need total_steps > 0 and 0 <= warmup_steps <= total_steps "
                          "(got %lld, %lld)",
                          (long long)o->total_steps, (long long)o->warmup_steps);
        break;
    case SK_SCHED_STEP:
        if (o->step_size <= 0)
            return sk_err(SK_ECONFIG, "schedule step: step_size must be > 0 (got %lld)", (long long)o->step_size);
        /* fall through */
    case SK_SCHED_EXPONENTIAL:
        if (!(o->gamma > 0.0) || !isfinite(o->gamma))
            return sk_err(SK_ECONFIG, "schedule %s: gamma must be > 0 (got %g)", sk_sched_kind_name(o->schedule),
                          o->gamma);
        break;
    default:
        return sk_err(SK_ECONFIG, "schedule: unknown kind %d", (int)o->schedule);
    }
    return SK_OK;
}

sk_status sk_optim_new(const sk_optim_opts *opts, const sk_tset *params, sk_optim **out)
{
    sk_status st = SK_OK;
    sk_optim *o = NULL;
    *out = NULL;
    if ((st = optim_check(opts)) != SK_OK) goto cleanup;
    if (!params->block) {
        st = sk_err(SK_EINVAL, "sk_optim_new: parameter set not allocated");
        goto cleanup;
    }
    o = sk_alloc(sizeof *o);
    if (!o) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    o->o = *opts;
    o->n = params->n;
    o->numel = params->numel;
    o->span = sk_alloc_n(params->n > 0 ? (size_t)params->n : 1, sizeof *o->span);
    if (!o->span) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int i = 0; i < params->n; i++) {
        const sk_tensor *t = &params->t[i];
        if (t->is_buffer || t->numel == 0) continue;
        if (o->nspan && o->span[o->nspan - 1].off + o->span[o->nspan - 1].len == t->offset) {
            o->span[o->nspan - 1].len += t->numel;
        } else {
            o->span[o->nspan].off = t->offset;
            o->span[o->nspan].len = t->numel;
            o->nspan++;
        }
    }
    int64_t trainable = 0;
    for (int i = 0; i < o->nspan; i++)
        trainable += o->span[i].len;
    o->par = trainable >= (opts->parallel_min > 0 ? opts->parallel_min : OPTIM_PAR_MIN_DEFAULT);
    int need = opts->kind == SK_OPT_SGD ? (opts->momentum != 0.0) : 2;
    if (need >= 1 && !(o->s1 = sk_tset_like(params))) {
        st = sk_err_prefix(SK_ENOMEM, "optimizer state: ");
        goto cleanup;
    }
    if (need >= 2 && !(o->s2 = sk_tset_like(params))) {
        st = sk_err_prefix(SK_ENOMEM, "optimizer state: ");
        goto cleanup;
    }
    *out = o;
    o = NULL;
cleanup:
    sk_optim_free(o);
    return st;
}

void sk_optim_free(sk_optim *o)
{
    if (!o) return;
    sk_tset_free(o->s1);
    sk_tset_free(o->s2);
    sk_free(o->span);
    sk_free(o);
}

void sk_optim_reset(sk_optim *o)
{
    if (o->s1) memset(o->s1->block, 0, (size_t)o->s1->numel * sizeof(float));
    if (o->s2) memset(o->s2->block, 0, (size_t)o->s2->numel * sizeof(float));
    o->step = 0;
}

void sk_optim_export(const sk_optim *o, int64_t *steps, int *n_sets, const sk_tset *sets[2])
{
    *steps = o->step;
    *n_sets = o->s2 ? 2 : (o->s1 ? 1 : 0);
    sets[0] = o->s1;
    sets[1] = o->s2;
}

sk_status sk_optim_import(sk_optim *o, int64_t steps, int n_sets, const sk_tset *const *sets)
{
    sk_tset *own[2] = {o->s1, o->s2};
    int want = o->s2 ? 2 : (o->s1 ? 1 : 0);
    if (steps < 0) return sk_err(SK_EINVAL, "optimizer state: step count %lld", (long long)steps);
    if (n_sets != want)
        return sk_err(SK_EINVAL, "optimizer state: %d state set(s) given, %s%s keeps %d", n_sets,
                      sk_opt_kind_name(o->o.kind), o->o.kind == SK_OPT_SGD && want ? " with momentum" : "", want);
    for (int i = 0; i < want; i++)
        if (!sets[i] || !sets[i]->block || !sk_tset_same_layout(sets[i], own[i]))
            return sk_err(SK_EINVAL, "optimizer state: state set %d has another layout than the parameters", i + 1);
    for (int i = 0; i < want; i++)
        memcpy(own[i]->block, sets[i]->block, (size_t)own[i]->numel * sizeof(float));
    o->step = steps;
    return SK_OK;
}

int64_t sk_optim_steps_done(const sk_optim *o)
{
    return o->step;
}

double sk_optim_lr(const sk_optim *opt, int64_t step)
{
    const sk_optim_opts *o = &opt->o;
    double k = step < 0 ? 0.0 : (double)step;
    switch (o->schedule) {
    case SK_SCHED_COSINE: {
        if (step < o->warmup_steps) return o->lr * k / (double)o->warmup_steps;
        int64_t span = o->total_steps - o->warmup_steps;
        if (span <= 0) return 0.0;
        double prog = (k - (double)o->warmup_steps) / (double)span;
        if (prog > 1.0) prog = 1.0;
        return o->lr * 0.5 * (1.0 + cos(M_PI * prog));
    }
    case SK_SCHED_STEP:
        return o->lr * pow(o->gamma, (double)((step < 0 ? 0 : step) / o->step_size));
    case SK_SCHED_EXPONENTIAL:
        return o->lr * pow(o->gamma, k);
    case SK_SCHED_CONSTANT:
    default:
        return o->lr;
    }
}

/* Sum of squares of the trainable entries, in double (4 accumulators). */
static double spans_sumsq(const float *g, const optim_span *sp, int nspan)
{
    double tot = 0.0;
    for (int s = 0; s < nspan; s++) {
        const float *x = g + sp[s].off;
        int64_t n = sp[s].len, i = 0;
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (; i + 4 <= n; i += 4) {
            a0 += (double)x[i] * x[i];
            a1 += (double)x[i + 1] * x[i + 1];
            a2 += (double)x[i + 2] * x[i + 2];
            a3 += (double)x[i + 3] * x[i + 3];
        }
        for (; i < n; i++)
            a0 += (double)x[i] * x[i];
        tot += (a0 + a1) + (a2 + a3);
    }
    return tot;
}

double sk_grad_norm(const sk_tset *g)
{
    double tot = 0.0;
    for (int i = 0; i < g->n; i++) {
        const sk_tensor *t = &g->t[i];
        if (t->is_buffer) continue;
        optim_span sp = {t->offset, t->numel};
        tot += spans_sumsq(g->block, &sp, 1);
    }
    return sqrt(tot);
}

static void clip_value(float *g, int64_t n, float v, int par)
{
#pragma omp parallel for simd schedule(static) if (par)
    for (int64_t i = 0; i < n; i++) {
        float x = g[i];
        /* NaN stays NaN, like torch.clamp. */
        g[i] = x < -v ? -v : (x > v ? v : x);
    }
}

static void scale(float *g, int64_t n, float c, int par)
{
#pragma omp parallel for simd schedule(static) if (par)
    for (int64_t i = 0; i < n; i++)
        g[i] = g[i] * c;
}

/* SGD over one span. p, g, buf: (n,) */
static void sgd_span(float *restrict p, const float *restrict g, float *restrict buf, int64_t n, float nlr, float wd,
                     float mom, int nesterov, int par)
{
    if (!buf) {
#pragma omp parallel for simd schedule(static) if (par)
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            p[i] = p[i] + nlr * d;
        }
    } else if (nesterov) {
#pragma omp parallel for simd schedule(static) if (par)
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            float b = buf[i] * mom + d;
            buf[i] = b;
            d = d + mom * b;
            p[i] = p[i] + nlr * d;
        }
    } else {
#pragma omp parallel for simd schedule(static) if (par)
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            float b = buf[i] * mom + d;
            buf[i] = b;
            p[i] = p[i] + nlr * b;
        }
    }
}

typedef struct {
    float decay; /* adamw: p *= decay first (1 for adam) */
    float wd;    /* adam: L2 added to the gradient (0 for adamw) */
    float b1, omb1, b2, omb2, bc2s, eps, nstep;
} adam_coef;

/* Adam/AdamW over one chunk. p, g, m, v: (n,)
 * GCC does not vectorise sqrtf under the default -fmath-errno, so on x86-64
 * the body is written with SSE intrinsics (the same IEEE single-precision
 * operations in the same order as the scalar tail, so results are identical). */
static void adam_chunk(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, int64_t n,
                       const adam_coef *c)
{
    const float decay = c->decay, wd = c->wd, b1 = c->b1, omb1 = c->omb1, b2 = c->b2, omb2 = c->omb2;
    const float bc2s = c->bc2s, eps = c->eps, nstep = c->nstep;
    const int use_decay = decay != 1.0f, use_wd = wd != 0.0f;
    int64_t i = 0;
#ifdef __SSE2__
    const __m128 vdecay = _mm_set1_ps(decay), vwd = _mm_set1_ps(wd), vb1 = _mm_set1_ps(b1);
    const __m128 vomb1 = _mm_set1_ps(omb1), vb2 = _mm_set1_ps(b2), vomb2 = _mm_set1_ps(omb2);
    const __m128 vbc2s = _mm_set1_ps(bc2s), veps = _mm_set1_ps(eps), vnstep = _mm_set1_ps(nstep);
    for (; i + 4 <= n; i += 4) {
        __m128 pi = _mm_loadu_ps(p + i), gi = _mm_loadu_ps(g + i);
        if (use_decay) pi = _mm_mul_ps(pi, vdecay);
        if (use_wd) gi = _mm_add_ps(gi, _mm_mul_ps(vwd, pi));
        __m128 mi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(m + i), vb1), _mm_mul_ps(vomb1, gi));
        __m128 vi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(v + i), vb2), _mm_mul_ps(_mm_mul_ps(vomb2, gi), gi));
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vi), vbc2s), veps);
        _mm_storeu_ps(p + i, _mm_add_ps(pi, _mm_div_ps(_mm_mul_ps(vnstep, mi), denom)));
    }
#endif
    for (; i < n; i++) {
        float pi = p[i];
        if (use_decay) pi = pi * decay;
        float gi = use_wd ? g[i] + wd * pi : g[i];
        float mi = m[i] * b1 + omb1 * gi;
        float vi = v[i] * b2 + (omb2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2s + eps;
        p[i] = pi + (nstep * mi) / denom;
    }
}

#define ADAM_CHUNK 8192

/* Adam/AdamW over one span, chunks in parallel. p, g, m, v: (n,) */
static void adam_span(float *p, const float *g, float *m, float *v, int64_t n, const adam_coef *c, int par)
{
    int64_t nchunk = (n + ADAM_CHUNK - 1) / ADAM_CHUNK;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t k = 0; k < nchunk; k++) {
        int64_t off = k * ADAM_CHUNK, len = n - off < ADAM_CHUNK ? n - off : ADAM_CHUNK;
        adam_chunk(p + off, g + off, m + off, v + off, len, c);
    }
}

double sk_optim_step(sk_optim *opt, sk_tset *params, sk_tset *grads)
{
    const sk_optim_opts *o = &opt->o;
    if (params->n != opt->n || params->numel != opt->numel || !sk_tset_same_layout(params, grads) || !params->block ||
        !grads->block) {
        sk_err(SK_EINVAL, "sk_optim_step: parameter/gradient layout differs from the one the optimiser was made for");
        return NAN;
    }
    float *P = params->block, *G = grads->block;
    if (o->clip_value > 0.0) {
        float v = (float)o->clip_value;
        for (int s = 0; s < opt->nspan; s++)
            clip_value(G + opt->span[s].off, opt->span[s].len, v, span_par(opt, s));
    }
    if (o->clip_norm > 0.0) {
        /* clip_grad_norm_: coef = max_norm / (total_norm + 1e-6), clamped to 1 (float32). */
        float tn = (float)sqrt(spans_sumsq(G, opt->span, opt->nspan));
        float c = (float)o->clip_norm / (tn + 1e-6f);
        if (c < 1.0f)
            for (int s = 0; s < opt->nspan; s++)
                scale(G + opt->span[s].off, opt->span[s].len, c, span_par(opt, s));
    }
    double lr = sk_optim_lr(opt, opt->step);
    if (o->kind == SK_OPT_SGD) {
        float nlr = (float)(-lr), wd = (float)o->weight_decay, mom = (float)o->momentum;
        for (int s = 0; s < opt->nspan; s++) {
            int64_t off = opt->span[s].off;
            sgd_span(P + off, G + off, opt->s1 ? opt->s1->block + off : NULL, opt->span[s].len, nlr, wd, mom,
                     o->nesterov, span_par(opt, s));
        }
    } else {
        double t = (double)(opt->step + 1);
        double bc1 = 1.0 - pow(o->beta1, t), bc2 = 1.0 - pow(o->beta2, t);
        adam_coef c;
        c.decay = o->kind == SK_OPT_ADAMW ? (float)(1.0 - lr * o->weight_decay) : 1.0f;
        c.wd = o->kind == SK_OPT_ADAM ? (float)o->weight_decay : 0.0f;
        c.b1 = (float)o->beta1;
        c.omb1 = (float)(1.0 - o->beta1);
        c.b2 = (float)o->beta2;
        c.omb2 = (float)(1.0 - o->beta2);
        c.bc2s = (float)sqrt(bc2);
        c.eps = (float)o->eps;
        c.nstep = (float)(-(lr / bc1));
        for (int s = 0; s < opt->nspan; s++) {
            int64_t off = opt->span[s].off;
            adam_span(P + off, G + off, opt->s1->block + off, opt->s2->block + off, opt->span[s].len, &c,
                      span_par(opt, s));
        }
    }
    opt->step++;
    return lr;
}
