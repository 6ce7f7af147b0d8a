/* The ggml engine: llama.cpp's C API (llama.h) behind joule's engine table.
 *
 * Accepts a .gguf file, or a Hugging Face directory that it converts to GGUF
 * at open (src/model/gguf_convert.c; weights as stored, or q8_0 with
 * quantize = "q8"), caching DIR/model.joule[-q8_0].gguf when DIR is writable
 * and newer than config.json, else a file under $TMPDIR. Logits only:
 * sampling and stop rules stay in joule's engine.c, so they map from the same
 * flags as the native engine. Built with -DJOULE_GGML=ON. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ggml-backend.h"
#include "llama.h"

#include "engine/engine_impl.h"
#include "joule/gguf.h"
#include "util/fileio.h"

struct ggml_impl {
    struct llama_model *model;
    struct llama_context *ctx;
    struct llama_batch batch;
    int batch_cap;
    int n_vocab;
    char provider[16];
    char name[256];
    char arch[64];
    char dtype[16];
};

/* llama.cpp's log: errors always, everything with JOULE_GGML_VERBOSE set. */
static void quiet_log(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR || getenv("JOULE_GGML_VERBOSE")) fputs(text, stderr);
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void backend_init(void)
{
    llama_log_set(quiet_log, NULL);
#ifdef JOULE_GGML_BACKEND_DIR
    /* prebuilt llama.cpp: CPU (and GPU) backends are shared objects picked at run time */
    const char *dir = getenv("JOULE_GGML_BACKEND_DIR");
    ggml_backend_load_all_from_path(dir && *dir ? dir : JOULE_GGML_BACKEND_DIR);
#endif
    llama_backend_init();
}

static enum joule_status jg_probe(const char *provider)
{
    pthread_once(&g_once, backend_init);
    if (!strcmp(provider, "cpu")) {
        if (!ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU))
            return joule_errorf(JOULE_ERR_UNAVAILABLE, "ggml: no CPU backend loaded");
        return JOULE_OK;
    }
    if (!strcmp(provider, "cuda")) {
        if (!ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_GPU))
            return joule_errorf(JOULE_ERR_UNAVAILABLE,
                                "ggml: no GPU backend (llama.cpp built without CUDA or no device)");
        return JOULE_OK;
    }
    return joule_errorf(JOULE_ERR_UNAVAILABLE, "ggml: unknown provider '%s'", provider);
}

static int newer_than(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) != 0) return 0;
    if (stat(b, &sb) != 0) return 1;
    return sa.st_mtime >= sb.st_mtime;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

/* Whether the cached GGUF `gguf` is at least as new as every source file of `dir`. */
static int cache_fresh(const char *gguf, const char *dir)
{
    static const char *const src[] = {"config.json", "model.safetensors",
                                      "model.safetensors.index.json", "tokenizer.json"};
    if (!joule_is_file(gguf)) return 0;
    for (size_t i = 0; i < sizeof src / sizeof src[0]; i++) {
        char p[4096];
        if (joule_path_join(p, sizeof p, dir, src[i]) != JOULE_OK) return 0;
        if (!newer_than(gguf, p)) return 0;
    }
    return 1;
}

/* A GGUF for `dir`: cached beside it, or converted now (beside it, else in $TMPDIR). */
static enum joule_status gguf_for_dir(const char *dir, int q8, char *out, size_t cap)
{
    const char *file = q8 ? "model.joule-q8_0.gguf" : "model.joule.gguf";
    enum joule_status st = joule_path_join(out, cap, dir, file);
    if (st != JOULE_OK) return st;
    if (cache_fresh(out, dir)) return JOULE_OK;
    struct joule_gguf_convert_params p = joule_gguf_convert_default_params();
    p.type = q8 ? JOULE_DTYPE_Q8_0 : JOULE_DTYPE_COUNT;
    if (access(dir, W_OK) == 0 && joule_gguf_convert(dir, out, &p) == JOULE_OK) return JOULE_OK;
    /* read-only model directory: a per-path file in the temp dir */
    char real[PATH_MAX];
    if (!realpath(dir, real)) snprintf(real, sizeof real, "%s", dir);
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *c = real; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
    const char *tmp = getenv("TMPDIR");
    if (snprintf(out, cap, "%s/joule-%016llx%s.gguf", tmp && *tmp ? tmp : "/tmp",
                 (unsigned long long)h, q8 ? "-q8_0" : "") >= (int)cap)
        return joule_errorf(JOULE_ERR_LIMIT, "ggml: path too long");
    if (cache_fresh(out, dir)) return JOULE_OK;
    return joule_gguf_convert(dir, out, &p);
}

/* A special id from the metadata (a "none" vocabulary has no llama.cpp ids), or -1. */
static int meta_id(const struct llama_model *m, const char *key)
{
    char buf[32];
    if (llama_model_meta_val_str(m, key, buf, sizeof buf) < 0) return -1;
    char *end;
    long v = strtol(buf, &end, 10);
    return end != buf && v >= 0 && v < INT32_MAX ? (int)v : -1;
}

static void jg_free(void *p)
{
    struct ggml_impl *g = p;
    if (!g) return;
    if (g->batch_cap) llama_batch_free(g->batch);
    if (g->ctx) llama_free(g->ctx);
    if (g->model) llama_model_free(g->model);
    free(g);
}

