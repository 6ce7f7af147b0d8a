/* The native engine's CUDA execution provider: weights on the device as stored
 * (F32, F16, BF16), float32 activations, a float32 KV cache on the device.
 *
 * One forward pass is a fixed sequence of kernels on one stream:
 *   embed → per layer { norm → QKV → rope + cache store → attention → out-proj
 *   (+ residual) → norm → MLP up (+ act / gate) → MLP down (+ residual) } →
 *   final norm → LM head.
 * Decoding (one token) uses warp-per-row GEMV kernels that stream the weights
 * once with 16-byte loads; prompts (several tokens) use a tiled GEMM kernel
 * that widens 16-bit weights in shared memory. Both accumulate in float32 with
 * plain FMAs (no TF32, no reduced-precision tensor-core paths), as the CPU
 * provider does. (cuBLAS would need the activations narrowed to 16 bits or the
 * weights widened in a copy for mixed dtypes, and prompt passes are a small
 * part of generation time; one less library also keeps the build simple.)  Every kernel reads
 * the token ids and the position from device memory, so the single-token step
 * is captured once as a CUDA graph and replayed for every position. */
#ifdef JOULE_CUDA_EMU
#include "engine/native/cuda/cuda_emu.h" /* tests/cuda_emu: the kernels on the CPU */
#else
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
/* kernel<<<grid, block, smem, stream>>>(args), spelled so that the CPU emulator can
 * run the same source */
#define JC_CFG(g, b, s, st) <<<g, b, s, st>>>
#define LAUNCH(k, cfg, ...) k JC_CFG cfg(__VA_ARGS__)
/* float4 reads of dynamic shared memory need 16-byte alignment: ask for it */
#define DYN_SMEM(type, name) extern __shared__ __align__(16) type name[]
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/native/cuda/cuda_provider.h"
extern "C" {
#include "engine/native/weights.h"
#include "model/dtype.h"
}

/* ---- small device helpers ---------------------------------------------- */

enum { WT_F32 = 0, WT_F16 = 1, WT_BF16 = 2 };
enum {
    ACT_NONE = 0,
    ACT_GELU_TANH,
    ACT_GELU_ERF,
    ACT_SILU,
    ACT_RELU,
    ACT_BLOOM_GELU,
    ACT_QUICK_GELU
};

#define GEMV_WARPS 8
#define NORM_THREADS 256
#define ATTN_THREADS 128
#define CHUNK 128 /* tokens per prompt pass */

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
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
        /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): gelu_new, gelu_pytorch_tanh */
        float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1.0f + tanhf(inner));
    }
    case ACT_GELU_ERF:
        return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    case ACT_SILU:
        return x / (1.0f + expf(-x));
    case ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case ACT_BLOOM_GELU:
        return x * 0.5f * (1.0f + tanhf(0.79788456f * x * (1.0f + 0.044715f * x * x)));
    case ACT_QUICK_GELU:
        return x / (1.0f + expf(-1.702f * x));
    default:
        return x;
    }
}

