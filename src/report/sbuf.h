/* HTML/XML escaping for the report writers (internal); the buffer itself is
 * util/strbuf.h. */
#ifndef JOULE_REPORT_SBUF_H
#define JOULE_REPORT_SBUF_H

#include "util/strbuf.h"

/* Append s escaped for HTML/XML text and attributes. */
void joule_strbuf_html(struct joule_strbuf *b, const char *s);

#endif
