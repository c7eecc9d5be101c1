/* conv_wino.c - 3x3 stride-1 Conv2d by Winograd F(2x2, 3x3): the forward and
 * both gradients as tile transforms + 16 SGEMMs per chunk of images.
 *
 * Output tile (i, j) is the 2x2 block at (2i, 2j); it reads the 4x4 input
 * block at padded position (2i, 2j) (input row r = 2i + a - pad). With
 * e = 4a + b the position in the 4x4 transformed tile:
 *   U = G g G^T per (o, c), V = B^T d B per (c, tile), y = A^T M A,
 *   M[e] (O, T) = U[e] (O, C) * V[e] (C, T)        (one GEMM per e).
 * The backward is the exact adjoint of this forward (the gradients of the
 * function the forward computes, not another approximation):
 *   dM = A dy A^T, dV[e] = U[e]^T dM[e], dx (+)= B dV B^T (tiles overlap),
 *   dU[e] = sum over chunks of dM[e] V[e]^T, dw += G^T dU G.
 * Layouts: U, dU [16][O][C]; V [16][C][T]; M, dM [16][O][T], where
 * T = (images in the chunk) * tH * tW and t = image * tH * tW + i * tW + j.
 * The transforms run in OpenMP loops over (image, channel); the GEMMs go to
 * the BLAS (threaded by it) outside them. */
#include <string.h>

#include "core/blas.h"
#include "nn/conv_impl.h"
#include "nn/layers.h"

#define WINO_MAXW 1024              /* widest input (row buffers on the stack) */
#define WINO_CHUNK_FLOATS (3 << 20) /* V + M floats per chunk */
#define WINO_PAR 16384              /* elements per loop worth an OpenMP team */

typedef struct {
    int tH, tW, tpi; /* tiles per image: tH x tW */
    int nb;          /* images per chunk */
} wino_geom;

int sk_conv_wino_applies(const sk_conv_shape *s)
{
    return s->k == 3 && s->stride == 1 && s->pad <= 2 && s->W + 2 * s->pad <= WINO_MAXW;
}

static wino_geom wino_geometry(const sk_conv_shape *s)
{
    wino_geom g;
    g.tH = (s->OH + 1) / 2;
    g.tW = (s->OW + 1) / 2;
    g.tpi = g.tH * g.tW;
    int64_t per = (int64_t)16 * (s->C + s->O) * g.tpi; /* V + M floats per image */
    int64_t nb = WINO_CHUNK_FLOATS / per;
    if (nb < 1) nb = 1;
    if (nb > s->N) nb = s->N > 0 ? s->N : 1;
    g.nb = (int)nb;
    return g;
}

size_t sk_conv_wino_workspace(const sk_conv_shape *s)
{
    wino_geom g = wino_geometry(s);
    size_t T = (size_t)g.nb * g.tpi;
    return (size_t)16 * ((size_t)2 * s->O * s->C + (size_t)(s->C + s->O) * T);
}

/* U[e][o][c] = (G g G^T)[e] for every filter g = w[o][c]. */
static void filter_transform(float *U, const float *w, int O, int C)
{
    const int64_t es = (int64_t)O * C;
#pragma omp parallel for schedule(static) if (es * 16 > WINO_PAR)
    for (int64_t oc = 0; oc < es; oc++) {
        const float *g = w + oc * 9;
        float t[4][3]; /* G g */
        for (int b = 0; b < 3; b++) {
            t[0][b] = g[b];
            t[1][b] = 0.5f * (g[b] + g[3 + b] + g[6 + b]);
            t[2][b] = 0.5f * (g[b] - g[3 + b] + g[6 + b]);
            t[3][b] = g[6 + b];
        }
        for (int a = 0; a < 4; a++) {
            float *u = U + (int64_t)(4 * a) * es + oc;
            u[0] = t[a][0];
            u[es] = 0.5f * (t[a][0] + t[a][1] + t[a][2]);
            u[2 * es] = 0.5f * (t[a][0] - t[a][1] + t[a][2]);
            u[3 * es] = t[a][2];
        }
    }
}

/* dw[o][c] += (G^T dU G) for every (o, c). */
static void filter_adjoint(float *dw, const float *dU, int O, int C)
{
    const int64_t es = (int64_t)O * C;
#pragma omp parallel for schedule(static) if (es * 16 > WINO_PAR)
    for (int64_t oc = 0; oc < es; oc++) {
        float t[4][3]; /* dU G, row a */
        for (int a = 0; a < 4; a++) {
            const float *u = dU + (int64_t)(4 * a) * es + oc;
            float u0 = u[0], u1 = u[es], u2 = u[2 * es], u3 = u[3 * es];
            t[a][0] = u0 + 0.5f * (u1 + u2);
            t[a][1] = 0.5f * (u1 - u2);
            t[a][2] = 0.5f * (u1 + u2) + u3;
        }
        float *g = dw + oc * 9;
        for (int b = 0; b < 3; b++) {
            g[b] += t[0][b] + 0.5f * (t[1][b] + t[2][b]);
            g[3 + b] += 0.5f * (t[1][b] - t[2][b]);
            g[6 + b] += 0.5f * (t[1][b] + t[2][b]) + t[3][b];
        }
    }
}

