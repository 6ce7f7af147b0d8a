/* GGUF: the converter's output, read back by joule's reader, holds each source
 * tensor (from joule_model_load) in the layout llama.cpp expects — Conv1D
 * transposed, fused QKV regrouped, llama q/k permuted, Gemma norms + 1 — checked
 * element by element against the source; half and q8_0 within their rounding;
 * tokenizer metadata; and the reader refuses corrupt files without crashing.
 * (That llama.cpp itself computes the reference ids from these files is
 * test_ggml, built with -DJOULE_GGML=ON.) */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "joule/gguf.h"
#include "joule/model.h"
#include "joule/synth.h"
#include "model/dtype.h"
#include "model/synth_internal.h"
#include "test.h"
#include "util/fileio.h"
#include "util/json.h"

static const char *convert_fixture(const char *fam, enum joule_dtype type)
{
    static char out[4096];
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", fam);
    snprintf(out, sizeof out, "%s/%s-%s.gguf", test_tmpdir(), fam, joule_dtype_name(type));
    struct joule_gguf_convert_params p = joule_gguf_convert_default_params();
    p.type = type;
    CHECK_OK(joule_gguf_convert(test_fixture(rel), out, &p));
    return out;
}

static float src_f(const struct joule_tensor *t, size_t i)
{
    const float *f = t->data;
    return f[i];
}

/* Element (col, row) of a GGUF f32 tensor (ne0 = columns). */
static float g_at(const struct joule_gguf_tensor *t, uint64_t col, uint64_t row)
{
    const float *f = t->data;
    return f[row * t->ne[0] + col];
}

struct pair {
    struct joule_model *m;
    struct joule_gguf *g;
};

static int open_pair(const char *fam, enum joule_dtype type, struct pair *p)
{
    const char *gg = convert_fixture(fam, type);
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", fam);
    struct joule_model_params mp = joule_model_default_params();
    p->m = NULL;
    p->g = NULL;
    CHECK_OK(joule_model_load(test_fixture(rel), &mp, &p->m));
    CHECK_OK(joule_gguf_open(gg, &p->g));
    return p->m && p->g;
}

static void close_pair(struct pair *p)
{
    joule_model_free(p->m);
    joule_gguf_free(p->g);
}

static void check_arch(const struct joule_gguf *g, const char *want)
{
    char buf[64] = "";
    long k = joule_gguf_find_key(g, "general.architecture");
    CHECK(k >= 0);
    if (k >= 0) joule_gguf_kv_str(g, (size_t)k, buf, sizeof buf);
    CHECK_EQ_STR(buf, want);
}

static int64_t key_int(const struct joule_gguf *g, const char *key)
{
    int64_t v = -1;
    long k = joule_gguf_find_key(g, key);
    if (k < 0 || joule_gguf_kv_int(g, (size_t)k, &v)) return -1;
    return v;
}

static void test_gpt2_conv1d_transposed(void)
{
    struct pair p;
    if (!open_pair("gpt2", JOULE_DTYPE_F32, &p)) goto out;
    check_arch(p.g, "gpt2");
    CHECK_EQ_INT(joule_gguf_n_tensors(p.g), 28); /* tied: no output.weight */
    const struct joule_tensor *s = joule_model_tensor(p.m, "transformer.h.1.attn.c_attn.weight");
    const struct joule_gguf_tensor *t = joule_gguf_find_tensor(p.g, "blk.1.attn_qkv.weight");
    CHECK(s && t);
    if (!s || !t) goto out;
    CHECK_EQ_INT(t->ne[0], 64); /* [in = 64, out = 192] in ggml order: rows of 64 inputs */
    CHECK_EQ_INT(t->ne[1], 192);
    int bad = 0;
    for (uint64_t o = 0; o < 192; o++)
        for (uint64_t k = 0; k < 64; k++)
            bad += g_at(t, k, o) != src_f(s, k * 192 + o);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(key_int(p.g, "gpt2.context_length"), 128);
    CHECK_EQ_INT(key_int(p.g, "gpt2.feed_forward_length"), 256);
out:
    close_pair(&p);
}

