/* HTML/XML escaping onto the project's string builder, for the report writers. */
#include "report/sbuf.h"

void joule_strbuf_html(struct joule_strbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            joule_strbuf_puts(b, "&lt;");
            break;
        case '>':
            joule_strbuf_puts(b, "&gt;");
            break;
        case '&':
            joule_strbuf_puts(b, "&amp;");
            break;
        case '"':
            joule_strbuf_puts(b, "&quot;");
            break;
        case '\'':
            joule_strbuf_puts(b, "&#39;");
            break;
        default: {
            char c[2] = {*s, 0};
            joule_strbuf_puts(b, c);
        }
        }
    }
}
