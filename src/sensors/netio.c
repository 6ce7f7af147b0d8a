/* NETIO PowerBOX wattmeter over its JSON HTTP API (GET http://HOST/netio.json, optional
 * basic auth). Outputs[] carries per output: ID, Name, Load (W), Energy (Wh, cumulative,
 * 1 Wh steps), Current (mA), PowerFactor.
 *
 * The box refreshes about once a second and an HTTP request can stall, so a poller thread
 * asks it every netio_interval_ms and the sampler only reads the poller's latest figures.
 * Energy: the 1 Wh counter is far too coarse for per-request figures (3600 J a step), so
 * the energy is the integral of Load held constant between polls (zero-order hold); between
 * two polls the cumulative figure advances at the last Load. A failed poll stops the
 * integral until the box answers again (coverage shows the gap). */
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "sensors/sensors_internal.h"
#include "util/clock.h"

#define NETIO_MAX_OUT 32
#define NETIO_MAX_BODY (1 << 20)

/* A member as a number: JSON number, or a string holding one. NaN otherwise. */
static double num_member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(v)) return v->valuedouble;
    if (cJSON_IsString(v) && v->valuestring) {
        char *end;
        double d = strtod(v->valuestring, &end);
        if (end != v->valuestring && *end == '\0') return d;
    }
    return NAN;
}

enum joule_status netio_parse_json(const char *data, size_t len, struct netio_output *out,
                                   size_t cap, size_t *n)
{
    *n = 0;
    cJSON *root = cJSON_ParseWithLength(data, len);
    if (!root) return joule_errorf(JOULE_ERR_FORMAT, "netio: response is not JSON");
    enum joule_status st = JOULE_OK;
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(root, "Outputs");
    if (!cJSON_IsArray(outs)) {
        st = joule_errorf(JOULE_ERR_FORMAT, "netio: no Outputs array in the response");
        goto done;
    }
    const cJSON *o;
    cJSON_ArrayForEach(o, outs)
    {
        if (!cJSON_IsObject(o)) {
            st = joule_errorf(JOULE_ERR_FORMAT, "netio: an Outputs entry is not an object");
            goto done;
        }
        double id = num_member(o, "ID"), load = num_member(o, "Load");
        if (isnan(id) || id < 0 || id > 1e6 || id != floor(id)) {
            st = joule_errorf(JOULE_ERR_FORMAT, "netio: output without a valid ID");
            goto done;
        }
        if (isnan(load) || !isfinite(load)) {
            st = joule_errorf(JOULE_ERR_FORMAT, "netio: output %d has no numeric Load", (int)id);
            goto done;
        }
        if (*n >= cap) continue;
        struct netio_output *w = &out[(*n)++];
        memset(w, 0, sizeof *w);
        w->id = (int)id;
        w->load_w = load;
        w->energy_wh = num_member(o, "Energy");
        w->current_ma = num_member(o, "Current");
        w->power_factor = num_member(o, "PowerFactor");
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "Name"));
        sensor_fmt(w->name, sizeof w->name, "%s", name ? name : "");
    }
    if (*n == 0) st = joule_errorf(JOULE_ERR_FORMAT, "netio: Outputs is empty");
done:
    cJSON_Delete(root);
    return st;
}

/* ---- HTTP ---------------------------------------------------------------------------- */

struct body {
    char *data;
    size_t len;
    int too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *user)
{
    struct body *b = user;
    size_t n = size * nmemb;
    if (b->len + n > NETIO_MAX_BODY) {
        b->too_big = 1;
        return 0;
    }
    char *p = realloc(b->data, b->len + n + 1);
    if (!p) return 0;
    memcpy(p + b->len, ptr, n);
    b->data = p;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void full_url(const char *url, char *out, size_t cap)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *slash = strchr(host, '/');
    const char *scheme = strstr(url, "://") ? "" : "http://";
    if (!slash)
        sensor_fmt(out, cap, "%s%s/netio.json", scheme, url);
    else if (slash[1] == '\0')
        sensor_fmt(out, cap, "%s%snetio.json", scheme, url);
    else
        sensor_fmt(out, cap, "%s%s", scheme, url);
}

