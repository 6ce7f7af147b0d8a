/* Tokenizer tests: golden ids and decodings from Hugging Face tokenizers 0.23.2
 * for six tokenizer.json files, SentencePiece agreement, round trips, invalid
 * UTF-8, regex engine, split behaviours and unsupported components. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>

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

/* SentencePiece's own ids for the llama2 texts (sentencepiece 0.2.2). The known
 * difference is the empty-ish inputs where HF's legacy Prepend normalizer and
 * SentencePiece disagree; the test pins the count observed and prints the texts. */
static void test_sentencepiece(void)
{
    struct joule_tokenizer *t = load_tok("llama2");
    cJSON *g = load_json("llama2", "sentencepiece-golden.json");
    if (!t || !g) {
        joule_tokenizer_free(t);
        cJSON_Delete(g);
        return;
    }
    size_t total = 0, pass = 0, i = 0;
    const cJSON *tx, *ids = cJSON_GetObjectItem(g, "ids");
    cJSON_ArrayForEach(tx, cJSON_GetObjectItem(g, "texts"))
    {
        size_t n = 0, at = 0;
        int32_t *got = encode(t, tx->valuestring, strlen(tx->valuestring), 0, &n);
        if (got && same_ids(got, n, cJSON_GetArrayItem(ids, (int)i), &at))
            pass++;
        else
            printf("  sentencepiece differs on text %zu \"%s\" at token %zu\n", i, tx->valuestring,
                   at);
        free(got);
        i++;
        total++;
    }
    printf("llama2 vs SentencePiece: %zu/%zu identical\n", pass, total);
    CHECK_EQ_INT(total, 358);
    CHECK_EQ_INT(pass, 357);
    joule_tokenizer_free(t);
    cJSON_Delete(g);
}

/* A small xorshift generator so the random texts are the same on every run. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Random valid UTF-8: mostly ASCII code-like text, some Latin/Greek/CJK/emoji. */
static size_t random_text(char *buf, size_t maxchars)
{
    size_t n = 0, k = rnd() % maxchars;
    for (size_t i = 0; i < k; i++) {
        uint32_t cp, r = (uint32_t)(rnd() % 100);
        if (r < 60)
            cp = 32 + (uint32_t)(rnd() % 95);
        else if (r < 70)
            cp = "\n\t \r"[rnd() % 4];
        else if (r < 80)
            cp = 0x80 + (uint32_t)(rnd() % 0x780);
        else if (r < 90)
            cp = 0x800 + (uint32_t)(rnd() % (0xD800 - 0x800));
        else if (r < 95)
            cp = 0xE000 + (uint32_t)(rnd() % 0x2000);
        else
            cp = 0x10000 + (uint32_t)(rnd() % 0x100000);
        n += put_utf8(buf + n, cp);
    }
    buf[n] = 0;
    return n;
}

/* decode(encode(x)) == x for valid UTF-8 with the byte-level tokenizers (no
 * normalizer: gpt2, phi-2, tiny; gpt-neox normalizes to NFC, so only the
 * golden texts, which are NFC already). */
static void test_roundtrip(void)
{
    static const char *const bl[] = {"gpt2", "phi-2", "tiny_bytelevel_512", "gpt-neox-20b"};
    char *buf = malloc(4 * 400 + 1);
    for (size_t k = 0; k < sizeof bl / sizeof *bl; k++) {
        struct joule_tokenizer *t = load_tok(bl[k]);
        cJSON *g = load_json(bl[k], "golden.json");
        if (!t || !g) {
            joule_tokenizer_free(t);
            cJSON_Delete(g);
            continue;
        }
        size_t ok = 0, total = 0;
        const cJSON *tx;
        cJSON_ArrayForEach(tx, cJSON_GetObjectItem(g, "texts"))
        {
            size_t n = 0, len = 0, tl = strlen(tx->valuestring);
            int32_t *ids = encode(t, tx->valuestring, tl, 0, &n);
            char *s = ids ? decode(t, ids, n, 0, &len) : NULL;
            ok += s && len == tl && !memcmp(s, tx->valuestring, tl);
            total++;
            free(ids);
            free(s);
        }
        int random = strcmp(bl[k], "gpt-neox-20b") != 0;
        for (int r = 0; random && r < 300; r++) {
            size_t tl = random_text(buf, 400), n = 0, len = 0;
            int32_t *ids = encode(t, buf, tl, 0, &n);
            char *s = ids ? decode(t, ids, n, 0, &len) : NULL;
            int same = s && len == tl && !memcmp(s, buf, tl);
            if (!same) printf("  %s round trip differs for random text %d\n", bl[k], r);
            ok += same;
            total++;
            free(ids);
            free(s);
        }
        printf("%-20s decode(encode(x)) == x: %zu/%zu\n", bl[k], ok, total);
        CHECK_EQ_INT(ok, total);
        joule_tokenizer_free(t);
        cJSON_Delete(g);
    }
    free(buf);
}

