/* The function table every engine implements (internal). Bump
 * JOULE_ENGINE_VTABLE_VERSION when the table changes. */
#ifndef JOULE_ENGINE_IMPL_H
#define JOULE_ENGINE_IMPL_H

#include "joule/engine.h"

#define JOULE_ENGINE_VTABLE_VERSION 1

struct joule_engine_vtable {
    int version;
    const char *name;
    /* JOULE_OK if `provider` can run here, else JOULE_ERR_UNAVAILABLE with a reason. */
    enum joule_status (*probe)(const char *provider);
    /* Open the model; fill `info` (strings owned by the impl) and return an impl handle. */
    enum joule_status (*open)(const char *model_path, const struct joule_engine_params *params,
                              void **impl, struct joule_engine_info *info);
    void (*free)(void *impl);
    /* Drop the KV cache. */
    enum joule_status (*reset)(void *impl);
    /* Evaluate tokens at positions n_past..n_past+n-1 (the caller checked the
     * context bound). logits as in joule_engine_eval. */
    enum joule_status (*eval)(void *impl, const int32_t *tokens, size_t n, size_t n_past,
                              float *logits, int all_logits);
};

/* Engines compiled into this build. */
extern const struct joule_engine_vtable joule_engine_native;
#ifdef JOULE_HAVE_GGML
extern const struct joule_engine_vtable joule_engine_ggml;
#endif

#endif
