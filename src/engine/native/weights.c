#include "engine/native/weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine/native/cpu/kernels.h"
#include "model/arch.h"
#include "model/dtype.h"
#include "util/fileio.h"

void jn_alibi_slopes(int n_heads, float *out)
{
    int closest = 1;
    while (closest * 2 <= n_heads)
        closest *= 2;
    float base = (float)pow(2.0, -pow(2.0, -(log2((double)closest) - 3.0)));
    for (int i = 0; i < closest; i++)
        out[i] = powf(base, (float)(i + 1));
    if (closest != n_heads) {
        float extra = (float)pow(2.0, -pow(2.0, -(log2(2.0 * closest) - 3.0)));
        int rem = n_heads - closest < closest ? n_heads - closest : closest;
        for (int i = 0; i < rem; i++)
            out[closest + i] = powf(extra, (float)(2 * i + 1));
    }
}

/* Keep p (malloc'd or posix_memalign'd) with the weights, freed by jn_weights_free. Frees p
 * and returns NULL when the list cannot grow (or p is NULL). */
static void *own(struct jn_weights *w, void *p)
{
    void **o = p ? realloc(w->owned, (size_t)(w->n_owned + 1) * sizeof *o) : NULL;
    if (!o) {
        free(p);
        return NULL;
    }
    w->owned = o;
    w->owned[w->n_owned++] = p;
    return p;
}

/* A float copy of a small vector tensor (norm weights, biases); NULL when absent. */
static const float *vec(struct jn_weights *w, const struct joule_tensor *t, int *err)
{
    if (!t) return NULL;
    size_t n = (size_t)t->shape[0];
    float *v = own(w, malloc(n * sizeof *v));
    if (!v) {
        *err = 1;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = joule_elem_f32(t->data, t->dtype, i);
    return v;
}

static struct jn_mat mat(const struct joule_tensor *t, int conv1d)
{
    struct jn_mat m = {0};
    if (!t) return m;
    m.data = t->data;
    m.dtype = t->dtype;
    m.conv1d = conv1d;
    m.n_out = (int)(conv1d ? t->shape[1] : t->shape[0]);
    m.n_in = (int)(conv1d ? t->shape[0] : t->shape[1]);
    return m;
}

static enum jn_act act_of(const char *a)
{
    if (!strcmp(a, "gelu")) return JN_ACT_GELU_ERF;
    if (!strcmp(a, "silu")) return JN_ACT_SILU;
    if (!strcmp(a, "bloom_gelu")) return JN_ACT_BLOOM_GELU;
    if (!strcmp(a, "relu")) return JN_ACT_RELU;
    if (!strcmp(a, "quick_gelu")) return JN_ACT_QUICK_GELU;
    return JN_ACT_GELU_TANH; /* gelu_new, gelu_pytorch_tanh, gelu_fast */
}

/* The matrices of a layer (absent ones have data == NULL), the one list of them. */
#define LAYER_MATS 8
static void layer_mats(struct jn_layer *L, struct jn_mat *out[LAYER_MATS])
{
    struct jn_mat *ms[LAYER_MATS] = {&L->qkv, &L->q,  &L->k,    &L->v,
                                     &L->o,   &L->up, &L->gate, &L->down};
    memcpy(out, ms, sizeof ms);
}

/* Apply fn to every matrix of every layer, stopping at the first error. */
static enum joule_status each_layer_matrix(struct jn_weights *w,
                                           enum joule_status (*fn)(struct jn_weights *,
                                                                   struct jn_mat *))
{
    for (int i = 0; i < w->cfg.n_layers; i++) {
        struct jn_mat *ms[LAYER_MATS];
        layer_mats(&w->layers[i], ms);
        for (size_t j = 0; j < LAYER_MATS; j++) {
            enum joule_status s = fn(w, ms[j]);
            if (s != JOULE_OK) return s;
        }
    }
    return JOULE_OK;
}

int jn_weights_has_conv1d(const struct jn_weights *w)
{
    for (int i = 0; i < w->cfg.n_layers; i++) {
        struct jn_mat *ms[LAYER_MATS];
        layer_mats(&w->layers[i], ms);
        for (size_t j = 0; j < LAYER_MATS; j++)
            if (ms[j]->data && ms[j]->conv1d) return 1;
    }
    return 0;
}

static size_t mat_bytes(const struct jn_mat *m)
{
    size_t es = m->dtype == JOULE_DTYPE_F32 ? 4 : 2;
    return m->data && m->dtype != JOULE_DTYPE_Q8_0 ? (size_t)m->n_in * (size_t)m->n_out * es : 0;
}

enum joule_status jn_weights_copy_hugepages(struct jn_weights *w)
{
    struct jn_mat *mats[4096];
    size_t n = 0, total = 0;
    for (int i = 0; i < w->cfg.n_layers; i++) {
        struct jn_mat *ms[LAYER_MATS];
        layer_mats(&w->layers[i], ms);
        for (size_t j = 0; j < LAYER_MATS; j++)
            if (mat_bytes(ms[j]) && n < 4096) mats[n++] = ms[j];
    }
    if (mat_bytes(&w->lm_head) && n < 4096) mats[n++] = &w->lm_head;
    const size_t huge = (size_t)2 << 20;
    for (size_t i = 0; i < n; i++)
        total += (mat_bytes(mats[i]) + 63) / 64 * 64;
    total = (total + huge - 1) / huge * huge;
    unsigned char *buf = NULL;
    if (posix_memalign((void **)&buf, huge, total ? total : huge) != 0) buf = NULL;
    if (!own(w, buf)) return joule_errorf(JOULE_ERR_NOMEM, "out of memory copying the weights");
    madvise(buf, total, MADV_HUGEPAGE);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t b = mat_bytes(mats[i]);
        memcpy(buf + off, mats[i]->data, b);
        mats[i]->data = buf + off;
        off += (b + 63) / 64 * 64;
    }
    return JOULE_OK;
}

