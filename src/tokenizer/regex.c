/* Backtracking regex engine over a parsed pattern (see regex.h). */
#include "tokenizer/regex.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode.h"

/* Limits that turn pathological patterns into a clear error instead of a stack
 * overflow or an endless search: recursion depth of the matcher, pattern size,
 * and matcher steps per tk_regex_find call. */
enum { RX_MAX_DEPTH = 2000, RX_MAX_NODES = 100000 };
#define RX_MAX_STEPS 100000000L

/* ---- character classes -------------------------------------------------- */

struct rx_class {
    uint32_t ascii[4]; /* membership of cp < 128, precomputed (after negation) */
    int neg;
    uint32_t catmask;            /* general categories included */
    int white, digit, word, hex; /* \s \d \w \h included */
    uint32_t (*ranges)[2];
    size_t nranges, capranges;
    int *subs; /* nested classes (indices), included when they match */
    size_t nsubs, capsubs;
};

enum ast_type { A_CLASS, A_SEQ, A_ALT, A_REPEAT, A_LOOK, A_EMPTY };
enum rep_mode { REP_GREEDY, REP_LAZY, REP_POSSESSIVE };

/* What can start a match: ASCII first characters, whether a non-ASCII one can,
 * and whether the node can match the empty string (then nothing is excluded). */
struct first {
    uint32_t ascii[4];
    int nonascii, nullable;
};

struct ast {
    enum ast_type type;
    struct first *bf;  /* A_ALT: per branch, to skip branches that cannot start here */
    int cls;           /* A_CLASS */
    struct ast **kids; /* A_SEQ, A_ALT; A_REPEAT and A_LOOK use kids[0] */
    size_t n, cap;
    int min, max; /* A_REPEAT (max -1 = unbounded) */
    enum rep_mode mode;
    int neg; /* A_LOOK: negative lookahead */
};

