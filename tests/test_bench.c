/* bench: the results store, campaign files, campaigns over a stand-in server
 * (tests/fake_serve: end to end, a crashing server, kill -9 in every phase and
 * resume) and over the real `joule serve` when it is built. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "test.h"
#include "bench/bench_impl.h"
#include "joule/bench.h"
#include "joule/status.h"
#include "util/clock.h"
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

/* ---- campaign files --------------------------------------------------------- */

static const char *write_tmp(const char *name, const char *text)
{
    static char path[512];
    joule_path_join(path, sizeof path, test_tmpdir(), name);
    joule_write_file_atomic(path, text, strlen(text));
    return path;
}

/* The error of loading `json` as a campaign file must name `field`. */
static void check_bad_campaign(const char *json, const char *field)
{
    struct joule_bench_settings *s = malloc(sizeof *s);
    joule_bench_default_settings(s);
    const char *path = write_tmp("bad.json", json);
    enum joule_status st = joule_bench_settings_load(path, s);
    CHECK(st != JOULE_OK);
    if (!strstr(joule_last_error(), field))
        test_fail(__FILE__, __LINE__, "error for %s does not name '%s': %s", json, field,
                  joule_last_error());
    else
        test_pass();
    free(s);
}

static void test_campaign_file(void)
{
    /* A good file: lists as arrays or comma strings, relative paths resolved. */
    struct joule_bench_settings *s = malloc(sizeof *s);
    joule_bench_default_settings(s);
    CHECK_EQ_STR(s->engines[0], "native");
    const char *path =
        write_tmp("good.json", "{\"name\": \"c1\", \"models\": [\"m/a\", \"/abs/b\"],"
                               " \"engines\": \"native, ggml\", \"reps\": 3,"
                               " \"warmup\": 2.5, \"prompts\": \"p.jsonl\","
                               " \"sensors\": [\"procfs\", \"estimate\"]}");
    CHECK_OK(joule_bench_settings_load(path, s));
    CHECK_EQ_INT(s->n_models, 2);
    char want[600];
    snprintf(want, sizeof want, "%s/m/a", test_tmpdir());
    CHECK_EQ_STR(s->models[0], want);
    CHECK_EQ_STR(s->models[1], "/abs/b");
    CHECK_EQ_INT(s->n_engines, 2);
    CHECK_EQ_STR(s->engines[1], "ggml");
    CHECK_EQ_INT(s->n_providers, 1); /* default kept */
    CHECK_EQ_INT(s->reps, 3);
    CHECK_NEAR(s->warmup_s, 2.5, 0);
    CHECK_NEAR(s->cooldown_s, 300, 0);
    CHECK_EQ_STR(s->sensors, "procfs,estimate");
    free(s);

    check_bad_campaign("{\"models\": [\"m\"], \"prompts\": \"p\", \"reps\": \"two\"}", "'reps'");
    check_bad_campaign("{\"models\": [\"m\"], \"prompts\": \"p\", \"reps\": 0}", "'reps'");
    check_bad_campaign("{\"models\": [\"m\"], \"prompts\": \"p\", \"warmup\": -1}", "'warmup'");
    check_bad_campaign("{\"models\": [], \"prompts\": \"p\"}", "'models'");
    check_bad_campaign("{\"models\": [3], \"prompts\": \"p\"}", "'models'");
    check_bad_campaign("{\"prompts\": \"p\"}", "'models'");
    check_bad_campaign("{\"models\": \"m\"}", "'prompts'");
    check_bad_campaign("{\"models\": \"m\", \"prompts\": \"p\", \"repz\": 2}", "'repz'");
    check_bad_campaign("{\"models\": \"m\", \"prompts\": \"p\", \"engines\": \"a,,b\"}",
                       "'engines'");
    check_bad_campaign("{\"models\": \"m\", \"prompts\": \"p\", \"seed\": 1.5}", "'seed'");
    check_bad_campaign("{\"models\": \"m\", \"prompts\": \"p\",", "invalid JSON");
    check_bad_campaign("[1, 2]", "JSON object");
    check_bad_campaign("{\"models\": \"m\\u0000x\", \"prompts\": \"p\"}", "NUL");

    /* a prompt with a NUL would be sent cut short: refused, naming the line */
    char txt[] = "{\"prompt\":\"ok\"}\n{\"prompt\":\"a\\u0000b\"}\n";
    struct bench_prompt *bp = NULL;
    size_t bn = 0;
    CHECK_EQ_INT(bench_prompts_parse(txt, "p.jsonl", 0, &bp, &bn), JOULE_ERR_FORMAT);
    CHECK(strstr(joule_last_error(), "p.jsonl:2: a string holds NUL") != NULL);
    CHECK(bp == NULL && bn == 0);
}

