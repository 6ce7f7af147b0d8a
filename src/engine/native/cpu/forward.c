/* The forward pass on the CPU, computed as transformers computes it for each
 * family (see weights.h for the layout choices), in float32 with weights
 * converted in registers. */
#include "engine/native/cpu/forward.h"
#include "model/dtype.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static float act(enum jn_act a, float x);

/* The activations of the form x sigmoid(c1 x + c3 x^3) (see jn_kernels.act_sigmoid). */
static int act_sigmoid_form(enum jn_act a, float *c1, float *c3)
{
    switch (a) {
    case JN_ACT_SILU:
        *c1 = 1.0f, *c3 = 0.0f;
        return 1;
    case JN_ACT_QUICK_GELU:
        *c1 = 1.702f, *c3 = 0.0f;
        return 1;
    case JN_ACT_BLOOM_GELU: /* 0.5 x (1 + tanh(0.79788456 x (1 + 0.044715 x^2))) */
        *c1 = 2.0f * 0.79788456f, *c3 = 2.0f * 0.79788456f * 0.044715f;
        return 1;
    case JN_ACT_GELU_TANH: /* 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) */
        *c1 = 2.0f * 0.7978845608028654f, *c3 = 2.0f * 0.7978845608028654f * 0.044715f;
        return 1;
    default:
        return 0;
    }
}

/* ---- matrix products ----------------------------------------------------- */

struct mm_task {
    const struct jn_kernels *k;
    const struct jn_mat *W;
    const float *bias;
    const float *x; /* [M, n_in] */
    float *y;       /* [M, n_out] */
    int M;
    int chunk;
    /* epilogue, applied by the thread that computed the block: y = act(y), or with a gate
     * y = act(gate) * y (gate [M, n_out]) */
    int apply_act;
    enum jn_act act;
    float *gate;
    int act_simd; /* the kernels' act_sigmoid(c1, c3) computes act (chosen once per product) */
    float act_c1, act_c3;
    atomic_int next;
};

static float dot_row(const struct jn_kernels *k, const struct jn_mat *W, int o, const float *x)
{
    size_t off = (size_t)o * (size_t)W->n_in;
    switch (W->dtype) {
    case JOULE_DTYPE_F16:
        return k->dot_f16(x, (const uint16_t *)W->data + off, W->n_in);
    case JOULE_DTYPE_BF16:
        return k->dot_bf16(x, (const uint16_t *)W->data + off, W->n_in);
    case JOULE_DTYPE_Q8_0:
        return k->dot_q8(x, (const struct jn_q8_block *)W->data + off / JN_Q8_BLOCK, W->n_in);
    default:
        return k->dot_f32(x, (const float *)W->data + off, W->n_in);
    }
}

static void dot_tile(const struct jn_kernels *k, const struct jn_mat *W, int o, const float *x,
                     float *out)
{
    size_t off = (size_t)o * (size_t)W->n_in, ld = (size_t)W->n_in;
    switch (W->dtype) {
    case JOULE_DTYPE_F16:
        k->dot_tile_f16(x, ld, (const uint16_t *)W->data + off, ld, W->n_in, out);
        break;
    case JOULE_DTYPE_BF16:
        k->dot_tile_bf16(x, ld, (const uint16_t *)W->data + off, ld, W->n_in, out);
        break;
    case JOULE_DTYPE_Q8_0: /* rows of n_in / 32 blocks */
        k->dot_tile_q8(x, ld, (const struct jn_q8_block *)W->data + off / JN_Q8_BLOCK,
                       ld / JN_Q8_BLOCK, W->n_in, out);
        break;
    default:
        k->dot_tile_f32(x, ld, (const float *)W->data + off, ld, W->n_in, out);
    }
}

/* Rows of x handled together: their inputs stay in cache while a block of
 * weights is streamed once for all of them. */
#define MM_ROW_BLOCK 32