struct tk_regex {
    struct rx_class *classes;
    size_t nclasses, capclasses;
    struct ast **nodes; /* every node, for freeing */
    size_t nnodes, capnodes;
    struct ast *root;
    struct first root_first;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

static int class_has(const struct tk_regex *re, const struct rx_class *c, uint32_t cp);

/* The value of an ASCII hex digit, or -1. */
static int hex_val(uint32_t c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (int)((c | 0x20) - 'a' + 10);
    return -1;
}

static int class_has_raw(const struct tk_regex *re, const struct rx_class *c, uint32_t cp)
{
    for (size_t i = 0; i < c->nranges; i++)
        if (cp >= c->ranges[i][0] && cp <= c->ranges[i][1]) return 1;
    if (c->white && uni_is_white_space(cp)) return 1;
    if (c->hex && hex_val(cp) >= 0) return 1;
    if (c->word && uni_is_word(cp)) return 1;
    if (c->catmask || c->digit) {
        enum uni_cat k = uni_category(cp);
        if (c->catmask & UNI_MASK(k)) return 1;
        if (c->digit && k == UNI_Nd) return 1;
    }
    for (size_t i = 0; i < c->nsubs; i++)
        if (class_has(re, &re->classes[c->subs[i]], cp)) return 1;
    return 0;
}

static int class_has(const struct tk_regex *re, const struct rx_class *c, uint32_t cp)
{
    if (cp < 128) return (c->ascii[cp >> 5] >> (cp & 31)) & 1;
    return class_has_raw(re, c, cp) ^ c->neg;
}

/* ---- parser -------------------------------------------------------------- */

struct parser {
    struct tk_regex *re;
    const unsigned char *p, *end;
    int icase;
    enum joule_status err;
    const char *pattern;
};

static enum joule_status perr(struct parser *ps, enum joule_status s, const char *what)
{
    if (ps->err == JOULE_OK)
        ps->err = joule_errorf(s, "regex /%s/: %s at offset %zu", ps->pattern, what,
                               (size_t)(ps->p - (const unsigned char *)ps->pattern));
    return ps->err;
}

static struct ast *new_node(struct parser *ps, enum ast_type t)
{
    struct tk_regex *re = ps->re;
    if (re->nnodes >= RX_MAX_NODES) {
        perr(ps, JOULE_ERR_LIMIT, "pattern too large");
        return NULL;
    }
    if (grow((void **)&re->nodes, &re->capnodes, re->nnodes + 1, sizeof *re->nodes)) goto oom;
    struct ast *a = calloc(1, sizeof *a);
    if (!a) goto oom;
    a->type = t;
    re->nodes[re->nnodes++] = a;
    return a;
oom:
    perr(ps, JOULE_ERR_NOMEM, "out of memory");
    return NULL;
}

static int add_kid(struct parser *ps, struct ast *a, struct ast *k)
{
    if (grow((void **)&a->kids, &a->cap, a->n + 1, sizeof *a->kids)) {
        perr(ps, JOULE_ERR_NOMEM, "out of memory");
        return -1;
    }
    a->kids[a->n++] = k;
    return 0;
}

static int new_class(struct parser *ps)
{
    struct tk_regex *re = ps->re;
    if (re->nclasses >= RX_MAX_NODES ||
        grow((void **)&re->classes, &re->capclasses, re->nclasses + 1, sizeof *re->classes)) {
        perr(ps, JOULE_ERR_NOMEM, "out of memory");
        return -1;
    }
    memset(&re->classes[re->nclasses], 0, sizeof re->classes[0]);
    return (int)re->nclasses++;
}

static int class_add_range(struct parser *ps, int ci, uint32_t lo, uint32_t hi)
{
    struct rx_class *c = &ps->re->classes[ci];
    if (grow((void **)&c->ranges, &c->capranges, c->nranges + 1, sizeof *c->ranges)) {
        perr(ps, JOULE_ERR_NOMEM, "out of memory");
        return -1;
    }
    c->ranges[c->nranges][0] = lo;
    c->ranges[c->nranges][1] = hi;
    c->nranges++;
    return 0;
}

/* Add cp (and, under (?i), every character of its case-folding orbit). */
static int class_add_char(struct parser *ps, int ci, uint32_t cp)
{
    if (class_add_range(ps, ci, cp, cp)) return -1;
    if (ps->icase)
        for (uint32_t x = uni_fold_next(cp); x != cp; x = uni_fold_next(x))
            if (class_add_range(ps, ci, x, x)) return -1;
    return 0;
}

static int class_add_sub(struct parser *ps, int ci, int sub)
{
    struct rx_class *c = &ps->re->classes[ci];
    if (grow((void **)&c->subs, &c->capsubs, c->nsubs + 1, sizeof *c->subs)) {
        perr(ps, JOULE_ERR_NOMEM, "out of memory");
        return -1;
    }
    c->subs[c->nsubs++] = sub;
    return 0;
}

static void class_finish(struct tk_regex *re, int ci)
{
    struct rx_class *c = &re->classes[ci];
    memset(c->ascii, 0, sizeof c->ascii);
    for (uint32_t cp = 0; cp < 128; cp++)
        if (class_has_raw(re, c, cp) ^ c->neg) c->ascii[cp >> 5] |= 1u << (cp & 31);
}

static int next_cp(struct parser *ps, uint32_t *cp)
{
    if (ps->p >= ps->end) return -1;
    size_t n = (size_t)(ps->end - ps->p);
    if (utf8_valid_prefix((const char *)ps->p, n < 4 ? n : 4) == 0) return -1;
    ps->p += utf8_decode(ps->p, n, cp);
    return 0;
}

static const struct {
    const char *name;
    uint32_t mask;
} prop_names[] = {
    {"L", UNI_MASK_L},
    {"Letter", UNI_MASK_L},
    {"LC", UNI_MASK(UNI_Lu) | UNI_MASK(UNI_Ll) | UNI_MASK(UNI_Lt)},
    {"L&", UNI_MASK(UNI_Lu) | UNI_MASK(UNI_Ll) | UNI_MASK(UNI_Lt)},
    {"Lu", UNI_MASK(UNI_Lu)},
    {"Uppercase_Letter", UNI_MASK(UNI_Lu)},
    {"Ll", UNI_MASK(UNI_Ll)},
    {"Lowercase_Letter", UNI_MASK(UNI_Ll)},
    {"Lt", UNI_MASK(UNI_Lt)},
    {"Titlecase_Letter", UNI_MASK(UNI_Lt)},
    {"Lm", UNI_MASK(UNI_Lm)},
    {"Modifier_Letter", UNI_MASK(UNI_Lm)},
    {"Lo", UNI_MASK(UNI_Lo)},
    {"Other_Letter", UNI_MASK(UNI_Lo)},
    {"M", UNI_MASK_M},
    {"Mark", UNI_MASK_M},
    {"Combining_Mark", UNI_MASK_M},
    {"Mn", UNI_MASK(UNI_Mn)},
    {"Nonspacing_Mark", UNI_MASK(UNI_Mn)},
    {"Mc", UNI_MASK(UNI_Mc)},
    {"Spacing_Mark", UNI_MASK(UNI_Mc)},
    {"Me", UNI_MASK(UNI_Me)},
    {"Enclosing_Mark", UNI_MASK(UNI_Me)},
    {"N", UNI_MASK_N},
    {"Number", UNI_MASK_N},
    {"Nd", UNI_MASK(UNI_Nd)},
    {"Decimal_Number", UNI_MASK(UNI_Nd)},
    {"Nl", UNI_MASK(UNI_Nl)},
    {"Letter_Number", UNI_MASK(UNI_Nl)},
    {"No", UNI_MASK(UNI_No)},
    {"Other_Number", UNI_MASK(UNI_No)},
    {"P", UNI_MASK(UNI_Pc) | UNI_MASK(UNI_Pd) | UNI_MASK(UNI_Ps) | UNI_MASK(UNI_Pe) |
              UNI_MASK(UNI_Pi) | UNI_MASK(UNI_Pf) | UNI_MASK(UNI_Po)},
    {"Punctuation", UNI_MASK(UNI_Pc) | UNI_MASK(UNI_Pd) | UNI_MASK(UNI_Ps) | UNI_MASK(UNI_Pe) |
                        UNI_MASK(UNI_Pi) | UNI_MASK(UNI_Pf) | UNI_MASK(UNI_Po)},
    {"Pc", UNI_MASK(UNI_Pc)},
    {"Pd", UNI_MASK(UNI_Pd)},
    {"Ps", UNI_MASK(UNI_Ps)},
    {"Pe", UNI_MASK(UNI_Pe)},
    {"Pi", UNI_MASK(UNI_Pi)},
    {"Pf", UNI_MASK(UNI_Pf)},
    {"Po", UNI_MASK(UNI_Po)},
    {"S", UNI_MASK(UNI_Sm) | UNI_MASK(UNI_Sc) | UNI_MASK(UNI_Sk) | UNI_MASK(UNI_So)},
    {"Symbol", UNI_MASK(UNI_Sm) | UNI_MASK(UNI_Sc) | UNI_MASK(UNI_Sk) | UNI_MASK(UNI_So)},
    {"Sm", UNI_MASK(UNI_Sm)},
    {"Sc", UNI_MASK(UNI_Sc)},
    {"Sk", UNI_MASK(UNI_Sk)},
    {"So", UNI_MASK(UNI_So)},
    {"Z", UNI_MASK(UNI_Zs) | UNI_MASK(UNI_Zl) | UNI_MASK(UNI_Zp)},
    {"Separator", UNI_MASK(UNI_Zs) | UNI_MASK(UNI_Zl) | UNI_MASK(UNI_Zp)},
    {"Zs", UNI_MASK(UNI_Zs)},
    {"Zl", UNI_MASK(UNI_Zl)},
    {"Zp", UNI_MASK(UNI_Zp)},
    {"C",
     UNI_MASK(UNI_Cc) | UNI_MASK(UNI_Cf) | UNI_MASK(UNI_Cs) | UNI_MASK(UNI_Co) | UNI_MASK(UNI_Cn)},
    {"Other",
     UNI_MASK(UNI_Cc) | UNI_MASK(UNI_Cf) | UNI_MASK(UNI_Cs) | UNI_MASK(UNI_Co) | UNI_MASK(UNI_Cn)},
    {"Cc", UNI_MASK(UNI_Cc)},
    {"Control", UNI_MASK(UNI_Cc)},
    {"Cf", UNI_MASK(UNI_Cf)},
    {"Format", UNI_MASK(UNI_Cf)},
    {"Cs", UNI_MASK(UNI_Cs)},
    {"Co", UNI_MASK(UNI_Co)},
    {"Cn", UNI_MASK(UNI_Cn)},
    {"Unassigned", UNI_MASK(UNI_Cn)},
};

/* Parse what follows a backslash into a new class index (or a single literal
 * in *lit, returning -2). Returns -1 on error. */
static int parse_escape(struct parser *ps, uint32_t *lit)
{
    uint32_t c;
    if (next_cp(ps, &c)) {
        perr(ps, JOULE_ERR_FORMAT, "trailing backslash");
        return -1;
    }
    int ci;
    switch (c) {
    case 't':
        *lit = '\t';
        return -2;
    case 'n':
        *lit = '\n';
        return -2;
    case 'r':
        *lit = '\r';
        return -2;
    case 'f':
        *lit = '\f';
        return -2;
    case 'v':
        *lit = '\v';
        return -2;
    case 'a':
        *lit = 7;
        return -2;
    case 'e':
        *lit = 27;
        return -2;
    case 's':
    case 'S':
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 'h':
    case 'H':
        if ((ci = new_class(ps)) < 0) return -1;
        {
            struct rx_class *k = &ps->re->classes[ci];
            uint32_t lc = c | 0x20;
            if (lc == 's') k->white = 1;
            if (lc == 'd') k->digit = 1;
            if (lc == 'w') k->word = 1;
            if (lc == 'h') k->hex = 1;
            k->neg = c != lc;
        }
        class_finish(ps->re, ci);
        return ci;
    case 'p':
    case 'P': {
        if (ps->icase) {
            perr(ps, JOULE_ERR_UNSUPPORTED, "\\p{...} inside (?i) is not supported");
            return -1;
        }
        int neg = c == 'P';
        char name[40];
        size_t nl = 0;
        if (ps->p < ps->end && *ps->p == '{') {
            ps->p++;
            if (ps->p < ps->end && *ps->p == '^') {
                neg = !neg;
                ps->p++;
            }
            while (ps->p < ps->end && *ps->p != '}' && nl + 1 < sizeof name)
                name[nl++] = (char)*ps->p++;
            if (ps->p >= ps->end || *ps->p != '}') {
                perr(ps, JOULE_ERR_FORMAT, "unterminated \\p{");
                return -1;
            }
            ps->p++;
        } else if (ps->p < ps->end) {
            name[nl++] = (char)*ps->p++;
        }
        name[nl] = 0;
        uint32_t mask = 0;
        for (size_t i = 0; i < sizeof prop_names / sizeof prop_names[0]; i++)
            if (!strcmp(prop_names[i].name, name)) mask = prop_names[i].mask;
        if (!mask) {
            char msg[96];
            snprintf(msg, sizeof msg, "unsupported Unicode property \\p{%s}", name);
            perr(ps, JOULE_ERR_UNSUPPORTED, msg);
            return -1;
        }
        if ((ci = new_class(ps)) < 0) return -1;
        ps->re->classes[ci].catmask = mask;
        ps->re->classes[ci].neg = neg;
        class_finish(ps->re, ci);
        return ci;
    }
    case 'x': {
        uint32_t v = 0;
        int nd = 0;
        if (ps->p < ps->end && *ps->p == '{') {
            ps->p++;
            while (ps->p < ps->end && *ps->p != '}' && nd < 8) {
                unsigned char h = *ps->p++;
                int d = hex_val(h);
                if (d < 0) break;
                v = v * 16 + (uint32_t)d;
                nd++;
            }
            if (ps->p >= ps->end || *ps->p != '}' || !nd) {
                perr(ps, JOULE_ERR_FORMAT, "bad \\x{...}");
                return -1;
            }
            ps->p++;
        } else {
            while (ps->p < ps->end && nd < 2) {
                unsigned char h = *ps->p;
                int d = hex_val(h);
                if (d < 0) break;
                ps->p++;
                v = v * 16 + (uint32_t)d;
                nd++;
            }
            if (!nd) {
                perr(ps, JOULE_ERR_FORMAT, "bad \\x");
                return -1;
            }
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
            perr(ps, JOULE_ERR_FORMAT, "code point out of range");
            return -1;
        }
        *lit = v;
        return -2;
    }
    case 'u': {
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) {
            unsigned char h = ps->p < ps->end ? *ps->p : 0;
            int d = hex_val(h);
            if (d < 0) {
                perr(ps, JOULE_ERR_FORMAT, "bad \\u");
                return -1;
            }
            ps->p++;
            v = v * 16 + (uint32_t)d;
        }
        if (v >= 0xD800 && v <= 0xDFFF) {
            perr(ps, JOULE_ERR_UNSUPPORTED, "surrogate escape");
            return -1;
        }
        *lit = v;
        return -2;
    }
    default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            char msg[64];
            snprintf(msg, sizeof msg, "unsupported escape \\%c", (char)c);
            perr(ps, JOULE_ERR_UNSUPPORTED, msg);
            return -1;
        }
        *lit = c;
        return -2;
    }
}

