/* A CPU emulation of the small part of CUDA that cuda_provider.cu uses, so that
 * the provider's own kernels and host code run (slowly) on machines without a
 * GPU: tests/cuda_emu.cmake builds test_cuda_emu from cuda_provider.cu compiled
 * as C++ with JOULE_CUDA_EMU. Not part of the library.
 *
 * Each block's threads are coroutines (ucontext) run by a scheduler on the
 * calling thread, one block after another: __syncthreads waits for every live
 * thread of the block, __shfl_xor_sync for every lane of the warp (lanes that
 * have exited while others wait are reported as a bug). __shared__ variables
 * become function-local statics (one block runs at a time). Streams are
 * synchronous; graph capture records launches and a graph launch replays them.
 * Device memory is host memory. */
#ifndef JOULE_ENGINE_NATIVE_CUDA_EMU_H
#define JOULE_ENGINE_NATIVE_CUDA_EMU_H

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <ucontext.h>
#include <vector>

extern "C" {
#include "engine/native/weights.h"
#include "model/dtype.h"
}

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct uint4 {
    unsigned x, y, z, w;
};
struct float4 {
    float x, y, z, w;
};
struct float2 {
    float x, y;
};
struct __half {
    uint16_t v;
};
struct __nv_bfloat16 {
    uint16_t v;
};

static inline float __half2float(__half h)
{
    return joule_f16_to_f32(h.v);
}
static inline __half __ushort_as_half(unsigned short u)
{
    return __half{u};
}
static inline float __bfloat162float(__nv_bfloat16 b)
{
    return joule_bf16_to_f32(b.v);
}
static inline float __uint_as_float(unsigned u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}
template <typename T> static inline T __ldg(const T *p)
{
    if (sizeof(T) == 16 && (uintptr_t)p % 16) {
        fprintf(stderr, "cuda_emu: misaligned 16-byte load\n");
        abort();
    }
    return *p;
}

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