/* [n_out, n_in] weights, outputs [c0, c1) of rows [m0, m1) */
static void mm_dot(const struct mm_task *t, int c0, int c1, int m0, int m1)
{
    const struct jn_mat *W = t->W;
    const int n_out = W->n_out, n_in = W->n_in;
    float tile[JN_TILE_ROWS * JN_DOT_TILE_OUT];
    int o = c0;
    int tiles = m1 - m0 >= JN_TILE_ROWS;
    for (; tiles && o + JN_DOT_TILE_OUT <= c1; o += JN_DOT_TILE_OUT) {
        int m = m0;
        for (; m + JN_TILE_ROWS <= m1; m += JN_TILE_ROWS) {
            dot_tile(t->k, W, o, t->x + (size_t)m * n_in, tile);
            for (int r = 0; r < JN_TILE_ROWS; r++)
                for (int j = 0; j < JN_DOT_TILE_OUT; j++)
                    t->y[(size_t)(m + r) * n_out + o + j] =
                        tile[r * JN_DOT_TILE_OUT + j] + (t->bias ? t->bias[o + j] : 0.0f);
        }
        for (; m < m1; m++)
            for (int j = 0; j < JN_DOT_TILE_OUT; j++)
                t->y[(size_t)m * n_out + o + j] = dot_row(t->k, W, o + j, t->x + (size_t)m * n_in) +
                                                  (t->bias ? t->bias[o + j] : 0.0f);
    }
    for (; o < c1; o++) {
        float b = t->bias ? t->bias[o] : 0.0f;
        for (int m = m0; m < m1; m++)
            t->y[(size_t)m * n_out + o] = dot_row(t->k, W, o, t->x + (size_t)m * n_in) + b;
    }
}

/* Each output element is computed by one thread, in an order that does not
 * depend on the number of threads. */
static void mm_worker(void *ctx, int ith, int nth)
{
    (void)ith;
    (void)nth;
    struct mm_task *t = ctx;
    const int n_out = t->W->n_out;
    for (;;) {
        int c0 = atomic_fetch_add_explicit(&t->next, t->chunk, memory_order_relaxed);
        if (c0 >= n_out) break;
        int c1 = c0 + t->chunk < n_out ? c0 + t->chunk : n_out;
        for (int m0 = 0; m0 < t->M; m0 += MM_ROW_BLOCK)
            mm_dot(t, c0, c1, m0, m0 + MM_ROW_BLOCK < t->M ? m0 + MM_ROW_BLOCK : t->M);
        for (int m = 0; t->apply_act && m < t->M; m++) {
            float *y = t->y + (size_t)m * n_out;
            float *g = t->gate ? t->gate + (size_t)m * n_out : NULL;
            if (t->act_simd) {
                /* the gate block is this thread's alone and not read again */
                t->k->act_sigmoid((g ? g : y) + c0, c1 - c0, t->act_c1, t->act_c3);
                for (int o = c0; g && o < c1; o++)
                    y[o] = g[o] * y[o];
            } else {
                for (int o = c0; o < c1; o++)
                    y[o] = g ? act(t->act, g[o]) * y[o] : act(t->act, y[o]);
            }
        }
    }
}

/* y[M, n_out] = x[M, n_in] W^T + b, then the epilogue of mm_task when apply_act */
static void matmul_act(struct jn_cpu *c, const struct jn_mat *W, const float *bias, const float *x,
                       float *y, int M, int apply_act, float *gate)
{
    int nth = jn_pool_size(c->pool);
    /* blocks of 64 whole weight rows (contiguous: each thread streams them, and claims a
     * block with one atomic step: fewer than 16 rows per claim cost a few % in the
     * claims), smaller when that would leave fewer than 4 blocks per thread, so that the
     * threads finish together */
    int chunk = 64;
    while (chunk > 4 && W->n_out / chunk < 4 * nth)
        chunk /= 2;
    struct mm_task t = {.k = c->k,
                        .W = W,
                        .bias = bias,
                        .x = x,
                        .y = y,
                        .M = M,
                        .chunk = chunk,
                        .apply_act = apply_act,
                        .act = c->w->act,
                        .gate = gate};
    t.act_simd = apply_act && c->k->act_sigmoid && act_sigmoid_form(t.act, &t.act_c1, &t.act_c3);
    atomic_init(&t.next, 0);
    jn_pool_run(c->pool, mm_worker, &t);
}

