/* Tokenizer tests: golden ids and decodings from Hugging Face tokenizers 0.23.2
 * for six tokenizer.json files, SentencePiece agreement, round trips, invalid
 * UTF-8, regex engine, split behaviours and unsupported components. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "joule/tokenizer.h"
#include "test.h"
#include "tokenizer/regex.h"
#include "util/json.h"

static const char *const NAMES[] = {"gpt2",   "gpt-neox-20b",     "phi-2",
                                    "llama2", "llama2-metaspace", "tiny_bytelevel_512"};
#define N_NAMES (sizeof NAMES / sizeof NAMES[0])

static struct joule_tokenizer *load_tok(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizers/%s/tokenizer.json", name);
    struct joule_tokenizer *t = NULL;
    enum joule_status s = joule_tokenizer_load(test_fixture(rel), &t);
    if (s != JOULE_OK) {
        test_fail(__FILE__, __LINE__, "load %s: %s", name, joule_last_error());
        return NULL;
    }
    return t;
}

static cJSON *load_json(const char *name, const char *file)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizers/%s/%s", name, file);
    cJSON *j = NULL;
    if (joule_json_load_file(test_fixture(rel), (size_t)64 << 20, &j) != JOULE_OK) {
        test_fail(__FILE__, __LINE__, "load %s/%s: %s", name, file, joule_last_error());
        return NULL;
    }
    return j;
}

/* Encode; returns a malloc'd array and its length in *n (NULL on error). */
static int32_t *encode(const struct joule_tokenizer *t, const char *s, size_t len, int special,
                       size_t *n)
{
    size_t need = 0;
    if (joule_tokenizer_encode(t, s, len, special, NULL, 0, &need) != JOULE_OK) return NULL;
    int32_t *ids = malloc((need ? need : 1) * sizeof *ids);
    size_t got = 0;
    if (!ids || joule_tokenizer_encode(t, s, len, special, ids, need, &got) != JOULE_OK ||
        got != need) {
        free(ids);
        return NULL;
    }
    *n = need;
    return ids;
}

static char *decode(const struct joule_tokenizer *t, const int32_t *ids, size_t n, int skip,
                    size_t *len)
{
    size_t need = 0;
    if (joule_tokenizer_decode(t, ids, n, skip, NULL, 0, &need) != JOULE_OK) return NULL;
    char *s = malloc(need + 1);
    size_t got = 0;
    if (!s || joule_tokenizer_decode(t, ids, n, skip, s, need + 1, &got) != JOULE_OK ||
        got != need) {
        free(s);
        return NULL;
    }
    *len = need;
    return s;
}

/* Does ids[0..n) equal the JSON array `arr`? On a mismatch, *at = first differing index. */
static int same_ids(const int32_t *ids, size_t n, const cJSON *arr, size_t *at)
{
    size_t m = (size_t)cJSON_GetArraySize(arr), i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr)
    {
        if (i >= n || ids[i] != (int32_t)x->valuedouble) {
            *at = i;
            return 0;
        }
        i++;
    }
    *at = i;
    return m == n;
}

static size_t golden_encode_count(const struct joule_tokenizer *t, const char *name,
                                  const cJSON *texts, const cJSON *ids, int special, size_t limit,
                                  size_t *total)
{
    size_t pass = 0, i = 0, shown = 0;
    const cJSON *tx;
    cJSON_ArrayForEach(tx, texts)
    {
        if (i >= limit) break;
        const cJSON *want = cJSON_GetArrayItem(ids, (int)i);
        size_t n = 0, at = 0;
        int32_t *got = encode(t, tx->valuestring, strlen(tx->valuestring), special, &n);
        if (got && same_ids(got, n, want, &at)) {
            pass++;
        } else if (shown++ < 3) {
            const cJSON *w = cJSON_GetArrayItem(want, (int)at);
            printf("  %s%s text %zu: first difference at token %zu: got %d, want %d (%.40s...)\n",
                   name, special ? " (special)" : "", i, at, got && at < n ? got[at] : -1,
                   w ? (int)w->valuedouble : -1, tx->valuestring);
        }
        free(got);
        i++;
    }
    *total = i;
    return pass;
}

static void test_golden(void)
{
    for (size_t k = 0; k < N_NAMES; k++) {
        struct joule_tokenizer *t = load_tok(NAMES[k]);
        cJSON *g = load_json(NAMES[k], "golden.json");
        if (!t || !g) {
            joule_tokenizer_free(t);
            cJSON_Delete(g);
            continue;
        }
        const cJSON *texts = cJSON_GetObjectItem(g, "texts");
        size_t total = 0, total10 = 0;
        size_t pass = golden_encode_count(t, NAMES[k], texts, cJSON_GetObjectItem(g, "ids"), 0,
                                          SIZE_MAX, &total);
        size_t pass10 = golden_encode_count(t, NAMES[k], texts,
                                            cJSON_GetObjectItem(g, "ids_with_special_first10"), 1,
                                            10, &total10);
        /* decoding: decode(ids) without skipping special tokens */
        size_t dpass = 0, i = 0, shown = 0;
        const cJSON *want_ids = cJSON_GetObjectItem(g, "ids");
        const cJSON *dec;
        cJSON_ArrayForEach(dec, cJSON_GetObjectItem(g, "decoded"))
        {
            const cJSON *arr = cJSON_GetArrayItem(want_ids, (int)i);
            size_t n = (size_t)cJSON_GetArraySize(arr), j = 0, len = 0;
            int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
            const cJSON *x;
            cJSON_ArrayForEach(x, arr) ids[j++] = (int32_t)x->valuedouble;
            char *s = decode(t, ids, n, 0, &len);
            if (s && len == strlen(dec->valuestring) && !memcmp(s, dec->valuestring, len))
                dpass++;
            else if (shown++ < 3)
                printf("  %s decode %zu: got \"%.40s\" want \"%.40s\"\n", NAMES[k], i,
                       s ? s : "(error)", dec->valuestring);
            free(s);
            free(ids);
            i++;
        }
        printf("%-20s encode %zu/%zu, with special tokens %zu/%zu, decode %zu/%zu\n", NAMES[k],
               pass, total, pass10, total10, dpass, i);
        CHECK_EQ_INT(pass, total);
        CHECK_EQ_INT(total, 358);
        CHECK_EQ_INT(pass10, total10);
        CHECK_EQ_INT(total10, 10);
        CHECK_EQ_INT(dpass, i);
        CHECK_EQ_INT(i, 358);
        joule_tokenizer_free(t);
        cJSON_Delete(g);
    }
}

int main(void)
{
    RUN(test_golden);
    return test_summary();
}
