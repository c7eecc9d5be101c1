/* Weights, permutation and info readers on untrusted files (issue 12): a
 * file with any byte changed, absurd declared sizes, non-finite or
 * unrepresentable values, odd links and attributes, a FIFO; and the writers
 * on a full disk. Every case must end in a clear error (or a report), fast,
 * without a crash, a hang or a large allocation. */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/tensor.h"
#include "io/h5util.h"
#include "io/h5w.h"
#include "tu_h5.h"

/* ---- helpers ------------------------------------------------------------ */

static void assert_msg_has(const char *needle)
{
    ck_assert_msg(strstr(sk_err_msg(), needle) != NULL, "expected '%s' in message:\n%s", needle, sk_err_msg());
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The smoke MLP's layout (1-16-16-1), with layers.1.weight (16, 17) so its
 * dims are unique in the file; values i/100. */
static sk_tset *mk_mlp(void)
{
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[2];
    } spec[] = {{"layers.0.weight", 2, {16, 1}}, {"layers.0.bias", 1, {16}},      {"layers.1.weight", 2, {16, 17}},
                {"layers.1.bias", 1, {16}},      {"layers.2.weight", 2, {1, 16}}, {"layers.2.bias", 1, {1}}};
    sk_tset *s = sk_tset_new();
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < sizeof spec / sizeof *spec; i++)
        ck_assert_int_ge(sk_tset_add(s, spec[i].name, spec[i].ndim, spec[i].shape), 0);
    ck_assert_int_eq(sk_tset_alloc(s), SK_OK);
    for (int64_t i = 0; i < s->numel; i++)
        s->block[i] = (float)i / 100.0f;
    return s;
}

/* A weights file like the ones a run writes (arch, fingerprint, recipe). */
static const char *mk_weights(const char *name)
{
    const char *p = tu_path(name);
    const char *attrs[] = {"fingerprint", "0123456789abcdef", "recipe", "seed: 1\ntrain: {epochs: 30}\n"};
    sk_tset *s = mk_mlp();
    ck_assert_int_eq(sk_h5w_write_ex(p, s, "arch: mlp\nhidden: [16, 17]\nactivation: tanh\n", attrs, 2), SK_OK);
    sk_tset_free(s);
    return p;
}

static void patch_byte(const char *path, size_t off, unsigned char v)
{
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, &v, 1, (off_t)off), 1);
    close(fd);
}

