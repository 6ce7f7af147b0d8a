/* stats: every dataset of tests/fixtures/stats/golden.json (R / scipy / mpmath references, see
 * its README) to the tolerances stated there, plus the distributions against independent
 * values, the procedure, the JSON input, and `joule stats`.
 *
 * Tolerances (fixture README): statistics and descriptives 1e-6 relative; p-values 1e-4 relative
 * or 1e-9 absolute, whichever is larger; Shapiro-Wilk p 1e-3 relative (AS R94's own accuracy). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "joule/stats.h"
#include "stats/stats_internal.h"
#include "test.h"
#include "util/fileio.h"
#include "util/json.h"

#define TOL_STAT 1e-6
#define TOL_P_REL 1e-4
#define TOL_P_ABS 1e-9
#define TOL_SW_P 1e-3

/* The largest relative deviation seen per quantity (printed at the end for the record). */
#define MAXQ 48
struct dev {
    const char *name;
    double rel, abs;
};
static struct dev g_dev[MAXQ];
static int g_ndev;

static void note_dev(const char *q, double got, double want)
{
    double a = fabs(got - want), r = want != 0.0 ? a / fabs(want) : a;
    int i = 0;
    while (i < g_ndev && strcmp(g_dev[i].name, q))
        i++;
    if (i == g_ndev) {
        if (g_ndev == MAXQ) return;
        g_dev[g_ndev++] = (struct dev){q, 0.0, 0.0};
    }
    if (r > g_dev[i].rel) g_dev[i].rel = r;
    if (a > g_dev[i].abs) g_dev[i].abs = a;
}

/* Expected number or null: null must come with an undefined result. */
#define CHECK_VAL(q, got, item, rel, abs_)                                                         \
    do {                                                                                           \
        const cJSON *it_ = (item);                                                                 \
        if (cJSON_IsNull(it_) || !it_) {                                                           \
            CHECK(isnan(got));                                                                     \
        } else {                                                                                   \
            double w_ = it_->valuedouble;                                                          \
            CHECK_CLOSE(got, w_, rel, abs_);                                                       \
            note_dev(q, got, w_);                                                                  \
        }                                                                                          \
    } while (0)

static cJSON *load_golden(void)
{
    cJSON *j = NULL;
    enum joule_status st = joule_json_load_file(test_fixture("stats/golden.json"), 1 << 24, &j);
    CHECK_OK(st);
    return j;
}

static size_t load_groups(const cJSON *ds, struct joule_stats_group *g, double **store)
{
    const cJSON *order = cJSON_GetObjectItem(ds, "group_order");
    const cJSON *groups = cJSON_GetObjectItem(ds, "groups");
    size_t k = 0;
    for (const cJSON *o = order->child; o; o = o->next, k++) {
        const cJSON *arr = cJSON_GetObjectItem(groups, o->valuestring);
        size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
        store[k] = malloc(n * sizeof(double));
        for (const cJSON *v = arr->child; v; v = v->next)
            store[k][i++] = v->valuedouble;
        g[k] = (struct joule_stats_group){o->valuestring, store[k], n};
    }
    return k;
}

static size_t group_index(const struct joule_stats_group *g, size_t k, const char *name)
{
    for (size_t i = 0; i < k; i++)
        if (!strcmp(g[i].name, name)) return i;
    return (size_t)-1;
}

/* q_stat, q_df2, q_p: names under which deviations are recorded (string literals). */
static void check_ftest(const struct joule_stats_ftest *f, const cJSON *e, const char *statkey,
                        const char *q_stat, const char *q_df2, const char *q_p)
{
    CHECK_VAL(q_stat, f->statistic, cJSON_GetObjectItem(e, statkey), TOL_STAT, 1e-300);
    CHECK_VAL("df1", f->df1, cJSON_GetObjectItem(e, "df1"), 0, 0);
    CHECK_VAL(q_df2, f->df2, cJSON_GetObjectItem(e, "df2"), TOL_STAT, 0);
    CHECK_VAL(q_p, f->p, cJSON_GetObjectItem(e, "p"), TOL_P_REL, TOL_P_ABS);
    if (cJSON_IsNull(cJSON_GetObjectItem(e, statkey)))
        CHECK(f->undefined != NULL);
    else
        CHECK(f->undefined == NULL);
}

