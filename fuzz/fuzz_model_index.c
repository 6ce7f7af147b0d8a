/* Fuzz target: sharded checkpoints — model.safetensors.index.json through joule_model_load.
 * The fuzz input is the index file, written into a scratch model directory that holds the tiny
 * GPT-2 config.json of fuzz_safetensors and two valid shards of it, a.safetensors (embeddings
 * and final norm) and b.safetensors (layer 0). The index may name any shard (missing files,
 * paths that try to leave the directory, one shard twice, tensors a shard lacks); a load that
 * succeeds must hold every tensor of the architecture exactly once, each inside its shard. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "joule/model.h"
#include "model/arch.h"
#include "util/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char CONFIG[] =
    "{\"model_type\":\"gpt2\",\"vocab_size\":4,\"n_positions\":2,\"n_embd\":4,\"n_layer\":1,"
    "\"n_head\":1,\"n_inner\":4,\"activation_function\":\"gelu_new\"}";

static char g_dir[64];

static const char *const SHARD_A[] = {"wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"};
static const int SHAPE_A[][2] = {{4, 4}, {2, 4}, {4, 0}, {4, 0}};
static const char *const SHARD_B[] = {
    "h.0.ln_1.weight",      "h.0.ln_1.bias",          "h.0.attn.c_attn.weight",
    "h.0.attn.c_attn.bias", "h.0.attn.c_proj.weight", "h.0.attn.c_proj.bias",
    "h.0.ln_2.weight",      "h.0.ln_2.bias",          "h.0.mlp.c_fc.weight",
    "h.0.mlp.c_fc.bias",    "h.0.mlp.c_proj.weight",  "h.0.mlp.c_proj.bias"};
static const int SHAPE_B[][2] = {{4, 0}, {4, 0}, {4, 12}, {12, 0}, {4, 4}, {4, 0},
                                 {4, 0}, {4, 0}, {4, 4},  {4, 0},  {4, 4}, {4, 0}};

/* A valid F32 safetensors file of the named tensors (zeros). */
static void write_shard(const char *name, const char *const *names, const int (*shape)[2], size_t n)
{
    char hdr[4096], path[128];
    size_t h = 0, off = 0;
    h += (size_t)snprintf(hdr + h, sizeof hdr - h, "{");
    for (size_t i = 0; i < n; i++) {
        size_t nb = 4 * (size_t)shape[i][0] * (size_t)(shape[i][1] ? shape[i][1] : 1);
        if (shape[i][1])
            h += (size_t)snprintf(hdr + h, sizeof hdr - h,
                                  "%s\"transformer.%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],"
                                  "\"data_offsets\":[%zu,%zu]}",
                                  i ? "," : "", names[i], shape[i][0], shape[i][1], off, off + nb);
        else
            h += (size_t)snprintf(hdr + h, sizeof hdr - h,
                                  "%s\"transformer.%s\":{\"dtype\":\"F32\",\"shape\":[%d],"
                                  "\"data_offsets\":[%zu,%zu]}",
                                  i ? "," : "", names[i], shape[i][0], off, off + nb);
        off += nb;
    }
    h += (size_t)snprintf(hdr + h, sizeof hdr - h, "}");
    while ((8 + h) % 8)
        hdr[h++] = ' ';
    size_t total = 8 + h + off;
    unsigned char *buf = calloc(1, total);
    if (!buf) abort();
    for (int k = 0; k < 8; k++)
        buf[k] = (unsigned char)((uint64_t)h >> (8 * k));
    memcpy(buf + 8, hdr, h);
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    if (joule_write_file_atomic(path, buf, total) != JOULE_OK) abort();
    free(buf);
}

static void cleanup(void)
{
    static const char *const files[] = {"config.json", "a.safetensors", "b.safetensors",
                                        "model.safetensors.index.json"};
    char p[128];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, files[i]);
        unlink(p);
    }
    rmdir(g_dir);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/joule-fuzz-idx-XXXXXX",
             tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) abort();
    atexit(cleanup);
    char p[128];
    snprintf(p, sizeof p, "%s/config.json", g_dir);
    if (joule_write_file_atomic(p, CONFIG, sizeof CONFIG - 1) != JOULE_OK) abort();
    write_shard("a.safetensors", SHARD_A, SHAPE_A, sizeof SHARD_A / sizeof SHARD_A[0]);
    write_shard("b.safetensors", SHARD_B, SHAPE_B, sizeof SHARD_B / sizeof SHARD_B[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_dir[0]) setup();
    char p[128];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", g_dir);
    if (joule_write_file_atomic(p, data, size) != JOULE_OK) abort();
    struct joule_model *m = NULL;
    if (joule_model_load(g_dir, NULL, &m) != JOULE_OK) {
        if (m || !joule_last_error()[0]) abort();
        return 0;
    }
    /* both shards, every tensor once */
    if (joule_model_n_tensors(m) != 16) abort();
    for (size_t i = 0; i < joule_model_n_tensors(m); i++) {
        const struct joule_tensor *t = joule_model_tensor_at(m, i);
        if (i && strcmp(joule_model_tensor_at(m, i - 1)->name, t->name) >= 0) abort();
        volatile uint8_t sink = 0;
        const uint8_t *b = t->data;
        if (t->nbytes) sink ^= b[0] ^ b[t->nbytes - 1];
        (void)sink;
    }
    if (!joule_model_role(m, JOULE_ROLE_QKV_W, 0)) abort();
    joule_model_free(m);
    return 0;
}
