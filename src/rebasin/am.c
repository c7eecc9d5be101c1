/* am.c - activation matching (Git Re-Basin §3.1; doc/algorithms.md §5).
 * One pass over the data with both models, streaming per-group statistics in
 * double, then one LAP per group. */
#include "rebasin/am.h"

#include <math.h>
#include <string.h>

#include "core/blas.h"
#include "core/mem.h"
#include "rebasin/lap.h"

const char *const sk_am_cost_names[] = {[SK_AM_INNER_PRODUCT] = "inner_product", [SK_AM_CORRELATION] = "correlation"};

typedef struct {
    int64_t c, hw;
    double *sa, *sb;   /* (c) sums */
    double *saa, *sbb; /* (c) sums of squares */
    double *sab;       /* (c, c) cross sums: sab[i][j] = sum a_i b_j */
    float *ta, *tb;    /* (c, n*hw) channel-major copies of one batch */
    float *cross;      /* (c, c) one batch's cross product */
} stats;

/* x (N, C, HW) -> t (C, N*HW) */
static void channel_major(const float *x, int64_t n, int64_t c, int64_t hw, float *t)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++)
            memcpy(t + k * n * hw + i * hw, x + (i * c + k) * hw, (size_t)hw * sizeof(float));
}

static void accumulate(stats *s, const float *a, const float *b, int64_t n)
{
    int64_t c = s->c, m = n * s->hw;
    const float *ta = a, *tb = b;
    if (s->hw > 1) {
        channel_major(a, n, c, s->hw, s->ta);
        channel_major(b, n, c, s->hw, s->tb);
        ta = s->ta;
        tb = s->tb;
        /* cross = ta (c, m) * tb^T (m, c) */
        sk_sgemm(0, 1, (int)c, (int)c, (int)m, 1.0f, ta, (int)m, tb, (int)m, 0.0f, s->cross, (int)c);
        for (int64_t k = 0; k < c; k++) {
            double sa = 0, sb = 0, saa = 0, sbb = 0;
            for (int64_t j = 0; j < m; j++) {
                double va = ta[k * m + j], vb = tb[k * m + j];
                sa += va;
                sb += vb;
                saa += va * va;
                sbb += vb * vb;
            }
            s->sa[k] += sa;
            s->sb[k] += sb;
            s->saa[k] += saa;
            s->sbb[k] += sbb;
        }
    } else {
        /* a, b are (n, c): cross = a^T b */
        sk_sgemm(1, 0, (int)c, (int)c, (int)n, 1.0f, a, (int)c, b, (int)c, 0.0f, s->cross, (int)c);
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < c; k++) {
                double va = a[i * c + k], vb = b[i * c + k];
                s->sa[k] += va;
                s->sb[k] += vb;
                s->saa[k] += va * va;
                s->sbb[k] += vb * vb;
            }
    }
    for (int64_t i = 0; i < c * c; i++)
        s->sab[i] += s->cross[i];
}

