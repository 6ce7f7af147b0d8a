/* Shared by `joule demo` and `joule reproduce`: run one campaign per available
 * serving configuration into one database, analyse it, print the summary. */
#ifndef JOULE_CLI_STUDY_H
#define JOULE_CLI_STUDY_H

#include <stddef.h>

#include "joule/bench.h"
#include "joule/study.h"

/* Copy `src` into a fixed-size field (truncating; callers pass short paths). */
void study_set_field(char *dst, size_t cap, const char *src);

/* Run `base` (models, reps, phases, prompts, db filled in; engines/providers
 * ignored) once per available configuration in cfg[0..n_cfg), each as its own
 * campaign named "<prefix>-<engine>-<provider>". Prints progress to stderr.
 * Returns the number of failed runs, or -1 when a campaign could not run. */
int study_run_campaigns(const struct joule_bench_settings *base, const char *prefix,
                        const struct joule_study_config *cfg, size_t n_cfg);

/* Analyse the database and write the report into report_dir. 0 or -1. */
int study_write_report(const char *db, const char *report_dir, const char *title);

/* Print medians per (model, engine, provider) of the runs marked done.
 * Returns the number of rows printed, or -1 when the database cannot be read. */
int study_print_summary(const char *db);

#endif
