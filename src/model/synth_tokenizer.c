/* joule synth: a byte-level BPE tokenizer.json of exactly the model's vocab_size,
 * with merges learned from the bundled HumanEval (see include/joule/synth.h). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "joule/synth.h"
#include "model/synth_internal.h"
#include "util/fileio.h"
#include "util/strbuf.h"

/* ------------------------------------------------------------------------- */
/* Pre-tokenization: GPT-2's regex                                           */
/*   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
/* over ASCII classes (bytes >= 0x80 count as letters).                      */
/* ------------------------------------------------------------------------- */

enum cls { C_LETTER, C_DIGIT, C_SPACE, C_OTHER };

static enum cls cls_of(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) return C_LETTER;
    if (c >= '0' && c <= '9') return C_DIGIT;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return C_SPACE;
    return C_OTHER;
}

static size_t contraction(const char *s, size_t n)
{
    static const char *const cs[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        size_t k = strlen(cs[i]);
        if (k <= n && !memcmp(s, cs[i], k)) return k;
    }
    return 0;
}

void joule_synth_pretokenize(const char *text, size_t len,
                             void (*fn)(const char *s, size_t n, void *ctx), void *ctx)
{
    const unsigned char *t = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        size_t k = contraction(text + i, len - i);
        if (k == 0) {
            size_t j = i;
            if (t[j] == ' ' && j + 1 < len && cls_of(t[j + 1]) != C_SPACE) j++;
            enum cls c = cls_of(t[j]);
            if (c != C_SPACE) {
                while (j < len && cls_of(t[j]) == c)
                    j++;
                k = j - i;
            } else {
                /* whitespace run; leave its last char to the next token if one follows */
                while (j < len && cls_of(t[j]) == C_SPACE)
                    j++;
                k = j - i;
                if (j < len && k > 1) k--;
            }
        }
        fn(text + i, k, ctx);
        i += k;
    }
}

/* ------------------------------------------------------------------------- */
/* BPE training.                                                             */
/* ------------------------------------------------------------------------- */

struct word {
    int32_t *sym;
    int n;
    int64_t count;
};

struct words {
    struct word *w;
    size_t n, cap;
    /* hash of the distinct pre-tokens: index into w, or -1 */
    int64_t *slots;
    size_t n_slots;
    const char *text; /* pre-tokens are compared by their bytes */
    size_t *start;    /* byte offset of each word's first occurrence */
    int failed;
};

