/* GGUF reader: a checked, read-only view of a GGUF v2/v3 file (see include/joule/gguf.h).
 * Layout: "GGUF", u32 version, u64 n_tensors, u64 n_kv; n_kv × (string key, u32 type,
 * value); n_tensors × (string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset);
 * padding to general.alignment (default 32); tensor data. Little-endian. */
#include "joule/gguf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"

#define GGUF_MAX_KV (1u << 20)
#define GGUF_MAX_TENSORS (1u << 20)
#define GGUF_MAX_NAME 65536
#define GGUF_MAX_DEPTH 3

struct kv {
    char *key;
    enum joule_gguf_type type;
    enum joule_gguf_type arr_type;
    uint64_t arr_len;
    const unsigned char *val; /* the value's bytes in the image */
};

struct joule_gguf {
    struct joule_mmap map; /* when opened from a file */
    const unsigned char *data;
    size_t size;
    uint32_t version;
    struct kv *kv;
    size_t n_kv;
    struct joule_gguf_tensor *t;
    size_t n_t;
    uint64_t alignment, data_start;
};

struct cursor {
    const unsigned char *p;
    size_t n, pos;
};

static int rd(struct cursor *c, void *out, size_t k)
{
    if (c->n - c->pos < k) return -1;
    memcpy(out, c->p + c->pos, k); /* little-endian hosts */
    c->pos += k;
    return 0;
}

static int rd_u32(struct cursor *c, uint32_t *v)
{
    return rd(c, v, 4);
}

static int rd_u64(struct cursor *c, uint64_t *v)
{
    return rd(c, v, 8);
}

static int rd_str(struct cursor *c, const unsigned char **s, uint64_t *len)
{
    if (rd_u64(c, len) || *len > c->n - c->pos) return -1;
    *s = c->p + c->pos;
    c->pos += (size_t)*len;
    return 0;
}

