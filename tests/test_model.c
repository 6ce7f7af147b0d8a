/* Model loading: config.json in both styles, safetensors single and sharded,
 * F32/F16/BF16, tensor shapes against reference.json, and clear errors for
 * bad input (built here from a good checkpoint). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "joule/model.h"
#include "model/arch.h"
#include "model/dtype.h"
#include "model/safetensors.h"
#include "support/model_fixtures.h"
#include "test.h"
#include "util/fileio.h"
#include "util/json.h"

/* ---- good checkpoints ------------------------------------------------------ */

static void check_tensors_against_reference(const struct joule_model *m, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s/reference.json", JOULE_TEST_FIXTURES, name);
    cJSON *root = NULL;
    CHECK_OK(joule_json_load_file(path, (size_t)64 << 20, &root));
    const cJSON *tensors = cJSON_GetObjectItem(root, "tensors");
    if (!tensors) { /* the f16/bf16 copies list no tensors */
        cJSON_Delete(root);
        return;
    }
    CHECK_EQ_INT(joule_model_n_tensors(m), cJSON_GetArraySize(tensors));
    for (const cJSON *t = tensors->child; t; t = t->next) {
        const struct joule_tensor *jt = joule_model_tensor(m, t->string);
        CHECK(jt != NULL);
        if (!jt) continue;
        CHECK_EQ_INT(jt->n_dims, cJSON_GetArraySize(t));
        int d = 0;
        for (const cJSON *v = t->child; v; v = v->next, d++)
            CHECK_EQ_INT(jt->shape[d], (long long)v->valuedouble);
    }
    cJSON_Delete(root);
}

static void test_load_fixtures_both_config_styles(void)
{
    for (const char *const *f = test_model_fixtures; *f; f++) {
        const char *styles[] = {"config.json", "config.transformers5.json"};
        struct joule_model_config first = {0};
        for (int s = 0; s < 2; s++) {
            char src[4096];
            snprintf(src, sizeof src, "%s/models/%s/%s", JOULE_TEST_FIXTURES, *f, styles[s]);
            if (s == 1 && !test_file_exists(src)) continue; /* the f16/bf16 copies have one */
            const char *dir = test_model_copy(*f, styles[s]);
            CHECK(dir != NULL);
            if (!dir) continue;
            struct joule_model *m = NULL;
            CHECK_OK(joule_model_load(dir, NULL, &m));
            if (!m) continue;
            const struct joule_model_config *c = joule_model_get_config(m);
            int six = !strcmp(*f, "bloom_6heads_postln"); /* 6 heads of 16 */
            CHECK_EQ_INT(c->vocab_size, 512);
            CHECK_EQ_INT(c->hidden_size, six ? 96 : 64);
            CHECK_EQ_INT(c->n_layers, 2);
            CHECK_EQ_INT(c->n_heads, six ? 6 : 4);
            check_tensors_against_reference(m, *f);
            CHECK(joule_model_tokenizer_path(m) == NULL);
            if (s == 0) {
                first = *c;
            } else { /* both styles describe the same model */
                CHECK_EQ_INT(c->arch, first.arch);
                CHECK_EQ_INT(c->n_kv_heads, first.n_kv_heads);
                CHECK_EQ_INT(c->head_dim, first.head_dim);
                CHECK_EQ_INT(c->intermediate_size, first.intermediate_size);
                CHECK_EQ_INT(c->rotary_dim, first.rotary_dim);
                CHECK_NEAR(c->rope_theta, first.rope_theta, 0);
                CHECK_NEAR(c->norm_eps, first.norm_eps, 0);
                CHECK_EQ_INT(c->tie_word_embeddings, first.tie_word_embeddings);
                CHECK_EQ_INT(c->parallel_residual, first.parallel_residual);
                CHECK_EQ_INT(c->scale_attn_by_inverse_layer_idx,
                             first.scale_attn_by_inverse_layer_idx);
                CHECK_EQ_STR(c->activation, first.activation);
                CHECK_EQ_INT(c->dtype, first.dtype);
                CHECK_EQ_INT(c->max_positions, first.max_positions);
            }
            joule_model_free(m);
        }
    }
}

