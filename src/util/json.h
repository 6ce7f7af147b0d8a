/* JSON helpers over cJSON (Debian's libcjson). */
#ifndef JOULE_UTIL_JSON_H
#define JOULE_UTIL_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "joule/status.h"

/* Parse the file at `path` (at most `max_bytes`). Caller frees *out with cJSON_Delete. */
enum joule_status joule_json_load_file(const char *path, size_t max_bytes, cJSON **out);

/* Typed lookups of an object member; return `def` when absent or of another type. */
double joule_json_num(const cJSON *obj, const char *key, double def);
int64_t joule_json_int(const cJSON *obj, const char *key, int64_t def);
int joule_json_bool(const cJSON *obj, const char *key, int def);
const char *joule_json_str(const cJSON *obj, const char *key, const char *def);

/* 1 when the JSON text[0..len) holds a \u0000 escape. cJSON keeps strings NUL-terminated, so
 * such a string would silently end at the NUL and lose the rest: parsers of external input
 * refuse it instead. Exact for valid JSON (backslashes occur only inside strings). */
int joule_json_has_nul_escape(const char *text, size_t len);

#endif
