#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/native/cpu/kernels.h"
#include "engine/native/weights.h"
#include "model/dtype.h"
#include "joule/status.h"

static float g_f16_table[65536];
static pthread_once_t g_f16_once = PTHREAD_ONCE_INIT;

static void build_f16_table(void)
{
    for (uint32_t i = 0; i < 65536; i++)
        g_f16_table[i] = joule_f16_to_f32((uint16_t)i);
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
        s += x[i] * joule_bf16_to_f32(w[i]);
    return s;
}

static void axpy_f32(float *y, float a, const float *w, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a * w[i];
}

static float dot_q8(const float *x, const struct jn_q8_block *w, int n)
{
    float s = 0.0f;
    for (int b = 0; b < n / JN_Q8_BLOCK; b++) {
        float t = 0.0f;
        for (int j = 0; j < JN_Q8_BLOCK; j++)
            t += x[b * JN_Q8_BLOCK + j] * (float)w[b].q[j];
        s += t * g_f16_table[w[b].d];
    }
    return s;
}

static inline float cv_f32(float v)
{
    return v;
}
static inline float cv_f16(uint16_t v)
{
    return g_f16_table[v];
}

/* The tiles repeat dot_* row by row, so the scalar path gives the
 * same bits whether the prompt is run in one batch or token by token. */
#define TILES(SUF, WT, CV)                                                                         \
    static void dot_tile_##SUF(const float *x, size_t ldx, const WT *w, size_t ldw, int n,         \
                               float *out)                                                         \
    {                                                                                              \
        for (int r = 0; r < 4; r++)                                                                \
            for (int o = 0; o < 4; o++) {                                                          \
                float s = 0.0f;                                                                    \
                for (int i = 0; i < n; i++)                                                        \
                    s += x[r * ldx + i] * CV(w[o * ldw + i]);                                      \
                out[r * 4 + o] = s;                                                                \
            }                                                                                      \
    }

TILES(f32, float, cv_f32)
TILES(f16, uint16_t, cv_f16)
TILES(bf16, uint16_t, joule_bf16_to_f32)

static void dot_tile_q8(const float *x, size_t ldx, const struct jn_q8_block *w, size_t ldw, int n,
                        float *out)
{
    for (int r = 0; r < 4; r++)
        for (int o = 0; o < 4; o++)
            out[r * 4 + o] = dot_q8(x + r * ldx, w + o * ldw, n);
}

const struct jn_kernels jn_kernels_scalar = {
    "scalar",     dot_f32,      dot_f16,       dot_bf16, axpy_f32,    dot_q8,
    dot_tile_f32, dot_tile_f16, dot_tile_bf16, NULL,     dot_tile_q8,
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
