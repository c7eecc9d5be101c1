/* json.h - a small streaming builder for pretty, valid JSON (metrics.json).
 *
 * Values are appended in document order into a growable text buffer:
 *
 *   sk_json *j = sk_json_new();
 *   sk_json_obj_begin(j, NULL);                 // top-level object
 *   sk_json_str(j, "format", "sinkrb-metrics");
 *   sk_json_arr_begin(j, "lambda");
 *   for (...) sk_json_num(j, NULL, lam[i]);     // NULL key inside arrays
 *   sk_json_arr_end(j);
 *   sk_json_obj_end(j);
 *   st = sk_json_write_file(j, "results/x/metrics.json");
 *   sk_json_free(j);
 *
 * Keys are required inside objects and must be NULL inside arrays and at the
 * top level (which holds exactly one value). Layout: two-space indentation,
 * one member per line; arrays that hold only scalars are written on one line
 * ("[0, 0.5, 1]"), empty containers as "{}" / "[]"; the text ends with "\n".
 *
 * Numbers: sk_json_num writes the shortest decimal form (at most 17
 * significant digits) that strtod reads back to the same double, so values
 * round-trip bit-exactly (including -0); NaN and +-Inf are written as null,
 * since JSON has no spelling for them. Strings: '"', '\\' and control
 * characters are escaped (\n \t \r \b \f, others as \u00XX); bytes >= 0x80
 * (UTF-8) are copied unchanged.
 *
 * Errors: the builder functions return nothing; a misuse (missing or extra
 * key, unbalanced end, second top-level value) or an allocation failure is
 * remembered and reported by sk_json_status / sk_json_write_file. */
#ifndef SK_IO_JSON_H
#define SK_IO_JSON_H

#include <stddef.h>

#include "core/err.h"

typedef struct sk_json sk_json;

/* NULL (sk_err set) on allocation failure. Free with sk_json_free (NULL-safe). */
sk_json *sk_json_new(void);
void sk_json_free(sk_json *j);

void sk_json_obj_begin(sk_json *j, const char *key);
void sk_json_obj_end(sk_json *j);
void sk_json_arr_begin(sk_json *j, const char *key);
void sk_json_arr_end(sk_json *j);

void sk_json_str(sk_json *j, const char *key, const char *val); /* val NULL -> null */
void sk_json_num(sk_json *j, const char *key, double val);
void sk_json_int(sk_json *j, const char *key, long long val);
void sk_json_bool(sk_json *j, const char *key, int val);
void sk_json_null(sk_json *j, const char *key);

/* The text so far (borrowed; valid until the next call on j). */
const char *sk_json_text(const sk_json *j);
/* SK_OK when no misuse or allocation failure happened so far (sets sk_err
 * with the first problem otherwise). Does not require the document to be
 * complete. */
SK_MUST_CHECK sk_status sk_json_status(const sk_json *j);
/* Check that the document is complete and error-free, then write it
 * atomically (temp file + rename). */
SK_MUST_CHECK sk_status sk_json_write_file(const sk_json *j, const char *path);

/* Format a double as sk_json_num does (shortest round-trip repr, "null" for
 * non-finite values) into buf; returns buf. n >= 32 always suffices. */
char *sk_json_fmt_num(char *buf, size_t n, double val);

#endif
