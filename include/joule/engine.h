/* joule — engines: a model made runnable under a (runtime engine, execution
 * provider) serving configuration, and text generation on top of it.
 *
 * Engines ("native", "ggml", ...) sit behind a function table (see
 * src/engine/engine_impl.h) and are chosen by name at run time; a provider
 * that this machine lacks is JOULE_ERR_UNAVAILABLE, never a crash.
 * An engine handle is used by one thread at a time. */
#ifndef JOULE_ENGINE_H
#define JOULE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "joule/status.h"
#include "joule/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

struct joule_engine; /* opaque */

struct joule_engine_params {
    const char *engine;   /* "native" (default) or "ggml" */
    const char *provider; /* "cpu" (default) or "cuda" */
    int n_threads;        /* worker threads; 0 = all online cores */
    int n_ctx;            /* context length; 0 = the model's maximum */
    const char *quantize; /* NULL = weights as stored; "q8" = int8 blocks at load */
};
struct joule_engine_params joule_engine_default_params(void);

/* Static description, owned by the engine handle. */
struct joule_engine_info {
    const char *engine;     /* "native", "ggml" */
    const char *provider;   /* "cpu", "cuda" */
    const char *model_name; /* base name of the model directory or file */
    const char *arch;       /* "gpt2", "llama", ... */
    const char *dtype;      /* storage dtype of the weights as run ("f32", "bf16", ...) */
    int n_vocab;
    int n_ctx;
    int bos_id; /* -1 if none */
    int eos_id; /* -1 if none */
    int n_threads;
};

/* Open `model_path` (a Hugging Face directory; engines may accept their own
 * formats too, e.g. a .gguf file for ggml). *out is owned by the caller. */
enum joule_status joule_engine_open(const char *model_path,
                                    const struct joule_engine_params *params,
                                    struct joule_engine **out);
void joule_engine_free(struct joule_engine *e);

const struct joule_engine_info *joule_engine_get_info(const struct joule_engine *e);
/* The model's tokenizer (tokenizer.json beside the weights), or NULL when the
 * model has none. Owned by the engine. */
const struct joule_tokenizer *joule_engine_tokenizer(const struct joule_engine *e);

/* Forget the KV cache: the next eval starts at position 0. */
enum joule_status joule_engine_reset(struct joule_engine *e);
/* Number of positions currently in the KV cache. */
size_t joule_engine_n_past(const struct joule_engine *e);

/* Run `n` tokens at positions n_past .. n_past+n-1, appending to the KV cache.
 * logits: NULL, or [n_vocab] floats for the last token (all_logits = 0), or
 * [n × n_vocab] row-major for every token (all_logits = 1).
 * JOULE_ERR_LIMIT when the tokens would pass the context length. */
enum joule_status joule_engine_eval(struct joule_engine *e, const int32_t *tokens, size_t n,
                                    float *logits, int all_logits);

/* ---- sampling ---------------------------------------------------------- */

struct joule_sampling {
    int greedy;        /* argmax (lowest id on ties); ignores the rest */
    float temperature; /* > 0 */
    int top_k;         /* 0 = off */
    float top_p;       /* 1.0 = off */
    uint64_t seed;
};
struct joule_sampling joule_sampling_default(void); /* greedy */

/* Pick a token from `logits` (n_vocab floats, modified in place) as
 * Hugging Face does: temperature, then top-k, then top-p, then a draw.
 * *rng is the generator state (seed it with joule_rng_seed). */
int32_t joule_sample(const struct joule_sampling *s, float *logits, int n_vocab, uint64_t *rng);
uint64_t joule_rng_seed(uint64_t seed);

/* ---- generation -------------------------------------------------------- */

enum joule_stop_reason {
    JOULE_STOP_LENGTH = 0, /* max_new_tokens or max_length reached */
    JOULE_STOP_EOS,        /* the model produced its EOS token */
    JOULE_STOP_CALLBACK,   /* on_token asked to stop (e.g. a stop string) */
    JOULE_STOP_CONTEXT,    /* the context length was reached */
};
const char *joule_stop_reason_str(enum joule_stop_reason r);

struct joule_gen_params {
    int max_new_tokens; /* <= 0: no limit but max_length/context */
    int max_length;     /* prompt + new tokens (Hugging Face max_length); 0 = off */
    int ignore_eos;
    struct joule_sampling sampling;
    /* Called after each new token; return non-zero to stop after it. May be NULL. */
    int (*on_token)(void *user, int32_t token);
    void *user;
    float *prompt_logits; /* optional: [n_prompt × n_vocab] logits of the prompt pass */
};
struct joule_gen_params joule_gen_default_params(void);

struct joule_gen_result {
    int32_t *ids; /* the new tokens (malloc'd; joule_gen_result_free) */
    size_t n_ids;
    size_t n_prompt;
    enum joule_stop_reason stop;
    int64_t prompt_ns; /* prompt pass (prefill) */
    int64_t decode_ns; /* all decode steps */
};
void joule_gen_result_free(struct joule_gen_result *r);

/* Reset the cache, run the prompt, then decode. The prompt must be non-empty. */
enum joule_status joule_engine_generate(struct joule_engine *e, const int32_t *prompt,
                                        size_t n_prompt, const struct joule_gen_params *params,
                                        struct joule_gen_result *out);

/* ---- registry ---------------------------------------------------------- */

/* Whether (engine, provider) can run here; on JOULE_ERR_UNAVAILABLE
 * joule_last_error() says why ("no CUDA device", "not built with ggml", ...). */
enum joule_status joule_engine_probe(const char *engine, const char *provider);
/* Names of the registered engines, NULL-terminated (static). */
const char *const *joule_engine_names(void);

#ifdef __cplusplus
}
#endif
#endif
