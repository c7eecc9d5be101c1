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
 * Layouts: U, dU [16][O][C]; V [C][16][ld]; M, dM [O][16][ld], where
 * t = image * tH * tW + i * tW + j < T = (images in the chunk) * tH * tW and
 * ld >= T is padded to an odd multiple of 16 floats: the 16 rows of one
 * channel that a transform reads or writes together then fall into
 * different cache sets (a power-of-two stride made the output transform
 * take as long as the GEMMs). GEMM e reads V[.][e] as a (C, T) matrix with
 * leading dimension 16 ld.
 * The transforms run in OpenMP loops over (image, channel); the GEMMs go to
 * the BLAS (threaded by it) outside them. */
#include <string.h>

#include "core/blas.h"
#include "nn/conv_impl.h"
#include "nn/layers.h"

#define WINO_MAXW 1024              /* widest input (row buffers on the stack) */
#define WINO_CHUNK_FLOATS (1 << 20) /* V + M floats per chunk (measured: 256K-4M) */
#define WINO_MIN_T 256              /* tiles per chunk at least (GEMM width) */
#define WINO_SERIAL_FLOPS 5e7       /* GEMMs below this run one per thread */
#define WINO_PAR 16384              /* elements per loop worth an OpenMP team */

/* The transforms are short vector loops: built for AVX2 as well as the
 * baseline, chosen at load time (GCC/Clang ifunc on x86-64 glibc). */
#if defined(__x86_64__) && defined(__has_attribute) && !defined(__SANITIZE_ADDRESS__)
#if __has_attribute(target_clones) && defined(__gnu_linux__)
#define WINO_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef WINO_CLONES
#define WINO_CLONES
#endif

typedef struct {
    int tH, tW, tpi; /* tiles per image: tH x tW */
    int nb;          /* images per chunk */
    int64_t ld;      /* row stride of V and M (>= nb * tpi) */
} wino_geom;

/* ld for T tiles: a multiple of 16 floats, odd in units of 16. */
static int64_t wino_ld(int64_t T)
{
    int64_t ld = (T + 15) / 16 * 16;
    return (ld / 16) % 2 ? ld : ld + 16;
}

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
    int64_t nb = WINO_CHUNK_FLOATS / per, nmin = (WINO_MIN_T + g.tpi - 1) / g.tpi;
    if (nb < nmin) nb = nmin; /* GEMMs of at least WINO_MIN_T columns */
    if (nb > s->N) nb = s->N > 0 ? s->N : 1;
    g.nb = (int)nb;
    g.ld = wino_ld((int64_t)g.nb * g.tpi);
    return g;
}

size_t sk_conv_wino_workspace(const sk_conv_shape *s)
{
    wino_geom g = wino_geometry(s);
    return (size_t)16 * ((size_t)2 * s->O * s->C + (size_t)(s->C + s->O) * g.ld);
}

/* The 16 GEMMs of a chunk: C_e = alpha op(A_e) op(B_e) + beta C_e with A_e at
 * A + e * sa etc. Small ones (under WINO_SERIAL_FLOPS each) run one per
 * thread with a single-threaded BLAS: splitting each across threads costs
 * more in synchronisation than it gains (measured: a third of ResNet20's CPU
 * time at 2 threads); large ones are threaded by the BLAS itself. */
static void gemm16(int ta, int tb, int M, int N, int K, const float *A, int64_t sa, int lda, const float *B, int64_t sb,
                   int ldb, float beta, float *C, int64_t sc, int ldc)
{
    const int par = sk_threads_get() > 1 && 2.0 * M * N * K < WINO_SERIAL_FLOPS;
    if (par && sk_blas_serial_begin()) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int e = 0; e < 16; e++)
            sk_sgemm(ta, tb, M, N, K, 1.0f, A + e * sa, lda, B + e * sb, ldb, beta, C + e * sc, ldc);
        sk_blas_serial_end();
        return;
    }
    for (int e = 0; e < 16; e++)
        sk_sgemm(ta, tb, M, N, K, 1.0f, A + e * sa, lda, B + e * sb, ldb, beta, C + e * sc, ldc);
}