static const struct joule_model_config *load_cfg(const char *name, struct joule_model **m)
{
    *m = NULL;
    if (joule_model_load(test_fixture(name), NULL, m) != JOULE_OK) return NULL;
    return joule_model_get_config(*m);
}

static void test_family_details(void)
{
    struct joule_model *m;
    const struct joule_model_config *c;
    if ((c = load_cfg("models/gpt_neox", &m))) {
        CHECK_EQ_INT(c->arch, JOULE_ARCH_GPT_NEOX);
        CHECK_EQ_INT(c->rotary_dim, 4); /* int(16 * 0.25) */
        CHECK_EQ_INT(c->parallel_residual, 1);
        CHECK_EQ_INT(c->tie_word_embeddings, 0);
        CHECK(joule_model_role(m, JOULE_ROLE_LM_HEAD_W, -1) ==
              joule_model_tensor(m, "embed_out.weight"));
    }
    joule_model_free(m);
    if ((c = load_cfg("models/phi", &m))) { /* sharded over 10 files */
        CHECK_EQ_INT(c->arch, JOULE_ARCH_PHI);
        CHECK_EQ_INT(c->rotary_dim, 6); /* int(16 * 0.4) */
        CHECK_EQ_INT(joule_model_n_tensors(m), 33);
        CHECK(joule_model_role(m, JOULE_ROLE_LM_HEAD_B, -1) != NULL);
    }
    joule_model_free(m);
    if ((c = load_cfg("models/gemma", &m))) {
        CHECK_EQ_INT(c->head_dim, 32);
        CHECK_EQ_INT(c->n_kv_heads, 1);
        CHECK_EQ_STR(c->activation, "gelu_pytorch_tanh");
        CHECK(joule_model_role(m, JOULE_ROLE_LM_HEAD_W, -1) == NULL); /* tied */
    }
    joule_model_free(m);
    if ((c = load_cfg("models/gpt2_codeparrot_flags", &m))) {
        CHECK_EQ_INT(c->scale_attn_by_inverse_layer_idx, 1);
        CHECK_EQ_INT(c->reorder_and_upcast_attn, 1);
        CHECK_EQ_INT(c->intermediate_size, 256); /* n_inner null: 4 * hidden */
    }
    joule_model_free(m);
    if ((c = load_cfg("models/gpt_bigcode", &m))) {
        CHECK_EQ_INT(c->multi_query, 1);
        CHECK_EQ_INT(c->n_kv_heads, 1);
    }
    joule_model_free(m);
    if ((c = load_cfg("models/gpt_bigcode_mha", &m))) {
        CHECK_EQ_INT(c->multi_query, 0);
        CHECK_EQ_INT(c->n_kv_heads, 4);
    }
    joule_model_free(m);
    if ((c = load_cfg("models/gpt_neox_sequential", &m))) CHECK_EQ_INT(c->parallel_residual, 0);
    joule_model_free(m);
    if ((c = load_cfg("models/bloom_6heads_postln", &m))) {
        CHECK_EQ_INT(c->residual_post_layernorm, 1);
        CHECK_EQ_INT(c->head_dim, 16);
    }
    joule_model_free(m);
    if ((c = load_cfg("models/llama_bias_mqa", &m))) {
        CHECK_EQ_INT(c->attention_bias, 1);
        CHECK_EQ_INT(c->mlp_bias, 1);
        CHECK_EQ_INT(c->n_kv_heads, 1);
        CHECK(joule_model_role(m, JOULE_ROLE_O_B, 1) != NULL);
    }
    joule_model_free(m);
    const char *dt[][2] = {{"models/llama_float16", "f16"},
                           {"models/llama_bfloat16", "bf16"},
                           {"models/llama", "f32"}};
    for (int i = 0; i < 3; i++) {
        if ((c = load_cfg(dt[i][0], &m))) {
            CHECK_EQ_STR(joule_dtype_name(c->dtype), dt[i][1]);
            const struct joule_tensor *t = joule_model_tensor(m, "model.norm.weight");
            CHECK(t && t->nbytes == (strcmp(dt[i][1], "f32") ? 128u : 256u));
        }
        joule_model_free(m);
    }
}

