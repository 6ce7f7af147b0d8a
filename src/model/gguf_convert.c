/* Hugging Face snapshot -> GGUF v3 for llama.cpp (see include/joule/gguf.h).
 *
 * Facts (key names, tensor names, the layouts llama.cpp's graphs expect) follow
 * llama.cpp's own converter (convert_hf_to_gguf.py / the conversion package, gguf-py);
 * the code is joule's. Transforms per family:
 *   gpt2       Conv1D weights [in, out] are transposed to nn.Linear's [out, in]
 *   gptneox,   fused QKV rows regrouped from per-head (q_h, k_h, v_h) to (all q,
 *   bloom      all k, all v)
 *   llama      q/k rows permuted from rotate-half to llama.cpp's interleaved rope
 *   gemma      RMSNorm weights w -> 1 + w (llama.cpp multiplies by the weight)
 * Tensors stream row by row from the memory-mapped safetensors to the file, so
 * no tensor is ever held whole in memory. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "joule/gguf.h"
#include "model/dtype.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/log.h"

struct joule_gguf_convert_params joule_gguf_convert_default_params(void)
{
    struct joule_gguf_convert_params p = {JOULE_DTYPE_F32, 1, 0};
    return p;
}

/* ------------------------------------------------------------------------- */
/* Reading: the snapshot is loaded (and validated) by joule_model_load.      */
/* ------------------------------------------------------------------------- */

typedef struct joule_tensor src_tensor;

static float src_at(const src_tensor *t, size_t i)
{
    return joule_elem_f32(t->data, t->dtype, i);
}

/* ------------------------------------------------------------------------- */
/* The plan: output tensors, each a row mapping over one source tensor.      */
/* ------------------------------------------------------------------------- */

enum xform {
    X_COPY,      /* row r = source row r */
    X_TRANSPOSE, /* Conv1D: row r = source column r */
    X_QKV,       /* fused per-head qkv -> q | k | v */
    X_PERMUTE,   /* llama q/k: rotate-half -> interleaved */
};

struct out_tensor {
    char name[96];
    const src_tensor *src;
    enum xform x;
    int heads;     /* X_QKV, X_PERMUTE */
    int add_one;   /* gemma norms */
    int n_dims;    /* 1 or 2 */
    uint64_t ne0;  /* row length */
    uint64_t rows; /* number of rows (1 for 1-D) */
    uint32_t type; /* ggml type */
    uint64_t offset, nbytes;
};

struct plan {
    struct out_tensor *t;
    size_t n, cap;
};

struct arch_info {
    const char *hf;   /* model_type */
    const char *gguf; /* llama.cpp architecture */
};

static const struct arch_info archs[] = {
    {"gpt2", "gpt2"},   {"gpt_bigcode", "starcoder"}, {"gpt_neox", "gptneox"}, {"bloom", "bloom"},
    {"llama", "llama"}, {"gemma", "gemma"},           {"phi", "phi2"},
};

static enum joule_status plan_add(struct plan *p, const struct joule_model *m, const char *src,
                                  const char *dst, enum xform x, int heads, int optional)
{
    const src_tensor *t = joule_model_tensor(m, src);
    if (!t) {
        if (optional) return JOULE_OK;
        return joule_errorf(JOULE_ERR_NOT_FOUND, "convert: tensor %s missing", src);
    }
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 256;
        struct out_tensor *nt = realloc(p->t, nc * sizeof *nt);
        if (!nt) return joule_errorf(JOULE_ERR_NOMEM, "convert");
        p->t = nt;
        p->cap = nc;
    }
    struct out_tensor *o = &p->t[p->n++];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", dst);
    o->src = t;
    o->x = x;
    o->heads = heads;
    o->n_dims = t->n_dims;
    if (t->n_dims < 1 || t->n_dims > 2 ||
        (t->dtype != JOULE_DTYPE_F32 && t->dtype != JOULE_DTYPE_F16 &&
         t->dtype != JOULE_DTYPE_BF16))
        return joule_errorf(JOULE_ERR_UNSUPPORTED, "convert: %s: %d-D %s tensor", src, t->n_dims,
                            joule_dtype_name(t->dtype));
    if (t->n_dims == 1) {
        o->ne0 = (uint64_t)t->shape[0];
        o->rows = 1;
    } else if (x == X_TRANSPOSE) {
        o->ne0 = (uint64_t)t->shape[0];
        o->rows = (uint64_t)t->shape[1];
    } else {
        o->ne0 = (uint64_t)t->shape[1];
        o->rows = (uint64_t)t->shape[0];
    }
    if ((x == X_QKV || x == X_PERMUTE) &&
        (heads <= 0 || (uint64_t)t->shape[0] % (uint64_t)(x == X_QKV ? 3 * heads : 2 * heads)))
        return joule_errorf(JOULE_ERR_FORMAT, "convert: %s: rows do not split into %d heads", src,
                            heads);
    return JOULE_OK;
}

