/* Writing the report: its tables (table.c renders them), recommendations, stats.json and
 * a self-contained index.html with the SVG box plots (plots.c). Everything shown is read from the
 * analyses built by report.c (stats module results) or from medians of the stored values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_internal.h"
#include "report/sbuf.h"
#include "stats/stats_internal.h"
#include "stats/stats_json.h"
#include "util/fileio.h"

/* ---- small helpers ---------------------------------------------------------------------- */

static void fmt_num(char *buf, size_t cap, double v)
{
    if (!isfinite(v))
        snprintf(buf, cap, "–");
    else if (v != 0.0 && (fabs(v) >= 1e12 || fabs(v) < 1e-3))
        snprintf(buf, cap, "%.3e", v);
    else if (fabs(v) >= 1000.0)
        snprintf(buf, cap, "%.0f", v);
    else
        snprintf(buf, cap, "%.4g", v);
}

static void fmt_p(char *buf, size_t cap, double p)
{
    if (!isfinite(p))
        snprintf(buf, cap, "–");
    else if (p < 1e-4)
        snprintf(buf, cap, "%.2e", p);
    else
        snprintf(buf, cap, "%.4f", p);
}

/* A sorted copy of a cell's values (caller frees; NULL when empty or out of memory). */
double *report_cell_sorted(const struct rcell *c)
{
    if (!c->n) return NULL;
    double *v = malloc(c->n * sizeof *v);
    if (!v) return NULL;
    memcpy(v, c->v, c->n * sizeof *v);
    joule_stats_sort(v, c->n);
    return v;
}

/* median of the pooled values of every model in category `cat` (CAT_COUNT = all models) */
static double pooled_median(const struct joule_report *r, int metric, int cat, size_t conf)
{
    size_t n = 0;
    for (size_t m = 0; m < r->nmodels; m++)
        if (cat == CAT_COUNT || r->models[m].cat == cat) n += report_cell(r, metric, m, conf)->n;
    if (n == 0) return NAN;
    double *v = malloc(n * sizeof *v);
    if (!v) return NAN;
    size_t o = 0;
    for (size_t m = 0; m < r->nmodels; m++) {
        if (cat != CAT_COUNT && r->models[m].cat != cat) continue;
        const struct rcell *c = report_cell(r, metric, m, conf);
        if (!c->n) continue; /* an empty cell has no buffer (memcpy from NULL is UB) */
        memcpy(v + o, c->v, c->n * sizeof *v);
        o += c->n;
    }
    joule_stats_sort(v, n);
    double med = joule_stats_quantile_sorted(v, n, 0.5);
    free(v);
    return med;
}

static int metric_has_data(const struct joule_report *r, int metric)
{
    for (size_t m = 0; m < r->nmodels; m++)
        for (size_t c = 0; c < r->nconfs; c++)
            if (report_cell(r, metric, m, c)->n) return 1;
    return 0;
}

static int cat_present(const struct joule_report *r, int cat)
{
    for (size_t m = 0; m < r->nmodels; m++)
        if (r->models[m].cat == cat) return 1;
    return 0;
}

/* ---- the tables of the report ----------------------------------------------------------- */

/* Medians by model-size category in the layout of the study's Tables 4 and 5: one row per
 * metric × category, one column per configuration. */
