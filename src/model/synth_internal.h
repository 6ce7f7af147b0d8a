/* Internal to joule synth (src/model/synth*.c) and its tests. */
#ifndef JOULE_MODEL_SYNTH_INTERNAL_H
#define JOULE_MODEL_SYNTH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "joule/status.h"

/* Byte-level BPE learned from a text. Symbols 0..255 are the bytes; each merge
 * k joins merges[3k] and merges[3k+1] into merges[3k+2], a new symbol or, when
 * the joined bytes already form one, that symbol (token strings stay unique).
 * Symbol s has the bytes bytes[off[s] .. off[s] + len[s]). */
struct joule_synth_bpe {
    int32_t *merges;
    int n_merges;
    int n_sym;
    size_t *off, *len;
    unsigned char *bytes;
};

/* Learn up to `max_merges` merges from `text` (GPT-2 pre-tokenization), most
 * frequent pair first, ties to the smallest (left, right) ids; stops when no pair
 * occurs twice. Deterministic. Release with joule_synth_bpe_free(). */
enum joule_status joule_synth_learn_bpe(const char *text, size_t len, int max_merges,
                                        struct joule_synth_bpe *out);
void joule_synth_bpe_free(struct joule_synth_bpe *b);

/* Split `text` into GPT-2 pre-tokens (ASCII approximation of the GPT-2 regex;
 * bytes >= 0x80 count as letters). Calls fn(start, len, ctx) for each. */
void joule_synth_pretokenize(const char *text, size_t len,
                             void (*fn)(const char *s, size_t n, void *ctx), void *ctx);

#endif