static void test_golden(void)
{
    cJSON *gold = load_golden();
    if (!gold) return;
    const cJSON *datasets = cJSON_GetObjectItem(gold, "datasets");
    int ndatasets = 0;
    for (const cJSON *ds = datasets->child; ds; ds = ds->next, ndatasets++) {
        const char *name = cJSON_GetObjectItem(ds, "name")->valuestring;
        fprintf(stderr, "  dataset %s\n", name);
        const cJSON *e = cJSON_GetObjectItem(ds, "expected");
        struct joule_stats_group g[16];
        double *store[16] = {0};
        size_t k = load_groups(ds, g, store);
        size_t m = k * (k - 1) / 2;

        /* describe */
        const cJSON *de = cJSON_GetObjectItem(e, "describe");
        for (size_t i = 0; i < k; i++) {
            struct joule_stats_describe d;
            CHECK_OK(joule_stats_describe(g[i].x, g[i].n, &d));
            const cJSON *o = cJSON_GetObjectItem(de, g[i].name);
            CHECK_EQ_INT(d.n, cJSON_GetObjectItem(o, "n")->valueint);
            CHECK_VAL("describe.mean", d.mean, cJSON_GetObjectItem(o, "mean"), TOL_STAT, 1e-300);
            CHECK_VAL("describe.sd", d.sd, cJSON_GetObjectItem(o, "sd"), TOL_STAT, 1e-300);
            CHECK_VAL("describe.var", d.var, cJSON_GetObjectItem(o, "var"), TOL_STAT, 1e-300);
            CHECK_VAL("describe.median", d.median, cJSON_GetObjectItem(o, "median"), TOL_STAT, 0);
            CHECK_VAL("describe.q1", d.q1, cJSON_GetObjectItem(o, "q1"), TOL_STAT, 0);
            CHECK_VAL("describe.q3", d.q3, cJSON_GetObjectItem(o, "q3"), TOL_STAT, 0);
            CHECK_VAL("describe.min", d.min, cJSON_GetObjectItem(o, "min"), 0, 0);
            CHECK_VAL("describe.max", d.max, cJSON_GetObjectItem(o, "max"), 0, 0);
        }

        /* savings on medians and means, every ordered pair */
        for (const cJSON *s = cJSON_GetObjectItem(e, "savings")->child; s; s = s->next) {
            size_t a = group_index(g, k, cJSON_GetObjectItem(s, "a")->valuestring);
            size_t b = group_index(g, k, cJSON_GetObjectItem(s, "b")->valuestring);
            CHECK(a < k && b < k); /* the fixture names only groups of group_order */
            if (a >= k || b >= k) continue;
            struct joule_stats_describe da, db;
            CHECK_OK(joule_stats_describe(g[a].x, g[a].n, &da));
            CHECK_OK(joule_stats_describe(g[b].x, g[b].n, &db));
            CHECK_VAL("savings.median", joule_stats_savings_pct(da.median, db.median),
                      cJSON_GetObjectItem(s, "median_savings_pct"), TOL_STAT, 1e-12);
            CHECK_VAL("savings.mean", joule_stats_savings_pct(da.mean, db.mean),
                      cJSON_GetObjectItem(s, "mean_savings_pct"), TOL_STAT, 1e-9);
        }

        /* Shapiro-Wilk */
        const cJSON *she = cJSON_GetObjectItem(e, "shapiro");
        for (size_t i = 0; i < k; i++) {
            struct joule_stats_shapiro sw;
            CHECK_OK(joule_stats_shapiro(g[i].x, g[i].n, &sw));
            const cJSON *o = cJSON_GetObjectItem(she, g[i].name);
            CHECK_VAL("shapiro.W", sw.w, cJSON_GetObjectItem(o, "W"), TOL_STAT, 0);
            CHECK_VAL("shapiro.p", sw.p, cJSON_GetObjectItem(o, "p"), TOL_SW_P, 1e-12);
            CHECK((sw.undefined != NULL) == cJSON_IsNull(cJSON_GetObjectItem(o, "W")));
        }

        struct joule_stats_ftest f;
        CHECK_OK(joule_stats_levene(g, k, JOULE_STATS_CENTER_MEAN, &f));
        check_ftest(&f, cJSON_GetObjectItem(e, "levene_mean"), "statistic", "levene_mean.statistic",
                    "levene_mean.df2", "levene_mean.p");
        CHECK_OK(joule_stats_levene(g, k, JOULE_STATS_CENTER_MEDIAN, &f));
        check_ftest(&f, cJSON_GetObjectItem(e, "levene_median"), "statistic",
                    "levene_median.statistic", "levene_median.df2", "levene_median.p");
        CHECK_OK(joule_stats_welch_anova(g, k, &f));
        check_ftest(&f, cJSON_GetObjectItem(e, "welch_anova"), "F", "welch_anova.F",
                    "welch_anova.df2", "welch_anova.p");

        /* Games-Howell: mean_diff etc. relative 1e-6, except the near-identical dataset whose
         * differences of ~1e-5 on means ~100 depend on summation order: there an absolute
         * tolerance of 1e-6 × the mean's magnitude × ulp-level is used (README caveat 5). */
        struct joule_stats_gh_pair *gh = calloc(m, sizeof *gh);
        CHECK_OK(joule_stats_games_howell(g, k, gh));
        size_t i = 0;
        for (const cJSON *o = cJSON_GetObjectItem(e, "games_howell")->child; o; o = o->next, i++) {
            CHECK(i < m);
            if (i >= m) break;
            CHECK_EQ_STR(g[gh[i].a].name, cJSON_GetObjectItem(o, "group1")->valuestring);
            CHECK_EQ_STR(g[gh[i].b].name, cJSON_GetObjectItem(o, "group2")->valuestring);
            double scale = fabs(cJSON_GetObjectItem(o, "mean1")->valuedouble);
            CHECK_VAL("games_howell.mean_diff", gh[i].diff, cJSON_GetObjectItem(o, "mean_diff"),
                      TOL_STAT, 1e-13 * scale);
            CHECK_VAL("games_howell.se", gh[i].se, cJSON_GetObjectItem(o, "se"), TOL_STAT, 0);
            double tabs = 1e-13 * scale / gh[i].se;
            CHECK_VAL("games_howell.t", gh[i].t, cJSON_GetObjectItem(o, "t"), TOL_STAT, tabs);
            CHECK_VAL("games_howell.df", gh[i].df, cJSON_GetObjectItem(o, "df"), TOL_STAT, 0);
            CHECK_VAL("games_howell.q", gh[i].q, cJSON_GetObjectItem(o, "q"), TOL_STAT, tabs * 1.5);
            CHECK_VAL("games_howell.p", gh[i].p, cJSON_GetObjectItem(o, "p"), TOL_P_REL, TOL_P_ABS);
        }
        CHECK_EQ_INT(i, m);
        free(gh);

        struct joule_stats_kruskal kw;
        CHECK_OK(joule_stats_kruskal(g, k, &kw));
        const cJSON *ke = cJSON_GetObjectItem(e, "kruskal");
        CHECK_VAL("kruskal.H", kw.h, cJSON_GetObjectItem(ke, "H"), TOL_STAT, 0);
        CHECK_VAL("kruskal.df", kw.df, cJSON_GetObjectItem(ke, "df"), 0, 0);
        CHECK_VAL("kruskal.p", kw.p, cJSON_GetObjectItem(ke, "p"), TOL_P_REL, TOL_P_ABS);
        CHECK_VAL("kruskal.tie_correction", kw.tie_correction,
                  cJSON_GetObjectItem(ke, "tie_correction"), TOL_STAT, 0);

        struct joule_stats_dunn_pair *dn = calloc(m, sizeof *dn);
        CHECK_OK(joule_stats_dunn(g, k, dn));
        i = 0;
        for (const cJSON *o = cJSON_GetObjectItem(e, "dunn")->child; o; o = o->next, i++) {
            if (i >= m) break;
            CHECK_EQ_STR(g[dn[i].a].name, cJSON_GetObjectItem(o, "group1")->valuestring);
            CHECK_EQ_STR(g[dn[i].b].name, cJSON_GetObjectItem(o, "group2")->valuestring);
            CHECK_VAL("dunn.mean_rank1", dn[i].mean_rank_a, cJSON_GetObjectItem(o, "mean_rank1"),
                      TOL_STAT, 0);
            CHECK_VAL("dunn.mean_rank2", dn[i].mean_rank_b, cJSON_GetObjectItem(o, "mean_rank2"),
                      TOL_STAT, 0);
            CHECK_VAL("dunn.z", dn[i].z, cJSON_GetObjectItem(o, "z"), TOL_STAT, 1e-12);
            CHECK_VAL("dunn.p", dn[i].p, cJSON_GetObjectItem(o, "p"), TOL_P_REL, TOL_P_ABS);
            CHECK_VAL("dunn.p_bonferroni", dn[i].p_bonferroni,
                      cJSON_GetObjectItem(o, "p_bonferroni"), TOL_P_REL, TOL_P_ABS);
            CHECK_VAL("dunn.p_holm", dn[i].p_holm, cJSON_GetObjectItem(o, "p_holm"), TOL_P_REL,
                      TOL_P_ABS);
        }
        CHECK_EQ_INT(i, m);
        free(dn);

        /* The whole procedure agrees with the pieces and picks its branch by Shapiro-Wilk. */
        struct joule_stats_params pr = joule_stats_default_params();
        pr.bootstrap_reps = 200;
        struct joule_stats_analysis an;
        CHECK_OK(joule_stats_analyze(g, k, &pr, &an));
        int all_normal = 1;
        for (size_t j = 0; j < k; j++) {
            const cJSON *p = cJSON_GetObjectItem(cJSON_GetObjectItem(she, g[j].name), "p");
            if (cJSON_IsNull(p) || p->valuedouble < 0.05) all_normal = 0;
        }
        CHECK_EQ_INT(an.procedure, all_normal ? JOULE_STATS_PARAMETRIC : JOULE_STATS_NONPARAMETRIC);
        CHECK(strlen(an.reason) > 20);
        joule_stats_analysis_free(&an);

        for (size_t j = 0; j < k; j++)
            free(store[j]);
    }
    CHECK_EQ_INT(ndatasets, 8);
    cJSON_Delete(gold);
}