static int medians_table(const struct joule_report *r, struct tbl *t)
{
    size_t rows = 1;
    for (int mt = 0; mt < JOULE_REPORT_METRIC_COUNT; mt++)
        if (metric_has_data(r, mt))
            for (int cat = 0; cat <= CAT_COUNT; cat++)
                if (cat == CAT_COUNT || cat_present(r, cat)) rows++;
    if (report_tbl_init(t, rows, 2 + r->nconfs,
                        "Medians over repetitions and models, by model-size category"))
        return -1;
    report_tbl_set(t, 0, 0, "metric");
    report_tbl_set(t, 0, 1, "models");
    for (size_t c = 0; c < r->nconfs; c++)
        report_tbl_set(t, 0, 2 + c, r->confs[c].name);
    size_t row = 1;
    char buf[64];
    for (int mt = 0; mt < JOULE_REPORT_METRIC_COUNT; mt++) {
        if (!metric_has_data(r, mt)) continue;
        for (int cat = 0; cat <= CAT_COUNT; cat++) {
            if (cat != CAT_COUNT && !cat_present(r, cat)) continue;
            report_tbl_set(t, row, 0, joule_report_metric_label(mt));
            report_tbl_set(t, row, 1, cat == CAT_COUNT ? "all" : joule_report_cat_names[cat]);
            for (size_t c = 0; c < r->nconfs; c++) {
                fmt_num(buf, sizeof buf, pooled_median(r, mt, cat, c));
                report_tbl_set(t, row, 2 + c, buf);
            }
            row++;
        }
    }
    return 0;
}

/* Savings (b − a)/b × 100 of the pooled medians, every ordered pair, per category. */
static int savings_table(const struct joule_report *r, int mt, struct tbl *t)
{
    int cats[CAT_COUNT + 1], nc = 0;
    for (int cat = 0; cat <= CAT_COUNT; cat++)
        if (cat == CAT_COUNT || cat_present(r, cat)) cats[nc++] = cat;
    size_t pairs = r->nconfs * (r->nconfs ? r->nconfs - 1 : 0);
    char cap[200];
    snprintf(cap, sizeof cap, "%s: savings of a against b in %% of b, (b - a)/b x 100, on medians",
             joule_report_metric_label(mt));
    if (report_tbl_init(t, 1 + pairs, 2 + (size_t)nc, cap)) return -1;
    report_tbl_set(t, 0, 0, "a");
    report_tbl_set(t, 0, 1, "b");
    for (int i = 0; i < nc; i++)
        report_tbl_set(t, 0, 2 + (size_t)i,
                       cats[i] == CAT_COUNT ? "all" : joule_report_cat_names[cats[i]]);
    double med[CAT_COUNT + 1][REPORT_MAX_CONFS];
    for (int i = 0; i < nc; i++)
        for (size_t c = 0; c < r->nconfs; c++)
            med[i][c] = pooled_median(r, mt, cats[i], c);
    size_t row = 1;
    char buf[64];
    for (size_t a = 0; a < r->nconfs; a++)
        for (size_t b = 0; b < r->nconfs; b++) {
            if (a == b) continue;
            report_tbl_set(t, row, 0, r->confs[a].name);
            report_tbl_set(t, row, 1, r->confs[b].name);
            for (int i = 0; i < nc; i++) {
                double s = joule_stats_savings_pct(med[i][a], med[i][b]);
                if (isfinite(s))
                    snprintf(buf, sizeof buf, "%.2f", s);
                else
                    snprintf(buf, sizeof buf, "–");
                report_tbl_set(t, row, 2 + (size_t)i, buf);
            }
            row++;
        }
    return 0;
}

static size_t pair_index(size_t k, size_t i, size_t j)
{
    return i * (2 * k - i - 1) / 2 + (j - i - 1);
}

/* Per model and configuration: the median with its bootstrap confidence interval (from the
 * stats module's analysis; the interval is left out when bootstrapping is off). */