__device__ __forceinline__ float ld_elem(const void *p, int type, size_t i)
{
    switch (type) {
    case WT_F16:
        return __half2float(((const __half *)p)[i]);
    case WT_BF16:
        return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    default:
        return ((const float *)p)[i];
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
        /* element 2k is the low half of word k (no type punning of u: that is
         * undefined behaviour, and an optimizing host compiler was seen to break it) */
        const unsigned w[4] = {u.x, u.y, u.z, u.w};
        for (int k = 0; k < 4; k++) {
            f[2 * k] = __half2float(__ushort_as_half((unsigned short)(w[k] & 0xffffu)));
            f[2 * k + 1] = __half2float(__ushort_as_half((unsigned short)(w[k] >> 16)));
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

enum { NK_NONE = 0, NK_LAYER, NK_RMS, NK_RMS1 /* Gemma: x * (1 + w) */, NK_GATED };

/* Normalize one row of D floats with the whole block: LayerNorm (two-pass mean
 * and variance), RMSNorm, or Gemma's (1 + w) RMSNorm. yr may alias xr. Every
 * caller uses the same block size, so every caller gets the same bits. */
__device__ void norm_row(const float *xr, float *yr, const float *__restrict__ w,
                         const float *__restrict__ b, int D, float eps, int kind, float *sh)
{
    if (kind == NK_LAYER) {
        float s = 0.0f;
        for (int i = threadIdx.x; i < D; i += blockDim.x)
            s += xr[i];
        float mean = block_sum(s, sh) / (float)D;
        float v = 0.0f;
        for (int i = threadIdx.x; i < D; i += blockDim.x) {
            float d = xr[i] - mean;
            v += d * d;
        }
        float r = 1.0f / sqrtf(block_sum(v, sh) / (float)D + eps);
        __syncthreads(); /* every read of x precedes any write of y */
        for (int i = threadIdx.x; i < D; i += blockDim.x)
            yr[i] = (xr[i] - mean) * r * w[i] + (b ? b[i] : 0.0f);
    } else {
        float s = 0.0f;
        for (int i = threadIdx.x; i < D; i += blockDim.x)
            s += xr[i] * xr[i];
        float r = 1.0f / sqrtf(block_sum(s, sh) / (float)D + eps);
        __syncthreads();
        for (int i = threadIdx.x; i < D; i += blockDim.x)
            yr[i] = xr[i] * r * (kind == NK_RMS1 ? 1.0f + w[i] : w[i]);
    }
}

/* Rows of D, one block each; y may alias x. */
__global__ void __launch_bounds__(NORM_THREADS)
    k_norm(const float *x, float *y, const float *__restrict__ w, const float *__restrict__ b,
           int D, float eps, int kind)
{
    __shared__ float sh[32];
    norm_row(x + (size_t)blockIdx.x * D, y + (size_t)blockIdx.x * D, w, b, D, eps, kind, sh);
}

/* y[row] = act(W[row,:] · x + bias[row]) + res[row]; W is [N, K] row-major.
 * One warp per row; `vec` = the rows are 16-byte aligned and K is a multiple of
 * the vector width. y may alias res (each element is read, then written, by one lane). */
template <typename T>
__global__ void __launch_bounds__(GEMV_WARPS * 32)
    k_gemv(const T *__restrict__ W, const float *__restrict__ x_in, float *y,
           const float *__restrict__ bias, const float *res, int N, int K, int act, int vec,
           const float *__restrict__ nw, const float *__restrict__ nb, float eps, int nkind,
           int gate_act)
{
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int row = blockIdx.x * GEMV_WARPS + warp;
    const float *x = x_in;
    if (nkind != NK_NONE) {
        /* the step before this projection, fused: each block writes its input into
         * shared memory (dynamic, K floats) exactly as k_norm or k_gated would:
         * x normalized, or (NK_GATED) gate_act(x[i]) * x[K + i] */
        __shared__ float sh[32];
        DYN_SMEM(float, xs);
        if (nkind == NK_GATED)
            for (int i = threadIdx.x; i < K; i += blockDim.x)
                xs[i] = act_apply(x_in[i], gate_act) * x_in[K + i];
        else
            norm_row(x_in, xs, nw, nb, K, eps, nkind, sh);
        __syncthreads();
        x = xs;
    }
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
                float4 xv = x4[j]; /* global (L1/L2-resident) or shared */
                acc += f[4 * j] * xv.x + f[4 * j + 1] * xv.y + f[4 * j + 2] * xv.z +
                       f[4 * j + 3] * xv.w;
            }
        }
    } else {
        for (int i = lane; i < K; i += 32)
            acc += wvec<T>::one(w, i) * x[i];
    }
    acc = warp_sum(acc);
    if (lane == 0) {
        float v = acc + (bias ? bias[row] : 0.0f);
        v = act_apply(v, act);
        if (res) v += res[row];
        y[row] = v;
    }
}

/* Y[n, N] = act(X[n, K] W[N, K]^T + bias) + res, for prompt passes (n > 1).
 * Tiles of GM tokens × GN outputs (prompts are short: few token rows, many output
 * columns), GK-deep K slices staged in shared memory as float32 (16-bit weights
 * are widened on load), 4×4 outputs per thread, float32 FMA throughout: the same
 * arithmetic as the GEMV path and the CPU provider, no TF32. Y may alias res
 * (each output is read, then written, by one thread). */
#define GM 32
#define GN 128
#define GK 16
template <typename T>
__global__ void __launch_bounds__(256)
    k_gemm(const T *__restrict__ W, const float *__restrict__ X, float *Y,
           const float *__restrict__ bias, const float *res, int n, int N, int K, int act)
{
    __shared__ __align__(16) float xs[GK][GM + 4];
    __shared__ __align__(16) float ws[GK][GN + 4];
    int tx = threadIdx.x & 31, ty = threadIdx.x >> 5; /* 32 × 8 threads, 4 × 4 outputs each */
    int row0 = blockIdx.y * GM, col0 = blockIdx.x * GN;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
            acc[i][j] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += GK) {
        for (int i = threadIdx.x; i < GM * GK; i += 256) {
            int r = i / GK, k = i - r * GK, gk = k0 + k, gr = row0 + r;
            xs[k][r] = gr < n && gk < K ? X[(size_t)gr * K + gk] : 0.0f;
        }
        for (int i = threadIdx.x; i < GN * GK; i += 256) {
            int r = i / GK, k = i - r * GK, gk = k0 + k, gc = col0 + r;
            ws[k][r] = gc < N && gk < K ? wvec<T>::one(W + (size_t)gc * K, gk) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < GK; k++) {
            float4 a = *(const float4 *)&xs[k][ty * 4];
            float4 b = *(const float4 *)&ws[k][tx * 4];
            float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
                    acc[i][j] += av[i] * bv[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int r = row0 + ty * 4 + i;
        if (r >= n) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int col = col0 + tx * 4 + j;
            if (col >= N) continue;
            size_t at = (size_t)r * N + col;
            float v = acc[i][j] + (bias ? bias[col] : 0.0f);
            v = act_apply(v, act);
            if (res) v += res[at];
            Y[at] = v;
        }
    }
}

