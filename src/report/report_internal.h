/* The report's in-memory form, shared by its builder and writers (internal). */
#ifndef JOULE_REPORT_INTERNAL_H
#define JOULE_REPORT_INTERNAL_H

#include "joule/report.h"
#include "joule/stats.h"

#include <stddef.h>

/* Most serving configurations a report holds (the builder refuses more; writers size their
 * per-configuration arrays with it). */
#define REPORT_MAX_CONFS 64

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

/* ---- writing (write.c, table.c, plots.c) ---------------------------------------------- */

struct joule_strbuf;

/* A table of strings; row 0 is the header. */
struct tbl {
    size_t nr, nc;
    char **c; /* nr × nc cells, row 0 is the header */
    char caption[256];
};

int report_tbl_init(struct tbl *t, size_t nr, size_t nc, const char *caption); /* -1: no memory */
void report_tbl_set(struct tbl *t, size_t r, size_t c, const char *s);
const char *report_tbl_get(const struct tbl *t, size_t r, size_t c); /* "" when unset */
void report_tbl_free(struct tbl *t);
void report_tbl_md(const struct tbl *t, struct joule_strbuf *b);
void report_tbl_csv(const struct tbl *t, struct joule_strbuf *b);
void report_tbl_tex(const struct tbl *t, struct joule_strbuf *b);
void report_tbl_html(const struct tbl *t, struct joule_strbuf *b);
/* path from data via a temporary and rename(), without an fsync (reports are regenerated) */
enum joule_status report_write_file(const char *path, const char *data, size_t len);
/* DIR/NAME from b (an out-of-memory buffer is an error), likewise */
enum joule_status report_write_buf(const char *dir, const char *name, struct joule_strbuf *b);
/* DIR/tables/NAME.md, .csv and (unless no_tex) .tex */
enum joule_status report_tbl_write(const struct tbl *t, const char *dir, const char *name,
                                   int no_tex);

/* The colour of model i in the plots and stats.json. */
const char *report_model_color(size_t i);
/* The SVG box plot of metric mt (without the XML declaration). */
void report_svg_boxplot(const struct joule_report *r, int mt, struct joule_strbuf *b);
/* A sorted copy of a cell's values (caller frees; NULL when empty or out of memory). */
double *report_cell_sorted(const struct rcell *c);

#endif
