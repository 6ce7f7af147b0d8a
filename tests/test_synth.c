/* joule synth: checkpoints of every family's tiny shape have the tensor names
 * and shapes transformers uses (the fixtures' reference.json `tensors`, written
 * by transformers itself), valid safetensors and config.json, sane values, a
 * tokenizer of the model's vocabulary size, and are byte-identical for a seed.
 * The study's shapes match data/paper-model-shapes.json field by field and
 * in parameter count. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "joule/model.h"
#include "joule/synth.h"
#include "joule/tokenizer.h"
#include "model/dtype.h"
#include "model/synth_internal.h"
#include "test.h"
#include "util/fileio.h"
#include "util/json.h"

static const struct {
    const char *shape;   /* synth name */
    const char *fixture; /* tests/fixtures/models/<dir> with the same config */
} families[] = {
    {"tiny-gpt2", "gpt2"},         {"tiny-gpt-bigcode", "gpt_bigcode"},
    {"tiny-gpt-neox", "gpt_neox"}, {"tiny-bloom", "bloom"},
    {"tiny-llama", "llama"},       {"tiny-gemma", "gemma"},
    {"tiny-phi", "phi"},
};
#define N_FAMILIES (sizeof families / sizeof families[0])

static char *path2(const char *dir, const char *name)
{
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static char *out_dir(const char *name)
{
    static char buf[8][4096];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", test_tmpdir(), name);
    return buf[k];
}

/* An independent safetensors header reader: returns the header object and the
 * file (caller frees both), checking the container invariants on the way. */
static cJSON *read_safetensors(const char *path, unsigned char **file, size_t *size)
{
    char *data = NULL;
    size_t n = 0;
    *file = NULL;
    if (joule_read_file(path, (size_t)1 << 31, &data, &n) != JOULE_OK) {
        test_fail(__FILE__, __LINE__, "cannot read %s: %s", path, joule_last_error());
        return NULL;
    }
    unsigned char *u = (unsigned char *)data;
    uint64_t hl = 0;
    for (int i = 0; i < 8 && n >= 8; i++)
        hl |= (uint64_t)u[i] << (8 * i);
    CHECK(n >= 8 && hl <= n - 8);
    CHECK_EQ_INT(hl % 8, 0);
    cJSON *h = n >= 8 && hl <= n - 8 ? cJSON_ParseWithLength(data + 8, hl) : NULL;
    CHECK(h != NULL);
    if (!h) {
        free(data);
        return NULL;
    }
    /* data offsets: contiguous, in bounds, sized by dtype x shape, ending at EOF */
    uint64_t data_len = n - 8 - hl, covered = 0;
    int bad = 0;
    cJSON *t;
    cJSON_ArrayForEach(t, h)
    {
        if (!strcmp(t->string, "__metadata__")) continue;
        const char *dt = joule_json_str(t, "dtype", "");
        uint64_t es = !strcmp(dt, "F32") ? 4 : (!strcmp(dt, "F16") || !strcmp(dt, "BF16")) ? 2 : 0;
        cJSON *shape = cJSON_GetObjectItem(t, "shape"),
              *off = cJSON_GetObjectItem(t, "data_offsets");
        uint64_t elems = 1;
        cJSON *d;
        cJSON_ArrayForEach(d, shape) elems *= (uint64_t)d->valuedouble;
        uint64_t b = (uint64_t)cJSON_GetArrayItem(off, 0)->valuedouble;
        uint64_t e = (uint64_t)cJSON_GetArrayItem(off, 1)->valuedouble;
        if (es == 0 || e < b || e > data_len || e - b != elems * es) bad++;
        covered += e - b;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(covered, data_len);
    *file = u;
    *size = n;
    return h;
}

static const float *tensor_f32(cJSON *h, const unsigned char *file, const char *name, size_t *n)
{
    cJSON *t = cJSON_GetObjectItem(h, name);
    if (!t) return NULL;
    cJSON *off = cJSON_GetObjectItem(t, "data_offsets");
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++)
        hl |= (uint64_t)file[i] << (8 * i);
    uint64_t b = (uint64_t)cJSON_GetArrayItem(off, 0)->valuedouble;
    uint64_t e = (uint64_t)cJSON_GetArrayItem(off, 1)->valuedouble;
    *n = (size_t)(e - b) / 4;
    return (const float *)(file + 8 + hl + b);
}

static void test_tiny_shapes_match_transformers(void)
{
    for (size_t f = 0; f < N_FAMILIES; f++) {
        const char *dir = out_dir(families[f].shape);
        CHECK_OK(joule_synth_write(families[f].shape, dir, NULL));
        /* tensors: exactly the names and shapes transformers saved for this config */
        cJSON *ref = NULL;
        char rel[256];
        snprintf(rel, sizeof rel, "models/%s/reference.json", families[f].fixture);
        CHECK_OK(joule_json_load_file(test_fixture(rel), 64 << 20, &ref));
        unsigned char *file = NULL;
        size_t size = 0;
        cJSON *h = read_safetensors(path2(dir, "model.safetensors"), &file, &size);
        if (!ref || !h) {
            cJSON_Delete(ref);
            cJSON_Delete(h);
            free(file);
            continue;
        }
        cJSON *tensors = cJSON_GetObjectItem(ref, "tensors"), *t;
        int missing = 0, n_ref = 0;
        cJSON_ArrayForEach(t, tensors)
        {
            n_ref++;
            cJSON *mine = cJSON_GetObjectItem(h, t->string);
            if (!mine || !cJSON_Compare(cJSON_GetObjectItem(mine, "shape"), t, 1)) {
                fprintf(stderr, "  %s: %s missing or mis-shaped\n", families[f].shape, t->string);
                missing++;
            }
            if (mine) CHECK_EQ_STR(joule_json_str(mine, "dtype", ""), "F32");
        }
        CHECK_EQ_INT(missing, 0);
        CHECK_EQ_INT(cJSON_GetArraySize(h) - 1, n_ref); /* nothing extra besides __metadata__ */
        /* values: norms identity, biases 0, weights ~ N(0, 0.02) */
        size_t n = 0;
        const float *emb = NULL;
        static const char *const emb_names[] = {
            "transformer.wte.weight", "gpt_neox.embed_in.weight",
            "transformer.word_embeddings.weight", "model.embed_tokens.weight"};
        for (size_t k = 0; k < 4 && !emb; k++)
            emb = tensor_f32(h, file, emb_names[k], &n);
        CHECK(emb != NULL);
        if (emb) {
            double s = 0, s2 = 0, mx = 0;
            for (size_t i = 0; i < n; i++) {
                s += emb[i];
                s2 += (double)emb[i] * emb[i];
                if (fabs(emb[i]) > mx) mx = fabs(emb[i]);
            }
            double mean = s / (double)n, sd = sqrt(s2 / (double)n - mean * mean);
            CHECK_NEAR(mean, 0.0, 0.001); /* n = 32768: standard error 1.1e-4 */
            CHECK_NEAR(sd, 0.02, 0.0005);
            CHECK(mx <= 0.0693); /* Irwin-Hall(4) bound: 2 * sqrt(3) * 0.02 */
        }
        const char *norm = f == 5 ? "model.norm.weight" : NULL;
        if (!norm) {
            static const char *const lnf[] = {"transformer.ln_f.weight",
                                              "gpt_neox.final_layer_norm.weight",
                                              "model.norm.weight", "model.final_layernorm.weight"};
            for (size_t k = 0; k < 4 && !norm; k++)
                if (cJSON_GetObjectItem(h, lnf[k])) norm = lnf[k];
        }
        const float *w = norm ? tensor_f32(h, file, norm, &n) : NULL;
        CHECK(w != NULL);
        if (w) CHECK_NEAR(w[0], f == 5 ? 0.0 : 1.0, 0); /* Gemma: (1 + w) with w = 0 */
        cJSON *t2;
        int nonzero_bias = 0;
        cJSON_ArrayForEach(t2, h)
        {
            size_t l = strlen(t2->string);
            if (l > 5 && !strcmp(t2->string + l - 5, ".bias")) {
                const float *b = tensor_f32(h, file, t2->string, &n);
                for (size_t i = 0; b && i < n; i++)
                    nonzero_bias += b[i] != 0.0f;
            }
        }
        CHECK_EQ_INT(nonzero_bias, 0);
        /* config.json: every field of the fixture's config, plus torch_dtype */
        cJSON *cfg = NULL, *fix = NULL;
        CHECK_OK(joule_json_load_file(path2(dir, "config.json"), 1 << 20, &cfg));
        snprintf(rel, sizeof rel, "models/%s/config.json", families[f].fixture);
        CHECK_OK(joule_json_load_file(test_fixture(rel), 1 << 20, &fix));
        cJSON *it;
        int diff = 0;
        cJSON_ArrayForEach(it, fix)
        {
            if (!cJSON_Compare(it, cJSON_GetObjectItem(cfg, it->string), 1)) {
                fprintf(stderr, "  %s: config key %s differs\n", families[f].shape, it->string);
                diff++;
            }
        }
        CHECK_EQ_INT(diff, 0);
        cJSON_Delete(cfg);
        cJSON_Delete(fix);
        cJSON_Delete(ref);
        cJSON_Delete(h);
        free(file);
    }
}

static int files_equal(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int eq = joule_read_file(a, 1u << 30, &x, &nx) == JOULE_OK &&
             joule_read_file(b, 1u << 30, &y, &ny) == JOULE_OK && nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return eq;
}

static void test_same_seed_same_bytes(void)
{
    static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json",
                                        "tokenizer_config.json"};
    struct joule_synth_params p = joule_synth_default_params();
    p.seed = 42;
    p.dtype = JOULE_DTYPE_BF16;
    const char *a = out_dir("seed-a"), *b = out_dir("seed-b"), *c = out_dir("seed-c");
    CHECK_OK(joule_synth_write("tiny-llama", a, &p));
    CHECK_OK(joule_synth_write("tiny-llama", b, &p));
    p.seed = 43;
    CHECK_OK(joule_synth_write("tiny-llama", c, &p));
    for (size_t i = 0; i < 4; i++)
        CHECK(files_equal(path2(a, files[i]), path2(b, files[i])));
    CHECK(!files_equal(path2(a, "model.safetensors"), path2(c, "model.safetensors")));
    CHECK(files_equal(path2(a, "tokenizer.json"), path2(c, "tokenizer.json")));
    /* bf16 halves the data: 2 bytes per parameter */
    struct stat st;
    CHECK_EQ_INT(stat(path2(a, "model.safetensors"), &st), 0);
    CHECK(st.st_size > 2 * joule_synth_param_count("tiny-llama", 0) &&
          st.st_size < 2 * joule_synth_param_count("tiny-llama", 0) + 8192);
}

