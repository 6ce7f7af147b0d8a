/* Small tokenizer.json texts shared by the fuzz targets that need a tokenizer:
 * a byte-level BPE over all 256 bytes with a few merges and a Split pre-tokenizer
 * (lossless: decode(encode(x)) == x for valid UTF-8), and a SentencePiece-style one
 * (Prepend/Replace normalizer, byte fallback, template). Header-only: each target is
 * one translation unit. */
#ifndef JOULE_FUZZ_TOKENIZERS_H
#define JOULE_FUZZ_TOKENIZERS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tokenizer/unicode.h"

/* The byte-level tokenizer.json; malloc'd, NULL when out of memory. */
static char *bytelevel_json(void)
{
    size_t cap = 1 << 16, n = 0;
    char *j = malloc(cap);
    if (!j) return NULL;
    n += (size_t)snprintf(
        j + n, cap - n,
        "{\"added_tokens\":[{\"id\":300,\"content\":\"<|endoftext|>\","
        "\"special\":true,\"normalized\":false}],\"pre_tokenizer\":{\"type\":"
        "\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{"
        "\"Regex\":\"(?i:'s|'t)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|"
        "\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|"
        "\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\"},{\"type\":"
        "\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]},"
        "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\","
        "\"vocab\":{");
    for (int b = 0; b < 256; b++) {
        uint32_t cp = 0;
        /* the GPT-2 byte map, rebuilt here */
        static int16_t map[256];
        static int ready;
        if (!ready) {
            int k = 0;
            for (int x = 0; x < 256; x++) {
                int printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174;
                map[x] = (int16_t)(printable ? x : 256 + k++);
            }
            ready = 1;
        }
        cp = (uint32_t)map[b];
        char u[8];
        int l = utf8_encode(cp, u);
        u[l] = 0;
        if (cp == '"' || cp == '\\')
            n += (size_t)snprintf(j + n, cap - n, "\"\\%s\":%d,", u, b);
        else
            n += (size_t)snprintf(j + n, cap - n, "\"%s\":%d,", u, b);
    }
    n += (size_t)snprintf(j + n, cap - n,
                          "\"\\u0120t\":256,\"he\":257,\"\\u0120the\":258,\"in\":259,"
                          "\"\\u0120\\u0120\":260},\"merges\":[\"\\u0120 t\",\"h e\",[\"\\u0120t\","
                          "\"he\"],\"i n\",\"\\u0120 \\u0120\"]}}");
    return j;
}

/* The SentencePiece-style tokenizer.json. */
static const char SP_JSON[] =
    "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true,\"normalized\":true},"
    "{\"id\":1,\"content\":\"<s>\",\"special\":true,\"normalized\":true},"
    "{\"id\":2,\"content\":\"</s>\",\"special\":true,\"normalized\":false,\"lstrip\":true,"
    "\"rstrip\":true}],"
    "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":"
    "\"\\u2581\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\\u2581\"}]},"
    "\"pre_tokenizer\":{\"type\":\"Digits\",\"individual_digits\":true},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":"
    "\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{"
    "\"<s>\":{\"id\":\"<s>\",\"ids\":[1],\"tokens\":[\"<s>\"]}}},"
    "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{"
    "\"String\":\"\\u2581\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
    "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
    "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":"
    "true,\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2,\"<0x00>\":3,\"<0x41>\":4,\"<0xE2>\":5,"
    "\"\\u2581\":6,\"a\":7,\"b\":8,\"\\u2581a\":9,\"ab\":10,\"\\u2581ab\":11,\"1\":12},"
    "\"merges\":[\"\\u2581 a\",\"a b\",\"\\u2581a b\"]}}";

#endif