static void matmul(struct jn_cpu *c, const struct jn_mat *W, const float *bias, const float *x,
                   float *y, int M)
{
    matmul_act(c, W, bias, x, y, M, 0, NULL);
}

/* ---- element-wise ---------------------------------------------------------- */

static void layer_norm(float *y, const float *x, const float *w, const float *b, int n, float eps)
{
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++)
        var += ((double)x[i] - mean) * ((double)x[i] - mean);
    var /= n;
    float rstd = (float)(1.0 / sqrt(var + (double)eps)), fm = (float)mean;
    for (int i = 0; i < n; i++)
        y[i] = (x[i] - fm) * rstd * w[i] + (b ? b[i] : 0.0f);
}

static void rms_norm(float *y, const float *x, const float *w, int n, float eps, int gemma)
{
    float ss = 0.0f;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    float r = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++)
        y[i] = gemma ? (x[i] * r) * (1.0f + w[i]) : w[i] * (x[i] * r);
}

static void norm_rows(const struct jn_weights *w, float *y, const float *x, const float *nw,
                      const float *nb, int rows)
{
    int H = w->cfg.hidden_size;
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * H;
        float *yr = y + (size_t)r * H;
        if (w->norm == JN_NORM_LAYER)
            layer_norm(yr, xr, nw, nb, H, w->cfg.norm_eps);
        else
            rms_norm(yr, xr, nw, H, w->cfg.norm_eps, w->norm == JN_NORM_RMS_GEMMA);
    }
}

static float act(enum jn_act a, float x)
{
    switch (a) {
    case JN_ACT_GELU_ERF:
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case JN_ACT_SILU:
        return x / (1.0f + expf(-x));
    case JN_ACT_BLOOM_GELU:
        return x * 0.5f * (1.0f + tanhf(0.79788456f * x * (1.0f + 0.044715f * x * x)));
    case JN_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case JN_ACT_QUICK_GELU:
        return x / (1.0f + expf(-1.702f * x));
    default:
        return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    }
}

/* ---- attention ------------------------------------------------------------- */

struct attn_task {
    struct jn_cpu *c;
    int layer, n;
    size_t n_past;
    atomic_int next;
};

static void attn_worker(void *ctx, int ith, int nth)
{
    (void)nth;
    struct attn_task *t = ctx;
    struct jn_cpu *c = t->c;
    const struct jn_weights *w = c->w;
    const int nh = w->cfg.n_heads, nkv = w->cfg.n_kv_heads, hd = w->cfg.head_dim;
    const int QD = nh * hd, group = nh / nkv;
    const float scale = w->layers[t->layer].attn_scale;
    float *sc = c->scores + (size_t)ith * c->n_ctx;
    for (;;) {
        int item = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (item >= t->n * nh) break;
        int i = item / nh, h = item % nh, g = h / group;
        size_t pos = t->n_past + (size_t)i;
        const float *q = c->q + (size_t)i * QD + (size_t)h * hd;
        size_t base = ((size_t)t->layer * nkv + g) * (size_t)c->n_ctx * hd;
        const float *K = c->kcache + base, *V = c->vcache + base;
        float mx = -INFINITY;
        float slope = w->alibi ? w->alibi_slopes[h] : 0.0f;
        for (size_t j = 0; j <= pos; j++) {
            float s = c->k->dot_f32(q, K + j * hd, hd) * scale;
            if (w->alibi) s = slope * (float)j + s;
            sc[j] = s;
            if (s > mx) mx = s;
        }
        float sum = 0.0f;
        for (size_t j = 0; j <= pos; j++)
            sum += sc[j] = expf(sc[j] - mx);
        float inv = 1.0f / sum;
        float *out = c->att + (size_t)i * QD + (size_t)h * hd;
        memset(out, 0, (size_t)hd * sizeof *out);
        for (size_t j = 0; j <= pos; j++)
            c->k->axpy_f32(out, sc[j] * inv, V + j * hd, hd);
    }
}

