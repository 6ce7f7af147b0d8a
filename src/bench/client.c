/* The campaign's HTTP client over libcurl: /health and one completion. */
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_impl.h"
#include "util/clock.h"
#include "util/json.h"

#define BODY_MAX (16u << 20)

struct bench_client {
    CURL *curl;
    char base[256];
    double timeout_s;
    char *body;
    size_t len, cap;
    int overflow;
};

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct bench_client *c = user;
    size_t n = size * nmemb;
    if (c->len + n + 1 > BODY_MAX) {
        c->overflow = 1;
        return 0;
    }
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + n + 1)
            cap *= 2;
        char *nb = realloc(c->body, cap);
        if (!nb) return 0;
        c->body = nb;
        c->cap = cap;
    }
    memcpy(c->body + c->len, data, n);
    c->len += n;
    c->body[c->len] = 0;
    return n;
}

enum joule_status bench_client_init(const char *base_url, double timeout_s,
                                    struct bench_client **out)
{
    *out = NULL;
    pthread_once(&g_curl_once, curl_init_once);
    struct bench_client *c = calloc(1, sizeof *c);
    if (!c) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    c->curl = curl_easy_init();
    if (!c->curl) {
        free(c);
        return joule_errorf(JOULE_ERR_INTERNAL, "curl_easy_init failed");
    }
    snprintf(c->base, sizeof c->base, "%s", base_url);
    c->timeout_s = timeout_s;
    *out = c;
    return JOULE_OK;
}

void bench_client_free(struct bench_client *c)
{
    if (!c) return;
    curl_easy_cleanup(c->curl);
    free(c->body);
    free(c);
}

/* One request; returns the CURLcode and sets *status. body may be NULL (GET). */
static CURLcode perform(struct bench_client *c, const char *path, const char *body,
                        double timeout_s, long *status)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", c->base, path);
    CURL *h = c->curl;
    curl_easy_reset(h);
    c->len = 0;
    c->overflow = 0;
    if (c->body) c->body[0] = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    struct curl_slist *hdr = NULL;
    if (body) {
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(h);
    *status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hdr);
    return rc;
}

int bench_client_health(struct bench_client *c, double timeout_s)
{
    long status = 0;
    return perform(c, "/health", NULL, timeout_s, &status) == CURLE_OK && status == 200;
}

/* A number member of obj (or of obj.data) or NAN. */
static double num_in(const cJSON *obj, const char *key)
{
    return joule_json_num(obj, key, NAN);
}

static void parse_answer(const cJSON *j, struct joule_bench_request *r)
{
    /* usage / timings at the top level (OpenAI shape) or under "data" (study shape). */
    const cJSON *scopes[2] = {j, cJSON_GetObjectItemCaseSensitive(j, "data")};
    for (int i = 0; i < 2; i++) {
        if (!cJSON_IsObject(scopes[i])) continue;
        const cJSON *usage = cJSON_GetObjectItemCaseSensitive(scopes[i], "usage");
        if (cJSON_IsObject(usage)) {
            double p = num_in(usage, "prompt_tokens"), cpl = num_in(usage, "completion_tokens");
            if (isfinite(p)) r->prompt_tokens = (int)p;
            if (isfinite(cpl)) r->completion_tokens = (int)cpl;
        }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(scopes[i], "timings");
        if (cJSON_IsObject(t)) {
            if (isfinite(num_in(t, "queue_ms"))) r->queue_ms = num_in(t, "queue_ms");
            if (isfinite(num_in(t, "prompt_ms"))) r->prompt_ms = num_in(t, "prompt_ms");
            if (isfinite(num_in(t, "decode_ms"))) r->decode_ms = num_in(t, "decode_ms");
        }
    }
}

void bench_client_complete(struct bench_client *c, const char *api, const char *model,
                           const char *engine, const struct bench_prompt *prompt, int max_length,
                           struct joule_bench_request *r)
{
    r->ok = 0;
    r->http_status = 0;
    r->error[0] = 0;
    r->prompt_tokens = prompt->n_tokens;
    r->completion_tokens = -1;
    r->queue_ms = r->prompt_ms = r->decode_ms = NAN;
    snprintf(r->task_id, sizeof r->task_id, "%s", prompt->task_id);

    cJSON *req = cJSON_CreateObject();
    char path[512];
    if (!strcmp(api, "openai")) {
        int max_tokens = max_length - (prompt->n_tokens > 0 ? prompt->n_tokens : 0);
        if (max_tokens < 1) max_tokens = 1;
        cJSON_AddStringToObject(req, "model", model);
        cJSON_AddStringToObject(req, "prompt", prompt->text);
        cJSON_AddNumberToObject(req, "max_tokens", max_tokens);
        cJSON_AddNumberToObject(req, "temperature", 0);
        snprintf(path, sizeof path, "/v1/completions");
    } else {
        cJSON_AddStringToObject(req, "input_text", prompt->text);
        char *em = curl_easy_escape(c->curl, model, 0), *ee = curl_easy_escape(c->curl, engine, 0);
        snprintf(path, sizeof path, "/huggingface_models/%s/%s", em ? em : model, ee ? ee : engine);
        curl_free(em);
        curl_free(ee);
    }
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!body) {
        snprintf(r->error, sizeof r->error, "out of memory");
        r->start_ns = r->end_ns = joule_now_ns();
        return;
    }
    long status = 0;
    r->start_ns = joule_now_ns();
    CURLcode rc = perform(c, path, body, c->timeout_s, &status);
    r->end_ns = joule_now_ns();
    free(body);
    r->latency_ms = (double)(r->end_ns - r->start_ns) / 1e6;
    r->http_status = (int)status;
    if (rc != CURLE_OK) {
        snprintf(r->error, sizeof r->error, "%s",
                 c->overflow ? "answer larger than 16 MiB" : curl_easy_strerror(rc));
        return;
    }
    cJSON *j = cJSON_ParseWithLength(c->body ? c->body : "", c->len);
    if (status < 200 || status > 299) {
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
        const char *msg = cJSON_IsObject(err) ? joule_json_str(err, "message", NULL)
                                              : joule_json_str(j, "message", NULL);
        snprintf(r->error, sizeof r->error, "HTTP %ld%s%s", status, msg ? ": " : "",
                 msg ? msg : "");
    } else if (!cJSON_IsObject(j)) {
        snprintf(r->error, sizeof r->error, "HTTP %ld with a body that is not a JSON object",
                 status);
    } else {
        r->ok = 1;
        parse_answer(j, r);
    }
    cJSON_Delete(j);
}
