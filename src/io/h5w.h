/* h5w.h - the HDF5 weights and permutation files.
 *
 * Weights file (format "sinkrb-weights", format_version 1):
 *   - one dataset per parameter or buffer at the ROOT of the file, named exactly
 *     like the PyTorch state_dict key ("layers.0.weight"), IEEE float32
 *     little-endian, contiguous, in PyTorch layout (row-major); a 0-d tensor is
 *     a scalar dataspace;
 *   - root attributes, all strings variable-length UTF-8 (h5py reads them as str):
 *       format         = "sinkrb-weights"
 *       format_version = 1                       (int64 scalar)
 *       param_order    = "layers.0.weight\nlayers.0.bias\n..."  (ONE string, the
 *                        state_dict keys in order, separated by '\n', no trailing
 *                        newline; h5py: f.attrs["param_order"].split("\n"))
 *       arch           = the model config section as YAML text (omitted when the
 *                        writer had none)
 *   Readers also accept param_order written as an array of strings.
 *   A plain h5py dump of a state_dict (no attributes, datasets in name order,
 *   int64 "num_batches_tracked" scalars) reads and loads as well.
 *
 * Permutation file (format "sinkrb-perm", format_version 1): one int64 dataset
 *   per permutation group at the root, named by the group name, holding a
 *   permutation of 0..n-1; attribute perm_order lists the group names in order
 *   ('\n'-separated, like param_order).
 *
 * Every entry point turns off HDF5's automatic error printing for the calling
 * thread and reports failures through sk_err, naming the file.
 *
 * A file to read is untrusted input: a truncated, corrupt or crafted file
 * gives an error (exit status 1 in the CLI), never a crash, a hang or a
 * large allocation. The path must name a regular file ("not a regular
 * file" for a FIFO or a device, checked before anything opens it). The
 * file is parsed by libhdf5 in a child process (io/h5util.h says why); a
 * file that crashes the library gives "FILE: corrupt HDF5 file (the HDF5
 * library crashed reading it: ...)", one on which it makes no progress for
 * 30 s is given up. A dataset that declares more data than the file can
 * hold (uncompressed and larger than the file or ending past its end,
 * compressed beyond any compression ratio, or never written) is refused
 * before anything is allocated for it. Text from the file appears in
 * messages and in `info` with bytes that are not printable UTF-8 escaped
 * (\xNN).
 *
 * Values: datasets are read as float32. float32 as stored; float16 exactly
 * (every float16 is a float32); float64 rounded to the nearest float32, and
 * a finite value beyond float32's range (|v| > 3.4e38) is an error, not an
 * infinity; integers exactly when |v| <= 2^24 (then every integer is a
 * float32), otherwise an error naming the dataset, the value and its index.
 * sk_h5w_read returns NaN and infinities as stored; sk_h5w_load_into
 * refuses them ("FILE: tensor layers.1.weight has a NaN at index 17").
 *
 * Writers build the file in memory and write it with write(2) to a
 * temporary name that is renamed into place when complete: a full disk is
 * "FILE: write failed: No space left on device", with nothing left under
 * the final or the temporary name. */
#ifndef SK_IO_H5W_H
#define SK_IO_H5W_H
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "core/tensor.h"

#define SK_H5W_FORMAT "sinkrb-weights"
#define SK_H5W_PERM_FORMAT "sinkrb-perm"
#define SK_H5W_VERSION 1

/* Write every tensor of `params` in order, atomically (temporary file in the
 * same folder, renamed into place; nothing is left under `path` or the
 * temporary name on failure). arch_yaml may be NULL (no arch attribute).
 * Names must be non-empty and contain neither '/' nor '\n'. */
SK_MUST_CHECK sk_status sk_h5w_write(const char *path, const sk_tset *params, const char *arch_yaml);
/* The same with n_attrs more string attributes at the root, attrs holding
 * name/value pairs (2 * n_attrs strings; e.g. the endpoint fingerprint). */