/* The tokenizer: valid JSON, exactly vocab_size ids 0..V-1 with unique strings,
 * <|endoftext|> at the config's eos id, merges over vocabulary tokens. */
static void check_tokenizer(const char *dir)
{
    cJSON *tok = NULL, *cfg = NULL;
    CHECK_OK(joule_json_load_file(path2(dir, "tokenizer.json"), 64 << 20, &tok));
    CHECK_OK(joule_json_load_file(path2(dir, "config.json"), 1 << 20, &cfg));
    if (!tok || !cfg) goto out;
    int V = (int)joule_json_int(cfg, "vocab_size", -1),
        eos = (int)joule_json_int(cfg, "eos_token_id", -1);
    cJSON *model = cJSON_GetObjectItem(tok, "model");
    CHECK_EQ_STR(joule_json_str(model, "type", ""), "BPE");
    cJSON *vocab = cJSON_GetObjectItem(model, "vocab"), *e;
    CHECK_EQ_INT(cJSON_GetArraySize(vocab), V);
    char *seen = calloc((size_t)V, 1);
    int bad = 0;
    const char *eos_str = NULL;
    cJSON_ArrayForEach(e, vocab)
    {
        int id = (int)e->valuedouble;
        if (id < 0 || id >= V || seen[id] ||
            cJSON_GetObjectItemCaseSensitive(vocab, e->string) != e)
            bad++; /* out of range, repeated id, or repeated token string */
        else
            seen[id] = 1;
        if (id == eos) eos_str = e->string;
    }
    free(seen);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_STR(eos_str, "<|endoftext|>");
    cJSON *added = cJSON_GetObjectItem(tok, "added_tokens");
    int found = 0;
    cJSON_ArrayForEach(e, added) found |=
        joule_json_int(e, "id", -1) == eos &&
        !strcmp(joule_json_str(e, "content", ""), "<|endoftext|>");
    CHECK(found);
    cJSON *merges = cJSON_GetObjectItem(model, "merges");
    int n_merges = cJSON_GetArraySize(merges), bad_merges = 0;
    CHECK(n_merges > 0);
    cJSON_ArrayForEach(e, merges)
    {
        const char *l = cJSON_GetArrayItem(e, 0)->valuestring,
                   *r = cJSON_GetArrayItem(e, 1)->valuestring;
        char joined[1024];
        snprintf(joined, sizeof joined, "%s%s", l, r);
        if (!cJSON_GetObjectItemCaseSensitive(vocab, l) ||
            !cJSON_GetObjectItemCaseSensitive(vocab, r) ||
            !cJSON_GetObjectItemCaseSensitive(vocab, joined))
            bad_merges++;
    }
    CHECK_EQ_INT(bad_merges, 0);
out:
    cJSON_Delete(tok);
    cJSON_Delete(cfg);
}

