/* Fuzz target: the HTTP request bodies of the server (/v1/completions and the
 * study's {"input_text": ...}). Any input must parse into a request that keeps
 * the invariants below, or give a clean 400/422 with a message; the JSON the
 * server writes back for any parsed text must be valid JSON.
 *
 * A parsed request is then streamed as the server streams an answer: its prompt
 * (the text's byte-level tokens, or the id list mapped onto the vocabulary) is
 * split into a prompt part and "generated" tokens that go one by one through the
 * incremental detokenizer (joule_detok_*), with the stop strings scanned over the
 * text streamed so far. The streamed text must be valid UTF-8 and equal the non-stream
 * answer of the same tokens; with the lossless byte-level tokenizer of tokenizers.h and a
 * split at a character boundary it must be exactly the decoded text of the generated
 * tokens: nothing lost, nothing repeated. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "joule/tokenizer.h"
#include "server/server_impl.h"
#include "tokenizer/unicode.h"
#include "tokenizers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The escaped form of any bytes must parse back as one JSON string. */
static void check_escape(const char *s, size_t n)
{
    struct joule_strbuf b = {0};
    joule_strbuf_json_str(&b, s, n);
    if (b.oom) {
        joule_strbuf_free(&b);
        return;
    }
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    if (!cJSON_IsString(j)) abort();
    cJSON_Delete(j);
    joule_strbuf_free(&b);
}

static struct joule_tokenizer *g_tok;

static enum joule_status be_decode(void *user, const int32_t *ids, size_t n, char *out, size_t cap,
                                   size_t *n_bytes)
{
    return joule_tokenizer_decode(user, ids, n, 1, out, cap, n_bytes);
}

static int same(const struct joule_strbuf *a, const struct joule_strbuf *b)
{
    return a->len == b->len && (!a->len || !memcmp(a->data, b->data, a->len));
}

static void stream(const struct joule_completion_request *r)
{
    if (!g_tok) {
        char *j = bytelevel_json();
        if (!j || joule_tokenizer_load_from_memory(j, strlen(j), &g_tok) != JOULE_OK) abort();
        free(j);
    }
    size_t n = 0;
    int32_t *ids = NULL;
    if (r->prompt) {
        if (joule_tokenizer_encode(g_tok, r->prompt, r->prompt_len, 0, NULL, 0, &n) != JOULE_OK)
            abort();
        ids = malloc((n ? n : 1) * sizeof *ids);
        if (!ids) return;
        if (joule_tokenizer_encode(g_tok, r->prompt, r->prompt_len, 0, ids, n, &n) != JOULE_OK)
            abort();
    } else {
        n = r->n_prompt_ids;
        ids = malloc(n * sizeof *ids);
        if (!ids) return;
        for (size_t i = 0; i < n; i++) { /* ids 0..260 and the special 300 exist */
            ids[i] = (int32_t)((size_t)r->prompt_ids[i] % 262);
            if (ids[i] == 261) ids[i] = 300;
        }
    }
    struct joule_server_backend be = {.user = g_tok, .decode = be_decode};
    size_t np = n / 3; /* a third as the prompt, the rest "generated" */
    struct joule_detok d;
    struct joule_strbuf streamed = {0}, whole = {0};
    if (joule_detok_init(&d, &be, ids, np) != JOULE_OK) abort();
    for (size_t i = np; i < n; i++) {
        size_t before = streamed.len;
        if (joule_detok_push(&d, ids[i], &streamed) != JOULE_OK) abort();
        if (streamed.len < before) abort();
        if (r->n_stop && streamed.len) {
            size_t longest = 0;
            for (size_t k = 0; k < r->n_stop; k++)
                if (r->stop_len[k] > longest) longest = r->stop_len[k];
            size_t from = before > longest ? before - longest + 1 : 0;
            long at = joule_stop_find(r, streamed.data, streamed.len, from);
            if (at >= (long)streamed.len) abort();
            if (joule_stop_holdback(r, streamed.data, streamed.len) > streamed.len) abort();
        }
    }
    if (joule_detok_finish(&d, &streamed) != JOULE_OK) abort();
    joule_detok_free(&d);
    /* the same tokens without streaming (how the server builds a non-stream answer) */
    struct joule_strbuf once = {0}, head = {0}, all = {0};
    if (joule_detok_init(&d, &be, ids, np) != JOULE_OK) abort();
    if (joule_detok_add(&d, ids + np, n - np) != JOULE_OK) abort();
    if (joule_detok_finish(&d, &once) != JOULE_OK) abort();
    joule_detok_free(&d);
    if (joule_server_decode(&be, ids + np, n - np, &whole) != JOULE_OK ||
        joule_server_decode(&be, ids, np, &head) != JOULE_OK ||
        joule_server_decode(&be, ids, n, &all) != JOULE_OK)
        abort();
    if (!streamed.oom && !once.oom && !whole.oom && !head.oom && !all.oom) {
        /* always valid UTF-8 (it goes into JSON and SSE as is) */
        if (utf8_valid_prefix(streamed.data ? streamed.data : "", streamed.len) != streamed.len)
            abort();
        /* a streaming client and a non-streaming one get the same text */
        if (!same(&streamed, &once)) abort();
        /* where prompt and completion split at a character boundary, the stream is exactly the
         * completion's text: nothing lost, nothing repeated */
        if (head.len + whole.len == all.len &&
            (!head.len || !memcmp(all.data, head.data, head.len)) &&
            (!whole.len || !memcmp(all.data + head.len, whole.data, whole.len)) &&
            !same(&streamed, &whole))
            abort();
    }
    joule_strbuf_free(&once);
    joule_strbuf_free(&head);
    joule_strbuf_free(&all);
    joule_strbuf_free(&streamed);
    joule_strbuf_free(&whole);
    free(ids);
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
        if (!r.prompt_ids != (r.n_prompt_ids == 0)) abort(); /* ids and their count go together */
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
        stream(&r);
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
