/* Decoding: ids -> token strings -> decoders -> text (HF TokenizerImpl::decode). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

static enum joule_status nomem(void)
{
    return joule_errorf(JOULE_ERR_NOMEM, "out of memory while decoding");
}

/* A list of token strings: spans into buf (first flag unused). */
struct toks {
    struct sbuf buf;
    struct spans s;
};

static int tok_add(struct toks *t, const char *p, size_t n)
{
    size_t off = t->buf.n;
    return sbuf_put(&t->buf, p, n) || spans_put(&t->s, off, n, 0);
}

static void toks_free(struct toks *t)
{
    free(t->buf.p);
    free(t->s.p);
}

/* Append bytes as UTF-8, replacing invalid sequences like String::from_utf8_lossy. */
static int put_lossy(struct sbuf *out, const char *p, size_t n)
{
    char *c;
    size_t cl;
    if (utf8_sanitize(p, n, &c, &cl) != JOULE_OK) return -1;
    int r = sbuf_put(out, c, cl);
    free(c);
    return r;
}

static enum joule_status dec_apply(const struct dec *d, struct toks *in, struct toks *out);

static enum joule_status dec_apply(const struct dec *d, struct toks *in, struct toks *out)
{
    const char *B = in->buf.p ? in->buf.p : "";
    switch (d->type) {
    case DEC_SEQ: {
        struct toks cur = *in, nxt = {0};
        *in = (struct toks){0};
        enum joule_status s = JOULE_OK;
        for (size_t i = 0; i < d->nkids && s == JOULE_OK; i++) {
            nxt.buf.n = 0;
            nxt.s.n = 0;
            s = dec_apply(&d->kids[i], &cur, &nxt);
            struct toks t = cur;
            cur = nxt;
            nxt = t;
        }
        toks_free(&nxt);
        if (s == JOULE_OK) {
            toks_free(out);
            *out = cur;
        } else {
            toks_free(&cur);
        }
        return s;
    }
    case DEC_BYTELEVEL: {
        struct sbuf bytes = {0};
        for (size_t i = 0; i < in->s.n; i++) {
            const char *p = B + in->s.p[i].off;
            size_t n = in->s.p[i].len, start = bytes.n;
            int ok = 1;
            for (size_t k = 0; k < n && ok;) {
                uint32_t cp;
                k += (size_t)utf8_decode((const unsigned char *)p + k, n - k, &cp);
                int b = tk_cp_to_byte(cp);
                if (b < 0) {
                    ok = 0;
                } else {
                    char c = (char)b;
                    if (sbuf_put(&bytes, &c, 1)) goto oom_b;
                }
            }
            if (!ok) { /* a character outside the byte map: the token's own bytes */
                bytes.n = start;
                if (sbuf_put(&bytes, p, n)) goto oom_b;
            }
        }
        {
            size_t off = out->buf.n;
            if (put_lossy(&out->buf, bytes.p ? bytes.p : "", bytes.n) ||
                spans_put(&out->s, off, out->buf.n - off, 0))
                goto oom_b;
        }
        free(bytes.p);
        return JOULE_OK;
    oom_b:
        free(bytes.p);
        return nomem();
    }
    case DEC_REPLACE:
        for (size_t i = 0; i < in->s.n; i++) {
            const char *p = B + in->s.p[i].off;
            size_t n = in->s.p[i].len, off = out->buf.n;
            size_t pos = 0;
            while (pos < n) {
                size_t ms, me;
                if (d->re) {
                    int r = tk_regex_find(d->re, p, n, pos, &ms, &me);
                    if (r < 0) return (enum joule_status)r;
                    if (!r) break;
                    if (me == ms) {
                        if (ms >= n) break;
                        size_t l = (size_t)utf8_len((unsigned char)p[ms]);
                        if (sbuf_put(&out->buf, p + pos, ms + l - pos)) return nomem();
                        pos = ms + l;
                        continue;
                    }
                } else {
                    const char *f = memmem(p + pos, n - pos, d->a, d->alen);
                    if (!f) break;
                    ms = (size_t)(f - p);
                    me = ms + d->alen;
                }
                if (sbuf_put(&out->buf, p + pos, ms - pos) || sbuf_put(&out->buf, d->b, d->blen))
                    return nomem();
                pos = me;
            }
            if (sbuf_put(&out->buf, p + pos, n - pos) ||
                spans_put(&out->s, off, out->buf.n - off, 0))
                return nomem();
        }
        return JOULE_OK;
    case DEC_BYTEFALLBACK: {
        struct sbuf pend = {0};
        for (size_t i = 0; i <= in->s.n; i++) {
            const char *p = i < in->s.n ? B + in->s.p[i].off : NULL;
            size_t n = i < in->s.n ? in->s.p[i].len : 0;
            int byte = -1;
            if (p && n == 6 && !memcmp(p, "<0x", 3) && p[5] == '>') {
                /* u8::from_str_radix(&token[3..5], 16), which also takes a leading '+' */
                int v = 0, okd = 1;
                for (int k = 3; k < 5; k++) {
                    char c = p[k];
                    int dv = c >= '0' && c <= '9'   ? c - '0'
                             : c >= 'a' && c <= 'f' ? c - 'a' + 10
                             : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                    : -1;
                    if (dv < 0 && !(k == 3 && c == '+')) okd = 0;
                    if (dv >= 0) v = v * 16 + dv;
                }
                if (okd) byte = v;
            }
            if (byte >= 0) {
                char c = (char)byte;
                if (sbuf_put(&pend, &c, 1)) goto oom_f;
                continue;
            }
            if (pend.n) {
                if (utf8_valid_prefix(pend.p, pend.n) == pend.n) {
                    if (tok_add(out, pend.p, pend.n)) goto oom_f;
                } else {
                    for (size_t k = 0; k < pend.n; k++)
                        if (tok_add(out, "\xEF\xBF\xBD", 3)) goto oom_f;
                }
                pend.n = 0;
            }
            if (p && tok_add(out, p, n)) goto oom_f;
        }
        free(pend.p);
        return JOULE_OK;
    oom_f:
        free(pend.p);
        return nomem();
    }
    case DEC_FUSE: {
        size_t off = out->buf.n;
        for (size_t i = 0; i < in->s.n; i++)
            if (sbuf_put(&out->buf, B + in->s.p[i].off, in->s.p[i].len)) return nomem();
        if (spans_put(&out->s, off, out->buf.n - off, 0)) return nomem();
        return JOULE_OK;
    }
    case DEC_STRIP:
        for (size_t i = 0; i < in->s.n; i++) {
            const unsigned char *p = (const unsigned char *)B + in->s.p[i].off;
            size_t n = in->s.p[i].len, a = 0, b = n;
            for (int k = 0; k < d->start && a < b; k++) {
                uint32_t cp;
                int l = utf8_decode(p + a, b - a, &cp);
                if (cp != d->cp) break;
                a += (size_t)l;
            }
            for (int k = 0; k < d->stop && b > a; k++) {
                size_t q = b - 1;
                while (q > a && (p[q] & 0xC0) == 0x80)
                    q--;
                uint32_t cp;
                utf8_decode(p + q, b - q, &cp);
                if (cp != d->cp) break;
                b = q;
            }
            if (tok_add(out, (const char *)p + a, b - a)) return nomem();
        }
        return JOULE_OK;
    case DEC_METASPACE:
        for (size_t i = 0; i < in->s.n; i++) {
            const unsigned char *p = (const unsigned char *)B + in->s.p[i].off;
            size_t n = in->s.p[i].len, off = out->buf.n;
            for (size_t k = 0; k < n;) {
                uint32_t cp;
                int l = utf8_decode(p + k, n - k, &cp);
                if (cp == d->cp) {
                    if (!(i == 0 && d->prepend != PREPEND_NEVER) && sbuf_put(&out->buf, " ", 1))
                        return nomem();
                } else if (sbuf_put(&out->buf, p + k, (size_t)l)) {
                    return nomem();
                }
                k += (size_t)l;
            }
            if (spans_put(&out->s, off, out->buf.n - off, 0)) return nomem();
        }
        return JOULE_OK;
    }
    return joule_errorf(JOULE_ERR_INTERNAL, "unknown decoder");
}

