/* joule — statistics: descriptives, normality and variance tests, one-way comparisons
 * (Welch ANOVA + Games-Howell, Kruskal-Wallis + Dunn), effect sizes, savings, bootstrap
 * intervals, the study's decision procedure, and the distributions they need.
 *
 * Conventions (they match tests/fixtures/stats/golden.json, "conventions"):
 *  - Pairwise lists are in group order with i < j: (0,1), (0,2), ..., (0,k-1), (1,2), ...
 *  - Signed quantities are group a − group b (mean_diff = mean_a − mean_b, z = rank_a − rank_b).
 *  - A statistic that is undefined for the data is NaN and its `undefined` field names the
 *    reason (a static string); `undefined` is NULL when the value is defined.
 *  - No function here keeps a pointer to its input; outputs are caller-owned unless noted. */
#ifndef JOULE_STATS_H
#define JOULE_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "joule/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest magnitude accepted in a sample: sums of squares of larger values could overflow, so
 * they are refused with an error rather than turned into inf/NaN statistics. */
#define JOULE_STATS_MAX_ABS 1e150

/* ---- distributions (all double precision, written from the mathematics) ---------------- */

/* Standard normal cdf Φ(x) and upper tail 1 − Φ(x) (no cancellation in either tail). */
double joule_stats_normal_cdf(double x);
double joule_stats_normal_sf(double x);
/* Φ⁻¹(p) for 0 < p < 1 (±inf at 0 / 1, NaN outside). Full double accuracy. */
double joule_stats_normal_quantile(double p);
/* Regularized incomplete beta I_x(a, b); `y` must be 1 − x, passed separately so callers
 * that know 1 − x exactly avoid cancellation. */
double joule_stats_ibeta(double x, double y, double a, double b);
/* Regularized upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a). */
double joule_stats_gamma_q(double a, double x);
/* Upper tails: F(df1, df2), chi-square(df), two-sided Student t P(|T_df| > |t|). */
double joule_stats_f_sf(double f, double df1, double df2);
double joule_stats_chi2_sf(double x, double df);
double joule_stats_t_sf2(double t, double df);
/* Upper tail of the studentized range, P(Q_{k,df} > q), for k >= 2 groups and df > 0
 * (df = +inf allowed). Computed directly as a tail integral (no 1 − cdf), so small p keep their
 * relative accuracy: about 1e-10 relative for p > 1e-250 and df up to 1e7 in the tests. */
double joule_stats_ptukey_sf(double q, double k, double df);

/* ---- descriptives ---------------------------------------------------------------------- */

struct joule_stats_describe {
    size_t n;
    double mean, sd, var;  /* sd and var with n − 1 (NaN for n < 2) */
    double median, q1, q3; /* quartiles by linear interpolation (R type 7) */
    double min, max;
};

/* Descriptives of x[0..n). n = 0, a non-finite value or one beyond JOULE_STATS_MAX_ABS gives
 * JOULE_ERR_INVALID_ARG. */
enum joule_status joule_stats_describe(const double *x, size_t n, struct joule_stats_describe *out);
/* Quantile of sorted[0..n) by linear interpolation (R type 7), 0 <= prob <= 1. */
double joule_stats_quantile_sorted(const double *sorted, size_t n, double prob);
/* Savings of a against b in percent: (b − a) / b × 100 (NaN when b == 0). */
double joule_stats_savings_pct(double a, double b);

/* ---- tests ----------------------------------------------------------------------------- */

/* A named sample. The pointers are borrowed for the duration of a call. The tests below refuse
 * (JOULE_ERR_INVALID_ARG) fewer than 2 groups, an empty group, and values that are not finite or
 * beyond JOULE_STATS_MAX_ABS. */
struct joule_stats_group {
    const char *name;
    const double *x;
    size_t n;
};

struct joule_stats_shapiro {
    double w, p;
    const char *undefined;
};
/* Shapiro-Wilk W and p (Royston 1995, algorithm AS R94, as R's shapiro.test), 3 <= n <= 5000.
 * Constant data, n outside the range: NaN with a reason (status stays JOULE_OK). */
enum joule_status joule_stats_shapiro(const double *x, size_t n, struct joule_stats_shapiro *out);

struct joule_stats_ftest {
    double statistic, df1, df2, p;
    const char *undefined;
};

enum joule_stats_center {
    JOULE_STATS_CENTER_MEAN = 0,   /* Levene's original test */
    JOULE_STATS_CENTER_MEDIAN = 1, /* Brown-Forsythe */
};
/* Levene's test: one-way ANOVA F on |x − centre| with df1 = k − 1, df2 = N − k. */
enum joule_status joule_stats_levene(const struct joule_stats_group *g, size_t k,
                                     enum joule_stats_center center, struct joule_stats_ftest *out);
/* Welch's heteroscedastic one-way ANOVA (statistic = F). Undefined if a group has zero
 * variance or fewer than 2 values. */
enum joule_status joule_stats_welch_anova(const struct joule_stats_group *g, size_t k,
                                          struct joule_stats_ftest *out);

