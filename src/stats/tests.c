/* Descriptives and hypothesis tests. Formulas follow tests/fixtures/stats/golden.json's
 * "conventions"; sums run in long double with a correction pass so means and variances are
 * (almost always) correctly rounded, as R's mean()/var() are. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "joule/stats.h"
#include "stats/stats_internal.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void joule_stats_sort(double *x, size_t n)
{
    if (n <= 16) { /* insertion sort: the common case of a handful of repetitions */
        for (size_t i = 1; i < n; i++) {
            double v = x[i];
            size_t j = i;
            while (j > 0 && x[j - 1] > v) {
                x[j] = x[j - 1];
                j--;
            }
            x[j] = v;
        }
        return;
    }
    qsort(x, n, sizeof *x, cmp_double);
}

double joule_stats_mean(const double *x, size_t n)
{
    if (n == 0) return NAN;
    long double s = 0.0L;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    long double m = s / (long double)n, t = 0.0L;
    for (size_t i = 0; i < n; i++)
        t += x[i] - m;
    return (double)(m + t / (long double)n);
}

double joule_stats_var(const double *x, size_t n, double mean)
{
    if (n < 2) return NAN;
    long double s = 0.0L;
    for (size_t i = 0; i < n; i++) {
        long double d = (long double)x[i] - mean;
        s += d * d;
    }
    return (double)(s / (long double)(n - 1));
}

