/* Fuzz target: the safetensors header parser and validator. Any input must
 * give JOULE_OK with every tensor inside the buffer, or a clean error. */
#include <stdint.h>
#include <stdlib.h>

#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct joule_st_file f;
    if (joule_safetensors_parse(data, size, "fuzz", &f) != JOULE_OK) return 0;
    for (size_t i = 0; i < f.n_tensors; i++) {
        const struct joule_st_tensor *t = &f.tensors[i];
        if (t->offset > size || t->nbytes > size - t->offset) abort();
        /* touch the first and last byte, so ASan sees any escape */
        volatile uint8_t sink = 0;
        if (t->nbytes) sink ^= data[t->offset] ^ data[t->offset + t->nbytes - 1];
        (void)sink;
    }
    joule_safetensors_clear(&f);
    return 0;
}