/* convert_to = F32 turns f16 weights into the same values as float */
static void test_convert_at_load(void)
{
    struct joule_model_params p = joule_model_default_params();
    p.convert_to = JOULE_DTYPE_F32;
    struct joule_model *a = NULL, *b = NULL;
    CHECK_OK(joule_model_load(test_fixture("models/llama_float16"), &p, &a));
    CHECK_OK(joule_model_load(test_fixture("models/llama_float16"), NULL, &b));
    if (a && b) {
        const struct joule_tensor *ta = joule_model_tensor(a, "model.norm.weight");
        const struct joule_tensor *tb = joule_model_tensor(b, "model.norm.weight");
        CHECK_EQ_INT(ta->dtype, JOULE_DTYPE_F32);
        CHECK_EQ_INT(tb->dtype, JOULE_DTYPE_F16);
        /* f16 1.0 = 0x3c00; RMSNorm weights of a fresh model are ones */
        const float *fa = ta->data;
        const uint16_t *hb = tb->data;
        int same = 1;
        for (int i = 0; i < 64; i++)
            same &= (hb[i] == 0x3c00) == (fa[i] == 1.0f);
        CHECK(same);
    }
    joule_model_free(a);
    joule_model_free(b);
}

/* every one of the study's 12 configs parses, with the derived shapes it should have */
static void test_paper_model_shapes(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/data/paper-model-shapes.json", JOULE_SOURCE_DIR);
    cJSON *root = NULL;
    CHECK_OK(joule_json_load_file(path, 1 << 20, &root));
    if (!root) return;
    int n = 0;
    for (const cJSON *e = root->child; e; e = e->next, n++) {
        char *text = cJSON_PrintUnformatted(e);
        struct joule_model_config c;
        enum joule_status s = joule_model_parse_config(text, strlen(text), &c);
        free(text);
        CHECK_OK(s);
        if (s != JOULE_OK) {
            fprintf(stderr, "  %s\n", e->string);
            continue;
        }
        const cJSON *d = cJSON_GetObjectItem(e, "derived");
        if (cJSON_GetObjectItem(d, "num_kv_heads"))
            CHECK_EQ_INT(c.n_kv_heads, joule_json_int(d, "num_kv_heads", -1));
        if (cJSON_GetObjectItem(d, "head_dim"))
            CHECK_EQ_INT(c.head_dim, joule_json_int(d, "head_dim", -1));
        if (cJSON_GetObjectItem(d, "intermediate_size"))
            CHECK_EQ_INT(c.intermediate_size, joule_json_int(d, "intermediate_size", -1));
        if (cJSON_GetObjectItem(d, "rotary_dims"))
            CHECK_EQ_INT(c.rotary_dim, joule_json_int(d, "rotary_dims", -1));
        /* the expected tensors add up to the published parameter count */
        size_t ns = joule_arch_specs(&c, NULL, 0);
        struct joule_tensor_spec *sp = calloc(ns, sizeof *sp);
        joule_arch_specs(&c, sp, ns);
        long long params = 0;
        for (size_t i = 0; i < ns; i++)
            params += sp[i].shape[0] * sp[i].shape[1];
        free(sp);
        long long want = joule_json_int(d, "param_count_computed", -1);
        if (params != want)
            fprintf(stderr, "  %s: %lld parameters, expected %lld\n", e->string, params, want);
        CHECK_EQ_INT(params, want);
    }
    CHECK_EQ_INT(n, 12);
    cJSON_Delete(root);
}