static int median_ci_table(const struct joule_report *r, int mt, struct tbl *t)
{
    char cap[200];
    snprintf(cap, sizeof cap, "%s: median per model and configuration [%g%% bootstrap CI]",
             joule_report_metric_label(mt), 100.0 * joule_stats_default_params().ci_level);
    if (report_tbl_init(t, 1 + r->nmodels, 1 + r->nconfs, cap)) return -1;
    report_tbl_set(t, 0, 0, "model");
    for (size_t c = 0; c < r->nconfs; c++)
        report_tbl_set(t, 0, 1 + c, r->confs[c].name);
    char buf[128], a[32], b[32], m[32];
    for (size_t mi = 0; mi < r->nmodels; mi++) {
        const struct ranalysis *an = report_an(r, mt, mi);
        report_tbl_set(t, 1 + mi, 0, r->models[mi].name);
        for (size_t c = 0; c < r->nconfs; c++)
            report_tbl_set(t, 1 + mi, 1 + c, "–");
        if (!an->ok) continue;
        for (size_t i = 0; i < an->nconf; i++) {
            fmt_num(m, sizeof m, an->a.describe[i].median);
            if (isfinite(an->a.ci_lo[i])) {
                fmt_num(a, sizeof a, an->a.ci_lo[i]);
                fmt_num(b, sizeof b, an->a.ci_hi[i]);
                snprintf(buf, sizeof buf, "%s [%s, %s]", m, a, b);
            } else {
                snprintf(buf, sizeof buf, "%s", m);
            }
            report_tbl_set(t, 1 + mi, 1 + an->conf[i], buf);
        }
    }
    return 0;
}

/* Per model: the procedure chosen, its omnibus p, effect size, significant pairs. */
static int tests_table(const struct joule_report *r, int mt, struct tbl *t)
{
    char cap[200];
    snprintf(cap, sizeof cap, "%s: test per model across configurations (alpha %g)",
             joule_report_metric_label(mt), r->params.alpha);
    if (report_tbl_init(t, 1 + r->nmodels, 7, cap)) return -1;
    const char *hdr[7] = {"model",     "size",        "configs",          "procedure",
                          "omnibus p", "effect size", "significant pairs"};
    for (int c = 0; c < 7; c++)
        report_tbl_set(t, 0, (size_t)c, hdr[c]);
    char buf[128];
    for (size_t m = 0; m < r->nmodels; m++) {
        const struct ranalysis *a = report_an(r, mt, m);
        report_tbl_set(t, 1 + m, 0, r->models[m].name);
        report_tbl_set(t, 1 + m, 1, joule_report_cat_names[r->models[m].cat]);
        snprintf(buf, sizeof buf, "%zu", a->nconf);
        report_tbl_set(t, 1 + m, 2, buf);
        if (!a->ok) {
            report_tbl_set(t, 1 + m, 3, "– (fewer than 2 configurations)");
            continue;
        }
        int par = a->a.procedure == JOULE_STATS_PARAMETRIC;
        report_tbl_set(t, 1 + m, 3, par ? "Welch + Games-Howell" : "Kruskal-Wallis + Dunn (Holm)");
        fmt_p(buf, sizeof buf, a->a.omnibus_p);
        report_tbl_set(t, 1 + m, 4, buf);
        double es = par ? a->a.eta2 : a->a.kruskal.epsilon2;
        char num[32];
        fmt_num(num, sizeof num, es);
        snprintf(buf, sizeof buf, "%s = %s", par ? "eta2" : "epsilon2", num);
        report_tbl_set(t, 1 + m, 5, buf);
        size_t sig = 0;
        for (size_t i = 0; i < a->a.npairs; i++)
            sig += a->a.pair_p[i] < r->params.alpha;
        snprintf(buf, sizeof buf, "%zu of %zu", sig, a->a.npairs);
        report_tbl_set(t, 1 + m, 6, buf);
    }
    return 0;
}

