/* A table of strings and its four renderings (Markdown, CSV, LaTeX, HTML), and the
 * report's file writing (each file through a temporary and rename()). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_internal.h"
#include "report/sbuf.h"
#include "util/fileio.h"

int report_tbl_init(struct tbl *t, size_t nr, size_t nc, const char *caption)
{
    t->nr = nr;
    t->nc = nc;
    size_t cells = nr * nc;
    t->c = calloc(cells > 0 ? cells : 1, sizeof *t->c);
    snprintf(t->caption, sizeof t->caption, "%s", caption);
    return t->c ? 0 : -1;
}

void report_tbl_set(struct tbl *t, size_t r, size_t c, const char *s)
{
    size_t i = r * t->nc + c;
    free(t->c[i]);
    size_t n = strlen(s) + 1;
    t->c[i] = malloc(n);
    if (t->c[i]) memcpy(t->c[i], s, n);
}

const char *report_tbl_get(const struct tbl *t, size_t r, size_t c)
{
    const char *s = t->c[r * t->nc + c];
    return s ? s : "";
}

void report_tbl_free(struct tbl *t)
{
    for (size_t i = 0; i < t->nr * t->nc; i++)
        free(t->c[i]);
    free(t->c);
    t->c = NULL;
}

static void md_cell(struct joule_strbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            joule_strbuf_puts(b, "\\|");
        else
            joule_strbuf_printf(b, "%c", *s);
    }
}

void report_tbl_md(const struct tbl *t, struct joule_strbuf *b)
{
    joule_strbuf_printf(b, "**%s**\n\n", t->caption);
    for (size_t r = 0; r < t->nr; r++) {
        joule_strbuf_puts(b, "|");
        for (size_t c = 0; c < t->nc; c++) {
            joule_strbuf_puts(b, " ");
            md_cell(b, report_tbl_get(t, r, c));
            joule_strbuf_puts(b, " |");
        }
        joule_strbuf_puts(b, "\n");
        if (r == 0) {
            joule_strbuf_puts(b, "|");
            for (size_t c = 0; c < t->nc; c++)
                joule_strbuf_puts(b, c ? "---:|" : "---|");
            joule_strbuf_puts(b, "\n");
        }
    }
}

void report_tbl_csv(const struct tbl *t, struct joule_strbuf *b)
{
    for (size_t r = 0; r < t->nr; r++) {
        for (size_t c = 0; c < t->nc; c++) {
            const char *s = report_tbl_get(t, r, c);
            if (!strcmp(s, "–")) s = ""; /* undefined: empty field */
            if (c) joule_strbuf_puts(b, ",");
            if (strpbrk(s, ",\"\n")) {
                joule_strbuf_puts(b, "\"");
                for (; *s; s++)
                    joule_strbuf_printf(b, *s == '"' ? "\"\"" : "%c", *s);
                joule_strbuf_puts(b, "\"");
            } else {
                joule_strbuf_puts(b, s);
            }
        }
        joule_strbuf_puts(b, "\n");
    }
}

static void tex_escape(struct joule_strbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (strchr("&%$#_{}", *s))
            joule_strbuf_printf(b, "\\%c", *s);
        else if (*s == '~')
            joule_strbuf_puts(b, "\\textasciitilde{}");
        else if (*s == '^')
            joule_strbuf_puts(b, "\\textasciicircum{}");
        else if (*s == '\\')
            joule_strbuf_puts(b, "\\textbackslash{}");
        else if (ch == 0xE2 && (unsigned char)s[1] == 0x80 && (unsigned char)s[2] == 0x93) {
            joule_strbuf_puts(b, "--"); /* the en dash used for undefined cells */
            s += 2;
        } else
            joule_strbuf_printf(b, "%c", *s);
    }
}

void report_tbl_tex(const struct tbl *t, struct joule_strbuf *b)
{
    joule_strbuf_puts(b, "\\begin{table}[ht]\n\\centering\n\\caption{");
    tex_escape(b, t->caption);
    joule_strbuf_puts(b, "}\n\\begin{tabular}{l");
    for (size_t c = 1; c < t->nc; c++)
        joule_strbuf_puts(b, "r");
    joule_strbuf_puts(b, "}\n\\hline\n");
    for (size_t r = 0; r < t->nr; r++) {
        for (size_t c = 0; c < t->nc; c++) {
            if (c) joule_strbuf_puts(b, " & ");
            tex_escape(b, report_tbl_get(t, r, c));
        }
        joule_strbuf_puts(b, r == 0 ? " \\\\\n\\hline\n" : " \\\\\n");
    }
    joule_strbuf_puts(b, "\\hline\n\\end{tabular}\n\\end{table}\n");
}

void report_tbl_html(const struct tbl *t, struct joule_strbuf *b)
{
    joule_strbuf_puts(b, "<table>\n<caption>");
    joule_strbuf_html(b, t->caption);
    joule_strbuf_puts(b, "</caption>\n");
    for (size_t r = 0; r < t->nr; r++) {
        joule_strbuf_puts(b, "<tr>");
        for (size_t c = 0; c < t->nc; c++) {
            joule_strbuf_puts(b, r == 0 ? "<th>" : "<td>");
            joule_strbuf_html(b, report_tbl_get(t, r, c));
            joule_strbuf_puts(b, r == 0 ? "</th>" : "</td>");
        }
        joule_strbuf_puts(b, "</tr>\n");
    }
    joule_strbuf_puts(b, "</table>\n");
}

/* Write via a temporary file and rename() (readers never see half a file) but without the
 * fsync of joule_write_file_atomic: a report is regenerated at will, and ~100 fsyncs would cost
 * more than the whole analysis. */
enum joule_status report_write_file(const char *path, const char *data, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return joule_errorf(JOULE_ERR_IO, "cannot write %s", tmp);
    int bad = fwrite(data, 1, len, f) != len;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return joule_errorf(JOULE_ERR_IO, "cannot write %s", path);
    }
    return JOULE_OK;
}

enum joule_status report_write_buf(const char *dir, const char *name, struct joule_strbuf *b)
{
    char path[4096];
    if (b->oom) return joule_errorf(JOULE_ERR_NOMEM, "report: out of memory writing %s", name);
    enum joule_status st = joule_path_join(path, sizeof path, dir, name);
    if (!st) st = report_write_file(path, b->data ? b->data : "", b->len);
    return st;
}

/* tables/<name>.md, .csv and (unless no_tex) .tex */
enum joule_status report_tbl_write(const struct tbl *t, const char *dir, const char *name,
                                   int no_tex)
{
    char fn[512];
    struct joule_strbuf b = {0};
    enum joule_status st;
    report_tbl_md(t, &b);
    snprintf(fn, sizeof fn, "tables/%s.md", name);
    st = report_write_buf(dir, fn, &b);
    b.len = 0;
    if (!st) {
        report_tbl_csv(t, &b);
        snprintf(fn, sizeof fn, "tables/%s.csv", name);
        st = report_write_buf(dir, fn, &b);
        b.len = 0;
    }
    if (!st && !no_tex) {
        report_tbl_tex(t, &b);
        snprintf(fn, sizeof fn, "tables/%s.tex", name);
        st = report_write_buf(dir, fn, &b);
    }
    joule_strbuf_free(&b);
    return st;
}
