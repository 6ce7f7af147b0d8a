/* server: integration over real HTTP on loopback with libcurl as the client.
 *
 * Part 1 drives the server over a small scripted backend (tokens = bytes,
 * deterministic continuation, an optional gate and per-token delay) so queue
 * limits, timeouts and shutdown can be provoked deterministically. Part 2
 * serves a real checkpoint with the native engine and compares the answers
 * with direct engine calls.
 *
 * JOULE_SERVER_SOAK_S sets the duration of the 64-client soak (default 5 s;
 * the acceptance run uses 30). */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "joule/engine.h"
#include "joule/server.h"
#include "joule/tokenizer.h"
#include "server/server_impl.h"
#include "test.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/json.h"

/* Under a sanitizer, its allocator's resident size says little about live memory. */
#if defined(JOULE_SANITIZE) || defined(__SANITIZE_THREAD__)
#define LIVE_HEAP_CHECK 1
size_t __sanitizer_get_current_allocated_bytes(void); /* sanitizer runtime */
#endif

#ifdef JOULE_SANITIZE
/* Keep ASan's quarantine small: the soak runs 128 threads. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=16:thread_local_quarantine_size_kb=64";
}
#endif

/* ---- HTTP client ------------------------------------------------------------- */

struct http_resp {
    long code;
    struct joule_strbuf body;
    struct joule_strbuf headers;
};

static size_t on_body(char *p, size_t sz, size_t n, void *user)
{
    joule_strbuf_append(user, p, sz * n);
    return sz * n;
}

static void resp_free(struct http_resp *r)
{
    joule_strbuf_free(&r->body);
    joule_strbuf_free(&r->headers);
}

/* One request; returns the curl code. `extra` are headers (NULL-terminated list). */
static CURLcode http_do(CURL *h, const char *method, int port, const char *path, const char *body,
                        long body_len, const char *const *extra, struct http_resp *out)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    memset(out, 0, sizeof *out);
    int own = !h;
    if (own)
        h = curl_easy_init();
    else
        curl_easy_reset(h);
    struct curl_slist *hl = NULL;
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    for (size_t i = 0; extra && extra[i]; i++)
        hl = curl_slist_append(hl, extra[i]);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &out->headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE,
                         body_len >= 0 ? body_len : (long)strlen(body ? body : ""));
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->code);
    curl_slist_free_all(hl);
    if (own) curl_easy_cleanup(h);
    if (!out->body.data) joule_strbuf_append(&out->body, "", 0);
    if (!out->headers.data) joule_strbuf_append(&out->headers, "", 0);
    return rc;
}

static long post(int port, const char *path, const char *body, struct http_resp *out)
{
    CURLcode rc = http_do(NULL, "POST", port, path, body, -1, NULL, out);
    return rc == CURLE_OK ? out->code : -(long)rc;
}

static long get(int port, const char *path, struct http_resp *out)
{
    CURLcode rc = http_do(NULL, "GET", port, path, NULL, -1, NULL, out);
    return rc == CURLE_OK ? out->code : -(long)rc;
}

/* Checks the OpenAI error shape and returns error.code ("" when null). */
static const char *check_error_shape(const struct http_resp *r, cJSON **keep)
{
    cJSON *j = cJSON_Parse(r->body.data);
    *keep = j;
    const cJSON *e = cJSON_GetObjectItem(j, "error");
    CHECK(cJSON_IsObject(e));
    CHECK(cJSON_IsString(cJSON_GetObjectItem(e, "message")));
    CHECK(cJSON_IsString(cJSON_GetObjectItem(e, "type")));
    CHECK(cJSON_GetObjectItem(e, "param") != NULL);
    const cJSON *code = cJSON_GetObjectItem(e, "code");
    CHECK(code != NULL);
    return cJSON_IsString(code) ? code->valuestring : "";
}

static void expect_error(int port, const char *method, const char *path, const char *body,
                         long body_len, const char *const *hdr, long want, const char *want_code)
{
    struct http_resp r;
    CURLcode rc = http_do(NULL, method, port, path, body, body_len, hdr, &r);
    CHECK_EQ_INT(rc, CURLE_OK);
    if (r.code != want) fprintf(stderr, "  %s %s -> %ld: %s\n", method, path, r.code, r.body.data);
    CHECK_EQ_INT(r.code, want);
    cJSON *j;
    const char *code = check_error_shape(&r, &j);
    if (want_code) CHECK_EQ_STR(code, want_code);
    cJSON_Delete(j);
    resp_free(&r);
}

/* ---- a scripted backend ------------------------------------------------------ */

/* Tokens are bytes (id = byte); ids >= 256 are special (skipped when decoding,
 * 300 = EOS). The continuation of a prompt is a fixed function of its last id. */
#define FAKE_EOS 300
struct fake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int gate_closed;  /* generate() waits while set */
    int in_generate;  /* generate() calls running */
    int64_t token_ns; /* delay per token */
    int eos_after;    /* emit EOS after this many tokens (0 = never) */
    int calls;
};

static enum joule_status fake_encode(void *user, const char *text, size_t len, int32_t *ids,
                                     size_t cap, size_t *n)
{
    (void)user;
    for (size_t i = 0; i < len && i < cap; i++)
        ids[i] = (unsigned char)text[i];
    *n = len;
    return JOULE_OK;
}

static enum joule_status fake_decode(void *user, const int32_t *ids, size_t n, char *out,
                                     size_t cap, size_t *n_bytes)
{
    (void)user;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= 512) return joule_errorf(JOULE_ERR_INVALID_ARG, "bad id");
        if (ids[i] >= 256) continue;
        if (k < cap) out[k] = (char)ids[i];
        k++;
    }
    if (k < cap) out[k] = '\0';
    *n_bytes = k;
    return JOULE_OK;
}

static int32_t fake_next(int32_t prev, size_t i)
{
    return (int32_t)('a' + (prev * 7 + (int32_t)i) % 26);
}

static enum joule_status fake_generate(void *user, const int32_t *prompt, size_t n_prompt,
                                       const struct joule_gen_params *p,
                                       struct joule_gen_result *out)
{
    struct fake *f = user;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&f->mu);
    f->in_generate++;
    f->calls++;
    pthread_cond_broadcast(&f->cv);
    while (f->gate_closed)
        pthread_cond_wait(&f->cv, &f->mu);
    int64_t delay = f->token_ns;
    int eos_after = f->eos_after;
    pthread_mutex_unlock(&f->mu);
    size_t budget = 64 - n_prompt;
    if (p->max_new_tokens > 0 && (size_t)p->max_new_tokens < budget)
        budget = (size_t)p->max_new_tokens;
    if (p->max_length > 0 && (size_t)p->max_length - n_prompt < budget)
        budget = (size_t)p->max_length > n_prompt ? (size_t)p->max_length - n_prompt : 0;
    out->ids = malloc((budget ? budget : 1) * sizeof(int32_t));
    out->n_prompt = n_prompt;
    out->stop = JOULE_STOP_LENGTH;
    int32_t prev = prompt[n_prompt - 1];
    int64_t t0 = joule_now_ns();
    for (size_t i = 0; i < budget; i++) {
        if (delay) joule_sleep_ns(delay);
        int32_t tok = eos_after && (int)i == eos_after ? FAKE_EOS : fake_next(prev, i);
        out->ids[out->n_ids++] = tok;
        if (tok == FAKE_EOS) {
            out->stop = JOULE_STOP_EOS;
            break;
        }
        if (p->on_token && p->on_token(p->user, tok)) {
            out->stop = JOULE_STOP_CALLBACK;
            break;
        }
        prev = tok;
    }
    out->decode_ns = joule_now_ns() - t0;
    pthread_mutex_lock(&f->mu);
    f->in_generate--;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return JOULE_OK;
}