namespace emu
{
enum { RUN, WAIT_WARP, WAIT_BLOCK, DONE };
struct thr {
    ucontext_t ctx;
    dim3 tid;
    int state;
};
static const size_t STACK = 64 * 1024;
static std::vector<thr> threads;
static std::vector<char> stacks;
static ucontext_t sched;
static thr *cur;
static dim3 block_idx, block_dim, grid_dim;
static std::vector<unsigned> warp_gen;
static float shfl_buf[2][32][32];
static const std::function<void()> *body;
static std::vector<float> dyn_smem;
static bool capturing;
static std::vector<std::function<void()>> *capture_list;

static inline void fail(const char *what)
{
    fprintf(stderr, "cuda_emu: %s\n", what);
    abort();
}

static void entry()
{
    (*body)();
    cur->state = DONE;
    swapcontext(&cur->ctx, &sched);
}

static inline void yield()
{
    swapcontext(&cur->ctx, &sched);
}

static inline void sync_block()
{
    cur->state = WAIT_BLOCK;
    yield();
}

static inline float shfl_xor(float v, int o)
{
    unsigned lane = cur->tid.x & 31, w = cur->tid.x >> 5;
    unsigned g = warp_gen[w] & 1;
    shfl_buf[g][w][lane] = v;
    cur->state = WAIT_WARP;
    yield();
    return shfl_buf[g][w][lane ^ (unsigned)o];
}

static void run_block(const std::function<void()> &k)
{
    unsigned n = block_dim.x;
    if (block_dim.y != 1 || block_dim.z != 1 || n == 0 || n > 1024) fail("unsupported block shape");
    threads.resize(n);
    if (stacks.size() < n * STACK) stacks.resize(n * STACK);
    unsigned nw = (n + 31) / 32;
    warp_gen.assign(nw, 0);
    body = &k;
    for (unsigned i = 0; i < n; i++) {
        thr &t = threads[i];
        t.tid = dim3(i, 0, 0);
        t.state = RUN;
        getcontext(&t.ctx);
        t.ctx.uc_stack.ss_sp = &stacks[i * STACK];
        t.ctx.uc_stack.ss_size = STACK;
        t.ctx.uc_link = NULL;
        makecontext(&t.ctx, entry, 0);
    }
    for (;;) {
        for (unsigned i = 0; i < n; i++)
            if (threads[i].state == RUN) {
                cur = &threads[i];
                swapcontext(&sched, &threads[i].ctx);
            }
        bool released = false, all_done = true;
        for (unsigned w = 0; w < nw; w++) {
            unsigned waiting = 0, done = 0, lanes = 0;
            for (unsigned i = w * 32; i < n && i < w * 32 + 32; i++, lanes++) {
                waiting += threads[i].state == WAIT_WARP;
                done += threads[i].state == DONE;
            }
            if (waiting && waiting + done != lanes) {
                bool other = false;
                for (unsigned i = w * 32; i < n && i < w * 32 + 32; i++)
                    other |= threads[i].state == WAIT_BLOCK;
                if (other) fail("a warp is split between a shuffle and a block barrier");
            }
            if (waiting && done) fail("a shuffle waits for lanes that have exited");
            if (waiting && waiting == lanes) {
                for (unsigned i = w * 32; i < n && i < w * 32 + 32; i++)
                    threads[i].state = RUN;
                warp_gen[w]++;
                released = true;
            }
        }
        unsigned wb = 0, live = 0;
        for (unsigned i = 0; i < n; i++) {
            if (threads[i].state != DONE) {
                live++;
                all_done = false;
            }
            wb += threads[i].state == WAIT_BLOCK;
        }
        if (all_done) return;
        if (!released && wb == live) {
            for (unsigned i = 0; i < n; i++)
                if (threads[i].state == WAIT_BLOCK) threads[i].state = RUN;
            released = true;
        }
        if (!released) {
            bool runnable = false;
            for (unsigned i = 0; i < n; i++)
                runnable |= threads[i].state == RUN;
            if (!runnable) fail("deadlock: threads wait at different barriers");
        }
    }
}

static void run_grid(dim3 g, dim3 b, size_t smem, const std::function<void()> &k)
{
    grid_dim = g;
    block_dim = b;
    if (dyn_smem.size() < smem / sizeof(float) + 1) dyn_smem.resize(smem / sizeof(float) + 1);
    for (unsigned z = 0; z < g.z; z++)
        for (unsigned y = 0; y < g.y; y++)
            for (unsigned x = 0; x < g.x; x++) {
                block_idx = dim3(x, y, z);
                run_block(k);
            }
}

struct launcher {
    dim3 g, b;
    size_t smem;
    void operator()(std::function<void()> k) const
    {
        if (capturing) {
            dim3 gg = g, bb = b;
            size_t s = smem;
            capture_list->push_back([gg, bb, s, k] { run_grid(gg, bb, s, k); });
        } else {
            run_grid(g, b, smem, k);
        }
    }
};
static inline launcher launch_cfg(dim3 g, dim3 b, size_t smem, void *)
{
    return launcher{g, b, smem};
}
} /* namespace emu */

#define threadIdx (emu::cur->tid)
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)
#define __syncthreads() emu::sync_block()
#define __shfl_xor_sync(mask, v, o) emu::shfl_xor((v), (o))
#define LAUNCH(k, cfg, ...) emu::launch_cfg cfg([=] { k(__VA_ARGS__); })
#define DYN_SMEM(type, name) type *name = (type *)emu::dyn_smem.data()

/* ---- the runtime API subset ------------------------------------------------- */

