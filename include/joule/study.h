/* joule — the seed study as a plan: its serving configurations as this
 * machine has them, its 12 model shapes, its protocol, and how long it takes.
 *
 * Used by `joule demo` (a short campaign over every configuration here) and
 * `joule reproduce` (the full protocol). */
#ifndef JOULE_STUDY_H
#define JOULE_STUDY_H

#include <stddef.h>
#include <stdint.h>

#include "joule/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define JOULE_STUDY_MAX_CONFIGS 16

/* A serving configuration: (runtime engine, execution provider). */
struct joule_study_config {
    char engine[32];
    char provider[32];
    int available; /* 1 when joule_engine_probe() accepts it on this machine */
    char why[256]; /* when unavailable: the probe's reason */
};

/* Every (engine, provider) pair joule knows, each probed on this machine.
 * Fills up to `cap` entries and returns how many pairs there are. */
size_t joule_study_configs(struct joule_study_config *out, size_t cap);

/* Whether `engine` computes a model with this config.json text exactly. Returns 1, or 0
 * with the reason in `why` (e.g. llama.cpp has no per-layer attention scaling, so GPT-2
 * with scale_attn_by_inverse_layer_idx — codeparrot-small — does not run under ggml). */
int joule_study_model_supported(const char *engine, const char *config_json, char *why, size_t cap);
/* The same for a model directory (reads DIR/config.json; a directory without one is
 * left to the engine to judge, i.e. supported). */
int joule_study_dir_supported(const char *engine, const char *model_dir, char *why, size_t cap);

/* The study's protocol (defaults of joule reproduce). */
struct joule_study_protocol {
    int reps;          /* 10 */
    double warmup_s;   /* 300 */
    double cooldown_s; /* 300 */
    int n_prompts;     /* 164 */
    int max_length;    /* 128 tokens, prompt included */
    int prompt_tokens; /* 12.5: the mean of the 10-15 token windows, rounded up to 13 */
};
struct joule_study_protocol joule_study_default_protocol(void);

/* A rough wall-clock estimate of one run of a model of `n_params` parameters
 * stored with `bytes_per_param` bytes each under `provider`: warm-up + cool-down +
 * start-up + n_prompts × (max_length − prompt_tokens) decode steps, each reading
 * every weight once at an assumed memory bandwidth (CPU 20 GB/s, CUDA 1500 GB/s;
 * documented in README). A planning figure, not a measurement. */
double joule_study_run_seconds(const struct joule_study_protocol *p, int64_t n_params,
                               double bytes_per_param, const char *provider);

/* Look up a bundled data file (data/NAME) in $JOULE_DATA_DIR, ./data, or the
 * data/ folder beside or above the executable. Writes the path to `out`. */
enum joule_status joule_study_data_file(const char *name, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
