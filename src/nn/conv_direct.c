/* conv_direct.c - 3x3 stride-1 pad-1 Conv2d computed directly with AVX2/FMA
 * register blocking, for the narrow layers (ResNet20's 16-64 channels) where
 * the GEMMs of im2col and Winograd are too small to run at speed and their
 * transforms and buffers cost as much as the products.
 *
 * A chunk of images is copied into zero-bordered planes (H + 2, W + 2); the
 * kernel then keeps a block of 6 (or 4, 8, 1) output channels x 16 (or 8)
 * pixels in registers and adds, for every input channel c and tap (ki, kj),
 * w[o][c][ki][kj] (broadcast from the packed filters) times 8 or 16
 * consecutive input pixels (unaligned loads): no im2col matrix, no
 * transforms. Threads take whole chunks (their own buffers).
 *   backward-data: the same kernel on the bordered dy with the flipped,
 *     transposed filters w'[c][o][ki][kj] = w[o][c][2 - ki][2 - kj];
 *   backward-weights: for 4 output channels, one input channel and one
 *     kernel row, 12 vector accumulators over the images, summed
 *     horizontally at the end.
 * Stride 2 (even H and W): the planes are split into even and odd columns, so
 * that the same kernels read 8 consecutive floats per tap; its input gradient
 * is computed per parity of the input pixel (s2_input_grad).
 * Needs OW a multiple of 8 and a CPU with AVX2 and FMA (checked at run time). */
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/blas.h"
#include "nn/conv_impl.h"
#include "nn/layers.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DIRECT_X86 1
#define DIRECT_TARGET __attribute__((target("avx2,fma")))
#endif

/* the register blocks must stay in registers: unroll their loops fully */
#define UNROLL _Pragma("GCC unroll 16")
#define DIRECT_SLOT_FLOATS (64 << 10) /* bordered x + dy floats of one chunk of images */
#define DIRECT_SLOTS 8                /* chunks in flight at once: the most threads a call uses */
#define DIRECT_PAR 16384

/* Where tap (ki, kj) of output pixel (oh, p) of channel c lies in the prepared
 * input: xp + c * ps + oh * ohs + ki * kis + koff[kj] + p. Stride 1: bordered
 * planes (H + 2, W + 2), ohs = kis = W + 2, koff = {0, 1, 2}. Stride 2: each
 * bordered plane split into its even and odd columns (two planes of
 * (H + 2, W / 2 + 1)), ohs = 2 kis, koff = {0, odd plane, 1}. */
typedef struct {
    int64_t ps, xs; /* per channel, per image */
    int ohs, kis, k1, k2;
    int stride; /* 1 or 2: which kernel instances read these planes */
} dgeom;

static dgeom direct_geom(int C, int H, int W, int stride)
{
    dgeom g;
    g.stride = stride;
    if (stride == 1) {
        g.ohs = g.kis = W + 2;
        g.k1 = 1;
        g.k2 = 2;
        g.ps = (int64_t)(H + 2) * (W + 2);
    } else {
        g.kis = W / 2 + 1;
        g.ohs = 2 * g.kis;
        g.k1 = (H + 2) * g.kis;
        g.k2 = 1;
        g.ps = 2 * (int64_t)g.k1;
    }
    g.xs = C * g.ps;
    return g;
}

int sk_conv_direct_applies(const sk_conv_shape *s)
{
#ifdef DIRECT_X86
    static int cpu_ok = -1;
    if (cpu_ok < 0) cpu_ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return cpu_ok && s->k == 3 && s->pad == 1 && s->OW % 8 == 0 &&
           (s->stride == 1 || (s->stride == 2 && s->H % 2 == 0 && s->W % 2 == 0));
#else
    (void)s;
    return 0;
#endif
}

/* Floats of one image's prepared input and bordered output-gradient planes. */
static int64_t direct_per_image(const sk_conv_shape *s)
{
    return (int64_t)s->C * (s->H + 2) * (s->W + 2) + (int64_t)s->O * (s->OH + 2) * (s->OW + 2);
}

/* Images per chunk: a chunk's planes (a quarter of a 1 MB L2) stay in the
 * cache while every channel block and tap reads them. */
