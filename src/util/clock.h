/* Clocks: monotonic nanoseconds for intervals, wall-clock for records. */
#ifndef JOULE_UTIL_CLOCK_H
#define JOULE_UTIL_CLOCK_H

#include <stdint.h>

int64_t joule_now_ns(void);      /* CLOCK_MONOTONIC */
int64_t joule_wall_ns(void);     /* CLOCK_REALTIME */
void joule_sleep_ns(int64_t ns); /* sleeps the full interval across signals */
/* ISO 8601 UTC with milliseconds ("2026-11-28T06:10:15.123Z") of `wall_ns` into buf (>= 32 bytes).
 */
void joule_format_iso8601(int64_t wall_ns, char *buf, unsigned cap);

#endif
