/* joule — model loading: Hugging Face snapshot directories (config.json +
 * safetensors, single or sharded) into a format-neutral tensor table.
 *
 * Tensors are memory-mapped; F32 data is used in place.  A model handle owns
 * its mappings; tensor pointers stay valid until joule_model_free(). */
#ifndef JOULE_MODEL_H
#define JOULE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "joule/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum joule_arch {
    JOULE_ARCH_GPT2 = 0,    /* GPT2LMHeadModel (codeparrot-small) */
    JOULE_ARCH_GPT_BIGCODE, /* GPTBigCodeForCausalLM (tiny_starcoder_py, starcoderbase-1b) */
    JOULE_ARCH_GPT_NEOX,    /* GPTNeoXForCausalLM (pythia, stablecode) */
    JOULE_ARCH_BLOOM,       /* BloomForCausalLM (bloomz) */
    JOULE_ARCH_LLAMA,       /* LlamaForCausalLM (TinyLlama) */
    JOULE_ARCH_GEMMA,       /* GemmaForCausalLM (codegemma) */
    JOULE_ARCH_PHI,         /* PhiForCausalLM (phi-2) */
    JOULE_ARCH_COUNT
};

enum joule_dtype {
    JOULE_DTYPE_F32 = 0,
    JOULE_DTYPE_F16,
    JOULE_DTYPE_BF16,
    JOULE_DTYPE_Q8_0, /* blocks of 32 int8 with one f16 scale (llama.cpp's q8_0 layout) */
    JOULE_DTYPE_I32,
    JOULE_DTYPE_I64,
    JOULE_DTYPE_COUNT
};

/* "gpt2", "gpt_bigcode", ... (the Hugging Face model_type); NULL if out of range. */
const char *joule_arch_name(enum joule_arch a);
/* "f32", "f16", "bf16", "q8_0", ... */
const char *joule_dtype_name(enum joule_dtype t);

/* Everything the engines need from config.json, normalized across the
 * transformers 4.x and 5 styles and across families. */
struct joule_model_config {
    enum joule_arch arch;
    char model_type[32];
    int vocab_size;
    int hidden_size;
    int n_layers;
    int n_heads;
    int n_kv_heads; /* == n_heads for MHA, 1 for MQA, in between for GQA */
    int head_dim;   /* Gemma: independent of hidden_size / n_heads */
    int intermediate_size;
    int max_positions; /* context length */
    float norm_eps;
    float rope_theta;
    int rotary_dim; /* rotated dims per head (partial rotary); 0 when no rope */
    int tie_word_embeddings;
    int bos_token_id;    /* -1 when absent */
    int eos_token_id;    /* -1 when absent */
    char activation[32]; /* "gelu_new", "gelu", "gelu_pytorch_tanh", "silu", ... */
    /* family flags */
    int parallel_residual;               /* gpt_neox (use_parallel_residual), phi */
    int scale_attn_by_inverse_layer_idx; /* gpt2 / codeparrot-small */
    int reorder_and_upcast_attn;         /* gpt2: numerics only */
    int multi_query;                     /* gpt_bigcode */
    int scale_attn_weights;              /* gpt2 / gpt_bigcode: scores / sqrt(head_dim) */
    int attention_bias;                  /* q/k/v/o projections carry biases */
    int mlp_bias;                        /* MLP projections carry biases */
    int residual_post_layernorm;         /* bloom apply_residual_connection_post_layernorm */
    enum joule_dtype dtype; /* storage dtype of the weights (config's, then the checkpoint's) */
};

struct joule_tensor {
    const char *name;
    enum joule_dtype dtype;
    int n_dims;
    int64_t shape[4]; /* row-major, as stored (safetensors order) */
    const void *data; /* memory-mapped (or owned by the model after conversion) */
    size_t nbytes;
};

struct joule_model; /* opaque */

struct joule_model_params {
    int verify_shapes; /* check every expected tensor's shape against the config (default 1) */
    enum joule_dtype
        convert_to; /* JOULE_DTYPE_COUNT = keep as stored (default); else convert at load */
};
struct joule_model_params joule_model_default_params(void);

/* Load a Hugging Face snapshot directory. On success *out is owned by the
 * caller (joule_model_free). On failure *out is NULL and joule_last_error()
 * says what is wrong (unknown architecture, missing or mis-shaped tensor,
 * truncated or corrupt file, header over the size limit, ...). */
enum joule_status joule_model_load(const char *dir, const struct joule_model_params *params,
                                   struct joule_model **out);
void joule_model_free(struct joule_model *m);

const struct joule_model_config *joule_model_get_config(const struct joule_model *m);
const char *joule_model_dir(const struct joule_model *m);
/* A short name for the model (the directory's base name). Owned by the model. */
const char *joule_model_name(const struct joule_model *m);
/* Lookup by Hugging Face tensor name; NULL if absent. Owned by the model. */
const struct joule_tensor *joule_model_tensor(const struct joule_model *m, const char *name);
size_t joule_model_n_tensors(const struct joule_model *m);
const struct joule_tensor *joule_model_tensor_at(const struct joule_model *m, size_t i);
/* Path of tokenizer.json beside the weights, or NULL if there is none. Owned by the model. */
const char *joule_model_tokenizer_path(const struct joule_model *m);

/* Parse config.json text only (used by the loader, converters and synth). */
enum joule_status joule_model_parse_config(const char *json_text, size_t len,
                                           struct joule_model_config *out);

#ifdef __cplusplus
}
#endif
#endif
