/* A growable text buffer for the report writers (internal). */
#ifndef JOULE_REPORT_SBUF_H
#define JOULE_REPORT_SBUF_H

#include <stddef.h>

struct sbuf {
    char *s;
    size_t len, cap;
    int oom; /* set once an allocation failed; later appends are ignored */
};

void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_puts(struct sbuf *b, const char *s);
/* Append s escaped for HTML/XML text and attributes. */
void sbuf_html(struct sbuf *b, const char *s);
void sbuf_free(struct sbuf *b);

#endif
