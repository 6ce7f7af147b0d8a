/* The estimate, for machines without any CPU energy counter (most virtual machines).
 *
 * Model (the one CodeCarbon and Green Algorithms use in their fallback modes):
 *   estimate:cpu  P = TDP × u, u = system-wide CPU busy fraction since the previous sample
 *                 (from /proc/stat), so the energy of an interval is TDP × mean u × time;
 *   estimate:ram  P = w_per_gb × GB in use (MemTotal − MemAvailable).
 * Defaults: TDP 85 W, the value CodeCarbon falls back to for a CPU missing from its TDP
 * table (it reports 42.5 W, half of it, in its constant mode); 0.3725 W per GB of RAM, from
 * Green Algorithms (Lannelongue, Grealey & Inouye, Adv. Sci. 2021). Both are configurable
 * (params.cpu_tdp_w / $JOULE_CPU_TDP_W, params.ram_w_per_gb / $JOULE_RAM_W_PER_GB).
 * The model ignores idle power, frequency and the share of a host a VM sees: it is a rough
 * guide, and every output that carries it says `estimated`. */
#include <math.h>
#include <stdio.h>

#include "sensors/sensors_internal.h"

double sensor_estimate_cpu_w(double tdp_w, double cpu_percent)
{
    if (isnan(cpu_percent)) return NAN;
    double u = cpu_percent / 100.0;
    if (u < 0) u = 0;
    if (u > 1) u = 1;
    return tdp_w * u;
}

double sensor_estimate_ram_w(double w_per_gb, int64_t ram_used_bytes)
{
    return w_per_gb * (double)ram_used_bytes / 1e9;
}

static enum joule_sensor_state est_cpu_read(struct sensor_source *src, const struct sensor_ctx *ctx,
                                            struct sensor_raw *raw, char *reason, size_t cap)
{
    double w = sensor_estimate_cpu_w(src->set->params.cpu_tdp_w, ctx->cpu_percent);
    if (isnan(w)) {
        sensor_fmt(reason, cap, "no CPU utilisation from /proc/stat yet");
        return JOULE_SENSOR_ERROR;
    }
    raw->form = SENSOR_E_POWER_MEAN;
    raw->power_w = w;
    return JOULE_SENSOR_OK;
}

static enum joule_sensor_state est_ram_read(struct sensor_source *src, const struct sensor_ctx *ctx,
                                            struct sensor_raw *raw, char *reason, size_t cap)
{
    if (ctx->ram_total_bytes <= 0) {
        sensor_fmt(reason, cap, "no MemAvailable from /proc/meminfo");
        return JOULE_SENSOR_ERROR;
    }
    raw->form = SENSOR_E_POWER_MEAN;
    raw->power_w = sensor_estimate_ram_w(src->set->params.ram_w_per_gb, ctx->ram_used_bytes);
    return JOULE_SENSOR_OK;
}

void sensor_estimate_probe(struct joule_sensor_set *set)
{
    struct sensor_source *s =
        sensor_set_add(set, JOULE_SENSOR_KIND_ESTIMATE, "estimate:cpu", ROLE_EST);
    if (s) {
        s->read = est_cpu_read;
        s->info.has_energy = 1;
        s->info.estimated = 1;
        s->info.max_power_w = set->params.cpu_tdp_w;
        sensor_fmt(s->detail, sizeof s->detail, "TDP %.1f W x CPU utilisation (/proc/stat)",
                   set->params.cpu_tdp_w);
    }
    s = sensor_set_add(set, JOULE_SENSOR_KIND_ESTIMATE, "estimate:ram", ROLE_EST);
    if (s) {
        s->read = est_ram_read;
        s->info.has_energy = 1;
        s->info.estimated = 1;
        sensor_fmt(s->detail, sizeof s->detail, "%.4f W per GB in use (/proc/meminfo)",
                   set->params.ram_w_per_gb);
    }
    if (set->src[0].info.state != JOULE_SENSOR_OK) {
        /* procfs is source 0: without it there is nothing to estimate from */
        for (size_t i = set->n - 2; i < set->n; i++)
            sensor_source_fail(&set->src[i], JOULE_SENSOR_ERROR,
                               "the estimate needs /proc/stat and /proc/meminfo: %s",
                               set->src[0].reason);
    }
}
