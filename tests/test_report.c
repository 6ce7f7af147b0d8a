/* report: synthetic study-shaped data through build/write, the JSON and SQLite loaders,
 * `joule analyze`, and the HTML page rendered by headless Chromium (skipped when absent): the
 * screenshot must show the box plots (pixels in the models' colours). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <zlib.h>

#include "joule/report.h"
#include "joule/stats.h"
#include "stats/stats_internal.h"
#include "test.h"
#include "util/fileio.h"
#include "util/json.h"

static char g_out[512];

static int file_exists(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return joule_is_file(p);
}

/* median of one configuration's values of one model, straight from the rows */
static double rows_median(const struct joule_report_rows *t, int metric, const char *model,
                          const char *engine, const char *provider)
{
    double v[64];
    size_t n = 0;
    for (size_t i = 0; i < t->n && n < 64; i++) {
        const struct joule_report_row *r = &t->rows[i];
        if ((int)r->metric == metric && !strcmp(r->model, model) && !strcmp(r->engine, engine) &&
            !strcmp(r->provider, provider))
            v[n++] = r->value;
    }
    joule_stats_sort(v, n);
    return n ? joule_stats_quantile_sorted(v, n, 0.5) : NAN;
}

static void test_build_write(void)
{
    struct joule_report_rows t = {0};
    CHECK_OK(joule_report_synthetic_rows(10, 42, &t));
    /* 12 models × 7 configurations × 10 reps × (6 metrics everywhere + 4 GPU metrics on the 3
     * cuda configurations) */
    CHECK_EQ_INT(t.n, 12 * 10 * (7 * 6 + 3 * 4));
    struct joule_report_params p = joule_report_default_params();
    p.bootstrap_reps = 200;
    struct joule_report *r = NULL;
    CHECK_OK(joule_report_build(t.rows, t.n, &p, &r));
    if (!r) {
        joule_report_rows_free(&t);
        return;
    }
    CHECK_EQ_INT(joule_report_analysis_count(r), 12 * 10);
    CHECK_EQ_INT(joule_report_skipped_rows(r), 0);
    snprintf(g_out, sizeof g_out, "%s/report", test_tmpdir());
    CHECK_OK(joule_report_write(r, g_out));
    const char *files[] = {"index.html",
                           "stats.json",
                           "tables/medians.md",
                           "tables/medians.csv",
                           "tables/medians.tex",
                           "tables/savings_energy_global_j.csv",
                           "tables/tests_execution_s.md",
                           "tables/medians_execution_s.md",
                           "tables/pairs.csv",
                           "tables/recommendations.md",
                           "plots/energy_global_j.svg",
                           "plots/gpu_mem_used_mb.svg"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        int ok = file_exists(g_out, files[i]);
        CHECK(ok);
        if (!ok) fprintf(stderr, "missing %s\n", files[i]);
    }

    /* stats.json: every analysis is the stats module's result on the same groups */
    char path[1024];
    snprintf(path, sizeof path, "%s/stats.json", g_out);
    cJSON *j = NULL;
    CHECK_OK(joule_json_load_file(path, 1 << 28, &j));
    if (j) {
        const cJSON *models = cJSON_GetObjectItem(j, "models");
        CHECK_EQ_INT(cJSON_GetArraySize(models), 12);
        int cats[3] = {0, 0, 0};
        for (const cJSON *m = models->child; m; m = m->next) {
            const char *c = joule_json_str(m, "category", "");
            cats[0] += !strcmp(c, "small");
            cats[1] += !strcmp(c, "medium");
            cats[2] += !strcmp(c, "large");
        }
        CHECK_EQ_INT(cats[0], 4); /* the study's 12 models split 4/4/4 */
        CHECK_EQ_INT(cats[1], 4);
        CHECK_EQ_INT(cats[2], 4);
        const cJSON *an = cJSON_GetObjectItem(j, "analyses");
        CHECK_EQ_INT(cJSON_GetArraySize(an), 120);
        int par = 0, nonpar = 0;
        for (const cJSON *a = an->child; a; a = a->next) {
            const char *proc =
                cJSON_GetObjectItem(
                    cJSON_GetObjectItem(cJSON_GetObjectItem(a, "result"), "decision"), "procedure")
                    ->valuestring;
            par += !strcmp(proc, "welch_anova+games_howell");
            nonpar += !strcmp(proc, "kruskal+dunn");
        }
        CHECK(par > 0 && nonpar > 0); /* the skewed configurations make both occur */
        /* one analysis recomputed directly: execution time of phi-2 */
        for (const cJSON *a = an->child; a; a = a->next) {
            if (strcmp(joule_json_str(a, "metric", ""), "execution_s") ||
                strcmp(joule_json_str(a, "model", ""), "phi-2"))
                continue;
            const cJSON *res = cJSON_GetObjectItem(a, "result");
            const cJSON *kw = cJSON_GetObjectItem(res, "kruskal");
            /* groups from the rows, in configuration-name order */
            const char *confs[7][2] = {{"jit", "cpu"},   {"jit", "cuda"}, {"onnx", "cpu"},
                                       {"onnx", "cuda"}, {"ov", "cpu"},   {"torch", "cpu"},
                                       {"torch", "cuda"}};
            double v[7][10];
            struct joule_stats_group g[7];
            for (int c = 0; c < 7; c++) {
                size_t n = 0;
                for (size_t i = 0; i < t.n; i++) {
                    const struct joule_report_row *w = &t.rows[i];
                    if (w->metric == JOULE_REPORT_EXECUTION_S && !strcmp(w->model, "phi-2") &&
                        !strcmp(w->engine, confs[c][0]) && !strcmp(w->provider, confs[c][1]) &&
                        n < 10)
                        v[c][n++] = w->value;
                }
                g[c] = (struct joule_stats_group){confs[c][0], v[c], n};
            }
            struct joule_stats_kruskal k;
            CHECK_OK(joule_stats_kruskal(g, 7, &k));
            CHECK_CLOSE(joule_json_num(kw, "H", NAN), k.h, 1e-12, 0);
            CHECK_CLOSE(joule_json_num(kw, "p", NAN), k.p, 1e-12, 1e-300);
        }
        /* medians by category: the "all" median of torch/cuda global energy = pooled median */
        const cJSON *med = cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(j, "medians"), "energy_global_j"), "all");
        double pooled[120];
        size_t n = 0;
        for (size_t i = 0; i < t.n; i++)
            if (t.rows[i].metric == JOULE_REPORT_ENERGY_GLOBAL_J &&
                !strcmp(t.rows[i].engine, "torch") && !strcmp(t.rows[i].provider, "cuda"))
                pooled[n++] = t.rows[i].value;
        CHECK_EQ_INT(n, 120);
        joule_stats_sort(pooled, n);
        CHECK_CLOSE(joule_json_num(med, "torch/cuda", NAN), 0.5 * (pooled[59] + pooled[60]), 1e-15,
                    0);
        /* recommendations exist for energy, time and RAM, best energy configuration is a cuda one
         */
        const cJSON *recs = cJSON_GetObjectItem(j, "recommendations");
        CHECK_EQ_INT(cJSON_GetArraySize(recs), 3);
        const cJSON *first = cJSON_GetObjectItem(recs->child, "ranking")->child;
        CHECK(first && strstr(joule_json_str(first, "configuration", ""), "cuda"));
        cJSON_Delete(j);
    }
    /* the savings table: (b − a)/b × 100 of the pooled medians, checked on one row of the CSV */
    char *csv = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/tables/savings_energy_global_j.csv", g_out);
    CHECK_OK(joule_read_file(path, 1 << 24, &csv, &len));
    if (csv) {
        CHECK(strstr(csv, "a,b,small,medium,large,all\n") == csv);
        CHECK(strstr(csv, "torch/cuda,torch/cpu,") != NULL);
        free(csv);
    }
    /* the median table per model shows each configuration's median with its bootstrap CI */
    snprintf(path, sizeof path, "%s/tables/medians_execution_s.csv", g_out);
    CHECK_OK(joule_read_file(path, 1 << 24, &csv, &len));
    if (csv) {
        char want[128], num[64];
        double med = rows_median(&t, JOULE_REPORT_EXECUTION_S, "phi-2", "torch", "cuda");
        snprintf(num, sizeof num, "%.4g", med);
        snprintf(want, sizeof want, "\nphi-2,");
        const char *line = strstr(csv, want);
        CHECK(line != NULL);
        if (line) {
            const char *end = strchr(line + 1, '\n');
            char row[1024] = {0};
            size_t n = end ? (size_t)(end - line) : strlen(line);
            memcpy(row, line, n < sizeof row - 1 ? n : sizeof row - 1);
            CHECK(strstr(row, num) != NULL); /* torch/cuda median printed with 4 digits */
            CHECK(strchr(row, '[') != NULL);
        }
        free(csv);
    }
    char *html = NULL;
    snprintf(path, sizeof path, "%s/index.html", g_out);
    CHECK_OK(joule_read_file(path, 1 << 26, &html, &len));
    if (html) {
        CHECK(strstr(html, "<svg") != NULL);
        CHECK(strstr(html, "class=\"box\"") != NULL);
        CHECK(strstr(html, "Objective: energy") != NULL);
        CHECK(strstr(html, "http://") == NULL ||
              strstr(html, "xmlns=\"http://www.w3.org/2000/svg\"") != NULL);
        CHECK(strstr(html, "<script") == NULL && strstr(html, "<link") == NULL &&
              strstr(html, "src=") == NULL); /* self-contained */
        free(html);
    }
    joule_report_free(r);
    joule_report_rows_free(&t);
}

