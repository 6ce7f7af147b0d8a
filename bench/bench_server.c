/* bench_server: what the HTTP server adds to a request, against a direct
 * engine call, and /health requests per second.
 *
 *   bench_server --model DIR [--new-tokens 64] [--reps 10] [--threads N]
 *                [--health-s 3] [--health-clients 8]
 *
 * Overhead: the same greedy generation (prompt as token ids, ignore_eos, so
 * both make exactly --new-tokens tokens) run alternately as a direct
 * joule_engine_generate call and as POST /v1/completions over loopback (one
 * keep-alive libcurl client, the server in this process on its own engine
 * handle). Reported: medians of each and their difference; and, paired
 * within each served request (robust on a busy machine), the client's wall
 * time minus the engine time the server measured inside that request
 * (prompt + decode): everything the server adds (HTTP, parsing, queue hand-off,
 * JSON), as a share of the request's time. On a machine shared with other
 * work, wall time includes the scheduling delays of waking the client and
 * server threads; the CPU time the process spends per request (client and
 * kernel loopback included, so an upper bound) is reported as well. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "joule/engine.h"
#include "joule/server.h"
#include "util/clock.h"

static size_t sink(char *p, size_t sz, size_t n, void *user)
{
    (void)p;
    *(size_t *)user += sz * n;
    return sz * n;
}

struct body {
    char buf[65536];
    size_t len;
};

static size_t keep(char *p, size_t sz, size_t n, void *user)
{
    struct body *b = user;
    size_t k = sz * n;
    if (b->len + k < sizeof b->buf) {
        memcpy(b->buf + b->len, p, k);
        b->len += k;
    }
    return k;
}

/* prompt_ms + decode_ms from the answer's "timings", in ns; -1 if absent. */
static int64_t engine_ns(struct body *b)
{
    b->buf[b->len] = '\0';
    cJSON *j = cJSON_Parse(b->buf);
    const cJSON *t = cJSON_GetObjectItem(j, "timings");
    const cJSON *p = cJSON_GetObjectItem(t, "prompt_ms"), *d = cJSON_GetObjectItem(t, "decode_ms");
    int64_t ns = cJSON_IsNumber(p) && cJSON_IsNumber(d)
                     ? (int64_t)((p->valuedouble + d->valuedouble) * 1e6)
                     : -1;
    cJSON_Delete(j);
    return ns;
}

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double median_ms(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    double m = n % 2 ? (double)v[n / 2] : 0.5 * (double)(v[n / 2 - 1] + v[n / 2]);
    return m * 1e-6;
}

struct health {
    pthread_t th;
    int port;
    int64_t until;
    long n, failed;
};

static void *health_main(void *arg)
{
    struct health *h = arg;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/health", h->port);
    CURL *c = curl_easy_init();
    size_t got = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    while (joule_now_ns() < h->until) {
        long code = 0;
        if (curl_easy_perform(c) == CURLE_OK &&
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200)
            h->n++;
        else
            h->failed++;
    }
    curl_easy_cleanup(c);
    return NULL;
}

