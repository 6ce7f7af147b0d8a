/* Encoding: added tokens, normalizers, pre-tokenizers, BPE, post-processors.
 * Mirrors the pipeline of Hugging Face tokenizers (TokenizerImpl::encode). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

static enum joule_status nomem(void)
{
    return joule_errorf(JOULE_ERR_NOMEM, "out of memory while encoding");
}

/* ---- normalizers ------------------------------------------------------------ */

static enum joule_status replace_all(const char *s, size_t n, const char *pat, size_t patlen,
                                     const struct tk_regex *re, const char *with, size_t wlen,
                                     struct sbuf *out)
{
    size_t i = 0;
    while (i < n) {
        size_t ms, me;
        if (re) {
            int r = tk_regex_find(re, s, n, i, &ms, &me);
            if (r < 0) return (enum joule_status)r;
            if (!r) break;
            if (me == ms) { /* empty match: keep the character, move on */
                if (ms >= n) break;
                size_t l = (size_t)utf8_len((unsigned char)s[ms]);
                if (sbuf_put(out, s + i, ms + l - i)) return nomem();
                i = ms + l;
                continue;
            }
        } else {
            const char *f = memmem(s + i, n - i, pat, patlen);
            if (!f) break;
            ms = (size_t)(f - s);
            me = ms + patlen;
        }
        if (sbuf_put(out, s + i, ms - i) || sbuf_put(out, with, wlen)) return nomem();
        i = me;
    }
    if (sbuf_put(out, s + i, n - i)) return nomem();
    return JOULE_OK;
}

enum joule_status tk_normalize(const struct norm *nm, const char *s, size_t n, struct sbuf *out)
{
    enum joule_status st = JOULE_OK;
    switch (nm->type) {
    case NORM_NFC: {
        char *o;
        size_t ol;
        if ((st = uni_nfc(s, n, &o, &ol)) != JOULE_OK) return st;
        int r = sbuf_put(out, o, ol);
        free(o);
        return r ? nomem() : JOULE_OK;
    }
    case NORM_PREPEND:
        if (n && sbuf_put(out, nm->a, nm->alen)) return nomem();
        return sbuf_put(out, s, n) ? nomem() : JOULE_OK;
    case NORM_REPLACE:
        return replace_all(s, n, nm->a, nm->alen, nm->re, nm->b, nm->blen, out);
    case NORM_STRIP: {
        size_t a = 0, b = n;
        const unsigned char *u = (const unsigned char *)s;
        while (nm->left && a < b) {
            uint32_t cp;
            int l = utf8_decode(u + a, b - a, &cp);
            if (!uni_is_white_space(cp)) break;
            a += (size_t)l;
        }
        while (nm->right && b > a) {
            size_t p = b - 1;
            while (p > a && (u[p] & 0xC0) == 0x80)
                p--;
            uint32_t cp;
            utf8_decode(u + p, b - p, &cp);
            if (!uni_is_white_space(cp)) break;
            b = p;
        }
        return sbuf_put(out, s + a, b - a) ? nomem() : JOULE_OK;
    }
    case NORM_SEQ: {
        struct sbuf cur = {0}, nxt = {0};
        if (sbuf_put(&cur, s, n)) return nomem();
        for (size_t i = 0; i < nm->nkids && st == JOULE_OK; i++) {
            nxt.n = 0;
            st = tk_normalize(&nm->kids[i], cur.p, cur.n, &nxt);
            struct sbuf t = cur;
            cur = nxt;
            nxt = t;
        }
        if (st == JOULE_OK && sbuf_put(out, cur.p, cur.n)) st = nomem();
        free(cur.p);
        free(nxt.p);
        return st;
    }
    }
    return joule_errorf(JOULE_ERR_INTERNAL, "unknown normalizer");
}

/* ---- splitting helpers -------------------------------------------------------- */

struct match {
    size_t s, e;
    int is_match;
};
struct matches {
    struct match *p;
    size_t n, cap;
};

