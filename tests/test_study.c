/* study: joule demo --quick end to end, joule reproduce --dry-run, the plan helpers. */
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "test.h"
#include "joule/study.h"
#include "joule/synth.h"
#include "util/fileio.h"

/* Run a shell command, capture up to cap-1 bytes of its stdout; return its exit status. */
static int run_capture(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    while (fgetc(p) != EOF) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int count_rows(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    int n = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

static void test_configs_probe(void)
{
    struct joule_study_config cfg[JOULE_STUDY_MAX_CONFIGS];
    size_t n = joule_study_configs(cfg, JOULE_STUDY_MAX_CONFIGS);
    CHECK(n >= 2);
    int native_cpu = 0, cuda_rows = 0;
    for (size_t i = 0; i < n && i < JOULE_STUDY_MAX_CONFIGS; i++) {
        if (!strcmp(cfg[i].engine, "native") && !strcmp(cfg[i].provider, "cpu"))
            native_cpu = cfg[i].available;
        if (!strcmp(cfg[i].provider, "cuda")) {
            cuda_rows++;
            /* unavailable always comes with a reason */
            if (!cfg[i].available) CHECK(cfg[i].why[0] != '\0');
        }
    }
    CHECK_EQ_INT(native_cpu, 1);
    CHECK(cuda_rows >= 1);
}

static void test_duration_estimate(void)
{
    struct joule_study_protocol p = joule_study_default_protocol();
    CHECK_EQ_INT(p.reps, 10);
    CHECK_EQ_INT(p.n_prompts, 164);
    CHECK_EQ_INT(p.max_length, 128);
    /* zero-size model: only the idle phases and start-up */
    double idle = joule_study_run_seconds(&p, 0, 4, "cpu");
    CHECK_NEAR(idle, 600 + 2, 1e-9);
    /* 111 M params f32 on CPU: 0.444 GB / 20 GB/s per token × 164 × 115 tokens */
    double cp = joule_study_run_seconds(&p, 111000000, 4, "cpu");
    double expect = 600 + 2 + 0.444 + 164.0 * 115 * (0.444e9 / 2e10);
    CHECK_NEAR(cp, expect, 1e-6);
    CHECK(joule_study_run_seconds(&p, 111000000, 4, "cuda") < cp);
}

static void test_model_support(void)
{
    char why[256];
    const char *cp = joule_synth_shape_config("codeparrot/codeparrot-small");
    CHECK(cp != NULL);
    /* codeparrot-small scales attention by 1/layer: llama.cpp cannot, joule's engine can */
    CHECK_EQ_INT(joule_study_model_supported("ggml", cp, why, sizeof why), 0);
    CHECK(strstr(why, "scale_attn_by_inverse_layer_idx") != NULL);
    CHECK_EQ_INT(joule_study_model_supported("native", cp, why, sizeof why), 1);
    CHECK_EQ_INT(why[0], 0);
    /* every other study shape runs under both engines */
    for (size_t i = 1; i < 12; i++) {
        const char *c = joule_synth_shape_config(joule_synth_shape_name(i));
        CHECK_EQ_INT(joule_study_model_supported("ggml", c, why, sizeof why), 1);
    }
    CHECK(joule_synth_shape_config("no-such-shape") == NULL);
    /* a directory: the fixture GPT-2 with codeparrot's flags, and one without a config */
    CHECK_EQ_INT(joule_study_dir_supported("ggml", test_fixture("models/gpt2_codeparrot_flags"),
                                           why, sizeof why),
                 0);
    CHECK_EQ_INT(joule_study_dir_supported("ggml", test_fixture("models/gpt2"), why, sizeof why),
                 1);
    CHECK_EQ_INT(joule_study_dir_supported("ggml", test_tmpdir(), why, sizeof why), 1);
}

static void test_reproduce_dry_run(void)
{
    char cmd[4096], out[16384];
    snprintf(cmd, sizeof cmd, "cd %s && JOULE_DATA_DIR=%s/data %s reproduce --dry-run --out %s/rep",
             test_tmpdir(), JOULE_SOURCE_DIR, test_joule_bin(), test_tmpdir());
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "codeparrot/codeparrot-small") != NULL);
    CHECK(strstr(out, "stabilityai/stablecode-completion-alpha-3b-4k") != NULL);
    CHECK(strstr(out, "expected duration") != NULL);
    CHECK(strstr(out, "x 10 repetitions") != NULL);
    /* a dry run creates nothing */
    char p[600];
    snprintf(p, sizeof p, "%s/rep", test_tmpdir());
    CHECK(!joule_is_dir(p));
    /* --models narrows the plan; an unknown name is a usage error */
    snprintf(cmd, sizeof cmd,
             "JOULE_DATA_DIR=%s/data %s reproduce --dry-run --models phi-2 --out %s/rep",
             JOULE_SOURCE_DIR, test_joule_bin(), test_tmpdir());
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "microsoft/phi-2") != NULL);
    CHECK(strstr(out, "codeparrot") == NULL);
    snprintf(cmd, sizeof cmd,
             "JOULE_DATA_DIR=%s/data %s reproduce --dry-run --models nope 2>/dev/null",
             JOULE_SOURCE_DIR, test_joule_bin());
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 2);
}