/* Fill `row` (ne0 floats) with output row r of o. For 1-D tensors the QKV
 * mapping applies to elements. */
static void get_row(const struct out_tensor *o, uint64_t r, float *row)
{
    const src_tensor *t = o->src;
    if (o->n_dims == 1) {
        uint64_t n = o->ne0;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t j = i;
            if (o->x == X_QKV) {
                uint64_t hd = n / 3 / (uint64_t)o->heads, part = i / (n / 3), rem = i % (n / 3);
                j = rem / hd * 3 * hd + part * hd + rem % hd;
            }
            row[i] = src_at(t, (size_t)j);
        }
    } else if (o->x == X_TRANSPOSE) {
        uint64_t cols = (uint64_t)t->shape[1];
        for (uint64_t k = 0; k < o->ne0; k++)
            row[k] = src_at(t, (size_t)(k * cols + r));
    } else {
        uint64_t sr = r;
        if (o->x == X_QKV) {
            uint64_t third = o->rows / 3, hd = third / (uint64_t)o->heads;
            uint64_t part = r / third, rem = r % third;
            sr = rem / hd * 3 * hd + part * hd + rem % hd;
        } else if (o->x == X_PERMUTE) {
            uint64_t hd = o->rows / (uint64_t)o->heads, h = r / hd, rem = r % hd;
            sr = h * hd + (rem % 2) * (hd / 2) + rem / 2;
        }
        for (uint64_t k = 0; k < o->ne0; k++)
            row[k] = src_at(t, (size_t)(sr * o->ne0 + k));
    }
    if (o->add_one)
        for (uint64_t k = 0; k < o->ne0; k++)
            row[k] += 1.0f;
}

