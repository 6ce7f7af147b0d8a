/* The server's metrics in the Prometheus text format: requests by route and
 * status, latency and queue-wait histograms, tokens, engine time and energy by
 * sensor source, and the queue's gauges. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "server/server_state.h"
#include "util/clock.h"

static const double k_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                   0.5,    1,     2.5,    5,     10,   30,    60,   120};
static const int k_codes[] = {200, 400, 401, 404, 405, 413, 422, 500, 503};
_Static_assert(sizeof k_buckets / sizeof k_buckets[0] == N_BUCKETS, "N_BUCKETS");
_Static_assert(sizeof k_codes / sizeof k_codes[0] == N_CODES, "N_CODES");

static void hist_add(struct histogram *h, double v)
{
    size_t i = 0;
    while (i < N_BUCKETS && v > k_buckets[i])
        i++;
    h->bucket[i]++;
    h->sum += v;
    h->count++;
}

static size_t code_index(int code)
{
    for (size_t i = 0; i < N_CODES; i++)
        if (k_codes[i] == code) return i;
    return 7; /* 500 */
}

/* Count a request and its latency once its whole answer is in the HTTP layer's
 * hands: a buffer just before it is queued, a stream when its reader ends it.
 * So a client never holds a complete answer that /metrics does not count yet
 * (on_completed runs after the last byte is written and may lag the client). */
void server_account(struct joule_server *s, struct conn *cx)
{
    if (cx->accounted || !cx->code) return;
    cx->accounted = 1;
    double dt = (double)(joule_now_ns() - cx->t0_ns) * 1e-9;
    pthread_mutex_lock(&s->m.mu);
    s->m.requests[cx->route][code_index(cx->code)]++;
    hist_add(&s->m.latency[cx->route], dt);
    pthread_mutex_unlock(&s->m.mu);
}

static void hist_print(struct joule_strbuf *b, const char *name, const char *labels,
                       const struct histogram *h)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (size_t i = 0; i <= N_BUCKETS; i++) {
        cum += h->bucket[i];
        if (i < N_BUCKETS)
            joule_strbuf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                                k_buckets[i], (unsigned long long)cum);
        else
            joule_strbuf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                                (unsigned long long)cum);
    }
    joule_strbuf_printf(b, "%s_sum%s%s%s %.9g\n", name, labels[0] ? "{" : "", labels,
                        labels[0] ? "}" : "", h->sum);
    joule_strbuf_printf(b, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
                        labels[0] ? "}" : "", (unsigned long long)h->count);
}

/* The request counters by route and status code, from k_codes[first] on. */
static void requests_print(struct joule_strbuf *b, const struct metrics *m, const char *name,
                           size_t first)
{
    for (int r = 0; r < JOULE_ROUTE_COUNT; r++)
        for (size_t c = first; c < N_CODES; c++)
            if (m->requests[r][c])
                joule_strbuf_printf(b, "%s{route=\"%s\",code=\"%d\"} %llu\n", name,
                                    joule_route_name(r), k_codes[c],
                                    (unsigned long long)m->requests[r][c]);
}

