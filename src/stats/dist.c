/* Distributions used by the tests: normal, incomplete beta (F, t), incomplete gamma
 * (chi-square) and the studentized range. Written from the mathematics:
 *  - Φ from the C library's erfc/erf (both tails without cancellation);
 *  - Φ⁻¹: Abramowitz & Stegun 26.2.23 starting value refined by Halley steps on Φ;
 *  - I_x(a, b): the classical continued fraction (evaluated with the modified Lentz method)
 *    on the side x < (a + 1)/(a + b + 2), symmetry I_x(a, b) = 1 − I_{1−x}(b, a) otherwise;
 *  - Q(a, x): power series of P below x = a + 1, Legendre continued fraction above;
 *  - studentized range tail: the double integral
 *      P(Q > q) = ∫ f_df(s) R_k(q s) ds,
 *      R_k(w) = P(range of k N(0,1) > w) = k ∫ φ(z) Φ(z − w) Σ_{i=0}^{k−2} a^i b^{k−2−i} dz,
 *    with a = Φ(z), b = Φ(z) − Φ(z − w) (a^{k−1} − b^{k−1} factored so no 1 − cdf appears),
 *    f_df the density of s = sqrt(χ²_df / df), integrated in u = log s by adaptive
 *    Gauss-Legendre with a relative tolerance of 1e-11. The integrand is handled as a logarithm
 *    (log f_df through Stirling's remainder, log R_k from a per-k Chebyshev table), its peak
 *    located by golden-section search, and the limits set where it has fallen by e^-110, so
 *    neither large df nor tiny p lose precision. Checked against the exact k = 2 identity
 *    (P(Q_2 > q) = P(|T| > q/√2)) and 20-digit mpmath values in tests/test_stats.c. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "joule/stats.h"
#include "stats/stats_internal.h"

#define SQRT2 1.41421356237309504880
#define LN_SQRT_2PI 0.91893853320467274178

double joule_stats_normal_cdf(double x)
{
    return 0.5 * erfc(-x / SQRT2);
}

double joule_stats_normal_sf(double x)
{
    return 0.5 * erfc(x / SQRT2);
}

static double normal_pdf(double x)
{
    return exp(-0.5 * x * x - LN_SQRT_2PI);
}

/* Lower-tail quantile for 0 < p <= 0.5 (result <= 0). */
static double normal_quantile_lower(double p)
{
    double t = sqrt(-2.0 * log(p));
    /* A&S 26.2.23 (|error| < 4.5e-4) as the starting value. */
    double x = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) /
                         (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))));
    for (int it = 0; it < 4; it++) {
        double e = joule_stats_normal_cdf(x) - p;
        double u = e / normal_pdf(x);            /* Newton step */
        double nx = x - u / (1.0 + 0.5 * x * u); /* Halley correction */
        if (!isfinite(nx)) break;
        if (fabs(nx - x) <= 1e-16 * fabs(nx)) {
            x = nx;
            break;
        }
        x = nx;
    }
    return x;
}

double joule_stats_normal_quantile(double p)
{
    if (isnan(p) || p < 0.0 || p > 1.0) return NAN;
    if (p == 0.0) return -INFINITY;
    if (p == 1.0) return INFINITY;
    if (p == 0.5) return 0.0;
    if (p < 0.5) return normal_quantile_lower(p);
    return -normal_quantile_lower(1.0 - p); /* 1 − p is exact for p in [0.5, 1] */
}

/* Continued fraction of I_x(a, b) (modified Lentz). Converges fast for x < (a+1)/(a+b+2). */
static double beta_cf(double x, double a, double b)
{
    const double tiny = 1e-300, eps = 1e-16;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 10000; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + num * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + num / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        h *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + num * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + num / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < eps) break;
    }
    return h;
}

/* log Γ(x) − [(x − ½) log x − x + ½ log 2π] (Stirling's remainder); the series for x > 15 keeps
 * the normalising constant exact for huge df where lgamma(x) and x log x cancel. */
static double stirling_rem(double x)
{
    if (x > 15.0) {
        double r = 1.0 / x, r2 = r * r;
        return r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680))));
    }
    return lgamma(x) - ((x - 0.5) * log(x) - x + 0.5 * log(2.0 * M_PI));
}

/* log B(a, b) without the cancellation of lgamma(a) + lgamma(b) − lgamma(a + b) for large
 * arguments: Stirling's form with the remainders, log1p for the ratio. */
