/* Fuzz target: the GGUF reader. Any input must parse with every tensor inside
 * the buffer and every value printable, or fail cleanly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "joule/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct joule_gguf *g;
    if (joule_gguf_parse(data, size, &g) != JOULE_OK) return 0;
    char buf[512];
    for (size_t i = 0; i < joule_gguf_n_kv(g); i++) {
        int64_t v;
        double d;
        joule_gguf_kv_format(g, i, buf, sizeof buf);
        joule_gguf_kv_int(g, i, &v);
        joule_gguf_kv_float(g, i, &d);
        joule_gguf_kv_str(g, i, buf, sizeof buf);
    }
    for (size_t i = 0; i < joule_gguf_n_tensors(g); i++) {
        const struct joule_gguf_tensor *t = joule_gguf_tensor_at(g, i);
        if (!t->data) continue;
        const uint8_t *p = t->data;
        if (p < data || t->nbytes > size || (size_t)(p - data) > size - t->nbytes) abort();
        volatile uint8_t sink = 0; /* touch the first and last byte, so ASan sees any escape */
        if (t->nbytes) sink ^= p[0] ^ p[t->nbytes - 1];
        (void)sink;
    }
    FILE *null = fopen("/dev/null", "w");
    if (null) {
        joule_gguf_print(g, null);
        fclose(null);
    }
    joule_gguf_free(g);
    return 0;
}
