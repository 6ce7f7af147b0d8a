/* Helpers shared inside the stats module (and by report). */
#ifndef JOULE_STATS_INTERNAL_H
#define JOULE_STATS_INTERNAL_H

#include <stddef.h>

/* Sort ascending in place (insertion sort for small n, qsort otherwise). */
void joule_stats_sort(double *x, size_t n);
/* Mean with a long-double sum and a correction pass (NaN for n = 0). */
double joule_stats_mean(const double *x, size_t n);
/* Sample variance (n − 1) around `mean` (NaN for n < 2). */
double joule_stats_var(const double *x, size_t n, double mean);

/* The studentized-range tail by its double integral even for k = 2 (where the public function
 * uses the exact t identity); exposed so tests can check the integration against that identity. */
double joule_stats_ptukey_sf_integrated(double q, int k, double df);

#endif
