/* The HTTP server's shared state (src/server/): the server, its connections, the
 * generation jobs of its queue and its metrics, shared by server.c (routes and
 * lifecycle over libmicrohttpd), jobs.c (the queue and the engine worker) and
 * metrics.c (the Prometheus registry). */
#ifndef JOULE_SERVER_STATE_H
#define JOULE_SERVER_STATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "server/server_impl.h"
#include "util/strbuf.h"

#define MAX_ENERGY_SOURCES 16
#define N_BUCKETS 17 /* latency histogram buckets (metrics.c) */
#define N_CODES 9    /* HTTP status codes counted (metrics.c) */

struct histogram {
    uint64_t bucket[N_BUCKETS + 1]; /* last = +Inf */
    double sum;
    uint64_t count;
};

struct metrics {
    pthread_mutex_t mu;
    uint64_t requests[JOULE_ROUTE_COUNT][N_CODES];
    struct histogram latency[JOULE_ROUTE_COUNT];
    struct histogram queue_wait;
    uint64_t prompt_tokens, generated_tokens;
    double prompt_s, decode_s;
    double energy_j[MAX_ENERGY_SOURCES];
};

enum job_state { JOB_QUEUED = 0, JOB_RUNNING, JOB_DONE };

struct job {
    struct joule_server *srv;
    enum joule_route route;
    struct joule_completion_request req; /* completions: options and stop strings */
    int32_t *prompt;
    size_t n_prompt;
    struct joule_gen_params gen;
    int incremental; /* detokenize on the worker (stream or stop strings) */
    int64_t t_arrive_ns, t_start_ns, t_end_ns, deadline_ns;

    /* shared with the connection thread, under srv->mu */
    enum job_state state;
    int cancelled; /* atomic: the client went away */
    int refs;
    pthread_cond_t cv;
    struct job *next;
    struct joule_strbuf text; /* completion text so far (incremental mode) */
    size_t text_safe;         /* bytes of `text` that are final */

    /* results, written by the worker before state = JOB_DONE */
    enum joule_status status;
    int http_err;
    char errmsg[256];
    int32_t *ids;
    size_t n_ids, cap_ids;
    const char *finish;
    int64_t prompt_ns, decode_ns;
    int has_energy;
    double energy_j[MAX_ENERGY_SOURCES];

    /* worker-private */
    int stop_hit;    /* a stop string ended the text */
    int detok_error; /* incremental decoding failed */
    struct joule_detok detok;
    struct joule_strbuf delta;
    size_t scan_from;

    /* stream writer (connection thread) */
    struct conn *cx; /* its connection, while the stream is written */
    size_t sent;
    int phase; /* 0 = text, 1 = final event written, 2 = end */
    struct joule_strbuf out;
    size_t out_off;
};

struct joule_server {
    struct joule_server_backend be;
    struct joule_server_params p;
    char *api_key;
    char *model_name;
    struct joule_server_energy energy;
    int has_energy;
    struct MHD_Daemon *mhd;
    int port;
    int64_t created_s;

    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* worker: a job arrived or stop */
    pthread_cond_t drain_cv; /* stop: a request finished */
    struct job *head, *tail;
    int queue_len;
    int running; /* the worker holds a job */
    int active;  /* requests between the first handler call and completion */
    int draining;
    int stop_worker;
    int stopped;
    uint64_t next_id;
    pthread_t worker;
    int worker_started;

    struct metrics m;
};

struct conn {
    struct joule_server *srv;
    enum joule_route route;
    int code;
    int64_t t0_ns;
    struct joule_strbuf body;
    int too_large;
    int responded;
    int accounted; /* counted in the metrics (see account()) */
};

/* ---- jobs.c: the queue and the engine worker ----------------------------- */

/* Drop a reference to a job (srv->mu held / not held); the last one frees it. */
void server_job_unref_locked(struct job *j);
void server_job_unref(struct job *j);
/* The engine worker thread: runs queued jobs in order until stop_worker. */
void *server_worker_main(void *arg);
/* Admit `j` and wait until it runs (streams) or is done. Returns 0, or an
 * HTTP status (503) with *e filled when it was refused or timed out. */
int server_job_submit_wait(struct joule_server *s, struct job *j, struct joule_server_error *e);

/* ---- metrics.c: the Prometheus registry ----------------------------------- */

/* Count a request once its whole answer is in the HTTP layer's hands (once). */
void server_account(struct joule_server *s, struct conn *cx);
/* Count a finished generation job. */
void server_metrics_job(struct joule_server *s, const struct job *j, enum joule_status st);
/* The text exposition format of every metric. */
void server_metrics_render(struct joule_server *s, struct joule_strbuf *b);

#endif
