#include "model/safetensors.h"

#include <stdlib.h>
#include <string.h>

#include "util/json.h"

size_t joule_dtype_size(enum joule_dtype t)
{
    switch (t) {
    case JOULE_DTYPE_F32:
        return 4;
    case JOULE_DTYPE_F16:
        return 2;
    case JOULE_DTYPE_BF16:
        return 2;
    case JOULE_DTYPE_I32:
        return 4;
    case JOULE_DTYPE_I64:
        return 8;
    default:
        return 0;
    }
}

static int parse_dtype(const char *s, enum joule_dtype *out)
{
    static const struct {
        const char *name;
        enum joule_dtype t;
    } map[] = {{"F32", JOULE_DTYPE_F32},
               {"F16", JOULE_DTYPE_F16},
               {"BF16", JOULE_DTYPE_BF16},
               {"I32", JOULE_DTYPE_I32},
               {"I64", JOULE_DTYPE_I64}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(s, map[i].name)) {
            *out = map[i].t;
            return 1;
        }
    return 0;
}

void joule_safetensors_clear(struct joule_st_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    f->tensors = NULL;
    f->n_tensors = 0;
}

/* A JSON number that is a non-negative integer below 2^53 (exactly representable). */
static int json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > 9007199254740992.0 || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int by_offset(const void *a, const void *b)
{
    const struct joule_st_tensor *x = *(const struct joule_st_tensor *const *)a;
    const struct joule_st_tensor *y = *(const struct joule_st_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

static int by_name(const void *a, const void *b)
{
    const struct joule_st_tensor *x = *(const struct joule_st_tensor *const *)a;
    const struct joule_st_tensor *y = *(const struct joule_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static enum joule_status parse_entry(const cJSON *item, const char *label, size_t data_start,
                                     size_t data_size, struct joule_st_tensor *t)
{
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return joule_errorf(JOULE_ERR_FORMAT, "%s: tensor '%s' is not an object", label, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return joule_errorf(JOULE_ERR_FORMAT, "%s: tensor '%s' lacks dtype, shape or data_offsets",
                            label, name);
    if (!parse_dtype(dt->valuestring, &t->dtype))
        return joule_errorf(JOULE_ERR_UNSUPPORTED, "%s: tensor '%s' has unsupported dtype '%s'",
                            label, name, dt->valuestring);
    int nd = cJSON_GetArraySize(shape);
    if (nd > 4)
        return joule_errorf(JOULE_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (max 4)",
                            label, name, nd);
    t->n_dims = nd;
    uint64_t nelem = 1;
    int i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        uint64_t v;
        if (!json_uint(d, &v))
            return joule_errorf(JOULE_ERR_FORMAT, "%s: tensor '%s' has a bad shape entry", label,
                                name);
        if (v != 0 && nelem > UINT64_MAX / v)
            return joule_errorf(JOULE_ERR_FORMAT, "%s: tensor '%s' shape overflows", label, name);
        nelem *= v;
        t->shape[i] = (int64_t)v;
    }
    for (; i < 4; i++)
        t->shape[i] = 1;
    uint64_t b, e;
    if (cJSON_GetArraySize(offs) != 2 || !json_uint(offs->child, &b) ||
        !json_uint(offs->child->next, &e))
        return joule_errorf(JOULE_ERR_FORMAT, "%s: tensor '%s' has bad data_offsets", label, name);
    if (b > e || e > data_size)
        return joule_errorf(JOULE_ERR_FORMAT,
                            "%s: tensor '%s' data [%llu, %llu) is outside the data section (%zu "
                            "bytes; file truncated?)",
                            label, name, (unsigned long long)b, (unsigned long long)e, data_size);
    size_t es = joule_dtype_size(t->dtype);
    if (nelem > UINT64_MAX / es || nelem * es != e - b)
        return joule_errorf(
            JOULE_ERR_FORMAT, "%s: tensor '%s' holds %llu bytes but its shape and dtype need %llu",
            label, name, (unsigned long long)(e - b),
            (unsigned long long)(nelem > UINT64_MAX / es ? UINT64_MAX : nelem * es));
    t->offset = data_start + (size_t)b;
    t->nbytes = (size_t)(e - b);
    return JOULE_OK;
}

enum joule_status joule_safetensors_parse(const unsigned char *buf, size_t size, const char *label,
                                          struct joule_st_file *out)
{
    memset(out, 0, sizeof *out);
    if (size < 8)
        return joule_errorf(JOULE_ERR_FORMAT, "%s: %zu bytes is too short for a safetensors file",
                            label, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | buf[i];
    if (hlen > JOULE_SAFETENSORS_MAX_HEADER)
        return joule_errorf(JOULE_ERR_FORMAT, "%s: header of %llu bytes is over the %zu-byte limit",
                            label, (unsigned long long)hlen, JOULE_SAFETENSORS_MAX_HEADER);
    if (hlen > size - 8)
        return joule_errorf(JOULE_ERR_FORMAT,
                            "%s: header of %llu bytes is longer than the file (%zu bytes; "
                            "truncated?)",
                            label, (unsigned long long)hlen, size);
    if (hlen < 2 || buf[8] != '{')
        return joule_errorf(JOULE_ERR_FORMAT, "%s: header is not a JSON object", label);
    cJSON *root = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return joule_errorf(JOULE_ERR_FORMAT, "%s: header is not valid JSON", label);
    }
    size_t data_start = 8 + (size_t)hlen, data_size = size - data_start;
    size_t n = 0;
    for (const cJSON *it = root->child; it; it = it->next)
        if (!it->string || strcmp(it->string, "__metadata__")) n++;
    enum joule_status s = JOULE_OK;
    struct joule_st_tensor **sorted = NULL;
    out->tensors = calloc(n ? n : 1, sizeof *out->tensors);
    sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!out->tensors || !sorted) {
        s = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (const cJSON *it = root->child; it; it = it->next) {
        if (!it->string) {
            s = joule_errorf(JOULE_ERR_FORMAT, "%s: header entry without a name", label);
            goto done;
        }
        if (!strcmp(it->string, "__metadata__")) continue;
        struct joule_st_tensor *t = &out->tensors[out->n_tensors];
        s = parse_entry(it, label, data_start, data_size, t);
        if (s != JOULE_OK) goto done;
        t->name = strdup(it->string);
        if (!t->name) {
            s = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
            goto done;
        }
        sorted[out->n_tensors] = t;
        out->n_tensors++;
    }
    /* No two tensors may share bytes, and no name may appear twice. */
    qsort(sorted, out->n_tensors, sizeof *sorted, by_offset);
    /* against the furthest-reaching earlier tensor, not only the previous one (an empty
     * tensor in between must not hide an overlap) */
    const struct joule_st_tensor *reach = NULL;
    for (size_t i = 0; i < out->n_tensors; i++) {
        const struct joule_st_tensor *b = sorted[i];
        if (reach && b->nbytes && reach->offset + reach->nbytes > b->offset) {
            s = joule_errorf(JOULE_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", label,
                             reach->name, b->name);
            goto done;
        }
        if (!reach || b->offset + b->nbytes > reach->offset + reach->nbytes) reach = b;
    }
    qsort(sorted, out->n_tensors, sizeof *sorted, by_name);
    for (size_t i = 1; i < out->n_tensors; i++)
        if (!strcmp(sorted[i - 1]->name, sorted[i]->name)) {
            s = joule_errorf(JOULE_ERR_FORMAT, "%s: tensor '%s' appears twice", label,
                             sorted[i]->name);
            goto done;
        }
done:
    free(sorted);
    cJSON_Delete(root);
    if (s != JOULE_OK) joule_safetensors_clear(out);
    return s;
}