/* The text the scripted backend continues `prompt` with. */
static void fake_expect(const char *prompt, size_t n, char *out)
{
    int32_t prev = (unsigned char)prompt[strlen(prompt) - 1];
    for (size_t i = 0; i < n; i++) {
        out[i] = (char)fake_next(prev, i);
        prev = (unsigned char)out[i];
    }
    out[n] = '\0';
}

static struct fake g_fake = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0};

static struct joule_server_backend fake_backend(void)
{
    struct joule_server_backend be = {
        .user = &g_fake,
        .model_name = "fake-model",
        .engine = "native",
        .provider = "cpu",
        .arch = "fake",
        .n_ctx = 64,
        .n_vocab = 512,
        .encode = fake_encode,
        .decode = fake_decode,
        .generate = fake_generate,
    };
    return be;
}

static struct joule_server *start_fake(struct joule_server_params *p)
{
    struct joule_server_backend be = fake_backend();
    struct joule_server *s = NULL;
    p->port = 0;
    CHECK_OK(joule_server_start_backend(&be, p, &s));
    return s;
}

static void fake_set(int gate, int64_t token_ns, int eos_after)
{
    pthread_mutex_lock(&g_fake.mu);
    g_fake.gate_closed = gate;
    g_fake.token_ns = token_ns;
    g_fake.eos_after = eos_after;
    pthread_cond_broadcast(&g_fake.cv);
    pthread_mutex_unlock(&g_fake.mu);
}

/* Wait until the backend has `n` generate() calls in progress. */
static void fake_wait_in_generate(int n)
{
    pthread_mutex_lock(&g_fake.mu);
    while (g_fake.in_generate < n)
        pthread_cond_wait(&g_fake.cv, &g_fake.mu);
    pthread_mutex_unlock(&g_fake.mu);
}

/* ---- helpers for SSE ------------------------------------------------------- */

/* Concatenate the "text" of every data event; returns the number of events,
 * sets *done when the stream ended with [DONE], *final to the last chunk (owned). */
static int sse_collect(const char *body, struct joule_strbuf *text, int *done, cJSON **final)
{
    int n = 0;
    *done = 0;
    *final = NULL;
    const char *p = body;
    while ((p = strstr(p, "data: ")) != NULL) {
        p += 6;
        const char *end = strstr(p, "\n\n");
        if (!end) break;
        if (!strncmp(p, "[DONE]", 6)) {
            *done = 1;
            CHECK(end[2] == '\0'); /* nothing after [DONE] */
            break;
        }
        cJSON *j = cJSON_ParseWithLength(p, (size_t)(end - p));
        CHECK(j != NULL);
        const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(ch, "text"));
        if (t) joule_strbuf_puts(text, t);
        cJSON_Delete(*final);
        *final = j;
        n++;
        p = end + 2;
    }
    if (!text->data) joule_strbuf_append(text, "", 0);
    return n;
}

/* ---- part 1: the HTTP layer over the scripted backend --------------------------- */

static void test_basic_routes(void)
{
    struct joule_server_params p = joule_server_default_params();
    struct joule_server *s = start_fake(&p);
    int port = joule_server_port(s);
    CHECK(port > 0);
    struct http_resp r;
    CHECK_EQ_INT(get(port, "/health", &r), 200);
    cJSON *j = cJSON_Parse(r.body.data);
    CHECK_EQ_STR(joule_json_str(j, "status", ""), "ok");
    CHECK_EQ_STR(joule_json_str(j, "model", ""), "fake-model");
    cJSON_Delete(j);
    resp_free(&r);

    CHECK_EQ_INT(get(port, "/v1/models", &r), 200);
    j = cJSON_Parse(r.body.data);
    CHECK_EQ_STR(joule_json_str(j, "object", ""), "list");
    const cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0);
    CHECK_EQ_STR(joule_json_str(m0, "id", ""), "fake-model");
    CHECK_EQ_STR(joule_json_str(m0, "object", ""), "model");
    CHECK_EQ_INT(joule_json_int(m0, "max_model_len", 0), 64);
    cJSON_Delete(j);
    resp_free(&r);

    /* a completion, then the counters it must have moved */
    CHECK_EQ_INT(post(port, "/v1/completions",
                      "{\"prompt\":\"hello\",\"max_tokens\":5,"
                      "\"temperature\":0}",
                      &r),
                 200);
    j = cJSON_Parse(r.body.data);
    char want[8];
    fake_expect("hello", 5, want);
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    CHECK_EQ_STR(joule_json_str(c0, "text", ""), want);
    CHECK_EQ_STR(joule_json_str(c0, "finish_reason", ""), "length");
    CHECK_EQ_STR(joule_json_str(j, "object", ""), "text_completion");
    CHECK_EQ_STR(joule_json_str(j, "model", ""), "fake-model");
    const cJSON *u = cJSON_GetObjectItem(j, "usage");
    CHECK_EQ_INT(joule_json_int(u, "prompt_tokens", -1), 5);
    CHECK_EQ_INT(joule_json_int(u, "completion_tokens", -1), 5);
    CHECK_EQ_INT(joule_json_int(u, "total_tokens", -1), 10);
    const cJSON *t = cJSON_GetObjectItem(j, "timings");
    CHECK(joule_json_num(t, "queue_ms", -1) >= 0);
    CHECK(joule_json_num(t, "prompt_ms", -1) >= 0);
    CHECK(joule_json_num(t, "decode_ms", -1) >= 0);
    CHECK(cJSON_GetObjectItem(j, "energy") == NULL); /* no sensors attached */
    cJSON_Delete(j);
    resp_free(&r);

    /* token-id prompt and the ids extension */
    CHECK_EQ_INT(post(port, "/v1/completions",
                      "{\"prompt\":[104,105],\"max_tokens\":3,\"temperature\":0,"
                      "\"return_token_ids\":true}",
                      &r),
                 200);
    j = cJSON_Parse(r.body.data);
    c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    fake_expect("hi", 3, want);
    CHECK_EQ_STR(joule_json_str(c0, "text", ""), want);
    const cJSON *ids = cJSON_GetObjectItem(c0, "token_ids");
    CHECK_EQ_INT(cJSON_GetArraySize(ids), 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(cJSON_GetArrayItem(ids, i)->valueint, want[i]);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(c0, "prompt_token_ids")), 2);
    cJSON_Delete(j);
    resp_free(&r);

    CHECK_EQ_INT(get(port, "/metrics", &r), 200);
    CHECK(strstr(r.headers.data, "text/plain") != NULL);
    CHECK(strstr(r.body.data, "joule_http_requests_total{route=\"/health\",code=\"200\"} 1\n") !=
          NULL);
    CHECK(strstr(r.body.data,
                 "joule_http_requests_total{route=\"/v1/completions\",code=\"200\"} 2\n") != NULL);
    CHECK(strstr(r.body.data, "joule_prompt_tokens_total 7\n") != NULL);
    CHECK(strstr(r.body.data, "joule_generated_tokens_total 8\n") != NULL);
    CHECK(strstr(r.body.data, "joule_queue_depth 0\n") != NULL);
    CHECK(strstr(r.body.data, "# TYPE joule_http_request_duration_seconds histogram") != NULL);
    CHECK(strstr(r.body.data,
                 "joule_http_request_duration_seconds_count{route=\"/v1/completions\"} 2\n") !=
          NULL);
    CHECK(strstr(r.body.data, "joule_energy") == NULL);
    resp_free(&r);
    joule_server_free(s);
}

