/* A campaign: plan the runs, then for each run start the server, warm up,
 * send the prompts, cool down, stop the server and store everything. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_impl.h"
#include "util/clock.h"
#include "util/fileio.h"

#define POLL_NS 50000000LL      /* child liveness / progress granularity */
#define SETTLE_NS 10000000000LL /* most time to tell a dying server from a live one */
#define PROGRESS_NS 250000000LL /* how often on_progress is called */

/* ---- the run order ----------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const char *base_name(const char *path, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", path);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = 0;
    const char *slash = strrchr(buf, '/');
    return slash ? slash + 1 : buf;
}

/* Every configuration × repetition, shuffled with the seed (Fisher–Yates). */
static enum joule_status plan_runs(const struct joule_bench_settings *s,
                                   struct joule_bench_run_plan **out, size_t *n_out)
{
    size_t n =
        (size_t)s->n_models * (size_t)s->n_engines * (size_t)s->n_providers * (size_t)s->reps;
    if (n > 1000000) return joule_errorf(JOULE_ERR_LIMIT, "%zu runs is too many", n);
    struct joule_bench_run_plan *v = calloc(n, sizeof *v);
    if (!v) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    size_t i = 0;
    for (int m = 0; m < s->n_models; m++) {
        int64_t params = joule_bench_model_params(s->models[m]);
        char tmp[1024];
        const char *name = base_name(s->models[m], tmp, sizeof tmp);
        for (int e = 0; e < s->n_engines; e++)
            for (int p = 0; p < s->n_providers; p++)
                for (int r = 1; r <= s->reps; r++) {
                    struct joule_bench_run_plan *x = &v[i++];
                    snprintf(x->model, sizeof x->model, "%s", name);
                    bench_abs_path(s->models[m], x->model_path, sizeof x->model_path);
                    x->model_params = params;
                    snprintf(x->size_category, sizeof x->size_category, "%s",
                             joule_bench_size_category(params));
                    snprintf(x->engine, sizeof x->engine, "%s", s->engines[e]);
                    snprintf(x->provider, sizeof x->provider, "%s", s->providers[p]);
                    x->repetition = r;
                }
    }
    uint64_t rng = s->seed;
    for (size_t k = n; k > 1; k--) {
        size_t j = (size_t)(splitmix64(&rng) % k);
        struct joule_bench_run_plan t = v[k - 1];
        v[k - 1] = v[j];
        v[j] = t;
    }
    for (size_t k = 0; k < n; k++)
        v[k].order_index = (int)k;
    *out = v;
    *n_out = n;
    return JOULE_OK;
}

/* ---- one run ------------------------------------------------------------------- */

struct run_ctx {
    const struct joule_bench_settings *s;
    const struct joule_bench_events *ev;
    const struct joule_bench_run_plan *plan;
    const struct bench_prompt *prompts;
    size_t n_prompts;
    struct joule_bench_progress prog;
    int64_t last_progress_ns;
    /* estimates for the time left */
    double avg_run_s, avg_work_s; /* < 0 unknown */
    int runs_left_after;
    /* request workers */
    pthread_mutex_t mu;
    size_t next;
    int abort;
    size_t n_done;
    char base_url[64];
    struct bench_meter *meter;
    struct joule_bench_request *req;
    unsigned char *attempted;
};

static void phase_begin(struct joule_bench_phase_times *p)
{
    p->start_wall_ns = joule_wall_ns();
    p->start_mono_ns = joule_now_ns();
}
static void phase_end(struct joule_bench_phase_times *p)
{
    p->end_wall_ns = joule_wall_ns();
    p->end_mono_ns = joule_now_ns();
}