double joule_stats_quantile_sorted(const double *sorted, size_t n, double prob)
{
    if (n == 0 || !(prob >= 0.0 && prob <= 1.0)) return NAN;
    double h = (double)(n - 1) * prob;
    size_t lo = (size_t)floor(h);
    if (lo >= n - 1) return sorted[n - 1];
    double frac = h - (double)lo;
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

enum joule_status joule_stats_describe(const double *x, size_t n, struct joule_stats_describe *out)
{
    if (!x || !out || n == 0) return joule_errorf(JOULE_ERR_INVALID_ARG, "describe: empty sample");
    for (size_t i = 0; i < n; i++)
        if (!(fabs(x[i]) <= JOULE_STATS_MAX_ABS))
            return joule_errorf(JOULE_ERR_INVALID_ARG,
                                "describe: value %zu is not finite or beyond ±1e150", i);
    double *s = malloc(n * sizeof *s);
    if (!s) return joule_errorf(JOULE_ERR_NOMEM, "describe: out of memory");
    memcpy(s, x, n * sizeof *s);
    joule_stats_sort(s, n);
    out->n = n;
    out->mean = joule_stats_mean(x, n);
    out->var = joule_stats_var(x, n, out->mean);
    out->sd = sqrt(out->var);
    out->median = joule_stats_quantile_sorted(s, n, 0.5);
    out->q1 = joule_stats_quantile_sorted(s, n, 0.25);
    out->q3 = joule_stats_quantile_sorted(s, n, 0.75);
    out->min = s[0];
    out->max = s[n - 1];
    free(s);
    return JOULE_OK;
}

double joule_stats_savings_pct(double a, double b)
{
    if (b == 0.0 || !isfinite(a) || !isfinite(b)) return NAN;
    return (b - a) / b * 100.0;
}

/* ---- Shapiro-Wilk (Royston 1995, AS R94) ------------------------------------------------ */

/* c[0] + c[1] x + ... + c[nord-1] x^(nord-1) */
static double poly(const double *c, int nord, double x)
{
    double r = c[nord - 1];
    for (int j = nord - 2; j >= 0; j--)
        r = r * x + c[j];
    return r;
}

enum joule_status joule_stats_shapiro(const double *x, size_t n, struct joule_stats_shapiro *out)
{
    if (!out || (!x && n)) return joule_errorf(JOULE_ERR_INVALID_ARG, "shapiro: no data");
    out->w = out->p = NAN;
    out->undefined = NULL;
    if (n < 3) {
        out->undefined = "Shapiro-Wilk needs at least 3 values";
        return JOULE_OK;
    }
    if (n > 5000) {
        out->undefined = "Shapiro-Wilk (AS R94) is defined for at most 5000 values";
        return JOULE_OK;
    }
    /* Royston's coefficients (AS R94). */
    static const double c1[6] = {0.0, 0.221157, -0.147981, -2.07119, 4.434685, -2.706056};
    static const double c2[6] = {0.0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633};
    static const double c3[4] = {0.544, -0.39978, 0.025054, -6.714e-4};
    static const double c4[4] = {1.3822, -0.77857, 0.062767, -0.0020322};
    static const double c5[4] = {-1.5861, -0.31082, -0.083751, 0.0038915};
    static const double c6[3] = {-0.4803, -0.082676, 0.0030302};
    static const double g[2] = {-2.273, 0.459};

    double *s = malloc(n * sizeof *s);
    size_t nn2 = n / 2;
    double *a = malloc((nn2 + 1) * sizeof *a);
    if (!s || !a) {
        free(s);
        free(a);
        return joule_errorf(JOULE_ERR_NOMEM, "shapiro: out of memory");
    }
    memcpy(s, x, n * sizeof *s);
    joule_stats_sort(s, n);
    double range = s[n - 1] - s[0];
    if (!(range > 0.0) || !isfinite(range)) {
        free(s);
        free(a);
        out->undefined =
            isfinite(range) ? "all values are identical (W is 0/0)" : "the data are not finite";
        return JOULE_OK;
    }
    double dn = (double)n;
    if (n == 3) {
        a[0] = 0.70710678; /* sqrt(1/2) as R fixes it; W does not depend on it */
    } else {
        double an25 = dn + 0.25, summ2 = 0.0;
        double *m = malloc(nn2 * sizeof *m);
        if (!m) {
            free(s);
            free(a);
            return joule_errorf(JOULE_ERR_NOMEM, "shapiro: out of memory");
        }
        for (size_t i = 0; i < nn2; i++) {
            m[i] = joule_stats_normal_quantile(((double)(i + 1) - 0.375) / an25);
            summ2 += m[i] * m[i];
        }
        summ2 *= 2.0;
        double ssumm2 = sqrt(summ2), rsn = 1.0 / sqrt(dn);
        double a1 = poly(c1, 6, rsn) - m[0] / ssumm2;
        size_t i1;
        double fac;
        if (n > 5) {
            i1 = 3;
            double a2 = -m[1] / ssumm2 + poly(c2, 6, rsn);
            fac = sqrt((summ2 - 2.0 * m[0] * m[0] - 2.0 * m[1] * m[1]) /
                       (1.0 - 2.0 * a1 * a1 - 2.0 * a2 * a2));
            a[1] = a2;
        } else {
            i1 = 2;
            fac = sqrt((summ2 - 2.0 * m[0] * m[0]) / (1.0 - 2.0 * a1 * a1));
        }
        a[0] = a1;
        for (size_t i = i1; i <= nn2; i++)
            a[i - 1] = -m[i - 1] / fac;
        free(m);
    }
    /* W = squared correlation of the antisymmetric coefficient vector with the sorted data
     * (scaled by the range), computed as 1 − w1 to keep precision near W = 1. */
    double sx = 0.0;
    for (size_t i = 0; i < n; i++)
        sx += s[i] / range;
    sx /= dn;
    double ssa = 0.0, ssx = 0.0, sax = 0.0;
    for (size_t i = 0, j = n - 1; i < n; i++, j--) {
        double asa = 0.0;
        if (i < j)
            asa = -a[i];
        else if (i > j)
            asa = a[j];
        double xsx = s[i] / range - sx;
        ssa += asa * asa;
        ssx += xsx * xsx;
        sax += asa * xsx;
    }
    free(s);
    free(a);
    double ssassx = sqrt(ssa * ssx);
    double w1 = (ssassx - sax) * (ssassx + sax) / (ssa * ssx);
    double w = 1.0 - w1;
    out->w = w;
    if (n == 3) {
        const double pi6 = 1.90985931710274, stqr = 1.04719755119660; /* as R's swilk.c */
        double p = pi6 * (asin(sqrt(w)) - stqr);
        out->p = p < 0.0 ? 0.0 : p;
        return JOULE_OK;
    }
    double y = log(w1), xx = log(dn), mu, sigma;
    if (n <= 11) {
        double gamma = poly(g, 2, dn);
        if (y >= gamma) {
            out->p = 1e-99; /* as R: beyond the approximation's range */
            return JOULE_OK;
        }
        y = -log(gamma - y);
        mu = poly(c3, 4, dn);
        sigma = exp(poly(c4, 4, dn));
    } else {
        mu = poly(c5, 4, xx);
        sigma = exp(poly(c6, 3, xx));
    }
    out->p = joule_stats_normal_sf((y - mu) / sigma);
    return JOULE_OK;
}

/* ---- one-way tests ---------------------------------------------------------------------- */

static enum joule_status check_groups(const struct joule_stats_group *g, size_t k, const char *what)
{
    if (!g || k < 2)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "%s: needs at least 2 groups", what);
    for (size_t i = 0; i < k; i++) {
        if (!g[i].x || g[i].n == 0)
            return joule_errorf(JOULE_ERR_INVALID_ARG, "%s: group %zu is empty", what, i);
        for (size_t j = 0; j < g[i].n; j++)
            if (!(fabs(g[i].x[j]) <= JOULE_STATS_MAX_ABS))
                return joule_errorf(JOULE_ERR_INVALID_ARG,
                                    "%s: group %zu value %zu is not finite or beyond ±1e150", what,
                                    i, j);
    }
    return JOULE_OK;
}