static int m_put(struct matches *m, size_t s, size_t e, int is)
{
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 32;
        struct match *np = realloc(m->p, nc * sizeof *np);
        if (!np) return -1;
        m->p = np;
        m->cap = nc;
    }
    m->p[m->n].s = s;
    m->p[m->n].e = e;
    m->p[m->n].is_match = is;
    m->n++;
    return 0;
}

/* Matches of a regex over text[0..n), covering it (HF Pattern::find_matches). */
static enum joule_status find_regex(const struct tk_regex *re, const char *text, size_t n,
                                    struct matches *out)
{
    out->n = 0;
    if (!n) return m_put(out, 0, 0, 0) ? nomem() : JOULE_OK;
    size_t prev = 0, pos = 0;
    while (pos <= n) {
        size_t ms, me;
        int r = tk_regex_find(re, text, n, pos, &ms, &me);
        if (r < 0) return (enum joule_status)r;
        if (!r) break;
        if (prev != ms && m_put(out, prev, ms, 0)) return nomem();
        if (m_put(out, ms, me, 1)) return nomem();
        prev = me;
        if (me == ms) {
            if (me >= n) break;
            pos = me + (size_t)utf8_len((unsigned char)text[me]);
        } else {
            pos = me;
        }
    }
    if (prev != n && m_put(out, prev, n, 0)) return nomem();
    return JOULE_OK;
}

static enum joule_status find_literal(const char *lit, size_t litlen, const char *text, size_t n,
                                      struct matches *out)
{
    out->n = 0;
    if (!n) return m_put(out, 0, 0, 0) ? nomem() : JOULE_OK;
    size_t prev = 0, pos = 0;
    while (pos < n) {
        const char *f = memmem(text + pos, n - pos, lit, litlen);
        if (!f) break;
        size_t ms = (size_t)(f - text);
        if (prev != ms && m_put(out, prev, ms, 0)) return nomem();
        if (m_put(out, ms, ms + litlen, 1)) return nomem();
        prev = pos = ms + litlen;
    }
    if (prev != n && m_put(out, prev, n, 0)) return nomem();
    return JOULE_OK;
}

enum char_pred { CP_NUMERIC, CP_WHITESPACE, CP_PUNCT, CP_EQUALS };

static int pred(enum char_pred p, uint32_t cp, uint32_t eq)
{
    switch (p) {
    case CP_NUMERIC:
        if (cp < 0x80) return cp >= '0' && cp <= '9';
        return (UNI_MASK(uni_category(cp)) & UNI_MASK_N) != 0;
    case CP_WHITESPACE:
        return uni_is_white_space(cp);
    case CP_PUNCT:
        if (cp < 0x80)
            return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
                   (cp >= 123 && cp <= 126);
        return (UNI_MASK(uni_category(cp)) &
                (UNI_MASK(UNI_Pc) | UNI_MASK(UNI_Pd) | UNI_MASK(UNI_Ps) | UNI_MASK(UNI_Pe) |
                 UNI_MASK(UNI_Pi) | UNI_MASK(UNI_Pf) | UNI_MASK(UNI_Po))) != 0;
    case CP_EQUALS:
        return cp == eq;
    }
    return 0;
}

/* Character-predicate pattern: each matching character is its own match. */
static enum joule_status find_chars(enum char_pred p, uint32_t eq, const char *text, size_t n,
                                    struct matches *out)
{
    out->n = 0;
    if (!n) return m_put(out, 0, 0, 0) ? nomem() : JOULE_OK;
    size_t last = 0;
    const unsigned char *u = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = utf8_decode(u + i, n - i, &cp);
        if (pred(p, cp, eq)) {
            if (last < i && m_put(out, last, i, 0)) return nomem();
            if (m_put(out, i, i + (size_t)l, 1)) return nomem();
            last = i + (size_t)l;
        }
        i += (size_t)l;
    }
    if (n > last && m_put(out, last, n, 0)) return nomem();
    return JOULE_OK;
}

/* Turn matches into spans following a split behaviour (HF SplitDelimiterBehavior);
 * `base` is the span's offset in buf; empty results are dropped. */
