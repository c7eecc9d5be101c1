/* h5util.c - HDF5 plumbing shared by the weights, permutation and info code
 * (see h5util.h for why reading happens in a child process and writing in
 * memory). Every function closes every HDF5 id it opens on every path (one
 * cleanup label each). */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include "io/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"
#include "io/atomic.h"
#include "io/h5w.h"

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

static double h5u_timeout = 30;            /* seconds without progress */
static size_t h5u_block = (size_t)1 << 20; /* values per block read */
static int h5u_strict;

void sk_h5u_set_limits(double timeout_s, size_t block_values, int strict)
{
    if (timeout_s > 0) h5u_timeout = timeout_s;
    if (block_values > 0) h5u_block = block_values;
    if (strict >= 0) h5u_strict = strict;
}

/* ---- HDF5 error handling ------------------------------------------------ */

void sk_h5u_quiet(void)
{
    (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static herr_t h5_walk_cb(unsigned n, const H5E_error2_t *e, void *ud)
{
    char *buf = ud;
    if (n != 0) return 0;
    if (e->desc && e->desc[0]) {
        snprintf(buf, 256, "%s", e->desc);
    } else {
        H5E_type_t t;
        if (H5Eget_msg(e->min_num, &t, buf, 256) < 0) buf[0] = '\0';
    }
    return 0;
}

/* The innermost (most specific) message on the current HDF5 error stack. */
static const char *h5_inner(char buf[256])
{
    buf[0] = '\0';
    (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_walk_cb, buf);
    if (!buf[0]) snprintf(buf, 256, "no detail");
    return buf;
}

sk_status sk_h5u_fail(sk_status code, const char *path, const char *fmt, ...)
{
    char what[1024], inner[256];
    va_list ap;
    h5_inner(inner);
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sk_err(code, "%s: %s (HDF5: %s)", path, what, inner);
}

sk_status sk_h5u_corrupt(const char *path, const char *obj)
{
    return sk_h5u_fail(SK_EFORMAT, path, "%s%struncated or corrupt HDF5 file", obj ? obj : "", obj ? ": " : "");
}

/* ---- text --------------------------------------------------------------- */

/* Bytes in the printable UTF-8 character at s (n bytes left): 1 for ASCII
 * other than controls and DEL, 2-4 for a valid sequence that is not a C1
 * control, overlong, a surrogate or beyond U+10FFFF; 0 when not printable. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0], cp;
    size_t k;
    if (c < 0x80) return c >= 0x20 && c != 0x7f;
    if (c >= 0xc2 && c <= 0xdf) {
        k = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    if (cp <= 0x9f) return 0; /* C1 controls */
    return k;
}

void sk_h5u_escape(sk_strbuf *out, const char *s, size_t n, int keep_nl)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_len(u + i, n - i), j = i;
        while (k > 0 && j < n) { /* a run of printable characters at once */
            j += k;
            k = j < n ? utf8_len(u + j, n - j) : 0;
        }
        if (j > i) {
            sk_strbuf_append_n(out, s + i, j - i);
            i = j;
            continue;
        }
        if (keep_nl && (u[i] == '\n' || u[i] == '\t'))
            sk_strbuf_append_n(out, s + i, 1);
        else
            sk_strbuf_appendf(out, "\\x%02x", u[i]);
        i++;
    }
}

int sk_h5u_is_text(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(u + i, n - i);
        if (k == 0 && u[i] != '\n' && u[i] != '\r' && u[i] != '\t') return 0;
        i += k ? k : 1;
    }
    return 1;
}

/* ---- small helpers ------------------------------------------------------ */

void sk_h5u_shape_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (ndim == 1 && k < n) k += (size_t)snprintf(buf + k, n - k, ",");
    if (k < n) snprintf(buf + k, n - k, ")");
}

void sk_h5u_bytes_str(double bytes, char *buf, size_t n)
{
    static const char *unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = -1;
    if (bytes < 10240) {
        snprintf(buf, n, "%.0f bytes", bytes);
        return;
    }
    while (bytes >= 1024 && u < 5) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, n, "%.1f %s", bytes, unit[u]);
}

sk_status sk_h5u_check_name(const char *path, const char *name)
{
    if (!name || !name[0] || strchr(name, '/') || strchr(name, '\n') || strcmp(name, ".") == 0)
        return sk_err(SK_EINVAL,
                      "%s: invalid dataset name '%s' (must be non-empty, without '/' "
                      "or newlines)",
                      path, name ? name : "(null)");
    return SK_OK;
}

/* File access properties: file locking on, but not an error on file systems
 * without locks (NFS, Lustre). */
static hid_t h5_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    if (fapl >= 0) (void)H5Pset_file_locking(fapl, 1, 1);
#endif
    return fapl;
}

const char *sk_h5u_class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER:
        return "integer";
    case H5T_FLOAT:
        return "float";
    case H5T_TIME:
        return "time";
    case H5T_STRING:
        return "string";
    case H5T_BITFIELD:
        return "bitfield";
    case H5T_OPAQUE:
        return "opaque";
    case H5T_COMPOUND:
        return "compound";
    case H5T_REFERENCE:
        return "reference";
    case H5T_ENUM:
        return "enum (numpy bool?)";
    case H5T_VLEN:
        return "variable-length sequence";
    case H5T_ARRAY:
        return "array";
    default:
        return "unknown";
    }
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