static void test_transformers5_keys(void)
{
    const char *js = "{\"model_type\":\"llama\",\"vocab_size\":100,\"hidden_size\":64,"
                     "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                     "\"intermediate_size\":128,\"dtype\":\"bfloat16\","
                     "\"rope_parameters\":{\"rope_theta\":500000.0,\"rope_type\":\"default\"},"
                     "\"eos_token_id\":[7,8]}";
    struct joule_model_config c;
    CHECK_OK(joule_model_parse_config(js, strlen(js), &c));
    CHECK_NEAR(c.rope_theta, 500000.0, 0);
    CHECK_EQ_INT(c.dtype, JOULE_DTYPE_BF16);
    CHECK_EQ_INT(c.eos_token_id, 7);
    CHECK_EQ_INT(c.rotary_dim, 16);
    const char *scaled = "{\"model_type\":\"llama\",\"vocab_size\":100,\"hidden_size\":64,"
                         "\"num_hidden_layers\":1,\"num_attention_heads\":4,"
                         "\"rope_parameters\":{\"rope_theta\":1e4,\"rope_type\":\"yarn\"}}";
    CHECK_EQ_INT(joule_model_parse_config(scaled, strlen(scaled), &c), JOULE_ERR_UNSUPPORTED);
    const char *bad = "{\"model_type\":\"llama\",\"vocab_size\":-5,\"hidden_size\":64,"
                      "\"num_hidden_layers\":1,\"num_attention_heads\":4}";
    CHECK_EQ_INT(joule_model_parse_config(bad, strlen(bad), &c), JOULE_ERR_FORMAT);
    const char *heads = "{\"model_type\":\"gpt2\",\"vocab_size\":5,\"n_embd\":64,"
                        "\"n_layer\":1,\"n_head\":5}";
    CHECK_EQ_INT(joule_model_parse_config(heads, strlen(heads), &c), JOULE_ERR_FORMAT);
    /* a huge hidden size without intermediate_size: refused, no 4 × hidden overflow (UBSan;
     * found by fuzz_hf_config) */
    const char *wide = "{\"model_type\":\"phi\",\"vocab_size\":4,\"hidden_size\":842184976,"
                       "\"num_attention_heads\":4}";
    CHECK_EQ_INT(joule_model_parse_config(wide, strlen(wide), &c), JOULE_ERR_FORMAT);
    CHECK(strstr(joule_last_error(), "hidden_size") != NULL);
    CHECK_EQ_INT(joule_model_parse_config("[1,2]", 5, &c), JOULE_ERR_FORMAT);
    CHECK_EQ_INT(joule_model_parse_config("{", 1, &c), JOULE_ERR_FORMAT);
    /* no model_type: the architecture class of transformers names it; an unknown class or a
     * model_type that is not ours is refused, not guessed from the other key */
    const char *by_class = "{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":100,"
                           "\"hidden_size\":64,\"num_hidden_layers\":1,\"num_attention_heads\":4}";
    CHECK_OK(joule_model_parse_config(by_class, strlen(by_class), &c));
    CHECK_EQ_INT(c.arch, JOULE_ARCH_LLAMA);
    const char *unknown = "{\"architectures\":[\"MambaForCausalLM\"],\"vocab_size\":100}";
    CHECK_EQ_INT(joule_model_parse_config(unknown, strlen(unknown), &c), JOULE_ERR_UNSUPPORTED);
    const char *both = "{\"model_type\":\"mamba\",\"architectures\":[\"LlamaForCausalLM\"],"
                       "\"vocab_size\":100}";
    CHECK_EQ_INT(joule_model_parse_config(both, strlen(both), &c), JOULE_ERR_UNSUPPORTED);
}

/* ---- bad input, built from the good gpt2 checkpoint ------------------------- */

static unsigned char *g_file;
static size_t g_len, g_hlen;

