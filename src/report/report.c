/* Building the report: rows -> cells per metric × model × configuration -> one run of the
 * study's procedure per metric × model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_internal.h"

const char *const joule_report_cat_names[CAT_COUNT] = {"small", "medium", "large", "unknown"};

static const struct {
    const char *key, *label;
} g_metrics[JOULE_REPORT_METRIC_COUNT] = {
    {"energy_global_j", "Global energy (J)"},
    {"energy_cpu_j", "CPU energy (J)"},
    {"energy_gpu_j", "GPU energy (J)"},
    {"energy_wattmeter_j", "Wattmeter energy (J)"},
    {"execution_s", "Execution time (s)"},
    {"cpu_pct", "CPU usage (%)"},
    {"ram_pct", "RAM usage (%)"},
    {"gpu_util_pct", "GPU utilisation (%)"},
    {"gpu_mem_util_pct", "GPU memory utilisation (%)"},
    {"gpu_mem_used_mb", "GPU memory used (MB)"},
};

const char *joule_report_metric_key(enum joule_report_metric m)
{
    return (unsigned)m < JOULE_REPORT_METRIC_COUNT ? g_metrics[m].key : "unknown";
}

const char *joule_report_metric_label(enum joule_report_metric m)
{
    return (unsigned)m < JOULE_REPORT_METRIC_COUNT ? g_metrics[m].label : "unknown";
}

int joule_report_metric_from_key(const char *key)
{
    for (int i = 0; i < JOULE_REPORT_METRIC_COUNT; i++)
        if (key && !strcmp(key, g_metrics[i].key)) return i;
    return -1;
}

struct joule_report_params joule_report_default_params(void)
{
    return (struct joule_report_params){.alpha = 0.05,
                                        .small_max_m = 1000.0,
                                        .medium_max_m = 2000.0,
                                        .bootstrap_reps = 1000,
                                        .seed = 20241219,
                                        .title = "joule report"};
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void joule_report_free(struct joule_report *r)
{
    if (!r) return;
    if (r->an) {
        for (size_t i = 0; i < (size_t)JOULE_REPORT_METRIC_COUNT * r->nmodels; i++) {
            joule_stats_analysis_free(&r->an[i].a);
            free(r->an[i].conf);
        }
    }
    if (r->cells)
        for (size_t i = 0; i < (size_t)JOULE_REPORT_METRIC_COUNT * r->nmodels * r->nconfs; i++)
            free(r->cells[i].v);
    for (size_t i = 0; i < r->nmodels; i++)
        free(r->models[i].name);
    for (size_t i = 0; i < r->nconfs; i++) {
        free(r->confs[i].engine);
        free(r->confs[i].provider);
        free(r->confs[i].name);
    }
    free(r->models);
    free(r->confs);
    free(r->cells);
    free(r->an);
    free(r->title);
    free(r);
}

static int cmp_model(const void *a, const void *b)
{
    const struct rmodel *x = a, *y = b;
    double px = x->params_m > 0 ? x->params_m : INFINITY,
           py = y->params_m > 0 ? y->params_m : INFINITY;
    if (px != py) return px < py ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_conf(const void *a, const void *b)
{
    const struct rconf *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static size_t find_model(const struct joule_report *r, const char *name)
{
    for (size_t i = 0; i < r->nmodels; i++)
        if (!strcmp(r->models[i].name, name)) return i;
    return (size_t)-1;
}

static size_t find_conf(const struct joule_report *r, const char *engine, const char *provider)
{
    for (size_t i = 0; i < r->nconfs; i++)
        if (!strcmp(r->confs[i].engine, engine) && !strcmp(r->confs[i].provider, provider))
            return i;
    return (size_t)-1;
}

#define MAX_MODELS 256

static enum joule_status collect_keys(struct joule_report *r, const struct joule_report_row *rows,
                                      size_t n)
{
    r->models = calloc(MAX_MODELS, sizeof *r->models);
    r->confs = calloc(REPORT_MAX_CONFS, sizeof *r->confs);
    if (!r->models || !r->confs) return joule_errorf(JOULE_ERR_NOMEM, "report: out of memory");
    for (size_t i = 0; i < n; i++) {
        const struct joule_report_row *w = &rows[i];
        if (!w->model || !w->engine || !w->provider)
            return joule_errorf(JOULE_ERR_INVALID_ARG, "report: row %zu lacks a name", i);
        if ((unsigned)w->metric >= JOULE_REPORT_METRIC_COUNT)
            return joule_errorf(JOULE_ERR_INVALID_ARG, "report: row %zu has metric %d", i,
                                (int)w->metric);
        size_t m = find_model(r, w->model);
        if (m == (size_t)-1) {
            if (r->nmodels == MAX_MODELS)
                return joule_errorf(JOULE_ERR_LIMIT, "report: more than %d models", MAX_MODELS);
            struct rmodel *md = &r->models[r->nmodels++];
            md->name = xstrdup(w->model);
            if (!md->name) return joule_errorf(JOULE_ERR_NOMEM, "report: out of memory");
            md->params_m = w->params_m;
        } else if (r->models[m].params_m <= 0 && w->params_m > 0) {
            r->models[m].params_m = w->params_m;
        }
        if (find_conf(r, w->engine, w->provider) == (size_t)-1) {
            if (r->nconfs == REPORT_MAX_CONFS)
                return joule_errorf(JOULE_ERR_LIMIT, "report: more than %d configurations",
                                    REPORT_MAX_CONFS);
            struct rconf *c = &r->confs[r->nconfs++];
            c->engine = xstrdup(w->engine);
            c->provider = xstrdup(w->provider);
            size_t len = strlen(w->engine) + strlen(w->provider) + 2;
            c->name = malloc(len);
            if (!c->engine || !c->provider || !c->name)
                return joule_errorf(JOULE_ERR_NOMEM, "report: out of memory");
            snprintf(c->name, len, "%s/%s", w->engine, w->provider);
        }
    }
    qsort(r->models, r->nmodels, sizeof *r->models, cmp_model);
    qsort(r->confs, r->nconfs, sizeof *r->confs, cmp_conf);
    for (size_t i = 0; i < r->nmodels; i++) {
        double p = r->models[i].params_m;
        r->models[i].cat = p <= 0                       ? CAT_UNKNOWN
                           : p < r->params.small_max_m  ? CAT_SMALL
                           : p < r->params.medium_max_m ? CAT_MEDIUM
                                                        : CAT_LARGE;
    }
    return JOULE_OK;
}

static enum joule_status cell_push(struct rcell *c, double v)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        double *nv = realloc(c->v, cap * sizeof *nv);
        if (!nv) return joule_errorf(JOULE_ERR_NOMEM, "report: out of memory");
        c->v = nv;
        c->cap = cap;
    }
    c->v[c->n++] = v;
    return JOULE_OK;
}

enum joule_status joule_report_build(const struct joule_report_row *rows, size_t n,
                                     const struct joule_report_params *params,
                                     struct joule_report **out)
{
    if (!out || (!rows && n)) return joule_errorf(JOULE_ERR_INVALID_ARG, "report: no rows");
    *out = NULL;
    struct joule_report *r = calloc(1, sizeof *r);
    if (!r) return joule_errorf(JOULE_ERR_NOMEM, "report: out of memory");
    r->params = params ? *params : joule_report_default_params();
    if (!(r->params.alpha > 0 && r->params.alpha < 1)) r->params.alpha = 0.05;
    r->title = xstrdup(r->params.title ? r->params.title : "joule report");
    r->params.title = r->title;
    r->nrows = n;
    enum joule_status st = r->title ? collect_keys(r, rows, n)
                                    : joule_errorf(JOULE_ERR_NOMEM, "report: out of memory");
    if (!st && r->nmodels == 0) st = joule_errorf(JOULE_ERR_INVALID_ARG, "report: no rows");
    size_t ncell = (size_t)JOULE_REPORT_METRIC_COUNT * r->nmodels * r->nconfs;
    if (!st) {
        r->cells = calloc(ncell ? ncell : 1, sizeof *r->cells);
        r->an = calloc((size_t)JOULE_REPORT_METRIC_COUNT * r->nmodels, sizeof *r->an);
        if (!r->cells || !r->an) st = joule_errorf(JOULE_ERR_NOMEM, "report: out of memory");
    }
    for (size_t i = 0; i < n && !st; i++) {
        const struct joule_report_row *w = &rows[i];
        if (!isfinite(w->value)) {
            r->skipped++;
            continue;
        }
        if (w->estimated) r->estimated[w->metric]++;
        size_t m = find_model(r, w->model), c = find_conf(r, w->engine, w->provider);
        st = cell_push(report_cell(r, (int)w->metric, m, c), w->value);
    }
    /* the procedure per metric × model across the configurations that have values */
    struct joule_stats_params sp = joule_stats_default_params();
    sp.alpha = r->params.alpha;
    sp.bootstrap_reps = r->params.bootstrap_reps;
    sp.seed = r->params.seed;
    struct joule_stats_group *g = st ? NULL : calloc(r->nconfs ? r->nconfs : 1, sizeof *g);
    if (!st && !g) st = joule_errorf(JOULE_ERR_NOMEM, "report: out of memory");
    for (int mt = 0; mt < JOULE_REPORT_METRIC_COUNT && !st; mt++)
        for (size_t m = 0; m < r->nmodels && !st; m++) {
            struct ranalysis *a = report_an(r, mt, m);
            a->conf = calloc(r->nconfs ? r->nconfs : 1, sizeof *a->conf);
            if (!a->conf) {
                st = joule_errorf(JOULE_ERR_NOMEM, "report: out of memory");
                break;
            }
            size_t k = 0;
            for (size_t c = 0; c < r->nconfs; c++) {
                struct rcell *cell = report_cell(r, mt, m, c);
                if (cell->n == 0) continue;
                a->conf[k] = c;
                g[k] = (struct joule_stats_group){r->confs[c].name, cell->v, cell->n};
                k++;
            }
            a->nconf = k;
            if (k < 2) continue;
            st = joule_stats_analyze(g, k, &sp, &a->a);
            if (!st) {
                a->ok = 1;
                r->nanalyses++;
            }
        }
    free(g);
    if (st) {
        joule_report_free(r);
        return st;
    }
    *out = r;
    return JOULE_OK;
}

size_t joule_report_analysis_count(const struct joule_report *r)
{
    return r ? r->nanalyses : 0;
}

size_t joule_report_skipped_rows(const struct joule_report *r)
{
    return r ? r->skipped : 0;
}
