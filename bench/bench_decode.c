/* bench_decode: time per token and GPU energy per token of greedy generation
 * through the engine API (the path `joule generate` takes).
 *
 *   bench_decode --model DIR [--engine native] [--provider cuda] [--prompt-len 32]
 *                  [--new-tokens 64] [--runs 5] [--min-seconds 2] [--warmup 2] [--json FILE]
 *
 * A run repeats generate (prompt of --prompt-len ids, then --new-tokens greedy
 * tokens with EOS ignored) until --min-seconds have passed, so that the GPU
 * energy counter (NVML total energy, mJ, device 0) advances many steps within
 * a run. Per run: e2e ms/token = wall time of the generate calls / new tokens
 * (as bench/cuda/hf_baseline.py measures transformers); decode ms/token =
 * the engine's decode time / (new tokens - 1) (the first token comes from the
 * prompt pass); GPU J/token = NVML energy delta over the same wall time / new
 * tokens. Reports the median over runs. Without NVML the energy fields are
 * null. JOULE_NVML_LIB names another NVML library, as for joule's sensors. */
#include <dlfcn.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bench_common.h"
#include "joule/engine.h"
#include "util/clock.h"

/* ---- NVML, loaded at run time --------------------------------------------- */

typedef int (*nvml_init_fn)(void);
typedef int (*nvml_handle_fn)(unsigned, void **);
typedef int (*nvml_energy_fn)(void *, unsigned long long *);

static struct {
    void *lib, *dev;
    nvml_energy_fn energy;
    int (*shutdown)(void);
} g_nvml;

static int nvml_open(void)
{
    const char *lib = getenv("JOULE_NVML_LIB");
    g_nvml.lib = dlopen(lib && *lib ? lib : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!g_nvml.lib) return -1;
    nvml_init_fn init = (nvml_init_fn)dlsym(g_nvml.lib, "nvmlInit_v2");
    nvml_handle_fn handle = (nvml_handle_fn)dlsym(g_nvml.lib, "nvmlDeviceGetHandleByIndex_v2");
    g_nvml.energy = (nvml_energy_fn)dlsym(g_nvml.lib, "nvmlDeviceGetTotalEnergyConsumption");
    g_nvml.shutdown = (int (*)(void))dlsym(g_nvml.lib, "nvmlShutdown");
    if (!init || !handle || !g_nvml.energy || init() != 0 || handle(0, &g_nvml.dev) != 0) {
        dlclose(g_nvml.lib);
        memset(&g_nvml, 0, sizeof g_nvml);
        return -1;
    }
    return 0;
}