static double eta(struct run_ctx *c, enum joule_bench_phase ph, double phase_left_s)
{
    double work_est = c->avg_work_s;
    if (ph == JOULE_BENCH_PHASE_WORK && c->prog.requests_done > 0) {
        double per = c->prog.phase_elapsed_s / c->prog.requests_done;
        work_est = per * (c->prog.n_requests - c->prog.requests_done);
    }
    double cur;
    if (ph <= JOULE_BENCH_PHASE_WARMUP) {
        if (work_est < 0) return -1;
        cur = (ph == JOULE_BENCH_PHASE_WARMUP ? phase_left_s : c->s->warmup_s) +
              (c->avg_work_s >= 0 ? c->avg_work_s : work_est) + c->s->cooldown_s;
    } else if (ph == JOULE_BENCH_PHASE_WORK) {
        if (work_est < 0) return -1;
        cur = work_est + c->s->cooldown_s;
    } else {
        cur = ph == JOULE_BENCH_PHASE_COOLDOWN ? phase_left_s : 0;
    }
    if (c->runs_left_after == 0) return cur;
    double per_run = c->avg_run_s;
    if (per_run < 0) {
        double w = c->avg_work_s >= 0 ? c->avg_work_s : work_est;
        if (w < 0) return -1;
        per_run = c->s->warmup_s + w + c->s->cooldown_s;
    }
    return cur + per_run * c->runs_left_after;
}

static void progress(struct run_ctx *c, enum joule_bench_phase ph, int64_t phase_start_ns,
                     double phase_total_s, int force)
{
    int64_t now = joule_now_ns();
    if (!c->ev || !c->ev->on_progress) return;
    if (!force && now - c->last_progress_ns < PROGRESS_NS) return;
    c->last_progress_ns = now;
    c->prog.phase = ph;
    c->prog.phase_elapsed_s = (double)(now - phase_start_ns) / 1e9;
    c->prog.phase_total_s = phase_total_s;
    pthread_mutex_lock(&c->mu);
    c->prog.requests_done = (int)c->n_done;
    pthread_mutex_unlock(&c->mu);
    double left = phase_total_s > 0 ? phase_total_s - c->prog.phase_elapsed_s : 0;
    c->prog.eta_s = eta(c, ph, left > 0 ? left : 0);
    c->ev->on_progress(c->ev->user, &c->prog);
}

/* Idle for `seconds` watching the child; 0 if it died meanwhile. */
static int idle_phase(struct run_ctx *c, struct bench_child *child, enum joule_bench_phase ph,
                      double seconds)
{
    int64_t start = joule_now_ns(), end = start + (int64_t)(seconds * 1e9);
    progress(c, ph, start, seconds, 1);
    for (;;) {
        if (bench_child_exited(child)) return 0;
        int64_t now = joule_now_ns();
        if (now >= end) return 1;
        joule_sleep_ns(end - now < POLL_NS ? end - now : POLL_NS);
        progress(c, ph, start, seconds, 0);
    }
}

static void *request_worker(void *arg)
{
    struct run_ctx *c = arg;
    struct bench_client *cl = NULL;
    if (bench_client_init(c->base_url, c->s->request_timeout_s, &cl) != JOULE_OK) return NULL;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        size_t i = c->next;
        int stop = c->abort || i >= c->n_prompts;
        if (!stop) {
            c->next++;
            c->attempted[i] = 1;
        }
        pthread_mutex_unlock(&c->mu);
        if (stop) break;
        struct joule_bench_request *r = &c->req[i];
        r->idx = (int)i;
        bench_client_complete(cl, c->s->api, c->plan->model, c->plan->engine, &c->prompts[i],
                              c->s->max_length, r);
        bench_meter_sample_now(c->meter); /* a reading at the end of every answer */
        pthread_mutex_lock(&c->mu);
        c->n_done++;
        pthread_mutex_unlock(&c->mu);
    }
    bench_client_free(cl);
    return NULL;
}

/* After a request got no HTTP answer: the server may be dying, and it closes
 * its sockets before waitpid can see its exit. Wait until either is certain
 * (it exits, or it answers GET /health), so that a crash during the requests
 * is not reported as one in the cool-down. 0 if the child died. */