/* GPT-NeoX and Bloom: rows (head h, part q/k/v, dim d) -> (part, head, dim). */
static void check_qkv(const char *fam, const char *arch, const char *src, const char *dst,
                      const char *bias_src, const char *bias_dst)
{
    struct pair p;
    if (!open_pair(fam, JOULE_DTYPE_F32, &p)) goto out;
    check_arch(p.g, arch);
    const struct joule_tensor *s = joule_model_tensor(p.m, src);
    const struct joule_gguf_tensor *t = joule_gguf_find_tensor(p.g, dst);
    const struct joule_tensor *sb = joule_model_tensor(p.m, bias_src);
    const struct joule_gguf_tensor *tb = joule_gguf_find_tensor(p.g, bias_dst);
    CHECK(s && t && sb && tb);
    if (!s || !t || !sb || !tb) goto out;
    const uint64_t heads = 4, hd = 16, h = 64;
    int bad = 0;
    for (uint64_t part = 0; part < 3; part++)
        for (uint64_t hh = 0; hh < heads; hh++)
            for (uint64_t d = 0; d < hd; d++) {
                uint64_t out_row = part * h + hh * hd + d, src_row = hh * 3 * hd + part * hd + d;
                for (uint64_t k = 0; k < h; k++)
                    bad += g_at(t, k, out_row) != src_f(s, src_row * h + k);
                bad += ((const float *)tb->data)[out_row] != src_f(sb, src_row);
            }
    CHECK_EQ_INT(bad, 0);
out:
    close_pair(&p);
}

static void test_neox_bloom_qkv_regrouped(void)
{
    check_qkv("gpt_neox", "gptneox", "gpt_neox.layers.0.attention.query_key_value.weight",
              "blk.0.attn_qkv.weight", "gpt_neox.layers.0.attention.query_key_value.bias",
              "blk.0.attn_qkv.bias");
    check_qkv("bloom", "bloom", "transformer.h.1.self_attention.query_key_value.weight",
              "blk.1.attn_qkv.weight", "transformer.h.1.self_attention.query_key_value.bias",
              "blk.1.attn_qkv.bias");
    struct pair p;
    if (open_pair("gpt_neox", JOULE_DTYPE_F32, &p)) {
        CHECK_EQ_INT(key_int(p.g, "gptneox.rope.dimension_count"), 4); /* 0.25 × 16 */
        CHECK_EQ_INT(key_int(p.g, "gptneox.use_parallel_residual"), 1);
        CHECK(joule_gguf_find_tensor(p.g, "output.weight") != NULL); /* untied embed_out */
    }
    close_pair(&p);
    if (open_pair("bloom", JOULE_DTYPE_F32, &p))
        CHECK(joule_gguf_find_tensor(p.g, "token_embd_norm.bias") != NULL);
    close_pair(&p);
}

/* Llama: per head, rows (half j, i) -> (i, j): interleaved rope pairs. */
static void test_llama_qk_permuted(void)
{
    struct pair p;
    if (!open_pair("llama", JOULE_DTYPE_F32, &p)) goto out;
    check_arch(p.g, "llama");
    static const struct {
        const char *src, *dst;
        uint64_t heads;
    } qk[] = {{"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight", 4},
              {"model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight", 2}};
    for (int w = 0; w < 2; w++) {
        const struct joule_tensor *s = joule_model_tensor(p.m, qk[w].src);
        const struct joule_gguf_tensor *t = joule_gguf_find_tensor(p.g, qk[w].dst);
        CHECK(s && t);
        if (!s || !t) continue;
        const uint64_t hd = 16, h = 64;
        int bad = 0;
        for (uint64_t hh = 0; hh < qk[w].heads; hh++)
            for (uint64_t i = 0; i < hd / 2; i++)
                for (uint64_t j = 0; j < 2; j++)
                    for (uint64_t k = 0; k < h; k++)
                        bad += g_at(t, k, hh * hd + 2 * i + j) !=
                               src_f(s, (hh * hd + j * hd / 2 + i) * h + k);
        CHECK_EQ_INT(bad, 0);
    }
    CHECK_EQ_INT(key_int(p.g, "llama.attention.head_count_kv"), 2);
    CHECK_EQ_INT(key_int(p.g, "llama.rope.dimension_count"), 16);
    CHECK(joule_gguf_find_tensor(p.g, "output.weight") != NULL);
out:
    close_pair(&p);
}

