/* The native engine: joule's own forward pass over Hugging Face checkpoints.
 * Provider "cpu" runs src/engine/native/cpu; "cuda" runs src/engine/native/cuda
 * (built with -DJOULE_CUDA=ON, used when a CUDA device is present). */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "engine/native/cpu/forward.h"
#include "engine/native/weights.h"
#include "joule/model.h"
#ifdef JOULE_HAVE_CUDA
#include "engine/native/cuda/cuda_provider.h"
#endif

struct native {
    struct joule_model *model;
    struct jn_weights w;
    struct jn_cpu cpu;
    void *cuda; /* the CUDA provider's handle; NULL when running on the CPU */
};

static enum joule_status native_probe(const char *provider)
{
    if (!strcmp(provider, "cpu")) return JOULE_OK;
    if (!strcmp(provider, "cuda")) {
#ifdef JOULE_HAVE_CUDA
        return joule_cuda_probe();
#else
        return joule_errorf(JOULE_ERR_UNAVAILABLE,
                            "the native engine's cuda provider is not built into this joule "
                            "(configure with -DJOULE_CUDA=ON)");
#endif
    }
    return joule_errorf(JOULE_ERR_UNAVAILABLE, "unknown provider '%s' (cpu, cuda)", provider);
}

static void native_free(void *impl)
{
    struct native *e = impl;
    if (!e) return;
#ifdef JOULE_HAVE_CUDA
    joule_cuda_free(e->cuda);
#endif
    jn_cpu_free(&e->cpu);
    jn_weights_free(&e->w);
    joule_model_free(e->model);
    free(e);
}

static enum joule_status native_open(const char *model_path, const struct joule_engine_params *p,
                                     void **impl, struct joule_engine_info *info)
{
    *impl = NULL;
    if (p->quantize && *p->quantize && strcmp(p->quantize, "q8") && strcmp(p->quantize, "q8_0"))
        return joule_errorf(JOULE_ERR_UNSUPPORTED, "unknown quantization '%s' (q8)", p->quantize);
    struct native *e = calloc(1, sizeof *e);
    if (!e) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    enum joule_status s = joule_model_load(model_path, NULL, &e->model);
    if (s == JOULE_OK) s = jn_weights_init(&e->w, e->model);
    /* the CPU provider computes every product as dot products over contiguous rows; the CUDA
     * provider reads either layout */
    if (s == JOULE_OK && strcmp(p->provider, "cuda")) s = jn_weights_transpose_conv1d(&e->w);
    if (s == JOULE_OK && p->quantize && *p->quantize) s = jn_weights_quantize_q8(&e->w);
    const char *hp = getenv("JOULE_HUGEPAGES");
    if (s == JOULE_OK && hp && !strcmp(hp, "1")) s = jn_weights_copy_hugepages(&e->w);
    const struct joule_model_config *c = s == JOULE_OK ? joule_model_get_config(e->model) : NULL;
    int n_ctx = 0;
    if (s == JOULE_OK) {
        n_ctx = p->n_ctx > 0 && p->n_ctx < c->max_positions ? p->n_ctx : c->max_positions;
#ifdef JOULE_HAVE_CUDA
        if (!strcmp(p->provider, "cuda"))
            s = joule_cuda_open(&e->w, n_ctx, &e->cuda);
        else
#endif
            s = jn_cpu_init(&e->cpu, &e->w, p->n_threads > 0 ? p->n_threads : 1, n_ctx);
    }
    if (s != JOULE_OK) {
        native_free(e);
        return s;
    }
    memset(info, 0, sizeof *info);
    info->engine = "native";
    info->provider = e->cuda ? "cuda" : "cpu";
    info->model_name = joule_model_name(e->model);
    info->arch = joule_arch_name(c->arch);
    info->dtype = p->quantize && *p->quantize ? "q8_0" : joule_dtype_name(c->dtype);
    info->n_vocab = c->vocab_size;
    info->n_ctx = n_ctx;
    info->bos_id = c->bos_token_id;
    info->eos_id = c->eos_token_id;
    info->n_threads = p->n_threads > 0 ? p->n_threads : 1;
    *impl = e;
    return JOULE_OK;
}

static enum joule_status native_reset(void *impl)
{
    (void)impl; /* positions are overwritten as the cache refills */
    return JOULE_OK;
}

static enum joule_status native_eval(void *impl, const int32_t *tokens, size_t n, size_t n_past,
                                     float *logits, int all_logits)
{
    struct native *e = impl;
#ifdef JOULE_HAVE_CUDA
    if (e->cuda) return joule_cuda_eval(e->cuda, tokens, n, n_past, logits, all_logits);
#endif
    return jn_cpu_eval(&e->cpu, tokens, n, n_past, logits, all_logits);
}

const struct joule_engine_vtable joule_engine_native = {
    .version = JOULE_ENGINE_VTABLE_VERSION,
    .name = "native",
    .probe = native_probe,
    .open = native_open,
    .free = native_free,
    .reset = native_reset,
    .eval = native_eval,
};
