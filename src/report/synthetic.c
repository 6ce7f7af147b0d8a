/* Synthetic study-shaped data for tests, benchmarks and demos. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "joule/report.h"

static const struct {
    const char *name;
    double params_m;
} g_models[] = {
    {"codeparrot-small", 111.0},
    {"tiny_starcoder_py", 164.1},
    {"pythia-410m", 405.3},
    {"bloomz-560m", 559.2},
    {"bloomz-1b1", 1065.3},
    {"TinyLlama-1.1B-Chat-v1.0", 1100.0},
    {"starcoderbase-1b", 1137.2},
    {"pythia-1.4b", 1414.6},
    {"codegemma-2b", 2506.2},
    {"stablecode-instruct-alpha-3b", 2769.3},
    {"stablecode-completion-alpha-3b-4k", 2769.3},
    {"phi-2", 2779.7},
};
#define NMODELS (sizeof g_models / sizeof g_models[0])

static const struct {
    const char *engine, *provider;
    double energy, time; /* relative factors */
    int skewed;          /* heavy right tail: not normal */
} g_confs[] = {
    {"torch", "cpu", 1.00, 1.00, 0}, {"torch", "cuda", 0.20, 0.15, 0},
    {"onnx", "cpu", 0.70, 0.75, 1},  {"onnx", "cuda", 0.35, 0.25, 0},
    {"ov", "cpu", 0.80, 0.85, 0},    {"jit", "cpu", 0.95, 0.95, 1},
    {"jit", "cuda", 0.22, 0.16, 0},
};
#define NCONFS (sizeof g_confs / sizeof g_confs[0])

struct rng {
    uint64_t s;
};

static double rng_u(struct rng *r) /* (0, 1) */
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_normal(struct rng *r)
{
    return sqrt(-2.0 * log(rng_u(r))) * cos(2.0 * M_PI * rng_u(r));
}

/* value of metric mt for model m, configuration c, one repetition */
static double synth_value(struct rng *r, int mt, size_t m, size_t c)
{
    double size = g_models[m].params_m / 1000.0;
    int cuda = !strcmp(g_confs[c].provider, "cuda");
    double noise = g_confs[c].skewed ? exp(0.35 * fabs(rng_normal(r))) : 1.0 + 0.03 * rng_normal(r);
    double base;
    switch (mt) {
    case JOULE_REPORT_ENERGY_GLOBAL_J:
        base = 9000.0 * (0.3 + size) * g_confs[c].energy;
        break;
    case JOULE_REPORT_ENERGY_CPU_J:
        base = 9000.0 * (0.3 + size) * g_confs[c].energy * (cuda ? 0.4 : 1.0);
        break;
    case JOULE_REPORT_ENERGY_GPU_J:
        if (!cuda) return NAN;
        base = 5400.0 * (0.3 + size) * g_confs[c].energy;
        break;
    case JOULE_REPORT_ENERGY_WATTMETER_J:
        base = 12000.0 * (0.3 + size) * g_confs[c].energy;
        break;
    case JOULE_REPORT_EXECUTION_S:
        base = 150.0 * (0.3 + size) * g_confs[c].time;
        break;
    case JOULE_REPORT_CPU_PCT:
        base = cuda ? 12.0 : 85.0;
        break;
    case JOULE_REPORT_RAM_PCT:
        base = 8.0 + 4.0 * size * (cuda ? 0.5 : 1.0);
        break;
    case JOULE_REPORT_GPU_UTIL_PCT:
        if (!cuda) return NAN;
        base = 40.0 + 15.0 * size;
        break;
    case JOULE_REPORT_GPU_MEM_UTIL_PCT:
        if (!cuda) return NAN;
        base = 10.0 + 10.0 * size;
        break;
    case JOULE_REPORT_GPU_MEM_USED_MB:
        if (!cuda) return NAN;
        base = 800.0 + 2200.0 * size;
        break;
    default:
        return NAN;
    }
    return base * noise;
}