static enum joule_status jg_open(const char *model_path, const struct joule_engine_params *params,
                                 void **impl, struct joule_engine_info *info)
{
    *impl = NULL;
    const char *provider = params->provider ? params->provider : "cpu";
    enum joule_status st = jg_probe(provider);
    if (st != JOULE_OK) return st;
    int q8 = params->quantize && !strcmp(params->quantize, "q8");
    if (params->quantize && !q8)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "ggml: quantize must be \"q8\" or none");
    char path[4096];
    if (joule_is_dir(model_path)) {
        if ((st = gguf_for_dir(model_path, q8, path, sizeof path)) != JOULE_OK) return st;
    } else if (has_suffix(model_path, ".gguf") && joule_is_file(model_path)) {
        snprintf(path, sizeof path, "%s", model_path);
    } else {
        return joule_errorf(JOULE_ERR_NOT_FOUND,
                            "ggml: %s is neither a model directory nor a .gguf", model_path);
    }
    struct ggml_impl *g = calloc(1, sizeof *g);
    if (!g) return joule_errorf(JOULE_ERR_NOMEM, "ggml");
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = !strcmp(provider, "cuda") ? 9999 : 0;
    g->model = llama_model_load_from_file(path, mp);
    if (!g->model) {
        jg_free(g);
        return joule_errorf(JOULE_ERR_FORMAT, "ggml: llama.cpp could not load %s", path);
    }
    int n_threads = params->n_threads > 0 ? params->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_threads < 1) n_threads = 1;
    struct llama_context_params cp = llama_context_default_params();
    int n_ctx = params->n_ctx > 0 ? params->n_ctx : llama_model_n_ctx_train(g->model);
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = (uint32_t)n_ctx;
    cp.n_ubatch = (uint32_t)(n_ctx < 512 ? n_ctx : 512);
    cp.n_seq_max = 1;
    cp.n_threads = n_threads;
    cp.n_threads_batch = n_threads;
    cp.no_perf = true;
    g->ctx = llama_init_from_model(g->model, cp);
    if (!g->ctx) {
        jg_free(g);
        return joule_errorf(JOULE_ERR_NOMEM, "ggml: llama.cpp could not create a context of %d",
                            n_ctx);
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(g->model);
    g->n_vocab = llama_vocab_n_tokens(vocab);
    g->batch_cap = (int)llama_n_batch(g->ctx);
    g->batch = llama_batch_init(g->batch_cap, 0, 1);
    snprintf(g->provider, sizeof g->provider, "%s", provider);
    const char *base = strrchr(model_path, '/');
    snprintf(g->name, sizeof g->name, "%s", base && base[1] ? base + 1 : model_path);
    if (llama_model_meta_val_str(g->model, "general.architecture", g->arch, sizeof g->arch) < 0)
        snprintf(g->arch, sizeof g->arch, "?");
    char ft[16] = "";
    llama_model_meta_val_str(g->model, "general.file_type", ft, sizeof ft);
    int fti = atoi(ft);
    snprintf(g->dtype, sizeof g->dtype, "%s",
             fti == 1    ? "f16"
             : fti == 32 ? "bf16"
             : fti == 7  ? "q8_0"
                         : "f32");
    memset(info, 0, sizeof *info);
    info->engine = "ggml";
    info->provider = g->provider;
    info->model_name = g->name;
    info->arch = g->arch;
    info->dtype = g->dtype;
    info->n_vocab = g->n_vocab;
    info->n_ctx = (int)llama_n_ctx(g->ctx);
    llama_token bos = llama_vocab_bos(vocab), eos = llama_vocab_eos(vocab);
    info->bos_id = bos == LLAMA_TOKEN_NULL ? meta_id(g->model, "tokenizer.ggml.bos_token_id") : bos;
    info->eos_id = eos == LLAMA_TOKEN_NULL ? meta_id(g->model, "tokenizer.ggml.eos_token_id") : eos;
    info->n_threads = n_threads;
    *impl = g;
    return JOULE_OK;
}

static enum joule_status jg_reset(void *p)
{
    struct ggml_impl *g = p;
    llama_memory_clear(llama_get_memory(g->ctx), true);
    return JOULE_OK;
}

static enum joule_status jg_eval(void *p, const int32_t *tokens, size_t n, size_t n_past,
                                 float *logits, int all_logits)
{
    struct ggml_impl *g = p;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < (size_t)g->batch_cap ? n - done : (size_t)g->batch_cap;
        g->batch.n_tokens = (int32_t)k;
        for (size_t i = 0; i < k; i++) {
            int32_t t = tokens[done + i];
            if (t < 0 || t >= g->n_vocab)
                return joule_errorf(JOULE_ERR_INVALID_ARG, "ggml: token %d outside the vocabulary",
                                    t);
            g->batch.token[i] = t;
            g->batch.pos[i] = (llama_pos)(n_past + done + i);
            g->batch.n_seq_id[i] = 1;
            g->batch.seq_id[i][0] = 0;
            g->batch.logits[i] = logits && (all_logits || done + i == n - 1);
        }
        int rc = llama_decode(g->ctx, g->batch);
        if (rc != 0) return joule_errorf(JOULE_ERR_INTERNAL, "ggml: llama_decode returned %d", rc);
        if (logits) {
            for (size_t i = 0; i < k; i++) {
                if (!g->batch.logits[i]) continue;
                const float *row = llama_get_logits_ith(g->ctx, (int32_t)i);
                if (!row) return joule_errorf(JOULE_ERR_INTERNAL, "ggml: no logits");
                float *dst = all_logits ? logits + (done + i) * (size_t)g->n_vocab : logits;
                memcpy(dst, row, (size_t)g->n_vocab * sizeof *dst);
            }
        }
        done += k;
    }
    return JOULE_OK;
}

const struct joule_engine_vtable joule_engine_ggml = {
    .version = JOULE_ENGINE_VTABLE_VERSION,
    .name = "ggml",
    .probe = jg_probe,
    .open = jg_open,
    .free = jg_free,
    .reset = jg_reset,
    .eval = jg_eval,
};