/* ---- opening and writing ------------------------------------------------ */

sk_status sk_h5u_open_read(const char *path, hid_t *fid)
{
    sk_status st;
    hid_t fapl;
    *fid = H5I_INVALID_HID;
    sk_h5u_quiet();
    fapl = h5_fapl();
    if (fapl < 0) return sk_h5u_fail(SK_ENOMEM, path, "cannot create file access properties");
    *fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    st = *fid < 0 ? sk_h5u_corrupt(path, NULL) : SK_OK; /* before H5Pclose clears the stack */
    H5Pclose(fapl);
    return st;
}

/* The temporary file is created (empty) here, so a bad folder or permission
 * gives errno's message before any work; the HDF5 file lives in memory. */
sk_status sk_h5u_create_tmp(const char *path, size_t size_hint, char *tmp, size_t n, hid_t *fid)
{
    sk_status st;
    hid_t fapl;
    int fd;
    size_t inc = (size_t)1 << 20;
    *fid = H5I_INVALID_HID;
    tmp[0] = '\0';
    sk_h5u_quiet();
    if ((st = sk_atomic_tmpname(path, tmp, n)) != SK_OK) return st;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        tmp[0] = '\0';
        return sk_err(SK_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    close(fd);
    /* One allocation for the whole file when the hint is right. */
    if (size_hint > inc) inc = size_hint + ((size_t)64 << 10);
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fapl_core(fapl, inc, 0) >= 0) *fid = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    st = *fid < 0 ? sk_h5u_fail(SK_ENOMEM, path, "cannot create an HDF5 file in memory") : SK_OK;
    if (fapl >= 0) H5Pclose(fapl);
    if (st != SK_OK) {
        unlink(tmp);
        tmp[0] = '\0';
    }
    return st;
}

sk_status sk_h5u_commit(const char *path, const char *tmp, hid_t *fid)
{
    sk_status st = SK_OK;
    unsigned char *img = NULL;
    ssize_t n;
    int fd = -1;
    if (H5Fflush(*fid, H5F_SCOPE_LOCAL) < 0 || (n = H5Fget_file_image(*fid, NULL, 0)) <= 0) {
        st = sk_h5u_fail(SK_EIO, path, "cannot finish the HDF5 file");
        goto cleanup;
    }
    if (!(img = malloc((size_t)n))) {
        st = sk_err(SK_ENOMEM, "%s: out of memory (%lld bytes)", path, (long long)n);
        goto cleanup;
    }
    if (H5Fget_file_image(*fid, img, (size_t)n) != n) {
        st = sk_h5u_fail(SK_EIO, path, "cannot finish the HDF5 file");
        goto cleanup;
    }
    CLOSE_ID(H5Fclose, *fid); /* in memory: no I/O to fail */
    fd = open(tmp, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) {
        st = sk_err(SK_EIO, "%s: cannot write %s: %s", path, tmp, strerror(errno));
        goto cleanup;
    }
    for (ssize_t done = 0; done < n;) {
        ssize_t k = write(fd, img + done, (size_t)(n - done));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            st = sk_err(SK_EIO, "%s: write failed: %s", path, k < 0 ? strerror(errno) : "no progress");
            goto cleanup;
        }
        done += k;
    }
    if (fsync(fd) != 0 && errno != EINVAL) {
        st = sk_err(SK_EIO, "%s: cannot sync %s: %s", path, tmp, strerror(errno));
        goto cleanup;
    }
    if (close(fd) != 0) {
        fd = -1;
        st = sk_err(SK_EIO, "%s: write failed: %s", path, strerror(errno));
        goto cleanup;
    }
    fd = -1;
    st = sk_atomic_rename(tmp, path); /* removes tmp on failure */
    free(img);
    return st;
cleanup:
    CLOSE_ID(H5Fclose, *fid);
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(img);
    return st;
}

/* ---- attributes --------------------------------------------------------- */

sk_status sk_h5u_attr_write_str(hid_t loc, const char *path, const char *name, const char *val)
{
    sk_status st = SK_OK;
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    type = H5Tcopy(H5T_C_S1);
    if (type < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0) goto fail;
    if ((space = H5Screate(H5S_SCALAR)) < 0) goto fail;
    if ((attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT)) < 0) goto fail;
    if (H5Awrite(attr, type, &val) < 0) goto fail;
    goto cleanup;
fail:
    st = sk_h5u_fail(SK_EIO, path, "cannot write attribute %s", name);
cleanup:
    CLOSE_ID(H5Aclose, attr);
    CLOSE_ID(H5Sclose, space);
    CLOSE_ID(H5Tclose, type);
    return st;
}

sk_status sk_h5u_attr_write_int(hid_t loc, const char *path, const char *name, int64_t val)
{
    sk_status st = SK_OK;
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    if ((space = H5Screate(H5S_SCALAR)) < 0) goto fail;
    if ((attr = H5Acreate2(loc, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT)) < 0) goto fail;
    if (H5Awrite(attr, H5T_NATIVE_INT64, &val) < 0) goto fail;
    goto cleanup;
fail:
    st = sk_h5u_fail(SK_EIO, path, "cannot write attribute %s", name);
cleanup:
    CLOSE_ID(H5Aclose, attr);
    CLOSE_ID(H5Sclose, space);
    return st;
}