static int settle_alive(struct run_ctx *c, struct bench_child *child)
{
    struct bench_client *hc = NULL;
    if (bench_client_init(c->base_url, 2.0, &hc) != JOULE_OK) return !bench_child_exited(child);
    int64_t deadline = joule_now_ns() + SETTLE_NS;
    int alive = 1;
    for (;;) {
        if (bench_child_exited(child)) {
            alive = 0;
            break;
        }
        if (bench_client_health(hc, 2.0) || joule_now_ns() >= deadline) break;
        joule_sleep_ns(POLL_NS / 5);
    }
    bench_client_free(hc);
    return alive;
}

/* Send every prompt with `concurrency` workers; 0 if the child died meanwhile. */
static int work_phase(struct run_ctx *c, struct bench_child *child)
{
    int nw = c->s->concurrency;
    if ((size_t)nw > c->n_prompts) nw = (int)c->n_prompts;
    pthread_t th[1024];
    int started = 0;
    int64_t start = joule_now_ns();
    progress(c, JOULE_BENCH_PHASE_WORK, start, 0, 1);
    for (int i = 0; i < nw; i++)
        if (pthread_create(&th[started], NULL, request_worker, c) == 0) started++;
    int alive = 1;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int finished = c->n_done >= c->n_prompts;
        pthread_mutex_unlock(&c->mu);
        if (finished || !started) break;
        if (bench_child_exited(child)) {
            alive = 0;
            pthread_mutex_lock(&c->mu);
            c->abort = 1;
            pthread_mutex_unlock(&c->mu);
            break;
        }
        joule_sleep_ns(POLL_NS / 5);
        progress(c, JOULE_BENCH_PHASE_WORK, start, 0, 0);
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (alive && bench_child_exited(child)) alive = 0;
    int unanswered = 0;
    for (size_t i = 0; alive && i < c->n_prompts; i++)
        unanswered |= c->attempted[i] && c->req[i].http_status == 0;
    if (unanswered) alive = settle_alive(c, child);
    progress(c, JOULE_BENCH_PHASE_WORK, start, 0, 1);
    return alive;
}

/* The last line of the server's log, for the error text of a failed run. */
static void log_tail(const char *path, char *out, size_t cap)
{
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512], last[512] = "";
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0]) snprintf(last, sizeof last, "%s", line);
    }
    fclose(f);
    if (last[0]) snprintf(out, cap, "; server log: %s", last);
}

static enum joule_bench_phase phase_of(const struct joule_bench_run_result *r, int64_t t)
{
    if (!r->warmup.start_mono_ns || t < r->warmup.start_mono_ns) return JOULE_BENCH_PHASE_STARTUP;
    if (!r->work.start_mono_ns || t < r->work.start_mono_ns) return JOULE_BENCH_PHASE_WARMUP;
    if (!r->cooldown.start_mono_ns || t < r->cooldown.start_mono_ns) return JOULE_BENCH_PHASE_WORK;
    if (!r->cooldown.end_mono_ns || t < r->cooldown.end_mono_ns) return JOULE_BENCH_PHASE_COOLDOWN;
    return JOULE_BENCH_PHASE_SHUTDOWN;
}

static double mean_acc(double sum, int n)
{
    return n ? sum / n : NAN;
}