static void test_stream_and_stop(void)
{
    struct joule_server_params p = joule_server_default_params();
    struct joule_server *s = start_fake(&p);
    int port = joule_server_port(s);
    struct http_resp r;
    char want[32];
    fake_expect("abc", 20, want);

    /* streaming (with a per-token delay, so it arrives in several events) */
    fake_set(0, 2000000, 0);
    CHECK_EQ_INT(post(port, "/v1/completions",
                      "{\"prompt\":\"abc\",\"max_tokens\":20,\"temperature\":0,\"stream\":true}",
                      &r),
                 200);
    fake_set(0, 0, 0);
    CHECK(strstr(r.headers.data, "text/event-stream") != NULL);
    struct joule_strbuf text = {0};
    int done;
    cJSON *fin;
    int n = sse_collect(r.body.data, &text, &done, &fin);
    CHECK(n >= 2);
    CHECK(done);
    CHECK_EQ_STR(text.data, want);
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(fin, "choices"), 0);
    CHECK_EQ_STR(joule_json_str(c0, "finish_reason", ""), "length");
    CHECK_EQ_INT(joule_json_int(cJSON_GetObjectItem(fin, "usage"), "completion_tokens", -1), 20);
    CHECK(cJSON_GetObjectItem(fin, "timings") != NULL);
    cJSON_Delete(fin);
    joule_strbuf_free(&text);
    resp_free(&r);

    /* a stop string: the text ends before it, streamed or not */
    char stop[3] = {want[6], want[7], '\0'};
    char body[256];
    const char *at = strstr(want, stop);
    size_t cut = (size_t)(at - want);
    for (int stream = 0; stream <= 1; stream++) {
        snprintf(
            body, sizeof body,
            "{\"prompt\":\"abc\",\"max_tokens\":20,\"temperature\":0,\"stop\":[\"zzzz\",\"%s\"],"
            "\"stream\":%s,\"return_token_ids\":true}",
            stop, stream ? "true" : "false");
        fake_set(0, stream ? 1000000 : 0, 0);
        CHECK_EQ_INT(post(port, "/v1/completions", body, &r), 200);
        const char *got;
        cJSON *j = NULL;
        memset(&text, 0, sizeof text);
        if (stream) {
            sse_collect(r.body.data, &text, &done, &j);
            CHECK(done);
            got = text.data;
        } else {
            j = cJSON_Parse(r.body.data);
            got = joule_json_str(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "text",
                                 "");
        }
        CHECK_EQ_INT(strlen(got), cut);
        CHECK(!strncmp(got, want, cut));
        c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
        CHECK_EQ_STR(joule_json_str(c0, "finish_reason", ""), "stop");
        /* generation ended at the token that completed the stop string */
        CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(c0, "token_ids")), (long)cut + 2);
        cJSON_Delete(j);
        joule_strbuf_free(&text);
        resp_free(&r);
    }
    fake_set(0, 0, 0);

    /* EOS ends with finish_reason "stop" and is not in the text */
    fake_set(0, 0, 4);
    CHECK_EQ_INT(post(port, "/v1/completions",
                      "{\"prompt\":\"abc\",\"max_tokens\":20,"
                      "\"temperature\":0}",
                      &r),
                 200);
    fake_set(0, 0, 0);
    cJSON *j = cJSON_Parse(r.body.data);
    c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    CHECK_EQ_STR(joule_json_str(c0, "finish_reason", ""), "stop");
    want[4] = '\0';
    CHECK_EQ_STR(joule_json_str(c0, "text", ""), want);
    CHECK_EQ_INT(joule_json_int(cJSON_GetObjectItem(j, "usage"), "completion_tokens", -1), 5);
    cJSON_Delete(j);
    resp_free(&r);
    joule_server_free(s);
}

static void test_study_routes(void)
{
    struct joule_server_params p = joule_server_default_params();
    struct joule_server *s = start_fake(&p);
    int port = joule_server_port(s);
    struct http_resp r;
    CHECK_EQ_INT(
        post(port, "/huggingface_models/fake-model/native", "{\"input_text\":\"def f(x):\"}", &r),
        200);
    cJSON *j = cJSON_Parse(r.body.data);
    CHECK_EQ_STR(joule_json_str(j, "message", ""), "OK");
    CHECK_EQ_STR(joule_json_str(j, "method", ""), "POST");
    CHECK_EQ_INT(joule_json_int(j, "status-code", 0), 200);
    CHECK(strlen(joule_json_str(j, "timestamp", "")) >= 20);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/huggingface_models/fake-model/native", port);
    CHECK_EQ_STR(joule_json_str(j, "url", ""), url);
    const cJSON *d = cJSON_GetObjectItem(j, "data");
    CHECK_EQ_STR(joule_json_str(d, "model-type", ""), "fake-model");
    CHECK_EQ_STR(joule_json_str(d, "input_text", ""), "def f(x):");
    /* max_length 128 in total: the prompt (9 tokens) and 119 new ones, decoded whole
     * (the scripted backend's context is 64, so 64 - 9 = 55 here) */
    char want[128];
    strcpy(want, "def f(x):");
    fake_expect("def f(x):", 55, want + 9);
    CHECK_EQ_STR(joule_json_str(d, "prediction", ""), want);
    cJSON_Delete(j);
    resp_free(&r);

    CHECK_EQ_INT(post(port, "/load_model/native/fake-model", "", &r), 200);
    j = cJSON_Parse(r.body.data);
    CHECK_EQ_INT(joule_json_int(j, "status-code", 0), 200);
    CHECK_EQ_STR(joule_json_str(cJSON_GetObjectItem(j, "data"), "model-type", ""), "fake-model");
    cJSON_Delete(j);
    resp_free(&r);

    expect_error(port, "POST", "/huggingface_models/other/native", "{\"input_text\":\"x\"}", -1,
                 NULL, 404, "model_not_found");
    expect_error(port, "POST", "/huggingface_models/fake-model/onnx", "{\"input_text\":\"x\"}", -1,
                 NULL, 404, "engine_not_found");
    expect_error(port, "POST", "/load_model/native/other", "", -1, NULL, 404, "model_not_found");
    expect_error(port, "POST", "/huggingface_models/fake-model/native", "{\"text\":\"x\"}", -1,
                 NULL, 422, NULL);
    expect_error(port, "GET", "/huggingface_models/fake-model/native", NULL, -1, NULL, 405, NULL);
    joule_server_free(s);
}

