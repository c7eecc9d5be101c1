/* progress.h - progress on stderr only: a bar redrawn at most ~10 times a
 * second when stderr is a terminal (or --progress always), and otherwise one
 * line per finished unit of work (an epoch). --progress never: silence. */
#ifndef SK_IO_PROGRESS_H
#define SK_IO_PROGRESS_H
#include <stdint.h>

typedef enum { SK_PROGRESS_AUTO, SK_PROGRESS_ALWAYS, SK_PROGRESS_NEVER } sk_progress_mode;

typedef struct sk_progress sk_progress;

sk_progress *sk_progress_new(sk_progress_mode mode, const char *label, int64_t total);
/* done of total; `status` (may be NULL) is shown after the bar. */
void sk_progress_update(sk_progress *p, int64_t done, const char *status);
/* Finish the bar; `line` (may be NULL) is printed as the unit's summary line
 * (both on terminals and in line mode). */
void sk_progress_done(sk_progress *p, const char *line);
void sk_progress_free(sk_progress *p); /* NULL-safe */
/* Whether bars are drawn for `mode` (terminal detection for auto). */
int sk_progress_bars(sk_progress_mode mode);

#endif
