/* Loading tokenizer.json into struct joule_tokenizer. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"
#include "util/fileio.h"
#include "util/json.h"

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the
 * others to U+0100.. in byte order. */
const uint16_t tk_byte_to_cp[256] = {
    0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x10A, 0x10B, 0x10C,
    0x10D, 0x10E, 0x10F, 0x110, 0x111, 0x112, 0x113, 0x114, 0x115, 0x116, 0x117, 0x118, 0x119,
    0x11A, 0x11B, 0x11C, 0x11D, 0x11E, 0x11F, 0x120, 0x021, 0x022, 0x023, 0x024, 0x025, 0x026,
    0x027, 0x028, 0x029, 0x02A, 0x02B, 0x02C, 0x02D, 0x02E, 0x02F, 0x030, 0x031, 0x032, 0x033,
    0x034, 0x035, 0x036, 0x037, 0x038, 0x039, 0x03A, 0x03B, 0x03C, 0x03D, 0x03E, 0x03F, 0x040,
    0x041, 0x042, 0x043, 0x044, 0x045, 0x046, 0x047, 0x048, 0x049, 0x04A, 0x04B, 0x04C, 0x04D,
    0x04E, 0x04F, 0x050, 0x051, 0x052, 0x053, 0x054, 0x055, 0x056, 0x057, 0x058, 0x059, 0x05A,
    0x05B, 0x05C, 0x05D, 0x05E, 0x05F, 0x060, 0x061, 0x062, 0x063, 0x064, 0x065, 0x066, 0x067,
    0x068, 0x069, 0x06A, 0x06B, 0x06C, 0x06D, 0x06E, 0x06F, 0x070, 0x071, 0x072, 0x073, 0x074,
    0x075, 0x076, 0x077, 0x078, 0x079, 0x07A, 0x07B, 0x07C, 0x07D, 0x07E, 0x121, 0x122, 0x123,
    0x124, 0x125, 0x126, 0x127, 0x128, 0x129, 0x12A, 0x12B, 0x12C, 0x12D, 0x12E, 0x12F, 0x130,
    0x131, 0x132, 0x133, 0x134, 0x135, 0x136, 0x137, 0x138, 0x139, 0x13A, 0x13B, 0x13C, 0x13D,
    0x13E, 0x13F, 0x140, 0x141, 0x142, 0x0A1, 0x0A2, 0x0A3, 0x0A4, 0x0A5, 0x0A6, 0x0A7, 0x0A8,
    0x0A9, 0x0AA, 0x0AB, 0x0AC, 0x143, 0x0AE, 0x0AF, 0x0B0, 0x0B1, 0x0B2, 0x0B3, 0x0B4, 0x0B5,
    0x0B6, 0x0B7, 0x0B8, 0x0B9, 0x0BA, 0x0BB, 0x0BC, 0x0BD, 0x0BE, 0x0BF, 0x0C0, 0x0C1, 0x0C2,
    0x0C3, 0x0C4, 0x0C5, 0x0C6, 0x0C7, 0x0C8, 0x0C9, 0x0CA, 0x0CB, 0x0CC, 0x0CD, 0x0CE, 0x0CF,
    0x0D0, 0x0D1, 0x0D2, 0x0D3, 0x0D4, 0x0D5, 0x0D6, 0x0D7, 0x0D8, 0x0D9, 0x0DA, 0x0DB, 0x0DC,
    0x0DD, 0x0DE, 0x0DF, 0x0E0, 0x0E1, 0x0E2, 0x0E3, 0x0E4, 0x0E5, 0x0E6, 0x0E7, 0x0E8, 0x0E9,
    0x0EA, 0x0EB, 0x0EC, 0x0ED, 0x0EE, 0x0EF, 0x0F0, 0x0F1, 0x0F2, 0x0F3, 0x0F4, 0x0F5, 0x0F6,
    0x0F7, 0x0F8, 0x0F9, 0x0FA, 0x0FB, 0x0FC, 0x0FD, 0x0FE, 0x0FF,
};

