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
 *    Gauss-Legendre with a relative tolerance. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "joule/stats.h"

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

double joule_stats_ibeta(double x, double y, double a, double b)
{
    if (isnan(x) || isnan(y) || !(a > 0.0) || !(b > 0.0)) return NAN;
    if (x <= 0.0) return 0.0;
    if (y <= 0.0) return 1.0;
    double lbeta = lgamma(a) + lgamma(b) - lgamma(a + b);
    double front = exp(a * log(x) + b * log(y) - lbeta);
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

/* Nodes and weights of the n-point Gauss-Legendre rule by Newton's method on P_n. */
static void gauss_legendre(int n, double *x, double *w)
{
    for (int i = 0; i < n; i++) {
        double z = cos(M_PI * (i + 0.75) / (n + 0.5)), dp = 0.0;
        for (int it = 0; it < 100; it++) {
            double p0 = 1.0, p1 = z;
            for (int j = 2; j <= n; j++) {
                double p2 = ((2.0 * j - 1.0) * z * p1 - (j - 1.0) * p0) / j;
                p0 = p1;
                p1 = p2;
            }
            dp = n * (z * p1 - p0) / (z * z - 1.0);
            double dz = p1 / dp;
            z -= dz;
            if (fabs(dz) < 1e-16) break;
        }
        double p0 = 1.0, p1 = z;
        for (int j = 2; j <= n; j++) {
            double p2 = ((2.0 * j - 1.0) * z * p1 - (j - 1.0) * p0) / j;
            p0 = p1;
            p1 = p2;
        }
        dp = n * (z * p1 - p0) / (z * z - 1.0);
        x[i] = z;
        w[i] = 2.0 / ((1.0 - z * z) * dp * dp);
    }
}

static void gl_init(void)
{
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
};
static struct range_table *rt_cache[RT_CACHE];
static int rt_count;
static pthread_mutex_t rt_lock = PTHREAD_MUTEX_INITIALIZER;

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

static double range_sf_table(const struct range_table *t, double w)
{
    if (w <= 0.0) return 1.0;
    if (w >= RT_WMAX) return 0.0;
    int p = (int)(w / RT_W);
    if (p >= RT_PANELS) p = RT_PANELS - 1;
    double x = 2.0 * (w - p * RT_W) / RT_W - 1.0; /* in [-1, 1] */
    const double *c = t->c[p];
    double b1 = 0.0, b2 = 0.0;
    for (int j = RT_N - 1; j >= 1; j--) {
        double b0 = 2.0 * x * b1 - b2 + c[j];
        b2 = b1;
        b1 = b0;
    }
    return exp(x * b1 - b2 + c[0]);
}

struct tukey_ctx {
    double q, df, lnorm;
    int k;
    const struct range_table *table;
};

/* Integrand in u = log s: f_df(s) · s · R_k(q s). */
static double tukey_integrand(const struct tukey_ctx *c, double u)
{
    double s = exp(u);
    double lg = c->lnorm + c->df * u - 0.5 * c->df * s * s;
    if (lg < -745.0) return 0.0;
    double r = c->table ? range_sf_table(c->table, c->q * s) : range_sf(c->q * s, c->k);
    return exp(lg) * r;
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

/* Global adaptive integration of a positive integrand over [a, b]: each interval's estimate is
 * the sum of its two halves, its error the difference from the whole-interval rule. */
static double integrate_adaptive(const struct tukey_ctx *c, double a, double b, int initial,
                                 double reltol)
{
    struct iv ivs[MAX_IV];
    int n = 0;
    double total = 0.0, errsum = 0.0;
    for (int i = 0; i < initial; i++) {
        double x0 = a + (b - a) * i / initial, x1 = a + (b - a) * (i + 1) / initial;
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

double joule_stats_ptukey_sf(double q, double k, double df)
{
    if (isnan(q) || isnan(k) || isnan(df) || k < 2.0 || !(df > 0.0)) return NAN;
    if (q <= 0.0) return 1.0;
    if (isinf(q)) return 0.0;
    int ki = (int)k;
    if ((double)ki != k || ki > 1000) return NAN;
    if (ki == 2) return joule_stats_t_sf2(q / SQRT2, df); /* exact identity */
    pthread_once(&gl_once, gl_init);
    if (isinf(df)) return range_sf(q, ki);
    struct tukey_ctx c = {.q = q, .df = df, .k = ki, .table = range_table_get(ki)};
    /* log of f_df(s)·s = (df/2) log(df/2) + log 2 + df·u − df s²/2 − lgamma(df/2) */
    c.lnorm = 0.5 * df * log(0.5 * df) + log(2.0) - lgamma(0.5 * df);
    /* Limits in u: the chi density part falls below e^-110 of its peak (at u = 0) outside.
     * Left: df·u − df/2 (e^{2u} − 1)·... ≈ df·u + df/2  ->  u_lo = −(110 + df/2)/df.
     * Right: df (e^{2u} − 1)/2 − df·u > 110. */
    double u_lo = -(110.0 + 0.5 * df) / df;
    double u_hi = 0.0;
    while (0.5 * df * (exp(2.0 * u_hi) - 1.0) - df * u_hi < 110.0)
        u_hi += 0.25;
    return integrate_adaptive(&c, u_lo, u_hi, 8, 1e-11);
}