static size_t find_bytes(const char *hay, size_t n, const void *needle, size_t k, size_t from)
{
    for (size_t i = from; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return i;
    return (size_t)-1;
}

/* Calls every reader on p: none may crash; with code != SK_OK each must
 * fail with that code and, when `what` is given, say it. */
static void all_readers(const char *p, sk_status code, const char *what)
{
    sk_tset *s = NULL, *m = mk_mlp();
    char *arch = NULL, *val = NULL, *txt = NULL;
    size_t len = 0;
    int n = 0;
    char **rn = NULL;
    int64_t **rp = NULL, *rs = NULL;
    FILE *out = open_memstream(&txt, &len);
    sk_status st[5];
    char msg[5][2048];
    sk_err_clear();
    st[0] = sk_h5w_read(p, &s, &arch);
    snprintf(msg[0], sizeof msg[0], "%s", sk_err_msg());
    sk_err_clear();
    st[1] = sk_h5w_load_into(p, m, NULL, 0);
    snprintf(msg[1], sizeof msg[1], "%s", sk_err_msg());
    sk_err_clear();
    st[2] = sk_h5w_read_attr(p, "arch", &val);
    snprintf(msg[2], sizeof msg[2], "%s", sk_err_msg());
    sk_err_clear();
    st[3] = sk_h5w_read_perms(p, &n, &rn, &rp, &rs);
    snprintf(msg[3], sizeof msg[3], "%s", sk_err_msg());
    sk_err_clear();
    st[4] = sk_h5w_info(p, out);
    snprintf(msg[4], sizeof msg[4], "%s", sk_err_msg());
    fclose(out);
    for (int i = 0; i < 5 && code != SK_OK; i++) {
        ck_assert_msg(st[i] == code, "reader %d returned %d, not %d: %s", i, st[i], code, msg[i]);
        ck_assert_msg(strstr(msg[i], p) != NULL, "reader %d: message without the path: %s", i, msg[i]);
        if (what) ck_assert_msg(strstr(msg[i], what) != NULL, "reader %d: expected '%s' in: %s", i, what, msg[i]);
    }
    sk_tset_free(s);
    sk_tset_free(m);
    free(arch);
    free(val);
    free(txt);
    sk_h5w_perms_free(n, rn, rp, rs);
}

/* Peak memory and time of fn(arg), run in a forked process: RSS growth of
 * that process, or of any process it ran and waited for (a reader's helper),
 * over its RSS at the start, in KiB. */
typedef struct {
    int status;
    long kb;
    double secs;
    char msg[1024];
} probe_res;

static probe_res probe(sk_status (*fn)(void *), void *arg)
{
    probe_res r = {0};
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rusage self0, self1, kids;
        close(fd[0]);
        getrusage(RUSAGE_SELF, &self0);
        double t0 = now_s();
        sk_err_clear();
        r.status = (int)fn(arg);
        r.secs = now_s() - t0;
        snprintf(r.msg, sizeof r.msg, "%s", sk_err_msg());
        getrusage(RUSAGE_SELF, &self1);
        getrusage(RUSAGE_CHILDREN, &kids);
        r.kb = self1.ru_maxrss - self0.ru_maxrss;
        if (kids.ru_maxrss - self0.ru_maxrss > r.kb) r.kb = kids.ru_maxrss - self0.ru_maxrss;
        if (write(fd[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(3);
        _exit(0);
    }
    close(fd[1]);
    ssize_t k = read(fd[0], &r, sizeof r);
    int ws = 0;
    close(fd[0]);
    waitpid(pid, &ws, 0);
    ck_assert_msg(k == (ssize_t)sizeof r && WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
                  "probe process died (status 0x%x): a reader crashed", ws);
    return r;
}

static const char *g_path;
static sk_tset *g_model;

static sk_status do_read(void *arg)
{
    sk_tset *s = NULL;
    char *arch = NULL;
    (void)arg;
    sk_status st = sk_h5w_read(g_path, &s, &arch);
    sk_tset_free(s);
    free(arch);
    return st;
}

static sk_status do_load(void *arg)
{
    (void)arg;
    return sk_h5w_load_into(g_path, g_model, NULL, 0);
}

static sk_status do_info(void *arg)
{
    char *txt = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&txt, &len);
    (void)arg;
    sk_status st = sk_h5w_info(g_path, out);
    fclose(out);
    free(txt);
    return st;
}

static sk_status do_attr(void *arg)
{
    char *v = NULL;
    sk_status st = sk_h5w_read_attr(g_path, (const char *)arg, &v);
    free(v);
    return st;
}

/* fn on path fails with `code`, saying `what`, within a second (five under
 * AddressSanitizer, which runs several times slower), allocating less than
 * limit_kb. The bug these guard against took 12 to 105 s. */
#ifdef __SANITIZE_ADDRESS__
#define FAST_SECONDS 5.0
#else
#define FAST_SECONDS 1.0
#endif
static void expect_fast(sk_status (*fn)(void *), void *arg, const char *path, sk_status code, const char *what,
                        long limit_kb)
{
    g_path = path;
    probe_res r = probe(fn, arg);
    ck_assert_msg(r.status == (int)code, "status %d, expected %d: %s", r.status, code, r.msg);
    ck_assert_msg(strstr(r.msg, what) != NULL, "expected '%s' in message:\n%s", what, r.msg);
    ck_assert_msg(r.secs < FAST_SECONDS, "took %.2f s: %s", r.secs, r.msg);
    ck_assert_msg(r.kb < limit_kb, "allocated %ld KiB: %s", r.kb, r.msg);
}

/* ---- 1: a changed byte must never crash a reader ------------------------ */

START_TEST(test_changed_byte_no_crash)
{
    const char *good = mk_weights("good.h5"), *p = tu_path("flip.h5");
    size_t n = 0;
    char *bytes = tu_read(good, &n);
    unsigned char addr[8];
    size_t gcol = find_bytes(bytes, n, "GCOL", 4, 0);
    ck_assert_uint_lt(gcol, n);
    /* Each string attribute's heap ID is (length, collection address,
     * index); an index beyond the collection's objects crashed H5HG_read. */
    for (int i = 0; i < 8; i++)
        addr[i] = (unsigned char)(gcol >> (8 * i));
    int hits = 0;
    for (size_t at = find_bytes(bytes, n, addr, 8, 0); at < n; at = find_bytes(bytes, n, addr, 8, at + 1)) {
        if (at < 4 || at + 12 > n) continue;
        tu_write(p, bytes, n);
        patch_byte(p, at + 11, 0x7f);
        all_readers(p, SK_OK, NULL);
        hits++;
    }
    ck_assert_int_ge(hits, 4);
    /* Every byte of the global heap collection (the strings' lengths,
     * reference counts, the collection size) set to 0x7f and to 0x00. */
    for (size_t off = gcol + 4; off < gcol + 200 && off < n; off++) {
        for (int v = 0; v < 2; v++) {
            char *txt = NULL;
            size_t len = 0;
            tu_write(p, bytes, n);
            patch_byte(p, off, v ? 0x7f : 0x00);
            FILE *out = open_memstream(&txt, &len);
            sk_err_clear();
            if (sk_h5w_info(p, out) != SK_OK) sk_err_clear();
            fclose(out);
            free(txt);
        }
    }
    /* The shape the issue reported: a clear error, exit-status 1 class. */
    tu_write(p, bytes, n);
    size_t at = find_bytes(bytes, n, addr, 8, 0);
    patch_byte(p, at + 11, 0x7f);
    char *v = NULL;
    sk_err_clear();
    sk_status st = sk_h5w_read_attr(p, "fingerprint", &v);
    if (st != SK_OK) {
        ck_assert_int_eq(st, SK_EFORMAT);
        assert_msg_has(p);
        assert_msg_has("corrupt HDF5 file");
    }
    free(v);
    free(bytes);
}
END_TEST

/* ---- 2: declared sizes the file cannot hold ----------------------------- */

START_TEST(test_declared_size_bounded)
{
    const char *good = mk_weights("good.h5"), *p = tu_path("big.h5");
    size_t n = 0;
    char *bytes = tu_read(good, &n);
    unsigned char dims[16] = {16, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0};
    size_t at = find_bytes(bytes, n, dims, 16, 0);
    ck_assert_uint_lt(at, n); /* the dims; the max dims follow */
    /* One byte: layers.1.weight (16, 17) becomes (16, 33554449), 2 GiB. */
    tu_write(p, bytes, n);
    patch_byte(p, at + 11, 0x02);
    g_model = mk_mlp();
    expect_fast(do_load, NULL, p, SK_EFORMAT, "layers.1.weight", 64 << 10);
    expect_fast(do_load, NULL, p, SK_EFORMAT, "33554449", 64 << 10);
    expect_fast(do_read, NULL, p, SK_EFORMAT, "layers.1.weight", 64 << 10);
    expect_fast(do_info, NULL, p, SK_EFORMAT, "layers.1.weight", 64 << 10);
    sk_tset_free(g_model);
    free(bytes);

    /* A tiny file declaring an extra, never written 2 GiB dataset. */
    hsize_t d2g[2] = {32768, 16384}, d64g[2] = {32768, 524288};
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    sk_tset *m = mk_mlp();
    for (int i = 0; i < m->n; i++) {
        hsize_t d[2] = {(hsize_t)m->t[i].shape[0], m->t[i].ndim > 1 ? (hsize_t)m->t[i].shape[1] : 0};
        tu_h5_dataset(f, m->t[i].name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, m->t[i].ndim, d, m->t[i].data);
    }
    tu_h5_dataset(f, "extra.weight", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d2g, NULL);
    H5Fclose(f);
    g_model = m;
    expect_fast(do_load, NULL, p, SK_EFORMAT, "extra.weight", 64 << 10);
    expect_fast(do_read, NULL, p, SK_EFORMAT, "extra.weight", 64 << 10);
    expect_fast(do_info, NULL, p, SK_EFORMAT, "extra.weight", 64 << 10);

    /* info on 64 GiB declared and never written. */
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_dataset(f, "huge", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d64g, NULL);
    H5Fclose(f);
    expect_fast(do_info, NULL, p, SK_EFORMAT, "huge", 64 << 10);
    expect_fast(do_read, NULL, p, SK_EFORMAT, "huge", 64 << 10);

    /* Compressed: 16 GiB declared, one 64 KiB chunk of zeros written. */
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dz[2] = {65536, 65536}, ch[2] = {128, 128}, one[2] = {128, 128}, start[2] = {0, 0};
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), sp = H5Screate_simple(2, dz, NULL);
    H5Pset_chunk(dcpl, 2, ch);
    H5Pset_deflate(dcpl, 9);
    hid_t ds = H5Dcreate2(f, "bomb", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    float *zeros = calloc(128 * 128, sizeof *zeros);
    hid_t ms = H5Screate_simple(2, one, NULL);
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, one, NULL);
    ck_assert_int_ge(H5Dwrite(ds, H5T_NATIVE_FLOAT, ms, sp, H5P_DEFAULT, zeros), 0);
    free(zeros);
    H5Sclose(ms);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Pclose(dcpl);
    H5Fclose(f);
    expect_fast(do_read, NULL, p, SK_EFORMAT, "bomb", 64 << 10);
    expect_fast(do_info, NULL, p, SK_EFORMAT, "bomb", 64 << 10);
    sk_tset_free(m);
}
END_TEST

/* ---- 3: a full disk while writing --------------------------------------- */

/* A model of about 400 KB. */
static sk_tset *mk_big_model(void)
{
    sk_tset *s = sk_tset_new();
    int64_t shape[2] = {320, 320};
    ck_assert_int_ge(sk_tset_add(s, "layers.0.weight", 2, shape), 0);
    ck_assert_int_eq(sk_tset_alloc(s), SK_OK);
    for (int64_t i = 0; i < s->numel; i++)
        s->block[i] = (float)i;
    return s;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

/* In a forked process (its exit runs HDF5's atexit handler, where the crash
 * was): write into dir, where only `room` bytes fit (RLIMIT_FSIZE when tmpfs
 * is 0, else a tmpfs filled up to that room); expect a clean SK_EIO naming
 * the file and nothing left in dir, then exit normally. Returns 0 when all
 * of that happened, else says what did not on stderr. */
static int write_when_full(const char *dir, long room, int tmpfs)
{
    const char *how = tmpfs ? "tmpfs" : "RLIMIT_FSIZE";
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        char path[2048], filler[2048], msg[1400];
        sk_tset *s = mk_big_model();
        snprintf(path, sizeof path, "%s/w.h5", dir);
        snprintf(filler, sizeof filler, "%s/filler", dir);
        if (tmpfs) {
            FILE *fp = fopen(filler, "wb");
            for (long k = 0; fp && k < 2 * 1024 * 1024 - room; k++)
                if (fputc(0, fp) == EOF) break;
            if (fp) fclose(fp); /* full, or at the size asked for */
        } else {
            struct rlimit rl = {(rlim_t)room, (rlim_t)room};
            signal(SIGXFSZ, SIG_IGN);
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(10);
        }
        sk_err_clear();
        sk_status st = sk_h5w_write(path, s, "arch: mlp\n");
        snprintf(msg, sizeof msg, "%s", sk_err_msg());
        if (st != SK_EIO || !strstr(msg, path)) {
            fprintf(stderr, "room %ld: status %d: %s\n", room, st, msg);
            _exit(11);
        }
        if (access(path, F_OK) == 0) _exit(12);
        unlink(filler);
        if (count_entries(dir) != 0) _exit(13); /* a temporary left behind */
        if (!tmpfs) {                           /* the permutation writer too */
            static int64_t perm[60000];
            for (int i = 0; i < 60000; i++)
                perm[i] = 59999 - i;
            const int64_t *pp[1] = {perm};
            const char *names[1] = {"P_0"};
            int64_t sizes[1] = {60000};
            snprintf(path, sizeof path, "%s/perm.h5", dir);
            st = sk_h5w_write_perms(path, 1, names, pp, sizes);
            if (st != SK_EIO || access(path, F_OK) == 0 || count_entries(dir) != 0) _exit(14);
        }
        sk_tset_free(s);
        setenv("TU_KEEP", "1", 1); /* the test's folder is the parent's to remove */
        exit(0);                   /* atexit: HDF5 shuts down here */
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) return 0;
    fprintf(stderr, "disk full (%s, room %ld): %s %d\n", how, room, WIFSIGNALED(ws) ? "killed by signal" : "exit",
            WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
    return 1;
}

START_TEST(test_disk_full)
{
    const char *dir = tu_path("full");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    /* Levels from "nothing fits" to "all but the last bytes fit". */
    static const long rooms[] = {0, 100, 800, 2048, 4096, 20000, 100000, 300000, 409000};
    int bad = 0;
    for (size_t i = 0; i < sizeof rooms / sizeof *rooms; i++)
        bad += write_when_full(dir, rooms[i], 0) != 0;
    ck_assert_msg(bad == 0, "%d of 9 fill levels went wrong (see stderr)", bad);

    /* A real ENOSPC: a 2 MiB tmpfs in a mount namespace of our own (root
     * only; skipped otherwise). */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", dir, "tmpfs", 0, "size=2m") != 0)
            _exit(77);
        int nbad = 0;
        for (size_t i = 0; i < sizeof rooms / sizeof *rooms; i++)
            nbad += write_when_full(dir, rooms[i], 1) != 0;
        _exit(nbad ? 1 : 0);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    ck_assert(WIFEXITED(ws));
    if (WEXITSTATUS(ws) == 77)
        printf("note: test_disk_full: no private tmpfs (not root?): ENOSPC checked through RLIMIT_FSIZE only\n");
    else
        ck_assert_int_eq(WEXITSTATUS(ws), 0);
}
END_TEST

/* ---- 4: values ---------------------------------------------------------- */

START_TEST(test_nonfinite_and_conversions)
{
    const char *p = tu_path("nan.h5");
    sk_tset *s = mk_mlp(), *m = mk_mlp(), *r = NULL;
    s->t[2].data[17] = NAN;
    ck_assert_int_eq(sk_h5w_write(p, s, NULL), SK_OK);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, m, NULL, 0), SK_EFORMAT);
    assert_msg_has(p);
    assert_msg_has("tensor layers.1.weight has a NaN at index 17");
    ck_assert_float_eq(m->t[0].data[1], 0.01f); /* untouched */
    s->t[2].data[17] = 0;
    s->t[3].data[5] = -INFINITY;
    ck_assert_int_eq(sk_h5w_write(p, s, NULL), SK_OK);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, m, NULL, 0), SK_EFORMAT);
    assert_msg_has("tensor layers.1.bias has an infinity (-inf) at index 5");
    /* sk_h5w_read returns what is stored (documented). */
    ck_assert_int_eq(sk_h5w_read(p, &r, NULL), SK_OK);
    ck_assert(isinf(r->t[3].data[5]));
    sk_tset_free(r);
    r = NULL;

    /* float64 beyond float32's range: an error, not inf. */
    hsize_t d1[1] = {4}, d0[1] = {16};
    double dv[4] = {1.0, -2.5, 1e300, 0.0};
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_dataset(f, "w", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, d1, dv);
    H5Fclose(f);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_read(p, &r, NULL), SK_EFORMAT);
    assert_msg_has("w: value 1e+300 at index 2 is beyond the float32 range");
    sk_tset *m1 = sk_tset_new();
    int64_t s4[1] = {4};
    sk_tset_add(m1, "w", 1, s4);
    ck_assert_int_eq(sk_tset_alloc(m1), SK_OK);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, m1, NULL, 0), SK_EFORMAT);
    assert_msg_has("beyond the float32 range");
    /* ... while in-range float64 is rounded to float32. */
    dv[2] = 0.1;
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_dataset(f, "w", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, d1, dv);
    H5Fclose(f);
    ck_assert_int_eq(sk_h5w_load_into(p, m1, NULL, 0), SK_OK);
    ck_assert_float_eq(m1->t[0].data[2], 0.1f);

    /* Integers: exact when |v| <= 2^24, else refused. */
    int64_t iv[4] = {3, -16777216, 16777216, 7};
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_dataset(f, "w", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, iv);
    H5Fclose(f);
    ck_assert_int_eq(sk_h5w_load_into(p, m1, NULL, 0), SK_OK);
    ck_assert_float_eq(m1->t[0].data[1], -16777216.0f);
    iv[3] = 16777217;
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_dataset(f, "w", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, iv);
    H5Fclose(f);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, m1, NULL, 0), SK_EFORMAT);
    assert_msg_has("w: integer 16777217 at index 3 is not exactly representable as float32");

    /* float16 (numpy's layout): converted exactly. */
    hid_t f16 = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(f16, 15, 10, 5, 0, 10);
    H5Tset_size(f16, 2);
    H5Tset_ebias(f16, 15);
    uint16_t hv[16] = {0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff, 0x8000};
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(1, d0, NULL);
    hid_t ds = H5Dcreate2(f, "h", f16, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(H5Dwrite(ds, f16, H5S_ALL, H5S_ALL, H5P_DEFAULT, hv), 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
    ck_assert_int_eq(sk_h5w_read(p, &r, NULL), SK_OK);
    ck_assert_float_eq(r->t[0].data[0], 1.0f);
    ck_assert_float_eq(r->t[0].data[1], -2.0f);
    ck_assert_float_eq(r->t[0].data[2], 0.333251953125f);
    ck_assert_float_eq(r->t[0].data[3], ldexpf(1.0f, -24)); /* the smallest subnormal */
    ck_assert_float_eq(r->t[0].data[4], 65504.0f);
    ck_assert(r->t[0].data[5] == 0.0f && signbit(r->t[0].data[5]));
    /* A float16 infinity is stored non-finite: refused by load_into. */
    hv[9] = 0x7c00;
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    sp = H5Screate_simple(1, d0, NULL);
    ds = H5Dcreate2(f, "h", f16, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(H5Dwrite(ds, f16, H5S_ALL, H5S_ALL, H5P_DEFAULT, hv), 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
    sk_tset *m16 = sk_tset_new();
    int64_t s16[1] = {16};
    sk_tset_add(m16, "h", 1, s16);
    ck_assert_int_eq(sk_tset_alloc(m16), SK_OK);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, m16, NULL, 0), SK_EFORMAT);
    assert_msg_has("tensor h has an infinity (+inf) at index 9");
    H5Tclose(f16);
    sk_tset_free(m16);
    sk_tset_free(m1);
    sk_tset_free(r);
    sk_tset_free(s);
    sk_tset_free(m);
}
END_TEST

/* ---- 5: messages -------------------------------------------------------- */

static int has_raw_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f) return 1;
    return 0;
}

