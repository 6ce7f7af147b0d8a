/* libFuzzer target for the tokenizer: tokenizer.json parsing, encoding of random
 * bytes (invalid UTF-8, very long inputs), decoding of random ids, streaming
 * decode and the regex engine.
 *
 * The first input byte s picks the mode (s & 7; 5..7 act as 1), the tokenizer
 * ((s >> 3) & 15, modulo their number) and add/skip special tokens (s >> 7);
 * the rest is the payload:
 *   0: payload is a tokenizer.json: load it, encode and decode a fixed text
 *   1: encode the payload with a built-in tokenizer, decode it again; for valid
 *      UTF-8 with the lossless byte-level one, decode(encode(x)) must equal x
 *   2: payload as little-endian ids: decode and stream-decode
 *   3: payload repeated to 64 KiB and encoded (long inputs)
 *   4: payload is "pattern\0text": compile the regex and find all matches
 * Built-in tokenizers: a byte-level BPE over all 256 bytes with a few merges and
 * a Split pre-tokenizer, and a SentencePiece-style one (Prepend/Replace
 * normalizer, byte fallback, template). JOULE_FUZZ_TOKENIZERS=a.json:b.json adds
 * real files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "joule/tokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"
#include "tokenizers.h"

#define MAX_TOK 8
static struct joule_tokenizer *g_tok[MAX_TOK];
static int g_lossless[MAX_TOK];
static int g_ntok;

static void setup(void)
{
    char *bl = bytelevel_json();
    if (bl && joule_tokenizer_load_from_memory(bl, strlen(bl), &g_tok[g_ntok]) == JOULE_OK)
        g_lossless[g_ntok++] = 1;
    else
        fprintf(stderr, "fuzz_tokenizer: built-in byte-level tokenizer: %s\n", joule_last_error());
    free(bl);
    if (joule_tokenizer_load_from_memory(SP_JSON, sizeof SP_JSON - 1, &g_tok[g_ntok]) == JOULE_OK)
        g_ntok++;
    else
        fprintf(stderr, "fuzz_tokenizer: built-in sp tokenizer: %s\n", joule_last_error());
    const char *env = getenv("JOULE_FUZZ_TOKENIZERS");
    if (env) {
        char *list = strdup(env), *save = NULL;
        for (char *p = strtok_r(list, ":", &save); p && g_ntok < MAX_TOK;
             p = strtok_r(NULL, ":", &save))
            if (joule_tokenizer_load(p, &g_tok[g_ntok]) == JOULE_OK) g_ntok++;
        free(list);
    }
    if (g_ntok < 2) abort(); /* the harness itself is broken */
}

static void roundtrip(struct joule_tokenizer *t, int lossless, const uint8_t *d, size_t n,
                      int special)
{
    size_t need = 0;
    if (joule_tokenizer_encode(t, (const char *)d, n, special, NULL, 0, &need) != JOULE_OK) return;
    int32_t *ids = malloc((need ? need : 1) * sizeof *ids);
    if (!ids) return;
    size_t got = 0;
    if (joule_tokenizer_encode(t, (const char *)d, n, special, ids, need, &got) != JOULE_OK ||
        got != need)
        abort();
    size_t len = 0;
    if (joule_tokenizer_decode(t, ids, got, 0, NULL, 0, &len) != JOULE_OK) abort();
    char *s = malloc(len + 1);
    if (!s || joule_tokenizer_decode(t, ids, got, 0, s, len + 1, &len) != JOULE_OK) abort();
    if (lossless && !special && utf8_valid_prefix((const char *)d, n) == n &&
        (len != n || memcmp(s, d, n)))
        abort(); /* decode(encode(x)) != x */
    free(s);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_ntok) setup();
    if (size < 1) return 0;
    unsigned sel = data[0];
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    unsigned which = ((sel >> 3) & 15) % (unsigned)g_ntok, mode = sel & 7;
    struct joule_tokenizer *t = g_tok[which];
    int lossless = g_lossless[which];
    switch (mode > 4 ? 1 : mode) {
    case 0: {
        struct joule_tokenizer *x = NULL;
        if (joule_tokenizer_load_from_memory((const char *)d, n, &x) == JOULE_OK) {
            roundtrip(x, 0, (const uint8_t *)"Hello world 123 \xE2\x96\x81!", 19, 1);
            joule_tokenizer_free(x);
        }
        break;
    }
    case 1:
        roundtrip(t, lossless, d, n, (sel >> 7) & 1);
        break;
    case 2: {
        size_t k = n / 4, vs = joule_tokenizer_vocab_size(t);
        int32_t *ids = malloc((k ? k : 1) * sizeof *ids);
        if (!ids) break;
        for (size_t i = 0; i < k; i++) {
            uint32_t v = (uint32_t)d[4 * i] | (uint32_t)d[4 * i + 1] << 8 |
                         (uint32_t)d[4 * i + 2] << 16 | (uint32_t)d[4 * i + 3] << 24;
            ids[i] = (int32_t)(v % (vs + 2)); /* mostly valid, some not */
        }
        size_t len = 0;
        if (joule_tokenizer_decode(t, ids, k, sel & 0x80, NULL, 0, &len) == JOULE_OK) {
            char *s = malloc(len + 1);
            if (s) joule_tokenizer_decode(t, ids, k, sel & 0x80, s, len + 1, &len);
            free(s);
        }
        struct joule_tokenizer_stream *st = NULL;
        if (joule_tokenizer_stream_init(t, sel & 0x80, &st) == JOULE_OK) {
            for (size_t i = 0; i < k; i++) {
                const char *p;
                size_t pl;
                joule_tokenizer_stream_push(st, ids[i], &p, &pl);
            }
            joule_tokenizer_stream_free(st);
        }
        free(ids);
        break;
    }
    case 3: {
        if (!n) break;
        size_t big = (size_t)1 << 16;
        uint8_t *b = malloc(big);
        if (!b) break;
        for (size_t i = 0; i < big; i++)
            b[i] = d[i % n];
        size_t need = 0;
        joule_tokenizer_encode(t, (const char *)b, big, 0, NULL, 0, &need);
        free(b);
        break;
    }
    case 4: {
        const uint8_t *z = memchr(d, 0, n);
        size_t pl = z ? (size_t)(z - d) : n;
        struct tk_regex *re = NULL;
        if (tk_regex_compile((const char *)d, pl, &re) != JOULE_OK) break;
        char *text = NULL;
        size_t tl = 0;
        if (z && utf8_sanitize((const char *)z + 1, n - pl - 1, &text, &tl) == JOULE_OK) {
            size_t pos = 0, ms, me;
            while (pos <= tl && tk_regex_find(re, text, tl, pos, &ms, &me) == 1) {
                if (ms < pos || me < ms || me > tl) abort();
                if (me > ms)
                    pos = me;
                else if (me < tl)
                    pos = me + (size_t)utf8_len((unsigned char)text[me]);
                else
                    break;
            }
        }
        free(text);
        tk_regex_free(re);
        break;
    }
    }
    return 0;
}
