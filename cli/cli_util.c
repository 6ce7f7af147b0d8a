#include "cli_util.h"

#include <stdio.h>
#include <stdlib.h>

int joule_cli_alpha(const char *cmd, const char *arg, double *out)
{
    char *end = NULL;
    double v = strtod(arg, &end);
    if (!end || end == arg || *end || !(v > 0.0 && v < 1.0)) {
        fprintf(stderr, "joule %s: --alpha must be in (0, 1)\n", cmd);
        return -1;
    }
    *out = v;
    return 0;
}

int joule_cli_count(const char *cmd, const char *opt, const char *arg, size_t max, size_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(arg, &end, 10);
    if (!end || end == arg || *end || arg[0] == '-' || v > max) {
        fprintf(stderr, "joule %s: %s must be 0..%zu\n", cmd, opt, max);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}
