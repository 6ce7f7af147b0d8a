/* Request bodies: the OpenAI completion request and the study's
 * {"input_text": ...}. Every failure is a 400/422 with the offending
 * parameter named, never a crash (fuzz/fuzz_completion_request.c). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_impl.h"
#include "util/json.h"

void joule_server_error_vset(struct joule_server_error *e, int http, const char *code,
                             const char *param, const char *fmt, va_list ap)
{
    e->http = http;
    e->code = code;
    switch (http) {
    case 401:
        e->type = "authentication_error";
        break;
    case 404:
        e->type = "not_found_error";
        break;
    case 500:
        e->type = "server_error";
        break;
    case 503:
        e->type = "service_unavailable_error";
        break;
    default:
        e->type = "invalid_request_error";
        break;
    }
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    vsnprintf(e->message, sizeof e->message, fmt, ap);
}

void joule_server_set_error(struct joule_server_error *e, int http, const char *code,
                            const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    joule_server_error_vset(e, http, code, param, fmt, ap);
    va_end(ap);
}

/* A 400 or 422 about `param`; returns JOULE_ERR_INVALID_ARG. */
static enum joule_status fail(struct joule_server_error *err, int http, const char *param,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum joule_status fail(struct joule_server_error *err, int http, const char *param,
                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    joule_server_error_vset(err, http, NULL, param, fmt, ap);
    va_end(ap);
    return JOULE_ERR_INVALID_ARG;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static int is_int_in(const cJSON *v, double lo, double hi)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    return isfinite(d) && d == floor(d) && d >= lo && d <= hi;
}

void joule_completion_request_free(struct joule_completion_request *r)
{
    free(r->model);
    free(r->prompt);
    free(r->prompt_ids);
    for (size_t i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    memset(r, 0, sizeof *r);
}

static enum joule_status parse_prompt(const cJSON *p, struct joule_completion_request *r,
                                      struct joule_server_error *err)
{
    if (!p || cJSON_IsNull(p)) return fail(err, 400, "prompt", "'prompt' is required");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(p->child))
        p = p->child; /* ["text"]: a batch of one */
    if (cJSON_IsString(p)) {
        const char *s = p->valuestring;
        size_t n = strlen(s);
        if (n == 0) return fail(err, 400, "prompt", "'prompt' is empty");
        r->prompt = dup_n(s, n);
        if (!r->prompt) return fail(err, 400, "prompt", "out of memory");
        r->prompt_len = n;
        return JOULE_OK;
    }
    if (!cJSON_IsArray(p))
        return fail(err, 400, "prompt", "'prompt' must be a string or an array of token ids");
    int n = cJSON_GetArraySize(p);
    if (n == 0) return fail(err, 400, "prompt", "'prompt' is empty");
    r->prompt_ids = malloc((size_t)n * sizeof(int32_t));
    if (!r->prompt_ids) return fail(err, 400, "prompt", "out of memory");
    size_t i = 0;
    for (const cJSON *v = p->child; v; v = v->next) {
        if (!is_int_in(v, 0, 2147483647.0)) {
            if (cJSON_IsString(v) || cJSON_IsArray(v))
                return fail(err, 400, "prompt",
                            "batched prompts are not supported (send one prompt)");
            return fail(err, 400, "prompt", "'prompt' array item %zu is not a token id", i);
        }
        r->prompt_ids[i++] = (int32_t)v->valuedouble;
    }
    r->n_prompt_ids = i;
    return JOULE_OK;
}

static enum joule_status add_stop(struct joule_completion_request *r, const cJSON *v,
                                  struct joule_server_error *err)
{
    if (!cJSON_IsString(v)) return fail(err, 400, "stop", "'stop' items must be strings");
    size_t n = strlen(v->valuestring);
    if (n == 0) return fail(err, 400, "stop", "'stop' strings must not be empty");
    if (r->n_stop == JOULE_SERVER_MAX_STOP)
        return fail(err, 400, "stop", "at most %d stop strings", JOULE_SERVER_MAX_STOP);
    r->stop[r->n_stop] = dup_n(v->valuestring, n);
    if (!r->stop[r->n_stop]) return fail(err, 400, "stop", "out of memory");
    r->stop_len[r->n_stop++] = n;
    return JOULE_OK;
}

static enum joule_status parse_bool(const cJSON *root, const char *key, int *out,
                                    struct joule_server_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return JOULE_OK;
    if (!cJSON_IsBool(v)) return fail(err, 400, key, "'%s' must be a boolean", key);
    *out = cJSON_IsTrue(v);
    return JOULE_OK;
}

static enum joule_status parse_fields(const cJSON *root, struct joule_completion_request *r,
                                      struct joule_server_error *err)
{
    enum joule_status s;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v)) return fail(err, 400, "model", "'model' must be a string");
        r->model = dup_n(v->valuestring, strlen(v->valuestring));
        if (!r->model) return fail(err, 400, "model", "out of memory");
    }
    if ((s = parse_prompt(cJSON_GetObjectItemCaseSensitive(root, "prompt"), r, err)) != JOULE_OK)
        return s;

    v = cJSON_GetObjectItemCaseSensitive(root, "max_tokens");
    if (v && !cJSON_IsNull(v)) {
        if (!is_int_in(v, 1, 1e9))
            return fail(err, 400, "max_tokens", "'max_tokens' must be an integer >= 1");
        r->max_tokens = (int)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "temperature");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0.0 && v->valuedouble <= 2.0))
            return fail(err, 400, "temperature", "'temperature' must be a number in [0, 2]");
        r->temperature = v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "top_p");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0.0 && v->valuedouble <= 1.0))
            return fail(err, 400, "top_p", "'top_p' must be a number in (0, 1]");
        r->top_p = v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "top_k");
    if (v && !cJSON_IsNull(v)) {
        if (!is_int_in(v, -1, 1e9))
            return fail(err, 400, "top_k", "'top_k' must be an integer >= -1");
        r->top_k = v->valuedouble < 0 ? 0 : (int)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "seed");
    if (v && !cJSON_IsNull(v)) {
        if (!is_int_in(v, -9007199254740992.0, 9007199254740992.0))
            return fail(err, 400, "seed", "'seed' must be an integer");
        r->has_seed = 1;
        r->seed = (uint64_t)(int64_t)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "n");
    if (v && !cJSON_IsNull(v) && !is_int_in(v, 1, 1))
        return fail(err, 400, "n", "only n = 1 is supported");
    v = cJSON_GetObjectItemCaseSensitive(root, "best_of");
    if (v && !cJSON_IsNull(v) && !is_int_in(v, 1, 1))
        return fail(err, 400, "best_of", "only best_of = 1 is supported");
    v = cJSON_GetObjectItemCaseSensitive(root, "echo");
    if (v && cJSON_IsTrue(v)) return fail(err, 400, "echo", "'echo' is not supported");
    v = cJSON_GetObjectItemCaseSensitive(root, "logprobs");
    if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0) && !cJSON_IsFalse(v))
        return fail(err, 400, "logprobs", "'logprobs' is not supported");
    v = cJSON_GetObjectItemCaseSensitive(root, "suffix");
    if (v && !cJSON_IsNull(v)) return fail(err, 400, "suffix", "'suffix' is not supported");

    v = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (v && !cJSON_IsNull(v)) {
        if (cJSON_IsArray(v)) {
            for (const cJSON *x = v->child; x; x = x->next)
                if ((s = add_stop(r, x, err)) != JOULE_OK) return s;
        } else if ((s = add_stop(r, v, err)) != JOULE_OK) {
            return s;
        }
    }
    if ((s = parse_bool(root, "stream", &r->stream, err)) != JOULE_OK) return s;
    if ((s = parse_bool(root, "ignore_eos", &r->ignore_eos, err)) != JOULE_OK) return s;
    if ((s = parse_bool(root, "return_token_ids", &r->return_token_ids, err)) != JOULE_OK) return s;
    return JOULE_OK;
}