typedef int cudaError_t;
enum {
    cudaSuccess = 0,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInsufficientDriver = 35,
    cudaErrorNoDevice = 100,
};
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost };
typedef void *cudaStream_t;
typedef std::vector<std::function<void()>> *cudaGraph_t;
typedef std::vector<std::function<void()>> *cudaGraphExec_t;
enum { cudaStreamNonBlocking = 1, cudaStreamCaptureModeThreadLocal = 1 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
struct cudaDeviceProp {
    char name[256];
    int major, minor;
    size_t totalGlobalMem, sharedMemPerBlockOptin;
};
struct cudaFuncAttributes {
    int maxDynamicSharedSizeBytes;
};

static inline const char *cudaGetErrorString(cudaError_t e)
{
    return e == cudaSuccess ? "no error" : "emulated error";
}
static inline cudaError_t cudaGetLastError(void)
{
    return cudaSuccess;
}
static inline cudaError_t cudaGetDeviceCount(int *n)
{
    *n = 1;
    return cudaSuccess;
}
static inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "joule CPU emulator");
    p->major = 9;
    p->totalGlobalMem = (size_t)16 << 30;
    p->sharedMemPerBlockOptin = 227 * 1024;
    return cudaSuccess;
}
static inline cudaError_t cudaSetDevice(int)
{
    return cudaSuccess;
}
static inline cudaError_t cudaDeviceSynchronize(void)
{
    return cudaSuccess;
}
/* Device allocations are 256-byte aligned like cudaMalloc's and fenced: 256 bytes
 * of a known pattern after the end, checked when freed, catch writes past the end. */
static const size_t EMU_PAD = 256;
static inline cudaError_t cudaMalloc(void **p, size_t n)
{
    size_t total = EMU_PAD + (n + 255) / 256 * 256 + EMU_PAD;
    char *base = (char *)aligned_alloc(256, total);
    if (!base) return cudaErrorMemoryAllocation;
    memset(base, 0, total);
    memcpy(base, &n, sizeof n);
    memset(base + EMU_PAD + n, 0xAB, total - EMU_PAD - n);
    *p = base + EMU_PAD;
    return cudaSuccess;
}
static inline cudaError_t cudaFree(void *p)
{
    if (!p) return cudaSuccess;
    char *base = (char *)p - EMU_PAD;
    size_t n;
    memcpy(&n, base, sizeof n);
    size_t total = EMU_PAD + (n + 255) / 256 * 256 + EMU_PAD;
    for (size_t i = EMU_PAD + n; i < total; i++)
        if ((unsigned char)base[i] != 0xAB)
            emu::fail("a kernel wrote past the end of an allocation");
    free(base);
    return cudaSuccess;
}
static inline cudaError_t cudaMallocHost(void **p, size_t n)
{
    return cudaMalloc(p, n);
}
static inline cudaError_t cudaFreeHost(void *p)
{
    return cudaFree(p);
}
static inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind)
{
    if (n) memcpy(d, s, n); /* memcpy from or to NULL is undefined even for 0 bytes */
    return cudaSuccess;
}
static inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind k,
                                          cudaStream_t)
{
    return cudaMemcpy(d, s, n, k);
}
static inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, int)
{
    *s = (void *)1;
    return cudaSuccess;
}
static inline cudaError_t cudaStreamDestroy(cudaStream_t)
{
    return cudaSuccess;
}
static inline cudaError_t cudaStreamSynchronize(cudaStream_t)
{
    return cudaSuccess;
}
static inline cudaError_t cudaStreamBeginCapture(cudaStream_t, int)
{
    emu::capturing = true;
    emu::capture_list = new std::vector<std::function<void()>>();
    return cudaSuccess;
}
static inline cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t *g)
{
    emu::capturing = false;
    *g = emu::capture_list;
    emu::capture_list = NULL;
    return cudaSuccess;
}
static inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g,
                                               unsigned long long)
{
    *e = g;
    return cudaSuccess;
}
static inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t)
{
    for (auto &f : *e)
        f();
    return cudaSuccess;
}
static inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t)
{
    return cudaSuccess; /* the list belongs to the graph */
}
static inline cudaError_t cudaGraphDestroy(cudaGraph_t g)
{
    delete g;
    return cudaSuccess;
}
template <typename F> static inline cudaError_t cudaFuncGetAttributes(cudaFuncAttributes *a, F)
{
    a->maxDynamicSharedSizeBytes = 48 * 1024;
    return cudaSuccess;
}
template <typename F> static inline cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int)
{
    return cudaSuccess;
}

#endif