START_TEST(test_messages_escaped)
{
    const char *p = tu_path("ctl.h5");
    float v[4] = {1, 2, 3, 4};
    hsize_t d1[1] = {4};
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_str_attr(f, "format", "evil\x1b]0;owned\x07\x1b[2J\xff");
    tu_h5_str_attr(f, "comment", "bell\x07 and \x1b[31mred");
    tu_h5_dataset(f, "w", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d1, v);
    H5Fclose(f);
    sk_tset *s = NULL;
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_read(p, &s, NULL), SK_EFORMAT);
    ck_assert_msg(!has_raw_control(sk_err_msg()), "raw control bytes in: %s", sk_err_msg());
    assert_msg_has("evil\\x1b]0;owned\\x07\\x1b[2J\\xff");
    char *txt = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&txt, &len);
    if (sk_h5w_info(p, out) != SK_OK) sk_err_clear();
    fclose(out);
    ck_assert_msg(!has_raw_control(txt), "raw control bytes in info: %s", txt);
    ck_assert_msg(strstr(txt, "bell\\x07 and \\x1b[31mred") != NULL, "%s", txt);
    free(txt);
    /* Valid UTF-8 text is kept as it is. */
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_str_attr(f, "comment", "ünïcode ✓");
    tu_h5_dataset(f, "w", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d1, v);
    H5Fclose(f);
    out = open_memstream(&txt, &len);
    ck_assert_int_eq(sk_h5w_info(p, out), SK_OK);
    fclose(out);
    ck_assert_msg(strstr(txt, "ünïcode ✓") != NULL, "%s", txt);
    free(txt);
}
END_TEST

