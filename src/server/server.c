/* The HTTP server: routes over libmicrohttpd (a thread per connection), the
 * answers they write, and the server's start and stop.
 *
 * Life of a generation request: the connection thread parses and tokenizes
 * the body, admits a job to the queue (jobs.c; 503 when full) and waits; the
 * worker runs the engine; the connection thread writes the answer (for
 * streams, events as text becomes final). Nothing polls. Metrics: metrics.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/server_state.h"
#include "util/clock.h"
#include "util/log.h"

#define STUDY_MAX_LENGTH 128 /* the study's generate(max_length=128) */
#define RETRY_AFTER_S "1"

const char *joule_route_name(enum joule_route r)
{
    static const char *names[] = {"/v1/completions",
                                  "/huggingface_models",
                                  "/load_model",
                                  "/health",
                                  "/v1/models",
                                  "/metrics",
                                  "other"};
    return (unsigned)r < JOULE_ROUTE_COUNT ? names[r] : "other";
}

struct joule_server_params joule_server_default_params(void)
{
    struct joule_server_params p = {
        .host = "127.0.0.1",
        .port = 8000,
        .max_queue = 256,
        .timeout_s = 300,
        .max_body_bytes = 1u << 20,
    };
    return p;
}

/* ---- responses -------------------------------------------------------------- */

static enum MHD_Result send_buf(struct MHD_Connection *c, struct conn *cx, int code,
                                struct joule_strbuf *b, const char *ctype)
{
    if (b->oom) {
        joule_strbuf_free(b);
        return MHD_NO;
    }
    if (!b->data) joule_strbuf_append(b, "", 0);
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(b->len, b->data, free);
    if (!r) {
        joule_strbuf_free(b);
        return MHD_NO;
    }
    memset(b, 0, sizeof *b); /* ownership moved to the response */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (code == 503) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_S);
    if (code == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (code == 405) {
        const char *allow = (cx->route == JOULE_ROUTE_HEALTH || cx->route == JOULE_ROUTE_MODELS ||
                             cx->route == JOULE_ROUTE_METRICS)
                                ? "GET, HEAD"
                                : "POST";
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    }
    cx->code = code;
    cx->responded = 1;
    server_account(cx->srv, cx);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)code, r);
    MHD_destroy_response(r);
    return ret;
}

static void error_json(struct joule_strbuf *b, const struct joule_server_error *e)
{
    joule_strbuf_puts(b, "{\"error\":{\"message\":");
    joule_strbuf_json_str(b, e->message, strlen(e->message));
    joule_strbuf_puts(b, ",\"type\":");
    joule_strbuf_json_str(b, e->type, strlen(e->type));
    joule_strbuf_puts(b, ",\"param\":");
    if (e->param[0])
        joule_strbuf_json_str(b, e->param, strlen(e->param));
    else
        joule_strbuf_puts(b, "null");
    joule_strbuf_puts(b, ",\"code\":");
    if (e->code)
        joule_strbuf_json_str(b, e->code, strlen(e->code));
    else
        joule_strbuf_puts(b, "null");
    joule_strbuf_puts(b, "}}");
}

static enum MHD_Result send_error(struct MHD_Connection *c, struct conn *cx,
                                  const struct joule_server_error *e)
{
    struct joule_strbuf b = {0};
    error_json(&b, e);
    return send_buf(c, cx, e->http, &b, "application/json");
}