static void test_gemma_norms_plus_one(void)
{
    struct pair p;
    if (!open_pair("gemma", JOULE_DTYPE_F32, &p)) goto out;
    check_arch(p.g, "gemma");
    static const char *const pairs[][2] = {
        {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"},
        {"model.layers.1.post_attention_layernorm.weight", "blk.1.ffn_norm.weight"},
        {"model.norm.weight", "output_norm.weight"}};
    for (int i = 0; i < 3; i++) {
        const struct joule_tensor *s = joule_model_tensor(p.m, pairs[i][0]);
        const struct joule_gguf_tensor *t = joule_gguf_find_tensor(p.g, pairs[i][1]);
        CHECK(s && t);
        if (!s || !t) continue;
        int bad = 0;
        for (size_t k = 0; k < 64; k++)
            bad += ((const float *)t->data)[k] != src_f(s, k) + 1.0f;
        CHECK_EQ_INT(bad, 0);
    }
    /* head_dim 32 with hidden 64 / 4 heads = 16: the key length says so */
    CHECK_EQ_INT(key_int(p.g, "gemma.attention.key_length"), 32);
    CHECK(joule_gguf_find_tensor(p.g, "output.weight") == NULL); /* tied */
out:
    close_pair(&p);
}

static void test_phi_and_starcoder(void)
{
    struct pair p;
    if (open_pair("phi", JOULE_DTYPE_F32, &p)) { /* sharded source */
        check_arch(p.g, "phi2");
        CHECK(joule_gguf_find_tensor(p.g, "output.bias") != NULL);
        CHECK(joule_gguf_find_tensor(p.g, "blk.1.attn_q.bias") != NULL);
        CHECK_EQ_INT(key_int(p.g, "phi2.rope.dimension_count"), 6); /* int(0.4 × 16) */
    }
    close_pair(&p);
    if (open_pair("gpt_bigcode", JOULE_DTYPE_F32, &p)) {
        check_arch(p.g, "starcoder");
        const struct joule_gguf_tensor *t = joule_gguf_find_tensor(p.g, "blk.0.attn_qkv.weight");
        CHECK(t && t->ne[0] == 64 && t->ne[1] == 96); /* multi-query: h + 2 × head_dim */
        CHECK_EQ_INT(key_int(p.g, "starcoder.attention.head_count_kv"), 1);
    }
    close_pair(&p);
}

static void test_half_and_q8_0(void)
{
    struct pair p;
    for (int k = 0; k < 3; k++) {
        enum joule_dtype type = k == 0   ? JOULE_DTYPE_F16
                                : k == 1 ? JOULE_DTYPE_BF16
                                         : JOULE_DTYPE_Q8_0;
        if (!open_pair("llama", type, &p)) {
            close_pair(&p);
            continue;
        }
        const struct joule_tensor *s = joule_model_tensor(p.m, "model.embed_tokens.weight");
        const struct joule_gguf_tensor *t = joule_gguf_find_tensor(p.g, "token_embd.weight");
        const struct joule_gguf_tensor *n = joule_gguf_find_tensor(p.g, "blk.0.attn_norm.weight");
        CHECK(s && t && n);
        if (s && t && n) {
            CHECK_EQ_INT(n->type, JOULE_GGML_F32); /* 1-D tensors stay f32 */
            CHECK_EQ_INT(t->type, k == 0   ? JOULE_GGML_F16
                                  : k == 1 ? JOULE_GGML_BF16
                                           : JOULE_GGML_Q8_0);
            CHECK_EQ_INT(key_int(p.g, "general.file_type"), k == 0 ? 1 : k == 1 ? 32 : 7);
            const unsigned char *d = t->data;
            int bad = 0;
            for (size_t i = 0; i < 512 * 64; i++) {
                float x = src_f(s, i), y, tol;
                if (k < 2) {
                    uint16_t h;
                    memcpy(&h, d + 2 * i, 2);
                    uint16_t want = k == 0 ? joule_f32_to_f16(x) : joule_f32_to_bf16(x);
                    bad += h != want; /* round to nearest even, bit for bit */
                    continue;
                }
                const unsigned char *blk = d + (i / 32) * 34;
                uint16_t dh;
                memcpy(&dh, blk, 2);
                float scale = joule_f16_to_f32(dh);
                y = scale * (float)(int8_t)blk[2 + i % 32];
                /* half a quantum, plus the f16 rounding of d (2^-11 relative) times |q| <= 127 */
                tol = scale * (0.5f + 127.0f / 2048.0f) + 1e-7f;
                bad += fabsf(x - y) > tol;
            }
            CHECK_EQ_INT(bad, 0);
        }
        close_pair(&p);
    }
}

/* "as stored": a bf16 checkpoint stays bf16 (file type 32), its 1-D tensors f32 */
static void test_as_stored(void)
{
    char out[4096];
    snprintf(out, sizeof out, "%s/stored.gguf", test_tmpdir());
    struct joule_gguf_convert_params p = joule_gguf_convert_default_params();
    p.type = JOULE_DTYPE_COUNT;
    CHECK_OK(joule_gguf_convert(test_fixture("models/llama_bfloat16"), out, &p));
    struct joule_gguf *g = NULL;
    CHECK_OK(joule_gguf_open(out, &g));
    if (!g) return;
    CHECK_EQ_INT(key_int(g, "general.file_type"), 32);
    const struct joule_gguf_tensor *t = joule_gguf_find_tensor(g, "blk.0.ffn_up.weight");
    CHECK(t && t->type == JOULE_GGML_BF16);
    t = joule_gguf_find_tensor(g, "output_norm.weight");
    CHECK(t && t->type == JOULE_GGML_F32);
    joule_gguf_free(g);
}

static void test_tokenizer_metadata(void)
{
    char dir[4096], gg[4200];
    snprintf(dir, sizeof dir, "%s/synth-neox", test_tmpdir());
    CHECK_OK(joule_synth_write("tiny-gpt-neox", dir, NULL));
    snprintf(gg, sizeof gg, "%s/m.gguf", dir);
    CHECK_OK(joule_gguf_convert(dir, gg, NULL));
    struct joule_gguf *g = NULL;
    CHECK_OK(joule_gguf_open(gg, &g));
    if (!g) return;
    char buf[64] = "";
    long k = joule_gguf_find_key(g, "tokenizer.ggml.model");
    CHECK(k >= 0 && !joule_gguf_kv_str(g, (size_t)k, buf, sizeof buf));
    CHECK_EQ_STR(buf, "gpt2");
    k = joule_gguf_find_key(g, "tokenizer.ggml.tokens");
    CHECK(k >= 0 && joule_gguf_kv_array_len(g, (size_t)k) == 512);
    cJSON *tok = NULL;
    char tp[4200];
    snprintf(tp, sizeof tp, "%s/tokenizer.json", dir);
    CHECK_OK(joule_json_load_file(tp, 1 << 24, &tok));
    k = joule_gguf_find_key(g, "tokenizer.ggml.merges");
    CHECK(k >= 0);
    if (tok && k >= 0)
        CHECK_EQ_INT(
            joule_gguf_kv_array_len(g, (size_t)k),
            cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(tok, "model"), "merges")));
    CHECK_EQ_INT(key_int(g, "tokenizer.ggml.eos_token_id"), 0);
    cJSON_Delete(tok);
    joule_gguf_free(g);
    /* without tokenizer.json: the "none" vocabulary with the model's size */
    struct pair p;
    if (open_pair("bloom", JOULE_DTYPE_F32, &p))
        CHECK_EQ_INT(key_int(p.g, "bloom.vocab_size"), 512);
    close_pair(&p);
}