/* [n_in, n_out] -> [n_out, n_in] in the same dtype, in 32 x 32 blocks that stay in cache */
static enum joule_status transpose(struct jn_weights *w, struct jn_mat *m)
{
    if (!m->data || !m->conv1d) return JOULE_OK;
    size_t es = m->dtype == JOULE_DTYPE_F32 ? 4 : 2, rows = (size_t)m->n_in,
           cols = (size_t)m->n_out;
    unsigned char *t = own(w, malloc(rows * cols * es));
    if (!t) return joule_errorf(JOULE_ERR_NOMEM, "out of memory transposing the weights");
    const unsigned char *s = m->data;
    enum { B = 32 };
    for (size_t r0 = 0; r0 < rows; r0 += B)
        for (size_t c0 = 0; c0 < cols; c0 += B)
            for (size_t r = r0; r < r0 + B && r < rows; r++)
                for (size_t c = c0; c < c0 + B && c < cols; c++) {
                    if (es == 4)
                        memcpy(t + (c * rows + r) * 4, s + (r * cols + c) * 4, 4);
                    else
                        memcpy(t + (c * rows + r) * 2, s + (r * cols + c) * 2, 2);
                }
    joule_drop_pages(m->data, rows * cols * es); /* the checkpoint's copy is not read again */
    m->data = t;
    m->conv1d = 0;
    return JOULE_OK;
}

enum joule_status jn_weights_transpose_conv1d(struct jn_weights *w)
{
    return each_layer_matrix(w, transpose);
}

static enum joule_status quantize(struct jn_weights *w, struct jn_mat *m)
{
    if (!m->data || m->dtype == JOULE_DTYPE_Q8_0) return JOULE_OK;
    size_t rows = (size_t)m->n_out, cols = (size_t)m->n_in; /* conv1d transposed first */
    if (cols % JN_Q8_BLOCK)
        return joule_errorf(JOULE_ERR_UNSUPPORTED,
                            "q8: rows of %zu values are not whole blocks of %d", cols, JN_Q8_BLOCK);
    size_t nb = rows * (cols / JN_Q8_BLOCK);
    struct jn_q8_block *q = own(w, malloc(nb * sizeof *q));
    if (!q) return joule_errorf(JOULE_ERR_NOMEM, "out of memory quantizing");
    for (size_t b = 0; b < nb; b++) {
        size_t base = b * JN_Q8_BLOCK;
        float amax = 0.0f, v[JN_Q8_BLOCK];
        for (int j = 0; j < JN_Q8_BLOCK; j++) {
            v[j] = joule_elem_f32(m->data, m->dtype, base + (size_t)j);
            amax = fmaxf(amax, fabsf(v[j]));
        }
        float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
        q[b].d = joule_f32_to_f16(d);
        for (int j = 0; j < JN_Q8_BLOCK; j++)
            q[b].q[j] = (int8_t)lrintf(v[j] * id);
    }
    m->data = q;
    m->dtype = JOULE_DTYPE_Q8_0;
    return JOULE_OK;
}

enum joule_status jn_weights_quantize_q8(struct jn_weights *w)
{
    enum joule_status s = jn_weights_transpose_conv1d(w);
    if (s == JOULE_OK) s = each_layer_matrix(w, quantize);
    if (s == JOULE_OK) s = quantize(w, &w->lm_head); /* a copy when tied: tok_emb stays */
    return s;
}

void jn_weights_free(struct jn_weights *w)
{
    if (!w) return;
    for (int i = 0; i < w->n_owned; i++)
        free(w->owned[i]);
    free(w->owned);
    free(w->layers);
    free(w->inv_freq);
    free(w->alibi_slopes);
    memset(w, 0, sizeof *w);
}

