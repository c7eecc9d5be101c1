/* HDF5 weights and permutation files: exact round trips, h5py-style files,
 * load-into-model checks and their messages, corrupt input, info output,
 * and no leaked HDF5 ids or HDF5 error output on any path. */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "io/h5util.h"
#include "io/h5w.h"
#include "tu_h5.h"

/* ---- helpers ------------------------------------------------------------ */

/* HDF5 has no public count of transient ids (dataspaces, datatypes, property
 * lists), but a leaked dataset, group, attribute or committed type keeps its
 * file open, so "no open objects in any file" checks the ids that matter.
 * The readers run in a child process (sk_h5u_isolated), which in strict mode
 * (set in main) fails when they leave an object open; these check the
 * writers and the test's own use of HDF5. */
static void ids_baseline(void)
{
    H5open();
    ck_assert_int_eq(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
}

static void ids_check(void)
{
    ck_assert_int_eq(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
}

static int saved_fd = -1;
static char cap_path[2048];

/* Re-enable HDF5's default error printing, then capture fd 2: the library
 * must switch printing off itself and keep the terminal clean. */
static void stderr_begin(void)
{
    H5Eset_auto2(H5E_DEFAULT, (H5E_auto2_t)H5Eprint2, stderr);
    snprintf(cap_path, sizeof cap_path, "%s", tu_path("stderr.txt"));
    fflush(stderr);
    saved_fd = dup(2);
    int fd = open(cap_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 2);
    close(fd);
}

static void stderr_end_empty(void)
{
    size_t n = 0;
    fflush(stderr);
    dup2(saved_fd, 2);
    close(saved_fd);
    char *s = tu_read(cap_path, &n);
    ck_assert_msg(n == 0, "library wrote to stderr: %.300s", s);
    free(s);
}

static void assert_msg_has(const char *needle)
{
    ck_assert_msg(strstr(sk_err_msg(), needle) != NULL, "expected '%s' in message:\n%s", needle, sk_err_msg());
}

/* A small model-like set: several ranks, a scalar, an empty tensor. */
static sk_tset *make_set(uint64_t seed)
{
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[4];
    } spec[] = {
        {"layers.10.weight", 2, {3, 5}}, /* deliberately not in name order */
        {"layers.2.weight", 4, {2, 3, 2, 2}},
        {"layers.2.bias", 1, {2}},
        {"bn.running_var", 1, {2}},
        {"scale", 0, {0}},
        {"empty", 2, {0, 4}},
    };
    sk_tset *s = sk_tset_new();
    sk_rng r;
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < sizeof spec / sizeof *spec; i++)
        ck_assert_int_ge(sk_tset_add(s, spec[i].name, spec[i].ndim, spec[i].shape), 0);
    ck_assert_int_eq(sk_tset_alloc(s), SK_OK);
    sk_rng_seed(&r, seed);
    for (int64_t i = 0; i < s->numel; i++)
        s->block[i] = (float)sk_rng_normal(&r);
    /* Values a lossy path would change. */
    s->t[0].data[0] = NAN;
    s->t[0].data[1] = -INFINITY;
    s->t[0].data[2] = -0.0f;
    s->t[0].data[3] = 1e-42f; /* subnormal */
    s->t[0].data[4] = 3.4028235e38f;
    return s;
}

static void assert_same(const sk_tset *a, const sk_tset *b)
{
    ck_assert_int_eq(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        ck_assert_str_eq(a->t[i].name, b->t[i].name);
        ck_assert_int_eq(a->t[i].ndim, b->t[i].ndim);
        for (int d = 0; d < a->t[i].ndim; d++)
            ck_assert_int_eq(a->t[i].shape[d], b->t[i].shape[d]);
        if (a->t[i].numel) ck_assert(memcmp(a->t[i].data, b->t[i].data, (size_t)a->t[i].numel * 4) == 0);
    }
}

