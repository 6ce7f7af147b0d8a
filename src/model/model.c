/* Hugging Face snapshot directory → format-neutral tensor table, validated
 * against the architecture's expected tensors (model/arch.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch.h"
#include "model/dtype.h"
#include "model/safetensors.h"
#include "util/fileio.h"
#include "util/json.h"

#define CONFIG_MAX_BYTES ((size_t)1 << 20)
#define INDEX_MAX_BYTES ((size_t)100 << 20)
#define MAX_SHARDS 4096

struct joule_model {
    char *dir, *name, *tok_path;
    struct joule_model_config cfg;
    struct joule_mmap *maps;
    size_t n_maps;
    struct joule_tensor *tensors; /* sorted by name */
    size_t n_tensors;
    char **names; /* owned names, one per tensor */
    void **owned; /* copies made at load (misaligned data, conversions) */
    size_t n_owned;
    const struct joule_tensor **roles; /* [(n_layers + 1) * JOULE_ROLE_COUNT] */
};

struct joule_model_params joule_model_default_params(void)
{
    struct joule_model_params p = {.verify_shapes = 1, .convert_to = JOULE_DTYPE_COUNT};
    return p;
}

const struct joule_model_config *joule_model_get_config(const struct joule_model *m)
{
    return &m->cfg;
}
const char *joule_model_dir(const struct joule_model *m)
{
    return m->dir;
}
const char *joule_model_name(const struct joule_model *m)
{
    return m->name;
}
const char *joule_model_tokenizer_path(const struct joule_model *m)
{
    return m->tok_path;
}
size_t joule_model_n_tensors(const struct joule_model *m)
{
    return m->n_tensors;
}
const struct joule_tensor *joule_model_tensor_at(const struct joule_model *m, size_t i)
{
    return i < m->n_tensors ? &m->tensors[i] : NULL;
}

static int tensor_cmp(const void *a, const void *b)
{
    return strcmp(((const struct joule_tensor *)a)->name, ((const struct joule_tensor *)b)->name);
}

const struct joule_tensor *joule_model_tensor(const struct joule_model *m, const char *name)
{
    struct joule_tensor key = {.name = name};
    if (!m->n_tensors) return NULL; /* bsearch() wants a non-null base even for 0 elements */
    return bsearch(&key, m->tensors, m->n_tensors, sizeof key, tensor_cmp);
}

const struct joule_tensor *joule_model_role(const struct joule_model *m, enum joule_role role,
                                            int layer)
{
    if (!m->roles || layer < -1 || layer >= m->cfg.n_layers) return NULL;
    return m->roles[(size_t)(layer + 1) * JOULE_ROLE_COUNT + role];
}

void joule_model_free(struct joule_model *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n_maps; i++)
        joule_mmap_close(&m->maps[i]);
    free(m->maps);
    for (size_t i = 0; i < m->n_tensors; i++)
        free(m->names[i]);
    free(m->names);
    free(m->tensors);
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->roles);
    free(m->dir);
    free(m->name);
    free(m->tok_path);
    free(m);
}

/* Map one safetensors file and append its tensors. */
static enum joule_status add_file(struct joule_model *m, const char *path, size_t *cap)
{
    struct joule_mmap mm;
    enum joule_status s = joule_mmap_open(&mm, path);
    if (s != JOULE_OK) return s;
    struct joule_st_file f;
    s = joule_safetensors_parse(mm.data, mm.size, path, &f);
    if (s != JOULE_OK) {
        joule_mmap_close(&mm);
        return s;
    }
    m->maps[m->n_maps++] = mm;
    if (m->n_tensors + f.n_tensors > *cap) {
        size_t nc = (m->n_tensors + f.n_tensors) * 2;
        struct joule_tensor *t = realloc(m->tensors, nc * sizeof *t);
        if (t) m->tensors = t;
        char **nm = realloc(m->names, nc * sizeof *nm);
        if (nm) m->names = nm;
        if (!t || !nm) {
            joule_safetensors_clear(&f);
            return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
        }
        *cap = nc;
    }
    for (size_t i = 0; i < f.n_tensors; i++) {
        struct joule_st_tensor *st = &f.tensors[i];
        struct joule_tensor *t = &m->tensors[m->n_tensors];
        m->names[m->n_tensors] = st->name; /* ownership moves to the model */
        st->name = NULL;
        t->name = m->names[m->n_tensors];
        t->dtype = st->dtype;
        t->n_dims = st->n_dims;
        memcpy(t->shape, st->shape, sizeof t->shape);
        t->data = mm.data + st->offset;
        t->nbytes = st->nbytes;
        m->n_tensors++;
    }
    joule_safetensors_clear(&f);
    return JOULE_OK;
}

