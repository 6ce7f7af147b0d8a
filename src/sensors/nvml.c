/* NVIDIA GPUs through NVML, loaded with dlopen (no build-time dependency).
 *
 * Library: params.nvml_lib / $JOULE_NVML_LIB / libnvidia-ml.so.1. Every GPU NVML reports
 * becomes a source "nvml:<index>". Energy comes from nvmlDeviceGetTotalEnergyConsumption
 * (mJ since the driver loaded; Volta and later) where the GPU has it, else from
 * nvmlDeviceGetPowerUsage (mW) integrated by the trapezoid rule between samples. Each
 * sample also records utilisation, memory-controller utilisation and memory used/total. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensors/sensors_internal.h"

typedef void *nvml_device;
struct nvml_util {
    unsigned int gpu, memory;
};
struct nvml_memory {
    unsigned long long total, free, used;
};

#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NO_PERMISSION 4
#define NVML_ERROR_GPU_IS_LOST 15

struct nvml_lib {
    void *dl;
    int inited;
    int (*init)(void);
    int (*shutdown)(void);
    int (*count)(unsigned int *);
    int (*handle)(unsigned int, nvml_device *);
    int (*energy)(nvml_device, unsigned long long *);
    int (*power)(nvml_device, unsigned int *);
    int (*util)(nvml_device, struct nvml_util *);
    int (*mem)(nvml_device, struct nvml_memory *);
    int (*limit)(nvml_device, unsigned int *);
    int (*name)(nvml_device, char *, unsigned int);
    const char *(*errstr)(int);
};

struct nvml_gpu {
    nvml_device dev;
    int has_counter;
};

static const char *nv_err(const struct nvml_lib *l, int rc)
{
    static _Thread_local char buf[32];
    if (l->errstr) {
        const char *s = l->errstr(rc);
        if (s) return s;
    }
    sensor_fmt(buf, sizeof buf, "NVML error %d", rc);
    return buf;
}

static enum joule_sensor_state nvml_read(struct sensor_source *src, const struct sensor_ctx *ctx,
                                         struct sensor_raw *raw, char *reason, size_t cap)
{
    (void)ctx;
    const struct nvml_lib *l = src->set->nvml;
    struct nvml_gpu *g = src->priv;
    int rc;
    if (g->has_counter) {
        unsigned long long mj;
        rc = l->energy(g->dev, &mj);
        if (rc == NVML_SUCCESS) {
            raw->form = SENSOR_E_COUNTER;
            raw->count = mj;
            raw->scale_j = 1e-3;
            raw->range = 0;
        }
    } else {
        unsigned int mw;
        rc = l->power(g->dev, &mw);
        if (rc == NVML_SUCCESS) {
            raw->form = SENSOR_E_POWER_INST;
            raw->power_w = mw * 1e-3;
        }
    }
    if (rc != NVML_SUCCESS) {
        sensor_fmt(reason, cap, "%s: %s", src->name, nv_err(l, rc));
        return rc == NVML_ERROR_GPU_IS_LOST ? JOULE_SENSOR_LOST : JOULE_SENSOR_ERROR;
    }
    if (g->has_counter) {
        unsigned int mw;
        if (l->power && l->power(g->dev, &mw) == NVML_SUCCESS) raw->power_w = mw * 1e-3;
    }
    struct nvml_util u;
    if (l->util && l->util(g->dev, &u) == NVML_SUCCESS) {
        raw->util_percent = u.gpu;
        raw->mem_util_percent = u.memory;
    }
    struct nvml_memory m;
    if (l->mem && l->mem(g->dev, &m) == NVML_SUCCESS) {
        raw->mem_used_bytes = (double)m.used;
        raw->mem_total_bytes = (double)m.total;
    }
    return JOULE_SENSOR_OK;
}

static void nvml_close(struct sensor_source *src)
{
    free(src->priv);
    src->priv = NULL;
}

void sensor_nvml_unload(struct joule_sensor_set *set)
{
    struct nvml_lib *l = set->nvml;
    if (!l) return;
    if (l->inited && l->shutdown) l->shutdown();
    if (l->dl) dlclose(l->dl);
    free(l);
    set->nvml = NULL;
}

static struct sensor_source *fail(struct joule_sensor_set *set, enum joule_sensor_state st,
                                  const char *msg, const char *arg)
{
    struct sensor_source *s = sensor_set_add(set, JOULE_SENSOR_KIND_NVML, "nvml", ROLE_NONE);
    if (s) sensor_source_fail(s, st, "%s%s", msg, arg);
    return s;
}

void sensor_nvml_probe(struct joule_sensor_set *set)
{
    void *dl = dlopen(set->nvml_lib, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        fail(set, JOULE_SENSOR_ABSENT,
             "NVML not loadable (no NVIDIA driver): ", e ? e : set->nvml_lib);
        return;
    }
    struct nvml_lib *l = calloc(1, sizeof *l);
    if (!l) {
        dlclose(dl);
        return;
    }
    l->dl = dl;
    set->nvml = l;
    /* dlsym returns void *; converting through memcpy keeps ISO C happy */
