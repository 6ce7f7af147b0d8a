#include "model/arch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *joule_arch_prefix(enum joule_arch a)
{
    switch (a) {
    case JOULE_ARCH_GPT2:
    case JOULE_ARCH_GPT_BIGCODE:
    case JOULE_ARCH_BLOOM:
        return "transformer.";
    case JOULE_ARCH_GPT_NEOX:
        return "gpt_neox.";
    default:
        return "model.";
    }
}

int joule_arch_conv1d(enum joule_arch a)
{
    return a == JOULE_ARCH_GPT2;
}

struct spec_list {
    struct joule_tensor_spec *out;
    size_t cap, n;
    const char *prefix;
};

static void add(struct spec_list *l, enum joule_role role, int layer, int64_t d0, int64_t d1,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* d1 < 0: a vector of d0 elements. The name is the prefix + fmt (with the
 * layer number), unless fmt starts with '/' (a name outside the base model). */
static void add(struct spec_list *l, enum joule_role role, int layer, int64_t d0, int64_t d1,
                const char *fmt, ...)
{
    if (l->n < l->cap) {
        struct joule_tensor_spec *s = &l->out[l->n];
        char rel[112];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rel, sizeof rel, fmt, ap);
        va_end(ap);
        if (rel[0] == '/')
            snprintf(s->name, sizeof s->name, "%s", rel + 1);
        else
            snprintf(s->name, sizeof s->name, "%s%s", l->prefix, rel);
        s->role = role;
        s->layer = layer;
        s->n_dims = d1 < 0 ? 1 : 2;
        s->shape[0] = d0;
        s->shape[1] = d1 < 0 ? 1 : d1;
    }
    l->n++;
}

/* A linear module `name` with weight [out, in] (or [in, out] for Conv1D) and optional bias. */
static void linear(struct spec_list *l, const struct joule_model_config *c, enum joule_role wrole,
                   int layer, int64_t out, int64_t in, int bias, const char *name)
{
    int conv = joule_arch_conv1d(c->arch);
    add(l, wrole, layer, conv ? in : out, conv ? out : in, "%s.weight", name);
    if (bias) add(l, (enum joule_role)(wrole + 1), layer, out, -1, "%s.bias", name);
}

static void norm(struct spec_list *l, enum joule_role wrole, int layer, int64_t h, int bias,
                 const char *name)
{
    add(l, wrole, layer, h, -1, "%s.weight", name);
    if (bias) add(l, (enum joule_role)(wrole + 1), layer, h, -1, "%s.bias", name);
}