static int load_good(void)
{
    if (g_file) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/models/gpt2/model.safetensors", JOULE_TEST_FIXTURES);
    char *buf = NULL;
    if (joule_read_file(path, (size_t)16 << 20, &buf, &g_len) != JOULE_OK) return 0;
    g_file = (unsigned char *)buf;
    g_hlen = 0;
    for (int i = 7; i >= 0; i--)
        g_hlen = (g_hlen << 8) | g_file[i];
    return 1;
}

static cJSON *good_header(void)
{
    return cJSON_ParseWithLength((const char *)g_file + 8, g_hlen);
}

/* A fresh directory with gpt2's config.json (or `config`, if given). */
static const char *bad_dir(const char *config)
{
    static char dir[4096];
    static int k;
    snprintf(dir, sizeof dir, "%s/bad%d", test_tmpdir(), k++);
    mkdir(dir, 0755);
    char path[4096 + 32];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (config) {
        joule_write_file_atomic(path, config, strlen(config));
    } else {
        char src[4096], *text = NULL;
        size_t len = 0;
        snprintf(src, sizeof src, "%s/models/gpt2/config.json", JOULE_TEST_FIXTURES);
        if (joule_read_file(src, 1 << 20, &text, &len) == JOULE_OK)
            joule_write_file_atomic(path, text, len);
        free(text);
    }
    return dir;
}

static void write_bytes(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK_OK(joule_write_file_atomic(path, data, len));
}

/* header (re-serialized) + the original data section */
static void write_with_header(const char *dir, const char *name, cJSON *hdr)
{
    char *h = cJSON_PrintUnformatted(hdr);
    size_t hl = strlen(h), dl = g_len - 8 - g_hlen;
    unsigned char *buf = malloc(8 + hl + dl);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, h, hl);
    memcpy(buf + 8 + hl, g_file + 8 + g_hlen, dl);
    write_bytes(dir, name, buf, 8 + hl + dl);
    free(buf);
    free(h);
}

static void expect_fail(const char *dir, enum joule_status want, const char *needle)
{
    struct joule_model *m = (struct joule_model *)1;
    enum joule_status s = joule_model_load(dir, NULL, &m);
    CHECK_EQ_INT(s, want);
    CHECK(m == NULL);
    const char *err = joule_last_error();
    if (!strstr(err, needle)) fprintf(stderr, "  error was: %s (wanted '%s')\n", err, needle);
    CHECK(strstr(err, needle) != NULL);
    if (s == JOULE_OK) joule_model_free(m);
}

static void set_offsets(cJSON *t, double b, double e)
{
    cJSON *offs = cJSON_GetObjectItem(t, "data_offsets");
    cJSON_SetNumberValue(cJSON_GetArrayItem(offs, 0), b);
    cJSON_SetNumberValue(cJSON_GetArrayItem(offs, 1), e);
}