static size_t total_n(const struct joule_stats_group *g, size_t k)
{
    size_t n = 0;
    for (size_t i = 0; i < k; i++)
        n += g[i].n;
    return n;
}

static double median_of(const double *x, size_t n)
{
    double *s = malloc(n * sizeof *s);
    if (!s) return NAN;
    memcpy(s, x, n * sizeof *s);
    joule_stats_sort(s, n);
    double m = joule_stats_quantile_sorted(s, n, 0.5);
    free(s);
    return m;
}

enum joule_status joule_stats_levene(const struct joule_stats_group *g, size_t k,
                                     enum joule_stats_center center, struct joule_stats_ftest *out)
{
    enum joule_status st = check_groups(g, k, "levene");
    if (st) return st;
    size_t nt = total_n(g, k);
    *out = (struct joule_stats_ftest){NAN, (double)k - 1.0, (double)nt - (double)k, NAN, NULL};
    if (nt <= k) {
        out->undefined = "Levene needs more values than groups (N − k = 0)";
        return JOULE_OK;
    }
    double *dev = malloc(nt * sizeof *dev), *dmean = malloc(k * sizeof *dmean);
    if (!dev || !dmean) {
        free(dev);
        free(dmean);
        return joule_errorf(JOULE_ERR_NOMEM, "levene: out of memory");
    }
    size_t off = 0;
    long double total = 0.0L;
    for (size_t i = 0; i < k; i++) {
        double c = center == JOULE_STATS_CENTER_MEDIAN ? median_of(g[i].x, g[i].n)
                                                       : joule_stats_mean(g[i].x, g[i].n);
        for (size_t j = 0; j < g[i].n; j++) {
            dev[off + j] = fabs(g[i].x[j] - c);
            total += dev[off + j];
        }
        dmean[i] = joule_stats_mean(dev + off, g[i].n);
        off += g[i].n;
    }
    double grand = (double)(total / (long double)nt);
    long double ssb = 0.0L, ssw = 0.0L;
    off = 0;
    for (size_t i = 0; i < k; i++) {
        long double d = (long double)dmean[i] - grand;
        ssb += (long double)g[i].n * d * d;
        for (size_t j = 0; j < g[i].n; j++) {
            long double e = (long double)dev[off + j] - dmean[i];
            ssw += e * e;
        }
        off += g[i].n;
    }
    free(dev);
    free(dmean);
    if (ssw == 0.0L) {
        out->undefined = "the deviations from the centre have zero variance within every group";
        return JOULE_OK;
    }
    out->statistic = (double)((ssb / (long double)out->df1) / (ssw / (long double)out->df2));
    out->p = joule_stats_f_sf(out->statistic, out->df1, out->df2);
    return JOULE_OK;
}

