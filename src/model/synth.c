/* joule synth: Hugging Face-layout checkpoints with random weights and the
 * exact shape of the study's models.  See include/joule/synth.h. */
#include "joule/synth.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "model/dtype.h"
#include "model/synth_internal.h"
#include "model/synth_shapes_table.h"
#include "util/fileio.h"
#include "util/strbuf.h"

#define N_SHAPES (sizeof synth_shapes / sizeof synth_shapes[0])

struct joule_synth_params joule_synth_default_params(void)
{
    struct joule_synth_params p;
    memset(&p, 0, sizeof p);
    p.dtype = JOULE_DTYPE_F32;
    p.seed = 0;
    p.n_layers = 0;
    p.max_merges = 4096;
    p.write_tokenizer = 1;
    p.corpus_path = NULL;
    return p;
}

size_t joule_synth_n_shapes(void)
{
    return N_SHAPES;
}

const char *joule_synth_shape_name(size_t i)
{
    return i < N_SHAPES ? synth_shapes[i].name : NULL;
}

int joule_synth_find_shape(const char *like)
{
    if (!like || !*like) return -1;
    for (size_t i = 0; i < N_SHAPES; i++) {
        const char *n = synth_shapes[i].name;
        const char *slash = strchr(n, '/');
        if (!strcmp(n, like) || (slash && !strcmp(slash + 1, like))) return (int)i;
    }
    return -1;
}

/* ------------------------------------------------------------------------- */
/* Shape: the numbers that decide tensor names and shapes.                   */
/* ------------------------------------------------------------------------- */

struct synth_dims {
    enum joule_arch arch;
    int64_t vocab, hidden, layers, heads, kv_heads, head_dim, inner, positions;
    int tie;
    int bos, eos, pad, unk; /* -1 when absent */
};

static int64_t num_or(const cJSON *o, const char *key, int64_t def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : def;
}

static int bool_or(const cJSON *o, const char *key, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static const char *const layer_keys[] = {"n_layer", "num_hidden_layers"};

static enum joule_status dims_from_config(const cJSON *c, struct synth_dims *d)
{
    memset(d, 0, sizeof *d);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(c, "model_type");
    if (!cJSON_IsString(mt))
        return joule_errorf(JOULE_ERR_FORMAT, "synth: config without model_type");
    static const struct {
        const char *name;
        enum joule_arch arch;
        int tie_default;
    } archs[] = {{"gpt2", JOULE_ARCH_GPT2, 1},
                 {"gpt_bigcode", JOULE_ARCH_GPT_BIGCODE, 1},
                 {"gpt_neox", JOULE_ARCH_GPT_NEOX, 0},
                 {"bloom", JOULE_ARCH_BLOOM, 1},
                 {"llama", JOULE_ARCH_LLAMA, 0},
                 {"gemma", JOULE_ARCH_GEMMA, 1},
                 {"phi", JOULE_ARCH_PHI, 0}};
    int found = -1;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(archs[i].name, mt->valuestring)) found = (int)i;
    if (found < 0)
        return joule_errorf(JOULE_ERR_UNSUPPORTED, "synth: model_type '%s'", mt->valuestring);
    d->arch = archs[found].arch;
    d->vocab = num_or(c, "vocab_size", 0);
    d->hidden = num_or(c, "n_embd", num_or(c, "hidden_size", num_or(c, "n_embed", 0)));
    d->layers = num_or(c, "n_layer", num_or(c, "num_hidden_layers", 0));
    d->heads = num_or(c, "n_head", num_or(c, "num_attention_heads", 0));
    int mq = bool_or(c, "multi_query", d->arch == JOULE_ARCH_GPT_BIGCODE);
    d->kv_heads = num_or(c, "num_key_value_heads", mq ? 1 : d->heads);
    d->head_dim = d->heads > 0 ? num_or(c, "head_dim", d->hidden / d->heads) : 0;
    d->inner = num_or(c, "n_inner", num_or(c, "intermediate_size", 4 * d->hidden));
    d->positions = num_or(c, "n_positions", num_or(c, "max_position_embeddings", 0));
    d->tie = bool_or(c, "tie_word_embeddings", archs[found].tie_default);
    d->bos = (int)num_or(c, "bos_token_id", -1);
    d->eos = (int)num_or(c, "eos_token_id", -1);
    d->pad = (int)num_or(c, "pad_token_id", -1);
    d->unk = (int)num_or(c, "unk_token_id", -1);
    int needs_pos = d->arch == JOULE_ARCH_GPT2 || d->arch == JOULE_ARCH_GPT_BIGCODE;
    if (d->vocab <= 0 || d->hidden <= 0 || d->layers <= 0 || d->heads <= 0 || d->kv_heads <= 0 ||
        d->head_dim <= 0 || d->inner <= 0 || (needs_pos && d->positions <= 0) ||
        d->heads % d->kv_heads)
        return joule_errorf(JOULE_ERR_FORMAT, "synth: incomplete or inconsistent shape");
    return JOULE_OK;
}

