/* The seed study as a plan: configurations here, protocol, duration estimate. */
#include "joule/study.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "joule/engine.h"
#include "joule/model.h"
#include "util/fileio.h"

static const char *const k_providers[] = {"cpu", "cuda"};

size_t joule_study_configs(struct joule_study_config *out, size_t cap)
{
    size_t n = 0;
    for (const char *const *e = joule_engine_names(); *e; e++) {
        for (size_t p = 0; p < sizeof k_providers / sizeof k_providers[0]; p++, n++) {
            if (n >= cap) continue;
            struct joule_study_config *c = &out[n];
            memset(c, 0, sizeof *c);
            snprintf(c->engine, sizeof c->engine, "%s", *e);
            snprintf(c->provider, sizeof c->provider, "%s", k_providers[p]);
            joule_clear_error();
            c->available = joule_engine_probe(*e, k_providers[p]) == JOULE_OK;
            if (!c->available) snprintf(c->why, sizeof c->why, "%s", joule_last_error());
        }
    }
    return n;
}

struct joule_study_protocol joule_study_default_protocol(void)
{
    struct joule_study_protocol p = {
        .reps = 10,
        .warmup_s = 300,
        .cooldown_s = 300,
        .n_prompts = 164,
        .max_length = 128,
        .prompt_tokens = 13,
    };
    return p;
}

double joule_study_run_seconds(const struct joule_study_protocol *p, int64_t n_params,
                               double bytes_per_param, const char *provider)
{
    /* Decoding at batch 1 reads every weight once per token: time per token is
     * bytes / bandwidth. Assumed bandwidths: a desktop/server CPU socket
     * (~20 GB/s reached by one inference process), a data-centre GPU
     * (~1.5 TB/s). Start-up: loading the weights at ~1 GB/s from page cache. */
    double bw = (provider && !strcmp(provider, "cuda")) ? 1.5e12 : 2.0e10;
    double bytes = (double)(n_params > 0 ? n_params : 0) * bytes_per_param;
    double per_token = bytes / bw;
    int new_tokens = p->max_length - p->prompt_tokens;
    if (new_tokens < 1) new_tokens = 1;
    double work = (double)p->n_prompts * new_tokens * per_token;
    double startup = 2.0 + bytes / 1e9;
    return p->warmup_s + p->cooldown_s + startup + work;
}

enum joule_status joule_study_data_file(const char *name, char *out, size_t cap)
{
    return joule_find_data_file(name, out, cap);
}

int joule_study_model_supported(const char *engine, const char *config_json, char *why, size_t cap)
{
    if (why && cap) why[0] = '\0';
    struct joule_model_config c;
    if (!config_json || joule_model_parse_config(config_json, strlen(config_json), &c) != JOULE_OK)
        return 1; /* the engine will say what is wrong with it */
    if (engine && !strcmp(engine, "ggml") && c.arch == JOULE_ARCH_GPT2 &&
        c.scale_attn_by_inverse_layer_idx) {
        if (why)
            snprintf(why, cap,
                     "llama.cpp's gpt2 graph has no per-layer attention scaling "
                     "(scale_attn_by_inverse_layer_idx)");
        return 0;
    }
    return 1;
}

int joule_study_dir_supported(const char *engine, const char *model_dir, char *why, size_t cap)
{
    char path[4096];
    if (why && cap) why[0] = '\0';
    if (joule_path_join(path, sizeof path, model_dir, "config.json") != JOULE_OK) return 1;
    char *text = NULL;
    if (joule_read_file(path, 1 << 20, &text, NULL) != JOULE_OK) return 1;
    int ok = joule_study_model_supported(engine, text, why, cap);
    free(text);
    return ok;
}