enum joule_status joule_stats_welch_anova(const struct joule_stats_group *g, size_t k,
                                          struct joule_stats_ftest *out)
{
    enum joule_status st = check_groups(g, k, "welch_anova");
    if (st) return st;
    *out = (struct joule_stats_ftest){NAN, (double)k - 1.0, NAN, NAN, NULL};
    double *w = malloc(k * sizeof *w), *m = malloc(k * sizeof *m);
    if (!w || !m) {
        free(w);
        free(m);
        return joule_errorf(JOULE_ERR_NOMEM, "welch_anova: out of memory");
    }
    long double sw = 0.0L, swm = 0.0L;
    for (size_t i = 0; i < k; i++) {
        if (g[i].n < 2) {
            out->undefined = "a group has fewer than 2 values (its variance is undefined)";
            goto done;
        }
        m[i] = joule_stats_mean(g[i].x, g[i].n);
        double v = joule_stats_var(g[i].x, g[i].n, m[i]);
        if (!(v > 0.0)) {
            out->undefined = "a group has zero variance (its weight n/s² is infinite)";
            goto done;
        }
        w[i] = (double)g[i].n / v;
        sw += w[i];
        swm += (long double)w[i] * m[i];
    }
    {
        long double mw = swm / sw, num = 0.0L, tmp = 0.0L;
        for (size_t i = 0; i < k; i++) {
            long double d = (long double)m[i] - mw;
            num += (long double)w[i] * d * d;
            long double r = 1.0L - (long double)w[i] / sw;
            tmp += r * r / (long double)(g[i].n - 1);
        }
        long double kk = (long double)k;
        long double f = (num / (kk - 1.0L)) / (1.0L + 2.0L * (kk - 2.0L) * tmp / (kk * kk - 1.0L));
        out->statistic = (double)f;
        out->df2 = (double)((kk * kk - 1.0L) / (3.0L * tmp));
        out->p = joule_stats_f_sf(out->statistic, out->df1, out->df2);
    }
done:
    free(w);
    free(m);
    return JOULE_OK;
}

enum joule_status joule_stats_games_howell(const struct joule_stats_group *g, size_t k,
                                           struct joule_stats_gh_pair *pairs)
{
    enum joule_status st = check_groups(g, k, "games_howell");
    if (st) return st;
    double *m = malloc(k * sizeof *m), *v = malloc(k * sizeof *v);
    if (!m || !v) {
        free(m);
        free(v);
        return joule_errorf(JOULE_ERR_NOMEM, "games_howell: out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        m[i] = joule_stats_mean(g[i].x, g[i].n);
        v[i] = joule_stats_var(g[i].x, g[i].n, m[i]);
    }
    size_t p = 0;
    for (size_t i = 0; i < k; i++) {
        for (size_t j = i + 1; j < k; j++, p++) {
            struct joule_stats_gh_pair *r = &pairs[p];
            *r = (struct joule_stats_gh_pair){i, j, m[i] - m[j], NAN, NAN, NAN, NAN, NAN, NULL};
            if (g[i].n < 2 || g[j].n < 2) {
                r->undefined = "a group has fewer than 2 values";
                continue;
            }
            double vi = v[i] / (double)g[i].n, vj = v[j] / (double)g[j].n;
            double se2 = vi + vj;
            if (!(se2 > 0.0)) {
                r->undefined = "both groups have zero variance (se = 0)";
                continue;
            }
            r->se = sqrt(se2);
            r->t = r->diff / r->se;
            r->df = se2 * se2 / (vi * vi / (double)(g[i].n - 1) + vj * vj / (double)(g[j].n - 1));
            r->q = fabs(r->t) * sqrt(2.0);
            r->p = joule_stats_ptukey_sf(r->q, (double)k, r->df);
        }
    }
    free(m);
    free(v);
    return JOULE_OK;
}

/* Mean rank (1-based, ties averaged over all values) of each group, and Σ(t³ − t) over
 * tie blocks. */
static enum joule_status rank_all(const struct joule_stats_group *g, size_t k, double *mean_rank,
                                  double *tie_sum)
{
    size_t nt = total_n(g, k);
    double *vals = malloc(nt * sizeof *vals);
    if (!vals) return joule_errorf(JOULE_ERR_NOMEM, "ranks: out of memory");
    size_t o = 0;
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < g[i].n; j++)
            vals[o++] = g[i].x[j];
    joule_stats_sort(vals, nt);
    /* the rank of a value is the average position of its tie block in the sorted values */
    for (size_t i = 0; i < k; i++) {
        double sum = 0.0;
        for (size_t j = 0; j < g[i].n; j++) {
            double v = g[i].x[j];
            size_t lo = 0, hi = nt;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (vals[mid] < v)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            size_t first = lo;
            hi = nt;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (vals[mid] <= v)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            sum += 0.5 * (double)(first + 1 + lo);
        }
        mean_rank[i] = sum / (double)g[i].n;
    }
    double ts = 0.0;
    for (size_t i = 0; i < nt;) {
        size_t j = i + 1;
        while (j < nt && vals[j] == vals[i])
            j++;
        double t = (double)(j - i);
        ts += t * t * t - t;
        i = j;
    }
    *tie_sum = ts;
    free(vals);
    return JOULE_OK;
}

