/* A stand-in for `joule serve` in the bench tests: answers GET /health, the
 * study route and /v1/completions over libmicrohttpd, burning a little CPU per
 * request, and can be told to crash.  Invoked like the real one:
 *   fake_serve serve --model DIR --engine E --provider P --host H --port N [--threads N]
 * Environment:
 *   FAKE_SERVE_EVENTS=FILE        append "start", "pid N" (before listening), "health",
 *                                 "request N" lines (one per event)
 *   FAKE_SERVE_CRASH_ENGINE=NAME  when --engine is NAME, exit(3) on request number
 *   FAKE_SERVE_CRASH_AFTER=K      K+1 (default 1) before answering it
 *   FAKE_SERVE_WORK_MS=N          CPU time burnt per request (default 20) */
#define _GNU_SOURCE
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *g_engine = "native";
static const char *g_model = "model";
static const char *g_events;
static int g_crash, g_crash_after = 1, g_work_ms = 20, g_requests;
static volatile sig_atomic_t g_stop;

static void event(const char *fmt, int n)
{
    if (!g_events) return;
    FILE *f = fopen(g_events, "a");
    if (!f) return;
    fprintf(f, fmt, n);
    fputc('\n', f);
    fclose(f);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void burn(int ms)
{
    double end = now_ms() + ms;
    volatile unsigned x = 1;
    while (now_ms() < end)
        for (int i = 0; i < 10000; i++)
            x = x * 1664525u + 1013904223u;
}

struct body {
    char *data;
    size_t len;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    if (!strcmp(method, "GET") && !strcmp(url, "/health")) {
        event("health", 0);
        return reply(c, 200, "{\"status\":\"ok\"}");
    }
    if (strcmp(method, "POST")) return reply(c, 405, "{\"error\":{\"message\":\"method\"}}");
    struct body *b = *con_cls;
    if (!b) {
        b = calloc(1, sizeof *b);
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_size) {
        char *nd = realloc(b->data, b->len + *upload_size + 1);
        if (!nd) return MHD_NO;
        b->data = nd;
        memcpy(b->data + b->len, upload, *upload_size);
        b->len += *upload_size;
        b->data[b->len] = 0;
        *upload_size = 0;
        return MHD_YES;
    }
    int n = ++g_requests;
    event("request %d", n);
    if (g_crash && n > g_crash_after) {
        fprintf(stderr, "fake_serve: crashing on purpose at request %d\n", n);
        fflush(stderr);
        _exit(3);
    }
    double t0 = now_ms();
    burn(g_work_ms);
    double ms = now_ms() - t0;
    char buf[1024];
    char prefix[256];
    snprintf(prefix, sizeof prefix, "/huggingface_models/%s/%s", g_model, g_engine);
    if (!strcmp(url, prefix)) {
        if (!b->data || !strstr(b->data, "\"input_text\""))
            return reply(c, 400, "{\"error\":{\"message\":\"no input_text\"}}");
        snprintf(buf, sizeof buf,
                 "{\"message\":\"OK\",\"method\":\"POST\",\"status-code\":200,"
                 "\"timestamp\":\"now\",\"url\":\"%s\",\"data\":{\"model-type\":\"%s\","
                 "\"input_text\":\"x\",\"prediction\":\"y\"},"
                 "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":%d},"
                 "\"timings\":{\"queue_ms\":0.01,\"prompt_ms\":%.3f,\"decode_ms\":%.3f}}",
                 url, g_model, 128 - 5, ms / 4, ms * 3 / 4);
        return reply(c, 200, buf);
    }
    if (!strcmp(url, "/v1/completions")) {
        int max_tokens = 16;
        const char *p = b->data ? strstr(b->data, "\"max_tokens\":") : NULL;
        if (p) max_tokens = atoi(p + 13);
        snprintf(buf, sizeof buf,
                 "{\"id\":\"c\",\"object\":\"text_completion\",\"choices\":[{\"text\":\"y\","
                 "\"index\":0,\"finish_reason\":\"length\"}],"
                 "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":%d,\"total_tokens\":%d},"
                 "\"timings\":{\"queue_ms\":0.02,\"prompt_ms\":%.3f,\"decode_ms\":%.3f}}",
                 max_tokens, max_tokens + 7, ms / 4, ms * 3 / 4);
        return reply(c, 200, buf);
    }
    return reply(c, 404, "{\"error\":{\"message\":\"no such route\"}}");
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct body *b = *con_cls;
    if (b) free(b->data);
    free(b);
    *con_cls = NULL;
}

static void on_term(int sig)
{
    (void)sig;
    g_stop = 1;
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--engine")) g_engine = argv[i + 1];
        if (!strcmp(argv[i], "--model")) {
            const char *m = argv[i + 1], *s = strrchr(m, '/');
            g_model = s && s[1] ? s + 1 : m;
        }
    }
    g_events = getenv("FAKE_SERVE_EVENTS");
    const char *ce = getenv("FAKE_SERVE_CRASH_ENGINE");
    g_crash = ce && !strcmp(ce, g_engine);
    const char *ca = getenv("FAKE_SERVE_CRASH_AFTER"), *wm = getenv("FAKE_SERVE_WORK_MS");
    if (ca) g_crash_after = atoi(ca);
    if (wm) g_work_ms = atoi(wm);
    if (port <= 0) {
        fprintf(stderr, "fake_serve: --port required\n");
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    /* before listening: once it listens, a GET /health (answered on MHD's thread)
     * may come at once, and its event must follow these */
    event("start", 0);
    event("pid %d", (int)getpid());
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, handle, NULL,
                         MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "fake_serve: cannot listen on port %d\n", port);
        return 1;
    }
    while (!g_stop)
        usleep(20000);
    MHD_stop_daemon(d);
    return 0;
}