/* Energy, baselines, means: everything derived from the readings. */
static void derive(struct joule_bench_run_result *r, struct joule_bench_sample *x, size_t n,
                   int interval_ms, struct joule_bench_request *req, size_t n_req)
{
    for (size_t i = 0; i < n; i++)
        x[i].phase = phase_of(r, x[i].t_ns);
    int64_t w0 = r->work.start_mono_ns, w1 = r->work.end_mono_ns;
    int have_work = w0 && w1 && w1 >= w0;
    r->execution_s = have_work ? (double)(w1 - w0) / 1e9 : NAN;
    /* Idle baseline: the second half of the warm-up. */
    int64_t i0 = 0, i1 = 0;
    if (r->warmup.start_mono_ns && r->warmup.end_mono_ns) {
        i0 = r->warmup.start_mono_ns + (r->warmup.end_mono_ns - r->warmup.start_mono_ns) / 2;
        i1 = r->warmup.end_mono_ns;
        if (i1 - i0 < 2LL * interval_ms * 1000000) i0 = i1 = 0;
    }
    r->idle_start_mono_ns = i0;
    r->idle_end_mono_ns = i1;
    for (size_t k = 0; k < r->n_sources; k++) {
        struct joule_bench_run_energy *e = &r->energy[k];
        e->idle_w = i1 > i0 ? (bench_energy_at(x, n, k, i1) - bench_energy_at(x, n, k, i0)) /
                                  ((double)(i1 - i0) / 1e9)
                            : NAN;
        e->gross_j = have_work ? bench_energy_at(x, n, k, w1) - bench_energy_at(x, n, k, w0) : NAN;
        e->net_j = e->gross_j - e->idle_w * r->execution_s;
    }
    for (size_t i = 0; i < n_req; i++)
        for (size_t k = 0; k < r->n_sources; k++) {
            double g =
                bench_energy_at(x, n, k, req[i].end_ns) - bench_energy_at(x, n, k, req[i].start_ns);
            req[i].energy_j[k] = g;
            req[i].net_energy_j[k] = g - r->energy[k].idle_w * req[i].latency_ms / 1000.0;
        }
    double cpu = 0, ram = 0, scpu = 0, gu = 0, gm = 0, gmem = 0;
    int ncpu = 0, nram = 0, nscpu = 0, ngu = 0, ngm = 0, ngmem = 0;
    r->server_rss_mb_max = NAN;
    r->gpu_mem_used_mb_max = NAN;
    for (size_t i = 0; have_work && i < n; i++) {
        if (x[i].t_ns < w0 || x[i].t_ns > w1) continue;
        if (isfinite(x[i].cpu_pct)) cpu += x[i].cpu_pct, ncpu++;
        if (isfinite(x[i].ram_pct)) ram += x[i].ram_pct, nram++;
        if (isfinite(x[i].server_cpu_pct)) scpu += x[i].server_cpu_pct, nscpu++;
        if (isfinite(x[i].server_rss_mb) && !(x[i].server_rss_mb <= r->server_rss_mb_max))
            r->server_rss_mb_max = x[i].server_rss_mb;
        if (isfinite(x[i].gpu_util_pct)) gu += x[i].gpu_util_pct, ngu++;
        if (isfinite(x[i].gpu_mem_util_pct)) gm += x[i].gpu_mem_util_pct, ngm++;
        if (isfinite(x[i].gpu_mem_used_mb)) {
            gmem += x[i].gpu_mem_used_mb, ngmem++;
            if (!(x[i].gpu_mem_used_mb <= r->gpu_mem_used_mb_max))
                r->gpu_mem_used_mb_max = x[i].gpu_mem_used_mb;
        }
    }
    r->cpu_pct_mean = mean_acc(cpu, ncpu);
    r->ram_pct_mean = mean_acc(ram, nram);
    r->server_cpu_pct_mean = mean_acc(scpu, nscpu);
    r->gpu_util_pct_mean = mean_acc(gu, ngu);
    r->gpu_mem_util_pct_mean = mean_acc(gm, ngm);
    r->gpu_mem_used_mb_mean = mean_acc(gmem, ngmem);
    for (size_t i = 0; i < n_req; i++) {
        if (req[i].ok)
            r->requests_ok++;
        else
            r->requests_failed++;
        if (req[i].prompt_tokens >= 0) r->prompt_tokens += req[i].prompt_tokens;
        if (req[i].completion_tokens >= 0) r->completion_tokens += req[i].completion_tokens;
    }
}

static const char *server_program(char *buf, size_t cap)
{
    const char *e = getenv("JOULE_BENCH_SERVER_CMD");
    if (e && *e) return e;
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0) return NULL;
    buf[n] = 0;
    return buf;
}