/* ---- running joule bench ----------------------------------------------------- */

static char g_out[512], g_err[512];

/* Start `joule bench ARGS... --quiet` with stdout/stderr to files; returns the pid. */
static pid_t spawn_bench(const char *const *args)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = test_joule_bin();
    argv[n++] = "bench";
    for (int i = 0; args[i] && n < 60; i++)
        argv[n++] = args[i];
    argv[n++] = "--quiet";
    argv[n] = NULL;
    joule_path_join(g_out, sizeof g_out, test_tmpdir(), "bench.out");
    joule_path_join(g_err, sizeof g_err, test_tmpdir(), "bench.err");
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(g_out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(g_err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_rc(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_bench(const char *const *args)
{
    return wait_rc(spawn_bench(args));
}

/* Contents of a small text file (static buffer). */
static const char *slurp(const char *path)
{
    static char buf[65536];
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Wait until `path` holds the whole lines `seq[0..n-1]` in this order (others may come between). */
static int wait_for_lines(const char *path, const char *const *seq, int n, double timeout_s)
{
    int64_t end = joule_now_ns() + (int64_t)(timeout_s * 1e9);
    while (joule_now_ns() < end) {
        const char *t = slurp(path), *p = t;
        int k = 0;
        while (k < n && *p) {
            size_t len = strcspn(p, "\n");
            if (p[len] != '\n') break; /* an unfinished last line */
            if (len == strlen(seq[k]) && !strncmp(p, seq[k], len)) k++;
            p += len + 1;
        }
        if (k == n) return 1;
        joule_sleep_ns(5000000);
    }
    return 0;
}

struct fixture {
    char dir[512];
    char model[600];
    char prompts[600];
    char db[600];
    char events[600];
};

/* A model directory and a prompts file (the study's first prompts) in a fresh directory. */
/* A complete model directory <dir>/<arch>: the fixture checkpoint (vocabulary 512) with the
 * tiny byte-level tokenizer beside it. */
static void copy_model(const char *dir, const char *arch, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, arch);
    joule_mkdirs(out);
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char src[512], dst[700];
        snprintf(src, sizeof src, "models/%s/%s", arch, files[i]);
        char *data = NULL;
        size_t len = 0;
        if (joule_read_file(test_fixture(src), 1 << 26, &data, &len) == JOULE_OK) {
            snprintf(dst, sizeof dst, "%s/%s", out, files[i]);
            joule_write_file_atomic(dst, data, len);
            free(data);
        }
    }
    {
        char *data = NULL;
        size_t len = 0;
        if (joule_read_file(test_fixture("tokenizers/tiny_bytelevel_512/tokenizer.json"), 1 << 26,
                            &data, &len) == JOULE_OK) {
            char dst[700];
            snprintf(dst, sizeof dst, "%s/tokenizer.json", out);
            joule_write_file_atomic(dst, data, len);
            free(data);
        }
    }
}

static void make_fixture(struct fixture *f, const char *name, int n_prompts)
{
    joule_path_join(f->dir, sizeof f->dir, test_tmpdir(), name);
    copy_model(f->dir, "gpt2", f->model, sizeof f->model);
    /* Prompts in the dataset command's shape. */
    char text[4096] = "";
    for (int i = 0; i < n_prompts; i++) {
        size_t l = strlen(text);
        snprintf(text + l, sizeof text - l,
                 "{\"task_id\": \"HumanEval/%d\", \"prompt\": \"def f%d(x):\\n    return\", "
                 "\"n_tokens\": %d, \"seed\": 1}\n",
                 i, i, 10 + i);
    }
    snprintf(f->prompts, sizeof f->prompts, "%s/prompts.jsonl", f->dir);
    joule_write_file_atomic(f->prompts, text, strlen(text));
    snprintf(f->db, sizeof f->db, "%s/results.db", f->dir);
    snprintf(f->events, sizeof f->events, "%s/events.txt", f->dir);
    setenv("FAKE_SERVE_EVENTS", f->events, 1);
    setenv("JOULE_BENCH_SERVER_CMD", FAKE_SERVE_BIN, 1);
    unsetenv("FAKE_SERVE_CRASH_ENGINE");
    setenv("FAKE_SERVE_WORK_MS", "20", 1);
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        test_fail(__FILE__, __LINE__, "cannot open %s", path);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static long long q_intf(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static long long q_intf(sqlite3 *db, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return q_int(db, sql);
}

/* Every 'done' run is complete: its requests, samples, energy rows and numbers. */
static void check_done_runs_complete(sqlite3 *db, int n_prompts)
{
    CHECK_EQ_INT(q_intf(db,
                        "SELECT count(*) FROM runs r WHERE status='done' AND ("
                        " (SELECT count(*) FROM requests q WHERE q.run_id=r.id) != %d"
                        " OR requests_ok + requests_failed != %d"
                        " OR n_samples != (SELECT count(*) FROM samples s WHERE s.run_id=r.id)"
                        " OR n_samples < 4"
                        " OR (SELECT count(*) FROM run_energy e WHERE e.run_id=r.id) < 1"
                        " OR execution_s IS NULL OR work_end_mono_ns IS NULL"
                        " OR cooldown_end_mono_ns IS NULL)",
                        n_prompts, n_prompts),
                 0);
}

/* Every field of the schema is filled for a campaign of n_runs runs of
 * n_prompts prompts each, all done. */
static void check_every_field(sqlite3 *db, int n_runs, int n_prompts, double warmup_s,
                              double cooldown_s)
{
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE status='done'"), n_runs);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE model_params > 0"
                           " AND size_category='small' AND provider='cpu' AND attempts=1"
                           " AND error IS NULL AND model != '' AND model_path != ''"),
                 n_runs);
    CHECK_EQ_INT(q_int(db, "SELECT sum(order_index) FROM runs"), n_runs * (n_runs - 1) / 2);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM campaigns WHERE cpu_cores > 0"
                           " AND ram_mb > 0 AND kernel != '' AND cpu_model IS NOT NULL"
                           " AND gpus IS NOT NULL AND joule_version != '' AND schema_version = 1"
                           " AND created_at LIKE '20%Z'"),
                 1);
    /* phases in time order, idle window inside the warm-up's second half */
    CHECK_EQ_INT(
        q_intf(db,
               "SELECT count(*) FROM runs WHERE warmup_start_mono_ns < warmup_end_mono_ns"
               " AND warmup_end_mono_ns <= work_start_mono_ns"
               " AND work_start_mono_ns < work_end_mono_ns"
               " AND work_end_mono_ns <= cooldown_start_mono_ns"
               " AND cooldown_start_mono_ns < cooldown_end_mono_ns"
               " AND warmup_start_wall_ns > 1700000000000000000"
               " AND work_end_wall_ns > work_start_wall_ns"
               " AND cooldown_end_wall_ns > cooldown_start_wall_ns"
               " AND idle_end_mono_ns = warmup_end_mono_ns"
               " AND abs(idle_start_mono_ns - (warmup_start_mono_ns + warmup_end_mono_ns)/2) <= 1"
               " AND abs(execution_s*1e9 - (work_end_mono_ns - work_start_mono_ns)) < 1000"
               " AND (warmup_end_mono_ns - warmup_start_mono_ns) >= %lld"
               " AND (cooldown_end_mono_ns - cooldown_start_mono_ns) >= %lld",
               (long long)(warmup_s * 1e9), (long long)(cooldown_s * 1e9)),
        n_runs);
    /* resources and counts */
    CHECK_EQ_INT(q_intf(db,
                        "SELECT count(*) FROM runs WHERE cpu_pct_mean BETWEEN 0 AND 100"
                        " AND ram_pct_mean BETWEEN 0 AND 100 AND server_cpu_pct_mean >= 0"
                        " AND server_rss_mb_max > 0 AND requests_ok=%d AND requests_failed=0"
                        " AND prompt_tokens > 0 AND completion_tokens > 0"
                        " AND server_port > 0 AND server_pid > 0 AND finished_wall_ns > 0",
                        n_prompts),
                 n_runs);
    /* GPU columns: measured, or NULL on a machine without one, never invented */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE (gpu_util_pct_mean IS NULL) !="
                           " (SELECT gpus = '' FROM campaigns)"),
                 0);
    /* energy per source: net = gross - idle_w x execution_s */
    CHECK(q_int(db, "SELECT count(*) FROM run_energy") >= n_runs);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM run_energy e JOIN runs r ON r.id=e.run_id"
                           " WHERE gross_j IS NULL OR idle_w IS NULL OR gross_j < 0 OR idle_w < 0"
                           " OR abs(net_j - (gross_j - idle_w*r.execution_s)) > 1e-9*(1+gross_j)"),
                 0);
    CHECK(q_int(db, "SELECT count(*) FROM run_energy WHERE in_total=1") >= n_runs);
    /* requests */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM requests WHERE ok=1 AND http_status=200"
                           " AND task_id IS NOT NULL AND prompt_tokens > 0"
                           " AND completion_tokens > 0 AND latency_ms > 0"
                           " AND abs(latency_ms*1e6 - (end_mono_ns - start_mono_ns)) < 1000"
                           " AND queue_ms IS NOT NULL AND prompt_ms > 0 AND decode_ms > 0"),
                 n_runs * n_prompts);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM requests q JOIN runs r ON r.id=q.run_id"
                           " WHERE q.start_mono_ns < r.work_start_mono_ns"
                           " OR q.end_mono_ns > r.work_end_mono_ns"),
                 0);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM request_energy"),
                 q_int(db, "SELECT count(*) FROM requests") *
                     q_int(db, "SELECT count(DISTINCT source) FROM run_energy"));
    CHECK_EQ_INT(q_int(db,
                       "SELECT count(*) FROM request_energy WHERE gross_j IS NULL OR gross_j < 0"
                       " OR net_j IS NULL"),
                 0);
    /* samples: every phase, cumulative energy never decreasing */
    CHECK_EQ_INT(q_int(db, "SELECT count(DISTINCT phase) FROM samples"), 5);
    /* (a CPU % needs time between two readings: back-to-back readings may lack it) */
    CHECK(q_int(db, "SELECT count(*) FROM samples WHERE cpu_pct BETWEEN 0 AND 100") * 2 >
          q_int(db, "SELECT count(*) FROM samples"));
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM samples WHERE ram_pct BETWEEN 0 AND 100"),
                 q_int(db, "SELECT count(*) FROM samples"));
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM sample_energy a JOIN sample_energy b"
                           " ON a.run_id=b.run_id AND a.source=b.source AND b.seq=a.seq+1"
                           " WHERE b.energy_j < a.energy_j - 1e-9"),
                 0);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM samples s JOIN runs r ON r.id=s.run_id WHERE"
                           " (s.phase='work') != (s.t_ns >= r.work_start_mono_ns AND"
                           " s.t_ns < r.cooldown_start_mono_ns)"),
                 0);
    check_done_runs_complete(db, n_prompts);
}

