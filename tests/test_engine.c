/* The native engine against transformers: for every fixture checkpoint (all
 * seven families, the f16/bf16 and sharded copies, both config styles) and
 * every kernel path this CPU supports, the greedy ids equal reference.json's
 * and the prompt logits are within the tolerance below.
 *
 * Tolerances (max |ours - reference| over all prompt logits, relative to the
 * largest |reference logit|):
 *  - float32 checkpoints: 1e-4. The reference is float32 PyTorch printed to 6
 *    decimals (5e-7 absolute); float32 summation in another order differs by
 *    ~1e-6 relative per product over these 2-layer models (observed: 3e-7 to
 *    7e-7). A layout or formula mistake shows as 1e-2 or more, so 1e-4 keeps two
 *    orders of magnitude on both sides.
 *  - float16 / bfloat16 checkpoints: one unit of the storage type's precision,
 *    2^-10 (f16) and 2^-7 (bf16). We compute in float32 from the stored values;
 *    the reference's activations were rounded to the model dtype along the way
 *    (observed: 1.1e-4 for f16 and 4.6e-4 for bf16), which stays below one unit
 *    of the type for a model this shallow.
 * The greedy ids must match exactly: the smallest top-2 margin in the fixtures
 * (0.012, bf16) is far above these errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/native/cpu/forward.h"
#include "engine/native/weights.h"
#include "joule/engine.h"
#include "joule/synth.h"
#include "support/model_fixtures.h"
#include "test.h"
#include "util/json.h"

static const char *g_kernels[] = {"scalar", "avx2", "avx512"};

static double tolerance_for(const struct test_reference *r)
{
    if (!strcmp(r->dtype, "float16")) return 1.0 / 1024;
    if (!strcmp(r->dtype, "bfloat16")) return 1.0 / 128;
    return 1e-4;
}

struct run_out {
    int32_t ids[64];
    size_t n_ids;
    float *logits;
    double rel_err;
};

/* Generate 16 greedy tokens (no EOS stop) and collect the prompt logits. */
static int run_model_q(const char *dir, int threads, const char *quantize,
                       const struct test_reference *r, struct run_out *o)
{
    memset(o, 0, sizeof *o);
    struct joule_engine_params ep = joule_engine_default_params();
    ep.n_threads = threads;
    ep.quantize = quantize;
    struct joule_engine *e = NULL;
    enum joule_status s = joule_engine_open(dir, &ep, &e);
    CHECK_OK(s);
    if (s != JOULE_OK) return -1;
    int V = joule_engine_get_info(e)->n_vocab;
    CHECK_EQ_INT((size_t)V * r->n_prompt, r->n_logits);
    o->logits = malloc(r->n_prompt * (size_t)V * sizeof(float));
    struct joule_gen_params gp = joule_gen_default_params();
    gp.max_new_tokens = (int)r->n_greedy;
    gp.ignore_eos = 1;
    gp.prompt_logits = o->logits;
    struct joule_gen_result res;
    s = joule_engine_generate(e, r->prompt, r->n_prompt, &gp, &res);
    CHECK_OK(s);
    if (s == JOULE_OK) {
        o->n_ids = res.n_ids < 64 ? res.n_ids : 64;
        memcpy(o->ids, res.ids, o->n_ids * sizeof *o->ids);
        double mx = 0, err = 0;
        for (size_t i = 0; i < r->n_logits; i++) {
            mx = fmax(mx, fabs(r->logits[i]));
            err = fmax(err, fabs((double)o->logits[i] - r->logits[i]));
        }
        o->rel_err = err / mx;
    }
    joule_gen_result_free(&res);
    joule_engine_free(e);
    return s == JOULE_OK ? 0 : -1;
}

static int run_model(const char *dir, int threads, const struct test_reference *r,
                     struct run_out *o)
{
    return run_model_q(dir, threads, NULL, r, o);
}

