/* dataset.c - dispatch to the format readers, training-split statistics. */
#include "data/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/rng.h"
#include "data/formats.h"

const char *const sk_ds_kind_names[] = {[SK_DS_MNIST] = "mnist",
                                        [SK_DS_FASHION_MNIST] = "fashion-mnist",
                                        [SK_DS_CIFAR10] = "cifar10",
                                        [SK_DS_CIFAR100] = "cifar100",
                                        [SK_DS_POLYNOMIAL] = "polynomial"};
const char *const sk_normalize_names[] = {
    [SK_NORMALIZE_AUTO] = "auto",         [SK_NORMALIZE_UNIT] = "unit",
    [SK_NORMALIZE_STANDARD] = "standard", [SK_NORMALIZE_CUSTOM] = "custom",
    [SK_NORMALIZE_CIFAR10] = "cifar10",   [SK_NORMALIZE_CIFAR10_KUANGLIU] = "cifar10-kuangliu",
    [SK_NORMALIZE_CIFAR100] = "cifar100", [SK_NORMALIZE_IMAGENET] = "imagenet",
    [SK_NORMALIZE_MNIST] = "mnist"};

/* Published per-channel statistics that PyTorch training code commonly uses
 * with transforms.Normalize: CIFAR-10's and CIFAR-100's training-set mean and
 * std, the std variant of the widespread kuangliu/pytorch-cifar code,
 * torchvision's ImageNet values, and MNIST's. */
static const struct {
    sk_normalize kind;
    int channels;
    float mean[3], std[3];
} presets[] = {
    {SK_NORMALIZE_CIFAR10, 3, {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}},
    {SK_NORMALIZE_CIFAR10_KUANGLIU, 3, {0.4914f, 0.4822f, 0.4465f}, {0.2023f, 0.1994f, 0.2010f}},
    {SK_NORMALIZE_CIFAR100, 3, {0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}},
    {SK_NORMALIZE_IMAGENET, 3, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
    {SK_NORMALIZE_MNIST, 1, {0.1307f, 0.0f, 0.0f}, {0.3081f, 1.0f, 1.0f}},
};

int sk_normalize_preset(sk_normalize k, float mean[3], float std[3])
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (presets[i].kind == k) {
            memcpy(mean, presets[i].mean, sizeof presets[i].mean);
            memcpy(std, presets[i].std, sizeof presets[i].std);
            return presets[i].channels;
        }
    return 0;
}
const char *const sk_labels_names[] = {[SK_LABELS_FINE] = "fine", [SK_LABELS_COARSE] = "coarse"};
const char *const sk_split_names[] = {[SK_SPLIT_TRAIN] = "train", [SK_SPLIT_TEST] = "test"};

int sk_data_open(const char *path, const char *fetch_name, int64_t *size)
{
    struct stat sb;
    const char *kind;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), flags;
    if (fd < 0) {
        if (errno == ENOENT && fetch_name)
            sk_err(SK_EIO, "%s: %s\nHINT: run datasets/fetch %s, or point dataset.path at the folder holding the files",
                   path, strerror(errno), fetch_name);
        else
            sk_err(SK_EIO, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) != 0) {
        sk_err(SK_EIO, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        kind = S_ISDIR(sb.st_mode)    ? "a directory"
               : S_ISFIFO(sb.st_mode) ? "a FIFO"
               : S_ISCHR(sb.st_mode)  ? "a character device"
               : S_ISBLK(sb.st_mode)  ? "a block device"
                                      : "a special file";
        sk_err(SK_EIO, "%s: not a regular file (%s)", path, kind);
        close(fd);
        return -1;
    }
    if ((flags = fcntl(fd, F_GETFL)) != -1) (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    if (size) *size = (int64_t)sb.st_size;
    return fd;
}

const char *sk_ds_kind_name(sk_ds_kind k)
{
    return (unsigned)k < SK_DS_COUNT ? sk_ds_kind_names[k] : "unknown";
}

int sk_ds_kind_parse(const char *s, sk_ds_kind *out)
{
    static const struct {
        const char *name;
        sk_ds_kind kind;
    } names[] = {
        {"mnist", SK_DS_MNIST},
        {"fashion-mnist", SK_DS_FASHION_MNIST},
        {"fashion_mnist", SK_DS_FASHION_MNIST},
        {"cifar10", SK_DS_CIFAR10},
        {"cifar-10", SK_DS_CIFAR10},
        {"cifar100", SK_DS_CIFAR100},
        {"cifar-100", SK_DS_CIFAR100},
        {"polynomial", SK_DS_POLYNOMIAL},
    };
    if (!s) return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].kind;
            return 0;
        }
    }
    return -1;
}

sk_normalize sk_normalize_auto(sk_ds_kind k)
{
    return k == SK_DS_CIFAR10 || k == SK_DS_CIFAR100 ? SK_NORMALIZE_STANDARD : SK_NORMALIZE_UNIT;
}

void sk_data_opts_init(sk_data_opts *o, sk_ds_kind kind)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->normalize = sk_normalize_auto(kind);
    o->poly_degree = 1;
    o->poly_points = 100;
    o->poly_noise = 0.05;
}