static double log_beta(double a, double b)
{
    if (a < b) {
        double t = a;
        a = b;
        b = t;
    }
    if (a <= 15.0) return lgamma(a) + lgamma(b) - lgamma(a + b);
    double corr = stirling_rem(a) - stirling_rem(a + b) - (a - 0.5) * log1p(b / a);
    if (b <= 15.0) return lgamma(b) + corr - b * log(a + b) + b;
    return 0.5 * log(2.0 * M_PI) + corr + stirling_rem(b) + (b - 0.5) * log(b / (a + b)) -
           0.5 * log(a + b);
}

double joule_stats_ibeta(double x, double y, double a, double b)
{
    if (isnan(x) || isnan(y) || !(a > 0.0) || !(b > 0.0)) return NAN;
    if (x <= 0.0) return 0.0;
    if (y <= 0.0) return 1.0;
    /* log x and log y from the smaller of the two, so x or y near 1 keeps its precision */
    double lx = x > 0.5 ? log1p(-y) : log(x), ly = y > 0.5 ? log1p(-x) : log(y);
    double front = exp(a * lx + b * ly - log_beta(a, b));
    if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_cf(x, a, b) / a;
    return 1.0 - front * beta_cf(y, b, a) / b;
}

double joule_stats_gamma_q(double a, double x)
{
    if (isnan(a) || isnan(x) || !(a > 0.0)) return NAN;
    if (x <= 0.0) return 1.0;
    if (isinf(x)) return 0.0;
    double lfront = -x + a * log(x) - lgamma(a);
    if (x < a + 1.0) {
        /* P(a, x) = e^{-x} x^a / Γ(a+1) Σ x^n / ((a+1)...(a+n)) */
        double ap = a, del = 1.0 / a, sum = del;
        for (int n = 0; n < 100000; n++) {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if (fabs(del) < fabs(sum) * 1e-17) break;
        }
        return 1.0 - sum * exp(lfront);
    }
    /* Q(a, x) = e^{-x} x^a / Γ(a) · 1/(x + 1 − a − 1·(1−a)/(x + 3 − a − ...)) */
    const double tiny = 1e-300;
    double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int i = 1; i < 100000; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < 1e-16) break;
    }
    return exp(lfront) * h;
}

double joule_stats_f_sf(double f, double df1, double df2)
{
    if (isnan(f) || !(df1 > 0.0) || !(df2 > 0.0)) return NAN;
    if (f <= 0.0) return 1.0;
    if (isinf(f)) return 0.0;
    double den = df2 + df1 * f;
    return joule_stats_ibeta(df2 / den, df1 * f / den, 0.5 * df2, 0.5 * df1);
}

double joule_stats_chi2_sf(double x, double df)
{
    if (isnan(x) || !(df > 0.0)) return NAN;
    return joule_stats_gamma_q(0.5 * df, 0.5 * x);
}

double joule_stats_t_sf2(double t, double df)
{
    if (isnan(t) || !(df > 0.0)) return NAN;
    if (isinf(df)) return 2.0 * joule_stats_normal_sf(fabs(t));
    double t2 = t * t, den = df + t2;
    return joule_stats_ibeta(df / den, t2 / den, 0.5 * df, 0.5);
}

/* ---- studentized range ----------------------------------------------------------------- */

#define GL_N 10
static double gl_x[GL_N], gl_w[GL_N]; /* Gauss-Legendre nodes/weights on [-1, 1] */
#define GLI_N 16
static double gli_x[GLI_N], gli_w[GLI_N];
static pthread_once_t gl_once = PTHREAD_ONCE_INIT;

/* P_n(z) by the three-term recurrence, and P_n'(z) (for |z| < 1). */
static double legendre(int n, double z, double *deriv)
{
    double p0 = 1.0, p1 = z;
    for (int j = 2; j <= n; j++) {
        double p2 = ((2.0 * j - 1.0) * z * p1 - (j - 1.0) * p0) / j;
        p0 = p1;
        p1 = p2;
    }
    *deriv = n * (z * p1 - p0) / (z * z - 1.0);
    return p1;
}

/* Nodes and weights of the n-point Gauss-Legendre rule by Newton's method on P_n. */
static void gauss_legendre(int n, double *x, double *w)
{
    for (int i = 0; i < n; i++) {
        double z = cos(M_PI * (i + 0.75) / (n + 0.5)), dp;
        for (int it = 0; it < 100; it++) {
            double dz = legendre(n, z, &dp) / dp;
            z -= dz;
            if (fabs(dz) < 1e-16) break;
        }
        legendre(n, z, &dp);
        x[i] = z;
        w[i] = 2.0 / ((1.0 - z * z) * dp * dp);
    }
}