static void check_against_reference(const char *fixture, const char *dir, const char *what)
{
    struct test_reference r;
    if (test_reference_load(fixture, &r) != 0) {
        CHECK(0);
        return;
    }
    struct run_out o;
    if (run_model(dir, 2, &r, &o) == 0) {
        CHECK_EQ_INT(o.n_ids, r.n_greedy);
        int same = o.n_ids == r.n_greedy && !memcmp(o.ids, r.greedy, o.n_ids * sizeof *o.ids);
        if (!same) {
            fprintf(stderr, "  %s %s ids:", fixture, what);
            for (size_t i = 0; i < o.n_ids; i++)
                fprintf(stderr, " %d", (int)o.ids[i]);
            fprintf(stderr, "\n  reference:");
            for (size_t i = 0; i < r.n_greedy; i++)
                fprintf(stderr, " %d", (int)r.greedy[i]);
            fprintf(stderr, "\n");
        }
        CHECK(same);
        CHECK_NEAR(o.rel_err, 0.0, tolerance_for(&r));
        printf("  %-22s %-32s max |logit error| / max |logit| = %.2g\n", fixture, what, o.rel_err);
    }
    free(o.logits);
    test_reference_free(&r);
}

static void test_fixtures_every_kernel(void)
{
    for (size_t k = 0; k < sizeof g_kernels / sizeof g_kernels[0]; k++) {
        setenv("JOULE_KERNEL", g_kernels[k], 1);
        if (joule_engine_probe("native", "cpu") != JOULE_OK) continue;
        struct joule_engine *probe = NULL;
        if (joule_engine_open(test_fixture("models/gpt2"), NULL, &probe) != JOULE_OK) {
            printf("SKIP kernel %s: %s\n", g_kernels[k], joule_last_error());
            test_skip("kernel path not supported by this CPU");
            continue;
        }
        joule_engine_free(probe);
        for (const char *const *f = test_model_fixtures; *f; f++) {
            char what[96], dir[4096];
            snprintf(dir, sizeof dir, "%s/models/%s", JOULE_TEST_FIXTURES, *f);
            snprintf(what, sizeof what, "%s config.json", g_kernels[k]);
            check_against_reference(*f, dir, what);
            char t5[4096 + 64];
            snprintf(t5, sizeof t5, "%s/config.transformers5.json", dir);
            if (!test_file_exists(t5)) continue;
            const char *copy = test_model_copy(*f, "config.transformers5.json");
            CHECK(copy != NULL);
            snprintf(what, sizeof what, "%s config.transformers5.json", g_kernels[k]);
            if (copy) check_against_reference(*f, copy, what);
        }
    }
    unsetenv("JOULE_KERNEL");
}

/* The result does not depend on the number of threads: each output is
 * computed by one thread in a fixed order, so even the logits are identical. */
static void test_threads_identical(void)
{
    for (const char *const *f = test_model_fixtures; *f; f++) {
        struct test_reference r;
        if (test_reference_load(*f, &r) != 0) continue;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/models/%s", JOULE_TEST_FIXTURES, *f);
        struct run_out a = {0}, b = {0}, c = {0};
        if (run_model(dir, 1, &r, &a) == 0 && run_model(dir, 2, &r, &b) == 0 &&
            run_model(dir, 3, &r, &c) == 0) {
            CHECK_EQ_INT(a.n_ids, b.n_ids);
            CHECK(!memcmp(a.ids, b.ids, a.n_ids * sizeof *a.ids));
            CHECK(!memcmp(a.ids, c.ids, a.n_ids * sizeof *a.ids));
            CHECK(!memcmp(a.logits, b.logits, r.n_logits * sizeof(float)));
            CHECK(!memcmp(a.logits, c.logits, r.n_logits * sizeof(float)));
        }
        free(a.logits);
        free(b.logits);
        free(c.logits);
        test_reference_free(&r);
    }
}

/* JOULE_HUGEPAGES=1 copies the matrices into huge-page memory: same numbers. */
static void test_hugepage_copy_identical(void)
{
    const char *names[] = {"gpt2", "llama_bfloat16", "phi"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        struct test_reference r;
        if (test_reference_load(names[k], &r) != 0) continue;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/models/%s", JOULE_TEST_FIXTURES, names[k]);
        struct run_out a = {0}, b = {0};
        setenv("JOULE_HUGEPAGES", "1", 1);
        int ra = run_model(dir, 2, &r, &a);
        unsetenv("JOULE_HUGEPAGES");
        int rb = run_model(dir, 2, &r, &b);
        if (ra == 0 && rb == 0) {
            CHECK(!memcmp(a.ids, b.ids, sizeof a.ids));
            CHECK(!memcmp(a.logits, b.logits, r.n_logits * sizeof(float)));
        }
        free(a.logits);
        free(b.logits);
        test_reference_free(&r);
    }
}

