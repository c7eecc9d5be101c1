/* csv.h - CSV result tables (interp.csv, accuracy_matrix.csv), written
 * atomically: rows go to a temporary file next to the target, which appears
 * under its final name only when sk_csv_close succeeds.
 *
 *   sk_csv *c = sk_csv_open("results/x/interp.csv", "method,split,lambda,loss,accuracy");
 *   if (!c) return sk_err_prefix(...);          // sk_err is set
 *   sk_csv_row(c, "%s,%s,%.9g,%.9g,%.9g", sk_csv_q(c, method), split, lam, loss, acc);
 *   st = sk_csv_close(c);                       // commit; or sk_csv_abort(c)
 *
 * Format: RFC 4180 fields, rows ended by "\n" (not CRLF; every CSV reader
 * accepts both). Numbers: use "%.9g" for float32 values (9 significant
 * digits always round-trip a float32) and "%.17g" for doubles (SK_CSV_F32 /
 * SK_CSV_F64 below); NaN prints as "nan", which pandas and numpy read back.
 * Text fields that may hold a comma, quote or line break go through
 * sk_csv_q (or sk_csv_quote). */
#ifndef SK_IO_CSV_H
#define SK_IO_CSV_H

#include <stddef.h>

#include "core/err.h"

#define SK_CSV_F32 "%.9g"
#define SK_CSV_F64 "%.17g"

typedef struct sk_csv sk_csv;

/* Create the temporary file and write `header` (a complete row without the
 * line ending; NULL for none). NULL (sk_err set) on failure. */
sk_csv *sk_csv_open(const char *path, const char *header);
/* Append one row: printf-style text, the "\n" is added. Write errors are
 * remembered and reported by sk_csv_close; the return value reports them
 * early (SK_OK otherwise). */
sk_status sk_csv_row(sk_csv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Flush, fsync, rename into place and free c. On failure nothing is left
 * under the final name. */
SK_MUST_CHECK sk_status sk_csv_close(sk_csv *c);
/* Remove the temporary file and free c (NULL-safe). */
void sk_csv_abort(sk_csv *c);

/* RFC 4180 quoting of one field: returned unchanged when it holds no comma,
 * double quote, CR or LF and no leading/trailing space; otherwise wrapped in
 * double quotes with inner quotes doubled. The result lives in one of 8
 * rotating buffers owned by c (so up to 8 fields can be quoted for one
 * sk_csv_row call); "" on allocation failure (remembered like a write error). */
const char *sk_csv_q(sk_csv *c, const char *field);
/* The same into a caller buffer, snprintf-style: returns the length the
 * quoted field needs (excluding the NUL); writes at most n bytes. */
size_t sk_csv_quote(char *dst, size_t n, const char *field);

#endif