/* rotate_half rope on the first rotary_dim values of each head */
static void rope_rows(const struct jn_weights *w, const float *cs, float *x, int n_heads)
{
    const int hd = w->cfg.head_dim, half = w->cfg.rotary_dim / 2;
    const float *cosv = cs, *sinv = cs + half;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * hd;
        for (int j = 0; j < half; j++) {
            float x1 = v[j], x2 = v[j + half];
            v[j] = x1 * cosv[j] - x2 * sinv[j];
            v[j + half] = x2 * cosv[j] + x1 * sinv[j];
        }
    }
}

/* ---- set-up ----------------------------------------------------------------- */

void jn_cpu_free(struct jn_cpu *c)
{
    if (!c) return;
    jn_pool_free(c->pool);
    free(c->kcache);
    free(c->vcache);
    float **bufs[] = {&c->x,   &c->h, &c->h2, &c->qkv,  &c->q,      &c->kx,  &c->vx,
                      &c->att, &c->a, &c->up, &c->gate, &c->scores, &c->rope};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(*bufs[i]);
    memset(c, 0, sizeof *c);
}

enum joule_status jn_cpu_init(struct jn_cpu *c, const struct jn_weights *w, int n_threads,
                              int n_ctx)
{
    memset(c, 0, sizeof *c);
    if (jn_weights_has_conv1d(w))
        return joule_errorf(JOULE_ERR_INVALID_ARG,
                            "the CPU provider needs the Conv1D weights "
                            "transposed first (jn_weights_transpose_conv1d)");
    c->w = w;
    c->n_ctx = n_ctx;
    c->k = jn_kernels_select();
    if (!c->k) return JOULE_ERR_UNAVAILABLE; /* detail set by jn_kernels_select */
    enum joule_status s = jn_pool_create(n_threads, &c->pool);
    if (s != JOULE_OK) return s;
    const struct joule_model_config *cfg = &w->cfg;
    size_t kv = (size_t)cfg->n_layers * cfg->n_kv_heads * (size_t)n_ctx * cfg->head_dim;
    c->kcache = calloc(kv, sizeof(float));
    c->vcache = calloc(kv, sizeof(float));
    c->scores = malloc((size_t)n_threads * (size_t)n_ctx * sizeof(float));
    if (!c->kcache || !c->vcache || !c->scores) {
        jn_cpu_free(c);
        return joule_errorf(JOULE_ERR_NOMEM, "out of memory for a KV cache of %d positions", n_ctx);
    }
    return JOULE_OK;
}

static int grow(float **p, size_t n)
{
    float *q = realloc(*p, (n ? n : 1) * sizeof *q);
    if (!q) return 0;
    *p = q;
    return 1;
}

static enum joule_status reserve(struct jn_cpu *c, size_t rows)
{
    if (rows <= c->cap_rows) return JOULE_OK;
    const struct joule_model_config *f = &c->w->cfg;
    size_t H = (size_t)f->hidden_size, QD = (size_t)f->n_heads * f->head_dim,
           KD = (size_t)f->n_kv_heads * f->head_dim, I = (size_t)f->intermediate_size;
    size_t big = H > I ? H : I;
    int ok = grow(&c->x, rows * H) && grow(&c->h, rows * H) && grow(&c->h2, rows * H) &&
             grow(&c->qkv, rows * (QD + 2 * KD)) && grow(&c->q, rows * QD) &&
             grow(&c->kx, rows * KD) && grow(&c->vx, rows * KD) && grow(&c->att, rows * QD) &&
             grow(&c->a, rows * H) && grow(&c->up, rows * big) && grow(&c->gate, rows * big) &&
             grow(&c->rope, rows * (size_t)(f->rotary_dim > 0 ? f->rotary_dim : 1));
    if (!ok) return joule_errorf(JOULE_ERR_NOMEM, "out of memory for %zu rows of scratch", rows);
    c->cap_rows = rows;
    return JOULE_OK;
}