static enum joule_status build_plan(const char *mt, const struct joule_model *s, int n_layer,
                                    int n_head, int n_kv, int tie, struct plan *p)
{
    enum joule_status st = JOULE_OK;
    char a[160], b[96];
#define ADD(src, dst, x, h, opt)                                                                   \
    do {                                                                                           \
        if ((st = plan_add(p, s, src, dst, x, h, opt)) != JOULE_OK) return st;                     \
    } while (0)
#define ADD_WB(srcfmt, dstfmt, x, h)                                                               \
    do {                                                                                           \
        snprintf(a, sizeof a, srcfmt ".weight", i);                                                \
        snprintf(b, sizeof b, dstfmt ".weight", i);                                                \
        ADD(a, b, x, h, 0);                                                                        \
        snprintf(a, sizeof a, srcfmt ".bias", i);                                                  \
        snprintf(b, sizeof b, dstfmt ".bias", i);                                                  \
        ADD(a, b, x, h, 0);                                                                        \
    } while (0)
#define ADD_W(srcfmt, dstfmt, x, h)                                                                \
    do {                                                                                           \
        snprintf(a, sizeof a, srcfmt ".weight", i);                                                \
        snprintf(b, sizeof b, dstfmt ".weight", i);                                                \
        ADD(a, b, x, h, 0);                                                                        \
    } while (0)
    if (!strcmp(mt, "gpt2") || !strcmp(mt, "gpt_bigcode")) {
        enum xform x = !strcmp(mt, "gpt2") ? X_TRANSPOSE : X_COPY;
        ADD("transformer.wte.weight", "token_embd.weight", X_COPY, 0, 0);
        ADD("transformer.wpe.weight", "position_embd.weight", X_COPY, 0, 0);
        for (int i = 0; i < n_layer; i++) {
            ADD_WB("transformer.h.%d.ln_1", "blk.%d.attn_norm", X_COPY, 0);
            ADD_W("transformer.h.%d.attn.c_attn", "blk.%d.attn_qkv", x, 0);
            snprintf(a, sizeof a, "transformer.h.%d.attn.c_attn.bias", i);
            snprintf(b, sizeof b, "blk.%d.attn_qkv.bias", i);
            ADD(a, b, X_COPY, 0, 0);
            ADD_W("transformer.h.%d.attn.c_proj", "blk.%d.attn_output", x, 0);
            snprintf(a, sizeof a, "transformer.h.%d.attn.c_proj.bias", i);
            snprintf(b, sizeof b, "blk.%d.attn_output.bias", i);
            ADD(a, b, X_COPY, 0, 0);
            ADD_WB("transformer.h.%d.ln_2", "blk.%d.ffn_norm", X_COPY, 0);
            ADD_W("transformer.h.%d.mlp.c_fc", "blk.%d.ffn_up", x, 0);
            snprintf(a, sizeof a, "transformer.h.%d.mlp.c_fc.bias", i);
            snprintf(b, sizeof b, "blk.%d.ffn_up.bias", i);
            ADD(a, b, X_COPY, 0, 0);
            ADD_W("transformer.h.%d.mlp.c_proj", "blk.%d.ffn_down", x, 0);
            snprintf(a, sizeof a, "transformer.h.%d.mlp.c_proj.bias", i);
            snprintf(b, sizeof b, "blk.%d.ffn_down.bias", i);
            ADD(a, b, X_COPY, 0, 0);
        }
        ADD("transformer.ln_f.weight", "output_norm.weight", X_COPY, 0, 0);
        ADD("transformer.ln_f.bias", "output_norm.bias", X_COPY, 0, 0);
        if (!tie) ADD("lm_head.weight", "output.weight", X_COPY, 0, 1);
    } else if (!strcmp(mt, "gpt_neox")) {
        ADD("gpt_neox.embed_in.weight", "token_embd.weight", X_COPY, 0, 0);
        for (int i = 0; i < n_layer; i++) {
            ADD_WB("gpt_neox.layers.%d.input_layernorm", "blk.%d.attn_norm", X_COPY, 0);
            ADD_WB("gpt_neox.layers.%d.attention.query_key_value", "blk.%d.attn_qkv", X_QKV,
                   n_head);
            ADD_WB("gpt_neox.layers.%d.attention.dense", "blk.%d.attn_output", X_COPY, 0);
            ADD_WB("gpt_neox.layers.%d.post_attention_layernorm", "blk.%d.ffn_norm", X_COPY, 0);
            ADD_WB("gpt_neox.layers.%d.mlp.dense_h_to_4h", "blk.%d.ffn_up", X_COPY, 0);
            ADD_WB("gpt_neox.layers.%d.mlp.dense_4h_to_h", "blk.%d.ffn_down", X_COPY, 0);
        }
        ADD("gpt_neox.final_layer_norm.weight", "output_norm.weight", X_COPY, 0, 0);
        ADD("gpt_neox.final_layer_norm.bias", "output_norm.bias", X_COPY, 0, 0);
        ADD(tie ? "gpt_neox.embed_in.weight" : "embed_out.weight", "output.weight", X_COPY, 0, 0);
    } else if (!strcmp(mt, "bloom")) {
        ADD("transformer.word_embeddings.weight", "token_embd.weight", X_COPY, 0, 0);
        ADD("transformer.word_embeddings_layernorm.weight", "token_embd_norm.weight", X_COPY, 0, 0);
        ADD("transformer.word_embeddings_layernorm.bias", "token_embd_norm.bias", X_COPY, 0, 0);
        for (int i = 0; i < n_layer; i++) {
            ADD_WB("transformer.h.%d.input_layernorm", "blk.%d.attn_norm", X_COPY, 0);
            ADD_WB("transformer.h.%d.self_attention.query_key_value", "blk.%d.attn_qkv", X_QKV,
                   n_head);
            ADD_WB("transformer.h.%d.self_attention.dense", "blk.%d.attn_output", X_COPY, 0);
            ADD_WB("transformer.h.%d.post_attention_layernorm", "blk.%d.ffn_norm", X_COPY, 0);
            ADD_WB("transformer.h.%d.mlp.dense_h_to_4h", "blk.%d.ffn_up", X_COPY, 0);
            ADD_WB("transformer.h.%d.mlp.dense_4h_to_h", "blk.%d.ffn_down", X_COPY, 0);
        }
        ADD("transformer.ln_f.weight", "output_norm.weight", X_COPY, 0, 0);
        ADD("transformer.ln_f.bias", "output_norm.bias", X_COPY, 0, 0);
        if (!tie) ADD("lm_head.weight", "output.weight", X_COPY, 0, 1);
    } else if (!strcmp(mt, "llama") || !strcmp(mt, "gemma")) {
        int gemma = !strcmp(mt, "gemma");
        enum xform qk = gemma ? X_COPY : X_PERMUTE;
        ADD("model.embed_tokens.weight", "token_embd.weight", X_COPY, 0, 0);
        for (int i = 0; i < n_layer; i++) {
            size_t first = p->n;
            ADD_W("model.layers.%d.input_layernorm", "blk.%d.attn_norm", X_COPY, 0);
            if (gemma) p->t[first].add_one = 1;
            ADD_W("model.layers.%d.self_attn.q_proj", "blk.%d.attn_q", qk, n_head);
            ADD_W("model.layers.%d.self_attn.k_proj", "blk.%d.attn_k", qk, n_kv);
            ADD_W("model.layers.%d.self_attn.v_proj", "blk.%d.attn_v", X_COPY, 0);
            ADD_W("model.layers.%d.self_attn.o_proj", "blk.%d.attn_output", X_COPY, 0);
            size_t ffn_norm = p->n;
            ADD_W("model.layers.%d.post_attention_layernorm", "blk.%d.ffn_norm", X_COPY, 0);
            if (gemma) p->t[ffn_norm].add_one = 1;
            ADD_W("model.layers.%d.mlp.gate_proj", "blk.%d.ffn_gate", X_COPY, 0);
            ADD_W("model.layers.%d.mlp.up_proj", "blk.%d.ffn_up", X_COPY, 0);
            ADD_W("model.layers.%d.mlp.down_proj", "blk.%d.ffn_down", X_COPY, 0);
        }
        ADD("model.norm.weight", "output_norm.weight", X_COPY, 0, 0);
        if (gemma) p->t[p->n - 1].add_one = 1;
        if (!tie && !gemma) ADD("lm_head.weight", "output.weight", X_COPY, 0, 1);
    } else if (!strcmp(mt, "phi")) {
        ADD("model.embed_tokens.weight", "token_embd.weight", X_COPY, 0, 0);
        for (int i = 0; i < n_layer; i++) {
            ADD_WB("model.layers.%d.input_layernorm", "blk.%d.attn_norm", X_COPY, 0);
            ADD_WB("model.layers.%d.self_attn.q_proj", "blk.%d.attn_q", X_COPY, 0);
            ADD_WB("model.layers.%d.self_attn.k_proj", "blk.%d.attn_k", X_COPY, 0);
            ADD_WB("model.layers.%d.self_attn.v_proj", "blk.%d.attn_v", X_COPY, 0);
            ADD_WB("model.layers.%d.self_attn.dense", "blk.%d.attn_output", X_COPY, 0);
            ADD_WB("model.layers.%d.mlp.fc1", "blk.%d.ffn_up", X_COPY, 0);
            ADD_WB("model.layers.%d.mlp.fc2", "blk.%d.ffn_down", X_COPY, 0);
        }
        ADD("model.final_layernorm.weight", "output_norm.weight", X_COPY, 0, 0);
        ADD("model.final_layernorm.bias", "output_norm.bias", X_COPY, 0, 0);
        ADD(tie ? "model.embed_tokens.weight" : "lm_head.weight", "output.weight", X_COPY, 0, 0);
        ADD("lm_head.bias", "output.bias", X_COPY, 0, tie);
    }
#undef ADD
#undef ADD_W
#undef ADD_WB
    return st;
}