static void test_tokenizer(void)
{
    for (size_t f = 0; f < N_FAMILIES; f++)
        check_tokenizer(out_dir(families[f].shape));
    /* eos 50256 lies outside codeparrot-small's 32768 ids: config and tokenizer agree on 0 */
    const char *dir = out_dir("cp-tok");
    CHECK_OK(joule_synth_write_tokenizer(dir, 32768, 0, 0, -1, -1, NULL));
    FILE *f = fopen(path2(dir, "config.json"), "w");
    if (f) {
        fputs("{\"vocab_size\": 32768, \"eos_token_id\": 0}", f);
        fclose(f);
    }
    check_tokenizer(dir);
    CHECK(joule_synth_write_tokenizer(dir, 200, 0, 0, -1, -1, NULL) != JOULE_OK);
}

struct pretok {
    char tok[16][32];
    int n;
};

static void collect(const char *s, size_t n, void *ctx)
{
    struct pretok *p = ctx;
    if (p->n < 16 && n < 32) {
        memcpy(p->tok[p->n], s, n);
        p->tok[p->n][n] = '\0';
    }
    p->n++;
}

static void test_pretokenize_and_bpe(void)
{
    /* GPT-2's regex splits it so (worked by hand from the pattern) */
    const char *text = "def foo(x):\n    return x's 12";
    static const char *const want[] = {
        "def", " foo", "(", "x", "):", "\n   ", " return", " x", "'s", " 12"};
    struct pretok got = {.n = 0};
    joule_synth_pretokenize(text, strlen(text), collect, &got);
    CHECK_EQ_INT(got.n, 10);
    for (int i = 0; i < 10 && i < got.n; i++)
        CHECK_EQ_STR(got.tok[i], want[i]);
    /* "ab ab ab abc" pre-tokenizes to ab, " ab" x2, " abc": (a, b) occurs 4 times,
     * then (" ", ab) 3 times */
    struct joule_synth_bpe b;
    const char *t2 = "ab ab ab abc";
    CHECK_OK(joule_synth_learn_bpe(t2, strlen(t2), 10, &b));
    CHECK(b.n_merges >= 2);
    if (b.n_merges >= 2) {
        CHECK_EQ_INT(b.merges[0], 'a');
        CHECK_EQ_INT(b.merges[1], 'b');
        CHECK_EQ_INT(b.merges[2], 256);
        CHECK_EQ_INT(b.merges[3], ' ');
        CHECK_EQ_INT(b.merges[4], 256);
        CHECK_EQ_INT(b.merges[5], 257);
    }
    joule_synth_bpe_free(&b);
}