/* ------------------------------------------------------------------------- */
/* Tensor list.                                                              */
/* ------------------------------------------------------------------------- */

enum synth_init { INIT_NORMAL, INIT_ONES, INIT_ZEROS };

struct synth_tensor {
    char name[96];
    int n_dims;
    int64_t shape[2];
    enum synth_init init;
    uint64_t offset; /* in the data section */
    uint64_t nbytes;
};

struct synth_list {
    struct synth_tensor *t;
    size_t n, cap;
    int failed;
};

static void add(struct synth_list *l, enum synth_init init, int64_t d0, int64_t d1, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
static void add(struct synth_list *l, enum synth_init init, int64_t d0, int64_t d1, const char *fmt,
                ...)
{
    if (l->failed) return;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct synth_tensor *nt = realloc(l->t, nc * sizeof *nt);
        if (!nt) {
            l->failed = 1;
            return;
        }
        l->t = nt;
        l->cap = nc;
    }
    struct synth_tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->init = init;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->n_dims = d1 > 0 ? 2 : 1;
}

/* LayerNorm with weight and bias. */
static void add_ln(struct synth_list *l, int64_t h, const char *prefix, long layer, const char *ln)
{
    if (layer >= 0) {
        add(l, INIT_ONES, h, 0, "%s.%ld.%s.weight", prefix, layer, ln);
        add(l, INIT_ZEROS, h, 0, "%s.%ld.%s.bias", prefix, layer, ln);
    } else {
        add(l, INIT_ONES, h, 0, "%s.%s.weight", prefix, ln);
        add(l, INIT_ZEROS, h, 0, "%s.%s.bias", prefix, ln);
    }
}

/* nn.Linear: weight [out, in], optional bias [out]. */
static void add_linear(struct synth_list *l, int64_t out, int64_t in, int bias, const char *prefix,
                       long layer, const char *name)
{
    add(l, INIT_NORMAL, out, in, "%s.%ld.%s.weight", prefix, layer, name);
    if (bias) add(l, INIT_ZEROS, out, 0, "%s.%ld.%s.bias", prefix, layer, name);
}

