/* The server's generation queue: a bounded FIFO of jobs and one engine worker
 * thread. A connection thread admits a job and sleeps on its condition variable
 * (or, when the engine is idle and nobody waits, runs it itself); the worker runs
 * the engine, detokenizes incrementally for streams and stop strings, and wakes
 * the connection thread as text becomes final. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_state.h"
#include "util/clock.h"

void server_job_unref_locked(struct job *j)
{
    if (--j->refs > 0) return;
    pthread_cond_destroy(&j->cv);
    joule_completion_request_free(&j->req);
    free(j->prompt);
    free(j->ids);
    joule_strbuf_free(&j->text);
    joule_strbuf_free(&j->delta);
    joule_strbuf_free(&j->out);
    joule_detok_free(&j->detok);
    free(j);
}

void server_job_unref(struct job *j)
{
    struct joule_server *s = j->srv;
    pthread_mutex_lock(&s->mu);
    server_job_unref_locked(j);
    pthread_mutex_unlock(&s->mu);
}

static int deadline_passed(const struct job *j)
{
    return j->deadline_ns && joule_now_ns() > j->deadline_ns;
}

static int is_cancelled(const struct job *j)
{
    return __atomic_load_n(&j->cancelled, __ATOMIC_RELAXED);
}

/* Append newly final text to j->text and apply the stop strings (worker). */
static void append_text(struct job *j, const struct joule_strbuf *delta, int final)
{
    struct joule_server *s = j->srv;
    pthread_mutex_lock(&s->mu);
    joule_strbuf_append(&j->text, delta->data, delta->len);
    long at =
        j->req.n_stop ? joule_stop_find(&j->req, j->text.data, j->text.len, j->scan_from) : -1;
    if (at >= 0) {
        j->text.len = (size_t)at;
        j->text.data[at] = '\0';
        j->text_safe = j->text.len;
        j->stop_hit = 1;
    } else {
        size_t maxstop = 0;
        for (size_t i = 0; i < j->req.n_stop; i++)
            if (j->req.stop_len[i] > maxstop) maxstop = j->req.stop_len[i];
        j->scan_from = j->text.len >= maxstop ? j->text.len - maxstop + 1 : 0;
        j->text_safe = final
                           ? j->text.len
                           : j->text.len - joule_stop_holdback(&j->req, j->text.data, j->text.len);
    }
    if (j->req.stream) pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Engine worker: called after each new token; non-zero stops generation. */
static int on_token(void *user, int32_t tok)
{
    struct job *j = user;
    if (j->n_ids < j->cap_ids) j->ids[j->n_ids++] = tok;
    if (j->incremental) {
        joule_strbuf_reset(&j->delta);
        if (joule_detok_push(&j->detok, tok, &j->delta) != JOULE_OK) {
            j->detok_error = 1;
            return 1;
        }
        if (j->delta.len) append_text(j, &j->delta, 0);
        if (j->stop_hit) return 1;
    }
    if (deadline_passed(j)) {
        j->finish = "timeout";
        return 1;
    }
    return is_cancelled(j);
}

static void run_job(struct joule_server *s, struct job *j)
{
    j->gen.on_token = on_token;
    j->gen.user = j;
    j->finish = NULL;
    enum joule_status st = JOULE_OK;
    if (j->incremental) st = joule_detok_init(&j->detok, &s->be, j->prompt, j->n_prompt);
    struct joule_gen_result res = {0};
    j->t_start_ns = joule_now_ns();
    if (st == JOULE_OK) st = s->be.generate(s->be.user, j->prompt, j->n_prompt, &j->gen, &res);
    j->t_end_ns = joule_now_ns();
    if (st == JOULE_OK && j->detok_error) st = JOULE_ERR_INTERNAL;
    if (st == JOULE_OK && j->incremental && !j->stop_hit) {
        /* the text held back for a possible multi-byte character */
        joule_strbuf_reset(&j->delta);
        st = joule_detok_finish(&j->detok, &j->delta);
        if (st == JOULE_OK) append_text(j, &j->delta, 1);
    }
    j->status = st;
    if (st != JOULE_OK) {
        j->http_err = st == JOULE_ERR_LIMIT ? 422 : 500;
        snprintf(j->errmsg, sizeof j->errmsg, "generation failed: %s", joule_last_error());
    } else {
        /* the engine's list is the authority: it holds an EOS that on_token never sees */
        if (res.n_ids <= j->cap_ids) {
            memcpy(j->ids, res.ids, res.n_ids * sizeof *res.ids);
            j->n_ids = res.n_ids;
        }
        j->prompt_ns = res.prompt_ns;
        j->decode_ns = res.decode_ns;
        if (j->stop_hit)
            j->finish = "stop";
        else if (!j->finish)
            j->finish =
                res.stop == JOULE_STOP_LENGTH || res.stop == JOULE_STOP_CONTEXT ? "length" : "stop";
        if (s->has_energy && s->energy.energy_between(s->energy.user, j->t_start_ns, j->t_end_ns,
                                                      j->energy_j) == JOULE_OK)
            j->has_energy = 1;
    }
    joule_gen_result_free(&res);

    server_metrics_job(s, j, st);
}

void *server_worker_main(void *arg)
{
    struct joule_server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        /* the engine may be busy with a request run inline by its connection thread */
        while (s->running || (!s->head && !s->stop_worker))
            pthread_cond_wait(&s->work_cv, &s->mu);
        if (!s->head) break;
        struct job *j = s->head;
        s->head = j->next;
        if (!s->head) s->tail = NULL;
        j->next = NULL;
        s->queue_len--;
        j->state = JOB_RUNNING;
        s->running = 1;
        int skip = is_cancelled(j) || deadline_passed(j);
        pthread_mutex_unlock(&s->mu);
        if (skip) {
            j->status = JOULE_ERR_TIMEOUT;
            j->http_err = 503;
            snprintf(j->errmsg, sizeof j->errmsg, "the request timed out waiting for the engine");
        } else {
            run_job(s, j);
        }
        pthread_mutex_lock(&s->mu);
        j->state = JOB_DONE;
        s->running = 0;
        pthread_cond_broadcast(&j->cv);
        server_job_unref_locked(j);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Admit `j` and wait until it runs (streams) or is done. Returns 0, or an
 * HTTP status (503) with *e filled when it was refused or timed out. */
int server_job_submit_wait(struct joule_server *s, struct job *j, struct joule_server_error *e)
{
    pthread_mutex_lock(&s->mu);
    if (s->draining) {
        pthread_mutex_unlock(&s->mu);
        joule_server_set_error(e, 503, "shutting_down", NULL, "the server is shutting down");
        return 503;
    }
    if (s->queue_len >= s->p.max_queue) {
        pthread_mutex_unlock(&s->mu);
        joule_server_set_error(e, 503, "queue_full", NULL,
                               "the request queue is full (%d waiting); retry later",
                               s->p.max_queue);
        return 503;
    }
    if (!j->req.stream && !s->running && !s->head) {
        /* The engine is idle and nobody waits: run the request on this
         * connection thread, which saves two thread hand-offs (a wake-up of
         * the worker and one of this thread) per request. The running flag
         * keeps the engine to one thread at a time, as the queue does. */
        s->running = 1;
        j->state = JOB_RUNNING;
        j->refs = 1;
        pthread_mutex_unlock(&s->mu);
        run_job(s, j);
        pthread_mutex_lock(&s->mu);
        j->state = JOB_DONE;
        s->running = 0;
        if (s->head) pthread_cond_signal(&s->work_cv);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    j->refs = 2; /* connection + worker */
    j->state = JOB_QUEUED;
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    s->queue_len++;
    pthread_cond_signal(&s->work_cv);
    struct timespec ts = {0};
    if (j->deadline_ns) {
        int64_t wall = joule_wall_ns() + (j->deadline_ns - joule_now_ns());
        ts.tv_sec = (time_t)(wall / 1000000000);
        ts.tv_nsec = (long)(wall % 1000000000);
    }
    while (j->state == JOB_QUEUED || (j->state == JOB_RUNNING && !j->req.stream)) {
        if (j->state == JOB_QUEUED && j->deadline_ns) {
            if (pthread_cond_timedwait(&j->cv, &s->mu, &ts) == ETIMEDOUT &&
                j->state == JOB_QUEUED) {
                /* take it out of the queue ourselves */
                struct job **pp = &s->head, *prev = NULL;
                while (*pp && *pp != j)
                    prev = *pp, pp = &(*pp)->next;
                if (*pp) {
                    *pp = j->next;
                    if (s->tail == j) s->tail = prev;
                    s->queue_len--;
                    j->refs--; /* the worker will never see it */
                }
                pthread_mutex_unlock(&s->mu);
                joule_server_set_error(e, 503, "timeout", NULL,
                                       "the request timed out after %d s waiting for the engine",
                                       s->p.timeout_s);
                return 503;
            }
        } else {
            pthread_cond_wait(&j->cv, &s->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}
