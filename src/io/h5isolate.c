/* h5isolate.c - isolated reading (see h5util.h for why): the check of a
 * path before anything opens it, the pipe between the child that parses
 * and the parent (a record protocol), the child's memory limit, the
 * timeout, and sk_h5u_isolated, which forks and reports a dead child. */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include "io/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define H5U_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define H5U_ASAN 1
#endif
#endif
#ifdef H5U_ASAN
#include <sanitizer/lsan_interface.h>
#endif

static double h5u_timeout = 30; /* seconds without progress */
static int h5u_strict;

void sk_h5u_set_limits(double timeout_s, size_t block_values, int strict)
{
    if (timeout_s > 0) h5u_timeout = timeout_s;
    if (block_values > 0) sk_h5u_set_block(block_values);
    if (strict >= 0) h5u_strict = strict;
}

/* ---- checking a path before anything opens it --------------------------- */

static const unsigned char h5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

/* Plain messages for the common failures: missing, a directory, not a
 * regular file (a FIFO would block open(2) forever), empty, not HDF5 at
 * all (with a hint for PyTorch .pt). *size: the file's size. */
static sk_status h5_precheck(const char *path, int64_t *size)
{
    sk_status st = SK_OK;
    struct stat sb;
    unsigned char head[8];
    int fd;
    if (stat(path, &sb) != 0) return sk_err(SK_EIO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return sk_err(SK_EIO, "%s: is a directory, not an HDF5 file", path);
    if (!S_ISREG(sb.st_mode))
        return sk_err(SK_EIO, "%s: not a regular file (a %s); sinkrb reads HDF5 files", path,
                      S_ISFIFO(sb.st_mode)   ? "FIFO"
                      : S_ISCHR(sb.st_mode)  ? "character device"
                      : S_ISBLK(sb.st_mode)  ? "block device"
                      : S_ISSOCK(sb.st_mode) ? "socket"
                                             : "special file");
    /* O_NONBLOCK: should the path become a FIFO meanwhile, open returns. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return sk_err(SK_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = sk_err(SK_EIO, "%s: not a regular file", path);
        goto cleanup;
    }
    *size = (int64_t)sb.st_size;
    if (sb.st_size == 0) {
        st = sk_err(SK_EFORMAT, "%s: not an HDF5 file (the file is empty)", path);
        goto cleanup;
    }
    /* The signature sits at 0, 512, 1024, 2048, ... (after a user block). */
    for (off_t off = 0; off + 8 <= sb.st_size; off = off ? 2 * off : 512) {
        if (pread(fd, head, 8, off) != 8) break;
        if (memcmp(head, h5_sig, 8) == 0) goto cleanup; /* found: HDF5 */
    }
    memset(head, 0, sizeof head);
    if (pread(fd, head, sizeof head, 0) > 0) {
        if (head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
            st = sk_err(SK_EFORMAT,
                        "%s: not an HDF5 file (it is a zip archive, like PyTorch's "
                        "torch.save output)\nHINT: convert it: sd = torch.load(p); with "
                        "h5py.File(out, 'w') as f: [f.create_dataset(k, data=v.numpy()) for k, v "
                        "in sd.items()]",
                        path);
            goto cleanup;
        }
        if (head[0] == 0x80 && head[1] <= 5) {
            st = sk_err(SK_EFORMAT, "%s: not an HDF5 file (it looks like a Python pickle)", path);
            goto cleanup;
        }
    }
    if (sb.st_size < 8 && memcmp(head, h5_sig, (size_t)sb.st_size) == 0)
        st = sk_err(SK_EFORMAT, "%s: truncated or corrupt HDF5 file (only %lld bytes)", path, (long long)sb.st_size);
    else
        st = sk_err(SK_EFORMAT, "%s: not an HDF5 file (no HDF5 signature)", path);
cleanup:
    close(fd);
    return st;
}

/* ---- isolated reading: the channel -------------------------------------- */

/* The child sends records: a tag byte and a 64-bit length, then that many
 * bytes. 'D' data, 'B' a beat (no bytes), 'E' the error (a 32-bit status,
 * then the message), 'Z' the end of a successful result. */
enum { REC_DATA = 'D', REC_BEAT = 'B', REC_ERR = 'E', REC_END = 'Z' };
#define H5U_CHAN_BUF ((size_t)64 << 10)
#define H5U_MAX_MSG ((uint64_t)1 << 20)

/* What the parent learnt when a get failed. */
enum { CH_OK, CH_CHILD_ERR, CH_EOF, CH_TIMEOUT, CH_BAD, CH_IO };

struct sk_h5u_chan {
    int fd; /* the child's write end / the parent's read end */
    const char *path;
    int64_t size;
    unsigned char *buf; /* child: bytes not sent yet */
    size_t len;
    uint64_t left; /* parent: bytes left in the current data record */
    int state;     /* parent: CH_* */
};

const char *sk_h5u_chan_path(const sk_h5u_chan *ch)
{
    return ch->path;
}

int64_t sk_h5u_chan_size(const sk_h5u_chan *ch)
{
    return ch->size;
}

/* Child: write everything or end the process (the parent has gone). */
static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) _exit(2);
        c += k;
        n -= (size_t)k;
    }
}