/* Independent reference values (mpmath at 30 digits: ncdf, findroot of ncdf) and closed forms
 * that hold exactly. */
static void test_distributions(void)
{
    CHECK_CLOSE(joule_stats_normal_cdf(-1.96), 0.024997895148220435, 1e-14, 0);
    CHECK_CLOSE(joule_stats_normal_sf(10.0), 7.6198530241605261e-24, 1e-13, 0);
    CHECK_CLOSE(joule_stats_normal_quantile(0.975), 1.959963984540054, 1e-15, 0);
    CHECK_CLOSE(joule_stats_normal_quantile(1e-300), -37.047096299361199, 1e-14, 0);
    CHECK_CLOSE(joule_stats_normal_quantile(0.3), -0.52440051270804078, 1e-14, 0);
    for (double p = 1e-12; p < 1.0; p *= 3.7)
        CHECK_CLOSE(joule_stats_normal_cdf(joule_stats_normal_quantile(p)), p, 1e-14, 0);
    /* chi-square with 2 df is exponential: sf(x) = exp(-x/2) */
    for (double x = 0.01; x < 200.0; x *= 2.3)
        CHECK_CLOSE(joule_stats_chi2_sf(x, 2.0), exp(-0.5 * x), 1e-13, 0);
    /* chi-square with 1 df: sf(x) = 2 Φ(−√x) */
    for (double x = 0.01; x < 200.0; x *= 2.3)
        CHECK_CLOSE(joule_stats_chi2_sf(x, 1.0), 2.0 * joule_stats_normal_sf(sqrt(x)), 1e-12, 0);
    /* t with 1 df is Cauchy: P(|T| > t) = 1 − 2 atan(t)/π */
    for (double t = 0.01; t < 1e4; t *= 3.1)
        CHECK_CLOSE(joule_stats_t_sf2(t, 1.0), 2.0 * atan(1.0 / t) / M_PI, 1e-13, 0);
    /* t with 2 df: P(|T| > t) = 1 − t/sqrt(2 + t²) = 2/(sqrt(2+t²)(sqrt(2+t²)+t)) */
    for (double t = 0.01; t < 1e4; t *= 3.1) {
        double r = sqrt(2.0 + t * t);
        CHECK_CLOSE(joule_stats_t_sf2(t, 2.0), 2.0 / (r * (r + t)), 1e-13, 0);
    }
    /* F(df1, df2) = t² when df1 = 1 */
    CHECK_CLOSE(joule_stats_f_sf(4.0, 1.0, 7.0), joule_stats_t_sf2(2.0, 7.0), 1e-13, 0);
    /* F(2, 2): sf(f) = 1/(1 + f) */
    for (double f = 0.01; f < 1e6; f *= 4.1)
        CHECK_CLOSE(joule_stats_f_sf(f, 2.0, 2.0), 1.0 / (1.0 + f), 1e-13, 0);
    CHECK(isnan(joule_stats_f_sf(1.0, 0.0, 3.0)));
    CHECK(isnan(joule_stats_ptukey_sf(1.0, 1.0, 3.0)));
    CHECK_EQ_INT(joule_stats_ptukey_sf(0.0, 3.0, 3.0) == 1.0, 1);
}