/* ------------------------------------------------------------------------- */
/* Binary metadata.                                                          */
/* ------------------------------------------------------------------------- */

struct buf {
    unsigned char *p;
    size_t n, cap;
    int failed;
    uint64_t n_kv;
};

static void put(struct buf *b, const void *d, size_t k)
{
    if (b->failed) return;
    if (b->n + k > b->cap) {
        size_t nc = b->cap ? b->cap : 1 << 16;
        while (nc < b->n + k)
            nc *= 2;
        unsigned char *np = realloc(b->p, nc);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, d, k);
    b->n += k;
}

static void put_u32(struct buf *b, uint32_t v)
{
    put(b, &v, 4);
}

static void put_u64(struct buf *b, uint64_t v)
{
    put(b, &v, 8);
}

static void put_str(struct buf *b, const char *s, size_t n)
{
    put_u64(b, n);
    put(b, s, n);
}

static void kv_head(struct buf *b, const char *key, uint32_t type)
{
    put_str(b, key, strlen(key));
    put_u32(b, type);
    b->n_kv++;
}

static void kv_u32(struct buf *b, const char *key, uint32_t v)
{
    kv_head(b, key, JOULE_GGUF_UINT32);
    put_u32(b, v);
}

static void kv_f32(struct buf *b, const char *key, float v)
{
    kv_head(b, key, JOULE_GGUF_FLOAT32);
    put(b, &v, 4);
}

