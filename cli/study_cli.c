/* Campaign-per-configuration runner, report writer and summary table shared by
 * joule demo and joule reproduce. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "joule/report.h"
#include "study_cli.h"
#include "util/clock.h"

struct study_ui {
    int tty;
    int64_t t0;
};

static void on_progress(void *user, const struct joule_bench_progress *p)
{
    struct study_ui *u = user;
    if (!u->tty) return;
    fprintf(stderr, "\r  run %d/%d %-22s %s/%s rep %d  %-8s %d/%d requests   ", p->run_index + 1,
            p->n_runs, p->run->model, p->run->engine, p->run->provider, p->run->repetition,
            joule_bench_phase_name(p->phase), p->requests_done, p->n_requests);
    fflush(stderr);
}

static void on_run_end(void *user, const struct joule_bench_progress *p,
                       const struct joule_bench_run_result *r)
{
    struct study_ui *u = user;
    if (u->tty) fprintf(stderr, "\r%-100s\r", "");
    fprintf(stderr, "  run %d/%d %s %s/%s rep %d: %s (%d ok, %d failed, %.1f s)\n",
            p->run_index + 1, p->n_runs, p->run->model, p->run->engine, p->run->provider,
            p->run->repetition, r->failed ? "FAILED" : "done", r->requests_ok, r->requests_failed,
            r->execution_s);
}

static void on_message(void *user, const char *text)
{
    (void)user;
    fprintf(stderr, "  %s\n", text);
}

/* Copy a string into a fixed field, truncating (paths here are checked short). */
void study_set_field(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One line per (model, engine, provider): medians over the repetitions. */
int study_print_summary(const char *db_path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "joule: %s: %s\n", db_path, db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        return -1;
    }
    const char *sql =
        "SELECT r.model, r.engine, r.provider, r.execution_s, r.completion_tokens,"
        " (SELECT SUM(e.gross_j) FROM run_energy e WHERE e.run_id = r.id AND e.in_total = 1),"
        " (SELECT MAX(e.estimated) FROM run_energy e WHERE e.run_id = r.id AND e.in_total = 1),"
        " r.server_rss_mb_max"
        " FROM runs r WHERE r.status = 'done' ORDER BY r.model, r.engine, r.provider";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "joule: %s: %s\n", db_path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return -1;
    }
    printf("\n%-22s %-12s %4s %12s %10s %10s %10s %9s\n", "model", "config", "runs", "energy J",
           "time s", "J/token", "tokens/s", "RSS MiB");
    char cur[3][128] = {{0}};
    double ej[64], ts[64], jt[64], tp[64], rss[64];
    int n = 0, any_est = 0, rows = 0;
    for (;;) {
        int rc = sqlite3_step(st);
        const char *m = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        const char *e = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 1) : NULL;
        const char *p = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 2) : NULL;
        int same = m && e && p && !strcmp(m, cur[0]) && !strcmp(e, cur[1]) && !strcmp(p, cur[2]);
        if (!same && n > 0) {
            char cfg[300];
            snprintf(cfg, sizeof cfg, "%s/%s", cur[1], cur[2]);
            printf("%-22.22s %-12s %4d %12.2f %10.2f %10.4f %10.1f %9.0f\n", cur[0], cfg, n,
                   median(ej, n), median(ts, n), median(jt, n), median(tp, n), median(rss, n));
            rows++;
            n = 0;
        }
        if (rc != SQLITE_ROW) break;
        if (!same) {
            study_set_field(cur[0], sizeof cur[0], m);
            study_set_field(cur[1], sizeof cur[1], e);
            study_set_field(cur[2], sizeof cur[2], p);
        }
        if (n >= 64) continue;
        double exec_s = sqlite3_column_double(st, 3);
        double toks = sqlite3_column_double(st, 4);
        double energy =
            sqlite3_column_type(st, 5) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 5);
        any_est |= sqlite3_column_int(st, 6);
        ej[n] = energy;
        ts[n] = exec_s;
        jt[n] = toks > 0 ? energy / toks : NAN;
        tp[n] = exec_s > 0 ? toks / exec_s : NAN;
        rss[n] = sqlite3_column_type(st, 7) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 7);
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    printf("\nmedians over repetitions; energy = the machine total over the requests phase%s\n",
           any_est ? " (ESTIMATED: no energy counter on this machine, see README)" : "");
    return rows;
}

int study_run_campaigns(const struct joule_bench_settings *base, const char *prefix,
                        const struct joule_study_config *cfg, size_t n_cfg)
{
    struct study_ui ui = {.tty = isatty(2), .t0 = joule_now_ns()};
    struct joule_bench_events ev = {&ui, on_progress, on_run_end, on_message};
    int failed = 0;
    for (size_t i = 0; i < n_cfg; i++) {
        if (!cfg[i].available) continue;
        struct joule_bench_settings *bs = malloc(sizeof *bs);
        if (!bs) return -1;
        *bs = *base;
        char name[128];
        snprintf(name, sizeof name, "%.40s-%.31s-%.31s", prefix, cfg[i].engine, cfg[i].provider);
        study_set_field(bs->name, sizeof bs->name, name);
        study_set_field(bs->engines[0], sizeof bs->engines[0], cfg[i].engine);
        bs->n_engines = 1;
        study_set_field(bs->providers[0], sizeof bs->providers[0], cfg[i].provider);
        bs->n_providers = 1;
        /* only the models this engine computes exactly */
        int kept = 0;
        for (int m = 0; m < base->n_models; m++) {
            char why[256];
            if (!joule_study_dir_supported(cfg[i].engine, base->models[m], why, sizeof why)) {
                fprintf(stderr, "  %s under %s/%s: skipped (%s)\n", base->models[m], cfg[i].engine,
                        cfg[i].provider, why);
                continue;
            }
            if (kept != m) memcpy(bs->models[kept], base->models[m], sizeof bs->models[kept]);
            kept++;
        }
        bs->n_models = kept;
        if (kept == 0) {
            free(bs);
            continue;
        }
        fflush(stdout);
        struct joule_bench_summary sum;
        enum joule_status s = joule_bench_campaign_run(bs, &ev, &sum);
        if (s != JOULE_OK) {
            fprintf(stderr, "joule: campaign %s: %s\n", bs->name, joule_last_error());
            free(bs);
            return -1;
        }
        free(bs);
        failed += sum.n_failed;
    }
    return failed;
}

int study_write_report(const char *db, const char *report_dir, const char *title)
{
    struct joule_report_rows rows = {0};
    struct joule_report *rep = NULL;
    struct joule_report_params rp = joule_report_default_params();
    rp.title = title;
    enum joule_status s = joule_report_load_db(db, &rows);
    if (s == JOULE_OK) s = joule_report_build(rows.rows, rows.n, &rp, &rep);
    if (s == JOULE_OK) s = joule_report_write(rep, report_dir);
    joule_report_free(rep);
    joule_report_rows_free(&rows);
    if (s != JOULE_OK) {
        fprintf(stderr, "joule: report: %s\n", joule_last_error());
        return -1;
    }
    return 0;
}