static enum joule_status apply_behavior(struct matches *m, enum split_behavior b, int invert,
                                        size_t base, int first, struct spans *out)
{
    if (invert)
        for (size_t i = 0; i < m->n; i++)
            m->p[i].is_match = !m->p[i].is_match;
    size_t k = 0; /* compact in place into (s, e) pieces */
    switch (b) {
    case SPLIT_ISOLATED:
        k = m->n;
        break;
    case SPLIT_REMOVED:
        for (size_t i = 0; i < m->n; i++)
            if (!m->p[i].is_match) m->p[k++] = m->p[i];
        break;
    case SPLIT_MERGED_PREV: {
        int prev_match = 0;
        for (size_t i = 0; i < m->n; i++) {
            if (m->p[i].is_match && !prev_match && k > 0)
                m->p[k - 1].e = m->p[i].e;
            else
                m->p[k++] = m->p[i];
            prev_match = m->p[i].is_match;
        }
        break;
    }
    case SPLIT_MERGED_NEXT: {
        /* walk backwards, merging a delimiter into the piece after it */
        int prev_match = 0;
        size_t w = m->n;
        for (size_t i = m->n; i-- > 0;) {
            struct match cur = m->p[i];
            if (cur.is_match && !prev_match && w < m->n)
                m->p[w].s = cur.s;
            else
                m->p[--w] = cur;
            prev_match = cur.is_match;
        }
        k = m->n - w;
        memmove(m->p, m->p + w, k * sizeof *m->p);
        break;
    }
    case SPLIT_CONTIGUOUS: {
        int prev_match = 0;
        for (size_t i = 0; i < m->n; i++) {
            if (m->p[i].is_match == prev_match && k > 0)
                m->p[k - 1].e = m->p[i].e;
            else
                m->p[k++] = m->p[i];
            prev_match = m->p[i].is_match;
        }
        break;
    }
    }
    for (size_t i = 0; i < k; i++)
        if (m->p[i].e > m->p[i].s &&
            spans_put(out, base + m->p[i].s, m->p[i].e - m->p[i].s, first && m->p[i].s == 0))
            return nomem();
    return JOULE_OK;
}

/* ---- pre-tokenizers -------------------------------------------------------------- */

struct enc {
    const struct joule_tokenizer *t;
    struct sbuf buf;   /* text of all spans */
    struct spans a, b; /* ping-pong span lists */
    struct matches m;
    struct sbuf tmp;
    /* BPE scratch */
    struct bsym {
        int32_t id, prev, next;
        uint32_t len;
    } * sym;
    size_t nsym, capsym;
    struct heapent {
        int32_t rank, pos, id;
    } * heap;
    size_t nheap, capheap;
    struct ibuf *ids;
};

static enum joule_status pretok_apply(struct enc *e, const struct pretok *p, struct spans *in,
                                      struct spans *out);

static enum joule_status pretok_seq(struct enc *e, const struct pretok *p, struct spans *in,
                                    struct spans *out)
{
    struct spans cur = *in, nxt = {0};
    *in = (struct spans){0};
    enum joule_status s = JOULE_OK;
    for (size_t i = 0; i < p->nkids && s == JOULE_OK; i++) {
        nxt.n = 0;
        s = pretok_apply(e, &p->kids[i], &cur, &nxt);
        struct spans t = cur;
        cur = nxt;
        nxt = t;
    }
    free(nxt.p);
    if (s == JOULE_OK) {
        for (size_t i = 0; i < cur.n; i++)
            if (spans_put(out, cur.p[i].off, cur.p[i].len, cur.p[i].first)) {
                s = nomem();
                break;
            }
    }
    free(cur.p);
    return s;
}

static enum joule_status byte_map(struct enc *e, size_t off, size_t len, int first,
                                  struct spans *out)
{
    size_t start = e->buf.n;
    for (size_t i = 0; i < len; i++) {
        char u[4];
        int l = utf8_encode(tk_byte_to_cp[(unsigned char)e->buf.p[off + i]], u);
        if (sbuf_put(&e->buf, u, (size_t)l)) return nomem();
    }
    return spans_put(out, start, e->buf.n - start, first) ? nomem() : JOULE_OK;
}