static void build_tensors(const struct synth_dims *d, struct synth_list *l)
{
    const int64_t h = d->hidden, V = d->vocab, I = d->inner;
    const int64_t q = d->heads * d->head_dim, kv = d->kv_heads * d->head_dim;
    switch (d->arch) {
    case JOULE_ARCH_GPT2:
        add(l, INIT_NORMAL, V, h, "transformer.wte.weight");
        add(l, INIT_NORMAL, d->positions, h, "transformer.wpe.weight");
        for (long i = 0; i < d->layers; i++) {
            const char *p = "transformer.h";
            add_ln(l, h, p, i, "ln_1");
            /* Conv1D: weight [in, out] */
            add(l, INIT_NORMAL, h, 3 * h, "%s.%ld.attn.c_attn.weight", p, i);
            add(l, INIT_ZEROS, 3 * h, 0, "%s.%ld.attn.c_attn.bias", p, i);
            add(l, INIT_NORMAL, h, h, "%s.%ld.attn.c_proj.weight", p, i);
            add(l, INIT_ZEROS, h, 0, "%s.%ld.attn.c_proj.bias", p, i);
            add_ln(l, h, p, i, "ln_2");
            add(l, INIT_NORMAL, h, I, "%s.%ld.mlp.c_fc.weight", p, i);
            add(l, INIT_ZEROS, I, 0, "%s.%ld.mlp.c_fc.bias", p, i);
            add(l, INIT_NORMAL, I, h, "%s.%ld.mlp.c_proj.weight", p, i);
            add(l, INIT_ZEROS, h, 0, "%s.%ld.mlp.c_proj.bias", p, i);
        }
        add_ln(l, h, "transformer", -1, "ln_f");
        if (!d->tie) add(l, INIT_NORMAL, V, h, "lm_head.weight");
        break;
    case JOULE_ARCH_GPT_BIGCODE:
        add(l, INIT_NORMAL, V, h, "transformer.wte.weight");
        add(l, INIT_NORMAL, d->positions, h, "transformer.wpe.weight");
        for (long i = 0; i < d->layers; i++) {
            const char *p = "transformer.h";
            add_ln(l, h, p, i, "ln_1");
            add_linear(l, q + 2 * kv, h, 1, p, i, "attn.c_attn");
            add_linear(l, h, q, 1, p, i, "attn.c_proj");
            add_ln(l, h, p, i, "ln_2");
            add_linear(l, I, h, 1, p, i, "mlp.c_fc");
            add_linear(l, h, I, 1, p, i, "mlp.c_proj");
        }
        add_ln(l, h, "transformer", -1, "ln_f");
        if (!d->tie) add(l, INIT_NORMAL, V, h, "lm_head.weight");
        break;
    case JOULE_ARCH_GPT_NEOX:
        add(l, INIT_NORMAL, V, h, "gpt_neox.embed_in.weight");
        for (long i = 0; i < d->layers; i++) {
            const char *p = "gpt_neox.layers";
            add_ln(l, h, p, i, "input_layernorm");
            add_ln(l, h, p, i, "post_attention_layernorm");
            add_linear(l, q + 2 * kv, h, 1, p, i, "attention.query_key_value");
            add_linear(l, h, q, 1, p, i, "attention.dense");
            add_linear(l, I, h, 1, p, i, "mlp.dense_h_to_4h");
            add_linear(l, h, I, 1, p, i, "mlp.dense_4h_to_h");
        }
        add_ln(l, h, "gpt_neox", -1, "final_layer_norm");
        if (!d->tie) add(l, INIT_NORMAL, V, h, "embed_out.weight");
        break;
    case JOULE_ARCH_BLOOM:
        add(l, INIT_NORMAL, V, h, "transformer.word_embeddings.weight");
        add_ln(l, h, "transformer", -1, "word_embeddings_layernorm");
        for (long i = 0; i < d->layers; i++) {
            const char *p = "transformer.h";
            add_ln(l, h, p, i, "input_layernorm");
            add_linear(l, 3 * h, h, 1, p, i, "self_attention.query_key_value");
            add_linear(l, h, h, 1, p, i, "self_attention.dense");
            add_ln(l, h, p, i, "post_attention_layernorm");
            add_linear(l, 4 * h, h, 1, p, i, "mlp.dense_h_to_4h");
            add_linear(l, h, 4 * h, 1, p, i, "mlp.dense_4h_to_h");
        }
        add_ln(l, h, "transformer", -1, "ln_f");
        if (!d->tie) add(l, INIT_NORMAL, V, h, "lm_head.weight");
        break;
    case JOULE_ARCH_LLAMA:
    case JOULE_ARCH_GEMMA: {
        /* Gemma's RMSNorm scales by (1 + w): w = 0 is the identity. */
        enum synth_init norm = d->arch == JOULE_ARCH_GEMMA ? INIT_ZEROS : INIT_ONES;
        add(l, INIT_NORMAL, V, h, "model.embed_tokens.weight");
        for (long i = 0; i < d->layers; i++) {
            const char *p = "model.layers";
            add(l, norm, h, 0, "%s.%ld.input_layernorm.weight", p, i);
            add_linear(l, q, h, 0, p, i, "self_attn.q_proj");
            add_linear(l, kv, h, 0, p, i, "self_attn.k_proj");
            add_linear(l, kv, h, 0, p, i, "self_attn.v_proj");
            add_linear(l, h, q, 0, p, i, "self_attn.o_proj");
            add(l, norm, h, 0, "%s.%ld.post_attention_layernorm.weight", p, i);
            add_linear(l, I, h, 0, p, i, "mlp.gate_proj");
            add_linear(l, I, h, 0, p, i, "mlp.up_proj");
            add_linear(l, h, I, 0, p, i, "mlp.down_proj");
        }
        add(l, norm, h, 0, "model.norm.weight");
        if (!d->tie) add(l, INIT_NORMAL, V, h, "lm_head.weight");
        break;
    }
    case JOULE_ARCH_PHI:
        add(l, INIT_NORMAL, V, h, "model.embed_tokens.weight");
        for (long i = 0; i < d->layers; i++) {
            const char *p = "model.layers";
            add_ln(l, h, p, i, "input_layernorm");
            add_linear(l, q, h, 1, p, i, "self_attn.q_proj");
            add_linear(l, kv, h, 1, p, i, "self_attn.k_proj");
            add_linear(l, kv, h, 1, p, i, "self_attn.v_proj");
            add_linear(l, h, q, 1, p, i, "self_attn.dense");
            add_linear(l, I, h, 1, p, i, "mlp.fc1");
            add_linear(l, h, I, 1, p, i, "mlp.fc2");
        }
        add_ln(l, h, "model", -1, "final_layernorm");
        if (!d->tie) {
            add(l, INIT_NORMAL, V, h, "lm_head.weight");
            add(l, INIT_ZEROS, V, 0, "lm_head.bias");
        }
        break;
    default:
        l->failed = 1;
    }
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const struct synth_tensor *)a)->name, ((const struct synth_tensor *)b)->name);
}