enum joule_status joule_report_synthetic_rows(size_t reps, uint64_t seed,
                                              struct joule_report_rows *t)
{
    struct rng r = {seed};
    for (size_t m = 0; m < NMODELS; m++)
        for (size_t c = 0; c < NCONFS; c++)
            for (size_t k = 0; k < reps; k++)
                for (int mt = 0; mt < JOULE_REPORT_METRIC_COUNT; mt++) {
                    double v = synth_value(&r, mt, m, c);
                    if (isnan(v)) continue;
                    struct joule_report_row row = {.metric = (enum joule_report_metric)mt,
                                                   .model = g_models[m].name,
                                                   .params_m = g_models[m].params_m,
                                                   .engine = g_confs[c].engine,
                                                   .provider = g_confs[c].provider,
                                                   .repetition = (int)k + 1,
                                                   .value = v};
                    enum joule_status st = joule_report_rows_add(t, &row);
                    if (st) return st;
                }
    return JOULE_OK;
}

static const char *const g_schema =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
    "INSERT INTO meta VALUES('schema_version', '1');"
    "CREATE TABLE runs(id INTEGER PRIMARY KEY, campaign_id INTEGER, model TEXT, model_params "
    "INTEGER, size_category TEXT, engine TEXT, provider TEXT, repetition INTEGER, status TEXT, "
    "execution_s REAL, cpu_pct_mean REAL, ram_pct_mean REAL, gpu_util_pct_mean REAL, "
    "gpu_mem_util_pct_mean REAL, gpu_mem_used_mb_mean REAL, requests_ok INTEGER);"
    "CREATE TABLE run_energy(run_id INTEGER, source TEXT, estimated INTEGER, in_total INTEGER, "
    "gross_j REAL, idle_w REAL, net_j REAL, PRIMARY KEY(run_id, source));"
    "CREATE TABLE requests(run_id INTEGER, idx INTEGER, task_id TEXT, ok INTEGER, latency_ms "
    "REAL, PRIMARY KEY(run_id, idx));";

