/* joule — tokenizers: Hugging Face tokenizer.json, encoding and decoding
 * exactly as the Hugging Face tokenizers library does for the study's families. */
#ifndef JOULE_TOKENIZER_H
#define JOULE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "joule/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct joule_tokenizer; /* opaque; immutable after load, safe to share across threads */

/* Load tokenizer.json. Unsupported components fail with JOULE_ERR_UNSUPPORTED
 * and a message naming them. *out is owned by the caller (joule_tokenizer_free). */
enum joule_status joule_tokenizer_load(const char *path, struct joule_tokenizer **out);
enum joule_status joule_tokenizer_load_from_memory(const char *json, size_t len,
                                                   struct joule_tokenizer **out);
void joule_tokenizer_free(struct joule_tokenizer *t);

/* Encode `len` bytes of text (any bytes, NULs included). Text that is not valid
 * UTF-8 is repaired first as Rust's String::from_utf8_lossy does (each maximal
 * invalid subsequence becomes U+FFFD), so the ids are those Hugging Face gives
 * for the repaired string. Thread-safe: no state is shared between calls.
 * add_special: apply the post-processor template (BOS/EOS) like
 * tokenizer.encode(text, add_special_tokens=True).
 * Writes up to `cap` ids into `ids` and returns in *n_ids the number of ids
 * the encoding has (which may exceed `cap`: call again with a bigger buffer). */
enum joule_status joule_tokenizer_encode(const struct joule_tokenizer *t, const char *text,
                                         size_t len, int add_special, int32_t *ids, size_t cap,
                                         size_t *n_ids);

/* Decode ids to text like tokenizer.decode(ids, skip_special_tokens=skip_special).
 * The result is always valid UTF-8 (byte sequences that do not form UTF-8 become
 * U+FFFD, as in tokenizers). An added token with normalized=true decodes from its
 * normalized form (tokenizers >= 0.22), e.g. Llama's "<s>" as "\u2581<s>".
 * skip_special drops the added tokens marked special, by id.
 * Writes up to `cap` bytes (NUL-terminated when it fits) and returns the full
 * length in *n_bytes (excluding the NUL). Ids outside the vocabulary are an error. */
enum joule_status joule_tokenizer_decode(const struct joule_tokenizer *t, const int32_t *ids,
                                         size_t n, int skip_special, char *out, size_t cap,
                                         size_t *n_bytes);

/* Streaming decode (added; like tokenizers' DecodeStream): push generated ids one
 * at a time and get the text each one completes. Text is held back while it ends
 * in an incomplete UTF-8 sequence, and enough preceding ids are kept as context
 * that decoders which treat the first token specially (Metaspace, Strip) give
 * exactly the pieces of decode(all ids). The stream borrows `t` (keep it alive);
 * *out is owned by the caller (joule_tokenizer_stream_free). */
struct joule_tokenizer_stream;
enum joule_status joule_tokenizer_stream_init(const struct joule_tokenizer *t, int skip_special,
                                              struct joule_tokenizer_stream **out);
/* Sets *text and *len to the text this id completes (possibly empty, NUL-terminated).
 * *text is owned by the stream and valid until the next push or free. */
enum joule_status joule_tokenizer_stream_push(struct joule_tokenizer_stream *st, int32_t id,
                                              const char **text, size_t *len);
void joule_tokenizer_stream_free(struct joule_tokenizer_stream *st);

/* Vocabulary size: the largest id of the model vocabulary or the added tokens,
 * plus one. */
size_t joule_tokenizer_vocab_size(const struct joule_tokenizer *t); /* incl. added tokens */
/* BOS/EOS: the special tokens before/after the sequence in the post-processor
 * template; without one, the added token named <s>/<bos>/<|begin_of_text|>/
 * <|startoftext|>/<|endoftext|> (BOS) or </s>/<eos>/<|end_of_text|>/<|endoftext|> (EOS). */
int32_t joule_tokenizer_bos_id(const struct joule_tokenizer *t); /* -1 if none */
int32_t joule_tokenizer_eos_id(const struct joule_tokenizer *t); /* -1 if none */
/* Id of an exact token string (vocabulary or added token); -1 if none. */
int32_t joule_tokenizer_token_id(const struct joule_tokenizer *t, const char *token);

#ifdef __cplusplus
}
#endif
#endif
