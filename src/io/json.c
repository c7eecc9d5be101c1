/* json.c - streaming JSON builder (see json.h). */
#include "io/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/strbuf.h"
#include "io/atomic.h"

#define SK_JSON_MAX_DEPTH 64

typedef struct {
    char kind;        /* '{' or '[' */
    int count;        /* members written so far */
    int scalars_only; /* no nested container (arrays are then kept on one line) */
    size_t start;     /* buffer offset just after the opening bracket */
} sk_json_level;

struct sk_json {
    sk_strbuf buf; /* the text */
    int depth;
    int top_done; /* the single top-level value is complete */
    sk_json_level stack[SK_JSON_MAX_DEPTH];
    sk_status err; /* first problem, reported by sk_json_status */
    char errmsg[256];
};

static void json_fail(sk_json *j, sk_status code, const char *what, const char *key)
{
    if (j->err != SK_OK) return;
    j->err = code;
    snprintf(j->errmsg, sizeof j->errmsg, "json builder: %s%s%s%s", what, key ? " (key \"" : "", key ? key : "",
             key ? "\")" : "");
}

/* Note the first failure of an add to the text (j->buf keeps it too, so
 * every later add does nothing). */
static void json_check(sk_json *j, sk_status st)
{
    if (st == SK_OK || j->err != SK_OK) return;
    j->err = st;
    if (st == SK_ENOMEM)
        snprintf(j->errmsg, sizeof j->errmsg, "json builder: out of memory at %zu bytes", j->buf.len);
    else
        snprintf(j->errmsg, sizeof j->errmsg, "json builder: %s", sk_err_msg());
}

static void json_put(sk_json *j, const char *s, size_t n)
{
    json_check(j, sk_strbuf_append_n(&j->buf, s, n));
}

static void json_puts(sk_json *j, const char *s)
{
    json_put(j, s, strlen(s));
}

static void json_indent(sk_json *j, int level)
{
    json_check(j, sk_strbuf_appendf(&j->buf, "\n%*s", 2 * level, ""));
}

static void json_put_string(sk_json *j, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    json_put(j, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[7];
        size_t n = 2;
        esc[0] = '\\';
        switch (*p) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            if (*p < 0x20) {
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                n = 6;
            } else {
                esc[0] = (char)*p; /* ASCII and UTF-8 bytes pass through */
                n = 1;
            }
        }
        json_put(j, esc, n);
    }
    json_put(j, "\"", 1);
}

/* Separator, newline + indentation and key before a value; 0 on misuse. */
static int json_begin_value(sk_json *j, const char *key, int is_container)
{
    if (!j || j->err != SK_OK) return 0;
    if (j->depth == 0) {
        if (j->top_done) {
            json_fail(j, SK_EINVAL, "second top-level value", key);
            return 0;
        }
        if (key) {
            json_fail(j, SK_EINVAL, "key given for the top-level value", key);
            return 0;
        }
        return 1;
    }
    sk_json_level *lv = &j->stack[j->depth - 1];
    if (lv->kind == '{' && !key) {
        json_fail(j, SK_EINVAL, "object member without a key", NULL);
        return 0;
    }
    if (lv->kind == '[' && key) {
        json_fail(j, SK_EINVAL, "key given inside an array", key);
        return 0;
    }
    if (lv->count > 0) json_put(j, ",", 1);
    json_indent(j, j->depth);
    if (key) {
        json_put_string(j, key);
        json_put(j, ": ", 2);
    }
    lv->count++;
    if (is_container) lv->scalars_only = 0;
    return 1;
}

static void json_end_value(sk_json *j)
{
    if (j->depth == 0) {
        j->top_done = 1;
        json_put(j, "\n", 1);
    }
}

static void json_container_begin(sk_json *j, const char *key, char kind)
{
    if (!json_begin_value(j, key, 1)) return;
    if (j->depth >= SK_JSON_MAX_DEPTH) {
        json_fail(j, SK_EINVAL, "nesting deeper than 64 levels", key);
        return;
    }
    json_put(j, kind == '{' ? "{" : "[", 1);
    sk_json_level *lv = &j->stack[j->depth++];
    lv->kind = kind;
    lv->count = 0;
    lv->scalars_only = 1;
    lv->start = j->buf.len;
}

/* Rewrite the text from start on without the line breaks and indentation,
 * so an array of scalars reads "[1, 2, 3]". Strings never hold a raw newline
 * (it is escaped), so every '\n' here is layout. The text only shrinks, so
 * this works in place. */
