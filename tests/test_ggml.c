/* The ggml engine (llama.cpp) on the fixtures: each f32 checkpoint converted to
 * GGUF by joule and run by llama.cpp gives the greedy ids of reference.json
 * (transformers) and prompt logits close to its logits. Skips cleanly when joule
 * is built without -DJOULE_GGML=ON.
 *
 * Logit tolerance: llama.cpp keeps the KV cache in f16 by default (as served) and
 * its CPU kernels sum in other orders, so prompt logits differ from transformers'
 * float32 by up to 1.2e-3 of their scale here (llama: 0.0049 at max |logit| 3.9);
 * 2e-3 of the scale (max |logit|) is far below the smallest greedy top-2 margin
 * in the fixtures (0.047 absolute, logits of scale ~4),
 * so a token flip cannot hide inside it. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "joule/engine.h"
#include "joule/gguf.h"
#include "joule/server.h"
#include "joule/synth.h"
#include "test.h"
#include "util/fileio.h"
#include "util/json.h"

#ifdef JOULE_HAVE_GGML
#include <curl/curl.h>

#include "engine/engine_impl.h"

static const char *const families[] = {"gpt2",  "gpt_bigcode", "gpt_neox", "bloom",
                                       "llama", "gemma",       "phi"};

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static void run_family(const char *fam, enum joule_dtype type, int check_logits)
{
    char rel[256], gguf[4096];
    snprintf(rel, sizeof rel, "models/%s/reference.json", fam);
    cJSON *ref = NULL;
    CHECK_OK(joule_json_load_file(test_fixture(rel), 64 << 20, &ref));
    if (!ref) return;
    snprintf(rel, sizeof rel, "models/%s", fam);
    snprintf(gguf, sizeof gguf, "%s/%s-%d.gguf", test_tmpdir(), fam, (int)type);
    struct joule_gguf_convert_params cp = joule_gguf_convert_default_params();
    cp.type = type;
    CHECK_OK(joule_gguf_convert(test_fixture(rel), gguf, &cp));
    struct joule_engine_params ep = {0}; /* (engine.c defaults need the native engine) */
    ep.engine = "ggml";
    ep.n_threads = 2;
    ep.n_ctx = 64;
    void *impl = NULL;
    struct joule_engine_info info;
    CHECK_OK(joule_engine_ggml.open(gguf, &ep, &impl, &info));
    if (!impl) {
        cJSON_Delete(ref);
        return;
    }
    cJSON *pids = cJSON_GetObjectItem(ref, "prompt_ids"),
          *gids = cJSON_GetObjectItem(ref, "greedy_ids");
    int np = cJSON_GetArraySize(pids), ng = cJSON_GetArraySize(gids), V = info.n_vocab;
    CHECK_EQ_INT(V, 512);
    int32_t *ids = calloc((size_t)(np + ng), sizeof *ids);
    float *logits = calloc((size_t)np * (size_t)V, sizeof *logits);
    for (int i = 0; i < np; i++)
        ids[i] = (int32_t)cJSON_GetArrayItem(pids, i)->valuedouble;
    CHECK_OK(joule_engine_ggml.eval(impl, ids, (size_t)np, 0, logits, 1));
    if (check_logits) {
        cJSON *rl = cJSON_GetObjectItem(ref, "logits"), *x; /* flat [prompt × vocab] */
        double scale = 0, err = 0;
        size_t k = 0;
        CHECK_EQ_INT(cJSON_GetArraySize(rl), np * V);
        cJSON_ArrayForEach(x, rl)
        {
            if (k >= (size_t)np * (size_t)V) break;
            double d = fabs(logits[k] - x->valuedouble);
            if (d > err) err = d;
            if (fabs(x->valuedouble) > scale) scale = fabs(x->valuedouble);
            k++;
        }
        printf("  %-12s max |logit diff| %.3g (scale %.3g)\n", fam, err, scale);
        CHECK(err <= 2e-3 * scale);
    }
    /* greedy decode, one token at a time */
    int n = np, mismatches = 0;
    int32_t next = (int32_t)argmax(logits + (size_t)(np - 1) * (size_t)V, V);
    for (int i = 0; i < ng; i++) {
        int want = (int)cJSON_GetArrayItem(gids, i)->valuedouble;
        if (next != want) {
            fprintf(stderr, "  %s: greedy id %d: %d != %d\n", fam, i, next, want);
            mismatches++;
            break;
        }
        ids[n++] = next;
        if (i + 1 < ng) {
            CHECK_OK(joule_engine_ggml.eval(impl, &next, 1, (size_t)(n - 1), logits, 0));
            next = (int32_t)argmax(logits, V);
        }
    }
    CHECK_EQ_INT(mismatches, 0);
    /* reset: the prompt again gives the same first token */
    CHECK_OK(joule_engine_ggml.reset(impl));
    CHECK_OK(joule_engine_ggml.eval(impl, ids, (size_t)np, 0, logits, 0));
    CHECK_EQ_INT(argmax(logits, V), (int)cJSON_GetArrayItem(gids, 0)->valuedouble);
    joule_engine_ggml.free(impl);
    free(ids);
    free(logits);
    cJSON_Delete(ref);
}