enum joule_status joule_stats_kruskal(const struct joule_stats_group *g, size_t k,
                                      struct joule_stats_kruskal *out)
{
    enum joule_status st = check_groups(g, k, "kruskal");
    if (st) return st;
    size_t nt = total_n(g, k);
    double N = (double)nt;
    *out = (struct joule_stats_kruskal){NAN, (double)k - 1.0, NAN, NAN, NAN, NAN, NULL};
    double *mr = malloc(k * sizeof *mr), ts = 0.0;
    if (!mr) return joule_errorf(JOULE_ERR_NOMEM, "kruskal: out of memory");
    st = rank_all(g, k, mr, &ts);
    if (st) {
        free(mr);
        return st;
    }
    out->tie_correction = 1.0 - ts / (N * N * N - N);
    if (!(out->tie_correction > 0.0)) {
        free(mr);
        out->undefined = "all values are tied (tie correction is 0)";
        return JOULE_OK;
    }
    /* H = 12/(N(N+1)) Σ n_i (R̄_i − (N+1)/2)², written without the cancelling form */
    long double s = 0.0L, c = 0.5L * ((long double)N + 1.0L);
    for (size_t i = 0; i < k; i++) {
        long double d = (long double)mr[i] - c;
        s += (long double)g[i].n * d * d;
    }
    free(mr);
    double hraw = (double)(12.0L * s / ((long double)N * ((long double)N + 1.0L)));
    out->h = hraw / out->tie_correction;
    out->p = joule_stats_chi2_sf(out->h, out->df);
    out->epsilon2 = out->h / (N - 1.0);
    out->eta2 = nt > k ? (out->h - (double)k + 1.0) / (N - (double)k) : NAN;
    return JOULE_OK;
}

void joule_stats_holm(const double *p, size_t m, double *adj)
{
    size_t *o = malloc(m * sizeof *o), valid = 0;
    if (!o) {
        for (size_t i = 0; i < m; i++)
            adj[i] = NAN;
        return;
    }
    for (size_t i = 0; i < m; i++) {
        adj[i] = NAN;
        if (!isnan(p[i])) o[valid++] = i;
    }
    /* insertion sort of the valid indices by p (m is small: k(k−1)/2 pairs) */
    for (size_t i = 1; i < valid; i++) {
        size_t v = o[i], j = i;
        while (j > 0 && p[o[j - 1]] > p[v]) {
            o[j] = o[j - 1];
            j--;
        }
        o[j] = v;
    }
    double run = 0.0;
    for (size_t i = 0; i < valid; i++) {
        double a = (double)(valid - i) * p[o[i]];
        if (a > run) run = a;
        adj[o[i]] = run < 1.0 ? run : 1.0;
    }
    free(o);
}

enum joule_status joule_stats_dunn(const struct joule_stats_group *g, size_t k,
                                   struct joule_stats_dunn_pair *pairs)
{
    enum joule_status st = check_groups(g, k, "dunn");
    if (st) return st;
    size_t nt = total_n(g, k), m = k * (k - 1) / 2;
    double N = (double)nt;
    double *mr = malloc(k * sizeof *mr), *pv = malloc(m * sizeof *pv),
           *adj = malloc(m * sizeof *adj);
    double ts = 0.0;
    if (!mr || !pv || !adj) {
        free(mr);
        free(pv);
        free(adj);
        return joule_errorf(JOULE_ERR_NOMEM, "dunn: out of memory");
    }
    st = rank_all(g, k, mr, &ts);
    if (st) {
        free(mr);
        free(pv);
        free(adj);
        return st;
    }
    double var0 = N * (N + 1.0) / 12.0 - ts / (12.0 * (N - 1.0));
    size_t p = 0;
    for (size_t i = 0; i < k; i++)
        for (size_t j = i + 1; j < k; j++, p++) {
            struct joule_stats_dunn_pair *r = &pairs[p];
            *r = (struct joule_stats_dunn_pair){i, j, mr[i], mr[j], NAN, NAN, NAN, NAN, NULL};
            double se = sqrt(var0 * (1.0 / (double)g[i].n + 1.0 / (double)g[j].n));
            if (!(se > 0.0) || nt < 2) {
                r->undefined = "all values are tied (se = 0)";
                pv[p] = NAN;
                continue;
            }
            r->z = (mr[i] - mr[j]) / se;
            r->p = erfc(fabs(r->z) / sqrt(2.0));
            pv[p] = r->p;
        }
    size_t valid = 0;
    for (size_t i = 0; i < m; i++)
        valid += !isnan(pv[i]);
    joule_stats_holm(pv, m, adj);
    for (size_t i = 0; i < m; i++) {
        if (isnan(pv[i])) continue;
        double b = (double)valid * pv[i];
        pairs[i].p_bonferroni = b < 1.0 ? b : 1.0;
        pairs[i].p_holm = adj[i];
    }
    free(mr);
    free(pv);
    free(adj);
    return JOULE_OK;
}

