/* config.json → struct joule_model_config, for the hub style (transformers 4.x
 * keys such as n_embd, rotary_pct, torch_dtype) and the transformers 5 style
 * (rope_parameters, dtype). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "joule/model.h"
#include "util/json.h"

static const char *const g_arch_names[JOULE_ARCH_COUNT] = {
    "gpt2", "gpt_bigcode", "gpt_neox", "bloom", "llama", "gemma", "phi",
};
static const char *const g_arch_classes[JOULE_ARCH_COUNT] = {
    "GPT2LMHeadModel",  "GPTBigCodeForCausalLM", "GPTNeoXForCausalLM", "BloomForCausalLM",
    "LlamaForCausalLM", "GemmaForCausalLM",      "PhiForCausalLM",
};

const char *joule_arch_name(enum joule_arch a)
{
    return (unsigned)a < JOULE_ARCH_COUNT ? g_arch_names[a] : NULL;
}

const char *joule_dtype_name(enum joule_dtype t)
{
    static const char *const names[JOULE_DTYPE_COUNT] = {"f32",  "f16", "bf16",
                                                         "q8_0", "i32", "i64"};
    return (unsigned)t < JOULE_DTYPE_COUNT ? names[t] : NULL;
}

/* First of `keys` (NULL-terminated) that is a number. */
static int first_num(const cJSON *o, const char *const *keys, double *out)
{
    for (; *keys; keys++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, *keys);
        if (cJSON_IsNumber(v)) {
            *out = v->valuedouble;
            return 1;
        }
    }
    return 0;
}

#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})

static int get_int(const cJSON *o, const char *const *keys, int def)
{
    double d;
    if (!first_num(o, keys, &d)) return def;
    if (!(d >= -2147483648.0 && d <= 2147483647.0)) return -2; /* out of range: invalid */
    return (int)d;
}

/* A token id that may be a number, a list of numbers (first wins) or null. */
static int token_id(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsArray(v)) v = v->child;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2147483647.0) return -1;
    return (int)v->valuedouble;
}

static enum joule_dtype dtype_from_torch(const char *s)
{
    if (!s) return JOULE_DTYPE_F32;
    if (!strcmp(s, "float16") || !strcmp(s, "torch.float16") || !strcmp(s, "half"))
        return JOULE_DTYPE_F16;
    if (!strcmp(s, "bfloat16") || !strcmp(s, "torch.bfloat16")) return JOULE_DTYPE_BF16;
    return JOULE_DTYPE_F32;
}

static enum joule_status check_range(const char *what, int v, int lo, int hi)
{
    if (v < lo || v > hi)
        return joule_errorf(JOULE_ERR_FORMAT, "config.json: %s = %d is outside [%d, %d]", what, v,
                            lo, hi);
    return JOULE_OK;
}