static void test_loaders(void)
{
    /* JSON */
    const char *js = "{\"runs\": ["
                     "{\"model\": \"m1\", \"params_m\": 110, \"engine\": \"e\", \"provider\": "
                     "\"cpu\", \"repetition\": 1, \"metrics\": {\"execution_s\": 2.5, "
                     "\"energy_gpu_j\": null}},"
                     "{\"model\": \"m1\", \"params_m\": 110, \"engine\": \"e\", \"provider\": "
                     "\"cuda\", \"repetition\": 1, \"metrics\": {\"execution_s\": 1.5, "
                     "\"energy_gpu_j\": 7}}]}";
    struct joule_report_rows t = {0};
    CHECK_OK(joule_report_load_json(js, strlen(js), &t));
    CHECK_EQ_INT(t.n, 3);
    if (t.n == 3) {
        CHECK_EQ_STR(t.rows[0].model, "m1");
        CHECK_EQ_INT(t.rows[2].metric, JOULE_REPORT_ENERGY_GPU_J);
        CHECK_NEAR(t.rows[2].value, 7.0, 0);
        CHECK_NEAR(t.rows[0].params_m, 110.0, 0);
    }
    joule_report_rows_free(&t);
    const char *bad[] = {"{}", "{\"runs\": [{\"model\": \"m\"}]}",
                         "{\"runs\": [{\"model\": \"m\", \"engine\": \"e\", \"provider\": \"p\", "
                         "\"metrics\": {\"bogus\": 1}}]}",
                         "{\"runs\": [{\"model\": \"m\", \"engine\": \"e\", \"provider\": \"p\", "
                         "\"metrics\": {\"cpu_pct\": \"x\"}}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(joule_report_load_json(bad[i], strlen(bad[i]), &t) != JOULE_OK);
        joule_report_rows_free(&t);
    }

    /* SQLite: the loader's values equal the generator's (same seed, same order), the global
     * energy is package + GPU (+ DRAM, absent here) */
    char db[600];
    snprintf(db, sizeof db, "%s/results.db", test_tmpdir());
    CHECK_OK(joule_report_synthetic_db(db, 3, 5, 7));
    struct joule_report_rows fromdb = {0}, gen = {0};
    CHECK_OK(joule_report_load_db(db, &fromdb));
    CHECK_OK(joule_report_synthetic_rows(3, 7, &gen));
    CHECK_EQ_INT(fromdb.n, gen.n);
    size_t checked = 0, global = 0;
    for (size_t i = 0; i < fromdb.n && i < gen.n; i++) {
        const struct joule_report_row *a = &fromdb.rows[i];
        if (a->metric == JOULE_REPORT_ENERGY_GLOBAL_J) {
            double cpu = NAN, gpu = 0.0;
            for (size_t k = i + 1; k < fromdb.n && k < i + 12; k++) {
                if (fromdb.rows[k].repetition != a->repetition) break;
                if (fromdb.rows[k].metric == JOULE_REPORT_ENERGY_CPU_J) cpu = fromdb.rows[k].value;
                if (fromdb.rows[k].metric == JOULE_REPORT_ENERGY_GPU_J) gpu = fromdb.rows[k].value;
            }
            CHECK_CLOSE(a->value, cpu + gpu, 1e-15, 0);
            global++;
            continue;
        }
        /* find the generator's row for the same key */
        for (size_t k = 0; k < gen.n; k++) {
            const struct joule_report_row *b = &gen.rows[k];
            if (b->metric == a->metric && b->repetition == a->repetition &&
                !strcmp(b->model, a->model) && !strcmp(b->engine, a->engine) &&
                !strcmp(b->provider, a->provider)) {
                CHECK_CLOSE(a->value, b->value, 1e-15, 0);
                CHECK_CLOSE(a->params_m, b->params_m, 1e-6, 0);
                checked++;
                break;
            }
        }
    }
    CHECK_EQ_INT(global, 12 * 7 * 3);
    CHECK(checked > 1000);
    joule_report_rows_free(&fromdb);
    joule_report_rows_free(&gen);
    /* a database without run_energy.in_total (older schema v1): CPU = RAPL package + DRAM,
     * global = CPU + GPU, the same numbers here */
    sqlite3 *h = NULL;
    CHECK_EQ_INT(sqlite3_open(db, &h), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(h, "ALTER TABLE run_energy DROP COLUMN in_total", NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(h);
    struct joule_report_rows legacy = {0};
    CHECK_OK(joule_report_load_db(db, &legacy));
    struct joule_report_rows again = {0};
    CHECK_OK(joule_report_synthetic_db(db, 3, 5, 7));
    CHECK_OK(joule_report_load_db(db, &again));
    CHECK_EQ_INT(legacy.n, again.n);
    for (size_t i = 0; i < legacy.n && i < again.n; i++) {
        CHECK_EQ_INT(legacy.rows[i].metric, again.rows[i].metric);
        CHECK_CLOSE(legacy.rows[i].value, again.rows[i].value, 1e-15, 0);
    }
    joule_report_rows_free(&legacy);
    joule_report_rows_free(&again);
    CHECK(joule_report_load_db("/nonexistent/x.db", &fromdb) != JOULE_OK);
    char notdb[600];
    snprintf(notdb, sizeof notdb, "%s/not.db", test_tmpdir());
    CHECK_OK(joule_write_file_atomic(notdb, "hello", 5));
    CHECK(joule_report_load_db(notdb, &fromdb) != JOULE_OK);
    joule_report_rows_free(&fromdb);
}

/* Modelled energy is labelled through to the report (stats.json and the HTML). */
static void test_estimated_label(void)
{
    const char *js = "{\"runs\": ["
                     "{\"model\": \"m\", \"engine\": \"a\", \"provider\": \"cpu\", "
                     "\"estimated\": true, \"metrics\": {\"energy_cpu_j\": 5, \"execution_s\": 1}},"
                     "{\"model\": \"m\", \"engine\": \"a\", \"provider\": \"cpu\", "
                     "\"estimated\": true, \"metrics\": {\"energy_cpu_j\": 6, \"execution_s\": 2}},"
                     "{\"model\": \"m\", \"engine\": \"b\", \"provider\": \"cpu\", "
                     "\"metrics\": {\"energy_cpu_j\": 7, \"execution_s\": 3}},"
                     "{\"model\": \"m\", \"engine\": \"b\", \"provider\": \"cpu\", "
                     "\"metrics\": {\"energy_cpu_j\": 8, \"execution_s\": 4}}]}";
    struct joule_report_rows t = {0};
    CHECK_OK(joule_report_load_json(js, strlen(js), &t));
    struct joule_report_params p = joule_report_default_params();
    p.bootstrap_reps = 0;
    struct joule_report *r = NULL;
    CHECK_OK(joule_report_build(t.rows, t.n, &p, &r));
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/estimated", test_tmpdir());
    CHECK_OK(joule_report_write(r, dir));
    snprintf(path, sizeof path, "%s/stats.json", dir);
    cJSON *j = NULL;
    CHECK_OK(joule_json_load_file(path, 1 << 24, &j));
    const cJSON *est = cJSON_GetObjectItem(j, "estimated_rows");
    CHECK_EQ_INT(joule_json_int(est, "energy_cpu_j", -1), 2);
    CHECK_EQ_INT(joule_json_int(est, "execution_s", 0), 0);
    cJSON_Delete(j);
    char *html = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/index.html", dir);
    CHECK_OK(joule_read_file(path, 1 << 24, &html, &len));
    CHECK(html && strstr(html, "Estimated:</b> 2 of these values") != NULL);
    free(html);
    joule_report_free(r);
    joule_report_rows_free(&t);
}

/* An unbalanced design: model b has no value under configuration y. The pooled medians skip
 * the empty cell (it used to be memcpy'd from NULL: UBSan, found by fuzz_report_input). */
static void test_empty_cell(void)
{
    const char *js =
        "{\"runs\":[{\"model\":\"a\",\"engine\":\"x\",\"provider\":\"cpu\",\"params_m\":100,"
        "\"metrics\":{\"execution_s\":1}},{\"model\":\"a\",\"engine\":\"y\",\"provider\":\"cpu\","
        "\"params_m\":100,\"metrics\":{\"execution_s\":2}},{\"model\":\"b\",\"engine\":\"x\","
        "\"provider\":\"cpu\",\"params_m\":100,\"metrics\":{\"execution_s\":4}}]}";
    struct joule_report_rows t = {0};
    CHECK_OK(joule_report_load_json(js, strlen(js), &t));
    struct joule_report_params p = joule_report_default_params();
    p.bootstrap_reps = 0;
    struct joule_report *r = NULL;
    CHECK_OK(joule_report_build(t.rows, t.n, &p, &r));
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/empty_cell", test_tmpdir());
    if (r) CHECK_OK(joule_report_write(r, dir));
    joule_report_free(r);
    joule_report_rows_free(&t);
    snprintf(path, sizeof path, "%s/stats.json", dir);
    cJSON *root = NULL;
    CHECK_OK(joule_json_load_file(path, 1 << 24, &root));
    const cJSON *all = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(root, "medians"), "execution_s"), "all");
    const cJSON *x = cJSON_GetObjectItem(all, "x/cpu"), *y = cJSON_GetObjectItem(all, "y/cpu");
    CHECK(cJSON_IsNumber(x) && cJSON_IsNumber(y));
    if (cJSON_IsNumber(x)) CHECK_NEAR(x->valuedouble, 2.5, 0); /* median of a:1, b:4 */
    if (cJSON_IsNumber(y)) CHECK_NEAR(y->valuedouble, 2.0, 0); /* a only */
    cJSON_Delete(root);
}

