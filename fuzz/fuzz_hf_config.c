/* Fuzz target: config.json parsing (joule_model_parse_config), both the transformers 4.x hub
 * style and the transformers 5 style. Any input must give a configuration whose sizes are all
 * in range and consistent (the loader, the architecture tables and the engines size buffers
 * from them), or a clean error that leaves the output zeroed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "joule/model.h"
#include "model/arch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct joule_model_config c;
    memset(&c, 0xa5, sizeof c);
    if (joule_model_parse_config((const char *)data, size, &c) != JOULE_OK) {
        static const struct joule_model_config zero;
        if (memcmp(&c, &zero, sizeof c)) abort(); /* a failure leaves nothing half-filled */
        return 0;
    }
    if (!joule_arch_name(c.arch) || strcmp(c.model_type, joule_arch_name(c.arch))) abort();
    if (c.vocab_size < 1 || c.hidden_size < 1 || c.n_layers < 1 || c.n_heads < 1) abort();
    if (c.n_kv_heads < 1 || c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads) abort();
    if (c.head_dim < 1 || c.intermediate_size < 1 || c.max_positions < 1) abort();
    if (c.rotary_dim < 0 || c.rotary_dim > c.head_dim || c.rotary_dim % 2) abort();
    if (!(c.norm_eps >= 0) || !(c.rope_theta > 0)) abort();
    if (!memchr(c.model_type, 0, sizeof c.model_type) ||
        !memchr(c.activation, 0, sizeof c.activation))
        abort();
    if ((unsigned)c.dtype >= JOULE_DTYPE_COUNT) abort();
    /* the architecture's tensor table for this configuration: every shape positive */
    size_t n = joule_arch_specs(&c, NULL, 0);
    if (n == 0 || n > 64 + 32 * (size_t)c.n_layers) abort();
    struct joule_tensor_spec *specs = calloc(n, sizeof *specs);
    if (!specs) return 0;
    if (joule_arch_specs(&c, specs, n) != n) abort();
    for (size_t i = 0; i < n; i++) {
        if (!specs[i].name[0] || specs[i].layer < -1 || specs[i].layer >= c.n_layers) abort();
        if (specs[i].shape[0] < 1 || specs[i].shape[1] < 1) abort();
    }
    free(specs);
    return 0;
}