/* Studentized range for k >= 3 against a 20-digit mpmath evaluation of the same tail integral
 * (tests/fixtures/stats/ptukey_mpmath.txt, made with scripts/ptukey_reference.py, minutes per
 * point; see PROVENANCE): p from 0.034 down to 3.5e-26, df 2.5 … 200, k 3, 5, 7. The golden
 * fixture adds 45 Games-Howell p values (k 2 … 7) and test_ptukey_k2_identity the exact k = 2
 * identity over df 0.7 … 1e7. */
static void test_ptukey_reference(void)
{
    FILE *f = fopen(test_fixture("stats/ptukey_mpmath.txt"), "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        double q, k, df, p;
        if (line[0] == '#' || sscanf(line, "%lf %lf %lf %lf", &q, &k, &df, &p) != 4) continue;
        double got = joule_stats_ptukey_sf(q, k, df);
        CHECK_CLOSE(got, p, 1e-8, 0);
        note_dev("ptukey (mpmath ref, k>=3)", got, p);
        n++;
    }
    fclose(f);
    CHECK(n >= 3);
    /* df = inf is the range of k normals, P(max − min > w): mpmath (scripts/ptukey_reference.py,
     * function R, 20 digits) gives these for k = 5 */
    CHECK_CLOSE(joule_stats_ptukey_sf(15.0, 5.0, INFINITY), 2.7766493803428401393e-25, 1e-9, 0);
    CHECK_CLOSE(joule_stats_ptukey_sf(20.0, 5.0, INFINITY), 2.0884875837625432497e-44, 1e-9, 0);
    CHECK_CLOSE(joule_stats_ptukey_sf(25.0, 5.0, INFINITY), 6.2319427819799110061e-69, 1e-9, 0);
    /* large df must approach df = inf */
    double pinf = joule_stats_ptukey_sf(3.5, 4.0, INFINITY);
    CHECK_CLOSE(joule_stats_ptukey_sf(3.5, 4.0, 1e6), pinf, 1e-5, 0);
    /* k = 2 is the exact t identity: P(Q > q) = P(|T| > q/√2) */
    CHECK_CLOSE(joule_stats_ptukey_sf(4.0, 2.0, 5.0), joule_stats_t_sf2(4.0 / sqrt(2.0), 5.0),
                1e-15, 0);
    /* monotone in q */
    double prev = 1.0;
    for (double q = 0.5; q < 30.0; q += 0.5) {
        double p = joule_stats_ptukey_sf(q, 5.0, 12.0);
        CHECK(p < prev);
        prev = p;
    }
}