/* Invalid UTF-8 is read as Rust's String::from_utf8_lossy would: each maximal
 * invalid subsequence becomes U+FFFD. */
static void test_invalid_utf8(void)
{
    static const struct {
        const char *bad, *good;
    } cases[] = {
        {"a\xff"
         "b",
         "a\xEF\xBF\xBD"
         "b"},
        {"\xe2\x82"
         "x",
         "\xEF\xBF\xBD"
         "x"},                                                    /* truncated 3-byte: one U+FFFD */
        {"\xed\xa0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate: three */
        {"\xf0\x9f\x98", "\xEF\xBF\xBD"},                         /* truncated emoji at the end */
        {"\xc0\xaf ok", "\xEF\xBF\xBD\xEF\xBF\xBD ok"},           /* overlong */
    };
    for (size_t k = 0; k < N_NAMES; k++) {
        struct joule_tokenizer *t = load_tok(NAMES[k]);
        if (!t) continue;
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            size_t n1 = 0, n2 = 0, at = 0;
            int32_t *a = encode(t, cases[c].bad, strlen(cases[c].bad), 0, &n1);
            int32_t *b = encode(t, cases[c].good, strlen(cases[c].good), 0, &n2);
            CHECK(a && b);
            CHECK_EQ_INT(n1, n2);
            for (at = 0; a && b && at < n1 && at < n2 && a[at] == b[at]; at++) {
            }
            CHECK_EQ_INT(at, n1);
            free(a);
            free(b);
        }
        /* NUL bytes are ordinary characters */
        size_t n = 0;
        int32_t *z = encode(t, "a\0b", 3, 0, &n);
        CHECK(z != NULL && n >= 2);
        free(z);
        joule_tokenizer_free(t);
    }
    /* byte-level decoding of an incomplete UTF-8 sequence gives U+FFFD */
    struct joule_tokenizer *t = load_tok("gpt2");
    if (t) {
        int32_t id = joule_tokenizer_token_id(t, "\xC3\xA2"); /* 'â' = byte 0xE2 */
        CHECK(id >= 0);
        size_t len = 0;
        char *s = decode(t, &id, 1, 0, &len);
        CHECK_EQ_STR(s, "\xEF\xBF\xBD");
        free(s);
        joule_tokenizer_free(t);
    }
}

static void check_splits(const char *pattern, const char *text, const char *want)
{
    struct tk_regex *re = NULL;
    enum joule_status s = tk_regex_compile(pattern, strlen(pattern), &re);
    if (s != JOULE_OK) {
        test_fail(__FILE__, __LINE__, "compile /%s/: %s", pattern, joule_last_error());
        return;
    }
    char got[512] = "";
    size_t n = strlen(text), pos = 0, ms, me, gl = 0;
    while (pos <= n && tk_regex_find(re, text, n, pos, &ms, &me) == 1) {
        gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%.*s", gl ? "|" : "", (int)(me - ms),
                               text + ms);
        pos = me > ms ? me : me + 1;
        if (gl >= sizeof got) break;
    }
    if (!strcmp(got, want))
        test_pass();
    else
        test_fail(__FILE__, __LINE__, "/%s/ on \"%s\": got \"%s\", want \"%s\"", pattern, text, got,
                  want);
    tk_regex_free(re);
}

