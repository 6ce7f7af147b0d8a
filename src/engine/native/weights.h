/* The native engine's view of a model: weights bound by role, the layout
 * choices of each family, and precomputed tables (rope frequencies, ALiBi
 * slopes). Shared by every execution provider (cpu now, cuda later): a
 * provider reads this and keeps its own copies or pointers. */
#ifndef JOULE_ENGINE_NATIVE_WEIGHTS_H
#define JOULE_ENGINE_NATIVE_WEIGHTS_H

#include "joule/model.h"

/* A linear map y = x W^T (+ b) with n_in inputs and n_out outputs.
 * Stored [n_out, n_in] row-major, or [n_in, n_out] when conv1d (GPT-2). */
struct jn_mat {
    const void *data;
    enum joule_dtype dtype;
    int n_out, n_in;
    int conv1d;
};

enum jn_norm { JN_NORM_LAYER = 0, JN_NORM_RMS, JN_NORM_RMS_GEMMA /* x * (1 + w) */ };
enum jn_qkv {
    JN_QKV_SEPARATE = 0,
    JN_QKV_CONCAT /* [q | k | v] */,
    JN_QKV_PER_HEAD /* [h][q,k,v] */
};
enum jn_resid {
    JN_RESID_SEQUENTIAL = 0, /* x += attn(n1 x); x += mlp(n2 x) */
    JN_RESID_PARALLEL,       /* x += attn(n1 x) + mlp(n2 x)   (gpt_neox) */
    JN_RESID_PARALLEL_SHARED /* x += attn(n1 x) + mlp(n1 x)   (phi) */
};
enum jn_act {
    JN_ACT_GELU_TANH = 0,
    JN_ACT_GELU_ERF,
    JN_ACT_SILU,
    JN_ACT_BLOOM_GELU,
    JN_ACT_RELU,
    JN_ACT_QUICK_GELU
};

struct jn_layer {
    const float *attn_norm_w, *attn_norm_b, *mlp_norm_w, *mlp_norm_b;
    struct jn_mat qkv, q, k, v, o, up, gate, down;
    const float *qkv_b, *q_b, *k_b, *v_b, *o_b, *up_b, *gate_b, *down_b;
    float attn_scale; /* multiplies q.k */
};

struct jn_weights {
    struct joule_model_config cfg;
    enum jn_norm norm;
    enum jn_qkv qkv_layout;
    enum jn_resid resid;
    enum jn_act act;
    int gated_mlp; /* down(act(gate x) * up x) */
    int alibi;
    struct jn_mat tok_emb, pos_emb, lm_head; /* lm_head == tok_emb when tied */
    const float *emb_norm_w, *emb_norm_b, *final_norm_w, *final_norm_b, *lm_head_b;
    float emb_scale; /* 0 = none (Gemma: sqrt(hidden) rounded to the model dtype) */
    struct jn_layer *layers;
    float *inv_freq;     /* [rotary_dim / 2] */
    float *alibi_slopes; /* [n_heads] */
    void **owned;        /* float copies of the small vectors (norms, biases), quantized matrices */
    int n_owned;
};

/* Bind the weights of a loaded model. `m` must outlive `w`. */
enum joule_status jn_weights_init(struct jn_weights *w, const struct joule_model *m);
void jn_weights_free(struct jn_weights *w);

/* Whether a layer matrix is still in GPT-2's Conv1D layout [n_in, n_out]. */
int jn_weights_has_conv1d(const struct jn_weights *w);

/* Store the Conv1D matrices (GPT-2's [n_in, n_out]) as [n_out, n_in] in the same
 * dtype, in memory owned by `w`, so that each output is a dot product over one
 * contiguous row as in every other family (the CPU provider requires it: split over
 * output rows, each thread streams whole rows). The checkpoint's pages are handed back
 * to the kernel. No-op when there are none. */
enum joule_status jn_weights_transpose_conv1d(struct jn_weights *w);

/* Quantize every matrix of the layers and the output head to q8_0 (blocks of
 * 32 along each row of n_in inputs, f16 scale = max|w| / 127; Conv1D matrices are
 * transposed first), in memory owned by `w`.
 * The token embedding stays as stored for the lookups. */
enum joule_status jn_weights_quantize_q8(struct jn_weights *w);

/* Copy the layer matrices and the output head (as stored) into one
 * anonymous buffer backed by transparent huge pages: fewer TLB misses when
 * streaming them each token. Owned by `w`. */
enum joule_status jn_weights_copy_hugepages(struct jn_weights *w);

/* ALiBi slopes as transformers' build_alibi_tensor computes them (float32). */
void jn_alibi_slopes(int n_heads, float *out);

#endif
