/* Campaign settings: defaults, lists, campaign files, checks, canonical JSON;
 * and the model facts a run records (parameter count, size category). */
#include "joule/bench.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_impl.h"
#include "util/fileio.h"
#include "util/json.h"

void joule_bench_default_settings(struct joule_bench_settings *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "campaign");
    snprintf(s->engines[0], sizeof s->engines[0], "native");
    s->n_engines = 1;
    snprintf(s->providers[0], sizeof s->providers[0], "cpu");
    s->n_providers = 1;
    s->reps = 1;
    s->warmup_s = 300;
    s->cooldown_s = 300;
    s->max_length = 128;
    snprintf(s->api, sizeof s->api, "study");
    s->concurrency = 1;
    s->seed = 1;
    s->interval_ms = 100;
    snprintf(s->db, sizeof s->db, "results.db");
    s->startup_timeout_s = 600;
    s->request_timeout_s = 600;
    s->stop_grace_s = 10;
}

enum joule_status joule_bench_parse_list(const char *list, const char *what, char *dst,
                                         size_t width, int *n)
{
    *n = 0;
    const char *p = list;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0)
            return joule_errorf(JOULE_ERR_INVALID_ARG, "%s: empty item in '%s'", what, list);
        if (len >= width)
            return joule_errorf(JOULE_ERR_LIMIT, "%s: item too long (%zu bytes, max %zu)", what,
                                len, width - 1);
        if (*n >= JOULE_BENCH_MAX_LIST)
            return joule_errorf(JOULE_ERR_LIMIT, "%s: more than %d items", what,
                                JOULE_BENCH_MAX_LIST);
        memcpy(dst + (size_t)*n * width, p, len);
        dst[(size_t)*n * width + len] = 0;
        (*n)++;
        p = e ? e + 1 : NULL;
        if (e && !*p)
            return joule_errorf(JOULE_ERR_INVALID_ARG, "%s: trailing comma in '%s'", what, list);
    }
    return JOULE_OK;
}

/* ---- campaign files ------------------------------------------------------ */

static enum joule_status field_error(const char *path, const char *key, const char *expected)
{
    return joule_errorf(JOULE_ERR_FORMAT, "%s: field '%s': expected %s", path, key, expected);
}

/* A relative path in a campaign file is relative to the file's directory. */
static enum joule_status resolve_path(const char *file, const char *rel, char *out, size_t cap,
                                      const char *key)
{
    const char *slash = strrchr(file, '/');
    int n;
    if (rel[0] == '/' || !slash)
        n = snprintf(out, cap, "%s", rel);
    else
        n = snprintf(out, cap, "%.*s/%s", (int)(slash - file), file, rel);
    if (n < 0 || (size_t)n >= cap)
        return joule_errorf(JOULE_ERR_LIMIT, "%s: field '%s': path too long", file, key);
    return JOULE_OK;
}

static enum joule_status load_list(const char *path, const char *key, const cJSON *v, char *dst,
                                   size_t width, int *n, int is_path)
{
    *n = 0;
    if (cJSON_IsString(v)) {
        enum joule_status st = joule_bench_parse_list(v->valuestring, key, dst, width, n);
        if (st != JOULE_OK)
            return joule_errorf(st, "%s: field '%s': %s", path, key, joule_last_error());
    } else if (cJSON_IsArray(v)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (!cJSON_IsString(it) || !*it->valuestring)
                return field_error(path, key, "an array of non-empty strings");
            if (*n >= JOULE_BENCH_MAX_LIST)
                return joule_errorf(JOULE_ERR_LIMIT, "%s: field '%s': more than %d items", path,
                                    key, JOULE_BENCH_MAX_LIST);
            if (strlen(it->valuestring) >= width)
                return joule_errorf(JOULE_ERR_LIMIT, "%s: field '%s': item too long", path, key);
            snprintf(dst + (size_t)*n * width, width, "%s", it->valuestring);
            (*n)++;
        }
    } else {
        return field_error(path, key, "a string or an array of strings");
    }
    if (*n == 0) return field_error(path, key, "at least one item");
    for (int i = 0; is_path && i < *n; i++) {
        char tmp[1024];
        enum joule_status st = resolve_path(path, dst + (size_t)i * width, tmp, sizeof tmp, key);
        if (st != JOULE_OK) return st;
        if (strlen(tmp) >= width)
            return joule_errorf(JOULE_ERR_LIMIT, "%s: field '%s': path too long", path, key);
        snprintf(dst + (size_t)i * width, width, "%s", tmp);
    }
    return JOULE_OK;
}