static uint64_t hash_bytes(const unsigned char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

static int grow_words(struct words *ws)
{
    size_t nslots = ws->n_slots ? ws->n_slots * 2 : 1 << 14;
    int64_t *slots = malloc(nslots * sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < nslots; i++)
        slots[i] = -1;
    for (size_t i = 0; i < ws->n; i++) {
        const struct word *w = &ws->w[i];
        uint64_t h = hash_bytes((const unsigned char *)ws->text + ws->start[i], (size_t)w->n);
        size_t s = h & (nslots - 1);
        while (slots[s] >= 0)
            s = (s + 1) & (nslots - 1);
        slots[s] = (int64_t)i;
    }
    free(ws->slots);
    ws->slots = slots;
    ws->n_slots = nslots;
    return 0;
}

static void add_word(const char *s, size_t n, void *ctx)
{
    struct words *ws = ctx;
    if (ws->failed || n == 0) return;
    if (n > 256) n = 256; /* very long runs (indentation) add nothing useful */
    if (2 * (ws->n + 1) > ws->n_slots && grow_words(ws) != 0) {
        ws->failed = 1;
        return;
    }
    uint64_t h = hash_bytes((const unsigned char *)s, n);
    size_t slot = h & (ws->n_slots - 1);
    for (; ws->slots[slot] >= 0; slot = (slot + 1) & (ws->n_slots - 1)) {
        struct word *w = &ws->w[ws->slots[slot]];
        if ((size_t)w->n == n && !memcmp(ws->text + ws->start[ws->slots[slot]], s, n)) {
            w->count++;
            return;
        }
    }
    if (ws->n == ws->cap) {
        size_t nc = ws->cap ? ws->cap * 2 : 1024;
        struct word *nw = realloc(ws->w, nc * sizeof *nw);
        size_t *nst = nw ? realloc(ws->start, nc * sizeof *nst) : NULL;
        if (nw) ws->w = nw;
        if (!nw || !nst) {
            ws->failed = 1;
            return;
        }
        ws->start = nst;
        ws->cap = nc;
    }
    struct word *w = &ws->w[ws->n];
    w->sym = malloc(n * sizeof *w->sym);
    if (!w->sym) {
        ws->failed = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        w->sym[i] = (unsigned char)s[i];
    w->n = (int)n;
    w->count = 1;
    ws->start[ws->n] = (size_t)(s - ws->text);
    ws->slots[slot] = (int64_t)ws->n;
    ws->n++;
}

struct pair_slot {
    uint64_t key;
    int64_t count;
    uint32_t gen;
};

void joule_synth_bpe_free(struct joule_synth_bpe *b)
{
    free(b->merges);
    free(b->off);
    free(b->len);
    free(b->bytes);
    memset(b, 0, sizeof *b);
}

/* Append symbol l + r to the symbol table; returns its id (an existing symbol
 * with the same bytes, or a new one), -1 when out of memory. */
static int32_t join_symbols(struct joule_synth_bpe *b, size_t *cap_bytes, int32_t l, int32_t r)
{
    size_t n = b->len[l] + b->len[r], used = b->off[b->n_sym - 1] + b->len[b->n_sym - 1];
    if (used + n > *cap_bytes) {
        size_t nc = *cap_bytes * 2;
        while (nc < used + n)
            nc *= 2;
        unsigned char *nb = realloc(b->bytes, nc);
        if (!nb) return -1;
        b->bytes = nb;
        *cap_bytes = nc;
    }
    unsigned char *dst = b->bytes + used;
    memcpy(dst, b->bytes + b->off[l], b->len[l]);
    memcpy(dst + b->len[l], b->bytes + b->off[r], b->len[r]);
    for (int s = 256; s < b->n_sym; s++)
        if (b->len[s] == n && !memcmp(b->bytes + b->off[s], dst, n)) return s;
    b->off[b->n_sym] = used;
    b->len[b->n_sym] = n;
    return b->n_sym++;
}

enum joule_status joule_synth_learn_bpe(const char *text, size_t len, int max_merges,
                                        struct joule_synth_bpe *out)
{
    memset(out, 0, sizeof *out);
    if (max_merges < 0) max_merges = 0;
    struct words ws = {0};
    ws.text = text;
    joule_synth_pretokenize(text, len, add_word, &ws);
    enum joule_status st = JOULE_OK;
    size_t total = 0;
    for (size_t i = 0; i < ws.n; i++)
        total += (size_t)ws.w[i].n;
    size_t cap = 1024, cap_bytes = 4096;
    while (cap < 2 * total + 2)
        cap *= 2;
    struct pair_slot *tab = calloc(cap, sizeof *tab);
    struct joule_synth_bpe b = {0};
    b.merges = malloc((3 * (size_t)max_merges + 1) * sizeof *b.merges);
    b.off = malloc((256 + (size_t)max_merges) * sizeof *b.off);
    b.len = malloc((256 + (size_t)max_merges) * sizeof *b.len);
    b.bytes = malloc(cap_bytes);
    if (ws.failed || !tab || !b.merges || !b.off || !b.len || !b.bytes) {
        st = joule_errorf(JOULE_ERR_NOMEM, "synth: BPE training");
        goto done;
    }
    for (int i = 0; i < 256; i++) {
        b.bytes[i] = (unsigned char)i;
        b.off[i] = (size_t)i;
        b.len[i] = 1;
    }
    b.n_sym = 256;
    for (uint32_t gen = 1; b.n_merges < max_merges; gen++) {
        /* count the pairs of every distinct word, weighted by its count */
        uint64_t best_key = 0;
        int64_t best = 0;
        for (size_t i = 0; i < ws.n; i++) {
            const struct word *w = &ws.w[i];
            for (int k = 0; k + 1 < w->n; k++) {
                uint64_t key = ((uint64_t)(uint32_t)w->sym[k] << 32) | (uint32_t)w->sym[k + 1];
                size_t s = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
                while (tab[s].gen == gen && tab[s].key != key)
                    s = (s + 1) & (cap - 1);
                if (tab[s].gen != gen) {
                    tab[s].gen = gen;
                    tab[s].key = key;
                    tab[s].count = 0;
                }
                tab[s].count += w->count;
                int64_t c = tab[s].count;
                if (c > best || (c == best && key < best_key)) {
                    best = c;
                    best_key = key;
                }
            }
        }
        if (best < 2) break;
        int32_t l = (int32_t)(best_key >> 32), r = (int32_t)(best_key & 0xffffffffu);
        int32_t sym = join_symbols(&b, &cap_bytes, l, r);
        if (sym < 0) {
            st = joule_errorf(JOULE_ERR_NOMEM, "synth: BPE training");
            goto done;
        }
        int32_t *m = &b.merges[3 * b.n_merges++];
        m[0] = l;
        m[1] = r;
        m[2] = sym;
        for (size_t i = 0; i < ws.n; i++) {
            struct word *w = &ws.w[i];
            int o = 0;
            for (int k = 0; k < w->n; k++) {
                if (k + 1 < w->n && w->sym[k] == l && w->sym[k + 1] == r) {
                    w->sym[o++] = sym;
                    k++;
                } else {
                    w->sym[o++] = w->sym[k];
                }
            }
            w->n = o;
        }
    }
    *out = b;
    memset(&b, 0, sizeof b);
done:
    joule_synth_bpe_free(&b);
    free(tab);
    for (size_t i = 0; i < ws.n; i++)
        free(ws.w[i].sym);
    free(ws.w);
    free(ws.start);
    free(ws.slots);
    return st;
}

/* ------------------------------------------------------------------------- */
/* The corpus: HumanEval prompts and canonical solutions.                    */
/* ------------------------------------------------------------------------- */

static enum joule_status read_corpus(const char *path, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    gzFile g = gzopen(path, "rb");
    if (!g) return joule_errorf(JOULE_ERR_IO, "synth: %s: cannot open", path);
    const size_t limit = 64u << 20;
    size_t cap = 1 << 20, n = 0;
    char *raw = malloc(cap + 1);
    int r = 0;
    while (raw) {
        if (n == cap) {
            if (cap >= limit) break;
            char *nr = realloc(raw, cap * 2 + 1);
            if (!nr) {
                free(raw);
                raw = NULL;
                break;
            }
            raw = nr;
            cap *= 2;
        }
        r = gzread(g, raw + n, (unsigned)(cap - n));
        if (r <= 0) break;
        n += (size_t)r;
    }
    gzclose(g);
    if (!raw) return joule_errorf(JOULE_ERR_NOMEM, "synth: reading %s", path);
    if (r < 0 || n >= limit) {
        free(raw);
        return joule_errorf(JOULE_ERR_FORMAT, "synth: %s: corrupt or too large", path);
    }
    raw[n] = '\0';
    /* one JSON object per line; keep prompt + canonical_solution */
    char *outb = malloc(n + 1);
    size_t o = 0;
    if (!outb) {
        free(raw);
        return joule_errorf(JOULE_ERR_NOMEM, "synth: corpus");
    }
    for (char *line = raw; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        static const char *const keys[] = {"prompt", "canonical_solution"};
        for (size_t k = 0; j && k < 2; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
            if (cJSON_IsString(v)) {
                size_t l = strlen(v->valuestring);
                if (o + l <= n) {
                    memcpy(outb + o, v->valuestring, l);
                    o += l;
                }
            }
        }
        cJSON_Delete(j);
        line = nl ? nl + 1 : NULL;
    }
    free(raw);
    if (o == 0) {
        free(outb);
        return joule_errorf(JOULE_ERR_FORMAT, "synth: %s: no HumanEval records", path);
    }
    outb[o] = '\0';
    *text = outb;
    *len = o;
    return JOULE_OK;
}

/* ------------------------------------------------------------------------- */
/* tokenizer.json                                                            */
/* ------------------------------------------------------------------------- */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the
 * others for U+0100 onwards in byte order. Writes the UTF-8 of byte b. */
static size_t byte_char(unsigned char b, char out[3])
{
    unsigned cp;
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)) {
        cp = b;
    } else {
        unsigned k = 0;
        for (unsigned x = 0; x < b; x++)
            if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE))) k++;
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* The byte-level string of symbol bytes. */
static void put_symstr(struct joule_strbuf *o, const unsigned char *bytes, size_t n)
{
    char tmp[3 * 64];
    joule_strbuf_append(o, "\"", 1);
    for (size_t i = 0; i < n;) {
        size_t t = 0;
        for (; i < n && t + 3 <= sizeof tmp; i++) {
            char c[3];
            size_t k = byte_char(bytes[i], c);
            if (k == 1 && (c[0] == '"' || c[0] == '\\')) tmp[t++] = '\\';
            memcpy(tmp + t, c, k);
            t += k;
        }
        joule_strbuf_append(o, tmp, t);
    }
    joule_strbuf_append(o, "\"", 1);
}