/* Every pair of every analysis (long format; CSV/Markdown only). */
static int pairs_table(const struct joule_report *r, struct tbl *t)
{
    size_t rows = 1;
    for (int mt = 0; mt < JOULE_REPORT_METRIC_COUNT; mt++)
        for (size_t m = 0; m < r->nmodels; m++)
            if (report_an(r, mt, m)->ok) rows += report_an(r, mt, m)->a.npairs;
    if (report_tbl_init(t, rows, 9, "Pairwise comparisons (p of the chosen procedure)")) return -1;
    const char *hdr[9] = {"metric",   "model",    "a", "b",          "procedure",
                          "median a", "median b", "p", "significant"};
    for (int c = 0; c < 9; c++)
        report_tbl_set(t, 0, (size_t)c, hdr[c]);
    size_t row = 1;
    char buf[64];
    for (int mt = 0; mt < JOULE_REPORT_METRIC_COUNT; mt++)
        for (size_t m = 0; m < r->nmodels; m++) {
            const struct ranalysis *a = report_an(r, mt, m);
            if (!a->ok) continue;
            int par = a->a.procedure == JOULE_STATS_PARAMETRIC;
            for (size_t i = 0; i < a->a.npairs; i++, row++) {
                size_t ga = a->a.games_howell[i].a, gb = a->a.games_howell[i].b;
                report_tbl_set(t, row, 0, joule_report_metric_key(mt));
                report_tbl_set(t, row, 1, r->models[m].name);
                report_tbl_set(t, row, 2, a->a.names[ga]);
                report_tbl_set(t, row, 3, a->a.names[gb]);
                report_tbl_set(t, row, 4, par ? "games-howell" : "dunn-holm");
                fmt_num(buf, sizeof buf, a->a.describe[ga].median);
                report_tbl_set(t, row, 5, buf);
                fmt_num(buf, sizeof buf, a->a.describe[gb].median);
                report_tbl_set(t, row, 6, buf);
                snprintf(buf, sizeof buf, "%.6g", a->a.pair_p[i]);
                report_tbl_set(t, row, 7, isfinite(a->a.pair_p[i]) ? buf : "–");
                report_tbl_set(t, row, 8, a->a.pair_p[i] < r->params.alpha ? "yes" : "no");
            }
        }
    return 0;
}

/* ---- recommendations -------------------------------------------------------------------- */

#define MAX_MODELS_REC 256

struct rec_entry {
    size_t conf;
    double score; /* median over models of the per-model median */
};

static int cmp_rec(const void *a, const void *b)
{
    const struct rec_entry *x = a, *y = b;
    if (isnan(x->score) != isnan(y->score)) return isnan(x->score) ? 1 : -1;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    return (x->conf > y->conf) - (x->conf < y->conf);
}

/* Counts over models where both configurations were analysed: x significantly lower than y,
 * significantly higher, not significant. */
static void compare_confs(const struct joule_report *r, int mt, size_t x, size_t y, size_t *lower,
                          size_t *higher, size_t *ns)
{
    *lower = *higher = *ns = 0;
    for (size_t m = 0; m < r->nmodels; m++) {
        const struct ranalysis *a = report_an(r, mt, m);
        if (!a->ok) continue;
        size_t ix = (size_t)-1, iy = (size_t)-1;
        for (size_t i = 0; i < a->nconf; i++) {
            if (a->conf[i] == x) ix = i;
            if (a->conf[i] == y) iy = i;
        }
        if (ix == (size_t)-1 || iy == (size_t)-1) continue;
        size_t i = ix < iy ? ix : iy, j = ix < iy ? iy : ix;
        double p = a->a.pair_p[pair_index(a->a.k, i, j)];
        if (!(p < r->params.alpha)) {
            (*ns)++;
            continue;
        }
        if (a->a.describe[ix].median < a->a.describe[iy].median)
            (*lower)++;
        else
            (*higher)++;
    }
}

static const struct {
    const char *objective;
    int metrics[3];
} g_objectives[] = {
    {"energy",
     {JOULE_REPORT_ENERGY_GLOBAL_J, JOULE_REPORT_ENERGY_WATTMETER_J, JOULE_REPORT_ENERGY_CPU_J}},
    {"time", {JOULE_REPORT_EXECUTION_S, -1, -1}},
    {"RAM", {JOULE_REPORT_RAM_PCT, -1, -1}},
};