static void test_regex(void)
{
    const char *gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
                       "\\s+(?!\\S)|\\s+";
    check_splits(gpt2, "Hello world's  123 !!\n\n  x", "Hello| world|'s| | 123| !!|\n\n | x");
    check_splits(gpt2, "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC 42\xC2\xA0x",
                 "caf\xC3\xA9| \xE6\x97\xA5\xE6\x9C\xAC| 42|\xC2\xA0|x");
    const char *llama3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
                         "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
                         "\\s+(?!\\S)|\\s+";
    check_splits(llama3, "I'M 12345 ok\r\n", "I|'M| |123|45| ok|\r\n");
    check_splits(llama3, "x'\xC5\xBF", "x|'\xC5\xBF"); /* (?i) 's matches U+017F */
    const char *bloom = " ?[^(\\s|[.,!?\xE2\x80\xA6\xE3\x80\x82\xEF\xBC\x8C\xE3\x80\x81"
                        "\xE0\xA5\xA4\xDB\x94\xD8\x8C])]+";
    check_splits(bloom, "Hello, world! (x)", "Hello| world|x");
    /* GPT-4o (o200k) style: optional case-insensitive group after letter runs */
    const char *o200k =
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}"
        "\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}"
        "\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|"
        "'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|"
        "\\s+(?!\\S)|\\s+";
    check_splits(o200k, "HTTPServer's fooBar 1234//\n", "HTTPServer's| foo|Bar| |123|4|//\n");
    check_splits("\\p{N}{1,3}", "1234567", "123|456|7");
    check_splits("a+?", "aaa", "a|a|a");
    check_splits("a++a", "aaaa", "");
    check_splits("(?:ab)+", "ababa ab", "abab|ab");
    check_splits("[\\p{Lu}\\p{Lt}]+[\\p{Ll}]*", "HTTPServer x", "HTTPServer");
    check_splits("\\d+|\\w+", "ab12 \xD9\xA3x", "ab12|\xD9\xA3|x");
    check_splits("(?i)ab", "xAbaB", "Ab|aB");
    check_splits("a{2}|b{,2}c", "aaabbbc", "aa|bbc");
    static const char *const bad[] = {"(?<=a)b", "\\p{Han}", "^a",         "a$",
                                      "\\1",     "(?>a)",    "(?i:\\p{L})"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct tk_regex *re = NULL;
        CHECK_EQ_INT(tk_regex_compile(bad[i], strlen(bad[i]), &re), JOULE_ERR_UNSUPPORTED);
        CHECK(re == NULL);
    }
    struct tk_regex *re = NULL;
    CHECK_EQ_INT(tk_regex_compile("a(", 2, &re), JOULE_ERR_FORMAT);
    CHECK_EQ_INT(tk_regex_compile("[a", 2, &re), JOULE_ERR_FORMAT);
}

/* Escapes as Oniguruma (Hugging Face tokenizers' regex engine) reads them: \xHH, \x{H..},
 * \uHHHH, the control letters, \h (hex digit), \p{^X} and \PX, and the malformed ones. */