sk_status sk_activation_matching(const sk_perm_spec *s, sk_model *ma, sk_model *mb, const sk_tset *A, const sk_tset *B,
                                 const sk_am_opts *o, sk_batch_fn get_batch, void *ctx, int64_t **perms,
                                 int64_t *n_used)
{
    const sk_model_spec *ms = sk_model_get_spec(ma);
    int cap = sk_model_max_batch(ma);
    int64_t in_dim = (int64_t)ms->in_c * ms->in_h * ms->in_w, seen = 0;
    float *x = NULL, *yr = NULL;
    int32_t *y = NULL;
    stats *st = NULL;
    double *score = NULL;
    sk_status rc = SK_OK;

    if (o->batch_size < cap) cap = o->batch_size;
    x = sk_alloc_n((size_t)(cap * in_dim), sizeof(float));
    y = sk_alloc_n((size_t)cap, sizeof(int32_t));
    yr = sk_alloc_n((size_t)cap * (size_t)ms->n_out, sizeof(float));
    st = sk_alloc_n((size_t)s->n_groups + 1, sizeof *st);
    if (!x || !y || !yr || !st) {
        rc = SK_ENOMEM;
        goto cleanup;
    }
    for (int g = 0; g < s->n_groups; g++) {
        if (s->groups[g].tap < 0) {
            rc = sk_err(SK_EINVAL, "activation matching: group %s has no activation tap", s->groups[g].name);
            goto cleanup;
        }
        sk_tap t = sk_model_tap(ma, s->groups[g].tap);
        stats *q = &st[g];
        q->c = t.channels;
        q->hw = (int64_t)t.h * t.w;
        q->sa = sk_alloc_n((size_t)q->c, sizeof(double));
        q->sb = sk_alloc_n((size_t)q->c, sizeof(double));
        q->saa = sk_alloc_n((size_t)q->c, sizeof(double));
        q->sbb = sk_alloc_n((size_t)q->c, sizeof(double));
        q->sab = sk_alloc_n((size_t)(q->c * q->c), sizeof(double));
        q->cross = sk_alloc_n((size_t)(q->c * q->c), sizeof(float));
        if (q->hw > 1) {
            q->ta = sk_alloc_n((size_t)(cap * q->c * q->hw), sizeof(float));
            q->tb = sk_alloc_n((size_t)(cap * q->c * q->hw), sizeof(float));
        }
        if (!q->sa || !q->sb || !q->saa || !q->sbb || !q->sab || !q->cross || (q->hw > 1 && (!q->ta || !q->tb))) {
            rc = SK_ENOMEM;
            goto cleanup;
        }
    }

    for (int64_t step = 0;; step++) {
        int n = get_batch(ctx, -1, step, x, y, yr);
        if (n < 0) {
            rc = SK_EIO;
            goto cleanup;
        }
        if (n == 0) break;
        if (o->samples > 0 && seen + n > o->samples) n = (int)(o->samples - seen);
        sk_model_forward(ma, A, x, n, 0, NULL);
        sk_model_forward(mb, B, x, n, 0, NULL);
        for (int g = 0; g < s->n_groups; g++) {
            sk_tap ta = sk_model_tap(ma, s->groups[g].tap), tb = sk_model_tap(mb, s->groups[g].tap);
            accumulate(&st[g], ta.data, tb.data, n);
        }
        seen += n;
        if (o->samples > 0 && seen >= o->samples) break;
    }
    if (seen == 0) {
        rc = sk_err(SK_EINVAL, "activation matching: no data");
        goto cleanup;
    }

    for (int g = 0; g < s->n_groups; g++) {
        stats *q = &st[g];
        int64_t c = q->c;
        double N = (double)seen * (double)q->hw;
        sk_free(score);
        score = sk_alloc_n((size_t)(c * c), sizeof(double));
        if (!score) {
            rc = SK_ENOMEM;
            goto cleanup;
        }
        for (int64_t i = 0; i < c; i++)
            for (int64_t j = 0; j < c; j++) {
                double e = q->sab[i * c + j] / N;
                if (o->cost == SK_AM_CORRELATION) {
                    double ma_ = q->sa[i] / N, mb_ = q->sb[j] / N;
                    double va = q->saa[i] / N - ma_ * ma_, vb = q->sbb[j] / N - mb_ * mb_;
                    double den = sqrt(va > 0 ? va : 0) * sqrt(vb > 0 ? vb : 0);
                    /* Dead (constant) units correlate with nothing. */
                    e = den > 1e-12 ? (e - ma_ * mb_) / den : 0.0;
                }
                score[i * c + j] = e;
            }
        rc = lap_solve_max(score, (int)c, (int)c, perms[g], NULL);
        if (rc != SK_OK) goto cleanup;
    }
    if (n_used) *n_used = seen;
cleanup:
    for (int g = 0; st && g < s->n_groups; g++) {
        sk_free(st[g].sa);
        sk_free(st[g].sb);
        sk_free(st[g].saa);
        sk_free(st[g].sbb);
        sk_free(st[g].sab);
        sk_free(st[g].cross);
        sk_free(st[g].ta);
        sk_free(st[g].tb);
    }
    sk_free(st);
    sk_free(score);
    sk_free(x);
    sk_free(y);
    sk_free(yr);
    return rc;
}