/* The lengths of variable-length strings before reading them. On disk each
 * string of an attribute is its length (4 bytes, little-endian) and a
 * global heap ID; HDF5 has no call that returns the lengths without reading
 * the heap, but a conversion to an opaque type of the same size with a
 * conversion function that changes nothing hands over the disk form as it
 * is. The function is registered in the reading child only. */
#define H5U_PROBE_TAG "sinkrb: raw variable-length string"

static herr_t probe_conv(hid_t src, hid_t dst, H5T_cdata_t *cdata, size_t nelmts, size_t buf_stride, size_t bkg_stride,
                         void *buf, void *bkg, hid_t dxpl)
{
    (void)nelmts, (void)buf_stride, (void)bkg_stride, (void)buf, (void)bkg, (void)dxpl;
    if (cdata->command == H5T_CONV_INIT) {
        char *tag;
        int ok;
        if (H5Tis_variable_str(src) <= 0 || H5Tget_class(dst) != H5T_OPAQUE || H5Tget_size(src) != H5Tget_size(dst))
            return -1;
        tag = H5Tget_tag(dst);
        ok = tag && strcmp(tag, H5U_PROBE_TAG) == 0;
        if (tag) H5free_memory(tag);
        if (!ok) return -1;
        cdata->need_bkg = H5T_BKG_NO;
    }
    return 0; /* H5T_CONV_CONV: the bytes stay as they are; H5T_CONV_FREE */
}

/* *total = the summed lengths of the n variable-length strings of attr;
 * *known = 0 when the library would not hand the disk form over (then
 * nothing is known and the caller reads as before). */
static sk_status vlen_total(hid_t attr, const char *path, const char *name, size_t n, uint64_t *total, int *known)
{
    static int registered;
    sk_status st = SK_OK;
    hsize_t stor = H5Aget_storage_size(attr);
    size_t esz;
    unsigned char *raw = NULL;
    hid_t op = H5I_INVALID_HID, vs = H5I_INVALID_HID;
    *total = 0;
    *known = 0;
    if (n == 0 || stor == 0 || stor % n != 0) return SK_OK;
    esz = (size_t)(stor / n);
    if (esz < 8 || esz > 64) return SK_OK;
    if (stor > H5W_MAX_ATTR_BYTES)
        return sk_err(SK_EFORMAT, "%s: attribute %s holds %zu strings, more than sinkrb reads (a corrupt file?)", path,
                      name, n);
    if (!registered) {
        vs = H5Tcopy(H5T_C_S1);
        op = H5Tcreate(H5T_OPAQUE, esz);
        registered = vs >= 0 && op >= 0 && H5Tset_size(vs, H5T_VARIABLE) >= 0 && H5Tset_tag(op, H5U_PROBE_TAG) >= 0 &&
                             H5Tregister(H5T_PERS_SOFT, "sinkrb_vlen_probe", vs, op, probe_conv) >= 0
                         ? 1
                         : -1;
        CLOSE_ID(H5Tclose, op);
        CLOSE_ID(H5Tclose, vs);
    }
    if (registered < 0) return SK_OK;
    if ((op = H5Tcreate(H5T_OPAQUE, esz)) < 0 || H5Tset_tag(op, H5U_PROBE_TAG) < 0) goto cleanup;
    if (!(raw = malloc((size_t)stor))) {
        st = sk_err(SK_ENOMEM, "%s: attribute %s: out of memory", path, name);
        goto cleanup;
    }
    if (H5Aread(attr, op, raw) < 0) goto cleanup;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *e = raw + i * esz;
        *total += (uint64_t)e[0] | (uint64_t)e[1] << 8 | (uint64_t)e[2] << 16 | (uint64_t)e[3] << 24;
    }
    *known = 1;
cleanup:
    H5Eclear2(H5E_DEFAULT);
    free(raw);
    CLOSE_ID(H5Tclose, op);
    return st;
}

static sk_status too_big(const char *path, const char *name, double bytes)
{
    char b[32], cap[32];
    sk_h5u_bytes_str(bytes, b, sizeof b);
    sk_h5u_bytes_str((double)H5W_MAX_ATTR_BYTES, cap, sizeof cap);
    return sk_err(SK_EFORMAT, "%s: attribute %s holds %s of text, more than sinkrb reads (%s; a corrupt file?)", path,
                  name, b, cap);
}