/* Filters per block of the filter transforms: each block's 16 rows of U
 * (or dU) go through a small buffer, so that U is written (read) as 16
 * contiguous runs instead of 16 strided streams: with O C a power of two
 * (VGG's 512 x 512 = 1 MB) those 16 streams fell into the same cache sets,
 * and the transform took 8% of VGG11's training time. */
#define WINO_FBLOCK 64

/* U[e][o][c] = (G g G^T)[e] for every filter g = w[o][c]. */
static void filter_transform(float *U, const float *w, int O, int C)
{
    const int64_t es = (int64_t)O * C, nblk = (es + WINO_FBLOCK - 1) / WINO_FBLOCK;
#pragma omp parallel for schedule(static) if (es * 16 > WINO_PAR)
    for (int64_t bk = 0; bk < nblk; bk++) {
        const int64_t oc0 = bk * WINO_FBLOCK;
        const int cnt = es - oc0 < WINO_FBLOCK ? (int)(es - oc0) : WINO_FBLOCK;
        float ub[16][WINO_FBLOCK];
        for (int j = 0; j < cnt; j++) {
            const float *g = w + (oc0 + j) * 9;
            float t[4][3]; /* G g */
            for (int b = 0; b < 3; b++) {
                t[0][b] = g[b];
                t[1][b] = 0.5f * (g[b] + g[3 + b] + g[6 + b]);
                t[2][b] = 0.5f * (g[b] - g[3 + b] + g[6 + b]);
                t[3][b] = g[6 + b];
            }
            for (int a = 0; a < 4; a++) {
                ub[4 * a][j] = t[a][0];
                ub[4 * a + 1][j] = 0.5f * (t[a][0] + t[a][1] + t[a][2]);
                ub[4 * a + 2][j] = 0.5f * (t[a][0] - t[a][1] + t[a][2]);
                ub[4 * a + 3][j] = t[a][2];
            }
        }
        for (int e = 0; e < 16; e++)
            memcpy(U + e * es + oc0, ub[e], (size_t)cnt * sizeof(float));
    }
}

/* dw[o][c] += (G^T dU G) for every (o, c). */
static void filter_adjoint(float *dw, const float *dU, int O, int C)
{
    const int64_t es = (int64_t)O * C, nblk = (es + WINO_FBLOCK - 1) / WINO_FBLOCK;
#pragma omp parallel for schedule(static) if (es * 16 > WINO_PAR)
    for (int64_t bk = 0; bk < nblk; bk++) {
        const int64_t oc0 = bk * WINO_FBLOCK;
        const int cnt = es - oc0 < WINO_FBLOCK ? (int)(es - oc0) : WINO_FBLOCK;
        float ub[16][WINO_FBLOCK];
        for (int e = 0; e < 16; e++)
            memcpy(ub[e], dU + e * es + oc0, (size_t)cnt * sizeof(float));
        for (int j = 0; j < cnt; j++) {
            float t[4][3]; /* dU G, row a */
            for (int a = 0; a < 4; a++) {
                float u0 = ub[4 * a][j], u1 = ub[4 * a + 1][j], u2 = ub[4 * a + 2][j], u3 = ub[4 * a + 3][j];
                t[a][0] = u0 + 0.5f * (u1 + u2);
                t[a][1] = 0.5f * (u1 - u2);
                t[a][2] = 0.5f * (u1 + u2) + u3;
            }
            float *g = dw + (oc0 + j) * 9;
            for (int b = 0; b < 3; b++) {
                g[b] += t[0][b] + 0.5f * (t[1][b] + t[2][b]);
                g[3 + b] += 0.5f * (t[1][b] - t[2][b]);
                g[6 + b] += 0.5f * (t[1][b] + t[2][b]) + t[3][b];
            }
        }
    }
}

/* V tiles of one input plane xc (H, W): V[e * es + i * tW + j]. */
WINO_CLONES static void input_transform(float *restrict V, int64_t es, const float *xc, const sk_conv_shape *s,
                                        const wino_geom *g)
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
#pragma omp simd
                for (int w = 0; w < W; w++)
                    d[w] = sp * p[w] + sq * q[w];
            else if (p)
#pragma omp simd
                for (int w = 0; w < W; w++)
                    d[w] = sp * p[w];
            else if (q)