#define SYM(field, sym)                                                                            \
    do {                                                                                           \
        void *p_ = dlsym(dl, sym);                                                                 \
        memcpy(&l->field, &p_, sizeof p_);                                                         \
    } while (0)
    SYM(init, "nvmlInit_v2");
    SYM(shutdown, "nvmlShutdown");
    SYM(count, "nvmlDeviceGetCount_v2");
    SYM(handle, "nvmlDeviceGetHandleByIndex_v2");
    SYM(energy, "nvmlDeviceGetTotalEnergyConsumption");
    SYM(power, "nvmlDeviceGetPowerUsage");
    SYM(util, "nvmlDeviceGetUtilizationRates");
    SYM(mem, "nvmlDeviceGetMemoryInfo");
    SYM(limit, "nvmlDeviceGetEnforcedPowerLimit");
    SYM(name, "nvmlDeviceGetName");
    SYM(errstr, "nvmlErrorString");
#undef SYM
    if (!l->init || !l->count || !l->handle) {
        fail(set, JOULE_SENSOR_ERROR,
             "NVML library lacks nvmlInit_v2/nvmlDeviceGetCount_v2: ", set->nvml_lib);
        return;
    }
    int rc = l->init();
    if (rc != NVML_SUCCESS) {
        fail(set, rc == NVML_ERROR_NO_PERMISSION ? JOULE_SENSOR_NO_PERMISSION : JOULE_SENSOR_ABSENT,
             "nvmlInit_v2 failed: ", nv_err(l, rc));
        return;
    }
    l->inited = 1;
    unsigned int count = 0;
    rc = l->count(&count);
    if (rc != NVML_SUCCESS || count == 0) {
        fail(set, JOULE_SENSOR_ABSENT,
             "NVML reports no GPU: ", rc != NVML_SUCCESS ? nv_err(l, rc) : "count 0");
        return;
    }
    for (unsigned int i = 0; i < count && i < 64; i++) {
        char name[32];
        sensor_fmt(name, sizeof name, "nvml:%u", i);
        struct sensor_source *s = sensor_set_add(set, JOULE_SENSOR_KIND_NVML, name, ROLE_GPU);
        if (!s) return;
        s->index = (int)i;
        s->read = nvml_read;
        s->close = nvml_close;
        struct nvml_gpu *g = calloc(1, sizeof *g);
        if (!g) {
            sensor_source_fail(s, JOULE_SENSOR_ERROR, "out of memory");
            continue;
        }
        s->priv = g;
        rc = l->handle(i, &g->dev);
        if (rc != NVML_SUCCESS) {
            sensor_source_fail(s, JOULE_SENSOR_ERROR, "nvmlDeviceGetHandleByIndex_v2(%u): %s", i,
                               nv_err(l, rc));
            continue;
        }
        char dev_name[96] = "NVIDIA GPU";
        if (l->name) l->name(g->dev, dev_name, sizeof dev_name);
        dev_name[sizeof dev_name - 1] = '\0';
        unsigned int lim;
        if (l->limit && l->limit(g->dev, &lim) == NVML_SUCCESS) s->info.max_power_w = lim * 1e-3;
        unsigned long long mj;
        unsigned int mw;
        if (l->energy && l->energy(g->dev, &mj) == NVML_SUCCESS) {
            g->has_counter = 1;
            sensor_fmt(s->detail, sizeof s->detail, "%s (total energy counter)", dev_name);
        } else if (l->power && l->power(g->dev, &mw) == NVML_SUCCESS) {
            sensor_fmt(s->detail, sizeof s->detail,
                       "%s (no energy counter: power usage integrated)", dev_name);
        } else {
            sensor_fmt(s->detail, sizeof s->detail, "%s", dev_name);
            sensor_source_fail(s, JOULE_SENSOR_NO_ENERGY,
                               "%s gives neither nvmlDeviceGetTotalEnergyConsumption nor "
                               "nvmlDeviceGetPowerUsage",
                               dev_name);
            continue;
        }
        s->info.has_energy = 1;
    }
}