size_t joule_arch_specs(const struct joule_model_config *c, struct joule_tensor_spec *out,
                        size_t cap)
{
    struct spec_list l = {out, cap, 0, joule_arch_prefix(c->arch)};
    const int64_t H = c->hidden_size, V = c->vocab_size, I = c->intermediate_size;
    const int64_t QD = (int64_t)c->n_heads * c->head_dim, KD = (int64_t)c->n_kv_heads * c->head_dim;
    char n[96];
    switch (c->arch) {
    case JOULE_ARCH_GPT2:
    case JOULE_ARCH_GPT_BIGCODE:
        add(&l, JOULE_ROLE_TOK_EMB, -1, V, H, "wte.weight");
        add(&l, JOULE_ROLE_POS_EMB, -1, c->max_positions, H, "wpe.weight");
        for (int i = 0; i < c->n_layers; i++) {
            snprintf(n, sizeof n, "h.%d.ln_1", i);
            norm(&l, JOULE_ROLE_ATTN_NORM_W, i, H, 1, n);
            snprintf(n, sizeof n, "h.%d.attn.c_attn", i);
            linear(&l, c, JOULE_ROLE_QKV_W, i, QD + 2 * KD, H, 1, n);
            snprintf(n, sizeof n, "h.%d.attn.c_proj", i);
            linear(&l, c, JOULE_ROLE_O_W, i, H, QD, 1, n);
            snprintf(n, sizeof n, "h.%d.ln_2", i);
            norm(&l, JOULE_ROLE_MLP_NORM_W, i, H, 1, n);
            snprintf(n, sizeof n, "h.%d.mlp.c_fc", i);
            linear(&l, c, JOULE_ROLE_UP_W, i, I, H, 1, n);
            snprintf(n, sizeof n, "h.%d.mlp.c_proj", i);
            linear(&l, c, JOULE_ROLE_DOWN_W, i, H, I, 1, n);
        }
        norm(&l, JOULE_ROLE_FINAL_NORM_W, -1, H, 1, "ln_f");
        break;
    case JOULE_ARCH_GPT_NEOX:
        add(&l, JOULE_ROLE_TOK_EMB, -1, V, H, "embed_in.weight");
        for (int i = 0; i < c->n_layers; i++) {
            snprintf(n, sizeof n, "layers.%d.input_layernorm", i);
            norm(&l, JOULE_ROLE_ATTN_NORM_W, i, H, 1, n);
            snprintf(n, sizeof n, "layers.%d.post_attention_layernorm", i);
            norm(&l, JOULE_ROLE_MLP_NORM_W, i, H, 1, n);
            snprintf(n, sizeof n, "layers.%d.attention.query_key_value", i);
            linear(&l, c, JOULE_ROLE_QKV_W, i, 3 * QD, H, c->attention_bias, n);
            snprintf(n, sizeof n, "layers.%d.attention.dense", i);
            linear(&l, c, JOULE_ROLE_O_W, i, H, QD, c->attention_bias, n);
            snprintf(n, sizeof n, "layers.%d.mlp.dense_h_to_4h", i);
            linear(&l, c, JOULE_ROLE_UP_W, i, I, H, 1, n);
            snprintf(n, sizeof n, "layers.%d.mlp.dense_4h_to_h", i);
            linear(&l, c, JOULE_ROLE_DOWN_W, i, H, I, 1, n);
        }
        norm(&l, JOULE_ROLE_FINAL_NORM_W, -1, H, 1, "final_layer_norm");
        if (!c->tie_word_embeddings) add(&l, JOULE_ROLE_LM_HEAD_W, -1, V, H, "/embed_out.weight");
        return l.n;
    case JOULE_ARCH_BLOOM:
        add(&l, JOULE_ROLE_TOK_EMB, -1, V, H, "word_embeddings.weight");
        norm(&l, JOULE_ROLE_EMB_NORM_W, -1, H, 1, "word_embeddings_layernorm");
        for (int i = 0; i < c->n_layers; i++) {
            snprintf(n, sizeof n, "h.%d.input_layernorm", i);
            norm(&l, JOULE_ROLE_ATTN_NORM_W, i, H, 1, n);
            snprintf(n, sizeof n, "h.%d.self_attention.query_key_value", i);
            linear(&l, c, JOULE_ROLE_QKV_W, i, 3 * QD, H, 1, n);
            snprintf(n, sizeof n, "h.%d.self_attention.dense", i);
            linear(&l, c, JOULE_ROLE_O_W, i, H, QD, 1, n);
            snprintf(n, sizeof n, "h.%d.post_attention_layernorm", i);
            norm(&l, JOULE_ROLE_MLP_NORM_W, i, H, 1, n);
            snprintf(n, sizeof n, "h.%d.mlp.dense_h_to_4h", i);
            linear(&l, c, JOULE_ROLE_UP_W, i, I, H, 1, n);
            snprintf(n, sizeof n, "h.%d.mlp.dense_4h_to_h", i);
            linear(&l, c, JOULE_ROLE_DOWN_W, i, H, I, 1, n);
        }
        norm(&l, JOULE_ROLE_FINAL_NORM_W, -1, H, 1, "ln_f");
        break;
    case JOULE_ARCH_LLAMA:
    case JOULE_ARCH_GEMMA:
        add(&l, JOULE_ROLE_TOK_EMB, -1, V, H, "embed_tokens.weight");
        for (int i = 0; i < c->n_layers; i++) {
            snprintf(n, sizeof n, "layers.%d.input_layernorm", i);
            norm(&l, JOULE_ROLE_ATTN_NORM_W, i, H, 0, n);
            snprintf(n, sizeof n, "layers.%d.self_attn.q_proj", i);
            linear(&l, c, JOULE_ROLE_Q_W, i, QD, H, c->attention_bias, n);
            snprintf(n, sizeof n, "layers.%d.self_attn.k_proj", i);
            linear(&l, c, JOULE_ROLE_K_W, i, KD, H, c->attention_bias, n);
            snprintf(n, sizeof n, "layers.%d.self_attn.v_proj", i);
            linear(&l, c, JOULE_ROLE_V_W, i, KD, H, c->attention_bias, n);
            snprintf(n, sizeof n, "layers.%d.self_attn.o_proj", i);
            linear(&l, c, JOULE_ROLE_O_W, i, H, QD, c->attention_bias, n);
            snprintf(n, sizeof n, "layers.%d.post_attention_layernorm", i);
            norm(&l, JOULE_ROLE_MLP_NORM_W, i, H, 0, n);
            snprintf(n, sizeof n, "layers.%d.mlp.gate_proj", i);
            linear(&l, c, JOULE_ROLE_GATE_W, i, I, H, c->mlp_bias, n);
            snprintf(n, sizeof n, "layers.%d.mlp.up_proj", i);
            linear(&l, c, JOULE_ROLE_UP_W, i, I, H, c->mlp_bias, n);
            snprintf(n, sizeof n, "layers.%d.mlp.down_proj", i);
            linear(&l, c, JOULE_ROLE_DOWN_W, i, H, I, c->mlp_bias, n);
        }
        norm(&l, JOULE_ROLE_FINAL_NORM_W, -1, H, 0, "norm");
        break;
    case JOULE_ARCH_PHI:
        add(&l, JOULE_ROLE_TOK_EMB, -1, V, H, "embed_tokens.weight");
        for (int i = 0; i < c->n_layers; i++) {
            snprintf(n, sizeof n, "layers.%d.input_layernorm", i);
            norm(&l, JOULE_ROLE_ATTN_NORM_W, i, H, 1, n);
            snprintf(n, sizeof n, "layers.%d.self_attn.q_proj", i);
            linear(&l, c, JOULE_ROLE_Q_W, i, QD, H, 1, n);
            snprintf(n, sizeof n, "layers.%d.self_attn.k_proj", i);
            linear(&l, c, JOULE_ROLE_K_W, i, KD, H, 1, n);
            snprintf(n, sizeof n, "layers.%d.self_attn.v_proj", i);
            linear(&l, c, JOULE_ROLE_V_W, i, KD, H, 1, n);
            snprintf(n, sizeof n, "layers.%d.self_attn.dense", i);
            linear(&l, c, JOULE_ROLE_O_W, i, H, QD, 1, n);
            snprintf(n, sizeof n, "layers.%d.mlp.fc1", i);
            linear(&l, c, JOULE_ROLE_UP_W, i, I, H, 1, n);
            snprintf(n, sizeof n, "layers.%d.mlp.fc2", i);
            linear(&l, c, JOULE_ROLE_DOWN_W, i, H, I, 1, n);
        }
        norm(&l, JOULE_ROLE_FINAL_NORM_W, -1, H, 1, "final_layernorm");
        if (!c->tie_word_embeddings) {
            add(&l, JOULE_ROLE_LM_HEAD_W, -1, V, H, "/lm_head.weight");
            add(&l, JOULE_ROLE_LM_HEAD_B, -1, V, -1, "/lm_head.bias");
        }
        return l.n;
    default:
        return 0;
    }
    if (!c->tie_word_embeddings) add(&l, JOULE_ROLE_LM_HEAD_W, -1, V, H, "/lm_head.weight");
    return l.n;
}