/* Parse a bracket class; ps->p is just after '['. Returns the class index or -1. */
static int parse_class(struct parser *ps, int depth)
{
    if (depth > 32) {
        perr(ps, JOULE_ERR_LIMIT, "classes nested too deeply");
        return -1;
    }
    int ci = new_class(ps);
    if (ci < 0) return -1;
    if (ps->p < ps->end && *ps->p == '^') {
        ps->re->classes[ci].neg = 1;
        ps->p++;
    }
    int first = 1;
    for (;;) {
        if (ps->p >= ps->end) {
            perr(ps, JOULE_ERR_FORMAT, "unterminated character class");
            return -1;
        }
        unsigned char ch = *ps->p;
        if (ch == ']' && !first) {
            ps->p++;
            break;
        }
        first = 0;
        if (ch == '[') {
            if (ps->p + 1 < ps->end && ps->p[1] == ':') {
                perr(ps, JOULE_ERR_UNSUPPORTED, "POSIX bracket expression");
                return -1;
            }
            ps->p++;
            int sub = parse_class(ps, depth + 1);
            if (sub < 0 || class_add_sub(ps, ci, sub)) return -1;
            continue;
        }
        if (ch == '&' && ps->p + 1 < ps->end && ps->p[1] == '&') {
            perr(ps, JOULE_ERR_UNSUPPORTED, "class intersection &&");
            return -1;
        }
        uint32_t lo;
        if (ch == '\\') {
            ps->p++;
            int sub = parse_escape(ps, &lo);
            if (sub == -1) return -1;
            if (sub >= 0) {
                if (class_add_sub(ps, ci, sub)) return -1;
                continue;
            }
        } else if (next_cp(ps, &lo)) {
            perr(ps, JOULE_ERR_FORMAT, "invalid UTF-8 in pattern");
            return -1;
        }
        /* a range? */
        if (ps->p + 1 < ps->end && *ps->p == '-' && ps->p[1] != ']') {
            ps->p++;
            uint32_t hi;
            if (*ps->p == '\\') {
                ps->p++;
                int sub = parse_escape(ps, &hi);
                if (sub != -2) {
                    if (sub >= 0) perr(ps, JOULE_ERR_UNSUPPORTED, "class escape as range end");
                    return -1;
                }
            } else if (*ps->p == '[') {
                perr(ps, JOULE_ERR_UNSUPPORTED, "nested class as range end");
                return -1;
            } else if (next_cp(ps, &hi)) {
                perr(ps, JOULE_ERR_FORMAT, "invalid UTF-8 in pattern");
                return -1;
            }
            if (hi < lo) {
                perr(ps, JOULE_ERR_FORMAT, "empty range in class");
                return -1;
            }
            if (ps->icase && hi - lo < 2048) {
                for (uint32_t x = lo; x <= hi; x++)
                    if (class_add_char(ps, ci, x)) return -1;
            } else {
                if (ps->icase) {
                    perr(ps, JOULE_ERR_UNSUPPORTED, "large range inside (?i)");
                    return -1;
                }
                if (class_add_range(ps, ci, lo, hi)) return -1;
            }
        } else if (class_add_char(ps, ci, lo)) {
            return -1;
        }
    }
    class_finish(ps->re, ci);
    return ci;
}