/* The SIMD activations against the formulas in double precision (SiLU x sigmoid(x), quick
 * GELU x sigmoid(1.702 x), tanh GELU 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the
 * last as x sigmoid(2u), its exact equal that double evaluates without cancellation), over
 * [-30, 30] and the tails, with lengths that leave a partial vector. */
static void test_simd_activations(void)
{
    enum { N = 6001 };
    static float v[N + 3];
    const double a = 0.7978845608028654, b = 0.044715;
    for (size_t kp = 1; kp < sizeof g_kernels / sizeof g_kernels[0]; kp++) {
        const struct jn_kernels *k = jn_kernels_by_name(g_kernels[kp]);
        if (!k) continue;
        CHECK(k->act_sigmoid != NULL);
        if (!k->act_sigmoid) continue;
        for (int kind = 0; kind < 3; kind++) {
            float c1 = kind == 0 ? 1.0f : kind == 1 ? 1.702f : (float)(2 * a);
            float c3 = kind == 2 ? (float)(2 * a * b) : 0.0f;
            for (int i = 0; i < N; i++)
                v[i] = -30.0f + 0.01f * (float)i;
            v[N] = -200.0f, v[N + 1] = 200.0f, v[N + 2] = 0.0f;
            int n = N + 3 - kind; /* 6004, 6003, 6002 values: tails of 4, 3, 2 */
            float in[N + 3];
            memcpy(in, v, sizeof in);
            k->act_sigmoid(v, n, c1, c3);
            double worst = 0;
            for (int i = 0; i < n; i++) {
                double x = in[i], want;
                if (kind == 2) /* = 0.5 x (1 + tanh u) exactly, without its cancellation */
                    want = x / (1 + exp(-2 * a * (x + b * x * x * x)));
                else /* the engine's constant is the float 1.702f, as transformers' */
                    want = x / (1 + exp(-(kind == 0 ? 1.0 : (double)1.702f) * x));
                /* relative, except where the output is a millionth of the input or less: there
                 * float's rounding of the argument c1 x + c3 x^3 alone moves exp by
                 * |argument| x 6e-8 relative (the libm path is worse: 1 + tanhf(u) is 0) */
                double err = fabs(v[i] - want) / (fabs(want) + 1e-6 * fabs(x) + 1e-30);
                worst = fmax(worst, err);
            }
            printf("  %s activation %d: worst relative error %.2g\n", g_kernels[kp], kind, worst);
            CHECK_NEAR(worst, 0.0, 2e-6);
            if (n < N + 3) CHECK(v[n] == in[n]); /* nothing written past n */
        }
    }
}

/* Prompt logits computed in one batch (the tiles) equal those of one token at a time (the
 * row kernels), for every family, kernel path and weight format (as stored, q8). */