static void test_half_conversions(void)
{
    /* expected bit patterns from Python's struct 'e' (IEEE binary16) and bfloat16 RNE */
    CHECK_EQ_INT(joule_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_INT(joule_f32_to_f16(0.02f), 0x251f);
    CHECK_EQ_INT(joule_f32_to_f16(-2.5f), 0xc100);
    CHECK_EQ_INT(joule_f32_to_f16(1e-7f), 0x0002); /* subnormal */
    CHECK_EQ_INT(joule_f32_to_f16(6e-5f), 0x03ef);
    CHECK_EQ_INT(joule_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(joule_f32_to_f16(70000.0f), 0x7c00); /* overflow: inf */
    CHECK_EQ_INT(joule_f32_to_f16(1e-8f), 0x0000);
    CHECK_EQ_INT(joule_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(joule_f32_to_bf16(0.02f), 0x3ca4);
    CHECK_EQ_INT(joule_f32_to_bf16(-2.5f), 0xc020);
    CHECK_EQ_INT(joule_f32_to_bf16(1e-7f), 0x33d7);
}

/* The study's shapes: the fields of data/paper-model-shapes.json (bos/eos ids
 * may be rewritten to fit the vocabulary) and its computed parameter counts. */
static void check_loads(const char *dir, int vocab);

static void test_paper_shapes(void)
{
    cJSON *paper = NULL;
    CHECK_OK(
        joule_json_load_file(JOULE_SOURCE_DIR "/data/paper-model-shapes.json", 1 << 20, &paper));
    if (!paper) return;
    cJSON *m;
    int n = 0;
    cJSON_ArrayForEach(m, paper)
    {
        n++;
        CHECK(joule_synth_find_shape(m->string) >= 0);
        const char *slash = strchr(m->string, '/');
        CHECK_EQ_INT(joule_synth_find_shape(slash ? slash + 1 : m->string),
                     joule_synth_find_shape(m->string));
        cJSON *derived = cJSON_GetObjectItem(m, "derived");
        int64_t want = (int64_t)joule_json_num(derived, "param_count_computed", -1);
        int64_t got = joule_synth_param_count(m->string, 0);
        if (got != want)
            fprintf(stderr, "  %s: %lld != %lld\n", m->string, (long long)got, (long long)want);
        CHECK_EQ_INT(got, want);
    }
    CHECK_EQ_INT(n, 12);
    CHECK_EQ_INT(joule_synth_n_shapes(), 12 + N_FAMILIES);
    CHECK_EQ_INT(joule_synth_find_shape("no-such-model"), -1);
    CHECK(joule_synth_write("no-such-model", out_dir("none"), NULL) == JOULE_ERR_NOT_FOUND);
    /* a real shape, one layer: config fields as in the paper's file */
    struct joule_synth_params p = joule_synth_default_params();
    p.n_layers = 1;
    p.dtype = JOULE_DTYPE_F16;
    const char *dir = out_dir("codeparrot-1");
    CHECK_OK(joule_synth_write("codeparrot/codeparrot-small", dir, &p));
    cJSON *cfg = NULL;
    CHECK_OK(joule_json_load_file(path2(dir, "config.json"), 1 << 20, &cfg));
    cJSON *want = cJSON_GetObjectItem(paper, "codeparrot/codeparrot-small"), *it;
    int diff = 0;
    cJSON_ArrayForEach(it, want)
    {
        if (!strcmp(it->string, "derived") || !strcmp(it->string, "source")) continue;
        if (!strcmp(it->string, "n_layer")) {
            CHECK_EQ_INT(joule_json_int(cfg, "n_layer", -1), 1);
        } else if (!strcmp(it->string, "bos_token_id") || !strcmp(it->string, "eos_token_id")) {
            CHECK_EQ_INT(joule_json_int(cfg, it->string, -1), 0); /* 50256 >= vocab 32768 */
        } else if (!cJSON_Compare(it, cJSON_GetObjectItem(cfg, it->string), 1)) {
            fprintf(stderr, "  codeparrot-small: config key %s differs\n", it->string);
            diff++;
        }
    }
    CHECK_EQ_INT(diff, 0);
    CHECK_EQ_STR(joule_json_str(cfg, "torch_dtype", ""), "float16");
    check_tokenizer(dir);
    check_loads(dir, 32768);
    struct stat st;
    CHECK_EQ_INT(stat(path2(dir, "model.safetensors"), &st), 0);
    int64_t params = joule_synth_param_count("codeparrot-small", 1);
    CHECK(st.st_size > 2 * params && st.st_size < 2 * params + 8192);
    unlink(path2(dir, "model.safetensors"));
    cJSON_Delete(cfg);
    cJSON_Delete(paper);
}

static int run_cli(const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' synth %s >/dev/null 2>&1", test_joule_bin(), args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cli(void)
{
    char args[4096];
    snprintf(args, sizeof args, "--like tiny-phi --out '%s' --seed 7 --dtype bf16",
             out_dir("cli-phi"));
    CHECK_EQ_INT(run_cli(args), 0);
    struct joule_synth_params p = joule_synth_default_params();
    p.seed = 7;
    p.dtype = JOULE_DTYPE_BF16;
    CHECK_OK(joule_synth_write("tiny-phi", out_dir("api-phi"), &p));
    CHECK(files_equal(path2(out_dir("cli-phi"), "model.safetensors"),
                      path2(out_dir("api-phi"), "model.safetensors")));
    CHECK_EQ_INT(run_cli("--help"), 0);
    CHECK_EQ_INT(run_cli("--like nope --out /tmp/x"), 2);
    CHECK_EQ_INT(run_cli("--like tiny-phi --out /tmp/x --dtype q4"), 2);
    CHECK_EQ_INT(run_cli("--like tiny-phi"), 2);
}

/* The model loader accepts what synth writes (shapes verified against the config),
 * and the tokenizer module loads the tokenizer and round-trips code through it. */
static void check_loads(const char *dir, int vocab)
{
    struct joule_model *m = NULL;
    struct joule_model_params mp = joule_model_default_params();
    CHECK_OK(joule_model_load(dir, &mp, &m));
    if (m) {
        CHECK_EQ_INT(joule_model_get_config(m)->vocab_size, vocab);
        CHECK(joule_model_tokenizer_path(m) != NULL);
        joule_model_free(m);
    }
    struct joule_tokenizer *t = NULL;
    CHECK_OK(joule_tokenizer_load(path2(dir, "tokenizer.json"), &t));
    if (!t) return;
    CHECK_EQ_INT(joule_tokenizer_vocab_size(t), vocab);
    cJSON *cfg = NULL;
    CHECK_OK(joule_json_load_file(path2(dir, "config.json"), 1 << 20, &cfg));
    CHECK_EQ_INT(joule_tokenizer_eos_id(t), joule_json_int(cfg, "eos_token_id", -2));
    cJSON_Delete(cfg);
    const char *code = "def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n    return a + b\n";
    int32_t ids[256];
    size_t n = 0, nb = 0;
    CHECK_OK(joule_tokenizer_encode(t, code, strlen(code), 0, ids, 256, &n));
    CHECK(n > 0 && n < strlen(code)); /* merges learned from HumanEval shorten code */
    char back[512];
    CHECK_OK(joule_tokenizer_decode(t, ids, n < 256 ? n : 256, 0, back, sizeof back, &nb));
    CHECK_EQ_STR(back, code);
    joule_tokenizer_free(t);
}

static void test_loader_and_tokenizer_accept(void)
{
    for (size_t f = 0; f < N_FAMILIES; f++)
        check_loads(out_dir(families[f].shape), 512);
    /* a real shape with one layer: test_paper_shapes loads codeparrot-small (f16) */
}

int main(void)
{
    /* synth finds data/HumanEval.jsonl.gz here whatever the build directory */
    setenv("JOULE_DATA_DIR", JOULE_SOURCE_DIR "/data", 0);
    RUN(test_tiny_shapes_match_transformers);
    RUN(test_same_seed_same_bytes);
    RUN(test_tokenizer);
    RUN(test_pretokenize_and_bpe);
    RUN(test_half_conversions);
    RUN(test_paper_shapes);
    RUN(test_cli);
    RUN(test_loader_and_tokenizer_accept);
    return test_summary();
}
