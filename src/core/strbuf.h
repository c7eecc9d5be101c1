/* strbuf.h - a growable, NUL-terminated char buffer.
 *
 *   sk_strbuf b = SK_STRBUF_INIT;            // {0} works too
 *   for (int i = 0; i < n; i++)
 *       sk_strbuf_appendf(&b, "%s%s", i ? "\n" : "", names[i]);
 *   if (b.err != SK_OK) ...                  // or check each call's status
 *   use(sk_strbuf_str(&b));
 *   sk_strbuf_free(&b);
 *
 * Errors are sticky: the first failed add sets sk_err and b.err, and every
 * later add does nothing and returns b.err, so a run of adds can be checked
 * once at the end. A failed add leaves the text as it was. Arguments must not
 * point into the buffer itself (growing it may move the text). The memory is
 * plain malloc/realloc. */
#ifndef SK_CORE_STRBUF_H
#define SK_CORE_STRBUF_H
#include <stdarg.h>
#include <stddef.h>

#include "core/err.h"

typedef struct {
    char *s;       /* the text; NULL until the first add (sk_strbuf_str gives "") */
    size_t len;    /* bytes of text, not counting the NUL */
    size_t cap;    /* bytes allocated at s */
    sk_status err; /* the first failure, SK_OK when none */
} sk_strbuf;

#define SK_STRBUF_INIT                                                                                                 \
    {                                                                                                                  \
        NULL, 0, 0, SK_OK                                                                                              \
    }

/* Make room for `extra` more bytes (and the NUL) without adding text:
 * SK_ENOMEM on allocation failure or size overflow. */
sk_status sk_strbuf_reserve(sk_strbuf *b, size_t extra);
/* Append a NUL-terminated string / n bytes of s (which may hold no NUL). */
sk_status sk_strbuf_append(sk_strbuf *b, const char *s);
sk_status sk_strbuf_append_n(sk_strbuf *b, const char *s, size_t n);
/* Append printf-style: SK_ENOMEM as above, SK_EINVAL when vsnprintf reports
 * an output error. vappendf works on a copy of ap (the caller still va_ends it). */
sk_status sk_strbuf_appendf(sk_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
sk_status sk_strbuf_vappendf(sk_strbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* The text: borrowed, valid until the next call that changes b; "" when empty. */
const char *sk_strbuf_str(const sk_strbuf *b);
/* Hand the text to the caller (free with free()) and leave b empty. NULL when
 * b.err was set (the text would be incomplete; it is freed) or allocating an
 * empty text fails (sk_err set). */
char *sk_strbuf_detach(sk_strbuf *b);
/* Shorten the text to its first len bytes (no-op when it is not longer), for
 * callers that rewrite the text in place within s[0..len). */
void sk_strbuf_truncate(sk_strbuf *b, size_t len);
/* Empty the text and clear the error, keeping the memory for reuse. */
void sk_strbuf_reset(sk_strbuf *b);
/* Free the memory; b is then empty and reusable. NULL-safe. */
void sk_strbuf_free(sk_strbuf *b);

#endif