enum joule_status joule_tokenizer_decode(const struct joule_tokenizer *t, const int32_t *ids,
                                         size_t n, int skip_special, char *out, size_t cap,
                                         size_t *n_bytes)
{
    if (!t || (!ids && n) || !n_bytes || (!out && cap))
        return joule_errorf(JOULE_ERR_INVALID_ARG, "null argument");
    *n_bytes = 0;
    struct toks in = {0}, res = {0};
    enum joule_status s = JOULE_OK;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= t->n_ids) {
            s = joule_errorf(JOULE_ERR_INVALID_ARG, "token id %d is outside the vocabulary (%zu)",
                             (int)id, t->n_ids);
            goto done;
        }
        int32_t ai = t->added_of_id[id];
        if (ai >= 0) {
            const struct added_token *a = &t->added[ai];
            if (skip_special && a->special) continue;
            /* a normalized added token decodes from its normalized form, so that
             * the decoder can undo the normalizer (HF's normalized_cache) */
            if (a->norm ? tok_add(&in, a->norm, a->norm_len) : tok_add(&in, a->content, a->len))
                goto oom;
        } else if (t->id_len[id] != UINT32_MAX) {
            if (tok_add(&in, t->pool + t->id_off[id], t->id_len[id])) goto oom;
        } else {
            s = joule_errorf(JOULE_ERR_INVALID_ARG, "token id %d has no token", (int)id);
            goto done;
        }
    }
    struct sbuf text = {0};
    if (t->dec) {
        s = dec_apply(t->dec, &in, &res);
        if (s != JOULE_OK) goto done;
        for (size_t i = 0; i < res.s.n; i++)
            if (sbuf_put(&text, (res.buf.p ? res.buf.p : "") + res.s.p[i].off, res.s.p[i].len)) {
                free(text.p);
                goto oom;
            }
    } else {
        for (size_t i = 0; i < in.s.n; i++)
            if ((i && sbuf_put(&text, " ", 1)) ||
                sbuf_put(&text, (in.buf.p ? in.buf.p : "") + in.s.p[i].off, in.s.p[i].len)) {
                free(text.p);
                goto oom;
            }
    }
    *n_bytes = text.n;
    if (cap) {
        size_t c = text.n < cap ? text.n : cap;
        if (c) memcpy(out, text.p, c);
        if (text.n < cap) out[text.n] = 0;
    }
    free(text.p);
    goto done;
