/* The prompt dataset: random token windows (see include/joule/dataset.h). */
#include "joule/dataset.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/fileio.h"
#include "util/json.h"

struct joule_dataset_params joule_dataset_default_params(void)
{
    struct joule_dataset_params p = {10, 15, 0, NULL};
    return p;
}

uint64_t joule_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, k), k >= 1, by rejection (no modulo bias). */
static uint64_t uniform(uint64_t *rng, uint64_t k)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % k;
    for (;;) {
        uint64_t x = joule_splitmix64(rng);
        if (x < limit) return x % k;
    }
}

enum joule_status joule_dataset_window(const struct joule_tokenizer *t, const char *text,
                                       size_t len, int min_tokens, int max_tokens, uint64_t *rng,
                                       char **out, int *n_tokens)
{
    if (!t || (!text && len) || !rng || !out || !n_tokens)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "null argument");
    if (min_tokens < 1 || max_tokens < min_tokens)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "need 1 <= min_tokens <= max_tokens (%d, %d)",
                            min_tokens, max_tokens);
    *out = NULL;
    *n_tokens = 0;
    /* both draws happen for every text, whatever its length */
    uint64_t L = (uint64_t)min_tokens + uniform(rng, (uint64_t)(max_tokens - min_tokens) + 1);
    uint64_t start_draw = joule_splitmix64(rng);
    size_t n = 0;
    enum joule_status s = joule_tokenizer_encode(t, text ? text : "", len, 0, NULL, 0, &n);
    if (s != JOULE_OK) return s;
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    s = joule_tokenizer_encode(t, text ? text : "", len, 0, ids, n, &n);
    if (s != JOULE_OK) {
        free(ids);
        return s;
    }
    size_t start = 0, w = n;
    if (n > L) {
        uint64_t k = (uint64_t)(n - L) + 1;
        /* start uniform in [0, n-L]: rejection on the drawn value, redrawing if needed */
        uint64_t limit = UINT64_MAX - UINT64_MAX % k;
        while (start_draw >= limit)
            start_draw = joule_splitmix64(rng);
        start = (size_t)(start_draw % k);
        w = (size_t)L;
    }
    size_t bytes = 0;
    s = joule_tokenizer_decode(t, ids + start, w, 1, NULL, 0, &bytes);
    char *buf = s == JOULE_OK ? malloc(bytes + 1) : NULL;
    if (s == JOULE_OK && !buf) s = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    if (s == JOULE_OK) s = joule_tokenizer_decode(t, ids + start, w, 1, buf, bytes + 1, &bytes);
    free(ids);
    if (s != JOULE_OK) {
        free(buf);
        return s;
    }
    *out = buf;
    *n_tokens = (int)w;
    return JOULE_OK;
}

static int reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t nc = need * 2;
    char *nb = realloc(*buf, nc);
    if (!nb) return -1;
    *buf = nb;
    *cap = nc;
    return 0;
}

/* Read one whole line (any length) from gz into *buf; returns its length, or -1 at EOF. */
static long read_line(gzFile gz, char **buf, size_t *cap)
{
    size_t n = 0;
    for (;;) {
        if (*cap - n < 2) {
            size_t nc = *cap ? *cap * 2 : 1 << 16;
            char *nb = realloc(*buf, nc);
            if (!nb) return -2;
            *buf = nb;
            *cap = nc;
        }
        if (!gzgets(gz, *buf + n, (int)(*cap - n > (size_t)1 << 30 ? (size_t)1 << 30 : *cap - n)))
            return n ? (long)n : -1;
        n += strlen(*buf + n);
        if (n && (*buf)[n - 1] == '\n') return (long)n;
    }
}