static void test_fixtures_f32(void)
{
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        run_family(families[i], JOULE_DTYPE_F32, 1);
}

/* Half-precision stored weights keep greedy ids on these fixtures (margins >> f16 error). */
static void test_fixture_llama_f16(void)
{
    run_family("llama", JOULE_DTYPE_F16, 0);
}

static void test_codeparrot_flags_unsupported(void)
{
    char out[4096];
    snprintf(out, sizeof out, "%s/cp.gguf", test_tmpdir());
    CHECK(joule_gguf_convert(test_fixture("models/gpt2_codeparrot_flags"), out, NULL) ==
          JOULE_ERR_UNSUPPORTED);
    CHECK(strstr(joule_last_error(), "scale_attn_by_inverse_layer_idx") != NULL);
}

static void test_open_directory_converts(void)
{
    struct joule_engine_params ep = {0}; /* (engine.c defaults need the native engine) */
    ep.n_threads = 1;
    ep.n_ctx = 32;
    void *impl = NULL;
    struct joule_engine_info info;
    /* a copy of the fixture: the converted GGUF is cached beside it */
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/bigcode-dir", test_tmpdir());
    CHECK_OK(joule_mkdirs(dir));
    static const char *const files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char src[512], *data = NULL;
        size_t n = 0;
        snprintf(src, sizeof src, "models/gpt_bigcode/%s", files[i]);
        CHECK_OK(joule_read_file(test_fixture(src), 1 << 24, &data, &n));
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        CHECK_OK(joule_write_file_atomic(path, data, n));
        free(data);
    }
    CHECK_OK(joule_engine_ggml.open(dir, &ep, &impl, &info));
    snprintf(path, sizeof path, "%s/model.joule.gguf", dir);
    CHECK(joule_is_file(path));
    if (impl) {
        CHECK_EQ_STR(info.engine, "ggml");
        CHECK_EQ_STR(info.arch, "starcoder");
        CHECK_EQ_INT(info.eos_id, 0); /* from config.json, through the "none" vocabulary */
        CHECK(info.n_ctx >= 32);      /* llama.cpp rounds the context up to 256 */
        joule_engine_ggml.free(impl);
    }
    CHECK(joule_engine_ggml.open("/nonexistent/model", &ep, &impl, &info) != JOULE_OK);
}
/* Synthesized checkpoints (with their byte-level BPE tokenizer in the GGUF):
 * llama.cpp's last-token logits against the native engine's, relative to their
 * scale (2e-3, as above: f16 KV cache). */
static void test_synth_shapes_native_vs_ggml(void)
{
    static const char *const shapes[] = {"tiny-gpt2",  "tiny-gpt-bigcode", "tiny-gpt-neox",
                                         "tiny-bloom", "tiny-llama",       "tiny-gemma",
                                         "tiny-phi"};
    const int32_t prompt[] = {100, 200, 300, 17, 42, 7, 256, 511};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), shapes[i]);
        struct joule_synth_params sp = joule_synth_default_params();
        sp.seed = 5;
        CHECK_OK(joule_synth_write(shapes[i], dir, &sp));
        float logits[2][512];
        int ok = 1;
        for (int k = 0; k < 2; k++) {
            struct joule_engine_params ep = joule_engine_default_params();
            ep.engine = k ? "ggml" : "native";
            ep.n_threads = 1;
            ep.n_ctx = 64;
            struct joule_engine *e = NULL;
            CHECK_OK(joule_engine_open(dir, &ep, &e));
            if (!e) {
                ok = 0;
                continue;
            }
            CHECK_EQ_INT(joule_engine_get_info(e)->n_vocab, 512);
            CHECK_OK(joule_engine_eval(e, prompt, 8, logits[k], 0));
            joule_engine_free(e);
        }
        if (!ok) continue;
        double err = 0, scale = 0;
        for (int j = 0; j < 512; j++) {
            double d = fabs(logits[0][j] - logits[1][j]);
            if (d > err) err = d;
            if (fabs(logits[0][j]) > scale) scale = fabs(logits[0][j]);
        }
        printf("  %-18s native vs ggml: max |diff| %.3g (scale %.3g)\n", shapes[i], err, scale);
        CHECK(scale > 0 && err <= 2e-3 * scale);
    }
}