SK_MUST_CHECK sk_status sk_h5w_write_ex(const char *path, const sk_tset *params, const char *arch_yaml,
                                        const char *const *attrs, int n_attrs);
/* A string attribute at the root of a weights file into *value (malloc'd,
 * free with free()); *value = NULL when the file has no such attribute. The
 * value must be UTF-8 text without control characters other than '\n',
 * '\r' and '\t', and at most 64 MiB (checked before it is read). */
SK_MUST_CHECK sk_status sk_h5w_read_attr(const char *path, const char *name, char **value);

/* Read every numeric dataset at the root into a new sk_tset (*out, free with
 * sk_tset_free). Order: param_order when present (datasets it does not list
 * follow in name order), else HDF5 name order. float64/float16/integer data are
 * converted to float32 as described above (NaN and infinities kept); integer
 * "*num_batches_tracked" datasets are skipped; groups are ignored, and so are
 * soft and external links (named as such when param_order lists one).
 * Tensors named "*running_mean"/"*running_var" are marked as buffers. When
 * arch_yaml != NULL it receives the arch text (malloc'd, free with free();
 * NULL when the file has none; text as for sk_h5w_read_attr). */
SK_MUST_CHECK sk_status sk_h5w_read(const char *path, sk_tset **out, char **arch_yaml);

/* Load into an existing model layout (allocated): every tensor of `model` must
 * exist in the file with the same shape, and the file must have no tensor the
 * model lacks (num_batches_tracked excepted). Values are copied in, the
 * model's order and is_buffer flags are kept.
 * rename: n_rename pairs {file_name, model_name} (2*n_rename strings) applied
 * to the file's names first. An exact name wins; a pair whose two sides both
 * end in '*' renames a prefix ({"module.*", "*"} strips "module.",
 * {"fc1.*", "layers.0.*"} maps fc1.weight to layers.0.weight).
 * Names and shapes are compared before any data is read, so a file whose
 * shapes do not fit costs nothing whatever sizes it declares. On a mismatch
 * nothing is copied and the error lists missing (saying when the file has the
 * name as a soft or external link), extra and wrongly shaped tensors (capped,
 * "... and N more"). A NaN or infinite value is an error naming the tensor and
 * its index; nothing is copied then either. */
SK_MUST_CHECK sk_status sk_h5w_load_into(const char *path, sk_tset *model, const char *const *rename, int n_rename);
/* The same, with a model description for the message ("mlp 784-512-10");
 * model_desc may be NULL. */
SK_MUST_CHECK sk_status sk_h5w_load_into_ex(const char *path, sk_tset *model, const char *const *rename, int n_rename,
                                            const char *model_desc);

/* Permutation files. perms[g] has sizes[g] entries and must be a permutation
 * of 0..sizes[g]-1 (checked on write and on read). */
SK_MUST_CHECK sk_status sk_h5w_write_perms(const char *path, int n, const char *const *names,
                                           const int64_t *const *perms, const int64_t *sizes);
/* Read every group (order: perm_order, else name order). Free the three arrays
 * with sk_h5w_perms_free. */
SK_MUST_CHECK sk_status sk_h5w_read_perms(const char *path, int *n, char ***names, int64_t ***perms, int64_t **sizes);
void sk_h5w_perms_free(int n, char **names, int64_t **perms, int64_t *sizes); /* NULL-safe */

/* `sinkrb info FILE.h5`: the file's root attributes (format and version, arch
 * YAML indented, permutation groups of a perm file, any other attribute) and a
 * table of every dataset, walking groups (full paths; each group once, at most
 * 32 deep, deeper ones named in a "not listed" line): name, shape, dtype and,
 * for numeric data, min, max, mean and L2 norm computed in double, reading at
 * most about 1M values at a time; a second name of a dataset gets no
 * statistics of its own. Soft and external links are listed, not followed. An
 * attribute or dataset that cannot be read is reported in its place and the
 * report goes on; the first such problem is the returned error. */
SK_MUST_CHECK sk_status sk_h5w_info(const char *path, FILE *out);

#endif
