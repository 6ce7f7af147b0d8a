#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_level = -1;
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;

static int level_from_env(void)
{
    const char *e = getenv("JOULE_LOG");
    if (!e) return JOULE_LOG_WARN;
    if (!strcmp(e, "debug")) return JOULE_LOG_DEBUG;
    if (!strcmp(e, "info")) return JOULE_LOG_INFO;
    if (!strcmp(e, "error")) return JOULE_LOG_ERROR;
    if (!strcmp(e, "quiet")) return JOULE_LOG_QUIET;
    return JOULE_LOG_WARN;
}

void joule_log_set_level(enum joule_log_level level)
{
    g_level = (int)level;
}

enum joule_log_level joule_log_get_level(void)
{
    if (g_level < 0) g_level = level_from_env();
    return (enum joule_log_level)g_level;
}

void joule_log(enum joule_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warning", "error"};
    if ((int)level < (int)joule_log_get_level() || level >= JOULE_LOG_QUIET) return;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&g_log_lock);
    fprintf(stderr, "joule: %s: ", names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&g_log_lock);
    va_end(ap);
}