/* Ranked list per objective with significance between neighbours, as HTML, Markdown and JSON. */
static void recommendations(const struct joule_report *r, struct joule_strbuf *html,
                            struct joule_strbuf *md, cJSON *json)
{
    for (size_t o = 0; o < sizeof g_objectives / sizeof g_objectives[0]; o++) {
        int mt = -1;
        for (int i = 0; i < 3 && mt < 0; i++)
            if (g_objectives[o].metrics[i] >= 0 && metric_has_data(r, g_objectives[o].metrics[i]))
                mt = g_objectives[o].metrics[i];
        joule_strbuf_printf(html, "<h3>Objective: %s</h3>\n", g_objectives[o].objective);
        joule_strbuf_printf(md, "## Objective: %s\n\n", g_objectives[o].objective);
        cJSON *jo = cJSON_CreateObject();
        cJSON_AddStringToObject(jo, "objective", g_objectives[o].objective);
        cJSON_AddItemToArray(json, jo);
        if (mt < 0) {
            joule_strbuf_puts(html, "<p>No data for this objective.</p>\n");
            joule_strbuf_puts(md, "No data for this objective.\n\n");
            continue;
        }
        cJSON_AddStringToObject(jo, "metric", joule_report_metric_key(mt));
        struct rec_entry e[REPORT_MAX_CONFS];
        for (size_t c = 0; c < r->nconfs; c++) {
            double med[MAX_MODELS_REC];
            size_t n = 0;
            for (size_t m = 0; m < r->nmodels && n < MAX_MODELS_REC; m++) {
                const struct rcell *cell = report_cell(r, mt, m, c);
                double *v = report_cell_sorted(cell);
                if (!v) continue;
                med[n++] = joule_stats_quantile_sorted(v, cell->n, 0.5);
                free(v);
            }
            joule_stats_sort(med, n);
            e[c] = (struct rec_entry){c, n ? joule_stats_quantile_sorted(med, n, 0.5) : NAN};
        }
        qsort(e, r->nconfs, sizeof *e, cmp_rec);
        joule_strbuf_printf(
            html,
            "<p>Ranked by the median over models of each model's median %s "
            "(lower is better). Significance is the chosen test's pairwise p &lt; "
            "%g, counted over the models measured in both configurations.</p>\n<ol>\n",
            joule_report_metric_label(mt), r->params.alpha);
        joule_strbuf_printf(md,
                            "Ranked by the median over models of each model's median %s (lower is "
                            "better); significance: pairwise p < %g per model.\n\n",
                            joule_report_metric_label(mt), r->params.alpha);
        cJSON *ranking = cJSON_AddArrayToObject(jo, "ranking");
        for (size_t i = 0; i < r->nconfs; i++) {
            if (isnan(e[i].score)) continue;
            char num[32], note[400] = "";
            fmt_num(num, sizeof num, e[i].score);
            cJSON *je = cJSON_CreateObject();
            cJSON_AddStringToObject(je, "configuration", r->confs[e[i].conf].name);
            cJSON_AddItemToObject(je, "score", joule_stats_json_num(e[i].score));
            if (i + 1 < r->nconfs && !isnan(e[i + 1].score)) {
                size_t lo, hi, ns;
                compare_confs(r, mt, e[i].conf, e[i + 1].conf, &lo, &hi, &ns);
                size_t tot = lo + hi + ns;
                const char *next = r->confs[e[i + 1].conf].name;
                if (tot == 0)
                    snprintf(note, sizeof note, "no model measured in both it and %s", next);
                else if (2 * lo > tot)
                    snprintf(note, sizeof note,
                             "significantly lower than %s in %zu of %zu models (not significant "
                             "in %zu, higher in %zu)",
                             next, lo, tot, ns, hi);
                else if (2 * ns > tot)
                    snprintf(note, sizeof note,
                             "NOT significantly different from %s in %zu of %zu models (lower in "
                             "%zu, higher in %zu)",
                             next, ns, tot, lo, hi);
                else
                    snprintf(note, sizeof note,
                             "mixed against %s: significantly lower in %zu of %zu models, not "
                             "significantly different in %zu, higher in %zu",
                             next, lo, tot, ns, hi);
                cJSON *jc = cJSON_AddObjectToObject(je, "vs_next");
                cJSON_AddStringToObject(jc, "configuration", r->confs[e[i + 1].conf].name);
                cJSON_AddNumberToObject(jc, "significantly_lower", (double)lo);
                cJSON_AddNumberToObject(jc, "significantly_higher", (double)hi);
                cJSON_AddNumberToObject(jc, "not_significant", (double)ns);
            }
            cJSON_AddItemToArray(ranking, je);
            joule_strbuf_puts(html, "<li><b>");
            joule_strbuf_html(html, r->confs[e[i].conf].name);
            joule_strbuf_printf(html, "</b> (%s)", num);
            if (note[0]) {
                joule_strbuf_puts(html, ": ");
                joule_strbuf_html(html, note);
            }
            joule_strbuf_puts(html, "</li>\n");
            joule_strbuf_printf(md, "%zu. **%s** (%s)%s%s\n", i + 1, r->confs[e[i].conf].name, num,
                                note[0] ? ": " : "", note);
        }
        joule_strbuf_puts(html, "</ol>\n");
        joule_strbuf_puts(md, "\n");
    }
}

