/* Filling the report's row table: from JSON, or from a results database (schema v1 of
 * docs/results-schema.md, written by the bench module). */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "joule/report.h"
#include "util/json.h"

void joule_report_rows_free(struct joule_report_rows *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nstrings; i++)
        free(t->strings[i]);
    free(t->strings);
    free(t->rows);
    memset(t, 0, sizeof *t);
}

/* Interned copy of s owned by the table (the few distinct names are shared). */
static const char *intern(struct joule_report_rows *t, const char *s)
{
    for (size_t i = t->nstrings; i-- > 0;)
        if (!strcmp(t->strings[i], s)) return t->strings[i];
    if (t->nstrings == t->capstrings) {
        size_t cap = t->capstrings ? 2 * t->capstrings : 32;
        char **n = realloc(t->strings, cap * sizeof *n);
        if (!n) return NULL;
        t->strings = n;
        t->capstrings = cap;
    }
    size_t len = strlen(s) + 1;
    char *d = malloc(len);
    if (!d) return NULL;
    memcpy(d, s, len);
    t->strings[t->nstrings++] = d;
    return d;
}

enum joule_status joule_report_rows_add(struct joule_report_rows *t,
                                        const struct joule_report_row *row)
{
    if (!t || !row || !row->model || !row->engine || !row->provider)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "report row: missing name");
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        struct joule_report_row *n = realloc(t->rows, cap * sizeof *n);
        if (!n) return joule_errorf(JOULE_ERR_NOMEM, "report rows: out of memory");
        t->rows = n;
        t->cap = cap;
    }
    struct joule_report_row r = *row;
    r.model = intern(t, row->model);
    r.engine = intern(t, row->engine);
    r.provider = intern(t, row->provider);
    if (!r.model || !r.engine || !r.provider)
        return joule_errorf(JOULE_ERR_NOMEM, "report rows: out of memory");
    t->rows[t->n++] = r;
    return JOULE_OK;
}

enum joule_status joule_report_load_json(const char *json, size_t len, struct joule_report_rows *t)
{
    if (!json || !t) return joule_errorf(JOULE_ERR_INVALID_ARG, "no input");
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return joule_errorf(JOULE_ERR_FORMAT, "runs input is not valid JSON");
    enum joule_status st = JOULE_OK;
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(root, "runs");
    if (!cJSON_IsArray(runs)) {
        st = joule_errorf(JOULE_ERR_FORMAT, "runs input needs an array \"runs\"");
        goto out;
    }
    size_t i = 0;
    for (const cJSON *run = runs->child; run && !st; run = run->next, i++) {
        const char *model = joule_json_str(run, "model", NULL);
        const char *engine = joule_json_str(run, "engine", NULL);
        const char *provider = joule_json_str(run, "provider", NULL);
        const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(run, "metrics");
        if (!model || !engine || !provider || !cJSON_IsObject(metrics)) {
            st = joule_errorf(JOULE_ERR_FORMAT,
                              "run %zu needs \"model\", \"engine\", \"provider\" and \"metrics\"",
                              i);
            break;
        }
        struct joule_report_row row = {
            .model = model,
            .engine = engine,
            .provider = provider,
            .params_m = joule_json_num(run, "params_m", 0.0),
            .repetition = (int)joule_json_int(run, "repetition", 0),
        };
        int estimated = joule_json_bool(run, "estimated", 0);
        for (const cJSON *m = metrics->child; m && !st; m = m->next) {
            int mt = joule_report_metric_from_key(m->string);
            if (mt < 0) {
                st = joule_errorf(JOULE_ERR_FORMAT, "run %zu: unknown metric \"%s\"", i,
                                  m->string ? m->string : "");
                break;
            }
            if (cJSON_IsNull(m)) continue;
            if (!cJSON_IsNumber(m) || !isfinite(m->valuedouble)) {
                st = joule_errorf(JOULE_ERR_FORMAT, "run %zu: metric %s is not a finite number", i,
                                  m->string);
                break;
            }
            row.metric = (enum joule_report_metric)mt;
            row.value = m->valuedouble;
            row.estimated = estimated &&
                            (mt == JOULE_REPORT_ENERGY_GLOBAL_J || mt == JOULE_REPORT_ENERGY_CPU_J);
            st = joule_report_rows_add(t, &row);
        }
    }
out:
    cJSON_Delete(root);
    return st;
}