static size_t scalar_size(uint32_t t)
{
    switch (t) {
    case JOULE_GGUF_UINT8:
    case JOULE_GGUF_INT8:
    case JOULE_GGUF_BOOL:
        return 1;
    case JOULE_GGUF_UINT16:
    case JOULE_GGUF_INT16:
        return 2;
    case JOULE_GGUF_UINT32:
    case JOULE_GGUF_INT32:
    case JOULE_GGUF_FLOAT32:
        return 4;
    case JOULE_GGUF_UINT64:
    case JOULE_GGUF_INT64:
    case JOULE_GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

/* Skip one value of type t; arrays recurse (bounded depth). */
static int skip_value(struct cursor *c, uint32_t t, int depth)
{
    size_t k = scalar_size(t);
    if (k) return c->n - c->pos < k ? -1 : (c->pos += k, 0);
    if (t == JOULE_GGUF_STRING) {
        const unsigned char *s;
        uint64_t l;
        return rd_str(c, &s, &l);
    }
    if (t != JOULE_GGUF_ARRAY || depth >= GGUF_MAX_DEPTH) return -1;
    uint32_t et;
    uint64_t n;
    if (rd_u32(c, &et) || rd_u64(c, &n)) return -1;
    size_t es = scalar_size(et);
    if (es) {
        if (n > (c->n - c->pos) / es) return -1;
        c->pos += (size_t)(n * es);
        return 0;
    }
    if (et != JOULE_GGUF_STRING && et != JOULE_GGUF_ARRAY) return -1;
    if (n > (c->n - c->pos) / 8) return -1; /* every element takes at least 8 bytes */
    for (uint64_t i = 0; i < n; i++)
        if (skip_value(c, et, depth + 1)) return -1;
    return 0;
}

/* Bytes of a tensor of ggml type `t` with ne0 × rows elements; 0 when unknown
 * or when ne0 does not fill whole blocks. */
static uint64_t type_bytes(uint32_t t, uint64_t ne0, uint64_t rows)
{
    static const struct {
        uint32_t type;
        uint32_t block, bytes;
    } tab[] = {{0, 1, 4},      {1, 1, 2},      {2, 32, 18},    {3, 32, 20},    {6, 32, 22},
               {7, 32, 24},    {8, 32, 34},    {9, 32, 36},    {10, 256, 84},  {11, 256, 110},
               {12, 256, 144}, {13, 256, 176}, {14, 256, 210}, {15, 256, 292}, {24, 1, 1},
               {25, 1, 2},     {26, 1, 4},     {27, 1, 8},     {28, 1, 8},     {30, 1, 2}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        if (tab[i].type != t) continue;
        if (ne0 % tab[i].block) return 0;
        uint64_t row = ne0 / tab[i].block * tab[i].bytes;
        if (rows && row > UINT64_MAX / rows) return 0;
        return row * rows;
    }
    return 0;
}

const char *joule_ggml_type_name(uint32_t type)
{
    switch (type) {
    case 0:
        return "f32";
    case 1:
        return "f16";
    case 2:
        return "q4_0";
    case 3:
        return "q4_1";
    case 6:
        return "q5_0";
    case 7:
        return "q5_1";
    case 8:
        return "q8_0";
    case 10:
        return "q2_k";
    case 11:
        return "q3_k";
    case 12:
        return "q4_k";
    case 13:
        return "q5_k";
    case 14:
        return "q6_k";
    case 24:
        return "i8";
    case 25:
        return "i16";
    case 26:
        return "i32";
    case 27:
        return "i64";
    case 28:
        return "f64";
    case 30:
        return "bf16";
    default:
        return "?";
    }
}

void joule_gguf_free(struct joule_gguf *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->n_kv; i++)
        free(g->kv[i].key);
    for (size_t i = 0; i < g->n_t; i++)
        free((char *)g->t[i].name);
    free(g->kv);
    free(g->t);
    joule_mmap_close(&g->map);
    free(g);
}

static char *dup_n(const unsigned char *s, uint64_t n)
{
    char *d = malloc((size_t)n + 1);
    if (d) {
        memcpy(d, s, (size_t)n);
        d[n] = '\0';
    }
    return d;
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        st = joule_errorf(JOULE_ERR_FORMAT, __VA_ARGS__);                                          \
        goto fail;                                                                                 \
    } while (0)

static enum joule_status parse(struct joule_gguf *g)
{
    enum joule_status st = JOULE_OK;
    struct cursor c = {g->data, g->size, 0};
    uint32_t magic;
    uint64_t n_t, n_kv;
    if (rd_u32(&c, &magic) || magic != 0x46554747u) BAD("gguf: not a GGUF file (bad magic)");
    if (rd_u32(&c, &g->version)) BAD("gguf: truncated header");
    if (g->version != 2 && g->version != 3)
        return joule_errorf(JOULE_ERR_UNSUPPORTED, "gguf: version %u (joule reads 2 and 3)",
                            g->version);
    if (rd_u64(&c, &n_t) || rd_u64(&c, &n_kv)) BAD("gguf: truncated header");
    if (n_kv > GGUF_MAX_KV || n_t > GGUF_MAX_TENSORS)
        BAD("gguf: %" PRIu64 " keys / %" PRIu64 " tensors is over the limit", n_kv, n_t);
    if (n_kv > (g->size - c.pos) / 12 || n_t > (g->size - c.pos) / 24)
        BAD("gguf: counts larger than the file");
    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    g->t = calloc(n_t ? (size_t)n_t : 1, sizeof *g->t);
    if (!g->kv || !g->t) return joule_errorf(JOULE_ERR_NOMEM, "gguf: tables");
    g->alignment = 32;
    for (uint64_t i = 0; i < n_kv; i++) {
        struct kv *kv = &g->kv[i];
        const unsigned char *k;
        uint64_t kl;
        uint32_t t;
        if (rd_str(&c, &k, &kl) || kl > GGUF_MAX_NAME || rd_u32(&c, &t))
            BAD("gguf: metadata entry %" PRIu64 " truncated", i);
        if (!(kv->key = dup_n(k, kl))) return joule_errorf(JOULE_ERR_NOMEM, "gguf: key");
        g->n_kv = (size_t)i + 1;
        kv->type = (enum joule_gguf_type)t;
        kv->val = c.p + c.pos;
        if (t == JOULE_GGUF_ARRAY) {
            struct cursor a = c;
            uint32_t et;
            if (rd_u32(&a, &et) || rd_u64(&a, &kv->arr_len)) BAD("gguf: %s: truncated", kv->key);
            kv->arr_type = (enum joule_gguf_type)et;
        }
        if (skip_value(&c, t, 0)) BAD("gguf: %s: bad or truncated value (type %u)", kv->key, t);
        if (!strcmp(kv->key, "general.alignment")) {
            int64_t a;
            if (joule_gguf_kv_int(g, (size_t)i, &a) || a <= 0 || a > 65536 || (a & (a - 1)))
                BAD("gguf: general.alignment must be a power of two");
            g->alignment = (uint64_t)a;
        }
    }
    for (uint64_t i = 0; i < n_t; i++) {
        struct joule_gguf_tensor *t = &g->t[i];
        const unsigned char *nm;
        uint64_t nl;
        if (rd_str(&c, &nm, &nl) || nl > GGUF_MAX_NAME || rd_u32(&c, &t->n_dims))
            BAD("gguf: tensor %" PRIu64 " truncated", i);
        if (!(t->name = dup_n(nm, nl))) return joule_errorf(JOULE_ERR_NOMEM, "gguf: name");
        g->n_t = (size_t)i + 1;
        if (t->n_dims < 1 || t->n_dims > 4) BAD("gguf: %s: %u dimensions", t->name, t->n_dims);
        uint64_t elems = 1;
        for (uint32_t d = 0; d < 4; d++) {
            t->ne[d] = 1;
            if (d < t->n_dims && rd_u64(&c, &t->ne[d])) BAD("gguf: %s: truncated", t->name);
            if (t->ne[d] == 0 || (t->ne[d] > 1 && elems > UINT64_MAX / t->ne[d]))
                BAD("gguf: %s: bad dimension", t->name);
            elems *= t->ne[d];
        }
        if (rd_u32(&c, &t->type) || rd_u64(&c, &t->offset)) BAD("gguf: %s: truncated", t->name);
        t->nbytes = type_bytes(t->type, t->ne[0], elems / t->ne[0]);
    }
    g->data_start = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    uint64_t avail = g->data_start <= g->size ? g->size - g->data_start : 0;
    for (size_t i = 0; i < g->n_t; i++) {
        struct joule_gguf_tensor *t = &g->t[i];
        if (t->offset % g->alignment) BAD("gguf: %s: misaligned data offset", t->name);
        if (t->nbytes && (t->offset > avail || t->nbytes > avail - t->offset))
            BAD("gguf: %s: data outside the file", t->name);
        t->data = t->nbytes ? g->data + g->data_start + t->offset : NULL;
    }
    return JOULE_OK;
fail:
    return st;
}

enum joule_status joule_gguf_parse(const void *data, size_t size, struct joule_gguf **out)
{
    *out = NULL;
    struct joule_gguf *g = calloc(1, sizeof *g);
    if (!g) return joule_errorf(JOULE_ERR_NOMEM, "gguf");
    g->data = data;
    g->size = size;
    enum joule_status st = parse(g);
    if (st != JOULE_OK) {
        joule_gguf_free(g);
        return st;
    }
    *out = g;
    return JOULE_OK;
}

enum joule_status joule_gguf_open(const char *path, struct joule_gguf **out)
{
    *out = NULL;
    struct joule_gguf *g = calloc(1, sizeof *g);
    if (!g) return joule_errorf(JOULE_ERR_NOMEM, "gguf");
    enum joule_status st = joule_mmap_open(&g->map, path);
    if (st == JOULE_OK) {
        g->data = g->map.data;
        g->size = g->map.size;
        st = parse(g);
        if (st != JOULE_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", joule_last_error());
            joule_errorf(st, "%s: %s", path, msg);
        }
    }
    if (st != JOULE_OK) {
        joule_gguf_free(g);
        return st;
    }
    *out = g;
    return JOULE_OK;
}

uint32_t joule_gguf_version(const struct joule_gguf *g)
{
    return g->version;
}

size_t joule_gguf_n_kv(const struct joule_gguf *g)
{
    return g->n_kv;
}

const char *joule_gguf_kv_key(const struct joule_gguf *g, size_t i)
{
    return i < g->n_kv ? g->kv[i].key : NULL;
}

enum joule_gguf_type joule_gguf_kv_type(const struct joule_gguf *g, size_t i)
{
    return g->kv[i].type;
}

enum joule_gguf_type joule_gguf_kv_array_type(const struct joule_gguf *g, size_t i)
{
    return g->kv[i].arr_type;
}

uint64_t joule_gguf_kv_array_len(const struct joule_gguf *g, size_t i)
{
    return g->kv[i].type == JOULE_GGUF_ARRAY ? g->kv[i].arr_len : 0;
}

long joule_gguf_find_key(const struct joule_gguf *g, const char *key)
{
    for (size_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return (long)i;
    return -1;
}

/* Scalar of type t at p as int64 / double. */
static int scalar_int(uint32_t t, const unsigned char *p, int64_t *out)
{
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
    } v;
    size_t k = scalar_size(t);
    if (!k || t == JOULE_GGUF_FLOAT32 || t == JOULE_GGUF_FLOAT64) return -1;
    memcpy(&v, p, k);
    switch (t) {
    case JOULE_GGUF_UINT8:
    case JOULE_GGUF_BOOL:
        *out = v.u8;
        break;
    case JOULE_GGUF_INT8:
        *out = v.i8;
        break;
    case JOULE_GGUF_UINT16:
        *out = v.u16;
        break;
    case JOULE_GGUF_INT16:
        *out = v.i16;
        break;
    case JOULE_GGUF_UINT32:
        *out = v.u32;
        break;
    case JOULE_GGUF_INT32:
        *out = v.i32;
        break;
    case JOULE_GGUF_UINT64:
        if (v.u64 > INT64_MAX) return -1; /* does not fit: never a wrapped negative */
        *out = (int64_t)v.u64;
        break;
    default:
        *out = v.i64;
    }
    return 0;
}

int joule_gguf_kv_int(const struct joule_gguf *g, size_t i, int64_t *out)
{
    return i < g->n_kv ? scalar_int(g->kv[i].type, g->kv[i].val, out) : -1;
}

int joule_gguf_kv_float(const struct joule_gguf *g, size_t i, double *out)
{
    if (i >= g->n_kv) return -1;
    const struct kv *kv = &g->kv[i];
    if (kv->type == JOULE_GGUF_FLOAT32) {
        float f;
        memcpy(&f, kv->val, 4);
        *out = f;
        return 0;
    }
    if (kv->type == JOULE_GGUF_FLOAT64) {
        memcpy(out, kv->val, 8);
        return 0;
    }
    if (kv->type == JOULE_GGUF_UINT64) {
        uint64_t u;
        memcpy(&u, kv->val, 8);
        *out = (double)u;
        return 0;
    }
    int64_t v;
    if (scalar_int(kv->type, kv->val, &v)) return -1;
    *out = (double)v;
    return 0;
}

int joule_gguf_kv_str(const struct joule_gguf *g, size_t i, char *buf, size_t cap)
{
    if (i >= g->n_kv || g->kv[i].type != JOULE_GGUF_STRING || cap == 0) return -1;
    uint64_t len;
    memcpy(&len, g->kv[i].val, 8);
    size_t n = len < cap - 1 ? (size_t)len : cap - 1;
    memcpy(buf, g->kv[i].val + 8, n);
    buf[n] = '\0';
    return 0;
}

static const char *type_name(uint32_t t)
{
    static const char *const names[] = {"u8",   "i8",  "u16",   "i16", "u32", "i32", "f32",
                                        "bool", "str", "array", "u64", "i64", "f64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* Render one scalar or string at p (of type t) into buf. */
static void fmt_scalar(uint32_t t, const unsigned char *p, char *buf, size_t cap)
{
    if (t == JOULE_GGUF_STRING) {
        uint64_t len;
        memcpy(&len, p, 8);
        size_t n = len < 60 ? (size_t)len : 60, o = 0;
        if (o < cap) buf[o++] = '"';
        for (size_t k = 0; k < n && o + 5 < cap; k++) {
            unsigned char ch = p[8 + k];
            if (ch < 0x20 || ch == 0x7f)
                o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
            else
                buf[o++] = (char)ch;
        }
        snprintf(buf + o, cap - o, "%s\"", len > 60 ? "..." : "");
        return;
    }
    if (t == JOULE_GGUF_FLOAT32) {
        float f;
        memcpy(&f, p, 4);
        snprintf(buf, cap, "%g", (double)f);
    } else if (t == JOULE_GGUF_FLOAT64) {
        double d;
        memcpy(&d, p, 8);
        snprintf(buf, cap, "%g", d);
    } else if (t == JOULE_GGUF_BOOL) {
        snprintf(buf, cap, "%s", *p ? "true" : "false");
    } else if (t == JOULE_GGUF_UINT64) {
        uint64_t u;
        memcpy(&u, p, 8);
        snprintf(buf, cap, "%" PRIu64, u);
    } else {
        int64_t v = 0;
        scalar_int(t, p, &v);
        snprintf(buf, cap, "%" PRId64, v);
    }
}

const char *joule_gguf_kv_format(const struct joule_gguf *g, size_t i, char *buf, size_t cap)
{
    if (cap == 0) return buf;
    buf[0] = '\0';
    if (i >= g->n_kv) return buf;
    const struct kv *kv = &g->kv[i];
    if (kv->type != JOULE_GGUF_ARRAY) {
        fmt_scalar(kv->type, kv->val, buf, cap);
        return buf;
    }
    size_t o =
        (size_t)snprintf(buf, cap, "[%s × %" PRIu64 "]", type_name(kv->arr_type), kv->arr_len);
    if (kv->arr_type == JOULE_GGUF_ARRAY || o >= cap) return buf;
    /* the first few elements (already validated by the parser) */
    struct cursor c = {g->data, g->size, (size_t)(kv->val - g->data) + 12};
    for (uint64_t k = 0; k < kv->arr_len && k < 4 && o + 1 < cap; k++) {
        char el[128];
        fmt_scalar(kv->arr_type, c.p + c.pos, el, sizeof el);
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", k ? ", " : " ", el);
        if (skip_value(&c, kv->arr_type, 1)) break;
    }
    if (kv->arr_len > 4 && o + 1 < cap) snprintf(buf + o, cap - o, ", ...");
    return buf;
}

size_t joule_gguf_n_tensors(const struct joule_gguf *g)
{
    return g->n_t;
}

const struct joule_gguf_tensor *joule_gguf_tensor_at(const struct joule_gguf *g, size_t i)
{
    return i < g->n_t ? &g->t[i] : NULL;
}

const struct joule_gguf_tensor *joule_gguf_find_tensor(const struct joule_gguf *g, const char *name)
{
    for (size_t i = 0; i < g->n_t; i++)
        if (!strcmp(g->t[i].name, name)) return &g->t[i];
    return NULL;
}

void joule_gguf_print(const struct joule_gguf *g, FILE *f)
{
    fprintf(f, "GGUF v%u: %zu metadata keys, %zu tensors, alignment %" PRIu64 "\n\n", g->version,
            g->n_kv, g->n_t, g->alignment);
    char buf[1024];
    for (size_t i = 0; i < g->n_kv; i++)
        fprintf(f, "  %-44s %-5s %s\n", g->kv[i].key, type_name(g->kv[i].type),
                joule_gguf_kv_format(g, i, buf, sizeof buf));
    fprintf(f, "\n  %-40s %-5s %-24s %14s %12s\n", "tensor", "type", "ne", "offset", "bytes");
    uint64_t total = 0;
    for (size_t i = 0; i < g->n_t; i++) {
        const struct joule_gguf_tensor *t = &g->t[i];
        char ne[64];
        size_t o = 0;
        for (uint32_t d = 0; d < t->n_dims && o < sizeof ne; d++)
            o += (size_t)snprintf(ne + o, sizeof ne - o, "%s%" PRIu64, d ? " x " : "", t->ne[d]);
        fprintf(f, "  %-40s %-5s %-24s %14" PRIu64 " %12" PRIu64 "\n", t->name,
                joule_ggml_type_name(t->type), ne, t->offset, t->nbytes);
        total += t->nbytes;
    }
    fprintf(f, "\n  %zu tensors, %.3f MB of data\n", g->n_t, (double)total / 1e6);
}