START_TEST(test_links_named)
{
    const char *p = tu_path("links.h5");
    float v[16] = {0};
    hsize_t d16[1] = {16}, d161[2] = {16, 1};
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_dataset(f, "stored.weight", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d161, v);
    tu_h5_dataset(f, "layers.0.bias", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d16, v);
    ck_assert_int_ge(H5Lcreate_soft("/stored.weight", f, "layers.0.weight", H5P_DEFAULT, H5P_DEFAULT), 0);
    ck_assert_int_ge(H5Lcreate_external("other.h5", "/b", f, "layers.1.bias", H5P_DEFAULT, H5P_DEFAULT), 0);
    tu_h5_str_attr(f, "param_order", "layers.0.weight\nlayers.0.bias");
    H5Fclose(f);
    sk_tset *s = NULL;
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_read(p, &s, NULL), SK_EFORMAT);
    assert_msg_has("layers.0.weight is a soft link (to /stored.weight); sinkrb reads datasets stored in the file");
    ck_assert_ptr_null(strstr(sk_err_msg(), "no such dataset"));

    /* Without param_order: the model's missing tensors say what they are. */
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Adelete(f, "param_order");
    H5Fclose(f);
    sk_tset *m = sk_tset_new();
    int64_t s161[2] = {16, 1}, s16[1] = {16};
    sk_tset_add(m, "layers.0.weight", 2, s161);
    sk_tset_add(m, "layers.0.bias", 1, s16);
    sk_tset_add(m, "layers.1.bias", 1, s16);
    ck_assert_int_eq(sk_tset_alloc(m), SK_OK);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_load_into(p, m, NULL, 0), SK_EFORMAT);
    assert_msg_has("layers.0.weight (16, 1): is a soft link (to /stored.weight); sinkrb reads datasets stored in "
                   "the file");
    assert_msg_has("layers.1.bias (16,): is an external link (to other.h5:/b)");
    char *txt = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&txt, &len);
    if (sk_h5w_info(p, out) != SK_OK) sk_err_clear();
    fclose(out);
    ck_assert_msg(strstr(txt, "layers.0.weight -> /stored.weight (soft link, not followed)") != NULL, "%s", txt);
    ck_assert_msg(strstr(txt, "layers.1.bias -> other.h5:/b (external link, not followed)") != NULL, "%s", txt);
    free(txt);
    sk_tset_free(m);
}
END_TEST

