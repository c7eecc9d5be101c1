/* h5util.h - HDF5 plumbing shared by the weights, permutation and info code
 * (h5w_weights.c, h5w_perms.c, h5w_info.c); private to src/io. The file
 * formats are documented in h5w.h.
 *
 * Conventions: every function closes every HDF5 id it opens on every path.
 * Failures are reported through sk_err naming the file (`path`); where HDF5
 * itself failed, the innermost message of its error stack is quoted, since
 * HDF5's own printing is switched off (sk_h5u_quiet). */
#ifndef SK_IO_H5UTIL_H
#define SK_IO_H5UTIL_H
#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/tensor.h"

#define H5W_MAX_NUMEL ((int64_t)1 << 34) /* sanity bound against corrupt dims */

/* Close an id if open and mark it closed, so one cleanup label serves every path. */
#define CLOSE_ID(fn, id)                                                                                               \
    do {                                                                                                               \
        if ((id) >= 0) (void)fn(id);                                                                                   \
        (id) = H5I_INVALID_HID;                                                                                        \
    } while (0)

/* ---- errors ---- */

/* Turn off HDF5's automatic error printing (per thread in a thread-safe
 * build, hence called at every entry point; cheap and idempotent). */
void sk_h5u_quiet(void);
/* "<path>: <what> (HDF5: <innermost message>)"; returns code. */
SK_MUST_CHECK sk_status sk_h5u_fail(sk_status code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* SK_EFORMAT "<path>: [<obj>: ]truncated or corrupt HDF5 file (HDF5: ...)"; obj may be NULL. */
SK_MUST_CHECK sk_status sk_h5u_corrupt(const char *path, const char *obj);

/* ---- small helpers ---- */

/* Python's tuple notation: "()", "(3,)", "(2, 3)". */
void sk_h5u_shape_str(int ndim, const int64_t *shape, char *buf, size_t n);
/* A name we write as a dataset at the root: non-empty, no '/' or '\n', not ".". */
SK_MUST_CHECK sk_status sk_h5u_check_name(const char *path, const char *name);
/* A type class in words ("float", "string", ...), for messages. */
const char *sk_h5u_class_name(H5T_class_t c);

/* ---- opening and writing files ---- */

/* Switch HDF5's printing off (sk_h5u_quiet) and open an existing file
 * read-only, with plain messages for the common failures: missing, a
 * directory, empty, truncated, not HDF5 (a zip archive such as PyTorch's
 * gets a conversion hint, a pickle is named as such). */
SK_MUST_CHECK sk_status sk_h5u_open_read(const char *path, hid_t *fid);
/* Start a new HDF5 file in memory (room for about size_hint bytes) to be
 * written under a temporary name next to path, created empty now (its name
 * in tmp, n bytes; tmp is "" on failure, when nothing is left behind). The
 * file lives in memory (the core driver, no backing store) and
 * sk_h5u_commit writes its image with write(2): HDF5 never does file I/O
 * itself, so a full disk is an errno from write(2), never a failed H5Fclose
 * that leaves the library in a state where its atexit handler crashes. */
SK_MUST_CHECK sk_status sk_h5u_create_tmp(const char *path, size_t size_hint, char *tmp, size_t n, hid_t *fid);
/* Close *fid, write its image to tmp, fsync and rename tmp over path; on
 * failure (a full disk, say) tmp is removed and path is untouched. */
SK_MUST_CHECK sk_status sk_h5u_commit(const char *path, const char *tmp, hid_t *fid);

/* ---- attributes ---- */

/* A scalar variable-length UTF-8 string / int64 attribute. */
SK_MUST_CHECK sk_status sk_h5u_attr_write_str(hid_t loc, const char *path, const char *name, const char *val);
SK_MUST_CHECK sk_status sk_h5u_attr_write_int(hid_t loc, const char *path, const char *name, int64_t val);
/* Read a string attribute (scalar, or an array joined with '\n'; variable or
 * fixed length) into a new string (sk_free). *out = NULL when the attribute
 * is absent. */
SK_MUST_CHECK sk_status sk_h5u_attr_read_text(hid_t loc, const char *path, const char *name, char **out);
/* An integer scalar attribute; *present = 0 when absent. */
SK_MUST_CHECK sk_status sk_h5u_attr_read_int(hid_t loc, const char *path, const char *name, long long *v, int *present);
/* format / format_version: absent is fine (plain h5py file); another format
 * or a newer version is an error. */
SK_MUST_CHECK sk_status sk_h5u_check_format(hid_t fid, const char *path, const char *want);

/* ---- walking the file ---- */

typedef struct {
    char **ds; /* names, malloc'd: dataset paths ("a", "g/b") from a walk, name order per group */
    int n, cap;
    int n_groups; /* groups seen (at the root when not recursing) */
    char first_group[SK_NAME_MAX];
    const char *path; /* the file, for messages */
    sk_status st;
} sk_h5u_links;

/* List the datasets reachable from fid through hard links into a zeroed L
 * (free with sk_h5u_links_free, also on failure): those at the root, or with
 * recurse those in every group below too (nesting is capped, against cycles). */
SK_MUST_CHECK sk_status sk_h5u_walk(hid_t fid, const char *path, int recurse, sk_h5u_links *L);
/* Append a malloc'd name, which L then owns (on failure the caller keeps it). */
SK_MUST_CHECK sk_status sk_h5u_links_add(sk_h5u_links *L, char *name);
void sk_h5u_links_free(sk_h5u_links *L);

/* Order of the n names: those listed in the `order_attr` attribute first (in
 * its order), then the rest in the given (name) order. skip[i] names are
 * dropped silently (skip may be NULL). *perm receives indices into names
 * (sk_free); *np its length. */
SK_MUST_CHECK sk_status sk_h5u_order(hid_t fid, const char *path, const char *order_attr, char **names, int n,
                                     const char *skip, int **perm, int *np);

/* ---- datasets ---- */

/* Open a dataset and its file type (close both with CLOSE_ID, also on failure). */
SK_MUST_CHECK sk_status sk_h5u_open_dataset(hid_t fid, const char *path, const char *name, hid_t *ds, hid_t *ftype);
/* Rank and dims of a dataset as int64 (rank <= maxdim, sane size). */
SK_MUST_CHECK sk_status sk_h5u_ds_shape(hid_t ds, const char *path, const char *name, int maxdim, int *ndim,
                                        int64_t *shape);

#endif
