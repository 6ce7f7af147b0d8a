/* Internal representation of a loaded tokenizer.json (see include/joule/tokenizer.h). */
#ifndef JOULE_TOKENIZER_IMPL_H
#define JOULE_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "joule/tokenizer.h"
#include "tokenizer/regex.h"

/* ---- growable buffers --------------------------------------------------- */
struct sbuf {
    char *p;
    size_t n, cap;
};
struct ibuf {
    int32_t *p;
    size_t n, cap;
};
/* A span of text inside an sbuf; `first` marks a span that starts at offset 0
 * of the original input (Metaspace's prepend_scheme "first" needs it). */
struct span {
    size_t off, len;
    int first;
};
struct spans {
    struct span *p;
    size_t n, cap;
};

int sbuf_put(struct sbuf *b, const void *s, size_t n);
/* Make room for `extra` more bytes (so that pointers into b stay valid for a put). */
int sbuf_reserve(struct sbuf *b, size_t extra);
int ibuf_put(struct ibuf *b, int32_t v);
int spans_put(struct spans *v, size_t off, size_t len, int first);

/* ---- string -> int map (open addressing over a shared string pool) ------- */
struct strmap {
    struct smentry {
        uint32_t off, len;
        int32_t val;
    } * e;
    size_t n, cap;
    uint32_t *slot; /* entry index + 1; 0 = empty */
    size_t mask;
};
int strmap_build(struct strmap *m, const char *pool);
int strmap_add(struct strmap *m, uint32_t off, uint32_t len, int32_t val);
/* Value of key s[0..n), or -1. */
int32_t strmap_get(const struct strmap *m, const char *pool, const char *s, size_t n);
void strmap_free(struct strmap *m);

/* ---- merges: (left id, right id) -> (rank, merged id) -------------------- */
struct mergemap {
    struct mentry {
        uint64_t key;
        int32_t rank, id; /* rank -1 = empty slot */
    } * e;
    size_t mask;
};

/* ---- components --------------------------------------------------------- */
enum norm_type { NORM_NFC, NORM_PREPEND, NORM_REPLACE, NORM_STRIP, NORM_SEQ };
struct norm {
    enum norm_type type;
    char *a, *b; /* Prepend: a; Replace: a = literal pattern (or re), b = content */
    size_t alen, blen;
    struct tk_regex *re;
    int left, right; /* Strip */
    struct norm *kids;
    size_t nkids;
};

enum split_behavior {
    SPLIT_REMOVED,
    SPLIT_ISOLATED,
    SPLIT_MERGED_PREV,
    SPLIT_MERGED_NEXT,
    SPLIT_CONTIGUOUS
};
enum pretok_type { PT_BYTELEVEL, PT_SPLIT, PT_DIGITS, PT_METASPACE, PT_WSPLIT, PT_PUNCT, PT_SEQ };
enum prepend_scheme { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };
struct pretok {
    enum pretok_type type;
    int add_prefix_space, use_regex; /* ByteLevel */
    struct tk_regex *re;             /* Split with a Regex (or ByteLevel's GPT-2 pattern) */
    char *lit;                       /* Split with a String */
    size_t litlen;
    enum split_behavior behavior;
    int invert;
    int individual; /* Digits */
    char repl[8];   /* Metaspace replacement (UTF-8) */
    size_t repl_len;
    enum prepend_scheme prepend;
    int split;
    struct pretok *kids;
    size_t nkids;
};

enum post_type { PP_BYTELEVEL, PP_TEMPLATE, PP_BERT, PP_ROBERTA, PP_SEQ };
struct tmpl_item {
    int is_seq;
    int32_t *ids;
    size_t nids;
};
struct post {
    enum post_type type;
    struct tmpl_item *items;
    size_t nitems;
    int32_t cls, sep;
    struct post *kids;
    size_t nkids;
};

enum dec_type {
    DEC_BYTELEVEL,
    DEC_REPLACE,
    DEC_BYTEFALLBACK,
    DEC_FUSE,
    DEC_STRIP,
    DEC_METASPACE,
    DEC_SEQ
};
struct dec {
    enum dec_type type;
    char *a, *b;
    size_t alen, blen;
    struct tk_regex *re;
    uint32_t cp; /* Strip content / Metaspace replacement */
    int start, stop;
    enum prepend_scheme prepend;
    struct dec *kids;
    size_t nkids;
};

/* A byte trie over the added tokens' match strings, for leftmost-longest search. */
struct trie_node {
    int32_t child, sibling; /* first child, next sibling; -1 = none */
    int32_t token;          /* index into added[] of the token ending here, or -1 */
    unsigned char byte;
};
struct trie {
    struct trie_node *n; /* n[0] is the root */
    size_t len, cap;
    unsigned char first[256]; /* bytes that start some token */
};

struct added_token {
    char *content;
    size_t len;
    char *norm; /* content after the normalizer (normalized tokens only; else NULL) */
    size_t norm_len;
    int32_t id;
    int special, normalized, single_word, lstrip, rstrip;
};

#define CHAR_ID_LIMIT 0x10000

struct joule_tokenizer {
    char *pool; /* all vocabulary strings */
    size_t pool_len;
    struct strmap vocab;
    uint32_t *id_off, *id_len; /* id -> string in pool; id_len UINT32_MAX = none */
    size_t n_ids;              /* max id + 1 over the vocabulary and added tokens */
    int32_t *added_of_id;      /* id -> index into added[] or -1 */
    struct mergemap merges;
    int32_t unk_id;
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t byte_ids[256]; /* <0xXX> ids when byte_fallback (-1 if absent) */
    char *cont_prefix, *eow_suffix;
    size_t cont_prefix_len, eow_suffix_len;

    struct added_token *added;
    size_t n_added;
    struct trie trie[2]; /* [0]: tokens matched on raw text, [1]: on normalized text */
    int32_t *char_id;    /* code point < CHAR_ID_LIMIT -> id of that one-character token, or -1 */

    struct norm *norm;
    struct pretok *pretok;
    struct post *post;
    struct dec *dec;

    int32_t bos_id, eos_id;
};

/* GPT-2 byte <-> unicode mapping used by ByteLevel. */
extern const uint16_t tk_byte_to_cp[256];
int tk_cp_to_byte(uint32_t cp); /* -1 if cp is not in the table */

/* Apply a normalizer to s[0..n) into out (appended). */
enum joule_status tk_normalize(const struct norm *nm, const char *s, size_t n, struct sbuf *out);

void tk_free_norm(struct norm *n);
void tk_free_pretok(struct pretok *p);
void tk_free_post(struct post *p);
void tk_free_dec(struct dec *d);

/* Encode into a growable buffer (what joule_tokenizer_encode wraps). */
enum joule_status tk_encode_ids(const struct joule_tokenizer *t, const char *text, size_t len,
                                int add_special, struct ibuf *ids);

#endif