static void test_incremental_matches_batched(void)
{
    const char *names[] = {"gpt2", "gpt_neox", "bloom", "llama", "gemma", "phi", "gpt_bigcode"};
    const char *quants[] = {NULL, "q8"};
    for (size_t kp = 0; kp < sizeof g_kernels / sizeof g_kernels[0]; kp++) {
        if (!jn_kernels_by_name(g_kernels[kp])) continue;
        setenv("JOULE_KERNEL", g_kernels[kp], 1);
        for (size_t q = 0; q < 2; q++)
            for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
                struct test_reference r;
                if (test_reference_load(names[k], &r) != 0) continue;
                char dir[4096];
                snprintf(dir, sizeof dir, "%s/models/%s", JOULE_TEST_FIXTURES, names[k]);
                struct joule_engine_params ep = joule_engine_default_params();
                ep.quantize = quants[q];
                struct joule_engine *e = NULL;
                CHECK_OK(joule_engine_open(dir, &ep, &e));
                if (!e) {
                    test_reference_free(&r);
                    continue;
                }
                int V = joule_engine_get_info(e)->n_vocab;
                float *all = malloc(r.n_prompt * (size_t)V * sizeof *all),
                      *one = malloc(V * sizeof *one);
                CHECK_OK(joule_engine_eval(e, r.prompt, r.n_prompt, all, 1));
                CHECK_EQ_INT(joule_engine_n_past(e), r.n_prompt);
                CHECK_OK(joule_engine_reset(e));
                double err = 0;
                for (size_t i = 0; i < r.n_prompt; i++) {
                    CHECK_OK(joule_engine_eval(e, &r.prompt[i], 1, one, 0));
                    for (int v = 0; v < V; v++)
                        err = fmax(err, fabs(one[v] - all[i * V + v]));
                }
                if (err > 1e-5)
                    printf("  %s %s %s: batched vs one by one %.3g\n", g_kernels[kp], names[k],
                           quants[q] ? quants[q] : "as stored", err);
                CHECK_NEAR(err, 0.0, 1e-5);
                free(all);
                free(one);
                joule_engine_free(e);
                test_reference_free(&r);
            }
    }
    unsetenv("JOULE_KERNEL");
}

static void test_context_and_errors(void)
{
    struct joule_engine_params ep = joule_engine_default_params();
    ep.n_ctx = 14;
    ep.n_threads = 2;
    struct joule_engine *e = NULL;
    CHECK_OK(joule_engine_open(test_fixture("models/llama"), &ep, &e));
    if (e) {
        CHECK_EQ_INT(joule_engine_get_info(e)->n_ctx, 14);
        int32_t prompt[11] = {77, 238, 235, 490, 397, 92, 364, 204, 377, 182, 224};
        struct joule_gen_params gp = joule_gen_default_params();
        gp.max_new_tokens = 50;
        gp.ignore_eos = 1;
        struct joule_gen_result res;
        CHECK_OK(joule_engine_generate(e, prompt, 11, &gp, &res));
        CHECK_EQ_INT(res.n_ids, 3);
        CHECK_EQ_INT(res.stop, JOULE_STOP_CONTEXT);
        joule_gen_result_free(&res);
        float *lg = malloc(512 * sizeof *lg);
        CHECK_OK(joule_engine_reset(e));
        CHECK_EQ_INT(joule_engine_eval(e, prompt, 11, lg, 0), JOULE_OK);
        CHECK_EQ_INT(joule_engine_eval(e, prompt, 4, lg, 0), JOULE_ERR_LIMIT);
        int32_t bad = 512;
        CHECK_EQ_INT(joule_engine_eval(e, &bad, 1, lg, 0), JOULE_ERR_INVALID_ARG);
        free(lg);
        joule_engine_free(e);
    }
    if (joule_engine_probe("native", "cuda") != JOULE_OK) {
        /* no GPU (or a build without CUDA): unavailable, with a reason naming the provider */
        CHECK_EQ_INT(joule_engine_probe("native", "cuda"), JOULE_ERR_UNAVAILABLE);
        CHECK(strstr(joule_last_error(), "cuda") != NULL);
        ep = joule_engine_default_params();
        ep.provider = "cuda";
        e = (struct joule_engine *)1;
        CHECK_EQ_INT(joule_engine_open(test_fixture("models/llama"), &ep, &e),
                     JOULE_ERR_UNAVAILABLE);
        CHECK(e == NULL);
    }
    /* an unknown provider is unavailable everywhere */
    CHECK_EQ_INT(joule_engine_probe("native", "tpu"), JOULE_ERR_UNAVAILABLE);
    CHECK(joule_last_error()[0] != '\0');
    setenv("JOULE_KERNEL", "no-such-kernel", 1);
    CHECK_EQ_INT(joule_engine_open(test_fixture("models/llama"), NULL, &e), JOULE_ERR_UNAVAILABLE);
    unsetenv("JOULE_KERNEL");
    CHECK(joule_engine_open(test_fixture("models/nonexistent"), NULL, &e) != JOULE_OK);
}