/* The integration machinery (outer integral over s, per-k table of log R_k) run for k = 2, where
 * the exact identity P(Q_{2,df} > q) = P(|T_df| > q/√2) gives an independent answer, over df
 * from 0.7 to 1e7 and p from 0.96 down to 1e-300. */
static void test_ptukey_k2_identity(void)
{
    const double dfs[] = {0.7, 1, 2.5, 5, 10, 30, 100, 1000, 1e4, 1e5, 1e6, 1e7};
    const double qs[] = {0.1, 0.5, 1, 2, 4, 8, 16, 32, 64, 128};
    for (size_t a = 0; a < sizeof dfs / sizeof dfs[0]; a++)
        for (size_t b = 0; b < sizeof qs / sizeof qs[0]; b++) {
            double exact = joule_stats_t_sf2(qs[b] / sqrt(2.0), dfs[a]);
            if (!(exact > 1e-300)) continue;
            double got = joule_stats_ptukey_sf_integrated(qs[b], 2, dfs[a]);
            CHECK_CLOSE(got, exact, 1e-9, 0);
            note_dev("ptukey integral vs k=2 identity", got, exact);
        }
}

static void test_shapiro_edges(void)
{
    struct joule_stats_shapiro sw;
    double two[2] = {1, 2};
    CHECK_OK(joule_stats_shapiro(two, 2, &sw));
    CHECK(sw.undefined != NULL && isnan(sw.w));
    /* R: shapiro.test(c(5, 5.5, 6)) -> W = 1, p = 0.9999999999999933 (truncated constants) */
    double eq[3] = {5, 5.5, 6};
    CHECK_OK(joule_stats_shapiro(eq, 3, &sw));
    CHECK_CLOSE(sw.w, 1.0, 1e-15, 0);
    CHECK_CLOSE(sw.p, 0.9999999999999933, 1e-15, 0);
    /* R: shapiro.test(c(4.5, 4.5, 5.5)) -> W = 0.75, p = 0 (clamped) */
    double t3[3] = {4.5, 4.5, 5.5};
    CHECK_OK(joule_stats_shapiro(t3, 3, &sw));
    CHECK_CLOSE(sw.w, 0.75, 1e-15, 0);
    CHECK(sw.p == 0.0);
    /* n = 5000 works, n = 5001 is undefined */
    double *big = malloc(5001 * sizeof *big);
    for (int i = 0; i < 5001; i++)
        big[i] = joule_stats_normal_quantile((i + 0.5) / 5001.0);
    CHECK_OK(joule_stats_shapiro(big, 5000, &sw));
    CHECK(sw.undefined == NULL && sw.w > 0.999 && sw.p > 0.5);
    CHECK_OK(joule_stats_shapiro(big, 5001, &sw));
    CHECK(sw.undefined != NULL);
    free(big);
}