/* millijoules since the driver loaded, or -1 */
static double nvml_mj(void)
{
    unsigned long long e = 0;
    if (!g_nvml.dev || g_nvml.energy(g_nvml.dev, &e) != 0) return -1.0;
    return (double)e;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_decode --model DIR [--engine native] [--provider cpu|cuda]\n"
            "                      [--prompt-len N] [--new-tokens N] [--runs N]\n"
            "                      [--min-seconds S] [--warmup N] [--threads N] [--json FILE]\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"engine", required_argument, 0, 'e'},
                                         {"provider", required_argument, 0, 'p'},
                                         {"prompt-len", required_argument, 0, 'l'},
                                         {"new-tokens", required_argument, 0, 'n'},
                                         {"runs", required_argument, 0, 'r'},
                                         {"min-seconds", required_argument, 0, 's'},
                                         {"warmup", required_argument, 0, 'w'},
                                         {"threads", required_argument, 0, 't'},
                                         {"json", required_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *json = NULL;
    struct joule_engine_params ep = joule_engine_default_params();
    int prompt_len = 32, new_tokens = 64, runs = 5, warmup = 2;
    double min_s = 2.0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'e':
            ep.engine = optarg;
            break;
        case 'p':
            ep.provider = optarg;
            break;
        case 'l':
            prompt_len = atoi(optarg);
            break;
        case 'n':
            new_tokens = atoi(optarg);
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 's':
            min_s = atof(optarg);
            break;
        case 'w':
            warmup = atoi(optarg);
            break;
        case 't':
            ep.n_threads = atoi(optarg);
            break;
        case 'j':
            json = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!model || prompt_len < 1 || new_tokens < 2 || runs < 1 || runs > 1000) {
        usage(stderr);
        return 2;
    }
    struct joule_engine *e = NULL;
    if (joule_engine_open(model, &ep, &e) != JOULE_OK) {
        fprintf(stderr, "bench_decode: %s: %s\n", model, joule_last_error());
        return 1;
    }
    const struct joule_engine_info *info = joule_engine_get_info(e);
    int32_t *prompt = malloc((size_t)prompt_len * sizeof *prompt);
    double *e2e = calloc((size_t)runs, sizeof(double)), *dec = calloc((size_t)runs, sizeof(double));
    double *jpt = calloc((size_t)runs, sizeof(double));
    if (!prompt || !e2e || !dec || !jpt) return 1;
    /* a fixed, vocabulary-independent prompt: ids 1, 2, ... (mod vocab) */
    for (int i = 0; i < prompt_len; i++)
        prompt[i] = 1 + i % (info->n_vocab - 1);
    struct joule_gen_params gp = joule_gen_default_params();
    gp.max_new_tokens = new_tokens;
    gp.ignore_eos = 1;
    int have_nvml = nvml_open() == 0;
    int rc = 0, reps_total = 0;
    for (int r = -warmup; r < runs && !rc; r++) {
        double mj0 = nvml_mj();
        int64_t t0 = joule_now_ns(), dns = 0;
        long toks = 0;
        int reps = 0;
        do {
            struct joule_gen_result res;
            if (joule_engine_generate(e, prompt, (size_t)prompt_len, &gp, &res) != JOULE_OK) {
                fprintf(stderr, "bench_decode: generate: %s\n", joule_last_error());
                rc = 1;
                break;
            }
            if ((int)res.n_ids != new_tokens) {
                fprintf(stderr, "bench_decode: %zu tokens instead of %d\n", res.n_ids, new_tokens);
                rc = 1;
            }
            dns += res.decode_ns;
            toks += (long)res.n_ids;
            reps++;
            joule_gen_result_free(&res);
        } while (!rc && (double)(joule_now_ns() - t0) * 1e-9 < min_s);
        int64_t t1 = joule_now_ns();
        double mj1 = nvml_mj();
        if (r < 0 || rc) continue;
        e2e[r] = (double)(t1 - t0) * 1e-6 / (double)toks;
        dec[r] = (double)dns * 1e-6 / (double)(toks - reps);
        jpt[r] = have_nvml && mj0 >= 0 && mj1 >= 0 ? (mj1 - mj0) * 1e-3 / (double)toks : -1.0;
        reps_total += reps;
        fprintf(stderr,
                "run %d: %d generations, %.4f ms/token e2e, %.4f ms/token decode, %.4f J/token\n",
                r, reps, e2e[r], dec[r], jpt[r]);
    }
    if (!rc) {
        double m_e2e = bench_median(e2e, runs), m_dec = bench_median(dec, runs),
               m_j = bench_median(jpt, runs);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "system", "joule");
        cJSON_AddStringToObject(o, "engine", info->engine);
        cJSON_AddStringToObject(o, "provider", info->provider);
        cJSON_AddStringToObject(o, "model", info->model_name);
        cJSON_AddStringToObject(o, "arch", info->arch);
        cJSON_AddStringToObject(o, "dtype", info->dtype);
        cJSON_AddNumberToObject(o, "prompt_tokens", prompt_len);
        cJSON_AddNumberToObject(o, "new_tokens", new_tokens);
        cJSON_AddNumberToObject(o, "runs", runs);
        cJSON_AddNumberToObject(o, "generations", reps_total);
        cJSON_AddNumberToObject(o, "e2e_ms_per_token", m_e2e);
        cJSON_AddNumberToObject(o, "decode_ms_per_token", m_dec);
        if (have_nvml && m_j >= 0)
            cJSON_AddNumberToObject(o, "gpu_j_per_token", m_j);
        else
            cJSON_AddNullToObject(o, "gpu_j_per_token");
        cJSON *a = cJSON_AddArrayToObject(o, "e2e_ms_per_token_runs");
        for (int i = 0; i < runs; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(e2e[i]));
        a = cJSON_AddArrayToObject(o, "gpu_j_per_token_runs");
        for (int i = 0; i < runs; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(jpt[i]));
        char *txt = cJSON_Print(o);
        if (txt) {
            printf("%s\n", txt);
            if (json) {
                FILE *f = fopen(json, "w");
                if (f) {
                    fprintf(f, "%s\n", txt);
                    fclose(f);
                } else {
                    rc = 1;
                }
            }
        }
        free(txt);
        cJSON_Delete(o);
    }
    if (g_nvml.shutdown) g_nvml.shutdown();
    free(prompt);
    free(e2e);
    free(dec);
    free(jpt);
    joule_engine_free(e);
    return rc;
}