static double health_rps(int port, int clients, double secs, long *failed)
{
    struct health *h = calloc((size_t)clients, sizeof *h);
    int64_t t0 = joule_now_ns();
    for (int i = 0; i < clients; i++) {
        h[i].port = port;
        h[i].until = t0 + (int64_t)(secs * 1e9);
        pthread_create(&h[i].th, NULL, health_main, &h[i]);
    }
    long n = 0;
    *failed = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(h[i].th, NULL);
        n += h[i].n;
        *failed += h[i].failed;
    }
    double dt = (double)(joule_now_ns() - t0) * 1e-9;
    free(h);
    return (double)n / dt;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},    {"new-tokens", required_argument, 0, 'n'},
        {"reps", required_argument, 0, 'r'},     {"threads", required_argument, 0, 't'},
        {"health-s", required_argument, 0, 's'}, {"health-clients", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
    };
    const char *model = NULL;
    int new_tokens = 64, reps = 10, threads = 0, health_clients = 8;
    double health_s = 3.0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'n':
            new_tokens = atoi(optarg);
            break;
        case 'r':
            reps = atoi(optarg);
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 's':
            health_s = atof(optarg);
            break;
        case 'c':
            health_clients = atoi(optarg);
            break;
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: bench_server --model DIR [--new-tokens 64] [--reps 10] [--threads N]\n"
                    "                    [--health-s 3] [--health-clients 8]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (!model || new_tokens < 1 || reps < 1 || health_clients < 1) {
        fprintf(stderr, "bench_server: need --model DIR (and positive counts)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct joule_engine_params ep = joule_engine_default_params();
    ep.n_threads = threads;
    struct joule_engine *direct = NULL, *served = NULL;
    if (joule_engine_open(model, &ep, &direct) != JOULE_OK ||
        joule_engine_open(model, &ep, &served) != JOULE_OK) {
        fprintf(stderr, "bench_server: %s\n", joule_last_error());
        return 1;
    }
    const struct joule_engine_info *info = joule_engine_get_info(direct);
    struct joule_server_params sp = joule_server_default_params();
    sp.port = 0;
    struct joule_server *srv = NULL;
    if (joule_server_start(served, &sp, &srv) != JOULE_OK) {
        fprintf(stderr, "bench_server: %s\n", joule_last_error());
        return 1;
    }
    int port = joule_server_port(srv);

    /* a fixed 16-token prompt of ids (no tokenizer cost on either side) */
    int32_t prompt[16];
    char body[512];
    int off = snprintf(body, sizeof body, "{\"prompt\":[");
    for (int i = 0; i < 16; i++) {
        prompt[i] = (int32_t)((i * 37 + 11) % info->n_vocab);
        off += snprintf(body + off, sizeof body - (size_t)off, i ? ",%d" : "%d", (int)prompt[i]);
    }
    snprintf(body + off, sizeof body - (size_t)off,
             "],\"max_tokens\":%d,\"temperature\":0,\"ignore_eos\":true}", new_tokens);
    struct joule_gen_params gp = joule_gen_default_params();
    gp.max_new_tokens = new_tokens;
    gp.ignore_eos = 1;

    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/completions", port);
    CURL *h = curl_easy_init();
    static struct body got;
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);

    int64_t *cd = calloc((size_t)reps, sizeof *cd), *cs = calloc((size_t)reps, sizeof *cs);
    int64_t *tp = calloc((size_t)reps, sizeof *tp), *tpr = calloc((size_t)reps, sizeof *tpr);
    int64_t *td = calloc((size_t)reps, sizeof *td), *ts = calloc((size_t)reps, sizeof *ts);
    int fails = 0;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up of both paths */
        struct joule_gen_result res;
        int64_t c0 = cpu_ns();
        int64_t t0 = joule_now_ns();
        if (joule_engine_generate(direct, prompt, 16, &gp, &res) != JOULE_OK) fails++;
        int64_t t1 = joule_now_ns();
        int64_t c1 = cpu_ns();
        joule_gen_result_free(&res);
        long code = 0;
        got.len = 0;
        CURLcode cc = curl_easy_perform(h);
        int64_t t2 = joule_now_ns();
        int64_t c2 = cpu_ns();
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        int64_t eng = engine_ns(&got);
        if (cc != CURLE_OK || code != 200 || eng < 0) fails++;
        if (r >= 0) {
            td[r] = t1 - t0;
            cd[r] = c1 - c0;
            cs[r] = c2 - c1;
            ts[r] = t2 - t1;
            tp[r] = (t2 - t1) - eng;
            tpr[r] = (int64_t)(1e9 * (double)tp[r] / (double)(t2 - t1)); /* share, 1e-9 units */
        }
    }
    double md = median_ms(td, reps), ms = median_ms(ts, reps);
    /* per-rep differences are noisier on a shared machine; report the medians' difference */
    printf("model %s (%s, %s/%s, %d threads), prompt 16 tokens, %d new tokens, %d reps\n",
           info->model_name, info->arch, info->engine, info->provider, info->n_threads, new_tokens,
           reps);
    printf("direct engine call   median %.3f ms\n", md);
    printf("over HTTP (server)   median %.3f ms\n", ms);
    printf("difference of medians %.3f ms = %.2f %% of the served request\n", ms - md,
           100.0 * (ms - md) / ms);
    double mp = median_ms(tp, reps), mpr = median_ms(tpr, reps) * 1e6 * 1e-9 * 100.0;
    double mcd = median_ms(cd, reps), mcs = median_ms(cs, reps);
    printf("CPU time             direct median %.3f ms, served median %.3f ms: the server "
           "(and client) add %.3f ms = %.2f %%\n",
           mcd, mcs, mcs - mcd, 100.0 * (mcs - mcd) / mcs);
    printf("server overhead      median %.3f ms per request = %.3f %% of the request "
           "(paired: client wall - engine time in the same request)\n",
           mp, mpr);

    long hf = 0;
    double rps1 = health_rps(port, 1, health_s, &hf);
    long hf2 = 0;
    double rpsn = health_rps(port, health_clients, health_s, &hf2);
    printf("/health              %.0f req/s with 1 client, %.0f req/s with %d clients "
           "(keep-alive, %.0f s each)\n",
           rps1, rpsn, health_clients, health_s);
    if (fails || hf || hf2) printf("FAILED requests: %d generation, %ld health\n", fails, hf + hf2);

    free(cd);
    free(cs);
    free(tp);
    free(tpr);
    free(td);
    free(ts);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    joule_server_free(srv);
    joule_engine_free(served);
    joule_engine_free(direct);
    curl_global_cleanup();
    return fails || hf || hf2 ? 1 : 0;
}