void sk_split_free(sk_split *sp)
{
    if (!sp) return;
    sk_free(sp->x);
    sk_free(sp->y);
    sk_free(sp->xr);
    sk_free(sp->yr);
    sk_free(sp->rec);
    memset(sp, 0, sizeof *sp);
}

void sk_dataset_free(sk_dataset *ds)
{
    if (!ds) return;
    sk_split_free(&ds->train);
    sk_split_free(&ds->test);
    sk_split_free(&ds->val);
    memset(ds, 0, sizeof *ds);
}

int64_t sk_dataset_dim(const sk_dataset *ds)
{
    return (int64_t)ds->train.c * ds->train.h * ds->train.w;
}

/* Per-channel mean and (population) standard deviation of pixel/255 over the
 * whole training split, in double. A 256-bin histogram per channel makes this
 * exact and one cheap pass over the bytes. A constant channel gets std 1 so
 * normalisation never divides by zero. */
static void dataset_stats(sk_dataset *ds)
{
    const sk_split *sp = &ds->train;
    const int64_t hw = (int64_t)sp->h * sp->w, d = sp->c * hw;
    for (int c = 0; c < 3; c++) {
        ds->mean[c] = 0.0f;
        ds->std[c] = 1.0f;
    }
    for (int c = 0; c < sp->c && c < 3; c++) {
        uint64_t hist[256] = {0};
        double cnt = 0, s = 0, s2 = 0, mean, var;
        for (int64_t i = 0; i < sp->n; i++) {
            const uint8_t *p = sp->x + i * d + c * hw;
            for (int64_t j = 0; j < hw; j++)
                hist[p[j]]++;
        }
        for (int v = 0; v < 256; v++) {
            double x = v / 255.0, k = (double)hist[v];
            cnt += k;
            s += k * x;
        }
        if (cnt == 0) continue;
        mean = s / cnt;
        for (int v = 0; v < 256; v++) {
            double dx = v / 255.0 - mean;
            s2 += (double)hist[v] * dx * dx;
        }
        var = s2 / cnt;
        ds->mean[c] = (float)mean;
        ds->std[c] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    }
}

/* CUSTOM and presets: the statistics given, one per channel of the data. */
static sk_status fixed_stats(sk_dataset *ds, const sk_data_opts *o)
{
    int ch = ds->train.x ? ds->train.c : 0, n = 0;
    if (ds->normalize == SK_NORMALIZE_CUSTOM) {
        memcpy(ds->fixed_mean, o->mean, sizeof ds->fixed_mean);
        memcpy(ds->fixed_std, o->std, sizeof ds->fixed_std);
        n = ch;
    } else if (!(n = sk_normalize_preset(ds->normalize, ds->fixed_mean, ds->fixed_std))) {
        return SK_OK; /* unit, standard */
    }
    if (ch && n != ch)
        return sk_err(SK_ECONFIG, "dataset.normalize %s has %d channel%s but %s images have %d",
                      sk_normalize_names[ds->normalize], n, n == 1 ? "" : "s", sk_ds_kind_name(ds->kind), ch);
    for (int c = 0; c < ch && c < 3; c++)
        if (!(ds->fixed_std[c] > 0))
            return sk_err(SK_ECONFIG, "dataset.std must be > 0 for every channel (channel %d: %g)", c,
                          (double)ds->fixed_std[c]);
    return SK_OK;
}

void sk_dataset_norm_stats(const sk_dataset *ds, int c, double *mean, double *std)
{
    switch (ds->normalize) {
    case SK_NORMALIZE_UNIT:
        *mean = 0.0, *std = 1.0;
        return;
    case SK_NORMALIZE_AUTO: /* resolved at load; as standard */
    case SK_NORMALIZE_STANDARD:
        *mean = ds->mean[c], *std = ds->std[c];
        return;
    default:
        *mean = ds->fixed_mean[c], *std = ds->fixed_std[c];
        return;
    }
}

/* The records of `from` marked `want` in `is_val` (in file order) into `to`. */
static sk_status take_records(const sk_split *from, const uint8_t *is_val, int want, int64_t n, sk_split *to)
{
    const int64_t d = (int64_t)from->c * from->h * from->w;
    memset(to, 0, sizeof *to);
    to->c = from->c, to->h = from->h, to->w = from->w, to->n_classes = from->n_classes;
    to->rec = sk_alloc_n((size_t)n, sizeof *to->rec);
    if (from->x) to->x = sk_alloc_n((size_t)(n * d), 1);
    if (from->y) to->y = sk_alloc_n((size_t)n, sizeof *to->y);
    if (from->xr) to->xr = sk_alloc_n((size_t)n, sizeof *to->xr);
    if (from->yr) to->yr = sk_alloc_n((size_t)n, sizeof *to->yr);
    if (!to->rec || (from->x && !to->x) || (from->y && !to->y) || (from->xr && !to->xr) || (from->yr && !to->yr)) {
        sk_split_free(to);
        return SK_ENOMEM;
    }
    for (int64_t i = 0; i < from->n; i++) {
        if (is_val[i] != want) continue;
        int64_t k = to->n++;
        to->rec[k] = (int32_t)i;
        if (from->x) memcpy(to->x + k * d, from->x + i * d, (size_t)d);
        if (from->y) to->y[k] = from->y[i];
        if (from->xr) to->xr[k] = from->xr[i];
        if (from->yr) to->yr[k] = from->yr[i];
    }
    return SK_OK;
}