enum joule_status jn_weights_init(struct jn_weights *w, const struct joule_model *m)
{
    memset(w, 0, sizeof *w);
    const struct joule_model_config *c = joule_model_get_config(m);
    w->cfg = *c;
    enum joule_arch a = c->arch;
    int conv = joule_arch_conv1d(a);
    int err = 0;
    w->norm = a == JOULE_ARCH_LLAMA   ? JN_NORM_RMS
              : a == JOULE_ARCH_GEMMA ? JN_NORM_RMS_GEMMA
                                      : JN_NORM_LAYER;
    w->qkv_layout = JN_QKV_SEPARATE;
    if (a == JOULE_ARCH_GPT2) w->qkv_layout = JN_QKV_CONCAT;
    if (a == JOULE_ARCH_GPT_BIGCODE)
        w->qkv_layout = c->multi_query ? JN_QKV_CONCAT : JN_QKV_PER_HEAD;
    if (a == JOULE_ARCH_GPT_NEOX || a == JOULE_ARCH_BLOOM) w->qkv_layout = JN_QKV_PER_HEAD;
    w->resid = a == JOULE_ARCH_PHI                                  ? JN_RESID_PARALLEL_SHARED
               : (a == JOULE_ARCH_GPT_NEOX && c->parallel_residual) ? JN_RESID_PARALLEL
                                                                    : JN_RESID_SEQUENTIAL;
    w->act = act_of(c->activation);
    w->gated_mlp = a == JOULE_ARCH_LLAMA || a == JOULE_ARCH_GEMMA;
    w->alibi = a == JOULE_ARCH_BLOOM;

    w->tok_emb = mat(joule_model_role(m, JOULE_ROLE_TOK_EMB, -1), 0);
    w->pos_emb = mat(joule_model_role(m, JOULE_ROLE_POS_EMB, -1), 0);
    const struct joule_tensor *lm = joule_model_role(m, JOULE_ROLE_LM_HEAD_W, -1);
    w->lm_head = lm ? mat(lm, 0) : w->tok_emb;
    w->lm_head_b = vec(w, joule_model_role(m, JOULE_ROLE_LM_HEAD_B, -1), &err);
    w->emb_norm_w = vec(w, joule_model_role(m, JOULE_ROLE_EMB_NORM_W, -1), &err);
    w->emb_norm_b = vec(w, joule_model_role(m, JOULE_ROLE_EMB_NORM_B, -1), &err);
    w->final_norm_w = vec(w, joule_model_role(m, JOULE_ROLE_FINAL_NORM_W, -1), &err);
    w->final_norm_b = vec(w, joule_model_role(m, JOULE_ROLE_FINAL_NORM_B, -1), &err);
    if (!w->tok_emb.data)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "model was loaded without binding its tensors");
    if (a == JOULE_ARCH_GEMMA)
        w->emb_scale = joule_round_to_dtype((float)sqrt((double)c->hidden_size), c->dtype);

    w->layers = calloc((size_t)c->n_layers, sizeof *w->layers);
    if (!w->layers) err = 1;
    for (int i = 0; i < c->n_layers && !err; i++) {
        struct jn_layer *L = &w->layers[i];
#define R(role) joule_model_role(m, JOULE_ROLE_##role, i)
        L->attn_norm_w = vec(w, R(ATTN_NORM_W), &err);
        L->attn_norm_b = vec(w, R(ATTN_NORM_B), &err);
        L->mlp_norm_w = vec(w, R(MLP_NORM_W), &err);
        L->mlp_norm_b = vec(w, R(MLP_NORM_B), &err);
        L->qkv = mat(R(QKV_W), conv);
        L->q = mat(R(Q_W), conv);
        L->k = mat(R(K_W), conv);
        L->v = mat(R(V_W), conv);
        L->o = mat(R(O_W), conv);
        L->up = mat(R(UP_W), conv);
        L->gate = mat(R(GATE_W), conv);
        L->down = mat(R(DOWN_W), conv);
        L->qkv_b = vec(w, R(QKV_B), &err);
        L->q_b = vec(w, R(Q_B), &err);
        L->k_b = vec(w, R(K_B), &err);
        L->v_b = vec(w, R(V_B), &err);
        L->o_b = vec(w, R(O_B), &err);
        L->up_b = vec(w, R(UP_B), &err);
        L->gate_b = vec(w, R(GATE_B), &err);
        L->down_b = vec(w, R(DOWN_B), &err);
#undef R
        float scale = 1.0f;
        if (c->scale_attn_weights) scale = 1.0f / sqrtf((float)c->head_dim);
        if (c->scale_attn_by_inverse_layer_idx) scale /= (float)(i + 1);
        L->attn_scale = scale;
    }
    if (!err && c->rotary_dim > 0) {
        int half = c->rotary_dim / 2;
        w->inv_freq = malloc((size_t)half * sizeof *w->inv_freq);
        if (!w->inv_freq) err = 1;
        /* transformers: 1 / base ** (arange(0, dim, 2).float() / dim), in float32 */
        for (int j = 0; j < half && !err; j++) {
            float e = (float)(2 * j) / (float)c->rotary_dim;
            w->inv_freq[j] = 1.0f / (float)pow((double)c->rope_theta, (double)e);
        }
    }
    if (!err && w->alibi) {
        w->alibi_slopes = malloc((size_t)c->n_heads * sizeof *w->alibi_slopes);
        if (!w->alibi_slopes)
            err = 1;
        else
            jn_alibi_slopes(c->n_heads, w->alibi_slopes);
    }
    if (err) {
        jn_weights_free(w);
        return joule_errorf(JOULE_ERR_NOMEM, "out of memory binding weights");
    }
    return JOULE_OK;
}
