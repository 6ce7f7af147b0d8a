/* Fuzz target: safetensors, through the header parser and through the real model loader.
 *
 * 1. joule_safetensors_parse() on the bytes: JOULE_OK with every tensor inside the buffer,
 *    or a clean error.
 * 2. When the header parses, the bytes are written as model.safetensors into a scratch model
 *    directory beside a fixed tiny GPT-2 config.json (vocab 4, 2 positions, width 4, one layer
 *    of one head, MLP width 4) and loaded with joule_model_load(): shape validation against the
 *    architecture, tensor binding (with or without the "transformer." prefix), the alignment
 *    copy and, when the input's length is odd, the F16/BF16 -> F32 conversion. A load that
 *    succeeds must give every expected tensor, each inside its mapping, and every byte of
 *    every tensor is read (so ASan sees any escape). fuzz/corpus/safetensors/ holds
 *    well-formed models for this config (F32, F16, BF16, misaligned) so the fuzzer starts deep. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "joule/model.h"
#include "model/arch.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char CONFIG[] =
    "{\"model_type\":\"gpt2\",\"vocab_size\":4,\"n_positions\":2,\"n_embd\":4,\"n_layer\":1,"
    "\"n_head\":1,\"n_inner\":4,\"activation_function\":\"gelu_new\","
    "\"layer_norm_epsilon\":1e-05,\"tie_word_embeddings\":true}";

static char g_dir[64];

static void cleanup(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/model.safetensors", g_dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/config.json", g_dir);
    unlink(p);
    rmdir(g_dir);
}

static int write_file(const char *name, const void *d, size_t n)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) return -1;
    int ok = fwrite(d, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static int setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/joule-fuzz-st-XXXXXX",
             tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) return -1;
    atexit(cleanup);
    return write_file("config.json", CONFIG, sizeof CONFIG - 1);
}

static void load_dir(size_t size)
{
    struct joule_model_params p = joule_model_default_params();
    if (size % 2) p.convert_to = JOULE_DTYPE_F32;
    struct joule_model *m = NULL;
    if (joule_model_load(g_dir, &p, &m) != JOULE_OK) {
        if (m || !joule_last_error()[0]) abort(); /* a failure says why and leaves nothing */
        return;
    }
    const struct joule_model_config *c = joule_model_get_config(m);
    if (c->vocab_size != 4 || c->n_layers != 1) abort();
    if (!joule_model_role(m, JOULE_ROLE_TOK_EMB, -1) || !joule_model_role(m, JOULE_ROLE_QKV_W, 0))
        abort();
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < joule_model_n_tensors(m); i++) {
        const struct joule_tensor *t = joule_model_tensor_at(m, i);
        if (!t || !t->name || (t->nbytes && !t->data)) abort();
        if (p.convert_to == JOULE_DTYPE_F32 &&
            (t->dtype == JOULE_DTYPE_F16 || t->dtype == JOULE_DTYPE_BF16))
            abort(); /* conversion asked for and not done */
        size_t es = joule_dtype_size(t->dtype);
        if (es > 1 && (uintptr_t)t->data % es) abort(); /* the engines need aligned data */
        const uint8_t *b = t->data;
        for (size_t k = 0; k < t->nbytes; k++)
            sink ^= b[k];
    }
    (void)sink;
    joule_model_free(m);
}

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
    /* then the same bytes as a model directory, through the loader */
    static int ready = 0;
    if (!ready) {
        if (setup() != 0) abort(); /* the harness itself is broken */
        ready = 1;
    }
    if (write_file("model.safetensors", data, size) != 0) abort();
    load_dir(size);
    return 0;
}