static enum joule_status load_int(const char *path, const char *key, const cJSON *v, int min,
                                  int max, int *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < min ||
        v->valuedouble > max) {
        char what[96];
        snprintf(what, sizeof what, "an integer in [%d, %d]", min, max);
        return field_error(path, key, what);
    }
    *out = (int)v->valuedouble;
    return JOULE_OK;
}

static enum joule_status load_seconds(const char *path, const char *key, const cJSON *v,
                                      double *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 86400.0 * 7)
        return field_error(path, key, "a number of seconds >= 0");
    *out = v->valuedouble;
    return JOULE_OK;
}

static enum joule_status load_str(const char *path, const char *key, const cJSON *v, char *dst,
                                  size_t cap, int is_path)
{
    if (!cJSON_IsString(v) || !*v->valuestring) return field_error(path, key, "a non-empty string");
    if (strlen(v->valuestring) >= cap)
        return joule_errorf(JOULE_ERR_LIMIT, "%s: field '%s': too long", path, key);
    if (is_path) return resolve_path(path, v->valuestring, dst, cap, key);
    snprintf(dst, cap, "%s", v->valuestring);
    return JOULE_OK;
}

enum joule_status joule_bench_settings_load(const char *path, struct joule_bench_settings *s)
{
    char *text = NULL;
    size_t len = 0;
    enum joule_status st = joule_read_file(path, 1 << 20, &text, &len);
    if (st != JOULE_OK) return st;
    st = joule_bench_settings_parse(text, len, path, s);
    free(text);
    return st;
}

enum joule_status joule_bench_settings_parse(const char *text, size_t len, const char *path,
                                             struct joule_bench_settings *s)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root)
        return joule_errorf(JOULE_ERR_FORMAT, "%s: invalid JSON near byte %zu", path,
                            end ? (size_t)(end - text) : (size_t)0);
    enum joule_status st = JOULE_OK;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return joule_errorf(JOULE_ERR_FORMAT, "%s: a campaign file is a JSON object", path);
    }
    if (joule_json_has_nul_escape(text, len)) { /* cJSON would cut the string at the NUL */
        cJSON_Delete(root);
        return joule_errorf(JOULE_ERR_FORMAT, "%s: a string holds NUL (\\u0000)", path);
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, root)
    {
        const char *k = v->string;
        if (!k)
            st = joule_errorf(JOULE_ERR_FORMAT, "%s: member without a name", path);
        else if (!strcmp(k, "name"))
            st = load_str(path, k, v, s->name, sizeof s->name, 0);
        else if (!strcmp(k, "model") || !strcmp(k, "models"))
            st = load_list(path, k, v, &s->models[0][0], sizeof s->models[0], &s->n_models, 1);
        else if (!strcmp(k, "engine") || !strcmp(k, "engines"))
            st = load_list(path, k, v, &s->engines[0][0], sizeof s->engines[0], &s->n_engines, 0);
        else if (!strcmp(k, "provider") || !strcmp(k, "providers"))
            st = load_list(path, k, v, &s->providers[0][0], sizeof s->providers[0], &s->n_providers,
                           0);
        else if (!strcmp(k, "reps"))
            st = load_int(path, k, v, 1, 100000, &s->reps);
        else if (!strcmp(k, "warmup"))
            st = load_seconds(path, k, v, &s->warmup_s);
        else if (!strcmp(k, "cooldown"))
            st = load_seconds(path, k, v, &s->cooldown_s);
        else if (!strcmp(k, "prompts"))
            st = load_str(path, k, v, s->prompts, sizeof s->prompts, 1);
        else if (!strcmp(k, "limit"))
            st = load_int(path, k, v, 0, 100000000, &s->limit);
        else if (!strcmp(k, "max_length"))
            st = load_int(path, k, v, 1, 1 << 20, &s->max_length);
        else if (!strcmp(k, "api"))
            st = load_str(path, k, v, s->api, sizeof s->api, 0);
        else if (!strcmp(k, "concurrency"))
            st = load_int(path, k, v, 1, 1024, &s->concurrency);
        else if (!strcmp(k, "seed")) {
            if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
                v->valuedouble != floor(v->valuedouble))
                st = field_error(path, k, "a non-negative integer");
            else
                s->seed = (uint64_t)v->valuedouble;
        } else if (!strcmp(k, "sensors")) {
            if (cJSON_IsArray(v)) {
                char tmp[JOULE_BENCH_MAX_LIST][64];
                int n = 0;
                st = load_list(path, k, v, &tmp[0][0], sizeof tmp[0], &n, 0);
                s->sensors[0] = 0;
                for (int i = 0; st == JOULE_OK && i < n; i++) {
                    size_t used = strlen(s->sensors);
                    snprintf(s->sensors + used, sizeof s->sensors - used, "%s%s", i ? "," : "",
                             tmp[i]);
                }
            } else {
                st = load_str(path, k, v, s->sensors, sizeof s->sensors, 0);
            }
        } else if (!strcmp(k, "threads"))
            st = load_int(path, k, v, 0, 4096, &s->threads);
        else if (!strcmp(k, "interval_ms"))
            st = load_int(path, k, v, 1, 60000, &s->interval_ms);
        else if (!strcmp(k, "db"))
            st = load_str(path, k, v, s->db, sizeof s->db, 1);
        else if (!strcmp(k, "port_base"))
            st = load_int(path, k, v, 0, 65000, &s->port_base);
        else if (!strcmp(k, "startup_timeout"))
            st = load_seconds(path, k, v, &s->startup_timeout_s);
        else if (!strcmp(k, "request_timeout"))
            st = load_seconds(path, k, v, &s->request_timeout_s);
        else
            st = joule_errorf(JOULE_ERR_FORMAT,
                              "%s: unknown field '%s' (known: name, models, engines, providers, "
                              "reps, warmup, cooldown, prompts, limit, max_length, api, "
                              "concurrency, seed, sensors, threads, interval_ms, db, port_base, "
                              "startup_timeout, request_timeout)",
                              path, k);
        if (st != JOULE_OK) break;
    }
    cJSON_Delete(root);
    if (st == JOULE_OK && s->n_models == 0)
        st = joule_errorf(JOULE_ERR_FORMAT, "%s: field 'models' is missing", path);
    if (st == JOULE_OK && !s->prompts[0])
        st = joule_errorf(JOULE_ERR_FORMAT, "%s: field 'prompts' is missing", path);
    return st;
}