/* ------------------------------------------------------------------------- */
/* Config.                                                                   */
/* ------------------------------------------------------------------------- */

/* Parse the shape's config, apply the layer override; *out owned by the caller. */
static enum joule_status load_shape(const char *like, int n_layers, cJSON **out,
                                    struct synth_dims *d)
{
    *out = NULL;
    int i = joule_synth_find_shape(like);
    if (i < 0)
        return joule_errorf(JOULE_ERR_NOT_FOUND,
                            "synth: unknown shape '%s' (see joule synth --help)",
                            like ? like : "(null)");
    if (n_layers < 0) return joule_errorf(JOULE_ERR_INVALID_ARG, "synth: negative layer count");
    cJSON *c = cJSON_Parse(synth_shapes[i].config_json);
    if (!c) return joule_errorf(JOULE_ERR_INTERNAL, "synth: built-in config of %s", like);
    if (n_layers > 0)
        for (size_t k = 0; k < sizeof layer_keys / sizeof layer_keys[0]; k++)
            if (cJSON_GetObjectItemCaseSensitive(c, layer_keys[k]))
                cJSON_ReplaceItemInObjectCaseSensitive(c, layer_keys[k],
                                                       cJSON_CreateNumber(n_layers));
    enum joule_status st = dims_from_config(c, d);
    if (st != JOULE_OK) {
        cJSON_Delete(c);
        return st;
    }
    *out = c;
    return JOULE_OK;
}

const char *joule_synth_shape_config(const char *like)
{
    int i = joule_synth_find_shape(like);
    return i < 0 ? NULL : synth_shapes[i].config_json;
}

int64_t joule_synth_param_count(const char *like, int n_layers)
{
    cJSON *c;
    struct synth_dims d;
    if (load_shape(like, n_layers, &c, &d) != JOULE_OK) return -1;
    cJSON_Delete(c);
    struct synth_list l = {0};
    build_tensors(&d, &l);
    int64_t n = 0;
    for (size_t i = 0; i < l.n; i++)
        n += l.t[i].shape[0] * (l.t[i].n_dims > 1 ? l.t[i].shape[1] : 1);
    int failed = l.failed;
    free(l.t);
    return failed ? -1 : n;
}

static void set_id(cJSON *c, const char *key, int id)
{
    if (cJSON_GetObjectItemCaseSensitive(c, key))
        cJSON_ReplaceItemInObjectCaseSensitive(c, key, cJSON_CreateNumber(id));
    else
        cJSON_AddNumberToObject(c, key, id);
}

static const char *torch_dtype_name(enum joule_dtype t)
{
    return t == JOULE_DTYPE_F16 ? "float16" : t == JOULE_DTYPE_BF16 ? "bfloat16" : "float32";
}

/* Special ids: those of the config that fit the vocabulary; eos falls back to 0. */
static void fix_special_ids(struct synth_dims *d)
{
    int V = (int)d->vocab;
    if (d->eos < 0 || d->eos >= V) d->eos = 0;
    if (d->bos >= V) d->bos = d->eos;
    if (d->pad >= V) d->pad = -1;
    if (d->unk >= V) d->unk = -1;
}