static int count_tmp_files(void)
{
    DIR *d = opendir(tu_tmpdir());
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

/* A PyTorch-like state_dict as h5py writes it: root datasets, float32 LE,
 * contiguous, int64 scalar num_batches_tracked, no attributes. */
static const char *mk_h5py_file(const char *name)
{
    const char *p = tu_path(name);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    float w0[4 * 3 * 3 * 3], g[4], b[4], rm[4], rv[4], cw[10 * 4];
    double cb[10];
    int64_t nbt = 938;
    hsize_t d_w0[4] = {4, 3, 3, 3}, d4[1] = {4}, d_cw[2] = {10, 4}, d10[1] = {10};
    ck_assert_int_ge(f, 0);
    for (int i = 0; i < 108; i++)
        w0[i] = (float)i / 7.0f;
    for (int i = 0; i < 4; i++) {
        g[i] = 1.0f + (float)i;
        b[i] = -(float)i;
        rm[i] = 0.5f * (float)i;
        rv[i] = 2.0f + (float)i;
    }
    for (int i = 0; i < 40; i++)
        cw[i] = (float)(i % 7) - 3.0f;
    for (int i = 0; i < 10; i++)
        cb[i] = 0.1 * i; /* float64: converted */
    tu_h5_dataset(f, "features.0.weight", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, d_w0, w0);
    tu_h5_dataset(f, "features.1.weight", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d4, g);
    tu_h5_dataset(f, "features.1.bias", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d4, b);
    tu_h5_dataset(f, "features.1.running_mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d4, rm);
    tu_h5_dataset(f, "features.1.running_var", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d4, rv);
    tu_h5_dataset(f, "features.1.num_batches_tracked", H5T_STD_I64LE, H5T_NATIVE_INT64, 0, NULL, &nbt);
    tu_h5_dataset(f, "classifier.weight", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d_cw, cw);
    tu_h5_dataset(f, "classifier.bias", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, d10, cb);
    H5Fclose(f);
    return p;
}

/* The model layout matching mk_h5py_file, in model (not name) order. */
static sk_tset *mk_cnn_model(void)
{
    sk_tset *m = sk_tset_new();
    int64_t s_w0[4] = {4, 3, 3, 3}, s4[1] = {4}, s_cw[2] = {10, 4}, s10[1] = {10};
    sk_tset_add(m, "features.0.weight", 4, s_w0);
    sk_tset_add(m, "features.1.weight", 1, s4);
    sk_tset_add(m, "features.1.bias", 1, s4);
    sk_tset_add(m, "features.1.running_mean", 1, s4);
    sk_tset_add(m, "features.1.running_var", 1, s4);
    sk_tset_add(m, "classifier.weight", 2, s_cw);
    sk_tset_add(m, "classifier.bias", 1, s10);
    ck_assert_int_eq(m->n, 7);
    m->t[3].is_buffer = m->t[4].is_buffer = 1;
    ck_assert_int_eq(sk_tset_alloc(m), SK_OK);
    return m;
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_roundtrip_exact)
{
    const char *p = tu_path("w.h5");
    const char *arch = "model:\n  kind: mlp\n  widths: [784, 512, 10]\n  note: \"ünïcode ✓\"\n";
    sk_tset *a = make_set(1), *b = NULL;
    char *arch2 = NULL;
    ids_baseline();
    stderr_begin();
    ck_assert_int_eq(sk_h5w_write(p, a, arch), SK_OK);
    ck_assert_int_eq(sk_h5w_read(p, &b, &arch2), SK_OK);
    stderr_end_empty();
    assert_same(a, b);
    ck_assert_str_eq(arch2, arch);
    ck_assert_int_eq(b->t[3].is_buffer, 1); /* bn.running_var */
    ck_assert_int_eq(b->t[0].is_buffer, 0);
    ck_assert(isnan(b->t[0].data[0]) && signbit(b->t[0].data[2]));
    ck_assert_int_eq(count_tmp_files(), 0);
    free(arch2);
    sk_tset_free(b);
    b = NULL;

    /* Overwrite without arch: arch comes back NULL; the order is the new one. */
    sk_tset *c = sk_tset_new();
    int64_t s2[1] = {2};
    sk_tset_add(c, "z", 1, s2);
    sk_tset_add(c, "a", 1, s2);
    ck_assert_int_eq(sk_tset_alloc(c), SK_OK);
    c->t[0].data[0] = 5;
    ck_assert_int_eq(sk_h5w_write(p, c, NULL), SK_OK);
    arch2 = (char *)"sentinel";
    ck_assert_int_eq(sk_h5w_read(p, &b, &arch2), SK_OK);
    ck_assert_ptr_null(arch2);
    assert_same(c, b);
    sk_tset_free(b);
    b = NULL;
    /* arch_yaml may be NULL on read. */
    ck_assert_int_eq(sk_h5w_read(p, &b, NULL), SK_OK);
    ck_assert_int_eq(b->n, 2);

    /* An empty set round-trips too. */
    sk_tset *e = sk_tset_new();
    sk_tset_free(b);
    b = NULL;
    ck_assert_int_eq(sk_h5w_write(tu_path("empty.h5"), e, ""), SK_OK);
    ck_assert_int_eq(sk_h5w_read(tu_path("empty.h5"), &b, &arch2), SK_OK);
    ck_assert_int_eq(b->n, 0);
    ck_assert_str_eq(arch2, "");
    free(arch2);
    ids_check();
    sk_tset_free(a);
    sk_tset_free(b);
    sk_tset_free(c);
    sk_tset_free(e);
}
END_TEST

START_TEST(test_file_layout_attributes)
{
    /* What h5py sees: root float32 datasets and the documented attributes. */
    const char *p = tu_path("w.h5");
    sk_tset *a = make_set(2);
    ids_baseline();
    ck_assert_int_eq(sk_h5w_write(p, a, "kind: mlp\n"), SK_OK);
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    hid_t at = H5Aopen(f, "param_order", H5P_DEFAULT), t = H5Aget_type(at);
    char *val = NULL;
    ck_assert(H5Tis_variable_str(t) > 0);
    ck_assert_int_eq(H5Tget_cset(t), H5T_CSET_UTF8);
    ck_assert_int_ge(H5Aread(at, t, &val), 0);
    ck_assert_str_eq(val, "layers.10.weight\nlayers.2.weight\nlayers.2.bias\nbn.running_var\n"
                          "scale\nempty");
    H5free_memory(val);
    H5Tclose(t);
    H5Aclose(at);
    long long ver = 0;
    at = H5Aopen(f, "format_version", H5P_DEFAULT);
    t = H5Aget_type(at);
    ck_assert_int_eq(H5Tget_class(t), H5T_INTEGER);
    H5Aread(at, H5T_NATIVE_LLONG, &ver);
    ck_assert_int_eq(ver, 1);
    H5Tclose(t);
    H5Aclose(at);
    hid_t ds = H5Dopen2(f, "layers.2.weight", H5P_DEFAULT);
    t = H5Dget_type(ds);
    ck_assert(H5Tequal(t, H5T_IEEE_F32LE) > 0);
    hid_t dcpl = H5Dget_create_plist(ds);
    ck_assert_int_eq(H5Pget_layout(dcpl), H5D_CONTIGUOUS);
    H5Pclose(dcpl);
    H5Tclose(t);
    H5Dclose(ds);
    H5Fclose(f);
    ids_check();
    sk_tset_free(a);
}
END_TEST

START_TEST(test_h5py_statedict_loads)
{
    ids_baseline();
    const char *p = mk_h5py_file("sd.h5");
    sk_tset *s = NULL, *m = mk_cnn_model();
    char *arch = (char *)"x";
    stderr_begin();
    ck_assert_int_eq(sk_h5w_read(p, &s, &arch), SK_OK);
    stderr_end_empty();
    ck_assert_ptr_null(arch);
    /* No param_order: HDF5 name order; num_batches_tracked skipped. */
    ck_assert_int_eq(s->n, 7);
    ck_assert_str_eq(s->t[0].name, "classifier.bias");
    ck_assert_str_eq(s->t[1].name, "classifier.weight");
    ck_assert_str_eq(s->t[2].name, "features.0.weight");
    ck_assert_int_eq(sk_tset_find(s, "features.1.num_batches_tracked"), -1);
    ck_assert_float_eq(sk_tset_get(s, "classifier.bias")->data[3], (float)0.3);
    ck_assert_int_eq(sk_tset_get(s, "features.1.running_var")->is_buffer, 1);

    ck_assert_int_eq(sk_h5w_load_into(p, m, NULL, 0), SK_OK);
    ck_assert_float_eq(sk_tset_get(m, "features.0.weight")->data[107], 107.0f / 7.0f);
    ck_assert_float_eq(sk_tset_get(m, "features.1.running_var")->data[3], 5.0f);
    ck_assert_float_eq(sk_tset_get(m, "classifier.weight")->data[39], 1.0f);
    ck_assert_float_eq(sk_tset_get(m, "classifier.bias")->data[9], (float)0.9);
    ck_assert_str_eq(m->t[0].name, "features.0.weight"); /* model order kept */
    ck_assert_int_eq(m->t[3].is_buffer, 1);
    ids_check();
    sk_tset_free(s);
    sk_tset_free(m);
}
END_TEST

START_TEST(test_load_into_mismatch_message)
{
    const char *p = tu_path("w.h5");
    sk_tset *file = sk_tset_new(), *model = sk_tset_new();
    int64_t s_784[2] = {256, 784}, s_b[1] = {256}, s_fc[2] = {10, 64};
    int64_t m0[2] = {512, 784}, m0b[1] = {512}, m1[2] = {10, 512}, m1b[1] = {10};
    ids_baseline();
    sk_tset_add(file, "layers.0.weight", 2, s_784);
    sk_tset_add(file, "layers.0.bias", 1, s_b);
    sk_tset_add(file, "fc.weight", 2, s_fc);
    ck_assert_int_eq(sk_tset_alloc(file), SK_OK);
    ck_assert_int_eq(sk_h5w_write(p, file, "kind: mlp\nwidths: [784, 256, 10]\n"), SK_OK);
    sk_tset_add(model, "layers.0.weight", 2, m0);
    sk_tset_add(model, "layers.0.bias", 1, m0b);
    sk_tset_add(model, "layers.1.weight", 2, m1);
    sk_tset_add(model, "layers.1.bias", 1, m1b);
    ck_assert_int_eq(sk_tset_alloc(model), SK_OK);
    model->block[0] = 42.0f;
    stderr_begin();
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into_ex(p, model, NULL, 0, "mlp 784-512-10"), SK_EFORMAT);
    stderr_end_empty();
    assert_msg_has(p);
    assert_msg_has("weights do not match the configured model (mlp 784-512-10):");
    assert_msg_has("\n  missing:  layers.1.weight (10, 512)");
    assert_msg_has("\n  missing:  layers.1.bias (10,)");
    assert_msg_has("\n  shape:    layers.0.weight expected (512, 784), file has (256, 784)");
    assert_msg_has("\n  shape:    layers.0.bias expected (512,), file has (256,)");
    assert_msg_has("\n  extra:    fc.weight (10, 64)");
    assert_msg_has("the model has 4 tensors, the file 3; 0 match");
    assert_msg_has("\n    widths: [784, 256, 10]"); /* the file's arch */
    assert_msg_has("HINT:");
    ck_assert_float_eq(model->block[0], 42.0f); /* untouched on failure */
    ids_check();
    sk_tset_free(file);
    sk_tset_free(model);

    /* Long lists are capped. */
    file = sk_tset_new();
    model = sk_tset_new();
    for (int i = 0; i < 20; i++) {
        char nm[32];
        int64_t one[1] = {1};
        snprintf(nm, sizeof nm, "extra.%02d", i);
        sk_tset_add(file, nm, 1, one);
    }
    ck_assert_int_eq(sk_tset_alloc(file), SK_OK);
    ck_assert_int_eq(sk_tset_alloc(model), SK_OK);
    ck_assert_int_eq(sk_h5w_write(p, file, NULL), SK_OK);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, model, NULL, 0), SK_EFORMAT);
    assert_msg_has("  extra:    extra.07 (1,)");
    assert_msg_has("  extra:    ... and 12 more");
    ck_assert_ptr_null(strstr(sk_err_msg(), "extra.08"));
    ck_assert_ptr_null(strstr(sk_err_msg(), "(null)"));
    ids_check();
    sk_tset_free(file);
    sk_tset_free(model);
}
END_TEST

