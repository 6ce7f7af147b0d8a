/* safetensors: header parsing and validation (internal to the model module).
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the data; offsets are relative to the first byte after the header. */
#ifndef JOULE_MODEL_SAFETENSORS_H
#define JOULE_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "joule/model.h"

/* Headers larger than this are refused (real checkpoints have a few hundred KB). */
#define JOULE_SAFETENSORS_MAX_HEADER ((size_t)100 << 20)

struct joule_st_tensor {
    char *name;
    enum joule_dtype dtype;
    int n_dims;
    int64_t shape[4];
    size_t offset; /* from the start of the buffer (not of the data section) */
    size_t nbytes;
};

struct joule_st_file {
    struct joule_st_tensor *tensors;
    size_t n_tensors;
};

/* Parse and validate a whole safetensors file held in `buf` (`size` bytes):
 * header size and JSON, dtypes, shapes, offsets inside the data section, sizes
 * that match shape × dtype without overflow, no overlapping tensors, no
 * duplicate names. `label` names the file in error messages. On success the
 * caller releases `out` with joule_safetensors_clear(). */
enum joule_status joule_safetensors_parse(const unsigned char *buf, size_t size, const char *label,
                                          struct joule_st_file *out);
void joule_safetensors_clear(struct joule_st_file *f);

/* Bytes per element of a safetensors dtype; 0 for block formats. */
size_t joule_dtype_size(enum joule_dtype t);

#endif