static enum joule_status write_config(const char *dir, cJSON *c, const struct synth_dims *d,
                                      const char *like, const struct joule_synth_params *p)
{
    set_id(c, "bos_token_id", d->bos >= 0 ? d->bos : d->eos);
    set_id(c, "eos_token_id", d->eos);
    if (cJSON_GetObjectItemCaseSensitive(c, "torch_dtype"))
        cJSON_DeleteItemFromObjectCaseSensitive(c, "torch_dtype");
    cJSON_AddStringToObject(c, "torch_dtype", torch_dtype_name(p->dtype));
    if (!cJSON_GetObjectItemCaseSensitive(c, "transformers_version"))
        cJSON_AddStringToObject(c, "transformers_version", "4.44.0");
    cJSON *note = cJSON_AddObjectToObject(c, "joule_synth");
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed);
    cJSON_AddStringToObject(note, "like", synth_shapes[joule_synth_find_shape(like)].name);
    cJSON_AddStringToObject(note, "seed", seed);
    cJSON_AddStringToObject(note, "weights", "random N(0,0.02), biases 0, norms identity");
    char *text = cJSON_Print(c);
    if (!text) return joule_errorf(JOULE_ERR_NOMEM, "synth: config.json");
    char path[4096];
    enum joule_status st = joule_path_join(path, sizeof path, dir, "config.json");
    if (st == JOULE_OK) {
        size_t n = strlen(text);
        text[n] = '\n'; /* cJSON_Print allocates n + 1: replace the NUL */
        st = joule_write_file_atomic(path, text, n + 1);
    }
    free(text);
    return st;
}