static void test_errors(void)
{
    struct joule_server_params p = joule_server_default_params();
    p.max_body_bytes = 1000;
    p.api_key = "sekrit-key";
    struct joule_server *s = start_fake(&p);
    int port = joule_server_port(s);
    const char *auth[] = {"Authorization: Bearer sekrit-key", NULL};
    const char *bad_auth[] = {"Authorization: Bearer sekrit-kez", NULL};
    const char *short_auth[] = {"Authorization: Bearer sekrit", NULL};

    /* 401 without or with a wrong key; /health stays open */
    expect_error(port, "POST", "/v1/completions", "{\"prompt\":\"a\"}", -1, NULL, 401,
                 "invalid_api_key");
    expect_error(port, "POST", "/v1/completions", "{\"prompt\":\"a\"}", -1, bad_auth, 401,
                 "invalid_api_key");
    expect_error(port, "POST", "/v1/completions", "{\"prompt\":\"a\"}", -1, short_auth, 401,
                 "invalid_api_key");
    expect_error(port, "GET", "/metrics", NULL, -1, NULL, 401, "invalid_api_key");
    struct http_resp r;
    CHECK_EQ_INT(get(port, "/health", &r), 200);
    resp_free(&r);
    CHECK_EQ_INT(http_do(NULL, "POST", port, "/v1/completions",
                         "{\"prompt\":\"a\",\"max_tokens\":1}", -1, auth, &r),
                 CURLE_OK);
    CHECK_EQ_INT(r.code, 200);
    resp_free(&r);

    /* 404, 405 */
    expect_error(port, "GET", "/nope", NULL, -1, auth, 404, "not_found");
    expect_error(port, "POST", "/v1/completion", "{}", -1, auth, 404, "not_found");
    expect_error(port, "GET", "/v1/completions", NULL, -1, auth, 405, "method_not_allowed");
    expect_error(port, "DELETE", "/health", NULL, -1, auth, 405, "method_not_allowed");
    expect_error(port, "POST", "/v1/completions", "{\"prompt\":\"a\",\"model\":\"gpt-4\"}", -1,
                 auth, 404, "model_not_found");

    /* 400: bad JSON, bad types and ranges */
    const char *bad[] = {
        "",
        "{",
        "[1,2]",
        "{\"max_tokens\":3}",
        "{\"prompt\":42}",
        "{\"prompt\":\"\"}",
        "{\"prompt\":[]}",
        "{\"prompt\":[1,-2]}",
        "{\"prompt\":[1,2.5]}",
        "{\"prompt\":[\"a\",\"b\"]}",
        "{\"prompt\":\"a\",\"max_tokens\":0}",
        "{\"prompt\":\"a\",\"max_tokens\":\"5\"}",
        "{\"prompt\":\"a\",\"temperature\":-1}",
        "{\"prompt\":\"a\",\"temperature\":3}",
        "{\"prompt\":\"a\",\"top_p\":0}",
        "{\"prompt\":\"a\",\"top_p\":1.5}",
        "{\"prompt\":\"a\",\"seed\":1.5}",
        "{\"prompt\":\"a\",\"stop\":3}",
        "{\"prompt\":\"a\",\"stop\":[\"\"]}",
        "{\"prompt\":\"a\",\"stream\":\"yes\"}",
        "{\"prompt\":\"a\",\"n\":2}",
        "{\"prompt\":\"a\",\"echo\":true}",
        "{\"prompt\":[1,2,600]}",
        "{\"prompt\":\"a\\u0000b\"}", /* would be cut at the NUL (fuzz_completion_request) */
        "{\"prompt\":\"a\",\"stop\":[\"x\\u0000\"]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(port, "POST", "/v1/completions", bad[i], -1, auth, 400, NULL);
    /* the offending parameter is named */
    CHECK_EQ_INT(http_do(NULL, "POST", port, "/v1/completions", "{\"prompt\":\"a\",\"top_p\":7}",
                         -1, auth, &r),
                 CURLE_OK);
    cJSON *j = cJSON_Parse(r.body.data);
    CHECK_EQ_STR(joule_json_str(cJSON_GetObjectItem(j, "error"), "param", ""), "top_p");
    CHECK_EQ_STR(joule_json_str(cJSON_GetObjectItem(j, "error"), "type", ""),
                 "invalid_request_error");
    cJSON_Delete(j);
    resp_free(&r);

    /* 413: by Content-Length, and chunked without one */
    char big[1200];
    memset(big, ' ', sizeof big);
    memcpy(big, "{\"prompt\":\"a\"", 13);
    big[sizeof big - 2] = '}';
    big[sizeof big - 1] = '\0';
    expect_error(port, "POST", "/v1/completions", big, -1, auth, 413, "request_too_large");
    const char *chunked[] = {"Authorization: Bearer sekrit-key", "Transfer-Encoding: chunked",
                             NULL};
    expect_error(port, "POST", "/v1/completions", big, -1, chunked, 413, "request_too_large");

    /* 422: a prompt as long as the context (64) leaves no room */
    char longp[100];
    memset(longp, 0, sizeof longp);
    strcpy(longp, "{\"prompt\":\"");
    memset(longp + 11, 'x', 64);
    strcat(longp, "\"}");
    expect_error(port, "POST", "/v1/completions", longp, -1, auth, 422, "context_length_exceeded");
    expect_error(port, "POST", "/huggingface_models/fake-model/native", "{\"input_text\":5}", -1,
                 auth, 422, NULL);

    /* the error counters */
    CHECK_EQ_INT(http_do(NULL, "GET", port, "/metrics", NULL, -1, auth, &r), CURLE_OK);
    CHECK(strstr(r.body.data,
                 "joule_http_errors_total{route=\"/v1/completions\",code=\"401\"} 3\n") != NULL);
    CHECK(strstr(r.body.data,
                 "joule_http_errors_total{route=\"/v1/completions\",code=\"413\"} 2\n") != NULL);
    CHECK(strstr(r.body.data, "joule_http_errors_total{route=\"other\",code=\"404\"} 2\n") != NULL);
    resp_free(&r);
    joule_server_free(s);
}

struct bg_req {
    pthread_t th;
    int port;
    const char *path;
    const char *body;
    long code;
    struct http_resp r;
};

static void *bg_main(void *arg)
{
    struct bg_req *b = arg;
    b->code = post(b->port, b->path, b->body, &b->r);
    return NULL;
}

static void bg_start(struct bg_req *b, int port, const char *path, const char *body)
{
    memset(b, 0, sizeof *b);
    b->port = port;
    b->path = path;
    b->body = body;
    pthread_create(&b->th, NULL, bg_main, b);
}

/* Wait until the server reports `n` queued requests. */
static void wait_queue_depth(int port, int n)
{
    char want[64];
    snprintf(want, sizeof want, "joule_queue_depth %d\n", n);
    for (int i = 0; i < 2000; i++) {
        struct http_resp r;
        get(port, "/metrics", &r);
        int ok = strstr(r.body.data, want) != NULL;
        resp_free(&r);
        if (ok) return;
        joule_sleep_ns(5000000);
    }
    test_fail(__FILE__, __LINE__, "queue depth never reached %d", n);
}

static void test_queue_full_and_timeouts(void)
{
    struct joule_server_params p = joule_server_default_params();
    p.max_queue = 2;
    p.timeout_s = 1;
    struct joule_server *s = start_fake(&p);
    int port = joule_server_port(s);
    const char *req = "{\"prompt\":\"q\",\"max_tokens\":2,\"temperature\":0}";

    /* one running (held at the gate) + two queued fill it; the fourth gets 503 */
    fake_set(1, 0, 0);
    struct bg_req a, b, c;
    bg_start(&a, port, "/v1/completions", req);
    fake_wait_in_generate(1);
    bg_start(&b, port, "/v1/completions", req);
    bg_start(&c, port, "/v1/completions", req);
    wait_queue_depth(port, 2);
    struct http_resp r;
    CHECK_EQ_INT(post(port, "/v1/completions", req, &r), 503);
    CHECK(strstr(r.headers.data, "Retry-After:") != NULL);
    cJSON *j;
    CHECK_EQ_STR(check_error_shape(&r, &j), "queue_full");
    cJSON_Delete(j);
    resp_free(&r);
    /* the queued two time out after 1 s in the queue: 503 "timeout" */
    pthread_join(b.th, NULL);
    pthread_join(c.th, NULL);
    CHECK_EQ_INT(b.code, 503);
    CHECK_EQ_INT(c.code, 503);
    CHECK_EQ_STR(check_error_shape(&b.r, &j), "timeout");
    cJSON_Delete(j);
    resp_free(&b.r);
    resp_free(&c.r);
    /* the running one is over its deadline too: it stops after its first token */
    fake_set(0, 0, 0);
    pthread_join(a.th, NULL);
    CHECK_EQ_INT(a.code, 200);
    j = cJSON_Parse(a.r.body.data);
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    CHECK_EQ_STR(joule_json_str(c0, "finish_reason", ""), "timeout");
    CHECK_EQ_INT(joule_json_int(cJSON_GetObjectItem(j, "usage"), "completion_tokens", -1), 1);
    cJSON_Delete(j);
    resp_free(&a.r);

    /* a slow generation is cut at the deadline */
    fake_set(0, 300000000, 0); /* 0.3 s per token, 10 tokens asked, 1 s allowed */
    int64_t t_post = joule_now_ns();
    CHECK_EQ_INT(
        post(port, "/v1/completions", "{\"prompt\":\"q\",\"max_tokens\":10,\"temperature\":0}", &r),
        200);
    int64_t waited_ns = joule_now_ns() - t_post;
    fake_set(0, 0, 0);
    j = cJSON_Parse(r.body.data);
    c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    CHECK_EQ_STR(joule_json_str(c0, "finish_reason", ""), "timeout");
    /* Cut at the first token after the deadline: not before it (the client waited
     * longer than the 1 s allowed), and by the 4th token, which ends 1.2 s or more
     * after the request at the earliest. How many came before depends on the load. */
    long n = joule_json_int(cJSON_GetObjectItem(j, "usage"), "completion_tokens", -1);
    CHECK(n >= 1 && n <= 4);
    CHECK(waited_ns > 1000000000);
    cJSON_Delete(j);
    resp_free(&r);
    CHECK_EQ_INT(get(port, "/metrics", &r), 200);
    CHECK(strstr(r.body.data,
                 "joule_http_errors_total{route=\"/v1/completions\",code=\"503\"} 3\n") != NULL);
    resp_free(&r);
    joule_server_free(s);
}

struct stopper {
    pthread_t th;
    struct joule_server *s;
};

static void *stop_main(void *arg)
{
    struct stopper *st = arg;
    joule_server_stop(st->s);
    return NULL;
}

static void test_graceful_shutdown(void)
{
    struct joule_server_params p = joule_server_default_params();
    struct joule_server *s = start_fake(&p);
    int port = joule_server_port(s);
    /* one running at the gate, one streaming behind it in the queue */
    fake_set(1, 0, 0);
    struct bg_req a, b;
    bg_start(&a, port, "/v1/completions", "{\"prompt\":\"s\",\"max_tokens\":4,\"temperature\":0}");
    fake_wait_in_generate(1);
    bg_start(&b, port, "/v1/completions",
             "{\"prompt\":\"t\",\"max_tokens\":4,\"temperature\":0,\"stream\":true}");
    wait_queue_depth(port, 1);
    struct stopper st = {.s = s};
    pthread_create(&st.th, NULL, stop_main, &st);
    /* the server stops accepting: a new connection fails or is refused */
    int refused = 0;
    for (int i = 0; i < 200 && !refused; i++) {
        struct http_resp r;
        long code = get(port, "/health", &r);
        refused = code < 0 || code == 503;
        resp_free(&r);
        if (!refused) joule_sleep_ns(5000000);
    }
    CHECK(refused);
    fake_set(0, 0, 0); /* release the engine: both in-flight requests complete */
    pthread_join(st.th, NULL);
    pthread_join(a.th, NULL);
    pthread_join(b.th, NULL);
    CHECK_EQ_INT(a.code, 200);
    CHECK_EQ_INT(b.code, 200);
    char want[8];
    fake_expect("s", 4, want);
    cJSON *j = cJSON_Parse(a.r.body.data);
    CHECK_EQ_STR(
        joule_json_str(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "text", ""), want);
    cJSON_Delete(j);
    struct joule_strbuf text = {0};
    int done;
    cJSON *fin;
    sse_collect(b.r.body.data, &text, &done, &fin);
    fake_expect("t", 4, want);
    CHECK(done);
    CHECK_EQ_STR(text.data, want);
    cJSON_Delete(fin);
    joule_strbuf_free(&text);
    resp_free(&a.r);
    resp_free(&b.r);
    joule_server_free(s);
}

/* An energy source of constant power: 2 W on "fake:a", 0.5 W on "fake:b". */
static enum joule_status const_power(void *user, int64_t t0, int64_t t1, double *out)
{
    (void)user;
    out[0] = 2.0 * (double)(t1 - t0) * 1e-9;
    out[1] = 0.5 * (double)(t1 - t0) * 1e-9;
    return JOULE_OK;
}

static void test_energy_hook(void)
{
    static const char *const names[] = {"fake:a", "fake:b"};
    struct joule_server_energy en = {2, names, const_power, NULL};
    struct joule_server_params p = joule_server_default_params();
    p.energy = &en;
    struct joule_server *s = start_fake(&p);
    int port = joule_server_port(s);
    fake_set(0, 10000000, 0); /* 10 ms per token */
    struct http_resp r;
    CHECK_EQ_INT(post(port, "/v1/completions",
                      "{\"prompt\":\"e\",\"max_tokens\":5,"
                      "\"temperature\":0}",
                      &r),
                 200);
    fake_set(0, 0, 0);
    cJSON *j = cJSON_Parse(r.body.data);
    const cJSON *e = cJSON_GetObjectItem(j, "energy");
    double a = joule_json_num(e, "fake:a", -1), b = joule_json_num(e, "fake:b", -1);
    /* 5 tokens x 10 ms at 2 W is at least 0.1 J; the two sources keep the 4:1 ratio */
    CHECK(a >= 0.1 && a < 5.0);
    CHECK_CLOSE(a, 4.0 * b, 1e-9, 1e-12);
    cJSON_Delete(j);
    resp_free(&r);
    CHECK_EQ_INT(get(port, "/metrics", &r), 200);
    CHECK(strstr(r.body.data, "joule_energy_joules_total{source=\"fake:a\"} ") != NULL);
    resp_free(&r);
    joule_server_free(s);
}

/* ---- part 2: a real checkpoint under the native engine ------------------------------ */

static char g_model_dir[512];

/* A complete model directory: the llama fixture (vocabulary 512) with the
 * 512-token byte-level tokenizer beside it. */
static const char *real_model_dir(void)
{
    if (g_model_dir[0]) return g_model_dir;
    char path[1024];
    snprintf(g_model_dir, sizeof g_model_dir, "%s/tiny-llama", test_tmpdir());
    joule_mkdirs(g_model_dir);
    static const char *const files[][2] = {
        {"models/llama/config.json", "config.json"},
        {"models/llama/model.safetensors", "model.safetensors"},
        {"tokenizers/tiny_bytelevel_512/tokenizer.json", "tokenizer.json"}};
    for (size_t i = 0; i < 3; i++) {
        char *data = NULL;
        size_t len = 0;
        CHECK_OK(joule_read_file(test_fixture(files[i][0]), (size_t)1 << 30, &data, &len));
        joule_path_join(path, sizeof path, g_model_dir, files[i][1]);
        CHECK_OK(joule_write_file_atomic(path, data, len));
        free(data);
    }
    return g_model_dir;
}

static struct joule_engine *open_engine(void)
{
    struct joule_engine_params ep = joule_engine_default_params();
    ep.n_threads = 1;
    struct joule_engine *e = NULL;
    CHECK_OK(joule_engine_open(real_model_dir(), &ep, &e));
    return e;
}

struct real {
    struct joule_engine *served; /* the server's */
    struct joule_engine *direct; /* ours, for the reference answers */
    struct joule_server *srv;
    int port;
};

static int real_start(struct real *r, const struct joule_server_params *params)
{
    memset(r, 0, sizeof *r);
    r->served = open_engine();
    r->direct = open_engine();
    if (!r->served || !r->direct) return -1;
    struct joule_server_params p = params ? *params : joule_server_default_params();
    p.port = 0;
    CHECK_OK(joule_server_start(r->served, &p, &r->srv));
    r->port = joule_server_port(r->srv);
    return r->srv ? 0 : -1;
}

static void real_stop(struct real *r)
{
    joule_server_free(r->srv);
    joule_engine_free(r->served);
    joule_engine_free(r->direct);
}

static size_t encode_direct(struct joule_engine *e, const char *text, int32_t *ids, size_t cap)
{
    size_t n = 0;
    CHECK_OK(
        joule_tokenizer_encode(joule_engine_tokenizer(e), text, strlen(text), 1, ids, cap, &n));
    return n;
}

static void check_ids(const cJSON *arr, const int32_t *want, size_t n)
{
    CHECK_EQ_INT(cJSON_GetArraySize(arr), (long)n);
    int same = cJSON_GetArraySize(arr) == (int)n;
    for (size_t i = 0; same && i < n; i++)
        same = cJSON_GetArrayItem(arr, (int)i)->valueint == want[i];
    CHECK(same);
}

/* The ids `joule generate --json` prints for a prompt (greedy). */
static size_t cli_generate(const char *prompt, int max_new, int32_t *ids, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' generate --model '%s' --prompt '%s' --max-new-tokens %d --threads 1 --json "
             "2>/dev/null",
             test_joule_bin(), real_model_dir(), prompt, max_new);
    FILE *f = popen(cmd, "r");
    struct joule_strbuf out = {0};
    char buf[4096];
    size_t k;
    while (f && (k = fread(buf, 1, sizeof buf, f)) > 0)
        joule_strbuf_append(&out, buf, k);
    CHECK_EQ_INT(f ? pclose(f) : -1, 0);
    cJSON *j = cJSON_Parse(out.data ? out.data : "");
    const cJSON *a = cJSON_GetObjectItem(j, "ids");
    size_t n = 0;
    for (const cJSON *v = a ? a->child : NULL; v && n < cap; v = v->next)
        ids[n++] = v->valueint;
    CHECK(n > 0);
    cJSON_Delete(j);
    joule_strbuf_free(&out);
    return n;
}

