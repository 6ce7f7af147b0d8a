/* The sampler: a thread reading every available source at a fixed interval, keeping the
 * samples in memory (chunks that never move, so pointers handed out stay valid), phase
 * marks, and interval queries over the cumulative energy figures. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sensors/sensors_internal.h"
#include "util/clock.h"

#define CHUNK 1024

struct chunk {
    struct joule_sample s[CHUNK];
    struct joule_sensor_reading *r; /* CHUNK × n_src */
};

struct mark {
    int64_t t_ns;
    char label[64];
};

struct joule_sampler {
    struct joule_sensor_set *set;
    struct joule_sampler_params params;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, running, stopped;
    struct chunk **chunks;
    size_t nchunks, chunk_cap;
    size_t dropped;  /* samples before chunks[0] that were dropped (multiple of CHUNK) */
    size_t nsamples; /* samples ever taken (kept = nsamples - dropped) */
    struct mark *marks;
    size_t nmarks, mark_cap;
    atomic_int watch_pid;
    int tree_pid;
    uint64_t tree_prev_ticks;
    int64_t tree_prev_t;
    int tree_have_prev;
    double *idle_w;
};

struct joule_sampler_params joule_sampler_default_params(void)
{
    struct joule_sampler_params p;
    memset(&p, 0, sizeof p);
    p.interval_ns = 100000000LL;
    return p;
}

static struct joule_sample *sample_at(struct joule_sampler *s, size_t kept_index)
{
    return &s->chunks[kept_index / CHUNK]->s[kept_index % CHUNK];
}

static size_t kept(const struct joule_sampler *s)
{
    return s->nsamples - s->dropped;
}

/* Reserve the next slot; NULL on allocation failure. Called with mu held. */
static struct joule_sample *next_slot(struct joule_sampler *s, struct joule_sensor_reading **r)
{
    size_t n = s->set->n;
    size_t k = kept(s);
    if (k % CHUNK == 0 && k / CHUNK == s->nchunks) {
        if (s->params.max_samples && k >= s->params.max_samples + CHUNK && s->nchunks > 1) {
            /* drop the oldest chunk */
            free(s->chunks[0]->r);
            free(s->chunks[0]);
            memmove(s->chunks, s->chunks + 1, (s->nchunks - 1) * sizeof *s->chunks);
            s->nchunks--;
            s->dropped += CHUNK;
            k -= CHUNK;
        }
        if (s->nchunks == s->chunk_cap) {
            size_t cap = s->chunk_cap ? s->chunk_cap * 2 : 8;
            struct chunk **p = realloc(s->chunks, cap * sizeof *p);
            if (!p) return NULL;
            s->chunks = p;
            s->chunk_cap = cap;
        }
        struct chunk *c = calloc(1, sizeof *c);
        if (!c) return NULL;
        c->r = calloc(CHUNK * (n ? n : 1), sizeof *c->r);
        if (!c->r) {
            free(c);
            return NULL;
        }
        s->chunks[s->nchunks++] = c;
    }
    struct chunk *c = s->chunks[k / CHUNK];
    *r = c->r + (k % CHUNK) * n;
    return &c->s[k % CHUNK];
}