static void test_holm_bootstrap(void)
{
    /* Holm by hand: sorted 0.01 0.02 0.03 0.04 0.05 times 5 4 3 2 1 = 0.05 0.08 0.09 0.08 0.05,
     * running maximum 0.05 0.08 0.09 0.09 0.09, put back in input order. */
    double p[5] = {0.01, 0.04, 0.03, 0.02, 0.05}, adj[5];
    joule_stats_holm(p, 5, adj);
    double want[5] = {0.05, 0.09, 0.09, 0.08, 0.09};
    for (int i = 0; i < 5; i++)
        CHECK_CLOSE(adj[i], want[i], 1e-15, 0);

    double x[12] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8}, lo, hi, lo2, hi2;
    CHECK_OK(joule_stats_bootstrap_median_ci(x, 12, 2000, 0.95, 7, &lo, &hi));
    CHECK_OK(joule_stats_bootstrap_median_ci(x, 12, 2000, 0.95, 7, &lo2, &hi2));
    CHECK(lo == lo2 && hi == hi2);
    CHECK(lo <= 4.5 && hi >= 4.5 && lo >= 1 && hi <= 9);
    CHECK(lo < hi);
    CHECK_EQ_INT(joule_stats_bootstrap_median_ci(x, 0, 10, 0.95, 1, &lo, &hi),
                 JOULE_ERR_INVALID_ARG);
    /* eta² of perfectly separated constant groups is 1; of identical groups 0 */
    double a[3] = {1, 1, 1}, b[3] = {2, 2, 2};
    struct joule_stats_group g[2] = {{"a", a, 3}, {"b", b, 3}};
    CHECK_CLOSE(joule_stats_eta2(g, 2), 1.0, 1e-15, 0);
    CHECK_CLOSE(joule_stats_savings_pct(25.0, 100.0), 75.0, 1e-15, 0);
    CHECK(isnan(joule_stats_savings_pct(1.0, 0.0)));
}

