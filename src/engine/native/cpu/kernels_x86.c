/* AVX2/FMA and AVX-512 kernels, compiled with per-function target attributes
 * so the rest of the build stays baseline x86-64; chosen at run time. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "engine/native/cpu/kernels.h"
#include "engine/native/weights.h"
#include "model/dtype.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

/* Decoding streams each weight once, so the dot products are bound by how many cache
 * lines are in flight. With F16/BF16 conversion the loop needs several instructions per
 * line, the out-of-order window covers too few lines ahead, and the stream runs at about
 * half the memory's rate; prefetching PF_AHEAD bytes ahead of the weights closes most of
 * that gap (measured on the development VM's Xeon: BF16 7 -> 10 GB/s, F32 10 -> 12.6 GB/s
 * on one core; 1-8 KB tried, 4 KB best). A prefetch past the end of a matrix is harmless. */
#define PF_AHEAD 4096
#define PREFETCH_W(w, i, n_elems)                                                                  \
    do {                                                                                           \
        const char *pf_ = (const char *)((w) + (i)) + PF_AHEAD;                                    \
        for (int b_ = 0; b_ < (int)((n_elems) * sizeof *(w)); b_ += 64)                            \
            _mm_prefetch(pf_ + b_, _MM_HINT_T0);                                                   \
    } while (0)

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
            PREFETCH_W(w, i, 32);                                                                  \
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

static inline float id_f32(float v)
{
    return v;
}

DOT_AVX2(dot_f32_avx2, float, _mm256_loadu_ps, id_f32)
DOT_AVX2(dot_f16_avx2, uint16_t, ld_f16_8, jn_f16_lookup)
DOT_AVX2(dot_bf16_avx2, uint16_t, ld_bf16_8, joule_bf16_to_f32)

AVX2 static void axpy_f32_avx2(float *y, float a, const float *w, int n)
{
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(va, _mm256_loadu_ps(w + i), _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(
            y + i + 8, _mm256_fmadd_ps(va, _mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(y + i + 8)));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(va, _mm256_loadu_ps(w + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] = fmaf(a, w[i], y[i]);
}

AVX2 static inline __m256 ld_q8_8(const int8_t *q)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q)));
}

AVX2 static float dot_q8_avx2(const float *x, const struct jn_q8_block *w, int n)
{
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / JN_Q8_BLOCK; b++, x += JN_Q8_BLOCK) {
        PREFETCH_W(w, b, 1);
        __m256 t = _mm256_mul_ps(_mm256_loadu_ps(x), ld_q8_8(w[b].q));
        t = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8), ld_q8_8(w[b].q + 8), t);
        t = _mm256_fmadd_ps(_mm256_loadu_ps(x + 16), ld_q8_8(w[b].q + 16), t);
        t = _mm256_fmadd_ps(_mm256_loadu_ps(x + 24), ld_q8_8(w[b].q + 24), t);
        acc = _mm256_fmadd_ps(t, _mm256_set1_ps(jn_f16_lookup(w[b].d)), acc);
    }
    return hsum8(acc);
}

