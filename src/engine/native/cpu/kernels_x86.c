/* AVX2/FMA and AVX-512 kernels, compiled with per-function target attributes
 * so the rest of the build stays baseline x86-64; chosen at run time. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "engine/native/cpu/kernels.h"
#include "engine/native/weights.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

/* ---- AVX2 ---------------------------------------------------------------- */

AVX2 static inline __m256 ld_f16_8(const uint16_t *w)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
}

AVX2 static inline __m256 ld_bf16_8(const uint16_t *w)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)w));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

AVX2 static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define DOT_AVX2(NAME, WT, LOAD, CONV)                                                             \
    AVX2 static float NAME(const float *x, const WT *w, int n)                                     \
    {                                                                                              \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                \
        int i = 0;                                                                                 \
        for (; i + 32 <= n; i += 32) {                                                             \
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), LOAD(w + i), a0);                         \
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), LOAD(w + i + 8), a1);                 \
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), LOAD(w + i + 16), a2);               \
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), LOAD(w + i + 24), a3);               \
        }                                                                                          \
        for (; i + 8 <= n; i += 8)                                                                 \
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), LOAD(w + i), a0);                         \
        float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));              \
        for (; i < n; i++)                                                                         \
            s += x[i] * CONV(w[i]);                                                                \
        return s;                                                                                  \
    }

#define AXPY_AVX2(NAME, WT, LOAD, CONV)                                                            \
    AVX2 static void NAME(float *y, float a, const WT *w, int n)                                   \
    {                                                                                              \
        __m256 va = _mm256_set1_ps(a);                                                             \
        int i = 0;                                                                                 \
        for (; i + 16 <= n; i += 16) {                                                             \
            _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, LOAD(w + i), _mm256_loadu_ps(y + i)));     \
            _mm256_storeu_ps(y + i + 8,                                                            \
                             _mm256_fmadd_ps(va, LOAD(w + i + 8), _mm256_loadu_ps(y + i + 8)));    \
        }                                                                                          \
        for (; i + 8 <= n; i += 8)                                                                 \
            _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, LOAD(w + i), _mm256_loadu_ps(y + i)));     \
        for (; i < n; i++)                                                                         \
            y[i] = fmaf(a, CONV(w[i]), y[i]);                                                      \
    }

static inline float id_f32(float v)
{
    return v;
}

DOT_AVX2(dot_f32_avx2, float, _mm256_loadu_ps, id_f32)
DOT_AVX2(dot_f16_avx2, uint16_t, ld_f16_8, jn_f16_lookup)
DOT_AVX2(dot_bf16_avx2, uint16_t, ld_bf16_8, jn_bf16_to_float)
AXPY_AVX2(axpy_f32_avx2, float, _mm256_loadu_ps, id_f32)
AXPY_AVX2(axpy_f16_avx2, uint16_t, ld_f16_8, jn_f16_lookup)
AXPY_AVX2(axpy_bf16_avx2, uint16_t, ld_bf16_8, jn_bf16_to_float)

const struct jn_kernels jn_kernels_avx2 = {
    "avx2", dot_f32_avx2, dot_f16_avx2, dot_bf16_avx2, axpy_f32_avx2, axpy_f16_avx2, axpy_bf16_avx2,
};

/* ---- AVX-512 ------------------------------------------------------------- */

AVX512 static inline __m512 ld_f32_16m(const float *w, __mmask16 m)
{
    return _mm512_maskz_loadu_ps(m, w);
}
AVX512 static inline __m512 ld_f16_16m(const uint16_t *w, __mmask16 m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w));
}
AVX512 static inline __m512 ld_bf16_16m(const uint16_t *w, __mmask16 m)
{
    __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, w));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

#define ALL16 ((__mmask16)0xffff)

#define DOT_AVX512(NAME, WT, LOADM)                                                                \
    AVX512 static float NAME(const float *x, const WT *w, int n)                                   \
    {                                                                                              \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                \
        int i = 0;                                                                                 \
        for (; i + 64 <= n; i += 64) {                                                             \
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), LOADM(w + i, ALL16), a0);                 \
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), LOADM(w + i + 16, ALL16), a1);       \
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), LOADM(w + i + 32, ALL16), a2);       \
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), LOADM(w + i + 48, ALL16), a3);       \
        }                                                                                          \
        for (; i + 16 <= n; i += 16)                                                               \
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), LOADM(w + i, ALL16), a0);                 \
        if (i < n) {                                                                               \
            __mmask16 m = (__mmask16)((1u << (n - i)) - 1);                                        \
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), LOADM(w + i, m), a1);            \
        }                                                                                          \
        return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));  \
    }

#define AXPY_AVX512(NAME, WT, LOADM)                                                               \
    AVX512 static void NAME(float *y, float a, const WT *w, int n)                                 \
    {                                                                                              \
        __m512 va = _mm512_set1_ps(a);                                                             \
        int i = 0;                                                                                 \
        for (; i + 16 <= n; i += 16)                                                               \
            _mm512_storeu_ps(y + i,                                                                \
                             _mm512_fmadd_ps(va, LOADM(w + i, ALL16), _mm512_loadu_ps(y + i)));    \
        if (i < n) {                                                                               \
            __mmask16 m = (__mmask16)((1u << (n - i)) - 1);                                        \
            _mm512_mask_storeu_ps(                                                                 \
                y + i, m, _mm512_fmadd_ps(va, LOADM(w + i, m), _mm512_maskz_loadu_ps(m, y + i)));  \
        }                                                                                          \
    }

DOT_AVX512(dot_f32_avx512, float, ld_f32_16m)
DOT_AVX512(dot_f16_avx512, uint16_t, ld_f16_16m)
DOT_AVX512(dot_bf16_avx512, uint16_t, ld_bf16_16m)
AXPY_AVX512(axpy_f32_avx512, float, ld_f32_16m)
AXPY_AVX512(axpy_f16_avx512, uint16_t, ld_f16_16m)
AXPY_AVX512(axpy_bf16_avx512, uint16_t, ld_bf16_16m)

const struct jn_kernels jn_kernels_avx512 = {
    "avx512",        dot_f32_avx512,  dot_f16_avx512,   dot_bf16_avx512,
    axpy_f32_avx512, axpy_f16_avx512, axpy_bf16_avx512,
};
#endif