enum joule_status netio_fetch(const char *url, const char *user, const char *password,
                              int timeout_ms, struct netio_output *outs, size_t cap, size_t *n)
{
    *n = 0;
    pthread_once(&g_curl_once, curl_init_once);
    CURL *c = curl_easy_init();
    if (!c) return joule_errorf(JOULE_ERR_NOMEM, "netio: curl_easy_init failed");
    char u[600];
    full_url(url, u, sizeof u);
    struct body b = {0};
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (user && *user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, password ? password : "");
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    enum joule_status st;
    if (rc == CURLE_OPERATION_TIMEDOUT)
        st = joule_errorf(JOULE_ERR_TIMEOUT, "netio: %s: no answer within %d ms", u, timeout_ms);
    else if (b.too_big)
        st = joule_errorf(JOULE_ERR_LIMIT, "netio: %s: response larger than %d bytes", u,
                          NETIO_MAX_BODY);
    else if (rc != CURLE_OK)
        st = joule_errorf(JOULE_ERR_IO, "netio: %s: %s", u, curl_easy_strerror(rc));
    else if (code == 401 || code == 403)
        st = joule_errorf(JOULE_ERR_PERMISSION, "netio: %s: HTTP %ld (check user and password)", u,
                          code);
    else if (code != 200)
        st = joule_errorf(JOULE_ERR_IO, "netio: %s: HTTP %ld", u, code);
    else
        st = netio_parse_json(b.data ? b.data : "", b.len, outs, cap, n);
    free(b.data);
    return st;
}

/* ---- poller ------------------------------------------------------------------------------ */

struct netio_track {
    int id;
    int ok;
    double load_w, current_ma, power_factor, energy_wh;
    double cum_j;
    int64_t t_ns; /* time of the last good poll; 0 = none since the last failure */
};

struct netio_poller {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, started;
    char url[512], user[128], password[128];
    int timeout_ms, interval_ms;
    struct netio_track track[NETIO_MAX_OUT];
    size_t ntrack;
    enum joule_sensor_state state;
    char reason[256];
};

static void poll_once(struct netio_poller *p)
{
    struct netio_output outs[NETIO_MAX_OUT];
    size_t n = 0;
    enum joule_status st =
        netio_fetch(p->url, p->user, p->password, p->timeout_ms, outs, NETIO_MAX_OUT, &n);
    int64_t now = joule_now_ns();
    pthread_mutex_lock(&p->mu);
    if (st != JOULE_OK) {
        p->state = st == JOULE_ERR_PERMISSION ? JOULE_SENSOR_NO_PERMISSION : JOULE_SENSOR_ERROR;
        sensor_fmt(p->reason, sizeof p->reason, "%s", joule_last_error());
        for (size_t i = 0; i < p->ntrack; i++) {
            p->track[i].ok = 0;
            p->track[i].t_ns = 0;
        }
    } else {
        p->state = JOULE_SENSOR_OK;
        p->reason[0] = '\0';
        for (size_t i = 0; i < p->ntrack; i++) {
            struct netio_track *t = &p->track[i];
            const struct netio_output *o = NULL;
            for (size_t k = 0; k < n; k++)
                if (outs[k].id == t->id) o = &outs[k];
            if (!o) {
                t->ok = 0;
                t->t_ns = 0;
                continue;
            }
            if (t->t_ns) t->cum_j += t->load_w * (double)(now - t->t_ns) * 1e-9;
            t->t_ns = now;
            t->ok = 1;
            t->load_w = o->load_w;
            t->current_ma = o->current_ma;
            t->power_factor = o->power_factor;
            t->energy_wh = o->energy_wh;
        }
    }
    pthread_mutex_unlock(&p->mu);
}