static enum joule_status do_run(struct run_ctx *c, struct joule_bench_store *store,
                                const char *log_dir, struct joule_bench_run_result *r)
{
    const struct joule_bench_settings *s = c->s;
    const struct joule_bench_run_plan *p = c->plan;
    memset(r, 0, sizeof *r);
    r->run_id = p->id;
    enum joule_status st = joule_bench_store_mark_running(store, p->id);
    if (st != JOULE_OK) return st;

    char exe_buf[1024], port_s[16], threads_s[16], log_path[1200];
    const char *exe = server_program(exe_buf, sizeof exe_buf);
    int port = bench_free_port(s->port_base);
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(threads_s, sizeof threads_s, "%d", s->threads);
    snprintf(log_path, sizeof log_path, "%s/run-%lld-attempt-%d.log", log_dir, (long long)p->id,
             p->attempts + 1);
    r->server_port = port;
    char *argv[16];
    int a = 0;
    argv[a++] = (char *)exe;
    argv[a++] = "serve";
    argv[a++] = "--model";
    argv[a++] = (char *)p->model_path;
    argv[a++] = "--engine";
    argv[a++] = (char *)p->engine;
    argv[a++] = "--provider";
    argv[a++] = (char *)p->provider;
    argv[a++] = "--host";
    argv[a++] = "127.0.0.1";
    argv[a++] = "--port";
    argv[a++] = port_s;
    if (s->threads > 0) {
        argv[a++] = "--threads";
        argv[a++] = threads_s;
    }
    argv[a] = NULL;

    size_t n_req_cap = c->n_prompts;
    c->req = calloc(n_req_cap ? n_req_cap : 1, sizeof *c->req);
    c->attempted = calloc(n_req_cap ? n_req_cap : 1, 1);
    struct joule_bench_sample *samples = NULL;
    size_t n_samples = 0;
    struct bench_child child;
    memset(&child, 0, sizeof child);
    const char *fail_phase = NULL;
    char why[512] = "";

    if (!c->req || !c->attempted) {
        snprintf(r->error, sizeof r->error, "out of memory");
        r->failed = 1;
    } else if (!exe || !port) {
        snprintf(r->error, sizeof r->error, "%s",
                 !exe ? "cannot find the joule program" : "no free TCP port");
        r->failed = 1;
    } else if ((st = bench_meter_start(s->sensors, s->interval_ms, &c->meter)) != JOULE_OK) {
        snprintf(r->error, sizeof r->error, "sensors: %s", joule_last_error());
        r->failed = 1;
        st = JOULE_OK;
    } else if ((st = bench_child_spawn(argv, log_path, &child)) != JOULE_OK) {
        snprintf(r->error, sizeof r->error, "cannot start the server: %s", joule_last_error());
        r->failed = 1;
        st = JOULE_OK;
    } else {
        r->server_pid = child.pid;
        bench_meter_watch_pid(c->meter, child.pid);
        bench_meter_mark(c->meter, "startup");
        snprintf(c->base_url, sizeof c->base_url, "http://127.0.0.1:%d", port);
        struct bench_client *hc = NULL;
        int healthy = 0;
        int64_t t0 = joule_now_ns(), deadline = t0 + (int64_t)(s->startup_timeout_s * 1e9);
        if (bench_client_init(c->base_url, 2.0, &hc) == JOULE_OK) {
            progress(c, JOULE_BENCH_PHASE_STARTUP, t0, 0, 1);
            while (!bench_child_exited(&child) && joule_now_ns() < deadline) {
                if (bench_client_health(hc, 2.0)) {
                    healthy = 1;
                    break;
                }
                joule_sleep_ns(POLL_NS);
                progress(c, JOULE_BENCH_PHASE_STARTUP, t0, 0, 0);
            }
            bench_client_free(hc);
        }
        if (!healthy) {
            fail_phase = "start-up";
            if (!child.exited)
                snprintf(why, sizeof why, "no answer to GET /health within %.0f s",
                         s->startup_timeout_s);
        } else {
            bench_meter_sample_now(c->meter);
            bench_meter_mark(c->meter, "warmup");
            phase_begin(&r->warmup);
            int ok = idle_phase(c, &child, JOULE_BENCH_PHASE_WARMUP, s->warmup_s);
            bench_meter_sample_now(c->meter);
            phase_end(&r->warmup);
            if (!ok) fail_phase = "warm-up";
            if (ok) {
                bench_meter_mark(c->meter, "work");
                phase_begin(&r->work);
                ok = work_phase(c, &child);
                phase_end(&r->work);
                bench_meter_sample_now(c->meter);
                if (!ok) fail_phase = "requests";
            }
            if (ok) {
                bench_meter_mark(c->meter, "cooldown");
                phase_begin(&r->cooldown);
                ok = idle_phase(c, &child, JOULE_BENCH_PHASE_COOLDOWN, s->cooldown_s);
                bench_meter_sample_now(c->meter);
                phase_end(&r->cooldown);
                if (!ok) fail_phase = "cool-down";
            }
        }
        if (fail_phase && !why[0] && child.exited) {
            char d[128], tail[300];
            bench_child_describe(&child, d, sizeof d);
            log_tail(log_path, tail, sizeof tail);
            snprintf(why, sizeof why, "server %s during %s%s", d, fail_phase, tail);
        }
        bench_meter_mark(c->meter, "shutdown");
        progress(c, JOULE_BENCH_PHASE_SHUTDOWN, joule_now_ns(), 0, 1);
        bench_child_stop(&child, s->stop_grace_s);
        bench_meter_stop(c->meter);
        if (fail_phase) {
            r->failed = 1;
            snprintf(r->error, sizeof r->error, "%s", why[0] ? why : "server failed");
        }
        r->n_sources = bench_meter_sources(c->meter, r->sources);
        st = bench_meter_samples(c->meter, &samples, &n_samples);
        if (st != JOULE_OK) {
            r->failed = 1;
            snprintf(r->error, sizeof r->error, "%s", joule_last_error());
            st = JOULE_OK;
        }
    }
    /* Only the prompts that were sent are stored, in prompt order. */
    size_t n_req = 0;
    for (size_t i = 0; c->attempted && i < c->n_prompts; i++)
        if (c->attempted[i]) c->req[n_req++] = c->req[i];
    derive(r, samples, n_samples, s->interval_ms, c->req, n_req);
    if (!r->failed && n_req > 0 && r->requests_ok == 0) {
        r->failed = 1;
        snprintf(r->error, sizeof r->error, "every request failed (first: %s)", c->req[0].error);
    }
    r->samples = samples;
    r->n_samples = n_samples;
    r->requests = c->req;
    r->n_requests = n_req;
    if (st == JOULE_OK) st = joule_bench_store_finish_run(store, r);
    r->samples = NULL; /* freed below; the caller sees only the numbers */
    r->requests = NULL;
    free(samples);
    free(c->req);
    free(c->attempted);
    c->req = NULL;
    c->attempted = NULL;
    bench_meter_free(c->meter);
    c->meter = NULL;
    return st;
}