/* Per-run metrics from the runs table and energies summed per source family. Columns 11..15:
 * CPU energy, whether it is modelled, GPU energy, wall-meter energy, machine total.
 * With run_energy.in_total (the bench schema's definition of the machine total: CPU = RAPL
 * packages + DRAM, else perf pkg + ram, else psys, else the estimate; plus every GPU): CPU = the
 * in-total sources other than nvml, total = all in-total sources. */
static const char *const g_db_sql =
    "SELECT r.model, r.model_params, r.engine, r.provider, r.repetition, r.execution_s,"
    " r.cpu_pct_mean, r.ram_pct_mean, r.gpu_util_pct_mean, r.gpu_mem_util_pct_mean,"
    " r.gpu_mem_used_mb_mean,"
    " (SELECT SUM(gross_j) FROM run_energy e WHERE e.run_id = r.id AND e.in_total = 1"
    "  AND e.source NOT LIKE 'nvml:%'),"
    " (SELECT MAX(estimated) FROM run_energy e WHERE e.run_id = r.id AND e.in_total = 1"
    "  AND e.source NOT LIKE 'nvml:%'),"
    " (SELECT SUM(gross_j) FROM run_energy e WHERE e.run_id = r.id AND e.source LIKE 'nvml:%'),"
    " (SELECT SUM(gross_j) FROM run_energy e WHERE e.run_id = r.id AND e.source LIKE 'netio:%'),"
    " (SELECT SUM(gross_j) FROM run_energy e WHERE e.run_id = r.id AND e.in_total = 1)"
    " FROM runs r WHERE r.status = 'done' ORDER BY r.id";
/* Databases written before in_total existed: CPU = RAPL packages + DRAM, else estimate:cpu
 * (then marked modelled); total = CPU + GPU. */
static const char *const g_db_sql_legacy =
    "SELECT r.model, r.model_params, r.engine, r.provider, r.repetition, r.execution_s,"
    " r.cpu_pct_mean, r.ram_pct_mean, r.gpu_util_pct_mean, r.gpu_mem_util_pct_mean,"
    " r.gpu_mem_used_mb_mean,"
    " (SELECT SUM(gross_j) FROM run_energy e WHERE e.run_id = r.id"
    "  AND (e.source LIKE 'rapl:package-%' OR e.source LIKE 'rapl:dram-%')),"
    " (SELECT SUM(gross_j) FROM run_energy e WHERE e.run_id = r.id"
    "  AND e.source = 'estimate:cpu'),"
    " (SELECT SUM(gross_j) FROM run_energy e WHERE e.run_id = r.id AND e.source LIKE 'nvml:%'),"
    " (SELECT SUM(gross_j) FROM run_energy e WHERE e.run_id = r.id AND e.source LIKE 'netio:%'),"
    " NULL FROM runs r WHERE r.status = 'done' ORDER BY r.id";