/* h[t,:] = (emb[tok[t],:] (+ pos_emb[n_past + t,:])) * scale. io[0] = n_past, io[1..] = ids. */
__global__ void k_embed(const void *__restrict__ emb, int etype, const void *__restrict__ pemb,
                        int ptype, const int *__restrict__ io, float *__restrict__ h, int D,
                        float scale)
{
    int t = blockIdx.x;
    int tok = io[1 + t];
    int pos = io[0] + t;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float v = ld_elem(emb, etype, (size_t)tok * D + i);
        if (pemb) v += ld_elem(pemb, ptype, (size_t)pos * D + i);
        h[(size_t)t * D + i] = v * scale;
    }
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
    int qkv_dim;             /* row length of the fused projection output */
    int q_off, k_off, v_off; /* offset of head 0's q, k, v in a row */
    int q_hs, kv_hs;         /* stride between heads */
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
        q[((size_t)t * nh + h) * hd + d] =
            rope_elem(row + L.q_off + h * L.q_hs, d, rot, pos, inv_freq);
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
                const float *__restrict__ vc, float *__restrict__ out, const int *__restrict__ io,
                int nh, int nkv, int hd, int n_ctx, float scale, const float *__restrict__ alibi)
{
    DYN_SMEM(float, smem);
    __shared__ float red[32];
    float *sc = smem;         /* [n_ctx] */
    float *qs = smem + n_ctx; /* [hd] */
    float *part = qs + hd;    /* [ATTN_THREADS] */
    int h = blockIdx.x, t = blockIdx.y;
    int L = io[0] + t + 1;
    int kvh = h / (nh / nkv);
    const float *K = kc + (size_t)kvh * n_ctx * hd;
    const float *V = vc + (size_t)kvh * n_ctx * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x)
        qs[d] = q[((size_t)t * nh + h) * hd + d];
    __syncthreads();
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    float slope = alibi ? alibi[h] : 0.0f;
    for (int j = warp; j < L; j += nw) {
        const float *kr = K + (size_t)j * hd;
        float s = 0.0f;
        for (int d = lane; d < hd; d += 32)
            s += qs[d] * kr[d];
        s = warp_sum(s);
        if (lane == 0) sc[j] = s * scale + slope * (float)j;
    }
    __syncthreads();
    float m = -INFINITY;
    for (int j = threadIdx.x; j < L; j += blockDim.x)
        m = fmaxf(m, sc[j]);
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
            for (int j = 0; j < L; j++)
                acc += sc[j] * V[(size_t)j * hd + d];
            o[d] = acc * inv;
        }
    } else {
        int G = blockDim.x / hd, g = threadIdx.x / hd, d = threadIdx.x - g * hd;
        if (g < G) {
            float acc = 0.0f;
            for (int j = g; j < L; j += G)
                acc += sc[j] * V[(size_t)j * hd + d];
            part[g * hd + d] = acc;
        }
        __syncthreads();
        if ((int)threadIdx.x < hd) {
            float acc = 0.0f;
            for (int k = 0; k < G; k++)
                acc += part[k * hd + threadIdx.x];
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
    void *w;  /* [N, K] row-major, device */
    int type; /* WT_* */
    int N, K;
    float *b; /* [N] or NULL */
    int vec;  /* 16-byte vector loads are valid */
};

struct layer {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    struct linear qkv, o, up, down;
    float scale; /* multiplies q.k */
};

struct cuda_ctx {
    struct joule_model_config cfg;
    int n_ctx, hd, nh, nkv, D, I, V;
    int gated, resid, resid_post_ln, act, rot;
    int nkind;     /* NK_*: the model's norm */
    int fuse_norm; /* decode GEMVs normalize their input themselves */
    int fuse_gate; /* the decode down GEMV computes act(gate) * up itself */
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
    float *h, *a, *m, *qkv, *q, *att, *ff, *gu, *logits;
    int *io;            /* device: [0] n_past, [1..] ids */
    int *io_host;       /* pinned */
    float *logits_host; /* pinned [V] */
    size_t attn_smem;

    cudaStream_t stream;
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
        return joule_errorf(JOULE_ERR_UNAVAILABLE, "provider cuda: no CUDA device (%s)",
                            e == cudaSuccess ? "none found" : cudaGetErrorString(e));
    }
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return joule_errorf(JOULE_ERR_UNAVAILABLE, "provider cuda: CUDA is not usable here: %s",
                            cudaGetErrorString(e));
    }
    cudaDeviceProp p;
    e = cudaGetDeviceProperties(&p, 0);
    if (e != cudaSuccess)
        return joule_errorf(JOULE_ERR_UNAVAILABLE, "provider cuda: CUDA device 0: %s",
                            cudaGetErrorString(e));
    if (p.major < 8)
        return joule_errorf(
            JOULE_ERR_UNAVAILABLE,
            "provider cuda: CUDA device 0 (%s) has compute capability %d.%d; joule's kernels need "
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
    case JOULE_DTYPE_F32:
        return WT_F32;
    case JOULE_DTYPE_F16:
        return WT_F16;
    case JOULE_DTYPE_BF16:
        return WT_BF16;
    default:
        return -1;
    }
}

static size_t wsize(int type)
{
    return type == WT_F32 ? 4 : 2;
}

/* Element i of a weight matrix as float (host). */
static float host_elem(const void *data, enum joule_dtype t, size_t i)
{
    uint16_t u;
    switch (t) {
    case JOULE_DTYPE_F16:
        memcpy(&u, (const char *)data + 2 * i, 2);
        return joule_f16_to_f32(u);
    case JOULE_DTYPE_BF16:
        memcpy(&u, (const char *)data + 2 * i, 2);
        return joule_bf16_to_f32(u);
    default: {
        float f;
        memcpy(&f, (const char *)data + 4 * i, 4);
        return f;
    }
    }
}