static void test_end_to_end_fake(void)
{
    struct fixture f;
    make_fixture(&f, "e2e", 3);
    const char *args[] = {"--model",   f.model,    "--engine", "native,ggml", "--reps",
                          "2",         "--warmup", "1",        "--cooldown",  "0.5",
                          "--prompts", f.prompts,  "--db",     f.db,          "--seed",
                          "7",         "--name",   "e2e",      NULL};
    CHECK_EQ_INT(run_bench(args), 0);
    const char *out = slurp(g_out);
    CHECK(strstr(out, "run 4/4 gpt2 ") != NULL);
    CHECK(strstr(out, "4 runs; this time 4 done, 0 failed") != NULL);
    sqlite3 *db = open_db(f.db);
    if (!db) return;
    /* campaigns */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM campaigns WHERE name='e2e' AND cpu_cores > 0"
                           " AND ram_mb > 0 AND kernel != '' AND cpu_model IS NOT NULL"
                           " AND gpus IS NOT NULL AND joule_version != ''"
                           " AND settings_json LIKE '%\"seed\":7%' AND created_at LIKE '20%Z'"),
                 1);
    /* runs: the 2 configurations x 2 repetitions, each once */
    CHECK_EQ_INT(q_int(db, "SELECT count(DISTINCT engine || repetition) FROM runs"), 4);
    /* model_params: the fixture's safetensors header, counted independently here:
     * gpt2 fixture = wte 512x64 + wpe 128x64 + 2 layers + ln_f (see config.json). */
    {
        long long e = 64, v = 512, p = 128, ff = 4 * e;
        long long layer =
            2 * e + (e * 3 * e + 3 * e) + (e * e + e) + 2 * e + (e * ff + ff) + (ff * e + e);
        long long want = v * e + p * e + 2 * layer + 2 * e;
        CHECK_EQ_INT(q_int(db, "SELECT model_params FROM runs LIMIT 1"), want);
    }
    check_every_field(db, 4, 3, 1.0, 0.5);
    /* what the stand-in server answers: usage and timings of every request */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE requests_ok=3 AND prompt_tokens=15"
                           " AND completion_tokens=3*123"),
                 4);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM requests WHERE task_id LIKE 'HumanEval/%'"
                           " AND prompt_tokens=5 AND completion_tokens=123 AND latency_ms >= 20"),
                 12);
    sqlite3_close(db);

    /* The same campaign again: nothing to do, nothing changes. */
    CHECK_EQ_INT(run_bench(args), 0);
    CHECK(strstr(slurp(g_out), "this time 0 done, 0 failed; 4 skipped") != NULL);
    db = open_db(f.db);
    if (db) {
        CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM campaigns"), 1);
        CHECK_EQ_INT(q_int(db, "SELECT sum(attempts) FROM runs"), 4);
        sqlite3_close(db);
    }

    /* export */
    char dir[700], cmd[2048];
    snprintf(dir, sizeof dir, "%s/csv", f.dir);
    snprintf(cmd, sizeof cmd, "'%s' export --db '%s' --format csv --out '%s' >/dev/null",
             test_joule_bin(), f.db, dir);
    CHECK_EQ_INT(system(cmd), 0);
    const char *tables[] = {"campaigns",      "runs",    "run_energy",    "requests",
                            "request_energy", "samples", "sample_energy", "meta"};
    for (int i = 0; i < 8; i++) {
        char p[800];
        snprintf(p, sizeof p, "%s/%s.csv", dir, tables[i]);
        CHECK(joule_is_file(p));
    }
    char p[800];
    snprintf(p, sizeof p, "%s/runs.csv", dir);
    const char *csv = slurp(p);
    CHECK(!strncmp(csv, "id,campaign_id,order_index,model,model_path,model_params,", 57));
    int lines = 0;
    for (const char *c = csv; *c; c++)
        lines += *c == '\n';
    CHECK_EQ_INT(lines, 5);
}

