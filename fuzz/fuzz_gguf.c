/* Fuzz target: the GGUF reader (joule inspect, the converter's checks). Any input must parse
 * with every tensor inside the buffer and every value readable through each accessor (every
 * scalar type, strings, arrays of each type nested up to the depth limit) and printable, or
 * fail cleanly. Seeds: corpus/gguf/all_value_types.gguf has every value type and nested
 * arrays; converted_gpt2_f32.gguf is what `joule convert` writes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        enum joule_gguf_type ty = joule_gguf_kv_type(g, i);
        joule_gguf_kv_format(g, i, buf, sizeof buf);
        if (strlen(buf) >= sizeof buf) abort();
        if (joule_gguf_kv_int(g, i, &v) == 0) {
            if (ty == JOULE_GGUF_ARRAY || ty == JOULE_GGUF_STRING || ty == JOULE_GGUF_FLOAT32 ||
                ty == JOULE_GGUF_FLOAT64)
                abort();
            if ((ty == JOULE_GGUF_UINT64 || ty == JOULE_GGUF_UINT32) && v < 0) abort();
        }
        joule_gguf_kv_float(g, i, &d);
        if (joule_gguf_kv_str(g, i, buf, sizeof buf) == 0 && ty != JOULE_GGUF_STRING) abort();
        if (ty == JOULE_GGUF_ARRAY) {
            (void)joule_gguf_kv_array_type(g, i);
            (void)joule_gguf_kv_array_len(g, i);
        } else if (joule_gguf_kv_array_len(g, i) != 0) {
            abort();
        }
        /* lookups by key find this entry or an earlier one with the same key */
        long k = joule_gguf_find_key(g, joule_gguf_kv_key(g, i));
        if (k < 0 || (size_t)k > i) abort();
    }
    for (size_t i = 0; i < joule_gguf_n_tensors(g); i++) {
        const struct joule_gguf_tensor *t = joule_gguf_tensor_at(g, i);
        if (!t || !t->name || t->n_dims < 1 || t->n_dims > 4) abort();
        if (joule_gguf_find_tensor(g, t->name) == NULL) abort();
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