static void test_reader_rejects_corrupt(void)
{
    const char *gg = convert_fixture("gpt_bigcode", JOULE_DTYPE_F32);
    char *data = NULL;
    size_t n = 0;
    CHECK_OK(joule_read_file(gg, 1 << 24, &data, &n));
    if (!data) return;
    struct joule_gguf *g = NULL;
    CHECK_OK(joule_gguf_parse(data, n, &g));
    if (!g) { /* the edits below need a whole, valid file */
        free(data);
        return;
    }
    const struct joule_gguf_tensor *t = joule_gguf_tensor_at(g, 0);
    size_t header_end = (size_t)((const char *)t->data - data);
    joule_gguf_free(g);
    /* every truncation of the header and tables fails cleanly */
    int accepted = 0;
    for (size_t len = 0; len < header_end && len < n; len++) {
        g = NULL;
        if (joule_gguf_parse(data, len, &g) == JOULE_OK) accepted++;
        joule_gguf_free(g);
    }
    CHECK_EQ_INT(accepted, 0);
    g = NULL;
    CHECK(joule_gguf_parse(data, n - 1, &g) == JOULE_ERR_FORMAT); /* last tensor cut */
    /* bad magic, unknown version, absurd counts */
    char *copy = malloc(n);
    memcpy(copy, data, n);
    copy[0] = 'X';
    CHECK(joule_gguf_parse(copy, n, &g) == JOULE_ERR_FORMAT);
    memcpy(copy, data, n);
    copy[4] = 1;
    CHECK(joule_gguf_parse(copy, n, &g) == JOULE_ERR_UNSUPPORTED);
    memcpy(copy, data, n);
    memset(copy + 16, 0xff, 8); /* n_kv */
    CHECK(joule_gguf_parse(copy, n, &g) == JOULE_ERR_FORMAT);
    CHECK(g == NULL);
    free(copy);
    free(data);
}

/* A hand-built file: every scalar type, a u64 above INT64_MAX, nested arrays. */
static size_t put(unsigned char *b, size_t o, const void *v, size_t n)
{
    memcpy(b + o, v, n);
    return o + n;
}