#pragma omp simd
                for (int w = 0; w < W; w++)
                    d[w] = sq * q[w];
        }
        /* B^T along the rows, one tile per j (even and odd columns apart first) */
        float *out = V + (int64_t)i * g->tW;
        for (int a = 0; a < 4; a++) {
            const float *t = tv[a];
            float ev[WINO_MAXW / 2 + 2], od[WINO_MAXW / 2 + 2];
#pragma omp simd
            for (int j = 0; j <= g->tW; j++) {
                ev[j] = t[2 * j];
                od[j] = t[2 * j + 1];
            }
            float *o0 = out + (4 * a) * es, *o1 = o0 + es, *o2 = o1 + es, *o3 = o2 + es;
#pragma omp simd
            for (int j = 0; j < g->tW; j++) {
                o0[j] = ev[j] - ev[j + 1];
                o1[j] = od[j] + ev[j + 1];
                o2[j] = ev[j + 1] - od[j];
                o3[j] = od[j] - od[j + 1];
            }
        }
    }
}

/* y plane yo (OH, OW) = A^T M A of its tiles (+ bias). */
WINO_CLONES static void output_transform(float *yo, const float *restrict M, int64_t es, float bias,
                                         const sk_conv_shape *s, const wino_geom *g)
{
    const int tW = g->tW;
    float q[4][WINO_MAXW / 2 + 2], r0[WINO_MAXW + 4], r1[WINO_MAXW + 4];
    for (int i = 0; i < g->tH; i++) {
        const float *m = M + (int64_t)i * tW;
        const float *m0 = m, *m1 = m + es, *m2 = m + 2 * es, *m3 = m + 3 * es, *m4 = m + 4 * es, *m5 = m + 5 * es;
        const float *m6 = m + 6 * es, *m7 = m + 7 * es, *m8 = m + 8 * es, *m9 = m + 9 * es, *m10 = m + 10 * es;
        const float *m11 = m + 11 * es, *m12 = m + 12 * es, *m13 = m + 13 * es, *m14 = m + 14 * es;
        const float *m15 = m + 15 * es;
#pragma omp simd
        for (int j = 0; j < tW; j++) {
            /* A^T down the columns: s_b = M0b + M1b + M2b, d_b = M1b - M2b - M3b */
            float s0 = m0[j] + m4[j] + m8[j], s1 = m1[j] + m5[j] + m9[j], s2 = m2[j] + m6[j] + m10[j];
            float s3 = m3[j] + m7[j] + m11[j];
            float d0 = m4[j] - m8[j] - m12[j], d1 = m5[j] - m9[j] - m13[j], d2 = m6[j] - m10[j] - m14[j];
            float d3 = m7[j] - m11[j] - m15[j];
            q[0][j] = s0 + s1 + s2 + bias;
            q[1][j] = s1 - s2 - s3 + bias;
            q[2][j] = d0 + d1 + d2 + bias;
            q[3][j] = d1 - d2 - d3 + bias;
        }
#pragma omp simd
        for (int j = 0; j < tW; j++) {
            r0[2 * j] = q[0][j];
            r0[2 * j + 1] = q[1][j];
            r1[2 * j] = q[2][j];
            r1[2 * j + 1] = q[3][j];
        }
        memcpy(yo + (int64_t)(2 * i) * s->OW, r0, (size_t)s->OW * sizeof(float));
        if (2 * i + 1 < s->OH) memcpy(yo + (int64_t)(2 * i + 1) * s->OW, r1, (size_t)s->OW * sizeof(float));
    }
}

/* V of the nb images from n0 of a chunk: every input plane's tiles (the
 * forward pass and the weight gradient read the same V). */
static void chunk_input_transform(float *V, const float *x, int n0, int nb, const sk_conv_shape *s, const wino_geom *g)
{
    const int C = s->C, T = nb * g->tpi;
    const int64_t ld = g->ld, HW = (int64_t)s->H * s->W;
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)C * T * 16 > WINO_PAR)
    for (int n = 0; n < nb; n++)
        for (int c = 0; c < C; c++)
            input_transform(V + 16 * c * ld + (int64_t)n * g->tpi, ld, x + ((int64_t)(n0 + n) * C + c) * HW, s, g);
}