static void kv_bool(struct buf *b, const char *key, int v)
{
    kv_head(b, key, JOULE_GGUF_BOOL);
    unsigned char c = v ? 1 : 0;
    put(b, &c, 1);
}

static void kv_str(struct buf *b, const char *key, const char *v)
{
    kv_head(b, key, JOULE_GGUF_STRING);
    put_str(b, v, strlen(v));
}

static void kv_arr_head(struct buf *b, const char *key, uint32_t et, uint64_t n)
{
    kv_head(b, key, JOULE_GGUF_ARRAY);
    put_u32(b, et);
    put_u64(b, n);
}

static void kv_archf(struct buf *b, const char *arch, const char *suffix, uint32_t v)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    kv_u32(b, key, v);
}

static void kv_archf32(struct buf *b, const char *arch, const char *suffix, float v)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    kv_f32(b, key, v);
}

/* ------------------------------------------------------------------------- */
/* Tokenizer: byte-level BPE tokenizer.json -> tokenizer.ggml.* ("gpt2").    */
/* ------------------------------------------------------------------------- */

enum { TT_NORMAL = 1, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5 };

static int is_byte_level(const cJSON *pre)
{
    if (!pre) return 0;
    if (!strcmp(joule_json_str(pre, "type", ""), "ByteLevel")) return 1;
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers"), *e;
    cJSON_ArrayForEach(e, seq) if (is_byte_level(e)) return 1;
    return 0;
}

/* Writes the tokenizer keys, or "none" + vocab_size when there is no usable
 * tokenizer.json. */
