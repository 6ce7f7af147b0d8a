/* joule tokenize: encode a JSON array of strings, or decode a JSON array of id arrays. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "joule/tokenizer.h"
#include "util/fileio.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: joule tokenize --tokenizer FILE [--add-special]\n"
            "       joule tokenize --tokenizer FILE --decode [--skip-special]\n\n"
            "Encode: reads a JSON array of strings on stdin and writes a JSON array of id\n"
            "arrays. Decode: reads a JSON array of id arrays and writes a JSON array of strings.\n"
            "Encoding and decoding follow Hugging Face tokenizers for tokenizer.json files.\n\n"
            "  -t, --tokenizer FILE  tokenizer.json (or a model directory holding one)\n"
            "  -s, --add-special     apply the post-processor template (BOS/EOS)\n"
            "  -d, --decode          decode instead of encode\n"
            "  -k, --skip-special    when decoding, drop special tokens\n"
            "  -h, --help            this help\n");
}

static char *read_stdin(size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n - 1, stdin);
        n += r;
        if (r == 0) break;
        if (n + 1 == cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return NULL;
            }
            b = nb;
            cap *= 2;
        }
    }
    if (b) b[n] = 0;
    *len = n;
    return b;
}

static cJSON *encode_all(const struct joule_tokenizer *t, const cJSON *in, int add_special)
{
    cJSON *out = cJSON_CreateArray();
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, in)
    {
        if (!cJSON_IsString(it)) {
            fprintf(stderr, "joule tokenize: element %d is not a string\n", i);
            cJSON_Delete(out);
            return NULL;
        }
        size_t len = strlen(it->valuestring), n = 0;
        if (joule_tokenizer_encode(t, it->valuestring, len, add_special, NULL, 0, &n) != JOULE_OK)
            goto fail;
        int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
        int *iv = malloc((n ? n : 1) * sizeof *iv);
        if (!ids || !iv ||
            joule_tokenizer_encode(t, it->valuestring, len, add_special, ids, n, &n) != JOULE_OK) {
            free(ids);
            free(iv);
            goto fail;
        }
        for (size_t k = 0; k < n; k++)
            iv[k] = ids[k];
        cJSON_AddItemToArray(out, cJSON_CreateIntArray(iv, (int)n));
        free(ids);
        free(iv);
        i++;
    }
    return out;
fail:
    fprintf(stderr, "joule tokenize: element %d: %s\n", i, joule_last_error());
    cJSON_Delete(out);
    return NULL;
}

static cJSON *decode_all(const struct joule_tokenizer *t, const cJSON *in, int skip)
{
    cJSON *out = cJSON_CreateArray();
    const cJSON *arr;
    int i = 0;
    cJSON_ArrayForEach(arr, in)
    {
        if (!cJSON_IsArray(arr)) {
            fprintf(stderr, "joule tokenize: element %d is not an array of ids\n", i);
            cJSON_Delete(out);
            return NULL;
        }
        size_t n = (size_t)cJSON_GetArraySize(arr), k = 0, len = 0;
        int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
        const cJSON *x;
        cJSON_ArrayForEach(x, arr)
        {
            if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 2147483647.0 ||
                x->valuedouble != (double)(int32_t)x->valuedouble) {
                fprintf(stderr, "joule tokenize: element %d: id %zu is not a token id\n", i, k);
                free(ids);
                cJSON_Delete(out);
                return NULL;
            }
            ids[k++] = (int32_t)x->valuedouble;
        }
        char *s = NULL;
        if (joule_tokenizer_decode(t, ids, n, skip, NULL, 0, &len) != JOULE_OK ||
            !(s = malloc(len + 1)) ||
            joule_tokenizer_decode(t, ids, n, skip, s, len + 1, &len) != JOULE_OK) {
            fprintf(stderr, "joule tokenize: element %d: %s\n", i, joule_last_error());
            free(s);
            free(ids);
            cJSON_Delete(out);
            return NULL;
        }
        cJSON_AddItemToArray(out, cJSON_CreateString(s));
        free(s);
        free(ids);
        i++;
    }
    return out;
}

int joule_cmd_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tokenizer", required_argument, NULL, 't'},
        {"add-special", no_argument, NULL, 's'},
        {"decode", no_argument, NULL, 'd'},
        {"skip-special", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int add_special = 0, do_decode = 0, skip = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:sdkh", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            path = optarg;
            break;
        case 's':
            add_special = 1;
            break;
        case 'd':
            do_decode = 1;
            break;
        case 'k':
            skip = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!path || optind != argc) {
        usage(stderr);
        return 2;
    }
    char file[4096];
    if (joule_is_dir(path)) {
        if (joule_path_join(file, sizeof file, path, "tokenizer.json") != JOULE_OK) {
            fprintf(stderr, "joule tokenize: path too long\n");
            return 1;
        }
        path = file;
    }
    struct joule_tokenizer *t = NULL;
    if (joule_tokenizer_load(path, &t) != JOULE_OK) {
        fprintf(stderr, "joule tokenize: %s\n", joule_last_error());
        return 1;
    }
    size_t len = 0;
    char *text = read_stdin(&len);
    cJSON *in = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    if (!cJSON_IsArray(in)) {
        fprintf(stderr, "joule tokenize: stdin must hold a JSON array of %s\n",
                do_decode ? "id arrays" : "strings");
        cJSON_Delete(in);
        joule_tokenizer_free(t);
        return 1;
    }
    cJSON *out = do_decode ? decode_all(t, in, skip) : encode_all(t, in, add_special);
    int rc = 1;
    if (out) {
        char *s = cJSON_PrintUnformatted(out);
        if (s) {
            fputs(s, stdout);
            fputc('\n', stdout);
            rc = fflush(stdout) ? 1 : 0;
            free(s);
        }
    }
    cJSON_Delete(out);
    cJSON_Delete(in);
    joule_tokenizer_free(t);
    return rc;
}
