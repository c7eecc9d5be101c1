/* cifar.c - the binary versions of CIFAR-10 and CIFAR-100.
 *
 * A file is a sequence of fixed-size records: label byte(s) then 3072 pixel
 * bytes, channel-planar (1024 R, 1024 G, 1024 B, each 32x32 row-major) --
 * exactly the (C, H, W) layout we keep, so pixels are read straight into the
 * split. CIFAR-10 records: label (0..9). CIFAR-100 records: coarse (0..19),
 * fine (0..99). Every file is opened and sized before anything is read, and
 * read whole (every label checked) whatever part of it a run uses. */
#include "data/formats.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"

#define CIFAR_PIXELS 3072
#define CIFAR_MAX_FILES 6

typedef struct {
    const char *dir;
    const char *fetch_name; /* for the HINT */
    int n_files;            /* files checked: opened, sized, equal record counts when `equal` */
    const char *files[CIFAR_MAX_FILES];
    int first, last; /* the split reads files[first..last) */
    int equal;       /* every file holds as many records as the others */
    int label_bytes; /* 1 (CIFAR-10) or 2 (CIFAR-100) */
    int label_pick;  /* which label byte to keep */
    int n_classes;
} cifar_spec;

/* The record count most files have (on a tie the larger: a cut file is the
 * smaller one). */
static int64_t common_count(const int64_t *recs, int n)
{
    int64_t best = recs[0];
    int best_n = 0;
    for (int i = 0; i < n; i++) {
        int c = 0;
        for (int j = 0; j < n; j++)
            c += recs[j] == recs[i];
        if (c > best_n || (c == best_n && recs[i] > best)) {
            best = recs[i];
            best_n = c;
        }
    }
    return best;
}

static sk_status cifar_load(const cifar_spec *cs, sk_split *sp)
{
    sk_status st = SK_OK;
    char paths[CIFAR_MAX_FILES][4096];
    int fds[CIFAR_MAX_FILES];
    int64_t recs[CIFAR_MAX_FILES], total = 0, at = 0;
    const int rec = cs->label_bytes + CIFAR_PIXELS;
    uint8_t *x = NULL;
    int32_t *y = NULL;
    FILE *f = NULL;

    memset(sp, 0, sizeof *sp);
    for (int k = 0; k < CIFAR_MAX_FILES; k++)
        fds[k] = -1;
    /* Open and size every file first: a truncated batch 5 should fail now,
     * not after reading four others. Reading from the descriptors opened
     * here means the files checked are the files read. */
    for (int k = 0; k < cs->n_files; k++) {
        int64_t size;
        int n = snprintf(paths[k], sizeof paths[k], "%s/%s", cs->dir, cs->files[k]);
        if (n < 0 || (size_t)n >= sizeof paths[k]) {
            st = sk_err(SK_EINVAL, "%s/%s: path too long", cs->dir, cs->files[k]);
            goto cleanup;
        }
        if ((fds[k] = sk_data_open(paths[k], cs->fetch_name, &size)) < 0) {
            st = SK_EIO;
            goto cleanup;
        }
        if (size == 0 || size % rec != 0) {
            st = sk_err(SK_EFORMAT,
                        "%s: size %lld is not a multiple of %d (truncated download?)\n"
                        "HINT: run datasets/fetch %s",
                        paths[k], (long long)size, rec, cs->fetch_name);
            goto cleanup;
        }
        recs[k] = size / rec;
    }
    if (cs->equal) {
        int64_t common = common_count(recs, cs->n_files);
        for (int k = 0; k < cs->n_files; k++)
            if (recs[k] != common) {
                st = sk_err(SK_EFORMAT,
                            "%s: %lld records where the other files of the data set have %lld each (truncated "
                            "download?)\nHINT: run datasets/fetch %s",
                            paths[k], (long long)recs[k], (long long)common, cs->fetch_name);
                goto cleanup;
            }
    }
    for (int k = cs->first; k < cs->last; k++)
        total += recs[k];
    x = sk_alloc_n((size_t)total, CIFAR_PIXELS);
    y = sk_alloc_n((size_t)total, sizeof *y);
    if (!x || !y) {
        st = SK_ENOMEM;
        goto cleanup;
    }

    for (int k = cs->first; k < cs->last; k++) {
        unsigned char extra;
        f = fdopen(fds[k], "rb");
        if (!f) {
            st = sk_err(SK_EIO, "%s: %s", paths[k], strerror(errno));
            goto cleanup;
        }
        fds[k] = -1;
        for (int64_t r = 0; r < recs[k]; r++, at++) {
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
        if (fread(&extra, 1, 1, f) != 0) {
            st = sk_err(SK_EIO, "%s: file grew while reading", paths[k]);
            goto cleanup;
        }
        fclose(f);
        f = NULL;
    }
    sp->n = total;
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
    for (int k = 0; k < CIFAR_MAX_FILES; k++)
        if (fds[k] >= 0) close(fds[k]);
    sk_free(x);
    sk_free(y);
    return st;
}

sk_status sk_cifar10_load_split(const char *dir, int train, sk_split *sp)
{
    cifar_spec cs = {.dir = dir,
                     .fetch_name = "cifar10",
                     .n_files = 6,
                     .files = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                               "data_batch_5.bin", "test_batch.bin"},
                     .first = train ? 0 : 5,
                     .last = train ? 5 : 6,
                     .equal = 1,
                     .label_bytes = 1,
                     .label_pick = 0,
                     .n_classes = 10};
    return cifar_load(&cs, sp);
}

sk_status sk_cifar100_load_split(const char *dir, int train, int coarse, sk_split *sp)
{
    cifar_spec cs = {.dir = dir,
                     .fetch_name = "cifar100",
                     .n_files = 1,
                     .first = 0,
                     .last = 1,
                     .label_bytes = 2,
                     .label_pick = coarse ? 0 : 1,
                     .n_classes = coarse ? 20 : 100};
    cs.files[0] = train ? "train.bin" : "test.bin";
    return cifar_load(&cs, sp);
}
