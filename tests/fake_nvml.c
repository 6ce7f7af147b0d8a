/* A stand-in for libnvidia-ml.so.1, built as a shared library by tests/sensors.cmake and
 * loaded by the sensors through JOULE_NVML_LIB, so the real dlopen/dlsym path runs.
 *
 * Behaviour, read from the environment at nvmlInit_v2:
 *   FAKE_NVML_INIT_FAIL=N   nvmlInit_v2 returns N
 *   FAKE_NVML_GPUS=N        number of GPUs (default 1)
 *   FAKE_NVML_POWER_MW=P    constant power of every GPU in mW (default 100000)
 *   FAKE_NVML_NO_ENERGY=1   nvmlDeviceGetTotalEnergyConsumption returns NOT_SUPPORTED
 *   FAKE_NVML_UTIL=U, FAKE_NVML_MEM_UTIL=M, FAKE_NVML_MEM_USED=B (bytes), FAKE_NVML_MEM_TOTAL=B
 *   FAKE_NVML_LOSE_AFTER=K  every call after the K-th energy/power read returns GPU_IS_LOST
 * The energy counter is power × time since nvmlInit_v2 (CLOCK_MONOTONIC) plus 1000 J, in mJ,
 * as the real counter counts since the driver loaded. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_GPU_IS_LOST 15

typedef void *nvmlDevice_t;
struct nvml_util {
    unsigned int gpu, memory;
};
struct nvml_memory {
    unsigned long long total, free, used;
};

int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetCount_v2(unsigned int *n);
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d);
int nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *mj);
int nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw);
int nvmlDeviceGetUtilizationRates(nvmlDevice_t d, struct nvml_util *u);
int nvmlDeviceGetMemoryInfo(nvmlDevice_t d, struct nvml_memory *m);
int nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *mw);
int nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len);
const char *nvmlErrorString(int rc);

static int g_inited, g_gpus = 1, g_no_energy;
static unsigned int g_power_mw = 100000, g_util, g_mem_util;
static unsigned long long g_mem_used, g_mem_total;
static double g_t0;
static long g_lose_after = -1, g_reads;
static int g_devs[16];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long env_long(const char *k, long def)
{
    const char *v = getenv(k);
    return v && *v ? strtol(v, NULL, 10) : def;
}

int nvmlInit_v2(void)
{
    long fail = env_long("FAKE_NVML_INIT_FAIL", 0);
    if (fail) return (int)fail;
    g_gpus = (int)env_long("FAKE_NVML_GPUS", 1);
    if (g_gpus > 16) g_gpus = 16;
    g_power_mw = (unsigned int)env_long("FAKE_NVML_POWER_MW", 100000);
    g_no_energy = (int)env_long("FAKE_NVML_NO_ENERGY", 0);
    g_util = (unsigned int)env_long("FAKE_NVML_UTIL", 37);
    g_mem_util = (unsigned int)env_long("FAKE_NVML_MEM_UTIL", 12);
    g_mem_used = (unsigned long long)env_long("FAKE_NVML_MEM_USED", 1L << 30);
    g_mem_total = (unsigned long long)env_long("FAKE_NVML_MEM_TOTAL", 8L << 30);
    g_lose_after = env_long("FAKE_NVML_LOSE_AFTER", -1);
    g_reads = 0;
    g_t0 = now_s();
    g_inited = 1;
    return NVML_SUCCESS;
}

int nvmlShutdown(void)
{
    g_inited = 0;
    return NVML_SUCCESS;
}

int nvmlDeviceGetCount_v2(unsigned int *n)
{
    if (!g_inited) return NVML_ERROR_UNINITIALIZED;
    *n = (unsigned int)g_gpus;
    return NVML_SUCCESS;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d)
{
    if (!g_inited) return NVML_ERROR_UNINITIALIZED;
    if (i >= (unsigned int)g_gpus) return NVML_ERROR_INVALID_ARGUMENT;
    *d = &g_devs[i];
    return NVML_SUCCESS;
}

static int lost(void)
{
    return g_lose_after >= 0 && g_reads > g_lose_after;
}

int nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *mj)
{
    (void)d;
    if (!g_inited) return NVML_ERROR_UNINITIALIZED;
    if (g_no_energy) return NVML_ERROR_NOT_SUPPORTED;
    g_reads++;
    if (lost()) return NVML_ERROR_GPU_IS_LOST;
    *mj = (unsigned long long)(1000000.0 + g_power_mw * (now_s() - g_t0));
    return NVML_SUCCESS;
}

int nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw)
{
    (void)d;
    if (!g_inited) return NVML_ERROR_UNINITIALIZED;
    if (g_no_energy) g_reads++;
    if (lost()) return NVML_ERROR_GPU_IS_LOST;
    *mw = g_power_mw;
    return NVML_SUCCESS;
}

int nvmlDeviceGetUtilizationRates(nvmlDevice_t d, struct nvml_util *u)
{
    (void)d;
    u->gpu = g_util;
    u->memory = g_mem_util;
    return NVML_SUCCESS;
}

int nvmlDeviceGetMemoryInfo(nvmlDevice_t d, struct nvml_memory *m)
{
    (void)d;
    m->total = g_mem_total;
    m->used = g_mem_used;
    m->free = g_mem_total - g_mem_used;
    return NVML_SUCCESS;
}

int nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *mw)
{
    (void)d;
    *mw = 300000;
    return NVML_SUCCESS;
}

int nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len)
{
    snprintf(name, len, "Fake GPU %d", (int)((int *)d - g_devs));
    return NVML_SUCCESS;
}

const char *nvmlErrorString(int rc)
{
    switch (rc) {
    case NVML_SUCCESS:
        return "Success";
    case NVML_ERROR_NOT_SUPPORTED:
        return "Not Supported";
    case NVML_ERROR_GPU_IS_LOST:
        return "GPU is lost";
    }
    return "Unknown Error";
}