static void test_real_same_tokens(void)
{
    struct real r;
    if (real_start(&r, NULL) != 0) return;
    static const char *const prompts[] = {"def add(a, b):", "import os\n", "x",
                                          "for i in range(10"};
    for (size_t k = 0; k < sizeof prompts / sizeof prompts[0]; k++) {
        int32_t pids[128];
        size_t np = encode_direct(r.direct, prompts[k], pids, 128);
        /* the reference: the engine API directly, greedy, 20 new tokens */
        struct joule_gen_params gp = joule_gen_default_params();
        gp.max_new_tokens = 20;
        struct joule_gen_result want;
        CHECK_OK(joule_engine_generate(r.direct, pids, np, &gp, &want));
        /* and the CLI */
        int32_t cli[64];
        size_t ncli = cli_generate(prompts[k], 20, cli, 64);
        CHECK_EQ_INT(ncli, want.n_ids);
        CHECK(ncli == want.n_ids && !memcmp(cli, want.ids, ncli * sizeof *cli));

        cJSON *body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "prompt", prompts[k]);
        cJSON_AddNumberToObject(body, "max_tokens", 20);
        cJSON_AddNumberToObject(body, "temperature", 0);
        cJSON_AddBoolToObject(body, "return_token_ids", 1);
        char *txt = cJSON_PrintUnformatted(body);
        struct http_resp resp;
        CHECK_EQ_INT(post(r.port, "/v1/completions", txt, &resp), 200);
        cJSON *j = cJSON_Parse(resp.body.data);
        const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
        check_ids(cJSON_GetObjectItem(c0, "prompt_token_ids"), pids, np);
        check_ids(cJSON_GetObjectItem(c0, "token_ids"), want.ids, want.n_ids);
        const cJSON *u = cJSON_GetObjectItem(j, "usage");
        CHECK_EQ_INT(joule_json_int(u, "prompt_tokens", -1), (long)np);
        CHECK_EQ_INT(joule_json_int(u, "completion_tokens", -1), (long)want.n_ids);
        /* the text is the decoded continuation (byte-level: decode(prompt+new) minus
         * decode(prompt)) */
        int32_t all[256];
        memcpy(all, pids, np * sizeof *pids);
        memcpy(all + np, want.ids, want.n_ids * sizeof *pids);
        struct joule_strbuf full = {0}, pre = {0};
        const struct joule_tokenizer *tok = joule_engine_tokenizer(r.direct);
        char buf[4096];
        size_t nb = 0;
        CHECK_OK(joule_tokenizer_decode(tok, all, np + want.n_ids, 1, buf, sizeof buf, &nb));
        joule_strbuf_append(&full, buf, nb);
        CHECK_OK(joule_tokenizer_decode(tok, pids, np, 1, buf, sizeof buf, &nb));
        joule_strbuf_append(&pre, buf, nb);
        CHECK(full.len >= pre.len && !memcmp(full.data, pre.data, pre.len));
        const char *got = joule_json_str(c0, "text", "");
        /* compare through the same JSON escaping (invalid UTF-8 becomes U+FFFD) */
        struct joule_strbuf esc = {0};
        joule_strbuf_json_str(&esc, full.data + pre.len, full.len - pre.len);
        cJSON *ref = cJSON_Parse(esc.data);
        CHECK_EQ_STR(got, cJSON_GetStringValue(ref));
        cJSON_Delete(ref);
        joule_strbuf_free(&esc);
        joule_strbuf_free(&full);
        joule_strbuf_free(&pre);

        /* seeded sampling maps onto the engine's sampler */
        cJSON_ReplaceItemInObject(body, "temperature", cJSON_CreateNumber(0.8));
        cJSON_AddNumberToObject(body, "top_p", 0.9);
        cJSON_AddNumberToObject(body, "seed", 1234);
        char *txt2 = cJSON_PrintUnformatted(body);
        struct http_resp resp2;
        CHECK_EQ_INT(post(r.port, "/v1/completions", txt2, &resp2), 200);
        struct joule_gen_params sp = joule_gen_default_params();
        sp.max_new_tokens = 20;
        sp.sampling.greedy = 0;
        sp.sampling.temperature = 0.8f;
        sp.sampling.top_p = 0.9f;
        sp.sampling.seed = 1234;
        struct joule_gen_result want2;
        CHECK_OK(joule_engine_generate(r.direct, pids, np, &sp, &want2));
        cJSON *j2 = cJSON_Parse(resp2.body.data);
        check_ids(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j2, "choices"), 0),
                                      "token_ids"),
                  want2.ids, want2.n_ids);
        cJSON_Delete(j2);
        joule_gen_result_free(&want2);
        resp_free(&resp2);
        free(txt2);

        /* streamed: the same text, then finish_reason and usage in the last event */
        cJSON_ReplaceItemInObject(body, "temperature", cJSON_CreateNumber(0));
        cJSON_AddBoolToObject(body, "stream", 1);
        char *txt3 = cJSON_PrintUnformatted(body);
        struct http_resp resp3;
        CHECK_EQ_INT(post(r.port, "/v1/completions", txt3, &resp3), 200);
        struct joule_strbuf st = {0};
        int done;
        cJSON *fin;
        sse_collect(resp3.body.data, &st, &done, &fin);
        CHECK(done);
        CHECK_EQ_STR(st.data, got);
        const cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(fin, "choices"), 0);
        check_ids(cJSON_GetObjectItem(f0, "token_ids"), want.ids, want.n_ids);
        CHECK_EQ_STR(joule_json_str(f0, "finish_reason", ""),
                     want.stop == JOULE_STOP_EOS ? "stop" : "length");
        cJSON_Delete(fin);
        joule_strbuf_free(&st);
        resp_free(&resp3);
        free(txt3);

        cJSON_Delete(j);
        resp_free(&resp);
        free(txt);
        cJSON_Delete(body);
        joule_gen_result_free(&want);
    }

    /* token-id prompts too, and a prompt as long as the context is 422 */
    struct http_resp resp;
    CHECK_EQ_INT(post(r.port, "/v1/completions",
                      "{\"prompt\":[1,2,3],\"max_tokens\":8,\"temperature\":0,"
                      "\"return_token_ids\":true}",
                      &resp),
                 200);
    struct joule_gen_params gp = joule_gen_default_params();
    gp.max_new_tokens = 8;
    struct joule_gen_result want;
    const int32_t p3[] = {1, 2, 3};
    CHECK_OK(joule_engine_generate(r.direct, p3, 3, &gp, &want));
    cJSON *j = cJSON_Parse(resp.body.data);
    check_ids(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "token_ids"),
        want.ids, want.n_ids);
    cJSON_Delete(j);
    joule_gen_result_free(&want);
    resp_free(&resp);
    struct joule_strbuf big = {0};
    joule_strbuf_puts(&big, "{\"prompt\":[");
    for (int i = 0; i < 128; i++)
        joule_strbuf_printf(&big, i ? ",%d" : "%d", 5 + i);
    joule_strbuf_puts(&big, "]}");
    expect_error(r.port, "POST", "/v1/completions", big.data, -1, NULL, 422,
                 "context_length_exceeded");
    joule_strbuf_free(&big);
    real_stop(&r);
}

