/* The native engine's CUDA execution provider: weights on the device as stored
 * (F32, F16, BF16), float32 activations, a float32 KV cache on the device.
 *
 * One forward pass is a fixed sequence of kernels on one stream:
 *   embed → per layer { norm → QKV → rope + cache store → attention → out-proj
 *   (+ residual) → norm → MLP up (+ act / gate) → MLP down (+ residual) } →
 *   final norm → LM head.
 * Decoding (one token) uses warp-per-row GEMV kernels that stream the weights
 * once with 16-byte loads; prompts (several tokens) use cuBLAS SGEMM with the
 * pedantic math mode (no TF32), 16-bit weights widened to float32 first, so
 * every path accumulates in float32 like the CPU provider.  Every kernel reads
 * the token ids and the position from device memory, so the single-token step
 * is captured once as a CUDA graph and replayed for every position. */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/native/cuda/cuda_provider.h"

/* ---- small device helpers ---------------------------------------------- */

enum { WT_F32 = 0, WT_F16 = 1, WT_BF16 = 2 };
enum { ACT_NONE = 0, ACT_GELU_TANH, ACT_GELU_ERF, ACT_SILU, ACT_RELU };

#define GEMV_WARPS 8
#define NORM_THREADS 256
#define ATTN_THREADS 128
#define CHUNK 128 /* tokens per prompt pass */

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum (or max) over the block; every thread gets the result. `sh` holds 32 floats. */
__device__ float block_sum(float v, float *sh)
{
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0f;
    return warp_sum(v);
}

__device__ float block_max(float v, float *sh)
{
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : -INFINITY;
    return warp_max(v);
}

__device__ __forceinline__ float act_apply(float x, int act)
{
    switch (act) {
    case ACT_GELU_TANH: {
        /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): gelu_new, gelu_pytorch_tanh, Bloom */
        float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1.0f + tanhf(inner));
    }
    case ACT_GELU_ERF: return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    case ACT_SILU: return x / (1.0f + expf(-x));
    case ACT_RELU: return x > 0.0f ? x : 0.0f;
    default: return x;
    }
}

__device__ __forceinline__ float ld_elem(const void *p, int type, size_t i)
{
    switch (type) {
    case WT_F16: return __half2float(((const __half *)p)[i]);
    case WT_BF16: return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

/* 16 bytes of weights → float lanes */
template <typename T> struct wvec;
template <> struct wvec<float> {
    static constexpr int N = 4;
    static __device__ __forceinline__ void unpack(const uint4 &u, float *f)
    {
        f[0] = __uint_as_float(u.x);
        f[1] = __uint_as_float(u.y);
        f[2] = __uint_as_float(u.z);
        f[3] = __uint_as_float(u.w);
    }
    static __device__ __forceinline__ float one(const float *p, int i)
    {
        return p[i];
    }
};
template <> struct wvec<__half> {
    static constexpr int N = 8;
    static __device__ __forceinline__ void unpack(const uint4 &u, float *f)
    {
        const __half2 *h = (const __half2 *)&u;
        for (int k = 0; k < 4; k++) {
            float2 v = __half22float2(h[k]);
            f[2 * k] = v.x;
            f[2 * k + 1] = v.y;
        }
    }
    static __device__ __forceinline__ float one(const __half *p, int i)
    {
        return __half2float(p[i]);
    }
};
template <> struct wvec<__nv_bfloat16> {
    static constexpr int N = 8;
    static __device__ __forceinline__ void unpack(const uint4 &u, float *f)
    {
        /* bf16 → f32 is a 16-bit shift */
        const unsigned w[4] = {u.x, u.y, u.z, u.w};
        for (int k = 0; k < 4; k++) {
            f[2 * k] = __uint_as_float(w[k] << 16);
            f[2 * k + 1] = __uint_as_float(w[k] & 0xffff0000u);
        }
    }
    static __device__ __forceinline__ float one(const __nv_bfloat16 *p, int i)
    {
        return __bfloat162float(p[i]);
    }
};

/* ---- kernels -------------------------------------------------------------- */

/* y[row] = act(W[row,:] · x + bias[row]) + res[row]; W is [N, K] row-major.
 * One warp per row; `vec` = the rows are 16-byte aligned and K is a multiple of
 * the vector width. y may alias res (each element is read, then written, by one lane). */
template <typename T>
__global__ void __launch_bounds__(GEMV_WARPS * 32)
    k_gemv(const T *__restrict__ W, const float *__restrict__ x, float *y,
           const float *__restrict__ bias, const float *res, int N, int K, int act, int vec)
{
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int row = blockIdx.x * GEMV_WARPS + warp;
    if (row >= N) return;
    const T *w = W + (size_t)row * K;
    float acc = 0.0f;
    if (vec) {
        constexpr int V = wvec<T>::N;
        const uint4 *w4 = (const uint4 *)w;
        int nv = K / V;
#pragma unroll 4
        for (int i = lane; i < nv; i += 32) {
            uint4 u = __ldg(w4 + i);
            float f[V];
            wvec<T>::unpack(u, f);
            const float4 *x4 = (const float4 *)(x + (size_t)i * V);
#pragma unroll
            for (int j = 0; j < V / 4; j++) {
                float4 xv = __ldg(x4 + j);
                acc += f[4 * j] * xv.x + f[4 * j + 1] * xv.y + f[4 * j + 2] * xv.z +
                       f[4 * j + 3] * xv.w;
            }
        }
    } else {
        for (int i = lane; i < K; i += 32) acc += wvec<T>::one(w, i) * x[i];
    }
    acc = warp_sum(acc);
    if (lane == 0) {
        float v = acc + (bias ? bias[row] : 0.0f);
        v = act_apply(v, act);
        if (res) v += res[row];
        y[row] = v;
    }
}

/* After a GEMM into tmp [n, N]: y = act(tmp + bias) + res. y may alias res. */
__global__ void k_epilogue(const float *__restrict__ tmp, float *y, const float *__restrict__ bias,
                           const float *res, int N, size_t total, int act)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = tmp[i] + (bias ? bias[i % N] : 0.0f);
        v = act_apply(v, act);
        if (res) v += res[i];
        y[i] = v;
    }
}

__global__ void k_to_f32(const void *__restrict__ src, int type, float *__restrict__ dst,
                         size_t total)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = ld_elem(src, type, i);
}

/* h[t,:] = emb[tok[t],:] * scale (+ pos_emb[n_past + t,:]). io[0] = n_past, io[1..] = ids. */
__global__ void k_embed(const void *__restrict__ emb, int etype, const void *__restrict__ pemb,
                        int ptype, const int *__restrict__ io, float *__restrict__ h, int D,
                        float scale)
{
    int t = blockIdx.x;
    int tok = io[1 + t];
    int pos = io[0] + t;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float v = ld_elem(emb, etype, (size_t)tok * D + i) * scale;
        if (pemb) v += ld_elem(pemb, ptype, (size_t)pos * D + i);
        h[(size_t)t * D + i] = v;
    }
}