int tk_cp_to_byte(uint32_t cp)
{
    if (cp >= 0x21 && cp <= 0x7E) return (int)cp;
    if ((cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    if (cp >= 0x100 && cp <= 0x143) { /* the non-printable bytes, in order */
        uint32_t k = cp - 0x100;
        return k < 33 ? (int)k : k < 67 ? (int)(127 + k - 33) : 173;
    }
    return -1;
}

/* ---- buffers --------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) return -1;
        nc *= 2;
    }
    void *np = realloc(*p, nc * elem);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

int sbuf_put(struct sbuf *b, const void *s, size_t n)
{
    if (n > SIZE_MAX - b->n - 1 || grow((void **)&b->p, &b->cap, b->n + n + 1, 1)) return -1;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

int sbuf_reserve(struct sbuf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->n - 1) return -1;
    return grow((void **)&b->p, &b->cap, b->n + extra + 1, 1);
}

int ibuf_put(struct ibuf *b, int32_t v)
{
    if (grow((void **)&b->p, &b->cap, b->n + 1, sizeof *b->p)) return -1;
    b->p[b->n++] = v;
    return 0;
}

int spans_put(struct spans *v, size_t off, size_t len, int first)
{
    if (grow((void **)&v->p, &v->cap, v->n + 1, sizeof *v->p)) return -1;
    v->p[v->n].off = off;
    v->p[v->n].len = len;
    v->p[v->n].first = first;
    v->n++;
    return 0;
}

/* ---- string map ------------------------------------------------------------ */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

int strmap_add(struct strmap *m, uint32_t off, uint32_t len, int32_t val)
{
    if (grow((void **)&m->e, &m->cap, m->n + 1, sizeof *m->e)) return -1;
    m->e[m->n].off = off;
    m->e[m->n].len = len;
    m->e[m->n].val = val;
    m->n++;
    return 0;
}

/* Build the hash index; on duplicate keys the later entry wins (as a Rust
 * HashMap built from the same sequence). */
int strmap_build(struct strmap *m, const char *pool)
{
    size_t cap = 16;
    while (cap < m->n * 2)
        cap *= 2;
    free(m->slot);
    m->slot = calloc(cap, sizeof *m->slot);
    if (!m->slot) return -1;
    m->mask = cap - 1;
    for (size_t i = 0; i < m->n; i++) {
        const char *s = pool + m->e[i].off;
        size_t h = (size_t)hash_bytes(s, m->e[i].len) & m->mask;
        for (;;) {
            uint32_t k = m->slot[h];
            if (!k) {
                m->slot[h] = (uint32_t)i + 1;
                break;
            }
            const struct smentry *o = &m->e[k - 1];
            if (o->len == m->e[i].len && !memcmp(pool + o->off, s, o->len)) {
                m->slot[h] = (uint32_t)i + 1;
                break;
            }
            h = (h + 1) & m->mask;
        }
    }
    return 0;
}

int32_t strmap_get(const struct strmap *m, const char *pool, const char *s, size_t n)
{
    if (!m->slot) return -1;
    size_t h = (size_t)hash_bytes(s, n) & m->mask;
    for (;;) {
        uint32_t k = m->slot[h];
        if (!k) return -1;
        const struct smentry *o = &m->e[k - 1];
        if (o->len == n && !memcmp(pool + o->off, s, n)) return o->val;
        h = (h + 1) & m->mask;
    }
}

void strmap_free(struct strmap *m)
{
    free(m->e);
    free(m->slot);
    memset(m, 0, sizeof *m);
}

/* ---- component freeing ---------------------------------------------------- */

void tk_free_norm(struct norm *n)
{
    if (!n) return;
    free(n->a);
    free(n->b);
    tk_regex_free(n->re);
    for (size_t i = 0; i < n->nkids; i++)
        tk_free_norm(&n->kids[i]);
    free(n->kids);
}

void tk_free_pretok(struct pretok *p)
{
    if (!p) return;
    tk_regex_free(p->re);
    free(p->lit);
    for (size_t i = 0; i < p->nkids; i++)
        tk_free_pretok(&p->kids[i]);
    free(p->kids);
}

void tk_free_post(struct post *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->nitems; i++)
        free(p->items[i].ids);
    free(p->items);
    for (size_t i = 0; i < p->nkids; i++)
        tk_free_post(&p->kids[i]);
    free(p->kids);
}

void tk_free_dec(struct dec *d)
{
    if (!d) return;
    free(d->a);
    free(d->b);
    tk_regex_free(d->re);
    for (size_t i = 0; i < d->nkids; i++)
        tk_free_dec(&d->kids[i]);
    free(d->kids);
}

void joule_tokenizer_free(struct joule_tokenizer *t)
{
    if (!t) return;
    free(t->pool);
    strmap_free(&t->vocab);
    free(t->id_off);
    free(t->id_len);
    free(t->added_of_id);
    free(t->merges.e);
    free(t->cont_prefix);
    free(t->eow_suffix);
    for (size_t i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].norm);
    }
    free(t->added);
    free(t->trie[0].n);
    free(t->trie[1].n);
    free(t->char_id);
    if (t->norm) {
        tk_free_norm(t->norm);
        free(t->norm);
    }
    if (t->pretok) {
        tk_free_pretok(t->pretok);
        free(t->pretok);
    }
    if (t->post) {
        tk_free_post(t->post);
        free(t->post);
    }
    if (t->dec) {
        tk_free_dec(t->dec);
        free(t->dec);
    }
    free(t);
}

/* ---- JSON helpers ---------------------------------------------------------- */

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jbool(const cJSON *o, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return def;
}

static int is_null_or_absent(const cJSON *v)
{
    return !v || cJSON_IsNull(v);
}

static enum joule_status oom(void)
{
    return joule_errorf(JOULE_ERR_NOMEM, "out of memory loading tokenizer");
}

/* A {"String": s} or {"Regex": r} pattern: sets *lit or *re. */
static enum joule_status load_pattern(const cJSON *pat, const char *where, char **lit,
                                      size_t *litlen, struct tk_regex **re)
{
    const char *s = jstr(pat, "String");
    if (s) {
        *litlen = strlen(s);
        *lit = dup_n(s, *litlen);
        return *lit ? JOULE_OK : oom();
    }
    const char *r = jstr(pat, "Regex");
    if (r) {
        enum joule_status st = tk_regex_compile(r, strlen(r), re);
        if (st != JOULE_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", joule_last_error());
            return joule_errorf(st, "%s: %s", where, msg);
        }
        return JOULE_OK;
    }
    return joule_errorf(JOULE_ERR_FORMAT, "%s: pattern must be {\"String\"} or {\"Regex\"}", where);
}

static int utf8_one_char(const char *s, uint32_t *cp)
{
    size_t n = strlen(s);
    if (!n || utf8_valid_prefix(s, n) != n) return -1;
    int l = utf8_decode((const unsigned char *)s, n, cp);
    return (size_t)l == n ? 0 : -1;
}

