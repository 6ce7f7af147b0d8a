/* joule analyze at the study's scale: 12 models × 7 configurations × 10 repetitions (× 164
 * requests per run in the database), all 10 metrics. Times loading the database, the
 * statistics (build) and writing every output, as the median of several runs.
 *
 *   build/bench_analyze [runs=5] [bootstrap=1000]
 *
 * Baseline for the ratio: the same pipeline with bootstrap CIs off (bootstrap=0). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "joule/report.h"
#include "util/clock.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double once(const char *db, const char *out, size_t boot, size_t *nrows, size_t *nan,
                   double *t_load, double *t_build, double *t_write, double *cpu)
{
    double c0 = cpu_s();
    int64_t t0 = joule_now_ns();
    struct joule_report_rows rows = {0};
    if (joule_report_load_db(db, &rows)) {
        fprintf(stderr, "load: %s\n", joule_last_error());
        exit(1);
    }
    int64_t t1 = joule_now_ns();
    struct joule_report_params p = joule_report_default_params();
    p.bootstrap_reps = boot;
    struct joule_report *r = NULL;
    if (joule_report_build(rows.rows, rows.n, &p, &r)) {
        fprintf(stderr, "build: %s\n", joule_last_error());
        exit(1);
    }
    int64_t t2 = joule_now_ns();
    if (joule_report_write(r, out)) {
        fprintf(stderr, "write: %s\n", joule_last_error());
        exit(1);
    }
    int64_t t3 = joule_now_ns();
    *nrows = rows.n;
    *nan = joule_report_analysis_count(r);
    joule_report_free(r);
    joule_report_rows_free(&rows);
    *t_load = (double)(t1 - t0) / 1e9;
    *t_build = (double)(t2 - t1) / 1e9;
    *t_write = (double)(t3 - t2) / 1e9;
    *cpu = cpu_s() - c0;
    return (double)(t3 - t0) / 1e9;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    size_t boot = argc > 2 ? (size_t)atol(argv[2]) : 1000;
    if (runs < 1) runs = 1;
    char dir[] = "/tmp/joule_bench_analyze_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char db[256], out[256];
    snprintf(db, sizeof db, "%s/results.db", dir);
    snprintf(out, sizeof out, "%s/report", dir);
    int64_t t0 = joule_now_ns();
    if (joule_report_synthetic_db(db, 10, 164, 42)) {
        fprintf(stderr, "synthetic db: %s\n", joule_last_error());
        return 1;
    }
    printf("synthetic database: 12 models x 7 configurations x 10 reps x 164 requests (%.2f s)\n",
           (double)(joule_now_ns() - t0) / 1e9);
    double *tot = calloc((size_t)runs, sizeof *tot), *base = calloc((size_t)runs, sizeof *base);
    double *cpu = calloc((size_t)runs, sizeof *cpu), *cpub = calloc((size_t)runs, sizeof *cpub);
    double tl = 0, tb = 0, tw = 0;
    size_t nrows = 0, nan = 0;
    for (int i = 0; i < runs; i++) {
        double a, b, c;
        base[i] = once(db, out, 0, &nrows, &nan, &a, &b, &c, &cpub[i]);
        tot[i] = once(db, out, boot, &nrows, &nan, &tl, &tb, &tw, &cpu[i]);
    }
    qsort(tot, (size_t)runs, sizeof *tot, cmp);
    qsort(base, (size_t)runs, sizeof *base, cmp);
    qsort(cpu, (size_t)runs, sizeof *cpu, cmp);
    qsort(cpub, (size_t)runs, sizeof *cpub, cmp);
    printf("rows %zu, analyses %zu, last run: load %.3f s, statistics %.3f s, write %.3f s\n",
           nrows, nan, tl, tb, tw);
    printf("analyze (bootstrap %zu): median %.3f s over %d runs (min %.3f, max %.3f)\n", boot,
           tot[runs / 2], runs, tot[0], tot[runs - 1]);
    printf("baseline (bootstrap 0): median %.3f s; ratio %.2f\n", base[runs / 2],
           tot[runs / 2] / base[runs / 2]);
    printf("process CPU time: median %.3f s (baseline %.3f s)\n", cpu[runs / 2], cpub[runs / 2]);
    free(tot);
    free(base);
    free(cpu);
    free(cpub);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
