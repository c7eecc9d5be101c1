/* repair.c - REPAIR along the linear path (doc/algorithms.md §14). */
#include "lmc/repair.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"

const char *const sk_repair_kind_names[] = {[SK_REPAIR_NONE] = "none", [SK_REPAIR_REPAIR] = "repair"};

sk_status sk_repair_data_load(sk_model *m, sk_batch_fn get_batch, void *ctx, int batches, sk_repair_data *d)
{
    const sk_model_spec *sp = sk_model_get_spec(m);
    int B = sk_model_max_batch(m);
    memset(d, 0, sizeof *d);
    d->in_size = (int64_t)sp->in_c * sp->in_h * sp->in_w;
    d->x = sk_alloc_n((size_t)batches * (size_t)B * (size_t)d->in_size, sizeof(float));
    int32_t *y = sk_alloc_n((size_t)B, sizeof *y);
    float *yr = sk_alloc_n((size_t)B * (size_t)sp->n_out, sizeof *yr);
    sk_status st = d->x && y && yr ? SK_OK : SK_ENOMEM;
    for (int64_t step = 0; step < batches && st == SK_OK; step++) {
        int n = get_batch(ctx, -1, step, d->x + d->n * d->in_size, y, yr);
        if (n < 0) st = sk_err_prefix(SK_EIO, "REPAIR statistics batches: ");
        if (n <= 0) break;
        if (n > B) st = sk_err(SK_EINVAL, "REPAIR statistics batch of %d samples (model allows %d)", n, B);
        d->n += n;
    }
    if (st == SK_OK && d->n == 0) st = sk_err(SK_EINVAL, "REPAIR: no statistics batches");
    sk_free(y);
    sk_free(yr);
    if (st != SK_OK) sk_repair_data_free(d);
    return st;
}

void sk_repair_data_free(sk_repair_data *d)
{
    sk_free(d->x);
    memset(d, 0, sizeof *d);
}

sk_status sk_repair_point_stats(sk_model *m, const sk_tset *theta, const sk_repair_data *d, int p, double *mean,
                                double *std)
{
    sk_repair_point rp = sk_model_repair_point(m, p);
    int B = sk_model_max_batch(m), C = rp.channels, S = rp.spatial;
    double *sum = sk_alloc_n((size_t)C * 2, sizeof *sum), *sq = sum + C;
    if (!sum) return SK_ENOMEM;
    for (int64_t start = 0; start < d->n; start += B) {
        int N = (int)(d->n - start < B ? d->n - start : B);
        const float *y = sk_model_forward_to(m, theta, d->x + start * d->in_size, N, rp.op);
        for (int i = 0; i < N; i++)
            for (int c = 0; c < C; c++) {
                const float *v = y + ((int64_t)i * C + c) * S;
                double s = 0.0, q = 0.0;
                for (int k = 0; k < S; k++) {
                    s += v[k];
                    q += (double)v[k] * v[k];
                }
                sum[c] += s;
                sq[c] += q;
            }
    }
    double M = (double)d->n * S;
    for (int c = 0; c < C; c++) {
        mean[c] = sum[c] / M;
        double var = sq[c] / M - mean[c] * mean[c];
        std[c] = var > 0.0 ? sqrt(var) : 0.0;
    }
    sk_free(sum);
    return SK_OK;
}

void sk_repair_stats_free(sk_repair_stats *s)
{
    for (int p = 0; p < s->n_points && s->mean; p++) {
        sk_free(s->mean[p]);
        sk_free(s->std[p]);
    }
    sk_free(s->mean);
    sk_free(s->std);
    memset(s, 0, sizeof *s);
}

sk_status sk_repair_stats_compute(sk_model *m, const sk_tset *theta, const sk_repair_data *d, sk_repair_stats *out)
{
    int P = sk_model_n_repair_points(m);
    sk_status st = SK_OK;
    memset(out, 0, sizeof *out);
    out->mean = sk_alloc_n((size_t)(P > 0 ? P : 1), sizeof *out->mean);
    out->std = sk_alloc_n((size_t)(P > 0 ? P : 1), sizeof *out->std);
    if (!out->mean || !out->std) st = SK_ENOMEM;
    if (st == SK_OK) out->n_points = P;
    for (int p = 0; p < P && st == SK_OK; p++) {
        int C = sk_model_repair_point(m, p).channels;
        out->mean[p] = sk_alloc_n((size_t)C, sizeof(double));
        out->std[p] = sk_alloc_n((size_t)C, sizeof(double));
        if (!out->mean[p] || !out->std[p]) st = SK_ENOMEM;
        if (st == SK_OK) st = sk_repair_point_stats(m, theta, d, p, out->mean[p], out->std[p]);
    }
    if (st != SK_OK) sk_repair_stats_free(out);
    return st;
}

void sk_repair_fold(sk_tset *theta, const sk_repair_point *p, const double *scale, const double *shift)
{
    sk_tensor *w = &theta->t[p->w], *b = &theta->t[p->b];
    int64_t row = w->numel / p->channels;
    for (int c = 0; c < p->channels; c++) {
        float *wr = w->data + (int64_t)c * row;
        for (int64_t k = 0; k < row; k++)
            wr[k] = (float)(scale[c] * wr[k]);
        b->data[c] = (float)(scale[c] * b->data[c] + shift[c]);
    }
}

sk_status sk_repair_apply(sk_model *m, sk_tset *mix, const sk_repair_stats *a, const sk_repair_stats *b, double lambda,
                          const sk_repair_data *d)
{
    int P = sk_model_n_repair_points(m), Cmax = 1;
    if (a->n_points != P || b->n_points != P)
        return sk_err(SK_EINVAL, "REPAIR: statistics of %d and %d points for a model of %d", a->n_points, b->n_points,
                      P);
    for (int p = 0; p < P; p++)
        if (sk_model_repair_point(m, p).channels > Cmax) Cmax = sk_model_repair_point(m, p).channels;
    double *buf = sk_alloc_n((size_t)Cmax * 4, sizeof *buf);
    if (!buf) return SK_ENOMEM;
    double *mean = buf, *std = buf + Cmax, *scale = buf + 2 * Cmax, *shift = buf + 3 * Cmax;
    sk_status st = SK_OK;
    for (int p = 0; p < P && st == SK_OK; p++) {
        sk_repair_point rp = sk_model_repair_point(m, p);
        if ((st = sk_repair_point_stats(m, mix, d, p, mean, std)) != SK_OK) break;
        for (int c = 0; c < rp.channels; c++) {
            double tm = (1.0 - lambda) * a->mean[p][c] + lambda * b->mean[p][c];
            double ts = (1.0 - lambda) * a->std[p][c] + lambda * b->std[p][c];
            scale[c] = std[c] > 0.0 ? ts / std[c] : 1.0;
            shift[c] = tm - scale[c] * mean[c];
        }
        sk_repair_fold(mix, &rp, scale, shift);
    }
    sk_free(buf);
    return st;
}