static void send_record(sk_h5u_chan *ch, char tag, const void *p, uint64_t n)
{
    unsigned char head[9];
    head[0] = (unsigned char)tag;
    memcpy(head + 1, &n, 8);
    write_all(ch->fd, head, sizeof head);
    if (n) write_all(ch->fd, p, (size_t)n);
}

static void chan_flush(sk_h5u_chan *ch)
{
    if (ch->len) send_record(ch, REC_DATA, ch->buf, ch->len);
    ch->len = 0;
}

void sk_h5u_put(sk_h5u_chan *ch, const void *p, size_t n)
{
    if (ch->len + n <= H5U_CHAN_BUF) {
        memcpy(ch->buf + ch->len, p, n);
        ch->len += n;
        return;
    }
    chan_flush(ch);
    if (n >= H5U_CHAN_BUF) {
        send_record(ch, REC_DATA, p, n);
    } else {
        memcpy(ch->buf, p, n);
        ch->len = n;
    }
}

void sk_h5u_put_u64(sk_h5u_chan *ch, uint64_t v)
{
    sk_h5u_put(ch, &v, sizeof v);
}

void sk_h5u_put_str(sk_h5u_chan *ch, const char *s)
{
    sk_h5u_put_u64(ch, s ? (uint64_t)strlen(s) + 1 : 0); /* length + 1; 0: NULL */
    if (s) sk_h5u_put(ch, s, strlen(s));
}

void sk_h5u_beat(sk_h5u_chan *ch)
{
    if (ch->len)
        chan_flush(ch);
    else
        send_record(ch, REC_BEAT, NULL, 0);
}

/* Parent: n bytes from the pipe, waiting at most the timeout for each. */
static sk_status read_full(sk_h5u_chan *ch, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        struct pollfd pf = {ch->fd, POLLIN, 0};
        int r = poll(&pf, 1, (int)(h5u_timeout * 1000));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            ch->state = CH_IO;
            return sk_err(SK_EIO, "%s: reading the result: %s", ch->path, strerror(errno));
        }
        if (r == 0) {
            ch->state = CH_TIMEOUT;
            return SK_EFORMAT; /* the message is sk_h5u_isolated's */
        }
        ssize_t k = read(ch->fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            ch->state = CH_EOF;
            return SK_EFORMAT;
        }
        c += k;
        n -= (size_t)k;
    }
    return SK_OK;
}

/* Parent: the next record header, taking care of beats and errors. */
static sk_status next_record(sk_h5u_chan *ch, char *tag, uint64_t *len)
{
    sk_status st;
    unsigned char head[9];
    for (;;) {
        if ((st = read_full(ch, head, sizeof head)) != SK_OK) return st;
        *tag = (char)head[0];
        memcpy(len, head + 1, 8);
        if (*tag == REC_BEAT && *len == 0) continue;
        if (*tag == REC_DATA || (*tag == REC_END && *len == 0)) return SK_OK;
        if (*tag == REC_ERR && *len >= 4 && *len <= H5U_MAX_MSG) {
            int32_t code;
            char *msg = malloc((size_t)*len - 4 + 1);
            sk_strbuf esc = SK_STRBUF_INIT;
            if (!msg) return sk_err(SK_ENOMEM, "%s: out of memory", ch->path);
            if ((st = read_full(ch, &code, 4)) != SK_OK || (st = read_full(ch, msg, (size_t)*len - 4)) != SK_OK) {
                free(msg);
                return st;
            }
            msg[*len - 4] = '\0';
            sk_h5u_escape(&esc, msg, strlen(msg), 1);
            ch->state = CH_CHILD_ERR;
            if (code <= SK_OK || code > SK_ENUMERIC) code = SK_EFORMAT;
            st = sk_err((sk_status)code, "%s", esc.err == SK_OK ? sk_strbuf_str(&esc) : msg);
            sk_strbuf_free(&esc);
            free(msg);
            return st;
        }
        ch->state = CH_BAD;
        return sk_err(SK_EFORMAT, "%s: internal error: malformed result from the reading process", ch->path);
    }
}