/* ---- stats.json ------------------------------------------------------------------------- */

static cJSON *stats_json(const struct joule_report *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "title", r->title);
    cJSON_AddNumberToObject(root, "alpha", r->params.alpha);
    cJSON_AddNumberToObject(root, "rows", (double)r->nrows);
    cJSON_AddNumberToObject(root, "skipped_rows", (double)r->skipped);
    cJSON *est = cJSON_AddObjectToObject(root, "estimated_rows");
    for (int mt = 0; mt < JOULE_REPORT_METRIC_COUNT; mt++)
        if (r->estimated[mt])
            cJSON_AddNumberToObject(est, joule_report_metric_key(mt), (double)r->estimated[mt]);
    cJSON *cats = cJSON_AddObjectToObject(root, "size_categories");
    cJSON_AddNumberToObject(cats, "small_below_m", r->params.small_max_m);
    cJSON_AddNumberToObject(cats, "medium_below_m", r->params.medium_max_m);
    cJSON *models = cJSON_AddArrayToObject(root, "models");
    for (size_t m = 0; m < r->nmodels; m++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", r->models[m].name);
        cJSON_AddItemToObject(
            o, "params_m",
            joule_stats_json_num(r->models[m].params_m > 0 ? r->models[m].params_m : NAN));
        cJSON_AddStringToObject(o, "category", joule_report_cat_names[r->models[m].cat]);
        cJSON_AddStringToObject(o, "color", report_model_color(m));
        cJSON_AddItemToArray(models, o);
    }
    cJSON *confs = cJSON_AddArrayToObject(root, "configurations");
    for (size_t c = 0; c < r->nconfs; c++)
        cJSON_AddItemToArray(confs, cJSON_CreateString(r->confs[c].name));
    cJSON *med = cJSON_AddObjectToObject(root, "medians");
    for (int mt = 0; mt < JOULE_REPORT_METRIC_COUNT; mt++) {
        if (!metric_has_data(r, mt)) continue;
        cJSON *mo = cJSON_AddObjectToObject(med, joule_report_metric_key(mt));
        for (int cat = 0; cat <= CAT_COUNT; cat++) {
            if (cat != CAT_COUNT && !cat_present(r, cat)) continue;
            cJSON *co =
                cJSON_AddObjectToObject(mo, cat == CAT_COUNT ? "all" : joule_report_cat_names[cat]);
            for (size_t c = 0; c < r->nconfs; c++)
                cJSON_AddItemToObject(co, r->confs[c].name,
                                      joule_stats_json_num(pooled_median(r, mt, cat, c)));
        }
    }
    cJSON *an = cJSON_AddArrayToObject(root, "analyses");
    for (int mt = 0; mt < JOULE_REPORT_METRIC_COUNT; mt++)
        for (size_t m = 0; m < r->nmodels; m++) {
            const struct ranalysis *a = report_an(r, mt, m);
            if (!a->ok) continue;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "metric", joule_report_metric_key(mt));
            cJSON_AddStringToObject(o, "model", r->models[m].name);
            cJSON_AddItemToObject(o, "result", joule_stats_analysis_to_cjson(&a->a));
            cJSON_AddItemToArray(an, o);
        }
    return root;
}