/* A float32 vector (norm weight, bias; already widened by jn_weights) on the device. */
static enum joule_status upload_vec(struct cuda_ctx *c, const float *v, int n, float **out)
{
    *out = NULL;
    if (!v) return JOULE_OK;
    TRY(dalloc(c, (void **)out, (size_t)n * sizeof(float)));
    CU(cudaMemcpy(*out, v, (size_t)n * sizeof(float), cudaMemcpyHostToDevice));
    return JOULE_OK;
}

/* Row-concatenate 1..3 matrices into one [sum n_out, n_in] row-major device
 * matrix in the stored dtype (float32 when the parts' dtypes differ); GPT-2's
 * Conv1D [in, out] parts are transposed here. Biases (may be NULL; a missing
 * one is zero when another part has one) are concatenated likewise. */
static enum joule_status upload_linear(struct cuda_ctx *c, int nparts,
                                       const struct jn_mat *const *p, const float *const *bias,
                                       const char *what, struct linear *L)
{
    int K = -1, N = 0, type = -1, mixed = 0;
    memset(L, 0, sizeof *L);
    for (int i = 0; i < nparts; i++) {
        if (!p[i]->data)
            return joule_errorf(JOULE_ERR_NOT_FOUND, "CUDA provider: %s weight is missing", what);
        int wt = wtype_of(p[i]->dtype);
        if (wt < 0)
            return joule_errorf(JOULE_ERR_UNSUPPORTED,
                                "CUDA provider: %s weight is %s; F32, F16 and BF16 are supported",
                                what, joule_dtype_name(p[i]->dtype));
        if (K >= 0 && p[i]->n_in != K)
            return joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: %s parts have %d and %d inputs",
                                what, K, p[i]->n_in);
        K = p[i]->n_in;
        N += p[i]->n_out;
        if (type >= 0 && wt != type) mixed = 1;
        type = wt;
    }
    if (mixed) type = WT_F32;
    size_t es = wsize(type);
    TRY(dalloc(c, &L->w, (size_t)N * (size_t)K * es));
    size_t off = 0;
    for (int i = 0; i < nparts; i++) {
        const struct jn_mat *m = p[i];
        size_t rows = (size_t)m->n_out, part = rows * (size_t)K;
        char *dst = (char *)L->w + off * es;
        if (!m->conv1d && wtype_of(m->dtype) == type) {
            CU(cudaMemcpy(dst, m->data, part * es, cudaMemcpyHostToDevice));
        } else {
            char *hbuf = (char *)malloc(part * es);
            if (!hbuf) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
            int same = wtype_of(m->dtype) == type;
            for (size_t r = 0; r < rows; r++)
                for (size_t k = 0; k < (size_t)K; k++) {
                    size_t src = m->conv1d ? k * rows + r : r * (size_t)K + k;
                    size_t d = r * (size_t)K + k;
                    if (same) {
                        memcpy(hbuf + d * es, (const char *)m->data + src * es, es);
                    } else {
                        float f = host_elem(m->data, m->dtype, src);
                        memcpy(hbuf + d * 4, &f, 4);
                    }
                }
            cudaError_t e = cudaMemcpy(dst, hbuf, part * es, cudaMemcpyHostToDevice);
            free(hbuf);
            if (e != cudaSuccess)
                return joule_errorf(JOULE_ERR_INTERNAL, "CUDA: upload of the %s weight: %s", what,
                                    cudaGetErrorString(e));
        }
        off += part;
    }
    int any_bias = 0;
    for (int i = 0; i < nparts; i++)
        if (bias && bias[i]) any_bias = 1;
    if (any_bias) {
        float *hb = (float *)calloc((size_t)N, sizeof(float));
        if (!hb) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
        size_t o = 0;
        for (int i = 0; i < nparts; i++) {
            if (bias[i]) memcpy(hb + o, bias[i], (size_t)p[i]->n_out * sizeof(float));
            o += (size_t)p[i]->n_out;
        }
        enum joule_status s = upload_vec(c, hb, N, &L->b);
        free(hb);
        TRY(s);
    }
    L->type = type;
    L->N = N;
    L->K = K;
    L->vec = ((size_t)K * es) % 16 == 0;
    return JOULE_OK;
}

static int act_of(enum jn_act a)
{
    switch (a) {
    case JN_ACT_GELU_TANH:
        return ACT_GELU_TANH;
    case JN_ACT_GELU_ERF:
        return ACT_GELU_ERF;
    case JN_ACT_SILU:
        return ACT_SILU;
    case JN_ACT_BLOOM_GELU:
        return ACT_BLOOM_GELU;
    case JN_ACT_RELU:
        return ACT_RELU;
    case JN_ACT_QUICK_GELU:
        return ACT_QUICK_GELU;
    }
    return -1;
}