START_TEST(test_info_deep_groups)
{
    const char *p = tu_path("deep.h5");
    float v[2] = {1, 2};
    hsize_t d2[1] = {2};
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), g = f;
    tu_h5_dataset(f, "top", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d2, v);
    for (int i = 0; i < 40; i++) {
        hid_t h = H5Gcreate2(g, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (i == 3) tu_h5_dataset(h, "mid", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d2, v);
        if (g != f) H5Gclose(g);
        g = h;
    }
    tu_h5_dataset(g, "bottom", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d2, v);
    H5Gclose(g);
    H5Fclose(f);
    char *txt = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&txt, &len);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_info(p, out), SK_OK);
    fclose(out);
    ck_assert_msg(strstr(txt, "\n    top ") != NULL, "%s", txt);
    ck_assert_msg(strstr(txt, "g/g/g/g/mid") != NULL, "%s", txt);
    ck_assert_msg(strstr(txt, "groups nested deeper than 32") != NULL, "%s", txt);
    free(txt);

    /* A group whose object header is damaged: the rest is still listed. */
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_dataset(f, "a", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d2, v);
    g = H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_dataset(g, "inner", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d2, v);
    H5O_info_t oi;
    ck_assert_int_ge(H5Oget_info2(g, &oi, H5O_INFO_BASIC), 0);
    H5Gclose(g);
    H5Fclose(f);
    patch_byte(p, (size_t)oi.addr, 0x7f); /* the header's version byte */
    out = open_memstream(&txt, &len);
    sk_err_clear();
    ck_assert_int_eq(sk_h5w_info(p, out), SK_EFORMAT);
    fclose(out);
    ck_assert_msg(strstr(txt, "\n    a ") != NULL, "%s", txt);
    ck_assert_msg(strstr(txt, "not listed: what lies past an unreadable link or group") != NULL, "%s", txt);
    assert_msg_has("g: truncated or corrupt HDF5 file");
    free(txt);
}
END_TEST