sk_status sk_h5u_attr_read_text(hid_t loc, const char *path, const char *name, char **out)
{
    sk_status st = SK_OK;
    hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    char **vstr = NULL, *fbuf = NULL;
    hssize_t np;
    size_t n = 0;
    sk_strbuf sb = SK_STRBUF_INIT;
    htri_t ex, isvar;
    *out = NULL;
    ex = H5Aexists(loc, name);
    if (ex < 0) return sk_h5u_corrupt(path, name);
    if (ex == 0) return SK_OK;
    if ((attr = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (ftype = H5Aget_type(attr)) < 0 ||
        (space = H5Aget_space(attr)) < 0 || (np = H5Sget_simple_extent_npoints(space)) < 0) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    if (H5Tget_class(ftype) != H5T_STRING) {
        st = sk_err(SK_EFORMAT, "%s: attribute %s: expected a string, found %s", path, name,
                    sk_h5u_class_name(H5Tget_class(ftype)));
        goto cleanup;
    }
    n = (size_t)np;
    isvar = H5Tis_variable_str(ftype);
    if (isvar < 0) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    if (isvar) {
        uint64_t total = 0;
        int known = 0;
        if (n > H5W_MAX_ATTR_BYTES / sizeof(char *)) {
            st = sk_err(SK_EFORMAT, "%s: attribute %s holds %zu strings, more than sinkrb reads (a corrupt file?)",
                        path, name, n);
            goto cleanup;
        }
        if ((st = vlen_total(attr, path, name, n, &total, &known)) != SK_OK) goto cleanup;
        if (known && total > H5W_MAX_ATTR_BYTES) {
            st = too_big(path, name, (double)total);
            goto cleanup;
        }
        mtype = H5Tcopy(H5T_C_S1);
        if (mtype < 0 || H5Tset_size(mtype, H5T_VARIABLE) < 0 || H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0) {
            st = sk_h5u_fail(SK_ENOMEM, path, "attribute %s: cannot make string type", name);
            goto cleanup;
        }
        if (!(vstr = sk_alloc_n(n ? n : 1, sizeof *vstr))) {
            st = SK_ENOMEM;
            goto cleanup;
        }
        if (n && H5Aread(attr, mtype, vstr) < 0) {
            memset(vstr, 0, n * sizeof *vstr);
            st = sk_h5u_corrupt(path, name);
            goto cleanup;
        }
        for (size_t i = 0; i < n; i++) {
            if (i) sk_strbuf_append(&sb, "\n");
            if (vstr[i]) sk_strbuf_append(&sb, vstr[i]);
            if (sb.len > H5W_MAX_ATTR_BYTES) {
                st = too_big(path, name, (double)sb.len);
                goto cleanup;
            }
        }
    } else {
        size_t sz = H5Tget_size(ftype);
        if (sz == 0 || (n && sz > H5W_MAX_ATTR_BYTES / n)) {
            st = too_big(path, name, (double)sz * (double)n);
            goto cleanup;
        }
        if (!(fbuf = sk_alloc(n * sz + 1))) {
            st = SK_ENOMEM;
            goto cleanup;
        }
        if (n && H5Aread(attr, ftype, fbuf) < 0) {
            st = sk_h5u_corrupt(path, name);
            goto cleanup;
        }
        for (size_t i = 0; i < n; i++) {
            const char *p = fbuf + i * sz;
            size_t len = 0;
            while (len < sz && p[len])
                len++;
            while (len > 0 && p[len - 1] == ' ' && H5Tget_strpad(ftype) == H5T_STR_SPACEPAD)
                len--;
            if (i) sk_strbuf_append(&sb, "\n");
            sk_strbuf_append_n(&sb, p, len);
        }
    }
    if (sb.err != SK_OK) {
        st = sk_err(SK_ENOMEM, "%s: attribute %s: out of memory", path, name);
        goto cleanup;
    }
    *out = sk_strdup(sk_strbuf_str(&sb));
    if (!*out) st = SK_ENOMEM;
cleanup:
    if (vstr) {
        for (size_t i = 0; i < n; i++)
            if (vstr[i]) H5free_memory(vstr[i]);
        sk_free(vstr);
    }
    sk_free(fbuf);
    sk_strbuf_free(&sb);
    CLOSE_ID(H5Tclose, mtype);
    CLOSE_ID(H5Sclose, space);
    CLOSE_ID(H5Tclose, ftype);
    CLOSE_ID(H5Aclose, attr);
    return st;
}

sk_status sk_h5u_attr_read_int(hid_t loc, const char *path, const char *name, long long *v, int *present)
{
    sk_status st = SK_OK;
    hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID, space = H5I_INVALID_HID;
    htri_t ex = H5Aexists(loc, name);
    *present = 0;
    if (ex < 0) return sk_h5u_corrupt(path, name);
    if (ex == 0) return SK_OK;
    if ((attr = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (ftype = H5Aget_type(attr)) < 0 ||
        (space = H5Aget_space(attr)) < 0) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    if (H5Tget_class(ftype) != H5T_INTEGER || H5Sget_simple_extent_npoints(space) != 1) {
        st = sk_err(SK_EFORMAT, "%s: attribute %s: expected one integer, found %s", path, name,
                    sk_h5u_class_name(H5Tget_class(ftype)));
        goto cleanup;
    }
    if (H5Aread(attr, H5T_NATIVE_LLONG, v) < 0) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    *present = 1;
cleanup:
    CLOSE_ID(H5Sclose, space);
    CLOSE_ID(H5Tclose, ftype);
    CLOSE_ID(H5Aclose, attr);
    return st;
}

sk_status sk_h5u_check_format(hid_t fid, const char *path, const char *want)
{
    sk_status st;
    char *fmt = NULL;
    long long ver = 0;
    int has_ver = 0;
    if ((st = sk_h5u_attr_read_text(fid, path, "format", &fmt)) != SK_OK) return st;
    if (fmt && strcmp(fmt, want) != 0) {
        st = sk_err(SK_EFORMAT, "%s: this is a '%s' file, expected '%s'%s", path, fmt, want,
                    strcmp(fmt, SK_H5W_PERM_FORMAT) == 0
                        ? "\nHINT: perm_*.h5 files hold permutations, not weights; use the "
                          "aligned_*.h5 file"
                        : "");
        goto cleanup;
    }
    if ((st = sk_h5u_attr_read_int(fid, path, "format_version", &ver, &has_ver)) != SK_OK) goto cleanup;
    if (has_ver && ver > SK_H5W_VERSION)
        st = sk_err(SK_EFORMAT,
                    "%s: format_version %lld is newer than this sinkrb reads (%d)"
                    "\nHINT: upgrade sinkrb",
                    path, ver, SK_H5W_VERSION);
    else if (has_ver && ver < 1)
        st = sk_err(SK_EFORMAT, "%s: invalid format_version %lld", path, ver);
cleanup:
    sk_free(fmt);
    return st;
}

/* ---- walking links ------------------------------------------------------ */

sk_status sk_h5u_obj_key(hid_t obj, sk_h5u_key *key)
{
    memset(key, 0, sizeof *key);
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t oi;
    if (H5Oget_info3(obj, &oi, H5O_INFO_BASIC) < 0) return SK_EFORMAT;
    memcpy(key->b, &oi.fileno, sizeof oi.fileno < 8 ? sizeof oi.fileno : 8);
    memcpy(key->b + 8, &oi.token, sizeof oi.token < 24 ? sizeof oi.token : 24);
#else
    H5O_info_t oi;
    if (H5Oget_info2(obj, &oi, H5O_INFO_BASIC) < 0) return SK_EFORMAT;
    memcpy(key->b, &oi.fileno, sizeof oi.fileno < 8 ? sizeof oi.fileno : 8);
    memcpy(key->b + 8, &oi.addr, sizeof oi.addr);
#endif
    return SK_OK;
}

typedef struct {
    sk_h5u_links *L;
    const char *prefix;
    int depth, recurse;
} h5w_walk;

static sk_status h5_walk_group(hid_t g, const char *prefix, int depth, int recurse, sk_h5u_links *L);

sk_status sk_h5u_links_add(sk_h5u_links *L, char *name)
{
    if (L->n == L->cap) {
        int cap = L->cap ? 2 * L->cap : 32;
        char **nd = realloc(L->ds, (size_t)cap * sizeof *nd);
        if (!nd) return sk_err(SK_ENOMEM, "%s: out of memory", L->path);
        L->ds = nd;
        L->cap = cap;
    }
    L->ds[L->n++] = name;
    return SK_OK;
}

/* A link not followed; L takes name and target (malloc'd) in every case. */
static sk_status links_add_lk(sk_h5u_links *L, char *name, char *target, int kind)
{
    if (L->n_lk == L->cap_lk) {
        int cap = L->cap_lk ? 2 * L->cap_lk : 8;
        sk_h5u_link *nl = realloc(L->lk, (size_t)cap * sizeof *nl);
        if (!nl) {
            free(name);
            free(target);
            return sk_err(SK_ENOMEM, "%s: out of memory", L->path);
        }
        L->lk = nl;
        L->cap_lk = cap;
    }
    L->lk[L->n_lk++] = (sk_h5u_link){name, target, kind};
    return SK_OK;
}

/* A group walked now: a new key (1), or the path it was walked under (0). */
static int seen_group(sk_h5u_links *L, const sk_h5u_key *k, const char *full, const char **first)
{
    for (int i = 0; i < L->n_seen; i++)
        if (memcmp(&L->seen[i], k, sizeof *k) == 0) {
            *first = L->seen_name[i];
            return 0;
        }
    if (L->n_seen == L->cap_seen) {
        int cap = L->cap_seen ? 2 * L->cap_seen : 16;
        sk_h5u_key *nk = realloc(L->seen, (size_t)cap * sizeof *nk);
        if (nk) L->seen = nk;
        char **nn = realloc(L->seen_name, (size_t)cap * sizeof *nn);
        if (nn) L->seen_name = nn;
        if (!nk || !nn) return -1;
        L->cap_seen = cap;
    }
    if (!(L->seen_name[L->n_seen] = strdup(full))) return -1;
    L->seen[L->n_seen++] = *k;
    return 1;
}

/* "/x" for a soft link, "file:/x" for an external one (malloc'd). */
static char *link_target(hid_t g, const char *name, const H5L_info_t *info)
{
    size_t n = info->u.val_size;
    char *val, *out = NULL;
    if (n == 0 || n > 65536 || !(val = malloc(n + 1))) return strdup("?");
    if (H5Lget_val(g, name, val, n, H5P_DEFAULT) >= 0) {
        val[n] = '\0';
        if (info->type == H5L_TYPE_SOFT) {
            out = strdup(val);
        } else {
            const char *file = NULL, *obj = NULL;
            unsigned flags;
            if (H5Lunpack_elink_val(val, n, &flags, &file, &obj) >= 0 && file && obj) {
                size_t k = strlen(file) + strlen(obj) + 2;
                if ((out = malloc(k))) snprintf(out, k, "%s:%s", file, obj);
            }
        }
    }
    free(val);
    H5Eclear2(H5E_DEFAULT);
    return out ? out : strdup("?");
}

static herr_t h5_links_cb(hid_t g, const char *name, const H5L_info_t *info, void *ud)
{
    h5w_walk *w = ud;
    sk_h5u_links *L = w->L;
    hid_t o;
    H5I_type_t t;
    char *full = NULL;
    sk_strbuf sb = SK_STRBUF_INIT;
    sk_strbuf_appendf(&sb, "%s%s%s", w->prefix, w->prefix[0] ? "/" : "", name);
    if (sb.err != SK_OK) {
        L->st = sk_err(SK_ENOMEM, "%s: out of memory", L->path);
        sk_strbuf_free(&sb);
        return -1;
    }
    full = sk_strbuf_detach(&sb);
    if (info->type != H5L_TYPE_HARD) { /* soft/external links are listed, not followed */
        if (info->type != H5L_TYPE_SOFT && info->type != H5L_TYPE_EXTERNAL) {
            free(full);
            return 0;
        }
        L->st = links_add_lk(L, full, link_target(g, name, info), info->type == H5L_TYPE_EXTERNAL);
        return L->st == SK_OK ? 0 : -1;
    }
    o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) {
        L->st = sk_h5u_corrupt(L->path, full);
        free(full);
        return -1;
    }
    t = H5Iget_type(o);
    if (t == H5I_DATASET) {
        if ((L->st = sk_h5u_links_add(L, full)) != SK_OK) goto fail;
        full = NULL;
    } else if (t == H5I_GROUP) {
        if (L->n_groups++ == 0) snprintf(L->first_group, sizeof L->first_group, "%s", full);
        if (w->recurse) {
            sk_h5u_key k;
            const char *first = NULL;
            int fresh;
            if (sk_h5u_obj_key(o, &k) != SK_OK) {
                L->st = sk_h5u_corrupt(L->path, full);
                goto fail;
            }
            fresh = seen_group(L, &k, full, &first);
            if (fresh < 0) {
                L->st = sk_err(SK_ENOMEM, "%s: out of memory", L->path);
                goto fail;
            }
            if (!fresh) { /* a second name of a group (or a cycle): listed once */
                char *target = strdup(first);
                L->st = links_add_lk(L, full, target, 2);
                full = NULL;
                if (L->st != SK_OK) goto fail;
            } else if (w->depth >= H5W_MAX_DEPTH) {
                if (L->n_deep++ == 0) snprintf(L->deep, sizeof L->deep, "%s", full);
            } else if (h5_walk_group(o, full, w->depth + 1, 1, L) != SK_OK) {
                goto fail;
            }
        }
    }
    H5Oclose(o);
    free(full);
    return 0;
fail:
    H5Oclose(o);
    free(full);
    return -1;
}

static sk_status h5_walk_group(hid_t g, const char *prefix, int depth, int recurse, sk_h5u_links *L)
{
    hsize_t idx = 0;
    h5w_walk w = {L, prefix, depth, recurse};
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, h5_links_cb, &w) < 0) {
        if (L->st == SK_OK) L->st = sk_h5u_corrupt(L->path, prefix[0] ? prefix : "root group");
    }
    return L->st;
}