struct special {
    int id;
    const char *content;
};

enum joule_status joule_synth_write_tokenizer(const char *out_dir, int vocab_size, int bos_id,
                                              int eos_id, int pad_id, int unk_id,
                                              const struct joule_synth_params *params)
{
    struct joule_synth_params p = params ? *params : joule_synth_default_params();
    if (eos_id < 0 || eos_id >= vocab_size)
        return joule_errorf(JOULE_ERR_INVALID_ARG, "synth: eos id %d outside the vocabulary",
                            eos_id);
    /* special tokens at the config's ids; duplicates collapse to the first */
    struct special sp[4];
    int n_sp = 0;
    const struct special want[4] = {{eos_id, "<|endoftext|>"},
                                    {bos_id, "<|startoftext|>"},
                                    {pad_id, "<|pad|>"},
                                    {unk_id, "<|unk|>"}};
    for (int i = 0; i < 4; i++) {
        if (want[i].id < 0 || want[i].id >= vocab_size) continue;
        int dup = 0;
        for (int k = 0; k < n_sp; k++)
            dup |= sp[k].id == want[i].id;
        if (!dup) sp[n_sp++] = want[i];
    }
    if (vocab_size < 256 + n_sp)
        return joule_errorf(JOULE_ERR_UNSUPPORTED,
                            "synth: vocab_size %d is smaller than 256 bytes + %d special tokens",
                            vocab_size, n_sp);
    enum joule_status st = joule_mkdirs(out_dir);
    if (st != JOULE_OK) return st;
    int max_merges = vocab_size - 256 - n_sp;
    if (p.max_merges >= 0 && p.max_merges < max_merges) max_merges = p.max_merges;

    struct joule_synth_bpe bpe = {0};
    {
        char path[4096], *text = NULL;
        size_t len = 0;
        if (max_merges > 0) {
            if (p.corpus_path)
                snprintf(path, sizeof path, "%s", p.corpus_path);
            else if ((st = joule_find_data_file("HumanEval.jsonl.gz", path, sizeof path)) !=
                     JOULE_OK)
                return st;
            if ((st = read_corpus(path, &text, &len)) != JOULE_OK) return st;
        }
        st = joule_synth_learn_bpe(text ? text : "", len, max_merges, &bpe);
        free(text);
        if (st != JOULE_OK) return st;
    }
    const int n_sym = bpe.n_sym;
    char *is_special = calloc((size_t)vocab_size, 1);
    struct joule_strbuf o = {0};
    if (!is_special) {
        st = joule_errorf(JOULE_ERR_NOMEM, "synth: tokenizer");
        goto done;
    }
    /* ids: specials where the config says, then bytes, merges and reserved fill the rest */
    for (int k = 0; k < n_sp; k++)
        is_special[sp[k].id] = 1;

    joule_strbuf_puts(&o,
                      "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
                      "  \"added_tokens\": [");
    for (int k = 0; k < n_sp; k++) {
        joule_strbuf_printf(&o, "%s\n    {\"id\": %d, \"content\": ", k ? "," : "", sp[k].id);
        joule_strbuf_json_str(&o, sp[k].content, strlen(sp[k].content));
        joule_strbuf_puts(&o, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
                              "\"normalized\": false, \"special\": true}");
    }
    joule_strbuf_puts(
        &o, "\n  ],\n  \"normalizer\": null,\n"
            "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
            "\"trim_offsets\": true, \"use_regex\": true},\n"
            "  \"post_processor\": null,\n"
            "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
            "\"trim_offsets\": true, \"use_regex\": true},\n"
            "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n"
            "    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n"
            "    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n"
            "    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n    \"vocab\": {");
    /* vocabulary in id order */
    int s = 0;
    for (int id = 0; id < vocab_size; id++) {
        joule_strbuf_puts(&o, id ? ",\n      " : "\n      ");
        int k;
        for (k = 0; k < n_sp && sp[k].id != id; k++) {
        }
        if (k < n_sp) {
            joule_strbuf_json_str(&o, sp[k].content, strlen(sp[k].content));
        } else if (s < n_sym) {
            put_symstr(&o, bpe.bytes + bpe.off[s], bpe.len[s]);
            s++;
        } else {
            joule_strbuf_printf(&o, "\"<|reserved_%d|>\"", id);
        }
        joule_strbuf_printf(&o, ": %d", id);
    }
    joule_strbuf_puts(&o, "\n    },\n    \"merges\": [");
    for (int j = 0; j < bpe.n_merges; j++) {
        joule_strbuf_puts(&o, j ? ",\n      [" : "\n      [");
        int32_t l = bpe.merges[3 * j], r = bpe.merges[3 * j + 1];
        put_symstr(&o, bpe.bytes + bpe.off[l], bpe.len[l]);
        joule_strbuf_puts(&o, ", ");
        put_symstr(&o, bpe.bytes + bpe.off[r], bpe.len[r]);
        joule_strbuf_puts(&o, "]");
    }
    joule_strbuf_puts(&o, "\n    ]\n  }\n}\n");
    if (o.oom) {
        st = joule_errorf(JOULE_ERR_NOMEM, "synth: tokenizer.json");
        goto done;
    }
    char path[4096];
    if ((st = joule_path_join(path, sizeof path, out_dir, "tokenizer.json")) != JOULE_OK) goto done;
    if ((st = joule_write_file_atomic(path, o.data, o.len)) != JOULE_OK) goto done;

    /* tokenizer_config.json, as transformers' AutoTokenizer expects it */
    joule_strbuf_reset(&o);
    joule_strbuf_puts(
        &o, "{\n  \"tokenizer_class\": \"PreTrainedTokenizerFast\",\n"
            "  \"clean_up_tokenization_spaces\": false,\n  \"eos_token\": \"<|endoftext|>\"");
    for (int k = 1; k < n_sp; k++) {
        const char *role = !strcmp(sp[k].content, "<|startoftext|>") ? "bos_token"
                           : !strcmp(sp[k].content, "<|pad|>")       ? "pad_token"
                                                                     : "unk_token";
        joule_strbuf_printf(&o, ",\n  \"%s\": \"%s\"", role, sp[k].content);
    }
    if (bos_id == eos_id) joule_strbuf_puts(&o, ",\n  \"bos_token\": \"<|endoftext|>\"");
    joule_strbuf_puts(&o, ",\n  \"model_max_length\": 1000000000000000019884624838656\n}\n");
    if (o.oom) {
        st = joule_errorf(JOULE_ERR_NOMEM, "synth: tokenizer_config.json");
        goto done;
    }
    if ((st = joule_path_join(path, sizeof path, out_dir, "tokenizer_config.json")) != JOULE_OK)
        goto done;
    st = joule_write_file_atomic(path, o.data, o.len);
done:
    joule_strbuf_free(&o);
    free(is_special);
    joule_synth_bpe_free(&bpe);
    return st;
}