START_TEST(test_load_into_rename)
{
    const char *p = tu_path("w.h5");
    sk_tset *file = sk_tset_new(), *model = sk_tset_new();
    int64_t s2[2] = {3, 2}, s1[1] = {3};
    ids_baseline();
    sk_tset_add(file, "module.fc1.weight", 2, s2);
    sk_tset_add(file, "module.fc1.bias", 1, s1);
    sk_tset_add(file, "head", 1, s1);
    ck_assert_int_eq(sk_tset_alloc(file), SK_OK);
    for (int64_t i = 0; i < file->numel; i++)
        file->block[i] = (float)i;
    ck_assert_int_eq(sk_h5w_write(p, file, NULL), SK_OK);
    sk_tset_add(model, "layers.0.weight", 2, s2);
    sk_tset_add(model, "layers.0.bias", 1, s1);
    sk_tset_add(model, "layers.1.bias", 1, s1);
    ck_assert_int_eq(sk_tset_alloc(model), SK_OK);
    /* Without a rename: every name is missing/extra. */
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, model, NULL, 0), SK_EFORMAT);
    assert_msg_has("  extra:    module.fc1.weight (3, 2)");
    /* Prefix rule, plus an exact one that wins over the "module.*" prefix. */
    const char *rn[] = {"module.*", "*", "module.fc1.*", "layers.0.*", "head", "layers.1.bias"};
    ck_assert_int_eq(sk_h5w_load_into(p, model, rn, 3), SK_OK);
    ck_assert_float_eq(sk_tset_get(model, "layers.0.weight")->data[5], 5.0f);
    ck_assert_float_eq(sk_tset_get(model, "layers.0.bias")->data[0], 6.0f);
    ck_assert_float_eq(sk_tset_get(model, "layers.1.bias")->data[2], 11.0f);
    /* An unused rename is reported when something else is wrong. */
    const char *rn2[] = {"module.fc1.*", "layers.0.*", "nothere", "layers.1.bias"};
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, model, rn2, 2), SK_EFORMAT);
    assert_msg_has("rename:   nothere -> layers.1.bias is unused");
    assert_msg_has("extra:    head (3,)");
    /* Two file names onto one model name. */
    const char *rn3[] = {"module.fc1.bias", "head"};
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, model, rn3, 1), SK_EFORMAT);
    assert_msg_has("both module.fc1.bias and head are named head");
    /* Malformed pair. */
    const char *rn4[] = {"module.*", "x"};
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, model, rn4, 1), SK_EINVAL);
    ids_check();
    sk_tset_free(file);
    sk_tset_free(model);
}
END_TEST

