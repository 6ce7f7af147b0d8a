/* CPU kernels of the native engine, with run-time dispatch.
 *
 * The scalar kernels are the reference; AVX2/FMA and AVX-512 variants are
 * chosen at run time from what the CPU supports, or forced with the
 * environment variable JOULE_KERNEL=scalar|avx2|avx512 (tests force each). */
#ifndef JOULE_ENGINE_NATIVE_CPU_KERNELS_H
#define JOULE_ENGINE_NATIVE_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

struct jn_kernels {
    const char *name;
    /* sum_i x[i] * w[i], weights converted in registers */
    float (*dot_f32)(const float *x, const float *w, int n);
    float (*dot_f16)(const float *x, const uint16_t *w, int n);
    float (*dot_bf16)(const float *x, const uint16_t *w, int n);
    /* y[i] += a * w[i] */
    void (*axpy_f32)(float *y, float a, const float *w, int n);
    void (*axpy_f16)(float *y, float a, const uint16_t *w, int n);
    void (*axpy_bf16)(float *y, float a, const uint16_t *w, int n);
};

extern const struct jn_kernels jn_kernels_scalar;
#if defined(__x86_64__)
extern const struct jn_kernels jn_kernels_avx2;
extern const struct jn_kernels jn_kernels_avx512;
#endif

/* The kernel set named `name` if this CPU can run it; NULL otherwise. */
const struct jn_kernels *jn_kernels_by_name(const char *name);
/* JOULE_KERNEL when set (NULL + error if the CPU lacks it), else the best available. */
const struct jn_kernels *jn_kernels_select(void);

/* f16 → f32 through a table (built once). */
float jn_f16_lookup(uint16_t h);

#endif