static void embed_row(const struct jn_mat *E, int id, float *out)
{
    size_t n = (size_t)E->n_in, off = (size_t)id * n;
    if (E->dtype == JOULE_DTYPE_F32) {
        memcpy(out, (const float *)E->data + off, n * sizeof *out);
        return;
    }
    const uint16_t *src = (const uint16_t *)E->data + off;
    for (size_t i = 0; i < n; i++)
        out[i] = E->dtype == JOULE_DTYPE_F16 ? jn_f16_lookup(src[i]) : joule_bf16_to_f32(src[i]);
}

/* ---- the forward pass ---------------------------------------------------- */

static void attention_block(struct jn_cpu *c, int l, const float *in, int n, size_t n_past)
{
    const struct jn_weights *w = c->w;
    const struct jn_layer *L = &w->layers[l];
    const struct joule_model_config *f = &w->cfg;
    const int nh = f->n_heads, nkv = f->n_kv_heads, hd = f->head_dim;
    const int QD = nh * hd, KD = nkv * hd;
    if (w->qkv_layout == JN_QKV_SEPARATE) {
        matmul(c, &L->q, L->q_b, in, c->q, n);
        matmul(c, &L->k, L->k_b, in, c->kx, n);
        matmul(c, &L->v, L->v_b, in, c->vx, n);
    } else {
        const int QKV = QD + 2 * KD;
        matmul(c, &L->qkv, L->qkv_b, in, c->qkv, n);
        for (int i = 0; i < n; i++) {
            const float *r = c->qkv + (size_t)i * QKV;
            float *q = c->q + (size_t)i * QD, *k = c->kx + (size_t)i * KD,
                  *v = c->vx + (size_t)i * KD;
            if (w->qkv_layout == JN_QKV_CONCAT) {
                memcpy(q, r, (size_t)QD * sizeof *q);
                memcpy(k, r + QD, (size_t)KD * sizeof *k);
                memcpy(v, r + QD + KD, (size_t)KD * sizeof *v);
            } else { /* [head][q, k, v][head_dim]; nkv == nh */
                for (int h = 0; h < nh; h++) {
                    const float *src = r + (size_t)h * 3 * hd;
                    memcpy(q + (size_t)h * hd, src, (size_t)hd * sizeof *q);
                    memcpy(k + (size_t)h * hd, src + hd, (size_t)hd * sizeof *k);
                    memcpy(v + (size_t)h * hd, src + 2 * hd, (size_t)hd * sizeof *v);
                }
            }
        }
    }
    for (int i = 0; i < n; i++) {
        if (f->rotary_dim > 0) {
            const float *cs = c->rope + (size_t)i * f->rotary_dim;
            rope_rows(w, cs, c->q + (size_t)i * QD, nh);
            rope_rows(w, cs, c->kx + (size_t)i * KD, nkv);
        }
        size_t pos = n_past + (size_t)i;
        for (int g = 0; g < nkv; g++) {
            size_t dst = (((size_t)l * nkv + g) * (size_t)c->n_ctx + pos) * hd;
            memcpy(c->kcache + dst, c->kx + (size_t)i * KD + (size_t)g * hd, (size_t)hd * 4);
            memcpy(c->vcache + dst, c->vx + (size_t)i * KD + (size_t)g * hd, (size_t)hd * 4);
        }
    }
    struct attn_task t = {c, l, n, n_past, 0};
    atomic_init(&t.next, 0);
    jn_pool_run(c->pool, attn_worker, &t);
    matmul(c, &L->o, L->o_b, c->att, c->a, n);
}