static struct ast *parse_alt(struct parser *ps, int depth);

static struct ast *class_node(struct parser *ps, int ci)
{
    if (ci < 0) return NULL;
    struct ast *a = new_node(ps, A_CLASS);
    if (a) a->cls = ci;
    return a;
}

static int parse_int(struct parser *ps, int *v)
{
    int nd = 0;
    long x = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        x = x * 10 + (*ps->p++ - '0');
        if (x > 100000) return -1;
        nd++;
    }
    *v = (int)x;
    return nd;
}

static struct ast *parse_atom(struct parser *ps, int depth)
{
    unsigned char ch = *ps->p;
    if (ch == '(') {
        ps->p++;
        int saved = ps->icase;
        struct ast *r;
        if (ps->p < ps->end && *ps->p == '?') {
            ps->p++;
            unsigned char k = ps->p < ps->end ? *ps->p : 0;
            if (k == ':') {
                ps->p++;
                r = parse_alt(ps, depth + 1);
            } else if (k == '=' || k == '!') {
                ps->p++;
                struct ast *inner = parse_alt(ps, depth + 1);
                if (!inner) return NULL;
                r = new_node(ps, A_LOOK);
                if (!r || add_kid(ps, r, inner)) return NULL;
                r->neg = k == '!';
            } else if (k == 'i' || k == '-') {
                int on = 1;
                while (ps->p < ps->end && (*ps->p == 'i' || *ps->p == '-')) {
                    if (*ps->p == '-')
                        on = 0;
                    else
                        ps->icase = on;
                    ps->p++;
                }
                if (ps->p < ps->end && *ps->p == ')') {
                    /* (?i) applies to the rest of the enclosing group */
                    ps->p++;
                    struct ast *e = new_node(ps, A_EMPTY);
                    return e;
                }
                if (ps->p >= ps->end || *ps->p != ':') {
                    perr(ps, JOULE_ERR_UNSUPPORTED, "inline option other than i");
                    return NULL;
                }
                ps->p++;
                r = parse_alt(ps, depth + 1);
                ps->icase = saved;
            } else {
                perr(ps, JOULE_ERR_UNSUPPORTED,
                     "group kind (lookbehind, atomic, named or option group)");
                return NULL;
            }
        } else {
            r = parse_alt(ps, depth + 1);
        }
        ps->icase = saved;
        if (!r) return NULL;
        if (ps->p >= ps->end || *ps->p != ')') {
            perr(ps, JOULE_ERR_FORMAT, "missing )");
            return NULL;
        }
        ps->p++;
        return r;
    }
    if (ch == '[') {
        ps->p++;
        return class_node(ps, parse_class(ps, 0));
    }
    if (ch == '.') {
        ps->p++;
        int ci = new_class(ps);
        if (ci < 0) return NULL;
        ps->re->classes[ci].neg = 1;
        if (class_add_range(ps, ci, '\n', '\n')) return NULL;
        class_finish(ps->re, ci);
        return class_node(ps, ci);
    }
    if (ch == '^' || ch == '$') {
        perr(ps, JOULE_ERR_UNSUPPORTED, "anchors ^ and $");
        return NULL;
    }
    if (ch == '*' || ch == '+' || ch == '?') {
        perr(ps, JOULE_ERR_FORMAT, "quantifier without operand");
        return NULL;
    }
    uint32_t lit;
    if (ch == '\\') {
        ps->p++;
        if (ps->p < ps->end && strchr("bBAzZGkgK123456789", *ps->p)) {
            perr(ps, JOULE_ERR_UNSUPPORTED, "anchor, backreference or subroutine escape");
            return NULL;
        }
        int ci = parse_escape(ps, &lit);
        if (ci == -1) return NULL;
        if (ci >= 0) return class_node(ps, ci);
    } else if (next_cp(ps, &lit)) {
        perr(ps, JOULE_ERR_FORMAT, "invalid UTF-8 in pattern");
        return NULL;
    }
    int ci = new_class(ps);
    if (ci < 0 || class_add_char(ps, ci, lit)) return NULL;
    class_finish(ps->re, ci);
    return class_node(ps, ci);
}