sk_status sk_h5u_get(sk_h5u_chan *ch, void *p, size_t n)
{
    char *c = p;
    sk_status st;
    while (n > 0) {
        if (ch->left == 0) {
            char tag;
            uint64_t len;
            if ((st = next_record(ch, &tag, &len)) != SK_OK) return st;
            if (tag == REC_END) {
                ch->state = CH_BAD;
                return sk_err(SK_EFORMAT, "%s: internal error: short result from the reading process", ch->path);
            }
            ch->left = len;
            continue;
        }
        size_t k = ch->left < n ? (size_t)ch->left : n;
        if ((st = read_full(ch, c, k)) != SK_OK) return st;
        ch->left -= k;
        c += k;
        n -= k;
    }
    return SK_OK;
}

sk_status sk_h5u_bad_result(sk_h5u_chan *ch, const char *what)
{
    ch->state = CH_BAD;
    return sk_err(SK_EFORMAT, "%s: internal error: the reading process sent %s", ch->path, what);
}

sk_status sk_h5u_get_u64(sk_h5u_chan *ch, uint64_t *v, uint64_t max)
{
    sk_status st = sk_h5u_get(ch, v, sizeof *v);
    if (st == SK_OK && *v > max) return sk_h5u_bad_result(ch, "an implausible number");
    return st;
}

sk_status sk_h5u_get_str(sk_h5u_chan *ch, char **s, size_t max)
{
    uint64_t n;
    sk_status st;
    *s = NULL;
    if ((st = sk_h5u_get_u64(ch, &n, (uint64_t)max + 1)) != SK_OK || n == 0) return st;
    if (!(*s = malloc((size_t)n))) return sk_err(SK_ENOMEM, "%s: out of memory", ch->path);
    if ((st = sk_h5u_get(ch, *s, (size_t)n - 1)) != SK_OK) {
        free(*s);
        *s = NULL;
        return st;
    }
    (*s)[n - 1] = '\0';
    if (strlen(*s) != n - 1) {
        free(*s);
        *s = NULL;
        return sk_h5u_bad_result(ch, "a malformed string");
    }
    return SK_OK;
}

/* ---- isolated reading: the processes ------------------------------------ */

/* The child's memory: what it has (the parent's, shared copy-on-write)
 * plus 2 GiB plus twice the file, so that an allocation HDF5 sizes from a
 * corrupt field fails instead of taking the machine's memory. Not under
 * AddressSanitizer, whose shadow memory counts as data. */
static void child_limit_memory(int64_t file_size)
{
#ifndef H5U_ASAN
    char line[256];
    long long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmData: %lld kB", &kb) == 1) break;
    fclose(f);
    if (kb < 0) return;
    struct rlimit rl;
    if (getrlimit(RLIMIT_DATA, &rl) != 0) return;
    double want = (double)kb * 1024 + 2048.0 * 1024 * 1024 + 2.0 * (double)file_size;
    if (rl.rlim_max != RLIM_INFINITY && want > (double)rl.rlim_max) return;
    if (rl.rlim_cur != RLIM_INFINITY && want > (double)rl.rlim_cur) return;
    rl.rlim_cur = (rlim_t)want;
    (void)setrlimit(RLIMIT_DATA, &rl);
#else
    (void)file_size;
#endif
}

static void child_main(int fd, const char *path, int64_t size, sk_h5u_fn child, void *arg)
{
    sk_h5u_chan ch = {fd, path, size, NULL, 0, 0, CH_OK};
    ssize_t open0;
    sk_status st;
    /* A parent that stops listening ends us through EPIPE/SIGPIPE. */
    signal(SIGPIPE, SIG_DFL);
    child_limit_memory(size);
    sk_err_clear();
    sk_h5u_quiet();
    open0 = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (!(ch.buf = malloc(H5U_CHAN_BUF))) _exit(3);
    st = child(&ch, arg);
    if (st == SK_OK && h5u_strict && H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != open0)
        st = sk_err(SK_EINVAL, "%s: internal error: the reader left HDF5 objects open", path);
    if (st != SK_OK) {
        const char *msg = sk_err_msg();
        size_t n = strlen(msg);
        int32_t code = (int32_t)st;
        if (n > H5U_MAX_MSG - 4) n = (size_t)H5U_MAX_MSG - 4;
        chan_flush(&ch);
        unsigned char head[9];
        uint64_t len = 4 + n;
        head[0] = REC_ERR;
        memcpy(head + 1, &len, 8);
        write_all(fd, head, sizeof head);
        write_all(fd, &code, 4);
        write_all(fd, msg, n);
    } else {
        chan_flush(&ch);
        send_record(&ch, REC_END, NULL, 0);
    }
    free(ch.buf);
#ifdef H5U_ASAN
    if (h5u_strict && __lsan_do_recoverable_leak_check()) _exit(4);
#endif
    _exit(0); /* no atexit handlers, no stdio flush: they are the parent's */
}