void sk_conv_wino_forward(float *y, const float *x, const float *w, const float *b, const sk_conv_shape *s, float *ws)
{
    const int C = s->C, O = s->O;
    const wino_geom g = wino_geometry(s);
    const int64_t ld = g.ld, OP = (int64_t)s->OH * s->OW;
    float *U = ws, *V = U + (int64_t)32 * O * C, *M = V + 16 * C * ld;
    filter_transform(U, w, O, C);
    for (int n0 = 0; n0 < s->N; n0 += g.nb) {
        const int nb = s->N - n0 < g.nb ? s->N - n0 : g.nb;
        const int T = nb * g.tpi;
        chunk_input_transform(V, x, n0, nb, s, &g);
        gemm16(0, 0, O, T, C, U, (int64_t)O * C, C, V, ld, (int)(16 * ld), 0.0f, M, ld, (int)(16 * ld));
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)O * T * 16 > WINO_PAR)
        for (int n = 0; n < nb; n++)
            for (int o = 0; o < O; o++)
                output_transform(y + ((int64_t)(n0 + n) * O + o) * OP, M + 16 * o * ld + (int64_t)n * g.tpi, ld,
                                 b ? b[o] : 0.0f, s, &g);
    }
}

/* dM tiles of one output-gradient plane dyo (OH, OW): A dy A^T (zero beyond the output). */
WINO_CLONES static void grad_transform(float *restrict dM, int64_t es, const float *dyo, const sk_conv_shape *s,
                                       const wino_geom *g)
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
WINO_CLONES static void add_padded_row(float *dxc, const float *src, int p, const sk_conv_shape *s)
{
    int ih = p - s->pad;
    if (ih < 0 || ih >= s->H) return;
    float *restrict d = dxc + (int64_t)ih * s->W;
    const float *restrict q = src + s->pad;
#pragma omp simd
    for (int w = 0; w < s->W; w++)
        d[w] += q[w];
}

/* dxc (H, W) += B dV B^T of the tiles of one input plane (neighbours overlap by 2). */
WINO_CLONES static void data_adjoint(float *dxc, const float *restrict dV, int64_t es, const sk_conv_shape *s,
                                     const wino_geom *g, int acc)
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
#pragma omp simd
            for (int m = 1; m < tW; m++) {
                h[r][2 * m] = p0[m] + p2[m - 1];
                h[r][2 * m + 1] = p1[m] + p3[m - 1];
            }
            h[r][2 * tW] = p2[tW - 1];
            h[r][2 * tW + 1] = p3[tW - 1];
        }
        for (int r = 0; r < 2; r++) {
#pragma omp simd
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
    const int64_t ld = g.ld, HW = (int64_t)s->H * s->W, OP = (int64_t)s->OH * s->OW;
    float *U = ws, *dU = U + (int64_t)16 * O * C, *V = dU + (int64_t)16 * O * C, *M = V + 16 * C * ld;
    const int lv = (int)(16 * ld);
    if (dx) filter_transform(U, w, O, C);
    if (db) bias_grad(db, dy, s);
    if (s->N < 1) return;
    for (int n0 = 0; n0 < s->N; n0 += g.nb) {
        const int nb = s->N - n0 < g.nb ? s->N - n0 : g.nb;
        const int T = nb * g.tpi;
        chunk_input_transform(V, x, n0, nb, s, &g);
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)O * T * 16 > WINO_PAR)
        for (int n = 0; n < nb; n++)
            for (int o = 0; o < O; o++)
                grad_transform(M + 16 * o * ld + (int64_t)n * g.tpi, ld, dy + ((int64_t)(n0 + n) * O + o) * OP, s, &g);
        gemm16(0, 1, O, C, T, M, ld, lv, V, ld, lv, n0 ? 1.0f : 0.0f, dU, (int64_t)O * C, C);
        if (!dx) continue;
        gemm16(1, 0, C, T, O, U, (int64_t)O * C, C, M, ld, lv, 0.0f, V, ld, lv);
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)C * T * 16 > WINO_PAR)
        for (int n = 0; n < nb; n++)
            for (int c = 0; c < C; c++)
                data_adjoint(dx + ((int64_t)(n0 + n) * C + c) * HW, V + 16 * c * ld + (int64_t)n * g.tpi, ld, s, &g,
                             acc_dx);
    }
    filter_adjoint(dw, dU, O, C);
}
