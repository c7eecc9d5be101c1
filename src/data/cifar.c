/* cifar.c - the binary versions of CIFAR-10 and CIFAR-100.
 *
 * A file is a sequence of fixed-size records: label byte(s) then 3072 pixel
 * bytes, channel-planar (1024 R, 1024 G, 1024 B, each 32x32 row-major) --
 * exactly the (C, H, W) layout we keep, so pixels are read straight into the
 * split. CIFAR-10 records: label (0..9). CIFAR-100 records: coarse (0..19),
 * fine (0..99). File sizes are checked with stat before anything is read. */
#include "data/formats.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/mem.h"

#define CIFAR_PIXELS 3072
#define CIFAR_MAX_FILES 5

typedef struct {
    const char *dir;
    const char *fetch_name; /* for the HINT */
    int n_files;
    const char *files[CIFAR_MAX_FILES];
    int label_bytes; /* 1 (CIFAR-10) or 2 (CIFAR-100) */
    int label_pick;  /* which label byte to keep */
    int n_classes;
    int64_t limit;
} cifar_spec;

static sk_status cifar_load(const cifar_spec *cs, sk_split *sp)
{
    sk_status st = SK_OK;
    char paths[CIFAR_MAX_FILES][4096];
    int64_t recs[CIFAR_MAX_FILES], total = 0, want, at = 0;
    const int rec = cs->label_bytes + CIFAR_PIXELS;
    uint8_t *x = NULL;
    int32_t *y = NULL;
    FILE *f = NULL;

    memset(sp, 0, sizeof *sp);
    /* Validate every file's size first: a truncated batch 5 should fail now,
     * not after reading four others. */
    for (int k = 0; k < cs->n_files; k++) {
        struct stat sb;
        int n = snprintf(paths[k], sizeof paths[k], "%s/%s", cs->dir, cs->files[k]);
        if (n < 0 || (size_t)n >= sizeof paths[k]) {
            st = sk_err(SK_EINVAL, "%s/%s: path too long", cs->dir, cs->files[k]);
            goto cleanup;
        }
        if (stat(paths[k], &sb) != 0) {
            st = sk_err(SK_EIO,
                        "%s: %s\nHINT: run datasets/fetch %s, or point dataset.path at the "
                        "folder holding the files",
                        paths[k], strerror(errno), cs->fetch_name);
            goto cleanup;
        }
        if (!S_ISREG(sb.st_mode)) {
            st = sk_err(SK_EIO, "%s: not a regular file", paths[k]);
            goto cleanup;
        }
        if (sb.st_size == 0 || sb.st_size % rec != 0) {
            st = sk_err(SK_EFORMAT,
                        "%s: size %lld is not a multiple of %d (truncated download?)\n"
                        "HINT: run datasets/fetch %s",
                        paths[k], (long long)sb.st_size, rec, cs->fetch_name);
            goto cleanup;
        }
        recs[k] = sb.st_size / rec;
        total += recs[k];
    }
    want = cs->limit > 0 && cs->limit < total ? cs->limit : total;
    x = sk_alloc_n((size_t)want, CIFAR_PIXELS);
    y = sk_alloc_n((size_t)want, sizeof *y);
    if (!x || !y) {
        st = SK_ENOMEM;
        goto cleanup;
    }

    for (int k = 0; k < cs->n_files && at < want; k++) {
        f = fopen(paths[k], "rb");
        if (!f) {
            st = sk_err(SK_EIO, "%s: %s", paths[k], strerror(errno));
            goto cleanup;
        }
        for (int64_t r = 0; r < recs[k] && at < want; r++, at++) {
            unsigned char lab[2];
            if (fread(lab, 1, (size_t)cs->label_bytes, f) != (size_t)cs->label_bytes ||
                fread(x + at * CIFAR_PIXELS, 1, CIFAR_PIXELS, f) != CIFAR_PIXELS) {
                st = sk_err(SK_EIO, "%s: read failed at record %lld (%s)", paths[k], (long long)r,
                            ferror(f) ? strerror(errno) : "file shrank while reading");
                goto cleanup;
            }
            for (int b = 0; b < cs->label_bytes; b++) {
                int lim = cs->label_bytes == 1 ? 10 : (b == 0 ? 20 : 100);
                if (lab[b] >= lim) {
                    st = sk_err(SK_EFORMAT, "%s: %slabel %d at record %lld is out of range 0..%d", paths[k],
                                cs->label_bytes == 1 ? "" : (b == 0 ? "coarse " : "fine "), lab[b], (long long)r,
                                lim - 1);
                    goto cleanup;
                }
            }
            y[at] = lab[cs->label_pick];
        }
        fclose(f);
        f = NULL;
    }
    sp->n = want;
    sp->c = 3;
    sp->h = 32;
    sp->w = 32;
    sp->n_classes = cs->n_classes;
    sp->x = x;
    sp->y = y;
    x = NULL;
    y = NULL;

cleanup:
    if (f) fclose(f);
    sk_free(x);
    sk_free(y);
    return st;
}

sk_status sk_cifar10_load_split(const char *dir, int train, int64_t limit, sk_split *sp)
{
    cifar_spec cs = {
        .dir = dir, .fetch_name = "cifar10", .label_bytes = 1, .label_pick = 0, .n_classes = 10, .limit = limit};
    if (train) {
        cs.n_files = 5;
        cs.files[0] = "data_batch_1.bin";
        cs.files[1] = "data_batch_2.bin";
        cs.files[2] = "data_batch_3.bin";
        cs.files[3] = "data_batch_4.bin";
        cs.files[4] = "data_batch_5.bin";
    } else {
        cs.n_files = 1;
        cs.files[0] = "test_batch.bin";
    }
    return cifar_load(&cs, sp);
}

sk_status sk_cifar100_load_split(const char *dir, int train, int coarse, int64_t limit, sk_split *sp)
{
    cifar_spec cs = {.dir = dir,
                     .fetch_name = "cifar100",
                     .n_files = 1,
                     .label_bytes = 2,
                     .label_pick = coarse ? 0 : 1,
                     .n_classes = coarse ? 20 : 100,
                     .limit = limit};
    cs.files[0] = train ? "train.bin" : "test.bin";
    return cifar_load(&cs, sp);
}
