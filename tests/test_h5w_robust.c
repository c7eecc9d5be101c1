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
#include "io/h5w.h"

/* ---- helpers ------------------------------------------------------------ */

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

static Suite *robust_suite(void)
{
    Suite *s = suite_create("h5w_robust");
    TCase *tc = tcase_create("untrusted");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_disk_full);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(robust_suite());
}
