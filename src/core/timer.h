/* timer.h - monotonic time and wall-clock stamps. */
#ifndef SK_CORE_TIMER_H
#define SK_CORE_TIMER_H
#include <stddef.h>

double sk_now(void);     /* monotonic seconds */
double sk_cpu_now(void); /* CPU seconds of the process, every thread */
/* Current UTC time as ISO 8601 ("2026-11-26T21:12:39Z") into buf. */
void sk_wall_iso8601(char *buf, size_t n);

#endif
