/* joule stats: the study's statistical procedure on groups of numbers from a JSON file. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "joule/stats.h"
#include "util/fileio.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: joule stats --input FILE.json [--json] [--alpha A] [--bootstrap N] [--seed S]\n\n"
        "Runs descriptives, Shapiro-Wilk, Levene (mean and median), Welch ANOVA +\n"
        "Games-Howell, Kruskal-Wallis + Dunn (Bonferroni, Holm) on the groups of FILE.json\n"
        "({\"groups\": {\"name\": [numbers], ...}}), and says which procedure applies:\n"
        "all groups normal by Shapiro-Wilk -> Welch + Games-Howell, else Kruskal + Dunn.\n"
        "Undefined statistics are printed as null (JSON) or '-' with the reason.\n\n"
        "  -i, --input FILE    input JSON (required; '-' reads standard input)\n"
        "  -j, --json          print JSON instead of text tables\n"
        "  -a, --alpha A       significance level (default 0.05)\n"
        "  -b, --bootstrap N   bootstrap resamples for median CIs (default 2000, 0 = off)\n"
        "  -s, --seed S        bootstrap seed (default 20241219)\n"
        "  -h, --help          this help\n");
}

static void fmt(char *buf, size_t cap, double v)
{
    if (isfinite(v))
        snprintf(buf, cap, "%.6g", v);
    else
        snprintf(buf, cap, "-");
}

static void print_ftest(const char *title, const char *stat, const struct joule_stats_ftest *f)
{
    char a[32], b[32], c[32], d[32];
    fmt(a, sizeof a, f->statistic);
    fmt(b, sizeof b, f->df1);
    fmt(c, sizeof c, f->df2);
    fmt(d, sizeof d, f->p);
    printf("%-15s %s = %s  df1 = %s  df2 = %s  p = %s%s%s%s\n", title, stat, a, b, c, d,
           f->undefined ? "  (undefined: " : "", f->undefined ? f->undefined : "",
           f->undefined ? ")" : "");
}

static void print_text(const struct joule_stats_analysis *r)
{
    char b[10][32];
    printf("%-16s %5s %12s %12s %12s %12s %12s %12s %12s  %10s %10s\n", "group", "n", "mean", "sd",
           "median", "q1", "q3", "min", "max", "shapiro W", "p");
    for (size_t i = 0; i < r->k; i++) {
        const struct joule_stats_describe *d = &r->describe[i];
        fmt(b[0], 32, d->mean);
        fmt(b[1], 32, d->sd);
        fmt(b[2], 32, d->median);
        fmt(b[3], 32, d->q1);
        fmt(b[4], 32, d->q3);
        fmt(b[5], 32, d->min);
        fmt(b[6], 32, d->max);
        fmt(b[7], 32, r->shapiro[i].w);
        fmt(b[8], 32, r->shapiro[i].p);
        printf("%-16s %5zu %12s %12s %12s %12s %12s %12s %12s  %10s %10s%s%s\n", r->names[i], d->n,
               b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8],
               r->shapiro[i].undefined ? "  " : "",
               r->shapiro[i].undefined ? r->shapiro[i].undefined : "");
    }
    printf("\n");
    print_ftest("Levene (mean)", "F", &r->levene_mean);
    print_ftest("Levene (median)", "F", &r->levene_median);
    print_ftest("Welch ANOVA", "F", &r->welch);
    fmt(b[0], 32, r->kruskal.h);
    fmt(b[1], 32, r->kruskal.df);
    fmt(b[2], 32, r->kruskal.p);
    fmt(b[3], 32, r->kruskal.epsilon2);
    printf("%-15s H = %s  df = %s  p = %s  epsilon2 = %s%s%s\n", "Kruskal-Wallis", b[0], b[1], b[2],
           b[3], r->kruskal.undefined ? "  undefined: " : "",
           r->kruskal.undefined ? r->kruskal.undefined : "");
    printf("\n%-16s %-16s %12s %12s %10s %10s %12s | %10s %12s %12s %12s\n", "a", "b", "diff", "se",
           "t", "df", "p (GH)", "z", "p (Dunn)", "p_bonf", "p_holm");
    for (size_t i = 0; i < r->npairs; i++) {
        const struct joule_stats_gh_pair *g = &r->games_howell[i];
        const struct joule_stats_dunn_pair *d = &r->dunn[i];
        fmt(b[0], 32, g->diff);
        fmt(b[1], 32, g->se);
        fmt(b[2], 32, g->t);
        fmt(b[3], 32, g->df);
        fmt(b[4], 32, g->p);
        fmt(b[5], 32, d->z);
        fmt(b[6], 32, d->p);
        fmt(b[7], 32, d->p_bonferroni);
        fmt(b[8], 32, d->p_holm);
        printf("%-16s %-16s %12s %12s %10s %10s %12s | %10s %12s %12s %12s\n", r->names[g->a],
               r->names[g->b], b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]);
    }
    printf("\ndecision: %s\n", r->reason);
}

int joule_cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {{"input", required_argument, NULL, 'i'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"alpha", required_argument, NULL, 'a'},
                                         {"bootstrap", required_argument, NULL, 'b'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *input = NULL;
    int json = 0;
    struct joule_stats_params params = joule_stats_default_params();
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "i:ja:b:s:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'i':
            input = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'a':
            if (joule_cli_alpha("stats", optarg, &params.alpha)) return 2;
            break;
        case 'b':
            if (joule_cli_count("stats", "--bootstrap", optarg, 1000000, &params.bootstrap_reps))
                return 2;
            break;
        case 's':
            params.seed = strtoull(optarg, &end, 10);
            if (!end || *end) {
                fprintf(stderr, "joule stats: --seed must be an integer\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!input || optind < argc) {
        usage(stderr);
        return 2;
    }
    char *text = NULL;
    size_t len = 0;
    enum joule_status st;
    if (!strcmp(input, "-")) {
        st = joule_read_file("/dev/stdin", (size_t)1 << 30, &text, &len);
    } else {
        st = joule_read_file(input, (size_t)1 << 30, &text, &len);
    }
    if (st) {
        fprintf(stderr, "joule stats: %s: %s\n", input, joule_last_error());
        return 1;
    }
    struct joule_stats_group *g = NULL;
    size_t k = 0;
    st = joule_stats_parse_groups(text, len, &g, &k);
    free(text);
    if (st) {
        fprintf(stderr, "joule stats: %s: %s\n", input, joule_last_error());
        return 1;
    }
    struct joule_stats_analysis r;
    st = joule_stats_analyze(g, k, &params, &r);
    joule_stats_groups_free(g, k);
    if (st) {
        fprintf(stderr, "joule stats: %s\n", joule_last_error());
        return 1;
    }
    if (json) {
        char *s = joule_stats_analysis_json(&r, 1);
        if (!s) {
            joule_stats_analysis_free(&r);
            fprintf(stderr, "joule stats: out of memory\n");
            return 1;
        }
        printf("%s\n", s);
        free(s);
    } else {
        print_text(&r);
    }
    joule_stats_analysis_free(&r);
    return 0;
}