/* LayerNorm over rows of D; y may alias x. */
__global__ void k_layernorm(const float *x, float *y, const float *__restrict__ w,
                            const float *__restrict__ b, int D, float eps)
{
    __shared__ float sh[32];
    const float *xr = x + (size_t)blockIdx.x * D;
    float *yr = y + (size_t)blockIdx.x * D;
    float s = 0.0f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) s += xr[i];
    float mean = block_sum(s, sh) / (float)D;
    float v = 0.0f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float d = xr[i] - mean;
        v += d * d;
    }
    float var = block_sum(v, sh) / (float)D;
    float r = 1.0f / sqrtf(var + eps);
    __syncthreads(); /* every read of x precedes any write of y */
    for (int i = threadIdx.x; i < D; i += blockDim.x)
        yr[i] = (xr[i] - mean) * r * w[i] + (b ? b[i] : 0.0f);
}

/* RMSNorm: y = x / sqrt(mean(x^2) + eps) * (w or 1 + w). y may alias x. */
__global__ void k_rmsnorm(const float *x, float *y, const float *__restrict__ w, int D, float eps,
                          int add_one)
{
    __shared__ float sh[32];
    const float *xr = x + (size_t)blockIdx.x * D;
    float *yr = y + (size_t)blockIdx.x * D;
    float s = 0.0f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) s += xr[i] * xr[i];
    float r = rsqrtf(block_sum(s, sh) / (float)D + eps);
    __syncthreads();
    for (int i = threadIdx.x; i < D; i += blockDim.x)
        yr[i] = xr[i] * r * (add_one ? 1.0f + w[i] : w[i]);
}

/* rotate_half rope on the first `rot` dims of one head vector `src`, element d. */
__device__ __forceinline__ float rope_elem(const float *src, int d, int rot, int pos,
                                           const float *__restrict__ inv_freq)
{
    if (d >= rot) return src[d];
    int half = rot >> 1;
    int i = d < half ? d : d - half;
    float ang = (float)pos * inv_freq[i];
    float c = cosf(ang), s = sinf(ang);
    if (d < half) return src[d] * c - src[d + half] * s;
    return src[d] * c + src[d - half] * s;
}

struct qkv_layout {
    int qkv_dim;            /* row length of the fused projection output */
    int q_off, k_off, v_off; /* offset of head 0's q, k, v in a row */
    int q_hs, kv_hs;        /* stride between heads */
};

/* Split the fused QKV rows, rotate q and k, store k and v in the layer's cache
 * ([n_kv][n_ctx][hd]) at positions n_past + t, write q as [n, n_heads, hd]. */
__global__ void k_qkv_post(const float *__restrict__ qkv, float *__restrict__ q,
                           float *__restrict__ kc, float *__restrict__ vc,
                           const int *__restrict__ io, qkv_layout L, int nh, int nkv, int hd,
                           int n_ctx, int rot, const float *__restrict__ inv_freq)
{
    int t = blockIdx.x;
    int pos = io[0] + t;
    const float *row = qkv + (size_t)t * L.qkv_dim;
    for (int idx = threadIdx.x; idx < nh * hd; idx += blockDim.x) {
        int h = idx / hd, d = idx - h * hd;
        q[((size_t)t * nh + h) * hd + d] = rope_elem(row + L.q_off + h * L.q_hs, d, rot, pos, inv_freq);
    }
    for (int idx = threadIdx.x; idx < nkv * hd; idx += blockDim.x) {
        int h = idx / hd, d = idx - h * hd;
        size_t at = ((size_t)h * n_ctx + pos) * hd + d;
        kc[at] = rope_elem(row + L.k_off + h * L.kv_hs, d, rot, pos, inv_freq);
        vc[at] = row[L.v_off + h * L.kv_hs + d];
    }
}

/* Causal attention of query t (grid.y) and head h (grid.x) over cache
 * positions 0 .. n_past + t. Dynamic shared memory: n_ctx scores + hd query
 * + ATTN_THREADS partial sums. ALiBi adds slope[h] * key position. */
__global__ void __launch_bounds__(ATTN_THREADS)
    k_attention(const float *__restrict__ q, const float *__restrict__ kc,
                const float *__restrict__ vc, float *__restrict__ out,
                const int *__restrict__ io, int nh, int nkv, int hd, int n_ctx, float scale,
                const float *__restrict__ alibi)
{
    extern __shared__ float smem[];
    __shared__ float red[32];
    float *sc = smem;               /* [n_ctx] */
    float *qs = smem + n_ctx;       /* [hd] */
    float *part = qs + hd;          /* [ATTN_THREADS] */
    int h = blockIdx.x, t = blockIdx.y;
    int L = io[0] + t + 1;
    int kvh = h / (nh / nkv);
    const float *K = kc + (size_t)kvh * n_ctx * hd;
    const float *V = vc + (size_t)kvh * n_ctx * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = q[((size_t)t * nh + h) * hd + d];
    __syncthreads();
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    float slope = alibi ? alibi[h] : 0.0f;
    for (int j = warp; j < L; j += nw) {
        const float *kr = K + (size_t)j * hd;
        float s = 0.0f;
        for (int d = lane; d < hd; d += 32) s += qs[d] * kr[d];
        s = warp_sum(s);
        if (lane == 0) sc[j] = s * scale + slope * (float)j;
    }
    __syncthreads();
    float m = -INFINITY;
    for (int j = threadIdx.x; j < L; j += blockDim.x) m = fmaxf(m, sc[j]);
    m = block_max(m, red);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < L; j += blockDim.x) {
        float e = expf(sc[j] - m);
        sc[j] = e;
        sum += e;
    }
    sum = block_sum(sum, red); /* its barriers also publish sc[] */
    float inv = 1.0f / sum;
    float *o = out + ((size_t)t * nh + h) * hd;
    if (hd >= (int)blockDim.x) {
        for (int d = threadIdx.x; d < hd; d += blockDim.x) {
            float acc = 0.0f;
            for (int j = 0; j < L; j++) acc += sc[j] * V[(size_t)j * hd + d];
            o[d] = acc * inv;
        }
    } else {
        int G = blockDim.x / hd, g = threadIdx.x / hd, d = threadIdx.x - g * hd;
        if (g < G) {
            float acc = 0.0f;
            for (int j = g; j < L; j += G) acc += sc[j] * V[(size_t)j * hd + d];
            part[g * hd + d] = acc;
        }
        __syncthreads();
        if (threadIdx.x < hd) {
            float acc = 0.0f;
            for (int k = 0; k < G; k++) acc += part[k * hd + threadIdx.x];
            o[threadIdx.x] = acc * inv;
        }
    }
}

/* out[t, i] = act(gu[t, i]) * gu[t, I + i] (gate and up fused as [2I] rows) */
__global__ void k_gated(const float *__restrict__ gu, float *__restrict__ out, int I, size_t total,
                        int act)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < total;
         k += (size_t)gridDim.x * blockDim.x) {
        size_t t = k / I, i = k - t * I;
        const float *r = gu + t * 2 * (size_t)I;
        out[k] = act_apply(r[i], act) * r[I + i];
    }
}

/* ---- host side ------------------------------------------------------------ */

struct linear {
    void *w;    /* [N, K] row-major, device */
    int type;   /* WT_* */
    int N, K;
    float *b;   /* [N] or NULL */
    int vec;    /* 16-byte vector loads are valid */
};

struct layer {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    struct linear qkv, o, up, down;
};

enum norm_kind { NORM_LAYER, NORM_RMS, NORM_RMS1 };

struct cuda_ctx {
    struct joule_model_config cfg;
    int n_ctx, hd, nh, nkv, D, I, V;
    int gated, parallel, neox_two_norms, act, rot;
    enum norm_kind norm;
    float emb_scale, eps;
    struct qkv_layout qkvl;

