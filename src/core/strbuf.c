/* strbuf.c - growable char buffer (see strbuf.h). */
#include "core/strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SK_STRBUF_MIN_CAP 256

sk_status sk_strbuf_reserve(sk_strbuf *b, size_t extra)
{
    size_t need, cap;
    char *ns;
    if (b->err != SK_OK) return b->err;
    if (extra > SIZE_MAX - 1 - b->len)
        return b->err = sk_err(SK_ENOMEM, "string buffer: %zu + %zu bytes overflow", b->len, extra);
    need = b->len + extra + 1;
    if (need <= b->cap) return SK_OK;
    cap = b->cap ? b->cap : SK_STRBUF_MIN_CAP;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    if (!(ns = realloc(b->s, cap)))
        return b->err = sk_err(SK_ENOMEM, "out of memory growing a string buffer to %zu bytes", cap);
    if (!b->s) ns[0] = '\0'; /* the text stays NUL-terminated from the first allocation on */
    b->s = ns;
    b->cap = cap;
    return SK_OK;
}

sk_status sk_strbuf_append_n(sk_strbuf *b, const char *s, size_t n)
{
    sk_status st = sk_strbuf_reserve(b, n);
    if (st != SK_OK) return st;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return SK_OK;
}

sk_status sk_strbuf_append(sk_strbuf *b, const char *s)
{
    return sk_strbuf_append_n(b, s, strlen(s));
}

sk_status sk_strbuf_vappendf(sk_strbuf *b, const char *fmt, va_list ap)
{
    sk_status st;
    va_list aq;
    size_t room;
    int k;
    if ((st = sk_strbuf_reserve(b, 0)) != SK_OK) return st;
    /* Try the room there is; when the text does not fit, grow to its now
     * known length and format again. */
    room = b->cap - b->len;
    va_copy(aq, ap);
    k = vsnprintf(b->s + b->len, room, fmt, aq);
    va_end(aq);
    if (k >= 0 && (size_t)k >= room) {
        b->s[b->len] = '\0'; /* drop the truncated attempt */
        if ((st = sk_strbuf_reserve(b, (size_t)k)) != SK_OK) return st;
        va_copy(aq, ap);
        k = vsnprintf(b->s + b->len, (size_t)k + 1, fmt, aq);
        va_end(aq);
    }
    if (k < 0) {
        b->s[b->len] = '\0';
        return b->err = sk_err(SK_EINVAL, "string buffer: output error formatting \"%s\"", fmt);
    }
    b->len += (size_t)k;
    return SK_OK;
}

sk_status sk_strbuf_appendf(sk_strbuf *b, const char *fmt, ...)
{
    sk_status st;
    va_list ap;
    va_start(ap, fmt);
    st = sk_strbuf_vappendf(b, fmt, ap);
    va_end(ap);
    return st;
}

const char *sk_strbuf_str(const sk_strbuf *b)
{
    return b->s ? b->s : "";
}

char *sk_strbuf_detach(sk_strbuf *b)
{
    char *s;
    if (b->err != SK_OK || sk_strbuf_reserve(b, 0) != SK_OK) {
        sk_strbuf_free(b);
        return NULL;
    }
    s = b->s;
    b->s = NULL;
    sk_strbuf_free(b);
    return s;
}

void sk_strbuf_truncate(sk_strbuf *b, size_t len)
{
    if (len >= b->len) return;
    b->len = len;
    b->s[len] = '\0';
}

void sk_strbuf_reset(sk_strbuf *b)
{
    b->len = 0;
    if (b->s) b->s[0] = '\0';
    b->err = SK_OK;
}

void sk_strbuf_free(sk_strbuf *b)
{
    if (!b) return;
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
    b->err = SK_OK;
}
