/* Unicode helpers: categories, White_Space, UTF-8 repair, NFC, case folding. */
#include "tokenizer/unicode.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode_table.h"

_Static_assert((int)UCAT_COUNT == (int)UNI_CAT_COUNT, "category order");

const char *uni_version(void)
{
    return UNICODE_TABLE_VERSION;
}

enum uni_cat uni_category(uint32_t cp)
{
    size_t lo = 0, hi = sizeof ucat_ranges / sizeof ucat_ranges[0];
    if (cp > 0x10FFFF) return UNI_Cn;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < ucat_ranges[mid].lo)
            hi = mid;
        else if (cp > ucat_ranges[mid].hi)
            lo = mid + 1;
        else
            return (enum uni_cat)ucat_ranges[mid].cat;
    }
    return UNI_Cn;
}

int uni_is_white_space(uint32_t cp)
{
    if (cp < 0x80) return (cp >= 9 && cp <= 13) || cp == ' ';
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int uni_is_alnum(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    return (UNI_MASK(uni_category(cp)) & (UNI_MASK_L | UNI_MASK_N)) != 0;
}

int uni_is_word(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
               cp == '_';
    if (cp == 0x200C || cp == 0x200D) return 1;
    /* Other_Alphabetic symbols (So): circled and squared Latin letters */
    if ((cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) ||
        (cp >= 0x1F150 && cp <= 0x1F169) || (cp >= 0x1F170 && cp <= 0x1F189))
        return 1;
    return (UNI_MASK(uni_category(cp)) & (UNI_MASK_L | UNI_MASK_M | UNI_MASK(UNI_Nd) |
                                          UNI_MASK(UNI_Nl) | UNI_MASK(UNI_Pc))) != 0;
}

uint32_t uni_fold_next(uint32_t cp)
{
    size_t lo = 0, hi = sizeof ufold_table / sizeof ufold_table[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < ufold_table[mid].cp)
            hi = mid;
        else if (cp > ufold_table[mid].cp)
            lo = mid + 1;
        else
            return ufold_table[mid].next;
    }
    return cp;
}

int utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 character at s[0..n), or -k when only the first k
 * bytes form a valid prefix of one (the maximal subpart to replace; k >= 1). */
static int utf8_check(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return -1;
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= n) return -i;
        unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return -i;
    }
    return need + 1;
}

size_t utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        int k = utf8_check(u + i, n - i);
        if (k < 0) return i;
        i += (size_t)k;
    }
    return n;
}

enum joule_status utf8_sanitize(const char *s, size_t n, char **out, size_t *out_len)
{
    size_t ok = utf8_valid_prefix(s, n);
    /* Worst case: every byte becomes a 3-byte U+FFFD. */
    size_t cap = ok == n ? n + 1 : ok + (n - ok) * 3 + 1;
    if (n > (SIZE_MAX - 1) / 3) return joule_errorf(JOULE_ERR_NOMEM, "text too long");
    char *buf = malloc(cap);
    if (!buf) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    if (ok) memcpy(buf, s, ok);
    size_t o = ok, i = ok;
    const unsigned char *u = (const unsigned char *)s;
    while (i < n) {
        int k = u[i] < 0x80 ? 1 : utf8_check(u + i, n - i);
        if (k > 0) {
            memcpy(buf + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += (size_t)(-k);
        }
    }
    buf[o] = 0;
    *out = buf;
    *out_len = o;
    return JOULE_OK;
}

/* ---- NFC ---------------------------------------------------------------- */

enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7 };
enum { LCOUNT = 19, VCOUNT = 21, TCOUNT = 28, NCOUNT = VCOUNT * TCOUNT, SCOUNT = LCOUNT * NCOUNT };

static int ccc_of(uint32_t cp)
{
    if (cp < 0x300) return 0;
    size_t lo = 0, hi = sizeof uccc_ranges / sizeof uccc_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < uccc_ranges[mid].lo)
            hi = mid;
        else if (cp > uccc_ranges[mid].hi)
            lo = mid + 1;
        else
            return uccc_ranges[mid].ccc;
    }
    return 0;
}

