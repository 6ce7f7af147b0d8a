#include "joule/status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char g_last_error[1024];

const char *joule_status_str(enum joule_status s)
{
    switch (s) {
    case JOULE_OK:
        return "ok";
    case JOULE_ERR_INVALID_ARG:
        return "invalid argument";
    case JOULE_ERR_IO:
        return "i/o error";
    case JOULE_ERR_FORMAT:
        return "malformed input";
    case JOULE_ERR_UNSUPPORTED:
        return "unsupported";
    case JOULE_ERR_NOMEM:
        return "out of memory";
    case JOULE_ERR_NOT_FOUND:
        return "not found";
    case JOULE_ERR_UNAVAILABLE:
        return "unavailable";
    case JOULE_ERR_PERMISSION:
        return "permission denied";
    case JOULE_ERR_LIMIT:
        return "limit reached";
    case JOULE_ERR_TIMEOUT:
        return "timed out";
    case JOULE_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown status";
}

const char *joule_last_error(void)
{
    return g_last_error;
}

enum joule_status joule_errorf(enum joule_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_last_error, sizeof g_last_error, fmt, ap);
    va_end(ap);
    return s;
}

void joule_clear_error(void)
{
    g_last_error[0] = '\0';
}