/* doc: sk_dataset (dataset.h). The training split's first train->n records
 * are the ones kept; the rest of its arrays is dropped with it. */
static sk_status split_validation(sk_dataset *ds, int64_t n_val, uint64_t seed)
{
    sk_split *tr = &ds->train;
    const int64_t n = tr->n;
    if (n_val >= n)
        return sk_err(SK_ECONFIG,
                      "dataset.validation (%lld) must be smaller than the number of training examples kept (%lld)",
                      (long long)n_val, (long long)n);
    if (n > INT32_MAX) return sk_err(SK_EINVAL, "dataset: more than 2^31 training examples");
    int64_t *perm = sk_alloc_n((size_t)n, sizeof *perm);
    uint8_t *is_val = sk_alloc((size_t)n);
    sk_split train, val;
    sk_status st = SK_OK;
    if (!perm || !is_val) {
        st = SK_ENOMEM;
        goto done;
    }
    sk_rng rng;
    sk_rng_seed_stream(&rng, seed, 0x56414c49 /* "VALI" */);
    sk_rng_permutation(&rng, perm, n);
    memset(is_val, 0, (size_t)n);
    for (int64_t i = n - n_val; i < n; i++)
        is_val[perm[i]] = 1;
    if ((st = take_records(tr, is_val, 0, n - n_val, &train)) != SK_OK) goto done;
    if ((st = take_records(tr, is_val, 1, n_val, &val)) != SK_OK) {
        sk_split_free(&train);
        goto done;
    }
    sk_split_free(tr);
    *tr = train;
    ds->val = val;
done:
    sk_free(perm);
    sk_free(is_val);
    return st;
}

sk_status sk_dataset_load(sk_dataset *ds, const sk_data_opts *o)
{
    sk_status st = SK_OK;
    char defpath[256];
    const char *dir = o->path;
    const char *name = sk_ds_kind_name(o->kind);

    memset(ds, 0, sizeof *ds);
    ds->kind = o->kind;
    ds->normalize = o->normalize == SK_NORMALIZE_AUTO ? sk_normalize_auto(o->kind) : o->normalize;
    if ((unsigned)ds->normalize >= SK_NORMALIZE_COUNT)
        return sk_err(SK_EINVAL, "dataset: unknown normalisation %d", (int)o->normalize);
    if (o->train_limit < 0 || o->test_limit < 0 || o->validation < 0)
        return sk_err(SK_EINVAL, "dataset: record limits must be >= 0 (got %lld, %lld, %lld)",
                      (long long)o->train_limit, (long long)o->test_limit, (long long)o->validation);
    if (!dir || !*dir) {
        snprintf(defpath, sizeof defpath, "datasets/%s", name);
        dir = defpath;
    }

    switch (o->kind) {
    case SK_DS_MNIST:
    case SK_DS_FASHION_MNIST:
        st = sk_idx_load_split(dir, "train", name, &ds->train);
        if (!st) st = sk_idx_load_split(dir, "t10k", name, &ds->test);
        break;
    case SK_DS_CIFAR10:
        st = sk_cifar10_load_split(dir, 1, &ds->train);
        if (!st) st = sk_cifar10_load_split(dir, 0, &ds->test);
        break;
    case SK_DS_CIFAR100:
        st = sk_cifar100_load_split(dir, 1, o->coarse_labels, &ds->train);
        if (!st) st = sk_cifar100_load_split(dir, 0, o->coarse_labels, &ds->test);
        break;
    case SK_DS_POLYNOMIAL:
        st = sk_poly_load(o, &ds->train, &ds->test);
        break;
    default:
        st = sk_err(SK_EINVAL, "dataset: unknown kind %d", (int)o->kind);
    }
    if (st) {
        sk_dataset_free(ds);
        return st;
    }
    if (ds->train.x)
        dataset_stats(ds);
    else {
        for (int c = 0; c < 3; c++) {
            ds->mean[c] = 0.0f;
            ds->std[c] = 1.0f;
        }
    }
    if ((st = fixed_stats(ds, o)) != SK_OK) {
        sk_dataset_free(ds);
        return st;
    }
    /* Both splits were read whole (every file validated to its end) and the
     * statistics are those of the whole training split; a limit keeps the
     * first records. */
    if (o->train_limit > 0 && o->train_limit < ds->train.n) ds->train.n = o->train_limit;
    if (o->test_limit > 0 && o->test_limit < ds->test.n) ds->test.n = o->test_limit;
    if (o->validation > 0 && (st = split_validation(ds, o->validation, o->split_seed)) != SK_OK) {
        sk_dataset_free(ds);
        return st;
    }
    return SK_OK;
}