/* The real `joule serve` (this build's joule program): two models x two repetitions,
 * by the OpenAI route with a short max-length. */
static void test_end_to_end_real_server(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' serve --help >/dev/null 2>&1", test_joule_bin());
    if (system(cmd) != 0) {
        test_skip("this build has no joule serve");
        return;
    }
    struct fixture f;
    make_fixture(&f, "real", 2);
    unsetenv("JOULE_BENCH_SERVER_CMD");
    char llama[700], models[1500];
    copy_model(f.dir, "llama", llama, sizeof llama);
    snprintf(models, sizeof models, "%s,%s", f.model, llama);
    const char *args[] = {"--model", models,       "--reps",       "2",         "--warmup",
                          "0.5",     "--cooldown", "0.3",          "--prompts", f.prompts,
                          "--api",   "openai",     "--max-length", "24",        "--threads",
                          "1",       "--db",       f.db,           NULL};
    int rc = run_bench(args);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) fprintf(stderr, "%s%s", slurp(g_out), slurp(g_err));
    sqlite3 *db = open_db(f.db);
    if (!db) return;
    check_every_field(db, 4, 2, 0.5, 0.3);
    CHECK_EQ_INT(q_int(db, "SELECT count(DISTINCT model) FROM runs"), 2);
    /* max_tokens = max-length - the prompt's n_tokens (10 and 11 in the fixture) */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM requests WHERE completion_tokens >"
                           " 24 - (10 + idx)"),
                 0);
    sqlite3_close(db);

    /* The study's route on the real server: {model} is the directory's base name, greedy
     * generation to 128 tokens in total. */
    char db2[700];
    snprintf(db2, sizeof db2, "%s/study.db", f.dir);
    const char *study[] = {"--model",   f.model,   "--warmup", "0.3",       "--cooldown",
                           "0.1",       "--limit", "1",        "--threads", "1",
                           "--prompts", f.prompts, "--db",     db2,         NULL};
    CHECK_EQ_INT(run_bench(study), 0);
    db = open_db(db2);
    if (db) {
        CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM requests WHERE ok=1 AND http_status=200"
                               " AND prompt_tokens + completion_tokens <= 128"),
                     1);
        sqlite3_close(db);
    }
    setenv("JOULE_BENCH_SERVER_CMD", FAKE_SERVE_BIN, 1);
}

