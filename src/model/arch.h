/* The tensors each architecture needs, by role (internal to model and engines).
 * One table says which Hugging Face tensor plays which part and with which
 * shape; the loader validates against it and the engines bind by role. */
#ifndef JOULE_MODEL_ARCH_H
#define JOULE_MODEL_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "joule/model.h"

enum joule_role {
    /* model-level */
    JOULE_ROLE_TOK_EMB = 0,
    JOULE_ROLE_POS_EMB,
    JOULE_ROLE_EMB_NORM_W,
    JOULE_ROLE_EMB_NORM_B,
    JOULE_ROLE_FINAL_NORM_W,
    JOULE_ROLE_FINAL_NORM_B,
    JOULE_ROLE_LM_HEAD_W,
    JOULE_ROLE_LM_HEAD_B,
    /* per layer */
    JOULE_ROLE_ATTN_NORM_W,
    JOULE_ROLE_ATTN_NORM_B,
    JOULE_ROLE_MLP_NORM_W,
    JOULE_ROLE_MLP_NORM_B,
    JOULE_ROLE_QKV_W,
    JOULE_ROLE_QKV_B,
    JOULE_ROLE_Q_W,
    JOULE_ROLE_Q_B,
    JOULE_ROLE_K_W,
    JOULE_ROLE_K_B,
    JOULE_ROLE_V_W,
    JOULE_ROLE_V_B,
    JOULE_ROLE_O_W,
    JOULE_ROLE_O_B,
    JOULE_ROLE_UP_W,
    JOULE_ROLE_UP_B,
    JOULE_ROLE_GATE_W,
    JOULE_ROLE_GATE_B,
    JOULE_ROLE_DOWN_W,
    JOULE_ROLE_DOWN_B,
    JOULE_ROLE_COUNT
};
#define JOULE_ROLE_FIRST_LAYER JOULE_ROLE_ATTN_NORM_W

struct joule_tensor_spec {
    char name[128];
    enum joule_role role;
    int layer; /* -1 for model-level roles */
    int n_dims;
    int64_t shape[2]; /* as stored */
};

/* The prefix of the base model's tensors ("transformer.", "model.", "gpt_neox."):
 * checkpoints saved from the base model class lack it, and the loader accepts both. */
const char *joule_arch_prefix(enum joule_arch a);

/* Whether the arch stores its linear weights as [in, out] (GPT-2's Conv1D). */
int joule_arch_conv1d(enum joule_arch a);

/* Fill `out` (capacity `cap`) with the expected tensors of a model with config
 * `c`; returns how many there are (may exceed cap: call again with more). */
size_t joule_arch_specs(const struct joule_model_config *c, struct joule_tensor_spec *out,
                        size_t cap);

/* The tensor bound to (role, layer) after loading; NULL when the role is
 * absent (e.g. a bias the config does not have; LM_HEAD_W when tied). */
const struct joule_tensor *joule_model_role(const struct joule_model *m, enum joule_role role,
                                            int layer);

#endif