START_TEST(test_perms_roundtrip)
{
    const char *p = tu_path("perm_wm.h5");
    int64_t p0[5] = {4, 2, 0, 1, 3}, p1[3] = {0, 1, 2}, p2[1] = {0};
    const int64_t *perms[3] = {p0, p1, p2};
    const char *names[3] = {"P_layers.1", "P_layers.0", "P_z"};
    int64_t sizes[3] = {5, 3, 1};
    int n = 0;
    char **rn = NULL;
    int64_t **rp = NULL, *rs = NULL;
    ids_baseline();
    stderr_begin();
    ck_assert_int_eq(sk_h5w_write_perms(p, 3, names, perms, sizes), SK_OK);
    ck_assert_int_eq(sk_h5w_read_perms(p, &n, &rn, &rp, &rs), SK_OK);
    stderr_end_empty();
    ck_assert_int_eq(n, 3);
    for (int g = 0; g < 3; g++) {
        ck_assert_str_eq(rn[g], names[g]); /* written order, not name order */
        ck_assert_int_eq(rs[g], sizes[g]);
        ck_assert(memcmp(rp[g], perms[g], (size_t)sizes[g] * 8) == 0);
    }
    sk_h5w_perms_free(n, rn, rp, rs);
    sk_h5w_perms_free(0, NULL, NULL, NULL);

    /* Not a permutation: refused on write, nothing left behind. */
    int64_t bad[3] = {0, 2, 2};
    const int64_t *bp[1] = {bad};
    const char *bn[1] = {"P_bad"};
    int64_t bs[1] = {3};
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_write_perms(tu_path("bad.h5"), 1, bn, bp, bs), SK_EINVAL);
    assert_msg_has("P_bad is not a permutation of 0..2 (entry 2 = 2)");
    ck_assert(access(tu_path("bad.h5"), F_OK) != 0);
    ck_assert_int_eq(count_tmp_files(), 0);

    /* ... and on read (file made with the C API). */
    const char *q = tu_path("badread.h5");
    hid_t f = H5Fcreate(q, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d3[1] = {3};
    tu_h5_str_attr(f, "format", "sinkrb-perm");
    tu_h5_dataset(f, "P_bad", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d3, bad);
    H5Fclose(f);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_read_perms(q, &n, &rn, &rp, &rs), SK_EFORMAT);
    assert_msg_has("P_bad is not a permutation");
    ck_assert_ptr_null(rn);

    /* Each reader refuses the other kind of file. */
    sk_tset *s = NULL;
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_read(p, &s, NULL), SK_EFORMAT);
    assert_msg_has("this is a 'sinkrb-perm' file, expected 'sinkrb-weights'");
    sk_tset *w = make_set(3);
    ck_assert_int_eq(sk_h5w_write(tu_path("w.h5"), w, NULL), SK_OK);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_read_perms(tu_path("w.h5"), &n, &rn, &rp, &rs), SK_EFORMAT);
    assert_msg_has("this is a 'sinkrb-weights' file, expected 'sinkrb-perm'");
    ids_check();
    sk_tset_free(w);
}
END_TEST

