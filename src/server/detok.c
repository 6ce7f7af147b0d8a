/* Incremental detokenization for streaming, and stop strings. */
#include <stdlib.h>
#include <string.h>

#include "server/server_impl.h"

/* Prompt tokens kept as left context of the window (as vLLM and TGI do). */
#define DETOK_CONTEXT 5

static enum joule_status grow_ids(struct joule_detok *d, size_t need)
{
    if (need <= d->cap) return JOULE_OK;
    size_t cap = d->cap ? d->cap * 2 : 64;
    while (cap < need)
        cap *= 2;
    int32_t *p = realloc(d->ids, cap * sizeof *p);
    if (!p) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    d->ids = p;
    d->cap = cap;
    return JOULE_OK;
}

enum joule_status joule_detok_init(struct joule_detok *d, const struct joule_server_backend *be,
                                   const int32_t *prompt, size_t n_prompt)
{
    memset(d, 0, sizeof *d);
    d->be = be;
    size_t k = n_prompt < DETOK_CONTEXT ? n_prompt : DETOK_CONTEXT;
    enum joule_status s = grow_ids(d, k + 64);
    if (s != JOULE_OK) return s;
    if (k) memcpy(d->ids, prompt + n_prompt - k, k * sizeof *prompt);
    d->n = d->read = k;
    return JOULE_OK;
}

void joule_detok_free(struct joule_detok *d)
{
    free(d->ids);
    joule_strbuf_free(&d->a);
    joule_strbuf_free(&d->b);
    memset(d, 0, sizeof *d);
}

enum joule_status joule_server_decode(const struct joule_server_backend *be, const int32_t *ids,
                                      size_t n, struct joule_strbuf *b)
{
    joule_strbuf_reset(b);
    if (n == 0) return JOULE_OK;
    if (b->cap < 64) {
        joule_strbuf_append(b, "", 0); /* make sure a buffer exists */
        if (b->oom) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    }
    for (int tries = 0; tries < 2; tries++) {
        size_t need = 0;
        enum joule_status s = be->decode(be->user, ids, n, b->data, b->cap, &need);
        if (s != JOULE_OK) return s;
        if (need < b->cap) {
            b->len = need;
            b->data[need] = '\0';
            return JOULE_OK;
        }
        char *p = realloc(b->data, need + 1);
        if (!p) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
        b->data = p;
        b->cap = need + 1;
    }
    return joule_errorf(JOULE_ERR_INTERNAL, "decoded size changed between calls");
}

static enum joule_status decode_into(struct joule_detok *d, size_t from, size_t to,
                                     struct joule_strbuf *b)
{
    return joule_server_decode(d->be, d->ids + from, to > from ? to - from : 0, b);
}

static int ends_incomplete(const struct joule_strbuf *b)
{
    return b->len >= 3 && !memcmp(b->data + b->len - 3, "\xEF\xBF\xBD", 3);
}

static enum joule_status emit(struct joule_detok *d, struct joule_strbuf *out, int final)
{
    enum joule_status s = decode_into(d, d->prefix, d->read, &d->a);
    if (s == JOULE_OK) s = decode_into(d, d->prefix, d->n, &d->b);
    if (s != JOULE_OK) return s;
    /* The new text starts after the window's old text, which is normally a prefix of it. When
     * the old text ends in an incomplete character that the new tokens complete (a prompt of
     * ids cut inside a character), the bytes differ from that character on: emit the whole
     * character, not the bytes past the old length (a lone continuation byte: invalid UTF-8). */
    size_t k = d->a.len;
    if (ends_incomplete(&d->a) && (d->b.len < k || memcmp(d->a.data, d->b.data, k))) {
        size_t m = d->b.len < k ? d->b.len : k;
        for (k = 0; k < m && d->a.data[k] == d->b.data[k]; k++)
            ;
        while (k > 0 && ((unsigned char)d->b.data[k] & 0xC0) == 0x80)
            k--;
    }
    if (d->b.len > k && (final || !ends_incomplete(&d->b))) {
        joule_strbuf_append(out, d->b.data + k, d->b.len - k);
        d->prefix = d->read;
        d->read = d->n;
        /* drop ids left of the window so the buffer stays small */
        if (d->prefix >= 64) {
            memmove(d->ids, d->ids + d->prefix, (d->n - d->prefix) * sizeof *d->ids);
            d->n -= d->prefix;
            d->read -= d->prefix;
            d->prefix = 0;
        }
    }
    return JOULE_OK;
}

enum joule_status joule_detok_add(struct joule_detok *d, const int32_t *ids, size_t n)
{
    enum joule_status s = grow_ids(d, d->n + n);
    if (s != JOULE_OK) return s;
    if (n) memcpy(d->ids + d->n, ids, n * sizeof *ids);
    d->n += n;
    return JOULE_OK;
}

enum joule_status joule_detok_push(struct joule_detok *d, int32_t tok, struct joule_strbuf *out)
{
    enum joule_status s = joule_detok_add(d, &tok, 1);
    return s != JOULE_OK ? s : emit(d, out, 0);
}

enum joule_status joule_detok_finish(struct joule_detok *d, struct joule_strbuf *out)
{
    if (d->read >= d->n) return JOULE_OK;
    return emit(d, out, 1);
}

long joule_stop_find(const struct joule_completion_request *r, const char *text, size_t len,
                     size_t from)
{
    long best = -1;
    if (from > len) return -1;
    for (size_t i = 0; i < r->n_stop; i++) {
        const char *p = memmem(text + from, len - from, r->stop[i], r->stop_len[i]);
        if (p && (best < 0 || p - text < best)) best = (long)(p - text);
    }
    return best;
}

size_t joule_stop_holdback(const struct joule_completion_request *r, const char *text, size_t len)
{
    size_t best = 0;
    for (size_t i = 0; i < r->n_stop; i++) {
        size_t k = r->stop_len[i] - 1;
        if (k > len) k = len;
        for (; k > best; k--)
            if (!memcmp(text + len - k, r->stop[i], k)) {
                best = k;
                break;
            }
    }
    return best;
}