/* Generation with EOS: llama's eos is 2; a run that does not ignore it stops there or at length. */
static void test_sampling_is_seeded(void)
{
    struct joule_engine *e = NULL;
    CHECK_OK(joule_engine_open(test_fixture("models/gpt_neox"), NULL, &e));
    if (!e) return;
    int32_t prompt[3] = {5, 6, 7};
    struct joule_gen_params gp = joule_gen_default_params();
    gp.max_new_tokens = 12;
    gp.ignore_eos = 1;
    gp.sampling.greedy = 0;
    gp.sampling.temperature = 1.5f;
    gp.sampling.top_k = 50;
    gp.sampling.top_p = 0.9f;
    gp.sampling.seed = 42;
    struct joule_gen_result a, b;
    CHECK_OK(joule_engine_generate(e, prompt, 3, &gp, &a));
    CHECK_OK(joule_engine_generate(e, prompt, 3, &gp, &b));
    CHECK_EQ_INT(a.n_ids, 12);
    CHECK(a.n_ids == b.n_ids && !memcmp(a.ids, b.ids, a.n_ids * sizeof *a.ids));
    joule_gen_result_free(&a);
    joule_gen_result_free(&b);
    joule_engine_free(e);
}

/* joule generate --json on a fixture prints the reference's greedy ids. */
static void test_cli_generate_json(void)
{
    struct test_reference r;
    if (test_reference_load("phi", &r) != 0) {
        CHECK(0);
        return;
    }
    char ids[512] = "", cmd[8192], logits_path[4096];
    for (size_t i = 0; i < r.n_prompt; i++) {
        size_t l = strlen(ids);
        snprintf(ids + l, sizeof ids - l, "%s%d", i ? "," : "", (int)r.prompt[i]);
    }
    snprintf(logits_path, sizeof logits_path, "%s/cli-logits.bin", test_tmpdir());
    snprintf(cmd, sizeof cmd,
             "'%s' generate --model '%s' --prompt-ids %s --max-new-tokens 16 --greedy "
             "--ignore-eos --threads 2 --json --dump-logits '%s'",
             test_joule_bin(), test_fixture("models/phi"), ids, logits_path);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) return;
    char out[65536];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    CHECK_EQ_INT(pclose(p), 0);
    cJSON *j = cJSON_Parse(out);
    CHECK(j != NULL);
    if (j) {
        const cJSON *arr = cJSON_GetObjectItem(j, "ids");
        CHECK_EQ_INT(cJSON_GetArraySize(arr), r.n_greedy);
        size_t i = 0;
        for (const cJSON *v = arr ? arr->child : NULL; v && i < r.n_greedy; v = v->next, i++)
            CHECK_EQ_INT(v->valueint, r.greedy[i]);
        CHECK_EQ_INT(joule_json_int(j, "prompt_tokens", -1), r.n_prompt);
        CHECK_EQ_INT(joule_json_int(j, "completion_tokens", -1), r.n_greedy);
        CHECK_EQ_STR(joule_json_str(j, "stop", ""), "length");
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(j, "prompt_ms")));
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(j, "decode_ms")));
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(j, "tokens_per_s")));
        cJSON_Delete(j);
    }
    FILE *f = fopen(logits_path, "rb");
    CHECK(f != NULL);
    if (f) {
        float *lg = malloc(r.n_logits * sizeof *lg + 4);
        size_t got = fread(lg, sizeof *lg, r.n_logits + 1, f);
        fclose(f);
        CHECK_EQ_INT(got, r.n_logits);
        double err = 0, mx = 0;
        for (size_t i = 0; i < r.n_logits && i < got; i++) {
            err = fmax(err, fabs(lg[i] - r.logits[i]));
            mx = fmax(mx, fabs(r.logits[i]));
        }
        CHECK_NEAR(err / mx, 0.0, 1e-4);
        free(lg);
    }
    /* bad usage fails with a message, not a crash */
    snprintf(cmd, sizeof cmd, "'%s' generate --model '%s' 2>/dev/null", test_joule_bin(),
             test_fixture("models/phi"));
    CHECK(system(cmd) != 0);
    snprintf(cmd, sizeof cmd, "'%s' generate --model /nonexistent --prompt-ids 1 2>/dev/null",
             test_joule_bin());
    CHECK(system(cmd) != 0);
    test_reference_free(&r);
}