double joule_stats_eta2(const struct joule_stats_group *g, size_t k)
{
    if (check_groups(g, k, "eta2")) return NAN;
    size_t nt = total_n(g, k);
    long double s = 0.0L;
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < g[i].n; j++)
            s += g[i].x[j];
    long double grand = s / (long double)nt, ssb = 0.0L, sst = 0.0L;
    for (size_t i = 0; i < k; i++) {
        long double mi = joule_stats_mean(g[i].x, g[i].n), d = mi - grand;
        ssb += (long double)g[i].n * d * d;
        for (size_t j = 0; j < g[i].n; j++) {
            long double e = (long double)g[i].x[j] - grand;
            sst += e * e;
        }
    }
    if (sst == 0.0L) return NAN;
    return (double)(ssb / sst);
}

/* xoshiro256** seeded by splitmix64 (Blackman & Vigna): fast, reproducible, not for crypto. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(uint64_t st[4])
{
    uint64_t r = rotl(st[1] * 5, 7) * 9, t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl(st[3], 45);
    return r;
}

/* k-th smallest of x[0..n) (x is reordered; Hoare partition quickselect). */
static double select_kth(double *x, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = x[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (x[i] < pivot)
                i++;
            while (x[j] > pivot)
                j--;
            if (i <= j) {
                double t = x[i];
                x[i] = x[j];
                x[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return x[k];
    }
    return x[k];
}

/* Type-7 quantile of unsorted x[0..n) by selection (x is reordered). */
static double quantile_select(double *x, size_t n, double prob)
{
    double h = (double)(n - 1) * prob;
    size_t lo = (size_t)floor(h);
    double a = select_kth(x, n, lo);
    if (lo + 1 >= n || h == (double)lo) return a;
    /* the next order statistic is the minimum of the part above lo */
    double b = x[lo + 1];
    for (size_t i = lo + 2; i < n; i++)
        if (x[i] < b) b = x[i];
    return a + (h - (double)lo) * (b - a);
}

enum joule_status joule_stats_bootstrap_median_ci(const double *x, size_t n, size_t reps,
                                                  double level, uint64_t seed, double *lo,
                                                  double *hi)
{
    if (!x || n == 0 || n > UINT32_MAX || reps < 2 || !(level > 0.0 && level < 1.0) || !lo || !hi)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "bootstrap: bad arguments");
    double *sorted = malloc(n * sizeof *sorted), *med = malloc(reps * sizeof *med);
    uint32_t *cnt = malloc(n * sizeof *cnt);
    if (!sorted || !med || !cnt) {
        free(sorted);
        free(med);
        free(cnt);
        return joule_errorf(JOULE_ERR_NOMEM, "bootstrap: out of memory");
    }
    memcpy(sorted, x, n * sizeof *sorted);
    joule_stats_sort(sorted, n);
    uint64_t sm = seed, st[4];
    for (int i = 0; i < 4; i++)
        st[i] = splitmix64(&sm);
    /* A resample is a count per sorted position; its median is read off the cumulative counts
     * at order positions floor((n−1)/2) and ceil((n−1)/2), so no resample is sorted. */
    size_t m0 = (n - 1) / 2, m1 = n / 2;
    for (size_t r = 0; r < reps; r++) {
        memset(cnt, 0, n * sizeof *cnt);
        for (size_t i = 0; i < n; i++) {
            /* index in [0, n) from the top 32 bits by multiply-shift (bias < n / 2^32) */
            uint64_t v = xoshiro_next(st) >> 32;
            cnt[(v * n) >> 32]++;
        }
        size_t cum = 0, j = 0;
        while (cum + cnt[j] <= m0)
            cum += cnt[j++];
        double a = sorted[j], b = a;
        if (m1 != m0) {
            while (cum + cnt[j] <= m1)
                cum += cnt[j++];
            b = sorted[j];
        }
        med[r] = 0.5 * (a + b);
    }
    *lo = quantile_select(med, reps, 0.5 * (1.0 - level));
    *hi = quantile_select(med, reps, 1.0 - 0.5 * (1.0 - level));
    free(sorted);
    free(med);
    free(cnt);
    return JOULE_OK;
}