/* A real shape (one layer): tiny_starcoder_py in bf16 runs under llama.cpp. */
static void test_real_shape_one_layer(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tiny_starcoder_py-1", test_tmpdir());
    struct joule_synth_params sp = joule_synth_default_params();
    sp.n_layers = 1;
    sp.dtype = JOULE_DTYPE_BF16;
    CHECK_OK(joule_synth_write("bigcode/tiny_starcoder_py", dir, &sp));
    struct joule_engine_params ep = joule_engine_default_params();
    ep.engine = "ggml";
    ep.n_threads = 1;
    ep.n_ctx = 256;
    struct joule_engine *e = NULL;
    CHECK_OK(joule_engine_open(dir, &ep, &e));
    if (!e) return;
    const struct joule_engine_info *info = joule_engine_get_info(e);
    CHECK_EQ_INT(info->n_vocab, 49152);
    CHECK_EQ_STR(info->dtype, "bf16");
    float *logits = malloc(49152 * sizeof *logits);
    const int32_t prompt[] = {1, 2, 3, 4000, 49151};
    CHECK_OK(joule_engine_eval(e, prompt, 5, logits, 0));
    int finite = 1;
    for (int j = 0; j < 49152; j++)
        finite &= isfinite(logits[j]);
    CHECK(finite);
    free(logits);
    joule_engine_free(e);
    /* 200 MB: do not leave them in the temp dir */
    static const char *const big[] = {"model.safetensors", "model.joule.gguf"};
    for (int i = 0; i < 2; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, big[i]);
        unlink(p);
    }
}
struct body {
    char buf[8192];
    size_t n;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *user)
{
    struct body *b = user;
    size_t k = size * nmemb;
    if (b->n + k < sizeof b->buf) {
        memcpy(b->buf + b->n, p, k);
        b->n += k;
        b->buf[b->n] = '\0';
    }
    return k;
}

static long http(int port, const char *path, const char *post, struct body *b)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *h = curl_easy_init();
    long code = 0;
    b->n = 0;
    b->buf[0] = '\0';
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    if (post) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    }
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return code;
}

/* joule serve's API over the ggml engine: the same routes and, for a greedy
 * request, the same completion as over the native engine. */
static void test_server_same_api(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/serve-model", test_tmpdir());
    CHECK_OK(joule_synth_write("tiny-gpt-neox", dir, NULL));
    const char *req = "{\"prompt\": \"def add(a, b):\", \"max_tokens\": 8, \"temperature\": 0}";
    char text[2][512] = {"", ""};
    long usage[2] = {-1, -2};
    for (int k = 0; k < 2; k++) {
        struct joule_engine_params ep = joule_engine_default_params();
        ep.engine = k ? "ggml" : "native";
        ep.n_threads = 1;
        ep.n_ctx = 64;
        struct joule_engine *e = NULL;
        CHECK_OK(joule_engine_open(dir, &ep, &e));
        if (!e) continue;
        struct joule_server_params sp = joule_server_default_params();
        sp.port = 0;
        sp.model_name = "m";
        struct joule_server *s = NULL;
        CHECK_OK(joule_server_start(e, &sp, &s));
        if (s) {
            int port = joule_server_port(s);
            struct body b;
            CHECK_EQ_INT(http(port, "/health", NULL, &b), 200);
            CHECK_EQ_INT(http(port, "/v1/models", NULL, &b), 200);
            CHECK(strstr(b.buf, "\"m\"") != NULL);
            CHECK_EQ_INT(http(port, "/v1/completions", req, &b), 200);
            cJSON *j = cJSON_Parse(b.buf);
            CHECK(j != NULL);
            const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
            const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(ch, "text"));
            snprintf(text[k], sizeof text[k], "%s", t ? t : "(none)");
            usage[k] =
                (long)joule_json_int(cJSON_GetObjectItem(j, "usage"), "completion_tokens", -3);
            cJSON_Delete(j);
            CHECK_EQ_INT(http(port, "/v1/completions", "{\"prompt\": 5}", &b), 400);
            joule_server_stop(s);
            joule_server_free(s);
        }
        joule_engine_free(e);
    }
    CHECK_EQ_STR(text[1], text[0]);
    CHECK_EQ_INT(usage[1], usage[0]);
    CHECK_EQ_INT(usage[0], 8);
}
#endif

int main(void)
{
    /* synth finds data/HumanEval.jsonl.gz here whatever the build directory */
    setenv("JOULE_DATA_DIR", JOULE_SOURCE_DIR "/data", 0);
#ifdef JOULE_HAVE_GGML
    RUN(test_fixtures_f32);
    RUN(test_fixture_llama_f16);
    RUN(test_codeparrot_flags_unsupported);
    RUN(test_open_directory_converts);
    RUN(test_synth_shapes_native_vs_ggml);
    RUN(test_real_shape_one_layer);
    RUN(test_server_same_api);
#else
    test_skip("joule built without -DJOULE_GGML=ON");
#endif
    return test_summary();
}