    void *emb;
    int emb_type;
    void *pemb;
    int pemb_type;
    float *emb_ln_w, *emb_ln_b;
    float *fin_w, *fin_b;
    struct layer *layers;
    struct linear head;
    float *inv_freq, *alibi;
    float *kc, *vc; /* [layers][nkv][n_ctx][hd] */

    /* scratch for CHUNK tokens */
    float *h, *a, *m, *qkv, *q, *att, *ff, *gu, *tmp, *logits;
    float *wide; /* F32 copy of a 16-bit weight for cuBLAS; wide_n floats */
    size_t wide_n;
    int *io;      /* device: [0] n_past, [1..] ids */
    int *io_host; /* pinned */
    float *logits_host; /* pinned [V] */
    size_t attn_smem;

    cudaStream_t stream;
    cublasHandle_t blas;
    cudaGraph_t graph;
    cudaGraphExec_t graph_exec;
    int use_graphs;

    void **allocs;
    size_t n_allocs, cap_allocs;
};

#define CU(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return joule_errorf(e_ == cudaErrorMemoryAllocation ? JOULE_ERR_NOMEM                  \
                                                                : JOULE_ERR_INTERNAL,              \
                                "CUDA: %s failed: %s", #call, cudaGetErrorString(e_));             \
    } while (0)

#define CB(call)                                                                                   \
    do {                                                                                           \
        cublasStatus_t b_ = (call);                                                                \
        if (b_ != CUBLAS_STATUS_SUCCESS)                                                           \
            return joule_errorf(JOULE_ERR_INTERNAL, "cuBLAS: %s failed: status %d", #call,        \
                                (int)b_);                                                          \
    } while (0)

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        enum joule_status s_ = (expr);                                                             \
        if (s_ != JOULE_OK) return s_;                                                             \
    } while (0)

extern "C" enum joule_status joule_cuda_probe(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice || n == 0) {
        (void)cudaGetLastError();
        return joule_errorf(JOULE_ERR_UNAVAILABLE, "no CUDA device (%s)",
                            e == cudaSuccess ? "none found" : cudaGetErrorString(e));
    }
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return joule_errorf(JOULE_ERR_UNAVAILABLE, "CUDA is not usable here: %s",
                            cudaGetErrorString(e));
    }
    cudaDeviceProp p;
    e = cudaGetDeviceProperties(&p, 0);
    if (e != cudaSuccess)
        return joule_errorf(JOULE_ERR_UNAVAILABLE, "CUDA device 0: %s", cudaGetErrorString(e));
    if (p.major < 8)
        return joule_errorf(JOULE_ERR_UNAVAILABLE,
                            "CUDA device 0 (%s) has compute capability %d.%d; joule's kernels need "
                            "8.0 or newer",
                            p.name, p.major, p.minor);
    return JOULE_OK;
}

extern "C" enum joule_status joule_cuda_device_name(char *buf, size_t size)
{
    if (size) buf[0] = 0;
    enum joule_status s = joule_cuda_probe();
    if (s != JOULE_OK) return s;
    cudaDeviceProp p;
    CU(cudaGetDeviceProperties(&p, 0));
    snprintf(buf, size, "%s, cc %d.%d, %.1f GiB", p.name, p.major, p.minor,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    return JOULE_OK;
}

static enum joule_status dalloc(struct cuda_ctx *c, void **p, size_t bytes)
{
    *p = NULL;
    if (c->n_allocs == c->cap_allocs) {
        size_t cap = c->cap_allocs ? 2 * c->cap_allocs : 64;
        void **a = (void **)realloc(c->allocs, cap * sizeof *a);
        if (!a) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
        c->allocs = a;
        c->cap_allocs = cap;
    }
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 16);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        *p = NULL;
        return joule_errorf(JOULE_ERR_NOMEM, "CUDA: cannot allocate %zu bytes of device memory: %s",
                            bytes, cudaGetErrorString(e));
    }
    c->allocs[c->n_allocs++] = *p;
    return JOULE_OK;
}

static int wtype_of(enum joule_dtype t)
{
    switch (t) {
    case JOULE_DTYPE_F32: return WT_F32;
    case JOULE_DTYPE_F16: return WT_F16;
    case JOULE_DTYPE_BF16: return WT_BF16;
    default: return -1;
    }
}

static size_t wsize(int type)
{
    return type == WT_F32 ? 4 : 2;
}

static float host_f16(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalize */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float host_elem(const struct joule_tensor *t, size_t i)
{
    uint16_t u;
    switch (t->dtype) {
    case JOULE_DTYPE_F16: memcpy(&u, (const char *)t->data + 2 * i, 2); return host_f16(u);
    case JOULE_DTYPE_BF16: {
        memcpy(&u, (const char *)t->data + 2 * i, 2);
        uint32_t b = (uint32_t)u << 16;
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    default: {
        float f;
        memcpy(&f, (const char *)t->data + 4 * i, 4);
        return f;
    }
    }
}

static int64_t numel(const struct joule_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}

static enum joule_status need(const struct joule_model *m, const char *name,
                              const struct joule_tensor **out)
{
    *out = joule_model_tensor(m, name);
    if (!*out) return joule_errorf(JOULE_ERR_NOT_FOUND, "CUDA provider: tensor '%s' is missing", name);
    if (wtype_of((*out)->dtype) < 0)
        return joule_errorf(JOULE_ERR_UNSUPPORTED,
                            "CUDA provider: tensor '%s' is %s; F32, F16 and BF16 are supported",
                            name, joule_dtype_name((*out)->dtype));
    return JOULE_OK;
}

/* A vector (norm weight, bias) as float32 on the device; NULL name or absent
 * tensor with optional=1 → *out = NULL. `expect` elements. */
static enum joule_status upload_vec(struct cuda_ctx *c, const struct joule_model *m,
                                    const char *name, int64_t expect, int optional, float **out)
{
    *out = NULL;
    const struct joule_tensor *t = joule_model_tensor(m, name);
    if (!t) {
        if (optional) return JOULE_OK;
        return joule_errorf(JOULE_ERR_NOT_FOUND, "CUDA provider: tensor '%s' is missing", name);
    }
    TRY(need(m, name, &t));
    if (numel(t) != expect)
        return joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: tensor '%s' has %lld elements, expected %lld",
                            name, (long long)numel(t), (long long)expect);
    float *hbuf = (float *)malloc((size_t)expect * sizeof(float));
    if (!hbuf) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < expect; i++) hbuf[i] = host_elem(t, (size_t)i);
    enum joule_status s = dalloc(c, (void **)out, (size_t)expect * sizeof(float));
    if (s == JOULE_OK) {
        cudaError_t e = cudaMemcpy(*out, hbuf, (size_t)expect * sizeof(float), cudaMemcpyHostToDevice);
        if (e != cudaSuccess)
            s = joule_errorf(JOULE_ERR_INTERNAL, "CUDA: upload of '%s': %s", name, cudaGetErrorString(e));
    }
    free(hbuf);
    return s;
}

/* Row-concatenate 1..3 weight matrices (nn.Linear [out, in]; `conv1d`: GPT-2's
 * [in, out], transposed here) into one [sum out, K] device matrix in the
 * stored dtype (float32 when the parts' dtypes differ), with their biases
 * (bias names may be NULL; a missing bias is zero when another part has one). */