static double inv_fact[20]; /* 1/n! */

static void gl_init(void)
{
    inv_fact[0] = 1.0;
    for (int n = 1; n < 20; n++)
        inv_fact[n] = inv_fact[n - 1] / n;
    gauss_legendre(GL_N, gl_x, gl_w);
    gauss_legendre(GLI_N, gli_x, gli_w);
}

/* Upper tail of the range of k standard normals: P(max − min > w), w >= 0.
 * The integrand in z is concentrated around w/2 (width ~1) for large w and on [-6, 8] for
 * small w; [w/2 − 7, w/2 + 8.5] leaves out less than 1e-20 of it relative to the total. */
static double range_sf(double w, int k)
{
    if (w <= 0.0) return 1.0;
    const double lo = 0.5 * w - 7.0, hi = 0.5 * w + 8.5;
    const int panels = 12;
    const double h = (hi - lo) / panels;
    double sum = 0.0;
    for (int p = 0; p < panels; p++) {
        double c = lo + (p + 0.5) * h;
        double part = 0.0;
        for (int i = 0; i < GLI_N; i++) {
            double z = c + 0.5 * h * gli_x[i];
            double zw = z - w;
            double a = joule_stats_normal_cdf(z);
            double tail = joule_stats_normal_cdf(zw); /* Φ(z − w) */
            /* b = Φ(z) − Φ(z − w), from the upper tails when both are near 1 */
            double b = zw > 0.0 ? joule_stats_normal_sf(zw) - joule_stats_normal_sf(z) : a - tail;
            /* Σ_{j=0}^{k-2} a^{k-2-j} b^j by Horner: s_m = a·s_{m-1} + b^m */
            double s = 1.0, bp = 1.0;
            for (int m = 1; m <= k - 2; m++) {
                bp *= b;
                s = a * s + bp;
            }
            part += gli_w[i] * normal_pdf(z) * tail * s;
        }
        sum += part * 0.5 * h;
    }
    return k * sum;
}

/* R_k(w) is needed at hundreds of w per p value, always for the same k, so log R_k is
 * tabulated once per k as piecewise Chebyshev series (panels of width RT_W on [0, RT_WMAX],
 * RT_N coefficients each; interpolation error about 2e-12 relative at the top, less below).
 * Above RT_WMAX, R_k(w) < 1e-265 and is taken as 0 (its log would underflow near w = 53). */
#define RT_N 20
#define RT_W 1.0
#define RT_WMAX 50.0
#define RT_PANELS 50
#define RT_CACHE 32
struct range_table {
    int k;
    double c[RT_PANELS][RT_N];
    double top_log, top_slope; /* log R_k and its slope at RT_WMAX, for the extrapolation */
};
static struct range_table *rt_cache[RT_CACHE];
static int rt_count;
static pthread_mutex_t rt_lock = PTHREAD_MUTEX_INITIALIZER;

static double cheb_eval(const double *c, double x);

static struct range_table *range_table_build(int k)
{
    struct range_table *t = malloc(sizeof *t);
    if (!t) return NULL;
    t->k = k;
    double f[RT_N];
    for (int p = 0; p < RT_PANELS; p++) {
        double a = p * RT_W;
        for (int i = 0; i < RT_N; i++) {
            double th = M_PI * (i + 0.5) / RT_N;
            double w = a + 0.5 * RT_W * (1.0 + cos(th));
            f[i] = log(range_sf(w, k));
        }
        for (int j = 0; j < RT_N; j++) {
            double sum = 0.0;
            for (int i = 0; i < RT_N; i++)
                sum += f[i] * cos(j * M_PI * (i + 0.5) / RT_N);
            t->c[p][j] = 2.0 * sum / RT_N;
        }
        t->c[p][0] *= 0.5;
    }
    const double *top = t->c[RT_PANELS - 1];
    const double h = 1e-4;
    t->top_log = cheb_eval(top, 1.0);
    t->top_slope = (t->top_log - cheb_eval(top, 1.0 - 2.0 * h / RT_W)) / h;
    return t;
}

/* The table for k (built on first use, kept for the life of the process; NULL when memory
 * or cache slots run out, and callers then integrate R_k directly). */
static const struct range_table *range_table_get(int k)
{
    const struct range_table *found = NULL;
    pthread_mutex_lock(&rt_lock);
    for (int i = 0; i < rt_count; i++)
        if (rt_cache[i]->k == k) found = rt_cache[i];
    if (!found && rt_count < RT_CACHE) {
        struct range_table *t = range_table_build(k);
        if (t) {
            rt_cache[rt_count++] = t;
            found = t;
        }
    }
    pthread_mutex_unlock(&rt_lock);
    return found;
}

