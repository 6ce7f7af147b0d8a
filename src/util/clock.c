#include "util/clock.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

int64_t joule_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t joule_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void joule_sleep_ns(int64_t ns)
{
    if (ns <= 0) return;
    struct timespec req = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL}, rem;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
}

void joule_format_iso8601(int64_t wall_ns, char *buf, unsigned cap)
{
    time_t s = (time_t)(wall_ns / 1000000000LL);
    int ms = (int)((wall_ns / 1000000LL) % 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}
