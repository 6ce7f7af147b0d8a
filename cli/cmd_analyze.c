/* joule analyze: the report (statistics per model across serving configurations, tables,
 * plots, recommendations) from a results database or a JSON file of runs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "joule/report.h"
#include "util/clock.h"
#include "util/fileio.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: joule analyze (--db results.db | --input runs.json) --out DIR [options]\n\n"
            "For every metric (global, CPU, GPU and wattmeter energy; execution time; CPU %%,\n"
            "RAM %%, GPU utilisation %%, GPU memory utilisation %%, GPU memory used) runs the\n"
            "study's procedure per model across serving configurations (engine/provider):\n"
            "Shapiro-Wilk on every configuration -> Welch ANOVA + Games-Howell when all are\n"
            "normal, else Kruskal-Wallis + Dunn (Holm). Writes DIR/index.html (self-contained),\n"
            "DIR/stats.json, DIR/tables/*.md|csv|tex (medians by model size, savings, tests,\n"
            "pairs, recommendations) and DIR/plots/*.svg (box plots, one colour per model).\n\n"
            "  -d, --db FILE        results database of 'joule bench' (schema v1, runs 'done')\n"
            "  -i, --input FILE     JSON: {\"runs\": [{\"model\", \"params_m\", \"engine\",\n"
            "                       \"provider\", \"repetition\", \"metrics\": {key: value}}]}\n"
            "  -o, --out DIR        output directory (created)\n"
            "  -a, --alpha A        significance level (default 0.05)\n"
            "  -b, --bootstrap N    bootstrap resamples for median CIs (default 1000, 0 = off)\n"
            "      --small-max M    small models have fewer than M million parameters (1000)\n"
            "      --medium-max M   medium models fewer than M million (2000); large otherwise\n"
            "  -t, --title TEXT     page title\n"
            "  -h, --help           this help\n");
}

int joule_cmd_analyze(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"input", required_argument, NULL, 'i'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"alpha", required_argument, NULL, 'a'},
                                         {"bootstrap", required_argument, NULL, 'b'},
                                         {"title", required_argument, NULL, 't'},
                                         {"small-max", required_argument, NULL, 1},
                                         {"medium-max", required_argument, NULL, 2},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = NULL, *input = NULL, *out = NULL;
    struct joule_report_params p = joule_report_default_params();
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "d:i:o:a:b:t:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'i':
            input = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 't':
            p.title = optarg;
            break;
        case 'a':
            if (joule_cli_alpha("analyze", optarg, &p.alpha)) return 2;
            break;
        case 'b':
            if (joule_cli_count("analyze", "--bootstrap", optarg, 1000000, &p.bootstrap_reps))
                return 2;
            break;
        case 1:
        case 2: {
            double v = strtod(optarg, &end);
            if (!end || *end || !(v > 0)) {
                fprintf(stderr, "joule analyze: size thresholds must be positive numbers\n");
                return 2;
            }
            if (c == 1)
                p.small_max_m = v;
            else
                p.medium_max_m = v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if ((!db == !input) || !out || optind < argc) {
        usage(stderr);
        return 2;
    }
    int64_t t0 = joule_now_ns();
    struct joule_report_rows rows = {0};
    enum joule_status st;
    if (db) {
        st = joule_report_load_db(db, &rows);
    } else {
        char *text = NULL;
        size_t len = 0;
        st = joule_read_file(input, (size_t)1 << 30, &text, &len);
        if (!st) st = joule_report_load_json(text, len, &rows);
        free(text);
    }
    if (st) {
        fprintf(stderr, "joule analyze: %s\n", joule_last_error());
        joule_report_rows_free(&rows);
        return 1;
    }
    struct joule_report *r = NULL;
    st = joule_report_build(rows.rows, rows.n, &p, &r);
    if (!st) st = joule_report_write(r, out);
    if (st) {
        fprintf(stderr, "joule analyze: %s\n", joule_last_error());
        joule_report_free(r);
        joule_report_rows_free(&rows);
        return 1;
    }
    fprintf(stderr, "joule analyze: %zu rows, %zu analyses -> %s/index.html (%.3f s)\n", rows.n,
            joule_report_analysis_count(r), out, (double)(joule_now_ns() - t0) / 1e9);
    joule_report_free(r);
    joule_report_rows_free(&rows);
    return 0;
}