/* ---- normalizers ---------------------------------------------------------- */

static enum joule_status load_norm(const cJSON *j, struct norm *n, int depth)
{
    memset(n, 0, sizeof *n);
    const char *type = jstr(j, "type");
    if (!type) return joule_errorf(JOULE_ERR_FORMAT, "normalizer without a type");
    if (depth > 8) return joule_errorf(JOULE_ERR_LIMIT, "normalizers nested too deeply");
    if (!strcmp(type, "NFC")) {
        n->type = NORM_NFC;
    } else if (!strcmp(type, "Prepend")) {
        const char *p = jstr(j, "prepend");
        if (!p) return joule_errorf(JOULE_ERR_FORMAT, "Prepend normalizer without prepend");
        n->type = NORM_PREPEND;
        n->alen = strlen(p);
        if (!(n->a = dup_n(p, n->alen))) return oom();
    } else if (!strcmp(type, "Replace")) {
        const char *c = jstr(j, "content");
        if (!c) return joule_errorf(JOULE_ERR_FORMAT, "Replace normalizer without content");
        n->type = NORM_REPLACE;
        n->blen = strlen(c);
        if (!(n->b = dup_n(c, n->blen))) return oom();
        enum joule_status s = load_pattern(cJSON_GetObjectItemCaseSensitive(j, "pattern"),
                                           "Replace normalizer", &n->a, &n->alen, &n->re);
        if (s != JOULE_OK) return s;
        if (n->a && !n->alen)
            return joule_errorf(JOULE_ERR_UNSUPPORTED, "Replace normalizer with an empty pattern");
    } else if (!strcmp(type, "Strip")) {
        n->type = NORM_STRIP;
        n->left = jbool(j, "strip_left", 1);
        n->right = jbool(j, "strip_right", 1);
    } else if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
        if (!cJSON_IsArray(arr))
            return joule_errorf(JOULE_ERR_FORMAT, "Sequence normalizer without normalizers");
        n->type = NORM_SEQ;
        size_t k = (size_t)cJSON_GetArraySize(arr);
        n->kids = calloc(k ? k : 1, sizeof *n->kids);
        if (!n->kids) return oom();
        const cJSON *it;
        cJSON_ArrayForEach(it, arr)
        {
            enum joule_status s = load_norm(it, &n->kids[n->nkids], depth + 1);
            n->nkids++;
            if (s != JOULE_OK) return s;
        }
    } else {
        return joule_errorf(JOULE_ERR_UNSUPPORTED,
                            "normalizer \"%s\" is not supported (supported: NFC, Prepend, "
                            "Replace, Strip, Sequence)",
                            type);
    }
    return JOULE_OK;
}

/* ---- pre-tokenizers -------------------------------------------------------- */

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static enum joule_status parse_prepend(const cJSON *j, enum prepend_scheme *out)
{
    const char *ps = jstr(j, "prepend_scheme");
    if (ps) {
        if (!strcmp(ps, "always"))
            *out = PREPEND_ALWAYS;
        else if (!strcmp(ps, "first"))
            *out = PREPEND_FIRST;
        else if (!strcmp(ps, "never"))
            *out = PREPEND_NEVER;
        else
            return joule_errorf(JOULE_ERR_UNSUPPORTED, "Metaspace prepend_scheme \"%s\"", ps);
    } else {
        *out = jbool(j, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;
    }
    return JOULE_OK;
}

static enum joule_status load_pretok(const cJSON *j, struct pretok *p, int depth)
{
    memset(p, 0, sizeof *p);
    const char *type = jstr(j, "type");
    if (!type) return joule_errorf(JOULE_ERR_FORMAT, "pre_tokenizer without a type");
    if (depth > 8) return joule_errorf(JOULE_ERR_LIMIT, "pre_tokenizers nested too deeply");
    enum joule_status s;
    if (!strcmp(type, "ByteLevel")) {
        p->type = PT_BYTELEVEL;
        p->add_prefix_space = jbool(j, "add_prefix_space", 1);
        p->use_regex = jbool(j, "use_regex", 1);
        if (p->use_regex) {
            s = tk_regex_compile(GPT2_PATTERN, sizeof GPT2_PATTERN - 1, &p->re);
            if (s != JOULE_OK) return s;
        }
    } else if (!strcmp(type, "Split")) {
        p->type = PT_SPLIT;
        s = load_pattern(cJSON_GetObjectItemCaseSensitive(j, "pattern"), "Split pre_tokenizer",
                         &p->lit, &p->litlen, &p->re);
        if (s != JOULE_OK) return s;
        const char *b = jstr(j, "behavior");
        if (!b) return joule_errorf(JOULE_ERR_FORMAT, "Split pre_tokenizer without behavior");
        if (!strcmp(b, "Removed"))
            p->behavior = SPLIT_REMOVED;
        else if (!strcmp(b, "Isolated"))
            p->behavior = SPLIT_ISOLATED;
        else if (!strcmp(b, "MergedWithPrevious"))
            p->behavior = SPLIT_MERGED_PREV;
        else if (!strcmp(b, "MergedWithNext"))
            p->behavior = SPLIT_MERGED_NEXT;
        else if (!strcmp(b, "Contiguous"))
            p->behavior = SPLIT_CONTIGUOUS;
        else
            return joule_errorf(JOULE_ERR_UNSUPPORTED, "Split behavior \"%s\"", b);
        p->invert = jbool(j, "invert", 0);
    } else if (!strcmp(type, "Digits")) {
        p->type = PT_DIGITS;
        p->individual = jbool(j, "individual_digits", 0);
    } else if (!strcmp(type, "Metaspace")) {
        p->type = PT_METASPACE;
        const char *r = jstr(j, "replacement");
        uint32_t cp;
        if (!r || utf8_one_char(r, &cp))
            return joule_errorf(JOULE_ERR_FORMAT, "Metaspace replacement must be one character");
        p->repl_len = strlen(r);
        memcpy(p->repl, r, p->repl_len);
        if ((s = parse_prepend(j, &p->prepend)) != JOULE_OK) return s;
        p->split = jbool(j, "split", 1);
    } else if (!strcmp(type, "WhitespaceSplit")) {
        p->type = PT_WSPLIT;
    } else if (!strcmp(type, "Whitespace")) {
        static const char ws[] = "\\w+|[^\\w\\s]+";
        p->type = PT_SPLIT;
        p->behavior = SPLIT_REMOVED;
        p->invert = 1;
        if ((s = tk_regex_compile(ws, sizeof ws - 1, &p->re)) != JOULE_OK) return s;
    } else if (!strcmp(type, "Punctuation")) {
        p->type = PT_PUNCT;
        const char *b = jstr(j, "behavior");
        p->behavior = SPLIT_ISOLATED;
        if (b && strcmp(b, "Isolated"))
            return joule_errorf(JOULE_ERR_UNSUPPORTED, "Punctuation behavior \"%s\"", b);
    } else if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers");
        if (!cJSON_IsArray(arr))
            return joule_errorf(JOULE_ERR_FORMAT, "Sequence pre_tokenizer without pretokenizers");
        p->type = PT_SEQ;
        size_t k = (size_t)cJSON_GetArraySize(arr);
        p->kids = calloc(k ? k : 1, sizeof *p->kids);
        if (!p->kids) return oom();
        const cJSON *it;
        cJSON_ArrayForEach(it, arr)
        {
            s = load_pretok(it, &p->kids[p->nkids], depth + 1);
            p->nkids++;
            if (s != JOULE_OK) return s;
        }
    } else {
        return joule_errorf(JOULE_ERR_UNSUPPORTED,
                            "pre_tokenizer \"%s\" is not supported (supported: ByteLevel, Split, "
                            "Digits, Metaspace, Whitespace, WhitespaceSplit, Punctuation, "
                            "Sequence)",
                            type);
    }
    return JOULE_OK;
}