static enum joule_status upload_matrix(struct cuda_ctx *c, const struct jn_mat *m, void **out,
                                       int *type, const char *what)
{
    *type = wtype_of(m->dtype);
    if (!m->data) return joule_errorf(JOULE_ERR_NOT_FOUND, "CUDA provider: %s is missing", what);
    if (*type < 0)
        return joule_errorf(JOULE_ERR_UNSUPPORTED, "CUDA provider: %s is %s", what,
                            joule_dtype_name(m->dtype));
    size_t bytes = (size_t)m->n_out * (size_t)m->n_in * wsize(*type);
    TRY(dalloc(c, out, bytes));
    CU(cudaMemcpy(*out, m->data, bytes, cudaMemcpyHostToDevice));
    return JOULE_OK;
}

static enum joule_status load_weights(struct cuda_ctx *c, const struct jn_weights *w)
{
    const struct joule_model_config *g = &w->cfg;
    int D = c->D;
    /* embeddings [vocab, hidden] as stored (n_out = rows, n_in = hidden) */
    const struct jn_mat *E = &w->tok_emb;
    if (E->n_in != D || E->n_out < c->V)
        return joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: token embeddings are %dx%d", E->n_out,
                            E->n_in);
    TRY(upload_matrix(c, E, &c->emb, &c->emb_type, "the token embedding"));
    if (w->pos_emb.data) {
        if (w->pos_emb.n_in != D || w->pos_emb.n_out < c->n_ctx)
            return joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: position embeddings are %dx%d",
                                w->pos_emb.n_out, w->pos_emb.n_in);
        TRY(upload_matrix(c, &w->pos_emb, &c->pemb, &c->pemb_type, "the position embedding"));
    }
    TRY(upload_vec(c, w->emb_norm_w, D, &c->emb_ln_w));
    TRY(upload_vec(c, w->emb_norm_b, D, &c->emb_ln_b));
    TRY(upload_vec(c, w->final_norm_w, D, &c->fin_w));
    TRY(upload_vec(c, w->final_norm_b, D, &c->fin_b));
    if (!c->fin_w) return joule_errorf(JOULE_ERR_NOT_FOUND, "CUDA provider: no final norm");
    if (w->lm_head.data == w->tok_emb.data) { /* tied: read the embedding matrix */
        c->head.w = c->emb;
        c->head.type = c->emb_type;
        c->head.N = c->V;
        c->head.K = D;
        c->head.vec = ((size_t)D * wsize(c->emb_type)) % 16 == 0;
        TRY(upload_vec(c, w->lm_head_b, c->V, &c->head.b));
    } else {
        const struct jn_mat *hp[1] = {&w->lm_head};
        const float *hb[1] = {w->lm_head_b};
        TRY(upload_linear(c, 1, hp, hb, "output head", &c->head));
    }
    if (c->head.N != c->V || c->head.K != D)
        return joule_errorf(JOULE_ERR_FORMAT,
                            "CUDA provider: the output head is %dx%d, expected %dx%d", c->head.N,
                            c->head.K, c->V, D);

    for (int l = 0; l < g->n_layers; l++) {
        const struct jn_layer *S = &w->layers[l];
        struct layer *Ly = &c->layers[l];
        Ly->scale = S->attn_scale;
        TRY(upload_vec(c, S->attn_norm_w, D, &Ly->ln1_w));
        TRY(upload_vec(c, S->attn_norm_b, D, &Ly->ln1_b));
        TRY(upload_vec(c, S->mlp_norm_w, D, &Ly->ln2_w));
        TRY(upload_vec(c, S->mlp_norm_b, D, &Ly->ln2_b));
        if (!Ly->ln1_w || (!Ly->ln2_w && w->resid != JN_RESID_PARALLEL_SHARED))
            return joule_errorf(JOULE_ERR_NOT_FOUND, "CUDA provider: layer %d lacks a norm", l);
        if (w->qkv_layout == JN_QKV_SEPARATE) {
            const struct jn_mat *qp[3] = {&S->q, &S->k, &S->v};
            const float *qb[3] = {S->q_b, S->k_b, S->v_b};
            TRY(upload_linear(c, 3, qp, qb, "q/k/v", &Ly->qkv));
        } else {
            const struct jn_mat *qp[1] = {&S->qkv};
            const float *qb[1] = {S->qkv_b};
            TRY(upload_linear(c, 1, qp, qb, "fused qkv", &Ly->qkv));
        }
        const struct jn_mat *op[1] = {&S->o};
        const float *ob[1] = {S->o_b};
        TRY(upload_linear(c, 1, op, ob, "attention output", &Ly->o));
        if (w->gated_mlp) { /* [gate | up] rows: one GEMV for both */
            const struct jn_mat *up[2] = {&S->gate, &S->up};
            const float *ub[2] = {S->gate_b, S->up_b};
            TRY(upload_linear(c, 2, up, ub, "gate/up", &Ly->up));
        } else {
            const struct jn_mat *up[1] = {&S->up};
            const float *ub[1] = {S->up_b};
            TRY(upload_linear(c, 1, up, ub, "MLP up", &Ly->up));
        }
        const struct jn_mat *dp[1] = {&S->down};
        const float *db[1] = {S->down_b};
        TRY(upload_linear(c, 1, dp, db, "MLP down", &Ly->down));
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
    return JOULE_OK;
}