/* Fold one raw read into the source's cumulative energy. */
static void accumulate(struct sensor_source *src, const struct sensor_raw *raw, int64_t t_ns,
                       struct joule_sensor_reading *out)
{
    double e = src->energy_j;
    double p = raw->power_w;
    switch (raw->form) {
    case SENSOR_E_COUNTER:
        if (src->have_prev) {
            uint64_t d;
            if (raw->count >= src->prev_count)
                d = raw->count - src->prev_count;
            else if (raw->range && src->prev_count < raw->range)
                d = raw->range - src->prev_count + raw->count; /* one wrap */
            else
                d = raw->count - src->prev_count; /* 64-bit wrap: unsigned arithmetic */
            double dj = (double)d * raw->scale_j;
            e += dj;
            if (t_ns > src->prev_t_ns) p = dj / ((double)(t_ns - src->prev_t_ns) * 1e-9);
        }
        src->prev_count = raw->count;
        break;
    case SENSOR_E_CUMULATIVE:
        if (src->have_prev && raw->cum_j > src->prev_cum_j) e += raw->cum_j - src->prev_cum_j;
        src->prev_cum_j = raw->cum_j;
        break;
    case SENSOR_E_POWER_INST:
        if (src->have_prev && !isnan(src->prev_power_w) && t_ns > src->prev_t_ns)
            e += 0.5 * (src->prev_power_w + raw->power_w) * (double)(t_ns - src->prev_t_ns) * 1e-9;
        break;
    case SENSOR_E_POWER_MEAN:
        if (src->have_prev && t_ns > src->prev_t_ns)
            e += raw->power_w * (double)(t_ns - src->prev_t_ns) * 1e-9;
        break;
    case SENSOR_E_NONE:
        e = NAN;
        break;
    }
    src->energy_j = e;
    src->prev_power_w = raw->power_w;
    src->prev_form = raw->form;
    src->prev_t_ns = t_ns;
    src->have_prev = 1;
    out->energy_j = e;
    out->power_w = src->have_prev ? p : NAN;
    out->util_percent = raw->util_percent;
    out->mem_util_percent = raw->mem_util_percent;
    out->mem_used_bytes = raw->mem_used_bytes;
    out->mem_total_bytes = raw->mem_total_bytes;
    out->current_ma = raw->current_ma;
    out->power_factor = raw->power_factor;
    out->ok = 1;
}

/* Take one sample. Called with mu held; returns the stored sample (NULL if none could be
 * stored) for notify(), which the caller runs after unlocking. */
static const struct joule_sample *take_sample(struct joule_sampler *s)
{
    struct joule_sensor_set *set = s->set;
    struct joule_sensor_reading *r;
    struct joule_sample *smp = next_slot(s, &r);
    if (!smp) return NULL;
    struct procfs_system sys = {NAN, 0, 0, NAN};
    if (set->proc) procfs_read_system(set->proc, &sys);
    int64_t t = joule_now_ns();
    /* keep timestamps strictly increasing so interpolation never divides by zero */
    if (kept(s) > 0) {
        const struct joule_sample *last = sample_at(s, kept(s) - 1);
        if (t <= last->t_ns) t = last->t_ns + 1;
    }
    struct sensor_ctx ctx = {t, sys.cpu_percent, sys.ram_used_bytes, sys.ram_total_bytes};
    for (size_t i = 0; i < set->n; i++) {
        struct sensor_source *src = &set->src[i];
        struct joule_sensor_reading *o = &r[i];
        memset(o, 0, sizeof *o);
        o->energy_j = src->info.has_energy ? src->energy_j : NAN;
        o->power_w = o->util_percent = o->mem_util_percent = NAN;
        o->mem_used_bytes = o->mem_total_bytes = o->current_ma = o->power_factor = NAN;
        if (!src->read ||
            (src->state_now != JOULE_SENSOR_OK && src->state_now != JOULE_SENSOR_ERROR))
            continue; /* unavailable from the start, or lost: energy stays where it was */
        if (src->info.state != JOULE_SENSOR_OK) continue;
        struct sensor_raw raw;
        sensor_raw_init(&raw);
        char reason[256] = "";
        enum joule_sensor_state st = src->read(src, &ctx, &raw, reason, sizeof reason);
        if (st != JOULE_SENSOR_OK) {
            if (src->state_now == JOULE_SENSOR_OK) {
                char when[64];
                snprintf(when, sizeof when, " (at sample %zu)", s->nsamples);
                snprintf(src->reason_now, sizeof src->reason_now, "%.190s%s", reason, when);
            }
            src->state_now = st;
            /* a power source resumes integration only from its next good read */
            if (src->prev_form != SENSOR_E_COUNTER && src->prev_form != SENSOR_E_CUMULATIVE)
                src->have_prev = 0;
            continue;
        }
        if (src->state_now == JOULE_SENSOR_ERROR) {
            src->state_now = JOULE_SENSOR_OK; /* recovered (e.g. the wattmeter answered) */
            src->reason_now[0] = '\0';
        }
        accumulate(src, &raw, t, o);
        if (!src->info.has_energy) o->energy_j = NAN;
    }
    smp->t_ns = t;
    smp->cpu_percent = sys.cpu_percent;
    smp->ram_percent = sys.ram_percent;
    smp->ram_used_bytes = sys.ram_used_bytes;
    smp->ram_total_bytes = sys.ram_total_bytes;
    smp->proc_cpu_percent = NAN;
    smp->proc_rss_bytes = 0;
    int pid = atomic_load(&s->watch_pid);
    if (pid != s->tree_pid) {
        s->tree_pid = pid;
        s->tree_have_prev = 0;
    }
    if (pid > 0 && set->proc) {
        uint64_t ticks;
        int64_t rss;
        int found = procfs_read_tree(set->proc, pid, &ticks, &rss);
        if (found > 0) {
            smp->proc_rss_bytes = rss;
            if (s->tree_have_prev && t > s->tree_prev_t) {
                double dt = (double)(t - s->tree_prev_t) * 1e-9;
                double d = ticks > s->tree_prev_ticks ? (double)(ticks - s->tree_prev_ticks) : 0;
                smp->proc_cpu_percent = 100.0 * d / (double)procfs_ticks_per_second() / dt;
            }
            s->tree_prev_ticks = ticks;
            s->tree_prev_t = t;
            s->tree_have_prev = 1;
        }
    }
    smp->src = r;
    s->nsamples++;
    return smp;
}