static double cheb_eval(const double *c, double x)
{
    double b1 = 0.0, b2 = 0.0;
    for (int j = RT_N - 1; j >= 1; j--) {
        double b0 = 2.0 * x * b1 - b2 + c[j];
        b2 = b1;
        b1 = b0;
    }
    return x * b1 - b2 + c[0];
}

/* log R_k(w) from the table. Beyond RT_WMAX (R_k < 1e-265) it is extended by the Gaussian-tail
 * shape L(W) + L'(W)(w − W) − (w − W)²/4, which only matters for p values below ~1e-250. */
static double range_logsf_table(const struct range_table *t, double w)
{
    if (w <= 0.0) return 0.0;
    if (w >= RT_WMAX) {
        double d = w - RT_WMAX;
        return t->top_log + t->top_slope * d - 0.25 * d * d;
    }
    int p = (int)(w / RT_W);
    if (p >= RT_PANELS) p = RT_PANELS - 1;
    return cheb_eval(t->c[p], 2.0 * (w - p * RT_W) / RT_W - 1.0);
}

struct tukey_ctx {
    double q, df, lnorm;
    int k;
    const struct range_table *table;
};

/* log of the chi part f_df(s)·s at u = log s, relative to its value at u = 0:
 * df·u − (df/2)(e^{2u} − 1) = −(df/2)(e^{2u} − 1 − 2u), the bracket by its series near 0. */
static double chi_rel(double df, double u)
{
    double t = 2.0 * u, e;
    if (fabs(t) < 0.5) {
        /* e^t − 1 − t = t² Σ_{n>=2} t^(n−2)/n!, Horner; the n = 19 term is < 1e-20 relative */
        double h = 0.0;
        for (int n = 19; n >= 2; n--)
            h = h * t + inv_fact[n];
        e = t * t * h;
    } else {
        e = expm1(t) - t;
    }
    return -0.5 * df * e;
}

/* log of the integrand in u = log s: log f_df(s)·s + log R_k(q s) (table when there is one). */
static double tukey_log_integrand(const struct tukey_ctx *c, double u)
{
    double lg = c->lnorm + chi_rel(c->df, u), w = c->q * exp(u);
    if (c->table) return lg + range_logsf_table(c->table, w);
    double r = range_sf(w, c->k);
    return r > 0.0 ? lg + log(r) : -INFINITY;
}

static double tukey_integrand(const struct tukey_ctx *c, double u)
{
    double l = tukey_log_integrand(c, u);
    return l < -745.0 ? 0.0 : exp(l);
}

static double gl_interval(const struct tukey_ctx *c, double a, double b)
{
    double m = 0.5 * (a + b), r = 0.5 * (b - a), sum = 0.0;
    for (int i = 0; i < GL_N; i++)
        sum += gl_w[i] * tukey_integrand(c, m + r * gl_x[i]);
    return sum * r;
}

#define MAX_IV 256
struct iv {
    double a, b, val, err;
};

/* Global adaptive integration of a positive integrand over the intervals between the sorted
 * breakpoints bp[0..nbp): each interval's estimate is the sum of its two halves, its error the
 * difference from the whole-interval rule; the worst interval is bisected until the summed error
 * is below reltol × the total. */
static double integrate_adaptive(const struct tukey_ctx *c, const double *bp, int nbp,
                                 double reltol)
{
    struct iv ivs[MAX_IV];
    int n = 0;
    double total = 0.0, errsum = 0.0;
    for (int i = 0; i + 1 < nbp; i++) {
        double x0 = bp[i], x1 = bp[i + 1];
        if (!(x1 > x0)) continue;
        double xm = 0.5 * (x0 + x1);
        double whole = gl_interval(c, x0, x1);
        double halves = gl_interval(c, x0, xm) + gl_interval(c, xm, x1);
        ivs[n++] = (struct iv){x0, x1, halves, fabs(halves - whole)};
        total += halves;
        errsum += fabs(halves - whole);
    }
    while (errsum > reltol * total && n + 1 < MAX_IV) {
        int worst = 0;
        for (int i = 1; i < n; i++)
            if (ivs[i].err > ivs[worst].err) worst = i;
        struct iv w = ivs[worst];
        double xm = 0.5 * (w.a + w.b);
        double v[2], e[2];
        double ends[3] = {w.a, xm, w.b};
        for (int h = 0; h < 2; h++) {
            double x0 = ends[h], x1 = ends[h + 1], mid = 0.5 * (x0 + x1);
            double whole = gl_interval(c, x0, x1);
            double halves = gl_interval(c, x0, mid) + gl_interval(c, mid, x1);
            v[h] = halves;
            e[h] = fabs(halves - whole);
        }
        total += v[0] + v[1] - w.val;
        errsum += e[0] + e[1] - w.err;
        ivs[worst] = (struct iv){w.a, xm, v[0], e[0]};
        ivs[n++] = (struct iv){xm, w.b, v[1], e[1]};
    }
    /* re-sum to drop accumulated rounding from the running updates */
    total = 0.0;
    for (int i = 0; i < n; i++)
        total += ivs[i].val;
    return total;
}