static enum joule_status upload_linear(struct cuda_ctx *c, const struct joule_model *m, int nparts,
                                       const char *const *wn, const char *const *bn, int conv1d,
                                       struct linear *L)
{
    const struct joule_tensor *t[3];
    int64_t rows[3], K = -1, N = 0;
    int type = -1, mixed = 0;
    memset(L, 0, sizeof *L);
    for (int p = 0; p < nparts; p++) {
        TRY(need(m, wn[p], &t[p]));
        if (t[p]->n_dims != 2)
            return joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: '%s' is not a matrix", wn[p]);
        int64_t r = conv1d ? t[p]->shape[1] : t[p]->shape[0];
        int64_t k = conv1d ? t[p]->shape[0] : t[p]->shape[1];
        if (K >= 0 && k != K)
            return joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: '%s' has %lld inputs, expected %lld",
                                wn[p], (long long)k, (long long)K);
        K = k;
        rows[p] = r;
        N += r;
        int wt = wtype_of(t[p]->dtype);
        if (type >= 0 && wt != type) mixed = 1;
        type = wt;
    }
    if (mixed) type = WT_F32;
    size_t es = wsize(type);
    size_t bytes = (size_t)N * (size_t)K * es;
    TRY(dalloc(c, &L->w, bytes));
    size_t off = 0;
    for (int p = 0; p < nparts; p++) {
        size_t part = (size_t)rows[p] * (size_t)K;
        int wt = wtype_of(t[p]->dtype);
        char *dst = (char *)L->w + off * es;
        if (!conv1d && wt == type) {
            CU(cudaMemcpy(dst, t[p]->data, part * es, cudaMemcpyHostToDevice));
        } else {
            char *hbuf = (char *)malloc(part * es);
            if (!hbuf) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
            for (int64_t r = 0; r < rows[p]; r++) {
                for (int64_t k = 0; k < K; k++) {
                    size_t src = conv1d ? (size_t)k * (size_t)rows[p] + (size_t)r
                                        : (size_t)r * (size_t)K + (size_t)k;
                    size_t d = (size_t)r * (size_t)K + (size_t)k;
                    if (wt == type)
                        memcpy(hbuf + d * es, (const char *)t[p]->data + src * es, es);
                    else {
                        float f = host_elem(t[p], src);
                        memcpy(hbuf + d * 4, &f, 4);
                    }
                }
            }
            cudaError_t e = cudaMemcpy(dst, hbuf, part * es, cudaMemcpyHostToDevice);
            free(hbuf);
            if (e != cudaSuccess)
                return joule_errorf(JOULE_ERR_INTERNAL, "CUDA: upload of '%s': %s", wn[p],
                                    cudaGetErrorString(e));
        }
        off += part;
    }
    int any_bias = 0;
    for (int p = 0; p < nparts; p++)
        if (bn && bn[p] && joule_model_tensor(m, bn[p])) any_bias = 1;
    if (any_bias) {
        float *hb = (float *)calloc((size_t)N, sizeof(float));
        if (!hb) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
        int64_t o = 0;
        enum joule_status s = JOULE_OK;
        for (int p = 0; p < nparts && s == JOULE_OK; p++) {
            const struct joule_tensor *b = bn[p] ? joule_model_tensor(m, bn[p]) : NULL;
            if (b) {
                if (wtype_of(b->dtype) < 0 || numel(b) != rows[p])
                    s = joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: bias '%s' does not fit", bn[p]);
                else
                    for (int64_t i = 0; i < rows[p]; i++) hb[o + i] = host_elem(b, (size_t)i);
            }
            o += rows[p];
        }
        if (s == JOULE_OK) s = dalloc(c, (void **)&L->b, (size_t)N * sizeof(float));
        if (s == JOULE_OK && cudaMemcpy(L->b, hb, (size_t)N * sizeof(float),
                                        cudaMemcpyHostToDevice) != cudaSuccess)
            s = joule_errorf(JOULE_ERR_INTERNAL, "CUDA: bias upload failed");
        free(hb);
        TRY(s);
    }
    L->type = type;
    L->N = (int)N;
    L->K = (int)K;
    L->vec = (K * (int64_t)es) % 16 == 0;
    return JOULE_OK;
}

static int act_of(const char *name, enum joule_arch arch)
{
    if (arch == JOULE_ARCH_BLOOM) return ACT_GELU_TANH;
    if (!strcmp(name, "silu") || !strcmp(name, "swish")) return ACT_SILU;
    if (!strcmp(name, "relu")) return ACT_RELU;
    if (!strcmp(name, "gelu") || !strcmp(name, "gelu_python"))
        return arch == JOULE_ARCH_GEMMA ? ACT_GELU_TANH : ACT_GELU_ERF;
    if (strstr(name, "gelu")) return ACT_GELU_TANH; /* gelu_new, gelu_pytorch_tanh, gelu_fast */
    return -1;
}

/* ALiBi slopes as transformers' build_alibi_tensor computes them (float32). */
static void alibi_slopes(int n, float *out)
{
    int cp = 1;
    while (cp * 2 <= n) cp *= 2;
    float base = (float)pow(2.0, -pow(2.0, -(log2((double)cp) - 3.0)));
    for (int i = 0; i < cp; i++) out[i] = powf(base, (float)(i + 1));
    if (cp != n) {
        float extra = (float)pow(2.0, -pow(2.0, -(log2((double)(2 * cp)) - 3.0)));
        int rem = n - cp < cp ? n - cp : cp;
        for (int i = 0; i < rem; i++) out[cp + i] = powf(extra, (float)(2 * i + 1));
    }
}

