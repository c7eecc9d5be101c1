/* h5util.h - HDF5 plumbing shared by the weights, permutation and info code
 * (h5w_weights.c, h5w_load.c, h5w_perms.c, h5w_info.c); private to src/io.
 * The file formats are documented in h5w.h. One file per section below:
 * h5util.c (errors, text, small helpers), h5isolate.c (isolated reading:
 * the path check, the pipe, the child process, limits and timeout),
 * h5write.c (the in-memory writer), h5attr.c (attributes), h5walk.c
 * (walking the file), h5read.c (opening to read, datasets).
 *
 * Reading is isolated (sk_h5u_isolated): every file sinkrb reads is parsed
 * by libhdf5 in a forked child process, which sends the parsed result (or
 * the error message) back through a pipe. A weights file is untrusted input,
 * and libhdf5 does not survive every corrupt file: one changed byte in a
 * string attribute's global heap ID makes H5Aread -> H5T__conv_vlen ->
 * H5HG_read index past its heap (SIGSEGV), and AddressSanitizer finds heap
 * overflows in the object header code (H5Aexists). Checking the file before
 * HDF5 reads it would have to re-implement the HDF5 format parser and would
 * only make a crash less likely; in a child process a crash, an abort, a
 * hang (no progress for 30 seconds) or a memory blow-up (RLIMIT_DATA in the
 * child) cannot take sinkrb down: it becomes "FILE: corrupt HDF5 file (the
 * HDF5 library crashed reading it: ...)". The price is a fork per read
 * (about a millisecond) and the data passing through a pipe: a 40 MB model
 * loads in 0.12 s where the in-process reader took 0.06 s. On top of that
 * the readers bound every allocation by what the file can hold
 * (sk_h5u_ds_check_size), so a flipped bit in a shape is a fast clear error
 * in the child too. The child is a copy of the calling thread only and ends
 * with _exit (no atexit handlers, no stdio flush): call the readers from a
 * thread while no other thread is inside HDF5 (sinkrb's main thread).
 *
 * Writing goes to an in-memory HDF5 file (the core driver, no backing
 * store), whose image is then written to a temporary file with write(2),
 * fsynced and renamed into place: HDF5 never does file I/O itself, so a full
 * disk is an errno from write(2), never a failed H5Fclose that leaves the
 * library in a state where its atexit handler crashes.
 *
 * Conventions: every function closes every HDF5 id it opens on every path.
 * Failures are reported through sk_err naming the file (`path`); where HDF5
 * itself failed, the innermost message of its error stack is quoted, since
 * HDF5's own printing is switched off (sk_h5u_quiet). Text that comes from a
 * file reaches messages and `info` output escaped (sk_h5u_escape). */
#ifndef SK_IO_H5UTIL_H
#define SK_IO_H5UTIL_H
#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/strbuf.h"
#include "core/tensor.h"

#define H5W_MAX_NUMEL ((int64_t)1 << 34)      /* sanity bound against corrupt dims */
#define H5W_MAX_ATTR_BYTES ((size_t)64 << 20) /* text of one attribute */
#define H5W_MAX_DEPTH 32                      /* group nesting walked by info */
/* Declared bytes per stored byte a compressed dataset may have: deflate
 * cannot do better than about 1032:1, so more means a corrupt size. */
#define H5W_MAX_RATIO 1100

/* Close an id if open and mark it closed, so one cleanup label serves every path. */
#define CLOSE_ID(fn, id)                                                                                               \
    do {                                                                                                               \
        if ((id) >= 0) (void)fn(id);                                                                                   \
        (id) = H5I_INVALID_HID;                                                                                        \
    } while (0)

/* ---- errors and text (h5util.c) ---- */

/* Turn off HDF5's automatic error printing (per thread in a thread-safe
 * build, hence called at every entry point; cheap and idempotent). */
