#include "report/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rbuf_reserve(struct joule_rbuf *b, size_t extra)
{
    if (b->oom) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void joule_rbuf_printf(struct joule_rbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        if (rbuf_reserve(b, (size_t)n)) return;
        memcpy(b->s + b->len, tmp, (size_t)n + 1);
        b->len += (size_t)n;
        return;
    }
    if (rbuf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void joule_rbuf_puts(struct joule_rbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (rbuf_reserve(b, n)) return;
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

void joule_rbuf_html(struct joule_rbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            joule_rbuf_puts(b, "&lt;");
            break;
        case '>':
            joule_rbuf_puts(b, "&gt;");
            break;
        case '&':
            joule_rbuf_puts(b, "&amp;");
            break;
        case '"':
            joule_rbuf_puts(b, "&quot;");
            break;
        case '\'':
            joule_rbuf_puts(b, "&#39;");
            break;
        default: {
            char c[2] = {*s, 0};
            joule_rbuf_puts(b, c);
        }
        }
    }
}

void joule_rbuf_free(struct joule_rbuf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
