/* transform.c - uint8 examples -> normalised float batches, with the CIFAR
 * augmentation (random crop of the 4-pixel zero-padded image + horizontal
 * flip with p = 0.5, as torchvision's RandomCrop(32, padding=4) followed by
 * RandomHorizontalFlip).
 *
 * Dimension letters: B batch, C channels, H rows, W columns. */
#include "data/dataset.h"

#include <string.h>

#define AUG_PAD 4

void sk_dataset_lut(const sk_dataset *ds, int c, float *lut) // lut (C, 256)
{
    for (int ch = 0; ch < c; ch++) {
        int k = ch < 3 ? ch : 2;
        double m, s;
        sk_dataset_norm_stats(ds, k, &m, &s);
        for (int v = 0; v < 256; v++)
            lut[ch * 256 + v] = (float)((v / 255.0 - m) / s);
    }
}

void sk_image_shift_flip(const uint8_t *src, int c, int h, int w, int dy, int dx, int flip, const float *lut,
                         float *dst) // src (C, H, W), lut (C, 256), dst (C, H, W)
{
    for (int ch = 0; ch < c; ch++) {
        const uint8_t *s = src + (size_t)ch * h * w;
        const float *l = lut + ch * 256;
        float *o = dst + (size_t)ch * h * w;
        if (dy == 0 && dx == 0 && !flip) {
            for (int k = 0; k < h * w; k++)
                o[k] = l[s[k]];
            continue;
        }
        for (int i = 0; i < h; i++) {
            int si = i + dy;
            float *orow = o + (size_t)i * w;
            if (si < 0 || si >= h) {
                for (int j = 0; j < w; j++)
                    orow[j] = l[0];
                continue;
            }
            for (int j = 0; j < w; j++) {
                int sj = (flip ? w - 1 - j : j) + dx;
                orow[j] = sj < 0 || sj >= w ? l[0] : l[s[(size_t)si * w + sj]];
            }
        }
    }
}

void sk_dataset_batch(const sk_dataset *ds, const sk_split *sp, const int32_t *idx, int n, int augment, sk_rng *rng,
                      float *x_out, int32_t *y_out, float *yr_out)
{
    // x_out (B, C, H, W) or (B, 1); y_out (B); yr_out (B, 1)
    if (!sp->x) { /* regression: inputs and targets as they are */
        for (int b = 0; b < n; b++) {
            if (x_out) x_out[b] = sp->xr[idx[b]];
            if (yr_out) yr_out[b] = sp->yr[idx[b]];
        }
        return;
    }
    {
        const int c = sp->c, h = sp->h, w = sp->w;
        const size_t d = (size_t)c * h * w;
        float lut[3 * 256];
        sk_dataset_lut(ds, c < 3 ? c : 3, lut);
        for (int b = 0; b < n; b++) {
            const uint8_t *src = sp->x + (size_t)idx[b] * d;
            int dy = 0, dx = 0, flip = 0;
            if (augment) {
                dy = (int)sk_rng_below(rng, 2 * AUG_PAD + 1) - AUG_PAD;
                dx = (int)sk_rng_below(rng, 2 * AUG_PAD + 1) - AUG_PAD;
                flip = (int)sk_rng_below(rng, 2);
            }
            if (x_out) sk_image_shift_flip(src, c, h, w, dy, dx, flip, lut, x_out + (size_t)b * d);
            if (y_out) y_out[b] = sp->y[idx[b]];
        }
    }
}
