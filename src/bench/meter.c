/* The meter of a run: the sensors module's sampler, converted to the results
 * store's rows.  Without the sensors module built in (JOULE_BENCH_HAVE_SENSORS
 * unset, see flags.cmake) a minimal stand-in reads /proc and models CPU power
 * as TDP × utilisation ("estimate:cpu", flagged estimated). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_impl.h"
#include "util/clock.h"

#ifdef JOULE_BENCH_HAVE_SENSORS
#include "joule/sensor.h"

struct bench_meter {
    struct joule_sensor_set *set;
    struct joule_sampler *sampler;
    size_t n_src;
    size_t src_index[JOULE_BENCH_MAX_SOURCES]; /* into the set */
    struct joule_bench_source src[JOULE_BENCH_MAX_SOURCES];
    size_t n_gpu;
    size_t gpu_index[JOULE_BENCH_MAX_SOURCES];
    int watching;
};

enum joule_status bench_meter_start(const char *sensors, int interval_ms, struct bench_meter **out)
{
    *out = NULL;
    struct bench_meter *m = calloc(1, sizeof *m);
    if (!m) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    enum joule_status st =
        joule_sensor_set_open(sensors && *sensors ? sensors : "all", NULL, &m->set);
    if (st != JOULE_OK) {
        free(m);
        return st;
    }
    size_t n = joule_sensor_set_count(m->set);
    for (size_t i = 0; i < n; i++) {
        const struct joule_sensor_info *in = joule_sensor_set_info(m->set, i);
        if (!in || in->state != JOULE_SENSOR_OK) continue;
        if (in->kind == JOULE_SENSOR_KIND_NVML && m->n_gpu < JOULE_BENCH_MAX_SOURCES)
            m->gpu_index[m->n_gpu++] = i;
        if (!in->has_energy || m->n_src >= JOULE_BENCH_MAX_SOURCES) continue;
        m->src_index[m->n_src] = i;
        snprintf(m->src[m->n_src].name, sizeof m->src[m->n_src].name, "%s", in->name);
        m->src[m->n_src].estimated = in->estimated;
        m->src[m->n_src].in_total = in->in_total;
        m->n_src++;
    }
    struct joule_sampler_params sp = joule_sampler_default_params();
    sp.interval_ns = (int64_t)interval_ms * 1000000;
    st = joule_sampler_start(m->set, &sp, &m->sampler);
    if (st != JOULE_OK) {
        joule_sensor_set_free(m->set);
        free(m);
        return st;
    }
    *out = m;
    return JOULE_OK;
}

void bench_meter_watch_pid(struct bench_meter *m, pid_t pid)
{
    joule_sampler_watch_pid(m->sampler, (int)pid);
    m->watching = pid > 0;
}

void bench_meter_sample_now(struct bench_meter *m)
{
    joule_sampler_sample_now(m->sampler);
}

void bench_meter_mark(struct bench_meter *m, const char *label)
{
    joule_sampler_mark(m->sampler, label);
}

void bench_meter_stop(struct bench_meter *m)
{
    joule_sampler_stop(m->sampler);
}

size_t bench_meter_sources(struct bench_meter *m, struct joule_bench_source *out)
{
    memcpy(out, m->src, m->n_src * sizeof *out);
    return m->n_src;
}

static double finite_or_nan(double v)
{
    return isfinite(v) ? v : NAN;
}

enum joule_status bench_meter_samples(struct bench_meter *m, struct joule_bench_sample **out,
                                      size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t count = joule_sampler_count(m->sampler);
    struct joule_bench_sample *v = calloc(count ? count : 1, sizeof *v);
    if (!v) return joule_errorf(JOULE_ERR_NOMEM, "out of memory for %zu samples", count);
    for (size_t i = 0; i < count; i++) {
        struct joule_sample x;
        enum joule_status st = joule_sampler_get(m->sampler, i, &x);
        if (st != JOULE_OK) {
            free(v);
            return st;
        }
        struct joule_bench_sample *y = &v[i];
        y->t_ns = x.t_ns;
        y->phase = JOULE_BENCH_PHASE_STARTUP;
        y->cpu_pct = finite_or_nan(x.cpu_percent);
        y->ram_pct = finite_or_nan(x.ram_percent);
        y->server_cpu_pct = m->watching ? finite_or_nan(x.proc_cpu_percent) : NAN;
        y->server_rss_mb =
            m->watching && x.proc_rss_bytes > 0 ? (double)x.proc_rss_bytes / 1048576.0 : NAN;
        double util = 0, mem_util = 0, used = 0;
        int n_util = 0, n_mem = 0, n_used = 0;
        for (size_t g = 0; g < m->n_gpu; g++) {
            const struct joule_sensor_reading *r = &x.src[m->gpu_index[g]];
            if (!r->ok) continue;
            if (isfinite(r->util_percent)) util += r->util_percent, n_util++;
            if (isfinite(r->mem_util_percent)) mem_util += r->mem_util_percent, n_mem++;
            if (isfinite(r->mem_used_bytes)) used += r->mem_used_bytes, n_used++;
        }
        y->gpu_util_pct = n_util ? util / n_util : NAN;
        y->gpu_mem_util_pct = n_mem ? mem_util / n_mem : NAN;
        y->gpu_mem_used_mb = n_used ? used / 1048576.0 : NAN;
        for (size_t k = 0; k < m->n_src; k++) {
            const struct joule_sensor_reading *r = &x.src[m->src_index[k]];
            y->energy_j[k] = finite_or_nan(r->energy_j);
            y->power_w[k] = finite_or_nan(r->power_w);
        }
    }
    *out = v;
    *n = count;
    return JOULE_OK;
}

