#include "util/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"

enum joule_status joule_json_load_file(const char *path, size_t max_bytes, cJSON **out)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    enum joule_status s = joule_read_file(path, max_bytes, &text, &len);
    if (s != JOULE_OK) return s;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!j) {
        size_t off = end ? (size_t)(end - text) : 0;
        free(text);
        return joule_errorf(JOULE_ERR_FORMAT, "%s: invalid JSON near byte %zu", path, off);
    }
    free(text);
    *out = j;
    return JOULE_OK;
}

double joule_json_num(const cJSON *obj, const char *key, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

int64_t joule_json_int(const cJSON *obj, const char *key, int64_t def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return def;
    if (v->valuedouble > 9.0e18 || v->valuedouble < -9.0e18) return def;
    return (int64_t)v->valuedouble;
}

int joule_json_bool(const cJSON *obj, const char *key, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return def;
}

const char *joule_json_str(const cJSON *obj, const char *key, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : def;
}

int joule_json_has_nul_escape(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\\') continue;
        size_t j = i;
        while (j < len && text[j] == '\\')
            j++;
        /* an odd run of backslashes escapes the character after it */
        if ((j - i) % 2 && len - j >= 5 && !memcmp(text + j, "u0000", 5)) return 1;
        i = j - 1;
    }
    return 0;
}
