/* The native engine's CUDA provider against its CPU provider and the
 * transformers references, on every fixture checkpoint.
 *
 * Tolerance: |logit_cuda - logit_cpu| <= 1e-3 * max(1, max |logit_cpu|) per
 * row. Both providers widen the same stored weights to float32 and accumulate
 * in float32 with plain FMAs (the CUDA provider uses no tensor cores, so no
 * TF32); what differs is the summation order and the last-ulp behaviour of
 * expf/tanhf/cosf, which moves float32 logits by ~1e-5 of their scale on these
 * 2-layer models. 1e-3 leaves two orders of margin while still catching any
 * real layout or formula error (those move logits by O(1)). Greedy ids must be
 * identical to reference.json: the fixtures' smallest top-2 margin is 0.012,
 * far above the differences allowed here.
 *
 * Without a CUDA device (or in a build without CUDA) the GPU checks skip; the same
 * checks run in builds without CUDA as test_cuda_emu, on the provider's source
 * compiled for the CPU emulator (tests/cuda_emu.cmake). */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "engine/engine_impl.h"
#include "engine/native/cpu/forward.h"
#include "engine/native/weights.h"
#include "joule/model.h"
#include "test.h"
#include "util/json.h"
#ifdef JOULE_HAVE_CUDA
#include "engine/native/cuda/cuda_provider.h"
#endif

static void test_probe_reports_a_reason(void)
{
    enum joule_status s = joule_engine_native.probe("cuda");
#ifdef JOULE_HAVE_CUDA
    if (s == JOULE_OK) {
        CHECK_EQ_INT(joule_cuda_probe(), JOULE_OK);
        return;
    }
#endif
    /* no device here, or not built in: unavailable with a reason, never a crash */
    CHECK_EQ_INT(s, JOULE_ERR_UNAVAILABLE);
    CHECK(strlen(joule_last_error()) > 0);
}

#ifdef JOULE_HAVE_CUDA

static const char *const fixtures[] = {
    "gpt2",  "gpt2_codeparrot_flags", "gpt_bigcode",    "gpt_neox", "bloom",
    "llama", "llama_float16",         "llama_bfloat16", "gemma",    "phi",
};

static int ids_of(const cJSON *root, const char *key, int32_t *out, int cap)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        if (n < cap) out[n++] = (int32_t)it->valuedouble;
    }
    return n;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* max |a-b| over n floats, and the scale max(1, max |b|) */
static double max_err(const float *a, const float *b, size_t n, double *scale)
{
    double e = 0.0, s = 1.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= e)) e = d; /* NaN counts as an error */
        if (fabs((double)b[i]) > s) s = fabs((double)b[i]);
    }
    *scale = s;
    return e;
}

#define TOL 1e-3