enum joule_status joule_bench_settings_check(const struct joule_bench_settings *s)
{
    if (s->n_models < 1) return joule_errorf(JOULE_ERR_INVALID_ARG, "no model given (--model)");
    if (!s->prompts[0])
        return joule_errorf(JOULE_ERR_INVALID_ARG, "no prompts file given (--prompts)");
    if (s->n_engines < 1 || s->n_providers < 1)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "engine and provider lists must not be empty");
    if (s->reps < 1)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "reps must be >= 1 (got %d)", s->reps);
    if (!(s->warmup_s >= 0) || !(s->cooldown_s >= 0))
        return joule_errorf(JOULE_ERR_INVALID_ARG, "warm-up and cool-down must be >= 0 seconds");
    if (s->concurrency < 1 || s->concurrency > 1024)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "concurrency must be in [1, 1024] (got %d)",
                            s->concurrency);
    if (s->max_length < 1)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "max-length must be >= 1 (got %d)",
                            s->max_length);
    if (strcmp(s->api, "study") && strcmp(s->api, "openai"))
        return joule_errorf(JOULE_ERR_INVALID_ARG, "api must be 'study' or 'openai' (got '%s')",
                            s->api);
    if (!strcmp(s->api, "study") && s->max_length != 128)
        return joule_errorf(JOULE_ERR_INVALID_ARG,
                            "the study route always generates max_length 128; use --api openai "
                            "for max-length %d",
                            s->max_length);
    if (s->interval_ms < 1 || s->interval_ms > 60000)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "interval must be in [1, 60000] ms (got %d)",
                            s->interval_ms);
    if (s->limit < 0) return joule_errorf(JOULE_ERR_INVALID_ARG, "limit must be >= 0");
    if (!joule_is_file(s->prompts))
        return joule_errorf(JOULE_ERR_NOT_FOUND, "prompts file '%s' not found", s->prompts);
    for (int i = 0; i < s->n_models; i++) {
        if (!joule_is_dir(s->models[i]) && !joule_is_file(s->models[i]))
            return joule_errorf(JOULE_ERR_NOT_FOUND, "model '%s' not found", s->models[i]);
        for (int j = 0; j < i; j++)
            if (!strcmp(s->models[i], s->models[j]))
                return joule_errorf(JOULE_ERR_INVALID_ARG, "model '%s' given twice", s->models[i]);
    }
    for (int i = 0; i < s->n_engines; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(s->engines[i], s->engines[j]))
                return joule_errorf(JOULE_ERR_INVALID_ARG, "engine '%s' given twice",
                                    s->engines[i]);
    for (int i = 0; i < s->n_providers; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(s->providers[i], s->providers[j]))
                return joule_errorf(JOULE_ERR_INVALID_ARG, "provider '%s' given twice",
                                    s->providers[i]);
    return JOULE_OK;
}