double joule_stats_ptukey_sf_integrated(double q, int k, double df)
{
    pthread_once(&gl_once, gl_init);
    if (isinf(df)) return range_sf(q, k);
    struct tukey_ctx c = {.q = q, .df = df, .k = k, .table = range_table_get(k)};
    /* log f_df(s)·s = (df/2) log(df/2) + log 2 + df·u − df s²/2 − lgamma(df/2)
     *              = lnorm + chi_rel(df, u), lnorm = ½ log x + log 2 − ½ log 2π − rem(x), x = df/2
     */
    double x = 0.5 * df;
    c.lnorm = 0.5 * log(x) + log(2.0) - 0.5 * log(2.0 * M_PI) - stirling_rem(x);
    /* The log-integrand is concave in u with its maximum at u <= 0 (the chi part peaks at 0 and
     * log R_k(q e^u) decreases): golden-section search for it, its width from the curvature,
     * then limits where it has fallen by 110 (e^-110 ≈ 1.7e-48 of the peak). */
    double a = -1.0 - 300.0 / df, b = 0.0;
    const double gr = 0.6180339887498949;
    double x1 = b - gr * (b - a), x2 = a + gr * (b - a);
    double f1 = tukey_log_integrand(&c, x1), f2 = tukey_log_integrand(&c, x2);
    for (int it = 0; it < 200 && b - a > 1e-9 * (1.0 + fabs(a)); it++) {
        if (f1 < f2) {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + gr * (b - a);
            f2 = tukey_log_integrand(&c, x2);
        } else {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - gr * (b - a);
            f1 = tukey_log_integrand(&c, x1);
        }
    }
    double um = 0.5 * (a + b), fm = tukey_log_integrand(&c, um);
    if (!isfinite(fm)) return 0.0; /* below the smallest double everywhere */
    double sig_chi = 1.0 / sqrt(2.0 * df), d = 0.01 * fmin(1.0, sig_chi);
    double curv =
        -(tukey_log_integrand(&c, um + d) - 2.0 * fm + tukey_log_integrand(&c, um - d)) / (d * d);
    double sigma = curv > 0.0 ? fmin(1.0 / sqrt(curv), 4.0) : fmin(1.0, sig_chi);
    /* steps grow by 1.5 from a quarter width: a limit overshoots by at most half its distance,
     * which only adds a negligible stretch for the adaptive rule to cover */
    double u_lo = um, u_hi = um, step = 0.25 * sigma;
    for (int i = 0; i < 200 && tukey_log_integrand(&c, u_lo) > fm - 110.0; i++, step *= 1.5)
        u_lo -= step;
    step = 0.25 * sigma;
    for (int i = 0; i < 200 && tukey_log_integrand(&c, u_hi) > fm - 110.0; i++, step *= 1.5)
        u_hi += step;
    /* breakpoints that resolve the peak; the tails are left to the adaptive bisection */
    const double off[] = {-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 8.0};
    double bp[12];
    int nbp = 0;
    bp[nbp++] = u_lo;
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        double v = um + off[i] * sigma;
        if (v > bp[nbp - 1] && v < u_hi) bp[nbp++] = v;
    }
    bp[nbp++] = u_hi;
    return integrate_adaptive(&c, bp, nbp, 1e-11);
}

double joule_stats_ptukey_sf(double q, double k, double df)
{
    if (isnan(q) || isnan(k) || isnan(df) || k < 2.0 || !(df > 0.0)) return NAN;
    if (q <= 0.0) return 1.0;
    if (isinf(q)) return 0.0;
    int ki = (int)k;
    if ((double)ki != k || ki > 1000) return NAN;
    if (ki == 2) return joule_stats_t_sf2(q / SQRT2, df); /* exact identity */
    return joule_stats_ptukey_sf_integrated(q, ki, df);
}
