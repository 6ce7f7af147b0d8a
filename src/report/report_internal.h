/* The report's in-memory form, shared by its builder and writers (internal). */
#ifndef JOULE_REPORT_INTERNAL_H
#define JOULE_REPORT_INTERNAL_H

#include "joule/report.h"
#include "joule/stats.h"

enum { CAT_SMALL = 0, CAT_MEDIUM, CAT_LARGE, CAT_UNKNOWN, CAT_COUNT };

struct rmodel {
    char *name;
    double params_m;
    int cat;
};

struct rconf {
    char *engine, *provider, *name; /* name = "engine/provider" */
};

struct rcell { /* values of one metric × model × configuration */
    double *v;
    size_t n, cap;
};

struct ranalysis { /* the procedure for one metric × model across its configurations */
    int ok;
    size_t nconf;
    size_t *conf; /* group i of `a` is configuration conf[i] */
    struct joule_stats_analysis a;
};

struct joule_report {
    struct joule_report_params params;
    char *title;
    size_t nmodels, nconfs, skipped, nrows;
    struct rmodel *models; /* sorted by size, then name */
    struct rconf *confs;   /* sorted by name */
    struct rcell *cells;   /* [metric][model][conf] */
    struct ranalysis *an;  /* [metric][model] */
    size_t nanalyses;
    size_t estimated[JOULE_REPORT_METRIC_COUNT]; /* rows whose value is modelled, per metric */
};

static inline struct rcell *report_cell(const struct joule_report *r, int metric, size_t model,
                                        size_t conf)
{
    return &r->cells[((size_t)metric * r->nmodels + model) * r->nconfs + conf];
}

static inline struct ranalysis *report_an(const struct joule_report *r, int metric, size_t model)
{
    return &r->an[(size_t)metric * r->nmodels + model];
}

extern const char *const joule_report_cat_names[CAT_COUNT];

#endif