static enum joule_status keep_owned(struct joule_model *m, void *p)
{
    void **o = realloc(m->owned, (m->n_owned + 1) * sizeof *o);
    if (!o) {
        free(p);
        return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    }
    m->owned = o;
    m->owned[m->n_owned++] = p;
    return JOULE_OK;
}

/* Copy misaligned tensors into aligned memory; convert when asked. */
static enum joule_status fix_tensor(struct joule_model *m, struct joule_tensor *t,
                                    enum joule_dtype convert_to)
{
    size_t es = joule_dtype_size(t->dtype);
    int floaty =
        t->dtype == JOULE_DTYPE_F32 || t->dtype == JOULE_DTYPE_F16 || t->dtype == JOULE_DTYPE_BF16;
    if (convert_to == JOULE_DTYPE_F32 && floaty && t->dtype != JOULE_DTYPE_F32) {
        size_t n = t->nbytes / es;
        float *dst = malloc(n ? n * sizeof *dst : 1);
        if (!dst) return joule_errorf(JOULE_ERR_NOMEM, "out of memory converting %s", t->name);
        for (size_t i = 0; i < n; i++)
            dst[i] = joule_elem_f32(t->data, t->dtype, i);
        t->data = dst;
        t->dtype = JOULE_DTYPE_F32;
        t->nbytes = n * sizeof *dst;
        return keep_owned(m, dst);
    }
    if (es > 1 && ((uintptr_t)t->data % es) != 0) {
        void *dst = malloc(t->nbytes ? t->nbytes : 1);
        if (!dst) return joule_errorf(JOULE_ERR_NOMEM, "out of memory copying %s", t->name);
        memcpy(dst, t->data, t->nbytes);
        t->data = dst;
        return keep_owned(m, dst);
    }
    return JOULE_OK;
}

static enum joule_status load_index(struct joule_model *m, const char *index_path, size_t *cap)
{
    cJSON *root = NULL;
    enum joule_status s = joule_json_load_file(index_path, INDEX_MAX_BYTES, &root);
    if (s != JOULE_OK) return s;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    char **files = NULL;
    size_t n_files = 0;
    if (!cJSON_IsObject(wm)) {
        s = joule_errorf(JOULE_ERR_FORMAT, "%s: no weight_map object", index_path);
        goto done;
    }
    int n_entries = cJSON_GetArraySize(wm);
    files = calloc((size_t)n_entries + 1, sizeof *files);
    if (!files) {
        s = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (const cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !e->string) {
            s = joule_errorf(JOULE_ERR_FORMAT, "%s: weight_map values must be file names",
                             index_path);
            goto done;
        }
        const char *f = e->valuestring;
        if (!*f || strchr(f, '/') || !strcmp(f, "..") || !strcmp(f, ".")) {
            s = joule_errorf(JOULE_ERR_FORMAT, "%s: shard name '%s' is not a plain file name",
                             index_path, f);
            goto done;
        }
        size_t k = 0;
        while (k < n_files && strcmp(files[k], f))
            k++;
        if (k == n_files) files[n_files++] = e->valuestring;
    }
    if (n_files == 0 || n_files > MAX_SHARDS) {
        s = joule_errorf(JOULE_ERR_FORMAT, "%s: %zu shards", index_path, n_files);
        goto done;
    }
    m->maps = calloc(n_files, sizeof *m->maps);
    if (!m->maps) {
        s = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < n_files; k++) {
        char path[4096];
        if ((s = joule_path_join(path, sizeof path, m->dir, files[k])) != JOULE_OK) goto done;
        size_t first = m->n_tensors;
        if ((s = add_file(m, path, cap)) != JOULE_OK) goto done;
        /* every tensor the index places in this shard must be there */
        for (const cJSON *e = wm->child; e; e = e->next) {
            if (strcmp(e->valuestring, files[k])) continue;
            size_t j = first;
            while (j < m->n_tensors && strcmp(m->tensors[j].name, e->string))
                j++;
            if (j == m->n_tensors) {
                s = joule_errorf(JOULE_ERR_NOT_FOUND,
                                 "%s: the index places tensor '%s' in %s, which lacks it",
                                 index_path, e->string, files[k]);
                goto done;
            }
        }
    }
done:
    free(files);
    cJSON_Delete(root);
    return s;
}