static enum joule_status load_weights(struct cuda_ctx *c, const struct joule_model *m)
{
    const struct joule_model_config *g = &c->cfg;
    char n[8][160];
    const char *w[3], *b[3];
    const struct joule_tensor *t;
    int D = c->D;
#define NM(i, ...) (snprintf(n[i], sizeof n[i], __VA_ARGS__), n[i])
    const char *emb = NULL, *pemb = NULL, *head = NULL, *headb = NULL, *fin = NULL, *finb = NULL;
    switch (g->arch) {
    case JOULE_ARCH_GPT2:
    case JOULE_ARCH_GPT_BIGCODE:
        emb = "transformer.wte.weight";
        pemb = "transformer.wpe.weight";
        fin = "transformer.ln_f.weight";
        finb = "transformer.ln_f.bias";
        break;
    case JOULE_ARCH_GPT_NEOX:
        emb = "gpt_neox.embed_in.weight";
        fin = "gpt_neox.final_layer_norm.weight";
        finb = "gpt_neox.final_layer_norm.bias";
        head = "embed_out.weight";
        break;
    case JOULE_ARCH_BLOOM:
        emb = "transformer.word_embeddings.weight";
        fin = "transformer.ln_f.weight";
        finb = "transformer.ln_f.bias";
        break;
    case JOULE_ARCH_LLAMA:
    case JOULE_ARCH_GEMMA:
        emb = "model.embed_tokens.weight";
        fin = "model.norm.weight";
        break;
    case JOULE_ARCH_PHI:
        emb = "model.embed_tokens.weight";
        fin = "model.final_layernorm.weight";
        finb = "model.final_layernorm.bias";
        head = "lm_head.weight";
        headb = "lm_head.bias";
        break;
    default: return joule_errorf(JOULE_ERR_UNSUPPORTED, "CUDA provider: unknown architecture");
    }
    /* embeddings (kept as stored; the tied head reads the same matrix) */
    TRY(need(m, emb, &t));
    if (t->n_dims != 2 || t->shape[0] < c->V || t->shape[1] != D)
        return joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: '%s' has the wrong shape", emb);
    c->emb_type = wtype_of(t->dtype);
    TRY(dalloc(c, &c->emb, t->nbytes));
    CU(cudaMemcpy(c->emb, t->data, (size_t)numel(t) * wsize(c->emb_type), cudaMemcpyHostToDevice));
    if (pemb) {
        TRY(need(m, pemb, &t));
        if (t->n_dims != 2 || t->shape[1] != D || t->shape[0] < c->n_ctx)
            return joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: '%s' has the wrong shape", pemb);
        c->pemb_type = wtype_of(t->dtype);
        TRY(dalloc(c, &c->pemb, t->nbytes));
        CU(cudaMemcpy(c->pemb, t->data, (size_t)numel(t) * wsize(c->pemb_type),
                      cudaMemcpyHostToDevice));
    }
    if (g->arch == JOULE_ARCH_BLOOM) {
        TRY(upload_vec(c, m, "transformer.word_embeddings_layernorm.weight", D, 0, &c->emb_ln_w));
        TRY(upload_vec(c, m, "transformer.word_embeddings_layernorm.bias", D, 0, &c->emb_ln_b));
    }
    TRY(upload_vec(c, m, fin, D, 0, &c->fin_w));
    if (finb) TRY(upload_vec(c, m, finb, D, 0, &c->fin_b));
    /* output head: explicit, or lm_head.weight when present, else tied */
    if (!head && joule_model_tensor(m, "lm_head.weight") && !g->tie_word_embeddings)
        head = "lm_head.weight";
    if (head) {
        w[0] = head;
        b[0] = headb;
        TRY(upload_linear(c, m, 1, w, b, 0, &c->head));
    } else {
        c->head.w = c->emb;
        c->head.type = c->emb_type;
        c->head.N = c->V;
        c->head.K = D;
        c->head.vec = ((size_t)D * wsize(c->emb_type)) % 16 == 0;
    }
    if (c->head.N != c->V || c->head.K != D)
        return joule_errorf(JOULE_ERR_FORMAT,
                            "CUDA provider: the output head is %dx%d, expected %dx%d", c->head.N,
                            c->head.K, c->V, D);

    for (int l = 0; l < g->n_layers; l++) {
        struct layer *Ly = &c->layers[l];
        switch (g->arch) {
        case JOULE_ARCH_GPT2:
        case JOULE_ARCH_GPT_BIGCODE: {
            int conv = g->arch == JOULE_ARCH_GPT2;
            TRY(upload_vec(c, m, NM(0, "transformer.h.%d.ln_1.weight", l), D, 0, &Ly->ln1_w));
            TRY(upload_vec(c, m, NM(0, "transformer.h.%d.ln_1.bias", l), D, 0, &Ly->ln1_b));
            TRY(upload_vec(c, m, NM(0, "transformer.h.%d.ln_2.weight", l), D, 0, &Ly->ln2_w));
            TRY(upload_vec(c, m, NM(0, "transformer.h.%d.ln_2.bias", l), D, 0, &Ly->ln2_b));
            static const char *const parts[4] = {"attn.c_attn", "attn.c_proj", "mlp.c_fc",
                                                  "mlp.c_proj"};
            struct linear *dst[4] = {&Ly->qkv, &Ly->o, &Ly->up, &Ly->down};
            for (int p = 0; p < 4; p++) {
                w[0] = NM(1, "transformer.h.%d.%s.weight", l, parts[p]);
                b[0] = NM(2, "transformer.h.%d.%s.bias", l, parts[p]);
                TRY(upload_linear(c, m, 1, w, b, conv, dst[p]));
            }
            break;
        }
        case JOULE_ARCH_GPT_NEOX:
        case JOULE_ARCH_BLOOM: {
            const char *pre = g->arch == JOULE_ARCH_BLOOM ? "transformer.h" : "gpt_neox.layers";
            const char *att = g->arch == JOULE_ARCH_BLOOM ? "self_attention" : "attention";
            TRY(upload_vec(c, m, NM(0, "%s.%d.input_layernorm.weight", pre, l), D, 0, &Ly->ln1_w));
            TRY(upload_vec(c, m, NM(0, "%s.%d.input_layernorm.bias", pre, l), D, 0, &Ly->ln1_b));
            TRY(upload_vec(c, m, NM(0, "%s.%d.post_attention_layernorm.weight", pre, l), D, 0,
                           &Ly->ln2_w));
            TRY(upload_vec(c, m, NM(0, "%s.%d.post_attention_layernorm.bias", pre, l), D, 0,
                           &Ly->ln2_b));
            const char *const parts[4] = {"query_key_value", "dense", "dense_h_to_4h",
                                          "dense_4h_to_h"};
            struct linear *dst[4] = {&Ly->qkv, &Ly->o, &Ly->up, &Ly->down};
            for (int p = 0; p < 4; p++) {
                const char *sub = p < 2 ? att : "mlp";
                w[0] = NM(1, "%s.%d.%s.%s.weight", pre, l, sub, parts[p]);
                b[0] = NM(2, "%s.%d.%s.%s.bias", pre, l, sub, parts[p]);
                TRY(upload_linear(c, m, 1, w, b, 0, dst[p]));
            }
            break;
        }
        case JOULE_ARCH_LLAMA:
        case JOULE_ARCH_GEMMA:
        case JOULE_ARCH_PHI: {
            int phi = g->arch == JOULE_ARCH_PHI;
            TRY(upload_vec(c, m, NM(0, "model.layers.%d.input_layernorm.weight", l), D, 0,
                           &Ly->ln1_w));
            if (phi) {
                TRY(upload_vec(c, m, NM(0, "model.layers.%d.input_layernorm.bias", l), D, 0,
                               &Ly->ln1_b));
            } else {
                TRY(upload_vec(c, m, NM(0, "model.layers.%d.post_attention_layernorm.weight", l),
                               D, 0, &Ly->ln2_w));
            }
            w[0] = NM(1, "model.layers.%d.self_attn.q_proj.weight", l);
            w[1] = NM(2, "model.layers.%d.self_attn.k_proj.weight", l);
            w[2] = NM(3, "model.layers.%d.self_attn.v_proj.weight", l);
            b[0] = NM(4, "model.layers.%d.self_attn.q_proj.bias", l);
            b[1] = NM(5, "model.layers.%d.self_attn.k_proj.bias", l);
            b[2] = NM(6, "model.layers.%d.self_attn.v_proj.bias", l);
            TRY(upload_linear(c, m, 3, w, b, 0, &Ly->qkv));
            w[0] = NM(1, phi ? "model.layers.%d.self_attn.dense.weight"
                             : "model.layers.%d.self_attn.o_proj.weight",
                      l);
            b[0] = NM(4, phi ? "model.layers.%d.self_attn.dense.bias"
                             : "model.layers.%d.self_attn.o_proj.bias",
                      l);
            TRY(upload_linear(c, m, 1, w, b, 0, &Ly->o));
            if (phi) {
                w[0] = NM(1, "model.layers.%d.mlp.fc1.weight", l);
                b[0] = NM(4, "model.layers.%d.mlp.fc1.bias", l);
                TRY(upload_linear(c, m, 1, w, b, 0, &Ly->up));
                w[0] = NM(1, "model.layers.%d.mlp.fc2.weight", l);
                b[0] = NM(4, "model.layers.%d.mlp.fc2.bias", l);
                TRY(upload_linear(c, m, 1, w, b, 0, &Ly->down));
            } else {
                w[0] = NM(1, "model.layers.%d.mlp.gate_proj.weight", l);
                w[1] = NM(2, "model.layers.%d.mlp.up_proj.weight", l);
                b[0] = NM(4, "model.layers.%d.mlp.gate_proj.bias", l);
                b[1] = NM(5, "model.layers.%d.mlp.up_proj.bias", l);
                TRY(upload_linear(c, m, 2, w, b, 0, &Ly->up));
                w[0] = NM(1, "model.layers.%d.mlp.down_proj.weight", l);
                b[0] = NM(4, "model.layers.%d.mlp.down_proj.bias", l);
                TRY(upload_linear(c, m, 1, w, b, 0, &Ly->down));
            }
            break;
        }
        default: return joule_errorf(JOULE_ERR_UNSUPPORTED, "CUDA provider: unknown architecture");
        }
        /* shapes the kernels rely on */
        int qkv_n = (c->nh + 2 * c->nkv) * c->hd;
        int up_n = c->gated ? 2 * c->I : c->I;
        if (Ly->qkv.N != qkv_n || Ly->qkv.K != D || Ly->o.N != D || Ly->o.K != c->nh * c->hd ||
            Ly->up.N != up_n || Ly->up.K != D || Ly->down.N != D || Ly->down.K != c->I)
            return joule_errorf(JOULE_ERR_FORMAT,
                                "CUDA provider: layer %d's projections do not match the config "
                                "(qkv %dx%d, o %dx%d, up %dx%d, down %dx%d)",
                                l, Ly->qkv.N, Ly->qkv.K, Ly->o.N, Ly->o.K, Ly->up.N, Ly->up.K,
                                Ly->down.N, Ly->down.K);
    }
#undef NM
    return JOULE_OK;
}

