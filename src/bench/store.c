/* The results store: SQLite in WAL mode, schema in docs/results-schema.md. */
#include "joule/bench.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/fileio.h"

struct joule_bench_store {
    sqlite3 *db;
    char path[1024];
};

/* Keep in sync with docs/results-schema.md. */
static const char SCHEMA_SQL[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    "CREATE TABLE IF NOT EXISTS campaigns(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL,\n"
    "  settings_json TEXT NOT NULL UNIQUE,\n"
    "  hostname TEXT, cpu_model TEXT, cpu_cores INTEGER, ram_mb REAL, kernel TEXT, gpus TEXT,\n"
    "  joule_version TEXT NOT NULL,\n"
    "  schema_version INTEGER NOT NULL,\n"
    "  created_wall_ns INTEGER NOT NULL,\n"
    "  created_at TEXT NOT NULL);\n"
    "CREATE TABLE IF NOT EXISTS runs(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,\n"
    "  order_index INTEGER NOT NULL,\n"
    "  model TEXT NOT NULL, model_path TEXT NOT NULL, model_params INTEGER, size_category TEXT,\n"
    "  engine TEXT NOT NULL, provider TEXT NOT NULL, repetition INTEGER NOT NULL,\n"
    "  status TEXT NOT NULL DEFAULT 'pending'\n"
    "    CHECK(status IN ('pending','running','done','failed')),\n"
    "  error TEXT, attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  server_port INTEGER, server_pid INTEGER,\n"
    "  warmup_start_wall_ns INTEGER, warmup_end_wall_ns INTEGER,\n"
    "  warmup_start_mono_ns INTEGER, warmup_end_mono_ns INTEGER,\n"
    "  work_start_wall_ns INTEGER, work_end_wall_ns INTEGER,\n"
    "  work_start_mono_ns INTEGER, work_end_mono_ns INTEGER,\n"
    "  cooldown_start_wall_ns INTEGER, cooldown_end_wall_ns INTEGER,\n"
    "  cooldown_start_mono_ns INTEGER, cooldown_end_mono_ns INTEGER,\n"
    "  idle_start_mono_ns INTEGER, idle_end_mono_ns INTEGER,\n"
    "  execution_s REAL,\n"
    "  cpu_pct_mean REAL, ram_pct_mean REAL, server_cpu_pct_mean REAL, server_rss_mb_max REAL,\n"
    "  gpu_util_pct_mean REAL, gpu_mem_util_pct_mean REAL,\n"
    "  gpu_mem_used_mb_mean REAL, gpu_mem_used_mb_max REAL,\n"
    "  requests_ok INTEGER, requests_failed INTEGER,\n"
    "  prompt_tokens INTEGER, completion_tokens INTEGER,\n"
    "  n_samples INTEGER,\n"
    "  finished_wall_ns INTEGER,\n"
    "  UNIQUE(campaign_id, order_index),\n"
    "  UNIQUE(campaign_id, model_path, engine, provider, repetition));\n"
    "CREATE TABLE IF NOT EXISTS run_energy(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  source TEXT NOT NULL, estimated INTEGER NOT NULL, in_total INTEGER NOT NULL,\n"
    "  gross_j REAL, idle_w REAL, net_j REAL,\n"
    "  PRIMARY KEY(run_id, source));\n"
    "CREATE TABLE IF NOT EXISTS requests(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  idx INTEGER NOT NULL, task_id TEXT,\n"
    "  ok INTEGER NOT NULL, http_status INTEGER, error TEXT,\n"
    "  prompt_tokens INTEGER, completion_tokens INTEGER,\n"
    "  start_mono_ns INTEGER NOT NULL, end_mono_ns INTEGER NOT NULL,\n"
    "  latency_ms REAL NOT NULL, queue_ms REAL, prompt_ms REAL, decode_ms REAL,\n"
    "  PRIMARY KEY(run_id, idx));\n"
    "CREATE TABLE IF NOT EXISTS request_energy(\n"
    "  run_id INTEGER NOT NULL, idx INTEGER NOT NULL, source TEXT NOT NULL,\n"
    "  gross_j REAL, net_j REAL,\n"
    "  PRIMARY KEY(run_id, idx, source),\n"
    "  FOREIGN KEY(run_id, idx) REFERENCES requests(run_id, idx) ON DELETE CASCADE);\n"
    "CREATE TABLE IF NOT EXISTS samples(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  seq INTEGER NOT NULL, t_ns INTEGER NOT NULL, phase TEXT NOT NULL,\n"
    "  cpu_pct REAL, ram_pct REAL, server_cpu_pct REAL, server_rss_mb REAL,\n"
    "  gpu_util_pct REAL, gpu_mem_util_pct REAL, gpu_mem_used_mb REAL,\n"
    "  PRIMARY KEY(run_id, seq));\n"
    "CREATE TABLE IF NOT EXISTS sample_energy(\n"
    "  run_id INTEGER NOT NULL, seq INTEGER NOT NULL, source TEXT NOT NULL,\n"
    "  energy_j REAL, power_w REAL,\n"
    "  PRIMARY KEY(run_id, seq, source),\n"
    "  FOREIGN KEY(run_id, seq) REFERENCES samples(run_id, seq) ON DELETE CASCADE);\n"
    "CREATE INDEX IF NOT EXISTS runs_by_campaign ON runs(campaign_id, status);\n";

static enum joule_status db_error(struct joule_bench_store *s, const char *what)
{
    return joule_errorf(JOULE_ERR_IO, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static enum joule_status exec_sql(struct joule_bench_store *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        enum joule_status st =
            joule_errorf(JOULE_ERR_IO, "%s: %s", s->path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return st;
    }
    return JOULE_OK;
}

static enum joule_status prepare(struct joule_bench_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) return db_error(s, "prepare");
    return JOULE_OK;
}

/* Bind helpers: NAN / negative sentinels become NULL. */
static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}
static void bind_i64_or_null(sqlite3_stmt *st, int i, int64_t v, int64_t null_below)
{
    if (v < null_below)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}
static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

enum joule_status joule_bench_store_open(const char *path, struct joule_bench_store **out)
{
    *out = NULL;
    if (!path || !*path) return joule_errorf(JOULE_ERR_INVALID_ARG, "no database path");
    struct joule_bench_store *s = calloc(1, sizeof *s);
    if (!s) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    snprintf(s->path, sizeof s->path, "%s", path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        enum joule_status st = joule_errorf(JOULE_ERR_IO, "%s: cannot open database: %s", path,
                                            s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sqlite3_close(s->db);
        free(s);
        return st;
    }
    sqlite3_busy_timeout(s->db, 10000);
    enum joule_status st = exec_sql(s, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;"
                                       "PRAGMA synchronous=NORMAL;");
    if (st == JOULE_OK) st = exec_sql(s, "BEGIN IMMEDIATE");
    if (st == JOULE_OK) {
        st = exec_sql(s, SCHEMA_SQL);
        sqlite3_stmt *q = NULL;
        if (st == JOULE_OK)
            st = prepare(s, "SELECT value FROM meta WHERE key='schema_version'", &q);
        if (st == JOULE_OK) {
            if (sqlite3_step(q) == SQLITE_ROW) {
                int v = atoi((const char *)sqlite3_column_text(q, 0));
                if (v != JOULE_BENCH_SCHEMA_VERSION)
                    st = joule_errorf(JOULE_ERR_FORMAT,
                                      "%s: results schema version %d, this joule writes %d", path,
                                      v, JOULE_BENCH_SCHEMA_VERSION);
            } else {
                char sql[128];
                snprintf(sql, sizeof sql,
                         "INSERT INTO meta(key, value) VALUES('schema_version', '%d')",
                         JOULE_BENCH_SCHEMA_VERSION);
                st = exec_sql(s, sql);
            }
        }
        sqlite3_finalize(q);
        if (st == JOULE_OK)
            st = exec_sql(s, "COMMIT");
        else
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (st != JOULE_OK) {
        sqlite3_close(s->db);
        free(s);
        return st;
    }
    *out = s;
    return JOULE_OK;
}

void joule_bench_store_close(struct joule_bench_store *s)
{
    if (!s) return;
    sqlite3_close(s->db);
    free(s);
}

void *joule_bench_store_db(struct joule_bench_store *s)
{
    return s ? s->db : NULL;
}

const char *joule_bench_phase_name(enum joule_bench_phase p)
{
    static const char *const names[] = {"startup", "warmup", "work", "cooldown", "shutdown"};
    return (unsigned)p < JOULE_BENCH_PHASE_COUNT ? names[p] : "unknown";
}

/* ---- campaigns and runs ------------------------------------------------ */

static enum joule_status find_campaign(struct joule_bench_store *s, const char *settings,
                                       int64_t *id)
{
    sqlite3_stmt *q = NULL;
    enum joule_status st = prepare(s, "SELECT id FROM campaigns WHERE settings_json = ?", &q);
    if (st != JOULE_OK) return st;
    sqlite3_bind_text(q, 1, settings, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) st = db_error(s, "find campaign");
    sqlite3_finalize(q);
    return st;
}

static enum joule_status insert_campaign(struct joule_bench_store *s, const char *name,
                                         const char *settings, const struct joule_bench_machine *m,
                                         int64_t *id)
{
    sqlite3_stmt *q = NULL;
    enum joule_status st =
        prepare(s,
                "INSERT INTO campaigns(name, settings_json, hostname, cpu_model, cpu_cores, ram_mb,"
                " kernel, gpus, joule_version, schema_version, created_wall_ns, created_at)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                &q);
    if (st != JOULE_OK) return st;
    int64_t now = joule_wall_ns();
    char iso[40];
    joule_format_iso8601(now, iso, sizeof iso);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, settings, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, m->hostname, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, m->cpu_model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 5, m->cpu_cores);
    sqlite3_bind_double(q, 6, m->ram_mb);
    sqlite3_bind_text(q, 7, m->kernel, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 8, m->gpus, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 9, JOULE_VERSION, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 10, JOULE_BENCH_SCHEMA_VERSION);
    sqlite3_bind_int64(q, 11, now);
    sqlite3_bind_text(q, 12, iso, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_DONE) st = db_error(s, "insert campaign");
    sqlite3_finalize(q);
    *id = sqlite3_last_insert_rowid(s->db);
    return st;
}

static enum joule_status insert_plans(struct joule_bench_store *s, int64_t cid,
                                      const struct joule_bench_run_plan *plans, size_t n)
{
    sqlite3_stmt *q = NULL;
    enum joule_status st = prepare(s,
                                   "INSERT INTO runs(campaign_id, order_index, model, model_path,"
                                   " model_params, size_category, engine, provider, repetition)"
                                   " VALUES(?,?,?,?,?,?,?,?,?)",
                                   &q);
    for (size_t i = 0; st == JOULE_OK && i < n; i++) {
        const struct joule_bench_run_plan *p = &plans[i];
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, cid);
        sqlite3_bind_int(q, 2, p->order_index);
        sqlite3_bind_text(q, 3, p->model, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 4, p->model_path, -1, SQLITE_TRANSIENT);
        bind_i64_or_null(q, 5, p->model_params, 0);
        bind_text_or_null(q, 6, p->size_category);
        sqlite3_bind_text(q, 7, p->engine, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 8, p->provider, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(q, 9, p->repetition);
        if (sqlite3_step(q) != SQLITE_DONE) st = db_error(s, "insert run");
    }
    sqlite3_finalize(q);
    return st;
}

enum joule_status joule_bench_store_campaign(struct joule_bench_store *s, const char *name,
                                             const char *settings_json,
                                             const struct joule_bench_machine *machine,
                                             const struct joule_bench_run_plan *plans,
                                             size_t n_plans, int64_t *campaign_id, int *created)
{
    *campaign_id = 0;
    *created = 0;
    enum joule_status st = exec_sql(s, "BEGIN IMMEDIATE");
    if (st != JOULE_OK) return st;
    st = find_campaign(s, settings_json, campaign_id);
    if (st == JOULE_OK && !*campaign_id) {
        st = insert_campaign(s, name, settings_json, machine, campaign_id);
        if (st == JOULE_OK) st = insert_plans(s, *campaign_id, plans, n_plans);
        if (st == JOULE_OK) *created = 1;
    }
    if (st == JOULE_OK) st = exec_sql(s, "COMMIT");
    if (st != JOULE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        *campaign_id = 0;
        *created = 0;
    }
    return st;
}

enum joule_status joule_bench_store_reset_interrupted(struct joule_bench_store *s,
                                                      int64_t campaign_id, int *n_reset)
{
    if (n_reset) *n_reset = 0;
    enum joule_status st = exec_sql(s, "BEGIN IMMEDIATE");
    if (st != JOULE_OK) return st;
    /* Child rows of a 'running' run cannot exist (they are written in the
     * transaction that ends the run), but delete them anyway so the
     * invariant does not rest on that alone. */
    static const char *const sqls[] = {
        "DELETE FROM sample_energy WHERE run_id IN"
        " (SELECT id FROM runs WHERE campaign_id=?1 AND status='running')",
        "DELETE FROM samples WHERE run_id IN"
        " (SELECT id FROM runs WHERE campaign_id=?1 AND status='running')",
        "DELETE FROM request_energy WHERE run_id IN"
        " (SELECT id FROM runs WHERE campaign_id=?1 AND status='running')",
        "DELETE FROM requests WHERE run_id IN"
        " (SELECT id FROM runs WHERE campaign_id=?1 AND status='running')",
        "DELETE FROM run_energy WHERE run_id IN"
        " (SELECT id FROM runs WHERE campaign_id=?1 AND status='running')",
        "UPDATE runs SET status='pending', error='interrupted; redone' WHERE campaign_id=?1 AND "
        "status='running'",
    };
    for (size_t i = 0; st == JOULE_OK && i < sizeof sqls / sizeof *sqls; i++) {
        sqlite3_stmt *q = NULL;
        st = prepare(s, sqls[i], &q);
        if (st != JOULE_OK) break;
        sqlite3_bind_int64(q, 1, campaign_id);
        if (sqlite3_step(q) != SQLITE_DONE) st = db_error(s, "reset interrupted runs");
        if (st == JOULE_OK && n_reset && i + 1 == sizeof sqls / sizeof *sqls)
            *n_reset = sqlite3_changes(s->db);
        sqlite3_finalize(q);
    }
    if (st == JOULE_OK) st = exec_sql(s, "COMMIT");
    if (st != JOULE_OK) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

static void copy_col(char *dst, size_t cap, sqlite3_stmt *q, int col)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

enum joule_status joule_bench_store_list_runs(struct joule_bench_store *s, int64_t campaign_id,
                                              struct joule_bench_run_plan **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *q = NULL;
    enum joule_status st =
        prepare(s,
                "SELECT id, order_index, model, model_path, model_params, size_category, engine,"
                " provider, repetition, status, attempts FROM runs WHERE campaign_id=?"
                " ORDER BY order_index",
                &q);
    if (st != JOULE_OK) return st;
    sqlite3_bind_int64(q, 1, campaign_id);
    size_t cap = 0;
    struct joule_bench_run_plan *v = NULL;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            struct joule_bench_run_plan *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                st = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
                break;
            }
            v = nv;
        }
        struct joule_bench_run_plan *p = &v[(*n)++];
        memset(p, 0, sizeof *p);
        p->id = sqlite3_column_int64(q, 0);
        p->order_index = sqlite3_column_int(q, 1);
        copy_col(p->model, sizeof p->model, q, 2);
        copy_col(p->model_path, sizeof p->model_path, q, 3);
        p->model_params =
            sqlite3_column_type(q, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, 4);
        copy_col(p->size_category, sizeof p->size_category, q, 5);
        copy_col(p->engine, sizeof p->engine, q, 6);
        copy_col(p->provider, sizeof p->provider, q, 7);
        p->repetition = sqlite3_column_int(q, 8);
        copy_col(p->status, sizeof p->status, q, 9);
        p->attempts = sqlite3_column_int(q, 10);
    }
    if (st == JOULE_OK && rc != SQLITE_DONE) st = db_error(s, "list runs");
    sqlite3_finalize(q);
    if (st != JOULE_OK) {
        free(v);
        *n = 0;
        return st;
    }
    *out = v;
    return JOULE_OK;
}

enum joule_status joule_bench_store_mark_running(struct joule_bench_store *s, int64_t run_id)
{
    sqlite3_stmt *q = NULL;
    enum joule_status st = prepare(
        s, "UPDATE runs SET status='running', error=NULL, attempts=attempts+1 WHERE id=?", &q);
    if (st != JOULE_OK) return st;
    sqlite3_bind_int64(q, 1, run_id);
    if (sqlite3_step(q) != SQLITE_DONE)
        st = db_error(s, "mark run running");
    else if (sqlite3_changes(s->db) != 1)
        st = joule_errorf(JOULE_ERR_NOT_FOUND, "%s: no run with id %lld", s->path,
                          (long long)run_id);
    sqlite3_finalize(q);
    return st;
}

/* ---- finishing a run ---------------------------------------------------- */

static enum joule_status write_samples(struct joule_bench_store *s,
                                       const struct joule_bench_run_result *r)
{
    sqlite3_stmt *qs = NULL, *qe = NULL;
    enum joule_status st = prepare(s,
                                   "INSERT INTO samples(run_id, seq, t_ns, phase, cpu_pct, ram_pct,"
                                   " server_cpu_pct, server_rss_mb, gpu_util_pct,"
                                   " gpu_mem_util_pct, gpu_mem_used_mb)"
                                   " VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                                   &qs);
    if (st == JOULE_OK)
        st = prepare(s,
                     "INSERT INTO sample_energy(run_id, seq, source, energy_j, power_w)"
                     " VALUES(?,?,?,?,?)",
                     &qe);
    for (size_t i = 0; st == JOULE_OK && i < r->n_samples; i++) {
        const struct joule_bench_sample *x = &r->samples[i];
        sqlite3_reset(qs);
        sqlite3_bind_int64(qs, 1, r->run_id);
        sqlite3_bind_int64(qs, 2, (int64_t)i);
        sqlite3_bind_int64(qs, 3, x->t_ns);
        sqlite3_bind_text(qs, 4, joule_bench_phase_name(x->phase), -1, SQLITE_STATIC);
        bind_real(qs, 5, x->cpu_pct);
        bind_real(qs, 6, x->ram_pct);
        bind_real(qs, 7, x->server_cpu_pct);
        bind_real(qs, 8, x->server_rss_mb);
        bind_real(qs, 9, x->gpu_util_pct);
        bind_real(qs, 10, x->gpu_mem_util_pct);
        bind_real(qs, 11, x->gpu_mem_used_mb);
        if (sqlite3_step(qs) != SQLITE_DONE) {
            st = db_error(s, "insert sample");
            break;
        }
        for (size_t k = 0; k < r->n_sources; k++) {
            sqlite3_reset(qe);
            sqlite3_bind_int64(qe, 1, r->run_id);
            sqlite3_bind_int64(qe, 2, (int64_t)i);
            sqlite3_bind_text(qe, 3, r->sources[k].name, -1, SQLITE_TRANSIENT);
            bind_real(qe, 4, x->energy_j[k]);
            bind_real(qe, 5, x->power_w[k]);
            if (sqlite3_step(qe) != SQLITE_DONE) {
                st = db_error(s, "insert sample energy");
                break;
            }
        }
    }
    sqlite3_finalize(qs);
    sqlite3_finalize(qe);
    return st;
}

static enum joule_status write_requests(struct joule_bench_store *s,
                                        const struct joule_bench_run_result *r)
{
    sqlite3_stmt *qr = NULL, *qe = NULL;
    enum joule_status st =
        prepare(s,
                "INSERT INTO requests(run_id, idx, task_id, ok, http_status, error, prompt_tokens,"
                " completion_tokens, start_mono_ns, end_mono_ns, latency_ms, queue_ms, prompt_ms,"
                " decode_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                &qr);
    if (st == JOULE_OK)
        st = prepare(s,
                     "INSERT INTO request_energy(run_id, idx, source, gross_j, net_j)"
                     " VALUES(?,?,?,?,?)",
                     &qe);
    for (size_t i = 0; st == JOULE_OK && i < r->n_requests; i++) {
        const struct joule_bench_request *x = &r->requests[i];
        sqlite3_reset(qr);
        sqlite3_bind_int64(qr, 1, r->run_id);
        sqlite3_bind_int(qr, 2, x->idx);
        bind_text_or_null(qr, 3, x->task_id);
        sqlite3_bind_int(qr, 4, x->ok ? 1 : 0);
        bind_i64_or_null(qr, 5, x->http_status, 1);
        bind_text_or_null(qr, 6, x->error);
        bind_i64_or_null(qr, 7, x->prompt_tokens, 0);
        bind_i64_or_null(qr, 8, x->completion_tokens, 0);
        sqlite3_bind_int64(qr, 9, x->start_ns);
        sqlite3_bind_int64(qr, 10, x->end_ns);
        sqlite3_bind_double(qr, 11, x->latency_ms);
        bind_real(qr, 12, x->queue_ms);
        bind_real(qr, 13, x->prompt_ms);
        bind_real(qr, 14, x->decode_ms);
        if (sqlite3_step(qr) != SQLITE_DONE) {
            st = db_error(s, "insert request");
            break;
        }
        for (size_t k = 0; k < r->n_sources; k++) {
            sqlite3_reset(qe);
            sqlite3_bind_int64(qe, 1, r->run_id);
            sqlite3_bind_int(qe, 2, x->idx);
            sqlite3_bind_text(qe, 3, r->sources[k].name, -1, SQLITE_TRANSIENT);
            bind_real(qe, 4, x->energy_j[k]);
            bind_real(qe, 5, x->net_energy_j[k]);
            if (sqlite3_step(qe) != SQLITE_DONE) {
                st = db_error(s, "insert request energy");
                break;
            }
        }
    }
    sqlite3_finalize(qr);
    sqlite3_finalize(qe);
    return st;
}

static enum joule_status write_energy(struct joule_bench_store *s,
                                      const struct joule_bench_run_result *r)
{
    sqlite3_stmt *q = NULL;
    enum joule_status st = prepare(s,
                                   "INSERT INTO run_energy(run_id, source, estimated, in_total,"
                                   " gross_j, idle_w, net_j) VALUES(?,?,?,?,?,?,?)",
                                   &q);
    for (size_t k = 0; st == JOULE_OK && k < r->n_sources; k++) {
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, r->run_id);
        sqlite3_bind_text(q, 2, r->sources[k].name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(q, 3, r->sources[k].estimated ? 1 : 0);
        sqlite3_bind_int(q, 4, r->sources[k].in_total ? 1 : 0);
        bind_real(q, 5, r->energy[k].gross_j);
        bind_real(q, 6, r->energy[k].idle_w);
        bind_real(q, 7, r->energy[k].net_j);
        if (sqlite3_step(q) != SQLITE_DONE) st = db_error(s, "insert run energy");
    }
    sqlite3_finalize(q);
    return st;
}

static void bind_phase(sqlite3_stmt *q, int first, const struct joule_bench_phase_times *p)
{
    bind_i64_or_null(q, first, p->start_wall_ns, 1);
    bind_i64_or_null(q, first + 1, p->end_wall_ns, 1);
    bind_i64_or_null(q, first + 2, p->start_mono_ns, 1);
    bind_i64_or_null(q, first + 3, p->end_mono_ns, 1);
}

static enum joule_status update_run(struct joule_bench_store *s,
                                    const struct joule_bench_run_result *r)
{
    sqlite3_stmt *q = NULL;
    enum joule_status st =
        prepare(s,
                "UPDATE runs SET status=?1, error=?2, server_port=?3, server_pid=?4,"
                " warmup_start_wall_ns=?5, warmup_end_wall_ns=?6, warmup_start_mono_ns=?7,"
                " warmup_end_mono_ns=?8, work_start_wall_ns=?9, work_end_wall_ns=?10,"
                " work_start_mono_ns=?11, work_end_mono_ns=?12, cooldown_start_wall_ns=?13,"
                " cooldown_end_wall_ns=?14, cooldown_start_mono_ns=?15, cooldown_end_mono_ns=?16,"
                " idle_start_mono_ns=?17, idle_end_mono_ns=?18, execution_s=?19, cpu_pct_mean=?20,"
                " ram_pct_mean=?21, server_cpu_pct_mean=?22, server_rss_mb_max=?23,"
                " gpu_util_pct_mean=?24, gpu_mem_util_pct_mean=?25, gpu_mem_used_mb_mean=?26,"
                " gpu_mem_used_mb_max=?27, requests_ok=?28, requests_failed=?29, prompt_tokens=?30,"
                " completion_tokens=?31, n_samples=?32, finished_wall_ns=?33"
                " WHERE id=?34 AND status='running'",
                &q);
    if (st != JOULE_OK) return st;
    sqlite3_bind_text(q, 1, r->failed ? "failed" : "done", -1, SQLITE_STATIC);
    bind_text_or_null(q, 2, r->error);
    bind_i64_or_null(q, 3, r->server_port, 1);
    bind_i64_or_null(q, 4, r->server_pid, 1);
    bind_phase(q, 5, &r->warmup);
    bind_phase(q, 9, &r->work);
    bind_phase(q, 13, &r->cooldown);
    bind_i64_or_null(q, 17, r->idle_start_mono_ns, 1);
    bind_i64_or_null(q, 18, r->idle_end_mono_ns, 1);
    bind_real(q, 19, r->execution_s);
    bind_real(q, 20, r->cpu_pct_mean);
    bind_real(q, 21, r->ram_pct_mean);
    bind_real(q, 22, r->server_cpu_pct_mean);
    bind_real(q, 23, r->server_rss_mb_max);
    bind_real(q, 24, r->gpu_util_pct_mean);
    bind_real(q, 25, r->gpu_mem_util_pct_mean);
    bind_real(q, 26, r->gpu_mem_used_mb_mean);
    bind_real(q, 27, r->gpu_mem_used_mb_max);
    sqlite3_bind_int(q, 28, r->requests_ok);
    sqlite3_bind_int(q, 29, r->requests_failed);
    sqlite3_bind_int64(q, 30, r->prompt_tokens);
    sqlite3_bind_int64(q, 31, r->completion_tokens);
    sqlite3_bind_int64(q, 32, (int64_t)r->n_samples);
    sqlite3_bind_int64(q, 33, joule_wall_ns());
    sqlite3_bind_int64(q, 34, r->run_id);
    if (sqlite3_step(q) != SQLITE_DONE)
        st = db_error(s, "update run");
    else if (sqlite3_changes(s->db) != 1)
        st = joule_errorf(JOULE_ERR_INVALID_ARG, "%s: run %lld is not 'running'", s->path,
                          (long long)r->run_id);
    sqlite3_finalize(q);
    return st;
}

enum joule_status joule_bench_store_finish_run(struct joule_bench_store *s,
                                               const struct joule_bench_run_result *r)
{
    if (r->n_sources > JOULE_BENCH_MAX_SOURCES)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "too many energy sources (%zu)", r->n_sources);
    enum joule_status st = exec_sql(s, "BEGIN IMMEDIATE");
    if (st != JOULE_OK) return st;
    st = update_run(s, r); /* first: refuses a run that is not 'running' */
    if (st == JOULE_OK) st = write_samples(s, r);
    if (st == JOULE_OK) st = write_requests(s, r);
    if (st == JOULE_OK) st = write_energy(s, r);
    if (st == JOULE_OK) st = exec_sql(s, "COMMIT");
    if (st != JOULE_OK) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* ---- CSV export ---------------------------------------------------------- */

static void csv_field(FILE *f, const char *v)
{
    if (!strpbrk(v, ",\"\r\n")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (const char *p = v; *p; p++) {
        if (*p == '"') fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static enum joule_status export_table(struct joule_bench_store *s, const char *table,
                                      const char *dir)
{
    char path[2048], tmp[2100], sql[256];
    enum joule_status st = joule_path_join(path, sizeof path, dir, table);
    if (st != JOULE_OK) return st;
    strncat(path, ".csv", sizeof path - strlen(path) - 1);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* Table names come from sqlite_master and are plain identifiers; quote anyway. */
    snprintf(sql, sizeof sql, "SELECT * FROM \"%s\" ORDER BY rowid", table);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
        /* WITHOUT ROWID tables are not used, but stay correct if one appears. */
        snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", table);
        st = prepare(s, sql, &q);
        if (st != JOULE_OK) return st;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        sqlite3_finalize(q);
        return joule_errorf(JOULE_ERR_IO, "%s: %s", tmp, strerror(errno));
    }
    int nc = sqlite3_column_count(q);
    for (int c = 0; c < nc; c++) {
        if (c) fputc(',', f);
        csv_field(f, sqlite3_column_name(q, c));
    }
    fputc('\n', f);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        for (int c = 0; c < nc; c++) {
            if (c) fputc(',', f);
            switch (sqlite3_column_type(q, c)) {
            case SQLITE_NULL:
                break;
            case SQLITE_INTEGER:
                fprintf(f, "%lld", (long long)sqlite3_column_int64(q, c));
                break;
            case SQLITE_FLOAT:
                fprintf(f, "%.17g", sqlite3_column_double(q, c));
                break;
            default:
                csv_field(f, (const char *)sqlite3_column_text(q, c));
            }
        }
        fputc('\n', f);
    }
    if (rc != SQLITE_DONE) st = db_error(s, "export");
    sqlite3_finalize(q);
    if (fclose(f) != 0 && st == JOULE_OK) st = joule_errorf(JOULE_ERR_IO, "%s: write failed", tmp);
    if (st == JOULE_OK && rename(tmp, path) != 0)
        st = joule_errorf(JOULE_ERR_IO, "%s: %s", path, strerror(errno));
    if (st != JOULE_OK) remove(tmp);
    return st;
}

enum joule_status joule_bench_store_export_csv(struct joule_bench_store *s, const char *dir,
                                               int *n_tables)
{
    if (n_tables) *n_tables = 0;
    enum joule_status st = joule_mkdirs(dir);
    if (st != JOULE_OK) return st;
    sqlite3_stmt *q = NULL;
    st = prepare(s,
                 "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                 " ORDER BY name",
                 &q);
    if (st != JOULE_OK) return st;
    /* A read transaction so every table is exported from the same snapshot. */
    st = exec_sql(s, "BEGIN");
    int rc;
    while (st == JOULE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        char name[256];
        snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(q, 0));
        st = export_table(s, name, dir);
        if (st == JOULE_OK && n_tables) (*n_tables)++;
    }
    sqlite3_finalize(q);
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    return st;
}