void bench_meter_free(struct bench_meter *m)
{
    if (!m) return;
    joule_sampler_free(m->sampler);
    joule_sensor_set_free(m->set);
    free(m);
}

#else /* the stand-in: /proc and a CPU estimate */

struct bench_meter {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, started;
    int64_t interval_ns;
    double tdp_w;
    pid_t pid;
    /* previous counters */
    unsigned long long prev_busy, prev_total, prev_proc_ticks;
    int64_t prev_t_ns;
    double energy_j;
    struct joule_bench_sample *v;
    size_t n, cap;
};

static const char *proc_root(void)
{
    const char *r = getenv("JOULE_PROCFS_ROOT");
    return r && *r ? r : "/proc";
}

static int read_cpu(unsigned long long *busy, unsigned long long *total)
{
    char path[512];
    snprintf(path, sizeof path, "%s/stat", proc_root());
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long long u = 0, ni = 0, sy = 0, id = 0, io = 0, irq = 0, sirq = 0, stl = 0;
    int ok = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &ni, &sy, &id, &io, &irq,
                    &sirq, &stl) >= 4;
    fclose(f);
    *busy = u + ni + sy + irq + sirq + stl;
    *total = *busy + id + io;
    return ok;
}

static double read_ram_pct(void)
{
    char path[512], line[256];
    snprintf(path, sizeof path, "%s/meminfo", proc_root());
    FILE *f = fopen(path, "r");
    if (!f) return NAN;
    double total = 0, avail = -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "MemTotal:", 9)) total = atof(line + 9);
        if (!strncmp(line, "MemAvailable:", 13)) avail = atof(line + 13);
    }
    fclose(f);
    return total > 0 && avail >= 0 ? 100.0 * (total - avail) / total : NAN;
}

/* utime+stime ticks and VmRSS (MiB) of one process; 0 when it is gone. */
static int read_proc(pid_t pid, unsigned long long *ticks, double *rss_mb)
{
    char path[512], buf[4096];
    snprintf(path, sizeof path, "%s/%d/stat", proc_root(), (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut = 0, stt = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) != 2)
        return 0;
    *ticks = ut + stt;
    *rss_mb = NAN;
    snprintf(path, sizeof path, "%s/%d/status", proc_root(), (int)pid);
    f = fopen(path, "r");
    if (f) {
        while (fgets(buf, sizeof buf, f))
            if (!strncmp(buf, "VmRSS:", 6)) *rss_mb = atof(buf + 6) / 1024.0;
        fclose(f);
    }
    return 1;
}

/* Called with mu held. */
static void take_reading(struct bench_meter *m)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 256;
        struct joule_bench_sample *nv = realloc(m->v, cap * sizeof *nv);
        if (!nv) return; /* keep what we have */
        m->v = nv;
        m->cap = cap;
    }
    struct joule_bench_sample *y = &m->v[m->n];
    memset(y, 0, sizeof *y);
    y->t_ns = joule_now_ns();
    y->phase = JOULE_BENCH_PHASE_STARTUP;
    unsigned long long busy = 0, total = 0;
    double util = NAN;
    if (read_cpu(&busy, &total) && m->prev_total && total > m->prev_total)
        util = (double)(busy - m->prev_busy) / (double)(total - m->prev_total);
    y->cpu_pct = isfinite(util) ? 100.0 * util : NAN;
    y->ram_pct = read_ram_pct();
    y->server_cpu_pct = NAN;
    y->server_rss_mb = NAN;
    unsigned long long ticks = 0;
    double rss = NAN;
    if (m->pid > 0 && read_proc(m->pid, &ticks, &rss)) {
        double dt = (double)(y->t_ns - m->prev_t_ns) / 1e9;
        if (m->prev_proc_ticks && dt > 0)
            y->server_cpu_pct =
                100.0 * (double)(ticks - m->prev_proc_ticks) / (double)sysconf(_SC_CLK_TCK) / dt;
        y->server_rss_mb = rss;
        m->prev_proc_ticks = ticks;
    }
    y->gpu_util_pct = y->gpu_mem_util_pct = y->gpu_mem_used_mb = NAN;
    double power = isfinite(util) ? m->tdp_w * util : NAN;
    if (m->n > 0 && isfinite(power)) m->energy_j += power * (double)(y->t_ns - m->prev_t_ns) / 1e9;
    y->energy_j[0] = m->energy_j;
    y->power_w[0] = power;
    m->prev_busy = busy;
    m->prev_total = total;
    m->prev_t_ns = y->t_ns;
    m->n++;
}

