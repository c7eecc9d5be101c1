/* pool.c - MaxPool2d 2x2 stride 2 (floor mode) and global average pooling.
 * x (N, C, H, W); max pool output (N, C, H/2, W/2); GAP output (N, C). */
#include "nn/layers.h"

#include <string.h>

#define PAR_MIN 32768

void sk_maxpool2_forward(float *y, uint8_t *idx, const float *x, int N, int C, int H, int W)
{
    const int OH = H / 2, OW = W / 2;
    const int64_t planes = (int64_t)N * C;
#pragma omp parallel for schedule(static) if (planes * H * W > PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * H * W;
        float *yp = y + pl * OH * OW;
        uint8_t *ip = idx + pl * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            const float *r0 = xp + (int64_t)(2 * oh) * W, *r1 = r0 + W;
            /* scan order (0,0) (0,1) (1,0) (1,1); strict > keeps the first max.
             * Selects, not branches (a branch per element is mispredicted
             * half the time), so that the loop vectorises. */
#pragma omp simd
            for (int ow = 0; ow < OW; ow++) {
                float v = r0[2 * ow], u;
                int a = 0;
                u = r0[2 * ow + 1];
                a = u > v ? 1 : a;
                v = u > v ? u : v;
                u = r1[2 * ow];
                a = u > v ? 2 : a;
                v = u > v ? u : v;
                u = r1[2 * ow + 1];
                a = u > v ? 3 : a;
                v = u > v ? u : v;
                yp[oh * OW + ow] = v;
                ip[oh * OW + ow] = (uint8_t)a;
            }
        }
    }
}

void sk_maxpool2_backward(float *dx, const float *dy, const uint8_t *idx, int N, int C, int H, int W)
{
    const int OH = H / 2, OW = W / 2;
    const int64_t planes = (int64_t)N * C;
#pragma omp parallel for schedule(static) if (planes * H * W > PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *xp = dx + pl * H * W;
        const float *yp = dy + pl * OH * OW;
        const uint8_t *ip = idx + pl * OH * OW;
        memset(xp, 0, (size_t)H * W * sizeof *xp);
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int a = ip[oh * OW + ow];
                xp[(int64_t)(2 * oh + (a >> 1)) * W + 2 * ow + (a & 1)] = yp[oh * OW + ow];
            }
    }
}

void sk_gap_forward(float *y, const float *x, int N, int C, int S)
{
    const int64_t planes = (int64_t)N * C;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * S;
        float acc = 0.0f;
        for (int s = 0; s < S; s++)
            acc += xp[s];
        y[pl] = acc / (float)S;
    }
}

void sk_gap_backward(float *dx, const float *dy, int N, int C, int S)
{
    const int64_t planes = (int64_t)N * C;
    for (int64_t pl = 0; pl < planes; pl++) {
        float v = dy[pl] / (float)S;
        float *xp = dx + pl * S;
        for (int s = 0; s < S; s++)
            xp[s] = v;
    }
}
