/* loss.c - softmax cross-entropy (with an optional class mask) and MSE.
 * N batch, K classes / outputs. */
#include "nn/layers.h"

#include <math.h>

float sk_loss_ce(const float *logits, const int32_t *y, int N, int K, const uint8_t *class_mask, float *dlogits,
                 int *n_correct)
{
    double total = 0.0;
    int correct = 0;
    for (int n = 0; n < N; n++) {
        const float *z = logits + (int64_t)n * K;
        int arg = -1;
        float zmax = -INFINITY;
        for (int k = 0; k < K; k++) {
            if (class_mask && !class_mask[k]) continue;
            if (arg < 0 || z[k] > zmax) {
                zmax = z[k];
                arg = k;
            }
        }
        /* Stable log-sum-exp over the allowed classes. */
        double se = 0.0;
        for (int k = 0; k < K; k++)
            if (!class_mask || class_mask[k]) se += exp((double)z[k] - zmax);
        double lse = (double)zmax + log(se);
        int t = y[n];
        int t_ok = t >= 0 && t < K && (!class_mask || class_mask[t]);
        total += t_ok ? lse - z[t] : INFINITY;
        if (arg == t) correct++;
        if (dlogits) {
            float *d = dlogits + (int64_t)n * K;
            for (int k = 0; k < K; k++) {
                double p = (!class_mask || class_mask[k]) ? exp((double)z[k] - lse) : 0.0;
                d[k] = (float)((p - (k == t ? 1.0 : 0.0)) / N);
            }
        }
    }
    if (n_correct) *n_correct = correct;
    return N > 0 ? (float)(total / N) : 0.0f;
}

float sk_loss_mse(const float *pred, const float *target, int N, int K, float *dpred)
{
    double total = 0.0;
    int64_t m = (int64_t)N * K;
    for (int64_t i = 0; i < m; i++) {
        double d = (double)pred[i] - target[i];
        total += d * d;
        if (dpred) dpred[i] = (float)(2.0 * d / (double)m);
    }
    return m > 0 ? (float)(total / (double)m) : 0.0f;
}