/* ---- post-processors ------------------------------------------------------- */

static enum joule_status load_post(struct joule_tokenizer *t, const cJSON *j, struct post *p,
                                   int depth)
{
    (void)t;
    memset(p, 0, sizeof *p);
    const char *type = jstr(j, "type");
    if (!type) return joule_errorf(JOULE_ERR_FORMAT, "post_processor without a type");
    if (depth > 8) return joule_errorf(JOULE_ERR_LIMIT, "post_processors nested too deeply");
    if (!strcmp(type, "ByteLevel")) {
        p->type = PP_BYTELEVEL;
    } else if (!strcmp(type, "TemplateProcessing")) {
        p->type = PP_TEMPLATE;
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(j, "single");
        const cJSON *specials = cJSON_GetObjectItemCaseSensitive(j, "special_tokens");
        if (!cJSON_IsArray(single))
            return joule_errorf(JOULE_ERR_FORMAT, "TemplateProcessing without a single template");
        size_t k = (size_t)cJSON_GetArraySize(single);
        p->items = calloc(k ? k : 1, sizeof *p->items);
        if (!p->items) return oom();
        const cJSON *it;
        cJSON_ArrayForEach(it, single)
        {
            struct tmpl_item *ti = &p->items[p->nitems++];
            const cJSON *sq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
            if (sq) {
                const char *id = jstr(sq, "id");
                if (!id || strcmp(id, "A"))
                    return joule_errorf(JOULE_ERR_UNSUPPORTED,
                                        "TemplateProcessing single template with sequence \"%s\"",
                                        id ? id : "?");
                ti->is_seq = 1;
            } else if (sp) {
                const char *id = jstr(sp, "id");
                const cJSON *st = id ? cJSON_GetObjectItemCaseSensitive(specials, id) : NULL;
                const cJSON *ids = cJSON_GetObjectItemCaseSensitive(st, "ids");
                if (!cJSON_IsArray(ids))
                    return joule_errorf(JOULE_ERR_FORMAT,
                                        "TemplateProcessing: special token \"%s\" not defined",
                                        id ? id : "?");
                size_t m = (size_t)cJSON_GetArraySize(ids);
                ti->ids = calloc(m ? m : 1, sizeof *ti->ids);
                if (!ti->ids) return oom();
                const cJSON *x;
                cJSON_ArrayForEach(x, ids)
                {
                    if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 2147483647.0)
                        return joule_errorf(JOULE_ERR_FORMAT, "TemplateProcessing: bad id");
                    ti->ids[ti->nids++] = (int32_t)x->valuedouble;
                }
            } else {
                return joule_errorf(JOULE_ERR_FORMAT, "TemplateProcessing: bad template piece");
            }
        }
    } else if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        p->type = type[0] == 'B' ? PP_BERT : PP_ROBERTA;
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(j, "cls");
        const cJSON *sep = cJSON_GetObjectItemCaseSensitive(j, "sep");
        const cJSON *ci = cJSON_GetArrayItem(cls, 1), *si = cJSON_GetArrayItem(sep, 1);
        if (!cJSON_IsNumber(ci) || !cJSON_IsNumber(si) || ci->valuedouble < 0 ||
            si->valuedouble < 0)
            return joule_errorf(JOULE_ERR_FORMAT, "%s: cls/sep must be [token, id]", type);
        p->cls = (int32_t)ci->valuedouble;
        p->sep = (int32_t)si->valuedouble;
    } else if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "processors");
        if (!cJSON_IsArray(arr))
            return joule_errorf(JOULE_ERR_FORMAT, "Sequence post_processor without processors");
        p->type = PP_SEQ;
        size_t k = (size_t)cJSON_GetArraySize(arr);
        p->kids = calloc(k ? k : 1, sizeof *p->kids);
        if (!p->kids) return oom();
        const cJSON *it;
        cJSON_ArrayForEach(it, arr)
        {
            enum joule_status s = load_post(t, it, &p->kids[p->nkids], depth + 1);
            p->nkids++;
            if (s != JOULE_OK) return s;
        }
    } else {
        return joule_errorf(JOULE_ERR_UNSUPPORTED,
                            "post_processor \"%s\" is not supported (supported: ByteLevel, "
                            "TemplateProcessing, BertProcessing, RobertaProcessing, Sequence)",
                            type);
    }
    return JOULE_OK;
}