static void expect_fail_everywhere(const char *p, sk_status code, const char *what)
{
    sk_tset *s = NULL, *m = mk_cnn_model();
    char *arch = NULL;
    int n = 0;
    char **rn = NULL;
    int64_t **rp = NULL, *rs = NULL;
    char *info = NULL;
    size_t info_n = 0;
    FILE *out = open_memstream(&info, &info_n);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_read(p, &s, &arch), code);
    ck_assert_ptr_null(s);
    ck_assert_ptr_null(arch);
    assert_msg_has(p);
    assert_msg_has(what);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, m, NULL, 0), code);
    assert_msg_has(what);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_read_perms(p, &n, &rn, &rp, &rs), code);
    assert_msg_has(what);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_info(p, out), code);
    assert_msg_has(what);
    fclose(out);
    free(info);
    sk_tset_free(m);
}

START_TEST(test_corrupt_files)
{
    const char *good = tu_path("good.h5"), *cut = tu_path("cut.h5");
    sk_tset *a = make_set(4);
    sk_rng r;
    unsigned char junk[4096];
    size_t n = 0;
    ids_baseline();
    ck_assert_int_eq(sk_h5w_write(good, a, "kind: mlp\n"), SK_OK);
    char *bytes = tu_read(good, &n);
    ck_assert_uint_gt(n, 1200);
    stderr_begin();

    expect_fail_everywhere(tu_path("does-not-exist.h5"), SK_EIO, "No such file or directory");
    expect_fail_everywhere(tu_tmpdir(), SK_EIO, "is a directory");
    tu_write(tu_path("empty.h5"), "", 0);
    expect_fail_everywhere(tu_path("empty.h5"), SK_EFORMAT, "not an HDF5 file");
    tu_write_str(tu_path("text.h5"), "layers.0.weight: [1, 2, 3]\nthis is not HDF5\n");
    expect_fail_everywhere(tu_path("text.h5"), SK_EFORMAT, "not an HDF5 file");
    sk_rng_seed(&r, 9);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)sk_rng_below(&r, 256);
    tu_write(tu_path("junk.h5"), junk, sizeof junk);
    expect_fail_everywhere(tu_path("junk.h5"), SK_EFORMAT, "not an HDF5 file");
    memcpy(junk, "PK\003\004", 4);
    tu_write(tu_path("model.pt"), junk, sizeof junk);
    expect_fail_everywhere(tu_path("model.pt"), SK_EFORMAT, "zip archive");
    /* The signature followed by garbage. */
    memcpy(junk, bytes, 8);
    tu_write(tu_path("sigjunk.h5"), junk, sizeof junk);
    expect_fail_everywhere(tu_path("sigjunk.h5"), SK_EFORMAT, "truncated or corrupt HDF5 file");

    /* Truncated copies of a valid file. */
    size_t cuts[] = {3, 8, 40, 96, 200, 511, 800, n / 2, n - 100, n - 8, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        tu_write(cut, bytes, cuts[i]);
        expect_fail_everywhere(cut, SK_EFORMAT, "truncated or corrupt HDF5 file");
        if (cuts[i] >= 200) assert_msg_has("truncated file: eof ="); /* HDF5's own detail */
    }
    stderr_end_empty();
    ids_check();
    free(bytes);
    sk_tset_free(a);
}
END_TEST