static size_t put_key(unsigned char *b, size_t o, const char *key, uint32_t type)
{
    uint64_t l = strlen(key);
    o = put(b, o, &l, 8);
    o = put(b, o, key, l);
    return put(b, o, &type, 4);
}

static void test_reader_value_types(void)
{
    unsigned char b[512] = "GGUF";
    uint32_t u32 = 3;
    uint64_t u64 = 0, big = 0x8000000000000005ull;
    size_t o = put(b, 4, &u32, 4);
    o = put(b, o, &u64, 8); /* no tensors */
    u64 = 4;
    o = put(b, o, &u64, 8);
    o = put_key(b, o, "big", JOULE_GGUF_UINT64);
    o = put(b, o, &big, 8);
    o = put_key(b, o, "small", JOULE_GGUF_UINT64);
    u64 = 42;
    o = put(b, o, &u64, 8);
    o = put_key(b, o, "neg", JOULE_GGUF_INT16);
    int16_t i16 = -300;
    o = put(b, o, &i16, 2);
    o = put_key(b, o, "nested", JOULE_GGUF_ARRAY); /* [[7, 8]] of u16 */
    u32 = JOULE_GGUF_ARRAY;
    o = put(b, o, &u32, 4);
    u64 = 1;
    o = put(b, o, &u64, 8);
    u32 = JOULE_GGUF_UINT16;
    o = put(b, o, &u32, 4);
    u64 = 2;
    o = put(b, o, &u64, 8);
    uint16_t e[2] = {7, 8};
    o = put(b, o, e, 4);
    struct joule_gguf *g = NULL;
    CHECK_OK(joule_gguf_parse(b, o, &g));
    if (!g) return;
    int64_t v = 0;
    double d = 0;
    char buf[128];
    /* a u64 that does not fit an int64 is not returned as a negative number */
    CHECK_EQ_INT(joule_gguf_kv_int(g, 0, &v), -1);
    CHECK_OK(joule_gguf_kv_float(g, 0, &d));
    CHECK_NEAR(d, 9223372036854775813.0, 1e4);
    CHECK_EQ_STR(joule_gguf_kv_format(g, 0, buf, sizeof buf), "9223372036854775813");
    CHECK_EQ_INT(joule_gguf_kv_int(g, 1, &v), 0);
    CHECK_EQ_INT(v, 42);
    CHECK_EQ_INT(joule_gguf_kv_int(g, 2, &v), 0);
    CHECK_EQ_INT(v, -300);
    CHECK_EQ_INT(joule_gguf_kv_array_type(g, 3), JOULE_GGUF_ARRAY);
    CHECK_EQ_INT(joule_gguf_kv_array_len(g, 3), 1);
    CHECK_EQ_STR(joule_gguf_kv_format(g, 3, buf, sizeof buf), "[array × 1]");
    joule_gguf_free(g);
    /* every truncation fails cleanly */
    for (size_t len = 0; len < o; len++) {
        g = NULL;
        CHECK(joule_gguf_parse(b, len, &g) != JOULE_OK && g == NULL);
    }
}

static void test_inspect_cli(void)
{
    const char *gg = convert_fixture("phi", JOULE_DTYPE_F32);
    char cmd[8192], out[4200];
    snprintf(out, sizeof out, "%s/inspect.txt", test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' inspect '%s' > '%s'", test_joule_bin(), gg, out);
    CHECK_EQ_INT(system(cmd), 0);
    char *text = NULL;
    size_t n = 0;
    CHECK_OK(joule_read_file(out, 1 << 20, &text, &n));
    if (text) {
        CHECK(strstr(text, "general.architecture") && strstr(text, "\"phi2\""));
        CHECK(strstr(text, "blk.1.ffn_down.weight") != NULL);
        free(text);
    }
    snprintf(cmd, sizeof cmd, "'%s' inspect /nonexistent.gguf 2>/dev/null", test_joule_bin());
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
}

int main(void)
{
    /* synth finds data/HumanEval.jsonl.gz here whatever the build directory */
    setenv("JOULE_DATA_DIR", JOULE_SOURCE_DIR "/data", 0);
    RUN(test_gpt2_conv1d_transposed);
    RUN(test_neox_bloom_qkv_regrouped);
    RUN(test_llama_qk_permuted);
    RUN(test_gemma_norms_plus_one);
    RUN(test_phi_and_starcoder);
    RUN(test_half_and_q8_0);
    RUN(test_as_stored);
    RUN(test_tokenizer_metadata);
    RUN(test_reader_rejects_corrupt);
    RUN(test_reader_value_types);
    RUN(test_inspect_cli);
    return test_summary();
}