/* ---- decoders ---------------------------------------------------------------- */

static enum joule_status load_dec(const cJSON *j, struct dec *d, int depth)
{
    memset(d, 0, sizeof *d);
    const char *type = jstr(j, "type");
    if (!type) return joule_errorf(JOULE_ERR_FORMAT, "decoder without a type");
    if (depth > 8) return joule_errorf(JOULE_ERR_LIMIT, "decoders nested too deeply");
    enum joule_status s;
    if (!strcmp(type, "ByteLevel")) {
        d->type = DEC_BYTELEVEL;
    } else if (!strcmp(type, "Replace")) {
        const char *c = jstr(j, "content");
        if (!c) return joule_errorf(JOULE_ERR_FORMAT, "Replace decoder without content");
        d->type = DEC_REPLACE;
        d->blen = strlen(c);
        if (!(d->b = dup_n(c, d->blen))) return oom();
        s = load_pattern(cJSON_GetObjectItemCaseSensitive(j, "pattern"), "Replace decoder", &d->a,
                         &d->alen, &d->re);
        if (s != JOULE_OK) return s;
        if (d->a && !d->alen)
            return joule_errorf(JOULE_ERR_UNSUPPORTED, "Replace decoder with an empty pattern");
    } else if (!strcmp(type, "ByteFallback")) {
        d->type = DEC_BYTEFALLBACK;
    } else if (!strcmp(type, "Fuse")) {
        d->type = DEC_FUSE;
    } else if (!strcmp(type, "Strip")) {
        d->type = DEC_STRIP;
        const char *c = jstr(j, "content");
        if (!c || utf8_one_char(c, &d->cp))
            return joule_errorf(JOULE_ERR_FORMAT, "Strip decoder content must be one character");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "start");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "stop");
        if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || a->valuedouble < 0 || b->valuedouble < 0 ||
            a->valuedouble > 1e6 || b->valuedouble > 1e6)
            return joule_errorf(JOULE_ERR_FORMAT, "Strip decoder start/stop");
        d->start = (int)a->valuedouble;
        d->stop = (int)b->valuedouble;
    } else if (!strcmp(type, "Metaspace")) {
        d->type = DEC_METASPACE;
        const char *r = jstr(j, "replacement");
        if (!r || utf8_one_char(r, &d->cp))
            return joule_errorf(JOULE_ERR_FORMAT, "Metaspace replacement must be one character");
        if ((s = parse_prepend(j, &d->prepend)) != JOULE_OK) return s;
    } else if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "decoders");
        if (!cJSON_IsArray(arr))
            return joule_errorf(JOULE_ERR_FORMAT, "Sequence decoder without decoders");
        d->type = DEC_SEQ;
        size_t k = (size_t)cJSON_GetArraySize(arr);
        d->kids = calloc(k ? k : 1, sizeof *d->kids);
        if (!d->kids) return oom();
        const cJSON *it;
        cJSON_ArrayForEach(it, arr)
        {
            s = load_dec(it, &d->kids[d->nkids], depth + 1);
            d->nkids++;
            if (s != JOULE_OK) return s;
        }
    } else {
        return joule_errorf(JOULE_ERR_UNSUPPORTED,
                            "decoder \"%s\" is not supported (supported: ByteLevel, Replace, "
                            "ByteFallback, Fuse, Strip, Metaspace, Sequence)",
                            type);
    }
    return JOULE_OK;
}

/* ---- model ------------------------------------------------------------------ */

static int pool_add(struct joule_tokenizer *t, size_t *cap, const char *s, size_t n, uint32_t *off)
{
    if (t->pool_len + n + 1 > UINT32_MAX) return -1;
    if (grow((void **)&t->pool, cap, t->pool_len + n + 1, 1)) return -1;
    memcpy(t->pool + t->pool_len, s, n);
    *off = (uint32_t)t->pool_len;
    t->pool_len += n;
    t->pool[t->pool_len++] = 0;
    return 0;
}