static enum joule_status write_tokenizer(struct buf *b, const char *dir, const char *arch,
                                         int vocab, int bos, int eos, int with_tokenizer)
{
    char p[4096];
    cJSON *tok = NULL;
    if (with_tokenizer && joule_path_join(p, sizeof p, dir, "tokenizer.json") == JOULE_OK &&
        joule_is_file(p)) {
        enum joule_status st = joule_json_load_file(p, 256 << 20, &tok);
        if (st != JOULE_OK) return st;
    }
    cJSON *model = tok ? cJSON_GetObjectItemCaseSensitive(tok, "model") : NULL;
    if (tok && (strcmp(joule_json_str(model, "type", ""), "BPE") ||
                !is_byte_level(cJSON_GetObjectItemCaseSensitive(tok, "pre_tokenizer")))) {
        JOULE_WARN("convert: %s is not a byte-level BPE tokenizer; writing no vocabulary", p);
        cJSON_Delete(tok);
        tok = NULL;
    }
    if (!tok) {
        kv_str(b, "tokenizer.ggml.model", "none");
        kv_archf(b, arch, "vocab_size", (uint32_t)vocab);
        /* llama.cpp ignores the ids of a "none" vocabulary; joule's ggml engine reads them
         * to stop at EOS as the native engine does */
        if (bos >= 0 && bos < vocab) kv_u32(b, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
        if (eos >= 0 && eos < vocab) kv_u32(b, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
        return JOULE_OK;
    }
    /* id -> (string, type); padded to the model's vocab_size with unused [PAD<i>] */
    int n = vocab;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(model, "vocab"), *e;
    cJSON *added = cJSON_GetObjectItemCaseSensitive(tok, "added_tokens");
    cJSON_ArrayForEach(e, v) if ((int)e->valuedouble + 1 > n) n = (int)e->valuedouble + 1;
    cJSON_ArrayForEach(e, added) if ((int)joule_json_int(e, "id", 0) + 1 > n) n =
        (int)joule_json_int(e, "id", 0) + 1;
    const char **str = calloc((size_t)n, sizeof *str);
    int32_t *type = calloc((size_t)n, sizeof *type);
    if (!str || !type) {
        free(str);
        free(type);
        cJSON_Delete(tok);
        return joule_errorf(JOULE_ERR_NOMEM, "convert: tokenizer");
    }
    cJSON_ArrayForEach(e, v)
    {
        int id = (int)e->valuedouble;
        if (id >= 0 && id < n) str[id] = e->string, type[id] = TT_NORMAL;
    }
    cJSON_ArrayForEach(e, added)
    {
        int id = (int)joule_json_int(e, "id", -1);
        if (id < 0 || id >= n) continue;
        str[id] = joule_json_str(e, "content", "");
        type[id] = joule_json_bool(e, "special", 0) ? TT_CONTROL : TT_USER_DEFINED;
    }
    kv_str(b, "tokenizer.ggml.model", "gpt2");
    kv_str(b, "tokenizer.ggml.pre", "gpt-2");
    kv_arr_head(b, "tokenizer.ggml.tokens", JOULE_GGUF_STRING, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        char pad[32];
        if (!str[i]) {
            snprintf(pad, sizeof pad, "[PAD%d]", i);
            put_str(b, pad, strlen(pad));
            type[i] = TT_UNUSED;
        } else {
            put_str(b, str[i], strlen(str[i]));
        }
    }
    kv_arr_head(b, "tokenizer.ggml.token_type", JOULE_GGUF_INT32, (uint64_t)n);
    put(b, type, 4 * (size_t)n);
    cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    kv_arr_head(b, "tokenizer.ggml.merges", JOULE_GGUF_STRING,
                (uint64_t)cJSON_GetArraySize(merges));
    cJSON_ArrayForEach(e, merges)
    {
        if (cJSON_IsString(e)) {
            put_str(b, e->valuestring, strlen(e->valuestring));
        } else {
            const char *l = cJSON_GetStringValue(cJSON_GetArrayItem(e, 0));
            const char *r = cJSON_GetStringValue(cJSON_GetArrayItem(e, 1));
            char m[1024];
            int k = snprintf(m, sizeof m, "%s %s", l ? l : "", r ? r : "");
            put_str(b, m, k < (int)sizeof m ? (size_t)k : sizeof m - 1);
        }
    }
    if (bos >= 0 && bos < n) kv_u32(b, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0 && eos < n) kv_u32(b, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    kv_bool(b, "tokenizer.ggml.add_bos_token", 0);
    free(str);
    free(type);
    cJSON_Delete(tok);
    if (n != vocab)
        return joule_errorf(JOULE_ERR_FORMAT, "convert: tokenizer has %d ids, the model %d", n,
                            vocab);
    return JOULE_OK;
}

/* ------------------------------------------------------------------------- */
/* Tensor data.                                                              */
/* ------------------------------------------------------------------------- */

static uint64_t out_bytes(uint32_t type, uint64_t ne0, uint64_t rows)
{
    switch (type) {
    case JOULE_GGML_F32:
        return 4 * ne0 * rows;
    case JOULE_GGML_Q8_0:
        return ne0 / 32 * 34 * rows;
    default:
        return 2 * ne0 * rows;
    }
}

static int write_row(FILE *f, uint32_t type, const float *row, uint64_t n, unsigned char *tmp)
{
    size_t k = 0;
    if (type == JOULE_GGML_F32) return fwrite(row, 4, (size_t)n, f) == n ? 0 : -1;
    if (type == JOULE_GGML_F16 || type == JOULE_GGML_BF16) {
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h =
                type == JOULE_GGML_F16 ? joule_f32_to_f16(row[i]) : joule_f32_to_bf16(row[i]);
            memcpy(tmp + 2 * i, &h, 2);
        }
        k = 2 * (size_t)n;
    } else { /* q8_0: per 32 values, d = max|x| / 127 (f16) and round(x / d) */
        for (uint64_t blk = 0; blk < n / 32; blk++) {
            const float *x = row + 32 * blk;
            float amax = 0;
            for (int i = 0; i < 32; i++)
                amax = fmaxf(amax, fabsf(x[i]));
            float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            uint16_t dh = joule_f32_to_f16(d);
            unsigned char *o = tmp + 34 * blk;
            memcpy(o, &dh, 2);
            for (int i = 0; i < 32; i++)
                o[2 + i] = (unsigned char)(int8_t)roundf(x[i] * id);
        }
        k = (size_t)(n / 32 * 34);
    }
    return fwrite(tmp, 1, k, f) == k ? 0 : -1;
}

/* ------------------------------------------------------------------------- */

enum joule_status joule_gguf_convert(const char *model_dir, const char *out_path,
                                     const struct joule_gguf_convert_params *params)
{
    struct joule_gguf_convert_params prm = params ? *params : joule_gguf_convert_default_params();
    uint32_t wtype;
    uint32_t ftype;
    switch (prm.type) {
    case JOULE_DTYPE_F32:
        wtype = JOULE_GGML_F32, ftype = 0;
        break;
    case JOULE_DTYPE_F16:
        wtype = JOULE_GGML_F16, ftype = 1;
        break;
    case JOULE_DTYPE_BF16:
        wtype = JOULE_GGML_BF16, ftype = 32;
        break;
    case JOULE_DTYPE_Q8_0:
        wtype = JOULE_GGML_Q8_0, ftype = 7;
        break;
    case JOULE_DTYPE_COUNT: /* as stored, tensor by tensor */
        wtype = UINT32_MAX, ftype = 0;
        break;
    default:
        return joule_errorf(JOULE_ERR_INVALID_ARG, "convert: type must be f32, f16, bf16 or q8_0");
    }
    struct joule_model *m = NULL;
    struct plan plan = {0};
    struct buf b = {0};
    FILE *f = NULL;
    char tmp[4200];
    tmp[0] = '\0';
    float *row = NULL;
    unsigned char *rowbuf = NULL;
    struct joule_model_params mp = joule_model_default_params();
    enum joule_status st = joule_model_load(model_dir, &mp, &m);
    if (st != JOULE_OK) goto done;
    const struct joule_model_config *c = joule_model_get_config(m);
    const char *mt = joule_arch_name(c->arch);
    const char *arch = NULL;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(archs[i].hf, mt)) arch = archs[i].gguf;
    if (!arch) {
        st = joule_errorf(JOULE_ERR_UNSUPPORTED, "convert: model_type '%s'", mt);
        goto done;
    }
    if (c->scale_attn_by_inverse_layer_idx && !prm.allow_inexact) {
        st = joule_errorf(JOULE_ERR_UNSUPPORTED,
                          "convert: %s: scale_attn_by_inverse_layer_idx (codeparrot-small) is not "
                          "implemented by llama.cpp's gpt2 graph; its output would differ "
                          "(allow_inexact / --allow-inexact converts it anyway: same cost, other "
                          "values)",
                          model_dir);
        goto done;
    }
    const int n_embd = c->hidden_size, n_layer = c->n_layers, n_head = c->n_heads;
    const int n_kv = c->n_kv_heads, head_dim = c->head_dim, n_ff = c->intermediate_size;
    const int vocab = c->vocab_size, tie = c->tie_word_embeddings;
    int n_ctx = c->max_positions;
    if ((st = build_plan(mt, m, n_layer, n_head, n_kv, tie, &plan)) != JOULE_OK) goto done;
    /* learned positions: the context is what the table holds */
    const src_tensor *wpe = joule_model_tensor(m, "transformer.wpe.weight");
    if (wpe) n_ctx = (int)wpe->shape[0];

    if (wtype == UINT32_MAX) /* as stored: the file type of the first matrix */
        for (size_t i = 0; i < plan.n; i++)
            if (plan.t[i].n_dims == 2) {
                enum joule_dtype d = plan.t[i].src->dtype;
                ftype = d == JOULE_DTYPE_F16 ? 1 : d == JOULE_DTYPE_BF16 ? 32 : 0;
                break;
            }
    /* metadata */
    const char *base = strrchr(model_dir, '/');
    base = base && base[1] ? base + 1 : model_dir;
    kv_str(&b, "general.architecture", arch);
    kv_str(&b, "general.name", base);
    kv_u32(&b, "general.file_type", ftype);
    kv_u32(&b, "general.alignment", 32);
    kv_archf(&b, arch, "context_length", (uint32_t)n_ctx);
    kv_archf(&b, arch, "embedding_length", (uint32_t)n_embd);
    kv_archf(&b, arch, "block_count", (uint32_t)n_layer);
    kv_archf(&b, arch, "feed_forward_length", (uint32_t)n_ff);
    kv_archf(&b, arch, "attention.head_count", (uint32_t)n_head);
    kv_archf(&b, arch, "attention.head_count_kv", (uint32_t)n_kv);
    int rms = !strcmp(mt, "llama") || !strcmp(mt, "gemma");
    kv_archf32(&b, arch, rms ? "attention.layer_norm_rms_epsilon" : "attention.layer_norm_epsilon",
               c->norm_eps);
    if (!strcmp(mt, "gpt_neox") || !strcmp(mt, "llama") || !strcmp(mt, "gemma") ||
        !strcmp(mt, "phi")) {
        kv_archf(&b, arch, "rope.dimension_count", (uint32_t)c->rotary_dim);
        kv_archf32(&b, arch, "rope.freq_base", c->rope_theta);
        kv_archf(&b, arch, "attention.key_length", (uint32_t)head_dim);
        kv_archf(&b, arch, "attention.value_length", (uint32_t)head_dim);
    }
    if (!strcmp(mt, "gpt_neox")) {
        char key[128];
        snprintf(key, sizeof key, "%s.use_parallel_residual", arch);
        kv_bool(&b, key, c->parallel_residual);
    }
    int bos = c->bos_token_id, eos = c->eos_token_id;
    if ((st = write_tokenizer(&b, model_dir, arch, vocab, bos, eos, prm.with_tokenizer)) !=
        JOULE_OK)
        goto done;

    /* tensor table */
    uint64_t off = 0, maxrow = 0;
    struct buf ti = {0};
    for (size_t i = 0; i < plan.n; i++) {
        struct out_tensor *o = &plan.t[i];
        uint32_t as_stored = o->src->dtype == JOULE_DTYPE_F16    ? JOULE_GGML_F16
                             : o->src->dtype == JOULE_DTYPE_BF16 ? JOULE_GGML_BF16
                                                                 : JOULE_GGML_F32;
        o->type = o->n_dims == 1 ? JOULE_GGML_F32 : wtype == UINT32_MAX ? as_stored : wtype;
        if (o->type == JOULE_GGML_Q8_0 && o->ne0 % 32) o->type = JOULE_GGML_F16;
        o->offset = off;
        o->nbytes = out_bytes(o->type, o->ne0, o->rows);
        off += (o->nbytes + 31) / 32 * 32;
        if (o->ne0 > maxrow) maxrow = o->ne0;
        put_str(&ti, o->name, strlen(o->name));
        put_u32(&ti, (uint32_t)o->n_dims);
        put_u64(&ti, o->ne0);
        if (o->n_dims == 2) put_u64(&ti, o->rows);
        put_u32(&ti, o->type);
        put_u64(&ti, o->offset);
    }
    if (b.failed || ti.failed) {
        free(ti.p);
        st = joule_errorf(JOULE_ERR_NOMEM, "convert: metadata");
        goto done;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    struct statvfs sv;
    if (statvfs(dir, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize < off + b.n + (64u << 20)) {
        free(ti.p);
        st = joule_errorf(JOULE_ERR_LIMIT, "convert: not enough free disk space in %s for %.2f GB",
                          dir, (double)off / 1e9);
        goto done;
    }
    snprintf(tmp, sizeof tmp, "%s.partial", out_path);
    f = fopen(tmp, "wb");
    if (!f) {
        free(ti.p);
        st = joule_errorf(JOULE_ERR_IO, "convert: %s: %s", tmp, strerror(errno));
        tmp[0] = '\0';
        goto done;
    }
    struct buf hdr = {0};
    put_u32(&hdr, 0x46554747u);
    put_u32(&hdr, 3);
    put_u64(&hdr, plan.n);
    put_u64(&hdr, b.n_kv);
    int bad = hdr.failed || fwrite(hdr.p, 1, hdr.n, f) != hdr.n || fwrite(b.p, 1, b.n, f) != b.n ||
              fwrite(ti.p, 1, ti.n, f) != ti.n;
    uint64_t pos = hdr.n + b.n + ti.n;
    free(hdr.p);
    free(ti.p);
    static const unsigned char zeros[32] = {0};
    if (!bad && pos % 32) bad = fwrite(zeros, 1, 32 - pos % 32, f) != 32 - pos % 32;
    row = malloc((size_t)maxrow * sizeof *row);
    rowbuf = malloc((size_t)maxrow * 4 + 64);
    if (!row || !rowbuf) {
        st = joule_errorf(JOULE_ERR_NOMEM, "convert: row buffer");
        goto done;
    }
    for (size_t i = 0; i < plan.n && !bad; i++) {
        const struct out_tensor *o = &plan.t[i];
        for (uint64_t r = 0; r < o->rows && !bad; r++) {
            get_row(o, r, row);
            bad = write_row(f, o->type, row, o->ne0, rowbuf) != 0;
        }
        joule_drop_pages(o->src->data, o->src->nbytes); /* 12 GB in, not 12 GB resident */
        uint64_t padn = (32 - o->nbytes % 32) % 32;
        if (!bad && padn) bad = fwrite(zeros, 1, (size_t)padn, f) != padn;
    }
    int e = errno;
    if (fclose(f) != 0 && !bad) bad = 1, e = errno;
    f = NULL;
    if (bad) {
        st = joule_errorf(JOULE_ERR_IO, "convert: writing %s: %s", tmp, strerror(e));
        goto done;
    }
    if (rename(tmp, out_path) != 0) {
        st = joule_errorf(JOULE_ERR_IO, "convert: rename to %s: %s", out_path, strerror(errno));
        goto done;
    }
    tmp[0] = '\0';
done:
    if (f) fclose(f);
    if (tmp[0]) unlink(tmp);
    free(row);
    free(rowbuf);
    free(b.p);
    free(plan.t);
    joule_model_free(m);
    return st;
}
