/* The study's procedure over k groups, its JSON form, and the `{"groups": {...}}` input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "joule/stats.h"
#include "stats/stats_json.h"
#include "util/json.h"

struct joule_stats_params joule_stats_default_params(void)
{
    return (struct joule_stats_params){
        .alpha = 0.05, .bootstrap_reps = 2000, .ci_level = 0.95, .seed = 20241219};
}

void joule_stats_analysis_free(struct joule_stats_analysis *a)
{
    if (!a) return;
    if (a->names)
        for (size_t i = 0; i < a->k; i++)
            free(a->names[i]);
    free(a->names);
    free(a->describe);
    free(a->shapiro);
    free(a->ci_lo);
    free(a->ci_hi);
    free(a->games_howell);
    free(a->dunn);
    free(a->pair_p);
    memset(a, 0, sizeof *a);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

enum joule_status joule_stats_analyze(const struct joule_stats_group *g, size_t k,
                                      const struct joule_stats_params *params,
                                      struct joule_stats_analysis *out)
{
    struct joule_stats_params def = joule_stats_default_params();
    if (!params) params = &def;
    if (!out) return joule_errorf(JOULE_ERR_INVALID_ARG, "analyze: no output");
    memset(out, 0, sizeof *out);
    if (!g || k < 2) return joule_errorf(JOULE_ERR_INVALID_ARG, "analyze: needs at least 2 groups");
    size_t m = k * (k - 1) / 2;
    out->k = k;
    out->npairs = m;
    out->names = calloc(k, sizeof *out->names);
    out->describe = calloc(k, sizeof *out->describe);
    out->shapiro = calloc(k, sizeof *out->shapiro);
    out->ci_lo = calloc(k, sizeof *out->ci_lo);
    out->ci_hi = calloc(k, sizeof *out->ci_hi);
    out->games_howell = calloc(m, sizeof *out->games_howell);
    out->dunn = calloc(m, sizeof *out->dunn);
    out->pair_p = calloc(m, sizeof *out->pair_p);
    if (!out->names || !out->describe || !out->shapiro || !out->ci_lo || !out->ci_hi ||
        !out->games_howell || !out->dunn || !out->pair_p) {
        joule_stats_analysis_free(out);
        return joule_errorf(JOULE_ERR_NOMEM, "analyze: out of memory");
    }
    enum joule_status st = JOULE_OK;
    for (size_t i = 0; i < k && !st; i++) {
        out->names[i] = dup_str(g[i].name ? g[i].name : "");
        if (!out->names[i]) st = joule_errorf(JOULE_ERR_NOMEM, "analyze: out of memory");
        if (!st) st = joule_stats_describe(g[i].x, g[i].n, &out->describe[i]);
        if (!st) st = joule_stats_shapiro(g[i].x, g[i].n, &out->shapiro[i]);
        out->ci_lo[i] = out->ci_hi[i] = NAN;
        if (!st && params->bootstrap_reps >= 2)
            st = joule_stats_bootstrap_median_ci(g[i].x, g[i].n, params->bootstrap_reps,
                                                 params->ci_level, params->seed + i, &out->ci_lo[i],
                                                 &out->ci_hi[i]);
    }
    if (!st) st = joule_stats_levene(g, k, JOULE_STATS_CENTER_MEAN, &out->levene_mean);
    if (!st) st = joule_stats_levene(g, k, JOULE_STATS_CENTER_MEDIAN, &out->levene_median);
    if (!st) st = joule_stats_welch_anova(g, k, &out->welch);
    if (!st) st = joule_stats_kruskal(g, k, &out->kruskal);
    if (!st) st = joule_stats_dunn(g, k, out->dunn);
    if (st) {
        joule_stats_analysis_free(out);
        return st;
    }
    out->eta2 = joule_stats_eta2(g, k);

    /* Decision: Welch + Games-Howell only when every group is normal by Shapiro-Wilk. */
    size_t bad = k, undefined = k;
    double pmin = INFINITY;
    size_t imin = 0;
    for (size_t i = 0; i < k; i++) {
        if (out->shapiro[i].undefined) {
            if (undefined == k) undefined = i;
            continue;
        }
        if (out->shapiro[i].p < pmin) {
            pmin = out->shapiro[i].p;
            imin = i;
        }
        if (out->shapiro[i].p < params->alpha && bad == k) bad = i;
    }
    if (undefined < k) {
        out->procedure = JOULE_STATS_NONPARAMETRIC;
        snprintf(out->reason, sizeof out->reason,
                 "Shapiro-Wilk is undefined for group '%s' (%s), so normality cannot be "
                 "assumed: Kruskal-Wallis + Dunn",
                 out->names[undefined], out->shapiro[undefined].undefined);
    } else if (bad < k) {
        out->procedure = JOULE_STATS_NONPARAMETRIC;
        snprintf(out->reason, sizeof out->reason,
                 "group '%s' is not normal by Shapiro-Wilk (W = %.4g, p = %.3g < %g): "
                 "Kruskal-Wallis + Dunn",
                 out->names[bad], out->shapiro[bad].w, out->shapiro[bad].p, params->alpha);
    } else {
        out->procedure = JOULE_STATS_PARAMETRIC;
        snprintf(out->reason, sizeof out->reason,
                 "all %zu groups are normal by Shapiro-Wilk at alpha %g (smallest p = %.3g, "
                 "group '%s'): Welch ANOVA + Games-Howell",
                 k, params->alpha, pmin, out->names[imin]);
    }
    /* Games-Howell is part of the output whichever procedure applies. */
    st = joule_stats_games_howell(g, k, out->games_howell);
    if (st) {
        joule_stats_analysis_free(out);
        return st;
    }
    int par = out->procedure == JOULE_STATS_PARAMETRIC;
    out->omnibus_p = par ? out->welch.p : out->kruskal.p;
    for (size_t i = 0; i < m; i++)
        out->pair_p[i] = par ? out->games_howell[i].p : out->dunn[i].p_holm;
    return JOULE_OK;
}