/* 4 rows x 2 outputs per pass, 8 accumulators */
#define DOT_TILE_AVX2(NAME, WT, LOAD, CONV)                                                        \
    AVX2 static void NAME(const float *x, size_t ldx, const WT *w, size_t ldw, int n, float *out)  \
    {                                                                                              \
        for (int o = 0; o < 4; o += 2) {                                                           \
            const WT *w0 = w + o * ldw, *w1 = w0 + ldw;                                            \
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00,          \
                   a21 = a00, a30 = a00, a31 = a00;                                                \
            int i = 0;                                                                             \
            for (; i + 8 <= n; i += 8) {                                                           \
                __m256 v0 = LOAD(w0 + i), v1 = LOAD(w1 + i);                                       \
                __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + ldx + i);             \
                __m256 x2 = _mm256_loadu_ps(x + 2 * ldx + i),                                      \
                       x3 = _mm256_loadu_ps(x + 3 * ldx + i);                                      \
                a00 = _mm256_fmadd_ps(x0, v0, a00);                                                \
                a01 = _mm256_fmadd_ps(x0, v1, a01);                                                \
                a10 = _mm256_fmadd_ps(x1, v0, a10);                                                \
                a11 = _mm256_fmadd_ps(x1, v1, a11);                                                \
                a20 = _mm256_fmadd_ps(x2, v0, a20);                                                \
                a21 = _mm256_fmadd_ps(x2, v1, a21);                                                \
                a30 = _mm256_fmadd_ps(x3, v0, a30);                                                \
                a31 = _mm256_fmadd_ps(x3, v1, a31);                                                \
            }                                                                                      \
            float s[8] = {hsum8(a00), hsum8(a01), hsum8(a10), hsum8(a11),                          \
                          hsum8(a20), hsum8(a21), hsum8(a30), hsum8(a31)};                         \
            for (; i < n; i++) {                                                                   \
                float c0 = CONV(w0[i]), c1 = CONV(w1[i]);                                          \
                for (int r = 0; r < 4; r++) {                                                      \
                    s[2 * r] += x[r * ldx + i] * c0;                                               \
                    s[2 * r + 1] += x[r * ldx + i] * c1;                                           \
                }                                                                                  \
            }                                                                                      \
            for (int r = 0; r < 4; r++) {                                                          \
                out[r * 4 + o] = s[2 * r];                                                         \
                out[r * 4 + o + 1] = s[2 * r + 1];                                                 \
            }                                                                                      \
        }                                                                                          \
    }

DOT_TILE_AVX2(dot_tile_f32_avx2, float, _mm256_loadu_ps, id_f32)
DOT_TILE_AVX2(dot_tile_f16_avx2, uint16_t, ld_f16_8, jn_f16_lookup)
DOT_TILE_AVX2(dot_tile_bf16_avx2, uint16_t, ld_bf16_8, joule_bf16_to_f32)

/* exp(x) for x in [-87, 88] (callers clamp): 2^k e^r, k = round(x / ln2), r = x - k ln2
 * (ln2 in two parts), |r| <= ln2 / 2, e^r by its Taylor polynomial of degree 7 (truncation
 * below 1e-8 relative). One body for both widths: T the vector type, P its intrinsics' prefix. */
#define EXP_REDUCE_POLY(T, P, x, k, p)                                                             \
    do {                                                                                           \
        T r_ = P##_fnmadd_ps(k, P##_set1_ps(0.693145751953125f), x);                               \
        r_ = P##_fnmadd_ps(k, P##_set1_ps(1.428606765330187e-06f), r_);                            \
        p = P##_set1_ps(1.0f / 5040);                                                              \
        p = P##_fmadd_ps(p, r_, P##_set1_ps(1.0f / 720));                                          \
        p = P##_fmadd_ps(p, r_, P##_set1_ps(1.0f / 120));                                          \
        p = P##_fmadd_ps(p, r_, P##_set1_ps(1.0f / 24));                                           \
        p = P##_fmadd_ps(p, r_, P##_set1_ps(1.0f / 6));                                            \
        p = P##_fmadd_ps(p, r_, P##_set1_ps(0.5f));                                                \
        p = P##_fmadd_ps(p, r_, P##_set1_ps(1.0f));                                                \
        p = P##_fmadd_ps(p, r_, P##_set1_ps(1.0f));                                                \
    } while (0)
#define LOG2E 1.44269504f

AVX2 static inline __m256 exp_avx2(__m256 x)
{
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 p;
    EXP_REDUCE_POLY(__m256, _mm256, x, k, p);
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

AVX2 static inline __m256 sigmoid_mul_avx2(__m256 v, __m256 c1, __m256 c3)
{
    __m256 z = _mm256_mul_ps(v, _mm256_fmadd_ps(_mm256_mul_ps(c3, v), v, c1));
    z = _mm256_min_ps(_mm256_max_ps(z, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(87.0f));
    __m256 den =
        _mm256_add_ps(_mm256_set1_ps(1.0f), exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), z)));
    return _mm256_div_ps(v, den);
}

