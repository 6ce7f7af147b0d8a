/* A growable NUL-terminated byte buffer, with JSON string escaping: the one
 * string builder of the project (responses, reports, file headers). */
#include "util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void joule_strbuf_free(struct joule_strbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void joule_strbuf_reset(struct joule_strbuf *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->data) b->data[0] = '\0';
}

static int reserve(struct joule_strbuf *b, size_t extra)
{
    if (b->oom) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void joule_strbuf_append(struct joule_strbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void joule_strbuf_puts(struct joule_strbuf *b, const char *s)
{
    joule_strbuf_append(b, s, strlen(s));
}

void joule_strbuf_printf(struct joule_strbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        joule_strbuf_append(b, tmp, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        k = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        k = 4, min = 0x10000;
    else
        return 0;
    if (n < k) return 0;
    unsigned cp = c & (0xFF >> (k + 1));
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return k;
}

void joule_strbuf_json_str(struct joule_strbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (!reserve(b, n + 2)) return;
    joule_strbuf_append(b, "\"", 1);
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0; /* start of a run of bytes copied verbatim */
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        const char *esc = NULL;
        char ubuf[7];
        size_t k = 1;
        if (c >= 0x80) {
            k = utf8_len(u + i, n - i);
            if (k) {
                i += k;
                continue;
            }
            esc = "\xEF\xBF\xBD"; /* U+FFFD for an invalid byte */
            k = 1;
        } else if (c == '"') {
            esc = "\\\"";
        } else if (c == '\\') {
            esc = "\\\\";
        } else if (c == '\n') {
            esc = "\\n";
        } else if (c == '\r') {
            esc = "\\r";
        } else if (c == '\t') {
            esc = "\\t";
        } else if (c < 0x20 || c == 0x7F) {
            ubuf[0] = '\\', ubuf[1] = 'u', ubuf[2] = '0', ubuf[3] = '0';
            ubuf[4] = hex[c >> 4], ubuf[5] = hex[c & 15], ubuf[6] = '\0';
            esc = ubuf;
        } else {
            i++;
            continue;
        }
        joule_strbuf_append(b, s + run, i - run);
        joule_strbuf_puts(b, esc);
        i += k;
        run = i;
    }
    joule_strbuf_append(b, s + run, n - run);
    joule_strbuf_append(b, "\"", 1);
}