/* out = mlp(in); uses c->up and c->gate */
static void mlp_block(struct jn_cpu *c, int l, const float *in, float *out, int n)
{
    const struct jn_weights *w = c->w;
    const struct jn_layer *L = &w->layers[l];
    /* up = act(up x), or act(gate x) * (up x): the activation is the up product's epilogue */
    if (w->gated_mlp) matmul(c, &L->gate, L->gate_b, in, c->gate, n);
    matmul_act(c, &L->up, L->up_b, in, c->up, n, 1, w->gated_mlp ? c->gate : NULL);
    matmul(c, &L->down, L->down_b, c->up, out, n);
}

enum joule_status jn_cpu_eval(struct jn_cpu *c, const int32_t *tokens, size_t n_tok, size_t n_past,
                              float *logits, int all_logits)
{
    const struct jn_weights *w = c->w;
    const struct joule_model_config *f = &w->cfg;
    if (n_past + n_tok > (size_t)c->n_ctx)
        return joule_errorf(JOULE_ERR_LIMIT, "context of %d positions is full", c->n_ctx);
    enum joule_status s = reserve(c, n_tok);
    if (s != JOULE_OK) return s;
    const int n = (int)n_tok, H = f->hidden_size;
    for (int i = 0; i < n; i++) {
        float *x = c->x + (size_t)i * H;
        embed_row(&w->tok_emb, tokens[i], x);
        if (w->pos_emb.data) {
            embed_row(&w->pos_emb, (int)(n_past + (size_t)i), c->h);
            for (int j = 0; j < H; j++)
                x[j] += c->h[j];
        }
        if (w->emb_scale != 0.0f)
            for (int j = 0; j < H; j++)
                x[j] *= w->emb_scale;
        if (f->rotary_dim > 0) {
            int half = f->rotary_dim / 2;
            float *cs = c->rope + (size_t)i * f->rotary_dim;
            float p = (float)(n_past + (size_t)i);
            for (int j = 0; j < half; j++) {
                float ang = p * w->inv_freq[j];
                cs[j] = (float)cos((double)ang);
                cs[half + j] = (float)sin((double)ang);
            }
        }
    }
    if (w->emb_norm_w) {
        norm_rows(w, c->h, c->x, w->emb_norm_w, w->emb_norm_b, n);
        memcpy(c->x, c->h, (size_t)n * H * sizeof(float));
    }
    const size_t NH = (size_t)n * H;
    for (int l = 0; l < f->n_layers; l++) {
        const struct jn_layer *L = &w->layers[l];
        norm_rows(w, c->h, c->x, L->attn_norm_w, L->attn_norm_b, n);
        attention_block(c, l, c->h, n, n_past);
        if (w->resid == JN_RESID_SEQUENTIAL) {
            const float *r1 = f->residual_post_layernorm ? c->h : c->x;
            for (size_t i = 0; i < NH; i++)
                c->x[i] = r1[i] + c->a[i];
            norm_rows(w, c->h2, c->x, L->mlp_norm_w, L->mlp_norm_b, n);
            if (f->residual_post_layernorm) memcpy(c->x, c->h2, NH * sizeof(float));
            mlp_block(c, l, c->h2, c->h, n);
            for (size_t i = 0; i < NH; i++)
                c->x[i] += c->h[i];
        } else {
            const float *in = c->h;
            if (w->resid == JN_RESID_PARALLEL) {
                norm_rows(w, c->h2, c->x, L->mlp_norm_w, L->mlp_norm_b, n);
                in = c->h2;
            }
            /* mlp output goes to h2 (its input may be h or h2: copy first) */
            if (in == c->h2) {
                memcpy(c->h, c->h2, NH * sizeof(float));
                in = c->h;
            }
            mlp_block(c, l, in, c->h2, n);
            for (size_t i = 0; i < NH; i++)
                c->x[i] = (c->h2[i] + c->a[i]) + c->x[i];
        }
    }
    if (!logits) return JOULE_OK;
    int first = all_logits ? 0 : n - 1, rows = n - first;
    const float *xs = c->x + (size_t)first * H;
    norm_rows(w, c->h, xs, w->final_norm_w, w->final_norm_b, rows);
    matmul(c, &w->lm_head, w->lm_head_b, c->h, logits, rows);
    return JOULE_OK;
}