AVX2 static void act_sigmoid_avx2(float *v, int n, float c1, float c3)
{
    __m256 a = _mm256_set1_ps(c1), b = _mm256_set1_ps(c3);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(v + i, sigmoid_mul_avx2(_mm256_loadu_ps(v + i), a, b));
    if (i < n) {
        float t[8] = {0};
        for (int j = 0; j < n - i; j++)
            t[j] = v[i + j];
        _mm256_storeu_ps(t, sigmoid_mul_avx2(_mm256_loadu_ps(t), a, b));
        for (int j = 0; j < n - i; j++)
            v[i + j] = t[j];
    }
}

/* q8_0 tile: each block of 32 weights is widened to f32 once for the 4 rows of x; per row
 * and output the block's products are summed first and then scaled, as dot_q8_avx2 does.
 * Two outputs per pass (8 accumulators). */
AVX2 static void dot_tile_q8_avx2(const float *x, size_t ldx, const struct jn_q8_block *w,
                                  size_t ldw, int n, float *out)
{
    const int nb = n / JN_Q8_BLOCK;
    for (int o = 0; o < 4; o += 2) {
        const struct jn_q8_block *w0 = w + o * ldw, *w1 = w0 + ldw;
        __m256 acc[4][2];
        for (int r = 0; r < 4; r++)
            acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            PREFETCH_W(w0, b, 1);
            PREFETCH_W(w1, b, 1);
            __m256 v0[4], v1[4];
            for (int j = 0; j < 4; j++) {
                v0[j] = ld_q8_8(w0[b].q + 8 * j);
                v1[j] = ld_q8_8(w1[b].q + 8 * j);
            }
            __m256 d0 = _mm256_set1_ps(jn_f16_lookup(w0[b].d));
            __m256 d1 = _mm256_set1_ps(jn_f16_lookup(w1[b].d));
            for (int r = 0; r < 4; r++) {
                const float *xr = x + r * ldx + b * JN_Q8_BLOCK;
                __m256 t0 = _mm256_mul_ps(_mm256_loadu_ps(xr), v0[0]);
                __m256 t1 = _mm256_mul_ps(_mm256_loadu_ps(xr), v1[0]);
                for (int j = 1; j < 4; j++) {
                    __m256 xv = _mm256_loadu_ps(xr + 8 * j);
                    t0 = _mm256_fmadd_ps(xv, v0[j], t0);
                    t1 = _mm256_fmadd_ps(xv, v1[j], t1);
                }
                acc[r][0] = _mm256_fmadd_ps(t0, d0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(t1, d1, acc[r][1]);
            }
        }
        for (int r = 0; r < 4; r++) {
            out[r * 4 + o] = hsum8(acc[r][0]);
            out[r * 4 + o + 1] = hsum8(acc[r][1]);
        }
    }
}