static void test_bad_files(void)
{
    if (!load_good()) {
        CHECK(0);
        return;
    }
    const char *d;
    /* the unmodified copy loads: the harness itself is sound */
    d = bad_dir(NULL);
    write_bytes(d, "model.safetensors", g_file, g_len);
    struct joule_model *m = NULL;
    CHECK_OK(joule_model_load(d, NULL, &m));
    joule_model_free(m);

    d = bad_dir(NULL); /* truncated in the data */
    write_bytes(d, "model.safetensors", g_file, g_len - 100);
    expect_fail(d, JOULE_ERR_FORMAT, "outside the data section");

    d = bad_dir(NULL); /* truncated in the header */
    write_bytes(d, "model.safetensors", g_file, 8 + g_hlen / 2);
    expect_fail(d, JOULE_ERR_FORMAT, "longer than the file");

    d = bad_dir(NULL); /* shorter than the length prefix */
    write_bytes(d, "model.safetensors", g_file, 5);
    expect_fail(d, JOULE_ERR_FORMAT, "too short");

    d = bad_dir(NULL); /* empty */
    write_bytes(d, "model.safetensors", g_file, 0);
    expect_fail(d, JOULE_ERR_FORMAT, "too short");

    unsigned char *copy = malloc(g_len);
    memcpy(copy, g_file, g_len);
    copy[9] = '#'; /* corrupt JSON: {#transformer... */
    d = bad_dir(NULL);
    write_bytes(d, "model.safetensors", copy, g_len);
    expect_fail(d, JOULE_ERR_FORMAT, "not valid JSON");

    memcpy(copy, g_file, g_len); /* header length over the limit */
    uint64_t huge = (uint64_t)200 << 20;
    for (int i = 0; i < 8; i++)
        copy[i] = (unsigned char)(huge >> (8 * i));
    d = bad_dir(NULL);
    write_bytes(d, "model.safetensors", copy, g_len);
    expect_fail(d, JOULE_ERR_FORMAT, "over the");

    memcpy(copy, g_file, g_len); /* header length past the end, under the limit */
    uint64_t past = g_len;
    for (int i = 0; i < 8; i++)
        copy[i] = (unsigned char)(past >> (8 * i));
    d = bad_dir(NULL);
    write_bytes(d, "model.safetensors", copy, g_len);
    expect_fail(d, JOULE_ERR_FORMAT, "longer than the file");
    for (int i = 0; i < 8; i++)
        copy[i] = 0xff; /* 2^64 - 1 */
    write_bytes(d, "model.safetensors", copy, g_len);
    expect_fail(d, JOULE_ERR_FORMAT, "over the");
    free(copy);

    cJSON *h = good_header(); /* offsets out of range */
    set_offsets(cJSON_GetObjectItem(h, "transformer.ln_f.bias"), 1e9, 1e9 + 256);
    d = bad_dir(NULL);
    write_with_header(d, "model.safetensors", h);
    expect_fail(d, JOULE_ERR_FORMAT, "outside the data section");
    cJSON_Delete(h);

    h = good_header(); /* begin after end */
    set_offsets(cJSON_GetObjectItem(h, "transformer.ln_f.bias"), 512, 256);
    d = bad_dir(NULL);
    write_with_header(d, "model.safetensors", h);
    expect_fail(d, JOULE_ERR_FORMAT, "outside the data section");
    cJSON_Delete(h);

    h = good_header(); /* size that does not match shape × dtype */
    cJSON *offs =
        cJSON_GetObjectItem(cJSON_GetObjectItem(h, "transformer.ln_f.bias"), "data_offsets");
    double b0 = cJSON_GetArrayItem(offs, 0)->valuedouble;
    set_offsets(cJSON_GetObjectItem(h, "transformer.ln_f.bias"), b0, b0 + 128);
    d = bad_dir(NULL);
    write_with_header(d, "model.safetensors", h);
    expect_fail(d, JOULE_ERR_FORMAT, "need");
    cJSON_Delete(h);

    h = good_header(); /* overlapping tensors */
    offs = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "transformer.ln_f.weight"), "data_offsets");
    b0 = cJSON_GetArrayItem(offs, 0)->valuedouble;
    set_offsets(cJSON_GetObjectItem(h, "transformer.ln_f.bias"), b0 + 4, b0 + 260);
    d = bad_dir(NULL);
    write_with_header(d, "model.safetensors", h);
    expect_fail(d, JOULE_ERR_FORMAT, "overlap");

    /* an empty tensor between two overlapping ones does not hide the overlap */
    static const char hidden[] =
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"z\":{\"dtype\":"
        "\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],"
        "\"data_offsets\":[8,12]}}";
    unsigned char buf[8 + sizeof hidden - 1 + 16];
    memset(buf, 0, sizeof buf);
    buf[0] = (unsigned char)(sizeof hidden - 1);
    memcpy(buf + 8, hidden, sizeof hidden - 1);
    struct joule_st_file f;
    CHECK_EQ_INT(joule_safetensors_parse(buf, sizeof buf, "hidden", &f), JOULE_ERR_FORMAT);
    CHECK(strstr(joule_last_error(), "'a' and 'b' overlap") != NULL);
    cJSON_Delete(h);

    h = good_header(); /* shape whose element count overflows */
    cJSON *shape = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "transformer.ln_f.bias"), "shape");
    cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(4294967296.0));
    cJSON_AddItemToArray(shape, cJSON_CreateNumber(4294967296.0));
    cJSON_AddItemToArray(shape, cJSON_CreateNumber(4294967296.0));
    d = bad_dir(NULL);
    write_with_header(d, "model.safetensors", h);
    expect_fail(d, JOULE_ERR_FORMAT, "overflows");
    cJSON_Delete(h);

    h = good_header(); /* unsupported dtype */
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(h, "transformer.ln_f.bias"), "dtype",
                              cJSON_CreateString("F64"));
    d = bad_dir(NULL);
    write_with_header(d, "model.safetensors", h);
    expect_fail(d, JOULE_ERR_UNSUPPORTED, "F64");
    cJSON_Delete(h);

    h = good_header(); /* missing tensor */
    cJSON_DeleteItemFromObject(h, "transformer.h.1.mlp.c_fc.weight");
    d = bad_dir(NULL);
    write_with_header(d, "model.safetensors", h);
    expect_fail(d, JOULE_ERR_NOT_FOUND, "transformer.h.1.mlp.c_fc.weight");
    cJSON_Delete(h);

    h = good_header(); /* wrong shape, consistent sizes: [64] stored as [16, 4] */
    shape = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "transformer.ln_f.weight"), "shape");
    cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(16));
    cJSON_AddItemToArray(shape, cJSON_CreateNumber(4));
    d = bad_dir(NULL);
    write_with_header(d, "model.safetensors", h);
    expect_fail(d, JOULE_ERR_FORMAT, "transformer.ln_f.weight' has shape [16, 4], expected [64]");
    cJSON_Delete(h);

    h = good_header(); /* a tensor that is not an object */
    cJSON_ReplaceItemInObject(h, "transformer.ln_f.bias", cJSON_CreateNumber(3));
    d = bad_dir(NULL);
    write_with_header(d, "model.safetensors", h);
    expect_fail(d, JOULE_ERR_FORMAT, "not an object");
    cJSON_Delete(h);
}