static enum joule_status merge_insert(struct mergemap *mm, int32_t a, int32_t b, int32_t rank,
                                      int32_t id)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mm->mask;
    for (;;) {
        struct mentry *e = &mm->e[h];
        if (e->rank < 0 || e->key == key) { /* a later duplicate wins */
            e->key = key;
            e->rank = rank;
            e->id = id;
            return JOULE_OK;
        }
        h = (h + 1) & mm->mask;
    }
}

static enum joule_status load_model(struct joule_tokenizer *t, const cJSON *m)
{
    const char *type = jstr(m, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(m, "merges");
    if (type && strcmp(type, "BPE"))
        return joule_errorf(JOULE_ERR_UNSUPPORTED, "model \"%s\" is not supported (only BPE)",
                            type);
    if (!type && !merges)
        return joule_errorf(JOULE_ERR_UNSUPPORTED, "model without a type and merges (only BPE)");
    if (!cJSON_IsObject(vocab)) return joule_errorf(JOULE_ERR_FORMAT, "model.vocab missing");
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble > 0.0)
        return joule_errorf(JOULE_ERR_UNSUPPORTED, "BPE dropout (random) is not supported");
    t->byte_fallback = jbool(m, "byte_fallback", 0);
    t->fuse_unk = jbool(m, "fuse_unk", 0);
    t->ignore_merges = jbool(m, "ignore_merges", 0);
    const char *cp = jstr(m, "continuing_subword_prefix");
    const char *es = jstr(m, "end_of_word_suffix");
    if (cp && *cp) {
        t->cont_prefix_len = strlen(cp);
        if (!(t->cont_prefix = dup_n(cp, t->cont_prefix_len))) return oom();
    }
    if (es && *es) {
        t->eow_suffix_len = strlen(es);
        if (!(t->eow_suffix = dup_n(es, t->eow_suffix_len))) return oom();
    }

    size_t pool_cap = 0;
    int64_t max_id = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab)
    {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 16777216.0 ||
            it->valuedouble != (double)(int32_t)it->valuedouble)
            return joule_errorf(JOULE_ERR_FORMAT, "model.vocab: bad id for \"%s\"", it->string);
        uint32_t off;
        size_t n = strlen(it->string);
        if (pool_add(t, &pool_cap, it->string, n, &off) ||
            strmap_add(&t->vocab, off, (uint32_t)n, (int32_t)it->valuedouble))
            return oom();
        if ((int64_t)it->valuedouble > max_id) max_id = (int64_t)it->valuedouble;
    }
    if (strmap_build(&t->vocab, t->pool)) return oom();
    t->n_ids = (size_t)(max_id + 1);

    const char *unk = jstr(m, "unk_token");
    t->unk_id = -1;
    if (unk) {
        t->unk_id = strmap_get(&t->vocab, t->pool, unk, strlen(unk));
        if (t->unk_id < 0) t->unk_id = -2; /* named but absent: an error when needed */
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_ids[b] = strmap_get(&t->vocab, t->pool, name, 6);
    }

    /* merges */
    size_t nm = cJSON_IsArray(merges) ? (size_t)cJSON_GetArraySize(merges) : 0;
    size_t cap = 16;
    while (cap < nm * 2 + 2)
        cap *= 2;
    t->merges.e = malloc(cap * sizeof *t->merges.e);
    if (!t->merges.e) return oom();
    for (size_t i = 0; i < cap; i++)
        t->merges.e[i].rank = -1;
    t->merges.mask = cap - 1;
    struct sbuf tmp = {0};
    int32_t rank = 0;
    cJSON_ArrayForEach(it, merges)
    {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(it)) {
            const char *s = it->valuestring, *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                free(tmp.p);
                return joule_errorf(JOULE_ERR_FORMAT, "merge \"%s\" is not \"a b\"", s);
            }
            a = s;
            al = (size_t)(sp - s);
            b = sp + 1;
            bl = strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            a = cJSON_GetArrayItem(it, 0)->valuestring;
            b = cJSON_GetArrayItem(it, 1)->valuestring;
            al = strlen(a);
            bl = strlen(b);
        } else {
            free(tmp.p);
            return joule_errorf(JOULE_ERR_FORMAT, "merge %d is neither \"a b\" nor [a, b]", rank);
        }
        int32_t ia = strmap_get(&t->vocab, t->pool, a, al);
        int32_t ib = strmap_get(&t->vocab, t->pool, b, bl);
        if (ia < 0 || ib < 0) {
            free(tmp.p);
            return joule_errorf(JOULE_ERR_FORMAT, "merge %d uses a token not in the vocabulary",
                                rank);
        }
        tmp.n = 0;
        size_t skip = t->cont_prefix_len;
        if (skip > bl) {
            free(tmp.p);
            return joule_errorf(JOULE_ERR_FORMAT, "merge %d: right part shorter than prefix", rank);
        }
        if (sbuf_put(&tmp, a, al) || sbuf_put(&tmp, b + skip, bl - skip)) {
            free(tmp.p);
            return oom();
        }
        int32_t ij = strmap_get(&t->vocab, t->pool, tmp.p, tmp.n);
        if (ij < 0) {
            free(tmp.p);
            return joule_errorf(JOULE_ERR_FORMAT, "merge %d: merged token not in the vocabulary",
                                rank);
        }
        merge_insert(&t->merges, ia, ib, rank, ij);
        rank++;
    }
    free(tmp.p);
    return JOULE_OK;
}

/* ---- added tokens ------------------------------------------------------------ */