/* Names come from the user's database: markup in them is escaped in the HTML page and the
 * SVG plots (never raw tags), and '&' is escaped in the LaTeX tables. */
static void test_markup_escaped(void)
{
    const char *model = "<b>m&\"'</b>", *engine = "e<i>";
    struct joule_report_row rows[4];
    for (int i = 0; i < 4; i++)
        rows[i] = (struct joule_report_row){.metric = JOULE_REPORT_EXECUTION_S,
                                            .model = model,
                                            .engine = i < 2 ? engine : "plain",
                                            .provider = "cpu",
                                            .value = 1.0 + i};
    struct joule_report_params p = joule_report_default_params();
    p.bootstrap_reps = 0;
    struct joule_report *r = NULL;
    CHECK_OK(joule_report_build(rows, 4, &p, &r));
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/markup", test_tmpdir());
    if (r) CHECK_OK(joule_report_write(r, dir));
    joule_report_free(r);
    const char *files[] = {"index.html", "plots/execution_s.svg"};
    for (size_t f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        char *text = NULL;
        size_t len = 0;
        CHECK_OK(joule_read_file(path, 1 << 24, &text, &len));
        if (!text) continue;
        CHECK(strstr(text, "&lt;b&gt;m&amp;&quot;&#39;&lt;/b&gt;") != NULL);
        CHECK(strstr(text, "e&lt;i&gt;") != NULL);
        CHECK(strstr(text, "<b>m") == NULL);
        CHECK(strstr(text, "<i>") == NULL);
        free(text);
    }
    snprintf(path, sizeof path, "%s/tables/pairs.md", dir);
    char *md = NULL;
    size_t len = 0;
    CHECK_OK(joule_read_file(path, 1 << 24, &md, &len));
    CHECK(md && strstr(md, "e<i>") != NULL); /* Markdown keeps the name as written */
    free(md);
    snprintf(path, sizeof path, "%s/tables/tests_execution_s.tex", dir);
    char *tex = NULL;
    CHECK_OK(joule_read_file(path, 1 << 24, &tex, &len));
    CHECK(tex && strstr(tex, "m\\&") != NULL && strstr(tex, "m&") == NULL);
    free(tex);
}