/* Parse a quantifier after an atom, if any. Returns the (possibly wrapped) node. */
static struct ast *parse_quant(struct parser *ps, struct ast *atom)
{
    if (ps->p >= ps->end) return atom;
    unsigned char ch = *ps->p;
    int min, max;
    if (ch == '*') {
        min = 0, max = -1;
        ps->p++;
    } else if (ch == '+') {
        min = 1, max = -1;
        ps->p++;
    } else if (ch == '?') {
        min = 0, max = 1;
        ps->p++;
    } else if (ch == '{') {
        const unsigned char *save = ps->p;
        ps->p++;
        int a = 0, b = -1;
        int na = parse_int(ps, &a);
        if (na < 0) {
            perr(ps, JOULE_ERR_LIMIT, "repeat count too large");
            return NULL;
        }
        int ok = 0;
        if (ps->p < ps->end && *ps->p == '}' && na > 0) {
            b = a;
            ok = 1;
        } else if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            int nb = parse_int(ps, &b);
            if (nb < 0) {
                perr(ps, JOULE_ERR_LIMIT, "repeat count too large");
                return NULL;
            }
            if (nb == 0) b = -1;
            if (ps->p < ps->end && *ps->p == '}' && (na > 0 || nb > 0)) ok = 1;
        }
        if (!ok) { /* not an interval: a literal '{' (Oniguruma) */
            ps->p = save;
            return atom;
        }
        ps->p++;
        min = a;
        max = b;
        if (max >= 0 && max < min) {
            perr(ps, JOULE_ERR_FORMAT, "bad repeat interval");
            return NULL;
        }
        if (ps->p < ps->end && *ps->p == '+') {
            perr(ps, JOULE_ERR_UNSUPPORTED, "{n,m}+ (its meaning differs between engines)");
            return NULL;
        }
    } else {
        return atom;
    }
    if (atom->type == A_LOOK || atom->type == A_EMPTY) {
        perr(ps, JOULE_ERR_UNSUPPORTED, "quantified lookaround or empty group");
        return NULL;
    }
    struct ast *r = new_node(ps, A_REPEAT);
    if (!r || add_kid(ps, r, atom)) return NULL;
    r->min = min;
    r->max = max;
    r->mode = REP_GREEDY;
    if (ps->p < ps->end && *ps->p == '?') {
        r->mode = REP_LAZY;
        ps->p++;
    } else if (ps->p < ps->end && *ps->p == '+') {
        r->mode = REP_POSSESSIVE;
        ps->p++;
    }
    if (r->mode == REP_POSSESSIVE && atom->type != A_CLASS) {
        perr(ps, JOULE_ERR_UNSUPPORTED, "possessive quantifier on a group");
        return NULL;
    }
    if (ps->p < ps->end && (*ps->p == '*' || *ps->p == '+' || *ps->p == '?' || *ps->p == '{')) {
        perr(ps, JOULE_ERR_UNSUPPORTED, "nested quantifier");
        return NULL;
    }
    return r;
}

