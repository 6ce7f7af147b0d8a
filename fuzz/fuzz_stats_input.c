/* Fuzz the `joule stats` input: JSON parsing of {"groups": {...}}, then (for small inputs) the
 * whole procedure, which must not crash, leak or produce a non-JSON result. */
#include <stdint.h>
#include <stdlib.h>

#include "joule/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct joule_stats_group *g = NULL;
    size_t k = 0;
    if (joule_stats_parse_groups((const char *)data, size, &g, &k) != JOULE_OK) return 0;
    size_t total = 0;
    for (size_t i = 0; i < k; i++)
        total += g[i].n;
    if (k <= 8 && total <= 400) {
        struct joule_stats_params p = joule_stats_default_params();
        p.bootstrap_reps = 20;
        struct joule_stats_analysis a;
        if (joule_stats_analyze(g, k, &p, &a) == JOULE_OK) {
            char *s = joule_stats_analysis_json(&a, 0);
            free(s);
            joule_stats_analysis_free(&a);
        }
    }
    joule_stats_groups_free(g, k);
    return 0;
}