static enum joule_status open_impl(struct cuda_ctx *c, const struct jn_weights *w)
{
    const struct joule_model_config *g = &c->cfg;
    c->D = g->hidden_size;
    c->nh = g->n_heads;
    c->nkv = g->n_kv_heads > 0 ? g->n_kv_heads : g->n_heads;
    c->hd = g->head_dim > 0 ? g->head_dim : g->hidden_size / g->n_heads;
    c->V = g->vocab_size;
    c->I = g->intermediate_size;
    c->eps = g->norm_eps;
    if (c->D <= 0 || c->nh <= 0 || c->nkv <= 0 || c->nh % c->nkv || c->hd <= 0 || c->V <= 0 ||
        c->I <= 0 || g->n_layers <= 0)
        return joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: the model config is inconsistent");
    c->act = act_of(w->act);
    if (c->act < 0) return joule_errorf(JOULE_ERR_UNSUPPORTED, "CUDA provider: unknown activation");
    c->gated = w->gated_mlp;
    c->resid = w->resid;
    c->resid_post_ln = g->residual_post_layernorm;
    c->nkind = w->norm == JN_NORM_RMS ? NK_RMS : w->norm == JN_NORM_RMS_GEMMA ? NK_RMS1 : NK_LAYER;
    /* Bloom's residual_post_layernorm reads the norms' outputs: keep them materialized.
     * The fused GEMVs keep their K inputs in dynamic shared memory, which must fit
     * the default 48 KiB per block beside the kernel's static 128 bytes. */
    const size_t fuse_smem = 48 * 1024 - 1024;
    c->fuse_norm = !c->resid_post_ln && (size_t)c->D * sizeof(float) <= fuse_smem;
    c->fuse_gate = c->gated && (size_t)c->I * sizeof(float) <= fuse_smem;
    c->emb_scale = w->emb_scale != 0.0f ? w->emb_scale : 1.0f;
    c->rot = g->rotary_dim;
    if (c->rot < 0 || c->rot > c->hd || (c->rot & 1) || (c->rot && !w->inv_freq))
        return joule_errorf(JOULE_ERR_FORMAT,
                            "CUDA provider: rotary_dim %d does not fit head_dim %d", c->rot, c->hd);

    /* fused QKV row layout */
    struct qkv_layout *L = &c->qkvl;
    L->qkv_dim = (c->nh + 2 * c->nkv) * c->hd;
    if (w->qkv_layout == JN_QKV_PER_HEAD) { /* [head][q k v][hd] */
        if (c->nkv != c->nh)
            return joule_errorf(JOULE_ERR_FORMAT, "CUDA provider: fused per-head QKV needs MHA");
        L->q_off = 0;
        L->k_off = c->hd;
        L->v_off = 2 * c->hd;
        L->q_hs = L->kv_hs = 3 * c->hd;
    } else { /* [q heads][k heads][v heads] (concatenated here when separate) */
        L->q_off = 0;
        L->k_off = c->nh * c->hd;
        L->v_off = (c->nh + c->nkv) * c->hd;
        L->q_hs = L->kv_hs = c->hd;
    }

    c->layers = (struct layer *)calloc((size_t)g->n_layers, sizeof *c->layers);
    if (!c->layers) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    TRY(load_weights(c, w));
    if (c->rot > 0) {
        TRY(upload_vec(c, w->inv_freq, c->rot / 2, &c->inv_freq));
    }
    if (w->alibi) {
        if (!w->alibi_slopes) return joule_errorf(JOULE_ERR_INTERNAL, "no ALiBi slopes");
        TRY(upload_vec(c, w->alibi_slopes, c->nh, &c->alibi));
    }

    /* KV cache and scratch */
    size_t kv = (size_t)g->n_layers * c->nkv * (size_t)c->n_ctx * c->hd;
    TRY(dalloc(c, (void **)&c->kc, kv * sizeof(float)));
    TRY(dalloc(c, (void **)&c->vc, kv * sizeof(float)));
    size_t D = (size_t)c->D, QD = (size_t)c->nh * c->hd;
    size_t up_n = (size_t)(c->gated ? 2 * c->I : c->I);
    TRY(dalloc(c, (void **)&c->h, CHUNK * D * sizeof(float)));
    TRY(dalloc(c, (void **)&c->a, CHUNK * D * sizeof(float)));
    TRY(dalloc(c, (void **)&c->m, CHUNK * D * sizeof(float)));
    TRY(dalloc(c, (void **)&c->qkv, CHUNK * (size_t)c->qkvl.qkv_dim * sizeof(float)));
    TRY(dalloc(c, (void **)&c->q, CHUNK * QD * sizeof(float)));
    TRY(dalloc(c, (void **)&c->att, CHUNK * QD * sizeof(float)));
    TRY(dalloc(c, (void **)&c->ff, CHUNK * (size_t)c->I * sizeof(float)));
    TRY(dalloc(c, (void **)&c->gu, CHUNK * up_n * sizeof(float)));
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
    /* the limit is per kernel, not per handle: only ever raise it */
    cudaFuncAttributes fa;
    CU(cudaFuncGetAttributes(&fa, k_attention));
    if ((size_t)fa.maxDynamicSharedSizeBytes < c->attn_smem)
        CU(cudaFuncSetAttribute(k_attention, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                (int)c->attn_smem));