static enum MHD_Result fail(struct MHD_Connection *c, struct conn *cx, int http, const char *code,
                            const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static enum MHD_Result fail(struct MHD_Connection *c, struct conn *cx, int http, const char *code,
                            const char *param, const char *fmt, ...)
{
    struct joule_server_error e;
    va_list ap;
    va_start(ap, fmt);
    joule_server_error_vset(&e, http, code, param, fmt, ap);
    va_end(ap);
    return send_error(c, cx, &e);
}

/* ---- routes ---------------------------------------------------------------- */

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* Constant-time comparison (time depends on the key's length only). */
static int ct_equal(const char *given, size_t glen, const char *key, size_t klen)
{
    unsigned char diff = (unsigned char)(glen != klen);
    for (size_t i = 0; i < klen; i++)
        diff |= (unsigned char)((i < glen ? given[i] : 0) ^ key[i]);
    return diff == 0;
}

static int authorized(struct joule_server *s, struct MHD_Connection *c)
{
    if (!s->api_key) return 1;
    const char *h = header(c, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    while (*h == ' ')
        h++;
    return ct_equal(h, strlen(h), s->api_key, strlen(s->api_key));
}

int joule_route_segments(const char *url, const char *prefix, char *a, size_t acap, char *b,
                         size_t bcap)
{
    size_t pl = strlen(prefix);
    if (strncmp(url, prefix, pl) != 0) return 0;
    const char *p = url + pl;
    const char *slash = strchr(p, '/');
    if (!slash || slash == p) return 0;
    const char *q = slash + 1;
    size_t qn = strlen(q);
    if (qn && q[qn - 1] == '/') qn--;
    if (qn == 0 || memchr(q, '/', qn)) return 0;
    if ((size_t)(slash - p) >= acap || qn >= bcap) return 0;
    memcpy(a, p, (size_t)(slash - p));
    a[slash - p] = '\0';
    memcpy(b, q, qn);
    b[qn] = '\0';
    return 1;
}

enum joule_route joule_route_match(const char *url)
{
    char a[256], b[256];
    if (!strcmp(url, "/v1/completions")) return JOULE_ROUTE_COMPLETIONS;
    if (!strcmp(url, "/health")) return JOULE_ROUTE_HEALTH;
    if (!strcmp(url, "/v1/models")) return JOULE_ROUTE_MODELS;
    if (!strcmp(url, "/metrics")) return JOULE_ROUTE_METRICS;
    if (joule_route_segments(url, "/huggingface_models/", a, sizeof a, b, sizeof b))
        return JOULE_ROUTE_HF_MODELS;
    if (joule_route_segments(url, "/load_model/", a, sizeof a, b, sizeof b))
        return JOULE_ROUTE_LOAD_MODEL;
    return JOULE_ROUTE_OTHER;
}

static int route_is_get(enum joule_route r)
{
    return r == JOULE_ROUTE_HEALTH || r == JOULE_ROUTE_MODELS || r == JOULE_ROUTE_METRICS;
}

static void timestamp_iso(char *buf, unsigned cap)
{
    joule_format_iso8601(joule_wall_ns(), buf, cap);
}

static void study_envelope_open(struct joule_strbuf *b, struct MHD_Connection *c, const char *url)
{
    char ts[40];
    timestamp_iso(ts, sizeof ts);
    const char *host = header(c, MHD_HTTP_HEADER_HOST);
    joule_strbuf_puts(b,
                      "{\"message\":\"OK\",\"method\":\"POST\",\"status-code\":200,\"timestamp\":");
    joule_strbuf_json_str(b, ts, strlen(ts));
    joule_strbuf_puts(b, ",\"url\":");
    struct joule_strbuf u = {0};
    joule_strbuf_printf(&u, "http://%s%s", host ? host : "localhost", url);
    joule_strbuf_json_str(b, u.data ? u.data : "", u.len);
    joule_strbuf_free(&u);
    joule_strbuf_puts(b, ",\"data\":{");
}

/* Check {model} and {engine} path segments against what is served. */
static int check_model_engine(struct joule_server *s, struct MHD_Connection *c, struct conn *cx,
                              const char *model, const char *engine, enum MHD_Result *ret)
{
    if (strcmp(model, s->model_name) != 0) {
        *ret =
            fail(c, cx, 404, "model_not_found", "model",
                 "model '%s' is not served here (this server serves '%s')", model, s->model_name);
        return 0;
    }
    if (strcmp(engine, s->be.engine) != 0) {
        *ret = fail(c, cx, 404, "engine_not_found", "engine",
                    "engine '%s' is not served here (this server runs '%s')", engine, s->be.engine);
        return 0;
    }
    return 1;
}

static struct job *job_new(struct joule_server *s, enum joule_route route, int64_t t0)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    if (pthread_cond_init(&j->cv, NULL) != 0) {
        free(j);
        return NULL;
    }
    j->srv = s;
    j->route = route;
    j->t_arrive_ns = t0;
    j->deadline_ns = s->p.timeout_s > 0 ? t0 + (int64_t)s->p.timeout_s * 1000000000LL : 0;
    return j;
}

static void job_discard(struct job *j) /* never admitted */
{
    j->refs = 1;
    server_job_unref_locked(j);
}

/* Tokenize a text prompt into j->prompt; 0 or an HTTP status with *e. */
static int tokenize_prompt(struct joule_server *s, struct job *j, const char *text, size_t len,
                           const char *param, struct joule_server_error *e)
{
    if (!s->be.encode) {
        joule_server_set_error(e, 400, NULL, param, "this model has no tokenizer: send token ids");
        return 400;
    }
    size_t cap = (size_t)s->be.n_ctx + 1, n = 0;
    j->prompt = malloc(cap * sizeof *j->prompt);
    if (!j->prompt) {
        joule_server_set_error(e, 500, NULL, NULL, "out of memory");
        return 500;
    }
    if (s->be.encode(s->be.user, text, len, j->prompt, cap, &n) != JOULE_OK) {
        joule_server_set_error(e, 400, NULL, param, "the prompt could not be tokenized: %s",
                               joule_last_error());
        return 400;
    }
    j->n_prompt = n;
    return 0;
}

static int check_prompt(struct joule_server *s, struct job *j, const char *param,
                        struct joule_server_error *e)
{
    if (j->n_prompt == 0) {
        joule_server_set_error(e, 400, NULL, param, "the prompt has no tokens");
        return 400;
    }
    if (j->n_prompt >= (size_t)s->be.n_ctx) {
        joule_server_set_error(
            e, 422, "context_length_exceeded", param,
            "the prompt has %zu tokens; this model's context is %d tokens, which leaves "
            "no room to generate",
            j->n_prompt, s->be.n_ctx);
        return 422;
    }
    for (size_t i = 0; i < j->n_prompt; i++)
        if (j->prompt[i] < 0 || j->prompt[i] >= s->be.n_vocab) {
            joule_server_set_error(e, 400, NULL, param,
                                   "token id %d is outside the vocabulary (%d)", (int)j->prompt[i],
                                   s->be.n_vocab);
            return 400;
        }
    return 0;
}

static int alloc_ids(struct job *j, size_t cap, struct joule_server_error *e)
{
    j->cap_ids = cap ? cap : 1;
    j->ids = malloc(j->cap_ids * sizeof *j->ids);
    if (!j->ids) {
        joule_server_set_error(e, 500, NULL, NULL, "out of memory");
        return 500;
    }
    return 0;
}

static uint64_t fresh_seed(struct joule_server *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t n = ++s->next_id;
    pthread_mutex_unlock(&s->mu);
    return (uint64_t)joule_wall_ns() ^ (n * 0x9E3779B97F4A7C15ULL);
}

/* Decode the completion of a finished non-incremental job into `out`:
 * the same window as streaming, decoded once. */
static enum joule_status completion_text(struct joule_server *s, struct job *j,
                                         struct joule_strbuf *out)
{
    if (!s->be.decode) return JOULE_OK;
    struct joule_detok d;
    enum joule_status st = joule_detok_init(&d, &s->be, j->prompt, j->n_prompt);
    if (st == JOULE_OK) st = joule_detok_add(&d, j->ids, j->n_ids);
    if (st == JOULE_OK) st = joule_detok_finish(&d, out);
    joule_detok_free(&d);
    return st;
}

static void put_ids(struct joule_strbuf *b, const char *key, const int32_t *ids, size_t n)
{
    joule_strbuf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++)
        joule_strbuf_printf(b, i ? ",%d" : "%d", (int)ids[i]);
    joule_strbuf_puts(b, "]");
}

static void put_tail(struct joule_server *s, struct job *j, struct joule_strbuf *b)
{
    joule_strbuf_printf(b,
                        ",\"usage\":{\"prompt_tokens\":%zu,\"completion_tokens\":%zu,"
                        "\"total_tokens\":%zu},\"timings\":{\"queue_ms\":%.3f,\"prompt_ms\":%.3f,"
                        "\"decode_ms\":%.3f}",
                        j->n_prompt, j->n_ids, j->n_prompt + j->n_ids,
                        (double)(j->t_start_ns - j->t_arrive_ns) * 1e-6,
                        (double)j->prompt_ns * 1e-6, (double)j->decode_ns * 1e-6);
    if (j->has_energy) {
        joule_strbuf_puts(b, ",\"energy\":{");
        for (size_t i = 0; i < s->energy.n_sources; i++) {
            const char *nm = s->energy.source_names[i];
            if (i) joule_strbuf_puts(b, ",");
            joule_strbuf_json_str(b, nm, strlen(nm));
            joule_strbuf_printf(b, ":%.9g", j->energy_j[i]);
        }
        joule_strbuf_puts(b, "}");
    }
}

static void put_head(struct joule_server *s, struct job *j, struct joule_strbuf *b)
{
    joule_strbuf_printf(b,
                        "{\"id\":\"cmpl-%016llx\",\"object\":\"text_completion\",\"created\":%lld,"
                        "\"model\":",
                        (unsigned long long)(uintptr_t)j ^ (unsigned long long)j->t_arrive_ns,
                        (long long)(joule_wall_ns() / 1000000000));
    joule_strbuf_json_str(b, s->model_name, strlen(s->model_name));
}

/* Stream reader: one server-sent event per batch of final text. */
/* The error answer of a job that failed (its status is not JOULE_OK). */
static void job_failure(const struct job *j, struct joule_server_error *e)
{
    joule_server_set_error(e, j->http_err ? j->http_err : 500, NULL, NULL, "%s", j->errmsg);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct job *j = cls;
    struct joule_server *s = j->srv;
    if (j->out_off >= j->out.len) {
        joule_strbuf_reset(&j->out);
        j->out_off = 0;
        if (j->phase == 2) {
            /* the last chunk follows this: count the request before the client can see it */
            if (j->cx) server_account(s, j->cx);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        pthread_mutex_lock(&s->mu);
        while (j->sent >= j->text_safe && j->state != JOB_DONE)
            pthread_cond_wait(&j->cv, &s->mu);
        if (j->sent < j->text_safe) {
            joule_strbuf_puts(&j->out, "data: ");
            put_head(s, j, &j->out);
            joule_strbuf_puts(&j->out, ",\"choices\":[{\"text\":");
            joule_strbuf_json_str(&j->out, j->text.data + j->sent, j->text_safe - j->sent);
            joule_strbuf_puts(&j->out,
                              ",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n");
            j->sent = j->text_safe;
            pthread_mutex_unlock(&s->mu);
        } else {
            pthread_mutex_unlock(&s->mu);
            /* done: the rest of the text (held back for stop strings), then the last event */
            if (j->status != JOULE_OK) {
                struct joule_server_error e;
                job_failure(j, &e);
                joule_strbuf_puts(&j->out, "data: ");
                error_json(&j->out, &e);
                joule_strbuf_puts(&j->out, "\n\n");
            } else {
                joule_strbuf_puts(&j->out, "data: ");
                put_head(s, j, &j->out);
                joule_strbuf_puts(&j->out, ",\"choices\":[{\"text\":");
                joule_strbuf_json_str(&j->out, j->text.data ? j->text.data + j->sent : "",
                                      j->text.len > j->sent ? j->text.len - j->sent : 0);
                j->sent = j->text.len;
                joule_strbuf_puts(&j->out, ",\"index\":0,\"logprobs\":null,\"finish_reason\":");
                joule_strbuf_json_str(&j->out, j->finish, strlen(j->finish));
                if (j->req.return_token_ids) put_ids(&j->out, "token_ids", j->ids, j->n_ids);
                joule_strbuf_puts(&j->out, "}]");
                put_tail(s, j, &j->out);
                joule_strbuf_puts(&j->out, "}\n\n");
            }
            joule_strbuf_puts(&j->out, "data: [DONE]\n\n");
            j->phase = 2;
        }
        if (j->out.oom) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = j->out.len - j->out_off;
    if (n > max) n = max;
    memcpy(buf, j->out.data + j->out_off, n);
    j->out_off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct job *j = cls;
    struct joule_server *s = j->srv;
    pthread_mutex_lock(&s->mu);
    if (j->state != JOB_DONE) __atomic_store_n(&j->cancelled, 1, __ATOMIC_RELAXED);
    server_job_unref_locked(j);
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result handle_completions(struct joule_server *s, struct MHD_Connection *c,
                                          struct conn *cx)
{
    struct joule_server_error e;
    struct job *j = job_new(s, JOULE_ROUTE_COMPLETIONS, cx->t0_ns);
    if (!j) return fail(c, cx, 500, NULL, NULL, "out of memory");
    int code = 0;
    if (joule_completion_request_parse(cx->body.data, cx->body.len, &j->req, &e) != JOULE_OK) {
        code = e.http;
    } else if (j->req.model && strcmp(j->req.model, s->model_name) != 0) {
        joule_server_set_error(&e, 404, "model_not_found", "model",
                               "the model '%s' does not exist here", j->req.model);
        code = 404;
    } else if (j->req.prompt_ids) {
        j->prompt = j->req.prompt_ids;
        j->n_prompt = j->req.n_prompt_ids;
        j->req.prompt_ids = NULL;
    } else {
        code = tokenize_prompt(s, j, j->req.prompt, j->req.prompt_len, "prompt", &e);
    }
    if (!code) code = check_prompt(s, j, "prompt", &e);
    if (!code) {
        size_t room = (size_t)s->be.n_ctx - j->n_prompt;
        if ((size_t)j->req.max_tokens < room) room = (size_t)j->req.max_tokens;
        code = alloc_ids(j, room, &e);
    }
    if (code) {
        job_discard(j);
        return send_error(c, cx, &e);
    }
    struct joule_gen_params *g = &j->gen;
    *g = joule_gen_default_params();
    g->max_new_tokens = j->req.max_tokens;
    g->ignore_eos = j->req.ignore_eos;
    g->sampling = joule_sampling_default();
    if (j->req.temperature > 0.0) {
        g->sampling.greedy = 0;
        g->sampling.temperature = (float)j->req.temperature;
        g->sampling.top_p = (float)j->req.top_p;
        g->sampling.top_k = j->req.top_k;
        g->sampling.seed = j->req.has_seed ? j->req.seed : fresh_seed(s);
    }
    j->incremental = s->be.decode && (j->req.stream || j->req.n_stop > 0);

    code = server_job_submit_wait(s, j, &e);
    if (code) {
        job_discard(j);
        return send_error(c, cx, &e);
    }
    pthread_mutex_lock(&s->mu);
    int failed_early = j->state == JOB_DONE && j->status != JOULE_OK;
    pthread_mutex_unlock(&s->mu);
    if (j->req.stream && !failed_early) {
        /* the job runs: stream its text (the reader owns our reference) */
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                   stream_reader, j, stream_free);
        if (!r) {
            stream_free(j);
            return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        cx->code = 200;
        cx->responded = 1;
        j->cx = cx; /* the reader counts the request at the stream's end */
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
    }
    enum MHD_Result ret;
    if (j->status != JOULE_OK) {
        job_failure(j, &e);
        ret = send_error(c, cx, &e);
    } else {
        struct joule_strbuf text = {0};
        enum joule_status st = JOULE_OK;
        if (!j->incremental) st = completion_text(s, j, &text);
        if (st != JOULE_OK) {
            ret = fail(c, cx, 500, NULL, NULL, "decoding failed: %s", joule_last_error());
        } else {
            struct joule_strbuf *t = j->incremental ? &j->text : &text;
            struct joule_strbuf b = {0};
            put_head(s, j, &b);
            joule_strbuf_puts(&b, ",\"choices\":[{\"text\":");
            joule_strbuf_json_str(&b, t->data ? t->data : "", t->len);
            joule_strbuf_puts(&b, ",\"index\":0,\"logprobs\":null,\"finish_reason\":");
            joule_strbuf_json_str(&b, j->finish, strlen(j->finish));
            if (j->req.return_token_ids) {
                put_ids(&b, "prompt_token_ids", j->prompt, j->n_prompt);
                put_ids(&b, "token_ids", j->ids, j->n_ids);
            }
            joule_strbuf_puts(&b, "}]");
            put_tail(s, j, &b);
            joule_strbuf_puts(&b, "}");
            ret = send_buf(c, cx, 200, &b, "application/json");
        }
        joule_strbuf_free(&text);
    }
    server_job_unref(j);
    return ret;
}

static enum MHD_Result handle_hf_models(struct joule_server *s, struct MHD_Connection *c,
                                        struct conn *cx, const char *url)
{
    char model[256], engine[256];
    joule_route_segments(url, "/huggingface_models/", model, sizeof model, engine, sizeof engine);
    enum MHD_Result ret;
    if (!check_model_engine(s, c, cx, model, engine, &ret)) return ret;
    struct joule_server_error e;
    char *text = NULL;
    size_t text_len = 0;
    if (joule_study_request_parse(cx->body.data, cx->body.len, &text, &text_len, &e) != JOULE_OK)
        return send_error(c, cx, &e);
    struct job *j = job_new(s, JOULE_ROUTE_HF_MODELS, cx->t0_ns);
    if (!j) {
        free(text);
        return fail(c, cx, 500, NULL, NULL, "out of memory");
    }
    int code = tokenize_prompt(s, j, text, text_len, "input_text", &e);
    if (!code) code = check_prompt(s, j, "input_text", &e);
    if (!code && !s->be.decode) {
        joule_server_set_error(&e, 400, NULL, NULL,
                               "this model has no tokenizer to decode the prediction");
        code = 400;
    }
    /* as the study: generate(max_length=128), greedy. Like transformers, a
     * prompt already at max_length still gets one new token. */
    j->gen = joule_gen_default_params();
    j->gen.sampling = joule_sampling_default();
    if (j->n_prompt >= STUDY_MAX_LENGTH) {
        j->gen.max_new_tokens = 1;
        j->gen.max_length = 0;
    } else {
        j->gen.max_new_tokens = 0;
        j->gen.max_length = STUDY_MAX_LENGTH;
    }
    if (!code) code = alloc_ids(j, STUDY_MAX_LENGTH, &e);
    if (!code) code = server_job_submit_wait(s, j, &e);
    if (code) {
        free(text);
        job_discard(j);
        return send_error(c, cx, &e);
    }
    if (j->status != JOULE_OK) {
        job_failure(j, &e);
        ret = send_error(c, cx, &e);
    } else {
        /* prediction: the whole output sequence decoded, as
         * tokenizer.decode(model.generate(...)[0], skip_special_tokens=True) */
        size_t n = j->n_prompt + j->n_ids;
        int32_t *all = malloc(n * sizeof *all);
        struct joule_strbuf pred = {0};
        enum joule_status st = all ? JOULE_OK : JOULE_ERR_NOMEM;
        if (all) {
            memcpy(all, j->prompt, j->n_prompt * sizeof *all);
            memcpy(all + j->n_prompt, j->ids, j->n_ids * sizeof *all);
            st = joule_server_decode(&s->be, all, n, &pred);
        }
        free(all);
        if (st != JOULE_OK) {
            ret = fail(c, cx, 500, NULL, NULL, "decoding failed");
        } else {
            struct joule_strbuf b = {0};
            study_envelope_open(&b, c, url);
            joule_strbuf_puts(&b, "\"model-type\":");
            joule_strbuf_json_str(&b, model, strlen(model));
            joule_strbuf_puts(&b, ",\"input_text\":");
            joule_strbuf_json_str(&b, text, text_len);
            joule_strbuf_puts(&b, ",\"prediction\":");
            joule_strbuf_json_str(&b, pred.data ? pred.data : "", pred.len);
            joule_strbuf_puts(&b, "}");
            put_tail(s, j, &b);
            joule_strbuf_puts(&b, "}");
            ret = send_buf(c, cx, 200, &b, "application/json");
        }
        joule_strbuf_free(&pred);
    }
    free(text);
    server_job_unref(j);
    return ret;
}

static enum MHD_Result handle_load_model(struct joule_server *s, struct MHD_Connection *c,
                                         struct conn *cx, const char *url)
{
    char engine[256], model[256];
    joule_route_segments(url, "/load_model/", engine, sizeof engine, model, sizeof model);
    enum MHD_Result ret;
    if (!check_model_engine(s, c, cx, model, engine, &ret)) return ret;
    struct joule_strbuf b = {0};
    study_envelope_open(&b, c, url);
    joule_strbuf_puts(&b, "\"model-type\":");
    joule_strbuf_json_str(&b, model, strlen(model));
    joule_strbuf_puts(&b, ",\"engine\":");
    joule_strbuf_json_str(&b, engine, strlen(engine));
    joule_strbuf_puts(&b, ",\"provider\":");
    joule_strbuf_json_str(&b, s->be.provider, strlen(s->be.provider));
    joule_strbuf_puts(&b, ",\"loaded\":true}}");
    return send_buf(c, cx, 200, &b, "application/json");
}

static enum MHD_Result handle_get(struct joule_server *s, struct MHD_Connection *c, struct conn *cx)
{
    struct joule_strbuf b = {0};
    if (cx->route == JOULE_ROUTE_METRICS) {
        server_metrics_render(s, &b);
        return send_buf(c, cx, 200, &b, "text/plain; version=0.0.4; charset=utf-8");
    }
    if (cx->route == JOULE_ROUTE_HEALTH) {
        pthread_mutex_lock(&s->mu);
        int draining = s->draining, q = s->queue_len;
        pthread_mutex_unlock(&s->mu);
        joule_strbuf_printf(&b, "{\"status\":\"%s\",\"model\":", draining ? "draining" : "ok");
        joule_strbuf_json_str(&b, s->model_name, strlen(s->model_name));
        joule_strbuf_puts(&b, ",\"engine\":");
        joule_strbuf_json_str(&b, s->be.engine, strlen(s->be.engine));
        joule_strbuf_puts(&b, ",\"provider\":");
        joule_strbuf_json_str(&b, s->be.provider, strlen(s->be.provider));
        joule_strbuf_printf(&b, ",\"queue_depth\":%d}", q);
        return send_buf(c, cx, draining ? 503 : 200, &b, "application/json");
    }
    joule_strbuf_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":");
    joule_strbuf_json_str(&b, s->model_name, strlen(s->model_name));
    joule_strbuf_printf(&b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"joule\",",
                        (long long)s->created_s);
    joule_strbuf_puts(&b, "\"engine\":");
    joule_strbuf_json_str(&b, s->be.engine, strlen(s->be.engine));
    joule_strbuf_puts(&b, ",\"provider\":");
    joule_strbuf_json_str(&b, s->be.provider, strlen(s->be.provider));
    joule_strbuf_puts(&b, ",\"arch\":");
    joule_strbuf_json_str(&b, s->be.arch, strlen(s->be.arch));
    joule_strbuf_printf(&b, ",\"max_model_len\":%d}]}", s->be.n_ctx);
    return send_buf(c, cx, 200, &b, "application/json");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct joule_server *s = cls;
    struct conn *cx = *con_cls;
    if (!cx) {
        cx = calloc(1, sizeof *cx);
        if (!cx) return MHD_NO;
        cx->srv = s;
        cx->t0_ns = joule_now_ns();
        cx->route = joule_route_match(url);
        *con_cls = cx;
        pthread_mutex_lock(&s->mu);
        s->active++;
        int draining = s->draining;
        pthread_mutex_unlock(&s->mu);

        int is_get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
        int is_post = !strcmp(method, MHD_HTTP_METHOD_POST);
        if (cx->route == JOULE_ROUTE_OTHER)
            return fail(c, cx, 404, "not_found", NULL, "no route for %s %s", method, url);
        if (route_is_get(cx->route) ? !is_get : !is_post)
            return fail(c, cx, 405, "method_not_allowed", NULL, "%s is not allowed on %s", method,
                        url);
        if (cx->route != JOULE_ROUTE_HEALTH && !authorized(s, c))
            return fail(c, cx, 401, "invalid_api_key", NULL,
                        "missing or incorrect API key (send 'Authorization: Bearer <key>')");
        if (draining && cx->route != JOULE_ROUTE_HEALTH && cx->route != JOULE_ROUTE_METRICS)
            return fail(c, cx, 503, "shutting_down", NULL, "the server is shutting down");
        const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || end == cl || v > s->p.max_body_bytes)
                return fail(c, cx, 413, "request_too_large", NULL,
                            "the request body is larger than %zu bytes", s->p.max_body_bytes);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!cx->responded && !cx->too_large) {
            if (cx->body.len + *upload_data_size > s->p.max_body_bytes) {
                cx->too_large = 1;
                joule_strbuf_free(&cx->body);
            } else {
                joule_strbuf_append(&cx->body, upload_data, *upload_data_size);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (cx->responded) return MHD_YES;
    if (cx->too_large)
        return fail(c, cx, 413, "request_too_large", NULL,
                    "the request body is larger than %zu bytes", s->p.max_body_bytes);
    if (cx->body.oom) return fail(c, cx, 500, NULL, NULL, "out of memory");
    switch (cx->route) {
    case JOULE_ROUTE_COMPLETIONS:
        return handle_completions(s, c, cx);
    case JOULE_ROUTE_HF_MODELS:
        return handle_hf_models(s, c, cx, url);
    case JOULE_ROUTE_LOAD_MODEL:
        return handle_load_model(s, c, cx, url);
    default:
        return handle_get(s, c, cx);
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    struct joule_server *s = cls;
    struct conn *cx = *con_cls;
    if (!cx) return;
    *con_cls = NULL;
    server_account(s, cx); /* a stream the client left before its end */
    joule_strbuf_free(&cx->body);
    free(cx);
    pthread_mutex_lock(&s->mu);
    s->active--;
    pthread_cond_broadcast(&s->drain_cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- lifecycle --------------------------------------------------------------- */

static enum joule_status resolve(const char *host, int port, struct sockaddr_storage *ss,
                                 socklen_t *len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || !res)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "cannot resolve host '%s': %s", host,
                            gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return JOULE_OK;
}

enum joule_status joule_server_start_backend(const struct joule_server_backend *backend,
                                             const struct joule_server_params *params,
                                             struct joule_server **out)
{
    *out = NULL;
    struct joule_server_params p = params ? *params : joule_server_default_params();
    struct joule_server_params d = joule_server_default_params();
    if (!p.host) p.host = d.host;
    if (p.port < 0 || p.port > 65535)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "port %d out of range", p.port);
    if (p.max_queue < 1) return joule_errorf(JOULE_ERR_INVALID_ARG, "max_queue must be >= 1");
    if (p.timeout_s < 0) return joule_errorf(JOULE_ERR_INVALID_ARG, "timeout must be >= 0");
    if (p.max_body_bytes == 0) p.max_body_bytes = d.max_body_bytes;
    if (!backend->generate || backend->n_ctx <= 0 || backend->n_vocab <= 0)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "incomplete server backend");
    if (p.energy && (p.energy->n_sources > MAX_ENERGY_SOURCES || !p.energy->energy_between ||
                     (p.energy->n_sources && !p.energy->source_names)))
        return joule_errorf(JOULE_ERR_INVALID_ARG, "bad energy hook (at most %d sources)",
                            MAX_ENERGY_SOURCES);

    struct joule_server *s = calloc(1, sizeof *s);
    if (!s) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    s->be = *backend;
    if (!s->be.engine) s->be.engine = "native";
    if (!s->be.provider) s->be.provider = "cpu";
    if (!s->be.arch) s->be.arch = "";
    s->p = p;
    s->p.host = NULL;
    s->p.api_key = NULL;
    s->p.model_name = NULL;
    s->p.energy = NULL;
    const char *name = p.model_name          ? p.model_name
                       : backend->model_name ? backend->model_name
                                             : "model";
    s->model_name = strdup(name);
    s->api_key = p.api_key && p.api_key[0] ? strdup(p.api_key) : NULL;
    if (p.energy) {
        s->energy = *p.energy;
        s->has_energy = 1;
    }
    s->created_s = joule_wall_ns() / 1000000000;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->m.mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->drain_cv, NULL);
    if (!s->model_name || (p.api_key && p.api_key[0] && !s->api_key)) {
        joule_server_free(s);
        return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    }

    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    enum joule_status st = resolve(p.host, p.port, &ss, &sslen);
    if (st != JOULE_OK) {
        joule_server_free(s);
        return st;
    }
    if (pthread_create(&s->worker, NULL, server_worker_main, s) != 0) {
        joule_server_free(s);
        return joule_errorf(JOULE_ERR_INTERNAL, "cannot start the engine worker thread");
    }
    s->worker_started = 1;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(
        flags, (uint16_t)p.port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_LISTENING_ADDRESS_REUSE,
        (unsigned)1, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)512, MHD_OPTION_END);
    if (!s->mhd) {
        int err = errno;
        joule_server_free(s);
        return joule_errorf(JOULE_ERR_IO, "cannot listen on %s:%d (%s)", p.host, p.port,
                            strerror(err));
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : p.port;
    *out = s;
    return JOULE_OK;
}

int joule_server_port(const struct joule_server *s)
{
    return s ? s->port : 0;
}

void joule_server_stop(struct joule_server *s)
{
    if (!s || s->stopped) return;
    pthread_mutex_lock(&s->mu);
    s->draining = 1;
    pthread_mutex_unlock(&s->mu);
    if (s->mhd) {
        /* no new connections: MHD stops accepting, and shutting the listening
         * socket down makes new clients see "connection refused" at once
         * rather than wait in the backlog (it is closed after MHD stops) */
        MHD_socket fd = MHD_quiesce_daemon(s->mhd);
        if (fd != MHD_INVALID_SOCKET) shutdown(fd, SHUT_RDWR);
        /* finish every admitted request, streams included; give up on a
         * stalled client after the request timeout (and a margin) */
        int64_t limit_ns =
            ((int64_t)(s->p.timeout_s > 0 ? s->p.timeout_s : 600) + 10) * 1000000000LL;
        int64_t wall = joule_wall_ns() + limit_ns;
        struct timespec ts = {.tv_sec = (time_t)(wall / 1000000000),
                              .tv_nsec = (long)(wall % 1000000000)};
        pthread_mutex_lock(&s->mu);
        while (s->active > 0)
            if (pthread_cond_timedwait(&s->drain_cv, &s->mu, &ts) == ETIMEDOUT) break;
        pthread_mutex_unlock(&s->mu);
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
        if (fd != MHD_INVALID_SOCKET) close(fd);
    }
    if (s->worker_started) {
        pthread_mutex_lock(&s->mu);
        s->stop_worker = 1;
        pthread_cond_signal(&s->work_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->worker, NULL);
        s->worker_started = 0;
    }
    s->stopped = 1;
}

void joule_server_free(struct joule_server *s)
{
    if (!s) return;
    joule_server_stop(s);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->m.mu);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->drain_cv);
    free(s->model_name);
    free(s->api_key);
    free(s);
}