static void test_real_study_route(void)
{
    struct real r;
    if (real_start(&r, NULL) != 0) return;
    const char *prompt = "def fib(n):\n    ";
    int32_t ids[256];
    size_t np = encode_direct(r.direct, prompt, ids, 128);
    /* the study: generate(max_length=128), greedy; decode the whole sequence */
    struct joule_gen_params gp = joule_gen_default_params();
    gp.max_new_tokens = 0;
    gp.max_length = 128;
    struct joule_gen_result want;
    CHECK_OK(joule_engine_generate(r.direct, ids, np, &gp, &want));
    memcpy(ids + np, want.ids, want.n_ids * sizeof *ids);
    char pred[8192];
    size_t nb = 0;
    CHECK_OK(joule_tokenizer_decode(joule_engine_tokenizer(r.direct), ids, np + want.n_ids, 1, pred,
                                    sizeof pred, &nb));
    struct joule_strbuf esc = {0};
    joule_strbuf_json_str(&esc, pred, nb);
    cJSON *ref = cJSON_Parse(esc.data);

    struct http_resp resp;
    CHECK_EQ_INT(post(r.port, "/huggingface_models/tiny-llama/native",
                      "{\"input_text\":\"def fib(n):\\n    \"}", &resp),
                 200);
    cJSON *j = cJSON_Parse(resp.body.data);
    CHECK_EQ_STR(joule_json_str(j, "message", ""), "OK");
    CHECK_EQ_STR(joule_json_str(j, "method", ""), "POST");
    CHECK_EQ_INT(joule_json_int(j, "status-code", 0), 200);
    CHECK(cJSON_IsString(cJSON_GetObjectItem(j, "timestamp")));
    CHECK(strstr(joule_json_str(j, "url", ""), "/huggingface_models/tiny-llama/native") != NULL);
    const cJSON *d = cJSON_GetObjectItem(j, "data");
    CHECK_EQ_STR(joule_json_str(d, "model-type", ""), "tiny-llama");
    CHECK_EQ_STR(joule_json_str(d, "input_text", ""), prompt);
    CHECK_EQ_STR(joule_json_str(d, "prediction", ""), cJSON_GetStringValue(ref));
    CHECK_EQ_INT(np + want.n_ids <= 128, 1);
    CHECK_EQ_INT(joule_json_int(cJSON_GetObjectItem(j, "usage"), "total_tokens", -1),
                 (long)(np + want.n_ids));
    cJSON_Delete(j);
    cJSON_Delete(ref);
    joule_strbuf_free(&esc);
    resp_free(&resp);
    joule_gen_result_free(&want);

    CHECK_EQ_INT(post(r.port, "/load_model/native/tiny-llama", "", &resp), 200);
    resp_free(&resp);
    real_stop(&r);
}