static enum joule_status pretok_apply(struct enc *e, const struct pretok *p, struct spans *in,
                                      struct spans *out)
{
    enum joule_status s = JOULE_OK;
    if (p->type == PT_SEQ) return pretok_seq(e, p, in, out);
    for (size_t i = 0; i < in->n && s == JOULE_OK; i++) {
        struct span sp = in->p[i];
        switch (p->type) {
        case PT_BYTELEVEL: {
            if (p->add_prefix_space && (sp.len == 0 || e->buf.p[sp.off] != ' ')) {
                size_t start = e->buf.n;
                if (sbuf_put(&e->buf, " ", 1) || sbuf_put(&e->buf, NULL, 0) ||
                    sbuf_reserve(&e->buf, sp.len))
                    return nomem();
                sbuf_put(&e->buf, e->buf.p + sp.off, sp.len); /* cannot fail: reserved */
                sp.off = start;
                sp.len += 1;
            }
            if (!p->use_regex) {
                s = byte_map(e, sp.off, sp.len, sp.first, out);
                break;
            }
            struct spans parts = {0};
            s = find_regex(p->re, e->buf.p + sp.off, sp.len, &e->m);
            if (s == JOULE_OK)
                s = apply_behavior(&e->m, SPLIT_ISOLATED, 0, sp.off, sp.first, &parts);
            for (size_t k = 0; k < parts.n && s == JOULE_OK; k++)
                s = byte_map(e, parts.p[k].off, parts.p[k].len, parts.p[k].first, out);
            free(parts.p);
            break;
        }
        case PT_SPLIT:
            if (p->re)
                s = find_regex(p->re, e->buf.p + sp.off, sp.len, &e->m);
            else
                s = find_literal(p->lit, p->litlen, e->buf.p + sp.off, sp.len, &e->m);
            if (s == JOULE_OK)
                s = apply_behavior(&e->m, p->behavior, p->invert, sp.off, sp.first, out);
            break;
        case PT_DIGITS:
            s = find_chars(CP_NUMERIC, 0, e->buf.p + sp.off, sp.len, &e->m);
            if (s == JOULE_OK)
                s = apply_behavior(&e->m, p->individual ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS, 0,
                                   sp.off, sp.first, out);
            break;
        case PT_WSPLIT:
            s = find_chars(CP_WHITESPACE, 0, e->buf.p + sp.off, sp.len, &e->m);
            if (s == JOULE_OK) s = apply_behavior(&e->m, SPLIT_REMOVED, 0, sp.off, sp.first, out);
            break;
        case PT_PUNCT:
            s = find_chars(CP_PUNCT, 0, e->buf.p + sp.off, sp.len, &e->m);
            if (s == JOULE_OK) s = apply_behavior(&e->m, SPLIT_ISOLATED, 0, sp.off, sp.first, out);
            break;
        case PT_METASPACE: {
            size_t start = e->buf.n;
            int starts = sp.len >= p->repl_len && !memcmp(e->buf.p + sp.off, p->repl, p->repl_len);
            int first_char_space = sp.len && e->buf.p[sp.off] == ' ';
            int prepend = 0;
            if (!starts && !first_char_space) /* a leading space becomes the replacement */
                prepend = p->prepend == PREPEND_ALWAYS || (p->prepend == PREPEND_FIRST && sp.first);
            if (prepend && sbuf_put(&e->buf, p->repl, p->repl_len)) return nomem();
            for (size_t k = 0; k < sp.len; k++) {
                char c = e->buf.p[sp.off + k];
                if (c == ' ' ? sbuf_put(&e->buf, p->repl, p->repl_len) : sbuf_put(&e->buf, &c, 1))
                    return nomem();
            }
            size_t len = e->buf.n - start;
            if (!p->split) {
                if (len && spans_put(out, start, len, sp.first)) return nomem();
                break;
            }
            uint32_t rcp;
            utf8_decode((const unsigned char *)p->repl, p->repl_len, &rcp);
            s = find_chars(CP_EQUALS, rcp, e->buf.p + start, len, &e->m);
            if (s == JOULE_OK)
                s = apply_behavior(&e->m, SPLIT_MERGED_NEXT, 0, start, sp.first, out);
            break;
        }
        case PT_SEQ:
            break;
        }
    }
    return s;
}

