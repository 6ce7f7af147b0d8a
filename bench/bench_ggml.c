/* bench_ggml: decode tokens/s of the native engine against llama.cpp (ggml) on
 * the same model, threads and prompt, in one run, interleaved repetitions.
 *
 *   bench_ggml --model DIR [--gguf FILE] [--threads N] [--prompt-tokens P]
 *              [--new-tokens N] [--reps R]
 *
 * DIR is a Hugging Face directory (e.g. from joule synth); the ggml engine
 * runs FILE when given (e.g. joule convert --allow-inexact for codeparrot-small),
 * else DIR (converted at open). Prints the median decode and prefill tokens/s
 * of each engine, the ratio ggml / native, and the median joules per generated
 * token from joule's sensors ("all": RAPL / perf when readable, else the
 * estimate, marked "estimated"; whole-machine figures). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "joule/engine.h"
#include "joule/sensor.h"

int main(int argc, char **argv)
{
    const char *model = NULL, *gguf = NULL;
    int threads = 1, n_prompt = 16, n_new = 64, reps = 5;
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"gguf", required_argument, NULL, 'g'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"prompt-tokens", required_argument, NULL, 'p'},
                                         {"new-tokens", required_argument, NULL, 'n'},
                                         {"reps", required_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'g':
            gguf = optarg;
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'p':
            n_prompt = atoi(optarg);
            break;
        case 'n':
            n_new = atoi(optarg);
            break;
        case 'r':
            reps = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_ggml --model DIR [--gguf FILE] [--threads N] "
                            "[--prompt-tokens P] [--new-tokens N] [--reps R]\n");
            return 2;
        }
    }
    if (!model || threads < 1 || n_prompt < 1 || n_new < 1 || reps < 1 || reps > 100) {
        fprintf(stderr, "bench_ggml: --model DIR is required; counts must be positive\n");
        return 2;
    }
    if (joule_engine_probe("ggml", "cpu") != JOULE_OK) {
        fprintf(stderr, "bench_ggml: %s\n", joule_last_error());
        return 1;
    }
    const char *names[2] = {"native", "ggml"};
    struct joule_engine *e[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        struct joule_engine_params ep = joule_engine_default_params();
        ep.engine = names[k];
        ep.n_threads = threads;
        ep.n_ctx = n_prompt + n_new + 8;
        if (joule_engine_open(k && gguf ? gguf : model, &ep, &e[k]) != JOULE_OK) {
            fprintf(stderr, "bench_ggml: %s: %s\n", names[k], joule_last_error());
            return 1;
        }
    }
    int n_vocab = joule_engine_get_info(e[0])->n_vocab;
    int32_t *prompt = malloc((size_t)n_prompt * sizeof *prompt);
    for (int i = 0; i < n_prompt; i++)
        prompt[i] = (int32_t)((i * 7919 + 13) % n_vocab);
    double *dec[2], *pre[2], *jpt[2];
    for (int k = 0; k < 2; k++) {
        dec[k] = calloc((size_t)reps, sizeof(double));
        pre[k] = calloc((size_t)reps, sizeof(double));
        jpt[k] = calloc((size_t)reps, sizeof(double));
    }
    struct joule_sensor_params spar = joule_sensor_default_params();
    struct joule_sensor_set *set = NULL;
    struct joule_sampler *smp = NULL;
    struct joule_sensor_energy *en = NULL;
    if (joule_sensor_set_open("all", &spar, &set) == JOULE_OK) {
        struct joule_sampler_params sp = joule_sampler_default_params();
        sp.interval_ns = 50000000;
        if (joule_sampler_start(set, &sp, &smp) != JOULE_OK) smp = NULL;
        en = calloc(joule_sensor_set_count(set) + 1, sizeof *en);
    }
    int estimated = 0;
    struct joule_gen_params gp = joule_gen_default_params();
    gp.max_new_tokens = n_new;
    gp.ignore_eos = 1;
    /* one warm-up each, then interleaved repetitions */
    for (int r = -1; r < reps; r++) {
        for (int k = 0; k < 2; k++) {
            struct joule_gen_result res;
            int64_t t0 = smp ? joule_sampler_sample_now(smp) : 0;
            if (joule_engine_generate(e[k], prompt, (size_t)n_prompt, &gp, &res) != JOULE_OK) {
                fprintf(stderr, "bench_ggml: %s: %s\n", names[k], joule_last_error());
                return 1;
            }
            if (r >= 0) {
                /* the first new token comes from the prompt pass: decode steps = n - 1 */
                dec[k][r] =
                    res.n_ids > 1 ? (double)(res.n_ids - 1) / ((double)res.decode_ns * 1e-9) : 0.0;
                pre[k][r] = (double)n_prompt / ((double)res.prompt_ns * 1e-9);
                double total = NAN;
                int est = 0;
                if (smp) {
                    int64_t t1 = joule_sampler_sample_now(smp);
                    if (joule_sampler_energy(smp, t0, t1, en, &total, &est) != JOULE_OK)
                        total = NAN;
                }
                jpt[k][r] = res.n_ids ? total / (double)res.n_ids : NAN;
                estimated |= est;
            }
            joule_gen_result_free(&res);
        }
    }
    const struct joule_engine_info *in = joule_engine_get_info(e[0]),
                                   *ig = joule_engine_get_info(e[1]);
    double md[2], mp[2], mj[2];
    for (int k = 0; k < 2; k++) {
        md[k] = bench_median(dec[k], reps);
        mp[k] = bench_median(pre[k], reps);
        mj[k] = bench_median(jpt[k], reps);
    }
    printf("model %s (native %s, ggml %s), %d threads, prompt %d, new %d, %d reps (medians)\n",
           in->model_name, in->dtype, ig->dtype, threads, n_prompt, n_new, reps);
    for (int k = 0; k < 2; k++)
        printf("  %-7s decode %10.1f tok/s   prefill %10.1f tok/s   %.4g J/token%s\n", names[k],
               md[k], mp[k], mj[k], estimated ? " (estimated)" : "");
    printf("  ggml / native: decode %.2fx, prefill %.2fx, J/token %.2fx\n", md[1] / md[0],
           mp[1] / mp[0], mj[1] / mj[0]);
    for (int k = 0; k < 2; k++) {
        free(dec[k]);
        free(pre[k]);
        free(jpt[k]);
        joule_engine_free(e[k]);
    }
    joule_sampler_free(smp);
    joule_sensor_set_free(set);
    free(en);
    free(prompt);
    return 0;
}