/* --concurrency N keeps N requests in flight; a campaign found again from another working
 * directory with relative paths is the same campaign. */
static void test_concurrency_and_paths(void)
{
    struct fixture f;
    make_fixture(&f, "conc", 6);
    const char *args[] = {
        "--model", f.model,     "--warmup", "0.3",  "--cooldown", "0.1", "--concurrency",
        "3",       "--prompts", f.prompts,  "--db", f.db,         NULL};
    CHECK_EQ_INT(run_bench(args), 0);
    sqlite3 *db = open_db(f.db);
    if (!db) return;
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM requests WHERE ok=1"), 6);
    /* some request was sent before an earlier-indexed one had been answered */
    CHECK(q_int(db, "SELECT count(*) FROM requests a JOIN requests b ON a.run_id=b.run_id"
                    " AND a.idx < b.idx WHERE b.start_mono_ns < a.end_mono_ns") > 0);
    check_done_runs_complete(db, 6);
    sqlite3_close(db);
    /* Same campaign by relative paths from the fixture's directory: nothing to redo. */
    char cwd[1024];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK_EQ_INT(chdir(f.dir), 0);
    const char *rel[] = {"--model", "gpt2",          "--warmup", "0.3",       "--cooldown",
                         "0.1",     "--concurrency", "3",        "--prompts", "prompts.jsonl",
                         "--db",    "results.db",    NULL};
    CHECK_EQ_INT(run_bench(rel), 0);
    CHECK_EQ_INT(chdir(cwd), 0);
    CHECK(strstr(slurp(g_out), "this time 0 done, 0 failed; 1 skipped") != NULL);
}

