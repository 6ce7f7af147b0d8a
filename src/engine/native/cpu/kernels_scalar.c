#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/native/cpu/kernels.h"
#include "engine/native/weights.h"
#include "joule/status.h"

static float g_f16_table[65536];
static pthread_once_t g_f16_once = PTHREAD_ONCE_INIT;

static void build_f16_table(void)
{
    for (uint32_t i = 0; i < 65536; i++)
        g_f16_table[i] = jn_half_to_float((uint16_t)i);
}

float jn_f16_lookup(uint16_t h)
{
    return g_f16_table[h];
}

static float dot_f32(const float *x, const float *w, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++)
        s += x[i] * w[i];
    return s;
}

static float dot_f16(const float *x, const uint16_t *w, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++)
        s += x[i] * g_f16_table[w[i]];
    return s;
}

static float dot_bf16(const float *x, const uint16_t *w, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++)
        s += x[i] * jn_bf16_to_float(w[i]);
    return s;
}

static void axpy_f32(float *y, float a, const float *w, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a * w[i];
}

static void axpy_f16(float *y, float a, const uint16_t *w, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a * g_f16_table[w[i]];
}

static void axpy_bf16(float *y, float a, const uint16_t *w, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a * jn_bf16_to_float(w[i]);
}

const struct jn_kernels jn_kernels_scalar = {
    "scalar", dot_f32, dot_f16, dot_bf16, axpy_f32, axpy_f16, axpy_bf16,
};

const struct jn_kernels *jn_kernels_by_name(const char *name)
{
    pthread_once(&g_f16_once, build_f16_table);
    if (!strcmp(name, "scalar")) return &jn_kernels_scalar;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!strcmp(name, "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &jn_kernels_avx2
                                                                               : NULL;
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512vl")
                   ? &jn_kernels_avx512
                   : NULL;
#endif
    return NULL;
}

const struct jn_kernels *jn_kernels_select(void)
{
    const char *env = getenv("JOULE_KERNEL");
    if (env && *env) {
        const struct jn_kernels *k = jn_kernels_by_name(env);
        if (!k)
            joule_errorf(JOULE_ERR_UNAVAILABLE,
                         "JOULE_KERNEL=%s: unknown kernel set or not supported by this CPU", env);
        return k;
    }
    static const char *const order[] = {"avx512", "avx2", "scalar"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const struct jn_kernels *k = jn_kernels_by_name(order[i]);
        if (k) return k;
    }
    return &jn_kernels_scalar;
}
