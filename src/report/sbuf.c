/* HTML/XML escaping onto the project's string builder, for the report writers. */
#include "report/sbuf.h"

#include <string.h>

/* The entity of a character that markup reserves, or NULL. */
static const char *entity(char c)
{
    switch (c) {
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '&':
        return "&amp;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

void joule_strbuf_html(struct joule_strbuf *b, const char *s)
{
    while (*s) {
        size_t n = strcspn(s, "<>&\"'"); /* a run that needs no escaping, appended at once */
        joule_strbuf_append(b, s, n);
        s += n;
        if (*s) joule_strbuf_puts(b, entity(*s++));
    }
}