sk_status sk_h5u_walk(hid_t fid, const char *path, int recurse, sk_h5u_links *L)
{
    L->path = path;
    if (recurse) { /* the root itself, so a link back to it is seen as such */
        sk_h5u_key k;
        const char *first;
        if (sk_h5u_obj_key(fid, &k) == SK_OK && seen_group(L, &k, "/", &first) < 0)
            return sk_err(SK_ENOMEM, "%s: out of memory", path);
    }
    return h5_walk_group(fid, "", 0, recurse, L);
}

void sk_h5u_links_free(sk_h5u_links *L)
{
    for (int i = 0; i < L->n; i++)
        free(L->ds[i]);
    free(L->ds);
    for (int i = 0; i < L->n_lk; i++) {
        free(L->lk[i].name);
        free(L->lk[i].target);
    }
    free(L->lk);
    for (int i = 0; i < L->n_seen; i++)
        free(L->seen_name[i]);
    free(L->seen_name);
    free(L->seen);
    memset(L, 0, sizeof *L);
}

const sk_h5u_link *sk_h5u_link_find(const sk_h5u_links *L, const char *name)
{
    for (int i = 0; i < L->n_lk; i++)
        if (L->lk[i].kind != 2 && strcmp(L->lk[i].name, name) == 0) return &L->lk[i];
    return NULL;
}