static const struct udecomp *decomp_of(uint32_t cp)
{
    size_t lo = 0, hi = sizeof udecomp_table / sizeof udecomp_table[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < udecomp_table[mid].cp)
            hi = mid;
        else if (cp > udecomp_table[mid].cp)
            lo = mid + 1;
        else
            return &udecomp_table[mid];
    }
    return NULL;
}

static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT)
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0 && b > TBASE &&
        b < TBASE + TCOUNT)
        return a + (b - TBASE);
    size_t lo = 0, hi = sizeof ucomp_table / sizeof ucomp_table[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct ucomp *c = &ucomp_table[mid];
        if (a < c->a || (a == c->a && b < c->b))
            hi = mid;
        else if (a > c->a || b > c->b)
            lo = mid + 1;
        else
            return c->cp;
    }
    return 0;
}

struct cpbuf {
    uint32_t *v;
    size_t n, cap;
};

static int cp_push(struct cpbuf *b, uint32_t cp)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        uint32_t *nv = realloc(b->v, nc * sizeof *nv);
        if (!nv) return -1;
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = cp;
    return 0;
}

static int decompose(struct cpbuf *b, uint32_t cp, int depth)
{
    if (cp >= SBASE && cp < SBASE + SCOUNT) {
        uint32_t si = cp - SBASE;
        if (cp_push(b, LBASE + si / NCOUNT) || cp_push(b, VBASE + (si % NCOUNT) / TCOUNT))
            return -1;
        if (si % TCOUNT && cp_push(b, TBASE + si % TCOUNT)) return -1;
        return 0;
    }
    const struct udecomp *d = cp >= 0xC0 && depth < 8 ? decomp_of(cp) : NULL;
    if (!d) return cp_push(b, cp);
    if (decompose(b, d->a, depth + 1)) return -1;
    return d->b ? decompose(b, d->b, depth + 1) : 0;
}

enum joule_status uni_nfc(const char *s, size_t n, char **out, size_t *out_len)
{
    size_t i;
    for (i = 0; i < n && (unsigned char)s[i] < 0x80; i++) {
    }
    if (i == n) {
        char *c = malloc(n + 1);
        if (!c) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
        memcpy(c, s, n);
        c[n] = 0;
        *out = c;
        *out_len = n;
        return JOULE_OK;
    }
    struct cpbuf b = {0};
    const unsigned char *u = (const unsigned char *)s;
    for (i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)utf8_decode(u + i, n - i, &cp);
        if (decompose(&b, cp, 0)) goto oom;
    }
    /* canonical ordering: stable insertion sort of each run of non-starters */
    for (size_t k = 1; k < b.n; k++) {
        int c = ccc_of(b.v[k]);
        if (!c) continue;
        size_t j = k;
        uint32_t x = b.v[k];
        while (j > 0 && ccc_of(b.v[j - 1]) > c) {
            b.v[j] = b.v[j - 1];
            j--;
        }
        b.v[j] = x;
    }
    /* canonical composition */
    if (b.n) {
        size_t starter = 0, w = 1;
        int last = ccc_of(b.v[0]) ? 256 : 0;
        for (size_t k = 1; k < b.n; k++) {
            uint32_t ch = b.v[k];
            int c = ccc_of(ch);
            uint32_t comp = compose_pair(b.v[starter], ch);
            if (comp && (last < c || last == 0) && (last != 256)) {
                b.v[starter] = comp;
                continue;
            }
            if (c == 0) starter = w;
            last = c;
            b.v[w++] = ch;
        }
        b.n = w;
    }
    char *o = malloc(b.n * 4 + 1);
    if (!o) goto oom;
    size_t len = 0;
    for (size_t k = 0; k < b.n; k++)
        len += (size_t)utf8_encode(b.v[k], o + len);
    o[len] = 0;
    free(b.v);
    *out = o;
    *out_len = len;
    return JOULE_OK;
oom:
    free(b.v);
    return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
}