/* ---- BPE ----------------------------------------------------------------------- */

static int heap_less(const struct heapent *a, const struct heapent *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static int heap_push(struct enc *e, int32_t rank, int32_t pos, int32_t id)
{
    if (e->nheap == e->capheap) {
        size_t nc = e->capheap ? e->capheap * 2 : 64;
        struct heapent *np = realloc(e->heap, nc * sizeof *np);
        if (!np) return -1;
        e->heap = np;
        e->capheap = nc;
    }
    size_t i = e->nheap++;
    struct heapent x = {rank, pos, id};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&x, &e->heap[p])) break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = x;
    return 0;
}

static struct heapent heap_pop(struct enc *e)
{
    struct heapent top = e->heap[0], x = e->heap[--e->nheap];
    size_t i = 0, n = e->nheap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct heapent *best = &x;
        if (l < n && heap_less(&e->heap[l], best)) m = l, best = &e->heap[l];
        if (r < n && heap_less(&e->heap[r], best)) m = r;
        if (m == i) break;
        e->heap[i] = e->heap[m];
        i = m;
    }
    if (n) e->heap[i] = x;
    return top;
}

static const struct mentry *merge_get(const struct mergemap *mm, int32_t a, int32_t b)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mm->mask;
    for (;;) {
        const struct mentry *en = &mm->e[h];
        if (en->rank < 0) return NULL;
        if (en->key == key) return en;
        h = (h + 1) & mm->mask;
    }
}

static int sym_add(struct enc *e, int32_t id, uint32_t len)
{
    if (e->nsym == e->capsym) {
        size_t nc = e->capsym ? e->capsym * 2 : 64;
        struct bsym *np = realloc(e->sym, nc * sizeof *np);
        if (!np) return -1;
        e->sym = np;
        e->capsym = nc;
    }
    if (e->nsym >= INT32_MAX - 1) return -1;
    struct bsym *s = &e->sym[e->nsym];
    s->id = id;
    s->len = len;
    s->prev = (int32_t)e->nsym - 1;
    s->next = (int32_t)e->nsym + 1;
    e->nsym++;
    return 0;
}

