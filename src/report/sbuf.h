/* A growable text buffer for the report writers (internal). */
#ifndef JOULE_REPORT_SBUF_H
#define JOULE_REPORT_SBUF_H

#include <stddef.h>

struct joule_rbuf {
    char *s;
    size_t len, cap;
    int oom; /* set once an allocation failed; later appends are ignored */
};

void joule_rbuf_printf(struct joule_rbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void joule_rbuf_puts(struct joule_rbuf *b, const char *s);
/* Append s escaped for HTML/XML text and attributes. */
void joule_rbuf_html(struct joule_rbuf *b, const char *s);
void joule_rbuf_free(struct joule_rbuf *b);

#endif
