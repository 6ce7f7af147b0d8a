/* joule — the prompt dataset: random token windows of HumanEval prompts.
 *
 * For each problem of a JSONL file (optionally gzip'd), the whole prompt is
 * tokenized (without special tokens), a window of L tokens is taken, with L
 * uniform in [min_tokens, max_tokens] and its start uniform over the possible
 * starts, and the window is decoded (skipping special tokens). A prompt of at
 * most L tokens is used whole. Randomness comes from splitmix64 seeded with
 * `seed`: for each problem, in file order, the first draw gives L and the second
 * the start (both drawn for every problem, so one short prompt does not shift
 * the windows of the others); a draw in [0, k) is taken by rejection from the
 * 64-bit output, so it is exactly uniform. The same input, tokenizer and seed
 * always give the same file. */
#ifndef JOULE_DATASET_H
#define JOULE_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "joule/status.h"
#include "joule/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

struct joule_dataset_params {
    int min_tokens; /* default 10 */
    int max_tokens; /* default 15 */
    uint64_t seed;  /* default 0 */
    /* Field holding the prompt text; NULL = "prompt", else "new_prompt". */
    const char *field;
};
struct joule_dataset_params joule_dataset_default_params(void);

/* Window of one text: tokenize `text`, pick the window with the generator state
 * *rng (advanced by two draws) and decode it. *out is malloc'd, NUL-terminated,
 * owned by the caller; *n_tokens is the window's length in tokens. */
enum joule_status joule_dataset_window(const struct joule_tokenizer *t, const char *text,
                                       size_t len, int min_tokens, int max_tokens, uint64_t *rng,
                                       char **out, int *n_tokens);

/* Read `in_path` (.jsonl or .jsonl.gz; one JSON object per line with "task_id"
 * and the prompt field; blank lines are skipped) and write one line
 * {"task_id","prompt","n_tokens","seed"} per problem to `out_path` (atomically).
 * A bad line fails with JOULE_ERR_FORMAT naming the file and line number.
 * *n_written (may be NULL) receives the number of lines written. */
enum joule_status joule_dataset_build(const char *in_path, const struct joule_tokenizer *t,
                                      const struct joule_dataset_params *p, const char *out_path,
                                      size_t *n_written);

/* splitmix64: the generator used above (exposed for tests and reuse). */
uint64_t joule_splitmix64(uint64_t *state);

#ifdef __cplusplus
}
#endif
#endif
