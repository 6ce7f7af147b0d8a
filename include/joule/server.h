/* joule — HTTP serving of one model (libmicrohttpd).
 *
 * Routes: POST /v1/completions (OpenAI-compatible, with server-sent events),
 * the seed study's POST /huggingface_models/{model}/{engine} and
 * POST /load_model/{engine}/{model}, GET /health, GET /v1/models and
 * GET /metrics (Prometheus text format).
 *
 * Connections are served by libmicrohttpd's threads (one per connection).
 * An engine handle is single-threaded, so requests take the engine one at a
 * time from a bounded FIFO queue consumed by one engine worker thread; when the
 * engine is idle and nobody waits, a non-streamed request runs on its own
 * connection thread instead (no hand-off). A full queue answers 503 with
 * Retry-After. */
#ifndef JOULE_SERVER_H
#define JOULE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "joule/engine.h"
#include "joule/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct joule_server; /* opaque */

/* Per-request energy attribution (e.g. from the sensors module). The engine
 * runs one request at a time, so the energy of a source between the start and
 * the end of a request's engine work is that request's energy. */
struct joule_server_energy {
    size_t n_sources;
    const char *const *source_names; /* [n_sources], e.g. "rapl:package-0"; owned by the caller */
    /* Fill out_j[n_sources] with the joules each source used between the
     * monotonic times t0_ns and t1_ns (joule_now_ns clock). Called on the engine
     * worker thread after each request; a failure leaves `energy` out of that
     * response. Must be thread-safe with respect to the caller's own use. */
    enum joule_status (*energy_between)(void *user, int64_t t0_ns, int64_t t1_ns, double *out_j);
    void *user;
};

struct joule_server_params {
    const char *host;    /* address to listen on (default "127.0.0.1"); "0.0.0.0" or "::" for all */
    int port;            /* default 8000; 0 = any free port (read it with joule_server_port) */
    const char *api_key; /* NULL = no authentication; else "Authorization: Bearer <key>" on
                            every route but /health */
    int max_queue;       /* requests waiting for the engine, beyond the one running (default 256) */
    int timeout_s;       /* per request, from arrival: in the queue -> 503; while generating ->
                            the text so far with finish_reason "timeout" (default 300; 0 = none) */
    size_t max_body_bytes;  /* request bodies above this get 413 (default 1 MiB) */
    const char *model_name; /* name the model is served under (default: the engine's model name) */
    const struct joule_server_energy
        *energy; /* NULL = no energy attribution; copied, the
                    pointed-to names and user must outlive the server */
};
struct joule_server_params joule_server_default_params(void);

/* Start serving `engine` (borrowed: it must outlive the server and is used
 * only by the server's worker thread until joule_server_stop returns).
 * Returns once the socket listens. *out is owned by the caller
 * (joule_server_stop then joule_server_free). */
enum joule_status joule_server_start(struct joule_engine *engine,
                                     const struct joule_server_params *params,
                                     struct joule_server **out);

/* The TCP port the server listens on (useful after port 0). */
int joule_server_port(const struct joule_server *s);

/* Graceful shutdown: stop accepting connections, answer new requests on open
 * connections with 503, finish every request already admitted (queued or
 * running, including streams), then stop the threads. Idempotent.
 * Safe to call from any thread but a server thread. */
void joule_server_stop(struct joule_server *s);

/* Stop (if not yet stopped) and release. NULL is a no-op. */
void joule_server_free(struct joule_server *s);

#ifdef __cplusplus
}
#endif
#endif