static enum joule_status bpe_word(struct enc *e, const char *w, size_t n)
{
    const struct joule_tokenizer *t = e->t;
    if (!n) return JOULE_OK;
    if (t->ignore_merges) {
        int32_t id = strmap_get(&t->vocab, t->pool, w, n);
        if (id >= 0) return ibuf_put(e->ids, id) ? nomem() : JOULE_OK;
    }
    e->nsym = 0;
    int32_t unk = -1;
    uint32_t unk_len = 0;
    const unsigned char *u = (const unsigned char *)w;
    for (size_t i = 0; i < n;) {
        size_t l = (size_t)utf8_len(u[i]);
        if (l > n - i) l = n - i;
        int is_first = i == 0, is_last = i + l == n;
        const char *s = w + i;
        size_t sl = l;
        if ((!is_first && t->cont_prefix) || (is_last && t->eow_suffix)) {
            e->tmp.n = 0;
            if ((!is_first && t->cont_prefix &&
                 sbuf_put(&e->tmp, t->cont_prefix, t->cont_prefix_len)) ||
                sbuf_put(&e->tmp, s, l) ||
                (is_last && t->eow_suffix && sbuf_put(&e->tmp, t->eow_suffix, t->eow_suffix_len)))
                return nomem();
            s = e->tmp.p;
            sl = e->tmp.n;
        }
        int32_t id;
        if (t->char_id && s == w + i) {
            uint32_t cp;
            if (utf8_decode(u + i, l, &cp) == (int)l && cp < CHAR_ID_LIMIT)
                id = t->char_id[cp];
            else
                id = strmap_get(&t->vocab, t->pool, s, sl);
        } else {
            id = strmap_get(&t->vocab, t->pool, s, sl);
        }
        if (id >= 0) {
            if (unk >= 0) {
                if (sym_add(e, unk, unk_len)) return nomem();
                unk = -1;
            }
            if (sym_add(e, id, (uint32_t)l)) return nomem();
        } else {
            int done = 0;
            if (t->byte_fallback) {
                int all = 1;
                for (size_t k = 0; k < sl; k++)
                    if (t->byte_ids[(unsigned char)s[k]] < 0) all = 0;
                if (all) {
                    for (size_t k = 0; k < sl; k++)
                        if (sym_add(e, t->byte_ids[(unsigned char)s[k]], 1)) return nomem();
                    done = 1;
                }
            }
            if (!done && t->unk_id != -1) {
                if (t->unk_id == -2)
                    return joule_errorf(JOULE_ERR_FORMAT,
                                        "the model's unk_token is not in its vocabulary");
                if (unk >= 0 && t->fuse_unk) {
                    unk_len += (uint32_t)l;
                } else {
                    if (unk >= 0 && sym_add(e, unk, unk_len)) return nomem();
                    unk = t->unk_id;
                    unk_len = (uint32_t)l;
                }
            }
        }
        i += l;
    }
    if (unk >= 0 && sym_add(e, unk, unk_len)) return nomem();
    if (!e->nsym) return JOULE_OK;
    e->sym[e->nsym - 1].next = -1;

    e->nheap = 0;
    for (size_t i = 0; i + 1 < e->nsym; i++) {
        const struct mentry *m = merge_get(&t->merges, e->sym[i].id, e->sym[i + 1].id);
        if (m && heap_push(e, m->rank, (int32_t)i, m->id)) return nomem();
    }
    while (e->nheap) {
        struct heapent top = heap_pop(e);
        struct bsym *cur = &e->sym[top.pos];
        if (cur->len == 0 || cur->next < 0) continue;
        struct bsym *right = &e->sym[cur->next];
        const struct mentry *m = merge_get(&t->merges, cur->id, right->id);
        if (!m || m->id != top.id) continue;
        cur->id = top.id;
        cur->len += right->len;
        right->len = 0;
        cur->next = right->next;
        if (cur->next >= 0) e->sym[cur->next].prev = top.pos;
        if (cur->prev >= 0) {
            const struct mentry *pm = merge_get(&t->merges, e->sym[cur->prev].id, cur->id);
            if (pm && heap_push(e, pm->rank, cur->prev, pm->id)) return nomem();
        }
        if (cur->next >= 0) {
            const struct mentry *nm = merge_get(&t->merges, cur->id, e->sym[cur->next].id);
            if (nm && heap_push(e, nm->rank, top.pos, nm->id)) return nomem();
        }
    }
    for (size_t i = 0; i < e->nsym; i++)
        if (e->sym[i].len && ibuf_put(e->ids, e->sym[i].id)) return nomem();
    return JOULE_OK;
}

/* ---- added tokens ---------------------------------------------------------------- */

struct seg {
    size_t off, len;
    int32_t id; /* -1: text to tokenize */
    int first;
};
struct segs {
    struct seg *p;
    size_t n, cap;
};

static int seg_put(struct segs *v, size_t off, size_t len, int32_t id, int first)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 16;
        struct seg *np = realloc(v->p, nc * sizeof *np);
        if (!np) return -1;
        v->p = np;
        v->cap = nc;
    }
    v->p[v->n++] = (struct seg){off, len, id, first};
    return 0;
}

static int ends_with_word(const char *s, size_t n)
{
    if (!n) return 0;
    size_t p = n - 1;
    while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80)
        p--;
    uint32_t cp;
    utf8_decode((const unsigned char *)s + p, n - p, &cp);
    return uni_is_word(cp);
}

