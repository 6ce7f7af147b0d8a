/* Internals of the HTTP server (src/server/): the backend table the server
 * drives, request parsing, the string builder, the incremental detokenizer
 * and the metrics registry. */
#ifndef JOULE_SERVER_IMPL_H
#define JOULE_SERVER_IMPL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "joule/engine.h"
#include "joule/server.h"
#include "joule/status.h"
#include "util/strbuf.h"

/* ---- backend ------------------------------------------------------------- */

/* What the server needs from a model. The real one wraps a joule_engine
 * (server_engine.c); tests may substitute their own. */
struct joule_server_backend {
    void *user;
    const char *model_name;
    const char *engine;
    const char *provider;
    const char *arch;
    int n_ctx;
    int n_vocab;
    /* Text -> ids with the model's special tokens (add_special = 1); same
     * contract as joule_tokenizer_encode. Called from connection threads
     * concurrently: must be thread-safe. NULL when the model has no tokenizer. */
    enum joule_status (*encode)(void *user, const char *text, size_t len, int32_t *ids, size_t cap,
                                size_t *n_ids);
    /* Ids -> text skipping special tokens; contract of joule_tokenizer_decode.
     * Thread-safe. NULL when the model has no tokenizer. */
    enum joule_status (*decode)(void *user, const int32_t *ids, size_t n, char *out, size_t cap,
                                size_t *n_bytes);
    /* joule_engine_generate; called only from the engine worker thread. */
    enum joule_status (*generate)(void *user, const int32_t *prompt, size_t n_prompt,
                                  const struct joule_gen_params *p, struct joule_gen_result *out);
};

/* Start a server over `backend` (copied; its user pointer must outlive the server). */
enum joule_status joule_server_start_backend(const struct joule_server_backend *backend,
                                             const struct joule_server_params *params,
                                             struct joule_server **out);

/* ---- request parsing ------------------------------------------------------ */

/* An HTTP-level error in the OpenAI shape. */
struct joule_server_error {
    int http;         /* 400, 401, 404, ... */
    const char *type; /* "invalid_request_error", ... (static) */
    const char *code; /* static or NULL */
    char param[32];   /* "" = null */
    char message[256];
};

/* Fill *e: the OpenAI error type follows the HTTP status (401 authentication_error,
 * 404 not_found_error, 500 server_error, 503 service_unavailable_error, else
 * invalid_request_error); code and param may be NULL. */
void joule_server_set_error(struct joule_server_error *e, int http, const char *code,
                            const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void joule_server_error_vset(struct joule_server_error *e, int http, const char *code,
                             const char *param, const char *fmt, va_list ap);

#define JOULE_SERVER_MAX_STOP 16

struct joule_completion_request {
    char *model;  /* NULL when absent */
    char *prompt; /* text prompt (NUL-terminated, may contain NULs: prompt_len) */
    size_t prompt_len;
    int32_t *prompt_ids; /* token-id prompt; NULL for a text prompt */
    size_t n_prompt_ids;
    int max_tokens;     /* default 16 */
    double temperature; /* default 1.0; 0 = greedy */
    double top_p;       /* default 1.0 */
    int top_k;          /* extension (vLLM): default 0 = off */
    int has_seed;
    uint64_t seed;
    char *stop[JOULE_SERVER_MAX_STOP];
    size_t stop_len[JOULE_SERVER_MAX_STOP];
    size_t n_stop;
    int stream;
    int ignore_eos;       /* extension (vLLM) */
    int return_token_ids; /* extension (vLLM): token_ids and prompt_token_ids in the answer */
};

/* Parse a /v1/completions body. On failure fills *err (http 400) and returns
 * a negative status; *out is then empty. On success release with
 * joule_completion_request_free. Never crashes on any input (fuzzed). */
enum joule_status joule_completion_request_parse(const char *body, size_t len,
                                                 struct joule_completion_request *out,
                                                 struct joule_server_error *err);
void joule_completion_request_free(struct joule_completion_request *r);

/* Parse the study's {"input_text": "..."} body: *text is malloc'd (caller
 * frees). 422 when input_text is missing or not a string (as FastAPI does). */
enum joule_status joule_study_request_parse(const char *body, size_t len, char **text,
                                            size_t *text_len, struct joule_server_error *err);

/* ---- incremental detokenizer --------------------------------------------- */

/* Turns a growing id sequence into text deltas the way streaming servers do
 * (decode a short window of previous ids plus the new ones, emit the bytes
 * past the window's text, hold back a trailing U+FFFD that a later byte-level
 * token may complete). Text = the completion only; the window starts in the
 * prompt so word-initial spaces of SentencePiece models survive. */
struct joule_detok {
    const struct joule_server_backend *be;
    int32_t *ids;
    size_t n, cap;
    size_t prefix, read;      /* window [prefix, read) already emitted */
    struct joule_strbuf a, b; /* scratch */
};
enum joule_status joule_detok_init(struct joule_detok *d, const struct joule_server_backend *be,
                                   const int32_t *prompt, size_t n_prompt);
/* Append a token; append the newly final text (if any) to `out`. */
enum joule_status joule_detok_push(struct joule_detok *d, int32_t tok, struct joule_strbuf *out);
/* Flush whatever was held back. */
enum joule_status joule_detok_finish(struct joule_detok *d, struct joule_strbuf *out);
void joule_detok_free(struct joule_detok *d);
/* Append ids to the sequence without decoding (joule_detok_finish then decodes once). */
enum joule_status joule_detok_add(struct joule_detok *d, const int32_t *ids, size_t n);

/* Decode ids (skipping special tokens) into `out` (reset first). */
enum joule_status joule_server_decode(const struct joule_server_backend *be, const int32_t *ids,
                                      size_t n, struct joule_strbuf *out);

/* Where the earliest stop string starts in text[0..len) at or after `from`
 * (pass an offset that backs up by the longest stop minus one); -1 if none. */
long joule_stop_find(const struct joule_completion_request *r, const char *text, size_t len,
                     size_t from);
/* Length of the longest suffix of text that is a proper prefix of a stop
 * string (text that must not be streamed yet). */
size_t joule_stop_holdback(const struct joule_completion_request *r, const char *text, size_t len);

/* ---- metrics --------------------------------------------------------------- */

enum joule_route {
    JOULE_ROUTE_COMPLETIONS = 0,
    JOULE_ROUTE_HF_MODELS,
    JOULE_ROUTE_LOAD_MODEL,
    JOULE_ROUTE_HEALTH,
    JOULE_ROUTE_MODELS,
    JOULE_ROUTE_METRICS,
    JOULE_ROUTE_OTHER,
    JOULE_ROUTE_COUNT
};
const char *joule_route_name(enum joule_route r);
/* The route of a request path (as libmicrohttpd gives it: decoded, without the query). */
enum joule_route joule_route_match(const char *url);
/* Split "<prefix>a/b" (one optional trailing '/') into two non-empty segments without '/',
 * copied NUL-terminated into a[acap] and b[bcap]; 0 when the path has another shape or a
 * segment does not fit. */
int joule_route_segments(const char *url, const char *prefix, char *a, size_t acap, char *b,
                         size_t bcap);

#endif