/* Two GPUs of known, constant power (the sensors' stand-in NVML library through the real
 * dlopen path): the energy, the idle baseline and the GPU columns must come out as played. */
static void test_known_gpu_power(void)
{
#ifndef FAKE_NVML_LIB
    test_skip("no stand-in NVML library in this tree");
#else
    struct fixture f;
    make_fixture(&f, "gpu", 3);
    setenv("FAKE_SERVE_WORK_MS", "100", 1);
    setenv("JOULE_NVML_LIB", FAKE_NVML_LIB, 1);
    setenv("FAKE_NVML_GPUS", "2", 1);
    setenv("FAKE_NVML_POWER_MW", "100000", 1);
    setenv("FAKE_NVML_UTIL", "37", 1);
    setenv("FAKE_NVML_MEM_UTIL", "12", 1);
    setenv("FAKE_NVML_MEM_USED", "2147483648", 1);
    setenv("FAKE_NVML_MEM_TOTAL", "8589934592", 1);
    const char *args[] = {"--model", f.model,     "--warmup",    "1",         "--cooldown",
                          "0.3",     "--sensors", "nvml,procfs", "--prompts", f.prompts,
                          "--db",    f.db,        NULL};
    CHECK_EQ_INT(run_bench(args), 0);
    const char *vars[] = {"JOULE_NVML_LIB",     "FAKE_NVML_GPUS",     "FAKE_NVML_POWER_MW",
                          "FAKE_NVML_UTIL",     "FAKE_NVML_MEM_UTIL", "FAKE_NVML_MEM_USED",
                          "FAKE_NVML_MEM_TOTAL"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
    setenv("FAKE_SERVE_WORK_MS", "20", 1);
    sqlite3 *db = open_db(f.db);
    if (!db) return;
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM run_energy WHERE source IN ('nvml:0','nvml:1')"
                           " AND in_total=1 AND estimated=0"),
                 2);
    /* 100 W each: gross = 100 W x the work phase, idle = 100 W, net ~ 0. The stand-in counts
     * in mJ, so the tolerances are a few mJ plus 0.5 % for the interpolation at the ends. */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM run_energy e JOIN runs r ON r.id=e.run_id"
                           " WHERE e.source LIKE 'nvml:%'"
                           " AND abs(e.gross_j - 100*r.execution_s) <= 0.005*e.gross_j + 0.01"
                           " AND abs(e.idle_w - 100) <= 0.5"
                           " AND abs(e.net_j) <= 0.005*e.gross_j + 0.01"
                           " AND r.execution_s >= 0.3"),
                 2);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM request_energy q JOIN requests r"
                           " USING(run_id, idx) WHERE q.source='nvml:1'"
                           " AND abs(q.gross_j - 100*r.latency_ms/1000) <= 0.01*q.gross_j + 0.01"),
                 3);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE abs(gpu_util_pct_mean - 37) < 1e-9"
                           " AND abs(gpu_mem_util_pct_mean - 12) < 1e-9"
                           " AND abs(gpu_mem_used_mb_mean - 4096) < 1e-9"
                           " AND abs(gpu_mem_used_mb_max - 4096) < 1e-9"),
                 1);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM samples WHERE gpu_util_pct IS NULL"
                           " OR gpu_util_pct != 37 OR gpu_mem_used_mb != 4096"),
                 0);
    sqlite3_close(db);
#endif
}

/* bench/bench_decode, the GPU benchmark of the CUDA provider (BENCHMARKS.md), on the llama
 * fixture with the stand-in NVML at a constant 50 W: each run's GPU J/token must be 50 W x
 * its wall seconds per token, so its timing and energy windows and units are the same. */
