/* Fuzz target: the report's JSON input ({"runs": [{"model", "engine", "provider", "params_m",
 * "repetition", "metrics": {...}}]}, `joule analyze --input-json`), then, for small inputs,
 * the whole report: the analysis per metric and model, and the HTML, SVG plots, Markdown,
 * CSV and LaTeX written into a scratch directory. Any values (huge, tiny, negative, equal,
 * one per group, inf params) must give a report or a clean error: no crash, hang or leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "joule/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[64];

static void rm_tree(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_report_input: cannot remove %s\n", dir);
}

static void cleanup(void)
{
    rm_tree(g_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(g_dir, sizeof g_dir, "%s/joule-fuzz-report-XXXXXX",
                 tmp && strlen(tmp) < 32 ? tmp : "/tmp");
        if (!mkdtemp(g_dir)) abort(); /* the harness itself is broken */
        atexit(cleanup);
    }
    struct joule_report_rows t;
    memset(&t, 0, sizeof t);
    if (joule_report_load_json((const char *)data, size, &t) != JOULE_OK) {
        if (!joule_last_error()[0]) abort();
        joule_report_rows_free(&t);
        return 0;
    }
    for (size_t i = 0; i < t.n; i++)
        if (!t.rows[i].model || !t.rows[i].engine || !t.rows[i].provider ||
            (unsigned)t.rows[i].metric >= JOULE_REPORT_METRIC_COUNT)
            abort();
    if (t.n > 0 && t.n <= 200) {
        struct joule_report_params p = joule_report_default_params();
        p.bootstrap_reps = 8;
        struct joule_report *r = NULL;
        if (joule_report_build(t.rows, t.n, &p, &r) == JOULE_OK) {
            char out[96];
            snprintf(out, sizeof out, "%s/r", g_dir);
            joule_report_write(r, out);
            joule_report_free(r);
        }
    }
    joule_report_rows_free(&t);
    return 0;
}
