/* kvtext.h - "key: value" lines, the text attribute of the checkpoint files
 * (the continual run's continual.ckpt and the endpoints' <weights>.ckpt):
 * one line per key, a value ending at
 * the line's '\n'. A reader is strict: a value it cannot parse whole, or
 * that is followed by anything but '\n', is "not there". */
#ifndef SK_IO_KVTEXT_H
#define SK_IO_KVTEXT_H
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"
#include "core/strbuf.h"

/* The value of line `key` of text (NULL when absent), up to its '\n'. */
const char *sk_kv_value(const char *text, const char *key);
/* An integer value; 0 when absent or not exactly one integer. */
int sk_kv_ll(const char *text, const char *key, long long *v);
/* An rng state, 4 hex words; 0 when absent, malformed or all zero
 * (xoshiro's one invalid state). */
int sk_kv_rng(const char *text, const char *key, sk_rng *g);
/* Exactly n doubles (written by sk_kv_put_doubles: bit-exact); 0 otherwise. */
int sk_kv_doubles(const char *text, const char *key, double *v, int64_t n);

/* Append "key: w0 w1 w2 w3\n", the rng's state in hex. */
void sk_kv_put_rng(sk_strbuf *b, const char *key, const sk_rng *g);
/* Append "key: v0 v1 ...\n", each in %.17g (reads back bit for bit). */
void sk_kv_put_doubles(sk_strbuf *b, const char *key, const double *v, int64_t n);

/* The FNV-1a 64-bit hash of text as 16 hex digits: the fingerprint of a
 * recipe or of a run's settings. */
void sk_kv_fingerprint(const char *text, char *hex, size_t n);

#endif