/* ---- index.html ------------------------------------------------------------------------- */

static const char *g_css =
    "body{font-family:sans-serif;font-size:14px;margin:24px;color:#222;max-width:1400px}"
    "h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;"
    "margin-top:32px}h3{font-size:15px}"
    "table{border-collapse:collapse;margin:12px 0;font-size:12px}"
    "caption{text-align:left;font-weight:bold;padding:4px 0}"
    "th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}"
    "th:first-child,td:first-child{text-align:left}"
    "th{background:#f2f2f2}.plots{display:flex;flex-wrap:wrap;gap:8px 32px}"
    ".plot{overflow-x:auto;max-width:100%}.note{color:#555;font-size:13px}"
    ".warn{background:#fff4e0;border-left:4px solid #e69500;padding:6px 10px;font-size:13px}";

enum joule_status joule_report_write(const struct joule_report *r, const char *dir)
{
    if (!r || !dir) return joule_errorf(JOULE_ERR_INVALID_ARG, "report: nothing to write");
    char sub[4096];
    enum joule_status st = joule_mkdirs(dir);
    if (!st) st = joule_path_join(sub, sizeof sub, dir, "tables");
    if (!st) st = joule_mkdirs(sub);
    if (!st) st = joule_path_join(sub, sizeof sub, dir, "plots");
    if (!st) st = joule_mkdirs(sub);
    if (st) return st;