static void test_bad_dirs(void)
{
    if (!load_good()) return;
    const char *d;
    d = bad_dir("{\"model_type\":\"mamba\",\"vocab_size\":512}"); /* unknown architecture */
    write_bytes(d, "model.safetensors", g_file, g_len);
    expect_fail(d, JOULE_ERR_UNSUPPORTED, "unknown architecture");

    d = bad_dir("not json"); /* corrupt config */
    write_bytes(d, "model.safetensors", g_file, g_len);
    expect_fail(d, JOULE_ERR_FORMAT, "config.json");

    d = bad_dir(NULL); /* no weights */
    expect_fail(d, JOULE_ERR_NOT_FOUND, "no model.safetensors");

    expect_fail("/nonexistent/joule-model", JOULE_ERR_NOT_FOUND, "not a model directory");

    d = bad_dir(NULL); /* index naming a shard that is not there */
    const char *idx = "{\"weight_map\":{\"transformer.wte.weight\":\"model-1.safetensors\"}}";
    write_bytes(d, "model.safetensors.index.json", idx, strlen(idx));
    expect_fail(d, JOULE_ERR_NOT_FOUND, "model-1.safetensors");

    d = bad_dir(NULL); /* index escaping the directory */
    idx = "{\"weight_map\":{\"transformer.wte.weight\":\"../model.safetensors\"}}";
    write_bytes(d, "model.safetensors.index.json", idx, strlen(idx));
    expect_fail(d, JOULE_ERR_FORMAT, "plain file name");

    d = bad_dir(NULL); /* index placing a tensor in a shard that lacks it */
    write_bytes(d, "a.safetensors", g_file, g_len);
    idx = "{\"weight_map\":{\"transformer.wte.weight\":\"a.safetensors\",\"nope\":\"a."
          "safetensors\"}}";
    write_bytes(d, "model.safetensors.index.json", idx, strlen(idx));
    expect_fail(d, JOULE_ERR_NOT_FOUND, "nope");

    d = bad_dir(NULL); /* the same tensors in two shards */
    write_bytes(d, "a.safetensors", g_file, g_len);
    write_bytes(d, "b.safetensors", g_file, g_len);
    idx = "{\"weight_map\":{\"transformer.wte.weight\":\"a.safetensors\",\"transformer.wpe."
          "weight\":\"b.safetensors\"}}";
    write_bytes(d, "model.safetensors.index.json", idx, strlen(idx));
    expect_fail(d, JOULE_ERR_FORMAT, "two shards");

    d = bad_dir(NULL); /* a checkpoint without a single tensor (found by fuzz_safetensors) */
    static const char empty_st[] = "\x13\0\0\0\0\0\0\0{\"__metadata__\":{}}";
    write_bytes(d, "model.safetensors", empty_st, sizeof empty_st - 1);
    expect_fail(d, JOULE_ERR_FORMAT, "no tensors");

    d = bad_dir(NULL); /* a tokenizer beside the weights is found */
    write_bytes(d, "model.safetensors", g_file, g_len);
    write_bytes(d, "tokenizer.json", "{}", 2);
    struct joule_model *m = NULL;
    CHECK_OK(joule_model_load(d, NULL, &m));
    if (m)
        CHECK(joule_model_tokenizer_path(m) &&
              strstr(joule_model_tokenizer_path(m), "tokenizer.json"));
    joule_model_free(m);
}

