/* bench.c - task sequences for continual learning (doc/algorithms.md §10).
 * Dimension letters: see bench.h. */
#include "continual/bench.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "core/names.h"

/* RNG stream tags, so every random choice of a benchmark has its own stream. */
#define STREAM_PERM 0x7065726d00ULL
#define STREAM_MEMORY 0x6d656d6f00ULL

const char *const sk_cl_bench_names[] = {[SK_CL_ROTATED] = "rotated-mnist",
                                         [SK_CL_PERMUTED] = "permuted-mnist",
                                         [SK_CL_SPLIT_CIFAR10] = "split-cifar10",
                                         [SK_CL_SPLIT_CIFAR100] = "split-cifar100"};
const char *const sk_cl_angles_names[] = {[SK_CL_LINSPACE] = "linspace", [SK_CL_STEP] = "step"};
const char *const sk_cl_memory_names[] = {[SK_CL_MEMORY_PER_TASK] = "per_task", [SK_CL_MEMORY_PER_CLASS] = "per_class"};

const char *sk_cl_bench_name(sk_cl_bench_kind k)
{
    return SK_NAME(sk_cl_bench_names, k);
}

void sk_cl_rotation_table(int h, int w, double deg, int32_t *src, float *wt) // src (P, 4), wt (P, 4)
{
    const double th = deg * M_PI / 180.0, cs = cos(th), sn = sin(th);
    const double cy = 0.5 * (h - 1), cx = 0.5 * (w - 1);
    for (int r = 0; r < h; r++) {
        for (int c = 0; c < w; c++) {
            /* Inverse map: the output pixel (r, c) reads the source point
             * obtained by rotating it back (rows grow downwards, so this is a
             * counter-clockwise rotation as displayed). */
            double x = c - cx, y = r - cy;
            double sc = cs * x - sn * y + cx, sr = sn * x + cs * y + cy;
            if (fabs(sc - nearbyint(sc)) < 1e-6) sc = nearbyint(sc);
            if (fabs(sr - nearbyint(sr)) < 1e-6) sr = nearbyint(sr);
            double r0 = floor(sr), c0 = floor(sc), fr = sr - r0, fc = sc - c0;
            int32_t *s = src + ((int64_t)r * w + c) * 4;
            float *ww = wt + ((int64_t)r * w + c) * 4;
            const double tw[4] = {(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc};
            for (int k = 0; k < 4; k++) {
                double rr = r0 + (k >> 1), cc = c0 + (k & 1);
                if (rr < 0 || rr > h - 1 || cc < 0 || cc > w - 1 || tw[k] == 0.0) {
                    s[k] = h * w;
                    ww[k] = 0.0f;
                } else {
                    s[k] = (int32_t)rr * w + (int32_t)cc;
                    ww[k] = (float)tw[k];
                }
            }
        }
    }
}

void sk_cl_rotate(const uint8_t *src, int P, const int32_t *tab, const float *wt, float a, float b,
                  float *dst) // src (P), tab (P, 4), wt (P, 4), dst (P)
{
    /* The image as floats plus a 0 at index P, which outside taps read: no
     * branch per tap (about twice as fast as testing each tap). */
    float img[P + 1];
    for (int p = 0; p < P; p++)
        img[p] = (float)src[p];
    img[P] = 0.0f;
    for (int p = 0; p < P; p++) {
        const int32_t *s = tab + (int64_t)p * 4;
        const float *w = wt + (int64_t)p * 4;
        float v = (w[0] * img[s[0]] + w[1] * img[s[1]]) + (w[2] * img[s[2]] + w[3] * img[s[3]]);
        dst[p] = a * v + b;
    }
}

void sk_cl_bench_free(sk_cl_bench *b)
{
    if (!b) return;
    int shared = b->mask == NULL; /* single head: one index list for all tasks */
    for (int t = 0; t < b->T; t++) {
        if (b->train_idx && (!shared || t == 0)) sk_free(b->train_idx[t]);
        if (b->test_idx && (!shared || t == 0)) sk_free(b->test_idx[t]);
    }
    sk_free(b->train_idx);
    sk_free(b->test_idx);
    sk_free(b->n_train);
    sk_free(b->n_test);
    sk_free(b->angles);
    sk_free(b->rot_src);
    sk_free(b->rot_w);
    sk_free(b->perm);
    sk_free(b->mask);
    sk_free(b);
}

/* Indices of split examples whose label is in [lo, hi); all when lo < 0. */
static int32_t *select_classes(const sk_split *sp, int lo, int hi, int64_t *n_out)
{
    int64_t n = 0;
    for (int64_t i = 0; i < sp->n; i++)
        if (lo < 0 || (sp->y[i] >= lo && sp->y[i] < hi)) n++;
    int32_t *idx = sk_alloc_n((size_t)(n > 0 ? n : 1), sizeof(int32_t));
    if (!idx) return NULL;
    n = 0;
    for (int64_t i = 0; i < sp->n; i++)
        if (lo < 0 || (sp->y[i] >= lo && sp->y[i] < hi)) idx[n++] = (int32_t)i;
    *n_out = n;
    return idx;
}

/* The combinations of benchmark, task count and data set that exist. */
static sk_status check_inputs(sk_cl_bench_kind kind, int T, const sk_dataset *ds)
{
    const sk_split *tr = &ds->train;
    if (T < 1) return sk_err(SK_EINVAL, "continual.tasks must be >= 1 (got %d)", T);
    if (!tr->x || !ds->test.x || tr->n < 1 || ds->test.n < 1)
        return sk_err(SK_EINVAL, "continual: the data set has no images (dataset.name %s)", sk_ds_kind_name(ds->kind));
    if (tr->n > INT32_MAX || ds->test.n > INT32_MAX) return sk_err(SK_EINVAL, "continual: more than 2^31 examples");
    if (kind == SK_CL_ROTATED || kind == SK_CL_PERMUTED) {
        if (ds->kind != SK_DS_MNIST && ds->kind != SK_DS_FASHION_MNIST)
            return sk_err(SK_ECONFIG, "continual.benchmark %s needs dataset.name mnist or fashion-mnist (got %s)",
                          sk_cl_bench_name(kind), sk_ds_kind_name(ds->kind));
    } else {
        sk_ds_kind need = kind == SK_CL_SPLIT_CIFAR10 ? SK_DS_CIFAR10 : SK_DS_CIFAR100;
        int max_t = kind == SK_CL_SPLIT_CIFAR10 ? 5 : 20;
        if (ds->kind != need)
            return sk_err(SK_ECONFIG, "continual.benchmark %s needs dataset.name %s (got %s)", sk_cl_bench_name(kind),
                          sk_ds_kind_name(need), sk_ds_kind_name(ds->kind));
        if (kind == SK_CL_SPLIT_CIFAR100 && tr->n_classes != 100)
            return sk_err(SK_ECONFIG,
                          "continual.benchmark split-cifar100 needs the 100 fine labels (got %d classes)"
                          "\nHINT: set dataset.labels: fine",
                          tr->n_classes);
        if (T > max_t)
            return sk_err(SK_ECONFIG, "continual.benchmark %s has at most %d tasks (continual.tasks is %d)",
                          sk_cl_bench_name(kind), max_t, T);
    }
    return SK_OK;
}

/* Each task's training and test examples (and, split benchmarks, its head). */
static sk_status bench_tasks(sk_cl_bench *b, sk_cl_bench_kind kind, int T, const sk_dataset *ds)
{
    const sk_split *tr = &ds->train;
    if (kind == SK_CL_ROTATED || kind == SK_CL_PERMUTED) {
        b->classes_per_task = b->K;
        b->train_idx[0] = select_classes(tr, -1, 0, &b->n_train[0]);
        b->test_idx[0] = select_classes(&ds->test, -1, 0, &b->n_test[0]);
        if (!b->train_idx[0] || !b->test_idx[0]) {
            return SK_ENOMEM;
        }
        for (int t = 1; t < T; t++) {
            b->train_idx[t] = b->train_idx[0];
            b->n_train[t] = b->n_train[0];
            b->test_idx[t] = b->test_idx[0];
            b->n_test[t] = b->n_test[0];
        }
    } else {
        int cpt = kind == SK_CL_SPLIT_CIFAR10 ? 2 : 5;
        b->classes_per_task = cpt;
        if (!(b->mask = sk_alloc_n((size_t)T * b->K, 1))) {
            return SK_ENOMEM;
        }
        for (int t = 0; t < T; t++) {
            for (int k = t * cpt; k < (t + 1) * cpt && k < b->K; k++)
                b->mask[(int64_t)t * b->K + k] = 1;
            b->train_idx[t] = select_classes(tr, t * cpt, (t + 1) * cpt, &b->n_train[t]);
            b->test_idx[t] = select_classes(&ds->test, t * cpt, (t + 1) * cpt, &b->n_test[t]);
            if (!b->train_idx[t] || !b->test_idx[t]) {
                return SK_ENOMEM;
            }
            if (b->n_train[t] == 0 || b->n_test[t] == 0) {
                return sk_err(SK_EINVAL,
                              "continual: task %d (classes %d..%d) has no %s examples"
                              "\nHINT: raise dataset.train_limit / dataset.test_limit",
                              t + 1, t * cpt, (t + 1) * cpt - 1, b->n_train[t] == 0 ? "training" : "test");
            }
        }
    }

    return SK_OK;
}

/* The per-task input transforms: rotation tables, or pixel permutations
 * (task 0 the identity, task t from stream STREAM_PERM + t of the seed). */
static sk_status bench_transforms(sk_cl_bench *b, sk_cl_bench_kind kind, int T, sk_cl_angles angles, double step,
                                  uint64_t seed)
{
    int64_t *tmp = NULL;
    if (kind == SK_CL_ROTATED) {
        const int P = b->H * b->W;
        b->angles = sk_alloc_n((size_t)T, sizeof(double));
        b->rot_src = sk_alloc_n((size_t)T * P * 4, sizeof(int32_t));
        b->rot_w = sk_alloc_n((size_t)T * P * 4, sizeof(float));
        if (!b->angles || !b->rot_src || !b->rot_w) return SK_ENOMEM;
        for (int t = 0; t < T; t++) {
            if (angles == SK_CL_STEP)
                b->angles[t] = step * t;
            else
                b->angles[t] = T > 1 ? 180.0 * t / (T - 1) : 0.0;
            sk_cl_rotation_table(b->H, b->W, b->angles[t], b->rot_src + (int64_t)t * P * 4,
                                 b->rot_w + (int64_t)t * P * 4);
        }
    } else if (kind == SK_CL_PERMUTED) {
        const int D = b->D;
        b->perm = sk_alloc_n((size_t)T * D, sizeof(int32_t));
        tmp = sk_alloc_n((size_t)D, sizeof(int64_t));
        if (!b->perm || !tmp) {
            sk_free(tmp);
            return SK_ENOMEM;
        }
        for (int j = 0; j < D; j++)
            b->perm[j] = j;
        for (int t = 1; t < T; t++) {
            sk_rng r;
            sk_rng_seed_stream(&r, seed, STREAM_PERM + (uint64_t)t);
            sk_rng_permutation(&r, tmp, D);
            for (int j = 0; j < D; j++)
                b->perm[(int64_t)t * D + j] = (int32_t)tmp[j];
        }
    }
    sk_free(tmp);
    return SK_OK;
}

sk_status sk_cl_bench_new(sk_cl_bench_kind kind, int T, sk_cl_angles angles, double step, uint64_t seed,
                          const sk_dataset *ds, int augment, sk_cl_bench **out)
{
    sk_status st;
    sk_cl_bench *b = NULL;
    *out = NULL;
    const sk_split *tr = &ds->train;
    if ((st = check_inputs(kind, T, ds)) != SK_OK) return st;
    if (!(b = sk_alloc(sizeof *b))) return SK_ENOMEM;
    b->kind = kind;
    b->T = T;
    b->ds = ds;
    b->C = tr->c;
    b->H = tr->h;
    b->W = tr->w;
    b->D = tr->c * tr->h * tr->w;
    b->K = tr->n_classes;
    b->augment = augment && (kind == SK_CL_SPLIT_CIFAR10 || kind == SK_CL_SPLIT_CIFAR100);
    {
        float lut[3 * 256];
        int nc = b->C < 3 ? b->C : 3;
        sk_dataset_lut(ds, nc, lut);
        for (int c = 0; c < nc; c++) {
            b->lut_b[c] = lut[c * 256];
            b->lut_a[c] = (float)(((double)lut[c * 256 + 255] - lut[c * 256]) / 255.0);
        }
    }
    b->train_idx = sk_alloc_n((size_t)T, sizeof(int32_t *));
    b->test_idx = sk_alloc_n((size_t)T, sizeof(int32_t *));
    b->n_train = sk_alloc_n((size_t)T, sizeof(int64_t));
    b->n_test = sk_alloc_n((size_t)T, sizeof(int64_t));
    if (!b->train_idx || !b->test_idx || !b->n_train || !b->n_test)
        st = SK_ENOMEM;
    else if ((st = bench_tasks(b, kind, T, ds)) == SK_OK)
        st = bench_transforms(b, kind, T, angles, step, seed);
    if (st == SK_OK) {
        *out = b;
        b = NULL;
    }
    sk_cl_bench_free(b);
    return st;
}

void sk_cl_bench_fill(const sk_cl_bench *b, int test, const int32_t *task, const int32_t *idx, int n, sk_rng *rng,
                      float *x, int32_t *y) // x (n, D), y (n)
{
    const sk_split *sp = test ? &b->ds->test : &b->ds->train;
    const int D = b->D, P = b->H * b->W;
    for (int k = 0; k < n; k++) {
        const int t = task[k], i = idx[k];
        const uint8_t *src = sp->x + (int64_t)i * D;
        float *o = x + (int64_t)k * D;
        switch (b->kind) {
        case SK_CL_ROTATED:
            for (int c = 0; c < b->C; c++)
                sk_cl_rotate(src + (int64_t)c * P, P, b->rot_src + (int64_t)t * P * 4, b->rot_w + (int64_t)t * P * 4,
                             b->lut_a[c < 3 ? c : 2], b->lut_b[c < 3 ? c : 2], o + (int64_t)c * P);
            break;
        case SK_CL_PERMUTED: {
            const int32_t *p = b->perm + (int64_t)t * D;
            const float a = b->lut_a[0], c0 = b->lut_b[0];
            for (int j = 0; j < D; j++)
                o[j] = a * (float)src[p[j]] + c0;
            break;
        }
        default:
            sk_dataset_batch(b->ds, sp, &idx[k], 1, b->augment && !test && rng, rng, o, NULL, NULL);
            break;
        }
        if (y) y[k] = sp->y[i];
    }
}

void sk_cl_memory_free(sk_cl_memory *m)
{
    if (!m) return;
    sk_free(m->task);
    sk_free(m->idx);
    memset(m, 0, sizeof *m);
}

/* Room for `add` more entries (capacity at least doubles). */
static sk_status memory_reserve(sk_cl_memory *m, int64_t add)
{
    int64_t want = m->n + add;
    if (want <= m->cap) return SK_OK;
    int64_t cap = want > 2 * m->cap ? want : 2 * m->cap;
    int32_t *nt = sk_alloc_n((size_t)cap, sizeof(int32_t)), *ni = sk_alloc_n((size_t)cap, sizeof(int32_t));
    if (!nt || !ni) {
        sk_free(nt);
        sk_free(ni);
        return SK_ENOMEM;
    }
    if (m->n) {
        memcpy(nt, m->task, (size_t)m->n * sizeof(int32_t));
        memcpy(ni, m->idx, (size_t)m->n * sizeof(int32_t));
    }
    sk_free(m->task);
    sk_free(m->idx);
    m->task = nt;
    m->idx = ni;
    m->cap = cap;
    return SK_OK;
}

/* Task t's training examples shuffled from (seed, t): a new array of n_train[t]. */
static int32_t *memory_shuffle(const sk_cl_bench *b, int t, uint64_t seed)
{
    int64_t n = b->n_train[t];
    int32_t *order = sk_alloc_n((size_t)(n > 0 ? n : 1), sizeof(int32_t));
    if (!order) return NULL;
    memcpy(order, b->train_idx[t], (size_t)n * sizeof(int32_t));
    sk_rng r;
    sk_rng_seed_stream(&r, seed, STREAM_MEMORY + (uint64_t)t);
    sk_rng_shuffle_i32(&r, order, n);
    return order;
}

sk_status sk_cl_memory_add_task(sk_cl_memory *m, const sk_cl_bench *b, int t, int k, uint64_t seed)
{
    int64_t n = b->n_train[t];
    if (k <= 0) return SK_OK;
    int64_t add = (int64_t)k * b->K < n ? (int64_t)k * b->K : n;
    if (memory_reserve(m, add) != SK_OK) return SK_ENOMEM;
    int32_t *order = memory_shuffle(b, t, seed), *count = sk_alloc_n((size_t)b->K, sizeof(int32_t));
    if (!order || !count) {
        sk_free(order);
        sk_free(count);
        return SK_ENOMEM;
    }
    for (int64_t j = 0; j < n; j++) {
        int32_t c = b->ds->train.y[order[j]];
        if (c < 0 || c >= b->K || count[c] >= k) continue;
        count[c]++;
        m->task[m->n] = t;
        m->idx[m->n] = order[j];
        m->n++;
    }
    sk_free(order);
    sk_free(count);
    return SK_OK;
}

sk_status sk_cl_memory_add_random(sk_cl_memory *m, const sk_cl_bench *b, int t, int n, uint64_t seed)
{
    int64_t add = n < b->n_train[t] ? n : b->n_train[t];
    if (add <= 0) return SK_OK;
    if (memory_reserve(m, add) != SK_OK) return SK_ENOMEM;
    int32_t *order = memory_shuffle(b, t, seed);
    if (!order) return SK_ENOMEM;
    for (int64_t j = 0; j < add; j++) {
        m->task[m->n] = t;
        m->idx[m->n] = order[j];
        m->n++;
    }
    sk_free(order);
    return SK_OK;
}