/* q8_0 weights (made at load): each weight is off by at most half a step of
 * its block, max|w| / 254, i.e. 0.4 % of the block's largest weight; over
 * these 2-layer models that gave logit errors of 0.5 % to 2.5 % of the logit
 * scale (bound 5 %). Greedy ids may part from the reference where its top-2
 * margin is small (llama_bfloat16: 0.012), so agreement is reported, not
 * asserted. */
static void test_q8_accuracy(void)
{
    for (size_t k = 0; k < sizeof g_kernels / sizeof g_kernels[0]; k++) {
        setenv("JOULE_KERNEL", g_kernels[k], 1);
        for (const char *const *f = test_model_fixtures; *f; f++) {
            struct test_reference r;
            if (test_reference_load(*f, &r) != 0) continue;
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/models/%s", JOULE_TEST_FIXTURES, *f);
            struct run_out o;
            struct joule_engine *probe = NULL;
            if (joule_engine_open(dir, NULL, &probe) != JOULE_OK) { /* kernel not on this CPU */
                test_reference_free(&r);
                break;
            }
            joule_engine_free(probe);
            if (run_model_q(dir, 2, "q8", &r, &o) == 0) {
                size_t agree = 0;
                while (agree < o.n_ids && agree < r.n_greedy && o.ids[agree] == r.greedy[agree])
                    agree++;
                CHECK_NEAR(o.rel_err, 0.0, 0.05);
                printf("  q8 %-7s %-22s logit error %.3g of scale, greedy ids agree for %zu/%zu\n",
                       g_kernels[k], *f, o.rel_err, agree, r.n_greedy);
            }
            free(o.logits);
            test_reference_free(&r);
        }
    }
    unsetenv("JOULE_KERNEL");
    struct joule_engine_params ep = joule_engine_default_params();
    ep.quantize = "q4";
    struct joule_engine *e = NULL;
    CHECK_EQ_INT(joule_engine_open(test_fixture("models/gpt2"), &ep, &e), JOULE_ERR_UNSUPPORTED);
}

/* --prompt TEXT goes through the tokenizer beside the weights: a copy of the
 * gpt2 fixture (vocab 512) with the 512-token byte-level tokenizer. */
static void test_cli_generate_text_prompt(void)
{
    const char *dir = test_model_copy("gpt2", "config.json");
    CHECK(dir != NULL);
    if (!dir) return;
    char tok_src[4096], tok_dst[4096 + 32];
    snprintf(tok_src, sizeof tok_src, "%s/tokenizers/tiny_bytelevel_512/tokenizer.json",
             JOULE_TEST_FIXTURES);
    snprintf(tok_dst, sizeof tok_dst, "%s/tokenizer.json", dir);
    CHECK_EQ_INT(symlink(tok_src, tok_dst), 0);
    const char *text = "def add(a, b):\n    return a + b";
    struct joule_tokenizer *tok = NULL;
    CHECK_OK(joule_tokenizer_load(tok_src, &tok));
    if (!tok) return;
    int32_t ids[256];
    size_t n_ids = 0;
    CHECK_OK(joule_tokenizer_encode(tok, text, strlen(text), 1, ids, 256, &n_ids));
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "'%s' generate --model '%s' --prompt '%s' --max-new-tokens 6 --ignore-eos --json",
             test_joule_bin(), dir, text); /* the newline travels inside the quotes */
    FILE *p = popen(cmd, "r");
    char out[65536];
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = '\0';
    CHECK(p && pclose(p) == 0);
    cJSON *j = cJSON_Parse(out);
    CHECK(j != NULL);
    if (j) {
        CHECK_EQ_INT(joule_json_int(j, "prompt_tokens", -1), n_ids);
        CHECK_EQ_INT(joule_json_int(j, "completion_tokens", -1), 6);
        CHECK(cJSON_IsString(cJSON_GetObjectItem(j, "text")));
        /* the text is the decoding of the ids */
        const cJSON *arr = cJSON_GetObjectItem(j, "ids");
        int32_t gen[6];
        int k = 0;
        for (const cJSON *v = arr ? arr->child : NULL; v && k < 6; v = v->next)
            gen[k++] = v->valueint;
        char dec[1024];
        size_t nb = 0;
        CHECK_OK(joule_tokenizer_decode(tok, gen, (size_t)k, 1, dec, sizeof dec, &nb));
        CHECK_EQ_STR(joule_json_str(j, "text", ""), dec);
        cJSON_Delete(j);
    }
    joule_tokenizer_free(tok);
}