/* Run the callback without the lock, so it may call the sampler's functions. Samples live in
 * chunks that never move, and only the oldest chunk is ever dropped, so smp stays valid. */
static void notify(struct joule_sampler *s, const struct joule_sample *smp)
{
    if (smp && s->params.on_sample) s->params.on_sample(s->params.user, smp);
}

static void *sampler_main(void *arg)
{
    struct joule_sampler *s = arg;
    pthread_mutex_lock(&s->mu);
    int64_t next = joule_now_ns();
    while (!s->stop) {
        next += s->params.interval_ns;
        int64_t now = joule_now_ns();
        if (next < now) next = now; /* fell behind (a slow read): do not burst */
        struct timespec ts = {.tv_sec = next / 1000000000LL, .tv_nsec = next % 1000000000LL};
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &ts) != ETIMEDOUT) {
        }
        if (s->stop) break;
        const struct joule_sample *smp = take_sample(s);
        pthread_mutex_unlock(&s->mu);
        notify(s, smp);
        pthread_mutex_lock(&s->mu);
    }
    const struct joule_sample *last = take_sample(s); /* the last sample, at stop */
    pthread_mutex_unlock(&s->mu);
    notify(s, last);
    return NULL;
}

enum joule_status joule_sampler_start(struct joule_sensor_set *set,
                                      const struct joule_sampler_params *params,
                                      struct joule_sampler **out)
{
    if (!out || !set) return joule_errorf(JOULE_ERR_INVALID_ARG, "sampler: NULL argument");
    *out = NULL;
    struct joule_sampler_params p = params ? *params : joule_sampler_default_params();
    if (p.interval_ns <= 0) p.interval_ns = 100000000LL;
    if (p.interval_ns < 1000000LL || p.interval_ns > 60000000000LL)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "sampler interval %lld ns outside 1 ms .. 60 s",
                            (long long)p.interval_ns);
    if (set->borrowed) return joule_errorf(JOULE_ERR_INVALID_ARG, "sensor set already sampled");
    struct joule_sampler *s = calloc(1, sizeof *s);
    if (!s) return joule_errorf(JOULE_ERR_NOMEM, "sampler");
    s->set = set;
    s->params = p;
    s->idle_w = malloc((set->n ? set->n : 1) * sizeof *s->idle_w);
    if (!s->idle_w) {
        free(s);
        return joule_errorf(JOULE_ERR_NOMEM, "sampler");
    }
    for (size_t i = 0; i < set->n; i++)
        s->idle_w[i] = NAN;
    atomic_init(&s->watch_pid, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    /* fresh accumulators */
    for (size_t i = 0; i < set->n; i++) {
        struct sensor_source *src = &set->src[i];
        src->have_prev = 0;
        src->energy_j = 0;
        src->prev_power_w = NAN;
    }
    pthread_mutex_lock(&s->mu);
    const struct joule_sample *first = take_sample(s);
    pthread_mutex_unlock(&s->mu);
    notify(s, first);
    if (pthread_create(&s->th, NULL, sampler_main, s) != 0) {
        set->borrowed = 0;
        joule_sampler_free(s);
        return joule_errorf(JOULE_ERR_INTERNAL, "sampler: pthread_create failed");
    }
    s->running = 1;
    set->borrowed = 1;
    *out = s;
    return JOULE_OK;
}

