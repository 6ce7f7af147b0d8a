/* Fuzz target: config.json parsing (both transformers styles). Any input
 * gives a validated config or a clean error; a valid config's tensor list
 * is then built, so absurd sizes must have been refused. */
#include <stdint.h>
#include <stdlib.h>

#include "joule/model.h"
#include "model/arch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct joule_model_config c;
    if (joule_model_parse_config((const char *)data, size, &c) != JOULE_OK) return 0;
    if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.n_layers <= 0 || c.n_heads <= 0 ||
        c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads || c.head_dim <= 0 || c.rotary_dim < 0 ||
        c.rotary_dim > c.head_dim)
        abort();
    size_t n = joule_arch_specs(&c, NULL, 0);
    if (n == 0 || n > 64 * (size_t)c.n_layers + 64) abort();
    return 0;
}