/* Prompt logits of the CPU provider (2 threads) for a model loaded with `convert_to`. */
static float *cpu_logits(const char *dir, enum joule_dtype convert_to, const int32_t *ids, int n,
                         int *n_vocab)
{
    struct joule_model_params mp = joule_model_default_params();
    mp.convert_to = convert_to;
    struct joule_model *m = NULL;
    CHECK_OK(joule_model_load(dir, &mp, &m));
    if (!m) return NULL;
    struct jn_weights w;
    struct jn_cpu c;
    float *out = NULL;
    CHECK_OK(jn_weights_init(&w, m));
    /* the Conv1D layout is refused until it is transposed */
    CHECK_EQ_INT(jn_cpu_init(&c, &w, 2, 64), JOULE_ERR_INVALID_ARG);
    CHECK_OK(jn_weights_transpose_conv1d(&w));
    CHECK(!w.layers[0].qkv.conv1d && !w.layers[0].down.conv1d);
    if (jn_cpu_init(&c, &w, 2, 64) == JOULE_OK) {
        *n_vocab = w.cfg.vocab_size;
        out = malloc((size_t)n * (size_t)*n_vocab * sizeof *out);
        if (out) CHECK_OK(jn_cpu_eval(&c, ids, (size_t)n, 0, out, 1));
        jn_cpu_free(&c);
    }
    jn_weights_free(&w);
    joule_model_free(m);
    return out;
}

/* The GPT-2 fixtures are float32, so the transposition of 2-byte Conv1D weights is checked
 * here: a tiny GPT-2 written in f16 and in bf16 must give, with its weights as stored, what
 * the same values give once converted to f32 at load (only the summation order differs;
 * a mistake in the transposition shows as an error of the logits' own size). */
static void test_conv1d_half_matches_f32(void)
{
    static const enum joule_dtype dts[] = {JOULE_DTYPE_F16, JOULE_DTYPE_BF16};
    const int32_t ids[] = {3, 17, 250, 9, 41, 120, 7, 88};
    const int n = (int)(sizeof ids / sizeof ids[0]);
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tiny-gpt2-%s", test_tmpdir(), joule_dtype_name(dts[d]));
        struct joule_synth_params sp = joule_synth_default_params();
        sp.dtype = dts[d];
        sp.write_tokenizer = 0;
        CHECK_OK(joule_synth_write("tiny-gpt2", dir, &sp));
        int v1 = 0, v2 = 0;
        float *half = cpu_logits(dir, JOULE_DTYPE_COUNT, ids, n, &v1);
        float *f32 = cpu_logits(dir, JOULE_DTYPE_F32, ids, n, &v2);
        CHECK_EQ_INT(v1, v2);
        if (half && f32 && v1 == v2) {
            double err = 0, scale = 0;
            for (size_t i = 0; i < (size_t)n * (size_t)v1; i++) {
                double e = fabs((double)half[i] - f32[i]), a = fabs((double)f32[i]);
                err = e > err ? e : err;
                scale = a > scale ? a : scale;
            }
            printf("  tiny-gpt2 %s as stored vs as f32: max |diff| / max |logit| = %.2g\n",
                   joule_dtype_name(dts[d]), err / scale);
            CHECK(scale > 0);
            CHECK_NEAR(err / scale, 0.0, 1e-5);
        }
        free(half);
        free(f32);
    }
}

int main(void)
{
    RUN(test_fixtures_every_kernel);
    RUN(test_threads_identical);
    RUN(test_q8_accuracy);
    RUN(test_conv1d_half_matches_f32);
    RUN(test_simd_activations);
    RUN(test_hugepage_copy_identical);
    RUN(test_incremental_matches_batched);
    RUN(test_context_and_errors);
    RUN(test_sampling_is_seeded);
    RUN(test_cli_generate_json);
    RUN(test_cli_generate_text_prompt);
    return test_summary();
}