static const struct joule_tensor *find_flexible(const struct joule_model *m, const char *name)
{
    const struct joule_tensor *t = joule_model_tensor(m, name);
    const char *prefix = joule_arch_prefix(m->cfg.arch);
    size_t pl = strlen(prefix);
    if (!t && !strncmp(name, prefix, pl)) t = joule_model_tensor(m, name + pl);
    return t;
}

static enum joule_status bind_roles(struct joule_model *m)
{
    size_t n = joule_arch_specs(&m->cfg, NULL, 0);
    struct joule_tensor_spec *specs = calloc(n ? n : 1, sizeof *specs);
    m->roles = calloc((size_t)(m->cfg.n_layers + 1) * JOULE_ROLE_COUNT, sizeof *m->roles);
    if (!specs || !m->roles) {
        free(specs);
        return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    }
    joule_arch_specs(&m->cfg, specs, n);
    enum joule_status s = JOULE_OK;
    for (size_t i = 0; i < n && s == JOULE_OK; i++) {
        const struct joule_tensor_spec *sp = &specs[i];
        const struct joule_tensor *t = find_flexible(m, sp->name);
        if (!t) {
            s = joule_errorf(JOULE_ERR_NOT_FOUND, "%s: missing tensor '%s'", m->dir, sp->name);
            break;
        }
        if (t->dtype != JOULE_DTYPE_F32 && t->dtype != JOULE_DTYPE_F16 &&
            t->dtype != JOULE_DTYPE_BF16) {
            s = joule_errorf(JOULE_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s", m->dir,
                             sp->name, joule_dtype_name(t->dtype));
            break;
        }
        int ok = t->n_dims == sp->n_dims && t->shape[0] == sp->shape[0] &&
                 (sp->n_dims < 2 || t->shape[1] == sp->shape[1]);
        if (!ok) {
            char got[96] = "[";
            for (int d = 0; d < t->n_dims; d++) {
                size_t l = strlen(got);
                snprintf(got + l, sizeof got - l, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
            }
            size_t l = strlen(got);
            snprintf(got + l, sizeof got - l, "]");
            if (sp->n_dims == 2)
                s = joule_errorf(JOULE_ERR_FORMAT,
                                 "%s: tensor '%s' has shape %s, expected [%lld, %lld]", m->dir,
                                 sp->name, got, (long long)sp->shape[0], (long long)sp->shape[1]);
            else
                s = joule_errorf(JOULE_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected [%lld]",
                                 m->dir, sp->name, got, (long long)sp->shape[0]);
            break;
        }
        m->roles[(size_t)(sp->layer + 1) * JOULE_ROLE_COUNT + sp->role] = t;
    }
    free(specs);
    return s;
}

static const char *base_name(const char *dir, char *buf, size_t cap)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    size_t b = len;
    while (b > 0 && dir[b - 1] != '/')
        b--;
    snprintf(buf, cap, "%.*s", (int)(len - b), dir + b);
    return buf;
}

