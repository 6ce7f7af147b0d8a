#include "engine/native/weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch.h"

float jn_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
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

float jn_bf16_to_float(uint16_t h)
{
    uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

float jn_round_to_dtype(float x, enum joule_dtype t)
{
    uint32_t b;
    memcpy(&b, &x, 4);
    if (t == JOULE_DTYPE_BF16) {
        b += 0x7fff + ((b >> 16) & 1);
        b &= 0xffff0000u;
        memcpy(&x, &b, 4);
        return x;
    }
    if (t == JOULE_DTYPE_F16) {
        /* normal-range values only (the embedding scale): keep 10 mantissa bits */
        b += 0xfff + ((b >> 13) & 1);
        b &= 0xffffe000u;
        memcpy(&x, &b, 4);
        return x;
    }
    return x;
}

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

/* A float copy of a small vector tensor (norm weights, biases); NULL when absent. */
static const float *vec(struct jn_weights *w, const struct joule_tensor *t, int *err)
{
    if (!t) return NULL;
    size_t n = (size_t)t->shape[0];
    float *v = malloc(n * sizeof *v);
    float **o = realloc(w->owned, (size_t)(w->n_owned + 1) * sizeof *o);
    if (!v || !o) {
        free(v);
        if (o) w->owned = o;
        *err = 1;
        return NULL;
    }
    w->owned = o;
    w->owned[w->n_owned++] = v;
    const unsigned char *src = t->data;
    for (size_t i = 0; i < n; i++) {
        if (t->dtype == JOULE_DTYPE_F32) {
            memcpy(&v[i], src + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            v[i] = t->dtype == JOULE_DTYPE_F16 ? jn_half_to_float(h) : jn_bf16_to_float(h);
        }
    }
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
        w->emb_scale = jn_round_to_dtype((float)sqrt((double)c->hidden_size), c->dtype);

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