/* ---- JSON ------------------------------------------------------------------------------ */

cJSON *joule_stats_json_num(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static void add_num(cJSON *o, const char *key, double v)
{
    cJSON_AddItemToObject(o, key, joule_stats_json_num(v));
}

static cJSON *ftest_json(const struct joule_stats_ftest *f, const char *statname)
{
    cJSON *o = cJSON_CreateObject();
    add_num(o, statname, f->statistic);
    add_num(o, "df1", f->df1);
    add_num(o, "df2", f->df2);
    add_num(o, "p", f->p);
    if (f->undefined) cJSON_AddStringToObject(o, "reason", f->undefined);
    return o;
}

cJSON *joule_stats_analysis_to_cjson(const struct joule_stats_analysis *a)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON *desc = cJSON_AddObjectToObject(root, "describe");
    cJSON *sh = cJSON_AddObjectToObject(root, "shapiro");
    for (size_t i = 0; i < a->k; i++) {
        const struct joule_stats_describe *d = &a->describe[i];
        cJSON *o = cJSON_AddObjectToObject(desc, a->names[i]);
        add_num(o, "n", (double)d->n);
        add_num(o, "mean", d->mean);
        add_num(o, "sd", d->sd);
        add_num(o, "median", d->median);
        add_num(o, "q1", d->q1);
        add_num(o, "q3", d->q3);
        add_num(o, "min", d->min);
        add_num(o, "max", d->max);
        if (isfinite(a->ci_lo[i])) {
            cJSON *ci = cJSON_AddArrayToObject(o, "median_ci");
            cJSON_AddItemToArray(ci, cJSON_CreateNumber(a->ci_lo[i]));
            cJSON_AddItemToArray(ci, cJSON_CreateNumber(a->ci_hi[i]));
        }
        cJSON *s = cJSON_AddObjectToObject(sh, a->names[i]);
        add_num(s, "W", a->shapiro[i].w);
        add_num(s, "p", a->shapiro[i].p);
        if (a->shapiro[i].undefined) cJSON_AddStringToObject(s, "reason", a->shapiro[i].undefined);
    }
    cJSON_AddItemToObject(root, "levene_mean", ftest_json(&a->levene_mean, "statistic"));
    cJSON_AddItemToObject(root, "levene_median", ftest_json(&a->levene_median, "statistic"));
    cJSON *w = ftest_json(&a->welch, "F");
    add_num(w, "eta2", a->eta2);
    cJSON_AddItemToObject(root, "welch_anova", w);
    cJSON *gh = cJSON_AddArrayToObject(root, "games_howell");
    for (size_t i = 0; i < a->npairs; i++) {
        const struct joule_stats_gh_pair *p = &a->games_howell[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "a", a->names[p->a]);
        cJSON_AddStringToObject(o, "b", a->names[p->b]);
        add_num(o, "diff", p->diff);
        add_num(o, "se", p->se);
        add_num(o, "t", p->t);
        add_num(o, "df", p->df);
        add_num(o, "q", p->q);
        add_num(o, "p", p->p);
        if (p->undefined) cJSON_AddStringToObject(o, "reason", p->undefined);
        cJSON_AddItemToArray(gh, o);
    }
    cJSON *kw = cJSON_AddObjectToObject(root, "kruskal");
    add_num(kw, "H", a->kruskal.h);
    add_num(kw, "df", a->kruskal.df);
    add_num(kw, "p", a->kruskal.p);
    add_num(kw, "tie_correction", a->kruskal.tie_correction);
    add_num(kw, "epsilon2", a->kruskal.epsilon2);
    add_num(kw, "eta2", a->kruskal.eta2);
    if (a->kruskal.undefined) cJSON_AddStringToObject(kw, "reason", a->kruskal.undefined);
    cJSON *dn = cJSON_AddArrayToObject(root, "dunn");
    for (size_t i = 0; i < a->npairs; i++) {
        const struct joule_stats_dunn_pair *p = &a->dunn[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "a", a->names[p->a]);
        cJSON_AddStringToObject(o, "b", a->names[p->b]);
        add_num(o, "mean_rank_a", p->mean_rank_a);
        add_num(o, "mean_rank_b", p->mean_rank_b);
        add_num(o, "z", p->z);
        add_num(o, "p", p->p);
        add_num(o, "p_bonferroni", p->p_bonferroni);
        add_num(o, "p_holm", p->p_holm);
        if (p->undefined) cJSON_AddStringToObject(o, "reason", p->undefined);
        cJSON_AddItemToArray(dn, o);
    }
    cJSON *sv = cJSON_AddArrayToObject(root, "savings");
    for (size_t i = 0; i < a->k; i++)
        for (size_t j = 0; j < a->k; j++) {
            if (i == j) continue;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "a", a->names[i]);
            cJSON_AddStringToObject(o, "b", a->names[j]);
            add_num(o, "median_savings_pct",
                    joule_stats_savings_pct(a->describe[i].median, a->describe[j].median));
            add_num(o, "mean_savings_pct",
                    joule_stats_savings_pct(a->describe[i].mean, a->describe[j].mean));
            cJSON_AddItemToArray(sv, o);
        }
    cJSON *dec = cJSON_AddObjectToObject(root, "decision");
    cJSON_AddStringToObject(dec, "procedure",
                            a->procedure == JOULE_STATS_PARAMETRIC ? "welch_anova+games_howell"
                                                                   : "kruskal+dunn");
    cJSON_AddStringToObject(dec, "reason", a->reason);
    add_num(dec, "omnibus_p", a->omnibus_p);
    return root;
}