/* Statistics that are undefined for the data say so (NaN + reason), never a made-up number. */
static void test_undefined(void)
{
    double a[3] = {1, 1, 1}, b[3] = {2, 2, 2}, c1[1] = {5};
    struct joule_stats_group g[2] = {{"a", a, 3}, {"b", b, 3}};
    struct joule_stats_ftest f;
    CHECK_OK(joule_stats_levene(g, 2, JOULE_STATS_CENTER_MEAN, &f));
    CHECK(isnan(f.statistic) && isnan(f.p) && f.undefined != NULL); /* zero variance everywhere */
    CHECK_OK(joule_stats_welch_anova(g, 2, &f));
    CHECK(isnan(f.statistic) && f.undefined != NULL);
    struct joule_stats_gh_pair gh;
    CHECK_OK(joule_stats_games_howell(g, 2, &gh));
    CHECK(isnan(gh.p) && gh.undefined != NULL); /* se = 0 */
    CHECK_NEAR(gh.diff, -1.0, 0);
    /* all values tied: Kruskal-Wallis and Dunn undefined */
    struct joule_stats_group same[2] = {{"a", a, 3}, {"b", a, 3}};
    struct joule_stats_kruskal kw;
    CHECK_OK(joule_stats_kruskal(same, 2, &kw));
    CHECK(isnan(kw.h) && kw.undefined != NULL);
    struct joule_stats_dunn_pair dn;
    CHECK_OK(joule_stats_dunn(same, 2, &dn));
    CHECK(isnan(dn.p) && isnan(dn.p_holm) && dn.undefined != NULL);
    /* a single value: Welch undefined, the procedure still runs and says why */
    struct joule_stats_group one[2] = {{"one", c1, 1}, {"b", b, 3}};
    CHECK_OK(joule_stats_welch_anova(one, 2, &f));
    CHECK(f.undefined != NULL);
    struct joule_stats_analysis an;
    CHECK_OK(joule_stats_analyze(one, 2, NULL, &an));
    CHECK_EQ_INT(an.procedure, JOULE_STATS_NONPARAMETRIC);
    CHECK(strstr(an.reason, "'one'") != NULL);
    char *js = joule_stats_analysis_json(&an, 0);
    CHECK(js && strstr(js, "\"reason\"") != NULL && strstr(js, "nan") == NULL);
    free(js);
    joule_stats_analysis_free(&an);
    /* bad arguments are errors, not NaN */
    CHECK_EQ_INT(joule_stats_levene(g, 1, JOULE_STATS_CENTER_MEAN, &f), JOULE_ERR_INVALID_ARG);
    double inf[2] = {1, INFINITY};
    struct joule_stats_group bad[2] = {{"a", a, 3}, {"i", inf, 2}};
    CHECK_EQ_INT(joule_stats_kruskal(bad, 2, &kw), JOULE_ERR_INVALID_ARG);
}

static void test_parse(void)
{
    struct joule_stats_group *g = NULL;
    size_t k = 0;
    const char *ok = "{\"groups\": {\"x\": [1, 2.5, 3], \"y\": [4]}}";
    CHECK_OK(joule_stats_parse_groups(ok, strlen(ok), &g, &k));
    CHECK_EQ_INT(k, 2);
    if (k == 2) {
        CHECK_EQ_STR(g[0].name, "x");
        CHECK_EQ_INT(g[0].n, 3);
        CHECK_NEAR(g[0].x[1], 2.5, 0);
        CHECK_EQ_STR(g[1].name, "y");
    }
    joule_stats_groups_free(g, k);
    const char *bad[] = {"",
                         "[]",
                         "{\"groups\": []}",
                         "{\"groups\": {\"a\": [1]}}",
                         "{\"groups\": {\"a\": [1], \"b\": []}}",
                         "{\"groups\": {\"a\": [1], \"b\": [\"2\"]}}",
                         "{\"groups\": {\"a\": [1], \"a\": [2]}}",
                         "{\"groups\": {\"a\": [1], \"b\": [1e999]}}",
                         "{\"groups\": {\"a\": [1], \"b\": 3}}",
                         "{\"groups\": {\"a\": [1], \"b\": [1e200]}}",
                         "{\"groups\": {\"a\\u0000x\": [1], \"b\": [2]}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum joule_status st = joule_stats_parse_groups(bad[i], strlen(bad[i]), &g, &k);
        CHECK(st != JOULE_OK);
        CHECK(g == NULL);
        CHECK(strlen(joule_last_error()) > 0);
    }
}