enum joule_status joule_model_parse_config(const char *json_text, size_t len,
                                           struct joule_model_config *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(json_text, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return joule_errorf(JOULE_ERR_FORMAT, "config.json is not a JSON object");
    }
    enum joule_status s = JOULE_OK;
    struct joule_model_config *c = out;
    const char *mt = joule_json_str(root, "model_type", NULL);
    int arch = -1;
    for (int a = 0; mt && a < JOULE_ARCH_COUNT; a++)
        if (!strcmp(mt, g_arch_names[a])) arch = a;
    if (arch < 0 && !mt) {
        const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
        const cJSON *a0 = cJSON_IsArray(archs) ? archs->child : NULL;
        for (int a = 0; cJSON_IsString(a0) && a < JOULE_ARCH_COUNT; a++)
            if (!strcmp(a0->valuestring, g_arch_classes[a])) arch = a;
    }
    if (arch < 0) {
        s = joule_errorf(JOULE_ERR_UNSUPPORTED,
                         "config.json: unknown architecture (model_type '%s'); joule runs gpt2, "
                         "gpt_bigcode, gpt_neox, bloom, llama, gemma and phi",
                         mt ? mt : "(none)");
        goto done;
    }
    c->arch = (enum joule_arch)arch;
    snprintf(c->model_type, sizeof c->model_type, "%s", g_arch_names[arch]);
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (!cJSON_IsObject(rp)) rp = NULL;

    c->vocab_size = get_int(root, KEYS("vocab_size"), 0);
    c->hidden_size = get_int(root, KEYS("hidden_size", "n_embd", "n_embed", "d_model"), 0);
    c->n_layers = get_int(root, KEYS("num_hidden_layers", "n_layer", "num_layers"), 0);
    c->n_heads = get_int(root, KEYS("num_attention_heads", "n_head"), 0);
    c->n_kv_heads = get_int(root, KEYS("num_key_value_heads"), c->n_heads);
    if (c->arch == JOULE_ARCH_GPT_BIGCODE) {
        c->multi_query = joule_json_bool(root, "multi_query", 1);
        c->n_kv_heads = c->multi_query ? 1 : c->n_heads;
    }
    if (c->arch != JOULE_ARCH_LLAMA && c->arch != JOULE_ARCH_GEMMA && c->arch != JOULE_ARCH_PHI)
        if (c->arch != JOULE_ARCH_GPT_BIGCODE) c->n_kv_heads = c->n_heads;
    c->head_dim = c->n_heads > 0 ? c->hidden_size / c->n_heads : 0;
    if (c->arch == JOULE_ARCH_LLAMA || c->arch == JOULE_ARCH_GEMMA)
        c->head_dim = get_int(root, KEYS("head_dim"), c->head_dim);
    /* 4 × hidden by default; a hidden size out of range is refused below (no overflow here) */
    c->intermediate_size =
        get_int(root, KEYS("intermediate_size", "n_inner", "ffn_dim"),
                c->hidden_size > 0 && c->hidden_size <= (1 << 16) ? 4 * c->hidden_size : 0);
    c->max_positions =
        get_int(root, KEYS("max_position_embeddings", "n_positions", "seq_length", "n_ctx"), 2048);
    double d;
    c->norm_eps = first_num(root, KEYS("layer_norm_epsilon", "layer_norm_eps", "rms_norm_eps"), &d)
                      ? (float)d
                      : (c->arch == JOULE_ARCH_GEMMA ? 1e-6f : 1e-5f);
    c->rope_theta = 10000.0f;
    if (first_num(root, KEYS("rope_theta", "rotary_emb_base"), &d)) c->rope_theta = (float)d;
    if (rp && first_num(rp, KEYS("rope_theta"), &d)) c->rope_theta = (float)d;
    /* Rope scaling changes positions; joule runs only the default kind. */
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    const char *rtype = rp ? joule_json_str(rp, "rope_type", "default") : "default";
    if ((rs && !cJSON_IsNull(rs)) || strcmp(rtype, "default")) {
        s = joule_errorf(JOULE_ERR_UNSUPPORTED, "config.json: rope scaling is not supported");
        goto done;
    }
    double pct = 1.0;
    if (c->arch == JOULE_ARCH_GPT_NEOX || c->arch == JOULE_ARCH_PHI) {
        pct = c->arch == JOULE_ARCH_GPT_NEOX ? 0.25 : 0.5;
        if (first_num(root, KEYS("rotary_pct", "partial_rotary_factor"), &d)) pct = d;
        if (rp && first_num(rp, KEYS("partial_rotary_factor"), &d)) pct = d;
    }
    switch (c->arch) {
    case JOULE_ARCH_GPT_NEOX:
    case JOULE_ARCH_PHI:
    case JOULE_ARCH_LLAMA:
    case JOULE_ARCH_GEMMA:
        if (!(pct > 0.0 && pct <= 1.0)) {
            s = joule_errorf(JOULE_ERR_FORMAT, "config.json: rotary fraction %g is not in (0, 1]",
                             pct);
            goto done;
        }
        c->rotary_dim = (int)(c->head_dim * pct); /* int() truncation, as transformers */
        break;
    default:
        c->rotary_dim = 0;
    }
    /* PretrainedConfig ties by default; GPT-NeoX, Llama and Phi configs default to untied. */
    int tie_def = !(c->arch == JOULE_ARCH_GPT_NEOX || c->arch == JOULE_ARCH_LLAMA ||
                    c->arch == JOULE_ARCH_PHI);
    c->tie_word_embeddings = joule_json_bool(root, "tie_word_embeddings", tie_def);
    c->bos_token_id = token_id(root, "bos_token_id");
    c->eos_token_id = token_id(root, "eos_token_id");
    const char *act = NULL;
    if (c->arch == JOULE_ARCH_GEMMA) {
        act = joule_json_str(root, "hidden_activation", NULL);
        if (!act) act = "gelu_pytorch_tanh"; /* transformers' choice when it is null */
    } else if (c->arch == JOULE_ARCH_BLOOM) {
        act = "bloom_gelu";
    } else {
        act = joule_json_str(root, "activation_function", NULL);
        if (!act) act = joule_json_str(root, "hidden_act", NULL);
        if (!act) act = c->arch == JOULE_ARCH_LLAMA ? "silu" : "gelu_new";
    }
    snprintf(c->activation, sizeof c->activation, "%s", act);
    static const char *const known_acts[] = {"gelu_new", "gelu",       "gelu_pytorch_tanh",
                                             "silu",     "bloom_gelu", "gelu_fast",
                                             "relu",     "quick_gelu", NULL};
    int ok = 0;
    for (const char *const *k = known_acts; *k; k++)
        ok |= !strcmp(*k, act);
    if (!ok) {
        s = joule_errorf(JOULE_ERR_UNSUPPORTED, "config.json: activation '%s' is not supported",
                         act);
        goto done;
    }
    c->parallel_residual =
        c->arch == JOULE_ARCH_PHI ||
        (c->arch == JOULE_ARCH_GPT_NEOX && joule_json_bool(root, "use_parallel_residual", 1));
    if (c->arch == JOULE_ARCH_GPT2) {
        c->scale_attn_by_inverse_layer_idx =
            joule_json_bool(root, "scale_attn_by_inverse_layer_idx", 0);
        c->reorder_and_upcast_attn = joule_json_bool(root, "reorder_and_upcast_attn", 0);
    }
    c->scale_attn_weights = 1;
    if (c->arch == JOULE_ARCH_GPT2 || c->arch == JOULE_ARCH_GPT_BIGCODE)
        c->scale_attn_weights = joule_json_bool(root, "scale_attn_weights", 1);
    switch (c->arch) {
    case JOULE_ARCH_LLAMA:
    case JOULE_ARCH_GEMMA:
        c->attention_bias = joule_json_bool(root, "attention_bias", 0);
        c->mlp_bias = joule_json_bool(root, "mlp_bias", 0);
        break;
    case JOULE_ARCH_GPT_NEOX:
        c->attention_bias = joule_json_bool(root, "attention_bias", 1);
        c->mlp_bias = 1;
        break;
    default:
        c->attention_bias = c->mlp_bias = 1;
    }
    if (c->arch == JOULE_ARCH_BLOOM)
        c->residual_post_layernorm =
            joule_json_bool(root, "apply_residual_connection_post_layernorm", 0);
    if (c->arch == JOULE_ARCH_PHI && joule_json_bool(root, "qk_layernorm", 0)) {
        s = joule_errorf(JOULE_ERR_UNSUPPORTED, "config.json: phi qk_layernorm is not supported");
        goto done;
    }
    const char *dt = joule_json_str(root, "dtype", NULL);
    if (!dt) dt = joule_json_str(root, "torch_dtype", NULL);
    c->dtype = dtype_from_torch(dt);

    /* Sanity: sizes that are positive, consistent and small enough that no
     * size computation overflows (the largest study model has vocab 256000). */
    if ((s = check_range("vocab_size", c->vocab_size, 1, 1 << 22)) ||
        (s = check_range("hidden_size", c->hidden_size, 1, 1 << 16)) ||
        (s = check_range("num_hidden_layers", c->n_layers, 1, 1024)) ||
        (s = check_range("num_attention_heads", c->n_heads, 1, 1024)) ||
        (s = check_range("num_key_value_heads", c->n_kv_heads, 1, c->n_heads)) ||
        (s = check_range("head_dim", c->head_dim, 1, 4096)) ||
        (s = check_range("intermediate_size", c->intermediate_size, 1, 1 << 18)) ||
        (s = check_range("max_position_embeddings", c->max_positions, 1, 1 << 20)))
        goto done;
    if (c->n_heads % c->n_kv_heads) {
        s = joule_errorf(JOULE_ERR_FORMAT,
                         "config.json: %d attention heads do not split into %d key/value heads",
                         c->n_heads, c->n_kv_heads);
        goto done;
    }
    if (c->arch != JOULE_ARCH_LLAMA && c->arch != JOULE_ARCH_GEMMA &&
        c->head_dim * c->n_heads != c->hidden_size) {
        s = joule_errorf(JOULE_ERR_FORMAT,
                         "config.json: hidden size %d is not a multiple of %d heads",
                         c->hidden_size, c->n_heads);
        goto done;
    }
    if (c->rotary_dim % 2) {
        s = joule_errorf(JOULE_ERR_FORMAT, "config.json: rotary dimension %d is odd",
                         c->rotary_dim);
        goto done;
    }
    if (!(c->norm_eps >= 0.0f) || !(c->rope_theta > 0.0f) || !isfinite(c->rope_theta)) {
        s = joule_errorf(JOULE_ERR_FORMAT, "config.json: bad norm epsilon or rope theta");
        goto done;
    }
done:
    cJSON_Delete(root);
    if (s != JOULE_OK) memset(out, 0, sizeof *out);
    return s;
}