struct joule_stats_gh_pair {
    size_t a, b; /* group indices, a < b */
    double diff, se, t, df, q, p;
    const char *undefined;
};
/* Games-Howell: for each pair se = sqrt(s_a²/n_a + s_b²/n_b), t = diff/se, Welch df,
 * q = |t|·√2, p = P(Q_{k,df} > q). `pairs` holds k(k−1)/2 entries (caller-owned). */
enum joule_status joule_stats_games_howell(const struct joule_stats_group *g, size_t k,
                                           struct joule_stats_gh_pair *pairs);

struct joule_stats_kruskal {
    double h, df, p;
    double tie_correction; /* 1 − Σ(t³ − t)/(N³ − N) */
    double epsilon2;       /* H / (N − 1) (Tomczak & Tomczak 2014) */
    double eta2;           /* (H − k + 1) / (N − k) */
    const char *undefined;
};
/* Kruskal-Wallis H, tie-corrected; p = chi2.sf(H, k − 1). Undefined when all values tie. */
enum joule_status joule_stats_kruskal(const struct joule_stats_group *g, size_t k,
                                      struct joule_stats_kruskal *out);

struct joule_stats_dunn_pair {
    size_t a, b;
    double mean_rank_a, mean_rank_b, z, p, p_bonferroni, p_holm;
    const char *undefined;
};
/* Dunn's test (ranks over all values, tie-corrected se), p = 2Φ(−|z|), Bonferroni and Holm over
 * all m = k(k−1)/2 pairs. `pairs` holds k(k−1)/2 entries (caller-owned). */
enum joule_status joule_stats_dunn(const struct joule_stats_group *g, size_t k,
                                   struct joule_stats_dunn_pair *pairs);

/* Holm step-down adjustment of p[0..m) into adj[0..m) (R p.adjust "holm"). NaN stays NaN and is
 * left out of m. */
void joule_stats_holm(const double *p, size_t m, double *adj);

/* Classic one-way ANOVA eta² = SS_between / SS_total (NaN when SS_total = 0). */
double joule_stats_eta2(const struct joule_stats_group *g, size_t k);

/* Percentile bootstrap confidence interval of the median: `reps` resamples drawn with a
 * seeded generator (same seed, same interval), level e.g. 0.95. */
enum joule_status joule_stats_bootstrap_median_ci(const double *x, size_t n, size_t reps,
                                                  double level, uint64_t seed, double *lo,
                                                  double *hi);

/* ---- the study's procedure ------------------------------------------------------------- */

enum joule_stats_procedure {
    JOULE_STATS_PARAMETRIC = 0,    /* Welch ANOVA + Games-Howell */
    JOULE_STATS_NONPARAMETRIC = 1, /* Kruskal-Wallis + Dunn */
};

struct joule_stats_params {
    double alpha;          /* significance level of every test (0.05) */
    size_t bootstrap_reps; /* 0 = no bootstrap intervals (default 2000) */
    double ci_level;       /* 0.95 */
    uint64_t seed;         /* bootstrap seed */
};
struct joule_stats_params joule_stats_default_params(void);

/* Everything the procedure computes for k groups. Arrays have k entries (per group) or
 * k(k−1)/2 (pairs). Owned by the analysis; release with joule_stats_analysis_free(). */
struct joule_stats_analysis {
    size_t k, npairs;
    char **names;
    struct joule_stats_describe *describe;
    struct joule_stats_shapiro *shapiro;
    double *ci_lo, *ci_hi; /* bootstrap CI of each median (NaN when disabled) */
    struct joule_stats_ftest levene_mean, levene_median, welch;
    struct joule_stats_gh_pair *games_howell;
    struct joule_stats_kruskal kruskal;
    struct joule_stats_dunn_pair *dunn;
    double eta2;
    enum joule_stats_procedure procedure;
    char reason[256]; /* why the procedure was chosen */
    double omnibus_p; /* p of the chosen omnibus test (Welch or Kruskal) */
    /* p of pair i under the chosen procedure (Games-Howell p, or Dunn Holm-adjusted p) */
    double *pair_p;
};

/* Run the whole procedure on k >= 2 groups (each n >= 1). */
enum joule_status joule_stats_analyze(const struct joule_stats_group *g, size_t k,
                                      const struct joule_stats_params *params,
                                      struct joule_stats_analysis *out);
void joule_stats_analysis_free(struct joule_stats_analysis *a);

/* The analysis as JSON text (the `joule stats --json` shape). Caller frees with free().
 * NULL on allocation failure. */
char *joule_stats_analysis_json(const struct joule_stats_analysis *a, int pretty);

/* Parse `{"groups": {"name": [numbers], ...}}` (at least 2 groups, each non-empty, finite
 * numbers only). On success *out_groups (k entries) owns names and values: release with
 * joule_stats_groups_free(). */
enum joule_status joule_stats_parse_groups(const char *json, size_t len,
                                           struct joule_stats_group **out_groups, size_t *out_k);
void joule_stats_groups_free(struct joule_stats_group *g, size_t k);

#ifdef __cplusplus
}
#endif
#endif