    struct joule_strbuf html = {0}, md = {0}, svg = {0};
    joule_strbuf_puts(&html,
                      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    joule_strbuf_html(&html, r->title);
    joule_strbuf_printf(&html, "</title>\n<style>%s</style></head><body>\n<h1>", g_css);
    joule_strbuf_html(&html, r->title);
    joule_strbuf_printf(
        &html,
        "</h1>\n<p class=\"note\">%zu models × %zu serving configurations; %zu "
        "analyses; %zu rows%s. Per model and metric: all configurations normal by "
        "Shapiro-Wilk (alpha %g) → Welch ANOVA + Games-Howell, otherwise Kruskal-Wallis + "
        "Dunn (Holm). Size categories: small &lt; %g M parameters, medium &lt; %g M, "
        "large otherwise.</p>\n",
        r->nmodels, r->nconfs, r->nanalyses, r->nrows,
        r->skipped ? " (some skipped: not finite)" : "", r->params.alpha, r->params.small_max_m,
        r->params.medium_max_m);

    /* The answer first: which configuration to pick and the medians; then the plots, side by
     * side; then the detail per metric. */
    size_t n_est = 0;
    for (int mt = 0; mt < JOULE_REPORT_METRIC_COUNT; mt++)
        n_est += r->estimated[mt];
    if (n_est)
        joule_strbuf_puts(&html, "<p class=\"warn\"><b>Estimated energy.</b> This machine has no "
                                 "readable energy counter: energy values come from the documented "
                                 "model (CPU TDP &times; utilisation + RAM), labelled "
                                 "<i>estimated</i> below. Compare configurations with them, "
                                 "never quote them as joules measured.</p>\n");

    joule_strbuf_puts(&html, "<h2>Recommendations</h2>\n");
    joule_strbuf_puts(&md, "# Recommendations\n\n");
    cJSON *root = stats_json(r);
    cJSON *recs = cJSON_AddArrayToObject(root, "recommendations");
    recommendations(r, &html, &md, recs);
    if (!st) st = report_write_buf(dir, "tables/recommendations.md", &md);

    struct tbl t = {0};
    joule_strbuf_puts(&html, "<h2>Medians by model size</h2>\n");
    if (!st && medians_table(r, &t) == 0) {
        report_tbl_html(&t, &html);
        st = report_tbl_write(&t, dir, "medians", 0);
    }
    report_tbl_free(&t);

    joule_strbuf_puts(&html, "<h2>Box plots</h2>\n<div class=\"plots\">\n");
    for (int mt = 0; mt < JOULE_REPORT_METRIC_COUNT && !st; mt++) {
        if (!metric_has_data(r, mt)) continue;
        svg.len = 0;
        joule_strbuf_puts(&svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        size_t start = svg.len;
        report_svg_boxplot(r, mt, &svg);
        char fn[256];
        snprintf(fn, sizeof fn, "plots/%s.svg", joule_report_metric_key(mt));
        st = report_write_buf(dir, fn, &svg);
        joule_strbuf_printf(&html, "<div class=\"plot\" id=\"plot-%s\">\n",
                            joule_report_metric_key(mt));
        if (svg.data) joule_strbuf_puts(&html, svg.data + start);
        joule_strbuf_puts(&html, "</div>\n");
    }
    joule_strbuf_puts(&html, "</div>\n");

    for (int mt = 0; mt < JOULE_REPORT_METRIC_COUNT && !st; mt++) {
        if (!metric_has_data(r, mt)) continue;
        char name[128];
        joule_strbuf_printf(&html, "<h2 id=\"metric-%s\">", joule_report_metric_key(mt));
        joule_strbuf_html(&html, joule_report_metric_label(mt));
        joule_strbuf_puts(&html, "</h2>\n");
        if (r->estimated[mt])
            joule_strbuf_printf(
                &html,
                "<p class=\"note\"><b>Estimated:</b> %zu of these values come from an "
                "energy model (no hardware counter on the machine), not a measurement.</p>\n",
                r->estimated[mt]);
        if (tests_table(r, mt, &t) == 0) {
            report_tbl_html(&t, &html);
            snprintf(name, sizeof name, "tests_%s", joule_report_metric_key(mt));
            st = report_tbl_write(&t, dir, name, 0);
        }
        report_tbl_free(&t);
        if (!st && median_ci_table(r, mt, &t) == 0) {
            report_tbl_html(&t, &html);
            snprintf(name, sizeof name, "medians_%s", joule_report_metric_key(mt));
            st = report_tbl_write(&t, dir, name, 0);
        }
        report_tbl_free(&t);
        if (!st && savings_table(r, mt, &t) == 0) {
            report_tbl_html(&t, &html);
            snprintf(name, sizeof name, "savings_%s", joule_report_metric_key(mt));
            st = report_tbl_write(&t, dir, name, 0);
        }
        report_tbl_free(&t);
    }
    if (!st && pairs_table(r, &t) == 0) st = report_tbl_write(&t, dir, "pairs", 1);
    report_tbl_free(&t);
    joule_strbuf_puts(&html,
                      "<p class=\"note\">Files: stats.json, tables/*.md|csv|tex, plots/*.svg.</p>\n"
                      "</body></html>\n");
    if (!st) st = report_write_buf(dir, "index.html", &html);
    if (!st) {
        char *js = cJSON_Print(root);
        if (!js)
            st = joule_errorf(JOULE_ERR_NOMEM, "report: out of memory");
        else {
            char path[4096];
            st = joule_path_join(path, sizeof path, dir, "stats.json");
            if (!st) st = report_write_file(path, js, strlen(js));
            free(js);
        }
    }
    cJSON_Delete(root);
    joule_strbuf_free(&html);
    joule_strbuf_free(&md);
    joule_strbuf_free(&svg);
    return st;
}