static int direct_chunk(const sk_conv_shape *s)
{
    int64_t nb = DIRECT_SLOT_FLOATS / direct_per_image(s);
    if (nb < 1) nb = 1;
    if (nb > s->N) nb = s->N > 0 ? s->N : 1;
    return (int)nb;
}

static int direct_chunks(const sk_conv_shape *s)
{
    const int nb = direct_chunk(s);
    return s->N > 0 ? (s->N + nb - 1) / nb : 1;
}

/* Layout: packed filters (9 O C), DIRECT_SLOTS chunk buffers (one per
 * working thread), then one weight-gradient partial (9 O C) per chunk,
 * added up in chunk order: the result does not depend on the thread count. */
size_t sk_conv_direct_workspace(const sk_conv_shape *s)
{
    const size_t f = (size_t)9 * s->O * s->C;
    return f + (size_t)DIRECT_SLOTS * (size_t)direct_chunk(s) * (size_t)direct_per_image(s) +
           (size_t)direct_chunks(s) * f;
}

/* Threads for nch chunks: at most DIRECT_SLOTS (the workspace's chunk buffers). */
static int direct_workers(int nch)
{
    int t = sk_threads_get();
    if (t > DIRECT_SLOTS) t = DIRECT_SLOTS;
    if (t > nch) t = nch;
    return t < 1 ? 1 : t;
}

