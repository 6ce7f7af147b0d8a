/* joule — GGUF (v3, llama.cpp's model container): reading, and converting a
 * Hugging Face snapshot directory of the study's seven families to it with the
 * metadata keys, tensor names and layouts llama.cpp expects. */
#ifndef JOULE_GGUF_H
#define JOULE_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "joule/model.h"
#include "joule/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GGUF metadata value types (the file's numbering). */
enum joule_gguf_type {
    JOULE_GGUF_UINT8 = 0,
    JOULE_GGUF_INT8 = 1,
    JOULE_GGUF_UINT16 = 2,
    JOULE_GGUF_INT16 = 3,
    JOULE_GGUF_UINT32 = 4,
    JOULE_GGUF_INT32 = 5,
    JOULE_GGUF_FLOAT32 = 6,
    JOULE_GGUF_BOOL = 7,
    JOULE_GGUF_STRING = 8,
    JOULE_GGUF_ARRAY = 9,
    JOULE_GGUF_UINT64 = 10,
    JOULE_GGUF_INT64 = 11,
    JOULE_GGUF_FLOAT64 = 12,
};

/* ggml tensor types that joule writes (the file's numbering). */
enum joule_ggml_type {
    JOULE_GGML_F32 = 0,
    JOULE_GGML_F16 = 1,
    JOULE_GGML_Q8_0 = 8,
    JOULE_GGML_BF16 = 30,
};

struct joule_gguf; /* opaque, read-only view of a GGUF file */

struct joule_gguf_tensor {
    const char *name; /* owned by the handle */
    uint32_t type;    /* ggml type number */
    uint32_t n_dims;
    uint64_t ne[4];   /* ggml order: ne[0] is the contiguous dimension */
    uint64_t offset;  /* from the start of the data section */
    uint64_t nbytes;  /* 0 for a type joule does not know the size of */
    const void *data; /* NULL when the file was parsed without its data */
};

/* Map and parse `path`. Every count, length and offset is checked against the
 * file size: a corrupt file is JOULE_ERR_FORMAT, never a crash. *out is owned
 * by the caller (joule_gguf_free). */
enum joule_status joule_gguf_open(const char *path, struct joule_gguf **out);
/* Parse a GGUF image in memory (borrowed: must outlive the handle). */
enum joule_status joule_gguf_parse(const void *data, size_t size, struct joule_gguf **out);
void joule_gguf_free(struct joule_gguf *g);

uint32_t joule_gguf_version(const struct joule_gguf *g);
size_t joule_gguf_n_kv(const struct joule_gguf *g);
const char *joule_gguf_kv_key(const struct joule_gguf *g, size_t i);
enum joule_gguf_type joule_gguf_kv_type(const struct joule_gguf *g, size_t i);
/* For arrays: the element type and count. */
enum joule_gguf_type joule_gguf_kv_array_type(const struct joule_gguf *g, size_t i);
uint64_t joule_gguf_kv_array_len(const struct joule_gguf *g, size_t i);
/* Index of `key`, or -1. */
long joule_gguf_find_key(const struct joule_gguf *g, const char *key);
/* Scalar values: integers (any width, bool) and floats; strings (not NUL-terminated in
 * the file: copied into buf, truncated to cap-1). Return -1 on a type mismatch. */
int joule_gguf_kv_int(const struct joule_gguf *g, size_t i, int64_t *out);
int joule_gguf_kv_float(const struct joule_gguf *g, size_t i, double *out);
int joule_gguf_kv_str(const struct joule_gguf *g, size_t i, char *buf, size_t cap);
/* A printable rendering of value i (arrays: type, length and the first few
 * elements) into buf; returns buf. */
const char *joule_gguf_kv_format(const struct joule_gguf *g, size_t i, char *buf, size_t cap);

size_t joule_gguf_n_tensors(const struct joule_gguf *g);
const struct joule_gguf_tensor *joule_gguf_tensor_at(const struct joule_gguf *g, size_t i);
const struct joule_gguf_tensor *joule_gguf_find_tensor(const struct joule_gguf *g,
                                                       const char *name);
const char *joule_ggml_type_name(uint32_t type); /* "f32", "q8_0", ... or "?" */

/* Write the metadata and tensor table of `g` to f (joule inspect). */
void joule_gguf_print(const struct joule_gguf *g, FILE *f);

/* ---- conversion from a Hugging Face directory ---------------------------- */

struct joule_gguf_convert_params {
    enum joule_dtype type; /* F32, F16, BF16 or Q8_0 for 2-D weights, or JOULE_DTYPE_COUNT
                              for each as stored; 1-D tensors stay F32 (default F32) */
    int with_tokenizer;    /* tokenizer.json -> tokenizer.ggml.* (default 1); without one
                              (or with --no-tokenizer) the vocabulary is "none" + vocab_size */
    int allow_inexact;     /* convert GPT-2 with scale_attn_by_inverse_layer_idx anyway (llama.cpp
                              computes the same work without that scaling: for cost studies
                              only; default 0) */
};
struct joule_gguf_convert_params joule_gguf_convert_default_params(void);

/* Convert the snapshot at `model_dir` (loaded and validated by joule_model_load:
 * config.json + model.safetensors or a sharded index; F32/F16/BF16) to `out_path` (written through
 * a temporary file and renamed), tensor by tensor. llama.cpp architectures: gpt2, starcoder
 * (gpt_bigcode), gptneox, bloom, llama, gemma, phi2. GPT-2 checkpoints with
 * scale_attn_by_inverse_layer_idx are JOULE_ERR_UNSUPPORTED (llama.cpp's gpt2 graph lacks it)
 * unless allow_inexact. */
enum joule_status joule_gguf_convert(const char *model_dir, const char *out_path,
                                     const struct joule_gguf_convert_params *params);

#ifdef __cplusplus
}
#endif
#endif
