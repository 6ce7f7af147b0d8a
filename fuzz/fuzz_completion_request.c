/* Fuzz target: the HTTP request bodies of the server (/v1/completions and the
 * study's {"input_text": ...}). Any input must parse into a request that keeps
 * the invariants below, or give a clean 400/422 with a message; the JSON the
 * server writes back for any parsed text must be valid JSON. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The escaped form of any bytes must parse back as one JSON string. */
static void check_escape(const char *s, size_t n)
{
    struct joule_sbuf b = {0};
    joule_sbuf_json_str(&b, s, n);
    if (b.oom) {
        joule_sbuf_free(&b);
        return;
    }
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    if (!cJSON_IsString(j)) abort();
    cJSON_Delete(j);
    joule_sbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    struct joule_completion_request r;
    struct joule_server_error e;
    memset(&e, 0, sizeof e);
    if (joule_completion_request_parse(body, size, &r, &e) == JOULE_OK) {
        if (!r.prompt == !r.prompt_ids) abort(); /* exactly one kind of prompt */
        if (r.prompt && (r.prompt_len == 0 || strlen(r.prompt) != r.prompt_len)) abort();
        if (r.prompt_ids && r.n_prompt_ids == 0) abort();
        for (size_t i = 0; i < r.n_prompt_ids; i++)
            if (r.prompt_ids[i] < 0) abort();
        if (r.max_tokens < 1 || r.temperature < 0 || r.temperature > 2) abort();
        if (!(r.top_p > 0 && r.top_p <= 1) || r.top_k < 0) abort();
        if (r.n_stop > JOULE_SERVER_MAX_STOP) abort();
        for (size_t i = 0; i < r.n_stop; i++)
            if (r.stop_len[i] == 0 || strlen(r.stop[i]) != r.stop_len[i]) abort();
        if (r.prompt) {
            check_escape(r.prompt, r.prompt_len);
            /* the stop-string scans over the prompt text as if it were output */
            long at = joule_stop_find(&r, r.prompt, r.prompt_len, 0);
            if (at >= (long)r.prompt_len) abort();
            if (joule_stop_holdback(&r, r.prompt, r.prompt_len) > r.prompt_len) abort();
        }
        joule_completion_request_free(&r);
    } else {
        if (e.http != 400 || !e.message[0] || !e.type) abort();
        if (r.prompt || r.prompt_ids || r.n_stop) abort(); /* nothing left allocated */
    }

    char *text = NULL;
    size_t len = 0;
    if (joule_study_request_parse(body, size, &text, &len, &e) == JOULE_OK) {
        if (!text || len == 0 || strlen(text) != len) abort();
        check_escape(text, len);
        free(text);
    } else if ((e.http != 400 && e.http != 422) || text) {
        abort();
    }
    /* and the raw bytes themselves */
    check_escape(body, size);
    return 0;
}