static struct ast *parse_seq(struct parser *ps, int depth)
{
    struct ast *seq = new_node(ps, A_SEQ);
    if (!seq) return NULL;
    while (ps->p < ps->end && *ps->p != '|' && *ps->p != ')') {
        struct ast *a = parse_atom(ps, depth);
        if (!a) return NULL;
        a = parse_quant(ps, a);
        if (!a || add_kid(ps, seq, a)) return NULL;
    }
    return seq;
}

static struct ast *parse_alt(struct parser *ps, int depth)
{
    if (depth > 64) {
        perr(ps, JOULE_ERR_LIMIT, "groups nested too deeply");
        return NULL;
    }
    int saved = ps->icase;
    struct ast *first = parse_seq(ps, depth);
    if (!first) return NULL;
    if (ps->p >= ps->end || *ps->p != '|') return first;
    struct ast *alt = new_node(ps, A_ALT);
    if (!alt || add_kid(ps, alt, first)) return NULL;
    while (ps->p < ps->end && *ps->p == '|') {
        ps->p++;
        /* an inline (?i) reaches across later alternatives of the same group in
         * Oniguruma; keep the flag as set by the previous branch */
        (void)saved;
        struct ast *s = parse_seq(ps, depth);
        if (!s || add_kid(ps, alt, s)) return NULL;
    }
    return alt;
}