/* ------------------------------------------------------------------------- */
/* Values.                                                                   */
/* ------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman & Vigna). */
static inline uint64_t xoshiro(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static size_t dtype_size(enum joule_dtype t)
{
    return t == JOULE_DTYPE_F32 ? 4 : 2;
}

static const char *st_dtype_name(enum joule_dtype t)
{
    return t == JOULE_DTYPE_F16 ? "F16" : t == JOULE_DTYPE_BF16 ? "BF16" : "F32";
}

#define CHUNK 16384

/* Write one tensor's values, generated in chunks. */
static int write_values(FILE *f, const struct synth_tensor *t, enum joule_dtype dt, uint64_t seed)
{
    static const float sd = 0.02f;
    uint64_t n = t->nbytes / dtype_size(dt);
    uint64_t sm = seed ^ fnv1a(t->name), s[4];
    for (int i = 0; i < 4; i++)
        s[i] = splitmix64(&sm);
    float vals[CHUNK];
    uint16_t half[CHUNK];
    while (n > 0) {
        size_t k = n < CHUNK ? (size_t)n : CHUNK;
        if (t->init == INIT_NORMAL) {
            /* Irwin-Hall: the sum of four uniforms, standardized (bounded at 3.46 sd). */
            for (size_t i = 0; i < k; i++) {
                uint64_t r = xoshiro(s);
                float u = (float)((r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) +
                                  (r >> 48)) *
                          (1.0f / 65536.0f);
                vals[i] = (u - 2.0f) * 1.7320508f * sd;
            }
        } else {
            float v = t->init == INIT_ONES ? 1.0f : 0.0f;
            for (size_t i = 0; i < k; i++)
                vals[i] = v;
        }
        size_t w;
        if (dt == JOULE_DTYPE_F32) {
            w = fwrite(vals, 4, k, f); /* little-endian hosts only (x86-64, aarch64) */
        } else {
            for (size_t i = 0; i < k; i++)
                half[i] =
                    dt == JOULE_DTYPE_F16 ? joule_f32_to_f16(vals[i]) : joule_f32_to_bf16(vals[i]);
            w = fwrite(half, 2, k, f);
        }
        if (w != k) return -1;
        n -= k;
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* safetensors.                                                              */
/* ------------------------------------------------------------------------- */

static enum joule_status check_free_space(const char *dir, uint64_t need)
{
    struct statvfs sv;
    if (statvfs(dir, &sv) != 0)
        return joule_errorf(JOULE_ERR_IO, "synth: statvfs %s: %s", dir, strerror(errno));
    uint64_t avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    uint64_t margin = 64ull << 20;
    if (avail < need + margin)
        return joule_errorf(JOULE_ERR_LIMIT,
                            "synth: not enough free disk space in %s: the weights need %.2f GB "
                            "(+64 MB margin), %.2f GB available",
                            dir, (double)need / 1e9, (double)avail / 1e9);
    return JOULE_OK;
}

static enum joule_status write_safetensors(const char *dir, struct synth_list *l,
                                           const struct joule_synth_params *p)
{
    qsort(l->t, l->n, sizeof l->t[0], cmp_tensor_name);
    size_t es = dtype_size(p->dtype);
    uint64_t off = 0;
    for (size_t i = 0; i < l->n; i++) {
        struct synth_tensor *t = &l->t[i];
        t->offset = off;
        t->nbytes = (uint64_t)t->shape[0] * (uint64_t)(t->n_dims > 1 ? t->shape[1] : 1) * es;
        off += t->nbytes;
    }
    enum joule_status st = check_free_space(dir, off);
    if (st != JOULE_OK) return st;

    struct joule_strbuf h = {0};
    joule_strbuf_printf(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < l->n; i++) {
        const struct synth_tensor *t = &l->t[i];
        joule_strbuf_printf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld", t->name,
                            st_dtype_name(p->dtype), (long long)t->shape[0]);
        if (t->n_dims > 1) joule_strbuf_printf(&h, ",%lld", (long long)t->shape[1]);
        joule_strbuf_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)t->offset,
                            (unsigned long long)(t->offset + t->nbytes));
    }
    joule_strbuf_printf(&h, "}");
    while (!h.oom && h.len % 8)
        joule_strbuf_printf(&h, " ");
    if (h.oom) {
        joule_strbuf_free(&h);
        return joule_errorf(JOULE_ERR_NOMEM, "synth: safetensors header");
    }

    char path[4096], tmp[4096];
    st = joule_path_join(path, sizeof path, dir, "model.safetensors");
    if (st == JOULE_OK) st = joule_path_join(tmp, sizeof tmp, dir, ".model.safetensors.partial");
    if (st != JOULE_OK) {
        joule_strbuf_free(&h);
        return st;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        joule_strbuf_free(&h);
        return joule_errorf(JOULE_ERR_IO, "synth: %s: %s", tmp, strerror(errno));
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    int bad = fwrite(len8, 1, 8, f) != 8 || fwrite(h.data, 1, h.len, f) != h.len;
    joule_strbuf_free(&h);
    for (size_t i = 0; i < l->n && !bad; i++)
        bad = write_values(f, &l->t[i], p->dtype, p->seed);
    int e = errno;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) bad = 1, e = errno;
    if (fclose(f) != 0 && !bad) bad = 1, e = errno;
    if (bad) {
        unlink(tmp);
        return joule_errorf(JOULE_ERR_IO, "synth: writing %s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return joule_errorf(JOULE_ERR_IO, "synth: rename to %s: %s", path, strerror(e));
    }
    return JOULE_OK;
}

enum joule_status joule_synth_write(const char *like, const char *out_dir,
                                    const struct joule_synth_params *params)
{
    struct joule_synth_params p = params ? *params : joule_synth_default_params();
    if (!out_dir || !*out_dir) return joule_errorf(JOULE_ERR_INVALID_ARG, "synth: no output dir");
    if (p.dtype != JOULE_DTYPE_F32 && p.dtype != JOULE_DTYPE_F16 && p.dtype != JOULE_DTYPE_BF16)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "synth: dtype must be f32, f16 or bf16");
    cJSON *c;
    struct synth_dims d;
    enum joule_status st = load_shape(like, p.n_layers, &c, &d);
    if (st != JOULE_OK) return st;
    fix_special_ids(&d);
    struct synth_list l = {0};
    build_tensors(&d, &l);
    if (l.failed) {
        st = joule_errorf(JOULE_ERR_NOMEM, "synth: tensor list");
        goto done;
    }
    if ((st = joule_mkdirs(out_dir)) != JOULE_OK) goto done;
    if ((st = write_safetensors(out_dir, &l, &p)) != JOULE_OK) goto done;
    if (p.write_tokenizer && (st = joule_synth_write_tokenizer(out_dir, (int)d.vocab, d.bos, d.eos,
                                                               d.pad, d.unk, &p)) != JOULE_OK)
        goto done;
    st = write_config(out_dir, c, &d, like, &p);
done:
    free(l.t);
    cJSON_Delete(c);
    return st;
}