static enum joule_status load_added(struct joule_tokenizer *t, const cJSON *arr)
{
    if (is_null_or_absent(arr)) return JOULE_OK;
    if (!cJSON_IsArray(arr)) return joule_errorf(JOULE_ERR_FORMAT, "added_tokens is not an array");
    size_t k = (size_t)cJSON_GetArraySize(arr);
    t->added = calloc(k ? k : 1, sizeof *t->added);
    if (!t->added) return oom();
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        const char *c = jstr(it, "content");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (!c || !cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > 16777216.0)
            return joule_errorf(JOULE_ERR_FORMAT, "added_tokens: entry without content or id");
        if (!*c) continue; /* HF ignores empty added tokens */
        struct added_token *a = &t->added[t->n_added++];
        a->len = strlen(c);
        if (!(a->content = dup_n(c, a->len))) return oom();
        a->id = (int32_t)id->valuedouble;
        a->special = jbool(it, "special", 0);
        a->normalized = jbool(it, "normalized", !a->special);
        a->single_word = jbool(it, "single_word", 0);
        a->lstrip = jbool(it, "lstrip", 0);
        a->rstrip = jbool(it, "rstrip", 0);
        if ((size_t)a->id + 1 > t->n_ids) t->n_ids = (size_t)a->id + 1;
    }
    return JOULE_OK;
}

static int32_t template_edge(const struct post *p, int leading)
{
    if (!p) return -1;
    if (p->type == PP_SEQ) {
        for (size_t i = 0; i < p->nkids; i++) {
            int32_t r = template_edge(&p->kids[i], leading);
            if (r >= 0) return r;
        }
        return -1;
    }
    if (p->type == PP_BERT || p->type == PP_ROBERTA) return leading ? p->cls : p->sep;
    if (p->type != PP_TEMPLATE) return -1;
    int seen_seq = 0;
    for (size_t i = 0; i < p->nitems; i++) {
        if (p->items[i].is_seq) {
            seen_seq = 1;
            continue;
        }
        if (leading && !seen_seq && p->items[i].nids) return p->items[i].ids[0];
        if (!leading && seen_seq && p->items[i].nids) return p->items[i].ids[0];
    }
    return -1;
}

static int trie_insert(struct trie *tr, const char *s, size_t n, int32_t token)
{
    if (!tr->n) {
        if (grow((void **)&tr->n, &tr->cap, 1, sizeof *tr->n)) return -1;
        tr->n[0] = (struct trie_node){-1, -1, -1, 0};
        tr->len = 1;
    }
    if (!n) return 0;
    tr->first[(unsigned char)s[0]] = 1;
    int32_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        int32_t c = tr->n[cur].child;
        while (c >= 0 && tr->n[c].byte != b)
            c = tr->n[c].sibling;
        if (c < 0) {
            if (tr->len >= INT32_MAX || grow((void **)&tr->n, &tr->cap, tr->len + 1, sizeof *tr->n))
                return -1;
            c = (int32_t)tr->len++;
            tr->n[c] = (struct trie_node){-1, tr->n[cur].child, -1, b};
            tr->n[cur].child = c;
        }
        cur = c;
    }
    /* two added tokens with the same match string: the first one listed wins */
    if (tr->n[cur].token < 0) tr->n[cur].token = token;
    return 0;
}

static enum joule_status finish(struct joule_tokenizer *t)
{
    size_t n = t->n_ids;
    t->id_off = malloc((n ? n : 1) * sizeof *t->id_off);
    t->id_len = malloc((n ? n : 1) * sizeof *t->id_len);
    t->added_of_id = malloc((n ? n : 1) * sizeof *t->added_of_id);
    if (!t->id_off || !t->id_len || !t->added_of_id) return oom();
    for (size_t i = 0; i < n; i++) {
        t->id_len[i] = UINT32_MAX;
        t->added_of_id[i] = -1;
    }
    for (size_t i = 0; i < t->vocab.n; i++) {
        const struct smentry *e = &t->vocab.e[i];
        t->id_off[e->val] = e->off;
        t->id_len[e->val] = e->len;
    }
    for (size_t i = 0; i < t->n_added; i++) {
        struct added_token *a = &t->added[i];
        t->added_of_id[a->id] = (int32_t)i;
        if (a->normalized && t->norm) {
            struct sbuf b = {0};
            enum joule_status s = tk_normalize(t->norm, a->content, a->len, &b);
            if (s != JOULE_OK) {
                free(b.p);
                return s;
            }
            a->norm = b.p ? b.p : dup_n("", 0);
            a->norm_len = b.n;
            if (!a->norm) return oom();
        }
    }
    for (size_t i = 0; i < t->n_added; i++) {
        const struct added_token *a = &t->added[i];
        int nz = a->normalized;
        const char *c = nz && a->norm ? a->norm : a->content;
        size_t cl = nz && a->norm ? a->norm_len : a->len;
        if (trie_insert(&t->trie[nz], c, cl, (int32_t)i)) return oom();
    }
    if (!t->cont_prefix && !t->eow_suffix) {
        t->char_id = malloc(CHAR_ID_LIMIT * sizeof *t->char_id);
        if (!t->char_id) return oom();
        for (size_t i = 0; i < CHAR_ID_LIMIT; i++)
            t->char_id[i] = -1;
        for (size_t i = 0; i < t->vocab.n; i++) { /* in order: a later duplicate wins */
            const struct smentry *e = &t->vocab.e[i];
            const char *s = t->pool + e->off;
            uint32_t cp;
            if (e->len && utf8_valid_prefix(s, e->len) == e->len &&
                (size_t)utf8_decode((const unsigned char *)s, e->len, &cp) == e->len &&
                cp < CHAR_ID_LIMIT)
                t->char_id[cp] = e->val;
        }
    }
    /* BOS/EOS: the special tokens around the template's sequence, else the usual names */
    t->bos_id = template_edge(t->post, 1);
    t->eos_id = template_edge(t->post, 0);
    static const char *bos_names[] = {"<s>", "<bos>", "<|begin_of_text|>", "<|startoftext|>",
                                      "<|endoftext|>"};
    static const char *eos_names[] = {"</s>", "<eos>", "<|end_of_text|>", "<|endoftext|>"};
    for (size_t k = 0; t->bos_id < 0 && k < sizeof bos_names / sizeof *bos_names; k++)
        t->bos_id = joule_tokenizer_token_id(t, bos_names[k]);
    for (size_t k = 0; t->eos_id < 0 && k < sizeof eos_names / sizeof *eos_names; k++)
        t->eos_id = joule_tokenizer_token_id(t, eos_names[k]);
    return JOULE_OK;
}