char *joule_stats_analysis_json(const struct joule_stats_analysis *a, int pretty)
{
    if (!a) return NULL;
    cJSON *root = joule_stats_analysis_to_cjson(a);
    if (!root) return NULL;
    char *s = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s; /* cJSON allocates with malloc by default, so free() releases it */
}

/* ---- input ----------------------------------------------------------------------------- */

#define MAX_GROUPS 1000
#define MAX_VALUES 10000000

void joule_stats_groups_free(struct joule_stats_group *g, size_t k)
{
    if (!g) return;
    for (size_t i = 0; i < k; i++) {
        free((char *)g[i].name);
        free((double *)g[i].x);
    }
    free(g);
}

enum joule_status joule_stats_parse_groups(const char *json, size_t len,
                                           struct joule_stats_group **out_groups, size_t *out_k)
{
    if (!json || !out_groups || !out_k) return joule_errorf(JOULE_ERR_INVALID_ARG, "no input");
    *out_groups = NULL;
    *out_k = 0;
    if (joule_json_has_nul_escape(json, len)) /* cJSON would cut the group name at the NUL */
        return joule_errorf(JOULE_ERR_FORMAT, "stats input: a group name holds \\u0000 (NUL)");
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return joule_errorf(JOULE_ERR_FORMAT, "stats input is not valid JSON");
    enum joule_status st = JOULE_OK;
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(root, "groups");
    struct joule_stats_group *g = NULL;
    size_t k = 0, total = 0;
    if (!cJSON_IsObject(groups)) {
        st = joule_errorf(JOULE_ERR_FORMAT, "stats input needs an object \"groups\"");
        goto out;
    }
    size_t count = (size_t)cJSON_GetArraySize(groups);
    if (count < 2) {
        st = joule_errorf(JOULE_ERR_FORMAT, "stats input needs at least 2 groups (got %zu)", count);
        goto out;
    }
    if (count > MAX_GROUPS) {
        st = joule_errorf(JOULE_ERR_LIMIT, "stats input has more than %d groups", MAX_GROUPS);
        goto out;
    }
    g = calloc(count, sizeof *g);
    if (!g) {
        st = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (const cJSON *it = groups->child; it; it = it->next) {
        const char *name = it->string ? it->string : "";
        for (size_t i = 0; i < k; i++)
            if (!strcmp(g[i].name, name)) {
                st = joule_errorf(JOULE_ERR_FORMAT, "group '%s' appears twice", name);
                goto out;
            }
        if (!cJSON_IsArray(it)) {
            st = joule_errorf(JOULE_ERR_FORMAT, "group '%s' is not an array of numbers", name);
            goto out;
        }
        size_t n = (size_t)cJSON_GetArraySize(it);
        if (n == 0) {
            st = joule_errorf(JOULE_ERR_FORMAT, "group '%s' is empty", name);
            goto out;
        }
        total += n;
        if (total > MAX_VALUES) {
            st = joule_errorf(JOULE_ERR_LIMIT, "stats input has more than %d values", MAX_VALUES);
            goto out;
        }
        g[k].name = dup_str(name);
        double *x = malloc(n * sizeof *x);
        g[k].x = x;
        g[k].n = n;
        k++;
        if (!g[k - 1].name || !x) {
            st = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
            goto out;
        }
        size_t j = 0;
        for (const cJSON *v = it->child; v; v = v->next, j++) {
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
                st = joule_errorf(JOULE_ERR_FORMAT, "group '%s' value %zu is not a finite number",
                                  name, j);
                goto out;
            }
            if (fabs(v->valuedouble) > JOULE_STATS_MAX_ABS) {
                st = joule_errorf(JOULE_ERR_UNSUPPORTED,
                                  "group '%s' value %zu is beyond ±1e150 (squares would overflow)",
                                  name, j);
                goto out;
            }
            x[j] = v->valuedouble;
        }
    }
out:
    cJSON_Delete(root);
    if (st) {
        joule_stats_groups_free(g, k);
        return st;
    }
    *out_groups = g;
    *out_k = k;
    return JOULE_OK;
}