void server_metrics_render(struct joule_server *s, struct joule_strbuf *b)
{
    int qlen, running, active;
    pthread_mutex_lock(&s->mu);
    qlen = s->queue_len;
    running = s->running;
    active = s->active;
    pthread_mutex_unlock(&s->mu);

    struct metrics *m = &s->m;
    pthread_mutex_lock(&m->mu);
    joule_strbuf_puts(b, "# HELP joule_http_requests_total HTTP requests answered, by route and "
                         "status code.\n# TYPE joule_http_requests_total counter\n");
    requests_print(b, m, "joule_http_requests_total", 0);
    joule_strbuf_puts(b, "# HELP joule_http_errors_total HTTP requests answered with an error "
                         "(status >= 400), by route and status code.\n"
                         "# TYPE joule_http_errors_total counter\n");
    requests_print(b, m, "joule_http_errors_total", 1); /* k_codes[0] is 200 */
    joule_strbuf_puts(b, "# HELP joule_http_request_duration_seconds Time from the request's "
                         "headers until the whole answer is ready to send (a stream: its end).\n"
                         "# TYPE joule_http_request_duration_seconds histogram\n");
    for (int r = 0; r < JOULE_ROUTE_COUNT; r++) {
        if (!m->latency[r].count) continue;
        char labels[64];
        snprintf(labels, sizeof labels, "route=\"%s\"", joule_route_name(r));
        hist_print(b, "joule_http_request_duration_seconds", labels, &m->latency[r]);
    }
    joule_strbuf_puts(b, "# HELP joule_queue_wait_seconds Time generation requests waited for "
                         "the engine.\n# TYPE joule_queue_wait_seconds histogram\n");
    hist_print(b, "joule_queue_wait_seconds", "", &m->queue_wait);
    joule_strbuf_printf(b,
                        "# HELP joule_prompt_tokens_total Prompt tokens processed.\n"
                        "# TYPE joule_prompt_tokens_total counter\n"
                        "joule_prompt_tokens_total %llu\n"
                        "# HELP joule_generated_tokens_total Tokens generated.\n"
                        "# TYPE joule_generated_tokens_total counter\n"
                        "joule_generated_tokens_total %llu\n",
                        (unsigned long long)m->prompt_tokens,
                        (unsigned long long)m->generated_tokens);
    joule_strbuf_printf(b,
                        "# HELP joule_engine_prompt_seconds_total Engine time in prompt passes.\n"
                        "# TYPE joule_engine_prompt_seconds_total counter\n"
                        "joule_engine_prompt_seconds_total %.9g\n"
                        "# HELP joule_engine_decode_seconds_total Engine time in decode steps.\n"
                        "# TYPE joule_engine_decode_seconds_total counter\n"
                        "joule_engine_decode_seconds_total %.9g\n",
                        m->prompt_s, m->decode_s);
    if (s->has_energy) {
        joule_strbuf_puts(b, "# HELP joule_energy_joules_total Energy attributed to requests, by "
                             "sensor source.\n# TYPE joule_energy_joules_total counter\n");
        for (size_t i = 0; i < s->energy.n_sources; i++) {
            joule_strbuf_puts(b, "joule_energy_joules_total{source=");
            const char *nm = s->energy.source_names[i];
            /* Prometheus label values escape like JSON strings for \ " and \n */
            joule_strbuf_json_str(b, nm, strlen(nm));
            joule_strbuf_printf(b, "} %.9g\n", m->energy_j[i]);
        }
    }
    pthread_mutex_unlock(&m->mu);
    joule_strbuf_printf(b,
                        "# HELP joule_queue_depth Requests waiting for the engine.\n"
                        "# TYPE joule_queue_depth gauge\njoule_queue_depth %d\n"
                        "# HELP joule_queue_capacity Most requests that may wait.\n"
                        "# TYPE joule_queue_capacity gauge\njoule_queue_capacity %d\n"
                        "# HELP joule_engine_busy 1 while the engine runs a request.\n"
                        "# TYPE joule_engine_busy gauge\njoule_engine_busy %d\n"
                        "# HELP joule_requests_in_flight HTTP requests being handled.\n"
                        "# TYPE joule_requests_in_flight gauge\njoule_requests_in_flight %d\n",
                        qlen, s->p.max_queue, running, active);
}

/* Count a finished generation job (its queue wait; tokens, engine time and energy when
 * it succeeded). */
void server_metrics_job(struct joule_server *s, const struct job *j, enum joule_status st)
{
    struct metrics *m = &s->m;
    pthread_mutex_lock(&m->mu);
    hist_add(&m->queue_wait, (double)(j->t_start_ns - j->t_arrive_ns) * 1e-9);
    if (st == JOULE_OK) {
        m->prompt_tokens += j->n_prompt;
        m->generated_tokens += j->n_ids;
        m->prompt_s += (double)j->prompt_ns * 1e-9;
        m->decode_s += (double)j->decode_ns * 1e-9;
        if (j->has_energy)
            for (size_t i = 0; i < s->energy.n_sources; i++)
                m->energy_j[i] += j->energy_j[i];
    }
    pthread_mutex_unlock(&m->mu);
}