START_TEST(test_bad_datasets)
{
    const char *p = tu_path("bad.h5");
    hsize_t d5[5] = {1, 2, 1, 2, 1}, d2[2] = {2, 2}, d1[1] = {4};
    float v[4] = {1, 2, 3, 4};
    sk_tset *s = NULL;
    ids_baseline();
    stderr_begin();

    /* A string dataset. */
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t st = H5Tcopy(H5T_C_S1);
    const char *sv = "hello";
    H5Tset_size(st, H5T_VARIABLE);
    tu_h5_dataset(f, "a.weight", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d1, v);
    tu_h5_dataset(f, "notes", st, st, 0, NULL, &sv);
    H5Tclose(st);
    H5Fclose(f);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_read(p, &s, NULL), SK_EFORMAT);
    assert_msg_has(p);
    assert_msg_has("dataset notes: expected float data, found string");

    /* Rank 5. */
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_dataset(f, "conv.weight", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 5, d5, v);
    H5Fclose(f);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_read(p, &s, NULL), SK_EFORMAT);
    assert_msg_has("dataset conv.weight has rank 5; at most 4 dimensions");

    /* Right name, wrong rank for the model. */
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_dataset(f, "w", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d2, v);
    H5Fclose(f);
    sk_tset *m = sk_tset_new();
    int64_t s1[1] = {4};
    sk_tset_add(m, "w", 1, s1);
    ck_assert_int_eq(sk_tset_alloc(m), SK_OK);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, m, NULL, 0), SK_EFORMAT);
    assert_msg_has("shape:    w expected (4,), file has (2, 2)");

    /* Datasets only inside a group: said so. */
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_dataset(g, "w", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d1, v);
    H5Gclose(g);
    H5Fclose(f);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, m, NULL, 0), SK_EFORMAT);
    assert_msg_has("missing:  w (4,)");
    assert_msg_has("datasets in groups (model/...)");

    /* param_order naming a dataset that is not there; a newer version. */
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_dataset(f, "w", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d1, v);
    tu_h5_str_attr(f, "param_order", "w\nghost");
    H5Fclose(f);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_read(p, &s, NULL), SK_EFORMAT);
    assert_msg_has("param_order lists 'ghost'");
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_str_attr(f, "format", "sinkrb-weights");
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t at = H5Acreate2(f, "format_version", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int64_t two = 2;
    H5Awrite(at, H5T_NATIVE_INT64, &two);
    H5Aclose(at);
    H5Sclose(sp);
    H5Fclose(f);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_read(p, &s, NULL), SK_EFORMAT);
    assert_msg_has("format_version 2 is newer");

    /* Invalid names and unallocated sets are refused on write. */
    sk_tset *bad = sk_tset_new();
    sk_tset_add(bad, "a/b", 1, s1);
    ck_assert_int_eq(sk_tset_alloc(bad), SK_OK);
    tu_write_str(tu_path("keep.h5"), "old");
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_write(tu_path("keep.h5"), bad, NULL), SK_EINVAL);
    char *old = tu_read(tu_path("keep.h5"), NULL);
    ck_assert_str_eq(old, "old");
    free(old);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_write(tu_path("nodir/x/w.h5"), m, NULL), SK_EIO);
    assert_msg_has("nodir/x/w.h5: cannot create: No such file or directory");
    ck_assert_int_eq(count_tmp_files(), 0);
    stderr_end_empty();
    ids_check();
    sk_tset_free(m);
    sk_tset_free(bad);
}
END_TEST