/* ---- the campaign --------------------------------------------------------------- */

static void message(const struct joule_bench_events *ev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void message(const struct joule_bench_events *ev, const char *fmt, ...)
{
    if (!ev || !ev->on_message) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ev->on_message(ev->user, buf);
}

enum joule_status joule_bench_campaign_run(const struct joule_bench_settings *s,
                                           const struct joule_bench_events *ev,
                                           struct joule_bench_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    enum joule_status st = joule_bench_settings_check(s);
    if (st != JOULE_OK) return st;
    struct bench_prompt *prompts = NULL;
    size_t n_prompts = 0;
    st = bench_prompts_load(s->prompts, s->limit, &prompts, &n_prompts);
    if (st != JOULE_OK) return st;
    /* The sensors must be usable before anything is recorded. */
    struct bench_meter *probe = NULL;
    st = bench_meter_start(s->sensors, s->interval_ms, &probe);
    if (st != JOULE_OK) {
        bench_prompts_free(prompts, n_prompts);
        return st;
    }
    bench_meter_stop(probe);
    bench_meter_free(probe);

    struct joule_bench_run_plan *plans = NULL, *runs = NULL;
    size_t n_plans = 0, n_runs = 0;
    char *settings = NULL;
    struct joule_bench_store *store = NULL;
    char log_dir[1100];
    snprintf(log_dir, sizeof log_dir, "%s.logs", s->db);
    st = plan_runs(s, &plans, &n_plans);
    if (st == JOULE_OK) {
        settings = joule_bench_settings_json(s);
        if (!settings) st = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    }
    if (st == JOULE_OK) st = joule_bench_store_open(s->db, &store);
    if (st == JOULE_OK) {
        struct joule_bench_machine m;
        joule_bench_machine_describe(&m);
        int created = 0;
        st = joule_bench_store_campaign(store, s->name, settings, &m, plans, n_plans,
                                        &sum->campaign_id, &created);
        sum->resumed = !created;
    }
    if (st == JOULE_OK)
        st = joule_bench_store_reset_interrupted(store, sum->campaign_id, &sum->n_reset);
    if (st == JOULE_OK) st = joule_bench_store_list_runs(store, sum->campaign_id, &runs, &n_runs);
    if (st == JOULE_OK) st = joule_mkdirs(log_dir);
    if (st == JOULE_OK) {
        sum->n_runs = (int)n_runs;
        int todo = 0;
        for (size_t i = 0; i < n_runs; i++)
            if (strcmp(runs[i].status, "done"))
                todo++;
            else
                sum->n_skipped++;
        if (sum->resumed)
            message(ev, "resuming campaign %lld: %d of %zu runs done, %d interrupted run(s) redone",
                    (long long)sum->campaign_id, sum->n_skipped, n_runs, sum->n_reset);
        struct run_ctx c;
        memset(&c, 0, sizeof c);
        pthread_mutex_init(&c.mu, NULL);
        c.s = s;
        c.ev = ev;
        c.prompts = prompts;
        c.n_prompts = n_prompts;
        c.avg_run_s = c.avg_work_s = -1;
        c.prog.n_runs = todo;
        c.prog.n_requests = (int)n_prompts;
        double sum_run = 0, sum_work = 0;
        int n_timed = 0, k = 0;
        for (size_t i = 0; st == JOULE_OK && i < n_runs; i++) {
            if (!strcmp(runs[i].status, "done")) continue;
            c.plan = &runs[i];
            c.prog.run = &runs[i];
            c.prog.run_index = k++;
            c.runs_left_after = todo - k;
            c.next = 0;
            c.n_done = 0;
            c.abort = 0;
            c.last_progress_ns = 0;
            struct joule_bench_run_result r;
            int64_t t0 = joule_now_ns();
            st = do_run(&c, store, log_dir, &r);
            if (st != JOULE_OK) break;
            if (r.failed)
                sum->n_failed++;
            else {
                sum->n_done++;
                sum_run += (double)(joule_now_ns() - t0) / 1e9;
                sum_work += r.execution_s;
                n_timed++;
                c.avg_run_s = sum_run / n_timed;
                c.avg_work_s = sum_work / n_timed;
            }
            c.prog.requests_done = r.requests_ok + r.requests_failed;
            if (ev && ev->on_run_end) ev->on_run_end(ev->user, &c.prog, &r);
        }
        pthread_mutex_destroy(&c.mu);
    }
    free(runs);
    free(plans);
    free(settings);
    joule_bench_store_close(store);
    bench_prompts_free(prompts, n_prompts);
    return st;
}