START_TEST(test_attr_cap_before_read)
{
    const char *p = tu_path("bigattr.h5");
    size_t n = (80u << 20);
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_str_attr(f, "arch", big);
    tu_h5_str_attr(f, "format", "sinkrb-weights");
    H5Fclose(f);
    free(big);
    expect_fast(do_attr, (void *)"arch", p, SK_EFORMAT, "more than sinkrb reads", 32 << 10);
    expect_fast(do_read, NULL, p, SK_EFORMAT, "more than sinkrb reads", 32 << 10);
    g_path = p;
    probe_res r = probe(do_info, NULL);
    ck_assert_msg(r.kb < (32 << 10), "info allocated %ld KiB", r.kb);
    unlink(p);
}
END_TEST

/* ---- not a regular file ------------------------------------------------- */

START_TEST(test_not_regular_file)
{
    const char *p = tu_path("fifo.h5");
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    all_readers(p, SK_EIO, "not a regular file");
    all_readers("/dev/null", SK_EIO, "not a regular file");
}
END_TEST

/* ---- the machinery ------------------------------------------------------ */

static int g_how;

static sk_status iso_child(sk_h5u_chan *ch, void *arg)
{
    (void)arg;
    switch (g_how) {
    case 0: /* a normal result */
        sk_h5u_put_u64(ch, 42);
        sk_h5u_put_str(ch, "fine");
        return SK_OK;
    case 1:
        raise(SIGSEGV);
        break;
    case 2:
        abort();
    case 3: /* a hang, after some progress */
        sk_h5u_beat(ch);
        sleep(20);
        break;
    case 4:
        fprintf(stderr, "first line\nfree(): invalid \x1b[1mpointer\n");
        fflush(stderr);
        _exit(5);
    case 5:
        return sk_err(SK_EFORMAT, "%s: bad \x1b]0;title\x07 bytes\nsecond line", sk_h5u_chan_path(ch));
    case 6: /* more than the parent takes */
        sk_h5u_put_u64(ch, 42);
        sk_h5u_put_u64(ch, 43);
        return SK_OK;
    case 7: /* a number out of the parent's bounds */
        sk_h5u_put_u64(ch, 1u << 30);
        sk_h5u_put_str(ch, "x");
        return SK_OK;
    }
    return SK_OK;
}