void sk_h5u_quiet(void);
/* "<path>: <what> (HDF5: <innermost message>)"; returns code. */
SK_MUST_CHECK sk_status sk_h5u_fail(sk_status code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* SK_EFORMAT "<path>: [<obj>: ]truncated or corrupt HDF5 file (HDF5: ...)"; obj may be NULL. */
SK_MUST_CHECK sk_status sk_h5u_corrupt(const char *path, const char *obj);
/* Append n bytes of s to out with every byte that is not printable text
 * written as \xNN: control characters (but '\n' and '\t' when keep_nl),
 * DEL, and bytes that are not part of valid UTF-8 (C1 controls included).
 * Valid UTF-8 text is kept as it is. */
void sk_h5u_escape(sk_strbuf *out, const char *s, size_t n, int keep_nl);
/* Is s printable text: valid UTF-8 without control characters other than
 * '\n', '\r' and '\t'? */
int sk_h5u_is_text(const char *s, size_t n);

/* ---- small helpers (h5util.c) ---- */

/* Python's tuple notation: "()", "(3,)", "(2, 3)". */
void sk_h5u_shape_str(int ndim, const int64_t *shape, char *buf, size_t n);
/* A byte count for messages: "812 bytes", "2.0 GiB". */
void sk_h5u_bytes_str(double bytes, char *buf, size_t n);
/* A name we write as a dataset at the root: non-empty, no '/' or '\n', not ".". */
SK_MUST_CHECK sk_status sk_h5u_check_name(const char *path, const char *name);
/* A type class in words ("float", "string", ...), for messages. */
const char *sk_h5u_class_name(H5T_class_t c);

/* ---- isolated reading (h5isolate.c) ---- */

/* One read: the pipe between the child that parses and the parent. */
typedef struct sk_h5u_chan sk_h5u_chan;
/* Runs in the child: parse the file, sending the result with sk_h5u_put*;
 * a status other than SK_OK sends sk_err_msg() instead (data already sent
 * stays sent). Runs in the parent: take the result with sk_h5u_get*. */
typedef sk_status (*sk_h5u_fn)(sk_h5u_chan *ch, void *arg);

/* Check the path in this process (missing, a directory, not a regular file
 * such as a FIFO, empty, no HDF5 signature: plain messages, nothing opened
 * that could block), then run child() in a forked child process and
 * parent() here. A child that dies before it is done gives SK_EFORMAT
 * "<path>: corrupt HDF5 file (the HDF5 library crashed reading it: ...)";
 * one that sends nothing for sk_h5u_timeout seconds is killed (SK_EFORMAT,
 * "made no progress"). Errors the child reports arrive escaped. The child's
 * memory is limited (RLIMIT_DATA: what it had plus 2 GiB plus twice the
 * file's size; not under AddressSanitizer). */
SK_MUST_CHECK sk_status sk_h5u_isolated(const char *path, sk_h5u_fn child, sk_h5u_fn parent, void *arg);
/* The file's path and size (in bytes, from the parent's check). */
const char *sk_h5u_chan_path(const sk_h5u_chan *ch);
int64_t sk_h5u_chan_size(const sk_h5u_chan *ch);
/* Child side. sk_h5u_put* buffer and send the bytes; a parent that stopped
 * listening ends the child. sk_h5u_beat tells the parent the child is
 * making progress (sends what is buffered). */
void sk_h5u_put(sk_h5u_chan *ch, const void *p, size_t n);
void sk_h5u_put_u64(sk_h5u_chan *ch, uint64_t v);
void sk_h5u_put_str(sk_h5u_chan *ch, const char *s); /* NULL is sent as absent */
void sk_h5u_beat(sk_h5u_chan *ch);
/* Parent side: the next n bytes / a number / a string (malloc'd, free();
 * *s = NULL when the child sent NULL) of at most max bytes. A failure
 * (the child's error, its death, a timeout, a malformed result) sets sk_err
 * (or leaves the message to sk_h5u_isolated) and returns non-OK; return it. */
SK_MUST_CHECK sk_status sk_h5u_get(sk_h5u_chan *ch, void *p, size_t n);
SK_MUST_CHECK sk_status sk_h5u_get_u64(sk_h5u_chan *ch, uint64_t *v, uint64_t max);
SK_MUST_CHECK sk_status sk_h5u_get_str(sk_h5u_chan *ch, char **s, size_t max);
/* The error for a result that breaks its own rules (a bug, or a child
 * whose memory HDF5 corrupted without crashing). */
SK_MUST_CHECK sk_status sk_h5u_bad_result(sk_h5u_chan *ch, const char *what);

/* Test hooks: timeout in seconds without progress (default 30), values per
 * block read (default 1M; see sk_h5u_read_blocks), and strict mode, in
 * which a child also fails when it leaves HDF5 objects open or (under
 * LeakSanitizer) leaks memory. 0 / -1 keep the current value. */
void sk_h5u_set_limits(double timeout_s, size_t block_values, int strict);
/* The block part of sk_h5u_set_limits (h5read.c, where it is used). */
void sk_h5u_set_block(size_t values);

/* ---- opening and writing files (h5read.c: sk_h5u_open_read; h5write.c) ---- */

/* Open an existing file read-only (in the child of sk_h5u_isolated, which
 * has checked the path already); switches HDF5's printing off. */
SK_MUST_CHECK sk_status sk_h5u_open_read(const char *path, hid_t *fid);
/* Start a new HDF5 file in memory (room for about size_hint bytes) to be
 * written under a temporary name next to path, created empty now (its name
 * in tmp, n bytes; tmp is "" on failure, when nothing is left behind). */
SK_MUST_CHECK sk_status sk_h5u_create_tmp(const char *path, size_t size_hint, char *tmp, size_t n, hid_t *fid);
/* Close *fid, write its image to tmp, fsync and rename tmp over path; on
 * failure (a full disk, say) tmp is removed and path is untouched. */
SK_MUST_CHECK sk_status sk_h5u_commit(const char *path, const char *tmp, hid_t *fid);

/* ---- attributes (h5attr.c) ---- */

/* A scalar variable-length UTF-8 string / int64 attribute. */
SK_MUST_CHECK sk_status sk_h5u_attr_write_str(hid_t loc, const char *path, const char *name, const char *val);
SK_MUST_CHECK sk_status sk_h5u_attr_write_int(hid_t loc, const char *path, const char *name, int64_t val);
/* Read a string attribute (scalar, or an array joined with '\n'; variable or
 * fixed length) into a new string (sk_free). *out = NULL when the attribute
 * is absent. Text longer than H5W_MAX_ATTR_BYTES is refused before it is
 * read (variable-length strings: their lengths are taken from the
 * attribute's raw heap IDs first). */
SK_MUST_CHECK sk_status sk_h5u_attr_read_text(hid_t loc, const char *path, const char *name, char **out);
/* An integer scalar attribute; *present = 0 when absent. */
SK_MUST_CHECK sk_status sk_h5u_attr_read_int(hid_t loc, const char *path, const char *name, long long *v, int *present);
/* format / format_version: absent is fine (plain h5py file); another format
 * or a newer version is an error. */
SK_MUST_CHECK sk_status sk_h5u_check_format(hid_t fid, const char *path, const char *want);

/* ---- walking the file (h5walk.c) ---- */

/* An object's identity in its file (two hard links to one object share it). */
typedef struct {
    unsigned char b[32];
} sk_h5u_key;
SK_MUST_CHECK sk_status sk_h5u_obj_key(hid_t obj, sk_h5u_key *key);

/* A link that is not followed: soft, external, or a second hard link to a
 * group already walked. */
typedef struct {
    char *name;   /* its path, malloc'd */
    char *target; /* "/x", "other.h5:/x", or the group's first path; malloc'd */
    int kind;     /* 0 soft, 1 external, 2 group seen before */
} sk_h5u_link;

typedef struct {
    char **ds; /* names, malloc'd: dataset paths ("a", "g/b") from a walk, name order per group */
    int n, cap;
    sk_h5u_link *lk; /* links not followed, in walk order */
    int n_lk, cap_lk;
    int n_groups; /* groups seen (at the root when not recursing) */
    char first_group[SK_NAME_MAX];
    char deep[SK_NAME_MAX]; /* first group not walked: nested deeper than H5W_MAX_DEPTH ("" when none) */
    int n_deep;
    sk_h5u_key *seen; /* groups walked */
    char **seen_name;
    int n_seen, cap_seen;
    const char *path; /* the file, for messages */
    sk_status st;
} sk_h5u_links;

/* List the datasets reachable from fid through hard links into a zeroed L
 * (free with sk_h5u_links_free, also on failure): those at the root, or with
 * recurse those in every group below too, each group once, at most
 * H5W_MAX_DEPTH deep (deeper ones are counted in L->n_deep). Soft and
 * external links are listed in L->lk, not followed. */
SK_MUST_CHECK sk_status sk_h5u_walk(hid_t fid, const char *path, int recurse, sk_h5u_links *L);
/* Append a malloc'd name, which L then owns (on failure the caller keeps it). */
SK_MUST_CHECK sk_status sk_h5u_links_add(sk_h5u_links *L, char *name);
void sk_h5u_links_free(sk_h5u_links *L);
/* The link (soft/external) named name, or NULL. */
const sk_h5u_link *sk_h5u_link_find(const sk_h5u_links *L, const char *name);
/* "is a soft link (to /x); sinkrb reads datasets stored in the file" */
void sk_h5u_link_what(const sk_h5u_link *lk, char *buf, size_t n);

/* Order of L's datasets: those listed in the `order_attr` attribute first
 * (in its order), then the rest in the given (name) order. skip[i] names
 * are dropped silently (skip may be NULL). *perm receives indices into
 * L->ds (sk_free); *np its length. */
SK_MUST_CHECK sk_status sk_h5u_order(hid_t fid, const char *path, const char *order_attr, const sk_h5u_links *L,
                                     const char *skip, int **perm, int *np);

/* ---- datasets (h5read.c) ---- */

/* Open a dataset and its file type (close both with CLOSE_ID, also on failure). */
SK_MUST_CHECK sk_status sk_h5u_open_dataset(hid_t fid, const char *path, const char *name, hid_t *ds, hid_t *ftype);
/* Rank and dims of a dataset as int64 (rank <= maxdim, sane size). */
SK_MUST_CHECK sk_status sk_h5u_ds_shape(hid_t ds, const char *path, const char *name, int maxdim, int *ndim,
                                        int64_t *shape);
/* Can the file hold what the dataset declares (numel values of its type)?
 * Refused: data never written (no storage), uncompressed data larger than
 * the file or ending past its end, compressed data declaring more than
 * H5W_MAX_RATIO times its stored bytes. *raw: the declared bytes;
 * *compressed: filters present. Reads no data. */
SK_MUST_CHECK sk_status sk_h5u_ds_check_size(hid_t ds, hid_t ftype, const char *path, const char *name, int ndim,
                                             const int64_t *shape, int64_t file_size, int64_t *raw, int *compressed);

/* fn gets the dataset's values in row-major order, block by block: n values
 * of the memory type (H5T_NATIVE_FLOAT or H5T_NATIVE_DOUBLE) starting at
 * flat index first, in a buffer it may overwrite. */
typedef sk_status (*sk_h5u_block_fn)(void *vals, size_t n, int64_t first, void *ud);
/* Read a numeric dataset (any rank; the caller has checked its size) in
 * hyperslabs of at most about the block size (1M values), so memory stays
 * bounded whatever the shape; ch (may be NULL) hears a beat per block. */
SK_MUST_CHECK sk_status sk_h5u_read_blocks(hid_t ds, const char *path, const char *name, hid_t mtype,
                                           sk_h5u_block_fn fn, void *ud, sk_h5u_chan *ch);

/* ---- readers shared between the files (run in the reading child) ---- */

/* sk_h5w_read_perms on an open file of fsize bytes (h5w_perms.c). */
SK_MUST_CHECK sk_status sk_h5w_perms_read_open(hid_t fid, const char *path, int64_t fsize, int *n, char ***names,
                                               int64_t ***perms, int64_t **sizes);

#endif