oom:
    s = nomem();
done:
    toks_free(&in);
    toks_free(&res);
    return s;
}

/* ---- streaming ---------------------------------------------------------------- */

struct joule_tokenizer_stream {
    const struct joule_tokenizer *t;
    int skip_special;
    struct ibuf ids;     /* context window: ids from which `prefix` was decoded, plus new ones */
    size_t prefix_index; /* ids[0..prefix_index) are context only */
    char *prefix;        /* decode(ids[0..n)) as of the last emitted piece */
    size_t prefix_len;
    char *text; /* the last piece returned */
};

enum joule_status joule_tokenizer_stream_init(const struct joule_tokenizer *t, int skip_special,
                                              struct joule_tokenizer_stream **out)
{
    if (!t || !out) return joule_errorf(JOULE_ERR_INVALID_ARG, "null argument");
    *out = calloc(1, sizeof **out);
    if (!*out) return nomem();
    (*out)->t = t;
    (*out)->skip_special = skip_special;
    return JOULE_OK;
}

void joule_tokenizer_stream_free(struct joule_tokenizer_stream *st)
{
    if (!st) return;
    free(st->ids.p);
    free(st->prefix);
    free(st->text);
    free(st);
}

/* decode(ids[from..n)) into a malloc'd string */
static enum joule_status decode_alloc(const struct joule_tokenizer *t, const int32_t *ids, size_t n,
                                      int skip, char **out, size_t *len)
{
    size_t need = 0;
    enum joule_status s = joule_tokenizer_decode(t, ids, n, skip, NULL, 0, &need);
    if (s != JOULE_OK) return s;
    char *b = malloc(need + 1);
    if (!b) return nomem();
    s = joule_tokenizer_decode(t, ids, n, skip, b, need + 1, &need);
    if (s != JOULE_OK) {
        free(b);
        return s;
    }
    *out = b;
    *len = need;
    return JOULE_OK;
}

/* Follows tokenizers' step_decode_stream: decode the window; when it grew and does
 * not end in U+FFFD, emit what follows the previous prefix and slide the window. */
enum joule_status joule_tokenizer_stream_push(struct joule_tokenizer_stream *st, int32_t id,
                                              const char **text, size_t *len)
{
    if (!st || !text || !len) return joule_errorf(JOULE_ERR_INVALID_ARG, "null argument");
    *text = "";
    *len = 0;
    free(st->text);
    st->text = NULL;
    if (id < 0 || (size_t)id >= st->t->n_ids)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "token id %d is outside the vocabulary",
                            (int)id);
    if (ibuf_put(&st->ids, id)) return nomem();
    char *s = NULL;
    size_t sl = 0;
    enum joule_status r = decode_alloc(st->t, st->ids.p, st->ids.n, st->skip_special, &s, &sl);
    if (r != JOULE_OK) {
        st->ids.n--;
        return r;
    }
    if (sl > st->prefix_len && !(sl >= 3 && !memcmp(s + sl - 3, "\xEF\xBF\xBD", 3))) {
        if (st->prefix_len && memcmp(s, st->prefix, st->prefix_len)) {
            free(s);
            return joule_errorf(JOULE_ERR_INTERNAL, "stream decode: the prefix changed");
        }
        size_t nl = sl - st->prefix_len;
        char *piece = malloc(nl + 1);
        if (!piece) {
            free(s);
            return nomem();
        }
        memcpy(piece, s + st->prefix_len, nl);
        piece[nl] = 0;
        free(s);
        /* keep ids[prefix_index..] as the new context */
        size_t new_prefix_index = st->ids.n - st->prefix_index;
        memmove(st->ids.p, st->ids.p + st->prefix_index,
                (st->ids.n - st->prefix_index) * sizeof *st->ids.p);
        st->ids.n -= st->prefix_index;
        free(st->prefix);
        st->prefix = NULL;
        st->prefix_len = 0;
        r = decode_alloc(st->t, st->ids.p, st->ids.n, st->skip_special, &st->prefix,
                         &st->prefix_len);
        if (r != JOULE_OK) {
            free(piece);
            return r;
        }
        st->prefix_index = new_prefix_index;
        st->text = piece;
        *text = piece;
        *len = nl;
        return JOULE_OK;
    }
    free(s);
    return JOULE_OK;
}