/* Extreme values give a plot, not a hang (found by fuzz_report_input): a denormal next to a
 * huge value (the log scale's lower decade underflowed to 0 and the tick loop never ended),
 * and values too close for their magnitude (the linear tick step was below their precision). */
static void test_extreme_values(void)
{
    static const double pairs[][2] = {{5e-324, 1e30}, {1e17, 1e17 + 16}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        struct joule_report_row rows[2] = {
            {.metric = JOULE_REPORT_EXECUTION_S,
             .model = "a",
             .engine = "x",
             .provider = "cpu",
             .value = pairs[i][0]},
            {.metric = JOULE_REPORT_EXECUTION_S,
             .model = "a",
             .engine = "y",
             .provider = "cpu",
             .value = pairs[i][1]},
        };
        struct joule_report_params p = joule_report_default_params();
        p.bootstrap_reps = 0;
        struct joule_report *r = NULL;
        CHECK_OK(joule_report_build(rows, 2, &p, &r));
        char dir[600], path[700];
        snprintf(dir, sizeof dir, "%s/extreme%zu", test_tmpdir(), i);
        if (r) CHECK_OK(joule_report_write(r, dir));
        joule_report_free(r);
        snprintf(path, sizeof path, "%s/index.html", dir);
        char *html = NULL;
        size_t len = 0;
        CHECK_OK(joule_read_file(path, 1 << 24, &html, &len));
        CHECK(html && strstr(html, "<svg") != NULL);
        free(html);
    }
}