#define DB_CHECK(expr)                                                                             \
    do {                                                                                           \
        if ((expr) != SQLITE_OK) {                                                                 \
            st = joule_errorf(JOULE_ERR_IO, "synthetic db %s: %s", path, sqlite3_errmsg(db));      \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

enum joule_status joule_report_synthetic_db(const char *path, size_t reps, size_t requests_per_run,
                                            uint64_t seed)
{
    unlink(path);
    sqlite3 *db = NULL;
    sqlite3_stmt *ins_run = NULL, *ins_e = NULL, *ins_q = NULL;
    enum joule_status st = JOULE_OK;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        st = joule_errorf(JOULE_ERR_IO, "cannot create %s", path);
        goto out;
    }
    DB_CHECK(sqlite3_exec(db, g_schema, NULL, NULL, NULL));
    DB_CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL));
    DB_CHECK(sqlite3_prepare_v2(db,
                                "INSERT INTO runs(id, campaign_id, model, model_params, engine, "
                                "provider, repetition, status, execution_s, cpu_pct_mean, "
                                "ram_pct_mean, gpu_util_pct_mean, gpu_mem_util_pct_mean, "
                                "gpu_mem_used_mb_mean, requests_ok) VALUES(?,1,?,?,?,?,?,'done',"
                                "?,?,?,?,?,?,?)",
                                -1, &ins_run, NULL));
    DB_CHECK(sqlite3_prepare_v2(db, "INSERT INTO run_energy VALUES(?,?,?,?,?,NULL,NULL)", -1,
                                &ins_e, NULL));
    DB_CHECK(sqlite3_prepare_v2(db, "INSERT INTO requests VALUES(?,?,?,1,?)", -1, &ins_q, NULL));
    struct rng r = {seed};
    int64_t id = 0;
    for (size_t m = 0; m < NMODELS; m++)
        for (size_t c = 0; c < NCONFS; c++)
            for (size_t k = 0; k < reps; k++) {
                id++;
                double v[JOULE_REPORT_METRIC_COUNT];
                for (int mt = 0; mt < JOULE_REPORT_METRIC_COUNT; mt++)
                    v[mt] = synth_value(&r, mt, m, c);
                sqlite3_reset(ins_run);
                sqlite3_bind_int64(ins_run, 1, id);
                sqlite3_bind_text(ins_run, 2, g_models[m].name, -1, SQLITE_STATIC);
                sqlite3_bind_int64(ins_run, 3, (sqlite3_int64)(g_models[m].params_m * 1e6));
                sqlite3_bind_text(ins_run, 4, g_confs[c].engine, -1, SQLITE_STATIC);
                sqlite3_bind_text(ins_run, 5, g_confs[c].provider, -1, SQLITE_STATIC);
                sqlite3_bind_int(ins_run, 6, (int)k + 1);
                int cols[] = {JOULE_REPORT_EXECUTION_S,      JOULE_REPORT_CPU_PCT,
                              JOULE_REPORT_RAM_PCT,          JOULE_REPORT_GPU_UTIL_PCT,
                              JOULE_REPORT_GPU_MEM_UTIL_PCT, JOULE_REPORT_GPU_MEM_USED_MB};
                for (int i = 0; i < 6; i++) {
                    if (isnan(v[cols[i]]))
                        sqlite3_bind_null(ins_run, 7 + i);
                    else
                        sqlite3_bind_double(ins_run, 7 + i, v[cols[i]]);
                }
                sqlite3_bind_int64(ins_run, 13, (sqlite3_int64)requests_per_run);
                if (sqlite3_step(ins_run) != SQLITE_DONE) DB_CHECK(SQLITE_ERROR);
                /* energies: CPU package = the CPU metric, GPU = nvml, wall meter = netio; the
                 * global energy is recomputed by the loader as package + dram + gpu */
                const struct {
                    const char *src;
                    double j;
                } e[] = {{"rapl:package-0", v[JOULE_REPORT_ENERGY_CPU_J]},
                         {"nvml:0", v[JOULE_REPORT_ENERGY_GPU_J]},
                         {"netio:1", v[JOULE_REPORT_ENERGY_WATTMETER_J]}};
                for (size_t i = 0; i < 3; i++) {
                    if (isnan(e[i].j)) continue;
                    sqlite3_reset(ins_e);
                    sqlite3_bind_int64(ins_e, 1, id);
                    sqlite3_bind_text(ins_e, 2, e[i].src, -1, SQLITE_STATIC);
                    sqlite3_bind_int(ins_e, 3, 0);
                    sqlite3_bind_int(ins_e, 4, i < 2); /* the wall meter is not in the total */
                    sqlite3_bind_double(ins_e, 5, e[i].j);
                    if (sqlite3_step(ins_e) != SQLITE_DONE) DB_CHECK(SQLITE_ERROR);
                }
                for (size_t q = 0; q < requests_per_run; q++) {
                    char task[32];
                    snprintf(task, sizeof task, "HumanEval/%zu", q);
                    sqlite3_reset(ins_q);
                    sqlite3_bind_int64(ins_q, 1, id);
                    sqlite3_bind_int64(ins_q, 2, (sqlite3_int64)q);
                    sqlite3_bind_text(ins_q, 3, task, -1, SQLITE_TRANSIENT);
                    sqlite3_bind_double(
                        ins_q, 4, 1000.0 * v[JOULE_REPORT_EXECUTION_S] / (double)requests_per_run);
                    if (sqlite3_step(ins_q) != SQLITE_DONE) DB_CHECK(SQLITE_ERROR);
                }
            }
    DB_CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL));
out:
    sqlite3_finalize(ins_run);
    sqlite3_finalize(ins_e);
    sqlite3_finalize(ins_q);
    sqlite3_close(db);
    return st;
}