static void test_demo_quick(void)
{
    char cmd[4096], out[32768], dir[600], path[800];
    snprintf(dir, sizeof dir, "%s/demo", test_tmpdir());
    snprintf(cmd, sizeof cmd, "JOULE_DATA_DIR=%s/data %s demo --quick --threads 1 --out %s 2>&1",
             JOULE_SOURCE_DIR, test_joule_bin(), dir);
    int rc = run_capture(cmd, out, sizeof out);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) fprintf(stderr, "%s\n", out);
    /* the pieces it promises */
    snprintf(path, sizeof path, "%s/prompts.jsonl", dir);
    CHECK(joule_is_file(path));
    snprintf(path, sizeof path, "%s/report/index.html", dir);
    CHECK(joule_is_file(path));
    snprintf(path, sizeof path, "%s/report/stats.json", dir);
    CHECK(joule_is_file(path));
    CHECK(strstr(out, "tiny-gpt2") != NULL);
    CHECK(strstr(out, "tiny-llama") != NULL);
    CHECK(strstr(out, "report:") != NULL);
    /* every run done: 2 models x 2 reps per available configuration, 3 requests each */
    snprintf(path, sizeof path, "%s/results.db", dir);
    struct joule_study_config cfg[JOULE_STUDY_MAX_CONFIGS];
    size_t n = joule_study_configs(cfg, JOULE_STUDY_MAX_CONFIGS);
    int avail = 0;
    for (size_t i = 0; i < n && i < JOULE_STUDY_MAX_CONFIGS; i++)
        avail += cfg[i].available;
    CHECK_EQ_INT(count_rows(path, "SELECT COUNT(*) FROM runs WHERE status = 'done'"), 4 * avail);
    CHECK_EQ_INT(count_rows(path, "SELECT COUNT(*) FROM runs WHERE status != 'done'"), 0);
    CHECK_EQ_INT(count_rows(path, "SELECT COUNT(*) FROM requests"), 12 * avail);
    /* every run has a machine-total energy (measured or estimated) */
    CHECK_EQ_INT(
        count_rows(path, "SELECT COUNT(DISTINCT run_id) FROM run_energy WHERE in_total = 1"),
        4 * avail);
    /* the summary line of each model/config is printed with a positive tokens/s */
    CHECK(strstr(out, "native/cpu") != NULL);
    /* running it again resumes: nothing is redone, the same database */
    rc = run_capture(cmd, out, sizeof out);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(count_rows(path, "SELECT COUNT(*) FROM runs"), 4 * avail);
}

int main(void)
{
    RUN(test_configs_probe);
    RUN(test_duration_estimate);
    RUN(test_model_support);
    RUN(test_reproduce_dry_run);
    RUN(test_demo_quick);
    return test_summary();
}