    CU(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
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
    if (c->stream) cudaStreamDestroy(c->stream);
    for (size_t i = 0; i < c->n_allocs; i++)
        cudaFree(c->allocs[i]);
    if (c->io_host) cudaFreeHost(c->io_host);
    if (c->logits_host) cudaFreeHost(c->logits_host);
    (void)cudaGetLastError();
    free(c->allocs);
    free(c->layers);
    free(c);
}

extern "C" enum joule_status joule_cuda_open(const struct jn_weights *w, int n_ctx, void **ctx)
{
    *ctx = NULL;
    TRY(joule_cuda_probe());
    const struct joule_model_config *g = &w->cfg;
    if (n_ctx <= 0 || (g->max_positions > 0 && n_ctx > g->max_positions))
        return joule_errorf(JOULE_ERR_INVALID_ARG, "CUDA provider: context %d outside 1..%d", n_ctx,
                            g->max_positions);
    CU(cudaSetDevice(0));
    struct cuda_ctx *c = (struct cuda_ctx *)calloc(1, sizeof *c);
    if (!c) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    c->cfg = *g;
    c->n_ctx = n_ctx;
    enum joule_status s = open_impl(c, w);
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

/* y[N] = act(norm(x) W^T + b) + res for one token; nkind = NK_NONE: x as is. */
static void gemv(struct cuda_ctx *c, const struct linear *L, const float *x, float *y, int act,
                 const float *res, const float *nw, const float *nb, int nkind)
{
    dim3 grid((unsigned)((L->N + GEMV_WARPS - 1) / GEMV_WARPS));
    size_t smem = nkind != NK_NONE ? (size_t)L->K * sizeof(float) : 0;
    switch (L->type) {
    case WT_F16:
        LAUNCH(k_gemv<__half>, (grid, GEMV_WARPS * 32, smem, c->stream), (const __half *)L->w, x, y,
               L->b, res, L->N, L->K, act, L->vec, nw, nb, c->eps, nkind, c->act);
        break;
    case WT_BF16:
        LAUNCH(k_gemv<__nv_bfloat16>, (grid, GEMV_WARPS * 32, smem, c->stream),
               (const __nv_bfloat16 *)L->w, x, y, L->b, res, L->N, L->K, act, L->vec, nw, nb,
               c->eps, nkind, c->act);
        break;
    default:
        LAUNCH(k_gemv<float>, (grid, GEMV_WARPS * 32, smem, c->stream), (const float *)L->w, x, y,
               L->b, res, L->N, L->K, act, L->vec, nw, nb, c->eps, nkind, c->act);
    }
}

/* y[n, N] = act(x[n, K] W^T + b) + res. */
static enum joule_status matmul(struct cuda_ctx *c, const struct linear *L, const float *x,
                                float *y, int n, int act, const float *res)
{
    if (n == 1) {
        gemv(c, L, x, y, act, res, NULL, NULL, NK_NONE);
        return JOULE_OK;
    }
    dim3 grid((unsigned)((L->N + GN - 1) / GN), (unsigned)((n + GM - 1) / GM));
    switch (L->type) {
    case WT_F16:
        LAUNCH(k_gemm<__half>, (grid, 256, 0, c->stream), (const __half *)L->w, x, y, L->b, res, n,
               L->N, L->K, act);
        break;
    case WT_BF16:
        LAUNCH(k_gemm<__nv_bfloat16>, (grid, 256, 0, c->stream), (const __nv_bfloat16 *)L->w, x, y,
               L->b, res, n, L->N, L->K, act);
        break;
    default:
        LAUNCH(k_gemm<float>, (grid, 256, 0, c->stream), (const float *)L->w, x, y, L->b, res, n,
               L->N, L->K, act);
    }
    return JOULE_OK;
}

static void norm(struct cuda_ctx *c, const float *x, float *y, const float *w, const float *b,
                 int n)
{
    LAUNCH(k_norm, (n, NORM_THREADS, 0, c->stream), x, y, w, b, c->D, c->eps, c->nkind);
}

/* y = act(norm(x) W^T + b) + res: fused into the GEMV for one token, else the
 * norm's output goes to `normed` first. Every GEMV block recomputes the norm, so
 * the fusion pays only where there are few blocks (N <= FUSE_MAX_N: the QKV and
 * most MLP projections, not the output head). */
#define FUSE_MAX_N 8192
static enum joule_status norm_matmul(struct cuda_ctx *c, const struct linear *L, const float *x,
                                     const float *nw, const float *nb, float *normed, float *y,
                                     int n, int act, const float *res)
{
    if (n == 1 && c->fuse_norm && L->N <= FUSE_MAX_N) {
        gemv(c, L, x, y, act, res, nw, nb, c->nkind);
        return JOULE_OK;
    }
    norm(c, x, normed, nw, nb, n);
    return matmul(c, L, normed, y, n, act, res);
}

/* h = down(ff) + h, ff = act(gate) * up taken from gu by the GEMV itself when fused */
static enum joule_status mlp_down(struct cuda_ctx *c, const struct layer *Ly, int n,
                                  const float *res)
{
    if (n == 1 && c->gated && c->fuse_gate) {
        gemv(c, &Ly->down, c->gu, c->h, ACT_NONE, res, NULL, NULL, NK_GATED);
        return JOULE_OK;
    }
    return matmul(c, &Ly->down, c->ff, c->h, n, ACT_NONE, res);
}

/* ff = act(up n(x)) or act(gate n(x)) * up n(x), n = the norm (nw, nb) */
static enum joule_status mlp_up(struct cuda_ctx *c, const struct layer *Ly, const float *x,
                                const float *nw, const float *nb, int n)
{
    if (!c->gated) return norm_matmul(c, &Ly->up, x, nw, nb, c->m, c->ff, n, c->act, NULL);
    TRY(norm_matmul(c, &Ly->up, x, nw, nb, c->m, c->gu, n, ACT_NONE, NULL));
    if (n == 1 && c->fuse_gate) return JOULE_OK; /* the down GEMV applies the gate */
    size_t total = (size_t)n * c->I;
    LAUNCH(k_gated, ((unsigned)((total + 255) / 256), 256, 0, c->stream), c->gu, c->ff, c->I, total,
           c->act);
    return JOULE_OK;
}

/* Enqueue one forward pass over n (<= CHUNK) tokens whose ids and position are
 * already in c->io. want: 0 = no logits, 1 = last row into c->logits, 2 = all rows. */
static enum joule_status forward(struct cuda_ctx *c, int n, int want)
{
    const struct joule_model_config *g = &c->cfg;
    int D = c->D;
    LAUNCH(k_embed, (n, 256, 0, c->stream), c->emb, c->emb_type, c->pemb, c->pemb_type, c->io, c->h,
           D, c->emb_scale);
    if (c->emb_ln_w)
        LAUNCH(k_norm, (n, NORM_THREADS, 0, c->stream), c->h, c->h, c->emb_ln_w, c->emb_ln_b, D,
               c->eps, NK_LAYER);
    size_t kv_layer = (size_t)c->nkv * c->n_ctx * c->hd;
    for (int l = 0; l < g->n_layers; l++) {
        const struct layer *Ly = &c->layers[l];
        /* a = n1(h) (materialized only where the GEMV does not fuse it) */
        TRY(norm_matmul(c, &Ly->qkv, c->h, Ly->ln1_w, Ly->ln1_b, c->a, c->qkv, n, ACT_NONE, NULL));
        LAUNCH(k_qkv_post, (n, 256, 0, c->stream), c->qkv, c->q, c->kc + l * kv_layer,
               c->vc + l * kv_layer, c->io, c->qkvl, c->nh, c->nkv, c->hd, c->n_ctx, c->rot,
               c->inv_freq);
        LAUNCH(k_attention,
               (dim3((unsigned)c->nh, (unsigned)n), ATTN_THREADS, c->attn_smem, c->stream), c->q,
               c->kc + l * kv_layer, c->vc + l * kv_layer, c->att, c->io, c->nh, c->nkv, c->hd,
               c->n_ctx, Ly->scale, c->alibi);
        if (c->resid != JN_RESID_SEQUENTIAL) {
            /* h += attn(n1 h) + mlp(n2 h) (gpt_neox) or mlp(n1 h) (phi); the MLP reads h
             * before the attention output is added to it */
            int neox = c->resid == JN_RESID_PARALLEL;
            TRY(mlp_up(c, Ly, c->h, neox ? Ly->ln2_w : Ly->ln1_w, neox ? Ly->ln2_b : Ly->ln1_b, n));
            TRY(matmul(c, &Ly->o, c->att, c->h, n, ACT_NONE, c->h));
            TRY(mlp_down(c, Ly, n, c->h));
        } else {
            /* Bloom's apply_residual_connection_post_layernorm: the residuals are the norms'
             * outputs (a, m), materialized since fuse_norm is off for it */
            TRY(matmul(c, &Ly->o, c->att, c->h, n, ACT_NONE, c->resid_post_ln ? c->a : c->h));
            TRY(mlp_up(c, Ly, c->h, Ly->ln2_w, Ly->ln2_b, n));
            TRY(mlp_down(c, Ly, n, c->resid_post_ln ? c->m : c->h));
        }
    }
    if (want == 1) /* only the last row needs the final norm and the head */
        TRY(norm_matmul(c, &c->head, c->h + (size_t)(n - 1) * D, c->fin_w, c->fin_b, c->a,
                        c->logits, 1, ACT_NONE, NULL));
    else if (want == 2)
        TRY(norm_matmul(c, &c->head, c->h, c->fin_w, c->fin_b, c->a, c->logits, n, ACT_NONE, NULL));
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
    if (!c || !tokens || n == 0)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "CUDA provider: no tokens");
    if (n_past + n > (size_t)c->n_ctx)
        return joule_errorf(JOULE_ERR_LIMIT,
                            "CUDA provider: %zu tokens at position %zu pass the "
                            "context length %d",
                            n, n_past, c->n_ctx);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->V)
            return joule_errorf(JOULE_ERR_INVALID_ARG,
                                "CUDA provider: token id %d outside the "
                                "vocabulary (%d)",
                                (int)tokens[i], c->V);
    size_t V = (size_t)c->V;
    for (size_t done = 0; done < n;) {
        int k = (int)(n - done < CHUNK ? n - done : CHUNK);
        int last = done + (size_t)k == n;
        int want = !logits ? 0 : all_logits ? 2 : last ? 1 : 0;
        c->io_host[0] = (int)(n_past + done);
        for (int i = 0; i < k; i++)
            c->io_host[1 + i] = tokens[done + (size_t)i];
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