void tk_regex_free(struct tk_regex *re)
{
    if (!re) return;
    for (size_t i = 0; i < re->nnodes; i++) {
        free(re->nodes[i]->kids);
        free(re->nodes[i]->bf);
        free(re->nodes[i]);
    }
    free(re->nodes);
    for (size_t i = 0; i < re->nclasses; i++) {
        free(re->classes[i].ranges);
        free(re->classes[i].subs);
    }
    free(re->classes);
    free(re);
}

static void first_of(const struct tk_regex *re, const struct ast *a, struct first *f, int depth)
{
    memset(f, 0, sizeof *f);
    if (depth > 200) { /* give up: allow everything */
        f->nullable = 1;
        return;
    }
    switch (a->type) {
    case A_CLASS:
        memcpy(f->ascii, re->classes[a->cls].ascii, sizeof f->ascii);
        f->nonascii = 1;
        break;
    case A_EMPTY:
    case A_LOOK:
        f->nullable = 1;
        break;
    case A_REPEAT:
        first_of(re, a->kids[0], f, depth + 1);
        if (a->min == 0) f->nullable = 1;
        break;
    case A_SEQ:
        f->nullable = 1;
        for (size_t i = 0; i < a->n && f->nullable; i++) {
            struct first k;
            first_of(re, a->kids[i], &k, depth + 1);
            for (int w = 0; w < 4; w++)
                f->ascii[w] |= k.ascii[w];
            f->nonascii |= k.nonascii;
            f->nullable = k.nullable;
        }
        break;
    case A_ALT:
        for (size_t i = 0; i < a->n; i++) {
            struct first k;
            first_of(re, a->kids[i], &k, depth + 1);
            for (int w = 0; w < 4; w++)
                f->ascii[w] |= k.ascii[w];
            f->nonascii |= k.nonascii;
            f->nullable |= k.nullable;
        }
        break;
    }
}

static int first_ok(const struct first *f, const unsigned char *s, size_t n, size_t pos)
{
    if (f->nullable) return 1;
    if (pos >= n) return 0;
    unsigned ch = s[pos];
    return ch < 128 ? (int)((f->ascii[ch >> 5] >> (ch & 31)) & 1) : f->nonascii;
}

static int compute_firsts(struct tk_regex *re)
{
    for (size_t i = 0; i < re->nnodes; i++) {
        struct ast *a = re->nodes[i];
        if (a->type != A_ALT) continue;
        a->bf = calloc(a->n ? a->n : 1, sizeof *a->bf);
        if (!a->bf) return -1;
        for (size_t k = 0; k < a->n; k++)
            first_of(re, a->kids[k], &a->bf[k], 0);
    }
    first_of(re, re->root, &re->root_first, 0);
    return 0;
}

enum joule_status tk_regex_compile(const char *pattern, size_t len, struct tk_regex **out)
{
    *out = NULL;
    struct tk_regex *re = calloc(1, sizeof *re);
    if (!re) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    char *pat = malloc(len + 1);
    if (!pat) {
        free(re);
        return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    }
    memcpy(pat, pattern, len);
    pat[len] = 0;
    struct parser ps = {
        re, (const unsigned char *)pat, (const unsigned char *)pat + len, 0, JOULE_OK, pat};
    re->root = parse_alt(&ps, 0);
    if (re->root && ps.p < ps.end) perr(&ps, JOULE_ERR_FORMAT, "unmatched )");
    enum joule_status s = ps.err;
    if (!re->root && s == JOULE_OK) s = joule_errorf(JOULE_ERR_INTERNAL, "regex parse failed");
    if (s == JOULE_OK && compute_firsts(re)) s = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    free(pat);
    if (s != JOULE_OK) {
        tk_regex_free(re);
        return s;
    }
    *out = re;
    return JOULE_OK;
}

/* ---- matcher ----------------------------------------------------------- */

struct mctx {
    const struct tk_regex *re;
    const unsigned char *s;
    size_t n;
    size_t end;
    int depth;
    int err;
    long steps;
};

/* A continuation: what to match after the current node. For A_SEQ it resumes
 * at kid `idx`; for A_REPEAT it is "iteration number idx just finished, it
 * started at `start`". */
struct cont {
    const struct ast *node;
    int idx;
    size_t start;
    const struct cont *next;
};

