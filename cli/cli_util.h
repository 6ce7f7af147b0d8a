/* Option-value parsing shared by the subcommands (prints the error, returns -1 on a bad value). */
#ifndef JOULE_CLI_UTIL_H
#define JOULE_CLI_UTIL_H

#include <stddef.h>

/* A significance level in (0, 1). */
int joule_cli_alpha(const char *cmd, const char *arg, double *out);
/* An unsigned count 0..max. */
int joule_cli_count(const char *cmd, const char *opt, const char *arg, size_t max, size_t *out);

#endif