/* V tiles of one input plane xc (H, W): V[e * es + i * tW + j]. */
static void input_transform(float *restrict V, int64_t es, const float *xc, const sk_conv_shape *s, const wino_geom *g)
{
    const int W = s->W, pad = s->pad, Wp = 2 * g->tW + 2;
    float tv[4][WINO_MAXW + 4];
    for (int i = 0; i < g->tH; i++) {
        const float *r[4];
        for (int a = 0; a < 4; a++) {
            int ih = 2 * i + a - pad;
            r[a] = (ih >= 0 && ih < s->H) ? xc + (int64_t)ih * W : NULL;
        }
        /* B^T down the columns, into padded rows (zero outside the image) */
        for (int a = 0; a < 4; a++) {
            memset(tv[a], 0, (size_t)Wp * sizeof(float));
            /* rows: r0 - r2, r1 + r2, r2 - r1, r1 - r3 */
            static const int pi[4] = {0, 1, 1, 1}, qi[4] = {2, 2, 2, 3};
            static const float ps[4] = {1, 1, -1, 1}, qs[4] = {-1, 1, 1, -1};
            const float *p = r[pi[a]], *q = r[qi[a]];
            const float sp = ps[a], sq = qs[a];
            float *d = tv[a] + pad;
            if (p && q)
                for (int w = 0; w < W; w++)
                    d[w] = sp * p[w] + sq * q[w];
            else if (p)
                for (int w = 0; w < W; w++)
                    d[w] = sp * p[w];
            else if (q)
                for (int w = 0; w < W; w++)
                    d[w] = sq * q[w];
        }
        /* B^T along the rows, one tile per j */
        float *out = V + (int64_t)i * g->tW;
        for (int a = 0; a < 4; a++) {
            const float *t = tv[a];
            float *o0 = out + (4 * a) * es, *o1 = o0 + es, *o2 = o1 + es, *o3 = o2 + es;
#pragma omp simd
            for (int j = 0; j < g->tW; j++) {
                float d0 = t[2 * j], d1 = t[2 * j + 1], d2 = t[2 * j + 2], d3 = t[2 * j + 3];
                o0[j] = d0 - d2;
                o1[j] = d1 + d2;
                o2[j] = d2 - d1;
                o3[j] = d1 - d3;
            }
        }
    }
}

/* y plane yo (OH, OW) = A^T M A of its tiles (+ bias). */
static void output_transform(float *yo, const float *restrict M, int64_t es, float bias, const sk_conv_shape *s,
                             const wino_geom *g)
{
    float r0[WINO_MAXW + 4], r1[WINO_MAXW + 4];
    for (int i = 0; i < g->tH; i++) {
        const float *m = M + (int64_t)i * g->tW;
#pragma omp simd
        for (int j = 0; j < g->tW; j++) {
            float s0[4], s1[4];
            for (int b = 0; b < 4; b++) {
                float m0 = m[b * es + j], m1 = m[(4 + b) * es + j], m2 = m[(8 + b) * es + j];
                float m3 = m[(12 + b) * es + j];
                s0[b] = m0 + m1 + m2;
                s1[b] = m1 - m2 - m3;
            }
            r0[2 * j] = s0[0] + s0[1] + s0[2] + bias;
            r0[2 * j + 1] = s0[1] - s0[2] - s0[3] + bias;
            r1[2 * j] = s1[0] + s1[1] + s1[2] + bias;
            r1[2 * j + 1] = s1[1] - s1[2] - s1[3] + bias;
        }
        memcpy(yo + (int64_t)(2 * i) * s->OW, r0, (size_t)s->OW * sizeof(float));
        if (2 * i + 1 < s->OH) memcpy(yo + (int64_t)(2 * i + 1) * s->OW, r1, (size_t)s->OW * sizeof(float));
    }
}