static int m(struct mctx *c, const struct ast *a, int idx, size_t start, const struct cont *k,
             size_t pos);

static inline int run_k(struct mctx *c, const struct cont *k, size_t pos)
{
    if (!k) {
        c->end = pos;
        return 1;
    }
    return m(c, k->node, k->idx, k->start, k->next, pos);
}

static inline int char_at(struct mctx *c, const struct rx_class *cls, size_t pos, size_t *next)
{
    if (pos >= c->n) return 0;
    uint32_t cp = c->s[pos];
    int l = 1;
    if (cp >= 0x80) l = utf8_decode(c->s + pos, c->n - pos, &cp);
    if (!class_has(c->re, cls, cp)) return 0;
    *next = pos + (size_t)l;
    return 1;
}

static int m(struct mctx *c, const struct ast *a, int idx, size_t start, const struct cont *k,
             size_t pos)
{
    if (c->err) return 0;
    if (++c->depth > RX_MAX_DEPTH || ++c->steps > RX_MAX_STEPS) {
        c->err = 1;
        return 0;
    }
    int r = 0;
    switch (a->type) {
    case A_EMPTY:
        r = run_k(c, k, pos);
        break;
    case A_CLASS: {
        size_t nx;
        r = char_at(c, &c->re->classes[a->cls], pos, &nx) && run_k(c, k, nx);
        break;
    }
    case A_SEQ:
        if ((size_t)idx >= a->n) {
            r = run_k(c, k, pos);
        } else {
            struct cont nk = {a, idx + 1, 0, k};
            r = m(c, a->kids[idx], 0, 0, &nk, pos);
        }
        break;
    case A_ALT:
        for (size_t i = 0; i < a->n && !r && !c->err; i++)
            r = m(c, a->kids[i], 0, 0, k, pos);
        break;
    case A_LOOK: {
        size_t save = c->end;
        int got = m(c, a->kids[0], 0, 0, NULL, pos);
        c->end = save;
        r = !c->err && got != a->neg && run_k(c, k, pos);
        break;
    }
    case A_REPEAT: {
        const struct ast *kid = a->kids[0];
        if (kid->type == A_CLASS) {
            /* single-character operand: iterate without recursion */
            const struct rx_class *cls = &c->re->classes[kid->cls];
            size_t p = pos, nx;
            long cnt = 0;
            if (a->mode == REP_LAZY) {
                while (cnt < a->min) {
                    if (!char_at(c, cls, p, &nx)) goto done;
                    p = nx;
                    cnt++;
                }
                for (;;) {
                    if (run_k(c, k, p)) {
                        r = 1;
                        break;
                    }
                    if (c->err || (a->max >= 0 && cnt >= a->max) || !char_at(c, cls, p, &nx)) break;
                    p = nx;
                    cnt++;
                }
                break;
            }
            while ((a->max < 0 || cnt < a->max) && char_at(c, cls, p, &nx)) {
                p = nx;
                cnt++;
            }
            if (cnt < a->min) break;
            if (a->mode == REP_POSSESSIVE) {
                r = run_k(c, k, p);
                break;
            }
            for (;;) {
                if (run_k(c, k, p)) {
                    r = 1;
                    break;
                }
                if (c->err || cnt == a->min) break;
                do
                    p--;
                while (p > pos && (c->s[p] & 0xC0) == 0x80);
                cnt--;
            }
            break;
        }
        /* general operand: idx iterations done, the last one started at `start` */
        if (idx > 0 && idx > a->min && pos == start) break; /* empty iteration: stop */
        struct cont nk = {a, idx + 1, pos, k};
        int can_more = a->max < 0 || idx < a->max;
        if (a->mode == REP_LAZY) {
            if (idx >= a->min && run_k(c, k, pos))
                r = 1;
            else if (can_more && !c->err)
                r = m(c, kid, 0, 0, &nk, pos);
        } else {
            if (can_more) r = m(c, kid, 0, 0, &nk, pos);
            if (!r && !c->err && idx >= a->min) r = run_k(c, k, pos);
        }
        break;
    }
    }
done:
    c->depth--;
    return r;
}

int tk_regex_find(const struct tk_regex *re, const char *text, size_t n, size_t from, size_t *ms,
                  size_t *me)
{
    struct mctx c = {re, (const unsigned char *)text, n, 0, 0, 0, 0};
    for (size_t pos = from; pos <= n;) {
        c.depth = 0;
        if (first_ok(&re->root_first, c.s, n, pos) && m(&c, re->root, 0, 0, NULL, pos)) {
            *ms = pos;
            *me = c.end;
            return 1;
        }
        if (c.err)
            return joule_errorf(JOULE_ERR_LIMIT, "regex backtracking limit reached at byte %zu",
                                pos);
        if (pos == n) break;
        pos += (size_t)utf8_len(c.s[pos]);
    }
    return 0;
}