/* `joule stats --json` on the constant-group dataset: nulls with reasons, values as golden. */
static void test_cli(void)
{
    cJSON *gold = load_golden();
    if (!gold) return;
    const cJSON *ds = NULL;
    for (ds = cJSON_GetObjectItem(gold, "datasets")->child; ds; ds = ds->next)
        if (!strcmp(cJSON_GetObjectItem(ds, "name")->valuestring, "k3_n10_constant_group")) break;
    CHECK(ds != NULL);
    if (!ds) {
        cJSON_Delete(gold);
        return;
    }
    cJSON *in = cJSON_CreateObject();
    cJSON_AddItemToObject(in, "groups", cJSON_Duplicate(cJSON_GetObjectItem(ds, "groups"), 1));
    char *text = cJSON_Print(in);
    char path[512], cmd[1600];
    snprintf(path, sizeof path, "%s/stats_in.json", test_tmpdir());
    CHECK_OK(joule_write_file_atomic(path, text, strlen(text)));
    free(text);
    cJSON_Delete(in);
    snprintf(cmd, sizeof cmd, "'%s' stats --input '%s' --json --bootstrap 100", test_joule_bin(),
             path);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) {
        cJSON_Delete(gold);
        return;
    }
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    size_t r;
    while ((r = fread(out + len, 1, cap - 1 - len, p)) > 0)
        len += r;
    out[len] = 0;
    CHECK_EQ_INT(pclose(p), 0);
    cJSON *j = cJSON_Parse(out);
    CHECK(j != NULL);
    free(out);
    if (j) {
        const cJSON *e = cJSON_GetObjectItem(ds, "expected");
        const cJSON *sc = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "shapiro"), "C");
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(sc, "W")));
        CHECK(cJSON_IsString(cJSON_GetObjectItem(sc, "reason")));
        const cJSON *w = cJSON_GetObjectItem(j, "welch_anova");
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(w, "F")));
        CHECK(cJSON_IsString(cJSON_GetObjectItem(w, "reason")));
        CHECK_CLOSE(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "kruskal"), "H")->valuedouble,
                    cJSON_GetObjectItem(cJSON_GetObjectItem(e, "kruskal"), "H")->valuedouble,
                    TOL_STAT, 0);
        const cJSON *gh = cJSON_GetObjectItem(j, "games_howell");
        CHECK_EQ_INT(cJSON_GetArraySize(gh), 3);
        CHECK_EQ_STR(cJSON_GetObjectItem(gh->child, "a")->valuestring, "A");
        CHECK_CLOSE(
            cJSON_GetObjectItem(gh->child, "p")->valuedouble,
            cJSON_GetObjectItem(cJSON_GetObjectItem(e, "games_howell")->child, "p")->valuedouble,
            TOL_P_REL, TOL_P_ABS);
        const cJSON *dn = cJSON_GetObjectItem(j, "dunn");
        CHECK_EQ_INT(cJSON_GetArraySize(dn), 3);
        const cJSON *dec = cJSON_GetObjectItem(j, "decision");
        CHECK_EQ_STR(cJSON_GetObjectItem(dec, "procedure")->valuestring, "kruskal+dunn");
        CHECK(strstr(cJSON_GetObjectItem(dec, "reason")->valuestring, "'C'") != NULL);
        CHECK(cJSON_IsObject(cJSON_GetObjectItem(j, "describe")));
        CHECK(cJSON_IsObject(cJSON_GetObjectItem(j, "levene_mean")));
        CHECK(cJSON_IsObject(cJSON_GetObjectItem(j, "levene_median")));
        cJSON_Delete(j);
    }
    /* text mode and errors */
    snprintf(cmd, sizeof cmd, "'%s' stats --input '%s' > /dev/null", test_joule_bin(), path);
    CHECK_EQ_INT(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' stats --input /nonexistent.json 2>/dev/null", test_joule_bin());
    CHECK(system(cmd) != 0);
    snprintf(cmd, sizeof cmd, "'%s' stats --help > /dev/null", test_joule_bin());
    CHECK_EQ_INT(system(cmd), 0);
    cJSON_Delete(gold);
}

int main(void)
{
    RUN(test_distributions);
    RUN(test_ptukey_reference);
    RUN(test_ptukey_k2_identity);
    RUN(test_shapiro_edges);
    RUN(test_holm_bootstrap);
    RUN(test_undefined);
    RUN(test_parse);
    RUN(test_golden);
    RUN(test_cli);
    fprintf(stderr, "\nmax deviation per quantity (relative, absolute):\n");
    for (int i = 0; i < g_ndev; i++)
        fprintf(stderr, "  %-28s %.3g  %.3g\n", g_dev[i].name, g_dev[i].rel, g_dev[i].abs);
    return test_summary();
}