static void check_fixture(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", name);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_fixture(rel));
    char refpath[4200];
    snprintf(refpath, sizeof refpath, "%s/reference.json", dir);
    cJSON *ref = NULL;
    CHECK_OK(joule_json_load_file(refpath, 1 << 24, &ref));
    if (!ref) return;
    int32_t prompt[256], greedy[64];
    int np = ids_of(ref, "prompt_ids", prompt, 256);
    int ng = ids_of(ref, "greedy_ids", greedy, 64);
    cJSON_Delete(ref);
    CHECK(np > 1 && ng > 0);
    if (np <= 1 || ng <= 0) return;

    struct joule_model *m = NULL;
    CHECK_OK(joule_model_load(dir, NULL, &m));
    if (!m) return;
    /* the CUDA provider reads the weights as loaded (GPT-2's Conv1D layout included),
     * the CPU provider a copy with Conv1D transposed, as joule_engine_open gives each */
    struct jn_weights w, w_cpu;
    CHECK_OK(jn_weights_init(&w, m));
    CHECK_OK(jn_weights_init(&w_cpu, m));
    CHECK_OK(jn_weights_transpose_conv1d(&w_cpu));
    const struct joule_model_config *cfg = joule_model_get_config(m);
    int V = cfg->vocab_size, n_ctx = cfg->max_positions;
    struct jn_cpu cpu;
    CHECK_OK(jn_cpu_init(&cpu, &w_cpu, 2, n_ctx));
    void *gpu = NULL, *gpu_nograph = NULL;
    CHECK_OK(joule_cuda_open(&w, n_ctx, &gpu));
    setenv("JOULE_CUDA_GRAPHS", "0", 1);
    CHECK_OK(joule_cuda_open(&w, n_ctx, &gpu_nograph));
    unsetenv("JOULE_CUDA_GRAPHS");
    float *lc = malloc((size_t)np * V * sizeof(float));
    float *lg = malloc((size_t)np * V * sizeof(float));
    float *lg2 = malloc((size_t)np * V * sizeof(float));
    if (!gpu || !gpu_nograph || !lc || !lg || !lg2) goto done;

    /* prompt pass, every row (cuBLAS path) */
    CHECK_OK(jn_cpu_eval(&cpu, prompt, (size_t)np, 0, lc, 1));
    CHECK_OK(joule_cuda_eval(gpu, prompt, (size_t)np, 0, lg, 1));
    double scale, err = max_err(lg, lc, (size_t)np * V, &scale);
    printf("  %-22s prompt logits: max |cuda - cpu| = %.3g (scale %.3g)\n", name, err, scale);
    CHECK_NEAR(err / scale, 0.0, TOL);

    /* the same prompt in two pieces: positions continue from n_past */
    int first = np / 2;
    CHECK_OK(joule_cuda_eval(gpu_nograph, prompt, (size_t)first, 0, NULL, 0));
    CHECK_OK(
        joule_cuda_eval(gpu_nograph, prompt + first, (size_t)(np - first), (size_t)first, lg2, 1));
    err = max_err(lg2, lc + (size_t)first * V, (size_t)(np - first) * V, &scale);
    CHECK_NEAR(err / scale, 0.0, TOL);

    /* greedy decoding: graphs (gpu) and plain launches (gpu_nograph) against the
     * CPU step by step and against transformers' ids */
    int tok_c = argmax(lc + (size_t)(np - 1) * V, V);
    int tok_g = argmax(lg + (size_t)(np - 1) * V, V);
    int tok_n = tok_g;
    CHECK_EQ_INT(tok_g, greedy[0]);
    size_t pos = (size_t)np;
    double worst = 0.0;
    const char *steps = getenv("JOULE_TEST_CUDA_STEPS"); /* the CPU emulator is slow */
    int n_steps = steps ? atoi(steps) : 0;
    if (n_steps > 0 && n_steps < ng) ng = n_steps + 1;
    for (int i = 1; i < ng && pos < (size_t)n_ctx; i++, pos++) {
        int32_t tc = tok_c, tg = tok_g, tn = tok_n;
        CHECK_OK(jn_cpu_eval(&cpu, &tc, 1, pos, lc, 0));
        CHECK_OK(joule_cuda_eval(gpu, &tg, 1, pos, lg, 0));
        CHECK_OK(joule_cuda_eval(gpu_nograph, &tn, 1, pos, lg2, 0));
        err = max_err(lg, lc, (size_t)V, &scale);
        if (err / scale > worst) worst = err / scale;
        CHECK_NEAR(err / scale, 0.0, TOL);
        err = max_err(lg2, lc, (size_t)V, &scale);
        CHECK_NEAR(err / scale, 0.0, TOL);
        tok_c = argmax(lc, V);
        tok_g = argmax(lg, V);
        tok_n = argmax(lg2, V);
        CHECK_EQ_INT(tok_g, greedy[i]);
        CHECK_EQ_INT(tok_n, greedy[i]);
        CHECK_EQ_INT(tok_c, greedy[i]);
    }
    printf("  %-22s decode logits: worst relative error %.3g over %d steps\n", name, worst, ng - 1);

    /* a reset and a second run give the same first token */
    CHECK_OK(joule_cuda_reset(gpu));
    CHECK_OK(joule_cuda_eval(gpu, prompt, (size_t)np, 0, lg, 0));
    CHECK_EQ_INT(argmax(lg, V), greedy[0]);

    /* bad input is refused, not run */
    int32_t bad = V;
    CHECK_EQ_INT(joule_cuda_eval(gpu, &bad, 1, 0, lg, 0), JOULE_ERR_INVALID_ARG);
    CHECK_EQ_INT(joule_cuda_eval(gpu, prompt, 2, (size_t)n_ctx - 1, lg, 0), JOULE_ERR_LIMIT);
done:
    free(lc);
    free(lg);
    free(lg2);
    joule_cuda_free(gpu);
    joule_cuda_free(gpu_nograph);
    jn_cpu_free(&cpu);
    jn_weights_free(&w_cpu);
    jn_weights_free(&w);
    joule_model_free(m);
}

static void test_fixtures_match_cpu_and_reference(void)
{
    if (joule_cuda_probe() != JOULE_OK) {
        char why[512];
        snprintf(why, sizeof why, "no usable CUDA device: %s", joule_last_error());
        test_skip(why);
        return;
    }
    char dev[256];
    if (joule_cuda_device_name(dev, sizeof dev) == JOULE_OK) printf("  device: %s\n", dev);
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++)
        check_fixture(fixtures[i]);
}

static void test_open_without_device_is_unavailable(void)
{
    if (joule_cuda_probe() == JOULE_OK) {
        test_skip("a CUDA device is present");
        return;
    }
    struct joule_model *m = NULL;
    CHECK_OK(joule_model_load(test_fixture("models/gpt2"), NULL, &m));
    if (!m) return;
    struct jn_weights w;
    CHECK_OK(jn_weights_init(&w, m));
    void *ctx = (void *)&w;
    CHECK_EQ_INT(joule_cuda_open(&w, 16, &ctx), JOULE_ERR_UNAVAILABLE);
    CHECK(ctx == NULL);
    CHECK(strlen(joule_last_error()) > 0);
    jn_weights_free(&w);
    joule_model_free(m);
}
#endif

int main(void)
{
    RUN(test_probe_reports_a_reason);
#ifdef JOULE_HAVE_CUDA
    RUN(test_open_without_device_is_unavailable);
    RUN(test_fixtures_match_cpu_and_reference);
#endif
    return test_summary();
}