static void test_bench_decode_energy(void)
{
#if !defined(FAKE_NVML_LIB) || !defined(BENCH_DECODE_BIN)
    test_skip("no stand-in NVML library or bench_decode in this tree");
#else
    char json[600], cmd[4096];
    joule_path_join(json, sizeof json, test_tmpdir(), "bench_decode.json");
    snprintf(cmd, sizeof cmd,
             "JOULE_NVML_LIB='%s' FAKE_NVML_POWER_MW=50000 '%s' --model '%s/models/llama' "
             "--provider cpu --threads 1 --prompt-len 4 --new-tokens 8 --runs 3 --warmup 1 "
             "--min-seconds 0.5 --json '%s' >/dev/null 2>&1",
             FAKE_NVML_LIB, BENCH_DECODE_BIN, JOULE_TEST_FIXTURES, json);
    CHECK_EQ_INT(system(cmd), 0);
    cJSON *o = cJSON_Parse(slurp(json));
    CHECK(o != NULL);
    if (!o) return;
    const cJSON *e2e = cJSON_GetObjectItem(o, "e2e_ms_per_token_runs"),
                *jpt = cJSON_GetObjectItem(o, "gpu_j_per_token_runs");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "gpu_j_per_token")));
    CHECK_EQ_INT(cJSON_GetArraySize(e2e), 3);
    CHECK_EQ_INT(cJSON_GetArraySize(jpt), 3);
    for (int r = 0; r < cJSON_GetArraySize(e2e) && r < cJSON_GetArraySize(jpt); r++) {
        double ms = cJSON_GetArrayItem(e2e, r)->valuedouble,
               j = cJSON_GetArrayItem(jpt, r)->valuedouble;
        CHECK(ms > 0);
        /* 2 %: a preemption of 10 ms between a clock read and its counter read */
        CHECK_NEAR(j / (ms * 1e-3), 50.0, 1.0);
    }
    cJSON_Delete(o);
#endif
}

static void test_crashing_server(void)
{
    struct fixture f;
    make_fixture(&f, "crash", 3);
    setenv("FAKE_SERVE_CRASH_ENGINE", "crashy", 1);
    setenv("FAKE_SERVE_CRASH_AFTER", "1", 1);
    const char *args[] = {
        "--model",    f.model, "--engine",  "native,crashy", "--reps", "2",  "--warmup", "0.3",
        "--cooldown", "0.2",   "--prompts", f.prompts,       "--db",   f.db, NULL};
    CHECK_EQ_INT(run_bench(args), 1);
    unsetenv("FAKE_SERVE_CRASH_ENGINE");
    CHECK(strstr(slurp(g_out), "this time 2 done, 2 failed") != NULL);
    sqlite3 *db = open_db(f.db);
    if (!db) return;
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE engine='native' AND status='done'"), 2);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE engine='crashy' AND status='failed'"
                           " AND error LIKE 'server exited with status 3 during requests%'"
                           " AND error LIKE '%crashing on purpose at request 2%'"),
                 2);
    /* the failed runs keep what was recorded: the one answer before the crash */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM requests q JOIN runs r ON r.id=q.run_id"
                           " WHERE r.engine='crashy' AND q.ok=1"),
                 2);
    /* and the campaign went on after them: some run came later in the order */
    CHECK(q_int(db, "SELECT min(order_index) FROM runs WHERE status='failed'") < 3);
    check_done_runs_complete(db, 3);
    sqlite3_close(db);
}

/* kill -9 `joule bench` in a phase of its second run; rerun; check. */
static void kill_in_phase(const char *phase)
{
    struct fixture f;
    char name[64];
    snprintf(name, sizeof name, "kill-%s", phase);
    make_fixture(&f, name, 3);
    setenv("FAKE_SERVE_WORK_MS", "150", 1);
    const char *args[] = {"--model", f.model,     "--reps",  "2",    "--warmup", "1", "--cooldown",
                          "1",       "--prompts", f.prompts, "--db", f.db,       NULL};
    pid_t pid = spawn_bench(args);
    /* Events of the fake server: "start", "pid N", "health"..., "request 1".."request 3" per
     * run; the second run is the second server start. */
    int seen = 0;
    if (!strcmp(phase, "warmup"))
        seen = wait_for_lines(f.events, (const char *[]){"start", "start", "health"}, 3, 20);
    else if (!strcmp(phase, "requests"))
        seen = wait_for_lines(f.events, (const char *[]){"start", "start", "request 2"}, 3, 20);
    else
        seen = wait_for_lines(f.events, (const char *[]){"start", "start", "request 3"}, 3, 20);
    CHECK(seen);
    joule_sleep_ns(!strcmp(phase, "requests") ? 50000000 : 500000000);
    kill(pid, SIGKILL);
    CHECK_EQ_INT(wait_rc(pid), 128 + SIGKILL);
    if (!strcmp(phase, "warmup")) /* it was still idle: no request of the second run yet */
        CHECK(!wait_for_lines(f.events, (const char *[]){"start", "start", "request 1"}, 3, 0.001));
    /* The server child dies with the campaign (it must not hold its port forever). */
    const char *ev = slurp(f.events), *lp = NULL;
    for (const char *q = ev; (q = strstr(q, "pid ")); q++)
        lp = q;
    int server_pid = lp ? atoi(lp + 4) : 0;
    CHECK(server_pid > 0);
    int gone = 0;
    for (int i = 0; i < 200 && server_pid > 0 && !gone; i++) {
        gone = kill(server_pid, 0) != 0 && errno == ESRCH;
        if (!gone) joule_sleep_ns(10000000);
    }
    CHECK(gone);
    sqlite3 *db = open_db(f.db);
    if (!db) return;
    /* The first run is done and complete; the second is 'running' with nothing written. */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE status='done'"), 1);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE status='running'"), 1);
    CHECK_EQ_INT(q_int(db, "SELECT (SELECT count(*) FROM samples s WHERE s.run_id=r.id) +"
                           " (SELECT count(*) FROM requests q WHERE q.run_id=r.id) +"
                           " (SELECT count(*) FROM run_energy e WHERE e.run_id=r.id)"
                           " FROM runs r WHERE status='running'"),
                 0);
    check_done_runs_complete(db, 3);
    long long done_id = q_int(db, "SELECT id FROM runs WHERE status='done'");
    sqlite3_close(db);

    /* Rerun: the interrupted run is redone, the done one untouched. */
    setenv("FAKE_SERVE_WORK_MS", "20", 1);
    CHECK_EQ_INT(run_bench(args), 0);
    CHECK(strstr(slurp(g_err), "1 interrupted run(s) redone") != NULL);
    CHECK(strstr(slurp(g_out), "this time 1 done, 0 failed; 1 skipped") != NULL);
    db = open_db(f.db);
    if (!db) return;
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE status='done'"), 2);
    CHECK_EQ_INT(q_intf(db, "SELECT attempts FROM runs WHERE id=%lld", done_id), 1);
    CHECK_EQ_INT(q_intf(db, "SELECT attempts FROM runs WHERE id!=%lld", done_id), 2);
    check_done_runs_complete(db, 3);
    sqlite3_close(db);
}