static void json_collapse(sk_json *j, size_t start)
{
    char *b = j->buf.s;
    size_t len = j->buf.len, w = start;
    for (size_t r = start; r < len;) {
        if (b[r] == '\n') {
            r++;
            while (r < len && b[r] == ' ')
                r++;
            if (w > start && b[w - 1] == ',') b[w++] = ' ';
        } else {
            b[w++] = b[r++];
        }
    }
    sk_strbuf_truncate(&j->buf, w);
}

static void json_container_end(sk_json *j, char kind)
{
    if (!j || j->err != SK_OK) return;
    if (j->depth == 0 || j->stack[j->depth - 1].kind != kind) {
        json_fail(j, SK_EINVAL,
                  kind == '{' ? "obj_end without a matching obj_begin" : "arr_end without a matching arr_begin", NULL);
        return;
    }
    sk_json_level *lv = &j->stack[j->depth - 1];
    if (lv->count > 0) json_indent(j, j->depth - 1);
    json_put(j, kind == '{' ? "}" : "]", 1);
    if (kind == '[' && lv->scalars_only && lv->count > 0 && j->err == SK_OK) json_collapse(j, lv->start);
    j->depth--;
    json_end_value(j);
}

sk_json *sk_json_new(void)
{
    sk_json *j = sk_alloc(sizeof *j);
    if (!j) return NULL;
    if (sk_strbuf_reserve(&j->buf, 256) != SK_OK) {
        sk_free(j);
        sk_err(SK_ENOMEM, "json builder: out of memory");
        return NULL;
    }
    return j;
}

void sk_json_free(sk_json *j)
{
    if (!j) return;
    sk_strbuf_free(&j->buf);
    sk_free(j);
}

void sk_json_obj_begin(sk_json *j, const char *key)
{
    json_container_begin(j, key, '{');
}
void sk_json_obj_end(sk_json *j)
{
    json_container_end(j, '{');
}
void sk_json_arr_begin(sk_json *j, const char *key)
{
    json_container_begin(j, key, '[');
}
void sk_json_arr_end(sk_json *j)
{
    json_container_end(j, '[');
}

void sk_json_str(sk_json *j, const char *key, const char *val)
{
    if (!json_begin_value(j, key, 0)) return;
    if (val)
        json_put_string(j, val);
    else
        json_puts(j, "null");
    json_end_value(j);
}

char *sk_json_fmt_num(char *buf, size_t n, double val)
{
    if (!isfinite(val)) {
        snprintf(buf, n, "null");
        return buf;
    }
    /* The shortest %.{p}g text that reads back to the same bits ("100", not
     * "1e+02"); %.17g always does. */
    char best[40] = "";
    for (int p = 17; p >= 1; p--) {
        char tmp[40];
        snprintf(tmp, sizeof tmp, "%.*g", p, val);
        double back = strtod(tmp, NULL);
        if (memcmp(&back, &val, sizeof val) == 0 && (!best[0] || strlen(tmp) <= strlen(best)))
            snprintf(best, sizeof best, "%s", tmp);
    }
    snprintf(buf, n, "%s", best);
    return buf;
}

void sk_json_num(sk_json *j, const char *key, double val)
{
    char tmp[40];
    if (!json_begin_value(j, key, 0)) return;
    json_puts(j, sk_json_fmt_num(tmp, sizeof tmp, val));
    json_end_value(j);
}

void sk_json_int(sk_json *j, const char *key, long long val)
{
    char tmp[32];
    if (!json_begin_value(j, key, 0)) return;
    snprintf(tmp, sizeof tmp, "%lld", val);
    json_puts(j, tmp);
    json_end_value(j);
}

void sk_json_bool(sk_json *j, const char *key, int val)
{
    if (!json_begin_value(j, key, 0)) return;
    json_puts(j, val ? "true" : "false");
    json_end_value(j);
}

void sk_json_null(sk_json *j, const char *key)
{
    if (!json_begin_value(j, key, 0)) return;
    json_puts(j, "null");
    json_end_value(j);
}

const char *sk_json_text(const sk_json *j)
{
    return j ? sk_strbuf_str(&j->buf) : "";
}

sk_status sk_json_status(const sk_json *j)
{
    if (!j) return sk_err(SK_EINVAL, "json builder: NULL");
    if (j->err != SK_OK) return sk_err(j->err, "%s", j->errmsg);
    return SK_OK;
}

sk_status sk_json_write_file(const sk_json *j, const char *path)
{
    sk_status st = sk_json_status(j);
    if (st != SK_OK) return sk_err_prefix(st, "%s: ", path);
    if (j->depth != 0 || !j->top_done)
        return sk_err(SK_EINVAL, "%s: json document is incomplete (%d unclosed container%s)", path, j->depth,
                      j->depth == 1 ? "" : "s");
    return sk_write_file_atomic(path, j->buf.s, j->buf.len);
}