static void *poller_main(void *arg)
{
    struct netio_poller *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (int64_t)p->interval_ms * 1000000LL;
        ts.tv_sec += ns / 1000000000LL;
        ts.tv_nsec = ns % 1000000000LL;
        while (!p->stop && pthread_cond_timedwait(&p->cv, &p->mu, &ts) != ETIMEDOUT) {
        }
        if (p->stop) break;
        pthread_mutex_unlock(&p->mu);
        poll_once(p);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static enum joule_sensor_state netio_read(struct sensor_source *src, const struct sensor_ctx *ctx,
                                          struct sensor_raw *raw, char *reason, size_t cap)
{
    struct netio_poller *p = src->set->netio;
    pthread_mutex_lock(&p->mu);
    struct netio_track *t = &p->track[src->index];
    enum joule_sensor_state st = JOULE_SENSOR_OK;
    if (!t->ok) {
        st = p->state == JOULE_SENSOR_OK ? JOULE_SENSOR_ERROR : p->state;
        sensor_fmt(reason, cap, "%s",
                   p->state == JOULE_SENSOR_OK ? "output missing from the answer" : p->reason);
    } else {
        raw->form = SENSOR_E_CUMULATIVE;
        int64_t dt = ctx->t_ns - t->t_ns;
        raw->cum_j = t->cum_j + (dt > 0 ? t->load_w * (double)dt * 1e-9 : 0.0);
        raw->power_w = t->load_w;
        raw->current_ma = t->current_ma;
        raw->power_factor = t->power_factor;
    }
    pthread_mutex_unlock(&p->mu);
    return st;
}

void sensor_netio_shutdown(struct joule_sensor_set *set)
{
    struct netio_poller *p = set->netio;
    if (!p) return;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->th, NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
    set->netio = NULL;
}

void sensor_netio_probe(struct joule_sensor_set *set)
{
    const struct joule_sensor_params *prm = &set->params;
    char name[32];
    if (prm->netio_output > 0)
        sensor_fmt(name, sizeof name, "netio:%d", prm->netio_output);
    else
        sensor_fmt(name, sizeof name, "netio");
    if (!set->netio_url[0]) {
        struct sensor_source *s = sensor_set_add(set, JOULE_SENSOR_KIND_NETIO, name, ROLE_NONE);
        if (s)
            sensor_source_fail(s, JOULE_SENSOR_ABSENT,
                               "no wattmeter URL (set --netio-url or JOULE_NETIO_URL)");
        return;
    }
    struct netio_output outs[NETIO_MAX_OUT];
    size_t n = 0;
    enum joule_status st = netio_fetch(set->netio_url, set->netio_user, set->netio_password,
                                       prm->netio_timeout_ms, outs, NETIO_MAX_OUT, &n);
    if (st != JOULE_OK) {
        struct sensor_source *s = sensor_set_add(set, JOULE_SENSOR_KIND_NETIO, name, ROLE_NONE);
        if (s)
            sensor_source_fail(
                s, st == JOULE_ERR_PERMISSION ? JOULE_SENSOR_NO_PERMISSION : JOULE_SENSOR_ERROR,
                "%s", joule_last_error());
        return;
    }
    struct netio_poller *p = calloc(1, sizeof *p);
    if (!p) return;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    sensor_fmt(p->url, sizeof p->url, "%s", set->netio_url);
    sensor_fmt(p->user, sizeof p->user, "%s", set->netio_user);
    sensor_fmt(p->password, sizeof p->password, "%s", set->netio_password);
    p->timeout_ms = prm->netio_timeout_ms;
    p->interval_ms = prm->netio_interval_ms;
    set->netio = p;
    int64_t now = joule_now_ns();
    int found = 0;
    for (size_t k = 0; k < n && p->ntrack < NETIO_MAX_OUT; k++) {
        if (prm->netio_output > 0 && outs[k].id != prm->netio_output) continue;
        struct netio_track *t = &p->track[p->ntrack];
        t->id = outs[k].id;
        t->ok = 1;
        t->t_ns = now;
        t->load_w = outs[k].load_w;
        t->current_ma = outs[k].current_ma;
        t->power_factor = outs[k].power_factor;
        t->energy_wh = outs[k].energy_wh;
        sensor_fmt(name, sizeof name, "netio:%d", outs[k].id);
        struct sensor_source *s = sensor_set_add(set, JOULE_SENSOR_KIND_NETIO, name, ROLE_WALL);
        if (!s) break;
        s->index = (int)p->ntrack++;
        s->read = netio_read;
        s->info.has_energy = 1;
        sensor_fmt(s->detail, sizeof s->detail, "%.180s output %d \"%.40s\"", set->netio_url,
                   outs[k].id, outs[k].name);
        found++;
    }
    if (!found) {
        sensor_fmt(name, sizeof name, "netio:%d", prm->netio_output);
        struct sensor_source *s = sensor_set_add(set, JOULE_SENSOR_KIND_NETIO, name, ROLE_NONE);
        if (s)
            sensor_source_fail(s, JOULE_SENSOR_ABSENT, "the box at %.180s has no output %d",
                               set->netio_url, prm->netio_output);
        return;
    }
    if (pthread_create(&p->th, NULL, poller_main, p) == 0) p->started = 1;
}
