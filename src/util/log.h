/* Logging to stderr with a level threshold (JOULE_LOG=debug|info|warn|error). */
#ifndef JOULE_UTIL_LOG_H
#define JOULE_UTIL_LOG_H

enum joule_log_level {
    JOULE_LOG_DEBUG = 0,
    JOULE_LOG_INFO = 1,
    JOULE_LOG_WARN = 2,
    JOULE_LOG_ERROR = 3,
    JOULE_LOG_QUIET = 4,
};

void joule_log_set_level(enum joule_log_level level);
enum joule_log_level joule_log_get_level(void);
void joule_log(enum joule_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define JOULE_DEBUG(...) joule_log(JOULE_LOG_DEBUG, __VA_ARGS__)
#define JOULE_INFO(...) joule_log(JOULE_LOG_INFO, __VA_ARGS__)
#define JOULE_WARN(...) joule_log(JOULE_LOG_WARN, __VA_ARGS__)
#define JOULE_ERROR(...) joule_log(JOULE_LOG_ERROR, __VA_ARGS__)

#endif