const char *bench_abs_path(const char *path, char *buf, size_t cap)
{
    char *r = realpath(path, NULL);
    if (!r || strlen(r) >= cap) {
        free(r);
        snprintf(buf, cap, "%s", path);
        return buf;
    }
    snprintf(buf, cap, "%s", r);
    free(r);
    return buf;
}

static void add_list(cJSON *o, const char *key, const char *rows, size_t width, int n, int is_path)
{
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (int i = 0; a && i < n; i++) {
        char buf[4096];
        const char *v = rows + (size_t)i * width;
        cJSON_AddItemToArray(a,
                             cJSON_CreateString(is_path ? bench_abs_path(v, buf, sizeof buf) : v));
    }
}

char *joule_bench_settings_json(const struct joule_bench_settings *s)
{
    /* Key order is fixed by this code, so equal settings print equal text. */
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)bench_file_hash(s->prompts));
    cJSON_AddStringToObject(o, "name", s->name);
    add_list(o, "models", &s->models[0][0], sizeof s->models[0], s->n_models, 1);
    add_list(o, "engines", &s->engines[0][0], sizeof s->engines[0], s->n_engines, 0);
    add_list(o, "providers", &s->providers[0][0], sizeof s->providers[0], s->n_providers, 0);
    cJSON_AddNumberToObject(o, "reps", s->reps);
    cJSON_AddNumberToObject(o, "warmup", s->warmup_s);
    cJSON_AddNumberToObject(o, "cooldown", s->cooldown_s);
    char prompts[4096];
    cJSON_AddStringToObject(o, "prompts", bench_abs_path(s->prompts, prompts, sizeof prompts));
    cJSON_AddStringToObject(o, "prompts_fnv1a64", hash);
    cJSON_AddNumberToObject(o, "limit", s->limit);
    cJSON_AddNumberToObject(o, "max_length", s->max_length);
    cJSON_AddStringToObject(o, "api", s->api);
    cJSON_AddNumberToObject(o, "concurrency", s->concurrency);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->seed);
    cJSON_AddRawToObject(o, "seed", seed);
    cJSON_AddStringToObject(o, "sensors", s->sensors);
    cJSON_AddNumberToObject(o, "threads", s->threads);
    cJSON_AddNumberToObject(o, "interval_ms", s->interval_ms);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

uint64_t bench_file_hash(const char *path)
{
    uint64_t h = 0xcbf29ce484222325ull;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * 0x100000001b3ull;
    fclose(f);
    return h;
}

/* ---- model facts ----------------------------------------------------------- */

static int64_t safetensors_params(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char len8[8];
    int64_t total = -1;
    if (fread(len8, 1, 8, f) == 8) {
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--)
            hl = (hl << 8) | len8[i];
        char *hdr = hl > 0 && hl < (100u << 20) ? malloc(hl + 1) : NULL;
        if (hdr && fread(hdr, 1, hl, f) == hl) {
            hdr[hl] = 0;
            cJSON *j = cJSON_ParseWithLength(hdr, hl);
            if (cJSON_IsObject(j)) {
                total = 0;
                const cJSON *t;
                cJSON_ArrayForEach(t, j)
                {
                    if (!strcmp(t->string, "__metadata__")) continue;
                    const char *dt = joule_json_str(t, "dtype", "");
                    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
                    if (!strcmp(dt, "BOOL") || !cJSON_IsArray(shape)) continue;
                    int64_t n = 1;
                    const cJSON *d;
                    cJSON_ArrayForEach(d, shape) n *=
                        cJSON_IsNumber(d) ? (int64_t)d->valuedouble : 0;
                    total += n;
                }
            }
            cJSON_Delete(j);
        }
        free(hdr);
    }
    fclose(f);
    return total;
}

int64_t joule_bench_model_params(const char *model_dir)
{
    DIR *d = opendir(model_dir);
    if (!d) return -1;
    int64_t total = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 12 || strcmp(e->d_name + len - 12, ".safetensors")) continue;
        char p[2048];
        if (joule_path_join(p, sizeof p, model_dir, e->d_name) != JOULE_OK) continue;
        int64_t n = safetensors_params(p);
        if (n < 0) {
            total = -1;
            break;
        }
        total = (total < 0 ? 0 : total) + n;
    }
    closedir(d);
    return total;
}

const char *joule_bench_size_category(int64_t n)
{
    if (n < 0) return "";
    if (n < 1000000000) return "small";
    if (n < 2000000000) return "medium";
    return "large";
}
