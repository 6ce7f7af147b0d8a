/* bench: the results store, campaigns over a test server and the real one. */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "joule/bench.h"
#include "joule/status.h"
#include "util/fileio.h"

/* One integer from a query (or -1 on error / no row). */
static long long q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void make_plan(struct joule_bench_run_plan *p, int order, const char *engine, int rep)
{
    memset(p, 0, sizeof *p);
    p->order_index = order;
    snprintf(p->model, sizeof p->model, "gpt2");
    snprintf(p->model_path, sizeof p->model_path, "/m/gpt2");
    p->model_params = 123;
    snprintf(p->size_category, sizeof p->size_category, "small");
    snprintf(p->engine, sizeof p->engine, "%s", engine);
    snprintf(p->provider, sizeof p->provider, "cpu");
    p->repetition = rep;
}

static void test_store_roundtrip(void)
{
    char path[512];
    CHECK_OK(joule_path_join(path, sizeof path, test_tmpdir(), "store.db"));
    struct joule_bench_store *s = NULL;
    CHECK_OK(joule_bench_store_open(path, &s));
    if (!s) return;
    sqlite3 *db = joule_bench_store_db(s);
    struct joule_bench_machine m;
    joule_bench_machine_describe(&m);
    CHECK(m.cpu_cores > 0);
    CHECK(m.ram_mb > 0);
    CHECK(m.kernel[0] != 0);

    struct joule_bench_run_plan plans[2];
    make_plan(&plans[0], 0, "native", 1);
    make_plan(&plans[1], 1, "native", 2);
    int64_t cid = 0, cid2 = 0;
    int created = 0;
    CHECK_OK(joule_bench_store_campaign(s, "t", "{\"a\":1}", &m, plans, 2, &cid, &created));
    CHECK_EQ_INT(created, 1);
    CHECK_OK(joule_bench_store_campaign(s, "t", "{\"a\":1}", &m, plans, 2, &cid2, &created));
    CHECK_EQ_INT(created, 0);
    CHECK_EQ_INT(cid2, cid);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE status='pending'"), 2);

    struct joule_bench_run_plan *runs = NULL;
    size_t n = 0;
    CHECK_OK(joule_bench_store_list_runs(s, cid, &runs, &n));
    CHECK_EQ_INT(n, 2);
    if (n != 2) {
        free(runs);
        joule_bench_store_close(s);
        return;
    }
    CHECK_EQ_INT(runs[1].repetition, 2);
    CHECK_EQ_INT(runs[0].model_params, 123);

    /* A finished run needs to be 'running' first. */
    struct joule_bench_sample smp[3];
    memset(smp, 0, sizeof smp);
    for (int i = 0; i < 3; i++) {
        smp[i].t_ns = 1000 + i;
        smp[i].phase = JOULE_BENCH_PHASE_WORK;
        smp[i].cpu_pct = 10 * i;
        smp[i].gpu_util_pct = NAN;
        smp[i].gpu_mem_util_pct = NAN;
        smp[i].gpu_mem_used_mb = NAN;
        smp[i].energy_j[0] = i * 2.0;
        smp[i].power_w[0] = 2.0;
    }
    struct joule_bench_request req;
    memset(&req, 0, sizeof req);
    req.ok = 1;
    req.http_status = 200;
    snprintf(req.task_id, sizeof req.task_id, "x/0");
    req.prompt_tokens = 12;
    req.completion_tokens = -1;
    req.latency_ms = 5;
    req.queue_ms = NAN;
    req.prompt_ms = 1.5;
    req.decode_ms = 3;
    req.energy_j[0] = 0.5;
    req.net_energy_j[0] = 0.25;
    struct joule_bench_run_result r;
    memset(&r, 0, sizeof r);
    r.run_id = runs[0].id;
    r.n_sources = 1;
    snprintf(r.sources[0].name, sizeof r.sources[0].name, "estimate:cpu");
    r.sources[0].estimated = 1;
    r.energy[0].gross_j = 4;
    r.energy[0].idle_w = 1;
    r.energy[0].net_j = 3;
    r.samples = smp;
    r.n_samples = 3;
    r.requests = &req;
    r.n_requests = 1;
    r.requests_ok = 1;
    r.gpu_util_pct_mean = NAN;
    CHECK(joule_bench_store_finish_run(s, &r) == JOULE_ERR_INVALID_ARG);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM samples"), 0);

    CHECK_OK(joule_bench_store_mark_running(s, runs[0].id));
    CHECK_OK(joule_bench_store_mark_running(s, runs[1].id));
    CHECK_OK(joule_bench_store_finish_run(s, &r));
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE status='done'"), 1);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM sample_energy"), 3);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM request_energy"), 1);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM requests WHERE queue_ms IS NULL AND "
                           "completion_tokens IS NULL AND prompt_tokens=12"),
                 1);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE gpu_util_pct_mean IS NULL"), 2);

    /* The interrupted run goes back to pending; the done one stays. */
    int n_reset = 0;
    CHECK_OK(joule_bench_store_reset_interrupted(s, cid, &n_reset));
    CHECK_EQ_INT(n_reset, 1);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE status='pending'"), 1);
    CHECK_EQ_INT(q_int(db, "SELECT attempts FROM runs WHERE status='done'"), 1);

    /* Export: one file per table, header + rows, quoted fields. */
    char dir[512], csv[600];
    CHECK_OK(joule_path_join(dir, sizeof dir, test_tmpdir(), "csv"));
    int n_tables = 0;
    CHECK_OK(joule_bench_store_export_csv(s, dir, &n_tables));
    CHECK_EQ_INT(n_tables, 8);
    snprintf(csv, sizeof csv, "%s/requests.csv", dir);
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(joule_read_file(csv, 1 << 20, &text, &len));
    if (text) {
        CHECK(!strncmp(text, "run_id,idx,task_id,ok,http_status,", 34));
        CHECK(strstr(text, "\nx/0") == NULL); /* the row starts with run_id */
        CHECK(strstr(text, ",x/0,1,200,,12,,") != NULL);
        free(text);
    }
    free(runs);
    joule_bench_store_close(s);

    /* Another schema version is refused. */
    sqlite3 *raw = NULL;
    sqlite3_open(path, &raw);
    sqlite3_exec(raw, "UPDATE meta SET value='99' WHERE key='schema_version'", NULL, NULL, NULL);
    sqlite3_close(raw);
    s = NULL;
    CHECK(joule_bench_store_open(path, &s) == JOULE_ERR_FORMAT);
    CHECK(strstr(joule_last_error(), "version 99") != NULL);
    joule_bench_store_close(s);
}

int main(void)
{
    RUN(test_store_roundtrip);
    return test_summary();
}