static int starts_with_word(const char *s, size_t n)
{
    if (!n) return 0;
    uint32_t cp;
    utf8_decode((const unsigned char *)s, n, &cp);
    return uni_is_word(cp);
}

/* Split text[0..n) (at offset `base` of the original when base_first) on the added
 * tokens whose `normalized` flag equals `normalized`: leftmost-longest matches,
 * non-overlapping, as the Aho-Corasick search of HF's AddedVocabulary. */
static enum joule_status split_added(const struct joule_tokenizer *t, const char *text, size_t n,
                                     int normalized, int first, struct segs *out)
{
    const struct trie *tr = &t->trie[normalized ? 1 : 0];
    size_t start_off = 0, pos = 0;
    const unsigned char *u = (const unsigned char *)text;
    while (tr->n && pos < n) {
        /* leftmost position where some token matches, the longest token there */
        size_t ms = 0, ml = 0;
        int32_t best = -1;
        for (size_t p = pos; p < n && best < 0; p++) {
            if (!tr->first[u[p]]) continue;
            int32_t cur = 0;
            for (size_t q = p; q < n; q++) {
                int32_t c = tr->n[cur].child;
                while (c >= 0 && tr->n[c].byte != u[q])
                    c = tr->n[c].sibling;
                if (c < 0) break;
                cur = c;
                if (tr->n[cur].token >= 0) {
                    best = tr->n[cur].token;
                    ms = p;
                    ml = q + 1 - p;
                }
            }
        }
        if (best < 0) break;
        const struct added_token *a = &t->added[best];
        size_t s = ms, e = ms + ml;
        pos = e;
        if (a->single_word) {
            int start_space = s == 0 || !ends_with_word(text, s);
            int stop_space = e == n || !starts_with_word(text + e, n - e);
            if (!start_space || !stop_space) continue;
        }
        if (a->lstrip) {
            size_t ns = s;
            while (ns > 0) {
                size_t p = ns - 1;
                while (p > 0 && (u[p] & 0xC0) == 0x80)
                    p--;
                uint32_t cp;
                utf8_decode(u + p, ns - p, &cp);
                if (!uni_is_white_space(cp)) break;
                ns = p;
            }
            s = ns > start_off ? ns : start_off;
        }
        if (a->rstrip) {
            while (e < n) {
                uint32_t cp;
                int l = utf8_decode(u + e, n - e, &cp);
                if (!uni_is_white_space(cp)) break;
                e += (size_t)l;
            }
            pos = e;
        }
        if (start_off < s && seg_put(out, start_off, s - start_off, -1, first && start_off == 0))
            return nomem();
        if (seg_put(out, s, e - s, a->id, 0)) return nomem();
        start_off = e;
    }
    if (start_off < n && seg_put(out, start_off, n - start_off, -1, first && start_off == 0))
        return nomem();
    return JOULE_OK;
}

/* ---- the pipeline ------------------------------------------------------------------ */

static enum joule_status encode_text(struct enc *e, const char *text, size_t n, int first)
{
    const struct joule_tokenizer *t = e->t;
    e->buf.n = 0;
    e->a.n = 0;
    if (sbuf_put(&e->buf, text, n) || spans_put(&e->a, 0, n, first)) return nomem();
    struct spans *words = &e->a;
    if (t->pretok) {
        e->b.n = 0;
        enum joule_status s = pretok_apply(e, t->pretok, &e->a, &e->b);
        if (s != JOULE_OK) return s;
        words = &e->b;
    }
    for (size_t i = 0; i < words->n; i++) {
        enum joule_status s = bpe_word(e, e->buf.p + words->p[i].off, words->p[i].len);
        if (s != JOULE_OK) return s;
    }
    return JOULE_OK;
}