static sk_status iso_parent(sk_h5u_chan *ch, void *arg)
{
    uint64_t v;
    char *s = NULL;
    sk_status st;
    (void)arg;
    if ((st = sk_h5u_get_u64(ch, &v, 1000)) != SK_OK) return st;
    if (g_how == 6) return SK_OK;
    if ((st = sk_h5u_get_str(ch, &s, 100)) != SK_OK) return st;
    ck_assert_int_eq(v, 42);
    ck_assert_str_eq(s, "fine");
    free(s);
    return SK_OK;
}

static void iso_expect(int how, sk_status code, const char *what)
{
    const char *p = tu_path("iso.h5");
    double t0 = now_s();
    g_how = how;
    sk_err_clear();
    ck_assert_int_eq(sk_h5u_isolated(p, iso_child, iso_parent, NULL), code);
    ck_assert_msg(now_s() - t0 < 5.0, "case %d took %.1f s", how, now_s() - t0);
    if (what) {
        ck_assert_msg(strstr(sk_err_msg(), what) != NULL, "case %d: expected '%s' in: %s", how, what, sk_err_msg());
        ck_assert_msg(strstr(sk_err_msg(), p) != NULL, "case %d: no path in: %s", how, sk_err_msg());
        ck_assert_msg(!has_raw_control(sk_err_msg()), "case %d: raw control bytes in: %s", how, sk_err_msg());
    }
}

START_TEST(test_isolation)
{
    sk_tset *s = mk_mlp();
    ck_assert_int_eq(sk_h5w_write(tu_path("iso.h5"), s, NULL), SK_OK);
    sk_tset_free(s);
    iso_expect(0, SK_OK, NULL);
#ifdef __SANITIZE_ADDRESS__ /* AddressSanitizer reports the SEGV, then exits 1 or aborts (abort_on_error) */
    iso_expect(1, SK_EFORMAT, "corrupt HDF5 file (the HDF5 library crashed reading it: ");
#else
    iso_expect(1, SK_EFORMAT, "corrupt HDF5 file (the HDF5 library crashed reading it: Segmentation fault");
#endif
    iso_expect(2, SK_EFORMAT, "the HDF5 library crashed reading it: Aborted");
    sk_h5u_set_limits(0.5, 0, -1);
    iso_expect(3, SK_EFORMAT, "made no progress for 0.5 seconds");
    sk_h5u_set_limits(30, 0, -1);
    iso_expect(4, SK_EFORMAT, "exit status 5");
#ifndef __SANITIZE_ADDRESS__
    iso_expect(4, SK_EFORMAT, "it printed: free(): invalid \\x1b[1mpointer)");
#endif
    iso_expect(5, SK_EFORMAT, "bad \\x1b]0;title\\x07 bytes\nsecond line");
    iso_expect(6, SK_EFORMAT, "internal error: the reading process sent more than expected");
    iso_expect(7, SK_EFORMAT, "internal error: the reading process sent an implausible number");
    iso_expect(0, SK_OK, NULL); /* and all is well afterwards */
}
END_TEST

/* Blocks of every size over a rank-3 dataset come in row-major order. */
typedef struct {
    int64_t next;
    size_t max_n;
    int bad;
} blk_seen;

static sk_status blk_cb(void *vals, size_t n, int64_t first, void *ud)
{
    blk_seen *b = ud;
    const double *v = vals;
    if (first != b->next) b->bad = 1;
    for (size_t i = 0; i < n; i++)
        if (v[i] != (double)(first + (int64_t)i)) b->bad = 1;
    b->next = first + (int64_t)n;
    if (n > b->max_n) b->max_n = n;
    return SK_OK;
}