enum joule_status joule_dataset_build(const char *in_path, const struct joule_tokenizer *t,
                                      const struct joule_dataset_params *p, const char *out_path,
                                      size_t *n_written)
{
    if (!in_path || !t || !out_path) return joule_errorf(JOULE_ERR_INVALID_ARG, "null argument");
    struct joule_dataset_params d = p ? *p : joule_dataset_default_params();
    if (d.min_tokens < 1 || d.max_tokens < d.min_tokens)
        return joule_errorf(JOULE_ERR_INVALID_ARG,
                            "need 1 <= --min-tokens <= --max-tokens (got %d and %d)", d.min_tokens,
                            d.max_tokens);
    if (n_written) *n_written = 0;
    gzFile gz = gzopen(in_path, "rb");
    if (!gz) return joule_errorf(JOULE_ERR_IO, "%s: cannot open", in_path);
    char *line = NULL, *prompt = NULL;
    size_t cap = 0, count = 0, lineno = 0;
    uint64_t rng = d.seed;
    char *outbuf = NULL;
    size_t outlen = 0, outcap = 0;
    enum joule_status s = JOULE_OK;
    long len;
    while ((len = read_line(gz, &line, &cap)) >= 0) {
        lineno++;
        size_t a = 0;
        while (a < (size_t)len && strchr(" \t\r\n", line[a]))
            a++;
        if (a == (size_t)len) continue;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)len);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            s = joule_errorf(JOULE_ERR_FORMAT, "%s:%zu: not a JSON object", in_path, lineno);
            break;
        }
        if (joule_json_has_nul_escape(line, (size_t)len)) { /* cJSON cuts strings at a NUL */
            cJSON_Delete(j);
            s = joule_errorf(JOULE_ERR_FORMAT, "%s:%zu: a string holds NUL (\\u0000)", in_path,
                             lineno);
            break;
        }
        const cJSON *tid = cJSON_GetObjectItemCaseSensitive(j, "task_id");
        const char *field = d.field;
        if (!field)
            field = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "prompt")) ? "prompt"
                                                                                  : "new_prompt";
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, field);
        if (!cJSON_IsString(tid) || !cJSON_IsString(pr)) {
            s = joule_errorf(JOULE_ERR_FORMAT, "%s:%zu: needs string fields \"task_id\" and \"%s\"",
                             in_path, lineno, d.field ? d.field : "prompt\" (or \"new_prompt");
            cJSON_Delete(j);
            break;
        }
        int nt = 0;
        s = joule_dataset_window(t, pr->valuestring, strlen(pr->valuestring), d.min_tokens,
                                 d.max_tokens, &rng, &prompt, &nt);
        if (s != JOULE_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", joule_last_error());
            s = joule_errorf(s, "%s:%zu: %s", in_path, lineno, msg);
            cJSON_Delete(j);
            break;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "task_id", tid->valuestring);
        cJSON_AddStringToObject(o, "prompt", prompt);
        cJSON_AddNumberToObject(o, "n_tokens", nt);
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)d.seed); /* exact, not a double */
        cJSON_AddRawToObject(o, "seed", seed);
        char *txt = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        cJSON_Delete(j);
        free(prompt);
        prompt = NULL;
        size_t tl = txt ? strlen(txt) : 0;
        if (!txt || reserve(&outbuf, &outcap, outlen + tl + 1)) {
            free(txt);
            s = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(outbuf + outlen, txt, tl);
        outlen += tl;
        outbuf[outlen++] = '\n';
        free(txt);
        count++;
    }
    if (len == -2) s = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    int zerr = 0;
    const char *zmsg = gzerror(gz, &zerr);
    if (s == JOULE_OK && zerr != Z_OK && zerr != Z_STREAM_END)
        s = joule_errorf(JOULE_ERR_FORMAT, "%s: %s", in_path, zmsg);
    gzclose(gz);
    free(line);
    if (s == JOULE_OK && !count) s = joule_errorf(JOULE_ERR_FORMAT, "%s: no problems", in_path);
    if (s == JOULE_OK) s = joule_write_file_atomic(out_path, outbuf ? outbuf : "", outlen);
    free(outbuf);
    if (s == JOULE_OK && n_written) *n_written = count;
    return s;
}
