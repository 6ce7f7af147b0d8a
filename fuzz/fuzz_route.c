/* Fuzz target: the server's HTTP path routing (joule_route_match, joule_route_segments), which
 * sees every request path before anything else. The path is the input up to its first NUL
 * (libmicrohttpd gives a decoded C string). A path routed to /huggingface_models/{model}/{engine}
 * or /load_model/{engine}/{model} must split into two non-empty segments without '/', that fit
 * the handlers' 256-byte buffers and rebuild the path exactly; fixed routes match exactly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_split(const char *url, const char *prefix)
{
    char a[256], b[256], again[600];
    if (!joule_route_segments(url, prefix, a, sizeof a, b, sizeof b)) abort();
    if (!a[0] || !b[0] || strchr(a, '/') || strchr(b, '/')) abort();
    int n = snprintf(again, sizeof again, "%s%s/%s", prefix, a, b);
    size_t ul = strlen(url);
    if (n < 0 || (size_t)n >= sizeof again) abort();
    if (strcmp(again, url) &&
        !((size_t)n + 1 == ul && !strncmp(again, url, (size_t)n) && url[ul - 1] == '/'))
        abort(); /* the segments are the path, with at most one trailing '/' dropped */
    /* small buffers: a segment that does not fit is refused, never truncated */
    char sa[4], sb[4];
    if (joule_route_segments(url, prefix, sa, sizeof sa, sb, sizeof sb) !=
        (strlen(a) < sizeof sa && strlen(b) < sizeof sb))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (!url) return 0;
    memcpy(url, data, size);
    url[size] = 0;
    enum joule_route r = joule_route_match(url);
    if ((unsigned)r >= JOULE_ROUTE_COUNT || !joule_route_name(r)) abort();
    switch (r) {
    case JOULE_ROUTE_COMPLETIONS:
        if (strcmp(url, "/v1/completions")) abort();
        break;
    case JOULE_ROUTE_HEALTH:
        if (strcmp(url, "/health")) abort();
        break;
    case JOULE_ROUTE_MODELS:
        if (strcmp(url, "/v1/models")) abort();
        break;
    case JOULE_ROUTE_METRICS:
        if (strcmp(url, "/metrics")) abort();
        break;
    case JOULE_ROUTE_HF_MODELS:
        check_split(url, "/huggingface_models/");
        break;
    case JOULE_ROUTE_LOAD_MODEL:
        check_split(url, "/load_model/");
        break;
    default: {
        char a[256], b[256];
        if (joule_route_segments(url, "/huggingface_models/", a, sizeof a, b, sizeof b) ||
            joule_route_segments(url, "/load_model/", a, sizeof a, b, sizeof b))
            abort(); /* a routable path fell through */
    }
    }
    free(url);
    return 0;
}