static enum joule_status open_impl(struct cuda_ctx *c, const struct joule_model *m)
{
    const struct joule_model_config *g = &c->cfg;
    c->D = g->hidden_size;
    c->nh = g->n_heads;
    c->nkv = g->n_kv_heads > 0 ? g->n_kv_heads : g->n_heads;
    c->hd = g->head_dim > 0 ? g->head_dim : g->hidden_size / g->n_heads;
    c->V = g->vocab_size;
    c->eps = g->norm_eps;
    if (c->D <= 0 || c->nh <= 0 || c->nkv <= 0 || c->nh % c->nkv || c->hd <= 0 || c->V <= 0 ||
        g->n_layers <= 0)
        return joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: the model config is inconsistent");
    c->act = act_of(g->activation, g->arch);
    if (c->act < 0)
        return joule_errorf(JOULE_ERR_UNSUPPORTED, "CUDA provider: activation '%s' is not supported",
                            g->activation);
    c->gated = g->arch == JOULE_ARCH_LLAMA || g->arch == JOULE_ARCH_GEMMA;
    c->parallel = g->arch == JOULE_ARCH_PHI || (g->arch == JOULE_ARCH_GPT_NEOX && g->parallel_residual);
    c->neox_two_norms = g->arch == JOULE_ARCH_GPT_NEOX;
    c->norm = g->arch == JOULE_ARCH_LLAMA ? NORM_RMS
              : g->arch == JOULE_ARCH_GEMMA ? NORM_RMS1
                                            : NORM_LAYER;
    c->emb_scale = g->arch == JOULE_ARCH_GEMMA ? sqrtf((float)c->D) : 1.0f;
    c->rot = 0;
    if (g->arch == JOULE_ARCH_LLAMA || g->arch == JOULE_ARCH_GEMMA)
        c->rot = g->rotary_dim > 0 ? g->rotary_dim : c->hd;
    else if (g->arch == JOULE_ARCH_GPT_NEOX || g->arch == JOULE_ARCH_PHI)
        c->rot = g->rotary_dim;
    if (c->rot < 0 || c->rot > c->hd || (c->rot & 1))
        return joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: rotary_dim %d does not fit head_dim %d",
                            c->rot, c->hd);

    /* the MLP width from the tensors' config field, as the kernels need it */
    c->I = g->intermediate_size > 0 ? g->intermediate_size : 4 * c->D;

    /* fused QKV row layout */
    struct qkv_layout *L = &c->qkvl;
    L->qkv_dim = (c->nh + 2 * c->nkv) * c->hd;
    int interleaved = g->arch == JOULE_ARCH_GPT_NEOX || g->arch == JOULE_ARCH_BLOOM ||
                      (g->arch == JOULE_ARCH_GPT_BIGCODE && c->nkv == c->nh && !g->multi_query);
    if (interleaved) { /* [head][q k v][hd] */
        if (c->nkv != c->nh)
            return joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: fused per-head QKV needs MHA");
        L->q_off = 0;
        L->k_off = c->hd;
        L->v_off = 2 * c->hd;
        L->q_hs = L->kv_hs = 3 * c->hd;
    } else { /* [q heads][k heads][v heads] */
        L->q_off = 0;
        L->k_off = c->nh * c->hd;
        L->v_off = (c->nh + c->nkv) * c->hd;
        L->q_hs = L->kv_hs = c->hd;
    }

    c->layers = (struct layer *)calloc((size_t)g->n_layers, sizeof *c->layers);
    if (!c->layers) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    TRY(load_weights(c, m));

    /* rope and ALiBi tables */
    if (c->rot > 0) {
        int nf = c->rot / 2;
        float hf[1024];
        if (nf > 1024) return joule_errorf(JOULE_ERR_UNSUPPORTED, "CUDA provider: rotary_dim too large");
        float theta = g->rope_theta > 0 ? g->rope_theta : 10000.0f;
        for (int i = 0; i < nf; i++) /* as transformers: 1 / theta^(2i/dim) in float32 */
            hf[i] = 1.0f / powf(theta, (float)(2 * i) / (float)c->rot);
        TRY(dalloc(c, (void **)&c->inv_freq, (size_t)nf * sizeof(float)));
        CU(cudaMemcpy(c->inv_freq, hf, (size_t)nf * sizeof(float), cudaMemcpyHostToDevice));
    }
    if (g->arch == JOULE_ARCH_BLOOM) {
        float *hs = (float *)malloc((size_t)c->nh * sizeof(float));
        if (!hs) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
        alibi_slopes(c->nh, hs);
        enum joule_status s = dalloc(c, (void **)&c->alibi, (size_t)c->nh * sizeof(float));
        if (s == JOULE_OK && cudaMemcpy(c->alibi, hs, (size_t)c->nh * sizeof(float),
                                        cudaMemcpyHostToDevice) != cudaSuccess)
            s = joule_errorf(JOULE_ERR_INTERNAL, "CUDA: ALiBi upload failed");
        free(hs);
        TRY(s);
    }

    /* KV cache and scratch */
    size_t kv = (size_t)g->n_layers * c->nkv * (size_t)c->n_ctx * c->hd;
    TRY(dalloc(c, (void **)&c->kc, kv * sizeof(float)));
    TRY(dalloc(c, (void **)&c->vc, kv * sizeof(float)));
    size_t D = (size_t)c->D, QD = (size_t)c->nh * c->hd;
    size_t up_n = (size_t)(c->gated ? 2 * c->I : c->I);
    size_t maxN = D;
    if ((size_t)c->qkvl.qkv_dim > maxN) maxN = (size_t)c->qkvl.qkv_dim;
    if (up_n > maxN) maxN = up_n;
    TRY(dalloc(c, (void **)&c->h, CHUNK * D * sizeof(float)));
    TRY(dalloc(c, (void **)&c->a, CHUNK * D * sizeof(float)));
    TRY(dalloc(c, (void **)&c->m, CHUNK * D * sizeof(float)));
    TRY(dalloc(c, (void **)&c->qkv, CHUNK * (size_t)c->qkvl.qkv_dim * sizeof(float)));
    TRY(dalloc(c, (void **)&c->q, CHUNK * QD * sizeof(float)));
    TRY(dalloc(c, (void **)&c->att, CHUNK * QD * sizeof(float)));
    TRY(dalloc(c, (void **)&c->ff, CHUNK * (size_t)c->I * sizeof(float)));
    TRY(dalloc(c, (void **)&c->gu, CHUNK * up_n * sizeof(float)));
    TRY(dalloc(c, (void **)&c->tmp, CHUNK * maxN * sizeof(float)));
    TRY(dalloc(c, (void **)&c->logits, CHUNK * (size_t)c->V * sizeof(float)));
    TRY(dalloc(c, (void **)&c->io, (CHUNK + 1) * sizeof(int)));
    CU(cudaMallocHost((void **)&c->io_host, (CHUNK + 1) * sizeof(int)));
    CU(cudaMallocHost((void **)&c->logits_host, (size_t)c->V * sizeof(float)));

    c->attn_smem = ((size_t)c->n_ctx + c->hd + ATTN_THREADS) * sizeof(float);
    cudaDeviceProp p;
    CU(cudaGetDeviceProperties(&p, 0));
    if (c->attn_smem > p.sharedMemPerBlockOptin)
        return joule_errorf(JOULE_ERR_UNSUPPORTED,
                            "CUDA provider: a context of %d positions needs %zu bytes of shared "
                            "memory per block; the device has %zu",
                            c->n_ctx, c->attn_smem, (size_t)p.sharedMemPerBlockOptin);
    CU(cudaFuncSetAttribute(k_attention, cudaFuncAttributeMaxDynamicSharedMemorySize,
                            (int)c->attn_smem));

    CU(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    CB(cublasCreate(&c->blas));
    CB(cublasSetStream(c->blas, c->stream));
    /* float32 products must stay float32: no TF32 or other reduced-precision paths */
    CB(cublasSetMathMode(c->blas, CUBLAS_PEDANTIC_MATH));
    const char *env = getenv("JOULE_CUDA_GRAPHS");
    c->use_graphs = !(env && !strcmp(env, "0"));
    CU(cudaDeviceSynchronize());
    return JOULE_OK;
}