static void reap(pid_t pid, int *ws)
{
    while (waitpid(pid, ws, 0) < 0 && errno == EINTR) {
    }
}

/* The last line the child wrote to stderr before it died ("free(): invalid
 * pointer"), escaped, into buf (n bytes; "" when none). */
static void child_last_words(int fd, char *buf, size_t n)
{
    char tail[2048];
    size_t len = 0;
    ssize_t k;
    buf[0] = '\0';
    if (fd < 0) return;
    (void)fcntl(fd, F_SETFL, O_NONBLOCK);
    while ((k = read(fd, tail + len, sizeof tail - 1 - len)) > 0) {
        len += (size_t)k;
        if (len == sizeof tail - 1) { /* keep the end */
            memmove(tail, tail + len / 2, len - len / 2);
            len -= len / 2;
        }
    }
    while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == '\r'))
        len--;
    tail[len] = '\0';
    char *line = strrchr(tail, '\n');
    line = line ? line + 1 : tail;
    if (!*line) return;
    sk_strbuf esc = SK_STRBUF_INIT;
    sk_h5u_escape(&esc, line, strlen(line), 0);
    snprintf(buf, n, "; it printed: %.200s", sk_strbuf_str(&esc));
    sk_strbuf_free(&esc);
}

sk_status sk_h5u_isolated(const char *path, sk_h5u_fn child, sk_h5u_fn parent, void *arg)
{
    sk_status st;
    int64_t size = 0;
    int fds[2], efd[2] = {-1, -1}, ws = 0;
    char words[256];
    pid_t pid;
    sk_h5u_quiet();
    if (!path) return sk_err(SK_EINVAL, "h5w: NULL path");
    if ((st = h5_precheck(path, &size)) != SK_OK) return st;
    if (pipe(fds) != 0) return sk_err(SK_EIO, "%s: cannot create a pipe: %s", path, strerror(errno));
    (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
#ifdef F_SETPIPE_SZ
    (void)fcntl(fds[0], F_SETPIPE_SZ, 1 << 20); /* fewer switches for tensor data; best effort */
#endif
#ifndef H5U_ASAN
    /* What a dying child prints (glibc's "free(): invalid pointer") goes
     * into the message, not onto the terminal. Under AddressSanitizer the
     * child's reports go to stderr as usual. */
    if (pipe(efd) == 0) {
        (void)fcntl(efd[0], F_SETFD, FD_CLOEXEC);
        (void)fcntl(efd[1], F_SETFD, FD_CLOEXEC);
    } else {
        efd[0] = efd[1] = -1;
    }
#endif
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        if (efd[0] >= 0) close(efd[0]);
        if (efd[1] >= 0) close(efd[1]);
        return sk_err(SK_EIO, "%s: cannot start a process to read it: %s", path, strerror(e));
    }
    if (pid == 0) {
        close(fds[0]);
        if (efd[1] >= 0) {
            dup2(efd[1], 2);
            close(efd[0]);
            close(efd[1]);
        }
        child_main(fds[1], path, size, child, arg);
    }
    close(fds[1]);
    if (efd[1] >= 0) close(efd[1]);
    sk_h5u_chan ch = {fds[0], path, size, NULL, 0, 0, CH_OK};
    st = parent(&ch, arg);
    if (st == SK_OK) { /* all taken: the end must follow */
        char tag;
        uint64_t len;
        if (ch.left != 0)
            st = sk_h5u_bad_result(&ch, "more than expected");
        else if ((st = next_record(&ch, &tag, &len)) == SK_OK && tag != REC_END)
            st = sk_h5u_bad_result(&ch, "more than expected");
    }
    if (st != SK_OK && ch.state != CH_CHILD_ERR) kill(pid, SIGKILL);
    close(fds[0]);
    reap(pid, &ws);
    child_last_words(efd[0], words, sizeof words);
    if (efd[0] >= 0) close(efd[0]);
    if (ch.state == CH_EOF) {
        if (WIFSIGNALED(ws))
            st = sk_err(SK_EFORMAT, "%s: corrupt HDF5 file (the HDF5 library crashed reading it: %s%s)", path,
                        strsignal(WTERMSIG(ws)), words);
        else
            st = sk_err(SK_EFORMAT, "%s: corrupt HDF5 file (the HDF5 library crashed reading it: exit status %d%s)",
                        path, WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, words);
    } else if (ch.state == CH_TIMEOUT) {
        st = sk_err(SK_EFORMAT,
                    "%s: reading it made no progress for %g seconds; stopped (a corrupt HDF5 file, or a "
                    "stalled file system?)",
                    path, h5u_timeout);
    } else if (st == SK_OK && !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0)) {
        st = sk_err(SK_EINVAL, "%s: internal error: the reading process ended with status 0x%x%s", path, ws, words);
    }
    return st;
}