static void test_kill_in_warmup(void)
{
    kill_in_phase("warmup");
}
static void test_kill_in_requests(void)
{
    kill_in_phase("requests");
}
static void test_kill_in_cooldown(void)
{
    kill_in_phase("cooldown");
}

static void test_bad_campaign_runs_nothing(void)
{
    struct fixture f;
    make_fixture(&f, "badfile", 2);
    char json[2048];
    snprintf(json, sizeof json,
             "{\"models\": [\"%s\"], \"prompts\": \"%s\", \"db\": \"%s\", \"reps\": \"two\"}",
             f.model, f.prompts, f.db);
    const char *path = write_tmp("badfile.json", json);
    const char *args[] = {"--campaign", path, NULL};
    CHECK_EQ_INT(run_bench(args), 2);
    const char *err = slurp(g_err);
    CHECK(strstr(err, "field 'reps'") != NULL);
    CHECK(strstr(err, "nothing was run") != NULL);
    CHECK(!joule_is_file(f.db));
    CHECK(!joule_is_file(f.events)); /* no server was started */
    /* A good file with a missing model: also refused before anything runs. */
    snprintf(json, sizeof json, "{\"models\": [\"%s/nope\"], \"prompts\": \"%s\", \"db\": \"%s\"}",
             f.dir, f.prompts, f.db);
    path = write_tmp("badfile.json", json);
    CHECK_EQ_INT(run_bench(args), 2);
    CHECK(strstr(slurp(g_err), "nope' not found") != NULL);
    CHECK(!joule_is_file(f.db));
    /* A good file, paths relative to it; a flag overrides its warm-up. */
    snprintf(json, sizeof json,
             "{\"models\": \"gpt2\", \"prompts\": \"prompts.jsonl\", \"db\": \"results.db\","
             " \"warmup\": 100, \"cooldown\": 0.1, \"name\": \"from-file\"}");
    char good[700];
    snprintf(good, sizeof good, "%s/campaign.json", f.dir);
    joule_write_file_atomic(good, json, strlen(json));
    const char *ok_args[] = {"--campaign", good, "--warmup", "0.2", NULL};
    CHECK_EQ_INT(run_bench(ok_args), 0);
    sqlite3 *db = open_db(f.db);
    if (db) {
        CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs r JOIN campaigns c ON c.id=r.campaign_id"
                               " WHERE c.name='from-file' AND r.status='done'"
                               " AND r.warmup_end_mono_ns - r.warmup_start_mono_ns < 5000000000"),
                     1);
        sqlite3_close(db);
    }
}

int main(void)
{
    RUN(test_store_roundtrip);
    RUN(test_campaign_file);
    RUN(test_bad_campaign_runs_nothing);
    RUN(test_end_to_end_fake);
    RUN(test_end_to_end_real_server);
    RUN(test_concurrency_and_paths);
    RUN(test_known_gpu_power);
    RUN(test_bench_decode_energy);
    RUN(test_crashing_server);
    RUN(test_kill_in_warmup);
    RUN(test_kill_in_requests);
    RUN(test_kill_in_cooldown);
    return test_summary();
}
