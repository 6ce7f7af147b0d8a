/* The report's SVG box plots: one per metric, a box per model and configuration
 * (median, quartiles, 1.5 IQR whiskers, outliers), one colour per model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_internal.h"
#include "report/sbuf.h"
#include "stats/stats_internal.h"

static const char *const g_palette[] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#e7ba52", "#637939", "#843c39", "#7b4173", "#3182bd"};
#define NPALETTE (sizeof g_palette / sizeof g_palette[0])

const char *report_model_color(size_t i)
{
    return g_palette[i % NPALETTE];
}

struct yscale {
    int log;
    double lo, hi; /* in data units (log: positive) */
    double py0, py1;
};

static double ymap(const struct yscale *s, double v)
{
    double a = s->log ? log10(s->lo) : s->lo, b = s->log ? log10(s->hi) : s->hi;
    double x = s->log ? log10(v) : v;
    if (b == a) return 0.5 * (s->py0 + s->py1);
    return s->py1 - (x - a) / (b - a) * (s->py1 - s->py0);
}

void report_svg_boxplot(const struct joule_report *r, int mt, struct joule_strbuf *b)
{
    size_t nm = r->nmodels, ncf = r->nconfs;
    double slot = nm * 12.0 + 16.0;
    if (slot < 70.0) slot = 70.0;
    double x0 = 80.0, plot_w = slot * (double)ncf;
    double width = x0 + plot_w + 20.0;
    /* narrow plots for few configurations, so that the page shows them side by side; the
     * legend takes up to 3 columns of 290 px, as many as the width holds */
    if (width < 440.0) width = 440.0;
    size_t legend_cols = (size_t)((width - x0) / 290.0);
    if (legend_cols < 1) legend_cols = 1;
    if (legend_cols > 3) legend_cols = 3;
    size_t legend_rows = (nm + legend_cols - 1) / legend_cols;
    double y0 = 30.0, y1 = 330.0, height = y1 + 60.0 + 18.0 * (double)legend_rows;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t m = 0; m < nm; m++)
        for (size_t c = 0; c < ncf; c++) {
            const struct rcell *cell = report_cell(r, mt, m, c);
            for (size_t i = 0; i < cell->n; i++) {
                if (cell->v[i] < lo) lo = cell->v[i];
                if (cell->v[i] > hi) hi = cell->v[i];
            }
        }
    struct yscale ys = {0, lo, hi, y0, y1};
    /* log scale only where the decades are representable (10^floor .. 10^ceil finite, > 0) */
    if (lo >= 1e-300 && hi <= 1e300 && hi / lo > 50.0) {
        ys.log = 1;
        ys.lo = pow(10.0, floor(log10(lo)));
        ys.hi = pow(10.0, ceil(log10(hi)));
    } else {
        double span = hi - lo;
        if (!(span > 0)) span = fabs(hi) > 0 ? fabs(hi) * 0.1 : 1.0;
        ys.lo = lo - 0.05 * span;
        ys.hi = hi + 0.05 * span;
        if (lo >= 0 && ys.lo < 0) ys.lo = 0;
    }
    joule_strbuf_printf(
        b,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"boxplot\" width=\"%.0f\" "
        "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
        "font-size=\"11\">\n",
        width, height, width, height);
    joule_strbuf_printf(b,
                        "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
                        width, height);
    joule_strbuf_puts(b, "<text x=\"10\" y=\"18\" font-size=\"14\" font-weight=\"bold\">");
    joule_strbuf_html(b, joule_report_metric_label(mt));
    joule_strbuf_printf(b, "%s%s</text>\n", ys.log ? " (log scale)" : "",
                        r->estimated[mt] ? " (estimated: no energy counter)" : "");
    /* axes and ticks */
    joule_strbuf_printf(b,
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n"
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n",
                        x0, y0, x0, y1, x0, y1, x0 + plot_w, y1);
    if (ys.log) {
        for (double t = ys.lo; t <= ys.hi * 1.0001 && t > 0 && isfinite(t); t *= 10.0) {
            double y = ymap(&ys, t);
            joule_strbuf_printf(
                b,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                x0, y, x0 + plot_w, y, x0 - 4, y + 4, t);
        }
    } else {
        double span = ys.hi - ys.lo, step = pow(10.0, floor(log10(span / 5.0)));
        if (span / step > 10) step *= 2;
        if (span / step > 10) step *= 2.5;
        /* at most a few dozen ticks: with extreme values the step can be below the values'
         * precision (t += step would not move) or not finite */
        int ticks = 0;
        for (double t = ceil(ys.lo / step) * step; t <= ys.hi + 1e-9 * span && ticks < 50;
             t += step, ticks++) {
            double y = ymap(&ys, t);
            joule_strbuf_printf(
                b,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                x0, y, x0 + plot_w, y, x0 - 4, y + 4, fabs(t) < 1e-12 * span ? 0.0 : t);
        }
    }
    /* one slot per configuration, one box per model in it */
    double bw = (slot - 16.0) / (double)(nm ? nm : 1);
    for (size_t c = 0; c < ncf; c++) {
        double sx = x0 + slot * (double)c;
        joule_strbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", sx + slot / 2,
                            y1 + 16);
        joule_strbuf_html(b, r->confs[c].name);
        joule_strbuf_puts(b, "</text>\n");
        if (c)
            joule_strbuf_printf(
                b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", sx,
                y0, sx, y1);
        for (size_t m = 0; m < nm; m++) {
            const struct rcell *cell = report_cell(r, mt, m, c);
            double *v = report_cell_sorted(cell);
            if (!v) continue;
            size_t n = cell->n;
            double q1 = joule_stats_quantile_sorted(v, n, 0.25),
                   med = joule_stats_quantile_sorted(v, n, 0.5),
                   q3 = joule_stats_quantile_sorted(v, n, 0.75), iqr = q3 - q1;
            double wlo = q1, whi = q3;
            for (size_t i = 0; i < n; i++)
                if (v[i] >= q1 - 1.5 * iqr) {
                    wlo = v[i];
                    break;
                }
            for (size_t i = n; i-- > 0;)
                if (v[i] <= q3 + 1.5 * iqr) {
                    whi = v[i];
                    break;
                }
            double cx = sx + 8.0 + bw * ((double)m + 0.5), hw = bw * 0.38;
            const char *col = report_model_color(m);
            double yq1 = ymap(&ys, q1), yq3 = ymap(&ys, q3);
            double hbox = yq1 - yq3;
            if (hbox < 1.0) hbox = 1.0;
            /* the names come from the user's data: escaped, as everywhere in the markup */
            joule_strbuf_puts(b, "<g><title>");
            joule_strbuf_html(b, r->models[m].name);
            joule_strbuf_puts(b, ", ");
            joule_strbuf_html(b, r->confs[c].name);
            joule_strbuf_printf(
                b,
                ": median %.4g (n = %zu)</title>"
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
                "<rect class=\"box\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                "height=\"%.1f\" fill=\"%s\" stroke=\"#333\"/>"
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\" "
                "stroke-width=\"2\"/>",
                med, n, cx, ymap(&ys, wlo), cx, ymap(&ys, whi), cx - hw, yq3, 2 * hw, hbox, col,
                cx - hw, ymap(&ys, med), cx + hw, ymap(&ys, med));
            for (size_t i = 0; i < n; i++)
                if (v[i] < wlo || v[i] > whi)
                    joule_strbuf_printf(b,
                                        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"none\" "
                                        "stroke=\"%s\"/>",
                                        cx, ymap(&ys, v[i]), col);
            joule_strbuf_puts(b, "</g>\n");
            free(v);
        }
    }
    /* legend: one colour per model */
    for (size_t m = 0; m < nm; m++) {
        double lx = x0 + 290.0 * (double)(m % legend_cols),
               ly = y1 + 40.0 + 18.0 * (double)(m / legend_cols);
        joule_strbuf_printf(
            b,
            "<rect class=\"legend\" x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" "
            "fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">",
            lx, ly - 10, report_model_color(m), lx + 16, ly);
        joule_strbuf_html(b, r->models[m].name);
        joule_strbuf_printf(b, " (%s)</text>\n", joule_report_cat_names[r->models[m].cat]);
    }
    joule_strbuf_puts(b, "</svg>\n");
}