START_TEST(test_info)
{
    const char *p = tu_path("w.h5");
    sk_tset *s = sk_tset_new();
    int64_t s22[2] = {2, 2}, s3[1] = {3};
    char *txt = NULL;
    size_t len = 0;
    FILE *out;
    ids_baseline();
    sk_tset_add(s, "layers.0.weight", 2, s22);
    sk_tset_add(s, "layers.0.bias", 1, s3);
    ck_assert_int_eq(sk_tset_alloc(s), SK_OK);
    float w[4] = {1, 2, 3, 4}, b[3] = {-1, 0, NAN};
    memcpy(s->t[0].data, w, sizeof w);
    memcpy(s->t[1].data, b, sizeof b);
    ck_assert_int_eq(sk_h5w_write(p, s, "kind: mlp\nwidths: [2, 2]\n"), SK_OK);
    out = open_memstream(&txt, &len);
    ck_assert_int_eq(sk_h5w_info(p, out), SK_OK);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(txt, "format:          sinkrb-weights"));
    ck_assert_ptr_nonnull(strstr(txt, "format_version:  1"));
    ck_assert_ptr_nonnull(strstr(txt, "arch:\n    kind: mlp\n    widths: [2, 2]\n"));
    ck_assert_ptr_nonnull(strstr(txt, "param_order:     2 names"));
    ck_assert_ptr_nonnull(strstr(txt, "datasets (2, 7 values):"));
    /* layers.0.weight: min 1, max 4, mean 2.5, l2 sqrt(30) */
    ck_assert_msg(strstr(txt, "layers.0.weight  (2, 2)  float32              1             4"
                              "           2.5       5.47723") != NULL,
                  "%s", txt);
    ck_assert_msg(strstr(txt, "(1 NaN)") != NULL, "%s", txt);
    free(txt);

    /* A perm file, and a foreign file with groups and odd types. */
    int64_t p0[3] = {0, 1, 2}, p1[2] = {1, 0};
    const int64_t *pp[2] = {p0, p1};
    const char *pn[2] = {"P_0", "P_1"};
    int64_t ps[2] = {3, 2};
    ck_assert_int_eq(sk_h5w_write_perms(tu_path("perm.h5"), 2, pn, pp, ps), SK_OK);
    out = open_memstream(&txt, &len);
    ck_assert_int_eq(sk_h5w_info(tu_path("perm.h5"), out), SK_OK);
    fclose(out);
    ck_assert_msg(strstr(txt, "permutation groups (2):\n    P_0                      size 3        "
                              "identity\n    P_1                      size 2        moves 2 of 2") != NULL,
                  "%s", txt);
    ck_assert_ptr_nonnull(strstr(txt, "int64"));
    free(txt);

    const char *q = tu_path("foreign.h5");
    hid_t f = H5Fcreate(q, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g2 = H5Gcreate2(g, "enc", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d2[1] = {2};
    double dv[2] = {-2.0, 6.0};
    int32_t iv[2] = {7, 9};
    tu_h5_dataset(g2, "w", H5T_IEEE_F64BE, H5T_NATIVE_DOUBLE, 1, d2, dv);
    tu_h5_dataset(f, "steps", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d2, iv);
    tu_h5_str_attr(f, "comment", "made by hand\nsecond line");
    H5Gclose(g2);
    H5Gclose(g);
    H5Fclose(f);
    out = open_memstream(&txt, &len);
    ck_assert_int_eq(sk_h5w_info(q, out), SK_OK);
    fclose(out);
    ck_assert_msg(strstr(txt, "format:          (none") != NULL, "%s", txt);
    ck_assert_msg(strstr(txt, "comment          made by hand ...") != NULL, "%s", txt);
    ck_assert_msg(strstr(txt, "model/enc/w  (2,)   float64 (big-endian)") != NULL, "%s", txt);
    ck_assert_msg(strstr(txt, "steps        (2,)   int32") != NULL, "%s", txt);
    ck_assert_msg(strstr(txt, "           -2             6             2") != NULL, "%s", txt);
    free(txt);
    ids_check();
    sk_tset_free(s);
}
END_TEST

static Suite *h5w_suite(void)
{
    Suite *s = suite_create("h5w");
    TCase *tc = tcase_create("h5w");
    tcase_add_test(tc, test_roundtrip_exact);
    tcase_add_test(tc, test_file_layout_attributes);
    tcase_add_test(tc, test_h5py_statedict_loads);
    tcase_add_test(tc, test_load_into_mismatch_message);
    tcase_add_test(tc, test_load_into_rename);
    tcase_add_test(tc, test_perms_roundtrip);
    tcase_add_test(tc, test_corrupt_files);
    tcase_add_test(tc, test_bad_datasets);
    tcase_add_test(tc, test_info);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    sk_h5u_set_limits(0, 0, 1); /* strict: readers leave no HDF5 object open, leak nothing */
    return tu_run(h5w_suite());
}
