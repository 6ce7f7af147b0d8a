/* The CPU execution provider of the native engine: KV cache, scratch and the
 * forward pass over jn_weights, with matrix work split over a thread pool. */
#ifndef JOULE_ENGINE_NATIVE_CPU_FORWARD_H
#define JOULE_ENGINE_NATIVE_CPU_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/native/cpu/kernels.h"
#include "engine/native/cpu/pool.h"
#include "engine/native/weights.h"

struct jn_cpu {
    const struct jn_weights *w;
    const struct jn_kernels *k;
    struct jn_pool *pool;
    int n_ctx;
    float *kcache, *vcache; /* [layer][kv head][n_ctx][head_dim] */
    size_t cap_rows;        /* rows the scratch below holds */
    float *x, *h, *h2, *qkv, *q, *kx, *vx, *att, *a, *up, *gate;
    float *scores; /* [n_threads][n_ctx] */
    float *rope;   /* [cap_rows][rotary_dim] cos then sin */
};

enum joule_status jn_cpu_init(struct jn_cpu *c, const struct jn_weights *w, int n_threads,
                              int n_ctx);
void jn_cpu_free(struct jn_cpu *c);
/* Tokens at positions n_past..n_past+n-1; logits as joule_engine_eval. */
enum joule_status jn_cpu_eval(struct jn_cpu *c, const int32_t *tokens, size_t n, size_t n_past,
                              float *logits, int all_logits);

#endif