enum joule_status joule_model_load(const char *dir, const struct joule_model_params *params,
                                   struct joule_model **out)
{
    *out = NULL;
    struct joule_model_params p = params ? *params : joule_model_default_params();
    if (p.convert_to != JOULE_DTYPE_COUNT && p.convert_to != JOULE_DTYPE_F32)
        return joule_errorf(JOULE_ERR_UNSUPPORTED, "conversion at load to %s is not supported",
                            joule_dtype_name(p.convert_to) ? joule_dtype_name(p.convert_to) : "?");
    if (!dir || !joule_is_dir(dir))
        return joule_errorf(JOULE_ERR_NOT_FOUND, "%s: not a model directory", dir ? dir : "(null)");
    struct joule_model *m = calloc(1, sizeof *m);
    if (!m) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    char path[4096], nb[256];
    enum joule_status s = JOULE_OK;
    m->dir = strdup(dir);
    m->name = strdup(base_name(dir, nb, sizeof nb));
    if (!m->dir || !m->name) {
        s = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    char *text = NULL;
    size_t len = 0;
    if ((s = joule_path_join(path, sizeof path, dir, "config.json")) != JOULE_OK) goto fail;
    if ((s = joule_read_file(path, CONFIG_MAX_BYTES, &text, &len)) != JOULE_OK) goto fail;
    s = joule_model_parse_config(text, len, &m->cfg);
    free(text);
    if (s != JOULE_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", joule_last_error());
        s = joule_errorf(s, "%s: %s", dir, why);
        goto fail;
    }
    size_t cap = 0;
    char index_path[4096];
    if ((s = joule_path_join(index_path, sizeof index_path, dir, "model.safetensors.index.json")) !=
        JOULE_OK)
        goto fail;
    if ((s = joule_path_join(path, sizeof path, dir, "model.safetensors")) != JOULE_OK) goto fail;
    if (joule_is_file(index_path)) {
        s = load_index(m, index_path, &cap);
    } else if (joule_is_file(path)) {
        m->maps = calloc(1, sizeof *m->maps);
        s = m->maps ? add_file(m, path, &cap) : joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    } else {
        s = joule_errorf(JOULE_ERR_NOT_FOUND,
                         "%s: no model.safetensors or model.safetensors.index.json", dir);
    }
    if (s != JOULE_OK) goto fail;
    if (m->n_tensors == 0) { /* a header without tensors (and qsort() wants a non-null base) */
        s = joule_errorf(JOULE_ERR_FORMAT, "%s: the checkpoint holds no tensors", dir);
        goto fail;
    }
    qsort(m->tensors, m->n_tensors, sizeof *m->tensors, tensor_cmp);
    for (size_t i = 1; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i - 1].name, m->tensors[i].name)) {
            s = joule_errorf(JOULE_ERR_FORMAT, "%s: tensor '%s' is in two shards", dir,
                             m->tensors[i].name);
            goto fail;
        }
    for (size_t i = 0; i < m->n_tensors; i++)
        if ((s = fix_tensor(m, &m->tensors[i], p.convert_to)) != JOULE_OK) goto fail;
    if (p.verify_shapes) {
        if ((s = bind_roles(m)) != JOULE_OK) goto fail;
        m->cfg.dtype = joule_model_role(m, JOULE_ROLE_TOK_EMB, -1)->dtype;
    }
    if ((s = joule_path_join(path, sizeof path, dir, "tokenizer.json")) != JOULE_OK) goto fail;
    if (joule_is_file(path) && !(m->tok_path = strdup(path))) {
        s = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    *out = m;
    return JOULE_OK;
fail:
    joule_model_free(m);
    return s;
}
