/* The meter of a run: the sensors module's sampler, converted to the results
 * store's rows. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_impl.h"
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