extern "C" void joule_cuda_free(void *ctx)
{
    struct cuda_ctx *c = (struct cuda_ctx *)ctx;
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    if (c->graph_exec) cudaGraphExecDestroy(c->graph_exec);
    if (c->graph) cudaGraphDestroy(c->graph);
    if (c->blas) cublasDestroy(c->blas);
    if (c->stream) cudaStreamDestroy(c->stream);
    for (size_t i = 0; i < c->n_allocs; i++) cudaFree(c->allocs[i]);
    if (c->io_host) cudaFreeHost(c->io_host);
    if (c->logits_host) cudaFreeHost(c->logits_host);
    (void)cudaGetLastError();
    free(c->allocs);
    free(c->layers);
    free(c);
}

extern "C" enum joule_status joule_cuda_open(const struct joule_model *m, int n_ctx, void **ctx)
{
    *ctx = NULL;
    TRY(joule_cuda_probe());
    const struct joule_model_config *g = joule_model_get_config(m);
    if (n_ctx <= 0 || (g->max_positions > 0 && n_ctx > g->max_positions))
        return joule_errorf(JOULE_ERR_INVALID_ARG, "CUDA provider: context %d outside 1..%d", n_ctx,
                            g->max_positions);
    CU(cudaSetDevice(0));
    struct cuda_ctx *c = (struct cuda_ctx *)calloc(1, sizeof *c);
    if (!c) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    c->cfg = *g;
    c->n_ctx = n_ctx;
    enum joule_status s = open_impl(c, m);
    if (s != JOULE_OK) {
        joule_cuda_free(c);
        return s;
    }
    *ctx = c;
    return JOULE_OK;
}

extern "C" enum joule_status joule_cuda_reset(void *ctx)
{
    (void)ctx; /* positions are passed with every eval; stale cache rows are never read */
    return JOULE_OK;
}

/* y[n, N] = act(x[n, K] W^T + b) + res. */
static enum joule_status matmul(struct cuda_ctx *c, const struct linear *L, const float *x, float *y,
                                int n, int act, const float *res)
{
    if (n == 1) {
        dim3 grid((unsigned)((L->N + GEMV_WARPS - 1) / GEMV_WARPS));
        switch (L->type) {
        case WT_F16:
            k_gemv<__half><<<grid, GEMV_WARPS * 32, 0, c->stream>>>(
                (const __half *)L->w, x, y, L->b, res, L->N, L->K, act, L->vec);
            break;
        case WT_BF16:
            k_gemv<__nv_bfloat16><<<grid, GEMV_WARPS * 32, 0, c->stream>>>(
                (const __nv_bfloat16 *)L->w, x, y, L->b, res, L->N, L->K, act, L->vec);
            break;
        default:
            k_gemv<float><<<grid, GEMV_WARPS * 32, 0, c->stream>>>((const float *)L->w, x, y, L->b,
                                                                    res, L->N, L->K, act, L->vec);
        }
        return JOULE_OK;
    }
    const float *W = (const float *)L->w;
    size_t wn = (size_t)L->N * L->K;
    if (L->type != WT_F32) {
        if (c->wide_n < wn) {
            /* grow the widening buffer (sized by the largest matrix used in a prompt pass) */
            CU(cudaStreamSynchronize(c->stream));
            for (size_t i = 0; i < c->n_allocs; i++)
                if (c->allocs[i] == c->wide) {
                    cudaFree(c->wide);
                    c->allocs[i] = c->allocs[--c->n_allocs];
                    break;
                }
            c->wide = NULL;
            c->wide_n = 0;
            TRY(dalloc(c, (void **)&c->wide, wn * sizeof(float)));
            c->wide_n = wn;
        }
        unsigned blocks = (unsigned)((wn + 255) / 256 < 65535 * 8 ? (wn + 255) / 256 : 65535 * 8);
        k_to_f32<<<blocks, 256, 0, c->stream>>>(L->w, L->type, c->wide, wn);
        W = c->wide;
    }
    const float one = 1.0f, zero = 0.0f;
    /* row-major y[n,N] = x[n,K] W[N,K]^T  ⇔  column-major y'(N×n) = W'(K×N)^T x'(K×n) */
    CB(cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, L->N, n, L->K, &one, W, L->K, x, L->K, &zero,
                   c->tmp, L->N));
    size_t total = (size_t)n * L->N;
    unsigned blocks = (unsigned)((total + 255) / 256);
    k_epilogue<<<blocks, 256, 0, c->stream>>>(c->tmp, y, L->b, res, L->N, total, act);
    return JOULE_OK;
}