/* ---- 64 concurrent clients ----------------------------------------------------------- */

struct soak {
    pthread_t th;
    int port;
    int idx;
    int64_t until_ns;
    long ok, failed;
};

static void *soak_main(void *arg)
{
    struct soak *k = arg;
    CURL *h = curl_easy_init();
    static const char *const bodies[] = {
        "{\"prompt\":\"def add(a, b):\",\"max_tokens\":16,\"temperature\":0}",
        ("{\"prompt\":\"import sys\\n\",\"max_tokens\":12,\"temperature\":0.7,\"seed\":3,"
         "\"stream\":true}"), /* one element: parenthesized for clang -Wstring-concatenation */
        "{\"prompt\":[1,2,3,4],\"max_tokens\":8,\"stop\":[\"e\",\"\\n\"]}",
    };
    for (long n = 0; joule_now_ns() < k->until_ns; n++) {
        struct http_resp r;
        int which = (int)((n + k->idx) % 5);
        CURLcode rc;
        if (which < 3)
            rc = http_do(h, "POST", k->port, "/v1/completions", bodies[which], -1, NULL, &r);
        else if (which == 3)
            rc = http_do(h, "POST", k->port, "/huggingface_models/tiny-llama/native",
                         "{\"input_text\":\"def f(x):\"}", -1, NULL, &r);
        else
            rc = http_do(h, "GET", k->port, "/health", NULL, -1, NULL, &r);
        int good = rc == CURLE_OK && r.code == 200 && !r.body.oom &&
                   (which != 1 || strstr(r.body.data, "data: [DONE]\n\n") != NULL);
        if (good)
            k->ok++;
        else {
            if (k->failed < 3)
                fprintf(stderr, "  soak: request %d failed: curl %d, HTTP %ld: %.200s\n", which,
                        (int)rc, r.code, r.body.data);
            k->failed++;
        }
        resp_free(&r);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static long rss_kib(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    if (f) fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The sum of joule_http_requests_total over the routes, for one status code. */
static long count_requests(const char *metrics, int code)
{
    char want[32];
    snprintf(want, sizeof want, ",code=\"%d\"} ", code);
    long sum = 0;
    for (const char *p = metrics; (p = strstr(p, "joule_http_requests_total{")); p++) {
        const char *eol = strchr(p, '\n'), *c = strstr(p, want);
        if (c && (!eol || c < eol)) sum += atol(c + strlen(want));
    }
    return sum;
}

static void run_soak(struct real *r, double seconds, struct soak *k, int n)
{
    int64_t until = joule_now_ns() + (int64_t)(seconds * 1e9);
    for (int i = 0; i < n; i++) {
        k[i] = (struct soak){.port = r->port, .idx = i, .until_ns = until};
        pthread_create(&k[i].th, NULL, soak_main, &k[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(k[i].th, NULL);
}

static void test_real_64_clients(void)
{
    const char *env = getenv("JOULE_SERVER_SOAK_S");
    double secs = env && *env ? atof(env) : 5.0;
    if (!(secs > 0)) {
        test_skip("JOULE_SERVER_SOAK_S=0");
        return;
    }
    struct real r;
    struct joule_server_params p = joule_server_default_params();
    p.max_queue = 64; /* every client can wait: none may fail */
    if (real_start(&r, &p) != 0) return;
    enum { N = 64 };
    static struct soak k[N];
    /* warm-up: threads, allocator arenas and buffers reach their working size */
    double warm = secs / 5 < 1.0 ? secs / 5 : 1.0;
    run_soak(&r, warm, k, N);
    long warm_ok = 0;
    for (int i = 0; i < N; i++)
        warm_ok += k[i].ok;
    long rss0 = rss_kib();
#ifdef LIVE_HEAP_CHECK
    size_t heap0 = __sanitizer_get_current_allocated_bytes();
#endif
    run_soak(&r, secs, k, N);
    long rss1 = rss_kib();
#ifdef LIVE_HEAP_CHECK
    size_t heap1 = __sanitizer_get_current_allocated_bytes();
    printf("  live heap %zu -> %zu bytes\n", heap0, heap1);
#endif
    long ok = 0, failed = 0;
    for (int i = 0; i < N; i++)
        ok += k[i].ok, failed += k[i].failed;
    printf("  %d clients, %.1f s: %ld requests ok, %ld failed; RSS %ld -> %ld KiB\n", N, secs, ok,
           failed, rss0, rss1);
    CHECK_EQ_INT(failed, 0);
    CHECK(ok >= N);
    /* flat memory: what is live does not grow with the number of requests served
     * (a leak of 100 bytes per request would show as megabytes). Under a sanitizer the
     * resident size measures its allocator (per-thread caches and quarantine of
     * 128 threads), so there the check is on the live heap, which it counts
     * exactly; the suite's leak check at exit covers the rest. */
#ifdef LIVE_HEAP_CHECK
    CHECK((long)heap1 - (long)heap0 < 1024 * 1024);
#else
    CHECK(rss1 - rss0 < 8 * 1024);
#endif
    struct http_resp m;
    CHECK_EQ_INT(get(r.port, "/metrics", &m), 200);
    CHECK(strstr(m.body.data, "joule_http_errors_total{") == NULL);
    /* every answer a client received is counted, at once: the warm-up's and the soak's */
    CHECK_EQ_INT(count_requests(m.body.data, 200), warm_ok + ok);
    resp_free(&m);
    /* the in-flight gauge drops once a connection thread has finished with its
     * request, which may lag the client's last byte: wait for it (the bound only
     * ends a hang), until only ours remains */
    int idle = 0;
    for (int i = 0; i < 6000 && !idle; i++) {
        get(r.port, "/metrics", &m);
        idle = strstr(m.body.data, "joule_requests_in_flight 1\n") != NULL;
        resp_free(&m);
        if (!idle) joule_sleep_ns(5000000);
    }
    CHECK(idle);
    real_stop(&r);
}

/* ---- the joule serve program: sensors, SIGTERM --------------------------------------- */

static void test_cli_serve_energy_sigterm(void)
{
    char log[1024];
    snprintf(log, sizeof log, "%s/serve.log", test_tmpdir());
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stderr)) _exit(127);
        execl(test_joule_bin(), "joule", "serve", "--model", real_model_dir(), "--port", "0",
              "--threads", "1", "--sensors", "estimate", "--interval-ms", "20", (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0);
    if (pid <= 0) return;
    int port = 0;
    for (int i = 0; i < 1000 && !port; i++) {
        char *txt = NULL;
        size_t n = 0;
        if (joule_read_file(log, 1 << 20, &txt, &n) == JOULE_OK) {
            const char *p = strstr(txt, "on http://127.0.0.1:");
            if (p) port = atoi(p + strlen("on http://127.0.0.1:"));
            free(txt);
        }
        if (!port) joule_sleep_ns(10000000);
    }
    CHECK(port > 0);
    if (port > 0) {
        struct http_resp r;
        CHECK_EQ_INT(post(port, "/v1/completions",
                          "{\"prompt\":\"def f(x):\",\"max_tokens\":32,\"temperature\":0,"
                          "\"ignore_eos\":true}",
                          &r),
                     200);
        cJSON *j = cJSON_Parse(r.body.data);
        const cJSON *e = cJSON_GetObjectItem(j, "energy");
        CHECK(cJSON_IsObject(e));
        /* the estimate (CPU and RAM) and their total, non-negative and consistent */
        double total = joule_json_num(e, "total", -1), sum = 0;
        int n = 0;
        for (const cJSON *v = e ? e->child : NULL; v; v = v->next) {
            CHECK(cJSON_IsNumber(v) && v->valuedouble >= 0);
            if (strcmp(v->string, "total") != 0) sum += v->valuedouble, n++;
        }
        CHECK(n >= 1);
        CHECK(total >= 0);
        CHECK_CLOSE(total, sum, 1e-6, 1e-9);
        cJSON_Delete(j);
        resp_free(&r);
        CHECK_EQ_INT(get(port, "/metrics", &r), 200);
        CHECK(strstr(r.body.data, "joule_energy_joules_total{source=\"total\"}") != NULL);
        resp_free(&r);
    }
    kill(pid, SIGTERM);
    int status = 0;
    CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *txt = NULL;
    size_t n = 0;
    if (joule_read_file(log, 1 << 20, &txt, &n) == JOULE_OK) {
        CHECK(strstr(txt, "SIGTERM: finishing the requests in flight") != NULL);
        CHECK(strstr(txt, "joule serve: stopped") != NULL);
        free(txt);
    }
}

/* ---- the incremental detokenizer ------------------------------------------------ */

static enum joule_status tok_decode(void *user, const int32_t *ids, size_t n, char *out, size_t cap,
                                    size_t *n_bytes)
{
    return joule_tokenizer_decode(user, ids, n, 1, out, cap, n_bytes);
}

/* A prompt of ids that ends inside a character which the first generated token completes:
 * the stream carries the whole character, never a lone continuation byte (invalid UTF-8;
 * found by fuzz_completion_request), and streaming agrees with the one-shot answer. */
static void test_detok_prompt_cut_in_character(void)
{
    struct joule_tokenizer *t = NULL;
    CHECK_OK(joule_tokenizer_load(test_fixture("tokenizers/gpt2/tokenizer.json"), &t));
    if (!t) return;
    const char *text = "x\xF0\x9F\x98\x80y"; /* x, U+1F600, y */
    int32_t ids[16];
    size_t n = 0;
    CHECK_OK(joule_tokenizer_encode(t, text, strlen(text), 0, ids, 16, &n));
    /* find a cut inside the emoji: the prefix decodes to text ending in U+FFFD */
    struct joule_server_backend be = {.user = t, .decode = tok_decode};
    struct joule_strbuf head = {0}, out = {0}, once = {0};
    size_t cut = 0;
    for (size_t k = 1; k < n && !cut; k++) {
        CHECK_OK(joule_server_decode(&be, ids, k, &head));
        if (head.len >= 3 && !memcmp(head.data + head.len - 3, "\xEF\xBF\xBD", 3)) cut = k;
    }
    CHECK(cut > 0); /* GPT-2 splits the emoji's bytes over two tokens */
    struct joule_detok d;
    CHECK_OK(joule_detok_init(&d, &be, ids, cut));
    for (size_t i = cut; i < n; i++)
        CHECK_OK(joule_detok_push(&d, ids[i], &out));
    CHECK_OK(joule_detok_finish(&d, &out));
    joule_detok_free(&d);
    CHECK_EQ_STR(out.data ? out.data : "", "\xF0\x9F\x98\x80y");
    CHECK_OK(joule_detok_init(&d, &be, ids, cut));
    CHECK_OK(joule_detok_add(&d, ids + cut, n - cut));
    CHECK_OK(joule_detok_finish(&d, &once));
    joule_detok_free(&d);
    CHECK_EQ_STR(once.data ? once.data : "", "\xF0\x9F\x98\x80y");
    joule_strbuf_free(&head);
    joule_strbuf_free(&out);
    joule_strbuf_free(&once);
    joule_tokenizer_free(t);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_detok_prompt_cut_in_character);
    RUN(test_basic_routes);
    RUN(test_stream_and_stop);
    RUN(test_study_routes);
    RUN(test_errors);
    RUN(test_queue_full_and_timeouts);
    RUN(test_graceful_shutdown);
    RUN(test_energy_hook);
    RUN(test_real_same_tokens);
    RUN(test_real_study_route);
    RUN(test_real_64_clients);
    RUN(test_cli_serve_energy_sigterm);
    curl_global_cleanup();
    return test_summary();
}
