/* joule — status codes and error detail.
 *
 * Every fallible joule function returns an enum joule_status (negative =
 * failure).  A human-readable detail for the most recent failure on the
 * calling thread is available from joule_last_error(); it is set by the
 * function that failed and stays valid until the next failing call on the
 * same thread. */
#ifndef JOULE_STATUS_H
#define JOULE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

enum joule_status {
    JOULE_OK = 0,
    JOULE_ERR_INVALID_ARG = -1, /* caller passed something unusable */
    JOULE_ERR_IO = -2,          /* open/read/write/mmap failed */
    JOULE_ERR_FORMAT = -3,      /* input file or message is malformed */
    JOULE_ERR_UNSUPPORTED = -4, /* valid input that joule does not handle */
    JOULE_ERR_NOMEM = -5,       /* allocation failed or a size limit was hit */
    JOULE_ERR_NOT_FOUND = -6,   /* a named thing (tensor, file, route) is missing */
    JOULE_ERR_UNAVAILABLE = -7, /* hardware/provider/sensor not present here */
    JOULE_ERR_PERMISSION = -8,  /* access denied */
    JOULE_ERR_LIMIT = -9,       /* context length, queue or body limit reached */
    JOULE_ERR_TIMEOUT = -10,    /* an operation ran out of time */
    JOULE_ERR_INTERNAL = -11,   /* a bug: an invariant did not hold */
};

/* Static string naming the status ("ok", "invalid argument", ...). Never NULL. */
const char *joule_status_str(enum joule_status s);

/* Detail of the last failure on this thread ("" if none). Owned by joule. */
const char *joule_last_error(void);

/* Record a printf-style detail for the calling thread and return `s`, so that
 * failures read `return joule_errorf(JOULE_ERR_FORMAT, "bad header in %s", p);`. */
enum joule_status joule_errorf(enum joule_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clear the calling thread's error detail. */
void joule_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