static int thread_index(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* dst[p] (H + 2, W + 2) = src[p] (H, W) with a zero border, planes p. */
static void border_planes(float *dst, const float *src, int64_t planes, int H, int W)
{
    const int Wp = W + 2;
    const int64_t per = (int64_t)(H + 2) * Wp;
    for (int64_t p = 0; p < planes; p++) {
        float *d = dst + p * per;
        const float *q = src + p * H * W;
        memset(d, 0, (size_t)Wp * sizeof *d);
        for (int h = 0; h < H; h++) {
            float *r = d + (int64_t)(h + 1) * Wp;
            r[0] = 0.0f;
            memcpy(r + 1, q + (int64_t)h * W, (size_t)W * sizeof *r);
            r[W + 1] = 0.0f;
        }
        memset(d + (int64_t)(H + 1) * Wp, 0, (size_t)Wp * sizeof *d);
    }
}

/* Stride 2: dst[p] = the bordered plane of src[p] (H, W even) split into its
 * even and odd columns, each (H + 2, W / 2 + 1). */
static void split_planes(float *dst, const float *src, int64_t planes, int H, int W)
{
    const int Wh = W / 2 + 1;
    const int64_t half = (int64_t)(H + 2) * Wh;
    for (int64_t p = 0; p < planes; p++) {
        float *ev = dst + p * 2 * half, *od = ev + half;
        const float *q = src + p * H * W;
        memset(ev, 0, (size_t)Wh * sizeof *ev);
        memset(od, 0, (size_t)Wh * sizeof *od);
        for (int h = 0; h < H; h++) {
            float *e = ev + (int64_t)(h + 1) * Wh, *o = od + (int64_t)(h + 1) * Wh;
            const float *r = q + (int64_t)h * W; /* bordered column j + 1 = r[j] */
            e[0] = 0.0f;
            for (int i = 0; i < Wh - 1; i++) {
                o[i] = r[2 * i];         /* bordered column 2i + 1 */
                e[i + 1] = r[2 * i + 1]; /* bordered column 2i + 2 */
            }
            o[Wh - 1] = 0.0f; /* bordered column W + 1 */
        }
        memset(ev + (int64_t)(H + 1) * Wh, 0, (size_t)Wh * sizeof *ev);
        memset(od + (int64_t)(H + 1) * Wh, 0, (size_t)Wh * sizeof *od);
    }
}

static void prepare_planes(float *dst, const float *src, int64_t planes, int H, int W, int stride)
{
    if (stride == 1)
        border_planes(dst, src, planes, H, W);
    else
        split_planes(dst, src, planes, H, W);
}

#ifdef DIRECT_X86
/* The register block that starts at output channel o of O: the channels go in
 * groups of 12 (8 where the rows are narrow), each taken as 6s, then 4s
 * (8 = 4 + 4, 9 = 4 + 4 + 1), then singles; 8s for narrow rows. Returns the
 * block's channel count; every loop over blocks (and the filter packing they
 * read) steps through the channels with it. */
static int block_at(int o, int O, int wide)
{
    const int ob = wide ? 12 : 8, gend = (o / ob + 1) * ob, rem = (gend < O ? gend : O) - o;
    if (rem < 4) return 1;
    if (!wide) return rem >= 8 ? 8 : 4;
    return rem >= 6 && rem != 8 && rem != 9 ? 6 : 4;
}

static int wide_rows(int OH, int OW)
{
    return OW % 16 == 0 || (OW == 8 && OH % 2 == 0);
}

/* How pack_filters reads w: as it is (the forward pass), or as the filters
 * of the input gradient, w (C, O, 3, 3) transposed (stride 2's parity
 * kernels) or transposed and flipped (stride 1: a plain convolution of dy). */
enum { PACK_AS_IS, PACK_TRANSPOSED, PACK_FLIPPED };

/* The filters of a conv with O outputs and C inputs, packed per register
 * block: block (o0, cnt) at wp + 9 C o0 holds [c][tap][cnt], so that the
 * kernel finds all its broadcasts at constant offsets from one pointer (the
 * (O, C, 3, 3) layout needed one address per channel and tap: GCC kept them
 * on the stack and the kernel ran load-bound). Element (o, c, tap) is
 * w[(o C + c) 9 + tap] (PACK_AS_IS), w[(c O + o) 9 + tap] (PACK_TRANSPOSED)
 * or w[(c O + o) 9 + 8 - tap] (PACK_FLIPPED). */
static void pack_filters(float *wp, const float *w, int O, int C, int wide, int how)
{
    for (int o0 = 0, cnt; o0 < O; o0 += cnt) {
        cnt = block_at(o0, O, wide);
        float *d = wp + (int64_t)9 * C * o0;
        for (int c = 0; c < C; c++)
            for (int t = 0; t < 9; t++)
                for (int j = 0; j < cnt; j++)
                    d[((int64_t)c * 9 + t) * cnt + j] = how == PACK_AS_IS ? w[((int64_t)(o0 + j) * C + c) * 9 + t]
                                                        : how == PACK_TRANSPOSED
                                                            ? w[((int64_t)c * O + o0 + j) * 9 + t]
                                                            : w[((int64_t)c * O + o0 + j) * 9 + 8 - t];
    }
}

/* y[o][oh][ow] (+)= sum over c, taps of w[o][c][tap] * xp[c][oh + ki][ow + kj]
 * for OB output channels from o0 (packed filters wp of that block), PV
 * vectors of 8 pixels; S the stride (1: the taps' column offsets are
 * constants). */
#define DIRECT_KERNEL(NAME, OB, PV, S)                                                                                 \
    DIRECT_TARGET static void NAME(float *y, int64_t ys, const float *xp, const dgeom *gm, const float *wp, int C,     \
                                   int OH, int OW, const float *bias, int acc)                                         \
    {                                                                                                                  \
        const int64_t ps = gm->ps;                                                                                     \
        const int ohs = gm->ohs, kis = gm->kis;                                                                        \
        const int koff[3] = {0, S == 1 ? 1 : gm->k1, S == 1 ? 2 : gm->k2};                                             \
        /* 8-pixel rows (OH even): the PV vectors are PV consecutive rows */                                           \
        const int rows = OW == 8 ? PV : 1, vx = rows > 1 ? ohs : 8, vy = rows > 1 ? OW : 8;                            \
        for (int oh = 0; oh < OH; oh += rows)                                                                          \
            for (int p = 0; p < OW; p += 8 * PV / rows) {                                                              \
                __m256 a[OB][PV];                                                                                      \
                UNROLL for (int o = 0; o < OB; o++) UNROLL for (int v = 0; v < PV; v++) a[o][v] = _mm256_setzero_ps(); \
                const float *xr = xp + (int64_t)oh * ohs + p, *wc = wp;                                                \
                for (int c = 0; c < C; c++, xr += ps, wc += 9 * OB) {                                                  \
                    UNROLL for (int ki = 0; ki < 3; ki++) UNROLL for (int kj = 0; kj < 3; kj++)                        \
                    {                                                                                                  \
                        __m256 xv[PV];                                                                                 \
                        UNROLL for (int v = 0; v < PV; v++) xv[v] =                                                    \
                            _mm256_loadu_ps(xr + ki * kis + koff[kj] + vx * v);                                        \
                        UNROLL for (int o = 0; o < OB; o++)                                                            \
                        {                                                                                              \
                            __m256 wv = _mm256_broadcast_ss(wc + (ki * 3 + kj) * OB + o);                              \
                            UNROLL for (int v = 0; v < PV; v++) a[o][v] = _mm256_fmadd_ps(wv, xv[v], a[o][v]);         \
                        }                                                                                              \
                    }                                                                                                  \
                }                                                                                                      \
                UNROLL for (int o = 0; o < OB; o++)                                                                    \
                {                                                                                                      \
                    float *yr = y + o * ys + (int64_t)oh * OW + p;                                                     \
                    __m256 b = _mm256_set1_ps(bias ? bias[o] : 0.0f);                                                  \
                    UNROLL for (int v = 0; v < PV; v++)                                                                \
                    {                                                                                                  \
                        __m256 r = _mm256_add_ps(a[o][v], b);                                                          \
                        if (acc) r = _mm256_add_ps(r, _mm256_loadu_ps(yr + vy * v));                                   \
                        _mm256_storeu_ps(yr + vy * v, r);                                                              \
                    }                                                                                                  \
                }                                                                                                      \
            }                                                                                                          \
    }
#define DIRECT_KERNELS(S)                                                                                              \
    DIRECT_KERNEL(kern_6x2_s##S, 6, 2, S)                                                                              \
    DIRECT_KERNEL(kern_4x2_s##S, 4, 2, S)                                                                              \
    DIRECT_KERNEL(kern_4x1_s##S, 4, 1, S)                                                                              \
    DIRECT_KERNEL(kern_8x1_s##S, 8, 1, S)                                                                              \
    DIRECT_KERNEL(kern_1x2_s##S, 1, 2, S)                                                                              \
    DIRECT_KERNEL(kern_1x1_s##S, 1, 1, S)                                                                              \
    /* One image: output channels o0 .. o0 + cnt - 1 (cnt 8, 6, 4 or 1) of                                             \
     * y (O, OH, OW) (+)= conv(xp (C prepared planes, geometry gm), packed filters wp). */                             \
    static void image_block_s##S(float *y, const float *xp, const dgeom *gm, const float *wp, const float *bias,       \
                                 int C, int OH, int OW, int o0, int cnt, int acc)                                      \
    {                                                                                                                  \
        const int64_t ys = (int64_t)OH * OW;                                                                           \
        float *yo = y + o0 * ys;                                                                                       \
        const float *wo = wp + (int64_t)9 * C * o0, *bo = bias ? bias + o0 : NULL;                                     \
        const int wide = wide_rows(OH, OW);                                                                            \
        if (cnt == 8)                                                                                                  \
            kern_8x1_s##S(yo, ys, xp, gm, wo, C, OH, OW, bo, acc);                                                     \
        else if (cnt == 6)                                                                                             \
            kern_6x2_s##S(yo, ys, xp, gm, wo, C, OH, OW, bo, acc);                                                     \
        else if (cnt == 4)                                                                                             \
            (wide ? kern_4x2_s##S : kern_4x1_s##S)(yo, ys, xp, gm, wo, C, OH, OW, bo, acc);                            \
        else                                                                                                           \
            (wide ? kern_1x2_s##S : kern_1x1_s##S)(yo, ys, xp, gm, wo, C, OH, OW, bo, acc);                            \
    }
DIRECT_KERNELS(1)
DIRECT_KERNELS(2)

/* y images (+)= conv of nb prepared images xp with the packed filters wp
 * (one thread: the callers hand out whole chunks), by image and group of
 * channels: register blocks of 6 channels x
 * 16 pixels (one row, or two rows of 8), else 8 channels x 8 pixels (12
 * accumulators: enough independent FMAs for two pipes of latency 4-5); a
 * remainder in blocks of 4, then single channels (block_at). */
static void direct_conv(float *y, const float *xp, const dgeom *gm, const float *wp, const float *bias, int nb, int C,
                        int O, int OH, int OW, int acc)
{
    const int wide = wide_rows(OH, OW);
    const int64_t xs = gm->xs, ys = (int64_t)O * OH * OW;
    for (int n = 0; n < nb; n++)
        for (int o = 0, cnt; o < O; o += cnt) {
            cnt = block_at(o, O, wide);
            (gm->stride == 2 ? image_block_s2 : image_block_s1)(y + n * ys, xp + n * xs, gm, wp, bias, C, OH, OW, o,
                                                                cnt, acc);
        }
}

/* The input gradient of a stride-2 conv (pad 1, H = 2 OH, W = 2 OW), by the
 * parity of the input pixel: row 2m + a and column 2j + b receive
 *   a = 0: tap row 1 from dy row m;  a = 1: tap row 2 from row m, tap row 0
 *   from row m + 1 (the same for columns with b), dy beyond its edge = 0,
 * so each input row pair is a small correlation of dy with 1 or 2 filter rows.
 * The kernel computes, for OB input channels, input row 2m + A and 8 column
 * pairs (2j, 2j + 1) from j0: the even and the odd columns in two register
 * sets (2 OB accumulators), interleaved into 16 consecutive floats at the end.
 * dyp: bordered dy planes (OH + 2, OW + 2) of one image, plane stride ps; wq:
 * this block's filters packed [o][tap][OB] (PACK_TRANSPOSED). */
#define S2DX_TAPROW(KI, R, OB)                                                                                         \
    {                                                                                                                  \
        const __m256 v0 = _mm256_loadu_ps(R), v1 = _mm256_loadu_ps((R) + 1);                                           \
        UNROLL for (int k = 0; k < OB; k++)                                                                            \
        {                                                                                                              \
            ev[k] = _mm256_fmadd_ps(_mm256_broadcast_ss(wo + ((KI)*3 + 1) * OB + k), v0, ev[k]);                       \
            od[k] = _mm256_fmadd_ps(_mm256_broadcast_ss(wo + ((KI)*3 + 2) * OB + k), v0, od[k]);                       \
            od[k] = _mm256_fmadd_ps(_mm256_broadcast_ss(wo + (KI)*3 * OB + k), v1, od[k]);                             \
        }                                                                                                              \
    }
#define S2DX_KERNEL(NAME, OB, A)                                                                                       \
    DIRECT_TARGET static void NAME(float *dx, int64_t cs, const float *dyp, int64_t ps, const float *wq, int O, int m, \
                                   int j0, int OW, int acc)                                                            \
    {                                                                                                                  \
        const int rs = OW + 2, W = 2 * OW;                                                                             \
        __m256 ev[OB], od[OB];                                                                                         \
        UNROLL for (int k = 0; k < OB; k++) ev[k] = od[k] = _mm256_setzero_ps();                                       \
        const float *r = dyp + (int64_t)(m + 1) * rs + j0 + 1, *wo = wq; /* dy[m][j0] */                               \
        for (int o = 0; o < O; o++, r += ps, wo += 9 * OB) {                                                           \
            if (A == 0) {                                                                                              \
                S2DX_TAPROW(1, r, OB)                                                                                  \
            } else {                                                                                                   \
                S2DX_TAPROW(2, r, OB)                                                                                  \
                S2DX_TAPROW(0, r + rs, OB)                                                                             \
            }                                                                                                          \
        }                                                                                                              \
        float *out = dx + (int64_t)(2 * m + A) * W + 2 * j0;                                                           \
        UNROLL for (int k = 0; k < OB; k++)                                                                            \
        {                                                                                                              \
            const __m256 lo = _mm256_unpacklo_ps(ev[k], od[k]), hi = _mm256_unpackhi_ps(ev[k], od[k]);                 \
            __m256 q0 = _mm256_permute2f128_ps(lo, hi, 0x20), q1 = _mm256_permute2f128_ps(lo, hi, 0x31);               \
            float *d = out + k * cs;                                                                                   \
            if (acc) {                                                                                                 \
                q0 = _mm256_add_ps(q0, _mm256_loadu_ps(d));                                                            \
                q1 = _mm256_add_ps(q1, _mm256_loadu_ps(d + 8));                                                        \
            }                                                                                                          \
            _mm256_storeu_ps(d, q0);                                                                                   \
            _mm256_storeu_ps(d + 8, q1);                                                                               \
        }                                                                                                              \
    }
S2DX_KERNEL(s2dx_6_0, 6, 0)
S2DX_KERNEL(s2dx_6_1, 6, 1)
S2DX_KERNEL(s2dx_4_0, 4, 0)
S2DX_KERNEL(s2dx_4_1, 4, 1)
S2DX_KERNEL(s2dx_1_0, 1, 0)
S2DX_KERNEL(s2dx_1_1, 1, 1)

/* dx (+)= the input gradient of nb images of a stride-2 conv from their
 * bordered dy planes dyp (O planes each) and the packed filters wq (C
 * "outputs" in blocks of 6, 4, 1 as block_at gives with wide rows). */
static void s2_input_grad(float *dx, const float *dyp, const float *wq, int nb, int C, int O, int OH, int OW, int acc)
{
    const int64_t cs = (int64_t)4 * OH * OW, ps = (int64_t)(OH + 2) * (OW + 2);
    for (int n = 0; n < nb; n++) {
        float *dn = dx + n * C * cs;
        const float *yn = dyp + n * O * ps;
        for (int c0 = 0, cnt; c0 < C; c0 += cnt) {
            cnt = block_at(c0, C, 1);
            const float *wb = wq + (int64_t)9 * O * c0;
            float *db = dn + c0 * cs;
            for (int m = 0; m < OH; m++)
                for (int j0 = 0; j0 < OW; j0 += 8) {
                    if (cnt == 6) {
                        s2dx_6_0(db, cs, yn, ps, wb, O, m, j0, OW, acc);
                        s2dx_6_1(db, cs, yn, ps, wb, O, m, j0, OW, acc);
                    } else if (cnt == 4) {
                        s2dx_4_0(db, cs, yn, ps, wb, O, m, j0, OW, acc);
                        s2dx_4_1(db, cs, yn, ps, wb, O, m, j0, OW, acc);
                    } else {
                        s2dx_1_0(db, cs, yn, ps, wb, O, m, j0, OW, acc);
                        s2dx_1_1(db, cs, yn, ps, wb, O, m, j0, OW, acc);
                    }
                }
        }
    }
}

/* dw[o][c][3 ki .. 3 ki + 2] += sum over the images and pixels of dy[o] *
 * xp[c] shifted by (ki, 0..2), for OB output channels from o0: 3 OB vector
 * accumulators, each dy vector and each shifted x vector loaded once.
 * OWC > 0: square OWC x OWC maps (the row loop unrolled, the dy planes at
 * constant offsets); S 1: the taps' column offsets are the stride-1
 * constants, S 2: they come from gm (right for either stride). */
#define WGRAD_KERNEL(NAME, OB, OWC, S)                                                                                 \
    DIRECT_TARGET static void NAME(float *dw, const float *dy, const float *xp, const dgeom *gm, int nb, int C, int O, \
                                   int OHr, int OWr, int o0, int c, int ki)                                            \
    {                                                                                                                  \
        const int OW = OWC ? OWC : OWr, OH = OWC ? OWC : OHr;                                                          \
        const int64_t xs = gm->xs, ys = (int64_t)O * OH * OW, P = (int64_t)OH * OW;                                    \
        const int ohs = gm->ohs, k1 = S == 1 ? 1 : gm->k1, k2 = S == 1 ? 2 : gm->k2;                                   \
        __m256 a[OB][3];                                                                                               \
        UNROLL for (int o = 0; o < OB; o++) UNROLL for (int t = 0; t < 3; t++) a[o][t] = _mm256_setzero_ps();          \
        for (int n = 0; n < nb; n++) {                                                                                 \
            const float *d = dy + n * ys + o0 * P, *x = xp + n * xs + c * gm->ps + ki * gm->kis;                       \
            for (int oh = 0; oh < OH; oh++, d += OW, x += ohs)                                                         \
                UNROLL for (int p = 0; p < OW; p += 8)                                                                 \
                {                                                                                                      \
                    __m256 x0 = _mm256_loadu_ps(x + p), x1 = _mm256_loadu_ps(x + p + k1),                              \
                           x2 = _mm256_loadu_ps(x + p + k2);                                                           \
                    UNROLL for (int o = 0; o < OB; o++)                                                                \
                    {                                                                                                  \
                        __m256 dv = _mm256_loadu_ps(d + o * P + p);                                                    \
                        a[o][0] = _mm256_fmadd_ps(dv, x0, a[o][0]);                                                    \
                        a[o][1] = _mm256_fmadd_ps(dv, x1, a[o][1]);                                                    \
                        a[o][2] = _mm256_fmadd_ps(dv, x2, a[o][2]);                                                    \
                    }                                                                                                  \
                }                                                                                                      \
        }                                                                                                              \
        UNROLL for (int o = 0; o < OB; o++) UNROLL for (int t = 0; t < 3; t++)                                         \
        {                                                                                                              \
            __m128 h = _mm_add_ps(_mm256_castps256_ps128(a[o][t]), _mm256_extractf128_ps(a[o][t], 1));                 \
            h = _mm_add_ps(h, _mm_movehl_ps(h, h));                                                                    \
            h = _mm_add_ss(h, _mm_movehdup_ps(h));                                                                     \
            dw[(((int64_t)(o0 + o) * C + c) * 3 + ki) * 3 + t] += _mm_cvtss_f32(h);                                    \
        }                                                                                                              \
    }
/* ResNet20's maps: 32, 16 and 8 pixels square, stride 1 and 2 */
WGRAD_KERNEL(wgrad_4, 4, 0, 2)
WGRAD_KERNEL(wgrad_4_8, 4, 8, 1)
WGRAD_KERNEL(wgrad_4_16, 4, 16, 1)
WGRAD_KERNEL(wgrad_4_32, 4, 32, 1)
WGRAD_KERNEL(wgrad_4_8s2, 4, 8, 2)
WGRAD_KERNEL(wgrad_4_16s2, 4, 16, 2)
WGRAD_KERNEL(wgrad_1, 1, 0, 2)

typedef void (*wgrad_fn)(float *, const float *, const float *, const dgeom *, int, int, int, int, int, int, int, int);

static wgrad_fn wgrad_pick(const dgeom *gm, int OH, int OW)
{
    const int s2 = gm->stride == 2;
    if (OH != OW) return wgrad_4;
    switch (OW) {
    case 8:
        return s2 ? wgrad_4_8s2 : wgrad_4_8;
    case 16:
        return s2 ? wgrad_4_16s2 : wgrad_4_16;
    case 32:
        return s2 ? wgrad_4 : wgrad_4_32;
    default:
        return wgrad_4;
    }
}

/* dw (O, C, 3, 3) += the weight gradient of nb images, by blocks of 4
 * output channels. */
static void direct_wgrad(float *dw, const float *dy, const float *xp, const dgeom *gm, int nb, int C, int O, int OH,
                         int OW)
{
    const int nblk = (O + 3) / 4;
    const wgrad_fn w4 = wgrad_pick(gm, OH, OW);
    for (int bk = 0; bk < nblk; bk++)
        for (int c = 0; c < C; c++)
            for (int ki = 0; ki < 3; ki++) {
                if (4 * bk + 4 <= O) {
                    w4(dw, dy, xp, gm, nb, C, O, OH, OW, 4 * bk, c, ki);
                    continue;
                }
                for (int o = 4 * bk; o < O; o++)
                    wgrad_1(dw, dy, xp, gm, nb, C, O, OH, OW, o, c, ki);
            }
}
#endif

void sk_conv_direct_forward(float *y, const float *x, const float *w, const float *b, const sk_conv_shape *s, float *ws)
{
#ifdef DIRECT_X86
    const int nbc = direct_chunk(s), nch = direct_chunks(s), nt = direct_workers(nch);
    const int64_t xs = (int64_t)s->C * s->H * s->W, ys = (int64_t)s->O * s->OH * s->OW;
    const int64_t sf = (int64_t)nbc * direct_per_image(s);
    const dgeom gm = direct_geom(s->C, s->H, s->W, s->stride);
    float *wp = ws, *slots = ws + (int64_t)9 * s->O * s->C;
    pack_filters(wp, w, s->O, s->C, wide_rows(s->OH, s->OW), PACK_AS_IS);
    /* one parallel region, chunks handed out whole: a thread prepares its
     * chunk's planes in its own buffer and computes all its outputs */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *xp = slots + thread_index() * sf;
#pragma omp for schedule(dynamic, 1)
        for (int k = 0; k < nch; k++) {
            const int n0 = k * nbc, nb = s->N - n0 < nbc ? s->N - n0 : nbc;
            prepare_planes(xp, x + n0 * xs, (int64_t)nb * s->C, s->H, s->W, s->stride);
            direct_conv(y + n0 * ys, xp, &gm, wp, b, nb, s->C, s->O, s->OH, s->OW, 0);
        }
    }
#else
    (void)y, (void)x, (void)w, (void)b, (void)s, (void)ws;
#endif
}

/* db[o] += sum of dy over the batch and the pixels (one thread per channel). */
static void direct_bias_grad(float *db, const float *dy, const sk_conv_shape *s)
{
    const int64_t P = (int64_t)s->OH * s->OW;
#pragma omp parallel for schedule(static) if (P * s->N * s->O > DIRECT_PAR)
    for (int o = 0; o < s->O; o++) {
        float a = 0.0f;
        for (int n = 0; n < s->N; n++) {
            const float *r = dy + ((int64_t)n * s->O + o) * P;
            for (int64_t p = 0; p < P; p++)
                a += r[p];
        }
        db[o] += a;
    }
}

/* Stride 1: the weight gradient, and dx by the same kernel on the bordered dy
 * with w'[c][o][t] = w[o][c][8 - t]. Stride 2: the weight gradient, and dx by
 * the parity kernels on the bordered dy (s2_input_grad). Chunks
 * are handed out whole, as in the forward pass; each writes its own weight
 * gradient partial, added to dw in chunk order at the end. */
void sk_conv_direct_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                             const sk_conv_shape *s, float *ws, int acc_dx)
{
#ifdef DIRECT_X86
    const int C = s->C, O = s->O, nbc = direct_chunk(s), nch = direct_chunks(s), nt = direct_workers(nch);
    const int64_t xs = (int64_t)C * s->H * s->W, ys = (int64_t)O * s->OH * s->OW, nf = (int64_t)9 * O * C;
    const int64_t sf = (int64_t)nbc * direct_per_image(s);
    const dgeom gx = direct_geom(C, s->H, s->W, s->stride), gy = direct_geom(O, s->OH, s->OW, 1);
    float *wt = ws, *slots = ws + nf, *dwp = slots + DIRECT_SLOTS * sf;
    if (db) direct_bias_grad(db, dy, s);
    if (dx)
        pack_filters(wt, w, C, O, s->stride == 1 ? wide_rows(s->H, s->W) : 1,
                     s->stride == 1 ? PACK_FLIPPED : PACK_TRANSPOSED);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *xp = slots + thread_index() * sf, *dyp = xp + nbc * gx.xs;
#pragma omp for schedule(dynamic, 1)
        for (int k = 0; k < nch; k++) {
            const int n0 = k * nbc, nb = s->N - n0 < nbc ? s->N - n0 : nbc;
            float *dwk = dwp + k * nf;
            memset(dwk, 0, (size_t)nf * sizeof *dwk);
            prepare_planes(xp, x + n0 * xs, (int64_t)nb * C, s->H, s->W, s->stride);
            direct_wgrad(dwk, dy + n0 * ys, xp, &gx, nb, C, O, s->OH, s->OW);
            if (!dx) continue;
            border_planes(dyp, dy + n0 * ys, (int64_t)nb * O, s->OH, s->OW);
            if (s->stride == 1)
                direct_conv(dx + n0 * xs, dyp, &gy, wt, NULL, nb, O, C, s->H, s->W, acc_dx);
            else
                s2_input_grad(dx + n0 * xs, dyp, wt, nb, C, O, s->OH, s->OW, acc_dx);
        }
    }
    /* dw += the partials in chunk order, a block of dw at a time (each
     * partial read contiguously) */
    const int64_t nblk = (nf + 1023) / 1024;
#pragma omp parallel for schedule(static) if (nf * nch > DIRECT_PAR)
    for (int64_t bk = 0; bk < nblk; bk++) {
        const int64_t e0 = bk * 1024, e1 = e0 + 1024 < nf ? e0 + 1024 : nf;
        for (int k = 0; k < nch; k++) {
            const float *p = dwp + k * nf;
#pragma omp simd
            for (int64_t e = e0; e < e1; e++)
                dw[e] += p[e];
        }
    }
#else
    (void)dx, (void)dw, (void)db, (void)dy, (void)x, (void)w, (void)s, (void)ws, (void)acc_dx;
#endif
}