static void *meter_thread(void *arg)
{
    struct bench_meter *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        int64_t due = joule_now_ns() + m->interval_ns;
        while (!m->stop && joule_now_ns() < due) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t left = due - joule_now_ns();
            if (left <= 0) break;
            int64_t ns = ts.tv_nsec + left;
            ts.tv_sec += ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&m->cv, &m->mu, &ts);
        }
        if (!m->stop) take_reading(m);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

enum joule_status bench_meter_start(const char *sensors, int interval_ms, struct bench_meter **out)
{
    *out = NULL;
    if (sensors && *sensors && strcmp(sensors, "all") && strcmp(sensors, "estimate") &&
        strcmp(sensors, "procfs,estimate") && strcmp(sensors, "estimate,procfs"))
        return joule_errorf(JOULE_ERR_UNAVAILABLE,
                            "sensors '%s': this build has only the /proc reader and the CPU "
                            "estimate (use 'all' or 'estimate')",
                            sensors);
    struct bench_meter *m = calloc(1, sizeof *m);
    if (!m) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    m->interval_ns = (int64_t)interval_ms * 1000000;
    const char *tdp = getenv("JOULE_CPU_TDP_W");
    m->tdp_w = tdp && atof(tdp) > 0 ? atof(tdp) : 85.0;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    pthread_mutex_lock(&m->mu);
    take_reading(m);
    pthread_mutex_unlock(&m->mu);
    if (pthread_create(&m->thread, NULL, meter_thread, m) != 0) {
        free(m->v);
        free(m);
        return joule_errorf(JOULE_ERR_INTERNAL, "cannot start the sampler thread");
    }
    m->started = 1;
    *out = m;
    return JOULE_OK;
}

void bench_meter_watch_pid(struct bench_meter *m, pid_t pid)
{
    pthread_mutex_lock(&m->mu);
    m->pid = pid;
    m->prev_proc_ticks = 0;
    pthread_mutex_unlock(&m->mu);
}

void bench_meter_sample_now(struct bench_meter *m)
{
    pthread_mutex_lock(&m->mu);
    if (!m->stop) take_reading(m);
    pthread_mutex_unlock(&m->mu);
}

void bench_meter_mark(struct bench_meter *m, const char *label)
{
    (void)m;
    (void)label; /* phases are kept by the campaign */
}

void bench_meter_stop(struct bench_meter *m)
{
    pthread_mutex_lock(&m->mu);
    if (m->stop) {
        pthread_mutex_unlock(&m->mu);
        return;
    }
    take_reading(m);
    m->stop = 1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    m->started = 0;
}

size_t bench_meter_sources(struct bench_meter *m, struct joule_bench_source *out)
{
    (void)m;
    memset(out, 0, sizeof *out);
    snprintf(out[0].name, sizeof out[0].name, "estimate:cpu");
    out[0].estimated = 1;
    out[0].in_total = 1;
    return 1;
}

enum joule_status bench_meter_samples(struct bench_meter *m, struct joule_bench_sample **out,
                                      size_t *n)
{
    *out = malloc((m->n ? m->n : 1) * sizeof **out);
    if (!*out) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    memcpy(*out, m->v, m->n * sizeof **out);
    *n = m->n;
    return JOULE_OK;
}

void bench_meter_free(struct bench_meter *m)
{
    if (!m) return;
    if (m->started) bench_meter_stop(m);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m->v);
    free(m);
}
#endif

double bench_energy_at(const struct joule_bench_sample *x, size_t n, size_t k, int64_t t_ns)
{
    /* Readings whose energy is unknown are skipped. */
    size_t lo = SIZE_MAX, hi = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i].energy_j[k])) continue;
        if (x[i].t_ns <= t_ns) lo = i;
        if (x[i].t_ns >= t_ns) {
            hi = i;
            break;
        }
    }
    if (lo == SIZE_MAX && hi == SIZE_MAX) return NAN;
    if (lo == SIZE_MAX) return x[hi].energy_j[k];
    if (hi == SIZE_MAX || hi == lo) return x[lo].energy_j[k];
    double f = (double)(t_ns - x[lo].t_ns) / (double)(x[hi].t_ns - x[lo].t_ns);
    return x[lo].energy_j[k] + f * (x[hi].energy_j[k] - x[lo].energy_j[k]);
}