static void test_cli(void)
{
    char db[600], out[600], cmd[2000];
    snprintf(db, sizeof db, "%s/cli.db", test_tmpdir());
    snprintf(out, sizeof out, "%s/cli_report", test_tmpdir());
    CHECK_OK(joule_report_synthetic_db(db, 4, 3, 11));
    snprintf(cmd, sizeof cmd, "'%s' analyze --db '%s' --out '%s' --bootstrap 50 2>/dev/null",
             test_joule_bin(), db, out);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK(file_exists(out, "index.html"));
    CHECK(file_exists(out, "plots/execution_s.svg"));
    snprintf(cmd, sizeof cmd, "'%s' analyze --help > /dev/null", test_joule_bin());
    CHECK_EQ_INT(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' analyze --out '%s' 2>/dev/null", test_joule_bin(), out);
    CHECK(system(cmd) != 0); /* needs --db or --input */
    char js[600];
    snprintf(js, sizeof js, "%s/runs.json", test_tmpdir());
    const char *text = "{\"runs\": [{\"model\": \"a\", \"engine\": \"x\", \"provider\": \"cpu\", "
                       "\"metrics\": {\"execution_s\": 1}}, {\"model\": \"a\", \"engine\": \"y\", "
                       "\"provider\": \"cpu\", \"metrics\": {\"execution_s\": 2}}]}";
    CHECK_OK(joule_write_file_atomic(js, text, strlen(text)));
    snprintf(cmd, sizeof cmd, "'%s' analyze --input '%s' --out '%s/json_report' 2>/dev/null",
             test_joule_bin(), js, test_tmpdir());
    CHECK_EQ_INT(system(cmd), 0);
}

/* ---- PNG (8-bit RGB/RGBA, non-interlaced: what Chromium writes) ------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Decode into *rgb (w × h × 3). Returns 0 on success. */
static int png_read_rgb(const char *path, unsigned char **rgb, uint32_t *w, uint32_t *h)
{
    char *data = NULL;
    size_t len = 0;
    if (joule_read_file(path, (size_t)1 << 28, &data, &len)) return -1;
    const unsigned char *d = (const unsigned char *)data;
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int ret = -1, channels = 0;
    unsigned char *z = NULL, *raw = NULL;
    size_t zlen = 0;
    if (len < 8 || memcmp(d, sig, 8)) goto out;
    for (size_t off = 8; off + 12 <= len;) {
        uint32_t n = be32(d + off);
        const unsigned char *type = d + off + 4, *body = d + off + 8;
        if (off + 12 + n > len) goto out;
        if (!memcmp(type, "IHDR", 4)) {
            *w = be32(body);
            *h = be32(body + 4);
            if (body[8] != 8 || body[12] != 0) goto out; /* 8-bit, no interlace */
            channels = body[9] == 2 ? 3 : body[9] == 6 ? 4 : 0;
            if (!channels) goto out;
        } else if (!memcmp(type, "IDAT", 4)) {
            unsigned char *nz = realloc(z, zlen + n);
            if (!nz) goto out;
            z = nz;
            memcpy(z + zlen, body, n);
            zlen += n;
        } else if (!memcmp(type, "IEND", 4)) {
            break;
        }
        off += 12 + n;
    }
    if (!channels || !z) goto out;
    size_t stride = (size_t)*w * (size_t)channels;
    uLongf rawlen = (uLongf)((stride + 1) * *h);
    raw = malloc(rawlen);
    *rgb = malloc((size_t)*w * *h * 3);
    if (!raw || !*rgb || uncompress(raw, &rawlen, z, (uLong)zlen) != Z_OK) goto out;
    unsigned char *prev = NULL;
    for (uint32_t y = 0; y < *h; y++) {
        unsigned char *line = raw + (size_t)y * (stride + 1), ft = line[0], *px = line + 1;
        for (size_t i = 0; i < stride; i++) {
            int a = i >= (size_t)channels ? px[i - channels] : 0, b = prev ? prev[i] : 0,
                c = (prev && i >= (size_t)channels) ? prev[i - channels] : 0;
            int v = px[i];
            switch (ft) {
            case 1:
                v += a;
                break;
            case 2:
                v += b;
                break;
            case 3:
                v += (a + b) / 2;
                break;
            case 4:
                v += paeth(a, b, c);
                break;
            default:
                break;
            }
            px[i] = (unsigned char)v;
        }
        for (uint32_t x = 0; x < *w; x++)
            memcpy(*rgb + ((size_t)y * *w + x) * 3, px + (size_t)x * channels, 3);
        prev = px;
    }
    ret = 0;
out:
    if (ret) {
        free(*rgb);
        *rgb = NULL;
    }
    free(raw);
    free(z);
    free(data);
    return ret;
}

static const char *find_chromium(void)
{
    static const char *const cands[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser",
                                        "/usr/lib/chromium/chromium"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++)
        if (joule_is_file(cands[i])) return cands[i];
    return NULL;
}

static void test_chromium_screenshot(void)
{
    const char *chromium = find_chromium();
    if (!chromium) {
        test_skip("chromium not installed (Debian package 'chromium')");
        return;
    }
    if (!g_out[0] || !file_exists(g_out, "index.html")) {
        test_skip("no report was written");
        return;
    }
    char png[700], profile[700], cmd[4000];
    snprintf(png, sizeof png, "%s/shot.png", test_tmpdir());
    snprintf(profile, sizeof profile, "%s/chromium-profile", test_tmpdir());
    CHECK_OK(joule_mkdirs(profile));
    snprintf(cmd, sizeof cmd,
             "timeout 120 '%s' --headless --no-sandbox --disable-gpu "
             "--disable-background-networking --disable-component-update --disable-sync "
             "--no-first-run --user-data-dir='%s' --screenshot='%s' --window-size=1400,4000 "
             "'file://%s/index.html' > /dev/null 2>&1",
             chromium, profile, png, g_out);
    int rc = system(cmd);
    CHECK_EQ_INT(rc, 0);
    unsigned char *rgb = NULL;
    uint32_t w = 0, h = 0;
    CHECK_EQ_INT(png_read_rgb(png, &rgb, &w, &h), 0);
    if (!rgb) return;
    CHECK_EQ_INT(w, 1400); /* 4000 tall: the plots follow the recommendations and medians */
    /* The boxes are filled with the models' colours; count exact matches per colour. */
    static const unsigned char pal[12][3] = {
        {0x1f, 0x77, 0xb4}, {0xff, 0x7f, 0x0e}, {0x2c, 0xa0, 0x2c}, {0xd6, 0x27, 0x28},
        {0x94, 0x67, 0xbd}, {0x8c, 0x56, 0x4b}, {0xe3, 0x77, 0xc2}, {0x7f, 0x7f, 0x7f},
        {0xbc, 0xbd, 0x22}, {0x17, 0xbe, 0xcf}, {0x39, 0x3b, 0x79}, {0xe7, 0xba, 0x52}};
    size_t count[12] = {0}, white = 0, total = (size_t)w * h;
    for (size_t i = 0; i < total; i++) {
        const unsigned char *p = rgb + i * 3;
        if (p[0] == 255 && p[1] == 255 && p[2] == 255) white++;
        for (int c = 0; c < 12; c++)
            if (abs(p[0] - pal[c][0]) <= 2 && abs(p[1] - pal[c][1]) <= 2 &&
                abs(p[2] - pal[c][2]) <= 2)
                count[c]++;
    }
    int colours = 0;
    size_t coloured = 0;
    for (int c = 0; c < 12; c++) {
        colours += count[c] >= 40;
        coloured += count[c];
    }
    fprintf(stderr, "  screenshot %ux%u: %zu pixels in model colours (%d colours), %zu white\n", w,
            h, coloured, colours, white);
    CHECK(colours >= 10);   /* boxes of (nearly) every model are drawn */
    CHECK(coloured > 5000); /* and they are boxes, not just legend swatches */
    CHECK(white < total);   /* the page is not blank */
    free(rgb);
}

int main(void)
{
    RUN(test_build_write);
    RUN(test_loaders);
    RUN(test_empty_cell);
    RUN(test_markup_escaped);
    RUN(test_extreme_values);
    RUN(test_estimated_label);
    RUN(test_cli);
    RUN(test_chromium_screenshot);
    return test_summary();
}