static enum joule_status post_apply(const struct post *p, struct ibuf *ids)
{
    struct ibuf out = {0};
    switch (p->type) {
    case PP_BYTELEVEL:
        return JOULE_OK;
    case PP_SEQ:
        for (size_t i = 0; i < p->nkids; i++) {
            enum joule_status s = post_apply(&p->kids[i], ids);
            if (s != JOULE_OK) return s;
        }
        return JOULE_OK;
    case PP_TEMPLATE:
        for (size_t i = 0; i < p->nitems; i++) {
            const struct tmpl_item *it = &p->items[i];
            if (it->is_seq) {
                for (size_t k = 0; k < ids->n; k++)
                    if (ibuf_put(&out, ids->p[k])) goto oom;
            } else {
                for (size_t k = 0; k < it->nids; k++)
                    if (ibuf_put(&out, it->ids[k])) goto oom;
            }
        }
        break;
    case PP_BERT:
    case PP_ROBERTA:
        if (ibuf_put(&out, p->cls)) goto oom;
        for (size_t k = 0; k < ids->n; k++)
            if (ibuf_put(&out, ids->p[k])) goto oom;
        if (ibuf_put(&out, p->sep)) goto oom;
        break;
    }
    free(ids->p);
    *ids = out;
    return JOULE_OK;
oom:
    free(out.p);
    return nomem();
}

static void enc_free(struct enc *e)
{
    free(e->buf.p);
    free(e->a.p);
    free(e->b.p);
    free(e->m.p);
    free(e->tmp.p);
    free(e->sym);
    free(e->heap);
}

enum joule_status tk_encode_ids(const struct joule_tokenizer *t, const char *text, size_t len,
                                int add_special, struct ibuf *ids)
{
    char *clean = NULL;
    size_t n = 0;
    enum joule_status s = utf8_sanitize(text, len, &clean, &n);
    if (s != JOULE_OK) return s;
    struct enc e = {0};
    e.t = t;
    e.ids = ids;
    struct segs raw = {0}, norm = {0};
    struct sbuf nbuf = {0};
    s = split_added(t, clean, n, 0, 1, &raw);
    for (size_t i = 0; i < raw.n && s == JOULE_OK; i++) {
        const struct seg *r = &raw.p[i];
        if (r->id >= 0) {
            if (ibuf_put(ids, r->id)) s = nomem();
            continue;
        }
        const char *piece = clean + r->off;
        size_t plen = r->len;
        if (t->norm) {
            nbuf.n = 0;
            s = tk_normalize(t->norm, piece, plen, &nbuf);
            if (s != JOULE_OK) break;
            piece = nbuf.p ? nbuf.p : "";
            plen = nbuf.n;
        }
        norm.n = 0;
        s = split_added(t, piece, plen, 1, r->first, &norm);
        for (size_t k = 0; k < norm.n && s == JOULE_OK; k++) {
            const struct seg *g = &norm.p[k];
            if (g->id >= 0) {
                if (ibuf_put(ids, g->id)) s = nomem();
            } else {
                s = encode_text(&e, piece + g->off, g->len, g->first);
            }
        }
    }
    if (s == JOULE_OK && add_special && t->post) s = post_apply(t->post, ids);
    free(raw.p);
    free(norm.p);
    free(nbuf.p);
    free(clean);
    enc_free(&e);
    return s;
}

enum joule_status joule_tokenizer_encode(const struct joule_tokenizer *t, const char *text,
                                         size_t len, int add_special, int32_t *ids, size_t cap,
                                         size_t *n_ids)
{
    if (!t || (!text && len) || !n_ids || (!ids && cap))
        return joule_errorf(JOULE_ERR_INVALID_ARG, "null argument");
    *n_ids = 0;
    struct ibuf out = {0};
    enum joule_status s = tk_encode_ids(t, text ? text : "", len, add_special, &out);
    if (s == JOULE_OK) {
        *n_ids = out.n;
        size_t k = out.n < cap ? out.n : cap; /* no ids: out.p is NULL, memcpy must not see it */
        if (k) memcpy(ids, out.p, k * sizeof *ids);
    }
    free(out.p);
    return s;
}
