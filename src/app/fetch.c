/* fetch.c - a missing data set in its default folder is fetched before the
 * run starts, by the project's datasets/fetch script (official files and
 * checksums online; offline it fails within seconds and says so). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/state.h"
#include "io/atomic.h"

/* A file every complete copy of the data set has (raw or .gz). */
static const char *probe_file(sk_ds_kind k)
{
    switch (k) {
    case SK_DS_MNIST:
    case SK_DS_FASHION_MNIST:
        return "train-images-idx3-ubyte";
    case SK_DS_CIFAR10:
        return "data_batch_1.bin";
    case SK_DS_CIFAR100:
        return "train.bin";
    case SK_DS_POLYNOMIAL:
    case SK_DS_COUNT:
        break;
    }
    return NULL;
}

static int is_exec(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* The fetch script: $SINKRB_FETCH, else datasets/fetch beside the binary (a
 * build tree) or in the source tree, else the installed copy. */
static int find_script(char *buf, size_t n)
{
    const char *env = getenv("SINKRB_FETCH");
    if (env && *env) {
        snprintf(buf, n, "%s", env);
        return 1;
    }
    char exe[PATH_MAX - 64];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, n, "%s/datasets/fetch", exe);
            if (is_exec(buf)) return 1;
        }
    }
    snprintf(buf, n, "%s/datasets/fetch", SK_TOP_SRCDIR);
    if (is_exec(buf)) return 1;
    snprintf(buf, n, "%s/fetch", SK_PKGDATADIR);
    return is_exec(buf);
}

sk_status sk_app_fetch_missing(const sk_config *c)
{
    const char *name = sk_ds_kind_name(c->dataset.name), *probe = probe_file(c->dataset.name);
    char path[SK_CFG_PATH + 64], script[PATH_MAX + 64], dest[SK_CFG_PATH];
    if (!probe || strcmp(c->dataset.path, sk_cfg_default_data_dir(c->dataset.name)) != 0) return SK_OK;
    snprintf(path, sizeof path, "%s/%s", c->dataset.path, probe);
    if (sk_file_exists(path)) return SK_OK;
    snprintf(path, sizeof path, "%s/%s.gz", c->dataset.path, probe);
    if (sk_file_exists(path)) return SK_OK;
    if (!find_script(script, sizeof script))
        return sk_err(SK_EIO,
                      "%s: data set %s is missing and the fetch script was not found\nHINT: run "
                      "datasets/fetch %s from the source tree (with --from DIR for a local copy)",
                      c->dataset.path, name, name);
    /* dataset.path is "datasets/<name>": the script fills DEST/<name>. */
    snprintf(dest, sizeof dest, "%s", c->dataset.path);
    char *slash = strrchr(dest, '/');
    if (slash) *slash = '\0';
    fprintf(stderr, "sinkrb: data set %s is missing from %s; fetching it (%s %s --dest %s)\n", name, c->dataset.path,
            script, name, dest);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return sk_err(SK_EIO, "cannot start %s: %s", script, strerror(errno));
    if (pid == 0) {
        dup2(2, 1); /* the script's report goes to stderr with sinkrb's */
        execl(script, script, name, "--dest", dest, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return sk_err(SK_EIO,
                      "%s: data set %s is missing and fetching it failed (offline?)\nHINT: datasets/fetch %s "
                      "--from DIR copies it from a local mirror",
                      c->dataset.path, name, name);
    return SK_OK;
}