const struct jn_kernels jn_kernels_avx2 = {
    "avx2",           dot_f32_avx2,      dot_f16_avx2,      dot_bf16_avx2,      axpy_f32_avx2,
    dot_q8_avx2,      dot_tile_f32_avx2, dot_tile_f16_avx2, dot_tile_bf16_avx2, act_sigmoid_avx2,
    dot_tile_q8_avx2,
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
            PREFETCH_W(w, i, 64);                                                                  \
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

DOT_AVX512(dot_f32_avx512, float, ld_f32_16m)
DOT_AVX512(dot_f16_avx512, uint16_t, ld_f16_16m)
DOT_AVX512(dot_bf16_avx512, uint16_t, ld_bf16_16m)

AVX512 static void axpy_f32_avx512(float *y, float a, const float *w, int n)
{
    __m512 va = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i,
                         _mm512_fmadd_ps(va, _mm512_loadu_ps(w + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(
            y + i, m,
            _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

AVX512 static inline __m512 ld_q8_16(const int8_t *q)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q)));
}

AVX512 static float dot_q8_avx512(const float *x, const struct jn_q8_block *w, int n)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
    int b = 0, nb = n / JN_Q8_BLOCK;
    for (; b + 2 <= nb; b += 2, x += 2 * JN_Q8_BLOCK) {
        PREFETCH_W(w, b, 2);
        __m512 t0 = _mm512_mul_ps(_mm512_loadu_ps(x), ld_q8_16(w[b].q));
        t0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 16), ld_q8_16(w[b].q + 16), t0);
        __m512 t1 = _mm512_mul_ps(_mm512_loadu_ps(x + 32), ld_q8_16(w[b + 1].q));
        t1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 48), ld_q8_16(w[b + 1].q + 16), t1);
        acc0 = _mm512_fmadd_ps(t0, _mm512_set1_ps(jn_f16_lookup(w[b].d)), acc0);
        acc1 = _mm512_fmadd_ps(t1, _mm512_set1_ps(jn_f16_lookup(w[b + 1].d)), acc1);
    }
    if (b < nb) {
        __m512 t0 = _mm512_mul_ps(_mm512_loadu_ps(x), ld_q8_16(w[b].q));
        t0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 16), ld_q8_16(w[b].q + 16), t0);
        acc0 = _mm512_fmadd_ps(t0, _mm512_set1_ps(jn_f16_lookup(w[b].d)), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

#define DOT_TILE_AVX512(NAME, WT, LOADM)                                                           \
    AVX512 static void NAME(const float *x, size_t ldx, const WT *w, size_t ldw, int n,            \
                            float *out)                                                            \
    {                                                                                              \
        __m512 z = _mm512_setzero_ps();                                                            \
        __m512 a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;             \
        __m512 a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;             \
        for (int i = 0; i < n; i += 16) {                                                          \
            __mmask16 m = n - i >= 16 ? ALL16 : (__mmask16)((1u << (n - i)) - 1);                  \
            __m512 v0 = LOADM(w + i, m), v1 = LOADM(w + ldw + i, m);                               \
            __m512 v2 = LOADM(w + 2 * ldw + i, m), v3 = LOADM(w + 3 * ldw + i, m);                 \
            __m512 x0 = _mm512_maskz_loadu_ps(m, x + i);                                           \
            a00 = _mm512_fmadd_ps(x0, v0, a00);                                                    \
            a01 = _mm512_fmadd_ps(x0, v1, a01);                                                    \
            a02 = _mm512_fmadd_ps(x0, v2, a02);                                                    \
            a03 = _mm512_fmadd_ps(x0, v3, a03);                                                    \
            x0 = _mm512_maskz_loadu_ps(m, x + ldx + i);                                            \
            a10 = _mm512_fmadd_ps(x0, v0, a10);                                                    \
            a11 = _mm512_fmadd_ps(x0, v1, a11);                                                    \
            a12 = _mm512_fmadd_ps(x0, v2, a12);                                                    \
            a13 = _mm512_fmadd_ps(x0, v3, a13);                                                    \
            x0 = _mm512_maskz_loadu_ps(m, x + 2 * ldx + i);                                        \
            a20 = _mm512_fmadd_ps(x0, v0, a20);                                                    \
            a21 = _mm512_fmadd_ps(x0, v1, a21);                                                    \
            a22 = _mm512_fmadd_ps(x0, v2, a22);                                                    \
            a23 = _mm512_fmadd_ps(x0, v3, a23);                                                    \
            x0 = _mm512_maskz_loadu_ps(m, x + 3 * ldx + i);                                        \
            a30 = _mm512_fmadd_ps(x0, v0, a30);                                                    \
            a31 = _mm512_fmadd_ps(x0, v1, a31);                                                    \
            a32 = _mm512_fmadd_ps(x0, v2, a32);                                                    \
            a33 = _mm512_fmadd_ps(x0, v3, a33);                                                    \
        }                                                                                          \
        out[0] = _mm512_reduce_add_ps(a00);                                                        \
        out[1] = _mm512_reduce_add_ps(a01);                                                        \
        out[2] = _mm512_reduce_add_ps(a02);                                                        \
        out[3] = _mm512_reduce_add_ps(a03);                                                        \
        out[4] = _mm512_reduce_add_ps(a10);                                                        \
        out[5] = _mm512_reduce_add_ps(a11);                                                        \
        out[6] = _mm512_reduce_add_ps(a12);                                                        \
        out[7] = _mm512_reduce_add_ps(a13);                                                        \
        out[8] = _mm512_reduce_add_ps(a20);                                                        \
        out[9] = _mm512_reduce_add_ps(a21);                                                        \
        out[10] = _mm512_reduce_add_ps(a22);                                                       \
        out[11] = _mm512_reduce_add_ps(a23);                                                       \
        out[12] = _mm512_reduce_add_ps(a30);                                                       \
        out[13] = _mm512_reduce_add_ps(a31);                                                       \
        out[14] = _mm512_reduce_add_ps(a32);                                                       \
        out[15] = _mm512_reduce_add_ps(a33);                                                       \
    }

DOT_TILE_AVX512(dot_tile_f32_avx512, float, ld_f32_16m)
DOT_TILE_AVX512(dot_tile_f16_avx512, uint16_t, ld_f16_16m)
DOT_TILE_AVX512(dot_tile_bf16_avx512, uint16_t, ld_bf16_16m)

AVX512 static inline __m512 exp_avx512(__m512 x)
{
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 p;
    EXP_REDUCE_POLY(__m512, _mm512, x, k, p);
    return _mm512_scalef_ps(p, k);
}

/* as act_sigmoid_avx2 (same polynomial), 16 lanes, the tail masked */
AVX512 static void act_sigmoid_avx512(float *v, int n, float c1, float c3)
{
    __m512 a = _mm512_set1_ps(c1), b = _mm512_set1_ps(c3);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? ALL16 : (__mmask16)((1u << (n - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(m, v + i);
        __m512 z = _mm512_mul_ps(x, _mm512_fmadd_ps(_mm512_mul_ps(b, x), x, a));
        z = _mm512_min_ps(_mm512_max_ps(z, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(87.0f));
        __m512 den =
            _mm512_add_ps(_mm512_set1_ps(1.0f), exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), z)));
        _mm512_mask_storeu_ps(v + i, m, _mm512_div_ps(x, den));
    }
}

/* q8_0 tile: as the AVX2 one, four outputs per pass (16 accumulators). */
AVX512 static void dot_tile_q8_avx512(const float *x, size_t ldx, const struct jn_q8_block *w,
                                      size_t ldw, int n, float *out)
{
    const int nb = n / JN_Q8_BLOCK;
    __m512 acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int o = 0; o < 4; o++)
            acc[r][o] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m512 lo[4], hi[4], d[4];
        for (int o = 0; o < 4; o++) {
            const struct jn_q8_block *blk = w + o * ldw + b;
            PREFETCH_W(w + o * ldw, b, 1);
            lo[o] = ld_q8_16(blk->q);
            hi[o] = ld_q8_16(blk->q + 16);
            d[o] = _mm512_set1_ps(jn_f16_lookup(blk->d));
        }
        for (int r = 0; r < 4; r++) {
            const float *xr = x + r * ldx + b * JN_Q8_BLOCK;
            __m512 xl = _mm512_loadu_ps(xr), xh = _mm512_loadu_ps(xr + 16);
            for (int o = 0; o < 4; o++) {
                __m512 t = _mm512_fmadd_ps(xh, hi[o], _mm512_mul_ps(xl, lo[o]));
                acc[r][o] = _mm512_fmadd_ps(t, d[o], acc[r][o]);
            }
        }
    }
    for (int r = 0; r < 4; r++)
        for (int o = 0; o < 4; o++)
            out[r * 4 + o] = _mm512_reduce_add_ps(acc[r][o]);
}

const struct jn_kernels jn_kernels_avx512 = {
    "avx512",
    dot_f32_avx512,
    dot_f16_avx512,
    dot_bf16_avx512,
    axpy_f32_avx512,
    dot_q8_avx512,
    dot_tile_f32_avx512,
    dot_tile_f16_avx512,
    dot_tile_bf16_avx512,
    act_sigmoid_avx512,
    dot_tile_q8_avx512,
};

#endif