static void norm(struct cuda_ctx *c, const float *x, float *y, const float *w, const float *b, int n)
{
    if (c->norm == NORM_LAYER)
        k_layernorm<<<n, NORM_THREADS, 0, c->stream>>>(x, y, w, b, c->D, c->eps);
    else
        k_rmsnorm<<<n, NORM_THREADS, 0, c->stream>>>(x, y, w, c->D, c->eps, c->norm == NORM_RMS1);
}

/* Enqueue one forward pass over n (<= CHUNK) tokens whose ids and position are
 * already in c->io. want: 0 = no logits, 1 = last row into c->logits, 2 = all rows. */
static enum joule_status forward(struct cuda_ctx *c, int n, int want)
{
    const struct joule_model_config *g = &c->cfg;
    int D = c->D;
    k_embed<<<n, 256, 0, c->stream>>>(c->emb, c->emb_type, c->pemb, c->pemb_type, c->io, c->h, D,
                                      c->emb_scale);
    if (c->emb_ln_w)
        k_layernorm<<<n, NORM_THREADS, 0, c->stream>>>(c->h, c->h, c->emb_ln_w, c->emb_ln_b, D,
                                                       c->eps);
    size_t kv_layer = (size_t)c->nkv * c->n_ctx * c->hd;
    for (int l = 0; l < g->n_layers; l++) {
        const struct layer *Ly = &c->layers[l];
        float scale = 1.0f / sqrtf((float)c->hd);
        if (g->arch == JOULE_ARCH_GPT2 && g->scale_attn_by_inverse_layer_idx)
            scale /= (float)(l + 1);
        norm(c, c->h, c->a, Ly->ln1_w, Ly->ln1_b, n);
        if (c->parallel && c->neox_two_norms) norm(c, c->h, c->m, Ly->ln2_w, Ly->ln2_b, n);
        TRY(matmul(c, &Ly->qkv, c->a, c->qkv, n, ACT_NONE, NULL));
        k_qkv_post<<<n, 256, 0, c->stream>>>(c->qkv, c->q, c->kc + l * kv_layer,
                                             c->vc + l * kv_layer, c->io, c->qkvl, c->nh, c->nkv,
                                             c->hd, c->n_ctx, c->rot, c->inv_freq);
        k_attention<<<dim3((unsigned)c->nh, (unsigned)n), ATTN_THREADS, c->attn_smem, c->stream>>>(
            c->q, c->kc + l * kv_layer, c->vc + l * kv_layer, c->att, c->io, c->nh, c->nkv, c->hd,
            c->n_ctx, scale, c->alibi);
        if (c->parallel) {
            const float *mlp_in = c->neox_two_norms ? c->m : c->a;
            TRY(matmul(c, &Ly->up, mlp_in, c->ff, n, c->act, NULL));
            TRY(matmul(c, &Ly->o, c->att, c->h, n, ACT_NONE, c->h));
            TRY(matmul(c, &Ly->down, c->ff, c->h, n, ACT_NONE, c->h));
        } else {
            TRY(matmul(c, &Ly->o, c->att, c->h, n, ACT_NONE, c->h));
            norm(c, c->h, c->a, Ly->ln2_w, Ly->ln2_b, n);
            if (c->gated) {
                TRY(matmul(c, &Ly->up, c->a, c->gu, n, ACT_NONE, NULL));
                size_t total = (size_t)n * c->I;
                k_gated<<<(unsigned)((total + 255) / 256), 256, 0, c->stream>>>(c->gu, c->ff, c->I,
                                                                              total, c->act);
            } else {
                TRY(matmul(c, &Ly->up, c->a, c->ff, n, c->act, NULL));
            }
            TRY(matmul(c, &Ly->down, c->ff, c->h, n, ACT_NONE, c->h));
        }
    }
    if (want == 1) {
        /* only the last row needs the final norm and the head */
        norm(c, c->h + (size_t)(n - 1) * D, c->a, c->fin_w, c->fin_b, 1);
        TRY(matmul(c, &c->head, c->a, c->logits, 1, ACT_NONE, NULL));
    } else if (want == 2) {
        norm(c, c->h, c->a, c->fin_w, c->fin_b, n);
        TRY(matmul(c, &c->head, c->a, c->logits, n, ACT_NONE, NULL));
    }
    CU(cudaGetLastError());
    return JOULE_OK;
}

static enum joule_status decode_graph(struct cuda_ctx *c)
{
    if (c->graph_exec) return JOULE_OK;
    CU(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
    enum joule_status s = forward(c, 1, 1);
    cudaGraph_t gr = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &gr);
    if (s != JOULE_OK) {
        if (gr) cudaGraphDestroy(gr);
        return s;
    }
    if (e != cudaSuccess)
        return joule_errorf(JOULE_ERR_INTERNAL, "CUDA: graph capture failed: %s",
                            cudaGetErrorString(e));
    c->graph = gr;
    CU(cudaGraphInstantiate(&c->graph_exec, c->graph, 0));
    return JOULE_OK;
}

extern "C" enum joule_status joule_cuda_eval(void *ctx, const int32_t *tokens, size_t n,
                                             size_t n_past, float *logits, int all_logits)
{
    struct cuda_ctx *c = (struct cuda_ctx *)ctx;
    if (!c || !tokens || n == 0) return joule_errorf(JOULE_ERR_INVALID_ARG, "CUDA provider: no tokens");
    if (n_past + n > (size_t)c->n_ctx)
        return joule_errorf(JOULE_ERR_LIMIT, "CUDA provider: %zu tokens at position %zu pass the "
                            "context length %d", n, n_past, c->n_ctx);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->V)
            return joule_errorf(JOULE_ERR_INVALID_ARG, "CUDA provider: token id %d outside the "
                                "vocabulary (%d)", (int)tokens[i], c->V);
    size_t V = (size_t)c->V;
    for (size_t done = 0; done < n;) {
        int k = (int)(n - done < CHUNK ? n - done : CHUNK);
        int last = done + (size_t)k == n;
        int want = !logits ? 0 : all_logits ? 2 : last ? 1 : 0;
        c->io_host[0] = (int)(n_past + done);
        for (int i = 0; i < k; i++) c->io_host[1 + i] = tokens[done + (size_t)i];
        CU(cudaMemcpyAsync(c->io, c->io_host, (size_t)(k + 1) * sizeof(int), cudaMemcpyHostToDevice,
                           c->stream));
        if (k == 1 && c->use_graphs && want != 2) {
            TRY(decode_graph(c));
            CU(cudaGraphLaunch(c->graph_exec, c->stream));
        } else {
            TRY(forward(c, k, want));
        }
        if (want == 1) {
            CU(cudaMemcpyAsync(c->logits_host, c->logits, V * sizeof(float), cudaMemcpyDeviceToHost,
                               c->stream));
            CU(cudaStreamSynchronize(c->stream));
            memcpy(logits, c->logits_host, V * sizeof(float));
        } else if (want == 2) {
            CU(cudaMemcpyAsync(logits + done * V, c->logits, (size_t)k * V * sizeof(float),
                               cudaMemcpyDeviceToHost, c->stream));
            CU(cudaStreamSynchronize(c->stream));
        } else {
            /* io_host is reused by the next chunk: wait for its copy */
            CU(cudaStreamSynchronize(c->stream));
        }
        done += (size_t)k;
    }
    return JOULE_OK;
}
