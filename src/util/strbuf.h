/* A growable byte buffer (internal). Zero-initialise; release with
 * joule_strbuf_free. After an allocation failure `oom` is set and later
 * appends are ignored, so callers check once at the end. */
#ifndef JOULE_UTIL_STRBUF_H
#define JOULE_UTIL_STRBUF_H

#include <stddef.h>

struct joule_strbuf {
    char *data; /* NUL-terminated when len > 0 or after any append */
    size_t len, cap;
    int oom; /* an allocation failed: content truncated */
};
void joule_strbuf_free(struct joule_strbuf *b);
void joule_strbuf_reset(struct joule_strbuf *b); /* keeps the allocation */
void joule_strbuf_append(struct joule_strbuf *b, const char *s, size_t n);
void joule_strbuf_puts(struct joule_strbuf *b, const char *s);
void joule_strbuf_printf(struct joule_strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append `n` bytes as a JSON string literal (quotes included). Invalid UTF-8
 * bytes become U+FFFD so the output is always valid JSON. */
void joule_strbuf_json_str(struct joule_strbuf *b, const char *s, size_t n);

#endif