static enum joule_status parse_object(const char *body, size_t len, cJSON **root,
                                      struct joule_server_error *err)
{
    *root = NULL;
    if (len == 0) return fail(err, 400, NULL, "the request body is empty (expected a JSON object)");
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!j) return fail(err, 400, NULL, "the request body is not valid JSON");
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return fail(err, 400, NULL, "the request body must be a JSON object");
    }
    if (joule_json_has_nul_escape(body, len)) { /* cJSON would cut the string at the NUL */
        cJSON_Delete(j);
        return fail(err, 400, NULL, "strings in the request must not contain NUL (\\u0000)");
    }
    *root = j;
    return JOULE_OK;
}

enum joule_status joule_completion_request_parse(const char *body, size_t len,
                                                 struct joule_completion_request *out,
                                                 struct joule_server_error *err)
{
    memset(out, 0, sizeof *out);
    out->max_tokens = 16;
    out->temperature = 1.0;
    out->top_p = 1.0;
    cJSON *root;
    enum joule_status s = parse_object(body, len, &root, err);
    if (s != JOULE_OK) return s;
    s = parse_fields(root, out, err);
    cJSON_Delete(root);
    if (s != JOULE_OK) joule_completion_request_free(out);
    return s;
}

enum joule_status joule_study_request_parse(const char *body, size_t len, char **text,
                                            size_t *text_len, struct joule_server_error *err)
{
    *text = NULL;
    *text_len = 0;
    cJSON *root;
    enum joule_status s = parse_object(body, len, &root, err);
    if (s != JOULE_OK) return s;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "input_text");
    if (!cJSON_IsString(v)) {
        cJSON_Delete(root);
        return fail(err, 422, "input_text", "'input_text' (a string) is required");
    }
    size_t n = strlen(v->valuestring);
    if (n == 0) {
        cJSON_Delete(root);
        return fail(err, 422, "input_text", "'input_text' is empty");
    }
    *text = dup_n(v->valuestring, n);
    cJSON_Delete(root);
    if (!*text) return fail(err, 400, "input_text", "out of memory");
    *text_len = n;
    return JOULE_OK;
}