static void test_regex_escapes(void)
{
    check_splits("\\x41+", "xAAy", "AA");
    check_splits("\\x{1F600}|\\x{e9}",
                 "a\xF0\x9F\x98\x80"
                 "b\xC3\xA9",
                 "\xF0\x9F\x98\x80|\xC3\xA9");
    check_splits("\\u00E9|\\u00e8", "\xC3\xA8t\xC3\xA9", "\xC3\xA8|\xC3\xA9");
    check_splits("[\\t\\f\\v]|\\a|\\e",
                 "a\tb\fc\vd\x07"
                 "e\x1b",
                 "\t|\f|\v|\x07|\x1b");
    check_splits("\\h+", "0x1aFg9", "0|1aF|9");
    check_splits("[\\h]+", "cafe babe", "cafe|babe");
    check_splits("\\p{^L}+|\\PN", "ab12cd", "a|b|12|c|d");
    check_splits("\\pL+", "ab12cd", "ab|cd");
    static const struct {
        const char *pattern;
        enum joule_status want;
    } bad[] = {
        {"a\\", JOULE_ERR_FORMAT},         {"\\x{}", JOULE_ERR_FORMAT},
        {"\\x{110000}", JOULE_ERR_FORMAT}, {"\\x{D800}", JOULE_ERR_FORMAT},
        {"\\x{41", JOULE_ERR_FORMAT},      {"\\xZ", JOULE_ERR_FORMAT},
        {"\\u12", JOULE_ERR_FORMAT},       {"\\uD83D", JOULE_ERR_UNSUPPORTED},
        {"\\p{L", JOULE_ERR_FORMAT},       {"\\p{Klingon}", JOULE_ERR_UNSUPPORTED},
        {"\\q", JOULE_ERR_UNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct tk_regex *re = NULL;
        enum joule_status s = tk_regex_compile(bad[i].pattern, strlen(bad[i].pattern), &re);
        if (s != bad[i].want)
            printf("  /%s/: status %d, want %d\n", bad[i].pattern, (int)s, (int)bad[i].want);
        CHECK_EQ_INT(s, bad[i].want);
        CHECK(re == NULL);
    }
}

/* A tiny hand-made BPE over {a, b, -, 1, 2, 3} whose merges make piece
 * boundaries visible in the ids. */
static struct joule_tokenizer *mini(const char *pre, const char *extra)
{
    char json[4096];
    snprintf(json, sizeof json,
             "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":20,\"content\":\"<s>\",\"special\":"
             "true,\"normalized\":false},{\"id\":21,\"content\":\"</s>\",\"special\":true,"
             "\"normalized\":false}],"
             "\"normalizer\":null,\"pre_tokenizer\":%s,%s"
             "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"-\":2,\"a-\":3,\"-b\":4,"
             "\"a-b\":5,\"1\":6,\"2\":7,\"3\":8,\"12\":9,\"123\":10,\"\\u2581\":11,"
             "\"\\u2581a\":12,\"\\u2581b\":13,\"ab\":14,\"--\":15},"
             "\"merges\":[\"a -\",\"- b\",[\"a-\",\"b\"],\"1 2\",\"12 3\",\"\\u2581 a\","
             "\"\\u2581 b\",\"- -\"]}}",
             pre, extra);
    struct joule_tokenizer *t = NULL;
    if (joule_tokenizer_load_from_memory(json, strlen(json), &t) != JOULE_OK) {
        test_fail(__FILE__, __LINE__, "mini %s: %s", pre, joule_last_error());
        return NULL;
    }
    return t;
}

static void check_ids(struct joule_tokenizer *t, const char *text, int special, const char *want)
{
    if (!t) return;
    size_t n = 0;
    int32_t *ids = encode(t, text, strlen(text), special, &n);
    char got[256] = "";
    size_t gl = 0;
    for (size_t i = 0; ids && i < n; i++)
        gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%d", i ? "," : "", ids[i]);
    if (!ids) snprintf(got, sizeof got, "error: %s", joule_last_error());
    if (!strcmp(got, want))
        test_pass();
    else
        test_fail(__FILE__, __LINE__, "\"%s\": got [%s], want [%s]", text, got, want);
    free(ids);
}

static void test_components(void)
{
    struct {
        const char *pre, *text, *want;
    } cases[] = {
        {"null", "a-b", "5"},
        {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Isolated\"}", "a-b",
         "0,2,1"},
        {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Removed\"}", "a-b",
         "0,1"},
        {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithPrevious\"}",
         "a-b", "3,1"},
        {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithNext\"}",
         "a-b", "0,4"},
        {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"-\"},\"behavior\":\"Contiguous\"}", "a--b",
         "0,15,1"},
        {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"-\"},\"behavior\":\"Isolated\"}", "a--b",
         "0,2,2,1"},
        {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Removed\","
         "\"invert\":true}",
         "a-b", "2"},
        {"{\"type\":\"Digits\",\"individual_digits\":true}", "a123", "0,6,7,8"},
        {"{\"type\":\"Digits\",\"individual_digits\":false}", "a123", "0,10"},
        {"{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"always\","
         "\"split\":true}",
         "a b", "12,13"},
        {"{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"never\","
         "\"split\":true}",
         "a b", "0,13"},
        {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},{\"type\":"
         "\"Punctuation\"}]}",
         "a-b  a", "0,2,1,0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct joule_tokenizer *t = mini(cases[i].pre, "");
        check_ids(t, cases[i].text, 0, cases[i].want);
        joule_tokenizer_free(t);
    }
    /* added tokens are matched before the model, and templates add BOS/EOS */
    struct joule_tokenizer *t = mini(
        "null", "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
                "{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
                "{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":"
                "{\"id\":\"<s>\",\"ids\":[20],\"tokens\":[\"<s>\"]},\"</s>\":{\"id\":\"</s>\","
                "\"ids\":[21],\"tokens\":[\"</s>\"]}}},");
    check_ids(t, "a-b</s>a", 0, "5,21,0");
    check_ids(t, "a-b", 1, "20,5,21");
    if (t) {
        CHECK_EQ_INT(joule_tokenizer_bos_id(t), 20);
        CHECK_EQ_INT(joule_tokenizer_eos_id(t), 21);
        CHECK_EQ_INT(joule_tokenizer_vocab_size(t), 22);
        CHECK_EQ_INT(joule_tokenizer_token_id(t, "a-b"), 5);
        CHECK_EQ_INT(joule_tokenizer_token_id(t, "</s>"), 21);
        CHECK_EQ_INT(joule_tokenizer_token_id(t, "zzz"), -1);
        /* caller buffers: the full count comes back even when it does not fit */
        int32_t one[1];
        size_t n = 0;
        CHECK_OK(joule_tokenizer_encode(t, "a-b", 3, 1, one, 1, &n));
        CHECK_EQ_INT(n, 3);
        CHECK_EQ_INT(one[0], 20);
        int32_t ids[] = {20, 5, 21};
        char out[4];
        CHECK_OK(joule_tokenizer_decode(t, ids, 3, 1, out, sizeof out, &n));
        CHECK_EQ_INT(n, 3);
        CHECK_EQ_STR(out, "a-b");
        CHECK_OK(joule_tokenizer_decode(t, ids, 3, 0, out, 2, &n));
        CHECK_EQ_INT(n, 12); /* no decoder: "<s> a-b </s>", tokens joined with spaces */
        CHECK(out[0] == '<' && out[1] == 's');
        int32_t bad = 99;
        CHECK_EQ_INT(joule_tokenizer_decode(t, &bad, 1, 0, out, sizeof out, &n),
                     JOULE_ERR_INVALID_ARG);
    }
    joule_tokenizer_free(t);
    t = mini("null", "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"</s>\",21],"
                     "\"cls\":[\"<s>\",20]},");
    check_ids(t, "ab", 1, "20,0,1,21");
    joule_tokenizer_free(t);
}

/* Decode ids with the mini tokenizer under `decoder` (a "decoder": {...}, member). */
static void check_decoded(const char *decoder, const int32_t *ids, size_t n, int skip,
                          const char *want)
{
    struct joule_tokenizer *t = mini("null", decoder);
    if (!t) return;
    size_t len = 0;
    char *got = decode(t, ids, n, skip, &len);
    CHECK_EQ_STR(got ? got : "(decode failed)", want);
    free(got);
    joule_tokenizer_free(t);
}

/* The Metaspace decoder as Hugging Face tokenizers defines it (decoders/metaspace.rs,
 * decode_chain): in every token the replacement character becomes a space, except in the
 * first token, where it is dropped unless prepend_scheme is "never"; special tokens are
 * removed before the decoder when skipped, so the first remaining token is "first". */
static void test_metaspace_decoder(void)
{
    static const struct {
        const char *scheme; /* the decoder's options */
        int32_t ids[3];
        int skip;
        const char *want;
    } cases[] = {
        {"\"prepend_scheme\":\"always\"", {12, 13, 0}, 0, "a ba"},
        {"\"prepend_scheme\":\"first\"", {12, 13, 0}, 0, "a ba"},
        {"\"prepend_scheme\":\"never\"", {12, 13, 0}, 0, " a ba"},
        {"\"add_prefix_space\":false", {12, 13, 0}, 0, " a ba"},
        {"\"add_prefix_space\":true", {11, 11, 12}, 0, "  a"},
        {"\"prepend_scheme\":\"always\"", {20, 12, 13}, 0, "<s> a b"},
        {"\"prepend_scheme\":\"always\"", {20, 12, 13}, 1, "a b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char dec[256];
        snprintf(dec, sizeof dec,
                 "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",%s},",
                 cases[i].scheme);
        check_decoded(dec, cases[i].ids, 3, cases[i].skip, cases[i].want);
    }
}

/* The Strip decoder (tokenizers' decoders/strip.rs): up to `start` copies of content are cut
 * from the front of each token and up to `stop` from its end (cases where the two cuts would
 * cross are left out: tokenizers' slice panics there; joule keeps an empty token). */
static void test_strip_decoder(void)
{
    static const struct {
        int start, stop;
        const char *want;
    } cases[] = {{0, 1, "a--b"}, {1, 1, "ab"}, {1, 0, "a--b"}, {2, 0, "a-b"}, {0, 0, "a----b"}};
    const int32_t ids[] = {3, 15, 4}; /* "a-", "--", "-b" */
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char dec[160];
        snprintf(dec, sizeof dec,
                 "\"decoder\":{\"type\":\"Strip\",\"content\":\"-\",\"start\":%d,\"stop\":%d},",
                 cases[i].start, cases[i].stop);
        check_decoded(dec, ids, 3, 0, cases[i].want);
    }
}

/* A tokenizer.json around a BPE model given as JSON (no pre-tokenizer unless given). */
static struct joule_tokenizer *bpe_json(const char *normalizer, const char *pre, const char *model)
{
    char json[2048];
    snprintf(json, sizeof json,
             "{\"added_tokens\":[],\"normalizer\":%s,\"pre_tokenizer\":%s,\"model\":%s}",
             normalizer, pre, model);
    struct joule_tokenizer *t = NULL;
    if (joule_tokenizer_load_from_memory(json, strlen(json), &t) != JOULE_OK) {
        test_fail(__FILE__, __LINE__, "bpe_json: %s", joule_last_error());
        return NULL;
    }
    return t;
}

/* Components no fixture tokenizer uses, as tokenizers defines them: BPE's
 * continuing_subword_prefix and end_of_word_suffix (a merge "a ##b" makes "ab", "a b</w>"
 * makes "ab</w>"), the Strip normalizer, the Whitespace pre-tokenizer (\w+|[^\w\s]+) and a
 * Sequence post-processor (ByteLevel, which only moves offsets, then a template). */
static void test_more_components(void)
{
    struct joule_tokenizer *t = bpe_json(
        "null", "{\"type\":\"WhitespaceSplit\"}",
        "{\"type\":\"BPE\",\"continuing_subword_prefix\":\"##\",\"vocab\":{\"a\":0,\"##b\":1,"
        "\"ab\":2,\"b\":3},\"merges\":[\"a ##b\"]}");
    check_ids(t, "ab", 0, "2");
    check_ids(t, "abb b", 0, "2,1,3"); /* no merge (ab, ##b); a word's first piece has no ## */
    joule_tokenizer_free(t);
    t = bpe_json("null", "{\"type\":\"WhitespaceSplit\"}",
                 "{\"type\":\"BPE\",\"end_of_word_suffix\":\"</w>\",\"vocab\":{\"a\":0,"
                 "\"b</w>\":1,\"ab</w>\":2,\"a</w>\":3},\"merges\":[\"a b</w>\"]}");
    check_ids(t, "ab b a", 0, "2,1,3");
    joule_tokenizer_free(t);
    t = bpe_json("{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true}", "null",
                 "{\"type\":\"BPE\",\"vocab\":{\"a\":0,\" \":1,\"b\":2},\"merges\":[]}");
    check_ids(t, "  a b \t", 0, "0,1,2");
    joule_tokenizer_free(t);
    t = bpe_json("{\"type\":\"Strip\",\"strip_left\":false,\"strip_right\":true}", "null",
                 "{\"type\":\"BPE\",\"vocab\":{\"a\":0,\" \":1,\"b\":2},\"merges\":[]}");
    check_ids(t, "  a b \t", 0, "1,1,0,1,2");
    joule_tokenizer_free(t);
    t = mini("{\"type\":\"Whitespace\"}", "");
    check_ids(t, "a-b  a12", 0, "0,2,1,0,9"); /* a | - | b | a12 -> a, 12 by the merges */
    joule_tokenizer_free(t);
    t = mini("null",
             "\"post_processor\":{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\","
             "\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},{\"type\":"
             "\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":"
             "0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{"
             "\"id\":\"<s>\",\"ids\":[20],\"tokens\":[\"<s>\"]}}}]},");
    check_ids(t, "a-b", 1, "20,5");
    check_ids(t, "a-b", 0, "5");
    if (t) CHECK_EQ_INT(joule_tokenizer_bos_id(t), 20);
    joule_tokenizer_free(t);
}

static void check_unsupported(const char *pre, const char *extra, const char *needle)
{
    char json[2048];
    snprintf(json, sizeof json,
             "{\"added_tokens\":[],\"pre_tokenizer\":%s,%s\"model\":{\"type\":\"BPE\","
             "\"vocab\":{\"a\":0},\"merges\":[]}}",
             pre, extra);
    struct joule_tokenizer *t = NULL;
    enum joule_status s = joule_tokenizer_load_from_memory(json, strlen(json), &t);
    CHECK_EQ_INT(s, JOULE_ERR_UNSUPPORTED);
    CHECK(t == NULL);
    if (!strstr(joule_last_error(), needle))
        test_fail(__FILE__, __LINE__, "error \"%s\" does not name \"%s\"", joule_last_error(),
                  needle);
    joule_tokenizer_free(t);
}

static void test_unsupported(void)
{
    check_unsupported("{\"type\":\"UnicodeScripts\"}", "", "UnicodeScripts");
    check_unsupported("null", "\"normalizer\":{\"type\":\"Lowercase\"},", "Lowercase");
    check_unsupported("null", "\"normalizer\":{\"type\":\"NFKC\"},", "NFKC");
    check_unsupported("null", "\"decoder\":{\"type\":\"WordPiece\"},", "WordPiece");
    check_unsupported("null", "\"post_processor\":{\"type\":\"Whatever\"},", "Whatever");
    check_unsupported("null", "\"truncation\":{\"max_length\":8},", "truncation");
    check_unsupported("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?<=x)y\"},"
                      "\"behavior\":\"Isolated\"}",
                      "", "lookbehind");
    const char *wp = "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}";
    struct joule_tokenizer *t = NULL;
    CHECK_EQ_INT(joule_tokenizer_load_from_memory(wp, strlen(wp), &t), JOULE_ERR_UNSUPPORTED);
    CHECK(strstr(joule_last_error(), "WordPiece") != NULL);
    CHECK_EQ_INT(joule_tokenizer_load_from_memory("{", 1, &t), JOULE_ERR_FORMAT);
    const char *nul = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\\u0000b\":0,\"c\":1},"
                      "\"merges\":[]}}";
    CHECK_EQ_INT(joule_tokenizer_load_from_memory(nul, strlen(nul), &t), JOULE_ERR_FORMAT);
    CHECK(t == NULL);
    CHECK(strstr(joule_last_error(), "u0000") != NULL);
    CHECK_EQ_INT(joule_tokenizer_load("/nonexistent/tokenizer.json", &t), JOULE_ERR_NOT_FOUND);
}

static void test_ids_api(void)
{
    struct joule_tokenizer *t = load_tok("gpt2");
    if (t) {
        CHECK_EQ_INT(joule_tokenizer_vocab_size(t), 50257);
        CHECK_EQ_INT(joule_tokenizer_eos_id(t), 50256);
        CHECK_EQ_INT(joule_tokenizer_token_id(t, "<|endoftext|>"), 50256);
        /* an empty prompt into a caller buffer (the server's case): no ids, buffer untouched */
        int32_t buf[4] = {-7, -7, -7, -7};
        size_t n = 99;
        CHECK_OK(joule_tokenizer_encode(t, "", 0, 1, buf, 4, &n));
        CHECK_EQ_INT(n, 0);
        CHECK_EQ_INT(buf[0], -7);
    }
    joule_tokenizer_free(t);
    t = load_tok("llama2");
    if (t) {
        CHECK_EQ_INT(joule_tokenizer_vocab_size(t), 32000);
        CHECK_EQ_INT(joule_tokenizer_bos_id(t), 1);
        CHECK_EQ_INT(joule_tokenizer_eos_id(t), 2);
        /* skip_special drops <s> and </s> */
        int32_t ids[] = {1, 22172, 2};
        size_t len = 0;
        char *s = decode(t, ids, 3, 1, &len);
        CHECK_EQ_STR(s, "hello");
        free(s);
    }
    joule_tokenizer_free(t);
}

/* The streaming decoder's pieces concatenate to decode(all ids). */
static void test_stream(void)
{
    for (size_t k = 0; k < N_NAMES; k++) {
        struct joule_tokenizer *t = load_tok(NAMES[k]);
        cJSON *g = load_json(NAMES[k], "golden.json");
        if (!t || !g) {
            joule_tokenizer_free(t);
            cJSON_Delete(g);
            continue;
        }
        size_t ok = 0, total = 0, i = 0;
        const cJSON *tx;
        cJSON_ArrayForEach(tx, cJSON_GetObjectItem(g, "texts"))
        {
            if (i++ % 4 && i <= 328) continue; /* a quarter, and all the short edge cases */
            size_t n = 0, len = 0;
            int32_t *ids = encode(t, tx->valuestring, strlen(tx->valuestring), 1, &n);
            char *whole = ids ? decode(t, ids, n, 1, &len) : NULL;
            struct joule_tokenizer_stream *st = NULL;
            char *cat = calloc(1, len + 64);
            size_t cl = 0;
            int good = whole && cat && joule_tokenizer_stream_init(t, 1, &st) == JOULE_OK;
            for (size_t j = 0; good && j < n; j++) {
                const char *piece;
                size_t pl;
                if (joule_tokenizer_stream_push(st, ids[j], &piece, &pl) != JOULE_OK ||
                    cl + pl > len) {
                    good = 0;
                    break;
                }
                memcpy(cat + cl, piece, pl);
                cl += pl;
            }
            if (good && cl == len && !memcmp(cat, whole, len))
                ok++;
            else
                printf("  %s stream differs on text %zu\n", NAMES[k], i - 1);
            total++;
            joule_tokenizer_stream_free(st);
            free(cat);
            free(whole);
            free(ids);
        }
        printf("%-20s stream decode == decode: %zu/%zu\n", NAMES[k], ok, total);
        CHECK_EQ_INT(ok, total);
        joule_tokenizer_free(t);
        cJSON_Delete(g);
    }
}

static char *run_cli(const char *args, const char *input, int *rc)
{
    char in[512], out[512], cmd[2048];
    snprintf(in, sizeof in, "%s/cli_in.json", test_tmpdir());
    snprintf(out, sizeof out, "%s/cli_out.json", test_tmpdir());
    FILE *f = fopen(in, "w");
    if (!f) return NULL;
    fputs(input, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' tokenize %s < '%s' > '%s' 2>/dev/null", test_joule_bin(), args,
             in, out);
    int st = system(cmd);
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    char *text = NULL;
    f = fopen(out, "r");
    if (f) {
        text = calloc(1, 1 << 16);
        if (text) fread(text, 1, (1 << 16) - 1, f);
        fclose(f);
    }
    return text;
}

static void test_cli(void)
{
    char args[1024];
    int rc = -1;
    snprintf(args, sizeof args, "--tokenizer '%s'", test_fixture("tokenizers/gpt2/tokenizer.json"));
    char *o = run_cli(args, "[\"Hello world\", \"<|endoftext|>\", \"\"]", &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(o, "[[15496,995],[50256],[]]\n");
    free(o);
    snprintf(args, sizeof args, "--tokenizer '%s' --add-special",
             test_fixture("tokenizers/llama2"));
    o = run_cli(args, "[\"Hello world\"]", &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(o, "[[1,15043,3186]]\n");
    free(o);
    snprintf(args, sizeof args, "--tokenizer '%s' --decode --skip-special",
             test_fixture("tokenizers/llama2/tokenizer.json"));
    o = run_cli(args, "[[1,15043,3186,2],[]]", &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(o, "[\"Hello world\",\"\"]\n");
    free(o);
    o = run_cli(args, "[[1,-4]]", &rc);
    CHECK_EQ_INT(rc, 1);
    free(o);
    o = run_cli(args, "not json", &rc);
    CHECK_EQ_INT(rc, 1);
    free(o);
    o = run_cli("--tokenizer /nonexistent.json", "[]", &rc);
    CHECK_EQ_INT(rc, 1);
    free(o);
    o = run_cli("--bogus", "[]", &rc);
    CHECK_EQ_INT(rc, 2);
    free(o);
}

/* Very long inputs: a megabyte of one letter (one pre-token), of spaces, and of
 * code; byte-level round trips must still be exact. */
static void test_long_inputs(void)
{
    static const char *const names[] = {"gpt2", "llama2"};
    size_t big = (size_t)1 << 20;
    char *buf = malloc(big + 1);
    if (!buf) return;
    for (size_t k = 0; k < 2; k++) {
        struct joule_tokenizer *t = load_tok(names[k]);
        if (!t) continue;
        for (int kind = 0; kind < 3; kind++) {
            static const char code[] =
                "def f(x):\n    return [i * 2 for i in range(x)]  # \xE2\x96\x81\n";
            for (size_t i = 0; i < big; i++)
                buf[i] = kind == 0 ? 'a' : kind == 1 ? ' ' : code[i % (sizeof code - 1)];
            size_t n = big;
            while (n > 0 && ((unsigned char)buf[n - 1] & 0xC0) == 0x80)
                n--; /* whole chars */
            if (n > 0 && (unsigned char)buf[n - 1] >= 0xC0) n--;
            size_t nid = 0, len = 0;
            int32_t *ids = encode(t, buf, n, 0, &nid);
            CHECK(ids != NULL && nid > 0);
            char *s = ids ? decode(t, ids, nid, 0, &len) : NULL;
            if (k == 0)
                CHECK(s && len == n && !memcmp(s, buf, n));
            else /* SentencePiece's decoder strips the one leading space */
                CHECK(s != NULL);
            free(s);
            free(ids);
        }
        joule_tokenizer_free(t);
    }
    free(buf);
}

/* One tokenizer shared by four threads gives the same ids as one thread. */
struct thr_arg {
    const struct joule_tokenizer *t;
    const cJSON *texts, *ids;
    size_t ok, total;
};

static void *thr_main(void *p)
{
    struct thr_arg *a = p;
    size_t i = 0;
    const cJSON *tx;
    cJSON_ArrayForEach(tx, a->texts)
    {
        size_t n = 0, at = 0;
        int32_t *got = encode(a->t, tx->valuestring, strlen(tx->valuestring), 0, &n);
        a->ok += got && same_ids(got, n, cJSON_GetArrayItem(a->ids, (int)i), &at);
        a->total++;
        free(got);
        i++;
    }
    return NULL;
}

static void test_threads(void)
{
    struct joule_tokenizer *t = load_tok("gpt-neox-20b");
    cJSON *g = load_json("gpt-neox-20b", "golden.json");
    if (t && g) {
        pthread_t th[4];
        struct thr_arg args[4];
        for (int i = 0; i < 4; i++) {
            args[i] = (struct thr_arg){t, cJSON_GetObjectItem(g, "texts"),
                                       cJSON_GetObjectItem(g, "ids"), 0, 0};
            CHECK_EQ_INT(pthread_create(&th[i], NULL, thr_main, &args[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            CHECK_EQ_INT(args[i].ok, 358);
            CHECK_EQ_INT(args[i].total, 358);
        }
    }
    joule_tokenizer_free(t);
    cJSON_Delete(g);
}

int main(void)
{
    RUN(test_golden);
    RUN(test_sentencepiece);
    RUN(test_roundtrip);
    RUN(test_invalid_utf8);
    RUN(test_regex);
    RUN(test_regex_escapes);
    RUN(test_metaspace_decoder);
    RUN(test_strip_decoder);
    RUN(test_more_components);
    RUN(test_components);
    RUN(test_unsupported);
    RUN(test_ids_api);
    RUN(test_stream);
    RUN(test_cli);
    RUN(test_long_inputs);
    RUN(test_threads);
    return test_summary();
}