void sk_conv_wino_forward(float *y, const float *x, const float *w, const float *b, const sk_conv_shape *s, float *ws)
{
    const int C = s->C, O = s->O;
    const wino_geom g = wino_geometry(s);
    const int64_t Tmax = (int64_t)g.nb * g.tpi;
    float *U = ws, *V = U + (int64_t)32 * O * C, *M = V + 16 * C * Tmax;
    filter_transform(U, w, O, C);
    const int64_t xs = (int64_t)C * s->H * s->W, ys = (int64_t)O * s->OH * s->OW;
    for (int n0 = 0; n0 < s->N; n0 += g.nb) {
        const int nb = s->N - n0 < g.nb ? s->N - n0 : g.nb;
        const int64_t T = (int64_t)nb * g.tpi, ev = (int64_t)C * T, em = (int64_t)O * T;
#pragma omp parallel for collapse(2) schedule(static) if (ev * 4 > WINO_PAR)
        for (int n = 0; n < nb; n++)
            for (int c = 0; c < C; c++)
                input_transform(V + c * T + (int64_t)n * g.tpi, ev, x + (n0 + n) * xs + (int64_t)c * s->H * s->W, s,
                                &g);
        for (int e = 0; e < 16; e++)
            sk_sgemm(0, 0, O, (int)T, C, 1.0f, U + (int64_t)e * O * C, C, V + e * ev, (int)T, 0.0f, M + e * em, (int)T);
#pragma omp parallel for collapse(2) schedule(static) if (em * 4 > WINO_PAR)
        for (int n = 0; n < nb; n++)
            for (int o = 0; o < O; o++)
                output_transform(y + (n0 + n) * ys + (int64_t)o * s->OH * s->OW, M + o * T + (int64_t)n * g.tpi, em,
                                 b ? b[o] : 0.0f, s, &g);
    }
}

/* dM tiles of one output-gradient plane dyo (OH, OW): A dy A^T (zero beyond the output). */
static void grad_transform(float *restrict dM, int64_t es, const float *dyo, const sk_conv_shape *s, const wino_geom *g)
{
    const int OW = s->OW, Wt = 2 * g->tW;
    float d0[WINO_MAXW + 4], d1[WINO_MAXW + 4];
    memset(d0 + OW, 0, (size_t)(Wt - OW) * sizeof(float));
    for (int i = 0; i < g->tH; i++) {
        memcpy(d0, dyo + (int64_t)(2 * i) * OW, (size_t)OW * sizeof(float));
        if (2 * i + 1 < s->OH) {
            memcpy(d1, dyo + (int64_t)(2 * i + 1) * OW, (size_t)OW * sizeof(float));
            memset(d1 + OW, 0, (size_t)(Wt - OW) * sizeof(float));
        } else {
            memset(d1, 0, (size_t)Wt * sizeof(float));
        }
        float *out = dM + (int64_t)i * g->tW;
#pragma omp simd
        for (int j = 0; j < g->tW; j++) {
            float a = d0[2 * j], b = d0[2 * j + 1], c = d1[2 * j], d = d1[2 * j + 1];
            float p[4] = {a, a + c, a - c, -c}, q[4] = {b, b + d, b - d, -d};
            for (int k = 0; k < 4; k++) {
                out[(4 * k) * es + j] = p[k];
                out[(4 * k + 1) * es + j] = p[k] + q[k];
                out[(4 * k + 2) * es + j] = p[k] - q[k];
                out[(4 * k + 3) * es + j] = -q[k];
            }
        }
    }
}

/* Input row of padded row p (if inside the image) += src[pad .. pad + W). */
static void add_padded_row(float *dxc, const float *src, int p, const sk_conv_shape *s)
{
    int ih = p - s->pad;
    if (ih < 0 || ih >= s->H) return;
    float *restrict d = dxc + (int64_t)ih * s->W;
    const float *restrict q = src + s->pad;
    for (int w = 0; w < s->W; w++)
        d[w] += q[w];
}