enum joule_status joule_report_load_db(const char *path, struct joule_report_rows *t)
{
    if (!path || !t) return joule_errorf(JOULE_ERR_INVALID_ARG, "no database");
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        enum joule_status st = joule_errorf(JOULE_ERR_IO, "cannot open %s: %s", path,
                                            db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return st;
    }
    enum joule_status st = JOULE_OK;
    sqlite3_stmt *q = NULL;
    /* schema version check */
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &q,
                           NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        st = joule_errorf(JOULE_ERR_FORMAT, "%s is not a joule results database (no meta table)",
                          path);
        goto out;
    }
    {
        const char *v = (const char *)sqlite3_column_text(q, 0);
        if (!v || strcmp(v, "1")) {
            st = joule_errorf(JOULE_ERR_UNSUPPORTED, "%s has schema version %s; this joule reads 1",
                              path, v ? v : "(null)");
            goto out;
        }
    }
    sqlite3_finalize(q);
    q = NULL;
    int legacy = 0;
    if (sqlite3_prepare_v2(db, "SELECT in_total FROM run_energy LIMIT 0", -1, &q, NULL) !=
        SQLITE_OK)
        legacy = 1;
    sqlite3_finalize(q);
    q = NULL;
    if (sqlite3_prepare_v2(db, legacy ? g_db_sql_legacy : g_db_sql, -1, &q, NULL) != SQLITE_OK) {
        st = joule_errorf(JOULE_ERR_FORMAT, "%s: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && !st) {
        const char *model = (const char *)sqlite3_column_text(q, 0);
        const char *engine = (const char *)sqlite3_column_text(q, 2);
        const char *provider = (const char *)sqlite3_column_text(q, 3);
        if (!model || !engine || !provider) continue;
        struct joule_report_row row = {
            .model = model,
            .engine = engine,
            .provider = provider,
            .params_m =
                sqlite3_column_type(q, 1) == SQLITE_NULL ? 0.0 : sqlite3_column_double(q, 1) / 1e6,
            .repetition = sqlite3_column_int(q, 4),
        };
#define COL(i) (sqlite3_column_type(q, (i)) == SQLITE_NULL ? NAN : sqlite3_column_double(q, (i)))
        double cpu = COL(11), gpu = COL(13), netio = COL(14), global = COL(15);
        int estimated = 0;
        if (legacy) {
            if (isnan(cpu) && !isnan(COL(12))) {
                cpu = COL(12); /* modelled CPU energy: no RAPL counter */
                estimated = 1;
            }
            if (!isnan(cpu) || !isnan(gpu))
                global = (isnan(cpu) ? 0.0 : cpu) + (isnan(gpu) ? 0.0 : gpu);
        } else {
            estimated = sqlite3_column_int(q, 12) != 0;
        }
        const struct {
            enum joule_report_metric m;
            double v;
        } vals[] = {
            {JOULE_REPORT_ENERGY_GLOBAL_J, global},  {JOULE_REPORT_ENERGY_CPU_J, cpu},
            {JOULE_REPORT_ENERGY_GPU_J, gpu},        {JOULE_REPORT_ENERGY_WATTMETER_J, netio},
            {JOULE_REPORT_EXECUTION_S, COL(5)},      {JOULE_REPORT_CPU_PCT, COL(6)},
            {JOULE_REPORT_RAM_PCT, COL(7)},          {JOULE_REPORT_GPU_UTIL_PCT, COL(8)},
            {JOULE_REPORT_GPU_MEM_UTIL_PCT, COL(9)}, {JOULE_REPORT_GPU_MEM_USED_MB, COL(10)},
        };
#undef COL
        for (size_t i = 0; i < sizeof vals / sizeof vals[0] && !st; i++) {
            if (isnan(vals[i].v)) continue; /* NULL = not measured */
            row.metric = vals[i].m;
            row.value = vals[i].v;
            row.estimated = estimated && (vals[i].m == JOULE_REPORT_ENERGY_GLOBAL_J ||
                                          vals[i].m == JOULE_REPORT_ENERGY_CPU_J);
            st = joule_report_rows_add(t, &row);
        }
    }
    if (!st && rc != SQLITE_DONE && rc != SQLITE_ROW)
        st = joule_errorf(JOULE_ERR_IO, "%s: %s", path, sqlite3_errmsg(db));
out:
    sqlite3_finalize(q);
    sqlite3_close(db);
    return st;
}
