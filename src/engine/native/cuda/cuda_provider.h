/* The native engine's CUDA execution provider (internal interface).
 *
 * Built only with -DJOULE_CUDA=ON (the definitions live in cuda_provider.cu);
 * callers guard their use with #ifdef JOULE_HAVE_CUDA.  The provider holds a
 * device copy of the model's weights (F32, F16 and BF16 as stored), a KV cache
 * on the device and the scratch buffers of one forward pass; it computes the
 * same function as the CPU provider with float32 activations and accumulation.
 * A handle is used by one thread at a time. */
#ifndef JOULE_ENGINE_NATIVE_CUDA_PROVIDER_H
#define JOULE_ENGINE_NATIVE_CUDA_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "joule/model.h"
#include "joule/status.h"

struct jn_weights; /* engine/native/weights.h */

#ifdef __cplusplus
extern "C" {
#endif

/* JOULE_OK when a usable CUDA device (compute capability 8.0 or newer) and
 * driver are present; else JOULE_ERR_UNAVAILABLE and joule_last_error() says
 * why ("no NVIDIA driver", "no CUDA device", ...). Never fails otherwise;
 * safe to call on machines without the driver library. */
enum joule_status joule_cuda_probe(void);

/* A one-line description of device 0 ("NVIDIA H100 80GB HBM3, cc 9.0, 79.1 GiB"),
 * written into buf (always NUL-terminated). Returns JOULE_ERR_UNAVAILABLE when
 * there is no device. */
enum joule_status joule_cuda_device_name(char *buf, size_t size);

/* Upload the weights `w` binds (the family's layout choices included) and
 * allocate a KV cache for `n_ctx` positions (1 <= n_ctx <= max_positions).
 * On success *ctx is owned by the caller (joule_cuda_free); `w` and its model
 * may be freed afterwards (nothing on the device refers to host memory). On failure *ctx is NULL
 * and nothing is leaked: JOULE_ERR_UNAVAILABLE (no device), JOULE_ERR_UNSUPPORTED (dtype or family
 * the kernels do not handle), JOULE_ERR_NOT_FOUND (a tensor is missing), JOULE_ERR_NOMEM (device
 * memory), JOULE_ERR_INTERNAL (a CUDA call failed). */
enum joule_status joule_cuda_open(const struct jn_weights *w, int n_ctx, void **ctx);

/* Forget the cached positions (the next eval may start at n_past = 0). */
enum joule_status joule_cuda_reset(void *ctx);

/* Evaluate `n` tokens at positions n_past .. n_past+n-1 and append their keys
 * and values to the cache. The caller checked n_past + n <= n_ctx and that the
 * ids are inside the vocabulary (they are checked again). logits: NULL, or
 * [n_vocab] floats for the last token (all_logits = 0), or [n × n_vocab]
 * row-major (all_logits = 1); caller-owned. Single-token evaluations run as a
 * CUDA graph captured on first use (JOULE_CUDA_GRAPHS=0 turns that off). */
enum joule_status joule_cuda_eval(void *ctx, const int32_t *tokens, size_t n, size_t n_past,
                                  float *logits, int all_logits);

/* Release everything the handle owns on the device and the host. NULL is a no-op. */
void joule_cuda_free(void *ctx);

#ifdef __cplusplus
}
#endif
#endif