static sk_status scalar_cb(void *vals, size_t n, int64_t first, void *ud)
{
    blk_seen *b = ud;
    b->bad |= n != 1 || first != 0 || *(const double *)vals != 7.0;
    b->next += (int64_t)n;
    return SK_OK;
}

START_TEST(test_block_reads)
{
    const char *p = tu_path("blocks.h5");
    hsize_t d3[3] = {3, 5, 7};
    double v[105];
    for (int i = 0; i < 105; i++)
        v[i] = i;
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    tu_h5_dataset(f, "x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, d3, v);
    tu_h5_dataset(f, "s", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, NULL, v + 7);
    H5Fclose(f);
    f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "x", H5P_DEFAULT);
    static const size_t blocks[] = {1, 2, 4, 6, 7, 8, 34, 35, 36, 70, 104, 105, 1000};
    for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++) {
        blk_seen b = {0, 0, 0};
        sk_h5u_set_limits(0, blocks[i], -1);
        ck_assert_int_eq(sk_h5u_read_blocks(ds, p, "x", H5T_NATIVE_DOUBLE, blk_cb, &b, NULL), SK_OK);
        ck_assert_msg(!b.bad && b.next == 105, "block %zu: bad order or values", blocks[i]);
        ck_assert_msg(b.max_n <= (blocks[i] < 7 ? 7 : blocks[i]), "block %zu: %zu values at once", blocks[i], b.max_n);
    }
    H5Dclose(ds);
    ds = H5Dopen2(f, "s", H5P_DEFAULT);
    blk_seen b = {0, 0, 0};
    ck_assert_int_eq(sk_h5u_read_blocks(ds, p, "s", H5T_NATIVE_DOUBLE, scalar_cb, &b, NULL), SK_OK);
    ck_assert(!b.bad && b.next == 1);
    H5Dclose(ds);
    H5Fclose(f);
    /* info's statistics in small blocks are the same. */
    char *txt = NULL;
    size_t len = 0;
    sk_h5u_set_limits(0, 4, -1);
    FILE *out = open_memstream(&txt, &len);
    ck_assert_int_eq(sk_h5w_info(p, out), SK_OK);
    fclose(out);
    ck_assert_msg(strstr(txt, "x     (3, 5, 7)  float64              0           104            52        616.75") !=
                      NULL,
                  "%s", txt);
    free(txt);
    sk_h5u_set_limits(0, (size_t)1 << 20, -1);
}
END_TEST

START_TEST(test_escape)
{
    static const struct {
        const char *in, *out, *out_nl;
    } cases[] = {
        {"plain text", "plain text", "plain text"},
        {"a\nb\tc\r", "a\\x0ab\\x09c\\x0d", "a\nb\tc\\x0d"},
        {"\x1b[2J\x07\x7f", "\\x1b[2J\\x07\\x7f", "\\x1b[2J\\x07\\x7f"},
        {"ünïcode ✓ 😀", "ünïcode ✓ 😀", "ünïcode ✓ 😀"},
        {"\xff\xfe bad", "\\xff\\xfe bad", "\\xff\\xfe bad"},
        {"\xc3", "\\xc3", "\\xc3"},                             /* cut short */
        {"\xc0\xaf", "\\xc0\\xaf", "\\xc0\\xaf"},               /* overlong '/' */
        {"\xed\xa0\x80", "\\xed\\xa0\\x80", "\\xed\\xa0\\x80"}, /* a surrogate */
        {"\xc2\x9b[31m", "\\xc2\\x9b[31m", "\\xc2\\x9b[31m"},   /* C1 CSI */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int nl = 0; nl < 2; nl++) {
            sk_strbuf b = SK_STRBUF_INIT;
            sk_h5u_escape(&b, cases[i].in, strlen(cases[i].in), nl);
            ck_assert_str_eq(sk_strbuf_str(&b), nl ? cases[i].out_nl : cases[i].out);
            sk_strbuf_free(&b);
        }
    }
    ck_assert(sk_h5u_is_text("ünïcode\n\ttext\r\n", 15));
    ck_assert(!sk_h5u_is_text("bell\x07", 5));
    ck_assert(!sk_h5u_is_text("\xff", 1));
}
END_TEST

static Suite *robust_suite(void)
{
    Suite *s = suite_create("h5w_robust");
    TCase *tc = tcase_create("untrusted");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_changed_byte_no_crash);
    tcase_add_test(tc, test_declared_size_bounded);
    tcase_add_test(tc, test_disk_full);
    tcase_add_test(tc, test_nonfinite_and_conversions);
    tcase_add_test(tc, test_messages_escaped);
    tcase_add_test(tc, test_links_named);
    tcase_add_test(tc, test_info_deep_groups);
    tcase_add_test(tc, test_attr_cap_before_read);
    tcase_add_test(tc, test_not_regular_file);
    tcase_add_test(tc, test_isolation);
    tcase_add_test(tc, test_block_reads);
    tcase_add_test(tc, test_escape);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    sk_h5u_set_limits(0, 0, 1); /* strict: readers leave no HDF5 object open, leak nothing */
    return tu_run(robust_suite());
}
