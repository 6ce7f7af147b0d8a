/* Helpers shared by the benchmarks in bench/ (each bench is one program). */
#ifndef JOULE_BENCH_COMMON_H
#define JOULE_BENCH_COMMON_H

#include <math.h>
#include <stddef.h>

#include "joule/stats.h"

/* Median of v[0..n) (joule's descriptives; NaN when there is nothing to summarise). */
static inline double bench_median(const double *v, int n)
{
    struct joule_stats_describe d;
    return n > 0 && joule_stats_describe(v, (size_t)n, &d) == JOULE_OK ? d.median : NAN;
}

#endif
