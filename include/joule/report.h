/* joule — the report: the study's procedure per model across serving configurations, medians by
 * model-size category, savings, box plots and ranked recommendations, written as a
 * self-contained index.html plus tables (Markdown, CSV, LaTeX), SVG plots and stats.json.
 *
 * Input is a flat table of measurements (one row per metric × model × configuration ×
 * repetition); `joule analyze` fills it from a results database (docs/results-schema.md) or a
 * JSON file. The report reads statistics computed by the stats module and never recomputes them
 * differently. */
#ifndef JOULE_REPORT_H
#define JOULE_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "joule/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum joule_report_metric {
    JOULE_REPORT_ENERGY_GLOBAL_J = 0, /* CPU package + DRAM + GPU energy of the run */
    JOULE_REPORT_ENERGY_CPU_J,
    JOULE_REPORT_ENERGY_GPU_J,
    JOULE_REPORT_ENERGY_WATTMETER_J, /* wall meter (NETIO) */
    JOULE_REPORT_EXECUTION_S,
    JOULE_REPORT_CPU_PCT,
    JOULE_REPORT_RAM_PCT,
    JOULE_REPORT_GPU_UTIL_PCT,
    JOULE_REPORT_GPU_MEM_UTIL_PCT,
    JOULE_REPORT_GPU_MEM_USED_MB,
    JOULE_REPORT_METRIC_COUNT,
};

/* Stable key ("energy_global_j", ...) and a human label with unit. Static strings. */
const char *joule_report_metric_key(enum joule_report_metric m);
const char *joule_report_metric_label(enum joule_report_metric m);
/* Metric from its key; -1 when unknown. */
int joule_report_metric_from_key(const char *key);

/* One measurement. Strings are borrowed by joule_report_build (copied inside). */
struct joule_report_row {
    enum joule_report_metric metric;
    const char *model;
    double params_m; /* model size in millions of parameters (<= 0: unknown) */
    const char *engine;
    const char *provider;
    int repetition;
    double value;
    int estimated; /* 1: the value comes from a model, not a counter (carried to the report) */
};

/* Model-size categories (the study's 12 models fall 4/4/4 with the defaults):
 * small < small_max_m, medium < medium_max_m, large otherwise, "unknown" when params_m <= 0. */
struct joule_report_params {
    double alpha;          /* 0.05 */
    double small_max_m;    /* 1000 (1 B parameters) */
    double medium_max_m;   /* 2000 */
    size_t bootstrap_reps; /* bootstrap resamples for the median CIs (1000; 0 = off) */
    uint64_t seed;
    const char *title; /* page title (default "joule report") */
};
struct joule_report_params joule_report_default_params(void);

/* Opaque result of the analysis. */
struct joule_report;

/* Analyse `n` rows. Rows with a non-finite value are skipped (counted in the report). On success
 * the caller owns *out and releases it with joule_report_free(). */
enum joule_status joule_report_build(const struct joule_report_row *rows, size_t n,
                                     const struct joule_report_params *params,
                                     struct joule_report **out);
void joule_report_free(struct joule_report *r);

/* Write index.html, stats.json, tables/<name>.{md,csv,tex} and plots/<metric>.svg under `dir`
 * (created if missing). */
enum joule_status joule_report_write(const struct joule_report *r, const char *dir);

/* Number of (metric, model) analyses in the report and how many rows were skipped. */
size_t joule_report_analysis_count(const struct joule_report *r);
size_t joule_report_skipped_rows(const struct joule_report *r);

/* ---- loaders (joule analyze) ----------------------------------------------------------- */

/* A growable row table that owns its strings. Release with joule_report_rows_free(). */
struct joule_report_rows {
    struct joule_report_row *rows;
    size_t n, cap;
    char **strings;
    size_t nstrings, capstrings;
};
void joule_report_rows_free(struct joule_report_rows *t);
/* Append a row, copying its strings. */
enum joule_status joule_report_rows_add(struct joule_report_rows *t,
                                        const struct joule_report_row *row);

/* JSON input: {"runs": [{"model": "...", "params_m": 110, "engine": "...", "provider": "...",
 * "repetition": 1, "metrics": {"energy_global_j": 12.5, "execution_s": 3.1, ...}}, ...]}
 * (metrics not listed or null are not measured). Appends to *t. */
enum joule_status joule_report_load_json(const char *json, size_t len, struct joule_report_rows *t);

/* Results database (schema version 1 of docs/results-schema.md, written by `joule bench`; runs
 * with status 'done'): global energy = Σ gross_j of the sources with in_total = 1 (the machine
 * total as the sensors module defines it), CPU = those other than nvml:*, GPU = Σ nvml:*,
 * wattmeter = Σ netio:*; rows are marked estimated when an in-total CPU source is modelled.
 * Without the in_total column: CPU = rapl:package-* + rapl:dram-* (else estimate:cpu,
 * estimated), global = CPU + GPU. Execution time, CPU %, RAM % and the GPU columns are the run's
 * work-phase means. Appends to *t. */
enum joule_status joule_report_load_db(const char *path, struct joule_report_rows *t);

/* ---- synthetic data (tests, benchmarks, demos) ------------------------------------------ */

/* Study-shaped synthetic measurements: the study's 12 models (their parameter counts) × its 7
 * serving configurations × `reps` repetitions, every metric (GPU metrics only on cuda), values
 * drawn with `seed` (some configurations skewed so both procedures occur). Appends to *t. */
enum joule_status joule_report_synthetic_rows(size_t reps, uint64_t seed,
                                              struct joule_report_rows *t);
/* The same data as a results database at `path` (replaced): meta, runs and run_energy with the
 * columns joule_report_load_db reads, plus `requests_per_run` rows per run in requests. Only for
 * tests and benchmarks: the bench module owns the real schema. */
enum joule_status joule_report_synthetic_db(const char *path, size_t reps, size_t requests_per_run,
                                            uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