/* the parser never reads outside its buffer whatever the prefix (ASan watches) */
static void test_parse_every_prefix(void)
{
    if (!load_good()) return;
    int failures = 0;
    for (size_t n = 0; n < g_len; n += (n < 8 + g_hlen + 64 ? 1 : 997)) {
        unsigned char *b = malloc(n ? n : 1);
        memcpy(b, g_file, n);
        struct joule_st_file f;
        failures += joule_safetensors_parse(b, n, "prefix", &f) != JOULE_OK;
        joule_safetensors_clear(&f);
        free(b);
    }
    CHECK(failures > 0);
    struct joule_st_file f;
    CHECK_OK(joule_safetensors_parse(g_file, g_len, "whole", &f));
    CHECK_EQ_INT(f.n_tensors, 28);
    joule_safetensors_clear(&f);
}

/* f16 <-> f32: every finite half survives the round trip; ties go to even */
static void test_half_conversions(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaN */
        if (joule_f32_to_f16(joule_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_NEAR(joule_f16_to_f32(0x3c00), 1.0, 0);
    CHECK_NEAR(joule_f16_to_f32(0x0001), 5.960464477539063e-08, 0); /* smallest subnormal */
    CHECK_EQ_INT(joule_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00);     /* tie: down to even */
    CHECK_EQ_INT(joule_f32_to_f16(1.0f + 3.0f / 2048), 0x3c02);     /* tie: up to even */
    CHECK_EQ_INT(joule_f32_to_f16(70000.0f), 0x7c00);               /* overflow */
    CHECK_NEAR(joule_round_to_dtype(45.254834f, JOULE_DTYPE_BF16), 45.25, 0);
    CHECK_NEAR(joule_bf16_to_f32(0x3f80), 1.0, 0);
}

int main(void)
{
    RUN(test_load_fixtures_both_config_styles);
    RUN(test_family_details);
    RUN(test_convert_at_load);
    RUN(test_paper_model_shapes);
    RUN(test_transformers5_keys);
    RUN(test_bad_files);
    RUN(test_bad_dirs);
    RUN(test_parse_every_prefix);
    RUN(test_half_conversions);
    free(g_file);
    return test_summary();
}