/* dxc (H, W) += B dV B^T of the tiles of one input plane (neighbours overlap by 2). */
static void data_adjoint(float *dxc, const float *restrict dV, int64_t es, const sk_conv_shape *s, const wino_geom *g,
                         int acc)
{
    const int tW = g->tW, Wp = 2 * tW + 2;
    float P[16][WINO_MAXW / 2 + 2], h[4][WINO_MAXW + 4], carry[2][WINO_MAXW + 4];
    memset(carry, 0, sizeof carry);
    if (!acc) memset(dxc, 0, (size_t)s->H * s->W * sizeof(float));
    for (int i = 0; i < g->tH; i++) {
        const float *v = dV + (int64_t)i * tW;
#pragma omp simd
        for (int j = 0; j < tW; j++) {
            float q[4][4]; /* q[r][b]: B down the columns */
            for (int b = 0; b < 4; b++) {
                float v0 = v[b * es + j], v1 = v[(4 + b) * es + j], v2 = v[(8 + b) * es + j];
                float v3 = v[(12 + b) * es + j];
                q[0][b] = v0;
                q[1][b] = v1 - v2 + v3;
                q[2][b] = v1 + v2 - v0;
                q[3][b] = -v3;
            }
            for (int r = 0; r < 4; r++) { /* B along the row: columns 2j .. 2j+3 */
                P[4 * r][j] = q[r][0];
                P[4 * r + 1][j] = q[r][1] - q[r][2] + q[r][3];
                P[4 * r + 2][j] = q[r][1] + q[r][2] - q[r][0];
                P[4 * r + 3][j] = -q[r][3];
            }
        }
        for (int r = 0; r < 4; r++) {
            const float *p0 = P[4 * r], *p1 = P[4 * r + 1], *p2 = P[4 * r + 2], *p3 = P[4 * r + 3];
            h[r][0] = p0[0];
            h[r][1] = p1[0];
            for (int m = 1; m < tW; m++) {
                h[r][2 * m] = p0[m] + p2[m - 1];
                h[r][2 * m + 1] = p1[m] + p3[m - 1];
            }
            h[r][2 * tW] = p2[tW - 1];
            h[r][2 * tW + 1] = p3[tW - 1];
        }
        for (int r = 0; r < 2; r++) {
            for (int w = 0; w < Wp; w++)
                h[r][w] += carry[r][w];
            add_padded_row(dxc, h[r], 2 * i + r, s);
            memcpy(carry[r], h[r + 2], (size_t)Wp * sizeof(float));
        }
    }
    add_padded_row(dxc, carry[0], 2 * g->tH, s);
    add_padded_row(dxc, carry[1], 2 * g->tH + 1, s);
}

/* db[o] += sum of dy over the batch and the pixels. */
static void bias_grad(float *db, const float *dy, const sk_conv_shape *s)
{
    const int64_t P = (int64_t)s->OH * s->OW;
#pragma omp parallel for schedule(static) if (P * s->N * s->O > WINO_PAR)
    for (int o = 0; o < s->O; o++) {
        float acc = 0.0f;
        for (int n = 0; n < s->N; n++) {
            const float *r = dy + ((int64_t)n * s->O + o) * P;
            for (int64_t p = 0; p < P; p++)
                acc += r[p];
        }
        db[o] += acc;
    }
}

void sk_conv_wino_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                           const sk_conv_shape *s, float *ws, int acc_dx)
{
    const int C = s->C, O = s->O;
    const wino_geom g = wino_geometry(s);
    const int64_t Tmax = (int64_t)g.nb * g.tpi, HW = (int64_t)s->H * s->W, OP = (int64_t)s->OH * s->OW;
    float *U = ws, *dU = U + (int64_t)16 * O * C, *V = dU + (int64_t)16 * O * C, *M = V + 16 * C * Tmax;
    if (dx) filter_transform(U, w, O, C);
    if (db) bias_grad(db, dy, s);
    if (s->N < 1) return;
    for (int n0 = 0; n0 < s->N; n0 += g.nb) {
        const int nb = s->N - n0 < g.nb ? s->N - n0 : g.nb;
        const int64_t T = (int64_t)nb * g.tpi, ev = (int64_t)C * T, em = (int64_t)O * T;
#pragma omp parallel for collapse(2) schedule(static) if (ev * 4 > WINO_PAR)
        for (int n = 0; n < nb; n++)
            for (int c = 0; c < C; c++)
                input_transform(V + c * T + (int64_t)n * g.tpi, ev, x + ((int64_t)(n0 + n) * C + c) * HW, s, &g);
#pragma omp parallel for collapse(2) schedule(static) if (em * 4 > WINO_PAR)
        for (int n = 0; n < nb; n++)
            for (int o = 0; o < O; o++)
                grad_transform(M + o * T + (int64_t)n * g.tpi, em, dy + ((int64_t)(n0 + n) * O + o) * OP, s, &g);
        for (int e = 0; e < 16; e++)
            sk_sgemm(0, 1, O, C, (int)T, 1.0f, M + e * em, (int)T, V + e * ev, (int)T, n0 ? 1.0f : 0.0f,
                     dU + (int64_t)e * O * C, C);
        if (!dx) continue;
        for (int e = 0; e < 16; e++)
            sk_sgemm(1, 0, C, (int)T, O, 1.0f, U + (int64_t)e * O * C, C, M + e * em, (int)T, 0.0f, V + e * ev, (int)T);
#pragma omp parallel for collapse(2) schedule(static) if (ev * 4 > WINO_PAR)
        for (int n = 0; n < nb; n++)
            for (int c = 0; c < C; c++)
                data_adjoint(dx + ((int64_t)(n0 + n) * C + c) * HW, V + c * T + (int64_t)n * g.tpi, ev, s, &g, acc_dx);
    }
    filter_adjoint(dw, dU, O, C);
}
