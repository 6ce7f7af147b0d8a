/* joule — synthetic checkpoints: a Hugging Face snapshot directory with the
 * exact shape of one of the study's models (or a tiny test shape), random
 * weights and a byte-level BPE tokenizer, so that the study runs without
 * downloading weights (the cost of inference does not depend on the values).
 *
 * DIR receives:
 *   config.json       the shape's config (transformers 4.x hub keys) plus
 *                     "torch_dtype" and a "joule_synth" note (like, seed, dtype)
 *   model.safetensors tensors named, shaped and laid out as transformers names them
 *                     (GPT-2 Conv1D weights [in, out]); written tensor by tensor,
 *                     never held in memory as a whole
 *   tokenizer.json, tokenizer_config.json
 *                     byte-level BPE (GPT-2 pre-tokenizer and decoder) whose size
 *                     equals vocab_size: 256 byte tokens, merges learned from the
 *                     bundled HumanEval prompts and solutions, special tokens at the
 *                     config's ids (<|endoftext|> = eos), the rest unreachable
 *                     "<|reserved_N|>" entries
 * Values: linear and embedding weights ~ N(0, 0.02) (Irwin-Hall approximation,
 * bounded at 3.5 sigma), every bias 0, LayerNorm / RMSNorm weights 1 (Gemma's
 * (1 + w) norms 0), so that the activations stay numerically sane.  The same
 * (like, dtype, seed, layers) gives byte-identical files. */
#ifndef JOULE_SYNTH_H
#define JOULE_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "joule/model.h"
#include "joule/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct joule_synth_params {
    enum joule_dtype dtype;  /* F32 (default), F16 or BF16 */
    uint64_t seed;           /* default 0 */
    int n_layers;            /* 0 = as the shape (default); else override the layer count */
    int max_merges;          /* BPE merges to learn at most (default 4096) */
    int write_tokenizer;     /* default 1 */
    const char *corpus_path; /* HumanEval.jsonl.gz; NULL = $JOULE_DATA_DIR, ./data, or
                                ../data and ../share/joule/data beside the executable */
};
struct joule_synth_params joule_synth_default_params(void);

/* Number of known shapes and their names (the study's 12 Hugging Face names,
 * then tiny-gpt2, tiny-gpt-bigcode, ...). Static strings. */
size_t joule_synth_n_shapes(void);
const char *joule_synth_shape_name(size_t i);
/* Index of a shape by full name, by the part after the slash, or -1. */
int joule_synth_find_shape(const char *like);

/* The shape's built-in config.json text (hub style), or NULL when `like` is unknown. Static. */
const char *joule_synth_shape_config(const char *like);

/* Parameters the shape would have (after `n_layers` override; 0 = as is), or -1
 * when `like` is unknown. */
int64_t joule_synth_param_count(const char *like, int n_layers);

/* Write the checkpoint for `like` into `out_dir` (created if missing; existing
 * files of the same names are replaced atomically). Fails with JOULE_ERR_NOT_FOUND
 * for an unknown name, JOULE_ERR_LIMIT when the file system has not enough free
 * space for the weights, JOULE_ERR_IO on write errors. Creates nothing outside
 * out_dir. */
enum joule_status joule_synth_write(const char *like, const char *out_dir,
                                    const struct joule_synth_params *params);

/* The tokenizer alone: write DIR/tokenizer.json (and tokenizer_config.json) of
 * exactly `vocab_size` entries with the given special ids (-1 = none; eos_id must
 * be valid). Used by joule_synth_write. */
enum joule_status joule_synth_write_tokenizer(const char *out_dir, int vocab_size, int bos_id,
                                              int eos_id, int pad_id, int unk_id,
                                              const struct joule_synth_params *params);

#ifdef __cplusplus
}
#endif
#endif