void sk_h5u_link_what(const sk_h5u_link *lk, char *buf, size_t n)
{
    snprintf(buf, n, "is %s link (to %s); sinkrb reads datasets stored in the file",
             lk->kind == 1 ? "an external" : "a soft", lk->target);
}

/* Split text on '\n' in place into a new array of pointers into it. */
static sk_status split_lines(char *text, char ***out, int *n)
{
    int cnt = 0, k = 0;
    *out = NULL;
    *n = 0;
    if (!text[0]) return SK_OK;
    for (char *p = text; *p; p++)
        cnt += *p == '\n';
    cnt++;
    if (!(*out = sk_alloc_n((size_t)cnt, sizeof **out))) return SK_ENOMEM;
    for (char *p = text;;) {
        char *nl = strchr(p, '\n');
        (*out)[k++] = p;
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    *n = k;
    return SK_OK;
}

sk_status sk_h5u_order(hid_t fid, const char *path, const char *order_attr, const sk_h5u_links *L, const char *skip,
                       int **perm, int *np)
{
    sk_status st;
    char *text = NULL, **lines = NULL;
    char *used = NULL;
    int nl = 0, k = 0, n = L->n;
    *perm = NULL;
    *np = 0;
    if ((st = sk_h5u_attr_read_text(fid, path, order_attr, &text)) != SK_OK) return st;
    if (!(*perm = sk_alloc_n((size_t)(n ? n : 1), sizeof **perm)) || !(used = sk_alloc((size_t)(n ? n : 1)))) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    if (text && (st = split_lines(text, &lines, &nl)) != SK_OK) goto cleanup;
    for (int j = 0; j < nl; j++) {
        int i = 0;
        while (i < n && strcmp(L->ds[i], lines[j]) != 0)
            i++;
        if (i == n) {
            const sk_h5u_link *lk = sk_h5u_link_find(L, lines[j]);
            char what[1024];
            if (lk) {
                sk_h5u_link_what(lk, what, sizeof what);
                st = sk_err(SK_EFORMAT, "%s: attribute %s lists %s, but %s %s", path, order_attr, lines[j], lines[j],
                            what);
            } else {
                st = sk_err(SK_EFORMAT, "%s: attribute %s lists '%s', but the file has no such dataset", path,
                            order_attr, lines[j]);
            }
            goto cleanup;
        }
        if (used[i]) {
            st = sk_err(SK_EFORMAT, "%s: attribute %s lists '%s' twice", path, order_attr, lines[j]);
            goto cleanup;
        }
        used[i] = 1;
        if (!skip || !skip[i]) (*perm)[k++] = i;
    }
    for (int i = 0; i < n; i++)
        if (!used[i] && (!skip || !skip[i])) (*perm)[k++] = i;
    *np = k;
cleanup:
    if (st != SK_OK) {
        sk_free(*perm);
        *perm = NULL;
    }
    sk_free(lines);
    sk_free(used);
    sk_free(text);
    return st;
}

/* ---- datasets ----------------------------------------------------------- */

sk_status sk_h5u_ds_shape(hid_t ds, const char *path, const char *name, int maxdim, int *ndim, int64_t *shape)
{
    sk_status st = SK_OK;
    hsize_t dims[H5S_MAX_RANK];
    hid_t space = H5Dget_space(ds);
    H5S_class_t cls;
    int r;
    int64_t numel = 1;
    if (space < 0) return sk_h5u_corrupt(path, name);
    cls = H5Sget_simple_extent_type(space);
    if (cls == H5S_NO_CLASS) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    if (cls == H5S_NULL) {
        st = sk_err(SK_EFORMAT, "%s: dataset %s has no data (null dataspace)", path, name);
        goto cleanup;
    }
    r = H5Sget_simple_extent_dims(space, dims, NULL);
    if (r < 0) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    if (r > maxdim) {
        st = sk_err(SK_EFORMAT,
                    "%s: dataset %s has rank %d; at most %d dimensions are "
                    "supported",
                    path, name, r, maxdim);
        goto cleanup;
    }
    for (int d = 0; d < r; d++) {
        if (dims[d] > (hsize_t)H5W_MAX_NUMEL || (dims[d] && numel > H5W_MAX_NUMEL / (int64_t)dims[d])) {
            st = sk_err(SK_EFORMAT, "%s: dataset %s has an implausible size (corrupt file?)", path, name);
            goto cleanup;
        }
        shape[d] = (int64_t)dims[d];
        numel *= shape[d];
    }
    *ndim = r;
cleanup:
    H5Sclose(space);
    return st;
}

sk_status sk_h5u_open_dataset(hid_t fid, const char *path, const char *name, hid_t *ds, hid_t *ftype)
{
    if ((*ds = H5Dopen2(fid, name, H5P_DEFAULT)) < 0 || (*ftype = H5Dget_type(*ds)) < 0)
        return sk_h5u_corrupt(path, name);
    return SK_OK;
}

sk_status sk_h5u_ds_check_size(hid_t ds, hid_t ftype, const char *path, const char *name, int ndim,
                               const int64_t *shape, int64_t file_size, int64_t *raw, int *compressed)
{
    sk_status st = SK_OK;
    hid_t dcpl = H5I_INVALID_HID;
    int64_t numel = 1;
    size_t esz = H5Tget_size(ftype);
    hsize_t stored;
    haddr_t off;
    char sh[160], decl[32], have[32];
    for (int d = 0; d < ndim; d++)
        numel *= shape[d];
    *raw = 0;
    *compressed = 0;
    if (numel == 0) return SK_OK;
    if (esz == 0 || esz > 64) return sk_h5u_corrupt(path, name);
    *raw = numel * (int64_t)esz; /* numel <= 2^34 (sk_h5u_ds_shape) */
    if ((dcpl = H5Dget_create_plist(ds)) < 0) return sk_h5u_corrupt(path, name);
    *compressed = H5Pget_nfilters(dcpl) > 0;
    stored = H5Dget_storage_size(ds);
    sk_h5u_shape_str(ndim, shape, sh, sizeof sh);
    sk_h5u_bytes_str((double)*raw, decl, sizeof decl);
    if (stored == 0) {
        st = sk_err(SK_EFORMAT,
                    "%s: dataset %s declares shape %s (%s) but stores no data (never written, or a corrupt "
                    "file)",
                    path, name, sh, decl);
    } else if (!*compressed && (*raw > file_size || (int64_t)stored > file_size)) {
        sk_h5u_bytes_str((double)file_size, have, sizeof have);
        st = sk_err(SK_EFORMAT, "%s: dataset %s declares shape %s (%s) but the whole file is %s: truncated or corrupt",
                    path, name, sh, decl, have);
    } else if (!*compressed && H5Pget_layout(dcpl) == H5D_CONTIGUOUS && (off = H5Dget_offset(ds)) != HADDR_UNDEF &&
               (off > (haddr_t)file_size || (haddr_t)*raw > (haddr_t)file_size - off)) {
        sk_h5u_bytes_str((double)file_size, have, sizeof have);
        st = sk_err(SK_EFORMAT,
                    "%s: dataset %s (shape %s, %s) would end past the end of the file (%s): truncated or "
                    "corrupt",
                    path, name, sh, decl, have);
    } else if (*compressed && ((int64_t)stored > file_size || (double)*raw > H5W_MAX_RATIO * (double)stored)) {
        sk_h5u_bytes_str((double)stored, have, sizeof have);
        st = sk_err(SK_EFORMAT,
                    "%s: dataset %s declares shape %s (%s) but stores %s compressed: more than compression "
                    "explains (a corrupt file?)",
                    path, name, sh, decl, have);
    }
    H5Eclear2(H5E_DEFAULT);
    H5Pclose(dcpl);
    return st;
}

sk_status sk_h5u_read_blocks(hid_t ds, const char *path, const char *name, hid_t mtype, sk_h5u_block_fn fn, void *ud,
                             sk_h5u_chan *ch)
{
    sk_status st = SK_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    hsize_t dims[H5S_MAX_RANK], start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
    hsize_t suffix = 1, step, numel = 1, maxb;
    size_t esz = H5Tget_size(mtype);
    void *buf = NULL;
    int r, k;
    int64_t first = 0;
    if ((fspace = H5Dget_space(ds)) < 0 || (r = H5Sget_simple_extent_dims(fspace, dims, NULL)) < 0) {
        st = sk_h5u_corrupt(path, name);
        goto cleanup;
    }
    for (int d = 0; d < r; d++)
        numel *= dims[d];
    if (numel == 0) goto cleanup;
    /* Blocks: the first k dims one index at a time, dim k in steps, the
     * dims after k whole (their product fits the block). */
    for (k = r - 1; k >= 0 && suffix * dims[k] <= h5u_block; k--)
        suffix *= dims[k];
    if (k < 0) { /* everything fits in one block */
        k = 0;
        suffix = r ? numel / dims[0] : 1;
    }
    step = r ? h5u_block / suffix : 1;
    if (step < 1) step = 1;
    if (r && step > dims[k]) step = dims[k];
    maxb = step * suffix;
    if (!(buf = malloc((size_t)maxb * esz))) { /* not zeroed: H5Dread fills it */
        st = sk_err(SK_ENOMEM, "%s: %s: out of memory", path, name);
        goto cleanup;
    }
    if (r == 0) { /* a scalar */
        if (H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            st = sk_h5u_corrupt(path, name);
        else
            st = fn(buf, 1, 0, ud);
        goto cleanup;
    }
    for (int d = 0; d < r; d++)
        count[d] = d < k ? 1 : dims[d];
    for (;;) {
        hsize_t b = dims[k] - start[k] < step ? dims[k] - start[k] : step, nel = b * suffix;
        count[k] = b;
        if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            (mspace = H5Screate_simple(1, &nel, NULL)) < 0 ||
            H5Dread(ds, mtype, mspace, fspace, H5P_DEFAULT, buf) < 0) {
            st = sk_h5u_corrupt(path, name);
            goto cleanup;
        }
        CLOSE_ID(H5Sclose, mspace);
        if ((st = fn(buf, (size_t)nel, first, ud)) != SK_OK) goto cleanup;
        if (ch) sk_h5u_beat(ch);
        first += (int64_t)nel;
        /* Next block: dim k, then the odometer over the dims before it. */
        start[k] += b;
        int d = k;
        while (d >= 0 && start[d] >= dims[d]) {
            start[d] = 0;
            if (--d >= 0) start[d]++;
        }
        if (d < 0) break;
    }
cleanup:
    CLOSE_ID(H5Sclose, mspace);
    CLOSE_ID(H5Sclose, fspace);
    free(buf);
    return st;
}