void joule_sampler_stop(struct joule_sampler *s)
{
    if (!s || !s->running) return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    s->running = 0;
    s->stopped = 1;
}

void joule_sampler_free(struct joule_sampler *s)
{
    if (!s) return;
    joule_sampler_stop(s);
    s->set->borrowed = 0;
    for (size_t i = 0; i < s->nchunks; i++) {
        free(s->chunks[i]->r);
        free(s->chunks[i]);
    }
    free(s->chunks);
    free(s->marks);
    free(s->idle_w);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

int64_t joule_sampler_sample_now(struct joule_sampler *s)
{
    pthread_mutex_lock(&s->mu);
    const struct joule_sample *smp = s->stopped ? NULL : take_sample(s);
    int64_t t = kept(s) ? sample_at(s, kept(s) - 1)->t_ns : 0;
    pthread_mutex_unlock(&s->mu);
    notify(s, smp);
    return t;
}

void joule_sampler_watch_pid(struct joule_sampler *s, int pid)
{
    atomic_store(&s->watch_pid, pid);
}

int64_t joule_sampler_mark(struct joule_sampler *s, const char *label)
{
    int64_t t = joule_now_ns();
    pthread_mutex_lock(&s->mu);
    if (s->nmarks == s->mark_cap) {
        size_t cap = s->mark_cap ? s->mark_cap * 2 : 16;
        struct mark *m = realloc(s->marks, cap * sizeof *m);
        if (!m) {
            pthread_mutex_unlock(&s->mu);
            return t;
        }
        s->marks = m;
        s->mark_cap = cap;
    }
    s->marks[s->nmarks].t_ns = t;
    snprintf(s->marks[s->nmarks].label, sizeof s->marks[s->nmarks].label, "%s", label ? label : "");
    s->nmarks++;
    pthread_mutex_unlock(&s->mu);
    return t;
}

size_t joule_sampler_mark_count(struct joule_sampler *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->nmarks;
    pthread_mutex_unlock(&s->mu);
    return n;
}

enum joule_status joule_sampler_mark_get(struct joule_sampler *s, size_t i, int64_t *t_ns,
                                         const char **label)
{
    pthread_mutex_lock(&s->mu);
    if (i >= s->nmarks) {
        pthread_mutex_unlock(&s->mu);
        return joule_errorf(JOULE_ERR_NOT_FOUND, "mark %zu of %zu", i, s->nmarks);
    }
    if (t_ns) *t_ns = s->marks[i].t_ns;
    if (label) *label = s->marks[i].label;
    pthread_mutex_unlock(&s->mu);
    return JOULE_OK;
}

size_t joule_sampler_count(struct joule_sampler *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = kept(s);
    pthread_mutex_unlock(&s->mu);
    return n;
}

enum joule_status joule_sampler_get(struct joule_sampler *s, size_t i, struct joule_sample *out)
{
    pthread_mutex_lock(&s->mu);
    if (i >= kept(s)) {
        size_t n = kept(s);
        pthread_mutex_unlock(&s->mu);
        return joule_errorf(JOULE_ERR_NOT_FOUND, "sample %zu of %zu", i, n);
    }
    *out = *sample_at(s, i);
    pthread_mutex_unlock(&s->mu);
    return JOULE_OK;
}

enum joule_sensor_state joule_sampler_source_state(struct joule_sampler *s, size_t i, char *reason,
                                                   size_t reason_cap)
{
    pthread_mutex_lock(&s->mu);
    enum joule_sensor_state st = JOULE_SENSOR_ABSENT;
    if (i < s->set->n) {
        st = s->set->src[i].state_now;
        if (reason && reason_cap) snprintf(reason, reason_cap, "%s", s->set->src[i].reason_now);
    } else if (reason && reason_cap) {
        snprintf(reason, reason_cap, "no source %zu", i);
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* ---- interval queries (mu held) ------------------------------------------------------------ */

/* Index of the last kept sample with t <= t_ns, or -1. */
static long find_le(struct joule_sampler *s, int64_t t_ns)
{
    long lo = 0, hi = (long)kept(s) - 1, ans = -1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        if (sample_at(s, (size_t)mid)->t_ns <= t_ns) {
            ans = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return ans;
}

/* Cumulative energy of source i at time t, interpolated; clamped to the sampled range. */
static double energy_at(struct joule_sampler *s, size_t i, int64_t t)
{
    size_t n = kept(s);
    long k = find_le(s, t);
    if (k < 0) return sample_at(s, 0)->src[i].energy_j;
    if ((size_t)k + 1 >= n) return sample_at(s, (size_t)k)->src[i].energy_j;
    const struct joule_sample *a = sample_at(s, (size_t)k), *b = sample_at(s, (size_t)k + 1);
    double f = (double)(t - a->t_ns) / (double)(b->t_ns - a->t_ns);
    return a->src[i].energy_j + f * (b->src[i].energy_j - a->src[i].energy_j);
}

static double overlap(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
    int64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? (double)(hi - lo) : 0.0;
}

/* Fraction of [t0, t1] spanned by consecutive samples where source i (or, with i = -1,
 * the sampler) read well. */
static double coverage(struct joule_sampler *s, long i, int64_t t0, int64_t t1)
{
    if (t1 <= t0) return 0.0;
    size_t n = kept(s);
    long k = find_le(s, t0);
    if (k < 0) k = 0;
    double cov = 0;
    for (size_t j = (size_t)k; j + 1 < n; j++) {
        const struct joule_sample *a = sample_at(s, j), *b = sample_at(s, j + 1);
        if (a->t_ns >= t1) break;
        if (i >= 0 && !(a->src[i].ok && b->src[i].ok)) continue;
        cov += overlap(a->t_ns, b->t_ns, t0, t1);
    }
    double c = cov / (double)(t1 - t0);
    return c > 1.0 ? 1.0 : c;
}

static void energy_locked(struct joule_sampler *s, int64_t t0, int64_t t1,
                          struct joule_sensor_energy *out, double *total_j, int *estimated)
{
    double total = 0;
    int est = 0;
    double dt = (double)(t1 - t0) * 1e-9;
    for (size_t i = 0; i < s->set->n; i++) {
        const struct sensor_source *src = &s->set->src[i];
        struct joule_sensor_energy e = {NAN, NAN, NAN, 0};
        if (src->info.has_energy && kept(s) > 0) {
            e.energy_j = energy_at(s, i, t1) - energy_at(s, i, t0);
            e.power_w = dt > 0 ? e.energy_j / dt : NAN;
            e.coverage = coverage(s, (long)i, t0, t1);
            if (!isnan(s->idle_w[i])) e.net_energy_j = e.energy_j - s->idle_w[i] * dt;
            if (src->info.in_total) {
                total += e.energy_j;
                if (src->info.estimated) est = 1;
            }
        }
        if (out) out[i] = e;
    }
    if (total_j) *total_j = total;
    if (estimated) *estimated = est;
}

enum joule_status joule_sampler_energy(struct joule_sampler *s, int64_t t0_ns, int64_t t1_ns,
                                       struct joule_sensor_energy *out, double *total_j,
                                       int *estimated)
{
    if (!s || t1_ns < t0_ns)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "sampler energy: bad interval");
    pthread_mutex_lock(&s->mu);
    energy_locked(s, t0_ns, t1_ns, out, total_j, estimated);
    pthread_mutex_unlock(&s->mu);
    return JOULE_OK;
}

enum joule_status joule_sampler_set_idle(struct joule_sampler *s, int64_t t0_ns, int64_t t1_ns)
{
    if (!s || t1_ns <= t0_ns)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "idle baseline: empty interval");
    pthread_mutex_lock(&s->mu);
    size_t n = s->set->n;
    struct joule_sensor_energy *e = calloc(n ? n : 1, sizeof *e);
    if (!e) {
        pthread_mutex_unlock(&s->mu);
        return joule_errorf(JOULE_ERR_NOMEM, "idle baseline");
    }
    for (size_t i = 0; i < n; i++)
        s->idle_w[i] = NAN;
    energy_locked(s, t0_ns, t1_ns, e, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        s->idle_w[i] = e[i].power_w;
    free(e);
    pthread_mutex_unlock(&s->mu);
    return JOULE_OK;
}

double joule_sampler_idle_power(struct joule_sampler *s, size_t i)
{
    if (!s || i >= s->set->n) return NAN;
    pthread_mutex_lock(&s->mu);
    double w = s->idle_w[i];
    pthread_mutex_unlock(&s->mu);
    return w;
}

static void stat_add(double v, double *sum, double *max, size_t *n)
{
    if (isnan(v)) return;
    *sum += v;
    if (*n == 0 || v > *max) *max = v;
    (*n)++;
}

enum joule_status joule_sampler_summarize(struct joule_sampler *s, int64_t t0_ns, int64_t t1_ns,
                                          struct joule_measure_summary *sum,
                                          struct joule_sensor_energy *per_source)
{
    if (!s || !sum || t1_ns < t0_ns)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "sampler summary: bad arguments");
    memset(sum, 0, sizeof *sum);
    pthread_mutex_lock(&s->mu);
    size_t n = s->set->n;
    struct joule_sensor_energy *e = per_source ? per_source : calloc(n ? n : 1, sizeof *e);
    if (!e) {
        pthread_mutex_unlock(&s->mu);
        return joule_errorf(JOULE_ERR_NOMEM, "sampler summary");
    }
    energy_locked(s, t0_ns, t1_ns, e, &sum->total_j, &sum->estimated);
    double net = 0;
    int have_net = 1, any_total = 0;
    double cov = 1.0;
    for (size_t i = 0; i < n; i++) {
        if (!s->set->src[i].info.in_total) continue;
        any_total = 1;
        if (isnan(e[i].net_energy_j)) have_net = 0;
        net += e[i].net_energy_j;
        if (e[i].coverage < cov) cov = e[i].coverage;
    }
    sum->total_net_j = have_net && any_total ? net : NAN;
    sum->coverage = any_total ? cov : coverage(s, -1, t0_ns, t1_ns);
    sum->duration_s = (double)(t1_ns - t0_ns) * 1e-9;

    double cs = 0, cm = 0, ps = 0, pm = 0, rs = 0, rm = 0, gs = 0, gm = 0, ms = 0, mm = 0;
    size_t cn = 0, pn = 0, rn = 0, gn = 0, mn = 0;
    double gmem_max = NAN;
    int have_gpu = 0;
    for (size_t j = 0; j < kept(s); j++) {
        const struct joule_sample *smp = sample_at(s, j);
        if (smp->t_ns < t0_ns || smp->t_ns > t1_ns) continue;
        sum->samples++;
        stat_add(smp->cpu_percent, &cs, &cm, &cn);
        stat_add(smp->proc_cpu_percent, &ps, &pm, &pn);
        stat_add(smp->ram_percent, &rs, &rm, &rn);
        if (smp->proc_rss_bytes > sum->rss_max_bytes) sum->rss_max_bytes = smp->proc_rss_bytes;
        double used = 0;
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            if (s->set->src[i].role != ROLE_GPU || !smp->src[i].ok) continue;
            have_gpu = any = 1;
            stat_add(smp->src[i].util_percent, &gs, &gm, &gn);
            stat_add(smp->src[i].mem_util_percent, &ms, &mm, &mn);
            if (!isnan(smp->src[i].mem_used_bytes)) used += smp->src[i].mem_used_bytes;
        }
        if (any && (isnan(gmem_max) || used > gmem_max)) gmem_max = used;
    }
    sum->cpu_percent_mean = cn ? cs / (double)cn : NAN;
    sum->cpu_percent_max = cn ? cm : NAN;
    sum->proc_cpu_percent_mean = pn ? ps / (double)pn : NAN;
    sum->proc_cpu_percent_max = pn ? pm : NAN;
    sum->ram_percent_mean = rn ? rs / (double)rn : NAN;
    sum->ram_percent_max = rn ? rm : NAN;
    sum->gpu_util_mean = gn ? gs / (double)gn : NAN;
    sum->gpu_util_max = gn ? gm : NAN;
    sum->gpu_mem_util_mean = mn ? ms / (double)mn : NAN;
    sum->gpu_mem_util_max = mn ? mm : NAN;
    sum->gpu_mem_used_max_bytes = have_gpu ? gmem_max : NAN;
    if (!per_source) free(e);
    pthread_mutex_unlock(&s->mu);
    return JOULE_OK;
}
