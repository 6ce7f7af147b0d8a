/* Scalar conversions between the weight dtypes and float (internal; shared by
 * the loader and the engines). */
#ifndef JOULE_MODEL_DTYPE_H
#define JOULE_MODEL_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "joule/model.h"

#ifdef __cplusplus
extern "C" {
#endif

float joule_f16_to_f32(uint16_t h);
uint16_t joule_f32_to_f16(float f);  /* round to nearest even; overflow to inf */
uint16_t joule_f32_to_bf16(float f); /* round to nearest even; NaN stays NaN */
/* x rounded to the nearest f16 / bf16 value (ties to even), as a float; x itself for f32 */
float joule_round_to_dtype(float x, enum joule_dtype t);

static inline float joule_bf16_to_f32(uint16_t h)
{
    uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* Element i of F32/F16/BF16 data, as float. */
static inline float joule_elem_f32(const void *data, enum joule_dtype t, size_t i)
{
    const unsigned char *d = (const unsigned char *)data;
    if (t == JOULE_DTYPE_F32) {
        float f;
        memcpy(&f, d + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, d + 2 * i, 2);
    return t == JOULE_DTYPE_F16 ? joule_f16_to_f32(h) : joule_bf16_to_f32(h);
}

#ifdef __cplusplus
}
#endif
#endif
