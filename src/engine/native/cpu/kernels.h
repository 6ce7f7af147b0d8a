/* CPU kernels of the native engine, with run-time dispatch.
 *
 * The scalar kernels are the reference; AVX2/FMA and AVX-512 variants are
 * chosen at run time from what the CPU supports, or forced with the
 * environment variable JOULE_KERNEL=scalar|avx2|avx512 (tests force each). */
#ifndef JOULE_ENGINE_NATIVE_CPU_KERNELS_H
#define JOULE_ENGINE_NATIVE_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* q8_0 weights (llama.cpp's layout): blocks of 32 int8 values with one f16
 * scale, value = d * q, along each stored row. */
#define JN_Q8_BLOCK 32
struct jn_q8_block {
    uint16_t d; /* f16 */
    int8_t q[JN_Q8_BLOCK];
};

struct jn_kernels {
    const char *name;
    /* sum_i x[i] * w[i], weights converted in registers */
    float (*dot_f32)(const float *x, const float *w, int n);
    float (*dot_f16)(const float *x, const uint16_t *w, int n);
    float (*dot_bf16)(const float *x, const uint16_t *w, int n);
    /* y[i] += a * w[i] (attention: the weighted sum of the value rows) */
    void (*axpy_f32)(float *y, float a, const float *w, int n);
    /* q8_0: n is a multiple of JN_Q8_BLOCK */
    float (*dot_q8)(const float *x, const struct jn_q8_block *w, int n);
    /* Prefill tiles (several rows of x at once; the same summation order per
     * output as dot_* on one row, up to the association of the SIMD lanes).
     * dot_tile: out[r * 4 + o] = sum_i x[r * ldx + i] * w[o * ldw + i], r, o < 4 */
    void (*dot_tile_f32)(const float *x, size_t ldx, const float *w, size_t ldw, int n, float *out);
    void (*dot_tile_f16)(const float *x, size_t ldx, const uint16_t *w, size_t ldw, int n,
                         float *out);
    void (*dot_tile_bf16)(const float *x, size_t ldx, const uint16_t *w, size_t ldw, int n,
                          float *out);
    /* v[i] = v[i] / (1 + exp(-(c1 v[i] + c3 v[i]^3))): SiLU (c1 = 1), quick GELU
     * (c1 = 1.702) and the tanh GELUs (x sigmoid(2u) = 0.5 x (1 + tanh u), u = a (x + b x^3):
     * c1 = 2a, c3 = 2ab), in the form that has no cancellation. NULL in the scalar set,
     * which keeps the formulas as transformers writes them. */
    void (*act_sigmoid)(float *v, int n, float c1, float c3);
    /* q8_0: ldw counts blocks; n is a multiple of JN_Q8_BLOCK */
    void (*dot_tile_q8)(const float *x, size_t ldx, const struct jn_q8_block *w, size_t ldw, int n,
                        float *out);
};
#define JN_TILE_ROWS 4
#define JN_DOT_TILE_OUT 4

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