enum joule_status joule_tokenizer_load_from_memory(const char *json, size_t len,
                                                   struct joule_tokenizer **out)
{
    if (!out || (!json && len)) return joule_errorf(JOULE_ERR_INVALID_ARG, "null argument");
    *out = NULL;
    if (joule_json_has_nul_escape(json, len)) /* cJSON would cut the token at the NUL */
        return joule_errorf(JOULE_ERR_FORMAT, "tokenizer.json: a string holds \\u0000 (NUL), "
                                              "which no supported tokenizer uses");
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return joule_errorf(JOULE_ERR_FORMAT, "tokenizer.json: invalid JSON");
    struct joule_tokenizer *t = calloc(1, sizeof *t);
    enum joule_status s = JOULE_OK;
    if (!t) {
        cJSON_Delete(root);
        return oom();
    }
    if (!cJSON_IsObject(root)) {
        s = joule_errorf(JOULE_ERR_FORMAT, "tokenizer.json: not an object");
        goto done;
    }
    if (!is_null_or_absent(cJSON_GetObjectItemCaseSensitive(root, "truncation"))) {
        s = joule_errorf(JOULE_ERR_UNSUPPORTED, "tokenizer.json: truncation is not supported");
        goto done;
    }
    if (!is_null_or_absent(cJSON_GetObjectItemCaseSensitive(root, "padding"))) {
        s = joule_errorf(JOULE_ERR_UNSUPPORTED, "tokenizer.json: padding is not supported");
        goto done;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(m)) {
        s = joule_errorf(JOULE_ERR_FORMAT, "tokenizer.json: no model");
        goto done;
    }
    if ((s = load_model(t, m)) != JOULE_OK) goto done;
    if ((s = load_added(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"))) != JOULE_OK)
        goto done;
    const cJSON *c;
    if (!is_null_or_absent(c = cJSON_GetObjectItemCaseSensitive(root, "normalizer"))) {
        if (!(t->norm = calloc(1, sizeof *t->norm))) goto nomem;
        if ((s = load_norm(c, t->norm, 0)) != JOULE_OK) goto done;
    }
    if (!is_null_or_absent(c = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"))) {
        if (!(t->pretok = calloc(1, sizeof *t->pretok))) goto nomem;
        if ((s = load_pretok(c, t->pretok, 0)) != JOULE_OK) goto done;
    }
    if (!is_null_or_absent(c = cJSON_GetObjectItemCaseSensitive(root, "post_processor"))) {
        if (!(t->post = calloc(1, sizeof *t->post))) goto nomem;
        if ((s = load_post(t, c, t->post, 0)) != JOULE_OK) goto done;
    }
    if (!is_null_or_absent(c = cJSON_GetObjectItemCaseSensitive(root, "decoder"))) {
        if (!(t->dec = calloc(1, sizeof *t->dec))) goto nomem;
        if ((s = load_dec(c, t->dec, 0)) != JOULE_OK) goto done;
    }
    s = finish(t);
    goto done;
nomem:
    s = oom();
done:
    cJSON_Delete(root);
    if (s != JOULE_OK) {
        joule_tokenizer_free(t);
        return s;
    }
    *out = t;
    return JOULE_OK;
}

enum joule_status joule_tokenizer_load(const char *path, struct joule_tokenizer **out)
{
    if (!path || !out) return joule_errorf(JOULE_ERR_INVALID_ARG, "null argument");
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    enum joule_status s = joule_read_file(path, (size_t)1 << 30, &text, &len);
    if (s != JOULE_OK) return s;
    s = joule_tokenizer_load_from_memory(text, len, out);
    free(text);
    if (s != JOULE_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", joule_last_error());
        return joule_errorf(s, "%s: %s", path, msg);
    }
    return JOULE_OK;
}

size_t joule_tokenizer_vocab_size(const struct joule_tokenizer *t)
{
    return t ? t->n_ids : 0;
}

int32_t joule_tokenizer_bos_id(const struct joule_tokenizer *t)
{
    return t ? t->bos_id : -1;
}

int32_t joule_tokenizer_eos_id(const struct joule_tokenizer *t)
{
    return t ? t->eos_id : -1;
}

int32_t joule_tokenizer_token_id(const struct joule_tokenizer *t, const char *token)
{
    if (!t || !token) return -1;
    size_t n = strlen(token);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && !memcmp(t->added[i].content, token, n)) return t->added[i].id;
    return strmap_get(&t->vocab, t->pool, token, n);
}
